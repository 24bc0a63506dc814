//! The server's integration tests, one binary: the real server on a random port with a fresh
//! data directory (`blindfold_server::testing::TestApp`), driven over HTTP.

mod accounts;
mod api;
mod cluster;
mod crash;
mod edge;
mod fuzz;
mod import_model;
mod jobs;
mod keys;
mod openapi;
mod ops;
mod owners;
mod pages;
mod process;
mod static_files;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use blindfold_api::client::{ApiClient, ClientError};
use blindfold_api::{JobInfo, PredictionBinding};
use blindfold_model::compiler::fixtures::BREAST_CANCER;
use blindfold_model::spec::binding::spec_digest;
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

/// What a row encrypted with `client`'s stored key against `model`'s served spec is bound to,
/// as the server has them now (digits that bind to nothing where there is no key or model).
async fn binding(client: &ApiClient, model: &str) -> PredictionBinding {
    let nothing = || "0".repeat(64);
    PredictionBinding {
        key_fingerprint: client
            .key_info()
            .await
            .map_or_else(|_| nothing(), |key| key.fingerprint),
        spec_sha256: client
            .spec_json(model)
            .await
            .map_or_else(|_| nothing(), |json| spec_digest(&json)),
    }
}

/// Submits a row bound to the key and spec the server holds now (tests of the binding itself
/// call `ApiClient::submit`).
async fn submit_row(client: &ApiClient, model: &str, row: Vec<u8>) -> Result<JobInfo, ClientError> {
    client.submit(model, &binding(client, model).await, row).await
}

/// A private prediction of the default model under the shared keys: encrypt, submit, wait,
/// download, decrypt.
async fn predict(client: &ApiClient, spec: &ClientSpec, row: &[f64]) -> (Prediction, JobInfo) {
    let encrypted = encrypt_row(spec, &KEYS.client, row).unwrap().to_bytes();
    let job = submit_row(client, MODEL, encrypted).await.unwrap();
    let job = client.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
    let result = client.result(&job.id).await.unwrap();
    (decrypt_prediction(spec, &KEYS.client, &result).unwrap(), job)
}

/// Submits the default model's first test row of class 0 under the shared keys; the job's id.
async fn submit(client: &ApiClient) -> String {
    let spec = fetch_spec(client, MODEL).await;
    let (row, _) = &rows_of_each_class()[0];
    let encrypted = encrypt_row(&spec, &KEYS.client, row).unwrap().to_bytes();
    submit_row(client, MODEL, encrypted).await.unwrap().id
}

use blindfold_server::store::db::Backend;
use blindfold_server::testing::{self, database};

/// What the server on `data` stores under `prefix`, by names that mean the same with either
/// database: `keys/<user>/<parameter set>-<fingerprint>.key`, `jobs/<id>.row` and
/// `jobs/<id>.<attempt>.result` (files under the data directory with SQLite, `bytea` columns
/// with PostgreSQL); with files, a temporary file a crash left is listed too. Sorted.
async fn stored(data: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = match testing::backend() {
        Backend::Sqlite => walk(data)
            .into_iter()
            .map(|path| {
                let relative = path.strip_prefix(data).unwrap();
                relative.to_string_lossy().replace('\\', "/")
            })
            .filter(|name| name.starts_with("keys/") || name.starts_with("jobs/"))
            .collect(),
        Backend::Postgres => {
            let db = database(data).await;
            let keys: Vec<(i64, String, String)> =
                sqlx::query_as("SELECT user_id, parameter_set, fingerprint FROM user_keys")
                    .fetch_all(&db)
                    .await
                    .unwrap();
            let jobs: Vec<(String, i64, bool, bool)> =
                sqlx::query_as("SELECT id, attempts, row_bytes IS NOT NULL, result_bytes IS NOT NULL FROM jobs")
                    .fetch_all(&db)
                    .await
                    .unwrap();
            db.close().await;
            let keys = keys
                .into_iter()
                .map(|(user, parameters, fingerprint)| format!("keys/{user}/{parameters}-{fingerprint}.key"));
            let jobs = jobs.into_iter().flat_map(|(id, attempt, row, result)| {
                let row = row.then(|| format!("jobs/{id}.row"));
                let result = result.then(|| format!("jobs/{id}.{attempt}.result"));
                row.into_iter().chain(result)
            });
            keys.chain(jobs).collect()
        }
    };
    names.retain(|name| name.starts_with(prefix));
    names.sort();
    names
}

/// The bytes stored under `name` (one of [`stored`]'s).
async fn read_stored(data: &Path, name: &str) -> Vec<u8> {
    match testing::backend() {
        Backend::Sqlite => std::fs::read(data.join(name)).unwrap(),
        Backend::Postgres => {
            let db = database(data).await;
            let bytes = match name.strip_prefix("keys/") {
                Some(key) => {
                    let fingerprint = key.rsplit_once('-').unwrap().1.trim_end_matches(".key");
                    sqlx::query_scalar("SELECT key_bytes FROM user_keys WHERE fingerprint = $1")
                        .bind(fingerprint)
                        .fetch_one(&db)
                        .await
                        .unwrap()
                }
                None => {
                    let job = name.strip_prefix("jobs/").unwrap().split('.').next().unwrap();
                    let column = if name.ends_with(".row") {
                        "row_bytes"
                    } else {
                        "result_bytes"
                    };
                    sqlx::query_scalar(&format!("SELECT {column} FROM jobs WHERE id = $1"))
                        .bind(job)
                        .fetch_one(&db)
                        .await
                        .unwrap()
                }
            };
            db.close().await;
            bytes
        }
    }
}

/// Flips one bit of a job's stored result, as a failing disk would.
async fn damage_result(data: &Path, job: &str) {
    match testing::backend() {
        Backend::Sqlite => {
            let path = data.join("jobs").join(format!("{job}.1.result"));
            let mut damaged = std::fs::read(&path).unwrap();
            damaged[100] ^= 1;
            std::fs::write(&path, damaged).unwrap();
        }
        Backend::Postgres => {
            let db = database(data).await;
            let mut damaged: Vec<u8> = sqlx::query_scalar("SELECT result_bytes FROM jobs WHERE id = $1")
                .bind(job)
                .fetch_one(&db)
                .await
                .unwrap();
            damaged[100] ^= 1;
            sqlx::query("UPDATE jobs SET result_bytes = $1 WHERE id = $2")
                .bind(damaged)
                .bind(job)
                .execute(&db)
                .await
                .unwrap();
            db.close().await;
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
}
