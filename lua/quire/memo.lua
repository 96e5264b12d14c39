-- A per-process memo of values read from the database (entries, lists, users, neighbour ids), so
-- a page rendered without the page cache does not repeat the same queries on every request.
-- It learns that the database may have changed as the page cache does: another connection
-- committed (PRAGMA data_version, read through store:data_version; on PostgreSQL the
-- notifications heard while serving, else the server snapshot, which a commit anywhere in the
-- cluster moves) or this one wrote (total_changes). A request reads data_version once at its
-- start (app.request calls sync); outside a request every lookup does.
-- A value may name the cache tags it was built from (the page cache's vocabulary:
-- quire.cache_tags, DESIGN.md): after a change only the values whose tags were bumped go, as
-- the tag-version table (cache_tags, the purge log on PostgreSQL) tells. A value that names none
-- goes at every change, and so does everything when the change named no tag (a write from
-- outside quire, a schema change), more than CHANGED_MAX, or ALL.
-- A value computed while another is being computed adds its tags to the outer one (an untagged
-- inner value makes the outer untagged too), so a value built from memoised values goes with them.
-- A value computed across a change is handed out, not kept, and so is one computed inside another
-- after that one saw a change (it may be given what was read before: a feed's item, its entry).
-- Inside a transaction the memo is bypassed: its reads may see writes that are rolled back.
local M = {}

local NONE = {} -- a memoised nil
-- Tags read per change; past it the change drops everything (a bulk write touching that many
-- tags leaves little worth keeping).
local CHANGED_MAX = 4096
M.CHANGED_MAX = CHANGED_MAX
-- The tag a write bumps when it cannot name what it changed (an import writing rows beside the
-- content API): every memoised value goes. No page carries it.
M.ALL = "quire:all"
local ALL = M.ALL
-- A class of values is watched over this many misses; it is not kept for the next ones when
-- fewer than one in CLASS_FOUND of them found a value (or a key that missed before).
local CLASS_WINDOW, CLASS_FOUND = 64, 16

-- tags: nil, a tag, or a list of them -> a list (nil for none).
local function tag_list(tags)
  if tags == nil or tags == false then return nil end
  if type(tags) == "string" then return { tags } end
  return tags
end

-- new(db [, max]) -> memo. max: values kept (default 2048), in two generations: values put or
-- found since the last turn, and those of the turn before. When the newer holds half of max, the
-- older goes and the newer takes its place: a value read again within a turn is kept, one read
-- once (a page's own block in a full export) is gone within two, without every shared value
-- (a card, a user, a ranking) going with it as a memo that starts over at max would lose them.
function M.new(db, max)
  max = max or 2048
  -- The store's methods, found once: every lookup asks changes (total_changes, or nil inside a
  -- transaction: one call where depth and total_changes were two).
  local depth, total_changes, data_version_of, changes_of = db.depth, db.total_changes, db.data_version, db.changes
  local half = max // 2
  -- key -> { v =, w = weight, tags = list or nil (untagged), k = key, ix = indexed }
  local young, old, ny, no = {}, {}, 0, 0
  -- The tag index, brought up to date only when the database changes (a render that sees no
  -- change, as an export's, never builds it): tag -> { key = true }; keys without tags; the
  -- records put since it was last brought up to date.
  local by_tag, untagged, pending = {}, {}, {}
  local data_version, changes
  local tag_version -- the newest cache_tags version accounted for (nil: not read yet)
  local synced = false
  local generation = 0 -- moves when the database may have changed (not when the memo was full)
  local building = nil -- the tags of the value being computed: a list (duplicates allowed), untagged =, moved =
  local missed = nil -- the key of the last find that found nothing, until the next change
  local stats = { dropped = 0, kept = 0, all = 0, selective = 0 }

  local function drop_all()
    young, old, ny, no = {}, {}, 0, 0
    by_tag, untagged, pending = {}, {}, {}
  end

  -- The newer generation is full: the older goes. The records not in the tag index are listed
  -- again from those left; when the index holds any, it starts again from them too (it would
  -- keep the keys gone). Returns true then.
  local function turn()
    local reset = next(by_tag) ~= nil or next(untagged) ~= nil
    old, no, young, ny = young, ny, {}, 0
    if reset then by_tag, untagged = {}, {} end
    pending = {}
    for _, rec in pairs(old) do
      if reset then rec.ix = false end
      if not rec.ix then pending[#pending + 1] = rec end
    end
    return reset
  end

  local function drop_key(key)
    local rec = young[key]
    if rec then
      young[key], ny = nil, ny - rec.w
    else
      rec = old[key]
      if not rec then return end
      old[key], no = nil, no - rec.w
    end
    stats.dropped = stats.dropped + 1
    if not rec.ix then return end
    if rec.tags then
      for _, t in ipairs(rec.tags) do
        local set = by_tag[t]
        if set then set[key] = nil end
      end
    else
      untagged[key] = nil
    end
  end

  -- Brings the tag index up to date with the values put since it last was.
  local function index()
    for i = 1, #pending do
      local rec = pending[i]
      local key = rec.k
      if not rec.ix and (young[key] == rec or old[key] == rec) then
        rec.ix = true
        local tags = rec.tags
        if tags then
          for j = 1, #tags do
            local t = tags[j]
            local set = by_tag[t]
            if not set then set = {} by_tag[t] = set end
            set[key] = true
          end
        else
          untagged[key] = true
        end
      end
    end
    pending = {}
  end

  -- The database changed: drop the values its moved tags name, and the untagged ones; all of
  -- them when the tags moved are unknown.
  local function changed()
    generation = generation + 1
    -- What is being computed may have read before this change and its tags are read now: it is
    -- handed out but not kept (nor is what a find that missed before it leads to: memo.put).
    if building then building.moved = true end
    missed = nil
    local ok, rows = true, nil
    if tag_version then
      ok, rows = pcall(db.rows, db, "SELECT tag, version FROM cache_tags WHERE version > ? ORDER BY version LIMIT " .. (CHANGED_MAX + 1), tag_version)
    end
    local all = not ok or not rows or #rows == 0 or #rows > CHANGED_MAX
    if ok and (not rows or #rows > CHANGED_MAX) then -- (a failed read leaves the version: read from it again)
      local top_ok, top = pcall(db.value, db, "SELECT coalesce(max(version), 0) FROM cache_tags")
      if top_ok then tag_version = top end
    elseif ok then
      for _, r in ipairs(rows) do
        if r.version > tag_version then tag_version = r.version end
        if r.tag == ALL then all = true end
      end
    end
    local n = ny + no
    if all then
      if n > 0 then stats.all = stats.all + 1 end
      drop_all()
      return
    end
    stats.selective = stats.selective + 1
    index()
    for _, r in ipairs(rows) do
      local set = by_tag[r.tag]
      if set then
        by_tag[r.tag] = nil
        for key in pairs(set) do drop_key(key) end
      end
    end
    for key in pairs(untagged) do drop_key(key) end
    untagged = {}
    if n > 0 then stats.kept = stats.kept + ny + no end
  end

  -- One look at both signals. A commit of this connection moves total_changes and, on
  -- PostgreSQL outside a request, data_version too (the server's snapshot): seen together they are
  -- one change, whose tags are read once (a second read would find none and drop everything).
  -- c: total_changes as the caller just read it (nil: read here).
  local function look(known, c)
    c = c or total_changes(db)
    local v = known or data_version_of(db)
    if v ~= data_version or c ~= changes then
      data_version, changes = v, c
      changed()
    end
  end

  local memo = {}

  -- At the start of a request: the one data_version check its lookups rely on. known: the value
  -- the page cache just read on this connection, when it did (one PRAGMA per request, not two).
  function memo.sync(known)
    look(known)
    synced = true
  end

  -- At the end of a request: lookups check data_version themselves again.
  function memo.unsync() synced = false end

  -- false inside a transaction (the memo is bypassed); else drops what may be stale. Inside a
  -- request only this connection's own writes are looked for (sync looked at the rest).
  local function usable()
    local c = changes_of(db)
    if c == nil then return false end
    if not synced then
      look(nil, c)
    elseif c ~= changes then
      changes = c
      changed()
    end
    return true
  end

  -- The value being built (if any) depends on what a lookup gave: its tags, or everything.
  local function depends(tags)
    local b = building
    if not b then return end
    if not tags then
      b.untagged = true
    elseif not b.untagged then
      table.move(tags, 1, #tags, #b + 1, b)
    end
  end

  -- rec, found in the older generation under key, moves to the newer: returns it.
  local function promote(key, rec)
    old[key], no = nil, no - rec.w
    if ny + rec.w > half then
      if turn() then rec.ix = false end
      if not rec.ix then pending[#pending + 1] = rec end
    end
    young[key], ny = rec, ny + rec.w
    return rec
  end

  -- weight: how many values v counts as against max (a list of rows: its length). tags: a list
  -- or nil (untagged), not changed after.
  local function put(key, v, weight, tags, class)
    if v == nil then v = NONE end
    weight = weight or 1
    if weight > half then return false end
    drop_key(key)
    if ny + weight > half then turn() end
    local rec = { v = v, w = weight, tags = tags, k = key, ix = false, c = class }
    young[key], ny = rec, ny + weight
    pending[#pending + 1] = rec
    return true
  end

  -- Runs fn(...) collecting the tags of the lookups it makes; returns its value and the tags it
  -- depends on: those of tags_of (nil, a tag, a list, or a function of the value giving one of
  -- those) and of its lookups, or nil when any of them is untagged.
  local function build(tags_of, fn, ...)
    local outer = building
    -- (inside a value that saw a change, its arguments may be from reads before it, whose tags
    -- were read then and cannot drop it: not kept either)
    local b = { untagged = false, moved = outer and outer.moved } -- and in its list part, the tags of the lookups inside
    building = b
    local ok, v = pcall(fn, ...)
    building = outer
    if not ok then error(v, 0) end
    if b.moved then -- a lookup inside saw a change whose tags are gone by now: not kept
      if outer then outer.moved = true end
      return v, nil, true
    end
    local own = tags_of
    if type(own) == "function" then own = own(v) end
    own = tag_list(own)
    if not own or b.untagged then return v, nil end
    local inner = #b
    if inner == 0 then return v, own end
    b.untagged = nil
    return v, table.move(own, 1, #own, inner + 1, b)
  end

  -- Classes of values (a plugin's memo key up to its first "\0") that are seldom read again
  -- (each page's own block, in a full export that renders every page once) are not kept, unless
  -- their key missed before: a class is watched over each CLASS_WINDOW misses, and kept or not
  -- for the next by what it found in that one (values, and keys that missed before while it was
  -- not kept: ghosts, at most max of them). So a miss of a value no page reads again costs its
  -- computation and no more (no record, no tag list, no place taken from values that are read
  -- again), and a warm server, whose pages find their blocks, keeps them as before.
  local ghosts, nghosts = {}, 0 -- key -> true

  -- A miss of key, of class c: whether to keep the value it leads to.
  local function admit(key, c)
    local keep = true
    if ghosts[key] then
      ghosts[key], nghosts = nil, nghosts - 1
      c.found = c.found + 1
    elseif c.skip then
      keep = false
      if nghosts >= max then ghosts, nghosts = {}, 0 end
      ghosts[key], nghosts = true, nghosts + 1
    end
    c.misses = c.misses + 1
    if c.misses >= CLASS_WINDOW then
      c.skip = c.found * CLASS_FOUND < c.misses
      c.misses, c.found = 0, 0
    end
    return keep
  end

  -- class_of (of_class): a function of raw giving the class of the value, asked on a miss only.
  local function lookup(key, class_of, raw, tags_of, fn, ...)
    if not usable() then return fn(...) end
    local rec = young[key]
    if rec == nil then
      rec = old[key]
      if rec then rec = promote(key, rec) end
    end
    if rec == nil then
      local c = class_of and class_of(raw)
      local keep = not c or admit(key, c)
      -- Not kept, and no value being built needs its tags: none are collected (untagged), but a
      -- change seen inside still marks it, so what is built in it after is not kept (build).
      if not keep and not building then
        building = { untagged = true, moved = false }
        local ok, v = pcall(fn, ...)
        building = nil
        if not ok then error(v, 0) end
        return v
      end
      local v, tags, moved = build(tags_of, fn, ...)
      if keep and depth(db) == 0 and not moved then put(key, v, 1, tags, c) end
      depends(tags)
      return v
    end
    local c = rec.c
    if c then c.found = c.found + 1 end
    if building then depends(rec.tags) end
    if rec.v == NONE then return nil end
    return rec.v
  end

  -- get(key, fn, ...) -> fn(...)'s value, computed once while the database is unchanged (any
  -- change drops it). The value is shared: callers copy what they hand out to code that may
  -- modify it.
  function memo.get(key, fn, ...) return lookup(key, nil, nil, nil, fn, ...) end

  -- tagged(key, tags, fn, ...): as get, kept until a write bumps one of tags (a tag, a list, or
  -- a function of the value returning one of those, or nil when it cannot say: then it goes at
  -- any change), or one of the tags of the memoised values fn looked up.
  function memo.tagged(key, tags, fn, ...) return lookup(key, nil, nil, tags, fn, ...) end

  -- of_class(class_of, raw, key, tags, fn, ...): as tagged, for a value of a class whose values
  -- are kept only while they are read again (see above): class_of(raw) gives the class (made by
  -- memo.class()), asked only when key is not kept.
  function memo.of_class(class_of, raw, key, tags, fn, ...) return lookup(key, class_of, raw, tags, fn, ...) end
  function memo.class() return { misses = 0, found = 0, skip = false } end

  -- volatile(): the value being computed (if any) depends on something no cache tag names (a
  -- plugin read the clock, say): it goes at every change, as an untagged one does.
  function memo.volatile() depends(nil) end

  -- unkept(): the value being computed (if any) is handed out but not kept: it was made from
  -- what was read before a change this process has seen since (whose tags can no longer drop it).
  function memo.unkept() if building then building.moved = true end end

  -- generation() -> a number that moves whenever the memo saw the database change (some of its
  -- values went): for caches kept beside the memo that outlive its drops when full, so they need
  -- not ask the store (on PostgreSQL a round trip) whether they are stale. Looks first, as a
  -- lookup does.
  function memo.generation()
    usable()
    return generation
  end

  -- find(key) -> the value kept under key, or nil (none, or inside a transaction); for a caller
  -- that computes a missing value itself (errors then come from its own frame) and gives it to
  -- memo.put (tags: a tag or a list; none: any change drops it), kept only when no change was
  -- seen since that find. Shared as get's are.
  function memo.find(key)
    if not usable() then return nil end
    local rec = young[key]
    if rec == nil then
      rec = old[key]
      if rec then rec = promote(key, rec) end
    end
    if not rec then
      missed = key
      return nil
    end
    local c = rec.c
    if c then c.found = c.found + 1 end
    depends(rec.tags)
    if rec.v == NONE then return nil end
    return rec.v
  end
  -- put(key, v [, weight [, tags [, class]]]) -> v, and whether it was kept (when not, the caller
  -- is its only holder). class: as of_class's, for keys whose values may not be read again.
  function memo.put(key, v, weight, tags, class)
    tags = tag_list(tags)
    local kept = depth(db) == 0 and missed == key and (not class or admit(key, class))
      and put(key, v, weight, tags, class)
    depends(tags)
    return v, kept
  end

  -- block(name, k, read, ...) -> the value of block k of name (M.of_block): as tagged under
  -- its key and tag, and also held by name and number until the memo sees a change (the
  -- generation moves), at most max of them: a list page asks for a block per card, and a
  -- lookup's two strings cost each card more than the value they find.
  local held, nheld, held_gen = {}, 0, nil
  function memo.block(name, k, read, ...)
    if not usable() then return read(...) end
    if held_gen ~= generation or nheld >= max then held, nheld, held_gen = {}, 0, generation end
    local of = held[name]
    if not of then of = {} held[name] = of end
    local v = of[k]
    if v ~= nil then
      if building then depends({ name .. "-block:" .. k }) end
      return v
    end
    v = lookup(name .. "-block\0" .. k, nil, nil, name .. "-block:" .. k, read, ...)
    if held_gen == generation then of[k], nheld = v, nheld + 1 end -- (no change seen while it was read)
    return v
  end

  -- What the memo holds and did: values, weight, and counts of changes that dropped everything
  -- (all), that dropped by tag (selective), values dropped by tag and kept through a change.
  function memo.stats()
    local count = 0
    for _ in pairs(young) do count = count + 1 end
    for _ in pairs(old) do count = count + 1 end
    return { values = count, weight = ny + no, all = stats.all, selective = stats.selective, dropped = stats.dropped,
      kept = stats.kept, tag_version = tag_version }
  end

  return memo
end

-- view(site, key, deps, fn, ...) -> the record { value = fn(...), page = list, deps = list or false }
-- memoised in site.memo (shared: copy what is handed out): for a view built by filters and
-- plugin code, which tag the page they fill (site.collecting) rather than name what they read.
-- page: the cache tags fn's reads collected, given again to the page using the value at every
-- call, computed or kept. The value goes when a write bumps one of those, or of deps (a list,
-- or a function of fn's arguments giving one, called only when the value is built: what fn was
-- given, which no read inside recorded), or of the memoised values fn looked up; deps false, or
-- no tag at all, or fn reading the clock (volatile): at every write.
-- The record's deps: the list deps gave (or false); with its page tags, the value's tags, made
-- only when the memo asks (a value it keeps, or one inside another).
local NO_DEPS = {}
local function deps_of(rec)
  local deps = rec.deps
  if deps == false then return nil end
  local page = rec.page
  if #page + #deps == 0 then return nil end
  return table.move(deps, 1, #deps, #page + 1, table.move(page, 1, #page, 1, {}))
end
local function build_view(site, deps, fn, ...)
  local outer, collected = site.collecting, {}
  site.collecting = collected
  local ok, v = pcall(fn, ...)
  site.collecting = outer
  if not ok then error(v, 0) end
  local page = {}
  for t in pairs(collected) do page[#page + 1] = t end
  if deps ~= false then
    if type(deps) == "function" then deps = deps(...) end
    deps = deps or NO_DEPS
  end
  return { value = v, page = page, deps = deps }
end
local function view(site, class_of, raw, key, deps, fn, ...)
  local rec = site.memo.of_class(class_of, raw, key, deps_of, build_view, site, deps, fn, ...)
  local c = site.collecting
  if c then
    local page = rec.page
    for i = 1, #page do c[page[i]] = true end
  end
  return rec
end
function M.view(site, key, deps, fn, ...) return view(site, nil, nil, key, deps, fn, ...) end
-- view_of(site, class_of, raw, key, deps, fn, ...): as view, for a value of a class
-- (memo.of_class): a plugin's, whose values are kept while pages read them again.
M.view_of = view

-- Facts most entries lack (comments, shares, corrections), read for a block of ENTRY_BLOCK
-- consecutive entry ids in one statement and kept in site.memo under the block's tag: an export
-- or a warm cache reads neighbours in a row, and an entry with none needs no statement of its
-- own. A writer bumps block_tag(name, entry_id) with the entry's own tag.
local ENTRY_BLOCK = 64
function M.block_tag(name, entry_id) return name .. "-block:" .. (entry_id // ENTRY_BLOCK) end
local function read_block(db, sql, add, k)
  local of = {}
  for _, r in ipairs(db:rows(sql, k * ENTRY_BLOCK, k * ENTRY_BLOCK + ENTRY_BLOCK - 1)) do add(of, r) end
  return of
end
-- of_block(site, name, entry_id, sql, add) -> { [id] = what add made of its rows } for the
-- entries of entry_id's block (shared: not to be changed): sql selects their rows with
-- "entry_id BETWEEN ? AND ?", add(of, row) folds each into of.
function M.of_block(site, name, entry_id, sql, add)
  local k = entry_id // ENTRY_BLOCK
  return site.memo.block(name, k, read_block, site.db, sql, add, k)
end

-- A deep copy of a value built from the database (plain tables, no cycles), made in C: copies
-- are made on every memo hit, and a Lua copy cost more than the reads it saved.
M.copy = require("quire.core").copy

return M
