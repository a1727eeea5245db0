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
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            group_window: Duration::from_millis(1),
            signing_key: None,
            checkpoint_interval: Duration::from_secs(3600),
            verify_interval: Duration::from_secs(6 * 3600),
            retention: Duration::from_secs(7 * 365 * 24 * 3600 + 2 * 24 * 3600),
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
    /// The checkpoint signing key's file.
    pub fn signing_key_path(&self, config: &Config) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| config.data_dir.join("keys").join("audit-checkpoint.key"))
    }
}
