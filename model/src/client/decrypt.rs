//! Client side: reading an [`EncryptedOutput`].
//!
//! # Contract
//!
//! Key: the client key's small LWE key, which the result's blocks were keyswitched to. Each
//! block's phase is rounded to one of the block's values, and fails to round correctly no more
//! often than a bootstrap does (see [`crate::params`]). What is checked before a result is
//! shown: its shape (at deserialization, against the spec), that every block but each output's
//! last holds a base-4 digit, that each value is within the model's maximum, and that no block
//! is trivial (in clear). A result that fails is a [`ModelError::InconsistentResult`]: another
//! key, another spec or tampering, never the model's answer.

use tfhe::core_crypto::prelude::{CompressedModulusSwitchedLweCiphertext, ModulusSwitchedLweCiphertext};

use crate::ciphertexts::EncryptedOutput;
use crate::error::{ModelError, Result};
use crate::keys::ClientKey;
use crate::params::{BLOCK_BITS, BLOCK_MODULUS, DIGIT_MAX, place};
use crate::spec::{ClientSpec, Prediction};

/// Decrypts a result into the integers the quantized model computes, one per output.
///
/// Key: the client key. Errors: a result whose digits no evaluation can produce (another key,
/// tampering) is [`ModelError::InconsistentResult`], and so is a result holding a trivial
/// block.
///
/// A trivial block (mask all zero) is a value in clear that anyone can make without any key:
/// its "decryption" is whatever its maker chose. An evaluation never returns one (every block
/// of a result comes out of a bootstrap and a key switch, whose masks are uniformly random; a
/// zero mask of `n` coefficients has probability `2^-(n * 12)` or less), so one means the
/// result was forged, and is refused rather than shown as the model's answer.
pub fn decrypt_raw(spec: &ClientSpec, key: &ClientKey, output: &EncryptedOutput) -> Result<Vec<u64>> {
    if let Some((message_bits, _)) = spec.encryption.wide_result() {
        return output
            .outputs
            .iter()
            .map(|ciphertexts| match ciphertexts.as_slice() {
                [ciphertext] => decrypt_linear(key, ciphertext, message_bits as usize),
                _ => Err(ModelError::InconsistentResult(
                    "an output of several ciphertexts where the model returns one".into(),
                )),
            })
            .collect();
    }
    let digits: Vec<Vec<u64>> = output
        .outputs
        .iter()
        .map(|blocks| blocks.iter().map(|b| decrypt_compact(key, b)).collect())
        .collect::<Result<_>>()?;
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
fn decrypt_compact(key: &ClientKey, block: &CompressedModulusSwitchedLweCiphertext<u64>) -> Result<u64> {
    let (phase, log_modulus) = phase(key, block)?;
    let shift = log_modulus - (BLOCK_BITS as usize + 1);
    let rounded = (phase + (1 << (shift - 1))) >> shift;
    Ok(rounded as u64 % BLOCK_MODULUS)
}

/// Decrypts a linear model's or a network's result ciphertext (small key, modulus `2^b`): the
/// phase rounded to one of `2^m` values, read as `S + 2^(m-1)` (see
/// [`crate::params::LinearEncoding`] and [`crate::params::NetworkEncoding`] for why the
/// rounding is exact).
fn decrypt_linear(
    key: &ClientKey,
    ciphertext: &CompressedModulusSwitchedLweCiphertext<u64>,
    message_bits: usize,
) -> Result<u64> {
    let (phase, log_modulus) = phase(key, ciphertext)?;
    let shift = log_modulus - message_bits;
    let signed = ((phase + (1 << (shift - 1))) >> shift) & ((1 << message_bits) - 1);
    // Two's complement S in `m` bits, read as S + 2^(m-1).
    Ok((signed ^ (1 << (message_bits - 1))) as u64)
}

/// The phase `b - <a, s>` of a compact ciphertext under the small key, modulo its `2^log`
/// (returned with it); a trivial ciphertext is refused.
fn phase(key: &ClientKey, ciphertext: &CompressedModulusSwitchedLweCiphertext<u64>) -> Result<(usize, usize)> {
    let switched = ciphertext.extract();
    refuse_trivial(switched.mask().all(|a| a == 0))?;
    let log_modulus = switched.log_modulus().0;
    let secret = key.small_lwe_secret_key();
    let mask_dot_key = switched
        .mask()
        .zip(secret.as_ref())
        .fold(0usize, |sum, (a, &s)| sum.wrapping_add(a.wrapping_mul(s as usize)));
    Ok((
        switched.body().wrapping_sub(mask_dot_key) & ((1usize << log_modulus) - 1),
        log_modulus,
    ))
}

fn refuse_trivial(mask_is_zero: bool) -> Result<()> {
    if mask_is_zero {
        return Err(ModelError::InconsistentResult(
            "the result holds a block in clear (a trivial ciphertext, which no evaluation makes): \
             it was not computed by the model"
                .into(),
        ));
    }
    Ok(())
}

/// Reads, decrypts and post-processes a serialized result.
pub fn decrypt_prediction(spec: &ClientSpec, key: &ClientKey, bytes: &[u8]) -> Result<Prediction> {
    let output = EncryptedOutput::from_bytes(bytes, spec)?;
    spec.decode(&decrypt_raw(spec, key, &output)?)
}

#[cfg(all(test, feature = "compiler"))]
mod tests {
    use tfhe::core_crypto::prelude::{
        CiphertextModulusLog, LweDimension, ModulusSwitchedLweCiphertext, ToCompressedModulusSwitchedLweCiphertext,
    };

    use super::*;
    use crate::ciphertexts::EncryptedOutput;
    use crate::params::{RESULT_MODULUS_LOG, from_digits};

    /// A block in clear: zero mask, the digit in the body where an encryption puts it.
    struct Trivial(u64);

    impl ModulusSwitchedLweCiphertext<usize> for Trivial {
        fn log_modulus(&self) -> CiphertextModulusLog {
            CiphertextModulusLog(RESULT_MODULUS_LOG)
        }

        fn lwe_dimension(&self) -> LweDimension {
            LweDimension(crate::params::small_lwe_dimension())
        }

        fn body(&self) -> usize {
            (self.0 as usize) << (RESULT_MODULUS_LOG - (BLOCK_BITS as usize + 1))
        }

        fn mask(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
            std::iter::repeat_n(0, self.lwe_dimension().0)
        }
    }

    #[test]
    fn a_result_made_of_trivial_blocks_is_refused() {
        let spec = crate::compiler::fixtures::BREAST_CANCER.compile().unwrap().spec;
        let key = ClientKey::generate();
        let digits = [3u64, 2, 0, 0, 0, 0];
        let blocks = spec.outputs[0].blocks;
        let forged = |digit: u64| Trivial(digit).compress::<u64>();
        let output = EncryptedOutput {
            outputs: vec![digits[..blocks].iter().map(|&d| forged(d)).collect()],
        };
        // Well-formed: it reads as a result of the model's shape, holding a value it could give.
        let output = EncryptedOutput::from_bytes(&output.to_bytes(), &spec).unwrap();
        let block = output.outputs[0][0].extract();
        assert!(block.mask().all(|a| a == 0));
        let chosen = from_digits(digits[..blocks].iter().copied());
        assert!(chosen <= spec.outputs[0].max_value);
        match decrypt_raw(&spec, &key, &output) {
            Err(ModelError::InconsistentResult(why)) => assert!(why.contains("trivial"), "{why}"),
            other => panic!("a forged result was read: {other:?}"),
        }
    }
}
