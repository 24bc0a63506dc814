//! The job queue and key store under pressure: quotas, round-robin fairness, bounded long
//! polls, retention and deletion, leases, parallel key uploads, upload slots and timeouts.

use std::time::{Duration, Instant};

use blindfold_api::client::ApiClient;
use blindfold_api::{CSRF_HEADER, JobStatus, PredictionBinding, SESSION_COOKIE, paths};
use blindfold_model::spec::binding::spec_digest;
use blindfold_model::{ClientKey, encrypt_row};
use blindfold_server::testing::TestApp;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use tempfile::TempDir;

use crate::{
    COMPILED, KEYS, MODEL, damage_result, fetch_spec, predict, rows_of_each_class, status, stored, submit_row,
};

/// A request with the client's session cookie and CSRF token, for what the API client does
/// not expose (headers, streaming bodies).
fn authed(app: &TestApp, client: &ApiClient, method: Method, path: &str) -> reqwest::RequestBuilder {
    let session = client.session().expect("logged in");
    reqwest::Client::new()
        .request(method, app.url(path))
        .header("cookie", format!("{SESSION_COOKIE}={}", session.token))
        .header(CSRF_HEADER, &session.csrf_token)
}

/// The default model's first test row, encrypted under the shared keys.
async fn encrypted_row(client: &ApiClient) -> Vec<u8> {
    let spec = fetch_spec(client, MODEL).await;
    let (row, _) = &rows_of_each_class()[0];
    encrypt_row(&spec, &KEYS.client, row).unwrap().to_bytes()
}

