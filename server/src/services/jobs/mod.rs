//! The prediction job queue's policy: jobs persisted through [`crate::store::jobs`] (which
//! owns their SQL, files and notifications), long polls in [`waiters`], other processes'
//! notifications in [`notifications`]. The workers that evaluate jobs are in
//! [`crate::services::worker`]; with PostgreSQL they may run in any number of processes.
//!
//! - **Bounded**: a user has at most `max_pending_per_user` jobs queued or running (checked and
//!   inserted in one statement) and at most `max_waits_per_user` long polls open.
//! - **Fair**: a job is started round robin between users — the oldest job of the user whose
//!   last start is furthest back — so a user with a long queue delays another user's job by
//!   at most about one job per worker.
//! - **Crash-safe**: a started job holds a lease its worker renews; a job whose lease runs out
//!   (its worker or process died) is queued again, and failed once it has been started
//!   `attempts` times. The attempt number fences the result: only the worker of the current
//!   attempt can mark the job finished, so it finishes exactly once. A job is `done` only
//!   after its result is durable, and the result's SHA-256 is checked before it is served.
//! - **Across processes** (PostgreSQL): a job is claimed with `FOR UPDATE SKIP LOCKED`, so
//!   workers never wait on each other nor start the same job; `LISTEN/NOTIFY` wakes idle
//!   workers when a job is queued and the long polls of every web node when one finishes.
//! - **Key affinity**: a worker prefers, among the next few jobs in fair order, one whose
//!   server key it already holds decompressed (a miss costs about a second and 120 MB).
//! - **Short-lived data**: a job's encrypted row is deleted once it is evaluated; finished
//!   jobs and their results are deleted `retention` after they finish, or when the user
//!   deletes them.
//! - **Waiting without polling the database**: a long poll reads the job once, then waits on
//!   the job's own channel, to which the worker sends the finished job.

mod notifications;
pub mod waiters;

use std::sync::Arc;
use std::time::Duration;

use blindfold_api::JobInfo;
use blindfold_model::EncryptedRow;
use blindfold_model::ciphertexts::RowShape;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::services::keystore::HeldKeys;
use crate::services::{ServiceError, ServiceResult};
use crate::store::db::{Db, now_ms};
use crate::store::disk::Placement;
use crate::store::jobs::{Ending, JobStore, NewJob};

pub use crate::store::jobs::ClaimedJob;
use waiters::Waiters;

/// How many of the next jobs in fair order a worker looks at for one whose key it holds.
const AFFINITY_WINDOW: i64 = 8;

/// The most jobs a user's list shows.
const LIST_LIMIT: i64 = 500;

/// The queue's bounds, from the settings.
#[derive(Debug, Clone)]
pub struct JobLimits {
    pub max_pending_per_user: u32,
    pub max_waits_per_user: usize,
    /// Starts before a job is failed.
    pub attempts: u32,
    pub lease: Duration,
    /// How long a finished job and its result are kept.
    pub retention: Duration,
    /// A job's evaluation may run `time_base` plus `time_per_bootstrap` for each bootstrap of
    /// its model ([`JobLimits::time_limit`]).
    pub time_base: Duration,
    pub time_per_bootstrap: Duration,
}

impl JobLimits {
    /// How long the evaluation of a model costing `bootstraps` may run before it is stopped: a
    /// plan is slower than its figure only on a loaded or slow machine, and a worker must not
    /// be held without end.
    pub fn time_limit(&self, bootstraps: usize) -> Duration {
        self.time_base + self.time_per_bootstrap * bootstraps.min(u32::MAX as usize) as u32
    }
}

pub struct JobQueue {
    store: JobStore,
    limits: JobLimits,
    /// This process, as recorded in the jobs it claims: `<host>:<pid>`.
    worker_name: String,
    /// Woken whenever a job is queued, for idle workers.
    queued: Notify,
    waiters: Waiters,
}

/// What an evaluation produced: the encrypted result, or why there is none.
pub type Outcome = anyhow::Result<Evaluated>;

/// An evaluated job's encrypted result, not yet stored.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub bootstraps: u64,
    pub result: Vec<u8>,
}

