-- The `quire` command line: parses arguments and dispatches to the commands below.
local core = require "quire.core"

local M = {}

local USAGE = [[
usage: quire <command> [options]

Commands:
  init DIR                      create a new site in DIR
  run [--site DIR] SCRIPT [ARGS...]
                                run a Lua script against the site with the full quire API
  serve [--site DIR] [--listen ADDR:PORT]... [--workers N] [--dev]
                                serve the site over HTTP (and HTTPS when site.lua sets tls)
  config check [--site DIR]     validate site.lua, TLS certificates and every plugin, like nginx -t
  cache stats [--site DIR] [--format table|json]
                                the running server's page cache: hit ratio, size, evictions,
                                per worker and in total
  check [--site DIR]            check the database: schema, integrity, search index
  test [--site DIR] [PATH...]   run busted specs inside quire (default: spec/ and plugins/*/spec/)
  entries list|get|create|update|delete|trash|untrash|empty-trash|publish|revisions|diff|restore|search-replace
                                editorial work on entries (quire entries --help); delete
                                moves to the trash
  store copy --to DB | --from DB  copy the site's data into another store, or from one, losslessly
                                (DB: postgresql://user@host:port/dbname or an SQLite file)
  export --format jsonl|markdown DIR
                                export the whole site's data losslessly, with a manifest
  export --format html DIR [--base-url URL] [--dry-run] [--watch]
                                the public site as static files, incremental (quire export --help)
  import DIR | import --from wordpress FILE.xml [--uploads DIR] [--dry-run]
                                import an export, or a WordPress WXR file (--dry-run: the report only)
  redirects list|add|delete|check
                                old URLs answered with 301/302/308; check finds loops, chains, 404s
  terms list|rename|merge       tags and sections
  media add|list|get|update|delete|prune|avif
                                the image library: import (resized, metadata stripped), edit, clean up
  front set|list|clear|breaking the edited front pages: lead and top stories per page, scheduled;
                                the breaking-news banner (quire front --help)
  audit [--subject S]           who deleted, moderated, renamed or merged what, and when
  user add|passwd|list          staff accounts (passwords stored as argon2id hashes)
  user totp|reset-link|role|disable|enable
                                staff sign-in: second factor, reset links, roles, disabling
  api-key add|list|revoke       keys of the Content and Admin APIs (quire api-key --help)
  comments list|approve|spam|hold|delete
                                moderation
  jobs run|list|retry NAME [--site DIR]
                                scheduled work: run what is due (for cron), list, unpark
  plugins list|order NAME [--site DIR]
                                list the site's plugins and what they register, or the
                                effective order of a filter or hook
  help plugins                  the reference for plugin authors (also docs/plugins.md;
                                the plugins command's help: quire plugins --help)

Options:
  -h, --help                    show help (also: quire <command> --help)
  --version                     print the version

The site folder defaults to $QUIRE_SITE, else the current directory.
]]

local HELP = {
  init = [[
usage: quire init DIR [--name NAME] [--demo] [--database URL]

Creates DIR/site.lua (settings, with the optional ones commented), DIR/quire.db (migrated),
DIR/plugins/ and DIR/.gitignore (runtime files). Refuses to overwrite an existing site.

  --database URL  put the site on PostgreSQL (postgresql://user@host:5432/dbname): site.lua
           names it and its tables are made there instead of quire.db; the database must
           exist and hold no site yet (with --demo, the demo content goes there too).

  --demo   make the demo news site instead: every bundled plugin of the news site enabled
           (theme, article, opinion, comments, share, prevnext, related, sponsor, feeds,
           search, listings, workflow) and demo content: a datelined news story and an
           opinion piece on a shared theme, over forty more entries across sections and tags,
           approved and held comments. Serve it with `quire serve --site DIR`.]],
  run = [[
usage: quire run [--site DIR] [--as LOGIN] [--dry-run] [--yes] [--resume] SCRIPT.lua [ARGS...]

Runs SCRIPT.lua with the global `quire` bound to the site and `arg` holding ARGS (arg[0] is
the script). Writes inside quire.store.transaction(fn) commit together or not at all;
quire.each(query, fn, {batch = 1000}) walks entries in id order and commits per batch. A script
error prints file:line: message and exits 1; its open transaction is rolled back.

  --as LOGIN  record the writes as this staff user's (default: cli:<operating-system user>);
              quire.as(login, fn) does the same for part of a script
  --dry-run   run everything inside one transaction, then roll it back; print what would change
  --yes       allow deletes. Without it the script first runs as a trial that is rolled back
              (its output silenced), stopping at its first delete: a script that deletes
              nothing then runs for real; one that deletes asks on a terminal, and is refused
              elsewhere, nothing written either way
  --resume    continue each quire.each loop after its last committed batch (after a crash)]],
  serve = [[
usage: quire serve [--site DIR] [--listen ADDR:PORT]... [--workers N] [--no-cache] [--dev]

Serves the site. A master process binds the listen addresses (site.lua `listen`, or each
--listen: 127.0.0.1:8080, [::1]:8080, *:80) and supervises N worker processes (site.lua
`workers`; 0 means one per CPU core); a crashed worker is restarted.
HTTPS listeners, certificates (chosen by SNI), the HTTP-to-HTTPS redirect and HSTS come from
site.lua `tls` (see the commented template in a new site.lua); --listen replaces only the
plain HTTP addresses. Absolute links (canonical, feeds, sitemap, share links) start with
site.lua `base_url`; without one, with the address served (the first HTTPS listener, else the
first plain one), never with a Host header a client sent.
Signals: SIGHUP reloads site.lua, plugins, templates and certificates with fresh workers (a
broken plugin or certificate is reported and the running workers keep serving); SIGUSR1
reopens the access log (site.lua `access_log`; for logrotate); SIGTERM or SIGINT drain and
stop (workers still busy after limits.drain_timeout_ms are killed). Listen addresses are bound
once: changing them needs a restart. A worker busy with one request longer than
limits.watchdog_timeout_ms is logged with that request, killed and replaced.
--dev reloads when a .lua or .mustache file changes anywhere in the site folder or the
plugins' folders (not for database or .quire/ writes), and the open browser tab reloads too
when one of those or a .css file changes (pages get a small script, in dev mode only). It
serves every page fresh (as --no-cache), so the reloaded tab names an edited stylesheet's new copy.
--no-cache serves every page fresh (no page cache).]],
  config = [[
usage: quire config check [--site DIR]

Validates the site without serving, like nginx -t: reads site.lua (settings and their types),
opens the database, loads every plugin (a failure names the file and line), compiles every
template, checks the listen addresses, loads the TLS certificates and keys (and that each key
belongs to its certificate; an expired certificate is a warning) and opens the access log.
Prints what it checked and exits 0, or prints each problem and exits 1. Run it before
`systemctl reload quire`.]],
  cache = [[
usage: quire cache stats [--site DIR] [--format table|json]

Shows the page cache of the `quire serve` running for the site, per worker and in total: the
hit ratio, hits and misses (pages rendered and kept because there was no fresh copy; static
files and pages that may not be kept count as neither), the pages kept and the bytes they use
against the cap (site.lua limits.page_cache_bytes, per worker), evictions (least recently used
pages dropped to stay under the cap), invalidations (pages dropped because a write made them
stale), expirations (pages dropped when their max-age ran out) and stale (previous copies given
while the page rendered again, within limits.stale_grace_ms of an edit). Each worker has its own cache and writes its
numbers to DIR/.quire/cache-PID every 2 seconds when they change, so they lag by that much.
Exits 1 when no server is running for the site.

  --format json   one JSON object: { site, workers = [...], total = {...} }]],
  store = [[
usage: quire store copy [--site DIR] --to DB
       quire store copy [--site DIR] --from DB

Copies every row of the site's database into DB (--to), or of DB into the site's database
(--from), ids and id counters included, in one transaction: nothing is written if any of it
fails. DB is postgresql://user@host:port/dbname (created empty by the operator; quire makes
its tables) or the path of an SQLite file (made when missing). The receiving store must hold
no site data yet and be at the same schema version. Its search index is built as the rows
arrive, and its own check runs at the end.

To move a site to PostgreSQL: stop writers, `quire store copy --to postgresql://...`, then
set database = "postgresql://..." in site.lua. Back: `quire init NEWDIR`, copy site.lua over,
and `quire store copy --site NEWDIR --from postgresql://...`.]],
  check = [[
usage: quire check [--site DIR]

Checks the schema version, PRAGMA integrity_check, foreign keys, the full-text index
against the entries, and (when the plugins load) that every entry's status is a state the
workflow knows. Prints each problem; exits 1 when there is any.]],
  jobs = [[
usage: quire jobs run [--site DIR]
       quire jobs list [--site DIR]
       quire jobs retry NAME [--site DIR]

run: publishes scheduled entries whose time has come and runs the plugins' jobs (site:every)
that are due, once each, then exits (for cron; `quire serve` runs them too). Leases in the jobs
table make sure a job runs once per interval even when several processes try. A failing job is
retried after 30 s, 1 min, 2 min ...; after 5 failures it is parked with its error.
list: every job with its next run, attempts, state and last error ("no jobs" when there are
none). Besides the plugins' jobs, trash.empty deletes for good, every hour, the entries trashed
more than site.lua trash_retention days ago (default 30; 0: never).
retry: puts a parked job back on schedule.]],
  plugins = [[
usage: quire plugins list [--site DIR]
       quire plugins order NAME [--site DIR]

list: the enabled plugins in load order, with their versions and what each registered.
order NAME: the order in which the handlers of the filter or hook NAME run, with the plugin,
priority and before/after rules of each.]],
  test = [[
usage: quire test [--site DIR] [PATH...] [-- BUSTED OPTIONS...]

Runs busted specs (files named *_spec.lua) inside quire's own Lua state. The global `quire`
is a throwaway site (or --site DIR); require("quire.testing").site() makes a fresh one.
Default PATHs: spec/ and plugins/*/spec/ under the current directory.]],
}