#[tokio::test]
async fn pending_predictions_are_capped_per_user() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.workers = 0;
        s.max_pending_per_user = 3;
    })
    .await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    for client in [&alice, &bob] {
        client.upload_key(KEYS.server.clone()).await.unwrap();
    }
    let row = encrypted_row(&alice).await;
    for _ in 0..3 {
        submit_row(&alice, MODEL, row.clone()).await.unwrap();
    }
    let bound = paths::model_predictions_bound(MODEL, &crate::binding(&alice, MODEL).await);
    let refused = authed(&app, &alice, Method::POST, &bound)
        .body(row.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: blindfold_api::ErrorBody = refused.json().await.unwrap();
    assert_eq!(body.error, "rate_limited");
    // Parallel submissions cannot slip past the count together.
    let results = futures_util::future::join_all((0..6).map(|_| submit_row(&bob, MODEL, row.clone()))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    assert_eq!(alice.jobs().await.unwrap().len(), 3);
    // Clearing the queue frees the quota.
    alice.clear_predictions().await.unwrap();
    submit_row(&alice, MODEL, row).await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_long_queue_does_not_delay_another_users_prediction() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 1).await;
    let (flooder, other) = (app.user("flooder").await, app.user("other").await);
    for client in [&flooder, &other] {
        client.upload_key(KEYS.server.clone()).await.unwrap();
    }
    let row = encrypted_row(&flooder).await;
    for _ in 0..12 {
        submit_row(&flooder, MODEL, row.clone()).await.unwrap();
    }
    let spec = fetch_spec(&other, MODEL).await;
    let (row, _) = &rows_of_each_class()[1];
    let (prediction, job) = predict(&other, &spec, row).await;
    assert_eq!(
        prediction.raw,
        COMPILED.quantized.raw_outputs(&spec.quantize_row(row).unwrap())
    );
    // Round robin: the other user's job started right after the job in hand (and at most
    // one more, depending on when it arrived), not after the whole queue.
    let flooded = flooder.jobs().await.unwrap();
    let finished_before = flooded
        .iter()
        .filter(|j| j.finished_at.is_some_and(|f| f <= job.finished_at.unwrap()))
        .count();
    assert!(
        finished_before <= 2,
        "{finished_before} of the flooder's jobs finished before the other user's"
    );
    flooder.clear_predictions().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn long_polls_are_bounded_per_user() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.workers = 0;
        s.max_waits_per_user = 2;
    })
    .await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    alice.upload_key(KEYS.server.clone()).await.unwrap();
    let job = submit_row(&alice, MODEL, encrypted_row(&alice).await).await.unwrap();
    let waiting = |wait_s| authed(&app, &alice, Method::GET, &paths::prediction_waiting(&job.id, wait_s)).send();
    let (first, second) = (tokio::spawn(waiting(6)), tokio::spawn(waiting(6)));
    // Time for both to be open on the server, even on a busy machine.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let third = waiting(3).await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    // An answer without waiting is not a long poll, and other users have their own slots.
    assert_eq!(waiting(0).await.unwrap().status(), StatusCode::OK);
    let other = authed(&app, &bob, Method::GET, &paths::prediction_waiting(&job.id, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    for waited in [first, second] {
        let waited = waited.await.unwrap().unwrap();
        assert_eq!(waited.status(), StatusCode::OK);
    }
    // The slots are free again.
    assert_eq!(waiting(1).await.unwrap().status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn rows_go_once_evaluated_and_results_after_the_retention_time() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.workers = 1;
        s.result_retention_days = 4.0 / 86_400.0;
        s.job_lease_s = 3;
    })
    .await;
    let client = app.user("alice").await;
    client.upload_key(KEYS.server.clone()).await.unwrap();
    let job = submit_row(&client, MODEL, encrypted_row(&client).await).await.unwrap();
    let job = client.wait(&job.id, Duration::from_secs(60), |_| {}).await.unwrap();
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(stored(dir.path(), "jobs/").await, [format!("jobs/{}.1.result", job.id)]);
    client.result(&job.id).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.job(&job.id).await.is_ok() {
        assert!(Instant::now() < deadline, "the result outlived its retention");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status(client.result(&job.id).await), StatusCode::NOT_FOUND);
    assert!(stored(dir.path(), "jobs/").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn users_delete_predictions_and_clear_their_history() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 1).await;
    let (alice, mallory) = (app.user("alice").await, app.user("mallory").await);
    alice.upload_key(KEYS.server.clone()).await.unwrap();
    let row = encrypted_row(&alice).await;
    let first = submit_row(&alice, MODEL, row.clone()).await.unwrap();
    // Deleting a running prediction waits for it to finish.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = alice.job(&first.id).await.unwrap();
        if job.status == JobStatus::Running {
            assert_eq!(status(alice.delete_prediction(&first.id).await), StatusCode::CONFLICT);
            break;
        }
        assert!(!job.status.is_finished(), "never seen running");
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = alice.wait(&first.id, Duration::from_secs(60), |_| {}).await.unwrap();
    assert_eq!(
        status(mallory.delete_prediction(&first.id).await),
        StatusCode::NOT_FOUND
    );
    alice.delete_prediction(&first.id).await.unwrap();
    assert_eq!(status(alice.job(&first.id).await), StatusCode::NOT_FOUND);
    assert_eq!(status(alice.delete_prediction(&first.id).await), StatusCode::NOT_FOUND);

    let second = submit_row(&alice, MODEL, row.clone()).await.unwrap();
    alice.wait(&second.id, Duration::from_secs(60), |_| {}).await.unwrap();
    // A result whose bytes no longer match their digest is never served: the job fails.
    damage_result(dir.path(), &second.id).await;
    assert_eq!(status(alice.result(&second.id).await), StatusCode::CONFLICT);
    assert_eq!(alice.job(&second.id).await.unwrap().status, JobStatus::Failed);
    mallory.clear_predictions().await.unwrap();
    assert_eq!(
        alice.jobs().await.unwrap().len(),
        1,
        "another user's clearing is their own"
    );
    alice.clear_predictions().await.unwrap();
    assert!(alice.jobs().await.unwrap().is_empty());
    assert!(stored(dir.path(), "jobs/").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn parallel_key_uploads_leave_exactly_one_file() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.workers = 0;
        s.max_key_uploads_per_user = 2;
    })
    .await;
    let client = app.user("alice").await;
    let other_key = ClientKey::generate().compressed_server_key().to_bytes();
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            client.upload_key(KEYS.server.clone()),
            client.upload_key(other_key.clone())
        );
        a.unwrap();
        b.unwrap();
        let info = client.key_info().await.unwrap();
        let keys = stored(dir.path(), "keys/").await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(
            keys[0].ends_with(&format!("/{}-{}.key", info.parameter_set, info.fingerprint)),
            "{keys:?}"
        );
    }
    client.delete_key().await.unwrap();
    assert!(stored(dir.path(), "keys/").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_deployments_key_storage_is_bounded_and_a_full_store_answers_507() {
    let dir = TempDir::new().unwrap();
    let key_mib = (KEYS.server.len() as u64).div_ceil(1 << 20);
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.workers = 0;
        s.max_total_key_storage_mib = key_mib + key_mib / 2;
    })
    .await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    alice.upload_key(KEYS.server.clone()).await.unwrap();
    // Refused from the declared length, before the key crosses the network.
    let full = authed(&app, &bob, Method::PUT, paths::KEY)
        .body(KEYS.server.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: blindfold_api::ErrorBody = full.json().await.unwrap();
    assert_eq!(body.error, "storage_full");
    assert!(body.detail.contains("storage for keys is full"), "{}", body.detail);
    assert_eq!(stored(dir.path(), "keys/").await.len(), 1);
    // Replacing one's own key frees what it takes: allowed.
    alice.upload_key(KEYS.server.clone()).await.unwrap();
    // Space freed by a deletion is there for others.
    alice.delete_key().await.unwrap();
    bob.upload_key(KEYS.server.clone()).await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn key_storage_is_capped_per_user() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.max_key_storage_mib = 16).await;
    let client = app.user("alice").await;
    let refused = authed(&app, &client, Method::PUT, paths::KEY)
        .body(KEYS.server.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: blindfold_api::ErrorBody = refused.json().await.unwrap();
    assert_eq!(body.error, "quota_exceeded");
    assert!(body.detail.contains("16 MiB"), "{}", body.detail);
    assert!(stored(dir.path(), "keys/").await.is_empty());
    app.stop().await;
}

