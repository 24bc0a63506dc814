//! Server-side sessions in the database. A session is a random token the client holds (in the
//! session cookie) and the server stores only hashed, with its own CSRF token.
//!
//! A session ends when it has not been used for the idle lifetime, or at the latest the
//! absolute lifetime after it began (OWASP's idle and absolute timeouts); an ended session is
//! refused and deleted when it is next presented. Use is recorded at most once a minute, so
//! that reading pages does not write to the database on every request.

use std::time::Duration;

use blindfold_api::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::services::{ServiceError, ServiceResult};
use crate::store::accounts::{AccountStore, NewSession as StoredSession, SessionRow};
use crate::store::db::now_ms;

/// How stale `last_seen_at` may get before a request refreshes it.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
    /// The account's role as it is now: read with every lookup, so a role granted or revoked
    /// applies from the session's next request.
    pub role: Role,
    pub csrf_token: String,
    /// SHA-256 of the token, hex: how the database knows the session.
    pub token_hash: String,
}

/// A new session's secrets, for the client: the cookie's token and the CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The sessions of all users.
pub struct Sessions {
    store: AccountStore,
    idle_ms: i64,
    lifetime_ms: i64,
    /// Sessions one user may hold; a login beyond ends the oldest.
    max_per_user: i64,
}

impl Sessions {
    pub fn new(store: AccountStore, idle: Duration, lifetime: Duration, max_per_user: u32) -> Self {
        Self {
            store,
            idle_ms: millis(idle),
            lifetime_ms: millis(lifetime),
            max_per_user: i64::from(max_per_user.max(1)),
        }
    }

    /// How long a session lasts at most: the session cookie's max-age.
    pub fn lifetime(&self) -> time::Duration {
        time::Duration::milliseconds(self.lifetime_ms)
    }

    /// Starts a session for the user, ending their oldest beyond the most one user may hold
    /// (and their ended ones: through `sessions_user`, never a scan of the table).
    pub async fn create(&self, user_id: i64, password_hash: &str) -> ServiceResult<NewSession> {
        let (token, csrf_token) = (random_token(), random_token());
        let token_hash = hash_token(&token);
        let now = now_ms();
        self.store
            .delete_ended_sessions_of(
                user_id,
                now.saturating_sub(self.lifetime_ms),
                now.saturating_sub(self.idle_ms),
            )
            .await?;
        let session = StoredSession {
            token_hash: &token_hash,
            user_id,
            csrf_token: &csrf_token,
            now,
            expires_at: now.saturating_add(self.lifetime_ms),
        };
        if !self
            .store
            .insert_session(&session, password_hash, self.max_per_user - 1)
            .await?
        {
            return Err(ServiceError::InvalidCredentials);
        }
        Ok(NewSession { token, csrf_token })
    }

    /// Deletes every ended session; the number deleted.
    pub async fn sweep(&self) -> ServiceResult<u64> {
        let now = now_ms();
        Ok(self
            .store
            .delete_ended_sessions(now.saturating_sub(self.lifetime_ms), now.saturating_sub(self.idle_ms))
            .await?)
    }

    /// Ends one session.
    pub async fn destroy(&self, session: &Session) -> ServiceResult<()> {
        Ok(self.store.delete_session(&session.token_hash).await?)
    }

    /// Ends every session of the user but `keep` (its token hash), if given.
    pub async fn destroy_all(&self, user_id: i64, keep: Option<&str>) -> ServiceResult<u64> {
        Ok(self.store.delete_sessions_of(user_id, keep).await?)
    }

