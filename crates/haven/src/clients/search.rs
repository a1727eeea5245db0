//! Finding a client: one box for a name (typos forgiven), a record number, another
//! agency's identifier or a date of birth. Every query applies the policy's
//! [`ClientScope`], so a result never holds a client the asker may not reach.
//!
//! A name is matched word by word against the dictionary of name words (trigrams,
//! prefix and sound; see [`dictionary_matches`]), then the clients holding a match for
//! every word are found through one index and only they are ranked. Comparing the
//! query with every client's whole name would read thousands of rows for a common
//! surname; this reads the few that can match.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

use super::store::SummaryRow;
use super::{ClientStatus, ClientSummary};
use crate::policy::ClientScope;

pub const MAX_PAGE: i64 = 100;

/// What the search box was given: a name, a date of birth or an identifier, so its
/// `Debug` names only the kind of search.
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Everyone => "Term::Everyone",
            Self::Name(_) => "Term::Name(..)",
            Self::Exact { .. } => "Term::Exact { .. }",
        })
    }
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

impl Query {
    /// The rows a page reads: the count asked for (within `MAX_PAGE`) plus one, to tell
    /// whether there is more.
    fn rows(&self) -> i64 {
        self.limit.clamp(1, MAX_PAGE) + 1
    }

    fn offset(&self) -> i64 {
        self.offset.max(0)
    }
}

/// At most this many words of a name query pick the candidates; more rarely narrow
/// anything, and every word still counts in the ranking.
const KEYED_WORDS: usize = 4;

/// The words of a name query that pick candidates: letters only (as `name_words()` in
/// the database splits names), distinct, and initials only when nothing longer was typed.
fn keyed_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in name.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    if words.iter().any(|w| w.chars().count() > 1) {
        words.retain(|w| w.chars().count() > 1);
    }
    words.truncate(KEYED_WORDS);
    words
}

/// How close to the best match for a query word another word must be to rank as one.
/// The best words always make candidates.
const BEST_MARGIN: f64 = 0.1;
/// Lesser matches widen the search while they stay cheap: the clients to rank (at most
/// those holding a word of the narrowest query word's set) stay within the first
/// budget, and each word's set within the second (what the index reads).
const RANKED_BUDGET: i64 = 2_000;
const INDEX_BUDGET: i64 = 20_000;
/// A query of one word ranks the holders of its best matches first: when they are this
/// many times the rows a page needs (by the dictionary's counts, which may lag an hour),
/// lesser matches could not reach the page and are not read.
const FILLS_THE_PAGE: i64 = 4;

/// What each keyed word of the query may mean among the names people have. A client is
/// a candidate when their name holds a word of every `candidates` set, and ranks higher
/// for each `best` set it meets. Always `KEYED_WORDS` of each: a short query repeats its
/// last word's sets, which changes no result and no order.
struct NameKeys {
    candidates: Vec<Vec<String>>,
    best: Vec<Vec<String>>,
}

