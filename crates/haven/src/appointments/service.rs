//! What the API and the pages do with appointments: ask the policy, validate, check
//! clashes under advisory locks, write in one transaction with its audit events.

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::recurrence::{self, Recurrence};
use super::store::{self, ClashAt, Filter, NewAppointment};
use super::{Appointment, AppointmentStatus, EditScope, Place};
use crate::actor::Actor;
use crate::compliance::audit::{self, Audited, Outcome};
use crate::compliance::networks;
use crate::error::{Error, FieldError};
use crate::organisation::OrganisationSettings;
use crate::policy::{self, Action, AppointmentFacts};
use crate::validate::Problems;

pub use super::status::{StatusFields, set_status};
use crate::appointments::AppointmentId;
use crate::appointments::RoomId;
use crate::appointments::SeriesId;
use crate::clients::ClientId;
use crate::identity::UserId;

/// The most clients one appointment holds (a family or a group).
pub const MAX_CLIENTS: usize = 12;

/// A booking as sent by the API or the form.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentFields {
    /// One to twelve clients.
    #[serde(default)]
    pub client_ids: Vec<ClientId>,
    pub clinician_id: Option<UserId>,
    pub co_facilitator_id: Option<UserId>,
    /// `room`, `telehealth` or `elsewhere`.
    pub place: Option<String>,
    /// Required for `room`.
    pub room_id: Option<RoomId>,
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
    pub clients: Vec<ClientId>,
    pub clinician_id: UserId,
    pub co_facilitator_id: Option<UserId>,
    pub place: Place,
    pub room_id: Option<RoomId>,
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
async fn reaches_every_client(caller: &Actor, clients: &[ClientId]) -> Result<bool, Error> {
    let mut every = true;
    for client in clients {
        let facts = crate::clients::access::facts(&caller.tenant.pool, caller.identity.user.id, *client, caller.now())
            .await?
            .ok_or_else(|| Error::Invalid(vec![FieldError::new("client_ids", "no such client")]))?;
        every &= policy::may(&caller.identity, &Action::ViewClinical(facts)).is_allowed();
    }
    Ok(every)
}

