//! Linear models saved as ONNX, such as scikit-learn's `LogisticRegression`, `Ridge` or
//! `LinearSVR` behind a scaler, exported by `skl2onnx.to_onnx(pipeline, X[:1].astype(np.float32))`.
//!
//! # What is read
//!
//! The graph has one input of `float`s (the features) and exactly one linear head of the
//! `ai.onnx.ml` domain: `LinearClassifier` or `LinearRegressor`. Between the input and the head
//! only per-feature affine steps are allowed, which are folded into the head's weights
//! ([`FeatureAffine`]):
//!
//! - `Scaler` (`ai.onnx.ml`): `y = (x - offset) * scale`, each attribute one value or one per
//!   feature (what skl2onnx writes for `StandardScaler`, `RobustScaler`, `MaxAbsScaler`);
//! - `Mul`, `Add`, `Sub` and `Div` of the features and a constant initializer of one value or
//!   one per feature, in either order for `Mul`, `Add` and `Sub` (`MinMaxScaler`'s export);
//! - `Cast` to `float` or `double`, and `Identity`.
//!
//! After the head, only output plumbing that does not change its scores may follow: `ZipMap`,
//! `Cast`, `Identity`, `Normalizer`, `ArrayFeatureExtractor`, `Reshape`. Any other operator is
//! refused by name, as is a node that reads neither the features nor what follows from them.
//!
//! # The head
//!
//! `coefficients` holds one row of weights per class (classifier) or target (regressor), in
//! row-major order, and `intercepts` one value per row or none. The rows' scores are
//! `coefficients · x + intercepts`; the objective follows `post_transform`:
//!
//! - regressor, one target, `NONE`: [`Objective::RegSquaredError`];
//! - classifier with two labels and two rows: `LOGISTIC` when the rows are each other's
//!   negation (skl2onnx's binary `LogisticRegression`: `[-w, w]`, so that the two sigmoids are
//!   `1 - p` and `p`), or `SOFTMAX` (whose `softmax(s0, s1)` is `sigmoid(s1 - s0)`):
//!   [`Objective::BinaryLogistic`] with class 1's margin `s1` (`LOGISTIC`) or `s1 - s0`
//!   (`SOFTMAX`);
//! - classifier with K > 2 labels and K rows, `SOFTMAX`: [`Objective::MultiSoftprob`];
//! - classifier without probabilities, `NONE` (`LinearSVC`; skl2onnx's binary export keeps
//!   only class 1's column with an `ArrayFeatureExtractor`): [`Objective::DecisionScores`],
//!   with class 1's score `s1` alone when the two rows are each other's negation (binary), or
//!   a score per class (K > 2).
//!
//! Refused by name: a binary `NONE` head whose rows are not each other's negation, one-vs-rest
//! sigmoids (`LOGISTIC` with K > 2 rows), other transforms, several regression targets, and a
//! classifier whose rows are not one per label. Limits: [`MAX_LINEAR_OUTPUTS`] rows,
//! [`MAX_LINEAR_WEIGHTS`] weights, [`MAX_FEATURES`] features.
//!
//! # Arithmetic
//!
//! The file's weights are `f32`; the model computes in `f64`, folding the scaler into them
//! exactly in `f64`, where onnxruntime computes each step in `f32`. The two differ by rounding
//! only: the float model reproduces the library's predictions to 1e-5.

use std::collections::HashMap;

use super::proto::{GraphProto, NodeProto, TensorProto};
use super::{Attributes, DOUBLE, FLOAT, ML_DOMAIN, PostTransform, invalid, missing, tensor_reals};
use crate::compiler::ensemble::MAX_FEATURES;
use crate::compiler::linear::{FeatureAffine, LinearModel, MAX_LINEAR_OUTPUTS, MAX_LINEAR_WEIGHTS};
use crate::error::{ModelError, Result};
use crate::spec::objective::Objective;

/// How far the two rows of a binary `LOGISTIC` classifier may be from each other's negation.
const NEGATION_TOLERANCE: f64 = 1e-6;

