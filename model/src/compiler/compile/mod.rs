//! The compiler: a float [`TreeEnsemble`] plus calibration rows in, a [`ClientSpec`], a
//! [`ServerPlan`] and the [`QuantizedEnsemble`] they implement out.
//!
//! Steps, for every input precision tried: quantize every feature to `2^input_bits` levels
//! (calibration quantiles); map each threshold onto the level grid where it disagrees least
//! with the float split on the calibration rows; prune splits that the grid makes
//! always-true/false or that an ancestor already decides; quantize leaves to a common step
//! chosen so that the quantized model tracks the float one on the calibration rows; cut every
//! tree into lookups of at most four comparison bits. Then keep the cheapest precision that
//! meets the accuracy target, and check its plan against the quantized trees before returning
//! it.
//!
//! Nothing here is encrypted: the compiler runs where the model is, on the owner's clear
//! calibration rows. What it returns is split by who may see it: the [`ClientSpec`] is public
//! (calibration quantiles as quantization edges, labels, output scales; no threshold, leaf or
//! tree shape), the [`ServerPlan`] and the [`QuantizedEnsemble`] hold the model and stay with
//! the server.
//!
//! [`compile_with_progress`] runs the steps; they live in `quantize.rs` (the level grid, the
//! thresholds mapped onto it, the leaves), `precision.rs` (the search over input and leaf
//! precisions), `plan.rs` (the lookups, and the self-check against the quantized trees) and
//! `quality.rs` (how a quantized model is judged, here and in the owners' reports).

pub mod linear;
pub mod network;
mod plan;
mod precision;
mod quality;
mod quantize;

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::compiler::dataset::Dataset;
use crate::compiler::ensemble::TreeEnsemble;
use crate::error::{ModelError, Result};
use crate::server::plan::ServerPlan;
use crate::spec::ClientSpec;
use crate::spec::objective::Objective;

pub use plan::bootstraps_per_evaluation;
use plan::{build_plan, self_check};
use precision::{InputTrial, choose_input_precision, fit, held_out_quality, predicted_millis};
use quality::calibration_targets;
pub use quality::{AccuracyTarget, Quality, QualityMeasure};
pub(crate) use quality::{argmax, dataset_targets, measure_quality_of};
use quantize::Calibration;
pub use quantize::{QuantizedEnsemble, QuantizedNode, QuantizedTree};

/// Knobs of the compiler; the defaults are what the shipped model uses.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileOptions {
    /// Bits per input feature: at most `2^bits` levels, and each level step costs the client one
    /// ciphertext (8 bytes of the row; see [`InputEncoding`](crate::params::InputEncoding)), so
    /// a feature takes up to `2^bits - 1`. `None` lets the compiler pick the cheapest precision
    /// in [`AUTO_INPUT_BITS`] that meets [`CompileOptions::target`].
    pub input_bits: Option<u32>,
    /// Leaf precision: the widest tree spans `2^leaf_bits - 1` steps. `None` lets the compiler
    /// pick the coarsest precision whose error is within [`CompileOptions::error_tolerance`] of
    /// the best one tried, or at most [`CompileOptions::error_allowance`].
    pub leaf_bits: Option<u32>,
    /// For automatic leaf precision: how much larger (relatively) than the best achievable the
    /// mean calibration error may be. The error is the mean absolute difference between
    /// quantized and float predictions (probabilities for classifiers; for regressors,
    /// relative to the spread of the float predictions).
    pub error_tolerance: f64,
    /// For automatic leaf precision: a mean calibration error that is small enough whatever the
    /// best achievable (0.02: two points of probability, or 2% of the regression predictions'
    /// spread). Without it a fine input grid, whose error floor is low, would demand fine
    /// leaves too, and every leaf bit costs bootstraps.
    pub error_allowance: f64,
    /// What the quantized model must achieve on the calibration rows.
    pub target: AccuracyTarget,
    /// Class labels; default `class_0`, `class_1`, ...
    pub labels: Option<Vec<String>>,
    /// The most bootstraps one prediction may cost: input precisions whose circuit needs more
    /// are not kept, and a model with none within is refused, naming its cheapest figure (a
    /// server's bound on the work one user's row may ask of it).
    pub max_bootstraps: Option<usize>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            input_bits: None,
            leaf_bits: None,
            error_tolerance: 0.25,
            error_allowance: 0.02,
            target: AccuracyTarget::default(),
            labels: None,
            max_bootstraps: None,
        }
    }
}

