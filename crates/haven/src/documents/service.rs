//! Upload, list and download documents: the policy, the approved network, the type and
//! size checks, sealing, and the storage layer's placement; audited throughout.

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use zeroize::Zeroizing;

use super::content::{Opener, Sealer};
use super::store::{self, StoredDocument};
use super::{Document, clean_name, sniff};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::clinical::NoteId;
use crate::clinical::notes::{client_facts, record_policy};
use crate::compliance::audit::{self, Audited, Outcome};
use crate::compliance::networks::{self, StoragePolicy};
use crate::compliance::storage::{Accountable, ObjectWriter, StorageError, Target};
use crate::documents::DocumentId;
use crate::error::{Error, FieldError};
use crate::policy::{Action, ClientFacts, DocumentFacts, NoteFacts};
use crate::upload::{FileUpload, IncomingFile};

/// Where an upload goes and what it joins.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub note_id: Option<NoteId>,
    /// Asked-for target; the storage layer refuses the cloud for `local_only` records.
    pub target: Option<Target>,
}

fn name_context(id: DocumentId) -> String {
    format!("document.name:{id}")
}

fn key_context(id: DocumentId) -> String {
    format!("document.key:{id}")
}

fn object_key(caller: &Actor, id: DocumentId) -> String {
    format!("{}/{id}", caller.tenant.database.as_str())
}

impl From<StorageError> for Error {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::PolicyRefused => Self::Forbidden {
                code: "storage_policy",
                message: "This record's storage policy is local_only: it stays on the organisation's own storage and cannot be put on cloud storage.".to_owned(),
            },
            StorageError::NoCloud => Self::Invalid(vec![FieldError::new(
                "target",
                "no cloud storage is configured",
            )]),
            StorageError::Audit(err) => err.into(),
            other => Self::internal(anyhow::Error::new(other)),
        }
    }
}

fn accountable(caller: &Actor) -> Accountable<'_> {
    Accountable {
        audit: &caller.tenant.audit,
        event: caller.event("storage.write", Outcome::Allowed),
    }
}

/// How the caller stands to a document of a client they have facts for: the note's
/// facts when it is attached to one, since an attachment takes the note's rules.
async fn document_facts(caller: &Actor, client: ClientFacts, note: Option<NoteId>) -> Result<DocumentFacts, Error> {
    let note = match note {
        Some(note) => Some(crate::clinical::notes::facts(caller, note).await?.1),
        None => None,
    };
    Ok(DocumentFacts { client, note })
}

/// Checks the client, the caller, the network and the note; returns the record's policy
/// and hipaa_exempt flag. Attaching to a note is changing its draft: its author only.
async fn admit(caller: &Actor, client: ClientId, options: &UploadOptions) -> Result<(StoragePolicy, bool), Error> {
    let facts = client_facts(caller, client).await?;
    caller
        .authorize(&Action::UploadDocument(DocumentFacts {
            client: facts,
            note: None,
        }))
        .await?;
    let pool = &caller.tenant.pool;
    let exempt = crate::clinical::note_store::client_exempt(pool, client)
        .await?
        .ok_or(Error::NotFound)?;
    let policy = record_policy(caller, exempt).await?;
    networks::require_approved_network(caller, policy, ("client", client.to_string()), client).await?;
    if let Some(note) = options.note_id {
        let (owner, note) = crate::clinical::notes::facts(caller, note)
            .await
            .map_err(|err| match err {
                Error::NotFound => Error::Invalid(vec![FieldError::new("note_id", "no such note")]),
                other => other,
            })?;
        if owner != client {
            return Err(Error::Invalid(vec![FieldError::new(
                "note_id",
                "not a note of this client",
            )]));
        }
        if note.signed {
            return Err(Error::conflict(
                "That note is signed and final; attach the document to the client, or to an amendment.".to_owned(),
            ));
        }
        caller
            .authorize(&Action::UploadDocument(DocumentFacts {
                client: facts,
                note: Some(note),
            }))
            .await?;
    }
    Ok((policy, exempt))
}

