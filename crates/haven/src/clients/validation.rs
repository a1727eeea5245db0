//! Client input as it arrives (JSON or a form) and the rules it must meet. Every problem
//! is reported against its field, all at once, before anything is written.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{ClientDetails, ClientStatus, ContactRules, Identifier, RelatedKind, RelatedPerson};
use crate::error::FieldError;
use crate::validate::Problems;

pub const MAX_IDENTIFIERS: usize = 10;
pub const MAX_RELATED_PEOPLE: usize = 10;

/// A client as sent by the API or a form: every field optional, so that an update
/// changes only what it names. An empty string clears an optional field.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientFields {
    pub legal_given_name: Option<String>,
    pub legal_family_name: Option<String>,
    pub preferred_name: Option<String>,
    pub pronouns: Option<String>,
    /// `YYYY-MM-DD`, not in the future.
    pub date_of_birth: Option<String>,
    /// `active`, `waitlisted` or `discharged`.
    pub status: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line: Option<String>,
    pub locality: Option<String>,
    pub postcode: Option<String>,
    pub ok_to_email: Option<bool>,
    pub ok_to_phone: Option<bool>,
    pub ok_to_text: Option<bool>,
    pub ok_to_leave_voicemail: Option<bool>,
    pub safe_contact_times: Option<String>,
    pub confidential_address: Option<bool>,
    /// Replaces the whole list when present.
    pub identifiers: Option<Vec<IdentifierFields>>,
    /// Replaces the whole list when present.
    pub related_people: Option<Vec<RelatedFields>>,
    /// Admins only.
    pub hipaa_exempt: Option<bool>,
    /// The version you read; a different current version refuses the change (409).
    pub version: Option<i32>,
}

crate::redacted_debug!(ClientFields { status });

#[derive(Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierFields {
    pub kind: String,
    pub value: String,
}

crate::redacted_debug!(IdentifierFields { kind });

#[derive(Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelatedFields {
    /// `guardian` or `emergency_contact`.
    pub kind: String,
    pub name: String,
    pub relationship: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

crate::redacted_debug!(RelatedFields { kind });

impl ClientFields {
    /// Whether the change touches anything but `hipaa_exempt` (which admins may change
    /// without being allowed to edit the rest).
    pub fn touches_details(&self) -> bool {
        let details_only = Self {
            hipaa_exempt: None,
            version: None,
            ..self.clone()
        };
        details_only != Self::default()
    }

    /// The fields of a stored client, so that an update can be laid over them.
    pub fn from_details(details: &ClientDetails) -> Self {
        let c = &details.contact;
        Self {
            legal_given_name: Some(details.legal_given_name.clone()),
            legal_family_name: Some(details.legal_family_name.clone()),
            preferred_name: details.preferred_name.clone(),
            pronouns: details.pronouns.clone(),
            date_of_birth: details.date_of_birth.map(|d| d.to_string()),
            status: Some(details.status.as_str().to_owned()),
            email: details.email.clone(),
            phone: details.phone.clone(),
            address_line: details.address_line.clone(),
            locality: details.locality.clone(),
            postcode: details.postcode.clone(),
            ok_to_email: Some(c.ok_to_email),
            ok_to_phone: Some(c.ok_to_phone),
            ok_to_text: Some(c.ok_to_text),
            ok_to_leave_voicemail: Some(c.ok_to_leave_voicemail),
            safe_contact_times: c.safe_contact_times.clone(),
            confidential_address: Some(c.confidential_address),
            identifiers: Some(
                details
                    .identifiers
                    .iter()
                    .map(|i| IdentifierFields {
                        kind: i.kind.clone(),
                        value: i.value.clone(),
                    })
                    .collect(),
            ),
            related_people: Some(
                details
                    .related_people
                    .iter()
                    .map(|p| RelatedFields {
                        kind: p.kind.as_str().to_owned(),
                        name: p.name.clone(),
                        relationship: p.relationship.clone(),
                        phone: p.phone.clone(),
                        email: p.email.clone(),
                    })
                    .collect(),
            ),
            hipaa_exempt: None,
            version: None,
        }
    }

