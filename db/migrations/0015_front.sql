-- The edited front pages (lua/quire/front.lua): ordered slots per page, a breaking-news banner,
-- and the page views behind "most read".

-- Slot assignments. page: 'home' or 'section:<slug>'; slot 1 is the lead, 2.. the top stories.
-- An assignment is in force from starts_at until ends_at (NULL: until replaced); of those in
-- force for one slot the latest start wins, so an editor schedules the next lead by giving it a
-- later start. A slot with none in force falls back to the newest story not already shown.
CREATE TABLE front_slots (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  page       TEXT NOT NULL CHECK (page = 'home' OR page GLOB 'section:?*'),
  slot       INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 20),
  entry_id   INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
  starts_at  TEXT NOT NULL,
  ends_at    TEXT,
  created_at TEXT NOT NULL,
  created_by TEXT
);
CREATE INDEX front_slots_by_page ON front_slots (page, slot, starts_at);
CREATE INDEX front_slots_by_entry ON front_slots (entry_id);
-- The server looks every few seconds for starts and ends that have just passed.
CREATE INDEX front_slots_by_start ON front_slots (starts_at);
CREATE INDEX front_slots_by_end ON front_slots (ends_at);

-- Breaking-news banners: shown on every public page from starts_at until ends_at (required: a
-- banner nobody switches off would stay for ever); the newest in force wins.
CREATE TABLE front_breaking (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  text       TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 300),
  link       TEXT,
  starts_at  TEXT NOT NULL,
  ends_at    TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT
);
CREATE INDEX front_breaking_by_end ON front_breaking (ends_at);
CREATE INDEX front_breaking_by_start ON front_breaking (starts_at);

-- Page views of published entries, per entry and hour (epoch hours), counted from the readers'
-- browsers (POST /views/ID) and kept for two days; and the ranking made from them every few
-- minutes (scope 'all' or 'section:<slug>'), which pages read (cheap) instead of the counts.
CREATE TABLE entry_views (
  entry_id INTEGER NOT NULL,
  hour     INTEGER NOT NULL,
  count    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (entry_id, hour)
) WITHOUT ROWID;
CREATE INDEX entry_views_by_hour ON entry_views (hour);

CREATE TABLE most_read (
  scope    TEXT NOT NULL,
  rank     INTEGER NOT NULL,
  entry_id INTEGER NOT NULL,
  views    INTEGER NOT NULL,
  PRIMARY KEY (scope, rank)
) WITHOUT ROWID;
