//! The one error type of `blindfold-model`.

use thiserror::Error;

/// Everything that can go wrong when importing, compiling, encrypting, evaluating or decrypting.
///
/// Variants carry what a caller needs to answer a user: the HTTP layer maps
/// [`ModelError::Malformed`] to 400, [`ModelError::WrongParameters`] to 422 and
/// [`ModelError::TooLarge`] to 413.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The model file is not what its format says, or is internally inconsistent. The message
    /// starts with the format (see [`crate::compiler::import::import_model`]).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// The model uses something (an objective, a split kind, an operator) Blindfold cannot
    /// evaluate under FHE; the message names it.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A calibration or feature CSV is unusable.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// A feature row cannot be encrypted (wrong length, NaN, out of range).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Bytes that should hold a key or ciphertext could not be decoded at all.
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// A key or ciphertext decoded but does not match the expected parameters or shape.
    #[error("{what} does not match the model's parameters: {detail}")]
    WrongParameters { what: &'static str, detail: String },
    /// A serialized object exceeds its size limit.
    #[error("{what} is too large: {size} bytes, limit {limit}")]
    TooLarge { what: &'static str, size: u64, limit: u64 },
    /// A homomorphic operation would exceed the parameters' degree or noise budget. This is a
    /// bug in the plan, never a property of user input: the compiler checks every plan.
    #[error("noise or degree budget exceeded: {0}")]
    Budget(String),
    /// Decryption produced values that no evaluation of this plan can produce: the result was
    /// computed under another key, or the ciphertext was tampered with.
    #[error("decrypted result is inconsistent: {0}")]
    InconsistentResult(String),
    /// A spec or plan is of a format this version does not understand.
    #[error("unsupported format: {0}")]
    Format(String),
    /// A compilation or an evaluation was stopped before it finished: its caller cancelled it,
    /// or it ran past its time limit. The message says which.
    #[error("stopped: {0}")]
    Interrupted(String),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    /// Says where in a model file a problem is (a tree, an operator): an invalid model's message
    /// starts with `place`, an unsupported feature's ends with it; other errors are unchanged.
    /// What every importer calls around the parts it reads.
    pub fn within(self, place: &str) -> Self {
        match self {
            ModelError::InvalidModel(m) => ModelError::InvalidModel(format!("{place}: {m}")),
            ModelError::Unsupported(m) => ModelError::Unsupported(format!("{m} ({place})")),
            other => other,
        }
    }
}
