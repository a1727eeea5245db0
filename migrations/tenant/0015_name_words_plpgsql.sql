-- The words of a name, computed for every client row written (the generated column
-- `clients.name_words`). As a SQL function, PostgreSQL parsed and planned its body
-- anew for every INSERT or UPDATE statement; PL/pgSQL keeps the plan for the session.
-- Same words, same order: stored values stay valid.
CREATE OR REPLACE FUNCTION name_words(name text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT w ORDER BY w) FILTER (WHERE w <> ''), '{}')
            FROM regexp_split_to_table(lower(name), '[^[:alpha:]]+') AS w);
END;
$$;
