//! The server side of a linear model: its integer weights, and their evaluation on an
//! encrypted row, with no bootstrap and no key of the user's.
//!
//! # Contract
//!
//! The row holds one fresh small-key LWE ciphertext per feature, of `x_j · Δ` where `x_j` is
//! the feature's level (see [`crate::params::LinearEncoding`]). For each output `k` the server
//! computes `Σ_j w_kj · ct_j`, adds the constant `c_k · Δ` to the body, and modulus-switches
//! the sum to `2^b` for the client: an encryption of `S_k = Σ_j w_kj · x_j + c_k`. It needs
//! none of the user's keys (a weighted sum of ciphertexts and a rounding are public
//! operations), so it learns nothing and costs a few multiply-adds per coefficient.
//!
//! The plan is private to the server: its weights are the model. [`LinearPlan::check`] refuses
//! a plan whose sums could leave the message space or whose noise could pass half a step
//! ([`crate::params::LinearEncoding::admits`]), so that every result decrypts to exactly
//! [`LinearPlan::raw_outputs`], never approximately.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tfhe::core_crypto::algorithms::modulus_switch::lwe_ciphertext_modulus_switch;
use tfhe::core_crypto::commons::math::random::DefaultRandomGenerator;
use tfhe::core_crypto::prelude::{
    CiphertextModulusLog, ContiguousEntityContainer, LweCiphertext, LweCiphertextList,
    ToCompressedModulusSwitchedLweCiphertext, par_decompress_seeded_lwe_ciphertext_list,
};

use crate::ciphertexts::{EncryptedOutput, EncryptedRow};
use crate::error::{ModelError, Result};
use crate::params::{InputEncoding, LinearEncoding};

/// Version of the [`LinearPlan`] JSON format.
pub const LINEAR_PLAN_FORMAT_VERSION: u32 = 1;

/// What the server evaluates for a linear model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearPlan {
    pub format_version: u32,
    pub encryption: InputEncoding,
    /// Per feature, its number of levels: `x_j` is in `0..levels[j]`.
    pub levels: Vec<u64>,
    /// One row of integer weights per output, one weight per feature.
    pub weights: Vec<Vec<i64>>,
    /// Per output, the constant added to the weighted sum.
    pub constants: Vec<i64>,
}

impl LinearPlan {
    /// The plan's encoding, when it is the linear one.
    pub fn encoding(&self) -> Result<&LinearEncoding> {
        match &self.encryption {
            InputEncoding::Linear(encoding) => Ok(encoding),
            other => Err(ModelError::Format(format!(
                "a linear plan with the `{}` encoding",
                other.scheme()
            ))),
        }
    }

    /// Parses and checks a plan.
    pub fn from_json(json: &str) -> Result<Self> {
        let plan: Self = serde_json::from_str(json).map_err(|e| ModelError::Format(format!("linear plan: {e}")))?;
        plan.check()?;
        Ok(plan)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a plan always serializes")
    }

    /// Refuses a plan of another version or encoding, of inconsistent shape, or one whose sums
    /// could decrypt wrongly for some row: every output's range over every row of levels must
    /// fit the message space and its weights' noise the decryption bound.
    pub fn check(&self) -> Result<()> {
        if self.format_version != LINEAR_PLAN_FORMAT_VERSION {
            return Err(ModelError::Format(format!(
                "linear plan version {} (this build reads {LINEAR_PLAN_FORMAT_VERSION})",
                self.format_version
            )));
        }
        self.encryption.check()?;
        let encoding = self.encoding()?;
        if self.weights.is_empty() || self.weights.len() != self.constants.len() {
            return Err(ModelError::Format(
                "linear plan: no outputs, or a constant per output missing".into(),
            ));
        }
        if self.levels.is_empty() || self.levels.contains(&0) {
            return Err(ModelError::Format("linear plan: a feature without levels".into()));
        }
        for (weights, &constant) in self.weights.iter().zip(&self.constants) {
            if weights.len() != self.levels.len() {
                return Err(ModelError::Format(
                    "linear plan: a row of weights of the wrong length".into(),
                ));
            }
            let (low, high) = output_range(weights, constant, &self.levels)
                .ok_or_else(|| ModelError::Format("linear plan: weights too large".into()))?;
            let norm = weights.iter().map(|w| w.unsigned_abs() as u128).sum::<u128>();
            if !encoding.admits(low, high, norm) {
                return Err(ModelError::Format(format!(
                    "linear plan: an output ranging over [{low}, {high}] with weights of total {norm} does not \
                     decrypt exactly under {} message bits",
                    encoding.message_bits
                )));
            }
        }
        Ok(())
    }

