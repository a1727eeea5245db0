//! Private calendar feeds: each staff member may have one secret iCalendar URL that
//! Google Calendar, Outlook and Apple Calendar subscribe to. The URL is the only key,
//! so it is long and random, stored only as a hash, and can be rotated or revoked.
//! Events carry no PHI: "Client appointment", the time, and the room or "Telehealth".

use super::feed_store;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AppointmentStatus, Place};
use crate::actor::Actor;
use crate::compliance::audit::{self, Outcome};
use crate::error::Error;
use crate::policy::Action;
use crate::state::AppState;
use crate::web::routes::{Access, RouteTable};
use crate::web::tenant::CurrentTenant;

/// The feed covers this much of the past and the future.
const PAST_DAYS: i64 = 60;
const FUTURE_DAYS: i64 = 400;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Public, Method::GET, "/calendar/{file}", feed)
        .add(Access::Full, Method::GET, "/api/v1/calendar-feed", status)
        .add(Access::Full, Method::POST, "/api/v1/calendar-feed", create)
        .add(Access::Full, Method::DELETE, "/api/v1/calendar-feed", revoke)
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// 32 random bytes, URL-safe.
fn new_secret() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// One event of a feed: times, place and status, nothing about who.
pub struct FeedEvent {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub place: String,
    pub room_name: Option<String>,
    pub sequence: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The feed as RFC 5545 text. Each appointment is its own event with a stable UID; a
/// change raises SEQUENCE and a cancellation keeps the event with STATUS:CANCELLED, so
/// subscribed calendars update or strike it out.
fn render(organisation: &str, events: &[FeedEvent]) -> String {
    let mut calendar = Calendar::new();
    calendar.name(&format!("{organisation} (Haven)"));
    for e in events {
        let location = match (Place::parse(&e.place), &e.room_name) {
            (Some(Place::Room), Some(room)) => room.clone(),
            (Some(Place::Telehealth), _) => "Telehealth".to_owned(),
            // A note may hold an address; the feed says only that it is off site.
            _ => "Off site".to_owned(),
        };
        let status = if AppointmentStatus::parse(&e.status) == Some(AppointmentStatus::Cancelled) {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        };
        calendar.push(
            Event::new()
                .uid(&format!("{}@haven", e.id))
                .summary("Client appointment")
                .starts(e.starts_at)
                .ends(e.ends_at)
                .location(&location)
                .status(status)
                .sequence(u32::try_from(e.sequence).unwrap_or(0))
                .timestamp(e.updated_at)
                .created(e.created_at)
                .last_modified(e.updated_at)
                .class(icalendar::Class::Private)
                .done(),
        );
    }
    calendar.done().to_string()
}

/// `GET /calendar/{secret}.ics`: no sign-in; the secret is the key. An unknown or
/// revoked secret is a 404 like any other unknown page.
async fn feed(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    Path(file): Path<String>,
) -> Result<Response, Error> {
    let secret = file.strip_suffix(".ics").unwrap_or(&file);
    if secret.len() != 43 {
        return Err(Error::NotFound);
    }
    let user = feed_store::owner(&tenant.pool, &hash(secret))
        .await?
        .ok_or(Error::NotFound)?;
    let now = state.clock.now();
    let events = feed_store::events_for(
        &tenant.pool,
        user.into(),
        now - TimeDelta::days(PAST_DAYS),
        now + TimeDelta::days(FUTURE_DAYS),
    )
    .await?;
    let body = render(&tenant.record.display_name, &events);
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedStatus {
    pub active: bool,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewFeed {
    /// Shown once: subscribe to it, keep it private. Creating a feed again replaces it.
    pub url: String,
    pub created_at: DateTime<Utc>,
}

/// Whether you have a calendar feed (its address is never shown again).
#[utoipa::path(get, path = "/api/v1/calendar-feed", tag = "appointments",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Your feed", body = FeedStatus),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn status(caller: Actor) -> Result<Response, Error> {
    caller.authorize(&Action::ManageOwnAccount).await?;
    let created_at = feed_since(&caller).await?;
    Ok(Json(FeedStatus {
        active: created_at.is_some(),
        created_at,
    })
    .into_response())
}

/// Create your private calendar feed, or rotate it (the old address stops working).
#[utoipa::path(post, path = "/api/v1/calendar-feed", tag = "appointments",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "The new address, shown once", body = NewFeed),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 403, description = "Your role has no schedule, or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn create(caller: Actor) -> Result<Response, Error> {
    Ok((StatusCode::CREATED, Json(issue(&caller).await?)).into_response())
}

/// Creates the caller's feed, or replaces its secret; audited.
pub async fn issue(caller: &Actor) -> Result<NewFeed, Error> {
    caller.authorize(&Action::ViewSchedule).await?;
    let secret = new_secret()?;
    let now = caller.now();
    let user = caller.identity.user.id;
    let mut tx = caller.tenant.pool.begin().await?;
    let replaced = feed_store::issue(&mut tx, user, &hash(&secret), now).await?;
    audit::stage(
        &mut tx,
        &caller
            .event(
                if replaced {
                    "calendar_feed.rotate"
                } else {
                    "calendar_feed.create"
                },
                Outcome::Allowed,
            )
            .resource("user", user.to_string()),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    let url = format!("{}/calendar/{secret}.ics", caller.config().link_base());
    Ok(NewFeed { url, created_at: now })
}

/// Revoke your calendar feed: its address stops working at once.
#[utoipa::path(delete, path = "/api/v1/calendar-feed", tag = "appointments",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope),
        (status = 404, description = "You have no feed", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn revoke(caller: Actor) -> Result<Response, Error> {
    withdraw(&caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Ends the caller's feed; `NotFound` when they have none. Audited.
pub async fn withdraw(caller: &Actor) -> Result<(), Error> {
    caller.authorize(&Action::ManageOwnAccount).await?;
    let user = caller.identity.user.id;
    let mut tx = caller.tenant.pool.begin().await?;
    if !feed_store::withdraw(&mut tx, user).await? {
        return Err(Error::NotFound);
    }
    audit::stage(
        &mut tx,
        &caller
            .event("calendar_feed.revoke", Outcome::Allowed)
            .resource("user", user.to_string()),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}

/// Since when the caller's feed exists, if it does.
pub async fn feed_since(caller: &Actor) -> Result<Option<DateTime<Utc>>, Error> {
    Ok(feed_store::since(&caller.tenant.pool, caller.identity.user.id).await?)
}
