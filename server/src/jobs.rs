//! Prediction jobs: persisted in the database, run by a bounded pool of workers, FHE work on
//! blocking threads. A job left `running` by a crash is queued again at start-up.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use blindfold_model::{EncryptedRow, evaluate};
use sqlx::SqlitePool;
use tokio::sync::Notify;

use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

pub use blindfold_app::api::JobInfo;

const JOB_COLUMNS: &str = "id, model_id, status, error, input_bytes, bootstraps, created_at, started_at, finished_at";

pub struct JobQueue {
    pool: SqlitePool,
    dir: PathBuf,
    wake: Notify,
    /// Woken whenever a job finishes, for clients waiting on one.
    finished: Notify,
}

/// A claimed job, ready to run.
struct Claimed {
    id: String,
    user_id: i64,
    model_id: String,
    key_fingerprint: String,
}

impl JobQueue {
    pub fn new(pool: SqlitePool, dir: PathBuf) -> Self {
        Self {
            pool,
            dir,
            wake: Notify::new(),
            finished: Notify::new(),
        }
    }

    /// The job once it is done or failed, or as it is when `patience` runs out: lets a client
    /// learn of the result the moment it exists instead of polling.
    pub async fn wait(&self, user_id: i64, id: &str, patience: Duration) -> ApiResult<JobInfo> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Registered before the status is read, so a finish in between is not missed.
            let finished = self.finished.notified();
            let job = self.get(user_id, id).await?;
            if matches!(job.status.as_str(), "done" | "failed") {
                return Ok(job);
            }
            if tokio::time::timeout_at(deadline, finished).await.is_err() {
                return Ok(job);
            }
        }
    }

    fn input_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.row"))
    }

    pub fn output_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.result"))
    }

    /// Puts jobs interrupted by a crash back in the queue.
    pub async fn recover(&self) -> anyhow::Result<u64> {
        tokio::fs::create_dir_all(&self.dir).await.context("job directory")?;
        let requeued = sqlx::query("UPDATE jobs SET status = 'queued', started_at = NULL WHERE status = 'running'")
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(requeued)
    }

    /// Stores the row and queues a job for it.
    pub async fn submit(&self, user_id: i64, model_id: &str, key_fingerprint: &str, row: &[u8]) -> ApiResult<JobInfo> {
        let id = uuid::Uuid::new_v4().to_string();
        tokio::fs::write(self.input_path(&id), row)
            .await
            .context("storing the encrypted row")?;
        sqlx::query(
            "INSERT INTO jobs (id, user_id, model_id, key_fingerprint, status, input_bytes, created_at)
             VALUES (?, ?, ?, ?, 'queued', ?, ?)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(model_id)
        .bind(key_fingerprint)
        .bind(row.len() as i64)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.wake.notify_one();
        self.get(user_id, &id).await
    }

    /// A job of this user (404 for anyone else's).
    pub async fn get(&self, user_id: i64, id: &str) -> ApiResult<JobInfo> {
        sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND user_id = ?"))
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(ApiError::NotFound("prediction"))
    }

    pub async fn list(&self, user_id: i64) -> ApiResult<Vec<JobInfo>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = ? ORDER BY created_at DESC, id LIMIT 500"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Takes the oldest queued job, atomically (one UPDATE), so two workers never share one.
    async fn claim(&self) -> anyhow::Result<Option<Claimed>> {
        let row: Option<(String, i64, String, String)> = sqlx::query_as(
            "UPDATE jobs SET status = 'running', started_at = ?
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1)
             RETURNING id, user_id, model_id, key_fingerprint",
        )
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, user_id, model_id, key_fingerprint)| Claimed {
            id,
            user_id,
            model_id,
            key_fingerprint,
        }))
    }

    async fn finish(&self, id: &str, outcome: anyhow::Result<u64>) -> anyhow::Result<()> {
        let (status, error, bootstraps) = match outcome {
            Ok(bootstraps) => ("done", None, Some(bootstraps as i64)),
            Err(e) => ("failed", Some(format!("{e:#}")), None),
        };
        sqlx::query("UPDATE jobs SET status = ?, error = ?, bootstraps = ?, finished_at = ? WHERE id = ?")
            .bind(status)
            .bind(error)
            .bind(bootstraps)
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        let _ = tokio::fs::remove_file(self.input_path(id)).await;
        self.finished.notify_waiters();
        Ok(())
    }
}

/// Starts `count` workers that run jobs until the process ends.
pub fn spawn_workers(state: AppState, count: usize) {
    for worker in 0..count {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                match run_next(&state).await {
                    Ok(true) => continue,
                    Ok(false) => {
                        // Woken by a submission, or poll now and then in case one was missed.
                        let _ = tokio::time::timeout(Duration::from_secs(2), state.jobs.wake.notified()).await;
                    }
                    Err(e) => {
                        tracing::error!(worker, error = format!("{e:#}"), "job worker");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
}

/// Runs one queued job if there is one; `Ok(false)` when the queue is empty.
pub async fn run_next(state: &AppState) -> anyhow::Result<bool> {
    let Some(job) = state.jobs.claim().await? else {
        return Ok(false);
    };
    let started = std::time::Instant::now();
    let outcome = execute(state, &job).await;
    match &outcome {
        Ok(bootstraps) => tracing::info!(
            job = job.id,
            bootstraps,
            seconds = started.elapsed().as_secs_f64(),
            "job done"
        ),
        Err(e) => tracing::warn!(job = job.id, error = format!("{e:#}"), "job failed"),
    }
    state.jobs.finish(&job.id, outcome).await?;
    Ok(true)
}

async fn execute(state: &AppState, job: &Claimed) -> anyhow::Result<u64> {
    let model = state
        .models
        .get(&job.model_id)
        .await
        .map_err(|e| anyhow::anyhow!("model: {e}"))?;
    let row = tokio::fs::read(state.jobs.input_path(&job.id))
        .await
        .context("reading the encrypted row")?;
    let output_path = state.jobs.output_path(&job.id);
    let keys = state.keys.clone();
    let (user_id, model_id, fingerprint) = (job.user_id, job.model_id.clone(), job.key_fingerprint.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let key = keys.load(user_id, &model_id, &fingerprint)?;
        let row = EncryptedRow::from_bytes(&row, model.plan.input.ciphertexts())?;
        let (output, stats) = evaluate(&model.plan, &key, &row)?;
        let temporary = output_path.with_extension("tmp");
        std::fs::write(&temporary, output.to_bytes()).context("writing the result")?;
        std::fs::rename(&temporary, &output_path).context("storing the result")?;
        Ok(stats.bootstraps as u64)
    })
    .await
    .map_err(|e| anyhow::anyhow!("evaluation task ended abnormally: {e}"))?
}
