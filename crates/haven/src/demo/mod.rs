//! `haven serve --demo`: an organisation with obviously fictional staff, one per role,
//! so that a newcomer can sign in as each and see what that role sees.

pub mod generator;
mod help;
mod records;

use std::fmt::Write as _;

use crate::identity::admin::{self, AdminError, ChangedBy, NewAccount};
use chrono::TimeDelta;
use uuid::Uuid;

use crate::appointments::AppointmentId;
use crate::appointments::RoomId;
use crate::appointments::SeriesId;
use crate::clients::ClientId;
use crate::clients::access::{self, TeamRole};
use crate::compliance::audit::{self, AuditEvent, Outcome};
use crate::identity::{Role, UserId, store};
use crate::platform::tenancy::Tenant;
use crate::referrals::ReferralId;
use crate::referrals::store::{self as referrals, Move, NewReferral};
use crate::referrals::{Direction, ReferralStatus, ReferredPerson, SourceKind, Urgency};
use crate::state::AppState;
use generator::Dice;

/// Shared by every demo account; printed at start. Demo data only.
pub const DEMO_PASSWORD: &str = "demo lantern orbit velvet";

/// (email, name, role): fictional people at a fictional domain.
pub const DEMO_STAFF: &[(&str, &str, Role)] = &[
    (
        "clinician@demo.haven.example",
        "Alex Demo (counsellor)",
        Role::Clinician,
    ),
    (
        "casemanager@demo.haven.example",
        "Blair Demo (case manager)",
        Role::CaseManager,
    ),
    (
        "supervisor@demo.haven.example",
        "Casey Demo (supervisor)",
        Role::Supervisor,
    ),
    (
        "frontdesk@demo.haven.example",
        "Devon Demo (front desk)",
        Role::FrontDesk,
    ),
    (
        "admin@demo.haven.example",
        "Emery Demo (organisation admin)",
        Role::OrgAdmin,
    ),
    ("auditor@demo.haven.example", "Finley Demo (auditor)", Role::Auditor),
    (
        "helpeditor@demo.haven.example",
        "Gray Demo (help editor)",
        Role::HelpEditor,
    ),
];

/// Creates the demo staff in every organisation that has none of them yet; clients,
/// referrals and appointments where there are no clients yet; clinical records where
/// there are no notes yet.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    seed_staff(state).await?;
    for tenant in state.tenants.tenants() {
        seed_clients(&tenant, state).await?;
        tenant.audit.nudge();
        records::seed(state, &tenant).await?;
    }
    help::seed(&state.help).await?;
    Ok(())
}

async fn seed_staff(state: &AppState) -> Result<(), AdminError> {
    let by = ChangedBy::command_line("demo");
    for tenant in state.tenants.tenants() {
        for (email, name, role) in DEMO_STAFF {
            if store::find_by_email(&tenant.pool, email).await?.is_some() {
                continue;
            }
            let account = NewAccount {
                email,
                display_name: name,
                roles: &[*role],
                password: Some(DEMO_PASSWORD),
            };
            admin::create(&tenant.pool, &state.passwords, &state.clock, &by, &account).await?;
        }
        tenant.audit.nudge();
    }
    Ok(())
}

/// What to print so that people can sign in.
pub fn sign_in_details(url: &str) -> String {
    let mut text =
        format!("Demo organisation ready at {url}\nSign in with any of these (password: {DEMO_PASSWORD}):\n");
    for (email, _, role) in DEMO_STAFF {
        let _ = writeln!(text, "  {:<14} {email}", role.as_str());
    }
    text
}

/// How many fictional clients the demo organisation gets.
pub const DEMO_CLIENTS: usize = 300;

const REFERRERS: &[(SourceKind, Option<&str>)] = &[
    (SourceKind::Professional, Some("Dr Example, Demo Street Clinic")),
    (SourceKind::Organisation, Some("Sample Valley School")),
    (SourceKind::Organisation, Some("Placeholder Housing Service")),
    (SourceKind::Professional, Some("Nurse Fictional, Community Health")),
    (SourceKind::SelfReferral, None),
];
const REASONS: &[&str] = &[
    "Low mood and poor sleep for three months",
    "Anxiety about school; not attending",
    "Family separation; needs support and safety planning",
    "Grief after a family death",
    "Referred for counselling after a crisis presentation",
];

async fn demo_user(tenant: &Tenant, email: &str) -> Result<UserId, AdminError> {
    store::find_by_email(&tenant.pool, email)
        .await?
        .map(|u| u.id)
        .ok_or(AdminError::NoSuchUser)
}

