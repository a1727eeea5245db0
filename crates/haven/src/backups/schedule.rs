//! The daily backup of each organisation, on the job queue: at the organisation's backup
//! time, in its zone, to its target. Each backup is verified (restored into a scratch
//! database and checked); only then are older files pruned by the retention rule. A
//! failed backup is retried, and when the last attempt fails every admin is emailed.

use std::sync::Arc;

use chrono::{DateTime, TimeZone as _, Utc};
use futures_util::future::BoxFuture;
use indicatif::ProgressBar;

use super::create::Tools;
use super::runs;
use super::{BackupError, Destination, retention};
use crate::actor::Actor;
use crate::compliance::audit::{ActorKind, AuditEvent, Outcome};
use crate::compliance::networks::StoragePolicy;
use crate::compliance::storage::{Accountable, StorageError, Target};
use crate::error::{Error, FieldError};
use crate::organisation::BackupSettings;
use crate::platform::jobs::{JobFailure, JobRun, NewJob};
use crate::platform::tenancy::Tenant;
use crate::state::AppState;

/// The job that backs up one organisation.
pub const DAILY_JOB: &str = "backups.daily";

/// How often a failing backup is tried before the admins are told.
const ATTEMPTS: i32 = 3;

/// The organisation's next daily backup: its backup time in its zone, the first after
/// `now`. Queued ahead (its unique key names the day), so a backup due while Haven was
/// stopped runs when it starts.
pub fn plan(
    state: AppState,
    tenant: Arc<Tenant>,
    now: DateTime<Utc>,
) -> BoxFuture<'static, Result<Option<NewJob>, sqlx::Error>> {
    Box::pin(async move {
        let _ = &state;
        let settings = tenant.settings().await?;
        if !settings.backup.enabled {
            return Ok(None);
        }
        let zone = settings.time_zone;
        let at = |day: chrono::NaiveDate| {
            zone.from_local_datetime(&day.and_time(settings.backup.time))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        let mut day = now.with_timezone(&zone).date_naive();
        let mut run_at = at(day);
        if run_at.is_none_or(|t| t <= now) {
            day = day.succ_opt().unwrap_or(day);
            run_at = at(day);
        }
        Ok(run_at.map(|run_at| {
            NewJob::new(DAILY_JOB, serde_json::json!({ "day": day }), run_at)
                .unique(format!("{DAILY_JOB}:{day}"))
                .attempts(ATTEMPTS)
        }))
    })
}

/// Backs up the job's organisation, verifies the file, prunes by the retention rule.
pub async fn run(state: AppState, job: JobRun) -> Result<(), JobFailure> {
    let tenant = Arc::clone(&job.tenant);
    // The next day's backup is queued whatever this one comes to.
    if let Some(next) = plan(state.clone(), Arc::clone(&tenant), state.clock.now()).await? {
        crate::platform::jobs::enqueue(&tenant.pool, &next, state.clock.now()).await?;
    }
    match back_up(&state, &tenant).await {
        Ok(()) => Ok(()),
        Err(err) => {
            let permanent = matches!(err, BackupError::Storage(StorageError::PolicyRefused));
            let message = err.to_string();
            if permanent || job.attempt >= job.max_attempts {
                alert_admins(&state, &tenant, &message).await;
            }
            Err(if permanent {
                JobFailure::permanent(message)
            } else {
                JobFailure::retry(message)
            })
        }
    }
}

async fn back_up(state: &AppState, tenant: &Arc<Tenant>) -> Result<(), BackupError> {
    let settings = tenant.settings().await?;
    let config = &state.config;
    let to = match settings.backup.target {
        Target::Local => Destination::Local(config.backup.dir_path(config)),
        Target::Cloud => Destination::Cloud,
    };
    let control = state.tenants.control_pool();
    let now = state.clock.now();
    let run = runs::start(control, tenant.record.id, tenant.record.slug.as_str(), to.target(), now).await?;
    let tools = Tools {
        config,
        server: &state.database,
        storage: Arc::clone(&state.storage),
        vault: &state.vault,
        sealed: state.modules.sealed(),
        progress: ProgressBar::hidden(),
        clock: state.clock.clone(),
    };
    let who = Accountable {
        audit: &tenant.audit,
        event: AuditEvent::new(now, "backup.create", Outcome::Allowed)
            .actor(ActorKind::System, Some(format!("job:{DAILY_JOB}"))),
    };
    let made = match super::create(&tools, &tenant.record, &to, &who, now).await {
        Ok(made) => made,
        Err(err) => {
            runs::failed(control, run, &err.to_string(), state.clock.now()).await?;
            return Err(err);
        }
    };
    runs::made(control, run, &made, state.clock.now()).await?;
    let verified = match super::verify(&tools, &made.source()).await {
        Ok(verified) => verified,
        Err(err) => {
            runs::failed(control, run, &format!("verification: {err}"), state.clock.now()).await?;
            return Err(err);
        }
    };
    runs::verified(control, run, &verified.summary(), state.clock.now()).await?;
    tenant
        .audit
        .record(
            AuditEvent::new(state.clock.now(), "backup.created", Outcome::Allowed)
                .actor(ActorKind::System, Some(format!("job:{DAILY_JOB}")))
                .resource("backup", made.name.clone())
                .reason(verified.summary()),
        )
        .await
        .map_err(|e| BackupError::Refused(format!("the backup could not be recorded in the audit trail: {e}")))?;
    prune(state, tenant, to.target(), &settings).await
}

