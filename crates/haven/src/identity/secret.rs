//! Random secrets handed to people (session cookies, email links, API tokens, recovery
//! codes). Only their SHA-256 is stored: a database dump reveals none of them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// A secret as handed out, and its stored form.
pub struct IssuedSecret {
    pub value: String,
    pub hash: [u8; 32],
}

/// 32 random bytes, URL-safe base64, with an optional prefix that says what it is.
pub fn issue(prefix: &str) -> Result<IssuedSecret, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let value = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = digest(&value);
    Ok(IssuedSecret { value, hash })
}

pub fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Random bytes for keys and seeds.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}
