//! The `haven` command.

mod audit;
mod backup;
mod bench;
mod help;
mod keys;
mod service_account;
mod user;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use haven_pg_embed::{Cluster, ClusterConfig, StartKind};

use crate::app::{Application, StopSignal};
use crate::config::{Config, Mode, Overrides};
use crate::platform::database::{DatabaseName, DatabaseServer, PRIVATE_CLUSTER_SETTINGS};
use crate::platform::tenancy::{self, HostName, NewTenant, TenantSlug};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "haven",
    version,
    about = "Haven: a care-practice platform for community health organisations",
    // `haven help …` is the help centre; `haven --help` and `haven <command> --help` explain.
    disable_help_subcommand = true
)]
pub struct Cli {
    /// A haven.toml to read (default: ./haven.toml when present; or HAVEN_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app, the API and the workers.
    Serve(ServeArgs),
    /// Create or migrate the control database and every tenant database, then exit.
    Migrate(DataDirArg),
    /// Manage the organisations (tenants) this installation serves.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Verify, checkpoint, export and prune the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Back up, verify and restore organisations (docs/backups.md).
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Measure performance on this machine (see the README's "Benchmarks").
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Manage staff accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage service accounts for /api/platform/*.
    #[command(subcommand)]
    ServiceAccount(service_account::ServiceAccountCommand),
    /// Encryption at rest: rotate and inspect the data keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The help centre: serve it alone, export and import its content.
    #[command(subcommand)]
    Help(help::HelpCommand),
    /// Print the API's OpenAPI 3.1 document (the one `/api/openapi.json` serves), for
    /// generating a client without signing in.
    Openapi,
}

#[derive(Debug, Args)]
pub struct DataDirArg {
    /// Where the private PostgreSQL cluster (and later documents and keys) live.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// The address to listen on, as HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Development mode: readable logs.
    #[arg(long)]
    pub dev: bool,
    /// Seed a demo organisation with fictional staff (one per role) and print how to
    /// sign in. Implies --dev.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Register an organisation, create its database and migrate it.
    Create {
        /// Short name: 2 to 32 lower-case letters, digits and hyphens.
        slug: String,
        /// A host name that leads to this organisation (repeat for several).
        #[arg(long = "host", required = true, value_name = "HOST")]
        hosts: Vec<String>,
        /// The organisation's display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// List the organisations.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

/// Runs the command; errors print as one line on standard error.
pub fn main(cli: Cli) -> ExitCode {
    let started = Instant::now();
    if matches!(cli.command, Command::Openapi) {
        // Needs no configuration and no database: the document is made from the code.
        let document = crate::modules::all().openapi_json();
        return match std::io::Write::write_all(&mut std::io::stdout(), &document) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("haven: cannot write the document: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let overrides = overrides_for(&cli.command);
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("haven: {err}");
            return ExitCode::from(2);
        }
    };
    let serving = matches!(
        cli.command,
        Command::Serve(_) | Command::Help(help::HelpCommand::Serve(_))
    );
    telemetry::init(config.log_format(), &config.log_level, serving);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("haven: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config, started)) {
        Ok(code) => code,
        Err(err) => {
            if serving {
                tracing::error!(error = format!("{err:#}"), "haven stopped with an error");
            }
            eprintln!("haven: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn overrides_for(command: &Command) -> Overrides {
    let data_dir = match command {
        Command::Serve(args) => &args.data_dir,
        Command::Migrate(arg)
        | Command::Tenant(TenantCommand::Create { data_dir: arg, .. } | TenantCommand::List { data_dir: arg }) => arg,
        Command::Audit(command) => command.data_dir(),
        Command::Backup(command) => command.data_dir(),
        Command::Bench(command) => command.data_dir(),
        Command::User(command) => command.data_dir(),
        Command::ServiceAccount(command) => command.data_dir(),
        Command::Keys(command) => command.data_dir(),
        Command::Help(command) => command.data_dir(),
        Command::Openapi => return Overrides::default(),
    };
    let mut overrides = Overrides {
        data_dir: data_dir.data_dir.clone(),
        ..Overrides::default()
    };
    if let Command::Serve(args) = command {
        overrides.listen.clone_from(&args.listen);
        if args.dev || args.demo {
            overrides.mode = Some(Mode::Development);
        }
    }
    if let Command::Help(help::HelpCommand::Serve(args)) = command {
        overrides.listen.clone_from(&args.listen);
        if args.dev {
            overrides.mode = Some(Mode::Development);
        }
    }
    overrides
}

async fn run(command: Command, config: Config, started: Instant) -> anyhow::Result<ExitCode> {
    let stop = match command {
        Command::Serve(_) | Command::Help(help::HelpCommand::Serve(_)) => {
            Some(StopSignal::listen().context("cannot listen for SIGTERM and SIGINT")?)
        }
        _ => None,
    };
    let (server, cluster) = open_database(&config).await?;
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    let result = match (command, stop) {
        (Command::Serve(args), Some(stop)) => done(serve(config, server, started, args.demo, stop).await),
        (Command::Help(help::HelpCommand::Serve(_)), Some(stop)) => done(help::serve(config, server, stop).await),
        (command, _) => run_command(command, &config, &server).await,
    };
    // The private cluster stops last, after every request and pool is done.
    if let Some(cluster) = cluster {
        tokio::task::spawn_blocking(move || cluster.stop())
            .await
            .context("stopping PostgreSQL")?
            .context("stopping PostgreSQL")?;
    }
    result
}

/// The commands that run to an end rather than serve.
async fn run_command(command: Command, config: &Config, server: &DatabaseServer) -> anyhow::Result<ExitCode> {
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match command {
        // `run` serves with the stop signal it listened for before opening the database.
        Command::Serve(_) => Err(anyhow::anyhow!("serving needs its stop signal")),
        Command::Migrate(_) => done(migrate(config, server).await),
        Command::Tenant(TenantCommand::Create { slug, hosts, name, .. }) => {
            done(create_tenant(config, server, &slug, &hosts, name).await)
        }
        Command::Tenant(TenantCommand::List { .. }) => done(list_tenants(config, server).await),
        Command::Audit(command) => audit::run(command, config, server).await,
        Command::Backup(command) => backup::run(command, config, server).await,
        Command::Bench(command) => bench::run(command, config, server).await,
        Command::User(command) => user::run(command, config, server).await,
        Command::ServiceAccount(command) => service_account::run(command, config, server).await,
        Command::Keys(command) => keys::run(command, config, server).await,
        Command::Help(command) => help::run(command, config, server).await,
        Command::Openapi => Ok(ExitCode::SUCCESS),
    }
}

/// The external server of `DATABASE_URL`, or the private cluster under the data directory.
async fn open_database(config: &Config) -> anyhow::Result<(DatabaseServer, Option<Cluster>)> {
    if let Some(url) = &config.database_url {
        let server = DatabaseServer::from_url(url.expose())
            .map_err(|problem| anyhow::anyhow!("invalid setting `database_url` (DATABASE_URL): {problem}"))?;
        return Ok((server, None));
    }
    prepare_data_dir(&config.data_dir)?;
    let mut cluster_config = ClusterConfig::new(config.data_dir.join("pg"));
    cluster_config.bin_dir.clone_from(&config.pg_bin_dir);
    cluster_config.run_as_when_root.clone_from(&config.pg_user);
    cluster_config.settings = PRIVATE_CLUSTER_SETTINGS
        .iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let started = Instant::now();
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(cluster_config))
        .await
        .context("starting PostgreSQL")??;
    let how = match cluster.start_kind() {
        StartKind::Created => "created and started",
        StartKind::Started {
            recovered_stale_lock: true,
        } => "recovered after an unclean stop and started",
        StartKind::Started { .. } => "started",
        StartKind::Attached => "already running; attached",
    };
    tracing::info!(
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "private PostgreSQL cluster {how}"
    );
    let control = DatabaseName::parse(&config.control_database)
        .ok_or_else(|| anyhow::anyhow!("invalid setting `control_database`"))?;
    let server = DatabaseServer::private_cluster(&cluster.socket_dir(), cluster.superuser(), control);
    Ok((server, Some(cluster)))
}

/// When Haven runs as root the cluster runs as an unprivileged user, who must be able to
/// pass through the data directory (but not list or read it).
fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
        .with_context(|| format!("cannot set the permissions of {}", dir.display()))
}

async fn serve(
    config: Config,
    server: DatabaseServer,
    started: Instant,
    demo: bool,
    mut stop: StopSignal,
) -> anyhow::Result<()> {
    // A stop asked for while the databases are being brought up (which can wait on
    // another instance's migration) ends start-up here; what was half-done is finished
    // by the next start. Demo seeding is not cut short; a stop during it is honoured as
    // soon as Haven serves.
    let app = tokio::select! {
        app = Application::build(config, server) => app?,
        () = stop.received() => {
            tracing::info!("stopped while starting: Haven did not serve");
            return Ok(());
        }
    };
    if demo {
        crate::demo::seed(app.state())
            .await
            .context("seeding the demo organisation")?;
    }
    let addr = app.local_addr()?;
    let shown = if addr.ip().is_unspecified() {
        format!("http://localhost:{}/", addr.port())
    } else {
        format!("http://{addr}/")
    };
    tracing::info!(
        url = %shown,
        admin = ?app.admin_addr(),
        startup_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "Haven is ready"
    );
    if demo {
        eprint!("{}", crate::demo::sign_in_details(&shown));
    }
    eprintln!("Haven is ready at {shown}");
    app.run(stop.received()).await
}

async fn migrate(config: &Config, server: &DatabaseServer) -> anyhow::Result<()> {
    let control = bootstrap(config, server).await?;
    let tenants = tenancy::list_tenants(&control).await?;
    control.close().await;
    println!(
        "control database and {} tenant database(s) are up to date",
        tenants.len()
    );
    Ok(())
}

async fn create_tenant(
    config: &Config,
    server: &DatabaseServer,
    slug: &str,
    hosts: &[String],
    name: Option<String>,
) -> anyhow::Result<()> {
    let slug = TenantSlug::parse(slug).map_err(anyhow::Error::msg)?;
    let hosts = hosts
        .iter()
        .map(|h| HostName::parse(h).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let display_name = name.unwrap_or_else(|| slug.to_string());
    if display_name.trim().is_empty() || display_name.len() > 200 {
        anyhow::bail!("the organisation name must have 1 to 200 characters");
    }
    let control = bootstrap(config, server).await?;
    let new = NewTenant {
        slug,
        display_name,
        hosts,
    };
    let record = tenancy::provision(server, &control, &config.tenant_database_prefix, &new).await;
    control.close().await;
    let record = record?;
    println!(
        "created tenant {} (database {}) for {}",
        record.slug,
        record.database_name,
        record.hosts.join(", ")
    );
    Ok(())
}

async fn list_tenants(config: &Config, server: &DatabaseServer) -> anyhow::Result<()> {
    let control = bootstrap(config, server).await?;
    let tenants = tenancy::list_tenants(&control).await;
    control.close().await;
    println!("{:<20} {:<12} {:<32} HOSTS", "SLUG", "STATUS", "DATABASE");
    for tenant in tenants? {
        let status = serde_json::to_value(tenant.status)?;
        println!(
            "{:<20} {:<12} {:<32} {}",
            tenant.slug,
            status.as_str().unwrap_or_default(),
            tenant.database_name,
            tenant.hosts.join(",")
        );
    }
    Ok(())
}

async fn bootstrap(config: &Config, server: &DatabaseServer) -> anyhow::Result<sqlx::PgPool> {
    Ok(tenancy::bootstrap(server, &config.tenant_database_prefix, &config.default_hosts()).await?)
}

/// Who runs the command, for the audit trail (an operating-system account name).
pub(crate) fn operator() -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::current())
        .ok()
        .flatten()
        .map_or_else(|| "unknown".to_owned(), |u| u.name)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(60)
        .collect()
}
