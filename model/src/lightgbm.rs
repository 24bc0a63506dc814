//! Import of models saved by LightGBM's `booster.save_model("model.txt")` (the text format of
//! LightGBM 2 to 4).
//!
//! Read: the header (`num_class`, `num_tree_per_iteration`, `max_feature_idx`, `objective`,
//! `feature_names`, `average_output`), then every `Tree=i` block up to `end of trees`; the
//! rest (importances, parameters) is ignored. A tree stores its internal nodes as parallel
//! arrays (`split_feature`, `threshold`, `decision_type`, `left_child`, `right_child`; a child
//! `c < 0` is leaf `!c`) and its leaves in `leaf_value`, which already includes the shrinkage.
//! Trees take turns between classes (tree `i` adds to output `i % num_tree_per_iteration`).
//!
//! Contract: LightGBM compares `x <= threshold` in `f64` and sums leaves in `f64`; the importer
//! keeps `f64` ([`Arithmetic::F64`]) and turns each `<=` into the equivalent `<` on the next
//! double up, so the float model reproduces LightGBM's own `predict`. Missing values never
//! reach a model (Blindfold refuses NaN inputs before encryption), so a split's missing-value
//! side matters only where LightGBM also sends zeros there (`zero_as_missing`): such a split is
//! accepted when its zero side agrees with its threshold, refused otherwise.
//!
//! Objectives: `binary` (with its `sigmoid:k`, folded into the leaves), `multiclass` (softmax)
//! and the regressions whose prediction is the raw sum (`regression`, `regression_l1`,
//! `huber`, `fair`, `quantile`, `mape`). Refused by name: other objectives (`regression sqrt`,
//! `multiclassova`, `cross_entropy`, `poisson`, `gamma`, `tweedie`, ranking), categorical
//! splits and linear trees.

use std::collections::HashMap;

use crate::ensemble::{Arithmetic, MAX_TREE_DEPTH, Node, Tree, TreeEnsemble, check_tree_shape};
use crate::error::{ModelError, Result};
use crate::objective::Objective;

/// Model files larger than this are refused before parsing.
pub const MAX_MODEL_TEXT_BYTES: usize = 64 * 1024 * 1024;

/// Most classes a multiclass model may have.
const MAX_CLASSES: usize = 256;

/// LightGBM's `kZeroThreshold`: with `zero_as_missing`, values this close to 0 count as missing.
const ZERO_THRESHOLD: f64 = 1e-35;

/// Regression objectives whose prediction is the raw sum of the trees.
const IDENTITY_REGRESSIONS: [&str; 6] = ["regression", "regression_l1", "huber", "fair", "quantile", "mape"];

/// Parses a LightGBM text model into a [`TreeEnsemble`].
pub fn import_lightgbm_text(text: &str) -> Result<TreeEnsemble> {
    if text.len() > MAX_MODEL_TEXT_BYTES {
        return Err(invalid(format!("file is larger than {MAX_MODEL_TEXT_BYTES} bytes")));
    }
    let (header, blocks) = split_blocks(text)?;
    let num_features = header_usize(&header, "max_feature_idx")?
        .checked_add(1)
        .ok_or_else(|| invalid("max_feature_idx is too large".into()))?;
    let num_class = header_usize(&header, "num_class")?;
    let per_iteration = header_usize(&header, "num_tree_per_iteration")?;
    let (objective, sigmoid) = parse_objective(header_value(&header, "objective")?, num_class)?;
    if per_iteration != objective.outputs() {
        return Err(invalid(format!(
            "num_tree_per_iteration {per_iteration} for {} outputs",
            objective.outputs()
        )));
    }
    if blocks.is_empty() {
        return Err(invalid("the model has no trees".into()));
    }
    if blocks.len() % per_iteration != 0 {
        return Err(invalid(format!(
            "{} trees is not a whole number of iterations of {per_iteration}",
            blocks.len()
        )));
    }
    // `boosting=rf` averages its trees instead of summing them.
    let iterations = blocks.len() / per_iteration;
    let scale = sigmoid
        / if header.contains_key("average_output") {
            iterations as f64
        } else {
            1.0
        };
    let trees = blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            let tree = parse_tree(block, num_features, scale).map_err(|e| e.within(&format!("Tree={i}")))?;
            Ok((i % per_iteration, tree))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TreeEnsemble {
        feature_names: feature_names(&header, num_features)?,
        num_features,
        objective,
        arithmetic: Arithmetic::F64,
        base_margins: vec![0.0; objective.outputs()],
        trees,
    })
}

