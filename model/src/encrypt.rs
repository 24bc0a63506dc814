//! Client side: encrypting one row of features into an [`EncryptedRow`].

#[cfg(target_arch = "wasm32")]
use tfhe::core_crypto::prelude::encrypt_seeded_lwe_ciphertext_list;
use tfhe::core_crypto::prelude::{LweCiphertextCount, PlaintextList, SeededLweCiphertextList};
use tfhe::core_crypto::seeders::new_seeder;

use crate::ciphertexts::EncryptedRow;
use crate::error::Result;
use crate::keys::ClientKey;
use crate::params::{PARAMETERS, delta};
use crate::spec::ClientSpec;

/// Validates, quantizes and encrypts one row of features for `spec`'s model.
///
/// Key: the client key. Reveals: nothing (fresh TUniform noise and a fresh public seed per row).
/// Errors: wrong number of features, NaN/infinite values, values outside the valid range.
pub fn encrypt_row(spec: &ClientSpec, key: &ClientKey, row: &[f64]) -> Result<EncryptedRow> {
    let levels = spec.quantize_row(row)?;
    let bits = spec.thermometer(&levels);
    let delta = delta();
    let plaintexts = PlaintextList::from_container(bits.iter().map(|&b| b * delta).collect::<Vec<u64>>());

    let (secret, noise) = key.inner.encryption_key_and_noise();
    let mut seeder = new_seeder();
    let mut list = SeededLweCiphertextList::new(
        0u64,
        secret.lwe_dimension().to_lwe_size(),
        LweCiphertextCount(bits.len()),
        seeder.seed().into(),
        PARAMETERS.ciphertext_modulus,
    );
    // Same ciphertexts either way; the browser worker has no thread pool.
    #[cfg(not(target_arch = "wasm32"))]
    tfhe::core_crypto::prelude::par_encrypt_seeded_lwe_ciphertext_list(
        &secret,
        &mut list,
        &plaintexts,
        noise,
        seeder.as_mut(),
    );
    #[cfg(target_arch = "wasm32")]
    encrypt_seeded_lwe_ciphertext_list(&secret, &mut list, &plaintexts, noise, seeder.as_mut());
    Ok(EncryptedRow { bits: list })
}
