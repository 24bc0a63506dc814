//! Per-user, per-model server keys: validated before they are stored, kept as files with a
//! database row, and cached decompressed in memory within a byte budget.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use blindfold_model::{CompressedServerKey, ServerKey};
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;

use crate::db::now_ms;
use crate::services::{ServiceError, ServiceResult};
use blindfold_api::KeyInfo;

pub struct ServerKeyStore {
    pool: SqlitePool,
    dir: PathBuf,
    /// Decompressed keys by (user, model, fingerprint): a replaced key is never served stale.
    cache: Cache<(i64, String, String), Arc<ServerKey>>,
}

impl ServerKeyStore {
    pub fn new(pool: SqlitePool, dir: PathBuf, budget_bytes: u64) -> Self {
        let cache = Cache::builder()
            .weigher(|_, key: &Arc<ServerKey>| u32::try_from(key.memory_bytes()).unwrap_or(u32::MAX))
            .max_capacity(budget_bytes)
            .build();
        Self { pool, dir, cache }
    }

    /// One file per uploaded key, named by its fingerprint: concurrent uploads never write the
    /// same file, and a row in the database always names a complete file.
    fn path(&self, user_id: i64, model_id: &str, fingerprint: &str) -> PathBuf {
        // All parts are safe in a path: a database id, a validated model id, a hex digest.
        self.dir
            .join(user_id.to_string())
            .join(format!("{model_id}-{fingerprint}.key"))
    }

    /// Validates and stores `bytes` as the user's key for the model, replacing any old one.
    pub async fn put(&self, user_id: i64, model_id: &str, bytes: Vec<u8>) -> ServiceResult<KeyInfo> {
        let bytes = tokio::task::spawn_blocking(move || CompressedServerKey::from_bytes(&bytes).map(|_| bytes))
            .await?
            .map_err(ServiceError::Rejected)?;
        let fingerprint = hex::encode(Sha256::digest(&bytes));
        let path = self.path(user_id, model_id, &fingerprint);
        let dir = path.parent().expect("key path has a parent").to_owned();
        let temporary = dir.join(format!("{}.tmp", uuid::Uuid::new_v4()));
        let size = bytes.len() as i64;
        tokio::fs::create_dir_all(&dir).await.context("key directory")?;
        tokio::fs::write(&temporary, &bytes).await.context("writing key")?;
        // Written in full before it is named: a crash never leaves half a key under its name.
        tokio::fs::rename(&temporary, &path).await.context("storing key")?;
        let previous = self.info(user_id, model_id).await?;
        let info = KeyInfo {
            size_bytes: size,
            fingerprint,
            uploaded_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO server_keys (user_id, model_id, size_bytes, fingerprint, uploaded_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(user_id, model_id) DO UPDATE SET size_bytes = excluded.size_bytes,
             fingerprint = excluded.fingerprint, uploaded_at = excluded.uploaded_at",
        )
        .bind(user_id)
        .bind(model_id)
        .bind(info.size_bytes)
        .bind(&info.fingerprint)
        .bind(info.uploaded_at)
        .execute(&self.pool)
        .await?;
        if let Some(previous) = previous.filter(|p| p.fingerprint != info.fingerprint) {
            let _ = tokio::fs::remove_file(self.path(user_id, model_id, &previous.fingerprint)).await;
        }
        Ok(info)
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
            let _ = tokio::fs::remove_file(self.path(user_id, model_id, fingerprint)).await;
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
            return Ok(key);
        }
        let bytes = std::fs::read(self.path(user_id, model_id, fingerprint))
            .context("the server key was replaced or removed after this prediction was submitted")?;
        anyhow::ensure!(
            hex::encode(Sha256::digest(&bytes)) == fingerprint,
            "the stored server key is corrupt"
        );
        let key = Arc::new(CompressedServerKey::from_bytes(&bytes)?.decompress());
        self.cache.insert(cache_key, key.clone());
        Ok(key)
    }
}
