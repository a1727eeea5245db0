//! The durable job queue: work that happens after the request that asked for it, in
//! PostgreSQL so that it survives restarts and is shared by every Haven instance. See
//! docs/jobs.md.
//!
//! A job is claimed with `FOR UPDATE SKIP LOCKED` by one worker, which holds a lease on
//! it and renews the lease while the job runs; a job whose worker died is queued again
//! once its lease lapses. A failed attempt is retried after an exponential backoff with
//! jitter, and after `max_attempts` the job is dead: kept for an admin to retry or
//! discard on `/admin/jobs`.

pub mod config;
pub mod pages;
pub mod store;
pub mod worker;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use store::enqueue;
pub use worker::{Handlers, JobFailure, JobRun, Worker, WorkerSettings};

crate::word_enum!(
    /// Where a job is in its life.
    JobState {
        Queued => "queued", "Queued",
        Running => "running", "Running",
        Done => "done", "Done",
        Dead => "dead", "Dead",
        Discarded => "discarded", "Discarded",
    }
);

impl JobState {
    pub fn badge(self) -> &'static str {
        match self {
            Self::Queued => "neutral",
            Self::Running => "",
            Self::Done => "success",
            Self::Dead => "danger",
            Self::Discarded => "warning",
        }
    }
}

/// Work to do later.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Which handler runs it (`appointment.reminder`).
    pub kind: &'static str,
    /// Identifiers of what the job acts on; never PHI (the handler reads the rest).
    pub payload: serde_json::Value,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
    /// A second job with the same key is not queued.
    pub unique_key: Option<String>,
}

impl NewJob {
    pub const DEFAULT_ATTEMPTS: i32 = 8;

    pub fn new(kind: &'static str, payload: serde_json::Value, run_at: DateTime<Utc>) -> Self {
        Self {
            kind,
            payload,
            run_at,
            max_attempts: Self::DEFAULT_ATTEMPTS,
            unique_key: None,
        }
    }

    #[must_use]
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    #[must_use]
    pub fn attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts;
        self
    }
}

crate::typed_id!(
    /// A job on the queue.
    JobId
);

/// A job as the admin page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: JobState,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How long to wait before attempt `attempt + 1`, after `attempt` failed: `base`
/// doubled per failure up to `cap`, of which a random part (`jitter`, 0 to 1, scales
/// the upper half) spreads retries so that jobs that failed together do not retry
/// together.
pub fn backoff(attempt: i32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(0);
    let full = base.saturating_mul(1u32 << doublings).min(cap);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// A random number in 0..1 for [`backoff`].
pub fn random_jitter() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_the_upper_half() {
        let base = Duration::from_secs(10);
        let cap = Duration::from_secs(3600);
        assert_eq!(backoff(1, base, cap, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(1, base, cap, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(2, base, cap, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(4, base, cap, 0.5), Duration::from_secs(60));
        assert_eq!(backoff(12, base, cap, 1.0), cap);
        assert_eq!(backoff(1_000, base, cap, 0.0), cap / 2);
        for _ in 0..100 {
            let jitter = random_jitter();
            assert!((0.0..=1.0).contains(&jitter));
        }
    }
}

/// What an admin may do to a job that is stuck or unwanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Queue a dead or discarded job again.
    Retry,
    /// Give up on a queued or dead job.
    Discard,
}

/// Retries or discards a job, audited in the same transaction; a job not in a state
/// that allows it is a conflict.
pub async fn change(caller: &crate::actor::Actor, id: JobId, change: Change) -> Result<(), crate::error::Error> {
    use crate::compliance::audit::{self, Outcome};
    use crate::error::Error;
    caller.authorize(&crate::policy::Action::ManageJobs).await?;
    let mut tx = caller.tenant.pool.begin().await?;
    let job = store::find(&mut *tx, id).await?.ok_or(Error::NotFound)?;
    let now = caller.now();
    let (changed, action) = match change {
        Change::Retry => (store::retry(&mut *tx, id, now).await?, "job.retry"),
        Change::Discard => (store::discard(&mut *tx, id, now).await?, "job.discard"),
    };
    if !changed {
        return Err(Error::conflict(format!(
            "this job is {}; only dead or discarded jobs can be retried, and only queued or dead ones discarded",
            job.state.as_str()
        )));
    }
    audit::stage(
        &mut tx,
        &caller
            .event(action, Outcome::Allowed)
            .resource("job", id.to_string())
            .reason(format!("kind {}", job.kind)),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}
