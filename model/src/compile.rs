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

use serde::{Deserialize, Serialize};

use crate::accumulate::{ClearBlock, ClearOps};
use crate::circuit::run_plan;
use crate::dataset::Dataset;
use crate::ensemble::{Node, Tree, TreeEnsemble};
use crate::error::{ModelError, Result};
use crate::objective::Objective;
use crate::params::{BLOCK_BITS, DIGIT_MAX, InputEncoding, THERMOMETER_WEIGHTS, from_column, from_digits};
use crate::plan::{
    GATE_WEIGHT, InputLayout, Lookup, OutputCircuit, PLAN_FORMAT_VERSION, ServerPlan, TABLE_SIZE, Table, Term,
};
use crate::quantize::FeatureQuantizer;
use crate::spec::{ClientSpec, OutputDecoding, SPEC_FORMAT_VERSION, top_capacity};

/// Knobs of the compiler; the defaults are what the shipped model uses.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileOptions {
    /// Bits per input feature (levels = 2^bits). Each extra level costs the client four
    /// ciphertexts per feature.
    pub input_bits: u32,
    /// Leaf precision: the widest tree spans `2^leaf_bits - 1` steps. `None` lets the compiler
    /// pick the coarsest precision whose error is within [`CompileOptions::error_tolerance`] of
    /// the best one tried.
    pub leaf_bits: Option<u32>,
    /// For automatic leaf precision: how much larger (relatively) than the best achievable the
    /// mean calibration error may be. The error is the mean absolute difference between
    /// quantized and float predictions (probabilities for classifiers; for regressors,
    /// relative to the spread of the float predictions).
    pub error_tolerance: f64,
    /// Class labels; default `class_0`, `class_1`, ...
    pub labels: Option<Vec<String>>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            input_bits: 4,
            leaf_bits: None,
            error_tolerance: 0.25,
            labels: None,
        }
    }
}

/// What the compiler learnt, for reports and benchmarks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompileReport {
    pub leaf_bits: u32,
    pub splits: usize,
    pub pruned_splits: usize,
    pub lookups: usize,
    pub gates: usize,
    /// Bootstraps of one encrypted evaluation (predicted exactly by a clear run).
    pub bootstraps: usize,
    /// Mean |quantized - float| on the calibration rows (see [`CompileOptions::error_tolerance`]).
    pub calibration_mean_error: f64,
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
/// or, for models saved without names, the features in order).
pub fn compile(ensemble: &TreeEnsemble, calibration: &Dataset, options: &CompileOptions) -> Result<CompiledModel> {
    let calibration = Calibration::quantize(ensemble, calibration, options.input_bits)?;
    let labels = class_labels(options.labels.as_deref(), ensemble.objective)?;
    let float_trees = calibration.map_thresholds(ensemble);
    let chosen = choose_leaf_precision(ensemble, &calibration, &float_trees, &labels, options)?;

    let plan = build_plan(&chosen.quantized, &chosen.spec, calibration.input_layout())?;
    plan.validate()?;
    let bootstraps = self_check(&plan, &chosen.quantized, &chosen.spec, &calibration.levels)?;
    let splits = float_splits(ensemble);
    let report = CompileReport {
        leaf_bits: chosen.leaf_bits,
        splits,
        pruned_splits: splits - chosen.quantized.trees.iter().map(|t| t.root.splits()).sum::<usize>(),
        lookups: plan.lookup_count(),
        gates: plan.gates.len(),
        bootstraps,
        calibration_mean_error: chosen.error,
    };
    Ok(CompiledModel {
        spec: chosen.spec,
        plan,
        quantized: chosen.quantized,
        report,
    })
}

/// The calibration rows restricted to the model's features, each feature's quantizer, and the
/// levels of every row.
struct Calibration {
    rows: Vec<Vec<f64>>,
    quantizers: Vec<FeatureQuantizer>,
    levels: Vec<Vec<usize>>,
}

impl Calibration {
    /// Quantizes every feature to `2^input_bits` levels at its calibration quantiles.
    fn quantize(ensemble: &TreeEnsemble, calibration: &Dataset, input_bits: u32) -> Result<Self> {
        if !(1..=8).contains(&input_bits) {
            return Err(ModelError::InvalidData(format!(
                "input_bits {input_bits} is not in 1..=8"
            )));
        }
        let names = feature_names(ensemble, calibration)?;
        let rows = calibration.select(&names)?;
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

    /// Maps every tree's thresholds onto the level grid, pruning the splits the grid decides.
    fn map_thresholds(&self, ensemble: &TreeEnsemble) -> Vec<(usize, QuantizedNode<f32>)> {
        let mut mapper = ThresholdMapper {
            rows: &self.rows,
            quantizers: &self.quantizers,
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

/// Splits of the float model, before the grid prunes any.
fn float_splits(ensemble: &TreeEnsemble) -> usize {
    ensemble
        .trees
        .iter()
        .map(|(_, t)| t.nodes.iter().filter(|n| matches!(n, Node::Split { .. })).count())
        .sum()
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
    float_trees: &[(usize, QuantizedNode<f32>)],
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
    // bit costs bootstraps. Take the coarsest leaves within the tolerance of the finest.
    let floor = trials.iter().map(|t| t.error).fold(f64::INFINITY, f64::min);
    let index = trials
        .iter()
        .position(|t| t.error <= floor * (1.0 + options.error_tolerance))
        .unwrap_or(trials.len() - 1);
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
    cache: HashMap<(usize, u32), usize>,
}

impl ThresholdMapper<'_> {
    /// The step `t` in `0..=levels` for which `level >= t` best matches `x >= threshold` on the
    /// calibration rows; ties go to the edge nearest the threshold.
    fn step(&mut self, feature: usize, threshold: f32) -> usize {
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
                    let truth = (r[feature] as f32) >= threshold;
                    (q.quantize(r[feature]) >= t) != truth
                })
                .count();
            let distance = if t == 0 || t == levels {
                f64::INFINITY
            } else {
                (q.edges[t - 1] - f64::from(threshold)).abs()
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
    fn map_node(&mut self, tree: &Tree, index: usize, bounds: Vec<(usize, usize)>) -> QuantizedNode<f32> {
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
    trees: &[(usize, QuantizedNode<f32>)],
    leaf_bits: u32,
) -> Result<(QuantizedEnsemble, Vec<OutputDecoding>)> {
    let widest = trees
        .iter()
        .map(|(_, t)| {
            let leaves = t.leaves();
            let min = leaves.iter().copied().fold(f32::INFINITY, f32::min);
            let max = leaves.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            f64::from(max - min)
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
        let steps = tree.map(&|v: f32| (f64::from(v) / scale).round() as i64);
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
    for tree in &quantized.trees {
        let mut lookups = Vec::new();
        builder.visit(&tree.root, Vec::new(), &mut lookups);
        outputs[tree.output].lookups.extend(lookups);
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
    })
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
        let blocks = run_plan(&ops, plan, |i| Ok(ClearBlock::fresh(bits[i], InputLayout::weight(i))))?;
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
