//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of clock
//! drift either way), with each code accepted once, its secret sealed under the
//! organisation's data keys, and one-time recovery codes stored hashed. WebAuthn
//! credentials will be further rows of `user_second_factors`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use zeroize::Zeroizing;

use crate::compliance::sealing::{Keyring, SealError};
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use super::UserId;
use super::secret::{digest, random_bytes};

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "Haven";

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("the TOTP secret is unusable: {0}")]
    Secret(String),
    #[error("no random numbers: {0}")]
    Random(String),
}

fn totp(secret: &[u8], account: &str) -> Result<TOTP, TwoFactorError> {
    // The account name labels the entry in the authenticator app; ':' is not allowed there.
    let account = account.replace(':', " ");
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        account,
    )
    .map_err(|e| TwoFactorError::Secret(e.to_string()))
}

/// A new 160-bit secret (RFC 4226's recommended length).
pub fn new_secret() -> Result<[u8; 20], TwoFactorError> {
    random_bytes::<20>().map_err(|e| TwoFactorError::Random(e.to_string()))
}

/// What an authenticator app needs: the `otpauth://` URL (as a QR code) and the key in
/// base32 for typing by hand.
pub struct Enrolment {
    pub otpauth_url: String,
    pub manual_key: String,
    /// An SVG QR code of the URL, drawn here: no third-party service sees the secret.
    pub qr_svg: String,
}

pub fn enrolment(secret: &[u8], account: &str) -> Result<Enrolment, TwoFactorError> {
    let totp = totp(secret, account)?;
    let otpauth_url = totp.get_url();
    let qr_svg = qrcode::QrCode::new(otpauth_url.as_bytes())
        .map_err(|e| TwoFactorError::Secret(e.to_string()))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(208, 208)
        .quiet_zone(true)
        .build();
    Ok(Enrolment {
        otpauth_url,
        manual_key: totp.get_secret_base32(),
        qr_svg,
    })
}

/// The time step in which `code` is valid, checking the current step and one either side.
pub fn matching_step(
    secret: &[u8],
    account: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, TwoFactorError> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret, account)?;
    let now = u64::try_from(now.timestamp()).unwrap_or(0);
    let current = now / STEP_SECONDS;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = totp.generate(step * STEP_SECONDS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            return Ok(i64::try_from(step).ok());
        }
    }
    Ok(None)
}

/// What a factor's secret is sealed for: its own row (docs/encryption.md).
fn secret_context(id: Uuid) -> String {
    format!("second_factor.secret:{id}")
}

