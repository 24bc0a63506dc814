//! Each user's server key, one per TFHE parameter set, serving every model of that set (all
//! models share one set today): validated before it is stored, kept with a database row (as a
//! file beside SQLite, in the row itself with PostgreSQL: [`Placement`]), and cached
//! decompressed in memory within a byte budget.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use blindfold_model::{CompressedServerKey, ServerKey};
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool};

use crate::db::{self, Backend, Db, now_ms};
use crate::services::{ServiceError, ServiceResult};
use crate::storage::{self, Placement};
use crate::telemetry;
use blindfold_api::KeyInfo;

/// What one user may store.
#[derive(Debug, Clone, Copy)]
pub struct KeyQuota {
    pub max_keys: u32,
    pub max_bytes: u64,
    /// Bytes of keys every user together may store (the deployment's disk or database).
    pub max_total_bytes: u64,
}

/// Locks serializing key uploads, striped by (user, parameter set).
const UPLOAD_LOCKS: usize = 64;

pub struct ServerKeyStore {
    pool: AnyPool,
    backend: Backend,
    placement: Placement,
    quota: KeyQuota,
    upload_locks: [tokio::sync::Mutex<()>; UPLOAD_LOCKS],
    /// Decompressed keys by (user, parameter set, fingerprint): a replaced key is never served
    /// stale.
    cache: Cache<(i64, String, String), Arc<ServerKey>>,
    /// Background decompressions of fresh uploads running at once.
    preloads: Arc<tokio::sync::Semaphore>,
    /// A key no prediction used for this long is deleted; none: kept.
    retention_ms: Option<i64>,
}

/// How stale `last_used_at` may get before a prediction writes it again (at most a tenth of
/// the retention).
const TOUCH_EVERY_MS: i64 = 3600 * 1000;

