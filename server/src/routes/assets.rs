//! The built site's static files (`--site-root`, `target/site`): the page bundle and the
//! stylesheet under `/pkg/`, the crypto worker under `/worker/<hash>/`, and whatever `public/`
//! holds; every other path gets the app's 404 page.
//!
//! Files named after their content are sent with `Cache-Control: immutable`: a browser that has
//! one never asks for it again, and a new build has new names. Which names those are comes from
//! the site's manifest (`hash.txt`, written by `scripts/seal-assets.sh`), read once at start-up:
//! cargo-leptos's hashes of the page bundle and the stylesheet (`js:`, `wasm:`, `css:`; leptos
//! reads the same lines to name them in pages) and the worker directory's (`worker:`). Any
//! other file (`/favicon.ico`, say) is `no-cache`: kept, but checked with the server (a cheap
//! 304) before each use. Files are sent as the .br or .gz copy that the seal step wrote beside
//! them when the request accepts it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blindfold_app::shell;
use leptos_axum::file_and_error_handler;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::state::AppState;

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// The router's fallback: a static file of the site if there is one at the path, else the
/// app's 404 page.
pub async fn serve(State(state): State<AppState>, request: Request) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        // ServeDir gets the method, the path and the headers it reads (Accept-Encoding,
        // conditional and range requests); the request itself stays for the 404 page.
        let mut file_request = Request::new(Body::empty());
        *file_request.method_mut() = request.method().clone();
        *file_request.uri_mut() = request.uri().clone();
        *file_request.headers_mut() = request.headers().clone();
        let files = ServeDir::new(&state.settings.site_root)
            .append_index_html_on_directories(false)
            .precompressed_br()
            .precompressed_gzip();
        let response = match files.oneshot(file_request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if response.status() != StatusCode::NOT_FOUND {
            let immutable = state.assets.is_immutable(request.uri().path());
            let mut response = response.map(Body::new);
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, if immutable { IMMUTABLE } else { REVALIDATE });
            // A cache must not give a brotli copy to a client that did not ask for one.
            headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
            return response;
        }
    }
    let page = state.assets.page_assets();
    let not_found = file_and_error_handler::<AppState, _>(move |options| shell(options, page.clone()));
    let uri = request.uri().clone();
    let mut response = not_found(uri, State(state), request).await.into_response();
    // Like every page: it may carry its user's name and CSRF token.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
