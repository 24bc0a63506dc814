//! Sessions over HTTP: the session cookie and the CSRF check.
//!
//! The cookie is HttpOnly and SameSite=Lax; with `--secure-cookies` it is also `Secure` and
//! named with the `__Host-` prefix, which browsers accept only from HTTPS, for the whole site
//! (`Path=/`) and without a `Domain`: a sibling subdomain or a plain-HTTP page cannot plant or
//! overwrite it. Every state-changing request made with a session must carry the session's
//! CSRF token in the [`CSRF_HEADER`] header: a cross-site page can neither read the token nor
//! set the header on a simple request, and SameSite=Lax keeps the cookie off cross-site POSTs
//! as a second line.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use blindfold_api::{CSRF_HEADER, Role, SECURE_SESSION_COOKIE, SESSION_COOKIE};
use subtle::ConstantTimeEq;

use crate::routes::error::ApiError;
use crate::services::ServiceResult;
use crate::services::accounts::sessions::Session;
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

/// The logged-in user of a request, who must be a model owner: as [`CurrentUser`], then 403
/// for anyone else. The role is read with the session, so a grant or a revocation applies
/// from the next request on.
#[derive(Debug, Clone)]
pub struct CurrentOwner(pub Session);

impl std::ops::Deref for CurrentOwner {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

/// Why a user who is not an owner is refused.
pub const NOT_AN_OWNER: &str = "only model owners may do this; an administrator grants the role with \
                                `blindfold-server grant-owner USERNAME`";

impl FromRequestParts<AppState> for CurrentOwner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let CurrentUser(session) = CurrentUser::from_request_parts(parts, state).await?;
        if session.role != Role::Owner {
            return Err(ApiError::Forbidden(NOT_AN_OWNER));
        }
        Ok(Self(session))
    }
}

/// The session cookie's name: only the `__Host-` one is read when cookies are secure, or a
/// cookie planted under the plain name would be believed.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.settings.secure_cookies {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build((cookie_name(state), token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.secure_cookies)
        .path("/")
        .max_age(state.accounts.sessions.lifetime())
        .build()
}

/// Clears the session cookie (with the attributes a `__Host-` cookie must carry to be set).
pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = Cookie::build((cookie_name(state), ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.secure_cookies)
        .path("/")
        .build();
    cookie.make_removal();
    cookie
}

/// The live session behind a request's cookie, if any.
pub async fn session_of(state: &AppState, jar: &CookieJar) -> ServiceResult<Option<Session>> {
    match jar.get(cookie_name(state)) {
        Some(cookie) => state.accounts.sessions.lookup(cookie.value()).await,
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let session = session_of(state, &jar)
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