    /// `self` with every field that `change` names replaced.
    #[must_use]
    pub fn overlay(mut self, change: ClientFields) -> Self {
        macro_rules! take {
            ($($field:ident),*) => { $( if change.$field.is_some() { self.$field = change.$field; } )* };
        }
        take!(
            legal_given_name,
            legal_family_name,
            preferred_name,
            pronouns,
            date_of_birth,
            status,
            email,
            phone,
            address_line,
            locality,
            postcode,
            ok_to_email,
            ok_to_phone,
            ok_to_text,
            ok_to_leave_voicemail,
            safe_contact_times,
            confidential_address,
            identifiers,
            related_people,
            hipaa_exempt,
            version
        );
        self
    }

    /// Checks everything; a new client needs both legal names, the rest is optional.
    pub fn validate(&self, today: NaiveDate) -> Result<ClientDetails, Vec<FieldError>> {
        let mut problems = Problems::default();
        let legal_given_name = problems.required("legal_given_name", self.legal_given_name.as_deref(), 100);
        let legal_family_name = problems.required("legal_family_name", self.legal_family_name.as_deref(), 100);
        let preferred_name = problems.optional("preferred_name", self.preferred_name.as_deref(), 100);
        let pronouns = problems.optional("pronouns", self.pronouns.as_deref(), 40);
        let date_of_birth = match self.date_of_birth.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => problems.date_of_birth("date_of_birth", text, today),
        };
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => Some(ClientStatus::Active),
            Some(text) => {
                let status = ClientStatus::parse(text);
                if status.is_none() {
                    problems.add("status", "must be one of active, waitlisted, discharged");
                }
                status
            }
        };
        let email = problems.email("email", self.email.as_deref());
        let phone = problems.phone("phone", self.phone.as_deref());
        let address_line = problems.optional("address_line", self.address_line.as_deref(), 200);
        let locality = problems.optional("locality", self.locality.as_deref(), 100);
        let postcode = problems.optional("postcode", self.postcode.as_deref(), 20);
        let safe_contact_times = problems.optional("safe_contact_times", self.safe_contact_times.as_deref(), 200);

        let identifiers = identifiers(&mut problems, self.identifiers.as_deref().unwrap_or_default());
        let related_people = related_people(&mut problems, self.related_people.as_deref().unwrap_or_default());

        if !problems.0.is_empty() {
            return Err(problems.0);
        }
        let (Some(legal_given_name), Some(legal_family_name), Some(status)) =
            (legal_given_name, legal_family_name, status)
        else {
            return Err(vec![FieldError::new("body", "is incomplete")]);
        };
        Ok(ClientDetails {
            legal_given_name,
            legal_family_name,
            preferred_name,
            pronouns,
            date_of_birth,
            status,
            email,
            phone,
            address_line,
            locality,
            postcode,
            contact: ContactRules {
                ok_to_email: self.ok_to_email.unwrap_or(false),
                ok_to_phone: self.ok_to_phone.unwrap_or(false),
                ok_to_text: self.ok_to_text.unwrap_or(false),
                ok_to_leave_voicemail: self.ok_to_leave_voicemail.unwrap_or(false),
                safe_contact_times,
                confidential_address: self.confidential_address.unwrap_or(false),
            },
            identifiers,
            related_people,
        })
    }
}

fn identifiers(problems: &mut Problems, given: &[IdentifierFields]) -> Vec<Identifier> {
    if given.len() > MAX_IDENTIFIERS {
        problems.add("identifiers", format!("may hold at most {MAX_IDENTIFIERS} identifiers"));
    }
    let mut checked: Vec<Identifier> = Vec::new();
    for (i, id) in given.iter().enumerate() {
        let kind = id.kind.trim().to_lowercase();
        let kind_ok = !kind.is_empty()
            && kind.len() <= 40
            && kind.starts_with(|c: char| c.is_ascii_lowercase())
            && kind
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !kind_ok {
            problems.add(
                format!("identifiers[{i}].kind"),
                "must be a short name of letters, digits and _, starting with a letter (e.g. school_id)",
            );
        } else if checked.iter().any(|c| c.kind == kind) {
            problems.add(format!("identifiers[{i}].kind"), "is listed twice");
        }
        let value = id.value.trim();
        if value.is_empty() || value.chars().count() > 64 {
            problems.add(format!("identifiers[{i}].value"), "must be 1 to 64 characters");
        }
        checked.push(Identifier {
            kind,
            value: value.to_owned(),
        });
    }
    checked
}

