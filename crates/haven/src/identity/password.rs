//! Passwords: argon2id at OWASP's recommended parameters, stored in PHC format so that
//! parameters can be raised later (a hash with old parameters is upgraded at the next
//! sign-in), and checked for strength with zxcvbn plus a minimum length.
//!
//! Hashing costs 19 MiB and tens of milliseconds of one core, so it runs on the blocking
//! pool behind a semaphore: a flood of sign-ins queues instead of exhausting memory.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::secret::random_bytes;

/// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

/// How long a sign-in may wait for a hashing slot before the server says it is busy.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing is busy; try again shortly")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// What checking a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The stored hash uses other parameters than today's: store a new one.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct PasswordHasher {
    slots: Arc<Semaphore>,
    /// Checked against when the account does not exist, so that an unknown email takes
    /// as long as a wrong password.
    dummy_hash: Arc<String>,
}

fn argon2() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt_bytes = random_bytes::<16>().map_err(|e| PasswordError::Hashing(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?
        .to_string())
}

fn verify_now(password: &str, phc: &str) -> Result<Verification, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    let matches = argon2()?.verify_password(password.as_bytes(), &parsed).is_ok();
    let current = Params::try_from(&parsed).ok();
    let needs_rehash = parsed.algorithm.as_str() != "argon2id"
        || current.is_none_or(|p| p.m_cost() != MEMORY_KIB || p.t_cost() != ITERATIONS || p.p_cost() != LANES);
    Ok(Verification { matches, needs_rehash })
}

impl PasswordHasher {
    /// `slots` hashes may run at once (one per core is right).
    pub fn new(slots: usize) -> Result<Self, PasswordError> {
        Ok(Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            dummy_hash: Arc::new(hash_now("an unguessable placeholder that is never anyone's password")?),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(QUEUE_WAIT, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let result = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        drop(permit);
        result
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        self.run(move || hash_now(&password)).await
    }

    /// Checks `password` against `stored`, or against a placeholder when there is no
    /// stored hash (unknown account), taking the same time either way.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verification, PasswordError> {
        let password = password.to_owned();
        let (phc, real) = match stored {
            Some(phc) => (phc.to_owned(), true),
            None => (self.dummy_hash.as_str().to_owned(), false),
        };
        let verification = self.run(move || verify_now(&password, &phc)).await?;
        Ok(Verification {
            matches: real && verification.matches,
            needs_rehash: real && verification.needs_rehash,
        })
    }
}

/// Why a new password is refused, in words for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakPassword(pub String);

/// At least [`MIN_LENGTH`] characters and hard to guess (zxcvbn score 3 or more, with the
/// person's email and name counted as known to an attacker). No composition rules.
pub fn check_strength(password: &str, known_to_attacker: &[&str]) -> Result<(), WeakPassword> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(WeakPassword(format!(
            "Use at least {MIN_LENGTH} characters; a few unrelated words work well."
        )));
    }
    if length > MAX_LENGTH {
        return Err(WeakPassword(format!("Use at most {MAX_LENGTH} characters.")));
    }
    let estimate = zxcvbn::zxcvbn(password, known_to_attacker);
    if u8::from(estimate.score()) >= 3 {
        return Ok(());
    }
    let mut advice = String::from("This password is too easy to guess.");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            advice.push(' ');
            advice.push_str(&warning.to_string());
        }
        for suggestion in feedback.suggestions() {
            advice.push(' ');
            advice.push_str(&suggestion.to_string());
        }
    }
    Err(WeakPassword(advice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_and_verify() {
        let hasher = PasswordHasher::new(2).unwrap();
        let hash = hasher.hash("correct horse battery staple").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        let ok = hasher
            .verify("correct horse battery staple", Some(&hash))
            .await
            .unwrap();
        assert_eq!(
            ok,
            Verification {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = hasher
            .verify("correct horse battery stapler", Some(&hash))
            .await
            .unwrap();
        assert!(!wrong.matches);
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches() {
        let hasher = PasswordHasher::new(1).unwrap();
        let result = hasher
            .verify("an unguessable placeholder that is never anyone's password", None)
            .await
            .unwrap();
        assert!(!result.matches);
    }

    #[tokio::test]
    async fn weaker_parameters_ask_for_a_rehash() {
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(
                b"correct horse battery staple",
                &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
            )
            .unwrap()
            .to_string();
        let hasher = PasswordHasher::new(1).unwrap();
        let result = hasher
            .verify("correct horse battery staple", Some(&weak))
            .await
            .unwrap();
        assert_eq!(
            result,
            Verification {
                matches: true,
                needs_rehash: true
            }
        );
    }

    #[test]
    fn strength_needs_length_and_unpredictability_not_symbols() {
        assert!(check_strength("Tr0ub4dor&3", &[]).is_err(), "too short");
        assert!(check_strength("passwordpassword", &[]).is_err(), "common");
        assert!(
            check_strength("jane.smith@example.org1", &["jane.smith@example.org", "Jane Smith"]).is_err(),
            "built from the person's own details"
        );
        assert!(
            check_strength("lantern orbit velvet quarry", &[]).is_ok(),
            "words, no symbols, is fine"
        );
    }
}
