-- Helpers for specs run by `quire test`: throwaway sites on real SQLite files, and the busted
-- runner started inside this Lua state so specs exercise the real core.
local core = require "quire.core"
local quire_mod = require "quire"

local M = {}
local made = {}

-- A fresh site in a new temporary folder, opened: returns its `quire` API and its folder.
-- The folder is removed when the test run ends.
function M.site(name)
  local dir = assert(core.mkdtemp("quire-test"))
  made[#made + 1] = dir
  assert(quire_mod.init(dir .. "/site", name or "Test Site"))
  local quire = assert(quire_mod.open(dir .. "/site"))
  return quire, dir .. "/site"
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
