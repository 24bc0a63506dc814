//! Compiling a [`Network`] of one hidden layer: uniform input levels (as for linear models),
//! per hidden neuron an integer accumulator and its zone tables, and an output grid, chosen
//! for accuracy. The circuit is [`crate::params::NetworkEncoding`]'s: `2 + outputs`
//! bootstraps per hidden neuron, none for the output layer.
//!
//! For every input precision ([`NETWORK_INPUT_BITS`]):
//!
//! - feature `j` gets `L_j` levels on its calibration range, as for linear models, and hidden
//!   neuron `i`'s pre-activation on that grid is `β_i + Σ_j v_ij q_j`;
//! - its accumulator is `S_i = B_i + Σ_j W_ij q_j` with `W_ij = round(v_ij / u_i)`: the unit
//!   `u_i` is the finest for which `S_i`'s range over every row of levels fits the coarse
//!   read's 15 slots of 64 ([`NetworkPlan::check`]), and no finer than the calibration rows'
//!   99th percentile of positive pre-activations over the 4 fine steps (so that the fine zones
//!   cover the activations the rows take rather than the worst case);
//! - the activation's value in each zone (below 0, each fine step `J = 0..4`, above) is the
//!   mean of the float activation over the calibration rows in that zone (where none falls,
//!   the activation of the zone's middle); each output's contribution from the neuron is its
//!   weight times that value, less its value below 0, which goes into the output's constant;
//! - an output's integers are its contributions over a unit `u_out`, the finest for which the
//!   output's range over every combination of zones fits the message space
//!   [`network_output_bits`] allows for this many neurons; the client decodes
//!   `margin = u_out · (Y + centre)`.
//!
//! Each candidate is judged on the calibration rows as linear models are (the
//! [`AccuracyTarget`](super::AccuracyTarget), then the distance to the float model).

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use super::linear::{Grid, deviation, quantizers};
use super::precision::predicted_millis;
use super::quality::{Quality, dataset_targets, measure_quality_of};
use super::{CompileOptions, CompileStep, class_labels, feature_columns};
use crate::compiler::dataset::Dataset;
use crate::compiler::network::{Activation, Network};
use crate::error::{ModelError, Result};
use crate::params::{
    InputEncoding, NETWORK_COARSE_POSITIONS, NETWORK_COARSE_SLOT, NETWORK_FINE_LEVELS, NETWORK_FINE_STEP,
    NetworkEncoding, network_output_bits,
};
use crate::server::linear::output_range;
use crate::server::network::{MAX_HIDDEN_NEURONS, NETWORK_PLAN_FORMAT_VERSION, NetworkPlan, Neuron};
use crate::spec::{ClientSpec, OutputDecoding, Prediction, SPEC_FORMAT_VERSION};

/// Input precisions tried: `2^bits` levels per feature.
pub const NETWORK_INPUT_BITS: (u32, u32) = (2, 6);

/// The widest accumulator range a neuron is given, leaving a slot for the offset's alignment.
const ACCUMULATOR_SPAN: f64 = (NETWORK_COARSE_SLOT * (NETWORK_COARSE_POSITIONS - 1)) as f64;

/// What the compiler chose for a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkReport {
    pub input_bits: u32,
    pub output_bits: u32,
    pub hidden_neurons: usize,
    pub bootstraps: usize,
    /// Ciphertexts of one encrypted row: one per feature.
    pub ciphertexts: usize,
    /// Bytes of one encrypted row (8 per ciphertext: seeded LWE bodies).
    pub row_bytes: usize,
    /// Server time of one prediction on one core of the reference machine.
    pub predicted_millis: f64,
    /// Quality on the calibration rows against the [`AccuracyTarget`](super::AccuracyTarget).
    pub quality: Quality,
}

/// The compiler's output for a network.
#[derive(Debug, Clone)]
pub struct CompiledNetwork {
    pub spec: ClientSpec,
    pub plan: NetworkPlan,
    pub report: NetworkReport,
}

