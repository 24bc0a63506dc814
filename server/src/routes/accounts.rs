//! Register, log in, log out, and who am I.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use blindfold_api::{Credentials, Registration, SessionInfo};

use crate::routes::auth::{self, CurrentUser};
use crate::routes::error::{ApiError, ApiResult};
use crate::services::accounts::{self, Account, sessions};
use crate::state::AppState;

fn json<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(v)| v).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// Starts a session for the account: the cookie and the session as the client sees it.
async fn log_in(state: &AppState, jar: CookieJar, account: Account) -> ApiResult<(CookieJar, Json<SessionInfo>)> {
    let new = sessions::create(&state.pool, account.user_id).await?;
    let jar = jar.add(auth::session_cookie(new.token, state.settings.secure_cookies));
    let info = SessionInfo {
        username: account.username,
        csrf_token: new.csrf_token,
    };
    Ok((jar, Json(info)))
}

/// Creates an account and logs it in.
pub async fn register(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Result<Json<Registration>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let form = json(body)?;
    let account = accounts::register(&state.pool, &form.username, form.password, &form.password_confirmation).await?;
    tracing::info!(user_id = account.user_id, "registered");
    Ok((StatusCode::CREATED, log_in(&state, jar, account).await?))
}

/// Logs in with a new session id (the old session, if any, ends).
pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Result<Json<Credentials>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let credentials = json(body)?;
    let account = accounts::authenticate(
        &state.pool,
        &state.throttle,
        &credentials.username,
        credentials.password,
    )
    .await?;
    if let Some(old) = auth::session_of(&state.pool, &jar).await? {
        sessions::destroy(&state.pool, &old).await?;
    }
    log_in(&state, jar, account).await
}

pub async fn logout(State(state): State<AppState>, user: CurrentUser, jar: CookieJar) -> ApiResult<impl IntoResponse> {
    sessions::destroy(&state.pool, &user).await?;
    Ok((StatusCode::NO_CONTENT, jar.add(auth::removal_cookie())))
}

pub async fn current(user: CurrentUser) -> Json<SessionInfo> {
    Json(SessionInfo {
        username: user.username.clone(),
        csrf_token: user.csrf_token.clone(),
    })
}
