//! `haven help serve|export|import`: the help centre alone, and moving its content
//! between installations (docs/help-centre.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::DataDirArg;
use crate::app::StopSignal;
use crate::clock;
use crate::config::Config;
use crate::help::bundle;
use crate::help::standalone::HelpService;
use crate::platform::database::{DatabaseName, DatabaseServer};

#[derive(Debug, Subcommand)]
pub enum HelpCommand {
    /// Serve the help centre alone (its pages and /api/help/v1), with its own database:
    /// for running outside the compliance boundary. Sets no cookie, keeps no address.
    Serve(HelpServeArgs),
    /// Write every category, article, revision and image to FILE (JSON).
    Export {
        file: PathBuf,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Add or update everything in FILE, by id, in one transaction (safe to repeat).
    Import {
        file: PathBuf,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

#[derive(Debug, Args)]
pub struct HelpServeArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// The address to listen on, as HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Development mode: readable logs.
    #[arg(long)]
    pub dev: bool,
}

impl HelpCommand {
    pub fn data_dir(&self) -> &DataDirArg {
        match self {
            Self::Serve(args) => &args.data_dir,
            Self::Export { data_dir, .. } | Self::Import { data_dir, .. } => data_dir,
        }
    }
}

pub async fn run(command: HelpCommand, config: &Config, server: &DatabaseServer) -> anyhow::Result<ExitCode> {
    match command {
        HelpCommand::Serve(_) => {
            let stop = StopSignal::listen().context("cannot listen for SIGTERM and SIGINT")?;
            serve(config.clone(), server.clone(), stop).await?;
        }
        HelpCommand::Export { file, .. } => export(config, server, &file).await?,
        HelpCommand::Import { file, .. } => import(config, server, &file).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The help centre alone, until `stop`; a stop while it starts ends start-up.
pub async fn serve(config: Config, server: DatabaseServer, mut stop: StopSignal) -> anyhow::Result<()> {
    let service = tokio::select! {
        service = HelpService::build(config, server, clock::system()) => service?,
        () = stop.received() => {
            tracing::info!("stopped while starting: the help centre did not serve");
            return Ok(());
        }
    };
    let addr = service.local_addr()?;
    tracing::info!(port = addr.port(), "the help centre is ready, alone");
    eprintln!("Haven is ready at http://{addr}/ (the help centre alone: /help and /api/help/v1)");
    service.run(async move { stop.received().await }).await
}

/// The help database, created and migrated if needed, as its owner.
async fn open(config: &Config, server: &DatabaseServer) -> anyhow::Result<sqlx::PgPool> {
    let name =
        DatabaseName::parse(&config.help.database).ok_or_else(|| anyhow::anyhow!("invalid setting `help_database`"))?;
    // A help service alone has no control database; sqlx's own lock on the help
    // database keeps two migrations from crossing.
    let server = server.clone().with_control_database(name);
    let database = crate::help::store::prepare(&server, &config.help.database).await?;
    Ok(server.connect_pool(&database).await?)
}

async fn export(config: &Config, server: &DatabaseServer, file: &Path) -> anyhow::Result<()> {
    let pool = open(config, server).await?;
    let bundle = bundle::export(&pool, clock::system().now()).await;
    pool.close().await;
    let bundle = bundle.context("reading the help database")?;
    let json = serde_json::to_vec_pretty(&bundle)?;
    std::fs::write(file, json).with_context(|| format!("cannot write {}", file.display()))?;
    let revisions: usize = bundle.articles.iter().map(|a| a.revisions.len()).sum();
    let images: usize = bundle.articles.iter().map(|a| a.images.len()).sum();
    println!(
        "exported {} categories, {} articles, {revisions} revisions and {images} images to {}",
        bundle.categories.len(),
        bundle.articles.len(),
        file.display()
    );
    Ok(())
}

async fn import(config: &Config, server: &DatabaseServer, file: &Path) -> anyhow::Result<()> {
    let json = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bundle = bundle::parse(&json).with_context(|| file.display().to_string())?;
    let pool = open(config, server).await?;
    let done = bundle::import(&pool, &bundle).await;
    pool.close().await;
    let done = done.with_context(|| format!("nothing was imported from {}", file.display()))?;
    println!(
        "imported {} categories, {} articles, {} revisions and {} images from {}",
        done.categories,
        done.articles,
        done.revisions,
        done.images,
        file.display()
    );
    Ok(())
}
