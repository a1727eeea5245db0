//! `/api/v1/clients` and `/api/v1/break-glass`.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ClientStatus;
use super::access::TeamRole;
use super::search::{self, Term};
use super::service::{self, BreakGlassRequest};
use super::validation::ClientFields;
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::error::Error;
use crate::identity::UserId;
use crate::web::form::{Problems, Submitted};
use crate::web::json::ApiJson;
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/api/v1/clients", list)
        .add(Access::Full, Method::POST, "/api/v1/clients", create)
        .add(Access::Full, Method::GET, "/api/v1/clients/{id}", get)
        .add(Access::Full, Method::PATCH, "/api/v1/clients/{id}", update)
        .add(
            Access::Full,
            Method::PUT,
            "/api/v1/clients/{id}/care-team/{user_id}",
            put_team_member,
        )
        .add(
            Access::Full,
            Method::DELETE,
            "/api/v1/clients/{id}/care-team/{user_id}",
            delete_team_member,
        )
        .add(Access::Full, Method::GET, "/api/v1/break-glass", break_glass_log)
        .add(Access::Full, Method::POST, "/api/v1/break-glass", open_break_glass)
}

/// The list's query string: `q`, `status`, `page` (from 1), `per_page` (1 to 100).
pub fn parse_list_params(params: &[(String, String)]) -> Result<search::Query, Error> {
    let params = Submitted(params.to_vec());
    let mut problems = Problems::default();
    let status = problems.choice("status", params.get("status"), ClientStatus::parse, || {
        "must be one of active, waitlisted, discharged".to_owned()
    });
    let (limit, offset) = problems.page(&params, search::MAX_PAGE);
    let q = params.get("q").unwrap_or_default().trim();
    if q.chars().count() > 100 {
        problems.add("q", "must be at most 100 characters");
    }
    problems.check()?;
    Ok(search::Query {
        term: Term::parse(q),
        status,
        limit,
        offset,
    })
}

/// Search or list the clients you may reach: by name (typos forgiven), record number,
/// identifier or date of birth (`YYYY-MM-DD`). Clients outside your reach are never
/// listed, nor counted.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients",
    params(
        ("q" = Option<String>, Query, description = "A name, record number, identifier or date of birth"),
        ("status" = Option<String>, Query, description = "active, waitlisted or discharged"),
        ("page" = Option<i64>, Query, description = "From 1"),
        ("per_page" = Option<i64>, Query, description = "1 to 100, default 25"),
    ),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of clients, best match first", body = service::ResultPage),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Your role does not include client records", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "A bad parameter, named in `details.fields`", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn list(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    let query = parse_list_params(&params)?;
    let page = service::find_clients(&caller, &query).await?;
    Ok(ApiJson(page.into_inner()).into_response())
}

/// Register a client. Clinical staff who register a client join its care team.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = ClientFields,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Registered; the chart", body = service::Chart),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 409, description = "An identifier belongs to another client", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn create(caller: Actor, ApiJson(fields): ApiJson<ClientFields>) -> Result<Response, Error> {
    let (id, chart) = service::register(&caller, &fields).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/clients/{id}"))],
        Json(chart),
    )
        .into_response())
}

/// A client's chart: details, contact rules, identifiers, related people, care team.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients",
    params(("id" = Uuid, Path, description = "The client")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The chart", body = service::Chart),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Not on your caseload (emergency access needs a reason)", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such client", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn get(caller: Actor, Path(id): Path<ClientId>) -> Result<Response, Error> {
    Ok(Json(service::chart(&caller, id).await?.into_inner()).into_response())
}

/// Change a client: only the fields sent change (an empty string clears one; a list
/// sent replaces the whole list). Send `version` to refuse overwriting someone else's
/// change. `hipaa_exempt` is for admins.
#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "clients", request_body = ClientFields,
    params(("id" = Uuid, Path, description = "The client")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The chart as changed", body = service::Chart),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such client", body = crate::web::openapi::ErrorEnvelope),
        (status = 409, description = "Changed by someone else since `version`, or an identifier belongs to another client", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn update(
    caller: Actor,
    Path(id): Path<ClientId>,
    ApiJson(change): ApiJson<ClientFields>,
) -> Result<Response, Error> {
    service::update(&caller, id, change).await?;
    Ok(Json(service::chart(&caller, id).await?.into_inner()).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TeamMemberJson {
    /// `primary`, `clinician` or `case_manager`.
    team_role: String,
}

/// Put someone on the client's care team (admins; the client's supervisor).
#[utoipa::path(put, path = "/api/v1/clients/{id}/care-team/{user_id}", tag = "clients", request_body = TeamMemberJson,
    params(("id" = Uuid, Path, description = "The client"), ("user_id" = Uuid, Path, description = "The staff member")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "On the care team"),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such client", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Not a clinical staff member, or an unknown team role", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn put_team_member(
    caller: Actor,
    Path((id, user_id)): Path<(ClientId, UserId)>,
    ApiJson(body): ApiJson<TeamMemberJson>,
) -> Result<Response, Error> {
    let role = TeamRole::parse(body.team_role.trim()).ok_or_else(|| {
        Error::Invalid(vec![crate::error::FieldError::new(
            "team_role",
            "must be one of primary, clinician, case_manager",
        )])
    })?;
    service::add_to_team(&caller, id, user_id, role).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Take someone off the client's care team.
#[utoipa::path(delete, path = "/api/v1/clients/{id}/care-team/{user_id}", tag = "clients",
    params(("id" = Uuid, Path, description = "The client"), ("user_id" = Uuid, Path, description = "The staff member")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Off the care team"),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such client, or not on its care team", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn delete_team_member(
    caller: Actor,
    Path((id, user_id)): Path<(ClientId, UserId)>,
) -> Result<Response, Error> {
    service::remove_from_team(&caller, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Open emergency access to a client outside your care team, with a written reason.
/// It lasts 60 minutes at most and is flagged in the audit trail; admins and the
/// client's supervisor see it.
#[utoipa::path(post, path = "/api/v1/break-glass", tag = "clients", request_body = BreakGlassRequest,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Access open until `expires_at`", body = service::BreakGlassOpened),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Your role has no clinical access, or you already have access", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn open_break_glass(
    caller: Actor,
    ApiJson(request): ApiJson<BreakGlassRequest>,
) -> Result<Response, Error> {
    let opened = service::open_break_glass(&caller, &request).await?;
    Ok((StatusCode::CREATED, Json(opened)).into_response())
}

/// Recent emergency access: everyone's for admins, their team's for supervisors.
#[utoipa::path(get, path = "/api/v1/break-glass", tag = "clients",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Grants, newest first", body = BreakGlassLog),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Only admins and supervisors", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn break_glass_log(caller: Actor) -> Result<Response, Error> {
    let grants = service::break_glass_log(&caller).await?.into_inner();
    Ok(Json(BreakGlassLog { grants }).into_response())
}

/// The emergency-access log.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BreakGlassLog {
    grants: Vec<super::access::BreakGlassGrant>,
}
