//! Client side: encrypting one row of features into an [`EncryptedRow`].
//!
//! Each thermometer bit is one fresh LWE encryption under the client's *small* key with the
//! small key's noise distribution (see [`crate::params`] for why the server may bootstrap such
//! sums directly): 918 mask coefficients per bit instead of the big key's 2048, and one
//! ciphertext per bit instead of one per weight.

use tfhe::core_crypto::prelude::{LweCiphertextCount, PlaintextList, SeededLweCiphertextList};
use tfhe::core_crypto::seeders::new_seeder;

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
    let delta = delta();
    let plaintexts = PlaintextList::from_container(bits.iter().map(|&b| b * delta).collect::<Vec<u64>>());

    let secret = key.small_lwe_secret_key();
    let noise = PARAMETERS.lwe_noise_distribution;
    let mut seeder = new_seeder();
    let mut list = SeededLweCiphertextList::new(
        0u64,
        secret.lwe_dimension().to_lwe_size(),
        LweCiphertextCount(bits.len()),
        seeder.seed().into(),
        PARAMETERS.ciphertext_modulus,
    );
    // Same ciphertexts either way. Natively, and in the threaded wasm worker (built with the
    // `atomics` target feature), rayon spreads the row over the cores; the single-threaded
    // worker has no thread pool to spread it over.
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    tfhe::core_crypto::prelude::par_encrypt_seeded_lwe_ciphertext_list(
        &secret,
        &mut list,
        &plaintexts,
        noise,
        seeder.as_mut(),
    );
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    tfhe::core_crypto::prelude::encrypt_seeded_lwe_ciphertext_list(
        &secret,
        &mut list,
        &plaintexts,
        noise,
        seeder.as_mut(),
    );
    Ok(EncryptedRow { bits: list })
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
