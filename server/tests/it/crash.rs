//! Crashes: the real `blindfold-server` binary killed with SIGKILL during a key upload,
//! during a job and while storing a result, then restarted on the same data directory. Every
//! stored key, job and result must be complete and valid or absent, no temporary or orphaned
//! file may remain, and every job must still finish exactly once.
//!
//! Exact instants (after a key is written but before it is recorded, between writing a
//! result's temporary file and renaming it, …) are reached with `BLINDFOLD_CRASH_AT`, which
//! makes the server SIGKILL itself there (`blindfold_server::store::disk::crash_point`).

use std::path::Path;
use std::time::{Duration, Instant};

use blindfold_api::JobStatus;
use blindfold_api::client::ApiClient;
use blindfold_model::decrypt_prediction;
use futures_util::StreamExt;
use reqwest::StatusCode;
use tempfile::TempDir;

use crate::process::{Server, register};
use crate::{COMPILED, KEYS, MODEL, fetch_spec, read_stored, rows_of_each_class, status, stored, submit};

/// The crash points this database passes: with PostgreSQL, bytes are written in their row's
/// transaction, so there are no temporary files to be killed between.
fn reachable<'a>(points: &[&'a str]) -> Vec<&'a str> {
    let files = blindfold_server::testing::backend() == blindfold_server::store::db::Backend::Sqlite;
    points
        .iter()
        .copied()
        .filter(|point| files || !point.starts_with("temporary-written:"))
        .collect()
}

/// Every stored key is the user's, complete: named by its digest, which its bytes match.
async fn assert_keys_consistent(data: &Path, client: &ApiClient) {
    let files = stored(data, "keys/").await;
    match client.key_info().await {
        Ok(info) => {
            assert_eq!(files.len(), 1, "{files:?}");
            assert!(files[0].ends_with(&format!("/{}-{}.key", info.parameter_set, info.fingerprint)));
            assert_eq!(read_stored(data, &files[0]).await, KEYS.server);
        }
        Err(error) => {
            assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
            assert!(files.is_empty(), "{files:?}");
        }
    }
}

#[tokio::test]
async fn a_key_upload_killed_midway_leaves_no_key_and_no_file() {
    let data = TempDir::new().unwrap();
    let server = Server::start(data.path(), 1, None).await;
    let session = register(&server).await;

    // Killed while the key is still arriving.
    let half = KEYS.server[..KEYS.server.len() / 2].to_vec();
    let body =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(half) }).chain(futures_util::stream::pending());
    let upload = tokio::spawn(
        reqwest::Client::new()
            .put(format!("{}{}", server.base, blindfold_api::paths::KEY.to_owned()))
            .header("cookie", format!("{}={}", blindfold_api::SESSION_COOKIE, session.token))
            .header(blindfold_api::CSRF_HEADER, &session.csrf_token)
            .body(reqwest::Body::wrap_stream(body))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    assert!(upload.await.unwrap().is_err(), "the connection died with the server");
    let server = Server::start(data.path(), 1, None).await;
    assert_keys_consistent(data.path(), &server.client(Some(session.clone()))).await;
    server.kill();

    // Killed after the key file is durable but before the database records it, and after a
    // temporary file is written but before it is renamed.
    for point in reachable(&["key-stored", "temporary-written:key"]) {
        let server = Server::start(data.path(), 1, Some(point)).await;
        let client = server.client(Some(session.clone()));
        assert!(client.upload_key(KEYS.server.clone()).await.is_err());
        server.crashed().await;
        let server = Server::start(data.path(), 1, None).await;
        let client = server.client(Some(session.clone()));
        assert_keys_consistent(data.path(), &client).await;
        assert_eq!(status(client.key_info().await), StatusCode::NOT_FOUND);
        server.kill();
    }

    // And a key stored afterwards is whole.
    let server = Server::start(data.path(), 1, None).await;
    let client = server.client(Some(session));
    client.upload_key(KEYS.server.clone()).await.unwrap();
    assert_keys_consistent(data.path(), &client).await;
    server.kill();
}

