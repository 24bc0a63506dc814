//! The client's bootstrapping key: tfhe's seeded LWE bootstrapping key, with its polynomial
//! products computed by an exact number-theoretic transform.
//!
//! # Contract
//!
//! [`generate_seeded_bootstrap_key`] returns, for [`PARAMETERS`], the key that tfhe's
//! `generate_seeded_lwe_bootstrap_key` makes from the same secret keys and compression seed,
//! except for the noise samples themselves:
//!
//! - **What is encrypted**: for each bit `s_i` of the small LWE key (n = 918), a seeded GGSW
//!   encryption of `s_i` under the GLWE key `S` (k = 1, N = 2048), with `pbs_level` levels of
//!   base `2^pbs_base_log`: row `r < k` of a level encrypts `factor · S_r`, the last row
//!   `-factor` in the constant coefficient (`factor` from tfhe's
//!   `ggsw_encryption_multiplicative_factor`).
//! - **Masks**: uniform, drawn from the compression seed's AES-CTR stream. tfhe forks that
//!   stream per GGSW, per level and per row, and each child consumes exactly its share (the
//!   function asserts that tfhe's fork sizes leave no gap). The masks are therefore the stream
//!   read in that order, which is what the server's decompression regenerates; they are read
//!   a row at a time ([`crate::client::seeded::fill_uniform`]).
//! - **Bodies**: `mask · S + plaintext + e` modulo `(2^64, X^N + 1)`. The product is computed
//!   exactly: tfhe-ntt's binary-polynomial plan works modulo three 30-bit primes, and the CRT
//!   range (about 2^90) exceeds the products' range (|coefficient| < 2^64 · N = 2^75).
//!   tfhe computes the same product with Karatsuba, which makes about a thousand allocations
//!   per product. Those allocations contend for the allocator's lock in the browser's threaded
//!   module.
//! - **Noise** `e`: the parameters' GLWE distribution (TUniform(17)), drawn from a generator
//!   seeded by the platform's entropy, one fork per GGSW, so the order of the threads does not
//!   matter. tfhe draws from its own forks of such a stream. Noise is never regenerated, so
//!   only its distribution matters.
//!
//! Nothing else is revealed: the key is distributed exactly as tfhe's. The test
//! `the_key_is_tfhes_up_to_the_noise` checks this against tfhe's own generator: the same masks,
//! and bodies within two noise bounds.

use rayon::prelude::*;
use tfhe::core_crypto::commons::math::decomposition::DecompositionLevel;
use tfhe::core_crypto::commons::math::random::{CompressionSeed, RandomGenerator, Seed, Uniform};
use tfhe::core_crypto::prelude::*;
use tfhe_csprng::generators::{BytesPerChild, ChildrenCount, ParallelRandomGenerator};
use tfhe_ntt::native_binary64::Plan32;

use crate::client::seeded::{MaskStream, fill_uniform};
use crate::params::PARAMETERS;

