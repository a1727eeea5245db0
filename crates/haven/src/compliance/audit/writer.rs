//! The per-tenant chain writer: group commit.
//!
//! Reads hand their event to the writer and wait. The writer takes whatever has arrived
//! (after a short window, so that concurrent requests share a transaction), adds the
//! writes' events waiting in the outbox, extends the chain in one transaction that holds
//! the head's row lock, commits with `synchronous_commit = on`, and only then answers the
//! waiting requests. If the batch fails, every waiter gets the error: the request fails
//! closed and sends no PHI.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use super::chain::event_hash;
use super::store::{self, ChainedEvent};
use super::{AuditError, AuditEvent, Audited, Hash};
use crate::clock::SharedClock;

const QUEUE: usize = 8192;
const MAX_BATCH: usize = 1024;
/// Outbox rows chained per batch; a longer outbox takes several batches.
const MAX_OUTBOX: i64 = 4096;
/// How often the outbox is checked when nothing has nudged the writer (events staged by
/// another Haven instance, or after a restart).
const OUTBOX_POLL: Duration = Duration::from_millis(500);
/// After a failed batch, wait this long before the next attempt.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// While subjects arrive, their index's pending list is merged at most this often.
const MERGE_EVERY: Duration = Duration::from_millis(250);

struct Job {
    event: AuditEvent,
    done: oneshot::Sender<Result<i64, AuditError>>,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    events: AtomicU64,
    consecutive_failures: AtomicU64,
    last_error_at: Mutex<Option<DateTime<Utc>>>,
}

/// What `/api/v1/health/audit-status` shows of a writer.
#[derive(Debug, Clone, Serialize)]
pub struct WriterStatus {
    pub state: &'static str,
    pub queued: usize,
    pub batches: u64,
    pub events: u64,
    pub consecutive_failures: u64,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// A handle on one tenant's chain writer. Cloning shares the writer; the task ends when
/// the last handle is dropped.
#[derive(Clone)]
pub struct AuditWriter {
    jobs: mpsc::Sender<Job>,
    nudge: Arc<Nudge>,
    counters: Arc<Counters>,
}

/// A write committed events to the outbox: wake the writer, and have its next batch look.
#[derive(Debug, Default)]
struct Nudge {
    wake: Notify,
    outbox_waits: AtomicBool,
}

impl AuditWriter {
    /// A writer whose own inserts merge the subjects index's pending list when it fills
    /// (enough for the command line and short-lived tasks).
    pub fn spawn(pool: PgPool, clock: SharedClock, window: Duration) -> Self {
        Self::start(pool, None, clock, window)
    }

    /// A writer for serving: list and search events' subjects are merged into their index
    /// from `merging` (the serving pool), beside the chain, so that no batch, and no
    /// audited read waiting for one, pays for the merge.
    pub fn spawn_merging(pool: PgPool, merging: PgPool, clock: SharedClock, window: Duration) -> Self {
        Self::start(pool, Some(merging), clock, window)
    }

    fn start(pool: PgPool, merging: Option<PgPool>, clock: SharedClock, window: Duration) -> Self {
        let (jobs, receiver) = mpsc::channel(QUEUE);
        let nudge = Arc::new(Nudge::default());
        let counters = Arc::new(Counters::default());
        let subjects_added = merging.map(|merging| {
            // One signal is enough however many batches added subjects meanwhile.
            let (added, signals) = mpsc::channel(1);
            tokio::spawn(merge_subjects(merging, signals));
            added
        });
        tokio::spawn(run(
            pool,
            clock,
            window,
            receiver,
            Writer {
                nudge: Arc::clone(&nudge),
                counters: Arc::clone(&counters),
                subjects_added,
            },
        ));
        Self { jobs, nudge, counters }
    }

    /// Appends `event` and returns its sequence number once it is committed.
    pub async fn record(&self, event: AuditEvent) -> Result<i64, AuditError> {
        event.validate()?;
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { event, done })
            .await
            .map_err(|_| AuditError::WriterStopped)?;
        answer.await.map_err(|_| AuditError::WriterStopped)?
    }

