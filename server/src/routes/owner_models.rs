//! Model owners' routes: upload a model (multipart/form-data) to compile, follow it, change its
//! details, publish it, take it out of the catalogue, delete it. Only owners get past
//! [`CurrentOwner`]; another owner's model is "not found".
//!
//! The upload is read within limits before anything else is done with it: a slot of
//! `--max-model-uploads` and a place in the compilation queue first (503 without), the owner's
//! quota (409), then each part bounded while it streams (413 naming it), the whole body bounded
//! by the sum of the parts' limits, and all of it within `--upload-timeout-s` (408).

use axum::Json;
use axum::Router;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use blindfold_api::{ModelDetails, ModelUpload, OwnedModel, paths};

use crate::routes::auth::CurrentOwner;
use crate::routes::body::{declared_length, json_body};
use crate::routes::error::{ApiError, ApiResult};
use crate::routes::model_path::ModelPath;
use crate::services::owned_models::UploadFiles;
use crate::settings::Settings;
use crate::state::AppState;

/// Largest `metadata` part, and largest `PATCH` body: a name, a description and a few hundred
/// bytes per input.
pub const DETAILS_LIMIT: u64 = 1 << 20;

/// Room for the multipart framing (boundaries, part headers) around the parts.
const FRAMING_LIMIT: u64 = 64 * 1024;

/// The parts of an upload.
const PARTS: &str = "metadata, model, calibration and test";

/// The owner routes, with their body limits.
pub fn routes(settings: &Settings) -> Router<AppState> {
    Router::new()
        .route(
            paths::OWNER_MODELS,
            get(list)
                .post(upload)
                .layer(DefaultBodyLimit::max(upload_limit(settings))),
        )
        .route(
            paths::OWNER_MODEL,
            get(one)
                .patch(update)
                .delete(delete)
                .layer(DefaultBodyLimit::max(DETAILS_LIMIT as usize)),
        )
        .route(
            paths::OWNER_MODEL_PUBLICATION,
            axum::routing::put(publish).delete(unpublish),
        )
}

/// The largest upload: every part at its limit, and the framing.
fn upload_limit(settings: &Settings) -> usize {
    let total = DETAILS_LIMIT
        .saturating_add(settings.max_model_bytes)
        .saturating_add(settings.max_csv_bytes.saturating_mul(2))
        .saturating_add(FRAMING_LIMIT);
    usize::try_from(total).unwrap_or(usize::MAX)
}

pub async fn list(State(state): State<AppState>, owner: CurrentOwner) -> ApiResult<Json<Vec<OwnedModel>>> {
    Ok(Json(state.owned_models.list(owner.user_id).await?))
}

pub async fn one(
    State(state): State<AppState>,
    owner: CurrentOwner,
    ModelPath(id): ModelPath,
) -> ApiResult<Json<OwnedModel>> {
    Ok(Json(state.owned_models.get(owner.user_id, &id).await?))
}

/// Uploads a model: answers 202 with the model, compiling, once its files are checked.
pub async fn upload(
    State(state): State<AppState>,
    owner: CurrentOwner,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<impl IntoResponse> {
    let mut multipart = multipart.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    // Refused before the files cross the network: no slot, no place to compile, no quota.
    let _slot = state.model_uploads.take(owner.user_id)?;
    let ticket = state.owned_models.ticket()?;
    state.owned_models.check_quota(owner.user_id).await?;
    let limit = upload_limit(&state.settings) as u64;
    if declared_length(&headers).is_some_and(|length| length > limit) {
        return Err(ApiError::TooLarge {
            what: "the upload",
            limit,
        });
    }
    let parts = tokio::time::timeout(
        state.settings.upload_timeout(),
        read_parts(&mut multipart, &state.settings, limit),
    )
    .await
    .map_err(|_| ApiError::Timeout("the upload"))??;
    let model = state
        .owned_models
        .upload(owner.user_id, parts.metadata, parts.files, ticket)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(model)))
}

