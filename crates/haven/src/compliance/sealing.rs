//! Encryption at rest (SPEC module 5): note bodies, psychotherapy notes, assessment
//! answers and document contents are sealed with XChaCha20-Poly1305 under the tenant's
//! data keys; each data key is itself sealed ("wrapped") by the master key, which lives
//! in a file or the environment and never in the database. A dump of the database holds
//! only ciphertext and wrapped keys. See docs/encryption.md.
//!
//! A sealed value is `0x02 ‖ key id (4 bytes, big-endian) ‖ nonce (24) ‖ ciphertext and
//! tag`, sealed with associated data naming the organisation and what it is
//! (`<organisation id>/note.body:<id>`), so a value copied onto another row, column or
//! organisation does not open. Data keys are wrapped naming their organisation too, so a
//! key copied into another organisation's database does not unwrap there. Values and
//! keys of the first format (`0x01`, which named neither) still open; Haven re-wraps
//! such keys when it starts and `haven keys rotate` re-seals such values.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::platform::tenancy::TenantRecord;

/// The first format: associated data without the organisation.
const LEGACY: u8 = 1;
/// The current format: associated data naming the organisation.
const VERSION: u8 = 2;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the master key cannot be read from {path}: {problem}")]
    MasterKeyFile { path: String, problem: String },
    #[error("the master key is not 32 bytes of base64")]
    MasterKeyFormat,
    #[error("the master key does not open this organisation's data keys (is it the right key?)")]
    WrongMasterKey,
    #[error("no data key {0}")]
    UnknownKey(i32),
    #[error("the sealed value is damaged or does not belong here")]
    Damaged,
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<SealError> for crate::error::Error {
    #[track_caller]
    fn from(err: SealError) -> Self {
        match err {
            SealError::Database(err) => err.into(),
            other => Self::internal(anyhow::Error::new(other)),
        }
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, SealError> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut()).map_err(|e| SealError::Random(e.to_string()))?;
    Ok(bytes)
}

fn cipher(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key).into())
}

/// Seals in the current format; `context` must name the organisation.
fn seal_with(key: &[u8; KEY_LEN], key_id: i32, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SealError> {
    let nonce = random::<NONCE_LEN>()?;
    let sealed = cipher(key)
        .encrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| SealError::Damaged)?;
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.push(VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(nonce.as_ref());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The key id a sealed value names.
pub fn key_id_of(sealed: &[u8]) -> Result<i32, SealError> {
    match sealed {
        [LEGACY | VERSION, a, b, c, d, ..] if sealed.len() > HEADER_LEN => Ok(i32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(SealError::Damaged),
    }
}

/// Opens a value of either format: `bound` is the associated data of the current one
/// (naming the organisation), `legacy` that of the first.
fn open_with(key: &[u8; KEY_LEN], sealed: &[u8], bound: &str, legacy: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
    key_id_of(sealed)?;
    let context = if sealed[0] == LEGACY { legacy } else { bound };
    let nonce: [u8; NONCE_LEN] = sealed[5..HEADER_LEN].try_into().map_err(|_| SealError::Damaged)?;
    cipher(key)
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &sealed[HEADER_LEN..],
                aad: context.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Damaged)
}

/// The key that wraps every data key. Losing it loses every sealed value.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    /// From base64 text (the file's content or `HAVEN_MASTER_KEY`).
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| SealError::MasterKeyFormat)?);
        let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| SealError::MasterKeyFormat)?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// A key from its bytes (tests, and keys derived elsewhere).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A 32-byte key for another purpose, derived from this one and `label`: knowing
    /// the derived key tells nothing of the master key.
    pub fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(label);
        hasher.update([0u8]);
        hasher.update(self.0.as_ref());
        Zeroizing::new(hasher.finalize().into())
    }

    /// Reads the key file, creating it (readable by its owner only) on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let failed = |problem: String| SealError::MasterKeyFile {
            path: path.display().to_string(),
            problem,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = random::<KEY_LEN>()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
                }
                let text = Zeroizing::new(STANDARD.encode(key.as_ref()));
                write_private(path, text.as_bytes()).map_err(|e| failed(e.to_string()))?;
                Ok(Self(key))
            }
            Err(err) => Err(failed(err.to_string())),
        }
    }

    fn wrap(&self, organisation: Uuid, key_id: i32, data_key: &[u8; KEY_LEN]) -> Result<Vec<u8>, SealError> {
        seal_with(
            &self.0,
            key_id,
            data_key,
            &format!("haven data key {key_id} of organisation {organisation}"),
        )
    }

    fn unwrap(&self, organisation: Uuid, key_id: i32, wrapped: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
        let opened = open_with(
            &self.0,
            wrapped,
            &format!("haven data key {key_id} of organisation {organisation}"),
            &format!("haven data key {key_id}"),
        )
        .map_err(|_| SealError::WrongMasterKey)?;
        let key: [u8; KEY_LEN] = opened.as_slice().try_into().map_err(|_| SealError::WrongMasterKey)?;
        Ok(Zeroizing::new(key))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// One tenant's data keys, unwrapped on first use and kept in memory.
pub struct Keyring {
    master: Arc<MasterKey>,
    /// The organisation (its id in the control database) the keys and values belong to.
    organisation: Uuid,
    keys: RwLock<HashMap<i32, Arc<Zeroizing<[u8; KEY_LEN]>>>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(…)")
    }
}

