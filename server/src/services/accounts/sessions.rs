//! Server-side sessions in the database. A session is a random token the client holds (in the
//! session cookie) and the server stores only hashed, with its own CSRF token.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;

use crate::db::now_ms;
use crate::services::ServiceResult;

/// How long a session lasts.
pub const SESSION_TTL_MS: i64 = 14 * 24 * 3600 * 1000;

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
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

/// Starts a session for the user (and forgets expired ones).
pub async fn create(pool: &SqlitePool, user_id: i64) -> ServiceResult<NewSession> {
    let (token, csrf_token) = (random_token(), random_token());
    let now = now_ms();
    sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
        .bind(now)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(&csrf_token)
    .bind(now)
    .bind(now + SESSION_TTL_MS)
    .execute(pool)
    .await?;
    Ok(NewSession { token, csrf_token })
}

pub async fn destroy(pool: &SqlitePool, session: &Session) -> ServiceResult<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(&session.token_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// The live session of this token, if any.
pub async fn lookup(pool: &SqlitePool, token: &str) -> ServiceResult<Option<Session>> {
    let token_hash = hash_token(token);
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT u.id, u.username, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ? AND s.expires_at > ?",
    )
    .bind(&token_hash)
    .bind(now_ms())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(user_id, username, csrf_token)| Session {
        user_id,
        username,
        csrf_token,
        token_hash,
    }))
}
