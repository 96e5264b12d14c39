-- The demo site `quire init --demo` makes and `make demo` serves: the bundled news plugins over
-- the demo content render real pages.
local testing = require "quire.testing"
local demo = require "quire.demo"
local here = require("quire.core").realpath(debug.getinfo(1, "S").source:sub(2))
local root = here:match("^(.*)/tests/lua/[^/]+$")

describe("the demo site", function()
  local q, summary
  setup(function()
    q = testing.site { name = "The Mereland Courier",
      plugins = { "theme", "article", "opinion", "comments", "share", "prevnext", "related", "sponsor", "feeds", "search", "listings" },
      plugin_path = { root .. "/plugins" }, settings = { theme = { sections = demo.SECTIONS } } }
    summary = demo.seed(q)
  end)

  local function get(path)
    local r = q:request("GET", path)
    assert.equal(200, r.status)
    return r.body
  end

  it("has a datelined news story, an opinion piece on the same theme and 30 more entries", function()
    assert.matches("^43 entries", summary)
    local lead = q.content.query { type = "article", limit = 1 }[1]
    local op = q.content.query { type = "opinion", limit = 1 }[1]
    assert.equal("Halden Bay", lead.fields.dateline)
    local shared = {}
    for _, t in ipairs(lead.tags) do shared[t] = true end
    assert.truthy(shared[op.tags[1]]) -- the shared theme: Tidal Barrage
    assert.truthy(q.content.count { status = "published" } >= 32)
    assert.equal(2, #q.comments.query { status = "held" })
  end)

  it("renders the lead story with its dateline, related posts, neighbours and comments", function()
    local lead = q.content.query { type = "article", limit = 1 }[1]
    local html = get(q.content.url(lead))
    assert.matches("^Halden Bay, %a+ %d+, %d%d%d%d –$", testing.find(html, "span.dateline")[1].text)
    assert.equal(3, #testing.find(testing.find(html, "ul.related-list")[1].html, "li"))
    assert.matches("Previous Article", html)
    assert.equal("4 Comments", testing.find(html, "h2#comments-title")[1].text)
    assert.is_nil(html:find("@readers.example", 1, true)) -- commenters' emails never appear
    assert.matches("Total %d+ Shares", testing.find(html, "p.share-total")[1].text)
  end)

  it("renders the opinion piece with its own layout", function()
    local op = q.content.query { type = "opinion", limit = 1 }[1]
    local html = get(q.content.url(op))
    assert.equal(1, #testing.find(html, "article.entry-opinion"))
    assert.equal(1, #testing.find(html, "aside.pull-quote"))
    assert.matches("Davy writes", html)
  end)

  it("has index pages, feeds and search", function()
    assert.equal(10, #testing.find(get("/"), "article.card"))
    assert.truthy(#testing.find(get("/section/environment"), "article.card") > 3)
    assert.truthy(#testing.find(get("/tag/tidal-barrage"), "article.card") >= 6)
    assert.equal(20, #testing.find(get("/feed.xml"), "item"))
    assert.matches("<mark>", get("/search?q=barrage"))
  end)
end)
