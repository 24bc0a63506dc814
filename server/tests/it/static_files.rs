//! The site's static files on the real server: content-hashed names (from the site's manifest)
//! kept by browsers for good, precompressed copies chosen by Accept-Encoding, everything else
//! revalidated, unknown paths the 404 page; and on-the-fly compression of the public model
//! catalogue only.

use blindfold_server::testing::TestApp;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, IF_MODIFIED_SINCE, LAST_MODIFIED, VARY,
};
use tempfile::TempDir;

const WORKER_HASH: &str = "0123456789abcdef";
const WASM: &[u8] = b"\0asm\x01\0\0\0 the page bundle";
const WASM_BR: &[u8] = b"brotli copy of the page bundle";
const WASM_GZ: &[u8] = b"gzip copy of the page bundle";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

struct Site {
    app: TestApp,
    http: reqwest::Client,
    _dir: TempDir,
}

/// A built site as scripts/seal-assets.sh leaves it (with made-up bytes and hashes), or
/// without the manifest.
async fn spawn(sealed: bool) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let write = |path: &str, bytes: &[u8]| {
        let path = site.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    write("pkg/blindfold.Wasm-Hash_1.wasm", WASM);
    write("pkg/blindfold.Wasm-Hash_1.wasm.br", WASM_BR);
    write("pkg/blindfold.Wasm-Hash_1.wasm.gz", WASM_GZ);
    write("pkg/blindfold.JsHash.js", b"export default function init() {}");
    write("pkg/blindfold.CssHash.css", b"body { color: black }");
    write(
        &format!("worker/{WORKER_HASH}/crypto-worker.js"),
        b"import './blindfold_worker.js';",
    );
    write("favicon.ico", b"an icon");
    if sealed {
        write(
            "hash.txt",
            format!("js: JsHash\nwasm: Wasm-Hash_1\ncss: CssHash\nworker: {WORKER_HASH}\n").as_bytes(),
        );
    }
    let app = TestApp::spawn_with(&dir.path().join("data"), |settings| settings.site_root = site).await;
    Site {
        app,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Site {
    async fn get(&self, path: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> reqwest::Response {
        let mut request = self.http.get(self.app.url(path));
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        request.send().await.unwrap()
    }
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<&str> {
    response.headers().get(name).map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn static_hashed_files_are_immutable_and_sent_precompressed_as_accepted() {
    let site = spawn(true).await;
    let path = "/pkg/blindfold.Wasm-Hash_1.wasm";
    for (accepted, encoding, body) in [
        ("br;q=1.0, gzip;q=0.8", Some("br"), WASM_BR),
        ("gzip", Some("gzip"), WASM_GZ),
        ("identity", None, WASM),
    ] {
        let response = site.get(path, &[(ACCEPT_ENCODING, accepted)]).await;
        assert_eq!(response.status(), StatusCode::OK, "{accepted}");
        assert_eq!(header(&response, CONTENT_ENCODING), encoding, "{accepted}");
        assert_eq!(header(&response, CONTENT_TYPE), Some("application/wasm"), "{accepted}");
        assert_eq!(header(&response, CACHE_CONTROL), Some(IMMUTABLE), "{accepted}");
        assert!(header(&response, VARY).is_some_and(|vary| vary.eq_ignore_ascii_case("accept-encoding")));
        // Static files keep the headers every answer has: the worker needs them to be isolated.
        assert_eq!(
            header(&response, "cross-origin-embedder-policy".parse().unwrap()),
            Some("require-corp")
        );
        assert_eq!(
            header(&response, "cross-origin-resource-policy".parse().unwrap()),
            Some("same-origin")
        );
        assert_eq!(
            header(&response, "x-content-type-options".parse().unwrap()),
            Some("nosniff")
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), body, "{accepted}");
    }

    // Everything in the sealed worker directory, and the other hashed bundle files.
    for path in [
        &format!("/worker/{WORKER_HASH}/crypto-worker.js"),
        "/pkg/blindfold.JsHash.js",
        "/pkg/blindfold.CssHash.css",
    ] {
        let response = site.get(path, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, CACHE_CONTROL), Some(IMMUTABLE), "{path}");
    }
}

#[tokio::test]
async fn static_files_without_a_hashed_name_are_revalidated() {
    let site = spawn(true).await;
    let response = site.get("/favicon.ico", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CACHE_CONTROL), Some("no-cache"));
    let modified = header(&response, LAST_MODIFIED).expect("a Last-Modified").to_owned();

    // The revalidation is a bodiless 304, not the 404 page.
    let response = site.get("/favicon.ico", &[(IF_MODIFIED_SINCE, &modified)]).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&response, CACHE_CONTROL), Some("no-cache"));
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn static_unknown_paths_are_the_404_page_and_not_kept() {
    let site = spawn(true).await;
    for path in [
        "/pkg/blindfold.Other.wasm",
        "/worker/fedcba9876543210/crypto-worker.js",
        "/pkg/",
        "/hidden/../../etc/passwd",
    ] {
        let response = site.get(path, &[(ACCEPT, "text/html"), (ACCEPT_ENCODING, "br")]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, CACHE_CONTROL), Some("no-store"), "{path}");
        assert_eq!(header(&response, CONTENT_ENCODING), None, "{path}");
        assert!(response.text().await.unwrap().contains("Page not found"), "{path}");
    }
}

