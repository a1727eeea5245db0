//! Notes in the database. Bodies arrive and leave sealed; the service opens them.

use crate::policy::PsychotherapyScope;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{NoteCategory, NoteStatus, NoteSummary, NoteTemplate, Person};
use crate::appointments::AppointmentId;
use crate::clients::ClientId;
use crate::clinical::NoteId;
use crate::identity::UserId;

pub struct NewNote {
    pub id: NoteId,
    pub thread_id: NoteId,
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub template: NoteTemplate,
    pub author_id: UserId,
    pub body: Vec<u8>,
    pub amends: Option<(NoteId, String)>,
    pub hipaa_exempt: bool,
}

pub fn category_of(template: NoteTemplate) -> NoteCategory {
    if template.is_psychotherapy() {
        NoteCategory::Psychotherapy
    } else {
        NoteCategory::Clinical
    }
}

pub async fn insert(conn: &mut PgConnection, note: &NewNote, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let (amends_id, reason) = match &note.amends {
        Some((id, reason)) => (Some(*id), Some(reason.as_str())),
        None => (None, None),
    };
    sqlx::query!(
        r#"
        INSERT INTO notes (id, thread_id, client_id, appointment_id, category, template, author_id, body,
                           amends_id, amendment_reason, hipaa_exempt, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
        "#,
        note.id as _,
        note.thread_id as _,
        note.client_id as _,
        note.appointment_id as _,
        category_of(note.template).as_str(),
        note.template.as_str(),
        note.author_id as _,
        note.body,
        amends_id as _,
        reason,
        note.hipaa_exempt,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A note as stored: the body still sealed.
pub struct StoredNote {
    pub summary: NoteSummary,
    pub body: Vec<u8>,
    pub amendment_reason: Option<String>,
    pub content_hash: Option<Vec<u8>>,
    pub signed_by: Option<Person>,
    pub cosigned_by: Option<Person>,
    pub hipaa_exempt: bool,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
    /// The author's supervisor.
    pub author_supervisor: Option<UserId>,
    /// Who wrote the note's first version, and their supervisor: psychotherapy access
    /// follows them through every amendment.
    pub original_author: UserId,
    pub original_author_supervisor: Option<UserId>,
}

fn decode<T>(value: Option<T>, what: &str, text: &str) -> Result<T, sqlx::Error> {
    value.ok_or_else(|| sqlx::Error::Decode(format!("unknown {what} {text}").into()))
}

/// A list line from a row of either note query (the same columns by the same names).
macro_rules! summary {
    ($r:ident) => {
        NoteSummary {
            id: $r.id.into(),
            thread_id: $r.thread_id.into(),
            client_id: $r.client_id.into(),
            appointment_id: $r.appointment_id.map(AppointmentId),
            category: decode(NoteCategory::parse(&$r.category), "category", &$r.category)?,
            template: decode(NoteTemplate::parse(&$r.template), "template", &$r.template)?,
            author: Person {
                id: $r.author_id.into(),
                name: $r.author_name,
            },
            status: decode(NoteStatus::parse(&$r.status), "status", &$r.status)?,
            amends_id: $r.amends_id.map(NoteId),
            signed_at: $r.signed_at,
            needs_cosign: $r.needs_cosign,
            cosigned_at: $r.cosigned_at,
            superseded: $r.superseded,
            created_at: $r.created_at,
        }
    };
}

fn person(id: Option<Uuid>, name: Option<String>) -> Option<Person> {
    id.map(|id| Person {
        id: id.into(),
        name: name.unwrap_or_default(),
    })
}

pub async fn find(db: impl PgExecutor<'_>, id: NoteId) -> Result<Option<StoredNote>, sqlx::Error> {
    let Some(r) = sqlx::query!(
        r#"
        SELECT n.id, n.thread_id, n.client_id, n.appointment_id, n.category, n.template, n.author_id,
               a.display_name AS author_name, a.supervisor_id AS author_supervisor,
               root.author_id AS original_author, ra.supervisor_id AS "original_author_supervisor?",
               n.body, n.status, n.amends_id, n.amendment_reason, n.content_hash,
               n.signed_by, s.display_name AS "signer_name?", n.signed_at,
               n.needs_cosign, n.cosigned_by, c.display_name AS "cosigner_name?", n.cosigned_at,
               n.hipaa_exempt, n.version, n.created_at, n.updated_at,
               EXISTS (SELECT 1 FROM notes later WHERE later.amends_id = n.id AND later.status = 'signed')
                 AS "superseded!"
        FROM notes n
        JOIN users a ON a.id = n.author_id
        JOIN notes root ON root.id = n.thread_id
        JOIN users ra ON ra.id = root.author_id
        LEFT JOIN users s ON s.id = n.signed_by
        LEFT JOIN users c ON c.id = n.cosigned_by
        WHERE n.id = $1
        "#,
        id as _
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(StoredNote {
        summary: summary!(r),
        body: r.body,
        amendment_reason: r.amendment_reason,
        content_hash: r.content_hash,
        signed_by: person(r.signed_by, r.signer_name),
        cosigned_by: person(r.cosigned_by, r.cosigner_name),
        hipaa_exempt: r.hipaa_exempt,
        version: r.version,
        updated_at: r.updated_at,
        author_supervisor: r.author_supervisor.map(UserId),
        original_author: UserId(r.original_author),
        original_author_supervisor: r.original_author_supervisor.map(UserId),
    }))
}

/// Replaces a draft's body if it is still the version the writer saw.
pub async fn update_draft(
    conn: &mut PgConnection,
    id: NoteId,
    body: &[u8],
    version: i32,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE notes SET body = $2, version = version + 1, updated_at = $4
        WHERE id = $1 AND status = 'draft' AND version = $3
        "#,
        id as _,
        body,
        version,
        now
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn sign(
    conn: &mut PgConnection,
    id: NoteId,
    content_hash: &[u8],
    by: UserId,
    needs_cosign: bool,
    version: i32,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE notes SET status = 'signed', content_hash = $2, signed_by = $3, signed_at = $5,
                         needs_cosign = $4, version = version + 1, updated_at = $5
        WHERE id = $1 AND status = 'draft' AND version = $6
        "#,
        id as _,
        content_hash,
        by.0,
        needs_cosign,
        now,
        version
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn cosign(conn: &mut PgConnection, id: NoteId, by: UserId, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        UPDATE notes SET cosigned_by = $2, cosigned_at = $3
        WHERE id = $1 AND status = 'signed' AND needs_cosign AND cosigned_at IS NULL
        "#,
        id as _,
        by.0,
        now
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_draft(conn: &mut PgConnection, id: NoteId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!("DELETE FROM notes WHERE id = $1 AND status = 'draft'", id as _)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The draft amendment already started for `id`, if any.
pub async fn open_amendment(db: impl PgExecutor<'_>, id: NoteId) -> Result<Option<NoteId>, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT id AS "id: NoteId" FROM notes WHERE amends_id = $1"#, id as _)
        .fetch_optional(db)
        .await
}

/// The client's notes (or one note's versions, with `thread`), newest first: every
/// version, psychotherapy notes only as the policy's `scope` says (by the note's
/// original author, as a single note is opened).
pub async fn list_for_client(
    db: impl PgExecutor<'_>,
    client: ClientId,
    thread: Option<NoteId>,
    scope: PsychotherapyScope,
) -> Result<Vec<NoteSummary>, sqlx::Error> {
    let (reader, through_supervision) = match scope {
        PsychotherapyScope::Own {
            user,
            through_supervision,
        } => (Some(user), through_supervision),
        PsychotherapyScope::Nothing => (None, false),
    };
    let rows = sqlx::query!(
        r#"
        SELECT n.id, n.thread_id, n.client_id, n.appointment_id, n.category, n.template, n.author_id,
               a.display_name AS author_name, n.status, n.amends_id, n.signed_at, n.needs_cosign,
               n.cosigned_at, n.created_at,
               EXISTS (SELECT 1 FROM notes later WHERE later.amends_id = n.id AND later.status = 'signed')
                 AS "superseded!"
        FROM notes n
        JOIN users a ON a.id = n.author_id
        JOIN notes root ON root.id = n.thread_id
        JOIN users ra ON ra.id = root.author_id
        WHERE n.client_id = $1
          AND (n.category = 'clinical' OR root.author_id = $2 OR ($3 AND ra.supervisor_id = $2))
          AND ($4::uuid IS NULL OR n.thread_id = $4)
        ORDER BY n.created_at DESC
        LIMIT 500
        "#,
        client as _,
        reader as _,
        through_supervision,
        thread as _
    )
    .fetch_all(db)
    .await?;
    rows.into_iter().map(|r| Ok(summary!(r))).collect()
}

/// A signed note of a trainee waiting for their supervisor.
#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AwaitingCosign {
    pub note_id: NoteId,
    pub client_id: ClientId,
    pub client_name: String,
    pub record_number: String,
    pub template: NoteTemplate,
    pub author: Person,
    pub signed_at: DateTime<Utc>,
}

crate::redacted_debug!(AwaitingCosign {
    note_id,
    client_id,
    template
});

pub async fn cosign_queue(db: impl PgExecutor<'_>, supervisor: UserId) -> Result<Vec<AwaitingCosign>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT n.id, n.client_id, c.legal_given_name, c.legal_family_name, c.preferred_name, c.record_number,
               n.template, n.author_id, a.display_name AS author_name, n.signed_at AS "signed_at!"
        FROM notes n
        JOIN users a ON a.id = n.author_id
        JOIN clients c ON c.id = n.client_id
        WHERE n.status = 'signed' AND n.needs_cosign AND n.cosigned_at IS NULL AND a.supervisor_id = $1
        ORDER BY n.signed_at
        LIMIT 200
        "#,
        supervisor.0
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(AwaitingCosign {
                note_id: r.id.into(),
                client_id: r.client_id.into(),
                client_name: crate::clients::display_name(
                    &r.legal_given_name,
                    &r.legal_family_name,
                    r.preferred_name.as_deref(),
                ),
                record_number: r.record_number,
                template: decode(NoteTemplate::parse(&r.template), "template", &r.template)?,
                author: Person {
                    id: r.author_id.into(),
                    name: r.author_name,
                },
                signed_at: r.signed_at,
            })
        })
        .collect()
}

/// A completed appointment still without a signed note from its clinician.
#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct NoteOwed {
    pub appointment_id: AppointmentId,
    pub client_id: ClientId,
    pub client_name: String,
    pub record_number: String,
    pub service_type: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// A draft for it exists.
    pub draft_id: Option<NoteId>,
}

crate::redacted_debug!(NoteOwed {
    appointment_id,
    client_id,
    draft_id
});

pub async fn notes_owed(db: impl PgExecutor<'_>, clinician: UserId) -> Result<Vec<NoteOwed>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT a.id, ac.client_id, c.legal_given_name, c.legal_family_name, c.preferred_name, c.record_number,
               a.service_type, a.starts_at, a.ends_at,
               (SELECT d.id FROM notes d WHERE d.appointment_id = a.id AND d.client_id = ac.client_id
                  AND d.author_id = $1 AND d.status = 'draft' AND d.category = 'clinical' LIMIT 1) AS draft_id
        FROM appointments a
        JOIN appointment_clients ac ON ac.appointment_id = a.id
        JOIN clients c ON c.id = ac.client_id
        WHERE a.clinician_id = $1 AND a.status = 'completed'
          AND NOT EXISTS (SELECT 1 FROM notes n WHERE n.appointment_id = a.id AND n.client_id = ac.client_id
                          AND n.status = 'signed' AND n.category = 'clinical')
        ORDER BY a.starts_at
        LIMIT 200
        "#,
        clinician.0
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| NoteOwed {
            appointment_id: r.id.into(),
            client_id: r.client_id.into(),
            client_name: crate::clients::display_name(
                &r.legal_given_name,
                &r.legal_family_name,
                r.preferred_name.as_deref(),
            ),
            record_number: r.record_number,
            service_type: r.service_type,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            draft_id: r.draft_id.map(NoteId),
        })
        .collect())
}

/// Whether the appointment includes the client (a note may name only such an appointment).
pub async fn appointment_has_client(
    db: impl PgExecutor<'_>,
    appointment: AppointmentId,
    client: ClientId,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM appointment_clients WHERE appointment_id = $1 AND client_id = $2) AS "x!""#,
        appointment as _,
        client as _
    )
    .fetch_one(db)
    .await
}

/// The client's hipaa_exempt flag, which a new record takes.
pub async fn client_exempt(db: impl PgExecutor<'_>, client: ClientId) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar!("SELECT hipaa_exempt FROM clients WHERE id = $1", client as _)
        .fetch_optional(db)
        .await
}

/// Whether the organisation has any note yet (the demo seeds records only once).
pub async fn any(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM notes) AS "any!""#)
        .fetch_one(db)
        .await
}
