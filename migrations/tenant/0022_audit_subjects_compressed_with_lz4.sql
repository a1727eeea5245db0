-- A list or search event names up to 100 clients (about 3.7 KB of ids), which PostgreSQL
-- compresses on insert with its default, pglz: under a steady list load that compression
-- was the database's most expensive function, and it runs in the audit writer's batch,
-- which every audited read waits for. lz4 compresses many times faster. A server built
-- without lz4 keeps pglz. Rows already written keep theirs; both read back the same.
DO $$
BEGIN
    ALTER TABLE audit_events ALTER COLUMN subjects SET COMPRESSION lz4;
    ALTER TABLE audit_outbox ALTER COLUMN subjects SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available on this server; audit subjects stay compressed with pglz';
END
$$;
