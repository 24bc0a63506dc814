//! Import and compilation of the shipped models, in the clear (fast).

#[path = "compile/bombs.rs"]
mod bombs;

use std::ops::ControlFlow;

use blindfold_model::compiler::compile::QualityMeasure;
use blindfold_model::compiler::fixtures::{
    BREAST_CANCER, FORMATS, Fixture, LINEAR, NETWORKS, SHIPPED, SKLEARN_MLP_CLASSIFIER, SKLEARN_MLP_REGRESSOR,
    SKLEARN_SGD_CLASSIFIER, TORCH_MLP, WINE,
};
use blindfold_model::compiler::import::ImportedModel;
use blindfold_model::{ClientSpec, CompileOptions, Dataset, ModelError, Objective, ServerPlan, import_xgboost_json};

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap()
}

/// Every fixture: the shipped XGBoost JSON models and one per import format and library.
fn all_fixtures() -> impl Iterator<Item = Fixture> {
    SHIPPED.into_iter().chain(FORMATS)
}

/// The float model's predictions on the fixture's test rows are the library's, to 1e-5 of
/// max(|expected|, 1).
fn assert_reproduces(fixture: &Fixture, predict: impl Fn(&[f64]) -> Vec<f64>) {
    let (rows, _) = fixture.test_rows().unwrap();
    let expected = fixture.expected().unwrap();
    assert_eq!(rows.len(), expected.len());
    for (row, want) in rows.iter().zip(&expected) {
        let got = predict(row);
        assert_eq!(got.len(), want.len(), "{}", fixture.id);
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{}: {got:?} vs {want:?}",
                fixture.id
            );
        }
    }
}

#[test]
fn float_import_reproduces_each_librarys_predictions() {
    for fixture in all_fixtures() {
        let ensemble = fixture.import().unwrap();
        assert_reproduces(&fixture, |row| ensemble.predict(row));
    }
}

#[test]
fn linear_import_reproduces_each_librarys_predictions() {
    for fixture in LINEAR.into_iter().chain([SKLEARN_SGD_CLASSIFIER]) {
        let ImportedModel::Linear(model) = fixture.import_any().unwrap() else {
            panic!("{}: not a linear model", fixture.id);
        };
        assert_reproduces(&fixture, |row| model.predict(row));
    }
}

#[test]
fn network_import_reproduces_each_librarys_predictions() {
    for fixture in NETWORKS {
        let ImportedModel::Network(network) = fixture.import_any().unwrap() else {
            panic!("{}: not a network", fixture.id);
        };
        assert_reproduces(&fixture, |row| network.predict(row));
    }
    // A network of two hidden layers is read, and refused by the compiler by name.
    let error = TORCH_MLP.compile_any().unwrap_err().to_string();
    assert!(error.contains("2 hidden layers"), "{error}");
}

/// On the test rows, the quantized MLP classifier's accuracy is within a point of its float
/// network's, and the regressor's mean absolute error within 12% of its float network's (four
/// fine steps per activation and six output bits: the 3% needs finer activations).
#[test]
fn quantized_networks_stay_close_to_their_float_networks() {
    for fixture in [SKLEARN_MLP_CLASSIFIER, SKLEARN_MLP_REGRESSOR] {
        let compiled = fixture.compile_any().unwrap();
        let network = fixture.import_any().unwrap();
        let (rows, targets) = fixture.test_rows().unwrap();
        let (mut float, mut quantized) = (0.0, 0.0);
        for (row, &target) in rows.iter().zip(&targets) {
            let f = network.predict(row);
            let q = compiled.predict_clear(row).unwrap();
            if q.probabilities.is_empty() {
                float += (f[0] - target).abs();
                quantized += (q.value.unwrap() - target).abs();
            } else {
                float += f64::from(u8::from(argmax(&f) == target as usize));
                quantized += f64::from(u8::from(argmax(q.class_scores()) == target as usize));
            }
        }
        let n = rows.len() as f64;
        let (float, quantized) = (float / n, quantized / n);
        let cost = compiled.cost();
        eprintln!("{}: float {float:.4}, quantized {quantized:.4}, {cost:?}", fixture.id);
        if network.objective().classes().is_some() {
            assert!(quantized >= float - 0.01, "{}: {quantized} vs {float}", fixture.id);
        } else {
            assert!(quantized <= float * 1.12, "{}: MAE {quantized} vs {float}", fixture.id);
        }
    }
}

