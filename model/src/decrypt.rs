//! Client side: reading an encrypted result.

use serde::{Deserialize, Serialize};
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::prelude::{CiphertextModulus, LweCiphertextConformanceParams, LweDimension};
use tfhe::named::Named;
use tfhe::shortint::atomic_pattern::AtomicPatternKind;
use tfhe::shortint::{Ciphertext, PBSOrder};
use tfhe_versionable::{Versionize, VersionsDispatch};

use crate::error::{ModelError, Result};
use crate::keys::ClientKey;
use crate::params::{PARAMETERS, big_lwe_dimension};
use crate::serialization::{from_bytes_conformant, to_bytes};
use crate::spec::{ClientSpec, Prediction};

/// Serialized size of one output block (an LWE ciphertext under the big key), with room for
/// its header.
fn block_bytes() -> u64 {
    (big_lwe_dimension() as u64 + 1) * 8 + 256
}

/// The encrypted result: per output, its base-4 blocks (least significant first) under the
/// client's big LWE key. Reveals nothing without the client key.
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(EncryptedOutputVersions)]
pub struct EncryptedOutput {
    pub(crate) outputs: Vec<Vec<Ciphertext>>,
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub enum EncryptedOutputVersions {
    V0(EncryptedOutput),
}

impl std::fmt::Debug for EncryptedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let blocks: Vec<usize> = self.outputs.iter().map(Vec::len).collect();
        write!(f, "EncryptedOutput {{ blocks: {blocks:?} }}")
    }
}

impl Named for EncryptedOutput {
    const NAME: &'static str = "blindfold::EncryptedOutput";
}

/// The shape a result must have: blocks per output.
pub struct OutputShape {
    pub blocks: Vec<usize>,
}

impl OutputShape {
    pub fn of(spec: &ClientSpec) -> Self {
        Self {
            blocks: spec.outputs.iter().map(|o| o.blocks).collect(),
        }
    }

    fn size_limit(&self) -> u64 {
        self.blocks.iter().sum::<usize>() as u64 * block_bytes() + 4096
    }
}

impl ParameterSetConformant for EncryptedOutput {
    type ParameterSet = OutputShape;

    fn is_conformant(&self, shape: &OutputShape) -> bool {
        let lwe = LweCiphertextConformanceParams {
            lwe_dim: LweDimension(big_lwe_dimension()),
            ct_modulus: CiphertextModulus::new_native(),
        };
        self.outputs.len() == shape.blocks.len()
            && self.outputs.iter().zip(&shape.blocks).all(|(blocks, &count)| {
                blocks.len() == count
                    && blocks.iter().all(|b| {
                        b.ct.is_conformant(&lwe)
                            && b.message_modulus == PARAMETERS.message_modulus
                            && b.carry_modulus == PARAMETERS.carry_modulus
                            && b.atomic_pattern == AtomicPatternKind::Standard(PBSOrder::KeyswitchBootstrap)
                    })
            })
    }
}

impl EncryptedOutput {
    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = OutputShape {
            blocks: self.outputs.iter().map(Vec::len).collect(),
        };
        to_bytes(self, shape.size_limit())
    }

    /// Reads a result that must have the shape `spec` announces.
    pub fn from_bytes(bytes: &[u8], spec: &ClientSpec) -> Result<Self> {
        let shape = OutputShape::of(spec);
        from_bytes_conformant(bytes, shape.size_limit(), "encrypted result", &shape)
    }
}

/// Decrypts a result into the integers the quantized model computes, one per output.
///
/// Key: the client key. Errors: a result whose digits no evaluation can produce (another key,
/// tampering) is [`ModelError::InconsistentResult`].
pub fn decrypt_raw(spec: &ClientSpec, key: &ClientKey, output: &EncryptedOutput) -> Result<Vec<u64>> {
    output
        .outputs
        .iter()
        .zip(&spec.outputs)
        .map(|(blocks, decoding)| {
            let mut value = 0u64;
            for (k, block) in blocks.iter().enumerate() {
                let digit = key.inner.decrypt_message_and_carry(block);
                let last = k + 1 == blocks.len();
                if !last && digit > 3 {
                    return Err(ModelError::InconsistentResult(format!(
                        "block {k} holds {digit}, not a base-4 digit: wrong key?"
                    )));
                }
                value += digit << (2 * k);
            }
            if value > decoding.max_value {
                return Err(ModelError::InconsistentResult(format!(
                    "value {value} exceeds the model's maximum {}: wrong key?",
                    decoding.max_value
                )));
            }
            Ok(value)
        })
        .collect()
}

/// Reads, decrypts and post-processes a serialized result.
pub fn decrypt_prediction(spec: &ClientSpec, key: &ClientKey, bytes: &[u8]) -> Result<Prediction> {
    let output = EncryptedOutput::from_bytes(bytes, spec)?;
    spec.decode(&decrypt_raw(spec, key, &output)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::BREAST_CANCER;
    use tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128;

    #[test]
    fn a_result_of_other_parameters_is_refused() {
        let spec = BREAST_CANCER.compile().unwrap().spec;
        // Same LWE dimension (4 x 512), other message and carry moduli.
        let other = tfhe::shortint::ClientKey::new(V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128);
        let blocks = (0..spec.outputs[0].blocks).map(|_| other.encrypt(1)).collect();
        let bytes = EncryptedOutput { outputs: vec![blocks] }.to_bytes();
        let result = EncryptedOutput::from_bytes(&bytes, &spec);
        assert!(
            matches!(result, Err(ModelError::WrongParameters { .. })),
            "{:?}",
            result.err()
        );
    }
}
