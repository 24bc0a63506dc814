//! Import of models saved by XGBoost's `booster.save_model("model.json")`.
//!
//! Supported: `gbtree` and `dart` boosters with numerical splits and scalar leaves, objectives
//! `binary:logistic`, `multi:softprob` and `reg:squarederror`. Everything else is refused with
//! an error that names what is unsupported. Missing values (`default_left`) are accepted in the
//! file but never used: Blindfold rejects NaN inputs before encryption.
//!
//! The file is deserialized straight into the typed `Document` below, from JSON by
//! `serde_json` and from UBJSON by the crate's `ubjson` reader: the fields the importer does not read
//! are skipped, never built (a JSON value tree takes 16 to 50 times its text), so what an
//! import holds is bounded by a small multiple of the file's size. Each element of the arrays
//! it keeps takes at most 8 bytes (4 for the node arrays, XGBoost's own `int32` and `float32`),
//! and at least one byte of UBJSON or two of JSON; a tree's arrays are dropped as soon as it is
//! converted; at most [`MAX_FEATURES`] feature names are kept. Nesting is bounded by
//! `serde_json`'s recursion limit (128) and the UBJSON reader's (64).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::compiler::ensemble::{Arithmetic, MAX_FEATURES, MAX_TREE_DEPTH, Node, Tree, TreeEnsemble, check_tree_shape};
use crate::error::{ModelError, Result};
use crate::spec::objective::Objective;

/// Model files larger than this are refused before parsing.
pub const MAX_MODEL_JSON_BYTES: usize = 64 * 1024 * 1024;

/// Parses XGBoost JSON into a [`TreeEnsemble`].
pub fn import_xgboost_json(json: &str) -> Result<TreeEnsemble> {
    if json.len() > MAX_MODEL_JSON_BYTES {
        return Err(invalid(format!("file is larger than {MAX_MODEL_JSON_BYTES} bytes")));
    }
    let document: Document = serde_json::from_str(json).map_err(|e| {
        if e.is_data() {
            // The text is JSON, but not the document the importer reads (a field of the wrong
            // type, a limit passed).
            invalid(e.to_string())
        } else {
            invalid(format!("not JSON: {e}"))
        }
    })?;
    import_xgboost_document(document)
}

/// Parses XGBoost's binary JSON (`save_model("model.ubj")`, the default of XGBoost 2.1 and
/// later): the same document as [`import_xgboost_json`] reads, in UBJSON.
pub fn import_xgboost_ubjson(bytes: &[u8]) -> Result<TreeEnsemble> {
    if bytes.len() > MAX_MODEL_JSON_BYTES {
        return Err(invalid(format!("file is larger than {MAX_MODEL_JSON_BYTES} bytes")));
    }
    import_xgboost_document(crate::compiler::import::ubjson::from_slice(bytes)?)
}

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

// The parts of the model document the importer reads. Fields are optional where a missing one
// is reported by name below (and so that a `gblinear` booster's model, which has no trees, is
// refused as unsupported rather than as a malformed tree model); a tree's node arrays are
// required, so that a tree without them costs nothing before it is refused.

#[derive(Deserialize)]
#[serde(rename = "model document")]
struct Document {
    learner: Option<LearnerDocument>,
}

#[derive(Deserialize)]
#[serde(rename = "learner")]
struct LearnerDocument {
    learner_model_param: Option<ModelParams>,
    objective: Option<ObjectiveDocument>,
    gradient_booster: Option<BoosterDocument>,
    feature_names: Option<FeatureNames>,
    feature_types: Option<HasCategorical>,
}

#[derive(Deserialize)]
#[serde(rename = "learner_model_param")]
struct ModelParams {
    num_feature: Option<Scalar>,
    num_class: Option<Scalar>,
    num_target: Option<Scalar>,
    base_score: Option<BaseScore>,
}

#[derive(Deserialize)]
#[serde(rename = "objective")]
struct ObjectiveDocument {
    name: Option<Scalar>,
}

#[derive(Deserialize)]
#[serde(rename = "gradient_booster")]
struct BoosterDocument {
    name: Option<Scalar>,
    model: Option<TreeModel>,
    /// `dart`'s inner `gbtree` booster.
    gbtree: Option<InnerBooster>,
    weight_drop: Option<Array<Real>>,
}

