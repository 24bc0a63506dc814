//! The compiler: a float [`TreeEnsemble`] plus calibration rows in, a [`ClientSpec`], a
//! [`ServerPlan`] and the [`QuantizedEnsemble`] they implement out.
//!
//! Steps: quantize every feature to `2^input_bits` levels (calibration quantiles); map each
//! threshold onto the level grid where it disagrees least with the float split on the
//! calibration rows; prune splits that the grid makes always-true/false or that an ancestor
//! already decides; quantize leaves to a common step chosen so that the quantized model
//! tracks the float one on the calibration rows; cut every tree into lookups of at most four
//! comparison bits; and check the plan against the quantized trees before returning it.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::compiler::dataset::Dataset;
use crate::compiler::ensemble::{Arithmetic, Node, Tree, TreeEnsemble};
use crate::error::{ModelError, Result};
use crate::params::{BLOCK_BITS, DIGIT_MAX, InputEncoding, THERMOMETER_WEIGHTS, from_column, from_digits};
use crate::server::accumulate::{ClearBlock, ClearOps};
use crate::server::circuit::run_plan;
use crate::server::plan::{
    GATE_WEIGHT, InputLayout, Lookup, OutputCircuit, PLAN_FORMAT_VERSION, ServerPlan, TABLE_SIZE, Table, Term,
};
use crate::spec::objective::Objective;
use crate::spec::quantize::FeatureQuantizer;
use crate::spec::{ClientSpec, OutputDecoding, Prediction, SPEC_FORMAT_VERSION, top_capacity};

/// Knobs of the compiler; the defaults are what the shipped model uses.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileOptions {
    /// Bits per input feature (at most `2^bits` levels; each level costs the client four
    /// ciphertexts per feature). `None` lets the compiler pick the cheapest precision in
    /// [`AUTO_INPUT_BITS`] that meets [`CompileOptions::target`].
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

/// A node of a quantized tree: go right iff the feature's level is at least `step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QuantizedNode<L> {
    Split {
        feature: usize,
        step: usize,
        left: Box<QuantizedNode<L>>,
        right: Box<QuantizedNode<L>>,
    },
    Leaf(L),
}

impl<L: Copy> QuantizedNode<L> {
    fn leaf(&self, bit: &impl Fn(usize, usize) -> bool) -> L {
        match self {
            QuantizedNode::Leaf(v) => *v,
            QuantizedNode::Split {
                feature,
                step,
                left,
                right,
            } => {
                if bit(*feature, *step) {
                    right.leaf(bit)
                } else {
                    left.leaf(bit)
                }
            }
        }
    }

    fn leaves(&self) -> Vec<L> {
        match self {
            QuantizedNode::Leaf(v) => vec![*v],
            QuantizedNode::Split { left, right, .. } => {
                let mut l = left.leaves();
                l.extend(right.leaves());
                l
            }
        }
    }

    fn splits(&self) -> usize {
        match self {
            QuantizedNode::Leaf(_) => 0,
            QuantizedNode::Split { left, right, .. } => 1 + left.splits() + right.splits(),
        }
    }

    fn map<M: Copy + PartialEq>(&self, f: &impl Fn(L) -> M) -> QuantizedNode<M> {
        match self {
            QuantizedNode::Leaf(v) => QuantizedNode::Leaf(f(*v)),
            QuantizedNode::Split {
                feature,
                step,
                left,
                right,
            } => {
                let (left, right) = (left.map(f), right.map(f));
                match (&left, &right) {
                    // A split whose two sides now give the same leaf decides nothing.
                    (QuantizedNode::Leaf(a), QuantizedNode::Leaf(b)) if a == b => left,
                    _ => QuantizedNode::Split {
                        feature: *feature,
                        step: *step,
                        left: Box::new(left),
                        right: Box::new(right),
                    },
                }
            }
        }
    }
}

/// A tree whose leaves are integers `>= 0`; the tree adds `leaf + offset` steps to its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedTree {
    pub output: usize,
    pub offset: i64,
    pub root: QuantizedNode<u64>,
}

/// The model the encrypted evaluation computes exactly, in the clear: quantized inputs,
/// quantized thresholds, integer leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedEnsemble {
    pub outputs: usize,
    pub trees: Vec<QuantizedTree>,
}

