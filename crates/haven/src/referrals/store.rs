//! Queries on `referrals` and `referral_transitions`.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Direction, Referral, ReferralStatus, ReferralSummary, ReferredPerson, SourceKind, Transition, Urgency};
use crate::clients::ClientId;
use crate::clients::display_name;
use crate::identity::UserId;
use crate::referrals::ReferralId;

fn decode<T>(parsed: Option<T>, what: &str, value: &str) -> Result<T, sqlx::Error> {
    parsed.ok_or_else(|| sqlx::Error::Decode(format!("unknown {what} {value}").into()))
}

/// A referral as it is first recorded.
#[derive(Clone)]
pub struct NewReferral {
    pub direction: Direction,
    pub client_id: Option<ClientId>,
    pub person: Option<ReferredPerson>,
    pub source_kind: SourceKind,
    pub source_name: Option<String>,
    pub source_contact: Option<String>,
    pub reason: String,
    pub urgency: Urgency,
    pub assigned_to: Option<UserId>,
    pub received_on: NaiveDate,
}

crate::redacted_debug!(NewReferral {
    direction,
    client_id,
    source_kind,
    urgency,
    assigned_to
});

pub async fn insert(
    conn: &mut PgConnection,
    id: ReferralId,
    new: &NewReferral,
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let person = new.person.as_ref();
    sqlx::query!(
        r#"
        INSERT INTO referrals (id, direction, client_id, person_given_name, person_family_name,
                               person_date_of_birth, person_phone, person_email, source_kind, source_name,
                               source_contact, reason, urgency, status, assigned_to, received_on,
                               created_at, created_by, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'received', $14, $15, $16, $17, $16)
        "#,
        id as _,
        new.direction.as_str(),
        new.client_id as _,
        person.map(|p| p.given_name.as_str()),
        person.map(|p| p.family_name.as_str()),
        person.and_then(|p| p.date_of_birth),
        person.and_then(|p| p.phone.as_deref()),
        person.and_then(|p| p.email.as_deref()),
        new.source_kind.as_str(),
        new.source_name,
        new.source_contact,
        new.reason,
        new.urgency.as_str(),
        new.assigned_to.map(|u| u.0),
        new.received_on,
        now,
        by.map(|u| u.0),
    )
    .execute(&mut *conn)
    .await?;
    record_transition(conn, id, None, ReferralStatus::Received, by, None, now).await
}

