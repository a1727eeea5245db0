-- The control database: which organisations (tenants) this installation serves, on
-- which host names, and in which database each one's data lives.

CREATE TABLE tenants (
    id               uuid PRIMARY KEY,
    slug             text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,31}$'),
    display_name     text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    database_name    text NOT NULL UNIQUE CHECK (database_name ~ '^[a-z][a-z0-9_]{0,62}$'),
    enabled_modules  text[] NOT NULL CHECK (enabled_modules <@ ARRAY[
                         'clients', 'appointments', 'clinical_records', 'documents',
                         'operations', 'integrations', 'help', 'interoperability']::text[]),
    status           text NOT NULL CHECK (status IN ('provisioning', 'active', 'suspended')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenant_hosts (
    host       text PRIMARY KEY CHECK (host = lower(host) AND length(host) BETWEEN 1 AND 253),
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
);

CREATE INDEX tenant_hosts_tenant_id ON tenant_hosts (tenant_id);
