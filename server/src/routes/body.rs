//! Request bodies read within limits.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;

use crate::edge::pace::too_slow;
use crate::routes::error::{ApiError, ApiResult};

/// The body's declared length, if the client sent a valid `Content-Length`.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads a binary body of at most `limit` bytes within `timeout`, refusing early (413) from
/// `Content-Length` or as soon as the stream passes the limit, so an oversized upload is never
/// buffered, and giving up (408) on one that trickles in too slowly to tie up its slot.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    timeout: Duration,
    what: &'static str,
) -> ApiResult<Vec<u8>> {
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { what, limit });
    }
    let read = async {
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| body_error(&error, "reading the body"))?;
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(ApiError::TooLarge { what, limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    let bytes = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::Timeout(what))??;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(format!("the {what} is empty")));
    }
    Ok(bytes)
}

/// A JSON body, or the error its rejection means: 413 past `limit` (the route's
/// `DefaultBodyLimit`), else 400 with what was wrong.
pub fn json_body<T>(body: Result<Json<T>, JsonRejection>, limit: u64) -> ApiResult<T> {
    body.map(|Json(v)| v).map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge {
                what: "the request body",
                limit,
            }
        } else if let Some(slow) = too_slow(&rejection) {
            ApiError::TooSlow(slow.to_string())
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })
}

/// A failed body read: 408 when the body fell behind its pace (`edge::pace`), else 400.
pub fn body_error(error: &(dyn std::error::Error + 'static), doing: &str) -> ApiError {
    match too_slow(error) {
        Some(slow) => ApiError::TooSlow(slow.to_string()),
        None => ApiError::BadRequest(format!("{doing}: {error}")),
    }
}
