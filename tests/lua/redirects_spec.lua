-- Redirects: the table, the lookup before the router, the ones made by renames, and check.
local testing = require "quire.testing"

describe("quire.redirects", function()
  local q
  setup(function()
    q = testing.site { plugins = { "theme", "article", "listings", "feeds" } }
  end)

  local function publish(title, extra)
    local spec = { type = "article", title = title, body = "Text.", status = "published", published_at = "2024-03-05T10:00:00Z" }
    for k, v in pairs(extra or {}) do spec[k] = v end
    return q.content.create(spec)
  end

  it("answers an old path with its target before the router, cacheably", function()
    local id = publish("Harbour vote")
    q.redirects.add { from = "/2019/05/harbour-vote/", entry = id }
    local r = q:request("GET", "/2019/05/harbour-vote")
    assert.equal(301, r.status)
    assert.equal("/2024/03/harbour-vote", r.headers.location)
    assert.equal("entry:" .. id .. " redirects", r.tags) -- kept by the page cache, dropped by either
    -- The trailing slash and a query ride along.
    assert.equal("/2024/03/harbour-vote?utm=x", q:request("GET", "/2019/05/harbour-vote/?utm=x").headers.location)
    assert.equal(200, q:request("GET", r.headers.location).status)
    -- Only GET and HEAD.
    assert.equal(301, q:request("HEAD", "/2019/05/harbour-vote").status)
    assert.are_not.equal(301, q:request("POST", "/2019/05/harbour-vote").status)
  end)

  it("matches a query only exactly: one plain pair, nothing decoded", function()
    local id = publish("Ferry timetable")
    q.redirects.add { from = "/?p=123", entry = id }
    assert.equal(301, q:request("GET", "/?p=123").status)
    for _, target in ipairs({ "/?p=1234", "/?p=12", "/?p=123&x=1", "/?x=1&p=123", "/?p=%31%32%33", "/?P=123", "/?p=123%00" }) do
      assert.are_not.equal(301, q:request("GET", target).status, target)
    end
    assert.has_error(function() q.redirects.add { from = "/?p=1&q=2", to = "/x" } end)
  end)

  it("refuses bad sources and targets, self-redirects and silent replacement", function()
    for _, bad in ipairs({
      { from = "old", to = "/x" }, { from = "/a b", to = "/x" }, { from = "/", to = "/x" },
      { from = "/x", to = "javascript:alert(1)" }, { from = "/x", to = "//evil.example/" }, { from = "/x", to = "/x/" },
      { from = "/x", to = "/y", status = 307 }, { from = "/x", entry = 999999 },
    }) do
      assert.has_error(function() q.redirects.add(bad) end)
    end
    -- Nor a source the server answers 400 before any redirect (core/http.c qr_http_path_problem),
    -- saying why; the same written as a browser sends it is taken.
    for _, refused in ipairs({ "/50%-off", "/a/./b", "/a/%2e%2e/b", "/a\\b", "/a%00b", "/old/.." }) do
      local ok, err = pcall(q.redirects.add, { from = refused, to = "/x" })
      assert.is_false(ok, refused)
      assert.matches("answers it 400", tostring(err.message or err), 1, true)
    end
    q.redirects.add { from = "/50%25-off", to = "/y" }
    assert.equal(301, q:request("GET", "/50%25-off").status)
    assert.is_true(q.redirects.delete("/50%25-off"))
    q.redirects.add { from = "/once", to = "/y" }
    assert.has_error(function() q.redirects.add { from = "/once/", to = "/z" } end)
    q.redirects.add { from = "/once", to = "/z", status = 302, replace = true }
    local r = q:request("GET", "/once")
    assert.same({ 302, "/z" }, { r.status, r.headers.location })
    assert.is_true(q.redirects.delete("/once"))
    assert.is_nil(q.redirects.delete("/once"))
  end)

  it("never sends a reader to another host from a path's trailing slash", function()
    for _, target in ipairs({ "//evil.example/", "/\\evil.example/", "///evil.example/" }) do
      local loc = q:request("GET", target).headers.location
      assert.is_true(loc == nil or (loc:match("^/[^/\\]") ~= nil), target .. " -> " .. tostring(loc))
    end
  end)

  it("answers 404 at the old URL of an entry that is not public", function()
    local id = q.content.create { type = "article", title = "Embargoed", body = "Text.", status = "draft" }
    q.redirects.add { from = "/?p=77", entry = id }
    assert.equal(404, q:request("GET", "/?p=77").status)
  end)

  it("keeps an entry's old URL when its slug or date changes, without loops or chains", function()
    local id = publish("Budget draft")
    q.content.update(id, { slug = "budget-final" })
    local r = q:request("GET", "/2024/03/budget-draft")
    assert.same({ 301, "/2024/03/budget-final" }, { r.status, r.headers.location })
    q.content.update(id, { published_at = "2024-04-01T08:00:00Z" })
    assert.equal("/2024/04/budget-final", q:request("GET", "/2024/03/budget-draft").headers.location) -- no chain
    assert.equal("/2024/04/budget-final", q:request("GET", "/2024/03/budget-final").headers.location)
    q.content.update(id, { slug = "budget-draft", published_at = "2024-03-05T10:00:00Z" }) -- back again
    assert.equal(200, q:request("GET", "/2024/03/budget-draft").status)
    local problems = q.redirects.check()
    for _, p in ipairs(problems) do assert.is_nil(p.from:find("budget", 1, true), p.from .. " " .. p.problem) end
  end)

  it("moves a page's children with it, each old URL redirected", function()
    local top = q.content.create { type = "page", title = "About", status = "published" }
    local mid = q.content.create { type = "page", title = "Team", status = "published", fields = { parent = top, path = "about" } }
    q.content.create { type = "page", title = "Desk", status = "published", fields = { parent = mid, path = "about/team" } }
    assert.equal(200, q:request("GET", "/about/team/desk").status)
    q.content.update(top, { slug = "who-we-are" })
    assert.equal(200, q:request("GET", "/who-we-are/team/desk").status)
    assert.equal("/who-we-are/team/desk", q:request("GET", "/about/team/desk").headers.location)
    assert.equal("/who-we-are/team", q:request("GET", "/about/team/").headers.location)
    assert.equal("/who-we-are", q:request("GET", "/about").headers.location)
  end)

  it("keeps a renamed tag's list and feed at their old URLs", function()
    publish("Tide tables", { tags = { "Tides" } })
    q.terms.rename("tag", "Tides", "Tidal data")
    assert.equal("/tag/tidal-data", q:request("GET", "/tag/tides").headers.location)
    assert.equal("/tag/tidal-data/feed.xml", q:request("GET", "/tag/tides/feed.xml").headers.location)
    assert.equal(200, q:request("GET", "/tag/tidal-data").status)
    q.terms.rename("tag", "Tidal data", "Tides") -- and back: no loop
    assert.equal(200, q:request("GET", "/tag/tides").status)
  end)

  it("check reports loops, chains and targets that answer 404", function()
    q.redirects.add { from = "/loop-a", to = "/loop-b" }
    q.redirects.add { from = "/loop-b", to = "/loop-a" }
    q.redirects.add { from = "/chain-1", to = "/chain-2" }
    q.redirects.add { from = "/chain-2", to = "/2024/03/budget-draft" }
    q.redirects.add { from = "/dead", to = "/no/such/page" }
    local found = {}
    for _, p in ipairs(q.redirects.check()) do found[p.from] = p.problem end
    assert.equal("loop", found["/loop-a"])
    assert.equal("loop", found["/loop-b"])
    assert.equal("chain", found["/chain-1"])
    assert.is_nil(found["/chain-2"])
    assert.equal("404", found["/dead"])
    -- A source stored before the server refused such paths: it is never reached.
    q._db:exec("INSERT INTO redirects (from_path, to_path, status, source, created_at) VALUES ('/old/./page', '/x', 301, 'manual', '2024-01-01T00:00:00Z')")
    for _, p in ipairs(q.redirects.check()) do found[p.from] = p.problem end
    assert.equal("400", found["/old/./page"])
    assert.is_true(q.redirects.delete("/old/./page")) -- (by its path too)
  end)

  it("keeps every public entry's old URL when its type's permalink pattern changes", function()
    local p, dir = testing.site { plugins = { "theme", "opinion" } }
    local function piece(title, status)
      return p.content.create { type = "opinion", title = title, body = "Text.", status = status,
        published_at = status == "published" and "2024-03-05T10:00:00Z" or nil, fields = { hero_alt = "x" } }
    end
    local live, draft = piece("Keep the ferry", "published"), piece("Unfinished thought", "draft")
    assert.equal(200, p:request("GET", "/opinion/keep-the-ferry").status)
    -- The new pattern appended to site.lua (a later assignment wins), which keeps the rest of
    -- it: the database the site is on among them.
    local function reopen(pattern)
      local f = assert(io.open(dir .. "/site.lua", "a"))
      f:write(('opinion = { permalink = %q }\n'):format(pattern))
      f:close()
      return assert(require("quire").open(dir))
    end
    p = reopen("/comment/{yyyy}/{slug}")
    local r = p.app.request("GET", "/opinion/keep-the-ferry")
    assert.equal(301, r.status)
    assert.equal("/comment/2024/keep-the-ferry", r.headers.location)
    assert.equal(200, p.app.request("GET", r.headers.location).status)
    -- A draft had no public URL: nothing to keep.
    assert.is_nil(p._db:row("SELECT 1 AS x FROM redirects WHERE to_entry = ?", draft))
    -- Opening again with the same pattern changes nothing; changing back moves them back with
    -- no loop (the redirect from the URL that is live again goes).
    p = reopen("/comment/{yyyy}/{slug}")
    assert.equal(1, p._db:value("SELECT count(*) FROM redirects WHERE to_entry = ?", live))
    p = reopen("/opinion/{slug}")
    assert.equal(200, p.app.request("GET", "/opinion/keep-the-ferry").status)
    assert.equal("/opinion/keep-the-ferry", p.app.request("GET", "/comment/2024/keep-the-ferry").headers.location)
    assert.is_truthy(p._db:value("SELECT count(*) FROM audit_log WHERE action = 'type.permalink_changed'") >= 2)
  end)

  it("dates a permalink in the site's time zone, and keeps the old URLs when the zone changes", function()
    local p, dir = testing.site { plugins = { "theme", "article" } }
    -- 23:30 UTC on 31 January is 00:30 on 1 February in Oslo.
    local id = p.content.create { type = "article", title = "Night ferry", body = "Text.", status = "published",
      published_at = "2026-01-31T23:30:00Z" }
    assert.equal(200, p.app.request("GET", "/2026/01/night-ferry").status)
    local f = assert(io.open(dir .. "/site.lua", "a"))
    f:write('timezone = "Europe/Oslo"\n')
    f:close()
    p = assert(require("quire").open(dir))
    local r = p.app.request("GET", "/2026/02/night-ferry")
    assert.equal(200, r.status)
    r = p.app.request("GET", "/2026/01/night-ferry")
    assert.equal(301, r.status)
    assert.equal("/2026/02/night-ferry", r.headers.location)
    -- An entry the zone does not move keeps its URL and gets no redirect.
    local noon = p.content.create { type = "article", title = "Noon ferry", body = "Text.", status = "published",
      published_at = "2026-01-15T12:00:00Z" }
    assert.equal(200, p.app.request("GET", "/2026/01/noon-ferry").status)
    assert.is_nil(p._db:row("SELECT 1 AS x FROM redirects WHERE to_entry = ?", noon))
    assert.equal(1, p._db:value("SELECT count(*) FROM redirects WHERE to_entry = ?", id))
    -- Back to UTC: the January URL is live again, and the February one redirects to it.
    f = assert(io.open(dir .. "/site.lua", "a"))
    f:write('timezone = "UTC"\n')
    f:close()
    p = assert(require("quire").open(dir))
    assert.equal(200, p.app.request("GET", "/2026/01/night-ferry").status)
    assert.equal("/2026/01/night-ferry", p.app.request("GET", "/2026/02/night-ferry").headers.location)
  end)
end)
