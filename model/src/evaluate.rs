//! Server side: evaluating a plan on an encrypted row.
//!
//! Where each ciphertext lives (see [`crate::params`] for the noise argument):
//! - a row's thermometer bits are fresh encryptions under the client's small key; the server
//!   multiplies each by the weight its lookup needs;
//! - a lookup keyswitches the big-key part of its index (gates: bootstrap outputs), if any,
//!   adds the small-key part, and bootstraps the sum (centered-mean modulus switch, blind
//!   rotation, sample extraction): its outputs are under the big key;
//! - the result's blocks are keyswitched to the small key and modulus-switched to `2N`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tfhe::core_crypto::prelude::{
    CiphertextModulusLog, Cleartext, CompressedModulusSwitchedLweCiphertext, ComputationBuffers,
    DefaultRandomGenerator, Fft, FourierLweBootstrapKeyOwned, GlweCiphertextOwned, LweCiphertext, LweCiphertextList,
    LweCiphertextOwned, LweKeyswitchKeyOwned, MonomialDegree, ToCompressedModulusSwitchedLweCiphertext,
    blind_rotate_assign_mem_optimized, blind_rotate_assign_mem_optimized_requirement,
    extract_lwe_sample_from_glwe_ciphertext, keyswitch_lwe_ciphertext, lwe_ciphertext_add_assign,
    lwe_ciphertext_cleartext_mul_assign, par_decompress_seeded_lwe_ciphertext_list,
};
use tfhe::shortint::PBSOrder;
use tfhe::shortint::atomic_pattern::AtomicPatternServerKey;
use tfhe::shortint::server_key::{ModulusSwitchConfiguration, ShortintBootstrappingKey};

use crate::accumulate::{BlockOps, check_add, check_bootstrap_input, check_bounded_add, fits_many_lut};
use crate::ciphertexts::{EncryptedOutput, EncryptedRow, OutputBlocks};
use crate::circuit::run_plan;
use crate::error::{ModelError, Result};
use crate::keys::ServerKey;
use crate::params::{PARAMETERS, RESULT_MODULUS_LOG};
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
    let ops = FheOps::new(key)?;
    // Regenerating the masks is a CSPRNG stream of 7 KiB per ciphertext: split it over rayon.
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
    let blocks = run_plan(&ops, plan, |slot| {
        let i = InputLayout::ciphertext(slot);
        let body = data
            .get(i * lwe_size..(i + 1) * lwe_size)
            .ok_or_else(|| ModelError::Format(format!("ciphertext {i} outside the row")))?;
        let weight = InputLayout::weight(slot);
        let mut bit = LweCiphertext::from_container(body.to_vec(), modulus);
        lwe_ciphertext_cleartext_mul_assign(&mut bit, Cleartext(weight));
        // `weight * bit`: degree `weight`; one nominal noise unit, which bounds the variance of
        // any weighted sum of fresh bits (params module docs).
        Ok(FheBlock {
            big: None,
            small: Some(bit),
            degree: weight,
            noise: 1,
        })
    })?;
    let outputs = blocks
        .iter()
        .map(|blocks| blocks.iter().map(|block| ops.compact(block)).collect())
        .collect::<Result<_>>()?;
    let stats = EvaluationStats {
        bootstraps: ops.bootstraps.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((
        EncryptedOutput {
            blocks: OutputBlocks::Compact(outputs),
        },
        stats,
    ))
}

/// A block under evaluation: its big-key part (bootstrap outputs and their sums) and its
/// small-key part (weighted fresh thermometer bits and their sums), either of which may be
/// absent, with the degree and noise level the plan's accounting tracks for it.
#[derive(Clone)]
struct FheBlock {
    big: Option<LweCiphertextOwned<u64>>,
    small: Option<LweCiphertextOwned<u64>>,
    degree: u64,
    noise: u64,
}

