//! The JSON of Blindfold's HTTP API, shared by the server (which writes it) and the browser app
//! (which reads it). Nothing here is secret: the client key never crosses the API.

use serde::{Deserialize, Serialize};

/// The logged-in user as a client sees it, with the CSRF token its state-changing requests
/// must carry in `X-CSRF-Token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub username: String,
    pub csrf_token: String,
}

/// The session of a page request, resolved by the server from the session cookie and placed
/// in the request's extensions before the app renders (`None`: nobody is logged in).
#[derive(Debug, Clone, Default)]
pub struct RequestSession(pub Option<SessionInfo>);

/// A model in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub id: String,
    pub name: String,
    /// Class labels in the model's order; empty for a regression model.
    pub labels: Vec<String>,
    /// Number of input features.
    pub features: usize,
    /// The learning task as the model crate names it (`binary_logistic`, ...).
    pub objective: serde_json::Value,
    /// Sample rows a user can start from (public data, e.g. from the model's test set).
    #[serde(default)]
    pub examples: Vec<ModelExample>,
}

/// A labelled sample row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelExample {
    pub label: String,
    pub features: Vec<f64>,
}

/// A stored server key (the public evaluation key) of one user for one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct KeyInfo {
    pub size_bytes: i64,
    /// SHA-256 of the compressed key bytes, hex.
    pub fingerprint: String,
    /// Milliseconds since the Unix epoch.
    pub uploaded_at: i64,
}

/// A prediction job. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct JobInfo {
    pub id: String,
    pub model_id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub input_bytes: i64,
    /// Programmable bootstraps the evaluation ran.
    pub bootstraps: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl JobInfo {
    /// Seconds from submission to the result, once finished.
    pub fn duration_s(&self) -> Option<f64> {
        self.finished_at.map(|end| (end - self.created_at) as f64 / 1000.0)
    }
}

/// An error answer of the API: `error` is a stable code, `detail` a sentence for people, and
/// `fields` the rules each form field broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorBody {
    pub error: String,
    pub detail: String,
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, Vec<String>>,
}
