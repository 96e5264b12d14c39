-- Quire's initial schema: content, taxonomy, revisions, comments, users, settings, jobs, search.
-- Times are UTC ISO-8601 text ('YYYY-MM-DDTHH:MM:SSZ'), so they sort as text and read as dates.

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  login         TEXT NOT NULL UNIQUE,
  display_name  TEXT NOT NULL,
  email         TEXT,
  bio           TEXT,
  role          TEXT NOT NULL DEFAULT 'author'
                CHECK (role IN ('admin', 'editor', 'author', 'contributor')),
  password_hash TEXT,
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE sessions (
  id         TEXT PRIMARY KEY,            -- hash of the session token, never the token itself
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf       TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);

CREATE TABLE api_tokens (
  id         INTEGER PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  last_used  TEXT
);

CREATE TABLE entries (
  id           INTEGER PRIMARY KEY,
  type         TEXT NOT NULL,
  slug         TEXT NOT NULL,
  status       TEXT NOT NULL DEFAULT 'draft'
               CHECK (status IN ('draft', 'review', 'scheduled', 'published', 'archived')),
  title        TEXT NOT NULL CHECK (length(title) > 0),
  body         TEXT NOT NULL DEFAULT '',
  fields       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(fields)),
  author_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL,
  published_at TEXT,
  UNIQUE (type, slug)
);
-- Listing order is "newest first" by publication, falling back to creation for drafts.
CREATE INDEX entries_by_date ON entries (coalesce(published_at, created_at), id);
CREATE INDEX entries_by_type_date ON entries (type, coalesce(published_at, created_at), id);
CREATE INDEX entries_published ON entries (status, type, published_at, id);
CREATE INDEX entries_author ON entries (author_id);

CREATE TABLE terms (
  id       INTEGER PRIMARY KEY,
  taxonomy TEXT NOT NULL CHECK (taxonomy IN ('tag', 'section')),
  slug     TEXT NOT NULL,
  name     TEXT NOT NULL,
  UNIQUE (taxonomy, slug)
);

CREATE TABLE entry_terms (
  entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
  term_id  INTEGER NOT NULL REFERENCES terms(id) ON DELETE CASCADE,
  position INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (entry_id, term_id)
) WITHOUT ROWID;
CREATE INDEX entry_terms_by_term ON entry_terms (term_id, entry_id);

CREATE TABLE revisions (
  id           INTEGER PRIMARY KEY,
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
  created_at   TEXT NOT NULL
);
CREATE INDEX revisions_by_entry ON revisions (entry_id, id);

CREATE TABLE comments (
  id           INTEGER PRIMARY KEY,
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
CREATE INDEX comments_by_entry ON comments (entry_id, status, id);

CREATE TABLE shares (
  entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
  network  TEXT NOT NULL,
  count    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (entry_id, network)
) WITHOUT ROWID;

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE jobs (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  run_at      TEXT NOT NULL,
  interval_s  INTEGER,
  payload     TEXT NOT NULL DEFAULT '{}',
  lease_owner TEXT,
  lease_until TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT
);
CREATE INDEX jobs_due ON jobs (run_at);

-- Page-cache invalidation: a write sets the tags it touches to a new, higher version (one
-- counter for all tags), so a worker can ask for "tags changed since version N".
CREATE TABLE cache_tags (
  tag     TEXT PRIMARY KEY,
  version INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX cache_tags_by_version ON cache_tags (version);

-- Full-text index over entries, kept in step by triggers inside the writing transaction.
CREATE VIRTUAL TABLE entries_fts USING fts5(
  title, body, content = 'entries', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
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
