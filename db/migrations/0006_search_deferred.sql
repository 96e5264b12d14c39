-- Saves inside a batch are re-indexed once, just before the batch commits. FTS5 writes its
-- pending changes to disk at every savepoint, and each save in a batch runs in its own savepoint,
-- so re-indexing in the triggers made every save write (and later merge) a tiny index segment.
-- While a transaction holds the row of search_deferred, the triggers only note in search_pending
-- the text the index holds for each entry they touch (NULL: not indexed), and quire re-indexes
-- those entries from it before the commit (flush_search in lua/quire/init.lua). The row is added
-- and removed inside that one transaction, so other connections and the sqlite3 shell never see
-- it and index row by row as before; its deferred foreign key to a table that stays empty makes
-- a commit that still holds it fail rather than leave the index behind.

CREATE TABLE search_deferred_never (id INTEGER PRIMARY KEY);
CREATE TABLE search_deferred (
  id INTEGER PRIMARY KEY REFERENCES search_deferred_never (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE search_pending (
  id    INTEGER PRIMARY KEY,  -- an entry id (the entry may be gone by the flush)
  title TEXT,
  body  TEXT
);

DROP TRIGGER entries_fts_insert;
DROP TRIGGER entries_fts_delete;
DROP TRIGGER entries_fts_update;
-- Each event has an indexing trigger and a deferring one, so only one of them runs its body.
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries
WHEN NOT EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT INTO entries_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER entries_fts_insert_deferred AFTER INSERT ON entries
WHEN EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT OR IGNORE INTO search_pending (id, title, body) VALUES (new.id, NULL, NULL);
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries
WHEN NOT EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT INTO entries_fts (entries_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER entries_fts_delete_deferred AFTER DELETE ON entries
WHEN EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT OR IGNORE INTO search_pending (id, title, body) VALUES (old.id, old.title, old.body);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE OF title, body ON entries
WHEN (old.title IS NOT new.title OR old.body IS NOT new.body) AND NOT EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT INTO entries_fts (entries_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
  INSERT INTO entries_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER entries_fts_update_deferred AFTER UPDATE OF title, body ON entries
WHEN (old.title IS NOT new.title OR old.body IS NOT new.body) AND EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT OR IGNORE INTO search_pending (id, title, body) VALUES (old.id, old.title, old.body);
END;
