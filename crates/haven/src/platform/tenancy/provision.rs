//! Creating tenants and bringing every database up to date, always under the
//! installation-wide migration lock.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use super::store::{self, TenantInsert};
use super::{HostName, SWITCHABLE_MODULES, TenantRecord, TenantSlug, TenantStatus};
use crate::platform::database::{
    CONTROL_MIGRATIONS, DatabaseError, DatabaseName, DatabaseServer, MigrationLock, TENANT_MIGRATIONS, migrate,
};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("a tenant with the slug `{0}` already exists")]
    SlugTaken(String),
    #[error("the host name `{0}` already belongs to a tenant")]
    HostTaken(String),
    #[error("`{0}` cannot name a database; use a shorter slug or tenant_database_prefix")]
    BadDatabaseName(String),
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

impl From<sqlx::Error> for ProvisionError {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err.into())
    }
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: TenantSlug,
    pub display_name: String,
    pub hosts: Vec<HostName>,
}

/// Creates the control database if needed, migrates it, creates the default tenant on
/// first start, and creates or migrates every tenant's database. Returns the control pool.
pub async fn bootstrap(
    server: &DatabaseServer,
    tenant_database_prefix: &str,
    default_hosts: &[HostName],
) -> Result<PgPool, ProvisionError> {
    let control_db = server.control_database().clone();
    server.ensure_database(&control_db).await?;
    let control = server.connect_pool(&control_db).await?;
    let lock = MigrationLock::acquire(server).await?;
    let result = bootstrap_locked(server, &control, tenant_database_prefix, default_hosts).await;
    lock.release().await?;
    result.map(|()| control)
}

async fn bootstrap_locked(
    server: &DatabaseServer,
    control: &PgPool,
    prefix: &str,
    default_hosts: &[HostName],
) -> Result<(), ProvisionError> {
    migrate(control, &CONTROL_MIGRATIONS, server.control_database()).await?;
    let tenants = store::list_tenants(control).await?;
    if tenants.is_empty() {
        let default = NewTenant {
            slug: TenantSlug(TenantSlug::DEFAULT.to_owned()),
            display_name: "Haven".to_owned(),
            hosts: default_hosts.to_vec(),
        };
        let record = register(control, prefix, &default).await?;
        bring_up(server, control, &record).await?;
        tracing::info!(tenant = %record.slug, "created the default tenant");
        return Ok(());
    }
    for tenant in tenants.iter().filter(|t| t.status != TenantStatus::Suspended) {
        bring_up(server, control, tenant).await?;
    }
    Ok(())
}

/// Registers a tenant and creates and migrates its database. A tenant left half-made by
/// an interrupted run is finished by the next start.
pub async fn provision(
    server: &DatabaseServer,
    control: &PgPool,
    prefix: &str,
    new: &NewTenant,
) -> Result<TenantRecord, ProvisionError> {
    let lock = MigrationLock::acquire(server).await?;
    let result = async {
        let record = register(control, prefix, new).await?;
        bring_up(server, control, &record).await?;
        Ok(TenantRecord {
            status: TenantStatus::Active,
            ..record
        })
    }
    .await;
    lock.release().await?;
    result
}

async fn register(control: &PgPool, prefix: &str, new: &NewTenant) -> Result<TenantRecord, ProvisionError> {
    let database_name = format!("{prefix}{}", new.slug.as_str().replace('-', "_"));
    if DatabaseName::parse(&database_name).is_none() {
        return Err(ProvisionError::BadDatabaseName(database_name));
    }
    let modules: Vec<String> = SWITCHABLE_MODULES.iter().map(|m| (*m).to_owned()).collect();
    let id = Uuid::now_v7();
    let mut tx = control.begin().await?;
    store::insert_tenant(
        &mut tx,
        &TenantInsert {
            id,
            slug: &new.slug,
            display_name: &new.display_name,
            database_name: &database_name,
            enabled_modules: &modules,
        },
    )
    .await
    .map_err(|err| unique_violation(err, new))?;
    for host in &new.hosts {
        store::insert_host(&mut tx, id, host.as_str())
            .await
            .map_err(|err| match unique_violation(err, new) {
                ProvisionError::Database(_) | ProvisionError::HostTaken(_) => {
                    ProvisionError::HostTaken(host.as_str().to_owned())
                }
                other => other,
            })?;
    }
    tx.commit().await?;
    Ok(TenantRecord {
        id,
        slug: new.slug.clone(),
        display_name: new.display_name.clone(),
        database_name,
        hosts: new.hosts.iter().map(|h| h.as_str().to_owned()).collect(),
        enabled_modules: modules,
        status: TenantStatus::Provisioning,
    })
}

/// Puts a restored organisation in the registry under `record`'s id, slug, database and
/// host names (a host another organisation has is left to it), replacing any entry with
/// that id or slug; migrates its database to this version and marks it active. Returns
/// the host names it got.
pub async fn adopt(
    server: &DatabaseServer,
    control: &PgPool,
    record: &TenantRecord,
) -> Result<Vec<String>, ProvisionError> {
    let lock = MigrationLock::acquire(server).await?;
    let result = async {
        let mut tx = control.begin().await?;
        store::delete_tenant(&mut tx, record.id, &record.slug).await?;
        store::insert_tenant(
            &mut tx,
            &TenantInsert {
                id: record.id,
                slug: &record.slug,
                display_name: &record.display_name,
                database_name: &record.database_name,
                enabled_modules: &record.enabled_modules,
            },
        )
        .await?;
        let mut hosts = Vec::new();
        for host in &record.hosts {
            if store::insert_host_if_free(&mut tx, record.id, host).await? {
                hosts.push(host.clone());
            }
        }
        tx.commit().await?;
        let provisioning = TenantRecord {
            status: TenantStatus::Provisioning,
            ..record.clone()
        };
        bring_up(server, control, &provisioning).await?;
        Ok(hosts)
    }
    .await;
    lock.release().await?;
    result
}

/// Stops serving an organisation: every instance drops it from its directory at once.
pub async fn suspend(control: &PgPool, tenant_id: Uuid) -> Result<(), ProvisionError> {
    let mut tx = control.begin().await?;
    store::set_status(&mut *tx, tenant_id, TenantStatus::Suspended).await?;
    store::notify_change(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

fn unique_violation(err: sqlx::Error, new: &NewTenant) -> ProvisionError {
    if let sqlx::Error::Database(db_err) = &err
        && db_err.is_unique_violation()
    {
        return match db_err.constraint() {
            Some("tenant_hosts_pkey") => ProvisionError::HostTaken(String::new()),
            _ => ProvisionError::SlugTaken(new.slug.to_string()),
        };
    }
    err.into()
}

/// Creates the tenant's database if missing, migrates it, and marks the tenant active.
async fn bring_up(server: &DatabaseServer, control: &PgPool, tenant: &TenantRecord) -> Result<(), ProvisionError> {
    let database = DatabaseName::parse(&tenant.database_name)
        .ok_or_else(|| ProvisionError::BadDatabaseName(tenant.database_name.clone()))?;
    if server.ensure_database(&database).await? {
        tracing::info!(tenant = %tenant.slug, "created the tenant database");
    }
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(server.options(&database))
        .await
        .map_err(|source| DatabaseError::Connect {
            database: database.to_string(),
            source,
        })?;
    migrate(&pool, &TENANT_MIGRATIONS, &database).await?;
    pool.close().await;
    if tenant.status == TenantStatus::Provisioning {
        let mut tx = control.begin().await?;
        store::set_status(&mut *tx, tenant.id, TenantStatus::Active).await?;
        store::notify_change(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}
