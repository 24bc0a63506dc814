//! Import of models saved by XGBoost's `booster.save_model("model.json")`.
//!
//! Supported: `gbtree` and `dart` boosters with numerical splits and scalar leaves, objectives
//! `binary:logistic`, `multi:softprob` and `reg:squarederror`. Everything else is refused with
//! an error that names what is unsupported. Missing values (`default_left`) are accepted in the
//! file but never used: Blindfold rejects NaN inputs before encryption.

use serde_json::Value;

use crate::ensemble::{Arithmetic, MAX_TREE_DEPTH, Node, Tree, TreeEnsemble, check_tree_shape};
use crate::error::{ModelError, Result};
use crate::objective::Objective;

/// Model files larger than this are refused before parsing.
pub const MAX_MODEL_JSON_BYTES: usize = 64 * 1024 * 1024;

/// Parses XGBoost JSON into a [`TreeEnsemble`].
pub fn import_xgboost_json(json: &str) -> Result<TreeEnsemble> {
    if json.len() > MAX_MODEL_JSON_BYTES {
        return Err(invalid(format!("file is larger than {MAX_MODEL_JSON_BYTES} bytes")));
    }
    let root: Value = serde_json::from_str(json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    import_xgboost_document(&root)
}

/// Parses XGBoost's binary JSON (`save_model("model.ubj")`, the default of XGBoost 2.1 and
/// later): the same document as [`import_xgboost_json`] reads, in UBJSON.
pub fn import_xgboost_ubjson(bytes: &[u8]) -> Result<TreeEnsemble> {
    if bytes.len() > MAX_MODEL_JSON_BYTES {
        return Err(invalid(format!("file is larger than {MAX_MODEL_JSON_BYTES} bytes")));
    }
    import_xgboost_document(&crate::ubjson::to_value(bytes)?)
}

/// The model document, however it was encoded.
fn import_xgboost_document(root: &Value) -> Result<TreeEnsemble> {
    let learner = field(root, "learner")?;
    let params = field(learner, "learner_model_param")?;
    let num_features = parse_usize(field(params, "num_feature")?, "num_feature")?;
    if num_features == 0 {
        return Err(invalid("num_feature is 0".into()));
    }
    let objective = parse_objective(learner, params)?;
    let base_margins = base_margins(parse_base_score(field(params, "base_score")?)?, objective)?;
    let (model, tree_weights) = booster_model(field(learner, "gradient_booster")?)?;
    let trees = parse_trees(model, tree_weights, num_features, objective.outputs())?;
    let feature_names = parse_feature_names(learner, num_features)?;
    Ok(TreeEnsemble {
        feature_names,
        num_features,
        objective,
        arithmetic: Arithmetic::F32,
        base_margins,
        trees,
    })
}

/// The objective, checked against the class count; multi-target models are refused.
fn parse_objective(learner: &Value, params: &Value) -> Result<Objective> {
    let num_class = match params.get("num_class") {
        Some(v) => parse_usize(v, "num_class")?,
        None => 0,
    };
    if let Some(v) = params.get("num_target") {
        let targets = parse_usize(v, "num_target")?;
        if targets > 1 {
            return Err(ModelError::Unsupported(format!(
                "multi-target models ({targets} targets)"
            )));
        }
    }
    let name = field(field(learner, "objective")?, "name")?
        .as_str()
        .ok_or_else(|| invalid("objective.name is not a string".into()))?;
    match name {
        "binary:logistic" => Ok(Objective::BinaryLogistic),
        "multi:softprob" if num_class >= 2 => Ok(Objective::MultiSoftprob { classes: num_class }),
        "multi:softprob" => Err(invalid(format!("multi:softprob with num_class {num_class}"))),
        "reg:squarederror" => Ok(Objective::RegSquaredError),
        other => Err(ModelError::Unsupported(format!(
            "objective `{other}` (supported: binary:logistic, multi:softprob, reg:squarederror)"
        ))),
    }
}

/// Per output, the margin every prediction starts from. XGBoost stores `base_score` in
/// prediction space (a probability for `binary:logistic`), once or once per class.
fn base_margins(base_scores: Vec<f64>, objective: Objective) -> Result<Vec<f64>> {
    let outputs = objective.outputs();
    match (base_scores.len(), objective) {
        (1, Objective::BinaryLogistic) => {
            let p = base_scores[0];
            if !(p > 0.0 && p < 1.0) {
                return Err(invalid(format!("base_score {p} is not a probability")));
            }
            Ok(vec![(p / (1.0 - p)).ln()])
        }
        (1, _) => Ok(vec![base_scores[0]; outputs]),
        (n, Objective::MultiSoftprob { .. }) if n == outputs => Ok(base_scores),
        (n, _) => Err(invalid(format!("base_score has {n} values for {outputs} outputs"))),
    }
}

/// The booster's tree model and, for `dart`, the weight each tree is scaled by.
fn booster_model(booster: &Value) -> Result<(&Value, Option<Vec<f64>>)> {
    match field(booster, "name")?.as_str().unwrap_or_default() {
        "gbtree" => Ok((field(booster, "model")?, None)),
        "dart" => {
            let model = field(field(booster, "gbtree")?, "model")?;
            let weights = field(booster, "weight_drop")?
                .as_array()
                .ok_or_else(|| invalid("weight_drop is not an array".into()))?
                .iter()
                .map(|w| {
                    w.as_f64()
                        .ok_or_else(|| invalid("weight_drop holds a non-number".into()))
                })
                .collect::<Result<Vec<f64>>>()?;
            Ok((model, Some(weights)))
        }
        "gblinear" => Err(ModelError::Unsupported("linear booster `gblinear`".into())),
        other => Err(ModelError::Unsupported(format!("booster `{other}`"))),
    }
}

/// Every tree with the output it adds to (`tree_info`), its leaves scaled by its dart weight.
fn parse_trees(
    model: &Value,
    tree_weights: Option<Vec<f64>>,
    num_features: usize,
    outputs: usize,
) -> Result<Vec<(usize, Tree)>> {
    let trees_json = field(model, "trees")?
        .as_array()
        .ok_or_else(|| invalid("trees is not an array".into()))?;
    let tree_info = field(model, "tree_info")?
        .as_array()
        .ok_or_else(|| invalid("tree_info is not an array".into()))?;
    if tree_info.len() != trees_json.len() {
        return Err(invalid(format!(
            "{} trees but {} tree_info entries",
            trees_json.len(),
            tree_info.len()
        )));
    }
    if let Some(w) = &tree_weights
        && w.len() != trees_json.len()
    {
        return Err(invalid(format!(
            "{} trees but {} dart weights",
            trees_json.len(),
            w.len()
        )));
    }
    if trees_json.is_empty() {
        return Err(invalid("the model has no trees".into()));
    }
    trees_json
        .iter()
        .zip(tree_info)
        .enumerate()
        .map(|(i, (tree_json, info))| {
            let output = info
                .as_u64()
                .map(|v| v as usize)
                .filter(|&o| o < outputs)
                .ok_or_else(|| invalid(format!("tree {i}: tree_info {info} is not an output index")))?;
            let weight = tree_weights.as_ref().map_or(1.0, |w| w[i]);
            let tree =
                parse_tree(tree_json, num_features, weight as f32).map_err(|e| e.within(&format!("tree {i}")))?;
            Ok((output, tree))
        })
        .collect()
}

/// The feature names, if the model was trained with them; categorical features are refused.
fn parse_feature_names(learner: &Value, num_features: usize) -> Result<Vec<String>> {
    let names = match learner.get("feature_names").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => {
            if names.len() != num_features {
                return Err(invalid(format!(
                    "{} feature names for {num_features} features",
                    names.len()
                )));
            }
            names
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid("feature name is not a string".into()))
                })
                .collect::<Result<Vec<_>>>()?
        }
        _ => Vec::new(),
    };
    if let Some(types) = learner.get("feature_types").and_then(Value::as_array)
        && types.iter().any(|t| t.as_str() == Some("c"))
    {
        return Err(ModelError::Unsupported("categorical features".into()));
    }
    Ok(names)
}

