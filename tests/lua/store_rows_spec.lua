-- What the store's rows, row and value give Lua (core/lua_store.c, core/lua_pg.c): a list of
-- rows in the statement's order, each a table by column name, whatever the result's size (the
-- SQLite binding gathers up to 64 rows before it makes the list).
local testing = require "quire.testing"

describe("store results", function()
  local db
  before_each(function() db = testing.site()._db end)

  local SERIES = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
    .. " SELECT i, 'r' || i AS name, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 2 END AS maybe, '' AS empty FROM n WHERE i <= ? ORDER BY i"

  it("are every row in order, each by column name, at any count around the batch", function()
    for _, count in ipairs { 0, 1, 63, 64, 65, 128, 129, 300 } do
      local rows = db:rows(SERIES, math.max(count, 1), count)
      assert.equal(count, #rows)
      for i, r in ipairs(rows) do
        assert.equal(i, r.i)
        assert.equal(math.type(i), math.type(r.i))
        assert.equal("r" .. i, r.name)
        if i % 3 == 0 then assert.is_nil(r.maybe) else assert.equal(i * 2, r.maybe) end -- NULL: no key
        assert.equal("", r.empty)
        local keys = 0
        for _ in pairs(r) do keys = keys + 1 end
        assert.equal(i % 3 == 0 and 3 or 4, keys)
      end
    end
  end)

  it("give one row or one value, or nil when there is none", function()
    assert.same({ i = 1, name = "r1", maybe = 2, empty = "" }, db:row(SERIES, 5, 5))
    assert.is_nil(db:row(SERIES, 1, 0))
    assert.equal(1, db:value(SERIES, 5, 5))
    assert.is_nil(db:value(SERIES, 1, 0))
    local r = db:row("SELECT 2.5 AS half, 'a' || 'b' AS text")
    assert.equal(2.5, r.half)
    assert.equal("ab", r.text)
  end)

  it("keep bytes as they are, a NUL and all (SQLite: a blob)", function()
    if db.kind then return end -- PostgreSQL text holds no NUL
    assert.equal("a\0b", db:value("SELECT CAST(? AS BLOB)", "a\0b"))
    assert.equal("x", db:value("SELECT CAST('x' AS BLOB)"))
  end)

  -- (the memo's one call a lookup: quire.memo)
  it("say changes: total_changes, nil inside a transaction; and refuse another value as the store", function()
    assert.equal(db:total_changes(), db:changes())
    db:begin()
    db:exec("CREATE TEMP TABLE t (x INTEGER)")
    db:exec("INSERT INTO t VALUES (1)")
    assert.is_nil(db:changes())
    db:commit()
    assert.equal(db:total_changes(), db:changes())
    assert.is_true(db:changes() > 0)
    assert.has_error(function() db.changes({}) end)
    assert.has_error(function() db.depth(io.stdout) end)
  end)
end)
