-- One tenant database per organisation. Its settings live in a single-row table.

CREATE TABLE organisation_settings (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    time_zone   text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO organisation_settings (singleton) VALUES (true);