/// Accuracy against the true labels, of the float model and of the quantized one.
fn accuracies(fixture: &Fixture) -> (f64, f64) {
    let compiled = fixture.compile().unwrap();
    let ensemble = fixture.import().unwrap();
    let (rows, targets) = fixture.test_rows().unwrap();
    let (mut float, mut quantized) = (0, 0);
    for (row, target) in rows.iter().zip(&targets) {
        let levels = compiled.spec.quantize_row(row).unwrap();
        let q = compiled.spec.decode(&compiled.quantized.raw_outputs(&levels)).unwrap();
        float += usize::from(argmax(&ensemble.predict(row)) == *target as usize);
        quantized += usize::from(argmax(q.class_scores()) == *target as usize);
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

/// The quantized classifiers pick the library's class on at least 97% of the test rows
/// (and their probabilities stay close); the quantized regressors' mean absolute error against
/// the truth is at most 3% above the library's.
#[test]
fn quantized_models_track_their_librarys_predictions() {
    for fixture in all_fixtures() {
        let compiled = fixture.compile().unwrap();
        let (rows, targets) = fixture.test_rows().unwrap();
        let expected = fixture.expected().unwrap();
        let quantized: Vec<_> = rows
            .iter()
            .map(|row| {
                let levels = compiled.spec.quantize_row(row).unwrap();
                compiled.spec.decode(&compiled.quantized.raw_outputs(&levels)).unwrap()
            })
            .collect();
        if compiled.spec.objective == Objective::RegSquaredError {
            let mae = |predictions: Vec<f64>| {
                predictions
                    .iter()
                    .zip(&targets)
                    .map(|(p, t)| (p - t).abs())
                    .sum::<f64>()
                    / rows.len() as f64
            };
            let library = mae(expected.iter().map(|w| w[0]).collect());
            let ours = mae(quantized.iter().map(|q| q.value.unwrap()).collect());
            assert!(
                ours <= library * 1.03,
                "{}: MAE {ours} vs the library's {library}",
                fixture.id
            );
            continue;
        }
        let (mut total, mut same_class) = (0.0, 0);
        for (q, want) in quantized.iter().zip(&expected) {
            let got = &q.probabilities;
            total += got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            same_class += usize::from(argmax(got) == argmax(want));
        }
        let mean = total / rows.len() as f64;
        assert!(mean < 0.05, "{}: mean |p_quantized - p_library| = {mean}", fixture.id);
        assert!(
            same_class as f64 >= 0.97 * rows.len() as f64,
            "{}: {same_class} of {} agree",
            fixture.id,
            rows.len()
        );
    }
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
    // One ciphertext per thermometer bit; the server applies the weights.
    let levels: usize = compiled.spec.features.iter().map(|f| f.levels() - 1).sum();
    assert_eq!(compiled.spec.input_ciphertexts(), levels);
    assert_eq!(compiled.report.ciphertexts, levels);
    assert_eq!(compiled.plan.input.ciphertexts(), levels);
    assert!(compiled.report.bootstraps <= 120, "{:?}", compiled.report);
}

/// Too few input bits lose accuracy; the compiler notices on held-out calibration rows and
/// spends more. With a `target` column it measures accuracy against the truth, without one
/// agreement with the float model.
#[test]
fn the_compiler_spends_the_bits_the_accuracy_target_needs() {
    let ensemble = BREAST_CANCER.import().unwrap();
    let labelled = Dataset::from_csv(BREAST_CANCER.train_csv).unwrap();
    let compile = |calibration: &Dataset, input_bits: Option<u32>| {
        let options = CompileOptions {
            input_bits,
            ..Default::default()
        };
        blindfold_model::compile(&ensemble, calibration, &options)
    };
    let coarse = compile(&labelled, Some(2)).unwrap();
    assert_eq!(coarse.report.quality.measure, QualityMeasure::Accuracy);
    assert!(!coarse.report.quality.target_met, "{:?}", coarse.report);
    let chosen = compile(&labelled, None).unwrap();
    assert!(chosen.report.quality.target_met, "{:?}", chosen.report);
    assert!(chosen.report.input_bits > 2);
    assert!(chosen.report.predicted_millis > 0.0 && chosen.report.row_bytes == 8 * chosen.report.ciphertexts);

    // The same rows without their classes: agreement with the float model.
    let features: Vec<String> = labelled.columns.iter().filter(|c| *c != "target").cloned().collect();
    let mut csv = features.join(",") + "\n";
    for row in labelled.select(&features).unwrap() {
        csv += &(row.iter().map(f64::to_string).collect::<Vec<_>>().join(",") + "\n");
    }
    let unlabelled = compile(&Dataset::from_csv(&csv).unwrap(), None).unwrap();
    assert_eq!(unlabelled.report.quality.measure, QualityMeasure::Agreement);
    assert!(unlabelled.report.quality.target_met, "{:?}", unlabelled.report);

    let mut lines: Vec<String> = BREAST_CANCER.train_csv.lines().map(str::to_owned).collect();
    lines[1] = format!("{},7", lines[1].rsplit_once(',').unwrap().0);
    let error = compile(&Dataset::from_csv(&lines.join("\n")).unwrap(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a class index below 2"), "{error}");
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
    // A calibration range clients could not clamp to.
    spec.format_version = blindfold_model::spec::SPEC_FORMAT_VERSION;
    assert!(ClientSpec::from_json(&spec.to_json()).is_ok());
    let feature = &mut spec.features[0];
    (feature.calibration_min, feature.calibration_max) = (feature.calibration_max + 1.0, feature.calibration_min);
    assert!(matches!(
        ClientSpec::from_json(&spec.to_json()),
        Err(ModelError::Format(_))
    ));
}

#[test]
fn calibration_without_the_features_is_refused() {
    let ensemble = import_xgboost_json(BREAST_CANCER.model_text()).unwrap();
    let calibration = Dataset::from_csv("a,b\n1,2\n3,4\n").unwrap();
    assert!(blindfold_model::compile(&ensemble, &calibration, &Default::default()).is_err());
    assert!(Dataset::from_csv("a,b\n1,x\n").is_err());
}

#[test]
fn compilation_reports_its_progress_and_ends_where_compile_does() {
    let fixture = WINE;
    let ensemble = fixture.import().unwrap();
    let calibration = Dataset::from_csv(fixture.train_csv).unwrap();
    let options = CompileOptions {
        labels: Some(fixture.labels.iter().map(|l| l.to_string()).collect()),
        ..CompileOptions::default()
    };
    let mut steps = Vec::new();
    let compiled = blindfold_model::compile_with_progress(&ensemble, &calibration, &options, &mut |step| {
        steps.push(step);
        ControlFlow::Continue(())
    })
    .unwrap();
    // One step per automatic input precision and one for the self-check, counted up in order.
    assert_eq!(steps.len(), 6, "{steps:?}");
    for (done, step) in steps.iter().enumerate() {
        assert_eq!((step.done, step.total), (done as u32, 6), "{steps:?}");
    }
    assert_eq!(steps[0].stage, "trying 2-bit inputs");
    assert!(steps[5].stage.contains("checking"), "{steps:?}");
    let plain = blindfold_model::compile(&ensemble, &calibration, &options).unwrap();
    assert_eq!(compiled.spec, plain.spec);
    assert_eq!(compiled.report, plain.report);
}

#[test]
fn a_compilation_stops_at_the_step_its_caller_says_so() {
    let fixture = WINE;
    let ensemble = fixture.import().unwrap();
    let calibration = Dataset::from_csv(fixture.train_csv).unwrap();
    let mut steps = 0;
    let stopped =
        blindfold_model::compile_with_progress(&ensemble, &calibration, &CompileOptions::default(), &mut |_| {
            steps += 1;
            if steps == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    assert!(
        matches!(stopped, Err(ModelError::Interrupted(_))),
        "{:?}",
        stopped.err()
    );
    assert_eq!(steps, 3, "no step after the one that said stop");
}

#[test]
fn a_model_over_the_bootstrap_budget_is_refused_with_its_figure() {
    let fixture = BREAST_CANCER;
    let ensemble = fixture.import().unwrap();
    let calibration = Dataset::from_csv(fixture.train_csv).unwrap();
    let options = |max_bootstraps| CompileOptions {
        max_bootstraps,
        ..CompileOptions::default()
    };
    let free = blindfold_model::compile(&ensemble, &calibration, &options(None)).unwrap();
    let chosen = free.report.bootstraps;
    // Within the budget: the same circuit.
    let within = blindfold_model::compile(&ensemble, &calibration, &options(Some(chosen))).unwrap();
    assert_eq!(within.report.bootstraps, chosen);
    // Below it: a cheaper precision if one exists, never more than the budget.
    match blindfold_model::compile(&ensemble, &calibration, &options(Some(chosen - 1))) {
        Ok(cheaper) => assert!(cheaper.report.bootstraps < chosen),
        Err(ModelError::Unsupported(why)) => assert!(why.contains("bootstraps"), "{why}"),
        Err(other) => panic!("{other}"),
    }
    // Below every precision's: refused, saying what one prediction would cost.
    let refused = blindfold_model::compile(&ensemble, &calibration, &options(Some(1))).unwrap_err();
    let ModelError::Unsupported(why) = &refused else {
        panic!("{refused}")
    };
    assert!(why.contains("more than the 1 this server evaluates"), "{why}");
    let figure: usize = why.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(figure <= chosen && figure > 1, "{why}");
}

/// The linear fixtures compiled: on their held-out test rows the quantized model's accuracy is
/// within a point of the float model's, and its mean absolute error within 3%.
#[test]
fn quantized_linear_models_meet_the_accuracy_target_on_test_rows() {
    use blindfold_model::compiler::compile::linear::compile_linear;
    for fixture in LINEAR {
        let ImportedModel::Linear(model) = fixture.import_any().unwrap() else {
            panic!("{}: not a linear model", fixture.id);
        };
        let labels = (!fixture.labels.is_empty()).then(|| fixture.labels.iter().map(|l| l.to_string()).collect());
        let calibration = Dataset::from_csv(fixture.train_csv).unwrap();
        let options = CompileOptions {
            labels,
            ..Default::default()
        };
        let compiled = compile_linear(&model, &calibration, &options).unwrap();
        let (rows, targets) = fixture.test_rows().unwrap();
        let n = rows.len() as f64;
        let (mut float, mut quantized) = (0.0, 0.0);
        for (row, target) in rows.iter().zip(&targets) {
            let clear = compiled.predict_clear(row).unwrap();
            match model.objective.classes() {
                Some(_) => {
                    float += f64::from(argmax(&model.predict(row)) == *target as usize) / n;
                    quantized += f64::from(argmax(clear.class_scores()) == *target as usize) / n;
                }
                None => {
                    float += (model.predict(row)[0] - target).abs() / n;
                    quantized += (clear.value.unwrap() - target).abs() / n;
                }
            }
        }
        println!(
            "{}: float {float:.4}, quantized {quantized:.4} ({} input bits, {} message bits, calibration {:?})",
            fixture.id, compiled.report.input_bits, compiled.report.message_bits, compiled.report.quality
        );
        if model.objective.classes().is_some() {
            assert!(quantized >= float - 0.01, "{}: {quantized} vs {float}", fixture.id);
        } else {
            assert!(quantized <= float * 1.03, "{}: {quantized} vs {float}", fixture.id);
        }
    }
}
