//! `haven bench backup`: an organisation of the size a busy service reaches (100,000
//! clients, 200,000 notes, 1 GiB of documents by default) is seeded into a scratch
//! database, backed up, and the backup verified (restored into another scratch database
//! and checked); each is timed, with the peak memory of Haven and of PostgreSQL's tools.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::compliance::networks::StoragePolicy;
use crate::compliance::sealing::Keyring;
use crate::compliance::storage::{Accountable, Storage, Target};
use crate::demo::generator::{self, Dice};

const BATCH: usize = 5_000;

/// Inserts `count` fictional clients and counts their name words; returns their ids.
pub async fn seed_clients(
    pool: &PgPool,
    count: usize,
    now: DateTime<Utc>,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<Vec<Uuid>> {
    let today = now.date_naive();
    let mut dice = Dice::new(7);
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let n = BATCH.min(count - ids.len());
        let people: Vec<_> = (0..n).map(|_| generator::person(&mut dice, today)).collect();
        let mut conn = pool.acquire().await?;
        ids.extend(
            generator::insert_clients(&mut conn, &people, now)
                .await?
                .into_iter()
                .map(|c| c.0),
        );
        progress(ids.len() as u64);
    }
    crate::clients::search::recount_name_words(pool).await?;
    Ok(ids)
}

/// A counsellor to author notes and upload documents.
pub async fn seed_author(pool: &PgPool, now: DateTime<Utc>) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, email, display_name, status, created_at, updated_at) VALUES ($1, 'bench.author@example.org', 'Bench Author', 'invited', $2, $2)")
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(id)
}

/// Inserts `count` draft progress notes spread over `clients`, each body sealed for its
/// own row under the organisation's data key.
pub async fn seed_notes(
    pool: &PgPool,
    keyring: &Keyring,
    clients: &[Uuid],
    author: Uuid,
    count: usize,
    now: DateTime<Utc>,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<()> {
    let sealer = keyring.sealer(pool, now).await?;
    let body = serde_json::json!({
        "progress": "Attended on time. Discussed sleep and the week ahead; agreed to try the wind-down routine.",
        "plan": "Review in two weeks."
    })
    .to_string();
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let owners: Vec<Uuid> = (0..n).map(|i| clients[(done + i) % clients.len()]).collect();
        let bodies = ids
            .iter()
            .map(|id| sealer.seal(body.as_bytes(), &format!("note.body:{id}")))
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(
            r"INSERT INTO notes (id, thread_id, client_id, category, template, author_id, body, created_at, updated_at)
              SELECT id, id, client, 'clinical', 'progress', $3, body, $4, $4
              FROM UNNEST($1::uuid[], $2::uuid[], $5::bytea[]) AS t(id, client, body)",
        )
        .bind(&ids)
        .bind(&owners)
        .bind(author)
        .bind(now)
        .bind(&bodies)
        .execute(pool)
        .await?;
        done += n;
        progress(done as u64);
    }
    Ok(())
}

/// Writes `total` bytes of documents (4 MiB each, random: stored content is sealed and
/// so incompressible) to local storage, with their rows.
#[allow(clippy::too_many_arguments)]
pub async fn seed_documents(
    pool: &PgPool,
    storage: &Storage,
    who: &Accountable<'_>,
    keyring: &Keyring,
    database: &str,
    clients: &[Uuid],
    author: Uuid,
    total: u64,
    now: DateTime<Utc>,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<()> {
    const SIZE: u64 = 4 << 20;
    let sealer = keyring.sealer(pool, now).await?;
    let mut written = 0u64;
    let mut i = 0usize;
    while written < total {
        let size = SIZE.min(total - written);
        let mut bytes = vec![0u8; usize::try_from(size)?];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let id = Uuid::now_v7();
        let key = format!("{database}/{id}");
        storage
            .put(who, StoragePolicy::LocalOnly, Target::Local, &key, bytes.into())
            .await?;
        let mut content_key = [0u8; 32];
        getrandom::fill(&mut content_key).map_err(|e| anyhow::anyhow!("{e}"))?;
        sqlx::query(
            r"INSERT INTO documents (id, client_id, name, content_type, byte_size, content_key, target, object_key, uploaded_by, uploaded_at)
              VALUES ($1, $2, $3, 'application/pdf', $4, $5, 'local', $6, $7, $8)",
        )
        .bind(id)
        .bind(clients[i % clients.len()])
        .bind(sealer.seal(format!("letter-{i}.pdf").as_bytes(), &format!("document.name:{id}"))?)
        .bind(i64::try_from(size)?)
        .bind(sealer.seal(&content_key, &format!("document.key:{id}"))?)
        .bind(&key)
        .bind(author)
        .bind(now)
        .execute(pool)
        .await?;
        written += size;
        i += 1;
        progress(written);
    }
    Ok(())
}

/// This process's resident memory now, from /proc (bytes).
fn resident() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// The largest resident memory of any child process waited for so far (bytes).
pub fn children_peak() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_or(0, |u| u64::try_from(u.max_rss()).unwrap_or(0) * 1024)
}

/// Watches this process's resident memory while `work` runs; returns its result, the
/// time it took and the peak seen (sampled every 20 ms).
pub async fn measured<T>(work: impl std::future::Future<Output = T>) -> (T, Duration, u64) {
    let peak = Arc::new(AtomicU64::new(resident()));
    let watching = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(resident(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let result = work.await;
    let elapsed = started.elapsed();
    watching.abort();
    peak.fetch_max(resident(), Ordering::Relaxed);
    (result, elapsed, peak.load(Ordering::Relaxed))
}
