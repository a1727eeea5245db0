//! Recomputing the chain and naming the first broken link.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

use super::chain::event_hash;
use super::checkpoint::{Checkpoint, SigningKey};
use super::{ChainedEvent, GENESIS_HASH, Hash, store};
use crate::clock::SharedClock;
use crate::config::Config;

/// What a verification trusts besides the database, which a database owner could
/// rewrite: the keys that may sign checkpoints, checkpoints kept elsewhere, and the
/// folder where archives of pruned events are kept.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Public keys whose checkpoints count; a checkpoint signed by any other is refused.
    pub keys: Vec<[u8; 32]>,
    /// Checkpoints kept off the machine.
    pub external: Vec<Checkpoint>,
    pub archives: Option<PathBuf>,
}

impl Trust {
    /// This installation's: its checkpoint key, the earlier keys configured as trusted,
    /// and the configured archive folder.
    pub fn of(config: &Config, key: &SigningKey) -> Self {
        let mut keys = vec![key.public_key()];
        keys.extend(config.audit.trusted_keys.iter().map(|k| k.0));
        keys.extend(restored_keys(config));
        Self {
            keys,
            external: Vec::new(),
            archives: Some(config.audit.archive_dir_path(config)),
        }
    }

    #[must_use]
    pub fn with_external(mut self, external: Vec<Checkpoint>) -> Self {
        self.external = external;
        self
    }
}

/// The file of checkpoint keys that restored organisations' trails were signed with
/// (`haven backup restore` adds them from the backup's signed manifest).
pub fn restored_keys_path(config: &Config) -> PathBuf {
    config.data_dir.join("keys").join("audit-restored-keys.txt")
}

/// The keys of [`restored_keys_path`], one hexadecimal key a line.
fn restored_keys(config: &Config) -> Vec<[u8; 32]> {
    let text = std::fs::read_to_string(restored_keys_path(config)).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut key = [0u8; 32];
            hex::decode_to_slice(line.trim(), &mut key).ok().map(|()| key)
        })
        .collect()
}

/// Trusts `keys` (hex) from now on, as restored organisations' checkpoint keys.
pub fn trust_restored_keys(config: &Config, keys: &[String]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let known = restored_keys(config);
    let path = restored_keys_path(config);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)?;
    for key in keys {
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(key.trim(), &mut bytes).is_ok() && !known.contains(&bytes) {
            writeln!(file, "{}", hex::encode(bytes))?;
        }
    }
    file.sync_all()
}

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
    /// A checkpoint is signed by a key this installation does not trust.
    UntrustedCheckpointKey { seq: i64 },
    /// The archive of events `first_seq..=through_seq` (events pruned from the
    /// database) is not what its row says.
    Archive {
        first_seq: i64,
        through_seq: i64,
        problem: String,
    },
}

impl Break {
    /// The sequence number of the first event that is not as it should be.
    pub fn first_bad_seq(&self) -> i64 {
        match *self {
            Self::Gap { expected, .. } => expected,
            Self::LinkMismatch { seq }
            | Self::HashMismatch { seq }
            | Self::CheckpointMismatch { seq }
            | Self::BadCheckpointSignature { seq }
            | Self::UntrustedCheckpointKey { seq } => seq,
            Self::Archive { first_seq, .. } => first_seq,
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
            Self::UntrustedCheckpointKey { seq } => {
                format!("the checkpoint for event {seq} is signed by a key this installation does not trust")
            }
            Self::Archive {
                first_seq,
                through_seq,
                ref problem,
            } => format!("the archive of events {first_seq} to {through_seq} {problem}"),
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

/// Recomputes the whole chain: every archive of pruned events against its file and its
/// signed checkpoint, then the database's events from the last archive (or the genesis);
/// compares the chain's end with the head and with every checkpoint (the database's and
/// the trusted external ones, each signed by a trusted key), and reports the first break.
/// `progress` is called with the number of events checked so far.
pub async fn verify(
    pool: &PgPool,
    trust: &Trust,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<VerifyReport, sqlx::Error> {
    verify_from(pool, None, trust, progress).await
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
    trust: &Trust,
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
    checkpoints.extend(trust.external.iter().cloned());
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
        if !trust.keys.contains(&checkpoint.public_key) {
            report.broken = Some(Break::UntrustedCheckpointKey { seq: checkpoint.seq });
            return finish(report);
        }
    }
    // Everything before the chain's start lives in archives: a whole verification checks
    // each against its file, and every checkpoint that falls inside one.
    if start.is_none() {
        let archives = store::archives(&mut *snapshot).await?;
        if let Some(broken) = check_archives(&archives, trust, &checkpoints).await {
            report.broken = Some(broken);
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

/// Checks that the archives run from event 1 without a gap, that each file is the one
/// archived (its SHA-256), holds an intact chain from the one before it to the row's last
/// hash, agrees with every checkpoint inside it, and carries a checkpoint of its last
/// event signed by a trusted key (which a database owner cannot forge).
async fn check_archives(archives: &[store::ArchiveRow], trust: &Trust, checkpoints: &[Checkpoint]) -> Option<Break> {
    let vouched: BTreeMap<i64, Hash> = checkpoints.iter().map(|c| (c.seq, c.hash)).collect();
    let (mut prev_seq, mut prev_hash) = (0, GENESIS_HASH);
    for row in archives {
        let broken = |problem: &str| {
            Some(Break::Archive {
                first_seq: row.first_seq,
                through_seq: row.through_seq,
                problem: problem.to_owned(),
            })
        };
        if row.first_seq != prev_seq + 1 {
            return broken("does not begin where the one before it ends");
        }
        let Some(dir) = &trust.archives else {
            return broken("cannot be checked: no archive folder was given");
        };
        if std::path::Path::new(&row.file_name).file_name() != Some(std::ffi::OsStr::new(&row.file_name)) {
            return broken("names a file outside the archive folder");
        }
        let Ok(bytes) = tokio::fs::read(dir.join(&row.file_name)).await else {
            return broken(&format!("is missing: {} is not in {}", row.file_name, dir.display()));
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if digest != row.file_sha256 {
            return broken("was changed: its file's SHA-256 differs from the one recorded");
        }
        let (mut seq, mut hash) = (row.first_seq, prev_hash);
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(event) = serde_json::from_slice::<ChainedEvent>(line) else {
                return broken("holds a line that is not an event");
            };
            if event.seq != seq || event.prev_hash != hash || event_hash(event.seq, &event.event, &hash) != event.hash {
                return broken(&format!("is broken at event {seq}"));
            }
            if vouched.get(&seq).is_some_and(|h| *h != event.hash) {
                return Some(Break::CheckpointMismatch { seq });
            }
            (seq, hash) = (seq + 1, event.hash);
        }
        if seq != row.through_seq + 1 || hash != row.through_hash {
            return broken("does not end where its row says");
        }
        let signed = Checkpoint::read_file(&dir.join(format!("{}.checkpoint.json", row.file_name)));
        if !signed.is_ok_and(|c| {
            c.seq == row.through_seq
                && c.hash == row.through_hash
                && c.signature_is_valid()
                && trust.keys.contains(&c.public_key)
        }) {
            return broken("has no checkpoint of its last event signed by a trusted key");
        }
        (prev_seq, prev_hash) = (row.through_seq, row.through_hash);
    }
    // Archives run from event 1 to the chain's start, so every checkpoint before the
    // start was met in one of them.
    None
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
