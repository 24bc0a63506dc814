//! Server side: evaluating a plan on an encrypted row.
//!
//! Where each ciphertext lives (see [`crate::params`] for the noise argument):
//! - a row's thermometer bits are fresh encryptions under the client's small key; the server
//!   multiplies each by the weight its lookup needs;
//! - a lookup keyswitches the big-key part of its index (gates: bootstrap outputs), if any,
//!   adds the small-key part, and bootstraps the sum (centered-mean modulus switch, blind
//!   rotation, sample extraction): its outputs are under the big key;
//! - the result's blocks are keyswitched to the small key and modulus-switched to `2N`.
//!
//! Reveals nothing to the server: every operation is on ciphertexts, and which operations run,
//! in which order, and which of the row's ciphertexts are read depend on the plan alone.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use tfhe::core_crypto::algorithms::modulus_switch::ModulusSwitchedLweCiphertext;
use tfhe::core_crypto::commons::generators::MaskRandomGenerator;
use tfhe::core_crypto::commons::math::random::Uniform;
use tfhe::core_crypto::fft_impl::fft64::crypto::bootstrap::batch_blind_rotate_assign_scratch;
use tfhe::core_crypto::prelude::{
    CiphertextCount, CiphertextModulusLog, Cleartext, CompressedModulusSwitchedLweCiphertext, ComputationBuffers,
    ContiguousEntityContainer, ContiguousEntityContainerMut, DefaultRandomGenerator, EncryptionMaskByteCount, Fft,
    FourierLweBootstrapKeyOwned, GlweCiphertext, GlweCiphertextCount, GlweCiphertextList, GlweCiphertextOwned,
    LweCiphertext, LweCiphertextOwned, LweDimension, LweKeyswitchKeyOwned, MonomialDegree, SeededLweCiphertext,
    SeededLweCiphertextList, ToCompressedModulusSwitchedLweCiphertext, decompress_seeded_lwe_ciphertext,
    extract_lwe_sample_from_glwe_ciphertext, keyswitch_lwe_ciphertext, lwe_ciphertext_add_assign,
    lwe_ciphertext_cleartext_mul_assign,
};
use tfhe::shortint::PBSOrder;
use tfhe::shortint::atomic_pattern::AtomicPatternServerKey;
use tfhe::shortint::server_key::{ModulusSwitchConfiguration, ShortintBootstrappingKey};

use crate::ciphertexts::{EncryptedOutput, EncryptedRow};
use crate::error::{ModelError, Result};
use crate::keys::ServerKey;
use crate::params::{PARAMETERS, RESULT_MODULUS_LOG};
use crate::server::accumulate::{
    BlockOps, LookupRequest, check_add, check_bootstrap_input, check_bounded_add, fits_many_lut,
};
use crate::server::circuit::run_plan;
use crate::server::plan::{InputLayout, ServerPlan};

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
    evaluate_until(plan, key, row, None)
}

