//! Queries on `clients`, `client_identifiers` and `client_related_people`.

use chrono::{DateTime, NaiveDate, Utc};
use compact_str::CompactString;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::access::TeamMember;
use super::{Client, ClientDetails, ClientStatus, ClientSummary, ContactRules, Identifier, RelatedPerson};
use crate::clients::ClientId;
use crate::identity::UserId;
use crate::policy::ClientFacts;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no such client")]
    NotFound,
    #[error("the client was changed by someone else")]
    VersionMismatch,
    #[error("an identifier is recorded for another client")]
    IdentifierTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn identifier_taken(err: sqlx::Error) -> ClientError {
    if let sqlx::Error::Database(db) = &err
        && db.constraint() == Some("client_identifiers_kind_value_key")
    {
        return ClientError::IdentifierTaken;
    }
    ClientError::Database(err)
}

fn parse_status(value: &str) -> Result<ClientStatus, sqlx::Error> {
    ClientStatus::parse(value).ok_or_else(|| sqlx::Error::Decode(format!("unknown client status {value}").into()))
}

/// A client to insert, with who registers it and when.
pub struct NewClient<'a> {
    pub id: ClientId,
    pub details: &'a ClientDetails,
    pub hipaa_exempt: bool,
    pub by: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// Inserts clients with their identifiers and related people: the client rows in one
/// statement, whatever their number, record numbers given in the order of `clients`.
pub async fn insert_all(conn: &mut PgConnection, clients: &[NewClient<'_>]) -> Result<(), ClientError> {
    let text =
        |f: fn(&ClientDetails) -> &Option<String>| clients.iter().map(|c| f(c.details).clone()).collect::<Vec<_>>();
    let flag = |f: fn(&ContactRules) -> bool| clients.iter().map(|c| f(&c.details.contact)).collect::<Vec<_>>();
    sqlx::query!(
        r#"
        INSERT INTO clients (id, legal_given_name, legal_family_name, preferred_name, pronouns, date_of_birth,
                             status, email, phone, address_line, locality, postcode, ok_to_email, ok_to_phone,
                             ok_to_text, ok_to_leave_voicemail, safe_contact_times, confidential_address,
                             hipaa_exempt, created_at, created_by, updated_at)
        SELECT id, given, family, preferred, pronouns, born, status, email, phone, address_line, locality,
               postcode, ok_to_email, ok_to_phone, ok_to_text, ok_to_leave_voicemail, safe_contact_times,
               confidential_address, hipaa_exempt, at, by, at
        FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[], $7::text[], $8::text[],
                    $9::text[], $10::text[], $11::text[], $12::text[], $13::bool[], $14::bool[], $15::bool[],
                    $16::bool[], $17::text[], $18::bool[], $19::bool[], $20::timestamptz[], $21::uuid[])
             WITH ORDINALITY AS u(id, given, family, preferred, pronouns, born, status, email, phone, address_line,
                                  locality, postcode, ok_to_email, ok_to_phone, ok_to_text, ok_to_leave_voicemail,
                                  safe_contact_times, confidential_address, hipaa_exempt, at, by, n)
        ORDER BY n
        "#,
        &clients.iter().map(|c| c.id.0).collect::<Vec<_>>(),
        &clients
            .iter()
            .map(|c| c.details.legal_given_name.clone())
            .collect::<Vec<_>>(),
        &clients
            .iter()
            .map(|c| c.details.legal_family_name.clone())
            .collect::<Vec<_>>(),
        &text(|d| &d.preferred_name) as &[Option<String>],
        &text(|d| &d.pronouns) as &[Option<String>],
        &clients.iter().map(|c| c.details.date_of_birth).collect::<Vec<_>>() as &[Option<NaiveDate>],
        &clients.iter().map(|c| c.details.status.as_str()).collect::<Vec<_>>() as &[&str],
        &text(|d| &d.email) as &[Option<String>],
        &text(|d| &d.phone) as &[Option<String>],
        &text(|d| &d.address_line) as &[Option<String>],
        &text(|d| &d.locality) as &[Option<String>],
        &text(|d| &d.postcode) as &[Option<String>],
        &flag(|r| r.ok_to_email),
        &flag(|r| r.ok_to_phone),
        &flag(|r| r.ok_to_text),
        &flag(|r| r.ok_to_leave_voicemail),
        &text(|d| &d.contact.safe_contact_times) as &[Option<String>],
        &flag(|r| r.confidential_address),
        &clients.iter().map(|c| c.hipaa_exempt).collect::<Vec<_>>(),
        &clients.iter().map(|c| c.at).collect::<Vec<_>>(),
        &clients.iter().map(|c| c.by.map(|u| u.0)).collect::<Vec<_>>() as &[Option<Uuid>],
    )
    .execute(&mut *conn)
    .await?;
    for client in clients {
        add_lists(conn, client.id, client.details).await?;
    }
    Ok(())
}

