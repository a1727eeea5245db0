//! Documents in the database: names and content keys arrive and leave sealed.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::clients::ClientId;
use crate::clinical::NoteId;
use crate::compliance::storage::Target;
use crate::documents::DocumentId;
use crate::identity::UserId;

pub struct StoredDocument {
    pub id: DocumentId,
    pub client_id: ClientId,
    pub note_id: Option<NoteId>,
    pub name: Vec<u8>,
    pub content_type: String,
    pub byte_size: i64,
    pub content_key: Vec<u8>,
    pub target: Target,
    pub object_key: String,
    pub hipaa_exempt: bool,
    pub uploaded_by: UserId,
    pub uploaded_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, d: &StoredDocument) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO documents (id, client_id, note_id, name, content_type, byte_size, content_key, target,
                               object_key, hipaa_exempt, uploaded_by, uploaded_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        "#,
        d.id as _,
        d.client_id as _,
        d.note_id as _,
        d.name,
        d.content_type,
        d.byte_size,
        d.content_key,
        d.target.as_str(),
        d.object_key,
        d.hipaa_exempt,
        d.uploaded_by as _,
        d.uploaded_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

macro_rules! stored {
    ($r:expr) => {{
        let r = $r;
        StoredDocument {
            target: Target::parse(&r.target)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown target {}", r.target).into()))?,
            id: r.id.into(),
            client_id: r.client_id.into(),
            note_id: r.note_id.map(NoteId),
            name: r.name,
            content_type: r.content_type,
            byte_size: r.byte_size,
            content_key: r.content_key,
            object_key: r.object_key,
            hipaa_exempt: r.hipaa_exempt,
            uploaded_by: r.uploaded_by.into(),
            uploaded_at: r.uploaded_at,
        }
    }};
}

pub async fn find(db: impl PgExecutor<'_>, id: DocumentId) -> Result<Option<StoredDocument>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        SELECT id, client_id, note_id, name, content_type, byte_size, content_key, target, object_key,
               hipaa_exempt, uploaded_by, uploaded_at
        FROM documents WHERE id = $1
        "#,
        id as _
    )
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(r) => Some(stored!(r)),
        None => None,
    })
}

pub async fn list_for_client(db: impl PgExecutor<'_>, client: ClientId) -> Result<Vec<StoredDocument>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT id, client_id, note_id, name, content_type, byte_size, content_key, target, object_key,
               hipaa_exempt, uploaded_by, uploaded_at
        FROM documents WHERE client_id = $1
        ORDER BY uploaded_at DESC
        LIMIT 500
        "#,
        client as _
    )
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(stored!(r));
    }
    Ok(out)
}

/// Records that a document now lives on `target` (after the storage layer moved it).
pub async fn set_target(db: impl PgExecutor<'_>, id: DocumentId, target: Target) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE documents SET target = $2 WHERE id = $1",
        id as _,
        target.as_str()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The note a document may be attached to: its client and whether it is a draft.
pub async fn note_for_attachment(
    db: impl PgExecutor<'_>,
    note: NoteId,
) -> Result<Option<(ClientId, bool)>, sqlx::Error> {
    let row = sqlx::query!("SELECT client_id, status FROM notes WHERE id = $1", note as _)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| (r.client_id.into(), r.status == "draft")))
}