    /// The live session of this token, if any; an ended one is deleted.
    pub async fn lookup(&self, token: &str) -> ServiceResult<Option<Session>> {
        let token_hash = hash_token(token);
        let Some(SessionRow {
            user_id,
            username,
            role,
            csrf_token,
            created_at,
            last_seen_at,
        }) = self.store.session(&token_hash).await?
        else {
            return Ok(None);
        };
        let now = now_ms();
        if created_at <= now.saturating_sub(self.lifetime_ms) || last_seen_at <= now.saturating_sub(self.idle_ms) {
            self.store.delete_session(&token_hash).await?;
            return Ok(None);
        }
        if now - last_seen_at >= TOUCH_EVERY_MS {
            self.store.touch_session(&token_hash, now).await?;
        }
        Ok(Some(Session {
            user_id,
            username,
            role,
            csrf_token,
            token_hash,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3600 * 1000;

    async fn sessions() -> (Sessions, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::db::connect(&format!("sqlite://{}", dir.path().join("s.db").display()), 4)
            .await
            .unwrap();
        let pool = db.pool.clone();
        sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, created_at) VALUES (1, 'a', 'a', 'x', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let hours = |h: u64| Duration::from_secs(h * 3600);
        (Sessions::new(AccountStore::new(db), hours(2), hours(10), 3), dir)
    }

    async fn age(s: &Sessions, column: &str, by_ms: i64) {
        sqlx::query(&format!("UPDATE sessions SET {column} = {column} - $1"))
            .bind(by_ms)
            .execute(s.store.pool())
            .await
            .unwrap();
    }

    async fn count(s: &Sessions) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(s.store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_login_checked_against_a_replaced_password_starts_no_session() {
        let (s, _dir) = sessions().await;
        assert!(matches!(
            s.create(1, "an old hash").await,
            Err(ServiceError::InvalidCredentials)
        ));
        assert_eq!(count(&s).await, 0);
    }

    #[tokio::test]
    async fn an_idle_session_ends_and_use_keeps_one_alive_until_its_lifetime() {
        let (s, _dir) = sessions().await;
        let new = s.create(1, "x").await.unwrap();
        assert!(s.lookup(&new.token).await.unwrap().is_some());
        assert!(s.lookup("forged").await.unwrap().is_none());

        // Used an hour ago: alive, and the use is recorded.
        age(&s, "last_seen_at", HOUR_MS).await;
        assert!(s.lookup(&new.token).await.unwrap().is_some());
        let seen: i64 = sqlx::query_scalar("SELECT $1 - last_seen_at FROM sessions")
            .bind(now_ms())
            .fetch_one(s.store.pool())
            .await
            .unwrap();
        assert!(seen < 5_000, "{seen}");

        // Begun 10 hours ago: over, however recently used, and deleted.
        age(&s, "created_at", 10 * HOUR_MS).await;
        assert!(s.lookup(&new.token).await.unwrap().is_none());
        assert_eq!(count(&s).await, 0);

        // Unused for 2 hours: over.
        let idle = s.create(1, "x").await.unwrap();
        age(&s, "last_seen_at", 2 * HOUR_MS).await;
        assert!(s.lookup(&idle.token).await.unwrap().is_none());
        assert_eq!(count(&s).await, 0);
    }

    #[tokio::test]
    async fn recent_use_is_not_written_again() {
        let (s, _dir) = sessions().await;
        let new = s.create(1, "x").await.unwrap();
        age(&s, "last_seen_at", 30_000).await;
        s.lookup(&new.token).await.unwrap().unwrap();
        let stale: i64 = sqlx::query_scalar("SELECT $1 - last_seen_at FROM sessions")
            .bind(now_ms())
            .fetch_one(s.store.pool())
            .await
            .unwrap();
        assert!(stale >= 30_000, "refreshed only after a minute");
    }

    #[tokio::test]
    async fn ending_all_sessions_can_keep_one() {
        let (s, _dir) = sessions().await;
        let (a, b, c) = (
            s.create(1, "x").await.unwrap(),
            s.create(1, "x").await.unwrap(),
            s.create(1, "x").await.unwrap(),
        );
        let keep = s.lookup(&b.token).await.unwrap().unwrap();
        assert_eq!(s.destroy_all(1, Some(&keep.token_hash)).await.unwrap(), 2);
        assert!(s.lookup(&a.token).await.unwrap().is_none());
        assert!(s.lookup(&b.token).await.unwrap().is_some());
        assert!(s.lookup(&c.token).await.unwrap().is_none());
        assert_eq!(s.destroy_all(1, None).await.unwrap(), 1);
        assert_eq!(count(&s).await, 0);
    }

    #[tokio::test]
    async fn a_user_holds_a_bounded_number_of_sessions_and_the_oldest_ends_first() {
        let (s, _dir) = sessions().await;
        let first = s.create(1, "x").await.unwrap();
        age(&s, "created_at", 3_000).await;
        let second = s.create(1, "x").await.unwrap();
        age(&s, "created_at", 2_000).await;
        let third = s.create(1, "x").await.unwrap();
        let fourth = s.create(1, "x").await.unwrap();
        assert_eq!(count(&s).await, 3);
        assert!(s.lookup(&first.token).await.unwrap().is_none(), "the oldest ended");
        for kept in [&second, &third, &fourth] {
            assert!(s.lookup(&kept.token).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn ended_sessions_are_swept_without_a_login() {
        let (s, _dir) = sessions().await;
        s.create(1, "x").await.unwrap();
        s.create(1, "x").await.unwrap();
        assert_eq!(s.sweep().await.unwrap(), 0);
        age(&s, "last_seen_at", 2 * HOUR_MS).await;
        assert_eq!(s.sweep().await.unwrap(), 2);
        assert_eq!(count(&s).await, 0);
    }
}
