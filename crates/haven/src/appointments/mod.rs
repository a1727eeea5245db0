//! Appointments and calendar (SPEC module 3): sessions with one or more clients, a
//! clinician and perhaps a co-facilitator, in a room, by telehealth or elsewhere;
//! recurring series whose occurrences are rows of their own; conflicts; reminders;
//! private calendar feeds. See docs/appointments.md.

pub mod api;
pub mod demo;
pub mod feed_store;
pub mod feeds;
mod manifest;
pub mod own_pages;
pub mod pages;
pub mod recurrence;
pub mod reminder_settings;
pub mod reminders;
pub mod service;
pub mod status;
pub mod store;

pub use manifest::module;

use crate::clients::ClientId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

crate::word_enum!(
    AppointmentStatus {
        Scheduled => "scheduled", "Scheduled",
        Arrived => "arrived", "Arrived",
        Completed => "completed", "Completed",
        Cancelled => "cancelled", "Cancelled",
        NoShow => "no_show", "No-show",
    }
);

impl AppointmentStatus {
    /// Check-in, completion, cancellation and no-show from scheduled; a check-in or a
    /// no-show recorded by mistake can be undone.
    pub fn can_move_to(self, to: Self) -> bool {
        use AppointmentStatus::{Arrived, Cancelled, Completed, NoShow, Scheduled};
        matches!(
            (self, to),
            (Scheduled, Arrived | Completed | Cancelled | NoShow)
                | (Arrived, Completed | Scheduled)
                | (NoShow, Scheduled)
        )
    }

    pub fn next(self) -> Vec<Self> {
        Self::ALL.iter().copied().filter(|to| self.can_move_to(*to)).collect()
    }

    /// Holds its time: a cancelled appointment or a no-show frees the clinician, the room
    /// and the clients.
    pub fn occupies(self) -> bool {
        !matches!(self, Self::Cancelled | Self::NoShow)
    }

    pub fn badge(self) -> &'static str {
        match self {
            Self::Scheduled => "neutral",
            Self::Arrived | Self::Completed => "success",
            Self::Cancelled => "warning",
            Self::NoShow => "danger",
        }
    }
}

crate::word_enum!(
    Place {
        Room => "room", "A room",
        Telehealth => "telehealth", "Telehealth",
        Elsewhere => "elsewhere", "Elsewhere",
    }
);

crate::word_enum!(
    CancelledBy {
        Client => "client", "By the client",
        Staff => "staff", "By staff",
    }
);

crate::word_enum!(
    /// Which occurrences of a series a change applies to.
    EditScope {
        One => "one", "This appointment only",
        Following => "following", "This and the following ones",
        All => "all", "The whole series",
    }
);

crate::typed_id!(
    /// An appointment: one occurrence, on its own or in a series.
    AppointmentId
);

crate::typed_id!(
    /// A recurring series of appointments.
    SeriesId
);

crate::typed_id!(
    /// A room that can be booked.
    RoomId
);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Named {
    pub id: Uuid,
    pub name: String,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct ClientRef {
    pub id: ClientId,
    pub name: String,
    pub record_number: String,
}

crate::redacted_debug!(ClientRef { id });

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Appointment {
    pub id: AppointmentId,
    /// The series it belongs to, when it recurs.
    pub series_id: Option<SeriesId>,
    /// Edited on its own: changes to the whole series leave it be.
    pub detached: bool,
    pub clients: Vec<ClientRef>,
    pub clinician: Named,
    pub co_facilitator: Option<Named>,
    pub place: Place,
    pub room: Option<Named>,
    pub telehealth_url: Option<String>,
    pub location_note: Option<String>,
    pub service_type: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: AppointmentStatus,
    pub cancelled_by: Option<CancelledBy>,
    pub cancel_reason: Option<String>,
    pub late_cancel: bool,
    pub scheduling_note: Option<String>,
    /// Why it was booked over a conflict.
    pub override_reason: Option<String>,
    /// Raised on each change (the calendar feed's SEQUENCE).
    pub sequence: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::redacted_debug!(Appointment {
    id,
    series_id,
    place,
    status
});

impl Appointment {
    pub fn place_label(&self) -> String {
        match (self.place, &self.room, &self.location_note) {
            (Place::Room, Some(room), _) => room.name.clone(),
            (Place::Telehealth, ..) => "Telehealth".to_owned(),
            (_, _, Some(note)) => note.clone(),
            _ => self.place.label().to_owned(),
        }
    }
}
