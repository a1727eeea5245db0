//! What the API and the pages do with appointments: ask the policy, validate, check
//! clashes under advisory locks, write in one transaction with its audit events.

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::recurrence::{self, Recurrence};
use super::store::{self, ClashAt, Filter, NewAppointment};
use super::{Appointment, AppointmentStatus, CancelledBy, Place};
use crate::compliance::audit::{self, Audited, Outcome};
use crate::policy::{self, Action, AppointmentFacts};
use crate::web::caller::Caller;
use crate::web::error::{FieldError, WebError};
use crate::web::form::Problems;

/// The most clients one appointment holds (a family or a group).
pub const MAX_CLIENTS: usize = 12;

/// A booking as sent by the API or the form.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentFields {
    /// One to twelve clients.
    #[serde(default)]
    pub client_ids: Vec<Uuid>,
    pub clinician_id: Option<Uuid>,
    pub co_facilitator_id: Option<Uuid>,
    /// `room`, `telehealth` or `elsewhere`.
    pub place: Option<String>,
    /// Required for `room`.
    pub room_id: Option<Uuid>,
    /// Required for `telehealth`: an https:// link.
    pub telehealth_url: Option<String>,
    /// Where, for `elsewhere` (or a detail for the others).
    pub location_note: Option<String>,
    pub service_type: Option<String>,
    /// RFC 3339 with an offset (`2027-01-05T10:00:00+11:00`), or local wall-clock time
    /// in the organisation's time zone (`2027-01-05T10:00`).
    pub starts_at: Option<String>,
    /// 5 to 720; default 50.
    pub duration_minutes: Option<i64>,
    /// For scheduling only; no clinical content.
    pub scheduling_note: Option<String>,
    pub recurrence: Option<Recurrence>,
    /// Books over clashes with other appointments or outside the clinician's hours;
    /// the reason is audited.
    pub override_reason: Option<String>,
}

/// A checked booking, before clashes are looked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Booking {
    pub clients: Vec<Uuid>,
    pub clinician_id: Uuid,
    pub co_facilitator_id: Option<Uuid>,
    pub place: Place,
    pub room_id: Option<Uuid>,
    pub telehealth_url: Option<String>,
    pub location_note: Option<String>,
    pub service_type: String,
    pub starts_at: DateTime<Utc>,
    pub duration: TimeDelta,
    pub scheduling_note: Option<String>,
    /// The stored rule, for a series.
    pub rule: Option<String>,
    pub override_reason: Option<String>,
}

