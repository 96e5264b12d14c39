-- Pages that cost the same at any archive size: the indexes keyset pagination walks, and the
-- counts related-post scoring needs, kept by triggers instead of counted on every request.

-- Entries of a status by date (the home page, feeds, the news sitemap), and an author's. A
-- published entry always has a published_at (the save sets it), so for published entries this
-- order equals the lists' coalesce(published_at, created_at). Not partial indexes: with
-- status as their first column the planner takes them for status = ? ... ORDER BY date.
CREATE INDEX entries_listed ON entries (status, published_at, id);
CREATE INDEX entries_author_listed ON entries (author_id, status, published_at, id);
DROP INDEX entries_author; -- a prefix of the one above

-- A tag's or section's published entries in date order: entry_terms carries its entry's
-- published_at while the entry is published (NULL otherwise), so a tag page is one index range.
ALTER TABLE entry_terms ADD COLUMN listed_at TEXT;
UPDATE entry_terms SET listed_at = (SELECT e.published_at FROM entries e WHERE e.id = entry_terms.entry_id AND e.status = 'published');
CREATE INDEX entry_terms_listed ON entry_terms (term_id, listed_at, entry_id) WHERE listed_at IS NOT NULL;

-- How many published entries carry each term, and how many are published in all (a tag's
-- rarity in related posts): counts kept in step with the rows above.
ALTER TABLE terms ADD COLUMN listed INTEGER NOT NULL DEFAULT 0;
UPDATE terms SET listed = (SELECT count(*) FROM entry_terms et WHERE et.term_id = terms.id AND et.listed_at IS NOT NULL);
CREATE TABLE entry_counts (
  status TEXT PRIMARY KEY,
  n      INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO entry_counts (status, n) SELECT status, count(*) FROM entries GROUP BY status;

CREATE TRIGGER entry_terms_listed_insert AFTER INSERT ON entry_terms BEGIN
  UPDATE entry_terms SET listed_at = (SELECT e.published_at FROM entries e WHERE e.id = new.entry_id AND e.status = 'published')
    WHERE entry_id = new.entry_id AND term_id = new.term_id;
END;
CREATE TRIGGER entry_terms_listed_update AFTER UPDATE OF listed_at, term_id ON entry_terms
WHEN old.listed_at IS NOT new.listed_at OR old.term_id IS NOT new.term_id BEGIN
  UPDATE terms SET listed = listed - 1 WHERE id = old.term_id AND old.listed_at IS NOT NULL;
  UPDATE terms SET listed = listed + 1 WHERE id = new.term_id AND new.listed_at IS NOT NULL;
END;
CREATE TRIGGER entry_terms_listed_delete AFTER DELETE ON entry_terms WHEN old.listed_at IS NOT NULL BEGIN
  UPDATE terms SET listed = listed - 1 WHERE id = old.term_id;
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

