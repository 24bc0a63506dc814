//! The precision search: how many bits each input feature and each leaf get. Every input
//! precision of [`super::AUTO_INPUT_BITS`] (or the one given) is compiled with its best leaf
//! precision and judged on calibration rows it was not fitted to; the cheapest in predicted
//! server time (bootstraps and input ciphertexts) that meets the
//! [`AccuracyTarget`](super::AccuracyTarget) is kept. Leaves take the coarsest precision whose
//! calibration error stays within the tolerance of the finest.

use super::quality::{Quality, QualityMeasure, measure_quality};
use super::quantize::{Calibration, QuantizedEnsemble, QuantizedNode, quantize_leaves};
use super::{BOOTSTRAP_MILLIS, CIPHERTEXT_MILLIS, CompileOptions};
use crate::compiler::ensemble::TreeEnsemble;
use crate::error::{ModelError, Result};
use crate::params::InputEncoding;
use crate::server::plan::ServerPlan;
use crate::spec::objective::Objective;
use crate::spec::{ClientSpec, SPEC_FORMAT_VERSION};

/// One input precision tried, with its best leaf precision, plan, cost and quality.
pub(super) struct InputTrial {
    pub(super) input_bits: u32,
    pub(super) calibration: Calibration,
    pub(super) leaves: LeafTrial,
    pub(super) plan: ServerPlan,
    pub(super) bootstraps: usize,
    pub(super) quality: Quality,
}

/// Predicted one-core server time of a prediction.
pub(super) fn predicted_millis(bootstraps: usize, ciphertexts: usize) -> f64 {
    bootstraps as f64 * BOOTSTRAP_MILLIS + ciphertexts as f64 * CIPHERTEXT_MILLIS
}

impl InputTrial {
    /// Predicted server time (which grows with the client's upload too).
    fn cost(&self) -> f64 {
        predicted_millis(self.bootstraps, self.leaves.spec.input_ciphertexts())
    }

    /// Higher is better, whatever the measure.
    fn score(&self) -> f64 {
        match self.quality.measure {
            QualityMeasure::Accuracy | QualityMeasure::Agreement => self.quality.quantized,
            QualityMeasure::MeanAbsoluteError | QualityMeasure::Deviation => -self.quality.quantized,
        }
    }
}

/// The cheapest trial that meets the target, else the most accurate (the cheaper on ties).
pub(super) fn choose_input_precision(trials: &[InputTrial]) -> usize {
    let met = trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.quality.target_met)
        .min_by(|(_, a), (_, b)| a.cost().total_cmp(&b.cost()));
    match met {
        Some((index, _)) => index,
        None => (0..trials.len())
            .max_by(|&a, &b| {
                (trials[a].score().total_cmp(&trials[b].score())).then(trials[b].cost().total_cmp(&trials[a].cost()))
            })
            .expect("at least one input precision is tried"),
    }
}

/// Calibration sets smaller than this are judged on their own rows, not on held-out halves.
const MIN_ROWS_TO_HOLD_OUT: usize = 20;

/// The quality of the model compiled at `input_bits`, estimated on rows it was not fitted to:
/// the grid and thresholds are fitted on one half of the calibration rows and judged on the
/// other, both ways round. Judged on its own rows a grid looks better than it is (the trees'
/// thresholds sit between training values, exactly where the grid's edges fall), so this is
/// what picks a precision that holds on new data.
pub(super) fn held_out_quality(
    ensemble: &TreeEnsemble,
    names: &[String],
    rows: &[Vec<f64>],
    targets: Option<&[f64]>,
    input_bits: u32,
    labels: &[String],
    options: &CompileOptions,
) -> Result<Quality> {
    let folds = if rows.len() >= MIN_ROWS_TO_HOLD_OUT { 2 } else { 1 };
    let (mut judged, mut predictions, mut judged_targets) = (Vec::new(), Vec::new(), Vec::new());
    for fold in 0..folds {
        let in_fold = |i: usize| folds == 1 || i % folds == fold;
        let fitted = |i: usize| folds == 1 || !in_fold(i);
        let fit_rows: Vec<Vec<f64>> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| fitted(*i))
            .map(|(_, r)| r.clone())
            .collect();
        let calibration = Calibration::quantize(names, fit_rows, input_bits)?;
        let trial = fit(&calibration, ensemble, labels, options)?;
        for (i, row) in rows.iter().enumerate().filter(|(i, _)| in_fold(*i)) {
            let levels: Vec<usize> = calibration
                .quantizers
                .iter()
                .zip(row)
                .map(|(q, &x)| q.quantize(x))
                .collect();
            predictions.push(trial.spec.decode(&trial.quantized.raw_outputs(&levels))?);
            judged.push(row.clone());
            if let Some(t) = targets {
                judged_targets.push(t[i]);
            }
        }
    }
    Ok(measure_quality(
        ensemble,
        &judged,
        &predictions,
        targets.map(|_| judged_targets.as_slice()),
        options.target,
    ))
}

