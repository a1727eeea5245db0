//! Sign-in, second factor, sign-out and session pages and their JSON API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};

use serde::Deserialize;

use super::auth::{self, Identity};
use super::service::{self, NextStep, SignInError, SignOut};
use super::{Email, User, session, two_factor};
use crate::actor::Actor;
use crate::actor::RequestMeta;
use crate::compliance::audit::{self, EventFilter};
use crate::error::{Error, FieldError};
use crate::state::AppState;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::tenant::CurrentTenant;
use crate::web::time::{Style, show};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Public, Method::GET, "/sign-in", sign_in_page)
        .add(Access::Public, Method::POST, "/sign-in", sign_in_form)
        .add(Access::Public, Method::POST, "/api/v1/auth/sign-in", sign_in_api)
        .add(Access::SignedIn, Method::GET, "/sign-in/two-factor", second_factor_page)
        .add(
            Access::SignedIn,
            Method::POST,
            "/sign-in/two-factor",
            second_factor_form,
        )
        .add(
            Access::SignedIn,
            Method::POST,
            "/api/v1/auth/two-factor/verify",
            second_factor_api,
        )
        .add(Access::SignedIn, Method::GET, "/account/two-factor", enrol_page)
        .add(Access::SignedIn, Method::POST, "/account/two-factor", enrol_form)
        .add(
            Access::SignedIn,
            Method::POST,
            "/api/v1/auth/two-factor/enrol",
            enrol_api,
        )
        .add(
            Access::SignedIn,
            Method::POST,
            "/api/v1/auth/two-factor/confirm",
            confirm_api,
        )
        .add(Access::SignedIn, Method::POST, "/sign-out", sign_out_form)
        .add(Access::SignedIn, Method::POST, "/api/v1/auth/sign-out", sign_out_api)
        .add(Access::Full, Method::GET, "/account", account_page)
        .add(Access::Full, Method::GET, "/account/sessions", sessions_page)
        .add(
            Access::Full,
            Method::POST,
            "/account/sessions/{id}/end",
            end_session_form,
        )
        .add(Access::Full, Method::POST, "/account/sessions/end-all", end_all_form)
        .add(Access::Full, Method::GET, "/api/v1/me", me_api)
        .add(Access::Full, Method::GET, "/api/v1/auth/sessions", sessions_api)
        .add(
            Access::Full,
            Method::DELETE,
            "/api/v1/auth/sessions/{id}",
            end_session_api,
        )
        .add(
            Access::Full,
            Method::POST,
            "/api/v1/auth/sign-out-everywhere",
            end_all_api,
        )
}

/// Only a path on this site: never `//elsewhere` or a full URL.
/// Where to land after signing in: the page asked for when it is one of Haven's, else home.
fn safe_next(next: Option<&str>) -> String {
    next.and_then(crate::web::redirect::local_path)
        .unwrap_or("/")
        .to_owned()
}

#[derive(Template)]
#[template(path = "identity/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    email: String,
    next: String,
    presession: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
    notice: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "signed_out" => Some("You are signed out."),
        "signed_out_everywhere" => Some("You are signed out on every device."),
        "expired" => Some("Your session ended. Sign in again to continue."),
        "password_set" => Some("Your password is saved. Sign in with it now."),
        _ => None,
    }
}

