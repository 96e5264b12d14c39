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
-- seen every version below it. The NOTIFY is delivered when the transaction commits: nodes
-- that LISTEN on quire_tags wake and read the tags changed since their last version.
function M.bump_tags(db, tags)
  local own = db:depth() == 0
  if own then db:begin() end
  local ok, err = pcall(function()
    local v = db:value("SELECT coalesce(max(version), 0) + 1 FROM cache_tags")
    db:exec("INSERT INTO cache_tags (tag, version) SELECT t, ? FROM unnest(?::text[]) t"
      .. " ON CONFLICT (tag) DO UPDATE SET version = excluded.version", v, array_of_text(tags))
    db:value("SELECT pg_notify('quire_tags', ?)", tostring(v))
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
-- between \2 and \3.
function M.search_snippet(db, match, id)
  return db:value("SELECT ts_headline(quire_search_language(), e.body, q.q,"
    .. " 'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=16, MinWords=6, ShortWord=0')"
    .. " FROM (SELECT quire_match(?) AS q) q, entries e WHERE e.id = ?", match, id)
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

function M.entries_of(db, columns, ids, filter, fparams)
  return db:rows(columns .. " FROM unnest(?::bigint[]) w(value) JOIN entries e ON e.id = w.value WHERE true" .. filter,
    M.id_list(ids), table.unpack(fparams))
end

-- PostgreSQL has no CROSS JOIN ... ON; its planner chooses the order.
M.JOIN_IN_ORDER = "JOIN"

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
-- the tsvector); words become tsqueries as the search's do (quire_search_language()).
function M.word_counts(db, words, cap)
  local cols, args = {}, {}
  for i, w in ipairs(words) do
    cols[i] = ("(SELECT count(*) FROM (SELECT 1 FROM entries_search WHERE doc @@ plainto_tsquery(quire_search_language(), ?)"
      .. " LIMIT ?) x) AS n%d"):format(i)
    args[2 * i - 1], args[2 * i] = w, cap + 1
  end
  local row = db:row("SELECT " .. table.concat(cols, ", "), table.unpack(args))
  local out = {}
  for i = 1, #words do out[i] = row["n" .. i] end
  return out
end
function M.word_matches(db, words, weights, types, skip, limit)
  return db:rows("SELECT g.id, g.score FROM (SELECT s.id, sum(q.w)::bigint AS score FROM"
    .. " (SELECT plainto_tsquery(quire_search_language(), u.word) AS q, u.w FROM unnest(?::text[], ?::bigint[]) u(word, w)) q"
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

return M
