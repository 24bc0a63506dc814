//! Abuse benchmark (issue #9): one user floods the server with predictions while others make a
//! few each; do the others still get their answers in time?
//!
//! `cargo bench -p blindfold-cli --bench abuse [-- --flood 200 --users 10 --per-user 3 --workers 1]`
//!
//! One fresh server (in-process, on loopback) runs two phases:
//!
//! 1. baseline: the users each make `--per-user` predictions, one after another per user, all
//!    users at once;
//! 2. flood: a flooder submits up to `--flood` predictions as fast as the server accepts them
//!    (on 429 it sleeps for the `Retry-After` the server sent), and once its quota is full the
//!    same users make `--per-user` predictions again. When they are done the flooder stops and
//!    its remaining queue is cleared.
//!
//! A latency is one `predict_row`: encrypting the row, submitting it, waiting, downloading and
//! decrypting the result. Every user's answer is checked against the clear quantized model; a
//! mismatch counts as an error. Prints progress on stderr and one JSON object on stdout.
//!
//! Set-up is kept cheap: one client key for everyone (each user uploads its own copy of the same
//! server key, so the server's key cache decompresses it once), and the flooder re-sends one
//! encrypted row (its results are never read).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use blindfold_api::client::ApiClient;
use blindfold_api::{CSRF_HEADER, DEFAULT_MODEL_ID as MODEL, JobStatus, PredictionBinding, paths};
use blindfold_cli::predict::{fetch_spec, predict_row};
use blindfold_model::compiler::fixtures::BREAST_CANCER;
use blindfold_model::{ClientKey, ClientSpec, CompiledModel, encrypt_row};
use blindfold_server::testing::{PASSWORD, TestApp};
use clap::Parser;
use reqwest::StatusCode;
use tokio::sync::Notify;

#[derive(Parser)]
#[command(about = "One user floods the server with predictions while others make a few each")]
struct Args {
    /// Predictions the flooder tries to submit.
    #[arg(long, value_name = "N", default_value_t = 200)]
    flood: usize,
    /// Ordinary users.
    #[arg(long, value_name = "N", default_value_t = 10)]
    users: usize,
    /// Predictions each ordinary user makes in each phase, one after another.
    #[arg(long, value_name = "N", default_value_t = 3)]
    per_user: usize,
    /// The server's job workers.
    #[arg(long, value_name = "N", default_value_t = 1)]
    workers: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// What all users share: the key, the spec, the clear model to check answers against, the rows.
struct Shared {
    key: ClientKey,
    spec: ClientSpec,
    binding: PredictionBinding,
    compiled: CompiledModel,
    rows: Vec<Vec<f64>>,
}

/// One phase of the ordinary users.
#[derive(Default)]
struct Phase {
    latencies: Vec<Duration>,
    errors: usize,
    mismatches: usize,
    refused_429: usize,
    wall_s: f64,
}

impl Phase {
    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64())
    }
}

/// What the flooder did.
#[derive(Default)]
struct Flood {
    submitted: usize,
    refused_429: usize,
    errors: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let rss_start_kib = proc_status_kib("VmRSS").unwrap_or(0);

    let dir = tempfile::TempDir::new()?;
    let workers = args.workers;
    let app = TestApp::spawn_with(dir.path(), |settings| {
        settings.workers = workers;
        // Every account comes from 127.0.0.1: the default 10 per hour would refuse the 11th.
        settings.registrations_per_hour = 1000;
        // Likewise every connection: the flooder's and the users' share one address here.
        settings.max_connections_per_address = 100_000;
    })
    .await;

    let key = ClientKey::generate();
    let server_key = key.compressed_server_key().to_bytes();
    let compiled = BREAST_CANCER.compile()?;
    let (rows, _) = BREAST_CANCER.test_rows()?;
    // Uploads one after another: the server validates at most a few keys at once.
    let mut users = Vec::new();
    for u in 0..args.users {
        users.push(user(&app, &format!("user{u}"), &server_key).await?);
    }
    let flooder = user(&app, "flooder", &server_key).await?;
    let served = fetch_spec(&flooder, MODEL).await?;
    anyhow::ensure!(
        served.spec == compiled.spec,
        "the server's spec is not the compiled model's"
    );
    let binding = served.binding(&blindfold_cli::store::fingerprint(&server_key));
    let shared = Arc::new(Shared {
        key,
        spec: served.spec,
        binding,
        compiled,
        rows,
    });
    let users = Arc::new(users);