impl NameKeys {
    /// `None` when some word of the query means no name anybody has. `page_rows` is
    /// how far into the ranking the page reaches, when every client is in view and no
    /// filter drops any.
    async fn look_up(db: &sqlx::PgPool, name: &str, page_rows: Option<i64>) -> Result<Option<Self>, sqlx::Error> {
        let words = keyed_words(name);
        if words.is_empty() {
            return Ok(None);
        }
        let mut matches: Vec<Vec<DictionaryMatch>> = (0..words.len()).map(|_| Vec::new()).collect();
        for found in dictionary_matches(db, &words).await? {
            if let Some(list) = usize::try_from(found.token - 1).ok().and_then(|i| matches.get_mut(i)) {
                list.push(found);
            }
        }
        if matches.iter().any(Vec::is_empty) {
            return Ok(None);
        }
        let widened: Vec<WordSets> = matches.iter().map(|list| WordSets::widen(list, INDEX_BUDGET)).collect();
        // Ranking reads every client the narrowest set allows; keep that set within
        // the smaller budget.
        let narrowest = widened
            .iter()
            .enumerate()
            .min_by_key(|(_, sets)| sets.holders)
            .map_or(0, |(i, _)| i);
        let mut keys = Self {
            candidates: Vec::with_capacity(KEYED_WORDS),
            best: Vec::with_capacity(KEYED_WORDS),
        };
        for (i, (sets, list)) in widened.into_iter().zip(&matches).enumerate() {
            let sets = if i == narrowest {
                let best = WordSets::widen(list, 0);
                let best_fill_the_page = words.len() == 1
                    && page_rows.is_some_and(|rows| best.holders >= rows.saturating_mul(FILLS_THE_PAGE));
                if best_fill_the_page {
                    best
                } else if sets.holders > RANKED_BUDGET {
                    WordSets::widen(list, RANKED_BUDGET)
                } else {
                    sets
                }
            } else {
                sets
            };
            keys.candidates.push(sets.candidates);
            keys.best.push(sets.best);
        }
        while keys.candidates.len() < KEYED_WORDS {
            keys.candidates
                .push(keys.candidates.last().cloned().unwrap_or_default());
            keys.best.push(keys.best.last().cloned().unwrap_or_default());
        }
        Ok(Some(keys))
    }

    fn candidates(&self, i: usize) -> &[String] {
        self.candidates.get(i).map_or(&[], Vec::as_slice)
    }

    fn best(&self, i: usize) -> &[String] {
        self.best.get(i).map_or(&[], Vec::as_slice)
    }

    fn none() -> Self {
        Self {
            candidates: Vec::new(),
            best: Vec::new(),
        }
    }
}

/// The words one query word stands for.
struct WordSets {
    candidates: Vec<String>,
    best: Vec<String>,
    /// How many clients hold one of the candidate words (at most; a client may hold two).
    holders: i64,
}

impl WordSets {
    /// The best matches, then lesser ones in order while their holders fit `budget`.
    /// `list` is best first (close matches first) and not empty; when it has close
    /// matches, only they can be best.
    fn widen(list: &[DictionaryMatch], budget: i64) -> Self {
        let (top, close) = list.first().map_or((0.0, false), |m| (m.quality, m.close));
        let mut sets = Self {
            candidates: Vec::new(),
            best: Vec::new(),
            holders: 0,
        };
        for found in list {
            if found.close == close && found.quality >= top - BEST_MARGIN {
                sets.best.push(found.word.clone());
            } else if sets.holders + found.clients > budget {
                continue;
            }
            sets.holders += found.clients;
            sets.candidates.push(found.word.clone());
        }
        sets
    }
}

struct DictionaryMatch {
    token: i64,
    word: String,
    quality: f64,
    /// How many clients' names hold the word, as of the last recount (a word new since
    /// then counts the holders it came with; a word nobody holds any more matches no one).
    clients: i64,
    /// The word itself, a word it begins, or one slip away: nearer than any word that
    /// only sounds alike or shares trigrams, whatever their scores.
    close: bool,
}

/// Words typed this short are matched by how they begin and sound only: three letters
/// are one edit from thousands of names and share a trigram with thousands more, for
/// matches no better than the prefix's.
const FUZZY_FROM: usize = 4;

/// How many words that only sound like a query word are weighed, the most held first: a
/// common sound is shared by thousands of dictionary words.
const SOUND_ALIKES: i64 = 200;

