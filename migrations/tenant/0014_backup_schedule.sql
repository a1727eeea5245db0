-- Each organisation's backup schedule: whether the daily backup runs, at what local
-- time, to which target, and how many daily, weekly and monthly backups are kept.
ALTER TABLE organisation_settings
    ADD COLUMN backup_enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN backup_time time NOT NULL DEFAULT '02:00',
    ADD COLUMN backup_target text NOT NULL DEFAULT 'local' CHECK (backup_target IN ('local', 'cloud')),
    ADD COLUMN backup_keep_daily integer NOT NULL DEFAULT 7 CHECK (backup_keep_daily BETWEEN 1 AND 60),
    ADD COLUMN backup_keep_weekly integer NOT NULL DEFAULT 4 CHECK (backup_keep_weekly BETWEEN 0 AND 52),
    ADD COLUMN backup_keep_monthly integer NOT NULL DEFAULT 12 CHECK (backup_keep_monthly BETWEEN 0 AND 120);
