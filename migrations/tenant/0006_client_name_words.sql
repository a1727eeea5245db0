-- Name search that stays fast at a million clients (docs/clients.md, "Search").
--
-- Matching every client's whole name against the query by trigrams reads thousands of
-- rows for a common surname. Instead, each word of the query is first matched against
-- the dictionary of distinct name words (trigrams, prefix, sound); the clients are then
-- found by those words through an index on each client's own words, and ranked by the
-- words they hold.

-- The distinct lower-case words of a name, sorted.
CREATE FUNCTION name_words(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (SELECT coalesce(array_agg(DISTINCT w ORDER BY w) FILTER (WHERE w <> ''), '{}')
        FROM regexp_split_to_table(lower(name), '[^[:alpha:]]+') AS w);

ALTER TABLE clients ADD COLUMN name_words text[] NOT NULL GENERATED ALWAYS AS (
    name_words(legal_given_name || ' ' || legal_family_name || coalesce(' ' || preferred_name, ''))) STORED;
-- Without a pending list, which every search would otherwise scan until vacuum.
CREATE INDEX clients_name_words ON clients USING gin (name_words) WITH (fastupdate = off);

-- Ranking compares words too, so the whole-name columns (and their indexes) go.
ALTER TABLE clients DROP COLUMN search_name, DROP COLUMN name_sounds;
DROP FUNCTION name_sounds(text);

-- Every word in any client's name, with how many clients hold it: search widens a
-- misspelled word to its near neighbours only while they stay few (clients::search). A
-- word whose last holder is renamed stays at zero, matching nobody.
CREATE TABLE client_name_words (
    word    text PRIMARY KEY,
    sound   text NOT NULL GENERATED ALWAYS AS (public.dmetaphone(word)) STORED,
    clients integer NOT NULL CHECK (clients >= 0)
);
CREATE INDEX client_name_words_trigrams ON client_name_words USING gin (word gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX client_name_words_sound ON client_name_words (sound);

-- Counts change with the statement that changes names, in one row per word, taken in
-- word order so that concurrent registrations cannot deadlock.
CREATE FUNCTION count_client_name_words() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO client_name_words AS d (word, clients)
        SELECT w, count(*) FROM new_clients, unnest(name_words) AS w GROUP BY w ORDER BY w
        ON CONFLICT (word) DO UPDATE SET clients = d.clients + excluded.clients;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Gained words may be new; a lost word always exists (and a negative count
        -- would fail the row's check before any conflict is seen).
        WITH changes AS (
            SELECT w, sum(delta) AS delta FROM (
                SELECT w, 1 AS delta FROM new_clients, unnest(name_words) AS w
                UNION ALL
                SELECT w, -1 FROM old_clients, unnest(name_words) AS w
            ) AS each_change
            GROUP BY w HAVING sum(delta) <> 0
        ), gained AS (
            INSERT INTO client_name_words AS d (word, clients)
            SELECT w, delta FROM changes WHERE delta > 0 ORDER BY w
            ON CONFLICT (word) DO UPDATE SET clients = d.clients + excluded.clients
        )
        UPDATE client_name_words AS d SET clients = d.clients + c.delta
        FROM changes AS c WHERE c.delta < 0 AND d.word = c.w;
    ELSE
        UPDATE client_name_words AS d SET clients = d.clients - gone.n
        FROM (SELECT w, count(*) AS n FROM old_clients, unnest(name_words) AS w GROUP BY w) AS gone
        WHERE d.word = gone.w;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER clients_count_name_words_on_insert AFTER INSERT ON clients
REFERENCING NEW TABLE AS new_clients
FOR EACH STATEMENT EXECUTE FUNCTION count_client_name_words();
CREATE TRIGGER clients_count_name_words_on_update AFTER UPDATE ON clients
REFERENCING OLD TABLE AS old_clients NEW TABLE AS new_clients
FOR EACH STATEMENT EXECUTE FUNCTION count_client_name_words();
CREATE TRIGGER clients_count_name_words_on_delete AFTER DELETE ON clients
REFERENCING OLD TABLE AS old_clients
FOR EACH STATEMENT EXECUTE FUNCTION count_client_name_words();

INSERT INTO client_name_words (word, clients)
SELECT w, count(*) FROM clients, unnest(name_words) AS w GROUP BY w;
