//! Neural networks saved as ONNX: scikit-learn's `MLPClassifier` and `MLPRegressor` through
//! skl2onnx, and `torch.onnx.export` of `Linear`/`ReLU`/`Tanh`/`Sigmoid` stacks.
//!
//! # What is read
//!
//! From the graph's one input of `float`s: optionally a scaler (as for linear models, folded
//! into the first layer), then dense layers, each `MatMul` by a constant `[in, out]` matrix
//! followed by an `Add` of a constant bias, or one `Gemm` (`transA = 0`, any `transB`, `alpha`,
//! `beta`), each followed by `Relu`, `Tanh` or `Sigmoid` except the last. `Cast` to floats,
//! `Identity`, `Flatten` and `Dropout` (inference: the identity) may sit anywhere in the chain.
//! A `BatchNormalization` in inference mode right after a layer (`torch.nn.BatchNorm1d`
//! between a `Linear` and its activation) is an affine map per neuron, folded into that layer:
//! `y = (x - mean) · scale / sqrt(var + epsilon) + B`.
//!
//! What the last layer's outputs mean:
//!
//! - `Softmax` after it: [`Objective::MultiSoftprob`];
//! - `Sigmoid` after a one-output layer (skl2onnx's binary head, whose `1 - p` and `Concat`
//!   follow): [`Objective::BinaryLogistic`];
//! - `Mul` by the constant −1 after a one-output layer (skl2onnx's binary head of a hinge-loss
//!   `SGDClassifier`, whose `Concat` of `-s` and `s` follows), or `ArgMax` right after a layer of
//!   several outputs (its multiclass head): decision scores, [`Objective::DecisionScores`];
//! - nothing: a regressor's value with one output, logits of a classifier with several
//!   (read as [`Objective::MultiSoftprob`]).
//!
//! Nodes after the head that only relabel its outputs are allowed: `Sub` from a constant and
//! `Concat` (skl2onnx's `[1 - p, p]`), `ArgMax`, `ZipMap`, `ArrayFeatureExtractor`, `Reshape`,
//! `Cast`, `Identity`. Any other operator is refused by name.
//!
//! A graph of one layer is a linear model (skl2onnx writes `SGDClassifier` that way), and is
//! imported as one ([`import_dense`]). Limits:
//! [`MAX_LAYERS`](crate::compiler::network::MAX_LAYERS) layers of at most [`MAX_WIDTH`] neurons,
//! [`MAX_LINEAR_WEIGHTS`] weights in all.

use std::collections::HashMap;

use super::linear::{Step, constants, graph_input, is_scaler_step, normal_domain, shown, step};
use super::proto::{GraphProto, NodeProto, TensorProto};
use super::{Attributes, ML_DOMAIN, invalid, tensor_reals};
use crate::compiler::linear::{FeatureAffine, LinearModel, MAX_LINEAR_WEIGHTS};
use crate::compiler::network::{Activation, Dense, MAX_WIDTH, Network};
use crate::error::{ModelError, Result};
use crate::spec::objective::Objective;

/// Whether `graph` holds a network: a `MatMul` or `Gemm` on its data.
pub(super) fn is_network(graph: &GraphProto) -> bool {
    graph
        .node
        .iter()
        .any(|n| matches!(n.op_type.as_deref(), Some("MatMul" | "Gemm")))
}

/// Where the walk along the chain is.
enum State {
    /// The features, after affine steps.
    Features,
    /// The output of layer `i`, before its activation.
    PreActivation,
    /// The output of the last layer, after its activation.
    Activated,
}

