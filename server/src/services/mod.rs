//! What the server does, independent of HTTP: accounts and sessions, the model catalogue and the
//! owners' models behind it, the key store, the job queue and the workers that evaluate it. Services read and write
//! through [`crate::store`] and answer with [`ServiceError`]; the routes turn
//! those into HTTP answers in one place (`routes::error`).

pub mod accounts;
pub mod catalogue;
pub mod compile;
pub mod jobs;
pub mod keystore;
pub mod owned_models;
pub mod uploads;
pub mod worker;

use std::collections::BTreeMap;

use blindfold_model::ModelError;

/// Why a service refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such thing, or it belongs to someone else.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state (no key yet, result not ready).
    #[error("{0}")]
    Conflict(String),
    /// Form fields broke rules; each field lists the rules it broke.
    #[error("invalid fields")]
    Validation(BTreeMap<&'static str, Vec<String>>),
    /// Unknown user or wrong password: one answer for both.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// A logged-in user's password, asked again before a change, is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// Too many failed logins for this username.
    #[error("too many failed logins; retry in {retry_after_s} s")]
    Throttled { retry_after_s: u64 },
    /// Too many requests of one kind from one user or address (registrations, pending
    /// predictions, open long polls); worth retrying after `retry_after_s`.
    #[error("{detail}")]
    RateLimited { detail: String, retry_after_s: u64 },
    /// The server is at its bound for this kind of work (key uploads, password hashing);
    /// worth retrying after `retry_after_s`.
    #[error("the server is busy with other {what}; retry in {retry_after_s} s")]
    Busy { what: &'static str, retry_after_s: u64 },
    /// A storage quota of the user would be exceeded; something must be deleted first.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The deployment's own storage for this kind of data is full, whoever asks.
    #[error("{0}")]
    StorageFull(String),
    /// Data a client sent (a key, a row) that the model crate refused.
    #[error(transparent)]
    Rejected(ModelError),
    /// A file a client sent (a model, a CSV) arrived whole but cannot be used; the message says
    /// which file and why.
    #[error("{0}")]
    Unusable(String),
    /// Text the database cannot hold (PostgreSQL refuses NUL characters): a client's bad
    /// input, not the server's failure.
    #[error("{0}")]
    Unstorable(&'static str),
    /// Anything else: a bug or the environment (database, disk). Logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ServiceError {
    pub fn validation(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(field, vec![problem.into()])]))
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(error: sqlx::Error) -> Self {
        // 22021: a byte sequence invalid in the database's encoding, which is what PostgreSQL
        // calls a NUL character in text; 22P05: a character it cannot represent.
        if let sqlx::Error::Database(database) = &error
            && matches!(database.code().as_deref(), Some("22021" | "22P05"))
        {
            return Self::Unstorable("the request contains characters that cannot be stored (such as NUL)");
        }
        Self::Internal(error.into())
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::Internal(anyhow::Error::from(error).context("a blocking task ended abnormally"))
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