/// Dictionary words close to each query word, best first, at most 40 per word, with how
/// good a match each is: the word itself (1), a word it begins, as when a name is half
/// typed (0.9), a word one slip away (a letter dropped, added, changed, or two
/// neighbours swapped: "smiht"), or a word that sounds the same (Double Metaphone:
/// "Jhon", "Ngyuen"; of those, the `SOUND_ALIKES` most held). Only when no word is one
/// slip away are words within trigram similarity 0.3 (the pool's
/// `pg_trgm.similarity_threshold`: two slips or more) looked for; slips and trigrams
/// from `FUZZY_FROM` letters. Apart from the word itself and its beginnings, quality is
/// trigram similarity, raised by 0.25 when the words sound alike. Close matches (the
/// word, its beginnings, one slip) come first, whatever the others score: Double
/// Metaphone keeps four sounds, so every "clover..." name sounds like every other.
///
/// Looking up a word's few hundred one-slip neighbours costs the same for every word;
/// the trigram index hands over every dictionary word sharing a third of the query's
/// trigrams, thousands for a word with common syllables, each then compared in full.
/// Query words are letters only, so `LIKE` sees no wildcard but its own.
async fn dictionary_matches(db: &sqlx::PgPool, words: &[String]) -> Result<Vec<DictionaryMatch>, sqlx::Error> {
    let ords: Vec<i64> = (1_i64..).take(words.len()).collect();
    let (mut near, mut near_ords) = (Vec::new(), Vec::new());
    for (ord, word) in ords.iter().zip(words) {
        if word.chars().count() >= FUZZY_FROM {
            let slips = one_slip_away(word);
            near_ords.extend(std::iter::repeat_n(*ord, slips.len()));
            near.extend(slips);
        }
    }
    sqlx::query_as!(
        DictionaryMatch,
        r#"
        WITH near AS MATERIALIZED (
            SELECT n.ord, d.word, d.clients, d.sound
            FROM unnest($3::text[], $4::int8[]) AS n(word, ord)
            JOIN client_name_words d ON d.word = n.word
        )
        SELECT t.ord AS "token!", w.word AS "word!", w.quality AS "quality!", w.clients::int8 AS "clients!",
               w.close AS "close!"
        FROM unnest($1::text[], $2::int8[]) AS t(tok, ord)
        CROSS JOIN LATERAL (SELECT dmetaphone(t.tok) AS sound OFFSET 0) s
        CROSS JOIN LATERAL (
            SELECT m.word, m.clients, m.close,
                   CASE WHEN m.word = t.tok THEN 1.0::float8
                        WHEN starts_with(m.word, t.tok) THEN 0.9::float8
                        ELSE similarity(m.word, t.tok)::float8
                             + CASE WHEN m.sound = s.sound THEN 0.25 ELSE 0 END
                   END AS quality
            FROM (
                SELECT u.word, u.clients, u.sound, bool_or(u.close) AS close
                FROM (
                SELECT d.word, d.clients, d.sound, true AS close
                FROM client_name_words d
                WHERE d.word LIKE t.tok || '%'
                UNION ALL
                SELECT n.word, n.clients, n.sound, true FROM near n WHERE n.ord = t.ord
                UNION ALL
                SELECT d.word, d.clients, d.sound, false
                FROM client_name_words d
                WHERE d.word % t.tok AND char_length(t.tok) >= $5
                  AND NOT EXISTS (SELECT FROM near n WHERE n.ord = t.ord)
                UNION ALL
                (SELECT d.word, d.clients, d.sound, false
                 FROM client_name_words d
                 WHERE d.sound = s.sound
                 ORDER BY d.clients DESC, d.word
                 LIMIT $6)
                ) u
                GROUP BY u.word, u.clients, u.sound
            ) m
            ORDER BY m.close DESC, quality DESC, m.clients DESC, m.word
            LIMIT 40
        ) w
        "#,
        words,
        &ords,
        &near,
        &near_ords,
        i32::try_from(FUZZY_FROM).unwrap_or(i32::MAX),
        SOUND_ALIKES,
    )
    .fetch_all(db)
    .await
}