/// Reads `starts_at`: with an offset, or as wall-clock time in `zone` (a time that the
/// clocks skip is refused; one they pass twice is the first).
pub fn parse_start(value: &str, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

pub fn validate(
    fields: &AppointmentFields,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<Booking, Vec<FieldError>> {
    let mut problems = Problems::default();
    let mut clients = fields.client_ids.clone();
    clients.sort();
    clients.dedup();
    if clients.is_empty() {
        problems.add("client_ids", "choose at least one client");
    } else if clients.len() > MAX_CLIENTS {
        problems.add("client_ids", format!("at most {MAX_CLIENTS} clients"));
    }
    if fields.clinician_id.is_none() {
        problems.add("clinician_id", "choose the clinician");
    }
    if fields.co_facilitator_id.is_some() && fields.co_facilitator_id == fields.clinician_id {
        problems.add(
            "co_facilitator_id",
            "the co-facilitator must be someone other than the clinician",
        );
    }
    let place = problems.required_choice("place", fields.place.as_deref(), Place::parse, Place::choices);
    let telehealth_url = problems.optional("telehealth_url", fields.telehealth_url.as_deref(), 500);
    let location_note = problems.optional("location_note", fields.location_note.as_deref(), 200);
    match place {
        Some(Place::Room) if fields.room_id.is_none() => problems.add("room_id", "choose the room"),
        Some(Place::Telehealth) => match &telehealth_url {
            None => problems.add("telehealth_url", "give the link for the session"),
            Some(url) if !url.starts_with("https://") || url.len() < 12 || url.contains(char::is_whitespace) => {
                problems.add("telehealth_url", "must be an https:// link");
            }
            Some(_) => {}
        },
        Some(Place::Elsewhere) if location_note.is_none() => problems.add("location_note", "say where"),
        _ => {}
    }
    let service_type = problems.required("service_type", fields.service_type.as_deref(), 80);
    let starts_at = match fields.starts_at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            problems.add("starts_at", "give the start date and time");
            None
        }
        Some(value) => match parse_start(value, zone) {
            None => {
                problems.add(
                    "starts_at",
                    "use a date and time such as 2027-01-05T10:00 (or with an offset); it must exist in the organisation's time zone",
                );
                None
            }
            Some(at) if at < now - TimeDelta::days(366) || at > now + TimeDelta::days(2 * 366) => {
                problems.add("starts_at", "must be within a year ago and two years ahead");
                None
            }
            Some(at) => Some(at),
        },
    };
    let minutes = fields.duration_minutes.unwrap_or(50);
    if !(5..=720).contains(&minutes) {
        problems.add("duration_minutes", "must be 5 to 720 minutes");
    }
    let scheduling_note = problems.optional("scheduling_note", fields.scheduling_note.as_deref(), 500);
    let override_reason = problems.optional("override_reason", fields.override_reason.as_deref(), 500);
    let rule = match (&fields.recurrence, starts_at) {
        (Some(repeat), Some(first)) => match recurrence::rule(repeat, first, zone) {
            Ok(rule) => Some(rule),
            Err(err) => {
                problems.add(err.field(), err.to_string());
                None
            }
        },
        _ => None,
    };
    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    match (fields.clinician_id, place, service_type, starts_at) {
        (Some(clinician_id), Some(place), Some(service_type), Some(starts_at)) => Ok(Booking {
            clients,
            clinician_id,
            co_facilitator_id: fields.co_facilitator_id,
            place,
            room_id: if place == Place::Room { fields.room_id } else { None },
            telehealth_url: if place == Place::Telehealth {
                telehealth_url
            } else {
                None
            },
            location_note,
            service_type,
            starts_at,
            duration: TimeDelta::minutes(minutes),
            scheduling_note,
            rule,
            override_reason,
        }),
        _ => Err(vec![FieldError::new("starts_at", "could not be read")]),
    }
}

/// How the caller stands to these clients, for the policy; `NotFound` for a client
/// that does not exist.
async fn reaches_every_client(caller: &Caller, clients: &[Uuid]) -> Result<bool, WebError> {
    let mut every = true;
    for client in clients {
        let facts = crate::clients::access::facts(&caller.tenant.pool, caller.identity.user.id, *client, caller.now())
            .await?
            .ok_or_else(|| WebError::Validation(vec![FieldError::new("client_ids", "no such client")]))?;
        every &= policy::may(&caller.identity, &Action::ViewClinical(facts)).is_allowed();
    }
    Ok(every)
}

/// How the caller stands to an existing appointment.
pub async fn facts(caller: &Caller, id: Uuid) -> Result<(AppointmentFacts, Appointment), WebError> {
    let mut conn = caller.tenant.pool.acquire().await?;
    let appointment = store::find(&mut conn, id).await?.ok_or(WebError::NotFound)?;
    drop(conn);
    let me = caller.identity.user.id.0;
    let mut reaches_a_client = false;
    for client in &appointment.clients {
        if let Some(facts) =
            crate::clients::access::facts(&caller.tenant.pool, caller.identity.user.id, client.id, caller.now()).await?
            && policy::may(&caller.identity, &Action::ViewClinical(facts)).is_allowed()
        {
            reaches_a_client = true;
            break;
        }
    }
    let facts = AppointmentFacts {
        involves_them: appointment.clinician.id == me
            || appointment.co_facilitator.as_ref().is_some_and(|c| c.id == me),
        reaches_a_client,
    };
    Ok((facts, appointment))
}

/// The appointments a booking made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Booked {
    /// The series, when it recurs.
    pub series_id: Option<Uuid>,
    pub appointments: Vec<Appointment>,
}