/// Generates the seeded bootstrapping key of `small` under `glwe` (see the module's contract),
/// in parallel over GGSW ciphertexts where rayon has threads. `progress` is called on the
/// calling thread with the number of GGSW ciphertexts done, after each chunk of `chunk` of them.
pub(crate) fn generate_seeded_bootstrap_key(
    small: &LweSecretKey<Vec<u64>>,
    glwe: &GlweSecretKey<Vec<u64>>,
    compression_seed: CompressionSeed,
    noise_seed: Seed,
    chunk: usize,
    progress: &mut dyn FnMut(usize),
) -> SeededLweBootstrapKeyOwned<u64> {
    let params = PARAMETERS;
    let modulus = params.ciphertext_modulus;
    assert!(modulus.is_native_modulus());
    let glwe_size = params.glwe_dimension.to_glwe_size();
    let k = params.glwe_dimension.0;
    let big_n = params.polynomial_size.0;
    let levels = params.pbs_level.0;
    let base_log = params.pbs_base_log;
    let noise_distribution = params.glwe_noise_distribution;
    assert_eq!(small.lwe_dimension(), params.lwe_dimension);
    assert_eq!(glwe.glwe_dimension(), params.glwe_dimension);
    assert_eq!(glwe.polynomial_size(), params.polynomial_size);

    // tfhe's fork of the streams for one GGSW: its mask share must be exactly the masks it
    // holds (levels · (k+1) rows of k·N elements of 8 bytes), read in order.
    let fork = ggsw_ciphertext_encryption_fork_config(
        glwe_size,
        params.polynomial_size,
        params.pbs_level,
        Uniform,
        noise_distribution,
        modulus,
    );
    let mask_bytes = fork.children_count() * fork.mask_byte_count_per_child().0;
    let noise_bytes = fork.children_count() * fork.noise_byte_count_per_child().0;
    assert_eq!(
        mask_bytes,
        levels * (k + 1) * k * big_n * std::mem::size_of::<u64>(),
        "tfhe's GGSW mask fork has gaps: the masks are not the stream read in order"
    );

    let plan = Plan32::try_new(big_n).expect("tfhe-ntt has a plan for N = 2048");
    let key_polynomials: Vec<&[u64]> = glwe.as_ref().chunks_exact(big_n).collect();
    let mut masks = MaskStream::new(compression_seed.inner.clone());
    let mut noise = RandomGenerator::<DefaultRandomGenerator>::new(noise_seed);

    // A seeded GGSW holds only bodies: levels · (k+1) polynomials.
    let ggsw_len = levels * (k + 1) * big_n;
    let mut container = vec![0u64; small.lwe_dimension().0 * ggsw_len];
    let mut done = 0;
    for (bits, bodies) in small.as_ref().chunks(chunk).zip(container.chunks_mut(chunk * ggsw_len)) {
        let mask_forks = masks
            .par_try_fork(ChildrenCount(bits.len() as u64), BytesPerChild(mask_bytes as u64))
            .expect("the mask stream forks");
        let noise_forks = noise
            .par_try_fork(bits.len(), noise_bytes)
            .expect("the noise stream forks");
        bodies
            .par_chunks_mut(ggsw_len)
            .zip(bits.par_iter())
            .zip(mask_forks.zip_eq(noise_forks))
            .for_each(|((ggsw, &bit), (mut masks, mut noise))| {
                let mut mask = vec![0u64; k * big_n];
                let mut product = vec![0u64; big_n];
                for (level_index, level) in ggsw.chunks_exact_mut((k + 1) * big_n).enumerate() {
                    let factor = ggsw_encryption_multiplicative_factor(
                        modulus,
                        DecompositionLevel(levels - level_index),
                        base_log,
                        Cleartext(bit),
                    );
                    for (row, body) in level.chunks_exact_mut(big_n).enumerate() {
                        if row < k {
                            for (b, &s) in body.iter_mut().zip(key_polynomials[row]) {
                                *b = s.wrapping_mul(factor);
                            }
                        } else {
                            body.fill(0);
                            body[0] = factor.wrapping_neg();
                        }
                        fill_uniform(&mut masks, &mut mask);
                        noise.unsigned_integer_slice_wrapping_add_random_from_distribution_assign(
                            body,
                            noise_distribution,
                        );
                        for (mask_polynomial, key_polynomial) in mask.chunks_exact(big_n).zip(&key_polynomials) {
                            plan.negacyclic_polymul(&mut product, mask_polynomial, key_polynomial);
                            for (b, &p) in body.iter_mut().zip(&product) {
                                *b = b.wrapping_add(p);
                            }
                        }
                    }
                }
            });
        done += bits.len();
        progress(done);
    }

    SeededLweBootstrapKey::from_container(
        container,
        glwe_size,
        params.polynomial_size,
        base_log,
        params.pbs_level,
        compression_seed,
        modulus,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfhe::core_crypto::algorithms::polynomial_algorithms::polynomial_wrapping_add_mul_assign;
    use tfhe::core_crypto::seeders::new_seeder;

    #[test]
    fn ntt_products_equal_tfhes_karatsuba() {
        let n = PARAMETERS.polynomial_size.0;
        let mut random = RandomGenerator::<DefaultRandomGenerator>::new(Seed(7));
        let plan = Plan32::try_new(n).unwrap();
        for _ in 0..4 {
            let mut lhs = vec![0u64; n];
            random.fill_slice_with_random_uniform(&mut lhs);
            let mut rhs = vec![0u64; n];
            random.fill_slice_with_random_uniform_binary(&mut rhs);
            // The extremes too: every coefficient 2^64 - 1 times an all-ones key.
            for (lhs, rhs) in [(lhs, rhs), (vec![u64::MAX; n], vec![1; n])] {
                let mut ntt = vec![0u64; n];
                plan.negacyclic_polymul(&mut ntt, &lhs, &rhs);
                let mut karatsuba = Polynomial::new(0u64, PolynomialSize(n));
                polynomial_wrapping_add_mul_assign(
                    &mut karatsuba,
                    &Polynomial::from_container(lhs.as_slice()),
                    &Polynomial::from_container(rhs.as_slice()),
                );
                assert_eq!(ntt, karatsuba.into_container());
            }
        }
    }

    /// Same masks as tfhe's generator for the same compression seed, and bodies that differ by
    /// two noise samples at most: so the products and plaintexts are exact.
    #[test]
    fn the_key_is_tfhes_up_to_the_noise() {
        let params = PARAMETERS;
        let mut seeder = new_seeder();
        let mut secret = SecretRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
        let small: LweSecretKeyOwned<u64> =
            allocate_and_generate_new_binary_lwe_secret_key(params.lwe_dimension, &mut secret);
        let glwe: GlweSecretKeyOwned<u64> = allocate_and_generate_new_binary_glwe_secret_key(
            params.glwe_dimension,
            params.polynomial_size,
            &mut secret,
        );
        let compression_seed: CompressionSeed = seeder.seed().into();

        let mut reports = Vec::new();
        let ours = generate_seeded_bootstrap_key(
            &small,
            &glwe,
            compression_seed.clone(),
            seeder.seed(),
            100,
            &mut |done| reports.push(done),
        );
        assert_eq!(reports, (1..=10).map(|c| (c * 100).min(918)).collect::<Vec<_>>());

        let mut theirs = SeededLweBootstrapKey::new(
            0u64,
            params.glwe_dimension.to_glwe_size(),
            params.polynomial_size,
            params.pbs_base_log,
            params.pbs_level,
            params.lwe_dimension,
            compression_seed,
            params.ciphertext_modulus,
        );
        par_generate_seeded_lwe_bootstrap_key(
            &small,
            &glwe,
            &mut theirs,
            params.glwe_noise_distribution,
            seeder.as_mut(),
        );

        let ours = ours.decompress_into_lwe_bootstrap_key();
        let theirs = theirs.decompress_into_lwe_bootstrap_key();
        let n = params.polynomial_size.0;
        let bound = match params.glwe_noise_distribution {
            DynamicDistribution::TUniform(t) => 1u64 << t.bound_log2(),
            other => panic!("the parameters' GLWE noise is TUniform, not {other:?}"),
        };
        let mut rows = 0;
        for (ours, theirs) in ours
            .as_ref()
            .chunks_exact(2 * n)
            .zip(theirs.as_ref().chunks_exact(2 * n))
        {
            assert_eq!(ours[..n], theirs[..n], "masks differ");
            for (a, b) in ours[n..].iter().zip(&theirs[n..]) {
                let difference = a.wrapping_sub(*b) as i64;
                assert!(difference.unsigned_abs() <= 2 * bound, "bodies differ by {difference}");
            }
            rows += 1;
        }
        assert_eq!(rows, params.lwe_dimension.0 * params.pbs_level.0 * 2);
    }
}
