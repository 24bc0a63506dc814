//! Import of tree ensembles saved as ONNX, such as scikit-learn's forests, decision trees and
//! gradient boosting exported by `skl2onnx.to_onnx(model, X[:1].astype(np.float32))`, and of
//! linear models behind their scalers ([`import_onnx_model`]; the graphs it reads are described
//! in the `linear` submodule).
//!
//! # What is read
//!
//! The file is a protobuf `ModelProto` of at most [`MAX_MODEL_ONNX_BYTES`] (a larger one is
//! refused before decoding), decoded with the part of ONNX's schema the importer reads
//! (`model/proto/onnx-ml-import.proto`: every other field is skipped, never kept) once a scan
//! of its wire format has bounded what decoding takes to at most 8 bytes per byte of the file
//! (module `wire`; an empty message takes 2 bytes of the file and its whole struct in memory,
//! so without it a 16 MiB file can decode to gigabytes). What the importer builds from the
//! decoded file takes less again (indexes sorted by node id rather than hash maps, lists
//! counted before they are converted), and the decoded file is dropped before the trees are
//! split by output. Its graph must hold exactly one tree-ensemble operator of the `ai.onnx.ml`
//! domain:
//!
//! - `TreeEnsembleClassifier` or `TreeEnsembleRegressor` (opsets 1 and 3), or
//! - `TreeEnsemble` (opset 5), read like a regressor.
//!
//! Every other node must be `ZipMap`, `Cast` or `Identity`: the output plumbing converters
//! append after the trees (labels, a probability map), which does not change the scores the
//! trees compute; or a scaler in front of them (`Scaler`, `Mul`/`Add`/`Sub`/`Div` by
//! constants, as skl2onnx writes a pipeline's `StandardScaler`, `MinMaxScaler`, `RobustScaler`,
//! `MaxAbsScaler`), which is folded into the splits (`fold_scaler`). Anything else (a
//! `Normalizer`, an `ArgMax`, a second tree operator, ...) is refused by name. The ensemble's input must be a graph input, not
//! computed by another node, of element type `float` (1); when its last dimension is known it
//! is the number of features, else the number is one more than the largest feature index a
//! split uses. ONNX has one input tensor and no per-feature names, so
//! [`TreeEnsemble::feature_names`] is empty and a calibration CSV's columns are taken in order.
//!
//! Attributes of the opset 1/3 operators:
//!
//! - the nodes, as parallel arrays of one length: `nodes_treeids`, `nodes_nodeids`,
//!   `nodes_featureids`, `nodes_modes`, `nodes_values` (floats) or `nodes_values_as_tensor`
//!   (doubles), `nodes_truenodeids`, `nodes_falsenodeids`, and when present
//!   `nodes_missing_value_tracks_true` and `nodes_hitrates` (checked for length, else unused).
//!   A node is named by `(treeid, nodeid)`; a child id names a node of the same tree. Trees
//!   need not be numbered contiguously and are taken in increasing `treeid` order; a tree's
//!   root is its one node that is nobody's child.
//! - the leaf votes, as parallel arrays of one length: the classifier's `class_treeids`,
//!   `class_nodeids`, `class_ids`, `class_weights` (or `class_weights_as_tensor`), the
//!   regressor's `target_*` equivalents. A vote adds its weight to column `id` when a row
//!   reaches its leaf; a leaf's value for a column is the sum of its votes there (usually
//!   one), 0 without any.
//! - the classifier's labels, `classlabels_int64s` or `classlabels_strings` (exactly one; only
//!   their count K matters, column `k` is label `k`), the regressor's `n_targets` (only 1) and
//!   `aggregate_function` (`SUM`, the default, or `AVERAGE`: every leaf weight is divided by
//!   the number of trees, as the ONNX reference does before adding the base values);
//!   `base_values` (or `base_values_as_tensor`), absent meaning zeros; `post_transform`.
//!
//! The opset 5 `TreeEnsemble` stores its split nodes and its leaves in separate arrays:
//! `tree_roots` index `nodes_featureids`, `nodes_splits` (a float or double tensor),
//! `nodes_modes` (an integer tensor: 0 `LEQ`, 1 `LT`, 2 `GTE`, 3 `GT`), `nodes_truenodeids`
//! / `nodes_falsenodeids` index a node or, where `nodes_trueleafs` / `nodes_falseleafs` is 1,
//! a leaf of `leaf_targetids` / `leaf_weights` (a tensor). A root whose two children are the
//! same leaf is a tree of that one leaf. `n_targets` must be 1, `aggregate_function` 1 (`SUM`,
//! the default) or 0 (`AVERAGE`), `post_transform` 0 (`NONE`, the default); the operator has
//! no base values. A split node must be reached once only (no cycles, no shared subtrees; a
//! leaf may be shared), entries no tree reaches are ignored, as the reference ignores them.
//!
//! # Arithmetic and split rules
//!
//! As onnxruntime does for a `float` input, features are compared with the thresholds as `f32`
//! and the leaves are summed in `f32`: the ensemble uses [`Arithmetic::F32`]. A split sends a
//! row to its true branch when `x < t` (`BRANCH_LT`), `x <= t` (`BRANCH_LEQ`), `x >= t`
//! (`BRANCH_GTE`) or `x > t` (`BRANCH_GT`), where `x` is an `f32`. Each becomes this crate's
//! "left iff `x < t'`" with the `f32` `t'` that decides every `f32` exactly as the file's rule
//! does:
//!
//! - `LT` and `GTE` (true branch left, resp. right): `t'` is the smallest `f32` `>= t`;
//! - `LEQ` and `GT` (true branch left, resp. right): `t'` is the `f32` just above the largest
//!   `f32` `<= t` ([`Arithmetic::next_up`] of it).
//!
//! `nodes_values` are `f32` already, so `t'` is `t` or its next `f32` up. Double thresholds
//! (`nodes_values_as_tensor`, `nodes_splits` as doubles) keep the exact comparison of an `f32`
//! with the double, as the ONNX reference evaluates it; rounding them to the nearest `f32`
//! would move splits whose double lies between two floats. A `t'` above every finite `f32` is
//! `+inf` (every row goes left). NaN or infinite thresholds, weights and base values are
//! refused. Rows are never NaN in Blindfold (they are refused before encryption), so
//! `nodes_missing_value_tracks_true` never decides a split and is ignored. `AVERAGE` divides
//! each leaf weight before the `f32` sum where the runtimes divide the sum: the two differ by
//! rounding only.
//!
//! # Objectives
//!
//! - Regressor (and `TreeEnsemble`) with one target and `post_transform` `NONE`:
//!   [`Objective::RegSquaredError`], the base value (0 or 1 of them) as the margin.
//! - Classifier, the binary case (2 labels, every vote for class id 0): the sum is class 1's
//!   score `s` and class 0 gets `1 - s` (`NONE`) or `-s` before the transform:
//!   `NONE` gives [`Objective::AveragedProbabilities`] with 2 classes (one output, `s`),
//!   `LOGISTIC` gives [`Objective::BinaryLogistic`] with margin `s`, and `SOFTMAX`, whose
//!   `softmax(-s, s)` is `sigmoid(2s)`, gives [`Objective::BinaryLogistic`] with every leaf and
//!   the base value doubled. The base value is `base_values[0]` (none or one value; two are
//!   refused: onnxruntime then scores class 1 by its base value alone while the reference
//!   uses `base_values[0]`). Votes all for class id 1 are refused (the reference drops them).
//! - Classifier with K labels and a column per class id: `NONE` gives
//!   [`Objective::AveragedProbabilities`] with K classes, `SOFTMAX` gives
//!   [`Objective::MultiSoftprob`]; `base_values` has K entries or none. With K = 2 and `NONE`
//!   the model must be a probability model Blindfold can hold as one output: in every tree
//!   the two votes of every leaf sum to one constant, and those constants plus both base
//!   values sum to 1 (within 1e-5), so that class 0's score is `1 - p`; then class 1's column
//!   is kept, else the model is refused.
//!
//! Refused by name: other post transforms (`LOGISTIC` with a column per class, `SOFTMAX_ZERO`,
//! `PROBIT`, any transform on a regressor), `aggregate_function` `MIN` and `MAX`,
//! `n_targets` other than 1, split modes `BRANCH_EQ`, `BRANCH_NEQ` and `BRANCH_MEMBER`,
//! external tensor data, inputs that are not `float`. Inconsistent files (arrays of different
//! lengths, ids out of range, a child in another tree, cycles, shared children, two roots,
//! votes on split nodes) are invalid. Limits: 10 million nodes (in the file, and once a
//! multi-class tree is split into a tree per class), 100,000 trees, 256 classes, 1,000,000
//! features; trees deeper than [`MAX_TREE_DEPTH`] are refused.
//!
//! Where onnxruntime departs from the ONNX reference the importer follows the reference, which
//! is also what scikit-learn computes: onnxruntime returns `[1 - s, s]` without the sigmoid
//! for a binary `LOGISTIC` model whose weights are all non-negative, never applies `SOFTMAX`
//! in the binary case, for a binary `NONE` model with negative weights returns `[-s, s]`, and
//! for two classes with a score each and two base values scores class 1 as `b1 + s0`.
//! No converter writes such models (a forest's votes are non-negative and a boosted model's
//! leaves have both signs).

#[rustfmt::skip]
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    dead_code,
    missing_docs,
    unreachable_pub,
    rustdoc::all
)]
mod proto;
mod linear;
mod network;
mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost::Message;

use crate::compiler::ensemble::{Arithmetic, MAX_FEATURES, MAX_TREE_DEPTH, Node, Tree, TreeEnsemble, check_tree_shape};
use crate::compiler::import::ImportedModel;
use crate::error::{ModelError, Result};
use crate::spec::objective::Objective;

use proto::{AttributeProto, GraphProto, NodeProto, TensorProto};

/// Model files larger than this are refused before decoding.
pub const MAX_MODEL_ONNX_BYTES: usize = 64 * 1024 * 1024;

/// Most nodes an ensemble may have, in the file and once split by output.
const MAX_NODES: usize = 10_000_000;

/// Most trees an ensemble may have.
const MAX_TREES: usize = 100_000;

/// Most classes a classifier may have.
const MAX_CLASSES: usize = 256;

/// How far a two-class `NONE` classifier's class scores may be from summing to 1.
const PROBABILITY_TOLERANCE: f64 = 1e-5;

/// The domain of ONNX's classical machine-learning operators.
const ML_DOMAIN: &str = "ai.onnx.ml";

/// Operators that only reshape or relabel the tree ensemble's outputs.
const PLUMBING: [(&str, &str); 3] = [("ZipMap", ML_DOMAIN), ("Cast", ""), ("Identity", "")];

/// ONNX's `TensorProto.DataType` codes this importer reads.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const INT32: i32 = 6;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

/// Parses an ONNX model: a linear model when the graph holds a linear operator and no tree
/// ensemble (see [`linear`]), else a tree ensemble.
pub fn import_onnx_model(bytes: &[u8]) -> Result<ImportedModel> {
    let model = decode(bytes)?;
    let graph = model_graph(&model)?;
    let has_trees = graph
        .node
        .iter()
        .any(|n| TreeOp::from_op_type(n.op_type.as_deref().unwrap_or_default()).is_some());
    if linear::is_linear(graph) && !has_trees {
        return linear::import_linear(graph).map(ImportedModel::Linear);
    }
    if network::is_network(graph) && !has_trees {
        return network::import_dense(graph);
    }
    trees(model).map(ImportedModel::Trees)
}

/// Parses an ONNX model holding one tree ensemble into a [`TreeEnsemble`].
pub fn import_onnx(bytes: &[u8]) -> Result<TreeEnsemble> {
    trees(decode(bytes)?)
}

/// The file's `ModelProto`, once its size and what decoding it takes are bounded.
fn decode(bytes: &[u8]) -> Result<proto::ModelProto> {
    if bytes.len() > MAX_MODEL_ONNX_BYTES {
        return Err(ModelError::TooLarge {
            what: "ONNX model file",
            size: bytes.len() as u64,
            limit: MAX_MODEL_ONNX_BYTES as u64,
        });
    }
    wire::check(bytes)?;
    proto::ModelProto::decode(bytes).map_err(|e| invalid(format!("not an ONNX model (protobuf): {e}")))
}

fn model_graph(model: &proto::ModelProto) -> Result<&GraphProto> {
    model
        .graph
        .as_ref()
        .ok_or_else(|| invalid("the model has no graph".into()))
}

/// The tree ensemble of a decoded file.
fn trees(model: proto::ModelProto) -> Result<TreeEnsemble> {
    let graph = model_graph(&model)?;
    let (node, op) = find_tree_operator(graph)?;
    // A scaler in front of the trees: its affine steps, folded into the splits below.
    let scaler = linear::scaler_before(graph, node)?;
    let declared_features = input_features(graph, &scaler.input)?;
    let attributes = Attributes::new(node)?;
    let pending = match op {
        TreeOp::Classifier => import_classifier(&attributes, declared_features),
        TreeOp::Regressor => import_regressor(&attributes, declared_features),
        TreeOp::TreeEnsemble => import_tree_ensemble(&attributes, declared_features),
    }
    .map_err(|e| e.within(op.name()))?;
    // The decoded file is no longer needed once the trees are read.
    drop(attributes);
    drop(model);
    let mut ensemble = pending.ensemble;
    ensemble.trees =
        split_by_output(pending.skeletons, &pending.outputs, pending.scale).map_err(|e| e.within(op.name()))?;
    if !scaler.is_empty() {
        let affine = scaler.affine(ensemble.num_features)?;
        for (_, tree) in &mut ensemble.trees {
            fold_scaler(tree, &affine);
        }
    }
    Ok(ensemble)
}

