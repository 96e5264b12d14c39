-- Redirects: old URLs (a WordPress site's, a renamed term's, an entry's before its slug changed)
-- answered with 301/302/308 before the router runs. A redirect points at a path, an absolute
-- http(s) URL or an entry (then at wherever its permalink is now, so renames make no chains).
-- Answers are kept by the page cache under the tag "redirects" (and the target entry's tag);
-- every change to the table bumps "redirects".
local core = require "quire.core"
local errors = require "quire.errors"
local time = require "quire.time"

local M = {}

local STATUSES = { [301] = true, [302] = true, [308] = true }
local SOURCES = { wordpress = true, rename = true, slug = true, manual = true }
local PATH_MAX = 2000
local HOPS_MAX = 10 -- check follows at most this many redirects from one start
local KEYS_MAX = 20000 -- sources kept in memory per process (beyond: one indexed query a request)

-- The stored form of a path: "//" collapsed, no trailing slash (but "/"), %xx in upper case.
local function norm_path(p)
  if p:find("//", 1, true) then p = p:gsub("//+", "/") end
  if #p > 1 and p:byte(-1) == 47 then p = p:gsub("/+$", "") end
  if p == "" then p = "/" end
  if p:find("%", 1, true) then p = p:gsub("%%%x%x", string.upper) end
  return p
end

-- A query string takes part in matching only when it is one plain pair ("p=123",
-- "page_id=2", "cat=5"): exact text, nothing decoded, so no crafted query can reach another key.
local function plain_query(qs)
  if qs and #qs <= 100 and qs:match("^[%a_][%w_]*=[%w_%-]+$") then return qs end
end

-- The sign-in, the admin and the APIs are never redirected: an editor's redirect of
-- /admin/login to another site would collect the admins' passwords there (and a 301 stays in
-- browsers after it is deleted).
local function reserved(key)
  return key == "/admin" or key:sub(1, 7) == "/admin/" or key == "/api" or key:sub(1, 5) == "/api/"
end

-- "from" as given by a person or an importer -> its key, or nil and why. stored: the key of a
-- source as the table may hold it (to delete it), even one the server answers 400.
function M.key(from, stored)
  if type(from) ~= "string" or from:sub(1, 1) ~= "/" or #from > PATH_MAX then
    return nil, ("a redirect's source must be a path starting with / of at most %d bytes (got %q)"):format(PATH_MAX, tostring(from))
  end
  if from:find("[%s%c#]") then return nil, ("%q: a path has no spaces, control characters or #"):format(from) end
  -- (the server answers such a path 400 before it looks for a redirect: one from it is never followed)
  local problem = not stored and core.path_problem(from)
  if problem then
    return nil, ("%q: %s; the server answers it 400 before any redirect (write it as a browser sends it: /a/b for /a/./b, %%25 for a literal %%)"):format(from, problem)
  end
  local path, qs = from:match("^([^?]*)%??(.*)$")
  local key = norm_path(path)
  if not stored and reserved(key) then
    return nil, ("%q: /admin and /api (the sign-in, the admin and the APIs) cannot be redirected"):format(from)
  end
  if qs ~= "" then
    if not plain_query(qs) then
      return nil, ("%q: a source may carry one plain query pair (/?p=123), not %q"):format(from, qs)
    end
    key = key .. "?" .. qs
  elseif key == "/" then
    return nil, "the front page (/) cannot be redirected"
  end
  return key
end

local function check_target(to)
  if type(to) ~= "string" or #to > PATH_MAX or to:find("[%s%c]") then
    return nil, "a redirect's target is a path starting with / or an http(s) URL, without spaces"
  end
  if to:match("^/[^/]") or to == "/" then return to end
  if to:match("^https?://[%w%.%-]+[:/]?") then return to end
  return nil, ("%q is not a path starting with / or an http(s) URL"):format(to)
end

-- An entry's permalink changed (slug or date): its old URL keeps working. A redirect from the
-- new URL (an earlier move back) is removed, or it would now loop.
function M.entry_moved(site, id, old_url, new_url)
  local db = site.db
  if old_url == new_url or not old_url or not M.key(old_url) then return end
  db:exec("INSERT INTO redirects (from_path, to_entry, status, source, created_at) VALUES (?, ?, 301, 'slug', ?)"
    .. " ON CONFLICT (from_path) DO UPDATE SET to_path = NULL, to_entry = excluded.to_entry, status = 301, source = 'slug'",
    M.key(old_url), id, time.now())
  local new_key = new_url and M.key(new_url)
  if new_key then db:exec("DELETE FROM redirects WHERE from_path = ?", new_key) end
  site.bump({ redirects = true })
end

-- A type's permalink pattern changed (in site.lua or a plugin), or the site's time zone did for a
-- pattern with a date in it: every public entry of that type keeps its old URL as a redirect to
-- its new one. The pattern and zone each type had are kept in type_permalinks; a type seen for
-- the first time is only recorded. Runs when the site opens, so it costs one small read unless
-- something changed. get(id) reads an entry; permalink(t, entry) makes its URL.
-- Returns how many entries moved.
M.MOVE_BATCH = 500
function M.follow_permalinks(site, get, permalink)
  local db = site.db
  local types = require("quire.types")
  local zone = time.zone
  local function changed_types()
    local known = {}
    for _, r in ipairs(db:rows("SELECT type, pattern, zone FROM type_permalinks")) do known[r.type] = r end
    local out = {}
    for _, name in ipairs(site.types:names()) do
      local t, k = site.types:get(name), known[name]
      if not k or k.pattern ~= t.permalink or (types.dated(t.permalink) and k.zone ~= zone) then
        out[#out + 1] = { type = t, old = k and k.pattern, old_zone = k and k.zone }
      end
    end
    return out
  end
  if not changed_types()[1] then return 0 end
  return site.transaction(function()
    local moved = 0
    -- Read again inside the write transaction: another process opening the site at the same
    -- time may have done it already.
    for _, c in ipairs(changed_types()) do
      local t = c.type
      if c.old then
        local was = setmetatable({ permalink = c.old, permalink_zone = c.old_zone }, { __index = t })
        local last, n = 0, 0
        repeat
          local rows = db:rows("SELECT id FROM entries WHERE type = ? AND status = 'published' AND id > ? ORDER BY id LIMIT ?",
            t.name, last, M.MOVE_BATCH)
          for _, r in ipairs(rows) do
            last = r.id
            local e = get(r.id)
            local old_url, new_url = permalink(was, e), permalink(t, e)
            if old_url ~= new_url then
              M.entry_moved(site, r.id, old_url, new_url)
              n = n + 1
            end
          end
        until #rows < M.MOVE_BATCH
        local what = c.old == t.permalink and ("time zone %s -> %s"):format(c.old_zone, zone) or ("%s -> %s"):format(c.old, t.permalink)
        site.audit("type.permalink_changed", "type:" .. t.name, ("%s: %d entries redirected"):format(what, n))
        moved = moved + n
      end
      db:exec("INSERT INTO type_permalinks (type, pattern, zone) VALUES (?, ?, ?)"
        .. " ON CONFLICT (type) DO UPDATE SET pattern = excluded.pattern, zone = excluded.zone", t.name, t.permalink, zone)
    end
    return moved
  end)
end

-- A tag or section was renamed: its list (and its feeds) move with it.
function M.term_renamed(site, taxonomy, old_slug, new_slug)
  local db = site.db
  if old_slug == new_slug then return end
  local now = time.now()
  for _, suffix in ipairs({ "", "/feed.xml", "/atom.xml", "/feed.json" }) do
    local from, to = "/" .. taxonomy .. "/" .. old_slug .. suffix, "/" .. taxonomy .. "/" .. new_slug .. suffix
    db:exec("INSERT INTO redirects (from_path, to_path, status, source, created_at) VALUES (?, ?, 301, 'rename', ?)"
      .. " ON CONFLICT (from_path) DO UPDATE SET to_path = excluded.to_path, to_entry = NULL, status = 301, source = 'rename'",
      from, to, now)
    db:exec("DELETE FROM redirects WHERE from_path = ?", to)
  end
  -- Redirects that pointed at the old list now point at the new one (no chains).
  local old_path = "/" .. taxonomy .. "/" .. old_slug
  db:exec("UPDATE redirects SET to_path = ? || substr(to_path, ?) WHERE to_path = ? OR substr(to_path, 1, ?) = ?",
    "/" .. taxonomy .. "/" .. new_slug, #old_path + 1, old_path, #old_path + 1, old_path .. "/")
  site.bump({ redirects = true })
end

function M.new(site, quire)
  local db = site.db
  local api = {}

  local function bump() site.bump({ redirects = true }) end

  -- The set of every redirect's source, or false when there may be too many to keep in memory
  -- (ids are never more than KEYS_MAX: both reads walk the primary key, no scan).
  local function load_keys()
    local top = db:value("SELECT max(id) FROM redirects") or 0
    if top > KEYS_MAX then return false end
    local keys = {}
    for _, r in ipairs(db:rows("SELECT from_path FROM redirects WHERE id <= ? LIMIT ?", top, KEYS_MAX)) do keys[r.from_path] = true end
    return keys
  end

  -- Where a row sends readers now, or nil when its entry is not public (then the router answers).
  local function target_of(r)
    if r.to_path then return r.to_path end
    local e = quire.content.get(r.to_entry) -- tags the answer with entry:ID
    if e and e.status == "published" then return quire.content.url(e) end
  end

  -- For the request path: status and Location, 404 (an entry's old URL, the entry not public),
  -- or nil (not redirected). One indexed lookup (two with a plain query).
  function api.lookup(path, qs)
    -- The common case is a miss. While the table is small its keys are kept in memory until the
    -- next write to them (site.memo: tag "redirects"), so a miss costs a table index, not a query.
    local id
    local q = qs ~= "" and plain_query(qs)
    local key = norm_path(path)
    if reserved(key) then return nil end -- (a row from before they were refused is not followed)
    local keys = site.memo.tagged("redirects\0keys", "redirects", load_keys)
    if q and (not keys or keys[key .. "?" .. q]) then id = db:value("SELECT id FROM redirects WHERE from_path = ?", key .. "?" .. q) end
    local keep_query = false
    if not id and key ~= "/" and (not keys or keys[key]) then
      id = db:value("SELECT id FROM redirects WHERE from_path = ?", key)
      keep_query = id and qs ~= ""
    end
    local r = id and db:row("SELECT to_path, to_entry, status FROM redirects WHERE id = ?", id)
    if r and keep_query and r.to_path == nil then r.keep_query = qs end
    if not r then
      -- No route ends in "/": an old URL's trailing slash goes (not "//x", nor "/\\x", which
      -- browsers would read as another host).
      if #path > 1 and path:byte(-1) == 47 and key:match("^/[^/\\]") and not key:find("\\", 1, true)
        and not qs:find("[%c%s]") then
        return 301, key .. (qs ~= "" and ("?" .. qs) or "")
      end
      return nil
    end
    local to = target_of(r)
    if not to then return 404 end -- the old URL of an entry that is not public (now or any more)
    if r.keep_query and not to:find("?", 1, true) then to = to .. "?" .. r.keep_query end
    return r.status, to
  end

  -- add{ from =, to = path or URL | entry = id, status = 301, source = "manual", replace = false }
  function api.add(spec)
    if type(spec) ~= "table" then error("quire.redirects.add takes a table", 2) end
    local key, err = M.key(spec.from)
    if not key then errors.raise("invalid", err) end
    local status = spec.status or 301
    if not STATUSES[status] then errors.raise("invalid", ("status must be 301, 302 or 308 (got %s)"):format(tostring(status))) end
    local source = spec.source or "manual"
    if not SOURCES[source] then errors.raise("invalid", "source must be wordpress, rename, slug or manual") end
    local to, entry = nil, nil
    if spec.entry ~= nil then
      entry = math.tointeger(spec.entry)
      if not entry or not db:row("SELECT id FROM entries WHERE id = ?", entry) then
        errors.raise("invalid", ("no entry %s to redirect to"):format(tostring(spec.entry)))
      end
    else
      to, err = check_target(spec.to)
      if not to then errors.raise("invalid", err) end
      if to:sub(1, 1) == "/" and M.key(to) == key then errors.raise("invalid", ("%s would redirect to itself"):format(spec.from)) end
    end
    return site.transaction(function()
      local old = db:row("SELECT id FROM redirects WHERE from_path = ?", key)
      if old and not spec.replace then
        errors.raise("invalid", ("%s already redirects (delete it first, or use --replace)"):format(key))
      end
      local _, id = db:exec("INSERT INTO redirects (from_path, to_path, to_entry, status, source, created_at) VALUES (?, ?, ?, ?, ?, ?)"
        .. " ON CONFLICT (from_path) DO UPDATE SET to_path = excluded.to_path, to_entry = excluded.to_entry,"
        .. " status = excluded.status, source = excluded.source",
        key, to, entry, status, source, time.now())
      bump()
      return old and old.id or id
    end)
  end

  -- Removes the redirect from a path (or with an id). Returns true, or nil when there was none.
  function api.delete(from)
    local key = math.tointeger(from) or select(1, M.key(from, true))
    if not key then errors.raise("invalid", select(2, M.key(from, true))) end
    return site.transaction(function()
      local r = math.type(key) == "integer" and db:row("SELECT id, from_path FROM redirects WHERE id = ?", key)
        or db:row("SELECT id, from_path FROM redirects WHERE from_path = ?", key)
      if not r then return nil end
      db:exec("DELETE FROM redirects WHERE id = ?", r.id)
      site.audit("redirect.deleted", "redirect:" .. r.id, r.from_path)
      bump()
      return true
    end)
  end

  -- list{ source =, limit =, after = from_path } -> rows { id, from_path, to, status, source,
  -- created_at } in from_path order, those after `after` (keyset pages).
  function api.list(q)
    q = q or {}
    -- Only the conditions given (a parameter's type is then always known to the store).
    local sql, args = { "SELECT id, from_path, to_path, to_entry, status, source, created_at FROM redirects WHERE true" }, {}
    if q.source ~= nil then sql[#sql + 1], args[#args + 1] = " AND source = ?", q.source end
    if q.after ~= nil then sql[#sql + 1], args[#args + 1] = " AND from_path > ?", q.after end
    sql[#sql + 1] = " ORDER BY from_path"
    if math.tointeger(q.limit) then sql[#sql + 1], args[#args + 1] = " LIMIT ?", math.tointeger(q.limit) end
    local rows = db:rows(table.concat(sql), table.unpack(args))
    for _, r in ipairs(rows) do r.to = r.to_path or ("entry:" .. r.to_entry) end
    return rows
  end

  -- Follows every redirect through the site's own router. Returns a list of problems
  -- { from =, problem = "loop"|"chain"|"404"|"gone", detail = } and how many were checked.
  function api.check()
    local problems, n = {}, 0
    local app = quire.app
    for _, r in ipairs(db:rows("SELECT from_path, to_path, to_entry, status FROM redirects ORDER BY from_path")) do
      n = n + 1
      local to = target_of(r)
      local refused = core.path_problem(r.from_path)
      if refused then
        -- (stored before the server refused such paths on every site, or by hand)
        problems[#problems + 1] = { from = r.from_path, problem = "400", detail = refused
          .. "; the server answers it 400 before any redirect: delete this redirect" }
      elseif not to then
        problems[#problems + 1] = { from = r.from_path, problem = "gone", detail = ("entry %d is not published"):format(r.to_entry) }
      elseif to:sub(1, 1) == "/" then
        local seen, hops, cur = { [r.from_path] = true }, 0, to
        local problem, detail
        while true do
          local path, qs = cur:match("^([^?#]*)%??([^#]*)")
          local status, next_to = api.lookup(path, qs)
          if not status or status == 404 then break end
          hops = hops + 1
          local k = M.key(cur) or cur
          if seen[k] or hops >= HOPS_MAX then problem, detail = "loop", cur break end
          seen[k] = true
          cur = next_to
          if cur:sub(1, 1) ~= "/" then break end
        end
        if not problem and hops > 0 then problem, detail = "chain", ("%d more redirect(s), ending at %s"):format(hops, cur) end
        if problem ~= "loop" and cur:sub(1, 1) == "/" then
          local res = app.request("GET", cur)
          if res.status == 404 or res.status == 410 then
            problem, detail = "404", (problem == "chain" and (detail .. ", which answers ") or (cur .. " answers ")) .. res.status
          end
        end
        if problem then problems[#problems + 1] = { from = r.from_path, problem = problem, detail = detail } end
      end
    end
    return problems, n
  end

  return api
end

return M
