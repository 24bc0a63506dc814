//! Server-side sessions in the database, identified by a random token in an HttpOnly,
//! SameSite=Lax cookie, each with its own CSRF token.
//!
//! CSRF: every state-changing request made with a session must carry the session's token in
//! the `X-CSRF-Token` header. A cross-site page can neither read the token nor set the header
//! on a simple request; SameSite=Lax keeps the cookie off cross-site POSTs as a second line.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use subtle::ConstantTimeEq;

use crate::db::now_ms;
use crate::error::ApiError;
use crate::startup::AppState;

pub const SESSION_COOKIE: &str = "blindfold_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
const SESSION_TTL_MS: i64 = 14 * 24 * 3600 * 1000;

/// The logged-in user of a request. Extracting it fails with 401 without a valid session and
/// with 403 for a state-changing request without the session's CSRF token.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
    pub token_hash: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Starts a session; returns the cookie value and the CSRF token.
pub async fn create(pool: &SqlitePool, user_id: i64) -> Result<(String, String), ApiError> {
    let (token, csrf) = (random_token(), random_token());
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
    .bind(&csrf)
    .bind(now)
    .bind(now + SESSION_TTL_MS)
    .execute(pool)
    .await?;
    Ok((token, csrf))
}

pub async fn destroy(pool: &SqlitePool, token_hash: &str) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}

pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(time_duration(SESSION_TTL_MS))
        .build()
}

pub fn removal_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    cookie.make_removal();
    cookie
}

fn time_duration(ms: i64) -> time::Duration {
    time::Duration::milliseconds(ms)
}

/// The session behind a request's cookie, if any and not expired.
pub async fn lookup(state: &AppState, jar: &CookieJar) -> Result<Option<CurrentUser>, ApiError> {
    let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let token_hash = hash_token(&token);
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT u.id, u.username, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ? AND s.expires_at > ?",
    )
    .bind(&token_hash)
    .bind(now_ms())
    .fetch_optional(&state.pool)
    .await?;
    Ok(row.map(|(user_id, username, csrf_token)| CurrentUser {
        user_id,
        username,
        csrf_token,
        token_hash,
    }))
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let user = lookup(state, &jar)
            .await?
            .ok_or(ApiError::Unauthorized("login required"))?;
        if !parts.method.is_safe() {
            let sent = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if sent.is_empty() || !bool::from(sent.ct_eq(user.csrf_token.as_bytes())) {
                return Err(ApiError::Csrf);
            }
        }
        Ok(user)
    }
}
