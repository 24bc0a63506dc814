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
    /// Neural networks: [`NetworkEncoding`].
    #[serde(rename = "big-key-network-v1")]
    Network(NetworkEncoding),
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
            InputEncoding::Network(_) => NETWORK_SCHEME,
        }
    }

    pub fn parameter_set(&self) -> &str {
        match self {
            InputEncoding::Thermometer(e) => &e.parameter_set,
            InputEncoding::Linear(e) => &e.parameter_set,
            InputEncoding::Network(e) => &e.parameter_set,
        }
    }

    /// Dimension of the LWE key a row is encrypted under: the small key, or the big one for a
    /// network (whose inputs the server multiplies by up to 64, see [`NetworkEncoding`]).
    pub fn row_lwe_dimension(&self) -> usize {
        match self {
            InputEncoding::Thermometer(_) | InputEncoding::Linear(_) => SMALL_LWE_DIMENSION,
            InputEncoding::Network(_) => BIG_LWE_DIMENSION,
        }
    }

    /// A result's message bits and modulus, when it is one ciphertext per output (linear models
    /// and networks; a tree ensemble's outputs are digits in blocks).
    pub fn wide_result(&self) -> Option<(u32, u32)> {
        match self {
            InputEncoding::Thermometer(_) => None,
            InputEncoding::Linear(e) => Some((e.message_bits, e.result_modulus_log)),
            InputEncoding::Network(e) => Some((e.output_bits, e.result_modulus_log)),
        }
    }

    /// Refuses any encoding this build does not implement.
    pub fn check(&self) -> Result<()> {
        let supported = match self {
            InputEncoding::Thermometer(_) => *self == Self::thermometer(),
            InputEncoding::Linear(linear) => *linear == LinearEncoding::new(linear.message_bits),
            InputEncoding::Network(network) => *network == NetworkEncoding::new(network.output_bits),
        };
        if !supported || self.parameter_set() != PARAMETER_SET_NAME {
            return Err(ModelError::Format(format!(
                "encryption `{}` / `{}` ({self:?}; this build supports {PARAMETER_SET_NAME} / {INPUT_SCHEME} with \
                 weights {THERMOMETER_WEIGHTS:?}, {LINEAR_SCHEME} of {MIN_LINEAR_MESSAGE_BITS} to \
                 {MAX_LINEAR_MESSAGE_BITS} message bits, and {NETWORK_SCHEME} of {MIN_NETWORK_OUTPUT_BITS} to \
                 {MAX_NETWORK_OUTPUT_BITS} output bits)",
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

/// Name of a neural network's encoding (see [`NetworkEncoding`]).
pub const NETWORK_SCHEME: &str = "big-key-network-v1";

/// Dimension of the big LWE key (`k·N`, the GLWE key read as an LWE key): a network's row is
/// encrypted under it. Asserted against [`PARAMETERS`] like [`SMALL_LWE_DIMENSION`].
pub const BIG_LWE_DIMENSION: usize = 2048;

/// `log2` of `Δ_S`, the scale of a network's input levels and of every hidden neuron's
/// accumulator `S`: `S · Δ_S` for `S` within `[-2^9, 2^9)` keeps a padding bit.
pub const NETWORK_ACCUMULATOR_SCALE_LOG: u32 = 53;

/// A hidden neuron's fine step, in accumulator units: the activation reads `S` to this
/// resolution (`32 = 2^5`: the most low bits one bootstrap resolves, see [`NetworkEncoding`]).
pub const NETWORK_FINE_STEP: i64 = 32;

/// A hidden neuron's coarse slot, in accumulator units (two fine steps).
pub const NETWORK_COARSE_SLOT: i64 = 64;

/// The coarse read's positions that a neuron's shifted accumulator may take: `0..=15`.
pub const NETWORK_COARSE_POSITIONS: i64 = 15;

/// Fine steps of a neuron's activation that are read exactly (`J` in `0..4`); below them the
/// activation is its value at `-∞`, above them its value at `+∞`.
pub const NETWORK_FINE_LEVELS: usize = 4;

/// The smallest and largest output precision of a network.
pub const MIN_NETWORK_OUTPUT_BITS: u32 = 3;
pub const MAX_NETWORK_OUTPUT_BITS: u32 = 8;

/// A network's encoding: the row's levels `x_j` encrypted as fresh big-key LWE ciphertexts of
/// `x_j · Δ_S` (`Δ_S = 2^53`, TUniform(17) noise: the big key's own, as the bootstrapping
/// key's), in one seeded list (8 bytes a feature); the result, per output, one small-key
/// ciphertext of `Y · Δ_out` (`Δ_out = 2^(64 - m)`) modulus-switched to `2^b`,
/// `b = m + LINEAR_SWITCH_BITS`.
///
/// # The circuit of one hidden neuron (three bootstraps)
///
/// The server forms the neuron's accumulator `S = Σ_j W_j x_j + B` (integer weights) as
/// `ct_S = Σ_j W_j ct_j + B·Δ_S`, exact modulo `2^64`, with error `Σ_j W_j e_j`. Write
/// `S = 32 J + L`, `L = S mod 32`. Then, with every bootstrap keyswitching its input to the
/// small key and switching it to `2N` as shortint does:
///
/// 1. **low** — `64 · ct_S` has phase `L · 2^59` (the bits of `S` above `L` wrap away): the
///    bootstrap reads the box of `L` among 32 boxes of `2^59` and returns `±2^58` by its sign,
///    so `b = [L >= 16]` is known exactly. Every box is half a box (`2^58`) from the sign's
///    boundaries: the parameter set's own margin.
/// 2. **coarse** — `ct_S + 64 o · Δ_S` has phase `p · 2^59` with `p = (S + 64 o) / 64`; the
///    plan's offset `o` keeps `p` within `[0, 15]` for every row. The bootstrap rounds `p` with
///    an error below half a box, so it reads `h = ⌊p⌋` or `⌈p⌉` (either may come out when `p`
///    is not an integer: that is why its answer is used only where both are right), and returns
///    the plan's shift `γ(h) · 2^60`.
/// 3. **fine** — `4 · ct_S + out_low + out_coarse - 2^59` has phase `(J + γ(h) + u) · 2^60`
///    with `u = (L - 16 b - 8) / 32` in `[-1/4, 1/4)`: the bootstrap reads box
///    `J + γ(h) mod 16` of 16 boxes of `2^60` with a margin of `2^60/4 = 2^58`, the
///    parameter set's again, and returns the neuron's contribution to each output.
///
/// Given `h`, `J` is one of `2H - 2 .. 2H + 1` with `H = h - o`. The fine boxes are laid out
/// as **fine** `0..4` (`J` itself), **high** `4..8` (the activation's value at `+∞`) and
/// **low** `12..16` (its value at `-∞`, zero after the plan moves it into the output's
/// constant); the shift is `0` when `H` is `0`, `1` or `2` (so `J` from `-2` to `5` lands in
/// the low, fine and high boxes as it is), `14 - 2H` when `H < 0` (every possible `J` is
/// below 0: low boxes) and `6 - 2H` when `H > 2` (every `J` is 4 or more: high boxes). So
/// whichever `h` the coarse read gives, the fine read's box means the same activation. The
/// boxes are negacyclic (box `k + 8` returns minus box `k`'s value): with the constant `c`
/// added after the bootstrap, low boxes return `c - G` and high boxes `G + c` for the same
/// table entry `G = c`, which is why the high value is `2c` and the low one `0`; boxes
/// `8..12` are never reached.
///
/// # Noise
///
/// Each bootstrap input is a sum the parameter set's p-fail covers: the accumulator's error
/// multiplied by at most 64, below one bootstrap output's variance (the plan checks
/// `Σ W_j² ≤` [`NETWORK_MAX_SQUARED_WEIGHTS`]), plus at most two bootstrap outputs, one
/// keyswitch and the modulus switch, read with half-box margins of `2^58`: the 25-unit budget
/// of [`noise_budget`] applies as for the trees. A result is the sum of one bootstrap output
/// per hidden neuron and a constant, keyswitched and switched to `2^b`; it decrypts exactly
/// unless its error passes `Δ_out / 2`, which [`network_output_bits`] keeps at most as likely
/// as a bootstrap's failure (the test `network_outputs_fail_no_more_than_a_bootstrap` checks
/// the bound with tfhe-rs's noise formulas).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkEncoding {
    pub parameter_set: String,
    /// `m`: every output lies in `[-2^(m-1), 2^(m-1))`.
    pub output_bits: u32,
    /// `b`: bits per coefficient of a result ciphertext.
    pub result_modulus_log: u32,
}

impl NetworkEncoding {
    pub fn new(output_bits: u32) -> Self {
        let output_bits = output_bits.clamp(MIN_NETWORK_OUTPUT_BITS, MAX_NETWORK_OUTPUT_BITS);
        Self {
            parameter_set: PARAMETER_SET_NAME.to_owned(),
            output_bits,
            result_modulus_log: output_bits + LINEAR_SWITCH_BITS,
        }
    }

    /// `Δ_out = 2^(64 - m)`.
    pub fn output_delta(&self) -> u64 {
        1u64 << (64 - self.output_bits)
    }
}

/// Largest `Σ_j W_j²` of a hidden neuron's integer weights: `64² · Σ W_j² · V_fresh` (the low
/// read's accumulator error) stays far below one bootstrap output's variance (`V_fresh` of the
/// big key is `2^-95.6`, `V_pbs` is `2^-29.65`: `2^12 · 2^20 · 2^-95.6 = 2^-63.6`).
pub const NETWORK_MAX_SQUARED_WEIGHTS: u64 = 1 << 20;

/// `log2` of the variances the network bounds rest on, on the unit torus, for
/// [`PARAMETERS`]: one bootstrap output, one keyswitch from the big key to the small one.
/// The test `network_outputs_fail_no_more_than_a_bootstrap` recomputes them with tfhe-rs's
/// formulas.
pub const LOG2_BOOTSTRAP_VARIANCE: f64 = -29.65;
pub const LOG2_KEYSWITCH_VARIANCE: f64 = -22.03;

/// How many standard deviations an error must stay within to fail no more often than the
/// parameter set's bootstrap (`2^-129.58`: `erfc(13.19 / √2)`).
pub const NETWORK_SIGMAS: f64 = 13.2;

/// The most output bits a network of `hidden` neurons can be decrypted with: its result holds
/// `hidden` bootstrap outputs, a keyswitch and a switch to `2^(m + 11)`, whose standard
/// deviation times [`NETWORK_SIGMAS`] must stay below `Δ_out / 2 = 2^-(m + 1)`. `None` when
/// not even [`MIN_NETWORK_OUTPUT_BITS`] fit.
pub fn network_output_bits(hidden: usize) -> Option<u32> {
    (MIN_NETWORK_OUTPUT_BITS..=MAX_NETWORK_OUTPUT_BITS)
        .rev()
        .find(|&m| network_output_error(hidden, m) * NETWORK_SIGMAS < 2f64.powi(-(m as i32 + 1)))
}

/// The standard deviation (unit torus) of a network result's error: `hidden` bootstrap
/// outputs, one keyswitch, and the switch of `n + 1` coefficients to `2^b` (each rounding
/// uniform over a step, half of the key's bits set).
pub fn network_output_error(hidden: usize, output_bits: u32) -> f64 {
    let b = output_bits + LINEAR_SWITCH_BITS;
    let step = 2f64.powi(-(b as i32));
    let switch = (SMALL_LWE_DIMENSION as f64 / 2.0 + 1.0) * step * step / 12.0;
    (hidden as f64 * 2f64.powf(LOG2_BOOTSTRAP_VARIANCE) + 2f64.powf(LOG2_KEYSWITCH_VARIANCE) + switch).sqrt()
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
    const _: () = assert!(PARAMETERS.glwe_dimension.0 * PARAMETERS.polynomial_size.0 == super::BIG_LWE_DIMENSION);
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

/// tfhe-rs's noise formulas for [`PARAMETERS`], shared by the tests of the bounds.
#[cfg(all(test, any(feature = "client", feature = "server")))]
mod tests_support {
    use tfhe::core_crypto::commons::noise_formulas::lwe_keyswitch::keyswitch_additive_variance_132_bits_security_tuniform;
    use tfhe::core_crypto::commons::noise_formulas::lwe_programmable_bootstrap::pbs_variance_132_bits_security_tuniform_fft_mul;
    pub use tfhe::core_crypto::prelude::DynamicDistribution;
    use tfhe::core_crypto::prelude::LweDimension;

    use super::PARAMETERS;

    pub const MODULUS: f64 = 18446744073709551616.0; // 2^64

    /// Variance, on the unit torus, of TUniform(b): uniform on the integers of [-2^b, 2^b].
    pub fn t_uniform_variance(distribution: DynamicDistribution<u64>) -> f64 {
        let DynamicDistribution::TUniform(t) = distribution else {
            panic!("the parameter set uses TUniform noise");
        };
        let bound = 2f64.powi(t.bound_log2() as i32);
        ((2.0 * bound + 1.0).powi(2) - 1.0) / 12.0 / MODULUS.powi(2)
    }

    /// A bootstrap output's variance (`V_pbs`), by tfhe-rs's formula for this parameter set.
    pub fn bootstrap_output_variance() -> f64 {
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
    pub fn keyswitch_variance() -> f64 {
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
}

#[cfg(all(test, any(feature = "client", feature = "server")))]
mod tests {
    use tfhe::core_crypto::commons::noise_formulas::centered_mean_shifted_modulus_switch::centered_binary_shifted_modulus_switch_additive_variance;

    use super::tests_support::*;
    use super::{PARAMETERS, THERMOMETER_WEIGHTS};

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

#[cfg(all(test, any(feature = "client", feature = "server")))]
mod network_noise_tests {
    use super::tests_support::*;
    use super::*;

    /// The constants the network bounds use are tfhe-rs's figures for this parameter set, and
    /// the bound they give fails no more often than a bootstrap: the largest output precision
    /// for 30 hidden neurons is the one the margin allows, and one more bit would not be.
    #[test]
    fn network_outputs_fail_no_more_than_a_bootstrap() {
        assert!((bootstrap_output_variance().log2() - LOG2_BOOTSTRAP_VARIANCE).abs() < 0.01);
        assert!((keyswitch_variance().log2() - LOG2_KEYSWITCH_VARIANCE).abs() < 0.01);
        let DynamicDistribution::TUniform(big) = PARAMETERS.glwe_noise_distribution else {
            panic!("TUniform noise");
        };
        assert_eq!(big.bound_log2(), 17);
        // The low read's accumulator error, at the largest weights a plan may hold.
        let fresh = t_uniform_variance(PARAMETERS.glwe_noise_distribution);
        let amplified = 64.0 * 64.0 * NETWORK_MAX_SQUARED_WEIGHTS as f64 * fresh;
        assert!(amplified < bootstrap_output_variance() / 1e9, "{}", amplified.log2());
        // NETWORK_SIGMAS is (just above) the bootstrap's margin: erfc(σs / √2) = 2^-129.58.
        let p_fail = libm::erfc(NETWORK_SIGMAS / 2f64.sqrt()).log2();
        assert!(
            p_fail <= PARAMETERS.log2_p_fail && p_fail > PARAMETERS.log2_p_fail - 0.2,
            "{p_fail}"
        );
        let m = network_output_bits(30).unwrap();
        eprintln!(
            "30 hidden neurons: {m} output bits, error σ 2^{:.2}",
            network_output_error(30, m).log2()
        );
        assert_eq!(m, 6);
        let log2_p_fail = |hidden: usize, m: u32| {
            let half = 2f64.powi(-(m as i32 + 1));
            libm::erfc(half / (2f64.sqrt() * network_output_error(hidden, m))).log2()
        };
        assert!(log2_p_fail(30, m) <= PARAMETERS.log2_p_fail);
        assert!(log2_p_fail(30, m + 1) > PARAMETERS.log2_p_fail);
        assert_eq!(network_output_bits(1), Some(6));
        assert!(network_output_bits(4096).is_none() || network_output_bits(4096) < Some(6));
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
