//! Operations: stopping on SIGTERM, the readiness probe and the Prometheus metrics.

use std::time::{Duration, Instant};

use blindfold_api::{ErrorBody, JobStatus};
use blindfold_server::testing::TestApp;
use reqwest::StatusCode;
use tempfile::TempDir;

use crate::process::{Server, register};
use crate::{KEYS, MODEL, fetch_spec, predict, rows_of_each_class, submit};

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_after_the_job_in_hand() {
    let data = TempDir::new().unwrap();

    // Idle: it stops at once, with success.
    let server = Server::start(data.path(), 1, None).await;
    let exit = server.terminate(Duration::from_secs(10)).await;
    assert!(exit.success(), "{exit:?}");

    // With a job running: it finishes the job, then exits with success.
    let server = Server::start(data.path(), 1, None).await;
    let session = register(&server).await;
    let client = server.client(Some(session.clone()));
    client.upload_key(KEYS.server.clone()).await.unwrap();
    let id = submit(&client).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.job(&id).await.unwrap().status == JobStatus::Queued {
        assert!(Instant::now() < deadline, "never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let exit = server.terminate(Duration::from_secs(120)).await;
    assert!(exit.success(), "{exit:?}");

    // Done by that process, in its first attempt: a server without workers finds it done.
    let server = Server::start(data.path(), 0, None).await;
    let job = server.client(Some(session)).job(&id).await.unwrap();
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    let exit = server.terminate(Duration::from_secs(10)).await;
    assert!(exit.success(), "{exit:?}");
    let db = crate::database(data.path()).await;
    let (attempts,): (i64,) = sqlx::query_as("SELECT attempts FROM jobs WHERE id = $1")
        .bind(&id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(attempts, 1, "finished before the exit, not started again");
    db.close().await;
}

#[tokio::test]
async fn readyz_is_ready_with_the_database_migrated_and_503_without() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let http = reqwest::Client::new();
    let ready = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");

    // The latest migration forgotten, as if it had never run.
    let db = crate::database(dir.path()).await;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let not_ready = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: ErrorBody = not_ready.json().await.unwrap();
    assert_eq!(body.error, "not_ready");
    assert!(body.detail.contains("migrations pending"), "{}", body.detail);
    // Alive all the same.
    let alive = http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
    app.stop().await;
}

/// The value of the first sample of `name` whose labels include each of `labels`
/// (`key="value"`).
pub(crate) fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        let (series, value) = rest.rsplit_once(' ')?;
        labels
            .iter()
            .all(|label| series.contains(label))
            .then(|| value.parse().unwrap())
    })
}

/// `GET` the metrics: Prometheus text.
pub(crate) async fn scrape(http: &reqwest::Client, url: &str) -> String {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.workers = 1;
        s.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let metrics_url = format!("{}/metrics", app.metrics_base.as_deref().expect("a metrics listener"));
    let http = reqwest::Client::new();
    // A prediction, through the API.
    let client = app.user("alice").await;
    client.models().await.unwrap();
    client.upload_key(KEYS.server.clone()).await.unwrap();
    let spec = fetch_spec(&client, MODEL).await;
    let (_, job) = predict(&client, &spec, &rows_of_each_class()[0].0).await;
    let _ = http.get(app.url("/no-such-file.js")).send().await.unwrap();
    let metrics = scrape(&http, &metrics_url).await;

    // Requests, by route template: never the raw path with the job's id.
    let models = [r#"route="/api/models""#, r#"method="GET""#, r#"status="200""#];
    assert!(
        sample(&metrics, "blindfold_http_requests_total", &models).unwrap() >= 1.0,
        "{metrics}"
    );
    let polled = [r#"route="/api/predictions/{id}""#, r#"method="GET""#];
    assert!(
        sample(&metrics, "blindfold_http_requests_total", &polled).unwrap() >= 1.0,
        "{metrics}"
    );
    assert!(sample(&metrics, "blindfold_http_requests_total", &[r#"route="unmatched""#]).is_some());
    assert!(!metrics.contains(&job.id), "a raw path in a label");
    let latency = sample(&metrics, "blindfold_http_request_duration_seconds_count", &models[..2]);
    assert!(latency.unwrap() >= 1.0, "{metrics}");

    // The evaluation, its bootstraps, the key cache and the queue. (The recorder is shared by
    // every server of this test process: counters are at least this server's.)
    assert!(
        sample(&metrics, "blindfold_evaluation_seconds_count", &[]).unwrap() >= 1.0,
        "{metrics}"
    );
    assert!(sample(&metrics, "blindfold_evaluation_seconds_bucket", &[r#"le="+Inf""#]).unwrap() >= 1.0);
    assert!(sample(&metrics, "blindfold_bootstraps_total", &[]).unwrap() >= job.bootstraps.unwrap() as f64);
    let hits = sample(&metrics, "blindfold_key_cache_hits_total", &[]).unwrap_or(0.0);
    let misses = sample(&metrics, "blindfold_key_cache_misses_total", &[]).unwrap_or(0.0);
    assert!(hits + misses >= 1.0, "{metrics}");
    assert!(
        sample(&metrics, "blindfold_key_cache_bytes", &[]).unwrap() > 0.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "blindfold_jobs", &[r#"status="done""#]),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "blindfold_jobs", &[r#"status="queued""#]),
        Some(0.0),
        "{metrics}"
    );

    // Counters only grow.
    let before = sample(&metrics, "blindfold_http_requests_total", &models).unwrap();
    client.models().await.unwrap();
    let after = sample(
        &scrape(&http, &metrics_url).await,
        "blindfold_http_requests_total",
        &models,
    )
    .unwrap();
    assert!(after > before, "{before} then {after}");

    // Not on the site's listener.
    let site = http.get(app.url("/metrics")).send().await.unwrap();
    assert_ne!(site.status(), StatusCode::OK);
    app.stop().await;
}
