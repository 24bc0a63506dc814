//! Compiling a [`LinearModel`]: uniform input levels over the calibration range, integer
//! weights, and the message space they fit, chosen for accuracy. A linear model costs no
//! bootstrap at all (see [`crate::server::linear`]).
//!
//! For every input precision (levels per feature, [`LINEAR_INPUT_BITS`]) and message space
//! (`m` bits, see [`LinearEncoding`]):
//!
//! - feature `j` gets `L_j` levels, uniform on its calibration range `[lo_j, hi_j]`: level `q`
//!   stands for `lo_j + q · step_j`, and a value is taken to its nearest level (a
//!   [`FeatureQuantizer`] whose edges are the midpoints; values beyond the range take the end
//!   levels, as the client is told);
//! - on that grid output `k`'s margin is `b'_k + Σ_j v_kj · q_j`, with `v_kj = w_kj · step_j`
//!   and `b'_k = b_k + Σ_j w_kj · lo_j`; the integer weights are `W_kj = round(v_kj / u_k)` for
//!   the finest unit `u_k` whose output still fits the message space over every row of levels
//!   and whose weights' noise still decrypts exactly ([`LinearEncoding::admits`]); both only
//!   loosen as `u_k` grows, so it is found by bisection;
//! - the constant `c_k = round(b'_k / u_k) - centre_k` centres the output's integer range on
//!   zero, and the client decodes `margin_k = u_k · (S_k + centre_k)`.
//!
//! Each candidate is judged on the calibration rows with the trees' [`AccuracyTarget`]; among
//! those that meet it the compiler keeps the one whose predictions are closest to the float
//! model's (mean absolute difference of probabilities or values), and checks its plan
//! ([`LinearPlan::check`]) before returning it. All cost the same: no bootstrap, a ciphertext
//! per feature.
//! The weights depend on the calibration rows only through each feature's range.

use serde::{Deserialize, Serialize};

use std::ops::ControlFlow;

use super::quality::{Quality, dataset_targets, measure_quality_of};
use super::{CompileOptions, CompileStep, class_labels, feature_columns};
use crate::compiler::dataset::Dataset;
use crate::compiler::linear::LinearModel;
use crate::error::{ModelError, Result};
use crate::params::{InputEncoding, LinearEncoding, MAX_LINEAR_MESSAGE_BITS};
use crate::server::linear::{LINEAR_PLAN_FORMAT_VERSION, LinearPlan, output_range};
use crate::spec::quantize::FeatureQuantizer;
use crate::spec::{ClientSpec, OutputDecoding, Prediction, SPEC_FORMAT_VERSION};

/// Input precisions tried: `2^bits` levels per feature.
pub const LINEAR_INPUT_BITS: (u32, u32) = (2, 8);

/// Server time per feature of a linear model's evaluation on one core of the reference machine
/// (`bench --model sklearn-logistic-regression`: 0.36 ms for 30 features, on 2026-12-07):
/// expanding the ciphertext's mask from its seed, a weighted sum per output, the switch.
pub const LINEAR_CIPHERTEXT_MILLIS: f64 = 0.012;

/// The smallest message space tried.
const MIN_MESSAGE_BITS: u32 = 4;

/// How many (input precision, message space) pairs the compiler tries.
pub const LINEAR_CANDIDATES: usize =
    ((LINEAR_INPUT_BITS.1 - LINEAR_INPUT_BITS.0 + 1) * (MAX_LINEAR_MESSAGE_BITS - MIN_MESSAGE_BITS + 1)) as usize;

/// What the compiler chose for a linear model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearReport {
    pub input_bits: u32,
    pub message_bits: u32,
    /// Ciphertexts of one encrypted row: one per feature.
    pub ciphertexts: usize,
    /// Bytes of one encrypted row (8 per ciphertext: seeded LWE bodies).
    pub row_bytes: usize,
    /// Bytes of one result: per output, `n + 1` coefficients of the result modulus.
    pub result_bytes: usize,
    /// Server time of one prediction on one core: expanding the row's seeded ciphertexts
    /// (the weighted sums cost far less).
    pub predicted_millis: f64,
    /// Quality on the calibration rows against the [`AccuracyTarget`].
    pub quality: Quality,
}

/// The compiler's output for a linear model.
#[derive(Debug, Clone)]
pub struct CompiledLinear {
    pub spec: ClientSpec,
    pub plan: LinearPlan,
    pub report: LinearReport,
}

impl CompiledLinear {
    /// The quantized model's prediction for a row, in the clear: what decrypting its
    /// encrypted evaluation gives, exactly.
    pub fn predict_clear(&self, row: &[f64]) -> Result<Prediction> {
        let levels = self.spec.quantize_row(row)?;
        self.spec.decode(&raw_values(&self.plan, &levels)?)
    }
}

/// The unsigned values a client decrypts for a row of levels: `S_k + 2^(m-1)`.
pub fn raw_values(plan: &LinearPlan, levels: &[usize]) -> Result<Vec<u64>> {
    let half = 1i64 << (plan.encoding()?.message_bits - 1);
    Ok(plan
        .raw_outputs(levels)
        .into_iter()
        .map(|s| (s + half) as u64)
        .collect())
}