async fn sign_in_page(
    CurrentTenant(tenant): CurrentTenant,
    meta: RequestMeta,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<SignInQuery>,
) -> Result<Response, Error> {
    let (presession, set_cookie) = auth::presession(&headers, meta.https)?;
    let page = SignInPage {
        chrome: Chrome::anonymous(&tenant.record.display_name),
        email: String::new(),
        next: safe_next(query.next.as_deref()),
        presession,
        error: None,
        notice: notice_text(query.notice.as_deref()),
    };
    let mut response = render(&page)?;
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

async fn sign_in_form(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    meta: RequestMeta,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, Error> {
    let expected = auth::check_presession(&headers, form.csrf.as_deref())?;
    let next = safe_next(form.next.as_deref());
    let previous = auth::session_token(&headers, meta.https);
    let outcome = service::sign_in(
        &tenant,
        &state.passwords,
        &state.clock,
        &meta,
        &form.email,
        &form.password,
        previous.as_deref(),
    )
    .await;
    match outcome {
        Ok(signed_in) => {
            let target = match signed_in.next {
                NextStep::Done => next,
                NextStep::SecondFactor => "/sign-in/two-factor".to_owned(),
                NextStep::Enrol => "/account/two-factor".to_owned(),
            };
            let mut response = Redirect::to(&target).into_response();
            if let Some(cookie) = auth::session_cookie(&signed_in.session_token, meta.https) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        Err(err) => {
            let (status, message) = sign_in_failure(&err)?;
            let page = SignInPage {
                chrome: Chrome::anonymous(&tenant.record.display_name),
                email: form.email.trim().chars().take(254).collect(),
                next,
                presession: expected,
                error: Some(message),
                notice: None,
            };
            render_with_status(status, &page)
        }
    }
}

/// The status and message people see for a failed sign-in; other errors pass through.
fn sign_in_failure(err: &SignInError) -> Result<(StatusCode, String), Error> {
    match err {
        SignInError::InvalidCredentials => Ok((StatusCode::UNAUTHORIZED, "Email or password is incorrect.".to_owned())),
        SignInError::InvalidCode => Ok((
            StatusCode::UNAUTHORIZED,
            "That code is not valid. Check the app and try again.".to_owned(),
        )),
        SignInError::Locked { minutes } => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed attempts. Try again in {minutes} minute{}, or ask an administrator to unlock your account.",
                if *minutes == 1 { "" } else { "s" }
            ),
        )),
        SignInError::Password(super::password::PasswordError::Busy) => Err(Error::Unavailable {
            code: "busy",
            message: "Sign-in is busy; try again in a moment.".to_owned(),
            details: None,
        }),
        SignInError::Audit(err) => Err(Error::from(crate::compliance::audit::AuditError::Unavailable(
            err.to_string(),
        ))),
        SignInError::Database(_) | SignInError::Password(_) | SignInError::Random(_) | SignInError::Sealing(_) => {
            Err(Error::internal(anyhow::anyhow!(err.to_string())))
        }
    }
}

fn sign_in_error(err: &SignInError) -> Error {
    match sign_in_failure(err) {
        Ok((StatusCode::TOO_MANY_REQUESTS, message)) => Error::RateLimited {
            message,
            retry_after_secs: 60,
        },
        Ok((_, message)) => Error::Rejected {
            code: if matches!(err, SignInError::InvalidCode) {
                "invalid_code"
            } else {
                "invalid_credentials"
            },
            message,
        },
        Err(web) => web,
    }
}

/// A session begun: what to do next, and the CSRF token unsafe requests of this session
/// carry in `X-CSRF-Token`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SignedIn {
    /// Always `signed_in`.
    #[schema(value_type = String)]
    status: &'static str,
    next_step: NextStep,
    session_id: session::SessionId,
    display_name: String,
    csrf_token: String,
}

/// A step done: `signed_in`, `signed_out` or `enabled`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Done {
    #[schema(value_type = String)]
    status: &'static str,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInJson {
    email: String,
    password: String,
}

