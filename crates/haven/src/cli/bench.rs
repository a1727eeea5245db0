//! `haven bench ...`: performance figures, measured on this machine against a real
//! PostgreSQL (the private cluster, or DATABASE_URL). See the README's "Benchmarks".

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use indicatif::ProgressBar;
use sqlx::PgPool;

use super::DataDirArg;
use crate::bench::audit as bench;
use crate::clock;
use crate::config::Config;
use crate::platform::database::{DatabaseName, DatabaseServer, TENANT_MIGRATIONS, migrate};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Audit appends per second with group commit and with one transaction per event,
    /// then chain verification speed.
    Audit {
        /// Concurrent writers.
        #[arg(long, default_value_t = 64)]
        writers: usize,
        /// How long each append benchmark runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Events added before the verification benchmark.
        #[arg(long, default_value_t = 1_000_000)]
        verify_events: u64,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Password verifications per second per core, and the cost of authenticating a
    /// request (session lookup and policy decision).
    Identity {
        /// How long each hashing benchmark runs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Session lookups to time.
        #[arg(long, default_value_t = 5000)]
        samples: u32,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Seeds fictional clients into a scratch database and times typo-tolerant name
    /// search over all of them.
    Search {
        /// How many clients to seed.
        #[arg(long, default_value_t = 1_000_000)]
        clients: usize,
        /// How many misspelled names to search for.
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// Keep the scratch database (its name is printed) to explore or rerun.
        #[arg(long)]
        keep: bool,
        /// Search a database kept by an earlier run with the same `--clients` instead
        /// of seeding a new one.
        #[arg(long, value_name = "DATABASE", conflicts_with = "keep")]
        reuse: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Seeds an organisation (clients, sealed notes, documents) into a scratch database,
    /// backs it up and verifies the backup: time and peak memory of each.
    Backup {
        #[arg(long, default_value_t = 100_000)]
        clients: usize,
        #[arg(long, default_value_t = 200_000)]
        notes: usize,
        /// Documents, in MiB (4 MiB files).
        #[arg(long, default_value_t = 1024)]
        documents_mib: u64,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Haven under load over HTTP: starts `haven serve` on scratch databases of this
    /// server, seeds an organisation and a front-desk token, then times creating,
    /// listing, opening and searching clients, clients hanging up mid-request, and a
    /// sign-in flood, with Haven's and PostgreSQL's peak memory; verifies the audit
    /// chain at the end.
    Http {
        #[command(flatten)]
        size: HttpSize,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Seeds help articles into a scratch help database, serves them with the standalone
    /// help service on a loopback port, and measures article reads per second and
    /// search latency over HTTP.
    Help {
        /// How many articles to seed.
        #[arg(long, default_value_t = 10_000)]
        articles: usize,
        /// Concurrent connections reading articles.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// How long the read benchmark runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// How many searches to time, one at a time.
        #[arg(long, default_value_t = 1000)]
        queries: usize,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

impl BenchCommand {
    pub fn data_dir(&self) -> &DataDirArg {
        match self {
            Self::Audit { data_dir, .. }
            | Self::Identity { data_dir, .. }
            | Self::Search { data_dir, .. }
            | Self::Help { data_dir, .. }
            | Self::Http { data_dir, .. }
            | Self::Backup { data_dir, .. } => data_dir,
        }
    }
}

pub async fn run(command: BenchCommand, config: &Config, server: &DatabaseServer) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Http { size, .. } => http(config, server, &size).await.map(|()| ExitCode::SUCCESS),
        BenchCommand::Audit {
            writers,
            seconds,
            verify_events,
            ..
        } => {
            // Roles and grants come with the tenant migrations; the control database must exist.
            super::bootstrap(config, server).await?.close().await;
            let scratch = scratch_database(config)?;
            server.ensure_database(&scratch).await?;
            let result = audit(
                server,
                &scratch,
                config,
                writers,
                Duration::from_secs(seconds),
                verify_events,
            )
            .await;
            server.drop_database(&scratch).await?;
            result.map(|()| ExitCode::SUCCESS)
        }
        BenchCommand::Search {
            clients,
            queries,
            reuse: Some(kept),
            ..
        } => {
            let kept = DatabaseName::parse(&kept).ok_or_else(|| anyhow::anyhow!("`{kept}` cannot name a database"))?;
            let pool = server.app_pool_sized(&kept, 4).await?;
            let result = search_only(&pool, clients, queries).await;
            pool.close().await;
            result.map(|()| ExitCode::SUCCESS)
        }
        BenchCommand::Search {
            clients, queries, keep, ..
        } => {
            super::bootstrap(config, server).await?.close().await;
            let scratch = scratch_database(config)?;
            server.ensure_database(&scratch).await?;
            let result = search(server, &scratch, clients, queries).await;
            if keep {
                println!("kept the scratch database {scratch}");
            } else {
                server.drop_database(&scratch).await?;
            }
            result.map(|()| ExitCode::SUCCESS)
        }
        BenchCommand::Help {
            articles,
            connections,
            seconds,
            queries,
            ..
        } => {
            let scratch = scratch_database(config)?;
            let server = server.clone().with_control_database(scratch.clone());
            let result = help(config, &server, &scratch, articles, connections, seconds, queries).await;
            server.drop_database(&scratch).await?;
            result.map(|()| ExitCode::SUCCESS)
        }
        BenchCommand::Backup {
            clients,
            notes,
            documents_mib,
            ..
        } => {
            super::bootstrap(config, server).await?.close().await;
            let scratch = scratch_database(config)?;
            server.ensure_database(&scratch).await?;
            let result = backup(config, server, &scratch, clients, notes, documents_mib).await;
            server.drop_database(&scratch).await?;
            result.map(|()| ExitCode::SUCCESS)
        }
        BenchCommand::Identity { seconds, samples, .. } => {
            super::bootstrap(config, server).await?.close().await;
            let scratch = scratch_database(config)?;
            server.ensure_database(&scratch).await?;
            let result = identity(server, &scratch, seconds, samples).await;
            server.drop_database(&scratch).await?;
            result.map(|()| ExitCode::SUCCESS)
        }
    }
}

async fn search(server: &DatabaseServer, scratch: &DatabaseName, clients: usize, queries: usize) -> anyhow::Result<()> {
    let owner = server.connect_pool(scratch).await?;
    migrate(&owner, &TENANT_MIGRATIONS, scratch).await?;
    owner.close().await;
    let pool = server.app_pool_sized(scratch, 4).await?;
    let clock = clock::system();
    let bar = ProgressBar::new(u64::try_from(clients).unwrap_or(u64::MAX));
    let started = std::time::Instant::now();
    crate::bench::search::seed(&pool, &clock, clients, &|n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    // Statistics and a clean visibility map, as autovacuum keeps them on a live system
    // (the owner's job).
    let owner = server.connect_pool(scratch).await?;
    sqlx::query("VACUUM ANALYZE clients").execute(&owner).await?;
    owner.close().await;
    println!(
        "seeded {clients} fictional clients in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    search_only(&pool, clients, queries).await?;
    pool.close().await;
    Ok(())
}

async fn search_only(pool: &PgPool, clients: usize, queries: usize) -> anyhow::Result<()> {
    let clock = clock::system();
    let shapes = crate::bench::search::search_latency(pool, &clock, clients, queries).await?;
    println!("typo-tolerant name search over all {clients} clients, one query at a time:");
    for shape in shapes {
        println!("  {} ({} queries):", shape.typed.describe(), shape.queries);
        println!(
            "    p50 {:.2} ms   p99 {:.2} ms   mean {:.2} ms   intended person in the first 20: {:.1}%",
            shape.p50.as_secs_f64() * 1000.0,
            shape.p99.as_secs_f64() * 1000.0,
            shape.mean.as_secs_f64() * 1000.0,
            shape.found * 100.0
        );
    }
    Ok(())
}

async fn identity(server: &DatabaseServer, scratch: &DatabaseName, seconds: u64, samples: u32) -> anyhow::Result<()> {
    let owner = server.connect_pool(scratch).await?;
    migrate(&owner, &TENANT_MIGRATIONS, scratch).await?;
    owner.close().await;
    let pool = server.app_pool_sized(scratch, 4).await?;
    let clock = clock::system();
    let hashing = crate::bench::identity::hashing(seconds).await?;
    println!("password verification (argon2id, m=19 MiB, t=2, p=1):");
    println!("  one core:        {:>7.1} sign-ins/s", hashing.per_second_one_core);
    println!(
        "  all {} cores:     {:>7.1} sign-ins/s",
        hashing.cores, hashing.per_second_all_cores
    );
    let overhead = crate::bench::identity::overhead(&pool, &clock, samples).await?;
    println!("authenticating a request ({} samples):", overhead.samples);
    println!(
        "  session lookup (database round trip included): mean {:.0} µs, p99 {:.0} µs",
        overhead.lookup_mean.as_secs_f64() * 1e6,
        overhead.lookup_p99.as_secs_f64() * 1e6
    );
    println!(
        "  policy decision: mean {:.3} µs",
        overhead.policy_mean.as_secs_f64() * 1e6
    );
    pool.close().await;
    Ok(())
}

async fn help(
    config: &Config,
    server: &DatabaseServer,
    scratch: &DatabaseName,
    articles: usize,
    connections: usize,
    seconds: u64,
    queries: usize,
) -> anyhow::Result<()> {
    use crate::bench::help as bench;
    crate::help::store::prepare(server, scratch.as_str()).await?;
    let size = u32::try_from(connections.min(16) + 2).unwrap_or(16);
    let pool = server.app_pool_sized(scratch, size).await?;
    let clock = clock::system();
    let bar = ProgressBar::new(u64::try_from(articles).unwrap_or(u64::MAX));
    let started = std::time::Instant::now();
    let slugs = bench::seed(&pool, &clock, articles, &|n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    let owner = server.connect_pool(scratch).await?;
    sqlx::query("VACUUM ANALYZE help_articles").execute(&owner).await?;
    owner.close().await;
    println!(
        "seeded {articles} help articles in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The standalone help service, as `haven help serve` runs it, on a loopback port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = crate::help::HelpState {
        pool: pool.clone(),
        clock: clock.clone(),
    };
    let router = crate::help::standalone::router(state, config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });

    let reads = bench::reads(addr, &slugs, connections, Duration::from_secs(seconds)).await?;
    println!(
        "article reads (GET /api/help/v1/articles/{{slug}}, {connections} connections, {seconds} s, each view counted):"
    );
    println!(
        "  {:>8.0} reads/s   p50 {:.2} ms   p99 {:.2} ms   errors {}",
        reads.per_second(),
        reads.p50.as_secs_f64() * 1000.0,
        reads.p99.as_secs_f64() * 1000.0,
        reads.errors
    );
    let searches = bench::searches(addr, &bench::queries(queries)).await?;
    println!("search (GET /api/help/v1/search over {articles} articles, one query at a time):");
    for search in searches {
        println!(
            "  {:<16} {:>5} queries   p50 {:>6.2} ms   p99 {:>6.2} ms   found something: {:>5}   errors {}",
            search.kind,
            search.timing.requests,
            search.timing.p50.as_secs_f64() * 1000.0,
            search.timing.p99.as_secs_f64() * 1000.0,
            search.found,
            search.timing.errors
        );
    }
    let _ = stop.send(());
    serving.await??;
    pool.close().await;
    Ok(())
}

fn scratch_database(config: &Config) -> anyhow::Result<DatabaseName> {
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let name = format!("{}bench_{}", config.tenant_database_prefix, &suffix[suffix.len() - 8..]);
    DatabaseName::parse(&name).ok_or_else(|| anyhow::anyhow!("`{name}` cannot name a database"))
}

async fn audit(
    server: &DatabaseServer,
    scratch: &DatabaseName,
    config: &Config,
    writers: usize,
    duration: Duration,
    verify_events: u64,
) -> anyhow::Result<()> {
    let owner = server.connect_pool(scratch).await?;
    migrate(&owner, &TENANT_MIGRATIONS, scratch).await?;
    owner.close().await;
    let size = u32::try_from(writers + 4).unwrap_or(u32::MAX);
    let pool = server.app_pool_sized(scratch, size).await?;
    let clock = clock::system();

    println!(
        "audit appends, {writers} concurrent writers, {} s each, every event durable (synchronous_commit = on):",
        duration.as_secs()
    );
    let grouped = bench::group_commit(&pool, &clock, config.audit.group_window, writers, duration).await;
    println!(
        "  group commit (window {:?}):   {:>9.0} events/s   latency p50 {:>6.2} ms  p99 {:>6.2} ms",
        config.audit.group_window,
        grouped.per_second(),
        grouped.p50.as_secs_f64() * 1000.0,
        grouped.p99.as_secs_f64() * 1000.0
    );
    let single = bench::one_transaction_per_event(&pool, &clock, writers, duration).await;
    println!(
        "  one transaction per event:  {:>9.0} events/s   latency p50 {:>6.2} ms  p99 {:>6.2} ms",
        single.per_second(),
        single.p50.as_secs_f64() * 1000.0,
        single.p99.as_secs_f64() * 1000.0
    );
    #[allow(clippy::cast_precision_loss)]
    let ratio = grouped.per_second() / single.per_second().max(1e-9);
    println!("  group commit is {ratio:.1}x");

    let bar = ProgressBar::new(verify_events);
    bench::seed(&pool, &clock, verify_events, &|n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    let (events, elapsed, ok) = bench::verify_all(&pool, &|_| {}).await?;
    #[allow(clippy::cast_precision_loss)]
    let rate = events as f64 / elapsed.as_secs_f64();
    println!(
        "verify: {events} events in {:.2} s = {rate:.0} events/s ({})",
        elapsed.as_secs_f64(),
        if ok { "chain intact" } else { "CHAIN BROKEN" }
    );
    pool.close().await;
    Ok(())
}

/// Seeds an organisation into a scratch database, backs it up and verifies the backup,
/// reporting each step's time and peak memory.
async fn backup(
    config: &Config,
    server: &DatabaseServer,
    scratch: &DatabaseName,
    clients: usize,
    notes: usize,
    documents_mib: u64,
) -> anyhow::Result<()> {
    use crate::bench::backup as bench;
    let owner = server.connect_pool(scratch).await?;
    migrate(&owner, &TENANT_MIGRATIONS, scratch).await?;
    let clock = clock::system();
    let now = clock.now();
    let record = crate::platform::tenancy::TenantRecord {
        id: uuid::Uuid::now_v7(),
        slug: crate::platform::tenancy::TenantSlug::parse("bench-backup").map_err(|e| anyhow::anyhow!(e))?,
        display_name: "Backup benchmark".to_owned(),
        database_name: scratch.as_str().to_owned(),
        hosts: Vec::new(),
        enabled_modules: Vec::new(),
        status: crate::platform::tenancy::TenantStatus::Active,
    };
    let vault = crate::compliance::sealing::Vault::from_config(config)?;
    let keyring = vault.keyring(&record);
    let storage = std::sync::Arc::new(crate::compliance::storage::Storage::from_config(config)?);
    let writer = crate::compliance::audit::AuditWriter::spawn(owner.clone(), clock.clone(), Duration::ZERO);
    let who = crate::compliance::storage::Accountable {
        audit: &writer,
        event: crate::compliance::audit::AuditEvent::new(now, "bench.seed", crate::compliance::audit::Outcome::Allowed),
    };
    let seeding = Instant::now();
    seed_organisation(
        &owner,
        &storage,
        &who,
        &keyring,
        scratch,
        (clients, notes, documents_mib),
    )
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(&owner).await?;
    println!(
        "seeded {clients} clients, {notes} notes and {documents_mib} MiB of documents in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let dir = config.backup.dir_path(config).join("bench");
    let tools = crate::backups::create::Tools {
        config,
        server,
        storage: std::sync::Arc::clone(&storage),
        vault: &vault,
        sealed: crate::modules::all().sealed(),
        progress: ProgressBar::hidden(),
        clock: clock.clone(),
    };
    let (made, took, peak) = bench::measured(crate::backups::create(
        &tools,
        &record,
        &crate::backups::Destination::Local(dir.clone()),
        &who,
        now,
    ))
    .await;
    let made = made?;
    let tools_peak = bench::children_peak();
    #[allow(clippy::cast_precision_loss)] // a rate for people to read
    let rate =
        (made.manifest.database.bytes + made.manifest.documents_bytes()) as f64 / 1_048_576.0 / took.as_secs_f64();
    println!(
        "backup: {:.1} s, {} MiB file ({rate:.0} MiB/s of input), Haven peak RSS {} MiB, pg_dump peak RSS {} MiB",
        took.as_secs_f64(),
        made.bytes >> 20,
        peak >> 20,
        tools_peak >> 20
    );
    let source = crate::backups::restore::Source::File(made.location.clone().into());
    let (verified, took, peak) = bench::measured(crate::backups::verify(&tools, &source)).await;
    let verified = verified?;
    println!(
        "verified restore: {:.1} s, Haven peak RSS {} MiB, pg_restore peak RSS {} MiB\n  {}",
        took.as_secs_f64(),
        peak >> 20,
        bench::children_peak() >> 20,
        verified.summary()
    );
    drop(who);
    drop(writer);
    owner.close().await;
    std::fs::remove_file(&made.location)?;
    for document in &made.manifest.documents {
        if let Some(key) = document.name.strip_prefix("documents/") {
            storage.delete(crate::compliance::storage::Target::Local, key).await?;
        }
    }
    Ok(())
}

/// The benchmark's organisation: clients, an author, sealed notes and documents.
async fn seed_organisation(
    owner: &sqlx::PgPool,
    storage: &crate::compliance::storage::Storage,
    who: &crate::compliance::storage::Accountable<'_>,
    keyring: &crate::compliance::sealing::Keyring,
    scratch: &DatabaseName,
    (clients, notes, documents_mib): (usize, usize, u64),
) -> anyhow::Result<()> {
    use crate::bench::backup as bench;
    let now = clock::system().now();
    let bar = ProgressBar::new(u64::try_from(clients).unwrap_or(u64::MAX));
    let ids = bench::seed_clients(owner, clients, now, &|n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    let author = bench::seed_author(owner, now).await?;
    let bar = ProgressBar::new(u64::try_from(notes).unwrap_or(u64::MAX));
    bench::seed_notes(owner, keyring, &ids, author, notes, now, &|n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    let bar = ProgressBar::new(documents_mib << 20);
    bench::seed_documents(
        owner,
        storage,
        who,
        keyring,
        scratch.as_str(),
        &ids,
        author,
        documents_mib << 20,
        now,
        &|n| {
            bar.set_position(n);
        },
    )
    .await?;
    bar.finish_and_clear();
    Ok(())
}

/// The load benchmark's own databases, beside the installation's on the same server.
const HTTP_CONTROL: &str = "haven_bench_http";
const HTTP_PREFIX: &str = "haven_bench_http_";
const HTTP_HELP: &str = "haven_bench_http_help";
/// The benchmark's front-desk accounts, one per connection.
fn http_email(n: usize) -> String {
    format!("frontdesk{n}@bench.haven.example")
}
const HTTP_PASSWORD: &str = "lantern orbit velvet quarry bench";

/// How big `haven bench http` makes the organisation and the load.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpSize {
    /// How many clients to seed.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// How many audit events to add to the organisation's chain before the load.
    #[arg(long, default_value_t = 0)]
    audit_events: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// How long each workload runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Run only these workloads (create, list, open, search, hang-ups, flood); all when
    /// not given.
    #[arg(long, value_delimiter = ',', value_parser = ["create", "list", "open", "search", "hang-ups", "flood"])]
    only: Vec<String>,
}

impl HttpSize {
    fn runs(&self, workload: &crate::bench::http::Workload) -> bool {
        self.only.is_empty() || self.only.iter().any(|key| key == workload.key)
    }
}

/// `haven bench http`: Haven (`haven serve`, a child process) on scratch databases of
/// this installation's server, an organisation of `clients` seeded, a front-desk token,
/// then each workload over HTTP with Haven's and PostgreSQL's peak memory, and the audit
/// chain verified at the end. The scratch databases are dropped afterwards.
async fn http(config: &Config, server: &DatabaseServer, size: &HttpSize) -> anyhow::Result<()> {
    super::bootstrap(config, server).await?.close().await;
    let names = [
        HTTP_CONTROL.to_owned(),
        format!("{HTTP_PREFIX}default"),
        HTTP_HELP.to_owned(),
    ];
    let names: Vec<DatabaseName> = names
        .iter()
        .map(|n| DatabaseName::parse(n).ok_or_else(|| anyhow::anyhow!("bad scratch name {n}")))
        .collect::<anyhow::Result<_>>()?;
    for name in &names {
        server.drop_database(name).await?;
    }
    let result = http_run(config, server, &names[1], size).await;
    for name in &names {
        server.drop_database(name).await?;
    }
    result
}

async fn http_run(
    config: &Config,
    server: &DatabaseServer,
    tenant_database: &DatabaseName,
    size: &HttpSize,
) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let log_path = config.data_dir.join("bench-http.log");
    let log = std::fs::File::create(&log_path)?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .arg("serve")
        .env("HAVEN_DATA_DIR", &config.data_dir)
        .env("HAVEN_CONTROL_DATABASE", HTTP_CONTROL)
        .env("HAVEN_TENANT_DATABASE_PREFIX", HTTP_PREFIX)
        .env("HAVEN_HELP_DATABASE", HTTP_HELP)
        .env("HAVEN_LISTEN", addr.to_string())
        .env("HAVEN_ADMIN_LISTEN", "off")
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(url) = &config.database_url {
        command.env("DATABASE_URL", url.expose());
    }
    let mut child = command.spawn()?;
    let pid = child.id();
    let result = http_measure(config, server, tenant_database, addr, pid, size).await;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid)?),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    if result.is_err() {
        eprintln!("Haven's log: {}", log_path.display());
    }
    result
}

async fn http_measure(
    config: &Config,
    server: &DatabaseServer,
    tenant_database: &DatabaseName,
    addr: std::net::SocketAddr,
    pid: u32,
    size: &HttpSize,
) -> anyhow::Result<()> {
    use std::sync::Arc;

    use crate::bench::http::{self as bench, Request};
    let HttpSize {
        clients,
        audit_events,
        connections,
        seconds,
        ..
    } = *size;
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = bench::once(addr, Request::get("/health".to_owned()), None).await {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "Haven did not start (see its log)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let owner = http_seed(server, tenant_database, clients, connections).await?;
    if audit_events > 0 {
        let bar = ProgressBar::new(audit_events);
        let seeding = Instant::now();
        crate::bench::audit::seed(&owner, &clock::system(), audit_events, &|n| bar.set_position(n)).await?;
        bar.finish_and_clear();
        sqlx::query("VACUUM ANALYZE audit_events").execute(&owner).await?;
        println!(
            "added {audit_events} audit events to the chain in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );
    }
    // Seeding writes gigabytes of WAL in minutes, far more than the workloads do: a
    // checkpoint it set off would still be running through them, every page they touch
    // first written whole to the WAL again. Start them after a finished checkpoint, as
    // a live system is most of the time (a role that may not checkpoint skips this).
    if let Err(err) = sqlx::query("CHECKPOINT").execute(&owner).await {
        println!("no checkpoint after seeding ({err})");
    }
    // How fast this machine is right now: the same machine runs at different speeds on
    // different days, so figures are compared with this beside them.
    let speed = crate::bench::identity::hashing(2).await?;
    println!(
        "this machine now: {:.0} password hashes/s on one core (argon2id at Haven's parameters)",
        speed.per_second_one_core
    );
    let token: Arc<str> = bench::token(addr, &http_email(0), HTTP_PASSWORD, &["clients:read", "clients:write"])
        .await?
        .into();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let postmaster = std::fs::read_to_string(config.data_dir.join("pg/data/postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        .unwrap_or(0);
    let target = bench::Target {
        addr,
        haven: pid,
        postmaster,
        connections,
        duration: Duration::from_secs(seconds),
        token,
    };
    let (haven, postgres) = target.memory();
    println!(
        "idle after seeding: Haven {} MiB, PostgreSQL {} MiB",
        haven >> 20,
        postgres >> 20
    );
    let (ids, names) = http_samples(addr, &target.token).await?;
    println!(
        "{connections} connections, {seconds} s each, bearer token (clients:read, clients:write); every request audited"
    );
    let failed = http_workloads(&target, size, ids, names).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (haven, postgres) = target.memory();
    println!(
        "idle after the load: Haven {} MiB, PostgreSQL {} MiB",
        haven >> 20,
        postgres >> 20
    );

    let key = crate::compliance::audit::SigningKey::load_or_create(&config.audit_signing_key_path())?;
    let trust = crate::compliance::audit::Trust::of(config, &key);
    let report = crate::compliance::audit::verify(&owner, &trust, &|_| {}).await?;
    println!("audit chain: {}", report.summary());
    owner.close().await;
    anyhow::ensure!(report.broken.is_none(), "the audit chain did not verify");
    anyhow::ensure!(failed == 0, "{failed} requests failed");
    Ok(())
}

/// Runs the workloads `size` asks for against `target`; how many requests failed.
async fn http_workloads(
    target: &crate::bench::http::Target,
    size: &HttpSize,
    ids: Vec<String>,
    names: Vec<String>,
) -> anyhow::Result<usize> {
    use std::sync::Arc;

    use crate::bench::http::{self as bench, Request};
    let (addr, connections) = (target.addr, target.connections);
    let mut failed = 0;
    for workload in bench::client_workloads(Arc::new(ids), Arc::new(names), clock::system().now().date_naive()) {
        if size.runs(&workload) {
            failed += target.run(&workload).await?.errors;
        }
    }
    let steady = bench::Workload::new(
        "hang-ups",
        &format!("list after {connections} hang-ups"),
        200,
        Arc::new(|_, _| Request::get("/api/v1/clients?per_page=100".to_owned())),
    );
    // Clients that hang up mid-request, then steady load: nothing stalls or fails.
    if size.runs(&steady) {
        bench::abandon(addr, connections, &target.token).await?;
        failed += target.run(&steady).await?.errors;
    }
    let mut flood = bench::Workload::new(
        "flood",
        "sign-in flood (argon2id each)",
        200,
        Arc::new(|worker, _| {
            Request::post(
                "/api/v1/auth/sign-in",
                &serde_json::json!({ "email": http_email(worker), "password": HTTP_PASSWORD }),
            )
        }),
    );
    flood.bearer = false;
    if size.runs(&flood) {
        failed += target.run(&flood).await?.errors;
    }
    Ok(failed)
}

/// Seeds `clients` and the front-desk account into the organisation Haven made at start,
/// as its owner; the owner's pool.
async fn http_seed(
    server: &DatabaseServer,
    tenant_database: &DatabaseName,
    clients: usize,
    connections: usize,
) -> anyhow::Result<PgPool> {
    let owner = server.connect_pool(tenant_database).await?;
    let clock = clock::system();
    let bar = ProgressBar::new(u64::try_from(clients).unwrap_or(u64::MAX));
    let seeding = Instant::now();
    crate::bench::backup::seed_clients(&owner, clients, clock.now(), &|n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    // One front-desk account per connection: the sign-in flood signs each in on its own
    // connection, as many people arriving at once would (concurrent attempts on one
    // account count towards its lockout).
    let passwords = crate::identity::password::PasswordHasher::new(2)?;
    for n in 0..connections {
        crate::identity::admin::create(
            &owner,
            &passwords,
            &clock,
            &crate::identity::admin::ChangedBy::command_line("bench"),
            &crate::identity::admin::NewAccount {
                email: &http_email(n),
                display_name: "Bench Front Desk",
                roles: &[crate::identity::Role::FrontDesk],
                password: Some(HTTP_PASSWORD),
            },
        )
        .await?;
    }
    sqlx::query("VACUUM ANALYZE").execute(&owner).await?;
    println!("seeded {clients} clients in {:.1} s", seeding.elapsed().as_secs_f64());
    Ok(owner)
}

/// Ids to open and family names (one letter dropped) to search for, from the first
/// page the front desk sees.
async fn http_samples(addr: std::net::SocketAddr, token: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    use crate::bench::http::{self as bench, Request};
    let (status, page) = bench::once(
        addr,
        Request::get("/api/v1/clients?per_page=100".to_owned()),
        Some(token),
    )
    .await?;
    anyhow::ensure!(status == 200, "the list answered {status}");
    let page: serde_json::Value = serde_json::from_slice(&page)?;
    let listed = page["clients"].as_array().cloned().unwrap_or_default();
    let ids: Vec<String> = listed
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    let names = listed
        .iter()
        .filter_map(|c| c["legal_family_name"].as_str())
        .map(|name| {
            let mut chars: Vec<char> = name.chars().collect();
            if chars.len() > 4 {
                chars.remove(2);
            }
            chars.into_iter().collect()
        })
        .collect();
    anyhow::ensure!(!ids.is_empty(), "the front desk sees no clients");
    Ok((ids, names))
}