/// A key upload that sends its first KiB and then nothing.
fn stalled_key_upload(
    app: &TestApp,
    client: &ApiClient,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let first_chunk = KEYS.server[..1024].to_vec();
    let stalled = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first_chunk) })
        .chain(futures_util::stream::pending());
    tokio::spawn(
        authed(app, client, Method::PUT, paths::KEY)
            .body(reqwest::Body::wrap_stream(stalled))
            .send(),
    )
}

#[tokio::test]
async fn key_uploads_are_bounded_in_number_and_time_and_shared_between_users() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.max_key_uploads = 2;
        s.upload_timeout_s = 4;
    })
    .await;
    let (alice, bob, carol) = (app.user("alice").await, app.user("bob").await, app.user("carol").await);
    // Alice stalls two uploads: the second is refused (her share is one), not queued.
    let slow = stalled_key_upload(&app, &alice);
    // Time for it to take its slot, even on a busy machine.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = stalled_key_upload(&app, &alice).await.unwrap().unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers().contains_key("retry-after"));
    let body: blindfold_api::ErrorBody = second.json().await.unwrap();
    assert!(body.detail.contains("one account"), "{}", body.detail);
    // So another user's upload goes through while hers hangs.
    bob.upload_key(KEYS.server.clone()).await.unwrap();
    // With every slot held (Alice's, Carol's stalled one), a fourth user waits: 503.
    let carols = stalled_key_upload(&app, &carol);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let dave = app.user("dave").await;
    let busy = authed(&app, &dave, Method::PUT, paths::KEY)
        .body(KEYS.server.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.headers().contains_key("retry-after"));
    let started = Instant::now();
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(carols.await.unwrap().unwrap().status(), StatusCode::REQUEST_TIMEOUT);
    // The slots are free again.
    alice.upload_key(KEYS.server.clone()).await.unwrap();
    assert_eq!(stored(dir.path(), "keys/").await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_upload_slower_than_the_minimum_rate_is_cut_before_its_timeout() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.body_grace_s = 1;
        s.body_min_rate_kib = 16;
    })
    .await;
    let alice = app.user("alice").await;
    // 1 KiB every 200 ms: 5 KiB/s, a third of the rate, far inside the 120 s upload timeout.
    let trickle = futures_util::stream::unfold(0usize, |at| async move {
        if at >= KEYS.server.len() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let end = (at + 1024).min(KEYS.server.len());
        Some((Ok::<_, std::io::Error>(KEYS.server[at..end].to_vec()), end))
    });
    let started = Instant::now();
    let cut = authed(&app, &alice, Method::PUT, paths::KEY)
        .body(reqwest::Body::wrap_stream(trickle))
        .send()
        .await
        .unwrap();
    assert_eq!(cut.status(), StatusCode::REQUEST_TIMEOUT);
    let body: blindfold_api::ErrorBody = cut.json().await.unwrap();
    assert!(body.detail.contains("too slowly"), "{}", body.detail);
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    // Its slot is free: a fast upload of the same user goes through.
    alice.upload_key(KEYS.server.clone()).await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn abandoned_jobs_are_queued_again_or_failed_without_a_restart() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.workers = 0;
        s.job_lease_s = 3;
    })
    .await;
    let client = app.user("alice").await;
    client.upload_key(KEYS.server.clone()).await.unwrap();
    let row = encrypted_row(&client).await;
    let (first, second) = (
        submit_row(&client, MODEL, row.clone()).await.unwrap(),
        submit_row(&client, MODEL, row).await.unwrap(),
    );
    // Both started by a worker that then died (its process, say) without renewing its lease:
    // the first on its first attempt, the second on its last.
    let db = crate::database(dir.path()).await;
    for (job, attempts) in [(&first, 1), (&second, 3)] {
        sqlx::query("UPDATE jobs SET status = 'running', attempts = $1, lease_until = 1 WHERE id = $2")
            .bind(attempts)
            .bind(&job.id)
            .execute(&db)
            .await
            .unwrap();
    }
    db.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (first, second) = (
            client.job(&first.id).await.unwrap(),
            client.job(&second.id).await.unwrap(),
        );
        if first.status == JobStatus::Queued && second.status == JobStatus::Failed {
            assert!(second.error.unwrap().contains("interrupted 3 times"));
            break;
        }
        assert!(Instant::now() < deadline, "{:?} {:?}", first.status, second.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The failed job's row is gone; the queued one's is kept for its next attempt.
    assert_eq!(stored(dir.path(), "jobs/").await, [format!("jobs/{}.row", first.id)]);
    app.stop().await;
}

