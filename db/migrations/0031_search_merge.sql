-- The search index in few segments: a 'merge' (each commit that writes entries runs one, see
-- merge_search in lua/quire/store_sql.lua) merges any level of the index that holds 2 segments
-- or more (FTS5's default: 4), so the index keeps about one segment a level.
INSERT INTO entries_fts (entries_fts, rank) VALUES ('usermerge', 2);
