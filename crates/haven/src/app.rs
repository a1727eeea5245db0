//! Building and running the server: database bootstrap, listeners, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::{self, SharedClock};
use crate::compliance::audit::{self, SigningKey};
use crate::compliance::sealing::Vault;
use crate::config::Config;
use crate::identity::password::PasswordHasher;
use crate::mail::Mailer;
use crate::metrics::{self, Metrics};
use crate::platform::database::DatabaseServer;
use crate::platform::jobs::{Worker, WorkerSettings};
use crate::platform::tenancy::{self, TenantDirectory};
use crate::state::AppState;
use crate::web;

/// Wraps the public router (see [`Application::wrap_public`]).
type Wrap = Box<dyn FnOnce(Router) -> Router + Send>;

pub struct Application {
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    state: AppState,
    wrap: Option<Wrap>,
}

impl Application {
    /// Migrates every database, loads the tenants and binds the listeners (port 0 picks a
    /// free port; see [`Application::local_addr`]).
    pub async fn build(config: Config, server: DatabaseServer) -> anyhow::Result<Self> {
        Self::build_with_clock(config, server, clock::system()).await
    }

    pub async fn build_with_clock(config: Config, server: DatabaseServer, clock: SharedClock) -> anyhow::Result<Self> {
        Self::build_with(config, server, clock, crate::modules::all()).await
    }

