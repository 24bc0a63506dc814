//! Client side: reading an [`EncryptedOutput`].

use crate::ciphertexts::EncryptedOutput;
use crate::error::{ModelError, Result};
use crate::keys::ClientKey;
use crate::params::{DIGIT_MAX, place};
use crate::spec::{ClientSpec, Prediction};

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
                if !last && digit > DIGIT_MAX {
                    return Err(ModelError::InconsistentResult(format!(
                        "block {k} holds {digit}, not a base-4 digit: wrong key?"
                    )));
                }
                value += place(digit, k);
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
