-- Nothing changes here. SQLite's 0031 (db/migrations/0031_search_merge.sql) sets how its FTS5
-- index merges its segments; PostgreSQL's GIN index has none of them. Both stores keep the same
-- schema version (the statement below: PostgreSQL refuses a migration with none).
SELECT 1;