impl ServerKeyStore {
    /// `preloads`: fresh uploads decompressed in the background at once.
    /// `retention`: how long a key no prediction uses is kept (none: for ever).
    pub fn new(
        db: Db,
        placement: Placement,
        quota: KeyQuota,
        budget_bytes: u64,
        preloads: usize,
        retention: Option<std::time::Duration>,
    ) -> Self {
        let cache = Cache::builder()
            .weigher(|_, key: &Arc<ServerKey>| u32::try_from(key.memory_bytes()).unwrap_or(u32::MAX))
            .max_capacity(budget_bytes)
            .build();
        Self {
            pool: db.pool,
            backend: db.backend,
            placement,
            quota,
            upload_locks: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
            cache,
            preloads: Arc::new(tokio::sync::Semaphore::new(preloads.max(1))),
            retention_ms: retention.map(|r| i64::try_from(r.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// One file per uploaded key, named by its fingerprint: concurrent uploads never write the
    /// same file, and a row in the database always names a complete file. None when keys are
    /// stored in the database.
    fn path(&self, user_id: i64, parameter_set: &str, fingerprint: &str) -> Option<PathBuf> {
        let Placement::Files(dir) = &self.placement else {
            return None;
        };
        // All parts are safe in a path: a database id, the parameter set of one of our own
        // (validated) specs, a hex digest.
        Some(
            dir.join(user_id.to_string())
                .join(format!("{parameter_set}-{fingerprint}.key")),
        )
    }

    fn remove_file(&self, user_id: i64, parameter_set: &str, fingerprint: &str) {
        if let Some(path) = self.path(user_id, parameter_set, fingerprint) {
            storage::remove_quietly(&path);
        }
    }

    fn upload_lock(&self, user_id: i64, parameter_set: &str) -> &tokio::sync::Mutex<()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (user_id, parameter_set).hash(&mut hasher);
        &self.upload_locks[hasher.finish() as usize % UPLOAD_LOCKS]
    }

    /// Refuses (409) a key that would take the user past their quota of keys or key bytes;
    /// `size` is the new key's size, replacing any key they have for this parameter set.
    pub async fn check_quota(&self, user_id: i64, parameter_set: &str, size: u64) -> ServiceResult<()> {
        let mut connection = self.pool.acquire().await?;
        self.check_quota_on(&mut connection, user_id, parameter_set, size).await
    }

    async fn check_quota_on(
        &self,
        connection: &mut AnyConnection,
        user_id: i64,
        parameter_set: &str,
        size: u64,
    ) -> ServiceResult<()> {
        let (count, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM user_keys WHERE user_id = $1 AND parameter_set != $2",
        )
        .bind(user_id)
        .bind(parameter_set)
        .fetch_one(&mut *connection)
        .await?;
        if count >= i64::from(self.quota.max_keys) {
            return Err(ServiceError::QuotaExceeded(format!(
                "you already store {count} server keys, the most allowed; delete one first"
            )));
        }
        if (bytes as u64).saturating_add(size) > self.quota.max_bytes {
            return Err(ServiceError::QuotaExceeded(format!(
                "this key would take your stored keys to {} MiB, over your quota of {} MiB; delete one first",
                (bytes as u64).saturating_add(size).div_ceil(1 << 20),
                self.quota.max_bytes >> 20
            )));
        }
        // Every user's keys but the one this replaces. Parallel uploads of different users may
        // each see the total before the others' rows: it is passed by at most the keys being
        // uploaded at once (--max-key-uploads per node).
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM user_keys WHERE NOT (user_id = $1 AND parameter_set = $2)",
        )
        .bind(user_id)
        .bind(parameter_set)
        .fetch_one(&mut *connection)
        .await?;
        if (total as u64).saturating_add(size) > self.quota.max_total_bytes {
            return Err(ServiceError::StorageFull(format!(
                "the server's storage for keys is full ({} MiB in all); the operator has been told. Retry later",
                self.quota.max_total_bytes >> 20
            )));
        }
        Ok(())
    }

    /// Validates and stores `bytes` as the user's key for the parameter set (every model of it),
    /// replacing any old one.
    ///
    /// The row is swapped in one transaction that checks the quota and returns the key it
    /// replaced. With files, the file is durable before its row exists and the replaced key's
    /// file is removed after; uploads for one (user, parameter set) take turns, so parallel uploads
    /// leave exactly the file of the key the database names (a crash in between leaves an
    /// unreferenced file, which the start-up sweep removes). In the database, the bytes are
    /// part of the row, and one user's swaps take turns on their user row across every node,
    /// so parallel uploads cannot pass the quota together.
    pub async fn put(&self, user_id: i64, parameter_set: &str, bytes: Vec<u8>) -> ServiceResult<KeyInfo> {
        self.check_quota(user_id, parameter_set, bytes.len() as u64).await?;
        // One upload per (user, parameter set) at a time from writing the file to swapping the row:
        // two uploads of the same bytes share one file name, which the other's swap could
        // otherwise remove as the key it replaced.
        let _turn = self.upload_lock(user_id, parameter_set).lock().await;
        let fingerprint = hex::encode(Sha256::digest(&bytes));
        let path = self.path(user_id, parameter_set, &fingerprint);
        let size = bytes.len() as i64;
        let bytes = tokio::task::spawn_blocking(move || -> ServiceResult<Vec<u8>> {
            CompressedServerKey::from_bytes(&bytes).map_err(ServiceError::Rejected)?;
            if let Some(path) = path {
                let dir = path.parent().expect("key path has a parent");
                storage::private_dir(dir).context("key directory")?;
                storage::write_durably(&path, &bytes).context("storing the key")?;
            }
            storage::crash_point("key-stored");
            Ok(bytes)
        })
        .await??;
        let uploaded_at = now_ms();
        let info = KeyInfo {
            parameter_set: parameter_set.to_owned(),
            size_bytes: size,
            fingerprint,
            uploaded_at,
            expires_at: self.retention_ms.map(|r| uploaded_at.saturating_add(r)),
        };
        let in_row = (self.placement == Placement::Database).then_some(bytes);
        let swapped = self.swap(user_id, parameter_set, &info, in_row).await;
        let previous = match swapped {
            Ok(previous) => previous,
            Err(error) => {
                // Not recorded: unless an upload of the same bytes was (same file name).
                if self
                    .info(user_id, parameter_set)
                    .await?
                    .is_none_or(|k| k.fingerprint != info.fingerprint)
                {
                    self.remove_file(user_id, parameter_set, &info.fingerprint);
                }
                return Err(error);
            }
        };
        if let Some(previous) = previous.filter(|p| *p != info.fingerprint) {
            self.remove_file(user_id, parameter_set, &previous);
            // No job can name the replaced key any more: its ~120 MB go now, not when the
            // cache's budget pushes them out.
            self.cache.invalidate(&(user_id, parameter_set.to_owned(), previous));
        }
        Ok(info)
    }

    /// Records `info` (with the key's bytes when they are kept in the row) as the user's key
    /// for the parameter set within their quota; the fingerprint of the key it replaced.
    async fn swap(
        &self,
        user_id: i64,
        parameter_set: &str,
        info: &KeyInfo,
        key_bytes: Option<Vec<u8>>,
    ) -> ServiceResult<Option<String>> {
        let mut transaction = self.pool.begin().await?;
        // The user's swaps and quota checks take turns, whichever node runs them.
        db::take_turn(&mut transaction, self.backend, &format!("keys {user_id}")).await?;
        // With SQLite the delete comes first: it takes the write lock, so no other upload's
        // swap or quota check can interleave with this one.
        let previous: Option<String> =
            sqlx::query_scalar("DELETE FROM user_keys WHERE user_id = $1 AND parameter_set = $2 RETURNING fingerprint")
                .bind(user_id)
                .bind(parameter_set)
                .fetch_optional(&mut *transaction)
                .await?;
        self.check_quota_on(&mut transaction, user_id, parameter_set, info.size_bytes as u64)
            .await?;
        let insert = match key_bytes {
            Some(bytes) => sqlx::query(
                "INSERT INTO user_keys (user_id, parameter_set, size_bytes, fingerprint, uploaded_at, last_used_at, key_bytes)
                 VALUES ($1, $2, $3, $4, $5, $5, $6)",
            )
            .bind(user_id)
            .bind(parameter_set)
            .bind(info.size_bytes)
            .bind(&info.fingerprint)
            .bind(info.uploaded_at)
            .bind(bytes),
            None => sqlx::query(
                "INSERT INTO user_keys (user_id, parameter_set, size_bytes, fingerprint, uploaded_at, last_used_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(user_id)
            .bind(parameter_set)
            .bind(info.size_bytes)
            .bind(&info.fingerprint)
            .bind(info.uploaded_at),
        };
        insert.execute(&mut *transaction).await?;
        transaction.commit().await?;
        Ok(previous)
    }

    /// A deleted user's keys: their files (their rows went with the user) and their
    /// decompressed keys in memory.
    pub async fn forget_user(&self, user_id: i64) {
        if let Placement::Files(dir) = &self.placement
            && let Err(error) = tokio::fs::remove_dir_all(dir.join(user_id.to_string())).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(%error, user_id, "could not remove a deleted account's keys");
        }
        let theirs: Vec<_> = self
            .cache
            .iter()
            .filter(|(key, _)| key.0 == user_id)
            .map(|(key, _)| (*key).clone())
            .collect();
        for key in theirs {
            self.cache.invalidate(&key);
        }
    }

    /// At start-up: deletes key files no stored key refers to (a crash between writing a key
    /// and recording it) and temporary files; how many.
    pub async fn sweep_orphans(&self) -> anyhow::Result<u64> {
        let Placement::Files(dir) = self.placement.clone() else {
            return Ok(0);
        };
        let stored: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT user_id, parameter_set, fingerprint FROM user_keys")
                .fetch_all(&self.pool)
                .await?;
        let referenced: HashSet<PathBuf> = stored
            .iter()
            .filter_map(|(user_id, parameter_set, fingerprint)| self.path(*user_id, parameter_set, fingerprint))
            .collect();
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            storage::private_dir(&dir).context("key directory")?;
            let mut removed = 0;
            for user_dir in std::fs::read_dir(&dir)? {
                let user_dir = user_dir?.path();
                if !user_dir.is_dir() {
                    storage::remove_quietly(&user_dir);
                    removed += 1;
                    continue;
                }
                for file in std::fs::read_dir(&user_dir)? {
                    let file = file?.path();
                    if !referenced.contains(&file) {
                        storage::remove_quietly(&file);
                        removed += 1;
                    }
                }
                // An emptied user directory goes too (fails harmlessly when not empty).
                let _ = std::fs::remove_dir(&user_dir);
            }
            Ok(removed)
        })
        .await?
    }

