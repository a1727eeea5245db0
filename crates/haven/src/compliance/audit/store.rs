//! Queries on the audit tables of a tenant database.

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, Transaction};

use super::{ActorKind, AuditEvent, Hash, Outcome};

/// An event in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainedEvent {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The previous event's hash, in hex.
    #[serde(with = "hex_hash")]
    #[schema(value_type = String)]
    pub prev_hash: Hash,
    /// This event's hash, in hex.
    #[serde(with = "hex_hash")]
    #[schema(value_type = String)]
    pub hash: Hash,
}

mod hex_hash {
    use serde::Deserialize as _;

    pub fn serialize<S: serde::Serializer>(hash: &super::Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<super::Hash, D::Error> {
        let text = String::deserialize(d)?;
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&text, &mut hash).map_err(serde::de::Error::custom)?;
        Ok(hash)
    }
}

fn to_hash(bytes: &[u8]) -> Result<Hash, sqlx::Error> {
    bytes
        .try_into()
        .map_err(|_| sqlx::Error::Decode("an audit hash is not 32 bytes".into()))
}

#[allow(clippy::too_many_arguments)]
fn to_event(
    occurred_at: DateTime<Utc>,
    actor_kind: &str,
    actor_id: Option<String>,
    session_id: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    action: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    outcome: &str,
    reason: Option<String>,
    request_id: Option<String>,
    subjects: Option<Vec<String>>,
) -> Result<AuditEvent, sqlx::Error> {
    Ok(AuditEvent {
        occurred_at,
        actor_kind: ActorKind::parse(actor_kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown actor kind {actor_kind}").into()))?,
        actor_id,
        session_id,
        client_ip,
        user_agent,
        action,
        resource_type,
        resource_id,
        outcome: Outcome::parse(outcome)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown outcome {outcome}").into()))?,
        reason,
        request_id,
        subjects: subjects.unwrap_or_default(),
    })
}

/// An `audit_events` row as read.
struct EventRow {
    seq: i64,
    occurred_at: DateTime<Utc>,
    actor_kind: String,
    actor_id: Option<String>,
    session_id: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    action: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    outcome: String,
    reason: Option<String>,
    request_id: Option<String>,
    subjects: Option<Vec<String>>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl TryFrom<EventRow> for ChainedEvent {
    type Error = sqlx::Error;

    fn try_from(r: EventRow) -> Result<Self, Self::Error> {
        Ok(Self {
            seq: r.seq,
            event: to_event(
                r.occurred_at,
                &r.actor_kind,
                r.actor_id,
                r.session_id,
                r.client_ip,
                r.user_agent,
                r.action,
                r.resource_type,
                r.resource_id,
                &r.outcome,
                r.reason,
                r.request_id,
                r.subjects,
            )?,
            prev_hash: to_hash(&r.prev_hash)?,
            hash: to_hash(&r.hash)?,
        })
    }
}

/// Records a write's event in the write's own transaction.
pub async fn stage(conn: &mut PgConnection, event: &AuditEvent) -> Result<(), sqlx::Error> {
    stage_all(conn, std::slice::from_ref(event)).await
}

/// Records a write's events, in order, in the write's own transaction: one statement.
pub async fn stage_all(conn: &mut PgConnection, events: &[AuditEvent]) -> Result<(), sqlx::Error> {
    let text = |f: fn(&AuditEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let occurred_at: Vec<DateTime<Utc>> = events.iter().map(|e| e.occurred_at).collect();
    let actor_kind: Vec<&str> = events.iter().map(|e| e.actor_kind.as_str()).collect();
    let action: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    let outcome: Vec<&str> = events.iter().map(|e| e.outcome.as_str()).collect();
    // UNNEST cannot carry an array per row; subjects (ids, never spaces) travel joined.
    let subjects = text(|e| (!e.subjects.is_empty()).then(|| e.subjects.join(" ")));
    sqlx::query!(
        r#"
        INSERT INTO audit_outbox (occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent,
                                  action, resource_type, resource_id, outcome, reason, request_id, subjects)
        SELECT occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, action, resource_type,
               resource_id, outcome, reason, request_id, string_to_array(subjects, ' ')
        FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
             WITH ORDINALITY AS u(occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, action,
                                  resource_type, resource_id, outcome, reason, request_id, subjects, n)
        ORDER BY n
        "#,
        &occurred_at,
        &actor_kind as &[&str],
        &text(|e| e.actor_id.clone()) as &[Option<String>],
        &text(|e| e.session_id.clone()) as &[Option<String>],
        &text(|e| e.client_ip.clone()) as &[Option<String>],
        &text(|e| e.user_agent.clone()) as &[Option<String>],
        &action as &[&str],
        &text(|e| e.resource_type.clone()) as &[Option<String>],
        &text(|e| e.resource_id.clone()) as &[Option<String>],
        &outcome as &[&str],
        &text(|e| e.reason.clone()) as &[Option<String>],
        &text(|e| e.request_id.clone()) as &[Option<String>],
        &subjects as &[Option<String>],
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Begins a chain writer's transaction in one round trip: its commit durable whatever
/// the server's default, and the chain lock held until it ends. The lock serializes the
/// chain's writers, whatever the number of Haven instances; it is an advisory lock
/// (`haven_app` may not lock rows it cannot update) whose key spells "HAVEN_A1". Read the
/// head after this returns: under READ COMMITTED that sees the last writer's commit.
pub(crate) async fn begin_chain(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(BEGIN_CHAIN).await
}

/// [`begin_chain`] on a connection the caller holds.
pub(super) async fn begin_chain_on(conn: &mut PgConnection) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
    sqlx::Connection::begin_with(conn, BEGIN_CHAIN).await
}

const BEGIN_CHAIN: &str = "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_advisory_xact_lock(5206537499884601649)";

/// Makes every commit on the audit writer's own connection durable, whatever the
/// server's default: its appends outside a transaction block commit as they end.
pub(super) async fn durable_commits(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SET synchronous_commit = on").execute(conn).await?;
    Ok(())
}

/// Whether `err` is an append that lost a race for the chain: another writer took the
/// numbers (the primary key) or moved the head (the chain's check, HV001). Nothing of
/// the statement was written; the events can be chained again from the new head.
pub(super) fn lost_the_head(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .is_some_and(|code| code == "23505" || code == "HV001")
}

pub async fn head(db: impl PgExecutor<'_>) -> Result<(i64, Hash), sqlx::Error> {
    let row = sqlx::query!("SELECT seq, hash FROM audit_head").fetch_one(db).await?;
    Ok((row.seq, to_hash(&row.hash)?))
}

/// A read-only transaction that sees one moment of the trail (REPEATABLE READ): the
/// head, the checkpoints and every event as they stood together, whatever is appended
/// while it reads.
pub(super) async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

pub(super) async fn take_outbox(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<(i64, AuditEvent)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT id, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent,
               action, resource_type, resource_id, outcome, reason, request_id, subjects
        FROM audit_outbox ORDER BY id LIMIT $1
        "#,
        limit
    )
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|r| {
            let event = to_event(
                r.occurred_at,
                &r.actor_kind,
                r.actor_id,
                r.session_id,
                r.client_ip,
                r.user_agent,
                r.action,
                r.resource_type,
                r.resource_id,
                &r.outcome,
                r.reason,
                r.request_id,
                r.subjects,
            )?;
            Ok((r.id, event))
        })
        .collect()
}

pub async fn outbox_len(db: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM audit_outbox")
        .fetch_one(db)
        .await
}

/// Appends events, in order, and removes the outbox rows they were made from (`taken`),
/// in one statement. The statement takes the chain lock itself (see [`begin_chain`]), so
/// that outside a transaction block it is a whole append in one round trip: lock, insert,
/// the chain's check, commit. It then waits for any writer holding the lock, and fails
/// if that writer took its numbers (see [`lost_the_head`]).
pub(crate) async fn append(db: impl PgExecutor<'_>, events: &[ChainedEvent], taken: &[i64]) -> Result<(), sqlx::Error> {
    let mut seq = Vec::with_capacity(events.len());
    let mut occurred_at = Vec::with_capacity(events.len());
    let mut actor_kind = Vec::with_capacity(events.len());
    let mut actor_id = Vec::with_capacity(events.len());
    let mut session_id = Vec::with_capacity(events.len());
    let mut client_ip = Vec::with_capacity(events.len());
    let mut user_agent = Vec::with_capacity(events.len());
    let mut action = Vec::with_capacity(events.len());
    let mut resource_type = Vec::with_capacity(events.len());
    let mut resource_id = Vec::with_capacity(events.len());
    let mut outcome = Vec::with_capacity(events.len());
    let mut reason = Vec::with_capacity(events.len());
    let mut request_id = Vec::with_capacity(events.len());
    // UNNEST cannot carry an array per row; subjects (ids, never spaces) travel joined.
    let mut subjects = Vec::with_capacity(events.len());
    let mut prev_hash = Vec::with_capacity(events.len());
    let mut hash = Vec::with_capacity(events.len());
    for chained in events {
        let e = &chained.event;
        seq.push(chained.seq);
        occurred_at.push(e.occurred_at);
        actor_kind.push(e.actor_kind.as_str().to_owned());
        actor_id.push(e.actor_id.clone());
        session_id.push(e.session_id.clone());
        client_ip.push(e.client_ip.clone());
        user_agent.push(e.user_agent.clone());
        action.push(e.action.clone());
        resource_type.push(e.resource_type.clone());
        resource_id.push(e.resource_id.clone());
        outcome.push(e.outcome.as_str().to_owned());
        reason.push(e.reason.clone());
        request_id.push(e.request_id.clone());
        subjects.push((!e.subjects.is_empty()).then(|| e.subjects.join(" ")));
        prev_hash.push(chained.prev_hash.to_vec());
        hash.push(chained.hash.to_vec());
    }
    sqlx::query!(
        r#"
        WITH taken AS (DELETE FROM audit_outbox WHERE cardinality($17::bigint[]) > 0 AND id = ANY($17))
        INSERT INTO audit_events (seq, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent,
                                  action, resource_type, resource_id, outcome, reason, request_id,
                                  prev_hash, hash, subjects)
        SELECT seq, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, action, resource_type,
               resource_id, outcome, reason, request_id, prev_hash, hash, string_to_array(subjects, ' ')
        FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                    $13::text[], $14::bytea[], $15::bytea[], $16::text[])
             AS u(seq, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, action,
                  resource_type, resource_id, outcome, reason, request_id, prev_hash, hash, subjects)
        WHERE (SELECT true FROM pg_advisory_xact_lock(5206537499884601649))
        "#,
        &seq,
        &occurred_at,
        &actor_kind,
        &actor_id as &[Option<String>],
        &session_id as &[Option<String>],
        &client_ip as &[Option<String>],
        &user_agent as &[Option<String>],
        &action,
        &resource_type as &[Option<String>],
        &resource_id as &[Option<String>],
        &outcome,
        &reason as &[Option<String>],
        &request_id as &[Option<String>],
        &prev_hash,
        &hash,
        &subjects as &[Option<String>],
        taken,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Merges the subjects index's pending list into the index (`audit_subjects_merge`,
/// migration tenant/0023); returns how many pending pages it emptied.
pub(super) async fn merge_subjects(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT audit_subjects_merge() AS "pages!""#)
        .fetch_one(db)
        .await
}

/// Every event from `from_seq` on, in order, streamed.
pub(super) fn stream_chain<'c>(
    db: impl PgExecutor<'c> + 'c,
    from_seq: i64,
) -> BoxStream<'c, Result<ChainedEvent, sqlx::Error>> {
    use futures_util::StreamExt as _;
    sqlx::query_as!(
        EventRow,
        r#"
        SELECT seq, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent,
               action, resource_type, resource_id, outcome, reason, request_id, subjects, prev_hash, hash
        FROM audit_events WHERE seq >= $1 ORDER BY seq
        "#,
        from_seq
    )
    .fetch(db)
    .map(|row| row.and_then(ChainedEvent::try_from))
    .boxed()
}

/// An archive of pruned events as its row records it.
pub(super) struct ArchiveRow {
    pub first_seq: i64,
    pub through_seq: i64,
    pub through_hash: Hash,
    pub file_name: String,
    pub file_sha256: [u8; 32],
}

/// Every archive, oldest first.
pub(super) async fn archives(db: impl PgExecutor<'_>) -> Result<Vec<ArchiveRow>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT first_seq, through_seq, through_hash, file_name, file_sha256 FROM audit_archives ORDER BY through_seq"
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ArchiveRow {
                first_seq: r.first_seq,
                through_seq: r.through_seq,
                through_hash: to_hash(&r.through_hash)?,
                file_name: r.file_name,
                file_sha256: to_hash(&r.file_sha256)?,
            })
        })
        .collect()
}

