-- Fingerprinted static files: quire.assets.url("theme", "quire.css") names a copy of a plugin's
-- static file that carries its content's hash ("/static/theme/quire.1a2b3c4d5e6f.css"), kept in
-- SITE/.quire/static, which the server sends as immutable (core/static.c). A changed file gets a
-- new name, so a reader's browser never keeps an old stylesheet for a new page.
--
-- The old copies stay while something may still ask for them: pages a running process keeps or
-- renders (a worker names what it read at start until it is reloaded), and pages already sent,
-- which an edge cache, a CDN or a browser may hold for a while. So a copy goes (M.pass) only
-- when no file in a plugin's static folder has its content now, and no process has named it for
-- static_retention days (site.lua). "Named" is kept in the copy's mtime, a lease: a process sets
-- it to now when it names a copy whose mtime is over RENEW old, and again at each pass (at most
-- PASS apart: quire serve's workers run one each PASS, the master one at start, quire export one
-- after each run). So while any process names a copy its mtime is less than RENEW + PASS old,
-- and a copy whose mtime is older than static_retention days + RENEW + PASS has been named by
-- none for static_retention days.
-- (The mtime moves at most once a RENEW: a copy's Last-Modified and ETag with it, which only
-- makes a cache that asks again take the same bytes.)
local core = require "quire.core"

local M = {}

M.MAX_BYTES = 4 * 1024 * 1024
M.RENEW = 86400 -- seconds: a named copy's mtime is moved to now when it is older than this
M.PASS = 3600   -- seconds: the longest a server's worker goes between two passes

function M.dir(cfg) return cfg.dir .. "/.quire/static" end

-- Makes the folder the copies go to (for the server to mount at /static/). Returns its path, or
-- nil and a message.
function M.prepare(cfg)
  -- A site given as a relative path (quire serve --site news) is made from the working folder.
  local dir = M.dir(cfg)
  local path = dir:sub(1, 1) == "/" and "" or "."
  for part in dir:gmatch("[^/]+") do
    path = path .. "/" .. part
    if core.stat(path) ~= "dir" then
      local ok, err = core.mkdir(path)
      if not ok and core.stat(path) ~= "dir" then return nil, err end
    end
  end
  if dir:sub(1, 1) ~= "/" then return dir end
  return path
end

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- Whether file is a name quire.assets.url takes: one name in the folder, no "..".
local function plain_name(file)
  return file:match("^[%w_][%w_.-]*$") and not file:find("..", 1, true) and #file <= 200
end

-- The copy's name for file with content data: base.HASH.ext.
local function copy_name(file, data)
  local base, ext = file:match("^(.-)(%.%w+)$")
  if not base then base, ext = file, "" end
  return base .. "." .. hex(core.hmac_sha256("quire.assets", data)):sub(1, 12) .. ext
end