impl QuantizedEnsemble {
    /// The integer each output sums to for a row of levels (offsets excluded): what the client
    /// decrypts.
    pub fn raw_outputs(&self, levels: &[usize]) -> Vec<u64> {
        let mut sums = vec![0u64; self.outputs];
        let bit = |feature: usize, step: usize| levels[feature] >= step;
        for tree in &self.trees {
            sums[tree.output] += tree.root.leaf(&bit);
        }
        sums
    }
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
    let names = feature_names(ensemble, calibration)?;
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
        let leaves = calibration.fit(ensemble, &labels, options)?;
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

/// One input precision tried, with its best leaf precision, plan, cost and quality.
struct InputTrial {
    input_bits: u32,
    calibration: Calibration,
    leaves: LeafTrial,
    plan: ServerPlan,
    bootstraps: usize,
    quality: Quality,
}

/// Predicted one-core server time of a prediction.
fn predicted_millis(bootstraps: usize, ciphertexts: usize) -> f64 {
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
fn choose_input_precision(trials: &[InputTrial]) -> usize {
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

/// The calibration CSV's `target` column, if it has one that is not a feature: class indices
/// for classifiers, values for regressors.
pub(crate) fn calibration_targets(ensemble: &TreeEnsemble, calibration: &Dataset) -> Result<Option<Vec<f64>>> {
    dataset_targets(ensemble, calibration, "calibration")
}

/// The `target` column of the `what` rows (see [`calibration_targets`]).
pub(crate) fn dataset_targets(ensemble: &TreeEnsemble, rows: &Dataset, what: &str) -> Result<Option<Vec<f64>>> {
    const TARGET: &str = "target";
    if !rows.columns.iter().any(|c| c == TARGET) || ensemble.feature_names.iter().any(|f| f == TARGET) {
        return Ok(None);
    }
    let targets = rows.column(TARGET)?;
    if let Some(classes) = ensemble.objective.classes()
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

/// Calibration sets smaller than this are judged on their own rows, not on held-out halves.
const MIN_ROWS_TO_HOLD_OUT: usize = 20;

/// The quality of the model compiled at `input_bits`, estimated on rows it was not fitted to:
/// the grid and thresholds are fitted on one half of the calibration rows and judged on the
/// other, both ways round. Judged on its own rows a grid looks better than it is (the trees'
/// thresholds sit between training values, exactly where the grid's edges fall), so this is
/// what picks a precision that holds on new data.
fn held_out_quality(
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
        let trial = calibration.fit(ensemble, labels, options)?;
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

/// The float and quantized models' quality on `rows` (with the quantized `predictions`), and
/// whether the quantized one meets `target`.
pub(crate) fn measure_quality(
    ensemble: &TreeEnsemble,
    rows: &[Vec<f64>],
    quantized: &[Prediction],
    targets: Option<&[f64]>,
    target: AccuracyTarget,
) -> Quality {
    let n = rows.len() as f64;
    let float: Vec<Vec<f64>> = rows.iter().map(|r| ensemble.predict(r)).collect();
    let fraction = |hits: usize| hits as f64 / n;
    let mean = |sum: f64| sum / n;
    if ensemble.objective.classes().is_some() {
        let (measure, float_score, quantized_score) = match targets {
            Some(t) => (
                QualityMeasure::Accuracy,
                fraction(float.iter().zip(t).filter(|(p, t)| argmax(p) as f64 == **t).count()),
                fraction(
                    quantized
                        .iter()
                        .zip(t)
                        .filter(|(q, t)| argmax(&q.probabilities) as f64 == **t)
                        .count(),
                ),
            ),
            None => (
                QualityMeasure::Agreement,
                1.0,
                fraction(
                    quantized
                        .iter()
                        .zip(&float)
                        .filter(|(q, p)| argmax(&q.probabilities) == argmax(p))
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
                let gap = mean(values.iter().zip(&float).map(|(v, p)| (v - p[0]).abs()).sum());
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

/// Bootstraps of one evaluation of `plan`: the same for every row, so one clear run counts them.
pub fn bootstraps_per_evaluation(plan: &ServerPlan, spec: &ClientSpec) -> Result<usize> {
    let bits = spec.thermometer(&vec![0; spec.features.len()]);
    let ops = ClearOps::default();
    run_plan(&ops, plan, |slot| Ok(fresh_input(&bits, slot)))?;
    Ok(ops.bootstraps())
}

/// The calibration rows restricted to the model's features, each feature's quantizer, and the
/// levels of every row.
struct Calibration {
    rows: Vec<Vec<f64>>,
    quantizers: Vec<FeatureQuantizer>,
    levels: Vec<Vec<usize>>,
}

impl Calibration {
    /// Quantizes every feature to `2^input_bits` levels at the quantiles of `rows` (the model's
    /// features, in `names` order).
    fn quantize(names: &[String], rows: Vec<Vec<f64>>, input_bits: u32) -> Result<Self> {
        if !(1..=8).contains(&input_bits) {
            return Err(ModelError::InvalidData(format!(
                "input_bits {input_bits} is not in 1..=8"
            )));
        }
        if rows.len() < 2 {
            return Err(ModelError::InvalidData(
                "the calibration set needs at least 2 rows".into(),
            ));
        }
        let quantizers = names
            .iter()
            .enumerate()
            .map(|(f, name)| {
                let values: Vec<f64> = rows.iter().map(|r| r[f]).collect();
                FeatureQuantizer::from_calibration(name, &values, 1usize << input_bits)
            })
            .collect::<Result<Vec<_>>>()?;
        let levels = rows
            .iter()
            .map(|r| quantizers.iter().zip(r).map(|(q, &x)| q.quantize(x)).collect())
            .collect();
        Ok(Self {
            rows,
            quantizers,
            levels,
        })
    }

    /// The quantized model on this grid: thresholds mapped, leaves at their chosen precision.
    fn fit(&self, ensemble: &TreeEnsemble, labels: &[String], options: &CompileOptions) -> Result<LeafTrial> {
        let float_trees = self.map_thresholds(ensemble);
        choose_leaf_precision(ensemble, self, &float_trees, labels, options)
    }

    /// Maps every tree's thresholds onto the level grid, pruning the splits the grid decides.
    fn map_thresholds(&self, ensemble: &TreeEnsemble) -> Vec<(usize, QuantizedNode<f64>)> {
        let mut mapper = ThresholdMapper {
            rows: &self.rows,
            quantizers: &self.quantizers,
            arithmetic: ensemble.arithmetic,
            cache: HashMap::new(),
        };
        ensemble
            .trees
            .iter()
            .map(|(output, tree)| {
                let bounds = self.quantizers.iter().map(|q| (0, q.levels() - 1)).collect();
                (*output, mapper.map_node(tree, 0, bounds))
            })
            .collect()
    }

    /// Where each feature's thermometer bits sit in an encrypted row.
    fn input_layout(&self) -> InputLayout {
        InputLayout {
            steps: self.quantizers.iter().map(|q| q.levels() - 1).collect(),
        }
    }
}

/// The spec's class labels: the given ones (one per class), else `class_0`, `class_1`, ...;
/// none for regression.
fn class_labels(given: Option<&[String]>, objective: Objective) -> Result<Vec<String>> {
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

/// One leaf precision tried: the model it gives, its spec and its mean calibration error.
struct LeafTrial {
    leaf_bits: u32,
    quantized: QuantizedEnsemble,
    spec: ClientSpec,
    error: f64,
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
            encryption: InputEncoding::current(),
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
            _ => quantized_prediction.probabilities,
        };
        error += got.iter().zip(float).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / spread;
    }
    Ok(error / row_levels.len() as f64)
}

fn feature_names(ensemble: &TreeEnsemble, calibration: &Dataset) -> Result<Vec<String>> {
    let names = if ensemble.feature_names.is_empty() {
        if calibration.columns.len() < ensemble.num_features {
            return Err(ModelError::InvalidData(format!(
                "the model has {} features but the calibration CSV only {} columns",
                ensemble.num_features,
                calibration.columns.len()
            )));
        }
        calibration.columns[..ensemble.num_features].to_vec()
    } else {
        ensemble.feature_names.clone()
    };
    let distinct: BTreeSet<&String> = names.iter().collect();
    if distinct.len() != names.len() {
        return Err(ModelError::InvalidData("feature names are not distinct".into()));
    }
    Ok(names)
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

struct ThresholdMapper<'a> {
    rows: &'a [Vec<f64>],
    quantizers: &'a [FeatureQuantizer],
    arithmetic: Arithmetic,
    cache: HashMap<(usize, u64), usize>,
}

impl ThresholdMapper<'_> {
    /// The step `t` in `0..=levels` for which `level >= t` best matches `x >= threshold` on the
    /// calibration rows; ties go to the edge nearest the threshold.
    fn step(&mut self, feature: usize, threshold: f64) -> usize {
        if let Some(&t) = self.cache.get(&(feature, threshold.to_bits())) {
            return t;
        }
        let q = &self.quantizers[feature];
        let levels = q.levels();
        let mut best = (usize::MAX, f64::INFINITY, 0);
        for t in 0..=levels {
            let errors = self
                .rows
                .iter()
                .filter(|r| {
                    let truth = self.arithmetic.feature(r[feature]) >= threshold;
                    (q.quantize(r[feature]) >= t) != truth
                })
                .count();
            let distance = if t == 0 || t == levels {
                f64::INFINITY
            } else {
                (q.edges[t - 1] - threshold).abs()
            };
            if (errors, distance) < (best.0, best.1) || (errors == best.0 && distance < best.1) {
                best = (errors, distance, t);
            }
        }
        self.cache.insert((feature, threshold.to_bits()), best.2);
        best.2
    }

    /// Maps a float subtree onto the grid. `bounds[f]` is the range of levels feature `f` can
    /// still have on this path; splits it already decides are dropped.
    fn map_node(&mut self, tree: &Tree, index: usize, bounds: Vec<(usize, usize)>) -> QuantizedNode<f64> {
        match tree.nodes[index] {
            Node::Leaf { value } => QuantizedNode::Leaf(value),
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                let step = self.step(feature, threshold);
                let (low, high) = bounds[feature];
                if step <= low {
                    return self.map_node(tree, right, bounds);
                }
                if step > high {
                    return self.map_node(tree, left, bounds);
                }
                let mut left_bounds = bounds.clone();
                left_bounds[feature] = (low, step - 1);
                let mut right_bounds = bounds;
                right_bounds[feature] = (step, high);
                QuantizedNode::Split {
                    feature,
                    step,
                    left: Box::new(self.map_node(tree, left, left_bounds)),
                    right: Box::new(self.map_node(tree, right, right_bounds)),
                }
            }
        }
    }
}

/// Quantizes all leaves with one step so that the widest tree spans `2^leaf_bits - 1` steps.
fn quantize_leaves(
    ensemble: &TreeEnsemble,
    trees: &[(usize, QuantizedNode<f64>)],
    leaf_bits: u32,
) -> Result<(QuantizedEnsemble, Vec<OutputDecoding>)> {
    let widest = trees
        .iter()
        .map(|(_, t)| {
            let leaves = t.leaves();
            let min = leaves.iter().copied().fold(f64::INFINITY, f64::min);
            let max = leaves.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            max - min
        })
        .fold(0.0, f64::max);
    let scale = if widest > 0.0 {
        widest / f64::from((1u32 << leaf_bits) - 1)
    } else {
        1.0
    };
    let outputs = ensemble.objective.outputs();
    let mut offsets = vec![0i64; outputs];
    let mut max_values = vec![0u64; outputs];
    let mut quantized = Vec::with_capacity(trees.len());
    for (output, tree) in trees {
        let steps = tree.map(&|v: f64| (v / scale).round() as i64);
        let leaves = steps.leaves();
        let min = *leaves.iter().min().expect("a tree has a leaf");
        let max = *leaves.iter().max().expect("a tree has a leaf");
        offsets[*output] += min;
        max_values[*output] += (max - min) as u64;
        let root = steps.map(&|v: i64| (v - min) as u64);
        quantized.push(QuantizedTree {
            output: *output,
            offset: min,
            root,
        });
    }
    let decodings = (0..outputs)
        .map(|o| {
            let max_value = max_values[o];
            let mut blocks = 1;
            while max_value >= top_capacity(blocks) {
                blocks += 1;
            }
            OutputDecoding {
                blocks,
                max_value,
                scale,
                offset: ensemble.base_margins[o] + scale * offsets[o] as f64,
            }
        })
        .collect();
    Ok((
        QuantizedEnsemble {
            outputs,
            trees: quantized,
        },
        decodings,
    ))
}

/// Cuts every tree into lookups of at most four comparison bits.
fn build_plan(quantized: &QuantizedEnsemble, spec: &ClientSpec, input: InputLayout) -> Result<ServerPlan> {
    let mut builder = PlanBuilder { gates: Vec::new() };
    let mut outputs: Vec<OutputCircuit> = spec
        .outputs
        .iter()
        .map(|d| OutputCircuit {
            blocks: d.blocks,
            max_value: d.max_value,
            lookups: Vec::new(),
        })
        .collect();
    for (t, tree) in quantized.trees.iter().enumerate() {
        let mut lookups = Vec::new();
        builder.visit(&tree.root, Vec::new(), &mut lookups);
        // The lookups of one tree cover disjoint paths (the two sides of every split they were
        // cut at), so they are exclusive.
        outputs[tree.output]
            .lookups
            .extend(lookups.into_iter().map(|lookup| Lookup {
                tree: Some(t),
                ..lookup
            }));
    }
    Ok(ServerPlan {
        format_version: PLAN_FORMAT_VERSION,
        encryption: InputEncoding::current(),
        input,
        gates: builder.gates,
        outputs,
    })
}

/// Leaf precisions the compiler tries when none is given.
const AUTO_LEAF_BITS: (u32, u32) = (2, 8);

/// Most bits one lookup index can hold: one per bit of a block.
const MAX_TERMS: usize = BLOCK_BITS as usize;

type Literal = (Term, bool);

struct PlanBuilder {
    gates: Vec<Lookup>,
}

impl PlanBuilder {
    /// Emits lookups for the leaves under `node`, reached when every literal of `path` holds.
    fn visit(&mut self, node: &QuantizedNode<u64>, path: Vec<Literal>, out: &mut Vec<Lookup>) {
        let mut terms: Vec<Term> = path.iter().map(|(t, _)| *t).collect();
        subtree_terms(node, &mut terms);
        if terms.len() <= MAX_TERMS {
            if let Some(lookup) = leaf_lookup(node, &path, &terms) {
                out.push(lookup);
            }
            return;
        }
        let QuantizedNode::Split {
            feature,
            step,
            left,
            right,
        } = node
        else {
            unreachable!("a leaf needs only its path, which is kept below {MAX_TERMS} terms")
        };
        // Keep the path short enough for one more literal: compress it into a gate bit.
        let path = if path.len() >= MAX_TERMS - 1 {
            vec![(Term::Gate(self.gate(&path)), true)]
        } else {
            path
        };
        let term = Term::Threshold {
            feature: *feature,
            step: *step,
        };
        let mut left_path = path.clone();
        left_path.push((term, false));
        let mut right_path = path;
        right_path.push((term, true));
        self.visit(left, left_path, out);
        self.visit(right, right_path, out);
    }

    /// A gate computing `GATE_WEIGHT * (all literals of path hold)`.
    fn gate(&mut self, path: &[Literal]) -> usize {
        let terms: Vec<Term> = path.iter().map(|(t, _)| *t).collect();
        let weighted = weigh(&terms);
        let values = (0..TABLE_SIZE)
            .map(|index| {
                if literals_hold(path, &weighted, index) {
                    GATE_WEIGHT
                } else {
                    0
                }
            })
            .collect();
        self.gates.push(Lookup {
            terms: weighted,
            tables: vec![Table { column: 0, values }],
            tree: None,
        });
        self.gates.len() - 1
    }
}

/// Appends the distinct split terms of a subtree (in visiting order) to `terms`.
fn subtree_terms(node: &QuantizedNode<u64>, terms: &mut Vec<Term>) {
    if let QuantizedNode::Split {
        feature,
        step,
        left,
        right,
    } = node
    {
        let term = Term::Threshold {
            feature: *feature,
            step: *step,
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
        subtree_terms(left, terms);
        subtree_terms(right, terms);
    }
}

/// Weights: a gate always carries [`GATE_WEIGHT`]; thresholds take the other powers of two.
fn weigh(terms: &[Term]) -> Vec<(Term, u64)> {
    let mut free = THERMOMETER_WEIGHTS
        .iter()
        .copied()
        .filter(|&w| w != GATE_WEIGHT || !terms.iter().any(|t| matches!(t, Term::Gate(_))));
    terms
        .iter()
        .map(|&t| match t {
            Term::Gate(_) => (t, GATE_WEIGHT),
            Term::Threshold { .. } => (t, free.next().expect("at most four terms")),
        })
        .collect()
}

fn bit_of(weighted: &[(Term, u64)], term: Term, index: usize) -> bool {
    weighted
        .iter()
        .find(|(t, _)| *t == term)
        .is_some_and(|(_, w)| index as u64 & w != 0)
}

fn literals_hold(path: &[Literal], weighted: &[(Term, u64)], index: usize) -> bool {
    let max_index: u64 = weighted.iter().map(|(_, w)| w).sum();
    index as u64 <= max_index
        && path
            .iter()
            .all(|&(term, polarity)| bit_of(weighted, term, index) == polarity)
}

/// The lookup for all leaves under `node`: each index gives the leaf reached if the path holds,
/// 0 otherwise. `None` when every entry is 0 (the subtree adds nothing).
fn leaf_lookup(node: &QuantizedNode<u64>, path: &[Literal], terms: &[Term]) -> Option<Lookup> {
    let weighted = weigh(terms);
    let values: Vec<u64> = (0..TABLE_SIZE)
        .map(|index| {
            if !literals_hold(path, &weighted, index) {
                return 0;
            }
            node.leaf(&|feature, step| bit_of(&weighted, Term::Threshold { feature, step }, index))
        })
        .collect();
    let max = values.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return None;
    }
    let mut digits = 1;
    while from_column(max, digits) > 0 {
        digits += 1;
    }
    let tables = (0..digits)
        .map(|column| Table {
            column,
            values: values.iter().map(|&v| from_column(v, column) & DIGIT_MAX).collect(),
        })
        .collect();
    Some(Lookup {
        terms: weighted,
        tables,
        tree: None,
    })
}

/// Input slot `slot` of a row whose thermometer bits are `bits`, as the server forms it: the
/// slot's ciphertext times the slot's weight, one nominal noise unit (see [`crate::params`]).
fn fresh_input(bits: &[u64], slot: usize) -> ClearBlock {
    let weight = InputLayout::weight(slot);
    ClearBlock::fresh(bits[InputLayout::ciphertext(slot)] * weight, weight)
}

/// Checks the plan against the quantized trees on every calibration row and on synthetic rows
/// covering every level, running the same circuit code as the encrypted evaluation in the
/// clear. Returns the number of bootstraps one evaluation costs.
fn self_check(
    plan: &ServerPlan,
    quantized: &QuantizedEnsemble,
    spec: &ClientSpec,
    rows: &[Vec<usize>],
) -> Result<usize> {
    let max_level = spec.features.iter().map(|f| f.levels()).max().unwrap_or(1);
    let synthetic = (0..max_level).map(|l| spec.features.iter().map(|f| l.min(f.levels() - 1)).collect::<Vec<_>>());
    let mut bootstraps = 0;
    for levels in rows.iter().cloned().chain(synthetic) {
        let expected = quantized.raw_outputs(&levels);
        let clear = plan.evaluate_clear(&levels);
        let bits = spec.thermometer(&levels);
        let ops = ClearOps::default();
        let blocks = run_plan(&ops, plan, |slot| Ok(fresh_input(&bits, slot)))?;
        let circuit: Vec<u64> = blocks
            .iter()
            .map(|b| from_digits(b.iter().map(|block| block.value)))
            .collect();
        if clear != expected || circuit != expected {
            return Err(ModelError::Budget(format!(
                "compiled plan disagrees with the quantized trees ({clear:?} / {circuit:?} vs {expected:?})"
            )));
        }
        bootstraps = ops.bootstraps();
    }
    Ok(bootstraps)
}