/// Books one appointment or a series. Clashes (clinician, co-facilitator, room, any
/// client) and times outside the clinician's hours refuse the booking with a 409 that
/// names each, unless an override reason is given; then it is booked and the override
/// audited.
pub async fn book(caller: &Caller, fields: &AppointmentFields) -> Result<Booked, WebError> {
    let pool = &caller.tenant.pool;
    let zone = store::organisation_zone(pool).await?;
    let now = caller.now();
    let booking = validate(fields, zone, now).map_err(WebError::Validation)?;
    let every = reaches_every_client(caller, &booking.clients).await?;
    caller
        .authorize(&Action::BookAppointment {
            reaches_every_client: every,
        })
        .await?;
    check_people_and_room(caller, &booking).await?;

    let starts = match &booking.rule {
        Some(rule) => recurrence::occurrences(rule).map_err(|e| WebError::BadRequest(e.to_string()))?,
        None => vec![booking.starts_at],
    };
    let slots: Vec<(DateTime<Utc>, DateTime<Utc>)> = starts.iter().map(|s| (*s, *s + booking.duration)).collect();
    let staff: Vec<Uuid> = std::iter::once(booking.clinician_id)
        .chain(booking.co_facilitator_id)
        .collect();

    let mut tx = pool.begin().await?;
    let mut keys = staff.clone();
    keys.extend(booking.room_id);
    keys.extend(&booking.clients);
    store::lock_for_booking(&mut tx, &keys).await?;
    let clashes = store::clashes(&mut *tx, &slots, &staff, booking.room_id, &booking.clients, &[]).await?;
    let hours = store::availability(&mut *tx, booking.clinician_id).await?;
    let outside = outside_hours(&slots, &hours, zone);
    if (!clashes.is_empty() || !outside.is_empty()) && booking.override_reason.is_none() {
        return Err(WebError::Conflict(describe(&clashes, &outside, zone)));
    }

    let (series_id, ids) = insert_booking(&mut tx, caller, &booking, &slots, zone).await?;
    let subjects: Vec<String> = booking.clients.iter().map(Uuid::to_string).collect();
    let (resource_kind, resource) = match series_id {
        Some(series) => ("appointment_series", series),
        None => ("appointment", ids[0]),
    };
    audit::stage(
        &mut tx,
        &caller
            .event("appointment.create", Outcome::Allowed)
            .resource(resource_kind, resource.to_string())
            .subjects(subjects.clone())
            .reason(format!("{} appointment(s)", ids.len())),
    )
    .await?;
    if let Some(reason) = &booking.override_reason
        && (!clashes.is_empty() || !outside.is_empty())
    {
        audit::stage(
            &mut tx,
            &caller
                .event("appointment.conflict_override", Outcome::Allowed)
                .resource(resource_kind, resource.to_string())
                .subjects(subjects)
                .reason(format!("{reason} (over: {})", describe(&clashes, &outside, zone))),
        )
        .await?;
    }
    let mut appointments = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Some(appointment) = store::find(&mut tx, *id).await? {
            appointments.push(appointment);
        }
    }
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(Booked {
        series_id,
        appointments,
    })
}

/// Writes the series (if any) and one appointment per slot; returns their ids.
async fn insert_booking(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    booking: &Booking,
    slots: &[(DateTime<Utc>, DateTime<Utc>)],
    zone: chrono_tz::Tz,
) -> Result<(Option<Uuid>, Vec<Uuid>), WebError> {
    let now = caller.now();
    let by = Some(caller.identity.user.id);
    let series_id = match &booking.rule {
        Some(rule) => {
            let id = Uuid::now_v7();
            store::insert_series(tx, id, rule, booking.starts_at, zone, now, by).await?;
            Some(id)
        }
        None => None,
    };
    let mut ids = Vec::with_capacity(slots.len());
    for (start, end) in slots {
        let new = NewAppointment {
            id: Uuid::now_v7(),
            occurrence: series_id.map(|series| (series, *start)),
            clients: booking.clients.clone(),
            clinician_id: booking.clinician_id,
            co_facilitator_id: booking.co_facilitator_id,
            place: booking.place,
            room_id: booking.room_id,
            telehealth_url: booking.telehealth_url.clone(),
            location_note: booking.location_note.clone(),
            service_type: booking.service_type.clone(),
            starts_at: *start,
            ends_at: *end,
            scheduling_note: booking.scheduling_note.clone(),
            override_reason: booking.override_reason.clone(),
        };
        store::insert(tx, &new, now, by).await?;
        super::reminders::schedule(tx, new.id, new.starts_at, now).await?;
        ids.push(new.id);
    }
    Ok((series_id, ids))
}

