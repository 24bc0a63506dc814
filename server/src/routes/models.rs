//! The model catalogue and encrypted predictions.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use blindfold_model::EncryptedRow;

use crate::accounts::session::CurrentUser;
use crate::catalogue::ModelSummary;
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobInfo;
use crate::routes::read_limited;
use crate::startup::AppState;

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
        .info(user.user_id, &id)
        .await?
        .ok_or_else(|| ApiError::Conflict("upload a server key for this model first".into()))?;
    let count = model.plan.input.ciphertexts();
    let limit = EncryptedRow::size_limit(count).min(state.settings.max_row_bytes);
    let bytes = read_limited(&headers, body, limit, "encrypted row").await?;
    // Refuse a malformed row now, not in the worker: the client learns at once.
    let bytes = tokio::task::spawn_blocking(move || EncryptedRow::from_bytes(&bytes, count).map(|_| bytes)).await??;
    let job: JobInfo = state.jobs.submit(user.user_id, &id, &key.fingerprint, &bytes).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}
