-- Search relevance (issue 19): the standfirst is indexed in a column of its own between the
-- title and the body, so bm25 can weigh them title > standfirst > body; English words are
-- stemmed (porter over unicode61: "barrages" finds "barrage"); two- and three-letter prefixes
-- are indexed for search-as-you-type. A site in another language gets the unstemmed index when it
-- opens (lua/quire/search.lua: FTS5 has no stemmer for it). The index is rebuilt from the
-- entries: nothing is lost, the text lives in entries.
--
-- The index reads its text through a view, as its external content table: FTS5 only needs to
-- select the columns by rowid, and the standfirst is a field in entries.fields (JSON).
DROP TABLE entries_fts;
CREATE VIEW entries_search (id, title, standfirst, body) AS
  SELECT id, title, json_extract(fields, '$.standfirst'), body FROM entries;
CREATE VIRTUAL TABLE entries_fts USING fts5(
  title, standfirst, body, content = 'entries_search', content_rowid = 'id',
  tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT INTO entries_fts (entries_fts) VALUES ('rebuild');

-- What the index holds for an entry a batch touched (see 0006): now with its standfirst.
ALTER TABLE search_pending ADD COLUMN standfirst TEXT;

DROP TRIGGER entries_fts_insert;
DROP TRIGGER entries_fts_insert_deferred;
DROP TRIGGER entries_fts_delete;
DROP TRIGGER entries_fts_delete_deferred;
DROP TRIGGER entries_fts_update;
DROP TRIGGER entries_fts_update_deferred;
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