/// An upload's parts, read.
struct Parts {
    metadata: ModelUpload,
    files: UploadFiles,
}

/// Reads every part within its limit.
async fn read_parts(multipart: &mut Multipart, settings: &Settings, total: u64) -> ApiResult<Parts> {
    let (mut metadata, mut model, mut calibration, mut test) = (None, None, None, None);
    while let Some(field) = multipart.next_field().await.map_err(|e| multipart_error(e, total))? {
        let name = field.name().unwrap_or_default().to_owned();
        let (slot, what, limit) = match name.as_str() {
            "metadata" => (&mut metadata, "the metadata part", DETAILS_LIMIT),
            "model" => (&mut model, "the model part", settings.max_model_bytes),
            "calibration" => (&mut calibration, "the calibration part", settings.max_csv_bytes),
            "test" => (&mut test, "the test part", settings.max_csv_bytes),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown part {}: the parts are {PARTS}",
                    shown(other)
                )));
            }
        };
        if slot.is_some() {
            return Err(ApiError::BadRequest(format!("the part `{name}` is sent twice")));
        }
        *slot = Some(read_field(field, what, limit, total).await?);
    }
    let missing = |part: &str| ApiError::BadRequest(format!("missing part `{part}`: the parts are {PARTS}"));
    let metadata = metadata.ok_or_else(|| missing("metadata"))?;
    let metadata: ModelUpload = serde_json::from_slice(&metadata)
        .map_err(|e| ApiError::BadRequest(format!("the metadata part is not a model's metadata: {e}")))?;
    let model = model.ok_or_else(|| missing("model"))?;
    let calibration = text(calibration.ok_or_else(|| missing("calibration"))?, "calibration")?;
    let test = test.map(|bytes| text(bytes, "test")).transpose()?;
    Ok(Parts {
        metadata,
        files: UploadFiles {
            model,
            calibration,
            test,
        },
    })
}

/// One part, refused (413) as soon as it passes `limit` bytes.
async fn read_field(mut field: Field<'_>, what: &'static str, limit: u64, total: u64) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, total))? {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(ApiError::TooLarge { what, limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A CSV part as text.
fn text(bytes: Vec<u8>, part: &str) -> ApiResult<String> {
    String::from_utf8(bytes).map_err(|e| {
        ApiError::UnusableFile(format!(
            "the {part} CSV is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn multipart_error(error: MultipartError, total: u64) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge {
            what: "the upload",
            limit: total,
        }
    } else if let Some(slow) = crate::edge::pace::too_slow(&error) {
        ApiError::TooSlow(slow.to_string())
    } else {
        ApiError::BadRequest(format!("reading the upload: {}", error.body_text()))
    }
}

/// A client's part name in an answer: quoted, shortened.
fn shown(name: &str) -> String {
    const MAX: usize = 40;
    let mut shown: String = name.chars().take(MAX).collect();
    if name.chars().count() > MAX {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// Changes the details users see.
pub async fn update(
    State(state): State<AppState>,
    owner: CurrentOwner,
    ModelPath(id): ModelPath,
    body: Result<Json<ModelDetails>, JsonRejection>,
) -> ApiResult<Json<OwnedModel>> {
    let details = json_body(body, DETAILS_LIMIT)?;
    Ok(Json(
        state.owned_models.update_details(owner.user_id, &id, details).await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    owner: CurrentOwner,
    ModelPath(id): ModelPath,
) -> ApiResult<StatusCode> {
    state.owned_models.delete(owner.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn publish(
    State(state): State<AppState>,
    owner: CurrentOwner,
    ModelPath(id): ModelPath,
) -> ApiResult<Json<OwnedModel>> {
    Ok(Json(state.owned_models.publish(owner.user_id, &id).await?))
}

pub async fn unpublish(
    State(state): State<AppState>,
    owner: CurrentOwner,
    ModelPath(id): ModelPath,
) -> ApiResult<Json<OwnedModel>> {
    Ok(Json(state.owned_models.unpublish(owner.user_id, &id).await?))
}
