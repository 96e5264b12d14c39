-- SQLite's 0031 sets how its FTS5 search index merges; PostgreSQL's GIN index needs nothing.
-- (The same schema versions on both: quire store copy wants them equal.)
SELECT 1;
