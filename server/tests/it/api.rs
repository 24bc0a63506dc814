//! The JSON API on the real server: accounts, keys, encrypted predictions, isolation between
//! users, limits, restarts.

use std::time::Duration;

use blindfold_api::JobStatus;
use blindfold_api::client::ClientError;
use blindfold_model::compiler::fixtures::WINE;
use blindfold_model::encrypt_row;
use blindfold_server::testing::{PASSWORD, TestApp};
use reqwest::StatusCode;
use tempfile::TempDir;

use crate::{COMPILED, KEYS, MODEL, fetch_spec, predict, rows_of_each_class, status, submit_row};

#[tokio::test]
async fn register_upload_key_and_predict_exactly() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 1).await;
    let client = app.user("alice").await;
    assert_eq!(client.whoami().await.unwrap(), "alice");

    let models = client.models().await.unwrap();
    assert!(models.iter().any(|m| m.id == MODEL && m.features == 30));
    let spec = fetch_spec(&client, MODEL).await;
    assert_eq!(spec, COMPILED.spec);

    let info = client.upload_key(KEYS.server.clone()).await.unwrap();
    assert_eq!(info.size_bytes as usize, KEYS.server.len());
    assert_eq!(client.key_info().await.unwrap(), info);

    let mut classes = Vec::new();
    for (row, target) in rows_of_each_class() {
        let (prediction, job) = predict(&client, &spec, &row).await;
        let expected = COMPILED.quantized.raw_outputs(&spec.quantize_row(&row).unwrap());
        assert_eq!(
            prediction.raw, expected,
            "decrypts to the clear quantized model's output"
        );
        assert_eq!(job.status, JobStatus::Done);
        assert_eq!(job.bootstraps, Some(COMPILED.report.bootstraps as i64));
        classes.push((prediction.class.unwrap(), target));
    }
    assert_eq!(classes, vec![("Malignant".to_owned(), 0.0), ("Benign".to_owned(), 1.0)]);
    assert_eq!(client.jobs().await.unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn account_rules_are_reported_per_field() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let cases = [
        ("bob", "short", "short", "password", "too short"),
        ("bob", "84736251947", "84736251947", "password", "entirely numeric"),
        ("bob", "password123", "password123", "password", "too common"),
        ("roberto1990", "roberto1990!", "roberto1990!", "password", "too similar"),
        ("bob", PASSWORD, "something else entirely", "password", "didn't match"),
        ("bob smith", PASSWORD, PASSWORD, "username", "valid username"),
        (&"b".repeat(151), PASSWORD, PASSWORD, "username", "at most 150"),
    ];
    for (username, password, confirmation, field, needle) in cases {
        let mut client = app.client();
        let error = client.register(username, password, confirmation).await.unwrap_err();
        let ClientError::Api { status, body } = error else {
            panic!("not an API error")
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let problems = body.fields[field].join(" ");
        assert!(problems.contains(needle), "{username}/{password}: {problems}");
    }
    app.user("Carol").await;
    let mut duplicate = app.client();
    let error = duplicate.register("carol", PASSWORD, PASSWORD).await.unwrap_err();
    let ClientError::Api { body, .. } = error else { panic!() };
    assert!(body.fields["username"].join(" ").contains("already exists"));
    app.stop().await;
}

#[tokio::test]
async fn login_logout_and_wrong_passwords() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let first = app.user("dave").await;
    let mut client = app.client();
    assert_eq!(
        status(client.login("dave", "wrong password!").await),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status(client.login("nobody", PASSWORD).await), StatusCode::UNAUTHORIZED);
    let session = client.login("DAVE", PASSWORD).await.unwrap();
    assert_ne!(
        Some(&session.token),
        first.session().map(|s| &s.token),
        "a new session id at login"
    );
    assert_eq!(client.whoami().await.unwrap(), "dave");
    client.logout().await.unwrap();
    let stale = app.client().with_session(Some(session));
    assert_eq!(status(stale.whoami().await), StatusCode::UNAUTHORIZED);
    assert_eq!(status(app.client().jobs().await), StatusCode::UNAUTHORIZED);

    // Repeated failures slow the username down, with 429.
    let mut attacker = app.client();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(status(attacker.login("dave", "not the password").await));
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn state_changes_need_the_csrf_token() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let client = app.user("erin").await;
    let session = client.session().unwrap().clone();
    let http = reqwest::Client::new();
    for token in [None, Some("forged")] {
        let mut request = http
            .delete(format!("{}/api/key", app.base))
            .header("cookie", format!("blindfold_session={}", session.token));
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "csrf");
    }
    // A cross-site form post is not JSON: refused before any state changes.
    let form = http
        .post(format!("{}/api/login", app.base))
        .body("username=erin&password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn keys_jobs_and_results_are_private_and_inputs_checked() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 1).await;
    let alice = app.user("frank").await;
    let bob = app.user("grace").await;
    let (row, _) = rows_of_each_class().remove(0);
    let encrypted = encrypt_row(&COMPILED.spec, &KEYS.client, &row).unwrap().to_bytes();

    // No key yet.
    assert_eq!(
        status(submit_row(&alice, MODEL, encrypted.clone()).await),
        StatusCode::CONFLICT
    );
    // Bad keys.
    assert_eq!(
        status(alice.upload_key(KEYS.server[..1000].to_vec()).await),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(alice.upload_key(KEYS.client.to_bytes()).await),
        StatusCode::BAD_REQUEST
    );
    alice.upload_key(KEYS.server.clone()).await.unwrap();

    // Bad rows.
    assert_eq!(
        status(submit_row(&alice, MODEL, encrypted[..encrypted.len() - 7].to_vec()).await),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(submit_row(&alice, MODEL, vec![0u8; 200_000]).await),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let wine = WINE.compile().unwrap();
    let (wine_rows, _) = WINE.test_rows().unwrap();
    let wine_row = encrypt_row(&wine.spec, &KEYS.client, &wine_rows[0]).unwrap().to_bytes();
    assert_eq!(
        status(submit_row(&alice, MODEL, wine_row).await),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let job = submit_row(&alice, MODEL, encrypted).await.unwrap();
    let done = alice.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
    assert_eq!(done.status, JobStatus::Done);
    assert!(!alice.result(&job.id).await.unwrap().is_empty());

    // Bob sees none of it.
    assert_eq!(status(bob.job(&job.id).await), StatusCode::NOT_FOUND);
    assert_eq!(status(bob.result(&job.id).await), StatusCode::NOT_FOUND);
    assert_eq!(status(bob.key_info().await), StatusCode::NOT_FOUND);
    assert!(bob.jobs().await.unwrap().is_empty());
    assert_eq!(status(bob.delete_key().await), StatusCode::NOT_FOUND);
    assert!(alice.key_info().await.is_ok(), "bob's delete did not touch alice's key");

    alice.delete_key().await.unwrap();
    assert_eq!(status(alice.key_info().await), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_queued_job_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    // No workers: the job stays queued when the server stops.
    let app = TestApp::spawn(dir.path(), 0).await;
    let client = app.user("heidi").await;
    client.upload_key(KEYS.server.clone()).await.unwrap();
    let (row, _) = rows_of_each_class().remove(1);
    let job = submit_row(
        &client,
        MODEL,
        encrypt_row(&COMPILED.spec, &KEYS.client, &row).unwrap().to_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    let session = client.session().cloned();
    app.stop().await;

    let app = TestApp::spawn(dir.path(), 1).await;
    let client = app.client().with_session(session);
    let done = client.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
    assert_eq!(done.status, JobStatus::Done);
    let prediction =
        blindfold_model::decrypt_prediction(&COMPILED.spec, &KEYS.client, &client.result(&job.id).await.unwrap())
            .unwrap();
    assert_eq!(
        prediction.raw,
        COMPILED
            .quantized
            .raw_outputs(&COMPILED.spec.quantize_row(&row).unwrap())
    );
    app.stop().await;
}

#[tokio::test]
async fn oversized_keys_are_refused_before_they_are_read() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.max_key_bytes = 1 << 20).await;
    let client = app.user("judy").await;
    assert_eq!(
        status(client.upload_key(KEYS.server.clone()).await),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        status(client.key_info().await),
        StatusCode::NOT_FOUND,
        "nothing was stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/healthz", app.base)).send().await.unwrap().status(),
        StatusCode::OK
    );
    let missing = http.get(format!("{}/api/nothing", app.base)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        status(app.client().spec_json("no-such-model").await),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}
