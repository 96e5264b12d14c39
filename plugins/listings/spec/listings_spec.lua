-- Index pages: home, section, tag and author, with pagination.
local testing = require "quire.testing"
local find = testing.find

describe("listings plugin", function()
  local q
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "article", "opinion", "listings" },
      settings = { listings = { per_page = 2 }, theme = { sections = { "World", "Money" } } } }
    q.users.create { login = "ines", name = "Inês Duarte", bio = "Covers ports.", email = "ines@staff.example" }
    local n = 0
    for _, s in ipairs({ { "article", "World", { "Ports" } }, { "opinion", "World", { "Ports" } }, { "article", "Money", { "Tolls" } },
      { "article", "World", { "Ports", "Tolls" } }, { "opinion", "Money", {} } }) do
      n = n + 1
      q.content.create { type = s[1], title = "Entry " .. n, section = s[2], tags = s[3], status = "published", author = "ines",
        published_at = ("2026-01-0%dT08:00:00Z"):format(n), body = "x" }
    end
    q.content.create { type = "article", title = "Draft entry", section = "World", status = "draft", author = "ines" }
    q.content.create { type = "page", title = "About", status = "published" }
  end)

  local function titles(html)
    local out = {}
    for _, c in ipairs(find(html, "article.card")) do out[#out + 1] = find(c.html, "h2")[1].text end
    return out
  end

  it("lists the newest entries of every type on the home page, paginated", function()
    local r = q:request("GET", "/")
    assert.equal(200, r.status)
    assert.same({ "Entry 5", "Entry 4" }, titles(r.body))
    assert.equal("Page 1 of 3", find(r.body, "span.pagination-status")[1].text)
    assert.equal("/page/2", find(r.body, "a.pagination-next")[1].attrs.href)
    assert.same({ "Entry 3", "Entry 2" }, titles(q:request("GET", "/page/2").body))
    local last = q:request("GET", "/page/3").body
    assert.same({ "Entry 1" }, titles(last))
    assert.equal("/page/2", find(last, "a.pagination-prev")[1].attrs.href)
    assert.equal(404, q:request("GET", "/page/4").status)
    assert.equal(404, q:request("GET", "/page/0").status)
  end)

  it("shows a section's entries and marks it current in the navigation", function()
    local html = q:request("GET", "/section/world").body
    assert.equal("World", find(html, "h1")[1].text)
    assert.same({ "Entry 4", "Entry 2" }, titles(html))
    assert.same({ "Entry 1" }, titles(q:request("GET", "/section/world/page/2").body))
    local nav = find(find(html, "nav.site-nav")[1].html, "a")
    assert.equal("page", nav[1].attrs["aria-current"])
    assert.equal(404, q:request("GET", "/section/mars").status)
  end)

  it("shows a tag's entries", function()
    local html = q:request("GET", "/tag/tolls").body
    assert.equal("Tagged: Tolls", find(html, "h1")[1].text)
    assert.same({ "Entry 4", "Entry 3" }, titles(html))
    assert.equal(0, #find(html, "nav.pagination"))
    assert.equal(404, q:request("GET", "/tag/none").status)
  end)

  it("shows an author's page with the public bio only", function()
    local html = q:request("GET", "/author/ines").body
    assert.equal("Inês Duarte", find(html, "h1")[1].text)
    assert.equal("Covers ports.", find(find(html, "header.list-header")[1].html, "p")[1].text)
    assert.is_nil(html:find("ines@staff.example", 1, true))
    assert.equal(404, q:request("GET", "/author/nobody").status)
    assert.equal(404, q:request("GET", "/author/ines/page/9").status)
  end)

  it("labels opinion pieces and links cards to their entries", function()
    local cards = find(q:request("GET", "/").body, "article.card")
    assert.equal("Opinion", find(cards[1].html, "span.card-type")[1].text)
    assert.equal("/opinion/entry-5", find(find(cards[1].html, "h2")[1].html, "a")[1].attrs.href)
    assert.equal(0, #find(cards[2].html, "span.card-type"))
  end)

  it("says so when nothing is published", function()
    local empty = testing.site { plugins = { "theme", "listings" } }
    local r = empty:request("GET", "/")
    assert.equal(200, r.status)
    assert.matches("Nothing has been published here yet.", r.body)
  end)
end)
