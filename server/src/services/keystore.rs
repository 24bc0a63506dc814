//! Each user's server key, one per TFHE parameter set, serving every model of that set (all
//! models share one set today): validated before it is stored (through
//! [`crate::store::keys`], which owns its row and bytes), within the user's and the
//! deployment's quotas, deleted after a retention period without use, and cached decompressed
//! in memory within a byte budget.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use anyhow::Context;
use blindfold_model::{CompressedServerKey, ServerKey};
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::services::{ServiceError, ServiceResult};
use crate::store::db::{Db, now_ms};
use crate::store::disk::Placement;
use crate::store::keys::{KeyStore, KeyUsage, NewKey, StoredKey};
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

/// Server keys held decompressed in memory, by user and fingerprint.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldKeys(HashSet<(i64, String)>);

impl HeldKeys {
    pub fn contains(&self, user_id: i64, fingerprint: &str) -> bool {
        self.0.contains(&(user_id, fingerprint.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Locks serializing key uploads, striped by (user, parameter set).
const UPLOAD_LOCKS: usize = 64;

pub struct ServerKeyStore {
    store: KeyStore,
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
            store: KeyStore::new(db, placement),
            quota,
            upload_locks: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
            cache,
            preloads: Arc::new(tokio::sync::Semaphore::new(preloads.max(1))),
            retention_ms: retention.map(|r| i64::try_from(r.as_millis()).unwrap_or(i64::MAX)),
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
        self.judge(self.store.usage(user_id, parameter_set).await?, size)
    }

    fn judge(&self, usage: KeyUsage, size: u64) -> ServiceResult<()> {
        if usage.other_keys >= i64::from(self.quota.max_keys) {
            return Err(ServiceError::QuotaExceeded(format!(
                "you already store {} server keys, the most allowed; delete one first",
                usage.other_keys
            )));
        }
        if usage.other_bytes.saturating_add(size) > self.quota.max_bytes {
            return Err(ServiceError::QuotaExceeded(format!(
                "this key would take your stored keys to {} MiB, over your quota of {} MiB; delete one first",
                usage.other_bytes.saturating_add(size).div_ceil(1 << 20),
                self.quota.max_bytes >> 20
            )));
        }
        // Parallel uploads of different users may each see the total before the others' rows:
        // it is passed by at most the keys being uploaded at once (--max-key-uploads per node).
        if usage.everyone_elses_bytes.saturating_add(size) > self.quota.max_total_bytes {
            return Err(ServiceError::StorageFull(format!(
                "the server's storage for keys is full ({} MiB in all); the operator has been told. Retry later",
                self.quota.max_total_bytes >> 20
            )));
        }
        Ok(())
    }

    /// Validates and stores `bytes` as the user's key for the parameter set (every model of it),
    /// replacing any old one, within the quotas (checked again in the transaction that swaps
    /// the key).
    pub async fn put(&self, user_id: i64, parameter_set: &str, bytes: Vec<u8>) -> ServiceResult<KeyInfo> {
        let size = bytes.len() as u64;
        self.check_quota(user_id, parameter_set, size).await?;
        // One upload per (user, parameter set) at a time from writing the file to swapping the
        // row: two uploads of the same bytes share one file name, which the other's swap could
        // otherwise remove as the key it replaced.
        let _turn = self.upload_lock(user_id, parameter_set).lock().await;
        let (bytes, fingerprint) = tokio::task::spawn_blocking(move || -> ServiceResult<(Vec<u8>, String)> {
            CompressedServerKey::from_bytes(&bytes).map_err(ServiceError::Rejected)?;
            let fingerprint = hex::encode(Sha256::digest(&bytes));
            Ok((bytes, fingerprint))
        })
        .await??;
        let uploaded_at = now_ms();
        let key = NewKey {
            user_id,
            parameter_set,
            fingerprint: &fingerprint,
            uploaded_at,
            bytes,
        };
        let previous = self.store.replace(key, |usage| self.judge(usage, size)).await?;
        if let Some(previous) = previous.filter(|p| *p != fingerprint) {
            // No job can name the replaced key any more: its ~120 MB go now, not when the
            // cache's budget pushes them out.
            self.cache.invalidate(&(user_id, parameter_set.to_owned(), previous));
        }
        Ok(KeyInfo {
            parameter_set: parameter_set.to_owned(),
            size_bytes: size as i64,
            fingerprint,
            uploaded_at,
            expires_at: self.retention_ms.map(|r| uploaded_at.saturating_add(r)),
        })
    }

    /// A deleted user's keys: their files (their rows went with the user) and their
    /// decompressed keys in memory.
    pub async fn forget_user(&self, user_id: i64) {
        self.store.remove_user_files(user_id).await;
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

    /// At start-up: deletes key files no stored key refers to; how many.
    pub async fn sweep_orphans(&self) -> anyhow::Result<u64> {
        self.store.sweep_orphans().await
    }

    pub async fn info(&self, user_id: i64, parameter_set: &str) -> ServiceResult<Option<KeyInfo>> {
        let Some(StoredKey {
            parameter_set,
            size_bytes,
            fingerprint,
            uploaded_at,
            last_used_at,
        }) = self.store.get(user_id, parameter_set).await?
        else {
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
        Ok(self.store.touch(user_id, parameter_set, now, now - every).await?)
    }

    /// Deletes every key no prediction used for the retention period; the number deleted.
    pub async fn sweep_unused(&self) -> ServiceResult<u64> {
        let Some(retention) = self.retention_ms else {
            return Ok(0);
        };
        let unused_since = now_ms().saturating_sub(retention);
        let mut deleted = 0;
        for (user_id, parameter_set) in self.store.unused_since(unused_since).await? {
            if self.delete_unused(user_id, &parameter_set, unused_since).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Removes the user's key unless a prediction used it after `unused_since` (a use racing
    /// the sweep keeps it); false when none was removed.
    async fn delete_unused(&self, user_id: i64, parameter_set: &str, unused_since: i64) -> ServiceResult<bool> {
        let deleted = self.store.delete(user_id, parameter_set, Some(unused_since)).await?;
        if let Some(fingerprint) = &deleted {
            tracing::info!(
                user_id,
                "deleted a server key no prediction used for the retention period"
            );
            self.cache
                .invalidate(&(user_id, parameter_set.to_owned(), fingerprint.clone()));
        }
        Ok(deleted.is_some())
    }

    /// Removes the user's key; false when there was none.
    pub async fn delete(&self, user_id: i64, parameter_set: &str) -> ServiceResult<bool> {
        let deleted = self.store.delete(user_id, parameter_set, None).await?;
        if let Some(fingerprint) = &deleted {
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
        let store = self.store.clone();
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
                    let bytes = runtime
                        .block_on(store.bytes(user_id, &parameter_set, &fingerprint))?
                        .context(replaced)?;
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

    /// The keys held decompressed: the jobs this process can start without a key miss (key affinity, see
    /// [`crate::services::jobs::JobQueue::claim`]). By user too: two accounts may upload the
    /// same key bytes, and each is a separate entry here.
    pub fn held_keys(&self) -> HeldKeys {
        HeldKeys(self.cache.iter().map(|(key, _)| (key.0, key.2.clone())).collect())
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
        let db = crate::store::db::connect(&format!("sqlite://{}", dir.join("k.db").display()), 4)
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
    async fn held(keys: &ServerKeyStore, count: usize) -> HeldKeys {
        for _ in 0..600 {
            let held = keys.held_keys();
            if held.len() == count {
                return held;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the cache holds {:?}, not {count} keys", keys.held_keys());
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
        assert!(holding.contains(1, &first.fingerprint) && !holding.contains(2, &second.fingerprint));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(keys.held_keys(), holding, "the second preload was not run");
        let one_key = keys.cached_bytes();
        assert!(one_key > 50_000_000, "{one_key}");

        // User 1 replaces their key: the old one leaves the cache at once, before any budget
        // would push it out.
        let replaced = keys.put(1, PARAMETER_SET_NAME, b).await.unwrap();
        assert_ne!(replaced.fingerprint, first.fingerprint);
        assert!(keys.held_keys().is_empty());
        assert_eq!(keys.cached_bytes(), 0);
        // And a job still naming it is refused, not served the old key.
        let stale = keys.load(1, PARAMETER_SET_NAME, &first.fingerprint).await;
        assert!(format!("{:#}", stale.err().unwrap()).contains("replaced"));
    }
}
