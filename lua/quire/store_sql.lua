-- The SQL of the content model that only SQLite speaks, behind named functions: the one module
-- a second store (PostgreSQL) provides again. Everything else the content modules send is SQL
-- both stores read (SELECT/INSERT/UPDATE/DELETE, ON CONFLICT ... DO UPDATE, row values).
--
-- What a store driver implements:
--   the db object (core/lua_store.c): db:exec(sql, ...) -> changes, last inserted id;
--     db:row / db:rows / db:value; db:begin / db:commit / db:rollback / db:depth (nested
--     levels as savepoints); db:begin_read / db:end_read / db:reading (a read snapshot: one
--     snapshot and one read lock for many statements, no writes, depth 0); db:statements() (run
--     so far); db:readonly(sql); "?" parameters, bound by position ("?N" too);
--   this module's functions, each named for what it does:
--     M.IN_LIST, M.id_list(ids), M.value_list(values)  a list as one parameter ("x " .. IN_LIST)
--     M.bump_tags(db, tags)                            new cache-tag versions for a list of tags
--     M.attach(db, tx)                                 the search index's deferred upkeep
--     M.defer_search(db)                               (FTS5 external content, triggers)
--     M.fts_match(words, prefix) and the search_* functions  full-text search (FTS5 MATCH, bm25,
--                                                      the tokenizer of a language)
--     M.entries_of(db, columns, ids, ...)              entries of a list of ids
--     M.entries_naming(db, text, limit)                entries whose body or fields hold text
--     M.entries_with_field_value(db, type, field, v, limit)  entries whose field is v or lists it
--     M.pcall_unguarded(db, fn, ...)                  pcall(fn, ...) for code that rolls its level back
--                                                      after any failure (see below)
--     M.equals_nocase(column)                         "column = ?", ASCII case folded (the index's way)
--     M.unindexed(column)                              a column no index is picked by
--     M.JOIN_IN_ORDER                                  a join whose left side drives
--     M.CARD_ENTRIES                                   entries e looked up by id for its card columns
--     M.TERM_IDS_OF_E                                  a column: entry e's term ids in position order
--     M.TAG_IDS_OF_E                                   a column: entry e's tag ids, as text
--     M.children_of(db, type, id)                      entries whose fields.parent is id
--     M.numbered_slugs(db, type, base)                 slugs "base-N" of a type
--     M.copy_term_rows(db, from, into)                 a term merge (INSERT OR IGNORE)
--     M.word_counts, M.word_matches, M.keyword_neighbours, M.field_json, M.text_terms, M.text_terms_each   related posts
-- and the schema of db/migrations (with its triggers: entry counts, term counts, the search
-- index) in the second store's own dialect. db:exec returns the id of the row it inserted
-- (SQLite's last_insert_rowid; RETURNING id elsewhere).
-- Outside the content model, media.lua still holds SQLite-only SQL of its own,
-- and replace.lua (the set-based search-replace: temp tables, SQL functions made in C) is
-- SQLite's alone; on another store search-replace would take its entry-by-entry path.
local M = {}

-- A list as one parameter: "e.id " .. IN_LIST with id_list(ids) (integers) or value_list(values)
-- (text). table.concat formats integers far more cheaply than cjson (which formats every number
-- as a double).
M.IN_LIST = "IN (SELECT value FROM json_each(?))"
function M.id_list(ids)
  return "[" .. table.concat(ids, ",") .. "]"
end
local json = require("cjson").new()
function M.value_list(values)
  return json.encode(values)
end

-- Gives each of tags (a list) the next cache-tag version, in one statement (a batch of 1000
-- saves touches 1000 entry tags).
function M.bump_tags(db, tags)
  local v = db:value("SELECT coalesce(max(version), 0) + 1 FROM cache_tags")
  db:exec("INSERT INTO cache_tags (tag, version) SELECT value, ? FROM json_each(?) WHERE true"
    .. " ON CONFLICT (tag) DO UPDATE SET version = excluded.version", v, json.encode(tags))
end

-- Entry saves nested in a batch leave re-indexing to the end of the outermost transaction (see
-- db/migrations/0006_search_deferred.sql); a save on its own is indexed by the triggers at once.
-- Every entry write (save, delete) calls this in its transaction: the commit then merges the
-- index's segments (MERGE_PAGES).
local deferring = setmetatable({}, { __mode = "k" }) -- db -> true while a batch defers
local writes = setmetatable({}, { __mode = "k" }) -- db -> entry writes in this transaction
function M.defer_search(db)
  writes[db] = (writes[db] or 0) + 1
  if deferring[db] or db:depth() < 2 then return end
  db:exec("INSERT OR IGNORE INTO search_deferred (id) VALUES (1)")
  deferring[db] = true
end
-- FTS5 writes a new segment of the index at each commit (and more in a large batch), and every
-- MATCH pays for each segment (~1.5 us a word, each): its own automerge leaves up to 3 a level,
-- 18 after the bench import of 2,000 entries. So each commit that wrote entries merges up to
-- MERGE_PAGES pages per entry written (bounded work per write), on any level with 2 segments or
-- more (usermerge, db/migrations/0031): one segment a level, 8 after 2,000 saves one by one.
-- (Fewer pages a save leave merges half done: 42 segments with 8.)
local MERGE_PAGES = 64
local function merge_search(db)
  local n = writes[db]
  if not n then return end
  writes[db] = nil
  db:exec("INSERT INTO entries_fts (entries_fts, rank) VALUES ('merge', ?)", MERGE_PAGES * n)
end
local function flush_search(db)
  if not deferring[db] then return merge_search(db) end
  deferring[db] = nil
  -- Entries whose text is back to what the index holds need nothing. (entries_search: the text
  -- as the index takes it, the standfirst out of the fields; db/migrations/0016.)
  db:exec("INSERT INTO entries_fts (entries_fts, rowid, title, standfirst, body) SELECT 'delete', p.id, p.title, p.standfirst, p.body"
    .. " FROM search_pending p LEFT JOIN entries_search e ON e.id = p.id"
    .. " WHERE p.title IS NOT NULL AND (e.id IS NULL OR e.title IS NOT p.title OR e.body IS NOT p.body OR e.standfirst IS NOT p.standfirst)")
  db:exec("INSERT INTO entries_fts (rowid, title, standfirst, body) SELECT e.id, e.title, e.standfirst, e.body"
    .. " FROM search_pending p JOIN entries_search e ON e.id = p.id"
    .. " WHERE p.title IS NULL OR e.title IS NOT p.title OR e.body IS NOT p.body OR e.standfirst IS NOT p.standfirst")
  db:exec("DELETE FROM search_pending")
  db:exec("DELETE FROM search_deferred")
  merge_search(db)
end
-- Registers the deferred index upkeep with the site's transactions (quire.transaction).
function M.attach(db, tx)
  tx:on_begin(function() deferring[db], writes[db] = nil, nil end) -- left over from a raw rollback
  tx:on_commit(function() flush_search(db) end)
end

-- Full-text search (db/migrations/0016: columns title, standfirst, body). words: the words and
-- phrases of a query (quire.content.search checks them); the match is every one, each a phrase
-- of the tokens the index splits it into; with prefix, the last one's last token is a prefix.
function M.fts_match(words, prefix)
  local terms = {}
  for i = 1, #words do terms[i] = '"' .. words[i]:gsub('"', '""') .. '"' end
  if prefix and #terms > 0 then terms[#terms] = terms[#terms] .. "*" end
  return table.concat(terms, " "), terms
end
-- Whether more than n entries match (one step past them along the index).
function M.search_more_than(db, match, n)
  return db:value("SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?", match, n) ~= nil
end
-- How many entries match, counting no further than n.
function M.search_count_upto(db, match, n)
  return db:value("SELECT count(*) FROM (SELECT 1 FROM entries_fts WHERE entries_fts MATCH ? LIMIT ?)", match, n)
end
-- The ids of the newest n matches, newest first.
function M.search_window(db, match, n)
  return db:rows("SELECT rowid AS id FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid DESC LIMIT ?", match, n)
end
-- At most limit matches as columns plus: chars (the body's length), body (bm25 over the body
-- alone, smaller is better), in_title and in_standfirst (below 0 when the column matched);
-- filter: " AND ..." over e, with its parameters.
function M.search_scored(db, columns, match, filter, fparams, limit)
  local n = #fparams
  local args = { match, table.unpack(fparams, 1, n) }
  args[n + 2] = limit
  return db:rows(columns .. ", length(e.body) AS chars, bm25(entries_fts, 0, 0, 1) AS body,"
    .. " bm25(entries_fts, 1, 0, 0) AS in_title, bm25(entries_fts, 0, 1, 0) AS in_standfirst"
    .. " FROM entries_fts CROSS JOIN entries e ON e.id = entries_fts.rowid WHERE entries_fts MATCH ?" .. filter .. " LIMIT ?",
    table.unpack(args, 1, n + 2))
end
-- The set of ids >= lo (0: all) that match and have term (or, without it, the whole match) in column.
function M.search_in_column(db, match, column, term, lo)
  local set = {}
  local q = term and ("(%s) AND %s : %s"):format(match, column, term) or ("%s : (%s)"):format(column, match)
  for _, r in ipairs(db:rows("SELECT rowid AS id FROM entries_fts WHERE entries_fts MATCH ? AND rowid >= ?", q, lo or 0)) do
    set[r.id] = true
  end
  return set
end
-- The snippet of entry id's body around the matches (its opening when only the title or the
-- standfirst matched): the text with each match between \2 and \3, "…" at each end that cuts
-- the body.
function M.search_snippet(db, match, id)
  return db:value("SELECT snippet(entries_fts, 2, char(2), char(3), '…', 16) FROM entries_fts"
    .. " WHERE entries_fts MATCH ? AND rowid = ?", match, id)
end
-- Where entry id's body first has text (a character index, from 1), the at most width characters
-- before it, and its first character; nil when it has none.
function M.search_before(db, id, text, width)
  local r = db:row("SELECT at, substr(body, max(1, at - ?), at - max(1, at - ?)) AS w, substr(body, at, 1) AS c"
    .. " FROM (SELECT instr(body, ?) AS at, body FROM entries WHERE id = ?) WHERE at > 0", width, width, text, id)
  if r then return r.at, r.w, r.c end
end
-- The index's tokenizer for a language: FTS5 stems only English (porter); other languages get
-- their words as written (unicode61 folds case and accents for all).
function M.search_tokenizer(language)
  local base = "unicode61 remove_diacritics 2"
  if (language or "en"):lower():match("^en") then return "porter " .. base end
  return base
end
-- Rebuilds the index from the entries with the tokenizer of language, unless it has it already.
-- Returns true when it rebuilt.
function M.search_use_language(db, language)
  local want = M.search_tokenizer(language)
  local function current()
    local sql = db:value("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'entries_fts'") or ""
    return sql:match("tokenize%s*=%s*'([^']*)'")
  end
  if current() == want then return false end
  db:begin()
  local ok, err = pcall(function()
    if current() == want then return end -- another process did it meanwhile
    local settings = db:rows("SELECT k, v FROM entries_fts_config WHERE k <> 'version'") -- the migrations'
    db:exec("DROP TABLE entries_fts")
    db:exec(("CREATE VIRTUAL TABLE entries_fts USING fts5(title, standfirst, body, content = 'entries_search',"
      .. " content_rowid = 'id', tokenize = '%s', prefix = '2 3')"):format(want))
    for _, r in ipairs(settings) do db:exec("INSERT INTO entries_fts (entries_fts, rank) VALUES (?, ?)", r.k, r.v) end
    db:exec("INSERT INTO entries_fts (entries_fts) VALUES ('rebuild')")
    db:exec("INSERT INTO entries_fts (entries_fts) VALUES ('optimize')") -- one segment
  end)
  if not ok then
    db:rollback()
    error(err, 0)
  end
  db:commit()
  return true
end

-- The entries of a list of ids (columns: "SELECT e.x, ..."; filter: " AND ..." over e, with its
-- parameters), the list driving the join (the planner would rather walk every entry of the
-- status). Without e.body, from the index of cards (CARD_ENTRIES); with it, from the rows (the
-- index would be one more lookup a row).
function M.entries_of(db, columns, ids, filter, fparams)
  local from = (columns:find("e.body", 1, true) or filter:find("e.body", 1, true)) and "entries e" or M.CARD_ENTRIES
  return db:rows(columns .. " FROM json_each(?) w CROSS JOIN " .. from .. " ON e.id = w.value WHERE true" .. filter, M.id_list(ids), table.unpack(fparams))
end

-- The ids of at most limit entries whose body or fields (the JSON text) contain text, in id order.
function M.entries_naming(db, text, limit)
  return db:rows("SELECT id FROM entries WHERE instr(body, ?) > 0 OR instr(fields, ?) > 0 ORDER BY id LIMIT ?", text, text, limit)
end

-- The ids of at most limit entries of a type whose field (of fields) is value, or a list holding
-- it (json_each over a number is that one value; over a list, its items).
function M.entries_with_field_value(db, type_name, field, value, limit)
  return db:rows("SELECT id FROM entries WHERE type = ? AND EXISTS (SELECT 1 FROM json_each(entries.fields, ?) WHERE value = ?) LIMIT ?",
    type_name, "$." .. field, value, limit)
end

-- A condition: column equals one parameter, ASCII letters' case aside (COLLATE NOCASE, as the
-- index comments_by_email).
function M.equals_nocase(column)
  return column .. " = ? COLLATE NOCASE"
