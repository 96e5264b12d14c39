-- Full-text search over entries (quire.content.search, quire.content.suggest): the query
-- language, checked here, the ranking and the snippets; the index itself is the store's
-- (quire.store_sql: FTS5 on SQLite, db/migrations/0016_search_relevance.sql).
--
-- Ranking: each query word found in the title or the standfirst counts its rarity (idf) times
-- the column's weight (title > standfirst), plus bm25 over the body times the body's weight;
-- times a recency factor for news, 1 + boost * 0.5 ^ (age in days / half_life_days) (with the
-- defaults a story from today counts half as much again as an old one with the same words, one
-- a month old a quarter); times a small factor for a full story over a brief (depth).
local core = require "quire.core"
local errors = require "quire.errors"
local per_site = require "quire.per_site"
local store_sql = require "quire.store_sql"

local M = {}

M.defaults = {
  weights = { title = 10, standfirst = 4, body = 1 },
  recency = { boost = 0.5, half_life_days = 30 }, -- boost 0: words alone decide
  depth = 0.15, -- a story's length: score * (1 + depth * log2(1 + characters / 1000)); 0: none
}

local SEARCH_MAX_CHARS, SEARCH_MAX_WORDS = 256, 16
-- A query matching at most SEARCH_EXACT entries, each of its words in at most as many, is
-- ranked whole by bm25. Otherwise (bm25 reads every entry holding each word to weigh the words,
-- which grows with the archive) it is ranked over its SEARCH_EXACT newest matches by the columns
-- it matched in and recency; if more than that match, its total is an estimate from how densely
-- the window matched.
local SEARCH_EXACT = 1000
local PREFIX_MIN = 2 -- bytes of a word typed so far before it is matched as a prefix (the index keeps 2 and 3)