/// Whether `text` looks like a LightGBM text model (its first line is `tree`).
pub fn is_lightgbm_text(bytes: &[u8]) -> bool {
    bytes.starts_with(b"tree\n") || bytes.starts_with(b"tree\r\n")
}

type Fields<'a> = HashMap<&'a str, &'a str>;

/// The header's `key=value` lines (and bare flags such as `average_output`), and each tree's.
fn split_blocks(text: &str) -> Result<(Fields<'_>, Vec<Fields<'_>>)> {
    let mut lines = text.lines().map(str::trim_end);
    if lines.next() != Some("tree") {
        return Err(invalid("the first line is not `tree`".into()));
    }
    let mut header = Fields::new();
    let mut blocks: Vec<Fields<'_>> = Vec::new();
    let mut ended = false;
    for line in lines {
        if line == "end of trees" {
            ended = true;
            break;
        }
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        if key == "Tree" {
            blocks.push(Fields::new());
            continue;
        }
        let fields = blocks.last_mut().unwrap_or(&mut header);
        if fields.insert(key, value).is_some() {
            return Err(invalid(format!("`{key}` appears twice")));
        }
    }
    if !ended {
        return Err(invalid("no `end of trees` line: the file is truncated".into()));
    }
    Ok((header, blocks))
}

fn header_value<'a>(fields: &Fields<'a>, key: &str) -> Result<&'a str> {
    fields
        .get(key)
        .copied()
        .ok_or_else(|| invalid(format!("missing `{key}`")))
}

fn header_usize(fields: &Fields<'_>, key: &str) -> Result<usize> {
    let value = header_value(fields, key)?;
    value
        .trim()
        .parse()
        .map_err(|_| invalid(format!("`{key}={value}` is not a non-negative integer")))
}

/// The objective and the factor its transform applies to the raw sum (`sigmoid:k`).
fn parse_objective(line: &str, num_class: usize) -> Result<(Objective, f64)> {
    let mut words = line.split_whitespace();
    let name = words.next().ok_or_else(|| invalid("the objective is empty".into()))?;
    let params: HashMap<&str, &str> = words.filter_map(|w| w.split_once(':')).collect();
    let flags: Vec<&str> = line.split_whitespace().skip(1).filter(|w| !w.contains(':')).collect();
    let unsupported = || ModelError::Unsupported(format!("objective `{}`", line.trim()));
    if !flags.is_empty() {
        // `regression sqrt` predicts the signed square of the sum.
        return Err(unsupported());
    }
    match name {
        "binary" => {
            let sigmoid = match params.get("sigmoid") {
                Some(s) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| invalid(format!("sigmoid `{s}` is not a positive number")))?,
                None => 1.0,
            };
            if num_class != 1 {
                return Err(invalid(format!("binary objective with num_class {num_class}")));
            }
            Ok((Objective::BinaryLogistic, sigmoid))
        }
        "multiclass" => {
            if !(2..=MAX_CLASSES).contains(&num_class) {
                return Err(invalid(format!("multiclass with num_class {num_class}")));
            }
            Ok((Objective::MultiSoftprob { classes: num_class }, 1.0))
        }
        name if IDENTITY_REGRESSIONS.contains(&name) => {
            if num_class != 1 {
                return Err(invalid(format!("regression with num_class {num_class}")));
            }
            Ok((Objective::RegSquaredError, 1.0))
        }
        _ => Err(unsupported()),
    }
}

