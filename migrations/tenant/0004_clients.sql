-- Clients and referrals (SPEC module 2): client records with their identifiers, related
-- people and safe-contact rules; care teams; break-glass access; referrals and their
-- status history. Audit events gain the list of records a list or search showed.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

-- How each word of a name sounds (Double Metaphone), so that "Jhon Ngyuen" finds
-- "John Nguyen": trigrams miss transposed letters in short names, sounds do not.
CREATE FUNCTION name_sounds(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT coalesce(array_agg(DISTINCT public.dmetaphone(w)) FILTER (WHERE public.dmetaphone(w) <> ''), '{}')
        FROM regexp_split_to_table(lower(name), '[^[:alpha:]]+') AS w);

-- Who saw which records in a list or search result (see docs/audit.md, "Hash chain").
ALTER TABLE audit_events ADD COLUMN subjects text[] CHECK (cardinality(subjects) BETWEEN 1 AND 200);
ALTER TABLE audit_outbox ADD COLUMN subjects text[];
CREATE INDEX audit_events_subjects ON audit_events USING gin (subjects) WHERE subjects IS NOT NULL;

CREATE SEQUENCE client_record_numbers START 1001;

CREATE TABLE clients (
    id                    uuid PRIMARY KEY,
    -- Printed on letters and said on the phone: short, never reused.
    record_number         text NOT NULL UNIQUE
                          DEFAULT 'HV' || lpad(nextval('client_record_numbers')::text, 7, '0'),
    legal_given_name      text NOT NULL CHECK (length(legal_given_name) BETWEEN 1 AND 100),
    legal_family_name     text NOT NULL CHECK (length(legal_family_name) BETWEEN 1 AND 100),
    preferred_name        text CHECK (length(preferred_name) BETWEEN 1 AND 100),
    pronouns              text CHECK (length(pronouns) BETWEEN 1 AND 40),
    date_of_birth         date CHECK (date_of_birth >= DATE '1900-01-01'),
    status                text NOT NULL CHECK (status IN ('active', 'waitlisted', 'discharged')),
    email                 text CHECK (length(email) BETWEEN 3 AND 254),
    phone                 text CHECK (length(phone) BETWEEN 3 AND 40),
    address_line          text CHECK (length(address_line) BETWEEN 1 AND 200),
    locality              text CHECK (length(locality) BETWEEN 1 AND 100),
    postcode              text CHECK (length(postcode) BETWEEN 1 AND 20),
    -- Safe-contact rules: which channels may be used, when, and whether the address may
    -- ever be disclosed. Nothing is safe until someone has said so.
    ok_to_email           boolean NOT NULL DEFAULT false,
    ok_to_phone           boolean NOT NULL DEFAULT false,
    ok_to_text            boolean NOT NULL DEFAULT false,
    ok_to_leave_voicemail boolean NOT NULL DEFAULT false,
    safe_contact_times    text CHECK (length(safe_contact_times) BETWEEN 1 AND 200),
    confidential_address  boolean NOT NULL DEFAULT false,
    hipaa_exempt          boolean NOT NULL DEFAULT false,
    -- For typo-tolerant search: every name the person is known by, lower-cased.
    search_name           text GENERATED ALWAYS AS (
                              lower(legal_given_name || ' ' || legal_family_name
                                    || coalesce(' ' || preferred_name, ''))) STORED,
    name_sounds           text[] GENERATED ALWAYS AS (
                              name_sounds(legal_given_name || ' ' || legal_family_name
                                          || coalesce(' ' || preferred_name, ''))) STORED,
    version               integer NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL,
    created_by            uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX clients_search_name ON clients USING gin (search_name gin_trgm_ops);
CREATE INDEX clients_name_sounds ON clients USING gin (name_sounds);
CREATE INDEX clients_date_of_birth ON clients (date_of_birth);
CREATE INDEX clients_family_name ON clients (lower(legal_family_name), lower(legal_given_name), id);

-- Identifiers from elsewhere: health card, school id, another agency's number.
CREATE TABLE client_identifiers (
    client_id   uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,39}$'),
    value       text NOT NULL CHECK (length(value) BETWEEN 1 AND 64),
    PRIMARY KEY (client_id, kind),
    UNIQUE (kind, value)
);
CREATE INDEX client_identifiers_value ON client_identifiers (upper(value));

