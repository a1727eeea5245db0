//! Exporting events as JSON lines or CSV, streamed, with the chain fields so that an
//! export can be checked on its own.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

use super::chain::event_hash;
use super::store::{self, ChainedEvent};
use super::{AuditEvent, AuditWriter, Checkpoint, Outcome, SigningKey};
use crate::clock::SharedClock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot write the export: {0}")]
    Csv(#[from] csv::Error),
}

const CSV_HEADER: [&str; 16] = [
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "session_id",
    "client_ip",
    "user_agent",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "request_id",
    "prev_hash",
    "hash",
    "subjects",
];

/// How many events fall in `[from, to)`, for a progress bar.
pub async fn count(pool: &PgPool, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(store::count_range(pool, from, to).await?).unwrap_or(0))
}

/// Writes every event of `[from, to)` to `out`; returns how many. `progress` is called
/// with the running count.
pub async fn export(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    format: ExportFormat,
    out: impl Write,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ExportError> {
    let mut written = 0u64;
    let mut rows = store::stream_range(pool, from, to);
    match format {
        ExportFormat::Jsonl => {
            let mut out = std::io::BufWriter::new(out);
            while let Some(event) = rows.try_next().await? {
                serde_json::to_writer(&mut out, &event).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
                written += 1;
                if written.is_multiple_of(4096) {
                    progress(written);
                }
            }
            out.flush()?;
        }
        ExportFormat::Csv => {
            let mut out = csv::Writer::from_writer(out);
            out.write_record(CSV_HEADER)?;
            while let Some(c) = rows.try_next().await? {
                let e = &c.event;
                let seq = c.seq.to_string();
                let at = e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                let prev = hex::encode(c.prev_hash);
                let hash = hex::encode(c.hash);
                let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                out.write_record(
                    [
                        seq,
                        at,
                        e.actor_kind.as_str().to_owned(),
                        opt(&e.actor_id),
                        opt(&e.session_id),
                        opt(&e.client_ip),
                        opt(&e.user_agent),
                        e.action.clone(),
                        opt(&e.resource_type),
                        opt(&e.resource_id),
                        e.outcome.as_str().to_owned(),
                        opt(&e.reason),
                        opt(&e.request_id),
                        prev,
                        hash,
                        e.subjects.join(" "),
                    ]
                    .map(inert),
                )?;
                written += 1;
                if written.is_multiple_of(4096) {
                    progress(written);
                }
            }
            out.flush()?;
        }
    }
    progress(written);
    Ok(written)
}

/// A cell a spreadsheet will not run: text starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return (a formula to Excel, LibreOffice and Sheets) gets a leading apostrophe.
/// Reasons and user agents are people's text and could otherwise carry a formula into an
/// auditor's spreadsheet.
fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// An archive made by [`prune`].
#[derive(Debug)]
pub struct Archive {
    pub first_seq: i64,
    pub through_seq: i64,
    pub file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the archive {0} did not verify; nothing was removed")]
    ArchiveDoesNotVerify(PathBuf),
    #[error("cannot write the archive: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot record the pruning in the audit trail: {0}")]
    Audit(#[from] super::AuditError),
}

/// Retention: writes every event that occurred before `cutoff` (the chain's prefix up to
/// the last such event) to a JSON-lines file in `dir`, reads the file back and checks
/// its chain, writes a signed checkpoint of its last event beside it, and only then
/// removes those events. The remaining chain continues from the archive's last hash.
pub async fn prune(
    pool: &PgPool,
    tenant: &str,
    cutoff: DateTime<Utc>,
    dir: &Path,
    key: &SigningKey,
    clock: &SharedClock,
) -> Result<Option<Archive>, PruneError> {
    let (anchor_seq, anchor_hash) = store::chain_anchor(pool).await?;
    let Some(through_seq) = store::last_seq_before(pool, cutoff).await?.filter(|s| *s > anchor_seq) else {
        return Ok(None);
    };
    let first_seq = anchor_seq + 1;
    std::fs::create_dir_all(dir)?;
    let file_name = format!("{tenant}-audit-{first_seq:012}-{through_seq:012}.jsonl");
    let path = dir.join(&file_name);

    // Write the prefix.
    {
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        let mut out = std::io::BufWriter::new(file);
        let mut rows = store::stream_chain(pool, first_seq);
        while let Some(event) = rows.try_next().await? {
            if event.seq > through_seq {
                break;
            }
            serde_json::to_writer(&mut out, &event).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
    }

    // Read it back: it must hold the whole prefix, intact and linked to what came before.
    let bytes = std::fs::read(&path)?;
    let mut expected_seq = first_seq;
    let mut prev = anchor_hash;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let event: ChainedEvent =
            serde_json::from_slice(line).map_err(|_| PruneError::ArchiveDoesNotVerify(path.clone()))?;
        if event.seq != expected_seq
            || event.prev_hash != prev
            || event_hash(event.seq, &event.event, &prev) != event.hash
        {
            return Err(PruneError::ArchiveDoesNotVerify(path));
        }
        prev = event.hash;
        expected_seq += 1;
    }
    if expected_seq != through_seq + 1 {
        return Err(PruneError::ArchiveDoesNotVerify(path));
    }
    let through_hash = prev;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();

    let checkpoint = Checkpoint::sign(tenant, through_seq, through_hash, clock.now(), key);
    std::fs::write(
        dir.join(format!("{file_name}.checkpoint.json")),
        serde_json::to_string_pretty(&checkpoint).map_err(std::io::Error::from)? + "\n",
    )?;

    let writer = AuditWriter::spawn(pool.clone(), clock.clone(), std::time::Duration::ZERO);
    writer
        .record(
            AuditEvent::new(clock.now(), "audit.prune", Outcome::Allowed)
                .resource("audit_trail", format!("{first_seq}-{through_seq}"))
                .reason(format!(
                    "retention: events before {} archived to {file_name}",
                    cutoff.date_naive()
                )),
        )
        .await?;
    store::archive_and_delete(
        pool,
        first_seq,
        through_seq,
        &through_hash,
        clock.now(),
        &file_name,
        &digest,
    )
    .await?;
    Ok(Some(Archive {
        first_seq,
        through_seq,
        file: path,
    }))
}
