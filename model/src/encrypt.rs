//! Client side: encrypting one row of features into an [`EncryptedRow`].
//!
//! Each thermometer bit is one fresh LWE encryption under the client's *small* key with the
//! small key's noise distribution (see [`crate::params`] for why the server may bootstrap such
//! sums directly): 918 mask coefficients per bit instead of the big key's 2048, and one
//! ciphertext per bit instead of one per weight.

//!
//! The masks are tfhe-rs's: the compression seed's AES-CTR stream, one slice of `8·n` bytes per
//! ciphertext in order, exactly what tfhe-rs's seeded list encryption draws and what the server's
//! decompression regenerates. They are read here straight from the stream, a whole mask per
//! call (`fill_bytes`, added by the patched tfhe-csprng in `vendor/`), instead of through
//! tfhe-rs's generic byte-at-a-time sampler: in the browser's wasm that sampler's per-byte
//! calls cost as much as the AES itself. Bodies are
//! `<mask, s> + Δ·bit + e` with `e` from TUniform(45), drawn from a generator seeded by the
//! platform's entropy (never regenerated, never sent). The test
//! `masks_are_tfhes_and_bodies_decrypt` checks both against tfhe-rs.

use rayon::prelude::*;
use tfhe::core_crypto::commons::math::random::{CompressionSeed, DefaultRandomGenerator, RandomGenerator, Uniform};
use tfhe::core_crypto::prelude::{LweCiphertextCount, SeededLweCiphertextList};
use tfhe::core_crypto::seeders::new_seeder;
use tfhe_csprng::generators::{BytesPerChild, ChildrenCount, ParallelRandomGenerator, RandomGenerator as _};

use crate::ciphertexts::EncryptedRow;
use crate::error::Result;
use crate::keys::ClientKey;
use crate::params::{PARAMETERS, delta};
use crate::spec::ClientSpec;

/// Validates, quantizes and encrypts one row of features for `spec`'s model.
///
/// Key: the client key's small LWE key. Reveals: nothing (fresh TUniform noise and a fresh
/// public seed per row). Errors: wrong number of features, NaN/infinite values, values outside
/// the valid range.
pub fn encrypt_row(spec: &ClientSpec, key: &ClientKey, row: &[f64]) -> Result<EncryptedRow> {
    let levels = spec.quantize_row(row)?;
    let bits = spec.thermometer(&levels);
    let mut seeder = new_seeder();
    let compression_seed: CompressionSeed = seeder.seed().into();
    let noise_seed = seeder.seed();
    let secret = key.small_lwe_secret_key();
    let mut list = SeededLweCiphertextList::new(
        0u64,
        secret.lwe_dimension().to_lwe_size(),
        LweCiphertextCount(bits.len()),
        compression_seed.clone(),
        PARAMETERS.ciphertext_modulus,
    );
    let plaintexts: Vec<u64> = bits.iter().map(|&b| b * delta()).collect();
    encrypt_bodies(
        list.as_mut(),
        &plaintexts,
        secret.as_ref(),
        compression_seed,
        noise_seed.into(),
    );
    Ok(EncryptedRow { bits: list })
}

/// Fills `bodies` (one per plaintext) with the seeded LWE encryptions of `plaintexts` under
/// `secret`: masks from `compression_seed`'s stream (module docs), noise from `noise_seed`.
/// Spread over rayon's threads where there are any; the result does not depend on them.
fn encrypt_bodies(
    bodies: &mut [u64],
    plaintexts: &[u64],
    secret: &[u64],
    compression_seed: CompressionSeed,
    noise_seed: CompressionSeed,
) {
    let mask_bytes = std::mem::size_of_val(secret);
    // tfhe-rs forks the mask stream into one child of this many bytes per ciphertext; with no
    // gap between children, the masks are the stream read in order.
    let reference = SeededLweCiphertextList::new(
        0u64,
        PARAMETERS.lwe_dimension.to_lwe_size(),
        LweCiphertextCount(1),
        compression_seed.clone(),
        PARAMETERS.ciphertext_modulus,
    );
    assert_eq!(
        reference
            .decompression_fork_config(Uniform)
            .mask_byte_count_per_child()
            .0,
        mask_bytes,
        "tfhe's seeded LWE mask fork has gaps: the masks are not the stream read in order"
    );
    assert!(PARAMETERS.ciphertext_modulus.is_native_modulus());

    let mut noise = RandomGenerator::<DefaultRandomGenerator>::new(noise_seed);
    let errors: Vec<u64> = plaintexts
        .iter()
        .map(|_| noise.random_from_distribution(PARAMETERS.lwe_noise_distribution))
        .collect();

    let mut masks = DefaultRandomGenerator::new(compression_seed.inner);
    let streams = masks
        .par_try_fork(ChildrenCount(plaintexts.len() as u64), BytesPerChild(mask_bytes as u64))
        .expect("the mask stream forks");
    bodies
        .par_iter_mut()
        .zip(plaintexts.par_iter().zip(errors.par_iter()))
        .zip(streams)
        .for_each_init(
            || vec![0u8; mask_bytes],
            |mask, ((body, (&plaintext, &error)), mut stream)| {
                let filled = stream.fill_bytes(mask);
                assert_eq!(filled, mask_bytes, "a child stream holds its mask");
                let dot = mask.chunks_exact(8).zip(secret).fold(0u64, |dot, (bytes, &s)| {
                    let a = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                    dot.wrapping_add(a.wrapping_mul(s))
                });
                *body = dot.wrapping_add(plaintext).wrapping_add(error);
            },
        );
}

