//! Client side: encrypting one row of features.

use serde::{Deserialize, Serialize};
use tfhe::conformance::ParameterSetConformant;
#[cfg(target_arch = "wasm32")]
use tfhe::core_crypto::prelude::encrypt_seeded_lwe_ciphertext_list;
use tfhe::core_crypto::prelude::{CiphertextModulus, LweCiphertextCount, PlaintextList, SeededLweCiphertextList};
use tfhe::core_crypto::seeders::new_seeder;
use tfhe::named::Named;
use tfhe_versionable::{Versionize, VersionsDispatch};

use crate::error::Result;
use crate::keys::ClientKey;
use crate::params::{PARAMETERS, big_lwe_dimension, delta};
use crate::serialization::{from_bytes_conformant, to_bytes};
use crate::spec::ClientSpec;

/// Bytes of overhead allowed on top of 8 bytes per ciphertext in a serialized row.
const ROW_OVERHEAD_BYTES: u64 = 4096;

/// One encrypted row: the weighted thermometer code of its features (see
/// [`crate::params::InputEncoding`]), as a seeded LWE list under the client's big LWE key with
/// the parameters' GLWE noise (exactly what shortint's `ClientKey::encrypt` produces, one
/// ciphertext at a time). Only the bodies travel; the masks are regenerated from one public
/// seed, so a row costs 8 bytes per ciphertext.
///
/// Reveals nothing but the row's shape (the spec's number of ciphertexts).
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(EncryptedRowVersions)]
pub struct EncryptedRow {
    pub(crate) bits: SeededLweCiphertextList<Vec<u64>>,
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub enum EncryptedRowVersions {
    V0(EncryptedRow),
}

impl std::fmt::Debug for EncryptedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedRow {{ ciphertexts: {} }}", self.ciphertexts())
    }
}

impl Named for EncryptedRow {
    const NAME: &'static str = "blindfold::EncryptedRow";
}

/// The shape an encrypted row must have.
pub struct RowShape {
    pub ciphertexts: usize,
}

impl ParameterSetConformant for EncryptedRow {
    type ParameterSet = RowShape;

    fn is_conformant(&self, shape: &RowShape) -> bool {
        let bits = &self.bits;
        bits.lwe_size().to_lwe_dimension().0 == big_lwe_dimension()
            && bits.lwe_ciphertext_count().0 == shape.ciphertexts
            && bits.as_ref().len() == shape.ciphertexts
            && bits.ciphertext_modulus() == CiphertextModulus::new_native()
    }
}

impl EncryptedRow {
    /// Largest serialized size of a row of `ciphertexts`.
    pub fn size_limit(ciphertexts: usize) -> u64 {
        ciphertexts as u64 * 8 + ROW_OVERHEAD_BYTES
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self, Self::size_limit(self.bits.lwe_ciphertext_count().0))
    }

    /// Reads an uploaded row that must hold exactly `ciphertexts` ciphertexts.
    pub fn from_bytes(bytes: &[u8], ciphertexts: usize) -> Result<Self> {
        from_bytes_conformant(
            bytes,
            Self::size_limit(ciphertexts),
            "encrypted row",
            &RowShape { ciphertexts },
        )
    }

    pub fn ciphertexts(&self) -> usize {
        self.bits.lwe_ciphertext_count().0
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ModelError;
    use tfhe::core_crypto::prelude::LweSize;

    #[test]
    fn a_row_of_another_dimension_is_refused() {
        let count = 8;
        let mut seeder = new_seeder();
        let bits = SeededLweCiphertextList::new(
            0u64,
            LweSize(1025),
            LweCiphertextCount(count),
            seeder.seed().into(),
            PARAMETERS.ciphertext_modulus,
        );
        let bytes = to_bytes(&EncryptedRow { bits }, EncryptedRow::size_limit(count));
        let result = EncryptedRow::from_bytes(&bytes, count);
        assert!(
            matches!(result, Err(ModelError::WrongParameters { .. })),
            "{:?}",
            result.err()
        );
    }
}
