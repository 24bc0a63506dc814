//! Key generation and key (de)serialization.
//!
//! Trust model (as in tfhe-rs `shortint`): the [`ClientKey`] is secret and stays with the user;
//! the [`CompressedServerKey`] is public evaluation material that the user uploads once; the
//! server decompresses it into a [`ServerKey`] and evaluates plans with it. All keys use
//! [`crate::params::PARAMETERS`].
//!
//! Features follow the trust model: the `client` feature generates keys and serializes the
//! compressed server key; the `server` feature reads it and expands it.

use serde::{Deserialize, Serialize};
use tfhe::conformance::ParameterSetConformant;
use tfhe::named::Named;
use tfhe::shortint;
use tfhe::shortint::atomic_pattern::AtomicPatternParameters;
use tfhe::shortint::ciphertext::MaxDegree;
use tfhe_versionable::{Versionize, VersionsDispatch};

use crate::error::Result;
use crate::params::PARAMETERS;
use crate::serialization::to_bytes;
#[cfg(feature = "client")]
use crate::{error::ModelError, serialization::from_bytes};
#[cfg(feature = "server")]
use crate::{params::MAX_DEGREE, serialization::from_bytes_conformant};

/// Largest serialized client key accepted (the real one is about 24 KiB).
#[cfg(feature = "client")]
pub const MAX_CLIENT_KEY_BYTES: u64 = 1 << 20;
/// Largest compressed server key accepted (the real one is about 30 MB).
pub const MAX_COMPRESSED_SERVER_KEY_BYTES: u64 = 48 << 20;

/// The user's secret key. It **must not** leave the client: whoever holds it can decrypt every
/// row and result encrypted for it. Deliberately not `Debug`-printable, `Clone` or `Serialize`;
/// [`ClientKey::to_bytes`] exists for storing it locally.
#[cfg(feature = "client")]
pub struct ClientKey {
    pub(crate) inner: shortint::ClientKey,
}

#[cfg(feature = "client")]
impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey(<secret>)")
    }
}

#[cfg(feature = "client")]
impl ClientKey {
    /// Generates a fresh secret key (uses the platform's entropy: the OS, or the browser's
    /// `crypto.getRandomValues` on wasm32).
    pub fn generate() -> Self {
        Self {
            inner: shortint::ClientKey::new(PARAMETERS),
        }
    }

    /// Derives the public evaluation key to upload to the server. Compressed: the random masks
    /// are replaced by a seed, so it is about half the size of the expanded key.
    pub fn compressed_server_key(&self) -> CompressedServerKey {
        CompressedServerKey {
            inner: shortint::CompressedServerKey::new(&self.inner),
        }
    }

    /// Serializes the secret key for local storage (a 0600 file, IndexedDB).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(
            &ClientKeyFile {
                key: self.inner.clone(),
            },
            MAX_CLIENT_KEY_BYTES,
        )
    }

    /// Reads a key written by [`ClientKey::to_bytes`]; refuses keys of other parameters.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let file: ClientKeyFile = from_bytes(bytes, MAX_CLIENT_KEY_BYTES, "client key")?;
        let inner = file.key;
        if inner.parameters() != PARAMETERS.into() {
            return Err(ModelError::WrongParameters {
                what: "client key",
                detail: "not generated for this build's parameter set".into(),
            });
        }
        Ok(Self { inner })
    }
}

/// The stored form of a [`ClientKey`].
#[cfg(feature = "client")]
#[derive(Serialize, Deserialize, Versionize)]
#[versionize(ClientKeyFileVersions)]
struct ClientKeyFile {
    key: shortint::ClientKey,
}

#[cfg(feature = "client")]
#[derive(VersionsDispatch)]
#[allow(dead_code)]
enum ClientKeyFileVersions {
    V0(ClientKeyFile),
}

#[cfg(feature = "client")]
impl Named for ClientKeyFile {
    const NAME: &'static str = "blindfold::ClientKey";
}

/// Public evaluation key, compressed for transport and storage. Safe to publish: it lets its
/// holder compute on ciphertexts, never decrypt them.
#[derive(Clone, Serialize, Deserialize, Versionize)]
#[versionize(CompressedServerKeyVersions)]
pub struct CompressedServerKey {
    inner: shortint::CompressedServerKey,
}

#[derive(VersionsDispatch)]
#[allow(dead_code)]
pub enum CompressedServerKeyVersions {
    V0(CompressedServerKey),
}

impl std::fmt::Debug for CompressedServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompressedServerKey")
    }
}

impl Named for CompressedServerKey {
    const NAME: &'static str = "blindfold::CompressedServerKey";
}

impl ParameterSetConformant for CompressedServerKey {
    type ParameterSet = (AtomicPatternParameters, MaxDegree);

    fn is_conformant(&self, parameters: &Self::ParameterSet) -> bool {
        self.inner.is_conformant(parameters)
    }
}

impl CompressedServerKey {
    /// Serializes the key for upload.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(self, MAX_COMPRESSED_SERVER_KEY_BYTES)
    }
}

#[cfg(feature = "server")]
impl CompressedServerKey {
    /// Reads an uploaded key, checking type, version, size and that every parameter
    /// (dimensions, decomposition, moduli, degree and noise limits) is Blindfold's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let parameters = (PARAMETERS.into(), MaxDegree::new(MAX_DEGREE));
        from_bytes_conformant(bytes, MAX_COMPRESSED_SERVER_KEY_BYTES, "server key", &parameters)
    }

    /// Expands the key for evaluation (regenerates the masks from their seeds and converts the
    /// bootstrapping key to the Fourier domain: about a second of CPU, so cache the result).
    pub fn decompress(&self) -> ServerKey {
        ServerKey {
            inner: self.inner.decompress(),
        }
    }
}

/// Expanded evaluation key, ready for [`crate::evaluate`].
#[cfg(feature = "server")]
#[derive(Clone)]
pub struct ServerKey {
    pub(crate) inner: shortint::ServerKey,
}

#[cfg(feature = "server")]
impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey")
    }
}

#[cfg(feature = "server")]
impl ServerKey {
    /// Approximate memory this key occupies, for cache budgets.
    pub fn memory_bytes(&self) -> usize {
        // Fourier bootstrapping key (n * (k+1)^2 * level * N/2 complex f64) + keyswitch key.
        let n = PARAMETERS.lwe_dimension.0;
        let k1 = PARAMETERS.glwe_dimension.0 + 1;
        let big_n = PARAMETERS.polynomial_size.0;
        let bsk = n * k1 * k1 * PARAMETERS.pbs_level.0 * (big_n / 2) * 16;
        let ksk = k1.saturating_sub(1) * big_n * PARAMETERS.ks_level.0 * (n + 1) * 8;
        bsk + ksk
    }
}

#[cfg(all(test, feature = "client", feature = "server"))]
mod tests {
    use super::*;
    use tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128;

    #[test]
    fn a_server_key_of_other_parameters_is_refused() {
        let other = shortint::ClientKey::new(V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128);
        let key = CompressedServerKey {
            inner: shortint::CompressedServerKey::new(&other),
        };
        let result = CompressedServerKey::from_bytes(&key.to_bytes());
        assert!(
            matches!(result, Err(ModelError::WrongParameters { .. })),
            "{:?}",
            result.err()
        );

        let file = ClientKeyFile { key: other };
        let result = ClientKey::from_bytes(&to_bytes(&file, MAX_CLIENT_KEY_BYTES));
        assert!(matches!(result, Err(ModelError::WrongParameters { .. })), "{result:?}");
    }
}