    // A warm-up prediction, so that neither phase pays for decompressing the key.
    let warm_up = predict_checked(&flooder, &shared, 0).await;
    if let Err(failure) = warm_up {
        anyhow::bail!("warm-up prediction: {failure}");
    }
    eprintln!(
        "{} users and a flooder registered, keys uploaded, warmed up in {:.1} s",
        args.users,
        start.elapsed().as_secs_f64()
    );

    let setup_peak_kib = proc_status_kib("VmHWM");
    reset_peak_rss();
    let baseline = run_users(&users, &shared, args.per_user, 0).await;
    let baseline_peak_kib = proc_status_kib("VmHWM");
    eprintln!(
        "baseline: {} predictions in {:.1} s, p95 {:.2} s",
        baseline.latencies.len(),
        baseline.wall_s,
        baseline.quantile(0.95)
    );

    reset_peak_rss();
    let flood_start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let filled = Arc::new(Notify::new());
    let row = encrypt_row(&shared.spec, &shared.key, &shared.rows[0])?.to_bytes();
    let flooding = tokio::spawn(flood(
        app.url(&paths::model_predictions_bound(MODEL, &shared.binding)),
        flooder.clone(),
        row,
        args.flood,
        stop.clone(),
        filled.clone(),
    ));
    filled.notified().await;
    eprintln!(
        "flooder's queue full after {:.1} s; the users start",
        flood_start.elapsed().as_secs_f64()
    );
    let flooded = run_users(&users, &shared, args.per_user, args.users * args.per_user).await;
    stop.store(true, Ordering::Relaxed);
    let flood = flooding.await?;
    let flooder_jobs = flooder.jobs().await?;
    // The warm-up prediction was the flooder's too.
    let completed = flooder_jobs
        .iter()
        .filter(|j| j.status == JobStatus::Done)
        .count()
        .saturating_sub(1);
    let flood_failed = flooder_jobs.iter().filter(|j| j.status == JobStatus::Failed).count();
    flooder.clear_predictions().await?;
    let flood_wall_s = flood_start.elapsed().as_secs_f64();
    let flood_peak_kib = proc_status_kib("VmHWM");
    eprintln!(
        "flood: {} predictions in {:.1} s, p95 {:.2} s",
        flooded.latencies.len(),
        flooded.wall_s,
        flooded.quantile(0.95)
    );
    app.stop().await;
    let peak_kib = [
        setup_peak_kib,
        baseline_peak_kib,
        flood_peak_kib,
        proc_status_kib("VmHWM"),
    ]
    .into_iter()
    .flatten()
    .max();

    let mib = |kib: u64| kib as f64 / 1024.0;
    let ratio = flooded.quantile(0.95) / baseline.quantile(0.95);
    let errors = baseline.errors + flooded.errors + flood.errors + flood_failed;
    let report = serde_json::json!({
        "users": args.users,
        "per_user": args.per_user,
        "flood": args.flood,
        "workers": args.workers,
        "threads": threads,
        "server": "one fresh in-process server for both phases",
        "baseline_p50_s": baseline.quantile(0.5),
        "baseline_p95_s": baseline.quantile(0.95),
        "baseline_wall_s": baseline.wall_s,
        "flood_p50_s": flooded.quantile(0.5),
        "flood_p95_s": flooded.quantile(0.95),
        "flood_users_wall_s": flooded.wall_s,
        "flood_wall_s": flood_wall_s,
        "p95_ratio": ratio,
        "goal_met": ratio <= 2.0,
        "refused_429": flood.refused_429 + baseline.refused_429 + flooded.refused_429,
        "refused_429_users": baseline.refused_429 + flooded.refused_429,
        "flood_submitted": flood.submitted,
        "flood_completed_during_run": completed,
        "errors": errors,
        "mismatches": baseline.mismatches + flooded.mismatches,
        // The server runs in this process: these include the bench's clients (keys, ciphertexts).
        "peak_rss_mib": peak_kib.map(mib),
        "rss_start_mib": mib(rss_start_kib),
        "peak_rss_growth_mib": peak_kib.map(|peak| mib(peak.saturating_sub(rss_start_kib))),
        "baseline_peak_rss_mib": baseline_peak_kib.map(mib),
        "flood_peak_rss_mib": flood_peak_kib.map(mib),
        "wall_s": start.elapsed().as_secs_f64(),
    });
    println!("{report}");
    anyhow::ensure!(errors == 0, "{errors} errors");
    Ok(())
}

/// A newly registered user with the shared server key uploaded (the user's one key, for every
/// model).
async fn user(app: &TestApp, name: &str, server_key: &[u8]) -> anyhow::Result<ApiClient> {
    let mut client = app.client();
    client
        .register(name, PASSWORD, PASSWORD)
        .await
        .with_context(|| format!("registering {name}"))?;
    client
        .upload_key(server_key.to_vec())
        .await
        .with_context(|| format!("{name}'s key"))?;
    Ok(client)
}

