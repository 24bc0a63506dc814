//! A typed client for the Blindfold HTTP API, used by the `blindfold` CLI, the integration
//! tests and the load benchmark.
//!
//! The session cookie and CSRF token are held explicitly (not in a cookie jar) so that the CLI
//! can keep them between runs.
//!
//! HTTPS goes through rustls, trusting the platform's certificate store, webpki's roots and any
//! private CA given in [`ClientOptions`]. A plain `http://` server is accepted on the loopback
//! interface only, unless [`ClientOptions::allow_plain_http`] says otherwise: passwords and the
//! session token would cross the network in clear.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{
    AccountDeletion, CSRF_HEADER, Credentials, ErrorBody, JobInfo, KeyInfo, ModelDetails, ModelState, ModelSummary,
    ModelUpload, OwnedModel, PasswordChange, Registration, SECURE_SESSION_COOKIE, SESSION_COOKIE, SessionInfo, paths,
};

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status and its explanation.
    #[error("{status}: {}", body.detail)]
    Api { status: StatusCode, body: ErrorBody },
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the server's answer is not what this client expects: {0}")]
    Protocol(String),
    /// The server's URL or certificates cannot be used safely.
    #[error("{0}")]
    Insecure(String),
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

/// How a client reaches its server.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// PEM certificates of CAs to trust besides the platform's and webpki's roots (a private
    /// deployment's own CA).
    pub ca_certificates: Option<Vec<u8>>,
    /// Accept a plain `http://` server that is not on the loopback interface, sending the
    /// password and the session token in clear.
    pub allow_plain_http: bool,
}

/// Refuses a server URL this client would send credentials to in clear, and any scheme but
/// HTTP(S).
fn check_transport(base: &url::Url, options: &ClientOptions) -> ClientResult<()> {
    match base.scheme() {
        "https" => Ok(()),
        "http" if options.allow_plain_http || is_loopback(base) => Ok(()),
        "http" => Err(ClientError::Insecure(format!(
            "{base} is plain HTTP to another machine: your password and session would cross the network \
             in clear. Use https://, or allow it explicitly (`--allow-plain-http`)"
        ))),
        other => Err(ClientError::Insecure(format!(
            "{base}: the scheme `{other}` is not HTTP or HTTPS"
        ))),
    }
}

/// Whether the URL's host is this machine's loopback interface.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

/// What a logged-in client holds: the session cookie's name and value and the CSRF token.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub token: String,
    pub csrf_token: String,
    /// The cookie's name: [`SESSION_COOKIE`], or [`SECURE_SESSION_COOKIE`] from a server with
    /// secure cookies. Sessions saved before the name was kept had the plain one.
    #[serde(default = "plain_cookie_name")]
    pub cookie_name: String,
}

fn plain_cookie_name() -> String {
    SESSION_COOKIE.to_owned()
}

impl std::fmt::Debug for Session {
    /// The token is a bearer credential: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How often a waiting client asks again: the server answers at once when the job finishes.
const LONG_POLL_S: u32 = 10;

/// A client for one server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: url::Url,
    http: reqwest::Client,
    session: Option<Session>,
}

impl ApiClient {
    /// A client of `base` with the default [`ClientOptions`].
    pub fn new(base: &str) -> ClientResult<Self> {
        Self::with_options(base, &ClientOptions::default())
    }