/// Operators after the head that only relabel or reshape its outputs.
const PLUMBING: [(&str, &str); 6] = [
    ("ZipMap", ML_DOMAIN),
    ("Cast", ""),
    ("Identity", ""),
    ("Normalizer", ML_DOMAIN),
    ("ArrayFeatureExtractor", ML_DOMAIN),
    ("Reshape", ""),
];

/// Whether `graph` is a linear model's: it has a linear head.
pub(super) fn is_linear(graph: &GraphProto) -> bool {
    graph.node.iter().any(|node| Head::of(node).is_some())
}

/// The linear model `graph` holds.
pub(super) fn import_linear(graph: &GraphProto) -> Result<LinearModel> {
    let (input, declared) = graph_input(graph)?;
    let constants = constants(graph);
    // What each tensor name holds: the features after affine steps, or what follows the head.
    let mut steps: Vec<Step> = Vec::new();
    let mut features = input.to_owned();
    let mut head: Option<(&NodeProto, Head)> = None;
    let mut downstream: Vec<&str> = Vec::new();
    for node in &graph.node {
        let op_type = node.op_type.as_deref().unwrap_or_default();
        let domain = normal_domain(node.domain.as_deref().unwrap_or_default());
        let reads = |name: &str| node.input.iter().any(|i| i == name);
        if reads(&features) && head.is_none() {
            if let Some(kind) = Head::of(node) {
                head = Some((node, kind));
                downstream.extend(node.output.iter().map(String::as_str));
                continue;
            }
            steps.push(step(node, op_type, domain, &features, &constants)?);
            features = single_output(node)?.to_owned();
            continue;
        }
        if node.input.iter().any(|i| downstream.contains(&i.as_str())) {
            if !PLUMBING.contains(&(op_type, domain)) {
                return Err(ModelError::Unsupported(format!(
                    "ONNX operator {} after the linear model (only ZipMap/Cast/Identity/Normalizer/\
                     ArrayFeatureExtractor/Reshape)",
                    shown(op_type, domain)
                )));
            }
            downstream.extend(node.output.iter().map(String::as_str));
            continue;
        }
        if Head::of(node).is_some() {
            return Err(ModelError::Unsupported(
                "a second linear operator, or one that does not read the features (only one per model)".into(),
            ));
        }
        return Err(ModelError::Unsupported(format!(
            "ONNX operator {} (only per-feature scaling before a LinearClassifier or LinearRegressor)",
            shown(op_type, domain)
        )));
    }
    let (node, kind) = head.ok_or_else(|| {
        ModelError::Unsupported("a graph whose features do not reach a LinearClassifier or LinearRegressor".into())
    })?;
    let attributes = Attributes::new(node)?;
    let mut model = kind.read(&attributes, declared).map_err(|e| e.within(kind.name()))?;
    let mut affine = FeatureAffine::identity(model.num_features);
    for step in &steps {
        affine = step.apply(&affine)?;
    }
    affine.fold_into(&mut model.weights, &mut model.intercepts);
    // The fold may overflow to infinity from finite steps.
    LinearModel::new(model.num_features, model.objective, model.weights, model.intercepts)
}

/// The graph's constant initializers, by name.
pub(super) fn constants(graph: &GraphProto) -> HashMap<&str, &TensorProto> {
    graph
        .initializer
        .iter()
        .filter_map(|t| Some((t.name.as_deref()?, t)))
        .collect()
}

/// `""` for ONNX's default domain, whichever way the file spells it.
pub(super) fn normal_domain(domain: &str) -> &str {
    if domain == "ai.onnx" { "" } else { domain }
}

pub(super) fn shown(op_type: &str, domain: &str) -> String {
    if ["", ML_DOMAIN].contains(&domain) {
        format!("`{op_type}`")
    } else {
        format!("`{op_type}` of domain `{domain}`")
    }
}

