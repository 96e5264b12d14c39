-- Cards are read from indexes, not from entries' rows.
-- An entry's row holds its body (~6.5 kB in the bench's stories): a row of that size keeps ~2.4
-- kB in its table page and the rest in overflow pages, so each entry's row takes a page of its
-- own. A card reads the row's other columns only, yet touched a page per entry: a list of ten
-- cards ten pages spread over the file, which a 16 MB page cache could not keep (an export
-- worker re-read each entry's page ~6 times; 118,000 of a full N=10000 export's reads).
-- These indexes hold every column but the body, so a card read is answered from them (SQLite
-- reads a statement's columns from the index alone when the index holds them all): the bench's
-- 10,000 cards fit in ~400 pages of each (its fields are short; a few hundred bytes of fields
-- leave ~8 cards a page), which stay in the cache.
-- 1. By id (entries_cards): a card by its id, the cards of a list of ids, a term's list (its
-- ids from entry_terms). SQLite looks a row up by its rowid whatever other index holds the
-- columns, so those statements name this index (store_sql.CARD_ENTRIES).
CREATE INDEX entries_cards ON entries (id, type, slug, status, title, fields, author_id, created_at, updated_at, published_at);
-- 2. The walks of 0010 in date order (the newest entries, an author's) and of 0007 by type (a
-- type's list, an entry's neighbours), the same keys first: their statements read the cards with
-- the walk. All three hold every card column: SQLite prefers an index that holds a statement's
-- columns, and one of them holding fewer would lose its walks to another's (a type's list of
-- cards walked every published entry by entries_listed, checking the type on each).
DROP INDEX entries_listed;
CREATE INDEX entries_listed ON entries (status, published_at, id, type, slug, title, fields, author_id, created_at, updated_at);
DROP INDEX entries_author_listed;
CREATE INDEX entries_author_listed ON entries (author_id, status, published_at, id, type, slug, title, fields, created_at, updated_at);
DROP INDEX entries_published;
CREATE INDEX entries_published ON entries (status, type, published_at, id, slug, title, fields, author_id, created_at, updated_at);