/// Replaces the details of client `id`. With `expected_version`, refuses if the client
/// changed since that version was read.
pub async fn update(
    conn: &mut PgConnection,
    id: ClientId,
    details: &ClientDetails,
    expected_version: Option<i32>,
    now: DateTime<Utc>,
) -> Result<i32, ClientError> {
    let c = &details.contact;
    let version = sqlx::query_scalar!(
        r#"
        UPDATE clients SET legal_given_name = $2, legal_family_name = $3, preferred_name = $4, pronouns = $5,
               date_of_birth = $6, status = $7, email = $8, phone = $9, address_line = $10, locality = $11,
               postcode = $12, ok_to_email = $13, ok_to_phone = $14, ok_to_text = $15,
               ok_to_leave_voicemail = $16, safe_contact_times = $17, confidential_address = $18,
               updated_at = $19, version = version + 1
        WHERE id = $1 AND ($20::integer IS NULL OR version = $20)
        RETURNING version
        "#,
        id as _,
        details.legal_given_name,
        details.legal_family_name,
        details.preferred_name,
        details.pronouns,
        details.date_of_birth,
        details.status.as_str(),
        details.email,
        details.phone,
        details.address_line,
        details.locality,
        details.postcode,
        c.ok_to_email,
        c.ok_to_phone,
        c.ok_to_text,
        c.ok_to_leave_voicemail,
        c.safe_contact_times,
        c.confidential_address,
        now,
        expected_version,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(version) = version else {
        return Err(if exists(&mut *conn, id).await? {
            ClientError::VersionMismatch
        } else {
            ClientError::NotFound
        });
    };
    replace_lists(conn, id, details).await?;
    Ok(version)
}

async fn exists(db: impl PgExecutor<'_>, id: ClientId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1) AS "e!""#,
        id as _
    )
    .fetch_one(db)
    .await
}

async fn replace_lists(conn: &mut PgConnection, id: ClientId, details: &ClientDetails) -> Result<(), ClientError> {
    sqlx::query!("DELETE FROM client_identifiers WHERE client_id = $1", id as _)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM client_related_people WHERE client_id = $1", id as _)
        .execute(&mut *conn)
        .await?;
    add_lists(conn, id, details).await
}

