//! The server side of a neural network of one hidden layer: its integer weights and zone
//! tables, and their evaluation on an encrypted row with `2 + outputs` bootstraps per hidden
//! neuron and none for the output layer.
//!
//! # Contract
//!
//! The row holds one fresh big-key LWE ciphertext per feature, of `x_j · Δ_S` where `x_j` is
//! the feature's level (see [`crate::params::NetworkEncoding`], which also states the circuit
//! of a neuron and its noise argument). For each hidden neuron the server forms the
//! accumulator `S = Σ_j W_j x_j + B`, reads its low bits' sign and its coarse position (two
//! bootstraps, all neurons in one batch), then its fine position (one bootstrap per output,
//! all neurons in one batch), whose table returns the neuron's contribution to that output:
//! `0` when `S < 0`, `fine[J]` when `J = ⌊S / 32⌋` is in `0..4`, `high` when `J >= 4`. An
//! output is the sum of its contributions and a constant, keyswitched to the small key and
//! switched to `2^b` for the client: an encryption of
//! [`NetworkPlan::raw_outputs`]. It learns nothing: the bootstraps, their tables and their
//! order depend on the plan only.
//!
//! The plan is private to the server: its weights and tables are the model.
//! [`NetworkPlan::check`] refuses a plan whose accumulators could leave the coarse read's
//! range, whose weights could make the low read's input too noisy, or whose outputs could
//! leave their message space, so that every result decrypts to exactly
//! [`NetworkPlan::raw_outputs`], never approximately.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tfhe::core_crypto::commons::math::random::DefaultRandomGenerator;
use tfhe::core_crypto::prelude::{
    ContiguousEntityContainer, GlweCiphertextOwned, LweCiphertext, LweCiphertextList, LweCiphertextOwned,
    lwe_ciphertext_add_assign, par_decompress_seeded_lwe_ciphertext_list,
};

use crate::ciphertexts::{EncryptedOutput, EncryptedRow};
use crate::error::{ModelError, Result};
use crate::keys::ServerKey;
use crate::params::{
    InputEncoding, NETWORK_ACCUMULATOR_SCALE_LOG, NETWORK_COARSE_POSITIONS, NETWORK_COARSE_SLOT, NETWORK_FINE_LEVELS,
    NETWORK_FINE_STEP, NETWORK_MAX_SQUARED_WEIGHTS, NetworkEncoding, network_output_bits,
};
use crate::server::evaluate::{Bootstrapper, EvaluationStats};
use crate::server::linear::output_range;

/// Version of the [`NetworkPlan`] JSON format.
pub const NETWORK_PLAN_FORMAT_VERSION: u32 = 1;

/// Most hidden neurons a plan may have.
pub const MAX_HIDDEN_NEURONS: usize = 1024;

/// One hidden neuron: its accumulator and, per output, what it adds to that output by zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neuron {
    /// One integer weight per feature.
    pub weights: Vec<i64>,
    pub bias: i64,
    /// `o`: the coarse read sees `(S + 64 o) / 64`, within `[0, 15]` for every row.
    pub offset: i64,
    /// Per output: the contributions of the fine zones `J = 0..4`.
    pub fine: Vec<[i64; NETWORK_FINE_LEVELS]>,
    /// Per output: the contribution when `J >= 4`.
    pub high: Vec<i64>,
}

impl Neuron {
    /// `S` for a row of levels.
    pub fn accumulator(&self, levels: &[usize]) -> i64 {
        self.bias + self.weights.iter().zip(levels).map(|(w, &x)| w * x as i64).sum::<i64>()
    }

    /// What the neuron adds to output `k` for accumulator `s`.
    pub fn contribution(&self, k: usize, s: i64) -> i64 {
        let j = s.div_euclid(NETWORK_FINE_STEP);
        if j < 0 {
            0
        } else if (j as usize) < NETWORK_FINE_LEVELS {
            self.fine[k][j as usize]
        } else {
            self.high[k]
        }
    }

    /// The smallest and largest contribution to output `k`.
    fn contribution_range(&self, k: usize) -> (i64, i64) {
        self.fine[k]
            .iter()
            .chain([&self.high[k], &0])
            .fold((i64::MAX, i64::MIN), |(low, high), &v| (low.min(v), high.max(v)))
    }

    /// The coarse read's shift `γ(h)` for coarse position `h` (see
    /// [`crate::params::NetworkEncoding`]), modulo 16.
    fn shift(&self, h: i64) -> u64 {
        let big_h = h - self.offset;
        let shift = if big_h < 0 {
            14 - 2 * big_h
        } else if big_h > 2 {
            6 - 2 * big_h
        } else {
            0
        };
        shift.rem_euclid(16) as u64
    }
}

