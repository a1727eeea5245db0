//! The demo's schedule: two rooms, a fortnight of appointments around today for the
//! counsellor and the case manager (past ones completed, one no-show, one cancelled), and
//! a weekly group.

use chrono::TimeDelta;
use futures_util::future::BoxFuture;

use super::{AppointmentId, RoomId, SeriesId};
use crate::clients::ClientId;
use crate::compliance::audit::{self, AuditEvent, Outcome};
use crate::demo::demo_user;
use crate::identity::UserId;
use crate::state::AppState;

pub fn seed(state: &AppState) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(run(state))
}

/// Books the schedule in every organisation that has no rooms yet.
async fn run(state: &AppState) -> anyhow::Result<()> {
    for tenant in state.tenants.tenants() {
        if super::store::any_room(&tenant.pool).await? {
            continue;
        }
        let clients = crate::clients::store::first(&tenant.pool, 90).await?;
        if clients.is_empty() {
            continue;
        }
        let clinician = demo_user(&tenant, "clinician@demo.haven.example").await?;
        let case_manager = demo_user(&tenant, "casemanager@demo.haven.example").await?;
        let now = state.clock.now();
        let mut tx = tenant.pool.begin().await?;
        let booked = seed_appointments(&mut tx, &clients, [clinician, case_manager], now).await?;
        let event = AuditEvent::new(now, "demo.seed", Outcome::Allowed).reason(format!("{booked} appointments"));
        audit::stage(&mut tx, &event).await?;
        tx.commit().await?;
        tenant.audit.nudge();
    }
    Ok(())
}

/// Two rooms and a fortnight of appointments around today for the counsellor and the
/// case manager (past ones completed, one no-show, one cancelled), and a weekly group.
/// Returns how many.
async fn seed_appointments(
    tx: &mut sqlx::PgConnection,
    clients: &[ClientId],
    [clinician, case_manager]: [UserId; 2],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, sqlx::Error> {
    use crate::appointments::store::{self as appointments, NewAppointment};
    use crate::appointments::{AppointmentStatus, CancelledBy, Place};
    use chrono::{Datelike, TimeZone};
    let zone = crate::organisation::store::load(&mut *tx).await?.time_zone;
    let harbour = appointments::insert_room(&mut *tx, "Harbour Room", now).await?;
    let garden = appointments::insert_room(&mut *tx, "Garden Room", now).await?;
    let today = now.with_timezone(&zone).date_naive();
    let mut booked = 0;
    let slots: [(UserId, u32, u32, usize); 6] = [
        (clinician, 9, 0, 0),
        (clinician, 10, 0, 1),
        (clinician, 11, 30, 2),
        (clinician, 14, 0, 3),
        (case_manager, 10, 0, 40),
        (case_manager, 13, 0, 41),
    ];
    for day_offset in -3i64..=10 {
        let day = today + TimeDelta::days(day_offset);
        if matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun) {
            continue;
        }
        for (n, (who, hour, minute, first_client)) in slots.iter().enumerate() {
            let Some(start) = day
                .and_hms_opt(*hour, *minute, 0)
                .and_then(|t| zone.from_local_datetime(&t).earliest())
                .map(|t| t.with_timezone(&chrono::Utc))
            else {
                continue;
            };
            let index = usize::try_from(day_offset + 3).unwrap_or(0) * 2 + first_client;
            let Some(client) = clients.get(index % clients.len()) else {
                continue;
            };
            let by_room = n % 2 == 0;
            let new = NewAppointment {
                id: AppointmentId::new(),
                occurrence: None,
                clients: vec![*client],
                clinician_id: who.0.into(),
                co_facilitator_id: None,
                place: if by_room { Place::Room } else { Place::Telehealth },
                room_id: by_room.then_some(if *who == clinician { harbour } else { garden }),
                telehealth_url: (!by_room).then(|| "https://video.demo.haven.example/session".to_owned()),
                location_note: None,
                service_type: if *who == clinician {
                    "Counselling"
                } else {
                    "Case management"
                }
                .to_owned(),
                starts_at: start,
                ends_at: start + TimeDelta::minutes(50),
                scheduling_note: None,
                override_reason: None,
            };
            appointments::insert(&mut *tx, &new, now, Some(*who)).await?;
            booked += 1;
            if day_offset < 0 {
                let (to, cancelled_by, reason) = match (day_offset, n) {
                    (-1, 1) => (AppointmentStatus::NoShow, None, None),
                    (-2, 3) => (AppointmentStatus::Cancelled, Some(CancelledBy::Client), Some("Unwell")),
                    _ => (AppointmentStatus::Completed, None, None),
                };
                appointments::move_status(
                    &mut *tx,
                    new.id,
                    AppointmentStatus::Scheduled,
                    to,
                    cancelled_by,
                    reason,
                    false,
                    now,
                )
                .await?;
            }
        }
    }
    booked += seed_group(tx, clients, [clinician, case_manager], garden, now).await?;
    Ok(booked)
}

/// A weekly group for three clients, Wednesdays 16:00, eight weeks from this week, led by
/// the counsellor with the case manager. Returns how many appointments.
async fn seed_group(
    tx: &mut sqlx::PgConnection,
    clients: &[ClientId],
    [clinician, case_manager]: [UserId; 2],
    garden: RoomId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, sqlx::Error> {
    use crate::appointments::store::{self as appointments, NewAppointment};
    use crate::appointments::{Place, recurrence};
    use chrono::{Datelike, TimeZone};
    let zone = crate::organisation::store::load(&mut *tx).await?.time_zone;
    let today = now.with_timezone(&zone).date_naive();
    let mut booked = 0;
    let wednesday = (0..7)
        .map(|d| today + TimeDelta::days(d))
        .find(|d| d.weekday() == chrono::Weekday::Wed)
        .unwrap_or(today);
    if let Some(first) = wednesday
        .and_hms_opt(16, 0, 0)
        .and_then(|t| zone.from_local_datetime(&t).earliest())
        .map(|t| t.with_timezone(&chrono::Utc))
    {
        let repeat = recurrence::Recurrence {
            repeat: recurrence::RepeatEvery::Week,
            interval: 1,
            count: Some(8),
            until: None,
        };
        if let Ok(rule) = recurrence::rule(&repeat, first, zone) {
            let series = SeriesId::new();
            appointments::insert_series(&mut *tx, series, &rule, first, zone, now, Some(clinician)).await?;
            for start in recurrence::occurrences(&rule).unwrap_or_default() {
                let new = NewAppointment {
                    id: AppointmentId::new(),
                    occurrence: Some((series, start)),
                    clients: clients.iter().skip(5).take(3).copied().collect(),
                    clinician_id: clinician.0.into(),
                    co_facilitator_id: Some(case_manager),
                    place: Place::Room,
                    room_id: Some(garden),
                    telehealth_url: None,
                    location_note: None,
                    service_type: "Group programme".to_owned(),
                    starts_at: start,
                    ends_at: start + TimeDelta::minutes(90),
                    scheduling_note: Some("Tea and biscuits in the Garden Room".to_owned()),
                    override_reason: None,
                };
                appointments::insert(&mut *tx, &new, now, Some(clinician)).await?;
                booked += 1;
            }
        }
    }
    Ok(booked)
}
