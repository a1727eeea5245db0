//! `/api/v1/appointments`, `/api/v1/rooms` and clinicians' hours.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::service::{self, AppointmentFields, ChangeFields, StatusFields};
use super::store::Filter;
use super::{AppointmentStatus, Named};
use crate::actor::Actor;
use crate::appointments::AppointmentId;
use crate::error::{Error, FieldError};
use crate::identity::UserId;
use crate::policy::Action;
use crate::web::form::{Problems, Submitted};
use crate::web::json::ApiJson;
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/api/v1/appointments", list)
        .add(Access::Full, Method::POST, "/api/v1/appointments", create)
        .add(Access::Full, Method::GET, "/api/v1/appointments/{id}", get)
        .add(Access::Full, Method::PATCH, "/api/v1/appointments/{id}", update)
        .add(Access::Full, Method::POST, "/api/v1/appointments/{id}/status", status)
        .add(Access::Full, Method::GET, "/api/v1/rooms", rooms)
        .add(Access::Full, Method::POST, "/api/v1/rooms", create_room)
        .add(
            Access::Full,
            Method::GET,
            "/api/v1/users/{id}/availability",
            availability,
        )
        .add(
            Access::Full,
            Method::PUT,
            "/api/v1/users/{id}/availability",
            set_availability,
        )
}

fn time_param(problems: &mut Problems, name: &'static str, value: Option<&str>) -> Option<DateTime<Utc>> {
    let value = value.filter(|v| !v.is_empty())?;
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        Some(at.with_timezone(&Utc))
    } else {
        problems.add(name, "use an RFC 3339 time such as 2027-01-05T00:00:00Z");
        None
    }
}

/// The list's query string: `from`, `to`, `staff`, `room`, `client_id`, `status`,
/// `page`, `per_page`.
pub fn parse_filter(params: &[(String, String)]) -> Result<Filter, Error> {
    let params = Submitted(params.to_vec());
    let mut problems = Problems::default();
    let from = time_param(&mut problems, "from", params.get("from"));
    let to = time_param(&mut problems, "to", params.get("to"));
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        problems.add("to", "must be after `from`");
    }
    let staff = problems.id("staff", params.get("staff"));
    let room = problems.id("room", params.get("room"));
    let client = problems.id("client_id", params.get("client_id"));
    let status = problems.choice(
        "status",
        params.get("status"),
        AppointmentStatus::parse,
        AppointmentStatus::choices,
    );
    let (limit, offset) = problems.page(&params, 200);
    problems.check()?;
    Ok(Filter {
        from,
        to,
        staff,
        room,
        client,
        status,
        limit,
        offset,
    })
}

/// Appointments you may see (front desk: all; clinical staff: those they lead or
/// co-facilitate and their clients'), by start. Recorded with the clients shown.
#[utoipa::path(get, path = "/api/v1/appointments", tag = "appointments",
    params(
        ("from" = Option<String>, Query, description = "Ending after this time (RFC 3339)"),
        ("to" = Option<String>, Query, description = "Starting before this time (RFC 3339)"),
        ("staff" = Option<Uuid>, Query, description = "Led or co-facilitated by"),
        ("room" = Option<Uuid>, Query, description = "In this room"),
        ("client_id" = Option<Uuid>, Query, description = "With this client"),
        ("status" = Option<String>, Query, description = "scheduled, arrived, completed, cancelled or no_show"),
        ("page" = Option<i64>, Query, description = "From 1"),
        ("per_page" = Option<i64>, Query, description = "1 to 200, default 25"),
    ),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Appointments", body = Vec<super::Appointment>),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Your role has no schedule", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "A bad parameter, named in `details.fields`", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn list(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    let filter = parse_filter(&params)?;
    Ok(Json(service::list(&caller, &filter).await?.into_inner()).into_response())
}

/// Book an appointment, or a series with `recurrence`. A clash with another appointment
/// of the clinician, co-facilitator, room or a client, or a time outside the clinician's
/// hours, is a 409 naming each; send `override_reason` to book anyway (audited).
#[utoipa::path(post, path = "/api/v1/appointments", tag = "appointments", request_body = AppointmentFields,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Booked", body = service::Booked),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 409, description = "Clashes, each named in the message", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn create(caller: Actor, ApiJson(fields): ApiJson<AppointmentFields>) -> Result<Response, Error> {
    let booked = service::book(&caller, &fields).await?;
    let location = booked
        .appointments
        .first()
        .map(|a| format!("/api/v1/appointments/{}", a.id))
        .unwrap_or_default();
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(booked)).into_response())
}

