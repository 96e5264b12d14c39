-- Helpers for specs run by `quire test`: throwaway sites on real SQLite files, and the busted
-- runner started inside this Lua state so specs exercise the real core.
local core = require "quire.core"
local quire_mod = require "quire"

local M = {}
local made = {}

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

-- A fresh site in a new temporary folder, opened: returns its `quire` API and its folder.
-- opts (all optional): name, plugins = {...}, plugin_path = {...} (folders searched first;
-- default: ./plugins of the folder quire test runs in), settings = { plugin = {...} },
-- limits = {...}. The folder is removed when the test run ends.
function M.site(opts)
  if type(opts) ~= "table" then opts = { name = opts } end
  local dir = assert(core.mkdtemp("quire-test"))
  made[#made + 1] = dir
  local site_dir = dir .. "/site"
  assert(quire_mod.init(site_dir, opts.name or "Test Site"))
  local cwd_plugins = (os.getenv("PWD") or ".") .. "/plugins"
  local lines = {
    ("name = %q"):format(opts.name or "Test Site"),
    "plugins = " .. serialize(opts.plugins or {}),
    "plugin_path = " .. serialize(opts.plugin_path or { cwd_plugins }),
  }
  if opts.limits then lines[#lines + 1] = "limits = " .. serialize(opts.limits) end
  for plugin, settings in pairs(opts.settings or {}) do
    lines[#lines + 1] = ("%s = %s"):format(plugin, serialize(settings))
  end
  local f = assert(io.open(site_dir .. "/site.lua", "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  local quire, err = quire_mod.open(site_dir)
  if not quire then error(err, 0) end
  -- site:request("GET", "/path", { headers =, body = }) -> { status, headers, body }, no sockets.
  function quire.request(_, method, target, req_opts) return quire.app.request(method, target, req_opts) end
  return quire, site_dir
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
