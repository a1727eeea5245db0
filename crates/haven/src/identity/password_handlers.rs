//! Changing one's own password: the current one is asked for, the new one must be
//! strong, and every other session of the account ends.

use askama::Template;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;

use super::auth::Identity;
use super::password::check_strength;
use super::service::event;
use super::session::{self, EndReason};
use super::store;
use crate::actor::Actor;
use crate::actor::RequestMeta;
use crate::compliance::audit::{self, Outcome};
use crate::error::{Error, FieldError, FieldErrors};
use crate::platform::tenancy::Tenant;
use crate::state::AppState;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/account/password", page)
        .add(Access::Full, Method::POST, "/account/password", form)
        .add(Access::Full, Method::POST, "/api/v1/auth/password", api)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    current_password: String,
    new_password: String,
    /// Pages ask for it twice; the API may leave it out.
    new_password_confirmation: Option<String>,
}

/// What a password change ended: the other sessions and every API token.
struct Ended {
    sessions: u64,
    api_tokens: u64,
}

async fn change(
    state: &AppState,
    tenant: &Tenant,
    meta: &RequestMeta,
    identity: &Identity,
    change: &Change,
) -> Result<Ended, Error> {
    identity.session_only("Passwords are changed")?;
    let user = store::find(&tenant.pool, identity.user.id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let mut problems = Vec::new();
    let current = state
        .passwords
        .verify(&change.current_password, user.password_hash.as_deref())
        .await
        .map_err(|e| Error::internal(e.into()))?;
    if !current.matches {
        problems.push(FieldError::new("current_password", "is not your current password"));
    }
    if let Err(weak) = check_strength(&change.new_password, &[&user.email, &user.display_name]) {
        problems.push(FieldError::new("new_password", weak.0));
    }
    if change
        .new_password_confirmation
        .as_deref()
        .is_some_and(|c| c != change.new_password)
    {
        problems.push(FieldError::new(
            "new_password_confirmation",
            "does not match the new password",
        ));
    }
    if !problems.is_empty() {
        let (kind, actor) = identity.audit_actor();
        if !current.matches {
            tenant
                .audit
                .record(event(meta, &state.clock, "auth.password_change_failed", Outcome::Denied).actor(kind, actor))
                .await?;
        }
        return Err(Error::Invalid(problems));
    }
    let hash = state
        .passwords
        .hash(&change.new_password)
        .await
        .map_err(|e| Error::internal(e.into()))?;
    let now = state.clock.now();
    let mut tx = tenant.pool.begin().await?;
    store::set_password(&mut *tx, user.id, &hash, now).await?;
    let sessions = session::end_all(&mut *tx, user.id, identity.session_id(), EndReason::PasswordReset, now).await?;
    let api_tokens = super::api_token::revoke_all(&mut *tx, user.id, now).await?;
    let (kind, actor) = identity.audit_actor();
    audit::stage(
        &mut tx,
        &event(meta, &state.clock, "auth.password_change", Outcome::Allowed)
            .actor(kind, actor)
            .resource("user", user.id.to_string()),
    )
    .await?;
    tx.commit().await?;
    tenant.tokens.forget();
    tenant.audit.nudge();
    Ok(Ended { sessions, api_tokens })
}

/// Change your password. Other sessions end and every API token is revoked; this session stays.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = Change, security(("session" = [])),
    responses((status = 200, description = "Changed; `other_sessions_ended` and `api_tokens_revoked` say how many", body = Changed),
              (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
              (status = 422, description = "Wrong current password or a weak new one", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn api(
    caller: Actor,
    crate::web::json::ApiJson(body): crate::web::json::ApiJson<Change>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    let ended = change(&state, &tenant, &meta, &identity, &body).await?;
    Ok(Json(Changed {
        status: "changed",
        other_sessions_ended: ended.sessions,
        api_tokens_revoked: ended.api_tokens,
    })
    .into_response())
}

/// The password changed; every other session ended and every API token revoked.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Changed {
    /// Always `changed`.
    #[schema(value_type = String)]
    status: &'static str,
    other_sessions_ended: u64,
    api_tokens_revoked: u64,
}

#[derive(Template)]
#[template(path = "identity/password.html")]
struct PasswordPage {
    chrome: Chrome,
    errors: FieldErrors,
    saved: bool,
}

async fn page(
    caller: Actor,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, Error> {
    let (state, tenant, _, identity) = caller.into_parts();
    render(&PasswordPage {
        chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
        errors: FieldErrors::default(),
        saved: query.contains_key("saved"),
    })
}

async fn form(caller: Actor, Form(body): Form<Change>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    let body = Change {
        new_password_confirmation: Some(body.new_password_confirmation.unwrap_or_default()),
        ..body
    };
    match change(&state, &tenant, &meta, &identity, &body).await {
        Ok(_) => Ok(Redirect::to("/account/password?saved").into_response()),
        Err(Error::Invalid(errors)) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordPage {
                chrome: Chrome::for_user(&state.modules, &tenant, &identity).await?,
                errors: errors.into(),
                saved: false,
            },
        ),
        Err(other) => Err(other),
    }
}