/// Replaces the unconfirmed enrolment of `user` with a new secret, sealed under the
/// organisation's data keys like note bodies.
pub async fn start_enrolment(
    pool: &PgPool,
    keyring: &Keyring,
    user: UserId,
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SealError> {
    let id = Uuid::now_v7();
    let sealed = keyring.seal(pool, secret, &secret_context(id), now).await?;
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "DELETE FROM user_second_factors WHERE user_id = $1 AND kind = 'totp' AND confirmed_at IS NULL",
        user.0
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO user_second_factors (id, user_id, kind, secret, created_at) VALUES ($1, $2, 'totp', $3, $4)",
        id,
        user.0,
        sealed,
        now
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Seals every secret an earlier version stored unsealed; returns how many.
pub async fn seal_plain_secrets(pool: &PgPool, keyring: &Keyring, now: DateTime<Utc>) -> Result<usize, SealError> {
    let plain = sqlx::query!(
        "SELECT id, secret FROM user_second_factors WHERE length(secret) = $1",
        i32::try_from(PLAIN_SECRET_LEN).unwrap_or(20)
    )
    .fetch_all(pool)
    .await?;
    for row in &plain {
        let sealed = keyring.seal(pool, &row.secret, &secret_context(row.id), now).await?;
        sqlx::query!(
            "UPDATE user_second_factors SET secret = $2 WHERE id = $1 AND secret = $3",
            row.id,
            sealed,
            row.secret
        )
        .execute(pool)
        .await?;
    }
    Ok(plain.len())
}

/// A TOTP factor: its row, its secret (opened) and whether it is confirmed.
pub struct TotpFactor {
    pub id: Uuid,
    pub secret: Zeroizing<Vec<u8>>,
    pub confirmed: bool,
}

/// The length of a secret stored before secrets were sealed (RFC 4226's 160 bits).
const PLAIN_SECRET_LEN: usize = 20;

/// The confirmed factor if there is one, else the pending enrolment, its secret opened.
pub async fn totp_factor(
    pool: &PgPool,
    keyring: &Keyring,
    user: UserId,
    confirmed: bool,
) -> Result<Option<TotpFactor>, SealError> {
    let Some(row) = sqlx::query!(
        r#"
        SELECT id, secret, confirmed_at IS NOT NULL AS "confirmed!"
        FROM user_second_factors
        WHERE user_id = $1 AND kind = 'totp' AND (confirmed_at IS NOT NULL) = $2
        ORDER BY created_at DESC LIMIT 1
        "#,
        user.0,
        confirmed
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let secret = keyring.open(pool, &row.secret, &secret_context(row.id)).await?;
    Ok(Some(TotpFactor {
        id: row.id,
        secret,
        confirmed: row.confirmed,
    }))
}

/// Accepts `step` for the factor once: `false` if it (or a later one) was used already.
pub async fn consume_step(db: impl PgExecutor<'_>, factor: Uuid, step: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        UPDATE user_second_factors SET last_used_step = $2
        WHERE id = $1 AND (last_used_step IS NULL OR last_used_step < $2)
        "#,
        factor,
        step
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Confirms an enrolment, dropping any earlier confirmed factor of the same kind.
pub async fn confirm(
    conn: &mut PgConnection,
    user: UserId,
    factor: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM user_second_factors WHERE user_id = $1 AND kind = 'totp' AND confirmed_at IS NOT NULL",
        user.0
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE user_second_factors SET confirmed_at = $2 WHERE id = $1",
        factor,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes every second factor and recovery code of `user` (an administrator's reset).
pub async fn remove_all(conn: &mut PgConnection, user: UserId) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM user_second_factors WHERE user_id = $1", user.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM recovery_codes WHERE user_id = $1", user.0)
        .execute(conn)
        .await?;
    Ok(())
}

fn recovery_hash(user: UserId, code: &str) -> [u8; 32] {
    let normalised: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    digest(&format!("recovery:{user}:{normalised}"))
}

/// New recovery codes for `user`, replacing the old ones; returned once, stored hashed.
pub async fn new_recovery_codes(conn: &mut PgConnection, user: UserId) -> Result<Vec<String>, sqlx::Error> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bytes = random_bytes::<8>().map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let hex = hex::encode(bytes);
        codes.push(format!(
            "{}-{}-{}-{}",
            &hex[0..4],
            &hex[4..8],
            &hex[8..12],
            &hex[12..16]
        ));
    }
    sqlx::query!("DELETE FROM recovery_codes WHERE user_id = $1", user.0)
        .execute(&mut *conn)
        .await?;
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery_hash(user, c).to_vec()).collect();
    sqlx::query!(
        "INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, UNNEST($2::bytea[])",
        user.0,
        &hashes
    )
    .execute(conn)
    .await?;
    Ok(codes)
}

/// Uses a recovery code once; `false` if it is unknown or used.
pub async fn use_recovery_code(
    db: impl PgExecutor<'_>,
    user: UserId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        user.0,
        &recovery_hash(user, code)[..],
        now
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn recovery_codes_left(db: impl PgExecutor<'_>, user: UserId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL"#,
        user.0
    )
    .fetch_one(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 seed and its 8-digit values, of which TOTP with 6
    /// digits is the last six.
    const RFC_SEED: &[u8] = b"12345678901234567890";
    const RFC_VECTORS: [(i64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc_6238_test_vectors() {
        let eight = TOTP::new(Algorithm::SHA1, 8, 1, 30, RFC_SEED.to_vec(), None, "rfc".to_owned()).unwrap();
        for (time, expected) in RFC_VECTORS {
            assert_eq!(eight.generate(u64::try_from(time).unwrap()), expected, "at {time}");
        }
        for (time, expected) in RFC_VECTORS {
            let at = DateTime::from_timestamp(time, 0).unwrap();
            let step = matching_step(RFC_SEED, "rfc", &expected[2..], at).unwrap();
            assert_eq!(step, Some(time / 30), "six digits at {time}");
        }
    }

    #[test]
    fn codes_outside_the_window_or_malformed_are_refused() {
        let at = DateTime::from_timestamp(1_111_111_109, 0).unwrap();
        let later = at + chrono::TimeDelta::seconds(90);
        assert_eq!(matching_step(RFC_SEED, "rfc", "081804", later).unwrap(), None);
        assert_eq!(
            matching_step(RFC_SEED, "rfc", "081804", at + chrono::TimeDelta::seconds(30)).unwrap(),
            Some(1_111_111_109 / 30),
            "one step of drift is allowed"
        );
        for bad in ["", "12345", "1234567", "abcdef", "08180 4x"] {
            assert_eq!(matching_step(RFC_SEED, "rfc", bad, at).unwrap(), None, "{bad}");
        }
    }

    #[test]
    fn enrolment_gives_a_scannable_url_and_an_svg() {
        let enrolment = enrolment(RFC_SEED, "sam@example.org").unwrap();
        assert!(
            enrolment
                .otpauth_url
                .starts_with("otpauth://totp/Haven:sam%40example.org?"),
            "{}",
            enrolment.otpauth_url
        );
        assert!(enrolment.otpauth_url.contains("issuer=Haven"));
        assert_eq!(enrolment.manual_key, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(enrolment.qr_svg.contains("<svg"));
    }
}
