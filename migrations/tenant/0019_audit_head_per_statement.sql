-- The chain's head moves once per statement that appends events, not once per event
-- (docs/audit.md). A row trigger that updated `audit_head` for every event cost each
-- event a PL/pgSQL call, an UPDATE and the head's own trigger; the audit writer appends a
-- whole batch in one statement, so one check at its end does the same work once.
--
-- What is refused is unchanged: the statement's events must carry consecutive numbers,
-- each linked to the hash of the one before it, the first to the head. Anything else
-- (a fork, a gap, an old number) aborts the statement, and with it the transaction. An
-- old number is refused by the primary key before this check runs.

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
        SELECT FROM new_events AS e JOIN new_events AS before ON before.seq = e.seq - 1
        WHERE e.prev_hash <> before.hash
    ) THEN
        RAISE EXCEPTION 'audit events % to % do not form a chain', first_seq, last_seq
            USING ERRCODE = 'HV001';
    END IF;
    UPDATE audit_head AS h SET seq = last.seq, hash = last.hash
      FROM new_events AS first, new_events AS last
     WHERE first.seq = first_seq AND last.seq = last_seq
       AND h.singleton AND h.seq = first_seq - 1 AND h.hash = first.prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit event % does not extend the chain head', first_seq
            USING ERRCODE = 'HV001';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER audit_events_extend_chain ON audit_events;
CREATE TRIGGER audit_events_extend_chain AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_extend_chain();
