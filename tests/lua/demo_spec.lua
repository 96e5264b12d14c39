-- The demo site `make demo` serves: its theme plugin and seed content render real pages.
local testing = require "quire.testing"
local here = require("quire.core").realpath(debug.getinfo(1, "S").source:sub(2))
local root = here:match("^(.*)/tests/lua/[^/]+$")

describe("the demo site", function()
  local q
  setup(function()
    q = testing.site { name = "The Quire Courier", plugins = { "frontpage" }, plugin_path = { root .. "/demo/plugins" } }
    local saved, saved_print = _G.quire, _G.print
    _G.quire, _G.print = q, function() end
    assert(loadfile(root .. "/demo/seed.lua", "t"))()
    _G.quire, _G.print = saved, saved_print
  end)

  it("has a front page listing the latest stories", function()
    local r = q:request("GET", "/")
    assert.equal(200, r.status)
    assert.equal(5, #testing.find(r.body, "article"))
    assert.equal("Opinion", testing.find(r.body, "p.label")[1].text)
  end)

  it("renders an article with its dateline, Markdown body, comments and neighbours", function()
    local r = q:request("GET", "/2026/03/harbour-bridge-reopens-to-traffic-after-six-months-of-repairs")
    assert.equal(200, r.status)
    assert.equal("Lisbon, March 4, 2026 –", testing.find(r.body, "strong")[1].text)
    assert.equal("2 Comments", testing.find(r.body, "h2")[1].text)
    assert.matches("Previous Article", r.body)
    assert.is_nil(r.body:find("@example.org", 1, true)) -- commenters' emails never appear
  end)

  it("renders the opinion piece with its own layout", function()
    local r = q:request("GET", "/opinion/a-bridge-is-a-promise-a-city-makes-to-itself")
    assert.equal(200, r.status)
    assert.equal(1, #testing.find(r.body, "article.opinion"))
    assert.equal(1, #testing.find(r.body, "blockquote"))
    assert.matches("Tomás writes", r.body)
  end)
end)