/// How the caller stands to an existing appointment.
pub async fn facts(caller: &Actor, id: AppointmentId) -> Result<(AppointmentFacts, Appointment), Error> {
    let mut conn = caller.tenant.pool.acquire().await?;
    let appointment = store::find(&mut conn, id).await?.ok_or(Error::NotFound)?;
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

/// One occurrence's move in an edit.
struct Move {
    id: AppointmentId,
    was: DateTime<Utc>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// The write's audit event, and the override's when it went over clashes (`overridden`
/// describes them).
async fn stage_audit(
    tx: &mut sqlx::PgConnection,
    caller: &Actor,
    action: &str,
    (kind, resource): (&str, impl std::fmt::Display),
    booking: &Booking,
    summary: String,
    overridden: Option<String>,
) -> Result<(), Error> {
    let subjects: Vec<String> = booking.clients.iter().map(ClientId::to_string).collect();
    audit::stage(
        &mut *tx,
        &caller
            .event(action, Outcome::Allowed)
            .resource(kind, resource.to_string())
            .subjects(subjects.clone())
            .reason(summary),
    )
    .await?;
    if let (Some(reason), Some(over)) = (&booking.override_reason, overridden) {
        audit::stage(
            &mut *tx,
            &caller
                .event("appointment.conflict_override", Outcome::Allowed)
                .resource(kind, resource.to_string())
                .subjects(subjects)
                .reason(format!("{reason} (over: {over})")),
        )
        .await?;
    }
    Ok(())
}

/// The appointments a booking made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Booked {
    /// The series, when it recurs.
    pub series_id: Option<SeriesId>,
    pub appointments: Vec<Appointment>,
}

/// Books one appointment or a series. Clashes (clinician, co-facilitator, room, any
/// client) and times outside the clinician's hours refuse the booking with a 409 that
/// names each, unless an override reason is given; then it is booked and the override
/// audited.
pub async fn book(caller: &Actor, fields: &AppointmentFields) -> Result<Booked, Error> {
    let pool = &caller.tenant.pool;
    let settings = caller.tenant.settings().await?;
    let zone = settings.time_zone;
    let now = caller.now();
    let booking = validate(fields, zone, now).map_err(Error::Invalid)?;
    let every = reaches_every_client(caller, &booking.clients).await?;
    caller
        .authorize(&Action::BookAppointment {
            reaches_every_client: every,
        })
        .await?;
    check_people_and_room(caller, &booking).await?;

    let starts = match &booking.rule {
        Some(rule) => recurrence::occurrences(rule).map_err(|e| Error::Malformed(e.to_string()))?,
        None => vec![booking.starts_at],
    };
    let slots: Vec<(DateTime<Utc>, DateTime<Utc>)> = starts.iter().map(|s| (*s, *s + booking.duration)).collect();
    let staff: Vec<Uuid> = std::iter::once(booking.clinician_id)
        .chain(booking.co_facilitator_id)
        .map(|u| u.0)
        .collect();

    let mut tx = pool.begin().await?;
    let mut keys = staff.clone();
    keys.extend(booking.room_id.map(|r| r.0));
    keys.extend(booking.clients.iter().map(|c| c.0));
    store::lock_for_booking(&mut tx, &keys).await?;
    let clashes = store::clashes(&mut *tx, &slots, &staff, booking.room_id, &booking.clients, &[]).await?;
    let hours = store::availability(&mut *tx, booking.clinician_id).await?;
    let outside = outside_hours(&slots, &hours, zone);
    if (!clashes.is_empty() || !outside.is_empty()) && booking.override_reason.is_none() {
        return Err(Error::conflict(describe(&clashes, &outside, zone)));
    }

    let (series_id, ids) = insert_booking(&mut tx, caller, &booking, &slots, &settings).await?;
    let resource = match series_id {
        Some(series) => ("appointment_series", series.0),
        None => ("appointment", ids[0].0),
    };
    let overridden = (!clashes.is_empty() || !outside.is_empty()).then(|| describe(&clashes, &outside, zone));
    stage_audit(
        &mut tx,
        caller,
        "appointment.create",
        resource,
        &booking,
        format!("{} appointment(s)", ids.len()),
        overridden,
    )
    .await?;
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
    caller: &Actor,
    booking: &Booking,
    slots: &[(DateTime<Utc>, DateTime<Utc>)],
    settings: &OrganisationSettings,
) -> Result<(Option<SeriesId>, Vec<AppointmentId>), Error> {
    let zone = settings.time_zone;
    let now = caller.now();
    let by = Some(caller.identity.user.id);
    let series_id = match &booking.rule {
        Some(rule) => {
            let id = SeriesId::new();
            store::insert_series(tx, id, rule, booking.starts_at, zone, now, by).await?;
            Some(id)
        }
        None => None,
    };
    let mut ids = Vec::with_capacity(slots.len());
    for (start, end) in slots {
        let new = NewAppointment {
            id: AppointmentId::new(),
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
        super::reminders::schedule(tx, new.id, new.starts_at, now, &settings.reminders.offsets_minutes).await?;
        ids.push(new.id);
    }
    Ok((series_id, ids))
}

/// Whether `user` may be given clinical work (identity's one rule, `User::takes_caseload`).
async fn caseload_staff_exists(pool: &sqlx::PgPool, user: UserId) -> Result<bool, Error> {
    Ok(crate::identity::store::find_clinical_staff(pool, user).await?.is_some())
}

async fn check_people_and_room(caller: &Actor, booking: &Booking) -> Result<(), Error> {
    let pool = &caller.tenant.pool;
    let mut problems = Vec::new();
    if !caseload_staff_exists(pool, booking.clinician_id).await? {
        problems.push(FieldError::new(
            "clinician_id",
            "no active clinician, case manager or supervisor",
        ));
    }
    if let Some(co) = booking.co_facilitator_id
        && !caseload_staff_exists(pool, co).await?
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
        Err(Error::Invalid(problems))
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
            crate::web::time::show(*start, zone, crate::web::time::Style::DayTime),
            crate::web::time::show(*end, zone, crate::web::time::Style::Time)
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
pub async fn view(caller: &Actor, id: AppointmentId) -> Result<Audited<Appointment>, Error> {
    let (facts, appointment) = facts(caller, id).await?;
    caller.authorize(&Action::ViewAppointment(facts)).await?;
    let clients: Vec<_> = appointment.clients.iter().map(|c| c.id).collect();
    networks::require_for_clients(caller, ("appointment", id.to_string()), &clients).await?;
    let event = caller
        .event("appointment.read", Outcome::Allowed)
        .resource("appointment", id.to_string())
        .subjects(appointment.clients.iter().map(|c| c.id));
    Ok(caller.tenant.audit.read(event, appointment).await?)
}

/// A page of appointments within the caller's scope, recorded with the clients shown.
pub async fn list(caller: &Actor, filter: &Filter) -> Result<Audited<Vec<Appointment>>, Error> {
    caller.authorize(&Action::ViewSchedule).await?;
    let scope = policy::schedule_scope(&caller.identity);
    let reach = networks::list_reach(caller, "appointments").await?;
    let mut conn = caller.tenant.pool.acquire().await?;
    let mut appointments = store::list(&mut conn, scope, filter, caller.now()).await?;
    drop(conn);
    if reach == networks::ListReach::ExemptClientsOnly {
        let ids: Vec<_> = appointments
            .iter()
            .flat_map(|a| a.clients.iter().map(|c| c.id))
            .collect();
        let exempt = crate::clients::store::exempt_among(&caller.tenant.pool, &ids).await?;
        appointments.retain(|a| a.clients.iter().all(|c| exempt.contains(&c.id)));
    }
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

/// Replaces a clinician's weekly hours (checked, sorted periods); audited. The caller
/// has been allowed `SetAvailability` for them.
pub async fn save_hours(
    caller: &Actor,
    staff: UserId,
    hours: &[(i16, chrono::NaiveTime, chrono::NaiveTime)],
) -> Result<(), Error> {
    if !caseload_staff_exists(&caller.tenant.pool, staff).await? {
        return Err(Error::NotFound);
    }
    let mut tx = caller.tenant.pool.begin().await?;
    store::set_availability(&mut tx, staff, hours).await?;
    audit::stage(
        &mut tx,
        &caller
            .event("availability.set", Outcome::Allowed)
            .resource("user", staff.to_string()),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}

/// A change to an appointment, or to several occurrences of its series.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeFields {
    /// `one` (default), `following` (this and the later ones) or `all` (the whole
    /// series). Occurrences edited on their own, cancelled or past ones keep theirs.
    pub scope: Option<String>,
    /// The new start of this occurrence; the others in scope move by the same wall-clock
    /// shift.
    pub starts_at: Option<String>,
    pub duration_minutes: Option<i64>,
    pub clinician_id: Option<UserId>,
    pub co_facilitator_id: Option<UserId>,
    pub place: Option<String>,
    pub room_id: Option<RoomId>,
    pub telehealth_url: Option<String>,
    pub location_note: Option<String>,
    pub service_type: Option<String>,
    pub scheduling_note: Option<String>,
    /// Changes anyway over clashes; audited.
    pub override_reason: Option<String>,
}

/// The change applied to the appointment as it is: the fields to validate like a booking.
fn overlay(anchor: &Appointment, change: &ChangeFields) -> AppointmentFields {
    AppointmentFields {
        client_ids: anchor.clients.iter().map(|c| c.id).collect(),
        clinician_id: change.clinician_id.or(Some(UserId(anchor.clinician.id))),
        co_facilitator_id: change
            .co_facilitator_id
            .or(anchor.co_facilitator.as_ref().map(|c| UserId(c.id))),
        place: change.place.clone().or_else(|| Some(anchor.place.as_str().to_owned())),
        room_id: change.room_id.or(anchor.room.as_ref().map(|r| RoomId(r.id))),
        telehealth_url: change.telehealth_url.clone().or_else(|| anchor.telehealth_url.clone()),
        location_note: change.location_note.clone().or_else(|| anchor.location_note.clone()),
        service_type: change
            .service_type
            .clone()
            .or_else(|| Some(anchor.service_type.clone())),
        starts_at: change.starts_at.clone().or_else(|| Some(anchor.starts_at.to_rfc3339())),
        duration_minutes: change
            .duration_minutes
            .or(Some((anchor.ends_at - anchor.starts_at).num_minutes())),
        scheduling_note: change
            .scheduling_note
            .clone()
            .or_else(|| anchor.scheduling_note.clone()),
        recurrence: None,
        override_reason: change.override_reason.clone(),
    }
}

/// Which occurrences a scope takes: still scheduled, not edited on their own (but the
/// one asked about), and for `following` not before it.
fn in_scope(anchor: &Appointment, scope: EditScope, series: &[store::Occurrence]) -> Vec<store::Occurrence> {
    let anchor_start = series
        .iter()
        .find(|o| o.id == anchor.id)
        .and_then(|o| o.occurrence_start);
    series
        .iter()
        .filter(|o| o.status == AppointmentStatus::Scheduled.as_str())
        .filter(|o| o.id == anchor.id || !o.detached)
        .filter(|o| scope != EditScope::Following || o.occurrence_start >= anchor_start)
        .cloned()
        .collect()
}

/// The scope asked for, which only a scheduled appointment of a series may widen.
pub(super) fn edit_scope(anchor: &Appointment, asked: Option<&str>) -> Result<EditScope, Error> {
    let mut problems = Problems::default();
    let scope = problems
        .choice("scope", asked, EditScope::parse, EditScope::choices)
        .unwrap_or(EditScope::One);
    if scope != EditScope::One && anchor.series_id.is_none() {
        problems.add("scope", "this appointment is not part of a series");
    }
    problems.check()?;
    if anchor.status != AppointmentStatus::Scheduled {
        return Err(Error::conflict(format!(
            "this appointment is {}; only scheduled ones can be changed",
            anchor.status.as_str()
        )));
    }
    Ok(scope)
}

/// The occurrences a scope takes, the one asked about first among them.
pub(super) async fn chosen(
    tx: &mut sqlx::PgConnection,
    anchor: &Appointment,
    scope: EditScope,
) -> Result<Vec<store::Occurrence>, sqlx::Error> {
    Ok(match (scope, anchor.series_id) {
        (EditScope::One, _) | (_, None) => vec![store::Occurrence {
            id: anchor.id,
            occurrence_start: None,
            starts_at: anchor.starts_at,
            ends_at: anchor.ends_at,
            detached: true,
            status: anchor.status.as_str().to_owned(),
        }],
        (_, Some(series)) => in_scope(anchor, scope, &store::occurrences(&mut *tx, series).await?),
    })
}

/// Moves `at` by the same wall-clock shift as `from` -> `to`, in `zone` (so a series
/// moved from 10:00 to 11:00 stays at 11:00 on both sides of a daylight-saving change).
fn shifted(at: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>, zone: chrono_tz::Tz) -> DateTime<Utc> {
    let delta = to.with_timezone(&zone).naive_local() - from.with_timezone(&zone).naive_local();
    let local = at.with_timezone(&zone).naive_local() + delta;
    zone.from_local_datetime(&local)
        .earliest()
        .map_or(at + (to - from), |t| t.with_timezone(&Utc))
}

/// Changes one appointment, this and the following ones, or the whole series. Clashes
/// are checked for every occurrence in scope, as when booking.
pub async fn change(caller: &Actor, id: AppointmentId, fields: &ChangeFields) -> Result<Booked, Error> {
    let (facts, anchor) = facts(caller, id).await?;
    caller.authorize(&Action::ChangeAppointment(facts)).await?;
    let pool = &caller.tenant.pool;
    let settings = caller.tenant.settings().await?;
    let zone = settings.time_zone;
    let now = caller.now();
    let scope = edit_scope(&anchor, fields.scope.as_deref())?;
    let target = validate(&overlay(&anchor, fields), zone, now - TimeDelta::days(1)).map_err(Error::Invalid)?;
    check_people_and_room(caller, &target).await?;

    let mut tx = pool.begin().await?;
    let chosen = chosen(&mut tx, &anchor, scope).await?;
    let moves: Vec<Move> = chosen
        .iter()
        .map(|o| {
            let start = shifted(o.starts_at, anchor.starts_at, target.starts_at, zone);
            Move {
                id: o.id,
                was: o.starts_at,
                start,
                end: start + target.duration,
            }
        })
        .collect();
    let slots: Vec<(DateTime<Utc>, DateTime<Utc>)> = moves.iter().map(|m| (m.start, m.end)).collect();
    let ids: Vec<AppointmentId> = moves.iter().map(|m| m.id).collect();
    let staff: Vec<Uuid> = std::iter::once(target.clinician_id)
        .chain(target.co_facilitator_id)
        .map(|u| u.0)
        .collect();
    let mut keys = staff.clone();
    keys.extend(target.room_id.map(|r| r.0));
    keys.extend(target.clients.iter().map(|c| c.0));
    store::lock_for_booking(&mut tx, &keys).await?;
    let clashes = store::clashes(&mut *tx, &slots, &staff, target.room_id, &target.clients, &ids).await?;
    let outside = outside_hours(&slots, &store::availability(&mut *tx, target.clinician_id).await?, zone);
    if (!clashes.is_empty() || !outside.is_empty()) && target.override_reason.is_none() {
        return Err(Error::conflict(describe(&clashes, &outside, zone)));
    }

    let new_series = split_series(&mut tx, caller, &anchor, scope, &slots, zone).await?;
    for Move { id, was, start, end } in &moves {
        let change = store::Change {
            clinician_id: target.clinician_id,
            co_facilitator_id: target.co_facilitator_id,
            place: target.place,
            room_id: target.room_id,
            telehealth_url: target.telehealth_url.clone(),
            location_note: target.location_note.clone(),
            service_type: target.service_type.clone(),
            starts_at: *start,
            ends_at: *end,
            scheduling_note: target.scheduling_note.clone(),
            override_reason: target.override_reason.clone(),
            detach: scope == EditScope::One && anchor.series_id.is_some(),
            series: new_series.map(|series| (series, *start)),
        };
        if !store::update(&mut tx, *id, &change, now).await? {
            return Err(Error::conflict(
                "an appointment in scope changed just now; reload and try again".to_owned(),
            ));
        }
        if start != was {
            super::reminders::schedule(&mut tx, *id, *start, now, &settings.reminders.offsets_minutes).await?;
        }
    }
    let overridden = (!clashes.is_empty() || !outside.is_empty()).then(|| describe(&clashes, &outside, zone));
    stage_audit(
        &mut tx,
        caller,
        "appointment.update",
        ("appointment", anchor.id),
        &target,
        format!("scope {}, {} appointment(s)", scope.as_str(), moves.len()),
        overridden,
    )
    .await?;
    let mut appointments = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Some(appointment) = store::find(&mut tx, *id).await? {
            appointments.push(appointment);
        }
    }
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(Booked {
        series_id: new_series.or(anchor.series_id),
        appointments,
    })
}

/// For `following`, the occurrences from this one on become a series of their own and
/// the old one ends before them; for `all`, the series' rule restarts at its new first
/// time. Returns the new series, if one was made.
async fn split_series(
    tx: &mut sqlx::PgConnection,
    caller: &Actor,
    anchor: &Appointment,
    scope: EditScope,
    slots: &[(DateTime<Utc>, DateTime<Utc>)],
    zone: chrono_tz::Tz,
) -> Result<Option<SeriesId>, Error> {
    let (Some(series), Some(first)) = (anchor.series_id, slots.first().map(|s| s.0)) else {
        return Ok(None);
    };
    let Some(rule) = store::series_rule(&mut *tx, series).await? else {
        return Ok(None);
    };
    let count = u16::try_from(slots.len()).unwrap_or(recurrence::MAX_OCCURRENCES);
    let stored = |e: recurrence::RecurrenceError| Error::Malformed(e.to_string());
    match scope {
        EditScope::One => Ok(None),
        EditScope::All => {
            let again = recurrence::restarted(&rule, first, zone, count).map_err(stored)?;
            store::set_series_rule(tx, series, &again, first).await?;
            Ok(None)
        }
        EditScope::Following => {
            let cut_at = store::occurrences(&mut *tx, series)
                .await?
                .into_iter()
                .find(|o| o.id == anchor.id)
                .and_then(|o| o.occurrence_start)
                .unwrap_or(anchor.starts_at);
            let new_id = SeriesId::new();
            let again = recurrence::restarted(&rule, first, zone, count).map_err(stored)?;
            store::insert_series(
                tx,
                new_id,
                &again,
                first,
                zone,
                caller.now(),
                Some(caller.identity.user.id),
            )
            .await?;
            if let Some(kept) = recurrence::ending_before(&rule, cut_at).map_err(stored)? {
                let kept_first = recurrence::occurrences(&kept)
                    .map_err(stored)?
                    .first()
                    .copied()
                    .unwrap_or(first);
                store::set_series_rule(tx, series, &kept, kept_first).await?;
            }
            Ok(Some(new_id))
        }
    }
}

/// Adds a room that can be booked (organisation admins); audited. A taken name is a
/// conflict.
pub async fn create_room(caller: &Actor, name: Option<&str>) -> Result<super::Named, Error> {
    caller.authorize(&Action::ManageRooms).await?;
    let mut problems = Problems::default();
    let name = problems.required("name", name, 80);
    problems.check()?;
    let name = name.unwrap_or_default();
    let mut tx = caller.tenant.pool.begin().await?;
    let id = match store::insert_room(&mut *tx, &name, caller.now()).await {
        Ok(id) => id,
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            return Err(Error::conflict(format!("a room called {name} exists")));
        }
        Err(other) => return Err(other.into()),
    };
    audit::stage(
        &mut tx,
        &caller
            .event("room.create", Outcome::Allowed)
            .resource("room", id.to_string()),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(super::Named { id: id.0, name })
}

/// Rooms that can be booked, for those who see the schedule or manage rooms.
pub async fn rooms(caller: &Actor) -> Result<Vec<super::Named>, Error> {
    if !caller.may(&Action::ViewSchedule) {
        caller.authorize(&Action::ManageRooms).await?;
    }
    Ok(store::rooms(&caller.tenant.pool).await?)
}

/// Someone's weekly hours (weekday 1 is Monday), as the schedule shows them.
pub async fn hours(caller: &Actor, staff: UserId) -> Result<Vec<(i16, chrono::NaiveTime, chrono::NaiveTime)>, Error> {
    caller.authorize(&Action::ViewSchedule).await?;
    Ok(store::availability(&caller.tenant.pool, staff).await?)
}

/// Someone's name and weekly hours, for those who may change them: their own, or
/// anyone's for front desk and admins.
pub async fn hours_to_edit(
    caller: &Actor,
    staff: UserId,
) -> Result<(String, Vec<(i16, chrono::NaiveTime, chrono::NaiveTime)>), Error> {
    caller.authorize(&Action::SetAvailability { of: staff }).await?;
    let person = crate::identity::store::find(&caller.tenant.pool, staff)
        .await?
        .ok_or(Error::NotFound)?;
    let hours = store::availability(&caller.tenant.pool, staff).await?;
    Ok((person.display_name, hours))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> AppointmentFields {
        AppointmentFields {
            client_ids: vec![ClientId(Uuid::from_u128(1))],
            clinician_id: Some(UserId(Uuid::from_u128(2))),
            place: Some("room".to_owned()),
            room_id: Some(RoomId(Uuid::from_u128(3))),
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
            client_ids: (0..13).map(|n| ClientId(Uuid::from_u128(n))).collect(),
            co_facilitator_id: Some(UserId(Uuid::from_u128(2))),
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
