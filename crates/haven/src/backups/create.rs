//! Making a backup: one organisation's database, documents and manifest, as one
//! age-encrypted file on a local folder or the cloud target.
//!
//! The facts of the manifest and `pg_dump` read the same snapshot. The dump is measured
//! before it goes into the archive (a tar entry names its size first), so it is spooled
//! to disk first, encrypted to a key that lives only in memory for the length of the
//! backup: nothing of a backup is ever written unencrypted.

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use sqlx::ConnectOptions as _;

use super::contents::{
    AuditState, BackupKey, DATABASE_ENTRY, DOCUMENTS_PREFIX, FORMAT, MANIFEST_ENTRY, Manifest, Organisation, Part,
    SIGNATURE_ENTRY, Tallied, Tally,
};
use super::store::{self, StoredObject};
use super::stream::{ObjectReader, Sink};
use super::{BackupError, keys};
use crate::compliance::audit;
use crate::compliance::networks::StoragePolicy;
use crate::compliance::rotation::SealedColumn;
use crate::compliance::sealing::Vault;
use crate::compliance::storage::{Accountable, Storage, Target};
use crate::config::Config;
use crate::platform::database::{DatabaseName, DatabaseServer};
use crate::platform::tenancy::TenantRecord;

/// Where a backup goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A local folder (the default target: `[backup] dir`).
    Local(PathBuf),
    /// The cloud target (the storage layer's S3-compatible store), under `backups/<slug>/`;
    /// only for organisations whose policy lets their records leave.
    Cloud,
}

impl Destination {
    /// The storage target it is on.
    pub fn target(&self) -> Target {
        match self {
            Self::Local(_) => Target::Local,
            Self::Cloud => Target::Cloud,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Self::Local(dir) => dir.display().to_string(),
            Self::Cloud => "cloud".to_owned(),
        }
    }
}

/// What the tools of a backup are: the installation's settings, its database server,
/// storage and keys.
pub struct Tools<'a> {
    pub config: &'a Config,
    pub server: &'a DatabaseServer,
    pub storage: Arc<Storage>,
    pub vault: &'a Vault,
    /// Every module's sealed columns, a sample of each opened when a copy is checked.
    pub sealed: Vec<SealedColumn>,
    pub progress: ProgressBar,
    pub clock: crate::clock::SharedClock,
}

/// A backup made.
#[derive(Debug, Clone)]
pub struct Made {
    /// The file's name (`haven-<slug>-<time>.tar.age`).
    pub name: String,
    /// Where it is: a path, or the cloud target's object key.
    pub location: String,
    pub target: Target,
    /// The file's size.
    pub bytes: u64,
    pub manifest: Manifest,
}

impl Made {
    /// Where to read it back from.
    pub fn source(&self) -> super::restore::Source {
        match self.target {
            Target::Cloud => super::restore::Source::Cloud(self.location.clone()),
            Target::Local => super::restore::Source::File(self.location.clone().into()),
        }
    }
}

