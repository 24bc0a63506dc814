//! How good a quantized model is: its quality and the float model's, measured against the
//! true targets when the rows have them (accuracy, mean absolute error), else against the
//! float model's own predictions (agreement, deviation), and the [`AccuracyTarget`] the
//! precision search aims for. The owners' reports ([`crate::compiler::report`]) measure the
//! same way on their test rows.

use serde::{Deserialize, Serialize};

use crate::compiler::dataset::Dataset;
use crate::compiler::ensemble::TreeEnsemble;
use crate::error::{ModelError, Result};
use crate::spec::Prediction;

/// How close to the float model the quantized one must stay on the calibration rows. With a
/// `target` column in the calibration CSV the compiler measures against the truth; without,
/// against the float model's own predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccuracyTarget {
    /// Classifiers: accuracy may drop by at most this much (with targets), or the quantized
    /// model must pick the float model's class on at least `1 - accuracy_loss` of the rows.
    pub accuracy_loss: f64,
    /// Regressors: the mean absolute error may grow by at most this fraction (with targets),
    /// or the mean |quantized - float| may be at most this fraction of the float predictions'
    /// mean absolute deviation.
    pub mae_increase: f64,
}

impl AccuracyTarget {
    /// Whether a quantized model scoring `quantized` meets the target against the float
    /// model's `float`, both by `measure`; a classifier's score must clear it by `margin` too
    /// (the compiler's one standard error when it chooses a precision; 0 in a plain report).
    pub fn met(self, measure: QualityMeasure, float: f64, quantized: f64, margin: f64) -> bool {
        match measure {
            // A hair of slack, so that "exactly one point" still passes despite rounding.
            QualityMeasure::Accuracy | QualityMeasure::Agreement => {
                quantized - margin >= float - self.accuracy_loss - 1e-9
            }
            QualityMeasure::MeanAbsoluteError => quantized <= float * (1.0 + self.mae_increase),
            QualityMeasure::Deviation => quantized <= float * self.mae_increase,
        }
    }
}

impl Default for AccuracyTarget {
    fn default() -> Self {
        Self {
            accuracy_loss: 0.01,
            mae_increase: 0.03,
        }
    }
}

/// What [`Quality`] measures on the calibration rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityMeasure {
    /// Fraction of rows whose class is the `target` column's.
    Accuracy,
    /// Fraction of rows whose class is the float model's (no `target` column).
    Agreement,
    /// Mean absolute error against the `target` column.
    MeanAbsoluteError,
    /// No `target` column: `float` is the float predictions' mean absolute deviation,
    /// `quantized` the mean |quantized - float|.
    Deviation,
}

/// The float and the quantized model's quality on the calibration rows, and whether the
/// quantized one meets the [`AccuracyTarget`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub measure: QualityMeasure,
    pub float: f64,
    pub quantized: f64,
    pub target_met: bool,
}

/// The calibration CSV's `target` column, if it has one that is not a feature: class indices
/// for classifiers, values for regressors.
pub(crate) fn calibration_targets(ensemble: &TreeEnsemble, calibration: &Dataset) -> Result<Option<Vec<f64>>> {
    dataset_targets(&ensemble.feature_names, ensemble.objective, calibration, "calibration")
}

/// The `target` column of the `what` rows (see [`calibration_targets`]).
pub(crate) fn dataset_targets(
    feature_names: &[String],
    objective: crate::spec::objective::Objective,
    rows: &Dataset,
    what: &str,
) -> Result<Option<Vec<f64>>> {
    const TARGET: &str = "target";
    if !rows.columns.iter().any(|c| c == TARGET) || feature_names.iter().any(|f| f == TARGET) {
        return Ok(None);
    }
    let targets = rows.column(TARGET)?;
    if let Some(classes) = objective.classes()
        && let Some(bad) = targets
            .iter()
            .find(|t| t.fract() != 0.0 || **t < 0.0 || **t >= classes as f64)
    {
        return Err(ModelError::InvalidData(format!(
            "the {what} column `target` holds {bad}, not a class index below {classes}"
        )));
    }
    Ok(Some(targets))
}

/// The index of the largest entry.
pub(crate) fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// The float and quantized models' quality on `rows` (with the quantized `predictions`), and
/// whether the quantized one meets `target`.
pub(crate) fn measure_quality(
    ensemble: &TreeEnsemble,
    rows: &[Vec<f64>],
    quantized: &[Prediction],
    targets: Option<&[f64]>,
    target: AccuracyTarget,
) -> Quality {
    let float: Vec<Vec<f64>> = rows.iter().map(|r| ensemble.predict(r)).collect();
    measure_quality_of(ensemble.objective, &float, quantized, targets, target)
}

/// [`measure_quality`] of any model family: `float` holds the float model's predictions of the
/// rows that `quantized` predicts.
pub(crate) fn measure_quality_of(
    objective: crate::spec::objective::Objective,
    float: &[Vec<f64>],
    quantized: &[Prediction],
    targets: Option<&[f64]>,
    target: AccuracyTarget,
) -> Quality {
    let n = float.len() as f64;
    let fraction = |hits: usize| hits as f64 / n;
    let mean = |sum: f64| sum / n;
    if objective.classes().is_some() {
        let (measure, float_score, quantized_score) = match targets {
            Some(t) => (
                QualityMeasure::Accuracy,
                fraction(float.iter().zip(t).filter(|(p, t)| argmax(p) as f64 == **t).count()),
                fraction(
                    quantized
                        .iter()
                        .zip(t)
                        .filter(|(q, t)| argmax(q.class_scores()) as f64 == **t)
                        .count(),
                ),
            ),
            None => (
                QualityMeasure::Agreement,
                1.0,
                fraction(
                    quantized
                        .iter()
                        .zip(float)
                        .filter(|(q, p)| argmax(q.class_scores()) == argmax(p))
                        .count(),
                ),
            ),
        };
        // The calibration rows are a sample: demand the target of the score less one standard
        // error, so that a precision that only just passes on these rows is not taken.
        let standard_error = (quantized_score * (1.0 - quantized_score) / n).sqrt();
        Quality {
            measure,
            float: float_score,
            quantized: quantized_score,
            target_met: target.met(measure, float_score, quantized_score, standard_error),
        }
    } else {
        let values: Vec<f64> = quantized.iter().map(|q| q.value.unwrap_or_default()).collect();
        match targets {
            Some(t) => {
                let float_mae = mean(float.iter().zip(t).map(|(p, t)| (p[0] - t).abs()).sum());
                let mae = mean(values.iter().zip(t).map(|(v, t)| (v - t).abs()).sum());
                Quality {
                    measure: QualityMeasure::MeanAbsoluteError,
                    float: float_mae,
                    quantized: mae,
                    target_met: target.met(QualityMeasure::MeanAbsoluteError, float_mae, mae, 0.0),
                }
            }
            None => {
                let center = mean(float.iter().map(|p| p[0]).sum());
                let deviation = mean(float.iter().map(|p| (p[0] - center).abs()).sum());
                let gap = mean(values.iter().zip(float).map(|(v, p)| (v - p[0]).abs()).sum());
                Quality {
                    measure: QualityMeasure::Deviation,
                    float: deviation,
                    quantized: gap,
                    target_met: target.met(QualityMeasure::Deviation, deviation, gap, 0.0),
                }
            }
        }
    }
}