    /// Records the read of `value` and hands it back in the form a response accepts.
    pub async fn read<T>(&self, event: AuditEvent, value: T) -> Result<Audited<T>, AuditError> {
        let seq = self.record(event).await?;
        Ok(Audited { value, seq })
    }

    /// Asks the writer to chain the outbox now (after a write committed).
    pub fn nudge(&self) {
        self.nudge.outbox_waits.store(true, Ordering::Release);
        self.nudge.wake.notify_one();
    }

    pub async fn status(&self) -> WriterStatus {
        let failures = self.counters.consecutive_failures.load(Ordering::Relaxed);
        WriterStatus {
            state: if self.jobs.is_closed() {
                "stopped"
            } else if failures > 0 {
                "failing"
            } else {
                "running"
            },
            queued: self.jobs.max_capacity() - self.jobs.capacity(),
            batches: self.counters.batches.load(Ordering::Relaxed),
            events: self.counters.events.load(Ordering::Relaxed),
            consecutive_failures: failures,
            last_error_at: *self.counters.last_error_at.lock().await,
        }
    }
}

/// What the writer's task shares with its handles and its merger.
struct Writer {
    nudge: Arc<Nudge>,
    counters: Arc<Counters>,
    subjects_added: Option<mpsc::Sender<()>>,
}

/// Merges the subjects index's pending list each time the writer says it added to it, at
/// most every [`MERGE_EVERY`]; ends with the writer. A merge that fails is left to the
/// next one, or to the writer's own inserts once the list is full.
async fn merge_subjects(pool: PgPool, mut added: mpsc::Receiver<()>) {
    let mut failing = false;
    while added.recv().await.is_some() {
        match store::merge_subjects(&pool).await {
            Ok(_) => failing = false,
            // Only the first failure of a run is logged loudly; the cause holds no PHI.
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "merging the audit subjects index failed; the writer's inserts merge it meanwhile");
            }
            Err(err) => tracing::debug!(error = %err, "merging the audit subjects index failed again"),
        }
        tokio::time::sleep(MERGE_EVERY).await;
    }
}

