//! `haven bench help`: seeds generated help articles into a scratch help database, serves
//! them with the standalone help service on a loopback port, and measures article reads
//! per second (many kept-alive connections at once, every read counting its view) and
//! search latency (one query at a time), over real HTTP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::http::connect;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use sqlx::PgPool;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::help::markdown;

const VERBS: &[&str] = &[
    "book", "cancel", "move", "sign", "amend", "export", "print", "share", "review", "archive", "record", "search",
    "assign", "invite", "reset", "schedule", "upload", "verify", "triage", "close",
];
const NOUNS: &[&str] = &[
    "appointment",
    "note",
    "referral",
    "client",
    "document",
    "reminder",
    "room",
    "calendar",
    "measure",
    "password",
    "invitation",
    "report",
    "template",
    "group",
    "session",
    "caseload",
    "consent",
    "alert",
    "waitlist",
    "letter",
];
const WORDS: &[&str] = &[
    "open",
    "the",
    "page",
    "choose",
    "then",
    "select",
    "each",
    "staff",
    "member",
    "sees",
    "only",
    "what",
    "their",
    "role",
    "allows",
    "counsellor",
    "supervisor",
    "front",
    "desk",
    "safe",
    "contact",
    "email",
    "phone",
    "date",
    "time",
    "status",
    "history",
    "list",
    "filter",
    "button",
    "menu",
    "form",
    "field",
    "required",
    "optional",
    "saved",
    "changed",
    "audit",
    "trail",
    "records",
    "every",
    "step",
    "organisation",
    "settings",
    "week",
    "day",
];

/// A small deterministic generator (xorshift), so that runs seed the same articles.
struct Words(u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        let len = u64::try_from(list.len()).unwrap_or(1);
        list[usize::try_from(self.next() % len).unwrap_or(0)]
    }

    fn sentence(&mut self, words: usize) -> String {
        let mut text = (0..words).map(|_| self.pick(WORDS)).collect::<Vec<_>>().join(" ");
        text.push('.');
        text
    }
}

