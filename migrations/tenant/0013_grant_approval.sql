-- An organisation may require a second admin's approval before anyone is given a role
-- that opens clinical records, the audit trail or administration, or a supervisor link.
-- A held grant waits here until another admin approves or refuses it.

ALTER TABLE organisation_settings
    ADD COLUMN grants_need_approval boolean NOT NULL DEFAULT false;

CREATE TABLE grant_requests (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Exactly one of: a role to add, or a supervisor to link.
    role           text,
    supervisor_id  uuid REFERENCES users (id) ON DELETE CASCADE,
    requested_by   uuid NOT NULL REFERENCES users (id),
    requested_at   timestamptz NOT NULL,
    decided_by     uuid REFERENCES users (id),
    decided_at     timestamptz,
    outcome        text CHECK (outcome IN ('approved', 'refused')),
    CHECK ((role IS NULL) <> (supervisor_id IS NULL)),
    CHECK ((decided_at IS NULL) = (outcome IS NULL) AND (decided_at IS NULL) = (decided_by IS NULL)),
    -- Nobody decides their own request, or a grant to themselves.
    CHECK (decided_by IS NULL OR (decided_by <> requested_by AND decided_by <> user_id))
);

-- One waiting request per grant.
CREATE UNIQUE INDEX grant_requests_waiting
    ON grant_requests (user_id, coalesce(role, ''), coalesce(supervisor_id::text, ''))
    WHERE decided_at IS NULL;
