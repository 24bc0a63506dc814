//! Accounts over HTTP: register, log in, log out, who am I, and the account lifecycle (change
//! the password, log out everywhere, delete the account).
//!
//! Every body here is a small JSON form, capped at [`BODY_LIMIT`] bytes before it is read.

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum_extra::extract::CookieJar;
use blindfold_api::{AccountDeletion, Credentials, PasswordChange, Registration, SessionInfo, paths};

use crate::routes::auth::{self, CurrentUser};
use crate::routes::body::json_body;
use crate::routes::client_addr::ClientAddr;
use crate::routes::error::ApiResult;
use crate::services::accounts::Account;
use crate::state::AppState;

/// Largest account request body: a form of a username and a few passwords.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The account routes, with their body limit.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::REGISTER, post(register))
        .route(paths::LOGIN, post(login))
        .route(paths::LOGOUT, post(logout))
        .route(paths::SESSION, get(current))
        .route(paths::ACCOUNT, delete(delete_account))
        .route(paths::ACCOUNT_PASSWORD, post(change_password))
        .route(paths::ACCOUNT_SESSIONS, delete(log_out_everywhere))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn json<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    json_body(body, BODY_LIMIT as u64)
}

/// Starts a session for the account: the cookie and the session as the client sees it.
async fn log_in(state: &AppState, jar: CookieJar, account: Account) -> ApiResult<(CookieJar, Json<SessionInfo>)> {
    let new = state
        .accounts
        .sessions
        .create(account.user_id, &account.password_hash)
        .await?;
    let jar = jar.add(auth::session_cookie(state, new.token));
    let info = SessionInfo {
        username: account.username,
        csrf_token: new.csrf_token,
        role: account.role,
    };
    Ok((jar, Json(info)))
}

/// Creates an account and logs it in.
pub async fn register(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    jar: CookieJar,
    body: Result<Json<Registration>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let form = json(body)?;
    let account = state
        .accounts
        .register(address, &form.username, form.password, form.password_confirmation)
        .await?;
    tracing::info!(user_id = account.user_id, "registered");
    Ok((StatusCode::CREATED, log_in(&state, jar, account).await?))
}

/// Logs in with a new session id (the old session, if any, ends).
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    jar: CookieJar,
    body: Result<Json<Credentials>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let credentials = json(body)?;
    let account = state
        .accounts
        .log_in(address, &credentials.username, credentials.password)
        .await?;
    if let Some(old) = auth::session_of(&state, &jar).await? {
        state.accounts.sessions.destroy(&old).await?;
    }
    log_in(&state, jar, account).await
}

pub async fn logout(State(state): State<AppState>, user: CurrentUser, jar: CookieJar) -> ApiResult<impl IntoResponse> {
    state.accounts.sessions.destroy(&user).await?;
    Ok((StatusCode::NO_CONTENT, jar.add(auth::removal_cookie(&state))))
}

pub async fn current(user: CurrentUser) -> Json<SessionInfo> {
    Json(SessionInfo {
        username: user.username.clone(),
        csrf_token: user.csrf_token.clone(),
        role: user.role,
    })
}

/// Changes the password, given the current one; every other session ends, this one stays.
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(address): ClientAddr,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let form = json(body)?;
    state
        .accounts
        .change_password(
            address,
            &user,
            form.current_password,
            form.new_password,
            form.new_password_confirmation,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the user, this one included.
pub async fn log_out_everywhere(
    State(state): State<AppState>,
    user: CurrentUser,
    jar: CookieJar,
) -> ApiResult<impl IntoResponse> {
    let ended = state.accounts.sessions.destroy_all(user.user_id, None).await?;
    tracing::info!(user_id = user.user_id, ended, "logged out everywhere");
    Ok((StatusCode::NO_CONTENT, jar.add(auth::removal_cookie(&state))))
}

/// Deletes the account and everything of it, given the password.
pub async fn delete_account(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(address): ClientAddr,
    jar: CookieJar,
    body: Result<Json<AccountDeletion>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let form = json(body)?;
    state.accounts.delete(address, user.user_id, form.password).await?;
    Ok((StatusCode::NO_CONTENT, jar.add(auth::removal_cookie(&state))))
}
