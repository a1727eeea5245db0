-- A registration's name words are nearly always in the dictionary already. Adding them
-- anyway (INSERT ... ON CONFLICT DO NOTHING) prepares an insert into client_name_words
-- each time: its generated sound (dmetaphone) is worked out for every word and its
-- indexes opened, only for the conflict to skip the row. Looking first is a plain read
-- of the dictionary's primary key; only a name with a new word goes on to the insert,
-- which still skips the words another registration added in the meantime.
CREATE OR REPLACE FUNCTION add_client_name_words() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM new_clients, unnest(name_words) AS w
               WHERE NOT EXISTS (SELECT FROM client_name_words d WHERE d.word = w)) THEN
        INSERT INTO client_name_words (word, clients)
        SELECT w, count(*) FROM new_clients, unnest(name_words) AS w GROUP BY w ORDER BY w
        ON CONFLICT (word) DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
