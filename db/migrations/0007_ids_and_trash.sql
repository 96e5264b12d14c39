-- Ids are never reused, and a delete goes to the trash first.
-- A rowid table hands the id of its last row to the next insert once that row is deleted, so the
-- audit log said "entry 12 deleted" of two different stories and outside links to entry 12 led to
-- another one. entries, revisions, comments, terms, users and media are rebuilt with
-- AUTOINCREMENT (the 12-step procedure of https://www.sqlite.org/lang_altertable.html, foreign
-- keys off around it; see 0004). Ids are kept, so the external-content search index and every
-- child row stay valid; the triggers and indexes of each table are made again as they were.

CREATE TABLE entries_new (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
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
-- The search triggers of 0006, unchanged.
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

CREATE TABLE revisions_new (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  entry_id     INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
  title        TEXT NOT NULL,
  slug         TEXT NOT NULL,
  status       TEXT NOT NULL,
  body         TEXT NOT NULL,
  fields       TEXT NOT NULL,
  terms        TEXT NOT NULL DEFAULT '{}',  -- JSON {tags = [...], section = ...} at save time
  published_at TEXT,
  author_id    INTEGER,                     -- the entry's author at save time
  saved_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at   TEXT NOT NULL,
  actor        TEXT
);
INSERT INTO revisions_new (id, entry_id, title, slug, status, body, fields, terms, published_at, author_id, saved_by, created_at, actor)
  SELECT id, entry_id, title, slug, status, body, fields, terms, published_at, author_id, saved_by, created_at, actor FROM revisions;
DROP TABLE revisions;
ALTER TABLE revisions_new RENAME TO revisions;
CREATE INDEX revisions_by_entry ON revisions (entry_id, id);

CREATE TABLE comments_new (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  entry_id     INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
  parent_id    INTEGER REFERENCES comments(id) ON DELETE CASCADE,
  author_name  TEXT NOT NULL,
  author_email TEXT NOT NULL,               -- never rendered in any public response
  author_url   TEXT,
  body         TEXT NOT NULL,
  status       TEXT NOT NULL DEFAULT 'held'
               CHECK (status IN ('held', 'approved', 'spam', 'trash')),
  ip_hash      TEXT,
  created_at   TEXT NOT NULL
);
INSERT INTO comments_new (id, entry_id, parent_id, author_name, author_email, author_url, body, status, ip_hash, created_at)
  SELECT id, entry_id, parent_id, author_name, author_email, author_url, body, status, ip_hash, created_at FROM comments;
DROP TABLE comments;
ALTER TABLE comments_new RENAME TO comments;
CREATE INDEX comments_by_entry ON comments (entry_id, status, id);
CREATE INDEX comments_by_email ON comments (author_email COLLATE NOCASE, status);

CREATE TABLE terms_new (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  taxonomy TEXT NOT NULL CHECK (taxonomy IN ('tag', 'section')),
  slug     TEXT NOT NULL,
  name     TEXT NOT NULL,
  UNIQUE (taxonomy, slug)
);
INSERT INTO terms_new (id, taxonomy, slug, name) SELECT id, taxonomy, slug, name FROM terms;
DROP TABLE terms;
ALTER TABLE terms_new RENAME TO terms;

CREATE TABLE users_new (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  login         TEXT NOT NULL UNIQUE,
  display_name  TEXT NOT NULL,
  email         TEXT,
  bio           TEXT,
  role          TEXT NOT NULL DEFAULT 'author'
                CHECK (role IN ('admin', 'editor', 'author', 'contributor')),
  password_hash TEXT,
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
INSERT INTO users_new (id, login, display_name, email, bio, role, password_hash, created_at)
  SELECT id, login, display_name, email, bio, role, password_hash, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

CREATE TABLE media_new (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  url        TEXT NOT NULL,
  title      TEXT NOT NULL DEFAULT '',
  mime       TEXT,
  entry_id   INTEGER REFERENCES entries(id) ON DELETE SET NULL,  -- the entry it belongs to
  source     TEXT,                                               -- e.g. 'wordpress:123'
  created_at TEXT NOT NULL,
  UNIQUE (source)
);
INSERT INTO media_new (id, url, title, mime, entry_id, source, created_at)
  SELECT id, url, title, mime, entry_id, source, created_at FROM media;
DROP TABLE media;
ALTER TABLE media_new RENAME TO media;
CREATE INDEX media_by_entry ON media (entry_id);

-- The copies above set each counter to the highest id left. Entries and comments deleted before
-- this migration are named in the audit log: their ids are not handed out again either.
INSERT INTO sqlite_sequence (name, seq) SELECT 'entries', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'entries');
INSERT INTO sqlite_sequence (name, seq) SELECT 'comments', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'comments');
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT max(CAST(substr(subject, 7) AS INTEGER)) FROM audit_log
  WHERE subject GLOB 'entry:[0-9]*'), 0)) WHERE name = 'entries';
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT max(CAST(substr(subject, 9) AS INTEGER)) FROM audit_log
  WHERE subject GLOB 'comment:[0-9]*'), 0)) WHERE name = 'comments';

-- The trash: a deleted entry keeps its row, revisions, comments and shares, with the status
-- 'trash' (never public: every public read asks for 'published'); this row remembers the status
-- to give back on untrash, and when and by whom it was trashed. Emptying the trash (by hand, or
-- the trash.empty job after site.lua trash_retention days) deletes the entry for good.
CREATE TABLE trash (
  entry_id   INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
  status     TEXT NOT NULL,
  trashed_at TEXT NOT NULL,
  actor      TEXT NOT NULL
);
CREATE INDEX trash_by_time ON trash (trashed_at);
