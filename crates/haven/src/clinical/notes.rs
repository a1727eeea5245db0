//! What the API and the pages do with notes: ask the policy, check the approved network,
//! seal and open bodies, sign (hash and signer), amend, co-sign; every write in one
//! transaction with its audit event, every read audited before it is shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::note_store::{self, AwaitingCosign, NewNote, NoteOwed, StoredNote};
use super::{Note, NoteField, NoteStatus, NoteSummary, NoteTemplate};
use crate::actor::Actor;
use crate::appointments::AppointmentId;
use crate::clients::ClientId;
use crate::clinical::NoteId;
use crate::compliance::audit::{self, Audited, Outcome};
use crate::compliance::networks::{self, StoragePolicy};
use crate::error::{Error, FieldError};
use crate::identity::UserId;
use crate::policy::{self, Action, ClientFacts, NoteFacts};

/// A new note or a draft's changes, as the API and the form send them.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// `progress`, `soap`, `dap`, `intake`, `discharge` or `psychotherapy` (new notes).
    pub template: Option<String>,
    /// The session it records: one of the client's appointments (new notes).
    pub appointment_id: Option<AppointmentId>,
    /// The template's fields by name; a draft may leave some empty.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The version being changed (drafts), to refuse overwriting a newer save.
    pub version: Option<i32>,
}

crate::redacted_debug!(NoteInput {
    template,
    appointment_id,
    version
});

/// What a sealed body holds.
#[derive(Serialize, Deserialize)]
struct Body {
    fields: Vec<(String, String)>,
}

fn body_context(id: NoteId) -> String {
    format!("note.body:{id}")
}

async fn seal_body(caller: &Actor, id: NoteId, fields: &[(&str, String)]) -> Result<Vec<u8>, Error> {
    let body = Body {
        fields: fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
    };
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(&body).map_err(anyhow::Error::new)?);
    Ok(caller
        .keyring()
        .seal(&caller.tenant.pool, &plain, &body_context(id), caller.now())
        .await?)
}

async fn open_body(caller: &Actor, stored: &StoredNote) -> Result<BTreeMap<String, String>, Error> {
    let plain = caller
        .keyring()
        .open(&caller.tenant.pool, &stored.body, &body_context(stored.summary.id))
        .await?;
    let body: Body = serde_json::from_slice(&plain).map_err(anyhow::Error::new)?;
    Ok(body.fields.into_iter().collect())
}

fn opened(stored: StoredNote, values: &BTreeMap<String, String>) -> Note {
    let s = stored.summary;
    Note {
        id: s.id,
        thread_id: s.thread_id,
        client_id: s.client_id,
        appointment_id: s.appointment_id,
        category: s.category,
        template: s.template,
        author: s.author,
        fields: s
            .template
            .fields()
            .iter()
            .map(|f| NoteField {
                name: f.name.to_owned(),
                label: f.label.to_owned(),
                value: values.get(f.name).cloned().unwrap_or_default(),
            })
            .collect(),
        status: s.status,
        amends_id: s.amends_id,
        amendment_reason: stored.amendment_reason,
        content_hash: stored.content_hash.map(hex::encode),
        signed_by: stored.signed_by,
        signed_at: s.signed_at,
        needs_cosign: s.needs_cosign,
        cosigned_by: stored.cosigned_by,
        cosigned_at: s.cosigned_at,
        superseded: s.superseded,
        hipaa_exempt: stored.hipaa_exempt,
        version: stored.version,
        created_at: s.created_at,
        updated_at: stored.updated_at,
    }
}

/// How the caller stands to a client; 404 when there is no such client.
pub async fn client_facts(caller: &Actor, client: ClientId) -> Result<ClientFacts, Error> {
    crate::clients::access::facts(&caller.tenant.pool, caller.identity.user.id, client, caller.now())
        .await?
        .ok_or(Error::NotFound)
}

