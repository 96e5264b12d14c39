-- Related entries for quire.content.related: candidates from SQL (shared tags, shared keywords,
-- neighbours in time, words shared with the title, standfirst and keywords), scored in C by
-- core.related_rank (core/related.h: Hugo-like weights plus tag rarity and text similarity), and
-- memoised until the next write anywhere (quire.memo). The SQL is the same on both stores but for
-- the search index and JSON fields (quire.store_sql), and so are the results.
local cjson = require "cjson"
local core = require "quire.core"
local store_sql = require "quire.store_sql"
local time = require "quire.time"

local M = {}

local json = cjson.new()
json.encode_sparse_array(false)

local RELATED_DEFAULTS = { keywords = 100, tags = 80, date = 10, text = 40 }
-- The bounds of the candidate search (see M.new): tags walked, entries per tag and per side of
-- the entry's date, entries per side scanned for keywords, entries a search word may be in.
-- TEXT_CANDIDATES: the best text matches taken; MAX_WORDS_KNOWN: word counts remembered.
local TAGS_WALKED, TAG_WINDOW, DATE_WINDOW, KEYWORD_WINDOW, TEXT_MAX_DOCS = 8, 50, 10, 250, 500
local TEXT_CANDIDATES, MAX_WORDS_KNOWN, MAX_PROFILES = 50, 20000, 20000
-- WALK_READ: entries read on each side when a walk is not kept; WALK_KEPT: ids kept in all.
local WALK_READ, WALK_KEPT = 250, 100000
local STOPWORDS = {}
for w in ("a an and are as at be but by for from has have in into is it its of on or that the their "
  .. "this to was were will with after over under about than then them they what when which while who "
  .. "would could should there these those been being also more most some such only other into"):gmatch("%a+") do
  STOPWORDS[w] = true
end

-- Adds to the list out the words of text (runs of [%w\128-\255]), lower case, of 4 bytes or
-- more, valid UTF-8, neither stop words nor in the set seen (each added to it), until out holds
-- max: core.related_words.
local related_words = core.related_words
local function words_of(text, out, seen, max) related_words(text, out, seen, max, STOPWORDS) end

-- Publication times as epoch seconds: the same few thousand strings parse again and again (every
-- candidate of every entry), so they are kept, up to a bound.
local epochs, nepochs = {}, 0
local function epoch(s)
  if not s then return 0 end
  local v = epochs[s]
  if not v then
    if nepochs >= 50000 then epochs, nepochs = {}, 0 end
    v = time.epoch(s) or 0
    epochs[s], nepochs = v, nepochs + 1
  end
  return v
end

