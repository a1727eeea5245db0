//! Staff administration for organisation admins: invite, roles, disable, unlock, reset
//! a second factor, sign-in history. Every change goes through the policy and is audited
//! with the admin as its actor.

use askama::Template;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;

use super::admin::{self, AdminError, ChangedBy, NewAccount};
use super::auth::Identity;
use super::email_token::{self, Purpose};
use super::store::GrantRequest;
use super::{GrantRequestId, Role, User, UserId, UserStatus, store};
use crate::actor::Actor;
use crate::actor::RequestMeta;
use crate::compliance::audit::{self, EventFilter};
use crate::error::{Error, FieldError, FieldErrors};
use crate::platform::tenancy::Tenant;
use crate::policy::{self, Action};
use crate::state::AppState;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::filters;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/admin/users", users_page)
        .add(Access::Full, Method::POST, "/admin/users", invite_form)
        .add(Access::Full, Method::GET, "/admin/users/{id}", user_page)
        .add(Access::Full, Method::POST, "/admin/users/{id}", change_form)
        .add(Access::Full, Method::GET, "/api/v1/users", list_api)
        .add(Access::Full, Method::POST, "/api/v1/users", invite_api)
        .add(Access::Full, Method::PATCH, "/api/v1/users/{id}", change_api)
        .add(Access::Full, Method::POST, "/api/v1/users/{id}/unlock", unlock_api)
        .add(
            Access::Full,
            Method::POST,
            "/api/v1/users/{id}/reset-two-factor",
            reset_api,
        )
        .add(Access::Full, Method::GET, "/api/v1/users/{id}/sign-ins", sign_ins_api)
        .add(Access::Full, Method::POST, "/admin/grant-requests/{id}", decide_form)
        .add(Access::Full, Method::GET, "/api/v1/grant-requests", grant_requests_api)
        .add(
            Access::Full,
            Method::POST,
            "/api/v1/grant-requests/{id}/approve",
            approve_api,
        )
        .add(
            Access::Full,
            Method::POST,
            "/api/v1/grant-requests/{id}/refuse",
            refuse_api,
        )
}

fn changed_by(identity: &Identity, meta: &RequestMeta) -> ChangedBy {
    let (kind, id) = identity.audit_actor();
    ChangedBy {
        kind,
        id,
        user: Some(identity.user.id),
        request_id: Some(meta.request_id.clone()),
    }
}

fn admin_error(err: AdminError) -> Error {
    match err {
        AdminError::Invalid(fields) => Error::Invalid(fields),
        AdminError::EmailTaken => Error::conflict("An account with this email already exists.".to_owned()),
        AdminError::NoSuchUser | AdminError::NoSuchRequest => Error::NotFound,
        AdminError::OwnRequest => Error::conflict(
            "Another admin decides this: not the one who asked for it, and not the person it is for.".to_owned(),
        ),
        other => Error::internal(other.into()),
    }
}

/// What an invitation came to: emailed, or a link for the admin to pass on.
enum Invitation {
    Emailed,
    Link(String),
}

async fn invite(
    state: &AppState,
    tenant: &Tenant,
    by: &ChangedBy,
    email: &str,
    name: &str,
    roles: &[Role],
) -> Result<(UserId, Invitation), Error> {
    let account = NewAccount {
        email,
        display_name: name,
        roles,
        password: None,
    };
    let id = admin::create(&tenant.pool, &state.passwords, &state.clock, by, &account)
        .await
        .map_err(admin_error)?;
    let mut tx = tenant.pool.begin().await?;
    let token = email_token::issue(&mut tx, id, Purpose::Invitation, state.clock.now()).await?;
    tx.commit().await?;
    tenant.audit.nudge();
    let link = format!("{}/invitation/{token}", state.config.link_base());
    if !state.mailer.is_configured() {
        return Ok((id, Invitation::Link(link)));
    }
    let body = format!(
        "You are invited to Haven, {}.\n\nTo choose your password, open this link within 7 days:\n{link}\n",
        tenant.record.display_name
    );
    match state.mailer.send(email.trim(), "You are invited to Haven", body).await {
        Ok(reply) => {
            tracing::info!(smtp = %reply, "invitation email sent");
            Ok((id, Invitation::Emailed))
        }
        Err(err) => {
            tracing::warn!(error = %err, "invitation email failed; showing the link instead");
            Ok((id, Invitation::Link(link)))
        }
    }
}

