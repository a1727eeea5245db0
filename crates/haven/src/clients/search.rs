//! Finding a client: one box for a name (typos forgiven), a record number, another
//! agency's identifier or a date of birth. Every query applies the policy's
//! [`ClientScope`], so a result never holds a client the asker may not reach.
//!
//! Names are matched three ways, each backed by an index: trigram similarity of the
//! whole name (`%`: 0.4, retried at 0.25 when nothing matched), of the query within the name (`<%`), and by how each word sounds
//! (Double Metaphone, for transposed letters such as "Jhon" or "Ngyuen").

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

use super::store::SummaryRow;
use super::{ClientStatus, ClientSummary};
use crate::policy::ClientScope;

pub const MAX_PAGE: i64 = 100;

/// What the search box was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Nothing: browse in name order.
    Everyone,
    Name(String),
    /// Digits or a date: a record number, an identifier, a date of birth.
    Exact {
        record_number: Option<String>,
        identifier: String,
        date_of_birth: Option<NaiveDate>,
    },
}

impl Term {
    /// Reads the search box. Anything with a digit is looked up exactly; the rest is a
    /// name.
    pub fn parse(query: &str) -> Self {
        let query = query.trim();
        if query.is_empty() {
            return Self::Everyone;
        }
        if !query.chars().any(|c| c.is_ascii_digit()) {
            let name: String = query.chars().take(100).collect::<String>().to_lowercase();
            return Self::Name(name);
        }
        let compact: String = query
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase();
        let record_number = compact
            .strip_prefix("HV")
            .filter(|digits| !digits.is_empty() && digits.len() <= 7 && digits.chars().all(|c| c.is_ascii_digit()))
            .map(|digits| format!("HV{digits:0>7}"));
        Self::Exact {
            record_number,
            identifier: query.chars().take(64).collect(),
            date_of_birth: NaiveDate::parse_from_str(query, "%Y-%m-%d").ok(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Query {
    pub term: Term,
    pub status: Option<ClientStatus>,
    pub limit: i64,
    pub offset: i64,
}

/// How close a whole name must be when a closer match found nothing: two slips in a
/// short name ("Kathrine Smiht") still find the person.
const LOOSE_SIMILARITY: &str = "0.25";

/// The clients matching `query` that `scope` allows, best first; the count asked for
/// plus one, so callers can tell whether there is more. A name that finds nobody is
/// tried once more with a looser match.
pub async fn search(
    pool: &sqlx::PgPool,
    scope: ClientScope,
    query: &Query,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSummary>, sqlx::Error> {
    let found = search_once(pool, scope, query, now).await?;
    if !found.is_empty() || !matches!(query.term, Term::Name(_)) || query.offset > 0 {
        return Ok(found);
    }
    let mut tx = pool.begin().await?;
    sqlx::query_scalar!(
        r#"SELECT set_config('pg_trgm.similarity_threshold', $1, true) AS "set!""#,
        LOOSE_SIMILARITY
    )
    .fetch_one(&mut *tx)
    .await?;
    let found = search_once(&mut *tx, scope, query, now).await?;
    tx.commit().await?;
    Ok(found)
}

async fn search_once(
    db: impl PgExecutor<'_>,
    scope: ClientScope,
    query: &Query,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSummary>, sqlx::Error> {
    let page = Page {
        limit: query.limit.clamp(1, MAX_PAGE) + 1,
        offset: query.offset.max(0),
        status: query.status.map(ClientStatus::as_str),
    };
    let rows = match (scope, &query.term) {
        (ClientScope::Nothing, _) => Vec::new(),
        (ClientScope::All, Term::Everyone) => browse_all(db, &page).await?,
        (ClientScope::All, Term::Name(name)) => name_in_all(db, name, &page).await?,
        (
            ClientScope::All,
            Term::Exact {
                record_number,
                identifier,
                date_of_birth,
            },
        ) => exact_in_all(db, record_number.as_deref(), identifier, *date_of_birth, &page).await?,
        (
            ClientScope::Reachable {
                user,
                through_supervision,
            },
            term,
        ) => in_reach(db, user, through_supervision, now, term, &page).await?,
    };
    rows.into_iter().map(ClientSummary::try_from).collect()
}

struct Page<'a> {
    limit: i64,
    offset: i64,
    status: Option<&'a str>,
}

async fn browse_all(db: impl PgExecutor<'_>, page: &Page<'_>) -> Result<Vec<SummaryRow>, sqlx::Error> {
    sqlx::query_as!(
        SummaryRow,
        r#"
        SELECT id, record_number, legal_given_name, legal_family_name, preferred_name, pronouns,
               date_of_birth, status
        FROM clients
        WHERE ($1::text IS NULL OR status = $1)
        ORDER BY lower(legal_family_name), lower(legal_given_name), id
        LIMIT $2 OFFSET $3
        "#,
        page.status,
        page.limit,
        page.offset
    )
    .fetch_all(db)
    .await
}

async fn name_in_all(db: impl PgExecutor<'_>, name: &str, page: &Page<'_>) -> Result<Vec<SummaryRow>, sqlx::Error> {
    sqlx::query_as!(
        SummaryRow,
        r#"
        SELECT id, record_number, legal_given_name, legal_family_name, preferred_name, pronouns,
               date_of_birth, status
        FROM clients
        WHERE (search_name % $1 OR $1 <% search_name OR name_sounds @> name_sounds($1))
          AND ($2::text IS NULL OR status = $2)
        ORDER BY greatest(similarity(search_name, $1), word_similarity($1, search_name))
                 + CASE WHEN name_sounds @> name_sounds($1) THEN 0.3 ELSE 0 END DESC,
                 lower(legal_family_name), lower(legal_given_name), id
        LIMIT $3 OFFSET $4
        "#,
        name,
        page.status,
        page.limit,
        page.offset
    )
    .fetch_all(db)
    .await
}

async fn exact_in_all(
    db: impl PgExecutor<'_>,
    record_number: Option<&str>,
    identifier: &str,
    date_of_birth: Option<NaiveDate>,
    page: &Page<'_>,
) -> Result<Vec<SummaryRow>, sqlx::Error> {
    sqlx::query_as!(
        SummaryRow,
        r#"
        SELECT id, record_number, legal_given_name, legal_family_name, preferred_name, pronouns,
               date_of_birth, status
        FROM clients
        WHERE (record_number = $1
               OR id IN (SELECT client_id FROM client_identifiers WHERE upper(value) = upper($2))
               OR date_of_birth = $3)
          AND ($4::text IS NULL OR status = $4)
        ORDER BY record_number = $1 DESC NULLS LAST, lower(legal_family_name), lower(legal_given_name), id
        LIMIT $5 OFFSET $6
        "#,
        record_number,
        identifier,
        date_of_birth,
        page.status,
        page.limit,
        page.offset
    )
    .fetch_all(db)
    .await
}

/// A caseload is small: gather it first, then match within it.
async fn in_reach(
    db: impl PgExecutor<'_>,
    user: crate::identity::UserId,
    through_supervision: bool,
    now: DateTime<Utc>,
    term: &Term,
    page: &Page<'_>,
) -> Result<Vec<SummaryRow>, sqlx::Error> {
    let (name, record_number, identifier, date_of_birth) = match term {
        Term::Everyone => (None, None, None, None),
        Term::Name(name) => (Some(name.as_str()), None, None, None),
        Term::Exact {
            record_number,
            identifier,
            date_of_birth,
        } => (
            None,
            record_number.as_deref(),
            Some(identifier.as_str()),
            *date_of_birth,
        ),
    };
    sqlx::query_as!(
        SummaryRow,
        r#"
        SELECT c.id, c.record_number, c.legal_given_name, c.legal_family_name, c.preferred_name,
               c.pronouns, c.date_of_birth, c.status
        FROM clients c JOIN clients_within_reach($1, $2, $3) r ON r.client_id = c.id
        WHERE ($4::text IS NULL
               OR c.search_name % $4 OR $4 <% c.search_name OR c.name_sounds @> name_sounds($4))
          AND (NOT $9 OR c.record_number = $5
               OR c.id IN (SELECT client_id FROM client_identifiers WHERE upper(value) = upper($6))
               OR c.date_of_birth = $7)
          AND ($8::text IS NULL OR c.status = $8)
        ORDER BY CASE WHEN $4::text IS NULL THEN 0
                      ELSE greatest(similarity(c.search_name, $4), word_similarity($4, c.search_name))
                           + CASE WHEN c.name_sounds @> name_sounds($4) THEN 0.3 ELSE 0 END END DESC,
                 lower(c.legal_family_name), lower(c.legal_given_name), c.id
        LIMIT $10 OFFSET $11
        "#,
        user.0,
        through_supervision,
        now,
        name,
        record_number,
        identifier,
        date_of_birth,
        page.status,
        term_is_exact(term),
        page.limit,
        page.offset
    )
    .fetch_all(db)
    .await
}

fn term_is_exact(term: &Term) -> bool {
    matches!(term, Term::Exact { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_search_box() {
        assert_eq!(Term::parse("  "), Term::Everyone);
        assert_eq!(Term::parse(" Jhon  Smiht "), Term::Name("jhon  smiht".to_owned()));
        let Term::Exact {
            record_number,
            date_of_birth,
            identifier,
        } = Term::parse("hv-1234")
        else {
            panic!("a record number is exact");
        };
        assert_eq!(record_number.as_deref(), Some("HV0001234"));
        assert_eq!(identifier, "hv-1234");
        assert_eq!(date_of_birth, None);
        let Term::Exact {
            record_number,
            date_of_birth,
            ..
        } = Term::parse("2009-04-30")
        else {
            panic!("a date is exact");
        };
        assert_eq!(record_number, None);
        assert_eq!(date_of_birth, NaiveDate::from_ymd_opt(2009, 4, 30));
        assert!(matches!(
            Term::parse("S1234567"),
            Term::Exact {
                record_number: None,
                ..
            }
        ));
    }
}