/// [`BlockOps`] on LWE ciphertexts, with the user's keyswitching and bootstrapping keys.
struct FheOps<'a> {
    key: &'a tfhe::shortint::ServerKey,
    keyswitch: &'a LweKeyswitchKeyOwned<u64>,
    bootstrap: &'a FourierLweBootstrapKeyOwned,
    modulus_switch: &'a ModulusSwitchConfiguration<u64>,
    bootstraps: AtomicUsize,
}

thread_local! {
    /// Scratch space of the blind rotation, kept per rayon thread.
    static BUFFERS: RefCell<ComputationBuffers> = RefCell::new(ComputationBuffers::new());
}

impl<'a> FheOps<'a> {
    fn new(key: &'a ServerKey) -> Result<Self> {
        let key = &key.inner;
        // Conformant keys of `PARAMETERS` always have this shape; say so rather than panic.
        let wrong = || ModelError::WrongParameters {
            what: "server key",
            detail: "not a classic keyswitch-then-bootstrap key".into(),
        };
        let AtomicPatternServerKey::Standard(standard) = &key.atomic_pattern else {
            return Err(wrong());
        };
        let ShortintBootstrappingKey::Classic {
            bsk,
            modulus_switch_noise_reduction_key,
        } = &standard.bootstrapping_key
        else {
            return Err(wrong());
        };
        if standard.pbs_order != PBSOrder::KeyswitchBootstrap {
            return Err(wrong());
        }
        Ok(Self {
            key,
            keyswitch: &standard.key_switching_key,
            bootstrap: bsk,
            modulus_switch: modulus_switch_noise_reduction_key,
            bootstraps: AtomicUsize::new(0),
        })
    }

    /// The block under the small key: its big-key part keyswitched (one keyswitch for the whole
    /// sum), plus its small-key part.
    fn to_small_key(&self, block: &FheBlock) -> LweCiphertextOwned<u64> {
        let mut out = LweCiphertext::new(0u64, self.keyswitch.output_lwe_size(), PARAMETERS.ciphertext_modulus);
        if let Some(big) = &block.big {
            keyswitch_lwe_ciphertext(self.keyswitch, big, &mut out);
        }
        if let Some(small) = &block.small {
            lwe_ciphertext_add_assign(&mut out, small);
        }
        out
    }

    /// Bootstraps `input` (under the small key) through `accumulator`, as shortint does after
    /// its keyswitch: the configured modulus switch, then the blind rotation.
    fn blind_rotate(
        &self,
        input: &LweCiphertextOwned<u64>,
        accumulator: &GlweCiphertextOwned<u64>,
    ) -> GlweCiphertextOwned<u64> {
        let mut rotated = accumulator.clone();
        let log_modulus = self.bootstrap.polynomial_size().to_blind_rotation_input_modulus_log();
        let switched = self.modulus_switch.lwe_ciphertext_modulus_switch(input, log_modulus);
        let fft = Fft::new(self.bootstrap.polynomial_size());
        let fft = fft.as_view();
        BUFFERS.with_borrow_mut(|buffers| {
            buffers.resize(
                blind_rotate_assign_mem_optimized_requirement::<u64>(
                    self.bootstrap.glwe_size(),
                    self.bootstrap.polynomial_size(),
                    fft,
                )
                .unaligned_bytes_required(),
            );
            blind_rotate_assign_mem_optimized(&switched, &mut rotated, self.bootstrap, fft, buffers.stack());
        });
        self.bootstraps.fetch_add(1, Ordering::Relaxed);
        rotated
    }

    /// The output at `position` of a rotated accumulator: a big-key block of nominal noise.
    fn extract(&self, rotated: &GlweCiphertextOwned<u64>, position: usize, degree: u64) -> FheBlock {
        let mut out = LweCiphertext::new(
            0u64,
            self.bootstrap.output_lwe_dimension().to_lwe_size(),
            PARAMETERS.ciphertext_modulus,
        );
        extract_lwe_sample_from_glwe_ciphertext(rotated, &mut out, MonomialDegree(position));
        FheBlock {
            big: Some(out),
            small: None,
            degree,
            noise: 1,
        }
    }

