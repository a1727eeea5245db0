//! Referrals (SPEC module 2): in and out, with their source, reason and urgency, moving
//! received -> triaged -> accepted/declined -> closed, each move recorded with who made
//! it and when. Accepting an inbound referral for someone new registers the client.

pub mod api;
pub mod demo;
mod manifest;
pub mod pages;
pub mod service;
pub mod store;

pub use manifest::module;

use crate::clients::ClientId;
use crate::identity::UserId;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

crate::word_enum!(
    /// Into this organisation, or from it to another.
    Direction { Inbound => "inbound", "Inbound", Outbound => "outbound", "Outbound" }
);
crate::word_enum!(
    /// Who referred (inbound) or where to (outbound).
    SourceKind {
        Organisation => "organisation", "Organisation",
        Professional => "professional", "Professional",
        SelfReferral => "self", "Self-referral",
    }
);
crate::word_enum!(
    Urgency { Routine => "routine", "Routine", Soon => "soon", "Soon", Urgent => "urgent", "Urgent" }
);
crate::word_enum!(
    ReferralStatus {
        Received => "received", "Received",
        Triaged => "triaged", "Triaged",
        Accepted => "accepted", "Accepted",
        Declined => "declined", "Declined",
        Closed => "closed", "Closed",
    }
);

impl ReferralStatus {
    /// The workflow: received -> triaged -> accepted or declined -> closed.
    pub fn can_move_to(self, to: Self) -> bool {
        matches!(
            (self, to),
            (Self::Received, Self::Triaged)
                | (Self::Triaged, Self::Accepted | Self::Declined)
                | (Self::Accepted | Self::Declined, Self::Closed)
        )
    }

    /// Where a referral in this state may go next.
    pub fn next(self) -> Vec<Self> {
        Self::ALL.iter().copied().filter(|to| self.can_move_to(*to)).collect()
    }
}

crate::typed_id!(
    /// A referral, inbound or outbound.
    ReferralId
);

/// The person an inbound referral is about, before they are a client.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReferredPerson {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

crate::redacted_debug!(ReferredPerson {});

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Referral {
    pub id: ReferralId,
    pub direction: Direction,
    /// The client, once there is one.
    pub client_id: Option<ClientId>,
    pub client_record_number: Option<String>,
    /// Who the referral is about: the client's name, or the referred person's.
    pub person_name: String,
    /// Set while an inbound referral is for someone who is not a client yet.
    pub person: Option<ReferredPerson>,
    pub source_kind: SourceKind,
    pub source_name: Option<String>,
    pub source_contact: Option<String>,
    pub reason: String,
    pub urgency: Urgency,
    pub status: ReferralStatus,
    pub assigned_to: Option<UserId>,
    pub assigned_to_name: Option<String>,
    pub decline_reason: Option<String>,
    pub received_on: NaiveDate,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::redacted_debug!(Referral {
    id,
    direction,
    client_id,
    urgency,
    status,
    version
});

/// One move of a referral.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Transition {
    pub from_status: Option<ReferralStatus>,
    pub to_status: ReferralStatus,
    pub at: DateTime<Utc>,
    pub by_user: Option<UserId>,
    pub by_name: Option<String>,
    pub note: Option<String>,
}

crate::redacted_debug!(Transition { from_status, to_status });

/// One line of the referral queue.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct ReferralSummary {
    pub id: ReferralId,
    pub direction: Direction,
    pub client_id: Option<ClientId>,
    pub person_name: String,
    pub source_kind: SourceKind,
    pub source_name: Option<String>,
    pub urgency: Urgency,
    pub status: ReferralStatus,
    pub assigned_to: Option<UserId>,
    pub assigned_to_name: Option<String>,
    pub received_on: NaiveDate,
}

crate::redacted_debug!(ReferralSummary {
    id,
    direction,
    client_id,
    urgency,
    status
});

#[cfg(test)]
mod tests {
    use super::ReferralStatus::{Accepted, Closed, Declined, Received, Triaged};

    #[test]
    fn the_workflow_moves_one_way() {
        assert_eq!(Received.next(), [Triaged]);
        assert_eq!(Triaged.next(), [Accepted, Declined]);
        assert_eq!(Accepted.next(), [Closed]);
        assert_eq!(Declined.next(), [Closed]);
        assert!(Closed.next().is_empty());
        assert!(!Received.can_move_to(Accepted), "triage comes first");
    }
}