#[tokio::test]
async fn the_data_directory_is_the_servers_alone() {
    if blindfold_server::testing::backend() != blindfold_server::store::db::Backend::Sqlite {
        return; // With PostgreSQL nothing is stored in files.
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let app = TestApp::spawn(&data, 1).await;
    let client = app.user("alice").await;
    client.upload_key(KEYS.server.clone()).await.unwrap();
    let spec = fetch_spec(&client, MODEL).await;
    let (row, _) = &rows_of_each_class()[0];
    predict(&client, &spec, row).await;
    app.stop().await;
    let mut seen = (0, 0);
    let mut pending = vec![data.clone()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::metadata(&path).unwrap();
        let mode = metadata.permissions().mode() & 0o777;
        if metadata.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            seen.0 += 1;
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
            seen.1 += 1;
        }
    }
    // data/, keys/, keys/<user>/, jobs/; the database, a key and a result at least.
    assert!(seen.0 >= 4 && seen.1 >= 3, "{seen:?}");
}

#[tokio::test]
async fn a_key_no_prediction_uses_is_deleted_after_its_retention_and_use_extends_it() {
    let dir = TempDir::new().unwrap();
    // About 6 s.
    let retention_days = 6.0 / 86_400.0;
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.workers = 0;
        s.key_retention_days = retention_days;
    })
    .await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let uploaded = alice.upload_key(KEYS.server.clone()).await.unwrap();
    let expires_at = uploaded.expires_at.expect("a retention is set");
    assert!((expires_at - uploaded.uploaded_at - 6000).abs() < 5, "{uploaded:?}");
    assert_eq!(alice.key_info().await.unwrap().expires_at, Some(expires_at));
    bob.upload_key(KEYS.server.clone()).await.unwrap();
    // Bob uses his key three seconds on (the row made before, so that only the submission
    // falls in the wait); Alice does not.
    let row = encrypted_row(&bob).await;
    let binding = crate::binding(&bob, MODEL).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    bob.submit(MODEL, &binding, row).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(status(alice.key_info().await), StatusCode::NOT_FOUND);
    let kept = bob.key_info().await.unwrap();
    assert!(kept.expires_at.unwrap() > expires_at + 1500, "{kept:?}");
    let keys = stored(dir.path(), "keys/").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    app.stop().await;
}

