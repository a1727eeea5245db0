//! Sign-in throttling. Failures are counted per account name (whether or not such an
//! account exists, so a lock reveals nothing) and per client address, in the tenant
//! database so that every Haven instance sees the same counts.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgExecutor;

use super::secret::digest;

/// How many more failures an address may have than one account.
pub const ADDRESS_FACTOR: i32 = 10;

#[derive(Debug, Clone)]
pub enum ThrottleKey {
    Account(String),
    Address(IpAddr),
}

impl ThrottleKey {
    pub fn account(email: &str) -> Self {
        Self::Account(email.trim().to_lowercase())
    }

    fn hash(&self) -> [u8; 32] {
        match self {
            Self::Account(email) => digest(&format!("account:{email}")),
            Self::Address(ip) => digest(&format!("address:{}", ip.to_canonical())),
        }
    }
}

/// Until when `key` is locked, if it is.
pub async fn locked_until(
    db: impl PgExecutor<'_>,
    key: &ThrottleKey,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let until = sqlx::query_scalar!(
        "SELECT locked_until FROM login_throttle WHERE key_hash = $1",
        &key.hash()[..]
    )
    .fetch_optional(db)
    .await?
    .flatten();
    Ok(until.filter(|until| *until > now))
}

/// Counts a failure; returns the lock's end if this failure locked `key`.
pub async fn record_failure(
    db: impl PgExecutor<'_>,
    key: &ThrottleKey,
    now: DateTime<Utc>,
    threshold: i32,
    window: TimeDelta,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        INSERT INTO login_throttle AS t (key_hash, failures, window_started_at, locked_until)
        VALUES ($1, 1, $2, CASE WHEN $4 <= 1 THEN $5::timestamptz END)
        ON CONFLICT (key_hash) DO UPDATE SET
            failures = CASE WHEN t.window_started_at < $3 THEN 1 ELSE t.failures + 1 END,
            window_started_at = CASE WHEN t.window_started_at < $3 THEN $2 ELSE t.window_started_at END,
            locked_until = CASE
                WHEN (CASE WHEN t.window_started_at < $3 THEN 1 ELSE t.failures + 1 END) >= $4 THEN $5
                ELSE t.locked_until END
        RETURNING failures, locked_until
        "#,
        &key.hash()[..],
        now,
        now - window,
        threshold,
        now + window,
    )
    .fetch_one(db)
    .await?;
    Ok(row.locked_until.filter(|_| row.failures == threshold))
}

/// Forgets `key`'s failures (a successful sign-in, or an administrator's unlock).
pub async fn clear(db: impl PgExecutor<'_>, key: &ThrottleKey) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM login_throttle WHERE key_hash = $1", &key.hash()[..])
        .execute(db)
        .await?;
    Ok(())
}
