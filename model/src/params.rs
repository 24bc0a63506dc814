//! The frozen cryptographic parameters and the input encoding of Blindfold's circuits.
//!
//! One TFHE parameter set is supported: `V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`
//! from tfhe-rs 1.8.2 (p-fail = 2^-129.581, TUniform noise, >= 128-bit security, 2-norm = 5).
//! Each shortint block holds 4 bits (2 message + 2 carry) below a padding bit, ciphertexts at
//! rest are under the big (GLWE-as-LWE, n = 2048) key, and a programmable bootstrap
//! (keyswitch then PBS) evaluates any function of a block's 4 bits. A bootstrap's input must
//! have degree <= 15 and noise level <= 5 (a sum of at most five nominal-noise ciphertexts);
//! every sum in this crate is checked against both before it is bootstrapped.
//!
//! The block layout ([`DIGIT_BITS`], [`BLOCK_BITS`] and what follows from them) is plain
//! constants, so that the spec side builds without tfhe; where tfhe is compiled in, a
//! compile-time assertion ties them to [`PARAMETERS`].

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Name of the only parameter set, as stored in specs and plans.
pub const PARAMETER_SET_NAME: &str = "V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128";

/// Message bits of a block: outputs are written in base [`DIGIT_BASE`], one digit per block.
pub const DIGIT_BITS: u32 = 2;
/// Base of an output's digits: the parameters' message modulus.
pub const DIGIT_BASE: u64 = 1 << DIGIT_BITS;
/// Largest canonical digit.
pub const DIGIT_MAX: u64 = DIGIT_BASE - 1;
/// Carry bits above the message: room for sums of digits before a bootstrap.
pub const CARRY_BITS: u32 = 2;
/// Bits a bootstrap reads (message and carry): the width of a lookup index.
pub const BLOCK_BITS: u32 = DIGIT_BITS + CARRY_BITS;
/// Values a block can hold below its padding bit (message modulus times carry modulus): the
/// number of entries of every lookup table.
pub const BLOCK_MODULUS: u64 = 1 << BLOCK_BITS;
/// Largest degree a block may have (and so a bootstrap input).
pub const MAX_DEGREE: u64 = BLOCK_MODULUS - 1;

/// The value `digit` stands for in base-[`DIGIT_BASE`] column `column`.
pub const fn place(digit: u64, column: usize) -> u64 {
    digit << (DIGIT_BITS as usize * column)
}

/// What `value` holds from column `column` upward (its digits below are dropped).
pub const fn from_column(value: u64, column: usize) -> u64 {
    value >> (DIGIT_BITS as usize * column)
}

/// The integer whose digits are `digits`, least significant first (the last one may use its
/// carry bits too).
pub fn from_digits(digits: impl IntoIterator<Item = u64>) -> u64 {
    digits
        .into_iter()
        .enumerate()
        .map(|(column, digit)| place(digit, column))
        .sum()
}

/// Name of the input encoding (see [`InputEncoding`]).
pub const INPUT_SCHEME: &str = "weighted-thermometer-v1";

/// The weights the client encrypts each thermometer bit with: one per bit of a lookup index.
pub const THERMOMETER_WEIGHTS: [u64; BLOCK_BITS as usize] = [1, 2, 4, 8];

/// How a row is encrypted: the weighted thermometer code.
///
/// For every feature `f`, every level step `j` in `1..levels_f` and every weight `w` in
/// `weights`, the client encrypts `w * [x_q >= j]` as one fresh LWE ciphertext under its
/// secret key (all in one seeded list: 8 bytes per ciphertext on the wire). The server can then
/// build any comparison-lookup index as a plain sum of fresh ciphertexts, without a bootstrap
/// per comparison. The set of ciphertexts does not depend on the model, so sending it reveals
/// nothing about which features or thresholds the model uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEncoding {
    pub parameter_set: String,
    pub scheme: String,
    pub weights: Vec<u64>,
}

impl InputEncoding {
    /// The encoding this build produces.
    pub fn current() -> Self {
        Self {
            parameter_set: PARAMETER_SET_NAME.to_owned(),
            scheme: INPUT_SCHEME.to_owned(),
            weights: THERMOMETER_WEIGHTS.to_vec(),
        }
    }

    /// Refuses any encoding this build does not implement.
    pub fn check(&self) -> Result<()> {
        if *self != Self::current() {
            return Err(ModelError::Format(format!(
                "encryption `{}` / `{}` with weights {:?} (this build supports {PARAMETER_SET_NAME} / {INPUT_SCHEME})",
                self.parameter_set, self.scheme, self.weights
            )));
        }
        Ok(())
    }
}

#[cfg(any(feature = "client", feature = "server"))]
pub use self::lattice::PARAMETERS;
#[cfg(any(feature = "client", feature = "server"))]
pub(crate) use self::lattice::big_lwe_dimension;
#[cfg(feature = "client")]
pub(crate) use self::lattice::delta;

/// The tfhe-rs side of the parameters: only built with the `client` or `server` feature.
#[cfg(any(feature = "client", feature = "server"))]
mod lattice {
    use tfhe::shortint::parameters::ClassicPBSParameters;
    use tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;

    use super::{BLOCK_MODULUS, DIGIT_BASE};

    /// The TFHE parameters every key and ciphertext of Blindfold uses.
    pub const PARAMETERS: ClassicPBSParameters = V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;

    // The block layout the spec side uses without tfhe must be this parameter set's.
    const _: () = assert!(PARAMETERS.message_modulus.0 == DIGIT_BASE);
    const _: () = assert!(PARAMETERS.message_modulus.0 * PARAMETERS.carry_modulus.0 == BLOCK_MODULUS);

    /// `Delta`: the plaintext scaling of a 4-bit block with one padding bit on the native torus,
    /// exactly as shortint encodes it (2^63 / 16).
    #[cfg(feature = "client")]
    pub(crate) fn delta() -> u64 {
        (1u64 << 62) / BLOCK_MODULUS * 2
    }

    /// Dimension of the big LWE key that fresh ciphertexts are encrypted under.
    pub(crate) fn big_lwe_dimension() -> usize {
        PARAMETERS.glwe_dimension.0 * PARAMETERS.polynomial_size.0
    }
}