    /// What the encrypted evaluation computes, in the clear: per output,
    /// `S_k = Σ_j w_kj · x_j + c_k` for the row of levels `x`.
    pub fn raw_outputs(&self, levels: &[usize]) -> Vec<i64> {
        self.weights
            .iter()
            .zip(&self.constants)
            .map(|(weights, constant)| constant + weights.iter().zip(levels).map(|(w, &x)| w * x as i64).sum::<i64>())
            .collect()
    }

    /// Evaluates the model on an encrypted row: one compact result ciphertext per output.
    pub fn evaluate(&self, row: &EncryptedRow) -> Result<EncryptedOutput> {
        let encoding = self.encoding()?;
        if row.ciphertexts() != self.levels.len() {
            return Err(ModelError::InvalidInput(format!(
                "an encrypted row of {} ciphertexts for a model of {} features",
                row.ciphertexts(),
                self.levels.len()
            )));
        }
        let seeded = &row.bits;
        let mut inputs = LweCiphertextList::new(
            0u64,
            seeded.lwe_size(),
            seeded.lwe_ciphertext_count(),
            seeded.ciphertext_modulus(),
        );
        par_decompress_seeded_lwe_ciphertext_list::<_, _, _, DefaultRandomGenerator>(&mut inputs, seeded);
        let delta = encoding.delta();
        let log_modulus = CiphertextModulusLog(encoding.result_modulus_log as usize);
        let outputs = self
            .weights
            .par_iter()
            .zip(&self.constants)
            .map(|(weights, &constant)| {
                let mut sum = LweCiphertext::new(0u64, seeded.lwe_size(), seeded.ciphertext_modulus());
                for (input, &weight) in inputs.iter().zip(weights) {
                    let weight = weight as u64;
                    for (s, &c) in sum.as_mut().iter_mut().zip(input.as_ref()) {
                        *s = s.wrapping_add(c.wrapping_mul(weight));
                    }
                }
                let body = sum.get_mut_body();
                *body.data = body.data.wrapping_add((constant as u64).wrapping_mul(delta));
                vec![lwe_ciphertext_modulus_switch::<u64, u64, _>(sum.as_view(), log_modulus).compress::<u64>()]
            })
            .collect();
        Ok(EncryptedOutput { outputs })
    }
}

/// The smallest and largest `Σ_j w_j · x_j + constant` over every `x` with `x_j < levels[j]`;
/// `None` when it overflows 64 bits.
pub fn output_range(weights: &[i64], constant: i64, levels: &[u64]) -> Option<(i64, i64)> {
    let (mut low, mut high) = (i128::from(constant), i128::from(constant));
    for (&w, &l) in weights.iter().zip(levels) {
        let extreme = i128::from(w) * i128::from(l.checked_sub(1)?);
        if extreme < 0 {
            low += extreme;
        } else {
            high += extreme;
        }
    }
    Some((i64::try_from(low).ok()?, i64::try_from(high).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(message_bits: u32, weights: Vec<Vec<i64>>, constants: Vec<i64>) -> LinearPlan {
        LinearPlan {
            format_version: LINEAR_PLAN_FORMAT_VERSION,
            encryption: InputEncoding::Linear(LinearEncoding::new(message_bits)),
            levels: vec![16; weights[0].len()],
            weights,
            constants,
        }
    }

    #[test]
    fn a_plan_that_could_decrypt_wrongly_is_refused() {
        // 10 message bits: outputs in [-512, 512), weights summing to at most 2^6.9 or so.
        assert!(plan(10, vec![vec![3, -4]], vec![0]).check().is_ok());
        // Over the message space for some row: 15 · 20 + 300 = 600 > 511.
        let range = plan(10, vec![vec![20, 0]], vec![300]).check().unwrap_err().to_string();
        assert!(range.contains("does not decrypt exactly"), "{range}");
        // Within the range but too noisy: weights of total 200 (15 · 200 would not fit 17
        // bits either way, so at 17 bits even one unit of weight is at the limit).
        assert!(plan(17, vec![vec![1, 0]], vec![0]).check().is_ok());
        assert!(plan(17, vec![vec![1, 1]], vec![0]).check().is_err());
        // A row of the wrong length, an encoding of the trees.
        let mut short = plan(10, vec![vec![1, 1]], vec![0]);
        short.levels.pop();
        assert!(short.check().is_err());
        let mut trees = plan(10, vec![vec![1, 1]], vec![0]);
        trees.encryption = InputEncoding::thermometer();
        assert!(trees.check().is_err());
    }

    #[test]
    fn the_clear_outputs_are_the_weighted_sums() {
        let plan = plan(10, vec![vec![3, -4], vec![0, 1]], vec![5, -2]);
        assert_eq!(plan.raw_outputs(&[2, 1]), vec![3 * 2 - 4 + 5, 1 - 2]);
        assert_eq!(output_range(&[3, -4], 5, &[16, 16]), Some((5 - 60, 5 + 45)));
    }
}