/// Input precisions the compiler tries when none is given.
pub const AUTO_INPUT_BITS: (u32, u32) = (2, 6);

/// Time of one bootstrap (keyswitch + programmable bootstrap) on one core of the reference
/// machine (`cargo run --release -p blindfold-model --bin bench`), for predicted latencies.
pub const BOOTSTRAP_MILLIS: f64 = 22.0;

/// Time to expand one seeded input ciphertext (918 mask coefficients from the CSPRNG) on one
/// core of the same machine: 0.25 ms measured for the big key's 2048, scaled. A row of 1884
/// ciphertexts (30 features at 6 bits) costs as much as ~10 bootstraps, so input precision is
/// not quite free for the server either.
pub const CIPHERTEXT_MILLIS: f64 = 0.12;

/// What the compiler chose and what a prediction will cost, for reports and benchmarks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompileReport {
    pub input_bits: u32,
    pub leaf_bits: u32,
    pub splits: usize,
    pub pruned_splits: usize,
    pub lookups: usize,
    pub gates: usize,
    /// Bootstraps of one encrypted evaluation (predicted exactly by a clear run).
    pub bootstraps: usize,
    /// Ciphertexts in one encrypted row.
    pub ciphertexts: usize,
    /// Bytes of one encrypted row (8 per ciphertext: seeded compact LWE).
    pub row_bytes: usize,
    /// Server time of one prediction on one core:
    /// `bootstraps * BOOTSTRAP_MILLIS + ciphertexts * CIPHERTEXT_MILLIS`.
    pub predicted_millis: f64,
    /// Mean |quantized - float| on the calibration rows (see [`CompileOptions::error_tolerance`]).
    pub calibration_mean_error: f64,
    /// Quality on the calibration rows against the [`AccuracyTarget`].
    pub quality: Quality,
}

/// The compiler's output.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    pub spec: ClientSpec,
    pub plan: ServerPlan,
    pub quantized: QuantizedEnsemble,
    pub report: CompileReport,
}

/// Compiles `ensemble` with `calibration` rows (a CSV with the model's feature names as header,
/// or, for models saved without names, the features in order; an optional `target` column
/// holds the true class index or value).
///
/// Without a fixed `input_bits`, every precision in [`AUTO_INPUT_BITS`] is compiled and the
/// cheapest (least predicted server time: bootstraps and input ciphertexts) that meets the
/// target is kept; if none does, the most accurate one, with `quality.target_met` false.
pub fn compile(ensemble: &TreeEnsemble, calibration: &Dataset, options: &CompileOptions) -> Result<CompiledModel> {
    compile_with_progress(ensemble, calibration, options, &mut |_| ControlFlow::Continue(()))
}

/// A step of [`compile_with_progress`]: `done` of `total` steps are finished, and `stage`
/// says, for people, what the compiler is doing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileStep {
    pub stage: String,
    pub done: u32,
    pub total: u32,
}

