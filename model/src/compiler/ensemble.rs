//! The float model every importer produces and the quantizer approximates: a sum of regression
//! trees per output, then the objective's transform. Each importer normalises its library's
//! split rule to "left iff `x < threshold`" in the library's own arithmetic, so that this
//! model reproduces the library's predictions (to rounding of the final transform).

pub use crate::spec::objective::Objective;

/// The floating-point type a library compares features and sums leaves in. XGBoost and the
/// ONNX runtimes cast features to `f32` and sum `f32` leaves; LightGBM keeps `f64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    F32,
    F64,
}

impl Arithmetic {
    /// A feature value as the library sees it.
    pub fn feature(self, x: f64) -> f64 {
        match self {
            Arithmetic::F32 => f64::from(x as f32),
            Arithmetic::F64 => x,
        }
    }

    /// The threshold `t'` with `x < t'` exactly when `x <= threshold`, for every `x` of this
    /// arithmetic: the next representable value up. How a `<=` split (LightGBM, scikit-learn's
    /// `BRANCH_LEQ`) becomes this model's `<`.
    pub fn next_up(self, threshold: f64) -> f64 {
        match self {
            Arithmetic::F32 => f64::from((threshold as f32).next_up()),
            Arithmetic::F64 => threshold.next_up(),
        }
    }

    /// A threshold rounded to this arithmetic (a no-op for `f64`).
    pub fn round(self, threshold: f64) -> f64 {
        self.feature(threshold)
    }
}

/// One node of a regression tree: a row goes left iff `x < threshold` (in the ensemble's
/// [`Arithmetic`]), else right.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        value: f64,
    },
}

/// A tree as a node arena; node 0 is the root. The importer guarantees that every child index
/// is in range and that the nodes form a tree (no sharing, no cycles).
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf value that `row` reaches, comparing in `arithmetic`.
    pub fn leaf_value(&self, row: &[f64], arithmetic: Arithmetic) -> f64 {
        let mut index = 0;
        loop {
            match self.nodes[index] {
                Node::Leaf { value } => return value,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    index = if arithmetic.feature(row[feature]) < threshold {
                        left
                    } else {
                        right
                    };
                }
            }
        }
    }
}

/// A tree ensemble in floating point, whichever library trained it.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeEnsemble {
    /// The names the model was trained with; empty when the file has none (ONNX, or a model
    /// trained on a bare array), and then the calibration CSV's columns are taken in order.
    pub feature_names: Vec<String>,
    pub num_features: usize,
    pub objective: Objective,
    pub arithmetic: Arithmetic,
    /// Per output, the margin every prediction starts from (in margin space).
    pub base_margins: Vec<f64>,
    /// Each tree with the index of the output it adds to.
    pub trees: Vec<(usize, Tree)>,
}

impl TreeEnsemble {
    /// Raw margins of one row, summed in the library's arithmetic.
    pub fn margins(&self, row: &[f64]) -> Vec<f64> {
        let outputs = self.objective.outputs();
        let sums: Vec<f64> = match self.arithmetic {
            Arithmetic::F32 => {
                let mut sums = vec![0f32; outputs];
                for (output, tree) in &self.trees {
                    sums[*output] += tree.leaf_value(row, Arithmetic::F32) as f32;
                }
                sums.into_iter().map(f64::from).collect()
            }
            Arithmetic::F64 => {
                let mut sums = vec![0f64; outputs];
                for (output, tree) in &self.trees {
                    sums[*output] += tree.leaf_value(row, Arithmetic::F64);
                }
                sums
            }
        };
        sums.iter().zip(&self.base_margins).map(|(s, b)| s + b).collect()
    }

    /// Probabilities (classification) or the predicted value (regression).
    pub fn predict(&self, row: &[f64]) -> Vec<f64> {
        self.objective.transform(&self.margins(row))
    }

    /// How many splits the float model has.
    pub fn splits(&self) -> usize {
        self.trees
            .iter()
            .map(|(_, t)| t.nodes.iter().filter(|n| matches!(n, Node::Split { .. })).count())
            .sum()
    }
}

/// Every node must be reached exactly once from the root: no sharing, no cycles, no orphans,
/// and no path deeper than `max_depth`. Importers call this on every tree they build.
pub(crate) fn check_tree_shape(nodes: &[Node], max_depth: usize) -> crate::Result<()> {
    use crate::ModelError;
    if nodes.is_empty() {
        return Err(ModelError::InvalidModel("a tree has no nodes".into()));
    }
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![(0usize, 0usize)];
    while let Some((index, depth)) = stack.pop() {
        if index >= nodes.len() {
            return Err(ModelError::InvalidModel(format!(
                "node {index} is outside the tree's {} nodes",
                nodes.len()
            )));
        }
        if seen[index] {
            return Err(ModelError::InvalidModel(format!("node {index} is reached twice")));
        }
        if depth > max_depth {
            return Err(ModelError::Unsupported(format!("trees deeper than {max_depth}")));
        }
        seen[index] = true;
        if let Node::Split { left, right, .. } = nodes[index] {
            stack.push((left, depth + 1));
            stack.push((right, depth + 1));
        }
    }
    if let Some(orphan) = seen.iter().position(|s| !s) {
        return Err(ModelError::InvalidModel(format!(
            "node {orphan} is not reachable from the root"
        )));
    }
    Ok(())
}

/// Deepest tree any importer accepts; deeper trees are almost certainly a corrupt file.
pub const MAX_TREE_DEPTH: usize = 32;

/// Most features a model may read, and most feature names a model file may list (the names
/// are kept, so this bounds what they take in memory).
pub const MAX_FEATURES: usize = 1_000_000;