local NO_KEYWORDS = {} -- (never changed)
local function keyword_list(v)
  if type(v) ~= "table" then return NO_KEYWORDS end
  local out = {}
  for _, k in ipairs(v) do
    if type(k) == "string" and k:match("%S") then out[#out + 1] = core.trim(k:lower()) end
  end
  return out
end

-- Cache tags (DESIGN.md, page cache). A page showing an entry's related list is tagged with what
-- the list is drawn from, each tag bumped only by a write that can change it (M.changed):
--   related:tag:SLUG   the published entries of each of its tags (who joins, leaves or moves in
--                      time: quire.content.writes bumps it for those), and the tag's count;
--   related:kw:KEY     the published entries holding each of its keywords (a list field);
--   related:word:TERM  the index term of each word its text candidates are looked up by: the
--                      entries the index finds it in (their text: title, standfirst, body), how
--                      many (the word's weight) and whose title holds the word;
--   related:total      the number of published entries (tag rarity and word weights use it);
--   related:text       a bulk search-replace (quire.replace), which changes many texts at once;
-- and the teaser:ID of each entry it shows (quire.content.teasers). An entry found only by its
-- date, sharing none of these, scores at most the date weight: below the threshold by default.
-- A tag names a term or keyword as written when it is plain (letters, digits, - and _, at most
-- 48 bytes), else a bucket of them (a bucket bumped for one goes stale for all: never too few).
local function tag_part(s)
  if #s <= 48 and s:match("^[%w_%-]+$") then return s end
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return ("~%03x"):format(h % 4096)
end
local function word_tag(term) return "related:word:" .. tag_part(term) end
local function keyword_tag(k) return "related:kw:" .. tag_part(k) end

-- Tags in the order their walks go: the rarest first (fewest listed entries), then by id.
local function rarer(a, b) return a.listed < b.listed or (a.listed == b.listed and a.id < b.id) end

-- The words a text candidate search looks for: those of the entry's title, keywords and
-- standfirst (at most 16).
local function text_words(e, target_kw)
  local words, seen = {}, {}
  words_of(e.title, words, seen, 16)
  for _, k in ipairs(target_kw) do words_of(k, words, seen, 16) end
  if type(e.fields.standfirst) == "string" then words_of(e.fields.standfirst, words, seen, 16) end
  return words
end

-- The number of published entries tag rarity and word weights are computed with: the count
-- rounded down to 8 steps per doubling (exact below 16), so that one entry more or fewer seldom
-- changes any list's scores (related:total is bumped when this number changes).
local TOTAL_SQL = "SELECT coalesce(sum(n), 0) FROM entry_counts WHERE status = 'published'"
local function total_step(n)
  local step = 1
  while step * 16 <= n do step = step * 2 end
  return n - n % step
end
M.total_step = total_step

local function decoded(fields)
  if type(fields) == "table" then return fields end
  local ok, v = pcall(json.decode, fields or "{}")
  return ok and type(v) == "table" and v or {}
end
local function text_of(e, fields)
  local sf = fields.standfirst
  return { e.title or "", type(sf) == "string" and sf or "", e.body or "" }
end
local function term_set(db, texts)
  local set = {}
  for _, t in ipairs(store_sql.text_terms(db, texts)) do set[t] = true end
  return set
end
-- The keywords of an entry's list fields (whichever field a site scores by), lower case.
local function list_items(fields)
  local set = {}
  for _, v in pairs(fields) do
    if type(v) == "table" then for _, k in ipairs(keyword_list(v)) do set[k] = true end end
  end
  return set
end
-- Adds to out the tag of every key in a or b but not in both (with all, of every key in either).
local function add_difference(a, b, out, tag, all)
  for k in pairs(a) do if all or not b[k] then out[tag(k)] = true end end
  for k in pairs(b) do if all or not a[k] then out[tag(k)] = true end end
end

-- changed(db, old, new, out): adds to the set out the related-list tags a write to an entry can
-- make stale. old and new: the entry before and after it ({ status, title, body, fields (a table
-- or JSON), published_at }), nil for none (a create, a delete for good).
-- - Published before and after, or neither: the index terms its text gained or lost (the word
--   weights count every entry the index holds; a published one is a candidate found by them),
--   and for a published one the words its title gained or lost (a title holding a word counts
--   twice) and the keywords it gained or lost; all of its terms and keywords when its date moved
--   (the date part of its score in every list it is a candidate of).
-- - Published on one side only: it joins or leaves the candidates of the lists it shares a term
--   or keyword with (all of them), or, when that moves the rounded count of published entries
--   (total_step), of every list: related:total. Called after the write (the count is the new one).
-- Tags, type and author (related:tag is quire.content.writes' part) change nothing here.
function M.changed(db, old, new, out)
  local was, is = old ~= nil and old.status == "published", new ~= nil and new.status == "published"
  if was ~= is then
    local now = db:value(TOTAL_SQL)
    if total_step(now) ~= total_step(now + (is and -1 or 1)) then
      out["related:total"] = true -- every list's tag: nothing more to add
      return out
    end
  end
  local of, nf = old and decoded(old.fields) or {}, new and decoded(new.fields) or {}
  local all = (was or is) and (was ~= is or old.published_at ~= new.published_at)
  local ot, nt = old and text_of(old, of) or {}, new and text_of(new, nf) or {}
  if all or ot[1] ~= nt[1] or ot[2] ~= nt[2] or ot[3] ~= nt[3] then
    add_difference(old and term_set(db, ot) or {}, new and term_set(db, nt) or {}, out, word_tag, all)
  end
  if not (was or is) then return out end
  if was ~= is then
    for k in pairs(list_items(was and of or nf)) do out[keyword_tag(k)] = true end
    return out
  end
  if ot[1] ~= nt[1] then
    local a, b, diff = {}, {}, {}
    for w in ot[1]:gmatch("[%w\128-\255]+") do a[w:lower()] = true end
    for w in nt[1]:gmatch("[%w\128-\255]+") do b[w:lower()] = true end
    add_difference(a, b, diff, function(w) return w end)
    local words = {}
    for w in pairs(diff) do words[#words + 1] = w end
    if #words > 0 then
      for _, t in ipairs(store_sql.text_terms(db, { table.concat(words, " ") })) do out[word_tag(t)] = true end
    end
  end
  add_difference(list_items(of), list_items(nf), out, keyword_tag, all)
  return out
end

-- content: { get = its reads' get_shared (the entry read, never changed here), get_each = its reads'
-- get_each }.
function M.new(site, content)
  local db, types, memo = site.db, site.types, site.memo
  local text_candidates, tag_walks, date_walk
  local spare_candidates -- a candidate set (core.related_candidates) no call is using


  -- The word counts and entry facts below are kept until the database changes, as the memo's
  -- values are, but not dropped with them when the memo is full (it holds a few pages' worth): a
  -- new memo table first asks the memo whether the data moved since the last one was made (its
  -- generation: no query). Never kept from inside a transaction (its reads may be rolled back).
  local kept
  local kept_profiles = core.related_profiles()
  local function fresh_caches(profiles)
    return { words = { n = 0, of = {} }, profiles = profiles or core.related_profiles(), titles = {}, tag_lists = {},
      tag_facts = { n = 0 } }
  end
  local function caches()
    if db:depth() > 0 then return fresh_caches() end
    local generation = memo.generation()
    if not (kept and kept.generation == generation) then
      kept_profiles:clear()
      kept = fresh_caches(kept_profiles)
      kept.generation = generation
    end
    return kept
  end

  -- The step of the published count (a result is kept until "related:total", which moves when
  -- the step does), read once per change.
  local function published_total()
    local c = caches()
    if not c.total then c.total = total_step(db:value(TOTAL_SQL)) end
    return c.total
  end

  -- What the scoring needs of an entry: its type, publication time (epoch seconds) and term ids
  -- (its tags and section: only the target's tags are looked for in them), or that it is not
  -- published, kept in C (core.related_profiles: the ranking reads them there),
  -- and its title. Every entry is a candidate of many others (all of a page's neighbours share
  -- its tags), so these are kept across calls until the next write, up to MAX_PROFILES entries;
  -- a call reads only the ones missing. -> the profiles (holding every one of ids), the titles.
  -- (Also kept: a published entry's term ids in the order of its row's index, as the text the
  -- row gives, c.tag_lists: only a list's own entry needs them apart, target_tags_of.)
  local function profiles(ids)
    local c = caches()
    local known = c.profiles
    local todo = known:missing(ids)
    if #todo == 0 then return known, c.titles end
    if known:count() + #todo > MAX_PROFILES then
      known:clear()
      c.titles, c.tag_lists = {}, {}
      todo = known:missing(ids)
    end
    local titles, tag_lists = c.titles, c.tag_lists
    -- The time from the row itself: published_at comes before the body since migration 0030 (a
    -- subquery of entry_terms' listed_at, the same while published, cost a third of the
    -- statement). The term ids in the same statement, as text (store_sql.TERM_IDS_OF_E): no row,
    -- and on SQLite no temporary index of the ids, for each; all of them, not only the tags (a
    -- join of terms for their taxonomy, a sixth of the statement: target_tags_of tells).
    for _, r in ipairs(store_sql.entries_of(db, "SELECT e.id, e.type, e.title, e.published_at AS at, "
      .. store_sql.TERM_IDS_OF_E .. " AS tags", todo, " AND e.status = 'published'", {})) do
      local tags = r.tags or ""
      known:put(r.id, r.type, epoch(r.at), tags) -- (the ids read from the text in C)
      titles[r.id], tag_lists[r.id] = r.title, tags
    end
    -- Those with no row: not published, no candidate.
    for _, cid in ipairs(known:missing(todo)) do known:put(cid, false) end
    return known, titles
  end

  -- What a text candidate search needs of each of words: { tags = the related:word tags of its
  -- index terms (a word may make none, or more than one; a text's terms are those of its words:
  -- every tokenizer the stores use splits at spaces), n = how many entries the index finds it in
  -- (at most TEXT_MAX_DOCS + 1) }. Read for the words not known yet (two statements), remembered
  -- word by word until the next write, up to MAX_WORDS_KNOWN words. -> word -> facts.
  local function word_facts(words)
    local known = caches().words
    local todo, of = {}, known.of
    for _, w in ipairs(words) do if of[w] == nil then todo[#todo + 1] = w end end
    if #todo > 0 then
      if known.n + #todo > MAX_WORDS_KNOWN then known.n, known.of, of = 0, {}, {} end
      local terms, counts = store_sql.text_terms_each(db, todo), store_sql.word_counts(db, todo, TEXT_MAX_DOCS)
      for i, w in ipairs(todo) do
        local tags = {}
        for k, t in ipairs(terms[i]) do tags[k] = word_tag(t) end
        of[w] = { tags = tags, n = counts[i] }
      end
      known.n = known.n + #todo
      known.of = of
    end
    return of
  end

  -- The walks: the entries nearest (at, id) on each side in an order of an index, the entries of
  -- a tag by (listed_at, entry_id) (the tag walks) or the published ones of the wanted types by
  -- (published_at, id) (the date walk). Every entry is a candidate of its neighbours' lists, so a
  -- walk reads WALK_READ entries on each side and keeps them as a window (at most WALK_KEPT ids
  -- in all): the entries inside it walk it without a statement. An entry's place in a window is
  -- its (listed_at, entry_id), or (published_at, id), as listed_at is published_at while
  -- published (migration 0010's triggers). Windows are kept while the database is unchanged
  -- (memo.generation) and a tag's, past a change, while the memo still holds the token made when
  -- they were read: it goes when "related:tag:SLUG" is bumped (or when the memo is full: they
  -- are read again then). Nothing read inside a transaction is kept.
  local walks, walk_ids = {}, 0 -- key -> { gen =, token =, n = ids, windows = { core.related_window, ... } }
  local function new_token() return {} end
  local function walk_token(t) return memo.tagged("related-walk\0" .. t.id, "related:tag:" .. t.slug, new_token) end

  -- The windows kept under key, if still good (tag: the tag whose token they go with, or nil:
  -- they go with the generation).
  local function kept_walk(key, gen, tag)
    local rec = walks[key]
    if rec and rec.gen ~= gen then
      if tag and rec.token == walk_token(tag) then
        rec.gen = gen
      else
        walks[key], walk_ids, rec = nil, walk_ids - rec.n, nil
      end
    end
    return rec
  end

  -- Adds to the candidate set cands the width entries on each side of id from a window of rec
  -- holding them; false when none does, and -1 or 1 when the newest window holding id has it too
  -- near its start or end (the walk is going that way). The newest first: an export walks the
  -- entries in order, so the window read last is the one that holds the next ones (a common tag
  -- has dozens).
  local function walk_kept(rec, id, width, cands)
    if not rec then return false end
    local windows, lean = rec.windows, nil
    for i = #windows, 1, -1 do
      local ok, side = cands:add_window(windows[i], id, width)
      if ok then return true end
      lean = lean or side
    end
    return false, lean
  end

  -- The rows a walk reads up to (at, id) (the entry itself among them) and after it: WALK_READ on
  -- each side, or, when it goes one way (lean: walk_kept's), nearly all of them on that side
  -- (width on the other is all this entry needs, and the entries walked next are that way).
  local function read_sizes(lean, width)
    if lean == -1 then return 2 * WALK_READ - width + 1, width end
    if lean == 1 then return width + 1, 2 * WALK_READ - width end
    return WALK_READ + 1, WALK_READ
  end

  -- A window read: ids in order, the first `before` of them up to (at, id), the rest after it
  -- (asked: the rows asked for on each side, read_sizes). Adds to cands the width entries on each
  -- side of id and keeps the window under key (gen, token: those it was read under) unless gen is
  -- false. A walk going one way (lean: walk_kept's, as an export goes) will find its next
  -- candidates in it: their profiles are read now, in one statement, not a few at each call.
  local function walk_read(key, ids, before, asked_before, asked_after, id, width, cands, gen, token, lean)
    local last_before = ids[before] == id and before - 1 or before -- (the entry itself)
    cands:add_range(ids, math.max(1, last_before - width + 1), last_before)
    cands:add_range(ids, before + 1, math.min(#ids, before + width))
    if not gen or #ids == 0 then return end
    if walk_ids + #ids > WALK_KEPT then walks, walk_ids = {}, 0 end
    -- The windows kept under key are of this generation (kept_walk looked): they go with token.
    local rec = walks[key]
    if not rec then
      rec = { n = 0, windows = {} }
      walks[key] = rec
    end
    rec.gen, rec.token = gen, token
    rec.windows[#rec.windows + 1] = core.related_window(ids, before < asked_before, #ids - before < asked_after)
    rec.n, walk_ids = rec.n + #ids, walk_ids + #ids
    if lean then profiles(ids) end
  end

  -- A tag walk's rows (listed_at, entry_id) in ascending order: as read (in either order, one
  -- pass to tell), else sorted.
  local function walk_less(a, b)
    return a.listed_at < b.listed_at or (a.listed_at == b.listed_at and a.entry_id < b.entry_id)
  end
  local function ascending(list)
    local up, down = true, true
    for i = 2, #list do
      if walk_less(list[i - 1], list[i]) then down = false else up = false end
    end
    if up then return list end
    if down then
      local n = #list
      for i = 1, n // 2 do list[i], list[n + 1 - i] = list[n + 1 - i], list[i] end
      return list
    end
    table.sort(list, walk_less)
    return list
  end

  -- The tag walks: TAG_WINDOW entries on each side in each of tags (the first n); the walks not
  -- kept are read in one statement.
  local TAG_WALK_SQL = "SELECT * FROM (SELECT term_id, listed_at, entry_id, %d AS side FROM entry_terms WHERE term_id = ?"
    .. " AND listed_at IS NOT NULL AND (listed_at, entry_id) %s (?, ?) ORDER BY listed_at %s, entry_id %s LIMIT %d) n"
  function tag_walks(tags, n, id, at, cands)
    local gen = db:depth() == 0 and memo.generation()
    local todo, leans -- (made when a walk is not kept)
    for i = 1, n do
      local t = tags[i]
      local rec = gen and kept_walk(t.id, gen, t)
      local ok, lean = walk_kept(rec, id, TAG_WINDOW, cands)
      if not ok then
        if not todo then todo, leans = {}, {} end
        todo[#todo + 1], leans[t.id] = t, lean
      end
    end
    if not todo then return end
    table.sort(todo, function(a, b) return a.id < b.id end) -- the order of the rows
    -- The tokens first: a write after them moves them, whatever the windows read.
    local tokens = {}
    if gen then
      for i, t in ipairs(todo) do tokens[i] = walk_token(t) end
    end
    local parts, args = {}, {}
    for _, t in ipairs(todo) do
      local up_to, after = read_sizes(leans[t.id], TAG_WINDOW)
      parts[#parts + 1] = TAG_WALK_SQL:format(0, "<=", "DESC", "DESC", up_to)
      parts[#parts + 1] = TAG_WALK_SQL:format(1, ">", "ASC", "ASC", after)
      for _ = 1, 2 do args[#args + 1], args[#args + 2], args[#args + 3] = t.id, at, id end
    end
    -- No ORDER BY over them all (on SQLite a sort of every row, half the statement's cost): each
    -- tag's rows are put in order here from the order each part reads them in.
    local sides = {} -- term id -> { rows up to (at, id), rows after it }
    for _, r in ipairs(db:rows(table.concat(parts, " UNION ALL "), table.unpack(args))) do
      local s = sides[r.term_id]
      if not s then
        s = { {}, {} }
        sides[r.term_id] = s
      end
      local list = s[r.side + 1]
      list[#list + 1] = r
    end
    for k, t in ipairs(todo) do
      -- This tag's entries in order: those up to (at, id) (side 0), then those after it.
      local s, ids = sides[t.id], {}
      if s then
        for _, r in ipairs(ascending(s[1])) do ids[#ids + 1] = r.entry_id end
        for _, r in ipairs(ascending(s[2])) do ids[#ids + 1] = r.entry_id end
      end
      local up_to, after = read_sizes(leans[t.id], TAG_WINDOW)
      walk_read(t.id, ids, s and #s[1] or 0, up_to, after, id, TAG_WINDOW, cands, gen, tokens[k], leans[t.id])
    end
  end

  -- The date walk: the DATE_WINDOW published entries of types (a list; key: its walk's, from the
  -- options) on each side; read in two statements when not kept (each side in its order).
  local DATE_WALK_SQL = "SELECT e.id FROM entries e WHERE e.status = 'published' AND " .. store_sql.unindexed("e.type")
    .. " " .. store_sql.IN_LIST .. " AND (e.published_at, e.id) %s (?, ?) ORDER BY e.published_at %s, e.id %s LIMIT %d"
  function date_walk(types, key, id, at, cands)
    local gen = db:depth() == 0 and memo.generation()
    local ok, lean = walk_kept(gen and kept_walk(key, gen), id, DATE_WINDOW, cands)
    if ok then return end
    local param, ids = store_sql.value_list(types), {}
    local n_up_to, n_after = read_sizes(lean, DATE_WINDOW)
    local up_to = db:rows(DATE_WALK_SQL:format("<=", "DESC", "DESC", n_up_to), param, at, id)
    for j = #up_to, 1, -1 do ids[#ids + 1] = up_to[j].id end
    for _, r in ipairs(db:rows(DATE_WALK_SQL:format(">", "ASC", "ASC", n_after), param, at, id)) do ids[#ids + 1] = r.id end
    walk_read(key, ids, #up_to, n_up_to, n_after, id, DATE_WINDOW, cands, gen, nil, lean)
  end

  -- Text similarity, the same on every store: the words of the entry's title, keywords and
  -- standfirst that are in at most TEXT_MAX_DOCS entries each weigh idf = ln(1 + N / df) (in
  -- thousandths, so sums are exact integers on both stores); an entry's similarity is the sum over
  -- the words the search index finds in it (so stemmed: "strikes" finds "strike"), plus twice a
  -- word's weight when its title holds the word as written. The TEXT_CANDIDATES best by the first
  -- sum become candidates (added to cands). Its scale does not matter: the best candidate gets the
  -- whole text weight. -> their similarity by id (nil: none).
  function text_candidates(e, target_kw, types_list, cands, deps, total)
    local words = text_words(e, target_kw)
    if #words == 0 then return end
    total = math.max(total, 1)
    local facts, tagged = word_facts(words), {}
    local rare, weights, weight_of = {}, {}, {}
    for _, w in ipairs(words) do
      local f = facts[w]
      -- Every word's terms, rare or not: a write can make a common word rare.
      for _, t in ipairs(f.tags) do
        if not tagged[t] then
          tagged[t] = true
          deps[#deps + 1] = t
        end
      end
      -- Words in more entries than TEXT_MAX_DOCS are left out: matching them would read that
      -- many postings, and a word that common says little about what a story is about.
      local n = f.n
      if n > 0 and n <= TEXT_MAX_DOCS then
        rare[#rare + 1] = w
        weights[#weights + 1] = math.floor(1000 * math.log(1 + total / n) + 0.5)
        weight_of[w] = weights[#weights]
      end
    end
    if #rare == 0 then return end
    local found, text = {}, {}
    for _, r in ipairs(store_sql.word_matches(db, rare, weights, types_list, e.id, TEXT_CANDIDATES)) do
      cands:add(r.id)
      text[r.id] = r.score
      found[#found + 1] = r.id
    end
    if #found == 0 then return end
    local _, titles = profiles(found)
    for _, cid in ipairs(found) do
      local counted, score = {}, text[cid]
      for w in (titles[cid] or ""):gmatch("[%w\128-\255]+") do
        w = w:lower()
        if weight_of[w] and not counted[w] then
          counted[w] = true
          score = score + 2 * weight_of[w]
        end
      end
      text[cid] = score
    end
    return text
  end

  local TARGET_TAGS_SQL = "SELECT t.id, t.slug, t.listed FROM entry_terms et"
    .. " JOIN terms t ON t.id = et.term_id WHERE et.entry_id = ? AND t.taxonomy = 'tag'"

  -- An entry's tags ({ id =, slug =, listed = [, tag = its related:tag] }, in the order of its row's index, as
  -- TARGET_TAGS_SQL reads them): most entries are a candidate of a neighbour's list before their
  -- own, so from the term ids of its profile (kept until the next write) and the terms' facts
  -- (kept as long, the missing ones read in one statement), the tags among them; else
  -- TARGET_TAGS_SQL.
  local function target_tags_of(id)
    local c = caches()
    local text = c.tag_lists[id]
    if not text then return db:rows(TARGET_TAGS_SQL, id) end
    local ids = {}
    for t in text:gmatch("%d+") do ids[#ids + 1] = math.tointeger(t) end
    local facts, todo = c.tag_facts, {}
    for _, t in ipairs(ids) do if facts[t] == nil then todo[#todo + 1] = t end end
    if #todo > 0 then
      if facts.n + #todo > MAX_PROFILES then facts, todo = { n = 0 }, ids; c.tag_facts = facts end
      facts.n = facts.n + #todo
      for _, r in ipairs(db:rows("SELECT t.id, t.slug, t.listed, t.taxonomy = 'tag' AS tag FROM terms t WHERE t.id "
          .. store_sql.IN_LIST, store_sql.id_list(todo))) do
        facts[r.id] = (r.tag == true or r.tag == 1) -- (false: no tag)
          and { id = r.id, slug = r.slug, listed = r.listed, tag = "related:tag:" .. r.slug }
      end
    end
    local out = {}
    for _, t in ipairs(ids) do
      local f = facts[t]
      if f == nil then return db:rows(TARGET_TAGS_SQL, id) end -- (none found: as without a profile)
      if f then out[#out + 1] = f end
    end
    return out
  end

  -- The results are a class of the memo's (memo.of_class): kept while calls find them again. A
  -- page keeps its block of them (plugins/related), so in a full export, which renders each page
  -- once, no call finds one: none is kept, and the memo's room goes to the cards and entries
  -- the next pages read again.
  local results = memo.class()
  local function results_class() return results end

  -- A call's options checked, with their defaults: { o =, types_list =, want_type =, key = (their
  -- part of the memo key) }, or an error at level 3 (the caller of related). A plugin passes the
  -- same table at every call: the last call's are kept with the values they were made from, and
  -- reused while the table holds the same ones (and, without types, the site has the same types).
  local last
  local function same_types(l, opts)
    if opts.types ~= nil then
      local list, n = l.types_list, 0
      for i, t in ipairs(opts.types) do
        if list[i] ~= tostring(t) then return false end
        n = i
      end
      return n == #list
    end
    local n = 0
    for name in pairs(types.defs) do
      if not l.names[name] then return false end
      n = n + 1
    end
    return n == l.nnames
  end
  local function options(opts)
    local w, l = opts.weights, last
    if l and l.opts == opts and l.weights == w
      and (w == nil or (l.wk == w.keywords and l.wt == w.tags and l.wd == w.date and l.wx == w.text))
      and l.threshold == opts.threshold and l.rarity == opts.rarity and l.days == opts.date_window_days
      and l.limit == opts.limit and math.type(l.limit) == math.type(opts.limit) and l.field == opts.keywords_field
      and l.types == opts.types and same_types(l, opts) then
      return l
    end
    local given = w or {}
    local o = {
      weights = {}, threshold = opts.threshold or 80, rarity = opts.rarity or 0.5,
      date_window = (opts.date_window_days or 365) * 86400, limit = opts.limit or 5,
      keywords_field = opts.keywords_field or "keywords",
    }
    for k, v in pairs(RELATED_DEFAULTS) do
      local x = given[k]
      if x ~= nil and type(x) ~= "number" then error("quire.content.related: weights." .. k .. " must be a number", 3) end
      o.weights[k] = x or v
    end
    if type(o.threshold) ~= "number" or type(o.rarity) ~= "number" or type(o.date_window) ~= "number" then
      error("quire.content.related: threshold, rarity and date_window_days are numbers", 3)
    end
    if math.type(o.limit) ~= "integer" or o.limit < 1 or o.limit > 64 then error("quire.content.related: limit must be 1..64", 3) end
    if type(o.keywords_field) ~= "string" or not o.keywords_field:match("^[%a_][%w_]*$") then
      error("quire.content.related: keywords_field must be a field name", 3)
    end
    local types_list, want_type, names, nnames = {}, {}, {}, 0
    if opts.types ~= nil then
      for _, t in ipairs(opts.types) do types_list[#types_list + 1] = tostring(t) end
    else
      for _, name in ipairs(types:names()) do
        if name ~= "page" then types_list[#types_list + 1] = name end
        names[name], nnames = true, nnames + 1
      end
    end
    for _, t in ipairs(types_list) do want_type[t] = true end
    -- The options of P:rank but a call's own (df, total, text, keywords: set at each call).
    local rank = { types = want_type, weights = o.weights, threshold = o.threshold, rarity = o.rarity,
      date_window = o.date_window, limit = o.limit }
    last = {
      opts = opts, weights = w, wk = w and w.keywords, wt = w and w.tags, wd = w and w.date, wx = w and w.text,
      threshold = opts.threshold, rarity = opts.rarity, days = opts.date_window_days, limit = opts.limit,
      field = opts.keywords_field, types = opts.types, names = names, nnames = nnames,
      o = o, types_list = types_list, want_type = want_type, rank = rank, date_key = "date\0" .. table.concat(types_list, ","),
      key = table.concat({ o.weights.keywords, o.weights.tags, o.weights.date, o.weights.text, o.threshold, o.rarity,
        o.date_window, o.limit, o.keywords_field, table.concat(types_list, ",") }, "|"),
    }
    return last
  end
  local NO_OPTS = {} -- (never changed)

  -- A result's memo tags: it is kept until a tag the page is given for it moves (the entry's,
  -- those of related(), the deps, what each hit's card shows) or the entry itself.
  local function result_tags(r)
    local tags = { "entry:" .. r.id, "related:total", "related:text" }
    for _, t in ipairs(r.target) do tags[#tags + 1] = t.tag or "related:tag:" .. t.slug end
    for _, t in ipairs(r.deps) do tags[#tags + 1] = t end
    for _, h in ipairs(r.hits) do tags[#tags + 1] = "teaser:" .. h.id end
    return tags
  end

  -- The list of entry id (e: its row) with the options parsed: { id =, hits = { { id =, score = } },
  -- deps = its tags but the target's, target = the entry's tags (target_tags_of) }.
  local function compute(id, e, parsed)
    local o, types_list = parsed.o, parsed.types_list
    -- The entry's tags (read here, not memoised apart: the result is kept until entry:ID).
    local target_tags = target_tags_of(id)
    local total = published_total()
    local deps = {}
    local tag_ids, df = {}, {}
    for i, t in ipairs(target_tags) do tag_ids[i] = t.id; df[t.id] = t.listed end
    local target_kw = keyword_list(e.fields[o.keywords_field])
    for _, k in ipairs(target_kw) do deps[#deps + 1] = keyword_tag(k) end
    -- The candidates: a set of ids, kept in C (the order changes no result: ties are broken by
    -- time and id), and their text similarity; the rest the C side reads from the profiles.
    local cands = spare_candidates or core.related_candidates()
    spare_candidates = nil -- (one call's; back when it is done)
    cands:reset(id)
    -- Every candidate comes from a bounded walk of an index near the entry's date, so the
    -- work is the same at any archive size; on an archive no bigger than the windows this is
    -- every entry sharing a tag, a keyword or a word, as when all of them were scored.
    local at, at_id = e.published_at or e.created_at, id
    -- The entries of each shared tag nearest in time (the rarest tags first: they count most).
    local by_rarity = {}
    for i, t in ipairs(target_tags) do by_rarity[i] = t end
    table.sort(by_rarity, rarer)
    tag_walks(by_rarity, math.min(#by_rarity, TAGS_WALKED), id, at, cands)
    -- The published entries nearest in time, scanned for shared keywords (a JSON field has no index).
    if #target_kw > 0 then
      for _, r in ipairs(store_sql.keyword_neighbours(db, o.keywords_field, target_kw, types_list, at, at_id, KEYWORD_WINDOW)) do
        cands:add(r.id)
      end
    end
    -- Close in time: the nearest few on either side (the date index of Hugo's related content).
    if o.weights.date > 0 and e.published_at then date_walk(types_list, parsed.date_key, id, at, cands) end
    local text = o.weights.text > 0 and text_candidates(e, target_kw, types_list, cands, deps, total) or nil
    if cands:count() == 0 then
      spare_candidates = cands
      return { id = id, hits = {}, deps = deps, target = target_tags }
    end
    local profile = profiles(cands)
    local target = { id = id, tags = tag_ids, time = epoch(e.published_at or e.created_at) }
    local keywords
    if #target_kw > 0 then
      -- Keywords (only when the entry has some: none can be shared otherwise) become small
      -- integers for the C side, compared case-insensitively.
      local kw_ids, nkw = {}, 0
      local function intern(list)
        local out = {}
        for _, k in ipairs(list) do
          if not kw_ids[k] then nkw = nkw + 1; kw_ids[k] = nkw end
          out[#out + 1] = kw_ids[k]
        end
        return out
      end
      target.keywords, keywords = intern(target_kw), {}
      local col, param = store_sql.field_json(o.keywords_field)
      for _, r in ipairs(db:rows("SELECT e.id, " .. col .. " AS kw FROM " .. store_sql.CARD_ENTRIES .. " WHERE e.id " .. store_sql.IN_LIST,
        param, store_sql.id_list(cands:list()))) do
        local decoded_ok, decoded = pcall(json.decode, r.kw or "[]")
        keywords[r.id] = intern(keyword_list(decoded_ok and decoded or nil))
      end
    end
    -- Scored in C straight from the profiles (those of a wanted type). Tag rarity from the
    -- counts the schema keeps (terms.listed, entry_counts), not counted here. The options'
    -- own table, this call's parts set in it and let go after.
    local ro = parsed.rank
    ro.text, ro.keywords, ro.df, ro.total = text, keywords, df, total
    local hits = profile:rank(target, cands, ro)
    ro.text, ro.keywords, ro.df = nil, nil, nil
    spare_candidates = cands
    return { id = id, deps = deps, hits = hits, target = target_tags }
  end

  -- related(id [, opts]) -> list of published entries (each with .score), best first.
  -- opts: weights = { keywords = 100, tags = 80, date = 10, text = 40 } (Hugo's defaults plus
  -- text), threshold = 80, rarity = 0.5 (0..1: rare shared tags count more, ubiquitous ones
  -- less), date_window_days = 365, limit = 5 (1..64), types = { ... } (default: any type but
  -- page), keywords_field = "keywords" (a list field of the entry's type).
  return function(id, opts)
    if math.type(id) ~= "integer" then error("quire.content.related takes an entry id", 2) end
    local parsed = options(opts or NO_OPTS)
    local e = content.get(id)
    if not e then return {} end
    -- The page shows these results: it goes stale with what they are drawn from (the entry's
    -- tags' related:tag, M.changed's tags) and with what it shows of each (teaser:ID, below).
    site.tag("related:total")
    site.tag("related:text")
    local got = memo.of_class(results_class, nil, "related|" .. id .. "|" .. parsed.key, result_tags, compute, id, e, parsed)
    for _, t in ipairs(got.target) do site.tag(t.tag or "related:tag:" .. t.slug) end
    for _, t in ipairs(got.deps) do site.tag(t) end
    local hits, ids = got.hits, {}
    for i, h in ipairs(hits) do ids[i] = h.id end
    local entries, out = content.get_each(ids), {} -- memoised too; tags the page with each entry
    for i, h in ipairs(hits) do
      local r = entries[i]
      if r then
        r.score = h.score
        out[#out + 1] = r
      end
    end
    return out
  end
end

return M
