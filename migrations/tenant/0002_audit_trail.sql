-- The audit trail: a hash chain of events, append-only in the database itself.
-- docs/audit.md describes the canonical encoding that `hash` is computed over.

DO $$
BEGIN
    BEGIN
        CREATE ROLE haven_owner NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE haven_app LOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    -- The migrating role must be able to hand objects to haven_owner.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT haven_owner TO %I', current_user);
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO haven_app;
GRANT SELECT ON _sqlx_migrations TO haven_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON organisation_settings TO haven_app;
-- Tables created by later migrations are usable by haven_app unless a migration says otherwise.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO haven_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO haven_app;

CREATE TABLE audit_events (
    seq            bigint PRIMARY KEY CHECK (seq > 0),
    occurred_at    timestamptz NOT NULL,
    actor_kind     text NOT NULL CHECK (actor_kind IN ('user', 'api_token', 'service_account', 'system', 'anonymous')),
    actor_id       text CHECK (length(actor_id) BETWEEN 1 AND 100),
    session_id     text CHECK (length(session_id) BETWEEN 1 AND 100),
    client_ip      text CHECK (client_ip IS NULL OR (client_ip::inet IS NOT NULL AND length(client_ip) <= 45)),
    user_agent     text CHECK (length(user_agent) BETWEEN 1 AND 200),
    action         text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' AND length(action) <= 64),
    resource_type  text CHECK (resource_type ~ '^[a-z][a-z0-9_]*$' AND length(resource_type) <= 64),
    resource_id    text CHECK (length(resource_id) BETWEEN 1 AND 100),
    outcome        text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
    reason         text CHECK (length(reason) BETWEEN 1 AND 1000),
    request_id     text CHECK (length(request_id) BETWEEN 1 AND 128),
    prev_hash      bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash           bytea NOT NULL CHECK (length(hash) = 32),
    CHECK (reason IS NOT NULL OR action NOT IN ('break_glass.open', 'export.create', 'audit.export', 'audit.prune'))
);

CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, occurred_at) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id, occurred_at) WHERE resource_id IS NOT NULL;

-- The chain's head. Only the insert trigger moves it.
CREATE TABLE audit_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq        bigint NOT NULL CHECK (seq >= 0),
    hash       bytea NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

-- Events of writes, inserted in the write's own transaction; the audit writer moves them
-- into the chain moments later.
CREATE TABLE audit_outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at    timestamptz NOT NULL,
    actor_kind     text NOT NULL,
    actor_id       text,
    session_id     text,
    client_ip      text,
    user_agent     text,
    action         text NOT NULL,
    resource_type  text,
    resource_id    text,
    outcome        text NOT NULL,
    reason         text,
    request_id     text
);

-- Signed (seq, hash) pairs; a copy kept off the machine detects a truncated tail.
CREATE TABLE audit_checkpoints (
    seq         bigint PRIMARY KEY,
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    signed_at   timestamptz NOT NULL,
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    signature   bytea NOT NULL CHECK (length(signature) = 64)
);

CREATE TABLE audit_verifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    verified_at  timestamptz NOT NULL,
    through_seq  bigint NOT NULL,
    through_hash bytea NOT NULL CHECK (length(through_hash) = 32),
    events       bigint NOT NULL,
    ok           boolean NOT NULL,
    detail       text NOT NULL CHECK (length(detail) <= 1000)
);

-- Events past retention: exported to a verified file, then pruned. The chain continues
-- from through_hash.
CREATE TABLE audit_archives (
    through_seq   bigint PRIMARY KEY,
    through_hash  bytea NOT NULL CHECK (length(through_hash) = 32),
    first_seq     bigint NOT NULL,
    archived_at   timestamptz NOT NULL,
    file_name     text NOT NULL,
    file_sha256   bytea NOT NULL CHECK (length(file_sha256) = 32)
);

CREATE FUNCTION audit_extend_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash
     WHERE singleton AND seq = NEW.seq - 1 AND hash = NEW.prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit event % does not extend the chain head', NEW.seq
            USING ERRCODE = 'HV001';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('haven.audit_prune', true) = 'on'
       AND OLD.seq <= (SELECT coalesce(max(through_seq), 0) FROM audit_archives) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP
        USING ERRCODE = 'HV002';
END $$;

CREATE TRIGGER audit_events_extend_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_extend_chain();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_head_append_only BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

ALTER TABLE audit_events OWNER TO haven_owner;
ALTER TABLE audit_head OWNER TO haven_owner;
ALTER TABLE audit_checkpoints OWNER TO haven_owner;
ALTER TABLE audit_verifications OWNER TO haven_owner;
ALTER TABLE audit_archives OWNER TO haven_owner;
ALTER FUNCTION audit_extend_chain() OWNER TO haven_owner;
ALTER FUNCTION audit_refuse_change() OWNER TO haven_owner;

-- haven_app appends and reads; it never rewrites history.
REVOKE ALL ON audit_events, audit_head, audit_checkpoints, audit_verifications, audit_archives FROM haven_app;
GRANT SELECT, INSERT ON audit_events, audit_checkpoints, audit_verifications TO haven_app;
GRANT SELECT ON audit_head, audit_archives TO haven_app;
GRANT SELECT, INSERT, DELETE ON audit_outbox TO haven_app;
