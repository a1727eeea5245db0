//! The queries backups make on an organisation's database: the facts of one snapshot
//! (tables with their counts and checksums, migrations, the audit head, data keys,
//! documents), read in the transaction whose snapshot `pg_dump` shares. The same
//! checksum query runs on a restored copy, so the two are compared like for like.

use sqlx::{Connection as _, PgConnection, Row as _};

use super::contents::TableSum;

/// Session settings that fix how rows print, so a row's text (and so its checksum) is the
/// same on the server that made the backup and the one that restores it.
const STABLE_TEXT: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex'";

/// Opens a read-only snapshot and exports it for `pg_dump --snapshot`. The snapshot
/// lives as long as the transaction: keep the connection until the dump is done.
pub async fn begin_snapshot(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    sqlx::raw_sql(STABLE_TEXT).execute(&mut *conn).await?;
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut *conn)
        .await
}

/// Ends the snapshot's transaction.
pub async fn end_snapshot(mut conn: PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
    conn.close().await
}

/// Prepares a connection to a restored copy for [`table_sums`].
pub async fn stable_text(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(STABLE_TEXT).execute(conn).await?;
    Ok(())
}

/// Every table of the public schema, with its row count and checksum, by name.
pub async fn table_sums(conn: &mut PgConnection) -> Result<Vec<TableSum>, sqlx::Error> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&mut *conn)
            .await?;
    let mut sums = Vec::with_capacity(names.len());
    for name in names {
        // Names come from the catalogue; quoting keeps any of them one identifier.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let sql = format!(
            "SELECT count(*) AS rows, coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text AS sum FROM {quoted} t"
        );
        let row = sqlx::query(&sql).fetch_one(&mut *conn).await?;
        sums.push(TableSum {
            name,
            rows: row.try_get("rows")?,
            sum: row.try_get("sum")?,
        });
    }
    Ok(sums)
}

/// The tenant migrations applied, by version.
pub async fn migrations(conn: &mut PgConnection) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(conn)
        .await
}

/// The data keys sealed values may name.
pub async fn data_keys(conn: &mut PgConnection) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM data_keys ORDER BY id")
        .fetch_all(conn)
        .await
}

/// A stored document: its object key and target.
pub struct StoredObject {
    pub key: String,
    pub target: String,
}

pub async fn documents(conn: &mut PgConnection) -> Result<Vec<StoredObject>, sqlx::Error> {
    let rows = sqlx::query("SELECT object_key, target FROM documents ORDER BY object_key")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredObject {
                key: row.try_get("object_key")?,
                target: row.try_get("target")?,
            })
        })
        .collect()
}

/// Whether every client is `hipaa_exempt` (so a backup holds exempt records only).
pub async fn every_client_exempt(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM clients WHERE NOT hipaa_exempt)")
        .fetch_one(conn)
        .await
}

/// Up to `limit` sealed values of `table.column`, with their rows' ids (names declared by
/// the modules, never input).
pub async fn sealed_sample(
    conn: &mut PgConnection,
    table: &str,
    column: &str,
    limit: i64,
) -> Result<Vec<(uuid::Uuid, Vec<u8>)>, sqlx::Error> {
    let sql = format!("SELECT id, {column} AS sealed FROM {table} WHERE {column} IS NOT NULL LIMIT $1");
    let rows = sqlx::query(&sql).bind(limit).fetch_all(conn).await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("sealed")?)))
        .collect()
}

/// Where each document is stored, and whether its record is `hipaa_exempt`.
pub async fn document_places(
    conn: &mut PgConnection,
) -> Result<Vec<(String, crate::compliance::storage::Target, bool)>, sqlx::Error> {
    let rows = sqlx::query("SELECT object_key, target, hipaa_exempt FROM documents")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let target: String = row.try_get("target")?;
            let target = crate::compliance::storage::Target::parse(&target)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown storage target {target}").into()))?;
            Ok((row.try_get("object_key")?, target, row.try_get("hipaa_exempt")?))
        })
        .collect()
}
