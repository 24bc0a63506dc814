//! The browser's end-to-end flows: set up the user's keys (one key pair for every model), and
//! one private prediction from a row of features to a decrypted answer. Each step reports its progress.

use std::rc::Rc;

use blindfold_api::{KEY_MISMATCH, SPEC_MISMATCH};
use blindfold_model::spec::binding::spec_digest;

use crate::api::{JobInfo, JobStatus, KeyInfo, PredictionBinding, SessionInfo};
use crate::client::{self, UploadProgress};
use crate::crypto::{self, KeyOwner};
use crate::error::{AppError, AppResult};

/// A step of a flow, as shown in the progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    GeneratingKeys,
    UploadingKey,
    ValidatingKey,
    Encrypting,
    Uploading,
    Computing,
    Downloading,
    Decrypting,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::GeneratingKeys => "Generating keys in your browser",
            Stage::UploadingKey => "Uploading the server key",
            Stage::ValidatingKey => "The server is checking the key",
            Stage::Encrypting => "Encrypting your data",
            Stage::Uploading => "Uploading the encrypted data",
            Stage::Computing => "Computing on encrypted data",
            Stage::Downloading => "Downloading the encrypted result",
            Stage::Decrypting => "Decrypting the result",
        }
    }
}

/// Where a flow is: its stage and, when known, how far through it (0 to 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub stage: Stage,
    pub fraction: Option<f64>,
    pub detail: Option<String>,
}

impl Progress {
    fn at(stage: Stage) -> Self {
        Self {
            stage,
            fraction: None,
            detail: None,
        }
    }
}

pub type Reporter = Rc<dyn Fn(Progress)>;

pub use blindfold_model::Prediction;

/// How the pages read a [`Prediction`] against the model's labels.
pub trait PredictionExt {
    /// Where the predicted class is in the model's labels.
    fn class_index(&self, labels: &[String]) -> Option<usize>;
    /// The probability of the predicted class.
    fn confidence(&self, labels: &[String]) -> Option<f64>;
    /// The decision score of the predicted class (classifiers without probabilities).
    fn score(&self, labels: &[String]) -> Option<f64>;
    /// The prediction in a few words: the class and its probability (or score), or the value.
    fn describe(&self, labels: &[String]) -> String;
}

impl PredictionExt for Prediction {
    fn class_index(&self, labels: &[String]) -> Option<usize> {
        let class = self.class.as_ref()?;
        labels.iter().position(|l| l == class)
    }

    fn confidence(&self, labels: &[String]) -> Option<f64> {
        self.probabilities.get(self.class_index(labels)?).copied()
    }

    fn score(&self, labels: &[String]) -> Option<f64> {
        self.scores.get(self.class_index(labels)?).copied()
    }

    fn describe(&self, labels: &[String]) -> String {
        match (&self.class, self.value) {
            (Some(class), _) => match (self.confidence(labels), self.score(labels)) {
                (Some(p), _) => format!("{class} ({:.1}%)", p * 100.0),
                (None, Some(score)) => format!("{class} (score {score:.3})"),
                (None, None) => class.clone(),
            },
            (None, Some(value)) => format!("{value:.3}"),
            _ => "no answer".into(),
        }
    }
}

/// Keys made and uploaded: the user's one key pair, for every model.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySetup {
    pub keygen_ms: f64,
    /// The threads of the worker that generated the keys.
    pub threads: u32,
    pub uploaded_bytes: u32,
    pub info: KeyInfo,
}

fn owner(session: &SessionInfo) -> KeyOwner {
    KeyOwner::new(&session.username)
}

/// The TFHE parameter set a model's client spec encrypts under (`encryption.parameter_set`).
pub fn parameter_set(spec_json: &str) -> AppResult<String> {
    let spec: serde_json::Value = serde_json::from_str(spec_json).map_err(|e| AppError::unreadable("model spec", e))?;
    spec["encryption"]["parameter_set"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| AppError::unreadable("model spec", "it names no parameter set"))
}

/// The user's server key, when this browser holds the client key that belongs to it.
pub async fn ready_key(session: &SessionInfo) -> AppResult<Option<KeyInfo>> {
    let Some(server) = client::key_info().await? else {
        return Ok(None);
    };
    let local = crypto::local_key(&owner(session)).await?;
    Ok(local
        .filter(|l| l.server_key_fingerprint == server.fingerprint)
        .map(|_| server))
}

/// The user's server key, when this browser holds its client key and it serves models of
/// `parameter_set` (every model, today): then any model can be used at once.
pub async fn key_ready_for(session: &SessionInfo, parameter_set: &str) -> AppResult<Option<KeyInfo>> {
    Ok(ready_key(session)
        .await?
        .filter(|key| key.parameter_set == parameter_set))
}

