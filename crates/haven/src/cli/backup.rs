//! `haven backup create|verify|restore|list` (docs/backups.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use super::DataDirArg;
use crate::backups::create::Tools;
use crate::backups::restore::{RestoreAs, Source};
use crate::backups::runs;
use crate::backups::{self, BackupError, Destination};
use crate::clock::{self, SharedClock};
use crate::compliance::audit::{ActorKind, AuditEvent, AuditWriter, Outcome};
use crate::compliance::sealing::Vault;
use crate::compliance::storage::{Accountable, Storage};
use crate::config::Config;
use crate::platform::database::DatabaseServer;
use crate::platform::tenancy::{TenantRecord, TenantSlug};

/// Exit status when a backup is refused: damaged, not ours, or not matching its manifest.
const EXIT_REFUSED: u8 = 3;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up every organisation (or one) to the local folder or the cloud target.
    Create {
        #[arg(long, value_name = "SLUG", conflicts_with = "all")]
        tenant: Option<String>,
        /// Every organisation (the default).
        #[arg(long)]
        all: bool,
        /// A folder, or `cloud` for the S3-compatible target (default: `[backup] dir`).
        #[arg(long, value_name = "DIR|cloud")]
        to: Option<String>,
        /// Restore each new backup into a scratch database and check it.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Decrypt a backup, check its signature, restore it into a scratch database, check
    /// the copy against its manifest, then drop it.
    Verify {
        /// The backup file (or `cloud:KEY` for one on the cloud target).
        file: String,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Restore an organisation from a backup (verified first, exactly as `verify` does).
    Restore {
        file: String,
        /// The organisation the backup is of (a guard against the wrong file).
        #[arg(long, value_name = "SLUG")]
        tenant: String,
        /// Restore it under another slug.
        #[arg(long = "as", value_name = "NEW_SLUG")]
        as_slug: Option<String>,
        /// Replace the organisation if it is live here.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// The backups in the local folder and on the cloud target, newest first.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

impl BackupCommand {
    pub fn data_dir(&self) -> &DataDirArg {
        match self {
            Self::Create { data_dir, .. }
            | Self::Verify { data_dir, .. }
            | Self::Restore { data_dir, .. }
            | Self::List { data_dir } => data_dir,
        }
    }
}

fn bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template(&format!("{what} {{spinner}} {{bytes}} ({{bytes_per_sec}})")) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn source(file: &str) -> Source {
    match file.strip_prefix("cloud:") {
        Some(key) => Source::Cloud(key.to_owned()),
        None => Source::File(PathBuf::from(file)),
    }
}

/// A refusal's message and exit status; other errors propagate.
fn refused(err: BackupError) -> anyhow::Result<ExitCode> {
    match err {
        BackupError::Database(_) | BackupError::Io(_) => Err(err.into()),
        other => {
            eprintln!("refused: {other}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}

/// What every subcommand works with.
struct Kit<'a> {
    config: &'a Config,
    /// The control database, where every backup is recorded.
    control: sqlx::PgPool,
    server: &'a DatabaseServer,
    storage: Arc<Storage>,
    vault: Vault,
    clock: SharedClock,
}

impl Kit<'_> {
    fn tools(&self, what: &str) -> Tools<'_> {
        Tools {
            config: self.config,
            server: self.server,
            storage: Arc::clone(&self.storage),
            vault: &self.vault,
            sealed: crate::modules::all().sealed(),
            progress: bar(what),
            clock: self.clock.clone(),
        }
    }
}

pub async fn run(command: BackupCommand, config: &Config, server: &DatabaseServer) -> anyhow::Result<ExitCode> {
    let kit = Kit {
        config,
        control: super::bootstrap(config, server).await?,
        server,
        storage: Arc::new(Storage::from_config(config)?),
        vault: Vault::from_config(config).context("setting `master_key_file` or `master_key`")?,
        clock: clock::system(),
    };
    match command {
        BackupCommand::Create { tenant, to, verify, .. } => {
            let to = match to.as_deref() {
                Some("cloud" | "s3") => Destination::Cloud,
                Some(dir) => Destination::Local(PathBuf::from(dir)),
                None => Destination::Local(config.backup.dir_path(config)),
            };
            let mut refusals = 0;
            for (record, pool) in super::audit::tenant_pools(config, server, tenant.as_deref()).await? {
                refusals += u8::from(!create_one(&kit, &record, pool, &to, verify).await?);
            }
            Ok(if refusals == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_REFUSED)
            })
        }
        BackupCommand::Verify { file, .. } => verify_one(&kit, &file).await,
        BackupCommand::Restore {
            file,
            tenant,
            as_slug,
            force,
            ..
        } => {
            let how = RestoreAs {
                slug: as_slug
                    .as_deref()
                    .map(TenantSlug::parse)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!(e))?,
                replace: force,
                operator: super::operator(),
                of: tenant,
            };
            restore_one(&kit, &file, &how).await
        }
        BackupCommand::List { .. } => {
            let listed = backups::list(config, &kit.storage).await?;
            if listed.is_empty() {
                println!("no backups in {}", config.backup.dir_path(config).display());
            }
            for backup in listed {
                println!(
                    "{}\t{}\t{}\t{} bytes\t{}",
                    backup.made_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    backup.slug,
                    backup.target.as_str(),
                    backup.bytes,
                    backup.location
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Backs up one organisation (and verifies the file when asked); whether all went well.
async fn create_one(
    kit: &Kit<'_>,
    record: &TenantRecord,
    pool: sqlx::PgPool,
    to: &Destination,
    verify: bool,
) -> anyhow::Result<bool> {
    let clock = &kit.clock;
    let writer = AuditWriter::spawn(pool.clone(), clock.clone(), Duration::ZERO);
    let actor = Some(format!("cli:{}", super::operator()));
    let who = Accountable {
        audit: &writer,
        event: AuditEvent::new(clock.now(), "backup.create", Outcome::Allowed).actor(ActorKind::System, actor.clone()),
    };
    let tools = kit.tools(&format!("backing up {}", record.slug));
    let run = runs::start(&kit.control, record.id, record.slug.as_str(), to.target(), clock.now()).await?;
    let made = backups::create(&tools, record, to, &who, clock.now()).await;
    tools.progress.finish_and_clear();
    match &made {
        Ok(made) => runs::made(&kit.control, run, made, clock.now()).await?,
        Err(err) => runs::failed(&kit.control, run, &err.to_string(), clock.now()).await?,
    }
    let recorded = match &made {
        Ok(made) => writer
            .record(
                AuditEvent::new(clock.now(), "backup.created", Outcome::Allowed)
                    .actor(ActorKind::System, actor)
                    .resource("backup", made.name.clone())
                    .reason(format!("{} bytes to {}", made.bytes, to.label())),
            )
            .await
            .map(|_| ()),
        Err(_) => Ok(()),
    };
    drop(who);
    drop(writer);
    pool.close().await;
    recorded.context("recording the backup in the audit trail")?;
    let made = match made {
        Ok(made) => made,
        Err(err) => {
            eprintln!("{}: refused: {err}", record.slug);
            return Ok(false);
        }
    };
    println!(
        "{}: {} ({} bytes; {} tables, {} documents, audit head {})",
        record.slug,
        made.location,
        made.bytes,
        made.manifest.tables.len(),
        made.manifest.documents.len(),
        made.manifest.audit.head_seq
    );
    if !verify {
        return Ok(true);
    }
    let tools = kit.tools("verifying");
    let verified = backups::verify(&tools, &made.source()).await;
    tools.progress.finish_and_clear();
    match verified {
        Ok(verified) => {
            runs::verified(&kit.control, run, &verified.summary(), clock.now()).await?;
            println!("{}: {}", record.slug, verified.summary());
            Ok(true)
        }
        Err(err) => {
            runs::failed(&kit.control, run, &format!("verification: {err}"), clock.now()).await?;
            eprintln!("{}: refused: {err}", record.slug);
            Ok(false)
        }
    }
}

async fn verify_one(kit: &Kit<'_>, file: &str) -> anyhow::Result<ExitCode> {
    let tools = kit.tools("verifying");
    let result = backups::verify(&tools, &source(file)).await;
    tools.progress.finish_and_clear();
    match result {
        Ok(verified) => {
            println!(
                "{} ({} of {}, made {}): {} in {:.1} s",
                file,
                verified.manifest.organisation.slug,
                verified.manifest.organisation.display_name,
                verified.manifest.created_at.to_rfc3339(),
                verified.summary(),
                verified.elapsed.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => refused(err),
    }
}

async fn restore_one(kit: &Kit<'_>, file: &str, how: &RestoreAs) -> anyhow::Result<ExitCode> {
    let tools = kit.tools("restoring");
    let result = backups::restore(&tools, &source(file), &kit.control, how).await;
    tools.progress.finish_and_clear();
    match result {
        Ok(restored) => {
            println!(
                "restored {} as {} (hosts: {}): {}",
                restored.verified.manifest.organisation.slug,
                restored.slug,
                if restored.hosts.is_empty() {
                    "none".to_owned()
                } else {
                    restored.hosts.join(", ")
                },
                restored.verified.summary()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => refused(err),
    }
}
