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

-- The words as an array literal: quire_phrases() makes the tsquery on the server, each word
-- the phrase of its tokens, so no query syntax comes from the reader.
function M.fts_match(words)
  if #words == 0 then return "", {} end
  local terms = {}
  for i = 1, #words do terms[i] = array_of_text({ words[i] }) end
  return array_of_text(words), terms
end
function M.search_more_than(db, match, n)
  return db:value("SELECT id FROM entries_search WHERE doc @@ quire_phrases(?::text[]) ORDER BY id DESC LIMIT 1 OFFSET ?", match, n) ~= nil
end
function M.search_window(db, match, n)
  return db:rows("SELECT id FROM entries_search WHERE doc @@ quire_phrases(?::text[]) ORDER BY id DESC LIMIT ?", match, n)
end
-- ts_rank with titles (weight A) five times the body (B); negated, so smaller is better as
-- with bm25.
local RANK = "-ts_rank('{0, 0, 0.2, 1}', s.doc, q.q) AS rank"
function M.search_ranked(db, columns, match, filter, fparams, limit, offset)
  local n = #fparams
  local args = { match, table.unpack(fparams, 1, n) }
  args[n + 2], args[n + 3] = limit, offset
  return db:rows(columns .. ", " .. RANK .. " FROM (SELECT quire_phrases(?::text[]) AS q) q"
    .. " JOIN entries_search s ON s.doc @@ q.q JOIN entries e ON e.id = s.id WHERE true" .. filter
    .. " ORDER BY rank, e.id LIMIT ? OFFSET ?", table.unpack(args, 1, n + 3))
end
function M.search_count(db, match, filter, fparams)
  return db:value("SELECT count(*) FROM entries_search s JOIN entries e ON e.id = s.id"
    .. " WHERE s.doc @@ quire_phrases(?::text[])" .. filter, match, table.unpack(fparams))
end
function M.search_in_title(db, match, lo)
  local set = {}
  for _, r in ipairs(db:rows("SELECT id FROM entries_search WHERE ts_filter(doc, '{a}') @@ quire_phrases(?::text[]) AND id >= ?", match, lo)) do
    set[r.id] = true
  end
  return set
end
-- The passage around the matches, from the body, else the title; matches between \2 and \3.
function M.search_snippet(db, match, id)
  return db:value("SELECT ts_headline(quire_search_language(), CASE WHEN ts_filter(s.doc, '{b}') @@ q.q THEN e.body ELSE e.title END, q.q,"
    .. " 'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=16, MinWords=6, ShortWord=0')"
    .. " FROM (SELECT quire_phrases(?::text[]) AS q) q, entries e JOIN entries_search s ON s.id = e.id WHERE e.id = ?", match, id)
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

return M
