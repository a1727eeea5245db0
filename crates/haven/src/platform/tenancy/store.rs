//! Queries on the control database's tenant registry.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{TenantRecord, TenantSlug, TenantStatus};

pub async fn list_tenants(db: impl PgExecutor<'_>) -> Result<Vec<TenantRecord>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT t.id, t.slug, t.display_name, t.database_name, t.enabled_modules,
               t.status AS "status: TenantStatus",
               coalesce(array_agg(h.host ORDER BY h.host) FILTER (WHERE h.host IS NOT NULL), '{}') AS "hosts!"
        FROM tenants t
        LEFT JOIN tenant_hosts h ON h.tenant_id = t.id
        GROUP BY t.id
        ORDER BY t.created_at, t.slug
        "#
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let slug = TenantSlug::parse(&row.slug).map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok(TenantRecord {
                id: row.id,
                slug,
                display_name: row.display_name,
                database_name: row.database_name,
                hosts: row.hosts,
                enabled_modules: row.enabled_modules,
                status: row.status,
            })
        })
        .collect()
}

pub(super) struct TenantInsert<'a> {
    pub id: Uuid,
    pub slug: &'a TenantSlug,
    pub display_name: &'a str,
    pub database_name: &'a str,
    pub enabled_modules: &'a [String],
}

pub(super) async fn insert_tenant(conn: &mut PgConnection, tenant: &TenantInsert<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO tenants (id, slug, display_name, database_name, enabled_modules, status)
        VALUES ($1, $2, $3, $4, $5, 'provisioning')
        "#,
        tenant.id,
        tenant.slug.as_str(),
        tenant.display_name,
        tenant.database_name,
        tenant.enabled_modules,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_host(conn: &mut PgConnection, tenant_id: Uuid, host: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO tenant_hosts (host, tenant_id) VALUES ($1, $2)",
        host,
        tenant_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a host name unless another organisation has it; returns whether it was added.
pub(super) async fn insert_host_if_free(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    host: &str,
) -> Result<bool, sqlx::Error> {
    let added = sqlx::query!(
        "INSERT INTO tenant_hosts (host, tenant_id) VALUES ($1, $2) ON CONFLICT (host) DO NOTHING",
        host,
        tenant_id
    )
    .execute(conn)
    .await?;
    Ok(added.rows_affected() == 1)
}

/// Removes the registry entries with this id or slug (and their host names).
pub(super) async fn delete_tenant(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    slug: &TenantSlug,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM tenants WHERE id = $1 OR slug = $2",
        tenant_id,
        slug.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn set_status(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    status: TenantStatus,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE tenants SET status = $2, updated_at = now() WHERE id = $1",
        tenant_id,
        status as TenantStatus,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The channel on which registry changes are announced to every Haven instance.
pub const CHANGES_CHANNEL: &str = "haven_tenants";

/// Announces a registry change; delivered when the surrounding transaction commits.
pub(super) async fn notify_change(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_notify($1, '')", CHANGES_CHANNEL)
        .execute(db)
        .await?;
    Ok(())
}
