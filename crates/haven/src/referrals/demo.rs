//! The demo's referrals: some awaiting triage, triaged (half assigned to the counsellor),
//! accepted, declined and closed; the accepted and closed ones about demo clients.

use chrono::TimeDelta;
use futures_util::future::BoxFuture;

use super::store::{self as referrals, Move, NewReferral};
use super::{Direction, ReferralId, ReferralStatus, ReferredPerson, SourceKind, Urgency};
use crate::clients::ClientId;
use crate::compliance::audit::{self, AuditEvent, Outcome};
use crate::demo::demo_user;
use crate::demo::generator::{self, Dice};
use crate::identity::UserId;
use crate::state::AppState;

pub fn seed(state: &AppState) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(run(state))
}

/// Writes the referrals in every organisation that has none yet.
async fn run(state: &AppState) -> anyhow::Result<()> {
    for tenant in state.tenants.tenants() {
        if referrals::any(&tenant.pool).await? {
            continue;
        }
        let ids = crate::clients::store::first(&tenant.pool, 60).await?;
        if ids.is_empty() {
            continue;
        }
        let clinician = demo_user(&tenant, "clinician@demo.haven.example").await?;
        let case_manager = demo_user(&tenant, "casemanager@demo.haven.example").await?;
        let now = state.clock.now();
        let mut dice = Dice::new(2027);
        let mut tx = tenant.pool.begin().await?;
        let n = seed_referrals(&mut tx, &ids, &mut dice, [clinician, case_manager], now).await?;
        let event = AuditEvent::new(now, "demo.seed", Outcome::Allowed).reason(format!("{n} referrals"));
        audit::stage(&mut tx, &event).await?;
        tx.commit().await?;
        tenant.audit.nudge();
    }
    Ok(())
}

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
                client_id: for_client.then(|| ids[n % ids.len()]),
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