/// Backs up one organisation to `to`. A destination its storage policy does not allow is
/// refused (and the refusal audited) before anything is read.
pub async fn create(
    tools: &Tools<'_>,
    tenant: &TenantRecord,
    to: &Destination,
    who: &Accountable<'_>,
    now: DateTime<Utc>,
) -> Result<Made, BackupError> {
    let database = DatabaseName::parse(&tenant.database_name)
        .ok_or_else(|| BackupError::Refused(format!("`{}` is not a database name", tenant.database_name)))?;
    let mut conn = tools.server.options(&database).connect().await?;
    let snapshot = store::begin_snapshot(&mut conn).await?;
    let settings = store::settings(&mut conn).await?;
    let policy = StoragePolicy::of(store::every_client_exempt(&mut conn).await?, settings.storage_policy);
    let name = format!("haven-{}-{}.tar.age", tenant.slug, now.format("%Y%m%dT%H%M%S%.3fZ"));
    let pg_dump = pg_tool(tools.config, "pg_dump")?;
    let encryptor = keys::encryptor(tools.config)?;
    let runtime = tokio::runtime::Handle::current();
    // The policy first: nothing is read for a target it does not allow.
    let (cloud_writer, location, target) = match to {
        Destination::Local(dir) => (None, dir.join(&name).display().to_string(), Target::Local),
        Destination::Cloud => {
            let key = format!("backups/{}/{name}", tenant.slug);
            let writer = tools.storage.writer(who, policy, Target::Cloud, &key).await?;
            (Some(writer), key, Target::Cloud)
        }
    };
    let key = BackupKey::of(tools.vault.master());
    let mut manifest = read_facts(tools.config, &mut conn, tenant, &settings, now).await?;
    let documents = store::documents(&mut conn).await?;

    // The dump reads the same snapshot, held open until it is done.
    let work = work_dir(tools.config)?;
    let spool = work.join(format!("{name}.dump"));
    let dump = {
        let (dbname, password) = tools.server.libpq(&database);
        let spool = spool.clone();
        let bar = tools.progress.clone();
        tokio::task::spawn_blocking(move || {
            dump_to_spool(&pg_dump, &dbname, password.as_deref(), &snapshot, &spool, &bar)
        })
        .await
        .map_err(|e| BackupError::Refused(format!("the dump stopped: {e}")))?
    };
    store::end_snapshot(conn).await?;
    let (dump, spool_key) = match dump {
        Ok(done) => done,
        Err(err) => {
            let _ = std::fs::remove_file(&spool);
            discard(to, &location);
            return Err(err);
        }
    };
    manifest.database = dump;

    let sink = match (cloud_writer, to) {
        (Some(writer), _) => Sink::Object {
            writer: Some(Box::new(writer)),
            runtime: runtime.clone(),
        },
        (None, _) => match private_file(&partial(Path::new(&location))) {
            Ok(file) => Sink::File(BufWriter::new(file)),
            Err(err) => {
                let _ = std::fs::remove_file(&spool);
                return Err(err);
            }
        },
    };
    let storage = Arc::clone(&tools.storage);
    let bar = tools.progress.clone();
    let written = {
        let spool = spool.clone();
        tokio::task::spawn_blocking(move || {
            write_archive(
                sink,
                encryptor,
                &Spool {
                    path: spool,
                    key: spool_key,
                },
                &documents,
                manifest,
                &key,
                &storage,
                &runtime,
                &bar,
            )
        })
        .await
        .map_err(|e| BackupError::Refused(format!("the backup stopped: {e}")))?
    };
    let _ = std::fs::remove_file(&spool);
    let (bytes, manifest) = match written {
        Ok(done) => done,
        Err(err) => {
            discard(to, &location);
            return Err(err);
        }
    };
    publish(to, &name)?;
    Ok(Made {
        name,
        location,
        target,
        bytes,
        manifest,
    })
}

/// The manifest's facts, read in the snapshot (the dump and documents are added as they
/// are written).
async fn read_facts(
    config: &Config,
    conn: &mut sqlx::PgConnection,
    tenant: &TenantRecord,
    settings: &crate::organisation::OrganisationSettings,
    now: DateTime<Utc>,
) -> Result<Manifest, BackupError> {
    let audit_key = audit::SigningKey::load_or_create(&config.audit_signing_key_path())
        .map_err(|e| BackupError::Keys(e.to_string()))?;
    let (head_seq, head_hash) = store::audit_head(conn).await?;
    let mut trusted_keys = vec![hex::encode(audit_key.public_key())];
    trusted_keys.extend(config.audit.trusted_keys.iter().map(|k| hex::encode(k.0)));
    Ok(Manifest {
        format: FORMAT.to_owned(),
        haven_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: now,
        organisation: Organisation {
            id: tenant.id,
            slug: tenant.slug.to_string(),
            display_name: tenant.display_name.clone(),
            hosts: tenant.hosts.clone(),
            enabled_modules: tenant.enabled_modules.clone(),
        },
        storage_policy: settings.storage_policy.as_str().to_owned(),
        migrations: store::migrations(conn).await?,
        tables: store::table_sums(conn).await?,
        audit: AuditState {
            head_seq,
            head_hash: hex::encode(head_hash),
            checkpoint: store::latest_checkpoint(conn).await?,
            trusted_keys,
        },
        data_keys: store::data_keys(conn).await?,
        database: Part {
            name: DATABASE_ENTRY.to_owned(),
            bytes: 0,
            sha256: String::new(),
        },
        documents: Vec::new(),
    })
}