/// What the server evaluates for a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkPlan {
    pub format_version: u32,
    pub encryption: InputEncoding,
    /// Per feature, its number of levels: `x_j` is in `0..levels[j]`.
    pub levels: Vec<u64>,
    pub neurons: Vec<Neuron>,
    /// Per output, the constant added to its contributions.
    pub constants: Vec<i64>,
}

impl NetworkPlan {
    /// The plan's encoding, when it is a network's.
    pub fn encoding(&self) -> Result<&NetworkEncoding> {
        match &self.encryption {
            InputEncoding::Network(encoding) => Ok(encoding),
            other => Err(ModelError::Format(format!(
                "a network plan with the `{}` encoding",
                other.scheme()
            ))),
        }
    }

    /// Parses and checks a plan.
    pub fn from_json(json: &str) -> Result<Self> {
        let plan: Self = serde_json::from_str(json).map_err(|e| ModelError::Format(format!("network plan: {e}")))?;
        plan.check()?;
        Ok(plan)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a plan always serializes")
    }

    /// Bootstraps of one evaluation: the low and coarse reads, and a fine read per output, for
    /// every hidden neuron.
    pub fn bootstraps(&self) -> usize {
        self.neurons.len() * (2 + self.constants.len())
    }

    /// Refuses a plan of another version or encoding, of inconsistent shape, or one that could
    /// decrypt wrongly for some row (see the module docs).
    pub fn check(&self) -> Result<()> {
        let refuse = |why: String| Err(ModelError::Format(format!("network plan: {why}")));
        if self.format_version != NETWORK_PLAN_FORMAT_VERSION {
            return refuse(format!(
                "version {} (this build reads {NETWORK_PLAN_FORMAT_VERSION})",
                self.format_version
            ));
        }
        self.encryption.check()?;
        let encoding = self.encoding()?;
        let outputs = self.constants.len();
        if outputs == 0 || self.neurons.is_empty() || self.neurons.len() > MAX_HIDDEN_NEURONS {
            return refuse(format!(
                "{} hidden neurons and {outputs} outputs (1 to {MAX_HIDDEN_NEURONS} neurons, at least one output)",
                self.neurons.len()
            ));
        }
        if self.levels.is_empty() || self.levels.contains(&0) {
            return refuse("a feature without levels".into());
        }
        if network_output_bits(self.neurons.len()).is_none_or(|bits| encoding.output_bits > bits) {
            return refuse(format!(
                "{} output bits for {} hidden neurons, more than their sum's noise allows",
                encoding.output_bits,
                self.neurons.len()
            ));
        }
        let (mut low, mut high) = (self.constants.clone(), self.constants.clone());
        for (i, neuron) in self.neurons.iter().enumerate() {
            if neuron.weights.len() != self.levels.len() || neuron.fine.len() != outputs || neuron.high.len() != outputs
            {
                return refuse(format!("neuron {i} has the wrong shape"));
            }
            let squares = neuron
                .weights
                .iter()
                .try_fold(0u64, |sum, w| sum.checked_add(w.unsigned_abs().checked_pow(2)?));
            if squares.is_none_or(|s| s > NETWORK_MAX_SQUARED_WEIGHTS) {
                return refuse(format!("neuron {i}'s weights are too large"));
            }
            let Some((s_low, s_high)) = output_range(&neuron.weights, neuron.bias, &self.levels) else {
                return refuse(format!("neuron {i}'s weights are too large"));
            };
            let reach = NETWORK_COARSE_SLOT * NETWORK_COARSE_POSITIONS;
            let shifted = (
                s_low.checked_add(neuron.offset.checked_mul(NETWORK_COARSE_SLOT).unwrap_or(i64::MIN)),
                s_high.checked_add(neuron.offset.saturating_mul(NETWORK_COARSE_SLOT)),
            );
            if !matches!(shifted, (Some(a), Some(b)) if a >= 0 && b <= reach) {
                return refuse(format!(
                    "neuron {i}'s accumulator ranges over [{s_low}, {s_high}], beyond the coarse read's {reach} with \
                     offset {}",
                    neuron.offset
                ));
            }
            for k in 0..outputs {
                let (a, b) = neuron.contribution_range(k);
                low[k] = low[k].saturating_add(a);
                high[k] = high[k].saturating_add(b);
            }
        }
        let half = 1i64 << (encoding.output_bits - 1);
        if low.iter().zip(&high).any(|(&a, &b)| a < -half || b >= half) {
            return refuse(format!(
                "an output ranging beyond [-{half}, {half}) (its {} bits)",
                encoding.output_bits
            ));
        }
        Ok(())
    }

    /// What the encrypted evaluation computes, in the clear, for a row of levels.
    pub fn raw_outputs(&self, levels: &[usize]) -> Vec<i64> {
        let accumulators: Vec<i64> = self.neurons.iter().map(|n| n.accumulator(levels)).collect();
        self.constants
            .iter()
            .enumerate()
            .map(|(k, constant)| {
                constant
                    + self
                        .neurons
                        .iter()
                        .zip(&accumulators)
                        .map(|(neuron, &s)| neuron.contribution(k, s))
                        .sum::<i64>()
            })
            .collect()
    }

