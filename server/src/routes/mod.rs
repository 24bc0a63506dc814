//! HTTP: the router, thin handlers that call services, the session extractor, the one mapping
//! from service errors to HTTP answers, and the headers every response carries.

pub mod accounts;
pub mod auth;
pub mod error;
pub mod keys;
pub mod models;
pub mod pages;
pub mod predictions;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::routing::{any, get, post};
use axum::{Json, Router, middleware};
use blindfold_api::paths;
use blindfold_app::{App, shell};
use futures_util::StreamExt;
use leptos_axum::{LeptosRoutes, file_and_error_handler, generate_route_list};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::routes::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The whole site: the JSON API under `/api/`, the server-rendered pages, and the built site's
/// static files.
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(api())
        .leptos_routes(&state, generate_route_list(App), {
            let options = state.leptos.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), pages::resolve_session));
    let router = security_headers().into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(name, value))
    });
    router.layer(TraceLayer::new_for_http()).with_state(state)
}

/// Every API route; each is described in `blindfold_api::openapi` (a test checks both agree).
fn api() -> Router<AppState> {
    Router::new()
        .route(paths::REGISTER, post(accounts::register))
        .route(paths::LOGIN, post(accounts::login))
        .route(paths::LOGOUT, post(accounts::logout))
        .route(paths::SESSION, get(accounts::current))
        .route(paths::MODELS, get(models::list))
        .route(paths::MODEL_SPEC, get(models::spec))
        .route(paths::MODEL_KEY, get(keys::get).put(keys::put).delete(keys::delete))
        .route(paths::MODEL_PREDICTIONS, post(models::predict))
        .route(paths::PREDICTIONS, get(predictions::list))
        .route(paths::PREDICTION, get(predictions::get))
        .route(paths::PREDICTION_RESULT, get(predictions::result))
        .route(
            paths::OPENAPI,
            get(|| async { Json(blindfold_api::openapi::document()) }),
        )
        .route("/api/{*rest}", any(|| async { ApiError::NotFound("route") }))
}

/// Headers on every response: the Content-Security-Policy without a nonce (pages replace it
/// with their own), cross-origin isolation (COOP + COEP, so wasm threads can use
/// SharedArrayBuffer) with CORP, and no MIME sniffing or referrers.
fn security_headers() -> [(HeaderName, HeaderValue); 6] {
    let policy = blindfold_app::security::policy(None);
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy).expect("the policy is a valid header value"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-embedder-policy"),
            HeaderValue::from_static("require-corp"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}

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
