-- Every backup made (by `haven backup create` or the daily job) and what its
-- verification found. In the control database, so a restored organisation's history
-- stays true and operators see every organisation in one place.
CREATE TABLE backup_runs (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    slug         text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    target       text NOT NULL CHECK (target IN ('local', 'cloud')),
    -- A path on the local target or an object key on the cloud target.
    location     text CHECK (length(location) <= 1000),
    bytes        bigint CHECK (bytes >= 0),
    outcome      text NOT NULL CHECK (outcome IN ('running', 'made', 'verified', 'failed', 'pruned')),
    -- The verification's summary or why it failed: counts and names of tables, never PHI.
    detail       text CHECK (length(detail) <= 2000)
);

CREATE INDEX backup_runs_tenant ON backup_runs (tenant_id, started_at DESC);

GRANT SELECT, INSERT, UPDATE ON backup_runs TO haven_app;