/// One appointment.
#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "appointments",
    params(("id" = Uuid, Path, description = "The appointment")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The appointment", body = super::Appointment),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such appointment", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn get(caller: Actor, Path(id): Path<AppointmentId>) -> Result<Response, Error> {
    Ok(Json(service::view(&caller, id).await?.into_inner()).into_response())
}

/// Move or change an appointment (`scope` `one`), this and the following ones of its
/// series (`following`: they become a series of their own) or the whole series (`all`).
/// Occurrences edited on their own, cancelled or past keep theirs. Clashes are checked
/// for each occurrence as when booking.
#[utoipa::path(patch, path = "/api/v1/appointments/{id}", tag = "appointments", request_body = ChangeFields,
    params(("id" = Uuid, Path, description = "The appointment")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The appointments changed", body = service::Booked),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such appointment", body = crate::web::openapi::ErrorEnvelope),
        (status = 409, description = "Clashes, each named; or the appointment is no longer scheduled", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn update(
    caller: Actor,
    Path(id): Path<AppointmentId>,
    ApiJson(fields): ApiJson<ChangeFields>,
) -> Result<Response, Error> {
    Ok(Json(service::change(&caller, id, &fields).await?).into_response())
}

/// Check in (`arrived`), complete, cancel (`cancelled_by` and `reason`), mark a no-show,
/// or undo a check-in or no-show (`scheduled`).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/status", tag = "appointments", request_body = StatusFields,
    params(("id" = Uuid, Path, description = "The appointment")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = super::Appointment),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "No such appointment", body = crate::web::openapi::ErrorEnvelope),
        (status = 409, description = "Not a move from its status; the message names the allowed ones", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn status(
    caller: Actor,
    Path(id): Path<AppointmentId>,
    ApiJson(fields): ApiJson<StatusFields>,
) -> Result<Response, Error> {
    Ok(Json(service::set_status(&caller, id, &fields).await?).into_response())
}

/// Rooms that can be booked.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "appointments",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Rooms in use", body = Vec<Named>),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Your role has no schedule", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn rooms(caller: Actor) -> Result<Response, Error> {
    Ok(Json(service::rooms(&caller).await?).into_response())
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomFields {
    pub name: Option<String>,
}

/// Add a room (organisation admins).
#[utoipa::path(post, path = "/api/v1/rooms", tag = "appointments", request_body = RoomFields,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = Named),
        (status = 403, description = "Only organisation admins manage rooms", body = crate::web::openapi::ErrorEnvelope),
        (status = 409, description = "A room with that name exists", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid name", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn create_room(caller: Actor, ApiJson(fields): ApiJson<RoomFields>) -> Result<Response, Error> {
    let room = service::create_room(&caller, fields.name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(room)).into_response())
}

/// A clinician's weekly hours in the organisation's time zone. With none set, any time
/// can be booked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// 1 Monday to 7 Sunday.
    pub weekday: i16,
    /// `HH:MM`.
    pub starts: String,
    /// `HH:MM`, after `starts`.
    pub ends: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    pub hours: Vec<Hours>,
}

/// Someone's weekly hours.
#[utoipa::path(get, path = "/api/v1/users/{id}/availability", tag = "appointments",
    params(("id" = Uuid, Path, description = "The staff member")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Their hours", body = Availability),
        (status = 403, description = "Your role has no schedule", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn availability(caller: Actor, Path(id): Path<UserId>) -> Result<Response, Error> {
    let hours = service::hours(&caller, id)
        .await?
        .into_iter()
        .map(|(weekday, starts, ends)| Hours {
            weekday,
            starts: starts.format("%H:%M").to_string(),
            ends: ends.format("%H:%M").to_string(),
        })
        .collect();
    Ok(Json(Availability { hours }).into_response())
}

/// Replace someone's weekly hours (their own; front desk and admins anyone's). Audited.
#[utoipa::path(put, path = "/api/v1/users/{id}/availability", tag = "appointments", request_body = Availability,
    params(("id" = Uuid, Path, description = "The staff member")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Saved", body = Availability),
        (status = 403, description = "Refused by the policy or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid hours; `details.fields` names each", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn set_availability(
    caller: Actor,
    Path(id): Path<UserId>,
    ApiJson(wanted): ApiJson<Availability>,
) -> Result<Response, Error> {
    caller.authorize(&Action::SetAvailability { of: id }).await?;
    let mut problems = Vec::new();
    let mut hours = Vec::new();
    if wanted.hours.len() > 21 {
        problems.push(FieldError::new("hours", "at most 21 periods a week"));
    }
    for (i, h) in wanted.hours.iter().enumerate() {
        let starts = NaiveTime::parse_from_str(&h.starts, "%H:%M");
        let ends = NaiveTime::parse_from_str(&h.ends, "%H:%M");
        if !(1..=7).contains(&h.weekday) {
            problems.push(FieldError::new(
                format!("hours[{i}].weekday"),
                "must be 1 (Monday) to 7 (Sunday)",
            ));
        }
        match (starts, ends) {
            (Ok(s), Ok(e)) if e > s => hours.push((h.weekday, s, e)),
            (Err(_), _) => problems.push(FieldError::new(format!("hours[{i}].starts"), "use HH:MM")),
            (_, Err(_)) => problems.push(FieldError::new(format!("hours[{i}].ends"), "use HH:MM")),
            _ => problems.push(FieldError::new(format!("hours[{i}].ends"), "must be after the start")),
        }
    }
    let mut sorted = hours.clone();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0].0 == w[1].0 && w[1].1 < w[0].2) {
        problems.push(FieldError::new("hours", "periods on the same day overlap"));
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    service::save_hours(&caller, id, &sorted).await?;
    Ok(Json(wanted).into_response())
}
