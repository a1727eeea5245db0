//! Who is asking: the middleware in front of every route that is not on the public
//! allowlist, and the [`Identity`] handlers receive.
//!
//! - A session cookie (pages and browser API calls) or a bearer API token (scripts).
//! - No credentials: 401 envelope for `/api/`, a redirect to the sign-in page otherwise.
//! - Password accepted but the second factor pending (or the organisation requires one
//!   that the person has not set up): only the second-factor pages and sign-out.
//! - Every unsafe request made with a session cookie must carry the session's CSRF token
//!   (`X-CSRF-Token` header or `_csrf` form field); bearer-token calls are exempt.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use subtle::ConstantTimeEq as _;

use super::api_token;
use super::session::{self, Lookup, Session};
use super::{User, secret};
use crate::compliance::audit::ActorKind;
use crate::error::Error;
use crate::state::AppState;
use crate::web::tenant::CurrentTenant;

pub const SESSION_COOKIE: &str = "haven_session";
/// Over HTTPS the `__Host-` prefix pins the cookie to this host, path `/`, Secure.
pub const SECURE_SESSION_COOKIE: &str = "__Host-haven_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "_csrf";

/// The signed-in person and how they proved it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    pub session: Option<SessionInfo>,
    /// Set when a personal API token authenticated the request.
    pub api_token: Option<ApiTokenInfo>,
    /// The token for this session's unsafe requests (forms carry it as `_csrf`).
    pub csrf_token: Option<String>,
    /// Their organisation is the one whose help editors write the installation's help
    /// centre (`[help] editing_organisation`): help is shared by every organisation, so
    /// editing it is an installation-wide power.
    pub installation_help: bool,
}

#[derive(Debug, Clone)]
pub struct ApiTokenInfo {
    pub id: super::api_token::TokenId,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: super::session::SessionId,
    pub second_factor_done: bool,
    pub needs_second_factor: bool,
    pub needs_enrolment: bool,
}

impl Identity {
    /// Refuses an API token (403 `session_required`): for what is done only from a
    /// signed-in session (managing tokens, the password, ending sessions); `what` says
    /// what, for the message.
    pub fn session_only(&self, what: &str) -> Result<(), Error> {
        if self.api_token.is_some() {
            return Err(Error::Forbidden {
                code: "session_required",
                message: format!("{what} from a signed-in session, not with an API token."),
            });
        }
        Ok(())
    }

    /// Who the audit trail names: the token, when one was used, else the person.
    pub fn audit_actor(&self) -> (ActorKind, Option<String>) {
        match &self.api_token {
            Some(token) => (ActorKind::ApiToken, Some(token.id.to_string())),
            None => (ActorKind::User, Some(self.user.id.to_string())),
        }
    }

    pub fn session_id(&self) -> Option<super::session::SessionId> {
        self.session.as_ref().map(|s| s.id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<Identity>>()
            .map(|identity| Identity::clone(identity))
            .ok_or(Error::Unauthenticated)
    }
}

/// Which sessions a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Fully signed in, second factor included where one is set up or required.
    Full,
    /// Password accepted; the second factor may still be pending (its own pages, sign-out).
    SecondFactorPending,
}

/// The CSRF token of a session: derived from the session's secret token, which only the
/// browser holds (in an HttpOnly cookie), so a third-party page cannot know it.
pub fn csrf_token_for(session_token: &str) -> String {
    hex::encode(secret::digest(&format!("haven.csrf\0{session_token}")))
}

