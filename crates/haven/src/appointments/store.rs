//! The appointments tables: booking, reading, lists within the policy's scope, clashes
//! and status moves.

use chrono::{DateTime, NaiveTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Appointment, AppointmentStatus, CancelledBy, ClientRef, Named, Place};
use crate::appointments::AppointmentId;
use crate::appointments::RoomId;
use crate::appointments::SeriesId;
use crate::clients::ClientId;
use crate::identity::UserId;
use crate::policy::ScheduleScope;

/// One appointment to write.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub id: AppointmentId,
    /// The series and this occurrence's start as the rule gave it.
    pub occurrence: Option<(SeriesId, DateTime<Utc>)>,
    pub clients: Vec<ClientId>,
    pub clinician_id: UserId,
    pub co_facilitator_id: Option<UserId>,
    pub place: Place,
    pub room_id: Option<RoomId>,
    pub telehealth_url: Option<String>,
    pub location_note: Option<String>,
    pub service_type: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub scheduling_note: Option<String>,
    pub override_reason: Option<String>,
}

pub async fn insert_series(
    conn: &mut PgConnection,
    id: SeriesId,
    rule: &str,
    first_start: DateTime<Utc>,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
    by: Option<UserId>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO appointment_series (id, rule, first_start, time_zone, created_at, created_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        "#,
        id as _,
        rule,
        first_start,
        zone.name(),
        now,
        by.map(|u| u.0)
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert(
    conn: &mut PgConnection,
    new: &NewAppointment,
    now: DateTime<Utc>,
    by: Option<UserId>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO appointments (id, series_id, occurrence_start, clinician_id, co_facilitator_id, place,
                                  room_id, telehealth_url, location_note, service_type, starts_at, ends_at,
                                  scheduling_note, override_reason, created_at, created_by, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $15)
        "#,
        new.id as _,
        new.occurrence.map(|(series, _)| series) as _,
        new.occurrence.map(|(_, start)| start),
        new.clinician_id as _,
        new.co_facilitator_id as _,
        new.place.as_str(),
        new.room_id as _,
        new.telehealth_url,
        new.location_note,
        new.service_type,
        new.starts_at,
        new.ends_at,
        new.scheduling_note,
        new.override_reason,
        now,
        by.map(|u| u.0)
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO appointment_clients (appointment_id, client_id) SELECT $1, unnest($2::uuid[])",
        new.id as _,
        &new.clients as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Serialises bookings that touch the same people or room, so that two at once cannot
/// both pass the clash check (transaction-scoped advisory locks, taken in one order).
pub async fn lock_for_booking(conn: &mut PgConnection, keys: &[Uuid]) -> Result<(), sqlx::Error> {
    let mut keys: Vec<String> = keys.iter().map(|k| format!("appointments:{k}")).collect();
    keys.sort();
    keys.dedup();
    sqlx::query!(
        "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM unnest($1::text[]) AS k",
        &keys
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// What a proposed time clashes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clash {
    /// The clinician or co-facilitator (by name) has another appointment.
    Staff(String),
    Room(String),
    /// A client (by record number) has another appointment.
    Client(String),
}

#[derive(Debug, Clone)]
pub struct ClashAt {
    pub clash: Clash,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Appointments that hold any of `staff`, `room` or `clients` during any of `slots`
/// (cancelled ones and no-shows hold nothing), other than `excluding`.
pub async fn clashes(
    db: impl PgExecutor<'_>,
    slots: &[(DateTime<Utc>, DateTime<Utc>)],
    staff: &[Uuid],
    room: Option<RoomId>,
    clients: &[ClientId],
    excluding: &[AppointmentId],
) -> Result<Vec<ClashAt>, sqlx::Error> {
    let starts: Vec<DateTime<Utc>> = slots.iter().map(|s| s.0).collect();
    let ends: Vec<DateTime<Utc>> = slots.iter().map(|s| s.1).collect();
    let rows = sqlx::query!(
        r#"
        SELECT a.starts_at, a.ends_at,
               CASE WHEN a.clinician_id = ANY($3) THEN cu.display_name
                    WHEN a.co_facilitator_id = ANY($3) THEN fu.display_name END AS staff,
               CASE WHEN a.room_id = $4 THEN r.name END AS room,
               (SELECT min(c.record_number) FROM appointment_clients ac JOIN clients c ON c.id = ac.client_id
                WHERE ac.appointment_id = a.id AND ac.client_id = ANY($5)) AS client
        FROM unnest($1::timestamptz[], $2::timestamptz[]) AS slot(s, e)
        JOIN appointments a ON a.starts_at < slot.e AND a.ends_at > slot.s
        JOIN users cu ON cu.id = a.clinician_id
        LEFT JOIN users fu ON fu.id = a.co_facilitator_id
        LEFT JOIN rooms r ON r.id = a.room_id
        WHERE a.status NOT IN ('cancelled', 'no_show')
          AND NOT (a.id = ANY($6))
          AND (a.clinician_id = ANY($3) OR a.co_facilitator_id = ANY($3) OR a.room_id = $4
               OR EXISTS (SELECT 1 FROM appointment_clients ac
                          WHERE ac.appointment_id = a.id AND ac.client_id = ANY($5)))
        ORDER BY a.starts_at
        "#,
        &starts,
        &ends,
        staff,
        room as _,
        clients as _,
        excluding as _
    )
    .fetch_all(db)
    .await?;
    let mut found = Vec::new();
    for row in rows {
        let at = |clash| ClashAt {
            clash,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
        };
        if let Some(name) = &row.staff {
            found.push(at(Clash::Staff(name.clone())));
        }
        if let Some(room) = &row.room {
            found.push(at(Clash::Room(room.clone())));
        }
        if let Some(record) = &row.client {
            found.push(at(Clash::Client(record.clone())));
        }
    }
    Ok(found)
}

/// A clinician's weekly hours: (ISO weekday, from, to).
pub async fn availability(
    db: impl PgExecutor<'_>,
    user: UserId,
) -> Result<Vec<(i16, NaiveTime, NaiveTime)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT weekday, starts, ends FROM clinician_availability WHERE user_id = $1 ORDER BY weekday, starts",
        user as _
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.weekday, r.starts, r.ends)).collect())
}

pub async fn set_availability(
    conn: &mut PgConnection,
    user: UserId,
    hours: &[(i16, NaiveTime, NaiveTime)],
) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM clinician_availability WHERE user_id = $1", user as _)
        .execute(&mut *conn)
        .await?;
    let weekdays: Vec<i16> = hours.iter().map(|h| h.0).collect();
    let starts: Vec<NaiveTime> = hours.iter().map(|h| h.1).collect();
    let ends: Vec<NaiveTime> = hours.iter().map(|h| h.2).collect();
    sqlx::query!(
        r#"
        INSERT INTO clinician_availability (user_id, weekday, starts, ends)
        SELECT $1, w, s, e FROM unnest($2::int2[], $3::time[], $4::time[]) AS h(w, s, e)
        "#,
        user as _,
        &weekdays,
        &starts,
        &ends
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The room's name, when it exists and is in use.
pub async fn active_room(db: impl PgExecutor<'_>, room: RoomId) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT name FROM rooms WHERE id = $1 AND active", room as _)
        .fetch_optional(db)
        .await
}

pub async fn rooms(db: impl PgExecutor<'_>) -> Result<Vec<Named>, sqlx::Error> {
    sqlx::query_as!(Named, "SELECT id, name FROM rooms WHERE active ORDER BY name")
        .fetch_all(db)
        .await
}

pub async fn insert_room(db: impl PgExecutor<'_>, name: &str, now: DateTime<Utc>) -> Result<RoomId, sqlx::Error> {
    let id = RoomId::new();
    sqlx::query!(
        "INSERT INTO rooms (id, name, created_at) VALUES ($1, $2, $3)",
        id.0,
        name,
        now
    )
    .execute(db)
    .await?;
    Ok(id)
}

/// Moves the status when it still is `from`; false when someone else moved it first.
#[allow(clippy::too_many_arguments)]
pub async fn move_status(
    conn: &mut PgConnection,
    id: AppointmentId,
    from: AppointmentStatus,
    to: AppointmentStatus,
    cancelled_by: Option<CancelledBy>,
    cancel_reason: Option<&str>,
    late_cancel: bool,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE appointments
        SET status = $3, cancelled_by = $4, cancel_reason = $5, late_cancel = $6, sequence = sequence + 1,
            updated_at = $7
        WHERE id = $1 AND status = $2
        "#,
        id as _,
        from.as_str(),
        to.as_str(),
        cancelled_by.map(CancelledBy::as_str),
        cancel_reason,
        late_cancel,
        now
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

struct AppointmentRow {
    id: Uuid,
    series_id: Option<Uuid>,
    detached: bool,
    clinician_id: Uuid,
    clinician_name: String,
    co_facilitator_id: Option<Uuid>,
    co_facilitator_name: Option<String>,
    place: String,
    room_id: Option<Uuid>,
    room_name: Option<String>,
    telehealth_url: Option<String>,
    location_note: Option<String>,
    service_type: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    status: String,
    cancelled_by: Option<String>,
    cancel_reason: Option<String>,
    late_cancel: bool,
    scheduling_note: Option<String>,
    override_reason: Option<String>,
    sequence: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl AppointmentRow {
    fn into_appointment(self, clients: Vec<ClientRef>) -> Appointment {
        Appointment {
            id: self.id.into(),
            series_id: self.series_id.map(SeriesId),
            detached: self.detached,
            clients,
            clinician: Named {
                id: self.clinician_id,
                name: self.clinician_name,
            },
            co_facilitator: self
                .co_facilitator_id
                .zip(self.co_facilitator_name)
                .map(|(id, name)| Named { id, name }),
            // The table's checks allow only these words.
            place: Place::parse(&self.place).unwrap_or(Place::Elsewhere),
            room: self.room_id.zip(self.room_name).map(|(id, name)| Named { id, name }),
            telehealth_url: self.telehealth_url,
            location_note: self.location_note,
            service_type: self.service_type,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            status: AppointmentStatus::parse(&self.status).unwrap_or(AppointmentStatus::Scheduled),
            cancelled_by: self.cancelled_by.as_deref().and_then(CancelledBy::parse),
            cancel_reason: self.cancel_reason,
            late_cancel: self.late_cancel,
            scheduling_note: self.scheduling_note,
            override_reason: self.override_reason,
            sequence: self.sequence,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

struct ClientRow {
    appointment_id: Uuid,
    id: Uuid,
    legal_given_name: String,
    legal_family_name: String,
    preferred_name: Option<String>,
    record_number: String,
}

async fn clients_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> Result<Vec<ClientRow>, sqlx::Error> {
    sqlx::query_as!(
        ClientRow,
        r#"
        SELECT ac.appointment_id, c.id, c.legal_given_name, c.legal_family_name, c.preferred_name, c.record_number
        FROM appointment_clients ac JOIN clients c ON c.id = ac.client_id
        WHERE ac.appointment_id = ANY($1)
        ORDER BY c.family_name_key, c.given_name_key, c.id
        "#,
        ids
    )
    .fetch_all(db)
    .await
}

fn attach_clients(rows: Vec<AppointmentRow>, clients: &[ClientRow]) -> Vec<Appointment> {
    rows.into_iter()
        .map(|row| {
            let mine = clients
                .iter()
                .filter(|c| c.appointment_id == row.id)
                .map(|c| ClientRef {
                    id: c.id.into(),
                    name: crate::clients::display_name(
                        &c.legal_given_name,
                        &c.legal_family_name,
                        c.preferred_name.as_deref(),
                    ),
                    record_number: c.record_number.clone(),
                })
                .collect();
            row.into_appointment(mine)
        })
        .collect()
}

pub async fn find(conn: &mut PgConnection, id: AppointmentId) -> Result<Option<Appointment>, sqlx::Error> {
    let row = sqlx::query_as!(
        AppointmentRow,
        r#"
        SELECT a.id, a.series_id, a.detached, a.clinician_id, cu.display_name AS clinician_name,
               a.co_facilitator_id, fu.display_name AS "co_facilitator_name?", a.place, a.room_id,
               r.name AS "room_name?", a.telehealth_url, a.location_note, a.service_type, a.starts_at, a.ends_at,
               a.status, a.cancelled_by, a.cancel_reason, a.late_cancel, a.scheduling_note, a.override_reason,
               a.sequence, a.created_at, a.updated_at
        FROM appointments a
        JOIN users cu ON cu.id = a.clinician_id
        LEFT JOIN users fu ON fu.id = a.co_facilitator_id
        LEFT JOIN rooms r ON r.id = a.room_id
        WHERE a.id = $1
        "#,
        id as _
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let clients = clients_of(&mut *conn, &[id.0]).await?;
    Ok(attach_clients(vec![row], &clients).pop())
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Led or co-facilitated by.
    pub staff: Option<UserId>,
    pub room: Option<RoomId>,
    pub client: Option<ClientId>,
    pub status: Option<AppointmentStatus>,
    pub limit: i64,
    pub offset: i64,
}

/// Appointments in `scope` matching `filter`, by start.
pub async fn list(
    conn: &mut PgConnection,
    scope: ScheduleScope,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Appointment>, sqlx::Error> {
    let (everyone, viewer, through_supervision) = match scope {
        ScheduleScope::Nothing => return Ok(Vec::new()),
        ScheduleScope::All => (true, Uuid::nil(), false),
        ScheduleScope::Involving {
            user,
            through_supervision,
        } => (false, user.0, through_supervision),
    };
    let rows = sqlx::query_as!(
        AppointmentRow,
        r#"
        SELECT a.id, a.series_id, a.detached, a.clinician_id, cu.display_name AS clinician_name,
               a.co_facilitator_id, fu.display_name AS "co_facilitator_name?", a.place, a.room_id,
               r.name AS "room_name?", a.telehealth_url, a.location_note, a.service_type, a.starts_at, a.ends_at,
               a.status, a.cancelled_by, a.cancel_reason, a.late_cancel, a.scheduling_note, a.override_reason,
               a.sequence, a.created_at, a.updated_at
        FROM appointments a
        JOIN users cu ON cu.id = a.clinician_id
        LEFT JOIN users fu ON fu.id = a.co_facilitator_id
        LEFT JOIN rooms r ON r.id = a.room_id
        WHERE ($1 OR a.clinician_id = $2 OR a.co_facilitator_id = $2
               OR EXISTS (SELECT 1 FROM appointment_clients ac
                          JOIN clients_within_reach($2, $3, $4) w ON w.client_id = ac.client_id
                          WHERE ac.appointment_id = a.id))
          AND ($5::timestamptz IS NULL OR a.ends_at > $5)
          AND ($6::timestamptz IS NULL OR a.starts_at < $6)
          AND ($7::uuid IS NULL OR a.clinician_id = $7 OR a.co_facilitator_id = $7)
          AND ($8::uuid IS NULL OR a.room_id = $8)
          AND ($9::uuid IS NULL OR EXISTS (SELECT 1 FROM appointment_clients ac
                                           WHERE ac.appointment_id = a.id AND ac.client_id = $9))
          AND ($10::text IS NULL OR a.status = $10)
        ORDER BY a.starts_at, a.id
        LIMIT $11 OFFSET $12
        "#,
        everyone,
        viewer,
        through_supervision,
        now,
        filter.from,
        filter.to,
        filter.staff as _,
        filter.room as _,
        filter.client as _,
        filter.status.map(AppointmentStatus::as_str),
        filter.limit,
        filter.offset
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let clients = clients_of(&mut *conn, &ids).await?;
    Ok(attach_clients(rows, &clients))
}

/// The clients of an appointment, for the policy.
pub async fn client_ids(db: impl PgExecutor<'_>, id: AppointmentId) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT client_id FROM appointment_clients WHERE appointment_id = $1",
        id as _
    )
    .fetch_all(db)
    .await
}

/// An occurrence of a series, as the edit scopes choose them.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub id: AppointmentId,
    pub occurrence_start: Option<DateTime<Utc>>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub detached: bool,
    pub status: String,
}

/// Every occurrence of `series`, in order.
pub async fn occurrences(db: impl PgExecutor<'_>, series: SeriesId) -> Result<Vec<Occurrence>, sqlx::Error> {
    sqlx::query_as!(
        Occurrence,
        r#"
        SELECT id, occurrence_start, starts_at, ends_at, detached, status
        FROM appointments WHERE series_id = $1
        ORDER BY occurrence_start, id
        "#,
        series as _
    )
    .fetch_all(db)
    .await
}

pub async fn series_rule(db: impl PgExecutor<'_>, series: SeriesId) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT rule FROM appointment_series WHERE id = $1", series as _)
        .fetch_optional(db)
        .await
}

pub async fn set_series_rule(
    conn: &mut PgConnection,
    series: SeriesId,
    rule: &str,
    first: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE appointment_series SET rule = $2, first_start = $3 WHERE id = $1",
        series as _,
        rule,
        first
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What an edit writes to one occurrence.
#[derive(Debug, Clone)]
pub struct Change {
    pub clinician_id: UserId,
    pub co_facilitator_id: Option<UserId>,
    pub place: Place,
    pub room_id: Option<RoomId>,
    pub telehealth_url: Option<String>,
    pub location_note: Option<String>,
    pub service_type: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub scheduling_note: Option<String>,
    pub override_reason: Option<String>,
    /// Edited on its own, apart from its series.
    pub detach: bool,
    /// Moved into another series (this-and-following), with its place in it.
    pub series: Option<(SeriesId, DateTime<Utc>)>,
}

/// Writes `change` to a still-scheduled appointment and raises its sequence; false when
/// it is no longer scheduled.
pub async fn update(
    conn: &mut PgConnection,
    id: AppointmentId,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE appointments
        SET clinician_id = $2, co_facilitator_id = $3, place = $4, room_id = $5, telehealth_url = $6,
            location_note = $7, service_type = $8, starts_at = $9, ends_at = $10, scheduling_note = $11,
            override_reason = coalesce($12, override_reason), detached = detached OR $13,
            series_id = coalesce($14, series_id), occurrence_start = coalesce($15, occurrence_start),
            sequence = sequence + 1, updated_at = $16
        WHERE id = $1 AND status = 'scheduled'
        "#,
        id as _,
        change.clinician_id as _,
        change.co_facilitator_id as _,
        change.place.as_str(),
        change.room_id as _,
        change.telehealth_url,
        change.location_note,
        change.service_type,
        change.starts_at,
        change.ends_at,
        change.scheduling_note,
        change.override_reason,
        change.detach,
        change.series.map(|s| s.0) as _,
        change.series.map(|s| s.1),
        now
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the organisation has any room.
pub async fn any_room(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM rooms) AS "any!""#)
        .fetch_one(db)
        .await
}
