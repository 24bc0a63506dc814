//! Prometheus metrics: their names, and the one recorder that collects them.
//!
//! Code records through the `metrics` facade (`metrics::counter!(telemetry::BOOTSTRAPS)`); until
//! a recorder is installed those calls do nothing, so a server without `--metrics-addr` pays
//! nothing for them. The recorder is process-global and can be installed only once, so every
//! server of the process (tests start many) shares it: [`recorder`] installs it on first use
//! and hands out the same handle after.

use std::sync::OnceLock;

use anyhow::Context;
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Gauge: jobs by `status` (`queued`, `running`, `done`, `failed`), read from the database at
/// each scrape.
pub const JOBS: &str = "blindfold_jobs";
/// Histogram: seconds of FHE evaluation per job (the evaluation alone, not the key's loading).
pub const EVALUATION_SECONDS: &str = "blindfold_evaluation_seconds";
/// Counter: programmable bootstraps performed by finished evaluations.
pub const BOOTSTRAPS: &str = "blindfold_bootstraps_total";
/// Counter: server keys found decompressed in memory.
pub const KEY_CACHE_HITS: &str = "blindfold_key_cache_hits_total";
/// Counter: server keys read and decompressed because they were not in memory.
pub const KEY_CACHE_MISSES: &str = "blindfold_key_cache_misses_total";
/// Gauge: bytes of decompressed server keys held in memory.
pub const KEY_CACHE_BYTES: &str = "blindfold_key_cache_bytes";
/// Counter: HTTP requests answered, by `route` (the route's template), `method` and `status`.
pub const HTTP_REQUESTS: &str = "blindfold_http_requests_total";
/// Histogram: seconds from a request's arrival to its answer's head, by `route` and `method`.
pub const HTTP_REQUEST_DURATION: &str = "blindfold_http_request_duration_seconds";
/// Gauge: open HTTP connections.
pub const HTTP_CONNECTIONS: &str = "blindfold_http_connections";
/// Counter: connections closed at once, by `reason` (`per_address`: its address held its share).
pub const HTTP_CONNECTIONS_REFUSED: &str = "blindfold_http_connections_refused_total";
/// Counter: failed accepts other than a client's reset (`EMFILE` and the like), each followed by
/// a pause.
pub const HTTP_ACCEPT_ERRORS: &str = "blindfold_http_accept_errors_total";

/// An evaluation takes about a second per few hundred bootstraps; a long one minutes.
const EVALUATION_BUCKETS: [f64; 12] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0];
/// Most requests take milliseconds; key uploads seconds, long polls up to 30 s.
const HTTP_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first call. Fails when another recorder was
/// installed first (by a program that embeds the server, say).
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    RECORDER
        .get_or_init(|| install().map_err(|error| format!("{error:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
        .context("installing the metrics recorder")
}

fn install() -> anyhow::Result<PrometheusHandle> {
    // Explicit buckets make these true Prometheus histograms, which can be aggregated across
    // servers (the default would be summaries, which cannot).
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(EVALUATION_SECONDS.into()), &EVALUATION_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.into()), &HTTP_BUCKETS)?
        .install_recorder()?;
    metrics::describe_gauge!(JOBS, "Prediction jobs by status.");
    metrics::describe_histogram!(EVALUATION_SECONDS, Unit::Seconds, "FHE evaluation time per job.");
    metrics::describe_counter!(BOOTSTRAPS, "Programmable bootstraps performed by evaluations.");
    metrics::describe_counter!(KEY_CACHE_HITS, "Server keys found decompressed in memory.");
    metrics::describe_counter!(KEY_CACHE_MISSES, "Server keys read from disk and decompressed.");
    metrics::describe_gauge!(KEY_CACHE_BYTES, Unit::Bytes, "Decompressed server keys held in memory.");
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by route template, method and status.");
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "HTTP request latency by route template and method."
    );
    metrics::describe_gauge!(HTTP_CONNECTIONS, "Open HTTP connections.");
    metrics::describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        "HTTP connections closed at once, by reason (per_address: the address held its share)."
    );
    metrics::describe_counter!(
        HTTP_ACCEPT_ERRORS,
        "Failed accepts (EMFILE and the like), each followed by a pause."
    );
    Ok(handle)
}