/// A change to one account. Nobody changes their own roles or disables themselves.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    roles: Option<Vec<String>>,
    status: Option<String>,
    unlock: Option<bool>,
    reset_two_factor: Option<bool>,
    /// Who supervises this person: a supervisor's id, or an empty string for nobody.
    supervisor_id: Option<String>,
}

async fn apply(
    state: &AppState,
    tenant: &Tenant,
    by: &ChangedBy,
    me: UserId,
    target: UserId,
    change: &Change,
) -> Result<(), Error> {
    let mut problems = Vec::new();
    let roles = match &change.roles {
        Some(names) => {
            let parsed: Vec<Option<Role>> = names.iter().map(|n| Role::parse(n)).collect();
            if parsed.iter().any(Option::is_none) || parsed.is_empty() {
                problems.push(FieldError::new("roles", "must list known roles, at least one"));
            }
            Some(parsed.into_iter().flatten().collect::<Vec<_>>())
        }
        None => None,
    };
    let status = match change.status.as_deref() {
        None => None,
        Some("active") => Some(UserStatus::Active),
        Some("disabled") => Some(UserStatus::Disabled),
        Some(_) => {
            problems.push(FieldError::new("status", "must be active or disabled"));
            None
        }
    };
    let supervisor = match change.supervisor_id.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(text) => {
            if let Ok(id) = text.parse::<UserId>() {
                Some(Some(id))
            } else {
                problems.push(FieldError::new("supervisor_id", "must be a staff member's id"));
                None
            }
        }
    };
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    // Separation of duties: nobody changes their own roles or disables themselves (an
    // admin could otherwise make themselves an auditor, or lock everyone out).
    if target == me && (status == Some(UserStatus::Disabled) || roles.is_some()) {
        return Err(Error::conflict(
            "You cannot change your own roles or disable your own account; ask another admin.".to_owned(),
        ));
    }
    let (pool, clock) = (&tenant.pool, &state.clock);
    store::find(pool, target).await?.ok_or(Error::NotFound)?;
    // Whatever part of the change was made, tokens are read afresh from now on.
    let changed = async {
        if let Some(roles) = &roles {
            admin::set_roles(pool, clock, by, target, roles)
                .await
                .map_err(admin_error)?;
        }
        match status {
            Some(UserStatus::Disabled) => {
                admin::disable(pool, clock, by, target).await.map_err(admin_error)?;
            }
            Some(_) => admin::enable(pool, clock, by, target).await.map_err(admin_error)?,
            None => {}
        }
        if let Some(supervisor) = supervisor {
            admin::set_supervisor(pool, clock, by, target, supervisor)
                .await
                .map_err(admin_error)?;
        }
        if change.unlock == Some(true) {
            admin::unlock(pool, clock, by, target).await.map_err(admin_error)?;
        }
        if change.reset_two_factor == Some(true) {
            admin::reset_second_factor(pool, clock, by, target)
                .await
                .map_err(admin_error)?;
        }
        Ok::<_, Error>(())
    }
    .await;
    tenant.tokens.forget();
    tenant.audit.nudge();
    changed
}

/// A grant waiting for a second admin's approval.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct GrantRequestJson {
    id: GrantRequestId,
    /// Who the grant is for.
    user_id: UserId,
    /// The role to add, when the grant is a role (`clinician`, `case_manager`, `supervisor`,
    /// `org_admin`, `auditor`).
    #[schema(value_type = Option<String>)]
    role: Option<Role>,
    /// The supervisor to link, when the grant is a supervisor link.
    supervisor_id: Option<UserId>,
    requested_by: UserId,
    requested_at: chrono::DateTime<chrono::Utc>,
}

impl From<&GrantRequest> for GrantRequestJson {
    fn from(r: &GrantRequest) -> Self {
        Self {
            id: r.id,
            user_id: r.user,
            role: r.role,
            supervisor_id: r.supervisor,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
        }
    }
}

/// The grants held for `user` (everyone's with `None`).
async fn waiting_for(tenant: &Tenant, user: Option<UserId>) -> Result<Vec<GrantRequestJson>, Error> {
    Ok(admin::waiting_grants(&tenant.pool)
        .await
        .map_err(admin_error)?
        .iter()
        .filter(|r| user.is_none_or(|u| r.user == u))
        .map(GrantRequestJson::from)
        .collect())
}

