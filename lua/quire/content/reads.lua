-- Reading entries: one by id or slug (memoised until the next write), lists by filters in
-- keyset order, counts, the published blocks of a sitemap, neighbours, revisions, the trash,
-- an entry's URL. Every read tags the page being built with what it read (site.tag).
--
-- reads = require("quire.content.reads").of(site): the quire.content functions get, query,
-- count, terms, term, published_blocks, published_block, neighbours, revisions, trashed, url, teasers,
-- teaser; and for
-- the write side: reads.select_rows(q) (a query's rows, without their terms), reads.ENTRY_COLUMNS,
-- reads.ID_BLOCK.
local cjson = require "cjson"
local core = require "quire.core"
local term_list = core.term_list
local copy = require("quire.memo").copy
local per_site = require "quire.per_site"
local store_sql = require "quire.store_sql"
local time = require "quire.time"
local types_mod = require "quire.types"
local validate_mod = require "quire.content.validate"

local M = {}

local json = validate_mod.json

local TAXONOMIES = { "tag", "section" }
local BOUNDS = { { "since", ">=" }, { "until", "<" } } -- (query options and their comparison)
local ORDERS = {
  newest = { key = "coalesce(e.published_at, e.created_at)", dir = "DESC" },
  oldest = { key = "coalesce(e.published_at, e.created_at)", dir = "ASC" },
  updated = { key = "e.updated_at", dir = "DESC" },
  id = { key = "e.id", dir = "ASC" },
}

-- Entries per block of ids (api.published_block): a sitemap file's worth.
local ID_BLOCK = 10000

local ENTRY_COLUMNS = "e.id, e.type, e.slug, e.status, e.title, e.body, e.fields, e.author_id,"
  .. " e.created_at, e.updated_at, e.published_at"
-- What a card or headline is built from (title, link, date, section, author, the fields' standfirst
-- and picture): an entry without its body, which is most of its bytes. Entries read inside
-- api.teasers have these columns only (see there).
local CARD_COLUMNS = "e.id, e.type, e.slug, e.status, e.title, e.fields, e.author_id, e.created_at, e.updated_at, e.published_at"
-- An entry's terms read with it (decode_entries): their ids in position order, named from the
-- terms table there (store_sql.TERM_IDS_OF_E: the store's own SQL, looked up when a statement is
-- made, as the site picks its store after this module loads). Not their names: every entry on a
-- page names the same few terms again, and their names cost a statement more than their ids.
local function term_columns() return store_sql.TERM_IDS_OF_E .. " AS term_ids" end

M.ID_BLOCK, M.ENTRY_COLUMNS, M.CARD_COLUMNS = ID_BLOCK, ENTRY_COLUMNS, CARD_COLUMNS

-- An entry's neighbours (api.neighbour_ids): both in one statement, each one step along an index.
local function neighbour_sql(one)
  return "SELECT " .. one("<", "DESC") .. " AS prev_id, " .. one(">", "ASC") .. " AS next_id"
end
local NEIGHBOURS_IN_TYPE = neighbour_sql(function(cmp, dir)
  return "(SELECT e.id FROM entries e WHERE e.status = 'published' AND e.type = ?"
    .. (" AND (e.published_at, e.id) %s (?, ?) ORDER BY e.published_at %s, e.id %s LIMIT 1)"):format(cmp, dir, dir)
end)
local NEIGHBOURS_IN_SECTION = neighbour_sql(function(cmp, dir)
  return "(SELECT lt.entry_id FROM entry_terms lt WHERE lt.term_id = (SELECT id FROM terms WHERE taxonomy = 'section' AND slug = ?)"
    .. (" AND lt.listed_at IS NOT NULL AND (lt.listed_at, lt.entry_id) %s (?, ?) ORDER BY lt.listed_at %s, lt.entry_id %s LIMIT 1)"):format(cmp, dir, dir)
end)
-- Links to neighbours (api.neighbours with links): the entries before ("<") or after (">") one
-- in its scope, nearest first, up to a limit, with what a link to them shows (the title, what the
-- address is made of: columns before the body).
local LINK_COLUMNS = "e.id, e.type, e.slug, e.title, e.published_at"
local function walks(from, key, id)
  local function walk(cmp, dir)
    return ("SELECT %s FROM %s AND (%s, %s) %s (?, ?) ORDER BY %s %s, %s %s LIMIT ?"):format(LINK_COLUMNS, from, key, id, cmp, key, dir, id, dir)
  end
  return { ["<"] = walk("<", "DESC"), [">"] = walk(">", "ASC") }
end
local WALK_IN_TYPE = walks("entries e WHERE e.status = 'published' AND e.type = ?", "e.published_at", "e.id")
local WALK_IN_SECTION = walks("entry_terms lt JOIN entries e ON e.id = lt.entry_id WHERE lt.term_id ="
  .. " (SELECT id FROM terms WHERE taxonomy = 'section' AND slug = ?) AND lt.listed_at IS NOT NULL", "lt.listed_at", "lt.entry_id")
local UNINDEXED_TYPE, UNINDEXED_STATUS = store_sql.unindexed("e.type"), store_sql.unindexed("status")

M.of = per_site(function(site)
  local db, types, memo = site.db, site.types, site.memo
  local user_id = validate_mod.of(site).user_id
  local api = {}

  -- Terms by id (as a string, as term_ids names them): the terms row { id, taxonomy, name }. Read
  -- when an entry first names one, kept until the memo sees the database change (a rename or
  -- merge; memo.generation), at most TERMS_MAX; inside a transaction none are kept (it may write
  -- one, or roll back).
  local TERMS_MAX = 10000
  local known, nknown, known_gen = {}, 0, nil
  local function term_names()
    if db:depth() > 0 then return {} end
    local gen = memo.generation()
    if gen ~= known_gen or nknown >= TERMS_MAX then known, nknown, known_gen = {}, 0, gen end
    return known
  end
  -- Reads the terms that rows[from..] name and names lacks, in one statement.
  local function learn(names, rows, from)
    local ids, asked = {}, {}
    for i = from, #rows do
      local list = rows[i].term_ids
      if list then
        for id in list:gmatch("%d+") do
          if not names[id] and not asked[id] then ids[#ids + 1], asked[id] = id, true end
        end
      end
    end
    for _, t in ipairs(db:rows("SELECT id, taxonomy, name FROM terms WHERE id " .. store_sql.IN_LIST, store_sql.id_list(ids))) do
      names[tostring(t.id)] = t
    end
    if names == known then nknown = nknown + #ids end
  end

  -- Entries read with their terms (term_columns()) as the content API gives them: tags in
  -- position order, section, fields decoded.
  -- (core.term_list: tags in order, the first section; an id not in names, read since the row
  -- was, is learned once for this and the later rows, then left out: gone since.)
  local function decode_entries(rows)
    local names, learned = term_names(), false
    for i = 1, #rows do
      local row = rows[i]
      local tags, section, missing = term_list(row.term_ids, names)
      if missing and not learned then
        learn(names, rows, i)
        learned = true
        tags, section = term_list(row.term_ids, names)
      end
      row.term_ids, row.tags, row.section = nil, tags, section
      row.fields = row.fields == "{}" and {} or json.decode(row.fields) -- the common case without cjson
      row.author = row.author_id
    end
    return rows
  end
  local function decode_entry(row)
    decode_entries({ row })
    return row
  end

  -- What a page showing an entry is tagged with: "entry:ID" (all of it: its page, a feed), or
  -- inside api.teasers "teaser:ID" (what a card or headline shows: everything but the body,
  -- which writes bump for every change but one to the body alone, quire.content.writes).
  local shown = "entry:"

  -- teasers(fn, ...) -> fn(...)'s results, its reads tagging the page as one that shows entries
  -- as cards: get() tags "teaser:ID"; a list tags only what moves entries in or out of it (the
  -- rows it fetched to pick from, or to learn whether a next page exists, are not all shown):
  -- each entry shown is tagged by its card (view.card) or by api.teaser(e).
  -- What such a page shows goes stale with teaser:ID, which an edit of the body alone does not
  -- bump: so the entries read inside have no body (CARD_COLUMNS) and no revision, nothing built
  -- from them can show one, and a list of cards reads a tenth of the bytes.
  function api.teasers(fn, ...)
    local outer = shown
    shown = "teaser:"
    local res = table.pack(pcall(fn, ...))
    shown = outer
    if not res[1] then error(res[2], 0) end
    return table.unpack(res, 2, res.n)
  end
  -- teaser(e): the page shows e as a card or headline (title, link, date, section, author,
  -- standfirst, picture).
  function api.teaser(e)
    if e and e.id then site.tag("teaser:" .. e.id) end
  end

  -- get() also reads the entry's revision: the id of its newest revision, which an update
  -- names as its base_revision to be refused if another write came first. The entry, its
  -- revision and its terms are one statement.
  -- The statements, by their WHERE clause, made at the first read (the store's SQL is known then).
  local entry_sql, card_sql = {}, {}
  -- A whole entry read is its card too (what load_card reads, less the body and the revision):
  -- kept under the card's key when it is not there, so the page of an entry does not read and
  -- decode it again for its own related block and neighbours. (Shared with the entry's value:
  -- both are copied when handed out.)
  local function card_tag(row) return row and "teaser:" .. row.id end
  local function card_of(e, gen)
    -- (a change seen since the row was read: its tags were read then, so they could not drop it)
    if memo.generation() ~= gen then memo.unkept() end
    local card = {}
    for k, v in pairs(e) do card[k] = v end
    card.body, card.revision = nil, nil
    return card
  end
  -- What a statement reading cards (or whole entries) of entries e selects.
  local selected = {}
  local function columns(cards)
    local sql = selected[cards]
    if not sql then
      if cards then
        sql = "SELECT " .. CARD_COLUMNS .. ", " .. term_columns()
      else
        sql = "SELECT " .. ENTRY_COLUMNS .. ", (SELECT max(r.id) FROM revisions r WHERE r.entry_id = e.id) AS revision, "
          .. term_columns()
      end
      selected[cards] = sql
    end
    return sql
  end
  -- The statement reading cards (or whole entries) of entries e WHERE where (a card by its id:
  -- from the index of cards, store_sql.CARD_ENTRIES).
  local function statement(cards, where)
    local made = cards and card_sql or entry_sql
    local sql = made[where]
    if not sql then
      local from = cards and where == "e.id = ?" and store_sql.CARD_ENTRIES or "entries e"
      sql = columns(cards) .. " FROM " .. from .. " WHERE " .. where
      made[where] = sql
    end
    return sql
  end
  local function load_entry(where, ...)
    local gen = memo.generation()
    local row = db:row(statement(false, where), ...)
    if not row then return nil end
    local e = decode_entry(row)
    memo.tagged("card\0" .. e.id, card_tag, card_of, e, gen)
    return e
  end
  local function load_card(where, ...)
    local row = db:row(statement(true, where), ...)
    return row and decode_entry(row)
  end
  -- Inside api.teasers: cards (memo keys "card..."), else whole entries ("entry...").
  local function as_cards() return shown == "teaser:" end

  -- Entries are memoised (quire.memo) until a write bumps their "entry:ID" (every write to one
  -- does: its row, terms, revisions); one not found, until any write. The memo is never older
  -- than the last commit this process could see. Each caller gets its own copy.
  -- A card (no body) is kept until its "teaser:ID", which every write to what it holds bumps.
  local function entry_tag(row) return row and "entry:" .. row.id end
  -- The kept row of key (an id or {type=, slug=}), the page tagged with it: get's, copied for
  -- each caller, and get_shared's, the kept value itself, for the core's own code that only reads
  -- it (quire.related, the entry whose list it makes: a copy a call); never handed to a plugin.
  local function kept_row(key)
    local row
    local prefix, load, tag = "entry\0", load_entry, entry_tag
    if as_cards() then prefix, load, tag = "card\0", load_card, card_tag end
    if math.type(key) == "integer" then
      row = memo.tagged(prefix .. key, tag, load, "e.id = ?", key)
    elseif type(key) == "table" and key.type and key.slug then
      row = memo.tagged(prefix .. tostring(key.type) .. "\0" .. tostring(key.slug), tag, load,
        "e.type = ? AND e.slug = ?", key.type, key.slug)
    else
      error("quire.content.get takes an id or {type=, slug=}", 3)
    end
    if row then site.tag(shown .. row.id) end
    return row
  end
  function api.get(key)
    local row = kept_row(key)
    return row and copy(row) or nil
  end
  api.get_shared = kept_row

  local QUERY_KEYS = {
    type = true, status = true, tag = true, section = true, author = true, since = true,
    ["until"] = true, order = true, limit = true, after = true,
  }

  -- "?, ?, ?" for n parameters (n from 1 to 64: type_list's), made once each.
  local MARKS = {}
  local function marks(n)
    local m = MARKS[n]
    if not m then m = ("?, "):rep(n - 1) .. "?" MARKS[n] = m end
    return m
  end

  -- q.type: a type name or a list of them (nil: any).
  local function type_list(q, caller, level)
    local t = q.type
    if t == nil or type(t) == "string" then return t end
    if type(t) ~= "table" or #t == 0 or #t > 64 then error(caller .. ": type must be a type name or a list of 1..64 of them", level) end
    for i = 1, #t do
      if type(t[i]) ~= "string" then error(caller .. ": type must be a type name or a list of 1..64 of them", level) end
    end
    return t
  end

  -- WHERE clauses and parameters for the filters of q (shared by query and count). Returns nil
  -- when a filter can match nothing (an unknown author).
  -- after_id (optional): only entries after it are wanted (id order), which bounds the tag and
  -- section lists too, so that paging through a tag does not list all of it for every page.
  -- limit (optional, with after_id): when a tag or section is the only filter, its list needs no
  -- more than the page's entries.
  -- walked (optional): the taxonomy the query walks itself (listed order), left out here.
  -- date_key: the expression since/until compare (the order's key).
  local function filters(q, caller, level, after_id, limit, walked, date_key)
    level = level or 3
    for k in pairs(q) do
      if not QUERY_KEYS[k] then error(("%s: unknown option '%s'"):format(caller, tostring(k)), level) end
    end
    local where, params = {}, {}
    local function add(clause, a, b, c) -- (at most three parameters: no table of them per clause)
      where[#where + 1] = clause
      if a ~= nil then
        params[#params + 1] = a
        if b ~= nil then
          params[#params + 1] = b
          if c ~= nil then params[#params + 1] = c end
        end
      end
    end
    local types_q = type_list(q, caller, level + 1)
    -- Unindexed: the type is checked on the rows an ordered index walk finds, not used to pick
    -- the index (several types in one index order). A few names, each a parameter: a list's
    -- page (most are of all listed types) does not make a table of them from JSON first.
    if type(types_q) == "table" then
      where[#where + 1] = UNINDEXED_TYPE .. " IN (" .. marks(#types_q) .. ")"
      table.move(types_q, 1, #types_q, #params + 1, params)
    elseif types_q then add("e.type = ?", types_q) end
    if q.status then add("e.status = ?", q.status) else add("e.status <> 'trash'") end -- the trash only when asked for
    local only_term = limit and after_id and (q.tag == nil) ~= (q.section == nil) and q.type == nil and q.status == nil
      and q.author == nil and q.since == nil and q["until"] == nil
      and not db:row("SELECT 1 AS x FROM trash LIMIT 1") -- a trashed entry in the window would shorten the page
    for _, taxonomy in ipairs(TAXONOMIES) do
      local name = q[taxonomy]
      if taxonomy == walked then -- luacheck: ignore 542
      elseif name and only_term then
        add("e.id IN (SELECT et.entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = '"
          .. taxonomy .. "' AND t.slug = ? AND et.entry_id > ? ORDER BY et.entry_id LIMIT ?)", core.slugify(name), after_id, limit)
      elseif name and after_id then
        add("e.id IN (SELECT et.entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = '"
          .. taxonomy .. "' AND t.slug = ? AND et.entry_id > ?)", core.slugify(name), after_id)
      elseif name then
        add("e.id IN (SELECT et.entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = '"
          .. taxonomy .. "' AND t.slug = ?)", core.slugify(name))
      end
    end
    if q.author ~= nil then
      local uid = user_id(q.author, {})
      if not uid then return nil end
      add("e.author_id = ?", uid)
    end
    for _, bound in ipairs(BOUNDS) do
      local v = q[bound[1]]
      if v ~= nil then
        local norm, err = time.parse(v)
        if not norm then error(caller .. ": " .. bound[1] .. " " .. err, level) end
        add((date_key or "coalesce(e.published_at, e.created_at)") .. " " .. bound[2] .. " ?", norm)
      end
    end
    return where, params, add
  end

  -- A page built from a list goes stale when an entry joins, leaves or moves within it (these
  -- tags), and when one of the entries it shows changes (their entry:ID tags: entry_tags).
  -- Tags the page with them; returns them as a list (with out: added to it).
  local function list_tags(q, out)
    out = out or {}
    if q.order == "updated" then out[#out + 1] = "entries:any" end -- every write moves an entry in it
    -- Not only published entries: the writes to the others bump this, not the public lists.
    if q.status ~= "published" then out[#out + 1] = "list:drafts" end
    if q.tag then out[#out + 1] = "list:tag:" .. core.slugify(q.tag)
    elseif q.section then out[#out + 1] = "list:section:" .. core.slugify(q.section)
    elseif type(q.type) == "string" then out[#out + 1] = "list:type:" .. q.type
    elseif q.type then for _, t in ipairs(q.type) do out[#out + 1] = "list:type:" .. t end
    else out[#out + 1] = "list:all" end
    for i = 1, #out do site.tag(out[i]) end
    return out
  end

  -- The number of entries matching the filters of q (type, status, tag, section, author, since, until).
  function api.count(q)
    q = q or {}
    local where, params = filters(q, "quire.content.count")
    if not where then return 0 end
    list_tags(q) -- (a page showing the count goes stale as the list would)
    local n = 0
    for _ in pairs(q) do n = n + 1 end
    -- Counts kept by the schema's triggers: entries by status, a term's published entries.
    if n == 0 then return db:value("SELECT coalesce(sum(n), 0) FROM entry_counts WHERE status <> 'trash'") end
    if n == 1 and type(q.status) == "string" then
      return db:value("SELECT coalesce(sum(n), 0) FROM entry_counts WHERE status = ?", q.status)
    end
    local taxonomy = q.tag and "tag" or q.section and "section"
    if taxonomy and n == 2 and q.status == "published" then
      return db:value("SELECT coalesce(sum(listed), 0) FROM terms WHERE taxonomy = ? AND slug = ?", taxonomy, core.slugify(q[taxonomy]))
    end
    -- A tag or section alone: its rows in entry_terms are its entries (one row per entry and
    -- term; the foreign key keeps the entry), counted from the index without listing them.
    if taxonomy and n == 1 and not db:row("SELECT 1 AS x FROM trash LIMIT 1") then -- (trashed entries keep their terms)
      return db:value("SELECT count(*) FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = ? AND t.slug = ?",
        taxonomy, core.slugify(q[taxonomy]))
    end
    return db:value("SELECT count(*) FROM entries e" .. (#where > 0 and (" WHERE " .. table.concat(where, " AND ")) or ""), table.unpack(params))
  end

  local function entry_tags(rows)
    if site.collecting and shown == "entry:" then
      for i = 1, #rows do site.tag("entry:" .. rows[i].id) end
    end
  end

  -- The rows of a query, not yet decoded (with_terms: each with its terms' column, for
  -- decode_entries; places: only each one's id and published_at); raises at the caller of its
  -- caller (api.query or writes.batch_query).
  -- Published entries by date are keyset pages over an index whatever the archive's size: all
  -- of them by (published_at, id), an author's by (author_id, published_at, id), a tag's or
  -- section's by entry_terms (term_id, listed_at, entry_id). q.after may then be a cursor
  -- { published_at =, id = } (an entry is one), which needs no lookup and outlives the entry.
  local function select_rows(q, with_terms, places)
    q = q or {}
    local order = ORDERS[q.order or "newest"]
    if not order then error("quire.content.query: order must be newest, oldest, updated or id", 3) end
    local after_id = q.after
    if type(after_id) == "table" then after_id = after_id.id end
    local by_date = order.key == ORDERS.newest.key and q.status == "published"
    local key_expr = by_date and "e.published_at" or order.key
    -- A tag's or section's published entries are walked from entry_terms in date order.
    local walked = by_date and (q.tag ~= nil and "tag" or q.section ~= nil and "section") or nil
    if walked then key_expr = "lt.listed_at" end
    -- In id order the lists of a tag or section filter start after the page's first id (ids are
    -- positive: 0 without q.after).
    local bound = order.key == "e.id" and (q.after == nil and 0 or math.type(after_id) == "integer" and after_id) or nil
    local where, params, add = filters(q, "quire.content.query", 4, bound,
      bound and math.type(q.limit) == "integer" and q.limit or nil, walked, by_date and "e.published_at" or nil)
    if not where then return {} end
    if q.after ~= nil then
      if math.type(after_id) ~= "integer" then error("quire.content.query: after must be an entry, a cursor or an id", 3) end
      local key = after_id
      if by_date and type(q.after) == "table" and type(q.after.published_at) == "string" then
        key = q.after.published_at
      elseif order.key ~= "e.id" then
        key = db:value("SELECT " .. order.key .. " FROM entries e WHERE e.id = ?", after_id)
        if key == nil then error(("quire.content.query: after entry %d does not exist"):format(after_id), 3) end
      end
      add(("(%s, %s) %s (?, ?)"):format(key_expr, walked and "lt.entry_id" or "e.id", order.dir == "DESC" and "<" or ">"), key, after_id)
    end
    local limit = q.limit or 50
    if math.type(limit) ~= "integer" or limit < 1 or limit > 10000 then
      error("quire.content.query: limit must be an integer from 1 to 10000", 3)
    end
    local tags = list_tags(q)
    local from = " FROM entries e"
    if walked then
      -- CROSS JOIN: entry_terms drives, in its index order; the entries are looked up by id (their
      -- cards from the index of cards: store_sql.CARD_ENTRIES).
      from = " FROM entry_terms lt " .. store_sql.JOIN_IN_ORDER .. " "
        .. ((places or as_cards()) and store_sql.CARD_ENTRIES or "entries e") .. " ON e.id = lt.entry_id"
      table.insert(where, 1, "lt.term_id = (SELECT id FROM terms WHERE taxonomy = ? AND slug = ?) AND lt.listed_at IS NOT NULL")
      table.insert(params, 1, core.slugify(q[walked]))
      table.insert(params, 1, walked)
    end
    local sql = "SELECT " .. (places and "e.id, e.published_at" or as_cards() and CARD_COLUMNS or ENTRY_COLUMNS)
      .. (with_terms and (", " .. term_columns()) or "") .. from
      .. (#where > 0 and (" WHERE " .. table.concat(where, " AND ")) or "")
      .. (" ORDER BY %s %s, %s %s LIMIT %d"):format(key_expr, order.dir, walked and "lt.entry_id" or "e.id", order.dir, limit)
    local rows = db:rows(sql, table.unpack(params))
    entry_tags(rows)
    return rows, tags
  end

  -- The memo key of a query of at most MEMO_ROWS entries (q's keys in order, each value with its
  -- type and length), or nil for one not memoised: larger, or not plainly valid (select_rows then
  -- raises).
  local MEMO_ROWS = 100
  local KEY_ORDER = {}
  for k in pairs(QUERY_KEYS) do KEY_ORDER[#KEY_ORDER + 1] = k end
  table.sort(KEY_ORDER)
  local function part(v)
    local t = math.type(v) or type(v)
    if t ~= "string" and t ~= "integer" then return nil end
    v = tostring(v)
    return t:sub(1, 1) .. #v .. ":" .. v
  end
  local function query_key(q)
    if type(q) ~= "table" then return nil end
    local limit = q.limit or 50
    if math.type(limit) ~= "integer" or limit > MEMO_ROWS then return nil end
    for k in pairs(q) do if not QUERY_KEYS[k] then return nil end end
    local out = { as_cards() and "cards" or "query" }
    for _, k in ipairs(KEY_ORDER) do
      local v = q[k]
      if v ~= nil then
        local p
        if k == "type" and type(v) == "table" then
          local list = {}
          for i, t in ipairs(v) do list[i] = part(t) or "?" end
          p = "[" .. table.concat(list, ",") .. "]"
        elseif k == "after" and type(v) == "table" then -- an entry or a cursor: its id and date
          p = "{" .. (part(v.id) or "?") .. "," .. (part(v.published_at) or "-") .. "}"
        else
          p = part(v)
        end
        if not p then return nil end
        out[#out + 1] = k .. "=" .. p
      end
    end
    return table.concat(out, "\0")
  end

  -- Lists are memoised like entries (quire.memo), so a page rendered without the page cache
  -- reads no list twice: until a write moves an entry in or out (the list's tags) or changes
  -- one it holds (entry:ID: the rows hold whole entries). Each caller gets its own copy.
  -- Lists of cards and of whole entries are two classes (memo.put's): a full export's pages
  -- each read lists of their own, kept by no one, where a server's are read again.
  local card_lists, entry_lists = memo.class(), memo.class()
  function api.query(q)
    local key = query_key(q)
    if not key then return decode_entries(select_rows(q, true)) end
    local rows = memo.find(key)
    if rows then
      list_tags(q)
      entry_tags(rows)
      return copy(rows)
    end
    local tags
    rows, tags = select_rows(q, true)
    decode_entries(rows)
    tags = tags or list_tags(q, {}) -- (none read: a filter matches nothing)
    for i = 1, #rows do tags[#tags + 1] = "entry:" .. rows[i].id end
    local kept
    rows, kept = memo.put(key, rows, #rows + 1, tags, as_cards() and card_lists or entry_lists)
    if kept then return copy(rows) end
    return rows -- (read now and kept by no one: the caller's own)
  end
  api.select_rows = select_rows

  -- cursors(q) -> the places { published_at =, id = } of the entries query(q) gives, in its
  -- order, and nothing else of them: where a list's pages start and end (keyset links) without
  -- reading the entries. Tags the page as a list of cards does (the list's tags, no entry).
  function api.cursors(q)
    local outer = shown
    shown = "teaser:"
    local ok, rows = pcall(select_rows, q, false, true)
    shown = outer
    if not ok then error(rows, 0) end
    return rows
  end

  -- terms(taxonomy) -> the tags or sections that published entries carry: { name, slug, count },
  -- by slug, at most 10,000 (counts the schema keeps; nothing is counted here).
  function api.terms(taxonomy)
    if taxonomy ~= "tag" and taxonomy ~= "section" then error("quire.content.terms: taxonomy must be 'tag' or 'section'", 2) end
    site.tag("list:all")
    return db:rows("SELECT name, slug, listed AS count FROM terms WHERE taxonomy = ? AND listed > 0 ORDER BY slug LIMIT 10000", taxonomy)
  end

  -- term(taxonomy, slug) -> the name of the tag or section with that slug when a published entry
  -- carries it, or nil: one lookup of the terms table (a list page's heading), not a list of one
  -- entry with its terms. Tags the page as the term's list does: its publishes, unpublishes,
  -- renames and merges bump "list:KIND:SLUG". Memoised as the list's page of cards is, in its
  -- class (each older page finds the name): without it that class was kept less, the memo turned
  -- less often, and a whole export's peak memory rose 121 -> 137 MB (N=2000) with the feeds'
  -- larger values kept longer.
  local function term_name(taxonomy, slug)
    return db:value("SELECT name FROM terms WHERE taxonomy = ? AND slug = ? AND listed > 0", taxonomy, slug)
  end
  local function term_class() return card_lists end
  function api.term(taxonomy, slug)
    if taxonomy ~= "tag" and taxonomy ~= "section" then error("quire.content.term: taxonomy must be 'tag' or 'section'", 2) end
    if type(slug) ~= "string" then error("quire.content.term takes a taxonomy and a slug", 2) end
    slug = core.slugify(slug)
    local tag = "list:" .. taxonomy .. ":" .. slug
    site.tag(tag)
    return memo.of_class(term_class, nil, "term\0" .. taxonomy .. "\0" .. slug, tag, term_name, taxonomy, slug)
  end

  -- Published entries by blocks of ID_BLOCK consecutive ids (a sitemap file each: the
  -- protocol allows 50,000 URLs; a fifth of that keeps the rebuild of the newest file short). A page built from a block is tagged "ids:N", which every
  -- write to an entry of the block bumps, so it is not rebuilt for writes elsewhere.
  -- published_blocks() -> the numbers of the blocks holding a published entry, ascending.
  function api.published_blocks()
    site.tag("list:all")
    -- (status unindexed: the id range drives, not the index of every published entry)
    local out, top = {}, db:value("SELECT max(id) FROM entries")
    for n = 0, (top or -1) // ID_BLOCK do
      if db:value("SELECT id FROM entries WHERE id >= ? AND id < ? AND " .. UNINDEXED_STATUS .. " = 'published' ORDER BY id LIMIT 1", n * ID_BLOCK, (n + 1) * ID_BLOCK) then
        out[#out + 1] = n
      end
    end
    return out
  end
  -- published_block(n) -> the published entries of block n in id order, as rows of id, type,
  -- slug, published_at, created_at, updated_at (enough for quire.content.url) and fields.
  function api.published_block(n)
    if math.type(n) ~= "integer" or n < 0 then error("quire.content.published_block takes a block number", 2) end
    site.tag("ids:" .. n)
    local rows = db:rows("SELECT id, type, slug, published_at, created_at, updated_at, fields FROM entries WHERE id >= ? AND id < ?"
      .. " AND " .. UNINDEXED_STATUS .. " = 'published' ORDER BY id", n * ID_BLOCK, (n + 1) * ID_BLOCK)
    for _, r in ipairs(rows) do r.fields = r.fields == "{}" and {} or json.decode(r.fields) end
    return rows
  end

  -- The ids of the published entries just before and after e by publication time, within its
  -- type, or within its section (within = "section"; its type when it has none): false for
  -- none. e: { id, type, published_at, section }. No tags, no memo: writes ask it too, inside
  -- their transaction, to tell which pages link to e as a neighbour.
  -- Each is one step along an index: (status, type, published_at, id) within the type, the
  -- section's entry_terms (term_id, listed_at, entry_id) within a section.
  local function neighbour_ids(e, within)
    local row
    if within == "section" and e.section then
      local slug = core.slugify(e.section)
      row = db:row(NEIGHBOURS_IN_SECTION, slug, e.published_at, e.id, slug, e.published_at, e.id)
    else
      row = db:row(NEIGHBOURS_IN_TYPE, e.type, e.published_at, e.id, e.type, e.published_at, e.id)
    end
    return row.prev_id or false, row.next_id or false
  end
  api.neighbour_ids = neighbour_ids

  -- Links to neighbours are read a window at a time: the entry, its neighbours and WINDOW_MAX
  -- entries on a side the pages read from the last window went to (an export renders entries in
  -- order: entry N's next is N+1, whose previous is N), held, one per type or section (at most
  -- WINDOWS_MAX), until the memo sees a change (its generation moves, as memo.block's). A
  -- server's pages come in no order: its windows stay one entry each side.
  local WINDOW_MAX, WINDOWS_MAX = 16, 64
  -- scope -> { gen =, rows = (in order), at = { [id] = index }, anchor = index, first =, last =, up =, down = }
  local windows, nwindows = {}, 0
  -- The window of scope holding id and its neighbours (or the scope's end), and id's index there.
  local function held(id, scope)
    local w = windows[scope]
    if not w or db:depth() > 0 or w.gen ~= memo.generation() then return nil end
    local i = w.at[id]
    if not i or i == 1 and not w.first or i == #w.rows and not w.last then return nil end
    if i > w.anchor then w.up = w.up + 1 elseif i < w.anchor then w.down = w.down + 1 end
    return w, i
  end
  -- The window around e (its card) in its section (in_section) or type, kept under scope when
  -- e is in that list (published) and outside a transaction; and e's index there.
  local function read_window(e, scope, in_section)
    local old, gen = windows[scope], memo.generation()
    local was = old and old.at[e.id] -- (at the old one's edge: the pages go that way)
    local down = old and (old.down > 0 or was and was < old.anchor) and WINDOW_MAX or 1
    local up = old and (old.up > 0 or was and was > old.anchor) and WINDOW_MAX or 1
    local sql, a = WALK_IN_TYPE, e.type
    if in_section then sql, a = WALK_IN_SECTION, core.slugify(e.section) end
    local before = db:rows(sql["<"], a, e.published_at, e.id, down)
    local after = db:rows(sql[">"], a, e.published_at, e.id, up)
    local rows, at = {}, {}
    for i = #before, 1, -1 do rows[#rows + 1] = before[i] end
    rows[#rows + 1] = { id = e.id, type = e.type, slug = e.slug, title = e.title, published_at = e.published_at }
    local anchor = #rows
    table.move(after, 1, #after, anchor + 1, rows)
    for i = 1, #rows do at[rows[i].id] = i end
    local w = { gen = gen, rows = rows, at = at, anchor = anchor, first = #before < down, last = #after < up, up = 0, down = 0 }
    if e.status == "published" and db:depth() == 0 then
      if not old then
        if nwindows >= WINDOWS_MAX then windows, nwindows = {}, 0 end
        nwindows = nwindows + 1
      end
      windows[scope] = w
    end
    return w, anchor
  end

  -- A page showing e's neighbours is tagged "neighbours:ID" (not with the whole list): a write
  -- that moves an entry in or out between two others bumps the tags of just those two
  -- (quire.content.writes), and the neighbours' own entry:ID tags cover their titles.
  -- With links = true, { id, title, url } of each instead of the entries: what a link to them
  -- shows, tagged "teaser:ID" as their cards, with "teaser:ID" of the entry (its date, type,
  -- section).
  function api.neighbours(id, opts)
    opts = opts or {}
    local within = opts.within or "type"
    if within ~= "type" and within ~= "section" then error("quire.content.neighbours: within must be 'type' or 'section'", 2) end
    if opts.links then
      if math.type(id) ~= "integer" then error("quire.content.neighbours takes an entry id with links", 2) end
      local e = memo.tagged("card\0" .. id, card_tag, load_card, "e.id = ?", id)
      if not e or not e.published_at then return nil, nil end
      local in_section = within == "section" and e.section ~= nil
      local scope = in_section and "section\0" .. e.section or "type\0" .. e.type
      local w, i = held(id, scope)
      if not w then w, i = read_window(e, scope, in_section) end
      site.tag("neighbours:" .. id)
      site.tag("teaser:" .. id)
      local rows, prev, nxt = w.rows, nil, nil
      local p, n = rows[i - 1], rows[i + 1]
      -- (each row is linked from two pages: its address is kept in the window)
      if p then
        site.tag("teaser:" .. p.id)
        p.url = p.url or api.url(p)
        prev = { id = p.id, title = p.title, url = p.url }
      end
      if n then
        site.tag("teaser:" .. n.id)
        n.url = n.url or api.url(n)
        nxt = { id = n.id, title = n.title, url = n.url }
      end
      return prev, nxt
    end
    local e = api.get(id)
    if not e or not e.published_at then return nil, nil end
    site.tag("neighbours:" .. id)
    -- Kept until "neighbours:ID" moves, or the entry (its date, type, section).
    local ids = memo.tagged("neighbours\0" .. within .. "\0" .. id, { "neighbours:" .. id, "entry:" .. id }, function()
      local prev, nxt = neighbour_ids(e, within)
      return { prev = prev, next = nxt }
    end)
    return ids.prev and api.get(ids.prev) or nil, ids.next and api.get(ids.next) or nil
  end

  function api.revisions(id)
    site.tag("entry:" .. tostring(id)) -- every save writes one
    local rows = db:rows("SELECT id, entry_id, title, slug, status, body, fields, terms, published_at, author_id, saved_by, actor, created_at"
      .. " FROM revisions WHERE entry_id = ? ORDER BY id DESC", id)
    for _, r in ipairs(rows) do
      r.fields = json.decode(r.fields)
      local t = json.decode(r.terms)
      r.tags, r.section, r.terms = t.tags or {}, t.section, nil
      if r.section == cjson.null then r.section = nil end
    end
    return rows
  end

  -- The trash, oldest first: { id, type, slug, title, status (to restore), trashed_at, actor }.
  function api.trashed(opts)
    opts = opts or {}
    local limit = opts.limit or 1000
    if math.type(limit) ~= "integer" or limit < 1 or limit > 10000 then error("quire.content.trashed: limit must be 1..10000", 2) end
    return db:rows("SELECT e.id, e.type, e.slug, e.title, t.status, t.trashed_at, t.actor FROM trash t JOIN entries e ON e.id = t.entry_id"
      .. " WHERE (CAST(? AS TEXT) IS NULL OR t.trashed_at < ?) ORDER BY t.trashed_at, e.id LIMIT ?", opts.before, opts.before, limit)
  end

  -- The path of an entry (or a search result row) from its type's permalink, or nil for an
  -- unknown type.
  function api.url(entry)
    if type(entry) ~= "table" or type(entry.type) ~= "string" then error("quire.content.url takes an entry", 2) end
    local t = types:get(entry.type)
    if not t then return nil end
    if t.fields.path and entry.fields == nil and math.type(entry.id) == "integer" then
      -- A row without fields (a sitemap's, a search hit's): a nested page's parents are in them.
      entry = { id = entry.id, type = entry.type, slug = entry.slug, published_at = entry.published_at,
        created_at = entry.created_at, fields = db:value("SELECT e.fields FROM " .. store_sql.CARD_ENTRIES .. " WHERE e.id = ?", entry.id) }
    end
    return types_mod.permalink(t, entry)
  end

  -- get_each(ids) -> a list parallel to ids (integers) of what get(id) gives for each (nil for
  -- none), those the memo has not read in one statement (a related block's few cards). A row
  -- read before a change the memo has seen since is handed out, not kept.
  function api.get_each(ids)
    local cards = as_cards()
    local prefix, tag = "entry\0", entry_tag
    if cards then prefix, tag = "card\0", card_tag end
    local found, todo = {}, {}
    for i, id in ipairs(ids) do
      found[i] = memo.find(prefix .. id)
      if found[i] == nil then todo[#todo + 1] = id end
    end
    local read, gen
    local function load(id)
      if not read then
        gen, read = memo.generation(), {}
        -- (The list drives the join: on SQLite an IN list would first copy it into a temporary
        -- index. Decoded once: an id may be asked twice.)
        for _, r in ipairs(decode_entries(store_sql.entries_of(db, columns(cards), todo, "", {}))) do
          read[r.id] = r
        end
      end
      local e = read[id]
      if not e then return nil end
      if memo.generation() ~= gen then memo.unkept() end
      if not cards then memo.tagged("card\0" .. e.id, card_tag, card_of, e, gen) end
      return e
    end
    local out = {}
    for i, id in ipairs(ids) do
      local row = found[i]
      if row == nil then row = memo.tagged(prefix .. id, tag, load, id) end
      if row then
        site.tag(shown .. row.id)
        out[i] = copy(row)
      end
    end
    return out
  end

  return api
end)

return M