local function fail(code, fmt, ...)
  io.stderr:write("quire: ", fmt:format(...), "\n")
  return code
end

-- Splits argv into options (per the command's allowed set) and positional arguments.
-- Option parsing stops at the first positional for `run` (the script owns the rest).
local function parse(cmd, argv, first, allowed, stop_at_positional)
  local opts, pos = {}, {}
  local i = first
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, #argv do pos[#pos + 1] = argv[j] end
      opts["--"] = true
      break
    elseif a == "-h" or a == "--help" then
      opts.help = true
    elseif a:sub(1, 1) == "-" and #a > 1 and not (stop_at_positional and #pos > 0) then
      local name, value = a:match("^%-%-([%w-]+)=(.*)$")
      name = name or a:match("^%-%-([%w-]+)$")
      if not name or allowed[name] == nil then
        return nil, ("unknown option '%s' for 'quire %s' (see quire %s --help)"):format(a, cmd, cmd)
      end
      if allowed[name] == "value" or allowed[name] == "list" then
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, ("option --%s needs a value"):format(name) end
        end
        if allowed[name] == "list" then
          opts[name] = opts[name] or {}
          table.insert(opts[name], value)
        else
          opts[name] = value
        end
      else
        if value then return nil, ("option --%s takes no value"):format(name) end
        opts[name] = true
      end
    else
      pos[#pos + 1] = a
      if stop_at_positional then
        for j = i + 1, #argv do pos[#pos + 1] = argv[j] end
        break
      end
    end
    i = i + 1
  end
  return opts, pos
end

local function site_dir(opts)
  local dir = opts.site or os.getenv("QUIRE_SITE") or "."
  return (dir:gsub("/+$", "")) ~= "" and dir:gsub("/+$", "") or "/"
end

-- Writes from the command line are by the staff user named with --as, else by the operating
-- system's user ("cli:alice"; under sudo, the user who ran sudo).
local function cli_actor(quire, as)
  if as then return quire._site.actor_of(as) end
  return { name = "cli:" .. (os.getenv("SUDO_USER") or core.username()) }
end

local function open_site(opts, open_opts)
  local quire, err = require("quire").open(site_dir(opts), open_opts)
  if not quire then return nil, err end
  if open_opts and open_opts.cli then
    local ok, actor = pcall(cli_actor, quire, opts.as)
    if not ok then
      quire._db:close()
      return nil, tostring(actor)
    end
    quire._site.actor = actor
  end
  return quire
end

local commands = {}

function commands.init(argv)
  local opts, pos = parse("init", argv, 2, { name = "value", demo = "flag", database = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.init) return 0 end
  if #pos ~= 1 then return fail(2, "init takes one folder (see quire init --help)") end
  local dir = pos[1]
  local ok, err = require("quire").init(dir, opts.name or (opts.demo and "The Mereland Courier" or nil), opts.database)
  if not ok then return fail(1, "%s", err) end
  if not opts.demo then
    print(("Created site in %s: edit %s/site.lua, then add content with `quire run --site %s SCRIPT.lua`."):format(dir, dir, dir))
    return 0
  end
  -- The demo: its settings after the template's (a later assignment wins), then its content.
  local demo = require "quire.demo"
  local f, ferr = io.open(dir .. "/site.lua", "a")
  if not f then return fail(1, "%s", ferr) end
  f:write(demo.site_lua())
  f:close()
  -- public/: files served as they are (robots.txt, a verification file ...), empty to begin with.
  if not core.stat(dir .. "/public") then
    local made, merr = core.mkdir(dir .. "/public")
    if not made then return fail(1, "%s", merr) end
  end
  local quire, open_err = open_site({ site = dir }, { memory_cap = false, cli = true })
  if not quire then return fail(1, "%s", open_err) end
  local seeded, summary = pcall(demo.seed, quire)
  quire._db:close()
  if not seeded then return fail(1, "seeding the demo failed: %s", tostring(summary)) end
  print(("Created the demo site in %s: %s."):format(dir, summary))
  print(("Serve it with: quire serve --site %s --listen 127.0.0.1:8080"):format(dir))
  return 0
end

-- An error raised inside the core (a full disk at commit, a database error) names the script's
-- line that called into the core, not the core's own file.
local function script_position(e)
  local first, script
  for level = 3, 80 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.what ~= "C" then
      local core_frame = info.source:match("^@lua/quire/") ~= nil
      if first == nil then first = core_frame end
      if not core_frame and info.currentline > 0 then script = info.short_src .. ":" .. info.currentline .. ": " break end
    end
  end
  if not first or not script then return e end
  local rest = e:match("^lua/quire/[%w_]+%.lua:%d+: (.*)$")
  if rest then return script .. rest end
  if e:match("^[^\n:]+:%d+: ") then return e end -- it names a position already
  return script .. e
end

function commands.run(argv)
  local opts, pos = parse("run", argv, 2, { site = "value", as = "value", ["dry-run"] = "flag", yes = "flag", resume = "flag" }, true)
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.run) return 0 end
  local script = pos[1]
  if not script then return fail(2, "run needs a script (see quire run --help)") end
  local quire, err = open_site(opts, { memory_cap = false, cli = true })
  if not quire then return fail(1, "%s", err) end
  local chunk, load_err = loadfile(script, "t")
  if not chunk then return fail(1, "%s", load_err) end
  local bulk = require "quire.bulk"
  local site, db = quire._site, quire._db
  local dry = opts["dry-run"]
  -- Without --yes a delete needs confirming, and nothing may be written before it is: the script
  -- first runs as a trial, in one transaction that is always rolled back, with its output and
  -- progress silenced, stopping at its first delete. A run that never deletes then runs for real
  -- (quire.each committing per batch, as with --yes); one that deletes asks on a terminal first
  -- and is refused elsewhere, nothing written either way.
  local confirmed = opts.yes or dry
  local needs_confirmation = false
  local NEEDS = setmetatable({}, { __tostring = function() return "this run deletes entries and needs confirming" end })
  local writes = require("quire.content.writes").of(site)
  writes.guard_deletes(function()
    if confirmed then return end
    needs_confirmation = true
    error(NEEDS, 0)
  end)
  _G.quire = quire
  local args = { [0] = script }
  for i = 2, #pos do args[i - 1] = pos[i] end
  local function handler(e)
    if e == NEEDS then return e end
    if type(e) ~= "string" and not (getmetatable(e) and getmetatable(e).__tostring) then
      e = ("(error object is a %s value)"):format(type(e))
    end
    if type(e) == "string" then e = script_position(e) end
    return { message = tostring(e), traceback = debug.traceback("", 2) }
  end
  -- One run of the script (the same chunk again: a script read from standard input cannot be
  -- read twice), with fresh each() checkpoints and counts.
  local function attempt(quiet)
    writes.reset_stats()
    quire.each = bulk.each_for(quire, site, { script = core.realpath(script) or script, resume = opts.resume, quiet = quiet })
    _G.arg = args
    return xpcall(chunk, handler, table.unpack(args))
  end
  local ok, run_err
  if dry or confirmed then
    if dry then db:begin() end
    ok, run_err = attempt(false)
  else
    -- The trial holds the write lock while it runs: another writer may hold it longer than the
    -- busy timeout. Say so, not where in the core it happened.
    local began, begin_err = pcall(db.begin, db)
    if not began then
      return fail(1, "cannot start the trial run of %s (it checks for deletes before writing): %s;"
        .. " another process is writing: run it again later, or with --yes to skip the trial", script,
        (tostring(begin_err):gsub("^lua/quire/[%w_]+%.lua:%d+: ", ""):gsub("\nstack traceback:.*$", "")))
    end
    -- The trial's output goes nowhere: print, io.write and io.stdout (as the script finds them).
    local devnull = assert(io.open("/dev/null", "w"))
    local real_print, real_stdout, real_output = print, io.stdout, io.output()
    _G.print, io.stdout = function() end, devnull
    io.output(devnull)
    ok, run_err = attempt(true)
    while db:depth() > 0 do db:rollback() end
    _G.print, io.stdout = real_print, real_stdout
    io.output(real_output)
    devnull:close()
    if not ok and not needs_confirmation then
      run_err.message = run_err.message .. "\n(in the trial run that comes before writing: nothing was written;"
        .. " --dry-run shows the script's output, --yes runs it without a trial)"
    end
    if needs_confirmation then -- (even if the script caught the error)
      if not core.isatty(0) then
        ok, run_err = false, { message = "this run deletes entries: nothing was written; run it again with --yes to confirm"
          .. " (or --dry-run to see what it would do)", traceback = "" }
      else
        io.stderr:write("This script deletes entries; nothing has been written yet. Run it? [y/N] ")
        local answer = io.stdin:read("l")
        if answer and answer:match("^[yY]") then
          confirmed = true
          ok, run_err = attempt(false)
        else
          ok, run_err = false, { message = "deletion not confirmed; nothing was written", traceback = "" }
        end
      end
    elseif ok then
      ok, run_err = attempt(false)
    end
  end
  io.stdout:flush()
  local stats = writes.stats
  local wrote = stats.changed + stats.created + stats.deleted + stats.trashed > 0
  if dry then
    while db:depth() > 0 do db:rollback() end
    io.stderr:write("dry run, nothing was written: ", bulk.summary(stats), "\n")
  elseif ok and wrote then
    io.stderr:write(bulk.totals(stats), "\n")
  end
  db:close() -- rolls back a transaction the script left open
  if not ok then
    io.stderr:write(run_err.message, "\n")
    if os.getenv("QUIRE_TRACEBACK") then io.stderr:write(run_err.traceback, "\n") end
    return 1
  end
  return 0
end

-- DIR/.quire: the server's runtime files (each worker's cache statistics).
local function runtime_dir(dir)
  local run = dir .. "/.quire"
  if core.stat(run) ~= "dir" then
    local ok, err = core.mkdir(run)
    if not ok and core.stat(run) ~= "dir" then return nil, err end
  end
  return run
end

function commands.serve(argv)
  local opts, pos = parse("serve", argv, 2, { site = "value", listen = "list", workers = "value", ["no-cache"] = "flag", dev = "flag" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.serve) return 0 end
  if #pos > 0 then return fail(2, "serve takes no arguments (see quire serve --help)") end
  local dir = site_dir(opts)
  -- Load the site once here so a broken config or plugin stops start-up with its message.
  local quire, err = open_site(opts)
  if not quire then return fail(1, "%s", err) end
  local cfg = quire.site.config
  local listen = opts.listen or cfg.listen
  local listen_tls = cfg.tls and cfg.tls.listen or {}
  if #listen == 0 and #listen_tls == 0 then return fail(2, "nothing to listen on: set listen or tls.listen in site.lua, or pass --listen") end
  if cfg.tls then
    local ok, tls_err = core.tls_check(cfg.tls.certificates)
    if not ok then return fail(1, "%s", tls_err) end
  end
  local workers = tonumber(opts.workers or cfg.workers)
  if not workers or workers < 0 or workers ~= math.floor(workers) then return fail(2, "--workers takes a whole number") end
  if workers == 0 then workers = core.cpus() end
  local worker_argv = { "--site", dir }
  -- --dev serves every page fresh too: an edited stylesheet gets a new name (quire.assets), which
  -- no cache tag of the pages naming the old one says.
  if opts["no-cache"] or opts.dev then worker_argv[#worker_argv + 1] = "--no-cache" end
  if opts.dev then worker_argv[#worker_argv + 1] = "--dev" end
  local watch = {}
  if opts.dev then
    watch[#watch + 1] = dir
    for _, p in ipairs(quire.plugins.plugins) do watch[#watch + 1] = p.dir end
  end
  -- Old copies of the plugins' static files that nothing has named for static_retention go now,
  -- as at each of the workers' passes (quire.assets): a restart costs no request anything.
  local removed = quire._assets.pass()
  if removed > 0 then quire._assets.log(removed) end
  quire._db:close()
  -- Made here, before the --dev watchers start, so making it does not look like an edit.
  local _, run_err = runtime_dir(dir)
  if run_err then return fail(1, "%s", run_err) end
  return core.serve_master { exe = core.exepath(), listen = listen, listen_tls = listen_tls, workers = workers,
    worker_argv = worker_argv, watch = watch,
    watchdog_timeout_ms = cfg.limits.watchdog_timeout_ms, drain_timeout_ms = cfg.limits.drain_timeout_ms }
end

-- The address a worker serves on, as a URL ("http://127.0.0.1:9000"), from its first listening
-- socket (HTTPS first): the base of absolute links when site.lua sets no base_url. A wildcard
-- address is named localhost. Never taken from a Host header, which any client can forge.
local function served_url(fds, tls_fds)
  local fd, scheme = tls_fds[1], "https"
  if not fd then fd, scheme = fds[1], "http" end
  local host, port = core.sockname(fd or -1)
  if not host then return nil end
  if host == "0.0.0.0" or host == "::" then host = "localhost"
  elseif host:find(":", 1, true) then host = "[" .. host .. "]" end
  local default_port = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
  return scheme .. "://" .. host .. (default_port and "" or (":" .. port))
end

-- The worker side of serve (started by the master, not by people).
function commands.__worker(argv)
  local opts, pos = parse("__worker", argv, 2, { site = "value", fds = "value", ["tls-fds"] = "value", ["ready-fd"] = "value", ["no-cache"] = "flag", dev = "flag" })
  if not opts or #pos > 0 then return fail(2, "bad worker arguments") end
  local ready_fd = tonumber(opts["ready-fd"])
  local fds, tls_fds = {}, {}
  for fd in (opts.fds or ""):gmatch("%d+") do fds[#fds + 1] = tonumber(fd) end
  for fd in (opts["tls-fds"] or ""):gmatch("%d+") do tls_fds[#tls_fds + 1] = tonumber(fd) end
  local quire, err = open_site(opts, { served_url = served_url(fds, tls_fds), dev = opts.dev == true })
  if not quire then
    core.fd_write(ready_fd, "fail " .. tostring(err):gsub("\n", " ") .. "\n")
    return 1
  end
  local cfg = quire.site.config
  if #tls_fds > 0 and not cfg.tls then
    core.fd_write(ready_fd, "fail site.lua has no tls settings any more; the HTTPS listeners need a restart, not a reload\n")
    return 1
  end
  local static = {}
  for _, s in ipairs(quire.plugins.static_dirs) do static[#static + 1] = { "/static/" .. s.plugin .. "/", s.dir } end
  static[#static + 1] = { "/static/admin/", require("quire.admin").dir() .. "/static" } -- the web admin's
  -- The plugins' static files under fingerprinted names (quire.assets), served as immutable.
  local assets_dir = require("quire.assets").prepare(cfg)
  if assets_dir then static[#static + 1] = { "/static/", assets_dir } end
  -- Media files (quire.media) are served from the site's media folder, made now so that images
  -- added while the server runs are served without a reload.
  local media_dir = require("quire.media").dir(cfg)
  if core.stat(media_dir) == "dir" or core.mkdir(media_dir) then static[#static + 1] = { require("quire.media").PREFIX, media_dir } end
  local public = site_dir(opts) .. "/public"
  if core.stat(public) == "dir" then static[#static + 1] = { "/", public } end
  local app = quire.app
  local jobs = require "quire.jobs"
  local owner, lease_s = jobs.owner("worker"), jobs.lease_seconds(cfg.limits)
  local all_jobs = jobs.all(quire)
  jobs.sync(quire._db, all_jobs)
  local run = runtime_dir(site_dir(opts))
  local purge = #cfg.purgers > 0 and require("quire.edge").sender(quire._db, cfg.purgers,
    ("%d-%s"):format(core.getpid(), (core.random_bytes(6):gsub(".", function(c) return ("%02x"):format(c:byte()) end))), function(msg) io.stderr:write("quire: ", msg, "\n") end)
  local next_jobs = 0
  -- --dev: pages carry a script that reloads the tab when a watched file changes (quire.devreload).
  local dev, watch = cfg.dev and require("quire.devreload"), { site_dir(opts) }
  for _, p in ipairs(quire.plugins.plugins) do watch[#watch + 1] = p.dir end
  return core.serve_worker {
    fds = fds, tls_fds = tls_fds, tls = cfg.tls, ready_fd = ready_fd, limits = cfg.limits, static = static,
    access_log = cfg.access_log_path,
    store = quire._db, cache_bytes = opts["no-cache"] and 0 or cfg.limits.page_cache_bytes, edge_tags = cfg.edge_tags, log_health_checks = cfg.log_health_checks,
    read_replicas = cfg.read_replicas, -- anonymous page renders may read these (core/replica.h)
    trusted_proxies = cfg.trusted_proxies,
    cache_stats = run and ("%s/cache-%d"):format(run, core.getpid()),
    upload = require("quire.media").upload_spool(cfg), -- uploads stream to disk (quire.media)
    handler = function(req)
      if dev and req.target:match("^[^?]*") == dev.PATH then
        local status, headers, body = dev.events(req.headers, watch)
        return status, headers, body, "", true
      end
      -- An answer that waits for a password hash comes back as a job table: the worker runs the
      -- hash on its thread pool and calls job.resume(result, err) for the answer.
      local function answer(r)
        if r.wait then
          local w = r.wait
          return { kind = w.kind, hash = w.hash, password = w.password,
            resume = function(value, err) return answer(w.resume(value, err)) end }
        end
        if dev then r.body = dev.inject(r.headers, r.body) end
        return r.status, r.headers, r.body, r.tags, r.private, r.max_age
      end
      return answer(app.request(req.method, req.target, { id = req.id, headers = req.headers, body = req.body,
        remote = req.remote, secure = req.secure, data_version = req.data_version, wait = true, spool_fd = req.spool_fd }))
    end,
    -- Scheduled work in every worker: leases in the jobs table let one of them run each job,
    -- and publishing checks the status in its transaction, so nothing runs twice.
    tick = function()
      -- The copies this worker names keep their lease; old ones go (once in a while: quire.assets).
      -- Before the store's check: the folder is this node's own.
      quire._assets.tick()
      -- PostgreSQL away: the scheduled work waits for it (the connection is made again
      -- meanwhile, without waiting) rather than hold the worker and its readers.
      local up = not quire._db.ready or quire._db:ready()
      if purge then
        purge(up)
        local t = core.clock() -- the jobs keep their 2 s pace under the purger's faster tick
        if t < next_jobs then return end
        next_jobs = t + 2
      end
      if not up then return end
      jobs.publish_scheduled(quire)
      quire.media.avif_step() -- AVIF copies of new images, one at a time for the site (quire.media)
      local _, failures = jobs.run_due(quire._db, all_jobs, owner, lease_s)
      for _, f in ipairs(failures) do
        io.stderr:write(("quire: job %s failed%s: %s\n"):format(f.name, f.parked and " and is parked" or "", f.error))
      end
    end,
    tick_ms = purge and 100 or nil, -- an edit reaches the edge within a tick
    -- PostgreSQL: a commit heard on the LISTEN socket (data_version as a request gets it): the
    -- memo drops what it moved there and then, not in the next request.
    heard = function(data_version)
      quire._site.memo.sync(data_version)
      quire._site.memo.unsync()
    end,
  }
end

-- quire config check: everything `serve` would load, without serving.
function commands.config(argv)
  local opts, pos = parse("config", argv, 2, { site = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.config) return 0 end
  if pos[1] ~= "check" or #pos ~= 1 then return fail(2, "usage: quire config check [--site DIR] (see quire config --help)") end
  local dir = site_dir(opts)
  local quire, err = open_site(opts)
  if not quire then
    io.stderr:write(("quire: %s\nquire: configuration check of %s failed\n"):format(tostring(err), dir))
    return 1
  end
  local cfg = quire.site.config
  local problems, notes = {}, {}
  local function problem(fmt, ...) problems[#problems + 1] = fmt:format(...) end
  local function note(fmt, ...) notes[#notes + 1] = fmt:format(...) end
  local names = {}
  for _, p in ipairs(quire.plugins.plugins) do names[#names + 1] = p.name .. " " .. p.version end
  note("site.lua: ok (%s)", cfg.name)
  note("plugins: %d loaded%s", #names, #names > 0 and (" (" .. table.concat(names, ", ") .. ")") or "")
  -- Templates: compile every .mustache file in the template folders (site theme, then plugins),
  -- each once (a folder may be listed twice), and check that every partial and parent they name
  -- ({{> name}}, {{< name}}) and every content type's layout is there.
  local ntpl, names, sources = 0, {}, {}
  local compile = quire.template and quire.template.compile
  local walked = {}
  local function walk(d, prefix)
    for _, name in ipairs(core.listdir(d) or {}) do
      local path = d .. "/" .. name
      local kind = core.stat(path)
      if kind == "dir" then
        walk(path, prefix .. name .. "/")
      elseif name:match("%.mustache$") and compile then
        names[prefix .. name:gsub("%.mustache$", "")] = true
        local f, ferr = io.open(path, "r")
        local src = f and f:read("a")
        if f then f:close() end
        if not src then
          problem("template %s: cannot read it: %s", path, tostring(ferr))
        else
          local ok, cerr = pcall(compile, src, path)
          cerr = tostring(cerr)
          if not ok then problem("%s", cerr:find(path, 1, true) == 1 and cerr or ("template " .. path .. ": " .. cerr)) end
          if ok then sources[#sources + 1] = { path = path, src = src } end
        end
        ntpl = ntpl + 1
      end
    end
  end
  local dirs = {}
  for _, d in ipairs(quire._site.template_dirs or {}) do
    local real = core.realpath(d) or d
    if core.stat(d) == "dir" and not walked[real] then
      walked[real] = true
      dirs[#dirs + 1] = d
      walk(d, "")
    end
  end
  local looked = "looked in: " .. (#dirs > 0 and table.concat(dirs, ", ") or "no template folders")
  for _, t in ipairs(sources) do
    -- Partial and parent tags with the default delimiters (dynamic names are resolved at render).
    local line = 1
    for before, name in t.src:gmatch("()%{%{[><]%s*([%w_%-%./]+)%s*%}%}") do
      if not names[name] then
        local _, nl = t.src:sub(1, before):gsub("\n", "")
        problem("template %s:%d: partial '%s' not found (%s)", t.path, nl + line, name, looked)
      end
    end
  end
  local registered = {}
  for _, p in ipairs(quire.plugins.plugins) do
    for _, tname in ipairs(p.registered and p.registered.content_types or {}) do registered[tname] = p.name end
  end
  for _, tname in ipairs(quire.content.types()) do
    local t = quire._site.types:get(tname)
    if t and t.layout and not names[t.layout] then
      if registered[tname] then
        problem("content type '%s' (plugin %s): layout template '%s' not found (%s)", tname, registered[tname], t.layout, looked)
      else
        notes[#notes + 1] = ("warning: the built-in type '%s' has no layout template '%s' (%s): its pages cannot be shown until a theme provides one"):format(tname, t.layout, looked)
      end
    end
  end
  note("templates: %d compiled", ntpl)
  local addrs = {}
  for _, a in ipairs(cfg.listen) do addrs[#addrs + 1] = "http://" .. a end
  for _, a in ipairs(cfg.tls and cfg.tls.listen or {}) do addrs[#addrs + 1] = "https://" .. a end
  for _, a in ipairs(addrs) do
    local ok, lerr = core.listen_check(a:match("//(.*)$"))
    if not ok then problem("%s", lerr) end
  end
  if #addrs == 0 then problem("nothing to listen on: set listen or tls.listen") end
  note("listen: %s", #addrs > 0 and table.concat(addrs, ", ") or "none")
  if cfg.tls then
    local info, terr = core.tls_check(cfg.tls.certificates)
    if not info then
      problem("tls: %s", terr)
    else
      for i, c in ipairs(info) do
        local path = cfg.tls.certificates[i].cert
        note("certificate %s: for %s%s; valid until %s", path, c.hosts ~= "" and c.hosts or "(no names)",
          i == 1 and " (the default)" or "", c.not_after)
        if c.expired then notes[#notes + 1] = ("warning: certificate %s expired on %s"):format(path, c.not_after) end
      end
    end
    if cfg.tls.redirect_http and #cfg.listen == 0 then notes[#notes + 1] = "warning: tls.redirect_http is set but there is no plain HTTP listener" end
  end
  local alog = cfg.access_log_path
  if alog ~= "-" and alog ~= "stdout" and alog ~= "stderr" and alog ~= "off" then
    local f, ferr = io.open(alog, "a")
    if not f then problem("access_log: cannot open %s for appending: %s", alog, tostring(ferr)) else f:close() end
  end
  note("access log: %s", alog == "-" and "stdout" or alog)
  quire._db:close()
  for _, n in ipairs(notes) do print(n) end
  if #problems > 0 then
    for _, p in ipairs(problems) do io.stderr:write("quire: ", p, "\n") end
    io.stderr:write(("quire: configuration check of %s failed (%d problem%s)\n"):format(dir, #problems, #problems == 1 and "" or "s"))
    return 1
  end
  print(("quire: configuration of %s is ok"):format(dir))
  return 0
end

-- A worker's statistics file: "name value" lines -> table of numbers.
local function read_stats(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = {}
  for name, value in f:read("a"):gmatch("(%S+) (%d+)") do s[name] = tonumber(value) end
  f:close()
  return s.pid and s
end

-- A pid that is a quire worker now (not a pid the system gave to something else since).
local function live_worker(pid)
  local f = io.open(("/proc/%d/cmdline"):format(pid), "r")
  if not f then return false end
  local cmdline = f:read("a") or ""
  f:close()
  return cmdline:find("__worker", 1, true) ~= nil
end

local STATS_FIELDS = { "hits", "misses", "entries", "bytes", "max_bytes", "evictions", "invalidations", "expirations", "stale" }

local function human_bytes(n)
  local units, i = { "B", "KiB", "MiB", "GiB" }, 1
  while n >= 1024 and i < #units do n, i = n / 1024, i + 1 end
  return i == 1 and ("%d B"):format(n) or ("%.1f %s"):format(n, units[i])
end

function commands.cache(argv)
  local opts, pos = parse("cache", argv, 2, { site = "value", format = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.cache) return 0 end
  if pos[1] ~= "stats" or #pos ~= 1 then return fail(2, "usage: quire cache stats [--site DIR] [--format table|json] (see quire cache --help)") end
  local format = opts.format or "table"
  if format ~= "table" and format ~= "json" then return fail(2, "--format takes table or json") end
  local dir = site_dir(opts)
  if not core.stat(dir .. "/site.lua") then return fail(1, "no site in %s (no site.lua)", dir) end
  local run = dir .. "/.quire"
  local workers = {}
  for _, name in ipairs(core.listdir(run) or {}) do
    local pid = tonumber(name:match("^cache%-(%d+)$") or name:match("^cache%-(%d+)%.tmp$"))
    if pid then
      if not live_worker(pid) then
        os.remove(run .. "/" .. name) -- left by a worker that crashed
      elseif not name:match("%.tmp$") then
        workers[#workers + 1] = read_stats(run .. "/" .. name)
      end
    end
  end
  if #workers == 0 then
    return fail(1, "no `quire serve` is running for %s (no live worker statistics in %s)", dir, run)
  end
  table.sort(workers, function(a, b) return a.pid < b.pid end)
  local total = {}
  for _, k in ipairs(STATS_FIELDS) do
    total[k] = 0
    for _, w in ipairs(workers) do total[k] = total[k] + (w[k] or 0) end
  end
  local function ratio(s)
    local lookups = s.hits + s.misses
    return lookups > 0 and s.hits / lookups or nil
  end
  if format == "json" then
    local cjson = require "cjson"
    local function row(s)
      local r = { hit_ratio = ratio(s) or cjson.null }
      for _, k in ipairs(STATS_FIELDS) do r[k] = s[k] end
      r.pid = s.pid
      return r
    end
    local rows = {}
    for i, w in ipairs(workers) do rows[i] = row(w) end
    print(cjson.encode { site = dir, workers = rows, total = row(total) })
    return 0
  end
  if total.max_bytes == 0 then
    print(("The page cache of %s is off (quire serve --no-cache or --dev); %d worker(s) running."):format(dir, #workers))
    return 0
  end
  print(("Page cache of %s: %d worker(s), numbers from the last 2 seconds"):format(dir, #workers))
  local header = ("%-8s %9s %10s %10s %8s %22s %10s %13s %11s %8s"):format("worker", "hit ratio", "hits", "misses",
    "entries", "bytes used / cap", "evictions", "invalidations", "expirations", "stale")
  print(header)
  local function line(label, s)
    local r = ratio(s)
    print(("%-8s %9s %10d %10d %8d %22s %10d %13d %11d %8d"):format(label, r and ("%.1f%%"):format(r * 100) or "-",
      s.hits, s.misses, s.entries, human_bytes(s.bytes) .. " / " .. human_bytes(s.max_bytes), s.evictions,
      s.invalidations, s.expirations, s.stale or 0))
  end
  for _, w in ipairs(workers) do line(tostring(w.pid), w) end
  if #workers > 1 then line("total", total) end
  return 0
end

-- Opens DB (a postgresql:// URL or an SQLite path) as the other side of a copy.
local function open_db(spec, create)
  if spec:match("^postgres") and spec:match("^%a[%w+.-]*://") then return core.open_pg(spec) end
  return core.open_store(spec, { create = create })
end

function commands.store(argv)
  local opts, pos = parse("store", argv, 2, { site = "value", to = "value", from = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.store) return 0 end
  if pos[1] ~= "copy" or #pos ~= 1 then return fail(2, "store needs 'copy --to DB' or 'copy --from DB' (see quire store --help)") end
  if (opts.to == nil) == (opts.from == nil) then return fail(2, "store copy takes one of --to DB or --from DB") end
  local cfg, cerr = require("quire.config").load(site_dir(opts))
  if not cfg then return fail(1, "%s", cerr) end
  local site_db, err = open_db(cfg.database_url or cfg.database_path, false)
  if not site_db then return fail(1, "%s", err) end
  local other, oerr = open_db(opts.to or opts.from, opts.to ~= nil)
  if not other then
    site_db:close()
    return fail(1, "%s: %s", opts.to or opts.from, oerr)
  end
  local src, dst = site_db, other
  if opts.from then src, dst = other, site_db end
  local report, rerr = require("quire.store_copy").copy(src, dst)
  site_db:close()
  other:close()
  if not report then return fail(1, "%s", rerr) end
  local total = 0
  for _, r in ipairs(report) do total = total + r.rows end
  print(("copied %d rows in %d tables"):format(total, #report))
  for _, r in ipairs(report) do
    if r.rows > 0 then print(("  %-18s %d"):format(r.table, r.rows)) end
  end
  return 0
end

function commands.check(argv)
  local opts, pos = parse("check", argv, 2, { site = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.check) return 0 end
  if #pos > 0 then return fail(2, "check takes no arguments (see quire check --help)") end
  -- check must work even when a plugin is broken: it looks at the data only.
  local quire, err = open_site(opts, { plugins = false })
  if not quire then return fail(1, "%s", err) end
  local applied = quire.store.schema_version()
  local problems, notes = {}, {}
  for _, p in ipairs(quire.store.check()) do
    if p.what == "note" then notes[#notes + 1] = p.detail else problems[#problems + 1] = p end
  end
  local entries = quire.store.query("SELECT count(*) AS n FROM entries")[1].n
  -- The trash: every trashed entry has its row (the status to give back), and only they do.
  local mismatched = quire.store.query("SELECT count(*) AS n FROM entries e LEFT JOIN trash t ON t.entry_id = e.id"
    .. " WHERE (e.status = 'trash') <> (t.entry_id IS NOT NULL)")[1].n
  if mismatched > 0 then
    problems[#problems + 1] = { what = "trash", detail = ("%d entries are in state 'trash' without a trash row, or the other way round"):format(mismatched) }
  end
  quire._db:close()
  -- Statuses only the plugins know: an entry left in a state whose plugin is gone can no longer
  -- be saved without changing it. Checked when the plugins load; said so when they do not.
  local states_note = ", workflow states ok"
  local full, perr = open_site(opts)
  if not full then
    states_note = ", workflow states not checked (the plugins did not load: " .. tostring(perr) .. ")"
  else
    local known = { trash = true } -- the core's own: deleted entries (see quire entries trash)
    for _, st in ipairs(full.workflow.states()) do known[st] = true end
    for _, r in ipairs(full.store.query("SELECT status, count(*) AS n FROM entries GROUP BY status ORDER BY status")) do
      if not known[r.status] then
        problems[#problems + 1] = { what = "workflow", detail = ("%d entries are in state '%s', which no loaded plugin defines"):format(r.n, r.status) }
      end
    end
    full._db:close()
  end
  for _, p in ipairs(problems) do print(("problem: %s: %s"):format(p.what, p.detail)) end
  for _, n in ipairs(notes) do print("note: " .. n) end
  print(("schema version %d, %d entries, %s"):format(applied, entries,
    #problems == 0 and "integrity ok, search index ok" .. states_note or (#problems .. " problem(s)")))
  return #problems == 0 and 0 or 1
end

function commands.test(argv)
  local opts, pos = parse("test", argv, 2, { site = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.test) return 0 end
  return require("quire.testing").run_busted(opts, pos)
end

function commands.plugins(argv)
  local opts, pos = parse("plugins", argv, 2, { site = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.plugins) return 0 end
  local sub = pos[1]
  if sub ~= "list" and sub ~= "order" then return fail(2, "plugins needs 'list' or 'order NAME' (see quire plugins --help)") end
  if sub == "order" and #pos ~= 2 then return fail(2, "plugins order takes the name of a filter or hook") end
  local quire, err = open_site(opts)
  if not quire then return fail(1, "%s", err) end
  local registry = quire.plugins
  if sub == "list" then
    for i, p in ipairs(registry.plugins) do
      print(("%d. %s %s  (%s)"):format(i, p.name, p.version, p.dir))
      for _, kind in ipairs({ "content_types", "filters", "hooks", "routes", "commands", "jobs" }) do
        local items = p.registered[kind]
        if #items > 0 then print(("     %s: %s"):format(kind:gsub("_", " "), table.concat(items, ", "))) end
      end
    end
    if #registry.plugins == 0 then print("no plugins enabled (see plugins = { ... } in site.lua)") end
    return 0
  end
  local name, found = pos[2], false
  for _, kind in ipairs({ "filter", "hook" }) do
    if registry.hooks:has(kind, name) then
      found = true
      print(("%s %s:"):format(kind, name))
      for i, h in ipairs(registry.hooks:order(kind, name)) do
        local rules = {}
        for n in pairs(h.before) do rules[#rules + 1] = "before " .. n end
        for n in pairs(h.after) do rules[#rules + 1] = "after " .. n end
        table.sort(rules)
        print(("  %d. %s (priority %s%s)"):format(i, h.plugin, tostring(h.priority), #rules > 0 and (", " .. table.concat(rules, ", ")) or ""))
      end
    end
  end
  if not found then print(("no plugin registers a filter or hook named '%s'"):format(name)) end
  return 0
end

function commands.jobs(argv)
  local opts, pos = parse("jobs", argv, 2, { site = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.jobs) return 0 end
  local sub = pos[1]
  if sub ~= "run" and sub ~= "list" and sub ~= "retry" then return fail(2, "jobs needs run, list or retry NAME (see quire jobs --help)") end
  if (sub == "retry") ~= (#pos == 2) or #pos > 2 then return fail(2, "usage: quire jobs %s", sub == "retry" and "retry NAME" or sub) end
  local quire, err = open_site(opts)
  if not quire then return fail(1, "%s", err) end
  local jobs = require "quire.jobs"
  local db = quire._db
  local all_jobs = jobs.all(quire)
  jobs.sync(db, all_jobs)
  if sub == "list" then
    local rows = jobs.list(db)
    print(("%-28s %-13s %-27s %-9s %s"):format("NAME", "INTERVAL", "NEXT RUN", "STATE", "ATTEMPTS"))
    for _, r in ipairs(rows) do
      print(("%-28s every %-7s %-27s %-9s %d%s"):format(r.name, r.interval_s .. "s", r.run_at, r.state, r.attempts,
        r.last_error and ("  last error: " .. r.last_error:gsub("\n", " ")) or ""))
    end
    if #rows == 0 then print("no jobs") end
    return 0
  elseif sub == "retry" then
    if not jobs.retry(db, pos[2]) then return fail(1, "no job named %s (see quire jobs list)", pos[2]) end
    print(("%s will run on the next `quire jobs run`"):format(pos[2]))
    return 0
  end
  local published = jobs.publish_scheduled(quire)
  local ran, failures = jobs.run_due(db, all_jobs, jobs.owner("cli"))
  for _, f in ipairs(failures) do
    io.stderr:write(("quire: job %s failed%s: %s\n"):format(f.name, f.parked and " and is parked" or "", f.error))
  end
  print(("%d job(s) run, %d failed, %d scheduled entr%s published"):format(ran, #failures, published, published == 1 and "y" or "ies"))
  return #failures == 0 and 0 or 1
end

-- A plugin command: `quire NAME [--site DIR] [ARGS...]`. Returns nil when no site defines it.
local function plugin_command(cmd, argv)
  local opts, pos = parse(cmd, argv, 2, { site = "value" }, true)
  if not opts then return nil end
  local dir = site_dir(opts)
  if not require("quire.core").stat(dir .. "/site.lua") then return nil end
  local quire, err = open_site(opts)
  if not quire then return fail(1, "%s", err) end
  local command = quire.plugins.commands[cmd]
  if not command then return nil end
  if opts.help then
    print(("usage: quire %s [--site DIR] [ARGS...]\n\n%s (from plugin '%s')"):format(cmd, command.help, command.plugin))
    return 0
  end
  local ok, res = pcall(command.run, pos)
  io.stdout:flush()
  if not ok then return fail(1, "%s", tostring(res)) end
  return math.type(res) == "integer" and res or 0
end

-- Plugin commands of the site in reach (--site, $QUIRE_SITE or .), for --help.
local function plugin_commands_help(argv)
  local opts = parse("help", argv, 2, { site = "value" }) or {}
  local dir = site_dir(opts)
  if not require("quire.core").stat(dir .. "/site.lua") then return "" end
  local quire = open_site(opts)
  if not quire then return "" end
  local names = {}
  for name in pairs(quire.plugins.commands) do names[#names + 1] = name end
  if #names == 0 then return "" end
  table.sort(names)
  local lines = { "", ("Commands from the plugins of %s:"):format(dir) }
  for _, name in ipairs(names) do
    local c = quire.plugins.commands[name]
    lines[#lines + 1] = ("  %-28s  %s (%s)"):format(name, c.help, c.plugin)
  end
  return table.concat(lines, "\n") .. "\n"
end

-- The editorial command groups (entries, terms, comments) live in quire.editorial.
M.parse, M.open_site, M.site_dir = parse, open_site, site_dir
require("quire.editorial").install(commands, HELP, M)
require("quire.media").install(commands, HELP, M)
require("quire.api_keys").install(commands, HELP, M)
require("quire.front").install(commands, HELP, M)

-- Whether `quire NAME` is answered by quire itself (its command table, help, version), so no
-- plugin command may take the name; and the sorted list of those names.
function M.is_builtin(name)
  return commands[name] ~= nil or name == "help" or name == "version"
end

function M.builtin_commands()
  local names = { "help", "version" }
  for name in pairs(commands) do names[#names + 1] = name end
  table.sort(names)
  return names
end

function M.main(argv)
  local cmd = argv[1]
  if cmd == nil or cmd == "-h" or cmd == "--help" or cmd == "help" then
    -- The plugin authors' reference; the `plugins` command's own help is `quire plugins --help`.
    if cmd == "help" and argv[2] == "plugins" then io.stdout:write(require("quire.reference").text()) return 0 end
    if cmd == "help" and argv[2] and HELP[argv[2]] then print(HELP[argv[2]]) return 0 end
    io.stdout:write(USAGE, plugin_commands_help(argv))
    return cmd == nil and 2 or 0
  end
  if cmd == "--version" or cmd == "version" then
    print("quire " .. core.version)
    return 0
  end
  if cmd:sub(1, 1) == "-" then return fail(2, "unknown option '%s' (see quire --help)", cmd) end
  local handler = commands[cmd]
  if handler then return handler(argv) end
  local status = plugin_command(cmd, argv)
  if status then return status end
  return fail(2, "unknown command '%s' (see quire --help)", cmd)
end

return M