/// The answer of a submission that must be refused: its status and error code.
fn refusal(result: Result<blindfold_api::JobInfo, blindfold_api::client::ClientError>) -> (StatusCode, String) {
    match result.expect_err("the submission should be refused") {
        blindfold_api::client::ClientError::Api { status, body } => (status, body.error),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn a_row_is_evaluated_only_under_the_key_and_spec_it_was_encrypted_for() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let alice = app.user("alice").await;
    let key = alice.upload_key(KEYS.server.clone()).await.unwrap();
    let spec_json = alice.spec_json(MODEL).await.unwrap();
    let bound = PredictionBinding {
        key_fingerprint: key.fingerprint.clone(),
        spec_sha256: spec_digest(&spec_json),
    };
    let row = encrypted_row(&alice).await;

    // Unbound, or bound by something that is not a digest: 400.
    let unbound = authed(&app, &alice, Method::POST, &paths::model_predictions(MODEL))
        .body(row.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unbound.status(), StatusCode::BAD_REQUEST);
    let malformed = PredictionBinding {
        key_fingerprint: key.fingerprint.to_uppercase(),
        ..bound.clone()
    };
    assert_eq!(
        refusal(alice.submit(MODEL, &malformed, row.clone()).await),
        (StatusCode::BAD_REQUEST, "bad_request".to_owned())
    );
    // Encrypted for a key the server does not hold for Alice (another of her keys, replaced
    // since), or against a spec the model does not have (recompiled since): 409 with a code.
    let other_key = PredictionBinding {
        key_fingerprint: fingerprint_of(b"another key"),
        ..bound.clone()
    };
    assert_eq!(
        refusal(alice.submit(MODEL, &other_key, row.clone()).await),
        (StatusCode::CONFLICT, blindfold_api::KEY_MISMATCH.to_owned())
    );
    let other_spec = PredictionBinding {
        spec_sha256: spec_digest(&format!("{spec_json}\n")),
        ..bound.clone()
    };
    assert_eq!(
        refusal(alice.submit(MODEL, &other_spec, row.clone()).await),
        (StatusCode::CONFLICT, blindfold_api::SPEC_MISMATCH.to_owned())
    );
    assert!(alice.jobs().await.unwrap().is_empty(), "nothing refused was queued");

    // Bound right: queued, and the job records both (in the list too).
    let queued = alice.submit(MODEL, &bound, row.clone()).await.unwrap();
    assert_eq!(
        (queued.key_fingerprint.as_str(), queued.spec_sha256.as_str()),
        (bound.key_fingerprint.as_str(), bound.spec_sha256.as_str())
    );
    assert_eq!(alice.jobs().await.unwrap(), vec![queued.clone()]);
    let session = alice.session().cloned();
    app.stop().await;

    // The model changes while the row waits: the worker refuses to evaluate it under a plan
    // whose levels mean other values than those the row was encrypted with.
    let db = crate::database(dir.path()).await;
    sqlx::query("UPDATE models SET spec_json = spec_json || ' ', version = version + 1 WHERE id = $1")
        .bind(MODEL)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let app = TestApp::spawn(dir.path(), 1).await;
    let alice = app.client().with_session(session);
    let failed = alice.wait(&queued.id, Duration::from_secs(60), |_| {}).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("changed after the row was encrypted"), "{error}");
    // And a row bound to the old spec is refused at once.
    assert_eq!(
        refusal(alice.submit(MODEL, &bound, row.clone()).await),
        (StatusCode::CONFLICT, blindfold_api::SPEC_MISMATCH.to_owned())
    );
    let served = alice.spec_json(MODEL).await.unwrap();
    let rebound = PredictionBinding {
        spec_sha256: spec_digest(&served),
        ..bound
    };
    let job = alice.submit(MODEL, &rebound, row).await.unwrap();
    let done = alice.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
    assert_eq!(done.status, JobStatus::Done, "{:?}", done.error);
    assert_eq!(done.spec_sha256, spec_digest(&served));
    app.stop().await;
}

/// A SHA-256 in the server's notation, of bytes that are no key anyone uploaded.
fn fingerprint_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn an_evaluation_past_its_time_limit_is_stopped_and_the_job_failed() {
    let dir = TempDir::new().unwrap();
    // No time at all: stopped before its first round of bootstraps.
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.job_time_base_s = 0;
        s.job_time_per_bootstrap_ms = 0;
    })
    .await;
    let alice = app.user("alice").await;
    alice.upload_key(KEYS.server.clone()).await.unwrap();
    let job = submit_row(&alice, MODEL, encrypted_row(&alice).await).await.unwrap();
    let failed = alice.wait(&job.id, Duration::from_secs(60), |_| {}).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("took longer than its limit of 0.0 s"), "{error}");
    assert_eq!(failed.bootstraps, None);
    app.stop().await;
}
