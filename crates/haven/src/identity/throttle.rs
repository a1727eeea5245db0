//! Sign-in throttling. Attempts are counted per account name (whether or not such an
//! account exists, so a lock reveals nothing) and per client address (an IPv6 client by
//! its /64, which one household or office holds whole), in the tenant database so that
//! every Haven instance sees the same counts.
//!
//! An attempt is counted before the password or code is checked, in one atomic
//! statement, so a burst of concurrent guesses gets no more than the threshold between
//! them: the rest are refused before any hashing. A success is then checked against the
//! lock again (a burst's later guesses may have set it meanwhile) and refunded.

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
            Self::Address(ip) => match ip.to_canonical() {
                IpAddr::V6(v6) => {
                    let s = v6.segments();
                    digest(&format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
                IpAddr::V4(v4) => digest(&format!("address:{v4}")),
            },
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

/// What counting an attempt decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Within the threshold: check the password or code.
    Allowed,
    /// Refused without checking anything; `newly` when this attempt set the lock.
    Locked { until: DateTime<Utc>, newly: bool },
}

/// Counts an attempt on `key` before anything is checked, atomically: the first
/// `threshold` attempts of a window are allowed, the next one locks `key` for `window`,
/// and a locked key counts nothing more until the lock ends.
pub async fn attempt(
    db: impl PgExecutor<'_>,
    key: &ThrottleKey,
    now: DateTime<Utc>,
    threshold: i32,
    window: TimeDelta,
) -> Result<Attempt, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        INSERT INTO login_throttle AS t (key_hash, failures, window_started_at, locked_until)
        VALUES ($1, 1, $2, CASE WHEN 1 > $4 THEN $5::timestamptz END)
        ON CONFLICT (key_hash) DO UPDATE SET
            failures = CASE
                WHEN t.locked_until > $2 THEN t.failures
                WHEN t.window_started_at < $3 THEN 1
                ELSE t.failures + 1 END,
            window_started_at = CASE
                WHEN t.locked_until > $2 THEN t.window_started_at
                WHEN t.window_started_at < $3 THEN $2
                ELSE t.window_started_at END,
            locked_until = CASE
                WHEN t.locked_until > $2 THEN t.locked_until
                WHEN (CASE WHEN t.window_started_at < $3 THEN 1 ELSE t.failures + 1 END) > $4 THEN $5
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
    Ok(match row.locked_until.filter(|until| *until > now) {
        Some(until) => Attempt::Locked {
            until,
            newly: until == now + window && row.failures == threshold + 1,
        },
        None => Attempt::Allowed,
    })
}

/// Gives back one counted attempt (a success from an address: it was not a guess).
pub async fn refund(db: impl PgExecutor<'_>, key: &ThrottleKey) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key_hash = $1",
        &key.hash()[..]
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets `key`'s failures (a successful sign-in, or an administrator's unlock).
pub async fn clear(db: impl PgExecutor<'_>, key: &ThrottleKey) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM login_throttle WHERE key_hash = $1", &key.hash()[..])
        .execute(db)
        .await?;
    Ok(())
}