/// Every word one slip from `word`: a letter dropped, two neighbours swapped, a letter
/// changed or added (from `a` to `z` and the word's own letters), without repeats.
fn one_slip_away(word: &str) -> Vec<String> {
    let letters: Vec<char> = word.chars().collect();
    let mut alphabet: Vec<char> = ('a'..='z').chain(letters.iter().copied()).collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    let spelled = |chars: &mut dyn Iterator<Item = char>| chars.collect::<String>();
    let mut slips = Vec::with_capacity(letters.len() * (2 * alphabet.len() + 2) + alphabet.len());
    for at in 0..=letters.len() {
        let (before, after) = letters.split_at(at);
        if let Some((_, rest)) = after.split_first() {
            slips.push(spelled(&mut before.iter().chain(rest).copied()));
            for &c in &alphabet {
                slips.push(spelled(
                    &mut before.iter().copied().chain([c]).chain(rest.iter().copied()),
                ));
            }
            if let Some((next, rest)) = rest.split_first() {
                slips.push(spelled(
                    &mut before.iter().chain([next, &after[0]]).chain(rest).copied(),
                ));
            }
        }
        for &c in &alphabet {
            slips.push(spelled(
                &mut before.iter().copied().chain([c]).chain(after.iter().copied()),
            ));
        }
    }
    slips.sort_unstable();
    slips.dedup();
    slips.retain(|slip| slip != word);
    slips
}

/// The clients matching `query` that `scope` allows, best first; the count asked for
/// plus one, so callers can tell whether there is more.
pub async fn search(
    pool: &sqlx::PgPool,
    scope: ClientScope,
    query: &Query,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSummary>, sqlx::Error> {
    let keys = match &query.term {
        Term::Name(name) if scope != ClientScope::Nothing => {
            let page_rows = (scope == ClientScope::All && query.status.is_none())
                .then(|| query.offset().saturating_add(query.rows()));
            match NameKeys::look_up(pool, name, page_rows).await? {
                Some(keys) => Some(keys),
                None => return Ok(Vec::new()),
            }
        }
        _ => None,
    };
    search_once(pool, scope, query, keys.as_ref(), now).await
}

async fn search_once(
    db: impl PgExecutor<'_>,
    scope: ClientScope,
    query: &Query,
    keys: Option<&NameKeys>,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSummary>, sqlx::Error> {
    let page = Page {
        limit: query.rows(),
        offset: query.offset(),
        status: query.status.map(ClientStatus::as_str),
    };
    let rows = match (scope, &query.term) {
        (ClientScope::Nothing, _) => Vec::new(),
        (ClientScope::All, Term::Everyone) => browse_all(db, &page).await?,
        (ClientScope::All, Term::Name(_)) => match keys {
            Some(keys) => name_in_all(db, keys, &page).await?,
            None => Vec::new(),
        },
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
        ) => in_reach(db, user, through_supervision, now, term, keys, &page).await?,
    };
    rows.into_iter().map(ClientSummary::try_from).collect()
}

struct Page<'a> {
    limit: i64,
    offset: i64,
    status: Option<&'a str>,
}

/// A statement reading list rows (`SummaryRow`) from `clients`; the string pieces given
/// complete it after `FROM clients` (filter, order, page).
macro_rules! summaries_sql {
    ($first:tt $(+ $more:tt)* $(, $arg:expr)*) => {
        sqlx::query_as!(
            SummaryRow,
            r#"
            SELECT id, record_number AS "record_number: _", legal_given_name AS "legal_given_name: _",
                   legal_family_name AS "legal_family_name: _", preferred_name AS "preferred_name: _",
                   pronouns AS "pronouns: _", date_of_birth, status AS "status: _"
            FROM clients "#
                + $first $(+ $more)*
            $(, $arg)*
        )
    };
}

