//! What a prediction is bound to: the server key its row was encrypted for and the client spec
//! it was encrypted against.
//!
//! A result decrypts to the right answer only under the client key whose server key evaluated
//! it, read with the spec whose quantization and decoding the row was encrypted with. Another
//! key decrypts to noise, but noise that may well read as a plausible class; another spec
//! (a recompiled model) reads real digits with the wrong scale or labels. So a submission
//! names both, the server refuses it when either is not the one it holds, every job records
//! them, and a client decrypts a result only when both are its own.
//!
//! Both are SHA-256 digests, written as 64 lower-case hex digits: the server key's of its
//! compressed bytes (its fingerprint), the spec's of its JSON text exactly as the server
//! serves it ([`spec_digest`]), so a client computes it from the bytes it encrypted with and
//! needs to trust no other answer of the server.

use sha2::{Digest, Sha256};

/// The SHA-256 of a client spec's JSON text, in lower-case hex.
///
/// ```
/// let digest = blindfold_model::spec::binding::spec_digest("{}");
/// assert_eq!(digest, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
/// ```
pub fn spec_digest(spec_json: &str) -> String {
    Sha256::digest(spec_json.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_64_lower_case_hex_digits_and_depends_on_every_byte() {
        let spec = r#"{"format_version": 2}"#;
        let digest = spec_digest(spec);
        assert_eq!(digest.len(), 64);
        assert!(digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(digest, spec_digest(&spec.replace(' ', "")));
    }
}