/// One prediction of test row `index`, checked against the clear quantized model.
async fn predict_checked(client: &ApiClient, shared: &Shared, index: usize) -> Result<Duration, Failure> {
    let row = &shared.rows[index % shared.rows.len()];
    let start = Instant::now();
    let (prediction, _) = predict_row(client, MODEL, &shared.spec, &shared.binding, &shared.key, row, |_| {})
        .await
        .map_err(Failure::Call)?;
    let latency = start.elapsed();
    let levels = shared.spec.quantize_row(row).map_err(|e| Failure::Call(e.into()))?;
    let expected = shared.compiled.quantized.raw_outputs(&levels);
    if prediction.raw != expected {
        return Err(Failure::Mismatch(format!(
            "row {index}: {:?} ≠ {expected:?}",
            prediction.raw
        )));
    }
    Ok(latency)
}

/// A user's prediction that went wrong.
enum Failure {
    /// A call failed (an API error, the connection, decryption).
    Call(anyhow::Error),
    /// The answer decrypted to something other than the clear model's output.
    Mismatch(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Call(error) => write!(f, "{error:#}"),
            Self::Mismatch(what) => write!(f, "wrong answer: {what}"),
        }
    }
}

/// Each user makes `per_user` predictions one after another, all users at once; rows from
/// `first_row` on.
async fn run_users(users: &Arc<Vec<ApiClient>>, shared: &Arc<Shared>, per_user: usize, first_row: usize) -> Phase {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..users.len() {
        let (users, shared) = (users.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for p in 0..per_user {
                outcomes.push(predict_checked(&users[u], &shared, first_row + u * per_user + p).await);
            }
            outcomes
        }));
    }
    let mut phase = Phase::default();
    for task in tasks {
        let Ok(outcomes) = task.await else {
            phase.errors += per_user;
            continue;
        };
        for outcome in outcomes {
            match outcome {
                Ok(latency) => phase.latencies.push(latency),
                Err(failure) => {
                    eprintln!("error: {failure}");
                    phase.errors += 1;
                    match failure {
                        Failure::Mismatch(_) => phase.mismatches += 1,
                        Failure::Call(error) => {
                            let status = error
                                .downcast_ref::<blindfold_api::client::ClientError>()
                                .and_then(|e| e.status());
                            if status == Some(StatusCode::TOO_MANY_REQUESTS) {
                                phase.refused_429 += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    phase.wall_s = start.elapsed().as_secs_f64();
    phase
}

/// The flooder: submits `row` until `count` are accepted or `stop` is set, sleeping for the
/// server's `Retry-After` after each 429. Raw requests, to read that header. `filled` is told
/// when the quota is full (the first 429) or every submission is in.
async fn flood(
    url: String,
    client: ApiClient,
    row: Vec<u8>,
    count: usize,
    stop: Arc<AtomicBool>,
    filled: Arc<Notify>,
) -> Flood {
    let session = client.session().expect("the flooder is logged in").clone();
    let http = reqwest::Client::new();
    let mut flood = Flood::default();
    let mut told = false;
    let mut tell = || {
        if !std::mem::replace(&mut told, true) {
            // A stored permit: the main task may not be waiting yet.
            filled.notify_one();
        }
    };
    while flood.submitted < count && !stop.load(Ordering::Relaxed) {
        let sent = http
            .post(&url)
            .header(
                reqwest::header::COOKIE,
                format!("{}={}", session.cookie_name, session.token),
            )
            .header(CSRF_HEADER, &session.csrf_token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(row.clone())
            .send()
            .await;
        let pause = match sent {
            Ok(response) if response.status().is_success() => {
                flood.submitted += 1;
                None
            }
            Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                flood.refused_429 += 1;
                tell();
                let seconds = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                if seconds.is_none() {
                    eprintln!("flooder: 429 without a Retry-After");
                    flood.errors += 1;
                }
                Some(Duration::from_secs(seconds.unwrap_or(1)))
            }
            Ok(response) => {
                let status = response.status();
                eprintln!("flooder: {status}: {}", response.text().await.unwrap_or_default());
                flood.errors += 1;
                Some(Duration::from_secs(1))
            }
            Err(error) => {
                eprintln!("flooder: {error}");
                flood.errors += 1;
                Some(Duration::from_secs(1))
            }
        };
        if let Some(pause) = pause {
            // Sleeps in short steps, to stop soon after the users are done.
            let until = Instant::now() + pause;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tell();
    flood
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB; none off Linux.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0), so that each phase's peak is its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