/// A staff account as the API shows it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Account {
    id: UserId,
    email: String,
    display_name: String,
    status: super::UserStatus,
    roles: Vec<Role>,
    /// A confirmed second factor exists.
    second_factor: bool,
    supervisor_id: Option<UserId>,
}

impl From<User> for Account {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            status: user.status,
            roles: user.roles,
            second_factor: user.has_second_factor,
            supervisor_id: user.supervisor_id,
        }
    }
}

/// Every account.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Accounts {
    users: Vec<Account>,
}

/// An account as changed, with the grants of it still waiting for a second admin.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ChangedAccount {
    #[serde(flatten)]
    account: Account,
    waiting_for_approval: Vec<GrantRequestJson>,
}

/// An invitation sent (`delivery` = `emailed`) or to hand over (`link`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Invited {
    id: UserId,
    /// Always `invited`.
    #[schema(value_type = String)]
    status: &'static str,
    /// `emailed` or `link`.
    #[schema(value_type = String)]
    delivery: &'static str,
    /// The invitation link, when it was not emailed.
    link: Option<String>,
    waiting_for_approval: Vec<GrantRequestJson>,
}

/// One sign-in event.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SignInEvent {
    at: chrono::DateTime<chrono::Utc>,
    action: String,
    outcome: crate::compliance::audit::Outcome,
    client_ip: Option<String>,
    device: Option<String>,
}

/// Recent sign-in activity, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SignIns {
    sign_ins: Vec<SignInEvent>,
}

/// Grants waiting for a second admin.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct GrantRequests {
    grant_requests: Vec<GrantRequestJson>,
}

/// The staff list.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("session" = []), ("bearer" = [])), responses((status = 200, description = "Every account", body = Accounts), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn list_api(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ViewUsers).await?;
    let users = store::list(&tenant.pool)
        .await?
        .into_iter()
        .map(Account::from)
        .collect();
    Ok(Json(Accounts { users }).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteJson {
    email: String,
    display_name: String,
    roles: Vec<String>,
}

/// Invite someone: an invited account and a one-time link, emailed or returned.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = InviteJson, security(("session" = []), ("bearer" = [])), responses((status = 201, description = "Invited", body = Invited), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 409, description = "The email is taken", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn invite_api(
    caller: Actor,
    crate::web::json::ApiJson(body): crate::web::json::ApiJson<InviteJson>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageUsers).await?;
    let roles: Vec<Role> = body.roles.iter().filter_map(|r| Role::parse(r)).collect();
    if roles.len() != body.roles.len() {
        return Err(Error::Invalid(vec![FieldError::new("roles", "must list known roles")]));
    }
    let by = changed_by(&identity, &meta);
    let (id, invitation) = invite(&state, &tenant, &by, &body.email, &body.display_name, &roles).await?;
    let (delivery, link) = match invitation {
        Invitation::Emailed => ("emailed", None),
        Invitation::Link(link) => ("link", Some(link)),
    };
    let waiting = waiting_for(&tenant, Some(id)).await?;
    Ok((
        StatusCode::CREATED,
        Json(Invited {
            id,
            status: "invited",
            delivery,
            link,
            waiting_for_approval: waiting,
        }),
    )
        .into_response())
}

/// Change roles or status (`active`, `disabled`); disabling ends every session at once.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path, description = "The account")), request_body = Change, security(("session" = []), ("bearer" = [])), responses((status = 200, description = "The account as changed", body = ChangedAccount), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 404, description = "No such account", body = crate::web::openapi::ErrorEnvelope), (status = 409, description = "You cannot change your own roles or disable yourself", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn change_api(
    caller: Actor,
    Path(id): Path<UserId>,
    crate::web::json::ApiJson(change): crate::web::json::ApiJson<Change>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageUsers).await?;
    let by = changed_by(&identity, &meta);
    apply(&state, &tenant, &by, identity.user.id, id, &change).await?;
    let user = store::find(&tenant.pool, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(ChangedAccount {
        account: user.into(),
        waiting_for_approval: waiting_for(&tenant, Some(id)).await?,
    })
    .into_response())
}

