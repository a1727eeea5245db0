//! One-time links sent by email: invitations and password resets. Only the link's hash
//! is stored; a link works once and expires.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{UserId, secret};

pub const INVITATION_VALID_FOR: TimeDelta = TimeDelta::days(7);
pub const RESET_VALID_FOR: TimeDelta = TimeDelta::hours(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::Invitation => "inv_",
            Self::PasswordReset => "rst_",
        }
    }

    pub fn valid_for(self) -> TimeDelta {
        match self {
            Self::Invitation => INVITATION_VALID_FOR,
            Self::PasswordReset => RESET_VALID_FOR,
        }
    }
}

/// Issues a link token, replacing any unused one of the same purpose for `user`.
pub async fn issue(
    conn: &mut PgConnection,
    user: UserId,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let issued = secret::issue(purpose.prefix()).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    sqlx::query!(
        "DELETE FROM email_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user.0,
        purpose.as_str()
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"
        INSERT INTO email_tokens (id, user_id, purpose, token_hash, created_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        "#,
        Uuid::now_v7(),
        user.0,
        purpose.as_str(),
        &issued.hash[..],
        now,
        now + purpose.valid_for(),
    )
    .execute(conn)
    .await?;
    Ok(issued.value)
}

/// The account a live token of `purpose` belongs to, and the token's row.
pub async fn check(
    db: impl PgExecutor<'_>,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<(Uuid, UserId)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        SELECT id, user_id FROM email_tokens
        WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
        "#,
        &secret::digest(token)[..],
        purpose.as_str(),
        now
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, UserId(r.user_id))))
}

/// Uses the token once; `false` if it was used meanwhile.
pub async fn consume(db: impl PgExecutor<'_>, id: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE email_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
        id,
        now
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}
