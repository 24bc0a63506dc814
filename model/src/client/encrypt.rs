//! Client side: encrypting one row of features into an [`EncryptedRow`].
//!
//! Each thermometer bit is one fresh LWE encryption under the client's *small* key with the
//! small key's noise distribution (see [`crate::params`] for why the server may bootstrap such
//! sums directly): 918 mask coefficients per bit instead of the big key's 2048, and one
//! ciphertext per bit instead of one per weight.
//!
//! The masks are tfhe-rs's: the compression seed's AES-CTR stream, one slice of `8·n` bytes per
//! ciphertext in order, exactly what tfhe-rs's seeded list encryption draws and what the server's
//! decompression regenerates, read a whole mask per call (`client::seeded`). Bodies are
//! `<mask, s> + Δ·bit + e` with `e` from TUniform(45), drawn from a generator seeded by the
//! platform's entropy (never regenerated, never sent). The test
//! `masks_are_tfhes_and_bodies_decrypt` checks both against tfhe-rs.

use tfhe::core_crypto::commons::math::random::{CompressionSeed, DefaultRandomGenerator, RandomGenerator};
use tfhe::core_crypto::prelude::{LweCiphertextCount, SeededLweCiphertextList};
use tfhe::core_crypto::seeders::new_seeder;
use tfhe_csprng::generators::RandomGenerator as _;

use crate::ciphertexts::EncryptedRow;
use crate::client::seeded::{MaskStream, encrypt_lwe_bodies};
use crate::error::Result;
use crate::keys::ClientKey;
use crate::params::{InputEncoding, NETWORK_ACCUMULATOR_SCALE_LOG, PARAMETERS, delta};
use crate::spec::ClientSpec;

/// Validates, quantizes and encrypts one row of features for `spec`'s model: its thermometer
/// bits (a tree ensemble) or its levels (a linear model), as `spec`'s encoding says.
///
/// Key: the client key's small LWE key. Reveals: nothing (fresh TUniform noise and a fresh
/// public seed per row). Errors: wrong number of features, NaN/infinite values, values outside
/// the valid range.
pub fn encrypt_row(spec: &ClientSpec, key: &ClientKey, row: &[f64]) -> Result<EncryptedRow> {
    let levels = spec.quantize_row(row)?;
    let plaintexts: Vec<u64> = match &spec.encryption {
        InputEncoding::Thermometer(_) => spec.thermometer(&levels).iter().map(|&b| b * delta()).collect(),
        InputEncoding::Linear(linear) => levels.iter().map(|&x| x as u64 * linear.delta()).collect(),
        InputEncoding::Network(_) => levels
            .iter()
            .map(|&x| (x as u64) << NETWORK_ACCUMULATOR_SCALE_LOG)
            .collect(),
    };
    let mut seeder = new_seeder();
    let compression_seed: CompressionSeed = seeder.seed().into();
    let noise_seed = seeder.seed();
    // A network's row is under the big key, with the big key's noise (see `NetworkEncoding`).
    let (secret, noise) = match &spec.encryption {
        InputEncoding::Network(_) => (key.big_lwe_secret_key(), PARAMETERS.glwe_noise_distribution),
        _ => (key.small_lwe_secret_key(), PARAMETERS.lwe_noise_distribution),
    };
    let mut list = SeededLweCiphertextList::new(
        0u64,
        secret.lwe_dimension().to_lwe_size(),
        LweCiphertextCount(plaintexts.len()),
        compression_seed.clone(),
        PARAMETERS.ciphertext_modulus,
    );
    encrypt_bodies(
        list.as_mut(),
        &plaintexts,
        secret.as_ref(),
        compression_seed,
        noise_seed.into(),
        noise,
    );
    Ok(EncryptedRow { bits: list })
}

/// Fills `bodies` (one per plaintext) with the seeded LWE encryptions of `plaintexts` under
/// `secret`: masks from `compression_seed`'s stream (module docs), noise from `noise_seed`.
fn encrypt_bodies(
    bodies: &mut [u64],
    plaintexts: &[u64],
    secret: &[u64],
    compression_seed: CompressionSeed,
    noise_seed: CompressionSeed,
    noise: tfhe::core_crypto::prelude::DynamicDistribution<u64>,
) {
    encrypt_lwe_bodies(
        bodies,
        plaintexts,
        secret,
        &mut MaskStream::new(compression_seed.inner),
        &mut RandomGenerator::<DefaultRandomGenerator>::new(noise_seed),
        noise,
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

    /// The big LWE secret key (dimension 2048, the GLWE key read as an LWE key): a network's
    /// inputs are encrypted under it, and bootstraps return results under it.
    pub(crate) fn big_lwe_secret_key(&self) -> tfhe::core_crypto::prelude::LweSecretKeyView<'_, u64> {
        match &self.inner.atomic_pattern {
            tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey::Standard(key) => {
                key.large_lwe_secret_key()
            }
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
    use crate::client::seeded::{assert_noise_within, lwe_errors};

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
            PARAMETERS.lwe_noise_distribution,
        );

        let mut full = LweCiphertextList::new(
            0u64,
            list.lwe_size(),
            list.lwe_ciphertext_count(),
            list.ciphertext_modulus(),
        );
        decompress_seeded_lwe_ciphertext_list::<_, _, _, DefaultRandomGenerator>(&mut full, &list);
        let errors = lwe_errors(full.iter(), plaintexts, secret.as_ref());
        assert_noise_within(&errors, 1i64 << 45);
    }
}
