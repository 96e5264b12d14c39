-- Nothing changes here. SQLite's 0030 (db/migrations/0030_card_reads.sql) moves entries' body
-- after the columns a card reads, because SQLite stores a row's columns in order and a read of
-- one after a long body walks the body's overflow pages first; PostgreSQL reads a row's columns
-- by offset and keeps a long body out of line (TOAST), fetched only when a statement asks for
-- it, so its column order costs a card read nothing. SQLite's 0030 also indexes entry_terms in
-- each entry's order, to spare a sort per statement; PostgreSQL sorts the few rows of a list's
-- terms in memory. Both stores keep the same schema version (the statement below: PostgreSQL
-- refuses a migration with none).
SELECT 1;
