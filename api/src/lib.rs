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
    MAX_SCATTER_POINTS, ModelCost, ModelDetails, ModelExample, ModelFamily, ModelQuality, ModelReport, ModelState,
    ModelSummary, ModelUpload, Objective, OwnedModel, PasswordChange, PredictionBinding, QualityMeasure, QualityRows,
    Registration, Role, SPEC_MISMATCH, SessionInfo, is_sha256_hex,
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

/// A model's id, checked once where it enters: 1 to [`MAX_MODEL_ID_LEN`] lower-case ASCII
/// letters, digits and dashes, so it is safe in URLs and file names as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelId(String);

impl ModelId {
    /// The id, if `id` is one.
    pub fn parse(id: &str) -> Option<Self> {
        let valid = !id.is_empty()
            && id.len() <= MAX_MODEL_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a form says of an id that is not one.
    pub fn rule() -> String {
        format!("Use 1 to {MAX_MODEL_ID_LEN} lower-case letters, digits and dashes.")
    }
}

impl TryFrom<String> for ModelId {
    type Error = String;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::parse(&id).ok_or_else(|| format!("model id {id:?}: {}", Self::rule()))
    }
}

impl From<ModelId> for String {
    fn from(id: ModelId) -> Self {
        id.0
    }
}

impl std::str::FromStr for ModelId {
    type Err = String;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::try_from(id.to_owned())
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for ModelId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        assert!(ModelId::parse(DEFAULT_MODEL_ID).is_some());
        assert!(ModelId::parse(&"a".repeat(MAX_MODEL_ID_LEN)).is_some());
        for bad in ["", "Upper", "dot.s", "../x", "a b", &"a".repeat(MAX_MODEL_ID_LEN + 1)] {
            assert!(ModelId::parse(bad).is_none(), "{bad:?}");
            assert!(
                serde_json::from_value::<ModelId>(serde_json::json!(bad)).is_err(),
                "{bad:?}"
            );
        }
        let id: ModelId = serde_json::from_value(serde_json::json!("wine")).unwrap();
        assert_eq!(
            (id.as_str(), serde_json::to_string(&id).unwrap().as_str()),
            ("wine", "\"wine\"")
        );
    }
}
