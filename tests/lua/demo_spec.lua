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

  -- The lead story and the opinion piece on the barrage (newer entries follow them).
  local function lead_and_opinion()
    local lead = q.content.query { type = "article", tag = "tidal-barrage", section = "news", limit = 2 }
    local op = q.content.query { type = "opinion", tag = "tidal-barrage", limit = 2 }
    for _, e in ipairs(lead) do if e.title:match("^Halden Bay council") then lead = e break end end
    for _, e in ipairs(op) do if e.title:match("^A wall across the bay") then op = e break end end
    return lead, op
  end

  it("titles its pictures by what they show", function()
    local titles = {}
    for _, m in ipairs(q.media.list { limit = 100 }) do
      assert.truthy(m.title:match("^Headlands "), m.title)
      assert.is_nil(titles[m.title], m.title)
      titles[m.title] = true
    end
    assert.truthy(next(titles))
  end)

  local function get(path)
    local r = q:request("GET", path)
    assert.equal(200, r.status)
    return r.body
  end

  it("has a datelined news story, an opinion piece on the same theme and 30 more entries", function()
    assert.matches("^45 entries", summary)
    local lead, op = lead_and_opinion()
    assert.equal("Halden Bay", lead.fields.dateline)
    local shared = {}
    for _, t in ipairs(lead.tags) do shared[t] = true end
    assert.truthy(shared[op.tags[1]]) -- the shared theme: Tidal Barrage
    assert.truthy(q.content.count { status = "published" } >= 32)
    assert.equal(2, #q.comments.query { status = "held" })
  end)

  it("renders the lead story with its dateline, related posts, neighbours and comments", function()
    local lead = lead_and_opinion()
    local html = get(q.content.url(lead))
    assert.matches("^Halden Bay, %a+ %d+, %d%d%d%d –$", testing.find(html, "span.dateline")[1].text)
    assert.equal(3, #testing.find(testing.find(html, "ul.related-list")[1].html, "li"))
    assert.matches("Previous Article", html)
    assert.matches("Next Article", html) -- like the seed page: both neighbours
    assert.equal("4 Comments", testing.find(html, "h2#comments-title")[1].text)
    assert.is_nil(html:find("@readers.example", 1, true)) -- commenters' emails never appear
    assert.matches("Total %d+ Shares", testing.find(html, "p.share-total")[1].text)
  end)

  it("renders the opinion piece with its own layout", function()
    local _, op = lead_and_opinion()
    local html = get(q.content.url(op))
    assert.matches("Previous Article", html)
    assert.matches("Next Article", html)
    assert.equal(1, #testing.find(html, "article.entry-opinion"))
    assert.equal(1, #testing.find(html, "aside.pull-quote"))
    assert.matches("Davy writes", html)
  end)

  it("does not repeat a standfirst as the first paragraph of the body", function()
    for _, e in ipairs(q.content.query { status = "published", limit = 100 }) do
      local sf = e.fields.standfirst
      if sf then
        local first = testing.find(get(q.content.url(e)), "div.entry-body p")[1]
        assert.is_nil(first.text:find(sf, 1, true), e.title)
      end
    end
  end)

  it("has index pages, feeds and search", function()
    -- The front page: the lead with its picture, top stories, section blocks, the opinion column.
    local home = get("/")
    assert.equal(1, #testing.find(testing.find(home, "article.front-lead")[1].html, "picture"))
    assert.truthy(#testing.find(home, "article.front-card") >= 8)
    assert.truthy(#testing.find(home, "section.front-section") >= 4)
    assert.truthy(#testing.find(testing.find(home, "ul.opinion-list")[1].html, "li") >= 3)
    assert.equal(10, #testing.find(get("/latest"), "article.card"))
    assert.truthy(#testing.find(get("/section/environment"), "article.front-card") > 3)
    assert.truthy(#testing.find(get("/tag/tidal-barrage"), "article.card") >= 6)
    assert.equal(20, #testing.find(get("/feed.xml"), "item"))
    assert.matches("<mark>", get("/search?q=barrage"))
  end)
end)
