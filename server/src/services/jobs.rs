//! The prediction job queue: jobs persisted in the database, their encrypted rows and results
//! as files. A job left `running` by a crash is queued again at start-up. The workers that
//! evaluate jobs are in [`crate::services::worker`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use blindfold_api::{JobInfo, JobStatus};
use blindfold_model::EncryptedRow;
use sqlx::SqlitePool;
use tokio::sync::Notify;

use crate::db::now_ms;
use crate::services::{ServiceError, ServiceResult};

const JOB_COLUMNS: &str = "id, model_id, status, error, input_bytes, bootstraps, created_at, started_at, finished_at";

pub struct JobQueue {
    pool: SqlitePool,
    dir: PathBuf,
    /// Woken whenever a job is queued, for idle workers.
    queued: Notify,
    /// Woken whenever a job finishes, for clients waiting on one.
    finished: Notify,
}

/// A claimed job, ready to run.
pub struct ClaimedJob {
    pub id: String,
    pub user_id: i64,
    pub model_id: String,
    pub key_fingerprint: String,
}

impl JobQueue {
    pub fn new(pool: SqlitePool, dir: PathBuf) -> Self {
        Self {
            pool,
            dir,
            queued: Notify::new(),
            finished: Notify::new(),
        }
    }

    /// The job once it is done or failed, or as it is when `patience` runs out: lets a client
    /// learn of the result the moment it exists instead of polling.
    pub async fn wait(&self, user_id: i64, id: &str, patience: Duration) -> ServiceResult<JobInfo> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Registered before the status is read, so a finish in between is not missed.
            let finished = self.finished.notified();
            let job = self.get(user_id, id).await?;
            if job.status.is_finished() {
                return Ok(job);
            }
            if tokio::time::timeout_at(deadline, finished).await.is_err() {
                return Ok(job);
            }
        }
    }

    /// Waits until a job may have been queued, or `patience` passes.
    pub async fn wait_for_work(&self, patience: Duration) {
        let _ = tokio::time::timeout(patience, self.queued.notified()).await;
    }

    pub fn input_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.row"))
    }

    pub fn output_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.result"))
    }

    /// Puts jobs interrupted by a crash back in the queue.
    pub async fn recover(&self) -> anyhow::Result<u64> {
        tokio::fs::create_dir_all(&self.dir).await.context("job directory")?;
        let requeued = sqlx::query("UPDATE jobs SET status = ?, started_at = NULL WHERE status = ?")
            .bind(JobStatus::Queued)
            .bind(JobStatus::Running)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(requeued)
    }

    /// Checks that `row` is an encrypted row of `ciphertexts` ciphertexts (a malformed row is
    /// refused now, not in a worker), stores it and queues a job for it.
    pub async fn submit(
        &self,
        user_id: i64,
        model_id: &str,
        key_fingerprint: &str,
        ciphertexts: usize,
        row: Vec<u8>,
    ) -> ServiceResult<JobInfo> {
        let row = tokio::task::spawn_blocking(move || EncryptedRow::from_bytes(&row, ciphertexts).map(|_| row))
            .await?
            .map_err(ServiceError::Rejected)?;
        let id = uuid::Uuid::new_v4().to_string();
        tokio::fs::write(self.input_path(&id), &row)
            .await
            .context("storing the encrypted row")?;
        sqlx::query(
            "INSERT INTO jobs (id, user_id, model_id, key_fingerprint, status, input_bytes, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(model_id)
        .bind(key_fingerprint)
        .bind(JobStatus::Queued)
        .bind(row.len() as i64)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.queued.notify_one();
        self.get(user_id, &id).await
    }

    /// A job of this user (not found for anyone else's).
    pub async fn get(&self, user_id: i64, id: &str) -> ServiceResult<JobInfo> {
        sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND user_id = ?"))
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(ServiceError::NotFound("prediction"))
    }

    pub async fn list(&self, user_id: i64) -> ServiceResult<Vec<JobInfo>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = ? ORDER BY created_at DESC, id LIMIT 500"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The encrypted result of a finished job of this user.
    pub async fn result(&self, user_id: i64, id: &str) -> ServiceResult<Vec<u8>> {
        let job = self.get(user_id, id).await?;
        match job.status {
            JobStatus::Done => {}
            JobStatus::Failed => {
                return Err(ServiceError::Conflict(format!(
                    "the prediction failed: {}",
                    job.error.unwrap_or_default()
                )));
            }
            status => return Err(ServiceError::Conflict(format!("the prediction is {status}"))),
        }
        let bytes = tokio::fs::read(self.output_path(&job.id))
            .await
            .context("reading a result")?;
        Ok(bytes)
    }

    /// Takes the oldest queued job, atomically (one UPDATE), so two workers never share one.
    pub async fn claim(&self) -> anyhow::Result<Option<ClaimedJob>> {
        let row: Option<(String, i64, String, String)> = sqlx::query_as(
            "UPDATE jobs SET status = ?, started_at = ?
             WHERE id = (SELECT id FROM jobs WHERE status = ? ORDER BY created_at, id LIMIT 1)
             RETURNING id, user_id, model_id, key_fingerprint",
        )
        .bind(JobStatus::Running)
        .bind(now_ms())
        .bind(JobStatus::Queued)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, user_id, model_id, key_fingerprint)| ClaimedJob {
            id,
            user_id,
            model_id,
            key_fingerprint,
        }))
    }

    /// Records how a job ended: the number of bootstraps, or why it failed.
    pub async fn finish(&self, id: &str, outcome: &anyhow::Result<u64>) -> anyhow::Result<()> {
        let (status, error, bootstraps) = match outcome {
            Ok(bootstraps) => (JobStatus::Done, None, Some(*bootstraps as i64)),
            Err(e) => (JobStatus::Failed, Some(format!("{e:#}")), None),
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
