//! The frozen cryptographic parameters and the input encoding of Blindfold's circuits.
//!
//! One TFHE parameter set is supported: `V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`
//! from tfhe-rs 1.8.2 (p-fail = 2^-129.581, TUniform noise, >= 128-bit security, 2-norm = 5):
//! a small LWE key of dimension n = 918 (noise TUniform(45)), a big GLWE-as-LWE key of
//! dimension k·N = 2048 (noise TUniform(17)), a keyswitch from big to small (base 2^4, 4
//! levels) and a bootstrap from small to big (base 2^23, 1 level) whose modulus switch uses
//! the centered-mean noise reduction. Each shortint block holds 4 bits (2 message + 2 carry)
//! below a padding bit, and a programmable bootstrap evaluates any function of a block's 4
//! bits. A bootstrap's input must have degree <= 15 and a noise variance of at most 25 nominal
//! units (see below); every sum in this crate is checked against both before it is
//! bootstrapped.
//!
//! # Where ciphertexts live, and why it is safe
//!
//! The parameter set's p-fail is computed for one bootstrap input: a sum of bootstrap outputs
//! of 2-norm at most 5 (variance `25·V_pbs`), keyswitched (`+ V_ks`), then modulus-switched to
//! `2N` (`+ V_ms`). The test `the_p_fail_is_that_of_a_25_unit_sum` recomputes it from tfhe-rs's
//! noise formulas: 2^-129.6, the figure the set is published with. Blindfold places its
//! ciphertexts so that every bootstrap input and every decrypted result has at most that
//! variance, so none fails more often than the parameter set promises.
//!
//! **The noise accounting counts variance** in units of one bootstrap output's `V_pbs` (the
//! `noise` of a block; the budget is [`noise_budget`], `5² = 25`). Adding independent blocks
//! adds their variances, so a bootstrap may take the sum of up to 25 bootstrap outputs. Every
//! sum Blindfold forms adds distinct bootstrap outputs with weight 1 (a gate's weight is in its
//! table, not a multiplication), so variance is what matters, as in tfhe-rs's own 2-norm. tfhe-rs's
//! shortint counts a noise *level* instead (standard deviations, at most 5), which is safe for
//! any linear combination but allows only five such outputs per sum: for adding up tree leaves it
//! cost about a third more bootstraps. In practice `V_ms` (2^-19.7) dwarfs `V_pbs` (2^-29.7),
//! so even a full budget barely moves the p-fail.
//!
//!
//! - **Inputs are fresh small-key encryptions.** The client encrypts each thermometer bit once,
//!   under the small key with the small key's own noise (TUniform(45), as the keyswitch key's
//!   entries are: same key, same noise, same security), and the server multiplies it by the
//!   weight its lookup needs ([`THERMOMETER_WEIGHTS`]). A lookup index built from thermometer
//!   bits alone (distinct weights 1, 2, 4, 8) has variance at most `85·V_fresh`, below one
//!   bootstrap output's `V_pbs` (the test `fresh_weighted_inputs_stay_below_one_bootstrap_output`
//!   checks it with tfhe-rs's own noise formulas: 2^-33.2 against 2^-29.7), and it needs no
//!   keyswitch: it is bootstrapped directly, so it carries neither `V_ks` nor the bootstrap
//!   outputs' noise. The noise accounting counts each thermometer term as one unit anyway.
//! - **Lookups that also read gates** (bootstrap outputs under the big key) keyswitch the sum of
//!   their `g` gates once and add the weighted thermometer bits to it: variance at most
//!   `g·V_pbs + V_ks + 85·V_fresh <= (g + 1)·V_pbs + V_ks`, within the budget because the
//!   accounting gave the thermometer terms at least one unit (`g + terms <= 25`).
//! - **Everything else** is unchanged shortint: sums of bootstrap outputs, keyswitched then
//!   bootstrapped.
//! - **Results** are keyswitched to the small key and modulus-switched to `2N` (12 bits per
//!   coefficient) on the server, with the bootstrap's own centered-mean switch: exactly the
//!   computation a bootstrap applies to its input before the blind rotation, on a sum within the
//!   same budget. Decrypting it therefore fails at most as often as a bootstrap
//!   would, and a result block shrinks from 2049 to 919 coefficients of 12 bits (~1.4 KB).
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
pub const INPUT_SCHEME: &str = "small-key-thermometer-v2";