/// Rewrites each split of `tree`, made on the scaled feature `x' = x · s + o`, as a split on
/// the raw feature `x`, in this importer's form (left iff `x < t`, comparing `f32`s):
///
/// - `s > 0`: `x' < t` iff `x < (t - o) / s`;
/// - `s < 0`: `x' < t` iff `x > c` with `c = (t - o) / s`, i.e. not `x <= c`: the branches
///   swap, and the threshold is the `f32` just above the largest `f32` `<= c`;
/// - `s = 0`: the scaled feature is the constant `o`, and every row goes the same way.
///
/// The runtime computes `x'` in `f32` before comparing; the rewritten split compares the raw
/// `f32` with the exact quotient, which differs only for a row within an `f32` rounding of a
/// threshold.
fn fold_scaler(tree: &mut Tree, affine: &crate::compiler::linear::FeatureAffine) {
    for node in &mut tree.nodes {
        if let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = node
        {
            let (s, o) = (affine.scale[*feature], affine.offset[*feature]);
            let c = (*threshold - o) / s;
            if s > 0.0 {
                *threshold = if c.is_finite() { f32_at_least(c) } else { c };
            } else if s < 0.0 {
                std::mem::swap(left, right);
                *threshold = if c.is_finite() {
                    f64::from((f32_at_most(c) as f32).next_up())
                } else {
                    -c
                };
            } else {
                *threshold = if o < *threshold {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                };
            }
        }
    }
}

/// An ensemble whose trees are read but not yet split by output (its `trees` are empty).
struct Pending {
    ensemble: TreeEnsemble,
    skeletons: Vec<Skeleton>,
    /// Per score column, the output it adds to (`None`: dropped).
    outputs: Vec<Option<usize>>,
    scale: Scale,
}

/// The tree-ensemble operators this importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeOp {
    Classifier,
    Regressor,
    TreeEnsemble,
}

impl TreeOp {
    fn from_op_type(op_type: &str) -> Option<Self> {
        match op_type {
            "TreeEnsembleClassifier" => Some(TreeOp::Classifier),
            "TreeEnsembleRegressor" => Some(TreeOp::Regressor),
            "TreeEnsemble" => Some(TreeOp::TreeEnsemble),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            TreeOp::Classifier => "TreeEnsembleClassifier",
            TreeOp::Regressor => "TreeEnsembleRegressor",
            TreeOp::TreeEnsemble => "TreeEnsemble",
        }
    }
}

/// The graph's one tree-ensemble node; every other node must be output plumbing.
fn find_tree_operator(graph: &GraphProto) -> Result<(&NodeProto, TreeOp)> {
    let mut found: Option<(&NodeProto, TreeOp)> = None;
    for node in &graph.node {
        let op_type = node.op_type.as_deref().unwrap_or_default();
        let domain = node.domain.as_deref().unwrap_or_default();
        if let Some(op) = TreeOp::from_op_type(op_type) {
            if domain != ML_DOMAIN {
                return Err(ModelError::Unsupported(format!(
                    "ONNX operator `{op_type}` of domain `{domain}` (tree ensembles are in `{ML_DOMAIN}`)"
                )));
            }
            if found.is_some() {
                return Err(ModelError::Unsupported(format!(
                    "a second tree ensemble operator `{op_type}` (only one per model)"
                )));
            }
            found = Some((node, op));
        } else if !is_plumbing(op_type, domain) && !linear::is_scaler_step(op_type, domain) {
            let shown = if ["", "ai.onnx", ML_DOMAIN].contains(&domain) {
                format!("`{op_type}`")
            } else {
                format!("`{op_type}` of domain `{domain}`")
            };
            return Err(ModelError::Unsupported(format!(
                "ONNX operator {shown} (only a tree ensemble, a scaler in front of it and ZipMap/Cast/Identity after it)"
            )));
        }
    }
    found.ok_or_else(|| {
        ModelError::Unsupported(
            "a graph without a tree ensemble operator (TreeEnsembleClassifier, TreeEnsembleRegressor or \
             TreeEnsemble of ai.onnx.ml)"
                .into(),
        )
    })
}

fn is_plumbing(op_type: &str, domain: &str) -> bool {
    let domain = if domain == "ai.onnx" { "" } else { domain };
    PLUMBING.contains(&(op_type, domain))
}

/// The number of features the model's input `name` declares (its last dimension), if it
/// does: a graph input of `float`s that no node computes (the scaler's input, when there is
/// one in front of the model).
fn input_features(graph: &GraphProto, name: &str) -> Result<Option<usize>> {
    if let Some(producer) = graph.node.iter().find(|n| n.output.iter().any(|o| o == name)) {
        return Err(ModelError::Unsupported(format!(
            "a tree ensemble whose input `{name}` is computed by operator `{}` (only a graph input of floats)",
            producer.op_type.as_deref().unwrap_or_default()
        )));
    }
    if graph.initializer.iter().any(|t| t.name.as_deref() == Some(name)) {
        return Err(invalid(format!(
            "the tree ensemble's input `{name}` is a constant initializer"
        )));
    }
    let input = graph
        .input
        .iter()
        .find(|i| i.name.as_deref() == Some(name))
        .ok_or_else(|| invalid(format!("the tree ensemble's input `{name}` is not a graph input")))?;
    let tensor = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(proto::type_proto::Value::TensorType(tensor)) => tensor,
        _ => return Err(ModelError::Unsupported(format!("input `{name}` that is not a tensor"))),
    };
    let elem_type = tensor.elem_type.unwrap_or_default();
    if elem_type != FLOAT {
        let type_name = proto::tensor_proto::DataType::try_from(elem_type)
            .map(|t| t.as_str_name().to_owned())
            .unwrap_or_else(|_| elem_type.to_string());
        return Err(ModelError::Unsupported(format!(
            "input `{name}` of element type {type_name} (only FLOAT, elem_type 1)"
        )));
    }
    let last = tensor
        .shape
        .as_ref()
        .and_then(|s| s.dim.last())
        .and_then(|d| d.value.as_ref());
    match last {
        Some(proto::tensor_shape_proto::dimension::Value::DimValue(width)) => {
            let width = usize::try_from(*width)
                .ok()
                .filter(|&w| w > 0)
                .ok_or_else(|| invalid(format!("input `{name}` has {width} features")))?;
            if width > MAX_FEATURES {
                return Err(ModelError::Unsupported(format!(
                    "{width} features (at most {MAX_FEATURES})"
                )));
            }
            Ok(Some(width))
        }
        _ => Ok(None),
    }
}

/// The number of features: the declared one, else one more than the largest split feature.
fn resolve_features(declared: Option<usize>, split_features: impl Iterator<Item = i64>) -> Result<usize> {
    if let Some(width) = declared {
        return Ok(width);
    }
    let largest = split_features.filter(|&f| f >= 0).max().ok_or_else(|| {
        ModelError::Unsupported("a model whose input width is not declared and that splits on no feature".into())
    })?;
    usize::try_from(largest)
        .ok()
        .and_then(|f| f.checked_add(1))
        .filter(|&n| n <= MAX_FEATURES)
        .ok_or_else(|| ModelError::Unsupported(format!("feature index {largest} (at most {MAX_FEATURES} features)")))
}

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

/// A node's attributes by name, read with their declared type checked.
struct Attributes<'a> {
    by_name: HashMap<&'a str, &'a AttributeProto>,
}

/// `AttributeProto.AttributeType` codes.
const ATTR_FLOAT: i32 = 1;
const ATTR_INT: i32 = 2;
const ATTR_STRING: i32 = 3;
const ATTR_TENSOR: i32 = 4;
const ATTR_FLOATS: i32 = 6;
const ATTR_INTS: i32 = 7;
const ATTR_STRINGS: i32 = 8;

impl<'a> Attributes<'a> {
    fn new(node: &'a NodeProto) -> Result<Self> {
        let mut by_name = HashMap::new();
        for attribute in &node.attribute {
            let name = attribute.name.as_deref().unwrap_or_default();
            if by_name.insert(name, attribute).is_some() {
                return Err(invalid(format!("attribute `{name}` appears twice")));
            }
        }
        Ok(Self { by_name })
    }

    /// The attribute, if present, after checking its declared type (files older than IR 2
    /// declare none).
    fn get(&self, name: &str, expected: i32, what: &str) -> Result<Option<&'a AttributeProto>> {
        match self.by_name.get(name) {
            None => Ok(None),
            Some(attribute) => match attribute.r#type {
                Some(t) if t != expected => Err(invalid(format!("attribute `{name}` is not {what}"))),
                _ => Ok(Some(attribute)),
            },
        }
    }

    fn ints(&self, name: &str) -> Result<Option<&'a [i64]>> {
        Ok(self.get(name, ATTR_INTS, "a list of ints")?.map(|a| a.ints.as_slice()))
    }

    fn required_ints(&self, name: &str) -> Result<&'a [i64]> {
        self.ints(name)?.ok_or_else(|| missing(name))
    }

    fn floats(&self, name: &str) -> Result<Option<&'a [f32]>> {
        Ok(self
            .get(name, ATTR_FLOATS, "a list of floats")?
            .map(|a| a.floats.as_slice()))
    }

    fn strings(&self, name: &str) -> Result<Option<&'a [Vec<u8>]>> {
        Ok(self
            .get(name, ATTR_STRINGS, "a list of strings")?
            .map(|a| a.strings.as_slice()))
    }

    fn float(&self, name: &str) -> Result<Option<f64>> {
        self.get(name, ATTR_FLOAT, "a float")?
            .map(|a| {
                a.f.map(f64::from)
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| invalid(format!("attribute `{name}` has no finite value")))
            })
            .transpose()
    }

    fn int(&self, name: &str) -> Result<Option<i64>> {
        self.get(name, ATTR_INT, "an int")?
            .map(|a| a.i.ok_or_else(|| invalid(format!("attribute `{name}` has no value"))))
            .transpose()
    }

    fn string(&self, name: &str) -> Result<Option<&'a [u8]>> {
        self.get(name, ATTR_STRING, "a string")?
            .map(|a| {
                a.s.as_deref()
                    .ok_or_else(|| invalid(format!("attribute `{name}` has no value")))
            })
            .transpose()
    }

    fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>> {
        self.get(name, ATTR_TENSOR, "a tensor")?
            .map(|a| {
                a.t.as_ref()
                    .ok_or_else(|| invalid(format!("attribute `{name}` has no value")))
            })
            .transpose()
    }

    /// A float list given either as `name` (floats) or as `tensor_name` (a float or double
    /// tensor), never both; every value finite.
    fn reals(&self, name: &str, tensor_name: &str) -> Result<Option<Vec<f64>>> {
        let values = match (self.floats(name)?, self.tensor(tensor_name)?) {
            (Some(_), Some(_)) => {
                return Err(invalid(format!("both `{name}` and `{tensor_name}` are given")));
            }
            (Some(floats), None) => floats.iter().map(|&f| f64::from(f)).collect(),
            (None, Some(tensor)) => tensor_reals(tensor, tensor_name)?,
            (None, None) => return Ok(None),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!("`{name}[{i}]` is not finite")));
        }
        Ok(Some(values))
    }

    fn required_reals(&self, name: &str, tensor_name: &str) -> Result<Vec<f64>> {
        self.reals(name, tensor_name)?.ok_or_else(|| missing(name))
    }

    /// A tensor attribute of real numbers, every value finite.
    fn required_real_tensor(&self, name: &str) -> Result<Vec<f64>> {
        let values = tensor_reals(self.tensor(name)?.ok_or_else(|| missing(name))?, name)?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!("`{name}[{i}]` is not finite")));
        }
        Ok(values)
    }
}

/// The elements of a `float` or `double` tensor.
fn tensor_reals(tensor: &TensorProto, name: &str) -> Result<Vec<f64>> {
    refuse_external(tensor, name)?;
    let values: Vec<f64> = match (tensor.data_type.unwrap_or_default(), tensor.raw_data.as_deref()) {
        (FLOAT, Some(raw)) => raw_chunks::<4>(raw, name)?
            .map(|b| f64::from(f32::from_le_bytes(b)))
            .collect(),
        (FLOAT, None) => tensor.float_data.iter().map(|&f| f64::from(f)).collect(),
        (DOUBLE, Some(raw)) => raw_chunks::<8>(raw, name)?.map(f64::from_le_bytes).collect(),
        (DOUBLE, None) => tensor.double_data.clone(),
        (other, _) => {
            return Err(ModelError::Unsupported(format!(
                "tensor `{name}` of data type {} (only FLOAT and DOUBLE)",
                data_type_name(other)
            )));
        }
    };
    check_tensor_size(tensor, values.len(), name)?;
    Ok(values)
}

