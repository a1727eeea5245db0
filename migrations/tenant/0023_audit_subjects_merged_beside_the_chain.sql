-- List and search events name the clients shown, and the GIN index on those subjects takes
-- new entries into its pending list. When the list passes its limit, the backend
-- inserting merges it into the index there and then: that backend is the audit writer's,
-- and every audited read waits for the writer's batch. A list of 100 fills about a page of
-- the pending list, so at the default limit (4 MB) a steady list load had the writer merge
-- two or three times a second, 15 to 25 ms each time. Haven merges the list beside the
-- chain instead, from another connection, at most every 250 ms while subjects arrive
-- (the audit writer's merger); an insert that finds a merge under way leaves it to that
-- one. The limit goes to 16 MB, so that the writer merges only if the merger falls far
-- behind. haven_app may run the merge but not own the index, so it goes through this
-- function.
ALTER INDEX audit_events_subjects SET (gin_pending_list_limit = 16384);
CREATE FUNCTION audit_subjects_merge() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT gin_clean_pending_list('audit_events_subjects'::regclass)
$$;
ALTER FUNCTION audit_subjects_merge() OWNER TO haven_owner;
REVOKE ALL ON FUNCTION audit_subjects_merge() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_subjects_merge() TO haven_app;