    pub async fn info(&self, user_id: i64, parameter_set: &str) -> ServiceResult<Option<KeyInfo>> {
        let row: Option<(String, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT parameter_set, size_bytes, fingerprint, uploaded_at, last_used_at FROM user_keys
             WHERE user_id = $1 AND parameter_set = $2",
        )
        .bind(user_id)
        .bind(parameter_set)
        .fetch_optional(&self.pool)
        .await?;
        let Some((parameter_set, size_bytes, fingerprint, uploaded_at, last_used_at)) = row else {
            return Ok(None);
        };
        let info = KeyInfo {
            parameter_set,
            size_bytes,
            fingerprint,
            uploaded_at,
            expires_at: self.retention_ms.map(|r| last_used_at.saturating_add(r)),
        };
        // Past its retention: gone now, whether or not the maintenance has swept it yet.
        if let Some(expires_at) = info.expires_at
            && expires_at <= now_ms()
        {
            self.delete_unused(user_id, &info.parameter_set, last_used_at).await?;
            return Ok(None);
        }
        Ok(Some(info))
    }

    /// Records that a prediction uses the user's key (at most once an hour), which keeps it
    /// from being deleted as unused.
    pub async fn touch(&self, user_id: i64, parameter_set: &str) -> ServiceResult<()> {
        // Recorded with no retention too: a retention set later judges keys by real use.
        let every = self.retention_ms.map_or(TOUCH_EVERY_MS, |r| TOUCH_EVERY_MS.min(r / 10));
        let now = now_ms();
        sqlx::query(
            "UPDATE user_keys SET last_used_at = $1 WHERE user_id = $2 AND parameter_set = $3 AND last_used_at < $4",
        )
        .bind(now)
        .bind(user_id)
        .bind(parameter_set)
        .bind(now - every)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes every key no prediction used for the retention period; the number deleted.
    pub async fn sweep_unused(&self) -> ServiceResult<u64> {
        let Some(retention) = self.retention_ms else {
            return Ok(0);
        };
        let unused_since = now_ms().saturating_sub(retention);
        let unused: Vec<(i64, String)> =
            sqlx::query_as("SELECT user_id, parameter_set FROM user_keys WHERE last_used_at <= $1")
                .bind(unused_since)
                .fetch_all(&self.pool)
                .await?;
        let mut deleted = 0;
        for (user_id, parameter_set) in unused {
            if self.delete_unused(user_id, &parameter_set, unused_since).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Removes the user's key unless a prediction used it after `unused_since` (a use racing
    /// the sweep keeps it); false when none was removed.
    async fn delete_unused(&self, user_id: i64, parameter_set: &str, unused_since: i64) -> ServiceResult<bool> {
        let deleted: Option<(String,)> = sqlx::query_as(
            "DELETE FROM user_keys WHERE user_id = $1 AND parameter_set = $2 AND last_used_at <= $3
             RETURNING fingerprint",
        )
        .bind(user_id)
        .bind(parameter_set)
        .bind(unused_since)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((fingerprint,)) = &deleted {
            tracing::info!(
                user_id,
                "deleted a server key no prediction used for the retention period"
            );
            self.remove_file(user_id, parameter_set, fingerprint);
            self.cache
                .invalidate(&(user_id, parameter_set.to_owned(), fingerprint.clone()));
        }
        Ok(deleted.is_some())
    }

    /// Removes the user's key; false when there was none.
    pub async fn delete(&self, user_id: i64, parameter_set: &str) -> ServiceResult<bool> {
        let deleted: Option<(String,)> =
            sqlx::query_as("DELETE FROM user_keys WHERE user_id = $1 AND parameter_set = $2 RETURNING fingerprint")
                .bind(user_id)
                .bind(parameter_set)
                .fetch_optional(&self.pool)
                .await?;
        if let Some((fingerprint,)) = &deleted {
            self.remove_file(user_id, parameter_set, fingerprint);
            self.cache
                .invalidate(&(user_id, parameter_set.to_owned(), fingerprint.clone()));
        }
        Ok(deleted.is_some())
    }

    /// Decompresses a just-stored key in the background, so that the first prediction with it
    /// does not wait for it; unless as many preloads as uploads run at once already (each
    /// takes ~120 MB and a core for a second): that key is decompressed by its first job.
    pub fn preload(self: &Arc<Self>, user_id: i64, parameter_set: &str, fingerprint: &str) {
        let Ok(turn) = self.preloads.clone().try_acquire_owned() else {
            tracing::debug!(user_id, "preloads busy; the key's first job decompresses it");
            return;
        };
        let (keys, parameter_set, fingerprint) = (self.clone(), parameter_set.to_owned(), fingerprint.to_owned());
        tokio::spawn(async move {
            let _turn = turn;
            if let Err(error) = keys.load(user_id, &parameter_set, &fingerprint).await {
                tracing::warn!(error = format!("{error:#}"), "could not preload a server key");
            }
        });
    }

    /// The decompressed key with this fingerprint: from memory, or read and decompressed on a
    /// blocking thread (about a second and 120 MB). Concurrent loads of one key decompress it
    /// once (the preload of a fresh upload and its first job, say): the others wait for it.
    pub async fn load(&self, user_id: i64, parameter_set: &str, fingerprint: &str) -> anyhow::Result<Arc<ServerKey>> {
        let cache_key = (user_id, parameter_set.to_owned(), fingerprint.to_owned());
        if let Some(key) = self.cache.get(&cache_key) {
            metrics::counter!(telemetry::KEY_CACHE_HITS).increment(1);
            return Ok(key);
        }
        let (pool, path) = (self.pool.clone(), self.path(user_id, parameter_set, fingerprint));
        let runtime = tokio::runtime::Handle::current();
        let cache = self.cache.clone();
        let entry = tokio::task::spawn_blocking(move || {
            let (user_id, parameter_set, fingerprint) = cache_key.clone();
            // Read inside the initializer: a concurrent load of the same key waits for this
            // one instead of reading the 30 MB again.
            cache
                .entry(cache_key)
                .or_try_insert_with(|| -> anyhow::Result<Arc<ServerKey>> {
                    let replaced = "the server key was replaced or removed after this prediction was submitted";
                    let bytes: Vec<u8> = match path {
                        Some(path) => std::fs::read(path).context(replaced)?,
                        None => runtime
                            .block_on(
                                sqlx::query_scalar(
                                    "SELECT key_bytes FROM user_keys
                                     WHERE user_id = $1 AND parameter_set = $2 AND fingerprint = $3",
                                )
                                .bind(user_id)
                                .bind(&parameter_set)
                                .bind(&fingerprint)
                                .fetch_optional(&pool),
                            )?
                            .context(replaced)?,
                    };
                    anyhow::ensure!(
                        hex::encode(Sha256::digest(&bytes)) == fingerprint,
                        "the stored server key is corrupt"
                    );
                    Ok(Arc::new(CompressedServerKey::from_bytes(&bytes)?.decompress()))
                })
        })
        .await?;
        let entry = entry.map_err(|error| anyhow::anyhow!("{error:#}"))?;
        // Fresh: this call decompressed it (a miss); otherwise another load just had.
        if entry.is_fresh() {
            metrics::counter!(telemetry::KEY_CACHE_MISSES).increment(1);
        } else {
            metrics::counter!(telemetry::KEY_CACHE_HITS).increment(1);
        }
        // The cache's size (`KEY_CACHE_BYTES`) is read when metrics are scraped.
        Ok(entry.into_value())
    }

    /// The keys held decompressed, as `,<user>:<fingerprint>,<user>:<fingerprint>,`: the jobs
    /// this process can start without a key miss (key affinity, see
    /// [`crate::services::jobs::JobQueue::claim`]). By user too: two accounts may upload the
    /// same key bytes, and each is a separate entry here.
    pub fn held_keys(&self) -> String {
        let held: Vec<String> = self
            .cache
            .iter()
            .map(|(key, _)| format!("{}:{}", key.0, key.2))
            .collect();
        format!(",{},", held.join(","))
    }

    /// Bytes of decompressed keys in memory, evictions included (blocking: settles the
    /// cache's pending work first, without which its size lags behind).
    pub fn cached_bytes(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    use blindfold_model::ClientKey;
    use blindfold_model::params::PARAMETER_SET_NAME;

    use super::*;

    async fn store(dir: &std::path::Path, preloads: usize) -> Arc<ServerKeyStore> {
        let db = crate::db::connect(&format!("sqlite://{}", dir.join("k.db").display()), 4)
            .await
            .unwrap();
        for user in [1, 2] {
            sqlx::query(
                "INSERT INTO users (id, username, username_key, password_hash, created_at) VALUES ($1, $2, $2, '', 0)",
            )
            .bind(user)
            .bind(format!("user{user}"))
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let quota = KeyQuota {
            max_keys: 8,
            max_bytes: 1 << 30,
            max_total_bytes: 1 << 32,
        };
        Arc::new(ServerKeyStore::new(
            db,
            Placement::Files(dir.join("keys")),
            quota,
            1 << 33,
            preloads,
            None,
        ))
    }

    /// Waits (at most 60 s) until the cache holds exactly `count` keys.
    async fn held(keys: &ServerKeyStore, count: usize) -> String {
        for _ in 0..600 {
            let held = keys.held_keys();
            if held.matches(':').count() == count {
                return held;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the cache holds {} keys, not {count}", keys.held_keys());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn preloads_are_bounded_and_a_replaced_key_leaves_memory_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let keys = store(dir.path(), 1).await;
        let (a, b) = (ClientKey::generate(), ClientKey::generate());
        let (a, b) = (
            a.compressed_server_key().to_bytes(),
            b.compressed_server_key().to_bytes(),
        );

        // Two fresh uploads at once, one preload allowed: the second is left to its first job.
        let first = keys.put(1, PARAMETER_SET_NAME, a.clone()).await.unwrap();
        let second = keys.put(2, PARAMETER_SET_NAME, a).await.unwrap();
        keys.preload(1, PARAMETER_SET_NAME, &first.fingerprint);
        keys.preload(2, PARAMETER_SET_NAME, &second.fingerprint);
        let holding = held(&keys, 1).await;
        assert_eq!(holding, format!(",1:{},", first.fingerprint));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(keys.held_keys(), holding, "the second preload was not run");
        let one_key = keys.cached_bytes();
        assert!(one_key > 50_000_000, "{one_key}");

        // User 1 replaces their key: the old one leaves the cache at once, before any budget
        // would push it out.
        let replaced = keys.put(1, PARAMETER_SET_NAME, b).await.unwrap();
        assert_ne!(replaced.fingerprint, first.fingerprint);
        assert_eq!(keys.held_keys(), ",,");
        assert_eq!(keys.cached_bytes(), 0);
        // And a job still naming it is refused, not served the old key.
        let stale = keys.load(1, PARAMETER_SET_NAME, &first.fingerprint).await;
        assert!(format!("{:#}", stale.err().unwrap()).contains("replaced"));
    }
}
