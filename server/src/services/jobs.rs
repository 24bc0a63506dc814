//! The prediction job queue: jobs persisted in the database, their encrypted rows and results
//! stored as [`Placement`] says (files beside SQLite, `bytea` columns of the job with
//! PostgreSQL). The workers that evaluate jobs are in [`crate::services::worker`]; with
//! PostgreSQL they may run in any number of processes.
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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use blindfold_api::{JobInfo, JobStatus};
use blindfold_model::EncryptedRow;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::db::{self, Backend, Db, now_ms};
use crate::services::{ServiceError, ServiceResult};
use crate::storage::{self, Placement};

const JOB_COLUMNS: &str = "id, model_id, status, error, input_bytes, key_fingerprint, spec_sha256, bootstraps, created_at, started_at, finished_at";

/// PostgreSQL notification channels: a job was queued (payload empty), a job finished (payload:
/// its id).
const QUEUED_CHANNEL: &str = "blindfold_job_queued";
const FINISHED_CHANNEL: &str = "blindfold_job_finished";

/// `NOTIFY channel, payload` (PostgreSQL), delivered when the transaction it runs in commits.
fn notification<'q>(
    channel: &'q str,
    payload: &'q str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload)
}

/// How many of the next jobs in fair order a worker looks at for one whose key it holds.
const AFFINITY_WINDOW: i64 = 8;

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
    db: Db,
    placement: Placement,
    limits: JobLimits,
    /// This process, as recorded in the jobs it claims: `<host>:<pid>`.
    worker_name: String,
    /// Woken whenever a job is queued, for idle workers.
    queued: Notify,
    /// The finished job, for the long polls waiting on it, by job id.
    watchers: Mutex<HashMap<String, watch::Sender<Option<JobInfo>>>>,
    /// Open long polls by user.
    waits: Mutex<HashMap<i64, usize>>,
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
            db,
            placement,
            limits,
            worker_name: format!("{}:{}", host_name(), std::process::id()),
            queued: Notify::new(),
            watchers: Mutex::default(),
            waits: Mutex::default(),
        }
    }

    pub fn limits(&self) -> &JobLimits {
        &self.limits
    }

    fn dir(&self) -> Option<&Path> {
        match &self.placement {
            Placement::Files(dir) => Some(dir),
            Placement::Database => None,
        }
    }

    fn input_path(dir: &Path, id: &str) -> PathBuf {
        dir.join(format!("{id}.row"))
    }

    /// The result of one attempt at a job. Each attempt writes its own file, so a worker that
    /// lost its lease (and still runs) never overwrites the result the job's current attempt
    /// recorded; the one served is that of the attempt that finished the job. (In the
    /// database, the fenced update that finishes the job writes its result.)
    fn output_path(dir: &Path, id: &str, attempt: i64) -> PathBuf {
        dir.join(format!("{id}.{attempt}.result"))
    }

    /// Every file a job may have: its row and the results of its attempts (none when bytes
    /// are kept in the database).
    fn files(&self, id: &str) -> Vec<PathBuf> {
        let Some(dir) = self.dir() else {
            return Vec::new();
        };
        let attempts = 0..=i64::from(self.limits.attempts);
        std::iter::once(Self::input_path(dir, id))
            .chain(attempts.map(|attempt| Self::output_path(dir, id, attempt)))
            .collect()
    }

    /// At start-up: puts back in the queue jobs whose worker is gone, and with files, creates
    /// the job directory and deletes files no job needs (left by a crash between writing a
    /// file and recording it, or before a temporary file was renamed). With SQLite one
    /// process owns the database, so every running job is an orphan now; with PostgreSQL
    /// other processes may be running jobs, so only jobs whose lease ran out are.
    pub async fn recover(&self) -> anyhow::Result<()> {
        if let Some(dir) = self.dir() {
            let made = dir.to_path_buf();
            tokio::task::spawn_blocking(move || storage::private_dir(&made))
                .await?
                .context("job directory")?;
        }
        let orphaned_before = match self.db.backend {
            Backend::Sqlite => i64::MAX,
            Backend::Postgres => self.db_now().await?,
        };
        let reaped = self.reap(orphaned_before).await?;
        if reaped > 0 {
            tracing::info!(reaped, "jobs interrupted by a restart: queued again or failed");
        }
        if self.dir().is_some() {
            let removed = self.sweep_orphans().await?;
            if removed > 0 {
                tracing::info!(removed, "removed job files no job refers to");
            }
        }
        Ok(())
    }

    /// Refuses (429) when the user already has the most jobs queued or running: checked before
    /// a row is read, and again atomically when it is queued.
    pub async fn check_pending(&self, user_id: i64) -> ServiceResult<()> {
        let pending = self.pending(user_id).await?;
        if pending >= i64::from(self.limits.max_pending_per_user) {
            return Err(self.too_many_pending(pending));
        }
        Ok(())
    }

    async fn pending(&self, user_id: i64) -> ServiceResult<i64> {
        let (pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE user_id = $1 AND status IN ('queued', 'running')")
                .bind(user_id)
                .fetch_one(&self.db.pool)
                .await?;
        Ok(pending)
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

    /// Checks that `row` is an encrypted row of `ciphertexts` ciphertexts (a malformed row is
    /// refused now, not in a worker), stores it and queues a job for it, within the user's
    /// quota of pending jobs.
    pub async fn submit(
        &self,
        user_id: i64,
        model_id: &str,
        key_fingerprint: &str,
        spec_sha256: &str,
        ciphertexts: usize,
        row: Vec<u8>,
    ) -> ServiceResult<JobInfo> {
        let id = uuid::Uuid::new_v4().to_string();
        let path = self.dir().map(|dir| Self::input_path(dir, &id));
        let row_bytes = row.len() as i64;
        let row = tokio::task::spawn_blocking(move || -> ServiceResult<Vec<u8>> {
            EncryptedRow::from_bytes(&row, ciphertexts).map_err(ServiceError::Rejected)?;
            if let Some(path) = path {
                storage::write_durably(&path, &row).context("storing the encrypted row")?;
            }
            Ok(row)
        })
        .await??;
        // The quota is checked in the insert itself, so parallel submissions cannot pass it
        // together.
        let (row_column, row_value) = match self.placement {
            Placement::Files(_) => ("", ""),
            Placement::Database => (", row_bytes", ", $11"),
        };
        let sql = format!(
            "INSERT INTO jobs (id, user_id, model_id, key_fingerprint, status, input_bytes, created_at, spec_sha256{row_column})
             SELECT $1, $2, $3, $4, $5, $6, $7, $10{row_value}
             WHERE (SELECT COUNT(*) FROM jobs WHERE user_id = $8 AND status IN ('queued', 'running')) < $9"
        );
        let mut insert = sqlx::query(&sql)
            .bind(&id)
            .bind(user_id)
            .bind(model_id)
            .bind(key_fingerprint)
            .bind(JobStatus::Queued)
            .bind(row_bytes)
            .bind(now_ms())
            .bind(user_id)
            .bind(i64::from(self.limits.max_pending_per_user))
            .bind(spec_sha256);
        if self.placement == Placement::Database {
            insert = insert.bind(row);
        }
        let inserted = async {
            let mut transaction = self.db.pool.begin().await?;
            // The count in the insert must see the user's other submissions.
            db::take_turn(&mut transaction, self.db.backend, &format!("submit {user_id}")).await?;
            let inserted = insert.execute(&mut *transaction).await?;
            transaction.commit().await?;
            Ok::<_, sqlx::Error>(inserted)
        }
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                self.remove_files(&id).await;
                let pending = self.pending(user_id).await?;
                return Err(self.too_many_pending(pending));
            }
            Err(error) => {
                self.remove_files(&id).await;
                return Err(error.into());
            }
        }
        self.wake_workers().await;
        self.get(user_id, &id).await
    }

    /// Wakes an idle worker: of this process, and with PostgreSQL of every worker process.
    async fn wake_workers(&self) {
        self.queued.notify_one();
        if self.db.backend == Backend::Postgres
            && let Err(error) = notification(QUEUED_CHANNEL, "").execute(&self.db.pool).await
        {
            // Workers also look at the queue every few seconds.
            tracing::warn!(error = format!("{error:#}"), "could not notify the workers");
        }
    }

    /// The encrypted row of a job being evaluated.
    pub async fn input(&self, id: &str) -> anyhow::Result<Vec<u8>> {
        match self.dir() {
            Some(dir) => tokio::fs::read(Self::input_path(dir, id))
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

    /// A job of this user (not found for anyone else's).
    pub async fn get(&self, user_id: i64, id: &str) -> ServiceResult<JobInfo> {
        check_id(id)?;
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or(ServiceError::NotFound("prediction"))
    }

    pub async fn list(&self, user_id: i64) -> ServiceResult<Vec<JobInfo>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT 500"
        ))
        .bind(user_id)
        .fetch_all(&self.db.pool)
        .await?)
    }

    /// The job once it is done or failed, or as it is when `patience` runs out: lets a client
    /// learn of the result the moment it exists instead of polling. Reads the database once
    /// (twice if it times out), however many jobs finish meanwhile.
    pub async fn wait(&self, user_id: i64, id: &str, patience: Duration) -> ServiceResult<JobInfo> {
        check_id(id)?;
        if patience.is_zero() {
            return self.get(user_id, id).await;
        }
        let _slot = self.wait_slot(user_id)?;
        // Subscribed before the status is read, so a finish in between is not missed.
        let mut watcher = self.watch(id);
        let job = self.get(user_id, id).await?;
        if job.status.is_finished() {
            return Ok(job);
        }
        let finished = tokio::time::timeout(patience, watcher.receiver.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(|seen| seen.ok().and_then(|job| job.clone()));
        match finished {
            Some(job) => Ok(job),
            // Timed out: the job as it is now.
            None => self.get(user_id, id).await,
        }
    }

    /// One of the user's long-poll slots, released when dropped.
    fn wait_slot(&self, user_id: i64) -> ServiceResult<WaitSlot<'_>> {
        let mut waits = self.waits.lock().expect("waits lock");
        let open = waits.entry(user_id).or_default();
        if *open >= self.limits.max_waits_per_user {
            return Err(ServiceError::RateLimited {
                detail: format!(
                    "at most {} predictions can be waited on at once",
                    self.limits.max_waits_per_user
                ),
                retry_after_s: 1,
            });
        }
        *open += 1;
        Ok(WaitSlot { queue: self, user_id })
    }

    fn watch(&self, id: &str) -> Watcher<'_> {
        let mut watchers = self.watchers.lock().expect("watchers lock");
        let receiver = watchers
            .entry(id.to_owned())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe();
        Watcher {
            queue: self,
            id: id.to_owned(),
            receiver,
        }
    }

    /// Tells the long polls of other web nodes that this job finished (PostgreSQL).
    async fn announce_elsewhere(&self, id: &str) {
        if self.db.backend == Backend::Postgres
            && let Err(error) = notification(FINISHED_CHANNEL, id).execute(&self.db.pool).await
        {
            // Their long polls end at their timeout instead, and clients ask again.
            tracing::warn!(error = format!("{error:#}"), "could not notify the web nodes");
        }
    }

    /// Listens for other processes' notifications until `stop` (PostgreSQL; `url` is the
    /// database's): a queued job wakes an idle worker of this process, a finished job the
    /// long polls waiting on it here. The listener reconnects by itself after a lost
    /// connection; what it missed meanwhile, idle workers find by looking at the queue every
    /// few seconds and long polls when they time out.
    pub async fn listen(self: Arc<Self>, url: String, stop: CancellationToken) {
        if self.db.backend != Backend::Postgres {
            return;
        }
        let mut listener = loop {
            let connected = async {
                let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                listener.listen_all([QUEUED_CHANNEL, FINISHED_CHANNEL]).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            match connected.await {
                Ok(listener) => break listener,
                Err(error) => tracing::warn!(error = format!("{error:#}"), "listening for job notifications"),
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stop.cancelled() => return,
            }
        };
        loop {
            let notification = tokio::select! {
                received = listener.recv() => received,
                () = stop.cancelled() => return,
            };
            match notification {
                Ok(notification) if notification.channel() == QUEUED_CHANNEL => self.queued.notify_one(),
                Ok(notification) => {
                    let id = notification.payload();
                    let waited_on = self.watchers.lock().expect("watchers lock").contains_key(id);
                    if waited_on {
                        match self.get_any(id).await {
                            Ok(Some(job)) if job.status.is_finished() => self.announce(&job),
                            Ok(_) => {}
                            Err(error) => tracing::warn!(error = format!("{error:#}"), "reading a finished job"),
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "job notifications");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
    }

    /// A job, whoever's it is (for announcing it to the long polls of its own user).
    async fn get_any(&self, id: &str) -> anyhow::Result<Option<JobInfo>> {
        Ok(sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?)
    }

    /// Tells the long polls waiting on this job that it finished.
    fn announce(&self, job: &JobInfo) {
        if let Some(sender) = self.watchers.lock().expect("watchers lock").remove(&job.id) {
            sender.send_replace(Some(job.clone()));
        }
    }

    /// The encrypted result of a finished job of this user. A stored result that does not
    /// match the digest recorded when it was written is never served: the job is failed.
    pub async fn result(&self, user_id: i64, id: &str) -> ServiceResult<Vec<u8>> {
        check_id(id)?;
        let result_column = match self.placement {
            Placement::Files(_) => "NULL",
            Placement::Database => "result_bytes",
        };
        let row: Option<StoredResult> = sqlx::query_as(&format!(
            "SELECT status, error, result_sha256, attempts, {result_column} AS result_bytes
             FROM jobs WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let StoredResult {
            status,
            error,
            result_sha256: digest,
            attempts: attempt,
            result_bytes: in_row,
        } = row.ok_or(ServiceError::NotFound("prediction"))?;
        match status {
            JobStatus::Done => {}
            JobStatus::Failed => {
                return Err(ServiceError::Conflict(format!(
                    "the prediction failed: {}",
                    error.unwrap_or_default()
                )));
            }
            status => return Err(ServiceError::Conflict(format!("the prediction is {status}"))),
        }
        let path = self.dir().map(|dir| Self::output_path(dir, id, attempt));
        let bytes = match &path {
            None => in_row,
            Some(path) => match tokio::fs::read(path).await {
                Ok(bytes) => Some(bytes),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => return Err(anyhow::Error::from(error).context("reading a result").into()),
            },
        };
        match bytes {
            Some(bytes) if digest.as_deref() == Some(hex::encode(Sha256::digest(&bytes)).as_str()) => Ok(bytes),
            _ => {
                let why = "the stored result is damaged or missing";
                tracing::error!(job = id, why);
                sqlx::query("UPDATE jobs SET status = $1, error = $2 WHERE id = $3 AND status = $4")
                    .bind(JobStatus::Failed)
                    .bind(why)
                    .bind(id)
                    .bind(JobStatus::Done)
                    .execute(&self.db.pool)
                    .await?;
                if let Some(path) = &path {
                    storage::remove_quietly(path);
                }
                Err(ServiceError::Conflict(format!("the prediction failed: {why}")))
            }
        }
    }

    /// Deletes a job of this user and its files; a running job cannot be deleted until it
    /// finishes.
    pub async fn delete(&self, user_id: i64, id: &str) -> ServiceResult<()> {
        check_id(id)?;
        let deleted: Option<(String,)> =
            sqlx::query_as("DELETE FROM jobs WHERE id = $1 AND user_id = $2 AND status != $3 RETURNING id")
                .bind(id)
                .bind(user_id)
                .bind(JobStatus::Running)
                .fetch_optional(&self.db.pool)
                .await?;
        if deleted.is_some() {
            self.remove_files(id).await;
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
        let deleted: Vec<(String,)> =
            sqlx::query_as("DELETE FROM jobs WHERE user_id = $1 AND status != $2 RETURNING id")
                .bind(user_id)
                .bind(JobStatus::Running)
                .fetch_all(&self.db.pool)
                .await?;
        for (id,) in &deleted {
            self.remove_files(id).await;
        }
        Ok(deleted.len() as u64)
    }

    /// Removes the files of deleted jobs (with the database, their bytes went with their rows).
    pub async fn remove_deleted(&self, ids: &[String]) {
        for id in ids {
            self.remove_files(id).await;
        }
    }

    async fn remove_files(&self, id: &str) {
        let files = self.files(id);
        if files.is_empty() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || files.iter().for_each(|file| storage::remove_quietly(file))).await;
    }

    /// Starts the next job: the oldest queued job of the user whose last start is furthest
    /// back (round robin), atomically, so two workers never start the same one. Among the
    /// next [`AFFINITY_WINDOW`] jobs in that order, one whose key is in `held` (the keys this
    /// worker holds decompressed, as
    /// [`held_keys`](crate::services::keystore::ServerKeyStore::held_keys) lists them) goes
    /// first, then one whose key no other process started a job with last (so it holds it
    /// no more than we do), and
    /// only then one whose key another process likely holds: workers settle on a share of
    /// the users each instead of every worker decompressing every key. A user waits for at
    /// most that many jobs of other users. With PostgreSQL the
    /// candidates are locked with `SKIP LOCKED`: workers claiming at once take different jobs
    /// without waiting for each other.
    pub async fn claim(&self, held: &str) -> anyhow::Result<Option<ClaimedJob>> {
        let now = self.db_now().await?;
        let lease_until = now + self.lease_ms();
        // Only the job taken is locked: the window is read without locks, so a worker
        // claiming at the same moment skips one job, not the whole window.
        let lock = match self.db.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE OF j SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET status = $1, started_at = $2, lease_until = $3, attempts = attempts + 1, worker = $7
             WHERE id = (
                 SELECT j.id FROM jobs j JOIN users u ON u.id = j.user_id
                 WHERE j.status = $4 AND j.id IN (
                     SELECT w.id FROM jobs w JOIN users wu ON wu.id = w.user_id WHERE w.status = $4
                     ORDER BY wu.last_turn, w.created_at, w.id LIMIT $5)
                 ORDER BY CASE
                     WHEN $6 LIKE ('%,' || CAST(j.user_id AS TEXT) || ':' || j.key_fingerprint || ',%') THEN 0
                     WHEN COALESCE((SELECT h.worker FROM jobs h
                                    WHERE h.user_id = j.user_id AND h.key_fingerprint = j.key_fingerprint
                                      AND h.started_at IS NOT NULL
                                    ORDER BY h.started_at DESC LIMIT 1), $7) = $7 THEN 1
                     ELSE 2 END,
                   u.last_turn, j.created_at, j.id
                 LIMIT 1 {lock})
             RETURNING id, user_id, model_id, key_fingerprint, spec_sha256, attempts"
        );
        let mut transaction = self.db.pool.begin().await?;
        let row: Option<(String, i64, String, String, String, i64)> = sqlx::query_as(&sql)
            .bind(JobStatus::Running)
            .bind(now)
            .bind(lease_until)
            .bind(JobStatus::Queued)
            .bind(AFFINITY_WINDOW)
            .bind(held)
            .bind(&self.worker_name)
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

    /// Now by the clock leases are judged by (the database's with PostgreSQL).
    async fn db_now(&self) -> sqlx::Result<i64> {
        self.db.now_ms().await
    }

    fn lease_ms(&self) -> i64 {
        self.limits.lease.as_millis() as i64
    }

    /// Extends a running job's lease; false when the job is no longer this attempt's (its
    /// lease ran out and it was queued again, or it was deleted).
    pub async fn renew(&self, job: &ClaimedJob) -> anyhow::Result<bool> {
        let renewed = sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND status = $3 AND attempts = $4")
            .bind(self.db_now().await? + self.lease_ms())
            .bind(&job.id)
            .bind(JobStatus::Running)
            .bind(job.attempt)
            .execute(&self.db.pool)
            .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Stores a job's result durably and records how it ended, then wakes its long polls
    /// (with PostgreSQL, those of every web node). False when the job is no longer this
    /// attempt's: then nothing is recorded (with files, this attempt's result file stays until
    /// the job is deleted or swept).
    pub async fn finish(&self, job: &ClaimedJob, outcome: Outcome) -> anyhow::Result<bool> {
        let outcome = match (outcome, self.dir()) {
            (Ok(evaluated), Some(dir)) => {
                let path = Self::output_path(dir, &job.id, job.attempt);
                let bytes = evaluated.result.clone();
                tokio::task::spawn_blocking(move || {
                    storage::write_durably(&path, &bytes).context("storing the result")?;
                    storage::crash_point("result-stored");
                    anyhow::Ok(())
                })
                .await?
                .map(|()| evaluated)
            }
            (outcome, _) => outcome,
        };
        let (status, error, bootstraps, digest, in_row) = match outcome {
            Ok(evaluated) => (
                JobStatus::Done,
                None,
                Some(evaluated.bootstraps as i64),
                Some(hex::encode(Sha256::digest(&evaluated.result))),
                Some(evaluated.result),
            ),
            Err(e) => (JobStatus::Failed, Some(format!("{e:#}")), None, None, None),
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
            storage::crash_point("result-stored");
            update = update.bind(in_row);
        }
        let mut transaction = self.db.pool.begin().await?;
        let finished: Option<JobInfo> = update.fetch_optional(&mut *transaction).await?;
        if finished.is_some() && self.db.backend == Backend::Postgres {
            // Delivered when the update commits, to every listening node.
            notification(FINISHED_CHANNEL, &job.id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        let Some(finished) = finished else {
            // Deleted meanwhile (its files with it, except the result just written), or
            // another attempt owns it now.
            if self.owner_of(&job.id).await?.is_none() {
                self.remove_files(&job.id).await;
            }
            return Ok(false);
        };
        if let Some(dir) = self.dir() {
            storage::remove_quietly(&Self::input_path(dir, &job.id));
            if finished.status == JobStatus::Failed {
                storage::remove_quietly(&Self::output_path(dir, &job.id, job.attempt));
            }
        }
        self.announce(&finished);
        Ok(true)
    }

    async fn owner_of(&self, id: &str) -> anyhow::Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT user_id FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?)
    }

    /// Running jobs whose lease ended before `expired_before`: queued again, or failed once
    /// they have been started `attempts` times. How many.
    async fn reap(&self, expired_before: i64) -> anyhow::Result<u64> {
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
        .bind(i64::from(self.limits.attempts))
        .bind(JobStatus::Failed)
        .bind(JobStatus::Queued)
        .bind(format!(
            "the evaluation was interrupted {} times (the server stopped or crashed while running it); \
             it is not tried again",
            self.limits.attempts
        ))
        .bind(now_ms())
        .bind(JobStatus::Running)
        .bind(expired_before)
        .fetch_all(&self.db.pool)
        .await?;
        for job in &reaped {
            if job.status == JobStatus::Failed {
                tracing::warn!(job = job.id, "job failed after repeated interruptions");
                self.remove_files(&job.id).await;
                self.announce(job);
                self.announce_elsewhere(&job.id).await;
            } else {
                tracing::info!(job = job.id, "job without a live worker queued again");
                self.wake_workers().await;
            }
        }
        Ok(reaped.len() as u64)
    }

    /// Deletes finished jobs older than the retention time, with their results; how many.
    async fn sweep_expired(&self) -> anyhow::Result<u64> {
        let cutoff = now_ms().saturating_sub(self.limits.retention.as_millis() as i64);
        let expired: Vec<(String,)> =
            sqlx::query_as("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1 RETURNING id")
                .bind(cutoff)
                .fetch_all(&self.db.pool)
                .await?;
        for (id,) in &expired {
            self.remove_files(id).await;
        }
        Ok(expired.len() as u64)
    }

    /// Deletes files in the job directory that no job needs: rows of jobs no longer pending,
    /// results of jobs not done, and temporary files.
    async fn sweep_orphans(&self) -> anyhow::Result<u64> {
        let Some(dir) = self.dir().map(Path::to_path_buf) else {
            return Ok(0);
        };
        let jobs: Vec<(String, JobStatus, i64)> = sqlx::query_as("SELECT id, status, attempts FROM jobs")
            .fetch_all(&self.db.pool)
            .await?;
        let needs_row: HashSet<String> = jobs
            .iter()
            .filter(|(_, status, _)| !status.is_finished())
            .map(|(id, _, _)| format!("{id}.row"))
            .collect();
        let needs_result: HashSet<String> = jobs
            .iter()
            .filter(|(_, status, _)| *status == JobStatus::Done)
            .map(|(id, _, attempt)| format!("{id}.{attempt}.result"))
            .collect();
        let removed = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let mut removed = 0;
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !needs_row.contains(&name) && !needs_result.contains(&name) {
                    storage::remove_quietly(&entry.path());
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await??;
        Ok(removed)
    }

    /// How many jobs there are of each status (for the `blindfold_jobs` gauge); statuses
    /// without jobs are absent.
    pub async fn count_by_status(&self) -> anyhow::Result<Vec<(JobStatus, i64)>> {
        Ok(sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
            .fetch_all(&self.db.pool)
            .await?)
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
            let reaped = match self.db_now().await {
                Ok(now) => self.reap(now).await,
                Err(error) => Err(error.into()),
            };
            if let Err(error) = reaped {
                tracing::error!(error = format!("{error:#}"), "re-queueing abandoned jobs");
            }
            match self.sweep_expired().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "deleted predictions past their retention"),
                Err(error) => tracing::error!(error = format!("{error:#}"), "deleting expired predictions"),
            }
        }
    }
}

/// What [`JobQueue::result`] reads of a job.
#[derive(sqlx::FromRow)]
struct StoredResult {
    status: JobStatus,
    error: Option<String>,
    result_sha256: Option<String>,
    attempts: i64,
    /// In the row with PostgreSQL; NULL with files.
    result_bytes: Option<Vec<u8>>,
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

/// An open long poll of a user, counted until dropped.
struct WaitSlot<'a> {
    queue: &'a JobQueue,
    user_id: i64,
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        let mut waits = self.queue.waits.lock().expect("waits lock");
        if let Some(open) = waits.get_mut(&self.user_id) {
            *open -= 1;
            if *open == 0 {
                waits.remove(&self.user_id);
            }
        }
    }
}

/// A subscription to a job's finish; the job's channel is dropped with its last subscriber.
struct Watcher<'a> {
    queue: &'a JobQueue,
    id: String,
    receiver: watch::Receiver<Option<JobInfo>>,
}

impl Drop for Watcher<'_> {
    fn drop(&mut self) {
        let mut watchers = self.queue.watchers.lock().expect("watchers lock");
        // Our own receiver still counts here.
        let last = watchers.get(&self.id).is_some_and(|sender| {
            // The entry may be a newer channel for the same job.
            let ours = sender.subscribe().same_channel(&self.receiver);
            ours && sender.receiver_count() <= 1
        });
        if last {
            watchers.remove(&self.id);
        }
    }
}
