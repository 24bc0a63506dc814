//! The client spec: everything a client needs to encrypt a row and read the answer, and
//! nothing about the trees themselves.
//!
//! The `spec` side: no TFHE, what a web page needs to validate and quantize a row
//! ([`quantize`]), to name what a prediction is bound to ([`binding`]) and to decode a
//! decrypted result ([`ClientSpec::decode`], [`objective`]).
//!
//! # Contract
//!
//! Everything here is public: the spec is served to every client. It reveals what
//! [`ClientSpec`] lists (feature names, calibration quantiles, labels, output scales and block
//! counts) and nothing about the trees; nothing here holds a key or a ciphertext.

pub mod binding;
pub mod objective;
pub mod quantize;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::params::{BLOCK_MODULUS, InputEncoding, place};
use crate::spec::objective::Objective;
use crate::spec::quantize::{FeatureQuantizer, OutsideCalibration};

/// Version of the [`ClientSpec`] JSON format.
pub const SPEC_FORMAT_VERSION: u32 = 2;

/// Most blocks an output may have: far more than any model needs (16 blocks hold 34 bits), and
/// low enough that [`top_capacity`] cannot overflow.
pub const MAX_OUTPUT_BLOCKS: usize = 16;

/// Public description of a compiled model, handed to every client.
///
/// Reveals: feature names, the calibration quantiles used as quantization edges, class labels,
/// the output scale and offset, and how many blocks each output has (a bound on the sum of the
/// trees' leaf ranges). It does not reveal any threshold, leaf or tree shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSpec {
    pub format_version: u32,
    /// Features in the order the model expects them.
    pub features: Vec<FeatureQuantizer>,
    pub objective: Objective,
    /// Class labels (classification) in the order of the model's classes; empty for regression.
    pub labels: Vec<String>,
    /// One decoding per margin the model produces.
    pub outputs: Vec<OutputDecoding>,
    pub encryption: InputEncoding,
}

/// How one encrypted output becomes a margin.
///
/// The server returns `blocks` ciphertexts holding the base-4 ([`crate::params::DIGIT_BASE`])
/// digits of an integer `v <= max_value`; every block but the last holds a digit in `0..4`, the
/// last one the rest (below [`BLOCK_MODULUS`]).
/// The margin is `offset + scale * v`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputDecoding {
    pub blocks: usize,
    pub max_value: u64,
    pub scale: f64,
    pub offset: f64,
}

/// What the model says about one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The decrypted integers, one per output: what exactness is checked on.
    pub raw: Vec<u64>,
    pub margins: Vec<f64>,
    /// Class probabilities in label order (classifiers with probabilities only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub probabilities: Vec<f64>,
    /// Decision scores in label order (classifiers without probabilities only, see
    /// [`Objective::DecisionScores`]).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub scores: Vec<f64>,
    /// The label of the class with the highest probability or score (classification only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub class: Option<String>,
    /// The predicted value (regression only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<f64>,
}

impl Prediction {
    /// What the class is the highest of: the probabilities, or the decision scores of a
    /// classifier without probabilities (empty for a regressor).
    pub fn class_scores(&self) -> &[f64] {
        if self.probabilities.is_empty() {
            &self.scores
        } else {
            &self.probabilities
        }
    }
}

impl ClientSpec {
    /// Parses and checks a spec.
    pub fn from_json(json: &str) -> Result<Self> {
        let spec: Self = serde_json::from_str(json).map_err(|e| ModelError::Format(format!("client spec: {e}")))?;
        spec.check()?;
        Ok(spec)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a spec always serializes")
    }

    fn check(&self) -> Result<()> {
        if self.format_version != SPEC_FORMAT_VERSION {
            return Err(ModelError::Format(format!(
                "client spec version {} (this build reads {SPEC_FORMAT_VERSION})",
                self.format_version
            )));
        }
        self.encryption.check()?;
        // A classifier without classes would have no label to name in `decode`.
        if let Objective::MultiSoftprob { classes }
        | Objective::AveragedProbabilities { classes }
        | Objective::DecisionScores { classes } = self.objective
            && classes < 2
        {
            return Err(ModelError::Format(format!(
                "client spec: a classifier with {classes} classes"
            )));
        }
        if self.features.is_empty() || self.outputs.len() != self.objective.outputs() {
            return Err(ModelError::Format(
                "client spec: wrong number of features or outputs".into(),
            ));
        }
        if let Some(classes) = self.objective.classes()
            && self.labels.len() != classes
        {
            return Err(ModelError::Format("client spec: wrong number of labels".into()));
        }
        for output in &self.outputs {
            let fits = match &self.encryption {
                InputEncoding::Thermometer(_) => fits_blocks(output.blocks, output.max_value),
                // One ciphertext of `m` bits per output.
                InputEncoding::Linear(_) | InputEncoding::Network(_) => {
                    let (bits, _) = self.encryption.wide_result().expect("one ciphertext per output");
                    output.blocks == 1 && output.max_value == (1u64 << bits) - 1
                }
            };
            if !(fits && output.scale.is_finite() && output.offset.is_finite()) {
                return Err(ModelError::Format("client spec: output does not fit its blocks".into()));
            }
        }
        for feature in &self.features {
            if feature.edges.len() > 255 || feature.edges.windows(2).any(|w| w[0] >= w[1]) {
                return Err(ModelError::Format(format!(
                    "client spec: feature `{}` has invalid edges",
                    feature.name
                )));
            }
            // Clients clamp to this range when they say what a value is taken for.
            let (min, max) = (feature.calibration_min, feature.calibration_max);
            if !(min.is_finite() && max.is_finite() && min <= max) {
                return Err(ModelError::Format(format!(
                    "client spec: feature `{}` has an invalid calibration range",
                    feature.name
                )));
            }
        }
        Ok(())
    }

