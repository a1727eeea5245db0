//! Signed checkpoints: `(seq, hash)` of the chain's head, signed with the instance's
//! ed25519 key. Kept in the database and exported as JSON files that operators store off
//! the machine; a checkpoint beyond the chain's end proves that its tail was cut off.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::{Hash, store};
use crate::clock::SharedClock;

const FORMAT: &str = "haven.audit.checkpoint.v1";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read or create the checkpoint signing key {path}: {source}")]
    KeyFile { path: PathBuf, source: std::io::Error },
    #[error("the checkpoint signing key {0} is not 64 hexadecimal digits")]
    BadKey(PathBuf),
    #[error("cannot read the checkpoint file {path}: {problem}")]
    BadFile { path: PathBuf, problem: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The instance's signing key, kept in a file readable by its owner only.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// Reads the key, creating it on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, CheckpointError> {
        let key_file_err = |source| CheckpointError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut bytes)
                    .map_err(|_| CheckpointError::BadKey(path.to_path_buf()))?;
                Ok(Self(ed25519_dalek::SigningKey::from_bytes(&bytes)))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(key_file_err)?;
                }
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| key_file_err(std::io::Error::other(e.to_string())))?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(key_file_err)?;
                file.write_all(hex::encode(bytes).as_bytes()).map_err(key_file_err)?;
                file.sync_all().map_err(key_file_err)?;
                Ok(Self(ed25519_dalek::SigningKey::from_bytes(&bytes)))
            }
            Err(err) => Err(key_file_err(err)),
        }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    /// Informational: which organisation's chain (the signature covers seq, hash and time).
    #[serde(default)]
    pub tenant: String,
    pub seq: i64,
    #[serde(with = "hex_array")]
    pub hash: Hash,
    pub signed_at: DateTime<Utc>,
    #[serde(with = "hex_array")]
    pub public_key: [u8; 32],
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

fn message(seq: i64, hash: &Hash, signed_at: DateTime<Utc>) -> Vec<u8> {
    format!(
        "{FORMAT}\n{seq}\n{}\n{}\n",
        hex::encode(hash),
        signed_at.timestamp_micros()
    )
    .into_bytes()
}

impl Checkpoint {
    pub fn sign(tenant: &str, seq: i64, hash: Hash, signed_at: DateTime<Utc>, key: &SigningKey) -> Self {
        let signed_at = DateTime::from_timestamp_micros(signed_at.timestamp_micros()).unwrap_or(signed_at);
        let signature = key.0.sign(&message(seq, &hash, signed_at)).to_bytes();
        Self {
            format: FORMAT.to_owned(),
            tenant: tenant.to_owned(),
            seq,
            hash,
            signed_at,
            public_key: key.public_key(),
            signature,
        }
    }

    pub fn signature_is_valid(&self) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&self.public_key) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        self.format == FORMAT
            && key
                .verify(&message(self.seq, &self.hash, self.signed_at), &signature)
                .is_ok()
    }

    pub fn read_file(path: &Path) -> Result<Self, CheckpointError> {
        let bad = |problem: String| CheckpointError::BadFile {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
    }
}

/// Signs the chain's current head and keeps the checkpoint in the database.
pub async fn create_checkpoint(
    pool: &PgPool,
    tenant: &str,
    key: &SigningKey,
    clock: &SharedClock,
) -> Result<Checkpoint, CheckpointError> {
    let (seq, hash) = store::head(pool).await?;
    let checkpoint = Checkpoint::sign(tenant, seq, hash, clock.now(), key);
    sqlx::query!(
        r#"
        INSERT INTO audit_checkpoints (seq, hash, signed_at, public_key, signature)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (seq) DO NOTHING
        "#,
        checkpoint.seq,
        &checkpoint.hash[..],
        checkpoint.signed_at,
        &checkpoint.public_key[..],
        &checkpoint.signature[..],
    )
    .execute(pool)
    .await?;
    Ok(checkpoint)
}

/// The latest checkpoint kept in the database, if any.
pub async fn latest_checkpoint(db: impl sqlx::PgExecutor<'_>) -> Result<Option<Checkpoint>, sqlx::Error> {
    Ok(stored(db).await?.pop())
}

/// The checkpoints kept in the database (the genesis head is never checkpointed).
pub(super) async fn stored(pool: impl sqlx::PgExecutor<'_>) -> Result<Vec<Checkpoint>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT seq, hash, signed_at, public_key, signature FROM audit_checkpoints WHERE seq > 0 ORDER BY seq"
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let bytes =
                |v: &[u8], what: &str| sqlx::Error::Decode(format!("checkpoint {what} has {} bytes", v.len()).into());
            Ok(Checkpoint {
                format: FORMAT.to_owned(),
                tenant: String::new(),
                seq: r.seq,
                hash: r.hash.as_slice().try_into().map_err(|_| bytes(&r.hash, "hash"))?,
                signed_at: r.signed_at,
                public_key: r
                    .public_key
                    .as_slice()
                    .try_into()
                    .map_err(|_| bytes(&r.public_key, "key"))?,
                signature: r
                    .signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| bytes(&r.signature, "signature"))?,
            })
        })
        .collect()
}

mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(d)?;
        let mut bytes = [0u8; N];
        hex::decode_to_slice(&text, &mut bytes).map_err(serde::de::Error::custom)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_until_anything_in_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(&dir.path().join("k")).unwrap();
        let again = SigningKey::load_or_create(&dir.path().join("k")).unwrap();
        assert_eq!(key.public_key(), again.public_key(), "the key persists");

        let checkpoint = Checkpoint::sign(
            "default",
            42,
            [7; 32],
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            &key,
        );
        assert!(checkpoint.signature_is_valid());
        let json = serde_json::to_string(&checkpoint).unwrap();
        assert_eq!(serde_json::from_str::<Checkpoint>(&json).unwrap(), checkpoint);

        for tampered in [
            Checkpoint {
                seq: 41,
                ..checkpoint.clone()
            },
            Checkpoint {
                hash: [8; 32],
                ..checkpoint.clone()
            },
            Checkpoint {
                signed_at: checkpoint.signed_at + chrono::TimeDelta::seconds(1),
                ..checkpoint.clone()
            },
        ] {
            assert!(!tampered.signature_is_valid());
        }
    }
}
