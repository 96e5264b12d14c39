-- Reads of cards (every list, feed and sitemap) cost less.
-- 1. entries keeps its body last. A row's columns are stored in declaration order and a long body
-- spills into overflow pages, which are a chain: a read of a column after the body (fields,
-- author_id, the dates) walked every page of it first, so every card read paid for a body it
-- never asked for. The table is rebuilt with the same columns, body moved to the end (the
-- 12-step procedure of https://www.sqlite.org/lang_altertable.html, foreign keys off around it:
-- the runner does that, see 0004 and 0007). Ids, rows and AUTOINCREMENT's counter are kept, so
-- the search index (external content, by rowid) and every child row stay valid. The view and
-- the trigger of other tables that name entries are dropped first and made again as they were
-- (renaming the new table would otherwise fail on their reference to a missing entries); the
-- indexes and triggers of entries itself go with the old table and are made again as they were.
-- 2. An entry's terms in their order come from an index, not a sort per statement (the terms of
-- every card of a list are read by entry_id and position).

DROP VIEW entries_search;
DROP TRIGGER entry_terms_listed_insert;

CREATE TABLE entries_new (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  type         TEXT NOT NULL,
  slug         TEXT NOT NULL,
  status       TEXT NOT NULL DEFAULT 'draft' CHECK (status GLOB '[a-z]*' AND status NOT GLOB '*[^a-z0-9_]*'),
  title        TEXT NOT NULL CHECK (length(title) > 0),
  fields       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(fields)),
  author_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  published_at TEXT,
  body         TEXT NOT NULL DEFAULT '',
  UNIQUE (type, slug)
);
INSERT INTO entries_new (id, type, slug, status, title, fields, author_id, created_at, updated_at, published_at, body)
  SELECT id, type, slug, status, title, fields, author_id, created_at, updated_at, published_at, body FROM entries ORDER BY id;
-- The copy set the new table's counter to the highest id left; the old one may be higher (its
-- newest entries deleted for good): ids are never handed out twice (0007).
DELETE FROM sqlite_sequence WHERE name = 'entries_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'entries_new', seq FROM sqlite_sequence WHERE name = 'entries';
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;

-- The indexes of 0007 and 0010.
CREATE INDEX entries_by_date ON entries (coalesce(published_at, created_at), id);
CREATE INDEX entries_by_type_date ON entries (type, coalesce(published_at, created_at), id);
CREATE INDEX entries_published ON entries (status, type, published_at, id);
CREATE INDEX entries_listed ON entries (status, published_at, id);
CREATE INDEX entries_author_listed ON entries (author_id, status, published_at, id);

-- The triggers of 0010, unchanged.
CREATE TRIGGER entry_terms_listed_insert AFTER INSERT ON entry_terms BEGIN
  UPDATE entry_terms SET listed_at = (SELECT e.published_at FROM entries e WHERE e.id = new.entry_id AND e.status = 'published')
    WHERE entry_id = new.entry_id AND term_id = new.term_id;
END;
CREATE TRIGGER entries_listed_update AFTER UPDATE OF status, published_at ON entries
WHEN old.status IS NOT new.status OR old.published_at IS NOT new.published_at BEGIN
  UPDATE entry_terms SET listed_at = CASE WHEN new.status = 'published' THEN new.published_at END
    WHERE entry_id = new.id AND listed_at IS NOT (CASE WHEN new.status = 'published' THEN new.published_at END);
  UPDATE entry_counts SET n = n - 1 WHERE status = old.status AND old.status IS NOT new.status;
  INSERT INTO entry_counts (status, n) SELECT new.status, 1 WHERE old.status IS NOT new.status
    ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER entries_count_insert AFTER INSERT ON entries BEGIN
  INSERT INTO entry_counts (status, n) VALUES (new.status, 1) ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER entries_count_delete AFTER DELETE ON entries BEGIN
  UPDATE entry_counts SET n = n - 1 WHERE status = old.status;
END;

-- The search view and triggers of 0016, unchanged.
CREATE VIEW entries_search (id, title, standfirst, body) AS
  SELECT id, title, json_extract(fields, '$.standfirst'), body FROM entries;
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries
WHEN NOT EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT INTO entries_fts (rowid, title, standfirst, body)
    VALUES (new.id, new.title, json_extract(new.fields, '$.standfirst'), new.body);
END;
CREATE TRIGGER entries_fts_insert_deferred AFTER INSERT ON entries
WHEN EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT OR IGNORE INTO search_pending (id, title, standfirst, body) VALUES (new.id, NULL, NULL, NULL);
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries
WHEN NOT EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT INTO entries_fts (entries_fts, rowid, title, standfirst, body)
    VALUES ('delete', old.id, old.title, json_extract(old.fields, '$.standfirst'), old.body);
END;
CREATE TRIGGER entries_fts_delete_deferred AFTER DELETE ON entries
WHEN EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT OR IGNORE INTO search_pending (id, title, standfirst, body)
    VALUES (old.id, old.title, json_extract(old.fields, '$.standfirst'), old.body);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE OF title, body, fields ON entries
WHEN (old.title IS NOT new.title OR old.body IS NOT new.body
      OR json_extract(old.fields, '$.standfirst') IS NOT json_extract(new.fields, '$.standfirst'))
  AND NOT EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT INTO entries_fts (entries_fts, rowid, title, standfirst, body)
    VALUES ('delete', old.id, old.title, json_extract(old.fields, '$.standfirst'), old.body);
  INSERT INTO entries_fts (rowid, title, standfirst, body)
    VALUES (new.id, new.title, json_extract(new.fields, '$.standfirst'), new.body);
END;
CREATE TRIGGER entries_fts_update_deferred AFTER UPDATE OF title, body, fields ON entries
WHEN (old.title IS NOT new.title OR old.body IS NOT new.body
      OR json_extract(old.fields, '$.standfirst') IS NOT json_extract(new.fields, '$.standfirst'))
  AND EXISTS (SELECT 1 FROM search_deferred) BEGIN
  INSERT OR IGNORE INTO search_pending (id, title, standfirst, body)
    VALUES (old.id, old.title, json_extract(old.fields, '$.standfirst'), old.body);
END;

CREATE INDEX entry_terms_in_order ON entry_terms (entry_id, position, term_id);
