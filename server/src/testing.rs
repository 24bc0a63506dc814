//! The test harness (feature `test-support`): the real server on a random loopback port with a
//! fresh data directory and database, driven over HTTP with the API client. Shared by this
//! crate's integration tests and the CLI's.
//!
//! The database is SQLite in the data directory, or with `BLINDFOLD_TEST_POSTGRES` set (a
//! PostgreSQL server's URL, as `scripts/with-postgres.sh` sets it) a PostgreSQL database of its
//! own for each data directory: the same tests run against both.

use std::path::Path;

use blindfold_api::client::ApiClient;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::store::db::Backend;
use crate::{Application, Settings};

/// The PostgreSQL server the tests use, when they use one.
pub const POSTGRES_VARIABLE: &str = "BLINDFOLD_TEST_POSTGRES";

/// The database the tests run against.
pub fn backend() -> Backend {
    if std::env::var_os(POSTGRES_VARIABLE).is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// The database of the server on `data_dir`: SQLite's file in it, or with PostgreSQL a
/// database named after the directory, created on first use (so a server restarted on the
/// same directory finds its data again).
pub async fn database_url(data_dir: &Path) -> String {
    let Ok(server) = std::env::var(POSTGRES_VARIABLE) else {
        return format!("sqlite://{}", data_dir.join("blindfold.db").display());
    };
    let digest = Sha256::digest(data_dir.to_string_lossy().as_bytes());
    let name = format!("blindfold_test_{}", hex::encode(&digest[..10]));
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .expect("the test PostgreSQL server answers");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
    if exists.is_none() {
        // The name is hex: safe to splice into the statement.
        match sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
        {
            Ok(_) => {}
            // Created by a concurrent caller for the same directory (42P04, or 23505 when the
            // two creations race in the catalogue).
            Err(sqlx::Error::Database(error)) if matches!(error.code().as_deref(), Some("42P04" | "23505")) => {}
            Err(error) => panic!("creating the test database: {error}"),
        }
    }
    let _ = admin.close().await;
    let (base, _) = server.rsplit_once('/').expect("a PostgreSQL URL names a database");
    format!("{base}/{name}")
}

/// The database of the server on `data_dir`, opened beside it: for what the API does not show
/// and for the states a crash leaves behind.
pub async fn database(data_dir: &Path) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&database_url(data_dir).await)
        .await
        .expect("the test database opens")
}

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
        settings.database_url = Some(database_url(data_dir).await);
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