/// The network `graph` holds.
pub(super) fn import_network(graph: &GraphProto) -> Result<Network> {
    let (input, declared) = graph_input(graph)?;
    let constants = constants(graph);
    let mut current = input.to_owned();
    let mut steps: Vec<Step> = Vec::new();
    let mut layers: Vec<Dense> = Vec::new();
    let mut state = State::Features;
    let mut objective: Option<Objective> = None;
    let mut tail: Vec<String> = Vec::new();
    for node in &graph.node {
        let op_type = node.op_type.as_deref().unwrap_or_default();
        let domain = normal_domain(node.domain.as_deref().unwrap_or_default());
        let reads_current = node.input.contains(&current);
        // A sigmoid on one output followed by anything but a layer is the binary head
        // (skl2onnx then writes `1 - p` and `Concat`s it with `p`).
        if objective.is_none()
            && reads_current
            && matches!(state, State::Activated)
            && !matches!(op_type, "MatMul" | "Gemm")
            && let Some(last) = layers.last_mut()
            && last.activation == Activation::Sigmoid
            && last.weights.len() == 1
        {
            last.activation = Activation::Identity;
            objective = Some(Objective::BinaryLogistic);
            tail.push(current.clone());
        }
        let reads_tail = node.input.iter().any(|i| tail.contains(i));
        if objective.is_some() || (reads_tail && !reads_current) {
            if !reads_current && !reads_tail {
                return Err(unsupported(op_type, domain));
            }
            let plumbing = matches!(
                (op_type, domain),
                ("Sub" | "Concat" | "ArgMax" | "Reshape" | "Cast" | "Identity", "")
                    | ("ZipMap" | "ArrayFeatureExtractor", ML_DOMAIN)
            );
            if !plumbing {
                return Err(ModelError::Unsupported(format!(
                    "ONNX operator {} after the network's output",
                    shown(op_type, domain)
                )));
            }
            tail.extend(node.output.iter().cloned());
            continue;
        }
        if !reads_current {
            return Err(unsupported(op_type, domain));
        }
        let output = match node.output.as_slice() {
            [output] => output.clone(),
            // Dropout may also output its mask.
            [output, ..] if op_type == "Dropout" => output.clone(),
            outputs => {
                return Err(invalid(format!(
                    "`{op_type}` has {} outputs, expected 1",
                    outputs.len()
                )));
            }
        };
        match (op_type, domain, &state) {
            // `Reshape` only ever ends the chain (skl2onnx's regressor output).
            ("Cast" | "Identity" | "Flatten" | "Dropout" | "Reshape", "", _) => {
                if op_type == "Cast" {
                    step(node, op_type, domain, &current, &constants)?;
                }
            }
            (_, _, State::Features) if is_scaler_step(op_type, domain) => {
                steps.push(step(node, op_type, domain, &current, &constants)?);
            }
            ("MatMul", "", State::Features | State::Activated) => {
                let matrix = constant_matrix(node, &current, &constants, false)?;
                layers.push(dense(matrix, None));
                state = State::PreActivation;
            }
            ("Gemm", "", State::Features | State::Activated) => {
                layers.push(gemm(node, &current, &constants)?);
                state = State::PreActivation;
            }
            ("Add", "", State::PreActivation) => {
                let layer = layers.last_mut().expect("a layer before its bias");
                let bias = constant_vector(node, &current, &constants)?;
                let bias = broadcast(&bias, layer.bias.len(), "Add")?;
                layer.bias.iter_mut().zip(bias).for_each(|(b, a)| *b += a);
            }
            ("BatchNormalization", "", State::PreActivation) => {
                let layer = layers.last_mut().expect("a layer before its normalization");
                fold_batch_normalization(node, &constants, layer)?;
            }
            ("Relu" | "Tanh" | "Sigmoid", "", State::PreActivation) => {
                let layer = layers.last_mut().expect("a layer before its activation");
                layer.activation = match op_type {
                    "Relu" => Activation::Relu,
                    "Tanh" => Activation::Tanh,
                    _ => Activation::Sigmoid,
                };
                state = State::Activated;
            }
            ("Softmax", "", State::PreActivation) => {
                let classes = layers.last().expect("a layer").weights.len();
                objective = Some(Objective::MultiSoftprob { classes });
            }
            // The decision score `s` of a binary classifier, negated for class 0 (both go on), or
            // the class of the highest of several scores (the scores being the answer).
            ("Mul" | "ArgMax", "", State::PreActivation) => {
                let classes = match (op_type, layers.last().expect("a layer").weights.len()) {
                    ("Mul", 1) if negates(node, &current, &constants) => 2,
                    ("ArgMax", width) if width > 1 => width,
                    _ => return Err(unsupported(op_type, domain)),
                };
                objective = Some(Objective::DecisionScores { classes });
                tail.push(current.clone());
            }
            _ => return Err(unsupported(op_type, domain)),
        }
        current = output;
        if objective.is_some() {
            tail.push(current.clone());
        }
    }
    let last = layers
        .last_mut()
        .ok_or_else(|| ModelError::Unsupported("a graph whose features reach no MatMul or Gemm layer".into()))?;
    let width = last.weights.len();
    let objective = match (objective, last.activation, width) {
        (Some(objective), _, _) => objective,
        // skl2onnx's binary head: a sigmoid on one output.
        (None, Activation::Sigmoid, 1) => {
            last.activation = Activation::Identity;
            Objective::BinaryLogistic
        }
        (None, Activation::Identity, 1) => Objective::RegSquaredError,
        (None, Activation::Identity, classes) => Objective::MultiSoftprob { classes },
        (None, activation, _) => {
            return Err(ModelError::Unsupported(format!(
                "a network whose last layer ends in {activation:?} (only a softmax, a sigmoid on one output, or \
                 none)"
            )));
        }
    };
    let weights: usize = layers.iter().map(|l| l.weights.len() * l.weights[0].len()).sum();
    if weights > MAX_LINEAR_WEIGHTS {
        return Err(ModelError::Unsupported(format!(
            "{weights} weights (at most {MAX_LINEAR_WEIGHTS})"
        )));
    }
    let features = layers[0].weights[0].len();
    if let Some(width) = declared
        && width != features
    {
        return Err(invalid(format!(
            "a first layer of {features} inputs for {width} features"
        )));
    }
    let mut affine = FeatureAffine::identity(features);
    for step in &steps {
        affine = step.apply(&affine)?;
    }
    let first = &mut layers[0];
    affine.fold_into(&mut first.weights, &mut first.bias);
    Network::new(features, objective, layers)
}

