//! The demo's caseload: fictional clients in every status, the first sixty on the demo
//! counsellor's care team and the fortieth to ninetieth on the demo case manager's.

use futures_util::future::BoxFuture;

use super::access::{self, TeamRole};
use super::store;
use crate::compliance::audit::{self, AuditEvent, Outcome};
use crate::demo::generator::{self, Dice};
use crate::demo::{DEMO_CLIENTS, demo_user};
use crate::state::AppState;

pub fn seed(state: &AppState) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(run(state))
}

/// Registers the caseload in every organisation that has no clients yet.
async fn run(state: &AppState) -> anyhow::Result<()> {
    for tenant in state.tenants.tenants() {
        if store::any(&tenant.pool).await? {
            continue;
        }
        let clinician = demo_user(&tenant, "clinician@demo.haven.example").await?;
        let case_manager = demo_user(&tenant, "casemanager@demo.haven.example").await?;
        let now = state.clock.now();
        let today = now.date_naive();
        let mut dice = Dice::new(2026);
        let people: Vec<_> = (0..DEMO_CLIENTS).map(|_| generator::person(&mut dice, today)).collect();
        let mut tx = tenant.pool.begin().await?;
        let ids = generator::insert_clients(&mut tx, &people, now).await?;
        for (i, id) in ids.iter().enumerate() {
            if i < 60 {
                access::add_member(&mut tx, *id, clinician, TeamRole::Primary, None, now).await?;
            }
            if (40..90).contains(&i) {
                access::add_member(&mut tx, *id, case_manager, TeamRole::CaseManager, None, now).await?;
            }
        }
        let event =
            AuditEvent::new(now, "demo.seed", Outcome::Allowed).reason(format!("{DEMO_CLIENTS} fictional clients"));
        audit::stage(&mut tx, &event).await?;
        tx.commit().await?;
        tenant.audit.nudge();
    }
    Ok(())
}
