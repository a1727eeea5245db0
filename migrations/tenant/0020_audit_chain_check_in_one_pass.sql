-- The chain's statement check (migration 0019) compares each new event with the one
-- before it in one ordered pass (a window over the statement's events) instead of a join
-- of the statement's events with themselves. PL/pgSQL keeps one plan of that join per
-- session, and in a run of `haven bench http --audit-events 10000000` the plan re-read
-- the statement's 10,000 events (spilled to a temporary file) for every event: seeding
-- fell to about 800 events a second, where it had run at about 10,000. A sort of the
-- statement's events has no such bad case. What is refused is unchanged.

CREATE OR REPLACE FUNCTION audit_extend_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first_seq bigint;
    last_seq  bigint;
    events    bigint;
BEGIN
    SELECT min(seq), max(seq), count(*) INTO first_seq, last_seq, events FROM new_events;
    IF events = 0 THEN
        RETURN NULL;
    END IF;
    -- Numbers are unique (the primary key), so no gap means consecutive.
    IF last_seq - first_seq + 1 <> events OR EXISTS (
        SELECT FROM (SELECT prev_hash, lag(hash) OVER (ORDER BY seq) AS before FROM new_events) AS e
        WHERE e.prev_hash <> e.before
    ) THEN
        RAISE EXCEPTION 'audit events % to % do not form a chain', first_seq, last_seq
            USING ERRCODE = 'HV001';
    END IF;
    UPDATE audit_head AS h SET seq = last_seq, hash = (SELECT hash FROM new_events WHERE seq = last_seq)
     WHERE h.singleton AND h.seq = first_seq - 1
       AND h.hash = (SELECT prev_hash FROM new_events WHERE seq = first_seq);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit event % does not extend the chain head', first_seq
            USING ERRCODE = 'HV001';
    END IF;
    RETURN NULL;
END $$;
