-- The newsroom's web admin (lua/quire/newsroom.lua): soft edit locks, autosaves, staged edits of
-- published entries, editorial notes and corrections. None of it is ever shown to readers but the
-- corrections of published entries.

-- Who has an entry open in the editor: a soft lock, kept alive by the editor's heartbeat; one
-- older than newsroom.LOCK_STALE seconds is free to take.
CREATE TABLE edit_locks (
  entry_id     INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
  user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  since        TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL
);

-- A user's unsaved form, saved as they type: separate from the entry and its revisions, so an
-- autosave never overwrites the saved story. key: 'entry:ID' or 'new:TYPE'.
CREATE TABLE autosaves (
  user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key           TEXT NOT NULL,
  entry_id      INTEGER REFERENCES entries(id) ON DELETE CASCADE,
  base_revision INTEGER,
  data          TEXT NOT NULL, -- JSON: the form's values
  saved_at      TEXT NOT NULL,
  PRIMARY KEY (user_id, key)
);

-- A published entry's pending version: what its editors saved since, kept out of the live entry
-- until someone allowed to publishes it (at once, or at publish_at by the job).
CREATE TABLE staged_edits (
  entry_id      INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
  base_revision INTEGER NOT NULL, -- the live revision it was made from
  version       INTEGER NOT NULL DEFAULT 1,
  data          TEXT NOT NULL,    -- JSON: the changes, as quire.content.update takes them
  user_id       INTEGER REFERENCES users(id) ON DELETE SET NULL,
  updated_at    TEXT NOT NULL,
  publish_at    TEXT              -- scheduled: applied by the newsroom.staged job
);
CREATE INDEX staged_edits_due ON staged_edits (publish_at) WHERE publish_at IS NOT NULL;

-- Notes between the desk's staff about an entry; never public.
CREATE TABLE editorial_notes (
  id         INTEGER PRIMARY KEY,
  entry_id   INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
  user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
  body       TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX editorial_notes_entry ON editorial_notes (entry_id, id);

-- A published change marked as a correction: shown on the story as a dated line and in its JSON-LD.
CREATE TABLE corrections (
  id          INTEGER PRIMARY KEY,
  entry_id    INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
  revision_id INTEGER REFERENCES revisions(id) ON DELETE SET NULL,
  note        TEXT NOT NULL,
  user_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX corrections_entry ON corrections (entry_id, id);