async fn check_people_and_room(caller: &Caller, booking: &Booking) -> Result<(), WebError> {
    let pool = &caller.tenant.pool;
    let mut problems = Vec::new();
    if !store::is_bookable_clinician(pool, booking.clinician_id).await? {
        problems.push(FieldError::new(
            "clinician_id",
            "no active clinician, case manager or supervisor",
        ));
    }
    if let Some(co) = booking.co_facilitator_id
        && !store::is_bookable_clinician(pool, co).await?
    {
        problems.push(FieldError::new(
            "co_facilitator_id",
            "no active clinician, case manager or supervisor",
        ));
    }
    if let Some(room) = booking.room_id
        && store::active_room(pool, room).await?.is_none()
    {
        problems.push(FieldError::new("room_id", "no such room in use"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(WebError::Validation(problems))
    }
}

/// The slots that fall outside the clinician's weekly hours (none when no hours are set).
fn outside_hours(
    slots: &[(DateTime<Utc>, DateTime<Utc>)],
    hours: &[(i16, chrono::NaiveTime, chrono::NaiveTime)],
    zone: chrono_tz::Tz,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    use chrono::Datelike;
    if hours.is_empty() {
        return Vec::new();
    }
    slots
        .iter()
        .copied()
        .filter(|(start, end)| {
            let (from, to) = (start.with_timezone(&zone), end.with_timezone(&zone));
            let weekday = i16::try_from(from.weekday().number_from_monday()).unwrap_or(0);
            let within = hours.iter().any(|(day, opens, closes)| {
                *day == weekday && from.date_naive() == to.date_naive() && from.time() >= *opens && to.time() <= *closes
            });
            !within
        })
        .collect()
}

/// "Jo Smith already has an appointment Tue 5 Jan 2027 10:00–10:50; …", in the
/// organisation's time zone.
fn describe(clashes: &[ClashAt], outside: &[(DateTime<Utc>, DateTime<Utc>)], zone: chrono_tz::Tz) -> String {
    let when = |start: &DateTime<Utc>, end: &DateTime<Utc>| {
        format!(
            "{}–{}",
            start.with_timezone(&zone).format("%a %-d %b %Y %H:%M"),
            end.with_timezone(&zone).format("%H:%M")
        )
    };
    let mut parts: Vec<String> = clashes
        .iter()
        .map(|c| match &c.clash {
            store::Clash::Staff(name) => {
                format!("{name} already has an appointment {}", when(&c.starts_at, &c.ends_at))
            }
            store::Clash::Room(room) => format!("{room} is booked {}", when(&c.starts_at, &c.ends_at)),
            store::Clash::Client(record) => {
                format!(
                    "client {record} already has an appointment {}",
                    when(&c.starts_at, &c.ends_at)
                )
            }
        })
        .collect();
    parts.extend(
        outside
            .iter()
            .map(|(s, e)| format!("{} is outside the clinician's hours", when(s, e))),
    );
    parts.dedup();
    let total = parts.len();
    parts.truncate(10);
    let more = if total > 10 {
        format!("; and {} more", total - 10)
    } else {
        String::new()
    };
    format!(
        "This clashes: {}{more}. Choose another time, or book anyway with a reason (override_reason).",
        parts.join("; ")
    )
}

/// One appointment, recorded in the audit trail before it is shown.
pub async fn view(caller: &Caller, id: Uuid) -> Result<Audited<Appointment>, WebError> {
    let (facts, appointment) = facts(caller, id).await?;
    caller.authorize(&Action::ViewAppointment(facts)).await?;
    let event = caller
        .event("appointment.read", Outcome::Allowed)
        .resource("appointment", id.to_string())
        .subjects(appointment.clients.iter().map(|c| c.id.to_string()));
    Ok(caller.tenant.audit.read(event, appointment).await?)
}

/// A page of appointments within the caller's scope, recorded with the clients shown.
pub async fn list(caller: &Caller, filter: &Filter) -> Result<Audited<Vec<Appointment>>, WebError> {
    caller.authorize(&Action::ViewSchedule).await?;
    let scope = policy::schedule_scope(&caller.identity);
    let mut conn = caller.tenant.pool.acquire().await?;
    let appointments = store::list(&mut conn, scope, filter, caller.now()).await?;
    drop(conn);
    let mut subjects: Vec<String> = appointments
        .iter()
        .flat_map(|a| a.clients.iter().map(|c| c.id.to_string()))
        .collect();
    subjects.sort();
    subjects.dedup();
    subjects.truncate(200);
    let event = caller.event("appointment.list", Outcome::Allowed).subjects(subjects);
    Ok(caller.tenant.audit.read(event, appointments).await?)
}

/// A status change as sent by the API or a button.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusFields {
    /// `arrived`, `completed`, `cancelled`, `no_show` or `scheduled` (undo).
    pub to: Option<String>,
    /// For `cancelled`: `client` or `staff`.
    pub cancelled_by: Option<String>,
    /// For `cancelled`.
    pub reason: Option<String>,
}

/// Checks in, completes, cancels (by client or staff, with a reason; a client's
/// cancellation within the organisation's notice period is marked late) or marks a
/// no-show; audited with the change.
pub async fn set_status(caller: &Caller, id: Uuid, fields: &StatusFields) -> Result<Appointment, WebError> {
    let (facts, appointment) = facts(caller, id).await?;
    caller.authorize(&Action::ChangeAppointment(facts)).await?;
    let mut problems = Problems::default();
    let to = problems.required_choice(
        "to",
        fields.to.as_deref(),
        AppointmentStatus::parse,
        AppointmentStatus::choices,
    );
    let cancelled = to == Some(AppointmentStatus::Cancelled);
    let cancelled_by = if cancelled {
        problems.required_choice(
            "cancelled_by",
            fields.cancelled_by.as_deref(),
            CancelledBy::parse,
            CancelledBy::choices,
        )
    } else {
        None
    };
    let reason = if cancelled {
        problems.required("reason", fields.reason.as_deref(), 500)
    } else {
        None
    };
    problems.check()?;
    let Some(to) = to else {
        return Err(WebError::BadRequest("to: missing".to_owned()));
    };
    let from = appointment.status;
    if !from.can_move_to(to) {
        let allowed: Vec<&str> = from.next().into_iter().map(AppointmentStatus::as_str).collect();
        return Err(WebError::Conflict(format!(
            "this appointment is {}; it can move to {}",
            from.as_str(),
            if allowed.is_empty() {
                "nothing else".to_owned()
            } else {
                allowed.join(", ")
            }
        )));
    }
    let now = caller.now();
    let mut tx = caller.tenant.pool.begin().await?;
    let notice = late_cancel_notice(&mut tx).await?;
    let late = cancelled_by == Some(CancelledBy::Client) && appointment.starts_at - now < notice;
    if !store::move_status(&mut tx, id, from, to, cancelled_by, reason.as_deref(), late, now).await? {
        return Err(WebError::Conflict(
            "someone else changed this appointment just now; reload and try again".to_owned(),
        ));
    }
    audit::stage(
        &mut tx,
        &caller
            .event("appointment.status", Outcome::Allowed)
            .resource("appointment", id.to_string())
            .subjects(appointment.clients.iter().map(|c| c.id.to_string()))
            .reason(format!(
                "{} -> {}{}",
                from.as_str(),
                to.as_str(),
                if late { " (late)" } else { "" }
            )),
    )
    .await?;
    let updated = store::find(&mut tx, id).await?.ok_or(WebError::NotFound)?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(updated)
}

async fn late_cancel_notice(conn: &mut sqlx::PgConnection) -> Result<TimeDelta, sqlx::Error> {
    let hours = sqlx::query_scalar!("SELECT late_cancel_hours FROM organisation_settings")
        .fetch_optional(conn)
        .await?
        .unwrap_or(24);
    Ok(TimeDelta::hours(i64::from(hours)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> AppointmentFields {
        AppointmentFields {
            client_ids: vec![Uuid::from_u128(1)],
            clinician_id: Some(Uuid::from_u128(2)),
            place: Some("room".to_owned()),
            room_id: Some(Uuid::from_u128(3)),
            service_type: Some("Counselling".to_owned()),
            starts_at: Some("2027-01-05T10:00".to_owned()),
            ..AppointmentFields::default()
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()
    }

    fn fields_named(result: Result<Booking, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field.into_owned()).collect()
    }

    #[test]
    fn a_local_start_is_read_in_the_organisations_zone() {
        let zone = chrono_tz::Australia::Melbourne;
        let booking = validate(&fields(), zone, now()).unwrap();
        assert_eq!(booking.starts_at, Utc.with_ymd_and_hms(2027, 1, 4, 23, 0, 0).unwrap());
        assert_eq!(booking.duration, TimeDelta::minutes(50));
        assert_eq!(
            parse_start("2027-01-05T10:00:00+11:00", chrono_tz::UTC),
            Some(booking.starts_at)
        );
        // 02:30 does not exist in Melbourne on the first Sunday of October.
        assert_eq!(parse_start("2027-10-03T02:30", zone), None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let zone = chrono_tz::UTC;
        let empty = AppointmentFields::default();
        assert_eq!(
            fields_named(validate(&empty, zone, now())),
            ["client_ids", "clinician_id", "place", "service_type", "starts_at"]
        );
        let bad = AppointmentFields {
            client_ids: (0..13).map(Uuid::from_u128).collect(),
            co_facilitator_id: Some(Uuid::from_u128(2)),
            place: Some("garden".to_owned()),
            service_type: Some("x".repeat(81)),
            starts_at: Some("next tuesday".to_owned()),
            duration_minutes: Some(1_000),
            ..fields()
        };
        assert_eq!(
            fields_named(validate(&bad, zone, now())),
            [
                "client_ids",
                "co_facilitator_id",
                "place",
                "service_type",
                "starts_at",
                "duration_minutes"
            ]
        );
        let telehealth = AppointmentFields {
            place: Some("telehealth".to_owned()),
            telehealth_url: Some("http://insecure.example".to_owned()),
            ..fields()
        };
        assert_eq!(fields_named(validate(&telehealth, zone, now())), ["telehealth_url"]);
        let nowhere = AppointmentFields {
            place: Some("elsewhere".to_owned()),
            ..fields()
        };
        assert_eq!(fields_named(validate(&nowhere, zone, now())), ["location_note"]);
        let far = AppointmentFields {
            starts_at: Some("2031-01-01T10:00".to_owned()),
            ..fields()
        };
        assert_eq!(fields_named(validate(&far, zone, now())), ["starts_at"]);
        let endless = AppointmentFields {
            recurrence: Some(Recurrence {
                repeat: recurrence::RepeatEvery::Week,
                interval: 1,
                count: None,
                until: None,
            }),
            ..fields()
        };
        assert_eq!(fields_named(validate(&endless, zone, now())), ["recurrence"]);
    }

    #[test]
    fn hours_bound_each_occurrence_in_local_time() {
        use chrono::NaiveTime;
        let zone = chrono_tz::Europe::London;
        let tuesday_nine_to_five = [(
            2,
            NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        )];
        let at = |d, h, m| zone.with_ymd_and_hms(2027, 1, d, h, m, 0).unwrap().with_timezone(&Utc);
        let inside = (at(5, 9, 0), at(5, 10, 0));
        let late = (at(5, 16, 30), at(5, 17, 30));
        let wednesday = (at(6, 10, 0), at(6, 11, 0));
        assert_eq!(
            outside_hours(&[inside, late, wednesday], &tuesday_nine_to_five, zone),
            [late, wednesday]
        );
        assert!(outside_hours(&[late], &[], zone).is_empty(), "no hours set: no limit");
    }
}
