//! Seeded LWE encryption on the client, with the masks read straight from the compression
//! seed's stream: what a row, the key-switching key and the bootstrapping key's GGSWs share.
//!
//! # Contract
//!
//! - **Masks** are tfhe-rs's: uniform `u64`s, each the next 8 bytes of the compression seed's
//!   AES-CTR stream, little-endian (tfhe's `Uniform` for `u64`), read in the order tfhe-rs's
//!   seeded encryption draws them and the server's decompression regenerates them. tfhe forks
//!   the stream into one child per ciphertext (per GGSW for the bootstrapping key), each taking
//!   exactly its mask's bytes; [`encrypt_lwe_bodies`] asserts that tfhe's fork leaves no gap, so
//!   the children are the stream cut in order.
//! - **Why not tfhe's sampler**: it draws masks a byte at a time through the generator. In the
//!   browser's wasm (software AES, no LTO) those per-byte calls cost about as much as the AES
//!   itself. [`fill_uniform`] reads a whole mask per call (`fill_bytes`, added by the patched
//!   tfhe-csprng in `vendor/`, which copies whole stretches of each AES batch).
//! - **Bodies** `<mask, s> + plaintext + e` modulo 2^64 (tfhe's native modulus only), with `e`
//!   drawn from the given noise distribution by a generator the caller seeds from the
//!   platform's entropy. Noise is never regenerated, so only its distribution matters.
//!
//! Tests: `encrypt::masks_are_tfhes_and_bodies_decrypt` (rows) and
//! `keys::the_key_switching_key_is_tfhes_up_to_the_noise` decompress with tfhe-rs and decrypt;
//! `bootstrap_key::the_key_is_tfhes_up_to_the_noise` compares the GGSWs' bodies with tfhe's
//! for the same seeds (within two noise bounds only when the masks are the same).

use rayon::prelude::*;
use tfhe::core_crypto::algorithms::slice_algorithms::slice_wrapping_dot_product;
use tfhe::core_crypto::commons::math::random::{DefaultRandomGenerator, DynamicDistribution, RandomGenerator, Uniform};
use tfhe::core_crypto::prelude::{LweCiphertextCount, LweDimension, lwe_ciphertext_list_encryption_fork_config};
use tfhe_csprng::generators::{BytesPerChild, ChildrenCount, ParallelRandomGenerator, RandomGenerator as _};

use crate::params::PARAMETERS;

/// The AES-CTR stream of a compression seed (tfhe-csprng's generator, not tfhe's wrapper).
pub(crate) type MaskStream = DefaultRandomGenerator;

/// Fills `out` with the next uniform `u64`s of `stream`, exactly as tfhe's sampler would.
/// Panics when the stream (a fork's child) ends first: a child holds exactly its masks.
pub(crate) fn fill_uniform(stream: &mut MaskStream, out: &mut [u64]) {
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(out);
    let filled = stream.fill_bytes(bytes);
    assert_eq!(filled, bytes.len(), "the stream holds the masks");
    for value in out.iter_mut() {
        *value = u64::from_le(*value);
    }
}

/// Fills `bodies` (one per plaintext) with the seeded LWE encryptions of `plaintexts` under
/// `secret`: ciphertext `i`'s mask is the `i`-th slice of `secret.len()` elements of `masks`'s
/// stream, its error one sample of `noise_distribution` from `noise`. Both generators advance
/// past what was drawn, so consecutive calls continue one seeded list. Spread over rayon's
/// threads where there are any; the result does not depend on them.
pub(crate) fn encrypt_lwe_bodies(
    bodies: &mut [u64],
    plaintexts: &[u64],
    secret: &[u64],
    masks: &mut MaskStream,
    noise: &mut RandomGenerator<DefaultRandomGenerator>,
    noise_distribution: DynamicDistribution<u64>,
) {
    assert_eq!(bodies.len(), plaintexts.len());
    assert!(PARAMETERS.ciphertext_modulus.is_native_modulus());
    let mask_bytes = std::mem::size_of_val(secret);
    // tfhe-rs forks the mask stream into one child of this many bytes per ciphertext; with no
    // gap between children, the masks are the stream read in order.
    let fork = lwe_ciphertext_list_encryption_fork_config(
        LweCiphertextCount(1),
        LweDimension(secret.len()),
        Uniform,
        noise_distribution,
        PARAMETERS.ciphertext_modulus,
    );
    assert_eq!(
        fork.mask_byte_count_per_child().0,
        mask_bytes,
        "tfhe's seeded LWE mask fork has gaps: the masks are not the stream read in order"
    );

    let errors: Vec<u64> = plaintexts
        .iter()
        .map(|_| noise.random_from_distribution(noise_distribution))
        .collect();
    let streams = masks
        .par_try_fork(ChildrenCount(plaintexts.len() as u64), BytesPerChild(mask_bytes as u64))
        .expect("the mask stream forks");
    bodies
        .par_iter_mut()
        .zip(plaintexts.par_iter().zip(errors.par_iter()))
        .zip(streams)
        .for_each_init(
            || vec![0u64; secret.len()],
            |mask, ((body, (&plaintext, &error)), mut stream)| {
                fill_uniform(&mut stream, mask);
                *body = slice_wrapping_dot_product(mask, secret)
                    .wrapping_add(plaintext)
                    .wrapping_add(error);
            },
        );
}

/// For tests: the errors `body - <mask, s> - plaintext` (signed) of LWE ciphertexts under `secret`.
#[cfg(test)]
pub(crate) fn lwe_errors<'a>(
    ciphertexts: impl IntoIterator<Item = tfhe::core_crypto::prelude::LweCiphertextView<'a, u64>>,
    plaintexts: impl IntoIterator<Item = u64>,
    secret: &[u64],
) -> Vec<i64> {
    ciphertexts
        .into_iter()
        .zip(plaintexts)
        .map(|(ciphertext, plaintext)| {
            let (mask, body) = ciphertext.get_mask_and_body();
            body.data
                .wrapping_sub(slice_wrapping_dot_product(mask.as_ref(), secret))
                .wrapping_sub(plaintext) as i64
        })
        .collect()
}

/// For tests: `errors` are TUniform noise of `bound` (`2^bound_log2`): all within it, some
/// beyond a quarter of it, and about half of them negative. A wrong mask leaves errors spread
/// over the whole torus instead.
#[cfg(test)]
pub(crate) fn assert_noise_within(errors: &[i64], bound: i64) {
    let outside = errors.iter().filter(|e| e.abs() > bound).count();
    assert_eq!(outside, 0, "{outside} of {} errors beyond {bound}", errors.len());
    let largest = errors.iter().map(|e| e.abs()).max().unwrap_or(0);
    assert!(largest > bound / 4, "the errors look too small: {largest}");
    let negative = errors.iter().filter(|&&e| e < 0).count();
    let share = negative as f64 / errors.len() as f64;
    assert!(
        (0.3..0.7).contains(&share),
        "{negative} of {} errors negative",
        errors.len()
    );
}
