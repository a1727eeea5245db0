//! What a backup holds, and the signed manifest that vouches for it.
//!
//! Inside the age encryption a backup is a plain tar stream, in this order:
//! `database.dump` (pg_dump's custom format), `documents/<object key>` for each
//! document (still sealed under the organisation's keys, as stored), `manifest.json`,
//! and `manifest.sig`. The manifest names every other entry with its size and SHA-256,
//! and the signature covers the manifest's exact bytes, so the whole file is vouched
//! for by one signature checked before anything is restored.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::compliance::audit::Checkpoint;
use crate::compliance::sealing::MasterKey;

/// The manifest's format; a restore refuses any other.
pub const FORMAT: &str = "haven-backup/1";
pub const DATABASE_ENTRY: &str = "database.dump";
pub const DOCUMENTS_PREFIX: &str = "documents/";
pub const MANIFEST_ENTRY: &str = "manifest.json";
pub const SIGNATURE_ENTRY: &str = "manifest.sig";

/// Everything a restore checks the restored copy against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub haven_version: String,
    pub created_at: DateTime<Utc>,
    pub organisation: Organisation,
    /// The organisation's storage policy when the backup was made.
    pub storage_policy: String,
    /// The tenant migrations applied, by version.
    pub migrations: Vec<i64>,
    /// Every table: its row count and a checksum of its rows.
    pub tables: Vec<TableSum>,
    pub audit: AuditState,
    /// The data keys the organisation's sealed values name (wrapped in the database;
    /// the master key that unwraps them is never in a backup).
    pub data_keys: Vec<i32>,
    pub database: Part,
    pub documents: Vec<Part>,
}

/// The organisation's entry in the control database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Sealed values are bound to this id: a restore keeps it.
    pub id: Uuid,
    pub slug: String,
    pub display_name: String,
    pub hosts: Vec<String>,
    pub enabled_modules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSum {
    pub name: String,
    pub rows: i64,
    /// The sum of each row's checksum (the first 60 bits of the MD5 of its text form),
    /// in decimal: independent of row order, bounded in memory.
    pub sum: String,
}

/// The audit chain's head at the backup, the latest signed checkpoint, and the public
/// keys this installation trusts for checkpoints (so a restored trail verifies on a new
/// machine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditState {
    pub head_seq: i64,
    pub head_hash: String,
    pub checkpoint: Option<Checkpoint>,
    pub trusted_keys: Vec<String>,
}

/// One entry of the archive: its name, size and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn documents_bytes(&self) -> u64 {
        self.documents.iter().map(|d| d.bytes).sum()
    }

    pub fn rows(&self, table: &str) -> Option<&TableSum> {
        self.tables.iter().find(|t| t.name == table)
    }
}

/// `manifest.sig`: an Ed25519 signature over the bytes of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub public_key: String,
    pub signature: String,
}

/// The installation's backup signing key. It is derived from the master key, so a
/// machine rebuilt with the master key recognises its own backups, and a backup made by
/// another installation (another master key) is refused.
pub struct BackupKey(ed25519_dalek::SigningKey);

impl BackupKey {
    pub fn of(master: &MasterKey) -> Self {
        let seed = master.derive(b"haven backup signing key v1");
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, manifest: &[u8]) -> Signature {
        Signature {
            public_key: self.public_hex(),
            signature: hex::encode(self.0.sign(manifest).to_bytes()),
        }
    }

    /// Whether `signature` is this installation's over exactly `manifest`.
    pub fn vouches_for(&self, manifest: &[u8], signature: &Signature) -> bool {
        let mut bytes = [0u8; 64];
        if signature.public_key != self.public_hex() || hex::decode_to_slice(&signature.signature, &mut bytes).is_err()
        {
            return false;
        }
        self.0
            .verifying_key()
            .verify(manifest, &ed25519_dalek::Signature::from_bytes(&bytes))
            .is_ok()
    }
}

/// Counts and hashes what passes through it.
#[derive(Default)]
pub struct Tally {
    hasher: Sha256,
    pub bytes: u64,
}

impl Tally {
    pub fn add(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
    }

    pub fn part(self, name: impl Into<String>) -> Part {
        Part {
            name: name.into(),
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

/// A reader that tallies what is read through it.
pub struct Tallied<R> {
    pub inner: R,
    pub tally: Tally,
}

impl<R: std::io::Read> std::io::Read for Tallied<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tally.add(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_installations_key_vouches_and_only_for_the_same_bytes() {
        let ours = BackupKey::of(&MasterKey::from_bytes([7; 32]));
        let theirs = BackupKey::of(&MasterKey::from_bytes([8; 32]));
        let signature = ours.sign(b"{\"rows\":1}");
        assert!(ours.vouches_for(b"{\"rows\":1}", &signature));
        assert!(!ours.vouches_for(b"{\"rows\":2}", &signature));
        assert!(!ours.vouches_for(b"{\"rows\":1}", &theirs.sign(b"{\"rows\":1}")));
        // The same master key gives the same key on another machine.
        assert_eq!(
            ours.public_hex(),
            BackupKey::of(&MasterKey::from_bytes([7; 32])).public_hex()
        );
    }
}
