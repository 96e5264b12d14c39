-- Nothing changes here. SQLite's 0033 (db/migrations/0033_card_indexes.sql) indexes every column
-- of entries but the body, because a SQLite row with a long body takes a page of its own and a
-- card read touched a page per entry; PostgreSQL keeps a long body out of line (TOAST), so its
-- rows are small and a card read reads dense pages already. Both stores keep the same schema
-- version (the statement below: PostgreSQL refuses a migration with none).
SELECT 1;