    pub fn with_options(base: &str, options: &ClientOptions) -> ClientResult<Self> {
        let base = url::Url::parse(base).map_err(|e| ClientError::Insecure(format!("server URL: {e}")))?;
        check_transport(&base, options)?;
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .https_only(base.scheme() == "https");
        if let Some(pem) = &options.ca_certificates {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Insecure(format!("the CA certificates: {e}")))?;
            if certificates.is_empty() {
                return Err(ClientError::Insecure(
                    "the CA certificate file holds no PEM certificate".into(),
                ));
            }
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http.build()?;
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
            request = request.header(COOKIE, format!("{}={}", session.cookie_name, session.token));
            if method != Method::GET {
                request = request.header(CSRF_HEADER, &session.csrf_token);
            }
        }
        request
    }

    async fn check(response: Response) -> ClientResult<Response> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response
            .json::<ErrorBody>()
            .await
            .unwrap_or_else(|_| ErrorBody::unreadable(status.as_u16()));
        Err(ClientError::Api { status, body })
    }

    async fn json<T: DeserializeOwned>(request: RequestBuilder) -> ClientResult<T> {
        Ok(Self::check(request.send().await?).await?.json().await?)
    }

    /// Takes the new session from a login or registration answer.
    async fn start_session(&mut self, response: Response) -> ClientResult<Session> {
        let response = Self::check(response).await?;
        let (cookie_name, token) = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(session_cookie)
            .ok_or_else(|| ClientError::Protocol("no session cookie".into()))?;
        let body: SessionInfo = response.json().await?;
        let session = Session {
            username: body.username,
            token,
            csrf_token: body.csrf_token,
            cookie_name,
        };
        self.session = Some(session.clone());
        Ok(session)
    }

    pub async fn register(&mut self, username: &str, password: &str, confirmation: &str) -> ClientResult<Session> {
        let body = Registration {
            username: username.to_owned(),
            password: password.to_owned(),
            password_confirmation: confirmation.to_owned(),
        };
        let response = self.request(Method::POST, paths::REGISTER).json(&body).send().await?;
        self.start_session(response).await
    }

    pub async fn login(&mut self, username: &str, password: &str) -> ClientResult<Session> {
        let body = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let response = self.request(Method::POST, paths::LOGIN).json(&body).send().await?;
        self.start_session(response).await
    }

    pub async fn logout(&mut self) -> ClientResult<()> {
        Self::check(self.request(Method::POST, paths::LOGOUT).send().await?).await?;
        self.session = None;
        Ok(())
    }

    /// Changes the password; the server ends every other session of the user, this one stays.
    pub async fn change_password(&self, current: &str, new: &str, confirmation: &str) -> ClientResult<()> {
        let body = PasswordChange {
            current_password: current.to_owned(),
            new_password: new.to_owned(),
            new_password_confirmation: confirmation.to_owned(),
        };
        Self::check(
            self.request(Method::POST, paths::ACCOUNT_PASSWORD)
                .json(&body)
                .send()
                .await?,
        )
        .await?;
        Ok(())
    }

    /// Ends every session of the user, this one included.
    pub async fn log_out_everywhere(&mut self) -> ClientResult<()> {
        Self::check(self.request(Method::DELETE, paths::ACCOUNT_SESSIONS).send().await?).await?;
        self.session = None;
        Ok(())
    }

    /// Deletes the account and everything the server holds of it.
    pub async fn delete_account(&mut self, password: &str) -> ClientResult<()> {
        let body = AccountDeletion {
            password: password.to_owned(),
        };
        Self::check(self.request(Method::DELETE, paths::ACCOUNT).json(&body).send().await?).await?;
        self.session = None;
        Ok(())
    }

    /// Who the server thinks we are.
    pub async fn whoami(&self) -> ClientResult<String> {
        Ok(self.session_info().await?.username)
    }

    /// The session as the server sees it: the username, the CSRF token and the account's role.
    pub async fn session_info(&self) -> ClientResult<SessionInfo> {
        Self::json(self.request(Method::GET, paths::SESSION)).await
    }

    pub async fn models(&self) -> ClientResult<Vec<ModelSummary>> {
        Self::json(self.request(Method::GET, paths::MODELS)).await
    }

    /// The model's client spec, as JSON text (the model crate parses and checks it).
    pub async fn spec_json(&self, model: &str) -> ClientResult<String> {
        let response = Self::check(self.request(Method::GET, &paths::model_spec(model)).send().await?).await?;
        Ok(response.text().await?)
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

    /// Uploads (or replaces) the user's server key, which serves every model.
    pub async fn upload_key(&self, compressed_server_key: Vec<u8>) -> ClientResult<KeyInfo> {
        self.send_bytes(Method::PUT, paths::KEY, compressed_server_key).await
    }

    pub async fn key_info(&self) -> ClientResult<KeyInfo> {
        Self::json(self.request(Method::GET, paths::KEY)).await
    }

    pub async fn delete_key(&self) -> ClientResult<()> {
        Self::check(self.request(Method::DELETE, paths::KEY).send().await?).await?;
        Ok(())
    }

    /// Submits a row encrypted for `binding`'s server key and spec; the server answers at once
    /// with a queued job (409 `key_mismatch` or `spec_mismatch` when it holds another).
    pub async fn submit(
        &self,
        model: &str,
        binding: &crate::PredictionBinding,
        encrypted_row: Vec<u8>,
    ) -> ClientResult<JobInfo> {
        self.send_bytes(
            Method::POST,
            &paths::model_predictions_bound(model, binding),
            encrypted_row,
        )
        .await
    }

    pub async fn job(&self, id: &str) -> ClientResult<JobInfo> {
        Self::json(self.request(Method::GET, &paths::prediction(id))).await
    }

    pub async fn jobs(&self) -> ClientResult<Vec<JobInfo>> {
        Self::json(self.request(Method::GET, paths::PREDICTIONS)).await
    }

    /// Waits for a job to be done or failed, calling `progress` with each state seen. Long
    /// polling: the server answers each request as soon as the job finishes.
    pub async fn wait(&self, id: &str, timeout: Duration, mut progress: impl FnMut(&JobInfo)) -> ClientResult<JobInfo> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut wait_s = 0;
        loop {
            let job: JobInfo = match Self::json(self.request(Method::GET, &paths::prediction_waiting(id, wait_s))).await
            {
                Ok(job) => job,
                // Too many long polls open at once (other waits of this user): a short pause,
                // then again.
                Err(error) if error.status() == Some(StatusCode::TOO_MANY_REQUESTS) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(error);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(error) => return Err(error),
            };
            progress(&job);
            if job.status.is_finished() {
                return Ok(job);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Protocol(format!(
                    "prediction {id} still {} after {timeout:?}",
                    job.status
                )));
            }
            wait_s = LONG_POLL_S;
        }
    }

    /// Deletes a prediction and its result (a queued one is cancelled).
    pub async fn delete_prediction(&self, id: &str) -> ClientResult<()> {
        Self::check(self.request(Method::DELETE, &paths::prediction(id)).send().await?).await?;
        Ok(())
    }

    /// Deletes every prediction that is not running.
    pub async fn clear_predictions(&self) -> ClientResult<()> {
        Self::check(self.request(Method::DELETE, paths::PREDICTIONS).send().await?).await?;
        Ok(())
    }

    pub async fn result(&self, id: &str) -> ClientResult<Vec<u8>> {
        let response = Self::check(self.request(Method::GET, &paths::prediction_result(id)).send().await?).await?;
        Ok(response.bytes().await?.to_vec())
    }

    /// A model owner's models, newest first.
    pub async fn owner_models(&self) -> ClientResult<Vec<OwnedModel>> {
        Self::json(self.request(Method::GET, paths::OWNER_MODELS)).await
    }

    /// One of the owner's models: its state, progress while compiling, report once compiled.
    pub async fn owner_model(&self, id: &str) -> ClientResult<OwnedModel> {
        Self::json(self.request(Method::GET, &paths::owner_model(id))).await
    }

    /// Uploads a model file with its calibration rows (CSV with the feature names as header,
    /// optionally a `target` column) and optionally labelled test rows for the report; the
    /// server answers at once with the model compiling (see [`Self::wait_compiled`]).
    pub async fn upload_owner_model(
        &self,
        metadata: &ModelUpload,
        model: Vec<u8>,
        calibration: String,
        test: Option<String>,
    ) -> ClientResult<OwnedModel> {
        let json = serde_json::to_string(metadata).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let part = |part: reqwest::multipart::Part, mime: &str| {
            part.mime_str(mime)
                .map_err(|e| ClientError::Protocol(format!("a multipart part: {e}")))
        };
        let mut form = reqwest::multipart::Form::new()
            .part(
                "metadata",
                part(reqwest::multipart::Part::text(json), "application/json")?,
            )
            .part(
                "model",
                part(
                    reqwest::multipart::Part::bytes(model).file_name("model"),
                    "application/octet-stream",
                )?,
            )
            .part(
                "calibration",
                part(
                    reqwest::multipart::Part::text(calibration).file_name("calibration.csv"),
                    "text/csv",
                )?,
            );
        if let Some(test) = test {
            form = form.part(
                "test",
                part(reqwest::multipart::Part::text(test).file_name("test.csv"), "text/csv")?,
            );
        }
        Self::json(self.request(Method::POST, paths::OWNER_MODELS).multipart(form)).await
    }

    /// Changes the details users see of one of the owner's models.
    pub async fn update_owner_model(&self, id: &str, details: &ModelDetails) -> ClientResult<OwnedModel> {
        Self::json(self.request(Method::PATCH, &paths::owner_model(id)).json(details)).await
    }

    /// Puts a compiled model in the catalogue.
    pub async fn publish_model(&self, id: &str) -> ClientResult<OwnedModel> {
        Self::json(self.request(Method::PUT, &paths::owner_model_publication(id))).await
    }

    /// Takes a model out of the catalogue (a draft again).
    pub async fn unpublish_model(&self, id: &str) -> ClientResult<OwnedModel> {
        Self::json(self.request(Method::DELETE, &paths::owner_model_publication(id))).await
    }

    /// Deletes one of the owner's models (not while it is published or compiling).
    pub async fn delete_owner_model(&self, id: &str) -> ClientResult<()> {
        Self::check(self.request(Method::DELETE, &paths::owner_model(id)).send().await?).await?;
        Ok(())
    }

    /// Polls one of the owner's models until it is no longer compiling (a draft, or failed).
    pub async fn wait_compiled(&self, id: &str, timeout: Duration) -> ClientResult<OwnedModel> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let model = self.owner_model(id).await?;
            if model.state != ModelState::Compiling {
                return Ok(model);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Protocol(format!(
                    "model {id} still compiling after {timeout:?}"
                )));
            }
            tokio::time::sleep(COMPILE_POLL).await;
        }
    }
}

