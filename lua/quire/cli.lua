-- The `quire` command line: parses arguments and dispatches to the commands below.
local core = require "quire.core"

local M = {}

local USAGE = [[
usage: quire <command> [options]

Commands:
  init DIR                      create a new site in DIR
  run [--site DIR] SCRIPT [ARGS...]
                                run a Lua script against the site with the full quire API
  check [--site DIR]            check the database: schema, integrity, search index
  test [--site DIR] [PATH...]   run busted specs inside quire (default: spec/ and plugins/*/spec/)

Options:
  -h, --help                    show help (also: quire <command> --help)
  --version                     print the version

The site folder defaults to $QUIRE_SITE, else the current directory.
]]

local HELP = {
  init = [[
usage: quire init DIR [--name NAME]

Creates DIR/site.lua (settings, with the optional ones commented), DIR/quire.db (migrated)
and DIR/plugins/. Refuses to overwrite an existing site.]],
  run = [[
usage: quire run [--site DIR] SCRIPT.lua [ARGS...]

Runs SCRIPT.lua with the global `quire` bound to the site and `arg` holding ARGS (arg[0] is
the script). Writes inside quire.store.transaction(fn) commit together or not at all. A script
error prints file:line: message and exits 1; its open transaction is rolled back.]],
  check = [[
usage: quire check [--site DIR]

Checks the schema version, PRAGMA integrity_check, foreign keys and the full-text index
against the entries. Prints each problem; exits 1 when there is any.]],
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
      if allowed[name] == "value" then
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, ("option --%s needs a value"):format(name) end
        end
        opts[name] = value
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

local function open_site(opts)
  local quire, err = require("quire").open(site_dir(opts))
  if not quire then return nil, err end
  return quire
end

local commands = {}

function commands.init(argv)
  local opts, pos = parse("init", argv, 2, { name = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.init) return 0 end
  if #pos ~= 1 then return fail(2, "init takes one folder (see quire init --help)") end
  local ok, err = require("quire").init(pos[1], opts.name)
  if not ok then return fail(1, "%s", err) end
  print(("Created site in %s: edit %s/site.lua, then add content with `quire run --site %s SCRIPT.lua`."):format(pos[1], pos[1], pos[1]))
  return 0
end

function commands.run(argv)
  local opts, pos = parse("run", argv, 2, { site = "value" }, true)
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.run) return 0 end
  local script = pos[1]
  if not script then return fail(2, "run needs a script (see quire run --help)") end
  local quire, err = open_site(opts)
  if not quire then return fail(1, "%s", err) end
  local chunk, load_err = loadfile(script, "t")
  if not chunk then return fail(1, "%s", load_err) end
  _G.quire = quire
  local args = { [0] = script }
  for i = 2, #pos do args[i - 1] = pos[i] end
  _G.arg = args
  local ok, run_err = xpcall(chunk, function(e)
    if type(e) ~= "string" and not (getmetatable(e) and getmetatable(e).__tostring) then
      e = ("(error object is a %s value)"):format(type(e))
    end
    return { message = tostring(e), traceback = debug.traceback("", 2) }
  end, table.unpack(args))
  quire._db:close() -- rolls back a transaction the script left open
  if not ok then
    io.stderr:write(run_err.message, "\n")
    if os.getenv("QUIRE_TRACEBACK") then io.stderr:write(run_err.traceback, "\n") end
    return 1
  end
  return 0
end

function commands.check(argv)
  local opts, pos = parse("check", argv, 2, { site = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.check) return 0 end
  if #pos > 0 then return fail(2, "check takes no arguments (see quire check --help)") end
  local quire, err = open_site(opts)
  if not quire then return fail(1, "%s", err) end
  local applied = quire.store.schema_version()
  local problems = quire.store.check()
  local entries = quire.store.query("SELECT count(*) AS n FROM entries")[1].n
  for _, p in ipairs(problems) do print(("problem: %s: %s"):format(p.what, p.detail)) end
  print(("schema version %d, %d entries, %s"):format(applied, entries,
    #problems == 0 and "integrity ok, search index ok" or (#problems .. " problem(s)")))
  quire._db:close()
  return #problems == 0 and 0 or 1
end

function commands.test(argv)
  local opts, pos = parse("test", argv, 2, { site = "value" })
  if not opts then return fail(2, "%s", pos) end
  if opts.help then print(HELP.test) return 0 end
  return require("quire.testing").run_busted(opts, pos)
end

function M.main(argv)
  local cmd = argv[1]
  if cmd == nil or cmd == "-h" or cmd == "--help" or cmd == "help" then
    if cmd == "help" and argv[2] and HELP[argv[2]] then print(HELP[argv[2]]) return 0 end
    io.stdout:write(USAGE)
    return cmd == nil and 2 or 0
  end
  if cmd == "--version" or cmd == "version" then
    print("quire " .. core.version)
    return 0
  end
  if cmd:sub(1, 1) == "-" then return fail(2, "unknown option '%s' (see quire --help)", cmd) end
  local handler = commands[cmd]
  if not handler then return fail(2, "unknown command '%s' (see quire --help)", cmd) end
  return handler(argv)
end

return M