/// What a graph of dense layers holds: a network, or with one layer a linear model.
pub(super) fn import_dense(graph: &GraphProto) -> Result<crate::compiler::import::ImportedModel> {
    let network = import_network(graph)?;
    if let [layer] = network.layers.as_slice() {
        let model = LinearModel::new(
            network.num_features,
            network.objective,
            layer.weights.clone(),
            layer.bias.clone(),
        )?;
        return Ok(crate::compiler::import::ImportedModel::Linear(model));
    }
    Ok(crate::compiler::import::ImportedModel::Network(network))
}

/// Whether `node` multiplies `current` by a constant −1 (of one value), in either order.
fn negates(node: &NodeProto, current: &str, constants: &HashMap<&str, &TensorProto>) -> bool {
    let other = match node.input.as_slice() {
        [a, b] if a == current => b,
        [a, b] if b == current => a,
        _ => return false,
    };
    constants
        .get(other.as_str())
        .and_then(|tensor| tensor_reals(tensor, other).ok())
        .is_some_and(|values| values == [-1.0])
}

fn unsupported(op_type: &str, domain: &str) -> ModelError {
    ModelError::Unsupported(format!(
        "ONNX operator {} in a network (only MatMul/Add or Gemm layers with Relu, Tanh or Sigmoid, a \
         scaler in front and a Softmax or Sigmoid at the end)",
        shown(op_type, domain)
    ))
}

/// A constant initializer's values and dims.
fn constant<'g>(
    name: &str,
    constants: &HashMap<&str, &'g TensorProto>,
    op_type: &str,
) -> Result<(&'g TensorProto, Vec<f64>)> {
    let tensor = constants.get(name).ok_or_else(|| {
        ModelError::Unsupported(format!(
            "`{op_type}` with `{name}`, which is not a constant initializer"
        ))
    })?;
    let values = tensor_reals(tensor, name)?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!("`{name}[{i}]` is not finite")));
    }
    Ok((tensor, values))
}

