//! What the server-rendered pages need from a request before the app renders.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use blindfold_api::SessionInfo;
use blindfold_api::paths::API_PREFIX;
use blindfold_app::api::RequestSession;

use crate::routes::auth;
use crate::state::AppState;

/// Resolves the session of a page request for the server-rendered app (API requests resolve
/// their own, static files need none).
pub async fn resolve_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_static = [API_PREFIX, "/pkg/", "/worker/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path.rsplit('/').next().is_some_and(|name| name.contains('.'));
    if !is_static {
        let jar = CookieJar::from_headers(request.headers());
        let session = match auth::session_of(&state.pool, &jar).await {
            Ok(session) => session.map(|session| SessionInfo {
                username: session.username,
                csrf_token: session.csrf_token,
            }),
            Err(error) => {
                tracing::warn!(%error, "could not look up the session of a page request");
                None
            }
        };
        request.extensions_mut().insert(RequestSession(session));
    }
    next.run(request).await
}