    /// A result block for the client: keyswitched to the small key and modulus-switched to
    /// `2N` with the bootstrap's own switch, so its decryption is exactly as reliable as a
    /// bootstrap of the same sum (params module docs).
    fn compact(&self, block: &FheBlock) -> Result<CompressedModulusSwitchedLweCiphertext<u64>> {
        check_bootstrap_input(block.degree, block.noise)?;
        let small = self.to_small_key(block);
        let switched = self
            .modulus_switch
            .lwe_ciphertext_modulus_switch::<u64, _>(&small, CiphertextModulusLog(RESULT_MODULUS_LOG));
        Ok(switched.compress::<u64>())
    }
}

/// Adds `b` into `a`, either part possibly absent.
fn add_part(
    a: &Option<LweCiphertextOwned<u64>>,
    b: &Option<LweCiphertextOwned<u64>>,
) -> Option<LweCiphertextOwned<u64>> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let mut sum = a.clone();
            lwe_ciphertext_add_assign(&mut sum, b);
            Some(sum)
        }
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (None, None) => None,
    }
}

impl BlockOps for FheOps<'_> {
    type Block = FheBlock;

    fn degree(&self, block: &FheBlock) -> u64 {
        block.degree
    }

    fn noise(&self, block: &FheBlock) -> u64 {
        block.noise
    }

    fn add(&self, a: &FheBlock, b: &FheBlock) -> Result<FheBlock> {
        let (degree, noise) = (a.degree + b.degree, a.noise + b.noise);
        check_add(degree, noise)?;
        Ok(FheBlock {
            big: add_part(&a.big, &b.big),
            small: add_part(&a.small, &b.small),
            degree,
            noise,
        })
    }

    fn add_bounded(&self, a: &FheBlock, b: &FheBlock, bound: u64) -> Result<FheBlock> {
        let noise = a.noise + b.noise;
        check_bounded_add(noise, bound)?;
        // The true sum is at most `bound` (the caller proves it), so it cannot reach the
        // padding bit even when the degrees add up to more.
        Ok(FheBlock {
            big: add_part(&a.big, &b.big),
            small: add_part(&a.small, &b.small),
            degree: (a.degree + b.degree).min(bound),
            noise,
        })
    }

    fn lookup(&self, input: &FheBlock, tables: &[Vec<u64>]) -> Result<Vec<FheBlock>> {
        check_bootstrap_input(input.degree, input.noise)?;
        let at = |t: &Vec<u64>, x: u64| t.get(x as usize).copied().unwrap_or(0);
        let small = self.to_small_key(input);
        if fits_many_lut(tables.len(), input.degree) {
            let functions: Vec<Box<dyn Fn(u64) -> u64>> = tables
                .iter()
                .map(|t| Box::new(move |x| at(t, x)) as Box<dyn Fn(u64) -> u64>)
                .collect();
            let refs: Vec<&dyn Fn(u64) -> u64> = functions.iter().map(|f| f.as_ref()).collect();
            let lut = self.key.generate_many_lookup_table(&refs);
            if input.degree > lut.input_max_degree.get() {
                return Err(ModelError::Budget(format!(
                    "many-LUT input of degree {} (limit {})",
                    input.degree,
                    lut.input_max_degree.get()
                )));
            }
            let rotated = self.blind_rotate(&small, &lut.acc);
            return Ok(lut
                .per_function_output_degree
                .iter()
                .enumerate()
                .map(|(i, degree)| self.extract(&rotated, i * lut.sample_extraction_stride, degree.get()))
                .collect());
        }
        Ok(tables
            .iter()
            .map(|t| {
                let lut = self.key.generate_lookup_table(|x| at(t, x));
                let rotated = self.blind_rotate(&small, &lut.acc);
                self.extract(&rotated, 0, lut.degree.get())
            })
            .collect())
    }

    fn trivial_zero(&self) -> FheBlock {
        FheBlock {
            big: None,
            small: None,
            degree: 0,
            noise: 0,
        }
    }
}
