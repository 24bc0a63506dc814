//! One interface over the model families the compiler takes: the float model a file imports
//! to ([`ImportedModel`]) compiled into a public spec and a private plan ([`Compiled`]), with
//! what a report reads of either.

use std::ops::ControlFlow;

use crate::compiler::compile::linear::{CompiledLinear, LINEAR_CANDIDATES, compile_linear_with_progress, raw_values};
use crate::compiler::compile::network::{
    CompiledNetwork, NETWORK_INPUT_BITS, check_network, compile_network_with_progress,
};
use crate::compiler::compile::{CompileOptions, CompileStep, CompiledModel, Quality, compile_with_progress};
use crate::compiler::dataset::Dataset;
use crate::compiler::import::ImportedModel;
use crate::error::Result;
use crate::server::Plan;
use crate::spec::objective::Objective;
use crate::spec::{ClientSpec, Prediction};

impl ImportedModel {
    pub fn objective(&self) -> Objective {
        match self {
            ImportedModel::Trees(ensemble) => ensemble.objective,
            ImportedModel::Linear(model) => model.objective,
            ImportedModel::Network(network) => network.objective,
        }
    }

    /// The names the model was trained with; empty when the file has none.
    pub fn feature_names(&self) -> &[String] {
        match self {
            ImportedModel::Trees(ensemble) => &ensemble.feature_names,
            ImportedModel::Linear(model) => &model.feature_names,
            ImportedModel::Network(network) => &network.feature_names,
        }
    }

    pub fn num_features(&self) -> usize {
        match self {
            ImportedModel::Trees(ensemble) => ensemble.num_features,
            ImportedModel::Linear(model) => model.num_features,
            ImportedModel::Network(network) => network.num_features,
        }
    }

    /// What compiling takes per calibration row, in splits: a tree ensemble's splits (every row
    /// goes through the trees at each input precision tried), a linear model's weights times
    /// the precisions [`compile_linear_with_progress`] tries.
    pub fn compile_work_per_row(&self) -> usize {
        match self {
            ImportedModel::Trees(ensemble) => ensemble.splits(),
            ImportedModel::Linear(model) => model.weights.len() * model.num_features * LINEAR_CANDIDATES,
            ImportedModel::Network(network) => {
                network.weights() * (NETWORK_INPUT_BITS.1 - NETWORK_INPUT_BITS.0 + 1) as usize
            }
        }
    }

    /// Refuses a family the compiler does not take: what [`compile_model`] would say, before
    /// any work (an owner's upload is refused at once).
    pub fn check_compilable(&self) -> Result<()> {
        match self {
            ImportedModel::Trees(_) | ImportedModel::Linear(_) => Ok(()),
            ImportedModel::Network(network) => check_network(network),
        }
    }

    /// The float model's probabilities (classification) or value (regression) for a row.
    pub fn predict(&self, row: &[f64]) -> Vec<f64> {
        match self {
            ImportedModel::Trees(ensemble) => ensemble.predict(row),
            ImportedModel::Linear(model) => model.predict(row),
            ImportedModel::Network(network) => network.predict(row),
        }
    }
}

/// What one prediction of a compiled model costs, whatever its family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Bits per input feature: at most `2^input_bits` levels.
    pub input_bits: u32,
    /// Output precision: a tree ensemble's leaf bits, a linear model's message bits, a
    /// network's output bits.
    pub output_bits: u32,
    pub bootstraps: usize,
    pub ciphertexts: usize,
    pub row_bytes: usize,
    /// Server time on one core of the reference machine.
    pub predicted_millis: f64,
}

/// A compiled model of any family.
#[derive(Debug, Clone)]
pub enum Compiled {
    Trees(CompiledModel),
    Linear(CompiledLinear),
    Network(CompiledNetwork),
}

impl Compiled {
    pub fn spec(&self) -> &ClientSpec {
        match self {
            Compiled::Trees(compiled) => &compiled.spec,
            Compiled::Linear(compiled) => &compiled.spec,
            Compiled::Network(compiled) => &compiled.spec,
        }
    }

    /// The plan the server evaluates.
    pub fn plan(&self) -> Plan {
        match self {
            Compiled::Trees(compiled) => Plan::Trees(compiled.plan.clone()),
            Compiled::Linear(compiled) => Plan::Linear(compiled.plan.clone()),
            Compiled::Network(compiled) => Plan::Network(compiled.plan.clone()),
        }
    }

    /// The plan as the server stores it (without copying it first).
    pub fn plan_json(&self) -> String {
        match self {
            Compiled::Trees(compiled) => compiled.plan.to_json(),
            Compiled::Linear(compiled) => compiled.plan.to_json(),
            Compiled::Network(compiled) => compiled.plan.to_json(),
        }
    }

    pub fn cost(&self) -> Cost {
        match self {
            Compiled::Trees(compiled) => {
                let report = &compiled.report;
                Cost {
                    input_bits: report.input_bits,
                    output_bits: report.leaf_bits,
                    bootstraps: report.bootstraps,
                    ciphertexts: report.ciphertexts,
                    row_bytes: report.row_bytes,
                    predicted_millis: report.predicted_millis,
                }
            }
            Compiled::Linear(compiled) => {
                let report = &compiled.report;
                Cost {
                    input_bits: report.input_bits,
                    output_bits: report.message_bits,
                    bootstraps: 0,
                    ciphertexts: report.ciphertexts,
                    row_bytes: report.row_bytes,
                    predicted_millis: report.predicted_millis,
                }
            }
            Compiled::Network(compiled) => {
                let report = &compiled.report;
                Cost {
                    input_bits: report.input_bits,
                    output_bits: report.output_bits,
                    bootstraps: report.bootstraps,
                    ciphertexts: report.ciphertexts,
                    row_bytes: report.row_bytes,
                    predicted_millis: report.predicted_millis,
                }
            }
        }
    }

    /// The compiler's own estimate of the quantized model's quality, on calibration rows.
    pub fn quality(&self) -> Quality {
        match self {
            Compiled::Trees(compiled) => compiled.report.quality,
            Compiled::Linear(compiled) => compiled.report.quality,
            Compiled::Network(compiled) => compiled.report.quality,
        }
    }

    /// The quantized model's prediction for a clear row: what decrypting its encrypted
    /// evaluation gives, exactly.
    pub fn predict_clear(&self, row: &[f64]) -> Result<Prediction> {
        let spec = self.spec();
        let levels = spec.quantize_row(row)?;
        match self {
            Compiled::Trees(compiled) => spec.decode(&compiled.quantized.raw_outputs(&levels)),
            Compiled::Linear(compiled) => spec.decode(&raw_values(&compiled.plan, &levels)?),
            Compiled::Network(compiled) => {
                spec.decode(&crate::compiler::compile::network::raw_values(&compiled.plan, &levels)?)
            }
        }
    }
}

/// Compiles a model of either family on `calibration`'s rows, telling `progress` before each
/// step as [`compile_with_progress`] does.
pub fn compile_model(
    model: &ImportedModel,
    calibration: &Dataset,
    options: &CompileOptions,
    progress: &mut dyn FnMut(CompileStep) -> ControlFlow<()>,
) -> Result<Compiled> {
    match model {
        ImportedModel::Trees(ensemble) => {
            compile_with_progress(ensemble, calibration, options, progress).map(Compiled::Trees)
        }
        ImportedModel::Linear(linear) => {
            compile_linear_with_progress(linear, calibration, options, progress).map(Compiled::Linear)
        }
        ImportedModel::Network(network) => {
            compile_network_with_progress(network, calibration, options, progress).map(Compiled::Network)
        }
    }
}
