//! A user's server key: upload (replace), status, removal. One key serves every model of its
//! parameter set (all models share one today), at `/api/key`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use blindfold_api::KeyInfo;
use blindfold_model::params::PARAMETER_SET_NAME;

use crate::routes::auth::CurrentUser;
use crate::routes::body::{declared_length, read_limited};
use crate::routes::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn put(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<KeyInfo>> {
    store(&state, &user, PARAMETER_SET_NAME, headers, body).await
}

pub async fn get(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<KeyInfo>> {
    info(&state, &user, PARAMETER_SET_NAME).await
}

pub async fn delete(State(state): State<AppState>, user: CurrentUser) -> ApiResult<impl IntoResponse> {
    remove(&state, &user, PARAMETER_SET_NAME).await
}

async fn store(
    state: &AppState,
    user: &CurrentUser,
    parameter_set: &str,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<KeyInfo>> {
    // A slot before the body is read: a key is read, validated and stored within it.
    let _slot = state.key_uploads.take(user.user_id)?;
    // Refused before 30 MB cross the network if it cannot fit the user's quota.
    state
        .keys
        .check_quota(user.user_id, parameter_set, declared_length(&headers).unwrap_or(0))
        .await?;
    let settings = &state.settings;
    let bytes = read_limited(
        &headers,
        body,
        settings.max_key_bytes,
        settings.upload_timeout(),
        "server key",
    )
    .await?;
    let info = state.keys.put(user.user_id, parameter_set, bytes).await?;
    tracing::info!(user_id = user.user_id, bytes = info.size_bytes, "server key stored");
    // Only where jobs are evaluated: a web node without workers would hold 120 MB for nothing.
    if state.settings.workers > 0 {
        state.keys.preload(user.user_id, parameter_set, &info.fingerprint);
    }
    Ok(Json(info))
}

async fn info(state: &AppState, user: &CurrentUser, parameter_set: &str) -> ApiResult<Json<KeyInfo>> {
    state
        .keys
        .info(user.user_id, parameter_set)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("server key"))
}

async fn remove(state: &AppState, user: &CurrentUser, parameter_set: &str) -> ApiResult<StatusCode> {
    if state.keys.delete(user.user_id, parameter_set).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("server key"))
    }
}