/// Everyone, a page at a time, by name; `$filter` and `$page` complete the statement.
macro_rules! browse_sql {
    ($filter:tt, $page:tt $(, $arg:expr)*) => {
        summaries_sql!($filter + r#" ORDER BY family_name_key, given_name_key, id "# + $page $(, $arg)*)
    };
}

/// The first page of everyone, unfiltered (the list most often asked for), is read by a
/// statement without parameters: PostgreSQL plans it once per connection. With the
/// page's size and place as parameters, the plan it would keep looks ten times dearer
/// than one made for the values at hand, so it planned the list afresh every time, a
/// quarter of the statement's cost. A first page reads at most 101 rows (26 for pages
/// of up to 25), and keeps those the page asked for.
async fn browse_all(db: impl PgExecutor<'_>, page: &Page<'_>) -> Result<Vec<SummaryRow>, sqlx::Error> {
    const _: () = assert!(MAX_PAGE < 101, "a first page reads at most 101 rows");
    let mut rows = match (page.status, page.offset) {
        (None, 0) if page.limit <= 26 => browse_sql!("", "LIMIT 26").fetch_all(db).await?,
        (None, 0) => browse_sql!("", "LIMIT 101").fetch_all(db).await?,
        _ => {
            browse_sql!(
                "WHERE ($1::text IS NULL OR status = $1)",
                "LIMIT $2 OFFSET $3",
                page.status,
                page.limit,
                page.offset
            )
            .fetch_all(db)
            .await?
        }
    };
    rows.truncate(usize::try_from(page.limit).unwrap_or(0));
    Ok(rows)
}

/// Candidates hold a word of each candidate set (one index, intersected); they rank by
/// how many best sets they meet, then by name. Ranking reads nothing but the row's own
/// words, so even a few thousand candidates rank in a few milliseconds.
async fn name_in_all(
    db: impl PgExecutor<'_>,
    keys: &NameKeys,
    page: &Page<'_>,
) -> Result<Vec<SummaryRow>, sqlx::Error> {
    summaries_sql!(
        r#"
        WHERE name_words && $1 AND name_words && $2 AND name_words && $3 AND name_words && $4
          AND ($5::text IS NULL OR status = $5)
        ORDER BY (name_words && $6)::int + (name_words && $7)::int + (name_words && $8)::int
                 + (name_words && $9)::int DESC,
                 family_name_key, given_name_key, id
        LIMIT $10 OFFSET $11
        "#,
        keys.candidates(0),
        keys.candidates(1),
        keys.candidates(2),
        keys.candidates(3),
        page.status,
        keys.best(0),
        keys.best(1),
        keys.best(2),
        keys.best(3),
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
    summaries_sql!(
        r#"
        WHERE (record_number = $1
               OR id IN (SELECT client_id FROM client_identifiers WHERE upper(value) = upper($2))
               OR date_of_birth = $3)
          AND ($4::text IS NULL OR status = $4)
        ORDER BY record_number = $1 DESC NULLS LAST, family_name_key, given_name_key, id
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
    keys: Option<&NameKeys>,
    page: &Page<'_>,
) -> Result<Vec<SummaryRow>, sqlx::Error> {
    let no_keys = NameKeys::none();
    let keys = keys.unwrap_or(&no_keys);
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
        SELECT c.id, c.record_number AS "record_number: _", c.legal_given_name AS "legal_given_name: _",
               c.legal_family_name AS "legal_family_name: _", c.preferred_name AS "preferred_name: _",
               c.pronouns AS "pronouns: _", c.date_of_birth, c.status AS "status: _"
        FROM clients c JOIN clients_within_reach($1, $2, $3) r ON r.client_id = c.id
        WHERE ($4::text IS NULL
               OR (c.name_words && $12 AND c.name_words && $13 AND c.name_words && $14 AND c.name_words && $15))
          AND (NOT $9 OR c.record_number = $5
               OR c.id IN (SELECT client_id FROM client_identifiers WHERE upper(value) = upper($6))
               OR c.date_of_birth = $7)
          AND ($8::text IS NULL OR c.status = $8)
        ORDER BY (c.name_words && $16)::int + (c.name_words && $17)::int + (c.name_words && $18)::int
                 + (c.name_words && $19)::int DESC,
                 c.family_name_key, c.given_name_key, c.id
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
        page.offset,
        keys.candidates(0),
        keys.candidates(1),
        keys.candidates(2),
        keys.candidates(3),
        keys.best(0),
        keys.best(1),
        keys.best(2),
        keys.best(3)
    )
    .fetch_all(db)
    .await
}

fn term_is_exact(term: &Term) -> bool {
    matches!(term, Term::Exact { .. })
}

/// Brings every dictionary word's count of holders up to date, and sets words nobody
/// holds any more to zero; returns how many counts changed. A registration adds its new
/// words at once (migration 0018) but leaves the counts of known words to this.
///
/// The words are counted before any row is touched, so registrations wait on the
/// dictionary only for the few milliseconds of the update itself.
pub async fn recount_name_words(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        WITH counted AS MATERIALIZED (
            SELECT w AS word, count(*)::int4 AS clients FROM clients, unnest(name_words) AS w GROUP BY w
        ), gone AS (
            UPDATE client_name_words AS d SET clients = 0
            WHERE d.clients <> 0 AND NOT EXISTS (SELECT FROM counted AS c WHERE c.word = d.word)
            RETURNING 1
        ), changed AS (
            UPDATE client_name_words AS d SET clients = c.clients
            FROM counted AS c
            WHERE d.word = c.word AND d.clients <> c.clients
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM changed) AS "changed!"
        "#
    )
    .fetch_one(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(word: &str, quality: f64, clients: i64) -> DictionaryMatch {
        DictionaryMatch {
            token: 1,
            word: word.to_owned(),
            quality,
            clients,
            close: true,
        }
    }

    #[test]
    fn words_that_only_sound_alike_are_never_best_beside_a_close_one() {
        let sounds_alike = |word: &str, quality: f64| DictionaryMatch {
            close: false,
            ..found(word, quality, 800)
        };
        let list = [
            found("clovershaw", 0.71, 790),
            sounds_alike("cloverhall", 0.72),
            sounds_alike("cloverdale", 0.63),
        ];
        let sets = WordSets::widen(&list, 900);
        assert_eq!(sets.best, ["clovershaw"]);
        assert_eq!(sets.candidates, ["clovershaw"]);
        // With no close match, the best of the rest count as before.
        let sets = WordSets::widen(&list[1..], 0);
        assert_eq!(sets.best, ["cloverhall", "cloverdale"]);
    }

    #[test]
    fn query_words_are_letters_and_initials_only_count_alone() {
        assert_eq!(keyed_words("O'Brien-Smith, J."), ["brien", "smith"]);
        assert_eq!(keyed_words("J K"), ["j", "k"]);
        assert_eq!(keyed_words("ana ana Ana"), ["ana"]);
        assert_eq!(keyed_words("a b c d e f g h"), ["a", "b", "c", "d"]);
        assert!(keyed_words("?!").is_empty());
    }

    #[test]
    fn one_slip_covers_each_kind_of_slip_once() {
        let slips = one_slip_away("smith");
        for slip in [
            "smth", "msith", "smiht", "smyth", "smitth", "ssmith", "smithe", "asmith",
        ] {
            assert!(slips.binary_search(&slip.to_owned()).is_ok(), "{slip}");
        }
        for far in ["smith", "smi", "mtish", "smithes", "schmidt"] {
            assert!(!slips.contains(&far.to_owned()), "{far}");
        }
        assert!(slips.windows(2).all(|pair| pair[0] < pair[1]), "sorted, no repeats");
        // Letters beyond a to z come from the word itself.
        assert!(one_slip_away("müller").contains(&"mülüer".to_owned()));
        assert!(one_slip_away("müler").contains(&"müller".to_owned()));
    }

    #[test]
    fn lesser_matches_widen_only_within_the_budget() {
        let list = [
            found("catherine", 1.0, 5_000),
            found("katherine", 0.95, 300),
            found("kathryn", 0.6, 900),
            found("cathy", 0.5, 200),
            found("kuthrond", 0.4, 1),
        ];
        let sets = WordSets::widen(&list, 5_500);
        assert_eq!(sets.best, ["catherine", "katherine"]);
        // The best always count, even over budget; then what fits, in order.
        assert_eq!(sets.candidates, ["catherine", "katherine", "cathy"]);
        assert_eq!(sets.holders, 5_500);
        let wide = WordSets::widen(&list, 1_000_000);
        assert_eq!(wide.candidates.len(), 5);
        assert_eq!(wide.holders, 6_401);
    }

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
