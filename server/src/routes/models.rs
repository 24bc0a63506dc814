//! The model catalogue and encrypted predictions.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use blindfold_api::{ModelSummary, PredictionBinding, is_sha256_hex};
use blindfold_model::EncryptedRow;

use crate::routes::auth::CurrentUser;
use crate::routes::body::read_limited;
use crate::routes::error::{ApiError, ApiResult};
use crate::routes::model_path::ModelPath;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ModelSummary>>> {
    Ok(Json(state.models.list().await?))
}

/// The client spec: all a client needs to encrypt for this model and read its answers.
pub async fn spec(State(state): State<AppState>, ModelPath(id): ModelPath) -> ApiResult<impl IntoResponse> {
    let model = state.models.get(&id).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], model.spec_json.clone()))
}

/// Queues an encrypted row for evaluation; answers 202 with the job at once. The row must be
/// encrypted for the user's stored key and against the model's current spec, as its query
/// says (`blindfold_model::binding`): both are checked before the row is read.
pub async fn predict(
    State(state): State<AppState>,
    user: CurrentUser,
    ModelPath(id): ModelPath,
    binding: Result<Query<PredictionBinding>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let Query(binding) = binding.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !is_sha256_hex(&binding.key_fingerprint) || !is_sha256_hex(&binding.spec_sha256) {
        return Err(ApiError::BadRequest(
            "key_fingerprint and spec_sha256 are SHA-256 digests: 64 lower-case hex digits".into(),
        ));
    }
    let model = state.models.get(&id).await?;
    let key = state
        .keys
        .info(user.user_id, model.spec.encryption.parameter_set())
        .await?
        .ok_or_else(|| ApiError::Conflict("upload your server key first".into()))?;
    if key.fingerprint != binding.key_fingerprint {
        return Err(ApiError::KeyMismatch(format!(
            "the row was encrypted for server key {}…, but the server holds key {}… for you \
             (replaced from another device or tab?): encrypt it again with the key the server holds",
            &binding.key_fingerprint[..12],
            &key.fingerprint[..12.min(key.fingerprint.len())]
        )));
    }
    if model.spec_sha256 != binding.spec_sha256 {
        return Err(ApiError::SpecMismatch(format!(
            "the row was encrypted against another version of `{id}` than the one served now \
             (it was changed since): fetch its spec and encrypt the row again"
        )));
    }
    // A prediction keeps the key from being deleted as unused.
    state
        .keys
        .touch(user.user_id, model.spec.encryption.parameter_set())
        .await?;
    let shape = model.plan.row_shape();
    let limit = EncryptedRow::size_limit(shape.ciphertexts).min(state.settings.max_row_bytes);
    // Refused before the row crosses the network if the user has too many pending.
    state.jobs.check_pending(user.user_id).await?;
    let _slot = state.row_uploads.take(user.user_id)?;
    let row = read_limited(&headers, body, limit, state.settings.upload_timeout(), "encrypted row").await?;
    let job = state
        .jobs
        .submit(user.user_id, &id, &key.fingerprint, &model.spec_sha256, shape, row)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}
