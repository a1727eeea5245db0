//! SPEC module 1, Identity and access: staff accounts, roles, passwords, sessions,
//! second factors, sign-in throttling, invitations, API tokens. Who may do what is
//! decided in [`crate::policy`]; this module says who someone is.

pub mod admin;
pub mod admin_handlers;
pub mod api_token;
pub mod auth;
pub mod demo;
pub mod email_token;
pub mod handlers;
pub mod links;
mod manifest;
pub mod password;
pub mod password_handlers;
pub mod secret;
pub mod service;
pub mod session;
pub mod settings_handlers;
pub mod store;
pub mod throttle;
pub mod token_cache;
pub mod token_handlers;
pub mod two_factor;

pub use manifest::module;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The roles of SPEC.md, "Who uses it". A person may hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Clinician,
    CaseManager,
    Supervisor,
    FrontDesk,
    OrgAdmin,
    Auditor,
    HelpEditor,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Clinician,
        Role::CaseManager,
        Role::Supervisor,
        Role::FrontDesk,
        Role::OrgAdmin,
        Role::Auditor,
        Role::HelpEditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clinician => "clinician",
            Self::CaseManager => "case_manager",
            Self::Supervisor => "supervisor",
            Self::FrontDesk => "front_desk",
            Self::OrgAdmin => "org_admin",
            Self::Auditor => "auditor",
            Self::HelpEditor => "help_editor",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// The clinical roles: the people who hold a caseload (counsellors, case managers,
    /// supervisors). The one definition every module asks, through [`User::is_clinical_staff`].
    pub fn is_clinical(self) -> bool {
        matches!(self, Self::Clinician | Self::CaseManager | Self::Supervisor)
    }

    /// How the role is named to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Clinician => "Counsellor / clinician",
            Self::CaseManager => "Case manager",
            Self::Supervisor => "Supervisor",
            Self::FrontDesk => "Front desk",
            Self::OrgAdmin => "Organisation admin",
            Self::Auditor => "Auditor",
            Self::HelpEditor => "Help editor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::typed_id!(
    /// A staff account.
    UserId
);

crate::typed_id!(
    /// A grant held for a second admin's approval.
    GrantRequestId
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Invited by email; no password yet.
    Invited,
    Active,
    /// Cannot sign in; every session ended when it was disabled.
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Invited, Self::Active, Self::Disabled]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// A staff account.
#[derive(Clone, Serialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub status: UserStatus,
    pub roles: Vec<Role>,
    pub supervisor_id: Option<UserId>,
    pub is_trainee: bool,
    /// A confirmed second factor exists.
    pub has_second_factor: bool,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the hash, and no names in logs.
        f.debug_struct("User")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Holds a clinical role ([`Role::is_clinical`]).
    pub fn is_clinical_staff(&self) -> bool {
        self.roles.iter().any(|role| role.is_clinical())
    }

    /// May be given clinical work (a care team, a referral, appointments, hours): clinical
    /// staff who are not disabled. Invited staff count, so work can be assigned before
    /// their first sign-in.
    pub fn takes_caseload(&self) -> bool {
        self.is_clinical_staff() && self.status != UserStatus::Disabled
    }
}

/// An email address as accounts are keyed: trimmed, at most 254 characters, one `@`
/// with something on each side. (Deliverability is proven by the invitation email.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let value = value.trim();
        let mut parts = value.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("must be an email address such as name@example.org");
        };
        if value.len() > 254 || local.is_empty() || domain.is_empty() || value.chars().any(char::is_whitespace) {
            return Err("must be an email address such as name@example.org");
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("superuser"), None);
    }

    #[test]
    fn clinical_work_goes_to_clinical_staff_who_are_not_disabled() {
        let person = |roles: &[Role], status| User {
            id: UserId(uuid::Uuid::nil()),
            email: "sam@example.org".to_owned(),
            display_name: "Sam".to_owned(),
            status,
            roles: roles.to_vec(),
            supervisor_id: None,
            is_trainee: false,
            has_second_factor: false,
            password_hash: None,
        };
        for role in [Role::Clinician, Role::CaseManager, Role::Supervisor] {
            assert!(person(&[role], UserStatus::Active).takes_caseload(), "{role}");
            assert!(person(&[role], UserStatus::Invited).takes_caseload(), "{role} invited");
            assert!(
                !person(&[role], UserStatus::Disabled).takes_caseload(),
                "{role} disabled"
            );
        }
        for role in [Role::FrontDesk, Role::OrgAdmin, Role::Auditor, Role::HelpEditor] {
            assert!(!person(&[role], UserStatus::Active).is_clinical_staff(), "{role}");
        }
        assert!(person(&[Role::FrontDesk, Role::CaseManager], UserStatus::Active).takes_caseload());
    }

    #[test]
    fn emails_need_one_at_and_no_spaces() {
        assert!(Email::parse(" sam@example.org ").is_ok());
        for bad in [
            "",
            "sam",
            "@example.org",
            "sam@",
            "sam@@example.org",
            "s am@example.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
