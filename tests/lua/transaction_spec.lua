-- quire.transaction: nesting, the hooks other modules register, and the poisoned transaction.
local testing = require "quire.testing"
local transaction = require "quire.transaction"

describe("quire.transaction", function()
  local q, db, tx, log
  before_each(function()
    q = testing.site()
    db = q._db
    tx = transaction.new(db) -- a second one over the same store, with hooks of its own
    log = {}
    tx:on_begin(function() log[#log + 1] = "begin@" .. db:depth() end)
    tx:on_commit(function() log[#log + 1] = "commit@" .. db:depth() end)
    tx:on_rollback(function() log[#log + 1] = "rollback@" .. db:depth() end)
  end)
  local function n() return db:value("SELECT count(*) FROM settings WHERE key LIKE 'tx-%'") end
  local function put(k) db:exec("INSERT INTO settings (key, value) VALUES (?, 'x')", "tx-" .. k) end

  it("runs the begin and commit hooks once, around the outermost level, inside it", function()
    local r1, r2 = tx.run(function(a)
      put("a")
      tx.run(function() put("b") end)
      return a, "two"
    end, "one")
    assert.equal("one", r1)
    assert.equal("two", r2)
    assert.same({ "begin@0", "commit@1" }, log)
    assert.equal(2, n())
    assert.equal(0, db:depth())
  end)

  it("rolls a failing savepoint back alone, and the whole transaction when it fails", function()
    tx.run(function()
      put("kept")
      assert.is_false(pcall(tx.run, function() put("gone") error("no") end))
    end)
    assert.equal(1, n())
    assert.same({ "begin@0", "rollback@1", "commit@1" }, log)
    local ok, err = pcall(tx.run, function() put("later") error("stop here") end)
    assert.is_false(ok)
    assert.matches("stop here", tostring(err))
    assert.equal(1, n())
    assert.equal("rollback@0", log[#log])
  end)

  it("refuses to commit a level that holds a poisoned save, even when the error was caught", function()
    local ok, err = pcall(tx.run, function()
      put("before")
      pcall(function()
        put("half")
        tx:poison("disk full")
        error("disk full")
      end)
      put("after")
    end)
    assert.is_false(ok)
    assert.matches("a save failed part%-way through %(disk full%)", tostring(err))
    assert.equal(0, n())
    -- the poison went with the rollback: the next transaction commits
    tx.run(function() put("next") end)
    assert.equal(1, n())
  end)

  it("lets a poisoned savepoint roll back and its parent commit", function()
    tx.run(function()
      put("parent")
      pcall(tx.run, function()
        put("half")
        tx:poison("failed")
        error("failed")
      end)
    end)
    assert.equal(1, n())
  end)

  -- SQLite undoes a failed statement alone; PostgreSQL would abort the whole transaction, so
  -- its binding puts a savepoint around each statement in a transaction (core/pg.c).
  it("goes on after a failed statement that was caught: only that statement is undone", function()
    tx.run(function()
      put("before")
      local ok, err = pcall(put, "before") -- the key is taken
      assert.is_false(ok)
      assert.matches("[Uu][Nn][Ii][Qq][Uu][Ee]", tostring(err))
      -- a statement that fails part-way leaves none of its rows
      assert.is_false(pcall(db.exec, db, "INSERT INTO settings (key, value) SELECT 'tx-' || key, 'x' FROM"
        .. " (SELECT 'new' AS key UNION ALL SELECT 'before') k"))
      assert.is_false(pcall(db.value, db, "SELECT no_such_column FROM settings"))
      assert.is_false(pcall(q.store.query, "SELECT 1 FROM no_such_table"))
      put("after")
      tx.run(function() put("nested") end)
      assert.equal(1, db:depth())
    end)
    assert.equal(3, n())
    assert.is_nil(db:value("SELECT value FROM settings WHERE key = 'tx-new'"))
    assert.equal(0, db:depth())
  end)

  it("lets saves go on after a query that failed as it ran (a plugin's report) was caught", function()
    local a = q.content.create { type = "article", title = "One" }
    q.store.transaction(function()
      q.content.update(a, { title = "One, again" })
      -- an integer overflow, found only while the statement runs, on either store
      local ok, err = pcall(q.store.query, "SELECT abs(?) AS x FROM entries", math.mininteger)
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find("overflow") or tostring(err):find("out of range"), err)
      q.content.create { type = "article", title = "Three" }
    end)
    assert.equal("One, again", q.content.get(a).title)
    assert.equal(2, db:value("SELECT count(*) FROM entries"))
  end)

  it("is what content writes use: the cache tags of a batch are bumped once, at its commit", function()
    local a = q.content.create { type = "article", title = "One" }
    local b = q.content.create { type = "article", title = "Two" }
    local before = db:value("SELECT version FROM cache_tags WHERE tag = 'entries:any'")
    q.store.transaction(function()
      q.content.update(a, { title = "One, again" })
      q.content.update(b, { title = "Two, again" })
      assert.equal(before, db:value("SELECT version FROM cache_tags WHERE tag = 'entries:any'"))
    end)
    local after = db:value("SELECT version FROM cache_tags WHERE tag = 'entries:any'")
    assert.is_true(after > before)
    assert.equal(after, db:value("SELECT version FROM cache_tags WHERE tag = ?", "entry:" .. a))
    assert.equal(after, db:value("SELECT version FROM cache_tags WHERE tag = ?", "entry:" .. b))
  end)
end)

describe("read snapshots (store:begin_read)", function()
  local quire_mod = require "quire"
  local q, dir, db, id
  before_each(function()
    q, dir = testing.site()
    db = q._db
    id = q.content.create { type = "article", title = "Tide tables", status = "published" }
  end)
  after_each(function() db:end_read() end)

  it("read as of the first read until the end, with the memo kept, and see later commits after it", function()
    local other = assert(quire_mod.open(dir))
    db:begin_read()
    assert.is_true(db:reading())
    assert.equal(0, db:depth()) -- nothing uncommitted in it: the memo's rules for transactions do not apply
    assert.equal("Tide tables", q.content.get(id).title)
    other.content.update(id, { title = "Spring tides" })
    local made = other.content.create { type = "article", title = "Neap tides", status = "published" }
    -- the snapshot: neither the memo nor a fresh read sees the commit made after it began
    assert.equal("Tide tables", q.content.get(id).title)
    assert.equal("Tide tables", db:value("SELECT title FROM entries WHERE id = ?", id))
    assert.is_nil(db:value("SELECT id FROM entries WHERE id = ?", made))
    local before = db:data_version()
    assert.equal(before, db:data_version())
    db:end_read()
    assert.is_false(db:reading())
    -- after it, the memo and the reads see both commits at once
    assert.equal("Spring tides", q.content.get(id).title)
    assert.equal("Neap tides", q.content.get(made).title)
    other._db:close()
  end)

  it("refuse writes and write transactions inside, and go on after a failed statement", function()
    db:begin_read()
    local wrote, why = pcall(db.exec, db, "INSERT INTO settings (key, value) VALUES ('snap', 'x')")
    assert.is_false(wrote)
    assert.matches("read", why) -- (SQLite: inside a read snapshot; PostgreSQL: in a read-only transaction)
    local ok, err = pcall(db.begin, db)
    assert.is_false(ok)
    assert.matches("inside a read snapshot", err)
    assert.is_false(pcall(db.value, db, "SELECT no_such_column FROM entries"))
    assert.equal("Tide tables", db:value("SELECT title FROM entries WHERE id = ?", id))
    assert.is_false(pcall(db.begin_read, db)) -- not nested
    db:end_read()
    db:end_read() -- (none open: nothing to do)
    assert.equal(0, db:value("SELECT count(*) FROM settings WHERE key = 'snap'"))
    q.content.update(id, { title = "Spring tides" }) -- writes again once it ended
    assert.equal("Spring tides", q.content.get(id).title)
  end)

  it("count the statements a connection ran", function()
    local n = db:statements()
    db:value("SELECT 1")
    db:rows("SELECT id FROM entries")
    assert.equal(n + 2, db:statements())
  end)
end)
