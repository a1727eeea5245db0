//! The storage layer (SPEC modules 5 and 6): one interface over two targets, local disk
//! and S3-compatible object storage, both through the `object_store` crate. The policy
//! lives here, not in handlers: every write, copy or move names the record's storage
//! policy, and a `local_only` record bound for the cloud target is refused, with an audit
//! event, whoever asked and whatever route or job they came through.
//!
//! What is stored is already sealed (documents are encrypted before they reach this layer).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::audit::{AuditEvent, AuditWriter, Outcome};
use super::networks::StoragePolicy;
use crate::config::Config;

crate::word_enum!(
    Target {
        Local => "local", "Local disk",
        Cloud => "cloud", "Cloud (S3-compatible)",
    }
);

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the storage policy of this record is local_only; it may not be stored on the cloud target")]
    PolicyRefused,
    #[error("no cloud storage is configured (s3_bucket)")]
    NoCloud,
    #[error("storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("the refusal could not be audited: {0}")]
    Audit(#[from] super::audit::AuditError),
}

/// Who is asking, for the audit event of a refusal: the request's or the job's actor.
pub struct Accountable<'a> {
    pub audit: &'a AuditWriter,
    /// An event naming the actor and request; its action and outcome are set here.
    pub event: AuditEvent,
}

pub struct Storage {
    local: Arc<dyn ObjectStore>,
    cloud: Option<Arc<dyn ObjectStore>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("cloud", &self.cloud.is_some())
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Local disk under `documents_dir` (created 0700); S3 when `s3_bucket` is set.
    pub fn from_config(config: &Config) -> Result<Self, StorageError> {
        let dir = config.documents_path();
        std::fs::create_dir_all(&dir)?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let local: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir)?);
        let cloud = match &config.s3.bucket {
            None => None,
            Some(bucket) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&config.s3.region)
                    .with_allow_http(config.s3.allow_http);
                if let Some(endpoint) = &config.s3.endpoint {
                    builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
                }
                if let (Some(id), Some(secret)) = (&config.s3.access_key_id, &config.s3.secret_access_key) {
                    builder = builder
                        .with_access_key_id(id.expose())
                        .with_secret_access_key(secret.expose());
                }
                Some(Arc::new(builder.build()?) as Arc<dyn ObjectStore>)
            }
        };
        Ok(Self { local, cloud })
    }

    pub fn has_cloud(&self) -> bool {
        self.cloud.is_some()
    }

    /// Where a record of `policy` goes by default: the cloud when it may and one is
    /// configured, else local disk.
    pub fn place(&self, policy: StoragePolicy) -> Target {
        if policy == StoragePolicy::CloudAllowed && self.cloud.is_some() {
            Target::Cloud
        } else {
            Target::Local
        }
    }

    fn store(&self, target: Target) -> Result<&Arc<dyn ObjectStore>, StorageError> {
        match target {
            Target::Local => Ok(&self.local),
            Target::Cloud => self.cloud.as_ref().ok_or(StorageError::NoCloud),
        }
    }

    /// The one check every write, copy and move passes: `local_only` never reaches the
    /// cloud. A refusal is audited before it is returned.
    async fn allow(
        &self,
        who: &Accountable<'_>,
        policy: StoragePolicy,
        target: Target,
        key: &str,
    ) -> Result<(), StorageError> {
        if target == Target::Cloud && policy == StoragePolicy::LocalOnly {
            let mut event = who.event.clone();
            "storage.refused".clone_into(&mut event.action);
            event.outcome = Outcome::Denied;
            event.resource_type = Some("object".to_owned());
            event.resource_id = Some(key.chars().take(200).collect());
            event.reason = Some("local_only record bound for the cloud target".to_owned());
            who.audit.record(event).await?;
            return Err(StorageError::PolicyRefused);
        }
        Ok(())
    }

    /// Starts writing `key` on `target` for a record of `policy` (refused for
    /// `local_only` on the cloud). Write with [`ObjectWriter::write`], then `finish`.
    pub async fn writer(
        &self,
        who: &Accountable<'_>,
        policy: StoragePolicy,
        target: Target,
        key: &str,
    ) -> Result<ObjectWriter, StorageError> {
        self.allow(who, policy, target, key).await?;
        let store = Arc::clone(self.store(target)?);
        Ok(ObjectWriter {
            inner: BufWriter::new(Arc::clone(&store), Path::from(key)),
            store,
            path: Path::from(key),
        })
    }

    /// Writes a whole value (small objects, tests).
    pub async fn put(
        &self,
        who: &Accountable<'_>,
        policy: StoragePolicy,
        target: Target,
        key: &str,
        bytes: Bytes,
    ) -> Result<(), StorageError> {
        self.allow(who, policy, target, key).await?;
        self.store(target)?.put(&Path::from(key), bytes.into()).await?;
        Ok(())
    }

    /// The object's bytes as a stream.
    pub async fn read(
        &self,
        target: Target,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let got = self.store(target)?.get(&Path::from(key)).await?;
        Ok(got.into_stream().map(|chunk| chunk.map_err(StorageError::from)).boxed())
    }

    /// The object's size and its bytes as a stream (an archive's entry needs its size first).
    pub async fn read_sized(
        &self,
        target: Target,
        key: &str,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, StorageError>>), StorageError> {
        let got = self.store(target)?.get(&Path::from(key)).await?;
        let size = got.meta.size;
        Ok((
            size,
            got.into_stream().map(|chunk| chunk.map_err(StorageError::from)).boxed(),
        ))
    }

    /// The keys of the objects under `prefix`, with their sizes and last changes.
    pub async fn list(
        &self,
        target: Target,
        prefix: &str,
    ) -> Result<Vec<(String, u64, chrono::DateTime<chrono::Utc>)>, StorageError> {
        let mut listed = self.store(target)?.list(Some(&Path::from(prefix)));
        let mut found = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            found.push((meta.location.to_string(), meta.size, meta.last_modified));
        }
        Ok(found)
    }

    /// Copies `key` to another target (the same check as a write), then removes it from
    /// the source: how jobs and migrations move data between targets.
    pub async fn relocate(
        &self,
        who: &Accountable<'_>,
        policy: StoragePolicy,
        from: Target,
        to: Target,
        key: &str,
    ) -> Result<(), StorageError> {
        if from == to {
            return Ok(());
        }
        let mut writer = self.writer(who, policy, to, key).await?;
        let mut chunks = self.read(from, key).await?;
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(chunk) => writer.write(&chunk).await?,
                Err(err) => {
                    writer.abort().await;
                    return Err(err);
                }
            }
        }
        writer.finish().await?;
        self.delete(from, key).await
    }

    pub async fn delete(&self, target: Target, key: &str) -> Result<(), StorageError> {
        match self.store(target)?.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

/// A streaming write to one object; nothing is visible until `finish`.
pub struct ObjectWriter {
    inner: BufWriter,
    store: Arc<dyn ObjectStore>,
    path: Path,
}

impl ObjectWriter {
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.write_all(bytes).await?;
        Ok(())
    }

    pub async fn finish(mut self) -> Result<(), StorageError> {
        self.inner.shutdown().await?;
        Ok(())
    }

    /// Gives up: whatever was written is removed.
    pub async fn abort(mut self) {
        if self.inner.abort().await.is_err() {
            tracing::warn!("an aborted upload could not be cleaned up");
        }
        let _ = self.store.delete(&self.path).await;
    }
}
