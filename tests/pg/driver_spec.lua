-- The PostgreSQL driver (core/pg.c) through its Lua binding, against the throw-away cluster
-- tests/pg_test.sh starts (QUIRE_PG_URL): the same methods and results as the SQLite store.
local core = require "quire.core"
local url = assert(os.getenv("QUIRE_PG_URL"), "QUIRE_PG_URL: run this through tests/pg_test.sh")

describe("placeholder translation", function()
  local function tr(sql) return (core.pg_translate(sql)) end
  it("numbers ? in order", function()
    assert.same({ "SELECT $1, $2 WHERE a = $3", 3 }, { core.pg_translate("SELECT ?, ? WHERE a = ?") })
  end)
  it("leaves ? inside literals, identifiers, dollar quotes and comments", function()
    assert.equal([[SELECT '?', 'it''s ?', E'\'?', "a?b", $$ ? $$, $x$ ? $x$ -- ?
/* ? /* ? */ ? */ $1]], tr([[SELECT '?', 'it''s ?', E'\'?', "a?b", $$ ? $$, $x$ ? $x$ -- ?
/* ? /* ? */ ? */ ?]]))
  end)
  it("is not fooled by a $ inside an identifier", function()
    assert.equal("SELECT a$b, $1", tr("SELECT a$b, ?"))
  end)
  it("numbers ?NNN and what follows it as SQLite does", function()
    assert.same({ "SELECT $2, $1, $3, $2", 3 }, { core.pg_translate("SELECT ?2, ?1, ?, ?2") })
  end)
  it("refuses what it cannot translate safely, saying why", function()
    assert.has_error(function() tr("SELECT ?0") end, "SQL parameter numbers go from 1 to 65535")
    assert.has_error(function() tr("SELECT ?65536") end, "SQL parameter numbers go from 1 to 65535")
    assert.has_error(function() tr("SELECT ?, $1") end, "SQL mixes ? placeholders with $n ones: use ? only")
  end)
end)

