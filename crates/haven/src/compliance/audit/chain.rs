//! The canonical encoding of an event and its hash (docs/audit.md, "Hash chain").
//!
//! ```text
//! hash = SHA-256( "haven.audit.v1\n"
//!               || seq (8 bytes, big-endian, signed)
//!               || occurred_at (microseconds since 1970-01-01 UTC, 8 bytes, big-endian, signed)
//!               || field(actor_kind) || field(actor_id) || field(session_id)
//!               || field(client_ip) || field(user_agent) || field(action)
//!               || field(resource_type) || field(resource_id) || field(outcome)
//!               || field(reason) || field(request_id)
//!               || subjects
//!               || prev_hash (32 bytes) )
//! subjects(none) = nothing at all (so events without subjects hash as they always did)
//! subjects(some) = 0x02 || count (4 bytes, big-endian) || field(subject) for each
//! field(absent)  = 0x00
//! field(present) = 0x01 || length in bytes (4 bytes, big-endian) || UTF-8 bytes
//! ```
//!
//! The genesis event (seq 1) has a `prev_hash` of 32 zero bytes.

use sha2::{Digest, Sha256};

use super::AuditEvent;

pub type Hash = [u8; 32];

pub const GENESIS_HASH: Hash = [0; 32];

const DOMAIN: &[u8] = b"haven.audit.v1\n";

fn field(hasher: &mut Sha256, value: Option<&str>) {
    match value {
        None => hasher.update([0u8]),
        Some(text) => {
            hasher.update([1u8]);
            // Fields are capped far below 4 GiB by the table's checks.
            hasher.update(u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
            hasher.update(text.as_bytes());
        }
    }
}

pub fn event_hash(seq: i64, event: &AuditEvent, prev_hash: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(seq.to_be_bytes());
    hasher.update(event.occurred_at.timestamp_micros().to_be_bytes());
    field(&mut hasher, Some(event.actor_kind.as_str()));
    field(&mut hasher, event.actor_id.as_deref());
    field(&mut hasher, event.session_id.as_deref());
    field(&mut hasher, event.client_ip.as_deref());
    field(&mut hasher, event.user_agent.as_deref());
    field(&mut hasher, Some(&event.action));
    field(&mut hasher, event.resource_type.as_deref());
    field(&mut hasher, event.resource_id.as_deref());
    field(&mut hasher, Some(event.outcome.as_str()));
    field(&mut hasher, event.reason.as_deref());
    field(&mut hasher, event.request_id.as_deref());
    if !event.subjects.is_empty() {
        hasher.update([2u8]);
        hasher.update(u32::try_from(event.subjects.len()).unwrap_or(u32::MAX).to_be_bytes());
        for subject in &event.subjects {
            field(&mut hasher, Some(subject));
        }
    }
    hasher.update(prev_hash);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::super::{ActorKind, Outcome};
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent::new(
            DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap(),
            "client.read",
            Outcome::Allowed,
        )
        .actor(ActorKind::User, Some("0190f1a2-0000-7000-8000-000000000001".to_owned()))
        .resource("client", "0190f1a2-0000-7000-8000-000000000002")
    }

    #[test]
    fn the_encoding_is_pinned() {
        // Changing the encoding breaks every stored chain: this value must never change.
        // It was computed independently (Python hashlib) from the encoding in docs/audit.md.
        let hash = event_hash(1, &event(), &GENESIS_HASH);
        assert_eq!(
            hex::encode(hash),
            "e87d5cbecfde822d7ddfd90c7a9138c67b0b586d7cc7756b894a4463ab4fdf58"
        );
    }

    const SUBJECTS_VECTOR: &str = "35dde4920ac170471ef5db269dd70c7eca96674349ca96b1429a5806d3f10e45";

    #[test]
    fn the_encoding_with_subjects_is_pinned() {
        // Computed independently (Python hashlib) from the encoding in docs/audit.md.
        let listed = event().subjects(["a1", "b22"]);
        assert_eq!(hex::encode(event_hash(1, &listed, &GENESIS_HASH)), SUBJECTS_VECTOR);
        let mut reordered = event().subjects(["b22", "a1"]);
        assert_ne!(
            event_hash(1, &listed, &GENESIS_HASH),
            event_hash(1, &reordered, &GENESIS_HASH)
        );
        reordered.subjects.clear();
        assert_eq!(
            event_hash(1, &reordered, &GENESIS_HASH),
            event_hash(1, &event(), &GENESIS_HASH),
            "no subjects encodes as before subjects existed"
        );
    }

    #[test]
    fn every_field_and_the_link_change_the_hash() {
        let base = event_hash(1, &event(), &GENESIS_HASH);
        assert_ne!(base, event_hash(2, &event(), &GENESIS_HASH));
        assert_ne!(base, event_hash(1, &event(), &[1; 32]));
        let mut other = event();
        other.resource_id = Some("0190f1a2-0000-7000-8000-000000000003".to_owned());
        assert_ne!(base, event_hash(1, &other, &GENESIS_HASH));
        let mut absent_vs_empty = event();
        absent_vs_empty.reason = Some(String::new());
        assert_ne!(base, event_hash(1, &absent_vs_empty, &GENESIS_HASH));
        let mut shifted = event();
        shifted.actor_id = None;
        shifted.session_id = Some("0190f1a2-0000-7000-8000-000000000001".to_owned());
        assert_ne!(
            base,
            event_hash(1, &shifted, &GENESIS_HASH),
            "fields cannot slide into each other"
        );
    }
}
