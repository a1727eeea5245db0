//! `haven serve --demo`: an organisation with obviously fictional staff, one per role,
//! so that a newcomer can sign in as each and see what that role sees.

use std::fmt::Write as _;

use crate::identity::admin::{self, AdminError, ChangedBy, NewAccount};
use crate::identity::{Role, store};
use crate::state::AppState;

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

/// Creates the demo staff in every organisation that has none of them yet.
pub async fn seed(state: &AppState) -> Result<(), AdminError> {
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
