//! Reading a backup back: verify it (restore into a scratch database, check, drop) or
//! restore it (the same, then put the copy in place of the organisation's database).
//!
//! The first pass decrypts the file and checks the manifest's signature and every
//! entry's size and checksum, restoring nothing: a dump is executable SQL, so it runs
//! only once the installation's own signature vouches for it. The second pass restores
//! the dump into a scratch database and checks the copy against the manifest.

use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use sqlx::{ConnectOptions as _, Connection as _, PgPool};

use super::contents::{
    BackupKey, DATABASE_ENTRY, DOCUMENTS_PREFIX, FORMAT, MANIFEST_ENTRY, Manifest, Part, SIGNATURE_ENTRY, Signature,
    Tallied, Tally,
};
use super::create::{Tool, Tools, pg_tool};
use super::stream::ObjectReader;
use super::{BackupError, keys, store};
use crate::compliance::audit::{self, ActorKind, AuditEvent, AuditWriter, Outcome, Trust};
use crate::compliance::networks::StoragePolicy;
use crate::compliance::rotation::SealedColumn;
use crate::compliance::sealing::Keyring;
use crate::compliance::storage::{Accountable, Storage, Target};
use crate::platform::database::DatabaseName;
use crate::platform::tenancy::{self, TenantRecord, TenantSlug, TenantStatus};

/// Where a backup is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// An object on the cloud target.
    Cloud(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Cloud(key) => write!(f, "cloud:{key}"),
        }
    }
}

/// What the checks of a restored copy found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub tables: usize,
    pub rows: i64,
    pub audit_events: u64,
    pub sealed_opened: usize,
}

/// A backup restored into a scratch database, checked, and dropped.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub checked: Checked,
    pub elapsed: Duration,
}

impl Verified {
    pub fn summary(&self) -> String {
        format!(
            "verified: {} tables, {} rows, {} documents ({} bytes), {} audit events in an intact chain, {} sealed values opened",
            self.checked.tables,
            self.checked.rows,
            self.manifest.documents.len(),
            self.manifest.documents_bytes(),
            self.checked.audit_events,
            self.checked.sealed_opened
        )
    }
}

/// A backup put in place of an organisation.
#[derive(Debug, Clone)]
pub struct Restored {
    pub verified: Verified,
    pub slug: TenantSlug,
    pub hosts: Vec<String>,
}

/// Decrypts, checks the signature and checksums, restores into a scratch database,
/// checks the copy against the manifest, then drops it.
pub async fn verify(tools: &Tools<'_>, source: &Source) -> Result<Verified, BackupError> {
    let started = Instant::now();
    let manifest = first_pass(tools, source).await?;
    let scratch = scratch_name(tools, "verify")?;
    let result = second_pass(tools, source, &manifest, &scratch).await;
    tools.server.drop_database(&scratch).await?;
    Ok(Verified {
        manifest,
        checked: result?.0,
        elapsed: started.elapsed(),
    })
}

/// How a restore goes: under which slug, and whether it may replace a live organisation.
#[derive(Debug, Clone)]
pub struct RestoreAs {
    /// `None`: the slug the backup was made under.
    pub slug: Option<TenantSlug>,
    /// Replace the organisation of that slug if it is live here.
    pub replace: bool,
    /// The command line's operator, for the restored trail's event.
    pub operator: String,
    /// The organisation the operator means to restore: the backup must be of it.
    pub of: String,
}

