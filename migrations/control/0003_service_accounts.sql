-- Service accounts act for operators' automation on /api/platform/*. Each holds the
-- public half of an Ed25519 key; the private half never reaches Haven. Requests carry a
-- short-lived JWT signed with it.
CREATE TABLE service_accounts (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9-]{1,62}$'),
    public_key   bytea NOT NULL CHECK (length(public_key) = 32),
    scopes       text[] NOT NULL CHECK (cardinality(scopes) >= 1
                     AND array_to_string(scopes, ',') ~ '^platform:(read|write)(,platform:(read|write))*$'),
    created_at   timestamptz NOT NULL,
    disabled_at  timestamptz
);

GRANT SELECT ON service_accounts TO haven_app;
