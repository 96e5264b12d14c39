-- The example editorial scripts in scripts/, run against throwaway sites.
local testing = require "quire.testing"
local bulk = require "quire.bulk"
local root = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/[^/]+$") or "."

-- Runs scripts/NAME.lua with args against q, the way `quire run` does; returns what it printed.
local function run(q, name, ...)
  local chunk = assert(loadfile(root .. "/scripts/" .. name .. ".lua", "t"))
  q.each = bulk.each_for(q, q._site, { script = name, quiet = true })
  local saved_quire, saved_arg, saved_print = _G.quire, _G.arg, _G.print
  local out = {}
  _G.quire, _G.arg, _G.print = q, { [0] = name, ... }, function(s) out[#out + 1] = s end
  local ok, err = pcall(chunk, ...)
  _G.quire, _G.arg, _G.print = saved_quire, saved_arg, saved_print
  assert(ok, err)
  return table.concat(out, "\n")
end

describe("scripts/retag.lua", function()
  it("tags entries mentioning a theme, once", function()
    local q = testing.site()
    local a = q.content.create { type = "article", title = "Heat wave grips the coast", tags = { "Weather" } }
    local b = q.content.create { type = "article", title = "Council meets", body = "A HEAT WAVE plan was approved." }
    local c = q.content.create { type = "article", title = "Football results" }
    assert.equal('2 entries tagged "Climate"', run(q, "retag", "heat wave", "Climate"))
    assert.same({ "Weather", "Climate" }, q.content.get(a).tags)
    assert.same({ "Climate" }, q.content.get(b).tags)
    assert.same({}, q.content.get(c).tags)
    assert.equal('0 entries tagged "climate"', run(q, "retag", "heat wave", "climate"))
  end)
end)

describe("scripts/fix-datelines.lua", function()
  it("tidies shouted and punctuated datelines and leaves good ones", function()
    local q = testing.site()
    local ids = {}
    for i, d in ipairs({ "LISBON,", "  Porto – ", "RIO DE JANEIRO", "São Paulo", "NEW YORK OF THE WEST" }) do
      ids[i] = q.content.create { type = "article", title = "Story " .. i, fields = { dateline = d } }
    end
    assert.equal("4 datelines fixed", run(q, "fix-datelines"))
    local got = {}
    for i, id in ipairs(ids) do got[i] = q.content.get(id).fields.dateline end
    assert.same({ "Lisbon", "Porto", "Rio de Janeiro", "São Paulo", "New York of the West" }, got)
  end)
end)

describe("scripts/archive-old.lua", function()
  it("archives published entries older than N years only", function()
    local q = testing.site()
    local old = q.content.create { type = "article", title = "Old", status = "published", published_at = "2015-01-01" }
    local draft = q.content.create { type = "article", title = "Old draft", published_at = "2015-01-01" }
    local recent = q.content.create { type = "article", title = "Recent", status = "published" }
    assert.matches("^1 entries published before", run(q, "archive-old", "5"))
    assert.equal("archived", q.content.get(old).status)
    assert.equal("draft", q.content.get(draft).status)
    assert.equal("published", q.content.get(recent).status)
  end)
end)
