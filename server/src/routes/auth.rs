//! Sessions over HTTP: the session cookie and the CSRF check.
//!
//! The cookie is HttpOnly and SameSite=Lax. Every state-changing request made with a session
//! must carry the session's CSRF token in the [`CSRF_HEADER`] header: a cross-site page can
//! neither read the token nor set the header on a simple request, and SameSite=Lax keeps the
//! cookie off cross-site POSTs as a second line.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use blindfold_api::{CSRF_HEADER, SESSION_COOKIE};
use sqlx::SqlitePool;
use subtle::ConstantTimeEq;

use crate::routes::error::ApiError;
use crate::services::ServiceResult;
use crate::services::accounts::sessions::{self, SESSION_TTL_MS, Session};
use crate::state::AppState;

/// The logged-in user of a request. Extracting it fails with 401 without a valid session and
/// with 403 for a state-changing request without the session's CSRF token.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Session);

impl std::ops::Deref for CurrentUser {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(time::Duration::milliseconds(SESSION_TTL_MS))
        .build()
}

pub fn removal_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    cookie.make_removal();
    cookie
}

/// The live session behind a request's cookie, if any.
pub async fn session_of(pool: &SqlitePool, jar: &CookieJar) -> ServiceResult<Option<Session>> {
    match jar.get(SESSION_COOKIE) {
        Some(cookie) => sessions::lookup(pool, cookie.value()).await,
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let session = session_of(&state.pool, &jar)
            .await?
            .ok_or(ApiError::Unauthorized("login required"))?;
        if !parts.method.is_safe() {
            let sent = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if sent.is_empty() || !bool::from(sent.ct_eq(session.csrf_token.as_bytes())) {
                return Err(ApiError::Csrf);
            }
        }
        Ok(Self(session))
    }
}