fn single_output(node: &NodeProto) -> Result<&str> {
    match node.output.as_slice() {
        [output] => Ok(output),
        outputs => Err(invalid(format!(
            "operator `{}` has {} outputs, expected 1",
            node.op_type.as_deref().unwrap_or_default(),
            outputs.len()
        ))),
    }
}

/// The graph's one input that is not an initializer (files of IR < 4 list initializers among
/// the inputs), of `float`s, and its last dimension when declared.
pub(super) fn graph_input(graph: &GraphProto) -> Result<(&str, Option<usize>)> {
    let initializers: Vec<&str> = graph.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_deref().unwrap_or_default()))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(ModelError::Unsupported(format!(
            "a graph with {} inputs (only one, the features)",
            inputs.len()
        )));
    };
    let name = input.name.as_deref().unwrap_or_default();
    Ok((name, super::input_features(graph, name)?))
}

/// Operators that may scale the features in front of a model: folded into it.
const SCALER_STEPS: [(&str, &str); 5] = [
    ("Scaler", ML_DOMAIN),
    ("Mul", ""),
    ("Add", ""),
    ("Sub", ""),
    ("Div", ""),
];

/// Whether an operator is one that may scale the features in front of a model.
pub(super) fn is_scaler_step(op_type: &str, domain: &str) -> bool {
    SCALER_STEPS.contains(&(op_type, normal_domain(domain)))
}

/// The affine steps between the graph's input and a model's operator.
pub(super) struct ScalerChain {
    /// The graph input the chain starts from (the model's own input when there is no chain).
    pub(super) input: String,
    steps: Vec<Step>,
}

impl ScalerChain {
    pub(super) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The chain as one map of `features` features.
    pub(super) fn affine(&self, features: usize) -> Result<FeatureAffine> {
        self.steps
            .iter()
            .try_fold(FeatureAffine::identity(features), |affine, step| step.apply(&affine))
    }
}

/// The scaler in front of `model` (a node with one input): the chain of affine steps
/// ([`is_scaler_step`], `Cast`, `Identity`) from a graph input to its input, walked back from
/// it. Every scaling operator of the graph must be on that chain.
pub(super) fn scaler_before(graph: &GraphProto, model: &NodeProto) -> Result<ScalerChain> {
    let [input] = model.input.as_slice() else {
        return Err(invalid(format!(
            "the `{}` operator has {} inputs, expected 1",
            model.op_type.as_deref().unwrap_or_default(),
            model.input.len()
        )));
    };
    let constants = constants(graph);
    let mut name = input.clone();
    let mut steps = Vec::new();
    let mut chain = Vec::new();
    while let Some((index, producer)) = graph.node.iter().enumerate().find(|(_, n)| n.output.contains(&name)) {
        let op_type = producer.op_type.as_deref().unwrap_or_default();
        let domain = normal_domain(producer.domain.as_deref().unwrap_or_default());
        if !(is_scaler_step(op_type, domain) || matches!(op_type, "Cast" | "Identity"))
            || chain.len() > graph.node.len()
        {
            // `input_features` names the operator that computes the model's input.
            break;
        }
        let previous = producer
            .input
            .iter()
            .find(|i| !constants.contains_key(i.as_str()))
            .ok_or_else(|| invalid(format!("`{op_type}` computes from constants only")))?
            .clone();
        steps.push(step(producer, op_type, domain, &previous, &constants)?);
        chain.push(index);
        name = previous;
    }
    steps.reverse();
    if let Some(stray) = graph.node.iter().enumerate().find(|(i, n)| {
        is_scaler_step(
            n.op_type.as_deref().unwrap_or_default(),
            n.domain.as_deref().unwrap_or_default(),
        ) && !chain.contains(i)
    }) {
        return Err(ModelError::Unsupported(format!(
            "ONNX operator `{}` that does not scale the model's input (only a scaler in front of the model)",
            stray.1.op_type.as_deref().unwrap_or_default()
        )));
    }
    Ok(ScalerChain { input: name, steps })
}

