-- Appointments and calendar (SPEC module 3; docs/appointments.md): rooms, clinicians'
-- availability, appointments with one or more clients, recurring series whose
-- occurrences are rows of their own, private calendar feeds, reminder settings and the
-- log of every reminder sent or skipped.

CREATE TABLE rooms (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL
);

-- When a clinician takes appointments, in the organisation's time zone.
CREATE TABLE clinician_availability (
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    weekday  smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7), -- ISO: 1 Monday .. 7 Sunday
    starts   time NOT NULL,
    ends     time NOT NULL CHECK (ends > starts),
    PRIMARY KEY (user_id, weekday, starts)
);

-- A recurring appointment's rule (RFC 5545 RRULE, local wall-clock time in `time_zone`).
-- Its occurrences are appointments rows; an occurrence edited on its own is detached
-- and keeps its changes when the series is edited.
CREATE TABLE appointment_series (
    id          uuid PRIMARY KEY,
    rule        text NOT NULL CHECK (length(rule) BETWEEN 1 AND 500),
    first_start timestamptz NOT NULL,
    time_zone   text NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE appointments (
    id                 uuid PRIMARY KEY,
    series_id          uuid REFERENCES appointment_series (id),
    -- Which occurrence of the series this is: its start as the rule gave it.
    occurrence_start   timestamptz,
    detached           boolean NOT NULL DEFAULT false,
    clinician_id       uuid NOT NULL REFERENCES users (id),
    co_facilitator_id  uuid REFERENCES users (id) CHECK (co_facilitator_id <> clinician_id),
    place              text NOT NULL CHECK (place IN ('room', 'telehealth', 'elsewhere')),
    room_id            uuid REFERENCES rooms (id),
    telehealth_url     text CHECK (length(telehealth_url) BETWEEN 8 AND 500),
    location_note      text CHECK (length(location_note) BETWEEN 1 AND 200),
    service_type       text NOT NULL CHECK (length(service_type) BETWEEN 1 AND 80),
    starts_at          timestamptz NOT NULL,
    ends_at            timestamptz NOT NULL CHECK (ends_at > starts_at AND ends_at <= starts_at + interval '12 hours'),
    status             text NOT NULL DEFAULT 'scheduled'
                       CHECK (status IN ('scheduled', 'arrived', 'completed', 'cancelled', 'no_show')),
    cancelled_by       text CHECK (cancelled_by IN ('client', 'staff')),
    cancel_reason      text CHECK (length(cancel_reason) BETWEEN 1 AND 500),
    late_cancel        boolean NOT NULL DEFAULT false,
    -- For scheduling only; clinical content belongs in notes.
    scheduling_note    text CHECK (length(scheduling_note) BETWEEN 1 AND 500),
    -- Why it was booked over a conflict, when it was.
    override_reason    text CHECK (length(override_reason) BETWEEN 1 AND 500),
    -- iCalendar SEQUENCE: raised on every change a calendar should see.
    sequence           integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    created_by         uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at         timestamptz NOT NULL,
    CHECK ((place = 'room') = (room_id IS NOT NULL)),
    CHECK ((place = 'telehealth') = (telehealth_url IS NOT NULL)),
    CHECK ((status = 'cancelled') = (cancelled_by IS NOT NULL AND cancel_reason IS NOT NULL)),
    CHECK ((series_id IS NULL) = (occurrence_start IS NULL))
);
CREATE INDEX appointments_by_clinician ON appointments (clinician_id, starts_at);
CREATE INDEX appointments_by_co_facilitator ON appointments (co_facilitator_id, starts_at)
    WHERE co_facilitator_id IS NOT NULL;
CREATE INDEX appointments_by_room ON appointments (room_id, starts_at) WHERE room_id IS NOT NULL;
CREATE INDEX appointments_by_start ON appointments (starts_at);
CREATE UNIQUE INDEX appointments_one_per_occurrence ON appointments (series_id, occurrence_start)
    WHERE series_id IS NOT NULL;

CREATE TABLE appointment_clients (
    appointment_id uuid NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    client_id      uuid NOT NULL REFERENCES clients (id),
    PRIMARY KEY (appointment_id, client_id)
);
CREATE INDEX appointment_clients_by_client ON appointment_clients (client_id, appointment_id);

-- A staff member's private calendar feed. Only a hash of the secret URL is kept.
CREATE TABLE calendar_feeds (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at  timestamptz NOT NULL
);

-- Reminders: when they go, and which details beyond organisation, date, time and place
-- they may carry (none, unless the organisation turns each on).
ALTER TABLE organisation_settings
    ADD COLUMN reminder_offsets_minutes integer[] NOT NULL DEFAULT '{2880,120}'
        CHECK (cardinality(reminder_offsets_minutes) <= 5
               AND 0 < ALL (reminder_offsets_minutes) AND 20160 >= ALL (reminder_offsets_minutes)),
    ADD COLUMN reminder_show_clinician boolean NOT NULL DEFAULT false,
    ADD COLUMN reminder_show_service boolean NOT NULL DEFAULT false,
    ADD COLUMN reminder_show_client_name boolean NOT NULL DEFAULT false,
    -- A client's cancellation closer to the start than this is a late cancellation.
    ADD COLUMN late_cancel_hours integer NOT NULL DEFAULT 24 CHECK (late_cancel_hours BETWEEN 0 AND 168);

-- Every reminder: queued, sent (with the server's reply), failed (with the error) or
-- skipped (with why). Never the message itself.
CREATE TABLE reminder_log (
    id             uuid PRIMARY KEY,
    appointment_id uuid NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    client_id      uuid REFERENCES clients (id),
    offset_minutes integer NOT NULL,
    channel        text NOT NULL CHECK (channel IN ('email', 'sms')),
    outcome        text NOT NULL CHECK (outcome IN ('queued', 'sent', 'failed', 'skipped')),
    detail         text CHECK (length(detail) <= 1000),
    -- The start the reminder was for: a moved appointment gets new reminders.
    for_start      timestamptz NOT NULL,
    at             timestamptz NOT NULL
);
CREATE INDEX reminder_log_by_appointment ON reminder_log (appointment_id, at);
CREATE UNIQUE INDEX reminder_log_one_send ON reminder_log (appointment_id, client_id, offset_minutes, for_start)
    WHERE outcome = 'sent';