/// Seeds `count` published articles in batches; returns their slugs.
pub async fn seed(
    pool: &PgPool,
    clock: &SharedClock,
    count: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<String>, sqlx::Error> {
    let mut words = Words(0x9e37_79b9_7f4a_7c15);
    let mut slugs = Vec::with_capacity(count);
    let now = clock.now();
    for start in (0..count).step_by(500) {
        let end = (start + 500).min(count);
        let mut ids = Vec::new();
        let mut batch_slugs = Vec::new();
        let mut titles = Vec::new();
        let mut summaries = Vec::new();
        let mut bodies = Vec::new();
        let mut htmls = Vec::new();
        let mut texts = Vec::new();
        let mut keys = Vec::new();
        for n in start..end {
            let (verb, noun) = (words.pick(VERBS), words.pick(NOUNS));
            let title = format!("How to {verb} a {noun} ({n})");
            let body = format!(
                "## Before you start\n\n{} {}\n\n## Steps\n\n1. {}\n2. {}\n3. {}\n\n{} **{verb}** the {noun}. {}",
                words.sentence(14),
                words.sentence(10),
                words.sentence(8),
                words.sentence(9),
                words.sentence(7),
                words.sentence(12),
                words.sentence(16)
            );
            let rendered = markdown::render(&body);
            ids.push(Uuid::now_v7());
            batch_slugs.push(format!("how-to-{verb}-a-{noun}-{n}"));
            summaries.push(format!("What to do to {verb} a {noun}."));
            titles.push(title);
            bodies.push(body);
            htmls.push(rendered.html);
            texts.push(rendered.text);
            keys.push(format!("{noun}s.{verb}"));
        }
        let mut tx = pool.begin().await?;
        sqlx::query!(
            r#"
            INSERT INTO help_articles (id, slug, status, title, summary, body_markdown, body_html, body_text,
                                       tags, page_keys, revision, published_at, created_at, updated_at)
            SELECT id, slug, 'published', title, summary, body, html, text, '{}', ARRAY[key], 1, $9, $9, $9
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                 AS t(id, slug, title, summary, body, html, text, key)
            "#,
            &ids,
            &batch_slugs,
            &titles,
            &summaries,
            &bodies,
            &htmls,
            &texts,
            &keys,
            now
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            r#"
            INSERT INTO help_revisions (article_id, revision, status, title, summary, body_markdown, category_id,
                                        tags, page_keys, saved_at)
            SELECT id, revision, status, title, summary, body_markdown, category_id, tags, page_keys, updated_at
            FROM help_articles WHERE id = ANY ($1)
            "#,
            &ids
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        slugs.extend(batch_slugs);
        progress(u64::try_from(end).unwrap_or(u64::MAX));
    }
    Ok(slugs)
}

/// The kinds of search timed: a word found in many articles, two words, a title, and a
/// misspelling that only the typo fallback can find.
pub const KINDS: [&str; 4] = ["one word", "two words", "a title", "a misspelt word"];

/// What searches to time, each with its kind (an index into [`KINDS`]).
pub fn queries(count: usize) -> Vec<(usize, String)> {
    let mut words = Words(0x2545_f491_4f6c_dd1d);
    (0..count)
        .map(|n| {
            let kind = n % KINDS.len();
            let q = match kind {
                0 => words.pick(NOUNS).to_owned(),
                1 => format!("{} {}", words.pick(VERBS), words.pick(NOUNS)),
                2 => format!("how to {} a {}", words.pick(VERBS), words.pick(NOUNS)),
                _ => {
                    // Drop one letter: "apointment".
                    let noun = words.pick(NOUNS);
                    let at = 1 + usize::try_from(words.next() % 3).unwrap_or(0);
                    format!("{}{}", &noun[..at], &noun[at + 1..])
                }
            };
            (kind, q)
        })
        .collect()
}

type Client = SendRequest<Empty<Bytes>>;

/// One GET on a kept-alive connection, its body read to the end.
async fn get(client: &mut Client, path: &str) -> anyhow::Result<(u16, Bytes)> {
    client.ready().await?;
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())?;
    let response = client.send_request(request).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// Requests served and their latencies.
pub struct Timing {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Timing {
    fn from(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        Self {
            requests: latencies.len(),
            errors,
            elapsed,
            p50: super::quantile(&latencies, 0.50),
            p99: super::quantile(&latencies, 0.99),
        }
    }

    pub fn per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let requests = self.requests as f64;
        requests / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `connections` clients read random articles for `duration`.
pub async fn reads(
    addr: SocketAddr,
    slugs: &[String],
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Timing> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for worker in 0..connections {
        let mut client = connect(addr).await?;
        let slugs = slugs.to_vec();
        workers.push(tokio::spawn(async move {
            let mut words = Words(0x5851_f42d_4c95_7f2d ^ (u64::try_from(worker).unwrap_or(0) + 1));
            let mut latencies = Vec::new();
            let mut errors = 0;
            let len = u64::try_from(slugs.len()).unwrap_or(1).max(1);
            while Instant::now() < deadline {
                let slug = &slugs[usize::try_from(words.next() % len).unwrap_or(0)];
                let began = Instant::now();
                match get(&mut client, &format!("/api/help/v1/articles/{slug}")).await {
                    Ok((200, _)) => latencies.push(began.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mine, failed) = worker.await?;
        latencies.extend(mine);
        errors += failed;
    }
    Ok(Timing::from(latencies, errors, started.elapsed()))
}

/// How one kind of search did.
pub struct SearchTiming {
    pub kind: &'static str,
    pub timing: Timing,
    pub found: usize,
}

/// Each query once, one at a time; the timings of each kind, then of all.
pub async fn searches(addr: SocketAddr, queries: &[(usize, String)]) -> anyhow::Result<Vec<SearchTiming>> {
    let mut client = connect(addr).await?;
    let started = Instant::now();
    let mut latencies = vec![Vec::new(); KINDS.len()];
    let mut errors = vec![0; KINDS.len()];
    let mut found = vec![0; KINDS.len()];
    for (kind, q) in queries {
        let path = format!(
            "/api/help/v1/search?q={}",
            percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
        );
        let began = Instant::now();
        let (status, body) = get(&mut client, &path).await?;
        latencies[*kind].push(began.elapsed());
        if status != 200 {
            errors[*kind] += 1;
        } else if body.as_ref() != b"[]" {
            found[*kind] += 1;
        }
    }
    let elapsed = started.elapsed();
    let mut timings: Vec<SearchTiming> = KINDS
        .iter()
        .zip(latencies.iter().zip(errors.iter().zip(&found)))
        .map(|(kind, (mine, (failed, found)))| SearchTiming {
            kind,
            timing: Timing::from(mine.clone(), *failed, elapsed),
            found: *found,
        })
        .collect();
    timings.push(SearchTiming {
        kind: "all",
        timing: Timing::from(latencies.concat(), errors.iter().sum(), elapsed),
        found: found.iter().sum(),
    });
    Ok(timings)
}