/// One affine step on the features: `y = x * scale + offset`, each one value (for every
/// feature) or one per feature.
pub(super) struct Step {
    op: &'static str,
    scale: Vec<f64>,
    offset: Vec<f64>,
}

impl Step {
    pub(super) fn apply(&self, before: &FeatureAffine) -> Result<FeatureAffine> {
        let features = before.scale.len();
        let widen = |values: &[f64], what: &str| -> Result<Vec<f64>> {
            match values.len() {
                1 => Ok(vec![values[0]; features]),
                n if n == features => Ok(values.to_vec()),
                n => Err(invalid(format!("`{}` has {n} {what} for {features} features", self.op))),
            }
        };
        Ok(before.then(&widen(&self.scale, "scales")?, &widen(&self.offset, "offsets")?))
    }
}

/// The affine step `node` applies to the features (`features` is the name they go by).
pub(super) fn step(
    node: &NodeProto,
    op_type: &str,
    domain: &str,
    features: &str,
    constants: &HashMap<&str, &TensorProto>,
) -> Result<Step> {
    let unsupported = || {
        ModelError::Unsupported(format!(
            "ONNX operator {} on the features (only Scaler, Mul/Add/Sub/Div by a constant, Cast, Identity \
             before a LinearClassifier or LinearRegressor)",
            shown(op_type, domain)
        ))
    };
    let identity = |op| Step {
        op,
        scale: vec![1.0],
        offset: vec![0.0],
    };
    match (op_type, domain) {
        ("Scaler", ML_DOMAIN) => {
            let attributes = Attributes::new(node)?;
            let scale = finite_floats(&attributes, "scale")?.unwrap_or_else(|| vec![1.0]);
            let offset = finite_floats(&attributes, "offset")?.unwrap_or_else(|| vec![0.0]);
            // (x - o) * s = x * s - o * s, per feature.
            let shifted = match (offset.len(), scale.len()) {
                (1, _) => scale.iter().map(|s| -offset[0] * s).collect(),
                (_, 1) => offset.iter().map(|o| -o * scale[0]).collect(),
                (o, s) if o == s => offset.iter().zip(&scale).map(|(o, s)| -o * s).collect(),
                (o, s) => return Err(invalid(format!("`Scaler` has {o} offsets and {s} scales"))),
            };
            let scale = if scale.len() == 1 && offset.len() > 1 {
                vec![scale[0]; offset.len()]
            } else {
                scale
            };
            Ok(Step {
                op: "Scaler",
                scale,
                offset: shifted,
            })
        }
        ("Cast", "") => {
            let to = Attributes::new(node)?.int("to")?.ok_or_else(|| missing("to"))?;
            if to == i64::from(FLOAT) || to == i64::from(DOUBLE) {
                Ok(identity("Cast"))
            } else {
                Err(ModelError::Unsupported(format!(
                    "`Cast` of the features to {} (only FLOAT and DOUBLE)",
                    super::data_type_name(to as i32)
                )))
            }
        }
        ("Identity", "") => Ok(identity("Identity")),
        ("Mul" | "Add" | "Sub" | "Div", "") => {
            let [a, b] = node.input.as_slice() else {
                return Err(invalid(format!(
                    "`{op_type}` has {} inputs, expected 2",
                    node.input.len()
                )));
            };
            let (constant, features_first) = match (a == features, b == features) {
                (true, false) => (b, true),
                (false, true) => (a, false),
                _ => return Err(unsupported()),
            };
            let tensor = constants.get(constant.as_str()).ok_or_else(|| {
                ModelError::Unsupported(format!(
                    "`{op_type}` of the features and `{constant}`, which is not a constant initializer"
                ))
            })?;
            let values = tensor_reals(tensor, constant)?;
            check_vector(tensor, &values, constant)?;
            let op = match op_type {
                "Mul" => "Mul",
                "Add" => "Add",
                "Sub" => "Sub",
                _ => "Div",
            };
            let ones = vec![1.0; values.len()];
            let zeros = vec![0.0; values.len()];
            match (op_type, features_first) {
                ("Mul", _) => Ok(Step {
                    op,
                    scale: values,
                    offset: zeros,
                }),
                ("Add", _) => Ok(Step {
                    op,
                    scale: ones,
                    offset: values,
                }),
                ("Sub", true) => Ok(Step {
                    op,
                    scale: ones,
                    offset: values.iter().map(|v| -v).collect(),
                }),
                ("Sub", false) => Ok(Step {
                    op,
                    scale: vec![-1.0; values.len()],
                    offset: values,
                }),
                ("Div", true) => {
                    if values.contains(&0.0) {
                        return Err(invalid(format!("`Div` of the features by zero (`{constant}`)")));
                    }
                    Ok(Step {
                        op,
                        scale: values.iter().map(|v| 1.0 / v).collect(),
                        offset: zeros,
                    })
                }
                _ => Err(unsupported()),
            }
        }
        _ => Err(unsupported()),
    }
}