/// Streams the file through the type check, the size cap and the sealer into storage.
/// Returns (name, type, size) once the object is complete.
async fn stream_in(
    caller: &Actor,
    file: IncomingFile,
    id: DocumentId,
    key: &[u8; 32],
    mut writer: ObjectWriter,
) -> Result<(String, &'static str, i64), Error> {
    let max = caller.config().documents.max_size.as_u64();
    let name = clean_name(file.name.as_deref().unwrap_or("document"));
    let mut pieces = file.pieces;
    let (mut sealer, header) = Sealer::new(key, id.0).map_err(anyhow::Error::new)?;
    let mut head: Vec<u8> = Vec::new();
    let mut content_type = None;
    let mut size: u64 = 0;
    let outcome: Result<(), Error> = async {
        writer.write(&header).await?;
        loop {
            let Some(chunk) = pieces.next().await.transpose()? else {
                break;
            };
            size += chunk.len() as u64;
            if size > max {
                return Err(Error::TooLarge(format!(
                    "Documents may be at most {}.",
                    caller.config().documents.max_size
                )));
            }
            let data: Bytes = if content_type.is_none() {
                head.extend_from_slice(&chunk);
                if head.len() < 4096 {
                    continue;
                }
                content_type = Some(sniff(&head).map_err(|m| Error::Invalid(vec![FieldError::new("file", m)]))?);
                Bytes::from(std::mem::take(&mut head))
            } else {
                chunk
            };
            let ciphertext = sealer.push(&data).map_err(anyhow::Error::new)?;
            writer.write(&ciphertext).await?;
        }
        if content_type.is_none() {
            if head.is_empty() {
                return Err(Error::Invalid(vec![FieldError::new("file", "the file is empty")]));
            }
            content_type = Some(sniff(&head).map_err(|m| Error::Invalid(vec![FieldError::new("file", m)]))?);
            let ciphertext = sealer.push(&head).map_err(anyhow::Error::new)?;
            writer.write(&ciphertext).await?;
        }
        Ok(())
    }
    .await;
    if let Err(err) = outcome {
        writer.abort().await;
        return Err(err);
    }
    let last = sealer.finish().map_err(anyhow::Error::new)?;
    writer.write(&last).await?;
    writer.finish().await?;
    let content_type = content_type.ok_or_else(|| anyhow::anyhow!("type not decided"))?;
    Ok((name, content_type, i64::try_from(size).unwrap_or(i64::MAX)))
}

/// Uploads the request's file `file` for `client`.
pub async fn upload(
    caller: &Actor,
    client: ClientId,
    options: &UploadOptions,
    upload: impl FileUpload,
) -> Result<Document, Error> {
    let (policy, exempt) = admit(caller, client, options).await?;
    let storage = &caller.storage();
    let target = options.target.unwrap_or_else(|| storage.place(policy));
    let id = DocumentId::new();
    let key = object_key(caller, id);
    let writer = storage.writer(&accountable(caller), policy, target, &key).await?;
    let file = match upload.file("file").await {
        Ok(Some(file)) => file,
        Ok(None) => {
            writer.abort().await;
            return Err(Error::Invalid(vec![FieldError::new("file", "attach a file")]));
        }
        Err(err) => {
            writer.abort().await;
            return Err(err);
        }
    };
    let content_key = Zeroizing::new({
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        k
    });
    let (name, content_type, size) = stream_in(caller, file, id, &content_key, writer).await?;
    let saved = record(
        caller,
        id,
        client,
        options,
        (&name, content_type, size),
        &content_key,
        (target, &key, exempt),
    )
    .await;
    match saved {
        Ok(document) => Ok(document),
        Err(err) => {
            let _ = storage.delete(target, &key).await;
            Err(err)
        }
    }
}