/// [`evaluate`], stopped with [`ModelError::Interrupted`] at the first round of bootstraps that
/// would start after `deadline`: a server bounds each job's time by it, so that a plan slower
/// than expected on a loaded machine cannot hold a worker's cores without end. A round is one
/// depth of the plan's lookups (or one accumulation round), a small share of the whole.
pub fn evaluate_until(
    plan: &ServerPlan,
    key: &ServerKey,
    row: &EncryptedRow,
    deadline: Option<Instant>,
) -> Result<(EncryptedOutput, EvaluationStats)> {
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
    let mut ops = FheOps::new(key)?;
    ops.deadline = deadline;
    let inputs = decompress_read(&row.bits, &plan.read_ciphertexts());
    let blocks = run_plan(&ops, plan, |slot| {
        let i = InputLayout::ciphertext(slot);
        let bit = inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| ModelError::Format(format!("ciphertext {i} is not read by the plan")))?;
        let weight = InputLayout::weight(slot);
        let mut bit = bit.clone();
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
    Ok((EncryptedOutput { outputs }, stats))
}

/// Decompresses the ciphertexts of `bits` at the indices in `read` (ascending, in range), and
/// only those: `None` elsewhere.
///
/// A row is a seeded list: each mask is the next slice of the compression seed's stream. A plan
/// reads a few of a row's ciphertexts (128 of the default model's 1884), so instead of
/// regenerating every mask (~14 MB of AES output) the stream is advanced past the others, which
/// costs nothing, and the read masks are generated in parallel. What is read depends only on the
/// plan.
fn decompress_read(bits: &SeededLweCiphertextList<Vec<u64>>, read: &[usize]) -> Vec<Option<LweCiphertextOwned<u64>>> {
    let per_ciphertext = bits.decompression_fork_config(Uniform).mask_byte_count_per_child();
    let mut stream = MaskRandomGenerator::<DefaultRandomGenerator>::new(bits.compression_seed());
    let mut position = 0;
    let mut seeded = Vec::with_capacity(read.len());
    for &i in read {
        if i >= bits.lwe_ciphertext_count().0 {
            break;
        }
        if i > position {
            stream.skip(EncryptionMaskByteCount(per_ciphertext.0 * (i - position)));
            position = i;
        }
        let body = *bits.get(i).data;
        seeded.push((
            i,
            SeededLweCiphertext::new(
                body,
                bits.lwe_size(),
                stream.current_compression_seed(),
                bits.ciphertext_modulus(),
            ),
        ));
    }
    let decompressed: Vec<(usize, LweCiphertextOwned<u64>)> = seeded
        .into_par_iter()
        .map(|(i, seeded)| {
            let mut out = LweCiphertext::new(0u64, bits.lwe_size(), bits.ciphertext_modulus());
            decompress_seeded_lwe_ciphertext::<_, _, DefaultRandomGenerator>(&mut out, &seeded);
            (i, out)
        })
        .collect();
    let mut inputs = vec![None; bits.lwe_ciphertext_count().0];
    for (i, ciphertext) in decompressed {
        inputs[i] = Some(ciphertext);
    }
    inputs
}

/// A block under evaluation: its big-key part (bootstrap outputs and their sums) and its
/// small-key part (weighted fresh thermometer bits and their sums), either of which may be
/// absent, with the degree and noise (variance units, [`crate::params::noise_budget`]) the
/// plan's accounting tracks for it.
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
    /// No round of bootstraps starts after it.
    deadline: Option<Instant>,
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
            deadline: None,
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

    /// A lookup's input under the small key, modulus-switched as shortint does after its
    /// keyswitch (the configured centered-mean switch), and its accumulators: one many-LUT for
    /// all tables when they fit the input's degree, else one per table, each with the
    /// (position, degree) of the outputs to extract after the rotation.
    fn prepare(&self, input: &FheBlock, tables: &[Vec<u64>]) -> Result<PreparedLookup> {
        check_bootstrap_input(input.degree, input.noise)?;
        let small = self.to_small_key(input);
        let log_modulus = self.bootstrap.polynomial_size().to_blind_rotation_input_modulus_log();
        let switched = self
            .modulus_switch
            .lwe_ciphertext_modulus_switch::<usize, _>(&small, log_modulus);
        let input_switched = SwitchedLwe {
            body: switched.body(),
            mask: switched.mask().collect(),
            log_modulus,
        };
        let at = |t: &Vec<u64>, x: u64| t.get(x as usize).copied().unwrap_or(0);
        let accumulators = if fits_many_lut(tables.len(), input.degree) {
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
            let outputs = lut
                .per_function_output_degree
                .iter()
                .enumerate()
                .map(|(i, degree)| (i * lut.sample_extraction_stride, degree.get()))
                .collect();
            vec![(lut.acc, outputs)]
        } else {
            tables
                .iter()
                .map(|t| {
                    let lut = self.key.generate_lookup_table(|x| at(t, x));
                    (lut.acc, vec![(0, lut.degree.get())])
                })
                .collect()
        };
        Ok(PreparedLookup {
            input: input_switched,
            accumulators,
        })
    }

    /// Blind-rotates each accumulator by its input, all in one batch: tfhe-rs's batched
    /// rotation applies each GGSW of the bootstrapping key to every accumulator before moving
    /// to the next, so the key (59 MB in the Fourier domain) is read once per batch instead of
    /// once per bootstrap. Each rotation is exactly the one a single bootstrap performs.
    fn blind_rotate_batch(&self, batch: &[(&SwitchedLwe, &GlweCiphertextOwned<u64>)]) -> Vec<GlweCiphertextOwned<u64>> {
        let glwe_size = self.bootstrap.glwe_size();
        let polynomial_size = self.bootstrap.polynomial_size();
        let mut list = GlweCiphertextList::new(
            0u64,
            glwe_size,
            polynomial_size,
            GlweCiphertextCount(batch.len()),
            PARAMETERS.ciphertext_modulus,
        );
        for (mut glwe, (_, accumulator)) in list.iter_mut().zip(batch) {
            glwe.as_mut().copy_from_slice(accumulator.as_ref());
        }
        let inputs: Vec<&SwitchedLwe> = batch.iter().map(|(input, _)| *input).collect();
        let fft = Fft::new(polynomial_size);
        let fft = fft.as_view();
        BUFFERS.with_borrow_mut(|buffers| {
            buffers.resize(
                batch_blind_rotate_assign_scratch::<u64>(glwe_size, polynomial_size, CiphertextCount(batch.len()), fft)
                    .unaligned_bytes_required(),
            );
            self.bootstrap
                .as_view()
                .batch_blind_rotate_assign(list.as_mut_view(), &inputs, fft, buffers.stack());
        });
        self.bootstraps.fetch_add(batch.len(), Ordering::Relaxed);
        list.iter()
            .map(|glwe| {
                GlweCiphertext::from_container(glwe.as_ref().to_vec(), polynomial_size, PARAMETERS.ciphertext_modulus)
            })
            .collect()
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

/// Bootstraps for circuits other than the trees' (a network's hidden neurons): the user's
/// keys, with the same keyswitch, modulus switch, batched blind rotation and extraction as a
/// tree lookup, on big-key inputs and full-torus tables ([`Bootstrapper::table`]).
pub(crate) struct Bootstrapper<'a> {
    ops: FheOps<'a>,
}

impl<'a> Bootstrapper<'a> {
    pub(crate) fn new(key: &'a ServerKey, deadline: Option<Instant>) -> Result<Self> {
        let mut ops = FheOps::new(key)?;
        ops.deadline = deadline;
        Ok(Self { ops })
    }

    /// Bootstraps done so far.
    pub(crate) fn bootstraps(&self) -> usize {
        self.ops.bootstraps.load(Ordering::Relaxed)
    }

    /// The table of a bootstrap whose input's phase lies on `boxes` boxes of the torus
    /// (`2^64 / boxes` each, box `k` centred on `k · 2^64 / boxes`): it returns `value(k)` for
    /// box `k < boxes / 2`, and, the blind rotation being negacyclic, `-value(k - boxes / 2)`
    /// for the others. Built as shortint builds its tables: each box's `2N / boxes`
    /// coefficients hold its value, rotated by half a box, the wrapped half negated.
    pub(crate) fn table(&self, boxes: usize, value: impl Fn(usize) -> u64) -> GlweCiphertextOwned<u64> {
        let polynomial_size = self.ops.bootstrap.polynomial_size();
        let glwe_size = self.ops.bootstrap.glwe_size();
        let n = polynomial_size.0;
        let width = 2 * n / boxes;
        let mut accumulator = GlweCiphertext::new(0u64, glwe_size, polynomial_size, PARAMETERS.ciphertext_modulus);
        let mut body = accumulator.get_mut_body();
        for (position, coefficient) in body.as_mut().iter_mut().enumerate() {
            // Position `μ` of the rotation reads box `round(μ / width)`; the last half box of
            // the first half of the torus is box `boxes / 2`, which returns `-value(0)`.
            let k = (position + width / 2) / width;
            *coefficient = if k < boxes / 2 {
                value(k)
            } else {
                value(0).wrapping_neg()
            };
        }
        accumulator
    }

    /// Bootstraps each big-key input with its table: keyswitch, centred modulus switch to
    /// `2N`, blind rotation (batched, as for the trees' lookups) and extraction; the outputs
    /// are big-key ciphertexts. Stops with [`ModelError::Interrupted`] past the deadline.
    pub(crate) fn bootstrap_all(
        &self,
        inputs: &[(LweCiphertextOwned<u64>, &GlweCiphertextOwned<u64>)],
    ) -> Result<Vec<LweCiphertextOwned<u64>>> {
        if self.ops.deadline.is_some_and(|deadline| Instant::now() > deadline) {
            return Err(ModelError::Interrupted(format!(
                "the evaluation ran past its time limit after {} bootstraps",
                self.bootstraps()
            )));
        }
        let log_modulus = self
            .ops
            .bootstrap
            .polynomial_size()
            .to_blind_rotation_input_modulus_log();
        let switched: Vec<SwitchedLwe> = inputs
            .par_iter()
            .map(|(input, _)| {
                let mut small = LweCiphertext::new(
                    0u64,
                    self.ops.keyswitch.output_lwe_size(),
                    PARAMETERS.ciphertext_modulus,
                );
                keyswitch_lwe_ciphertext(self.ops.keyswitch, input, &mut small);
                let switched = self
                    .ops
                    .modulus_switch
                    .lwe_ciphertext_modulus_switch::<usize, _>(&small, log_modulus);
                SwitchedLwe {
                    body: switched.body(),
                    mask: switched.mask().collect(),
                    log_modulus,
                }
            })
            .collect();
        let rotations: Vec<(&SwitchedLwe, &GlweCiphertextOwned<u64>)> =
            switched.iter().zip(inputs).map(|(s, (_, table))| (s, *table)).collect();
        let share = rotations.len().div_ceil(rayon::current_num_threads().max(1)).max(1);
        let rotated: Vec<GlweCiphertextOwned<u64>> = rotations
            .par_chunks(share)
            .flat_map_iter(|chunk| self.ops.blind_rotate_batch(chunk))
            .collect();
        Ok(rotated
            .iter()
            .map(|glwe| {
                self.ops
                    .extract(glwe, 0, 0)
                    .big
                    .expect("an extraction is under the big key")
            })
            .collect())
    }

    /// A big-key result for the client: keyswitched to the small key and modulus-switched to
    /// `2^log_modulus`.
    pub(crate) fn compact(
        &self,
        big: &LweCiphertextOwned<u64>,
        log_modulus: usize,
    ) -> CompressedModulusSwitchedLweCiphertext<u64> {
        let mut small = LweCiphertext::new(
            0u64,
            self.ops.keyswitch.output_lwe_size(),
            PARAMETERS.ciphertext_modulus,
        );
        keyswitch_lwe_ciphertext(self.ops.keyswitch, big, &mut small);
        tfhe::core_crypto::algorithms::modulus_switch::lwe_ciphertext_modulus_switch::<u64, u64, _>(
            small.as_view(),
            CiphertextModulusLog(log_modulus),
        )
        .compress::<u64>()
    }
}

/// An LWE ciphertext switched to the blind rotation's modulus `2N`, its coefficients stored
/// (tfhe-rs's switched ciphertext computes them lazily, and a batched rotation reads its mask
/// by index, which would recompute the prefix every time).
struct SwitchedLwe {
    body: usize,
    mask: Vec<usize>,
    log_modulus: CiphertextModulusLog,
}

impl ModulusSwitchedLweCiphertext<usize> for &SwitchedLwe {
    fn log_modulus(&self) -> CiphertextModulusLog {
        self.log_modulus
    }

    fn lwe_dimension(&self) -> LweDimension {
        LweDimension(self.mask.len())
    }

    fn body(&self) -> usize {
        self.body
    }

    fn mask(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.mask.iter().copied()
    }
}

/// A lookup ready for its blind rotations ([`FheOps::prepare`]).
struct PreparedLookup {
    input: SwitchedLwe,
    accumulators: Vec<(GlweCiphertextOwned<u64>, Vec<Extraction>)>,
}

/// Where an output sits in a rotated accumulator, and its degree.
type Extraction = (usize, u64);

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

    fn lookup_all(&self, requests: &[LookupRequest<'_, FheBlock>]) -> Result<Vec<Vec<FheBlock>>> {
        if self.deadline.is_some_and(|deadline| Instant::now() > deadline) {
            return Err(ModelError::Interrupted(format!(
                "the evaluation ran past its time limit after {} bootstraps",
                self.bootstraps.load(Ordering::Relaxed)
            )));
        }
        // Keyswitch and modulus-switch every input, and build its accumulators, in parallel.
        let prepared: Vec<PreparedLookup> = requests
            .par_iter()
            .map(|request| self.prepare(&request.input, request.tables))
            .collect::<Result<_>>()?;
        // Blind-rotate them all: each thread takes a contiguous share and runs it as one batch,
        // so a pass over the bootstrapping key serves its whole share.
        let rotations: Vec<(&SwitchedLwe, &GlweCiphertextOwned<u64>)> = prepared
            .iter()
            .flat_map(|p| p.accumulators.iter().map(move |(acc, _)| (&p.input, acc)))
            .collect();
        let share = rotations.len().div_ceil(rayon::current_num_threads().max(1)).max(1);
        let rotated: Vec<GlweCiphertextOwned<u64>> = rotations
            .par_chunks(share)
            .flat_map_iter(|chunk| self.blind_rotate_batch(chunk))
            .collect();
        let mut rotated = rotated.iter();
        Ok(prepared
            .iter()
            .map(|p| {
                p.accumulators
                    .iter()
                    .flat_map(|(_, outputs)| {
                        let glwe = rotated.next().expect("one rotation per accumulator");
                        outputs
                            .iter()
                            .map(|&(position, degree)| self.extract(glwe, position, degree))
                    })
                    .collect()
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

#[cfg(test)]
mod tests {
    use tfhe::core_crypto::prelude::{LweCiphertextList, par_decompress_seeded_lwe_ciphertext_list};

    use super::*;
    use crate::compiler::fixtures::BREAST_CANCER;
    use crate::{ClientKey, encrypt_row};

    /// The full-torus table of 32 boxes holding `f(k) · Δ` for the first 16 is exactly
    /// shortint's lookup table of `f` for a 4-bit block under its padding bit.
    #[test]
    fn a_torus_table_is_shortints_table() {
        let server = ClientKey::generate().compressed_server_key().decompress();
        let bootstrapper = Bootstrapper::new(&server, None).unwrap();
        let f = |x: u64| (x * 7 + 3) % 16;
        let delta = (1u64 << 63) / 16;
        let ours = bootstrapper.table(32, |k| f(k as u64) * delta);
        let theirs = server.inner.generate_lookup_table(f);
        assert_eq!(ours.as_ref(), theirs.acc.as_ref());
    }

    /// Decompressing only what the plan reads gives exactly the ciphertexts a full
    /// decompression gives at those indices, including the first and the last.
    #[test]
    fn decompressing_what_is_read_matches_the_full_list() {
        let compiled = BREAST_CANCER.compile().unwrap();
        let (rows, _) = BREAST_CANCER.test_rows().unwrap();
        let row = encrypt_row(&compiled.spec, &ClientKey::generate(), &rows[0]).unwrap();
        let bits = &row.bits;
        let mut full = LweCiphertextList::new(
            0u64,
            bits.lwe_size(),
            bits.lwe_ciphertext_count(),
            bits.ciphertext_modulus(),
        );
        par_decompress_seeded_lwe_ciphertext_list::<_, _, _, DefaultRandomGenerator>(&mut full, bits);

        let last = bits.lwe_ciphertext_count().0 - 1;
        let mut read = compiled.plan.read_ciphertexts();
        assert!(
            read.len() < last / 4,
            "the plan reads {} of {last} ciphertexts",
            read.len()
        );
        read.extend([0, 1, last]);
        read.sort_unstable();
        read.dedup();
        let inputs = decompress_read(bits, &read);
        for (i, input) in inputs.iter().enumerate() {
            match input {
                Some(ciphertext) => {
                    assert!(read.contains(&i));
                    assert_eq!(ciphertext.as_ref(), full.get(i).as_ref(), "ciphertext {i}");
                }
                None => assert!(!read.contains(&i), "ciphertext {i} was not decompressed"),
            }
        }
    }
}