/// The point the chain starts from: the last archive's end, or the genesis.
pub(super) async fn chain_anchor(db: impl PgExecutor<'_>) -> Result<(i64, Hash), sqlx::Error> {
    let row = sqlx::query!("SELECT through_seq, through_hash FROM audit_archives ORDER BY through_seq DESC LIMIT 1")
        .fetch_optional(db)
        .await?;
    match row {
        Some(row) => Ok((row.through_seq, to_hash(&row.through_hash)?)),
        None => Ok((0, super::GENESIS_HASH)),
    }
}

/// Filters for reading the trail (auditor UI and API, export).
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub actor_id: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// Actions starting with this, e.g. `auth.`.
    pub action_prefix: Option<String>,
    /// Only events with a sequence number below this (keyset pagination, newest first).
    pub before_seq: Option<i64>,
}

/// Events matching `filter`, newest first, at most `limit`.
pub async fn list_events(
    db: impl PgExecutor<'_>,
    filter: &EventFilter,
    limit: i64,
) -> Result<Vec<ChainedEvent>, sqlx::Error> {
    sqlx::query_as!(
        EventRow,
        r#"
        SELECT seq, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent,
               action, resource_type, resource_id, outcome, reason, request_id, subjects, prev_hash, hash
        FROM audit_events
        WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)
          AND ($2::timestamptz IS NULL OR occurred_at < $2)
          AND ($3::text IS NULL OR actor_id = $3)
          AND ($4::text IS NULL OR resource_type = $4)
          AND ($5::text IS NULL OR resource_id = $5)
          AND ($6::text IS NULL OR action = $6)
          AND ($7::text IS NULL OR outcome = $7)
          AND ($8::bigint IS NULL OR seq < $8)
          AND ($10::text IS NULL OR starts_with(action, $10))
        ORDER BY seq DESC
        LIMIT $9
        "#,
        filter.from,
        filter.to,
        filter.actor_id,
        filter.resource_type,
        filter.resource_id,
        filter.action,
        filter.outcome.map(Outcome::as_str),
        filter.before_seq,
        limit,
        filter.action_prefix,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(ChainedEvent::try_from)
    .collect()
}

