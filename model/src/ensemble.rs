//! The float model as XGBoost defines it: what [`crate::xgboost`] imports and what the
//! quantizer approximates.

pub use crate::objective::Objective;

/// One node of a regression tree. XGBoost sends `x < threshold` left, everything else right.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Split {
        feature: usize,
        threshold: f32,
        left: usize,
        right: usize,
    },
    Leaf {
        value: f32,
    },
}

/// A tree as a node arena; node 0 is the root. The importer guarantees that every child index
/// is in range and that the nodes form a tree (no sharing, no cycles).
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf value that `row` reaches, comparing in `f32` as XGBoost does.
    pub fn leaf_value(&self, row: &[f64]) -> f32 {
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
                    index = if (row[feature] as f32) < threshold { left } else { right };
                }
            }
        }
    }
}

/// A gradient-boosted tree ensemble in floating point.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeEnsemble {
    pub feature_names: Vec<String>,
    pub num_features: usize,
    pub objective: Objective,
    /// Per output, the margin every prediction starts from (XGBoost's `base_score` in margin space).
    pub base_margins: Vec<f64>,
    /// Each tree with the index of the output it adds to.
    pub trees: Vec<(usize, Tree)>,
}

impl TreeEnsemble {
    /// Raw margins of one row, summed in `f32` like XGBoost's own predictor.
    pub fn margins(&self, row: &[f64]) -> Vec<f64> {
        let mut sums = vec![0f32; self.objective.outputs()];
        for (output, tree) in &self.trees {
            sums[*output] += tree.leaf_value(row);
        }
        sums.iter()
            .zip(&self.base_margins)
            .map(|(s, b)| f64::from(*s) + b)
            .collect()
    }

    /// Probabilities (classification) or the predicted value (regression).
    pub fn predict(&self, row: &[f64]) -> Vec<f64> {
        self.objective.transform(&self.margins(row))
    }
}
