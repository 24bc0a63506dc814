//! What can go wrong in the browser, by kind. Calls and flows answer an [`AppError`]; pages
//! match on its kind where they act on it (a 404 is "no such model", a 401 at login is wrong
//! credentials, a refusal's field rules go under the fields) and show the rest as its one
//! sentence, only when it is rendered.

use crate::client::ApiFailure;

/// A failure of a call to the server, of the crypto worker, or of a flow's own checks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppError {
    /// The server answered with an error, or could not be reached (status 0).
    #[error(transparent)]
    Api(#[from] ApiFailure),
    /// The crypto worker could not start, failed, or refused (no key, a key file of another
    /// parameter set, a result evaluated under another key).
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// The server refused the server key uploaded to it.
    #[error("the server refused the key: {0}")]
    KeyRefused(ApiFailure),
    /// The server stored another key than the one uploaded.
    #[error("the server stored a different key than the one sent")]
    KeyNotStored,
    /// The server holds another key of the user than the one a row was encrypted for.
    #[error(
        "the server now holds another key of yours than the one this row was encrypted for \
         (replaced in another tab or on another device?): try again"
    )]
    KeyReplaced,
    /// This browser's client key changed while a row was encrypted.
    #[error("the key in this browser changed while the row was encrypted (in another tab?): try again")]
    BrowserKeyChanged,
    /// The model's spec changed while a row was encrypted.
    #[error("the model was changed while your row was encrypted: reload the page and try again")]
    ModelChanged,
    /// A stored result was computed for a spec the model no longer has: its digits would be
    /// read with the wrong scale or labels.
    #[error(
        "this prediction was made with an earlier version of the model `{model}`, which has changed \
         since: its result can no longer be read"
    )]
    OutdatedResult { model: String },
    /// The server could not evaluate the model on the row.
    #[error("the server could not evaluate the model: {0}")]
    EvaluationFailed(String),
    /// Something the server or the worker sent could not be read.
    #[error("unreadable {what}: {reason}")]
    Unreadable { what: &'static str, reason: String },
    /// A file chosen in the page could not be read.
    #[error("could not read {what}: {reason}")]
    File { what: &'static str, reason: String },
}

impl AppError {
    /// The server's answer, when the server refused or failed a request.
    pub fn api(&self) -> Option<&ApiFailure> {
        match self {
            AppError::Api(failure) | AppError::KeyRefused(failure) => Some(failure),
            _ => None,
        }
    }

    /// The HTTP status of the server's refusal, when this is one.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|failure| failure.status)
    }

    /// `what` could not be parsed: `reason` says why.
    pub fn unreadable(what: &'static str, reason: impl std::fmt::Display) -> Self {
        AppError::Unreadable {
            what,
            reason: reason.to_string(),
        }
    }
}

/// The crypto worker's failure, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WorkerError(pub String);

impl From<&str> for WorkerError {
    fn from(message: &str) -> Self {
        WorkerError(message.to_owned())
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorBody;

    fn refusal(status: u16, detail: &str) -> ApiFailure {
        ApiFailure {
            status,
            body: ErrorBody {
                error: "refused".into(),
                detail: detail.into(),
                ..ErrorBody::default()
            },
        }
    }

    #[test]
    fn a_refusal_keeps_its_status_and_says_the_servers_words() {
        let error = AppError::from(refusal(404, "no such model"));
        assert_eq!(error.status(), Some(404));
        assert_eq!(error.to_string(), "no such model");
        let refused = AppError::KeyRefused(refusal(413, "the key is too large"));
        assert_eq!(refused.status(), Some(413));
        assert_eq!(refused.to_string(), "the server refused the key: the key is too large");
    }

    #[test]
    fn failures_of_the_browser_have_no_status() {
        let error = AppError::from(WorkerError::from("no client key"));
        assert_eq!(error.status(), None);
        assert_eq!(error.to_string(), "no client key");
        assert_eq!(
            AppError::unreadable("model spec", "expected value").to_string(),
            "unreadable model spec: expected value"
        );
    }
}
