-- The content API against a real SQLite file: create, get, query, search, neighbours, revisions.
local testing = require "quire.testing"

local function invalid_fields(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected the write to be refused")
  assert.is_true(quire.errors.is(err, "invalid"), "expected a validation error, got " .. tostring(err))
  local fields = {}
  for _, e in ipairs(err.errors) do fields[#fields + 1] = e.field end
  return fields, tostring(err)
end

describe("quire.content", function()
  local q
  before_each(function() q = testing.site() end)

  local function count() return q.store.query("SELECT count(*) AS n FROM entries")[1].n end

  it("creates an entry and reads it back by id and by slug", function()
    local uid = q.users.create { login = "ana", name = "Ana Ruiz" }
    local id = q.content.create {
      type = "article", title = "Harbour Bridge Reopens After Repairs", body = "The *bridge* is open.",
      status = "published", author = "ana", tags = { "Transport", "City Hall" }, section = "Local",
      published_at = "2026-03-04T08:15:00+01:00", fields = { dateline = "Lisbon", standfirst = "Six months on." },
    }
    local e = q.content.get(id)
    assert.equal("harbour-bridge-reopens-after-repairs", e.slug)
    assert.equal("2026-03-04T07:15:00Z", e.published_at)
    assert.same({ "Transport", "City Hall" }, e.tags)
    assert.equal("Local", e.section)
    assert.equal(uid, e.author)
    assert.equal("Lisbon", e.fields.dateline)
    assert.same(e, q.content.get { type = "article", slug = e.slug })
    assert.is_nil(q.content.get(id + 1000))
  end)

  -- (quire.related is handed the kept entry itself, not a copy: reads.get_shared)
  it("leaves the entry a related list is made for as the memo keeps it", function()
    local a = q.content.create { type = "article", title = "Harbour walls rebuilt", status = "published", tags = { "Harbour", "Works" },
      fields = { standfirst = "Storm damage repaired before winter." } }
    q.content.create { type = "article", title = "Harbour walls inspected", status = "published", tags = { "Harbour", "Works" } }
    local whole, card = q.content.get(a), q.content.teasers(q.content.get, a)
    assert.equal(1, #q.content.related(a))
    assert.equal(1, #q.content.teasers(q.content.related, a))
    assert.same(whole, q.content.get(a))
    assert.same(card, q.content.teasers(q.content.get, a))
    assert.is_nil(q.content.teasers(q.content.get, a).body)
  end)

  it("reads entries as cards inside teasers: everything but the body and the revision, memoised apart", function()
    local id = q.content.create { type = "article", title = "Ferry timetable", body = "Boats leave *hourly*.", status = "published",
      tags = { "Transport" }, section = "Local", fields = { standfirst = "Summer hours." } }
    local whole = q.content.get(id)
    local card = q.content.teasers(q.content.get, id)
    local listed = q.content.teasers(q.content.query, { status = "published", limit = 5 })[1]
    local prev_card = q.content.teasers(function() return q.content.neighbours(q.content.create {
      type = "article", title = "Later", status = "published" }) end)
    for _, c in ipairs({ card, listed, prev_card }) do
      assert.is_nil(c.body)
      assert.is_nil(c.revision)
      assert.equal("Ferry timetable", c.title)
      assert.equal("Summer hours.", c.fields.standfirst)
      assert.same({ "Transport" }, c.tags)
      assert.equal("Local", c.section)
      assert.equal(whole.published_at, c.published_at)
    end
    -- outside, the whole entry again (the cards did not take its place in the memo, nor it theirs)
    assert.equal("Boats leave *hourly*.", q.content.get(id).body)
    assert.equal("Boats leave *hourly*.", q.content.query { status = "published", type = "article", limit = 5 }[2].body)
    assert.truthy(q.content.get(id).revision)
    assert.is_nil(q.content.teasers(q.content.get, id).body)
  end)

  it("gives the places of a query's entries alone (cursors), in its order", function()
    for i = 1, 6 do
      q.content.create { type = "article", title = "Story " .. i, status = "published", tags = i % 2 == 0 and { "Even" } or {},
        published_at = ("2026-05-0%dT08:00:00Z"):format(i) }
    end
    for _, qq in ipairs({ { status = "published", limit = 4 }, { status = "published", tag = "Even", order = "oldest", limit = 2 },
      { status = "published", limit = 3, after = { published_at = "2026-05-04T08:00:00Z", id = 0 } } }) do
      local places = {}
      for i, e in ipairs(q.content.query(qq)) do places[i] = { published_at = e.published_at, id = e.id } end
      assert.same(places, q.content.cursors(qq))
    end
    assert.equal(3, #q.content.cursors { status = "published", limit = 3, after = { published_at = "2026-05-04T08:00:00Z", id = 0 } })
    assert.has_error(function() q.content.cursors { order = "sideways" } end)
    assert.is_nil(q.content.cursors { status = "published", limit = 1 }[1].title)
  end)

  it("makes slugs unique per type with -2, -3 and folds accents", function()
    local a = q.content.create { type = "article", title = "Crème brûlée at the Café" }
    local b = q.content.create { type = "article", title = "Crème brûlée at the Café" }
    local c = q.content.create { type = "article", title = "Crème brûlée at the Café" }
    local p = q.content.create { type = "page", title = "Crème brûlée at the Café" }
    assert.equal("creme-brulee-at-the-cafe", q.content.get(a).slug)
    assert.equal("creme-brulee-at-the-cafe-2", q.content.get(b).slug)
    assert.equal("creme-brulee-at-the-cafe-3", q.content.get(c).slug)
    assert.equal("creme-brulee-at-the-cafe", q.content.get(p).slug)
  end)

  it("refuses bad input with every error at once and writes nothing", function()
    local fields = invalid_fields(function()
      q.content.create { type = "article", title = "", status = "live", fields = { dateline = 42.5, nope = 1 } }
    end)
    assert.same({ "fields.nope", "status", "title" }, fields)
    assert.equal(0, count())
  end)

  it("refuses unknown types until they are declared", function()
    local _, msg = invalid_fields(function() q.content.create { type = "recipe", title = "Soup" } end)
    assert.matches("unknown content type 'recipe'", msg)
    q.content.define_type { name = "recipe", fields = { serves = { "number", required = true, min = 1 } } }
    assert.same({ "fields.serves" }, (invalid_fields(function() q.content.create { type = "recipe", title = "Soup" } end)))
    local id = q.content.create { type = "recipe", title = "Soup", fields = { serves = 4 } }
    assert.equal(4, q.content.get(id).fields.serves)
  end)

  it("refuses invalid UTF-8 anywhere, duplicate explicit slugs and oversize fields", function()
    invalid_fields(function() q.content.create { type = "article", title = "bad \xff byte" } end)
    invalid_fields(function() q.content.create { type = "article", title = "ok", body = "bad \xc0\xaf" } end)
    invalid_fields(function() q.content.create { type = "article", title = "ok", tags = { "\xed\xa0\x80" } } end)
    invalid_fields(function() q.content.create { type = "article", title = "ok", fields = { dateline = "\xfe" } } end)
    q.content.create { type = "article", title = "First", slug = "taken" }
    local fields, msg = invalid_fields(function() q.content.create { type = "article", title = "Second", slug = "taken" } end)
    assert.same({ "slug" }, fields)
    assert.matches("already used", msg)
    invalid_fields(function() q.content.create { type = "article", title = "x", slug = "Not A Slug" } end)
    local _, long = invalid_fields(function() q.content.create { type = "article", title = ("é"):rep(301) } end)
    assert.matches("limits.title_max", long)
    local tag_fields, long_tag = invalid_fields(function() q.content.create { type = "article", title = "x", tags = { "ok", ("t"):rep(101) } } end)
    assert.same({ "tags[2]" }, tag_fields)
    assert.matches("limit is 100 (limits.term_max)", long_tag, 1, true)
    invalid_fields(function() q.content.create { type = "article", title = "big", body = ("x"):rep(1024 * 1024 + 1) } end)
    assert.equal(1, count())
  end)

  it("stores SQL metacharacters as plain text", function()
    local nasty = "Robert'); DROP TABLE entries;-- \" OR 1=1 %_\\"
    local id = q.content.create { type = "article", title = nasty, body = nasty, tags = { nasty } }
    local e = q.content.get(id)
    assert.equal(nasty, e.title)
    assert.equal(nasty, e.body)
    assert.same({ nasty }, e.tags)
    assert.equal(1, count())
    assert.equal(1, #q.content.search("DROP TABLE"))
    assert.equal(1, #q.content.query { tag = nasty })
  end)

  it("queries by type, status, tag, section, author and date, newest first", function()
    q.users.create { login = "bo" }
    local ids = {}
    for i = 1, 12 do
      ids[i] = q.content.create {
        type = i % 3 == 0 and "page" or "article", title = "Story " .. i, status = i % 2 == 0 and "published" or "draft",
        published_at = ("2026-01-%02dT10:00:00Z"):format(i), tags = i % 4 == 0 and { "Budget" } or nil,
        section = i <= 6 and "Politics" or "Sport", author = i == 5 and "bo" or nil,
      }
    end
    local all = q.content.query { limit = 100 }
    assert.equal(12, #all)
    assert.equal(ids[12], all[1].id)
    assert.equal(ids[1], all[12].id)
    assert.equal(8, #q.content.query { type = "article" })
    assert.equal(6, #q.content.query { status = "published" })
    assert.same({ ids[12], ids[8], ids[4] }, (function()
      local out = {}
      for _, e in ipairs(q.content.query { tag = "budget" }) do out[#out + 1] = e.id end
      return out
    end)())
    assert.equal(6, #q.content.query { section = "Sport" })
    assert.equal(ids[5], q.content.query { author = "bo" }[1].id)
    assert.equal(3, #q.content.query { since = "2026-01-05", ["until"] = "2026-01-08" })
    assert.equal(ids[1], q.content.query { order = "oldest", limit = 1 }[1].id)
    assert.has_error(function() q.content.query { colour = "red" } end)
  end)

  it("pages with after= and never repeats or skips, even with equal dates", function()
    for i = 1, 25 do
      q.content.create { type = "article", title = "Same time " .. i, status = "published", published_at = "2026-02-01T00:00:00Z" }
    end
    local seen, pages, after = {}, 0, nil
    repeat
      local page = q.content.query { limit = 10, after = after }
      for _, e in ipairs(page) do
        assert.is_nil(seen[e.id])
        seen[e.id] = true
      end
      after = page[#page]
      pages = pages + 1
    until #page < 10
    assert.equal(3, pages)
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.equal(25, n)
  end)

  it("searches title and body with bm25 ranking and escaped snippets", function()
    q.content.create { type = "article", title = "Flood warning for the river valley", body = "Rain all week." }
    q.content.create { type = "article", title = "Council budget", body = "A <b>flood</b> of complaints about the river." }
    q.content.create { type = "page", title = "About us", body = "Nothing here." }
    local hits = q.content.search("flood river")
    assert.equal(2, #hits)
    assert.matches("^Flood warning", hits[1].title) -- title matches weigh more
    assert.is_true(hits[1].score >= hits[2].score)
    assert.matches("&lt;b&gt;<mark>flood</mark>&lt;/b&gt;", hits[2].snippet)
    assert.equal(0, #q.content.search("flood", { type = "page" }))
    assert.equal(0, #q.content.search('"unbalanced ( AND OR NEAR'))
  end)

  it("finds previous and next published entries within the type or section", function()
    local function mk(title, day, section, type_, status)
      return q.content.create { type = type_ or "article", title = title, status = status or "published",
        published_at = ("2026-05-%02d"):format(day), section = section }
    end
    local a = mk("A", 1, "World")
    local b = mk("B", 2, "Business")
    mk("draft", 3, "World", "article", "draft")
    local c = mk("C", 4, "World")
    mk("page", 5, nil, "page")
    mk("E", 6, "Business")
    local prev, nxt = q.content.neighbours(b)
    assert.equal(a, prev.id)
    assert.equal(c, nxt.id)
    prev, nxt = q.content.neighbours(c, { within = "section" })
    assert.equal(a, prev.id)
    assert.is_nil(nxt)
    prev = q.content.neighbours(a)
    assert.is_nil(prev)
  end)

  it("writes a revision on every save and keeps the history", function()
    local id = q.content.create { type = "article", title = "Draft one", tags = { "a" } }
    q.content.update(id, { title = "Draft two", body = "more" })
    assert.is_true(q.content.update(id, { status = "published", tags = { "b", "c" } }))
    local e = q.content.get(id)
    assert.equal("published", e.status)
    assert.is_string(e.published_at)
    assert.equal("draft-one", e.slug) -- permalinks do not move when the title changes
    local revs = q.content.revisions(id)
    assert.equal(3, #revs)
    assert.equal("Draft two", revs[1].title)
    assert.same({ "b", "c" }, revs[1].tags)
    assert.equal("Draft one", revs[3].title)
    assert.same({ "a" }, revs[3].tags)
  end)

  it("keeps the order of tags through updates that add, drop, reorder and merge them", function()
    local id = q.content.create { type = "article", title = "Tagged", tags = { "a", "b", "c" }, section = "World" }
    q.content.update(id, { tags = { "c", "a", "d" } })
    assert.same({ "c", "a", "d" }, q.content.get(id).tags)
    assert.same({ "c", "a", "d" }, q.content.query({ tag = "d" })[1].tags) -- (a list reads them its own way)
    assert.same({ "c", "a", "d" }, q.content.teasers(q.content.get, id).tags) -- (and so does a card)
    q.terms.merge("tag", "c", "a") -- a is already on the entry: c's row goes, a keeps position 2
    q.content.update(id, { tags = { "a", "d", "E" } })
    assert.same({ "a", "d", "E" }, q.content.get(id).tags)
    assert.equal("World", q.content.get(id).section)
    q.content.update(id, { tags = false, section = "Sport" })
    local e = q.content.get(id)
    assert.same({}, e.tags)
    assert.equal("Sport", e.section)
    assert.same({ {} }, { q.content.revisions(id)[1].tags })
    assert.same({}, q.store.check())
  end)

  it("writes only the columns an update changes, and still re-indexes title and body", function()
    local id = q.content.create { type = "article", title = "Harbour news", body = "The quay reopened", status = "published" }
    local before = q.content.get(id)
    q.content.update(id, { body = "The port reopened" })
    local e = q.content.get(id)
    assert.equal(before.published_at, e.published_at)
    assert.equal("The port reopened", e.body)
    assert.equal(0, #q.content.search("quay"))
    assert.equal(1, #q.content.search("port"))
    assert.equal(1, #q.content.search("harbour news"))
    assert.same({}, q.store.check())
  end)

  it("re-indexes the saves of a batch at its commit, and undoes with the batch what it undoes", function()
    local a = q.content.create { type = "article", title = "Gulls", body = "gulls on the quay" }
    local b = q.content.create { type = "article", title = "Ferry", body = "the ferry is late" }
    local c = q.content.create { type = "article", title = "Storm", body = "a storm warning" }
    local function ids(text)
      local out = {}
      for _, r in ipairs(q.content.search(text)) do out[#out + 1] = r.id end
      table.sort(out)
      return out
    end
    q.store.transaction(function()
      q.content.update(a, { body = "gulls on the pier" })
      q.content.update(a, { title = "Seagulls" })
      q.content.update(b, { body = "the ferry is late again" })
      q.content.update(b, { body = "the ferry is late" }) -- back to what the index holds
      local d = q.content.create { type = "article", title = "Tides", body = "spring tides on the quay" }
      q.content.update(d, { body = "spring tides" })
      q.content.delete(c) -- to the trash: still indexed
      q.content.delete(c, { permanent = true })
      local ok = pcall(q.store.transaction, function()
        q.content.update(b, { body = "the ferry sank" })
        error("undo this one")
      end)
      assert.is_false(ok)
      local gone = q.content.create { type = "article", title = "Gone", body = "never indexed" }
      q.content.delete(gone)
      q.content.delete(gone, { permanent = true })
      -- SQLite's FTS5 index is deferred to the commit (search_pending); PostgreSQL's is kept by
      -- its trigger in the transaction, so there it has nothing pending.
      if q.store.kind() == "sqlite" then
        assert.is_true(q.store.query("SELECT count(*) AS n FROM search_pending")[1].n > 0) -- deferred, not yet indexed
      end
    end)
    assert.same({}, ids("quay"))
    assert.same({ a }, ids("pier"))
    assert.same({ a }, ids("seagulls"))
    assert.same({}, ids("storm"))
    assert.same({ b }, ids("ferry late"))
    assert.same({}, ids("sank"))
    assert.equal(1, #ids("tides"))
    assert.same({}, ids("never"))
    assert.same({}, q.store.check()) -- FTS5's own integrity check against the entries
    local sqlite = q.store.kind() == "sqlite" -- (the deferral's own tables are SQLite's)
    if sqlite then
      assert.equal(0, q.store.query("SELECT (SELECT count(*) FROM search_deferred) + (SELECT count(*) FROM search_pending) AS n")[1].n)
    end
    local ok = pcall(q.store.transaction, function()
      q.store.transaction(function() q.content.update(a, { body = "rolled back" }) end)
      error("the whole batch fails")
    end)
    assert.is_false(ok)
    assert.same({ a }, ids("pier"))
    assert.same({}, q.store.check())
    -- A transaction that would commit with deferral still on fails instead of leaving the index behind.
    if sqlite then
      q._db:begin()
      q._db:exec("INSERT INTO search_deferred (id) VALUES (1)")
      assert.has_error(function() q._db:commit() end)
      q._db:rollback()
    end
  end)

  it("leaves an entry untouched when an update is invalid", function()
    local id = q.content.create { type = "article", title = "Keep me", fields = { dateline = "Oslo" } }
    invalid_fields(function() q.content.update(id, { title = "", fields = { dateline = ("x"):rep(101) } }) end)
    local e = q.content.get(id)
    assert.equal("Keep me", e.title)
    assert.equal(1, #q.content.revisions(id))
  end)

  it("deletes an entry to the trash, and from there for good with its terms, revisions and comments", function()
    local id = q.content.create { type = "article", title = "Gone soon", tags = { "x" }, status = "published" }
    q.comments.create { entry = id, author_name = "R", author_email = "r@example.org", body = "hi" }
    assert.has_error(function() q.content.delete(id, { permanent = true }) end)
    assert.is_true(q.content.delete(id))
    assert.equal("trash", q.content.get(id).status)
    assert.equal(0, q.content.count { status = "published" })
    assert.equal(1, q.store.query("SELECT count(*) AS n FROM revisions")[1].n)
    assert.equal(1, q.store.query("SELECT count(*) AS n FROM comments")[1].n)
    assert.is_true(q.content.delete(id, { permanent = true }))
    assert.is_nil(q.content.get(id))
    assert.equal(0, q.store.query("SELECT count(*) AS n FROM revisions")[1].n)
    assert.equal(0, q.store.query("SELECT count(*) AS n FROM comments")[1].n)
    assert.is_false(q.content.delete(id))
    assert.same({}, q.store.check())
  end)
  it("rolls back everything in a failed transaction", function()
    local ok = pcall(q.store.transaction, function()
      q.content.create { type = "article", title = "One" }
      q.content.create { type = "article", title = "Two" }
      error("boom")
    end)
    assert.is_false(ok)
    assert.equal(0, count())
    q.store.transaction(function()
      q.content.create { type = "article", title = "Kept" }
      pcall(q.store.transaction, function()
        q.content.create { type = "article", title = "Inner" }
        error("inner fails")
      end)
    end)
    assert.equal(1, count())
  end)

  it("refuses writes through the read-only query door", function()
    assert.has_error(function() q.store.query("DELETE FROM entries") end)
    assert.equal(1, q.store.query("SELECT ? AS v", 1)[1].v)
  end)

  it("answers report SQL written portably the same on both stores, and names SQLite's own SQL on PostgreSQL", function()
    local a = q.content.create { type = "article", title = "Harbour wall", status = "published", tags = { "Harbour", "Council" },
      published_at = "2026-03-01T10:00:00Z" }
    q.content.create { type = "article", title = "Ferry late", status = "published", tags = { "Harbour" }, published_at = "2026-03-02T10:00:00Z" }
    q.content.create { type = "page", title = "About us" }
    q.comments.create { entry = a, author_name = "Bo", author_email = "bo@example.org", body = "Fine", status = "approved" }
    -- joins, grouping, a CTE, CASE, coalesce, LIKE, string functions, parameters, LIMIT/OFFSET
    assert.same({ { slug = "harbour", n = 2 }, { slug = "council", n = 1 } }, q.store.query(
      "SELECT t.slug, count(*) AS n FROM terms t JOIN entry_terms et ON et.term_id = t.id"
      .. " WHERE t.taxonomy = ? GROUP BY t.slug ORDER BY n DESC, t.slug DESC", "tag"))
    assert.same({ { kind = "article", n = 2, first = "Ferry late" }, { kind = "page", n = 1, first = "About us" } }, q.store.query(
      "WITH e AS (SELECT type, title FROM entries WHERE status <> 'trash')"
      .. " SELECT CASE WHEN type = 'page' THEN 'page' ELSE 'article' END AS kind, count(*) AS n, min(title) AS first"
      .. " FROM e GROUP BY 1 ORDER BY 1"))
    assert.same({ { t = "HARBOUR", c = 1, len = 12 } }, q.store.query(
      "SELECT upper(substr(e.title, 1, 7)) AS t, coalesce((SELECT count(*) FROM comments c WHERE c.entry_id = e.id), 0) AS c,"
      .. " length(e.title) AS len FROM entries e WHERE lower(e.title) LIKE ? ORDER BY e.id LIMIT 1 OFFSET 0", "%wall%"))
    assert.same({ { title = "Ferry late" } }, q.store.query("SELECT title FROM entries WHERE published_at > ? AND title || '' <> ''",
      "2026-03-01T12:00:00Z"))
    -- SQLite's own SQL: it runs on SQLite; on PostgreSQL the error names what to write instead.
    local sqlite_only = {
      { "SELECT value FROM json_each(?)", "json_each()", "jsonb_array_elements" },
      { "SELECT json_extract(fields, '$.dateline') AS d FROM entries", "json_extract()", "->>" },
      { "SELECT strftime('%Y', published_at) AS y FROM entries", "strftime()", "to_char()" },
      { "SELECT rowid FROM entries_fts WHERE entries_fts MATCH 'harbour'", "MATCH (FTS5 full-text search)", "quire.content.search()" },
      { "SELECT group_concat(title) AS t FROM entries", "group_concat()", "string_agg" },
      { "SELECT name FROM sqlite_schema", "SQLite's own tables", "information_schema" },
      { "PRAGMA table_info(entries)", "PRAGMA", "information_schema" },
    }
    for _, c in ipairs(sqlite_only) do
      local ok, err = pcall(q.store.query, c[1], select(c[1]:find("?", 1, true) and 1 or 2, "[1, 2]"))
      if q.store.kind() == "sqlite" then
        assert(ok or c[1]:match("^PRAGMA"), err)
      else
        assert.is_false(ok, c[1])
        assert.matches("this query is written for SQLite and the site's store is PostgreSQL", err, 1, true)
        assert.matches(c[2], err, 1, true)
        assert.matches(c[3], err, 1, true)
        assert.matches("quire.store.kind()", err, 1, true)
      end
    end
    assert.is_true(q.store.kind() == "sqlite" or q.store.kind() == "postgresql")
    -- a portable query that fails says what the store said, and no dialect is blamed
    local ok, err = pcall(q.store.query, "SELECT nosuchcolumn FROM entries")
    assert.is_false(ok)
    assert.matches("nosuchcolumn", err, 1, true)
    assert.is_nil(err:find("written for SQLite", 1, true))
  end)
end)

describe("quire.comments", function()
  local q, entry
  before_each(function()
    q = testing.site()
    entry = q.content.create { type = "article", title = "Commented", status = "published" }
  end)

  it("creates threaded comments, held by default, without exposing emails", function()
    local c1 = q.comments.create { entry = entry, author_name = "Mia", author_email = "mia@example.org", body = "First!" }
    local c2 = q.comments.create { entry = entry, parent = c1, author_name = "Leo", author_email = "leo@example.org",
      author_url = "https://leo.example", body = "Reply", status = "approved" }
    local list = q.comments.query { entry = entry }
    assert.equal(2, #list)
    assert.equal("held", list[1].status)
    assert.equal(c1, list[2].parent_id)
    assert.is_nil(list[1].author_email)
    assert.equal("mia@example.org", q.comments.query { entry = entry, with_email = true }[1].author_email)
    assert.equal(1, #q.comments.query { entry = entry, status = "approved" })
    assert.equal(c2, q.comments.query { entry = entry, after = c1 }[1].id)
    q.comments.set_status(c1, "spam")
    assert.equal("spam", q.comments.query { entry = entry, limit = 1 }[1].status)
    assert.equal(1, q.comments.count(entry))
  end)

  it("validates every field", function()
    local other = q.content.create { type = "article", title = "Other" }
    local parent = q.comments.create { entry = other, author_name = "X", author_email = "x@example.org", body = "b" }
    local fields = invalid_fields(function()
      q.comments.create { entry = entry, parent = parent, author_name = "", author_email = "not-an-email",
        author_url = "javascript:alert(1)", body = "\xff" }
    end)
    assert.same({ "author_email", "author_name", "author_url", "body", "parent" }, (function() table.sort(fields) return fields end)())
    assert.has_error(function() q.comments.set_status(parent, "published") end)
  end)
end)

-- An entry's terms from its term_ids column (core.term_list, in C): what a gmatch("%d+") over
-- it gave in Lua, for every row of every list.
describe("core.term_list", function()
  local term_list = require("quire.core").term_list
  local names = {
    ["1"] = { id = 1, taxonomy = "tag", name = "Harbour" }, ["2"] = { id = 2, taxonomy = "section", name = "News" },
    ["3"] = { id = 3, taxonomy = "tag", name = "Ferries" }, ["4"] = { id = 4, taxonomy = "section", name = "Sport" },
    ["12"] = { id = 12, taxonomy = "tag", name = "Council" }, ["5"] = { id = 5, taxonomy = "other", name = "Odd" },
  }

  it("gives the tags in order, the first section, and whether an id was not known", function()
    assert.same({ { "Council", "Harbour", "Ferries" }, "News", false }, { term_list("12,2,1,4,3,5", names) })
    assert.same({ { "Harbour" }, nil, true }, { term_list("7,1,77", names) }) -- 7 and 77 unknown: left out
    assert.same({ {}, nil, false }, { term_list(nil, names) })
    assert.same({ {}, nil, false }, { term_list("", names) })
    assert.same({ { "Ferries" }, "Sport", false }, { term_list(" 4 ,x3,", names) }) -- runs of digits only
  end)

  it("decodes the entries of a list with their tags in position order and their section", function()
    local q = require("quire.testing").site()
    q.content.create { type = "article", title = "One", status = "published", tags = { "Zeta", "Alpha", "Mid" }, section = "Local" }
    q.content.create { type = "article", title = "Two", status = "published", tags = { "Alpha" } }
    local list = q.content.query { status = "published", order = "id" }
    assert.same({ "Zeta", "Alpha", "Mid" }, list[1].tags)
    assert.equal("Local", list[1].section)
    assert.same({ "Alpha" }, list[2].tags)
    assert.is_nil(list[2].section)
    assert.is_nil(list[1].term_ids)
  end)
end)
