//! The record of every backup (`backup_runs`, in the control database): made by whom
//! and where, and what its verification found. The admin page, the platform API and the
//! health check read it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::compliance::storage::Target;

crate::word_enum!(
    /// Where a backup is in its life.
    RunOutcome {
        Running => "running", "Running",
        Made => "made", "Made, not verified",
        Verified => "verified", "Verified",
        Failed => "failed", "Failed",
        Pruned => "pruned", "Pruned",
    }
);

/// One backup as recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Run {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub slug: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `local` or `cloud`.
    pub target: String,
    /// A path on the local target, or the cloud target's object key.
    pub location: Option<String>,
    pub bytes: Option<i64>,
    /// `running`, `made`, `verified`, `failed` or `pruned`.
    pub outcome: String,
    /// The verification's summary, or why it failed.
    pub detail: Option<String>,
}

pub async fn start(
    db: impl PgExecutor<'_>,
    tenant: Uuid,
    slug: &str,
    target: Target,
    at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO backup_runs (id, tenant_id, slug, started_at, target, outcome) VALUES ($1, $2, $3, $4, $5, 'running')",
        id,
        tenant,
        slug,
        at,
        target.as_str()
    )
    .execute(db)
    .await?;
    Ok(id)
}

/// Records where a run's file is and how far it got.
async fn finish(
    db: impl PgExecutor<'_>,
    id: Uuid,
    outcome: RunOutcome,
    location: Option<&str>,
    bytes: Option<u64>,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let detail: String = detail.chars().take(2000).collect();
    sqlx::query!(
        r#"
        UPDATE backup_runs SET outcome = $2, location = coalesce($3, location), bytes = coalesce($4, bytes),
               detail = $5, finished_at = $6
        WHERE id = $1
        "#,
        id,
        outcome.as_str(),
        location,
        bytes.and_then(|b| i64::try_from(b).ok()),
        detail,
        at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A run whose backup was made (not yet verified).
pub async fn made(db: impl PgExecutor<'_>, id: Uuid, made: &super::Made, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    finish(db, id, RunOutcome::Made, Some(&made.location), Some(made.bytes), "", at).await
}

/// A run that failed, and why (never PHI: the error names files, tables and tools).
pub async fn failed(db: impl PgExecutor<'_>, id: Uuid, why: &str, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    finish(db, id, RunOutcome::Failed, None, None, why, at).await
}

/// A run whose backup was restored and checked, with the verification's summary.
pub async fn verified(db: impl PgExecutor<'_>, id: Uuid, summary: &str, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    finish(db, id, RunOutcome::Verified, None, None, summary, at).await
}

/// Marks the runs whose files were pruned.
pub async fn pruned(db: impl PgExecutor<'_>, locations: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE backup_runs SET outcome = 'pruned' WHERE location = ANY($1) AND outcome = 'verified'",
        locations
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The latest runs, newest first (every organisation's, or one's).
pub async fn latest(db: impl PgExecutor<'_>, tenant: Option<Uuid>, limit: i64) -> Result<Vec<Run>, sqlx::Error> {
    sqlx::query_as!(
        Run,
        r#"
        SELECT id, tenant_id, slug, started_at, finished_at, target, location, bytes, outcome, detail
        FROM backup_runs WHERE ($1::uuid IS NULL OR tenant_id = $1)
        ORDER BY started_at DESC LIMIT $2
        "#,
        tenant,
        limit
    )
    .fetch_all(db)
    .await
}

/// Each organisation's newest verified backup.
pub async fn last_verified(db: impl PgExecutor<'_>) -> Result<Vec<Run>, sqlx::Error> {
    sqlx::query_as!(
        Run,
        r#"
        SELECT DISTINCT ON (tenant_id) id, tenant_id, slug, started_at, finished_at, target, location, bytes, outcome, detail
        FROM backup_runs WHERE outcome = 'verified'
        ORDER BY tenant_id, started_at DESC
        "#
    )
    .fetch_all(db)
    .await
}
