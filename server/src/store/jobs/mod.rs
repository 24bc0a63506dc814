//! The `jobs` table and the bytes of its jobs: encrypted rows and results, as files beside
//! SQLite or `bytea` columns of the job's row with PostgreSQL ([`Placement`]). Every SQL string
//! about jobs and every file or notification a job has is here; the queue's policy (quotas,
//! fairness, leases, retries) is [`crate::services::jobs`].
//!
//! Files, under the job directory:
//!
//! ```text
//! <id>.row                 the encrypted row, until it is evaluated
//! <id>.<attempt>.result    the result of one attempt (the job's row names the attempt that finished it)
//! ```
//!
//! Each attempt writes its own result file, so a worker that lost its lease (and still runs)
//! never overwrites the result the job's current attempt recorded. With PostgreSQL, the fenced
//! update that finishes the job writes its result, and `LISTEN/NOTIFY` tells the other
//! processes when a job is queued or finished.

use std::path::{Path, PathBuf};

use anyhow::Context;
use blindfold_api::{JobInfo, JobStatus};
use sha2::{Digest, Sha256};

use crate::store::db::{self, Backend, Db, now_ms};
use crate::store::disk::{self, Placement};

mod notify;
mod results;

use notify::{FINISHED_CHANNEL, QUEUED_CHANNEL, notification};
pub use notify::{JobListener, Notification};
pub use results::StoredResult;

const JOB_COLUMNS: &str = "id, model_id, status, error, input_bytes, key_fingerprint, spec_sha256, bootstraps, created_at, started_at, finished_at";

pub struct JobStore {
    db: Db,
    placement: Placement,
    /// Starts before a job is failed: bounds the result files a job may have.
    max_attempts: u32,
}

/// A job to queue.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub model_id: &'a str,
    pub key_fingerprint: &'a str,
    pub spec_sha256: &'a str,
    /// The encrypted row, checked already.
    pub row: Vec<u8>,
}

/// A queued job as the claim sees it, in fair order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Candidate {
    pub id: String,
    pub user_id: i64,
    pub key_fingerprint: String,
    /// The process that last started a job with this job's key, if any.
    pub last_worker: Option<String>,
}

/// A started job, ready to run.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: String,
    pub user_id: i64,
    pub model_id: String,
    pub key_fingerprint: String,
    /// The client spec the row was encrypted against ([`blindfold_model::binding`]).
    pub spec_sha256: String,
    /// Which start this is (1 for the first); fences the job's renewals and its finish.
    pub attempt: i64,
}

/// How an evaluation ended, to record.
pub enum Ending {
    Done { bootstraps: u64, result: Vec<u8> },
    Failed(String),
}

impl JobStore {
    pub fn new(db: Db, placement: Placement, max_attempts: u32) -> Self {
        Self {
            db,
            placement,
            max_attempts,
        }
    }

