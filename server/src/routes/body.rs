//! Request bodies read within limits.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;

use crate::routes::error::{ApiError, ApiResult};

/// Reads a binary body of at most `limit` bytes, refusing early (413) from `Content-Length`
/// or as soon as the stream passes the limit, so an oversized upload is never buffered.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: u64, what: &'static str) -> ApiResult<Vec<u8>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { what, limit });
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(ApiError::TooLarge { what, limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(format!("the {what} is empty")));
    }
    Ok(bytes)
}