/// Writes a client's identifiers and related people (a new client's, or after
/// [`replace_lists`] cleared them); nothing to send when there are none.
async fn add_lists(conn: &mut PgConnection, id: ClientId, details: &ClientDetails) -> Result<(), ClientError> {
    if !details.identifiers.is_empty() {
        let kinds: Vec<String> = details.identifiers.iter().map(|i| i.kind.clone()).collect();
        let values: Vec<String> = details.identifiers.iter().map(|i| i.value.clone()).collect();
        sqlx::query!(
            "INSERT INTO client_identifiers (client_id, kind, value) SELECT $1, * FROM UNNEST($2::text[], $3::text[])",
            id as _,
            &kinds,
            &values,
        )
        .execute(&mut *conn)
        .await
        .map_err(identifier_taken)?;
    }
    for (position, person) in details.related_people.iter().enumerate() {
        sqlx::query!(
            r#"
            INSERT INTO client_related_people (id, client_id, kind, name, relationship, phone, email, position)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            "#,
            Uuid::now_v7(),
            id as _,
            person.kind.as_str(),
            person.name,
            person.relationship,
            person.phone,
            person.email,
            i16::try_from(position).unwrap_or(i16::MAX),
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn set_hipaa_exempt(
    conn: &mut PgConnection,
    id: ClientId,
    exempt: bool,
    now: DateTime<Utc>,
    flagged_tables: &[&'static str],
) -> Result<(), ClientError> {
    let changed = sqlx::query!(
        "UPDATE clients SET hipaa_exempt = $2, updated_at = $3, version = version + 1 WHERE id = $1",
        id as _,
        exempt,
        now
    )
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(ClientError::NotFound);
    }
    // Every record of the client carries the flag (docs/clinical-records.md): the tables
    // the modules declared as flagged client records (fixed names, never input). A
    // document already on the cloud target keeps its place until it is moved; see
    // docs/documents.md.
    for table in flagged_tables {
        sqlx::query(&format!("UPDATE {table} SET hipaa_exempt = $2 WHERE client_id = $1"))
            .bind(id)
            .bind(exempt)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// The client's columns with its lists, how a viewer stands to it and its care team: each
// rule written once here, read by `find`, `facts`, `chart` and `charts`. Facts read the
// viewer as `viewer.id` and the moment as `viewer.at`.
macro_rules! client_sql {
    ($kind:ident $(, $arg:expr)*) => {
        client_sql!(
            @ $kind,
            r#"c.id, c.record_number, c.legal_given_name, c.legal_family_name, c.preferred_name, c.pronouns,
               c.date_of_birth, c.status, c.email, c.phone, c.address_line, c.locality, c.postcode, c.ok_to_email,
               c.ok_to_phone, c.ok_to_text, c.ok_to_leave_voicemail, c.safe_contact_times, c.confidential_address,
               c.hipaa_exempt, c.version, c.created_at, c.updated_at,
               coalesce((SELECT json_agg(json_build_object('kind', i.kind, 'value', i.value) ORDER BY i.kind)
                         FROM client_identifiers i WHERE i.client_id = c.id), '[]')
                   AS "identifiers!: sqlx::types::Json<Vec<Identifier>>",
               coalesce((SELECT json_agg(json_build_object('kind', p.kind, 'name', p.name,
                                                           'relationship', p.relationship, 'phone', p.phone,
                                                           'email', p.email) ORDER BY p.position)
                         FROM client_related_people p WHERE p.client_id = c.id), '[]')
                   AS "related_people!: sqlx::types::Json<Vec<RelatedPerson>>""#,
            r#"EXISTS (SELECT 1 FROM care_team_members WHERE client_id = c.id AND user_id = viewer.id) AS "on_team!",
               EXISTS (SELECT 1 FROM care_team_members m JOIN users u ON u.id = m.user_id
                       WHERE m.client_id = c.id AND u.supervisor_id = viewer.id) AS "supervises!",
               (SELECT max(g.expires_at) FROM break_glass_grants g
                WHERE g.client_id = c.id AND g.user_id = viewer.id AND g.ended_at IS NULL AND g.expires_at > viewer.at)
                   AS break_glass_until"#,
            r#"coalesce((SELECT json_agg(json_build_object('user_id', m.user_id, 'display_name', u.display_name,
                                                          'team_role', m.team_role, 'added_at', m.added_at)
                                         ORDER BY m.team_role = 'primary' DESC, u.display_name)
                         FROM care_team_members m JOIN users u ON u.id = m.user_id
                         WHERE m.client_id = c.id), '[]')
                   AS "care_team!: sqlx::types::Json<Vec<TeamMember>>""#
            $(, $arg)*
        )
    };
    (@ find, $client:tt, $facts:tt, $team:tt $(, $arg:expr)*) => {
        sqlx::query!("SELECT " + $client + " FROM clients c WHERE c.id = $1" $(, $arg)*)
    };
    (@ facts, $client:tt, $facts:tt, $team:tt $(, $arg:expr)*) => {
        sqlx::query!(
            "SELECT " + $facts + " FROM clients c, (SELECT $2::uuid AS id, $3::timestamptz AS at) viewer
             WHERE c.id = $1"
            $(, $arg)*
        )
    };
    (@ chart, $client:tt, $facts:tt, $team:tt $(, $arg:expr)*) => {
        sqlx::query!(
            "SELECT " + $facts + ", " + $team + ", " + $client + "
             FROM clients c, (SELECT $2::uuid AS id, $3::timestamptz AS at) viewer WHERE c.id = $1"
            $(, $arg)*
        )
    };
    (@ charts, $client:tt, $facts:tt, $team:tt $(, $arg:expr)*) => {
        sqlx::query!(
            "SELECT " + $facts + ", " + $team + ", " + $client + "
             FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) WITH ORDINALITY AS viewer(client, id, at, n)
             JOIN clients c ON c.id = viewer.client
             ORDER BY viewer.n"
            $(, $arg)*
        )
    };
}

