-- Old URLs that answer with a redirect (served before the router), what an import brought in
-- from where (so a second import updates instead of duplicating), and sections inside sections.

CREATE TABLE redirects (
  id         INTEGER PRIMARY KEY,
  from_path  TEXT NOT NULL UNIQUE,          -- "/2013/01/old-slug" (no trailing slash) or "/?p=123"
  to_path    TEXT,                          -- a path on this site or an absolute http(s) URL ...
  to_entry   INTEGER REFERENCES entries(id) ON DELETE CASCADE, -- ... or an entry, at its permalink now
  status     INTEGER NOT NULL DEFAULT 301 CHECK (status IN (301, 302, 308)),
  source     TEXT NOT NULL DEFAULT 'manual', -- 'wordpress', 'rename', 'slug', 'manual'
  created_at TEXT NOT NULL,
  CHECK ((to_path IS NULL) <> (to_entry IS NULL))
);
CREATE INDEX redirects_by_entry ON redirects (to_entry);

-- One row per imported thing. key identifies it in the source: a WordPress post by its GUID
-- and id (GUID#id: exports repeat GUIDs, and two exports of one site reuse ids), a comment by
-- its post's key and id, a term by site URL#slug; ext_id is the WordPress id (post, comment)
-- or slug (term) as the export gave it.
CREATE TABLE import_map (
  source   TEXT NOT NULL,               -- 'wordpress'
  kind     TEXT NOT NULL,               -- 'post', 'comment', 'category', 'tag'
  key      TEXT NOT NULL,
  ext_id   TEXT NOT NULL,
  guid     TEXT,
  local_id INTEGER NOT NULL,            -- entries.id, comments.id or terms.id
  PRIMARY KEY (source, kind, key)
) WITHOUT ROWID;

-- A section may sit inside another (WordPress category parents).
ALTER TABLE terms ADD COLUMN parent_id INTEGER REFERENCES terms(id) ON DELETE SET NULL;
