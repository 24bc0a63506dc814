//! A typed client for the Blindfold HTTP API, used by the `blindfold` CLI and by the server's
//! integration tests.
//!
//! The session cookie and CSRF token are held explicitly (not in a cookie jar) so that the CLI
//! can keep them between runs.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Name of the server's session cookie.
pub const SESSION_COOKIE: &str = "blindfold_session";

/// A failed API call: the HTTP status and the server's `{error, detail}`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{status}: {detail}")]
    Api {
        status: StatusCode,
        error: String,
        detail: String,
        fields: serde_json::Value,
    },
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the server's answer is not what this client expects: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The HTTP status, for API errors.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// What a logged-in client holds: the session cookie's value and the CSRF token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub token: String,
    pub csrf_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSummary {
    pub id: String,
    pub name: String,
    pub labels: Vec<String>,
    pub features: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyInfo {
    pub size_bytes: i64,
    pub fingerprint: String,
    pub uploaded_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub model_id: String,
    pub status: String,
    pub error: Option<String>,
    pub input_bytes: i64,
    pub bootstraps: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Deserialize)]
struct SessionBody {
    username: String,
    csrf_token: String,
}

/// A client for one server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: url::Url,
    http: reqwest::Client,
    session: Option<Session>,
}

impl ApiClient {
    pub fn new(base: &str) -> ClientResult<Self> {
        let base = url::Url::parse(base).map_err(|e| ClientError::Protocol(format!("server URL: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            base,
            http,
            session: None,
        })
    }

    pub fn with_session(mut self, session: Option<Session>) -> Self {
        self.session = session;
        self
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = self.base.join(path).expect("API paths are valid");
        let mut request = self.http.request(method.clone(), url);
        if let Some(session) = &self.session {
            request = request.header(COOKIE, format!("{SESSION_COOKIE}={}", session.token));
            if method != Method::GET {
                request = request.header("x-csrf-token", &session.csrf_token);
            }
        }
        request
    }

    async fn check(response: Response) -> ClientResult<Response> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Err(ClientError::Api {
            status,
            error: body["error"].as_str().unwrap_or_default().to_owned(),
            detail: body["detail"].as_str().unwrap_or("no detail").to_owned(),
            fields: body["fields"].clone(),
        })
    }

    async fn json<T: DeserializeOwned>(request: RequestBuilder) -> ClientResult<T> {
        Ok(Self::check(request.send().await?).await?.json().await?)
    }

    /// Takes the new session from a login or registration answer.
    async fn start_session(&mut self, response: Response) -> ClientResult<Session> {
        let response = Self::check(response).await?;
        let token = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.strip_prefix(&format!("{SESSION_COOKIE}="))
                    .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
            })
            .ok_or_else(|| ClientError::Protocol("no session cookie".into()))?;
        let body: SessionBody = response.json().await?;
        let session = Session {
            username: body.username,
            token,
            csrf_token: body.csrf_token,
        };
        self.session = Some(session.clone());
        Ok(session)
    }

    pub async fn register(&mut self, username: &str, password: &str, confirmation: &str) -> ClientResult<Session> {
        let body = json!({"username": username, "password": password, "password_confirmation": confirmation});
        let response = self.request(Method::POST, "/api/register").json(&body).send().await?;
        self.start_session(response).await
    }

    pub async fn login(&mut self, username: &str, password: &str) -> ClientResult<Session> {
        let body = json!({"username": username, "password": password});
        let response = self.request(Method::POST, "/api/login").json(&body).send().await?;
        self.start_session(response).await
    }

    pub async fn logout(&mut self) -> ClientResult<()> {
        Self::check(self.request(Method::POST, "/api/logout").send().await?).await?;
        self.session = None;
        Ok(())
    }

    /// Who the server thinks we are.
    pub async fn whoami(&self) -> ClientResult<String> {
        let body: SessionBody = Self::json(self.request(Method::GET, "/api/session")).await?;
        Ok(body.username)
    }

    pub async fn models(&self) -> ClientResult<Vec<ModelSummary>> {
        Self::json(self.request(Method::GET, "/api/models")).await
    }

    pub async fn spec(&self, model: &str) -> ClientResult<blindfold_model::ClientSpec> {
        let text = Self::check(
            self.request(Method::GET, &format!("/api/models/{model}/spec"))
                .send()
                .await?,
        )
        .await?
        .text()
        .await?;
        blindfold_model::ClientSpec::from_json(&text).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Sends bytes (a key, a ciphertext) and reads the JSON answer.
    async fn send_bytes<T: DeserializeOwned>(&self, method: Method, path: &str, body: Vec<u8>) -> ClientResult<T> {
        Self::json(
            self.request(method, path)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(body),
        )
        .await
    }

    pub async fn upload_key(&self, model: &str, compressed_server_key: Vec<u8>) -> ClientResult<KeyInfo> {
        self.send_bytes(Method::PUT, &format!("/api/models/{model}/key"), compressed_server_key)
            .await
    }

    pub async fn key_info(&self, model: &str) -> ClientResult<KeyInfo> {
        Self::json(self.request(Method::GET, &format!("/api/models/{model}/key"))).await
    }

    pub async fn delete_key(&self, model: &str) -> ClientResult<()> {
        Self::check(
            self.request(Method::DELETE, &format!("/api/models/{model}/key"))
                .send()
                .await?,
        )
        .await?;
        Ok(())
    }

    /// Submits an encrypted row; the server answers at once with a queued job.
    pub async fn submit(&self, model: &str, encrypted_row: Vec<u8>) -> ClientResult<Job> {
        self.send_bytes(Method::POST, &format!("/api/models/{model}/predictions"), encrypted_row)
            .await
    }

    pub async fn job(&self, id: &str) -> ClientResult<Job> {
        Self::json(self.request(Method::GET, &format!("/api/predictions/{id}"))).await
    }

    pub async fn jobs(&self) -> ClientResult<Vec<Job>> {
        Self::json(self.request(Method::GET, "/api/predictions")).await
    }

    /// Waits for a job to be done or failed, calling `progress` with each status seen. Long
    /// polling: the server answers each request as soon as the job finishes (or after 10 s).
    pub async fn wait(&self, id: &str, timeout: Duration, mut progress: impl FnMut(&Job)) -> ClientResult<Job> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut first = true;
        loop {
            let wait_s = if first { 0 } else { 10 };
            first = false;
            let job = Self::json(self.request(Method::GET, &format!("/api/predictions/{id}?wait={wait_s}"))).await?;
            progress(&job);
            if job.status == "done" || job.status == "failed" {
                return Ok(job);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Protocol(format!(
                    "prediction {id} still {} after {timeout:?}",
                    job.status
                )));
            }
        }
    }

    pub async fn result(&self, id: &str) -> ClientResult<Vec<u8>> {
        let response = Self::check(
            self.request(Method::GET, &format!("/api/predictions/{id}/result"))
                .send()
                .await?,
        )
        .await?;
        Ok(response.bytes().await?.to_vec())
    }
}
