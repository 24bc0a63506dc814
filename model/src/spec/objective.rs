//! The learning task of a model: how its tree sums (margins) become predictions. Part of the
//! public client spec, so that a client can decode what it decrypts.

use serde::{Deserialize, Serialize};

/// The learning task, which fixes how raw tree sums become predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// `binary:logistic`: one margin, probability of class 1 = sigmoid(margin).
    BinaryLogistic,
    /// `multi:softprob` with K classes: K margins, probabilities = softmax(margins).
    MultiSoftprob { classes: usize },
    /// `reg:squarederror` (and every other regression whose prediction is the raw sum): one
    /// margin, the prediction itself.
    RegSquaredError,
    /// Averaged class votes (scikit-learn's random forests, extra trees and decision trees):
    /// the sums are the class probabilities themselves. A binary model sums only class 1's
    /// probability (one margin; class 0 gets `1 - p`), a multiclass one every class's.
    AveragedProbabilities { classes: usize },
    /// Decision scores of a classifier without probabilities (linear SVMs, hinge-loss SGD):
    /// the class is the one with the highest score. A binary model has one margin, class 1's
    /// score `s` (class 0's is `-s`); a multiclass one a score per class.
    DecisionScores { classes: usize },
}

impl Objective {
    /// How many margins (tree sums) the model produces.
    pub fn outputs(self) -> usize {
        match self {
            Objective::MultiSoftprob { classes } => classes,
            Objective::AveragedProbabilities { classes } | Objective::DecisionScores { classes } if classes > 2 => {
                classes
            }
            _ => 1,
        }
    }

    /// How many class labels a classifier has; `None` for regression.
    pub fn classes(self) -> Option<usize> {
        match self {
            Objective::BinaryLogistic => Some(2),
            Objective::MultiSoftprob { classes }
            | Objective::AveragedProbabilities { classes }
            | Objective::DecisionScores { classes } => Some(classes),
            Objective::RegSquaredError => None,
        }
    }

    /// Whether a classifier's predictions are class probabilities (not decision scores).
    pub fn has_probabilities(self) -> bool {
        !matches!(self, Objective::RegSquaredError | Objective::DecisionScores { .. })
    }

    /// Turns margins into what the model predicts: class probabilities, decision scores per
    /// class, or a single value.
    pub fn transform(self, margins: &[f64]) -> Vec<f64> {
        match self {
            Objective::BinaryLogistic => {
                let p = 1.0 / (1.0 + (-margins[0]).exp());
                vec![1.0 - p, p]
            }
            Objective::MultiSoftprob { .. } => {
                let max = margins.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = margins.iter().map(|m| (m - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                exps.into_iter().map(|e| e / total).collect()
            }
            Objective::RegSquaredError => vec![margins[0]],
            Objective::AveragedProbabilities { classes: 2 } => vec![1.0 - margins[0], margins[0]],
            Objective::AveragedProbabilities { .. } => margins.to_vec(),
            Objective::DecisionScores { classes: 2 } => vec![-margins[0], margins[0]],
            Objective::DecisionScores { .. } => margins.to_vec(),
        }
    }
}