#[derive(Deserialize)]
#[serde(rename = "gbtree")]
struct InnerBooster {
    model: Option<TreeModel>,
}

#[derive(Deserialize)]
#[serde(rename = "model")]
struct TreeModel {
    trees: Option<Vec<TreeDocument>>,
    tree_info: Option<Array<i32>>,
}

#[derive(Deserialize)]
#[serde(rename = "tree")]
struct TreeDocument {
    left_children: Array<i32>,
    right_children: Array<i32>,
    split_indices: Array<i32>,
    split_conditions: Array<Real>,
    split_type: Option<AllNumerical>,
    categories: Option<NonEmpty>,
    tree_param: Option<TreeParams>,
}

#[derive(Deserialize)]
#[serde(rename = "tree_param")]
struct TreeParams {
    size_leaf_vector: Option<Scalar>,
}

/// A parameter XGBoost writes as a string or a number; anything else is kept as its kind, for
/// the error message.
enum Scalar {
    Text(String),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Other(&'static str),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Text(text) => write!(f, "{text:?}"),
            Scalar::Unsigned(n) => write!(f, "{n}"),
            Scalar::Signed(n) => write!(f, "{n}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Other(kind) => f.write_str(kind),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(u64::try_from(v).map_or(Scalar::Signed(v), Scalar::Unsigned))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an object"))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// `base_score`: a number, a string holding one or a list (`"[6.2637365E-1]"`), or a list.
enum BaseScore {
    Text(String),
    Number(f64),
    List(Vec<f64>),
    Other,
}

impl<'de> Deserialize<'de> for BaseScore {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BaseScoreVisitor;
        impl<'de> Visitor<'de> for BaseScoreVisitor {
            type Value = BaseScore;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a string or a list of numbers")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BaseScore, E> {
                Ok(BaseScore::Text(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BaseScore, E> {
                Ok(BaseScore::Number(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BaseScore, E> {
                Ok(BaseScore::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<BaseScore, E> {
                Ok(BaseScore::Number(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<BaseScore, E> {
                Ok(BaseScore::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<BaseScore, E> {
                Ok(BaseScore::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<BaseScore, A::Error> {
                Ok(BaseScore::List(array_elements(seq)?))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BaseScore, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(BaseScore::Other)
            }
        }
        deserializer.deserialize_any(BaseScoreVisitor)
    }
}

/// An array of numbers (or other small elements).
struct Array<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Array<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArrayVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ArrayVisitor<T> {
            type Value = Array<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Array<T>, A::Error> {
                array_elements(seq).map(Array)
            }
        }
        deserializer.deserialize_seq(ArrayVisitor(PhantomData))
    }
}

/// The elements of an array. Room for all of them is made up front when the reader says how
/// many there are (the UBJSON reader does, after checking that they fit in the bytes left,
/// each taking at least one), for elements of at most 8 bytes: at most 8 bytes per byte of
/// the file, without the doubling of a growing list.
fn array_elements<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<T>, A::Error> {
    let room = if size_of::<T>() <= 8 {
        seq.size_hint().unwrap_or(0)
    } else {
        0
    };
    let mut items = Vec::with_capacity(room);
    while let Some(item) = seq.next_element()? {
        items.push(item);
    }
    Ok(items)
}

/// A number read as XGBoost does (as a double, then rounded to a float).
struct Real(f32);

impl<'de> Deserialize<'de> for Real {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(|x| Real(x as f32))
    }
}

/// Feature names, at most [`MAX_FEATURES`] of them.
struct FeatureNames(Vec<String>);

impl<'de> Deserialize<'de> for FeatureNames {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamesVisitor;
        impl<'de> Visitor<'de> for NamesVisitor {
            type Value = FeatureNames;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of feature names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FeatureNames, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    if names.len() == MAX_FEATURES {
                        return Err(de::Error::custom(format!(
                            "the file lists more than {MAX_FEATURES} feature names (limit {MAX_FEATURES})"
                        )));
                    }
                    names.push(name);
                }
                Ok(FeatureNames(names))
            }
        }
        deserializer.deserialize_seq(NamesVisitor)
    }
}

/// Whether `feature_types` marks a feature categorical (`"c"`); read without keeping it.
struct HasCategorical(bool);

impl<'de> Deserialize<'de> for HasCategorical {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TypesVisitor;
        impl<'de> Visitor<'de> for TypesVisitor {
            type Value = HasCategorical;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of feature types")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HasCategorical, A::Error> {
                let mut categorical = false;
                while let Some(is_c) = seq.next_element::<IsCategorical>()? {
                    categorical |= is_c.0;
                }
                Ok(HasCategorical(categorical))
            }
        }
        deserializer.deserialize_seq(TypesVisitor)
    }
}

/// One entry of `feature_types`: whether it is the string `"c"` (other entries are ignored).
struct IsCategorical(bool);

impl<'de> Deserialize<'de> for IsCategorical {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TypeVisitor;
        impl<'de> Visitor<'de> for TypeVisitor {
            type Value = IsCategorical;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a feature type")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IsCategorical, E> {
                Ok(IsCategorical(v == "c"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<IsCategorical, E> {
                Ok(IsCategorical(false))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<IsCategorical, E> {
                Ok(IsCategorical(false))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<IsCategorical, E> {
                Ok(IsCategorical(false))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<IsCategorical, E> {
                Ok(IsCategorical(false))
            }
            fn visit_unit<E: de::Error>(self) -> Result<IsCategorical, E> {
                Ok(IsCategorical(false))
            }
        }
        deserializer.deserialize_any(TypeVisitor)
    }
}

/// Whether every entry of a tree's `split_type` is 0 (numerical); read without keeping it.
struct AllNumerical(bool);

impl<'de> Deserialize<'de> for AllNumerical {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SplitTypesVisitor;
        impl<'de> Visitor<'de> for SplitTypesVisitor {
            type Value = AllNumerical;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of split types")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AllNumerical, A::Error> {
                let mut numerical = true;
                while let Some(split_type) = seq.next_element::<Scalar>()? {
                    numerical &= matches!(split_type, Scalar::Unsigned(0));
                }
                Ok(AllNumerical(numerical))
            }
        }
        deserializer.deserialize_seq(SplitTypesVisitor)
    }
}

/// Whether a list has any entry; read without keeping them.
struct NonEmpty(bool);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = NonEmpty;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NonEmpty, A::Error> {
                let mut any = false;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    any = true;
                }
                Ok(NonEmpty(any))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// The model document, however it was encoded.
fn import_xgboost_document(document: Document) -> Result<TreeEnsemble> {
    let learner = required(document.learner, "learner")?;
    let params = required(learner.learner_model_param, "learner_model_param")?;
    let num_features = parse_usize(required(params.num_feature.as_ref(), "num_feature")?, "num_feature")?;
    if num_features == 0 {
        return Err(invalid("num_feature is 0".into()));
    }
    let objective = parse_objective(required(learner.objective, "objective")?, &params)?;
    let base_margins = base_margins(parse_base_score(required(params.base_score, "base_score")?)?, objective)?;
    let (model, tree_weights) = booster_model(required(learner.gradient_booster, "gradient_booster")?)?;
    let trees = parse_trees(model, tree_weights, num_features, objective.outputs())?;
    let feature_names = parse_feature_names(learner.feature_names, learner.feature_types, num_features)?;
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
fn parse_objective(objective: ObjectiveDocument, params: &ModelParams) -> Result<Objective> {
    let num_class = match &params.num_class {
        Some(v) => parse_usize(v, "num_class")?,
        None => 0,
    };
    if let Some(v) = &params.num_target {
        let targets = parse_usize(v, "num_target")?;
        if targets > 1 {
            return Err(ModelError::Unsupported(format!(
                "multi-target models ({targets} targets)"
            )));
        }
    }
    let name = match required(objective.name, "name")? {
        Scalar::Text(name) => name,
        _ => return Err(invalid("objective.name is not a string".into())),
    };
    match name.as_str() {
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
fn booster_model(booster: BoosterDocument) -> Result<(TreeModel, Option<Vec<f32>>)> {
    let name = match required(booster.name, "name")? {
        Scalar::Text(name) => name,
        _ => String::new(),
    };
    match name.as_str() {
        "gbtree" => Ok((required(booster.model, "model")?, None)),
        "dart" => {
            let model = required(required(booster.gbtree, "gbtree")?.model, "model")?;
            let weights = required(booster.weight_drop, "weight_drop")?.0;
            Ok((model, Some(weights.into_iter().map(|w| w.0).collect())))
        }
        "gblinear" => Err(ModelError::Unsupported("linear booster `gblinear`".into())),
        other => Err(ModelError::Unsupported(format!("booster `{other}`"))),
    }
}

/// Every tree with the output it adds to (`tree_info`), its leaves scaled by its dart weight.
/// Each tree's arrays are dropped once it is converted.
fn parse_trees(
    model: TreeModel,
    tree_weights: Option<Vec<f32>>,
    num_features: usize,
    outputs: usize,
) -> Result<Vec<(usize, Tree)>> {
    let trees_json = required(model.trees, "trees")?;
    let tree_info = required(model.tree_info, "tree_info")?.0;
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
        .into_iter()
        .zip(tree_info)
        .enumerate()
        .map(|(i, (tree_json, info))| {
            let output = usize::try_from(info)
                .ok()
                .filter(|&o| o < outputs)
                .ok_or_else(|| invalid(format!("tree {i}: tree_info {info} is not an output index")))?;
            let weight = tree_weights.as_ref().map_or(1.0, |w| w[i]);
            let tree = parse_tree(tree_json, num_features, weight).map_err(|e| e.within(&format!("tree {i}")))?;
            Ok((output, tree))
        })
        .collect()
}

/// The feature names, if the model was trained with them; categorical features are refused.
fn parse_feature_names(
    names: Option<FeatureNames>,
    types: Option<HasCategorical>,
    num_features: usize,
) -> Result<Vec<String>> {
    let names = match names {
        Some(FeatureNames(names)) if !names.is_empty() => {
            if names.len() != num_features {
                return Err(invalid(format!(
                    "{} feature names for {num_features} features",
                    names.len()
                )));
            }
            names
        }
        _ => Vec::new(),
    };
    if types.is_some_and(|t| t.0) {
        return Err(ModelError::Unsupported("categorical features".into()));
    }
    Ok(names)
}

fn parse_tree(mut tree: TreeDocument, num_features: usize, weight: f32) -> Result<Tree> {
    let arrays = NodeArrays::read(&mut tree)?;
    refuse_unsupported_tree(&tree)?;
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
fn refuse_unsupported_tree(tree: &TreeDocument) -> Result<()> {
    if tree.split_type.as_ref().is_some_and(|t| !t.0) || tree.categories.as_ref().is_some_and(|c| c.0) {
        return Err(ModelError::Unsupported("categorical splits".into()));
    }
    if let Some(size) = tree.tree_param.as_ref().and_then(|p| p.size_leaf_vector.as_ref()) {
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
    left: Vec<i32>,
    right: Vec<i32>,
    split_indices: Vec<i32>,
    conditions: Vec<Real>,
}

impl NodeArrays {
    /// Takes the node arrays out of `tree`.
    fn read(tree: &mut TreeDocument) -> Result<Self> {
        let arrays = Self {
            left: std::mem::take(&mut tree.left_children.0),
            right: std::mem::take(&mut tree.right_children.0),
            split_indices: std::mem::take(&mut tree.split_indices.0),
            conditions: std::mem::take(&mut tree.split_conditions.0),
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
        let value = self.conditions[i].0 * weight;
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
        let child = |c: i32| -> Result<usize> {
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
        let threshold = self.conditions[i].0;
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

fn parse_base_score(value: BaseScore) -> Result<Vec<f64>> {
    let text = match value {
        BaseScore::Text(s) => s,
        BaseScore::Number(x) => x.to_string(),
        BaseScore::List(items) => return Ok(items),
        BaseScore::Other => {
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

fn required<T>(value: Option<T>, name: &str) -> Result<T> {
    value.ok_or_else(|| invalid(format!("missing field `{name}`")))
}

fn parse_usize(value: &Scalar, name: &str) -> Result<usize> {
    match value {
        Scalar::Text(s) => s.trim().parse().ok(),
        Scalar::Unsigned(n) => usize::try_from(*n).ok(),
        _ => None,
    }
    .ok_or_else(|| invalid(format!("`{name}` is not a non-negative integer: {value}")))
}

fn invalid(message: String) -> ModelError {
    ModelError::InvalidModel(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::fixtures::BREAST_CANCER;
    use serde_json::Value;

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