async fn run(pool: PgPool, clock: SharedClock, window: Duration, mut receiver: mpsc::Receiver<Job>, writer: Writer) {
    let Writer {
        nudge,
        counters,
        subjects_added,
    } = writer;
    let mut chain = Chain::new(pool);
    let mut more_outbox = true;
    let mut looked_at = tokio::time::Instant::now();
    loop {
        let mut jobs = Vec::new();
        if !more_outbox {
            tokio::select! {
                job = receiver.recv() => match job {
                    Some(job) => jobs.push(job),
                    None => return,
                },
                () = nudge.wake.notified() => {}
                () = tokio::time::sleep(OUTBOX_POLL) => {}
            }
            if !jobs.is_empty() && !window.is_zero() {
                tokio::time::sleep(window).await;
            }
        }
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // The events move into the batch (a list event carries a hundred subjects); the
        // waiters stay to be answered.
        let (events, waiters): (Vec<AuditEvent>, Vec<_>) = jobs.into_iter().map(|j| (j.event, j.done)).unzip();
        let look = looks_at_outbox(more_outbox, &nudge.outbox_waits, looked_at.elapsed());
        if look {
            looked_at = tokio::time::Instant::now();
        }
        match chain.write(events, look).await {
            Ok(batch) => {
                if batch.added_subjects
                    && let Some(added) = &subjects_added
                {
                    let _ = added.try_send(());
                }
                more_outbox = batch.outbox_drained == usize::try_from(MAX_OUTBOX).unwrap_or(usize::MAX);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters
                    .events
                    .fetch_add((batch.seqs.len() + batch.outbox_drained) as u64, Ordering::Relaxed);
                counters.consecutive_failures.store(0, Ordering::Relaxed);
                for (done, seq) in waiters.into_iter().zip(batch.seqs) {
                    let _ = done.send(Ok(seq));
                }
            }
            Err(err) => {
                more_outbox = false;
                if look {
                    // Its rows are still there; the next batch looks again.
                    nudge.outbox_waits.store(true, Ordering::Release);
                }
                let failures = counters.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
                *counters.last_error_at.lock().await = Some(clock.now());
                // Only the first failure of a run is logged loudly; the cause holds no PHI.
                if failures == 1 {
                    tracing::error!(error = %err, "audit batch failed; requests that need it fail closed");
                } else {
                    tracing::debug!(error = %err, failures, "audit batch failed again");
                }
                let message = err.to_string();
                for done in waiters {
                    let _ = done.send(Err(AuditError::Unavailable(message.clone())));
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

/// Chains whatever waits in the outbox now (for processes without a running writer,
/// such as the command line). Returns how many events were chained.
pub async fn drain_outbox(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut chain = Chain::new(pool.clone());
    let mut total = 0;
    loop {
        let batch = chain.write(Vec::new(), true).await?;
        total += batch.outbox_drained;
        if batch.outbox_drained < usize::try_from(MAX_OUTBOX).unwrap_or(usize::MAX) {
            return Ok(total);
        }
    }
}

/// A chain writer's connection, held from one batch to the next (a connection given
/// back to the pool costs a round trip, the pool's check), and the head its last batch
/// left. A batch of events alone (no outbox to read) is chained from that head and
/// appended in one statement outside a transaction block: one round trip, where reading
/// the head under the lock first takes four. If another writer moved the head meanwhile,
/// the append fails whole ([`store::lost_the_head`]) and the batch is chained again from
/// the head read under the lock. Any other failure lets the connection go.
struct Chain {
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
    head: Option<(i64, Hash)>,
}

impl Chain {
    fn new(pool: PgPool) -> Self {
        Self {
            pool,
            conn: None,
            head: None,
        }
    }

    async fn write(&mut self, events: Vec<AuditEvent>, look_at_outbox: bool) -> Result<Batch, sqlx::Error> {
        let written = self.try_write(events, look_at_outbox).await;
        if written.is_err() {
            self.conn = None;
            self.head = None;
        }
        written
    }

    async fn try_write(&mut self, mut events: Vec<AuditEvent>, look_at_outbox: bool) -> Result<Batch, sqlx::Error> {
        let conn = if let Some(conn) = self.conn.take() {
            conn
        } else {
            let mut conn = self.pool.acquire().await?;
            store::durable_commits(&mut conn).await?;
            conn
        };
        let conn = self.conn.insert(conn);
        if let Some(head) = self.head.take()
            && !look_at_outbox
            && !events.is_empty()
        {
            let chained = chain_from(head, Vec::new(), events);
            match store::append(&mut **conn, &chained.events, &[]).await {
                Ok(()) => {
                    self.head = Some(chained.head);
                    return Ok(chained.batch);
                }
                Err(err) if store::lost_the_head(&err) => {
                    events = chained.events.into_iter().map(|c| c.event).collect();
                }
                Err(err) => return Err(err),
            }
        }
        let mut tx = store::begin_chain_on(conn).await?;
        let head = store::head(&mut *tx).await?;
        let outbox = if look_at_outbox {
            store::take_outbox(&mut tx, MAX_OUTBOX).await?
        } else {
            Vec::new()
        };
        if outbox.is_empty() && events.is_empty() {
            tx.rollback().await?;
            self.head = Some(head);
            return Ok(Batch {
                seqs: Vec::new(),
                outbox_drained: 0,
                added_subjects: false,
            });
        }
        let outbox_ids: Vec<i64> = outbox.iter().map(|(id, _)| *id).collect();
        let chained = chain_from(head, outbox.into_iter().map(|(_, event)| event).collect(), events);
        store::append(&mut *tx, &chained.events, &outbox_ids).await?;
        tx.commit().await?;
        self.head = Some(chained.head);
        Ok(chained.batch)
    }
}

/// Events chained from `head`, the outbox's first, then the reads waiting now.
struct Chained {
    events: Vec<ChainedEvent>,
    /// The last event's number and hash: the head once they are appended.
    head: (i64, Hash),
    batch: Batch,
}

fn chain_from((mut seq, mut prev): (i64, Hash), staged: Vec<AuditEvent>, waiting: Vec<AuditEvent>) -> Chained {
    let outbox_drained = staged.len();
    let mut events = Vec::with_capacity(staged.len() + waiting.len());
    let mut seqs = Vec::with_capacity(waiting.len());
    let staged = staged.into_iter().map(|event| (event, false));
    let waiting = waiting.into_iter().map(|event| (event, true));
    for (event, answers_a_waiter) in staged.chain(waiting) {
        seq += 1;
        let hash = event_hash(seq, &event, &prev);
        if answers_a_waiter {
            seqs.push(seq);
        }
        events.push(ChainedEvent {
            seq,
            event,
            prev_hash: prev,
            hash,
        });
        prev = hash;
    }
    let added_subjects = events.iter().any(|c| !c.event.subjects.is_empty());
    Chained {
        events,
        head: (seq, prev),
        batch: Batch {
            seqs,
            outbox_drained,
            added_subjects,
        },
    }
}

struct Batch {
    seqs: Vec<i64>,
    outbox_drained: usize,
    added_subjects: bool,
}

/// Whether a batch reads the outbox: when a write said it staged events there, when the
/// last batch left some behind, and at least every [`OUTBOX_POLL`] (events staged by
/// another instance, or before a restart). A batch of reads alone does not: the outbox
/// is a queue that is emptied by deleting, and until vacuum clears what was deleted,
/// each look reads past it; after a burst of writes that took every audited read
/// several milliseconds.
fn looks_at_outbox(more_outbox: bool, outbox_waits: &AtomicBool, since_last_look: Duration) -> bool {
    // Cleared before the look, so a write that commits during it is looked for next time.
    let waits = outbox_waits.swap(false, Ordering::AcqRel);
    more_outbox || waits || since_last_look >= OUTBOX_POLL
}

impl AuditEvent {
    /// The checks of the `audit_events` table, made before an event joins a batch, so
    /// that one bad event cannot fail everybody's.
    pub fn validate(&self) -> Result<(), AuditError> {
        fn within(value: Option<&String>, max: usize) -> bool {
            value.is_none_or(|v| !v.is_empty() && v.len() <= max)
        }
        let word = |s: &str| {
            s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let parts: Vec<&str> = self.action.split('.').collect();
        if self.action.len() > 64 || parts.len() < 2 || !parts.iter().all(|p| word(p)) {
            return Err(AuditError::Invalid("action must look like `resource.verb`"));
        }
        if self.resource_type.as_deref().is_some_and(|t| t.len() > 64 || !word(t)) {
            return Err(AuditError::Invalid("resource type must be a lower-case word"));
        }
        if !(within(self.actor_id.as_ref(), 100)
            && within(self.session_id.as_ref(), 100)
            && within(self.user_agent.as_ref(), 200)
            && within(self.resource_id.as_ref(), 100)
            && within(self.reason.as_ref(), 1000)
            && within(self.request_id.as_ref(), 128))
        {
            return Err(AuditError::Invalid("a field is empty or too long"));
        }
        if self
            .client_ip
            .as_deref()
            .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_err())
        {
            return Err(AuditError::Invalid("client ip is not an address"));
        }
        if self.subjects.len() > super::MAX_SUBJECTS
            || !self
                .subjects
                .iter()
                .all(|s| !s.is_empty() && s.len() <= 100 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(AuditError::Invalid("subjects must be at most 200 record ids"));
        }
        let needs_reason = ["break_glass.open", "export.create", "audit.export", "audit.prune"];
        if self.reason.is_none() && needs_reason.contains(&self.action.as_str()) {
            return Err(AuditError::Invalid("this action needs a reason"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_reads_alone_reads_the_outbox_only_when_told_or_when_the_poll_is_due() {
        let waits = AtomicBool::new(false);
        let soon = Duration::from_millis(10);
        assert!(!looks_at_outbox(false, &waits, soon), "reads alone, nothing staged");
        assert!(looks_at_outbox(false, &waits, OUTBOX_POLL), "the poll is due");
        assert!(looks_at_outbox(true, &waits, soon), "the last batch left rows behind");
        waits.store(true, Ordering::Release);
        assert!(looks_at_outbox(false, &waits, soon), "a write staged events");
        assert!(!looks_at_outbox(false, &waits, soon), "and once is enough");
    }
}
