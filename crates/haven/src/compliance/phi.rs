//! `Phi<T>`: protected health information that cannot be printed by accident.
//!
//! Logs are written with `Debug`/`Display` (tracing's `?field` and `%field`), so a value
//! wrapped in `Phi` shows as `[PHI]` in every log line, panic message and error string.
//! The real value is read with [`Phi::expose`], which makes each use visible in review.
//! Serialising (API responses) is transparent: the client asked for the value.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phi<T>(T);

/// `Debug` for a type that holds PHI (names, dates of birth, contact details, addresses,
/// note text, free-text reasons): the type's name and only the fields listed, which must
/// carry none (ids, statuses, kinds); every other field is left out, so a field added
/// later stays out of logs until someone lists it.
///
/// `redacted_debug!(Client { id, status });` prints `Client { id: …, status: …, .. }`.
#[macro_export]
macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

impl<T> Phi<T> {
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Phi<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Phi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[PHI]")
    }
}

impl<T> fmt::Display for Phi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[PHI]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)] // read only through Debug
    struct Client {
        id: u32,
        name: Phi<String>,
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let client = Client {
            id: 7,
            name: Phi::new("Jane Marker".to_owned()),
        };
        let printed = format!("{client:?} {} {:?}", client.name, client.name);
        assert!(!printed.contains("Jane"), "{printed}");
        assert!(printed.contains("[PHI]"));
    }

    #[test]
    fn serialising_for_the_api_keeps_the_value() {
        let json = serde_json::to_string(&Phi::new("Jane")).unwrap();
        assert_eq!(json, "\"Jane\"");
    }

    /// What staff type into a form or send to the API (names, dates of birth, contacts,
    /// note text, free-text reasons) is as unprintable as the records it becomes.
    #[test]
    fn every_phi_bearing_input_prints_without_its_values() {
        use serde_json::json;
        const MARK: &str = "Zyxmark";
        fn printed<T: serde::de::DeserializeOwned + fmt::Debug>(value: serde_json::Value) -> String {
            let parsed: T = serde_json::from_value(value).unwrap();
            format!("{parsed:?}")
        }
        let person = json!({ "given_name": MARK, "family_name": MARK, "date_of_birth": "1987-06-05", "phone": MARK, "email": MARK });
        let all = [
            printed::<crate::clients::validation::ClientFields>(json!({
                "legal_given_name": MARK, "legal_family_name": MARK, "preferred_name": MARK, "pronouns": MARK,
                "date_of_birth": "1987-06-05", "email": MARK, "phone": MARK, "address_line": MARK, "locality": MARK,
                "safe_contact_times": MARK, "identifiers": [{ "kind": "school_id", "value": MARK }],
                "related_people": [{ "kind": "guardian", "name": MARK }],
            })),
            printed::<crate::clients::service::BreakGlassRequest>(
                json!({ "record_number": "HV0000001", "reason": MARK }),
            ),
            printed::<crate::referrals::service::ReferralFields>(json!({
                "person": person, "source_name": MARK, "source_contact": MARK, "reason": MARK,
            })),
            printed::<crate::referrals::service::MoveFields>(json!({ "reason": MARK, "note": MARK })),
            printed::<crate::clinical::notes::NoteInput>(json!({ "fields": { "body": MARK } })),
            printed::<crate::clinical::api::AmendInput>(json!({ "reason": MARK })),
            printed::<crate::clinical::api::AcknowledgeInput>(json!({ "response": MARK })),
            printed::<crate::appointments::status::StatusFields>(json!({ "reason": MARK })),
            format!("{:?}", crate::clients::search::Term::parse("Zyxmark Person")),
            format!("{:?}", crate::clients::search::Term::parse("1987-06-05")),
        ];
        for shown in all {
            assert!(
                !shown.contains(MARK) && !shown.to_lowercase().contains("zyxmark"),
                "{shown}"
            );
            assert!(!shown.contains("1987"), "{shown}");
        }
    }
}
