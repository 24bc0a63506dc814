//! A user's prediction jobs and their encrypted results.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use blindfold_api::JobInfo;
use serde::Deserialize;

use crate::routes::auth::CurrentUser;
use crate::routes::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Longest a client may ask to wait for a job.
const MAX_WAIT_S: f64 = 30.0;

pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Vec<JobInfo>>> {
    Ok(Json(state.jobs.list(user.user_id).await?))
}

#[derive(Deserialize)]
pub struct WaitQuery {
    /// Seconds to wait for the job to finish before answering (at most 30); 0 answers at once.
    #[serde(default)]
    wait: f64,
}

/// The job; with `?wait=S`, answered as soon as it finishes or after S seconds (long polling).
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> ApiResult<Json<JobInfo>> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !(0.0..=MAX_WAIT_S).contains(&query.wait) {
        return Err(ApiError::BadRequest(format!(
            "wait must be between 0 and {MAX_WAIT_S} seconds"
        )));
    }
    let patience = Duration::from_secs_f64(query.wait);
    Ok(Json(state.jobs.wait(user.user_id, &id, patience).await?))
}

/// The encrypted result, once the job is done (409 before).
pub async fn result(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let bytes = state.jobs.result(user.user_id, &id).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}

/// Deletes a finished or queued prediction and its result (409 while it runs).
pub async fn delete(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.jobs.delete(user.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clears the user's history: every prediction that is not running, queued ones included.
pub async fn clear(State(state): State<AppState>, user: CurrentUser) -> ApiResult<StatusCode> {
    let deleted = state.jobs.clear(user.user_id).await?;
    tracing::info!(user_id = user.user_id, deleted, "history cleared");
    Ok(StatusCode::NO_CONTENT)
}
