-- Related entries for quire.content.related: candidates from SQL (shared tags, shared keywords,
-- neighbours in time, FTS5 similarity to the title, standfirst and keywords), scored in C by
-- core.related_rank (core/search.h: Hugo-like weights plus tag rarity and text similarity), and
-- memoised until the next write anywhere (quire.memo).
local cjson = require "cjson"
local core = require "quire.core"
local time = require "quire.time"

local M = {}

local json = cjson.new()
json.encode_sparse_array(false)

local RELATED_DEFAULTS = { keywords = 100, tags = 80, date = 10, text = 40 }
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
    local target_tags = memo.get("related-tags\0" .. id, db.rows, db, "SELECT t.id, t.slug FROM entry_terms et"
      .. " JOIN terms t ON t.id = et.term_id WHERE et.entry_id = ? AND t.taxonomy = 'tag'", id)
    -- The page shows these results: it goes stale when an entry of a shared tag changes.
    for _, t in ipairs(target_tags) do site.tag("list:tag:" .. t.slug) end

    local key = table.concat({ "related", id, o.weights.keywords, o.weights.tags, o.weights.date, o.weights.text,
      o.threshold, o.rarity, o.date_window, o.limit, o.keywords_field, table.concat(types_list, ",") }, "|")
    local hits = memo.get(key, function()
      local types_json = json.encode(types_list)
      local tag_ids = {}
      for i, t in ipairs(target_tags) do tag_ids[i] = t.id end
      local kf = "$." .. o.keywords_field
      local target_kw = keyword_list(e.fields[o.keywords_field])
      local cand, order = {}, {}
      local function add(cid)
        if cid ~= id and not cand[cid] then
          cand[cid] = { id = cid, text = 0 }
          order[#order + 1] = cid
        end
      end
      local published = " e.status = 'published' AND e.type IN (SELECT value FROM json_each(?))"
      if #tag_ids > 0 then
        for _, r in ipairs(db:rows("SELECT et.entry_id AS id, count(*) AS shared FROM entry_terms et JOIN entries e ON e.id = et.entry_id"
          .. " WHERE et.term_id IN (SELECT value FROM json_each(?)) AND" .. published
          .. " GROUP BY et.entry_id ORDER BY shared DESC, e.published_at DESC LIMIT 500", json.encode(tag_ids), types_json)) do
          add(r.id)
        end
      end
      if #target_kw > 0 then
        for _, r in ipairs(db:rows("SELECT e.id FROM entries e WHERE" .. published
          .. " AND EXISTS (SELECT 1 FROM json_each(e.fields, ?) k WHERE lower(k.value) IN (SELECT value FROM json_each(?)))"
          .. " ORDER BY e.published_at DESC LIMIT 200", types_json, kf, json.encode(target_kw))) do
          add(r.id)
        end
      end
      -- Close in time: the nearest few on either side (the date index of Hugo's related content).
      if o.weights.date > 0 and e.published_at then
        for _, dir in ipairs({ { "<", "DESC" }, { ">", "ASC" } }) do
          for _, r in ipairs(db:rows(("SELECT e.id FROM entries e WHERE e.published_at %s ? AND"):format(dir[1]) .. published
            .. (" ORDER BY e.published_at %s LIMIT 10"):format(dir[2]), e.published_at, types_json)) do
            add(r.id)
          end
        end
      end
      if o.weights.text > 0 then
        local terms, seen = {}, {}
        words_of(e.title, terms, seen, 16)
        for _, k in ipairs(target_kw) do words_of(k, terms, seen, 16) end
        if type(e.fields.standfirst) == "string" then words_of(e.fields.standfirst, terms, seen, 16) end
        if #terms > 0 then
          for _, r in ipairs(db:rows("SELECT e.id, bm25(entries_fts, 5.0, 1.0) AS rank FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid"
            .. " WHERE entries_fts MATCH ? AND" .. published .. " ORDER BY rank LIMIT 50", table.concat(terms, " OR "), types_json)) do
            add(r.id)
            if cand[r.id] then cand[r.id].text = -r.rank end
          end
        end
      end
      if #order == 0 then return {} end
      local ids_json = json.encode(order)
      for _, r in ipairs(db:rows("SELECT id, published_at, json_extract(fields, ?) AS kw FROM entries"
        .. " WHERE id IN (SELECT value FROM json_each(?)) AND status = 'published'", kf, ids_json)) do
        local c = cand[r.id]
        c.time, c.tags, c.kw, c.ok = time.epoch(r.published_at) or 0, {}, r.kw, true
      end
      for _, r in ipairs(db:rows("SELECT et.entry_id, et.term_id FROM entry_terms et JOIN terms t ON t.id = et.term_id"
        .. " WHERE t.taxonomy = 'tag' AND et.entry_id IN (SELECT value FROM json_each(?))", ids_json)) do
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
      local df = {}
      if #tag_ids > 0 then
        for _, r in ipairs(db:rows("SELECT et.term_id, count(*) AS n FROM entry_terms et JOIN entries e ON e.id = et.entry_id"
          .. " WHERE et.term_id IN (SELECT value FROM json_each(?)) AND e.status = 'published' GROUP BY et.term_id", json.encode(tag_ids))) do
          df[r.term_id] = r.n
        end
      end
      local target = { id = id, tags = tag_ids, keywords = intern(target_kw), time = time.epoch(e.published_at or e.created_at) or 0 }
      return core.related_rank(target, list, {
        weights = o.weights, threshold = o.threshold, rarity = o.rarity, date_window = o.date_window, limit = o.limit,
        df = df, total = db:value("SELECT count(*) FROM entries WHERE status = 'published'"),
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
