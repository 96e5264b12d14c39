-- Workflow states come from plugins (site:state), so entries.status loses its fixed CHECK list
-- and is validated in Lua against the workflow registry. SQLite cannot drop a CHECK: the table
-- is rebuilt by the 12-step procedure of https://www.sqlite.org/lang_altertable.html (the
-- migration runner turns foreign keys off around it and runs foreign_key_check before commit).
-- Ids are kept, so the external-content search index and every child row stay valid.

CREATE TABLE entries_new (
  id           INTEGER PRIMARY KEY,
  type         TEXT NOT NULL,
  slug         TEXT NOT NULL,
  status       TEXT NOT NULL DEFAULT 'draft' CHECK (status GLOB '[a-z]*' AND status NOT GLOB '*[^a-z0-9_]*'),
  title        TEXT NOT NULL CHECK (length(title) > 0),
  body         TEXT NOT NULL DEFAULT '',
  fields       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(fields)),
  author_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  published_at TEXT,
  UNIQUE (type, slug)
);
INSERT INTO entries_new (id, type, slug, status, title, body, fields, author_id, created_at, updated_at, published_at)
  SELECT id, type, slug, status, title, body, fields, author_id, created_at, updated_at, published_at FROM entries;
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;

CREATE INDEX entries_by_date ON entries (coalesce(published_at, created_at), id);
CREATE INDEX entries_by_type_date ON entries (type, coalesce(published_at, created_at), id);
CREATE INDEX entries_published ON entries (status, type, published_at, id);
CREATE INDEX entries_author ON entries (author_id);

CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
  INSERT INTO entries_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
  INSERT INTO entries_fts (entries_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE OF title, body ON entries
WHEN old.title IS NOT new.title OR old.body IS NOT new.body BEGIN
  INSERT INTO entries_fts (entries_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
  INSERT INTO entries_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