impl Keyring {
    pub fn new(master: Arc<MasterKey>, organisation: Uuid) -> Self {
        Self {
            master,
            organisation,
            keys: RwLock::new(HashMap::new()),
        }
    }

    /// What a value is sealed for in this organisation.
    fn bound(&self, context: &str) -> String {
        format!("{}/{context}", self.organisation)
    }

    async fn key(&self, db: impl PgExecutor<'_>, id: i32) -> Result<Arc<Zeroizing<[u8; KEY_LEN]>>, SealError> {
        if let Some(key) = self.keys.read().unwrap_or_else(PoisonError::into_inner).get(&id) {
            return Ok(Arc::clone(key));
        }
        let wrapped = sqlx::query_scalar!("SELECT wrapped FROM data_keys WHERE id = $1", id)
            .fetch_optional(db)
            .await?
            .ok_or(SealError::UnknownKey(id))?;
        let key = Arc::new(self.master.unwrap(self.organisation, id, &wrapped)?);
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&key));
        Ok(key)
    }

    /// A sealer for many values under the active data key (made on first use), found
    /// once: seeding and imports seal thousands of values without a lookup each.
    pub async fn sealer(&self, db: &sqlx::PgPool, now: DateTime<Utc>) -> Result<Sealer<'_>, SealError> {
        let id = match active_key(db).await? {
            Some(id) => id,
            None => self.new_data_key(db, now).await?,
        };
        Ok(Sealer {
            ring: self,
            id,
            key: self.key(db, id).await?,
        })
    }

    /// Seals `plaintext` under the active data key (made on first use).
    pub async fn seal(
        &self,
        db: &sqlx::PgPool,
        plaintext: &[u8],
        context: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, SealError> {
        let id = match active_key(db).await? {
            Some(id) => id,
            None => self.new_data_key(db, now).await?,
        };
        let key = self.key(db, id).await?;
        seal_with(&key, id, plaintext, &self.bound(context))
    }

    /// Opens a value sealed for `context` (the same row and column it was sealed for).
    pub async fn open(
        &self,
        db: impl PgExecutor<'_>,
        sealed: &[u8],
        context: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let key = self.key(db, key_id_of(sealed)?).await?;
        open_with(&key, sealed, &self.bound(context), context)
    }

    /// Opens a value and seals it again under data key `to` (key rotation).
    pub async fn reseal(&self, db: &sqlx::PgPool, sealed: &[u8], context: &str, to: i32) -> Result<Vec<u8>, SealError> {
        let plain = self.open(db, sealed, context).await?;
        let key = self.key(db, to).await?;
        seal_with(&key, to, &plain, &self.bound(context))
    }

    /// Makes a data key, wraps it for this organisation and stores it; it becomes the
    /// active one.
    pub async fn new_data_key(&self, db: &sqlx::PgPool, now: DateTime<Utc>) -> Result<i32, SealError> {
        let mut tx = db.begin().await?;
        let id: i32 = sqlx::query_scalar!(r#"SELECT nextval('data_keys_id_seq')::int4 AS "id!""#)
            .fetch_one(&mut *tx)
            .await?;
        let key = random::<KEY_LEN>()?;
        let wrapped = self.master.wrap(self.organisation, id, &key)?;
        sqlx::query!(
            "INSERT INTO data_keys (id, wrapped, created_at) VALUES ($1, $2, $3)",
            id,
            wrapped,
            now
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Re-wraps every data key still in the first format so that it names this
    /// organisation; returns how many. Run at start-up and by `haven keys rotate`.
    pub async fn bind_legacy_keys(&self, db: &sqlx::PgPool) -> Result<usize, SealError> {
        let legacy = sqlx::query!("SELECT id, wrapped FROM data_keys WHERE get_byte(wrapped, 0) = 1")
            .fetch_all(db)
            .await?;
        for row in &legacy {
            let key = self.master.unwrap(self.organisation, row.id, &row.wrapped)?;
            let wrapped = self.master.wrap(self.organisation, row.id, &key)?;
            sqlx::query!(
                "UPDATE data_keys SET wrapped = $2 WHERE id = $1 AND wrapped = $3",
                row.id,
                wrapped,
                row.wrapped
            )
            .execute(db)
            .await?;
        }
        Ok(legacy.len())
    }

    /// Checks that the master key opens every data key of this tenant.
    pub async fn verify(&self, db: &sqlx::PgPool) -> Result<usize, SealError> {
        let ids = sqlx::query_scalar!("SELECT id FROM data_keys ORDER BY id")
            .fetch_all(db)
            .await?;
        for id in &ids {
            self.key(db, *id).await?;
        }
        Ok(ids.len())
    }
}

/// Seals values under one data key (see [`Keyring::sealer`]).
pub struct Sealer<'a> {
    ring: &'a Keyring,
    id: i32,
    key: Arc<Zeroizing<[u8; KEY_LEN]>>,
}

impl Sealer<'_> {
    /// Seals `plaintext` for `context`, as [`Keyring::seal`] does.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SealError> {
        seal_with(&self.key, self.id, plaintext, &self.ring.bound(context))
    }
}

