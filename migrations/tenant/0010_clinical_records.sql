-- Clinical records and documents (SPEC modules 4, 5 and 6; docs/clinical-records.md).
-- Note bodies, assessment answers, document names and document content keys are sealed
-- (docs/encryption.md); what stays in the clear is what lists, queues and trends need:
-- who, when, which template, scores and severity bands.

-- Whether records marked hipaa_exempt may be stored on a cloud target at all.
ALTER TABLE organisation_settings
    ADD COLUMN storage_policy text NOT NULL DEFAULT 'local_only'
        CHECK (storage_policy IN ('local_only', 'cloud_allowed'));

-- The data key a sealed value names (bytes 2 to 5, big-endian): rotation finds what is
-- left to re-seal with it.
CREATE FUNCTION sealed_key_id(sealed bytea) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT (get_byte(sealed, 1) << 24) | (get_byte(sealed, 2) << 16)
                 | (get_byte(sealed, 3) << 8) | get_byte(sealed, 4) $$;

CREATE TABLE notes (
    id               uuid PRIMARY KEY,
    -- The first version's id; every amendment shares it.
    thread_id        uuid NOT NULL,
    client_id        uuid NOT NULL REFERENCES clients (id),
    appointment_id   uuid REFERENCES appointments (id),
    category         text NOT NULL CHECK (category IN ('clinical', 'psychotherapy')),
    template         text NOT NULL
                     CHECK (template IN ('progress', 'soap', 'dap', 'intake', 'discharge', 'psychotherapy')),
    author_id        uuid NOT NULL REFERENCES users (id),
    -- Sealed JSON of the template's fields.
    body             bytea NOT NULL,
    status           text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'signed')),
    -- The signed version this one amends, and why.
    amends_id        uuid UNIQUE REFERENCES notes (id),
    amendment_reason text CHECK (length(amendment_reason) BETWEEN 1 AND 500),
    -- SHA-256 over the signed content (docs/clinical-records.md says what it covers).
    content_hash     bytea CHECK (length(content_hash) = 32),
    signed_by        uuid REFERENCES users (id),
    signed_at        timestamptz,
    -- Written by a trainee: a supervisor co-signs after it is signed.
    needs_cosign     boolean NOT NULL DEFAULT false,
    cosigned_by      uuid REFERENCES users (id),
    cosigned_at      timestamptz,
    hipaa_exempt     boolean NOT NULL DEFAULT false,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK ((category = 'psychotherapy') = (template = 'psychotherapy')),
    CHECK ((status = 'signed') = (signed_at IS NOT NULL AND signed_by IS NOT NULL AND content_hash IS NOT NULL)),
    CHECK ((amends_id IS NULL) = (amendment_reason IS NULL)),
    CHECK ((amends_id IS NULL) = (thread_id = id)),
    CHECK ((cosigned_by IS NULL) = (cosigned_at IS NULL)),
    CHECK (cosigned_at IS NULL OR (needs_cosign AND status = 'signed'))
);
CREATE INDEX notes_by_client ON notes (client_id, created_at DESC);
CREATE INDEX notes_by_thread ON notes (thread_id, created_at);
CREATE INDEX notes_by_appointment ON notes (appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX notes_awaiting_cosign ON notes (signed_at) WHERE needs_cosign AND cosigned_at IS NULL AND status = 'signed';

-- A signed note is final: only its co-signature may be added (once), its hipaa_exempt
-- flag follow the client's, and its sealed body be re-sealed under a new data key by
-- key rotation (which says so with `haven.resealing`). Nor can it be deleted.
CREATE FUNCTION notes_signed_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'signed' THEN
            RAISE EXCEPTION 'note % is signed and cannot be deleted', OLD.id USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'signed' THEN
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.thread_id, NEW.client_id, NEW.appointment_id, NEW.category, NEW.template, NEW.author_id,
        NEW.status, NEW.amends_id, NEW.amendment_reason, NEW.content_hash, NEW.signed_by, NEW.signed_at,
        NEW.needs_cosign, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.thread_id, OLD.client_id, OLD.appointment_id, OLD.category, OLD.template, OLD.author_id,
        OLD.status, OLD.amends_id, OLD.amendment_reason, OLD.content_hash, OLD.signed_by, OLD.signed_at,
        OLD.needs_cosign, OLD.created_at)
       OR (OLD.cosigned_at IS NOT NULL AND (NEW.cosigned_by, NEW.cosigned_at) IS DISTINCT FROM (OLD.cosigned_by, OLD.cosigned_at))
       OR (NEW.body IS DISTINCT FROM OLD.body AND current_setting('haven.resealing', true) IS DISTINCT FROM 'on')
    THEN
        RAISE EXCEPTION 'note % is signed and cannot be changed; amend it instead', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER notes_signed_are_final BEFORE UPDATE OR DELETE ON notes
    FOR EACH ROW EXECUTE FUNCTION notes_signed_are_final();

