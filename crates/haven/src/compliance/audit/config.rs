//! The `[audit]` section of `haven.toml`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Section};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// How long the audit writer gathers concurrent events into one transaction.
    #[serde(with = "humantime_serde")]
    pub group_window: Duration,
    /// The ed25519 key that signs audit checkpoints (default `<data_dir>/keys/audit-checkpoint.key`).
    pub signing_key: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub verify_interval: Duration,
    /// Events older than this are archived to a verified file and then pruned.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Where `haven audit prune` writes archives and `haven audit verify` reads them back
    /// (default `<data_dir>/audit-archives`).
    pub archive_dir: Option<PathBuf>,
    /// Public halves of earlier checkpoint keys still trusted (hex), besides the current
    /// key file's: a checkpoint signed by any other key is refused.
    #[serde(deserialize_with = "crate::config::list")]
    pub trusted_keys: Vec<TrustedKey>,
}

/// An ed25519 public key trusted to sign audit checkpoints: 64 hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedKey(pub [u8; 32]);

impl std::str::FromStr for TrustedKey {
    type Err = &'static str;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).map_err(|_| "not 64 hexadecimal digits")?;
        Ok(Self(key))
    }
}

impl Serialize for TrustedKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            group_window: Duration::from_millis(1),
            signing_key: None,
            checkpoint_interval: Duration::from_secs(3600),
            verify_interval: Duration::from_secs(6 * 3600),
            retention: Duration::from_secs(7 * 365 * 24 * 3600 + 2 * 24 * 3600),
            archive_dir: None,
            trusted_keys: Vec::new(),
        }
    }
}

impl Section for AuditConfig {
    const NAME: &'static str = "audit";
    const SETTINGS: &'static [(&'static str, &'static str, &'static str)] = &[
        (
            "group_window",
            "audit_group_window",
            "use a duration such as \"1ms\" (at most 50ms)",
        ),
        (
            "signing_key",
            "audit_signing_key",
            "use the path of the checkpoint signing key file",
        ),
        (
            "checkpoint_interval",
            "audit_checkpoint_interval",
            "use a duration such as \"1h\"",
        ),
        (
            "verify_interval",
            "audit_verify_interval",
            "use a duration such as \"6h\"",
        ),
        (
            "retention",
            "audit_retention",
            "use a duration such as \"7years\" (at least a day)",
        ),
        (
            "archive_dir",
            "audit_archive_dir",
            "use the path of the folder that keeps the audit archives",
        ),
        (
            "trusted_keys",
            "audit_trusted_keys",
            "list public keys as 64 hexadecimal digits each, separated by commas",
        ),
    ];

    fn validate(&self, _: &Config) -> Result<(), (&'static str, String)> {
        if self.group_window > Duration::from_millis(50) {
            return Err((
                "group_window",
                format!("{:?} would hold every request up", self.group_window),
            ));
        }
        for (key, value) in [
            ("checkpoint_interval", self.checkpoint_interval),
            ("verify_interval", self.verify_interval),
        ] {
            if value < Duration::from_secs(1) {
                return Err((key, format!("{value:?} is too short")));
            }
        }
        if self.retention < Duration::from_secs(24 * 3600) {
            return Err(("retention", format!("{:?} is too short", self.retention)));
        }
        Ok(())
    }
}

impl AuditConfig {
    /// Where audit archives are kept.
    pub fn archive_dir_path(&self, config: &Config) -> PathBuf {
        self.archive_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("audit-archives"))
    }

    /// The checkpoint signing key's file.
    pub fn signing_key_path(&self, config: &Config) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| config.data_dir.join("keys").join("audit-checkpoint.key"))
    }
}