/// Sign in with email and password. Sets the session cookie; returns the session's CSRF token and the next step (`done`, `second_factor` or `enrol`).
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "auth", request_body = SignInJson, responses((status = 200, description = "Signed in (possibly awaiting the second factor)", body = SignedIn), (status = 401, description = "`invalid_credentials`: email or password is incorrect", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope), (status = 429, description = "`rate_limited`: locked after failed attempts", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn sign_in_api(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    meta: RequestMeta,
    headers: HeaderMap,
    crate::web::json::ApiJson(body): crate::web::json::ApiJson<SignInJson>,
) -> Result<Response, Error> {
    let mut problems = Vec::new();
    if let Err(problem) = Email::parse(&body.email) {
        problems.push(FieldError::new("email", problem));
    }
    if body.password.is_empty() {
        problems.push(FieldError::new("password", "is required"));
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let previous = auth::session_token(&headers, meta.https);
    let signed_in = service::sign_in(
        &tenant,
        &state.passwords,
        &state.clock,
        &meta,
        &body.email,
        &body.password,
        previous.as_deref(),
    )
    .await
    .map_err(|err| sign_in_error(&err))?;
    let body = SignedIn {
        status: "signed_in",
        next_step: signed_in.next,
        session_id: signed_in.session_id,
        display_name: signed_in.display_name,
        csrf_token: auth::csrf_token_for(&signed_in.session_token),
    };
    let mut response = Json(body).into_response();
    if let Some(cookie) = auth::session_cookie(&signed_in.session_token, meta.https) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "identity/second_factor.html")]
struct SecondFactorPage {
    chrome: Chrome,
    error: Option<String>,
}

async fn second_factor_page(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, _, identity) = caller.into_parts();
    if !identity.session.as_ref().is_some_and(|s| s.needs_second_factor) {
        return Ok(Redirect::to("/").into_response());
    }
    render(&SecondFactorPage {
        chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
        error: None,
    })
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

async fn second_factor_form(caller: Actor, Form(form): Form<CodeForm>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    if !identity.session.as_ref().is_some_and(|s| s.needs_second_factor) {
        return Ok(Redirect::to("/").into_response());
    }
    match service::verify_second_factor(
        &tenant,
        &state.vault.keyring(&tenant.record),
        &state.clock,
        &meta,
        &identity,
        &form.code,
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/").into_response()),
        Err(err) => {
            let (status, message) = sign_in_failure(&err)?;
            render_with_status(
                status,
                &SecondFactorPage {
                    chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
                    error: Some(message),
                },
            )
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeJson {
    code: String,
}

/// Complete sign-in with a TOTP code or a recovery code.
#[utoipa::path(post, path = "/api/v1/auth/two-factor/verify", tag = "auth", request_body = CodeJson, security(("session" = [])), responses((status = 200, description = "Fully signed in", body = Done), (status = 401, description = "`invalid_code`", body = crate::web::openapi::ErrorEnvelope), (status = 409, description = "This session needs no code", body = crate::web::openapi::ErrorEnvelope), (status = 429, description = "Too many wrong codes", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn second_factor_api(
    caller: Actor,
    crate::web::json::ApiJson(body): crate::web::json::ApiJson<CodeJson>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    if !identity.session.as_ref().is_some_and(|s| s.needs_second_factor) {
        return Err(Error::conflict("This session needs no verification code.".to_owned()));
    }
    service::verify_second_factor(
        &tenant,
        &state.vault.keyring(&tenant.record),
        &state.clock,
        &meta,
        &identity,
        &body.code,
    )
    .await
    .map_err(|err| sign_in_error(&err))?;
    Ok(Json(Done { status: "signed_in" }).into_response())
}

#[derive(Template)]
#[template(path = "identity/enrol.html")]
struct EnrolPage {
    chrome: Chrome,
    qr_svg: String,
    manual_key: String,
    required: bool,
    error: Option<String>,
}

/// Enrolment is for people without a second factor, or in a session that passed it.
fn may_enrol(identity: &Identity) -> bool {
    identity.session.as_ref().is_some_and(|s| !s.needs_second_factor)
}

async fn enrol_page(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, _, identity) = caller.into_parts();
    if !may_enrol(&identity) {
        return Ok(Redirect::to("/sign-in/two-factor").into_response());
    }
    let enrolment = service::enrolment(&tenant, &state.vault.keyring(&tenant.record), &state.clock, &identity)
        .await
        .map_err(|e| Error::internal(e.into()))?;
    render(&EnrolPage {
        chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
        qr_svg: enrolment.qr_svg,
        manual_key: enrolment.manual_key,
        required: identity.session.as_ref().is_some_and(|s| s.needs_enrolment),
        error: None,
    })
}

#[derive(Template)]
#[template(path = "identity/recovery_codes.html")]
struct RecoveryCodesPage {
    chrome: Chrome,
    codes: Vec<String>,
}

async fn enrol_form(caller: Actor, Form(form): Form<CodeForm>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    if !may_enrol(&identity) {
        return Ok(Redirect::to("/sign-in/two-factor").into_response());
    }
    match service::confirm_enrolment(
        &tenant,
        &state.vault.keyring(&tenant.record),
        &state.clock,
        &meta,
        &identity,
        &form.code,
    )
    .await
    {
        Ok(codes) => render(&RecoveryCodesPage {
            chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
            codes,
        }),
        Err(SignInError::InvalidCode) => {
            let enrolment = service::enrolment(&tenant, &state.vault.keyring(&tenant.record), &state.clock, &identity)
                .await
                .map_err(|e| Error::internal(e.into()))?;
            render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &EnrolPage {
                    chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
                    qr_svg: enrolment.qr_svg,
                    manual_key: enrolment.manual_key,
                    required: identity.session.as_ref().is_some_and(|s| s.needs_enrolment),
                    error: Some(
                        "That code is not valid. Check the time on your phone and try the newest code.".to_owned(),
                    ),
                },
            )
        }
        Err(err) => Err(sign_in_error(&err)),
    }
}

/// Start (or show) TOTP enrolment: the otpauth URL, the key in base32, and a QR code as SVG.
#[utoipa::path(post, path = "/api/v1/auth/two-factor/enrol", tag = "auth", security(("session" = [])), responses((status = 200, description = "The pending enrolment", body = Enrolment), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn enrol_api(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, _, identity) = caller.into_parts();
    if !may_enrol(&identity) {
        return Err(Error::Forbidden {
            code: "second_factor_required",
            message: "Enter your current verification code first.".to_owned(),
        });
    }
    let enrolment = service::enrolment(&tenant, &state.vault.keyring(&tenant.record), &state.clock, &identity)
        .await
        .map_err(|e| Error::internal(e.into()))?;
    Ok(Json(Enrolment {
        otpauth_url: enrolment.otpauth_url,
        manual_key: enrolment.manual_key,
        qr_svg: enrolment.qr_svg,
    })
    .into_response())
}

/// A pending enrolment: the `otpauth://` URL, its key in base32, and a QR code as SVG.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Enrolment {
    otpauth_url: String,
    manual_key: String,
    qr_svg: String,
}

