//! A user's server key for a model: upload (replace), status, removal.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use blindfold_api::KeyInfo;

use crate::routes::auth::CurrentUser;
use crate::routes::body::read_limited;
use crate::routes::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn put(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<KeyInfo>> {
    state.models.get(&id).await?;
    let bytes = read_limited(&headers, body, state.settings.max_key_bytes, "server key").await?;
    let info = state.keys.put(user.user_id, &id, bytes).await?;
    tracing::info!(
        user_id = user.user_id,
        model = id,
        bytes = info.size_bytes,
        "server key stored"
    );
    state.keys.preload(user.user_id, &id, &info.fingerprint);
    Ok(Json(info))
}

pub async fn get(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> ApiResult<Json<KeyInfo>> {
    state.models.get(&id).await?;
    state
        .keys
        .info(user.user_id, &id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("server key"))
}

pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    state.models.get(&id).await?;
    if state.keys.delete(user.user_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("server key"))
    }
}
