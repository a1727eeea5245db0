//! Recomputing the chain and naming the first broken link.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use serde::Serialize;
use sqlx::PgPool;

use super::chain::event_hash;
use super::checkpoint::Checkpoint;
use super::{Hash, store};
use crate::clock::SharedClock;

/// The first thing found wrong, in chain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Break {
    /// Event `expected` is missing: the next event found has sequence `found`.
    Gap { expected: i64, found: i64 },
    /// Event `seq` does not point at the hash of the event before it (moved, swapped or inserted).
    LinkMismatch { seq: i64 },
    /// Event `seq`'s stored fields no longer give its stored hash (changed).
    HashMismatch { seq: i64 },
    /// The chain ends at `chain_end`, but its head says `head_seq`.
    HeadMismatch { head_seq: i64, chain_end: i64 },
    /// A checkpoint vouches for event `checkpoint_seq`, but the chain ends at `chain_end`.
    Truncated { checkpoint_seq: i64, chain_end: i64 },
    /// Event `seq` differs from the one a checkpoint vouches for.
    CheckpointMismatch { seq: i64 },
    /// A checkpoint's signature does not verify.
    BadCheckpointSignature { seq: i64 },
}

impl Break {
    /// The sequence number of the first event that is not as it should be.
    pub fn first_bad_seq(&self) -> i64 {
        match *self {
            Self::Gap { expected, .. } => expected,
            Self::LinkMismatch { seq }
            | Self::HashMismatch { seq }
            | Self::CheckpointMismatch { seq }
            | Self::BadCheckpointSignature { seq } => seq,
            Self::HeadMismatch { head_seq, chain_end } => chain_end.min(head_seq) + 1,
            Self::Truncated { chain_end, .. } => chain_end + 1,
        }
    }

    pub fn describe(&self) -> String {
        match *self {
            Self::Gap { expected, found } => {
                format!("event {expected} is missing: the chain jumps to {found}")
            }
            Self::LinkMismatch { seq } => format!(
                "event {seq} does not follow event {}: its previous-hash differs (moved, swapped or inserted)",
                seq - 1
            ),
            Self::HashMismatch { seq } => {
                format!("event {seq} was changed: its fields no longer give its stored hash")
            }
            Self::HeadMismatch { head_seq, chain_end } => {
                format!("the chain ends at event {chain_end} but its head says {head_seq}: events were removed")
            }
            Self::Truncated {
                checkpoint_seq,
                chain_end,
            } => format!(
                "the chain ends at event {chain_end} but a checkpoint vouches for event {checkpoint_seq}: the tail was truncated"
            ),
            Self::CheckpointMismatch { seq } => {
                format!("event {seq} differs from the event its checkpoint vouches for")
            }
            Self::BadCheckpointSignature { seq } => {
                format!("the checkpoint for event {seq} has an invalid signature")
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// The last event checked and its hash (the chain's end when it is intact).
    pub last_seq: i64,
    #[serde(serialize_with = "hex_hash")]
    pub last_hash: Hash,
    pub broken: Option<Break>,
    #[serde(skip)]
    pub elapsed: Duration,
}

fn hex_hash<S: serde::Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(hash))
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }

    pub fn summary(&self) -> String {
        match &self.broken {
            None => format!(
                "OK: {} events verified, chain ends at event {}",
                self.events, self.last_seq
            ),
            Some(broken) => format!(
                "BROKEN at event {}: {} ({} events checked before it)",
                broken.first_bad_seq(),
                broken.describe(),
                self.events
            ),
        }
    }
}

