//! A user's server key for a model: upload (replace), status, removal.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use blindfold_api::KeyInfo;

use crate::routes::auth::CurrentUser;
use crate::routes::body::{declared_length, read_limited, upload_slot};
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
    // A slot before the body is read: a key is read, validated and stored within it.
    let _slot = upload_slot(&state.key_uploads, "key uploads", 5)?;
    // Refused before 30 MB cross the network if it cannot fit the user's quota.
    state
        .keys
        .check_quota(user.user_id, &id, declared_length(&headers).unwrap_or(0))
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
    let info = state.keys.put(user.user_id, &id, bytes).await?;
    tracing::info!(
        user_id = user.user_id,
        model = id,
        bytes = info.size_bytes,
        "server key stored"
    );
    // Only where jobs are evaluated: a web node without workers would hold 120 MB for nothing.
    if state.settings.workers > 0 {
        state.keys.preload(user.user_id, &id, &info.fingerprint);
    }
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