/// A constant an affine step broadcasts over the features: one value, or one per feature in
/// the last dimension (shape `[n]` or `[1, n]`), every value finite.
fn check_vector(tensor: &TensorProto, values: &[f64], name: &str) -> Result<()> {
    if tensor.dims.iter().rev().skip(1).any(|&d| d != 1) {
        return Err(ModelError::Unsupported(format!(
            "constant `{name}` of dims {:?} (only one value, or one per feature)",
            tensor.dims
        )));
    }
    if values.is_empty() || values.len() > MAX_FEATURES {
        return Err(invalid(format!("constant `{name}` has {} values", values.len())));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!("`{name}[{i}]` is not finite")));
    }
    Ok(())
}

/// The linear operators this importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    Classifier,
    Regressor,
}

impl Head {
    fn of(node: &NodeProto) -> Option<Self> {
        if node.domain.as_deref().unwrap_or_default() != ML_DOMAIN {
            return None;
        }
        match node.op_type.as_deref().unwrap_or_default() {
            "LinearClassifier" => Some(Head::Classifier),
            "LinearRegressor" => Some(Head::Regressor),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Head::Classifier => "LinearClassifier",
            Head::Regressor => "LinearRegressor",
        }
    }

    /// The head's model on its own input (before the affine steps are folded in).
    fn read(self, attributes: &Attributes<'_>, declared: Option<usize>) -> Result<LinearModel> {
        let coefficients = finite_floats(attributes, "coefficients")?.ok_or_else(|| missing("coefficients"))?;
        let intercepts = finite_floats(attributes, "intercepts")?;
        let post_transform = PostTransform::read(attributes)?;
        let rows = match self {
            Head::Classifier => class_count(attributes)?,
            Head::Regressor => {
                let targets = attributes.int("targets")?.unwrap_or(1);
                if targets != 1 {
                    return Err(ModelError::Unsupported(format!("{targets} targets (only 1)")));
                }
                1
            }
        };
        if coefficients.len() > MAX_LINEAR_WEIGHTS {
            return Err(ModelError::Unsupported(format!(
                "{} weights (at most {MAX_LINEAR_WEIGHTS})",
                coefficients.len()
            )));
        }
        if coefficients.is_empty() || !coefficients.len().is_multiple_of(rows) {
            return Err(invalid(format!("{} coefficients for {rows} rows", coefficients.len())));
        }
        let features = coefficients.len() / rows;
        if let Some(width) = declared
            && width != features
        {
            return Err(invalid(format!(
                "{features} coefficients per row for an input of {width} features"
            )));
        }
        if features > MAX_FEATURES {
            return Err(ModelError::Unsupported(format!(
                "{features} features (at most {MAX_FEATURES})"
            )));
        }
        let weights: Vec<Vec<f64>> = coefficients.chunks(features).map(<[f64]>::to_vec).collect();
        let intercepts = match intercepts {
            None => vec![0.0; rows],
            Some(values) if values.len() == rows => values,
            Some(values) => return Err(invalid(format!("{} intercepts for {rows} rows", values.len()))),
        };
        let (objective, weights, intercepts) = match (self, rows, post_transform) {
            (Head::Regressor, _, PostTransform::None) => (Objective::RegSquaredError, weights, intercepts),
            // Class 1's score alone, class 0's being its negation.
            (Head::Classifier, 2, transform @ (PostTransform::Logistic | PostTransform::None)) => {
                let (objective, why) = match transform {
                    PostTransform::Logistic => (
                        Objective::BinaryLogistic,
                        "a two-class LOGISTIC classifier whose rows are not each other's negation (its two \
                         sigmoids are not probabilities)",
                    ),
                    _ => (
                        Objective::DecisionScores { classes: 2 },
                        "a two-class classifier without probabilities whose rows are not each other's \
                         negation (only one decision score, as LinearSVC writes)",
                    ),
                };
                if !negated(&weights, &intercepts) {
                    return Err(ModelError::Unsupported(why.into()));
                }
                (objective, vec![weights[1].clone()], vec![intercepts[1]])
            }
            (Head::Classifier, classes, PostTransform::None) => {
                (Objective::DecisionScores { classes }, weights, intercepts)
            }
            (Head::Classifier, 2, PostTransform::Softmax) => {
                let difference = weights[1].iter().zip(&weights[0]).map(|(b, a)| b - a).collect();
                (
                    Objective::BinaryLogistic,
                    vec![difference],
                    vec![intercepts[1] - intercepts[0]],
                )
            }
            (Head::Classifier, classes, PostTransform::Softmax) if classes > 2 => {
                (Objective::MultiSoftprob { classes }, weights, intercepts)
            }
            (Head::Classifier, classes, PostTransform::Logistic) => {
                return Err(ModelError::Unsupported(format!(
                    "one-vs-rest sigmoids over {classes} classes (post_transform LOGISTIC; only SOFTMAX)"
                )));
            }
            (_, _, other) => {
                return Err(ModelError::Unsupported(format!(
                    "post_transform {} on a {}",
                    other.name(),
                    if self == Head::Classifier {
                        "classifier"
                    } else {
                        "regressor"
                    }
                )));
            }
        };
        LinearModel::new(features, objective, weights, intercepts)
    }
}