/// The elements of an integer tensor (`uint8`, `int8`, `int32` or `int64`).
fn tensor_ints(tensor: &TensorProto, name: &str) -> Result<Vec<i64>> {
    refuse_external(tensor, name)?;
    let values: Vec<i64> = match (tensor.data_type.unwrap_or_default(), tensor.raw_data.as_deref()) {
        (UINT8, Some(raw)) => raw.iter().map(|&b| i64::from(b)).collect(),
        (INT8, Some(raw)) => raw.iter().map(|&b| i64::from(b as i8)).collect(),
        (INT32, Some(raw)) => raw_chunks::<4>(raw, name)?
            .map(|b| i64::from(i32::from_le_bytes(b)))
            .collect(),
        (INT64, Some(raw)) => raw_chunks::<8>(raw, name)?.map(i64::from_le_bytes).collect(),
        (UINT8 | INT8 | INT32, None) => tensor.int32_data.iter().map(|&v| i64::from(v)).collect(),
        (INT64, None) => tensor.int64_data.clone(),
        (other, _) => {
            return Err(ModelError::Unsupported(format!(
                "tensor `{name}` of data type {} (only UINT8, INT8, INT32 and INT64)",
                data_type_name(other)
            )));
        }
    };
    check_tensor_size(tensor, values.len(), name)?;
    Ok(values)
}

/// How many elements [`tensor_ints`] would read from an integer tensor (the floor of a `raw_data`
/// length that is not a multiple of the element's width), without reading them.
fn tensor_len(tensor: &TensorProto) -> usize {
    let width = match tensor.data_type.unwrap_or_default() {
        INT32 => 4,
        INT64 => 8,
        _ => 1,
    };
    match (tensor.data_type.unwrap_or_default(), tensor.raw_data.as_deref()) {
        (_, Some(raw)) => raw.len() / width,
        (INT64, None) => tensor.int64_data.len(),
        (_, None) => tensor.int32_data.len(),
    }
}

fn refuse_external(tensor: &TensorProto, name: &str) -> Result<()> {
    if tensor.data_location == Some(proto::tensor_proto::DataLocation::External as i32)
        || !tensor.external_data.is_empty()
    {
        return Err(ModelError::Unsupported(format!(
            "tensor `{name}` stored in an external file"
        )));
    }
    Ok(())
}

/// Little-endian fixed-width elements of a tensor's `raw_data`.
fn raw_chunks<'r, const N: usize>(raw: &'r [u8], name: &str) -> Result<impl Iterator<Item = [u8; N]> + 'r> {
    if !raw.len().is_multiple_of(N) {
        return Err(invalid(format!(
            "tensor `{name}` has {} raw bytes, not a multiple of {N}",
            raw.len()
        )));
    }
    Ok(raw.chunks_exact(N).map(|c| {
        let mut bytes = [0u8; N];
        bytes.copy_from_slice(c);
        bytes
    }))
}

/// When a tensor declares its dimensions, their product must be its element count.
fn check_tensor_size(tensor: &TensorProto, len: usize, name: &str) -> Result<()> {
    if tensor.dims.is_empty() {
        return Ok(());
    }
    let declared = tensor
        .dims
        .iter()
        .try_fold(1usize, |acc, &d| usize::try_from(d).ok()?.checked_mul(acc));
    if declared != Some(len) {
        return Err(invalid(format!(
            "tensor `{name}` has dims {:?} but {len} elements",
            tensor.dims
        )));
    }
    Ok(())
}

fn data_type_name(code: i32) -> String {
    proto::tensor_proto::DataType::try_from(code)
        .map(|t| t.as_str_name().to_owned())
        .unwrap_or_else(|_| code.to_string())
}

// ---------------------------------------------------------------------------------------------
// Split rules
// ---------------------------------------------------------------------------------------------

/// What a node of the opset 1/3 operators is: a leaf or a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Leaf,
    Branch(Rule),
}

impl Mode {
    /// A `nodes_modes` string of the opset 1/3 operators.
    fn from_name(name: &[u8]) -> Result<Self> {
        match name {
            b"LEAF" => Ok(Mode::Leaf),
            b"BRANCH_LT" => Ok(Mode::Branch(Rule::Lt)),
            b"BRANCH_LEQ" => Ok(Mode::Branch(Rule::Leq)),
            b"BRANCH_GTE" => Ok(Mode::Branch(Rule::Gte)),
            b"BRANCH_GT" => Ok(Mode::Branch(Rule::Gt)),
            b"BRANCH_EQ" | b"BRANCH_NEQ" | b"BRANCH_MEMBER" => Err(unsupported_mode(&String::from_utf8_lossy(name))),
            other => Err(invalid(format!(
                "unknown node mode `{}`",
                String::from_utf8_lossy(other)
            ))),
        }
    }
}

/// How a split compares a feature `x` with its threshold `t` to choose its true branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// `x < t`
    Lt,
    /// `x <= t`
    Leq,
    /// `x >= t`
    Gte,
    /// `x > t`
    Gt,
}

impl Rule {
    /// A `nodes_modes` code of the opset 5 `TreeEnsemble`.
    fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(Rule::Leq),
            1 => Ok(Rule::Lt),
            2 => Ok(Rule::Gte),
            3 => Ok(Rule::Gt),
            4 => Err(unsupported_mode("BRANCH_EQ")),
            5 => Err(unsupported_mode("BRANCH_NEQ")),
            6 => Err(unsupported_mode("BRANCH_MEMBER")),
            other => Err(invalid(format!("unknown node mode {other}"))),
        }
    }

    /// The threshold `t'` with "left iff `x < t'`" for every `f32` `x`, and whether the true
    /// branch is the left one.
    fn normalise(self, threshold: f64) -> (f64, bool) {
        match self {
            Rule::Lt => (f32_at_least(threshold), true),
            Rule::Gte => (f32_at_least(threshold), false),
            Rule::Leq => (Arithmetic::F32.next_up(f32_at_most(threshold)), true),
            Rule::Gt => (Arithmetic::F32.next_up(f32_at_most(threshold)), false),
        }
    }
}

fn unsupported_mode(name: &str) -> ModelError {
    ModelError::Unsupported(format!(
        "node mode `{name}` (only BRANCH_LT, BRANCH_LEQ, BRANCH_GTE and BRANCH_GT)"
    ))
}

/// The smallest `f32` (as `f64`) that is `>= t`: for every `f32` `x`, `x < t` iff `x < t'`.
/// `+inf` when `t` is above every finite `f32`.
fn f32_at_least(t: f64) -> f64 {
    let nearest = t as f32;
    if f64::from(nearest) >= t {
        f64::from(nearest)
    } else {
        f64::from(nearest.next_up())
    }
}

/// The largest `f32` (as `f64`) that is `<= t`: for every `f32` `x`, `x <= t` iff `x <= t'`.
fn f32_at_most(t: f64) -> f64 {
    let nearest = t as f32;
    if f64::from(nearest) <= t {
        f64::from(nearest)
    } else {
        f64::from(nearest.next_down())
    }
}

/// `post_transform`: what the classifier applies to its per-class scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    fn from_name(name: &[u8]) -> Result<Self> {
        match name {
            b"NONE" => Ok(PostTransform::None),
            b"LOGISTIC" => Ok(PostTransform::Logistic),
            b"SOFTMAX" => Ok(PostTransform::Softmax),
            b"SOFTMAX_ZERO" => Ok(PostTransform::SoftmaxZero),
            b"PROBIT" => Ok(PostTransform::Probit),
            other => Err(invalid(format!(
                "unknown post_transform `{}`",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(PostTransform::None),
            1 => Ok(PostTransform::Softmax),
            2 => Ok(PostTransform::Logistic),
            3 => Ok(PostTransform::SoftmaxZero),
            4 => Ok(PostTransform::Probit),
            other => Err(invalid(format!("unknown post_transform {other}"))),
        }
    }

    fn read(attributes: &Attributes<'_>) -> Result<Self> {
        attributes
            .string("post_transform")?
            .map_or(Ok(PostTransform::None), Self::from_name)
    }

    fn name(self) -> &'static str {
        match self {
            PostTransform::None => "NONE",
            PostTransform::Logistic => "LOGISTIC",
            PostTransform::Softmax => "SOFTMAX",
            PostTransform::SoftmaxZero => "SOFTMAX_ZERO",
            PostTransform::Probit => "PROBIT",
        }
    }
}

/// `aggregate_function`: how a regressor combines its trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
}

impl Aggregate {
    fn from_name(name: &[u8]) -> Result<Self> {
        match name {
            b"SUM" => Ok(Aggregate::Sum),
            b"AVERAGE" => Ok(Aggregate::Average),
            b"MIN" | b"MAX" => Err(unsupported_aggregate(&String::from_utf8_lossy(name))),
            other => Err(invalid(format!(
                "unknown aggregate_function `{}`",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(Aggregate::Average),
            1 => Ok(Aggregate::Sum),
            2 => Err(unsupported_aggregate("MIN")),
            3 => Err(unsupported_aggregate("MAX")),
            other => Err(invalid(format!("unknown aggregate_function {other}"))),
        }
    }

    /// What is done to every leaf weight.
    fn scale(self, trees: usize) -> Scale {
        match self {
            Aggregate::Sum => Scale::Times(1.0),
            Aggregate::Average => Scale::Over(trees as f64),
        }
    }
}

fn unsupported_aggregate(name: &str) -> ModelError {
    ModelError::Unsupported(format!("aggregate_function `{name}` (only SUM and AVERAGE)"))
}

// ---------------------------------------------------------------------------------------------
// Trees, before they are split by output
// ---------------------------------------------------------------------------------------------

/// One tree as the file defines it, root first: splits already normalised to "left iff
/// `x < threshold`", leaves with their votes `(column, weight)`.
#[derive(Debug, Clone, PartialEq)]
struct Skeleton {
    /// How errors name the tree: `tree <treeid>` (opset 1/3) or `tree <index>` (opset 5).
    name: String,
    nodes: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        votes: Vec<(usize, f64)>,
    },
}

impl Skeleton {
    /// The columns some leaf votes for.
    fn columns(&self) -> BTreeSet<usize> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Part::Leaf { votes } => Some(votes.iter().map(|&(c, _)| c)),
                Part::Split { .. } => None,
            })
            .flatten()
            .collect()
    }

    /// The regression tree of one column (`None`: every leaf 0), each leaf weight scaled.
    fn tree(&self, column: Option<usize>, scale: Scale) -> Result<Tree> {
        let nodes = self
            .nodes
            .iter()
            .map(|part| match *part {
                Part::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => Ok(Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                }),
                Part::Leaf { ref votes } => {
                    let value = scale.apply(votes.iter().filter(|&&(c, _)| Some(c) == column).map(|&(_, w)| w).sum());
                    if !value.is_finite() {
                        return Err(invalid("a leaf's value is not finite".into()));
                    }
                    Ok(Node::Leaf { value })
                }
            })
            .collect::<Result<Vec<Node>>>()?;
        check_tree_shape(&nodes, MAX_TREE_DEPTH)?;
        Ok(Tree { nodes })
    }
}

/// What is done to every leaf weight: `AVERAGE` divides by the number of trees, a binary
/// `SOFTMAX` doubles.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Times(f64),
    Over(f64),
}

impl Scale {
    fn apply(self, weight: f64) -> f64 {
        match self {
            Scale::Times(factor) => weight * factor,
            Scale::Over(divisor) => weight / divisor,
        }
    }
}

/// The ensemble's trees: for every skeleton and every column `outputs` maps to an output,
/// the tree of that column, leaves scaled by `scale`. Columns nobody votes for are skipped
/// (they add 0); every skeleton's shape is checked all the same. Each skeleton is dropped once
/// its trees are made.
fn split_by_output(skeletons: Vec<Skeleton>, outputs: &[Option<usize>], scale: Scale) -> Result<Vec<(usize, Tree)>> {
    let plan: Vec<Vec<(usize, usize)>> = skeletons
        .iter()
        .map(|s| {
            s.columns()
                .into_iter()
                .filter_map(|c| outputs.get(c).copied().flatten().map(|o| (c, o)))
                .collect()
        })
        .collect();
    let total = skeletons.iter().zip(&plan).try_fold(0usize, |acc, (s, p)| {
        acc.checked_add(s.nodes.len().checked_mul(p.len())?)
    });
    if total.is_none_or(|t| t > MAX_NODES) {
        return Err(ModelError::Unsupported(format!(
            "more than {MAX_NODES} nodes once split by output"
        )));
    }
    let mut trees = Vec::new();
    for (skeleton, columns) in skeletons.into_iter().zip(&plan) {
        let tree_error = |e: ModelError| e.within(&skeleton.name);
        if columns.is_empty() {
            skeleton.tree(None, scale).map_err(tree_error)?;
        }
        for &(column, output) in columns {
            trees.push((output, skeleton.tree(Some(column), scale).map_err(tree_error)?));
        }
    }
    if trees.is_empty() {
        return Err(invalid("no leaf has a weight: the model is a constant".into()));
    }
    Ok(trees)
}

// ---------------------------------------------------------------------------------------------
// Opset 1/3: TreeEnsembleClassifier and TreeEnsembleRegressor
// ---------------------------------------------------------------------------------------------

/// The `nodes_*` arrays of the opset 1/3 operators, of one length.
struct NodeArrays<'a> {
    tree_ids: &'a [i64],
    node_ids: &'a [i64],
    feature_ids: &'a [i64],
    modes: Vec<Mode>,
    values: Vec<f64>,
    true_ids: &'a [i64],
    false_ids: &'a [i64],
}

