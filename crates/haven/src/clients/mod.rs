//! Clients (SPEC module 2): the client record with its identifiers, related people and
//! safe-contact rules; care teams and break-glass access; search.
//!
//! Everything here is PHI. Reads reach the response only through the audit trail
//! (`Audited<T>`); writes stage their audit event in their own transaction.

pub mod access;
pub mod api;
pub mod chart;
pub mod demo;
mod manifest;
pub mod pages;
pub mod recount;
pub mod search;
pub mod service;
pub mod store;
pub mod validation;

pub use manifest::module;

use chrono::{DateTime, NaiveDate, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    Active,
    Waitlisted,
    Discharged,
}

impl ClientStatus {
    pub const ALL: [Self; 3] = [Self::Active, Self::Waitlisted, Self::Discharged];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Waitlisted => "waitlisted",
            Self::Discharged => "discharged",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The badge style that shows it.
    pub fn badge(self) -> &'static str {
        match self {
            Self::Active => "success",
            Self::Waitlisted => "warning",
            Self::Discharged => "neutral",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Waitlisted => "Waitlisted",
            Self::Discharged => "Discharged",
        }
    }
}

/// An identifier from elsewhere: a health card, a school id, another agency's number.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identifier {
    /// A short lower-case name for the scheme, e.g. `medicare`, `school_id`.
    pub kind: String,
    pub value: String,
}

crate::redacted_debug!(Identifier { kind });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelatedKind {
    Guardian,
    EmergencyContact,
}

impl RelatedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guardian => "guardian",
            Self::EmergencyContact => "emergency_contact",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Guardian, Self::EmergencyContact]
            .into_iter()
            .find(|k| k.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Guardian => "Guardian",
            Self::EmergencyContact => "Emergency contact",
        }
    }
}

/// A guardian or an emergency contact.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RelatedPerson {
    pub kind: RelatedKind,
    pub name: String,
    pub relationship: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

crate::redacted_debug!(RelatedPerson { kind });

/// Which channels are safe, when, and whether the address may be disclosed. Nothing is
/// safe until someone has said so.
#[allow(clippy::struct_excessive_bools)] // each is a separate yes/no staff must answer
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactRules {
    pub ok_to_email: bool,
    pub ok_to_phone: bool,
    pub ok_to_text: bool,
    pub ok_to_leave_voicemail: bool,
    pub safe_contact_times: Option<String>,
    pub confidential_address: bool,
}

crate::redacted_debug!(ContactRules {});

/// The client's details as staff enter them (validated).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClientDetails {
    pub legal_given_name: String,
    pub legal_family_name: String,
    pub preferred_name: Option<String>,
    pub pronouns: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub status: ClientStatus,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line: Option<String>,
    pub locality: Option<String>,
    pub postcode: Option<String>,
    #[serde(flatten)]
    pub contact: ContactRules,
    pub identifiers: Vec<Identifier>,
    pub related_people: Vec<RelatedPerson>,
}

crate::redacted_debug!(ClientDetails { status });

impl ClientDetails {
    /// The name to greet them by: the preferred one when there is one.
    pub fn display_name(&self) -> String {
        display_name(
            &self.legal_given_name,
            &self.legal_family_name,
            self.preferred_name.as_deref(),
        )
    }
}

pub fn display_name(given: &str, family: &str, preferred: Option<&str>) -> String {
    display_name_compact(given, family, preferred).into_string()
}

/// [`display_name`], kept inline when short, as most are (a list builds a hundred).
pub fn display_name_compact(given: &str, family: &str, preferred: Option<&str>) -> CompactString {
    let first = match preferred {
        Some(preferred) if preferred != given => preferred,
        _ => given,
    };
    let mut name = CompactString::with_capacity(first.len() + 1 + family.len());
    name.push_str(first);
    name.push(' ');
    name.push_str(family);
    name
}

crate::typed_id!(
    /// A client (a person receiving care).
    ClientId
);

/// A client record as stored.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Client {
    pub id: ClientId,
    pub record_number: String,
    #[serde(flatten)]
    pub details: ClientDetails,
    pub hipaa_exempt: bool,
    /// Bumped by every change; send it back to refuse overwriting someone else's edit.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::redacted_debug!(Client {
    id,
    hipaa_exempt,
    version
});

/// One line of a list or search result.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct ClientSummary {
    pub id: ClientId,
    #[schema(value_type = String)]
    pub record_number: CompactString,
    #[schema(value_type = String)]
    pub display_name: CompactString,
    #[schema(value_type = String)]
    pub legal_given_name: CompactString,
    #[schema(value_type = String)]
    pub legal_family_name: CompactString,
    #[schema(value_type = Option<String>)]
    pub preferred_name: Option<CompactString>,
    #[schema(value_type = Option<String>)]
    pub pronouns: Option<CompactString>,
    #[serde(serialize_with = "crate::web::json::optional_date")]
    pub date_of_birth: Option<NaiveDate>,
    pub status: ClientStatus,
}

crate::redacted_debug!(ClientSummary { id, status });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_name_is_the_preferred_or_given_name_then_the_family_name_whatever_its_length() {
        let cases = [
            ("Robert", "Ng", Some("Rob"), "Rob Ng"),
            ("Robert", "Ng", Some("Robert"), "Robert Ng"),
            ("Robert", "Ng", None, "Robert Ng"),
            // Longer than a CompactString keeps inline.
            (
                "Maximiliana",
                "Featherstonehaugh-Okonkwo",
                None,
                "Maximiliana Featherstonehaugh-Okonkwo",
            ),
            ("Åsa", "Ødegård", Some("Åse"), "Åse Ødegård"),
        ];
        for (given, family, preferred, shown) in cases {
            assert_eq!(display_name(given, family, preferred), shown);
            assert_eq!(display_name_compact(given, family, preferred), shown);
        }
    }
}