    pub fn feature_names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    /// The values of `row` (in the spec's feature order) outside their feature's calibration
    /// range: each is predicted as the nearest calibrated value.
    pub fn outside_calibration(&self, row: &[f64]) -> Vec<OutsideCalibration> {
        self.features
            .iter()
            .zip(row)
            .filter_map(|(q, &x)| q.outside_calibration(x))
            .collect()
    }

    /// Validates a row of features (any finite values) and maps it to levels.
    pub fn quantize_row(&self, row: &[f64]) -> Result<Vec<usize>> {
        if row.len() != self.features.len() {
            return Err(ModelError::InvalidInput(format!(
                "expected {} features, got {}",
                self.features.len(),
                row.len()
            )));
        }
        self.features
            .iter()
            .zip(row)
            .map(|(q, &x)| q.validate(x).map(|()| q.quantize(x)))
            .collect()
    }

    /// The thermometer code of a row of levels: for each feature and step `j`, the bit
    /// `[level >= j]` (see [`InputEncoding`]), feature by feature, step by step: the order of
    /// the server plan's input layout.
    pub fn thermometer(&self, levels: &[usize]) -> Vec<u64> {
        let mut bits = Vec::with_capacity(self.input_ciphertexts());
        for (feature, &level) in self.features.iter().zip(levels) {
            bits.extend((1..feature.levels()).map(|step| u64::from(level >= step)));
        }
        bits
    }

    /// How many ciphertexts an encrypted row holds: one per thermometer bit (a tree ensemble),
    /// one per feature (a linear model).
    pub fn input_ciphertexts(&self) -> usize {
        match self.encryption {
            InputEncoding::Thermometer(_) => self.features.iter().map(|f| f.levels() - 1).sum::<usize>(),
            InputEncoding::Linear(_) | InputEncoding::Network(_) => self.features.len(),
        }
    }

    /// The shape of an encrypted row: how many ciphertexts, under which key.
    #[cfg(any(feature = "client", feature = "server"))]
    pub fn row_shape(&self) -> crate::ciphertexts::RowShape {
        crate::ciphertexts::RowShape {
            ciphertexts: self.input_ciphertexts(),
            lwe_dimension: self.encryption.row_lwe_dimension(),
        }
    }

    /// Turns decrypted output integers into a prediction.
    pub fn decode(&self, raw: &[u64]) -> Result<Prediction> {
        if raw.len() != self.outputs.len() {
            return Err(ModelError::InconsistentResult(format!(
                "{} outputs for a model with {}",
                raw.len(),
                self.outputs.len()
            )));
        }
        let margins: Vec<f64> = raw
            .iter()
            .zip(&self.outputs)
            .map(|(&v, o)| o.offset + o.scale * v as f64)
            .collect();
        let transformed = self.objective.transform(&margins);
        Ok(match self.objective {
            Objective::RegSquaredError => Prediction {
                raw: raw.to_vec(),
                margins,
                probabilities: Vec::new(),
                scores: Vec::new(),
                class: None,
                value: Some(transformed[0]),
            },
            objective => {
                let best = transformed
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i);
                let (probabilities, scores) = if objective.has_probabilities() {
                    (transformed, Vec::new())
                } else {
                    (Vec::new(), transformed)
                };
                Prediction {
                    raw: raw.to_vec(),
                    margins,
                    class: Some(self.labels[best].clone()),
                    probabilities,
                    scores,
                    value: None,
                }
            }
        })
    }
}

/// Whether an output of at most `max_value` fits `blocks` blocks.
pub fn fits_blocks(blocks: usize, max_value: u64) -> bool {
    (1..=MAX_OUTPUT_BLOCKS).contains(&blocks) && max_value < top_capacity(blocks)
}

/// Exclusive bound on what `blocks` blocks can hold when every block but the last holds one
/// digit and the last one may use its carry bits too (any value below [`BLOCK_MODULUS`]).
pub fn top_capacity(blocks: usize) -> u64 {
    place(BLOCK_MODULUS, blocks - 1)
}
