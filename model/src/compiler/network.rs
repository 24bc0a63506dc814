//! The float model of a small neural network, whichever library trained it: dense layers, each
//! `y = activation(W · x + b)`, the last one's pre-activations the margins, then the
//! objective's transform (a sigmoid, a softmax, or none for a regressor).
//!
//! As for linear models, a scaler in front of the first layer is folded into its weights.

use crate::error::{ModelError, Result};
use crate::spec::objective::Objective;

/// Most layers a network may have.
pub const MAX_LAYERS: usize = 16;

/// Most neurons a layer may have.
pub const MAX_WIDTH: usize = 4096;

/// A hidden layer's activation (the last layer has none: its outputs are the margins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    Tanh,
    Sigmoid,
}

impl Activation {
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }
}

/// One dense layer: `activation(weights · x + bias)`, a row of weights per neuron.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
    pub activation: Activation,
}

impl Dense {
    fn forward(&self, input: &[f64]) -> Vec<f64> {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(row, b)| {
                self.activation
                    .apply(b + row.iter().zip(input).map(|(w, x)| w * x).sum::<f64>())
            })
            .collect()
    }
}

/// A neural network in floating point.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// The names the model was trained with; empty when the file has none (ONNX).
    pub feature_names: Vec<String>,
    pub num_features: usize,
    pub objective: Objective,
    pub layers: Vec<Dense>,
}

impl Network {
    /// A network of these layers, checked: consecutive widths agree, the first reads
    /// `num_features`, the last has no activation and one output per margin of the objective,
    /// every weight is finite, and the limits hold.
    pub fn new(num_features: usize, objective: Objective, layers: Vec<Dense>) -> Result<Self> {
        if layers.is_empty() || layers.len() > MAX_LAYERS {
            return Err(ModelError::Unsupported(format!(
                "a network of {} layers (from 1 to {MAX_LAYERS})",
                layers.len()
            )));
        }
        let mut width = num_features;
        for (i, layer) in layers.iter().enumerate() {
            if layer.weights.is_empty() || layer.weights.len() > MAX_WIDTH || layer.bias.len() != layer.weights.len() {
                return Err(ModelError::InvalidModel(format!(
                    "layer {i} has {} neurons and {} biases (at most {MAX_WIDTH} neurons)",
                    layer.weights.len(),
                    layer.bias.len()
                )));
            }
            if layer.weights.iter().any(|row| row.len() != width) {
                return Err(ModelError::InvalidModel(format!(
                    "layer {i} does not read {width} inputs"
                )));
            }
            if !layer.weights.iter().flatten().chain(&layer.bias).all(|w| w.is_finite()) {
                return Err(ModelError::InvalidModel(format!(
                    "layer {i} has a weight that is not finite"
                )));
            }
            width = layer.weights.len();
        }
        let last = layers.last().expect("checked non-empty");
        if last.activation != Activation::Identity || width != objective.outputs() {
            return Err(ModelError::InvalidModel(format!(
                "a last layer of {width} outputs with an activation, for {} margins",
                objective.outputs()
            )));
        }
        Ok(Self {
            feature_names: Vec::new(),
            num_features,
            objective,
            layers,
        })
    }

    /// The margins of one row: the last layer's outputs.
    pub fn margins(&self, row: &[f64]) -> Vec<f64> {
        self.layers
            .iter()
            .fold(row.to_vec(), |input, layer| layer.forward(&input))
    }

    /// Probabilities (classification) or the predicted value (regression).
    pub fn predict(&self, row: &[f64]) -> Vec<f64> {
        self.objective.transform(&self.margins(row))
    }

    /// How many weights the network holds.
    pub fn weights(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weights.len() * l.weights.first().map_or(0, Vec::len))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(weights: Vec<Vec<f64>>, bias: Vec<f64>, activation: Activation) -> Dense {
        Dense {
            weights,
            bias,
            activation,
        }
    }

    #[test]
    fn layers_compose_and_shapes_are_checked() {
        let hidden = layer(vec![vec![1.0, -1.0], vec![0.5, 0.5]], vec![0.0, -1.0], Activation::Relu);
        let out = layer(vec![vec![2.0, 3.0]], vec![0.25], Activation::Identity);
        let network = Network::new(2, Objective::RegSquaredError, vec![hidden.clone(), out.clone()]).unwrap();
        // relu(1 - 2) = 0, relu(0.5 + 1 - 1) = 0.5: 0.25 + 0 + 1.5.
        assert_eq!(network.predict(&[1.0, 2.0]), vec![1.75]);
        assert!(Network::new(3, Objective::RegSquaredError, vec![hidden.clone(), out.clone()]).is_err());
        assert!(
            Network::new(2, Objective::MultiSoftprob { classes: 3 }, vec![out.clone()]).is_err(),
            "1 output, not 3"
        );
        let activated = layer(vec![vec![2.0, 3.0]], vec![0.25], Activation::Sigmoid);
        assert!(Network::new(2, Objective::RegSquaredError, vec![hidden, activated]).is_err());
    }
}
