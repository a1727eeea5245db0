//! Verified API tokens, kept for a few seconds so that a request made with a token does
//! not read the token and its owner again.
//!
//! Nothing stale is served: every change to tokens, accounts, roles or second factors
//! notifies `IDENTITY_CHANNEL` (database triggers, so changes by the command line or by
//! another Haven instance count too), and the tenant's listener forgets every entry on
//! each notification. The identity module also forgets after its own writes, before it
//! answers, so this instance never serves a token it has just revoked. While the
//! listener is not connected nothing is kept at all, and an entry lives at most
//! `FRESH_FOR` whatever happens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use std::time::{Duration, Instant};
use tokio::sync::Notify;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::api_token::TokenIdentity;

/// The channel the identity tables' triggers notify (migration 0016).
pub const IDENTITY_CHANNEL: &str = "haven_identity_changed";
/// The longest an entry is trusted, even if a notification were lost unnoticed.
const FRESH_FOR: Duration = Duration::from_secs(10);
/// Tokens kept at once; a full cache starts again empty.
const CAPACITY: usize = 4096;
/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// A token verified against the database, as it stood then.
#[derive(Clone)]
pub struct Verified {
    pub identity: TokenIdentity,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

struct Entry {
    verified: Verified,
    at: Instant,
}

/// One organisation's verified tokens, by the SHA-256 of the secret.
pub struct TokenCache {
    entries: RwLock<HashMap<[u8; 32], Entry>>,
    /// Bumped by every [`TokenCache::forget`]: a lookup that began before a change must
    /// not keep what it read.
    generation: AtomicU64,
    /// Whether the listener is connected and listening; nothing is kept otherwise.
    listening: AtomicBool,
    /// Tells the listener to stop when the cache goes.
    stop: Arc<Notify>,
}

impl Drop for TokenCache {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("listening", &self.listening.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache kept true by a listener on `listen_pool` (one connection of its own),
    /// which runs until the cache is dropped.
    pub fn spawn(listen_pool: PgPool) -> Arc<Self> {
        let cache = Arc::new(Self {
            entries: RwLock::default(),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            stop: Arc::new(Notify::new()),
        });
        tokio::spawn(listen(Arc::downgrade(&cache), Arc::clone(&cache.stop), listen_pool));
        cache
    }

    /// The token with this digest, when it was verified recently and is still live at
    /// `now`.
    pub fn get(&self, digest: &[u8; 32], now: DateTime<Utc>) -> Option<Verified> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(digest)?;
        (entry.at.elapsed() < FRESH_FOR && entry.verified.expires_at > now).then(|| entry.verified.clone())
    }

    /// Where a lookup starts: pass it back to [`TokenCache::keep`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `verified`, read by a lookup that began at `began`, unless anything changed
    /// since.
    pub fn keep(&self, began: u64, digest: [u8; 32], verified: Verified) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != began {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            digest,
            Entry {
                verified,
                at: Instant::now(),
            },
        );
    }

    /// Forgets every token: something about tokens or accounts changed.
    pub fn forget(&self) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
        self.forget();
    }
}

/// Forgets the cache on every notification; keeps nothing while disconnected. Ends
/// when the cache is dropped.
async fn listen(cache: Weak<TokenCache>, stop: Arc<Notify>, pool: PgPool) {
    tokio::select! {
        () = stop.notified() => {}
        () = listen_until_dropped(cache, &pool) => {}
    }
    pool.close().await;
}

async fn listen_until_dropped(cache: Weak<TokenCache>, pool: &PgPool) {
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(IDENTITY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match connected {
            Ok(mut listener) => {
                match cache.upgrade() {
                    Some(cache) => cache.set_listening(true),
                    None => return,
                }
                loop {
                    // `Ok(None)`: the connection was lost; notifications may have been missed.
                    let received = listener.try_recv().await;
                    let Some(cache) = cache.upgrade() else { return };
                    if let Ok(Some(_)) = received {
                        cache.forget();
                    } else {
                        cache.set_listening(false);
                        break;
                    }
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, "token cache listener cannot connect; tokens are read every time");
            }
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}
