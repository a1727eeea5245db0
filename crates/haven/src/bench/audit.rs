//! `haven bench audit`: what group commit buys, and how fast a chain verifies.
//! Runs on a scratch tenant database that it creates, migrates and drops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::clock::SharedClock;
use crate::compliance::audit::chain::event_hash;
use crate::compliance::audit::store::{self, ChainedEvent};
use crate::compliance::audit::{ActorKind, AuditEvent, AuditWriter, Outcome, verify};

#[derive(Debug, Clone)]
pub struct AppendResult {
    pub events: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl AppendResult {
    #[allow(clippy::cast_precision_loss)] // rates for people to read
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

fn sample_event(clock: &SharedClock, n: u64) -> AuditEvent {
    AuditEvent::new(clock.now(), "client.read", Outcome::Allowed)
        .actor(
            ActorKind::User,
            Some(format!("0190f1a2-0000-7000-8000-{:012}", n % 500)),
        )
        .resource("client", format!("0190f1a2-0000-7000-9000-{n:012}"))
        .request(
            &format!("0190f1a2-0000-7000-a000-{n:012}"),
            Some(std::net::IpAddr::from([203, 0, 113, 7])),
            Some("Firefox 120 / Linux / desktop".to_owned()),
        )
}

fn summarise(mut latencies: Vec<Duration>, elapsed: Duration) -> AppendResult {
    latencies.sort_unstable();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((latencies.len().saturating_sub(1)) as f64 * q).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    AppendResult {
        events: latencies.len() as u64,
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// `writers` tasks append for `duration` through the group-commit writer.
pub async fn group_commit(
    pool: &PgPool,
    clock: &SharedClock,
    window: Duration,
    writers: usize,
    duration: Duration,
) -> AppendResult {
    let writer = AuditWriter::spawn(pool.clone(), Arc::clone(clock), window);
    run_writers(writers, duration, clock, move |event| {
        let writer = writer.clone();
        async move { writer.record(event).await.is_ok() }
    })
    .await
}

/// `writers` tasks append for `duration`, each event in its own transaction (the
/// chain lock serialises them, as it must).
pub async fn one_transaction_per_event(
    pool: &PgPool,
    clock: &SharedClock,
    writers: usize,
    duration: Duration,
) -> AppendResult {
    let pool = pool.clone();
    run_writers(writers, duration, clock, move |event| {
        let pool = pool.clone();
        async move { append_alone(&pool, event).await.is_ok() }
    })
    .await
}

async fn append_alone(pool: &PgPool, event: AuditEvent) -> Result<(), sqlx::Error> {
    let mut tx = store::begin_chain(pool).await?;
    let (seq, prev) = store::head(&mut *tx).await?;
    let hash = event_hash(seq + 1, &event, &prev);
    store::append(
        &mut *tx,
        &[ChainedEvent {
            seq: seq + 1,
            event,
            prev_hash: prev,
            hash,
        }],
        &[],
    )
    .await?;
    tx.commit().await
}

async fn run_writers<F, Fut>(writers: usize, duration: Duration, clock: &SharedClock, append: F) -> AppendResult
where
    F: Fn(AuditEvent) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..writers as u64)
        .map(|w| {
            let append = append.clone();
            let clock = Arc::clone(clock);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = w * 10_000_000;
                while Instant::now() < deadline {
                    let begun = Instant::now();
                    if append(sample_event(&clock, n)).await {
                        latencies.push(begun.elapsed());
                    }
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    summarise(latencies, started.elapsed())
}

/// Appends `count` events in large batches (seeding for the verify benchmark).
pub async fn seed(
    pool: &PgPool,
    clock: &SharedClock,
    count: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), sqlx::Error> {
    const BATCH: u64 = 10_000;
    let mut done = 0;
    while done < count {
        let mut tx = store::begin_chain(pool).await?;
        let (mut seq, mut prev) = store::head(&mut *tx).await?;
        let size = BATCH.min(count - done);
        let mut batch = Vec::new();
        for n in 0..size {
            let event = sample_event(clock, done + n);
            seq += 1;
            let hash = event_hash(seq, &event, &prev);
            batch.push(ChainedEvent {
                seq,
                event,
                prev_hash: prev,
                hash,
            });
            prev = hash;
        }
        store::append(&mut *tx, &batch, &[]).await?;
        tx.commit().await?;
        done += size;
        progress(done);
    }
    Ok(())
}

/// Verifies the whole chain; returns (events, elapsed).
pub async fn verify_all(pool: &PgPool, progress: &(dyn Fn(u64) + Sync)) -> Result<(u64, Duration, bool), sqlx::Error> {
    let report = verify(pool, &crate::compliance::audit::Trust::default(), progress).await?;
    Ok((report.events, report.elapsed, report.ok()))
}
