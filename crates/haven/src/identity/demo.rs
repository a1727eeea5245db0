//! The demo's staff: one fictional person per role ([`crate::demo::DEMO_STAFF`]), the
//! counsellor and the case manager supervised by the demo supervisor.

use futures_util::future::BoxFuture;

use super::admin::{self, ChangedBy, NewAccount};
use super::store;
use crate::demo::{DEMO_PASSWORD, DEMO_STAFF, demo_user};
use crate::state::AppState;

pub fn seed(state: &AppState) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(run(state))
}

/// Creates the demo staff in every organisation that has none of them yet.
async fn run(state: &AppState) -> anyhow::Result<()> {
    let by = ChangedBy::command_line("demo");
    let now = state.clock.now();
    for tenant in state.tenants.tenants() {
        let mut created = false;
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
            created = true;
        }
        if created {
            let supervisor = demo_user(&tenant, "supervisor@demo.haven.example").await?;
            for email in ["clinician@demo.haven.example", "casemanager@demo.haven.example"] {
                let person = demo_user(&tenant, email).await?;
                store::set_supervisor(&tenant.pool, person, Some(supervisor), now).await?;
            }
        }
        tenant.audit.nudge();
    }
    Ok(())
}
