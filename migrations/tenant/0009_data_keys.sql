-- Encryption at rest (docs/encryption.md): the tenant's data keys, each sealed by the
-- master key, which is never stored here. Sealed values name the key that sealed them;
-- a rotated-out key is retired once nothing names it.
CREATE TABLE data_keys (
    id         integer PRIMARY KEY,
    wrapped    bytea NOT NULL CHECK (length(wrapped) BETWEEN 40 AND 200),
    created_at timestamptz NOT NULL,
    retired_at timestamptz
);
CREATE SEQUENCE data_keys_id_seq OWNED BY data_keys.id;
