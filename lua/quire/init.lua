-- Opens a site and builds the `quire` API that scripts and plugins use.
local config = require "quire.config"
local core = require "quire.core"
local errors = require "quire.errors"
local types_mod = require "quire.types"

local M = {}

-- What plugins may touch: the API less the core's private handles.
local PLUGIN_API = { "version", "site", "errors", "time", "i18n", "slugify", "content", "comments", "users",
  "template", "markdown", "html", "url", "json", "filters", "workflow", "tokens", "cache", "hits", "shares", "text",
  "corrections", "assets" }

-- Opens the site in dir and loads its plugins (unless opts.plugins == false). opts.served_url:
-- the address a server listens on, the base of absolute links when site.lua sets no base_url;
-- opts.base_url: that base whatever site.lua sets; opts.dev: `quire serve --dev`'s workers;
-- opts.database: a SQLite file opened instead of the site's own (an export dry run's copy of it,
-- see static_export).
-- Returns the `quire` API table, or nil and a message.
function M.open(dir, opts)
  opts = opts or {}
  local cfg, err = config.load(dir)
  if not cfg then return nil, err end
  if opts.database then
    if cfg.database_url then return nil, ("--database %s: the site's store is PostgreSQL, not a SQLite file"):format(opts.database) end
    cfg.database_path = opts.database
  end
  if not cfg.base_url_set and opts.served_url then cfg.base_url = opts.served_url end
  -- A command's own base (`quire export --base-url`): set before the plugins load, as they see
  -- a copy of quire.site made then.
  if opts.base_url then cfg.base_url, cfg.base_url_set = opts.base_url:gsub("/+$", ""), true end
  -- `quire serve --dev`: templates recompile on change, a missing partial is an error, and
  -- quire.assets looks at a static file again each time. Set before the plugins load, for the
  -- same reason (a theme asks quire.site.config.dev whether to ask quire.assets again).
  cfg.dev = opts.dev == true
  -- Plugin code runs under the memory cap; `quire run` scripts are the operator's own and may
  -- opt out (opts.memory_cap = false).
  if opts.memory_cap ~= false then core.memory(cfg.limits.lua_memory) end
  core.pattern_steps(cfg.limits.pattern_steps) -- string.find & co. stop past it (scripts too)
  local db, open_err
  if cfg.database_url then db, open_err = core.open_pg(cfg.database_url)
  else db, open_err = core.open_store(cfg.database_path, { create = false, busy_timeout_ms = cfg.limits.busy_timeout_ms }) end
  if not db then return nil, open_err end
  local types = types_mod.new()
  types:define_builtins()
  local site = { db = db, config = cfg, limits = cfg.limits, types = types }
  -- Write transactions (quire.transaction): the cache tags a write touches are bumped, and the
  -- search index brought up to date, just before the outermost commit.
  site.tx = require("quire.transaction").new(db)
  site.transaction = site.tx.run
  require("quire.store_sql").attach(db, site.tx)
  local cache_tags = require("quire.cache_tags").of(site)
  -- Who the writes are by: { id = user id or nil, name = login | "cli:<os user>" | "job:<name>" | "web" }.
  site.actor = { name = "system" }
  -- The actor of staff user who (a login or id); raises "invalid" for an unknown user.
  function site.actor_of(who)
    local u = (math.type(who) == "integer" or type(who) == "string") and db:row("SELECT id, login FROM users WHERE "
      .. (math.type(who) == "integer" and "id" or "login") .. " = ?", who)
    if not u then errors.raise("invalid", ("no user %s"):format(tostring(who))) end
    return { id = u.id, name = u.login }
  end
  -- Runs fn(...) with actor as the author of its writes, restoring the previous one after.
  function site.acting(actor, fn, ...)
    local previous = site.actor
    site.actor = actor
    local res = table.pack(pcall(fn, ...))
    site.actor = previous
    if not res[1] then error(res[2], 0) end
    return table.unpack(res, 2, res.n)
  end
  -- Writes that leave no revision record their actor here (inside the caller's transaction).
  function site.audit(action, subject, detail)
    db:exec("INSERT INTO audit_log (at, actor, user_id, action, subject, detail) VALUES (?, ?, ?, ?, ?, ?)",
      require("quire.time").now(), site.actor.name, site.actor.id, action, subject, detail or "")
  end
  site.memo = require("quire.memo").new(db)
  function site.tag(t)
    local c = site.collecting
    if c then c[t] = true end
  end
  -- Bumps the versions of a set of cache tags (at the commit of the current transaction).
  site.bump = cache_tags.bump

  local quire = {
    version = core.version,
    -- static_export (opts.static_export: `quire export --format html`): the pages rendered will
    -- be read with no server behind them, so none may hold a form to send or a link that needs
    -- the server (the comments plugin shows the approved thread without its form; the share
    -- plugin links to the networks themselves, not through its counting redirect).
    site = { name = cfg.name, base_url = cfg.base_url, dir = cfg.dir, config = cfg, static_export = opts.static_export == true },
    errors = errors,
    time = require "quire.time",
    i18n = require "quire.i18n",
    slugify = core.slugify,
    -- trim(s): whitespace off both ends in linear time; xml(s): s without the characters XML
    -- 1.0 cannot carry (for XML written from text stored before input was checked); of_html(s):
    -- the text of HTML for summaries (tags as spaces, &lt; &gt; &quot; &#39; &amp; decoded,
    -- whitespace collapsed and trimmed); join(list [, sep]): table.concat of a list of strings,
    -- made in one piece (a document of some hundred kB from its parts: a feed).
    text = { trim = core.trim, xml = core.xml_text, of_html = core.html_text, join = core.join },
  }
  -- The search index stems words where the site's language has a stemmer (rebuilt once when
  -- that changes; lua/quire/content/search.lua).
  local ok, rebuild_err = pcall(require("quire.content.search").use_language, db, cfg.language)
  if not ok then -- e.g. a read-only database: search still works, with the index as it is
    io.stderr:write(("quire: the search index keeps its tokenizer (could not rebuild it for language %q: %s)\n"):format(cfg.language, tostring(rebuild_err)))
  end
  quire.content = require("quire.content").new(site)
  quire.comments = require("quire.comments").new(site)
  quire.users = require("quire.users").new(site)
  quire.terms = require("quire.terms").new(site)
  quire.tokens = require("quire.tokens").new(site)
  quire.hits = require("quire.hits").new(site)
  quire.shares = require("quire.shares").new(site, quire.hits)
  quire.redirects = require("quire.redirects").new(site, quire)
  quire.media = require("quire.media").new(site, db)
  quire.front = require("quire.front").new(site, quire)
  -- (and the keeper of the copies it names, which quire serve and the export call: not for plugins)
  quire.assets, quire._assets = require("quire.assets").new(site, quire)
  -- A story's corrections (marked in the admin): { note =, date = }, oldest first.
  quire._newsroom = require("quire.newsroom").new(site, quire) -- the admin's records; not for plugins
  quire.corrections = { list = quire._newsroom.corrections }
  -- Pages tagged with res:cache_tags{...} go stale when a write bumps one of those tags.
  quire.cache = { bump = function(tags)
    local set = {}
    for _, t in ipairs(tags) do set[tostring(t)] = true end
    site.transaction(function() site.bump(set) end)
  end }
  site.workflow = require("quire.workflow").new(site, quire)
  quire.workflow = { apply = site.workflow.apply, available = site.workflow.available,
    states = function() return table.move(site.workflow.state_order, 1, #site.workflow.state_order, 1, {}) end }
  -- Dates in the site's zone; strings in its language (plugins add their locale/ as they load).
  quire.time.zone = cfg.timezone
  quire.i18n.configure { lang = cfg.language, dirs = { cfg.dir .. "/locale" }, strings = cfg.strings }
  site.template_dirs = { cfg.dir .. "/templates" } -- the site's theme first; plugins append theirs
  quire.template = require("quire.template").new(site)
  local text = require("quire.markdown").new(site)
  quire.markdown, quire.html, quire.url = text.markdown, text.html, text.url
  quire.store = {
    transaction = site.transaction,
    -- Read-only SQL for reports; writes go through the content API so they are validated.
    -- On PostgreSQL a query that fails and holds SQLite's own SQL says so, with what to write.
    query = function(sql, ...)
      if type(sql) ~= "string" then error("quire.store.query takes SQL text", 2) end
      local pg = db.kind ~= nil
      local function sqlite_only(said)
        local what = pg and require("quire.store_sql_pg").sqlite_only(sql)
        if what then
          error(("quire.store.query: this query is written for SQLite and the site's store is PostgreSQL: %s."
            .. " Write it in SQL both stores read, or choose by quire.store.kind() (\"sqlite\" or \"postgresql\")%s")
            :format(what, said and " (PostgreSQL said: " .. said:gsub("^.-SQL error: ", "") .. ")" or ""), 3)
        end
      end
      if not db:readonly(sql) then
        sqlite_only()
        error("quire.store.query runs read-only SQL; write through quire.content", 2)
      end
      if not pg then return db:rows(sql, ...) end
      local ok, rows = pcall(db.rows, db, sql, ...)
      if ok then return rows end
      sqlite_only(tostring(rows))
      error(rows, 0)
    end,
    -- "sqlite" or "postgresql": for a script whose report SQL differs between the stores.
    kind = function() return db.kind and db:kind() or "sqlite" end,
    check = function() return db:check() end,
    schema_version = function() return db:schema_version() end,
  }
  -- quire.as(login, fn, ...): fn's writes are recorded as that staff user's. For scripts only:
  -- plugins do not get it, so plugin code cannot write in someone else's name.
  function quire.as(who, fn, ...)
    if type(fn) ~= "function" then error("quire.as(login, fn)", 2) end
    return site.acting(site.actor_of(who), fn, ...)
  end
  quire.json = require "quire.json"
  quire._db = db -- for the core's own commands; not part of the plugin API
  quire._site = site

  local plugin_api = {}
  for _, k in ipairs(PLUGIN_API) do plugin_api[k] = quire[k] end
  -- No raw SQL for plugins (ATTACH, PRAGMA and runaway queries would escape the sandbox).
  plugin_api.store = { transaction = quire.store.transaction }
  plugin_api.media = { picture = quire.media.picture, share = quire.media.share, -- read only: uploads go through the core
    body_html = function(md) return quire.media.body_html(md, quire.html) end }
  -- Fronts are read (and views counted) by plugins; editors change them through the core.
  plugin_api.front = { resolve = quire.front.resolve, most_read = quire.front.most_read, banner = quire.front.banner,
    page = quire.front.page, view = quire.front.view, rank = quire.front.rank }
  local i18n = quire.i18n -- translating only: the catalogues are the site's to configure
  plugin_api.i18n = { gettext = i18n.gettext, ngettext = i18n.ngettext, pgettext = i18n.pgettext, dir = i18n.dir, language = i18n.language }
  local registry = require("quire.plugins").new(site, quire)
  site.hooks = registry.hooks
  quire.filters = { apply = registry.hooks.apply_filter,
    has = function(name) return registry.hooks:has("filter", name) end }
  plugin_api.filters = quire.filters
  quire.plugin_api = require("quire.sandbox").readonly(plugin_api, "quire")
  quire.plugins = registry
  if opts.plugins ~= false then
    local ok, load_err = pcall(registry.load)
    if not ok then
      db:close()
      return nil, tostring(load_err)
    end
  end
  quire.app = require("quire.app").new(quire, site)
  if opts.plugins ~= false then
    -- Types are all defined now: a changed permalink pattern leaves redirects from the old URLs.
    local ok, err = pcall(require("quire.redirects").follow_permalinks, site, quire.content.get, require("quire.types").permalink)
    if not ok then
      db:close()
      return nil, "recording the content types' permalinks: " .. tostring(errors.is(err) and err.text or err)
    end
  end
  return quire
end

-- Creates a new site in dir: site.lua, a migrated quire.db and plugins/. Refuses to touch an
-- existing site. Returns true or nil and a message.
-- What `quire init` tells git to leave out: runtime files that change on every request or write.
-- quire.db itself is the site's content and stays in by default: ignoring it would leave a
-- repository that looks complete without its articles. A site whose repository is public, or
-- whose database is backed up elsewhere, uncomments the line (it holds commenters' emails and
-- password hashes). Commit it only from a stopped server or a `.backup` copy: a live file may
-- have recent writes still in quire.db-wal.
local GITIGNORE = [[
# Quire runtime files: worker cache statistics and SQLite's write-ahead log and shared memory
# (of quire.db, or of a .db, .sqlite or .sqlite3 database site.lua names instead).
.quire/
*.db-wal
*.db-shm
*.db-journal
*.sqlite-wal
*.sqlite-shm
*.sqlite-journal
*.sqlite3-wal
*.sqlite3-shm
*.sqlite3-journal
# The database is the site's content. Uncomment to keep it out of the repository (e.g. when it
# is public: the database holds commenters' emails and password hashes).
# quire.db
]]

-- database (optional): a PostgreSQL URL; the site's site.lua names it and its tables are made
-- there (migrated) instead of in DIR/quire.db. The database must hold no site yet.
function M.init(dir, name, database)
  if core.stat(dir .. "/site.lua") or core.stat(dir .. "/quire.db") then
    return nil, ("%s already holds a site (site.lua or quire.db exists); not overwriting it"):format(dir)
  end
  if database then
    local scheme = database:match("^(%a[%w+.-]*)://")
    if (scheme ~= "postgresql" and scheme ~= "postgres") or database:find("[%c%s]") then
      return nil, ("--database must be a URL such as postgresql://user@host:5432/dbname, without spaces (got %q)"):format(database)
    end
  end
  local kind = core.stat(dir)
  if kind and kind ~= "dir" then return nil, ("%s exists and is not a directory"):format(dir) end
  if database then
    local db, err = core.open_pg(database)
    if not db then return nil, err end
    local full, rows = require("quire.store_copy").holds_data(db)
    db:close()
    if full then
      return nil, ("the database %s already holds a site's data (%d rows in %s); give init a new, empty one"):format(database, rows, full)
    end
  end
  if not kind then
    local ok, err = core.mkdir(dir)
    if not ok then return nil, err end
  end
  if not database then
    local db, err = core.open_store(dir .. "/quire.db", { create = true })
    if not db then return nil, err end
    db:close()
  end
  if not core.stat(dir .. "/plugins") then
    local ok, mkerr = core.mkdir(dir .. "/plugins")
    if not ok then return nil, mkerr end
  end
  local f, ferr = io.open(dir .. "/site.lua", "w")
  if not f then return nil, ferr end
  f:write(config.template(name or dir:match("([^/]+)/*$") or "Quire Site"))
  if database then f:write(("\n-- The site's PostgreSQL database (quire init --database).\ndatabase = %q\n"):format(database)) end
  f:close()
  -- A folder that already has a .gitignore keeps its own.
  if not core.stat(dir .. "/.gitignore") then
    f, ferr = io.open(dir .. "/.gitignore", "w")
    if not f then return nil, ferr end
    f:write(GITIGNORE)
    f:close()
  end
  return true
end

return M