/// Recomputes the whole chain (from the last archive, or the genesis), compares its end
/// with the head and with every checkpoint (the database's and `external`), and reports
/// the first break. `progress` is called with the number of events checked so far.
pub async fn verify(
    pool: &PgPool,
    external: &[Checkpoint],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<VerifyReport, sqlx::Error> {
    verify_from(pool, None, external, progress).await
}

/// Like [`verify`], but trusting the chain up to `start` (the end of an earlier
/// successful verification): the periodic check only reads what is new.
///
/// Everything is read in one snapshot ([`store::snapshot`]): events the writer appends
/// meanwhile are not seen, and the chain's end is compared with the head as it stood
/// with the events read, so a live, healthy trail always verifies.
pub async fn verify_from(
    pool: &PgPool,
    start: Option<(i64, Hash)>,
    external: &[Checkpoint],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<VerifyReport, sqlx::Error> {
    let started = Instant::now();
    let mut snapshot = store::snapshot(pool).await?;
    let (anchor_seq, anchor_hash) = match start {
        Some(start) => start,
        None => store::chain_anchor(&mut *snapshot).await?,
    };
    let (head_seq, head_hash) = store::head(&mut *snapshot).await?;
    let mut checkpoints = super::checkpoint::stored(&mut *snapshot).await?;
    checkpoints.extend(external.iter().cloned());
    checkpoints.sort_by_key(|c| c.seq);

    let mut report = VerifyReport {
        events: 0,
        last_seq: anchor_seq,
        last_hash: anchor_hash,
        broken: None,
        elapsed: Duration::ZERO,
    };
    let finish = |mut report: VerifyReport| {
        report.elapsed = started.elapsed();
        Ok(report)
    };

    for checkpoint in &checkpoints {
        if !checkpoint.signature_is_valid() {
            report.broken = Some(Break::BadCheckpointSignature { seq: checkpoint.seq });
            return finish(report);
        }
    }
    // Checkpoints still to meet, in chain order (an owned queue: no borrow lives across an await).
    let mut pending_checkpoints: VecDeque<Checkpoint> =
        checkpoints.into_iter().filter(|c| c.seq > anchor_seq).collect();

    let mut rows = store::stream_chain(&mut *snapshot, anchor_seq + 1);
    while let Some(row) = rows.try_next().await? {
        let expected = report.last_seq + 1;
        let broken = if row.seq != expected {
            Some(Break::Gap {
                expected,
                found: row.seq,
            })
        } else if row.prev_hash != report.last_hash {
            Some(Break::LinkMismatch { seq: row.seq })
        } else if event_hash(row.seq, &row.event, &row.prev_hash) != row.hash {
            Some(Break::HashMismatch { seq: row.seq })
        } else {
            None
        };
        if broken.is_some() {
            report.broken = broken;
            return finish(report);
        }
        while pending_checkpoints.front().is_some_and(|c| c.seq <= row.seq) {
            let Some(checkpoint) = pending_checkpoints.pop_front() else {
                break;
            };
            if checkpoint.seq == row.seq && checkpoint.hash != row.hash {
                report.broken = Some(Break::CheckpointMismatch { seq: row.seq });
                return finish(report);
            }
        }
        report.events += 1;
        report.last_seq = row.seq;
        report.last_hash = row.hash;
        if report.events.is_multiple_of(65_536) {
            progress(report.events);
        }
    }
    progress(report.events);
    drop(rows);

    if let Some(checkpoint) = pending_checkpoints.pop_front() {
        report.broken = Some(Break::Truncated {
            checkpoint_seq: checkpoint.seq,
            chain_end: report.last_seq,
        });
        return finish(report);
    }
    if head_seq != report.last_seq || head_hash != report.last_hash {
        report.broken = Some(Break::HeadMismatch {
            head_seq,
            chain_end: report.last_seq,
        });
    }
    finish(report)
}

/// Keeps the result where `/api/v1/health/audit-status` finds it.
pub async fn record_verification(pool: &PgPool, report: &VerifyReport, clock: &SharedClock) -> Result<(), sqlx::Error> {
    let detail: String = report.summary().chars().take(1000).collect();
    sqlx::query!(
        r#"
        INSERT INTO audit_verifications (verified_at, through_seq, through_hash, events, ok, detail)
        VALUES ($1, $2, $3, $4, $5, $6)
        "#,
        clock.now(),
        report.last_seq,
        &report.last_hash[..],
        i64::try_from(report.events).unwrap_or(i64::MAX),
        report.ok(),
        detail,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Where the last successful verification ended.
pub async fn last_good_verification(pool: &PgPool) -> Result<Option<(i64, Hash)>, sqlx::Error> {
    let row =
        sqlx::query!("SELECT through_seq, through_hash FROM audit_verifications WHERE ok ORDER BY id DESC LIMIT 1")
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|r| Some((r.through_seq, r.through_hash.as_slice().try_into().ok()?))))
}

#[derive(Debug, Clone, Serialize)]
pub struct LastVerification {
    pub verified_at: chrono::DateTime<chrono::Utc>,
    pub ok: bool,
    pub through_seq: i64,
    pub events: i64,
    pub detail: String,
}

pub async fn last_verification(pool: &PgPool) -> Result<Option<LastVerification>, sqlx::Error> {
    sqlx::query_as!(
        LastVerification,
        "SELECT verified_at, ok, through_seq, events, detail FROM audit_verifications ORDER BY id DESC LIMIT 1"
    )
    .fetch_optional(pool)
    .await
}
