//! The client half of a prediction: encrypt, submit, wait, download, decrypt.

use std::time::Duration;

use anyhow::Context;
use blindfold_model::{ClientKey, ClientSpec, Prediction, decrypt_prediction, encrypt_row};

use blindfold_api::client::ApiClient;
use blindfold_api::{JobInfo, JobStatus};

/// The model's client spec from the server, parsed and checked.
pub async fn fetch_spec(client: &ApiClient, model: &str) -> anyhow::Result<ClientSpec> {
    anyhow::ensure!(
        blindfold_api::valid_model_id(model),
        "invalid model id `{model}`: lower-case letters, digits and dashes"
    );
    let json = client.spec_json(model).await?;
    ClientSpec::from_json(&json).with_context(|| format!("the spec of `{model}`"))
}

/// Longest wait for one prediction.
pub const PREDICTION_TIMEOUT: Duration = Duration::from_secs(600);

/// Encrypts `row`, has the server evaluate it and decrypts the answer. `progress` is told
/// each stage: "encrypting", "uploading", the job's status while it waits, "downloading",
/// "decrypting".
pub async fn predict_row(
    client: &ApiClient,
    model: &str,
    spec: &ClientSpec,
    key: &ClientKey,
    row: &[f64],
    mut progress: impl FnMut(&str),
) -> anyhow::Result<(Prediction, JobInfo)> {
    progress("encrypting");
    let encrypted = encrypt_row(spec, key, row)?.to_bytes();
    progress("uploading");
    let job = client.submit(model, encrypted).await?;
    let job = client
        .wait(&job.id, PREDICTION_TIMEOUT, |j| progress(j.status.as_str()))
        .await?;
    if job.status != JobStatus::Done {
        anyhow::bail!(
            "the server could not evaluate the row: {}",
            job.error.clone().unwrap_or_default()
        );
    }
    progress("downloading");
    let result = client.result(&job.id).await?;
    progress("decrypting");
    let prediction = decrypt_prediction(spec, key, &result).context("decrypting the result")?;
    Ok((prediction, job))
}