impl ClientKey {
    /// The small LWE secret key (dimension 918): inputs are encrypted under it and results are
    /// keyswitched to it.
    pub(crate) fn small_lwe_secret_key(&self) -> tfhe::core_crypto::prelude::LweSecretKeyView<'_, u64> {
        match &self.inner.atomic_pattern {
            tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey::Standard(key) => {
                key.small_lwe_secret_key()
            }
            // `ClientKey::generate` and `ClientKey::from_bytes` only make or accept keys of
            // `PARAMETERS`, a classic KS-PBS set: the standard atomic pattern.
            _ => unreachable!("Blindfold's client keys use the standard atomic pattern"),
        }
    }
}

#[cfg(test)]
mod tests {
    use tfhe::core_crypto::commons::math::random::Seed;
    use tfhe::core_crypto::prelude::{
        ContiguousEntityContainer, LweCiphertextList, decompress_seeded_lwe_ciphertext_list,
    };

    use super::*;

    /// The bodies, decompressed with tfhe-rs's own mask regeneration (what the server does),
    /// decrypt to each plaintext plus an error within TUniform(45)'s bound: the masks are
    /// tfhe-rs's for that seed (any other mask would leave a uniformly random error). Across
    /// the rows the errors take both signs and fill the bound, so they are real noise.
    #[test]
    fn masks_are_tfhes_and_bodies_decrypt() {
        let key = ClientKey::generate();
        let secret = key.small_lwe_secret_key();
        let count = 300;
        let plaintexts: Vec<u64> = (0..count).map(|i| (i % 2) * delta()).collect();
        let compression_seed: CompressionSeed = Seed(0x5eed).into();
        let mut list = SeededLweCiphertextList::new(
            0u64,
            secret.lwe_dimension().to_lwe_size(),
            LweCiphertextCount(count as usize),
            compression_seed.clone(),
            PARAMETERS.ciphertext_modulus,
        );
        encrypt_bodies(
            list.as_mut(),
            &plaintexts,
            secret.as_ref(),
            compression_seed,
            Seed(7).into(),
        );

        let mut full = LweCiphertextList::new(
            0u64,
            list.lwe_size(),
            list.lwe_ciphertext_count(),
            list.ciphertext_modulus(),
        );
        decompress_seeded_lwe_ciphertext_list::<_, _, _, DefaultRandomGenerator>(&mut full, &list);
        let bound = 1i64 << 45;
        let mut largest = 0i64;
        let mut negative = 0;
        for (ciphertext, &plaintext) in full.iter().zip(&plaintexts) {
            let (mask, body) = ciphertext.get_mask_and_body();
            let dot = mask
                .as_ref()
                .iter()
                .zip(secret.as_ref())
                .fold(0u64, |acc, (&a, &s)| acc.wrapping_add(a.wrapping_mul(s)));
            let error = body.data.wrapping_sub(dot).wrapping_sub(plaintext) as i64;
            assert!(error.abs() <= bound, "error {error} beyond TUniform(45)");
            largest = largest.max(error.abs());
            negative += usize::from(error < 0);
        }
        assert!(largest > bound / 4, "the errors look too small: {largest}");
        assert!((50..250).contains(&negative), "{negative} of {count} errors negative");
    }
}
