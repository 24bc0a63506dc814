//! Building the application from settings and running it until shutdown.

use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::edge::{self, ConnectionLimits};
use crate::services::worker::spawn_workers;
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::db::Backend;
use crate::telemetry;

/// How often the metrics recorder drains its histograms' samples into their buckets, so
/// that they take no more memory when nobody scrapes.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Connections the metrics listener serves at once.
const METRICS_CONNECTIONS: usize = 16;

/// A server bound to its port (or a worker process, which serves no HTTP but metrics), ready
/// to run.
pub struct Application {
    port: u16,
    /// None for `blindfold-server worker`.
    listener: Option<TcpListener>,
    limits: ConnectionLimits,
    metrics: Option<MetricsListener>,
    state: AppState,
}

/// The `/metrics` listener, with `--metrics-addr`.
struct MetricsListener {
    port: u16,
    listener: TcpListener,
    handle: PrometheusHandle,
}

impl Application {
    /// `blindfold-server serve`: the site and the API, and `--workers` job workers.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        if settings.workers == 0 && Backend::of_url(&settings.database_url())? == Backend::Sqlite {
            tracing::warn!("--workers 0 with SQLite: no process can evaluate the predictions queued here");
        }
        Self::build_with(settings, Some(listener)).await
    }

    /// `blindfold-server worker`: job workers only, sharing a PostgreSQL database with the web
    /// nodes. SQLite is refused: its one process serves and evaluates.
    pub async fn build_worker(settings: Settings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            Backend::of_url(&settings.database_url())? == Backend::Postgres,
            "a separate worker needs a shared PostgreSQL database (--database-url postgres://…); \
             with SQLite, `blindfold-server serve --workers N` evaluates the predictions itself"
        );
        anyhow::ensure!(settings.workers > 0, "a worker process needs --workers of at least 1");
        Self::build_with(settings, None).await
    }

    async fn build_with(settings: Settings, listener: Option<TcpListener>) -> anyhow::Result<Self> {
        let port = match &listener {
            Some(listener) => listener.local_addr()?.port(),
            None => 0,
        };
        let metrics = match settings.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr} for metrics"))?;
                Some(MetricsListener {
                    port: listener.local_addr()?.port(),
                    listener,
                    handle: telemetry::recorder()?,
                })
            }
            None => None,
        };
        let limits = ConnectionLimits::new(&settings, edge::open_file_limit());
        let state = AppState::open(settings).await?;
        // A worker serves no pages; the API works without the built site.
        if listener.is_some() {
            state.assets.check(&state.settings.site_root);
        }
        Ok(Self {
            port,
            listener,
            limits,
            metrics,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, with `--metrics-addr`.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|metrics| metrics.port)
    }

    /// Serves with the configured number of job workers until `shutdown` completes; then
    /// stops taking requests, lets the open ones finish, stops the compilations (failing their
    /// models) and the workers (each finishes the job in hand), then the metrics listener, and
    /// closes the database. A worker process serves no HTTP: it runs its workers until
    /// `shutdown`.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let stop_workers = CancellationToken::new();
        let mut workers = spawn_workers(
            self.state.evaluator(),
            self.state.settings.workers,
            stop_workers.clone(),
        );
        workers.spawn(self.state.jobs.clone().maintain(stop_workers.clone()));
        // Compilations whose process died (PostgreSQL; SQLite's start-up recovery has them).
        workers.spawn(self.state.owned_models.clone().maintain(stop_workers.clone()));
        // Ended sessions and stale throttle rows.
        workers.spawn(self.state.accounts.clone().maintain(stop_workers.clone()));
        // Other processes' wake-ups (PostgreSQL): queued jobs for the workers, finished ones
        // for the long polls; until the workers stop, after the last request.
        workers.spawn(
            self.state
                .jobs
                .clone()
                .listen(self.state.settings.database_url(), stop_workers.clone()),
        );
        // Metrics stay up until the workers have stopped, so the drain can be watched.
        let stop_metrics = CancellationToken::new();
        let metrics_port = self.metrics_port();
        let metrics = self
            .metrics
            .map(|metrics| tokio::spawn(serve_metrics(metrics, self.state.clone(), stop_metrics.clone())));
        let pool = self.state.db.pool.clone();
        let owned_models = self.state.owned_models.clone();
        match self.listener {
            Some(listener) => {
                tracing::info!(
                    port = self.port,
                    metrics_port,
                    max_connections = self.limits.max_connections,
                    "listening"
                );
                edge::serve(listener, crate::routes::router(self.state), self.limits, shutdown).await;
                tracing::info!("no longer taking requests; stopping the job workers");
            }
            None => {
                tracing::info!(workers = self.state.settings.workers, metrics_port, "evaluating jobs");
                shutdown.await;
                tracing::info!("stopping the job workers");
            }
        }
        stop_workers.cancel();
        // Compilations stop with the process: their models are marked failed.
        owned_models.shut_down().await;
        while let Some(ended) = workers.join_next().await {
            if let Err(error) = ended {
                tracing::error!(%error, "a job worker ended abnormally");
            }
        }
        stop_metrics.cancel();
        if let Some(metrics) = metrics
            && let Err(error) = metrics.await
        {
            tracing::error!(%error, "the metrics listener ended abnormally");
        }
        // Closing checkpoints SQLite's write-ahead log into the database file.
        pool.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Serves `/metrics` until `stop`, draining the recorder's histograms meanwhile.
async fn serve_metrics(metrics: MetricsListener, state: AppState, stop: CancellationToken) {
    let upkeep = {
        let (handle, stop) = (metrics.handle.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(METRICS_UPKEEP) => handle.run_upkeep(),
                    () = stop.cancelled() => return,
                }
            }
        })
    };
    // The site's timeouts, and a few connections: scrapers and probes, inside the descriptors
    // the site's listener leaves in reserve.
    let limits = ConnectionLimits {
        max_connections: METRICS_CONNECTIONS,
        per_address: METRICS_CONNECTIONS,
        ..ConnectionLimits::new(&state.settings, u64::MAX)
    };
    let router = crate::routes::ops::metrics_router(state, metrics.handle);
    edge::serve(metrics.listener, router, limits, stop.cancelled_owned()).await;
    let _ = upkeep.await;
}