/// The weights a thermometer bit may carry in a lookup index: one per bit of a lookup index.
/// The server applies them; the client encrypts each bit once.
pub const THERMOMETER_WEIGHTS: [u64; BLOCK_BITS as usize] = [1, 2, 4, 8];

/// Name of a linear model's encoding (see [`LinearEncoding`]).
pub const LINEAR_SCHEME: &str = "small-key-linear-v1";

/// How a row is encrypted and a result returned, by model family (its `scheme`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme")]
pub enum InputEncoding {
    /// Tree ensembles: [`ThermometerEncoding`].
    #[serde(rename = "small-key-thermometer-v2")]
    Thermometer(ThermometerEncoding),
    /// Linear models: [`LinearEncoding`].
    #[serde(rename = "small-key-linear-v1")]
    Linear(LinearEncoding),
}

/// The small-key thermometer code of a tree ensemble's row.
///
/// For every feature `f` and every level step `j` in `1..levels_f`, the client encrypts the bit
/// `[x_q >= j]` as one fresh LWE ciphertext under its small secret key (all in one seeded list:
/// 8 bytes per ciphertext on the wire). The server builds any comparison-lookup index as a sum
/// of those bits, each multiplied by its weight in `weights`, and bootstraps it without a
/// keyswitch (see the module docs for the noise argument). The set of ciphertexts does not
/// depend on the model, so sending it reveals nothing about which features or thresholds the
/// model uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThermometerEncoding {
    pub parameter_set: String,
    pub weights: Vec<u64>,
}

impl InputEncoding {
    /// The tree ensembles' encoding this build produces.
    pub fn thermometer() -> Self {
        InputEncoding::Thermometer(ThermometerEncoding {
            parameter_set: PARAMETER_SET_NAME.to_owned(),
            weights: THERMOMETER_WEIGHTS.to_vec(),
        })
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            InputEncoding::Thermometer(_) => INPUT_SCHEME,
            InputEncoding::Linear(_) => LINEAR_SCHEME,
        }
    }

    pub fn parameter_set(&self) -> &str {
        match self {
            InputEncoding::Thermometer(e) => &e.parameter_set,
            InputEncoding::Linear(e) => &e.parameter_set,
        }
    }

    /// Refuses any encoding this build does not implement.
    pub fn check(&self) -> Result<()> {
        let supported = match self {
            InputEncoding::Thermometer(_) => *self == Self::thermometer(),
            InputEncoding::Linear(linear) => *linear == LinearEncoding::new(linear.message_bits),
        };
        if !supported || self.parameter_set() != PARAMETER_SET_NAME {
            return Err(ModelError::Format(format!(
                "encryption `{}` / `{}` ({self:?}; this build supports {PARAMETER_SET_NAME} / {INPUT_SCHEME} with \
                 weights {THERMOMETER_WEIGHTS:?}, and {LINEAR_SCHEME} of {MIN_LINEAR_MESSAGE_BITS} to \
                 {MAX_LINEAR_MESSAGE_BITS} message bits)",
                self.parameter_set(),
                self.scheme(),
            )));
        }
        Ok(())
    }
}

/// Dimension of the small LWE key (`n`), which rows are encrypted under and results returned
/// under: the parameter set's, as a plain constant for the spec side (asserted against
/// [`PARAMETERS`] where tfhe is compiled in).
pub const SMALL_LWE_DIMENSION: usize = 918;

/// `log2` of the bound of the small key's TUniform noise: every fresh small-key error `e`
/// has `|e| <= 2^45` (on the native torus `2^64`). Asserted against [`PARAMETERS`] like
/// [`SMALL_LWE_DIMENSION`].
pub const SMALL_NOISE_BOUND_LOG2: u32 = 45;

/// The smallest and largest message space of a linear model.
pub const MIN_LINEAR_MESSAGE_BITS: u32 = 2;
pub const MAX_LINEAR_MESSAGE_BITS: u32 = 17;

/// Bits of a linear result's modulus above its message bits: room for the modulus switch's
/// rounding, `(n + 1) / 2` steps of the result modulus, below a quarter of `Δ`.
pub const LINEAR_SWITCH_BITS: u32 = 11;