/// The client in `row`, read with `client_sql!`'s client columns (any row that has
/// them); moves only those columns out of it.
macro_rules! client_of_row {
    ($row:ident) => {{
        Ok::<_, sqlx::Error>(Client {
            id: $row.id.into(),
            record_number: $row.record_number,
            details: ClientDetails {
                legal_given_name: $row.legal_given_name,
                legal_family_name: $row.legal_family_name,
                preferred_name: $row.preferred_name,
                pronouns: $row.pronouns,
                date_of_birth: $row.date_of_birth,
                status: parse_status(&$row.status)?,
                email: $row.email,
                phone: $row.phone,
                address_line: $row.address_line,
                locality: $row.locality,
                postcode: $row.postcode,
                contact: ContactRules {
                    ok_to_email: $row.ok_to_email,
                    ok_to_phone: $row.ok_to_phone,
                    ok_to_text: $row.ok_to_text,
                    ok_to_leave_voicemail: $row.ok_to_leave_voicemail,
                    safe_contact_times: $row.safe_contact_times,
                    confidential_address: $row.confidential_address,
                },
                identifiers: $row.identifiers.0,
                related_people: $row.related_people.0,
            },
            hipaa_exempt: $row.hipaa_exempt,
            version: $row.version,
            created_at: $row.created_at,
            updated_at: $row.updated_at,
        })
    }};
}

/// How the viewer stands to the client, in a row read with `client_sql!`'s facts.
macro_rules! facts_of_row {
    ($row:ident) => {
        ClientFacts {
            on_care_team: $row.on_team,
            supervises_care_team: $row.supervises,
            break_glass: $row.break_glass_until.is_some(),
        }
    };
}
/// A chart's reading from a row read with all of `client_sql!`'s parts.
macro_rules! chart_of_row {
    ($row:ident) => {{
        let facts = facts_of_row!($row);
        let (care_team, break_glass_until) = ($row.care_team.0, $row.break_glass_until);
        Ok::<_, sqlx::Error>(ChartReading {
            client: client_of_row!($row)?,
            care_team,
            facts,
            break_glass_until,
        })
    }};
}
pub(super) use {client_sql, facts_of_row};

/// What [`chart`] reads: the client, its care team, how the viewer stands to it and
/// until when the viewer's live emergency access lasts.
pub struct ChartReading {
    pub client: Client,
    pub care_team: Vec<TeamMember>,
    pub facts: ClientFacts,
    pub break_glass_until: Option<DateTime<Utc>>,
}

/// A client with its identifiers and related people, in one statement.
pub async fn find(db: impl PgExecutor<'_>, id: ClientId) -> Result<Option<Client>, sqlx::Error> {
    client_sql!(find, id as _)
        .fetch_optional(db)
        .await?
        .map(|row| client_of_row!(row))
        .transpose()
}

