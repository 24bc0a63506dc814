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
//!
//! Memory: the text is read in place (keys and values are slices of it) and only the keys
//! above are kept, so a file of millions of other lines costs nothing. Every array is counted
//! before it is parsed, a tree's nodes are built straight from its arrays once their lengths
//! agree, and at most [`MAX_FEATURES`] feature names are kept: an import holds at most about
//! 7 bytes per byte of the file (a node takes 40 bytes; the least text of a leaf and its
//! split, 2 bytes per array entry, is 12 bytes).

use std::collections::HashMap;

use crate::compiler::ensemble::{Arithmetic, MAX_FEATURES, MAX_TREE_DEPTH, Node, Tree, TreeEnsemble, check_tree_shape};
use crate::error::{ModelError, Result};
use crate::spec::objective::Objective;

/// Model files larger than this are refused before parsing.
pub const MAX_MODEL_TEXT_BYTES: usize = 64 * 1024 * 1024;

/// Most classes a multiclass model may have.
const MAX_CLASSES: usize = 256;

/// LightGBM's `kZeroThreshold`: with `zero_as_missing`, values this close to 0 count as missing.
const ZERO_THRESHOLD: f64 = 1e-35;

/// The header keys the importer reads.
const HEADER_KEYS: [&str; 6] = [
    "max_feature_idx",
    "num_class",
    "num_tree_per_iteration",
    "objective",
    "feature_names",
    "average_output",
];

/// The tree keys the importer reads.
const TREE_KEYS: [&str; 9] = [
    "num_leaves",
    "num_cat",
    "is_linear",
    "leaf_value",
    "split_feature",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
];

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
            let tree = fields(block, &TREE_KEYS)
                .and_then(|block| parse_tree(&block, num_features, scale))
                .map_err(|e| e.within(&format!("Tree={i}")))?;
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

/// The header's fields, and each tree's text (the lines after its `Tree=` line), up to the
/// `end of trees` line.
fn split_blocks(text: &str) -> Result<(Fields<'_>, Vec<&str>)> {
    let mut lines = lines(text);
    if lines.next().map(|(_, line)| line) != Some("tree") {
        return Err(invalid("the first line is not `tree`".into()));
    }
    // Where each tree starts and the trees end; counted first, so that the list of trees is
    // allocated once, to its size.
    let mut starts = lines.clone().filter(|(_, line)| is_tree_line(line)).map(|(at, _)| at);
    let trees = starts.clone().count();
    let end = lines
        .clone()
        .find(|(_, line)| *line == "end of trees")
        .map(|(at, _)| at)
        .ok_or_else(|| invalid("no `end of trees` line: the file is truncated".into()))?;
    let header_end = starts.next().unwrap_or(end);
    let header = fields(&text[..header_end], &HEADER_KEYS)?;
    let mut blocks = Vec::with_capacity(trees);
    let mut start = header_end;
    for next in starts.chain([end]) {
        if start < next {
            // The block after the `Tree=` line at `start`.
            let block = &text[start..next];
            blocks.push(block.split_once('\n').map_or("", |(_, rest)| rest));
        }
        start = next;
    }
    Ok((header, blocks))
}

/// The lines of `text` up to `end of trees` (with it), trailing whitespace trimmed, each with the
/// offset it starts at.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> + Clone {
    let mut at = 0;
    let mut ended = false;
    text.split_inclusive('\n')
        .map(move |raw| {
            let start = at;
            at += raw.len();
            (start, raw.trim_end())
        })
        .take_while(move |(_, line)| {
            let go = !ended;
            ended |= *line == "end of trees";
            go
        })
}

fn is_tree_line(line: &str) -> bool {
    line.split_once('=').map_or(line, |(key, _)| key) == "Tree"
}

