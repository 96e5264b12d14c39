-- Related entries for quire.content.related: candidates from SQL (shared tags, shared keywords,
-- neighbours in time, FTS5 similarity to the title, standfirst and keywords), scored in C by
-- core.related_rank (core/related.h: Hugo-like weights plus tag rarity and text similarity), and
-- memoised until the next write anywhere (quire.memo).
local cjson = require "cjson"
local core = require "quire.core"
local time = require "quire.time"

local M = {}

local json = cjson.new()
json.encode_sparse_array(false)

local RELATED_DEFAULTS = { keywords = 100, tags = 80, date = 10, text = 40 }
-- The bounds of the candidate search (see M.new): tags walked, entries per tag and per side of
-- the entry's date, entries per side scanned for keywords, entries a search word may be in.
local TAGS_WALKED, TAG_WINDOW, KEYWORD_WINDOW, TEXT_MAX_DOCS = 8, 50, 250, 500
local STOPWORDS = {}
for w in ("a an and are as at be but by for from has have in into is it its of on or that the their "
  .. "this to was were will with after over under about than then them they what when which while who "
  .. "would could should there these those been being also more most some such only other into"):gmatch("%a+") do
  STOPWORDS[w] = true
end

local function words_of(text, out, seen, max)
  for w in text:gmatch("[%w\128-\255]+") do
    if #out >= max then return end
    w = w:lower()
    if #w >= 4 and not STOPWORDS[w] and not seen[w] and core.utf8_valid(w) then
      seen[w] = true
      out[#out + 1] = '"' .. w .. '"'
    end
  end
end

local function keyword_list(v)
  local out = {}
  if type(v) == "table" then
    for _, k in ipairs(v) do
      if type(k) == "string" and k:match("%S") then out[#out + 1] = core.trim(k:lower()) end
    end
  end
  return out
end

-- content: { get = quire.content.get }.
function M.new(site, content)
  local db, types, memo = site.db, site.types, site.memo

  -- related(id [, opts]) -> list of published entries (each with .score), best first.
  -- opts: weights = { keywords = 100, tags = 80, date = 10, text = 40 } (Hugo's defaults plus
  -- text), threshold = 80, rarity = 0.5 (0..1: rare shared tags count more, ubiquitous ones
  -- less), date_window_days = 365, limit = 5 (1..64), types = { ... } (default: any type but
  -- page), keywords_field = "keywords" (a list field of the entry's type).
  return function(id, opts)
    if math.type(id) ~= "integer" then error("quire.content.related takes an entry id", 2) end
    opts = opts or {}
    local w = opts.weights or {}
    local o = {
      weights = {}, threshold = opts.threshold or 80, rarity = opts.rarity or 0.5,
      date_window = (opts.date_window_days or 365) * 86400, limit = opts.limit or 5,
      keywords_field = opts.keywords_field or "keywords",
    }
    for k, v in pairs(RELATED_DEFAULTS) do
      local x = w[k]
      if x ~= nil and type(x) ~= "number" then error("quire.content.related: weights." .. k .. " must be a number", 2) end
      o.weights[k] = x or v
    end
    if type(o.threshold) ~= "number" or type(o.rarity) ~= "number" or type(o.date_window) ~= "number" then
      error("quire.content.related: threshold, rarity and date_window_days are numbers", 2)
    end
    if math.type(o.limit) ~= "integer" or o.limit < 1 or o.limit > 64 then error("quire.content.related: limit must be 1..64", 2) end
    if type(o.keywords_field) ~= "string" or not o.keywords_field:match("^[%a_][%w_]*$") then
      error("quire.content.related: keywords_field must be a field name", 2)
    end
    local types_list = {}
    if opts.types ~= nil then
      for _, t in ipairs(opts.types) do types_list[#types_list + 1] = tostring(t) end
    else
      for _, name in ipairs(types:names()) do if name ~= "page" then types_list[#types_list + 1] = name end end
    end
    local e = content.get(id)
    if not e then return {} end
    local target_tags = memo.get("related-tags\0" .. id, db.rows, db, "SELECT t.id, t.slug, t.listed FROM entry_terms et"
      .. " JOIN terms t ON t.id = et.term_id WHERE et.entry_id = ? AND t.taxonomy = 'tag'", id)
    -- The page shows these results: it goes stale when an entry of a shared tag changes what
    -- they are scored by (quire.content.writes), and with each one shown (entry:ID, below).
    for _, t in ipairs(target_tags) do site.tag("related:tag:" .. t.slug) end

    local key = table.concat({ "related", id, o.weights.keywords, o.weights.tags, o.weights.date, o.weights.text,
      o.threshold, o.rarity, o.date_window, o.limit, o.keywords_field, table.concat(types_list, ",") }, "|")
    local hits = memo.get(key, function()
      local types_json = json.encode(types_list)
      local tag_ids, df = {}, {}
      for i, t in ipairs(target_tags) do tag_ids[i] = t.id; df[t.id] = t.listed end
      local kf = "$." .. o.keywords_field
      local target_kw = keyword_list(e.fields[o.keywords_field])
      local published = " e.status = 'published' AND e.type IN (SELECT value FROM json_each(?))"
      local cand, order = {}, {}
      local function add(cid)
        if cid ~= id and not cand[cid] then
          cand[cid] = { id = cid, text = 0 }
          order[#order + 1] = cid
        end
      end
      -- Every candidate comes from a bounded walk of an index near the entry's date, so the
      -- work is the same at any archive size; on an archive no bigger than the windows this is
      -- every entry sharing a tag, a keyword or a word, as when all of them were scored.
      local at, at_id = e.published_at or e.created_at, id
      -- The entries of each shared tag nearest in time (the rarest tags first: they count most).
      local by_rarity = {}
      for i, t in ipairs(target_tags) do by_rarity[i] = t end
      table.sort(by_rarity, function(a, b) return a.listed < b.listed end)
      for i = 1, math.min(#by_rarity, TAGS_WALKED) do
        for _, dir in ipairs({ { "<", "DESC" }, { ">", "ASC" } }) do
          for _, r in ipairs(db:rows(("SELECT entry_id FROM entry_terms WHERE term_id = ? AND listed_at IS NOT NULL"
            .. " AND (listed_at, entry_id) %s (?, ?) ORDER BY listed_at %s, entry_id %s LIMIT %d"):format(dir[1], dir[2], dir[2], TAG_WINDOW),
            by_rarity[i].id, at, at_id)) do
            add(r.entry_id)
          end
        end
      end
      -- The published entries nearest in time, scanned for shared keywords (a JSON field has no index).
      local near = "SELECT e.id, e.fields FROM entries e WHERE e.status = 'published' AND +e.type IN (SELECT value FROM json_each(?))"
        .. " AND (e.published_at, e.id) %s (?, ?) ORDER BY e.published_at %s, e.id %s LIMIT %d"
      if #target_kw > 0 then
        for _, dir in ipairs({ { "<", "DESC" }, { ">", "ASC" } }) do
          for _, r in ipairs(db:rows("SELECT n.id FROM (" .. near:format(dir[1], dir[2], dir[2], KEYWORD_WINDOW) .. ") n"
            .. " WHERE EXISTS (SELECT 1 FROM json_each(n.fields, ?) k WHERE lower(k.value) IN (SELECT value FROM json_each(?)))",
            types_json, at, at_id, kf, json.encode(target_kw))) do
            add(r.id)
          end
        end
      end
      -- Close in time: the nearest few on either side (the date index of Hugo's related content).
      if o.weights.date > 0 and e.published_at then
        for _, dir in ipairs({ { "<", "DESC" }, { ">", "ASC" } }) do
          for _, r in ipairs(db:rows(near:format(dir[1], dir[2], dir[2], 10), types_json, at, at_id)) do
            add(r.id)
          end
        end
      end
      if o.weights.text > 0 then
        local terms, seen = {}, {}
        words_of(e.title, terms, seen, 16)
        for _, k in ipairs(target_kw) do words_of(k, terms, seen, 16) end
        if type(e.fields.standfirst) == "string" then words_of(e.fields.standfirst, terms, seen, 16) end
        -- Words in more entries than TEXT_MAX_DOCS are left out: matching them would read that
        -- many postings, and a word that common says little about what a story is about.
        local rare = {}
        for _, t in ipairs(terms) do
          -- one step past TEXT_MAX_DOCS entries along the word's list, not a count of all of it
          if not db:value("SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? LIMIT 1 OFFSET ?", t, TEXT_MAX_DOCS) then
            rare[#rare + 1] = t
          end
        end
        if #rare > 0 then
          for _, r in ipairs(db:rows("SELECT e.id, bm25(entries_fts, 5.0, 1.0) AS rank FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid"
            .. " WHERE entries_fts MATCH ? AND" .. published .. " ORDER BY rank LIMIT 50", table.concat(rare, " OR "), types_json)) do
            add(r.id)
            if cand[r.id] then cand[r.id].text = -r.rank end
          end
        end
      end
      if #order == 0 then return {} end
      local ids_json = json.encode(order)
      -- CROSS JOIN: the list of candidates drives (not a walk of every published entry).
      for _, r in ipairs(db:rows("SELECT e.id, e.published_at, json_extract(e.fields, ?) AS kw FROM json_each(?) c CROSS JOIN entries e ON e.id = c.value"
        .. " WHERE e.status = 'published' AND e.type IN (SELECT value FROM json_each(?))", kf, ids_json, types_json)) do
        local c = cand[r.id]
        c.time, c.tags, c.kw, c.ok = time.epoch(r.published_at) or 0, {}, r.kw, true
      end
      for _, r in ipairs(db:rows("SELECT et.entry_id, et.term_id FROM json_each(?) c CROSS JOIN entry_terms et ON et.entry_id = c.value"
        .. " CROSS JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = 'tag'", ids_json)) do
        local c = cand[r.entry_id]
        if c.tags then c.tags[#c.tags + 1] = r.term_id end
      end
      -- Keywords become small integers for the C side, compared case-insensitively.
      local kw_ids, nkw = {}, 0
      local function intern(list)
        local out = {}
        for _, k in ipairs(list) do
          if not kw_ids[k] then nkw = nkw + 1; kw_ids[k] = nkw end
          out[#out + 1] = kw_ids[k]
        end
        return out
      end
      local list = {}
      for _, cid in ipairs(order) do
        local c = cand[cid]
        if c.ok then
          local ok, decoded = pcall(json.decode, c.kw or "[]")
          c.keywords = intern(keyword_list(ok and decoded or nil))
          c.kw, c.ok = nil, nil
          list[#list + 1] = c
        end
      end
      local target = { id = id, tags = tag_ids, keywords = intern(target_kw), time = time.epoch(e.published_at or e.created_at) or 0 }
      -- Tag rarity from the counts the schema keeps (terms.listed, entry_counts), not counted here.
      return core.related_rank(target, list, {
        weights = o.weights, threshold = o.threshold, rarity = o.rarity, date_window = o.date_window, limit = o.limit,
        df = df, total = db:value("SELECT coalesce(sum(n), 0) FROM entry_counts WHERE status = 'published'"),
      })
    end)
    local out = {}
    for _, h in ipairs(hits) do
      local r = content.get(h.id) -- memoised too; tags the page with the entry
      if r then
        r.score = h.score
        out[#out + 1] = r
      end
    end
    return out
  end
end

return M
