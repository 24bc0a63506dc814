//! Per-user, per-model server keys: validated before they are stored, kept as files with a
//! database row, and cached decompressed in memory within a byte budget.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use blindfold_model::{CompressedServerKey, ServerKey};
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use sqlx::{SqliteConnection, SqlitePool};

use crate::db::now_ms;
use crate::services::{ServiceError, ServiceResult};
use crate::{storage, telemetry};
use blindfold_api::KeyInfo;

/// What one user may store.
#[derive(Debug, Clone, Copy)]
pub struct KeyQuota {
    pub max_keys: u32,
    pub max_bytes: u64,
}

/// Locks serializing key uploads, striped by (user, model).
const UPLOAD_LOCKS: usize = 64;

pub struct ServerKeyStore {
    pool: SqlitePool,
    dir: PathBuf,
    quota: KeyQuota,
    upload_locks: [tokio::sync::Mutex<()>; UPLOAD_LOCKS],
    /// Decompressed keys by (user, model, fingerprint): a replaced key is never served stale.
    cache: Cache<(i64, String, String), Arc<ServerKey>>,
}

impl ServerKeyStore {
    pub fn new(pool: SqlitePool, dir: PathBuf, quota: KeyQuota, budget_bytes: u64) -> Self {
        let cache = Cache::builder()
            .weigher(|_, key: &Arc<ServerKey>| u32::try_from(key.memory_bytes()).unwrap_or(u32::MAX))
            .max_capacity(budget_bytes)
            .build();
        Self {
            pool,
            dir,
            quota,
            upload_locks: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
            cache,
        }
    }

    /// One file per uploaded key, named by its fingerprint: concurrent uploads never write the
    /// same file, and a row in the database always names a complete file.
    fn path(&self, user_id: i64, model_id: &str, fingerprint: &str) -> PathBuf {
        // All parts are safe in a path: a database id, a validated model id, a hex digest.
        self.dir
            .join(user_id.to_string())
            .join(format!("{model_id}-{fingerprint}.key"))
    }