/// The job finished once, done, with a result that decrypts to the clear quantized model's
/// output; no row or temporary file left.
async fn assert_done_exactly(data: &Path, client: &ApiClient, id: &str) {
    let job = client.wait(id, Duration::from_secs(120), |_| {}).await.unwrap();
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    let spec = fetch_spec(client, MODEL).await;
    let result = client.result(id).await.unwrap();
    let (row, _) = &rows_of_each_class()[0];
    let expected = COMPILED.quantized.raw_outputs(&spec.quantize_row(row).unwrap());
    assert_eq!(decrypt_prediction(&spec, &KEYS.client, &result).unwrap().raw, expected);
    let files: Vec<String> = stored(data, "jobs/")
        .await
        .into_iter()
        .filter(|f| f.starts_with(&format!("jobs/{id}")) || f.ends_with(".tmp"))
        .collect();
    // The result of the attempt that finished it (the second: the first was killed).
    assert_eq!(files, [format!("jobs/{id}.2.result")]);
}

#[tokio::test]
async fn jobs_killed_while_running_or_storing_their_result_finish_exactly_once() {
    let data = TempDir::new().unwrap();
    let server = Server::start(data.path(), 1, None).await;
    let session = register(&server).await;
    let client = server.client(Some(session.clone()));
    client.upload_key(KEYS.server.clone()).await.unwrap();

    // Killed while the job runs.
    let id = submit(&client).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.job(&id).await.unwrap().status != JobStatus::Running {
        assert!(Instant::now() < deadline, "never seen running");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    let server = Server::start(data.path(), 1, None).await;
    assert_done_exactly(data.path(), &server.client(Some(session.clone())), &id).await;
    server.kill();

    // Killed after the result's temporary file is written, and after the result is stored
    // but before the job is marked done. (With PostgreSQL one update stores the result and
    // marks the job done, so `result-stored` is just before it: the evaluation is lost and
    // done again.) Submitted to a server without workers first, so the crash cannot cut the
    // submission's own answer short.
    for point in reachable(&["temporary-written:result", "result-stored"]) {
        let server = Server::start(data.path(), 0, None).await;
        let id = submit(&server.client(Some(session.clone()))).await;
        server.kill();
        Server::start(data.path(), 1, Some(point)).await.crashed().await;
        let server = Server::start(data.path(), 1, None).await;
        assert_done_exactly(data.path(), &server.client(Some(session.clone())), &id).await;
        server.kill();
    }

    // Every job finished, each after as many starts as it was killed in, plus one.
    let db = crate::database(data.path()).await;
    let attempts: Vec<(String, i64)> = sqlx::query_as("SELECT status, attempts FROM jobs ORDER BY created_at")
        .fetch_all(&db)
        .await
        .unwrap();
    let killed = 1 + reachable(&["temporary-written:result", "result-stored"]).len();
    assert_eq!(attempts, vec![("done".to_owned(), 2); killed]);
    db.close().await;
}

#[tokio::test]
async fn a_job_that_crashes_the_server_every_time_fails_after_three_attempts() {
    let data = TempDir::new().unwrap();
    let server = Server::start(data.path(), 0, None).await;
    let session = register(&server).await;
    let client = server.client(Some(session.clone()));
    client.upload_key(KEYS.server.clone()).await.unwrap();
    let id = submit(&client).await;
    server.kill();

    // Each start takes the job up again and dies with it.
    for _ in 0..3 {
        Server::start(data.path(), 1, Some("job-started")).await.crashed().await;
    }
    // The fourth start fails it instead, and stays up.
    let server = Server::start(data.path(), 1, Some("job-started")).await;
    let client = server.client(Some(session));
    // At once with SQLite (its one process owns every job); with PostgreSQL once the last
    // attempt's lease has run out, since another process might still be running it.
    let job = client.wait(&id, Duration::from_secs(20), |_| {}).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.error.unwrap().contains("interrupted 3 times"));
    assert!(stored(data.path(), "jobs/").await.is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.whoami().await.unwrap(), "alice");
    server.kill();
}
