//! Load benchmark: concurrent users, each making encrypted predictions one after another
//! (encrypt, submit, long-poll, download, decrypt), against real `blindfold-server` processes
//! on loopback, in three deployments:
//!
//! - `sqlite`: one `serve --workers 2` process, SQLite and files (the default deployment);
//! - `pg1`: PostgreSQL, a web node (`serve --workers 0`) and one `worker --workers 2`;
//! - `pg2`: PostgreSQL, a web node and two `worker --workers 1` processes, each pinned to
//!   one core (`taskset`), so that jobs are spread over processes with caches of their own.
//!
//! ```text
//! bash scripts/with-postgres.sh cargo bench -p blindfold-server --bench load -- [--users 20]
//!     [--predictions 10] [--only sqlite|pg1|pg2]
//! ```
//!
//! One JSON line per deployment: throughput, p50/p95 latency (submit to decrypted answer),
//! errors and the key cache's hits and misses summed over the evaluating processes; then a
//! summary line comparing the deployments. The PostgreSQL deployments need the server that
//! `scripts/with-postgres.sh` starts (`BLINDFOLD_TEST_POSTGRES`). All users share one client
//! key to keep set-up short; each uploads its own copy of the server key, so each is a
//! separate key for the servers' caches.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use blindfold_api::DEFAULT_MODEL_ID as MODEL;
use blindfold_api::client::ApiClient;
use blindfold_api::{JobStatus, PredictionBinding};
use blindfold_model::compiler::fixtures::BREAST_CANCER;
use blindfold_model::{ClientKey, ClientSpec, decrypt_prediction, encrypt_row};
use blindfold_server::store::db::Backend;
use blindfold_server::testing::{self, PASSWORD};
use serde_json::json;