    /// Evaluates the network on an encrypted row under the user's `key`, stopped at
    /// `deadline` between its two rounds of bootstraps.
    pub fn evaluate_until(
        &self,
        key: &ServerKey,
        row: &EncryptedRow,
        deadline: Option<std::time::Instant>,
    ) -> Result<(EncryptedOutput, EvaluationStats)> {
        let start = std::time::Instant::now();
        let encoding = self.encoding()?;
        if row.ciphertexts() != self.levels.len() || row.lwe_dimension() != self.encryption.row_lwe_dimension() {
            return Err(ModelError::InvalidInput(format!(
                "an encrypted row of {} ciphertexts for a network of {} features",
                row.ciphertexts(),
                self.levels.len()
            )));
        }
        let bootstrapper = Bootstrapper::new(key, deadline)?;
        let seeded = &row.bits;
        let mut inputs = LweCiphertextList::new(
            0u64,
            seeded.lwe_size(),
            seeded.lwe_ciphertext_count(),
            seeded.ciphertext_modulus(),
        );
        par_decompress_seeded_lwe_ciphertext_list::<_, _, _, DefaultRandomGenerator>(&mut inputs, seeded);
        let scale = 1u64 << NETWORK_ACCUMULATOR_SCALE_LOG;
        let accumulators: Vec<LweCiphertextOwned<u64>> = self
            .neurons
            .par_iter()
            .map(|neuron| {
                let mut sum = LweCiphertext::new(0u64, seeded.lwe_size(), seeded.ciphertext_modulus());
                for (input, &weight) in inputs.iter().zip(&neuron.weights) {
                    let weight = weight as u64;
                    for (s, &c) in sum.as_mut().iter_mut().zip(input.as_ref()) {
                        *s = s.wrapping_add(c.wrapping_mul(weight));
                    }
                }
                add_constant(&mut sum, (neuron.bias as u64).wrapping_mul(scale));
                sum
            })
            .collect();

        // Round 1: per neuron, the sign of `L = S mod 32` (`64 · ct_S`, 32 boxes) and the
        // coarse position (`ct_S + 64 o · Δ_S`, boxes of 2^59, within the first 16).
        let low_table = bootstrapper.table(32, |_| 1u64 << 58);
        let coarse_tables: Vec<GlweCiphertextOwned<u64>> = self
            .neurons
            .iter()
            .map(|neuron| bootstrapper.table(32, |h| neuron.shift(h as i64) << 60))
            .collect();
        let mut round = Vec::with_capacity(2 * self.neurons.len());
        for ((neuron, sum), coarse) in self.neurons.iter().zip(&accumulators).zip(&coarse_tables) {
            round.push((scaled(sum, 64), &low_table));
            let mut shifted = sum.clone();
            add_constant(
                &mut shifted,
                (neuron.offset.wrapping_mul(NETWORK_COARSE_SLOT) as u64).wrapping_mul(scale),
            );
            round.push((shifted, coarse));
        }
        let read = bootstrapper.bootstrap_all(&round)?;

        // Round 2: per neuron and output, the fine read `4 · ct_S + low + coarse - 2^59`, whose
        // table returns the contribution (module docs of `NetworkEncoding`): `G + c` in the
        // first half, `c - G` in the second, with `c` half the high zone's value.
        let delta = encoding.output_delta();
        let outputs = self.constants.len();
        let mut fine_inputs = Vec::with_capacity(self.neurons.len());
        let mut fine_tables = Vec::with_capacity(self.neurons.len() * outputs);
        let mut halves = Vec::with_capacity(self.neurons.len() * outputs);
        for (i, (neuron, sum)) in self.neurons.iter().zip(&accumulators).enumerate() {
            let mut fine = scaled(sum, 4);
            lwe_ciphertext_add_assign(&mut fine, &read[2 * i]);
            lwe_ciphertext_add_assign(&mut fine, &read[2 * i + 1]);
            add_constant(&mut fine, (1u64 << 59).wrapping_neg());
            fine_inputs.push(fine);
            for k in 0..outputs {
                let half = (neuron.high[k] as u64).wrapping_mul(delta / 2);
                let values = neuron.fine[k];
                fine_tables.push(bootstrapper.table(16, move |z| {
                    if z < NETWORK_FINE_LEVELS {
                        (values[z] as u64).wrapping_mul(delta).wrapping_sub(half)
                    } else {
                        half
                    }
                }));
                halves.push(half);
            }
        }
        let mut round = Vec::with_capacity(fine_tables.len());
        for (i, table) in fine_tables.iter().enumerate() {
            round.push((fine_inputs[i / outputs].clone(), table));
        }
        let contributions = bootstrapper.bootstrap_all(&round)?;

        let log_modulus = encoding.result_modulus_log as usize;
        let outputs = (0..outputs)
            .map(|k| {
                let mut sum =
                    LweCiphertext::new(0u64, contributions[0].lwe_size(), contributions[0].ciphertext_modulus());
                let mut constant = (self.constants[k] as u64).wrapping_mul(delta);
                for i in 0..self.neurons.len() {
                    lwe_ciphertext_add_assign(&mut sum, &contributions[i * self.constants.len() + k]);
                    constant = constant.wrapping_add(halves[i * self.constants.len() + k]);
                }
                add_constant(&mut sum, constant);
                vec![bootstrapper.compact(&sum, log_modulus)]
            })
            .collect();
        let stats = EvaluationStats {
            bootstraps: bootstrapper.bootstraps(),
            seconds: start.elapsed().as_secs_f64(),
        };
        Ok((EncryptedOutput { outputs }, stats))
    }
}

