//! The calendar feeds' queries: who owns a secret, issuing and withdrawing it, and the
//! appointments a feed shows.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

pub use super::feeds::FeedEvent;
use crate::identity::UserId;

/// The active staff member whose feed has this secret hash.
pub async fn owner(db: impl PgExecutor<'_>, secret_hash: &[u8]) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT f.user_id FROM calendar_feeds f JOIN users u ON u.id = f.user_id
         WHERE f.secret_hash = $1 AND u.status = 'active'",
        secret_hash
    )
    .fetch_optional(db)
    .await
}

/// A clinician's appointments starting from `from` until `until`.
pub async fn events_for(
    db: impl PgExecutor<'_>,
    user: UserId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<FeedEvent>, sqlx::Error> {
    sqlx::query_as!(
        FeedEvent,
        r#"
        SELECT a.id, a.starts_at, a.ends_at, a.status, a.place, r.name AS "room_name?", a.sequence,
               a.created_at, a.updated_at
        FROM appointments a LEFT JOIN rooms r ON r.id = a.room_id
        WHERE (a.clinician_id = $1 OR a.co_facilitator_id = $1)
          AND a.starts_at >= $2 AND a.starts_at < $3
        ORDER BY a.starts_at, a.id
        "#,
        user as _,
        from,
        until
    )
    .fetch_all(db)
    .await
}

/// Makes the feed, or replaces its secret; `true` when it replaced one.
pub async fn issue(
    conn: &mut PgConnection,
    user: UserId,
    secret_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        INSERT INTO calendar_feeds (user_id, secret_hash, created_at) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET secret_hash = excluded.secret_hash, created_at = excluded.created_at
        RETURNING (xmax <> 0) AS "replaced!"
        "#,
        user as _,
        secret_hash,
        now
    )
    .fetch_one(conn)
    .await
}

/// Ends the feed; `false` when there was none.
pub async fn withdraw(conn: &mut PgConnection, user: UserId) -> Result<bool, sqlx::Error> {
    let gone = sqlx::query!("DELETE FROM calendar_feeds WHERE user_id = $1", user as _)
        .execute(conn)
        .await?;
    Ok(gone.rows_affected() > 0)
}

/// Since when the feed exists, if it does.
pub async fn since(db: impl PgExecutor<'_>, user: UserId) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!("SELECT created_at FROM calendar_feeds WHERE user_id = $1", user as _)
        .fetch_optional(db)
        .await
}
