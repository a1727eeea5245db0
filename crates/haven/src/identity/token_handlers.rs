//! Managing personal API tokens: from a signed-in session only (a token cannot make
//! tokens), shown once at creation.

use askama::Template;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::TimeDelta;
use serde::Deserialize;

use super::api_token::{self, MAX_DAYS, TokenSummary};
use super::auth::Identity;
use super::service::event;
use crate::actor::Actor;
use crate::actor::RequestMeta;
use crate::compliance::audit::{self, Outcome};
use crate::error::{Error, FieldError, FieldErrors};
use crate::platform::tenancy::Tenant;
use crate::state::AppState;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::filters;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/account/tokens", tokens_page)
        .add(Access::Full, Method::POST, "/account/tokens", create_form)
        .add(Access::Full, Method::POST, "/account/tokens/{id}/revoke", revoke_form)
        .add(Access::Full, Method::GET, "/api/v1/auth/tokens", list_api)
        .add(Access::Full, Method::POST, "/api/v1/auth/tokens", create_api)
        .add(Access::Full, Method::DELETE, "/api/v1/auth/tokens/{id}", revoke_api)
}

pub struct NewToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub days: i64,
}

fn validate(name: &str, scopes: &[String], days: Option<i64>) -> Result<NewToken, Vec<FieldError>> {
    let mut problems = Vec::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        problems.push(FieldError::new("name", "must have 1 to 100 characters"));
    }
    if scopes.is_empty() {
        problems.push(FieldError::new("scopes", "must name at least one scope"));
    } else if let Some(unknown) = scopes.iter().find(|s| crate::policy::Scope::parse(s).is_none()) {
        problems.push(FieldError::new("scopes", format!("`{unknown}` is not a scope")));
    }
    let days = days.unwrap_or(90);
    if !(1..=MAX_DAYS).contains(&days) {
        problems.push(FieldError::new(
            "expires_in_days",
            format!("must be between 1 and {MAX_DAYS}"),
        ));
    }
    if problems.is_empty() {
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        Ok(NewToken {
            name: name.to_owned(),
            scopes,
            days,
        })
    } else {
        Err(problems)
    }
}

async fn create(
    state: &AppState,
    tenant: &Tenant,
    meta: &RequestMeta,
    identity: &Identity,
    new: &NewToken,
) -> Result<(api_token::TokenId, String, chrono::DateTime<chrono::Utc>), Error> {
    let now = state.clock.now();
    let mut tx = tenant.pool.begin().await?;
    let (id, token, expires_at) = api_token::create(
        &mut *tx,
        identity.user.id,
        &new.name,
        &new.scopes,
        now,
        TimeDelta::days(new.days),
    )
    .await?;
    let (kind, actor) = identity.audit_actor();
    let mut created = event(meta, &state.clock, "token.create", Outcome::Allowed)
        .actor(kind, actor)
        .resource("api_token", id.to_string());
    created.reason = Some(new.scopes.join(" "));
    audit::stage(&mut tx, &created).await?;
    tx.commit().await?;
    tenant.audit.nudge();
    Ok((id, token, expires_at))
}

async fn revoke(
    state: &AppState,
    tenant: &Tenant,
    meta: &RequestMeta,
    identity: &Identity,
    id: api_token::TokenId,
) -> Result<(), Error> {
    let mut tx = tenant.pool.begin().await?;
    if !api_token::revoke(&mut *tx, identity.user.id, id, state.clock.now()).await? {
        return Err(Error::NotFound);
    }
    let (kind, actor) = identity.audit_actor();
    audit::stage(
        &mut tx,
        &event(meta, &state.clock, "token.revoke", Outcome::Allowed)
            .actor(kind, actor)
            .resource("api_token", id.to_string()),
    )
    .await?;
    tx.commit().await?;
    tenant.tokens.forget();
    tenant.audit.nudge();
    Ok(())
}

struct ScopeChoice {
    name: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "identity/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenSummary>,
    scopes: Vec<ScopeChoice>,
    new_token: Option<String>,
    errors: FieldErrors,
}