/// The training names, unless they are LightGBM's own `Column_<i>` (a model trained on a bare
/// array), which the calibration CSV cannot be expected to use.
fn feature_names(header: &Fields<'_>, num_features: usize) -> Result<Vec<String>> {
    let Some(line) = header.get("feature_names") else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    if names.len() != num_features {
        return Err(invalid(format!(
            "{} feature names for {num_features} features",
            names.len()
        )));
    }
    let generated = names.iter().enumerate().all(|(i, n)| *n == format!("Column_{i}"));
    Ok(if generated { Vec::new() } else { names })
}

/// One tree: internal nodes first (node 0 is the root), then the leaves; leaves scaled by
/// `scale`.
fn parse_tree(block: &Fields<'_>, num_features: usize, scale: f64) -> Result<Tree> {
    let num_leaves = header_usize(block, "num_leaves")?;
    if num_leaves == 0 {
        return Err(invalid("num_leaves is 0".into()));
    }
    if header_value(block, "num_cat").is_ok_and(|n| n.trim() != "0") {
        return Err(ModelError::Unsupported("categorical splits".into()));
    }
    if block.get("is_linear").is_some_and(|v| v.trim() != "0") {
        return Err(ModelError::Unsupported("linear trees".into()));
    }
    let leaves: Vec<f64> = numbers(block, "leaf_value", num_leaves)?;
    let mut nodes = Vec::with_capacity(2 * num_leaves - 1);
    let internal = num_leaves - 1;
    if internal > 0 {
        let features: Vec<i64> = numbers(block, "split_feature", internal)?;
        let thresholds: Vec<f64> = numbers(block, "threshold", internal)?;
        let decision_types: Vec<u8> = numbers(block, "decision_type", internal)?;
        let left: Vec<i64> = numbers(block, "left_child", internal)?;
        let right: Vec<i64> = numbers(block, "right_child", internal)?;
        let child = |c: i64, node: usize| -> Result<usize> {
            let index = if c >= 0 {
                usize::try_from(c).ok().filter(|&c| c < internal)
            } else {
                usize::try_from(!c)
                    .ok()
                    .filter(|&l| l < num_leaves)
                    .map(|l| internal + l)
            };
            index.ok_or_else(|| invalid(format!("node {node} has child {c} outside the tree")))
        };
        for i in 0..internal {
            let feature = usize::try_from(features[i])
                .ok()
                .filter(|&f| f < num_features)
                .ok_or_else(|| invalid(format!("node {i} splits on feature {} of {num_features}", features[i])))?;
            let threshold = split_threshold(i, thresholds[i], decision_types[i])?;
            nodes.push(Node::Split {
                feature,
                threshold,
                left: child(left[i], i)?,
                right: child(right[i], i)?,
            });
        }
    }
    for (i, value) in leaves.iter().enumerate() {
        let value = value * scale;
        if !value.is_finite() {
            return Err(invalid(format!("leaf {i} is not finite")));
        }
        nodes.push(Node::Leaf { value });
    }
    check_tree_shape(&nodes, MAX_TREE_DEPTH)?;
    Ok(Tree { nodes })
}

/// The `<` threshold of a numerical split `x <= threshold`, after checking its decision type:
/// bit 0 categorical, bit 1 default-left, bits 2-3 the missing type (0 none, 1 zero, 2 NaN).
fn split_threshold(node: usize, threshold: f64, decision_type: u8) -> Result<f64> {
    if threshold.is_nan() {
        return Err(invalid(format!("node {node} has a NaN threshold")));
    }
    if decision_type & 1 != 0 {
        return Err(ModelError::Unsupported(format!("categorical splits (node {node})")));
    }
    let default_left = decision_type & 2 != 0;
    match (decision_type >> 2) & 3 {
        0 | 2 => {}
        1 => {
            // Zeros go to the default side; that agrees with the threshold only if every value
            // within ZERO_THRESHOLD of 0 lies on that side of it.
            let agrees = if default_left {
                threshold >= ZERO_THRESHOLD
            } else {
                threshold < -ZERO_THRESHOLD
            };
            if !agrees {
                return Err(ModelError::Unsupported(format!(
                    "a zero-as-missing split that sends zeros against its threshold (node {node})"
                )));
            }
        }
        other => return Err(invalid(format!("node {node} has missing type {other}"))),
    }
    Ok(Arithmetic::F64.next_up(threshold))
}