/// A linear model's encoding: each feature's level `x_j` encrypted as one fresh small-key LWE
/// ciphertext of `x_j · Δ` with `Δ = 2^(64 - m)`, in one seeded list (8 bytes a feature); the
/// result, per output, one ciphertext of `S_k · Δ` modulus-switched to `2^b` with
/// `b = m + LINEAR_SWITCH_BITS`.
///
/// # Why every result decrypts exactly
///
/// The argument is deterministic: TUniform noise is bounded, so no probability is involved
/// (p-fail 0, where a bootstrap's is 2^-129.6). With `A = Σ_j |w_kj|` the output's weights' sum:
///
/// - the weighted sum's error is `Σ_j w_kj · e_j`, at most `A · 2^45` in absolute value;
/// - the modulus switch rounds each of the `n + 1` coefficients by at most half a step of
///   `2^(64 - b)`, and the binary key adds at most `n` of the mask's roundings: at most
///   `(n + 1) · 2^(63 - b)`;
/// - so the phase is `S_k · Δ` plus an error below `Δ / 2 = 2^(63 - m)` whenever
///   `A · 2^45 + (n + 1) · 2^(63 - b) < 2^(63 - m)` ([`LinearEncoding::admits`]), and rounding
///   it to a multiple of `Δ` gives `S_k` modulo `2^m`; the plan's range check puts `S_k` in
///   `[-2^(m-1), 2^(m-1))`, so that is `S_k` itself.
///
/// With `b = m + 11`, the switch takes less than a quarter of `Δ` (`919 · 2^(52 - m)` against
/// `2^(62 - m)`), which leaves `A < 2^(16.9 - m)` for the weights. The test
/// `linear_results_decrypt_within_the_bound` checks the constants against tfhe-rs's parameter
/// set and the bound on real ciphertexts at its extremes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearEncoding {
    pub parameter_set: String,
    /// `m`: every output lies in `[-2^(m-1), 2^(m-1))`, encrypted at `Δ = 2^(64 - m)`.
    pub message_bits: u32,
    /// `b`: bits per coefficient of a result ciphertext.
    pub result_modulus_log: u32,
}

impl LinearEncoding {
    /// The encoding of `message_bits` (clamped to the supported range).
    pub fn new(message_bits: u32) -> Self {
        let message_bits = message_bits.clamp(MIN_LINEAR_MESSAGE_BITS, MAX_LINEAR_MESSAGE_BITS);
        Self {
            parameter_set: PARAMETER_SET_NAME.to_owned(),
            message_bits,
            result_modulus_log: message_bits + LINEAR_SWITCH_BITS,
        }
    }

    /// `Δ = 2^(64 - m)`.
    pub fn delta(&self) -> u64 {
        1u64 << (64 - self.message_bits)
    }

    /// Whether an output ranging over `[low, high]`, whose weights' absolute values sum to
    /// `norm`, decrypts exactly (see the type's docs).
    pub fn admits(&self, low: i64, high: i64, norm: u128) -> bool {
        let half = 1i64 << (self.message_bits - 1);
        let input_noise = norm.saturating_mul(1u128 << SMALL_NOISE_BOUND_LOG2);
        let switch = (SMALL_LWE_DIMENSION as u128 + 1) << (63 - self.result_modulus_log);
        low >= -half && high < half && input_noise + switch < 1u128 << (63 - self.message_bits)
    }
}

#[cfg(feature = "client")]
pub(crate) use self::lattice::delta;
#[cfg(any(feature = "client", feature = "server"))]
pub use self::lattice::{PARAMETERS, noise_budget};
#[cfg(any(feature = "client", feature = "server"))]
pub(crate) use self::lattice::{RESULT_MODULUS_LOG, small_lwe_dimension};

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
    const _: () = assert!(PARAMETERS.lwe_dimension.0 == super::SMALL_LWE_DIMENSION);
    const _: () = assert!(PARAMETERS.message_modulus.0 * PARAMETERS.carry_modulus.0 == BLOCK_MODULUS);

    /// `Delta`: the plaintext scaling of a 4-bit block with one padding bit on the native torus,
    /// exactly as shortint encodes it (2^63 / 16).
    #[cfg(feature = "client")]
    pub(crate) fn delta() -> u64 {
        (1u64 << 62) / BLOCK_MODULUS * 2
    }

    /// The largest noise a bootstrap input may carry, as a variance in units of one bootstrap
    /// output's: the square of the 2-norm the parameter set's p-fail is computed for (tfhe-rs
    /// names it `max_noise_level`). The module docs say why variance is the right measure.
    pub fn noise_budget() -> u64 {
        let norm = PARAMETERS.max_noise_level.get();
        norm * norm
    }

    /// Dimension of the small LWE key: inputs are encrypted under it, results keyswitched to it.
    pub(crate) fn small_lwe_dimension() -> usize {
        PARAMETERS.lwe_dimension.0
    }

    /// Bits per coefficient of a result block: the bootstrap's input modulus `2N`.
    pub(crate) const RESULT_MODULUS_LOG: usize = PARAMETERS.polynomial_size.0.ilog2() as usize + 1;
}

