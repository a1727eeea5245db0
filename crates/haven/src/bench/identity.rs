//! `haven bench identity`: password verification rate, and what authenticating a request
//! costs (session lookup plus the policy decision).

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use sqlx::PgPool;

use crate::clock::SharedClock;
use crate::identity::auth::{Identity, SessionInfo};
use crate::identity::password::PasswordHasher;
use crate::identity::session::{self, Lookup, NewSession};
use crate::identity::{Role, UserId, UserStatus, secret, store};
use crate::policy::{self, Action};

pub struct HashingResult {
    pub per_second_one_core: f64,
    pub per_second_all_cores: f64,
    pub cores: usize,
}

/// Verifications per second: one at a time, then with every core busy.
pub async fn hashing(seconds: u64) -> Result<HashingResult, crate::identity::password::PasswordError> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let one = PasswordHasher::new(1)?;
    let hash = one.hash("lantern orbit velvet quarry").await?;
    let run = |hasher: PasswordHasher, workers: usize| {
        let hash = hash.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let tasks: Vec<_> = (0..workers)
                .map(|_| {
                    let hasher = hasher.clone();
                    let hash = hash.clone();
                    tokio::spawn(async move {
                        let mut n = 0u32;
                        while Instant::now() < deadline {
                            if hasher
                                .verify("lantern orbit velvet quarry", Some(&hash))
                                .await
                                .is_ok_and(|v| v.matches)
                            {
                                n += 1;
                            }
                        }
                        n
                    })
                })
                .collect();
            let mut total = 0u32;
            for task in tasks {
                total += task.await.unwrap_or(0);
            }
            f64::from(total) / started.elapsed().as_secs_f64()
        }
    };
    let per_second_one_core = run(one.clone(), 1).await;
    let per_second_all_cores = run(PasswordHasher::new(cores)?, cores * 2).await;
    Ok(HashingResult {
        per_second_one_core,
        per_second_all_cores,
        cores,
    })
}

pub struct OverheadResult {
    pub lookup_mean: Duration,
    pub lookup_p99: Duration,
    pub policy_mean: Duration,
    pub samples: u32,
}

/// Times `samples` session lookups (the database round trip included) and policy calls.
pub async fn overhead(pool: &PgPool, clock: &SharedClock, samples: u32) -> Result<OverheadResult, sqlx::Error> {
    let now = clock.now();
    let user = UserId(uuid::Uuid::now_v7());
    let mut tx = pool.begin().await?;
    store::insert(
        &mut tx,
        &store::NewUser {
            id: user,
            email: "bench@example.org",
            display_name: "Bench",
            status: UserStatus::Active,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
            at: now,
        },
    )
    .await?;
    store::set_roles(&mut tx, user, &[Role::Clinician], None, now).await?;
    tx.commit().await?;
    let issued = secret::issue("").map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    session::create(
        pool,
        &NewSession {
            user,
            token_hash: &issued.hash,
            now,
            lifetime: TimeDelta::hours(12),
            client_ip: None,
            device: None,
        },
    )
    .await?;

    let mut times = Vec::with_capacity(samples as usize);
    let mut identity = None;
    for _ in 0..samples {
        let started = Instant::now();
        let found = session::lookup(pool, &secret::digest(&issued.value), clock.now()).await?;
        times.push(started.elapsed());
        if let Lookup::Live(session) = found {
            identity = Some(Identity {
                user: session.user.clone(),
                session: Some(SessionInfo {
                    id: session.id,
                    second_factor_done: false,
                    needs_second_factor: false,
                    needs_enrolment: false,
                }),
                api_token: None,
                csrf_token: None,
                installation_help: false,
            });
        }
    }
    times.sort_unstable();
    let lookup_mean = times.iter().sum::<Duration>() / samples.max(1);
    let lookup_p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    let policy_mean = match identity {
        Some(identity) => {
            let started = Instant::now();
            let mut allowed = 0u32;
            for _ in 0..samples {
                allowed += u32::from(policy::may(&identity, &Action::ManageOwnAccount).is_allowed());
            }
            std::hint::black_box(allowed);
            started.elapsed() / samples.max(1)
        }
        None => Duration::ZERO,
    };
    Ok(OverheadResult {
        lookup_mean,
        lookup_p99,
        policy_mean,
        samples,
    })
}