-- Guardians and emergency contacts.
CREATE TABLE client_related_people (
    id            uuid PRIMARY KEY,
    client_id     uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('guardian', 'emergency_contact')),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    relationship  text CHECK (length(relationship) BETWEEN 1 AND 60),
    phone         text CHECK (length(phone) BETWEEN 3 AND 40),
    email         text CHECK (length(email) BETWEEN 3 AND 254),
    position      smallint NOT NULL CHECK (position BETWEEN 0 AND 19),
    UNIQUE (client_id, position)
);

-- Who may reach a client. A clinician sees the clients whose care team they are on; a
-- supervisor also those of the staff they supervise.
CREATE TABLE care_team_members (
    client_id   uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_role   text NOT NULL CHECK (team_role IN ('primary', 'clinician', 'case_manager')),
    added_at    timestamptz NOT NULL,
    added_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (client_id, user_id)
);
CREATE INDEX care_team_members_by_user ON care_team_members (user_id, client_id);
CREATE UNIQUE INDEX care_team_one_primary ON care_team_members (client_id) WHERE team_role = 'primary';

-- Emergency access outside the care team: a written reason, time-boxed.
CREATE TABLE break_glass_grants (
    id          uuid PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (length(reason) BETWEEN 10 AND 1000),
    opened_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL CHECK (expires_at > opened_at),
    ended_at    timestamptz
);
CREATE INDEX break_glass_live ON break_glass_grants (user_id, client_id, expires_at) WHERE ended_at IS NULL;
CREATE INDEX break_glass_recent ON break_glass_grants (opened_at DESC);

CREATE TABLE referrals (
    id                    uuid PRIMARY KEY,
    direction             text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- Null while an inbound referral is for someone who is not (yet) a client.
    client_id             uuid REFERENCES clients (id) ON DELETE RESTRICT,
    person_given_name     text CHECK (length(person_given_name) BETWEEN 1 AND 100),
    person_family_name    text CHECK (length(person_family_name) BETWEEN 1 AND 100),
    person_date_of_birth  date,
    person_phone          text CHECK (length(person_phone) BETWEEN 3 AND 40),
    person_email          text CHECK (length(person_email) BETWEEN 3 AND 254),
    -- Inbound: who referred. Outbound: where to.
    source_kind           text NOT NULL CHECK (source_kind IN ('organisation', 'professional', 'self')),
    source_name           text CHECK (length(source_name) BETWEEN 1 AND 200),
    source_contact        text CHECK (length(source_contact) BETWEEN 1 AND 200),
    reason                text NOT NULL CHECK (length(reason) BETWEEN 1 AND 4000),
    urgency               text NOT NULL CHECK (urgency IN ('routine', 'soon', 'urgent')),
    status                text NOT NULL CHECK (status IN ('received', 'triaged', 'accepted', 'declined', 'closed')),
    assigned_to           uuid REFERENCES users (id) ON DELETE SET NULL,
    decline_reason        text CHECK (length(decline_reason) BETWEEN 1 AND 1000),
    received_on           date NOT NULL,
    version               integer NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL,
    created_by            uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at            timestamptz NOT NULL,
    CHECK (client_id IS NOT NULL OR (person_given_name IS NOT NULL AND person_family_name IS NOT NULL)),
    CHECK (direction = 'inbound' OR client_id IS NOT NULL),
    CHECK (status <> 'declined' OR decline_reason IS NOT NULL),
    CHECK (source_kind = 'self' OR source_name IS NOT NULL)
);
CREATE INDEX referrals_by_status ON referrals (status, urgency, received_on);
CREATE INDEX referrals_by_client ON referrals (client_id) WHERE client_id IS NOT NULL;
CREATE INDEX referrals_by_assignee ON referrals (assigned_to, status) WHERE assigned_to IS NOT NULL;

-- Every move of a referral: who, when, from what to what, and why.
CREATE TABLE referral_transitions (
    id           uuid PRIMARY KEY,
    referral_id  uuid NOT NULL REFERENCES referrals (id) ON DELETE CASCADE,
    from_status  text CHECK (from_status IN ('received', 'triaged', 'accepted', 'declined', 'closed')),
    to_status    text NOT NULL CHECK (to_status IN ('received', 'triaged', 'accepted', 'declined', 'closed')),
    at           timestamptz NOT NULL,
    by_user      uuid REFERENCES users (id) ON DELETE SET NULL,
    note         text CHECK (length(note) BETWEEN 1 AND 1000)
);
CREATE INDEX referral_transitions_by_referral ON referral_transitions (referral_id, at);