/// A living caseload: clients in every status on the demo counsellor's and case
/// manager's care teams (supervised by the demo supervisor), and referrals in every state.
async fn seed_clients(tenant: &Tenant, state: &AppState) -> Result<(), AdminError> {
    let pool = &tenant.pool;
    let any: Option<Uuid> = sqlx::query_scalar!("SELECT id FROM clients LIMIT 1")
        .fetch_optional(pool)
        .await?;
    if any.is_some() {
        return Ok(());
    }
    let clinician = demo_user(tenant, "clinician@demo.haven.example").await?;
    let case_manager = demo_user(tenant, "casemanager@demo.haven.example").await?;
    let supervisor = demo_user(tenant, "supervisor@demo.haven.example").await?;
    let now = state.clock.now();
    let today = now.date_naive();
    let mut dice = Dice::new(2026);
    let people: Vec<_> = (0..DEMO_CLIENTS).map(|_| generator::person(&mut dice, today)).collect();
    let mut tx = pool.begin().await?;
    store::set_supervisor(&mut *tx, clinician, Some(supervisor), now).await?;
    store::set_supervisor(&mut *tx, case_manager, Some(supervisor), now).await?;
    let ids = generator::insert_clients(&mut tx, &people, now).await?;
    for (i, id) in ids.iter().enumerate() {
        if i < 60 {
            access::add_member(&mut tx, *id, clinician, TeamRole::Primary, None, now).await?;
        }
        if (40..90).contains(&i) {
            access::add_member(&mut tx, *id, case_manager, TeamRole::CaseManager, None, now).await?;
        }
    }
    let n = seed_referrals(&mut tx, &ids, &mut dice, [clinician, case_manager], now).await?;
    let booked = seed_appointments(&mut tx, &ids, [clinician, case_manager], now).await?;
    let event = AuditEvent::new(now, "demo.seed", Outcome::Allowed).reason(format!(
        "{DEMO_CLIENTS} fictional clients, {n} referrals and {booked} appointments"
    ));
    audit::stage(&mut tx, &event).await?;
    tx.commit().await?;
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
            let Some(client) = clients.get(index % 90) else {
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

/// Referrals in every state: some awaiting triage, triaged (half assigned to the
/// counsellor), accepted, declined and closed. Returns how many.
async fn seed_referrals(
    tx: &mut sqlx::PgConnection,
    ids: &[ClientId],
    dice: &mut Dice,
    [clinician, case_manager]: [UserId; 2],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, sqlx::Error> {
    let today = now.date_naive();
    // Referrals: some awaiting triage, some triaged, accepted, declined and closed.
    let plan: &[(ReferralStatus, usize)] = &[
        (ReferralStatus::Received, 18),
        (ReferralStatus::Triaged, 12),
        (ReferralStatus::Accepted, 10),
        (ReferralStatus::Declined, 8),
        (ReferralStatus::Closed, 12),
    ];
    let mut n = 0usize;
    for (target, count) in plan {
        for _ in 0..*count {
            n += 1;
            let (source_kind, source_name) = REFERRERS[dice.below(REFERRERS.len())];
            let for_client = matches!(target, ReferralStatus::Accepted | ReferralStatus::Closed);
            let person = (!for_client).then(|| {
                let p = generator::person(dice, today);
                ReferredPerson {
                    given_name: p.given,
                    family_name: p.family,
                    date_of_birth: p.date_of_birth,
                    phone: p.phone,
                    email: None,
                }
            });
            let new = NewReferral {
                direction: Direction::Inbound,
                client_id: for_client.then(|| ids[n % 60]),
                person,
                source_kind,
                source_name: source_name.map(str::to_owned),
                source_contact: None,
                reason: REASONS[dice.below(REASONS.len())].to_owned(),
                urgency: [Urgency::Routine, Urgency::Soon, Urgency::Urgent][dice.below(3)],
                assigned_to: None,
                received_on: today - TimeDelta::days(i64::try_from(dice.below(30)).unwrap_or(0)),
            };
            let id = ReferralId::new();
            referrals::insert(tx, id, &new, Some(case_manager), now).await?;
            let path: &[ReferralStatus] = match target {
                ReferralStatus::Received => &[],
                ReferralStatus::Triaged => &[ReferralStatus::Triaged],
                ReferralStatus::Accepted => &[ReferralStatus::Triaged, ReferralStatus::Accepted],
                ReferralStatus::Declined => &[ReferralStatus::Triaged, ReferralStatus::Declined],
                ReferralStatus::Closed => &[
                    ReferralStatus::Triaged,
                    ReferralStatus::Accepted,
                    ReferralStatus::Closed,
                ],
            };
            let mut from = ReferralStatus::Received;
            for to in path {
                referrals::apply_move(
                    tx,
                    id,
                    &Move {
                        from,
                        to: *to,
                        by: case_manager,
                        note: None,
                        decline_reason: (*to == ReferralStatus::Declined).then_some("Outside our service area"),
                        assigned_to: (*to == ReferralStatus::Triaged && n.is_multiple_of(2)).then_some(clinician),
                        urgency: None,
                        client_id: None,
                        at: now,
                    },
                )
                .await?;
                from = *to;
            }
        }
    }
    Ok(n)
}
