//! The `[backup]` section of `haven.toml`: whom backups are encrypted to, where they go.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Secret, Section};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// The age recipients (X25519 public keys, `age1…`) every backup is encrypted to.
    /// Unset: Haven's own backup key, `<data_dir>/keys/backup-identity.txt`, made on first
    /// use (copy it off the machine).
    #[serde(deserialize_with = "crate::config::list")]
    pub recipients: Vec<String>,
    /// age identity files (as `age-keygen` writes them) that open backups for `haven
    /// backup verify` and `restore`. Unset: Haven's own backup key.
    #[serde(deserialize_with = "crate::config::list")]
    pub identity_files: Vec<PathBuf>,
    /// A passphrase to encrypt to instead of recipients (age's scrypt recipient).
    pub passphrase: Option<Secret>,
    /// The local target: the folder backups are written to (default `<data_dir>/backups`).
    pub dir: Option<PathBuf>,
}

impl Section for BackupConfig {
    const NAME: &'static str = "backup";
    const SETTINGS: &'static [(&'static str, &'static str, &'static str)] = &[
        (
            "recipients",
            "backup_recipients",
            "list age public keys (age1…, from age-keygen), separated by commas",
        ),
        (
            "identity_files",
            "backup_identity_files",
            "list the paths of age identity files, separated by commas",
        ),
        (
            "passphrase",
            "backup_passphrase",
            "set a passphrase, or leave it unset and use recipients",
        ),
        ("dir", "backup_dir", "use the path of the folder backups are written to"),
    ];

    fn validate(&self, _: &Config) -> Result<(), (&'static str, String)> {
        for recipient in &self.recipients {
            if recipient.trim().parse::<age::x25519::Recipient>().is_err() {
                return Err(("recipients", format!("`{recipient}` is not an age X25519 public key")));
            }
        }
        if self.passphrase.is_some() && !self.recipients.is_empty() {
            return Err((
                "passphrase",
                "a backup is encrypted to recipients or to a passphrase, not both".to_owned(),
            ));
        }
        Ok(())
    }
}

impl BackupConfig {
    /// The local target's folder.
    pub fn dir_path(&self, config: &Config) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| config.data_dir.join("backups"))
    }

    /// Haven's own backup key, used when no recipients or identity files are set.
    pub fn own_identity_path(config: &Config) -> PathBuf {
        config.data_dir.join("keys").join("backup-identity.txt")
    }
}