impl<'a> NodeArrays<'a> {
    fn read(attributes: &Attributes<'a>) -> Result<Self> {
        let tree_ids = attributes.required_ints("nodes_treeids")?;
        let n = tree_ids.len();
        if n == 0 {
            return Err(invalid("the ensemble has no nodes".into()));
        }
        if n > MAX_NODES {
            return Err(ModelError::Unsupported(format!("more than {MAX_NODES} nodes")));
        }
        let modes = attributes
            .strings("nodes_modes")?
            .ok_or_else(|| missing("nodes_modes"))?;
        let arrays = Self {
            tree_ids,
            node_ids: attributes.required_ints("nodes_nodeids")?,
            feature_ids: attributes.required_ints("nodes_featureids")?,
            modes: Vec::new(),
            values: attributes.required_reals("nodes_values", "nodes_values_as_tensor")?,
            true_ids: attributes.required_ints("nodes_truenodeids")?,
            false_ids: attributes.required_ints("nodes_falsenodeids")?,
        };
        let mut lengths = vec![
            ("nodes_nodeids", arrays.node_ids.len()),
            ("nodes_featureids", arrays.feature_ids.len()),
            ("nodes_modes", modes.len()),
            ("nodes_values", arrays.values.len()),
            ("nodes_truenodeids", arrays.true_ids.len()),
            ("nodes_falsenodeids", arrays.false_ids.len()),
        ];
        if let Some(tracks) = attributes.ints("nodes_missing_value_tracks_true")?
            && !tracks.is_empty()
        {
            lengths.push(("nodes_missing_value_tracks_true", tracks.len()));
        }
        // Hit rates are unused: only their count is checked.
        let hitrates = match (
            attributes.floats("nodes_hitrates")?,
            attributes.tensor("nodes_hitrates_as_tensor")?,
        ) {
            (Some(rates), _) => rates.len(),
            (None, Some(tensor)) => tensor_reals(tensor, "nodes_hitrates_as_tensor")?.len(),
            (None, None) => 0,
        };
        if hitrates > 0 {
            lengths.push(("nodes_hitrates", hitrates));
        }
        if let Some((name, len)) = lengths.into_iter().find(|&(_, len)| len != n) {
            return Err(invalid(format!("nodes_treeids has {n} entries but {name} has {len}")));
        }
        let modes = modes
            .iter()
            .map(|m| Mode::from_name(m))
            .collect::<Result<Vec<Mode>>>()?;
        Ok(Self { modes, ..arrays })
    }

    fn len(&self) -> usize {
        self.tree_ids.len()
    }

    /// The features split nodes use (for the input width when it is not declared).
    fn split_features(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len())
            .filter(|&i| self.modes[i] != Mode::Leaf)
            .map(|i| self.feature_ids[i])
    }
}

/// A classifier's or regressor's leaf votes, parallel arrays of one length.
struct Votes<'a> {
    tree_ids: &'a [i64],
    node_ids: &'a [i64],
    columns: Vec<usize>,
    weights: Vec<f64>,
}

impl<'a> Votes<'a> {
    /// The `{prefix}_*` arrays (`class` or `target`), each id one of `columns` columns.
    fn read(attributes: &Attributes<'a>, prefix: &str, columns: usize) -> Result<Self> {
        let name = |field: &str| format!("{prefix}_{field}");
        let tree_ids = attributes.ints(&name("treeids"))?.unwrap_or_default();
        let node_ids = attributes.ints(&name("nodeids"))?.unwrap_or_default();
        let ids = attributes.ints(&name("ids"))?.unwrap_or_default();
        let weights = attributes
            .reals(&name("weights"), &name("weights_as_tensor"))?
            .unwrap_or_default();
        let n = tree_ids.len();
        for (field, len) in [
            ("nodeids", node_ids.len()),
            ("ids", ids.len()),
            ("weights", weights.len()),
        ] {
            if len != n {
                return Err(invalid(format!(
                    "{} has {n} entries but {} has {len}",
                    name("treeids"),
                    name(field)
                )));
            }
        }
        let columns = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                usize::try_from(id)
                    .ok()
                    .filter(|&c| c < columns)
                    .ok_or_else(|| invalid(format!("{}[{i}] = {id} is outside 0..{columns}", name("ids"))))
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(Self {
            tree_ids,
            node_ids,
            columns,
            weights,
        })
    }
}

/// Every tree of the opset 1/3 arrays, in increasing tree id order, its root first.
fn build_skeletons(nodes: &NodeArrays<'_>, votes: &Votes<'_>, num_features: usize) -> Result<Vec<Skeleton>> {
    let index = NodeIndex::new(nodes, votes)?;
    let mut trees: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &tree) in nodes.tree_ids.iter().enumerate() {
        trees.entry(tree).or_default().push(i);
        if trees.len() > MAX_TREES {
            return Err(ModelError::Unsupported(format!("more than {MAX_TREES} trees")));
        }
    }
    let n = nodes.len();
    let mut is_child = vec![false; n];
    let mut arena_index = vec![0usize; n];
    trees
        .iter()
        .map(|(&tree, members)| {
            let name = format!("tree {tree}");
            let nodes = build_skeleton(
                nodes,
                &index,
                &mut is_child,
                &mut arena_index,
                tree,
                members,
                num_features,
            )
            .map_err(|e| e.within(&name))?;
            Ok(Skeleton { name, nodes })
        })
        .collect()
}

/// The opset 1/3 nodes by id, and the votes by leaf. Sorted lists searched by bisection take
/// 8 bytes per node and 16 per vote, where hash maps (and a list of votes per leaf) take 40 to
/// 100: what the importer holds stays a small multiple of the file's size.
struct NodeIndex<'n> {
    tree_ids: &'n [i64],
    node_ids: &'n [i64],
    /// Node positions by `(tree id, node id)`.
    by_id: Vec<usize>,
    /// `(node position, vote index)` pairs, sorted: each leaf's votes in file order.
    by_leaf: Vec<(usize, usize)>,
    columns: &'n [usize],
    weights: &'n [f64],
}

impl<'n> NodeIndex<'n> {
    fn new(nodes: &'n NodeArrays<'_>, votes: &'n Votes<'_>) -> Result<Self> {
        let (tree_ids, node_ids) = (nodes.tree_ids, nodes.node_ids);
        let mut by_id: Vec<usize> = (0..nodes.len()).collect();
        by_id.sort_unstable_by_key(|&p| (tree_ids[p], node_ids[p]));
        if let Some(pair) = by_id
            .windows(2)
            .find(|pair| (tree_ids[pair[0]], node_ids[pair[0]]) == (tree_ids[pair[1]], node_ids[pair[1]]))
        {
            return Err(invalid(format!(
                "node {} of tree {} appears twice",
                node_ids[pair[0]], tree_ids[pair[0]]
            )));
        }
        let mut index = Self {
            tree_ids,
            node_ids,
            by_id,
            by_leaf: Vec::with_capacity(votes.tree_ids.len()),
            columns: &votes.columns,
            weights: &votes.weights,
        };
        for k in 0..votes.tree_ids.len() {
            let (tree, node) = (votes.tree_ids[k], votes.node_ids[k]);
            let p = index.find(tree, node).ok_or_else(|| {
                invalid(format!(
                    "vote {k} is for node {node} of tree {tree}, which does not exist"
                ))
            })?;
            if nodes.modes[p] != Mode::Leaf {
                return Err(invalid(format!(
                    "vote {k} is for node {node} of tree {tree}, which is not a leaf"
                )));
            }
            index.by_leaf.push((p, k));
        }
        index.by_leaf.sort_unstable();
        Ok(index)
    }

    /// The position of node `node` of tree `tree`.
    fn find(&self, tree: i64, node: i64) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&(tree, node), |&p| (self.tree_ids[p], self.node_ids[p]))
            .ok()
            .map(|i| self.by_id[i])
    }

    /// The votes `(column, weight)` for the leaf at position `p`.
    fn votes(&self, p: usize) -> Vec<(usize, f64)> {
        let start = self.by_leaf.partition_point(|&(q, _)| q < p);
        let end = self.by_leaf.partition_point(|&(q, _)| q <= p);
        self.by_leaf[start..end]
            .iter()
            .map(|&(_, k)| (self.columns[k], self.weights[k]))
            .collect()
    }
}

/// One tree of the opset 1/3 arrays: `members` are its nodes' positions in the arrays.
fn build_skeleton(
    nodes: &NodeArrays<'_>,
    index: &NodeIndex<'_>,
    is_child: &mut [bool],
    arena_index: &mut [usize],
    tree: i64,
    members: &[usize],
    num_features: usize,
) -> Result<Vec<Part>> {
    let child = |p: usize, id: i64, side: &str| -> Result<usize> {
        index.find(tree, id).ok_or_else(|| {
            invalid(format!(
                "node {}'s {side} child {id} is not a node of this tree",
                nodes.node_ids[p]
            ))
        })
    };
    for &p in members {
        if nodes.modes[p] != Mode::Leaf {
            is_child[child(p, nodes.true_ids[p], "true")?] = true;
            is_child[child(p, nodes.false_ids[p], "false")?] = true;
        }
    }
    let roots: Vec<usize> = members.iter().copied().filter(|&p| !is_child[p]).collect();
    let root = match roots.as_slice() {
        [root] => *root,
        [] => return Err(invalid("every node is some node's child (a cycle)".into())),
        [first, second, ..] => {
            return Err(invalid(format!(
                "nodes {} and {} are both nobody's child (two roots)",
                nodes.node_ids[*first], nodes.node_ids[*second]
            )));
        }
    };
    let order: Vec<usize> = std::iter::once(root)
        .chain(members.iter().copied().filter(|&p| p != root))
        .collect();
    for (k, &p) in order.iter().enumerate() {
        arena_index[p] = k;
    }
    let parts = order
        .iter()
        .map(|&p| {
            let Mode::Branch(rule) = nodes.modes[p] else {
                return Ok(Part::Leaf { votes: index.votes(p) });
            };
            let node_id = nodes.node_ids[p];
            let feature = split_feature(nodes.feature_ids[p], num_features, node_id)?;
            let value = nodes.values[p];
            if !value.is_finite() {
                return Err(invalid(format!("node {node_id} has threshold {value}")));
            }
            let (threshold, true_left) = rule.normalise(value);
            let true_child = arena_index[child(p, nodes.true_ids[p], "true")?];
            let false_child = arena_index[child(p, nodes.false_ids[p], "false")?];
            let (left, right) = if true_left {
                (true_child, false_child)
            } else {
                (false_child, true_child)
            };
            Ok(Part::Split {
                feature,
                threshold,
                left,
                right,
            })
        })
        .collect::<Result<Vec<Part>>>()?;
    Ok(parts)
}

fn split_feature(feature: i64, num_features: usize, node: i64) -> Result<usize> {
    usize::try_from(feature)
        .ok()
        .filter(|&f| f < num_features)
        .ok_or_else(|| invalid(format!("node {node} splits on feature {feature} of {num_features}")))
}

/// The number of distinct tree ids.
fn tree_count(tree_ids: &[i64]) -> usize {
    tree_ids.iter().collect::<BTreeSet<_>>().len()
}

fn import_regressor(attributes: &Attributes<'_>, declared_features: Option<usize>) -> Result<Pending> {
    let post_transform = PostTransform::read(attributes)?;
    if post_transform != PostTransform::None {
        return Err(regressor_transform(post_transform));
    }
    check_single_target(attributes.int("n_targets")?)?;
    let aggregate = attributes
        .string("aggregate_function")?
        .map_or(Ok(Aggregate::Sum), Aggregate::from_name)?;
    let nodes = NodeArrays::read(attributes)?;
    let votes = Votes::read(attributes, "target", 1)?;
    let base = attributes
        .reals("base_values", "base_values_as_tensor")?
        .unwrap_or_default();
    let base_margins = match base.as_slice() {
        [] => vec![0.0],
        [b] => vec![*b],
        more => return Err(invalid(format!("base_values has {} entries for 1 target", more.len()))),
    };
    let num_features = resolve_features(declared_features, nodes.split_features())?;
    let skeletons = build_skeletons(&nodes, &votes, num_features)?;
    let scale = aggregate.scale(tree_count(nodes.tree_ids));
    Ok(Pending {
        ensemble: TreeEnsemble {
            feature_names: Vec::new(),
            num_features,
            objective: Objective::RegSquaredError,
            arithmetic: Arithmetic::F32,
            base_margins,
            trees: Vec::new(),
        },
        skeletons,
        outputs: vec![Some(0)],
        scale,
    })
}

fn regressor_transform(post_transform: PostTransform) -> ModelError {
    ModelError::Unsupported(format!(
        "post_transform `{}` on a regressor (only NONE)",
        post_transform.name()
    ))
}

fn check_single_target(n_targets: Option<i64>) -> Result<()> {
    match n_targets {
        None | Some(1) => Ok(()),
        Some(n) if n > 1 => Err(ModelError::Unsupported(format!(
            "n_targets {n} (only single-target regressors)"
        ))),
        Some(n) => Err(invalid(format!("n_targets is {n}"))),
    }
}

/// The number of class labels: `classlabels_int64s` or `classlabels_strings`, exactly one.
fn class_count(attributes: &Attributes<'_>) -> Result<usize> {
    let ints = attributes.ints("classlabels_int64s")?.map_or(0, <[i64]>::len);
    let strings = attributes.strings("classlabels_strings")?.map_or(0, <[Vec<u8>]>::len);
    let count = match (ints, strings) {
        (0, 0) => {
            return Err(invalid(
                "no class labels (classlabels_int64s or classlabels_strings)".into(),
            ));
        }
        (k, 0) | (0, k) => k,
        _ => {
            return Err(invalid(
                "both classlabels_int64s and classlabels_strings are given".into(),
            ));
        }
    };
    if count < 2 {
        return Err(ModelError::Unsupported("a classifier with one class label".into()));
    }
    if count > MAX_CLASSES {
        return Err(ModelError::Unsupported(format!(
            "{count} classes (at most {MAX_CLASSES})"
        )));
    }
    Ok(count)
}

