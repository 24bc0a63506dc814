//! HTTP errors: one enum, one status per variant, always a JSON [`ErrorBody`]. Service errors
//! become HTTP errors here and nowhere else.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blindfold_api::ErrorBody;
use blindfold_model::ModelError;

use crate::services::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 400: form fields failed validation; each field lists the rules it broke.
    #[error("invalid fields")]
    Validation(BTreeMap<&'static str, Vec<String>>),
    /// 401: not logged in, or wrong credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 401: a logged-in user's password, asked again before a change, is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// 403: missing or wrong CSRF token.
    #[error("missing or invalid CSRF token")]
    Csrf,
    /// 403: logged in, but the account may not do this (its role).
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: no such thing, or not yours.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: the request conflicts with the current state (no key yet, result not ready).
    #[error("{0}")]
    Conflict(String),
    /// 409: a row encrypted for another server key than the user's stored one.
    #[error("{0}")]
    KeyMismatch(String),
    /// 409: a row encrypted against another version of the model's spec.
    #[error("{0}")]
    SpecMismatch(String),
    /// 413: the body is over its limit.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    /// 422: decodes, but built for other parameters or another model.
    #[error("{0}")]
    Unprocessable(String),
    /// 422: an uploaded file (a model, a CSV) arrived whole but cannot be used.
    #[error("{0}")]
    UnusableFile(String),
    /// 429: too many failed logins for this username.
    #[error("too many failed logins; retry in {retry_after_s} s")]
    TooManyAttempts { retry_after_s: u64 },
    /// 408: the body did not arrive in time.
    #[error("{0} did not arrive in time")]
    Timeout(&'static str),
    /// 408: the body fell behind the minimum rate (`edge::pace`).
    #[error("{0}")]
    TooSlow(String),
    /// 409: a storage quota would be exceeded.
    #[error("{0}")]
    QuotaExceeded(String),
    /// 429: too many requests of one kind (registrations, pending predictions, long polls).
    #[error("{detail}")]
    RateLimited { detail: String, retry_after_s: u64 },
    /// 507: the deployment's storage for this kind of data is full.
    #[error("{0}")]
    StorageFull(String),
    /// 503: the server is at its bound for this kind of work; retry later.
    #[error("{detail}")]
    Busy { detail: String, retry_after_s: u64 },
    /// 503: the database is unreachable or not migrated (`/readyz`).
    #[error("{0}")]
    NotReady(String),
    /// 500: logged with its cause, never shown to the client.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::WrongPassword => StatusCode::UNAUTHORIZED,
            Self::Csrf | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::KeyMismatch(_) | Self::SpecMismatch(_) => StatusCode::CONFLICT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) | Self::UnusableFile(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyAttempts { .. } | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout(_) | Self::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            Self::QuotaExceeded(_) => StatusCode::CONFLICT,
            Self::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Busy { .. } | Self::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on (`ErrorBody::error`).
    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Validation(_) => "validation",
            Self::Unauthorized(_) => "unauthorized",
            Self::WrongPassword => "wrong_password",
            Self::Csrf => "csrf",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::KeyMismatch(_) => blindfold_api::KEY_MISMATCH,
            Self::SpecMismatch(_) => blindfold_api::SPEC_MISMATCH,
            Self::TooLarge { .. } => "too_large",
            Self::Unprocessable(_) => "wrong_parameters",
            Self::UnusableFile(_) => "unusable_file",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::Timeout(_) | Self::TooSlow(_) => "timeout",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::StorageFull(_) => "storage_full",
            Self::RateLimited { .. } => "rate_limited",
            Self::Busy { .. } => "busy",
            Self::NotReady(_) => "not_ready",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let fields = match &self {
            Self::Validation(fields) => fields
                .iter()
                .map(|(field, problems)| ((*field).to_owned(), problems.clone()))
                .collect(),
            _ => BTreeMap::new(),
        };
        let body = ErrorBody {
            error: self.code().to_owned(),
            detail: self.to_string(),
            fields,
        };
        let mut response = (self.status(), Json(body)).into_response();
        // The rest of the body is not read: the connection cannot carry another request.
        if let Self::Timeout(_) | Self::TooSlow(_) = self {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Self::TooManyAttempts { retry_after_s }
        | Self::RateLimited { retry_after_s, .. }
        | Self::Busy { retry_after_s, .. } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s.max(1)));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound(what) => Self::NotFound(what),
            ServiceError::Conflict(why) => Self::Conflict(why),
            ServiceError::Validation(fields) => Self::Validation(fields),
            ServiceError::InvalidCredentials => Self::Unauthorized("invalid username or password"),
            ServiceError::WrongPassword => Self::WrongPassword,
            ServiceError::Throttled { retry_after_s } => Self::TooManyAttempts { retry_after_s },
            ServiceError::RateLimited { detail, retry_after_s } => Self::RateLimited { detail, retry_after_s },
            error @ ServiceError::Busy { retry_after_s, .. } => Self::Busy {
                detail: error.to_string(),
                retry_after_s,
            },
            ServiceError::QuotaExceeded(why) => Self::QuotaExceeded(why),
            ServiceError::StorageFull(why) => {
                tracing::error!(%why, "storage full");
                Self::StorageFull(why)
            }
            ServiceError::Rejected(error) => Self::from_rejected(error),
            ServiceError::Unusable(why) => Self::UnusableFile(why),
            ServiceError::Unstorable(why) => Self::BadRequest(why.to_owned()),
            ServiceError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl ApiError {
    /// The model crate's verdict on data a client sent.
    fn from_rejected(error: ModelError) -> Self {
        match error {
            ModelError::TooLarge { what, limit, .. } => Self::TooLarge { what, limit },
            ModelError::WrongParameters { .. } => Self::Unprocessable(error.to_string()),
            ModelError::Malformed { .. } | ModelError::InvalidInput(_) | ModelError::InvalidData(_) => {
                Self::BadRequest(error.to_string())
            }
            other => Self::Internal(other.into()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
