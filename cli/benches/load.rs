//! Load benchmark: 20 concurrent users, 3 encrypted predictions each, against a real server on
//! loopback. `cargo bench -p blindfold-cli --bench load [-- USERS PREDICTIONS]`
//!
//! Prints throughput, p50/p95 latency (submit to decrypted answer) and the error count. All
//! users share one client key to keep set-up short; each uploads its own copy of the server key.

use std::time::{Duration, Instant};

use blindfold_api::DEFAULT_MODEL_ID as MODEL;
use blindfold_cli::predict::{fetch_spec, predict_row};
use blindfold_model::ClientKey;
use blindfold_model::fixtures::BREAST_CANCER;
use blindfold_server::testing::{PASSWORD, TestApp};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let users = args.first().copied().unwrap_or(20);
    let per_user = args.get(1).copied().unwrap_or(3);

    let dir = tempfile::TempDir::new()?;
    // Every user registers from this one address: lift the per-address registration limit.
    let app = TestApp::spawn_with(dir.path(), |settings| {
        settings.workers = 2;
        settings.registrations_per_hour = 10_000;
    })
    .await;

    let key = std::sync::Arc::new(ClientKey::generate());
    let server_key = key.compressed_server_key().to_bytes();
    let (rows, _) = BREAST_CANCER.test_rows()?;
    let mut clients = Vec::new();
    for u in 0..users {
        let mut client = app.client();
        client.register(&format!("load{u}"), PASSWORD, PASSWORD).await?;
        client.upload_key(MODEL, server_key.clone()).await?;
        clients.push(client);
    }
    let spec = std::sync::Arc::new(fetch_spec(&clients[0], MODEL).await?);
    println!(
        "{users} users registered, keys uploaded; running {} predictions",
        users * per_user
    );

    let start = Instant::now();
    let mut tasks = Vec::new();
    for (u, client) in clients.into_iter().enumerate() {
        let (key, spec, rows) = (key.clone(), spec.clone(), rows.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for p in 0..per_user {
                let row = &rows[(u * per_user + p) % rows.len()];
                let t = Instant::now();
                let outcome = predict_row(&client, MODEL, &spec, &key, row, |_| {}).await;
                outcomes.push(outcome.map(|_| t.elapsed()));
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
                    eprintln!("error: {e:#}");
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
    let report = serde_json::json!({
        "users": users,
        "predictions": users * per_user,
        "errors": errors,
        "wall_s": wall,
        "throughput_per_s": latencies.len() as f64 / wall,
        "p50_latency_s": pick(0.5),
        "p95_latency_s": pick(0.95),
    });
    println!("{report}");
    app.stop().await;
    anyhow::ensure!(errors == 0, "{errors} predictions failed");
    Ok(())
}