async fn record_transition(
    conn: &mut PgConnection,
    referral: ReferralId,
    from: Option<ReferralStatus>,
    to: ReferralStatus,
    by: Option<UserId>,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO referral_transitions (id, referral_id, from_status, to_status, at, by_user, note)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        "#,
        Uuid::now_v7(),
        referral as _,
        from.map(ReferralStatus::as_str),
        to.as_str(),
        at,
        by.map(|u| u.0),
        note,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find(db: impl PgExecutor<'_>, id: ReferralId) -> Result<Option<Referral>, sqlx::Error> {
    let Some(r) = sqlx::query!(
        r#"
        SELECT r.id, r.direction, r.client_id, c.record_number AS "client_record_number?",
               c.legal_given_name AS "client_given?", c.legal_family_name AS "client_family?",
               c.preferred_name AS "client_preferred?",
               r.person_given_name, r.person_family_name, r.person_date_of_birth, r.person_phone, r.person_email,
               r.source_kind, r.source_name, r.source_contact, r.reason, r.urgency, r.status, r.assigned_to,
               u.display_name AS "assigned_to_name?", r.decline_reason, r.received_on, r.version,
               r.created_at, r.updated_at
        FROM referrals r
        LEFT JOIN clients c ON c.id = r.client_id
        LEFT JOIN users u ON u.id = r.assigned_to
        WHERE r.id = $1
        "#,
        id as _
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let person = match (r.person_given_name, r.person_family_name) {
        (Some(given_name), Some(family_name)) if r.client_id.is_none() => Some(ReferredPerson {
            given_name,
            family_name,
            date_of_birth: r.person_date_of_birth,
            phone: r.person_phone,
            email: r.person_email,
        }),
        _ => None,
    };
    let person_name = match (&r.client_given, &r.client_family, &person) {
        (Some(given), Some(family), _) => display_name(given, family, r.client_preferred.as_deref()),
        (_, _, Some(p)) => format!("{} {}", p.given_name, p.family_name),
        _ => String::new(),
    };
    Ok(Some(Referral {
        id: r.id.into(),
        direction: decode(Direction::parse(&r.direction), "direction", &r.direction)?,
        client_id: r.client_id.map(ClientId),
        client_record_number: r.client_record_number,
        person_name,
        person,
        source_kind: decode(SourceKind::parse(&r.source_kind), "source kind", &r.source_kind)?,
        source_name: r.source_name,
        source_contact: r.source_contact,
        reason: r.reason,
        urgency: decode(Urgency::parse(&r.urgency), "urgency", &r.urgency)?,
        status: decode(ReferralStatus::parse(&r.status), "status", &r.status)?,
        assigned_to: r.assigned_to.map(UserId),
        assigned_to_name: r.assigned_to_name,
        decline_reason: r.decline_reason,
        received_on: r.received_on,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

pub async fn transitions(db: impl PgExecutor<'_>, referral: ReferralId) -> Result<Vec<Transition>, sqlx::Error> {
    sqlx::query!(
        r#"
        SELECT t.from_status, t.to_status, t.at, t.by_user, u.display_name AS "by_name?", t.note
        FROM referral_transitions t LEFT JOIN users u ON u.id = t.by_user
        WHERE t.referral_id = $1 ORDER BY t.at, t.id
        "#,
        referral as _
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|t| {
        Ok(Transition {
            from_status: match t.from_status {
                Some(s) => Some(decode(ReferralStatus::parse(&s), "status", &s)?),
                None => None,
            },
            to_status: decode(ReferralStatus::parse(&t.to_status), "status", &t.to_status)?,
            at: t.at,
            by_user: t.by_user.map(UserId),
            by_name: t.by_name,
            note: t.note,
        })
    })
    .collect()
}

/// A move in the workflow, applied only if the referral is still `from` (so two people
/// triaging at once cannot both win). Returns whether it moved.
pub struct Move<'a> {
    pub from: ReferralStatus,
    pub to: ReferralStatus,
    pub by: UserId,
    pub note: Option<&'a str>,
    pub decline_reason: Option<&'a str>,
    pub assigned_to: Option<UserId>,
    pub urgency: Option<Urgency>,
    pub client_id: Option<ClientId>,
    pub at: DateTime<Utc>,
}

pub async fn apply_move(conn: &mut PgConnection, id: ReferralId, m: &Move<'_>) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query!(
        r#"
        UPDATE referrals
        SET status = $3, decline_reason = coalesce($4, decline_reason), assigned_to = coalesce($5, assigned_to),
            urgency = coalesce($6, urgency), client_id = coalesce($7, client_id), updated_at = $8,
            version = version + 1
        WHERE id = $1 AND status = $2
        "#,
        id as _,
        m.from.as_str(),
        m.to.as_str(),
        m.decline_reason,
        m.assigned_to.map(|u| u.0),
        m.urgency.map(Urgency::as_str),
        m.client_id as _,
        m.at,
    )
    .execute(&mut *conn)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(false);
    }
    let note = m.note.or(m.decline_reason);
    record_transition(conn, id, Some(m.from), m.to, Some(m.by), note, m.at).await?;
    Ok(true)
}

/// Which referrals a queue may show: inbound ones for people who are not clients yet,
/// those assigned to the asker, and those about clients within their reach.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<ReferralStatus>,
    pub direction: Option<Direction>,
    pub assigned_to: Option<UserId>,
    pub client_id: Option<ClientId>,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list(
    db: impl PgExecutor<'_>,
    me: UserId,
    through_supervision: bool,
    now: DateTime<Utc>,
    filter: &Filter,
) -> Result<Vec<ReferralSummary>, sqlx::Error> {
    sqlx::query!(
        r#"
        SELECT r.id, r.direction, r.client_id, c.legal_given_name AS "client_given?",
               c.legal_family_name AS "client_family?", c.preferred_name AS "client_preferred?",
               r.person_given_name, r.person_family_name, r.source_kind, r.source_name, r.urgency, r.status,
               r.assigned_to, u.display_name AS "assigned_to_name?", r.received_on
        FROM referrals r
        LEFT JOIN clients c ON c.id = r.client_id
        LEFT JOIN users u ON u.id = r.assigned_to
        WHERE (r.client_id IS NULL OR r.assigned_to = $1 OR r.client_id IN (SELECT client_id FROM clients_within_reach($1, $2, $3)))
          AND ($4::text IS NULL OR r.status = $4)
          AND ($5::text IS NULL OR r.direction = $5)
          AND ($6::uuid IS NULL OR r.assigned_to = $6)
          AND ($7::uuid IS NULL OR r.client_id = $7)
        ORDER BY CASE r.urgency WHEN 'urgent' THEN 0 WHEN 'soon' THEN 1 ELSE 2 END, r.received_on, r.id
        LIMIT $8 OFFSET $9
        "#,
        me.0,
        through_supervision,
        now,
        filter.status.map(ReferralStatus::as_str),
        filter.direction.map(Direction::as_str),
        filter.assigned_to.map(|u| u.0),
        filter.client_id as _,
        filter.limit,
        filter.offset,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| {
        let person_name = match (&r.client_given, &r.client_family) {
            (Some(given), Some(family)) => display_name(given, family, r.client_preferred.as_deref()),
            _ => format!(
                "{} {}",
                r.person_given_name.as_deref().unwrap_or_default(),
                r.person_family_name.as_deref().unwrap_or_default()
            ),
        };
        Ok(ReferralSummary {
            id: r.id.into(),
            direction: decode(Direction::parse(&r.direction), "direction", &r.direction)?,
            client_id: r.client_id.map(ClientId),
            person_name,
            source_kind: decode(SourceKind::parse(&r.source_kind), "source kind", &r.source_kind)?,
            source_name: r.source_name,
            urgency: decode(Urgency::parse(&r.urgency), "urgency", &r.urgency)?,
            status: decode(ReferralStatus::parse(&r.status), "status", &r.status)?,
            assigned_to: r.assigned_to.map(UserId),
            assigned_to_name: r.assigned_to_name,
            received_on: r.received_on,
        })
    })
    .collect()
}

/// Whether the organisation has any referral.
pub async fn any(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM referrals) AS "any!""#)
        .fetch_one(db)
        .await
}