impl JobQueue {
    pub fn new(db: Db, placement: Placement, limits: JobLimits) -> Self {
        Self {
            store: JobStore::new(db, placement, limits.attempts),
            limits,
            worker_name: format!("{}:{}", host_name(), std::process::id()),
            queued: Notify::new(),
            waiters: Waiters::default(),
        }
    }

    pub fn limits(&self) -> &JobLimits {
        &self.limits
    }

    /// At start-up: puts back in the queue jobs whose worker is gone, and with files, creates
    /// the job directory and deletes files no job needs. With SQLite one process owns the
    /// database, so every running job is an orphan now; with PostgreSQL other processes may
    /// be running jobs, so only jobs whose lease ran out are.
    pub async fn recover(&self) -> anyhow::Result<()> {
        self.store.prepare().await?;
        let orphaned_before = match self.store.is_shared() {
            false => i64::MAX,
            true => self.store.now().await?,
        };
        let reaped = self.reap(orphaned_before).await?;
        if reaped > 0 {
            tracing::info!(reaped, "jobs interrupted by a restart: queued again or failed");
        }
        let removed = self.store.sweep_orphans().await?;
        if removed > 0 {
            tracing::info!(removed, "removed job files no job refers to");
        }
        Ok(())
    }

    /// Refuses (429) when the user already has the most jobs queued or running: checked before
    /// a row is read, and again atomically when it is queued.
    pub async fn check_pending(&self, user_id: i64) -> ServiceResult<()> {
        let pending = self.store.pending(user_id).await?;
        if pending >= i64::from(self.limits.max_pending_per_user) {
            return Err(self.too_many_pending(pending));
        }
        Ok(())
    }

    fn too_many_pending(&self, pending: i64) -> ServiceError {
        ServiceError::RateLimited {
            detail: format!(
                "you have {pending} predictions queued or running, the most allowed; \
                 wait for one to finish"
            ),
            // About one evaluation.
            retry_after_s: 2,
        }
    }

    /// Checks that `row` is an encrypted row of `shape` (a malformed row is
    /// refused now, not in a worker), stores it and queues a job for it, within the user's
    /// quota of pending jobs.
    pub async fn submit(
        &self,
        user_id: i64,
        model_id: &str,
        key_fingerprint: &str,
        spec_sha256: &str,
        shape: RowShape,
        row: Vec<u8>,
    ) -> ServiceResult<JobInfo> {
        let row = tokio::task::spawn_blocking(move || -> ServiceResult<Vec<u8>> {
            EncryptedRow::from_bytes(&row, shape).map_err(ServiceError::Rejected)?;
            Ok(row)
        })
        .await??;
        let id = uuid::Uuid::new_v4().to_string();
        let job = NewJob {
            id: &id,
            user_id,
            model_id,
            key_fingerprint,
            spec_sha256,
            row,
        };
        if !self
            .store
            .insert_within_quota(job, self.limits.max_pending_per_user)
            .await?
        {
            let pending = self.store.pending(user_id).await?;
            return Err(self.too_many_pending(pending));
        }
        self.queued.notify_one();
        self.get(user_id, &id).await
    }

    /// Wakes an idle worker: of this process, and with PostgreSQL of every worker process.
    async fn wake_workers(&self) {
        self.queued.notify_one();
        if let Err(error) = self.store.notify_queued().await {
            // Workers also look at the queue every few seconds.
            tracing::warn!(error = format!("{error:#}"), "could not notify the workers");
        }
    }

    /// The encrypted row of a job being evaluated.
    pub async fn input(&self, id: &str) -> anyhow::Result<Vec<u8>> {
        self.store.row(id).await
    }

    /// A job of this user (not found for anyone else's).
    pub async fn get(&self, user_id: i64, id: &str) -> ServiceResult<JobInfo> {
        check_id(id)?;
        self.store
            .get(user_id, id)
            .await?
            .ok_or(ServiceError::NotFound("prediction"))
    }

