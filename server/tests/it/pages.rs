//! The server-rendered pages and the site's static files, over HTTP on the real server.

use blindfold_api::paths;
use blindfold_server::testing::{PASSWORD, TestApp};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use tempfile::TempDir;

struct Site {
    app: TestApp,
    http: reqwest::Client,
    _dir: TempDir,
}

async fn spawn() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let site_root = dir.path().join("site");
    std::fs::create_dir_all(site_root.join("pkg")).unwrap();
    std::fs::write(site_root.join("pkg/blindfold.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let app = TestApp::spawn_with(&dir.path().join("data"), |settings| settings.site_root = site_root).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Site { app, http, _dir: dir }
}

impl Site {
    async fn page(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.app.url(path)).header(ACCEPT, "text/html");
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// Registers a user; returns the session cookie.
    async fn register(&self, username: &str) -> String {
        let password = PASSWORD;
        let response = self
            .http
            .post(self.app.url(paths::REGISTER))
            .json(&serde_json::json!({
                "username": username, "password": password, "password_confirmation": password
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }
}

#[tokio::test]
async fn pages_render_on_the_server_with_a_nonce_policy_and_isolation_headers() {
    let site = spawn().await;
    let response = site.page("/", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let policy = headers["content-security-policy"].to_str().unwrap().to_owned();
    let body = response.text().await.unwrap();
    assert!(body.contains("Predictions on data the server never sees"));
    assert!(body.contains(r#"href="/signup""#), "logged-out links");

    // Every inline script carries this response's nonce, and the policy allows only it.
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy");
    assert!(nonce.len() >= 16);
    assert!(policy.contains("script-src 'self' 'nonce-"));
    assert!(policy.contains("'wasm-unsafe-eval'"));
    let scripts = body.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(body.matches(&format!(r#"nonce="{nonce}""#)).count(), scripts);
    assert_eq!(headers["cross-origin-opener-policy"], "same-origin");
    assert_eq!(headers["cross-origin-embedder-policy"], "require-corp");

    // A second page gets another nonce.
    let again = site.page("/", None).await;
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(nonce)
    );
}

/// Before the browser has hydrated a page, a submit would miss the page's handler (a native
/// POST to the page) and what was typed would miss its signals: the server's HTML ships every
/// form's controls disabled, and the page enables them once its code runs.
#[tokio::test]
async fn forms_arrive_disabled_until_the_page_runs() {
    let site = spawn().await;
    for path in ["/signup", "/login"] {
        let body = site.page(path, None).await.text().await.unwrap();
        let form = body.split("<form").nth(1).unwrap_or_else(|| panic!("{path}: a form"));
        let controls = form
            .split_once('>')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(tag, _)| tag);
        let controls = controls.unwrap_or_else(|| panic!("{path}: {form}"));
        assert!(controls.starts_with("<fieldset "), "{path}: {controls}");
        assert!(
            controls.split(' ').any(|attribute| attribute == "disabled"),
            "{path}: {controls}"
        );
    }
}

#[tokio::test]
async fn private_pages_redirect_to_login_until_logged_in() {
    let site = spawn().await;
    for path in ["/keys", "/predict", "/history"] {
        let response = site.page(path, None).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{path}");
        assert_eq!(response.headers()[LOCATION], "/login", "{path}");
    }

    let cookie = site.register("page-reader").await;
    let response = site.page("/predict", Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(body.contains("Signed in as page-reader"));
    assert!(body.contains(">Log out<"));
    assert!(!body.contains(r#"href="/signup""#));
    // The session (with its CSRF token) goes to the browser inside the page, never the
    // session token itself.
    let token = cookie.split('=').nth(1).unwrap();
    assert!(!body.contains(token));
    assert!(body.contains("csrf_token"));

    let response = site.page("/predict", Some("blindfold_session=forged")).await;
    assert_eq!(response.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn unknown_pages_are_html_404s_and_unknown_api_routes_json_404s() {
    let site = spawn().await;
    let response = site.page("/no-such-page", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("Page not found"));

    let response = site.page("/api/no-such-route", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn wasm_is_served_as_application_wasm_with_isolation_headers() {
    let site = spawn().await;
    let response = site.page("/pkg/blindfold.wasm", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/wasm");
    assert_eq!(response.headers()["cross-origin-embedder-policy"], "require-corp");
    assert_eq!(response.headers()["cross-origin-resource-policy"], "same-origin");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"\0asm\x01\0\0\0");
}

#[tokio::test]
async fn the_default_model_offers_a_sample_row_of_each_class() {
    let site = spawn().await;
    let models: serde_json::Value = site
        .http
        .get(site.app.url(paths::MODELS))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let examples = models[0]["examples"].as_array().unwrap();
    let mut labels: Vec<&str> = examples.iter().map(|e| e["label"].as_str().unwrap()).collect();
    labels.sort();
    assert_eq!(labels, ["Benign", "Malignant"]);
    assert!(examples.iter().all(|e| e["features"].as_array().unwrap().len() == 30));
}

#[tokio::test]
async fn long_polling_a_job_checks_its_query() {
    let site = spawn().await;
    let cookie = site.register("poller").await;
    for (query, status) in [
        ("wait=abc", StatusCode::BAD_REQUEST),
        ("wait=31", StatusCode::BAD_REQUEST),
        ("wait=-1", StatusCode::BAD_REQUEST),
        ("wait=0.5", StatusCode::NOT_FOUND),
    ] {
        let response = site
            .http
            .get(site.app.url(&format!("{}?{query}", paths::prediction("no-such-job"))))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{query}");
    }
}

#[tokio::test]
async fn the_models_pages_are_app_routes() {
    let site = spawn().await;
    for path in ["/models", "/models/wine"] {
        let response = site.page(path, None).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{path}");
        assert_eq!(response.headers()[LOCATION], "/login", "{path}");
    }
    let cookie = site.register("model-reader").await;
    for path in ["/models", "/models/wine"] {
        let response = site.page(path, Some(&cookie)).await;
        assert_ne!(response.status(), StatusCode::FOUND, "{path}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        assert!(!response.text().await.unwrap().contains("Page not found"), "{path}");
    }
}
