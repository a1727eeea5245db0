-- Registering a client costs less of the database (docs/clients.md, "Search").
--
-- 1. The words of a name are split by one expression that PostgreSQL inlines into each
--    write, instead of a PL/pgSQL function running a query for every row (about 15 us of
--    CPU per registration). Words are now kept in the order the name has them, and a word
--    the name repeats is kept twice: every use of `clients.name_words` is an overlap
--    test (&&), which neither changes. Rows written before keep their sorted words.
--
-- 2. Registering no longer counts its name words in the same statement. Moving each
--    word's count made every registration lock that word's row until it committed, and
--    the counting trigger was the largest part of the INSERT. Instead:
--
-- * a name's new words enter the dictionary with the statement that brings them, with how
--   many of its rows hold them, so a new name is found at once;
-- * the counts of words already there are brought up to date by the hourly recount
--   (clients::search::recount_name_words), which also sets words nobody holds any more to
--   zero. Counts only steer how far search widens a misspelt word, never what matches
--   (a name that repeats a word counts it twice).

CREATE OR REPLACE FUNCTION name_words(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_remove(regexp_split_to_array(lower(name), '[^[:alpha:]]+'), '');

DROP TRIGGER clients_count_name_words_on_insert ON clients;
DROP TRIGGER clients_count_name_words_on_update ON clients;
DROP TRIGGER clients_count_name_words_on_delete ON clients;
DROP FUNCTION count_client_name_words();

-- A word already in the dictionary is left as it is, without a lock on its row; new
-- words are taken in word order so that concurrent registrations cannot deadlock.
CREATE FUNCTION add_client_name_words() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO client_name_words (word, clients)
    SELECT w, count(*) FROM new_clients, unnest(name_words) AS w GROUP BY w ORDER BY w
    ON CONFLICT (word) DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER clients_add_name_words_on_insert AFTER INSERT ON clients
REFERENCING NEW TABLE AS new_clients
FOR EACH STATEMENT EXECUTE FUNCTION add_client_name_words();
CREATE TRIGGER clients_add_name_words_on_update AFTER UPDATE ON clients
REFERENCING NEW TABLE AS new_clients
FOR EACH STATEMENT EXECUTE FUNCTION add_client_name_words();
