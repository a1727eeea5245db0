//! The organisation's settings: its time zone, storage policy, sign-in and session rules
//! and reminder rules. This module owns the `organisation_settings` row: every read and
//! write goes through [`store`], and each tenant keeps the settings cached
//! ([`SettingsCache`]) so a page does not read them again.
//!
//! Which settings a person may change, and how the forms look, stay with the module whose
//! rules they are (identity's security page, appointments' reminder page); the values live
//! here.

pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;

pub use crate::compliance::networks::StoragePolicy;

/// Every setting of one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationSettings {
    /// Where the organisation is: every time is shown in this zone.
    pub time_zone: chrono_tz::Tz,
    /// Whether records marked `hipaa_exempt` may be stored on a cloud target at all.
    pub storage_policy: StoragePolicy,
    pub security: SecuritySettings,
    pub reminders: ReminderSettings,
    pub backup: BackupSettings,
}

/// When the organisation's daily backup runs, where it goes and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    pub enabled: bool,
    /// The local time of day it runs (`02:00`).
    #[schema(value_type = String, example = "02:00")]
    pub time: chrono::NaiveTime,
    /// `local` (the default) or `cloud` (allowed only for organisations whose records may leave).
    #[schema(value_type = String, example = "local")]
    pub target: crate::compliance::storage::Target,
    pub keep: Keep,
}

/// How many of each period's newest backup the daily backup keeps (the retention
/// rule itself is `backups::retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Default for Keep {
    fn default() -> Self {
        Self {
            daily: 7,
            weekly: 4,
            monthly: 12,
        }
    }
}

/// The organisation's sign-in and session rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub idle_timeout_minutes: i32,
    pub session_lifetime_hours: i32,
    pub require_two_factor: bool,
    pub lockout_threshold: i32,
    pub lockout_minutes: i32,
    /// Hold every grant of a role that opens records, the audit trail or administration,
    /// and every supervisor link, until a second admin approves it.
    #[serde(default)]
    pub grants_need_approval: bool,
}

/// What reminders say and when they go, and when a cancellation is late.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)]
pub struct ReminderSettings {
    /// How long before the start each reminder goes, in minutes (up to 5, each 1 to 20160).
    pub offsets_minutes: Vec<i32>,
    /// Name the clinician in reminders.
    pub show_clinician: bool,
    /// Name the service type in reminders.
    pub show_service: bool,
    /// Greet the client by name in reminders.
    pub show_client_name: bool,
    /// A client's cancellation closer to the start than this (0 to 168) is late.
    pub late_cancel_hours: i32,
}

/// How long another instance's change may take to be seen here; this instance's own
/// changes are seen at once (the writer forgets the cached copy).
const FRESH_FOR: Duration = Duration::from_secs(5);

/// A tenant's settings, read once and kept for a few seconds.
#[derive(Debug, Default)]
pub struct SettingsCache {
    current: RwLock<Option<(Instant, Arc<OrganisationSettings>)>>,
    /// Bumped by every [`SettingsCache::forget`]: a read that began before a change must
    /// not put what it read back after the change forgot it.
    generation: AtomicU64,
}

impl SettingsCache {
    /// The settings, from the cache when fresh.
    pub async fn get(&self, pool: &PgPool) -> Result<Arc<OrganisationSettings>, sqlx::Error> {
        if let Some((at, settings)) = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return Ok(Arc::clone(settings));
        }
        let began = self.generation.load(Ordering::Acquire);
        let settings = Arc::new(store::load(pool).await?);
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == began {
            *current = Some((Instant::now(), Arc::clone(&settings)));
        }
        Ok(settings)
    }

    /// Drops the cached copy after a change, so the next read sees it; a read already
    /// under way when the change was made keeps its copy to itself.
    pub fn forget(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}
