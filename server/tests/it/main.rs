//! The server's integration tests, one binary: the real server on a random port with a fresh
//! data directory (`blindfold_server::testing::TestApp`), driven over HTTP.

mod accounts;
mod api;
mod crash;
mod fuzz;
mod import_model;
mod jobs;
mod openapi;
mod ops;
mod pages;
mod process;

use std::sync::LazyLock;
use std::time::Duration;

use blindfold_api::JobInfo;
use blindfold_api::client::{ApiClient, ClientError};
use blindfold_model::fixtures::BREAST_CANCER;
use blindfold_model::{ClientKey, ClientSpec, CompiledModel, Prediction, decrypt_prediction, encrypt_row};
use reqwest::StatusCode;

const MODEL: &str = blindfold_api::DEFAULT_MODEL_ID;

struct Keys {
    client: ClientKey,
    server: Vec<u8>,
}

/// One key pair for all tests: generation is slow and not what these tests are about.
static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let client = ClientKey::generate();
    let server = client.compressed_server_key().to_bytes();
    Keys { client, server }
});

static COMPILED: LazyLock<CompiledModel> = LazyLock::new(|| BREAST_CANCER.compile().unwrap());

/// The status of a call that must fail with an API error.
fn status<T: std::fmt::Debug>(result: Result<T, ClientError>) -> StatusCode {
    result
        .expect_err("the call should fail")
        .status()
        .expect("an API error")
}

/// The first test row of each class (0 malignant, 1 benign).
fn rows_of_each_class() -> Vec<(Vec<f64>, f64)> {
    let (rows, targets) = BREAST_CANCER.test_rows().unwrap();
    [0.0, 1.0]
        .iter()
        .map(|class| {
            let i = targets.iter().position(|t| t == class).unwrap();
            (rows[i].clone(), *class)
        })
        .collect()
}

async fn fetch_spec(client: &ApiClient, model: &str) -> ClientSpec {
    ClientSpec::from_json(&client.spec_json(model).await.unwrap()).unwrap()
}

/// A private prediction of the default model under the shared keys: encrypt, submit, wait,
/// download, decrypt.
async fn predict(client: &ApiClient, spec: &ClientSpec, row: &[f64]) -> (Prediction, JobInfo) {
    let encrypted = encrypt_row(spec, &KEYS.client, row).unwrap().to_bytes();
    let job = client.submit(MODEL, encrypted).await.unwrap();
    let job = client.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
    let result = client.result(&job.id).await.unwrap();
    (decrypt_prediction(spec, &KEYS.client, &result).unwrap(), job)
}

/// Submits the default model's first test row of class 0 under the shared keys; the job's id.
async fn submit(client: &ApiClient) -> String {
    let spec = fetch_spec(client, MODEL).await;
    let (row, _) = &rows_of_each_class()[0];
    let encrypted = encrypt_row(&spec, &KEYS.client, row).unwrap().to_bytes();
    client.submit(MODEL, encrypted).await.unwrap().id
}

/// The server's own SQLite database under `data`, opened beside it: for what the API does not
/// show (attempt counts) and for the states a crash leaves behind.
async fn database(data: &std::path::Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", data.join("blindfold.db").display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}
