//! Backups and verified restore (SPEC modules 5, 6 and 10).
//!
//! One file per organisation: an age-encrypted tar of its database (`pg_dump`'s custom
//! format, from a snapshot), its documents (still sealed, as stored) and a manifest
//! signed with the installation's backup key ([`contents`]). Reading a backup takes two
//! passes: the first decrypts and checks the signature and every entry's checksum
//! without restoring anything, the second restores into a scratch database and checks
//! the restored copy against the manifest (row counts and checksums, the audit chain,
//! sealed values opened). Only then is a scratch copy dropped (`verify`) or put in place
//! (`restore`). See docs/backups.md.

pub mod catalog;
pub mod config;
pub mod contents;
pub mod create;
pub mod handlers;
pub mod keys;
mod manifest;
pub mod restore;
pub mod retention;
pub mod runs;
pub mod schedule;
mod store;
mod stream;

pub use manifest::module;

pub use catalog::{Listed, list};
pub use create::{Destination, Made, create};
pub use restore::{Restored, Verified, restore, verify};

/// What went wrong, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup keys: {0}")]
    Keys(String),
    #[error(
        "none of the configured age identities opens this file (it was encrypted to other recipients, or is not a backup)"
    )]
    NotForUs,
    #[error("the file is damaged or was altered: {0}")]
    Damaged(String),
    #[error(
        "the file was not made by this installation (its signature is not this installation's backup key), or its manifest was altered"
    )]
    Untrusted,
    #[error("the restored copy does not match the manifest: {0}")]
    Mismatch(String),
    #[error("{0}")]
    Refused(String),
    #[error("{tool} failed: {detail}")]
    Tool { tool: &'static str, detail: String },
    #[error(transparent)]
    Storage(#[from] crate::compliance::storage::StorageError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<BackupError> for crate::platform::jobs::JobFailure {
    fn from(err: BackupError) -> Self {
        Self::retry(err.to_string())
    }
}

impl From<crate::platform::database::DatabaseError> for BackupError {
    fn from(err: crate::platform::database::DatabaseError) -> Self {
        Self::Refused(err.to_string())
    }
}
