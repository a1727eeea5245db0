//! `haven audit verify|checkpoint|export|prune`. These run as the migrating role, not
//! as `haven_app`: pruning archived events is the one deletion the trail allows.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use super::DataDirArg;
use crate::clock::{self, SharedClock};
use crate::compliance::audit::export::{self, ExportFormat};
use crate::compliance::audit::{
    self, ActorKind, AuditEvent, AuditWriter, Checkpoint, Outcome, SigningKey, create_checkpoint, record_verification,
};
use crate::config::Config;
use crate::platform::database::{DatabaseName, DatabaseServer};
use crate::platform::tenancy::{self, TenantRecord};

/// Exit status when a chain does not verify (errors exit with 1).
const EXIT_BROKEN: u8 = 3;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every tenant's chain (or one) and report the first broken link.
    Verify {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// A checkpoint file kept off this machine (repeatable); detects a truncated tail.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        /// Where the archives of pruned events are (default: `[audit] archive_dir`).
        #[arg(long, value_name = "DIR")]
        archive_dir: Option<PathBuf>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Sign the chain's head and print or write the checkpoint (keep it off this machine).
    Checkpoint {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Export the events of a time range (the export is itself audited).
    Export {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// Start, inclusive: YYYY-MM-DD (UTC) or an RFC 3339 time.
        #[arg(long)]
        from: String,
        /// End, exclusive (default: now).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Where to write (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Why the export is made; recorded in the audit trail.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Archive events older than `audit_retention` to a verified file, then remove them.
    Prune {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// Where the archive and its signed checkpoint are written (default:
        /// `[audit] archive_dir`).
        #[arg(long, value_name = "DIR")]
        archive_dir: Option<PathBuf>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

impl AuditCommand {
    pub fn data_dir(&self) -> &DataDirArg {
        match self {
            Self::Verify { data_dir, .. }
            | Self::Checkpoint { data_dir, .. }
            | Self::Export { data_dir, .. }
            | Self::Prune { data_dir, .. } => data_dir,
        }
    }
}

pub async fn run(command: AuditCommand, config: &Config, server: &DatabaseServer) -> anyhow::Result<ExitCode> {
    let clock = clock::system();
    match command {
        AuditCommand::Verify {
            tenant,
            checkpoints,
            archive_dir,
            ..
        } => verify(config, server, tenant.as_deref(), &checkpoints, archive_dir, &clock).await,
        AuditCommand::Checkpoint { tenant, out, .. } => {
            let (record, pool) = one_tenant(config, server, tenant.as_deref()).await?;
            let key = SigningKey::load_or_create(&config.audit_signing_key_path())?;
            let checkpoint = create_checkpoint(&pool, record.slug.as_str(), &key, &clock).await?;
            pool.close().await;
            let json = serde_json::to_string_pretty(&checkpoint)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "checkpoint of {} at event {} written to {}",
                        record.slug,
                        checkpoint.seq,
                        path.display()
                    );
                }
                None => println!("{json}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            tenant,
            from,
            to,
            format,
            out,
            reason,
            ..
        } => {
            let from = parse_time(&from).context("--from")?;
            let to = to
                .as_deref()
                .map(parse_time)
                .transpose()
                .context("--to")?
                .unwrap_or_else(|| clock.now());
            if from >= to {
                bail!("--from must be before --to");
            }
            let (record, pool) = one_tenant(config, server, tenant.as_deref()).await?;
            export_events(&pool, &record, from, to, format, out.as_deref(), &reason, &clock).await?;
            pool.close().await;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Prune {
            tenant, archive_dir, ..
        } => {
            let (record, pool) = one_tenant(config, server, tenant.as_deref()).await?;
            let key = SigningKey::load_or_create(&config.audit_signing_key_path())?;
            let retention = chrono::TimeDelta::from_std(config.audit.retention).context("setting `audit_retention`")?;
            let archive_dir = archive_dir.unwrap_or_else(|| config.audit.archive_dir_path(config));
            let outcome = audit::export::prune(
                &pool,
                record.slug.as_str(),
                clock.now() - retention,
                &archive_dir,
                &key,
                &clock,
            )
            .await?;
            pool.close().await;
            match outcome {
                Some(archive) => println!(
                    "archived events {} to {} of {} to {} and removed them",
                    archive.first_seq,
                    archive.through_seq,
                    record.slug,
                    archive.file.display()
                ),
                None => println!("no event of {} is past retention", record.slug),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn verify(
    config: &Config,
    server: &DatabaseServer,
    tenant: Option<&str>,
    checkpoint_files: &[PathBuf],
    archive_dir: Option<PathBuf>,
    clock: &SharedClock,
) -> anyhow::Result<ExitCode> {
    // The installation's own key (and the configured earlier ones) decide which
    // checkpoints count, never the key a checkpoint names.
    let key = SigningKey::load_or_create(&config.audit_signing_key_path())?;
    let mut trust = audit::Trust::of(config, &key);
    if let Some(dir) = archive_dir {
        trust.archives = Some(dir);
    }
    let checkpoints = checkpoint_files
        .iter()
        .map(|path| Checkpoint::read_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let tenants = tenant_pools(config, server, tenant).await?;
    if tenants.len() > 1 && !checkpoints.is_empty() && checkpoints.iter().any(|c| c.tenant.is_empty()) {
        bail!("name the tenant with --tenant when verifying against a checkpoint file");
    }
    let mut all_ok = true;
    for (record, pool) in tenants {
        let theirs: Vec<Checkpoint> = checkpoints
            .iter()
            .filter(|c| c.tenant.is_empty() || c.tenant == record.slug.as_str())
            .cloned()
            .collect();
        let bar = progress_bar(None, "verifying");
        let trust = trust.clone().with_external(theirs);
        let report = audit::verify(&pool, &trust, &|n| bar.set_position(n)).await?;
        bar.finish_and_clear();
        record_verification(&pool, &report, clock).await?;
        pool.close().await;
        #[allow(clippy::cast_precision_loss)] // a rate for people to read
        let rate = report.events as f64 / report.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{}: {} ({:.2} s, {:.0} events/s)",
            record.slug,
            report.summary(),
            report.elapsed.as_secs_f64(),
            rate
        );
        all_ok &= report.ok();
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BROKEN)
    })
}

#[allow(clippy::too_many_arguments)]
async fn export_events(
    pool: &PgPool,
    record: &TenantRecord,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    format: ExportFormat,
    out: Option<&Path>,
    reason: &str,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    // The export is recorded before a byte leaves: no record, no export.
    let writer = AuditWriter::spawn(pool.clone(), clock.clone(), std::time::Duration::ZERO);
    let range = format!(
        "{}/{}",
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let event = AuditEvent::new(clock.now(), "audit.export", Outcome::Allowed)
        .actor(ActorKind::System, Some(format!("cli:{}", super::operator())))
        .resource("audit_trail", range)
        .reason(reason.trim());
    writer
        .record(event)
        .await
        .context("recording the export in the audit trail")?;

    let total = export::count(pool, from, to).await?;
    let bar = progress_bar(Some(total), "exporting");
    let written = if let Some(path) = out {
        let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        export::export(pool, from, to, format, file, &|n| bar.set_position(n)).await?
    } else {
        let stdout = std::io::stdout().lock();
        export::export(pool, from, to, format, stdout, &|n| bar.set_position(n)).await?
    };
    bar.finish_and_clear();
    std::io::stdout().flush()?;
    eprintln!("exported {written} events of {}", record.slug);
    Ok(())
}

pub(super) fn progress_bar(total: Option<u64>, what: &'static str) -> ProgressBar {
    let bar = total.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
    let template = if total.is_some() {
        "{msg} [{bar:30}] {pos}/{len} events ({per_sec}, {eta} left)"
    } else {
        "{msg} {pos} events ({per_sec})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    Ok(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// The tenants to work on, each with a pool as the migrating role.
pub(super) async fn tenant_pools(
    config: &Config,
    server: &DatabaseServer,
    slug: Option<&str>,
) -> anyhow::Result<Vec<(TenantRecord, PgPool)>> {
    let control = super::bootstrap(config, server).await?;
    let records = tenancy::list_tenants(&control).await;
    control.close().await;
    let records = records?;
    let chosen: Vec<TenantRecord> = match slug {
        Some(slug) => {
            let found: Vec<TenantRecord> = records.iter().filter(|r| r.slug.as_str() == slug).cloned().collect();
            if found.is_empty() {
                bail!("there is no tenant `{slug}`; `haven tenant list` shows them");
            }
            found
        }
        None => records,
    };
    let mut pools = Vec::new();
    for record in chosen {
        let database = DatabaseName::parse(&record.database_name)
            .ok_or_else(|| anyhow::anyhow!("tenant {} has an invalid database name", record.slug))?;
        pools.push((record, server.connect_pool(&database).await?));
    }
    Ok(pools)
}

async fn one_tenant(
    config: &Config,
    server: &DatabaseServer,
    slug: Option<&str>,
) -> anyhow::Result<(TenantRecord, PgPool)> {
    let mut tenants = tenant_pools(config, server, slug).await?;
    if tenants.len() != 1 {
        let names: Vec<String> = tenants.iter().map(|(r, _)| r.slug.to_string()).collect();
        for (_, pool) in tenants {
            pool.close().await;
        }
        bail!(
            "this installation has several tenants ({}); name one with --tenant",
            names.join(", ")
        );
    }
    tenants.pop().ok_or_else(|| anyhow::anyhow!("no tenant"))
}