/// Everything a chart shows of `client` to `user` at `now`, in one statement;
/// `None` when there is no such client. The caller asks the policy before showing it.
pub async fn chart(
    db: impl PgExecutor<'_>,
    client: ClientId,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Option<ChartReading>, sqlx::Error> {
    let Some(row) = client_sql!(chart, client as _, user.0, now).fetch_optional(db).await? else {
        return Ok(None);
    };
    Ok(Some(chart_of_row!(row)?))
}

/// The charts of several clients, each to its own viewer at its own moment, in one
/// statement: what [`chart`] reads for each `(client, viewer, moment)`, in the same
/// order; a client that does not exist is left out.
pub async fn charts(
    db: impl PgExecutor<'_>,
    wanted: &[(ClientId, UserId, DateTime<Utc>)],
) -> Result<Vec<ChartReading>, sqlx::Error> {
    let clients: Vec<Uuid> = wanted.iter().map(|(client, _, _)| client.0).collect();
    let viewers: Vec<Uuid> = wanted.iter().map(|(_, viewer, _)| viewer.0).collect();
    let moments: Vec<DateTime<Utc>> = wanted.iter().map(|(_, _, at)| *at).collect();
    let rows = client_sql!(charts, &clients, &viewers, &moments).fetch_all(db).await?;
    rows.into_iter().map(|row| chart_of_row!(row)).collect()
}

/// The id of the client with this record number.
pub async fn id_by_record_number(
    db: impl PgExecutor<'_>,
    record_number: &str,
) -> Result<Option<ClientId>, sqlx::Error> {
    Ok(
        sqlx::query_scalar!("SELECT id FROM clients WHERE record_number = $1", record_number)
            .fetch_optional(db)
            .await?
            .map(ClientId),
    )
}

/// A row of a list: what `search` and `list` select. Its text is kept inline when short
/// (as names, record numbers and statuses nearly always are): a page of 100 clients
/// decoded into `String`s made 500 allocations.
pub(super) struct SummaryRow {
    pub id: Uuid,
    pub record_number: CompactString,
    pub legal_given_name: CompactString,
    pub legal_family_name: CompactString,
    pub preferred_name: Option<CompactString>,
    pub pronouns: Option<CompactString>,
    pub date_of_birth: Option<NaiveDate>,
    pub status: CompactString,
}

impl TryFrom<SummaryRow> for ClientSummary {
    type Error = sqlx::Error;

    fn try_from(r: SummaryRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: r.id.into(),
            display_name: super::display_name_compact(
                &r.legal_given_name,
                &r.legal_family_name,
                r.preferred_name.as_deref(),
            ),
            record_number: r.record_number,
            legal_given_name: r.legal_given_name,
            legal_family_name: r.legal_family_name,
            preferred_name: r.preferred_name,
            pronouns: r.pronouns,
            date_of_birth: r.date_of_birth,
            status: parse_status(&r.status)?,
        })
    }
}

/// Summaries of these clients, in the order given.
pub async fn summaries(db: impl PgExecutor<'_>, ids: &[ClientId]) -> Result<Vec<ClientSummary>, sqlx::Error> {
    let rows = sqlx::query_as!(
        SummaryRow,
        r#"
        SELECT id, record_number AS "record_number: _", legal_given_name AS "legal_given_name: _",
               legal_family_name AS "legal_family_name: _", preferred_name AS "preferred_name: _",
               pronouns AS "pronouns: _", date_of_birth, status AS "status: _"
        FROM clients WHERE id = ANY($1)
        "#,
        ids as _
    )
    .fetch_all(db)
    .await?;
    let mut found: Vec<ClientSummary> = rows
        .into_iter()
        .map(ClientSummary::try_from)
        .collect::<Result<_, _>>()?;
    found.sort_by_key(|s| ids.iter().position(|id| *id == s.id));
    Ok(found)
}

/// Whether the organisation has any client.
/// Which of `ids` are `hipaa_exempt`.
pub async fn exempt_among(
    db: impl PgExecutor<'_>,
    ids: &[ClientId],
) -> Result<std::collections::HashSet<ClientId>, sqlx::Error> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let rows = sqlx::query_scalar!(
        r#"SELECT id AS "id: ClientId" FROM clients WHERE id = ANY($1) AND hipaa_exempt"#,
        &ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

pub async fn any(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM clients) AS "any!""#)
        .fetch_one(db)
        .await
}

/// The first `limit` clients registered, by record number.
pub async fn first(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<ClientId>, sqlx::Error> {
    let ids = sqlx::query_scalar!("SELECT id FROM clients ORDER BY record_number LIMIT $1", limit)
        .fetch_all(db)
        .await?;
    Ok(ids.into_iter().map(ClientId).collect())
}

/// Whether every client is `hipaa_exempt` (so everything the organisation holds may leave
/// the premises, where its storage policy allows).
pub async fn every_client_exempt(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT NOT EXISTS (SELECT 1 FROM clients WHERE NOT hipaa_exempt) AS "exempt!""#)
        .fetch_one(db)
        .await
}