/// Seals the name and key and writes the row with its audit event.
async fn record(
    caller: &Actor,
    id: DocumentId,
    client: ClientId,
    options: &UploadOptions,
    (name, content_type, size): (&str, &'static str, i64),
    content_key: &[u8; 32],
    (target, key, exempt): (Target, &str, bool),
) -> Result<Document, Error> {
    let pool = &caller.tenant.pool;
    let now = caller.now();
    let ring = caller.keyring();
    let stored = StoredDocument {
        id,
        client_id: client,
        note_id: options.note_id,
        name: ring.seal(pool, name.as_bytes(), &name_context(id), now).await?,
        content_type: content_type.to_owned(),
        byte_size: size,
        content_key: ring.seal(pool, content_key, &key_context(id), now).await?,
        target,
        object_key: key.to_owned(),
        hipaa_exempt: exempt,
        uploaded_by: caller.identity.user.id,
        uploaded_at: now,
    };
    let mut tx = pool.begin().await?;
    store::insert(&mut tx, &stored).await?;
    audit::stage(
        &mut tx,
        &caller
            .event("document.upload", Outcome::Allowed)
            .resource("document", id.to_string())
            .subjects([client.to_string()])
            .reason(format!("{content_type}, {size} bytes, {}", target.as_str())),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(Document {
        id,
        client_id: client,
        note_id: options.note_id,
        name: name.to_owned(),
        content_type: content_type.to_owned(),
        byte_size: size,
        target,
        hipaa_exempt: exempt,
        uploaded_by: stored.uploaded_by,
        uploaded_at: now,
    })
}

async fn opened(caller: &Actor, d: &StoredDocument) -> Result<Document, Error> {
    let name = caller
        .keyring()
        .open(&caller.tenant.pool, &d.name, &name_context(d.id))
        .await?;
    Ok(Document {
        id: d.id,
        client_id: d.client_id,
        note_id: d.note_id,
        name: String::from_utf8_lossy(&name).into_owned(),
        content_type: d.content_type.clone(),
        byte_size: d.byte_size,
        target: d.target,
        hipaa_exempt: d.hipaa_exempt,
        uploaded_by: d.uploaded_by,
        uploaded_at: d.uploaded_at,
    })
}

/// The client's documents the caller may open, newest first, recorded in the audit
/// trail: one attached to a note is listed only to those who may open the note.
pub async fn list(caller: &Actor, client: ClientId) -> Result<Audited<Vec<Document>>, Error> {
    let facts = client_facts(caller, client).await?;
    caller.authorize(&Action::ViewDocuments(facts)).await?;
    crate::clinical::notes::require_client_network(caller, client).await?;
    let stored = store::list_for_client(&caller.tenant.pool, client).await?;
    let mut notes: std::collections::HashMap<NoteId, NoteFacts> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(stored.len());
    for d in &stored {
        let note = match d.note_id.map(|id| (id, notes.get(&id).copied())) {
            Some((_, Some(known))) => Some(known),
            Some((id, None)) => {
                let found = document_facts(caller, facts, Some(id)).await?.note;
                if let Some(found) = found {
                    notes.insert(id, found);
                }
                found
            }
            None => None,
        };
        if caller.may(&Action::OpenDocument(DocumentFacts { client: facts, note })) {
            out.push(opened(caller, d).await?);
        }
    }
    let event = caller
        .event("document.list", Outcome::Allowed)
        .resource("client", client.to_string())
        .subjects([client.to_string()]);
    Ok(caller.tenant.audit.read(event, out).await?)
}

/// A download: the document's details (recorded in the audit trail before anything is
/// sent) and its content, opened chunk by chunk as it streams.
pub struct Download {
    pub document: Document,
    pub body: Body,
}

pub async fn download(caller: &Actor, id: DocumentId) -> Result<Audited<Download>, Error> {
    let stored = store::find(&caller.tenant.pool, id).await?.ok_or(Error::NotFound)?;
    let facts = client_facts(caller, stored.client_id).await?;
    let facts = document_facts(caller, facts, stored.note_id).await?;
    caller.authorize(&Action::OpenDocument(facts)).await?;
    let policy = record_policy(caller, stored.hipaa_exempt).await?;
    networks::require_approved_network(caller, policy, ("document", id.to_string()), stored.client_id).await?;
    let document = opened(caller, &stored).await?;
    let key = caller
        .keyring()
        .open(&caller.tenant.pool, &stored.content_key, &key_context(id))
        .await?;
    let key: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("a document key is not 32 bytes"))?;
    let source = caller.storage().read(stored.target, &stored.object_key).await?;
    let mut opener = Some(Opener::new(&key, id.0));
    let plain = source.map(Some).chain(futures_util::stream::once(async { None })).map(
        move |item| -> Result<Bytes, std::io::Error> {
            let damaged = |_| std::io::Error::other("the document's content is damaged");
            match item {
                Some(Ok(chunk)) => match opener.as_mut() {
                    Some(o) => o.push(&chunk).map(Bytes::from).map_err(damaged),
                    None => Err(std::io::Error::other("stream ended")),
                },
                Some(Err(err)) => Err(std::io::Error::other(err.to_string())),
                None => match opener.take() {
                    Some(o) => o.finish().map(Bytes::from).map_err(damaged),
                    None => Ok(Bytes::new()),
                },
            }
        },
    );
    let event = caller
        .event("document.download", Outcome::Allowed)
        .resource("document", id.to_string())
        .subjects([stored.client_id.to_string()]);
    Ok(caller
        .tenant
        .audit
        .read(
            event,
            Download {
                document,
                body: Body::from_stream(plain),
            },
        )
        .await?)
}

/// Moves a document to another target through the storage layer (which refuses the
/// cloud for `local_only` records and audits the refusal); the row follows. For jobs and
/// operators' migrations: `who` names them.
pub async fn relocate(
    storage: &crate::compliance::storage::Storage,
    tenant: &crate::platform::tenancy::Tenant,
    who: &Accountable<'_>,
    id: DocumentId,
    to: Target,
) -> Result<(), Error> {
    let stored = store::find(&tenant.pool, id).await?.ok_or(Error::NotFound)?;
    let organisation = tenant.settings().await?.storage_policy;
    let policy = StoragePolicy::of(stored.hipaa_exempt, organisation);
    storage
        .relocate(who, policy, stored.target, to, &stored.object_key)
        .await?;
    store::set_target(&tenant.pool, id, to).await?;
    Ok(())
}
