//! What the server-rendered pages need from a request before the app renders, and what their
//! responses need after.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use blindfold_api::SessionInfo;
use blindfold_api::paths::API_PREFIX;
use blindfold_app::api::RequestSession;

use crate::routes::auth;
use crate::state::AppState;

/// Whether a path is the API's or a static file's rather than a page's.
fn is_page(path: &str) -> bool {
    let elsewhere = [API_PREFIX, "/pkg/", "/worker/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path.rsplit('/').next().is_some_and(|name| name.contains('.'));
    !elsewhere
}

/// Resolves the session of a page request for the server-rendered app (API requests resolve
/// their own, static files need none), and marks the page `Cache-Control: no-store`: a page
/// carries its user's name and CSRF token, which no cache (a shared proxy's, or the browser's
/// back button after logging out) may keep.
pub async fn resolve_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if !is_page(request.uri().path()) {
        return next.run(request).await;
    }
    let jar = CookieJar::from_headers(request.headers());
    let session = match auth::session_of(&state, &jar).await {
        Ok(session) => session.map(|session| SessionInfo {
            username: session.username,
            csrf_token: session.csrf_token,
            role: session.role,
        }),
        Err(error) => {
            tracing::warn!(%error, "could not look up the session of a page request");
            None
        }
    };
    request.extensions_mut().insert(RequestSession(session));
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_are_told_from_the_api_and_static_files() {
        for page in ["/", "/account", "/predict", "/no-such-page"] {
            assert!(super::is_page(page), "{page}");
        }
        for other in ["/api/session", "/pkg/blindfold.wasm", "/worker/x.js", "/favicon.ico"] {
            assert!(!super::is_page(other), "{other}");
        }
    }
}