#[cfg(all(test, any(feature = "client", feature = "server")))]
mod tests {
    use tfhe::core_crypto::commons::noise_formulas::centered_mean_shifted_modulus_switch::centered_binary_shifted_modulus_switch_additive_variance;
    use tfhe::core_crypto::commons::noise_formulas::lwe_keyswitch::keyswitch_additive_variance_132_bits_security_tuniform;
    use tfhe::core_crypto::commons::noise_formulas::lwe_programmable_bootstrap::pbs_variance_132_bits_security_tuniform_fft_mul;
    use tfhe::core_crypto::prelude::{DynamicDistribution, LweDimension};

    use super::{PARAMETERS, THERMOMETER_WEIGHTS};

    const MODULUS: f64 = 18446744073709551616.0; // 2^64

    /// Variance, on the unit torus, of TUniform(b): uniform on the integers of [-2^b, 2^b].
    fn t_uniform_variance(distribution: DynamicDistribution<u64>) -> f64 {
        let DynamicDistribution::TUniform(t) = distribution else {
            panic!("the parameter set uses TUniform noise");
        };
        let bound = 2f64.powi(t.bound_log2() as i32);
        ((2.0 * bound + 1.0).powi(2) - 1.0) / 12.0 / MODULUS.powi(2)
    }

    /// A bootstrap output's variance (`V_pbs`), by tfhe-rs's formula for this parameter set.
    fn bootstrap_output_variance() -> f64 {
        pbs_variance_132_bits_security_tuniform_fft_mul(
            PARAMETERS.lwe_dimension,
            PARAMETERS.glwe_dimension,
            PARAMETERS.polynomial_size,
            PARAMETERS.pbs_base_log,
            PARAMETERS.pbs_level,
            53.0,
            MODULUS,
        )
        .0
    }

    /// The variance a keyswitch from the big key to the small one adds (`V_ks`).
    fn keyswitch_variance() -> f64 {
        keyswitch_additive_variance_132_bits_security_tuniform(
            LweDimension(PARAMETERS.glwe_dimension.0 * PARAMETERS.polynomial_size.0),
            PARAMETERS.lwe_dimension,
            PARAMETERS.ks_base_log,
            PARAMETERS.ks_level,
            MODULUS,
            MODULUS,
        )
        .0
    }

    /// The inequality the module docs rest on, with tfhe-rs's own noise formulas for this
    /// parameter set: a lookup index made of fresh small-key thermometer bits, each multiplied
    /// by a distinct weight, is less noisy than a single bootstrap output, so counting it as one
    /// nominal unit (or more) keeps every bootstrap input within the p-fail budget.
    #[test]
    fn fresh_weighted_inputs_stay_below_one_bootstrap_output() {
        let fresh = t_uniform_variance(PARAMETERS.lwe_noise_distribution);
        let weights: u64 = THERMOMETER_WEIGHTS.iter().map(|w| w * w).sum();
        let index = weights as f64 * fresh;
        let bootstrap_output = bootstrap_output_variance();
        let keyswitch = keyswitch_variance();
        let budget = super::noise_budget() as f64 * bootstrap_output + keyswitch;
        eprintln!(
            "log2 variances: fresh input {:.2}, weighted index {:.2}, bootstrap output {:.2}, keyswitch {:.2}, budget {:.2}",
            fresh.log2(),
            index.log2(),
            bootstrap_output.log2(),
            keyswitch.log2(),
            budget.log2()
        );
        assert_eq!(weights, 85);
        assert!(index <= bootstrap_output, "{index:e} > {bootstrap_output:e}");
        // A lookup mixing g gates with thermometer bits (g + 1 <= 25 units).
        for gates in 0..super::noise_budget() {
            let mixed = gates as f64 * bootstrap_output + keyswitch + index;
            assert!(mixed <= budget, "{gates} gates: {mixed:e} > {budget:e}");
        }
    }

