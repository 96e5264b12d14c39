-- The SQL of the content model that SQLite speaks one way and PostgreSQL another: the
-- PostgreSQL side of quire.store_sql, function for function (see that module for what each
-- does). Search runs on entries_search (a weighted tsvector per entry, GIN-indexed, kept by a
-- trigger: db/pg/0012_schema.sql), so there is no deferred upkeep to do.
local M = {}

-- A list as one parameter: an array literal the server types from the other side of = ANY.
M.IN_LIST = "= ANY(?)"
function M.id_list(ids)
  return "{" .. table.concat(ids, ",") .. "}"
end
local function array_of_text(values)
  local out = {}
  for i, v in ipairs(values) do out[i] = '"' .. tostring(v):gsub('[\\"]', "\\%0") .. '"' end
  return "{" .. table.concat(out, ",") .. "}"
end
M.value_list = array_of_text

-- Cache-tag versions come from one counter, taken under the site's write lock (qr_pg_begin),
-- so versions commit in the order they were given out and a node that has seen version N has
-- seen every version below it. The write notifies quire_data when the transaction commits
-- (db/pg/0027's trigger): nodes that LISTEN there wake and read the tags changed since their
-- last version.
function M.bump_tags(db, tags)
  local own = db:depth() == 0
  if own then db:begin() end
  local ok, err = pcall(function()
    local v = db:value("SELECT coalesce(max(version), 0) + 1 FROM cache_tags")
    db:exec("INSERT INTO cache_tags (tag, version) SELECT t, ? FROM unnest(?::text[]) t"
      .. " ON CONFLICT (tag) DO UPDATE SET version = excluded.version", v, array_of_text(tags))
  end)
  if own then
    if ok then db:commit() else db:rollback() end
  end
  if not ok then error(err, 0) end
end

-- The index is kept by its trigger in the writing transaction: nothing to defer.
function M.defer_search() end
function M.attach() end

-- The match: "w" (or "p": the last word's last token is a prefix) and the words as an array
-- literal; quire_match() makes the tsquery on the server, each word the phrase of its tokens,
-- so no query syntax comes from the reader. terms: one match per word.
function M.fts_match(words, prefix)
  if #words == 0 then return "", {} end
  if prefix then
    -- A hyphenated word is indexed whole and as its parts ('tidal-barrage', 'tidal', 'barrag'):
    -- the one being typed ("tidal-barr") matches by its parts, next to each other.
    words = table.move(words, 1, #words, 1, {})
    words[#words] = words[#words]:gsub("(%w)%-+%f[%w]", "%1 ")
  end
  local terms = {}
  for i = 1, #words do terms[i] = ((prefix and i == #words) and "p" or "w") .. array_of_text({ words[i] }) end
  return (prefix and "p" or "w") .. array_of_text(words), terms
end
function M.search_more_than(db, match, n)
  return db:value("SELECT id FROM entries_search WHERE doc @@ quire_match(?) ORDER BY id DESC LIMIT 1 OFFSET ?", match, n) ~= nil
end
function M.search_count_upto(db, match, n)
  return db:value("SELECT count(*) FROM (SELECT 1 FROM entries_search WHERE doc @@ quire_match(?) LIMIT ?) m", match, n)
end
function M.search_window(db, match, n)
  return db:rows("SELECT id FROM entries_search WHERE doc @@ quire_match(?) ORDER BY id DESC LIMIT ?", match, n)
end
-- Per column (title A, standfirst B, body C: db/pg/0016) a ts_rank of that weight alone,
-- negated: below 0 when the column matched, smaller is better, as the SQLite side's bm25.
function M.search_scored(db, columns, match, filter, fparams, limit)
  local n = #fparams
  local args = { match, table.unpack(fparams, 1, n) }
  args[n + 2] = limit
  return db:rows(columns .. ", length(e.body) AS chars, -ts_rank('{0, 1, 0, 0}', s.doc, q.q) AS body,"
    .. " -ts_rank('{0, 0, 0, 1}', s.doc, q.q) AS in_title, -ts_rank('{0, 0, 1, 0}', s.doc, q.q) AS in_standfirst"
    .. " FROM (SELECT quire_match(?) AS q) q JOIN entries_search s ON s.doc @@ q.q JOIN entries e ON e.id = s.id WHERE true"
    .. filter .. " LIMIT ?", table.unpack(args, 1, n + 2))
end
local WEIGHT = { title = "{a}", standfirst = "{b}", body = "{c}" }
function M.search_in_column(db, match, column, term, lo)
  local w = WEIGHT[column] or error("no search column " .. tostring(column), 2)
  local set, rows = {}, nil
  if term then
    rows = db:rows("SELECT id FROM entries_search WHERE doc @@ quire_match(?) AND ts_filter(doc, ?) @@ quire_match(?) AND id >= ?",
      match, w, term, lo or 0)
  else
    rows = db:rows("SELECT id FROM entries_search WHERE ts_filter(doc, ?) @@ quire_match(?) AND id >= ?", w, match, lo or 0)
  end
  for _, r in ipairs(rows) do set[r.id] = true end
  return set
end
-- The passage of the body around the matches (its opening when none is in the body); matches
-- between \2 and \3. ts_headline reads the body as the index does (quire_search_text():
-- punctuation outside ASCII made spaces, lower case), with < and > as \1 and \4 (control
-- characters a body cannot hold: it drops what its parser takes for HTML tags). That text has the
-- body's characters at the same places, so the passage is then copied from the body itself, as
-- written (only its characters are read: slice), for the caller to escape as the SQLite side's.
-- ts_headline does not say where it cut the body: "…" marks each cut end (text other than
-- spaces before or after the passage), as FTS5's snippet() does.
local SPACE = "('[^ ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || ']')" -- (Lua's %s)
function M.search_snippet(db, match, id)
  local r = db:row("SELECT h, at, aligned, substr(b, at, n) AS slice, at > 1 AND left(b, at - 1) ~ " .. SPACE .. " AS cut_start,"
    .. " substr(b, at + n) ~ " .. SPACE .. " AS cut_end"
    .. " FROM (SELECT h, b, position(translate(h, chr(2) || chr(3), '') IN f) AS at, char_length(f) = char_length(b) AS aligned,"
    .. " char_length(translate(h, chr(2) || chr(3), '')) AS n"
    .. " FROM (SELECT ts_headline(quire_search_language(), f, q.q,"
    .. " 'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=16, MinWords=12, ShortWord=0') AS h, f, b"
    .. " FROM (SELECT quire_match(?) AS q) q,"
    .. " (SELECT quire_search_text(translate(body, '<>', chr(1) || chr(4))) AS f, body AS b FROM entries WHERE id = ? OFFSET 0) e"
    .. " OFFSET 0) x OFFSET 0) y", -- (OFFSET 0: each subquery once, not once per use of its columns)
    match, id)
  if not r then return nil end
  local h, slice = r.h, r.slice
  if r.at == 0 or r.aligned ~= 1 then -- (not seen: the headline's own text, rather than none)
    return (h:gsub("[\1\4]", { ["\1"] = "<", ["\4"] = ">" }))
  end
  local pos, out = 1, {}
  for _, c in utf8.codes(h) do
    if c == 2 or c == 3 then
      out[#out + 1] = string.char(c)
    else
      local nxt = utf8.offset(slice, 2, pos)
      out[#out + 1] = slice:sub(pos, nxt - 1)
      pos = nxt
    end
  end
  return (r.cut_start == 1 and "…" or "") .. table.concat(out) .. (r.cut_end == 1 and "…" or "")
end
-- As the SQLite side's: where entry id's body first has text (a character index, from 1), the at
-- most width characters before it, and its first character; nil when it has none.
function M.search_before(db, id, text, width)
  local r = db:row("SELECT at, substr(body, greatest(1, at - ?), at - greatest(1, at - ?)) AS w, substr(body, at, 1) AS c"
    .. " FROM (SELECT strpos(body, ?) AS at, body FROM entries WHERE id = ? OFFSET 0) e WHERE at > 0", width, width, text, id)
  if r then return r.at, r.w, r.c end
end
-- The text search configuration for a language: English stemmed, others as written (both fold
-- case and accents), as the SQLite side's tokenizers.
function M.search_tokenizer(language)
  if (language or "en"):lower():match("^en") then return "quire_english" end
  return "quire"
end
-- Sets the configuration of language and rebuilds the index when it changed; true when it did.
function M.search_use_language(db, language)
  local want = M.search_tokenizer(language)
  if db:value("SELECT language FROM quire_search_config") == want then return false end
  db:begin()
  local ok, err = pcall(function()
    db:exec("UPDATE quire_search_config SET language = ?", want)
    db:exec("UPDATE entries_search s SET doc = quire_entry_doc(e.title, e.fields, e.body) FROM entries e WHERE e.id = s.id")
  end)
  if not ok then
    db:rollback()
    error(err, 0)
  end
  db:commit()
  return true
end

-- (= ANY over the array walks the primary key; a join on unnest() of it was planned as a hash
-- join over every entry: 55 ms instead of 0.3 ms for 300 ids of 20,000 entries.)
function M.entries_of(db, columns, ids, filter, fparams)
  return db:rows(columns .. " FROM entries e WHERE e.id = ANY(?::bigint[])" .. filter, M.id_list(ids), table.unpack(fparams))
end

-- A statement that fails inside a transaction aborts all of it on PostgreSQL, so the binding
-- puts a savepoint around each one (core/pg.c), as SQLite undoes a failed statement alone.
-- Here any failure rolls the level back anyway (a failed statement aborts it, which is what the
-- poison would do), so fn's statements go without: a batch of saves in one transaction
-- runs about 1.6 times faster (600 creates: 2.1 against 3.3 ms each).
function M.pcall_unguarded(db, fn, ...)
  local was = db:guard(false)
  local ok, res = pcall(fn, ...)
  db:guard(was)
  return ok, res
end

-- lower() as the index comments_by_email (db/pg/0012); it folds more than ASCII, as emails rarely need.
function M.equals_nocase(column)
  return "lower(" .. column .. ") = lower(?)"
end

function M.entries_naming(db, text, limit)
  return db:rows("SELECT id FROM entries WHERE strpos(body, ?) > 0 OR strpos(fields, ?) > 0 ORDER BY id LIMIT ?", text, text, limit)
end

-- jsonb containment: a list contains the number, and a number contains itself.
function M.entries_with_field_value(db, type_name, field, value, limit)
  return db:rows("SELECT id FROM entries WHERE type = ? AND fields::jsonb -> ? @> to_jsonb(?::numeric) LIMIT ?",
    type_name, field, value, limit)
end

-- PostgreSQL has no CROSS JOIN ... ON; its planner chooses the order.
M.JOIN_IN_ORDER = "JOIN"

-- A long body is kept out of line (TOAST): rows are small, and a card read reads them (SQLite
-- needs an index for that, db/migrations/0033).
M.CARD_ENTRIES = "entries e"

M.TERM_IDS_OF_E = "(SELECT string_agg(et.term_id::text, ',' ORDER BY et.position, et.term_id) FROM entry_terms et WHERE et.entry_id = e.id)"

M.TAG_IDS_OF_E = "(SELECT string_agg(et.term_id::text, ',' ORDER BY et.position, et.term_id)"
  .. " FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE et.entry_id = e.id AND t.taxonomy = 'tag')"

-- SQLite's planner hint; PostgreSQL's planner weighs its indexes itself (db/pg/0012 gives text
-- a unary + so SQL written with the hint reads the same).
function M.unindexed(column)
  return column
end

function M.children_of(db, type_name, id)
  return db:rows("SELECT id FROM entries WHERE type = ? AND fields::jsonb -> 'parent' = to_jsonb(?::bigint)", type_name, id)
end

function M.numbered_slugs(db, type_name, base)
  local prefix = base .. "-"
  return db:rows("SELECT slug FROM entries WHERE type = ? AND starts_with(slug, ?) AND substr(slug, length(?) + 1) ~ '^[0-9]'",
    type_name, prefix, prefix)
end

function M.copy_term_rows(db, from, into)
  db:exec("INSERT INTO entry_terms (entry_id, term_id, position) SELECT entry_id, ?, position FROM entry_terms WHERE term_id = ?"
    .. " ON CONFLICT DO NOTHING", into, from)
end

-- Related posts. The counts and matches use the GIN index alone (a plain word needs no recheck of
-- the tsvector); words become tsqueries as the search's do (quire_search_language()); texts are
-- read as the index reads them (quire_search_text(): db/pg/0029).
-- The lexemes of texts as the search's configuration makes them (distinct).
function M.text_terms(db, texts)
  local out = {}
  for i, r in ipairs(db:rows("SELECT DISTINCT x.lexeme AS term FROM unnest(to_tsvector(quire_search_language(), quire_search_text(?))) x",
    table.concat(texts, "\n"))) do out[i] = r.term end
  return out
end
function M.text_terms_each(db, texts)
  local out = {}
  for i = 1, #texts do out[i] = {} end
  for _, r in ipairs(db:rows("SELECT DISTINCT u.i, x.lexeme AS term FROM unnest(?::text[]) WITH ORDINALITY u(t, i),"
    .. " unnest(to_tsvector(quire_search_language(), quire_search_text(u.t))) x", array_of_text(texts))) do
    local list = out[math.tointeger(r.i)]
    list[#list + 1] = r.term
  end
  return out
end
function M.word_counts(db, words, cap)
  -- One statement text whatever the number of words: prepared once and planned once (a column
  -- per word planned each tsquery again on every call, ~0.5 ms a word, most of a render's time
  -- after a write).
  local out = {}
  for i = 1, #words do out[i] = 0 end
  for _, r in ipairs(db:rows("SELECT u.i, (SELECT count(*) FROM (SELECT 1 FROM entries_search"
    .. " WHERE doc @@ plainto_tsquery(quire_search_language(), quire_search_text(u.w)) LIMIT ?) x) AS n"
    .. " FROM unnest(?::text[]) WITH ORDINALITY u(w, i)", cap + 1, array_of_text(words))) do
    out[math.tointeger(r.i)] = r.n
  end
  return out
end
function M.word_matches(db, words, weights, types, skip, limit)
  return db:rows("SELECT g.id, g.score FROM (SELECT s.id, sum(q.w)::bigint AS score FROM"
    .. " (SELECT plainto_tsquery(quire_search_language(), quire_search_text(u.word)) AS q, u.w FROM unnest(?::text[], ?::bigint[]) u(word, w)) q"
    .. " JOIN entries_search s ON s.doc @@ q.q WHERE q.q::text <> '' GROUP BY s.id) g JOIN entries e ON e.id = g.id"
    .. " WHERE e.status = 'published' AND e.type = ANY(?) AND e.id <> ? ORDER BY g.score DESC, g.id DESC LIMIT ?",
    array_of_text(words), M.id_list(weights), array_of_text(types), skip, limit)
end
function M.keyword_neighbours(db, field, keywords, types, at, at_id, window)
  local near = "SELECT * FROM (SELECT e.id, e.fields::jsonb -> ? AS kw FROM entries e WHERE e.status = 'published' AND e.type = ANY(?)"
    .. " AND (e.published_at, e.id) %s (?, ?) ORDER BY e.published_at %s, e.id %s LIMIT %d) n"
  local list = array_of_text(types)
  return db:rows("SELECT n.id FROM (" .. near:format("<", "DESC", "DESC", window) .. " UNION ALL "
    .. near:format(">", "ASC", "ASC", window) .. ") n WHERE jsonb_typeof(n.kw) = 'array'"
    .. " AND EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n.kw) = 'array' THEN n.kw END) k"
    .. " WHERE lower(k #>> '{}') = ANY(?))",
    field, list, at, at_id, field, list, at, at_id, array_of_text(keywords))
end
function M.field_json(field)
  return "(e.fields::jsonb -> ?)::text", field
end

-- The catalog (see quire.store_sql): the site's schema is the connection's current schema;
-- what PostgreSQL keeps for search (entries_search, quire_search_config) is the store's own.
local OWN = { entries_search = true, quire_search_config = true }
function M.tables(db)
  local names = {}
  for _, r in ipairs(db:rows("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename COLLATE \"C\"")) do
    if not OWN[r.tablename] then names[#names + 1] = r.tablename end
  end
  return names
end
local function relation(db, name)
  return db:value("SELECT c.oid FROM pg_class c WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace"
    .. " AND c.relname = ?", name)
end
function M.has_table(db, name)
  return relation(db, name) ~= nil
end
function M.columns(db, name)
  local oid = relation(db, name)
  local cols, pk, id_column, types = {}, {}, nil, {}
  if not oid then return cols, pk end
  for _, c in ipairs(db:rows("SELECT a.attname AS name, a.atttypid::regtype::text AS type,"
    .. " (SELECT k.o FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o) WHERE i.indrelid = a.attrelid"
    .. " AND i.indisprimary AND k.n = a.attnum) AS pk"
    .. " FROM pg_attribute a WHERE a.attrelid = ?::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", oid)) do
    cols[#cols + 1] = c.name
    types[c.name] = c.type
    if c.pk then pk[c.pk] = c.name end
  end
  local t = #pk == 1 and types[pk[1]]
  if t == "bigint" or t == "integer" or t == "smallint" then id_column = pk[1] end
  return cols, pk, id_column
end
function M.ROWID(id_column) return id_column end
function M.foreign_keys(db, name)
  return db:rows("SELECT p.relname AS parent, a.attname AS col, pa.attname AS target FROM pg_constraint c"
    .. " JOIN pg_class p ON p.oid = c.confrelid CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY k(n, pn, o)"
    .. " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pn"
    .. " WHERE c.conrelid = ?::oid AND c.contype = 'f' ORDER BY c.oid, k.o", relation(db, name))
end
function M.unique_keys(db, name)
  local keys, by = {}, {}
  for _, r in ipairs(db:rows("SELECT i.indexrelid AS ix, a.attname AS col FROM pg_index i"
    .. " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n"
    .. " WHERE i.indrelid = ?::oid AND i.indisunique AND NOT i.indisprimary AND i.indexprs IS NULL AND i.indpred IS NULL"
    .. " ORDER BY i.indexrelid, k.o", relation(db, name))) do
    if not by[r.ix] then
      by[r.ix] = {}
      keys[#keys + 1] = by[r.ix]
    end
    table.insert(by[r.ix], r.col)
  end
  return keys
end
-- Id counters are the sequences of identity (or serial) columns; setval moves one either way.
local function sequence(db, name, col)
  return col and db:value("SELECT pg_get_serial_sequence(quote_ident(?), ?)", name, col)
end
function M.id_counter(db, name, col)
  local seq = sequence(db, name, col)
  if not seq then return nil end
  local r = db:row("SELECT last_value, is_called FROM " .. seq)
  return r.is_called == 1 and r.last_value or r.last_value - 1
end
function M.set_id_counter(db, name, col, n)
  local seq = sequence(db, name, col)
  if not seq then return end
  if n > 0 then db:value("SELECT setval(?, ?, true)", seq, n) else db:value("SELECT setval(?, 1, false)", seq) end
end
function M.id_taken(db, name, col, id)
  local seq = sequence(db, name, col)
  if seq then
    db:value("SELECT setval(?, ?::bigint, true) FROM " .. seq .. " WHERE ?::bigint > CASE WHEN is_called THEN last_value ELSE last_value - 1 END",
      seq, id, id)
  end
end

-- SQLite's own SQL that a report query (quire.store.query) may hold, each with what PostgreSQL
-- has instead: named when such a query fails on PostgreSQL.
local SQLITE_ONLY = {
  { "json_each%s*%(", "json_each()", "jsonb_array_elements(x::jsonb) or jsonb_each(x::jsonb)" },
  { "json_tree%s*%(", "json_tree()", "jsonb_path_query(x::jsonb, ...)" },
  { "json_extract%s*%(", "json_extract()", "x::jsonb ->> 'key' (or #>> '{a,b}')" },
  { "json_group_array%s*%(", "json_group_array()", "json_agg()" },
  { "json_group_object%s*%(", "json_group_object()", "json_object_agg()" },
  { "json_object%s*%(", "json_object()", "json_build_object()" },
  { "json_array%s*%(", "json_array()", "json_build_array()" },
  { "%f[%w_]match%f[^%w_]", "MATCH (FTS5 full-text search)", "quire.content.search()" },
  { "entries_fts", "the FTS5 index entries_fts", "quire.content.search()" },
  { "bm25%s*%(", "bm25()", "quire.content.search(), which ranks" },
  { "%f[%w_]snippet%s*%(", "snippet()", "the snippets of quire.content.search()" },
  { "strftime%s*%(", "strftime()", "to_char() or extract()" },
  { "%f[%w_]datetime%s*%(", "datetime()", "a timestamp: x::timestamptz, now()" },
  { "julianday%s*%(", "julianday()", "extract(epoch FROM ...) / 86400" },
  { "unixepoch%s*%(", "unixepoch()", "extract(epoch FROM ...)" },
  { "group_concat%s*%(", "group_concat()", "string_agg(x, ',')" },
  { "ifnull%s*%(", "ifnull()", "coalesce()" },
  { "%f[%w_]iif%s*%(", "iif()", "CASE WHEN ... THEN ... ELSE ... END" },
  { "%f[%w_]instr%s*%(", "instr()", "strpos()" },
  { "%f[%w_]glob%f[^%w_]", "GLOB", "LIKE, or ~ with a regular expression" },
  { "%f[%w_]printf%s*%(", "printf()", "format()" },
  { "%f[%w_]typeof%s*%(", "typeof()", "pg_typeof()" },
  { "%f[%w_]total%s*%(", "total()", "coalesce(sum(x), 0)" },
  { "%f[%w_]char%s*%(", "char()", "chr()" },
  { "%f[%w_]sqlite_%w+", "SQLite's own tables (sqlite_schema ...)", "information_schema" },
  { "%f[%w_]pragma", "PRAGMA", "information_schema" },
  { "%f[%w_]rowid%f[^%w_]", "rowid", "the table's id column" },
  { "%f[%w_]limit%s+%d+%s*,", "LIMIT offset, count", "LIMIT count OFFSET offset" },
}

-- What in sql (a report query) is SQLite's own, with PostgreSQL's counterpart, as one line; nil
-- when nothing is. Literals and quoted names are left out of the look.
function M.sqlite_only(sql)
  local text = sql:gsub("'[^']*'", "''"):gsub('"[^"]*"', '""'):gsub("%-%-[^\n]*", ""):lower()
  local found = {}
  for _, s in ipairs(SQLITE_ONLY) do
    if text:find(s[1]) then found[#found + 1] = ("%s (PostgreSQL: %s)"):format(s[2], s[3]) end
  end
  if #found == 0 then return nil end
  return table.concat(found, "; ")
end

return M
