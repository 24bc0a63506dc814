//! Operations: the readiness probe, the HTTP metrics every request records, and the `/metrics`
//! scrape, served on its own listener (`--metrics-addr`) so it is never exposed where the site
//! is.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use blindfold_api::JobStatus;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::routes::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// `GET /readyz`: `ready` when the database answers and every migration is applied; 503
/// `not_ready` otherwise, so a load balancer sends no traffic to a server that cannot serve it.
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.db.check_ready().await.map_err(|error| {
        tracing::warn!(error = format!("{error:#}"), "not ready");
        // The outermost message only: the causes may name files of the server.
        ApiError::NotReady(error.to_string())
    })?;
    Ok("ready")
}

/// The methods a route label may carry; any other (clients may invent methods) is `other`, so
/// that no client can grow the number of series.
static METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::CONNECT,
    Method::TRACE,
];

/// Middleware: counts each request and times it, labelled by the route's template (never the
/// raw path, whose ids would make a series per job), or `unmatched` for requests no route
/// matched (static files, 404s).
pub async fn track(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let route = matched.map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = METHODS
        .iter()
        .find(|known| *known == request.method())
        .map_or("other", Method::as_str);
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(telemetry::HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(telemetry::HTTP_REQUEST_DURATION, "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

#[derive(Clone)]
struct Scrape {
    state: AppState,
    handle: PrometheusHandle,
}

/// The metrics listener's router: `GET /metrics` in Prometheus text format.
/// The metrics listener: `/metrics`, and the health checks again, for a worker process (it
/// has no other listener) and for probes that should not share the site's port.
pub fn metrics_router(state: AppState, handle: PrometheusHandle) -> Router {
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state.clone());
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Scrape { state, handle })
        .merge(probes)
}

async fn metrics(State(scrape): State<Scrape>) -> Response {
    // Gauges of state are read now, so a scrape sees the queue as it is (one small query).
    match scrape.state.jobs.count_by_status().await {
        Ok(counts) => {
            for status in [
                JobStatus::Queued,
                JobStatus::Running,
                JobStatus::Done,
                JobStatus::Failed,
            ] {
                let count = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
                metrics::gauge!(telemetry::JOBS, "status" => status.as_str()).set(count as f64);
            }
        }
        // The rest of the scrape is still worth having.
        Err(error) => tracing::warn!(error = format!("{error:#}"), "counting jobs for /metrics"),
    }
    let keys = scrape.state.keys.clone();
    if let Ok(bytes) = tokio::task::spawn_blocking(move || keys.cached_bytes()).await {
        metrics::gauge!(telemetry::KEY_CACHE_BYTES).set(bytes as f64);
    }
    let body = scrape.handle.render();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
