-- Set-based search-and-replace over entry titles and bodies (`quire entries search-replace`):
-- a few statements per chunk of entries instead of one save per entry, with what a save
-- guarantees (the same validation, a revision with its actor, updated_at, the cache tags a save
-- bumps, the search index kept by its triggers).
local cjson = require "cjson"
local core = require "quire.core"
local diff = require "quire.diff"
local time = require "quire.time"
local types = require "quire.types"

local M = {}

-- Entries scanned per write transaction: a live server's writers wait for one chunk at most.
M.CHUNK = 5000

-- Lua's %s, which a save trims titles of and which makes a title blank.
local WS = " \t\n\v\f\r"
local FN = "quire_search_replace"

-- Whether the set-based path keeps every guarantee of a save for this run: plugins that watch
-- saves need the per-entry path, and so do typed fields (validated per type).
function M.applies(quire, fields)
  local hooks = quire._site.hooks
  for _, h in ipairs({ "entry.saving", "entry.saved", "entry.published" }) do
    if hooks and hooks:has("hook", h) then return false end
  end
  for _, f in ipairs(fields) do
    if f ~= "title" and f ~= "body" then return false end
  end
  return true
end

-- The SQL computing the new text of column col (NULL when the text does not change) and the
-- number of replacements in it.
local function expressions(col, on, regex)
  if not on then return "NULL", "0" end
  if regex then return ("%s(%s)"):format(FN, col), "0" end -- the function counts (see core/lua_regex.c)
  local new = ("CASE WHEN instr(%s, @old) > 0 THEN nullif(replace(%s, @old, @new), %s) END"):format(col, col, col)
  local n = ("CASE WHEN instr(%s, @old) > 0 THEN (length(CAST(%s AS BLOB)) - length(CAST(replace(%s, @old, '') AS BLOB))) / length(CAST(@old AS BLOB)) ELSE 0 END")
    :format(col, col, col)
  return new, n
end