async fn load(caller: &Actor, id: NoteId) -> Result<(NoteFacts, StoredNote), Error> {
    let stored = note_store::find(&caller.tenant.pool, id)
        .await?
        .ok_or(Error::NotFound)?;
    let me = caller.identity.user.id;
    let facts = NoteFacts {
        client: client_facts(caller, stored.summary.client_id).await?,
        psychotherapy: stored.summary.template.is_psychotherapy(),
        signed: stored.summary.status == NoteStatus::Signed,
        is_author: stored.summary.author.id == me,
        supervises_author: stored.author_supervisor == Some(me),
        is_original_author: stored.original_author == me,
        supervises_original_author: stored.original_author_supervisor == Some(me),
    };
    Ok((facts, stored))
}

/// A clinical record's storage policy, for the approved-network check.
pub async fn record_policy(caller: &Actor, hipaa_exempt: bool) -> Result<StoragePolicy, Error> {
    let organisation = caller.tenant.settings().await?.storage_policy;
    Ok(StoragePolicy::of(hipaa_exempt, organisation))
}

/// Refuses a request for a client's records from outside the approved networks unless
/// their storage policy lets them leave (for lists: notes, measures, documents, alerts).
pub async fn require_client_network(caller: &Actor, client: ClientId) -> Result<(), Error> {
    let exempt = note_store::client_exempt(&caller.tenant.pool, client)
        .await?
        .ok_or(Error::NotFound)?;
    networks::require_for_client(caller, client, exempt).await
}

/// Reads a note the caller may see, refusing requests from outside approved networks.
async fn load_readable(caller: &Actor, id: NoteId) -> Result<(NoteFacts, StoredNote), Error> {
    let (facts, stored) = load(caller, id).await?;
    caller.authorize(&Action::ViewNote(facts)).await?;
    let policy = record_policy(caller, stored.hipaa_exempt).await?;
    networks::require_approved_network(caller, policy, ("note", id.to_string()), stored.summary.client_id).await?;
    Ok((facts, stored))
}

fn stage_event(caller: &Actor, action: &str, note: NoteId, client: ClientId) -> audit::AuditEvent {
    caller
        .event(action, Outcome::Allowed)
        .resource("note", note.to_string())
        .subjects([client.to_string()])
}

