-- Full-text search over entries (quire.content.search): the query language, checked here, and
-- the ranking; the index itself is the store's (quire.store_sql: FTS5 on SQLite).
local core = require "quire.core"
local errors = require "quire.errors"
local per_site = require "quire.per_site"
local store_sql = require "quire.store_sql"

local M = {}

-- The search language, the same for every caller (the site's /search, scripts, the API):
-- words separated by white space, every one of them required, each matched as the index
-- splits it (case and accents aside; "o'brien" is the phrase "o brien"). Nothing is an
-- operator: quotes, + - *, parentheses, AND, OR, NOT and NEAR are words like any other, and
-- words without a letter or digit are left out. At most SEARCH_MAX_CHARS characters and
-- SEARCH_MAX_WORDS words, no control characters (tab, line feed and carriage return are
-- spaces), valid UTF-8. Returns the store's match expression ("" for no words) and the words'
-- phrases (store_sql.fts_match), or nil and what is wrong.
local SEARCH_MAX_CHARS, SEARCH_MAX_WORDS = 256, 16
local function fts_query(text)
  if not core.utf8_valid(text) then return nil, "is not valid UTF-8" end
  local n = utf8.len(text)
  if n > SEARCH_MAX_CHARS then return nil, ("is %d characters long, the limit is %d"):format(n, SEARCH_MAX_CHARS) end
  local bad = text:find("[\0-\8\11\12\14-\31\127]")
  if bad then return nil, ("contains the control character U+%04X"):format(text:byte(bad)) end
  local words = {}
  for word in text:gmatch("%S+") do
    if word:find("[%w\128-\255]") then
      if #words == SEARCH_MAX_WORDS then return nil, ("has more than %d words"):format(SEARCH_MAX_WORDS) end
      words[#words + 1] = word
    end
  end
  return store_sql.fts_match(words)
end

local function escape_html(s)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

-- A query matching at most SEARCH_EXACT entries, each of its words in at most as many, is
-- ranked whole by bm25 (titles weigh 5, the body 1). Otherwise (bm25 reads every entry holding
-- each word to weigh the words, which grows with the archive) it is ranked over its
-- SEARCH_EXACT newest matches: a title match first, then the newest; if more than that match,
-- its total is an estimate from how densely the window matched.
local SEARCH_EXACT = 1000
local function two_digits(n) -- 98,437 -> 98,000: an estimate says no more than it knows
  if n < 100 then return n end
  local scale = 10 ^ (math.floor(math.log(n, 10)) - 1)
  return math.floor(math.floor(n / scale + 0.5) * scale)
end

M.of = per_site(function(site)
  local db = site.db
  local api = {}

  -- search(text [, opts]) -> hits, { total =, estimated = }. opts: limit (1..1000, default 20),
  -- offset (0..10000), type (a name or a list), status. Hits: id, type, slug, title, status,
  -- published_at, score (bigger is better) and snippet (HTML: the text escaped, matches in <mark>).
  function api.search(text, opts)
    opts = opts or {}
    if type(text) ~= "string" then error("quire.content.search takes the text to find", 2) end
    local match, problem_or_terms = fts_query(text)
    local problem, terms = problem_or_terms, problem_or_terms
    if not match then errors.invalid("invalid search", { { field = "text", message = problem } }) end
    local limit, offset = opts.limit or 20, opts.offset or 0
    if math.type(limit) ~= "integer" or limit < 1 or limit > 1000 then error("quire.content.search: limit must be 1..1000", 2) end
    if math.type(offset) ~= "integer" or offset < 0 or offset > 10000 then error("quire.content.search: offset must be 0..10000", 2) end
    if match == "" then return {}, { total = 0, estimated = false } end
    site.tag("list:all")
    local filter, fparams = "", {}
    if type(opts.type) == "table" then
      filter = filter .. " AND e.type " .. store_sql.IN_LIST; fparams[#fparams + 1] = store_sql.value_list(opts.type)
    elseif opts.type then
      filter = filter .. " AND e.type = ?"; fparams[#fparams + 1] = opts.type
    end
    if opts.status then filter = filter .. " AND e.status = ?"; fparams[#fparams + 1] = opts.status
    else filter = filter .. " AND e.status <> 'trash'" end
    local COLUMNS = "SELECT e.id, e.type, e.slug, e.title, e.status, e.published_at"
    local rows, info
    -- The newest matches, one more than SEARCH_EXACT: whether there are more is then known too.
    local window = store_sql.search_window(db, match, SEARCH_EXACT + 1)
    if #window == 0 then return {}, { total = 0, estimated = false } end
    local many = #window > SEARCH_EXACT
    if many then window[#window] = nil end
    -- bm25 weighs each word by reading every entry that has it: only when each is in few.
    local weigh = not many
    for i = 1, #terms do
      if not weigh or #terms == 1 then break end
      weigh = not store_sql.search_more_than(db, terms[i], SEARCH_EXACT)
    end
    if weigh then
      rows = store_sql.search_ranked(db, COLUMNS, match, filter, fparams, limit, offset)
      for _, r in ipairs(rows) do r.score, r.rank = -r.rank, nil end
      info = { total = store_sql.search_count(db, match, filter, fparams), estimated = false }
    else
      local lo, ids = window[#window].id, {}
      for i, r in ipairs(window) do ids[i] = r.id end
      local in_title = store_sql.search_in_title(db, match, lo)
      local found = store_sql.entries_of(db, COLUMNS, ids, filter, fparams)
      for _, r in ipairs(found) do r.score = in_title[r.id] and 5 or 1 end
      table.sort(found, function(a, b)
        if a.score ~= b.score then return a.score > b.score end
        return a.id > b.id
      end)
      rows = table.move(found, offset + 1, math.min(#found, offset + limit), 1, {})
      -- The window's matches lie in ids lo..max: as dense below it, with as many filtered out.
      local max = db:value("SELECT max(id) FROM entries")
      info = many and { total = math.max(#found, two_digits(math.floor(#found * max / (max - lo + 1)))), estimated = true }
        or { total = #found, estimated = false }
    end
    for _, r in ipairs(rows) do
      -- The snippet is HTML: the text escaped, the matches in <mark>.
      local snippet = store_sql.search_snippet(db, match, r.id)
      r.snippet = escape_html(snippet or ""):gsub("\2", "<mark>"):gsub("\3", "</mark>")
    end
    return rows, info
  end

  return api
end)

return M
