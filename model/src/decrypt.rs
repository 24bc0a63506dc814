//! Client side: reading an [`EncryptedOutput`].

use tfhe::core_crypto::prelude::{CompressedModulusSwitchedLweCiphertext, ModulusSwitchedLweCiphertext};

use crate::ciphertexts::{EncryptedOutput, OutputBlocks};
use crate::error::{ModelError, Result};
use crate::keys::ClientKey;
use crate::params::{BLOCK_BITS, BLOCK_MODULUS, DIGIT_MAX, place};
use crate::spec::{ClientSpec, Prediction};

/// Decrypts a result into the integers the quantized model computes, one per output.
///
/// Key: the client key. Errors: a result whose digits no evaluation can produce (another key,
/// tampering) is [`ModelError::InconsistentResult`].
pub fn decrypt_raw(spec: &ClientSpec, key: &ClientKey, output: &EncryptedOutput) -> Result<Vec<u64>> {
    let digits: Vec<Vec<u64>> = match &output.blocks {
        OutputBlocks::Compact(outputs) => outputs
            .iter()
            .map(|blocks| blocks.iter().map(|b| decrypt_compact(key, b)).collect())
            .collect(),
        OutputBlocks::Big(outputs) => outputs
            .iter()
            .map(|blocks| blocks.iter().map(|b| key.inner.decrypt_message_and_carry(b)).collect())
            .collect(),
    };
    digits
        .iter()
        .zip(&spec.outputs)
        .map(|(digits, decoding)| {
            let mut value = 0u64;
            for (k, &digit) in digits.iter().enumerate() {
                let last = k + 1 == digits.len();
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

/// Decrypts a compact result block (small key, modulus `2^log`): the phase `b - <a, s>` rounded
/// to one of the `2 * BLOCK_MODULUS` slots of the torus (a padding bit above the block's 4
/// bits), read without the padding bit, as shortint decodes a block.
fn decrypt_compact(key: &ClientKey, block: &CompressedModulusSwitchedLweCiphertext<u64>) -> u64 {
    let switched = block.extract();
    let log_modulus = switched.log_modulus().0;
    let secret = key.small_lwe_secret_key();
    let mask_dot_key = switched
        .mask()
        .zip(secret.as_ref())
        .fold(0usize, |sum, (a, &s)| sum.wrapping_add(a.wrapping_mul(s as usize)));
    let phase = switched.body().wrapping_sub(mask_dot_key) & ((1usize << log_modulus) - 1);
    let shift = log_modulus - (BLOCK_BITS as usize + 1);
    let rounded = (phase + (1 << (shift - 1))) >> shift;
    rounded as u64 % BLOCK_MODULUS
}

/// Reads, decrypts and post-processes a serialized result.
pub fn decrypt_prediction(spec: &ClientSpec, key: &ClientKey, bytes: &[u8]) -> Result<Prediction> {
    let output = EncryptedOutput::from_bytes(bytes, spec)?;
    spec.decode(&decrypt_raw(spec, key, &output)?)
}
