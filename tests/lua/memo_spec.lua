-- quire.memo under the content API: memoised reads never outlive a write, whoever made it.
local testing = require "quire.testing"
local quire_mod = require "quire"

describe("memoised reads", function()
  local q, dir, id
  before_each(function()
    q, dir = testing.site()
    id = q.content.create { type = "article", title = "Tide tables", status = "published", fields = { standfirst = "Low water." } }
  end)

  it("hand each caller its own copy", function()
    local e = q.content.get(id)
    e.title, e.fields.standfirst = "changed", "changed"
    e.tags[1] = "changed"
    local again = q.content.get(id)
    assert.equal("Tide tables", again.title)
    assert.equal("Low water.", again.fields.standfirst)
    assert.same({}, again.tags)
  end)

  it("see this connection's writes", function()
    assert.equal("Tide tables", q.content.get(id).title)
    q.content.update(id, { title = "Tide tables for March" })
    assert.equal("Tide tables for March", q.content.get(id).title)
  end)

  it("see other connections' commits, in and out of a request", function()
    assert.equal("Tide tables", q.content.get(id).title)
    local other = assert(quire_mod.open(dir))
    other.content.update(id, { title = "Spring tides" })
    assert.equal("Spring tides", q.content.get(id).title)
    require("quire.core").mkdir(dir .. "/templates")
    local f = assert(io.open(dir .. "/templates/article.mustache", "w"))
    f:write("<h1>{{entry.title}}</h1>")
    f:close()
    local e = q.content.get(id)
    local res = q:request("GET", q.content.url(e))
    assert.equal(200, res.status)
    other.content.update(id, { title = "Neap tides" })
    res = q:request("GET", q.content.url(e))
    assert.truthy(res.body:find("Neap tides", 1, true))
    other._db:close()
  end)

  it("keep lists too: each caller its own copy, until the next write anywhere", function()
    local list = { type = "article", status = "published", limit = 10 }
    local first = q.content.query(list)
    first[1].title, first[1].fields.standfirst = "changed", "changed"
    first[2] = "added"
    local again = q.content.query(list)
    assert.equal(1, #again)
    assert.equal("Tide tables", again[1].title)
    assert.equal("Low water.", again[1].fields.standfirst)
    local other = assert(quire_mod.open(dir))
    local newer = other.content.create { type = "article", title = "Spring tides", status = "published" }
    assert.same({ newer, id }, { q.content.query(list)[1].id, q.content.query(list)[2].id })
    other._db:close()
    -- the same filters given another way are the same list; a bad query still raises
    assert.equal(2, #q.content.query { status = "published", type = { "article" }, limit = 10 })
    assert.has_error(function() q.content.query { limit = "10" } end)
    assert.has_error(function() q.content.query { colour = "red" } end)
  end)

  it("keep nothing read inside a transaction that is rolled back", function()
    assert.is_false(pcall(q.store.transaction, function()
      q.content.update(id, { title = "Never saved" })
      assert.equal("Never saved", q.content.get(id).title)
      error("roll back")
    end))
    assert.equal("Tide tables", q.content.get(id).title)
  end)
end)

describe("memoised lists", function()
  it("give a page built from them the lists' cache tags every time", function()
    local q = testing.site { plugins = { "theme", "article", "listings" } }
    q.content.create { type = "article", title = "Tide tables", status = "published", tags = { "Tides" } }
    local first = q:request("GET", "/tag/tides")
    local again = q:request("GET", "/tag/tides")
    assert.equal(200, again.status)
    assert.equal(first.tags, again.tags)
    assert.truthy(again.tags:find("list:tag:tides", 1, true))
    assert.truthy(again.body:find("Tide tables", 1, true))
  end)
end)

describe("memoised views (site:memo)", function()
  local q, a, b
  before_each(function()
    q = testing.site { plugins = { "theme", "article", "related", "comments" }, settings = { comments = { moderation = "none" } } }
    a = q.content.create { type = "article", title = "Tide tables", status = "published", tags = { "Tides", "Harbour" } }
    b = q.content.create { type = "article", title = "Harbour walls", status = "published", tags = { "Tides", "Harbour" } }
  end)

  local function page()
    local res = q:request("GET", q.content.url(q.content.get(a)))
    assert.equal(200, res.status)
    return res
  end

  it("show an edited related title on the very next request, with the same cache tags", function()
    local first = page()
    assert.truthy(first.body:find("Harbour walls", 1, true))
    local again = page()
    assert.equal(first.tags, again.tags)
    assert.truthy(again.tags:find("teaser:" .. b, 1, true)) -- a card: what it shows of b
    assert.truthy(again.tags:find("comments:" .. b, 1, true))
    q.content.update(b, { title = "Harbour walls to be raised" })
    assert.truthy(page().body:find("Harbour walls to be raised", 1, true))
  end)

  it("show a new approved comment and a related card's new count on the very next request", function()
    local before = page().body
    assert.falsy(before:find("Sandbags at the slipway", 1, true))
    assert.falsy(before:find("1 Comment", 1, true))
    q.comments.create { entry = a, author_name = "Ada", author_email = "ada@example.org", body = "Sandbags at the slipway.", status = "approved" }
    local body = page().body
    assert.truthy(body:find("Sandbags at the slipway", 1, true))
    q.comments.create { entry = b, author_name = "Ada", author_email = "ada@example.org", body = "Walls first.", status = "approved" }
    assert.equal(2, select(2, page().body:gsub("1 Comment<", "")))
  end)

  it("hand each page its own copy of memoised tables, and fragments as strings", function()
    local seen = {}
    q.plugins.hooks:add("filter", "view.entry", "spec", 99, function(view)
      seen[#seen + 1] = view.tags.items[1].name -- the theme's memoised parts, copied per page
      view.tags.items[1].name = "changed"
      seen[#seen + 1] = view.related:match("Harbour walls") -- a rendered fragment, a string
      view.related = "changed"
      return view
    end, { priority = 100 })
    assert.truthy(page().body:find('<a href="/tag/tides" rel="tag">changed</a>', 1, true))
    page()
    -- the second page was built from what the first page's filter saw, not what it changed
    assert.same({ "Tides", "Harbour walls", "Tides", "Harbour walls" }, seen)
  end)
end)

describe("quire.memo.copy", function()
  local copy = require("quire.memo").copy
  it("copies plain tables deeply, keeps read-only proxies and refuses cycles", function()
    local ro = require("quire.sandbox").readonly({ a = 1 }, "x")
    local t = { 1, 2, x = { y = { "z" } }, ro = ro, f = false }
    local c = copy(t)
    assert.same(t, c)
    assert.are_not.equal(t.x.y, c.x.y)
    assert.equal(ro, c.ro)
    local cycle = {}
    cycle.self = cycle
    assert.has_error(function() copy(cycle) end)
  end)

  it("copies big tables whole: long lists, many keys, and both in one table", function()
    for _, n in ipairs({ 255, 256, 257, 5000 }) do
      local t = { name = "n" .. n, nested = {} }
      for i = 1, n do
        t[i] = { i }
        t["k" .. i] = i % 3 == 0 and false or ("v" .. i)
        t.nested[i * 2] = i -- a sparse part, in the hash
      end
      local c = copy(t)
      assert.same(t, c)
      assert.equal(n, #c)
      assert.are_not.equal(t[n], c[n])
      assert.are_not.equal(t.nested, c.nested)
    end
  end)
end)
