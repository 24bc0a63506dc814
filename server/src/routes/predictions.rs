//! A user's prediction jobs and their encrypted results.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;

use crate::accounts::session::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobInfo;
use crate::startup::AppState;

pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Vec<JobInfo>>> {
    Ok(Json(state.jobs.list(user.user_id).await?))
}

pub async fn get(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> ApiResult<Json<JobInfo>> {
    Ok(Json(state.jobs.get(user.user_id, &id).await?))
}

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
