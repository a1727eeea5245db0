//! `haven bench search`: fictional clients by the million, and how fast a misspelled
//! name is found among them.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::clients::search::{self, Query, Term};
use crate::clock::SharedClock;
use crate::demo::generator::{self, Dice, FictionalPerson};
use crate::policy::ClientScope;

const SEED: u64 = 1_000_003;
const BATCH: usize = 5_000;

/// Inserts `count` fictional clients, `BATCH` per statement, and counts their name words;
/// `progress` gets the running total.
pub async fn seed(
    pool: &PgPool,
    clock: &SharedClock,
    count: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<()> {
    let today = clock.now().date_naive();
    let mut dice = Dice::new(SEED);
    let mut done = 0usize;
    while done < count {
        let n = BATCH.min(count - done);
        let people: Vec<FictionalPerson> = (0..n).map(|_| generator::person(&mut dice, today)).collect();
        let mut conn = pool.acquire().await?;
        generator::insert_clients(&mut conn, &people, clock.now()).await?;
        done += n;
        progress(u64::try_from(done).unwrap_or(u64::MAX));
    }
    // Each batch adds its new words; the words batches share are counted as the hourly
    // recount would.
    search::recount_name_words(pool).await?;
    Ok(())
}

/// What the bench types into the search box for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    /// Given name and a family name with a slip: two neighbouring letters swapped or
    /// one dropped.
    FullNameWithSlip,
    /// The family name alone, with a slip.
    FamilyNameWithSlip,
    /// The first three letters of each name, as someone still typing.
    Beginnings,
}

impl Typed {
    pub const ALL: [Self; 3] = [Self::FullNameWithSlip, Self::FamilyNameWithSlip, Self::Beginnings];

    pub fn describe(self) -> &'static str {
        match self {
            Self::FullNameWithSlip => "given name + family name with a slip",
            Self::FamilyNameWithSlip => "family name alone, with a slip",
            Self::Beginnings => "first three letters of each name",
        }
    }

    fn query(self, person: &FictionalPerson, dice: &mut Dice) -> String {
        let typed = match self {
            Self::FullNameWithSlip => format!("{} {}", person.given, slip(&person.family, dice)),
            Self::FamilyNameWithSlip => slip(&person.family, dice),
            Self::Beginnings => format!(
                "{} {}",
                person.given.chars().take(3).collect::<String>(),
                person.family.chars().take(3).collect::<String>()
            ),
        };
        typed.to_lowercase()
    }
}

fn slip(name: &str, dice: &mut Dice) -> String {
    let mut letters: Vec<char> = name.chars().collect();
    let at = 1 + dice.below(letters.len().saturating_sub(2).max(1));
    if dice.chance(50) && at + 1 < letters.len() {
        letters.swap(at, at + 1);
    } else if at < letters.len() {
        letters.remove(at);
    }
    letters.into_iter().collect()
}

pub struct SearchLatency {
    pub typed: Typed,
    pub queries: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
    /// Share of queries whose intended person was among the first 20 results.
    pub found: f64,
}

/// Times `queries` searches of each [`Typed`] shape over every client (front desk's
/// scope, the widest), one after another through the serving pool.
pub async fn search_latency(
    pool: &PgPool,
    clock: &SharedClock,
    count: usize,
    queries: usize,
) -> anyhow::Result<Vec<SearchLatency>> {
    let today = clock.now().date_naive();
    let mut dice = Dice::new(SEED);
    // Regenerate the seeded people; ask for a spread of them.
    let step = (count / queries.max(1)).max(1);
    let mut targets = Vec::with_capacity(queries);
    for i in 0..count {
        let person = generator::person(&mut dice, today);
        if i % step == 0 && targets.len() < queries {
            targets.push(person);
        }
    }
    let mut typos = Dice::new(7);
    let search = |typed: String| {
        let query = Query {
            term: Term::Name(typed),
            status: None,
            limit: 20,
            offset: 0,
        };
        async move { search::search(pool, ClientScope::All, &query, clock.now()).await }
    };
    // Warm the caches as a running server would be.
    for person in targets.iter().take(20) {
        search(Typed::FullNameWithSlip.query(person, &mut typos)).await?;
    }
    let mut shapes = Vec::new();
    for typed in Typed::ALL {
        let mut times = Vec::with_capacity(targets.len());
        let mut found = 0usize;
        for person in &targets {
            let text = typed.query(person, &mut typos);
            let started = Instant::now();
            let results = search(text).await?;
            times.push(started.elapsed());
            if results
                .iter()
                .any(|r| r.legal_given_name == person.given && r.legal_family_name == person.family)
            {
                found += 1;
            }
        }
        shapes.push(summarise(typed, times, found));
    }
    Ok(shapes)
}

fn summarise(typed: Typed, mut times: Vec<Duration>, found: usize) -> SearchLatency {
    times.sort();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((times.len() as f64 * q).ceil() as usize).saturating_sub(1);
        times.get(i).copied().unwrap_or_default()
    };
    let total: Duration = times.iter().sum();
    #[allow(clippy::cast_precision_loss)]
    SearchLatency {
        typed,
        queries: times.len(),
        p50: at(0.50),
        p99: at(0.99),
        mean: total / u32::try_from(times.len().max(1)).unwrap_or(1),
        found: found as f64 / times.len().max(1) as f64,
    }
}