    pub async fn list(&self, user_id: i64) -> ServiceResult<Vec<JobInfo>> {
        Ok(self.store.list(user_id, LIST_LIMIT).await?)
    }

    /// The job once it is done or failed, or as it is when `patience` runs out: lets a client
    /// learn of the result the moment it exists instead of polling. Reads the database once
    /// (twice if it times out), however many jobs finish meanwhile.
    pub async fn wait(&self, user_id: i64, id: &str, patience: Duration) -> ServiceResult<JobInfo> {
        check_id(id)?;
        if patience.is_zero() {
            return self.get(user_id, id).await;
        }
        let _slot = self.waiters.slot(user_id, self.limits.max_waits_per_user)?;
        let mut watcher = self.waiters.watch(id);
        let job = self.get(user_id, id).await?;
        if job.status.is_finished() {
            return Ok(job);
        }
        match tokio::time::timeout(patience, watcher.finished()).await {
            Ok(Some(job)) => Ok(job),
            // Timed out: the job as it is now.
            _ => self.get(user_id, id).await,
        }
    }

    /// The encrypted result of a finished job of this user. A stored result that does not
    /// match the digest recorded when it was written is never served: the job is failed.
    pub async fn result(&self, user_id: i64, id: &str) -> ServiceResult<Vec<u8>> {
        check_id(id)?;
        let stored = self
            .store
            .stored_result(user_id, id)
            .await?
            .ok_or(ServiceError::NotFound("prediction"))?;
        match stored.status {
            blindfold_api::JobStatus::Done => {}
            blindfold_api::JobStatus::Failed => {
                return Err(ServiceError::Conflict(format!(
                    "the prediction failed: {}",
                    stored.error.unwrap_or_default()
                )));
            }
            status => return Err(ServiceError::Conflict(format!("the prediction is {status}"))),
        }
        match stored.bytes {
            Some(bytes) if stored.intact => Ok(bytes),
            _ => {
                let why = "the stored result is damaged or missing";
                tracing::error!(job = id, why);
                self.store.fail_done(id, stored.attempt, why).await?;
                Err(ServiceError::Conflict(format!("the prediction failed: {why}")))
            }
        }
    }

    /// Deletes a job of this user and its files; a running job cannot be deleted until it
    /// finishes.
    pub async fn delete(&self, user_id: i64, id: &str) -> ServiceResult<()> {
        check_id(id)?;
        if self.store.delete_unless_running(user_id, id).await? {
            return Ok(());
        }
        let job = self.get(user_id, id).await?;
        Err(ServiceError::Conflict(format!(
            "the prediction is {}; delete it once it has finished",
            job.status
        )))
    }

    /// Deletes every job of this user that is not running (queued ones are cancelled), with
    /// their files; how many.
    pub async fn clear(&self, user_id: i64) -> ServiceResult<u64> {
        Ok(self.store.delete_all_unless_running(user_id).await?)
    }

    /// Removes the files of deleted jobs (with the database, their bytes went with their rows).
    pub async fn remove_deleted(&self, ids: &[String]) {
        self.store.remove_files(ids).await;
    }

