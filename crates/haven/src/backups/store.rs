//! The queries backups make on an organisation's database: the facts of one snapshot
//! (tables with their counts and checksums, migrations, the audit head, data keys,
//! documents), read in the transaction whose snapshot `pg_dump` shares. The same
//! checksum query runs on a restored copy, so the two are compared like for like.

use futures_util::future::BoxFuture;
use sqlx::{Connection as _, PgConnection, Row as _};

/// A query's future, boxed: `Send` by its type. (Across awaits on a borrowed
/// `&mut PgConnection` the compiler cannot otherwise prove a job's future `Send` for
/// every lifetime.)
pub type Boxed<'a, T> = BoxFuture<'a, Result<T, sqlx::Error>>;

use super::contents::TableSum;

/// Session settings that fix how rows print, so a row's text (and so its checksum) is the
/// same on the server that made the backup and the one that restores it.
const STABLE_TEXT: [&str; 5] = [
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
];

/// Opens a read-only snapshot and exports it for `pg_dump --snapshot`. The snapshot
/// lives as long as the transaction: keep the connection until the dump is done.
pub fn begin_snapshot(conn: &mut PgConnection) -> Boxed<'_, String> {
    Box::pin(async move {
        for setting in STABLE_TEXT {
            sqlx::query(setting).execute(&mut *conn).await?;
        }
        sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *conn)
            .await?;
        sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *conn)
            .await
    })
}

/// Ends the snapshot's transaction.
pub fn end_snapshot(mut conn: PgConnection) -> Boxed<'static, ()> {
    Box::pin(async move {
        sqlx::query("COMMIT").execute(&mut conn).await?;
        conn.close().await
    })
}

/// Prepares a connection to a restored copy for [`table_sums`].
pub fn stable_text(conn: &mut PgConnection) -> Boxed<'_, ()> {
    Box::pin(async move {
        for setting in STABLE_TEXT {
            sqlx::query(setting).execute(&mut *conn).await?;
        }
        Ok(())
    })
}

/// Every table of the public schema, with its row count and checksum, by name.
pub fn table_sums(conn: &mut PgConnection) -> Boxed<'_, Vec<TableSum>> {
    Box::pin(async move {
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
    })
}

/// The tenant migrations applied, by version.
pub fn migrations(conn: &mut PgConnection) -> Boxed<'_, Vec<i64>> {
    Box::pin(async move {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(conn)
            .await
    })
}

/// The data keys sealed values may name.
pub fn data_keys(conn: &mut PgConnection) -> Boxed<'_, Vec<i32>> {
    Box::pin(async move {
        sqlx::query_scalar("SELECT id FROM data_keys ORDER BY id")
            .fetch_all(conn)
            .await
    })
}

/// A stored document: its object key and target.
pub struct StoredObject {
    pub key: String,
    pub target: String,
}

pub fn documents(conn: &mut PgConnection) -> Boxed<'_, Vec<StoredObject>> {
    Box::pin(async move {
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
    })
}

/// Whether every client is `hipaa_exempt` (so a backup holds exempt records only).
pub fn every_client_exempt(conn: &mut PgConnection) -> Boxed<'_, bool> {
    Box::pin(async move {
        sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM clients WHERE NOT hipaa_exempt)")
            .fetch_one(conn)
            .await
    })
}

/// Up to `limit` sealed values of `table.column`, with their rows' ids (names declared by
/// the modules, never input).
pub fn sealed_sample<'a>(
    conn: &'a mut PgConnection,
    table: &'a str,
    column: &'a str,
    limit: i64,
) -> Boxed<'a, Vec<(uuid::Uuid, Vec<u8>)>> {
    Box::pin(async move {
        let sql = format!("SELECT id, {column} AS sealed FROM {table} WHERE {column} IS NOT NULL LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit).fetch_all(conn).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("sealed")?)))
            .collect()
    })
}

/// Where each document is stored, and whether its record is `hipaa_exempt`.
pub fn document_places(conn: &mut PgConnection) -> Boxed<'_, Vec<(String, crate::compliance::storage::Target, bool)>> {
    Box::pin(async move {
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
    })
}

/// The organisation's settings, read on this connection (in the snapshot).
pub fn settings(conn: &mut PgConnection) -> Boxed<'_, crate::organisation::OrganisationSettings> {
    Box::pin(crate::organisation::store::load(conn))
}

/// The audit chain's head, read on this connection.
pub fn audit_head(conn: &mut PgConnection) -> Boxed<'_, (i64, crate::compliance::audit::Hash)> {
    Box::pin(crate::compliance::audit::head(conn))
}

/// The latest signed checkpoint, read on this connection.
pub fn latest_checkpoint(conn: &mut PgConnection) -> Boxed<'_, Option<crate::compliance::audit::Checkpoint>> {
    Box::pin(crate::compliance::audit::latest_checkpoint(conn))
}