/// Removes this organisation's files on `target` that the retention rule no longer keeps.
async fn prune(
    state: &AppState,
    tenant: &Tenant,
    target: Target,
    settings: &crate::organisation::OrganisationSettings,
) -> Result<(), BackupError> {
    let listed: Vec<super::Listed> = super::list(&state.config, &state.storage)
        .await?
        .into_iter()
        .filter(|b| b.slug == tenant.record.slug.as_str() && b.target == target)
        .collect();
    let made: Vec<DateTime<Utc>> = listed.iter().map(|b| b.made_at).collect();
    let keep = retention::keep(&made, settings.backup.keep, settings.time_zone);
    let mut gone = Vec::new();
    for (i, backup) in listed.iter().enumerate() {
        if keep.contains(&i) {
            continue;
        }
        match target {
            Target::Local => std::fs::remove_file(&backup.location)?,
            Target::Cloud => state.storage.delete(Target::Cloud, &backup.location).await?,
        }
        gone.push(backup.location.clone());
    }
    if !gone.is_empty() {
        runs::pruned(state.tenants.control_pool(), &gone).await?;
        tracing::info!(tenant = %tenant.record.slug, files = gone.len(), "pruned backups past the retention rule");
    }
    Ok(())
}

/// Emails every active admin of the organisation that its backup failed.
async fn alert_admins(state: &AppState, tenant: &Tenant, why: &str) {
    if !state.mailer.is_configured() {
        tracing::error!(tenant = %tenant.record.slug, "the backup failed and no mail server is configured to tell the admins");
        return;
    }
    let admins = match crate::identity::admin::active_admins(&tenant.pool).await {
        Ok(admins) => admins,
        Err(err) => {
            tracing::error!(tenant = %tenant.record.slug, error = %err, "the backup failed and the admins could not be listed");
            return;
        }
    };
    let body = format!(
        "The daily backup of {} failed after {ATTEMPTS} attempts, so the organisation has no new verified backup.\n\nWhy: {why}\n\nSee the backups page: {}/admin/backups\n",
        tenant.record.display_name,
        state.config.link_base()
    );
    for admin in admins {
        if let Err(err) = state
            .mailer
            .send(&admin, "Haven: the daily backup failed", body.clone())
            .await
        {
            tracing::error!(tenant = %tenant.record.slug, error = %err, "could not email an admin that the backup failed");
        }
    }
}

/// Whether the organisation may send its backups to the cloud target: one is configured,
/// the organisation's policy is `cloud_allowed`, and every client is `hipaa_exempt`.
pub async fn cloud_allowed(caller: &Actor) -> Result<bool, Error> {
    if !caller.storage().has_cloud() {
        return Ok(false);
    }
    let settings = caller.tenant.settings().await?;
    let exempt = crate::clients::store::every_client_exempt(&caller.tenant.pool).await?;
    Ok(StoragePolicy::of(exempt, settings.storage_policy) == StoragePolicy::CloudAllowed)
}

/// Reads the schedule form; every problem at once.
pub fn parse_form(value: &dyn Fn(&str) -> String, current: BackupSettings) -> Result<BackupSettings, Vec<FieldError>> {
    let mut problems = Vec::new();
    let time = chrono::NaiveTime::parse_from_str(&value("time"), "%H:%M").unwrap_or_else(|_| {
        problems.push(FieldError::new("time", "must be a time of day, such as 02:00"));
        current.time
    });
    let target = Target::parse(&value("target")).unwrap_or_else(|| {
        problems.push(FieldError::new("target", "must be local or cloud"));
        current.target
    });
    let mut count = |field: &'static str, fallback: u32| {
        value(field).parse::<u32>().unwrap_or_else(|_| {
            problems.push(FieldError::new(field, "must be a whole number"));
            fallback
        })
    };
    let keep = retention::Keep {
        daily: count("keep_daily", current.keep.daily),
        weekly: count("keep_weekly", current.keep.weekly),
        monthly: count("keep_monthly", current.keep.monthly),
    };
    if problems.is_empty() {
        Ok(BackupSettings {
            enabled: value("enabled") == "on",
            time,
            target,
            keep,
        })
    } else {
        Err(problems)
    }
}

/// Checks and saves the schedule, audited; the cloud target only where it is allowed.
pub async fn save(caller: &Actor, settings: &BackupSettings) -> Result<(), Error> {
    let mut problems = Vec::new();
    let mut within = |field: &'static str, value: u32, low: u32, high: u32| {
        if !(low..=high).contains(&value) {
            problems.push(FieldError::new(field, format!("must be between {low} and {high}")));
        }
    };
    within("keep_daily", settings.keep.daily, 1, 60);
    within("keep_weekly", settings.keep.weekly, 0, 52);
    within("keep_monthly", settings.keep.monthly, 0, 120);
    if settings.target == Target::Cloud && !cloud_allowed(caller).await? {
        problems.push(FieldError::new(
            "target",
            "the cloud target takes only organisations whose storage policy is cloud_allowed and whose every client is hipaa_exempt",
        ));
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let mut tx = caller.tenant.pool.begin().await?;
    crate::organisation::store::set_backup(&mut *tx, settings).await?;
    let (kind, actor) = caller.identity.audit_actor();
    let mut change = AuditEvent::new(caller.now(), "organisation.backup_update", Outcome::Allowed)
        .actor(kind, actor)
        .resource("organisation", "backup");
    change.request_id = Some(caller.meta.request_id.clone());
    change.reason = Some(format!(
        "enabled={} time={} target={} keep={}/{}/{}",
        settings.enabled,
        settings.time.format("%H:%M"),
        settings.target.as_str(),
        settings.keep.daily,
        settings.keep.weekly,
        settings.keep.monthly
    ));
    crate::compliance::audit::stage(&mut tx, &change).await?;
    tx.commit().await?;
    caller.tenant.settings.forget();
    caller.tenant.audit.nudge();
    Ok(())
}