    /// The budget is the one the parameter set's p-fail is published for: a bootstrap input
    /// made of 25 units of bootstrap-output variance, keyswitched, then modulus-switched to
    /// `2N` with the centered-mean switch, decodes wrongly (error beyond half a step of the
    /// 4-bit block under its padding bit) with probability 2^-129.58, tfhe-rs's figure; five
    /// units would be 2^-131.7. So a variance accounting up to 25 units stays within it.
    #[test]
    fn the_p_fail_is_that_of_a_25_unit_sum() {
        let bootstrap_output = bootstrap_output_variance();
        let keyswitch = keyswitch_variance();
        let modulus_switch = centered_binary_shifted_modulus_switch_additive_variance(
            PARAMETERS.lwe_dimension,
            MODULUS,
            2.0 * PARAMETERS.polynomial_size.0 as f64,
        )
        .0;
        // Half a step of a 4-bit block with a padding bit, on the unit torus.
        let half_step = 1.0 / (2.0 * 2.0 * super::BLOCK_MODULUS as f64);
        let log2_p_fail = |units: u64| {
            let variance = units as f64 * bootstrap_output + keyswitch + modulus_switch;
            libm::erfc(half_step / (2.0 * variance).sqrt()).log2()
        };
        let budget = log2_p_fail(super::noise_budget());
        eprintln!(
            "log2 p-fail: 1 unit {:.2}, 5 units {:.2}, 25 units {budget:.2}, published {}",
            log2_p_fail(1),
            log2_p_fail(5),
            PARAMETERS.log2_p_fail
        );
        assert!(
            (budget - PARAMETERS.log2_p_fail).abs() < 0.05,
            "{budget} vs {}",
            PARAMETERS.log2_p_fail
        );
        assert!(
            log2_p_fail(super::noise_budget() + 5) > PARAMETERS.log2_p_fail,
            "the budget is tight"
        );
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    /// A tree ensemble's encoding reads and writes as it did before linear models had one: the
    /// scheme names the variant.
    #[test]
    fn each_encoding_is_named_by_its_scheme() {
        let json = r#"{"parameter_set":"V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128","scheme":"small-key-thermometer-v2","weights":[1,2,4,8]}"#;
        let trees: InputEncoding = serde_json::from_str(json).unwrap();
        assert_eq!(trees, InputEncoding::thermometer());
        assert!(trees.check().is_ok());
        let linear = InputEncoding::Linear(LinearEncoding::new(10));
        let text = serde_json::to_string(&linear).unwrap();
        assert!(text.contains(r#""scheme":"small-key-linear-v1""#), "{text}");
        assert!(text.contains(r#""result_modulus_log":21"#), "{text}");
        assert_eq!(serde_json::from_str::<InputEncoding>(&text).unwrap(), linear);
        assert!(linear.check().is_ok());
        // A result modulus other than this build's for the message bits.
        let other = InputEncoding::Linear(LinearEncoding {
            result_modulus_log: 40,
            ..LinearEncoding::new(10)
        });
        assert!(other.check().is_err());
        assert!(serde_json::from_str::<InputEncoding>(r#"{"scheme":"other"}"#).is_err());
    }

    /// `admits` is the inequality of [`LinearEncoding`]'s docs, at its edges.
    #[test]
    fn the_linear_bound_is_the_documented_inequality() {
        for m in MIN_LINEAR_MESSAGE_BITS..=MAX_LINEAR_MESSAGE_BITS {
            let encoding = LinearEncoding::new(m);
            let half = 1i64 << (m - 1);
            assert!(encoding.admits(-half, half - 1, 0), "m = {m}");
            assert!(!encoding.admits(-half - 1, 0, 0) && !encoding.admits(0, half, 0));
            let limit = (1u128 << (63 - m)) - ((SMALL_LWE_DIMENSION as u128 + 1) << (63 - m - LINEAR_SWITCH_BITS));
            let largest = (limit - 1) >> SMALL_NOISE_BOUND_LOG2;
            assert!(
                encoding.admits(0, 0, largest) && !encoding.admits(0, 0, largest + 1),
                "m = {m}"
            );
        }
    }
}
