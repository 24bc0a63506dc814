//! The float model of a linear classifier or regressor, whichever library trained it:
//! `margins = weights · x + intercepts`, then the objective's transform (a sigmoid, a softmax,
//! or none for a regressor).
//!
//! Scalers in front of the model (scikit-learn's `StandardScaler`, `MinMaxScaler`,
//! `RobustScaler`, `MaxAbsScaler`: an affine map per feature) are folded into the weights and
//! intercepts at import, so that the model reads the features as the owner's rows hold them and
//! the affine step is never evaluated on its own: `w · ((x - o) ⊙ s) + b` is
//! `(w ⊙ s) · x + (b - (w ⊙ s) · o)`.

use crate::error::{ModelError, Result};
use crate::spec::objective::Objective;

/// Most outputs (margins) a linear model may have: one per class of a classifier.
pub const MAX_LINEAR_OUTPUTS: usize = 256;

/// Most weights (outputs × features) a linear model may hold.
pub const MAX_LINEAR_WEIGHTS: usize = 10_000_000;

/// A linear model in floating point.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// The names the model was trained with; empty when the file has none (ONNX), and then the
    /// calibration CSV's columns are taken in order.
    pub feature_names: Vec<String>,
    pub num_features: usize,
    pub objective: Objective,
    /// One row of `num_features` weights per output.
    pub weights: Vec<Vec<f64>>,
    /// One per output.
    pub intercepts: Vec<f64>,
}

impl LinearModel {
    /// A model of these weights and intercepts, checked: one row and one intercept per output
    /// of the objective, `num_features` finite weights per row.
    pub fn new(
        num_features: usize,
        objective: Objective,
        weights: Vec<Vec<f64>>,
        intercepts: Vec<f64>,
    ) -> Result<Self> {
        let outputs = objective.outputs();
        if weights.len() != outputs || intercepts.len() != outputs {
            return Err(ModelError::InvalidModel(format!(
                "{} rows of weights and {} intercepts for {outputs} outputs",
                weights.len(),
                intercepts.len()
            )));
        }
        if weights.iter().any(|row| row.len() != num_features) {
            return Err(ModelError::InvalidModel(format!(
                "a row of weights that is not {num_features} long"
            )));
        }
        if !weights.iter().flatten().chain(&intercepts).all(|w| w.is_finite()) {
            return Err(ModelError::InvalidModel(
                "a weight or intercept that is not a finite number".into(),
            ));
        }
        Ok(Self {
            feature_names: Vec::new(),
            num_features,
            objective,
            weights,
            intercepts,
        })
    }

    /// The margins of one row.
    pub fn margins(&self, row: &[f64]) -> Vec<f64> {
        self.weights
            .iter()
            .zip(&self.intercepts)
            .map(|(weights, intercept)| intercept + weights.iter().zip(row).map(|(w, x)| w * x).sum::<f64>())
            .collect()
    }

    /// Probabilities (classification) or the predicted value (regression).
    pub fn predict(&self, row: &[f64]) -> Vec<f64> {
        self.objective.transform(&self.margins(row))
    }
}

/// An affine map per feature, `x ↦ x · scale + offset`, that a scaler in front of a model
/// applies; folded into the model that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureAffine {
    pub scale: Vec<f64>,
    pub offset: Vec<f64>,
}

impl FeatureAffine {
    /// The identity on `features` features.
    pub fn identity(features: usize) -> Self {
        Self {
            scale: vec![1.0; features],
            offset: vec![0.0; features],
        }
    }

    /// This map followed by `y ↦ y · scale + offset`.
    pub fn then(&self, scale: &[f64], offset: &[f64]) -> Self {
        Self {
            scale: self.scale.iter().zip(scale).map(|(a, s)| a * s).collect(),
            offset: self
                .offset
                .iter()
                .zip(scale)
                .zip(offset)
                .map(|((b, s), o)| b * s + o)
                .collect(),
        }
    }

    /// A linear layer `weights · y + intercepts` on the map's output, as a layer on its input.
    pub fn fold_into(&self, weights: &mut [Vec<f64>], intercepts: &mut [f64]) {
        for (row, intercept) in weights.iter_mut().zip(intercepts) {
            *intercept += row.iter().zip(&self.offset).map(|(w, o)| w * o).sum::<f64>();
            for (w, s) in row.iter_mut().zip(&self.scale) {
                *w *= s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folded_scaler_computes_what_the_scaler_and_the_model_compute() {
        // A standard scaler ((x - mean) / std) then a regression, against the folded model.
        let (mean, std) = ([2.0, -1.0], [4.0, 0.5]);
        let scaler =
            FeatureAffine::identity(2).then(&[1.0 / std[0], 1.0 / std[1]], &[-mean[0] / std[0], -mean[1] / std[1]]);
        let (mut weights, mut intercepts) = (vec![vec![3.0, -2.0]], vec![0.5]);
        scaler.fold_into(&mut weights, &mut intercepts);
        let model = LinearModel::new(2, Objective::RegSquaredError, weights, intercepts).unwrap();
        for row in [[0.0, 0.0], [2.0, -1.0], [10.0, 3.5]] {
            let scaled = [(row[0] - mean[0]) / std[0], (row[1] - mean[1]) / std[1]];
            let want = 0.5 + 3.0 * scaled[0] - 2.0 * scaled[1];
            assert!((model.predict(&row)[0] - want).abs() < 1e-12, "{row:?}");
        }
    }

    #[test]
    fn a_model_of_the_wrong_shape_is_refused() {
        let binary = Objective::BinaryLogistic;
        assert!(LinearModel::new(2, binary, vec![vec![1.0, 2.0]], vec![0.0]).is_ok());
        assert!(LinearModel::new(2, binary, vec![vec![1.0]], vec![0.0]).is_err());
        assert!(LinearModel::new(2, binary, vec![vec![1.0, 2.0]; 2], vec![0.0; 2]).is_err());
        assert!(LinearModel::new(2, binary, vec![vec![1.0, f64::NAN]], vec![0.0]).is_err());
    }
}
