//! Emailed one-time links: accepting an invitation and resetting a password. Both end in
//! choosing a password; a reset also ends every session of the account.

use askama::Template;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;

use super::email_token::{self, Purpose};
use super::password::check_strength;
use super::service::event;
use super::session::{self, EndReason};
use super::throttle::{self, ThrottleKey};
use super::{UserId, UserStatus, auth, store};
use crate::actor::RequestMeta;
use crate::compliance::audit::{self, ActorKind, Outcome};
use crate::error::{Error, FieldError, FieldErrors};
use crate::platform::tenancy::Tenant;
use crate::state::AppState;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::tenant::CurrentTenant;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Public, Method::GET, "/password-reset", reset_request_page)
        .add(Access::Public, Method::POST, "/password-reset", reset_request_form)
        .add(
            Access::Public,
            Method::POST,
            "/api/v1/auth/password-reset",
            reset_request_api,
        )
        .add(Access::Public, Method::GET, "/password-reset/{token}", reset_page)
        .add(Access::Public, Method::POST, "/password-reset/{token}", reset_form)
        .add(Access::Public, Method::GET, "/invitation/{token}", invitation_page)
        .add(Access::Public, Method::POST, "/invitation/{token}", invitation_form)
}

/// Sends (in the background, so the answer takes as long whether or not the account
/// exists) a reset link to an active account with this email.
pub async fn request_password_reset(
    state: &AppState,
    tenant: &Tenant,
    meta: &RequestMeta,
    email: &str,
) -> Result<(), Error> {
    let now = state.clock.now();
    // Bounded per address: a reset request is an email sent on someone's behalf.
    let key = ThrottleKey::account(&format!("reset-requests:{}", meta.client_ip));
    let attempt = throttle::attempt(&tenant.pool, &key, now, 10, chrono::TimeDelta::minutes(15)).await?;
    if matches!(attempt, throttle::Attempt::Locked { .. }) {
        return Err(Error::RateLimited {
            message: "Too many reset requests from this address; try again later.".to_owned(),
            retry_after_secs: 900,
        });
    }

    let Some(user) = store::find_by_email(&tenant.pool, email.trim()).await? else {
        return Ok(());
    };
    if user.status != UserStatus::Active {
        return Ok(());
    }
    let mut tx = tenant.pool.begin().await?;
    let token = email_token::issue(&mut tx, user.id, Purpose::PasswordReset, now).await?;
    audit::stage(
        &mut tx,
        &event(meta, &state.clock, "auth.password_reset_requested", Outcome::Allowed)
            .actor(ActorKind::Anonymous, None)
            .resource("user", user.id.to_string()),
    )
    .await?;
    tx.commit().await?;
    tenant.audit.nudge();

    let link = format!("{}/password-reset/{token}", state.config.link_base());
    let body = format!(
        "Someone asked to reset the password of your {} account on Haven.\n\n\
         To choose a new password, open this link within an hour:\n{link}\n\n\
         Choosing a new password signs you out everywhere and revokes your API tokens.\n\n\
         If it was not you, ignore this message: your password stays as it is.\n",
        tenant.record.display_name
    );
    let mailer = state.mailer.clone();
    let to = user.email.clone();
    tokio::spawn(async move {
        match mailer.send(&to, "Reset your Haven password", body).await {
            Ok(reply) => tracing::info!(smtp = %reply, "password reset email sent"),
            Err(err) => tracing::warn!(error = %err, "password reset email failed"),
        }
    });
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the link has expired or was used")]
    Invalid,
    #[error("the password is not accepted")]
    Weak(Vec<FieldError>),
    #[error(transparent)]
    Web(#[from] Error),
}

impl From<sqlx::Error> for LinkError {
    fn from(err: sqlx::Error) -> Self {
        Self::Web(err.into())
    }
}

/// Sets the password through a link, once. A reset ends every session of the account.
pub async fn redeem(
    state: &AppState,
    tenant: &Tenant,
    meta: &RequestMeta,
    token: &str,
    purpose: Purpose,
    password: &str,
    confirmation: &str,
) -> Result<UserId, LinkError> {
    let now = state.clock.now();
    let Some((token_id, user_id)) = email_token::check(&tenant.pool, token, purpose, now).await? else {
        return Err(LinkError::Invalid);
    };
    let user = store::find(&tenant.pool, user_id).await?.ok_or(LinkError::Invalid)?;
    let mut problems = Vec::new();
    if let Err(weak) = check_strength(password, &[&user.email, &user.display_name]) {
        problems.push(FieldError::new("password", weak.0));
    }
    if password != confirmation {
        problems.push(FieldError::new("password_confirmation", "does not match the password"));
    }
    if !problems.is_empty() {
        return Err(LinkError::Weak(problems));
    }
    let hash = state
        .passwords
        .hash(password)
        .await
        .map_err(|e| Error::internal(e.into()))?;
    let mut tx = tenant.pool.begin().await?;
    if !email_token::consume(&mut *tx, token_id, now).await? {
        return Err(LinkError::Invalid);
    }
    store::set_password(&mut *tx, user.id, &hash, now).await?;
    let action = match purpose {
        Purpose::Invitation => "user.invitation_accepted",
        Purpose::PasswordReset => {
            session::end_all(&mut *tx, user.id, None, EndReason::PasswordReset, now).await?;
            super::api_token::revoke_all(&mut *tx, user.id, now).await?;
            throttle::clear(&mut *tx, &ThrottleKey::account(&user.email)).await?;
            "auth.password_reset"
        }
    };
    audit::stage(
        &mut tx,
        &event(meta, &state.clock, action, Outcome::Allowed)
            .actor(ActorKind::User, Some(user.id.to_string()))
            .resource("user", user.id.to_string()),
    )
    .await?;
    tx.commit().await?;
    tenant.tokens.forget();
    tenant.audit.nudge();
    Ok(user.id)
}

#[derive(Template)]
#[template(path = "identity/reset_request.html")]
struct ResetRequestPage {
    chrome: Chrome,
    presession: String,
    sent: bool,
}

async fn reset_request_page(
    CurrentTenant(tenant): CurrentTenant,
    meta: RequestMeta,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (presession, cookie) = auth::presession(&headers, meta.https)?;
    let mut response = render(&ResetRequestPage {
        chrome: Chrome::anonymous(&tenant.record.display_name),
        presession,
        sent: false,
    })?;
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct ResetRequestForm {
    email: String,
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

async fn reset_request_form(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    meta: RequestMeta,
    headers: HeaderMap,
    Form(form): Form<ResetRequestForm>,
) -> Result<Response, Error> {
    let presession = auth::check_presession(&headers, form.csrf.as_deref())?;
    request_password_reset(&state, &tenant, &meta, &form.email).await?;
    render(&ResetRequestPage {
        chrome: Chrome::anonymous(&tenant.record.display_name),
        presession,
        sent: true,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequestJson {
    email: String,
}

/// Ask for a password-reset link by email. The same answer whether or not the account exists.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequestJson, responses((status = 202, description = "If the account exists, a link is on its way", body = crate::web::openapi::Accepted), (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn reset_request_api(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    meta: RequestMeta,
    crate::web::json::ApiJson(body): crate::web::json::ApiJson<ResetRequestJson>,
) -> Result<Response, Error> {
    if let Err(problem) = super::Email::parse(&body.email) {
        return Err(Error::Invalid(vec![FieldError::new("email", problem)]));
    }
    request_password_reset(&state, &tenant, &meta, &body.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(crate::web::openapi::Accepted {
            status: "accepted",
            message: "If an account exists for this address, a link is on its way.",
        }),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "identity/set_password.html")]
struct SetPasswordPage {
    chrome: Chrome,
    heading: &'static str,
    action: String,
    presession: String,
    errors: FieldErrors,
    link_invalid: bool,
}

impl SetPasswordPage {}

fn heading(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Invitation => "Welcome to Haven: choose your password",
        Purpose::PasswordReset => "Choose a new password",
    }
}

/// What a link's page and form need from the request: the organisation, where the
/// request came from, its headers (the pre-session cookie) and the link's token.
struct LinkRequest {
    state: AppState,
    tenant: Arc<Tenant>,
    meta: RequestMeta,
    headers: HeaderMap,
    token: String,
}

impl FromRequestParts<AppState> for LinkRequest {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let CurrentTenant(tenant) = CurrentTenant::from_request_parts(parts, state).await?;
        let meta = RequestMeta::from_request_parts(parts, state).await?;
        let Path(token) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        Ok(Self {
            state: state.clone(),
            tenant,
            meta,
            headers: parts.headers.clone(),
            token,
        })
    }
}

impl LinkRequest {
    /// The set-password page for this link.
    fn page(
        &self,
        purpose: Purpose,
        base: &str,
        presession: String,
        errors: FieldErrors,
        link_invalid: bool,
    ) -> SetPasswordPage {
        SetPasswordPage {
            chrome: Chrome::anonymous(&self.tenant.record.display_name),
            heading: heading(purpose),
            action: format!("{base}/{}", self.token),
            presession,
            errors,
            link_invalid,
        }
    }
}

async fn link_page(link: &LinkRequest, purpose: Purpose, base: &str) -> Result<Response, Error> {
    let valid = email_token::check(&link.tenant.pool, &link.token, purpose, link.state.clock.now())
        .await?
        .is_some();
    let (presession, cookie) = auth::presession(&link.headers, link.meta.https)?;
    let page = link.page(purpose, base, presession, FieldErrors::default(), !valid);
    let mut response = if valid {
        render(&page)?
    } else {
        render_with_status(StatusCode::GONE, &page)?
    };
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct SetPasswordForm {
    password: String,
    password_confirmation: String,
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

async fn link_form(link: &LinkRequest, purpose: Purpose, base: &str, form: SetPasswordForm) -> Result<Response, Error> {
    let presession = auth::check_presession(&link.headers, form.csrf.as_deref())?;
    let page = |errors: Vec<FieldError>, link_invalid: bool| {
        link.page(purpose, base, presession.clone(), errors.into(), link_invalid)
    };
    match redeem(
        &link.state,
        &link.tenant,
        &link.meta,
        &link.token,
        purpose,
        &form.password,
        &form.password_confirmation,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/sign-in?notice=password_set").into_response()),
        Err(LinkError::Invalid) => render_with_status(StatusCode::GONE, &page(Vec::new(), true)),
        Err(LinkError::Weak(errors)) => render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page(errors, false)),
        Err(LinkError::Web(err)) => Err(err),
    }
}

async fn reset_page(link: LinkRequest) -> Result<Response, Error> {
    link_page(&link, Purpose::PasswordReset, "/password-reset").await
}

async fn reset_form(link: LinkRequest, Form(form): Form<SetPasswordForm>) -> Result<Response, Error> {
    link_form(&link, Purpose::PasswordReset, "/password-reset", form).await
}

async fn invitation_page(link: LinkRequest) -> Result<Response, Error> {
    link_page(&link, Purpose::Invitation, "/invitation").await
}

async fn invitation_form(link: LinkRequest, Form(form): Form<SetPasswordForm>) -> Result<Response, Error> {
    link_form(&link, Purpose::Invitation, "/invitation", form).await
}
