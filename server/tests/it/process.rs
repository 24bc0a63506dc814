//! The real `blindfold-server` binary as a child process, for the tests that kill it
//! (`crash.rs`), signal it (`ops.rs`) or run several (`cluster.rs`).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use blindfold_api::client::{ApiClient, Session};
use blindfold_server::testing::{PASSWORD, database_url};

/// What a process runs as.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// `serve --workers N`: the site, the API and N job workers.
    Serve { workers: usize },
    /// `worker`: one job worker, no site (PostgreSQL only).
    Worker,
}

/// A `blindfold-server` process.
pub struct Server {
    process: Child,
    /// The site's `http://127.0.0.1:PORT` (a worker's metrics listener for a worker).
    pub base: String,
    /// The metrics listener's `http://127.0.0.1:PORT`.
    pub metrics: String,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Server {
    /// Starts `serve` on `data` with `workers` job workers and waits until it answers;
    /// `crash_at` arms a crash point.
    pub async fn start(data: &Path, workers: usize, crash_at: Option<&str>) -> Self {
        Self::launch(data, Role::Serve { workers }, crash_at).await
    }

    /// Starts a process of `role` on the database of `data` (see
    /// [`blindfold_server::testing::database_url`]) and waits until it answers.
    pub async fn launch(data: &Path, role: Role, crash_at: Option<&str>) -> Self {
        let (port, metrics_port) = (free_port(), free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_blindfold-server"));
        let workers = match role {
            Role::Serve { workers } => {
                command.args(["serve", "--addr", &format!("127.0.0.1:{port}")]);
                workers
            }
            Role::Worker => {
                command.arg("worker");
                1
            }
        };
        command
            .arg("--data-dir")
            .arg(data)
            .args(["--database-url", &database_url(data).await])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args([
                "--workers",
                &workers.to_string(),
                "--job-lease-s",
                "3",
                "--site-root",
                "/nonexistent",
            ])
            .env_remove("BLINDFOLD_CRASH_AT")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(point) = crash_at {
            command.env("BLINDFOLD_CRASH_AT", point);
        }
        let process = command.spawn().expect("the server binary starts");
        let metrics = format!("http://127.0.0.1:{metrics_port}");
        let base = match role {
            Role::Serve { .. } => format!("http://127.0.0.1:{port}"),
            Role::Worker => metrics.clone(),
        };
        let mut server = Self { process, base, metrics };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/healthz", server.base)).await.is_err() {
            // A server with a crash point may reach it before it first answers.
            if crash_at.is_some() && server.process.try_wait().unwrap().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    pub fn client(&self, session: Option<Session>) -> ApiClient {
        ApiClient::new(&self.base).unwrap().with_session(session)
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// SIGKILL, as `kill -9` or the OOM killer would.
    pub fn kill(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }

    /// Waits for the server to have killed itself at its crash point.
    pub async fn crashed(mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(exit) = self.process.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                assert_eq!(exit.signal(), Some(9), "killed by its crash point: {exit:?}");
                return;
            }
            assert!(Instant::now() < deadline, "the crash point was never reached");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Server {
    /// SIGTERM, as a service manager or container runtime stops a process; its exit status,
    /// once it has exited (at most `patience` later).
    pub async fn terminate(mut self, patience: Duration) -> ExitStatus {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(signalled.success(), "kill -TERM failed: {signalled:?}");
        let deadline = Instant::now() + patience;
        loop {
            if let Some(exit) = self.process.try_wait().unwrap() {
                return exit;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {patience:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Registers `alice` on the server; her session.
pub async fn register(server: &Server) -> Session {
    let mut client = server.client(None);
    client.register("alice", PASSWORD, PASSWORD).await.unwrap()
}
