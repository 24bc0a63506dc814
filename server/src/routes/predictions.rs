//! A user's prediction jobs and their encrypted results.

use axum::Json;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::accounts::session::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobInfo;
use crate::startup::AppState;

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

const MAX_WAIT_S: f64 = 30.0;

/// The encrypted result, once the job is done (409 before).
pub async fn result(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let job = state.jobs.get(user.user_id, &id).await?;
    match job.status.as_str() {
        "done" => {}
        "failed" => {
            return Err(ApiError::Conflict(format!(
                "the prediction failed: {}",
                job.error.unwrap_or_default()
            )));
        }
        status => return Err(ApiError::Conflict(format!("the prediction is {status}"))),
    }
    let bytes = tokio::fs::read(state.jobs.output_path(&job.id))
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::from(e).context("reading a result")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}
