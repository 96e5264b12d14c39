-- Index pages: home, section, tag and author, with pagination.
local testing = require "quire.testing"
local find = testing.find

describe("listings plugin", function()
  local q
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "article", "opinion", "listings" },
      settings = { listings = { per_page = 2, front = false }, theme = { sections = { "World", "Money" } } } }
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

  it("lists the newest entries of every type on the home page, in keyset pages", function()
    local r = q:request("GET", "/")
    assert.equal(200, r.status)
    assert.same({ "Entry 5", "Entry 4" }, titles(r.body))
    assert.equal(0, #find(r.body, "span.pagination-status")) -- no totals: no count of the archive
    assert.equal(0, #find(r.body, "a.pagination-prev"))
    -- Older than Entry 4 (published 2026-01-04T08:00:00Z): its date and id name the page.
    local e4 = q.content.query { status = "published", type = "article", limit = 1 }[1]
    local older = find(r.body, "a.pagination-next")[1].attrs.href
    assert.equal("/older/20260104080000-" .. e4.id, older)
    local p2 = q:request("GET", older).body
    assert.same({ "Entry 3", "Entry 2" }, titles(p2))
    local last = q:request("GET", find(p2, "a.pagination-next")[1].attrs.href).body
    assert.same({ "Entry 1" }, titles(last))
    assert.equal(0, #find(last, "a.pagination-next"))
    -- Each page has one address: the last page's "Newer" is the second page's, the second's the first.
    assert.equal(older, find(last, "a.pagination-prev")[1].attrs.href)
    assert.equal("/", find(p2, "a.pagination-prev")[1].attrs.href)
    -- The "newer than" addresses of before send to the page that shows those entries.
    local e1 = q.content.query { status = "published", order = "oldest", limit = 1 }[1]
    local e3 = q.content.query { status = "published", order = "oldest", limit = 3 }[3]
    local moved = q:request("GET", "/newer/20260101080000-" .. e1.id)
    assert.equal(302, moved.status)
    assert.equal(older, moved.headers["location"])
    -- Newer than Entry 3: only two are, so that is the first page.
    local top = q:request("GET", "/newer/20260103080000-" .. e3.id)
    assert.equal(302, top.status)
    assert.equal("/", top.headers["location"])
    assert.equal("/", q:request("GET", "/newer/20990101000000-1").headers["location"]) -- nothing newer
    assert.equal(404, q:request("GET", "/newer/2026-01-04-1").status)
    assert.equal(404, q:request("GET", "/tag/tolls/newer/x").status)
    -- Old numbered pages go to the keyset page that starts there.
    local p = q:request("GET", "/page/2")
    assert.equal(302, p.status)
    assert.equal(older, p.headers["location"])
    assert.equal(404, q:request("GET", "/page/4").status)
    assert.equal(404, q:request("GET", "/page/0").status)
    assert.equal(404, q:request("GET", "/older/2026-01-04-1").status)
    assert.equal(404, q:request("GET", "/older/19990101000000-1").status)
  end)

  it("keeps a page's entries when newer ones are published", function()
    local s = testing.site { plugins = { "theme", "article", "listings" }, settings = { listings = { per_page = 2, front = false } } }
    for i = 1, 5 do
      s.content.create { type = "article", title = "Story " .. i, status = "published", published_at = ("2026-02-0%dT08:00:00Z"):format(i) }
    end
    local older = find(s:request("GET", "/").body, "a.pagination-next")[1].attrs.href
    local before = titles(s:request("GET", older).body)
    for i = 6, 8 do
      s.content.create { type = "article", title = "Story " .. i, status = "published", published_at = ("2026-02-0%dT08:00:00Z"):format(i) }
    end
    assert.same(before, titles(s:request("GET", older).body))
    assert.same({ "Story 3", "Story 2" }, before)
  end)

  -- Follows the links from page to page: Older from the first page to the last, then Newer back
  -- to the first. Returns the pages' addresses and titles both ways.
  local function both_ways(site, first)
    local down, up = {}, {}
    local path = first
    while path do
      local html = site:request("GET", path).body
      down[#down + 1] = { path, titles(html) }
      local a = find(html, "a.pagination-next")[1]
      path = a and a.attrs.href
    end
    path = down[#down][1]
    while path do
      local r = site:request("GET", path)
      assert.equal(200, r.status)
      table.insert(up, 1, { path, titles(r.body) })
      local a = find(r.body, "a.pagination-prev")[1]
      path = a and a.attrs.href
    end
    return down, up
  end

  it("gives each page one address: Newer goes back through the pages Older went through", function()
    local s = testing.site { plugins = { "theme", "article", "listings" }, settings = { listings = { per_page = 3, front = false, most_read = 0 } } }
    for i = 1, 11 do
      s.content.create { type = "article", title = "Story " .. i, status = "published", tags = i % 2 == 0 and { "Even" } or {},
        published_at = ("2026-03-%02dT08:00:00Z"):format(i) }
    end
    for _, first in ipairs({ "/", "/tag/even" }) do
      local down, up = both_ways(s, first)
      assert.same(down, up)
    end
    local down = both_ways(s, "/")
    assert.equal(4, #down)
    assert.same({ "Story 2", "Story 1" }, down[4][2])
    assert.same({ "Story 5", "Story 4", "Story 3" }, down[3][2])
    -- Stories published (one between, one on top) and one withdrawn: the pages that stay keep
    -- their entries, their Newer links name the pages above them now, and an old "newer than"
    -- address sends to the page of those entries now.
    local third = down[3][1]
    s.content.create { type = "article", title = "Story 12", status = "published", published_at = "2026-03-12T08:00:00Z" }
    s.content.create { type = "article", title = "Story 6b", status = "published", published_at = "2026-03-06T12:00:00Z" }
    local e9 = s.content.query { status = "published", tag = "even", limit = 2 }[2]
    assert.equal("Story 8", e9.title)
    s.content.update(e9.id, { status = "draft" })
    local r = s:request("GET", third)
    assert.same({ "Story 5", "Story 4", "Story 3" }, titles(r.body))
    local after = both_ways(s, "/")
    assert.same(after, select(2, both_ways(s, "/")))
    -- (12 11 10 | 9 7 6b | 6 5 4 | 3 2 1 from the first page; the page of Story 5, 4 and 3 stays,
    -- and the page above it shows the three newer than Story 5: 7, 6b, 6)
    local above = find(r.body, "a.pagination-prev")[1].attrs.href
    assert.equal(200, s:request("GET", above).status)
    assert.same({ "Story 7", "Story 6b", "Story 6" }, titles(s:request("GET", above).body))
    assert.matches("list:type:article", r.tags) -- (a publish, an unpublish or a move above bumps it)
    local story7 = s.content.query { status = "published", limit = 1, after = { published_at = "2026-03-08T08:00:00Z", id = 0 } }[1]
    assert.equal("Story 7", story7.title)
    -- (the page above is named by where it starts: its entries do not tag this page)
    assert.is_nil((r.tags .. " "):find("teaser:" .. story7.id .. " ", 1, true), r.tags)
    assert.is_nil(r.tags:find("entry:", 1, true), r.tags)
    local story5 = s.content.query { status = "published", limit = 2, after = { published_at = "2026-03-06T08:00:00Z", id = 1000000000 } }[2]
    assert.equal("Story 5", story5.title)
    local moved = s:request("GET", ("/newer/20260305080000-%d"):format(story5.id))
    assert.equal(302, moved.status)
    assert.equal(above, moved.headers["location"])
  end)

  it("links the page after a front back to the front", function()
    local s = testing.site { plugins = { "theme", "article", "listings" },
      settings = { listings = { per_page = 2 }, theme = { sections = { "World" } } } }
    for i = 1, 5 do
      s.content.create { type = "article", title = "Story " .. i, section = "World", status = "published",
        published_at = ("2026-04-0%dT08:00:00Z"):format(i) }
    end
    -- (the home page's older pages are /latest's, whose first page is the plain list)
    for first, list in pairs({ ["/"] = "/latest", ["/section/world"] = "/section/world" }) do
      local second = find(s:request("GET", first).body, "a.pagination-next")[1].attrs.href
      assert.matches("^" .. list:gsub("%p", "%%%0") .. "/older/%d+%-%d+$", second)
      local html = s:request("GET", second).body
      assert.same({ "Story 3", "Story 2" }, titles(html))
      assert.equal(list, find(html, "a.pagination-prev")[1].attrs.href)
      local last = find(html, "a.pagination-next")[1].attrs.href
      assert.equal(second, find(s:request("GET", last).body, "a.pagination-prev")[1].attrs.href)
    end
  end)

  it("gives a front an Older link only when its list has more than a page, and the list's tags", function()
    local s = testing.site { plugins = { "theme", "article", "listings" },
      settings = { listings = { per_page = 2 }, theme = { sections = { "World" } } } }
    local function older_link(path)
      local r = s:request("GET", path)
      local link = find(r.body, "a.pagination-next")[1]
      return link and link.attrs.href or false, " " .. r.tags .. " "
    end
    for i = 1, 3 do
      s.content.create { type = "article", title = "Story " .. i, section = "World", status = "published",
        published_at = ("2026-06-0%dT08:00:00Z"):format(i) }
      local home, tags = older_link("/")
      local section, section_tags = older_link("/section/world")
      -- (a publish in the list can add the link: the front goes stale with the list)
      assert.truthy(tags:find(" list:type:article ", 1, true), tags)
      assert.truthy(section_tags:find(" list:section:world ", 1, true), section_tags)
      if i <= 2 then
        assert.is_false(home)
        assert.is_false(section)
      else
        -- Older than the second newest (Story 2): the first page's last entry.
        assert.matches("^/latest/older/20260602080000%-%d+$", home)
        assert.matches("^/section/world/older/20260602080000%-%d+$", section)
        assert.same({ "Story 1" }, titles(s:request("GET", section).body))
      end
    end
  end)

  it("serves the fronts with per_page 0 (no Older link), as before", function()
    local s = testing.site { plugins = { "theme", "article", "listings" },
      settings = { listings = { per_page = 0 }, theme = { sections = { "World" } } } }
    for i = 1, 2 do
      s.content.create { type = "article", title = "Story " .. i, section = "World", status = "published",
        published_at = ("2026-06-0%dT08:00:00Z"):format(i) }
    end
    for _, path in ipairs({ "/", "/section/world" }) do
      local r = s:request("GET", path)
      assert.equal(200, r.status, path)
      assert.is_nil(find(r.body, "a.pagination-next")[1], path)
    end
  end)

  it("lists the archive once with the front: the home page's older, newer and numbered pages move to /latest's", function()
    local s = testing.site { plugins = { "theme", "article", "listings" }, settings = { listings = { per_page = 2 } } }
    for i = 1, 5 do
      s.content.create { type = "article", title = "Story " .. i, status = "published", published_at = ("2026-05-0%dT08:00:00Z"):format(i) }
    end
    local front = s:request("GET", "/").body
    local link = find(front, "a.pagination-next")[1]
    assert.equal("Older stories", link.text)
    local older = link.attrs.href
    local cursor = older:match("^/latest/older/(%d+%-%d+)$")
    assert.truthy(cursor, older)
    -- The same page as the front page's "Older stories" and the plain list's "Older".
    assert.equal(older, find(s:request("GET", "/latest").body, "a.pagination-next")[1].attrs.href)
    for from, to in pairs({ ["/older/" .. cursor] = older, ["/newer/" .. cursor] = "/latest/newer/" .. cursor,
        ["/page/2"] = "/latest/page/2", ["/page/1"] = "/" }) do
      local r = s:request("GET", from)
      assert.equal(301, r.status, from)
      assert.equal(to, r.headers["location"], from)
    end
    -- /latest resolves them as before: the old newer/ and numbered addresses to its keyset pages.
    assert.equal("/latest", s:request("GET", "/latest/newer/" .. cursor).headers["location"])
    assert.equal(older, s:request("GET", "/latest/page/2").headers["location"])
    assert.same({ "Story 3", "Story 2" }, titles(s:request("GET", older).body))
    assert.equal(404, s:request("GET", "/older/2026-05-04-1").status)
    assert.equal(404, s:request("GET", "/page/99").status)
  end)

  it("shows a section's entries and marks it current in the navigation", function()
    local html = q:request("GET", "/section/world").body
    assert.equal("World", find(html, "h1")[1].text)
    assert.same({ "Entry 4", "Entry 2" }, titles(html))
    assert.same({ "Entry 1" }, titles(q:request("GET", find(html, "a.pagination-next")[1].attrs.href).body))
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

  it("names a tag on each of its pages, and from an unlisted type's entry when only those carry it", function()
    local html = q:request("GET", "/tag/ports").body
    assert.equal("Tagged: Ports", find(html, "h1")[1].text)
    local older = q:request("GET", find(html, "a.pagination-next")[1].attrs.href).body
    assert.equal("Tagged: Ports", find(older, "h1")[1].text)
    assert.same({ "Entry 1" }, titles(older))
    q.content.create { type = "page", title = "Harbour guide", tags = { "Guides" }, status = "published" }
    local r = q:request("GET", "/tag/guides")
    assert.equal(200, r.status)
    assert.equal("Tagged: Guides", find(r.body, "h1")[1].text)
    assert.same({}, titles(r.body))
    assert.equal(404, q:request("GET", "/tag/none/page/2").status)
    assert.equal(404, q:request("GET", "/tag/none/newer/20260101080000-1").status)
    assert.equal(404, q:request("GET", "/tag/none/older/20260101080000-1").status)
  end)

  it("names a tag as it is spelled after a rename, and not once no published entry carries it", function()
    local id = q.content.create { type = "article", title = "Ferry times", tags = { "Ferries" }, status = "published",
      published_at = "2025-12-01T08:00:00Z", body = "x" }
    assert.equal("Tagged: Ferries", find(q:request("GET", "/tag/ferries").body, "h1")[1].text)
    q.terms.rename("tag", "Ferries", "FERRIES")
    assert.equal("Tagged: FERRIES", find(q:request("GET", "/tag/ferries").body, "h1")[1].text)
    q.content.update(id, { status = "draft" })
    assert.equal(404, q:request("GET", "/tag/ferries").status)
    q.content.update(id, { status = "published" })
    assert.equal("Tagged: FERRIES", find(q:request("GET", "/tag/ferries").body, "h1")[1].text)
    -- The same list at another spelling of its address is not a page of its own.
    assert.equal(200, q:request("GET", "/section/world").status)
    for _, path in ipairs({ "/tag/ferries-", "/tag/-ferries", "/tag/fer--ries", "/section/world-" }) do
      assert.equal(404, q:request("GET", path).status, path)
    end
  end)

  it("shows an author's page with the public bio only", function()
    local html = q:request("GET", "/author/ines").body
    assert.equal("Inês Duarte", find(html, "h1")[1].text)
    assert.equal("Covers ports.", find(find(html, "header.list-header")[1].html, "p")[1].text)
    assert.is_nil(html:find("ines@staff.example", 1, true))
    assert.equal(404, q:request("GET", "/author/nobody").status)
    assert.equal(404, q:request("GET", "/author/ines/page/9").status)
    assert.equal(404, q:request("GET", "/author/ines/older/20200101000000-1").status)
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
