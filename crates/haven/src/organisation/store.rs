//! The `organisation_settings` row: the only queries on it.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::{OrganisationSettings, ReminderSettings, SecuritySettings, StoragePolicy};

/// Every setting, in one read.
pub async fn load(db: impl PgExecutor<'_>) -> Result<OrganisationSettings, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        SELECT time_zone, storage_policy,
               idle_timeout_minutes, session_lifetime_hours, require_two_factor, lockout_threshold, lockout_minutes,
               grants_need_approval,
               reminder_offsets_minutes, reminder_show_clinician, reminder_show_service, reminder_show_client_name,
               late_cancel_hours,
               backup_enabled, backup_time, backup_target, backup_keep_daily, backup_keep_weekly, backup_keep_monthly
        FROM organisation_settings
        "#
    )
    .fetch_one(db)
    .await?;
    Ok(OrganisationSettings {
        // UTC when the setting names no zone chrono knows.
        time_zone: row.time_zone.parse().unwrap_or(chrono_tz::UTC),
        storage_policy: StoragePolicy::parse(&row.storage_policy)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown storage policy {}", row.storage_policy).into()))?,
        security: SecuritySettings {
            idle_timeout_minutes: row.idle_timeout_minutes,
            session_lifetime_hours: row.session_lifetime_hours,
            require_two_factor: row.require_two_factor,
            lockout_threshold: row.lockout_threshold,
            lockout_minutes: row.lockout_minutes,
            grants_need_approval: row.grants_need_approval,
        },
        reminders: ReminderSettings {
            offsets_minutes: row.reminder_offsets_minutes,
            show_clinician: row.reminder_show_clinician,
            show_service: row.reminder_show_service,
            show_client_name: row.reminder_show_client_name,
            late_cancel_hours: row.late_cancel_hours,
        },
        backup: super::BackupSettings {
            enabled: row.backup_enabled,
            time: row.backup_time,
            target: crate::compliance::storage::Target::parse(&row.backup_target)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown backup target {}", row.backup_target).into()))?,
            keep: super::Keep {
                daily: u32::try_from(row.backup_keep_daily).unwrap_or(7),
                weekly: u32::try_from(row.backup_keep_weekly).unwrap_or(4),
                monthly: u32::try_from(row.backup_keep_monthly).unwrap_or(12),
            },
        },
    })
}

/// Replaces the sign-in and session rules (checked by the table too).
pub async fn set_security(db: impl PgExecutor<'_>, settings: &SecuritySettings) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        UPDATE organisation_settings
        SET idle_timeout_minutes = $1, session_lifetime_hours = $2, require_two_factor = $3,
            lockout_threshold = $4, lockout_minutes = $5, grants_need_approval = $6, updated_at = now()
        "#,
        settings.idle_timeout_minutes,
        settings.session_lifetime_hours,
        settings.require_two_factor,
        settings.lockout_threshold,
        settings.lockout_minutes,
        settings.grants_need_approval,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces the reminder rules (checked by the table too).
pub async fn set_reminders(
    db: impl PgExecutor<'_>,
    settings: &ReminderSettings,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        UPDATE organisation_settings
        SET reminder_offsets_minutes = $1, reminder_show_clinician = $2, reminder_show_service = $3,
            reminder_show_client_name = $4, late_cancel_hours = $5, updated_at = $6
        "#,
        &settings.offsets_minutes,
        settings.show_clinician,
        settings.show_service,
        settings.show_client_name,
        settings.late_cancel_hours,
        now
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces the backup schedule (checked by the table too).
pub async fn set_backup(db: impl PgExecutor<'_>, settings: &super::BackupSettings) -> Result<(), sqlx::Error> {
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    sqlx::query!(
        r#"
        UPDATE organisation_settings
        SET backup_enabled = $1, backup_time = $2, backup_target = $3, backup_keep_daily = $4,
            backup_keep_weekly = $5, backup_keep_monthly = $6, updated_at = now()
        "#,
        settings.enabled,
        settings.time,
        settings.target.as_str(),
        count(settings.keep.daily),
        count(settings.keep.weekly),
        count(settings.keep.monthly),
    )
    .execute(db)
    .await?;
    Ok(())
}
