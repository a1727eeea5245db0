//! The scopes an API token may hold.

/// What an API token may be used for. Each action needs one scope ([`super::Action::scope`]);
/// a token holds some, and can never do more than its owner. The modules that own the
/// actions offer their scopes, with a description, in their manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    AccountRead,
    UsersRead,
    UsersWrite,
    AuditRead,
    OrganisationWrite,
    ClientsRead,
    ClientsWrite,
    ReferralsRead,
    ReferralsWrite,
    AppointmentsRead,
    AppointmentsWrite,
    ClinicalRead,
    ClinicalWrite,
    HelpWrite,
}

impl Scope {
    pub const ALL: [Self; 14] = [
        Self::AccountRead,
        Self::UsersRead,
        Self::UsersWrite,
        Self::AuditRead,
        Self::OrganisationWrite,
        Self::ClientsRead,
        Self::ClientsWrite,
        Self::ReferralsRead,
        Self::ReferralsWrite,
        Self::AppointmentsRead,
        Self::AppointmentsWrite,
        Self::ClinicalRead,
        Self::ClinicalWrite,
        Self::HelpWrite,
    ];

    /// The name a token stores and an API client sends, e.g. `clients:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountRead => "account:read",
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::AuditRead => "audit:read",
            Self::OrganisationWrite => "organisation:write",
            Self::ClientsRead => "clients:read",
            Self::ClientsWrite => "clients:write",
            Self::ReferralsRead => "referrals:read",
            Self::ReferralsWrite => "referrals:write",
            Self::AppointmentsRead => "appointments:read",
            Self::AppointmentsWrite => "appointments:write",
            Self::ClinicalRead => "clinical:read",
            Self::ClinicalWrite => "clinical:write",
            Self::HelpWrite => "help:write",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }
}
