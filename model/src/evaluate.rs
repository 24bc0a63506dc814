//! Server side: evaluating a plan on an encrypted row.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tfhe::core_crypto::prelude::{
    DefaultRandomGenerator, LweCiphertext, LweCiphertextList, par_decompress_seeded_lwe_ciphertext_list,
};
use tfhe::shortint::atomic_pattern::AtomicPatternKind;
use tfhe::shortint::ciphertext::{Degree, NoiseLevel};
use tfhe::shortint::{Ciphertext, PBSOrder};

use crate::accumulate::{BlockOps, check_bootstrap_input, fits_many_lut, max_noise_level};
use crate::ciphertexts::{EncryptedOutput, EncryptedRow};
use crate::circuit::run_plan;
use crate::error::{ModelError, Result};
use crate::keys::ServerKey;
use crate::params::PARAMETERS;
use crate::plan::{InputLayout, ServerPlan};

/// What one evaluation cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvaluationStats {
    pub bootstraps: usize,
    pub seconds: f64,
}

/// Evaluates `plan` on `row` with the user's `key`.
///
/// Key: the server key of the user who encrypted `row`. Reveals: nothing to the server (all
/// work is on ciphertexts; the bootstraps and their order depend only on the plan). Uses
/// rayon's thread pool for independent bootstraps. Errors: a row of the wrong shape; a
/// [`ModelError::Budget`] would mean a bug in the plan and is never silenced.
pub fn evaluate(plan: &ServerPlan, key: &ServerKey, row: &EncryptedRow) -> Result<(EncryptedOutput, EvaluationStats)> {
    let start = Instant::now();
    if row.ciphertexts() != plan.input.ciphertexts() {
        return Err(ModelError::WrongParameters {
            what: "encrypted row",
            detail: format!(
                "{} ciphertexts, the model needs {}",
                row.ciphertexts(),
                plan.input.ciphertexts()
            ),
        });
    }
    // Regenerating the masks is a CSPRNG stream of 16 KiB per ciphertext: split it over rayon.
    let bits = &row.bits;
    let mut list = LweCiphertextList::new(
        0u64,
        bits.lwe_size(),
        bits.lwe_ciphertext_count(),
        bits.ciphertext_modulus(),
    );
    par_decompress_seeded_lwe_ciphertext_list::<_, _, _, DefaultRandomGenerator>(&mut list, bits);
    let modulus = list.ciphertext_modulus();
    let lwe_size = list.lwe_size().0;
    let data: &[u64] = list.as_ref();
    let ops = FheOps {
        key: &key.inner,
        bootstraps: AtomicUsize::new(0),
    };
    let blocks = run_plan(&ops, plan, |i| {
        let body = data
            .get(i * lwe_size..(i + 1) * lwe_size)
            .ok_or_else(|| ModelError::Format(format!("ciphertext {i} outside the row")))?;
        let weight = InputLayout::weight(i);
        // A fresh encryption of `weight * bit`: degree `weight`, nominal noise (fresh GLWE-noise
        // encryptions are below the bootstrap output noise that NOMINAL stands for).
        Ok(Ciphertext::new(
            LweCiphertext::from_container(body.to_vec(), modulus),
            Degree::new(weight),
            NoiseLevel::NOMINAL,
            PARAMETERS.message_modulus,
            PARAMETERS.carry_modulus,
            AtomicPatternKind::Standard(PBSOrder::KeyswitchBootstrap),
        ))
    })?;
    let stats = EvaluationStats {
        bootstraps: ops.bootstraps.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((EncryptedOutput { outputs: blocks }, stats))
}

/// [`BlockOps`] on shortint ciphertexts.
struct FheOps<'a> {
    key: &'a tfhe::shortint::ServerKey,
    bootstraps: AtomicUsize,
}

impl BlockOps for FheOps<'_> {
    type Block = Ciphertext;

    fn degree(&self, block: &Ciphertext) -> u64 {
        block.degree.get()
    }

    fn noise(&self, block: &Ciphertext) -> u64 {
        block.noise_level().get()
    }

    fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.key
            .checked_add(a, b)
            .map_err(|e| ModelError::Budget(format!("{e:?}")))
    }

    fn add_bounded(&self, a: &Ciphertext, b: &Ciphertext, bound: u64) -> Result<Ciphertext> {
        let noise = self.noise(a) + self.noise(b);
        if noise > max_noise_level() || bound > self.key.max_degree.get() {
            return Err(ModelError::Budget(format!("bounded add to noise level {noise}")));
        }
        // The true sum is at most `bound` (the caller proves it), so it cannot reach the
        // padding bit even when the degrees add up to more.
        let mut sum = self.key.unchecked_add(a, b);
        sum.degree = Degree::new((self.degree(a) + self.degree(b)).min(bound));
        Ok(sum)
    }

    fn lookup(&self, input: &Ciphertext, tables: &[Vec<u64>]) -> Result<Vec<Ciphertext>> {
        check_bootstrap_input(self.degree(input), self.noise(input))?;
        let at = |t: &Vec<u64>, x: u64| t.get(x as usize).copied().unwrap_or(0);
        if fits_many_lut(tables.len(), self.degree(input)) {
            let functions: Vec<Box<dyn Fn(u64) -> u64>> = tables
                .iter()
                .map(|t| Box::new(move |x| at(t, x)) as Box<dyn Fn(u64) -> u64>)
                .collect();
            let refs: Vec<&dyn Fn(u64) -> u64> = functions.iter().map(|f| f.as_ref()).collect();
            let lut = self.key.generate_many_lookup_table(&refs);
            self.bootstraps.fetch_add(1, Ordering::Relaxed);
            return Ok(self.key.apply_many_lookup_table(input, &lut));
        }
        Ok(tables
            .iter()
            .map(|t| {
                let lut = self.key.generate_lookup_table(|x| at(t, x));
                self.bootstraps.fetch_add(1, Ordering::Relaxed);
                self.key.apply_lookup_table(input, &lut)
            })
            .collect())
    }

    fn trivial_zero(&self) -> Ciphertext {
        self.key.create_trivial(0)
    }
}