/// The unsigned values a client decrypts for a row of levels: `Y_k + 2^(m-1)`.
pub fn raw_values(plan: &NetworkPlan, levels: &[usize]) -> Result<Vec<u64>> {
    let half = 1i64 << (plan.encoding()?.output_bits - 1);
    Ok(plan
        .raw_outputs(levels)
        .into_iter()
        .map(|y| (y + half) as u64)
        .collect())
}

/// Refuses a network this compiler does not take: one hidden layer, of at most
/// [`MAX_HIDDEN_NEURONS`] neurons.
pub fn check_network(network: &Network) -> Result<()> {
    let [hidden, _] = network.layers.as_slice() else {
        return Err(ModelError::Unsupported(format!(
            "a network of {} hidden layers (Blindfold compiles networks of one hidden layer)",
            network.layers.len() - 1
        )));
    };
    let neurons = hidden.weights.len();
    if neurons > MAX_HIDDEN_NEURONS || network_output_bits(neurons).is_none() {
        return Err(ModelError::Unsupported(format!(
            "a hidden layer of {neurons} neurons (at most {MAX_HIDDEN_NEURONS})"
        )));
    }
    Ok(())
}

/// [`compile_network`], telling `progress` before each input precision it tries (and stopped
/// with [`ModelError::Interrupted`] when it answers [`ControlFlow::Break`]).
pub fn compile_network_with_progress(
    network: &Network,
    calibration: &Dataset,
    options: &CompileOptions,
    progress: &mut dyn FnMut(CompileStep) -> ControlFlow<()>,
) -> Result<CompiledNetwork> {
    check_network(network)?;
    let names = feature_columns(&network.feature_names, network.num_features, calibration)?;
    let rows = calibration.select(&names)?;
    if rows.is_empty() {
        return Err(ModelError::InvalidData("the calibration set has no rows".into()));
    }
    let targets = dataset_targets(&network.feature_names, network.objective, calibration, "calibration")?;
    let labels = class_labels(options.labels.as_deref(), network.objective)?;
    let float: Vec<Vec<f64>> = rows.iter().map(|r| network.predict(r)).collect();
    let (first, last) = options
        .input_bits
        .map_or(NETWORK_INPUT_BITS, |bits| (bits.clamp(1, 8), bits.clamp(1, 8)));
    let mut best: Option<(CompiledNetwork, (u8, f64))> = None;
    for input_bits in first..=last {
        let step = CompileStep {
            stage: format!("input precision {input_bits} bits"),
            done: input_bits - first,
            total: last - first + 1,
        };
        if progress(step).is_break() {
            return Err(ModelError::Interrupted("the compilation was stopped".into()));
        }
        let features = quantizers(&names, &rows, 1 << input_bits)?;
        let levels: Vec<Vec<usize>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&features)
                    .map(|(&x, g)| g.quantizer.quantize(x))
                    .collect()
            })
            .collect();
        let Some((spec, plan)) = candidate(network, &features, &levels, &labels) else {
            continue;
        };
        let quantized: Vec<Prediction> = levels
            .iter()
            .map(|row| spec.decode(&raw_values(&plan, row)?))
            .collect::<Result<_>>()?;
        let quality = measure_quality_of(
            network.objective,
            &float,
            &quantized,
            targets.as_deref(),
            options.target,
        );
        let score = (u8::from(!quality.target_met), deviation(&float, &quantized));
        if best.as_ref().is_none_or(|(_, s)| score < *s) {
            let bootstraps = plan.bootstraps();
            let report = NetworkReport {
                input_bits,
                output_bits: plan.encoding()?.output_bits,
                hidden_neurons: plan.neurons.len(),
                bootstraps,
                ciphertexts: spec.features.len(),
                row_bytes: 8 * spec.features.len(),
                predicted_millis: predicted_millis(bootstraps, spec.features.len()),
                quality,
            };
            best = Some((CompiledNetwork { spec, plan, report }, score));
        }
    }
    let (compiled, _) = best.ok_or_else(|| {
        ModelError::Unsupported("a network whose accumulators fit no grid Blindfold can evaluate exactly".into())
    })?;
    ClientSpec::from_json(&compiled.spec.to_json())?;
    Ok(compiled)
}

