-- Editorial data that is never silently lost: ids never reused, the trash, no empty revisions,
-- diffs by field, honest summaries, empty lists as [].
local testing = require "quire.testing"
local cjson = require "cjson"

describe("integrity", function()
  local q
  before_each(function() q = testing.site() end)
  local function n(sql, ...) return q.store.query("SELECT (" .. sql .. ") AS n", ...)[1].n end

  it("never hands out the id of a deleted entry, comment, term or revision again", function()
    local a = q.content.create { type = "article", title = "First", tags = { "Gulls" } }
    local b = q.content.create { type = "article", title = "Second", tags = { "Terns" } }
    local c = q.comments.create { entry = b, author_name = "Bo", author_email = "bo@example.org", body = "hi" }
    local last_rev = n("SELECT max(id) FROM revisions")
    local last_term = n("SELECT max(id) FROM terms")
    q.content.delete(b)
    q.content.delete(b, { permanent = true })
    q._db:exec("DELETE FROM terms WHERE id = ?", last_term) -- a term left without entries, removed
    local b2 = q.content.create { type = "article", title = "Third", tags = { "Skuas" } }
    assert.is_true(b2 > b)
    assert.is_true(n("SELECT max(id) FROM revisions") > last_rev)
    assert.is_true(n("SELECT max(id) FROM terms") > last_term)
    local c2 = q.comments.create { entry = a, author_name = "Al", author_email = "al@example.org", body = "yo" }
    assert.is_true(c2 > c)
    -- the audit log names each entry once
    assert.equal(1, n("SELECT count(DISTINCT detail) FROM audit_log WHERE subject = ?", "entry:" .. b))
  end)

  it("keeps a trashed entry out of every public read, with its revisions and comments, until untrashed", function()
    local id = q.content.create { type = "article", title = "Pier closes", body = "The pier closes for winter.",
      status = "published", tags = { "Pier" }, section = "Local" }
    q.content.update(id, { body = "The pier closes for the winter." })
    q.comments.create { entry = id, author_name = "Bo", author_email = "bo@example.org", body = "Sad", status = "approved" }
    assert.is_true(q.content.trash(id))
    local e = q.content.get(id)
    assert.equal("trash", e.status)
    for _, query in ipairs({ {}, { status = "published" }, { tag = "Pier" }, { section = "Local" }, { type = "article" } }) do
      assert.same({}, q.content.query(query))
      assert.equal(0, q.content.count(query))
    end
    assert.same({}, q.content.search("pier"))
    assert.same({}, q.content.search("pier", { status = "published" }))
    assert.equal(1, #q.content.query { status = "trash" })
    assert.equal(2, #q.content.revisions(id))
    assert.equal(1, n("SELECT count(*) FROM comments WHERE entry_id = ?", id))
    -- a trashed entry is not edited: it comes back first
    local ok, err = pcall(q.content.update, id, { title = "Pier reopens" })
    assert.is_false(ok)
    assert.matches("in the trash: untrash it first", tostring(err))
    assert.is_false(pcall(q.content.update, id, { status = "trash" }) and true or false)
    -- `quire terms list` counts the term's entries without the trash
    local listed = q:command("terms", "list", "--taxonomy", "tag", "--format", "json")
    assert.equal(0, listed.status, listed.stderr)
    local row = cjson.decode(listed.stdout)
    assert.same({ 1, "pier", 0, 0 }, { #row, row[1].slug, row[1].entries, row[1].published })
    assert.is_true(q.content.untrash(id))
    listed = cjson.decode(q:command("terms", "list", "--taxonomy", "tag", "--format", "json").stdout)
    assert.same({ 1, 1 }, { listed[1].entries, listed[1].published })
    e = q.content.get(id)
    assert.equal("published", e.status)
    assert.same({ "Pier" }, e.tags)
    assert.equal(1, #q.content.search("pier"))
    assert.equal(0, n("SELECT count(*) FROM trash"))
    assert.is_false(pcall(q.content.untrash, id))
    -- a trashed entry keeps its slug, and says so
    q.content.trash(id)
    ok, err = pcall(q.content.create, { type = "article", title = "Pier closes again", slug = "pier-closes" })
    assert.is_false(ok)
    assert.matches(("in the trash: delete it for good first"), tostring(err), 1, true)
    q.content.untrash(id)
    assert.same({}, q.store.check())
  end)

  it("empties the trash for good, only what was trashed before the given time, and audits each step", function()
    local old = q.content.create { type = "article", title = "Old news" }
    local new = q.content.create { type = "article", title = "New news" }
    local kept = q.content.create { type = "article", title = "Kept" }
    q.content.delete(old)
    q.content.delete(new)
    q._db:exec("UPDATE trash SET trashed_at = '2020-01-01T00:00:00Z' WHERE entry_id = ?", old)
    assert.equal(1, q.content.empty_trash { before = "2021-01-01T00:00:00Z" })
    assert.is_nil(q.content.get(old))
    assert.equal(0, n("SELECT count(*) FROM revisions WHERE entry_id = ?", old))
    assert.equal("trash", q.content.get(new).status)
    assert.equal(1, q.content.empty_trash())
    assert.is_nil(q.content.get(new))
    assert.is_not_nil(q.content.get(kept))
    local actions = {}
    for _, r in ipairs(q.store.query("SELECT action, subject FROM audit_log ORDER BY id")) do actions[#actions + 1] = r.action .. " " .. r.subject end
    assert.same({ "entry.trashed entry:" .. old, "entry.trashed entry:" .. new, "entry.deleted entry:" .. old,
      "entry.deleted entry:" .. new }, actions)
    assert.same({}, q.store.check())
  end)

  it("writes no revision, no updated_at and no cache bump for a save that changes nothing", function()
    local id = q.content.create { type = "article", title = "Same", body = "Text", tags = { "A", "B" }, section = "Local",
      fields = { dateline = "Oslo", standfirst = "Short" } }
    q._db:exec("UPDATE entries SET updated_at = '2020-01-01T00:00:00Z' WHERE id = ?", id)
    -- the stored fields in another key order: the same fields
    q._db:exec("UPDATE entries SET fields = ? WHERE id = ?", '{"standfirst":"Short","dateline":"Oslo"}', id)
    local version = n("SELECT coalesce(max(version), 0) FROM cache_tags")
    assert.is_true(q.content.update(id, { title = "Same", body = "Text", tags = { "A", "b" }, section = "Local",
      fields = { dateline = "Oslo", standfirst = "Short" } }))
    assert.equal(1, #q.content.revisions(id))
    assert.equal("2020-01-01T00:00:00Z", q.content.get(id).updated_at)
    assert.equal(version, n("SELECT coalesce(max(version), 0) FROM cache_tags"))
    q.content.update(id, { tags = { "B", "A" } }) -- order is a change
    assert.equal(2, #q.content.revisions(id))
    q.content.update(id, { fields = { standfirst = "Longer" } })
    assert.equal(3, #q.content.revisions(id))
  end)

  it("diffs fields one by one, ignoring JSON key order", function()
    local diff = require "quire.diff"
    assert.same({}, diff.fields(cjson.decode('{"a":"x","b":[1,2]}'), cjson.decode('{"b":[1,2],"a":"x"}')))
    assert.same({ "fields.b: [-1-]{+3+}" }, diff.fields({ a = "x", b = 1 }, { b = 3, a = "x" }))
    assert.same({ "fields.c: {+new+}" }, diff.fields({}, { c = "new" }))
    assert.same({ 'fields.l: [-["a","b"]-]{+["a","c"]+}' }, diff.fields({ l = { "a", "b" } }, { l = { "a", "c" } }))
  end)

  it("says how many changes a summary leaves out", function()
    local bulk = require "quire.bulk"
    local writes = require("quire.content.writes").of(q._site)
    writes.reset_stats()
    for i = 1, 25 do q.content.create { type = "article", title = "Bulk " .. i } end
    q.content.delete(1)
    local s = bulk.summary(writes.stats)
    assert.matches("0 entries changed, 25 created, 0 deleted, 1 trashed", s, 1, true)
    assert.matches("… and 6 more", s, 1, true)
    local lines = 0
    for _ in s:gmatch("\n") do lines = lines + 1 end
    assert.equal(21, lines) -- the totals, 20 samples, the rest counted
  end)

  it("keeps the state name 'trash' for the core", function()
    local ok, err = pcall(q._site.workflow.define_state, "myplugin", { name = "trash" })
    assert.is_false(ok)
    assert.matches("quire's own", tostring(err), 1, true)
  end)

  it("encodes an empty list as []", function()
    local json = require "quire.json"
    assert.equal("[]", json.encode(json.list()))
    assert.equal('{"items":[],"o":{}}', json.encode { items = json.list {}, o = {} })
  end)
end)
