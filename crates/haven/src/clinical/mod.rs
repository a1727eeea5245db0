//! Clinical records (SPEC module 4): notes on templates, signed and then final, with
//! amendments that keep the history; supervisors' co-signature of trainees' notes;
//! psychotherapy notes for their author and the author's supervisors only; standardised
//! measures (PHQ-9, GAD-7) with their bands, trends and safety alerts. See
//! docs/clinical-records.md.
//!
//! Note bodies, assessment answers and alert responses are sealed (encryption at rest);
//! every read is audited before it is shown, and `local_only` records are served only to
//! approved networks.

pub mod api;
pub mod assessments;
pub mod demo;
pub mod instruments;
mod manifest;
pub mod measures_pages;
pub mod note_store;
pub mod notes;
pub mod pages;
pub mod templates;
pub mod trend;

pub use manifest::module;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::appointments::AppointmentId;
use crate::clients::ClientId;
use crate::identity::UserId;
pub use templates::NoteTemplate;

crate::word_enum!(
    NoteStatus {
        Draft => "draft", "Draft",
        Signed => "signed", "Signed",
    }
);

crate::word_enum!(
    /// Psychotherapy notes are a HIPAA category of their own.
    NoteCategory {
        Clinical => "clinical", "Clinical note",
        Psychotherapy => "psychotherapy", "Psychotherapy note",
    }
);

crate::typed_id!(
    /// One version of a clinical note (an amendment is a new version with its own id).
    NoteId
);

crate::typed_id!(
    /// A measure (PHQ-9, GAD-7, ...) recorded for a client.
    AssessmentId
);

crate::typed_id!(
    /// A safety alert raised by an assessment.
    AlertId
);

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Person {
    pub id: UserId,
    pub name: String,
}

crate::redacted_debug!(Person { id });

/// One version of a note, opened.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: NoteId,
    /// The first version's id, shared by every amendment.
    pub thread_id: NoteId,
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub category: NoteCategory,
    pub template: NoteTemplate,
    pub author: Person,
    /// The template's fields, by name, in the template's order.
    pub fields: Vec<NoteField>,
    pub status: NoteStatus,
    /// The version this one amends.
    pub amends_id: Option<NoteId>,
    pub amendment_reason: Option<String>,
    /// SHA-256 of the signed content, hex.
    pub content_hash: Option<String>,
    pub signed_by: Option<Person>,
    pub signed_at: Option<DateTime<Utc>>,
    pub needs_cosign: bool,
    pub cosigned_by: Option<Person>,
    pub cosigned_at: Option<DateTime<Utc>>,
    /// A later version amends this one.
    pub superseded: bool,
    pub hipaa_exempt: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::redacted_debug!(Note {
    id,
    thread_id,
    client_id,
    appointment_id,
    template,
    status,
    amends_id,
    hipaa_exempt,
    version
});

#[derive(Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NoteField {
    pub name: String,
    pub label: String,
    pub value: String,
}

crate::redacted_debug!(NoteField {});

impl Note {
    pub fn value(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map_or("", |f| f.value.as_str())
    }

    pub fn awaiting_cosign(&self) -> bool {
        self.needs_cosign && self.status == NoteStatus::Signed && self.cosigned_at.is_none()
    }
}

/// A line of a note list: nothing sealed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoteSummary {
    pub id: NoteId,
    pub thread_id: NoteId,
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub category: NoteCategory,
    pub template: NoteTemplate,
    pub author: Person,
    pub status: NoteStatus,
    pub amends_id: Option<NoteId>,
    pub signed_at: Option<DateTime<Utc>>,
    pub needs_cosign: bool,
    pub cosigned_at: Option<DateTime<Utc>>,
    pub superseded: bool,
    pub created_at: DateTime<Utc>,
}

impl NoteSummary {
    pub fn awaiting_cosign(&self) -> bool {
        self.needs_cosign && self.status == NoteStatus::Signed && self.cosigned_at.is_none()
    }
}
