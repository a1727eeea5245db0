//! The in-memory view of the tenant registry that routes each request, with one lazily
//! connecting pool per tenant database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::{HostName, TenantRecord, TenantStatus, store};
use crate::clock::SharedClock;
use crate::compliance::audit::AuditWriter;
use crate::platform::database::{DatabaseName, DatabaseServer};

/// Registry changes are announced with NOTIFY and picked up at once; a request for an
/// unknown host also re-reads the registry, at most this often.
const RELOAD_ON_MISS_INTERVAL: Duration = Duration::from_secs(1);
/// In case a notification was missed (the listening connection dropped).
const PERIODIC_RELOAD: Duration = Duration::from_secs(30);

pub struct Tenant {
    pub record: TenantRecord,
    pub database: DatabaseName,
    /// Connections as `haven_app`.
    pub pool: PgPool,
    /// The tenant's audit chain writer.
    pub audit: AuditWriter,
    /// The organisation's settings, read once and kept for a few seconds.
    pub settings: Arc<crate::organisation::SettingsCache>,
    /// Verified API tokens, kept for a few seconds and forgotten on any change.
    pub tokens: Arc<crate::identity::token_cache::TokenCache>,
    /// What modules keep for the organisation while it is served.
    pub locals: Arc<super::TenantLocals>,
}

impl Tenant {
    /// The organisation's settings (zone, storage policy, security and reminder rules).
    pub async fn settings(&self) -> Result<Arc<crate::organisation::OrganisationSettings>, sqlx::Error> {
        self.settings.get(&self.pool).await
    }
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("slug", &self.record.slug)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no organisation is served at this host name")]
    UnknownHost,
    #[error("the tenant registry cannot be read: {0}")]
    Registry(#[from] sqlx::Error),
}

impl From<ResolveError> for crate::error::Error {
    #[track_caller]
    fn from(err: ResolveError) -> Self {
        match err {
            ResolveError::UnknownHost => Self::UnknownTenant,
            ResolveError::Registry(err) => err.into(),
        }
    }
}

#[derive(Default)]
struct Snapshot {
    tenants: Vec<Arc<Tenant>>,
    by_host: HashMap<String, Arc<Tenant>>,
}

pub struct TenantDirectory {
    server: DatabaseServer,
    clock: SharedClock,
    audit_window: Duration,
    control: PgPool,
    snapshot: RwLock<Arc<Snapshot>>,
    last_reload: Mutex<Option<Instant>>,
}

impl TenantDirectory {
    /// Loads the registry; `control` should connect as `haven_app`.
    pub async fn load(
        server: DatabaseServer,
        control: PgPool,
        clock: SharedClock,
        audit_window: Duration,
    ) -> Result<Self, sqlx::Error> {
        let directory = Self {
            server,
            clock,
            audit_window,
            control,
            snapshot: RwLock::new(Arc::default()),
            last_reload: Mutex::new(None),
        };
        directory.reload().await?;
        Ok(directory)
    }

    pub fn control_pool(&self) -> &PgPool {
        &self.control
    }

    pub fn server(&self) -> &DatabaseServer {
        &self.server
    }

    fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The active tenants.
    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.current().tenants.clone()
    }

    /// Re-reads the registry. Pools of tenants that did not move are kept.
    pub async fn reload(&self) -> Result<(), sqlx::Error> {
        let records = store::list_tenants(&self.control).await?;
        let old = self.current();
        let mut next = Snapshot::default();
        for record in records.into_iter().filter(|r| r.status == TenantStatus::Active) {
            let Some(database) = DatabaseName::parse(&record.database_name) else {
                tracing::error!(tenant = %record.slug, "skipping a tenant whose database name is invalid");
                continue;
            };
            let (pool, audit, settings, tokens, locals) = old
                .tenants
                .iter()
                .find(|t| t.record.id == record.id && t.database == database)
                .map_or_else(
                    || {
                        let pool = self.server.lazy_app_pool(&database);
                        let audit = AuditWriter::spawn_merging(
                            self.server.lazy_own_connection(&database),
                            pool.clone(),
                            Arc::clone(&self.clock),
                            self.audit_window,
                        );
                        let tokens =
                            crate::identity::token_cache::TokenCache::spawn(self.server.lazy_own_connection(&database));
                        (pool, audit, Arc::default(), tokens, Arc::default())
                    },
                    |t| {
                        (
                            t.pool.clone(),
                            t.audit.clone(),
                            Arc::clone(&t.settings),
                            Arc::clone(&t.tokens),
                            Arc::clone(&t.locals),
                        )
                    },
                );
            let tenant = Arc::new(Tenant {
                record,
                database,
                pool,
                audit,
                settings,
                tokens,
                locals,
            });
            for host in &tenant.record.hosts {
                next.by_host.insert(host.clone(), Arc::clone(&tenant));
            }
            next.tenants.push(tenant);
        }
        *self.snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        *self
            .last_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        Ok(())
    }

    /// The tenant serving `host`: the one registered for that host name or, when the
    /// installation has a single tenant, that tenant whatever the host. An unknown host
    /// first re-reads the registry (at most once a second), so a tenant created by
    /// another process is found without a restart.
    pub async fn resolve(&self, host: Option<&HostName>) -> Result<Arc<Tenant>, ResolveError> {
        if let Some(tenant) = Self::by_host(&self.current(), host) {
            return Ok(tenant);
        }
        let due = self
            .last_reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() >= RELOAD_ON_MISS_INTERVAL);
        if due {
            self.reload().await?;
        }
        let snapshot = self.current();
        if let Some(tenant) = Self::by_host(&snapshot, host) {
            return Ok(tenant);
        }
        match snapshot.tenants.as_slice() {
            [only] => Ok(Arc::clone(only)),
            _ => Err(ResolveError::UnknownHost),
        }
    }

    fn by_host(snapshot: &Snapshot, host: Option<&HostName>) -> Option<Arc<Tenant>> {
        host.and_then(|h| snapshot.by_host.get(h.as_str())).cloned()
    }

    /// Keeps the directory in step with the registry: reloads on every change
    /// notification and periodically. Ends when the directory is dropped.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let directory = Arc::downgrade(self);
        let control = self.control.clone();
        tokio::spawn(async move {
            let mut listener = match PgListener::connect_with(&control).await {
                Ok(mut listener) => match listener.listen(store::CHANGES_CHANNEL).await {
                    Ok(()) => Some(listener),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot listen for tenant registry changes; reloading periodically");
                        None
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for tenant registry changes; reloading periodically");
                    None
                }
            };
            loop {
                let notified = async {
                    match listener.as_mut() {
                        // recv() reconnects by itself after a lost connection.
                        Some(listener) => listener.recv().await.map(|_| ()),
                        None => std::future::pending().await,
                    }
                };
                if let Ok(Err(err)) = tokio::time::timeout(PERIODIC_RELOAD, notified).await {
                    tracing::warn!(error = %err, "lost the tenant registry listener; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let Some(directory) = directory.upgrade() else { return };
                if directory.control.is_closed() {
                    return;
                }
                if let Err(err) = directory.reload().await {
                    tracing::warn!(error = %err, "cannot reload the tenant registry");
                }
            }
        })
    }

    pub async fn close(&self) {
        for tenant in self.tenants() {
            tenant.pool.close().await;
        }
        self.control.close().await;
    }
}
