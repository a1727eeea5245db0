//! Personal API tokens: for scripts and integrations acting as a person. Scoped (a token
//! can do less than its owner, never more), expiring, shown once, stored as a hash.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};

use super::token_cache::{TokenCache, Verified};
use super::{User, UserId, UserStatus, secret, store};

pub const PREFIX: &str = "hvn_";
pub const MAX_DAYS: i64 = 365;
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(60);

crate::typed_id!(
    /// A personal API token.
    TokenId
);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenSummary {
    pub id: TokenId,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token as authentication sees it.
#[derive(Debug, Clone)]
pub struct TokenIdentity {
    pub id: TokenId,
    pub user: User,
    pub scopes: Vec<String>,
}

pub async fn create(
    db: impl PgExecutor<'_>,
    user: UserId,
    name: &str,
    scopes: &[String],
    now: DateTime<Utc>,
    lifetime: TimeDelta,
) -> Result<(TokenId, String, DateTime<Utc>), sqlx::Error> {
    let issued = secret::issue(PREFIX).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let id = TokenId::new();
    let expires_at = now + lifetime;
    sqlx::query!(
        r#"
        INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        "#,
        id.0,
        user.0,
        name,
        &issued.hash[..],
        scopes,
        now,
        expires_at,
    )
    .execute(db)
    .await?;
    Ok((id, issued.value, expires_at))
}

pub async fn list_live(
    db: impl PgExecutor<'_>,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<TokenSummary>, sqlx::Error> {
    sqlx::query_as!(
        TokenSummary,
        r#"
        SELECT id AS "id: TokenId", name, scopes, created_at, expires_at, last_used_at FROM api_tokens
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
        ORDER BY created_at DESC
        "#,
        user.0,
        now
    )
    .fetch_all(db)
    .await
}

/// Revokes every live token of `user` (account recovery: a password change or reset, or
/// a reset second factor); returns how many.
pub async fn revoke_all(db: impl PgExecutor<'_>, user: UserId, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let revoked = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        user.0,
        now
    )
    .execute(db)
    .await?;
    Ok(revoked.rows_affected())
}

/// Revokes one of `user`'s tokens; `false` if there is no such live token.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    user: UserId,
    id: TokenId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        id.0,
        user.0,
        now
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The live token behind `bearer`, with its active owner: from `cache` when it was
/// verified a moment ago, else from the database (and then kept).
pub async fn authenticate(
    pool: &PgPool,
    cache: &TokenCache,
    bearer: &str,
    now: DateTime<Utc>,
) -> Result<Option<TokenIdentity>, sqlx::Error> {
    if !bearer.starts_with(PREFIX) {
        return Ok(None);
    }
    let digest = secret::digest(bearer);
    let began = cache.generation();
    let verified = if let Some(verified) = cache.get(&digest, now) {
        verified
    } else {
        let Some(row) = store::find_by_token(pool, &digest[..], now).await? else {
            return Ok(None);
        };
        let (token, user) = row.split();
        let user = User::try_from(user)?;
        if user.status != UserStatus::Active {
            return Ok(None);
        }
        let verified = Verified {
            identity: TokenIdentity {
                id: TokenId(token.id),
                user,
                scopes: token.scopes,
            },
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
        };
        cache.keep(began, digest, verified.clone());
        verified
    };
    if verified.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        sqlx::query!(
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
            verified.identity.id.0,
            now
        )
        .execute(pool)
        .await?;
        cache.keep(
            began,
            digest,
            Verified {
                last_used_at: Some(now),
                ..verified.clone()
            },
        );
    }
    Ok(Some(verified.identity))
}
