-- Media records: files a site refers to (imported attachments, uploads later).
CREATE TABLE media (
  id         INTEGER PRIMARY KEY,
  url        TEXT NOT NULL,
  title      TEXT NOT NULL DEFAULT '',
  mime       TEXT,
  entry_id   INTEGER REFERENCES entries(id) ON DELETE SET NULL,  -- the entry it belongs to
  source     TEXT,                                               -- e.g. 'wordpress:123'
  created_at TEXT NOT NULL,
  UNIQUE (source)
);
CREATE INDEX media_by_entry ON media (entry_id);
