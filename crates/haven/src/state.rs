//! What every handler may reach: configuration, tenants and their pools, metrics.
//! Travels in the router's state; there is no global state.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::compliance::audit::SigningKey;
use crate::compliance::sealing::Vault;
use crate::config::Config;
use crate::identity::password::PasswordHasher;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::platform::tenancy::TenantDirectory;

/// Cloned for every request and most extractors: one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub tenants: Arc<TenantDirectory>,
    pub metrics: Arc<Metrics>,
    pub redis: Option<redis::Client>,
    pub clock: SharedClock,
    /// Signs audit checkpoints.
    pub audit_key: Arc<SigningKey>,
    /// Password hashing, one at a time per core.
    pub passwords: PasswordHasher,
    pub mailer: Arc<Mailer>,
    /// The master key and every tenant's data keys (encryption at rest).
    pub vault: Arc<Vault>,
    /// Local disk and, when configured, S3-compatible storage, behind the storage policy.
    pub storage: Arc<crate::compliance::storage::Storage>,
    /// The database server as the role that migrates (backups run PostgreSQL's own
    /// tools with it); requests are served as `haven_app` through the tenants' pools.
    pub database: Arc<crate::platform::database::DatabaseServer>,
    /// The help centre's database.
    pub help: crate::help::HelpState,
    /// Every module's declarations: routes, API document, jobs, navigation, scopes,
    /// sealed columns and client tables.
    pub modules: Arc<crate::module::Modules>,
    /// The last readiness answer for anonymous callers.
    pub readiness: Arc<crate::health::Readiness>,
}