/// Compiles `network` on `calibration`'s rows (columns by its feature names, or in order).
pub fn compile_network(network: &Network, calibration: &Dataset, options: &CompileOptions) -> Result<CompiledNetwork> {
    compile_network_with_progress(network, calibration, options, &mut |_| ControlFlow::Continue(()))
}

/// The zones of an accumulator: below 0, the fine steps, above.
const ZONES: usize = NETWORK_FINE_LEVELS + 2;

fn zone(s: i64) -> usize {
    let j = s.div_euclid(NETWORK_FINE_STEP);
    if j < 0 {
        0
    } else {
        (j as usize).min(NETWORK_FINE_LEVELS) + 1
    }
}

/// The spec and plan of one input grid, or `None` when some neuron or output fits nothing.
fn candidate(
    network: &Network,
    features: &[Grid],
    rows: &[Vec<usize>],
    labels: &[String],
) -> Option<(ClientSpec, NetworkPlan)> {
    let [hidden, out] = network.layers.as_slice() else {
        return None;
    };
    let levels: Vec<u64> = features.iter().map(|g| g.quantizer.levels() as u64).collect();
    let outputs = out.weights.len();
    let mut neurons = Vec::with_capacity(hidden.weights.len());
    // Per neuron, the activation's value in each zone.
    let mut activations = Vec::with_capacity(hidden.weights.len());
    for (weights, bias) in hidden.weights.iter().zip(&hidden.bias) {
        let grid: Vec<f64> = weights.iter().zip(features).map(|(w, g)| w * g.step).collect();
        let grid_bias = bias + weights.iter().zip(features).map(|(w, g)| w * g.low).sum::<f64>();
        let (mut neuron, values) = fit_neuron(&grid, grid_bias, &levels, rows, hidden.activation)?;
        neuron.fine = vec![[0; NETWORK_FINE_LEVELS]; outputs];
        neuron.high = vec![0; outputs];
        neurons.push(neuron);
        activations.push(values);
    }
    let encoding = NetworkEncoding::new(network_output_bits(neurons.len())?);
    let (mut constants, mut decodings) = (Vec::with_capacity(outputs), Vec::with_capacity(outputs));
    for k in 0..outputs {
        // Float contributions by zone, less the zone below 0's, which joins the constant.
        let contributions: Vec<[f64; ZONES]> = activations
            .iter()
            .zip(&out.weights[k])
            .map(|(values, w)| values.map(|a| w * (a - values[0])))
            .collect();
        let constant = out.bias[k]
            + activations
                .iter()
                .zip(&out.weights[k])
                .map(|(v, w)| w * v[0])
                .sum::<f64>();
        let (unit, integers, centre) = fit_output(&encoding, &contributions, constant)?;
        for (neuron, values) in neurons.iter_mut().zip(&integers) {
            neuron.fine[k].copy_from_slice(&values[1..=NETWORK_FINE_LEVELS]);
            neuron.high[k] = values[ZONES - 1];
        }
        let half = 1i64 << (encoding.output_bits - 1);
        constants.push((constant / unit).round() as i64 - centre);
        decodings.push(OutputDecoding {
            blocks: 1,
            max_value: (1u64 << encoding.output_bits) - 1,
            scale: unit,
            offset: unit * (centre - half) as f64,
        });
    }
    let encryption = InputEncoding::Network(encoding);
    let spec = ClientSpec {
        format_version: SPEC_FORMAT_VERSION,
        features: features.iter().map(|g| g.quantizer.clone()).collect(),
        objective: network.objective,
        labels: labels.to_vec(),
        outputs: decodings,
        encryption: encryption.clone(),
    };
    let plan = NetworkPlan {
        format_version: NETWORK_PLAN_FORMAT_VERSION,
        encryption,
        levels,
        neurons,
        constants,
    };
    plan.check().ok()?;
    Some((spec, plan))
}

