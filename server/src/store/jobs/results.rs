//! Stored results read back and checked, and the sweeps of what jobs leave behind.

use std::collections::HashSet;
use std::path::Path;

use blindfold_api::JobStatus;
use sha2::{Digest, Sha256};

use super::JobStore;
use crate::store::disk::{self, Placement};

/// A user's finished or unfinished job as [`JobStore::stored_result`] reads it.
pub struct StoredResult {
    pub status: JobStatus,
    pub error: Option<String>,
    /// The result's bytes when they are there, and whether they match the digest recorded when
    /// they were written.
    pub bytes: Option<Vec<u8>>,
    pub intact: bool,
    pub attempt: i64,
}

/// What [`JobStore::stored_result`] reads of a job.
#[derive(sqlx::FromRow)]
struct ResultRow {
    status: JobStatus,
    error: Option<String>,
    result_sha256: Option<String>,
    attempts: i64,
    /// In the row with PostgreSQL; NULL with files.
    result_bytes: Option<Vec<u8>>,
}

impl JobStore {
    /// Deletes jobs that finished before `cutoff`, with their results; how many.
    pub async fn delete_finished_before(&self, cutoff: i64) -> sqlx::Result<u64> {
        let expired: Vec<String> =
            sqlx::query_scalar("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1 RETURNING id")
                .bind(cutoff)
                .fetch_all(&self.db.pool)
                .await?;
        self.remove_files(&expired).await;
        Ok(expired.len() as u64)
    }

    /// Deletes files in the job directory that no job needs (left by a crash between writing
    /// a file and recording it, or before a temporary file was renamed): rows of jobs no longer
    /// pending, results of jobs not done, and temporary files. How many.
    pub async fn sweep_orphans(&self) -> anyhow::Result<u64> {
        let Some(dir) = self.dir().map(Path::to_path_buf) else {
            return Ok(0);
        };
        let jobs: Vec<(String, JobStatus, i64)> = sqlx::query_as("SELECT id, status, attempts FROM jobs")
            .fetch_all(&self.db.pool)
            .await?;
        let needed: HashSet<String> = jobs
            .iter()
            .filter_map(|(id, status, attempt)| match status {
                JobStatus::Queued | JobStatus::Running => Some(format!("{id}.row")),
                JobStatus::Done => Some(format!("{id}.{attempt}.result")),
                JobStatus::Failed => None,
            })
            .collect();
        let removed = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let mut removed = 0;
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !needed.contains(&name) {
                    disk::remove_quietly(&entry.path());
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await??;
        Ok(removed)
    }

    /// A job of this user with its stored result, read and checked against the digest
    /// recorded when it was written.
    pub async fn stored_result(&self, user_id: i64, id: &str) -> anyhow::Result<Option<StoredResult>> {
        let result_column = match self.placement {
            Placement::Files(_) => "NULL",
            Placement::Database => "result_bytes",
        };
        let row: Option<ResultRow> = sqlx::query_as(&format!(
            "SELECT status, error, result_sha256, attempts, {result_column} AS result_bytes
             FROM jobs WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let bytes = match (self.dir(), row.status) {
            (Some(dir), JobStatus::Done) => match tokio::fs::read(Self::result_path(dir, id, row.attempts)).await {
                Ok(bytes) => Some(bytes),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => return Err(anyhow::Error::from(error).context("reading a result")),
            },
            (Some(_), _) => None,
            (None, _) => row.result_bytes,
        };
        let intact = match (&bytes, &row.result_sha256) {
            (Some(bytes), Some(digest)) => *digest == hex::encode(Sha256::digest(bytes)),
            _ => false,
        };
        Ok(Some(StoredResult {
            status: row.status,
            error: row.error,
            bytes,
            intact,
            attempt: row.attempts,
        }))
    }

    /// Fails a done job whose stored result is damaged or missing, saying `why`, and removes
    /// what is left of the result.
    pub async fn fail_done(&self, id: &str, attempt: i64, why: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE jobs SET status = $1, error = $2 WHERE id = $3 AND status = $4")
            .bind(JobStatus::Failed)
            .bind(why)
            .bind(id)
            .bind(JobStatus::Done)
            .execute(&self.db.pool)
            .await?;
        if let Some(dir) = self.dir() {
            disk::remove_quietly(&Self::result_path(dir, id, attempt));
        }
        Ok(())
    }
}
