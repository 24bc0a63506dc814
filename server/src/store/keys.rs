//! The `user_keys` table and the keys' bytes: a file per key beside SQLite, the row's
//! `key_bytes` with PostgreSQL ([`Placement`]). The key store's policy (quotas, retention, the
//! decompressed cache) is [`crate::services::keystore`].
//!
//! Files, under the key directory: `<user id>/<parameter set>-<fingerprint>.key`, one per
//! uploaded key, named by its fingerprint, so concurrent uploads never write the same file and
//! a row always names a complete file. A file is durable before its row exists and removed
//! after the row is gone; what a crash leaves in between, [`KeyStore::sweep_orphans`] removes.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Context;

use crate::store::db::{self, Db};
use crate::store::disk::{self, Placement};

/// A stored key's row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredKey {
    pub parameter_set: String,
    pub size_bytes: i64,
    pub fingerprint: String,
    pub uploaded_at: i64,
    pub last_used_at: i64,
}

/// What a user stores besides the key being replaced, and what everyone stores besides it:
/// what a quota is judged on.
#[derive(Debug, Clone, Copy)]
pub struct KeyUsage {
    pub other_keys: i64,
    pub other_bytes: u64,
    pub everyone_elses_bytes: u64,
}

/// A key to store: its row and its bytes.
pub struct NewKey<'a> {
    pub user_id: i64,
    pub parameter_set: &'a str,
    pub fingerprint: &'a str,
    pub uploaded_at: i64,
    pub bytes: Vec<u8>,
}

#[derive(Clone)]
pub struct KeyStore {
    db: Db,
    placement: Placement,
}