/// Generates the user's key pair in the worker for the parameter set of `spec_json`'s model
/// (which serves every model of that set), keeps the client key in this browser and uploads
/// the compressed server key in place of the user's earlier one.
pub async fn set_up_keys(session: &SessionInfo, spec_json: &str, report: Reporter) -> AppResult<KeySetup> {
    report(Progress {
        stage: Stage::GeneratingKeys,
        fraction: Some(0.0),
        detail: None,
    });
    let on_keygen = {
        let report = report.clone();
        move |fraction: f64| {
            report(Progress {
                stage: Stage::GeneratingKeys,
                fraction: Some(fraction),
                detail: Some(format!("{:.0}%", fraction * 100.0)),
            })
        }
    };
    let keys = crypto::generate_keys(&owner(session), spec_json, on_keygen).await?;
    let total = keys.server_key.length();
    let on_progress = {
        let report = report.clone();
        move |p: UploadProgress| {
            report(Progress {
                stage: Stage::UploadingKey,
                fraction: (p.total > 0.0).then(|| p.sent / p.total),
                detail: Some(format!("{} of {}", megabytes(p.sent), megabytes(p.total))),
            })
        }
    };
    let on_sent = {
        let report = report.clone();
        move || report(Progress::at(Stage::ValidatingKey))
    };
    report(Progress {
        stage: Stage::UploadingKey,
        fraction: Some(0.0),
        detail: Some(format!("0 of {}", megabytes(total as f64))),
    });
    let info = client::upload_key(session, client::blob(&keys.server_key), on_progress, on_sent)
        .await
        .map_err(AppError::KeyRefused)?;
    if info.fingerprint != keys.server_key_fingerprint {
        return Err(AppError::KeyNotStored);
    }
    Ok(KeySetup {
        keygen_ms: keys.keygen_ms,
        threads: keys.threads,
        uploaded_bytes: total,
        info,
    })
}

pub fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1_000_000.0)
}

/// One finished private prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub prediction: Prediction,
    pub job: JobInfo,
    /// Keys made first because none were ready.
    pub keys: Option<KeySetup>,
    /// From the start of encryption to the decrypted answer, and its three parts (encryption
    /// includes the key check that runs beside it).
    pub elapsed_ms: f64,
    pub encrypt_ms: f64,
    pub server_ms: f64,
    pub decrypt_ms: f64,
    /// Checking the keys: the server's answer about its key, which arrives while the row is
    /// encrypted, or the full check (with key generation) when keys were not in place.
    pub check_ms: f64,
}

/// Encrypts `features`, has the server evaluate the model on them and decrypts the answer.
/// Sets up keys first when this browser has none that match the server's (the user's one key
/// serves every model: switching models needs no new keys).
pub async fn predict(
    session: &SessionInfo,
    model: &str,
    spec_json: &str,
    features: &[f64],
    report: Reporter,
) -> AppResult<Outcome> {
    let wanted = parameter_set(spec_json)?;
    let owner = owner(session);
    let mut started = now_ms();
    report(Progress::at(Stage::Encrypting));
    // The usual case, keys in place: encrypt while the server says which key it holds, and
    // send the row only if it was encrypted under the client key of that server key.
    let checking = async {
        let server_key = client::key_info().await;
        (server_key, now_ms() - started)
    };
    let ((server_key, checked_ms), first_try) =
        futures_util::future::join(checking, crypto::encrypt(&owner, spec_json, features)).await;
    let (ciphertext, fingerprint, keys, check_ms) = match (server_key?, first_try) {
        (Some(server), Ok(row))
            if server.fingerprint == row.server_key_fingerprint && server.parameter_set == wanted =>
        {
            (row.ciphertext, row.server_key_fingerprint, None, checked_ms)
        }
        // No key here, another one, or one the server does not hold: the full check, then keys
        // made if needed.
        _ => {
            let checking = now_ms();
            let (server, keys) = match key_ready_for(session, &wanted).await? {
                Some(server) => (server, None),
                None => {
                    let keys = set_up_keys(session, spec_json, report.clone()).await?;
                    (keys.info.clone(), Some(keys))
                }
            };
            let check_ms = now_ms() - checking;
            started = now_ms();
            report(Progress::at(Stage::Encrypting));
            let row = crypto::encrypt(&owner, spec_json, features).await?;
            if row.server_key_fingerprint != server.fingerprint {
                return Err(AppError::BrowserKeyChanged);
            }
            (row.ciphertext, row.server_key_fingerprint, keys, check_ms)
        }
    };
    let encrypted = now_ms();
    report(Progress {
        stage: Stage::Uploading,
        fraction: None,
        detail: Some(format!("{:.1} KB", ciphertext.length() as f64 / 1000.0)),
    });
    let binding = PredictionBinding {
        key_fingerprint: fingerprint,
        spec_sha256: spec_digest(spec_json),
    };
    let mut job = client::submit(session, model, &binding, &ciphertext)
        .await
        .map_err(refusal)?;
    report(Progress::at(Stage::Computing));
    job = wait_for(job).await?;
    let computed = now_ms();
    report(Progress::at(Stage::Downloading));
    let result = client::result(&job.id).await?;
    report(Progress::at(Stage::Decrypting));
    check_bound(&job, &binding.spec_sha256)?;
    let decrypted = crypto::decrypt(&owner, spec_json, &job.key_fingerprint, result).await?;
    let prediction = parse_prediction(&decrypted)?;
    let finished = now_ms();
    Ok(Outcome {
        prediction,
        job,
        keys,
        elapsed_ms: finished - started,
        encrypt_ms: encrypted - started,
        server_ms: computed - encrypted,
        decrypt_ms: finished - computed,
        check_ms,
    })
}