/// The session cookie's token. Over HTTPS only the host-bound `__Host-` cookie counts (a
/// plain-named one could have been planted by a sibling subdomain or a plain-HTTP page);
/// over plain HTTP only the plain name exists.
pub fn session_token(headers: &HeaderMap, https: bool) -> Option<String> {
    let name = if https { SECURE_SESSION_COOKIE } else { SESSION_COOKIE };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// `Set-Cookie` for a new session. HttpOnly, SameSite=Lax, and Secure over HTTPS.
pub fn session_cookie(token: &str, https: bool) -> Option<HeaderValue> {
    let name = if https { SECURE_SESSION_COOKIE } else { SESSION_COOKIE };
    let cookie = Cookie::build((name, token.to_owned()))
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie(https: bool) -> Option<HeaderValue> {
    let name = if https { SECURE_SESSION_COOKIE } else { SESSION_COOKIE };
    let cookie = Cookie::build((name, ""))
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

pub async fn require_full(State(state): State<AppState>, request: Request, next: Next) -> Response {
    authenticate(state, request, next, Gate::Full).await
}

pub async fn require_signed_in(State(state): State<AppState>, request: Request, next: Next) -> Response {
    authenticate(state, request, next, Gate::SecondFactorPending).await
}

async fn authenticate(state: AppState, mut request: Request, next: Next, gate: Gate) -> Response {
    let Some(CurrentTenant(tenant)) = request.extensions().get::<CurrentTenant>().cloned() else {
        return Error::internal(anyhow::anyhow!("authentication needs tenant resolution first")).into_response();
    };
    let path = request.uri().path().to_owned();
    let is_api = path.starts_with("/api/");
    let https = request
        .extensions()
        .get::<crate::web::edge::Transport>()
        .is_some_and(|t| t.https);

    let now = state.clock.now();
    if let Some(bearer) = bearer_token(request.headers()) {
        let installation_help = keeps_installation_help(&state.config, &tenant);
        return authenticate_bearer(&tenant, request, next, &bearer, is_api, now, installation_help).await;
    }
    let Some(token) = session_token(request.headers(), https) else {
        return unauthenticated(is_api, &path, None);
    };
    let session = match session::lookup(&tenant.pool, &secret::digest(&token), now).await {
        Ok(Lookup::Live(session)) => session,
        Ok(Lookup::Gone) => return unauthenticated(is_api, &path, clear_session_cookie(https)),
        Err(err) => return Error::from(err).into_response(),
    };
    let info = session_info(&session);
    if gate == Gate::Full && (info.needs_second_factor || info.needs_enrolment) {
        return second_factor_first(is_api, &info);
    }

    let csrf_token = csrf_token_for(&token);
    if is_unsafe(request.method()) {
        match csrf_matches(request, &csrf_token, state.config.request_body_limit.as_u64()).await {
            Ok(passed) => request = passed,
            Err(response) => return *response,
        }
    }
    request.extensions_mut().insert(Arc::new(Identity {
        user: session.user.clone(),
        session: Some(info),
        api_token: None,
        csrf_token: Some(csrf_token),
        installation_help: keeps_installation_help(&state.config, &tenant),
    }));
    next.run(request).await
}

/// Whether `tenant` is the organisation that keeps the installation's help centre.
pub fn keeps_installation_help(config: &crate::config::Config, tenant: &crate::platform::tenancy::Tenant) -> bool {
    tenant.record.slug.as_str() == config.help.editing_organisation
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// API tokens work on the API only, need no CSRF token (no browser sends them by itself),
/// and pass no second-factor gate (making one needed a fully signed-in session).
async fn authenticate_bearer(
    tenant: &crate::platform::tenancy::Tenant,
    mut request: Request,
    next: Next,
    bearer: &str,
    is_api: bool,
    now: chrono::DateTime<chrono::Utc>,
    installation_help: bool,
) -> Response {
    let refused = || {
        Error::Rejected {
            code: "invalid_token",
            message: "The API token is unknown, expired or revoked.".to_owned(),
        }
        .into_response()
    };
    if !is_api {
        return refused();
    }
    match api_token::authenticate(&tenant.pool, &tenant.tokens, bearer, now).await {
        Ok(Some(token)) => {
            request.extensions_mut().insert(Arc::new(Identity {
                user: token.user,
                session: None,
                api_token: Some(ApiTokenInfo {
                    id: token.id,
                    scopes: token.scopes,
                }),
                csrf_token: None,
                installation_help,
            }));
            next.run(request).await
        }
        Ok(None) => refused(),
        Err(err) => Error::from(err).into_response(),
    }
}

fn session_info(session: &Session) -> SessionInfo {
    let second_factor_done = session.second_factor_at.is_some();
    SessionInfo {
        id: session.id,
        second_factor_done,
        needs_second_factor: session.user.has_second_factor && !second_factor_done,
        needs_enrolment: session.settings.require_two_factor && !session.user.has_second_factor,
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn unauthenticated(is_api: bool, path: &str, clear: Option<HeaderValue>) -> Response {
    let mut response = if is_api {
        Error::Unauthenticated.into_response()
    } else {
        // Only the path comes along: query strings can hold search terms (PHI).
        Redirect::to(&format!("/sign-in?next={}", urlencode_path(path))).into_response()
    };
    if let Some(clear) = clear {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

fn second_factor_first(is_api: bool, info: &SessionInfo) -> Response {
    if is_api {
        return Error::Forbidden {
            code: "second_factor_required",
            message: if info.needs_enrolment {
                "Your organisation requires two-step verification: set it up first.".to_owned()
            } else {
                "Enter your verification code first.".to_owned()
            },
        }
        .into_response();
    }
    let target = if info.needs_enrolment {
        "/account/two-factor"
    } else {
        "/sign-in/two-factor"
    };
    Redirect::to(target).into_response()
}

fn urlencode_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Checks the CSRF token of an unsafe request: header, else `_csrf` in a urlencoded form
/// body (read and put back), else `_csrf` in the query (multipart uploads).
async fn csrf_matches(request: Request, expected: &str, body_limit: u64) -> Result<Request, Box<Response>> {
    let refuse = || {
        Box::new(
            Error::Forbidden {
                code: "csrf_failed",
                message: "This form has expired or did not come from Haven. Reload the page and try again.".to_owned(),
            }
            .into_response(),
        )
    };
    let equal = |given: &str| bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    if let Some(given) = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if equal(given) { Ok(request) } else { Err(refuse()) };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let (parts, body) = request.into_parts();
        let limit = usize::try_from(body_limit).unwrap_or(usize::MAX);
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return Err(Box::new(StatusCode::PAYLOAD_TOO_LARGE.into_response()));
        };
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let given = fields.iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.as_str());
        return match given {
            Some(given) if equal(given) => Ok(Request::from_parts(parts, Body::from(bytes))),
            _ => Err(refuse()),
        };
    }
    let from_query = request.uri().query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v)
    });
    match from_query {
        Some(given) if equal(&given) => Ok(request),
        _ => Err(refuse()),
    }
}

/// A double-submit token for public forms (sign-in, password reset, invitations), which
/// have no session to tie one to: a cookie and a hidden field that must match.
const PRESESSION_COOKIE: &str = "haven_presession";

fn presession_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == PRESESSION_COOKIE)
        .map(|c| c.value().to_owned())
}