/// `factor · ct`, coefficient by coefficient modulo `2^64`.
fn scaled(ct: &LweCiphertextOwned<u64>, factor: u64) -> LweCiphertextOwned<u64> {
    let mut out = ct.clone();
    for c in out.as_mut() {
        *c = c.wrapping_mul(factor);
    }
    out
}

/// Adds a constant to the body (a trivial plaintext).
fn add_constant(ct: &mut LweCiphertextOwned<u64>, constant: u64) {
    let body = ct.get_mut_body();
    *body.data = body.data.wrapping_add(constant);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neuron(weights: Vec<i64>, bias: i64, offset: i64) -> Neuron {
        Neuron {
            weights,
            bias,
            offset,
            fine: vec![[1, 2, 3, 4]],
            high: vec![6],
        }
    }

    fn plan(neurons: Vec<Neuron>, constant: i64) -> NetworkPlan {
        NetworkPlan {
            format_version: NETWORK_PLAN_FORMAT_VERSION,
            encryption: InputEncoding::Network(NetworkEncoding::new(6)),
            levels: vec![16; neurons[0].weights.len()],
            neurons,
            constants: vec![constant],
        }
    }

    #[test]
    fn contributions_follow_the_zones() {
        let n = neuron(vec![1], 0, 0);
        let zones: Vec<i64> = [-1, 0, 31, 32, 100, 127, 128, 900]
            .iter()
            .map(|&s| n.contribution(0, s))
            .collect();
        assert_eq!(zones, vec![0, 1, 1, 2, 4, 4, 6, 6]);
    }

    /// Whichever of its two possible coarse positions a row's accumulator gets, the fine box
    /// it lands in has the zone of its `J`.
    #[test]
    fn every_coarse_reading_lands_in_the_right_zone() {
        for offset in 0..8 {
            let n = neuron(vec![1], 0, offset);
            for s in (-64 * offset)..=(960 - 64 * offset) {
                let p = (s + 64 * offset) as f64 / 64.0;
                for h in [p.floor() as i64, p.ceil() as i64] {
                    let j = s.div_euclid(32);
                    let fine_box = (j + n.shift(h) as i64).rem_euclid(16);
                    // Boxes 8..12 are never reached; the others return their zone's value.
                    let value = match fine_box {
                        0..4 => Some(n.fine[0][fine_box as usize]),
                        4..8 => Some(n.high[0]),
                        12..16 => Some(0),
                        _ => None,
                    };
                    assert_eq!(value, Some(n.contribution(0, s)), "s = {s}, h = {h}, offset {offset}");
                }
            }
        }
    }

    #[test]
    fn a_plan_that_could_decrypt_wrongly_is_refused() {
        // S over [0, 15 · 16] = [0, 240]: within reach.
        assert!(plan(vec![neuron(vec![16], 0, 0)], 0).check().is_ok());
        // [-240, 0] needs an offset of 4 slots.
        assert!(plan(vec![neuron(vec![-16], 0, 0)], 0).check().is_err());
        assert!(plan(vec![neuron(vec![-16], 0, 4)], 0).check().is_ok());
        // Beyond the coarse read's 960 with any offset: 15 · 70 = 1050.
        assert!(plan(vec![neuron(vec![70], 0, 0)], 0).check().is_err());
        // An output beyond 6 bits: 6 + 30 > 31.
        assert!(plan(vec![neuron(vec![16], 0, 0)], 30).check().is_err());
        assert!(plan(vec![neuron(vec![16], 0, 0)], 25).check().is_ok());
        // A trees' encoding.
        let mut trees = plan(vec![neuron(vec![16], 0, 0)], 0);
        trees.encryption = InputEncoding::thermometer();
        assert!(trees.check().is_err());
    }
}
