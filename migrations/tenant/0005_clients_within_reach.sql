-- The clients a clinician reaches, in one place for every query that lists them: their
-- care teams, live break-glass grants and (for a supervisor) their supervisees' care
-- teams. Mirrors clients::access::facts, which answers the same for one client. A plain
-- SQL function, so the planner inlines it into the query that uses it.
CREATE FUNCTION clients_within_reach(viewer uuid, through_supervision boolean, at timestamptz)
RETURNS TABLE (client_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT m.client_id FROM care_team_members m WHERE m.user_id = viewer
    UNION
    SELECT m.client_id FROM care_team_members m JOIN users u ON u.id = m.user_id
    WHERE through_supervision AND u.supervisor_id = viewer
    UNION
    SELECT g.client_id FROM break_glass_grants g
    WHERE g.user_id = viewer AND g.ended_at IS NULL AND g.expires_at > at;
END;