-- The text rules of an entry's columns (quire.types): the SQL below is made from them, and a
-- refusal says what a save would say.
local RULES = types.TEXT_RULES.entry
local TEXT_COLUMNS = {}
for col in pairs(RULES) do TEXT_COLUMNS[#TEXT_COLUMNS + 1] = col end
table.sort(TEXT_COLUMNS)

-- The SQL text_check (core/store.c) is core.text_check: "col breaks its rule" as SQL, with the
-- limits as parameters (@col_chars, @col_bytes; see text_limits).
local function text_refused(col)
  local rule = RULES[col]
  return ("text_check(%s, %d, @%s_chars, @%s_bytes) IS NOT NULL"):format(col, (rule.required or rule.blank) and 1 or 0, col, col)
end
local function text_limits(params, limits)
  for _, col in ipairs(TEXT_COLUMNS) do
    params[col .. "_chars"] = types.limit_of(RULES[col].max_chars, limits)
    params[col .. "_bytes"] = types.limit_of(RULES[col].max_bytes, limits)
  end
end
local TEXT_REFUSED = {}
for i, col in ipairs(TEXT_COLUMNS) do TEXT_REFUSED[i] = text_refused(col) end

-- (CROSS JOIN: the chunk in temp.search_replace drives every join, so SQLite never scans all the
-- entries for one chunk.)
-- What a save would refuse, as SQL over the chunk's new text (s) and its entry (e): the checks of
-- validate() in quire.content.validate for the columns a replacement touches or a save re-checks.
local PROBLEMS = [[
SELECT * FROM (
  SELECT s.id, e.type, e.status, e.published_at, coalesce(s.title, e.title) AS title, coalesce(s.body, e.body) AS body,
    e.type IN (SELECT value FROM json_each(@types)) AS type_ok, e.status IN (SELECT value FROM json_each(@states)) AS status_ok
  FROM temp.search_replace s CROSS JOIN entries e ON e.id = s.id)
WHERE ]] .. table.concat(TEXT_REFUSED, " OR ") .. [[

  OR NOT type_ok OR NOT status_ok OR (status = 'scheduled' AND published_at IS NULL)
ORDER BY id LIMIT 20]]

-- What a save would say of entry r (a row of PROBLEMS), its errors by field as a save sorts them.
local function problems_of(r, limits, type_names, states)
  local errs = {}
  if r.type_ok == 0 then
    errs[#errs + 1] = { field = "type", message = ("unknown content type '%s' (known: %s)"):format(r.type, table.concat(type_names, ", ")) }
  end
  if r.status == "scheduled" and r.published_at == nil then
    errs[#errs + 1] = { field = "published_at", message = "is required for a scheduled entry" }
  end
  if r.status_ok == 0 then
    errs[#errs + 1] = { field = "status", message = ("must be one of %s (got %s)"):format(table.concat(states, ", "), tostring(r.status)) }
  end
  for _, col in ipairs(TEXT_COLUMNS) do types.check_text(errs, col, r[col], RULES[col], limits) end
  table.sort(errs, function(a, b) return a.field < b.field end)
  local lines = {}
  for i, e in ipairs(errs) do lines[i] = e.field .. ": " .. e.message end
  return ("entry %d (%s): %s"):format(r.id, r.type, table.concat(lines, "; "))
end

-- An entry's terms as a revision records them: {"tags": [names in order], "section": name}
-- (no "section" when it has none).
local TERMS = [[(SELECT CASE WHEN count(*) FILTER (WHERE taxonomy = 'section') = 0
    THEN json_object('tags', json_group_array(name) FILTER (WHERE taxonomy = 'tag'))
    ELSE json_object('tags', json_group_array(name) FILTER (WHERE taxonomy = 'tag'), 'section', max(name) FILTER (WHERE taxonomy = 'section')) END
  FROM (SELECT t.taxonomy, t.name FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE et.entry_id = e.id ORDER BY et.position))]]

local function refusal(rows, what)
  return ("%s %s would not be valid after it:\n  %s"):format(what,
    #rows >= 20 and "these entries (and maybe more)" or (#rows == 1 and "this entry" or "these entries"),
    table.concat(rows, "\n  "))
end

-- The same run on a store without SQLite's temp tables and SQL functions made in C
-- (PostgreSQL): the new text computed here, chunk by chunk of entries in id order, first all
-- checked (refused as the set-based run refuses, nothing written), then each entry saved through
-- quire.content.update, one transaction per chunk.
local function run_each(quire, spec)
  local site, db = quire._site, quire._db
  local change
  if spec.regex then
    local re, err = core.regex(spec.old)
    if not re then error("bad regular expression: " .. err, 0) end
    change = function(s) return re:gsub(s, spec.new) end
  elseif spec.old == spec.new then
    return 0, 0, {}
  else
    local pattern, repl = spec.old:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"), spec.new:gsub("%%", "%%%%")
    change = function(s) return s:gsub(pattern, repl) end
  end
  local limits, type_names, states = site.limits, site.types:names(), site.workflow.state_order
  local known_type, known_state = {}, {}
  for _, t in ipairs(type_names) do known_type[t] = true end
  for _, st in ipairs(states) do known_state[st] = true end
  -- A chunk's entries after lo, with their new text where a replacement changes it.
  local function chunk(lo)
    local sql = "SELECT id, type, status, published_at, title, body FROM entries WHERE id > ? AND status <> 'trash'"
    local rows = spec.type and db:rows(sql .. " AND type = ? ORDER BY id LIMIT " .. M.CHUNK, lo, spec.type)
      or db:rows(sql .. " ORDER BY id LIMIT " .. M.CHUNK, lo)
    local out = {}
    for _, r in ipairs(rows) do
      local n, new = 0, {}
      for _, f in ipairs(spec.fields) do
        local text, k = change(r[f] or "")
        if k > 0 and text ~= r[f] then new[f], n = text, n + k end
      end
      if n > 0 then out[#out + 1] = { row = r, new = new, n = n } end
    end
    return out, rows[#rows] and rows[#rows].id
  end
  -- What a save would say of each changed entry it would refuse (at most 20).
  local function problems(changes)
    local lines = {}
    for _, c in ipairs(changes) do
      local r = c.row
      local after = { id = r.id, type = r.type, status = r.status, published_at = r.published_at,
        title = c.new.title or r.title, body = c.new.body or r.body,
        type_ok = known_type[r.type] and 1 or 0, status_ok = known_state[r.status] and 1 or 0 }
      local errs = {}
      for _, col in ipairs(TEXT_COLUMNS) do types.check_text(errs, col, after[col], RULES[col], limits) end
      if #errs > 0 or after.type_ok == 0 or after.status_ok == 0 or (r.status == "scheduled" and r.published_at == nil) then
        lines[#lines + 1] = problems_of(after, limits, type_names, states)
        if #lines >= 20 then break end
      end
    end
    return lines
  end
  local lo, bad = 0, {}
  repeat
    local changes, last = chunk(lo)
    for _, line in ipairs(problems(changes)) do if #bad < 20 then bad[#bad + 1] = line end end
    lo = last
  until not last or #bad >= 20
  if #bad > 0 then error(refusal(bad, "search-replace refused, nothing written:"), 0) end
  local replacements, changed, samples = 0, 0, {}
  if spec.dry_run then db:begin() end
  local ok, err = pcall(function()
    lo = 0
    repeat
      local last
      quire.store.transaction(function()
        local changes
        changes, last = chunk(lo)
        local now_bad = problems(changes) -- the entries may have changed since (a live site)
        if #now_bad > 0 then
          error(refusal(now_bad, ("search-replace stopped (%d entries changed before, entries after %d left as they were):")
            :format(changed, lo)), 0)
        end
        for _, c in ipairs(changes) do
          quire.content.update(c.row.id, c.new)
          changed, replacements = changed + 1, replacements + c.n
          for _, f in ipairs(spec.fields) do
            if c.new[f] and #samples < 5 then
              samples[#samples + 1] = ("entry %d %s: %s"):format(c.row.id, f, diff.words(c.row[f], c.new[f], 60))
            end
          end
        end
      end)
      lo = last
    until not last
  end)
  if spec.dry_run then while db:depth() > 0 do db:rollback() end end
  if not ok then error(err, 0) end
  return replacements, changed, samples
end

-- Runs the replacement. spec = { old =, new =, regex = bool, fields = { "title", "body" },
-- type = T or nil, dry_run = bool }. Returns replacements, entries changed, samples (up to 5
-- word diffs), or raises with the reason (a regex error, or the entries a save would refuse:
-- then nothing is written).
function M.run(quire, spec)
  if quire._db.kind then return run_each(quire, spec) end
  local site, db = quire._site, quire._db
  local on = {}
  for _, f in ipairs(spec.fields) do on[f] = true end
  if spec.regex then
    local ok, err = core.regex_sql(db, FN, spec.old, spec.new)
    if not ok then error("bad regular expression: " .. err, 0) end
  elseif spec.old == spec.new then
    return 0, 0, {} -- a save would find nothing changed
  end
  local new_title, n_title = expressions("title", on.title, spec.regex)
  local new_body, n_body = expressions("body", on.body, spec.regex)
  local prefilter = "true"
  if not spec.regex then
    local any = {}
    for _, f in ipairs(spec.fields) do any[#any + 1] = ("instr(%s, @old) > 0"):format(f) end
    prefilter = "(" .. table.concat(any, " OR ") .. ")"
  end
  local type_clause = spec.type and " AND +type = @type" or "" -- (+: by id range, not the type index)
  local fill = ("INSERT INTO temp.search_replace (id, title, body, n, fix) SELECT id, %s, %s, %s + %s,"
    .. " (status = 'published' AND published_at IS NULL) OR title <> trim(title, @ws) FROM entries"
    .. " WHERE id > @lo AND id <= @hi%s AND status <> 'trash' AND %s"):format(new_title, new_body, n_title, n_body, type_clause, prefilter)
  local next_hi = "SELECT id FROM entries WHERE id > @lo" .. type_clause .. " ORDER BY id LIMIT 1 OFFSET @skip"
  local limits = site.limits
  local type_names = site.types:names()
  local params = {
    old = spec.old, new = spec.new, type = spec.type, ws = WS,
    types = cjson.encode(type_names), states = cjson.encode(site.workflow.state_order),
  }
  text_limits(params, limits)
  -- @name parameters, numbered in the order the statement's text first uses them (the store binds
  -- by position).
  local function bind(sql)
    local names, seen, out = {}, {}, {}
    local text = sql:gsub("@([%a_]+)", function(name)
      if not seen[name] then
        seen[name] = #names + 1
        names[#names + 1] = name
      end
      return "?" .. seen[name]
    end)
    for i, name in ipairs(names) do out[i] = params[name] end
    return text, out, #names
  end
  local function exec(method, sql)
    local text, args, n = bind(sql)
    return db[method](db, text, table.unpack(args, 1, n))
  end

  db:exec("CREATE TEMP TABLE IF NOT EXISTS search_replace (id INTEGER PRIMARY KEY, title TEXT, body TEXT, n INTEGER NOT NULL,"
    .. " fix INTEGER NOT NULL)")
  db:exec("DELETE FROM temp.search_replace")
  -- Fills the temp table with the next chunk's changes; returns false after the last chunk.
  local lo, done, lo_done = 0, false, 0
  local function next_chunk()
    if done then return false end
    lo_done = lo
    db:exec("DELETE FROM temp.search_replace")
    params.lo, params.skip = lo, M.CHUNK - 1
    local hi = exec("value", next_hi)
    if hi == nil then hi, done = math.maxinteger, true end
    params.hi = hi
    exec("exec", fill)
    if spec.regex then db:exec("DELETE FROM temp.search_replace WHERE title IS NULL AND body IS NULL") end
    lo = hi
    return true
  end
  local changed = 0
  local function refuse_if_invalid(rows, writing)
    if #rows == 0 then return end
    local lines = {}
    for _, r in ipairs(rows) do lines[#lines + 1] = problems_of(r, limits, type_names, site.workflow.state_order) end
    local what = writing and ("search-replace stopped (%d entries changed before, entries after %d left as they were):"):format(changed, lo_done)
      or "search-replace refused, nothing written:"
    error(refusal(lines, what), 0)
  end

  local replacements, samples = 0, {}

  local actor = site.actor
  local function write_chunk()
    -- The entries may have changed since the first pass (a live site): check again.
    refuse_if_invalid(exec("rows", PROBLEMS), true)
    if #samples < 5 then
      for _, r in ipairs(db:rows("SELECT s.id, s.title, s.body, e.title AS old_title, e.body AS old_body"
        .. " FROM temp.search_replace s CROSS JOIN entries e ON e.id = s.id ORDER BY s.id LIMIT 5")) do
        for _, f in ipairs(spec.fields) do
          if r[f] ~= nil and #samples < 5 then
            samples[#samples + 1] = ("entry %d %s: %s"):format(r.id, f, diff.words(r["old_" .. f], r[f], 60))
          end
        end
      end
    end
    local now = time.now()
    params.now, params.actor_id, params.actor = now, actor.id, actor.name
    -- As a save: the title trimmed, published_at set for a published entry that lacks one.
    local sets = { "updated_at = @now" }
    if on.title then sets[#sets + 1] = "title = coalesce(trim(s.title, @ws), entries.title)" end
    if on.body then sets[#sets + 1] = "body = coalesce(s.body, entries.body)" end
    -- (the IN makes SQLite look the chunk's entries up rather than scan the whole table)
    exec("exec", "UPDATE entries SET " .. table.concat(sets, ", ") .. " FROM temp.search_replace s WHERE entries.id = s.id"
      .. " AND entries.id IN (SELECT id FROM temp.search_replace)")
    -- What a save also does (rarely needed, so apart, to leave the indexes of the rest alone): a
    -- stored title is trimmed, a published entry without a date gets one.
    if db:value("SELECT 1 FROM temp.search_replace WHERE fix LIMIT 1") then
      exec("exec", "UPDATE entries SET title = trim(title, @ws) WHERE id IN (SELECT id FROM temp.search_replace WHERE fix)"
        .. " AND title <> trim(title, @ws)")
      -- Those given a date join the lists by date, as a save that sets published_at: their
      -- lists and the pages on either side of them in the prev/next chains (after the update).
      local dated = db:rows("SELECT e.id, e.type FROM temp.search_replace s CROSS JOIN entries e ON e.id = s.id"
        .. " WHERE s.fix AND e.status = 'published' AND e.published_at IS NULL")
      exec("exec", "UPDATE entries SET published_at = @now WHERE id IN (SELECT id FROM temp.search_replace WHERE fix)"
        .. " AND status = 'published' AND published_at IS NULL")
      if #dated > 0 then
        local reads, moved = require("quire.content.reads").of(site), { ["list:all"] = true }
        for _, d in ipairs(dated) do
          local e = reads.get(d.id)
          moved["list:type:" .. e.type] = true
          for _, t in ipairs(e.tags) do moved["list:tag:" .. core.slugify(t)] = true end
          if e.section then moved["list:section:" .. core.slugify(e.section)] = true end
          for _, within in ipairs({ "type", "section" }) do
            local p, n = reads.neighbour_ids(e, within)
            if p then moved["neighbours:" .. p] = true end
            if n then moved["neighbours:" .. n] = true end
          end
        end
        site.bump(moved)
      end
    end
    -- The revision of each save: the entry as written, its terms as JSON {tags = [...], section =}.
    exec("exec", [[
INSERT INTO revisions (entry_id, title, slug, status, body, fields, terms, published_at, author_id, saved_by, actor, created_at)
SELECT e.id, e.title, e.slug, e.status, e.body, e.fields, ]] .. TERMS .. [[,
  e.published_at, e.author_id, @actor_id, @actor, @now
FROM temp.search_replace s CROSS JOIN entries e ON e.id = s.id
ORDER BY s.id]])
    -- The cache tags a save of a new title or body bumps (touched in quire.content.writes): the
    -- entry, its sitemap block, "entries:any", for a new title what its cards show (teaser:ID),
    -- the lists of drafts when one is among them, and every related list ("related:text", where
    -- a save bumps the index terms its text gained or lost: many texts change at once here).
    params.version = db:value("SELECT coalesce(max(version), 0) + 1 FROM cache_tags")
    exec("exec", [[
INSERT INTO cache_tags (tag, version)
SELECT tag, @version FROM (
  SELECT 'entry:' || id AS tag FROM temp.search_replace
  UNION ALL SELECT DISTINCT 'ids:' || (id / 10000) FROM temp.search_replace
  UNION ALL SELECT 'entries:any'
  UNION ALL SELECT 'teaser:' || id FROM temp.search_replace WHERE title IS NOT NULL OR fix
  UNION ALL SELECT 'related:text'
  UNION ALL SELECT 'list:drafts' FROM (SELECT 1 FROM temp.search_replace s CROSS JOIN entries e ON e.id = s.id
    WHERE e.status <> 'published' LIMIT 1)
) WHERE true ON CONFLICT (tag) DO UPDATE SET version = excluded.version]])
    local totals = db:row("SELECT count(*) AS entries, coalesce(sum(n), 0) AS n FROM temp.search_replace")
    changed = changed + totals.entries
    replacements = replacements + totals.n + (spec.regex and db:value("SELECT " .. FN .. "()") or 0)
  end

  local ok, err = pcall(function()
    -- First a read-only pass: a replacement that makes any entry invalid is refused before
    -- anything is written.
    local found = 0
    while next_chunk() do
      found = found + db:value("SELECT count(*) FROM temp.search_replace")
      refuse_if_invalid(exec("rows", PROBLEMS))
    end
    if spec.regex then db:value("SELECT " .. FN .. "()") end -- reset the count
    if found == 0 then return end
    -- Then the writes, one transaction per chunk (a --dry-run holds them all in one and rolls back).
    lo, done = 0, false
    if spec.dry_run then db:begin() end
    while true do
      local more = quire.store.transaction(function()
        if not next_chunk() then return false end
        if db:value("SELECT count(*) FROM temp.search_replace") > 0 then write_chunk() end
        return true
      end)
      if not more then break end
    end
  end)
  if spec.dry_run then while db:depth() > 0 do db:rollback() end end
  db:exec("DROP TABLE IF EXISTS temp.search_replace")
  if spec.regex then core.regex_sql(db, FN) end
  if not ok then error(err, 0) end
  return replacements, changed, samples
end

return M
