//! Server-side sessions. The browser holds a random token in an HttpOnly cookie; the
//! database holds only its SHA-256. A session ends when its owner signs out, after the
//! organisation's idle timeout, at its absolute lifetime, when revoked, when the account
//! is disabled, or when the password is reset.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};

use super::store::{self, SecuritySettings};
use super::{User, UserId};

/// Skip the write when the last one is this recent: idle timeouts are whole minutes.
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    SignedOut,
    SignedOutEverywhere,
    Revoked,
    UserDisabled,
    PasswordReset,
    Idle,
    Expired,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedOut => "signed_out",
            Self::SignedOutEverywhere => "signed_out_everywhere",
            Self::Revoked => "revoked",
            Self::UserDisabled => "user_disabled",
            Self::PasswordReset => "password_reset",
            Self::Idle => "idle",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorKind {
    Totp,
    RecoveryCode,
}

impl SecondFactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

crate::typed_id!(
    /// A signed-in session (one device).
    SessionId
);

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user: User,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub second_factor_at: Option<DateTime<Utc>>,
    pub settings: SecuritySettings,
}

/// What a session token turned out to be.
#[derive(Debug)]
pub enum Lookup {
    Live(Box<Session>),
    /// Unknown, ended, or just ended now for idleness or age.
    Gone,
}

/// A session as listed on the "your sessions" page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionSummary {
    pub id: SessionId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub device: Option<String>,
    pub second_factor: bool,
}

pub struct NewSession<'a> {
    pub user: UserId,
    pub token_hash: &'a [u8; 32],
    pub now: DateTime<Utc>,
    pub lifetime: TimeDelta,
    pub client_ip: Option<String>,
    pub device: Option<String>,
}

pub async fn create(db: impl PgExecutor<'_>, new: &NewSession<'_>) -> Result<SessionId, sqlx::Error> {
    let id = SessionId::new();
    sqlx::query!(
        r#"
        INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, client_ip, device)
        VALUES ($1, $2, $3, $4, $4, $5, $6, $7)
        "#,
        id.0,
        &new.token_hash[..],
        new.user.0,
        new.now,
        new.now + new.lifetime,
        new.client_ip,
        new.device,
    )
    .execute(db)
    .await?;
    Ok(id)
}

/// Finds the live session of `token_hash`, ending it first if it has gone idle or
/// reached its lifetime, and noting that it was used.
pub async fn lookup(pool: &PgPool, token_hash: &[u8; 32], now: DateTime<Utc>) -> Result<Lookup, sqlx::Error> {
    // One round trip: the session, its account (roles, second factor) and the rules. The
    // rules are the organisation module's row, read here rather than through its cache so
    // a changed idle timeout or lifetime applies to the very next request everywhere.
    let Some(row) = sqlx::query!(
        r#"
        SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.second_factor_at,
               o.idle_timeout_minutes, o.session_lifetime_hours, o.require_two_factor,
               o.lockout_threshold, o.lockout_minutes, o.grants_need_approval,
               u.email::text AS "email!", u.display_name, u.status, u.password_hash, u.supervisor_id,
               u.is_trainee,
               coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_roles r WHERE r.user_id = u.id), '{}')
                   AS "roles!",
               EXISTS (SELECT 1 FROM user_second_factors f WHERE f.user_id = u.id AND f.confirmed_at IS NOT NULL)
                   AS "has_second_factor!"
        FROM sessions s
        JOIN users u ON u.id = s.user_id
        CROSS JOIN organisation_settings o
        WHERE s.token_hash = $1 AND s.ended_at IS NULL
        "#,
        &token_hash[..]
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(Lookup::Gone);
    };
    let settings = SecuritySettings {
        idle_timeout_minutes: row.idle_timeout_minutes,
        session_lifetime_hours: row.session_lifetime_hours,
        require_two_factor: row.require_two_factor,
        lockout_threshold: row.lockout_threshold,
        lockout_minutes: row.lockout_minutes,
        grants_need_approval: row.grants_need_approval,
    };
    if now >= row.expires_at {
        end(pool, SessionId(row.id), EndReason::Expired, now).await?;
        return Ok(Lookup::Gone);
    }
    if now >= row.last_seen_at + TimeDelta::minutes(i64::from(settings.idle_timeout_minutes)) {
        end(pool, SessionId(row.id), EndReason::Idle, now).await?;
        return Ok(Lookup::Gone);
    }
    let user = User::try_from(store::UserRow {
        id: row.user_id,
        email: row.email,
        display_name: row.display_name,
        status: row.status,
        password_hash: row.password_hash,
        supervisor_id: row.supervisor_id,
        is_trainee: row.is_trainee,
        roles: row.roles,
        has_second_factor: row.has_second_factor,
    })?;
    if user.status != super::UserStatus::Active {
        end(pool, SessionId(row.id), EndReason::UserDisabled, now).await?;
        return Ok(Lookup::Gone);
    }
    if now - row.last_seen_at >= TOUCH_EVERY {
        sqlx::query!(
            "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND ended_at IS NULL",
            row.id,
            now
        )
        .execute(pool)
        .await?;
    }
    Ok(Lookup::Live(Box::new(Session {
        id: SessionId(row.id),
        user,
        created_at: row.created_at,
        expires_at: row.expires_at,
        second_factor_at: row.second_factor_at,
        settings,
    })))
}

/// Ends one session; `false` if it was not live.
pub async fn end(
    db: impl PgExecutor<'_>,
    id: SessionId,
    reason: EndReason,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL",
        id.0,
        now,
        reason.as_str()
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Ends one of `user`'s sessions; `false` if it is not theirs or not live.
pub async fn end_own(
    db: impl PgExecutor<'_>,
    user: UserId,
    id: SessionId,
    reason: EndReason,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE sessions SET ended_at = $3, end_reason = $4 WHERE id = $1 AND user_id = $2 AND ended_at IS NULL",
        id.0,
        user.0,
        now,
        reason.as_str()
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Ends every live session of `user` but `keep`; returns how many ended.
pub async fn end_all(
    db: impl PgExecutor<'_>,
    user: UserId,
    keep: Option<SessionId>,
    reason: EndReason,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        UPDATE sessions SET ended_at = $3, end_reason = $4
        WHERE user_id = $1 AND ended_at IS NULL AND ($2::uuid IS NULL OR id <> $2)
        "#,
        user.0,
        keep.map(|k| k.0),
        now,
        reason.as_str()
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

pub async fn live_for_user(db: impl PgExecutor<'_>, user: UserId) -> Result<Vec<SessionSummary>, sqlx::Error> {
    sqlx::query_as!(
        SessionSummary,
        r#"
        SELECT id AS "id: SessionId", created_at, last_seen_at, expires_at, client_ip, device,
               second_factor_at IS NOT NULL AS "second_factor!"
        FROM sessions WHERE user_id = $1 AND ended_at IS NULL
        ORDER BY last_seen_at DESC
        "#,
        user.0
    )
    .fetch_all(db)
    .await
}

pub async fn mark_second_factor(
    db: impl PgExecutor<'_>,
    id: SessionId,
    kind: SecondFactorKind,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE sessions SET second_factor_at = $2, second_factor_kind = $3 WHERE id = $1",
        id.0,
        now,
        kind.as_str()
    )
    .execute(db)
    .await?;
    Ok(())
}