#[tokio::test]
async fn static_pages_link_the_hashed_bundle_and_worker_named_in_the_manifest() {
    let site = spawn(true).await;
    let body = site.get("/", &[]).await.text().await.unwrap();
    assert!(body.contains("/pkg/blindfold.JsHash.js"), "{body}");
    assert!(body.contains("/pkg/blindfold.Wasm-Hash_1.wasm"));
    assert!(body.contains(r#"href="/pkg/blindfold.CssHash.css""#));
    assert!(body.contains(&format!(
        r#"<meta name="blindfold-worker" content="/worker/{WORKER_HASH}/crypto-worker.js""#
    )));

    // Without a manifest: the build's own names, the unsealed worker, nothing immutable.
    let site = spawn(false).await;
    let body = site.get("/", &[]).await.text().await.unwrap();
    assert!(body.contains("/pkg/blindfold.js"));
    assert!(body.contains(r#"href="/pkg/blindfold.css""#));
    assert!(body.contains(r#"<meta name="blindfold-worker" content="/worker/crypto-worker.js""#));
    let response = site.get("/pkg/blindfold.Wasm-Hash_1.wasm", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CACHE_CONTROL), Some("no-cache"));
}

#[tokio::test]
async fn static_compression_on_the_fly_is_for_the_public_catalogue_only() {
    let site = spawn(true).await;
    let spec = blindfold_api::paths::model_spec(blindfold_api::DEFAULT_MODEL_ID);
    for path in [blindfold_api::paths::MODELS, spec.as_str()] {
        let response = site.get(path, &[(ACCEPT_ENCODING, "br")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, CONTENT_ENCODING), Some("br"), "{path}");
        assert_eq!(header(&response, CACHE_CONTROL), Some("no-store"), "{path}");
    }
    // Pages carry a CSRF token next to text a user chose: never compressed (BREACH).
    let client = site.app.user("compressed-reader").await;
    let session = client.session().expect("a session");
    let cookie = format!("{}={}", session.cookie_name, session.token);
    for path in ["/predict", blindfold_api::paths::SESSION] {
        let response = site
            .get(
                path,
                &[(ACCEPT_ENCODING, "br, gzip"), (reqwest::header::COOKIE, &cookie)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, CONTENT_ENCODING), None, "{path}");
        assert!(response.text().await.unwrap().contains("csrf_token"), "{path}");
    }
}