    fn upload_lock(&self, user_id: i64, model_id: &str) -> &tokio::sync::Mutex<()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (user_id, model_id).hash(&mut hasher);
        &self.upload_locks[hasher.finish() as usize % UPLOAD_LOCKS]
    }

    /// Refuses (409) a key that would take the user past their quota of keys or key bytes;
    /// `size` is the new key's size, replacing any key they have for this model.
    pub async fn check_quota(&self, user_id: i64, model_id: &str, size: u64) -> ServiceResult<()> {
        let mut connection = self.pool.acquire().await?;
        self.check_quota_on(&mut connection, user_id, model_id, size).await
    }

    async fn check_quota_on(
        &self,
        connection: &mut SqliteConnection,
        user_id: i64,
        model_id: &str,
        size: u64,
    ) -> ServiceResult<()> {
        let (count, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM server_keys WHERE user_id = ? AND model_id != ?",
        )
        .bind(user_id)
        .bind(model_id)
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
        Ok(())
    }

    /// Validates and stores `bytes` as the user's key for the model, replacing any old one.
    ///
    /// The file is durable before its row exists, and the row is swapped in one transaction
    /// that checks the quota and returns the key it replaced, whose file is then removed;
    /// uploads for one (user, model) take turns: parallel uploads leave exactly the file of the
    /// key the database names and cannot pass the quota together (a crash in between leaves an
    /// unreferenced file, which the start-up sweep removes).
    pub async fn put(&self, user_id: i64, model_id: &str, bytes: Vec<u8>) -> ServiceResult<KeyInfo> {
        self.check_quota(user_id, model_id, bytes.len() as u64).await?;
        // One upload per (user, model) at a time from writing the file to swapping the row:
        // two uploads of the same bytes share one file name, which the other's swap could
        // otherwise remove as the key it replaced.
        let _turn = self.upload_lock(user_id, model_id).lock().await;
        let fingerprint = hex::encode(Sha256::digest(&bytes));
        let path = self.path(user_id, model_id, &fingerprint);
        let size = bytes.len() as i64;
        tokio::task::spawn_blocking(move || -> ServiceResult<()> {
            CompressedServerKey::from_bytes(&bytes).map_err(ServiceError::Rejected)?;
            let dir = path.parent().expect("key path has a parent");
            std::fs::create_dir_all(dir).context("key directory")?;
            storage::write_durably(&path, &bytes).context("storing the key")?;
            storage::crash_point("key-stored");
            Ok(())
        })
        .await??;
        let info = KeyInfo {
            size_bytes: size,
            fingerprint,
            uploaded_at: now_ms(),
        };
        let swapped = self.swap(user_id, model_id, &info).await;
        let previous = match swapped {
            Ok(previous) => previous,
            Err(error) => {
                // Not recorded: unless an upload of the same bytes was (same file name).
                if self
                    .info(user_id, model_id)
                    .await?
                    .is_none_or(|k| k.fingerprint != info.fingerprint)
                {
                    storage::remove_quietly(&self.path(user_id, model_id, &info.fingerprint));
                }
                return Err(error);
            }
        };
        if let Some(previous) = previous.filter(|p| *p != info.fingerprint) {
            storage::remove_quietly(&self.path(user_id, model_id, &previous));
        }
        Ok(info)
    }

    /// Records `info` as the user's key for the model within their quota; the fingerprint of
    /// the key it replaced.
    async fn swap(&self, user_id: i64, model_id: &str, info: &KeyInfo) -> ServiceResult<Option<String>> {
        let mut transaction = self.pool.begin().await?;
        // The delete comes first: it takes the write lock, so no other upload's swap or quota
        // check can interleave with this one.
        let previous: Option<String> =
            sqlx::query_scalar("DELETE FROM server_keys WHERE user_id = ? AND model_id = ? RETURNING fingerprint")
                .bind(user_id)
                .bind(model_id)
                .fetch_optional(&mut *transaction)
                .await?;
        self.check_quota_on(&mut transaction, user_id, model_id, info.size_bytes as u64)
            .await?;
        sqlx::query(
            "INSERT INTO server_keys (user_id, model_id, size_bytes, fingerprint, uploaded_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user_id)
        .bind(model_id)
        .bind(info.size_bytes)
        .bind(&info.fingerprint)
        .bind(info.uploaded_at)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(previous)
    }

    /// Drops a deleted user's decompressed keys from memory.
    pub fn forget_user(&self, user_id: i64) {
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
        let stored: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT user_id, model_id, fingerprint FROM server_keys")
                .fetch_all(&self.pool)
                .await?;
        let referenced: HashSet<PathBuf> = stored
            .iter()
            .map(|(user_id, model_id, fingerprint)| self.path(*user_id, model_id, fingerprint))
            .collect();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            std::fs::create_dir_all(&dir).context("key directory")?;
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

    pub async fn info(&self, user_id: i64, model_id: &str) -> ServiceResult<Option<KeyInfo>> {
        Ok(sqlx::query_as(
            "SELECT size_bytes, fingerprint, uploaded_at FROM server_keys WHERE user_id = ? AND model_id = ?",
        )
        .bind(user_id)
        .bind(model_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Removes the user's key; false when there was none.
    pub async fn delete(&self, user_id: i64, model_id: &str) -> ServiceResult<bool> {
        let deleted: Option<(String,)> =
            sqlx::query_as("DELETE FROM server_keys WHERE user_id = ? AND model_id = ? RETURNING fingerprint")
                .bind(user_id)
                .bind(model_id)
                .fetch_optional(&self.pool)
                .await?;
        if let Some((fingerprint,)) = &deleted {
            storage::remove_quietly(&self.path(user_id, model_id, fingerprint));
            self.cache
                .invalidate(&(user_id, model_id.to_owned(), fingerprint.clone()));
        }
        Ok(deleted.is_some())
    }

    /// Decompresses a just-stored key in the background, so that the first prediction with it
    /// does not wait for it.
    pub fn preload(self: &Arc<Self>, user_id: i64, model_id: &str, fingerprint: &str) {
        let (keys, model_id, fingerprint) = (self.clone(), model_id.to_owned(), fingerprint.to_owned());
        tokio::task::spawn_blocking(move || {
            if let Err(error) = keys.load(user_id, &model_id, &fingerprint) {
                tracing::warn!(error = format!("{error:#}"), "could not preload a server key");
            }
        });
    }

    /// The decompressed key with this fingerprint (blocking: call from a blocking thread).
    pub fn load(&self, user_id: i64, model_id: &str, fingerprint: &str) -> anyhow::Result<Arc<ServerKey>> {
        let cache_key = (user_id, model_id.to_owned(), fingerprint.to_owned());
        if let Some(key) = self.cache.get(&cache_key) {
            metrics::counter!(telemetry::KEY_CACHE_HITS).increment(1);
            return Ok(key);
        }
        metrics::counter!(telemetry::KEY_CACHE_MISSES).increment(1);
        let bytes = std::fs::read(self.path(user_id, model_id, fingerprint))
            .context("the server key was replaced or removed after this prediction was submitted")?;
        anyhow::ensure!(
            hex::encode(Sha256::digest(&bytes)) == fingerprint,
            "the stored server key is corrupt"
        );
        let key = Arc::new(CompressedServerKey::from_bytes(&bytes)?.decompress());
        self.cache.insert(cache_key, key.clone());
        metrics::gauge!(telemetry::KEY_CACHE_BYTES).set(self.cached_bytes() as f64);
        Ok(key)
    }

    /// Bytes of decompressed keys in memory, evictions included (blocking: settles the
    /// cache's pending work first, without which its size lags behind).
    pub fn cached_bytes(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }
}
