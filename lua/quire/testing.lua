-- Helpers for specs run by `quire test`: throwaway sites on real SQLite files, and the busted
-- runner started inside this Lua state so specs exercise the real core.
local core = require "quire.core"
local quire_mod = require "quire"

local M = {}
local made = {}
local pg_sites, PG_SCHEMAS = 0, 8

-- Lua source for a value (tables, strings, numbers, booleans): to write site.lua settings.
local function serialize(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for _, item in ipairs(v) do parts[#parts + 1] = serialize(item) end
  local keys = {}
  for k in pairs(v) do if math.type(k) ~= "integer" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = ("[%q] = %s"):format(k, serialize(v[k])) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- lcg(seed) -> rnd: rnd(n) is an integer from 1 to n, the next of a fixed linear congruential
-- sequence from seed: generated test inputs that are the same at every run (a failure reproduces).
function M.lcg(seed)
  return function(n)
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n + 1
  end
end

-- A fresh site in a new temporary folder, opened: returns its `quire` API and its folder.
-- opts (all optional): name, plugins = {...}, plugin_path = {...} (folders searched first;
-- default: ./plugins of the folder quire test runs in), settings = { plugin = {...} },
-- limits = {...}. The folder is removed when the test run ends.
function M.site(opts)
  if type(opts) ~= "table" then opts = { name = opts } end
  local dir = M.temp_dir("quire-test")
  local site_dir = dir .. "/site"
  assert(quire_mod.init(site_dir, opts.name or "Test Site"))
  local cwd_plugins = (os.getenv("PWD") or ".") .. "/plugins"
  local lines = {
    ("name = %q"):format(opts.name or "Test Site"),
    "plugins = " .. serialize(opts.plugins or {}),
    "plugin_path = " .. serialize(opts.plugin_path or { cwd_plugins }),
  }
  if opts.limits then lines[#lines + 1] = "limits = " .. serialize(opts.limits) end
  -- QUIRE_TEST_DATABASE=postgresql://...: the site on that database, in a schema of its own
  -- made empty (specs run against PostgreSQL: tests/pg_test.sh), so that sites made one after
  -- the other stay apart as their SQLite files do (an export imported into another site). The
  -- last PG_SCHEMAS sites are kept; the unaccent extension (one per database) lives in public.
  local pg_url = os.getenv("QUIRE_TEST_DATABASE")
  if pg_url then
    pg_sites = pg_sites + 1
    local schema = "quire_test_" .. pg_sites % PG_SCHEMAS
    local db = assert(core.open_pg(pg_url, { migrate = false }))
    db:exec("CREATE SCHEMA IF NOT EXISTS public")
    db:exec("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
    db:exec("DROP SCHEMA IF EXISTS " .. schema .. " CASCADE")
    db:exec("CREATE SCHEMA " .. schema)
    db:close()
    local url = pg_url .. (pg_url:find("?", 1, true) and "&" or "?") .. "options=-csearch_path%3D" .. schema .. "%2Cpublic"
    lines[#lines + 1] = ("database = %q"):format(url)
  end
  for _, k in ipairs { "timezone", "language", "strings", "media_dir" } do
    if opts[k] then lines[#lines + 1] = k .. " = " .. serialize(opts[k]) end
  end
  for plugin, settings in pairs(opts.settings or {}) do
    lines[#lines + 1] = ("%s = %s"):format(plugin, serialize(settings))
  end
  local f = assert(io.open(site_dir .. "/site.lua", "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  local quire, err = quire_mod.open(site_dir)
  if not quire then error(err, 0) end
  -- site:request("GET", "/path", { headers =, body = }) -> { status, headers, body }, no sockets;
  -- with the headers the server adds from the app's answer (the same C code decides them).
  function quire.request(_, method, target, req_opts)
    local r = quire.app.request(method, target, req_opts)
    r.headers["cache-control"] = core.cache_control(r)
    r.headers["x-request-id"] = r.id
    return r
  end
  -- site:command("name", args...) -> { status, stdout, stderr }: `quire name args...` with QUIRE_SITE
  -- run by this same quire binary in its own process, as an operator would run it (a plugin
  -- command, or any built-in one); what it writes to the database the spec's site then reads.
  function quire.command(_, name, ...)
    if type(name) ~= "string" or name == "" then error("q:command takes a command name and its arguments", 2) end
    local words = { site_dir, M.quire_binary(), name }
    for i = 1, select("#", ...) do words[#words + 1] = tostring((select(i, ...))) end
    for i, w in ipairs(words) do words[i] = "'" .. w:gsub("'", "'\\''") .. "'" end
    words[1] = "QUIRE_SITE=" .. words[1]
    local err_file = dir .. "/command.stderr"
    io.stdout:flush()
    local p = assert(io.popen(table.concat(words, " ") .. " </dev/null 2>'" .. err_file .. "'"))
    local stdout = p:read("a")
    local _, _, status = p:close()
    local f = io.open(err_file, "r")
    local stderr = f and f:read("a") or ""
    if f then f:close() end
    os.remove(err_file)
    return { status = status, stdout = stdout, stderr = stderr }
  end
  return quire, site_dir
end

-- A file's bytes (the test fails when it cannot be read).
function M.read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Writes s as the whole file at path (the test fails when it cannot).
function M.write_file(path, s)
  local f = assert(io.open(path, "wb"))
  assert(f:write(s))
  f:close()
end

-- A new temporary folder (its name starts with prefix), removed when the test run ends.
function M.temp_dir(prefix)
  local dir = assert(core.mkdtemp(prefix or "quire-test"))
  made[#made + 1] = dir
  return dir
end

-- A site.lua of these lines, loaded and checked (quire.config.load) in a new temporary folder,
-- removed when the test run ends: the config, or nil and the error; the folder third.
function M.config_with(lines)
  local dir = M.temp_dir("quire-config")
  local f = assert(io.open(dir .. "/site.lua", "w"))
  f:write(lines)
  f:close()
  local cfg, err = require("quire.config").load(dir)
  return cfg, err, dir
end

-- The path of the running quire binary (for q:command).
local binary
function M.quire_binary()
  if not binary then
    local p = assert(io.popen("readlink /proc/" .. core.getpid() .. "/exe"))
    binary = p:read("l")
    p:close()
    if not binary or binary == "" then error("cannot find the running quire binary (/proc/PID/exe)", 0) end
  end
  return binary
end

-- HTML assertions for specs: testing.find(html, selector) -> list of { tag, attrs, text, html }
-- for the elements that match a simple selector: "tag", ".class", "#id", "[attr]",
-- "[attr=value]" and combinations ("a.share[rel=nofollow]"). text is the inner text with tags
-- removed and entities left as written.
local VOID = { area = true, base = true, br = true, col = true, embed = true, hr = true, img = true,
  input = true, link = true, meta = true, source = true, track = true, wbr = true }

local function parse_selector(sel)
  local want = { classes = {}, attrs = {} }
  want.tag = sel:match("^([%a][%w%-]*)")
  want.id = sel:match("#([%w%-_]+)")
  for c in sel:gmatch("%.([%w%-_]+)") do want.classes[#want.classes + 1] = c end
  for name, value in sel:gmatch("%[([%w%-_:]+)=?\"?([^%]\"]*)\"?%]") do want.attrs[name] = value end
  return want
end

local function parse_attrs(s)
  local attrs = {}
  for name, q, value in s:gmatch("([%w%-_:]+)%s*=%s*([\"'])(.-)%2") do attrs[name:lower()] = value end
  for name, value in s:gmatch("([%w%-_:]+)%s*=%s*([^%s\"'>]+)") do attrs[name:lower()] = attrs[name:lower()] or value end
  for name in s:gmatch("%s([%w%-_:]+)%f[%s/>%z]") do attrs[name:lower()] = attrs[name:lower()] or "" end
  return attrs
end

function M.find(html, selector)
  local want = parse_selector(selector)
  local out = {}
  local pos = 1
  while true do
    local s, e, tag, rest = html:find("<([%a][%w%-]*)([^>]*)>", pos)
    if not s then break end
    pos = e + 1
    tag = tag:lower()
    local attrs = parse_attrs(" " .. rest)
    local ok = (not want.tag or want.tag:lower() == tag) and (not want.id or attrs.id == want.id)
    if ok then
      local classes = " " .. (attrs.class or "") .. " "
      for _, c in ipairs(want.classes) do ok = ok and classes:find(" " .. c .. " ", 1, true) ~= nil end
      for name, value in pairs(want.attrs) do ok = ok and attrs[name] ~= nil and (value == "" or attrs[name] == value) end
    end
    if ok then
      local inner = ""
      if not VOID[tag] and not rest:match("/%s*$") then
        -- The matching close tag: count nested elements of the same name.
        local depth, p = 1, e + 1
        while depth > 0 do
          local s2, e2, close, name = html:find("<(/?)([%a][%w%-]*)[^>]*>", p)
          if not s2 then p = #html + 1 break end
          if name:lower() == tag then depth = depth + (close == "/" and -1 or 1) end
          if depth == 0 then inner = html:sub(e + 1, s2 - 1) end
          p = e2 + 1
        end
      end
      out[#out + 1] = { tag = tag, attrs = attrs, html = inner,
        text = (inner:gsub("<[^>]*>", ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")) }
    end
  end
  return out
end

local function default_paths()
  local paths = {}
  if core.stat("spec") == "dir" then paths[#paths + 1] = "spec" end
  if core.stat("plugins") == "dir" then
    for _, name in ipairs(core.listdir("plugins") or {}) do
      if core.stat("plugins/" .. name .. "/spec") == "dir" then paths[#paths + 1] = "plugins/" .. name .. "/spec" end
    end
  end
  return paths
end

local function cleanup()
  for _, dir in ipairs(made) do core.remove_tree(dir) end
  made = {}
end

-- Runs busted over paths (files or folders); busted options may follow "--" in paths.
function M.run_busted(opts, paths)
  local quire
  if opts.site then
    local err
    quire, err = quire_mod.open(opts.site)
    if not quire then
      io.stderr:write("quire: ", err, "\n")
      return 1
    end
  else
    quire = M.site()
  end
  _G.quire = quire
  local args = {}
  local busted_opts, files = {}, {}
  for _, p in ipairs(paths) do
    if p:sub(1, 1) == "-" then busted_opts[#busted_opts + 1] = p else files[#files + 1] = p end
  end
  if #files == 0 then files = default_paths() end
  if #files == 0 then
    io.stderr:write("quire: no specs found (looked for spec/ and plugins/*/spec/)\n")
    cleanup()
    return 1
  end
  for _, o in ipairs(busted_opts) do args[#args + 1] = o end
  for _, f in ipairs(files) do args[#args + 1] = f end
  _G.arg = args
  -- busted ends with os.exit on failure; turn that into a return so temporary sites are removed.
  local real_exit = os.exit
  local EXIT = {}
  os.exit = function(code) error({ [EXIT] = true, code = code }, 0) end
  local ok, res = pcall(function() require("busted.runner")({ standalone = false, output = "plainTerminal" }) end)
  os.exit = real_exit
  io.stdout:flush()
  cleanup()
  if ok then return 0 end
  if type(res) == "table" and res[EXIT] then
    local code = res.code
    if code == true or code == nil then return 0 end
    if code == false then return 1 end
    return code
  end
  io.stderr:write("quire: ", tostring(res), "\n")
  return 1
end

return M
