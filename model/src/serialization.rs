//! Size-limited, parameter-checked (de)serialization of keys and ciphertexts, built on
//! `tfhe::safe_serialization`.
//!
//! What the checks catch: bytes that are not a value of the expected type and version (a
//! [`ModelError::Malformed`]), values of the right type built for other parameters or of the
//! wrong shape ([`ModelError::WrongParameters`]), and anything over its size limit
//! ([`ModelError::TooLarge`]). What they cannot catch, as tfhe-rs documents: a well-formed key
//! or ciphertext made under a *different* secret key with the same parameters. Decryption
//! detects most such results as inconsistent (see [`crate::client::decrypt::decrypt_raw`]).

use serde::Serialize;
use serde::de::DeserializeOwned;
use tfhe::conformance::ParameterSetConformant;
use tfhe::named::Named;
use tfhe::safe_serialization::{safe_deserialize, safe_deserialize_conformant, safe_serialize};
use tfhe::{Unversionize, Versionize};

use crate::error::{ModelError, Result};

/// Serializes with tfhe's versioned, size-limited format.
pub(crate) fn to_bytes<T: Serialize + Versionize + Named>(value: &T, limit: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    safe_serialize(value, &mut bytes, limit).expect("values this crate builds stay within their limits");
    bytes
}

/// Deserializes and checks conformance with `parameters`.
pub(crate) fn from_bytes_conformant<T>(
    bytes: &[u8],
    limit: u64,
    what: &'static str,
    parameters: &T::ParameterSet,
) -> Result<T>
where
    T: DeserializeOwned + Unversionize + Named + ParameterSetConformant,
{
    check_size(bytes, limit, what)?;
    guard(what, || {
        safe_deserialize_conformant::<T>(bytes, limit, parameters).map_err(|conformant_error| {
            // Tell "not this type at all" from "this type, other parameters" for the caller.
            match safe_deserialize::<T>(bytes, limit) {
                Ok(_) => ModelError::WrongParameters {
                    what,
                    detail: conformant_error,
                },
                Err(detail) => ModelError::Malformed { what, detail },
            }
        })
    })
}

/// Deserializes a value that has no parameter set of its own (checked by the caller).
#[cfg(feature = "client")]
pub(crate) fn from_bytes<T>(bytes: &[u8], limit: u64, what: &'static str) -> Result<T>
where
    T: DeserializeOwned + Unversionize + Named,
{
    check_size(bytes, limit, what)?;
    guard(what, || {
        safe_deserialize::<T>(bytes, limit).map_err(|detail| ModelError::Malformed { what, detail })
    })
}

/// Untrusted bytes must never bring a server down: should a decoder inside tfhe-rs assert on
/// them instead of returning an error, that becomes a [`ModelError::Malformed`] too.
fn guard<T>(what: &'static str, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|_| {
        Err(ModelError::Malformed {
            what,
            detail: "the decoder rejected the bytes".into(),
        })
    })
}

fn check_size(bytes: &[u8], limit: u64, what: &'static str) -> Result<()> {
    if bytes.len() as u64 > limit {
        return Err(ModelError::TooLarge {
            what,
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(())
}
