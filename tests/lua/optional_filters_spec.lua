-- The core's SQL with an optional filter, "(CAST(? AS TEXT) IS NULL OR col = ?)", on both stores
-- (tests/pg_test.sh runs this spec on PostgreSQL too): the front pages' assignments, the trash,
-- `quire terms list` and `quire audit`, each with and without its filter. On PostgreSQL the
-- server must not be left to guess the type of a NULL parameter (a bare `? IS NULL` works only
-- because core/pg.c prepares such a statement a second time with it as text: store:untyped()
-- counts those, and none of these paths may need it).
local testing = require "quire.testing"
local cjson = require "cjson"

describe("optional filters in the core's SQL", function()
  local q, untyped
  before_each(function()
    q = testing.site { plugins = { "theme" } }
    local db = q._db
    untyped = function() return db.untyped and db:untyped() or 0 end
  end)

  it("front page assignments: one page, or every page", function()
    local a = q.content.create { type = "article", title = "Harbour wall repaired", status = "published", body = "x" }
    local b = q.content.create { type = "article", title = "Ferry timetable changes", status = "published", body = "x", section = "sport" }
    q.front.set("home", 1, a)
    q.front.set("section:sport", 1, b)
    local before = untyped()
    local home = q.front.list("home")
    assert.same({ { "home", a } }, { { home[1].page, home[1].entry_id } })
    assert.equal(1, #home)
    local all = q.front.list()
    assert.equal(2, #all)
    assert.same({ "home", "section:sport" }, { all[1].page, all[2].page })
    assert.equal(before, untyped())
  end)

  it("the trash: all of it, or what was trashed before a time", function()
    local a = q.content.create { type = "article", title = "Old notice", body = "x" }
    local b = q.content.create { type = "article", title = "Older notice", body = "x" }
    q.content.delete(a)
    q.content.delete(b)
    local before = untyped()
    local all = q.content.trashed()
    assert.equal(2, #all)
    assert.same({}, q.content.trashed { before = "2000-01-01T00:00:00Z" })
    assert.equal(2, #q.content.trashed { before = "2999-01-01T00:00:00Z" })
    assert.equal(before, untyped())
  end)

  it("quire terms list and quire audit, with and without their filter", function()
    local e = q.content.create { type = "article", title = "Pier reopens", body = "x", tags = { "pier" }, section = "news" }
    q.content.delete(e)
    local function json(...)
      local r = q:command(...)
      assert.equal(0, r.status, r.stderr)
      return cjson.decode(r.stdout)
    end
    local tags = json("terms", "list", "--taxonomy", "tag", "--format", "json")
    assert.same({ "pier" }, { tags[1].slug, tags[2] and tags[2].slug })
    local all = json("terms", "list", "--format", "json")
    assert.equal(2, #all)
    local mine = json("audit", "--subject", "entry:" .. e, "--format", "json")
    assert.is_true(#mine >= 1)
    for _, r in ipairs(mine) do assert.equal("entry:" .. e, r.subject) end
    assert.is_true(#json("audit", "--format", "json") >= #mine)
    assert.same({}, json("audit", "--subject", "entry:999999", "--format", "json"))
  end)
end)