/// Compiles `model` on `calibration`'s rows (columns by the model's feature names, or in
/// order), with class `labels` (default `class_0`, ...).
pub fn compile_linear(model: &LinearModel, calibration: &Dataset, options: &CompileOptions) -> Result<CompiledLinear> {
    compile_linear_with_progress(model, calibration, options, &mut |_| ControlFlow::Continue(()))
}

/// [`compile_linear`], telling `progress` before each input precision it tries (and stopped
/// with [`ModelError::Interrupted`] when it answers [`ControlFlow::Break`]).
pub fn compile_linear_with_progress(
    model: &LinearModel,
    calibration: &Dataset,
    options: &CompileOptions,
    progress: &mut dyn FnMut(CompileStep) -> ControlFlow<()>,
) -> Result<CompiledLinear> {
    let target = options.target;
    let names = feature_columns(&model.feature_names, model.num_features, calibration)?;
    let rows = calibration.select(&names)?;
    if rows.is_empty() {
        return Err(ModelError::InvalidData("the calibration set has no rows".into()));
    }
    let targets = dataset_targets(&model.feature_names, model.objective, calibration, "calibration")?;
    let labels = class_labels(options.labels.as_deref(), model.objective)?;
    let float: Vec<Vec<f64>> = rows.iter().map(|r| model.predict(r)).collect();
    let mut best: Option<(CompiledLinear, (u8, f64))> = None;
    // The owner's input precision when given (`leaf_bits` has no linear counterpart: the
    // message space is always searched).
    let (first, last) = options
        .input_bits
        .map_or(LINEAR_INPUT_BITS, |bits| (bits.clamp(1, 8), bits.clamp(1, 8)));
    let total = last - first + 1;
    for input_bits in first..=last {
        let step = CompileStep {
            stage: format!("input precision {input_bits} bits"),
            done: input_bits - first,
            total,
        };
        if progress(step).is_break() {
            return Err(ModelError::Interrupted("the compilation was stopped".into()));
        }
        let features = quantizers(&names, &rows, 1 << input_bits)?;
        // The rows' levels depend on the grid only, not on the message space.
        let quantizers: Vec<FeatureQuantizer> = features.iter().map(|g| g.quantizer.clone()).collect();
        let levels: Vec<Vec<usize>> = rows
            .iter()
            .map(|row| row.iter().zip(&quantizers).map(|(&x, q)| q.quantize(x)).collect())
            .collect();
        for message_bits in MIN_MESSAGE_BITS..=MAX_LINEAR_MESSAGE_BITS {
            let Some(candidate) = candidate(model, &features, &labels, message_bits) else {
                continue;
            };
            let quantized: Vec<Prediction> = levels
                .iter()
                .map(|row| candidate.0.decode(&raw_values(&candidate.1, row)?))
                .collect::<Result<_>>()?;
            let quality = measure_quality_of(model.objective, &float, &quantized, targets.as_deref(), target);
            // Lower is better: first whether the target is met, then how far the predictions are
            // from the float model's (accuracy on the calibration rows ties too often to choose).
            let score = (u8::from(!quality.target_met), deviation(&float, &quantized));
            if best.as_ref().is_none_or(|(_, s)| score < *s) {
                let (spec, plan) = candidate;
                let report = LinearReport {
                    input_bits,
                    message_bits,
                    ciphertexts: spec.features.len(),
                    row_bytes: 8 * spec.features.len(),
                    result_bytes: spec.outputs.len() * result_bytes(plan.encoding()?),
                    predicted_millis: spec.features.len() as f64 * LINEAR_CIPHERTEXT_MILLIS,
                    quality,
                };
                best = Some((CompiledLinear { spec, plan, report }, score));
            }
        }
    }
    let (compiled, _) = best.ok_or_else(|| {
        ModelError::Unsupported(
            "a linear model whose weights fit no message space Blindfold can decrypt exactly".into(),
        )
    })?;
    // Every candidate's plan was checked; the spec reads back as clients will read it.
    ClientSpec::from_json(&compiled.spec.to_json())?;
    Ok(compiled)
}

/// The mean absolute difference between the float model's predictions (probabilities, scores
/// or values) and the quantized model's.
pub(super) fn deviation(float: &[Vec<f64>], quantized: &[Prediction]) -> f64 {
    let mut total = 0.0;
    for (f, q) in float.iter().zip(quantized) {
        let predicted = match q.value.as_ref() {
            Some(value) => std::slice::from_ref(value),
            None => q.class_scores(),
        };
        total += f.iter().zip(predicted).map(|(a, b)| (a - b).abs()).sum::<f64>();
    }
    total / float.len() as f64
}

/// Bytes of one result ciphertext: `n + 1` coefficients of `result_modulus_log` bits.
pub fn result_bytes(encoding: &LinearEncoding) -> usize {
    (crate::params::SMALL_LWE_DIMENSION + 1) * encoding.result_modulus_log as usize / 8
}