    /// With the modules given (the application's are `crate::modules::all()`).
    pub async fn build_with(
        config: Config,
        server: DatabaseServer,
        clock: SharedClock,
        modules: crate::module::Modules,
    ) -> anyhow::Result<Self> {
        // Bind first: a taken port fails at once, before any database work.
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (setting `listen`)", config.listen))?;
        let admin_listener = match config.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (setting `admin_listen`)"))?,
            ),
            None => None,
        };
        let server = server.with_app_password(config.database_app_password.as_ref().map(|p| p.expose().to_owned()));
        // Migrations run as the configured role; serving runs as haven_app.
        let owner_control =
            tenancy::bootstrap(&server, &config.tenant_database_prefix, &config.default_hosts()).await?;
        owner_control.close().await;
        let help_database = crate::help::store::prepare(&server, &config.help.database).await?;
        let help = crate::help::HelpState {
            pool: server.lazy_app_pool(&help_database),
            clock: Arc::clone(&clock),
        };
        let control = server.lazy_app_pool(server.control_database());
        let audit_key = Arc::new(
            SigningKey::load_or_create(&config.audit_signing_key_path()).context("setting `audit_signing_key`")?,
        );
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let passwords = PasswordHasher::new(cores).context("setting up password hashing")?;
        let mailer = Arc::new(Mailer::from_config(&config)?);
        let vault = Arc::new(Vault::from_config(&config).context("setting `master_key_file` or `master_key`")?);
        let storage = Arc::new(
            crate::compliance::storage::Storage::from_config(&config)
                .context("setting `documents_dir` or the `s3_*` settings")?,
        );
        let database = Arc::new(server.clone());
        let tenants = Arc::new(
            TenantDirectory::load(server, control, Arc::clone(&clock), config.audit.group_window)
                .await
                .context("cannot read the tenant registry as haven_app")?,
        );
        // A wrong master key stops the start here, not on the first note opened.
        for tenant in tenants.tenants() {
            let keyring = vault.keyring(&tenant.record);
            keyring
                .verify(&tenant.pool)
                .await
                .with_context(|| format!("organisation {}", tenant.record.slug))?;
            // Data keys wrapped before keys named their organisation are re-wrapped now.
            keyring
                .bind_legacy_keys(&tenant.pool)
                .await
                .with_context(|| format!("organisation {}: binding data keys", tenant.record.slug))?;
            // Second-factor secrets stored before they were sealed are sealed now.
            crate::identity::two_factor::seal_plain_secrets(&tenant.pool, &keyring, clock.now())
                .await
                .with_context(|| format!("organisation {}: sealing second-factor secrets", tenant.record.slug))?;
        }
        tenants.watch();
        audit::maintenance::spawn(
            Arc::downgrade(&tenants),
            Arc::clone(&audit_key),
            Arc::new(audit::Trust::of(&config, &audit_key)),
            Arc::clone(&clock),
            audit::maintenance::Schedule {
                checkpoint_every: config.audit.checkpoint_interval,
                verify_every: config.audit.verify_interval,
            },
        );
        let redis = config
            .redis_url
            .as_ref()
            .map(|url| redis::Client::open(url.expose()))
            .transpose()
            .context("invalid setting `redis_url`")?;
        let state = AppState::new(crate::state::Shared {
            config: Arc::new(config),
            tenants,
            metrics: Arc::new(Metrics::new()),
            redis,
            clock,
            audit_key,
            passwords,
            mailer,
            vault,
            storage,
            database,
            help,
            modules: Arc::new(modules),
            readiness: Arc::default(),
        });
        Ok(Self {
            listener,
            admin_listener,
            state,
            wrap: None,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Puts a layer around the public router, outside everything Haven's own layers do:
    /// it sees each request as it arrives and each response as it leaves. The test kit
    /// checks every API answer against the OpenAPI document this way.
    #[must_use]
    pub fn wrap_public(mut self, wrap: impl FnOnce(Router) -> Router + Send + 'static) -> Self {
        self.wrap = Some(Box::new(wrap));
        self
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests
    /// finish (up to `shutdown_grace`), and closes the database pools.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let state = self.state;
        let grace = state.config.shutdown_grace;
        let (stop_tx, stop_rx) = watch::channel(false);

        let router = web::router(state.clone());
        let router = match self.wrap {
            Some(wrap) => wrap(router),
            None => router,
        };
        let public = serve(self.listener, router, stop_rx.clone());
        let admin = async {
            match self.admin_listener {
                Some(listener) => serve(listener, admin_router(state.clone()), stop_rx.clone()).await,
                None => Ok(()),
            }
        };
        let serving = async { tokio::try_join!(public, admin).map(|_| ()) };
        tokio::pin!(serving);
        let worker = Worker::new(
            state.clone(),
            state.modules.job_handlers(),
            Arc::downgrade(&state.tenants),
            Arc::clone(&state.clock),
            WorkerSettings::from_config(&state.config),
        )
        .spawn(stop_rx.clone());

        let outcome = tokio::select! {
            result = &mut serving => result,
            () = shutdown => {
                tracing::info!("shutting down: no new connections; finishing requests in flight");
                let _ = stop_tx.send(true);
                let (served, _) = tokio::join!(finish_within(grace, serving), worker);
                served
            }
        };
        state.tenants.close().await;
        outcome
    }
}

async fn finish_within(grace: Duration, serving: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    if let Ok(result) = tokio::time::timeout(grace, serving).await {
        result
    } else {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "requests still in flight after the grace period were cut off"
        );
        Ok(())
    }
}

async fn serve(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        })
        .await
        .context("the HTTP server failed")
}

/// The operators' listener: metrics and liveness, not meant to face the internet.
fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::admin_metrics))
        .merge(crate::health::admin_routes())
        .merge(state.modules.operator_router())
        .layer(axum::Extension(crate::health::OperatorView))
        .layer(from_fn_with_state(state.clone(), web::edge::edge))
        .with_state(state)
}

/// SIGTERM and SIGINT (Ctrl-C), listened for from the moment this is made. Made before
/// Haven starts anything, so that a stop asked for while it is still starting (or in the
/// instant between "ready" and serving) is neither lost nor fatal: it ends start-up
/// cleanly, or the service once it serves. Only serving commands make one; the others
/// keep the default, where Ctrl-C ends the process at once.
pub struct StopSignal {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignal {
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Completes once either signal has arrived since [`StopSignal::listen`].
    pub async fn received(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {},
            _ = self.interrupt.recv() => {},
        }
    }
}