async fn one_shot(
    state: &AppState,
    tenant: &Tenant,
    meta: &RequestMeta,
    identity: &Identity,
    id: UserId,
    change: Change,
) -> Result<Response, Error> {
    policy::authorize(state, tenant, meta, identity, &Action::ManageUsers).await?;
    let by = changed_by(identity, meta);
    apply(state, tenant, &by, identity.user.id, id, &change).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Lift a sign-in lock now.
#[utoipa::path(post, path = "/api/v1/users/{id}/unlock", tag = "users", params(("id" = uuid::Uuid, Path, description = "The account")), security(("session" = []), ("bearer" = [])), responses((status = 204, description = "Unlocked"), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 404, description = "No such account", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn unlock_api(caller: Actor, Path(id): Path<UserId>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    let change = Change {
        unlock: Some(true),
        ..Change::default()
    };
    one_shot(&state, &tenant, &meta, &identity, id, change).await
}

/// Remove the account's second factor (a lost phone); ends its sessions.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-two-factor", tag = "users", params(("id" = uuid::Uuid, Path, description = "The account")), security(("session" = []), ("bearer" = [])), responses((status = 204, description = "Reset"), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 404, description = "No such account", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn reset_api(caller: Actor, Path(id): Path<UserId>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    let change = Change {
        reset_two_factor: Some(true),
        ..Change::default()
    };
    one_shot(&state, &tenant, &meta, &identity, id, change).await
}

async fn sign_ins(tenant: &Tenant, user: UserId) -> Result<Vec<audit::ChainedEvent>, Error> {
    Ok(audit::list_events(
        &tenant.pool,
        &EventFilter {
            actor_id: Some(user.to_string()),
            action_prefix: Some("auth.".to_owned()),
            ..EventFilter::default()
        },
        20,
    )
    .await?)
}

/// Someone's recent sign-in activity (yours, or anyone's for admins).
#[utoipa::path(get, path = "/api/v1/users/{id}/sign-ins", tag = "users", params(("id" = uuid::Uuid, Path, description = "The account")), security(("session" = []), ("bearer" = [])), responses((status = 200, description = "Recent sign-in events", body = SignIns), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn sign_ins_api(caller: Actor, Path(id): Path<UserId>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ViewSignInHistory { of: id }).await?;
    let sign_ins = sign_ins(&tenant, id)
        .await?
        .into_iter()
        .map(|e| SignInEvent {
            at: e.event.occurred_at,
            action: e.event.action,
            outcome: e.event.outcome,
            client_ip: e.event.client_ip,
            device: e.event.user_agent,
        })
        .collect();
    Ok(Json(SignIns { sign_ins }).into_response())
}

struct RoleChoice {
    name: &'static str,
    label: &'static str,
    checked: bool,
}

fn role_choices(selected: &[Role]) -> Vec<RoleChoice> {
    Role::ALL
        .iter()
        .map(|r| RoleChoice {
            name: r.as_str(),
            label: r.label(),
            checked: selected.contains(r),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "identity/admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<User>,
    /// Access granted in the last 30 days (roles that open records, supervisor links).
    grants: Vec<super::admin::Grant>,
    /// Grants held for a second admin's approval.
    waiting: Vec<WaitingRow>,
    roles: Vec<RoleChoice>,
    errors: FieldErrors,
    notice: Option<String>,
    link: Option<String>,
}

/// A held grant as the staff page shows it.
struct WaitingRow {
    id: GrantRequestId,
    user: String,
    what: String,
    asked_by: String,
    at: chrono::DateTime<chrono::Utc>,
    /// The viewer asked for it or it is for them: another admin decides.
    theirs: bool,
}

async fn waiting_rows(tenant: &Tenant, users: &[User], me: UserId) -> Result<Vec<WaitingRow>, Error> {
    let name = |id: UserId| {
        users
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| "a former account".to_owned(), |u| u.display_name.clone())
    };
    Ok(admin::waiting_grants(&tenant.pool)
        .await
        .map_err(admin_error)?
        .into_iter()
        .map(|r| WaitingRow {
            id: r.id,
            user: name(r.user),
            what: match (r.role, r.supervisor) {
                (Some(role), _) => format!("the {} role", role.label()),
                (None, Some(s)) => format!("{} as supervisor", name(s)),
                (None, None) => String::new(),
            },
            asked_by: name(r.requested_by),
            at: r.requested_at,
            theirs: r.requested_by == me || r.user == me,
        })
        .collect())
}

/// The staff page, with the invitation form holding `roles` and any `errors`.
async fn staff_page(
    state: &AppState,
    tenant: &Tenant,
    identity: &Identity,
    roles: &[Role],
    errors: Vec<FieldError>,
    notice: Option<String>,
    link: Option<String>,
) -> Result<UsersPage, Error> {
    let users = store::list(&tenant.pool).await?;
    Ok(UsersPage {
        chrome: Chrome::for_user(&state.modules, tenant, identity).await?,
        waiting: waiting_rows(tenant, &users, identity.user.id).await?,
        users,
        grants: super::admin::recent_grants(&tenant.pool, state.clock.now(), 30).await?,
        roles: role_choices(roles),
        errors: errors.into(),
        notice,
        link,
    })
}

impl UsersPage {
    fn role_labels(user: &User) -> String {
        user.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ")
    }
}

async fn users_page(
    caller: Actor,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ViewUsers).await?;
    let notice = if query.contains_key("approved") {
        Some("Approved: the access is given now.".to_owned())
    } else if query.contains_key("refused") {
        Some("Refused: nothing changed.".to_owned())
    } else {
        None
    };
    render(&staff_page(&state, &tenant, &identity, &[], Vec::new(), notice, None).await?)
}

