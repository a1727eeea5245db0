-- Identity: staff accounts, roles, sessions, second factors, throttling, email tokens and
-- API tokens. Secrets are stored only as hashes, except TOTP seeds, which the server must
-- read back to check a code.

CREATE EXTENSION IF NOT EXISTS citext;

ALTER TABLE organisation_settings
    ADD COLUMN idle_timeout_minutes   integer NOT NULL DEFAULT 15 CHECK (idle_timeout_minutes BETWEEN 1 AND 720),
    ADD COLUMN session_lifetime_hours integer NOT NULL DEFAULT 12 CHECK (session_lifetime_hours BETWEEN 1 AND 168),
    ADD COLUMN require_two_factor     boolean NOT NULL DEFAULT false,
    ADD COLUMN lockout_threshold      integer NOT NULL DEFAULT 5 CHECK (lockout_threshold BETWEEN 3 AND 50),
    ADD COLUMN lockout_minutes        integer NOT NULL DEFAULT 15 CHECK (lockout_minutes BETWEEN 1 AND 1440);

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               citext NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254 AND email ~ '^[^@\s]+@[^@\s]+$'),
    display_name        text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    status              text NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    password_hash       text CHECK (password_hash LIKE '$argon2id$%'),
    password_changed_at timestamptz,
    -- Supervision: a supervisor's team is the staff whose supervisor they are.
    supervisor_id       uuid REFERENCES users (id) ON DELETE SET NULL CHECK (supervisor_id <> id),
    -- Trainees and interns need a supervisor's co-signature on notes.
    is_trainee          boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK (status <> 'active' OR password_hash IS NOT NULL)
);

CREATE TABLE user_roles (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('clinician', 'case_manager', 'supervisor', 'front_desk',
                                              'org_admin', 'auditor', 'help_editor')),
    granted_at  timestamptz NOT NULL,
    granted_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    id                  uuid PRIMARY KEY,
    token_hash          bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    -- When a second factor was verified in this session (null: password only so far).
    second_factor_at    timestamptz,
    second_factor_kind  text CHECK (second_factor_kind IN ('totp', 'recovery_code', 'webauthn')),
    client_ip           text CHECK (client_ip IS NULL OR client_ip::inet IS NOT NULL),
    device              text CHECK (length(device) <= 200),
    ended_at            timestamptz,
    end_reason          text CHECK (end_reason IN ('signed_out', 'signed_out_everywhere', 'revoked', 'user_disabled',
                                                   'password_reset', 'idle', 'expired')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE ended_at IS NULL;

-- Second factors. TOTP now; WebAuthn credentials become rows of another kind.
CREATE TABLE user_second_factors (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('totp')),
    secret          bytea NOT NULL CHECK (length(secret) BETWEEN 16 AND 64),
    created_at      timestamptz NOT NULL,
    confirmed_at    timestamptz,
    -- The last TOTP time step accepted: a code is good once.
    last_used_step  bigint
);
CREATE UNIQUE INDEX user_second_factors_one_confirmed ON user_second_factors (user_id, kind) WHERE confirmed_at IS NOT NULL;

CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Failed sign-ins per account name (whether or not it exists) and per client address.
CREATE TABLE login_throttle (
    key_hash           bytea PRIMARY KEY CHECK (length(key_hash) = 32),
    failures           integer NOT NULL CHECK (failures >= 0),
    window_started_at  timestamptz NOT NULL,
    locked_until       timestamptz
);

CREATE TABLE email_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    scopes        text[] NOT NULL CHECK (cardinality(scopes) >= 1
                      AND array_to_string(scopes, ',') ~ '^[a-z_]+:(read|write)(,[a-z_]+:(read|write))*$'),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