/// Restores an organisation: verifies the file as [`verify`] does, then writes its
/// documents, stops the organisation's traffic, puts the restored database in place of
/// its database, brings it to this version's migrations, and records the restore in the
/// restored audit trail. Refuses to replace a live organisation unless told to.
pub async fn restore(
    tools: &Tools<'_>,
    source: &Source,
    control: &PgPool,
    how: &RestoreAs,
) -> Result<Restored, BackupError> {
    let started = Instant::now();
    let manifest = first_pass(tools, source).await?;
    if manifest.organisation.slug != how.of {
        return Err(BackupError::Refused(format!(
            "this is a backup of `{}`, not `{}`; nothing was changed",
            manifest.organisation.slug, how.of
        )));
    }
    let slug = match &how.slug {
        Some(slug) => slug.clone(),
        None => TenantSlug::parse(&manifest.organisation.slug).map_err(BackupError::Refused)?,
    };
    let database_name = format!(
        "{}{}",
        tools.config.tenant_database_prefix,
        slug.as_str().replace('-', "_")
    );
    let database = DatabaseName::parse(&database_name)
        .ok_or_else(|| BackupError::Refused(format!("`{database_name}` cannot name a database")))?;
    let live = tenancy::list_tenants(control).await?;
    if let Some(other) = live.iter().find(|t| t.id == manifest.organisation.id && t.slug != slug) {
        return Err(BackupError::Refused(format!(
            "this organisation is live here as `{}`: its sealed records are bound to its identity, so a second copy cannot run beside it. Check the backup with `haven backup verify`, or restore over it with --tenant {} --force",
            other.slug, other.slug
        )));
    }
    let existing = live.iter().find(|t| t.slug == slug);
    if existing.is_some() && !how.replace {
        return Err(BackupError::Refused(format!(
            "`{slug}` is live here; nothing was changed. Add --force to replace it with the backup"
        )));
    }
    let scratch = scratch_name(tools, "restore")?;
    let written = async {
        let (checked, _) = second_pass(tools, source, &manifest, &scratch).await?;
        // The documents next, checked again as they are written; each has its own key,
        // and a document's content never changes, so writing one that is there already
        // changes nothing.
        write_documents(tools, source, &scratch, &manifest).await?;
        Ok::<_, BackupError>(checked)
    };
    let checked = match written.await {
        Ok(checked) => checked,
        Err(err) => {
            tools.server.drop_database(&scratch).await?;
            return Err(err);
        }
    };
    // The copy is good: stop the organisation's traffic, then swap the databases.
    if let Some(existing) = existing {
        tenancy::suspend(control, existing.id)
            .await
            .map_err(|e| BackupError::Refused(e.to_string()))?;
        if let Some(old) = DatabaseName::parse(&existing.database_name) {
            tools.server.drop_database(&old).await?;
        }
    }
    tools.server.drop_database(&database).await?;
    tools.server.rename_database(&scratch, &database).await?;
    let record = TenantRecord {
        id: manifest.organisation.id,
        slug: slug.clone(),
        display_name: manifest.organisation.display_name.clone(),
        database_name: database.as_str().to_owned(),
        hosts: manifest.organisation.hosts.clone(),
        enabled_modules: manifest.organisation.enabled_modules.clone(),
        status: TenantStatus::Provisioning,
    };
    let hosts = tenancy::adopt(tools.server, control, &record).await.map_err(|e| {
        BackupError::Refused(format!(
            "{e}; the restored database is in place but the organisation is not back in service: run the same restore again with --force"
        ))
    })?;
    // The restored trail's checkpoints were signed by the keys its installation trusted
    // (the signed manifest names them): `haven audit verify` trusts them here from now on.
    audit::trust_restored_keys(tools.config, &manifest.audit.trusted_keys)?;
    record_restore(tools, &database, source, &manifest, &how.operator).await?;
    Ok(Restored {
        verified: Verified {
            manifest,
            checked,
            elapsed: started.elapsed(),
        },
        slug,
        hosts,
    })
}

