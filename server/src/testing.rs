//! The test harness (feature `test-support`): the real server on a random loopback port with a
//! fresh data directory, driven over HTTP with the API client. Shared by this crate's
//! integration tests and the CLI's.

use std::path::Path;

use blindfold_api::client::ApiClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Application, Settings};

/// A password every account rule accepts.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `http://127.0.0.1:PORT` of the metrics listener, when `metrics_addr` is set.
    pub metrics_base: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// A server on `data_dir` with `workers` job workers and the default settings.
    pub async fn spawn(data_dir: &Path, workers: usize) -> Self {
        Self::spawn_with(data_dir, |settings| settings.workers = workers).await
    }

    /// A server on `data_dir` with the default settings as `configure` changes them.
    pub async fn spawn_with(data_dir: &Path, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings::for_data_dir(data_dir.to_path_buf());
        configure(&mut settings);
        let app = Application::build(settings).await.expect("the server starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let metrics_base = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stop.await;
        }));
        Self {
            base,
            metrics_base,
            shutdown: Some(shutdown),
            server,
        }
    }

    /// The absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client without a session.
    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.base).expect("a valid base URL")
    }

    /// A client logged in as a newly registered user.
    pub async fn user(&self, name: &str) -> ApiClient {
        let mut client = self.client();
        client.register(name, PASSWORD, PASSWORD).await.expect("registration");
        client
    }

    /// Shuts the server down gracefully and waits until it has stopped (workers included).
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().expect("stopped once").send(());
        (&mut self.server)
            .await
            .expect("the server task ends normally")
            .expect("the server stops cleanly");
    }
}

impl Drop for TestApp {
    /// A test that fails before `stop` does not leave its server running.
    fn drop(&mut self) {
        if self.shutdown.is_some() {
            self.server.abort();
        }
    }
}
