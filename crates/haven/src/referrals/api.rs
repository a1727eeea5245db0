//! `/api/v1/referrals`.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::service::{self, MoveFields, ReferralFields};
use super::store::Filter;
use super::{Direction, ReferralStatus};
use crate::actor::Actor;
use crate::error::Error;
use crate::identity::UserId;
use crate::referrals::ReferralId;
use crate::web::form::{Problems, Submitted};
use crate::web::json::ApiJson;
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/api/v1/referrals", list)
        .add(Access::Full, Method::POST, "/api/v1/referrals", create)
        .add(Access::Full, Method::GET, "/api/v1/referrals/{id}", get)
        .add(
            Access::Full,
            Method::POST,
            "/api/v1/referrals/{id}/transitions",
            transition,
        )
}

/// The queue's query string: `status`, `direction`, `assigned_to`, `client_id`, `page`,
/// `per_page`.
pub fn parse_filter(params: &[(String, String)]) -> Result<Filter, Error> {
    let params = Submitted(params.to_vec());
    let mut problems = Problems::default();
    let status = problems.choice(
        "status",
        params.get("status"),
        ReferralStatus::parse,
        ReferralStatus::choices,
    );
    let direction = problems.choice(
        "direction",
        params.get("direction"),
        Direction::parse,
        Direction::choices,
    );
    let assigned_to = problems.id("assigned_to", params.get("assigned_to")).map(UserId);
    let client_id = problems.id("client_id", params.get("client_id"));
    let (limit, offset) = problems.page(&params, 100);
    problems.check()?;
    Ok(Filter {
        status,
        direction,
        assigned_to,
        client_id,
        limit,
        offset,
    })
}

/// The referral queue: referrals for people who are not clients yet, those assigned to
/// you, and those about clients you may reach. Most urgent first, then oldest.
#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals",
    params(
        ("status" = Option<String>, Query, description = "received, triaged, accepted, declined or closed"),
        ("direction" = Option<String>, Query, description = "inbound or outbound"),
        ("assigned_to" = Option<Uuid>, Query, description = "A staff member"),
        ("client_id" = Option<Uuid>, Query, description = "A client"),
        ("page" = Option<i64>, Query, description = "From 1"),
        ("per_page" = Option<i64>, Query, description = "1 to 100, default 25"),
    ),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of referrals", body = service::ReferralPage),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Your role has no clinical access", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "A bad parameter, named in `details.fields`", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn list(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    let filter = parse_filter(&params)?;
    Ok(Json(service::list(&caller, &filter).await?.into_inner()).into_response())
}

/// Record a referral, inbound (about an existing client, or a `person` who is not a
/// client yet) or outbound (about a client).
#[utoipa::path(post, path = "/api/v1/referrals", tag = "referrals", request_body = ReferralFields,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Recorded as received", body = service::ReferralView),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn create(caller: Actor, ApiJson(fields): ApiJson<ReferralFields>) -> Result<Response, Error> {
    let id = service::create(&caller, &fields).await?;
    let view = service::view(&caller, id).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/referrals/{id}"))],
        Json(view.into_inner()),
    )
        .into_response())
}

/// A referral with its history (who moved it, when, why) and where it may go next.
#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The referral", body = service::ReferralView),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such referral", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn get(caller: Actor, Path(id): Path<ReferralId>) -> Result<Response, Error> {
    Ok(Json(service::view(&caller, id).await?.into_inner()).into_response())
}

/// Move a referral on: received -> triaged -> accepted or declined (with a reason) ->
/// closed. Accepting an inbound referral for someone new registers the client.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/transitions", tag = "referrals", request_body = MoveFields,
    params(("id" = Uuid, Path, description = "The referral")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Moved; the referral as it is now", body = service::ReferralView),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such referral", body = crate::web::openapi::ErrorEnvelope),
        (status = 409, description = "Not a move the workflow allows from here, or someone else moved it first", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn transition(
    caller: Actor,
    Path(id): Path<ReferralId>,
    ApiJson(fields): ApiJson<MoveFields>,
) -> Result<Response, Error> {
    service::move_on(&caller, id, &fields).await?;
    Ok(Json(service::view(&caller, id).await?.into_inner()).into_response())
}