-- Standardised measures (PHQ-9, GAD-7). Answers are sealed; the score, its band and the
-- self-harm item stay in the clear for trends and alerts. Entered once, never edited.
CREATE TABLE assessments (
    id              uuid PRIMARY KEY,
    client_id       uuid NOT NULL REFERENCES clients (id),
    instrument      text NOT NULL CHECK (instrument IN ('phq9', 'gad7')),
    answers         bytea NOT NULL,
    total           smallint NOT NULL CHECK (total BETWEEN 0 AND 27),
    severity        text NOT NULL CHECK (length(severity) BETWEEN 1 AND 40),
    -- PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 0.
    self_harm_risk  boolean NOT NULL DEFAULT false,
    administered_at timestamptz NOT NULL,
    recorded_by     uuid NOT NULL REFERENCES users (id),
    appointment_id  uuid REFERENCES appointments (id),
    hipaa_exempt    boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL
);
CREATE INDEX assessments_by_client ON assessments (client_id, instrument, administered_at);

-- Raised by an answer that signals risk; stays on the chart until a clinician says what
-- they did about it.
CREATE TABLE safety_alerts (
    id              uuid PRIMARY KEY,
    client_id       uuid NOT NULL REFERENCES clients (id),
    kind            text NOT NULL CHECK (kind IN ('self_harm')),
    assessment_id   uuid REFERENCES assessments (id),
    raised_at       timestamptz NOT NULL,
    acknowledged_by uuid REFERENCES users (id),
    acknowledged_at timestamptz,
    -- Sealed: what was done (it is clinical content).
    response        bytea,
    CHECK ((acknowledged_by IS NULL) = (acknowledged_at IS NULL)),
    CHECK ((acknowledged_at IS NULL) = (response IS NULL))
);
CREATE INDEX safety_alerts_open ON safety_alerts (client_id) WHERE acknowledged_at IS NULL;

-- Attachments. The content is sealed in chunks under its own key; that key is sealed
-- under the tenant's data key (so rotation re-seals 80 bytes, not the file). Where the
-- object lives is decided by the storage layer from the record's storage policy.
CREATE TABLE documents (
    id           uuid PRIMARY KEY,
    client_id    uuid NOT NULL REFERENCES clients (id),
    note_id      uuid REFERENCES notes (id),
    -- Sealed: a file name often names the person.
    name         bytea NOT NULL,
    content_type text NOT NULL CHECK (length(content_type) BETWEEN 3 AND 100),
    byte_size    bigint NOT NULL CHECK (byte_size >= 0),
    content_key  bytea NOT NULL,
    target       text NOT NULL CHECK (target IN ('local', 'cloud')),
    object_key   text NOT NULL UNIQUE CHECK (length(object_key) BETWEEN 1 AND 200),
    hipaa_exempt boolean NOT NULL DEFAULT false,
    uploaded_by  uuid NOT NULL REFERENCES users (id),
    uploaded_at  timestamptz NOT NULL
);
CREATE INDEX documents_by_client ON documents (client_id, uploaded_at DESC);
CREATE INDEX documents_by_note ON documents (note_id) WHERE note_id IS NOT NULL;
