-- What an audited list costs to write: its event names up to 200 records (a page of 100
-- clients), each one an entry of the index of who was shown what. The ids compare byte
-- by byte: the index sorts every event's ids without the locale's collation rules. The
-- rows stay as they are; the index is rebuilt.
ALTER TABLE audit_events ALTER COLUMN subjects TYPE text[] COLLATE "C";