end

-- pcall(fn, ...) for code whose level is rolled back after any failure in it (a save under the
-- poison protocol: quire.transaction). SQLite undoes a failed statement alone, with nothing to
-- turn off; on PostgreSQL each statement of a transaction otherwise pays for a savepoint.
M.pcall_unguarded = function(_, fn, ...) return pcall(fn, ...) end

-- A join that keeps its written order (the left side drives): SQLite's CROSS JOIN ... ON.
M.JOIN_IN_ORDER = "CROSS JOIN"

-- entries e where a statement finds rows by e.id and reads their columns other than the body:
-- through the index that holds them (db/migrations/0033), which SQLite does not choose over the
-- rowid by itself. (Only for lookups by id: the hint makes any other filter scan the index. A
-- body read too comes from the row, as it would.)
M.CARD_ENTRIES = "entries e INDEXED BY entries_cards"

-- A column the planner must not pick an index by (SQLite's unary +): a filter checked on the
-- rows another index's walk finds.
function M.unindexed(column)
  return "+" .. column
end

-- The ids of the entries of a type whose fields.parent is id (a nested page's children).
function M.children_of(db, type_name, id)
  return db:rows("SELECT id FROM entries WHERE type = ? AND json_extract(fields, '$.parent') = ?", type_name, id)
end

-- The slugs of a type that are base followed by "-" and digits.
function M.numbered_slugs(db, type_name, base)
  return db:rows("SELECT slug FROM entries WHERE type = ? AND slug GLOB ?", type_name, base .. "-[0-9]*")
end

-- Gives every entry of term from the term into as well (keeping positions); entries that have
-- both keep the one row.
function M.copy_term_rows(db, from, into)
  db:exec("INSERT OR IGNORE INTO entry_terms (entry_id, term_id, position) SELECT entry_id, ?, position FROM entry_terms WHERE term_id = ?", into, from)
end

-- Related posts (lua/quire/related.lua). words: plain words (letters and digits, lower case).
-- How many entries the search index finds each word in (any status: the index's own document
-- frequency), counting no further than cap + 1 (a walk of at most that many postings per word):
-- a list parallel to words, from one statement. Each word's phrase is walked by the FTS5
-- function quire_related_counts (core/lua_related.c, made on the connection at first use), on
-- the first entry the index finds any of them in (none: none finds any). Without it, or when the
-- index drops a phrase (one of no token), a word past the cap is told by an OFFSET, a quarter
-- cheaper a posting than counting rows of a subquery, and only the others (walked twice, but
-- each short of the cap) are counted.
local counts_fn = setmetatable({}, { __mode = "k" }) -- db -> whether it has quire_related_counts
local function word_counts_probed(db, words, cap)
  local cols, args = {}, {}
  for i, w in ipairs(words) do
    cols[i] = ("coalesce((SELECT ?%d FROM entries_fts WHERE entries_fts MATCH ?%d LIMIT 1 OFFSET ?%d - 1),"
      .. " (SELECT count(*) FROM entries_fts WHERE entries_fts MATCH ?%d)) AS n%d"):format(2 * i, 2 * i - 1, 2 * i, 2 * i - 1, i)
    args[2 * i - 1], args[2 * i] = '"' .. w .. '"', cap + 1
  end
  local row = db:row("SELECT " .. table.concat(cols, ", "), table.unpack(args))
  local out = {}
  for i = 1, #words do out[i] = row["n" .. i] end
  return out
end
function M.word_counts(db, words, cap)
  if #words == 0 then return {} end
  local has = counts_fn[db]
  if has == nil then
    has = require("quire.core").related_count_function(db)
    counts_fn[db] = has
  end
  if not has then return word_counts_probed(db, words, cap) end
  local phrases = {}
  for i, w in ipairs(words) do phrases[i] = '"' .. w .. '"' end
  local got = db:value("SELECT quire_related_counts(entries_fts, ?) FROM entries_fts WHERE entries_fts MATCH ? LIMIT 1",
    cap, table.concat(phrases, " OR "))
  local out = {}
  if got == nil then
    for i = 1, #words do out[i] = 0 end
    return out
  end
  for n in got:gmatch("%d+") do out[#out + 1] = math.tointeger(n) end
  if #out ~= #words then return word_counts_probed(db, words, cap) end
  return out
end
-- The published entries of types (a list), but not entry skip, that the index finds any of words
-- in, each scored by the sum of the weights (integers, parallel to words) of the words it has:
-- the best limit, best first, then the higher id. Rows: id, score.
function M.word_matches(db, words, weights, types, skip, limit)
  local parts, args = {}, {}
  for i, w in ipairs(words) do
    parts[i] = "SELECT rowid AS id, ? AS w FROM entries_fts WHERE entries_fts MATCH ?"
    args[2 * i - 1], args[2 * i] = weights[i], '"' .. w .. '"'
  end
  local n = #args
  args[n + 1], args[n + 2], args[n + 3] = M.value_list(types), skip, limit
  return db:rows("SELECT g.id, g.score FROM (SELECT m.id, sum(m.w) AS score FROM (" .. table.concat(parts, " UNION ALL ")
    .. ") m GROUP BY m.id) g CROSS JOIN " .. M.CARD_ENTRIES .. " ON e.id = g.id WHERE e.status = 'published' AND e.type " .. M.IN_LIST
    .. " AND e.id <> ? ORDER BY g.score DESC, g.id DESC LIMIT ?", table.unpack(args, 1, n + 3))
end
-- Of the published entries of types nearest to (at, at_id) in publication order, window on each
-- side, the ids of those whose list field `field` holds any of keywords (lower case; compared
-- lower-cased). A field that is not a list holds none.
function M.keyword_neighbours(db, field, keywords, types, at, at_id, window)
  local near = "SELECT * FROM (SELECT e.id, e.fields FROM entries e WHERE e.status = 'published' AND +e.type " .. M.IN_LIST
    .. " AND (e.published_at, e.id) %s (?, ?) ORDER BY e.published_at %s, e.id %s LIMIT %d) n"
  local path, list = "$." .. field, M.value_list(types)
  return db:rows("SELECT n.id FROM (" .. near:format("<", "DESC", "DESC", window) .. " UNION ALL "
    .. near:format(">", "ASC", "ASC", window) .. ") n WHERE json_type(n.fields, ?) = 'array'"
    .. " AND EXISTS (SELECT 1 FROM json_each(n.fields, ?) k WHERE lower(k.value) " .. M.IN_LIST .. ")",
    list, at, at_id, list, at, at_id, path, path, M.value_list(keywords))
end
-- A column of a select: the list field `field` of entries e as JSON text (NULL without it), with
-- its one parameter.
function M.field_json(field)
  return "json_extract(e.fields, ?)", "$." .. field
end

-- The distinct terms the search index makes of texts (a list of strings), as its tokenizer
-- makes them (folded, stemmed where it stems): what a MATCH of one of them finds. Tokenized by an
-- index of the same tokenizer in a private in-memory database, so a read (a page being rendered)
-- writes nothing on the site's connection; made at first use in the process. (The site's
-- tokenizer is read once per connection: it changes only when a site opens with a new language.)
local terms_db, terms_tokenizer
local tokenizer_of = setmetatable({}, { __mode = "k" })
local function terms_index(db)
  local tokenizer = tokenizer_of[db]
  if not tokenizer then
    local sql = db:value("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'entries_fts'") or ""
    tokenizer = sql:match("tokenize%s*=%s*'([^']*)'") or "unicode61"
    tokenizer_of[db] = tokenizer
  end
  if terms_tokenizer ~= tokenizer then
    terms_db = terms_db or assert(require("quire.core").open_store(":memory:", { migrate = false }))
    terms_db:exec("DROP TABLE IF EXISTS temp.text_terms_v")
    terms_db:exec("DROP TABLE IF EXISTS temp.text_terms_i")
    terms_db:exec("DROP TABLE IF EXISTS temp.text_terms")
    -- Contentless: only its index is read, and 'delete-all' empties it without tokenizing again.
    terms_db:exec("CREATE VIRTUAL TABLE temp.text_terms USING fts5(t, content = '', tokenize = '" .. tokenizer:gsub("'", "''") .. "')")
    terms_db:exec("CREATE VIRTUAL TABLE temp.text_terms_v USING fts5vocab(temp, text_terms, row)")
    terms_db:exec("CREATE VIRTUAL TABLE temp.text_terms_i USING fts5vocab(temp, text_terms, instance)")
    terms_tokenizer = tokenizer
  end
  return terms_db
end
function M.text_terms(db, texts)
  local tdb = terms_index(db)
  for _, t in ipairs(texts) do
    if t ~= "" then tdb:exec("INSERT INTO temp.text_terms (t) VALUES (?)", t) end
  end
  local out = {}
  for i, r in ipairs(tdb:rows("SELECT term FROM temp.text_terms_v")) do out[i] = r.term end
  tdb:exec("INSERT INTO temp.text_terms (text_terms) VALUES ('delete-all')")
  return out
end
-- The terms of each of texts apart: a list parallel to texts of lists of distinct terms (from the
-- tokenizer, or in one statement: the texts of a page's related words, kept word by word).
function M.text_terms_each(db, texts)
  local tdb = terms_index(db)
  -- Straight from the tokenizer when its spec is plain words (the site's always are), else
  -- through the table.
  local out = require("quire.core").related_terms(tdb, terms_tokenizer, texts)
  if out then return out end
  out = {}
  for i = 1, #texts do out[i] = {} end
  tdb:exec("INSERT INTO temp.text_terms (rowid, t) SELECT key + 1, value FROM json_each(?) WHERE value <> ''", M.value_list(texts))
  for _, r in ipairs(tdb:rows("SELECT DISTINCT doc, term FROM temp.text_terms_i")) do
    local list = out[r.doc]
    list[#list + 1] = r.term
  end
  tdb:exec("INSERT INTO temp.text_terms (text_terms) VALUES ('delete-all')")
  return out
end

-- The catalog, for export and import (quire.transfer): what tables the site has, their columns,
-- keys and id counters.
--   M.tables(db)                 the site's tables, sorted (the store's own bookkeeping and
--                                search index left out)
--   M.has_table(db, name)
--   M.columns(db, name)          columns in order, primary-key columns in key order, and the
--                                column that is the row's integer id, if one is
--   M.ROWID(id_column)           what names a row in SQL (SQLite: rowid, else the id column)
--   M.foreign_keys(db, name)     { parent =, col =, target = } in declaration order
--   M.unique_keys(db, name)      column lists of the unique keys besides the primary key
--   M.id_counter(db, name, col)  the highest id the table's counter handed out; nil: none
--   M.set_id_counter(db, name, col, n)  the next id it hands out is n + 1
--   M.id_taken(db, name, col, id)       an id written as it is: the counter passes it
function M.tables(db)
  local names, shadow = {}, {}
  for _, r in ipairs(db:rows("SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name")) do
    if (r.sql or ""):match("^CREATE VIRTUAL TABLE") then shadow[#shadow + 1] = r.name end
  end
  for _, r in ipairs(db:rows("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")) do
    local own = r.name:match("^sqlite_")
    for _, v in ipairs(shadow) do
      if r.name == v or r.name:sub(1, #v + 1) == v .. "_" then own = true end
    end
    if not own then names[#names + 1] = r.name end
  end
  return names
end
function M.has_table(db, name)
  return db:value("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", name) ~= nil
end
function M.columns(db, name)
  local cols, pk, id_column = {}, {}, nil
  for _, c in ipairs(db:rows("SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid", name)) do
    cols[#cols + 1] = c.name
    if c.pk > 0 then pk[c.pk] = c.name end
  end
  local without_rowid = (db:value("SELECT sql FROM sqlite_schema WHERE name = ?", name) or ""):match("WITHOUT%s+ROWID")
  if #pk == 1 and not without_rowid then
    local t = db:value("SELECT upper(type) FROM pragma_table_info(?) WHERE name = ?", name, pk[1])
    if t == "INTEGER" then id_column = pk[1] end
  end
  return cols, pk, id_column
end
function M.ROWID() return "rowid" end
function M.foreign_keys(db, name)
  return db:rows("SELECT \"table\" AS parent, \"from\" AS col, \"to\" AS target FROM pragma_foreign_key_list(?) ORDER BY id", name)
end
function M.unique_keys(db, name)
  local keys = {}
  for _, ix in ipairs(db:rows("SELECT name FROM pragma_index_list(?) WHERE \"unique\" AND origin <> 'pk'", name)) do
    local cols = {}
    for _, c in ipairs(db:rows("SELECT name FROM pragma_index_info(?) ORDER BY seqno", ix.name)) do cols[#cols + 1] = c.name end
    if #cols > 0 then keys[#keys + 1] = cols end
  end
  return keys
end
-- (SQLite: sqlite_sequence, for AUTOINCREMENT tables only; it follows ids written as they are.)
local function autoincrement(db, name)
  return ((db:value("SELECT sql FROM sqlite_schema WHERE name = ?", name) or ""):upper():find("AUTOINCREMENT", 1, true)) ~= nil
end
function M.id_counter(db, name)
  if not autoincrement(db, name) then return nil end
  return db:value("SELECT seq FROM sqlite_sequence WHERE name = ?", name) or 0
end
function M.set_id_counter(db, name, _, n)
  db:exec("DELETE FROM sqlite_sequence WHERE name = ?", name)
  if n > 0 then db:exec("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", name, n) end
end
function M.id_taken() end

-- A column of an entries row `e`: the ids of its terms (tags and section) in position order,
-- "12,7,40" (NULL: none), so an entry and its terms are read by one statement and their names
-- from a cache (quire.content.reads). (SQLite 3.40 has no ORDER BY inside an aggregate: the
-- walk of the index in position order gives it.)
M.TERM_IDS_OF_E = "(SELECT group_concat(et.term_id) FROM entry_terms et INDEXED BY entry_terms_in_order WHERE et.entry_id = e.id)"

-- A column of an entries row `e`: the ids of its tags as text, "id,id,..." in the order of
-- its row's index (entry_id, position, term_id), NULL for none.
M.TAG_IDS_OF_E = "(SELECT group_concat(et.term_id) FROM entry_terms et CROSS JOIN terms t ON t.id = et.term_id"
  .. " WHERE et.entry_id = e.id AND t.taxonomy = 'tag')"

-- A site on PostgreSQL (db:kind()) takes these functions from quire.store_sql_pg instead.
-- The choice is made for the process when a site opens (attach runs at every quire.open):
-- one process serves one site.
local own = {}
for k, v in pairs(M) do own[k] = v end
function M.attach(db, tx)
  local impl = db.kind and require("quire.store_sql_pg") or own
  for k, v in pairs(impl) do
    if k ~= "attach" then M[k] = v end
  end
  return impl.attach(db, tx)
end

return M