fn related_people(problems: &mut Problems, given: &[RelatedFields]) -> Vec<RelatedPerson> {
    if given.len() > MAX_RELATED_PEOPLE {
        problems.add(
            "related_people",
            format!("may hold at most {MAX_RELATED_PEOPLE} people"),
        );
    }
    let mut checked = Vec::new();
    for (i, person) in given.iter().enumerate() {
        let kind = RelatedKind::parse(person.kind.trim());
        if kind.is_none() {
            problems.add(
                format!("related_people[{i}].kind"),
                "must be guardian or emergency_contact",
            );
        }
        let name = problems.required(format!("related_people[{i}].name"), Some(&person.name), 200);
        let relationship = problems.optional(
            format!("related_people[{i}].relationship"),
            person.relationship.as_deref(),
            60,
        );
        let phone = problems.phone(format!("related_people[{i}].phone"), person.phone.as_deref());
        let email = problems.email(format!("related_people[{i}].email"), person.email.as_deref());
        if let (Some(kind), Some(name)) = (kind, name) {
            checked.push(RelatedPerson {
                kind,
                name,
                relationship,
                phone,
                email,
            });
        }
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn fields_named(result: Result<ClientDetails, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field.into_owned()).collect()
    }

    fn minimal() -> ClientFields {
        ClientFields {
            legal_given_name: Some(" Robin ".to_owned()),
            legal_family_name: Some("Example".to_owned()),
            ..ClientFields::default()
        }
    }

    #[test]
    fn a_minimal_client_is_active_and_trimmed() {
        let details = minimal().validate(today()).unwrap();
        assert_eq!(details.legal_given_name, "Robin");
        assert_eq!(details.status, ClientStatus::Active);
        assert!(!details.contact.ok_to_email, "nothing is safe until said so");
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = ClientFields {
            legal_given_name: Some("   ".to_owned()),
            legal_family_name: Some("x".repeat(101)),
            date_of_birth: Some("2030-01-01".to_owned()),
            status: Some("gone".to_owned()),
            email: Some("not-an-email".to_owned()),
            phone: Some("call me".to_owned()),
            identifiers: Some(vec![IdentifierFields {
                kind: "Bad Kind!".to_owned(),
                value: String::new(),
            }]),
            related_people: Some(vec![RelatedFields {
                kind: "cousin".to_owned(),
                name: String::new(),
                ..RelatedFields::default()
            }]),
            ..ClientFields::default()
        };
        assert_eq!(
            fields_named(bad.validate(today())),
            [
                "legal_given_name",
                "legal_family_name",
                "date_of_birth",
                "status",
                "email",
                "phone",
                "identifiers[0].kind",
                "identifiers[0].value",
                "related_people[0].kind",
                "related_people[0].name",
            ]
        );
    }

    #[test]
    fn dates_of_birth() {
        let with = |d: &str| ClientFields {
            date_of_birth: Some(d.to_owned()),
            ..minimal()
        };
        assert!(with("2026-11-22").validate(today()).is_ok(), "born today");
        assert!(with("2026-11-23").validate(today()).is_err(), "tomorrow");
        assert!(with("22/11/2001").validate(today()).is_err(), "not ISO");
        assert!(with("1899-12-31").validate(today()).is_err());
        assert_eq!(with("").validate(today()).unwrap().date_of_birth, None, "empty clears");
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let stored = minimal().validate(today()).unwrap();
        let change = ClientFields {
            pronouns: Some("they/them".to_owned()),
            ..ClientFields::default()
        };
        assert!(change.touches_details());
        let updated = ClientFields::from_details(&stored)
            .overlay(change)
            .validate(today())
            .unwrap();
        assert_eq!(updated.pronouns.as_deref(), Some("they/them"));
        assert_eq!(updated.legal_given_name, "Robin");
        let admin_only = ClientFields {
            hipaa_exempt: Some(true),
            version: Some(3),
            ..ClientFields::default()
        };
        assert!(!admin_only.touches_details());
    }

    #[test]
    fn identifiers_are_unique_per_kind() {
        let twice = ClientFields {
            identifiers: Some(vec![
                IdentifierFields {
                    kind: "school_id".to_owned(),
                    value: "A1".to_owned(),
                },
                IdentifierFields {
                    kind: "school_id".to_owned(),
                    value: "B2".to_owned(),
                },
            ]),
            ..minimal()
        };
        assert_eq!(fields_named(twice.validate(today())), ["identifiers[1].kind"]);
    }
}
