//! HTTP: the router, thin handlers that call services, the session extractor, the one mapping
//! from service errors to HTTP answers, and the headers every response carries.

pub mod accounts;
pub mod assets;
pub mod auth;
pub mod body;
pub mod client_addr;
pub mod error;
pub mod keys;
pub mod model_path;
pub mod models;
pub mod ops;
pub mod owner_models;
pub mod pages;
pub mod predictions;

use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{any, get, post};
use axum::{Json, Router, middleware};
use blindfold_api::paths;
use blindfold_app::{App, shell};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::routes::error::ApiError;
use crate::settings::Settings;
use crate::state::AppState;

/// The whole site: the JSON API under `/api/`, the server-rendered pages, and the built site's
/// static files (`assets.rs`; also the 404 page of any other path).
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        // Probes: alive (the process answers), and ready (its database too).
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ops::readyz))
        .merge(api(&state.settings))
        .leptos_routes(&state, generate_route_list(App), {
            let options = state.leptos.clone();
            let page = state.assets.page_assets();
            move || shell(options.clone(), page.clone())
        })
        .fallback(assets::serve)
        .layer(middleware::from_fn_with_state(state.clone(), pages::resolve_session));
    let router = security_headers().into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(name, value))
    });
    // Served over HTTPS: browsers are to use nothing else for a year.
    let router = if state.settings.secure_cookies {
        router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        router
    };
    // Added last so it wraps every route and layer above: it times the whole answer, and each
    // route's matched template is already known to it.
    router
        .layer(middleware::from_fn(ops::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Every API route; each is described in `blindfold_api::openapi` (a test checks both agree).
fn api(settings: &Settings) -> Router<AppState> {
    Router::new()
        .merge(accounts::routes())
        .merge(owner_models::routes(settings))
        .route(paths::MODELS, get(models::list).layer(public_compression()))
        .route(paths::MODEL_SPEC, get(models::spec).layer(public_compression()))
        .route(paths::KEY, get(keys::get).put(keys::put).delete(keys::delete))
        .route(paths::MODEL_PREDICTIONS, post(models::predict))
        .route(paths::PREDICTIONS, get(predictions::list).delete(predictions::clear))
        .route(paths::PREDICTION, get(predictions::get).delete(predictions::delete))
        .route(paths::PREDICTION_RESULT, get(predictions::result))
        .route(
            paths::OPENAPI,
            get(|| async { Json(blindfold_api::openapi::document()) }),
        )
        .route(paths::API_FALLBACK, any(|| async { ApiError::NotFound("route") }))
        // API answers are about one user (sessions, keys, predictions, an owner's models) or
        // cheap to make again: none is kept by a cache unless its handler says otherwise.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// Compression (brotli or gzip, as the client accepts) for answers that are the same for every
/// user: the model list and the client specs (the default model's spec is ~34 KB of JSON,
/// ~5 KB compressed), which every Predict page loads. Nothing else is compressed on the fly,
/// on purpose: a compressed answer's length reveals how much of it repeats, so one that holds
/// a secret (a page's CSRF token, a session, a key) next to text an attacker can influence (a
/// username, a model's description, a path) would let the attacker guess the secret byte by
/// byte from the lengths (BREACH). Pages, account and prediction answers stay uncompressed;
/// static files are compressed ahead of time (`scripts/seal-assets.sh`) and hold no secret.
fn public_compression() -> CompressionLayer {
    CompressionLayer::new()
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