/// Two-step verification turned on, with ten one-time recovery codes, shown once.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Enabled {
    /// Always `enabled`.
    #[schema(value_type = String)]
    status: &'static str,
    recovery_codes: Vec<String>,
}

/// Confirm enrolment with a code from the app; returns ten one-time recovery codes, shown once.
#[utoipa::path(post, path = "/api/v1/auth/two-factor/confirm", tag = "auth", request_body = CodeJson, security(("session" = [])), responses((status = 200, description = "Two-step verification is on", body = Enabled), (status = 401, description = "`invalid_code`", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn confirm_api(
    caller: Actor,
    crate::web::json::ApiJson(body): crate::web::json::ApiJson<CodeJson>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    if !may_enrol(&identity) {
        return Err(Error::Forbidden {
            code: "second_factor_required",
            message: "Enter your current verification code first.".to_owned(),
        });
    }
    let codes = service::confirm_enrolment(
        &tenant,
        &state.vault.keyring(&tenant.record),
        &state.clock,
        &meta,
        &identity,
        &body.code,
    )
    .await
    .map_err(|err| sign_in_error(&err))?;
    Ok(Json(Enabled {
        status: "enabled",
        recovery_codes: codes,
    })
    .into_response())
}

fn signed_out(to: &str, https: bool) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Some(clear) = auth::clear_session_cookie(https) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