/// Events that occurred in `[from, to)`, in chain order, streamed.
pub(super) fn stream_range(
    db: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BoxStream<'_, Result<ChainedEvent, sqlx::Error>> {
    use futures_util::StreamExt as _;
    sqlx::query_as!(
        EventRow,
        r#"
        SELECT seq, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent,
               action, resource_type, resource_id, outcome, reason, request_id, subjects, prev_hash, hash
        FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY seq
        "#,
        from,
        to
    )
    .fetch(db)
    .map(|row| row.and_then(ChainedEvent::try_from))
    .boxed()
}

pub(super) async fn count_range(db: &PgPool, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2"#,
        from,
        to
    )
    .fetch_one(db)
    .await
}

/// The last event that occurred before `cutoff`.
pub(super) async fn last_seq_before(db: &PgPool, cutoff: DateTime<Utc>) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!("SELECT max(seq) FROM audit_events WHERE occurred_at < $1", cutoff)
        .fetch_one(db)
        .await
}

/// Records the archive and removes the archived events, in one transaction.
pub(super) async fn archive_and_delete(
    db: &PgPool,
    first_seq: i64,
    through_seq: i64,
    through_hash: &Hash,
    archived_at: DateTime<Utc>,
    file_name: &str,
    file_sha256: &[u8; 32],
) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        r#"
        INSERT INTO audit_archives (through_seq, through_hash, first_seq, archived_at, file_name, file_sha256)
        VALUES ($1, $2, $3, $4, $5, $6)
        "#,
        through_seq,
        &through_hash[..],
        first_seq,
        archived_at,
        file_name,
        &file_sha256[..],
    )
    .execute(&mut *tx)
    .await?;
    // The append-only trigger lets archived events go only under this switch.
    sqlx::query_scalar!("SELECT set_config('haven.audit_prune', 'on', true)")
        .fetch_one(&mut *tx)
        .await?;
    let deleted = sqlx::query!("DELETE FROM audit_events WHERE seq <= $1", through_seq)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}
