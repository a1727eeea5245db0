//! Background upkeep of every tenant's chain: signed checkpoints and incremental
//! verification, at the configured intervals.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{SigningKey, Trust, create_checkpoint, last_good_verification, record_verification, verify_from};
use crate::clock::SharedClock;
use crate::platform::tenancy::TenantDirectory;

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub checkpoint_every: Duration,
    pub verify_every: Duration,
}

/// Runs until the directory is dropped.
pub fn spawn(
    tenants: Weak<TenantDirectory>,
    key: Arc<SigningKey>,
    trust: Arc<Trust>,
    clock: SharedClock,
    schedule: Schedule,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut checkpoints = tokio::time::interval(schedule.checkpoint_every);
        let mut verifications = tokio::time::interval(schedule.verify_every);
        // The first ticks are immediate; let start-up finish first.
        checkpoints.reset();
        verifications.reset();
        loop {
            let checkpoint_due = tokio::select! {
                _ = checkpoints.tick() => true,
                _ = verifications.tick() => false,
            };
            let Some(directory) = tenants.upgrade() else { return };
            for tenant in directory.tenants() {
                let slug = tenant.record.slug.to_string();
                if checkpoint_due {
                    if let Err(err) = create_checkpoint(&tenant.pool, &slug, &key, &clock).await {
                        tracing::warn!(tenant = %slug, error = %err, "audit checkpoint failed");
                    }
                } else {
                    verify_incrementally(tenant.pool.clone(), slug, Arc::clone(&trust), Arc::clone(&clock)).await;
                }
            }
        }
    })
}

// Owned arguments: borrowed ones trip the compiler's `Send` inference for the spawned task.
async fn verify_incrementally(pool: sqlx::PgPool, slug: String, trust: Arc<Trust>, clock: SharedClock) {
    let result = async {
        let start = last_good_verification(&pool).await?;
        let report = verify_from(&pool, start, &trust, &|_| {}).await?;
        record_verification(&pool, &report, &clock).await?;
        Ok::<_, sqlx::Error>(report)
    }
    .await;
    match result {
        Ok(report) if report.ok() => tracing::info!(tenant = %slug, events = report.events, "audit chain verified"),
        Ok(report) => tracing::error!(tenant = %slug, summary = %report.summary(), "audit chain verification FAILED"),
        Err(err) => tracing::warn!(tenant = %slug, error = %err, "audit verification could not run"),
    }
}