/// A whitespace-separated array of exactly `len` numbers.
fn numbers<T: std::str::FromStr>(block: &Fields<'_>, key: &str, len: usize) -> Result<Vec<T>> {
    let values = header_value(block, key)?
        .split_whitespace()
        .map(|v| v.parse::<T>().map_err(|_| invalid(format!("`{key}` holds `{v}`"))))
        .collect::<Result<Vec<T>>>()?;
    if values.len() != len {
        return Err(invalid(format!("`{key}` has {} values, expected {len}", values.len())));
    }
    Ok(values)
}

fn invalid(message: String) -> ModelError {
    ModelError::InvalidModel(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINARY: &str = include_str!("../fixtures/lightgbm-breast-cancer/model.txt");
    const MULTICLASS: &str = include_str!("../fixtures/lightgbm-wine/model.txt");

    #[test]
    fn reads_the_header_and_interleaved_classes() {
        let binary = import_lightgbm_text(BINARY).unwrap();
        assert_eq!((binary.num_features, binary.trees.len()), (30, 20));
        assert_eq!(binary.objective, Objective::BinaryLogistic);
        assert!(binary.feature_names.is_empty(), "Column_<i> names are LightGBM's own");
        let multiclass = import_lightgbm_text(MULTICLASS).unwrap();
        assert_eq!(multiclass.objective, Objective::MultiSoftprob { classes: 3 });
        let outputs: Vec<usize> = multiclass.trees.iter().take(4).map(|(o, _)| *o).collect();
        assert_eq!(outputs, [0, 1, 2, 0]);
    }

    #[test]
    fn a_single_leaf_tree_and_average_output() {
        let text = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=0\n\
                    objective=regression\naverage_output\n\nTree=0\nnum_leaves=1\nnum_cat=0\n\
                    leaf_value=3\nshrinkage=1\n\nTree=1\nnum_leaves=1\nnum_cat=0\nleaf_value=5\n\
                    shrinkage=1\n\nend of trees\n";
        let ensemble = import_lightgbm_text(text).unwrap();
        assert_eq!(ensemble.predict(&[0.0]), vec![4.0]);
    }

    #[test]
    fn refuses_malformed_and_unsupported_models() {
        let edit = |from: &str, to: &str| BINARY.replacen(from, to, 1);
        let cases: Vec<(String, &str)> = vec![
            ("tree\n".into(), "end of trees"),
            ("not a model".into(), "first line"),
            (BINARY.split("Tree=1").next().unwrap().into(), "truncated"),
            (
                edit("objective=binary sigmoid:1", "objective=regression sqrt"),
                "objective `regression sqrt`",
            ),
            (
                edit("objective=binary sigmoid:1", "objective=poisson"),
                "objective `poisson`",
            ),
            (
                edit("objective=binary sigmoid:1", "objective=binary sigmoid:-1"),
                "sigmoid",
            ),
            (edit("num_cat=0", "num_cat=1"), "categorical splits"),
            (edit("decision_type=2 2", "decision_type=3 2"), "categorical splits"),
            (edit("decision_type=2 2", "decision_type=4 2"), "zero-as-missing"),
            (edit("is_linear=0", "is_linear=1"), "linear trees"),
            (edit("left_child=1 3", "left_child=9 3"), "outside the tree"),
            (edit("left_child=1 3", "left_child=0 3"), "reached twice"),
            (edit("split_feature=20", "split_feature=30"), "feature 30"),
            (edit("threshold=16.765000000000004", "threshold=nan"), "NaN threshold"),
            (edit("leaf_value=0.67633986669563895 ", ""), "leaf_value"),
            (edit("max_feature_idx=29", "max_feature_idx=x"), "max_feature_idx"),
            (
                edit("num_tree_per_iteration=1", "num_tree_per_iteration=2"),
                "num_tree_per_iteration",
            ),
        ];
        for (text, needle) in cases {
            let error = match import_lightgbm_text(&text) {
                Ok(_) => panic!("`{needle}`: accepted"),
                Err(e) => e.to_string(),
            };
            assert!(error.contains(needle), "expected `{needle}` in `{error}`");
        }
    }
}
