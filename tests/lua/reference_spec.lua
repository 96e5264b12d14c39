-- The plugin authors' reference (quire.reference): it describes everything the code offers, and
-- docs/plugins.md is exactly what `quire help plugins` prints.
local testing = require "quire.testing"
local core = require "quire.core"
local reference = require "quire.reference"
local root = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/tests/lua/[^/]+$") or "..")

local read = testing.read_file

-- A site with every bundled plugin enabled.
local function full_site()
  local names = {}
  for _, n in ipairs(core.listdir(root .. "/plugins")) do
    if core.stat(root .. "/plugins/" .. n .. "/plugin.lua") == "file" then names[#names + 1] = n end
  end
  table.sort(names)
  return testing.site { plugins = names, plugin_path = { root .. "/plugins" } }
end

describe("the plugin reference", function()
  it("has an entry for every public quire.* function, response method and field type", function()
    local q = full_site()
    assert.same({}, reference.missing(q.plugin_api))
    -- and it notices one that is missing
    local fake = { content = { create = function() end, brand_new = function() end } }
    assert.same({ "quire.content.brand_new" }, reference.missing(fake))
  end)

  it("describes every call and field of the site object a plugin's setup gets", function()
    local q = testing.site { plugins = { "modular" }, plugin_path = { root .. "/tests/fixtures/plugins" } }
    local keys = q:request("GET", "/modular/site-keys").body
    assert.matches("content_type", keys)
    local described = {}
    for _, s in ipairs(reference.SITE) do
      for name in s[1]:gmatch("site[:.]([%w_]+)") do described[name] = true end
    end
    local missing = {}
    for key in keys:gmatch("%S+") do
      if not described[key] then missing[#missing + 1] = key end
    end
    assert.same({}, missing)
  end)

  it("describes every hook and filter the code fires or a bundled plugin registers", function()
    local fired = { hook = {}, filter = {} }
    local files = {}
    local function lua_files(dir) -- and those of its folders (lua/quire/content/...)
      for _, n in ipairs(core.listdir(dir)) do
        if n:match("%.lua$") then files[#files + 1] = dir .. "/" .. n
        elseif core.stat(dir .. "/" .. n) == "dir" then lua_files(dir .. "/" .. n) end
      end
    end
    lua_files(root .. "/lua/quire")
    for _, p in ipairs(core.listdir(root .. "/plugins")) do
      for _, n in ipairs(core.listdir(root .. "/plugins/" .. p) or {}) do
        if n:match("%.lua$") then files[#files + 1] = root .. "/plugins/" .. p .. "/" .. n end
      end
    end
    for _, file in ipairs(files) do
      local src = read(file)
      for name in src:gmatch(":emit%(\"([%w._]+)\"") do fired.hook[name] = file end
      for name in src:gmatch("filters%.apply%(\"([%w._]+)\"") do fired.filter[name] = file end
      for name in src:gmatch("site:hook%(\"([%w._]+)\"") do fired.hook[name] = file end
      for name in src:gmatch("site:filter%(\"([%w._]+)\"") do fired.filter[name] = file end
    end
    local q = full_site()
    for name in pairs(q.plugins.hooks.lists.hook) do fired.hook[name] = "registered" end
    for name in pairs(q.plugins.hooks.lists.filter) do fired.filter[name] = "registered" end
    assert.is_not_nil(fired.hook["entry.saving"])
    assert.is_not_nil(fired.filter["view.card"])
    local missing = {}
    for name, where in pairs(fired.hook) do
      if not reference.HOOKS[name] then missing[#missing + 1] = "hook " .. name .. " (" .. where .. ")" end
    end
    for name, where in pairs(fired.filter) do
      if not reference.FILTERS[name] then missing[#missing + 1] = "filter " .. name .. " (" .. where .. ")" end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)

  it("is printed by quire help plugins and checked in as docs/plugins.md", function()
    local text = reference.text()
    assert.matches("## Field types", text)
    assert.matches("`quire.content.create{ type, title", text, 1, true)
    local r = full_site():command("help", "plugins")
    assert.equal(0, r.status)
    assert.equal(text, r.stdout)
    assert.equal(text, read(root .. "/docs/plugins.md"),
      "docs/plugins.md is out of date: run `quire help plugins > docs/plugins.md`")
  end)
end)
