//! Blindfold as a cluster: PostgreSQL, two web nodes (`serve --workers 0`) and two `worker`
//! processes, all real binaries. Accounts, keys, jobs and results are shared through the
//! database; a worker killed mid-job loses nothing; a long poll on one node learns at once of
//! a job a worker elsewhere finished; a restart of everything keeps everything.
//!
//! PostgreSQL only: ignored by a plain `cargo test`; `scripts/test.sh` runs it under
//! `scripts/with-postgres.sh` with `--include-ignored`.

use std::time::{Duration, Instant};

use blindfold_api::JobStatus;
use blindfold_api::client::ApiClient;
use blindfold_model::{decrypt_prediction, encrypt_row};
use blindfold_server::store::db::{Backend, now_ms};
use blindfold_server::testing;
use tempfile::TempDir;

use crate::process::{Role, Server, register};
use crate::{COMPILED, KEYS, MODEL, database, fetch_spec, rows_of_each_class, submit, submit_row};

/// Waits for the job and checks that its result decrypts to the clear quantized model's
/// output for the default model's first test row of `class`.
async fn assert_exact(client: &ApiClient, id: &str, class: usize) {
    let job = client.wait(id, Duration::from_secs(120), |_| {}).await.unwrap();
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    let spec = fetch_spec(client, MODEL).await;
    let (row, _) = &rows_of_each_class()[class];
    let expected = COMPILED.quantized.raw_outputs(&spec.quantize_row(row).unwrap());
    let result = client.result(id).await.unwrap();
    assert_eq!(decrypt_prediction(&spec, &KEYS.client, &result).unwrap().raw, expected);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn two_web_nodes_and_two_workers_share_one_database() {
    assert_eq!(
        testing::backend(),
        Backend::Postgres,
        "run under scripts/with-postgres.sh (BLINDFOLD_TEST_POSTGRES)"
    );
    let data = TempDir::new().unwrap();
    let web = Role::Serve { workers: 0 };
    // All four at once on a fresh (empty) database: they migrate it together (taking turns
    // on the migrator's lock) and install the default model together.
    testing::database_url(data.path()).await;
    let (node1, node2, worker1, worker2) = tokio::join!(
        Server::launch(data.path(), web, None),
        Server::launch(data.path(), web, None),
        Server::launch(data.path(), Role::Worker, None),
        Server::launch(data.path(), Role::Worker, None),
    );
    let mut workers = vec![worker1, worker2];

    // Registered on node 1, key uploaded through node 2, predictions through node 1.
    let session = register(&node1).await;
    let (via1, via2) = (node1.client(Some(session.clone())), node2.client(Some(session.clone())));
    via2.upload_key(KEYS.server.clone()).await.unwrap();
    let spec = fetch_spec(&via1, MODEL).await;
    let mut ids = Vec::new();
    for (class, (row, _)) in rows_of_each_class().iter().enumerate() {
        let encrypted = encrypt_row(&spec, &KEYS.client, row).unwrap().to_bytes();
        let id = submit_row(&via1, MODEL, encrypted).await.unwrap().id;
        assert_exact(&via1, &id, class).await;
        ids.push((id, class));
    }

    // The worker running a job is killed; the other one finishes it once its lease (3 s)
    // has run out, and node 2's long poll hears of it at once.
    let id = submit(&via1).await;
    let db = database(data.path()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let holder = loop {
        let (status, worker): (JobStatus, Option<String>) =
            sqlx::query_as("SELECT status, worker FROM jobs WHERE id = $1")
                .bind(&id)
                .fetch_one(&db)
                .await
                .unwrap();
        if status == JobStatus::Running
            && let Some(worker) = worker
        {
            break worker;
        }
        assert!(Instant::now() < deadline, "never seen running");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let pid: u32 = holder.rsplit_once(':').unwrap().1.parse().unwrap();
    let victim = workers
        .iter()
        .position(|w| w.pid() == pid)
        .expect("a worker of ours runs it");
    workers.remove(victim).kill();
    let waiting = tokio::spawn({
        let via2 = node2.client(Some(session.clone()));
        let id = id.clone();
        async move {
            let job = via2.wait(&id, Duration::from_secs(120), |_| {}).await.unwrap();
            (job, now_ms())
        }
    });
    let (job, heard_at) = waiting.await.unwrap();
    let finished_at = job.finished_at.expect("finished");
    let latency_ms = heard_at - finished_at;
    eprintln!("long poll on node 2 returned {latency_ms} ms after the job finished");
    // Without the notification it would wait out its long poll (10 s); the margin is for a
    // busy machine (2 ms measured).
    assert!(latency_ms < 2000, "{latency_ms} ms: node 2 was not woken");
    assert_exact(&via2, &id, 0).await;
    let (attempts, worker): (i64, String) = sqlx::query_as("SELECT attempts, worker FROM jobs WHERE id = $1")
        .bind(&id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(attempts, 2, "started again once, after the kill");
    let host = holder.rsplit_once(':').unwrap().0;
    assert_eq!(
        worker,
        format!("{host}:{}", workers[0].pid()),
        "finished by the other worker"
    );
    ids.push((id, 0));
    db.close().await;

    // Every process restarted: history, keys and results are intact.
    let key = via1.key_info().await.unwrap();
    for process in [node1, node2].into_iter().chain(workers) {
        let exit = process.terminate(Duration::from_secs(30)).await;
        assert!(exit.success(), "{exit:?}");
    }
    let node1 = Server::launch(data.path(), web, None).await;
    let node2 = Server::launch(data.path(), web, None).await;
    let worker = Server::launch(data.path(), Role::Worker, None).await;
    let (via1, via2) = (node1.client(Some(session.clone())), node2.client(Some(session)));
    assert_eq!(via2.key_info().await.unwrap(), key);
    let history = via1.jobs().await.unwrap();
    assert_eq!(history.len(), ids.len());
    assert!(history.iter().all(|job| job.status == JobStatus::Done));
    for (id, class) in &ids {
        assert_exact(&via2, id, *class).await;
    }
    // And the restarted worker evaluates, decompressing the key once: a miss, then a hit,
    // reported on its metrics listener (with its health checks: it serves nothing else).
    for _ in 0..2 {
        let id = submit(&via1).await;
        assert_exact(&via2, &id, 0).await;
    }
    let http = reqwest::Client::new();
    let metrics = crate::ops::scrape(&http, &format!("{}/metrics", worker.metrics)).await;
    let count = |name| crate::ops::sample(&metrics, name, &[]).unwrap_or(0.0);
    assert_eq!(count("blindfold_key_cache_misses_total"), 1.0, "{metrics}");
    assert_eq!(count("blindfold_key_cache_hits_total"), 1.0, "{metrics}");
    let ready = http.get(format!("{}/readyz", worker.metrics)).send().await.unwrap();
    assert_eq!(ready.text().await.unwrap(), "ready");
    for process in [node1, node2, worker] {
        process.kill();
    }
}