/// A finished local file takes its name (atomically, durably).
fn publish(to: &Destination, name: &str) -> std::io::Result<()> {
    if let Destination::Local(dir) = to {
        let path = dir.join(name);
        std::fs::rename(partial(&path), &path)?;
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn discard(to: &Destination, location: &str) {
    if matches!(to, Destination::Local(_)) {
        let _ = std::fs::remove_file(partial(Path::new(location)));
    }
}

/// A file only Haven's user may read, made fresh.
fn private_file(path: &Path) -> Result<std::fs::File, BackupError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?)
}

/// A private folder for a backup's spool, beside the local backups.
fn work_dir(config: &Config) -> Result<PathBuf, BackupError> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = config.backup.dir_path(config).join(".work");
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

/// PostgreSQL's own tool `name`, from the folder of the server binaries Haven finds
/// (following a link to them, as `/usr/local/bin/postgres` may be, to their real folder).
pub(super) fn pg_tool(config: &Config, name: &str) -> Result<PathBuf, BackupError> {
    let binaries = haven_pg_embed::Binaries::locate(config.pg_bin_dir.as_deref(), None)
        .map_err(|e| BackupError::Refused(format!("PostgreSQL's tools were not found: {e}")))?;
    let real_dir = std::fs::canonicalize(binaries.bin_dir.join("postgres"))
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    real_dir
        .into_iter()
        .chain(std::iter::once(binaries.bin_dir.clone()))
        .map(|dir| dir.join(name))
        .find(|tool| tool.is_file())
        .ok_or_else(|| {
            BackupError::Refused(format!(
                "{name} was not found beside PostgreSQL's server in {}",
                binaries.bin_dir.display()
            ))
        })
}

/// One of PostgreSQL's tools, running, its error output gathered on a thread so that a
/// failure can say why.
pub(super) struct Tool {
    name: &'static str,
    pub child: std::process::Child,
    errors: std::thread::JoinHandle<Vec<u8>>,
}

impl Tool {
    /// Starts `program` with `args`; the password goes in `PGPASSWORD`, never on the
    /// command line.
    pub(super) fn start(
        name: &'static str,
        program: &Path,
        args: &[&str],
        password: Option<&str>,
        (stdin, stdout): (Stdio, Stdio),
    ) -> Result<Self, BackupError> {
        let mut command = Command::new(program);
        command.args(args).stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        if let Some(password) = password {
            command.env("PGPASSWORD", password);
        }
        let mut child = command.spawn().map_err(|e| BackupError::Tool {
            tool: name,
            detail: e.to_string(),
        })?;
        let stderr = child.stderr.take();
        let errors = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut stderr) = stderr {
                let _ = stderr.read_to_end(&mut text);
            }
            text
        });
        Ok(Self { name, child, errors })
    }

    /// Waits for it; a failure carries the last lines of its error output.
    pub(super) fn finish(mut self) -> Result<(), BackupError> {
        let status = self.child.wait()?;
        let errors = self.errors.join().unwrap_or_default();
        if status.success() {
            Ok(())
        } else {
            Err(BackupError::Tool {
                tool: self.name,
                detail: tail_of(&errors),
            })
        }
    }
}

/// The last lines a tool wrote to its error output, for an operator to read.
fn tail_of(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    tail.chars().take(600).collect()
}

