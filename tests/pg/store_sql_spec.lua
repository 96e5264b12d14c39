-- quire.store_sql_pg: the content model's store-specific SQL on PostgreSQL (search on
-- entries_search, lists as arrays, cache-tag versions with NOTIFY), against tests/pg_test.sh's
-- throw-away cluster.
local core = require "quire.core"
local sql = require "quire.store_sql_pg"
local url = assert(os.getenv("QUIRE_PG_URL"), "QUIRE_PG_URL: run this through tests/pg_test.sh")

describe("the PostgreSQL store's SQL", function()
  local db, ids
  local function add(title, body, fields, type_name, slug)
    local _, id = db:exec("INSERT INTO entries (type, slug, status, title, body, fields, created_at, updated_at, published_at)"
      .. " VALUES (?, ?, 'published', ?, ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
      type_name or "article", slug or title:lower():gsub("%W+", "-"), title, body, fields or "{}")
    return id
  end
  setup(function()
    db = assert(core.open_pg(url))
    db:exec("DELETE FROM entries")
    db:exec("DELETE FROM cache_tags")
    db:exec("DELETE FROM terms")
    ids = {
      add("Harbour council meets", "The tides were discussed at length."),
      add("Tidal barrage inquiry", "The council heard from residents about the barrage."),
      add("Weather", "Rain, then more rain. The council is not to blame."),
      add("Café reopens", "Crème brûlée returns to the harbour front."),
    }
  end)
  teardown(function() db:close() end)

  it("has every function the SQLite side has", function()
    for name, v in pairs(require("quire.store_sql")) do
      assert.equal(type(v), type(sql[name]), name)
    end
  end)

  it("passes lists as one parameter", function()
    local rows = db:rows("SELECT id FROM entries WHERE id " .. sql.IN_LIST .. " ORDER BY id", sql.id_list({ ids[1], ids[3] }))
    assert.same({ { id = ids[1] }, { id = ids[3] } }, rows)
    assert.equal(4, db:value("SELECT count(*) FROM entries WHERE type " .. sql.IN_LIST, sql.value_list({ "article", 'odd "quoted" \\ type' })))
    assert.equal(0, db:value("SELECT count(*) FROM entries WHERE type " .. sql.IN_LIST, sql.value_list({ 'odd "quoted" \\ type' })))
    assert.same({ { value = 'odd "quoted" \\ type' }, { value = "{,}" } },
      db:rows("SELECT unnest(?::text[]) AS value", sql.value_list({ 'odd "quoted" \\ type', "{,}" })))
  end)

  it("finds every word, scores each column, folds diacritics, stems English", function()
    local match, terms = sql.fts_match({ "council" })
    assert.equal(1, #terms)
    local window = sql.search_window(db, match, 10)
    assert.same({ { id = ids[3] }, { id = ids[2] }, { id = ids[1] } }, window)
    local scored = sql.search_scored(db, "SELECT e.id", match, " AND e.status = ?", { "published" }, 10)
    local by = {}
    for _, r in ipairs(scored) do by[r.id] = r end
    assert.is_true(by[ids[1]].in_title < 0) -- the only title match
    assert.equal(0, by[ids[2]].in_title)
    assert.is_true(by[ids[2]].body < 0)
    assert.equal(#"The council heard from residents about the barrage.", by[ids[2]].chars)
    assert.equal(3, sql.search_count_upto(db, match, 10))
    assert.equal(2, sql.search_count_upto(db, match, 2))
    assert.is_true(sql.search_more_than(db, match, 2))
    assert.is_false(sql.search_more_than(db, match, 3))
    assert.same({ [ids[1]] = true }, sql.search_in_column(db, match, "title"))
    assert.same({}, sql.search_in_column(db, match, "title", nil, ids[1] + 1))
    assert.same({ [ids[2]] = true, [ids[3]] = true }, sql.search_in_column(db, match, "body", terms[1]))
    local two = sql.fts_match({ "council", "barrage" })
    assert.same({ { id = ids[2] } }, sql.search_window(db, two, 10))
    assert.same({ { id = ids[4] } }, sql.search_window(db, (sql.fts_match({ "creme" })), 10))
    assert.same({ { id = ids[2] } }, sql.search_window(db, (sql.fts_match({ "barrages" })), 10)) -- stemmed
    assert.same({ { id = ids[2] } }, sql.search_window(db, (sql.fts_match({ "inquir" }, true)), 10)) -- a prefix
    assert.same({}, sql.search_window(db, (sql.fts_match({ "inqu" })), 10))
    -- a word is a phrase of its tokens; query syntax in it is text, not operators
    assert.same({ { id = ids[3] } }, sql.search_window(db, (sql.fts_match({ "more rain" })), 10))
    assert.same({}, sql.search_window(db, (sql.fts_match({ "rain more" })), 10))
    assert.same({}, sql.search_window(db, (sql.fts_match({ "council | weather" })), 10))
    assert.same({}, sql.search_window(db, (sql.fts_match({ "!&(" })), 10))
    assert.equal("", (sql.fts_match({})))
    -- another language: unstemmed, the index rebuilt once
    assert.is_true(sql.search_use_language(db, "nb"))
    assert.is_false(sql.search_use_language(db, "nb"))
    assert.same({}, sql.search_window(db, (sql.fts_match({ "barrages" })), 10))
    assert.is_true(sql.search_use_language(db, "en"))
    assert.same({}, db:check())
  end)

  it("marks the snippet's matches in the body as written, and reads the body before a passage", function()
    local s = sql.search_snippet(db, (sql.fts_match({ "barrage" })), ids[2])
    assert.matches("\2barrage\3", s, 1, true)
    -- where the body first has the text (in characters), the characters before it, its first one
    assert.same({ 40, "idents about ", "t" }, { sql.search_before(db, ids[2], "the barrage", 13) })
    assert.same({ 5, "The ", "c" }, { sql.search_before(db, ids[2], "council", 100) })
    assert.same({ 1, "", "T" }, { sql.search_before(db, ids[2], "The", 10) })
    assert.same({}, { sql.search_before(db, ids[2], "weather", 10) })
    s = sql.search_snippet(db, (sql.fts_match({ "creme", "brulee" })), ids[4])
    assert.equal("\2Crème\3 \2brûlée\3 returns to the harbour front.", s)
  end)

  it("reads entries of a list of ids", function()
    local rows = sql.entries_of(db, "SELECT e.id", { ids[4], ids[2] }, " AND e.status = ?", { "published" })
    local got = {}
    for _, r in ipairs(rows) do got[#got + 1] = r.id end
    table.sort(got)
    assert.same({ ids[2], ids[4] }, got)
  end)

  it("finds children, numbered slugs and merges term rows", function()
    local parent = add("Parent page", "", "{}", "page", "parent")
    local child = add("Child page", "", ('{"parent": %d}'):format(parent), "page", "child")
    add("Not a child", "", ('{"parent": "%d"}'):format(parent), "page", "other")
    assert.same({ { id = child } }, sql.children_of(db, "page", parent))
    add("A", "", "{}", "page", "draft-2")
    add("B", "", "{}", "page", "draft-10x")
    add("C", "", "{}", "page", "draft-x")
    add("D", "", "{}", "page", "draftee-3")
    local slugs = {}
    for _, r in ipairs(sql.numbered_slugs(db, "page", "draft")) do slugs[#slugs + 1] = r.slug end
    table.sort(slugs)
    assert.same({ "draft-10x", "draft-2" }, slugs)
    local _, a = db:exec("INSERT INTO terms (taxonomy, slug, name) VALUES ('tag', 'a', 'A')")
    local _, b = db:exec("INSERT INTO terms (taxonomy, slug, name) VALUES ('tag', 'b', 'B')")
    db:exec("INSERT INTO entry_terms (entry_id, term_id, position) VALUES (?, ?, 0), (?, ?, 1), (?, ?, 0)", ids[1], a, ids[2], a, ids[2], b)
    sql.copy_term_rows(db, a, b)
    assert.same({ { entry_id = ids[1], position = 0 }, { entry_id = ids[2], position = 0 } },
      db:rows("SELECT entry_id, position FROM entry_terms WHERE term_id = ? ORDER BY entry_id", b))
  end)

  it("bumps cache-tag versions in one step and wakes listening nodes when it commits", function()
    local node = assert(core.open_pg(url))
    node:exec("LISTEN quire_data")
    sql.bump_tags(db, { "entry:1", "list:home" })
    local v = db:value("SELECT max(version) FROM cache_tags")
    assert.same({ { tag = "entry:1", version = v }, { tag = "list:home", version = v } },
      db:rows("SELECT tag, version FROM cache_tags ORDER BY tag"))
    local notes = node:notifications(5000)
    assert.same({ { channel = "quire_data", payload = "public" } }, notes)
    -- inside a transaction: nothing is sent until it commits (once, however many statements
    -- wrote), nothing at all if it rolls back
    db:begin()
    sql.bump_tags(db, { "entry:2" })
    db:exec("UPDATE cache_tags SET version = version WHERE tag = 'entry:2'")
    assert.same({}, node:notifications(200))
    db:commit()
    assert.same({ { channel = "quire_data", payload = "public" } }, node:notifications(5000))
    db:begin()
    sql.bump_tags(db, { "entry:3" })
    db:rollback()
    assert.same({}, node:notifications(200))
    assert.is_nil(db:value("SELECT version FROM cache_tags WHERE tag = 'entry:3'"))
    -- a node that missed notifications catches up from the last version it saw
    assert.same({ { tag = "entry:2" } }, node:rows("SELECT tag FROM cache_tags WHERE version > ? ORDER BY version, tag", v))
    node:close()
  end)

  it("wakes only the nodes of the site written when sites share the database (a schema each)", function()
    db:exec("DROP SCHEMA IF EXISTS other_site CASCADE")
    db:exec("CREATE SCHEMA other_site")
    local other_url = url .. (url:find("?", 1, true) and "&" or "?") .. "options=-csearch_path%3Dother_site%2Cpublic"
    local other = assert(core.open_pg(other_url)) -- (migrated there: a site of its own)
    local node, other_node = assert(core.open_pg(url)), assert(core.open_pg(other_url))
    node:exec("LISTEN quire_data")
    other_node:exec("LISTEN quire_data")
    sql.bump_tags(other, { "entry:1" })
    assert.same({ { channel = "quire_data", payload = "other_site" } }, other_node:notifications(5000))
    sql.bump_tags(db, { "entry:1" })
    assert.same({ { channel = "quire_data", payload = "public" } }, node:notifications(5000)) -- (and not other's before it)
    assert.same({}, other_node:notifications(200))
    node:close()
    other_node:close()
    other:close()
    db:exec("DROP SCHEMA other_site CASCADE")
  end)
end)
