//! `haven keys rotate|status`: encryption at rest, for operators (docs/encryption.md).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use super::DataDirArg;
use crate::clock;
use crate::compliance::audit::{ActorKind, AuditEvent, AuditWriter, Outcome};
use crate::compliance::rotation;
use crate::compliance::sealing::Vault;
use crate::config::Config;
use crate::platform::database::DatabaseServer;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new data key for each organisation (or one), re-seal every value under it
    /// and retire the old keys. Safe to run while Haven serves; if interrupted, run it
    /// again and it carries on.
    Rotate {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Each organisation's data keys and how many values each seals.
    Status {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

impl KeysCommand {
    pub fn data_dir(&self) -> &DataDirArg {
        match self {
            Self::Rotate { data_dir, .. } | Self::Status { data_dir, .. } => data_dir,
        }
    }
}

fn bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("re-sealing [{bar:30}] {pos}/{len} values ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

pub async fn run(command: KeysCommand, config: &Config, server: &DatabaseServer) -> anyhow::Result<ExitCode> {
    let vault = Vault::from_config(config).context("setting `master_key_file` or `master_key`")?;
    let clock = clock::system();
    let sealed = crate::modules::all().sealed();
    match command {
        KeysCommand::Status { tenant, .. } => {
            for (record, pool) in super::audit::tenant_pools(config, server, tenant.as_deref()).await? {
                vault.keyring(&record).verify(&pool).await?;
                println!("{}:", record.slug);
                for (id, count, retired) in rotation::usage(&pool, &sealed).await? {
                    let state = if retired { "retired" } else { "in use" };
                    println!("  key {id:>4}  {state:<8}  seals {count} values");
                }
                pool.close().await;
            }
        }
        KeysCommand::Rotate { tenant, .. } => {
            for (record, pool) in super::audit::tenant_pools(config, server, tenant.as_deref()).await? {
                let ring = vault.keyring(&record);
                ring.verify(&pool)
                    .await
                    .with_context(|| format!("organisation {}", record.slug))?;
                let bar = bar();
                let done = rotation::rotate(&pool, &sealed, &ring, clock.now(), &|total, done| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await
                .with_context(|| format!("rotating the keys of {}", record.slug))?;
                bar.finish_and_clear();
                let writer = AuditWriter::spawn(pool.clone(), clock.clone(), std::time::Duration::ZERO);
                writer
                    .record(
                        AuditEvent::new(clock.now(), "keys.rotate", Outcome::Allowed)
                            .actor(ActorKind::System, Some(format!("cli:{}", super::operator())))
                            .resource("data_key", done.key.to_string())
                            .reason(format!(
                                "{} values re-sealed; retired {:?}",
                                done.resealed, done.retired
                            )),
                    )
                    .await
                    .context("recording the rotation in the audit trail")?;
                println!(
                    "{}: {} key {}, {} values re-sealed, retired keys {:?}",
                    record.slug,
                    if done.resumed { "resumed with" } else { "new" },
                    done.key,
                    done.resealed,
                    done.retired
                );
                pool.close().await;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
