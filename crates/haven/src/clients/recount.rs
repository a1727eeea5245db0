//! The hourly recount of the search dictionary (`client_name_words`): how many clients
//! hold each name word. Search uses the counts only to decide how far a misspelt word
//! may widen, so an hour's lag changes no match; registering a client stays free of them.

use std::sync::Arc;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use futures_util::future::BoxFuture;

use crate::platform::jobs::{JobFailure, JobRun, NewJob};
use crate::platform::tenancy::Tenant;
use crate::state::AppState;

pub const RECOUNT_JOB: &str = "clients.recount_name_words";

/// How often the counts are brought up to date.
const EVERY: TimeDelta = TimeDelta::hours(1);

/// The organisation's next recount: at the top of the next hour. Its unique key names
/// the hour, so the worker's upkeep asking again changes nothing.
pub fn plan(
    _state: AppState,
    _tenant: Arc<Tenant>,
    now: DateTime<Utc>,
) -> BoxFuture<'static, Result<Option<NewJob>, sqlx::Error>> {
    let run_at = now.duration_trunc(EVERY).ok().map(|hour| hour + EVERY);
    Box::pin(async move {
        Ok(run_at.map(|run_at| {
            NewJob::new(RECOUNT_JOB, serde_json::json!({}), run_at)
                .unique(format!("{RECOUNT_JOB}:{}", run_at.format("%Y-%m-%dT%H")))
        }))
    })
}

pub async fn run(_state: AppState, job: JobRun) -> Result<(), JobFailure> {
    let changed = super::search::recount_name_words(&job.tenant.pool).await?;
    tracing::info!(changed, "search dictionary recounted");
    Ok(())
}
