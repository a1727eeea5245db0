//! `haven serve --demo`: an organisation with obviously fictional staff, one per role,
//! so that a newcomer can sign in as each and see what that role sees, and a living
//! caseload around them. Each module writes its own demo data (its `demo.rs`, declared
//! in its manifest with `Module::demo`); this runs them in order and holds what they
//! share: the accounts, the password and the fictional-people generator.

pub mod generator;

use std::fmt::Write as _;

use crate::identity::admin::AdminError;
use crate::identity::{Role, UserId, store};
use crate::platform::tenancy::Tenant;
use crate::state::AppState;

/// Writes every module's demo data, in the manifests' order, where it is missing.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    for seed in state.modules.demo_seeders() {
        seed(state).await?;
    }
    Ok(())
}

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

/// The demo account with this email.
pub async fn demo_user(tenant: &Tenant, email: &str) -> Result<UserId, AdminError> {
    store::find_by_email(&tenant.pool, email)
        .await?
        .map(|u| u.id)
        .ok_or(AdminError::NoSuchUser)
}