/// Starts a note (a draft) about `client`.
pub async fn create(caller: &Actor, client: ClientId, input: &NoteInput) -> Result<NoteId, Error> {
    let facts = client_facts(caller, client).await?;
    let template = match input.template.as_deref().map(str::trim) {
        None | Some("") => {
            return Err(Error::Invalid(vec![FieldError::new("template", "choose a template")]));
        }
        Some(word) => NoteTemplate::parse(word)
            .ok_or_else(|| Error::Invalid(vec![FieldError::new("template", NoteTemplate::choices())]))?,
    };
    caller
        .authorize(&Action::WriteNote {
            client: facts,
            psychotherapy: template.is_psychotherapy(),
        })
        .await?;
    let pool = &caller.tenant.pool;
    let exempt = note_store::client_exempt(pool, client).await?.ok_or(Error::NotFound)?;
    let policy = record_policy(caller, exempt).await?;
    networks::require_approved_network(caller, policy, ("client", client.to_string()), client).await?;
    if let Some(appointment) = input.appointment_id
        && !note_store::appointment_has_client(pool, appointment, client).await?
    {
        return Err(Error::Invalid(vec![FieldError::new(
            "appointment_id",
            "not an appointment of this client",
        )]));
    }
    let fields = template.check(&input.fields, false).map_err(Error::Invalid)?;
    let id = NoteId::new();
    let body = seal_body(caller, id, &fields).await?;
    let mut tx = pool.begin().await?;
    note_store::insert(
        &mut tx,
        &NewNote {
            id,
            thread_id: id,
            client_id: client,
            appointment_id: input.appointment_id,
            template,
            author_id: caller.identity.user.id.0.into(),
            body,
            amends: None,
            hipaa_exempt: exempt,
        },
        caller.now(),
    )
    .await?;
    audit::stage(
        &mut tx,
        &stage_event(caller, "note.create", id, client).reason(template.as_str()),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(id)
}

const SIGNED_IS_FINAL: &str = "This note is signed and cannot be changed. Amend it instead: the amendment is a new version, and this one stays as it is.";

/// Saves a draft's fields. A signed note answers 409.
pub async fn save_draft(caller: &Actor, id: NoteId, input: &NoteInput) -> Result<(), Error> {
    let (facts, stored) = load_readable(caller, id).await?;
    if facts.signed {
        return Err(Error::conflict(SIGNED_IS_FINAL.to_owned()));
    }
    caller.authorize(&Action::EditDraft(facts)).await?;
    if input.template.is_some() || input.appointment_id.is_some() {
        return Err(Error::Invalid(vec![FieldError::new(
            "template",
            "a draft keeps its template and appointment; start a new note instead",
        )]));
    }
    let version = input
        .version
        .ok_or_else(|| Error::Invalid(vec![FieldError::new("version", "send the version you changed")]))?;
    let fields = stored
        .summary
        .template
        .check(&input.fields, false)
        .map_err(Error::Invalid)?;
    let body = seal_body(caller, id, &fields).await?;
    let mut tx = caller.tenant.pool.begin().await?;
    if !note_store::update_draft(&mut tx, id, &body, version, caller.now()).await? {
        return Err(Error::conflict(
            "This draft was saved elsewhere since you opened it (or signed). Reload it and make your change again."
                .to_owned(),
        ));
    }
    audit::stage(
        &mut tx,
        &stage_event(caller, "note.update", id, stored.summary.client_id),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}

/// What the content hash covers: everything that makes the note what it is.
#[derive(Serialize)]
#[allow(clippy::struct_field_names)] // the names are the hashed JSON's keys
struct Signed<'a> {
    id: NoteId,
    thread_id: NoteId,
    client_id: ClientId,
    appointment_id: Option<AppointmentId>,
    template: &'a str,
    author_id: UserId,
    amends_id: Option<NoteId>,
    amendment_reason: Option<&'a str>,
    fields: Vec<(&'a str, &'a str)>,
    signed_by: UserId,
    signed_at: String,
}

/// SHA-256 of the signed content (see docs/clinical-records.md).
fn content_hash(
    stored: &StoredNote,
    values: &BTreeMap<String, String>,
    by: UserId,
    at: &str,
) -> Result<Vec<u8>, Error> {
    let s = &stored.summary;
    let signed = Signed {
        id: s.id,
        thread_id: s.thread_id,
        client_id: s.client_id,
        appointment_id: s.appointment_id,
        template: s.template.as_str(),
        author_id: s.author.id,
        amends_id: s.amends_id,
        amendment_reason: stored.amendment_reason.as_deref(),
        fields: s
            .template
            .fields()
            .iter()
            .map(|f| (f.name, values.get(f.name).map_or("", String::as_str)))
            .collect(),
        signed_by: by,
        signed_at: at.to_owned(),
    };
    let json = zeroize::Zeroizing::new(serde_json::to_vec(&signed).map_err(anyhow::Error::new)?);
    Ok(Sha256::digest(json.as_slice()).to_vec())
}

/// Signs a draft: every required field filled, then final. A trainee's note waits for
/// their supervisor's co-signature.
pub async fn sign(caller: &Actor, id: NoteId, version: i32) -> Result<(), Error> {
    let (facts, stored) = load_readable(caller, id).await?;
    if facts.signed {
        return Err(Error::conflict("This note is already signed.".to_owned()));
    }
    caller.authorize(&Action::SignNote(facts)).await?;
    let values = open_body(caller, &stored).await?;
    stored.summary.template.check(&values, true).map_err(Error::Invalid)?;
    let now = caller.now();
    // Stored with microseconds; the hash covers the same instant as the row.
    let now = chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let by = caller.identity.user.id;
    let hash = content_hash(&stored, &values, by, &now.to_rfc3339())?;
    let trainee = caller.identity.user.is_trainee;
    let mut tx = caller.tenant.pool.begin().await?;
    if !note_store::sign(&mut tx, id, &hash, by, trainee, version, now).await? {
        return Err(Error::conflict(
            "This draft changed since you opened it. Reload it, check it, and sign again.".to_owned(),
        ));
    }
    audit::stage(
        &mut tx,
        &stage_event(caller, "note.sign", id, stored.summary.client_id)
            .reason(format!("sha256:{}", hex::encode(&hash))),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}

/// Checks a signed note's stored hash against its content.
pub fn hash_holds(note: &Note) -> bool {
    let (Some(hash), Some(by), Some(at)) = (&note.content_hash, &note.signed_by, note.signed_at) else {
        return false;
    };
    let signed = Signed {
        id: note.id,
        thread_id: note.thread_id,
        client_id: note.client_id,
        appointment_id: note.appointment_id,
        template: note.template.as_str(),
        author_id: note.author.id,
        amends_id: note.amends_id,
        amendment_reason: note.amendment_reason.as_deref(),
        fields: note
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect(),
        signed_by: by.id,
        signed_at: at.to_rfc3339(),
    };
    serde_json::to_vec(&signed).is_ok_and(|json| hex::encode(Sha256::digest(&json)) == *hash)
}

/// Starts an amendment of a signed note: a new draft version, filled with the signed
/// content, carrying the reason. The signed version is never changed.
pub async fn amend(caller: &Actor, id: NoteId, reason: Option<&str>) -> Result<NoteId, Error> {
    let (facts, stored) = load_readable(caller, id).await?;
    caller.authorize(&Action::AmendNote(facts)).await?;
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Error::Invalid(vec![FieldError::new("reason", "say why the note is being amended")]))?;
    if reason.chars().count() > 500 {
        return Err(Error::Invalid(vec![FieldError::new(
            "reason",
            "at most 500 characters",
        )]));
    }
    if stored.summary.superseded {
        return Err(Error::conflict(
            "A later version amends this note; amend the latest version.".to_owned(),
        ));
    }
    if let Some(open) = note_store::open_amendment(&caller.tenant.pool, id).await? {
        return Err(Error::conflict(format!(
            "An amendment of this note is already under way (note {open}); finish or discard it first."
        )));
    }
    let values = open_body(caller, &stored).await?;
    let fields = stored.summary.template.check(&values, false).map_err(Error::Invalid)?;
    let new_id = NoteId::new();
    let body = seal_body(caller, new_id, &fields).await?;
    let mut tx = caller.tenant.pool.begin().await?;
    note_store::insert(
        &mut tx,
        &NewNote {
            id: new_id,
            thread_id: stored.summary.thread_id,
            client_id: stored.summary.client_id,
            appointment_id: stored.summary.appointment_id,
            template: stored.summary.template,
            author_id: caller.identity.user.id.0.into(),
            body,
            amends: Some((id, reason.to_owned())),
            hipaa_exempt: stored.hipaa_exempt,
        },
        caller.now(),
    )
    .await?;
    audit::stage(
        &mut tx,
        &stage_event(caller, "note.amend", new_id, stored.summary.client_id).reason(format!("amends {id}: {reason}")),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(new_id)
}

/// Discards a draft (a signed note is never deleted).
pub async fn discard(caller: &Actor, id: NoteId) -> Result<ClientId, Error> {
    let (facts, stored) = load_readable(caller, id).await?;
    if facts.signed {
        return Err(Error::conflict(SIGNED_IS_FINAL.to_owned()));
    }
    caller.authorize(&Action::EditDraft(facts)).await?;
    let mut tx = caller.tenant.pool.begin().await?;
    if !note_store::delete_draft(&mut tx, id).await? {
        return Err(Error::conflict("This draft was signed meanwhile.".to_owned()));
    }
    audit::stage(
        &mut tx,
        &stage_event(caller, "note.discard", id, stored.summary.client_id),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(stored.summary.client_id)
}

/// A supervisor co-signs a trainee's signed note.
pub async fn cosign(caller: &Actor, id: NoteId) -> Result<(), Error> {
    let (facts, stored) = load_readable(caller, id).await?;
    caller.authorize(&Action::CosignNote(facts)).await?;
    if !stored.summary.awaiting_cosign() {
        return Err(Error::conflict(
            "This note is not waiting for a co-signature.".to_owned(),
        ));
    }
    let mut tx = caller.tenant.pool.begin().await?;
    if !note_store::cosign(&mut tx, id, caller.identity.user.id, caller.now()).await? {
        return Err(Error::conflict("This note was co-signed meanwhile.".to_owned()));
    }
    audit::stage(
        &mut tx,
        &stage_event(caller, "note.cosign", id, stored.summary.client_id),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}

/// One note with every version of it, opened and recorded in the audit trail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoteWithHistory {
    #[serde(flatten)]
    pub note: Note,
    /// Every version of this note, oldest first (this one included).
    pub versions: Vec<NoteSummary>,
    /// The stored content hash matches the content (signed notes).
    pub hash_verified: Option<bool>,
    /// How the reader stands to the note, for the page's buttons.
    #[serde(skip)]
    pub facts: NoteFacts,
}

pub async fn view(caller: &Actor, id: NoteId) -> Result<Audited<NoteWithHistory>, Error> {
    let (facts, stored) = load_readable(caller, id).await?;
    let client = stored.summary.client_id;
    let thread = stored.summary.thread_id;
    let values = open_body(caller, &stored).await?;
    let note = opened(stored, &values);
    let scope = policy::psychotherapy_scope(&caller.identity, facts.client);
    let mut versions = note_store::list_for_client(&caller.tenant.pool, client, Some(thread), scope).await?;
    versions.reverse();
    let hash_verified = (note.status == NoteStatus::Signed).then(|| hash_holds(&note));
    let event = stage_event(caller, "note.read", id, client);
    Ok(caller
        .tenant
        .audit
        .read(
            event,
            NoteWithHistory {
                note,
                versions,
                hash_verified,
                facts,
            },
        )
        .await?)
}

/// How the caller stands to a note, and its client: for what is attached to the note.
pub async fn facts(caller: &Actor, id: NoteId) -> Result<(ClientId, NoteFacts), Error> {
    let (facts, stored) = load(caller, id).await?;
    Ok((stored.summary.client_id, facts))
}

/// The client's notes the caller may see (no bodies), recorded in the audit trail.
pub async fn list(caller: &Actor, client: ClientId) -> Result<Audited<Vec<NoteSummary>>, Error> {
    let facts = client_facts(caller, client).await?;
    caller.authorize(&Action::ViewClinical(facts)).await?;
    require_client_network(caller, client).await?;
    let scope = policy::psychotherapy_scope(&caller.identity, facts);
    let notes = note_store::list_for_client(&caller.tenant.pool, client, None, scope).await?;
    let event = caller
        .event("note.list", Outcome::Allowed)
        .resource("client", client.to_string())
        .subjects([client.to_string()]);
    Ok(caller.tenant.audit.read(event, notes).await?)
}

/// Trainees' notes waiting for the caller's co-signature.
pub async fn cosign_queue(caller: &Actor) -> Result<Audited<Vec<AwaitingCosign>>, Error> {
    caller.authorize(&Action::ViewCosignQueue).await?;
    let queue = note_store::cosign_queue(&caller.tenant.pool, caller.identity.user.id).await?;
    let event = caller
        .event("note.cosign_queue", Outcome::Allowed)
        .subjects(queue.iter().map(|n| n.client_id));
    Ok(caller.tenant.audit.read(event, queue).await?)
}

/// The caller's completed appointments without a signed note.
pub async fn notes_owed(caller: &Actor) -> Result<Audited<Vec<NoteOwed>>, Error> {
    caller.authorize(&Action::ViewLateNotes).await?;
    let owed = note_store::notes_owed(&caller.tenant.pool, caller.identity.user.id).await?;
    let event = caller
        .event("note.late_list", Outcome::Allowed)
        .subjects(owed.iter().map(|n| n.client_id));
    Ok(caller.tenant.audit.read(event, owed).await?)
}