/// The `[rows, columns]` matrix `node` multiplies `current` by (the operand that is not
/// `current`), as rows; `transposed` reads a `[columns, rows]` tensor.
fn constant_matrix(
    node: &NodeProto,
    current: &str,
    constants: &HashMap<&str, &TensorProto>,
    transposed: bool,
) -> Result<Vec<Vec<f64>>> {
    let op_type = node.op_type.as_deref().unwrap_or_default();
    let name = match node.input.as_slice() {
        [a, b, ..] if a == current => b,
        _ => {
            return Err(ModelError::Unsupported(format!(
                "`{op_type}` whose first operand is not the data"
            )));
        }
    };
    let (tensor, values) = constant(name, constants, op_type)?;
    let [rows, columns] = tensor.dims.as_slice() else {
        return Err(invalid(format!(
            "`{name}` of dims {:?}, expected a matrix",
            tensor.dims
        )));
    };
    let (rows, columns) = (
        usize::try_from(*rows).unwrap_or(0),
        usize::try_from(*columns).unwrap_or(0),
    );
    let (inputs, neurons) = if transposed { (columns, rows) } else { (rows, columns) };
    if inputs == 0 || neurons == 0 || inputs > crate::compiler::ensemble::MAX_FEATURES || neurons > MAX_WIDTH {
        return Err(ModelError::Unsupported(format!(
            "a layer of {neurons} neurons reading {inputs} inputs (at most {MAX_WIDTH} neurons)"
        )));
    }
    // One row of `inputs` weights per neuron.
    Ok((0..neurons)
        .map(|n| {
            (0..inputs)
                .map(|i| {
                    if transposed {
                        values[n * columns + i]
                    } else {
                        values[i * columns + n]
                    }
                })
                .collect()
        })
        .collect())
}

/// A layer of `weights` (at most [`MAX_WIDTH`] neurons: [`constant_matrix`] checked), no
/// activation yet.
fn dense(weights: Vec<Vec<f64>>, bias: Option<Vec<f64>>) -> Dense {
    let bias = bias.unwrap_or_else(|| vec![0.0; weights.len()]);
    Dense {
        weights,
        bias,
        activation: Activation::Identity,
    }
}

/// `Gemm(A, B, C)`: `alpha · A · op(B) + beta · C`, with `A` the data.
fn gemm(node: &NodeProto, current: &str, constants: &HashMap<&str, &TensorProto>) -> Result<Dense> {
    let attributes = Attributes::new(node)?;
    if attributes.int("transA")?.unwrap_or(0) != 0 {
        return Err(ModelError::Unsupported("`Gemm` with transA".into()));
    }
    let transposed = attributes.int("transB")?.unwrap_or(0) != 0;
    let alpha = attributes.float("alpha")?.unwrap_or(1.0);
    let beta = attributes.float("beta")?.unwrap_or(1.0);
    let mut weights = constant_matrix(node, current, constants, transposed)?;
    weights.iter_mut().flatten().for_each(|w| *w *= alpha);
    let bias = match node.input.get(2) {
        Some(name) if !name.is_empty() => {
            let (_, values) = constant(name, constants, "Gemm")?;
            broadcast(&values, weights.len(), "Gemm")?
                .into_iter()
                .map(|b| b * beta)
                .collect()
        }
        _ => vec![0.0; weights.len()],
    };
    Ok(dense(weights, Some(bias)))
}

/// Folds an inference-mode `BatchNormalization` of `layer`'s outputs into its weights and
/// bias.
fn fold_batch_normalization(
    node: &NodeProto,
    constants: &HashMap<&str, &TensorProto>,
    layer: &mut Dense,
) -> Result<()> {
    let attributes = Attributes::new(node)?;
    if attributes.int("training_mode")?.unwrap_or(0) != 0 {
        return Err(ModelError::Unsupported("`BatchNormalization` in training mode".into()));
    }
    let epsilon = attributes.float("epsilon")?.unwrap_or(1e-5);
    let neurons = layer.weights.len();
    let [_, scale, shift, mean, variance] = node.input.as_slice() else {
        return Err(invalid(format!(
            "`BatchNormalization` of {} inputs, expected 5",
            node.input.len()
        )));
    };
    let operand = |name: &str| -> Result<Vec<f64>> {
        let (_, values) = constant(name, constants, "BatchNormalization")?;
        if values.len() != neurons {
            return Err(invalid(format!(
                "`BatchNormalization` of {} values for a layer of {neurons}",
                values.len()
            )));
        }
        Ok(values)
    };
    let (scale, shift, mean, variance) = (operand(scale)?, operand(shift)?, operand(mean)?, operand(variance)?);
    for j in 0..neurons {
        let denominator = variance[j] + epsilon;
        // Finite (every constant is), so a plain comparison.
        if denominator <= 0.0 {
            return Err(invalid(format!(
                "`BatchNormalization` of variance {} for neuron {j}",
                variance[j]
            )));
        }
        let factor = scale[j] / denominator.sqrt();
        layer.weights[j].iter_mut().for_each(|w| *w *= factor);
        layer.bias[j] = (layer.bias[j] - mean[j]) * factor + shift[j];
    }
    Ok(())
}