/// One hidden neuron's accumulator (with room for every output's tables, filled later) and its
/// activation's value by zone.
fn fit_neuron(
    weights: &[f64],
    bias: f64,
    levels: &[u64],
    rows: &[Vec<usize>],
    activation: Activation,
) -> Option<(Neuron, [f64; ZONES])> {
    let pre_activations: Vec<f64> = rows
        .iter()
        .map(|row| bias + weights.iter().zip(row).map(|(w, &q)| w * q as f64).sum::<f64>())
        .collect();
    let (low, high) = weights.iter().zip(levels).fold((bias, bias), |(lo, hi), (w, &l)| {
        let extreme = w * (l - 1) as f64;
        (lo + extreme.min(0.0), hi + extreme.max(0.0))
    });
    let mut positive: Vec<f64> = pre_activations.iter().copied().filter(|&z| z > 0.0).collect();
    positive.sort_by(f64::total_cmp);
    let typical = positive.get(positive.len() * 99 / 100).copied().unwrap_or(0.0);
    let fine_span = (NETWORK_FINE_STEP * NETWORK_FINE_LEVELS as i64) as f64;
    let mut unit = ((high - low) / ACCUMULATOR_SPAN).max(typical / fine_span);
    if unit <= 0.0 || !unit.is_finite() {
        unit = 1.0;
    }
    for _ in 0..64 {
        let integer: Vec<i64> = weights.iter().map(|w| (w / unit).round() as i64).collect();
        let integer_bias = (bias / unit).round() as i64;
        let (s_low, s_high) = output_range(&integer, integer_bias, levels)?;
        let offset =
            (-s_low).div_euclid(NETWORK_COARSE_SLOT) + i64::from((-s_low).rem_euclid(NETWORK_COARSE_SLOT) != 0);
        if s_high + offset * NETWORK_COARSE_SLOT <= NETWORK_COARSE_SLOT * NETWORK_COARSE_POSITIONS {
            let neuron = Neuron {
                weights: integer,
                bias: integer_bias,
                offset,
                fine: Vec::new(),
                high: Vec::new(),
            };
            let values = zone_values(&neuron, rows, &pre_activations, unit, activation);
            return Some((neuron, values));
        }
        unit *= 1.03;
    }
    None
}

/// The activation's value in each zone: its mean over the calibration rows there, or its value
/// at the zone's middle where no row falls.
fn zone_values(
    neuron: &Neuron,
    rows: &[Vec<usize>],
    pre_activations: &[f64],
    unit: f64,
    activation: Activation,
) -> [f64; ZONES] {
    let (mut sums, mut counts) = ([0.0; ZONES], [0usize; ZONES]);
    for (row, &z) in rows.iter().zip(pre_activations) {
        let k = zone(neuron.accumulator(row));
        sums[k] += activation.apply(z);
        counts[k] += 1;
    }
    let step = NETWORK_FINE_STEP as f64 * unit;
    std::array::from_fn(|k| {
        if counts[k] > 0 {
            sums[k] / counts[k] as f64
        } else {
            activation.apply(step * (k as f64 - 0.5))
        }
    })
}

/// One output's integer contributions by neuron and zone for the finest unit whose range over
/// every combination of zones fits the message space, with the unit and the range's centre.
fn fit_output(
    encoding: &NetworkEncoding,
    contributions: &[[f64; ZONES]],
    constant: f64,
) -> Option<(f64, Vec<[i64; ZONES]>, i64)> {
    let half = 1i64 << (encoding.output_bits - 1);
    let (low, high) = contributions.iter().fold((constant, constant), |(lo, hi), values| {
        let (a, b) = values.iter().fold((0.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        (lo + a, hi + b)
    });
    let mut unit = ((high - low) / (2 * half - 2) as f64).max(f64::MIN_POSITIVE);
    for _ in 0..200 {
        let integers: Vec<[i64; ZONES]> = contributions
            .iter()
            .map(|values| values.map(|v| (v / unit).round() as i64))
            .collect();
        let base = (constant / unit).round() as i64;
        let (lo, hi) = integers.iter().fold((base, base), |(lo, hi), values| {
            let (a, b) = values.iter().fold((0, 0), |(a, b), &v| (a.min(v), b.max(v)));
            (lo + a, hi + b)
        });
        let centre = lo + (hi - lo) / 2;
        if lo - centre >= -half && hi - centre < half {
            return Some((unit, integers, centre));
        }
        unit *= 1.02;
    }
    None
}