fn import_classifier(attributes: &Attributes<'_>, declared_features: Option<usize>) -> Result<Pending> {
    let classes = class_count(attributes)?;
    let post_transform = PostTransform::read(attributes)?;
    let nodes = NodeArrays::read(attributes)?;
    let votes = Votes::read(attributes, "class", classes)?;
    let base = attributes
        .reals("base_values", "base_values_as_tensor")?
        .unwrap_or_default();
    let used: BTreeSet<usize> = votes.columns.iter().copied().collect();
    let num_features = resolve_features(declared_features, nodes.split_features())?;
    let skeletons = build_skeletons(&nodes, &votes, num_features)?;
    let shape = if classes == 2 && used.len() == 1 {
        binary_case(&used, post_transform, &base)?
    } else {
        per_class_columns(classes, post_transform, base, &skeletons)?
    };
    Ok(Pending {
        ensemble: TreeEnsemble {
            feature_names: Vec::new(),
            num_features,
            objective: shape.objective,
            arithmetic: Arithmetic::F32,
            base_margins: shape.base_margins,
            trees: Vec::new(),
        },
        skeletons,
        outputs: shape.outputs,
        scale: shape.scale,
    })
}

/// How a classifier's score columns become the ensemble's outputs.
struct ClassifierShape {
    objective: Objective,
    base_margins: Vec<f64>,
    /// Per score column, the output it adds to (`None`: dropped).
    outputs: Vec<Option<usize>>,
    /// What is done to every leaf weight.
    scale: Scale,
}

/// ONNX's binary case: two labels and one class id voted for. The sum `s` is class 1's
/// score; class 0's is `1 - s` (NONE, PROBIT) or `-s` (LOGISTIC, SOFTMAX, SOFTMAX_ZERO).
fn binary_case(used: &BTreeSet<usize>, post_transform: PostTransform, base: &[f64]) -> Result<ClassifierShape> {
    if !used.contains(&0) {
        return Err(ModelError::Unsupported(
            "a binary classifier whose votes all go to class id 1 (the ONNX reference and onnxruntime disagree on it)"
                .into(),
        ));
    }
    let base = match base {
        [] => 0.0,
        [b] => *b,
        [_, _] => {
            return Err(ModelError::Unsupported(
                "two base_values in the binary case (the ONNX reference and onnxruntime disagree on them)".into(),
            ));
        }
        more => {
            return Err(invalid(format!(
                "base_values has {} entries for a binary classifier",
                more.len()
            )));
        }
    };
    let (objective, scale) = match post_transform {
        PostTransform::None => (Objective::AveragedProbabilities { classes: 2 }, 1.0),
        PostTransform::Logistic => (Objective::BinaryLogistic, 1.0),
        // softmax(-s, s) = (sigmoid(-2s), sigmoid(2s)).
        PostTransform::Softmax => (Objective::BinaryLogistic, 2.0),
        other => {
            return Err(ModelError::Unsupported(format!(
                "post_transform `{}` on a binary classifier (only NONE, LOGISTIC and SOFTMAX)",
                other.name()
            )));
        }
    };
    Ok(ClassifierShape {
        objective,
        base_margins: vec![base * scale],
        outputs: vec![Some(0), None],
        scale: Scale::Times(scale),
    })
}

/// A classifier with a score column per class.
fn per_class_columns(
    classes: usize,
    post_transform: PostTransform,
    base: Vec<f64>,
    skeletons: &[Skeleton],
) -> Result<ClassifierShape> {
    let base = match base.len() {
        0 => vec![0.0; classes],
        n if n == classes => base,
        n => return Err(invalid(format!("base_values has {n} entries for {classes} classes"))),
    };
    let every_column = (0..classes).map(Some).collect();
    match post_transform {
        PostTransform::Softmax => Ok(ClassifierShape {
            objective: Objective::MultiSoftprob { classes },
            base_margins: base,
            outputs: every_column,
            scale: Scale::Times(1.0),
        }),
        PostTransform::None if classes > 2 => Ok(ClassifierShape {
            objective: Objective::AveragedProbabilities { classes },
            base_margins: base,
            outputs: every_column,
            scale: Scale::Times(1.0),
        }),
        PostTransform::None => {
            check_complementary(skeletons, &base)?;
            Ok(ClassifierShape {
                objective: Objective::AveragedProbabilities { classes: 2 },
                base_margins: vec![base[1]],
                outputs: vec![None, Some(0)],
                scale: Scale::Times(1.0),
            })
        }
        other => Err(ModelError::Unsupported(format!(
            "post_transform `{}` on a classifier with a score per class (only NONE and SOFTMAX)",
            other.name()
        ))),
    }
}

