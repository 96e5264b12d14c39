-- SQLite 0016: the standfirst is indexed between the title and the body (weights A, B, C, so
-- ranking can weigh title > standfirst > body), English is stemmed (quire_english: unaccent, then
-- the English stemmer) and other languages are not (quire). The configuration in use lives in
-- quire_search_config (the store's own: `quire store copy` leaves it), set when a site opens
-- (store_sql_pg.search_use_language), which rebuilds the index when it changes.
-- Every word is indexed, stop words too, as SQLite's FTS5 does: a snowball stemmer without a
-- stop-word list.
CREATE TEXT SEARCH DICTIONARY quire_english_stem (TEMPLATE = snowball, Language = english);
CREATE TEXT SEARCH CONFIGURATION quire_english (COPY = english);
ALTER TEXT SEARCH CONFIGURATION quire_english ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
  WITH unaccent, quire_english_stem;

CREATE TABLE quire_search_config (
  one      boolean PRIMARY KEY DEFAULT true CHECK (one),
  language text NOT NULL
);
INSERT INTO quire_search_config (language) VALUES ('quire_english');

CREATE OR REPLACE FUNCTION quire_search_language() RETURNS regconfig LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT language FROM quire_search_config), 'quire')::regconfig
$$;
CREATE FUNCTION quire_entry_doc(title text, fields text, body text) RETURNS tsvector LANGUAGE sql STABLE AS $$
  SELECT setweight(to_tsvector(quire_search_language(), title), 'A')
    || setweight(to_tsvector(quire_search_language(), coalesce(fields::jsonb ->> 'standfirst', '')), 'B')
    || setweight(to_tsvector(quire_search_language(), body), 'C')
$$;
CREATE OR REPLACE FUNCTION quire_entries_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO entries_search (id, doc) VALUES (NEW.id, quire_entry_doc(NEW.title, NEW.fields, NEW.body))
    ON CONFLICT (id) DO UPDATE SET doc = excluded.doc;
  RETURN NULL;
END $$;
DROP TRIGGER entries_search_update ON entries;
CREATE TRIGGER entries_search_update AFTER UPDATE OF title, body, fields ON entries
  FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.body IS DISTINCT FROM NEW.body
    OR OLD.fields::jsonb -> 'standfirst' IS DISTINCT FROM NEW.fields::jsonb -> 'standfirst')
  EXECUTE FUNCTION quire_entries_search();

-- A match: 'w' or 'p' (the last word's last token a prefix), then the words as a text array.
CREATE FUNCTION quire_match(m text) RETURNS tsquery LANGUAGE sql STABLE AS $$
  SELECT string_agg('(' || CASE WHEN left(m, 1) = 'p' AND p.n = p.last
                               THEN regexp_replace(p.q::text, '''$', ''':*') ELSE p.q::text END || ')', ' & ')::tsquery
  FROM (SELECT phraseto_tsquery(quire_search_language(), w) AS q, n, count(*) OVER () AS last
        FROM unnest(substr(m, 2)::text[]) WITH ORDINALITY AS u(w, n)) p
  WHERE p.q::text <> ''
$$;

UPDATE entries_search s SET doc = quire_entry_doc(e.title, e.fields, e.body) FROM entries e WHERE e.id = s.id;