async fn page(
    state: &AppState,
    tenant: &Tenant,
    identity: &Identity,
    new_token: Option<String>,
    errors: FieldErrors,
) -> Result<TokensPage, Error> {
    Ok(TokensPage {
        chrome: Chrome::for_user(&state.modules, tenant, identity).await?,
        tokens: api_token::list_live(&tenant.pool, identity.user.id, state.clock.now()).await?,
        scopes: state
            .modules
            .scopes()
            .map(|(scope, label)| ScopeChoice {
                name: scope.as_str(),
                label,
            })
            .collect(),
        new_token,
        errors,
    })
}

async fn tokens_page(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, _, identity) = caller.into_parts();
    identity.session_only("API tokens are managed")?;
    render(&page(&state, &tenant, &identity, None, FieldErrors::default()).await?)
}

async fn create_form(caller: Actor, Form(fields): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    identity.session_only("API tokens are managed")?;
    let value = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let scopes: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "scopes")
        .map(|(_, v)| v.clone())
        .collect();
    let days = value("expires_in_days").and_then(|d| d.trim().parse().ok());
    match validate(&value("name").unwrap_or_default(), &scopes, days) {
        Ok(new) => {
            let (_, token, _) = create(&state, &tenant, &meta, &identity, &new).await?;
            render(&page(&state, &tenant, &identity, Some(token), FieldErrors::default()).await?)
        }
        Err(errors) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(&state, &tenant, &identity, None, errors.into()).await?,
        ),
    }
}

async fn revoke_form(caller: Actor, Path(id): Path<api_token::TokenId>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    identity.session_only("API tokens are managed")?;
    revoke(&state, &tenant, &meta, &identity, id).await?;
    Ok(Redirect::to("/account/tokens").into_response())
}

/// Your live API tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "tokens", security(("session" = [])), responses((status = 200, description = "Live tokens", body = Tokens), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn list_api(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, _, identity) = caller.into_parts();
    identity.session_only("API tokens are managed")?;
    let tokens = api_token::list_live(&tenant.pool, identity.user.id, state.clock.now()).await?;
    Ok(Json(Tokens { tokens }).into_response())
}

/// Your live API tokens (never their secrets).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Tokens {
    tokens: Vec<api_token::TokenSummary>,
}

/// A new token: its secret `token` is shown only now.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct MadeToken {
    id: api_token::TokenId,
    name: String,
    scopes: Vec<String>,
    expires_at: chrono::DateTime<chrono::Utc>,
    /// The secret, `hvn_…`: send it as `Authorization: Bearer …`.
    token: String,
    #[schema(value_type = String)]
    note: &'static str,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateJson {
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<i64>,
}

/// Create a token. It is in the answer once and never again.
#[utoipa::path(post, path = "/api/v1/auth/tokens", tag = "tokens", request_body = CreateJson, security(("session" = [])), responses((status = 201, description = "The token, shown once", body = MadeToken), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn create_api(
    caller: Actor,
    crate::web::json::ApiJson(body): crate::web::json::ApiJson<CreateJson>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    identity.session_only("API tokens are managed")?;
    let new = validate(&body.name, &body.scopes, body.expires_in_days).map_err(Error::Invalid)?;
    let (id, token, expires_at) = create(&state, &tenant, &meta, &identity, &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(MadeToken {
            id,
            name: new.name,
            scopes: new.scopes,
            expires_at,
            token,
            note: "The token is shown only now; store it safely.",
        }),
    )
        .into_response())
}

/// Revoke one of your tokens.
#[utoipa::path(delete, path = "/api/v1/auth/tokens/{id}", tag = "tokens", params(("id" = uuid::Uuid, Path, description = "The token")), security(("session" = [])), responses((status = 204, description = "Revoked"), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 404, description = "No such live token of yours", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn revoke_api(caller: Actor, Path(id): Path<api_token::TokenId>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    identity.session_only("API tokens are managed")?;
    revoke(&state, &tenant, &meta, &identity, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