/// Leaf precisions the compiler tries when none is given.
const AUTO_LEAF_BITS: (u32, u32) = (2, 8);

/// One leaf precision tried: the model it gives, its spec and its mean calibration error.
pub(super) struct LeafTrial {
    pub(super) leaf_bits: u32,
    pub(super) quantized: QuantizedEnsemble,
    pub(super) spec: ClientSpec,
    pub(super) error: f64,
}

/// The quantized model on `calibration`'s grid: thresholds mapped, leaves at their chosen
/// precision.
pub(super) fn fit(
    calibration: &Calibration,
    ensemble: &TreeEnsemble,
    labels: &[String],
    options: &CompileOptions,
) -> Result<LeafTrial> {
    let float_trees = calibration.map_thresholds(ensemble);
    choose_leaf_precision(ensemble, calibration, &float_trees, labels, options)
}

/// Quantizes the leaves at every candidate precision and keeps the coarsest one whose
/// calibration error is within the tolerance of the best.
fn choose_leaf_precision(
    ensemble: &TreeEnsemble,
    calibration: &Calibration,
    float_trees: &[(usize, QuantizedNode<f64>)],
    labels: &[String],
    options: &CompileOptions,
) -> Result<LeafTrial> {
    let candidates: Vec<u32> = match options.leaf_bits {
        Some(bits) if (1..=12).contains(&bits) => vec![bits],
        Some(bits) => {
            return Err(ModelError::InvalidData(format!("leaf_bits {bits} is not in 1..=12")));
        }
        None => (AUTO_LEAF_BITS.0..=AUTO_LEAF_BITS.1).collect(),
    };
    let float_predictions: Vec<Vec<f64>> = calibration.rows.iter().map(|r| ensemble.predict(r)).collect();
    let spread = prediction_spread(ensemble.objective, &float_predictions);
    let mut trials = Vec::with_capacity(candidates.len());
    for leaf_bits in candidates {
        let (quantized, outputs) = quantize_leaves(ensemble, float_trees, leaf_bits)?;
        let spec = ClientSpec {
            format_version: SPEC_FORMAT_VERSION,
            features: calibration.quantizers.clone(),
            objective: ensemble.objective,
            labels: labels.to_vec(),
            outputs,
            encryption: InputEncoding::thermometer(),
        };
        let error = mean_error(&spec, &quantized, &calibration.levels, &float_predictions, spread)?;
        trials.push(LeafTrial {
            leaf_bits,
            quantized,
            spec,
            error,
        });
    }
    // Input quantization sets an error floor that finer leaves cannot beat; every extra leaf
    // bit costs bootstraps. Take the coarsest leaves within the tolerance of the finest, or
    // good enough outright.
    let floor = trials.iter().map(|t| t.error).fold(f64::INFINITY, f64::min);
    let bound = (floor * (1.0 + options.error_tolerance)).max(options.error_allowance);
    let index = trials.iter().position(|t| t.error <= bound).unwrap_or(trials.len() - 1);
    Ok(trials.swap_remove(index))
}

/// Mean over the calibration rows of the largest difference between the quantized model's
/// prediction and the float one, relative to `spread` (see [`CompileOptions::error_tolerance`]).
fn mean_error(
    spec: &ClientSpec,
    quantized: &QuantizedEnsemble,
    row_levels: &[Vec<usize>],
    float_predictions: &[Vec<f64>],
    spread: f64,
) -> Result<f64> {
    let mut error = 0.0;
    for (levels, float) in row_levels.iter().zip(float_predictions) {
        let quantized_prediction = spec.decode(&quantized.raw_outputs(levels))?;
        let got = match spec.objective {
            Objective::RegSquaredError => vec![quantized_prediction.value.unwrap_or_default()],
            _ => quantized_prediction.class_scores().to_vec(),
        };
        error += got.iter().zip(float).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / spread;
    }
    Ok(error / row_levels.len() as f64)
}

/// Normaliser of prediction errors: 1 for probabilities, the float predictions' standard
/// deviation for regression.
fn prediction_spread(objective: Objective, predictions: &[Vec<f64>]) -> f64 {
    if objective != Objective::RegSquaredError {
        return 1.0;
    }
    let n = predictions.len() as f64;
    let mean = predictions.iter().map(|p| p[0]).sum::<f64>() / n;
    let variance = predictions.iter().map(|p| (p[0] - mean).powi(2)).sum::<f64>() / n;
    variance.sqrt().max(f64::EPSILON)
}
