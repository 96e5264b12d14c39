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

  -- (Entries name their terms by id; the names come from a cache of the terms table.)
  it("name an entry's terms as they are: in position order, after a rename here or elsewhere, and in a transaction", function()
    local pier = q.content.create { type = "article", title = "Pier", status = "published", section = "Coast",
      tags = { "Tides", "Boats", "Harbour" } }
    local function terms_of(e) return { e.section, table.concat(e.tags, "|") } end
    assert.same({ "Coast", "Tides|Boats|Harbour" }, terms_of(q.content.get(pier)))
    q.content.update(pier, { tags = { "Harbour", "Tides", "Boats" } })
    assert.same({ "Coast", "Harbour|Tides|Boats" }, terms_of(q.content.get(pier)))
    assert.same({ "Coast", "Harbour|Tides|Boats" }, terms_of(q.content.teasers(q.content.query, { tag = "Tides" })[1]))
    q.terms.rename("tag", "Tides", "Spring tides")
    assert.same({ "Coast", "Harbour|Spring tides|Boats" }, terms_of(q.content.query({ tag = "Harbour" })[1]))
    local other = assert(quire_mod.open(dir))
    other.terms.rename("section", "Coast", "Shore")
    assert.same({ "Shore", "Harbour|Spring tides|Boats" }, terms_of(q.content.teasers(q.content.get, pier)))
    -- a rename inside a transaction is seen by its reads, and not after it is rolled back
    local inside
    assert.is_false(pcall(q.store.transaction, function()
      q._db:exec("UPDATE terms SET name = 'Neap tides' WHERE taxonomy = 'tag' AND name = 'Spring tides'")
      inside = terms_of(q.content.query({ tag = "Harbour" })[1])
      error("roll back")
    end))
    assert.same({ "Shore", "Harbour|Neap tides|Boats" }, inside)
    assert.same({ "Shore", "Harbour|Spring tides|Boats" }, terms_of(q.content.query({ tag = "Harbour" })[1]))
    -- a write from outside quire, naming no tag: seen too
    q._db:exec("UPDATE terms SET name = 'Sea front' WHERE taxonomy = 'section' AND name = 'Shore'")
    assert.same({ "Sea front", "Harbour|Spring tides|Boats" }, terms_of(q.content.get(pier)))
    other._db:close()
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

-- Values name the cache tags they were read from; a commit drops only those whose tags it bumped
-- (or everything, when it names none). Each kind of memoised value is read, changed by another
-- connection (as another node or a CLI command would), and read again: a value kept past the
-- write that changed it fails here. Runs on PostgreSQL too (QUIRE_TEST_DATABASE).
describe("memoised reads, dropped by cache tag", function()
  local memo_mod = require "quire.memo"
  local PNG = "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x04\x00\x00\x00\x04\x08\x02\x00\x00\x00"
    .. "\x26\x93\x09\x29\x00\x00\x00\x10\x49\x44\x41\x54\x78\x9c\x63\x38\x21\x27\x07\x47\x0c\xc4\x71\x00\xb1\x63\x10\x41\x3b\x4b"
    .. "\x63\x82\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82"
  local q, dir, other, a, b
  before_each(function()
    q, dir = testing.site { plugins = { "theme", "article" } }
    a = q.content.create { type = "article", title = "Tide tables", status = "published", tags = { "Tides", "Harbour" },
      section = "Coast", published_at = "2026-03-01T10:00:00Z" }
    b = q.content.create { type = "article", title = "Harbour walls", status = "published", tags = { "Tides", "Harbour" },
      section = "Coast", published_at = "2026-03-03T10:00:00Z" }
    other = assert(quire_mod.open(dir))
  end)
  after_each(function() other._db:close() end)

  -- statements(fn) -> what fn read from the store, and fn's result.
  local function statements(fn)
    local before = q._db:statements()
    local r = fn()
    return q._db:statements() - before, r
  end

  it("keep a value through a write that did not touch it, at the cost of reading the moved tags", function()
    assert.equal("Tide tables", q.content.get(a).title)
    assert.equal(0, (statements(function() return q.content.get(a) end)))
    other.content.update(b, { body = "Raised by a metre." })
    local n, e = statements(function() return q.content.get(a) end)
    assert.equal("Tide tables", e.title)
    assert.equal(1, n) -- the tags moved since the last look; the entry itself was kept
    assert.equal("Raised by a metre.", q.content.get(b).body)
  end)

  it("keep a card through an edit of its body alone, and drop it at any other", function()
    local function card() return q.content.teasers(q.content.get, b) end
    assert.equal("Harbour walls", card().title)
    other.content.update(b, { body = "Raised by a metre." })
    local n, c = statements(card)
    assert.equal(1, n) -- the moved tags only: a card holds no body
    assert.is_nil(c.body)
    other.content.update(b, { title = "Harbour walls raised" })
    assert.equal("Harbour walls raised", card().title)
    other.content.update(b, { fields = { standfirst = "A metre higher." } })
    assert.equal("A metre higher.", card().fields.standfirst)
    other.content.update(b, { tags = { "Walls" } })
    assert.same({ "Walls" }, card().tags)
    other.content.update(b, { status = "draft" })
    assert.equal("draft", card().status)
  end)

  it("drop entries by id and by slug, and a slug not found when it is taken", function()
    assert.equal("Tide tables", q.content.get(a).title)
    assert.equal(a, q.content.get({ type = "article", slug = "tide-tables" }).id)
    assert.is_nil(q.content.get({ type = "article", slug = "spring-tides" }))
    other.content.update(a, { title = "Spring tides", slug = "spring-tides" })
    assert.equal("Spring tides", q.content.get(a).title)
    assert.equal(a, q.content.get({ type = "article", slug = "spring-tides" }).id)
    assert.is_nil(q.content.get({ type = "article", slug = "tide-tables" }))
    other.content.update(a, { body = "Only the body." }) -- bumps entry:ID, not its teaser
    assert.equal("Only the body.", q.content.get(a).body)
    other.content.update(a, { tags = { "Harbour" } }) -- the terms, read with the entry
    assert.same({ "Harbour" }, q.content.get(a).tags)
  end)

  it("drop lists when an entry joins, leaves or changes, and keep them for writes elsewhere", function()
    local list = { type = "article", status = "published", tag = "Tides", limit = 10 }
    assert.equal(2, #q.content.query(list))
    local c = other.content.create { type = "article", title = "Neap tides", status = "published", tags = { "Tides" } }
    assert.equal(3, #q.content.query(list))
    other.content.update(b, { body = "A body the list holds." })
    local found
    for _, e in ipairs(q.content.query(list)) do if e.id == b then found = e.body end end
    assert.equal("A body the list holds.", found)
    other.content.update(c, { status = "draft" })
    assert.equal(2, #q.content.query(list))
    -- a draft in another tag moves nothing in this list: kept
    local d = other.content.create { type = "article", title = "Dredging", status = "draft", tags = { "Port" } }
    assert.equal(1, (statements(function() return q.content.query(list) end)))
    other.content.update(d, { tags = { "Tides" }, status = "published" })
    assert.equal(3, #q.content.query(list))
  end)

  it("drop neighbours when an entry is published between two others", function()
    local prev = q.content.neighbours(b)
    assert.equal(a, prev.id)
    local mid = other.content.create { type = "article", title = "Between", status = "published", published_at = "2026-03-02T10:00:00Z" }
    assert.equal(mid, q.content.neighbours(b).id)
    other.content.update(mid, { published_at = "2026-02-01T10:00:00Z" })
    assert.equal(a, q.content.neighbours(b).id)
  end)

  it("drop related lists when a new entry shares the tags, or the entry's tags change", function()
    local ids = function(list) local out = {} for i, e in ipairs(list) do out[i] = e.id end table.sort(out) return out end
    assert.same({ b }, ids(q.content.related(a)))
    local c = other.content.create { type = "article", title = "Tides and walls", status = "published", tags = { "Tides", "Harbour" },
      published_at = "2026-03-02T10:00:00Z" }
    assert.same({ b, c }, ids(q.content.related(a)))
    other.content.update(a, { tags = { "Inland" } })
    local again = ids(q.content.related(a))
    for _, id in ipairs(again) do assert.are_not.equal(c, id) end
    other.content.update(c, { title = "Tidal walls renamed" })
    other.content.update(a, { tags = { "Tides", "Harbour" } })
    for _, e in ipairs(q.content.related(a)) do if e.id == c then assert.equal("Tidal walls renamed", e.title) end end
  end)

  it("drop front slots, banners and most-read rankings", function()
    local function lead() local s = q.front.resolve("home", 1)[1] return s and s.entry.id end
    q.front.banner()
    assert.is_nil(q.front.banner())
    lead()
    other.front.set("home", 1, a)
    assert.equal(a, lead())
    other.front.set("home", 1, b)
    assert.equal(b, lead())
    other.front.breaking("Harbour closed", { ends_at = "+2h" })
    assert.equal("Harbour closed", q.front.banner().text)
    other.front.breaking_off()
    assert.is_nil(q.front.banner())
    assert.same({}, q.front.most_read())
    other.front.view(a, "reader-1")
    other.front.view(a, "reader-2")
    other.front.rank()
    local top = q.front.most_read()
    assert.equal(1, #top)
    assert.equal(a, top[1].entry.id)
    assert.equal(2, top[1].views)
  end)

  it("drop media rows, comment counts, users, redirects and content keys", function()
    local path = dir .. "/red.png"
    local f = assert(io.open(path, "wb"))
    f:write(PNG)
    f:close()
    local m = q.media.add(path, { alt = "Red" })
    assert.equal("Red", q.media.picture(m.id).alt)
    other.media.update(m.id, { alt = "Crimson" })
    assert.equal("Crimson", q.media.picture(m.id).alt)

    assert.equal(0, q.comments.count(a))
    other.comments.create { entry = a, author_name = "Ada", author_email = "ada@example.org", body = "Sandbags.", status = "approved" }
    assert.equal(1, q.comments.count(a))

    local u = q.users.create { login = "ada", role = "author" }
    assert.equal("author", q.users.get(u).role)
    assert.equal("author", q.users.get("ada").role)
    other.users.set_role(u, "editor")
    assert.equal("editor", q.users.get(u).role)
    assert.equal("editor", q.users.get("ada").role)
    other.users.set_disabled(u, true)
    assert.truthy(q.users.get(u).disabled == 1 or q.users.get(u).disabled == true)

    assert.is_nil(q.redirects.lookup("/old-tides", ""))
    other.redirects.add { from = "/old-tides", to = "/tide-tables" }
    assert.equal(301, q.redirects.lookup("/old-tides", ""))
    other.redirects.delete("/old-tides")
    assert.is_nil(q.redirects.lookup("/old-tides", ""))

    local keys, other_keys = require("quire.api_keys").new(q, q._site), require("quire.api_keys").new(other, other._site)
    local _, secret = other_keys.add("app", { content = true })
    assert.equal("app", keys.content_key(secret).name)
    other_keys.revoke("app")
    assert.is_nil(keys.content_key(secret))
  end)

  it("drop everything after a commit that names no tag, or names quire:all", function()
    assert.equal("Tide tables", q.content.get(a).title)
    -- written beside the content API (a script, psql): no tag bumped
    other._db:exec("UPDATE entries SET title = 'Written raw' WHERE id = ?", a)
    assert.equal("Written raw", q.content.get(a).title)
    -- a raw write in a commit that bumps other tags too is caught only by quire:all (imports bump it)
    other.store.transaction(function()
      other._db:exec("UPDATE entries SET title = 'Imported' WHERE id = ?", a)
      other.content.update(b, { body = "Imported too." })
      other._site.bump({ [memo_mod.ALL] = true })
    end)
    assert.equal("Imported", q.content.get(a).title)
  end)

  it("keep nothing from a transaction and count what changes dropped", function()
    local memo = q._site.memo
    q.content.get(a)
    q.content.get(b)
    local before = memo.stats()
    other.content.update(b, { title = "Harbour walls, raised" })
    q.content.get(a)
    local after = memo.stats()
    assert.equal(before.selective + 1, after.selective)
    assert.equal(before.all, after.all)
    assert.truthy(after.dropped > before.dropped)
  end)
end)

-- Plugin views (site:memo) and the Content API's bodies and entry JSON are kept by cache tag
-- too: through writes that do not touch them, and no further. A probe plugin counts how often
-- each value is built (its module state: what no tag names, for the test only) and shows what
-- its reads found; another connection writes. Runs on PostgreSQL too (QUIRE_TEST_DATABASE).
describe("plugin views and API bodies, dropped by cache tag", function()
  local core = require "quire.core"
  local json = require "quire.json"
  local memo_mod = require "quire.memo"
  local PNG = "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x04\x00\x00\x00\x04\x08\x02\x00\x00\x00"
    .. "\x26\x93\x09\x29\x00\x00\x00\x10\x49\x44\x41\x54\x78\x9c\x63\x38\x21\x27\x07\x47\x0c\xc4\x71\x00\xb1\x63\x10\x41\x3b\x4b"
    .. "\x63\x82\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82"
  local PROBE = [[
return quire.plugin {
  name = "probe", version = "1.0", requires = { "theme" },
  setup = function(site)
    local builds = {}
    local function count(k) builds[k] = (builds[k] or 0) + 1 return builds[k] end
    -- The body shows the author's role, the hero's alt text and the section: reads of a user,
    -- a media row and the entry's term.
    site:filter("view.body", function(body, e)
      local u = e.author_id and quire.users.get(e.author_id)
      local pic = e.fields and e.fields.hero_media and quire.media.picture(e.fields.hero_media)
      body.html = (body.html or "") .. ("<p>role=%s alt=%s section=%s built=%d</p>"):format(
        u and u.role or "-", pic and pic.alt or "-", e.section or "-", count("body" .. e.id))
      return body
    end)
    local function card(e, label)
      local u = e.author_id and quire.users.get(e.author_id)
      return { text = ("%s: %s by %s (%s) #%d"):format(label, e.title, u and u.login or "-", u and u.role or "-", count("card" .. e.id .. label)) }
    end
    site:route("GET", "/probe/{id:int}", function(req, res)
      local e = quire.content.get(math.tointeger(req.params.id))
      res:cache_tags { "probe" }
      return table.concat({
        site:memo("card", card, e, req.query.label or "Card").text,
        site:memo("clock", function() return os.date("!%Y") .. " #" .. count("clock") end),
        site:memo("now", function() return quire.time.now():sub(1, 4) .. " #" .. count("now") end),
        site:memo("view", function(v) return v.n .. " #" .. count("view") end, { n = e.id }),
        site:memo({ key = "named", tags = { "probe:named" } }, function(v) return v.n .. " #" .. count("named") end, { n = 1 }),
        site:memo("count", function()
          return quire.content.count { type = "article", status = "published" } .. " #" .. count("count")
        end),
        site:memo("gone", function() return tostring(quire.content.get(999999)) .. " #" .. count("gone") end),
        site:memo("token", function() return quire.tokens.sign("probe", "x", 3600):sub(1, 4) .. " #" .. count("token") end),
      }, "\n")
    end)
    -- Arguments are part of the key, strings with their length (no two lists of them collide).
    site:route("GET", "/probe-args", function()
      local function echo(...) return table.concat({ ... }, "|") end
      local e = quire.content.get(1)
      local long = string.rep("x", 200)
      local function count(l) return #l end
      return table.concat({ site:memo("args", echo, "a\0sb"), site:memo("args", echo, "a", "b"), site:memo("args", echo, 1.5),
        site:memo("args", echo, 1), site:memo("args", echo, "1"), #site:memo("args", echo, long), #site:memo("args", echo, long .. "y"),
        site:memo("list", count, { e }), site:memo("list", count, { e, e }), site:memo("list", count, {}) }, " ")
    end)
    -- Tables that are not entries are keyed by their content: two tables holding different
    -- things never share a value (a preview's view and the public one), two holding the same do.
    site:route("GET", "/probe-tables", function()
      local function show(v) return (v.title or "-") .. "/" .. (v.status or "-") .. " #" .. count("show" .. tostring(v.title)) end
      local draft = { entry = { id = -7, title = "Draft", body = "unsaved" }, status = "preview" }
      local public = { entry = { id = -7, title = "Draft", body = "saved" }, status = "preview" }
      local same = {}
      same.status = "preview"
      same.entry = { body = "saved", title = "Draft", id = -7 }
      local function view(v) return v.entry.body .. " #" .. count("view" .. v.entry.body) end
      local big = {}
      for i = 1, 5000 do big[i] = i end
      local deep = {}
      for _ = 1, 20 do deep = { deep } end
      local errs = {}
      -- (each twice: run both times, as nothing can name such an argument, and never an error)
      local function ran(v) return "ran #" .. count("bad" .. tostring(v)) end
      for _, arg in ipairs { setmetatable({}, {}), { inner = { settings = setmetatable({}, {}) } }, big, deep, { co = coroutine.create(print) } } do
        site:memo("bad", ran, arg)
        errs[#errs + 1] = site:memo("bad", ran, arg)
      end
      -- Two functions are two keys; json null is a value like any other.
      local function f1() return 1 end
      local function f2() return 2 end
      errs[#errs + 1] = site:memo("fn", function(o) return tostring(o.fmt()) end, { fmt = f1 })
        .. site:memo("fn", function(o) return tostring(o.fmt()) end, { fmt = f2 })
        .. site:memo("fn2", function(f) return tostring(f()) end, f1) .. site:memo("fn2", function(f) return tostring(f()) end, f2)
      errs[#errs + 1] = site:memo("null", function(o) return "null #" .. count("null") end, { v = quire.json.null })
        .. " " .. site:memo("null", function(o) return "null #" .. count("null") end, { v = quire.json.null })
      return table.concat({
        site:memo("t", show, { title = "A", status = "draft" }), site:memo("t", show, { title = "B", status = "published" }),
        site:memo("t", show, { status = "draft", title = "A" }),
        site:memo({ key = "n", tags = { "probe:n" } }, view, draft), site:memo({ key = "n", tags = { "probe:n" } }, view, public),
        site:memo({ key = "n", tags = { "probe:n" } }, view, same),
        site:memo("nested", function(v) return v[1][1] end, { { "x" } }), site:memo("nested", function(v) return v[1][1] end, { { "y" } }),
        site:memo("keys", function(v) return tostring(v[1] or v["1"]) end, { "int" }),
        site:memo("keys", function(v) return tostring(v[1] or v["1"]) end, { ["1"] = "str" }),
      }, "\n") .. "\n" .. table.concat(errs, "\n")
    end)
    -- A value computed and not kept (its class, "once", read once per key), kept, then found:
    -- each is the caller's own copy, so a caller changing it changes no later call's value.
    site:route("GET", "/probe-mutate", function()
      local function fresh(i) return { n = i, list = { i }, built = count("mutate" .. i) } end
      for i = 1, 64 do site:memo("once\0" .. i, fresh, i) end
      local out = {}
      for _ = 1, 3 do -- not kept (a ghost), kept at its second miss, found
        local v = site:memo("once\0x", fresh, 0)
        out[#out + 1] = v.n .. "," .. v.list[1] .. " #" .. v.built
        v.n, v.list[1] = "changed", "changed"
      end
      return table.concat(out, " ")
    end)
    site:route("GET", "/probe-errors", function()
      local out = {}
      for _, call in ipairs {
        function() site:memo({ key = "k", tags = "entry:1" }, tostring) end,
        function() site:memo({ key = "k", tags = { "" } }, tostring) end,
        function() site:memo({ tags = {} }, tostring) end,
      } do out[#out + 1] = select(2, pcall(call)) end
      return table.concat(out, "\n")
    end)
  end,
}
]]
  local q, dir, other, a, b, u, m
  before_each(function()
    local plugins = testing.temp_dir("quire-probe")
    core.mkdir(plugins .. "/probe")
    local f = assert(io.open(plugins .. "/probe/plugin.lua", "w"))
    f:write(PROBE)
    f:close()
    q, dir = testing.site { plugins = { "theme", "article", "probe" }, plugin_path = { plugins },
      settings = { api = { content = "open" } } }
    f = assert(io.open(dir .. "/red.png", "wb"))
    f:write(PNG)
    f:close()
    m = q.media.add(dir .. "/red.png", { alt = "Red" })
    u = q.users.create { login = "ada", role = "author" }
    a = q.content.create { type = "article", title = "Tide tables", status = "published", section = "Coast", author = u,
      body = "High water at noon.", fields = { hero_media = m.id }, published_at = "2026-03-01T10:00:00Z" }
    b = q.content.create { type = "article", title = "Harbour walls", status = "published", section = "Port",
      body = "Walls.", published_at = "2026-03-03T10:00:00Z" }
    q.tokens.sign("probe", "x") -- (the site's signing key is made at its first use: a write)
    other = assert(quire_mod.open(dir))
  end)
  after_each(function() other._db:close() end)

  local function probe(id, label)
    local r = q:request("GET", "/probe/" .. id .. (label and "?label=" .. label or ""))
    assert.equal(200, r.status)
    local lines = {}
    for line in r.body:gmatch("[^\n]+") do lines[#lines + 1] = line end
    return { card = lines[1], clock = lines[2], now = lines[3], view = lines[4], named = lines[5], count = lines[6],
      gone = lines[7], token = lines[8], tags = r.tags }
  end
  local function body_of(id, query)
    local r = q:request("GET", "/api/content/v1/entries/" .. id .. (query or ""))
    assert.equal(200, r.status)
    return json.decode(r.body).entries[1].body_html, r.tags
  end

  it("keep a plugin's view through unrelated writes, drop it at a write to what it was given or read", function()
    local first = probe(a)
    assert.equal("Card: Tide tables by ada (author) #1", first.card)
    assert.equal("2 #1", first.count:gsub("%s", ""):gsub("#", " #"))
    assert.truthy(first.tags:find("probe:named", 1, true)) -- named tags go to the page as reads' tags do
    assert.truthy(first.tags:find("entry:" .. a, 1, true))
    assert.same(first, probe(a)) -- nothing written: all kept, the page tagged the same
    -- another story's body: only what cannot say what it depends on goes
    other.content.update(b, { body = "Walls raised." })
    local after = probe(a)
    assert.equal("Card: Tide tables by ada (author) #1", after.card)
    assert.equal(first.named, after.named)
    assert.equal(first.count, after.count)
    assert.equal(first.tags, after.tags)
    assert.truthy(after.clock:find("#2$")) -- read the clock (os.date)
    assert.truthy(after.now:find("#2$")) -- read the clock (quire.time.now)
    assert.truthy(after.view:find("#2$")) -- given a table and read nothing: no tag at all
    assert.truthy(after.gone:find("^nil #2$")) -- looked for an entry that was not there
    assert.truthy(after.token:find("#2$")) -- signed a token that expires
    -- the arguments are part of the key: another label is another value, both kept
    assert.equal("Teaser: Tide tables by ada (author) #1", probe(a, "Teaser").card)
    assert.equal("Card: Tide tables by ada (author) #1", probe(a).card)
    -- the entry it was given, the user it read, the tag it named, the list it counted
    other.content.update(a, { title = "Spring tides" })
    assert.equal("Card: Spring tides by ada (author) #2", probe(a).card)
    other.users.set_role(u, "editor")
    assert.equal("Card: Spring tides by ada (editor) #3", probe(a).card)
    assert.equal(first.named, probe(a).named)
    other.cache.bump { "probe:named" }
    assert.equal("1 #2", probe(a).named)
    other.content.create { type = "article", title = "Neap tides", status = "published" }
    assert.truthy(probe(a).count:find("^3 #"))
    -- an import (quire:all) drops everything
    other.cache.bump { memo_mod.ALL }
    assert.equal("Card: Spring tides by ada (editor) #4", probe(a).card)
  end)

  it("key values by their arguments, and say what is wrong with a memo call", function()
    assert.equal("a\0sb a|b 1.5 1 1 200 201 1 2 0", q:request("GET", "/probe-args").body)
    local errs = q:request("GET", "/probe-errors").body
    assert.truthy(errs:find("plugin 'probe': memo{ key =, tags = } takes a list of at most 64 cache tags, or false", 1, true))
    assert.truthy(errs:find("plugin 'probe': memo tag 1 is not a cache tag (a string of 1 to 200 bytes)", 1, true))
    assert.truthy(errs:find("plugin 'probe': memo(key, fn, ...) takes a string key (or { key =, tags = }) and a function", 1, true))
  end)

  it("hand out copies of values not kept, kept and found: no caller's change is seen by the next", function()
    assert.equal("0,0 #1 0,0 #2 0,0 #2", q:request("GET", "/probe-mutate").body)
  end)

  it("key a table argument by its content, and run fn unkept for one that cannot be keyed", function()
    local r = q:request("GET", "/probe-tables")
    assert.equal(200, r.status)
    local lines = {}
    for line in r.body:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal("A/draft #1", lines[1])
    assert.equal("B/published #1", lines[2]) -- another table: its own value
    assert.equal("A/draft #1", lines[3]) -- the same content, added in another order: kept
    assert.equal("unsaved #1", lines[4])
    assert.equal("saved #1", lines[5]) -- with tags named too: not the other view's value
    assert.equal("saved #1", lines[6])
    assert.equal("x", lines[7])
    assert.equal("y", lines[8]) -- nested tables count
    assert.equal("int", lines[9])
    assert.equal("str", lines[10]) -- a key 1 and a key "1" differ
    for i = 11, 15 do assert.equal("ran #2", lines[i]) end -- not kept, no error
    assert.equal("1212", lines[16])
    assert.equal("null #1 null #1", lines[17])
  end)

  it("keep the API's body of entry N through a write to M, drop it at a write to N or what its body shows", function()
    local body, tags = body_of(a)
    assert.truthy(body:find("High water at noon.", 1, true))
    assert.truthy(body:find("role=author alt=Red section=Coast built=1", 1, true))
    assert.truthy(tags:find("media:" .. m.id, 1, true)) -- the body's reads tag the answer
    assert.equal(body, (body_of(a)))
    local list = "?fields=id,body_html"
    local r = q:request("GET", "/api/content/v1/entries" .. list)
    assert.truthy(r.body:find("built=1", 1, true))
    other.content.update(b, { title = "Harbour walls raised", body = "Raised." })
    local kept, kept_tags = body_of(a)
    assert.equal(body, kept) -- built once: kept through the write to b
    assert.equal(tags, kept_tags) -- and the answer still carries the body's tags
    assert.truthy(body_of(b):find("Raised.", 1, true))
    other.content.update(a, { body = "Low water at six." })
    body = body_of(a)
    assert.truthy(body:find("Low water at six.", 1, true))
    assert.truthy(body:find("built=2", 1, true))
    other.terms.rename("section", "Coast", "Shore")
    assert.truthy(body_of(a):find("section=Shore built=3", 1, true))
    other.media.update(m.id, { alt = "Crimson" })
    assert.truthy(body_of(a):find("alt=Crimson section=Shore built=4", 1, true))
    other.users.set_role(u, "editor")
    assert.truthy(body_of(a):find("role=editor alt=Crimson section=Shore built=5", 1, true))
    -- entry JSON of another shape shares the body; a list shows the new one too
    assert.truthy(body_of(a, "?fields=id,body_html"):find("role=editor alt=Crimson", 1, true))
    r = q:request("GET", "/api/content/v1/entries" .. list)
    assert.truthy(r.body:find("role=editor alt=Crimson section=Shore built=5", 1, true))
    other.cache.bump { memo_mod.ALL }
    assert.truthy(body_of(a):find("built=6", 1, true))
  end)
end)

-- The memo's own bookkeeping, on a memo of a few values over a real store: two generations (a
-- value read again outlives many read once), a tag index built only when a change comes (and
-- right after values went by generation), and classes of values that are not kept while no page
-- reads them again.
describe("quire.memo generations, tag index and classes", function()
  local memo_mod = require "quire.memo"
  local q, memo, db
  before_each(function()
    q = testing.site()
    db = q._db
    memo = memo_mod.new(db, 8) -- two generations of 4
  end)

  -- A write naming tags (as a content write's commit does), seen by the next lookup.
  local function bump(...)
    local tags = {}
    for _, t in ipairs({ ... }) do tags[t] = true end
    q.store.transaction(function() q._site.bump(tags) end)
  end

  it("keep a value read again through many read once, and let the ones read once go", function()
    local built = {}
    local function value(k) built[k] = (built[k] or 0) + 1 return k end
    memo.tagged("shared", "t:shared", value, "shared")
    for i = 1, 40 do
      memo.tagged("once" .. i, "t:once" .. i, value, "once" .. i)
      assert.equal("shared", memo.tagged("shared", "t:shared", value, "shared"))
    end
    assert.equal(1, built.shared)
    assert.truthy(memo.stats().values <= 8)
    memo.tagged("once1", "t:once1", value, "once1")
    assert.equal(2, built.once1) -- gone with its generation
  end)

  it("hand out a value marked unkept (made from a read before a change seen since) without keeping it", function()
    local built = 0
    local function value(unkept)
      built = built + 1
      if unkept then memo.unkept() end
      return built
    end
    assert.equal(1, memo.tagged("k", "t:k", value, true))
    assert.equal(2, memo.tagged("k", "t:k", value, true)) -- not kept: made again
    assert.equal(3, memo.tagged("k", "t:k", value, false))
    assert.equal(3, memo.tagged("k", "t:k", value, false)) -- kept
    memo.unkept() -- (outside a computation: nothing to mark)
    assert.equal(3, memo.tagged("k", "t:k", value, false))
  end)

  it("keep no value computed, inside another, after that one saw a change (its arguments may be from before it)", function()
    local built = {}
    local function value(k) built[k] = (built[k] or 0) + 1 return k .. built[k] end
    local function outer(write)
      local before = memo.tagged("before", "t:before", value, "before") -- computed before the change: kept
      if write then bump("t:other") end
      local seen = memo.tagged("seer", "t:seer", value, "seer") -- sees the change
      return { before, seen, memo.tagged("after", "t:after", value, "after") }
    end
    assert.same({ "before1", "seer1", "after1" }, memo.tagged("outer", "t:outer", outer, true))
    assert.same({ "before1", "seer2", "after2" }, memo.tagged("outer", "t:outer", outer, false))
    assert.same({ "before1", "seer2", "after2" }, memo.tagged("outer", "t:outer", outer, false)) -- all kept now
    assert.same({ before = 1, seer = 2, after = 2 }, built)
  end)

  it("keep no value computed inside one of a class not kept after that one saw a change", function()
    local class, built = memo.class(), {}
    local function value(k) built[k] = (built[k] or 0) + 1 return k .. built[k] end
    local function of(key, fn, ...) return memo.of_class(function() return class end, nil, key, "t:" .. key, fn, ...) end
    for i = 1, 64 do of("page" .. i, value, "page") end
    assert.is_true(class.skip) -- the outer values below are not kept
    local function outer(write)
      if write then bump("t:other") end
      return memo.tagged("after", "t:after", value, "after")
    end
    assert.equal("after1", of("outer1", outer, true))
    assert.equal("after2", of("outer2", outer, false)) -- not kept by the first: built again
    assert.equal("after2", of("outer3", outer, false)) -- kept now
  end)

  it("drop by tag the values put before and after a generation went, and nothing else", function()
    local built = {}
    local function value(k) built[k] = (built[k] or 0) + 1 return k end
    local function get(k) return memo.tagged(k, "t:" .. k, value, k) end
    get("a")
    bump("t:unrelated") -- the index is built here, for "a"
    for i = 1, 6 do get("x" .. i) end -- a generation goes; "a" is kept only if read again
    get("a")
    get("b")
    bump("t:a")
    get("a")
    get("b")
    assert.equal(2, built.a)
    assert.equal(1, built.b)
    bump("t:b")
    get("b")
    assert.equal(2, built.b)
  end)

  it("drop a value built from another with it, and an untagged one at any change", function()
    local n = 0
    local function inner() n = n + 1 return n end
    local function outer() return memo.tagged("inner", "t:inner", inner) * 10 end
    assert.equal(10, memo.tagged("outer", "t:outer", outer))
    assert.equal(10, memo.tagged("outer", "t:outer", outer))
    local m = 0
    local function untagged() m = m + 1 return m end
    assert.equal(1, memo.get("plain", untagged))
    bump("t:inner")
    assert.equal(20, memo.tagged("outer", "t:outer", outer))
    assert.equal(2, memo.get("plain", untagged))
  end)

  it("stop keeping a class no lookup finds again, and keep a key of it that misses twice", function()
    local class, built = memo.class(), {}
    local function of(c, key, ...) return memo.of_class(function(raw) assert.equal("raw", raw) return c end, "raw", key, ...) end
    local function value(k) built[k] = (built[k] or 0) + 1 return k end
    for i = 1, 64 do of(class, "page" .. i, "t:" .. i, value, i) end
    assert.is_true(class.skip)
    local shared = memo.tagged("shared", "t:shared", value, "shared")
    for i = 65, 200 do of(class, "page" .. i, "t:" .. i, value, i) end
    assert.equal(shared, memo.tagged("shared", "t:shared", value, "shared"))
    assert.equal(1, built.shared) -- the pages read once took no room from it
    -- a key seen before (a ghost) is kept at its second miss, and found at the third
    of(class, "page200", "t:200", value, 200)
    of(class, "page200", "t:200", value, 200)
    assert.equal(2, built[200])
    -- a class whose keys miss again (a server rendering its pages again) is kept again
    for i = 1, 60 do
      of(class, "again" .. i, "t:a", value, "again" .. i)
      of(class, "again" .. i, "t:a", value, "again" .. i)
    end
    assert.is_false(class.skip)
    of(class, "kept", "t:k", value, "kept")
    of(class, "kept", "t:k", value, "kept")
    assert.equal(1, built.kept)
  end)

  it("give a value built from one of a class not kept that one's tags", function()
    local class, n = memo.class(), 0
    local function of(key) return memo.of_class(function() return class end, nil, key, "t:" .. key, function() n = n + 1 return n end) end
    for i = 1, 64 do of("page" .. i) end
    assert.is_true(class.skip)
    local function outer() return of("inner") * 10 end
    local first = memo.tagged("outer", "t:outer", outer)
    assert.equal(first, memo.tagged("outer", "t:outer", outer)) -- kept
    bump("t:unrelated")
    assert.equal(first, memo.tagged("outer", "t:outer", outer))
    bump("t:inner")
    assert.equal((n + 1) * 10, memo.tagged("outer", "t:outer", outer))
  end)

  it("hold a block (of_block's) until a change, at most max of them, and give a value built from one its tag", function()
    local reads = 0
    local function read(k) reads = reads + 1 return { k = k, n = reads } end
    assert.equal(1, memo.block("b", 3, read, 3).n)
    assert.equal(1, memo.block("b", 3, read, 3).n)
    assert.equal(2, memo.block("c", 3, read, 3).n) -- another name, another block
    -- A value built from a held block goes when the block's tag is bumped.
    local function outer() return memo.block("b", 3, read, 3).n * 10 end
    assert.equal(10, memo.tagged("outer", "t:outer", outer))
    bump("t:unrelated")
    assert.equal(10, memo.tagged("outer", "t:outer", outer)) -- kept by the memo: the held block went with the change, not the value
    bump("b-block:3")
    assert.equal(30, memo.tagged("outer", "t:outer", outer))
    assert.equal(3, memo.block("b", 3, read, 3).n)
    -- More than max: the held ones start over (bounded as the memo is).
    for k = 10, 30 do memo.block("b", k, read, k) end
    local n = reads
    memo.block("b", 10, read, 10)
    assert.equal(n + 1, reads)
    -- Inside a transaction: read each time, nothing held.
    local before = reads
    q.store.transaction(function()
      memo.block("b", 3, read, 3)
      memo.block("b", 3, read, 3)
    end)
    assert.equal(before + 2, reads)
  end)
end)
