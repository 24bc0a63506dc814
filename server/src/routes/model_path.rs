//! A model id in the request path, parsed once: an id that cannot be one names no model (404,
//! as an unknown one does), so the services only ever see [`ModelId`]s.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use blindfold_api::ModelId;

use crate::routes::error::ApiError;

/// The `{id}` of a model route.
pub struct ModelPath(pub ModelId);

impl<S: Send + Sync> FromRequestParts<S> for ModelPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("model"))?;
        ModelId::parse(&id).map(Self).ok_or(ApiError::NotFound("model"))
    }
}