async fn invite_form(caller: Actor, Form(fields): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageUsers).await?;
    let value = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let roles: Vec<Role> = fields
        .iter()
        .filter(|(k, _)| k == "roles")
        .filter_map(|(_, v)| Role::parse(v))
        .collect();
    let by = changed_by(&identity, &meta);
    match invite(&state, &tenant, &by, &value("email"), &value("display_name"), &roles).await {
        Ok((_, invitation)) => {
            let (notice, link) = match invitation {
                Invitation::Emailed => (format!("Invitation emailed to {}.", value("email").trim()), None),
                Invitation::Link(link) => (
                    format!(
                        "{} is invited. Mail is not set up: give them this one-time link yourself.",
                        value("email").trim()
                    ),
                    Some(link),
                ),
            };
            render(&staff_page(&state, &tenant, &identity, &[], Vec::new(), Some(notice), link).await?)
        }
        Err(Error::Invalid(errors)) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &staff_page(&state, &tenant, &identity, &roles, errors, None, None).await?,
        ),
        Err(Error::Conflict { message, .. }) => render_with_status(
            StatusCode::CONFLICT,
            &staff_page(
                &state,
                &tenant,
                &identity,
                &roles,
                vec![FieldError::new("email", message)],
                None,
                None,
            )
            .await?,
        ),
        Err(other) => Err(other),
    }
}

struct SignInRow {
    what: String,
    when: String,
    address: String,
    device: String,
}

#[derive(Template)]
#[template(path = "identity/admin_user.html")]
struct UserPage {
    chrome: Chrome,
    user: User,
    roles: Vec<RoleChoice>,
    /// Staff with the supervisor role (not this person): (id, name, selected).
    supervisors: Vec<(String, String, bool)>,
    sign_ins: Vec<SignInRow>,
    error: Option<String>,
}

async fn user_page_for(
    state: &AppState,
    tenant: &Tenant,
    identity: &Identity,
    id: UserId,
    error: Option<String>,
) -> Result<UserPage, Error> {
    let _ = state;
    let zone = tenant.settings().await?.time_zone;
    let user = store::find(&tenant.pool, id).await?.ok_or(Error::NotFound)?;
    let sign_ins = sign_ins(tenant, id)
        .await?
        .into_iter()
        .map(|e| SignInRow {
            what: e.event.action,
            when: crate::web::time::show(e.event.occurred_at, zone, crate::web::time::Style::DateTime),
            address: e.event.client_ip.unwrap_or_default(),
            device: e.event.user_agent.unwrap_or_default(),
        })
        .collect();
    let supervisors = store::list(&tenant.pool)
        .await?
        .into_iter()
        .filter(|s| s.id != user.id && s.has_role(Role::Supervisor) && s.status != UserStatus::Disabled)
        .map(|s| (s.id.to_string(), s.display_name, user.supervisor_id == Some(s.id)))
        .collect();
    Ok(UserPage {
        chrome: Chrome::for_user(&state.modules, tenant, identity).await?.at("staff"),
        supervisors,
        roles: role_choices(&user.roles),
        user,
        sign_ins,
        error,
    })
}

async fn user_page(caller: Actor, Path(id): Path<UserId>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ViewUsers).await?;
    render(&user_page_for(&state, &tenant, &identity, id, None).await?)
}

