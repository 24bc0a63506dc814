//! The OpenAPI description the server serves matches the routes it answers.

use blindfold_api::{ErrorBody, paths};
use blindfold_server::testing::TestApp;
use reqwest::{Method, StatusCode};
use tempfile::TempDir;

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];

#[tokio::test]
async fn every_route_the_server_answers_is_described_and_nothing_else() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let http = reqwest::Client::new();
    let document: serde_json::Value = http
        .get(app.url(paths::OPENAPI))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let described = document["paths"].as_object().unwrap();
    assert!(described.len() >= 12, "{described:?}");

    for (template, operations) in described {
        let path = paths::with_id(template, "no-such-id");
        for method in METHODS {
            let response = http.request(method.clone(), app.url(&path)).send().await.unwrap();
            let status = response.status();
            let documented = operations.get(method.as_str().to_lowercase()).is_some();
            if documented {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {template}");
                if status == StatusCode::NOT_FOUND {
                    let body: ErrorBody = response.json().await.unwrap();
                    assert_ne!(body.detail, "route not found", "{method} {template} has no route");
                }
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template} is answered but not described"
                );
            }
        }
    }

    // Anything else under /api/ is no route at all.
    let missing = http.get(app.url("/api/no-such-route")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
