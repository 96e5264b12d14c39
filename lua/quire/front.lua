-- The edited front pages (quire.front): ordered slots per page ("home", "section:<slug>") that
-- editors fill and schedule, with the newest stories filling the slots nobody filled; the
-- breaking-news banner; and "most read", ranked from the page views readers' browsers report.
-- Cache tags: a page that reads a front's slots carries "front:<page>", the banner
-- "front:breaking", a ranking "most-read:<scope>"; each write bumps only its own.
local copy = require("quire.memo").copy
local errors = require "quire.errors"
local time = require "quire.time"

local M = {}

M.SLOTS_MAX = 20          -- slots per page
M.BANNER_DAYS_MAX = 30    -- the longest a banner may stay up
M.RANK_SIZE = 10          -- stories kept per ranking
M.RANK_CANDIDATES = 200   -- most-viewed stories looked at for the rankings (site and sections)
M.VIEWS_KEEP_HOURS = 48
M.VIEW_WINDOW = 1800      -- one client counts once per story in this many seconds

local function invalid(field, message)
  errors.invalid("invalid front-page change", { { field = field, message = message } })
end

function M.new(site, quire)
  local db = site.db
  local api = {}

  -- "home", "section:News", "section:news" -> "home", "section:news"; raises for anything else.
  -- A section front needs the section to exist (some entry has carried it).
  function api.page(name)
    if name == "home" or name == "/" then return "home" end
    local section = type(name) == "string" and (name:match("^section:(.+)$") or name:match("^/section/(.+)$"))
    if not section or #section > 200 then
      invalid("page", ("must be home or section:NAME (got %s)"):format(type(name) == "string" and ("%q"):format(name:sub(1, 60)) or type(name)))
    end
    local slug = quire.slugify(section)
    if not db:value("SELECT 1 FROM terms WHERE taxonomy = 'section' AND slug = ?", slug) then
      local names = {}
      for _, r in ipairs(db:rows("SELECT name FROM terms WHERE taxonomy = 'section' ORDER BY name LIMIT 50")) do names[#names + 1] = r.name end
      invalid("page", ("there is no section %q (sections: %s)"):format(section, #names > 0 and table.concat(names, ", ") or "none yet"))
    end
    return "section:" .. slug
  end

  -- A time: what quire.time.parse reads, or "+30m", "+2h", "+1d" from now.
  local UNIT = { s = 1, m = 60, h = 3600, d = 86400 }
  local function when(v, field)
    if v == nil then return nil end
    local n, unit
    if type(v) == "string" then n, unit = v:match("^%+(%d%d?%d?%d?)([smhd])$") end
    if n then return time.format(os.time() + tonumber(n) * UNIT[unit]) end
    local t, err = time.parse(v)
    if not t then invalid(field, err) end
    return t
  end

  local function bump(tag)
    site.bump({ [tag] = true })
  end

  -- Puts entry in slot of page from opts.starts_at (default now) until opts.ends_at (default: until
  -- replaced). Starting now, it replaces the slot's current assignment; starting later, it is
  -- scheduled and takes over at that time. Returns the assignment's id.
  function api.set(page, slot, entry_id, opts)
    opts = opts or {}
    page = api.page(page)
    slot = math.tointeger(slot)
    if not slot or slot < 1 or slot > M.SLOTS_MAX then invalid("slot", ("must be a whole number from 1 (the lead) to %d"):format(M.SLOTS_MAX)) end
    entry_id = math.tointeger(entry_id)
    local e = entry_id and quire.content.get(entry_id)
    if not e then invalid("entry", ("there is no entry %s (see quire entries list)"):format(tostring(entry_id))) end
    if e.status ~= "published" and e.status ~= "scheduled" then
      invalid("entry", ("entry %d is %s: only published or scheduled stories go on a front page"):format(e.id, e.status))
    end
    local now = time.now()
    local starts = when(opts.starts_at, "starts_at") or now
    local ends = when(opts.ends_at, "ends_at")
    if ends and ends <= starts then invalid("ends_at", "must be after the start") end
    if ends and ends <= now then invalid("ends_at", "is in the past") end
    return site.transaction(function()
      if starts <= now then
        -- The slot's live assignment (and any it had replaced) goes; scheduled ones stay.
        db:exec("DELETE FROM front_slots WHERE page = ? AND slot = ? AND starts_at <= ?", page, slot, now)
        starts = now
      else
        db:exec("DELETE FROM front_slots WHERE page = ? AND slot = ? AND starts_at = ?", page, slot, starts)
      end
      local _, id = db:exec("INSERT INTO front_slots (page, slot, entry_id, starts_at, ends_at, created_at, created_by)"
        .. " VALUES (?, ?, ?, ?, ?, ?, ?)", page, slot, e.id, starts, ends, now, site.actor.name)
      site.audit("front.set", "entry:" .. e.id, ("%s slot %d from %s%s"):format(page, slot, starts, ends and (" until " .. ends) or ""))
      -- A later start changes nothing yet: api.due() bumps the page when it comes.
      if starts <= now then bump("front:" .. page) end
      return id
    end)
  end

  -- Removes assignments: opts.id (one), else the slot's (slot given) or the whole page's, live and
  -- scheduled. Returns how many went.
  function api.clear(page, slot, opts)
    opts = opts or {}
    page = api.page(page)
    local sql, args = "DELETE FROM front_slots WHERE page = ?", { page }
    if opts.id then
      sql, args[2] = sql .. " AND id = ?", math.tointeger(opts.id) or invalid("id", "must be an assignment id (see quire front list)")
    elseif slot ~= nil then
      slot = math.tointeger(slot)
      if not slot or slot < 1 or slot > M.SLOTS_MAX then invalid("slot", ("must be a whole number from 1 to %d"):format(M.SLOTS_MAX)) end
      sql, args[2] = sql .. " AND slot = ?", slot
    end
    return site.transaction(function()
      local n = db:exec(sql, table.unpack(args))
      if n > 0 then
        site.audit("front.clear", page, slot and ("slot " .. slot) or opts.id and ("assignment " .. opts.id) or "all slots")
        bump("front:" .. page)
      end
      return n
    end)
  end

  -- The assignments of page (or of every page), each with its state: live (in force now),
  -- scheduled (starts later), waiting (in force, but its story is not published yet).
  function api.list(page)
    local now = time.now()
    local rows = db:rows("SELECT f.id, f.page, f.slot, f.entry_id, f.starts_at, f.ends_at, f.created_by, e.title, e.status"
      .. " FROM front_slots f JOIN entries e ON e.id = f.entry_id"
      .. " WHERE (CAST(? AS TEXT) IS NULL OR f.page = ?) AND (f.ends_at IS NULL OR f.ends_at > ?)"
      .. " ORDER BY f.page, f.slot, f.starts_at DESC, f.id DESC LIMIT 1000", page and api.page(page), page and api.page(page), now)
    local seen = {}
    for _, r in ipairs(rows) do
      local key = r.page .. "\0" .. r.slot
      if r.starts_at > now then r.state = "scheduled"
      elseif seen[key] then r.state = "replaced"
      else
        seen[key] = true
        r.state = r.status == "published" and "live" or "waiting"
      end
    end
    return rows
  end

  -- The stories of page's first n slots, in order: { entry =, slot =, curated = true|false }.
  -- A slot without a live assignment (or whose story is not published) takes the newest story
  -- not shown in another slot, from opts.query (a quire.content.query, e.g. the section's).
  -- Tags the page "front:<page>".
  function api.resolve(page, n, opts)
    opts = opts or {}
    site.tag("front:" .. page)
    n = math.max(0, math.min(math.tointeger(n) or 0, M.SLOTS_MAX))
    local now = time.now()
    local out, used, by_slot = {}, {}, {}
    -- The assignments not ended when first read (those to come too) are memoised until a write
    -- bumps "front:<page>" (quire.memo; one scheduled for later bumps it when it starts, api.due);
    -- the clock is applied to them here.
    local rows = site.memo.tagged("front-slots\0" .. page .. "\0" .. n, "front:" .. page, db.rows, db,
      "SELECT slot, entry_id, starts_at, ends_at FROM front_slots WHERE page = ? AND slot <= ?"
      .. " AND (ends_at IS NULL OR ends_at > ?) ORDER BY slot, starts_at DESC, id DESC", page, n, now)
    for _, r in ipairs(rows) do
      if r.starts_at <= now and (r.ends_at == nil or r.ends_at > now) and not by_slot[r.slot] and not used[r.entry_id] then
        local e = quire.content.get(r.entry_id)
        if e and e.status == "published" then
          by_slot[r.slot] = e
          used[e.id] = true
        end
      end
    end
    local fill = {}
    if n > 0 then
      local q = { status = "published", limit = n + #rows }
      for k, v in pairs(opts.query or {}) do q[k] = v end
      for _, e in ipairs(quire.content.query(q)) do
        if not used[e.id] then fill[#fill + 1] = e end
      end
    end
    local f = 1
    for slot = 1, n do
      local e, curated = by_slot[slot], true
      if not e then
        e, curated = fill[f], false
        f = f + 1
      end
      if e then out[#out + 1] = { entry = e, slot = slot, curated = curated } end
    end
    return out
  end

  local function safe_link(link)
    if link == nil or link == "" then return nil end
    if type(link) ~= "string" or #link > 2000 then invalid("link", "must be a URL of at most 2000 bytes") end
    local ok = quire.url.safe(link, { "http", "https" })
    if not ok then invalid("link", "must be an http(s) URL or a path on this site (/2026/05/story)") end
    return link
  end

  -- Switches a breaking-news banner on: text (1..300 characters), opts.link, opts.ends_at
  -- (required, at most BANNER_DAYS_MAX days away), opts.starts_at (default now). Returns its id.
  function api.breaking(text, opts)
    opts = opts or {}
    if type(text) ~= "string" then invalid("text", "is required") end
    text = quire.text.trim(text)
    local chars = utf8.len(text)
    if not chars then invalid("text", "is not valid UTF-8") end
    if chars < 1 or chars > 300 then invalid("text", "must be 1 to 300 characters") end
    if text:find("[%z\1-\31\127]") then invalid("text", "may not hold control characters or line breaks") end
    local link = safe_link(opts.link)
    local now = time.now()
    local starts = when(opts.starts_at, "starts_at") or now
    if starts < now then starts = now end
    local ends = when(opts.ends_at, "ends_at")
    if not ends then invalid("ends_at", "is required: say until when the banner stays up (--until 2026-05-01T18:00Z or +2h)") end
    if ends <= starts then invalid("ends_at", "must be after the start (and in the future)") end
    if time.epoch(ends) - time.epoch(starts) > M.BANNER_DAYS_MAX * 86400 then
      invalid("ends_at", ("may be at most %d days after the start"):format(M.BANNER_DAYS_MAX))
    end
    return site.transaction(function()
      local _, id = db:exec("INSERT INTO front_breaking (text, link, starts_at, ends_at, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
        text, link, starts, ends, now, site.actor.name)
      site.audit("front.breaking", "breaking:" .. id, text)
      bump("front:breaking")
      return id
    end)
  end

  -- Takes every banner down (the live one ends now; scheduled ones go). Returns how many.
  function api.breaking_off()
    local now = time.now()
    return site.transaction(function()
      local n = db:exec("UPDATE front_breaking SET ends_at = ? WHERE starts_at <= ? AND ends_at > ?", now, now, now)
        + db:exec("DELETE FROM front_breaking WHERE starts_at > ?", now)
      if n > 0 then
        site.audit("front.breaking_off", "breaking", ("%d banner(s)"):format(n))
        bump("front:breaking")
      end
      return n
    end)
  end

  -- The banner in force now, { text =, link =, ends_at = } or nil; tags the page "front:breaking".
  function api.banner()
    site.tag("front:breaking")
    local now = time.now()
    -- The banners not yet ended are few (each lasts at most BANNER_DAYS_MAX): the newest started
    -- wins. Those not ended when first read are memoised until a write bumps "front:breaking"
    -- (quire.memo), and the clock is applied to them here.
    local best
    local live = site.memo.tagged("front-banners", "front:breaking", db.rows, db, "SELECT id, text, link, starts_at, ends_at FROM front_breaking WHERE ends_at > ? LIMIT 200", now)
    for _, b in ipairs(live) do
      if b.ends_at > now and b.starts_at <= now and (not best or b.starts_at > best.starts_at or (b.starts_at == best.starts_at and b.id > best.id)) then best = b end
    end
    return best and copy(best)
  end

  -- Banners live or to come, for quire front list.
  function api.banners()
    return db:rows("SELECT id, text, link, starts_at, ends_at, created_by FROM front_breaking WHERE ends_at > ? ORDER BY starts_at", time.now())
  end

  -- Bumps the tags of the fronts whose slots or banner changed by the clock since the last look
  -- (a scheduled assignment starting, one ending, a banner going up or down). Run every tick of
  -- every worker, by `quire jobs run` and before each static export: one cheap read when nothing
  -- is due, and the claim of the interval in the settings row lets only one process bump. No
  -- last look recorded (no server, `quire jobs run` or export has looked yet): every start and
  -- end already past counts as due (a bump too many, once), not none of them (a banner that
  -- ended before the first look stayed on the pages cached or exported with it).
  -- preview: only how many fronts are due, nothing written (an export's --dry-run).
  local last_look
  function api.due(preview)
    local now = time.now()
    local since = last_look or db:value("SELECT value FROM settings WHERE key = 'front.checked_at'")
    if not preview then last_look = now end
    local first = not since
    if first then since = "" end
    if since >= now then return 0 end
    -- (Only starts that were scheduled: one made "now" bumped its page when it was set.)
    local pages = db:rows("SELECT DISTINCT page FROM front_slots WHERE (starts_at > ? AND starts_at <= ? AND starts_at > created_at)"
      .. " OR (ends_at > ? AND ends_at <= ?)", since, now, since, now)
    local banner = db:value("SELECT 1 FROM front_breaking WHERE (starts_at > ? AND starts_at <= ? AND starts_at > created_at)"
      .. " OR (ends_at > ? AND ends_at <= ?) LIMIT 1", since, now, since, now)
    if preview then return #pages + (banner and 1 or 0) end
    if #pages == 0 and not banner then
      if first then db:exec("INSERT INTO settings (key, value) VALUES ('front.checked_at', ?) ON CONFLICT DO NOTHING", now) end
      return 0
    end
    return site.transaction(function()
      local stored = db:value("SELECT value FROM settings WHERE key = 'front.checked_at'")
      if stored and stored >= now then return 0 end -- another process bumped these
      db:exec("INSERT INTO settings (key, value) VALUES ('front.checked_at', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", now)
      local tags = {}
      for _, r in ipairs(pages) do tags["front:" .. r.page] = true end
      if banner then tags["front:breaking"] = true end
      site.bump(tags)
      return #pages + (banner and 1 or 0)
    end)
  end

  -- Counts a reader's view of a published entry; client: a key for the reader (a hashed address),
  -- counted once per VIEW_WINDOW seconds per story. Returns true when counted.
  function api.view(entry_id, client)
    entry_id = math.tointeger(entry_id)
    if not entry_id or type(client) ~= "string" or #client > 100 then return false end
    local hour = os.time() // 3600
    return site.transaction(function()
      if quire.hits.add(("view:%d:%s"):format(entry_id, client), M.VIEW_WINDOW) > 1 then return false end
      db:exec("INSERT INTO entry_views (entry_id, hour, count) VALUES (?, ?, 1)"
        .. " ON CONFLICT (entry_id, hour) DO UPDATE SET count = entry_views.count + 1", entry_id, hour)
      return true
    end)
  end

  -- Ranks the last 24 hours' views into most_read (the site's top and each section's), bumping
  -- "most-read:<scope>" only for the rankings that changed; drops views older than VIEWS_KEEP_HOURS.
  -- Returns whether anything changed.
  function api.rank()
    local hour = os.time() // 3600
    local top = db:rows("SELECT entry_id, sum(count) AS n FROM entry_views WHERE hour > ? GROUP BY entry_id"
      .. " ORDER BY n DESC, entry_id DESC LIMIT ?", hour - 24, M.RANK_CANDIDATES)
    local scopes = { all = {} }
    for _, r in ipairs(top) do
      local e = quire.content.get(r.entry_id)
      if e and e.status == "published" then
        local lists = { scopes.all }
        if e.section then
          local key = "section:" .. quire.slugify(e.section)
          scopes[key] = scopes[key] or {}
          lists[2] = scopes[key]
        end
        for _, l in ipairs(lists) do
          if #l < M.RANK_SIZE then l[#l + 1] = { id = e.id, n = r.n } end
        end
      end
    end
    local function text(list)
      local parts = {}
      for i, x in ipairs(list) do parts[i] = x.id .. ":" .. x.n end
      return table.concat(parts, ",")
    end
    return site.transaction(function()
      db:exec("DELETE FROM entry_views WHERE hour <= ?", hour - M.VIEWS_KEEP_HOURS)
      -- Assignments and banners that ended a day ago are history (the audit log keeps who set them).
      local day_ago = time.format(os.time() - 86400)
      db:exec("DELETE FROM front_slots WHERE ends_at <= ?", day_ago)
      db:exec("DELETE FROM front_breaking WHERE ends_at <= ?", day_ago)
      local old = {}
      for _, r in ipairs(db:rows("SELECT scope, entry_id, views FROM most_read ORDER BY scope, rank")) do
        old[r.scope] = (old[r.scope] and (old[r.scope] .. ",") or "") .. r.entry_id .. ":" .. r.views
      end
      local changed = {}
      for scope, list in pairs(scopes) do
        if old[scope] ~= (#list > 0 and text(list) or nil) then changed["most-read:" .. scope] = true end
      end
      for scope in pairs(old) do if not scopes[scope] then changed["most-read:" .. scope] = true end end
      if next(changed) == nil then return false end
      db:exec("DELETE FROM most_read")
      for scope, list in pairs(scopes) do
        for i, x in ipairs(list) do
          db:exec("INSERT INTO most_read (scope, rank, entry_id, views) VALUES (?, ?, ?, ?)", scope, i, x.id, x.n)
        end
      end
      site.bump(changed)
      return true
    end)
  end

  -- The most read published stories of the last 24 hours: scope "all" or "section:<slug>"; at
  -- most limit (default 5). Each { entry =, views = }. Tags the page "most-read:<scope>".
  function api.most_read(scope, limit)
    scope = scope or "all"
    site.tag("most-read:" .. scope)
    local out = {}
    limit = math.min(math.tointeger(limit) or 5, M.RANK_SIZE)
    local ranked = site.memo.tagged("most-read\0" .. scope .. "\0" .. limit, "most-read:" .. scope, db.rows, db,
      "SELECT entry_id, views FROM most_read WHERE scope = ? ORDER BY rank LIMIT ?", scope, limit)
    for _, r in ipairs(ranked) do
      local e = quire.content.get(r.entry_id)
      if e and e.status == "published" then out[#out + 1] = { entry = e, views = r.views } end
    end
    return out
  end

  return api
end

-- The Admin API's routes for the fronts (called from quire.api_admin with its helpers):
-- GET /front (assignments and banners), POST /front/slots, DELETE /front/slots/{id},
-- POST /front/breaking, DELETE /front/breaking. Editors only; the same rules as the CLI.
function M.admin_routes(h)
  local json = require "quire.json"
  local S, A, route, quire = h.schemas, h.prefix, h.route, h.quire
  local str, int = { type = "string" }, { type = "integer" }
  local opt = function(t) local c = {} for k, v in pairs(t) do c[k] = v end c.optional = true return c end
  S.FrontSlot = { type = "object", properties = { id = int, page = str, slot = int, entry_id = int, title = str, state = str,
    starts_at = str, ends_at = { type = { "string", "null" } } } }
  S.FrontBanner = { type = "object", properties = { id = int, text = str, link = { type = { "string", "null" } }, starts_at = str, ends_at = str } }
  S.FrontState = { type = "object", properties = { slots = { type = "array", items = { ["$ref"] = "#/components/schemas/FrontSlot" } },
    banners = { type = "array", items = { ["$ref"] = "#/components/schemas/FrontBanner" } } } }
  S.FrontSet = { type = "object", properties = { page = { type = "string", description = "home or section:NAME" }, slot = int,
    entry = int, starts_at = opt(str), ends_at = opt(str) } }
  S.FrontBreaking = { type = "object", properties = { text = str, ends_at = { type = "string", description = "a time, or +30m, +2h, +1d" },
    link = opt(str), starts_at = opt(str) } }
  local function state()
    local slots, banners = {}, {}
    for i, r in ipairs(quire.front.list()) do
      slots[i] = { id = r.id, page = r.page, slot = r.slot, entry_id = r.entry_id, title = r.title, state = r.state,
        starts_at = r.starts_at, ends_at = r.ends_at or json.null }
    end
    for i, b in ipairs(quire.front.banners()) do
      banners[i] = { id = b.id, text = b.text, link = b.link or json.null, starts_at = b.starts_at, ends_at = b.ends_at }
    end
    return { slots = json.list(slots), banners = json.list(banners) }
  end
  route { method = "GET", path = A .. "/front", response = "FrontState", role = "editor",
    summary = "The front pages' slot assignments (live, waiting, scheduled, replaced) and banners", handler = state }
  route { method = "POST", path = A .. "/front/slots", body = "FrontSet", response = "FrontState", role = "editor", status = 201,
    summary = "Puts an entry in a front's slot now, or from starts_at (scheduled)",
    handler = function(ctx)
      local v = h.body_of(ctx, "FrontSet")
      h.acting(ctx, quire.front.set, v.page, v.slot, v.entry, { starts_at = v.starts_at, ends_at = v.ends_at })
      return state()
    end }
  route { method = "DELETE", path = A .. "/front/slots/{id:int}", response = "FrontState", role = "editor",
    summary = "Removes one slot assignment",
    handler = function(ctx)
      local row = quire.store.query("SELECT page FROM front_slots WHERE id = ?", ctx.params.id)[1]
      if not row then require("quire.api").fail(404, "not_found", "no slot assignment with that id") end
      h.acting(ctx, quire.front.clear, row.page, nil, { id = ctx.params.id })
      return state()
    end }
  route { method = "POST", path = A .. "/front/breaking", body = "FrontBreaking", response = "FrontState", role = "editor", status = 201,
    summary = "Puts up a breaking-news banner until ends_at (at most 30 days)",
    handler = function(ctx)
      local v = h.body_of(ctx, "FrontBreaking")
      h.acting(ctx, quire.front.breaking, v.text, { link = v.link, ends_at = v.ends_at, starts_at = v.starts_at })
      return state()
    end }
  route { method = "DELETE", path = A .. "/front/breaking", response = "FrontState", role = "editor",
    summary = "Takes every banner down",
    handler = function(ctx)
      h.acting(ctx, quire.front.breaking_off)
      return state()
    end }
end

local HELP = [[
usage: quire front set PAGE SLOT ENTRY [--at TIME] [--until TIME] [--site DIR] [--as LOGIN]
       quire front list [PAGE] [--format table|json]
       quire front clear PAGE [SLOT] [--id N]
       quire front breaking TEXT --until TIME [--link URL] [--at TIME]
       quire front breaking --off

The edited front pages. PAGE is home or section:NAME (a section front, e.g. section:Business);
SLOT 1 is the lead, 2 and on the top stories; ENTRY is an entry id (quire entries list).

set:      puts ENTRY in SLOT. Without --at it replaces the slot's story now; with a later --at it
          is scheduled and takes over then (the page changes by itself). --until ends it; a slot
          with no story in force shows the newest story not already on the page.
list:     the assignments live, waiting (story not yet published), scheduled or replaced, and
          the banners up or to come.
clear:    removes a slot's assignments (live and scheduled), or one (--id), or the page's.
breaking: puts a breaking-news banner above every page until --until (required, at most 30
          days); --link makes it a link; --off takes every banner down.

TIME: 2026-05-01T18:00:00Z, 2026-05-01 18:00, 2026-05-01T18:00+02:00, or +30m, +2h, +1d.
Every change makes exactly the pages that show it stale in the page cache.]]

function M.install(commands, help, cli)
  help.front = HELP
  local json = require "quire.json"
  local function fail(code, fmt, ...)
    io.stderr:write("quire: ", fmt:format(...), "\n")
    return code
  end
  local allowed = { site = "value", as = "value", at = "value", ["until"] = "value", link = "value", id = "value",
    format = "value", off = "flag" }
  local usage = { set = 3, list = 1, clear = 2, breaking = 1 }
  commands.front = function(argv)
    local sub = argv[2]
    if sub == nil or sub == "--help" or sub == "-h" then print(HELP) return sub and 0 or 2 end
    if not usage[sub] then return fail(2, "unknown command 'quire front %s' (see quire front --help)", sub) end
    local o, pos = cli.parse("front " .. sub, argv, 3, allowed)
    if not o then return fail(2, "%s", pos) end
    if o.help then print(HELP) return 0 end
    if sub == "set" and #pos ~= 3 then return fail(2, "usage: quire front set PAGE SLOT ENTRY (e.g. quire front set home 1 42)") end
    if sub == "clear" and (#pos < 1 or #pos > 2) then return fail(2, "usage: quire front clear PAGE [SLOT] [--id N]") end
    if sub == "list" and #pos > 1 then return fail(2, "usage: quire front list [PAGE]") end
    if sub == "breaking" and not o.off and #pos ~= 1 then return fail(2, 'usage: quire front breaking "TEXT" --until TIME [--link URL] (or --off)') end
    if sub == "breaking" and o.off and #pos > 0 then return fail(2, "quire front breaking --off takes no text") end
    local function number(v, what)
      local n = math.tointeger(tonumber(v))
      if not n then error(("%s must be a whole number (got %q)"):format(what, v), 0) end
      return n
    end
    local quire, err = cli.open_site(o, { cli = true })
    if not quire then return fail(1, "%s", err) end
    local front = quire.front
    local ok, res = pcall(function()
      if sub == "set" then
        local id = front.set(pos[1], number(pos[2], "SLOT"), number(pos[3], "ENTRY"), { starts_at = o.at, ends_at = o["until"] })
        print(("assignment %d: %s slot %s is entry %s%s"):format(id, front.page(pos[1]), pos[2], pos[3], o.at and (" from " .. o.at) or ""))
      elseif sub == "clear" then
        local n = front.clear(pos[1], pos[2] and number(pos[2], "SLOT"), { id = o.id and number(o.id, "--id") })
        print(("%d assignment(s) removed"):format(n))
      elseif sub == "breaking" then
        if o.off then
          print(("%d banner(s) taken down"):format(front.breaking_off()))
        else
          local id = front.breaking(pos[1], { link = o.link, ends_at = o["until"], starts_at = o.at })
          print(("banner %d up until %s"):format(id, front.banners()[#front.banners()].ends_at))
        end
      else
        local rows, banners = front.list(pos[1]), front.banners()
        if o.format == "json" then
          print(json.encode({ slots = json.list(rows), banners = json.list(banners) }))
          return
        end
        if o.format and o.format ~= "table" then error("--format is table or json", 0) end
        print(("%-5s %-22s %-4s %-6s %-9s %-20s %-20s %s"):format("ID", "PAGE", "SLOT", "ENTRY", "STATE", "FROM", "UNTIL", "TITLE"))
        for _, r in ipairs(rows) do
          print(("%-5d %-22s %-4d %-6d %-9s %-20s %-20s %s"):format(r.id, r.page, r.slot, r.entry_id, r.state, r.starts_at, r.ends_at or "-", r.title))
        end
        if #rows == 0 then print("no assignments: every slot shows the newest stories (quire front set PAGE SLOT ENTRY)") end
        for _, b in ipairs(banners) do
          print(("banner %d: %s%s (%s to %s)"):format(b.id, b.text, b.link and (" -> " .. b.link) or "", b.starts_at, b.ends_at))
        end
      end
    end)
    quire._db:close()
    if not ok then
      if type(res) == "table" and res.errors then
        for _, e in ipairs(res.errors) do io.stderr:write(("quire: %s %s\n"):format(e.field, e.message)) end
        return 1
      end
      return fail(1, "%s", tostring(res))
    end
    return 0
  end
end

return M