/// [`compile`], telling `progress` before each step: one per input precision tried, then the
/// self-check of the chosen circuit. When `progress` answers [`ControlFlow::Break`] the
/// compilation stops there with [`ModelError::Interrupted`] (its owner deleted the model, the
/// server shuts down, or it ran past its time).
pub fn compile_with_progress(
    ensemble: &TreeEnsemble,
    calibration: &Dataset,
    options: &CompileOptions,
    progress: &mut dyn FnMut(CompileStep) -> ControlFlow<()>,
) -> Result<CompiledModel> {
    let mut step = |stage: String, done: u32, total: u32| match progress(CompileStep { stage, done, total }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(ModelError::Interrupted("the compilation was stopped".into())),
    };
    let labels = class_labels(options.labels.as_deref(), ensemble.objective)?;
    let names = feature_columns(&ensemble.feature_names, ensemble.num_features, calibration)?;
    let rows = calibration.select(&names)?;
    let targets = calibration_targets(ensemble, calibration)?;
    let input_candidates: Vec<u32> = match options.input_bits {
        Some(bits) => vec![bits],
        None => (AUTO_INPUT_BITS.0..=AUTO_INPUT_BITS.1).collect(),
    };
    let total = input_candidates.len() as u32 + 1;
    let mut trials = Vec::with_capacity(input_candidates.len());
    let mut cheapest = usize::MAX;
    for (done, input_bits) in input_candidates.into_iter().enumerate() {
        step(format!("trying {input_bits}-bit inputs"), done as u32, total)?;
        let calibration = Calibration::quantize(&names, rows.clone(), input_bits)?;
        let leaves = fit(&calibration, ensemble, &labels, options)?;
        let plan = build_plan(&leaves.quantized, &leaves.spec, calibration.input_layout())?;
        let bootstraps = bootstraps_per_evaluation(&plan, &leaves.spec)?;
        cheapest = cheapest.min(bootstraps);
        if options.max_bootstraps.is_some_and(|limit| bootstraps > limit) {
            continue;
        }
        let quality = held_out_quality(
            ensemble,
            &names,
            &rows,
            targets.as_deref(),
            input_bits,
            &labels,
            options,
        )?;
        trials.push(InputTrial {
            input_bits,
            calibration,
            leaves,
            plan,
            bootstraps,
            quality,
        });
    }
    if trials.is_empty() {
        let limit = options.max_bootstraps.unwrap_or_default();
        return Err(ModelError::Unsupported(format!(
            "one prediction would cost {cheapest} bootstraps at the cheapest input precision tried, \
             more than the {limit} this server evaluates per prediction: use fewer or shallower trees"
        )));
    }
    let index = choose_input_precision(&trials);
    let InputTrial {
        input_bits,
        calibration,
        leaves,
        plan,
        quality,
        ..
    } = trials.swap_remove(index);

    step(
        format!("checking the {input_bits}-bit circuit against the quantized model"),
        total - 1,
        total,
    )?;
    plan.validate()?;
    let bootstraps = self_check(&plan, &leaves.quantized, &leaves.spec, &calibration.levels)?;
    let splits = ensemble.splits();
    let ciphertexts = leaves.spec.input_ciphertexts();
    let report = CompileReport {
        input_bits,
        leaf_bits: leaves.leaf_bits,
        splits,
        pruned_splits: splits - leaves.quantized.trees.iter().map(|t| t.root.splits()).sum::<usize>(),
        lookups: plan.lookup_count(),
        gates: plan.gates.len(),
        bootstraps,
        ciphertexts,
        row_bytes: 8 * ciphertexts,
        predicted_millis: predicted_millis(bootstraps, ciphertexts),
        calibration_mean_error: leaves.error,
        quality,
    };
    Ok(CompiledModel {
        spec: leaves.spec,
        plan,
        quantized: leaves.quantized,
        report,
    })
}

/// The spec's class labels: the given ones (one per class), else `class_0`, `class_1`, ...;
/// none for regression.
pub(crate) fn class_labels(given: Option<&[String]>, objective: Objective) -> Result<Vec<String>> {
    match (given, objective.classes()) {
        (Some(labels), Some(classes)) if labels.len() == classes => Ok(labels.to_vec()),
        (Some(labels), Some(classes)) => Err(ModelError::InvalidData(format!(
            "{} labels for {classes} classes",
            labels.len()
        ))),
        (None, Some(classes)) => Ok((0..classes).map(|c| format!("class_{c}")).collect()),
        (Some(_), None) => Err(ModelError::InvalidData("labels given for a regression model".into())),
        (None, None) => Ok(Vec::new()),
    }
}

/// The calibration columns a model of `num_features` features reads, in its order: its
/// `feature_names`, or for a model saved without names the CSV's first columns.
pub(crate) fn feature_columns(
    feature_names: &[String],
    num_features: usize,
    calibration: &Dataset,
) -> Result<Vec<String>> {
    let names = if feature_names.is_empty() {
        if calibration.columns.len() < num_features {
            return Err(ModelError::InvalidData(format!(
                "the model has {num_features} features but the calibration CSV only {} columns",
                calibration.columns.len()
            )));
        }
        calibration.columns[..num_features].to_vec()
    } else {
        feature_names.to_vec()
    };
    let distinct: BTreeSet<&String> = names.iter().collect();
    if distinct.len() != names.len() {
        return Err(ModelError::InvalidData("feature names are not distinct".into()));
    }
    Ok(names)
}
