//! A user's server key for a model: upload (replace), status, removal.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use crate::accounts::session::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::keystore::KeyInfo;
use crate::routes::read_limited;
use crate::startup::AppState;

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
    // Decompress it now, in the background, so that the first prediction does not wait for it.
    let (keys, user_id, fingerprint) = (state.keys.clone(), user.user_id, info.fingerprint.clone());
    tokio::task::spawn_blocking(move || {
        if let Err(error) = keys.load(user_id, &id, &fingerprint) {
            tracing::warn!(error = format!("{error:#}"), "could not preload a server key");
        }
    });
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
