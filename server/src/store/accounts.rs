//! The `users` and `sessions` tables. The rules (usernames, passwords, lifetimes, how many
//! sessions a user may hold) are [`crate::services::accounts`]'; sessions are stored by the
//! SHA-256 of their token, never the token itself.

use blindfold_api::Role;

use crate::store::db::{self, Backend, Db};

/// A user's row as a login reads it.
#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
}

/// A session's row with its user's.
#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// A session to store.
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct AccountStore {
    db: Db,
}

impl AccountStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The pool, for tests that set up or age rows.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    /// Whether an account has this username key.
    pub async fn key_taken(&self, key: &str) -> sqlx::Result<bool> {
        // An id rather than EXISTS: SQLite answers EXISTS with an integer, PostgreSQL with a
        // boolean.
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username_key = $1")
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Inserts an account; with `first_is_owner` it is an owner if no account exists, which
    /// the insert itself decides (taking turns with other registrations under PostgreSQL,
    /// where two could otherwise both see an empty table). Its id and role; a unique
    /// violation when the key is taken.
    pub async fn insert_user(
        &self,
        username: &str,
        key: &str,
        hash: &str,
        now: i64,
        first_is_owner: bool,
    ) -> sqlx::Result<(i64, Role)> {
        let mut transaction = self.db.pool.begin().await?;
        if first_is_owner {
            db::take_turn(&mut transaction, self.db.backend, "register").await?;
        }
        let inserted = sqlx::query_as(
            "INSERT INTO users (username, username_key, password_hash, created_at, role)
             SELECT $1, $2, $3, $4,
                    CASE WHEN $5 = 1 AND (SELECT COUNT(*) FROM users) = 0 THEN $6 ELSE $7 END
             RETURNING id, role",
        )
        .bind(username)
        .bind(key)
        .bind(hash)
        .bind(now)
        .bind(i64::from(first_is_owner))
        .bind(Role::Owner)
        .bind(Role::User)
        .fetch_one(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(inserted)
    }

    /// The account with this username key.
    pub async fn user_by_key(&self, key: &str) -> sqlx::Result<Option<UserRow>> {
        sqlx::query_as("SELECT id, username, password_hash, role FROM users WHERE username_key = $1")
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await
    }

    /// The username key and password hash of a user.
    pub async fn credentials(&self, user_id: i64) -> sqlx::Result<Option<(String, String)>> {
        sqlx::query_as("SELECT username_key, password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.db.pool)
            .await
    }

    pub async fn set_password(&self, user_id: i64, hash: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Gives the account with this username key the role; its name as registered, if any.
    pub async fn set_role(&self, key: &str, role: Role) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("UPDATE users SET role = $1 WHERE username_key = $2 RETURNING username")
            .bind(role)
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await
    }

    /// Deletes a user with everything of theirs, in one transaction: sessions, keys and models
    /// go by cascade; their jobs and every job on their models are deleted first, so that their
    /// ids (whose files must be removed) are known. Those ids.
    pub async fn delete_user(&self, user_id: i64) -> sqlx::Result<Vec<String>> {
        let mut transaction = self.db.pool.begin().await?;
        let job_ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM jobs WHERE user_id = $1 OR model_id IN (SELECT id FROM models WHERE owner_id = $1)
             RETURNING id",
        )
        .bind(user_id)
        .fetch_all(&mut *transaction)
        .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(job_ids)
    }

    /// Deletes the user's sessions that began at or before `begun_by` or were last seen at or
    /// before `seen_by` (through `sessions_user`, never a scan of the table).
    pub async fn delete_ended_sessions_of(&self, user_id: i64, begun_by: i64, seen_by: i64) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (created_at <= $2 OR last_seen_at <= $3)")
            .bind(user_id)
            .bind(begun_by)
            .bind(seen_by)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Stores a session only while `password_hash` is still the user's (a login that raced a
    /// password change, which ends every other session, must not outlive it), keeping the
    /// user's newest `keep_others` other sessions and deleting the rest. False when the
    /// password had changed.
    pub async fn insert_session(
        &self,
        session: &NewSession<'_>,
        password_hash: &str,
        keep_others: i64,
    ) -> sqlx::Result<bool> {
        let mut transaction = self.db.pool.begin().await?;
        // PostgreSQL reads the EXISTS as committed when the insert began, so there the user row
        // is share-locked first: a password change waits for the login, or the login sees it.
        if self.db.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM users WHERE id = $1 AND password_hash = $2 FOR SHARE")
                .bind(session.user_id)
                .bind(password_hash)
                .execute(&mut *transaction)
                .await?;
        }
        let created = sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at)
             SELECT $1, $2, $3, $4, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash = $6)",
        )
        .bind(session.token_hash)
        .bind(session.user_id)
        .bind(session.csrf_token)
        .bind(session.now)
        .bind(session.expires_at)
        .bind(password_hash)
        .execute(&mut *transaction)
        .await?;
        if created.rows_affected() == 0 {
            return Ok(false);
        }
        // The newest others within the allowance stay; the new session always does.
        sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND token_hash != $2 AND token_hash NOT IN (
                 SELECT token_hash FROM sessions WHERE user_id = $1 AND token_hash != $2
                 ORDER BY created_at DESC, token_hash DESC LIMIT $3)",
        )
        .bind(session.user_id)
        .bind(session.token_hash)
        .bind(keep_others)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Deletes every session that began at or before `begun_by` or was last seen at or before
    /// `seen_by`; how many.
    pub async fn delete_ended_sessions(&self, begun_by: i64, seen_by: i64) -> sqlx::Result<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE created_at <= $1 OR last_seen_at <= $2")
                .bind(begun_by)
                .bind(seen_by)
                .execute(&self.db.pool)
                .await?
                .rows_affected(),
        )
    }

    pub async fn delete_session(&self, token_hash: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Deletes every session of the user but `keep` (a token hash), if given; how many.
    pub async fn delete_sessions_of(&self, user_id: i64, keep: Option<&str>) -> sqlx::Result<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2")
                .bind(user_id)
                .bind(keep)
                .execute(&self.db.pool)
                .await?
                .rows_affected(),
        )
    }

    /// The session with this token hash, with its user.
    pub async fn session(&self, token_hash: &str) -> sqlx::Result<Option<SessionRow>> {
        sqlx::query_as(
            "SELECT u.id AS user_id, u.username, u.role, s.csrf_token, s.created_at, s.last_seen_at
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.db.pool)
        .await
    }

    /// Records a use of the session at `now`.
    pub async fn touch_session(&self, token_hash: &str, now: i64) -> sqlx::Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $1")
            .bind(now)
            .bind(token_hash)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}
