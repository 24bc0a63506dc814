//! How a compiled model does on labelled rows: the float model (the library's arithmetic)
//! against the quantized one (what the server computes under encryption, exactly), with the
//! quantized model's confusion matrix (classifiers) or predicted-vs-true points (regressors).
//!
//! Everything here is clear computation on rows the model owner supplied; nothing is encrypted
//! and nothing about users' data is involved.

use crate::compiler::compile::{AccuracyTarget, Quality, argmax, dataset_targets, measure_quality_of};
use crate::compiler::dataset::Dataset;
use crate::compiler::family::Compiled;
use crate::compiler::import::ImportedModel;
use crate::{ModelError, Prediction, Result};

/// The most `[true, predicted]` points an [`Evaluation`] keeps (evenly chosen).
pub const MAX_SCATTER_POINTS: usize = 1000;

/// A compiled model's quality on some rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub quality: Quality,
    /// Rows evaluated.
    pub rows: usize,
    /// Classifiers with true classes: `confusion[true][predicted]` of the quantized model.
    pub confusion: Vec<Vec<u64>>,
    /// Regressors with true values: `[true, quantized prediction]`, at most
    /// [`MAX_SCATTER_POINTS`].
    pub scatter: Vec<[f64; 2]>,
}

/// Evaluates `compiled` (compiled from `model`) on `rows`, whose columns must include the
/// model's features and may include a `target` column with true class indices or values;
/// `what` names the rows in errors ("test"). Judged against `target` as the compiler judges.
pub fn evaluate_rows(
    model: &ImportedModel,
    compiled: &Compiled,
    rows: &Dataset,
    what: &str,
    target: AccuracyTarget,
) -> Result<Evaluation> {
    let names: Vec<String> = compiled.spec().features.iter().map(|f| f.name.clone()).collect();
    let table = rows
        .select(&names)
        .map_err(|e| ModelError::InvalidData(format!("the {what} rows: {e}")))?;
    if table.is_empty() {
        return Err(ModelError::InvalidData(format!("the {what} rows: there are none")));
    }
    let targets = dataset_targets(model.feature_names(), model.objective(), rows, what)?;
    let predictions = table
        .iter()
        .map(|row| compiled.predict_clear(row))
        .collect::<Result<Vec<Prediction>>>()?;
    let float: Vec<Vec<f64>> = table.iter().map(|row| model.predict(row)).collect();
    let mut quality = measure_quality_of(model.objective(), &float, &predictions, targets.as_deref(), target);
    // The compiler demands its target less one standard error to choose a precision that will
    // hold on new rows; a report states plainly whether these rows meet it.
    quality.target_met = target.met(quality.measure, quality.float, quality.quantized, 0.0);
    let (mut confusion, mut scatter) = (Vec::new(), Vec::new());
    if let Some(targets) = &targets {
        if let Some(classes) = model.objective().classes() {
            confusion = vec![vec![0; classes]; classes];
            for (prediction, &truth) in predictions.iter().zip(targets) {
                confusion[truth as usize][argmax(prediction.class_scores())] += 1;
            }
        } else {
            let step = targets.len().div_ceil(MAX_SCATTER_POINTS);
            scatter = predictions
                .iter()
                .zip(targets)
                .step_by(step)
                .map(|(prediction, &truth)| [truth, prediction.value.unwrap_or_default()])
                .collect();
        }
    }
    Ok(Evaluation {
        quality,
        rows: table.len(),
        confusion,
        scatter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::fixtures;

    #[test]
    fn a_classifier_gets_a_confusion_matrix_of_its_test_rows() {
        let fixture = fixtures::BREAST_CANCER;
        let compiled = fixture.compile_any().unwrap();
        let ensemble = fixture.import_any().unwrap();
        let test = Dataset::from_csv(fixture.test_csv).unwrap();
        let evaluation = evaluate_rows(&ensemble, &compiled, &test, "test", AccuracyTarget::default()).unwrap();
        let (rows, targets) = fixture.test_rows().unwrap();
        assert_eq!(evaluation.rows, rows.len());
        assert_eq!(evaluation.confusion.len(), 2);
        let total: u64 = evaluation.confusion.iter().flatten().sum();
        assert_eq!(total as usize, rows.len());
        // The diagonal is the quantized model's accuracy, counted independently here.
        let right = rows
            .iter()
            .zip(&targets)
            .filter(|(row, t)| {
                let p = compiled.predict_clear(row).unwrap();
                argmax(p.class_scores()) as f64 == **t
            })
            .count();
        assert_eq!(
            (evaluation.confusion[0][0] + evaluation.confusion[1][1]) as usize,
            right
        );
        assert!((evaluation.quality.quantized - right as f64 / rows.len() as f64).abs() < 1e-12);
        assert!(evaluation.quality.float > 0.9, "{evaluation:?}");
        // Within a point of float (95.6% against 94.7%): met, plainly, on these rows.
        assert_eq!(
            evaluation.quality.target_met,
            evaluation.quality.quantized >= evaluation.quality.float - 0.01,
            "{evaluation:?}"
        );
        assert!(evaluation.scatter.is_empty());
    }

    #[test]
    fn a_regressor_gets_true_against_predicted_points() {
        let fixture = fixtures::DIABETES;
        let compiled = fixture.compile_any().unwrap();
        let ensemble = fixture.import_any().unwrap();
        let test = Dataset::from_csv(fixture.test_csv).unwrap();
        let evaluation = evaluate_rows(&ensemble, &compiled, &test, "test", AccuracyTarget::default()).unwrap();
        assert!(evaluation.confusion.is_empty());
        assert_eq!(evaluation.scatter.len(), evaluation.rows.min(MAX_SCATTER_POINTS));
        let (rows, targets) = fixture.test_rows().unwrap();
        let first = compiled.predict_clear(&rows[0]).unwrap().value.unwrap();
        assert_eq!(evaluation.scatter[0], [targets[0], first]);
        assert_eq!(
            evaluation.quality.measure,
            crate::compiler::compile::QualityMeasure::MeanAbsoluteError
        );
    }

    #[test]
    fn rows_missing_a_feature_are_refused_by_name() {
        let fixture = fixtures::BREAST_CANCER;
        let compiled = fixture.compile_any().unwrap();
        let ensemble = fixture.import_any().unwrap();
        let test = Dataset::from_csv("target,mean radius\n0,1.0\n").unwrap();
        let error = evaluate_rows(&ensemble, &compiled, &test, "test", AccuracyTarget::default()).unwrap_err();
        assert!(error.to_string().contains("test rows"), "{error}");
        let mut lines: Vec<String> = fixture.test_csv.lines().map(str::to_owned).collect();
        assert!(lines[0].ends_with(",target"));
        let last_comma = lines[1].rfind(',').unwrap();
        lines[1].replace_range(last_comma.., ",7");
        let bad_class = Dataset::from_csv(&lines.join("\n")).unwrap();
        let error = evaluate_rows(&ensemble, &compiled, &bad_class, "test", AccuracyTarget::default()).unwrap_err();
        assert!(error.to_string().contains("test column `target` holds 7"), "{error}");
    }

    #[test]
    fn a_linear_model_is_evaluated_like_a_tree_ensemble() {
        let fixture = fixtures::SKLEARN_LOGISTIC_REGRESSION;
        let compiled = fixture.compile_any().unwrap();
        let model = fixture.import_any().unwrap();
        let test = Dataset::from_csv(fixture.test_csv).unwrap();
        let evaluation = evaluate_rows(&model, &compiled, &test, "test", AccuracyTarget::default()).unwrap();
        assert_eq!(evaluation.confusion.len(), 2);
        assert!(evaluation.quality.target_met, "{evaluation:?}");
        assert_eq!(compiled.cost().bootstraps, 0);
    }
}