/// The restore, as the first event of the restored trail after the backup's head.
async fn record_restore(
    tools: &Tools<'_>,
    database: &DatabaseName,
    source: &Source,
    manifest: &Manifest,
    operator: &str,
) -> Result<(), BackupError> {
    let pool = tools.server.connect_pool(database).await?;
    let now = tools.clock.now();
    let writer = AuditWriter::spawn(pool.clone(), tools.clock.clone(), Duration::ZERO);
    let event = AuditEvent::new(now, "backup.restored", Outcome::Allowed)
        .actor(ActorKind::System, Some(format!("cli:{operator}")))
        .resource("backup", source.to_string().chars().take(200).collect::<String>())
        .reason(format!(
            "backup of {} made {}, audit head {}",
            manifest.organisation.slug,
            manifest.created_at.to_rfc3339(),
            manifest.audit.head_seq
        ));
    let recorded = writer.record(event).await;
    drop(writer);
    pool.close().await;
    recorded.map_err(|e| BackupError::Refused(format!("the restore could not be recorded in the audit trail: {e}")))?;
    Ok(())
}

/// A scratch database's name: the control database's, the purpose, and a random part.
fn scratch_name(tools: &Tools<'_>, purpose: &str) -> Result<DatabaseName, BackupError> {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let control = tools.server.control_database().as_str();
    let control = &control[..control.len().min(40)];
    DatabaseName::parse(&format!("{control}_{purpose}_{}", &suffix[..12]))
        .ok_or_else(|| BackupError::Refused("no scratch database name".to_owned()))
}

/// The backup's bytes, decrypted.
fn open(
    tools_storage: &Storage,
    source: &Source,
    identities: &[Box<dyn age::Identity + Send>],
    runtime: &tokio::runtime::Handle,
) -> Result<Box<dyn Read + Send>, BackupError> {
    let raw: Box<dyn Read + Send> = match source {
        Source::File(path) => Box::new(
            std::fs::File::open(path)
                .map_err(|e| BackupError::Refused(format!("cannot open {}: {e}", path.display())))?,
        ),
        Source::Cloud(key) => {
            let stream = runtime.block_on(tools_storage.read(Target::Cloud, key))?;
            Box::new(ObjectReader::new(stream, runtime.clone()))
        }
    };
    let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(256 * 1024, raw))
        .map_err(|e| BackupError::Damaged(format!("it is not an age file ({e})")))?;
    let reader = decryptor
        .decrypt(identities.iter().map(|i| &**i as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => BackupError::NotForUs,
            other => BackupError::Damaged(other.to_string()),
        })?;
    Ok(Box::new(reader))
}

fn damaged(err: impl std::fmt::Display) -> BackupError {
    BackupError::Damaged(err.to_string())
}

/// Reads an entry whole, refusing one larger than `limit`.
fn read_small(entry: impl Read, limit: u64) -> Result<Vec<u8>, BackupError> {
    let mut bytes = Vec::new();
    entry.take(limit + 1).read_to_end(&mut bytes).map_err(damaged)?;
    if bytes.len() as u64 > limit {
        return Err(BackupError::Damaged("the manifest is too large".to_owned()));
    }
    Ok(bytes)
}