impl KeyStore {
    pub fn new(db: Db, placement: Placement) -> Self {
        Self { db, placement }
    }

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
            disk::remove_quietly(&path);
        }
    }

    /// What the quota of a key for (`user_id`, `parameter_set`) is judged on.
    pub async fn usage(&self, user_id: i64, parameter_set: &str) -> sqlx::Result<KeyUsage> {
        let mut connection = self.db.pool.acquire().await?;
        usage_on(&mut connection, user_id, parameter_set).await
    }

    /// Stores `key` as the user's key for its parameter set, replacing any, if `allowed`
    /// accepts the usage read in the same transaction; the fingerprint of the key it replaced.
    ///
    /// With files, the file is durable before its row exists and the replaced key's file is
    /// removed after (callers serialize uploads of one user and parameter set, since two
    /// uploads of the same bytes share a file name). The user's swaps take turns on every node
    /// (an advisory lock with PostgreSQL; SQLite's writer lock, which the delete takes first),
    /// so parallel uploads cannot pass a quota together.
    pub async fn replace<E>(
        &self,
        key: NewKey<'_>,
        allowed: impl FnOnce(KeyUsage) -> Result<(), E>,
    ) -> Result<Option<String>, E>
    where
        E: From<anyhow::Error> + From<sqlx::Error>,
    {
        let row = key_row(&key, key.bytes.len() as i64);
        let path = self.path(key.user_id, key.parameter_set, key.fingerprint);
        let in_row = match path {
            Some(path) => {
                let bytes = key.bytes;
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    let dir = path.parent().expect("key path has a parent");
                    disk::private_dir(dir).context("key directory")?;
                    disk::write_durably(&path, &bytes).context("storing the key")?;
                    disk::crash_point("key-stored");
                    Ok(())
                })
                .await
                .map_err(anyhow::Error::from)??;
                None
            }
            None => {
                disk::crash_point("key-stored");
                Some(key.bytes)
            }
        };
        let swapped = self.swap(&row, key.user_id, in_row, allowed).await;
        match swapped {
            Ok(previous) => {
                if let Some(previous) = previous.as_deref().filter(|p| *p != key.fingerprint) {
                    self.remove_file(key.user_id, key.parameter_set, previous);
                }
                Ok(previous)
            }
            Err(error) => {
                // Not recorded: unless an upload of the same bytes was (same file name).
                let recorded = self.get(key.user_id, key.parameter_set).await?;
                if recorded.is_none_or(|k| k.fingerprint != key.fingerprint) {
                    self.remove_file(key.user_id, key.parameter_set, key.fingerprint);
                }
                Err(error)
            }
        }
    }

    async fn swap<E>(
        &self,
        row: &StoredKey,
        user_id: i64,
        key_bytes: Option<Vec<u8>>,
        allowed: impl FnOnce(KeyUsage) -> Result<(), E>,
    ) -> Result<Option<String>, E>
    where
        E: From<anyhow::Error> + From<sqlx::Error>,
    {
        let mut transaction = self.db.pool.begin().await?;
        db::take_turn(&mut transaction, self.db.backend, &format!("keys {user_id}")).await?;
        // With SQLite the delete comes first: it takes the write lock, so no other upload's
        // swap or quota check can interleave with this one.
        let previous: Option<String> =
            sqlx::query_scalar("DELETE FROM user_keys WHERE user_id = $1 AND parameter_set = $2 RETURNING fingerprint")
                .bind(user_id)
                .bind(&row.parameter_set)
                .fetch_optional(&mut *transaction)
                .await?;
        allowed(usage_on(&mut transaction, user_id, &row.parameter_set).await?)?;
        let (column, value) = match key_bytes {
            Some(_) => (", key_bytes", ", $6"),
            None => ("", ""),
        };
        let sql = format!(
            "INSERT INTO user_keys (user_id, parameter_set, size_bytes, fingerprint, uploaded_at, last_used_at{column})
             VALUES ($1, $2, $3, $4, $5, $5{value})"
        );
        let mut insert = sqlx::query(&sql)
            .bind(user_id)
            .bind(&row.parameter_set)
            .bind(row.size_bytes)
            .bind(&row.fingerprint)
            .bind(row.uploaded_at);
        if let Some(bytes) = key_bytes {
            insert = insert.bind(bytes);
        }
        insert.execute(&mut *transaction).await?;
        transaction.commit().await?;
        Ok(previous)
    }

    /// The user's key row for the parameter set.
    pub async fn get(&self, user_id: i64, parameter_set: &str) -> sqlx::Result<Option<StoredKey>> {
        sqlx::query_as(
            "SELECT parameter_set, size_bytes, fingerprint, uploaded_at, last_used_at FROM user_keys
             WHERE user_id = $1 AND parameter_set = $2",
        )
        .bind(user_id)
        .bind(parameter_set)
        .fetch_optional(&self.db.pool)
        .await
    }

    /// The bytes of the user's key with this fingerprint; none when it was replaced or removed.
    pub async fn bytes(&self, user_id: i64, parameter_set: &str, fingerprint: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self.path(user_id, parameter_set, fingerprint) {
            Some(path) => match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(anyhow::Error::from(error).context("reading a server key")),
            },
            None => Ok(sqlx::query_scalar(
                "SELECT key_bytes FROM user_keys WHERE user_id = $1 AND parameter_set = $2 AND fingerprint = $3",
            )
            .bind(user_id)
            .bind(parameter_set)
            .bind(fingerprint)
            .fetch_optional(&self.db.pool)
            .await?),
        }
    }

    /// Records a use of the key at `now`, unless one was recorded after `unless_after`.
    pub async fn touch(&self, user_id: i64, parameter_set: &str, now: i64, unless_after: i64) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE user_keys SET last_used_at = $1 WHERE user_id = $2 AND parameter_set = $3 AND last_used_at < $4",
        )
        .bind(now)
        .bind(user_id)
        .bind(parameter_set)
        .bind(unless_after)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Every key not used after `since`, by user and parameter set.
    pub async fn unused_since(&self, since: i64) -> sqlx::Result<Vec<(i64, String)>> {
        sqlx::query_as("SELECT user_id, parameter_set FROM user_keys WHERE last_used_at <= $1")
            .bind(since)
            .fetch_all(&self.db.pool)
            .await
    }

    /// Removes the user's key, with `unused_since` only if no use was recorded after it; the
    /// fingerprint of the key removed.
    pub async fn delete(
        &self,
        user_id: i64,
        parameter_set: &str,
        unused_since: Option<i64>,
    ) -> sqlx::Result<Option<String>> {
        let deleted: Option<String> = sqlx::query_scalar(
            "DELETE FROM user_keys WHERE user_id = $1 AND parameter_set = $2 AND last_used_at <= $3
             RETURNING fingerprint",
        )
        .bind(user_id)
        .bind(parameter_set)
        .bind(unused_since.unwrap_or(i64::MAX))
        .fetch_optional(&self.db.pool)
        .await?;
        if let Some(fingerprint) = &deleted {
            self.remove_file(user_id, parameter_set, fingerprint);
        }
        Ok(deleted)
    }

    /// Removes a deleted user's key files (their rows went with the user).
    pub async fn remove_user_files(&self, user_id: i64) {
        if let Placement::Files(dir) = &self.placement
            && let Err(error) = tokio::fs::remove_dir_all(dir.join(user_id.to_string())).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(%error, user_id, "could not remove a deleted account's keys");
        }
    }

    /// At start-up: creates the key directory and deletes key files no stored key refers to
    /// (a crash between writing a key and recording it) and temporary files; how many.
    pub async fn sweep_orphans(&self) -> anyhow::Result<u64> {
        let Placement::Files(dir) = self.placement.clone() else {
            return Ok(0);
        };
        let stored: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT user_id, parameter_set, fingerprint FROM user_keys")
                .fetch_all(&self.db.pool)
                .await?;
        let referenced: HashSet<PathBuf> = stored
            .iter()
            .filter_map(|(user_id, parameter_set, fingerprint)| self.path(*user_id, parameter_set, fingerprint))
            .collect();
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            disk::private_dir(&dir).context("key directory")?;
            let mut removed = 0;
            for user_dir in std::fs::read_dir(&dir)? {
                let user_dir = user_dir?.path();
                if !user_dir.is_dir() {
                    disk::remove_quietly(&user_dir);
                    removed += 1;
                    continue;
                }
                for file in std::fs::read_dir(&user_dir)? {
                    let file = file?.path();
                    if !referenced.contains(&file) {
                        disk::remove_quietly(&file);
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
}

fn key_row(key: &NewKey<'_>, size_bytes: i64) -> StoredKey {
    StoredKey {
        parameter_set: key.parameter_set.to_owned(),
        size_bytes,
        fingerprint: key.fingerprint.to_owned(),
        uploaded_at: key.uploaded_at,
        last_used_at: key.uploaded_at,
    }
}

async fn usage_on(connection: &mut sqlx::AnyConnection, user_id: i64, parameter_set: &str) -> sqlx::Result<KeyUsage> {
    let (other_keys, other_bytes): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM user_keys WHERE user_id = $1 AND parameter_set != $2",
    )
    .bind(user_id)
    .bind(parameter_set)
    .fetch_one(&mut *connection)
    .await?;
    let everyone_elses: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM user_keys WHERE NOT (user_id = $1 AND parameter_set = $2)",
    )
    .bind(user_id)
    .bind(parameter_set)
    .fetch_one(&mut *connection)
    .await?;
    Ok(KeyUsage {
        other_keys,
        other_bytes: other_bytes.max(0) as u64,
        everyone_elses_bytes: everyone_elses.max(0) as u64,
    })
}