    /// Whether other processes may share the queue (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.db.backend == Backend::Postgres
    }

    fn dir(&self) -> Option<&Path> {
        match &self.placement {
            Placement::Files(dir) => Some(dir),
            Placement::Database => None,
        }
    }

    fn row_path(dir: &Path, id: &str) -> PathBuf {
        dir.join(format!("{id}.row"))
    }

    fn result_path(dir: &Path, id: &str, attempt: i64) -> PathBuf {
        dir.join(format!("{id}.{attempt}.result"))
    }

    /// Every file a job may have: its row and the results of its attempts (none when bytes
    /// are kept in the database).
    fn files(&self, id: &str) -> Vec<PathBuf> {
        let Some(dir) = self.dir() else {
            return Vec::new();
        };
        let attempts = 0..=i64::from(self.max_attempts);
        std::iter::once(Self::row_path(dir, id))
            .chain(attempts.map(|attempt| Self::result_path(dir, id, attempt)))
            .collect()
    }

    /// Removes the files of jobs that are gone (with the database, their bytes went with
    /// their rows).
    pub async fn remove_files(&self, ids: &[String]) {
        let files: Vec<PathBuf> = ids.iter().flat_map(|id| self.files(id)).collect();
        if files.is_empty() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || files.iter().for_each(|file| disk::remove_quietly(file))).await;
    }

    /// Creates the job directory (with files).
    pub async fn prepare(&self) -> anyhow::Result<()> {
        if let Some(dir) = self.dir() {
            let made = dir.to_path_buf();
            tokio::task::spawn_blocking(move || disk::private_dir(&made))
                .await?
                .context("job directory")?;
        }
        Ok(())
    }

    /// Now by the clock leases are judged by (the database's with PostgreSQL).
    pub async fn now(&self) -> sqlx::Result<i64> {
        self.db.now_ms().await
    }

    /// Jobs of this user queued or running.
    pub async fn pending(&self, user_id: i64) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE user_id = $1 AND status IN ($2, $3)")
            .bind(user_id)
            .bind(JobStatus::Queued)
            .bind(JobStatus::Running)
            .fetch_one(&self.db.pool)
            .await
    }

    /// Stores the job's row and queues the job, unless the user already has `max_pending`
    /// jobs queued or running: checked in the insert itself, after the user's other
    /// submissions (one turn per user across processes), so parallel submissions cannot pass
    /// it together. False, with nothing stored, when over the quota.
    pub async fn insert_within_quota(&self, job: NewJob<'_>, max_pending: u32) -> anyhow::Result<bool> {
        let input_bytes = job.row.len() as i64;
        let path = self.dir().map(|dir| Self::row_path(dir, job.id));
        let row = match path {
            Some(path) => {
                tokio::task::spawn_blocking(move || disk::write_durably(&path, &job.row))
                    .await?
                    .context("storing the encrypted row")?;
                None
            }
            None => Some(job.row),
        };
        let (row_column, row_value) = match row {
            None => ("", ""),
            Some(_) => (", row_bytes", ", $11"),
        };
        let sql = format!(
            "INSERT INTO jobs (id, user_id, model_id, key_fingerprint, status, input_bytes, created_at, spec_sha256{row_column})
             SELECT $1, $2, $3, $4, $5, $6, $7, $8{row_value}
             WHERE (SELECT COUNT(*) FROM jobs WHERE user_id = $2 AND status IN ($5, $9)) < $10"
        );
        let mut insert = sqlx::query(&sql)
            .bind(job.id)
            .bind(job.user_id)
            .bind(job.model_id)
            .bind(job.key_fingerprint)
            .bind(JobStatus::Queued)
            .bind(input_bytes)
            .bind(now_ms())
            .bind(job.spec_sha256)
            .bind(JobStatus::Running)
            .bind(i64::from(max_pending));
        if let Some(row) = row {
            insert = insert.bind(row);
        }
        let inserted = async {
            let mut transaction = self.db.pool.begin().await?;
            db::take_turn(&mut transaction, self.db.backend, &format!("submit {}", job.user_id)).await?;
            let inserted = insert.execute(&mut *transaction).await?;
            if inserted.rows_affected() == 1 && self.is_shared() {
                // Delivered at commit: idle workers of every process look at the queue.
                notification(QUEUED_CHANNEL, "").execute(&mut *transaction).await?;
            }
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(inserted.rows_affected() == 1)
        }
        .await;
        match inserted {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.remove_files(&[job.id.to_owned()]).await;
                Ok(false)
            }
            Err(error) => {
                self.remove_files(&[job.id.to_owned()]).await;
                Err(error.into())
            }
        }
    }

    /// The encrypted row of a job being evaluated.
    pub async fn row(&self, id: &str) -> anyhow::Result<Vec<u8>> {
        match self.dir() {
            Some(dir) => tokio::fs::read(Self::row_path(dir, id))
                .await
                .context("reading the encrypted row"),
            None => sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT row_bytes FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.db.pool)
                .await?
                .flatten()
                .context("the encrypted row is gone (the prediction was deleted)"),
        }
    }

    /// A job of this user (none for anyone else's).
    pub async fn get(&self, user_id: i64, id: &str) -> sqlx::Result<Option<JobInfo>> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.db.pool)
        .await
    }

    /// A job, whoever's it is.
    pub async fn get_any(&self, id: &str) -> sqlx::Result<Option<JobInfo>> {
        sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
    }

    /// The user's newest jobs first, at most `limit`.
    pub async fn list(&self, user_id: i64, limit: i64) -> sqlx::Result<Vec<JobInfo>> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await
    }

    /// The next `limit` queued jobs in fair order: the oldest job of the user whose last start
    /// is furthest back first. Read without locks: a job may be started by another worker
    /// before [`JobStore::start`] asks for it.
    pub async fn queue_window(&self, limit: i64) -> sqlx::Result<Vec<Candidate>> {
        sqlx::query_as(
            "SELECT j.id, j.user_id, j.key_fingerprint,
                    (SELECT h.worker FROM jobs h
                     WHERE h.user_id = j.user_id AND h.key_fingerprint = j.key_fingerprint
                       AND h.started_at IS NOT NULL
                     ORDER BY h.started_at DESC LIMIT 1) AS last_worker
             FROM jobs j JOIN users u ON u.id = j.user_id
             WHERE j.status = $1
             ORDER BY u.last_turn, j.created_at, j.id
             LIMIT $2",
        )
        .bind(JobStatus::Queued)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await
    }

    /// Starts job `id` if it is still queued (none when another worker took it, with
    /// PostgreSQL also while another worker is taking it: `SKIP LOCKED`, never a wait), with
    /// a lease of `lease_ms` on the database's clock, recording `worker`; its user's turn
    /// becomes the latest, in the same transaction.
    pub async fn start(&self, id: &str, worker: &str, lease_ms: i64) -> sqlx::Result<Option<ClaimedJob>> {
        let now = self.now().await?;
        let lock = match self.db.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET status = $1, started_at = $2, lease_until = $3, attempts = attempts + 1, worker = $4
             WHERE id = (SELECT id FROM jobs WHERE id = $5 AND status = $6 {lock})
             RETURNING id, user_id, model_id, key_fingerprint, spec_sha256, attempts"
        );
        let mut transaction = self.db.pool.begin().await?;
        let row: Option<(String, i64, String, String, String, i64)> = sqlx::query_as(&sql)
            .bind(JobStatus::Running)
            .bind(now)
            .bind(now + lease_ms)
            .bind(worker)
            .bind(id)
            .bind(JobStatus::Queued)
            .fetch_optional(&mut *transaction)
            .await?;
        let Some((id, user_id, model_id, key_fingerprint, spec_sha256, attempt)) = row else {
            return Ok(None);
        };
        sqlx::query("UPDATE users SET last_turn = (SELECT MAX(last_turn) FROM users) + 1 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Some(ClaimedJob {
            id,
            user_id,
            model_id,
            key_fingerprint,
            spec_sha256,
            attempt,
        }))
    }

    /// Extends a running job's lease by `lease_ms`; false when the job is no longer this
    /// attempt's (its lease ran out and it was queued again, or it was deleted).
    pub async fn renew(&self, job: &ClaimedJob, lease_ms: i64) -> sqlx::Result<bool> {
        let renewed = sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND status = $3 AND attempts = $4")
            .bind(self.now().await? + lease_ms)
            .bind(&job.id)
            .bind(JobStatus::Running)
            .bind(job.attempt)
            .execute(&self.db.pool)
            .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Stores a job's result durably and records how it ended, fenced by the attempt: none
    /// when the job is no longer this attempt's, and then nothing is recorded (a file this
    /// attempt wrote goes with the job, or with the sweep). With PostgreSQL, the other
    /// processes hear of the finish when it commits.
    pub async fn finish_fenced(&self, job: &ClaimedJob, ending: Ending) -> anyhow::Result<Option<JobInfo>> {
        let ending = match (ending, self.dir()) {
            (Ending::Done { bootstraps, result }, Some(dir)) => {
                let path = Self::result_path(dir, &job.id, job.attempt);
                tokio::task::spawn_blocking(move || {
                    disk::write_durably(&path, &result).context("storing the result")?;
                    disk::crash_point("result-stored");
                    anyhow::Ok(result)
                })
                .await?
                .map_or_else(
                    |e| Ending::Failed(format!("{e:#}")),
                    |result| Ending::Done { bootstraps, result },
                )
            }
            (ending, _) => ending,
        };
        let (status, error, bootstraps, digest, in_row) = match ending {
            Ending::Done { bootstraps, result } => (
                JobStatus::Done,
                None,
                Some(bootstraps as i64),
                Some(hex::encode(Sha256::digest(&result))),
                Some(result),
            ),
            Ending::Failed(why) => (JobStatus::Failed, Some(why), None, None, None),
        };
        let data = match self.placement {
            Placement::Files(_) => "",
            // The row is no longer needed; the result is stored with the same update.
            Placement::Database => ", row_bytes = NULL, result_bytes = $9",
        };
        let sql = format!(
            "UPDATE jobs SET status = $1, error = $2, bootstraps = $3, result_sha256 = $4, finished_at = $5,
             lease_until = NULL{data}
             WHERE id = $6 AND status = $7 AND attempts = $8
             RETURNING {JOB_COLUMNS}"
        );
        let mut update = sqlx::query_as(&sql)
            .bind(status)
            .bind(error)
            .bind(bootstraps)
            .bind(digest)
            .bind(now_ms())
            .bind(&job.id)
            .bind(JobStatus::Running)
            .bind(job.attempt);
        if self.placement == Placement::Database {
            disk::crash_point("result-stored");
            update = update.bind(in_row);
        }
        let mut transaction = self.db.pool.begin().await?;
        let finished: Option<JobInfo> = update.fetch_optional(&mut *transaction).await?;
        if finished.is_some() && self.is_shared() {
            notification(FINISHED_CHANNEL, &job.id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        let Some(finished) = finished else {
            // Deleted meanwhile (its files with it, except the result just written), or
            // another attempt owns it now.
            if self.get_any(&job.id).await?.is_none() {
                self.remove_files(std::slice::from_ref(&job.id)).await;
            }
            return Ok(None);
        };
        if let Some(dir) = self.dir() {
            disk::remove_quietly(&Self::row_path(dir, &job.id));
            if finished.status == JobStatus::Failed {
                disk::remove_quietly(&Self::result_path(dir, &job.id, job.attempt));
            }
        }
        Ok(Some(finished))
    }

    /// Running jobs whose lease ended before `expired_before`: queued again, or failed with
    /// `why` once they have been started `max_attempts` times (their files removed). The jobs
    /// as they are now.
    pub async fn requeue_expired(&self, expired_before: i64, why: &str) -> sqlx::Result<Vec<JobInfo>> {
        let data = match self.placement {
            Placement::Files(_) => "",
            Placement::Database => ", row_bytes = CASE WHEN attempts >= $1 THEN NULL ELSE row_bytes END",
        };
        let reaped: Vec<JobInfo> = sqlx::query_as(&format!(
            "UPDATE jobs SET
               status = CASE WHEN attempts >= $1 THEN $2 ELSE $3 END,
               error = CASE WHEN attempts >= $1 THEN $4 ELSE NULL END,
               finished_at = CASE WHEN attempts >= $1 THEN $5 ELSE NULL END,
               started_at = CASE WHEN attempts >= $1 THEN started_at ELSE NULL END,
               lease_until = NULL{data}
             WHERE status = $6 AND (lease_until IS NULL OR lease_until < $7)
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(i64::from(self.max_attempts))
        .bind(JobStatus::Failed)
        .bind(JobStatus::Queued)
        .bind(why)
        .bind(now_ms())
        .bind(JobStatus::Running)
        .bind(expired_before)
        .fetch_all(&self.db.pool)
        .await?;
        let failed: Vec<String> = reaped
            .iter()
            .filter(|job| job.status == JobStatus::Failed)
            .map(|job| job.id.clone())
            .collect();
        self.remove_files(&failed).await;
        Ok(reaped)
    }

    /// How many jobs there are of each status; statuses without jobs are absent.
    pub async fn count_by_status(&self) -> sqlx::Result<Vec<(JobStatus, i64)>> {
        sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
            .fetch_all(&self.db.pool)
            .await
    }

    /// Deletes a job of this user with its files unless it is running; whether it did.
    pub async fn delete_unless_running(&self, user_id: i64, id: &str) -> sqlx::Result<bool> {
        let deleted: Option<String> =
            sqlx::query_scalar("DELETE FROM jobs WHERE id = $1 AND user_id = $2 AND status != $3 RETURNING id")
                .bind(id)
                .bind(user_id)
                .bind(JobStatus::Running)
                .fetch_optional(&self.db.pool)
                .await?;
        self.remove_files(deleted.as_slice()).await;
        Ok(deleted.is_some())
    }

    /// Deletes every job of this user that is not running, with their files; how many.
    pub async fn delete_all_unless_running(&self, user_id: i64) -> sqlx::Result<u64> {
        let deleted: Vec<String> =
            sqlx::query_scalar("DELETE FROM jobs WHERE user_id = $1 AND status != $2 RETURNING id")
                .bind(user_id)
                .bind(JobStatus::Running)
                .fetch_all(&self.db.pool)
                .await?;
        self.remove_files(&deleted).await;
        Ok(deleted.len() as u64)
    }
}