/// The first pass: every entry's size and checksum, the signature, then the manifest's
/// account of the entries. Nothing is restored.
async fn first_pass(tools: &Tools<'_>, source: &Source) -> Result<Manifest, BackupError> {
    let identities = keys::identities(tools.config)?;
    let key = BackupKey::of(tools.vault.master());
    let storage = Arc::clone(&tools.storage);
    let source = source.clone();
    let bar = tools.progress.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let reader = open(&storage, &source, &identities, &runtime)?;
        let mut archive = tar::Archive::new(reader);
        let (mut parts, mut json, mut signature) = (Vec::new(), None, None);
        for entry in archive.entries().map_err(damaged)? {
            let mut entry = entry.map_err(damaged)?;
            let name = entry.path().map_err(damaged)?.to_string_lossy().into_owned();
            match name.as_str() {
                MANIFEST_ENTRY => json = Some(read_small(&mut entry, 256 << 20)?),
                SIGNATURE_ENTRY => signature = Some(read_small(&mut entry, 4096)?),
                _ => {
                    let mut tallied = Tallied {
                        inner: &mut entry,
                        tally: Tally::default(),
                    };
                    let n = std::io::copy(&mut tallied, &mut std::io::sink()).map_err(damaged)?;
                    bar.inc(n);
                    parts.push(tallied.tally.part(name));
                }
            }
        }
        let (Some(json), Some(signature)) = (json, signature) else {
            return Err(BackupError::Damaged("it holds no signed manifest".to_owned()));
        };
        let signature: Signature = serde_json::from_slice(&signature).map_err(|_| BackupError::Untrusted)?;
        if !key.vouches_for(&json, &signature) {
            return Err(BackupError::Untrusted);
        }
        let manifest: Manifest = serde_json::from_slice(&json).map_err(damaged)?;
        if manifest.format != FORMAT {
            return Err(BackupError::Refused(format!(
                "the backup's format is {}; this version reads {FORMAT}",
                manifest.format
            )));
        }
        let expected: Vec<&Part> = std::iter::once(&manifest.database).chain(&manifest.documents).collect();
        if parts.len() != expected.len() || parts.iter().zip(&expected).any(|(a, b)| a != *b) {
            let differs = parts.iter().zip(&expected).find(|(a, b)| a != *b).map_or_else(
                || "entries are missing or added".to_owned(),
                |(a, _)| format!("{} differs", a.name),
            );
            return Err(BackupError::Damaged(format!(
                "its contents differ from its manifest: {differs}"
            )));
        }
        Ok(manifest)
    })
    .await
    .map_err(|e| BackupError::Refused(format!("reading the backup stopped: {e}")))?
}

type Rest = tar::Archive<Box<dyn Read + Send>>;

/// The second pass: the dump into `scratch` and the checks of the copy. Returns the
/// archive read as far as the dump (the documents follow).
async fn second_pass(
    tools: &Tools<'_>,
    source: &Source,
    manifest: &Manifest,
    scratch: &DatabaseName,
) -> Result<(Checked, Rest), BackupError> {
    tools.server.ensure_database(scratch).await?;
    let identities = keys::identities(tools.config)?;
    let storage = Arc::clone(&tools.storage);
    let runtime = tokio::runtime::Handle::current();
    let (dbname, password) = tools.server.libpq(scratch);
    let pg_restore = pg_tool(tools.config, "pg_restore")?;
    let bar = tools.progress.clone();
    let source_owned = source.clone();
    let expected = manifest.database.clone();
    // The dump first (a blocking pipe into pg_restore), stopping the reader there.
    let (checked_dump, reader) = {
        let storage = Arc::clone(&storage);
        let runtime = runtime.clone();
        tokio::task::spawn_blocking(
            move || -> Result<(Part, tar::Archive<Box<dyn Read + Send>>), BackupError> {
                let reader = open(&storage, &source_owned, &identities, &runtime)?;
                let mut archive = tar::Archive::new(reader);
                let restored = {
                    let mut entries = archive.entries().map_err(damaged)?;
                    let mut entry = entries
                        .next()
                        .ok_or_else(|| BackupError::Damaged("it is empty".to_owned()))?
                        .map_err(damaged)?;
                    if entry.path().map_err(damaged)?.to_string_lossy() != DATABASE_ENTRY {
                        return Err(BackupError::Damaged("its first entry is not the database".to_owned()));
                    }
                    pipe_to_restore(&pg_restore, &dbname, password.as_deref(), &mut entry, &bar)?
                };
                Ok((restored, archive))
            },
        )
        .await
        .map_err(|e| BackupError::Refused(format!("the restore stopped: {e}")))??
    };
    if checked_dump != expected {
        return Err(BackupError::Damaged(
            "the database entry changed between the two reads".to_owned(),
        ));
    }
    let checked = check_copy(tools, scratch, manifest).await?;
    Ok((checked, reader))
}