async fn sign_out_form(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    service::sign_out(&tenant, &state.clock, &meta, &identity, SignOut::This)
        .await
        .map_err(|err| sign_in_error(&err))?;
    Ok(signed_out("/sign-in?notice=signed_out", meta.https))
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "auth", security(("session" = [])), responses((status = 200, description = "Signed out; the cookie is cleared", body = Done), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn sign_out_api(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    service::sign_out(&tenant, &state.clock, &meta, &identity, SignOut::This)
        .await
        .map_err(|err| sign_in_error(&err))?;
    let mut response = Json(Done { status: "signed_out" }).into_response();
    if let Some(clear) = auth::clear_session_cookie(meta.https) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}

struct SignInEntry {
    what: &'static str,
    when: String,
    device: String,
    address: String,
}

#[derive(Template)]
#[template(path = "identity/account.html")]
struct AccountPage {
    chrome: Chrome,
    user: User,
    recovery_left: i64,
    sign_ins: Vec<SignInEntry>,
}

fn describe_auth_action(action: &str) -> &'static str {
    match action {
        "auth.login" => "Signed in",
        "auth.login_failed" => "Failed sign-in",
        "auth.locked" => "Locked after failed sign-ins",
        "auth.second_factor" => "Verification code accepted",
        "auth.second_factor_failed" => "Wrong verification code",
        "auth.recovery_code_used" => "Recovery code used",
        "auth.second_factor_enrolled" => "Two-step verification turned on",
        "auth.logout" => "Signed out",
        "auth.logout_everywhere" => "Signed out everywhere",
        "auth.session_revoked" => "Signed out a device",
        _ => "Account activity",
    }
}

async fn account_page(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, _, identity) = caller.into_parts();
    let user = &identity.user;
    let events = audit::list_events(
        &tenant.pool,
        &EventFilter {
            actor_id: Some(user.id.to_string()),
            action_prefix: Some("auth.".to_owned()),
            ..EventFilter::default()
        },
        10,
    )
    .await?;
    let zone = tenant.settings().await?.time_zone;
    let sign_ins = events
        .into_iter()
        .map(|e| SignInEntry {
            what: describe_auth_action(&e.event.action),
            when: show(e.event.occurred_at, zone, Style::DateTime),
            device: e.event.user_agent.unwrap_or_else(|| "Unknown device".to_owned()),
            address: e.event.client_ip.unwrap_or_default(),
        })
        .collect();
    render(&AccountPage {
        chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
        user: user.clone(),
        recovery_left: two_factor::recovery_codes_left(&tenant.pool, user.id).await?,
        sign_ins,
    })
}

struct SessionEntry {
    id: super::session::SessionId,
    device: String,
    address: String,
    created: String,
    last_seen: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "identity/sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    sessions: Vec<SessionEntry>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn sessions_page(
    caller: Actor,
    axum::extract::Query(query): axum::extract::Query<NoticeQuery>,
) -> Result<Response, Error> {
    let (state, tenant, _, identity) = caller.into_parts();
    let current = identity.session_id();
    let zone = tenant.settings().await?.time_zone;
    let sessions = session::live_for_user(&tenant.pool, identity.user.id)
        .await?
        .into_iter()
        .map(|s| SessionEntry {
            id: s.id,
            device: s.device.unwrap_or_else(|| "Unknown device".to_owned()),
            address: s.client_ip.unwrap_or_default(),
            created: show(s.created_at, zone, Style::DateTime),
            last_seen: show(s.last_seen_at, zone, Style::DateTime),
            current: Some(s.id) == current,
        })
        .collect();
    render(&SessionsPage {
        chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
        sessions,
        notice: (query.notice.as_deref() == Some("ended")).then_some("That device is signed out."),
    })
}

