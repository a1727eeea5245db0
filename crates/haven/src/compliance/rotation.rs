//! Key rotation (`haven keys rotate`): a new data key becomes the active one, then every
//! sealed value still under an older key is opened and sealed again under it, in small
//! committed batches; each value names its key, so an interrupted rotation resumes where
//! it stopped. Keys nothing names any more are retired. Documents' contents are not
//! rewritten: each has its own key, sealed under the data key, and that is what moves.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row as _};
use uuid::Uuid;

use super::sealing::{self, Keyring, SealError};

/// A sealed column: table, column, and the associated-data prefix it was sealed with
/// (the row's id follows). Fixed names declared by the modules, never input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
    pub context: &'static str,
}

impl SealedColumn {
    pub const fn new(table: &'static str, column: &'static str, context: &'static str) -> Self {
        Self { table, column, context }
    }
}

const BATCH: i64 = 200;

/// How many sealed values each data key seals, newest key first.
pub async fn usage(pool: &PgPool, sealed: &[SealedColumn]) -> Result<Vec<(i32, i64, bool)>, sqlx::Error> {
    let mut counts: std::collections::BTreeMap<i32, i64> = std::collections::BTreeMap::new();
    for SealedColumn { table, column, .. } in sealed {
        let sql = format!(
            "SELECT sealed_key_id({column}) AS key, count(*) AS n FROM {table} WHERE {column} IS NOT NULL GROUP BY 1"
        );
        for row in sqlx::query(&sql).fetch_all(pool).await? {
            *counts.entry(row.try_get::<i32, _>("key")?).or_default() += row.try_get::<i64, _>("n")?;
        }
    }
    let keys = sqlx::query!("SELECT id, retired_at IS NOT NULL AS \"retired!\" FROM data_keys ORDER BY id DESC")
        .fetch_all(pool)
        .await?;
    Ok(keys
        .into_iter()
        .map(|k| (k.id, counts.get(&k.id).copied().unwrap_or(0), k.retired))
        .collect())
}

/// Values not yet under `active`.
pub async fn remaining(pool: &PgPool, sealed: &[SealedColumn], active: i32) -> Result<i64, sqlx::Error> {
    let mut total = 0;
    for SealedColumn { table, column, .. } in sealed {
        let sql = format!("SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND sealed_key_id({column}) <> $1");
        total += sqlx::query_scalar::<_, i64>(&sql).bind(active).fetch_one(pool).await?;
    }
    Ok(total)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub key: i32,
    /// Continued an interrupted rotation rather than making a key.
    pub resumed: bool,
    pub resealed: u64,
    pub retired: Vec<i32>,
}

/// Makes a new data key (or, when values under older keys remain from an interrupted
/// rotation, keeps going with the active one), re-seals everything under it, then
/// retires the keys nothing names. `progress` hears the total first, then each batch.
pub async fn rotate(
    pool: &PgPool,
    sealed: &[SealedColumn],
    ring: &Keyring,
    now: DateTime<Utc>,
    progress: &dyn Fn(u64, u64),
) -> Result<Rotation, SealError> {
    // Keys of the first format are re-wrapped to name their organisation first.
    ring.bind_legacy_keys(pool).await?;
    let (key, resumed) = match sealing::active_key(pool).await? {
        Some(active) if remaining(pool, sealed, active).await? > 0 => (active, true),
        _ => (ring.new_data_key(pool, now).await?, false),
    };
    let total = u64::try_from(remaining(pool, sealed, key).await?).unwrap_or(0);
    progress(total, 0);
    let mut resealed = 0u64;
    for SealedColumn { table, column, context } in sealed {
        loop {
            let select = format!(
                "SELECT id, {column} AS sealed FROM {table} WHERE {column} IS NOT NULL AND sealed_key_id({column}) <> $1 LIMIT $2"
            );
            let rows = sqlx::query(&select).bind(key).bind(BATCH).fetch_all(pool).await?;
            if rows.is_empty() {
                break;
            }
            let mut tx = pool.begin().await?;
            // Signed notes accept a new seal of the same content only when this says so.
            sqlx::query("SELECT set_config('haven.resealing', 'on', true)")
                .execute(&mut *tx)
                .await?;
            let update = format!("UPDATE {table} SET {column} = $2 WHERE id = $1 AND {column} = $3");
            for row in &rows {
                let id: Uuid = row.try_get("id")?;
                let old: Vec<u8> = row.try_get("sealed")?;
                let context = format!("{context}:{id}");
                let new = ring.reseal(pool, &old, &context, key).await?;
                sqlx::query(&update)
                    .bind(id)
                    .bind(&new)
                    .bind(&old)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            resealed += rows.len() as u64;
            progress(total, resealed);
        }
    }
    // A key is retired only once nothing names it (a write that raced the pass keeps
    // its key in service until the next rotation).
    let unused: Vec<i32> = usage(pool, sealed)
        .await?
        .into_iter()
        .filter(|(id, count, retired)| *id != key && *count == 0 && !*retired)
        .map(|(id, _, _)| id)
        .collect();
    let retired = sqlx::query_scalar!(
        "UPDATE data_keys SET retired_at = $2 WHERE id = ANY($1) AND retired_at IS NULL RETURNING id",
        &unused,
        now
    )
    .fetch_all(pool)
    .await?;
    Ok(Rotation {
        key,
        resumed,
        resealed,
        retired,
    })
}
