-- The durable job queue (docs/jobs.md): work done after the request that asked for it
-- (reminders now; webhooks, syncs and exports later). Workers in any number of Haven
-- instances claim due jobs with FOR UPDATE SKIP LOCKED and hold a lease they renew
-- while the job runs; a job whose lease lapses (its worker died) is queued again.
CREATE TABLE jobs (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,62}$'),
    -- Identifiers only: a job names what it acts on, the handler reads the rest.
    payload      jsonb NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'done', 'dead', 'discarded')),
    run_at       timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
    -- Which worker holds the job, and until when, while it runs.
    locked_by    text,
    locked_until timestamptz,
    -- Why the last attempt failed; written by Haven's own handlers, never with PHI.
    last_error   text CHECK (length(last_error) <= 2000),
    -- Enqueueing the same key twice keeps one job (a reminder per appointment and offset).
    unique_key   text UNIQUE CHECK (length(unique_key) <= 200),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    CHECK ((state = 'running') = (locked_by IS NOT NULL AND locked_until IS NOT NULL))
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'discarded');
CREATE INDEX jobs_by_state ON jobs (state, updated_at DESC);
