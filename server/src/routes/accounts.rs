//! Register, log in, log out, and who am I.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::accounts::session::{self, CurrentUser};
use crate::accounts::{password, rules};
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct Registration {
    username: String,
    password: String,
    password_confirmation: String,
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

pub use blindfold_app::api::SessionInfo;

fn json<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(v)| v).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// Creates an account and logs it in.
pub async fn register(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Result<Json<Registration>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let form = json(body)?;
    let username = form.username.trim().to_owned();
    let mut fields = BTreeMap::new();
    let username_problems = rules::username_problems(&username);
    if !username_problems.is_empty() {
        fields.insert("username", username_problems);
    }
    let password_problems = rules::password_problems(&form.password, &form.password_confirmation, &username);
    if !password_problems.is_empty() {
        fields.insert("password", password_problems);
    }
    if !fields.is_empty() {
        return Err(ApiError::Validation(fields));
    }
    let hash = password::hash(form.password).await?;
    let inserted =
        sqlx::query("INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?)")
            .bind(&username)
            .bind(username.to_lowercase())
            .bind(hash)
            .bind(now_ms())
            .execute(&state.pool)
            .await;
    let user_id = match inserted {
        Ok(result) => result.last_insert_rowid(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let mut fields = BTreeMap::new();
            fields.insert("username", vec!["A user with that username already exists.".to_owned()]);
            return Err(ApiError::Validation(fields));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id, "registered");
    let (token, csrf_token) = session::create(&state.pool, user_id).await?;
    let jar = jar.add(session::session_cookie(token, state.settings.secure_cookies));
    Ok((StatusCode::CREATED, jar, Json(SessionInfo { username, csrf_token })))
}

/// Logs in with a new session id (the old session, if any, ends).
pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Result<Json<Credentials>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let credentials = json(body)?;
    let username_key = credentials.username.trim().to_lowercase();
    if let Err(retry_after_s) = state.throttle.check(&username_key) {
        return Err(ApiError::TooManyAttempts { retry_after_s });
    }
    let row: Option<(i64, String, String)> =
        sqlx::query_as("SELECT id, username, password_hash FROM users WHERE username_key = ?")
            .bind(&username_key)
            .fetch_optional(&state.pool)
            .await?;
    let stored_hash = row.as_ref().map(|(_, _, h)| h.clone());
    let valid = password::verify(credentials.password, stored_hash).await?;
    let (user_id, username) = match (valid, row) {
        (true, Some((id, name, _))) => (id, name),
        _ => {
            state.throttle.failed(&username_key);
            // One message for both an unknown user and a wrong password.
            return Err(ApiError::Unauthorized("invalid username or password"));
        }
    };
    state.throttle.succeeded(&username_key);
    if let Some(old) = session::lookup(&state, &jar).await? {
        session::destroy(&state.pool, &old.token_hash).await?;
    }
    let (token, csrf_token) = session::create(&state.pool, user_id).await?;
    let jar = jar.add(session::session_cookie(token, state.settings.secure_cookies));
    Ok((jar, Json(SessionInfo { username, csrf_token })))
}

pub async fn logout(State(state): State<AppState>, user: CurrentUser, jar: CookieJar) -> ApiResult<impl IntoResponse> {
    session::destroy(&state.pool, &user.token_hash).await?;
    Ok((StatusCode::NO_CONTENT, jar.add(session::removal_cookie())))
}

pub async fn current(user: CurrentUser) -> Json<SessionInfo> {
    Json(SessionInfo {
        username: user.username,
        csrf_token: user.csrf_token,
    })
}