    /// Starts the next job, atomically, so two workers never start the same one. The order is
    /// fair: the oldest queued job of the user whose last start is furthest back (round
    /// robin). Among the next [`AFFINITY_WINDOW`] jobs in that order, one whose key is in
    /// `held` (the keys this worker holds decompressed) goes first, then one whose key no
    /// other process started a job with last (so it holds it no more than we do), and only
    /// then one whose key another process likely holds: workers settle on a share of the
    /// users each instead of every worker decompressing every key. A user waits for at most
    /// that many jobs of other users.
    pub async fn claim(&self, held: &HeldKeys) -> anyhow::Result<Option<ClaimedJob>> {
        let mut candidates = self.store.queue_window(AFFINITY_WINDOW).await?;
        // Stable: within a rank, the fair order stays.
        candidates.sort_by_key(|job| {
            if held.contains(job.user_id, &job.key_fingerprint) {
                0
            } else if job.last_worker.as_deref().is_none_or(|w| w == self.worker_name) {
                1
            } else {
                2
            }
        });
        for candidate in candidates {
            // Another worker may have taken it since the window was read: the next one then.
            if let Some(job) = self
                .store
                .start(&candidate.id, &self.worker_name, self.lease_ms())
                .await?
            {
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    fn lease_ms(&self) -> i64 {
        self.limits.lease.as_millis() as i64
    }

    /// Extends a running job's lease; false when the job is no longer this attempt's (its
    /// lease ran out and it was queued again, or it was deleted).
    pub async fn renew(&self, job: &ClaimedJob) -> anyhow::Result<bool> {
        Ok(self.store.renew(job, self.lease_ms()).await?)
    }

    /// Stores a job's result durably and records how it ended, then wakes its long polls
    /// (with PostgreSQL, those of every web node). False when the job is no longer this
    /// attempt's: then nothing is recorded.
    pub async fn finish(&self, job: &ClaimedJob, outcome: Outcome) -> anyhow::Result<bool> {
        let ending = match outcome {
            Ok(evaluated) => Ending::Done {
                bootstraps: evaluated.bootstraps,
                result: evaluated.result,
            },
            Err(error) => Ending::Failed(format!("{error:#}")),
        };
        let Some(finished) = self.store.finish_fenced(job, ending).await? else {
            return Ok(false);
        };
        self.waiters.announce(&finished);
        Ok(true)
    }

    /// Running jobs whose lease ended before `expired_before`: queued again, or failed once
    /// they have been started `attempts` times. How many.
    async fn reap(&self, expired_before: i64) -> anyhow::Result<u64> {
        let why = format!(
            "the evaluation was interrupted {} times (the server stopped or crashed while running it); \
             it is not tried again",
            self.limits.attempts
        );
        let reaped = self.store.requeue_expired(expired_before, &why).await?;
        for job in &reaped {
            if job.status.is_finished() {
                tracing::warn!(job = job.id, "job failed after repeated interruptions");
                self.waiters.announce(job);
                if let Err(error) = self.store.notify_finished(&job.id).await {
                    // Their long polls end at their timeout instead, and clients ask again.
                    tracing::warn!(error = format!("{error:#}"), "could not notify the web nodes");
                }
            } else {
                tracing::info!(job = job.id, "job without a live worker queued again");
                self.wake_workers().await;
            }
        }
        Ok(reaped.len() as u64)
    }

    /// How many jobs there are of each status (for the `blindfold_jobs` gauge); statuses
    /// without jobs are absent.
    pub async fn count_by_status(&self) -> anyhow::Result<Vec<(blindfold_api::JobStatus, i64)>> {
        Ok(self.store.count_by_status().await?)
    }

    /// Waits until a job may have been queued, or `patience` passes.
    pub async fn wait_for_work(&self, patience: Duration) {
        let _ = tokio::time::timeout(patience, self.queued.notified()).await;
    }

    /// Housekeeping until `stop`: queues again jobs whose worker is gone (each lease period)
    /// and deletes results past their retention.
    pub async fn maintain(self: Arc<Self>, stop: CancellationToken) {
        let period = (self.limits.lease / 3).clamp(Duration::from_secs(1), Duration::from_secs(10));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => return,
            }
            let reaped = match self.store.now().await {
                Ok(now) => self.reap(now).await,
                Err(error) => Err(error.into()),
            };
            if let Err(error) = reaped {
                tracing::error!(error = format!("{error:#}"), "re-queueing abandoned jobs");
            }
            let cutoff = now_ms().saturating_sub(self.limits.retention.as_millis() as i64);
            match self.store.delete_finished_before(cutoff).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "deleted predictions past their retention"),
                Err(error) => tracing::error!(error = format!("{error:#}"), "deleting expired predictions"),
            }
        }
    }
}

/// This machine's name, as the kernel has it (Linux), or `localhost`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Job ids are UUIDs: anything else names no job, and is not worth a query.
fn check_id(id: &str) -> ServiceResult<()> {
    match uuid::Uuid::try_parse(id) {
        Ok(_) => Ok(()),
        Err(_) => Err(ServiceError::NotFound("prediction")),
    }
}