fn parse_tree(tree: &Value, num_features: usize, weight: f32) -> Result<Tree> {
    let arrays = NodeArrays::read(tree)?;
    refuse_unsupported_tree(tree)?;
    let nodes = (0..arrays.len())
        .map(|i| {
            if arrays.left[i] == -1 {
                arrays.leaf(i, weight)
            } else {
                arrays.split(i, num_features)
            }
        })
        .collect::<Result<Vec<Node>>>()?;
    check_tree_shape(&nodes, MAX_TREE_DEPTH)?;
    Ok(Tree { nodes })
}

/// Refuses categorical splits and vector leaves.
fn refuse_unsupported_tree(tree: &Value) -> Result<()> {
    if let Some(types) = tree.get("split_type").and_then(Value::as_array)
        && types.iter().any(|t| t.as_i64() != Some(0))
    {
        return Err(ModelError::Unsupported("categorical splits".into()));
    }
    if tree
        .get("categories")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        return Err(ModelError::Unsupported("categorical splits".into()));
    }
    if let Some(size) = tree.get("tree_param").and_then(|p| p.get("size_leaf_vector")) {
        let size = parse_usize(size, "size_leaf_vector")?;
        if size > 1 {
            return Err(ModelError::Unsupported(format!("vector leaves (size {size})")));
        }
    }
    Ok(())
}

