-- The public Mustache specification (tests/mustache/*.json, MIT licence), every test as it is,
-- through quire.template.render_string; the spec's lambdas are written here as Lua functions.
local cjson = require "cjson"
local core = require "quire.core"

local function spec_dir()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
  return dir .. "/../mustache"
end

-- The Lua equivalents of data.lambda in ~lambdas.json, by test name. Made fresh for each test so
-- "Multiple Calls" starts counting from zero.
local lambdas = {
  ["Interpolation"] = function() return function() return "world" end end,
  ["Interpolation - Expansion"] = function() return function() return "{{planet}}" end end,
  ["Interpolation - Alternate Delimiters"] = function() return function() return "|planet| => {{planet}}" end end,
  ["Interpolation - Multiple Calls"] = function()
    local calls = 0
    return function()
      calls = calls + 1
      return calls
    end
  end,
  ["Escaping"] = function() return function() return ">" end end,
  ["Section"] = function() return function(text) return text == "{{x}}" and "yes" or "no" end end,
  ["Section - Expansion"] = function() return function(text) return text .. "{{planet}}" .. text end end,
  ["Section - Alternate Delimiters"] = function()
    return function(text) return text .. "{{planet}} => |planet|" .. text end
  end,
  ["Section - Multiple Calls"] = function() return function(text) return "__" .. text .. "__" end end,
  ["Inverted Section"] = function() return function() return false end end,
}

local function load_suites()
  local dir = spec_dir()
  local names = assert(core.listdir(dir))
  local suites = {}
  for _, name in ipairs(names) do
    if name:match("%.json$") then
      local f = assert(io.open(dir .. "/" .. name, "rb"))
      local doc = cjson.decode(f:read("a"))
      f:close()
      suites[#suites + 1] = { file = name, tests = doc.tests }
    end
  end
  return suites
end

local suites = load_suites()
local total, passed = 0, 0

describe("mustache spec", function()
  teardown(function()
    io.write(("\nmustache spec: %d/%d passed\n"):format(passed, total))
  end)

  it("has every module of the spec", function()
    local files = {}
    for _, s in ipairs(suites) do files[#files + 1] = s.file end
    assert.same({ "comments.json", "delimiters.json", "interpolation.json", "inverted.json", "partials.json",
      "sections.json", "~dynamic-names.json", "~inheritance.json", "~lambdas.json" }, files)
  end)

  for _, suite in ipairs(suites) do
    describe(suite.file, function()
      for _, test in ipairs(suite.tests) do
        total = total + 1
        it(test.name .. ": " .. test.desc, function()
          local data = test.data
          if type(data) == "table" and data.lambda ~= nil then
            local make = assert(lambdas[test.name], "no Lua lambda for " .. test.name)
            data.lambda = make()
          end
          local out = quire.template.render_string(test.template, data, { partials = test.partials })
          assert.are.equal(test.expected, out)
          passed = passed + 1
        end)
      end
    end)
  end
end)