/// The token for a public form, and the cookie to set when the browser has none yet.
pub fn presession(headers: &HeaderMap, https: bool) -> Result<(String, Option<HeaderValue>), Error> {
    if let Some(existing) = presession_token(headers) {
        return Ok((existing, None));
    }
    let issued = secret::issue("").map_err(|e| Error::internal(anyhow::anyhow!(e.to_string())))?;
    let cookie = Cookie::build((PRESESSION_COOKIE, issued.value.clone()))
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Strict)
        .build();
    Ok((issued.value, HeaderValue::from_str(&cookie.to_string()).ok()))
}

/// Checks a public form's token against its cookie; returns the token.
pub fn check_presession(headers: &HeaderMap, given: Option<&str>) -> Result<String, Error> {
    match (presession_token(headers), given) {
        (Some(expected), Some(given))
            if !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes())) =>
        {
            Ok(expected)
        }
        _ => Err(Error::Forbidden {
            code: "csrf_failed",
            message: "This form has expired. Reload the page and try again.".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_http_only_lax_and_secure_over_https() {
        let plain = session_cookie("tok", false).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("haven_session=tok"), "{plain}");
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax") && plain.contains("Path=/"));
        assert!(!plain.contains("Secure"));
        let secure = session_cookie("tok", true).unwrap();
        let secure = secure.to_str().unwrap();
        assert!(
            secure.starts_with("__Host-haven_session=tok") && secure.contains("Secure"),
            "{secure}"
        );
    }

    #[test]
    fn the_csrf_token_depends_on_the_session() {
        assert_ne!(csrf_token_for("a"), csrf_token_for("b"));
        assert_eq!(csrf_token_for("a"), csrf_token_for("a"));
    }

    #[test]
    fn redirects_keep_only_a_clean_path() {
        assert_eq!(urlencode_path("/clients/1 2"), "/clients/1%202");
        assert_eq!(urlencode_path("/a?b=c"), "/a%3Fb%3Dc");
    }
}
