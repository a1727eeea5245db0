//! Service accounts: operators' automation on `/api/platform/*`, authenticated by a
//! short-lived JWT (EdDSA) signed with a key whose public half is registered here.
//! The JWT's header names the account (`kid`); its claims must have `aud` =
//! `haven-platform`, `iat`, and an `exp` at most 15 minutes after `iat`.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

pub const AUDIENCE: &str = "haven-platform";
/// Longer-lived tokens are refused: a leaked one is worth little.
pub const MAX_LIFETIME_SECS: i64 = 15 * 60;
pub const SCOPES: &[&str] = &["platform:read", "platform:write"];

#[derive(Debug, Clone, Serialize)]
pub struct ServiceAccount {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceAccountError {
    #[error("the token is not a valid service-account token: {0}")]
    Invalid(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
}

pub async fn create(
    db: impl PgExecutor<'_>,
    name: &str,
    public_key: &[u8; 32],
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO service_accounts (id, name, public_key, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
        id,
        name,
        &public_key[..],
        scopes,
        now
    )
    .execute(db)
    .await?;
    Ok(id)
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<ServiceAccount>, sqlx::Error> {
    sqlx::query_as!(
        ServiceAccount,
        "SELECT id, name, scopes, created_at, disabled_at FROM service_accounts ORDER BY name"
    )
    .fetch_all(db)
    .await
}

pub async fn disable(db: impl PgExecutor<'_>, name: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE service_accounts SET disabled_at = $2 WHERE name = $1 AND disabled_at IS NULL",
        name,
        now
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The enabled account whose key signed `token`, if the token is valid now.
pub async fn authenticate(
    db: impl PgExecutor<'_>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<ServiceAccount, ServiceAccountError> {
    let invalid = |why: &str| ServiceAccountError::Invalid(why.to_owned());
    let header = decode_header(token).map_err(|_| invalid("unreadable header"))?;
    if header.alg != Algorithm::EdDSA {
        return Err(invalid("the algorithm must be EdDSA"));
    }
    let id: Uuid = header
        .kid
        .as_deref()
        .and_then(|kid| kid.parse().ok())
        .ok_or_else(|| invalid("the header must name the account (kid)"))?;
    let Some(row) = sqlx::query!(
        "SELECT id, name, public_key, scopes, created_at, disabled_at FROM service_accounts WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await?
    else {
        return Err(invalid("unknown account"));
    };
    if row.disabled_at.is_some() {
        return Err(invalid("the account is disabled"));
    }
    let key = DecodingKey::from_ed_der(&row.public_key);
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "aud"]);
    // The clock is a parameter: check expiry against `now` below, not the library's clock.
    validation.validate_exp = false;
    let claims = decode::<Claims>(token, &key, &validation)
        .map_err(|e| ServiceAccountError::Invalid(e.to_string()))?
        .claims;
    let now = now.timestamp();
    if claims.exp <= now {
        return Err(invalid("the token has expired"));
    }
    if claims.iat > now + 60 {
        return Err(invalid("the token is issued in the future"));
    }
    if claims.exp - claims.iat > MAX_LIFETIME_SECS {
        return Err(invalid("the token lives longer than 15 minutes"));
    }
    Ok(ServiceAccount {
        id: row.id,
        name: row.name,
        scopes: row.scopes,
        created_at: row.created_at,
        disabled_at: row.disabled_at,
    })
}