/// Decrypts the result of an earlier job with this browser's key, read with its model's spec:
/// only when the job was evaluated under this browser's key and for the spec the model has now.
pub async fn decrypt_job(session: &SessionInfo, job: &JobInfo) -> AppResult<Prediction> {
    let spec_json = client::spec_json(&job.model_id).await?;
    check_bound(job, &spec_digest(&spec_json))?;
    let result = client::result(&job.id).await?;
    let decrypted = crypto::decrypt(&owner(session), &spec_json, &job.key_fingerprint, result).await?;
    parse_prediction(&decrypted)
}

/// Refuses a result computed for another spec than `spec_sha256` (the model was recompiled):
/// its digits would be read with the wrong scale or labels. (The key is checked by the worker,
/// against the key it holds.)
fn check_bound(job: &JobInfo, spec_sha256: &str) -> AppResult<()> {
    if job.spec_sha256 != spec_sha256 {
        return Err(AppError::OutdatedResult {
            model: job.model_id.clone(),
        });
    }
    Ok(())
}

/// What a refused submission means here.
fn refusal(failure: client::ApiFailure) -> AppError {
    match failure.body.error.as_str() {
        KEY_MISMATCH => AppError::KeyReplaced,
        SPEC_MISMATCH => AppError::ModelChanged,
        _ => AppError::Api(failure),
    }
}

fn parse_prediction(json: &str) -> AppResult<Prediction> {
    serde_json::from_str(json).map_err(|e| AppError::unreadable("prediction", e))
}

/// Waits for the job to finish: the server answers each request the moment it does.
async fn wait_for(mut job: JobInfo) -> AppResult<JobInfo> {
    loop {
        match job.status {
            JobStatus::Done => return Ok(job),
            JobStatus::Failed => {
                return Err(AppError::EvaluationFailed(job.error.unwrap_or_default()));
            }
            JobStatus::Queued | JobStatus::Running => {}
        }
        job = client::job(&job.id, 20).await?;
    }
}

pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(class: Option<&str>, value: Option<f64>) -> Prediction {
        Prediction {
            raw: vec![],
            margins: vec![],
            probabilities: vec![0.25, 0.75],
            scores: vec![],
            class: class.map(Into::into),
            value,
        }
    }

    #[test]
    fn predictions_read_through_the_labels() {
        let labels = ["Benign".to_owned(), "Malignant".to_owned()];
        let malignant = prediction(Some("Malignant"), None);
        assert_eq!(malignant.class_index(&labels), Some(1));
        assert_eq!(malignant.confidence(&labels), Some(0.75));
        assert_eq!(malignant.describe(&labels), "Malignant (75.0%)");
        assert_eq!(prediction(Some("Other"), None).describe(&labels), "Other");
        let scored = Prediction {
            probabilities: vec![],
            scores: vec![-1.5, 1.5],
            ..malignant.clone()
        };
        assert_eq!(scored.confidence(&labels), None);
        assert_eq!(scored.describe(&labels), "Malignant (score 1.500)");
        assert_eq!(prediction(None, Some(1.23456)).describe(&labels), "1.235");
        assert_eq!(prediction(None, None).describe(&labels), "no answer");
    }

    #[test]
    fn the_parameter_set_comes_from_the_spec() {
        let spec = r#"{"encryption": {"parameter_set": "V1_8_X", "scheme": "s"}, "features": []}"#;
        assert_eq!(parameter_set(spec).unwrap(), "V1_8_X");
        assert!(parameter_set(r#"{"encryption": {}}"#).is_err());
        assert!(parameter_set("not json").is_err());
    }
}
