//! The client half of a prediction: encrypt, submit, wait, download, decrypt.

use std::time::Duration;

use anyhow::Context;
use blindfold_model::spec::binding::spec_digest;
use blindfold_model::{ClientKey, ClientSpec, Prediction, decrypt_prediction, encrypt_row};

use blindfold_api::client::{ApiClient, ClientError};
use blindfold_api::{JobInfo, JobStatus, KEY_MISMATCH, PredictionBinding, SPEC_MISMATCH};

/// A model's client spec as the server served it: parsed and checked, with the digest of the
/// very text parsed, which rows encrypted with it are bound to.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedSpec {
    pub spec: ClientSpec,
    pub sha256: String,
}

impl ServedSpec {
    /// What a row encrypted with this spec under the client key of the server key
    /// `key_fingerprint` is bound to.
    pub fn binding(&self, key_fingerprint: &str) -> PredictionBinding {
        PredictionBinding {
            key_fingerprint: key_fingerprint.to_owned(),
            spec_sha256: self.sha256.clone(),
        }
    }
}

/// The model's client spec from the server, parsed and checked.
pub async fn fetch_spec(client: &ApiClient, model: &str) -> anyhow::Result<ServedSpec> {
    anyhow::ensure!(
        blindfold_api::ModelId::parse(model).is_some(),
        "invalid model id `{model}`: lower-case letters, digits and dashes"
    );
    let json = client.spec_json(model).await?;
    let spec = ClientSpec::from_json(&json).with_context(|| format!("the spec of `{model}`"))?;
    Ok(ServedSpec {
        spec,
        sha256: spec_digest(&json),
    })
}

/// Longest wait for one prediction.
pub const PREDICTION_TIMEOUT: Duration = Duration::from_secs(600);

/// Encrypts `row` with `spec` under `key`, has the server evaluate it and decrypts the answer.
/// `binding` names the server key made with `key` and the spec's digest: the server refuses the
/// row unless they are what it holds, and the answer is decrypted only when the job says it
/// was evaluated for both. `progress` is told each stage: "encrypting", "uploading", the job's
/// status while it waits, "downloading", "decrypting".
pub async fn predict_row(
    client: &ApiClient,
    model: &str,
    spec: &ClientSpec,
    binding: &PredictionBinding,
    key: &ClientKey,
    row: &[f64],
    mut progress: impl FnMut(&str),
) -> anyhow::Result<(Prediction, JobInfo)> {
    progress("encrypting");
    let encrypted = encrypt_row(spec, key, row)?.to_bytes();
    progress("uploading");
    let job = client
        .submit(model, binding, encrypted)
        .await
        .map_err(|error| explain_refusal(error, model))?;
    let job = client
        .wait(&job.id, PREDICTION_TIMEOUT, |j| progress(j.status.as_str()))
        .await?;
    if job.status != JobStatus::Done {
        anyhow::bail!(
            "the server could not evaluate the row: {}",
            job.error.clone().unwrap_or_default()
        );
    }
    check_bound(&job, binding)?;
    progress("downloading");
    let result = client.result(&job.id).await?;
    progress("decrypting");
    let prediction = decrypt_prediction(spec, key, &result).context("decrypting the result")?;
    Ok((prediction, job))
}

/// Refuses to decrypt the result of a job evaluated for another key or spec than `binding`'s:
/// it would decrypt to noise that may read as a plausible answer.
pub fn check_bound(job: &JobInfo, binding: &PredictionBinding) -> anyhow::Result<()> {
    anyhow::ensure!(
        job.key_fingerprint == binding.key_fingerprint,
        "prediction {} was evaluated under server key {}…, not this machine's ({}…): not decrypting it",
        job.id,
        job.key_fingerprint.get(..16).unwrap_or(&job.key_fingerprint),
        binding.key_fingerprint.get(..16).unwrap_or(&binding.key_fingerprint),
    );
    anyhow::ensure!(
        job.spec_sha256 == binding.spec_sha256,
        "prediction {} was made for another version of the model than the spec this machine read: \
         not decrypting it",
        job.id
    );
    Ok(())
}

/// What a refused submission means for the user of the command line.
fn explain_refusal(error: ClientError, model: &str) -> anyhow::Error {
    let code = match &error {
        ClientError::Api { body, .. } => body.error.as_str(),
        _ => "",
    };
    let advice = match code {
        KEY_MISMATCH => {
            "the server now holds another key of yours than the one this row was encrypted for \
                         (uploaded from a browser or another machine?): run `blindfold upload-key` to use \
                         this machine's again"
        }
        SPEC_MISMATCH => &format!("the model `{model}` changed while the row was encrypted: run the command again"),
        _ => return error.into(),
    };
    anyhow::Error::new(error).context(advice.to_owned())
}