/// Feeds one entry to `pg_restore` into the scratch database (one transaction, stopping
/// at the first error); returns what was fed.
fn pipe_to_restore(
    pg_restore: &std::path::Path,
    dbname: &str,
    password: Option<&str>,
    entry: &mut impl Read,
    bar: &ProgressBar,
) -> Result<Part, BackupError> {
    let mut tool = Tool::start(
        "pg_restore",
        pg_restore,
        &[
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            "--dbname",
            dbname,
        ],
        password,
        (Stdio::piped(), Stdio::null()),
    )?;
    let mut tally = Tally::default();
    {
        let mut stdin = tool.child.stdin.take().ok_or_else(|| BackupError::Tool {
            tool: "pg_restore",
            detail: "no input".to_owned(),
        })?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = entry.read(&mut buf).map_err(damaged)?;
            if n == 0 {
                break;
            }
            tally.add(&buf[..n]);
            bar.inc(n as u64);
            if stdin.write_all(&buf[..n]).is_err() {
                // pg_restore stopped early; its error output says why.
                break;
            }
        }
    }
    tool.finish()?;
    Ok(tally.part(DATABASE_ENTRY))
}

/// The restored copy against the manifest: every table's rows and checksum, the
/// migrations, the audit chain (verified with the keys the backup's installation
/// trusted) and its head, and a sample of every sealed column opened.
async fn check_copy(tools: &Tools<'_>, scratch: &DatabaseName, manifest: &Manifest) -> Result<Checked, BackupError> {
    let mut conn = tools.server.options(scratch).connect().await?;
    store::stable_text(&mut conn).await?;
    let tables = store::table_sums(&mut conn).await?;
    for expected in &manifest.tables {
        match tables.iter().find(|t| t.name == expected.name) {
            None => return Err(BackupError::Mismatch(format!("table {} is missing", expected.name))),
            Some(found) if found.rows != expected.rows => {
                return Err(BackupError::Mismatch(format!(
                    "table {} has {} rows; the manifest says {}",
                    expected.name, found.rows, expected.rows
                )));
            }
            Some(found) if found.sum != expected.sum => {
                return Err(BackupError::Mismatch(format!(
                    "the rows of table {} differ from the manifest's checksum",
                    expected.name
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = tables.iter().find(|t| manifest.rows(&t.name).is_none()) {
        return Err(BackupError::Mismatch(format!(
            "table {} is not in the manifest",
            extra.name
        )));
    }
    if store::migrations(&mut conn).await? != manifest.migrations {
        return Err(BackupError::Mismatch("the migrations differ".to_owned()));
    }
    let (seq, hash) = store::audit_head(&mut conn).await?;
    if seq != manifest.audit.head_seq || hex::encode(hash) != manifest.audit.head_hash {
        return Err(BackupError::Mismatch(format!(
            "the audit head is event {seq}; the manifest says {}",
            manifest.audit.head_seq
        )));
    }
    conn.close().await?;
    let pool = tools.server.connect_pool(scratch).await?;
    let mut trust = Trust {
        keys: Vec::new(),
        external: manifest.audit.checkpoint.iter().cloned().collect(),
        archives: None,
    };
    for key in &manifest.audit.trusted_keys {
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(key, &mut bytes).is_ok() {
            trust.keys.push(bytes);
        }
    }
    let report = audit::verify(&pool, &trust, &|_| {}).await?;
    if !report.ok() {
        pool.close().await;
        return Err(BackupError::Mismatch(format!(
            "the restored audit trail does not verify: {}",
            report.summary()
        )));
    }
    let keyring = tools.vault.keyring(&TenantRecord {
        id: manifest.organisation.id,
        slug: TenantSlug::parse(&manifest.organisation.slug).map_err(BackupError::Refused)?,
        display_name: manifest.organisation.display_name.clone(),
        database_name: scratch.as_str().to_owned(),
        hosts: Vec::new(),
        enabled_modules: Vec::new(),
        status: TenantStatus::Active,
    });
    let opened = open_samples(&pool, &keyring, &tools.sealed).await;
    pool.close().await;
    Ok(Checked {
        tables: tables.len(),
        rows: tables.iter().map(|t| t.rows).sum(),
        audit_events: report.events,
        sealed_opened: opened?,
    })
}

/// Opens up to five values of every sealed column with the organisation's keys.
async fn open_samples(pool: &PgPool, keyring: &Keyring, sealed: &[SealedColumn]) -> Result<usize, BackupError> {
    let mut opened = 0;
    for column in sealed {
        let mut conn = pool.acquire().await?;
        for (id, value) in store::sealed_sample(&mut conn, column.table, column.column, 5).await? {
            keyring
                .open(pool, &value, &format!("{}:{id}", column.context))
                .await
                .map_err(|e| {
                    BackupError::Mismatch(format!(
                        "a sealed value of {}.{} does not open ({e}): is this the installation's master key?",
                        column.table, column.column
                    ))
                })?;
            opened += 1;
        }
    }
    Ok(opened)
}

/// Writes the backup's documents back to the target each was stored on, checking each.
async fn write_documents(
    tools: &Tools<'_>,
    source: &Source,
    database: &DatabaseName,
    manifest: &Manifest,
) -> Result<(), BackupError> {
    let identities = keys::identities(tools.config)?;
    let source = source.clone();
    let mut conn = tools.server.options(database).connect().await?;
    let placed = store::document_places(&mut conn).await?;
    conn.close().await?;
    let organisation =
        crate::organisation::StoragePolicy::parse(&manifest.storage_policy).unwrap_or(StoragePolicy::LocalOnly);
    let storage = Arc::clone(&tools.storage);
    let documents = manifest.documents.clone();
    let runtime = tokio::runtime::Handle::current();
    let bar = tools.progress.clone();
    // Writes outside any request: the restore is the actor, in the restored trail.
    let pool = tools.server.connect_pool(database).await?;
    let writer = AuditWriter::spawn(pool.clone(), tools.clock.clone(), Duration::ZERO);
    let event = AuditEvent::new(tools.clock.now(), "backup.restore", Outcome::Allowed).actor(ActorKind::System, None);
    let written = tokio::task::spawn_blocking(move || -> Result<(), BackupError> {
        let who = &Accountable { audit: &writer, event };
        let mut reader = tar::Archive::new(open(&storage, &source, &identities, &runtime)?);
        for entry in reader.entries().map_err(damaged)? {
            let mut entry = entry.map_err(damaged)?;
            let name = entry.path().map_err(damaged)?.to_string_lossy().into_owned();
            let Some(key) = name.strip_prefix(DOCUMENTS_PREFIX) else {
                continue;
            };
            let expected = documents
                .iter()
                .find(|d| d.name == name)
                .ok_or_else(|| BackupError::Damaged(format!("{name} is not in the manifest")))?;
            let (target, exempt) = placed
                .iter()
                .find(|p| p.0 == key)
                .map(|p| (p.1, p.2))
                .ok_or_else(|| BackupError::Mismatch(format!("no document is stored as {key}")))?;
            let policy = StoragePolicy::of(exempt, organisation);
            let mut object = runtime.block_on(storage.writer(who, policy, target, key))?;
            let mut tally = Tally::default();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = entry.read(&mut buf).map_err(damaged)?;
                if n == 0 {
                    break;
                }
                tally.add(&buf[..n]);
                bar.inc(n as u64);
                runtime.block_on(object.write(&buf[..n]))?;
            }
            if &tally.part(name.clone()) != expected {
                runtime.block_on(object.abort());
                return Err(BackupError::Damaged(format!("{name} changed between the two reads")));
            }
            runtime.block_on(object.finish())?;
        }
        drop(writer);
        Ok(())
    })
    .await
    .map_err(|e| BackupError::Refused(format!("writing the documents stopped: {e}")));
    pool.close().await;
    written?
}