/// A tree's nodes as XGBoost stores them: one array per field, `-1` for a leaf's children, and a
/// leaf's value in `split_conditions`.
struct NodeArrays {
    left: Vec<i64>,
    right: Vec<i64>,
    split_indices: Vec<i64>,
    conditions: Vec<f32>,
}

impl NodeArrays {
    fn read(tree: &Value) -> Result<Self> {
        let arrays = Self {
            left: int_array(tree, "left_children")?,
            right: int_array(tree, "right_children")?,
            split_indices: int_array(tree, "split_indices")?,
            conditions: float_array(tree, "split_conditions")?,
        };
        let n = arrays.len();
        if n == 0
            || [arrays.right.len(), arrays.split_indices.len(), arrays.conditions.len()]
                .iter()
                .any(|&l| l != n)
        {
            return Err(invalid("node arrays are empty or of different lengths".into()));
        }
        Ok(arrays)
    }

    fn len(&self) -> usize {
        self.left.len()
    }

    /// Node `i`, which has no left child, as a leaf scaled by the tree's (dart) weight.
    fn leaf(&self, i: usize, weight: f32) -> Result<Node> {
        if self.right[i] != -1 {
            return Err(invalid(format!("node {i} has only one child")));
        }
        let value = self.conditions[i] * weight;
        if !value.is_finite() {
            return Err(invalid(format!("leaf {i} is not finite")));
        }
        Ok(Node::Leaf {
            value: f64::from(value),
        })
    }

    /// Node `i` as a split on an existing feature, its children in range (the root, node 0, is
    /// nobody's child).
    fn split(&self, i: usize, num_features: usize) -> Result<Node> {
        let n = self.len();
        let child = |c: i64| -> Result<usize> {
            usize::try_from(c)
                .ok()
                .filter(|&c| c > 0 && c < n)
                .ok_or_else(|| invalid(format!("node {i} has child {c} outside 1..{n}")))
        };
        let feature = usize::try_from(self.split_indices[i])
            .ok()
            .filter(|&f| f < num_features)
            .ok_or_else(|| {
                invalid(format!(
                    "node {i} splits on feature {} of {num_features}",
                    self.split_indices[i]
                ))
            })?;
        let threshold = self.conditions[i];
        if threshold.is_nan() {
            return Err(invalid(format!("node {i} has a NaN threshold")));
        }
        Ok(Node::Split {
            feature,
            threshold: f64::from(threshold),
            left: child(self.left[i])?,
            right: child(self.right[i])?,
        })
    }
}