async fn end_session_form(caller: Actor, Path(id): Path<super::session::SessionId>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    let ended = service::sign_out(&tenant, &state.clock, &meta, &identity, SignOut::Session(id))
        .await
        .map_err(|err| sign_in_error(&err))?;
    if ended == 0 {
        return Err(Error::NotFound);
    }
    Ok(Redirect::to("/account/sessions?notice=ended").into_response())
}

async fn end_all_form(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    service::sign_out(&tenant, &state.clock, &meta, &identity, SignOut::Everywhere)
        .await
        .map_err(|err| sign_in_error(&err))?;
    Ok(signed_out("/sign-in?notice=signed_out_everywhere", meta.https))
}

/// Who is signed in: id, email, name, roles, second factor.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("session" = []), ("bearer" = [])), responses((status = 200, description = "The signed-in person", body = Me), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn me_api(identity: Identity) -> Json<Me> {
    let session_id = identity.session_id();
    let user = identity.user;
    Json(Me {
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        roles: user.roles,
        second_factor: user.has_second_factor,
        session_id,
    })
}

/// The person signed in (or whose token this is).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    id: super::UserId,
    email: String,
    display_name: String,
    roles: Vec<super::Role>,
    /// A confirmed second factor exists.
    second_factor: bool,
    /// The session asking; null for an API token.
    session_id: Option<session::SessionId>,
}

/// A live session; `current` marks the one asking.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct LiveSession {
    #[serde(flatten)]
    session: session::SessionSummary,
    current: bool,
}

/// Your live sessions.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct LiveSessions {
    sessions: Vec<LiveSession>,
}

/// How many sessions ended.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SignedOutEverywhere {
    /// Always `signed_out`.
    #[schema(value_type = String)]
    status: &'static str,
    sessions_ended: u64,
}

/// Your live sessions, with device and address; `current` marks this one.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("session" = []), ("bearer" = [])), responses((status = 200, description = "Live sessions", body = LiveSessions), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn sessions_api(caller: Actor) -> Result<Response, Error> {
    caller.authorize(&crate::policy::Action::ManageOwnAccount).await?;
    let (_, tenant, _, identity) = caller.into_parts();
    let current = identity.session_id();
    let sessions = session::live_for_user(&tenant.pool, identity.user.id)
        .await?
        .into_iter()
        .map(|session| LiveSession {
            current: Some(session.id) == current,
            session,
        })
        .collect();
    Ok(Json(LiveSessions { sessions }).into_response())
}

/// Sign out one of your devices.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", params(("id" = uuid::Uuid, Path, description = "The session")), security(("session" = []), ("bearer" = [])), responses((status = 204, description = "Ended"), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 404, description = "No such live session of yours", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn end_session_api(
    caller: Actor,
    Path(id): Path<super::session::SessionId>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    identity.session_only("Sessions are ended")?;
    let ended = service::sign_out(&tenant, &state.clock, &meta, &identity, SignOut::Session(id))
        .await
        .map_err(|err| sign_in_error(&err))?;
    if ended == 0 {
        return Err(Error::NotFound);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sign out everywhere, this session included.
#[utoipa::path(post, path = "/api/v1/auth/sign-out-everywhere", tag = "auth", security(("session" = []), ("bearer" = [])), responses((status = 200, description = "How many sessions ended", body = SignedOutEverywhere), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn end_all_api(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    identity.session_only("Sessions are ended")?;
    let ended = service::sign_out(&tenant, &state.clock, &meta, &identity, SignOut::Everywhere)
        .await
        .map_err(|err| sign_in_error(&err))?;
    let mut response = Json(SignedOutEverywhere {
        status: "signed_out",
        sessions_ended: ended,
    })
    .into_response();
    if let Some(clear) = auth::clear_session_cookie(meta.https) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}
