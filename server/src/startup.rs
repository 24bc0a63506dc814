//! Building the application from settings and running it until shutdown.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::services::worker::spawn_workers;
use crate::settings::Settings;
use crate::state::AppState;

/// The built site's files the pages need; the API works without them.
const SITE_FILES: [&str; 3] = ["pkg/blindfold.js", "worker/blindfold_worker.js", "crypto-worker.js"];

/// A server bound to its port, ready to run.
pub struct Application {
    port: u16,
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let port = listener.local_addr()?.port();
        if let Some(missing) = SITE_FILES.iter().find(|file| !settings.site_root.join(file).is_file()) {
            tracing::warn!(
                site_root = %settings.site_root.display(),
                missing,
                "the web app is not built here: the API works, the pages will not (run scripts/build.sh)"
            );
        }
        let state = AppState::open(settings).await?;
        Ok(Self { port, listener, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves with the configured number of job workers until `shutdown` completes; then
    /// stops taking requests, lets the open ones finish, and stops the workers (each finishes
    /// the job in hand).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let stop_workers = CancellationToken::new();
        let mut workers = spawn_workers(
            self.state.evaluator(),
            self.state.settings.workers,
            stop_workers.clone(),
        );
        workers.spawn(self.state.jobs.clone().maintain(stop_workers.clone()));
        tracing::info!(port = self.port, "listening");
        // Connect info: the abuse limits need each request's peer address.
        let service = crate::routes::router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        stop_workers.cancel();
        while let Some(ended) = workers.join_next().await {
            if let Err(error) = ended {
                tracing::error!(%error, "a job worker ended abnormally");
            }
        }
        served.context("serving HTTP")
    }
}