fn parse_base_score(value: &Value) -> Result<Vec<f64>> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            return items
                .iter()
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| invalid("base_score holds a non-number".into()))
                })
                .collect();
        }
        _ => {
            return Err(invalid("base_score is neither a string nor a number".into()));
        }
    };
    // XGBoost 2+ writes "[6.2637365E-1]" (a vector in a string); older versions write "5E-1".
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    let scores = inner
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| invalid(format!("base_score `{text}` is not a number")))
        })
        .collect::<Result<Vec<f64>>>()?;
    if scores.iter().any(|s| !s.is_finite()) {
        return Err(invalid(format!("base_score `{text}` is not finite")));
    }
    Ok(scores)
}

fn field<'a>(value: &'a Value, name: &str) -> Result<&'a Value> {
    value
        .get(name)
        .ok_or_else(|| invalid(format!("missing field `{name}`")))
}

fn parse_usize(value: &Value, name: &str) -> Result<usize> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().map(|v| v as usize),
        _ => None,
    }
    .ok_or_else(|| invalid(format!("`{name}` is not a non-negative integer: {value}")))
}

fn int_array(tree: &Value, name: &str) -> Result<Vec<i64>> {
    field(tree, name)?
        .as_array()
        .ok_or_else(|| invalid(format!("`{name}` is not an array")))?
        .iter()
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| invalid(format!("`{name}` holds a non-integer")))
        })
        .collect()
}

fn float_array(tree: &Value, name: &str) -> Result<Vec<f32>> {
    field(tree, name)?
        .as_array()
        .ok_or_else(|| invalid(format!("`{name}` is not an array")))?
        .iter()
        .map(|v| {
            v.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| invalid(format!("`{name}` holds a non-number")))
        })
        .collect()
}

fn invalid(message: String) -> ModelError {
    ModelError::InvalidModel(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::BREAST_CANCER;

    fn edited(edit: impl Fn(&mut Value)) -> String {
        let mut model: Value = serde_json::from_str(BREAST_CANCER.model_text()).unwrap();
        edit(&mut model);
        model.to_string()
    }

    fn booster(model: &mut Value) -> &mut Value {
        &mut model["learner"]["gradient_booster"]
    }

    #[test]
    fn imports_the_shipped_model() {
        let ensemble = import_xgboost_json(BREAST_CANCER.model_text()).unwrap();
        assert_eq!(ensemble.num_features, 30);
        assert_eq!(ensemble.trees.len(), 20);
        assert_eq!(ensemble.objective, Objective::BinaryLogistic);
    }

    #[test]
    fn refuses_malformed_and_unsupported_models() {
        let cases: Vec<(String, &str)> = vec![
            ("{not json".into(), "not JSON"),
            ("{}".into(), "missing field `learner`"),
            (
                edited(|m| m["learner"]["objective"]["name"] = "rank:pairwise".into()),
                "objective `rank:pairwise`",
            ),
            (edited(|m| booster(m)["name"] = "gblinear".into()), "linear booster"),
            (
                edited(|m| booster(m)["model"]["trees"][0]["split_type"][0] = 1.into()),
                "categorical splits",
            ),
            (
                edited(|m| booster(m)["model"]["trees"][0]["left_children"][0] = 99.into()),
                "outside",
            ),
            (
                edited(|m| booster(m)["model"]["trees"][0]["left_children"][0] = 0.into()),
                "outside",
            ),
            (
                edited(|m| booster(m)["model"]["trees"][0]["split_indices"][0] = 30.into()),
                "feature 30",
            ),
            (
                edited(|m| booster(m)["model"]["tree_info"] = Value::Array(vec![])),
                "tree_info",
            ),
            (
                edited(|m| m["learner"]["learner_model_param"]["base_score"] = "[abc]".into()),
                "base_score",
            ),
            (
                edited(|m| m["learner"]["learner_model_param"]["num_target"] = "2".into()),
                "multi-target",
            ),
        ];
        for (json, needle) in cases {
            let error = import_xgboost_json(&json).unwrap_err().to_string();
            assert!(error.contains(needle), "expected `{needle}` in `{error}`");
        }
    }
}