describe("the PostgreSQL store", function()
  local db
  setup(function()
    db = assert(core.open_pg(url))
  end)
  teardown(function() db:close() end)
  before_each(function()
    db:exec("DELETE FROM entries")
    db:exec("DELETE FROM users")
  end)

  it("is migrated to the schema version SQLite has", function()
    local applied, known = db:schema_version()
    assert.equal(known, applied)
    local sqlite = assert(core.open_store(os.tmpname() .. ".db", { create = true }))
    local s_applied = sqlite:schema_version()
    sqlite:close()
    assert.equal(s_applied, applied, "every SQLite migration needs its db/pg counterpart with the same number")
    assert.equal("postgresql", db:kind())
  end)

  it("runs exec, row, rows and value with SQLite's result types", function()
    local n, id = db:exec("INSERT INTO users (login, display_name) VALUES (?, ?)", "ann", "Ann O'Neil")
    assert.equal(1, n)
    assert.equal("integer", math.type(id))
    local n2, id2 = db:exec("INSERT INTO users (login, display_name) VALUES (?, ?)", "bob", "Bob")
    assert.equal(id + 1, id2)
    assert.equal(1, n2)
    local u = db:row("SELECT id, login, display_name, email FROM users WHERE id = ?", id)
    assert.same({ id = id, login = "ann", display_name = "Ann O'Neil" }, u)
    assert.is_nil(db:row("SELECT id FROM users WHERE id = ?", -1))
    assert.same({ { login = "ann" }, { login = "bob" } }, db:rows("SELECT login FROM users ORDER BY login"))
    assert.same({}, db:rows("SELECT login FROM users WHERE false"))
    assert.equal(2, db:value("SELECT count(*) FROM users"))
    assert.equal("integer", math.type(db:value("SELECT count(*) FROM users")))
    assert.equal(2.5, db:value("SELECT 2.5::float8"))
    assert.equal(3, db:value("SELECT sum(x) FROM (VALUES (1), (2)) v(x)")) -- numeric
    assert.equal(1.5, db:value("SELECT avg(x) FROM (VALUES (1), (2)) v(x)"))
    assert.equal(1, db:value("SELECT 1 = 1"))  -- booleans as SQLite gives them
    assert.equal(0, db:value("SELECT 1 = 2"))
    assert.is_nil(db:value("SELECT NULL"))
    assert.is_nil(db:value("SELECT 1 WHERE false"))
    assert.equal(2, db:exec("UPDATE users SET bio = ?", "x"))
  end)

  it("binds nil, booleans, integers, floats and text of every kind", function()
    assert.is_nil(db:value("SELECT ?::text", nil))
    -- an integer where a function takes int4
    assert.equal("cde", db:value("SELECT substr(?, ?, ?)", "abcdef", 3, 3))
    -- a NULL the server cannot type from its place (SQLite's "? IS NULL OR ..." idiom)
    assert.equal(2, db:value("SELECT count(*) FROM (VALUES (1), (2)) v(x) WHERE (? IS NULL OR x = ?)", nil, nil))
    assert.equal(1, db:value("SELECT count(*) FROM (VALUES (1), (2)) v(x) WHERE (? IS NULL OR x = ?)", 2, 2))
    assert.equal(1, db:value("SELECT ?::int", true))
    assert.equal(9007199254740993, db:value("SELECT ? + 0", 9007199254740992 + 1))
    assert.equal(math.mininteger, db:value("SELECT ?::bigint", math.mininteger))
    assert.equal(0.1, db:value("SELECT ?::float8", 0.1))
    assert.equal(1 / 3, db:value("SELECT ?::float8", 1 / 3))
    local text = "Grüße — 漢字 🙂 '; DROP TABLE users; -- ? $1"
    assert.equal(text, db:value("SELECT ?::text", text))
    assert.equal("?", db:value("SELECT '?'"))
    -- the same statement with other types is prepared again, not misread
    assert.equal("5", db:value("SELECT ?::text", 5))
    assert.equal("five", db:value("SELECT ?::text", "five"))
  end)

  it("says clearly what is wrong", function()
    assert.has_error(function() db:value("SELECT ?", "a\0b") end,
      "SQL parameter 1 holds a NUL byte, which PostgreSQL text cannot store")
    assert.has_error(function() db:value("SELECT ?", {}) end)
    local ok, err = pcall(db.value, db, "SELECT ?, ?", 1)
    assert.is_false(ok)
    assert.matches("wrong number of SQL parameters: the SQL has 2, 1 given", err, 1, true)
    ok, err = pcall(db.exec, db, "INSERT INTO users (login, display_name) VALUES (?, ?)", "ann", "A")
    assert.is_true(ok)
    ok, err = pcall(db.exec, db, "INSERT INTO users (login, display_name) VALUES (?, ?)", "ann", "A")
    assert.is_false(ok)
    assert.matches("duplicate key value violates unique constraint", err, 1, true)
    assert.matches("SQLSTATE 23505", err, 1, true)
    ok, err = pcall(db.value, db, "SELEC 1")
    assert.matches("syntax error", err, 1, true)
  end)

  it("nests transactions as savepoints and rolls back what failed", function()
    db:begin()
    assert.equal(1, db:depth())
    db:exec("INSERT INTO users (login, display_name) VALUES ('a', 'A')")
    db:begin()
    db:exec("INSERT INTO users (login, display_name) VALUES ('b', 'B')")
    local ok = pcall(db.exec, db, "INSERT INTO users (login, display_name) VALUES ('b', 'B again')")
    assert.is_false(ok)
    db:rollback() -- the savepoint: the failed statement no longer poisons the transaction
    assert.equal(1, db:depth())
    db:exec("INSERT INTO users (login, display_name) VALUES ('c', 'C')")
    db:commit()
    assert.equal(0, db:depth())
    assert.same({ { login = "a" }, { login = "c" } }, db:rows("SELECT login FROM users ORDER BY login"))
    db:begin()
    db:exec("DELETE FROM users")
    db:rollback()
    assert.equal(2, db:value("SELECT count(*) FROM users"))
    assert.has_error(function() db:commit() end, "commit without a transaction")
  end)

  it("keeps a transaction alive when a statement does not prepare, as SQLite does", function()
    db:begin()
    db:exec("INSERT INTO users (login, display_name) VALUES ('a', 'A')")
    assert.has_error(function() db:value("SELEC 1") end)
    assert.equal("cde", db:value("SELECT substr(?, ?, ?) AS part", "abcdef", 3, 3)) -- prepared after a retry
    db:commit()
    assert.equal(1, db:value("SELECT count(*) FROM users"))
  end)

  it("undoes a statement that fails as it runs alone, and the transaction goes on, as SQLite does", function()
    db:begin()
    db:exec("INSERT INTO users (login, display_name) VALUES ('a', 'A')")
    assert.has_error(function() db:value("SELECT 1/0") end)
    assert.has_error(function() db:exec("INSERT INTO users (login, display_name) VALUES ('b', 'B'), ('a', 'A')") end)
    db:exec("INSERT INTO users (login, display_name) VALUES ('c', 'C')")
    db:commit()
    assert.same({ "a", "c" }, (function()
      local out = {}
      for _, r in ipairs(db:rows("SELECT login FROM users ORDER BY login")) do out[#out + 1] = r.login end
      return out
    end)())
  end)

  it("says so when the connection is lost inside a transaction, and the next one runs on a new connection", function()
    local other = assert(core.open_pg(url))
    db:begin()
    db:exec("INSERT INTO users (login, display_name) VALUES ('a', 'A')")
    other:value("SELECT pg_terminate_backend(?::int)", db:value("SELECT pg_backend_pid()"))
    other:close()
    local ok, err = pcall(db.exec, db, "INSERT INTO users (login, display_name) VALUES ('b', 'B')")
    assert.is_false(ok)
    assert.matches("lost inside a transaction", err, 1, true)
    db:rollback()
    assert.equal(0, db:depth())
    db:begin()
    db:exec("INSERT INTO users (login, display_name) VALUES ('c', 'C')")
    assert.is_false(pcall(db.exec, db, "INSERT INTO users (login, display_name) VALUES ('c', 'C')"))
    db:commit()
    assert.equal("c", db:value("SELECT string_agg(login, ',') FROM users"))
  end)

  it("without the savepoints (guard off), refuses to commit a transaction that failed, and says so", function()
    db:begin()
    assert.is_true(db:guard(false))
    pcall(db.value, db, "SELECT 1/0")
    local ok, err = pcall(db.commit, db)
    assert.is_false(db:guard(true))
    assert.is_false(ok)
    assert.matches("the transaction had failed and was rolled back", err, 1, true)
    assert.equal(0, db:depth())
  end)

  it("serialises write transactions across connections, as SQLite's BEGIN IMMEDIATE", function()
    local other = assert(core.open_pg(url))
    db:begin()
    -- the other connection cannot take the write lock while this transaction holds it
    other:exec("SET lock_timeout = '200ms'")
    local ok, err = pcall(other.begin, other)
    assert.is_false(ok)
    assert.matches("lock timeout", err, 1, true)
    db:commit()
    other:begin()
    other:commit()
    other:close()
  end)

  it("moves data_version when another connection commits, not otherwise", function()
    local other = assert(core.open_pg(url))
    local v = db:data_version()
    assert.equal(v, db:data_version())
    other:exec("INSERT INTO users (login, display_name) VALUES ('z', 'Z')")
    local v2 = db:data_version()
    assert.is_true(v2 > v)
    assert.equal(v2, db:data_version())
    other:close()
  end)

  it("has every table notify its writes (db/pg/0027; the migration runner adds tables later migrations make)", function()
    assert.same({}, db:rows("SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"
      .. " WHERE s.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT EXISTS"
      .. " (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'quire_data_written')"))
  end)

  it("counts total_changes as SQLite does", function()
    local before = db:total_changes()
    db:exec("INSERT INTO users (login, display_name) VALUES ('a', 'A'), ('b', 'B')")
    assert.equal(before + 2, db:total_changes())
    db:rows("SELECT * FROM users")
    assert.equal(before + 2, db:total_changes()) -- reads change nothing
  end)

  it("tells read-only SQL from SQL that writes", function()
    assert.is_true(db:readonly("SELECT * FROM entries WHERE title = 'delete me'"))
    assert.is_true(db:readonly("  with x as (select 1) select * from x"))
    for _, sql in ipairs({ "DELETE FROM entries", "WITH x AS (DELETE FROM entries RETURNING id) SELECT * FROM x",
      "SELECT nextval('entries_id_seq')", "SELECT 1; DELETE FROM entries", "SELECT * INTO t FROM entries",
      "SELECT pg_terminate_backend(1)", "select set_config('a.b', 'c', false)" }) do
      assert.is_false(db:readonly(sql), sql)
    end
  end)

  it("keeps the search index in step, titles weighted above bodies", function()
    local _, ann = db:exec("INSERT INTO users (login, display_name) VALUES ('ann', 'Ann')")
    local function add(title, body)
      local _, id = db:exec("INSERT INTO entries (type, slug, title, body, created_at, updated_at, author_id)"
        .. " VALUES ('article', ?, ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?)", title:lower():gsub("%W", "-"), title, body, ann)
      return id
    end
    local in_body = add("Harbour news", "The council met about the tides.")
    local in_title = add("Council votes", "A long evening.")
    add("Weather", "Rain.")
    local hits = db:rows("SELECT e.id FROM entries e JOIN entries_search s ON s.id = e.id"
      .. " WHERE s.doc @@ websearch_to_tsquery(quire_search_language(), ?) ORDER BY ts_rank(s.doc, websearch_to_tsquery(quire_search_language(), ?)) DESC, e.id", "council", "council")
    assert.same({ { id = in_title }, { id = in_body } }, hits)
    -- diacritics fold, as SQLite's unicode61 remove_diacritics
    db:exec("UPDATE entries SET body = 'Café crème' WHERE id = ?", in_title)
    assert.equal(in_title, db:value("SELECT id FROM entries_search WHERE doc @@ websearch_to_tsquery(quire_search_language(), 'cafe')"))
    assert.same({}, db:check())
    -- an entry missing from the index is a problem `quire check` names
    db:exec("DELETE FROM entries_search WHERE id = ?", in_body)
    local problems = db:check()
    assert.equal(1, #problems)
    assert.equal("search", problems[1].what)
    assert.matches("1 entries are missing", problems[1].detail, 1, true)
  end)

  it("enforces the schema's constraints as SQLite does", function()
    local function fails(sql, ...) local ok, err = pcall(db.exec, db, sql, ...) assert.is_false(ok, sql) return err end
    assert.matches("entries_status_check", fails("INSERT INTO entries (type, slug, title, status, created_at, updated_at) VALUES ('a', 's', 't', 'Bad!', 'x', 'x')"))
    assert.matches("entries_fields_check", fails("INSERT INTO entries (type, slug, title, fields, created_at, updated_at) VALUES ('a', 's', 't', '{oops', 'x', 'x')"))
    assert.matches("entries_title_check", fails("INSERT INTO entries (type, slug, title, created_at, updated_at) VALUES ('a', 's', '', 'x', 'x')"))
    assert.matches("foreign key", fails("INSERT INTO entries (type, slug, title, author_id, created_at, updated_at) VALUES ('a', 's', 't', 999999, 'x', 'x')"))
  end)

  it("has quire check name a schema version, rows that break a constraint, and a stale search index", function()
    local _, id = db:exec("INSERT INTO entries (type, slug, title, body, created_at, updated_at) VALUES ('article', 'checked', 'Checked',"
      .. " 'Harbour news', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    assert.same({}, db:check())
    local function details(what)
      local out = {}
      for _, p in ipairs(db:check()) do if p.what == what then out[#out + 1] = p.detail end end
      return out
    end
    -- Everything broken inside a transaction that is rolled back (DDL is transactional).
    db:begin()
    local ok, err = pcall(function()
      local _, known = db:schema_version()
      db:exec("INSERT INTO schema_migrations (version, name) VALUES (?, 'from a newer quire')", known + 1)
      assert.same({ ("schema version %d, this quire knows %d"):format(known + 1, known) }, details("schema"))
      db:exec("DELETE FROM schema_migrations WHERE version = ?", known + 1)
      -- A comment whose entry is gone (as a restore with triggers off leaves it), and a status the
      -- schema's CHECK refuses, let in while those constraints were dropped and added back NOT VALID.
      local fk = db:value("SELECT conname FROM pg_constraint WHERE conrelid = 'comments'::regclass AND contype = 'f'"
        .. " AND confrelid = 'entries'::regclass")
      db:exec("ALTER TABLE comments DROP CONSTRAINT " .. fk)
      db:exec("INSERT INTO comments (entry_id, author_name, author_email, body, status, created_at)"
        .. " VALUES (999999, 'Bo', 'bo@example.org', 'orphan', 'approved', '2026-01-01T00:00:00Z')")
      db:exec("ALTER TABLE comments ADD CONSTRAINT " .. fk .. " FOREIGN KEY (entry_id) REFERENCES entries(id) NOT VALID")
      db:exec("ALTER TABLE entries DROP CONSTRAINT entries_status_check")
      db:exec("UPDATE entries SET status = 'Bad!' WHERE id = ?", id)
      db:exec("ALTER TABLE entries ADD CONSTRAINT entries_status_check CHECK (status ~ '^[a-z_]+$') NOT VALID")
      local c = details("constraints")
      table.sort(c)
      assert.same({ "2 constraints are not validated (ALTER TABLE ... VALIDATE CONSTRAINT)",
        ("comments: 1 rows reference a missing row of entries (%s)"):format(fk),
        "entries: 1 rows fail the check entries_status_check" }, c)
      -- an index entry that no longer says what the entry says
      db:exec("UPDATE entries_search SET doc = to_tsvector('simple', 'something else') WHERE id = ?", id)
      assert.same({ "1 entries are missing from the search index or stale in it" }, details("search"))
    end)
    db:rollback()
    assert(ok, err)
    assert.same({}, db:check())
  end)

  it("refuses to connect with a clear message", function()
    local bad, err = core.open_pg("postgresql://quire@%2Fnonexistent/quire")
    assert.is_nil(bad)
    assert.matches("cannot connect to PostgreSQL", err, 1, true)
  end)
end)
