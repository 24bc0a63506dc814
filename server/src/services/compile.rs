//! One compilation for every way a model arrives (`blindfold-server import-model`, the default
//! model, an owner's upload): compile, evaluate the float and quantized models on labelled rows,
//! and report; and the one home of the conversions from the model crate's types to the wire's.

use std::ops::ControlFlow;

use blindfold_api::{
    FeatureInfo, ModelCost, ModelFamily, ModelQuality, ModelReport, Objective, QualityMeasure, QualityRows,
};
use blindfold_model::compiler::family::{Compiled, compile_model};
use blindfold_model::compiler::import::ImportedModel;
use blindfold_model::compiler::report::{Evaluation, evaluate_rows};
use blindfold_model::{CompileOptions, CompileStep, Dataset};

/// A compiled model and the report its owner and users see.
pub struct Reported {
    pub compiled: Compiled,
    pub report: ModelReport,
}

/// Compiles `model` (imported from a file of `format`) on the `calibration` rows, then
/// measures the float and quantized models on the `test` rows, or without them on the
/// calibration rows themselves (blocking: call from a blocking thread). `progress` hears of
/// each step and may stop the compiler at the next one.
pub fn compile_and_report(
    format: &str,
    model: &ImportedModel,
    calibration: &Dataset,
    test: Option<&Dataset>,
    options: &CompileOptions,
    progress: &mut dyn FnMut(CompileStep) -> ControlFlow<()>,
) -> blindfold_model::Result<Reported> {
    let compiled = compile_model(model, calibration, options, progress)?;
    let (rows, what, kind) = match test {
        Some(test) => (test, "test", QualityRows::Test),
        None => (calibration, "calibration", QualityRows::Calibration),
    };
    let evaluation = evaluate_rows(model, &compiled, rows, what, options.target)?;
    let report = model_report(format, &compiled, calibration.rows.len(), &evaluation, kind);
    Ok(Reported { compiled, report })
}

/// Every feature of `names` in order, with the description and unit `given` has for it by name
/// (none for the others).
pub fn describe_inputs<'a>(names: impl Iterator<Item = &'a str>, given: &[FeatureInfo]) -> Vec<FeatureInfo> {
    names
        .map(|name| {
            given
                .iter()
                .find(|info| info.name == name)
                .cloned()
                .unwrap_or_else(|| FeatureInfo {
                    name: name.to_owned(),
                    ..FeatureInfo::default()
                })
        })
        .collect()
}

/// The report of a compiled model: its cost, the compiler's own held-out estimate on the
/// `calibration_rows` calibration rows, and `evaluation` on the `rows` it names.
pub fn model_report(
    format: &str,
    compiled: &Compiled,
    calibration_rows: usize,
    evaluation: &Evaluation,
    rows: QualityRows,
) -> ModelReport {
    let cost = compiled.cost();
    ModelReport {
        format: format.to_owned(),
        cost: ModelCost {
            family: match compiled {
                Compiled::Trees(_) => ModelFamily::Trees,
                Compiled::Linear(_) => ModelFamily::Linear,
                Compiled::Network(_) => ModelFamily::Network,
            },
            input_bits: cost.input_bits,
            output_bits: cost.output_bits,
            bootstraps: cost.bootstraps,
            ciphertexts: cost.ciphertexts,
            row_bytes: cost.row_bytes,
            predicted_millis: cost.predicted_millis,
        },
        calibration: wire_quality(&compiled.quality(), QualityRows::HeldOutCalibration, calibration_rows),
        evaluation: wire_quality(&evaluation.quality, rows, evaluation.rows),
        confusion: evaluation.confusion.clone(),
        scatter: evaluation
            .scatter
            .iter()
            .take(blindfold_api::MAX_SCATTER_POINTS)
            .copied()
            .collect(),
    }
}

fn wire_quality(
    quality: &blindfold_model::compiler::compile::Quality,
    rows: QualityRows,
    count: usize,
) -> ModelQuality {
    use blindfold_model::compiler::compile::QualityMeasure as Measure;
    ModelQuality {
        measure: match quality.measure {
            Measure::Accuracy => QualityMeasure::Accuracy,
            Measure::Agreement => QualityMeasure::Agreement,
            Measure::MeanAbsoluteError => QualityMeasure::MeanAbsoluteError,
            Measure::Deviation => QualityMeasure::Deviation,
        },
        float: quality.float,
        quantized: quality.quantized,
        rows,
        count,
        target_met: quality.target_met,
    }
}

/// The model crate's objective as the API names it.
pub fn wire_objective(objective: blindfold_model::Objective) -> Objective {
    match objective {
        blindfold_model::Objective::BinaryLogistic => Objective::BinaryLogistic,
        blindfold_model::Objective::MultiSoftprob { classes } => Objective::MultiSoftprob { classes },
        blindfold_model::Objective::RegSquaredError => Objective::RegSquaredError,
        blindfold_model::Objective::AveragedProbabilities { classes } => Objective::AveragedProbabilities { classes },
        blindfold_model::Objective::DecisionScores { classes } => Objective::DecisionScores { classes },
    }
}