-- The names of the files copy_name could have made the copy name from (it read backwards: with
-- an extension, base.HASH.ext from base.ext; without, file.HASH from file).
local HASH = ("%x"):rep(12)
local function sources_of(name)
  local files = {}
  local base, ext = name:match("^(.-)%." .. HASH .. "(%.%w+)$")
  if base then files[#files + 1] = base .. ext end
  local whole = name:match("^(.+)%." .. HASH .. "$")
  if whole then files[#files + 1] = whole end
  return files
end

-- The content of the file at path, or nil and a message (none, too large).
local function read_source(path)
  local f = io.open(path, "rb")
  if not f then return nil, "missing" end
  local data = f:read(M.MAX_BYTES + 1) or ""
  f:close()
  if #data > M.MAX_BYTES then return nil, "large" end
  return data
end

-- Returns the plugin-facing API ({ url = }) and the keeper of this process's copies, which
-- renews and sweeps them (pass, tick; not for plugins).
function M.new(site, quire)
  local made = {}
  local named = {} -- path of every copy this process named (-> its key in made): its pages, kept or sent, may name any
  local api, keeper = {}, {}

  -- Sets the lease of the copy at path (see the top): now when it is over RENEW old. Returns
  -- whether the copy is there. A lease that cannot be set (an mtime is set by the file's owner
  -- only: a copy another user made, say by one `sudo quire export`) is logged, once a process:
  -- such a copy can lapse while pages still name it. Once, not once a copy: a theme's dozen
  -- copies, in each of a server's or an export's workers, said a line each (one sudo run makes them all).
  local unrenewable = false
  local function renew(path, now)
    local kind, mtime = core.stat(path)
    if kind == "file" and mtime < now - M.RENEW then
      local ok, err = core.touch(path, now)
      if not ok and not unrenewable then
        unrenewable = true
        io.stderr:write(("quire: cannot renew the lease of the static copy %s (%s): it may be removed while pages "
          .. "still name it; make this user its owner (chown), and the other copies in %s this process may not renew"
          .. " (not logged again)\n"):format(path, tostring(err), M.dir(site.config)))
      end
    end
    return kind == "file"
  end

  -- The fingerprinted URL of file (a name in plugin's static folder); the copy is written once.
  function api.url(plugin, file)
    -- A name made before first (every page asks for the same few): only a checked plugin and
    -- file made it, neither holding a "/". Dev mode looks at the file again each time.
    local key = type(plugin) == "string" and type(file) == "string" and plugin .. "/" .. file
    if key and made[key] and not site.config.dev then return made[key] end
    if not key or not plugin:match("^[%w_-]+$") or not plain_name(file) then
      error("quire.assets.url(plugin, file) takes a plugin's name and a file name in its static folder", 2)
    end
    local dir
    for _, s in ipairs(quire.plugins.static_dirs) do if s.plugin == plugin then dir = s.dir end end
    if not dir then error(("quire.assets.url: plugin %s has no static folder"):format(plugin), 2) end
    local data, why = read_source(dir .. "/" .. file)
    if why == "missing" then error(("quire.assets.url: there is no %s in %s"):format(file, dir), 2) end
    if why then error(("quire.assets.url: %s/%s is over %d bytes"):format(dir, file, M.MAX_BYTES), 2) end
    local name = copy_name(file, data)
    local out = M.dir(site.config) .. "/" .. plugin
    local path = out .. "/" .. name
    -- Renewed first, then written when not there: another process's pass that removed an old
    -- copy just as this one named it again is undone here (and by keeper.pass, for a later one).
    if not renew(path, os.time()) or core.stat(path) ~= "file" then
      if core.stat(out) ~= "dir" then
        M.prepare(site.config)
        core.mkdir(out)
      end
      -- Written aside and renamed: a worker serving the name never sees half a file.
      local tmp = ("%s.%d.tmp"):format(path, core.getpid())
      local w = io.open(tmp, "wb")
      if w then
        w:write(data)
        w:close()
        os.rename(tmp, path)
      end
    end
    named[path] = key
    made[key] = "/static/" .. plugin .. "/" .. name
    return made[key]
  end

  -- The copies the plugins' static files named in only make now: { [plugin] = { [name] = true } }
  -- (only: { [plugin] = { [file] = true } }, the files that could have made the copies a pass
  -- may remove: sources_of). Each file is read again only when its size or mtime moved since
  -- the last pass; a file only does not name is not read (a static folder of some hundred MB
  -- would hold a worker's tick for seconds).
  local seen = {} -- path -> { mtime, nsec, size, name }
  local function current(only)
    local keep = {}
    for _, s in ipairs(quire.plugins.static_dirs) do
      local names = keep[s.plugin] or {}
      keep[s.plugin] = names
      for file in pairs(only[s.plugin] or {}) do
        local src = s.dir .. "/" .. file
        local kind, mtime, size, nsec = core.stat(src)
        if kind == "file" and plain_name(file) and size <= M.MAX_BYTES then
          local was = seen[src]
          if not (was and was.mtime == mtime and was.nsec == nsec and was.size == size) then
            local data = read_source(src)
            was = data and { mtime = mtime, nsec = nsec, size = size, name = copy_name(file, data) }
            seen[src] = was
          end
          if was then names[was.name] = true end
        end
      end
    end
    return keep
  end

  -- Every file in the copies' folder, as fn(plugin, name, mtime). (Another plugin's folder, or
  -- one no longer loaded: its copies age out the same way; the folder stays, one per plugin ever
  -- used.)
  local function each_file(fn)
    local root = M.dir(site.config)
    for _, plugin in ipairs(core.listdir(root) or {}) do
      if core.stat_at(root, plugin) == "dir" then
        for _, name in ipairs(core.listdir(root .. "/" .. plugin) or {}) do
          local kind, mtime = core.stat_at(root, plugin .. "/" .. name)
          if kind == "file" then fn(plugin, name, mtime) end
        end
      end
    end
  end

  -- The copies that go at now: no current file makes them and no process named them for
  -- static_retention days (see the top), as a set of "plugin/name". None when static_retention
  -- is 0 (every copy kept).
  local function expired(now)
    local gone = {}
    local days = site.config.static_retention
    if not days or days <= 0 then return gone end
    local cutoff = now - days * 86400 - M.RENEW - M.PASS
    -- The copies old enough to go, and the files that could have made them (read only then).
    -- (a writer killed mid-copy left NAME.PID.tmp: no current name either, it goes too)
    local old, only = {}, {}
    each_file(function(plugin, name, mtime)
      if mtime < cutoff then
        old[#old + 1] = { plugin = plugin, name = name }
        local files = only[plugin] or {}
        only[plugin] = files
        for _, file in ipairs(sources_of(name)) do files[file] = true end
      end
    end)
    if not old[1] then return gone end
    local keep = current(only)
    for _, c in ipairs(old) do
      if not (keep[c.plugin] and keep[c.plugin][c.name]) then gone[c.plugin .. "/" .. c.name] = true end
    end
    return gone
  end

  -- Renews this process's copies, then removes those that go (expired). now: the time to count
  -- from (default: now). Returns how many went; one that cannot be removed is logged.
  function keeper.pass(now)
    now = now or os.time()
    local days = site.config.static_retention
    if not days or days <= 0 then return 0 end
    -- (a copy of this process's gone all the same, as when a pass elsewhere removed it just as
    -- it was named: made again at the next page that names it)
    for path, key in pairs(named) do
      if not renew(path, now) then named[path], made[key] = nil, nil end
    end
    local root, removed = M.dir(site.config), 0
    for rel in pairs(expired(now)) do
      local ok, err = core.remove_at(root, rel)
      if ok then removed = removed + 1
      elseif core.stat_at(root, rel) then io.stderr:write(("quire: cannot remove the old static copy %s: %s\n"):format(rel, tostring(err))) end
    end
    return removed
  end

  -- The copies the server answers, each as fn(url, path): every copy in the folder (not a
  -- writer's temporary file) but those that go at now (default: now). A static export copies
  -- them all, so that pages an edge or a CDN still holds find the old copy they name as long as
  -- quire serve would answer it, and no longer.
  function keeper.each_kept(fn, now)
    local root, gone = M.dir(site.config), expired(now or os.time())
    each_file(function(plugin, name)
      local rel = plugin .. "/" .. name
      if sources_of(name)[1] and not gone[rel] then fn("/static/" .. rel, root .. "/" .. rel) end
    end)
  end

  -- A server worker's clock (cli.lua calls it at every tick): a pass each PASS at most, the
  -- workers spread over it (the master made one at start), logged when copies went.
  local next_pass = os.time() + M.PASS // 2 + math.random(0, M.PASS // 2)
  function keeper.tick(now)
    now = now or os.time()
    if now < next_pass then return end
    next_pass = now + M.PASS // 2 + math.random(0, M.PASS // 2)
    local removed = keeper.pass(now)
    if removed > 0 then keeper.log(removed) end
  end

  function keeper.log(removed)
    io.stderr:write(("quire: removed %d superseded static %s from %s (named by nothing for static_retention = %d days)\n"):format(
      removed, removed == 1 and "copy" or "copies", M.dir(site.config), site.config.static_retention))
  end

  return api, keeper
end

return M
