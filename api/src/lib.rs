//! # blindfold-api
//!
//! Blindfold's HTTP API as every side of it sees it: the JSON bodies ([`wire`]), the routes
//! ([`paths`]), the session cookie and CSRF header names, what a model id may be, and — behind
//! features — the OpenAPI 3.1 description (`openapi`), `sqlx::FromRow` for the rows the server
//! reads straight into wire types (`sqlx`), and the HTTP client of the CLI and the tests
//! (`client`).
//!
//! Without features the crate is plain serde, so the browser's page bundle uses it as it is.

pub mod paths;
pub mod wire;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "openapi")]
pub mod openapi;

pub use wire::{
    AccountDeletion, CompileProgress, Credentials, ErrorBody, FeatureInfo, JobInfo, JobStatus, KEY_MISMATCH, KeyInfo,
    MAX_SCATTER_POINTS, ModelCost, ModelDetails, ModelExample, ModelQuality, ModelReport, ModelState, ModelSummary,
    ModelUpload, Objective, OwnedModel, PasswordChange, PredictionBinding, QualityMeasure, QualityRows, Registration,
    Role, SPEC_MISMATCH, SessionInfo, is_sha256_hex,
};

/// The session cookie: HttpOnly, SameSite=Lax, holding a random token the server stores hashed.
pub const SESSION_COOKIE: &str = "blindfold_session";

/// The session cookie's name when the server runs with `--secure-cookies` (HTTPS): the
/// `__Host-` prefix makes browsers accept it only with `Secure`, `Path=/` and no `Domain`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-blindfold_session";

/// The header that carries the session's CSRF token on every state-changing request.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The model a fresh server installs, and the one the pages and the CLI start with.
pub const DEFAULT_MODEL_ID: &str = "breast-cancer";

/// Longest model id.
pub const MAX_MODEL_ID_LEN: usize = 64;

/// Model ids appear in URLs and file names: 1 to 64 lower-case ASCII letters, digits and
/// dashes.
pub fn valid_model_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_MODEL_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        assert!(valid_model_id(DEFAULT_MODEL_ID));
        assert!(valid_model_id(&"a".repeat(MAX_MODEL_ID_LEN)));
        for bad in ["", "Upper", "dot.s", "../x", "a b", &"a".repeat(MAX_MODEL_ID_LEN + 1)] {
            assert!(!valid_model_id(bad), "{bad:?}");
        }
    }
}
