//! The `jobs` table. Every change of state is conditional on the state (and, while
//! running, the worker) it expects, so a worker that lost its lease cannot finish a job
//! another worker now holds.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{Job, JobId, JobState, NewJob};

/// Queues `job`; `None` when a job with the same unique key already exists.
pub async fn enqueue(db: impl PgExecutor<'_>, job: &NewJob, now: DateTime<Utc>) -> Result<Option<JobId>, sqlx::Error> {
    let id = sqlx::query_scalar!(
        r#"
        INSERT INTO jobs (id, kind, payload, run_at, max_attempts, unique_key, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
        ON CONFLICT (unique_key) DO NOTHING
        RETURNING id
        "#,
        JobId::new().0,
        job.kind,
        job.payload,
        job.run_at,
        job.max_attempts,
        job.unique_key,
        now
    )
    .fetch_optional(db)
    .await?;
    Ok(id.map(JobId))
}

/// A job a worker has claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    /// This attempt's number, from 1.
    pub attempt: i32,
    pub max_attempts: i32,
}

/// Claims up to `limit` due jobs of the given kinds for `worker`, oldest due first,
/// skipping rows another worker is claiming at this moment.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    kinds: &[String],
    limit: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as!(
        Claimed,
        r#"
        UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $5,
                        updated_at = $4
        WHERE id IN (
            SELECT id FROM jobs
            WHERE state = 'queued' AND run_at <= $4 AND kind = ANY($2)
            ORDER BY run_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        RETURNING id AS "id: JobId", kind, payload, attempts AS attempt, max_attempts
        "#,
        worker,
        kinds,
        limit,
        now,
        lease_until
    )
    .fetch_all(pool)
    .await
}

/// Extends the lease of a job `worker` is running; false when the job is no longer
/// theirs.
pub async fn renew(pool: &PgPool, id: JobId, worker: &str, lease_until: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE jobs SET locked_until = $3 WHERE id = $1 AND state = 'running' AND locked_by = $2",
        id.0,
        worker,
        lease_until
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn complete(pool: &PgPool, id: JobId, worker: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL,
                        updated_at = $3, finished_at = $3
        WHERE id = $1 AND state = 'running' AND locked_by = $2
        "#,
        id.0,
        worker,
        now
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt: queued again at `retry_at`, or dead when attempts are
/// used up or `retry_at` is `None`.
pub async fn fail(
    pool: &PgPool,
    id: JobId,
    worker: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let error: String = error.chars().take(2000).collect();
    let done = sqlx::query!(
        r#"
        UPDATE jobs
        SET state = CASE WHEN $4::timestamptz IS NOT NULL AND attempts < max_attempts THEN 'queued' ELSE 'dead' END,
            run_at = coalesce($4, run_at),
            finished_at = CASE WHEN $4::timestamptz IS NOT NULL AND attempts < max_attempts THEN NULL ELSE $5::timestamptz END,
            locked_by = NULL, locked_until = NULL, last_error = $3, updated_at = $5
        WHERE id = $1 AND state = 'running' AND locked_by = $2
        "#,
        id.0,
        worker,
        error,
        retry_at,
        now
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hands a job back untouched (the worker is shutting down): queued again at once, the
/// attempt not counted.
pub async fn release(pool: &PgPool, id: JobId, worker: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), run_at = $3,
                        locked_by = NULL, locked_until = NULL, updated_at = $3
        WHERE id = $1 AND state = 'running' AND locked_by = $2
        "#,
        id.0,
        worker,
        now
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Queues again the jobs whose worker stopped renewing (it died): the attempt counts,
/// and a job out of attempts is dead.
pub async fn requeue_lapsed(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE jobs
        SET state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'dead' END,
            finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE $1::timestamptz END,
            last_error = 'the worker running this job stopped (lease lapsed)',
            locked_by = NULL, locked_until = NULL, updated_at = $1
        WHERE state = 'running' AND locked_until < $1
        "#,
        now
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Forgets finished and discarded jobs older than `before`; dead ones stay until an
/// admin acts.
pub async fn prune(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM jobs WHERE state IN ('done', 'discarded') AND finished_at < $1",
        before
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

struct JobRow {
    id: Uuid,
    kind: String,
    payload: serde_json::Value,
    state: String,
    run_at: DateTime<Utc>,
    attempts: i32,
    max_attempts: i32,
    locked_by: Option<String>,
    locked_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        Self {
            id: JobId(row.id),
            kind: row.kind,
            payload: row.payload,
            // The table's check allows only these words.
            state: JobState::parse(&row.state).unwrap_or(JobState::Dead),
            run_at: row.run_at,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            locked_by: row.locked_by,
            locked_until: row.locked_until,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        }
    }
}

pub async fn find(db: impl PgExecutor<'_>, id: JobId) -> Result<Option<Job>, sqlx::Error> {
    let row = sqlx::query_as!(
        JobRow,
        r#"
        SELECT id, kind, payload, state, run_at, attempts, max_attempts, locked_by, locked_until,
               last_error, created_at, updated_at, finished_at
        FROM jobs WHERE id = $1
        "#,
        id.0
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(Job::from))
}

/// Jobs in `state`, most recently changed first (queued ones: soonest due first).
pub async fn list(db: impl PgExecutor<'_>, state: JobState, limit: i64, offset: i64) -> Result<Vec<Job>, sqlx::Error> {
    let rows = sqlx::query_as!(
        JobRow,
        r#"
        SELECT id, kind, payload, state, run_at, attempts, max_attempts, locked_by, locked_until,
               last_error, created_at, updated_at, finished_at
        FROM jobs WHERE state = $1
        ORDER BY CASE WHEN $1 = 'queued' THEN run_at END, updated_at DESC, id
        LIMIT $2 OFFSET $3
        "#,
        state.as_str(),
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Job::from).collect())
}

/// How many jobs are in each state.
pub async fn counts(db: impl PgExecutor<'_>) -> Result<Vec<(JobState, i64)>, sqlx::Error> {
    let rows = sqlx::query!(r#"SELECT state, count(*) AS "count!" FROM jobs GROUP BY state"#)
        .fetch_all(db)
        .await?;
    Ok(JobState::ALL
        .iter()
        .map(|state| {
            let count = rows.iter().find(|r| r.state == state.as_str()).map_or(0, |r| r.count);
            (*state, count)
        })
        .collect())
}

/// A dead or discarded job queued again with its attempts reset.
pub async fn retry(db: impl PgExecutor<'_>, id: JobId, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2, finished_at = NULL, updated_at = $2
        WHERE id = $1 AND state IN ('dead', 'discarded')
        "#,
        id.0,
        now
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A queued or dead job set aside for good.
pub async fn discard(db: impl PgExecutor<'_>, id: JobId, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE jobs SET state = 'discarded', finished_at = $2, updated_at = $2
        WHERE id = $1 AND state IN ('queued', 'dead')
        "#,
        id.0,
        now
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