-- The search language, the same for every caller (the site's /search, scripts, the API):
-- words separated by white space, every one of them required, each matched as the index splits
-- it (case, accents and, in English, endings aside: "barrages" finds "barrage"); text in double
-- quotes is a phrase, its words next to each other in that order (an unclosed quote runs to the
-- end). Nothing else is an operator: + - *, parentheses, AND, OR, NOT and NEAR are words like
-- any other, and words without a letter or digit are left out. With opts.prefix the last word,
-- when it is still being typed (no space or quote after it), matches any word it begins.
-- At most SEARCH_MAX_CHARS characters and SEARCH_MAX_WORDS words or phrases, no control
-- characters (tab, line feed and carriage return are spaces), valid UTF-8. Returns the store's
-- match expression ("" for no words) and its parts (store_sql.fts_match), or nil and what is wrong.
function M.query(text, prefix)
  if not core.utf8_valid(text) then return nil, "is not valid UTF-8" end
  local n = utf8.len(text)
  if n > SEARCH_MAX_CHARS then return nil, ("is %d characters long, the limit is %d"):format(n, SEARCH_MAX_CHARS) end
  local bad = text:find("[\0-\8\11\12\14-\31\127]")
  if bad then return nil, ("contains the control character U+%04X"):format(text:byte(bad)) end
  local words, last_open = {}, false
  local function add(s, open)
    if not s:find("[%w\128-\255]") then return true end
    if #words == SEARCH_MAX_WORDS then return nil end
    words[#words + 1] = s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
    last_open = open
    return true
  end
  local pos = 1
  while pos <= #text do
    local q = text:find('"', pos, true)
    local plain = text:sub(pos, (q or #text + 1) - 1)
    for word, after in plain:gmatch("(%S+)()") do
      if not add(word, not q and after > #plain) then return nil, ("has more than %d words"):format(SEARCH_MAX_WORDS) end
    end
    if not q then break end
    local close = text:find('"', q + 1, true)
    if not add(text:sub(q + 1, (close or #text + 1) - 1), not close and not text:find("%s$")) then
      return nil, ("has more than %d words"):format(SEARCH_MAX_WORDS)
    end
    pos = (close or #text) + 1
  end
  return store_sql.fts_match(words, prefix and last_open and #words[#words]:match("%S+$") >= PREFIX_MIN)
end

local function escape_html(s)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

-- A snippet (matches between \2 and \3, "…" at each end that cuts the body) is text of the body,
-- never a tag cut in two: an end that falls inside one (`…b>bold</b>` when the passage began
-- just after a `<`, `see <a href="…` when it stopped in an attribute) moves out to the text
-- beside it, unless that would drop a match or all of the text.
local ELLIPSIS = "…"
-- Whether the passage (where the body first has it) begins inside a tag: the nearest `<` or `>`
-- before it is a tag's `<`. Read back from it in windows that grow, not the whole body.
local function begins_in_tag(db, id, passage)
  local width = 256
  while true do
    local at, before, first = store_sql.search_before(db, id, passage, width)
    if not at then return false end
    local j = before:match(".*()[<>]")
    if j then
      local next_char = j < #before and before:sub(j + 1, j + 1) or first
      return before:byte(j) == 60 and next_char:find("^[%a/!?]") ~= nil
    end
    if at - 1 <= width then return false end -- (the window reached the body's start)
    width = width * 8
  end
end
local function whole_tags(s, db, id)
  if s:sub(1, #ELLIPSIS) == ELLIPSIS and s:find(">", 1, true) then
    local rest = s:sub(#ELLIPSIS + 1)
    local plain = rest:gsub("[\2\3]", ""):gsub(ELLIPSIS .. "$", "")
    if begins_in_tag(db, id, plain) then
      local gt, mark = rest:find(">", 1, true), rest:find("[\2\3]")
      local after = gt and rest:sub(gt + 1):gsub("^%s+", "")
      if after and (not mark or mark > gt) and after:gsub(ELLIPSIS .. "$", ""):find("%S") then s = ELLIPSIS .. after end
    end
  end
  if s:sub(-#ELLIPSIS) == ELLIPSIS then
    local rest = s:sub(1, -#ELLIPSIS - 1)
    local lt = rest:match(".*()<")
    if lt and rest:find("^<[%a/!?]", lt) and not rest:find("[>\2\3]", lt) then -- a tag the cut left open
      local before = rest:sub(1, lt - 1):gsub("%s+$", "")
      if before:gsub("^" .. ELLIPSIS, ""):find("%S") then s = before .. ELLIPSIS end
    end
  end
  return s
end

local function two_digits(n) -- 98,437 -> 98,000: an estimate says no more than it knows
  if n < 100 then return n end
  local scale = 10 ^ (math.floor(math.log(n, 10)) - 1)
  return math.floor(math.floor(n / scale + 0.5) * scale)
end

local function number_in(v, lo, hi, what)
  if type(v) ~= "number" or v ~= v or v < lo or v > hi then
    error(("search: %s must be a number from %s to %s"):format(what, lo, hi), 3)
  end
  return v
end

-- The ranking options (opts.weights, opts.recency over M.defaults), checked.
local function ranking(opts)
  local w, r = opts.weights or {}, opts.recency or {}
  local d = M.defaults
  return {
    title = number_in(w.title or d.weights.title, 0, 1000, "weights.title"),
    standfirst = number_in(w.standfirst or d.weights.standfirst, 0, 1000, "weights.standfirst"),
    body = number_in(w.body or d.weights.body, 0, 1000, "weights.body"),
    boost = number_in(r.boost or d.recency.boost, 0, 100, "recency.boost"),
    half_life = number_in(r.half_life_days or d.recency.half_life_days, 0.01, 36500, "recency.half_life_days") * 86400,
    depth = number_in(opts.depth or d.depth, 0, 10, "depth"),
  }
end

M.of = per_site(function(site)
  local db = site.db
  local epoch = require("quire.time").epoch

  -- search(text [, opts]) -> hits, { total =, estimated = }. opts: limit (1..1000, default 20),
  -- offset (0..10000), type (a name or a list), status, weights = { title, standfirst, body },
  -- recency = { boost, half_life_days }, prefix (the last word as typed so far), snippets
  -- (default true). Hits: id, type, slug, title, status, published_at, score (bigger is
  -- better) and snippet (HTML from the body, even for a title match: the text escaped, the
  -- matches in <mark>).
  local function search(text, opts)
    opts = opts or {}
    if type(text) ~= "string" then error("quire.content.search takes the text to find", 2) end
    local match, problem_or_terms = M.query(text, opts.prefix)
    if not match then errors.invalid("invalid search", { { field = "text", message = problem_or_terms } }) end
    local terms = problem_or_terms
    local limit, offset = opts.limit or 20, opts.offset or 0
    if math.type(limit) ~= "integer" or limit < 1 or limit > 1000 then error("quire.content.search: limit must be 1..1000", 2) end
    if math.type(offset) ~= "integer" or offset < 0 or offset > 10000 then error("quire.content.search: offset must be 0..10000", 2) end
    local rank = ranking(opts)
    if match == "" then return {}, { total = 0, estimated = false } end
    site.tag("list:all")
    site.tag("entries:any") -- (what matches depends on every entry's text)
    if opts.status ~= "published" then site.tag("list:drafts") end -- (writes to drafts bump it)
    local filter, fparams = "", {}
    if type(opts.type) == "table" then
      filter = filter .. " AND e.type " .. store_sql.IN_LIST; fparams[#fparams + 1] = store_sql.value_list(opts.type)
    elseif opts.type then
      filter = filter .. " AND e.type = ?"; fparams[#fparams + 1] = opts.type
    end
    if opts.status then filter = filter .. " AND e.status = ?"; fparams[#fparams + 1] = opts.status
    else filter = filter .. " AND e.status <> 'trash'" end
    local COLUMNS = "SELECT e.id, e.type, e.slug, e.title, e.status, e.published_at"
    local now = os.time()
    local function recency(published_at)
      local t = published_at and epoch(published_at)
      if not t or rank.boost == 0 then return 1 end
      return 1 + rank.boost * 0.5 ^ (math.max(0, now - t) / rank.half_life)
    end
    -- A full story over a brief with the same words (the lead over its follow-up paragraph):
    -- longer documents are more often what a reader looks for, which bm25's length
    -- normalisation alone undoes.
    local function depth(chars)
      return 1 + rank.depth * math.log(1 + (chars or 0) / 1000, 2)
    end
    local function by_score(a, b)
      if a.score ~= b.score then return a.score > b.score end
      return a.id > b.id
    end
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
    local found, info
    if weigh then
      -- bm25 over the body alone: FTS5 normalises by the length of the whole row, so a title
      -- match in a long story would count less than one in a brief. Titles and standfirsts are
      -- short: a word in them counts by its rarity (idf), whatever the story's length.
      found = store_sql.search_scored(db, COLUMNS, match, filter, fparams, SEARCH_EXACT)
      local head = {}
      for _, r in ipairs(found) do head[r.id] = 0 end
      local docs = math.max(1, db:value("SELECT max(id) FROM entries") or 1)
      for _, term in ipairs(terms) do
        local n = #terms == 1 and #window or store_sql.search_count_upto(db, term, SEARCH_EXACT)
        local idf = math.log((docs - n + 0.5) / (n + 0.5) + 1)
        if #terms == 1 then -- one word: a column's own bm25 says whether it is there, no query needed
          for _, r in ipairs(found) do
            head[r.id] = idf * ((r.in_title < 0 and rank.title or 0) + (r.in_standfirst < 0 and rank.standfirst or 0))
          end
        else
          for column, w in pairs { title = rank.title, standfirst = rank.standfirst } do
            if w > 0 then
              for id in pairs(store_sql.search_in_column(db, match, column, term)) do
                if head[id] then head[id] = head[id] + w * idf end
              end
            end
          end
        end
      end
      for _, r in ipairs(found) do
        r.score = (head[r.id] - rank.body * r.body) * recency(r.published_at) * depth(r.chars)
        r.body, r.chars, r.in_title, r.in_standfirst = nil, nil, nil, nil
      end
      info = { total = #found, estimated = false }
    else
      local lo, ids = window[#window].id, {}
      for i, r in ipairs(window) do ids[i] = r.id end
      local in_title = store_sql.search_in_column(db, match, "title", nil, lo)
      local in_standfirst = store_sql.search_in_column(db, match, "standfirst", nil, lo)
      found = store_sql.entries_of(db, COLUMNS .. ", length(e.body) AS chars", ids, filter, fparams)
      for _, r in ipairs(found) do
        local words = in_title[r.id] and rank.title or in_standfirst[r.id] and rank.standfirst or rank.body
        r.score = words * recency(r.published_at) * depth(r.chars)
        r.chars = nil
      end
      -- The window's matches lie in ids lo..max: as dense below it, with as many filtered out.
      local max = db:value("SELECT max(id) FROM entries")
      info = many and { total = math.max(#found, two_digits(math.floor(#found * max / (max - lo + 1)))), estimated = true }
        or { total = #found, estimated = false }
    end
    table.sort(found, by_score)
    local rows = table.move(found, offset + 1, math.min(#found, offset + limit), 1, {})
    if opts.snippets ~= false then
      for _, r in ipairs(rows) do
        -- From the body (column 2) whatever matched: a title match shows where the story says it.
        local snippet = store_sql.search_snippet(db, match, r.id)
        r.snippet = escape_html(snippet and whole_tags(snippet, db, r.id) or ""):gsub("\2", "<mark>"):gsub("\3", "</mark>")
      end
    end
    return rows, info
  end

  -- suggest(text [, opts]) -> { { id, type, slug, title, published_at }, ... }: search-as-you-type,
  -- the last word matched as a prefix, best first, at most opts.limit (1..20, default 8); opts as
  -- for search (type, status, weights, recency). Text that is no query gives no suggestions.
  local function suggest(text, opts)
    opts = opts or {}
    local limit = opts.limit or 8
    if math.type(limit) ~= "integer" or limit < 1 or limit > 20 then error("quire.content.suggest: limit must be 1..20", 2) end
    local ok, hits = pcall(search, text, { prefix = true, snippets = false, limit = limit, type = opts.type,
      status = opts.status, weights = opts.weights, recency = opts.recency })
    if not ok then
      if type(hits) == "table" and hits.kind == "invalid" then return {} end
      error(hits, 0)
    end
    for _, h in ipairs(hits) do h.score, h.status = nil, nil end
    return hits
  end

  return { search = search, suggest = suggest }
end)

-- Makes the index fit the site's language: stemmed where the store has a stemmer for it
-- (English), rebuilt from the entries when that changed. Returns true when it rebuilt.
function M.use_language(db, language)
  return store_sql.search_use_language(db, language)
end
M.tokenizer = store_sql.search_tokenizer

return M
