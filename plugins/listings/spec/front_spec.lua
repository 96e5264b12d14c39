-- The edited front pages: slots from quire.front (lead, top stories, scheduled), the newest
-- filling the rest, section fronts, the breaking banner, most read, and the cache tags that make
-- a curation change reach exactly the fronts it touches.
local testing = require "quire.testing"
local find = testing.find

describe("front pages", function()
  local q, ids
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "article", "opinion", "listings" },
      settings = { listings = { front_top = 2, front_section_items = 2 }, theme = { sections = { "World", "Money" } } } }
    q.users.create { login = "ines", name = "Inês Duarte" }
    ids = {}
    for n, s in ipairs({ { "article", "World" }, { "article", "Money" }, { "opinion", "World" }, { "article", "World" },
      { "article", "Money" }, { "article", "World" }, { "opinion", "Money" } }) do
      ids[n] = q.content.create { type = s[1], title = "Story " .. n, section = s[2], status = "published", author = "ines",
        published_at = ("2026-01-0%dT08:00:00Z"):format(n), body = "x", fields = { standfirst = "About story " .. n } }
    end
  end)

  local function lead(html) return find(find(html, "article.front-lead")[1].html, "h2")[1].text end
  local function top(html)
    local out = {}
    local block = find(html, "div.front-secondary")[1]
    for _, c in ipairs(block and find(block.html, "article.front-card") or {}) do out[#out + 1] = find(c.html, "h3")[1].text end
    return out
  end

  it("leads with the newest news story, then the next, until an editor sets a slot", function()
    local html = q:request("GET", "/").body
    assert.equal("Story 6", lead(html))
    assert.same({ "Story 5", "Story 4" }, top(html))
    -- The opinion column: the opinion pieces with their writer's name.
    local op = find(find(html, "ul.opinion-list")[1].html, "li")
    assert.equal(2, #op)
    assert.equal("Inês Duarte", find(op[1].html, "span.opinion-author")[1].text)
    q.front.set("home", 1, ids[2])
    q.front.set("home", 3, ids[1])
    html = q:request("GET", "/").body
    assert.equal("Story 2", lead(html))
    assert.same({ "Story 6", "Story 1" }, top(html)) -- slot 2 falls back to the newest not shown
    q.front.clear("home")
    assert.equal("Story 6", lead(q:request("GET", "/").body))
  end)

  it("schedules a slot: it takes over at its time, and its page's tag moves then", function()
    q.front.set("home", 1, ids[1], { starts_at = os.time() + 2 })
    assert.equal("Story 6", lead(q:request("GET", "/").body))
    local rows = q.front.list("home")
    assert.equal("scheduled", rows[1].state)
    assert.equal(0, q.front.due()) -- nothing due yet
    local before = q._db:value("SELECT version FROM cache_tags WHERE tag = 'front:home'")
    local deadline = os.time() + 5
    repeat until os.time() >= deadline or q.front.due() > 0
    assert.equal("Story 1", lead(q:request("GET", "/").body))
    assert.truthy(q._db:value("SELECT version FROM cache_tags WHERE tag = 'front:home'") > before)
    q.front.clear("home")
  end)

  it("tags each front with its own page, so a change bumps only that front", function()
    local home = q:request("GET", "/")
    local world = q:request("GET", "/section/world")
    assert.matches("front:home", home.tags)
    assert.is_nil(home.tags:find("front:section:world", 1, true))
    assert.matches("front:section:world", world.tags)
    assert.is_nil(world.tags:find("front:home", 1, true))
    local v = function(t) return q._db:value("SELECT version FROM cache_tags WHERE tag = ?", t) end
    local h0, w0 = v("front:home"), v("front:section:world")
    q.front.set("section:World", 1, ids[1])
    assert.equal(h0, v("front:home"))
    assert.truthy(v("front:section:world") > (w0 or 0))
    local html = q:request("GET", "/section/world").body
    assert.equal("World", find(html, "h1")[1].text)
    assert.equal("Story 1", lead(html))
    q.front.clear("section:world")
  end)

  it("refuses what is not a front, a slot or a story, naming it", function()
    local function err(fn, ...)
      local ok, e = pcall(fn, ...)
      assert.is_false(ok)
      return e.errors[1].field .. " " .. e.errors[1].message
    end
    assert.matches("no section \"Sport\"", err(q.front.set, "section:Sport", 1, ids[1]))
    assert.matches("^page must be home", err(q.front.set, "front", 1, ids[1]))
    assert.matches("^slot must be", err(q.front.set, "home", 21, ids[1]))
    assert.matches("^entry there is no entry 999", err(q.front.set, "home", 1, 999))
    local draft = q.content.create { type = "article", title = "Draft", status = "draft" }
    assert.matches("is draft", err(q.front.set, "home", 1, draft))
    assert.matches("^ends_at is required", err(q.front.breaking, "Storm"))
    assert.matches("^link must be", err(q.front.breaking, "Storm", { ends_at = "+1h", link = "javascript:alert(1)" }))
    assert.matches("^ends_at may be at most 30 days", err(q.front.breaking, "Storm", { ends_at = "+40d" }))
  end)

  it("shows a breaking-news banner on every page until it ends or is taken down", function()
    q.front.breaking("Harbour closed by storm", { ends_at = "+1h", link = "/section/world" })
    for _, path in ipairs({ "/", "/section/money", q.content.url(q.content.get(ids[1])) }) do
      local r = q:request("GET", path)
      local b = find(find(r.body, "div.breaking")[1].html, "a")[1]
      assert.equal("Harbour closed by storm", b and b.text, path)
      assert.matches("front:breaking", r.tags)
    end
    assert.equal(1, q.front.breaking_off())
    assert.equal(0, #find(q:request("GET", "/").body, "div.breaking"))
  end)

  it("counts what came due before the first look ever (no server ran), once: a banner that ended", function()
    local s = testing.site { name = "First Look", plugins = { "theme", "article", "listings" } }
    local db = s._db
    local function ago(n) return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - n) end
    s.front.breaking("Gone by now", { ends_at = "+1h" })
    -- (an hour on: it ended a minute ago, and nothing has looked since it was set)
    db:exec("UPDATE front_breaking SET starts_at = ?, created_at = ?, ends_at = ?", ago(7200), ago(7200), ago(60))
    assert.is_nil(db:value("SELECT value FROM settings WHERE key = 'front.checked_at'"))
    local before = db:value("SELECT version FROM cache_tags WHERE tag = 'front:breaking'")
    assert.equal(1, s.front.due())
    assert.truthy(db:value("SELECT version FROM cache_tags WHERE tag = 'front:breaking'") > before)
    assert.truthy(db:value("SELECT value FROM settings WHERE key = 'front.checked_at'"))
    assert.equal(0, s.front.due())
  end)

  it("ranks the most read stories from counted views, the section's on its pages", function()
    -- Nothing read yet: the sidebar shows the latest instead of an empty column.
    assert.equal("Latest", find(q:request("GET", "/").body, "h2.most-read-title")[1].text)
    for n, times in pairs({ [2] = 3, [5] = 2, [1] = 1 }) do
      for c = 1, times do assert.is_true(q.front.view(ids[n], "reader-" .. c)) end
    end
    assert.is_false(q.front.view(ids[2], "reader-1")) -- once per reader and story in the window
    assert.is_true(q.front.rank())
    assert.is_false(q.front.rank()) -- no change, no bump
    local html = q:request("GET", "/").body
    assert.equal("Most read", find(html, "h2.most-read-title")[1].text)
    local items = find(find(html, "ol.most-read-list")[1].html, "a")
    assert.same({ "Story 2", "Story 5", "Story 1" }, { items[1].text, items[2].text, items[3].text })
    html = q:request("GET", "/section/money").body
    assert.equal("Most read in Money", find(html, "h2.most-read-title")[1].text)
    assert.equal(2, #find(find(html, "ol.most-read-list")[1].html, "a"))
    -- A change in one section's ranking bumps that ranking (and the site's), not the others'.
    local v = function(t) return q._db:value("SELECT version FROM cache_tags WHERE tag = ?", t) end
    local world, money = v("most-read:section:world"), v("most-read:section:money")
    for c = 1, 4 do q.front.view(ids[5], "money-reader-" .. c) end
    assert.is_true(q.front.rank())
    assert.equal(world, v("most-read:section:world"))
    assert.truthy(v("most-read:section:money") > money)
  end)

  it("counts a view from the story's pixel, never cached", function()
    local url = q.content.url(q.content.get(ids[4]))
    local pixel = find(q:request("GET", url).body, "img.view-pixel")[1].attrs.src
    assert.equal("/views.gif?id=" .. ids[4], pixel)
    local r = q:request("GET", pixel, { remote = "192.0.2.7" })
    assert.equal(200, r.status)
    assert.equal("image/gif", r.headers["content-type"])
    assert.truthy(r.private)
    assert.equal(1, q._db:value("SELECT sum(count) FROM entry_views WHERE entry_id = ?", ids[4]))
    assert.equal(200, q:request("GET", "/views.gif?id=x", { remote = "192.0.2.8" }).status) -- a pixel, counting nothing
    assert.equal(200, q:request("GET", "/views.gif?id=999999", { remote = "192.0.2.8" }).status)
    assert.is_nil(q._db:value("SELECT sum(count) FROM entry_views WHERE entry_id = 999999"))
  end)
end)