/// The spec and plan of one input precision and message space, or `None` when some output
/// fits no unit.
fn candidate(
    model: &LinearModel,
    features: &[Grid],
    labels: &[String],
    message_bits: u32,
) -> Option<(ClientSpec, LinearPlan)> {
    let encoding = LinearEncoding::new(message_bits);
    let levels: Vec<u64> = features.iter().map(|g| g.quantizer.levels() as u64).collect();
    let steps: Vec<(f64, f64)> = features.iter().map(|g| (g.low, g.step)).collect();
    let (mut weights, mut constants, mut outputs) = (Vec::new(), Vec::new(), Vec::new());
    for (row, intercept) in model.weights.iter().zip(&model.intercepts) {
        let grid_weights: Vec<f64> = row.iter().zip(&steps).map(|(w, (_, step))| w * step).collect();
        let grid_intercept = intercept + row.iter().zip(&steps).map(|(w, (lo, _))| w * lo).sum::<f64>();
        let (unit, integer, constant, centre) = fit_output(&encoding, &grid_weights, grid_intercept, &levels)?;
        let half = 1i64 << (message_bits - 1);
        weights.push(integer);
        constants.push(constant);
        outputs.push(OutputDecoding {
            blocks: 1,
            max_value: (1u64 << message_bits) - 1,
            scale: unit,
            offset: unit * (centre - half) as f64,
        });
    }
    let encryption = InputEncoding::Linear(encoding);
    let spec = ClientSpec {
        format_version: SPEC_FORMAT_VERSION,
        features: features.iter().map(|g| g.quantizer.clone()).collect(),
        objective: model.objective,
        labels: labels.to_vec(),
        outputs,
        encryption: encryption.clone(),
    };
    let plan = LinearPlan {
        format_version: LINEAR_PLAN_FORMAT_VERSION,
        encryption,
        levels,
        weights,
        constants,
    };
    plan.check().ok()?;
    Some((spec, plan))
}

/// For one output with margin `intercept + Σ_j weights_j · q_j` on the level grid: the finest
/// unit `u` for which its integer weights fit, and those weights, its constant and its centre.
fn fit_output(
    encoding: &LinearEncoding,
    weights: &[f64],
    intercept: f64,
    levels: &[u64],
) -> Option<(f64, Vec<i64>, i64, i64)> {
    let largest = weights.iter().fold(intercept.abs(), |m, w| m.max(w.abs()));
    if largest == 0.0 {
        // A constant zero output.
        return Some((1.0, vec![0; weights.len()], 0, 0));
    }
    let attempt = |unit: f64| -> Option<(Vec<i64>, i64, i64)> {
        let integer: Vec<i64> = weights.iter().map(|w| (w / unit).round() as i64).collect();
        let bias = (intercept / unit).round() as i64;
        let (low, high) = output_range(&integer, bias, levels)?;
        let centre = low + (high - low) / 2;
        let norm = integer.iter().map(|w| w.unsigned_abs() as u128).sum::<u128>();
        encoding
            .admits(low - centre, high - centre, norm)
            .then_some((integer, bias - centre, centre))
    };
    // From a unit where every weight rounds to at most one step (always fits) down to the
    // finest that fits.
    let (mut fine, mut coarse) = (largest * 1e-9, largest * 2.0);
    attempt(coarse)?;
    for _ in 0..80 {
        let middle = (fine * coarse).sqrt();
        if attempt(middle).is_some() {
            coarse = middle;
        } else {
            fine = middle;
        }
    }
    let (integer, constant, centre) = attempt(coarse)?;
    Some((coarse, integer, constant, centre))
}

/// Of the calibration values beyond the grid, the fraction left at each end: a feature's
/// extremes are often a few outliers, and a grid over them would spend its levels on no rows.
const GRID_TAIL: f64 = 0.005;

/// A feature's grid and quantizer: `levels` levels (one for a constant feature) from the
/// [`GRID_TAIL`] quantile to the opposite one of the calibration values.
pub(super) struct Grid {
    pub(super) low: f64,
    pub(super) step: f64,
    pub(super) quantizer: FeatureQuantizer,
}

/// Uniform grids of `levels` levels over each column's calibration values.
pub(super) fn quantizers(names: &[String], rows: &[Vec<f64>], levels: usize) -> Result<Vec<Grid>> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let mut column: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            column.sort_by(f64::total_cmp);
            let n = column.len();
            let tail = ((n as f64 * GRID_TAIL) as usize).min((n - 1) / 2);
            let (low, high) = (column[tail], column[n - 1 - tail]);
            let levels = if high > low { levels } else { 1 };
            let step = if levels > 1 {
                (high - low) / (levels - 1) as f64
            } else {
                0.0
            };
            let quantizer = FeatureQuantizer::uniform(name, low, step, levels, (column[0], column[n - 1]))?;
            Ok(Grid { low, step, quantizer })
        })
        .collect()
}