/// Runs `pg_dump` on the exported snapshot into an encrypted spool file; returns what
/// was dumped (size and checksum of the plain dump) and the spool's key.
fn dump_to_spool(
    pg_dump: &Path,
    dbname: &str,
    password: Option<&str>,
    snapshot: &str,
    spool: &Path,
    bar: &ProgressBar,
) -> Result<(Part, age::x25519::Identity), BackupError> {
    let mut tool = Tool::start(
        "pg_dump",
        pg_dump,
        &[
            "--format=custom",
            "--no-password",
            "--snapshot",
            snapshot,
            "--dbname",
            dbname,
        ],
        password,
        (Stdio::null(), Stdio::piped()),
    )?;
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public();
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| BackupError::Keys(e.to_string()))?;
    let mut spooled = encryptor.wrap_output(BufWriter::new(private_file(spool)?))?;
    let mut tally = Tally::default();
    let mut stdout = tool.child.stdout.take().ok_or_else(|| BackupError::Tool {
        tool: "pg_dump",
        detail: "no output".to_owned(),
    })?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tally.add(&buf[..n]);
        spooled.write_all(&buf[..n])?;
        bar.inc(n as u64);
    }
    tool.finish()?;
    spooled
        .finish()?
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    Ok((tally.part(DATABASE_ENTRY), key))
}

struct Spool {
    path: PathBuf,
    key: age::x25519::Identity,
}

/// Appends one entry of `size` bytes read from `data`; returns its part of the manifest.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
    mtime: u64,
    bar: &ProgressBar,
) -> Result<Part, BackupError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(mtime);
    let mut tallied = Tallied {
        inner: data,
        tally: Tally::default(),
    };
    tar.append_data(&mut header, name, &mut tallied)?;
    bar.inc(size);
    if tallied.tally.bytes != size {
        return Err(BackupError::Refused(format!(
            "{name} changed while it was backed up ({} bytes, expected {size})",
            tallied.tally.bytes
        )));
    }
    Ok(tallied.tally.part(name))
}

/// Counts what is written through it (the backup file's size).
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the archive: the dump (read back from the spool), each document, then the
/// manifest and its signature; returns the file's size and the manifest as signed.
#[allow(clippy::too_many_arguments)]
fn write_archive(
    sink: Sink,
    encryptor: age::Encryptor,
    spool: &Spool,
    documents: &[StoredObject],
    mut manifest: Manifest,
    key: &BackupKey,
    storage: &Storage,
    runtime: &tokio::runtime::Handle,
    bar: &ProgressBar,
) -> Result<(u64, Manifest), BackupError> {
    let encrypted = encryptor.wrap_output(Counted { inner: sink, bytes: 0 })?;
    let mut tar = tar::Builder::new(encrypted);
    let dump = age::Decryptor::new_buffered(BufReader::new(std::fs::File::open(&spool.path)?))
        .and_then(|d| d.decrypt(std::iter::once(&spool.key as &dyn age::Identity)))
        .map_err(|e| BackupError::Refused(format!("the dump's spool could not be read back: {e}")))?;
    let mtime = u64::try_from(manifest.created_at.timestamp()).unwrap_or(0);
    let read_back = append(&mut tar, DATABASE_ENTRY, manifest.database.bytes, dump, mtime, bar)?;
    if read_back != manifest.database {
        return Err(BackupError::Refused(
            "the dump changed on disk before it was archived".to_owned(),
        ));
    }
    for document in documents {
        let target = Target::parse(&document.target)
            .ok_or_else(|| BackupError::Refused(format!("unknown storage target {}", document.target)))?;
        let (size, stream) = runtime.block_on(storage.read_sized(target, &document.key))?;
        let name = format!("{DOCUMENTS_PREFIX}{}", document.key);
        let part = append(
            &mut tar,
            &name,
            size,
            ObjectReader::new(stream, runtime.clone()),
            mtime,
            bar,
        )?;
        manifest.documents.push(part);
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Refused(e.to_string()))?;
    let signature = serde_json::to_vec_pretty(&key.sign(&json)).map_err(|e| BackupError::Refused(e.to_string()))?;
    append(&mut tar, MANIFEST_ENTRY, json.len() as u64, json.as_slice(), mtime, bar)?;
    append(
        &mut tar,
        SIGNATURE_ENTRY,
        signature.len() as u64,
        signature.as_slice(),
        mtime,
        bar,
    )?;
    let counted = tar.into_inner()?.finish()?;
    let bytes = counted.bytes;
    counted.inner.finish()?;
    Ok((bytes, manifest))
}
