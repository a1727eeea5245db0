//! Whom backups are encrypted to and what opens them: age X25519 recipients and
//! identities (as `age-keygen` writes them), or one passphrase (age's scrypt recipient).
//! Debian's `age` opens either.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use age::secrecy::{ExposeSecret as _, SecretString};

use super::BackupError;
use super::config::BackupConfig;
use crate::config::Config;

/// The encryptor for a new backup: the configured recipients, the passphrase, or
/// Haven's own backup key (made on first use).
pub fn encryptor(config: &Config) -> Result<age::Encryptor, BackupError> {
    if let Some(passphrase) = &config.backup.passphrase {
        return Ok(age::Encryptor::with_user_passphrase(SecretString::from(
            passphrase.expose().to_owned(),
        )));
    }
    let recipients: Vec<age::x25519::Recipient> = if config.backup.recipients.is_empty() {
        vec![own_identity(config)?.to_public()]
    } else {
        config
            .backup
            .recipients
            .iter()
            .map(|r| {
                r.trim()
                    .parse()
                    .map_err(|_| BackupError::Keys(format!("`{r}` is not an age recipient")))
            })
            .collect::<Result<_, _>>()?
    };
    age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| BackupError::Keys(e.to_string()))
}

/// What opens a backup: the passphrase, the configured identity files, or Haven's own key.
pub fn identities(config: &Config) -> Result<Vec<Box<dyn age::Identity + Send>>, BackupError> {
    if let Some(passphrase) = &config.backup.passphrase {
        let mut identity = age::scrypt::Identity::new(SecretString::from(passphrase.expose().to_owned()));
        // The default work factor is what `age -p` writes; allow a little more.
        identity.set_max_work_factor(22);
        return Ok(vec![Box::new(identity)]);
    }
    if config.backup.identity_files.is_empty() {
        return Ok(vec![Box::new(own_identity(config)?)]);
    }
    let mut found: Vec<Box<dyn age::Identity + Send>> = Vec::new();
    for path in &config.backup.identity_files {
        for identity in read_identities(path)? {
            found.push(Box::new(identity));
        }
    }
    Ok(found)
}

/// The X25519 identities in an age identity file (comments and blank lines skipped).
pub fn read_identities(path: &Path) -> Result<Vec<age::x25519::Identity>, BackupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BackupError::Keys(format!("cannot read the identity file {}: {e}", path.display())))?;
    let identities: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("AGE-SECRET-KEY-"))
        .map(|line| {
            line.parse()
                .map_err(|_| BackupError::Keys(format!("{} holds a line that is not an age identity", path.display())))
        })
        .collect::<Result<_, _>>()?;
    if identities.is_empty() {
        return Err(BackupError::Keys(format!("{} holds no age identity", path.display())));
    }
    Ok(identities)
}

/// Haven's own backup key: read, or made (owner-only) in age-keygen's format.
fn own_identity(config: &Config) -> Result<age::x25519::Identity, BackupError> {
    let path = BackupConfig::own_identity_path(config);
    if path.exists() {
        return read_identities(&path)?
            .into_iter()
            .next()
            .ok_or_else(|| BackupError::Keys(format!("{} holds no age identity", path.display())));
    }
    let identity = age::x25519::Identity::generate();
    let failed = |e: std::io::Error| BackupError::Keys(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    let text = format!(
        "# Haven's backup key: it opens this installation's backups. Keep a copy off this machine.\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    tracing::warn!(file = %path.display(), "made a backup key; keep a copy of it off this machine");
    Ok(identity)
}
