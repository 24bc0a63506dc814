//! The model catalogue and encrypted predictions.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use blindfold_api::ModelSummary;
use blindfold_model::EncryptedRow;

use crate::routes::auth::CurrentUser;
use crate::routes::body::read_limited;
use crate::routes::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ModelSummary>>> {
    Ok(Json(state.models.list().await?))
}

/// The client spec: all a client needs to encrypt for this model and read its answers.
pub async fn spec(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let model = state.models.get(&id).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], model.spec_json.clone()))
}

/// Queues an encrypted row for evaluation; answers 202 with the job at once.
pub async fn predict(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let model = state.models.get(&id).await?;
    let key = state
        .keys
        .info(user.user_id, &model.spec.encryption.parameter_set)
        .await?
        .ok_or_else(|| ApiError::Conflict("upload your server key first".into()))?;
    // A prediction keeps the key from being deleted as unused.
    state
        .keys
        .touch(user.user_id, &model.spec.encryption.parameter_set)
        .await?;
    let ciphertexts = model.plan.input.ciphertexts();
    let limit = EncryptedRow::size_limit(ciphertexts).min(state.settings.max_row_bytes);
    // Refused before the row crosses the network if the user has too many pending.
    state.jobs.check_pending(user.user_id).await?;
    let _slot = state.row_uploads.take(user.user_id)?;
    let row = read_limited(&headers, body, limit, state.settings.upload_timeout(), "encrypted row").await?;
    let job = state
        .jobs
        .submit(user.user_id, &id, &key.fingerprint, ciphertexts, row)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}