/// Every tenant's keyring under the one master key.
pub struct Vault {
    master: Arc<MasterKey>,
    rings: RwLock<HashMap<Uuid, Arc<Keyring>>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(…)")
    }
}

impl Vault {
    pub fn new(master: MasterKey) -> Self {
        Self {
            master: Arc::new(master),
            rings: RwLock::new(HashMap::new()),
        }
    }

    /// From `master_key` (base64) when set, else the key file (made on first start).
    pub fn from_config(config: &crate::config::Config) -> Result<Self, SealError> {
        let master = match &config.master_key {
            Some(text) => MasterKey::from_base64(text.expose())?,
            None => MasterKey::load_or_create(&config.master_key_path())?,
        };
        Ok(Self::new(master))
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The keyring of `tenant`.
    pub fn keyring(&self, tenant: &TenantRecord) -> Arc<Keyring> {
        if let Some(ring) = self
            .rings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tenant.id)
        {
            return Arc::clone(ring);
        }
        let mut rings = self.rings.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            rings
                .entry(tenant.id)
                .or_insert_with(|| Arc::new(Keyring::new(Arc::clone(&self.master), tenant.id))),
        )
    }
}

/// The newest data key still in use.
pub async fn active_key(db: impl PgExecutor<'_>) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar!("SELECT max(id) FROM data_keys WHERE retired_at IS NULL")
        .fetch_one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let key = [7u8; KEY_LEN];
        let sealed = seal_with(&key, 3, b"feels safer at home now", "note.body:1").unwrap();
        assert_eq!(key_id_of(&sealed).unwrap(), 3);
        assert!(!sealed.windows(5).any(|w| w == b"safer"), "no plaintext in the output");
        assert_eq!(
            open_with(&key, &sealed, "note.body:1", "-").unwrap().as_slice(),
            b"feels safer at home now"
        );
        assert!(matches!(
            open_with(&key, &sealed, "note.body:2", "note.body:1"),
            Err(SealError::Damaged)
        ));
        assert!(matches!(
            open_with(&[8u8; KEY_LEN], &sealed, "note.body:1", "-"),
            Err(SealError::Damaged)
        ));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            open_with(&key, &tampered, "note.body:1", "-"),
            Err(SealError::Damaged)
        ));
        assert!(matches!(key_id_of(b"\x01ab"), Err(SealError::Damaged)));
        // The same text sealed twice differs (a fresh nonce each time).
        assert_ne!(
            sealed,
            seal_with(&key, 3, b"feels safer at home now", "note.body:1").unwrap()
        );
    }

    #[test]
    fn the_master_key_wraps_data_keys_and_a_wrong_one_says_so() {
        let master = MasterKey::from_base64(&STANDARD.encode([1u8; KEY_LEN])).unwrap();
        let other = MasterKey::from_base64(&STANDARD.encode([2u8; KEY_LEN])).unwrap();
        let data_key = [9u8; KEY_LEN];
        let (here, there) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let wrapped = master.wrap(here, 5, &data_key).unwrap();
        assert_eq!(*master.unwrap(here, 5, &wrapped).unwrap(), data_key);
        assert!(matches!(
            other.unwrap(here, 5, &wrapped),
            Err(SealError::WrongMasterKey)
        ));
        assert!(
            matches!(master.unwrap(here, 6, &wrapped), Err(SealError::WrongMasterKey)),
            "bound to its id"
        );
        assert!(
            matches!(master.unwrap(there, 5, &wrapped), Err(SealError::WrongMasterKey)),
            "bound to its organisation"
        );
        // A key wrapped in the first format (naming no organisation) still unwraps.
        let mut legacy = seal_with(&master.0, 5, &data_key, "haven data key 5").unwrap();
        legacy[0] = LEGACY;
        assert_eq!(*master.unwrap(there, 5, &legacy).unwrap(), data_key);
        assert!(matches!(
            MasterKey::from_base64("c2hvcnQ="),
            Err(SealError::MasterKeyFormat)
        ));
        assert_eq!(format!("{master:?}"), "MasterKey(…)");
    }

    #[test]
    fn the_key_file_is_made_once_and_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let again = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(*first.0, *again.0);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