/// A two-class `NONE` model is kept as class 1's score `p` alone, class 0 being `1 - p`: in
/// every tree the two votes of every leaf must sum to one constant, and the constants and
/// both base values to 1.
fn check_complementary(skeletons: &[Skeleton], base: &[f64]) -> Result<()> {
    let refuse = |why: &str| {
        ModelError::Unsupported(format!(
            "a two-class classifier with post_transform NONE whose class scores {why} (Blindfold models class 0 \
             as 1 - p)"
        ))
    };
    let mut total: f64 = base.iter().sum();
    for skeleton in skeletons {
        let mut tree_sum: Option<f64> = None;
        for part in &skeleton.nodes {
            if let Part::Leaf { votes } = part {
                let sum: f64 = votes.iter().map(|&(_, w)| w).sum();
                match tree_sum {
                    None => tree_sum = Some(sum),
                    Some(first) if (sum - first).abs() <= PROBABILITY_TOLERANCE * first.abs().max(1.0) => {}
                    Some(_) => return Err(refuse("depend on the leaf")),
                }
            }
        }
        total += tree_sum.unwrap_or(0.0);
    }
    if (total - 1.0).abs() > PROBABILITY_TOLERANCE {
        return Err(refuse(&format!("sum to {total}, not 1")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Opset 5: TreeEnsemble
// ---------------------------------------------------------------------------------------------

/// Where a `TreeEnsemble` child index points.
#[derive(Debug, Clone, Copy)]
enum Target {
    Node(usize),
    Leaf(usize),
}

/// The arrays of the opset 5 `TreeEnsemble`, checked for length.
struct TreeEnsembleArrays<'a> {
    roots: &'a [i64],
    feature_ids: &'a [i64],
    splits: Vec<f64>,
    modes: Vec<i64>,
    true_ids: &'a [i64],
    true_leafs: &'a [i64],
    false_ids: &'a [i64],
    false_leafs: &'a [i64],
    leaf_targets: &'a [i64],
    leaf_weights: Vec<f64>,
}

impl<'a> TreeEnsembleArrays<'a> {
    fn read(attributes: &Attributes<'a>) -> Result<Self> {
        let feature_ids = attributes.required_ints("nodes_featureids")?;
        let n = feature_ids.len();
        if n > MAX_NODES {
            return Err(ModelError::Unsupported(format!("more than {MAX_NODES} nodes")));
        }
        let modes_tensor = attributes
            .tensor("nodes_modes")?
            .ok_or_else(|| missing("nodes_modes"))?;
        // Counted before they are converted: a `uint8` element takes 8 bytes once converted.
        refuse_external(modes_tensor, "nodes_modes")?;
        let modes_len = tensor_len(modes_tensor);
        let arrays = Self {
            roots: attributes.required_ints("tree_roots")?,
            feature_ids,
            splits: attributes.required_real_tensor("nodes_splits")?,
            modes: if modes_len == n {
                tensor_ints(modes_tensor, "nodes_modes")?
            } else {
                Vec::new()
            },
            true_ids: attributes.required_ints("nodes_truenodeids")?,
            true_leafs: attributes.required_ints("nodes_trueleafs")?,
            false_ids: attributes.required_ints("nodes_falsenodeids")?,
            false_leafs: attributes.required_ints("nodes_falseleafs")?,
            leaf_targets: attributes.required_ints("leaf_targetids")?,
            leaf_weights: attributes.required_real_tensor("leaf_weights")?,
        };
        let mut lengths = vec![
            ("nodes_splits", arrays.splits.len()),
            (
                "nodes_modes",
                if modes_len == n { arrays.modes.len() } else { modes_len },
            ),
            ("nodes_truenodeids", arrays.true_ids.len()),
            ("nodes_trueleafs", arrays.true_leafs.len()),
            ("nodes_falsenodeids", arrays.false_ids.len()),
            ("nodes_falseleafs", arrays.false_leafs.len()),
        ];
        if let Some(tracks) = attributes.ints("nodes_missing_value_tracks_true")?
            && !tracks.is_empty()
        {
            lengths.push(("nodes_missing_value_tracks_true", tracks.len()));
        }
        if let Some((name, len)) = lengths.into_iter().find(|&(_, len)| len != n) {
            return Err(invalid(format!(
                "nodes_featureids has {n} entries but {name} has {len}"
            )));
        }
        if arrays.leaf_weights.len() != arrays.leaf_targets.len() {
            return Err(invalid(format!(
                "leaf_targetids has {} entries but leaf_weights has {}",
                arrays.leaf_targets.len(),
                arrays.leaf_weights.len()
            )));
        }
        if arrays.roots.is_empty() {
            return Err(invalid("tree_roots is empty".into()));
        }
        if arrays.roots.len() > MAX_TREES {
            return Err(ModelError::Unsupported(format!("more than {MAX_TREES} trees")));
        }
        Ok(arrays)
    }

    /// Node `i`'s true (or false) child.
    fn child(&self, i: usize, true_side: bool) -> Result<Target> {
        let (ids, leafs, side) = if true_side {
            (self.true_ids, self.true_leafs, "true")
        } else {
            (self.false_ids, self.false_leafs, "false")
        };
        let id = ids[i];
        let (is_leaf, count) = match leafs[i] {
            0 => (false, self.feature_ids.len()),
            1 => (true, self.leaf_targets.len()),
            other => return Err(invalid(format!("nodes_{side}leafs[{i}] is {other}, not 0 or 1"))),
        };
        let index = usize::try_from(id)
            .ok()
            .filter(|&c| c < count)
            .ok_or_else(|| invalid(format!("node {i}'s {side} child {id} is outside 0..{count}")))?;
        Ok(if is_leaf {
            Target::Leaf(index)
        } else {
            Target::Node(index)
        })
    }

    /// The features split nodes use (for the input width when it is not declared).
    fn split_features(&self) -> impl Iterator<Item = i64> + '_ {
        self.feature_ids.iter().copied()
    }
}

fn import_tree_ensemble(attributes: &Attributes<'_>, declared_features: Option<usize>) -> Result<Pending> {
    let post_transform = attributes
        .int("post_transform")?
        .map_or(Ok(PostTransform::None), PostTransform::from_code)?;
    if post_transform != PostTransform::None {
        return Err(regressor_transform(post_transform));
    }
    check_single_target(attributes.int("n_targets")?)?;
    let aggregate = attributes
        .int("aggregate_function")?
        .map_or(Ok(Aggregate::Sum), Aggregate::from_code)?;
    let arrays = TreeEnsembleArrays::read(attributes)?;
    let num_features = resolve_features(declared_features, arrays.split_features())?;
    let mut reached = vec![false; arrays.feature_ids.len()];
    let skeletons = arrays
        .roots
        .iter()
        .enumerate()
        .map(|(t, &root)| {
            let name = format!("tree {t}");
            let nodes =
                tree_ensemble_skeleton(&arrays, root, num_features, &mut reached).map_err(|e| e.within(&name))?;
            Ok(Skeleton { name, nodes })
        })
        .collect::<Result<Vec<Skeleton>>>()?;
    Ok(Pending {
        ensemble: TreeEnsemble {
            feature_names: Vec::new(),
            num_features,
            objective: Objective::RegSquaredError,
            arithmetic: Arithmetic::F32,
            base_margins: vec![0.0],
            trees: Vec::new(),
        },
        skeletons,
        outputs: vec![Some(0)],
        scale: aggregate.scale(arrays.roots.len()),
    })
}

/// The nodes of the tree at node `root`, walked from the root; a split node reached twice
/// (here or in an earlier tree, per `reached`) is a cycle or a shared subtree.
fn tree_ensemble_skeleton(
    arrays: &TreeEnsembleArrays<'_>,
    root: i64,
    num_features: usize,
    reached: &mut [bool],
) -> Result<Vec<Part>> {
    let nodes = arrays.feature_ids.len();
    let root = usize::try_from(root)
        .ok()
        .filter(|&r| r < nodes)
        .ok_or_else(|| invalid(format!("root {root} is outside 0..{nodes}")))?;
    let start = match (arrays.child(root, true)?, arrays.child(root, false)?) {
        (Target::Leaf(a), Target::Leaf(b)) if a == b => Target::Leaf(a),
        _ => Target::Node(root),
    };
    let mut parts = vec![Part::Leaf { votes: Vec::new() }];
    let mut stack = vec![(start, 0usize)];
    while let Some((target, slot)) = stack.pop() {
        parts[slot] = match target {
            Target::Leaf(j) => {
                let target = arrays.leaf_targets[j];
                if target != 0 {
                    return Err(invalid(format!("leaf {j} adds to target {target} of 1")));
                }
                Part::Leaf {
                    votes: vec![(0, arrays.leaf_weights[j])],
                }
            }
            Target::Node(i) => {
                if std::mem::replace(&mut reached[i], true) {
                    return Err(invalid(format!(
                        "node {i} is reached twice (a cycle or a shared subtree)"
                    )));
                }
                let feature = split_feature(arrays.feature_ids[i], num_features, i as i64)?;
                let rule = Rule::from_code(arrays.modes[i])?;
                let value = arrays.splits[i];
                if !value.is_finite() {
                    return Err(invalid(format!("node {i} has threshold {value}")));
                }
                let (threshold, true_left) = rule.normalise(value);
                let (true_slot, false_slot) = (parts.len(), parts.len() + 1);
                parts.push(Part::Leaf { votes: Vec::new() });
                parts.push(Part::Leaf { votes: Vec::new() });
                stack.push((arrays.child(i, true)?, true_slot));
                stack.push((arrays.child(i, false)?, false_slot));
                let (left, right) = if true_left {
                    (true_slot, false_slot)
                } else {
                    (false_slot, true_slot)
                };
                Part::Split {
                    feature,
                    threshold,
                    left,
                    right,
                }
            }
        };
    }
    Ok(parts)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn invalid(message: String) -> ModelError {
    ModelError::InvalidModel(message)
}

fn missing(name: &str) -> ModelError {
    invalid(format!("missing attribute `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;
    use proto::ModelProto;

    struct Fixture {
        name: &'static str,
        model: &'static [u8],
        test_csv: &'static str,
        expected_csv: &'static str,
    }

    macro_rules! fixture {
        ($dir:literal) => {
            Fixture {
                name: $dir,
                model: include_bytes!(concat!("../../../fixtures/", $dir, "/model.onnx")),
                test_csv: include_str!(concat!("../../../fixtures/", $dir, "/test.csv")),
                expected_csv: include_str!(concat!("../../../fixtures/", $dir, "/expected.csv")),
            }
        };
    }

    const RANDOM_FOREST: Fixture = fixture!("sklearn-random-forest");
    const DECISION_TREE: Fixture = fixture!("sklearn-decision-tree");
    const HIST_GRADIENT_BOOSTING: Fixture = fixture!("sklearn-hist-gradient-boosting");
    const GRADIENT_BOOSTING_REGRESSOR: Fixture = fixture!("sklearn-gradient-boosting-regressor");

    fn test_rows(fixture: &Fixture) -> Vec<Vec<f64>> {
        let test = Dataset::from_csv(fixture.test_csv).unwrap();
        let features: Vec<String> = test.columns.iter().filter(|c| *c != "target").cloned().collect();
        test.select(&features).unwrap()
    }

    /// The largest gap between the ensemble's predictions and the library's, relative to
    /// max(|expected|, 1).
    fn reproduction_gap(ensemble: &TreeEnsemble, fixture: &Fixture) -> f64 {
        let rows = test_rows(fixture);
        let expected = Dataset::from_csv(fixture.expected_csv).unwrap().rows;
        assert_eq!(rows.len(), expected.len(), "{}", fixture.name);
        let mut gap: f64 = 0.0;
        for (row, want) in rows.iter().zip(&expected) {
            let got = ensemble.predict(row);
            assert_eq!(got.len(), want.len(), "{}", fixture.name);
            for (g, w) in got.iter().zip(want) {
                gap = gap.max((g - w).abs() / w.abs().max(1.0));
            }
        }
        gap
    }

    fn decode(bytes: &[u8]) -> ModelProto {
        ModelProto::decode(bytes).unwrap()
    }

    fn graph(model: &mut ModelProto) -> &mut GraphProto {
        model.graph.as_mut().unwrap()
    }

    fn tree_node(model: &mut ModelProto) -> &mut NodeProto {
        graph(model)
            .node
            .iter_mut()
            .find(|n| TreeOp::from_op_type(n.op_type.as_deref().unwrap_or_default()).is_some())
            .unwrap()
    }

    fn attribute<'m>(model: &'m mut ModelProto, name: &str) -> &'m mut AttributeProto {
        let node = tree_node(model);
        node.attribute
            .iter_mut()
            .find(|a| a.name.as_deref() == Some(name))
            .unwrap()
    }

    /// Replaces (or adds) attribute `name` of the tree node.
    fn set_attribute(model: &mut ModelProto, value: AttributeProto) {
        let node = tree_node(model);
        node.attribute.retain(|a| a.name != value.name);
        node.attribute.push(value);
    }

    fn remove_attribute(model: &mut ModelProto, name: &str) {
        tree_node(model).attribute.retain(|a| a.name.as_deref() != Some(name));
    }

    fn string_attribute(name: &str, value: &str) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(ATTR_STRING),
            s: Some(value.as_bytes().to_vec()),
            ..Default::default()
        }
    }

    fn int_attribute(name: &str, value: i64) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(ATTR_INT),
            i: Some(value),
            ..Default::default()
        }
    }

    fn ints_attribute(name: &str, values: Vec<i64>) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(ATTR_INTS),
            ints: values,
            ..Default::default()
        }
    }

    fn floats_attribute(name: &str, values: Vec<f32>) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(ATTR_FLOATS),
            floats: values,
            ..Default::default()
        }
    }

    fn strings_attribute(name: &str, values: &[&str]) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(ATTR_STRINGS),
            strings: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            ..Default::default()
        }
    }

    fn tensor_attribute(name: &str, tensor: TensorProto) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(ATTR_TENSOR),
            t: Some(tensor),
            ..Default::default()
        }
    }

    fn float_tensor(values: Vec<f32>) -> TensorProto {
        TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(FLOAT),
            float_data: values,
            ..Default::default()
        }
    }

    fn double_tensor(values: &[f64]) -> TensorProto {
        TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(DOUBLE),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        }
    }

    fn uint8_tensor(values: &[u8]) -> TensorProto {
        TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(UINT8),
            raw_data: Some(values.to_vec()),
            ..Default::default()
        }
    }

    fn edited(bytes: &[u8], edit: impl FnOnce(&mut ModelProto)) -> Vec<u8> {
        let mut model = decode(bytes);
        edit(&mut model);
        model.encode_to_vec()
    }

    fn error(bytes: &[u8]) -> String {
        import_onnx(bytes).unwrap_err().to_string()
    }

    #[test]
    fn reproduces_every_fixture() {
        let cases = [
            (&RANDOM_FOREST, Objective::AveragedProbabilities { classes: 2 }, 30),
            (&DECISION_TREE, Objective::AveragedProbabilities { classes: 3 }, 13),
            (&HIST_GRADIENT_BOOSTING, Objective::BinaryLogistic, 30),
            (&GRADIENT_BOOSTING_REGRESSOR, Objective::RegSquaredError, 10),
        ];
        for (fixture, objective, num_features) in cases {
            let ensemble = import_onnx(fixture.model).unwrap();
            assert_eq!(ensemble.objective, objective, "{}", fixture.name);
            assert_eq!(ensemble.num_features, num_features, "{}", fixture.name);
            assert_eq!(ensemble.arithmetic, Arithmetic::F32);
            assert!(ensemble.feature_names.is_empty());
            assert_eq!(ensemble.base_margins.len(), objective.outputs());
            let gap = reproduction_gap(&ensemble, fixture);
            println!(
                "{}: {} trees, max relative gap {gap:e}",
                fixture.name,
                ensemble.trees.len()
            );
            assert!(gap <= 1e-5, "{}: gap {gap}", fixture.name);
        }
    }

    #[test]
    fn reads_the_binary_case_base_value_and_leaves() {
        let ensemble = import_onnx(HIST_GRADIENT_BOOSTING.model).unwrap();
        assert_eq!(ensemble.base_margins, vec![f64::from(0.516_690_73_f32)]);
        let forest = import_onnx(RANDOM_FOREST.model).unwrap();
        assert_eq!(forest.trees.len(), 10);
        assert!(forest.trees.iter().all(|(output, _)| *output == 0));
    }

    #[test]
    fn binary_softmax_is_a_sigmoid_of_twice_the_score() {
        let logistic = import_onnx(HIST_GRADIENT_BOOSTING.model).unwrap();
        let softmax = import_onnx(&edited(HIST_GRADIENT_BOOSTING.model, |m| {
            set_attribute(m, string_attribute("post_transform", "SOFTMAX"));
        }))
        .unwrap();
        assert_eq!(softmax.objective, Objective::BinaryLogistic);
        for row in test_rows(&HIST_GRADIENT_BOOSTING) {
            assert_eq!(softmax.margins(&row)[0], 2.0 * logistic.margins(&row)[0]);
        }
    }

    #[test]
    fn multiclass_softmax_keeps_a_margin_per_class() {
        let none = import_onnx(DECISION_TREE.model).unwrap();
        let softmax = import_onnx(&edited(DECISION_TREE.model, |m| {
            set_attribute(m, string_attribute("post_transform", "SOFTMAX"));
        }))
        .unwrap();
        assert_eq!(softmax.objective, Objective::MultiSoftprob { classes: 3 });
        for row in test_rows(&DECISION_TREE) {
            assert_eq!(softmax.margins(&row), none.margins(&row));
        }
    }

    /// The random forest with a vote per class (p0, p1) instead of the binary case's one.
    fn two_column_forest(base: Option<Vec<f32>>) -> Vec<u8> {
        edited(RANDOM_FOREST.model, |m| {
            let trees = attribute(m, "class_treeids").ints.clone();
            let nodes = attribute(m, "class_nodeids").ints.clone();
            let weights = attribute(m, "class_weights").floats.clone();
            let n = weights.len();
            let both = |v: &[i64]| v.iter().chain(v).copied().collect::<Vec<i64>>();
            set_attribute(m, ints_attribute("class_treeids", both(&trees)));
            set_attribute(m, ints_attribute("class_nodeids", both(&nodes)));
            let ids = std::iter::repeat_n(0, n).chain(std::iter::repeat_n(1, n)).collect();
            set_attribute(m, ints_attribute("class_ids", ids));
            let complement = weights.iter().map(|w| 0.1 - w);
            set_attribute(
                m,
                floats_attribute("class_weights", complement.chain(weights.iter().copied()).collect()),
            );
            if let Some(base) = base {
                set_attribute(m, floats_attribute("base_values", base));
            }
        })
    }

    #[test]
    fn folds_a_two_column_probability_model_into_one_output() {
        let ensemble = import_onnx(&two_column_forest(None)).unwrap();
        assert_eq!(ensemble.objective, Objective::AveragedProbabilities { classes: 2 });
        assert_eq!(ensemble.trees.len(), 10);
        assert!(reproduction_gap(&ensemble, &RANDOM_FOREST) <= 1e-5);

        let shifted = import_onnx(&two_column_forest(Some(vec![-0.25, 0.25]))).unwrap();
        assert_eq!(shifted.base_margins, vec![0.25]);

        let error = error(&two_column_forest(Some(vec![0.5, 0.0])));
        assert!(error.contains("sum to 1.5"), "{error}");
        let error = import_onnx(&edited(&two_column_forest(None), |m| {
            attribute(m, "class_weights").floats[0] += 0.05;
        }))
        .unwrap_err()
        .to_string();
        assert!(error.contains("depend on the leaf"), "{error}");
    }

    /// The regressor fixture's TreeEnsembleRegressor rewritten as an opset 5 TreeEnsemble
    /// (which has no base values), with double thresholds when `doubles`.
    fn as_tree_ensemble(bytes: &[u8], doubles: bool) -> Vec<u8> {
        edited(bytes, |m| {
            let ints = |m: &mut ModelProto, name: &str| attribute(m, name).ints.clone();
            let (tree_ids, node_ids, features) = (
                ints(m, "nodes_treeids"),
                ints(m, "nodes_nodeids"),
                ints(m, "nodes_featureids"),
            );
            let (true_ids, false_ids) = (ints(m, "nodes_truenodeids"), ints(m, "nodes_falsenodeids"));
            let values = attribute(m, "nodes_values").floats.clone();
            let modes: Vec<bool> = attribute(m, "nodes_modes")
                .strings
                .iter()
                .map(|s| s == b"LEAF")
                .collect();
            let (vote_trees, vote_nodes) = (ints(m, "target_treeids"), ints(m, "target_nodeids"));
            let vote_weights = attribute(m, "target_weights").floats.clone();
            let aggregate = tree_node(m)
                .attribute
                .iter()
                .find(|a| a.name.as_deref() == Some("aggregate_function"))
                .map(|a| a.s.clone().unwrap());

            // Split nodes and leaves get their own indices, in the file's order.
            let mut split_index = HashMap::new();
            let mut leaf_index = HashMap::new();
            for i in 0..tree_ids.len() {
                let key = (tree_ids[i], node_ids[i]);
                if modes[i] {
                    leaf_index.insert(key, leaf_index.len());
                } else {
                    split_index.insert(key, split_index.len());
                }
            }
            let mut leaf_weights = vec![0f32; leaf_index.len()];
            for k in 0..vote_trees.len() {
                leaf_weights[leaf_index[&(vote_trees[k], vote_nodes[k])]] += vote_weights[k];
            }
            let (mut splits, mut split_features, mut split_modes) = (Vec::new(), Vec::new(), Vec::new());
            let (mut t_ids, mut t_leafs, mut f_ids, mut f_leafs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut roots = BTreeMap::new();
            for i in 0..tree_ids.len() {
                if modes[i] {
                    continue;
                }
                let child = |id: i64| match leaf_index.get(&(tree_ids[i], id)) {
                    Some(&l) => (l as i64, 1),
                    None => (split_index[&(tree_ids[i], id)] as i64, 0),
                };
                if node_ids[i] == 0 {
                    roots.insert(tree_ids[i], split_index[&(tree_ids[i], 0)] as i64);
                }
                splits.push(f64::from(values[i]));
                split_features.push(features[i]);
                split_modes.push(0u8); // LEQ
                let (t, tl) = child(true_ids[i]);
                let (f, fl) = child(false_ids[i]);
                t_ids.push(t);
                t_leafs.push(tl);
                f_ids.push(f);
                f_leafs.push(fl);
            }
            let node = tree_node(m);
            node.op_type = Some("TreeEnsemble".into());
            node.attribute = vec![
                ints_attribute("tree_roots", roots.into_values().collect()),
                ints_attribute("nodes_featureids", split_features),
                tensor_attribute(
                    "nodes_splits",
                    if doubles {
                        double_tensor(&splits)
                    } else {
                        float_tensor(splits.iter().map(|&s| s as f32).collect())
                    },
                ),
                tensor_attribute("nodes_modes", uint8_tensor(&split_modes)),
                ints_attribute("nodes_truenodeids", t_ids),
                ints_attribute("nodes_trueleafs", t_leafs),
                ints_attribute("nodes_falsenodeids", f_ids),
                ints_attribute("nodes_falseleafs", f_leafs),
                ints_attribute("leaf_targetids", vec![0; leaf_weights.len()]),
                tensor_attribute("leaf_weights", float_tensor(leaf_weights)),
                int_attribute("n_targets", 1),
            ];
            if aggregate.as_deref() == Some(b"AVERAGE") {
                node.attribute.push(int_attribute("aggregate_function", 0));
            }
        })
    }

    #[test]
    fn reads_the_opset_5_tree_ensemble_like_the_regressor() {
        let average = edited(GRADIENT_BOOSTING_REGRESSOR.model, |m| {
            set_attribute(m, string_attribute("aggregate_function", "AVERAGE"));
        });
        for (original, doubles) in [
            (GRADIENT_BOOSTING_REGRESSOR.model, false),
            (GRADIENT_BOOSTING_REGRESSOR.model, true),
            (&average[..], false),
        ] {
            let regressor = import_onnx(original).unwrap();
            let ensemble = import_onnx(&as_tree_ensemble(original, doubles)).unwrap();
            assert_eq!(ensemble.objective, Objective::RegSquaredError);
            assert_eq!(ensemble.trees.len(), regressor.trees.len());
            assert_eq!(ensemble.splits(), regressor.splits());
            let base = regressor.base_margins[0];
            for row in test_rows(&GRADIENT_BOOSTING_REGRESSOR) {
                assert_eq!(ensemble.margins(&row)[0] + base, regressor.margins(&row)[0]);
            }
        }
    }

    #[test]
    fn averaging_divides_every_leaf_by_the_number_of_trees() {
        let sum = import_onnx(GRADIENT_BOOSTING_REGRESSOR.model).unwrap();
        let average = import_onnx(&edited(GRADIENT_BOOSTING_REGRESSOR.model, |m| {
            set_attribute(m, string_attribute("aggregate_function", "AVERAGE"));
        }))
        .unwrap();
        let n = sum.trees.len() as f64;
        for ((_, a), (_, s)) in average.trees.iter().zip(&sum.trees) {
            for (na, ns) in a.nodes.iter().zip(&s.nodes) {
                match (na, ns) {
                    (Node::Leaf { value: va }, Node::Leaf { value: vs }) => assert_eq!(*va, vs / n),
                    (a, s) => assert_eq!(a, s),
                }
            }
        }
    }

    /// (node id, feature, mode, threshold, true id, false id)
    type NodeRow<'a> = (i64, i64, &'a str, f64, i64, i64);

    /// A one-tree regressor on two features: `nodes` are (node id, feature, mode, threshold,
    /// true id, false id), `leaves` (node id, weight); thresholds as doubles when given so.
    fn regressor(nodes: &[NodeRow<'_>], leaves: &[(i64, f32)], doubles: bool) -> Vec<u8> {
        let graph = GraphProto {
            node: vec![NodeProto {
                op_type: Some("TreeEnsembleRegressor".into()),
                domain: Some(ML_DOMAIN.into()),
                input: vec!["X".into()],
                output: vec!["Y".into()],
                attribute: Vec::new(),
            }],
            input: vec![proto::ValueInfoProto {
                name: Some("X".into()),
                r#type: Some(proto::TypeProto {
                    value: Some(proto::type_proto::Value::TensorType(proto::type_proto::Tensor {
                        elem_type: Some(FLOAT),
                        shape: Some(proto::TensorShapeProto {
                            dim: vec![
                                proto::tensor_shape_proto::Dimension {
                                    value: Some(proto::tensor_shape_proto::dimension::Value::DimParam("N".into())),
                                },
                                proto::tensor_shape_proto::Dimension {
                                    value: Some(proto::tensor_shape_proto::dimension::Value::DimValue(2)),
                                },
                            ],
                        }),
                    })),
                }),
            }],
            ..Default::default()
        };
        let mut model = ModelProto {
            ir_version: Some(8),
            graph: Some(graph),
        };
        let n = nodes.len();
        let column = |f: fn(&NodeRow<'_>) -> i64| nodes.iter().map(f).collect::<Vec<i64>>();
        let modes: Vec<&str> = nodes.iter().map(|n| n.2).collect();
        let values: Vec<f64> = nodes.iter().map(|n| n.3).collect();
        for attribute in [
            ints_attribute("nodes_treeids", vec![7; n]),
            ints_attribute("nodes_nodeids", column(|n| n.0)),
            ints_attribute("nodes_featureids", column(|n| n.1)),
            strings_attribute("nodes_modes", &modes),
            if doubles {
                tensor_attribute("nodes_values_as_tensor", double_tensor(&values))
            } else {
                floats_attribute("nodes_values", values.iter().map(|&v| v as f32).collect())
            },
            ints_attribute("nodes_truenodeids", column(|n| n.4)),
            ints_attribute("nodes_falsenodeids", column(|n| n.5)),
            ints_attribute("target_treeids", vec![7; leaves.len()]),
            ints_attribute("target_nodeids", leaves.iter().map(|l| l.0).collect()),
            ints_attribute("target_ids", vec![0; leaves.len()]),
            floats_attribute("target_weights", leaves.iter().map(|l| l.1).collect()),
            int_attribute("n_targets", 1),
        ] {
            set_attribute(&mut model, attribute);
        }
        model.encode_to_vec()
    }

    /// One split on feature 0 with the leaf 1 on its true side, 2 on its false side.
    fn one_split(mode: &str, threshold: f64, doubles: bool) -> Vec<u8> {
        regressor(
            &[
                (0, 0, mode, threshold, 1, 2),
                (1, 0, "LEAF", 0.0, 0, 0),
                (2, 0, "LEAF", 0.0, 0, 0),
            ],
            &[(1, 1.0), (2, 2.0)],
            doubles,
        )
    }

    #[test]
    fn every_split_mode_decides_every_float_as_the_file_says() {
        let thresholds = [0.1, 1.0, -2.5, f64::from(0.3f32), 0.3, 1e-40, -1e-40, 5e38, -5e38, 0.0];
        for (mode, holds) in [
            ("BRANCH_LT", (|x, t| x < t) as fn(f64, f64) -> bool),
            ("BRANCH_LEQ", |x, t| x <= t),
            ("BRANCH_GTE", |x, t| x >= t),
            ("BRANCH_GT", |x, t| x > t),
        ] {
            for threshold in thresholds {
                for doubles in [false, true] {
                    let file_threshold = if doubles {
                        threshold
                    } else {
                        f64::from(threshold as f32)
                    };
                    if file_threshold.is_infinite() {
                        continue;
                    }
                    let ensemble = import_onnx(&one_split(mode, threshold, doubles)).unwrap();
                    let near = threshold as f32;
                    let probes = [
                        near.next_down().next_down(),
                        near.next_down(),
                        near,
                        near.next_up(),
                        near.next_up().next_up(),
                        f32::MAX,
                        f32::MIN,
                        0.0,
                        -0.0,
                    ];
                    for x in probes.into_iter().filter(|x| x.is_finite()) {
                        let want = if holds(f64::from(x), file_threshold) { 1.0 } else { 2.0 };
                        let got = ensemble.predict(&[f64::from(x), 0.0])[0];
                        assert_eq!(got, want, "{mode} {threshold} (doubles {doubles}) at x = {x:e}");
                    }
                }
            }
        }
    }

    #[test]
    fn builds_trees_root_first_whatever_the_node_order() {
        // Node ids need not start at 0 nor be listed root first.
        let bytes = regressor(
            &[
                (12, 0, "LEAF", 0.0, 0, 0),
                (5, 1, "BRANCH_LT", 0.5, 12, 13),
                (13, 0, "LEAF", 0.0, 0, 0),
            ],
            &[(12, 3.0), (13, 4.0), (12, 0.5)],
            false,
        );
        let ensemble = import_onnx(&bytes).unwrap();
        assert_eq!(ensemble.num_features, 2);
        let (_, tree) = &ensemble.trees[0];
        assert!(matches!(tree.nodes[0], Node::Split { feature: 1, .. }));
        assert_eq!(ensemble.predict(&[0.0, 0.0]), vec![3.5]);
        assert_eq!(ensemble.predict(&[0.0, 1.0]), vec![4.0]);
    }

    #[test]
    fn refuses_trees_deeper_than_the_limit() {
        let chain = |depth: i64| {
            let mut nodes = Vec::new();
            for i in 0..depth {
                nodes.push((i, 0, "BRANCH_LT", 0.5, i + 1, 1000 + i));
                nodes.push((1000 + i, 0, "LEAF", 0.0, 0, 0));
            }
            nodes.push((depth, 0, "LEAF", 0.0, 0, 0));
            regressor(&nodes, &[(depth, 1.0)], false)
        };
        let deepest = MAX_TREE_DEPTH as i64;
        assert!(import_onnx(&chain(deepest)).is_ok());
        let error = error(&chain(deepest + 1));
        assert!(
            error.contains("unsupported model: trees deeper than 32 (tree 7) (TreeEnsembleRegressor)"),
            "{error}"
        );
    }

    #[test]
    fn reads_string_class_labels() {
        let strings = import_onnx(&edited(DECISION_TREE.model, |m| {
            remove_attribute(m, "classlabels_int64s");
            set_attribute(m, strings_attribute("classlabels_strings", &["a", "b", "c"]));
        }))
        .unwrap();
        assert_eq!(strings, import_onnx(DECISION_TREE.model).unwrap());
        let error = error(&edited(DECISION_TREE.model, |m| {
            set_attribute(m, strings_attribute("classlabels_strings", &["a", "b", "c"]));
        }));
        assert!(
            error.contains("both classlabels_int64s and classlabels_strings"),
            "{error}"
        );
    }

    #[test]
    fn refuses_malformed_and_unsupported_files() {
        let rf = RANDOM_FOREST.model;
        let gbr = GRADIENT_BOOSTING_REGRESSOR.model;
        let leaf = ("LEAF", 0.0);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                b"this is not protobuf \xff\xff".to_vec(),
                "invalid model: not an ONNX model",
            ),
            (rf[..rf.len() / 2].to_vec(), "invalid model: not an ONNX model"),
            (rf[..rf.len() - 3].to_vec(), "invalid model: not an ONNX model"),
            (Vec::new(), "invalid model: the model has no graph"),
            (
                edited(rf, |m| {
                    graph(m)
                        .node
                        .retain(|n| n.op_type.as_deref() != Some("TreeEnsembleClassifier"))
                }),
                "unsupported model: a graph without a tree ensemble operator",
            ),
            (
                edited(rf, |m| {
                    graph(m).node.push(NodeProto {
                        op_type: Some("Scaler".into()),
                        domain: Some(ML_DOMAIN.into()),
                        ..Default::default()
                    })
                }),
                "unsupported model: ONNX operator `Scaler` that does not scale the model's input (only a scaler in front of the model)",
            ),
            (
                edited(rf, |m| {
                    let copy = tree_node(m).clone();
                    graph(m).node.push(copy);
                }),
                "a second tree ensemble operator `TreeEnsembleClassifier`",
            ),
            (
                edited(rf, |m| tree_node(m).domain = Some(String::new())),
                "unsupported model: ONNX operator `TreeEnsembleClassifier` of domain ``",
            ),
            (
                edited(rf, |m| {
                    graph(m).node.insert(
                        0,
                        NodeProto {
                            op_type: Some("ZipMap".into()),
                            domain: Some(ML_DOMAIN.into()),
                            input: vec!["raw".into()],
                            output: vec!["X".into()],
                            ..Default::default()
                        },
                    )
                }),
                "input `X` is computed by operator `ZipMap`",
            ),
            (
                edited(rf, |m| {
                    let input = &mut graph(m).input[0];
                    if let Some(proto::type_proto::Value::TensorType(t)) =
                        input.r#type.as_mut().and_then(|t| t.value.as_mut())
                    {
                        t.elem_type = Some(DOUBLE);
                    }
                }),
                "unsupported model: input `X` of element type DOUBLE",
            ),
            (
                edited(rf, |m| graph(m).input.clear()),
                "invalid model: the tree ensemble's input `X` is not a graph input",
            ),
            (
                edited(rf, |m| {
                    let input = &mut graph(m).input[0];
                    if let Some(proto::type_proto::Value::TensorType(t)) =
                        input.r#type.as_mut().and_then(|t| t.value.as_mut())
                    {
                        t.shape.as_mut().unwrap().dim[1].value =
                            Some(proto::tensor_shape_proto::dimension::Value::DimValue(20));
                    }
                }),
                "splits on feature 27 of 20",
            ),
            (
                edited(rf, |m| {
                    attribute(m, "nodes_values").floats.pop();
                }),
                "invalid model: TreeEnsembleClassifier: nodes_treeids has 212 entries but nodes_values has 211",
            ),
            (
                edited(rf, |m| attribute(m, "nodes_truenodeids").ints[0] = 99_999),
                "invalid model: TreeEnsembleClassifier: tree 0: node 0's true child 99999 is not a node of this tree",
            ),
            (
                edited(rf, |m| attribute(m, "nodes_modes").strings[0] = b"BRANCH_EQ".to_vec()),
                "unsupported model: node mode `BRANCH_EQ`",
            ),
            (
                edited(rf, |m| attribute(m, "nodes_modes").strings[0] = b"SIDEWAYS".to_vec()),
                "invalid model: TreeEnsembleClassifier: unknown node mode `SIDEWAYS`",
            ),
            (
                edited(rf, |m| attribute(m, "nodes_values").floats[0] = f32::NAN),
                "invalid model: TreeEnsembleClassifier: `nodes_values[0]` is not finite",
            ),
            (
                edited(rf, |m| attribute(m, "class_weights").floats[3] = f32::INFINITY),
                "`class_weights[3]` is not finite",
            ),
            (
                edited(rf, |m| attribute(m, "class_nodeids").ints[0] = 0),
                "vote 0 is for node 0 of tree 0, which is not a leaf",
            ),
            (
                edited(rf, |m| attribute(m, "class_ids").ints[0] = 2),
                "class_ids[0] = 2 is outside 0..2",
            ),
            (
                edited(rf, |m| attribute(m, "nodes_nodeids").ints[1] = 0),
                "node 0 of tree 0 appears twice",
            ),
            (
                edited(rf, |m| remove_attribute(m, "classlabels_int64s")),
                "no class labels",
            ),
            (
                edited(rf, |m| set_attribute(m, string_attribute("post_transform", "PROBIT"))),
                "unsupported model: post_transform `PROBIT` on a binary classifier",
            ),
            (
                edited(rf, |m| attribute(m, "class_ids").ints.fill(1)),
                "votes all go to class id 1",
            ),
            (
                edited(rf, |m| {
                    set_attribute(m, floats_attribute("base_values", vec![0.1, 0.2]))
                }),
                "two base_values in the binary case",
            ),
            (
                edited(DECISION_TREE.model, |m| {
                    set_attribute(m, string_attribute("post_transform", "LOGISTIC"))
                }),
                "post_transform `LOGISTIC` on a classifier with a score per class",
            ),
            (
                edited(DECISION_TREE.model, |m| {
                    set_attribute(m, floats_attribute("base_values", vec![0.1]))
                }),
                "base_values has 1 entries for 3 classes",
            ),
            (
                edited(gbr, |m| set_attribute(m, string_attribute("aggregate_function", "MIN"))),
                "unsupported model: aggregate_function `MIN`",
            ),
            (
                edited(gbr, |m| set_attribute(m, int_attribute("n_targets", 2))),
                "unsupported model: n_targets 2",
            ),
            (
                edited(gbr, |m| {
                    set_attribute(m, string_attribute("post_transform", "LOGISTIC"))
                }),
                "unsupported model: post_transform `LOGISTIC` on a regressor",
            ),
            (
                edited(gbr, |m| {
                    set_attribute(m, tensor_attribute("nodes_values_as_tensor", double_tensor(&[1.0])))
                }),
                "both `nodes_values` and `nodes_values_as_tensor` are given",
            ),
            (
                edited(gbr, |m| {
                    let a = attribute(m, "nodes_values");
                    a.r#type = Some(ATTR_INTS);
                }),
                "attribute `nodes_values` is not a list of floats",
            ),
            (
                // 0 -> (1, 2), 1 -> (0, 2): every node is a child.
                regressor(
                    &[
                        (0, 0, "BRANCH_LT", 0.5, 1, 2),
                        (1, 0, "BRANCH_LT", 0.5, 0, 2),
                        (2, 0, leaf.0, leaf.1, 0, 0),
                    ],
                    &[(2, 1.0)],
                    false,
                ),
                "invalid model: TreeEnsembleRegressor: tree 7: every node is some node's child (a cycle)",
            ),
            (
                // 0 -> (1, 2), 1 -> (1, 3): node 1 is its own child.
                regressor(
                    &[
                        (0, 0, "BRANCH_LT", 0.5, 1, 2),
                        (1, 0, "BRANCH_LT", 0.5, 1, 3),
                        (2, 0, leaf.0, leaf.1, 0, 0),
                        (3, 0, leaf.0, leaf.1, 0, 0),
                    ],
                    &[(2, 1.0)],
                    false,
                ),
                "reached twice",
            ),
            (
                // 0 -> (1, 2), 1 -> (2, 3): leaf 2 has two parents.
                regressor(
                    &[
                        (0, 0, "BRANCH_LT", 0.5, 1, 2),
                        (1, 0, "BRANCH_LT", 0.5, 2, 3),
                        (2, 0, leaf.0, leaf.1, 0, 0),
                        (3, 0, leaf.0, leaf.1, 0, 0),
                    ],
                    &[(2, 1.0)],
                    false,
                ),
                "reached twice",
            ),
            (
                regressor(
                    &[(0, 0, leaf.0, leaf.1, 0, 0), (1, 0, leaf.0, leaf.1, 0, 0)],
                    &[(0, 1.0)],
                    false,
                ),
                "nodes 0 and 1 are both nobody's child (two roots)",
            ),
            (
                regressor(
                    &[
                        (0, 5, "BRANCH_LT", 0.5, 1, 2),
                        (1, 0, leaf.0, leaf.1, 0, 0),
                        (2, 0, leaf.0, leaf.1, 0, 0),
                    ],
                    &[(1, 1.0)],
                    false,
                ),
                "node 0 splits on feature 5 of 2",
            ),
            (
                regressor(&[(0, 0, leaf.0, leaf.1, 0, 0)], &[(3, 1.0)], false),
                "vote 0 is for node 3 of tree 7, which does not exist",
            ),
            (
                regressor(&[(0, 0, leaf.0, leaf.1, 0, 0)], &[], false),
                "no leaf has a weight",
            ),
            (vec![0x08; MAX_MODEL_ONNX_BYTES + 1], "too large"),
        ];
        for (bytes, needle) in cases {
            let error = error(&bytes);
            assert!(error.contains(needle), "expected `{needle}` in `{error}`");
        }
    }

    #[test]
    fn refuses_malformed_and_unsupported_opset_5_ensembles() {
        let v5 = as_tree_ensemble(GRADIENT_BOOSTING_REGRESSOR.model, false);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                edited(&v5, |m| {
                    set_attribute(m, tensor_attribute("nodes_modes", uint8_tensor(&[4; 3])))
                }),
                "nodes_featureids has",
            ),
            (
                edited(&v5, |m| {
                    let n = attribute(m, "nodes_featureids").ints.len();
                    let mut modes = vec![0u8; n];
                    modes[0] = 4;
                    set_attribute(m, tensor_attribute("nodes_modes", uint8_tensor(&modes)));
                }),
                "unsupported model: node mode `BRANCH_EQ`",
            ),
            (
                edited(&v5, |m| attribute(m, "nodes_truenodeids").ints[0] = 0),
                "node 0 is reached twice (a cycle or a shared subtree)",
            ),
            (
                edited(&v5, |m| attribute(m, "nodes_trueleafs").ints[0] = 2),
                "nodes_trueleafs[0] is 2, not 0 or 1",
            ),
            (
                edited(&v5, |m| attribute(m, "tree_roots").ints[0] = -1),
                "root -1 is outside",
            ),
            (
                edited(&v5, |m| attribute(m, "leaf_targetids").ints[0] = 1),
                "adds to target 1 of 1",
            ),
            (
                edited(&v5, |m| set_attribute(m, int_attribute("aggregate_function", 3))),
                "unsupported model: aggregate_function `MAX`",
            ),
            (
                edited(&v5, |m| set_attribute(m, int_attribute("post_transform", 4))),
                "unsupported model: post_transform `PROBIT` on a regressor",
            ),
            (
                edited(&v5, |m| set_attribute(m, int_attribute("n_targets", 3))),
                "unsupported model: n_targets 3",
            ),
            (
                edited(&v5, |m| {
                    let tensor = attribute(m, "leaf_weights").t.as_mut().unwrap();
                    tensor.data_location = Some(1);
                }),
                "stored in an external file",
            ),
            (
                edited(&v5, |m| {
                    let tensor = attribute(m, "nodes_splits").t.as_mut().unwrap();
                    tensor.data_type = Some(10);
                }),
                "tensor `nodes_splits` of data type FLOAT16",
            ),
            (
                edited(&v5, |m| attribute(m, "nodes_splits").t.as_mut().unwrap().dims = vec![3]),
                "tensor `nodes_splits` has dims [3]",
            ),
        ];
        for (bytes, needle) in cases {
            let error = error(&bytes);
            assert!(error.contains(needle), "expected `{needle}` in `{error}`");
        }
    }

    #[test]
    fn reads_an_undeclared_width_from_the_splits() {
        let bytes = edited(RANDOM_FOREST.model, |m| {
            let input = &mut graph(m).input[0];
            if let Some(proto::type_proto::Value::TensorType(t)) = input.r#type.as_mut().and_then(|t| t.value.as_mut())
            {
                t.shape = None;
            }
        });
        let ensemble = import_onnx(&bytes).unwrap();
        let largest = attribute(&mut decode(RANDOM_FOREST.model), "nodes_featureids")
            .ints
            .iter()
            .copied()
            .max()
            .unwrap();
        assert_eq!(ensemble.num_features as i64, largest + 1);
    }

    /// A small deterministic generator for the corruption test.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    #[test]
    fn never_panics_on_corrupted_files() {
        let mut rng = Lcg(42);
        let v5 = as_tree_ensemble(GRADIENT_BOOSTING_REGRESSOR.model, true);
        let files = [
            RANDOM_FOREST.model,
            DECISION_TREE.model,
            HIST_GRADIENT_BOOSTING.model,
            GRADIENT_BOOSTING_REGRESSOR.model,
            &v5,
        ];
        for original in files {
            for cut in (0..original.len()).step_by(7) {
                let _ = import_onnx(&original[..cut]);
            }
            for _ in 0..3000 {
                let mut bytes = original.to_vec();
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() as usize) % bytes.len();
                    bytes[at] = rng.next() as u8;
                }
                let _ = import_onnx(&bytes);
            }
        }
        // Hostile values in well-formed protobuf.
        for value in [i64::MIN, -1, i64::MAX, 1 << 40] {
            for name in [
                "nodes_treeids",
                "nodes_nodeids",
                "nodes_featureids",
                "nodes_truenodeids",
                "class_ids",
            ] {
                let bytes = edited(RANDOM_FOREST.model, |m| attribute(m, name).ints[0] = value);
                let _ = import_onnx(&bytes);
            }
            for name in [
                "tree_roots",
                "nodes_featureids",
                "nodes_truenodeids",
                "nodes_falsenodeids",
                "leaf_targetids",
            ] {
                let bytes = edited(&v5, |m| attribute(m, name).ints[0] = value);
                let _ = import_onnx(&bytes);
            }
        }
    }

    /// A split made on a scaled feature, rewritten on the raw one, sends every value where the
    /// scaled split did: for a positive, a negative and a zero scale.
    #[test]
    fn a_scaler_in_front_folds_into_the_splits() {
        use crate::compiler::linear::FeatureAffine;
        let split = |threshold| Tree {
            nodes: vec![
                Node::Split {
                    feature: 0,
                    threshold,
                    left: 1,
                    right: 2,
                },
                Node::Leaf { value: -1.0 },
                Node::Leaf { value: 1.0 },
            ],
        };
        for (scale, offset) in [(0.5, -3.0), (-2.0, 3.0), (0.0, 0.25), (0.0, 4.0), (1e-3, 0.0)] {
            let affine = FeatureAffine {
                scale: vec![scale],
                offset: vec![offset],
            };
            let mut folded = split(1.0);
            fold_scaler(&mut folded, &affine);
            for x in [
                -1e6,
                -10.0,
                -1.0,
                0.0,
                0.25,
                1.0,
                1.0 + 1e-6,
                1.5,
                8.0,
                8.0 + 1e-5,
                1000.0,
                1e9,
            ] {
                let x = f64::from(x as f32);
                let scaled = f64::from((x * scale + offset) as f32);
                assert_eq!(
                    folded.leaf_value(&[x], Arithmetic::F32),
                    split(1.0).leaf_value(&[scaled], Arithmetic::F32),
                    "x = {x}, scale {scale}, offset {offset}"
                );
            }
        }
    }
}