/// A `blindfold-server` process, killed when dropped.
struct Process {
    child: Child,
    /// The metrics listener's `http://127.0.0.1:PORT`.
    metrics: String,
    /// Whether it evaluates jobs (its key cache counts).
    evaluates: bool,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Starts `blindfold-server <args>` (on `core` alone when given) and waits until its metrics
/// listener answers.
async fn start(args: &[String], core: Option<usize>, evaluates: bool) -> anyhow::Result<Process> {
    let metrics_port = free_port();
    let binary = env!("CARGO_BIN_EXE_blindfold-server");
    let mut command = match core {
        Some(core) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", &core.to_string(), binary]);
            taskset
        }
        None => Command::new(binary),
    };
    command
        .args(args)
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .args(["--site-root", "/nonexistent", "--registrations-per-hour", "100000"])
        // Every simulated user connects from 127.0.0.1.
        .args(["--max-connections-per-address", "100000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = command.spawn().context("starting blindfold-server")?;
    let process = Process {
        child,
        metrics: format!("http://127.0.0.1:{metrics_port}"),
        evaluates,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{}/readyz", process.metrics)).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "blindfold-server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(process)
}

/// A deployment: its web node's address and its processes.
struct Deployment {
    base: String,
    processes: Vec<Process>,
    _data: tempfile::TempDir,
}

async fn deploy(name: &str) -> anyhow::Result<Deployment> {
    let data = tempfile::TempDir::new()?;
    let port = free_port();
    let web = |workers: usize, url: &str| -> Vec<String> {
        [
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--workers",
            &workers.to_string(),
            "--database-url",
            url,
            "--data-dir",
            &data.path().display().to_string(),
        ]
        .map(String::from)
        .to_vec()
    };
    let worker = |workers: usize, url: &str| -> Vec<String> {
        ["worker", "--workers", &workers.to_string(), "--database-url", url]
            .map(String::from)
            .to_vec()
    };
    let mut processes = Vec::new();
    match name {
        "sqlite" => {
            let url = format!("sqlite://{}", data.path().join("blindfold.db").display());
            processes.push(start(&web(2, &url), None, true).await?);
        }
        "pg1" | "pg2" => {
            anyhow::ensure!(
                testing::backend() == Backend::Postgres,
                "the PostgreSQL deployments need a server: run under scripts/with-postgres.sh"
            );
            let url = testing::database_url(data.path()).await;
            processes.push(start(&web(0, &url), None, false).await?);
            if name == "pg1" {
                processes.push(start(&worker(2, &url), None, true).await?);
            } else {
                for core in 0..2 {
                    processes.push(start(&worker(1, &url), Some(core), true).await?);
                }
            }
        }
        other => anyhow::bail!("unknown deployment {other} (sqlite, pg1, pg2)"),
    }
    Ok(Deployment {
        base: format!("http://127.0.0.1:{port}"),
        processes,
        _data: data,
    })
}

/// The sum of a counter over the evaluating processes.
async fn counter(processes: &[Process], name: &str) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for process in processes.iter().filter(|p| p.evaluates) {
        let text = reqwest::get(format!("{}/metrics", process.metrics))
            .await?
            .text()
            .await?;
        total += text
            .lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .sum::<f64>();
    }
    Ok(total)
}

/// One prediction, checked against the clear quantized model.
async fn predict(
    client: &ApiClient,
    spec: &ClientSpec,
    binding: &PredictionBinding,
    key: &ClientKey,
    row: &[f64],
) -> anyhow::Result<()> {
    let encrypted = encrypt_row(spec, key, row)?.to_bytes();
    let job = client.submit(MODEL, binding, encrypted).await?;
    let job = client.wait(&job.id, Duration::from_secs(600), |_| {}).await?;
    anyhow::ensure!(job.status == JobStatus::Done, "job failed: {:?}", job.error);
    let result = client.result(&job.id).await?;
    let prediction = decrypt_prediction(spec, key, &result)?;
    let expected = spec
        .quantize_row(row)
        .map(|q| BREAST_CANCER_QUANTIZED.raw_outputs(&q))?;
    anyhow::ensure!(
        prediction.raw == expected,
        "a result differs from the clear quantized model's"
    );
    Ok(())
}

static BREAST_CANCER_QUANTIZED: std::sync::LazyLock<blindfold_model::compiler::compile::QuantizedEnsemble> =
    std::sync::LazyLock::new(|| BREAST_CANCER.compile().expect("the shipped model compiles").quantized);

async fn run(name: &str, users: usize, per_user: usize, key: &Arc<ClientKey>) -> anyhow::Result<serde_json::Value> {
    let deployment = deploy(name).await?;
    let server_key = key.compressed_server_key().to_bytes();
    let (rows, _) = BREAST_CANCER.test_rows()?;
    let mut clients = Vec::new();
    let mut fingerprint = String::new();
    for user in 0..users {
        let mut client = ApiClient::new(&deployment.base)?;
        client.register(&format!("load{user}"), PASSWORD, PASSWORD).await?;
        let uploaded = client.upload_key(server_key.clone()).await?;
        clients.push(client);
        fingerprint = uploaded.fingerprint;
    }
    let spec_json = clients[0].spec_json(MODEL).await?;
    let binding = Arc::new(PredictionBinding {
        key_fingerprint: fingerprint,
        spec_sha256: blindfold_model::spec::binding::spec_digest(&spec_json),
    });
    let spec = Arc::new(ClientSpec::from_json(&spec_json)?);
    // Keys preloaded at upload (a `serve` with workers does) count as the misses they are.
    eprintln!(
        "{name}: {users} users registered, keys uploaded; {} predictions",
        users * per_user
    );

    let start = Instant::now();
    let mut tasks = Vec::new();
    for (user, client) in clients.into_iter().enumerate() {
        let (key, spec, binding, rows) = (key.clone(), spec.clone(), binding.clone(), rows.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for p in 0..per_user {
                let row = &rows[(user * per_user + p) % rows.len()];
                let started = Instant::now();
                let outcome = predict(&client, &spec, &binding, &key, row).await;
                outcomes.push(outcome.map(|()| started.elapsed()));
            }
            outcomes
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut errors = 0;
    for task in tasks {
        for outcome in task.await? {
            match outcome {
                Ok(latency) => latencies.push(latency),
                Err(e) => {
                    errors += 1;
                    eprintln!("{name}: error: {e:#}");
                }
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64())
    };
    let hits = counter(&deployment.processes, "blindfold_key_cache_hits_total").await?;
    let misses = counter(&deployment.processes, "blindfold_key_cache_misses_total").await?;
    Ok(json!({
        "deployment": name,
        "users": users,
        "predictions": users * per_user,
        "errors": errors,
        "wall_s": wall,
        "throughput_per_s": latencies.len() as f64 / wall,
        "p50_latency_s": pick(0.5),
        "p95_latency_s": pick(0.95),
        "key_cache_hits": hits,
        "key_cache_misses": misses,
        "key_cache_hit_ratio": hits / (hits + misses).max(1.0),
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut users = 20;
    let mut per_user = 10;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--users" => users = args.next().context("--users N")?.parse()?,
            "--predictions" => per_user = args.next().context("--predictions N")?.parse()?,
            "--only" => only = Some(args.next().context("--only sqlite|pg1|pg2")?),
            // What `cargo bench` itself passes.
            "--bench" => {}
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let deployments: Vec<&str> = match &only {
        Some(name) => vec![name.as_str()],
        None => vec!["sqlite", "pg1", "pg2"],
    };
    let key = Arc::new(ClientKey::generate());
    let mut reports = Vec::new();
    for name in deployments {
        let report = run(name, users, per_user, &key).await?;
        println!("{report}");
        reports.push(report);
    }
    let throughput = |name: &str| {
        reports
            .iter()
            .find(|r| r["deployment"] == name)
            .and_then(|r| r["throughput_per_s"].as_f64())
    };
    if let (Some(sqlite), Some(pg1)) = (throughput("sqlite"), throughput("pg1")) {
        println!(
            "{}",
            json!({
                "pg1_throughput_vs_sqlite": pg1 / sqlite,
                "pg2_throughput_vs_sqlite": throughput("pg2").map(|pg2| pg2 / sqlite),
            })
        );
    }
    let errors: u64 = reports.iter().filter_map(|r| r["errors"].as_u64()).sum();
    anyhow::ensure!(errors == 0, "{errors} predictions failed");
    Ok(())
}