/// How often [`ApiClient::wait_compiled`] asks again.
const COMPILE_POLL: Duration = Duration::from_millis(250);

/// The session cookie's name and value in a `Set-Cookie` header, under either name.
fn session_cookie(header: &str) -> Option<(String, String)> {
    let (name, rest) = header.split_once('=')?;
    let name = name.trim();
    [SESSION_COOKIE, SECURE_SESSION_COOKIE].contains(&name).then(|| {
        let value = rest.split(';').next().unwrap_or("").trim();
        (name.to_owned(), value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_session_cookie_names_are_taken() {
        assert_eq!(
            session_cookie("blindfold_session=abc; HttpOnly; Path=/"),
            Some(("blindfold_session".into(), "abc".into()))
        );
        assert_eq!(
            session_cookie("__Host-blindfold_session=xyz; Secure; Path=/"),
            Some(("__Host-blindfold_session".into(), "xyz".into()))
        );
        assert_eq!(session_cookie("other=1; Path=/"), None);
    }

    #[test]
    fn a_session_saved_without_the_cookie_name_has_the_plain_one() {
        let old = r#"{"username":"ivan","token":"t","csrf_token":"c"}"#;
        let session: Session = serde_json::from_str(old).unwrap();
        assert_eq!(session.cookie_name, SESSION_COOKIE);
    }

    #[test]
    fn credentials_go_in_clear_only_to_this_machine_unless_allowed() {
        let plain = ClientOptions::default();
        for local in [
            "http://127.0.0.1:3000",
            "http://127.1.2.3/",
            "http://[::1]:3000",
            "http://localhost:3000",
            "http://app.localhost",
        ] {
            assert!(ApiClient::with_options(local, &plain).is_ok(), "{local}");
        }
        for remote in [
            "http://192.0.2.1:3000",
            "http://blindfold.example",
            "http://[2001:db8::1]/",
        ] {
            let refused = ApiClient::with_options(remote, &plain).unwrap_err();
            assert!(matches!(refused, ClientError::Insecure(_)), "{remote}");
            assert!(refused.to_string().contains("--allow-plain-http"), "{refused}");
            let allowed = ClientOptions {
                allow_plain_http: true,
                ..ClientOptions::default()
            };
            assert!(ApiClient::with_options(remote, &allowed).is_ok(), "{remote}");
        }
        assert!(ApiClient::with_options("https://blindfold.example", &plain).is_ok());
        assert!(matches!(
            ApiClient::with_options("ftp://blindfold.example", &plain),
            Err(ClientError::Insecure(_))
        ));
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let options = ClientOptions {
            ca_certificates: Some(b"not a certificate".to_vec()),
            ..ClientOptions::default()
        };
        assert!(matches!(
            ApiClient::with_options("https://blindfold.example", &options),
            Err(ClientError::Insecure(_))
        ));
    }
}