async fn change_form(
    caller: Actor,
    Path(id): Path<UserId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageUsers).await?;
    let action = fields
        .iter()
        .find(|(k, _)| k == "do")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let change = match action {
        "roles" => Change {
            roles: Some(
                fields
                    .iter()
                    .filter(|(k, _)| k == "roles")
                    .map(|(_, v)| v.clone())
                    .collect(),
            ),
            ..Change::default()
        },
        "disable" => Change {
            status: Some("disabled".to_owned()),
            ..Change::default()
        },
        "enable" => Change {
            status: Some("active".to_owned()),
            ..Change::default()
        },
        "unlock" => Change {
            unlock: Some(true),
            ..Change::default()
        },
        "supervisor" => Change {
            supervisor_id: Some(
                fields
                    .iter()
                    .find(|(k, _)| k == "supervisor_id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            ),
            ..Change::default()
        },
        "reset_two_factor" => Change {
            reset_two_factor: Some(true),
            ..Change::default()
        },
        _ => return Err(Error::Malformed("unknown change".to_owned())),
    };
    let by = changed_by(&identity, &meta);
    match apply(&state, &tenant, &by, identity.user.id, id, &change).await {
        Ok(()) => Ok(Redirect::to(&format!("/admin/users/{id}")).into_response()),
        Err(Error::Invalid(fields)) => {
            let message = fields
                .iter()
                .map(|f| format!("{} {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &user_page_for(&state, &tenant, &identity, id, Some(message)).await?,
            )
        }
        Err(Error::Conflict { message, .. }) => render_with_status(
            StatusCode::CONFLICT,
            &user_page_for(&state, &tenant, &identity, id, Some(message)).await?,
        ),
        Err(other) => Err(other),
    }
}

/// The grants waiting for a second admin's approval (when the organisation asks for one).
#[utoipa::path(get, path = "/api/v1/grant-requests", tag = "users", security(("session" = []), ("bearer" = [])), responses((status = 200, description = "Waiting grants, oldest first", body = GrantRequests), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn grant_requests_api(caller: Actor) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ViewUsers).await?;
    Ok(Json(GrantRequests {
        grant_requests: waiting_for(&tenant, None).await?,
    })
    .into_response())
}

async fn decide(caller: Actor, id: GrantRequestId, approve: bool) -> Result<GrantRequest, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ManageUsers).await?;
    let by = changed_by(&identity, &meta);
    let request = admin::decide_grant(&tenant.pool, &state.clock, &by, id, approve)
        .await
        .map_err(admin_error)?;
    tenant.tokens.forget();
    tenant.audit.nudge();
    Ok(request)
}

/// Approve a waiting grant: made at once, by you. Not by the admin who asked, nor by the person it is for.
#[utoipa::path(post, path = "/api/v1/grant-requests/{id}/approve", tag = "users", params(("id" = uuid::Uuid, Path, description = "The waiting grant")), security(("session" = []), ("bearer" = [])), responses((status = 200, description = "Approved and made", body = GrantRequestJson), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 404, description = "No such grant is waiting", body = crate::web::openapi::ErrorEnvelope), (status = 409, description = "You asked for it, or it is for you", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "The supervisor no longer qualifies", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn approve_api(caller: Actor, Path(id): Path<GrantRequestId>) -> Result<Response, Error> {
    let request = decide(caller, id, true).await?;
    Ok(Json(GrantRequestJson::from(&request)).into_response())
}

/// Refuse a waiting grant: nothing changes. Not by the admin who asked, nor by the person it is for.
#[utoipa::path(post, path = "/api/v1/grant-requests/{id}/refuse", tag = "users", params(("id" = uuid::Uuid, Path, description = "The waiting grant")), security(("session" = []), ("bearer" = [])), responses((status = 200, description = "Refused", body = GrantRequestJson), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 404, description = "No such grant is waiting", body = crate::web::openapi::ErrorEnvelope), (status = 409, description = "You asked for it, or it is for you", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn refuse_api(caller: Actor, Path(id): Path<GrantRequestId>) -> Result<Response, Error> {
    let request = decide(caller, id, false).await?;
    Ok(Json(GrantRequestJson::from(&request)).into_response())
}

/// The staff page's approve and refuse buttons.
async fn decide_form(
    caller: Actor,
    Path(id): Path<GrantRequestId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let approve = match fields.iter().find(|(k, _)| k == "do").map(|(_, v)| v.as_str()) {
        Some("approve") => true,
        Some("refuse") => false,
        _ => return Err(Error::Malformed("unknown decision".to_owned())),
    };
    decide(caller, id, approve).await?;
    Ok(Redirect::to(if approve {
        "/admin/users?approved"
    } else {
        "/admin/users?refused"
    })
    .into_response())
}