/// The `key=value` lines (and bare flags such as `average_output`) of `text` whose key is one of
/// `keys`; other lines are skipped.
fn fields<'a>(text: &'a str, keys: &[&str]) -> Result<Fields<'a>> {
    let mut fields = Fields::new();
    for line in text.lines().map(str::trim_end) {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        if keys.contains(&key) && fields.insert(key, value).is_some() {
            return Err(invalid(format!("`{key}` appears twice")));
        }
    }
    Ok(fields)
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
    // The parameters (`key:value`, the last of a key counts) and flags, read in place.
    let param = |key: &str| {
        line.split_whitespace()
            .skip(1)
            .filter_map(|w| w.split_once(':'))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .last()
    };
    let has_flags = words.any(|w| !w.contains(':'));
    let unsupported = || ModelError::Unsupported(format!("objective `{}`", line.trim()));
    if has_flags {
        // `regression sqrt` predicts the signed square of the sum.
        return Err(unsupported());
    }
    match name {
        "binary" => {
            let sigmoid = match param("sigmoid") {
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
    // Counted and checked in place, kept only when they are the training's own names.
    let count = line.split_whitespace().count();
    if count != num_features {
        return Err(invalid(format!("{count} feature names for {num_features} features")));
    }
    if count > MAX_FEATURES {
        return Err(ModelError::Unsupported(format!(
            "the file lists more than {MAX_FEATURES} feature names (limit {MAX_FEATURES})"
        )));
    }
    let generated = line
        .split_whitespace()
        .enumerate()
        .all(|(i, n)| *n == format!("Column_{i}"));
    Ok(if generated {
        Vec::new()
    } else {
        line.split_whitespace().map(str::to_owned).collect()
    })
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
    // Every array's length is checked before anything is allocated; then the nodes are built
    // straight from the text.
    let internal = num_leaves - 1;
    let leaves = numbers::<f64>(block, "leaf_value", num_leaves)?;
    let features = numbers::<i64>(block, "split_feature", internal)?;
    let thresholds = numbers::<f64>(block, "threshold", internal)?;
    let decision_types = numbers::<u8>(block, "decision_type", internal)?;
    let left = numbers::<i64>(block, "left_child", internal)?;
    let right = numbers::<i64>(block, "right_child", internal)?;
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
    let mut nodes = Vec::with_capacity(internal + num_leaves);
    let splits = features.zip(thresholds).zip(decision_types).zip(left.zip(right));
    for (i, (((feature, threshold), decision_type), (left, right))) in splits.enumerate() {
        let (feature, threshold, decision_type, left, right) = (feature?, threshold?, decision_type?, left?, right?);
        let feature = usize::try_from(feature)
            .ok()
            .filter(|&f| f < num_features)
            .ok_or_else(|| invalid(format!("node {i} splits on feature {feature} of {num_features}")))?;
        nodes.push(Node::Split {
            feature,
            threshold: split_threshold(i, threshold, decision_type)?,
            left: child(left, i)?,
            right: child(right, i)?,
        });
    }
    for (i, value) in leaves.enumerate() {
        let value = value? * scale;
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

/// A whitespace-separated array of exactly `len` numbers (counted before any is parsed; not
/// read at all when `len` is 0), parsed as they are taken.
fn numbers<'a, T: std::str::FromStr>(
    block: &Fields<'a>,
    key: &'a str,
    len: usize,
) -> Result<impl Iterator<Item = Result<T>> + 'a> {
    let text = if len == 0 { "" } else { header_value(block, key)? };
    let count = text.split_whitespace().count();
    if count != len {
        return Err(invalid(format!("`{key}` has {count} values, expected {len}")));
    }
    Ok(text
        .split_whitespace()
        .map(move |v| v.parse::<T>().map_err(|_| invalid(format!("`{key}` holds `{v}`")))))
}

fn invalid(message: String) -> ModelError {
    ModelError::InvalidModel(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINARY: &str = include_str!("../../../fixtures/lightgbm-breast-cancer/model.txt");
    const MULTICLASS: &str = include_str!("../../../fixtures/lightgbm-wine/model.txt");

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
