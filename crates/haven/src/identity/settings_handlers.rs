//! The organisation's security policy, for organisation admins: two-step verification
//! for everyone, idle timeout, session lifetime, lockout. Each change is audited.

use askama::Template;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};

use super::auth::Identity;
use super::service::event;
use super::store::SecuritySettings;
use crate::actor::Actor;
use crate::actor::RequestMeta;
use crate::compliance::audit::{self, Outcome};
use crate::error::{Error, FieldError, FieldErrors};
use crate::platform::tenancy::Tenant;
use crate::policy::{self, Action};
use crate::state::AppState;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/admin/security", page)
        .add(Access::Full, Method::POST, "/admin/security", form)
        .add(Access::Full, Method::GET, "/api/v1/organisation/security", get_api)
        .add(Access::Full, Method::PUT, "/api/v1/organisation/security", put_api)
}

/// The limits the table enforces, checked first so each field gets its own message.
fn validate(settings: &SecuritySettings) -> Result<(), Vec<FieldError>> {
    let mut problems = Vec::new();
    let mut within = |field: &'static str, value: i32, low: i32, high: i32| {
        if !(low..=high).contains(&value) {
            problems.push(FieldError::new(field, format!("must be between {low} and {high}")));
        }
    };
    within("idle_timeout_minutes", settings.idle_timeout_minutes, 1, 720);
    within("session_lifetime_hours", settings.session_lifetime_hours, 1, 168);
    within("lockout_threshold", settings.lockout_threshold, 3, 50);
    within("lockout_minutes", settings.lockout_minutes, 1, 1440);
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

async fn save(
    state: &AppState,
    tenant: &Tenant,
    meta: &RequestMeta,
    identity: &Identity,
    settings: &SecuritySettings,
) -> Result<(), Error> {
    validate(settings).map_err(Error::Invalid)?;
    let mut tx = tenant.pool.begin().await?;
    crate::organisation::store::set_security(&mut *tx, settings).await?;
    let (kind, actor) = identity.audit_actor();
    let mut change = event(meta, &state.clock, "organisation.security_update", Outcome::Allowed)
        .actor(kind, actor)
        .resource("organisation", "security");
    change.reason = Some(format!(
        "two_factor={} idle={}m lifetime={}h lockout={}/{}m grants_need_approval={}",
        settings.require_two_factor,
        settings.idle_timeout_minutes,
        settings.session_lifetime_hours,
        settings.lockout_threshold,
        settings.lockout_minutes,
        settings.grants_need_approval
    ));
    audit::stage(&mut tx, &change).await?;
    tx.commit().await?;
    tenant.settings.forget();
    tenant.audit.nudge();
    Ok(())
}

/// The organisation's sign-in and session rules.
#[utoipa::path(get, path = "/api/v1/organisation/security", tag = "users", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "The rules", body = SecuritySettings), (status = 403, description = "Organisation admins only", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn get_api(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageOrganisation).await?;
    Ok(Json(tenant.settings().await?.security).into_response())
}

/// Replace the rules: `require_two_factor`, `idle_timeout_minutes` (1-720),
/// `session_lifetime_hours` (1-168), `lockout_threshold` (3-50), `lockout_minutes` (1-1440).
#[utoipa::path(put, path = "/api/v1/organisation/security", tag = "users", request_body = SecuritySettings, security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Saved", body = SavedSecurity), (status = 403, description = "Organisation admins only", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "A value is out of range", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn put_api(
    caller: Actor,
    crate::web::json::ApiJson(settings): crate::web::json::ApiJson<SecuritySettings>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageOrganisation).await?;
    save(&state, &tenant, &meta, &identity, &settings).await?;
    Ok(Json(SavedSecurity {
        status: "saved",
        settings,
    })
    .into_response())
}

/// The rules as saved.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SavedSecurity {
    /// Always `saved`.
    #[schema(value_type = String)]
    status: &'static str,
    settings: SecuritySettings,
}

struct NumberField {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: i32,
}

#[derive(Template)]
#[template(path = "identity/admin_security.html")]
struct SecurityPage {
    chrome: Chrome,
    settings: SecuritySettings,
    numbers: Vec<NumberField>,
    errors: FieldErrors,
    saved: bool,
}

fn numbers(settings: &SecuritySettings) -> Vec<NumberField> {
    let field = |name, label, hint, value| NumberField {
        name,
        label,
        hint,
        value,
    };
    vec![
        field(
            "idle_timeout_minutes",
            "Sign out after this many idle minutes",
            "1 to 720",
            settings.idle_timeout_minutes,
        ),
        field(
            "session_lifetime_hours",
            "Sign out after this many hours in any case",
            "1 to 168",
            settings.session_lifetime_hours,
        ),
        field(
            "lockout_threshold",
            "Lock an account name after this many failed sign-ins",
            "3 to 50",
            settings.lockout_threshold,
        ),
        field(
            "lockout_minutes",
            "Keep it locked for this many minutes",
            "1 to 1440",
            settings.lockout_minutes,
        ),
    ]
}

impl SecurityPage {
    fn new(chrome: Chrome, settings: SecuritySettings, errors: Vec<FieldError>, saved: bool) -> Self {
        Self {
            chrome,
            numbers: numbers(&settings),
            settings,
            errors: errors.into(),
            saved,
        }
    }
}

async fn page(
    caller: Actor,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageOrganisation).await?;
    let chrome = Chrome::for_user(&state.modules, &tenant, &identity).await?;
    let settings = tenant.settings().await?.security;
    render(&SecurityPage::new(
        chrome,
        settings,
        Vec::new(),
        query.contains_key("saved"),
    ))
}

async fn form(caller: Actor, Form(fields): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageOrganisation).await?;
    let number = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.trim().parse::<i32>().ok())
            .unwrap_or(-1)
    };
    let settings = SecuritySettings {
        require_two_factor: fields.iter().any(|(k, v)| k == "require_two_factor" && v == "on"),
        grants_need_approval: fields.iter().any(|(k, v)| k == "grants_need_approval" && v == "on"),
        idle_timeout_minutes: number("idle_timeout_minutes"),
        session_lifetime_hours: number("session_lifetime_hours"),
        lockout_threshold: number("lockout_threshold"),
        lockout_minutes: number("lockout_minutes"),
    };
    match save(&state, &tenant, &meta, &identity, &settings).await {
        Ok(()) => Ok(Redirect::to("/admin/security?saved").into_response()),
        Err(Error::Invalid(errors)) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SecurityPage::new(
                Chrome::for_user(&state.modules, &tenant, &identity).await?,
                settings,
                errors,
                false,
            ),
        ),
        Err(other) => Err(other),
    }
}