/// Whether a two-row head's rows are each other's negation, weights and intercept: one score
/// `s` for class 1 and `-s` for class 0.
fn negated(weights: &[Vec<f64>], intercepts: &[f64]) -> bool {
    weights[0]
        .iter()
        .zip(&weights[1])
        .chain([(&intercepts[0], &intercepts[1])])
        .all(|(a, b)| (a + b).abs() <= NEGATION_TOLERANCE * a.abs().max(1.0))
}

/// A float-list attribute, every value finite.
fn finite_floats(attributes: &Attributes<'_>, name: &str) -> Result<Option<Vec<f64>>> {
    let Some(floats) = attributes.floats(name)? else {
        return Ok(None);
    };
    if let Some(i) = floats.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!("`{name}[{i}]` is not finite")));
    }
    Ok(Some(floats.iter().map(|&f| f64::from(f)).collect()))
}

/// A classifier's number of labels (`classlabels_ints` or `classlabels_strings`, exactly one):
/// its rows, one per label.
fn class_count(attributes: &Attributes<'_>) -> Result<usize> {
    let count = match (
        attributes.ints("classlabels_ints")?,
        attributes.strings("classlabels_strings")?,
    ) {
        (Some(ints), None) => ints.len(),
        (None, Some(strings)) => strings.len(),
        (Some(_), Some(_)) => return Err(invalid("both classlabels_ints and classlabels_strings".into())),
        (None, None) => return Err(missing("classlabels_ints")),
    };
    if !(2..=MAX_LINEAR_OUTPUTS).contains(&count) {
        return Err(ModelError::Unsupported(format!(
            "{count} class labels (from 2 to {MAX_LINEAR_OUTPUTS})"
        )));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::super::proto::{AttributeProto, ModelProto};
    use super::super::{ATTR_STRING, import_onnx_model};
    use super::*;
    use crate::compiler::import::ImportedModel;

    const LOGISTIC_REGRESSION: &[u8] = include_bytes!("../../../../fixtures/sklearn-logistic-regression/model.onnx");
    const WINE: &[u8] = include_bytes!("../../../../fixtures/sklearn-logistic-regression-wine/model.onnx");
    const RIDGE: &[u8] = include_bytes!("../../../../fixtures/sklearn-ridge/model.onnx");

    fn linear(bytes: &[u8]) -> Result<LinearModel> {
        match import_onnx_model(bytes)? {
            ImportedModel::Linear(model) => Ok(model),
            other => panic!("imported {}", other.family()),
        }
    }

    /// `bytes` decoded, changed by `change`, encoded again.
    fn changed(bytes: &[u8], change: impl FnOnce(&mut GraphProto)) -> Vec<u8> {
        let mut model = ModelProto::decode(bytes).unwrap();
        change(model.graph.as_mut().unwrap());
        model.encode_to_vec()
    }

    fn node<'g>(graph: &'g mut GraphProto, op_type: &str) -> &'g mut NodeProto {
        graph
            .node
            .iter_mut()
            .find(|n| n.op_type.as_deref() == Some(op_type))
            .unwrap()
    }

    fn set_post_transform(graph: &mut GraphProto, value: &str) {
        let head = node(graph, "LinearClassifier");
        head.attribute.retain(|a| a.name.as_deref() != Some("post_transform"));
        head.attribute.push(AttributeProto {
            name: Some("post_transform".into()),
            r#type: Some(ATTR_STRING),
            s: Some(value.as_bytes().to_vec()),
            ..Default::default()
        });
    }

    fn refusal(bytes: &[u8]) -> String {
        linear(bytes).unwrap_err().to_string()
    }

    fn initializer<'g>(graph: &'g mut GraphProto, of: &str) -> &'g mut TensorProto {
        let name = node(graph, of).input[1].clone();
        graph
            .initializer
            .iter_mut()
            .find(|t| t.name.as_deref() == Some(name.as_str()))
            .unwrap()
    }

    fn values(tensor: &TensorProto) -> Vec<f32> {
        tensor_reals(tensor, "t")
            .unwrap()
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }

    fn set_values(tensor: &mut TensorProto, values: Vec<f32>) {
        tensor.raw_data = None;
        tensor.float_data = values;
    }

    #[test]
    fn each_head_reads_as_its_objective() {
        let binary = linear(LOGISTIC_REGRESSION).unwrap();
        assert_eq!(
            (binary.objective, binary.num_features, binary.weights.len()),
            (Objective::BinaryLogistic, 30, 1)
        );
        let wine = linear(WINE).unwrap();
        assert_eq!(wine.objective, Objective::MultiSoftprob { classes: 3 });
        let ridge = linear(RIDGE).unwrap();
        assert_eq!((ridge.objective, ridge.num_features), (Objective::RegSquaredError, 10));
        // A binary SOFTMAX head is the sigmoid of the rows' difference: the same model.
        let softmax = linear(&changed(LOGISTIC_REGRESSION, |g| set_post_transform(g, "SOFTMAX"))).unwrap();
        // A test row of the fixture, where the model is not sure: a margin near 0.
        let test = crate::Dataset::from_csv(include_str!(
            "../../../../fixtures/sklearn-logistic-regression/test.csv"
        ))
        .unwrap();
        let rows = test.select(&test.columns[..30]).unwrap();
        let row = rows
            .iter()
            .min_by(|a, b| binary.margins(a)[0].abs().total_cmp(&binary.margins(b)[0].abs()))
            .unwrap();
        let (p, q) = (binary.predict(row)[1], softmax.predict(row)[1]);
        let expected = 1.0 / (1.0 + (-2.0 * binary.margins(row)[0]).exp());
        assert!(
            (q - expected).abs() < 1e-9 && (p - q).abs() > 1e-6,
            "{p} {q} {expected}"
        );
    }

    #[test]
    fn the_other_affine_steps_fold_as_the_runtime_computes_them() {
        let ridge = linear(RIDGE).unwrap();
        // `x * m + a` written as `x / (1 / m) - (-a)`.
        let divided = changed(RIDGE, |g| {
            let scale = initializer(g, "Mul");
            let inverse = values(scale).iter().map(|m| 1.0 / m).collect();
            set_values(scale, inverse);
            node(g, "Mul").op_type = Some("Div".into());
            let offset = initializer(g, "Add");
            let negated = values(offset).iter().map(|a| -a).collect();
            set_values(offset, negated);
            node(g, "Add").op_type = Some("Sub".into());
        });
        let other = linear(&divided).unwrap();
        for row in [vec![0.0; 10], vec![0.05; 10], vec![-0.1; 10]] {
            let (a, b) = (ridge.predict(&row)[0], other.predict(&row)[0]);
            assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn what_it_cannot_hold_is_refused_by_name() {
        // Two rows that are not each other's negation, without probabilities.
        let two_scores = refusal(&changed(LOGISTIC_REGRESSION, |g| {
            set_post_transform(g, "NONE");
            let head = node(g, "LinearClassifier");
            let intercepts = head
                .attribute
                .iter_mut()
                .find(|a| a.name.as_deref() == Some("intercepts"))
                .unwrap();
            intercepts.floats[0] += 1.0;
        }));
        assert!(
            two_scores.contains("without probabilities") && two_scores.contains("negation"),
            "{two_scores}"
        );
        let ovr = refusal(&changed(WINE, |g| set_post_transform(g, "LOGISTIC")));
        assert!(ovr.contains("one-vs-rest"), "{ovr}");
        let probit = refusal(&changed(LOGISTIC_REGRESSION, |g| set_post_transform(g, "PROBIT")));
        assert!(probit.contains("PROBIT"), "{probit}");
        // Rows that are not each other's negation under LOGISTIC.
        let skewed = refusal(&changed(LOGISTIC_REGRESSION, |g| {
            let head = node(g, "LinearClassifier");
            let coefficients = head
                .attribute
                .iter_mut()
                .find(|a| a.name.as_deref() == Some("coefficients"))
                .unwrap();
            coefficients.floats[0] += 1.0;
        }));
        assert!(skewed.contains("negation"), "{skewed}");
        // A non-linear step between the scaler and the model.
        let relu = refusal(&changed(LOGISTIC_REGRESSION, |g| {
            node(g, "Scaler").op_type = Some("Relu".into())
        }));
        assert!(relu.contains("`Relu`"), "{relu}");
        // An operator after the model that changes its answer.
        let argmax = refusal(&changed(WINE, |g| {
            node(g, "Normalizer").op_type = Some("ArgMax".into())
        }));
        assert!(argmax.contains("`ArgMax` after the linear model"), "{argmax}");
        // A scale per feature of the wrong length.
        let short = refusal(&changed(RIDGE, |g| {
            let scale = initializer(g, "Mul");
            let mut fewer = values(scale);
            fewer.pop();
            set_values(scale, fewer);
            scale.dims = vec![9];
        }));
        assert!(short.contains("9 scales for 10 features"), "{short}");
        // The features multiplied by something computed, not a constant.
        let computed = refusal(&changed(RIDGE, |g| {
            let name = node(g, "Mul").input[1].clone();
            g.initializer.retain(|t| t.name.as_deref() != Some(name.as_str()));
        }));
        assert!(computed.contains("not a constant initializer"), "{computed}");
    }

    #[test]
    fn the_tree_importer_refuses_a_linear_model_by_its_family() {
        let error = crate::compiler::import::import_model(LOGISTIC_REGRESSION)
            .unwrap_err()
            .to_string();
        assert!(error.contains("ONNX: a linear model"), "{error}");
    }
}