/// A constant vector operand of `node` (the one that is not `current`).
fn constant_vector(node: &NodeProto, current: &str, constants: &HashMap<&str, &TensorProto>) -> Result<Vec<f64>> {
    let op_type = node.op_type.as_deref().unwrap_or_default();
    let name = node
        .input
        .iter()
        .find(|i| *i != current)
        .ok_or_else(|| invalid(format!("`{op_type}` of the data with itself")))?;
    Ok(constant(name, constants, op_type)?.1)
}

/// One value per neuron, or one for all.
fn broadcast(values: &[f64], neurons: usize, op_type: &str) -> Result<Vec<f64>> {
    match values.len() {
        1 => Ok(vec![values[0]; neurons]),
        n if n == neurons => Ok(values.to_vec()),
        n => Err(invalid(format!("`{op_type}` of {n} values for a layer of {neurons}"))),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::super::proto::{AttributeProto, ModelProto};
    use super::super::{ATTR_INT, import_onnx_model};
    use super::*;
    use crate::compiler::import::ImportedModel;

    const MLP: &[u8] = include_bytes!("../../../../fixtures/sklearn-mlp-classifier/model.onnx");
    const TORCH: &[u8] = include_bytes!("../../../../fixtures/torch-mlp/model.onnx");
    const SGD: &[u8] = include_bytes!("../../../../fixtures/sklearn-sgd-classifier/model.onnx");
    const SGD_WINE: &[u8] = include_bytes!("../../../../fixtures/sklearn-sgd-classifier-wine/model.onnx");

    fn linear(bytes: &[u8]) -> LinearModel {
        match import_onnx_model(bytes).unwrap() {
            ImportedModel::Linear(model) => model,
            other => panic!("imported {}", other.family()),
        }
    }

    /// One dense layer is a linear model, whichever head follows it: the hinge-loss scores of
    /// skl2onnx's `SGDClassifier` (binary `-s, s`, multiclass `ArgMax`), or a sigmoid as its
    /// `log_loss` export writes it (here in place of the negation).
    #[test]
    fn one_layer_is_a_linear_model() {
        let hinge = linear(SGD);
        assert_eq!(hinge.objective, Objective::DecisionScores { classes: 2 });
        assert_eq!(linear(SGD_WINE).objective, Objective::DecisionScores { classes: 3 });
        let logistic = linear(&changed(SGD, |g| {
            let negation = g.node.iter_mut().find(|n| n.op_type.as_deref() == Some("Mul")).unwrap();
            negation.op_type = Some("Sigmoid".into());
            negation.input.truncate(1);
        }));
        assert_eq!(logistic.objective, Objective::BinaryLogistic);
        assert_eq!(
            (&logistic.weights, &logistic.intercepts),
            (&hinge.weights, &hinge.intercepts)
        );
        // Multiplied by another constant than -1, the score is not a head.
        let doubled = refusal(&changed(SGD, |g| {
            let name = g
                .node
                .iter()
                .find(|n| n.op_type.as_deref() == Some("Mul"))
                .unwrap()
                .input[1]
                .clone();
            let tensor = g
                .initializer
                .iter_mut()
                .find(|t| t.name.as_deref() == Some(name.as_str()))
                .unwrap();
            tensor.float_data = vec![2.0];
            tensor.raw_data = None;
        }));
        assert!(doubled.contains("`Mul`"), "{doubled}");
    }

    fn changed(bytes: &[u8], change: impl FnOnce(&mut GraphProto)) -> Vec<u8> {
        let mut model = ModelProto::decode(bytes).unwrap();
        change(model.graph.as_mut().unwrap());
        model.encode_to_vec()
    }

    fn refusal(bytes: &[u8]) -> String {
        match import_onnx_model(bytes) {
            Err(error) => error.to_string(),
            Ok(other) => panic!("imported {}", other.family()),
        }
    }

    #[test]
    fn each_head_reads_as_its_objective() {
        let read = |bytes| match import_onnx_model(bytes).unwrap() {
            ImportedModel::Network(network) => network,
            other => panic!("imported {}", other.family()),
        };
        let mlp = read(MLP);
        assert_eq!((mlp.objective, mlp.layers.len()), (Objective::BinaryLogistic, 2));
        assert_eq!(mlp.layers[0].activation, Activation::Relu);
        let torch = read(TORCH);
        assert_eq!(
            (torch.objective, torch.layers.len()),
            (Objective::MultiSoftprob { classes: 2 }, 3)
        );
    }

    /// The torch network with a `BatchNormalization` of these operands after its first layer.
    fn normalized(attributes: Vec<AttributeProto>) -> Vec<u8> {
        changed(TORCH, |g| {
            let out = g.node[0].output[0].clone();
            for node in &mut g.node[1..] {
                node.input
                    .iter_mut()
                    .filter(|i| **i == out)
                    .for_each(|i| *i = "normalized".into());
            }
            let vector = |name: &str, value: f32| TensorProto {
                name: Some(name.into()),
                dims: vec![16],
                data_type: Some(1),
                float_data: vec![value; 16],
                ..Default::default()
            };
            g.initializer.extend([
                vector("bn_scale", 2.0),
                vector("bn_shift", 0.5),
                vector("bn_mean", 0.25),
                vector("bn_var", 3.0),
            ]);
            let inputs = [out.as_str(), "bn_scale", "bn_shift", "bn_mean", "bn_var"];
            g.node.insert(
                1,
                NodeProto {
                    op_type: Some("BatchNormalization".into()),
                    input: inputs.iter().map(|i| i.to_string()).collect(),
                    output: vec!["normalized".into()],
                    attribute: attributes,
                    ..Default::default()
                },
            );
        })
    }

    #[test]
    fn batch_normalization_folds_into_its_layer() {
        let read = |bytes: &[u8]| match import_onnx_model(bytes).unwrap() {
            ImportedModel::Network(network) => network,
            other => panic!("imported {}", other.family()),
        };
        let plain = read(TORCH);
        let folded = read(&normalized(Vec::new()));
        let factor = 2.0 / (3.0f64 + 1e-5).sqrt();
        for (a, b) in plain.layers[0]
            .weights
            .iter()
            .flatten()
            .zip(folded.layers[0].weights.iter().flatten())
        {
            assert!(
                (a * factor - b).abs() <= 1e-12 * a.abs().max(1.0),
                "{a} · {factor} vs {b}"
            );
        }
        for (a, b) in plain.layers[0].bias.iter().zip(&folded.layers[0].bias) {
            assert!(((a - 0.25) * factor + 0.5 - b).abs() <= 1e-12, "{a} vs {b}");
        }
        assert_eq!(plain.layers[1..], folded.layers[1..]);
        let training = refusal(&normalized(vec![AttributeProto {
            name: Some("training_mode".into()),
            r#type: Some(ATTR_INT),
            i: Some(1),
            ..Default::default()
        }]));
        assert!(training.contains("training mode"), "{training}");
    }

    #[test]
    fn what_it_cannot_hold_is_refused_by_name() {
        let leaky = refusal(&changed(MLP, |g| {
            g.node
                .iter_mut()
                .find(|n| n.op_type.as_deref() == Some("Relu"))
                .unwrap()
                .op_type = Some("LeakyRelu".into())
        }));
        assert!(leaky.contains("`LeakyRelu`"), "{leaky}");
        let transposed = refusal(&changed(TORCH, |g| {
            g.node[0].attribute.push(AttributeProto {
                name: Some("transA".into()),
                r#type: Some(ATTR_INT),
                i: Some(1),
                ..Default::default()
            })
        }));
        assert!(transposed.contains("transA"), "{transposed}");
        // A layer whose weights are computed, not constants.
        let computed = refusal(&changed(TORCH, |g| {
            let name = g.node[0].input[1].clone();
            g.initializer.retain(|t| t.name.as_deref() != Some(name.as_str()));
        }));
        assert!(computed.contains("not a constant initializer"), "{computed}");
    }
}
