//! Import and compilation of the shipped models, in the clear (fast).

use blindfold_model::fixtures::{BREAST_CANCER, DIABETES, Fixture, WINE};
use blindfold_model::{ClientSpec, Dataset, Objective, ServerPlan, import_xgboost_json};

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap()
}

#[test]
fn float_import_matches_xgboost_predictions() {
    for fixture in [BREAST_CANCER, WINE, DIABETES] {
        let ensemble = import_xgboost_json(fixture.model_json).unwrap();
        let (rows, _) = fixture.test_rows().unwrap();
        let expected = fixture.expected().unwrap();
        for (row, want) in rows.iter().zip(&expected) {
            let got = ensemble.predict(row);
            let tolerance = if ensemble.objective == Objective::RegSquaredError {
                1e-3
            } else {
                1e-5
            };
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() <= tolerance * w.abs().max(1.0),
                    "{}: {got:?} vs {want:?}",
                    fixture.id
                );
            }
        }
    }
}

/// Accuracy against the true labels, of the float model and of the quantized one.
fn accuracies(fixture: &Fixture) -> (f64, f64) {
    let compiled = fixture.compile().unwrap();
    let ensemble = import_xgboost_json(fixture.model_json).unwrap();
    let (rows, targets) = fixture.test_rows().unwrap();
    let (mut float, mut quantized) = (0, 0);
    for (row, target) in rows.iter().zip(&targets) {
        let levels = compiled.spec.quantize_row(row).unwrap();
        let q = compiled.spec.decode(&compiled.quantized.raw_outputs(&levels)).unwrap();
        float += usize::from(argmax(&ensemble.predict(row)) == *target as usize);
        quantized += usize::from(argmax(&q.probabilities) == *target as usize);
    }
    (float as f64 / rows.len() as f64, quantized as f64 / rows.len() as f64)
}

#[test]
fn quantized_classifiers_stay_within_a_point_of_float_accuracy() {
    for fixture in [BREAST_CANCER, WINE] {
        let (float, quantized) = accuracies(&fixture);
        assert!(
            quantized >= float - 0.01,
            "{}: quantized {quantized} vs float {float}",
            fixture.id
        );
    }
}

#[test]
fn quantized_probabilities_track_xgboost() {
    for fixture in [BREAST_CANCER, WINE] {
        let compiled = fixture.compile().unwrap();
        let (rows, _) = fixture.test_rows().unwrap();
        let expected = fixture.expected().unwrap();
        let (mut total, mut same_class) = (0.0, 0);
        for (row, want) in rows.iter().zip(&expected) {
            let levels = compiled.spec.quantize_row(row).unwrap();
            let got = compiled
                .spec
                .decode(&compiled.quantized.raw_outputs(&levels))
                .unwrap()
                .probabilities;
            total += got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            same_class += usize::from(argmax(&got) == argmax(want));
        }
        let mean = total / rows.len() as f64;
        assert!(mean < 0.05, "{}: mean |p_quantized - p_xgboost| = {mean}", fixture.id);
        assert!(
            same_class as f64 >= 0.95 * rows.len() as f64,
            "{}: {same_class} agree",
            fixture.id
        );
    }
}

#[test]
fn quantized_regression_tracks_xgboost() {
    let compiled = DIABETES.compile().unwrap();
    let (rows, targets) = DIABETES.test_rows().unwrap();
    let expected = DIABETES.expected().unwrap();
    let (mut error_float, mut error_quantized) = (0.0, 0.0);
    for ((row, want), target) in rows.iter().zip(&expected).zip(&targets) {
        let levels = compiled.spec.quantize_row(row).unwrap();
        let got = compiled
            .spec
            .decode(&compiled.quantized.raw_outputs(&levels))
            .unwrap()
            .value
            .unwrap();
        error_float += (want[0] - target).abs();
        error_quantized += (got - target).abs();
    }
    // Mean absolute error against the truth grows by at most 5%.
    assert!(
        error_quantized <= error_float * 1.05,
        "{error_quantized} vs {error_float}"
    );
}

#[test]
fn spec_and_plan_round_trip_and_the_spec_holds_no_tree() {
    let compiled = BREAST_CANCER.compile().unwrap();
    let spec_json = compiled.spec.to_json();
    assert_eq!(ClientSpec::from_json(&spec_json).unwrap(), compiled.spec);
    assert_eq!(ServerPlan::from_json(&compiled.plan.to_json()).unwrap(), compiled.plan);
    for secret in ["lookups", "tables", "threshold", "step"] {
        assert!(!spec_json.contains(secret), "the client spec mentions `{secret}`");
    }
    assert_eq!(compiled.spec.input_ciphertexts(), 30 * 15 * 4);
    assert!(compiled.report.bootstraps <= 60, "{:?}", compiled.report);
}

#[test]
fn bad_plans_and_specs_are_refused() {
    let compiled = BREAST_CANCER.compile().unwrap();
    let mut plan = compiled.plan.clone();
    plan.outputs[0].lookups[0].terms[0].1 = 3;
    assert!(plan.validate().is_err());
    let mut plan = compiled.plan.clone();
    plan.outputs[0].lookups[0].tables[0].values[0] = 9;
    assert!(plan.validate().is_err());
    let mut plan = compiled.plan;
    plan.outputs[0].max_value = 1 << 20;
    assert!(plan.validate().is_err());
    assert!(ClientSpec::from_json("{}").is_err());
    let mut spec = compiled.spec;
    spec.format_version = 99;
    assert!(ClientSpec::from_json(&spec.to_json()).is_err());
}

#[test]
fn calibration_without_the_features_is_refused() {
    let ensemble = import_xgboost_json(BREAST_CANCER.model_json).unwrap();
    let calibration = Dataset::from_csv("a,b\n1,2\n3,4\n").unwrap();
    assert!(blindfold_model::compile(&ensemble, &calibration, &Default::default()).is_err());
    assert!(Dataset::from_csv("a,b\n1,x\n").is_err());
}
