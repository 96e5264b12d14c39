-- Export and import round trips: export -> import into a fresh site -> export gives identical files.
local testing = require "quire.testing"
local core = require "quire.core"
local transfer = require "quire.transfer"
local cjson = require "cjson"

local read = testing.read_file

local function tree(dir, prefix, out)
  out = out or {}
  for _, name in ipairs(core.listdir(dir) or {}) do
    local path, rel = dir .. "/" .. name, (prefix and (prefix .. "/") or "") .. name
    if core.stat(path) == "dir" then tree(path, rel, out) else out[rel] = read(path) end
  end
  return out
end

local function fill(q)
  q.users.create { login = "zoe", name = "Zoë Ångström", email = "zoe@example.org", bio = "Writes about \"data\"." }
  local a = q.content.create { type = "article", title = "Ünïcode & <tags> “quoted”", body = "# Head\n\nBody with *markdown*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    status = "published", published_at = "2026-02-03T04:05:06Z", author = "zoe", tags = { "Tag One", "Ölkrise" }, section = "World",
    fields = { dateline = "Zürich", standfirst = "Line one\nline two" } }
  local b = q.content.create { type = "page", title = "About", body = "", status = "draft" }
  q.content.create { type = "article", title = "No terms", body = "plain" }
  q.content.update(a, { title = "Ünïcode & <tags> “quoted” (updated)" })
  local c1 = q.comments.create { entry = a, author_name = "Reader", author_email = "r@example.org", body = "First", status = "approved" }
  local c2 = q.comments.create { entry = a, parent = c1, author_name = "Other", author_email = "o@example.org",
    author_url = "https://o.example", body = "Reply\nwith lines", status = "held" }
  q.comments.create { entry = a, parent = c2, author_name = "Third", author_email = "t@example.org", body = "Deeper", status = "spam" }
  q.comments.create { entry = b, author_name = "P", author_email = "p@example.org", body = "On a page" }
  -- what lives beside the entries: a password hash, shares, media, jobs, settings, an API
  -- token, the trash, the audit log, and ids with gaps (deleted entries)
  q.users.set_password(q.users.get("zoe").id, "correct horse battery")
  local db = q._db
  db:exec("INSERT INTO shares (entry_id, network, count) VALUES (?, 'mastodon', 12), (?, 'bluesky', 3)", a, a)
  db:exec("INSERT INTO media (url, title, mime, entry_id, source, created_at) VALUES ('/media/gull.jpg', 'A gull', 'image/jpeg', ?, 'upload:1', '2026-01-01T00:00:00Z')", a)
  -- a library image's files (named by its hash), and a stray file no media row names
  local hash = ("ab"):rep(32)
  db:exec("INSERT INTO media (url, title, mime, hash, format, width, height, widths, created_at) VALUES"
    .. " ('/media/ab/x.webp', 'Gull', 'image/png', ?, 'png', 2, 1, '[[2,1]]', '2026-01-01T00:00:00Z')", hash)
  local media = q.site.dir .. "/media/ab"
  core.mkdir(q.site.dir .. "/media")
  core.mkdir(media)
  for name, bytes in pairs({ [hash:sub(3) .. "-2.webp"] = "RIFF\0\1webp", [hash:sub(3) .. "-2.png"] = "\137PNG\0\255",
    ["stray-2.png"] = "nobody's", [("cd"):rep(31) .. "-2.png"] = "unnamed" }) do
    local f = assert(io.open(media .. "/" .. name, "wb"))
    f:write(bytes)
    f:close()
  end
  db:exec("INSERT INTO jobs (name, run_at, interval_s, attempts, last_error) VALUES ('notes#1', '2026-05-01T00:00:00Z', 3600, 2, 'timeout')")
  db:exec("INSERT INTO settings (key, value) VALUES ('theme.colour', 'teal')")
  db:exec("INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (?, 'feed reader', 'h4sh', '2026-01-02T00:00:00Z')", q.users.get("zoe").id)
  local gone = q.content.create { type = "article", title = "Retracted", body = "wrong" }
  q.content.delete(gone)
  q.content.delete(gone, { permanent = true })
  local binned = q.content.create { type = "article", title = "Binned", body = "later", status = "published", tags = { "Tag One" } }
  q.content.update(binned, { body = "later still" })
  q.content.delete(binned)
  q.content.create { type = "page", title = "After the gap" }
end

for _, format in ipairs({ "jsonl", "markdown" }) do
  describe("export --format " .. format, function()
    it("round-trips losslessly", function()
      local q1, dir1 = testing.site()
      fill(q1)
      local out1, out2 = dir1 .. "/../export1", dir1 .. "/../export2"
      local n, c = transfer.export(q1, out1, format)
      assert.equal(5, n)
      assert.equal(4, c)
      local q2, dir2 = testing.site()
      local e, c2, u = transfer.import(q2, out1)
      assert.same({ 5, 4, 1 }, { e, c2, u })
      transfer.export(q2, dir2 .. "/../export2", format)
      local t1, t2 = tree(out1), tree(dir2 .. "/../export2")
      assert.same(t1, t2)
      for _, f in ipairs({ "manifest.json", "users.jsonl", "comments.jsonl", "tables/revisions.jsonl", "tables/shares.jsonl",
        "tables/audit_log.jsonl", "tables/media.jsonl", "tables/jobs.jsonl", "tables/settings.jsonl", "tables/trash.jsonl",
        "tables/terms.jsonl", "tables/api_tokens.jsonl" }) do
        assert.is_truthy(t1[f], f)
      end
      -- the library's files travel with it, byte for byte; files no media row names stay home
      local hash_rest = ("ab"):rep(31)
      assert.equal("\137PNG\0\255", t1["media/ab/" .. hash_rest .. "-2.png"])
      assert.equal("RIFF\0\1webp", read(dir2 .. "/media/ab/" .. hash_rest .. "-2.webp"))
      assert.is_nil(t1["media/ab/stray-2.png"])
      assert.is_nil(t1["media/ab/" .. ("cd"):rep(31) .. "-2.png"])
      assert.matches('"media_files":2', t1["manifest.json"], 1, true)
      assert.matches('"password_hash":"$argon2id$', t1["users.jsonl"], 1, true)
      assert.matches('"count":12', t1["tables/shares.jsonl"], 1, true)
      assert.matches('"action":"entry.deleted"', t1["tables/audit_log.jsonl"], 1, true)
      -- the copy works as the original: the password, the trash, the revisions, ids never reused
      assert.is_truthy(q2.users.authenticate("zoe", "correct horse battery"))
      local binned = q2.content.query { status = "trash" }[1]
      assert.equal("Binned", binned.title)
      assert.equal(2, #q2.content.revisions(binned.id))
      q2.content.untrash(binned.id)
      assert.equal("published", q2.content.get(binned.id).status)
      local next_id = q2.content.create { type = "page", title = "Newest" }
      assert.equal(q1.content.create { type = "page", title = "Newest" }, next_id)
      assert.same({}, q2.store.check())
      -- importing again updates in place rather than duplicating anything
      local q3, dir3 = testing.site()
      transfer.import(q3, out1)
      transfer.import(q3, out1)
      transfer.export(q3, dir3 .. "/../export3", format)
      assert.same(t1, tree(dir3 .. "/../export3"))
      assert.equal(4, #q3.comments.query {})
    end)
  end)
end

describe("import", function()
  it("names every plugin, type and table the site lacks before writing anything", function()
    local q1, dir1 = testing.site { plugins = { "theme", "opinion", "sponsor" } }
    q1.content.create { type = "opinion", title = "A view", body = "Mine." }
    q1.content.create { type = "article", title = "News", body = "Facts." }
    local out = dir1 .. "/../export-needs"
    transfer.export(q1, out, "jsonl")
    local man = cjson.decode(read(out .. "/manifest.json"))
    assert.same({ { name = "opinion", version = "1.0" } }, man.plugins) -- sponsor defines nothing the entries use
    assert.same({ "article", "opinion" }, man.types)
    -- a table this site's database does not have
    local f = assert(io.open(out .. "/tables/redirects_future.jsonl", "w"))
    f:write('{"from":"/old","to":"/new"}\n')
    f:close()
    local q2 = testing.site()
    local ok, err = pcall(transfer.import, q2, out)
    assert.is_false(ok)
    err = tostring(err)
    assert.matches("nothing was written", err, 1, true)
    assert.matches("plugins not enabled in this site: opinion", err, 1, true)
    assert.matches("content types this site does not define: opinion", err, 1, true)
    assert.matches("tables this site's database lacks: redirects_future", err, 1, true)
    assert.equal(0, q2.store.query("SELECT count(*) AS n FROM entries")[1].n)
  end)

  it("gives rows new ids, and translates references to them, where the site has the old ones in use", function()
    local q1, dir1 = testing.site()
    local a = q1.content.create { type = "article", title = "Theirs", body = "x", status = "published" }
    q1._db:exec("INSERT INTO shares (entry_id, network, count) VALUES (?, 'mastodon', 7)", a)
    q1.content.update(a, { body = "y" })
    local out = dir1 .. "/../export-merge"
    transfer.export(q1, out, "jsonl")
    -- and what refers to a term the site already has (by its unique taxonomy and slug), and to
    -- the entry, without a foreign key: where an import came from
    q1.content.update(a, { tags = { "Gulls" } })
    local gulls = q1.store.query("SELECT id FROM terms WHERE slug = 'gulls'")[1].id
    q1._db:exec("INSERT INTO import_map (source, kind, key, ext_id, local_id) VALUES ('wordpress', 'tag', 'x#gulls', 'gulls', ?),"
      .. " ('wordpress', 'post', 'x#7', '7', ?)", gulls, a)
    transfer.export(q1, out, "jsonl")
    local q2 = testing.site()
    for i = 1, 3 do q2.content.create { type = "article", title = "Ours " .. i, tags = { "Terns", "Gulls" } } end
    transfer.import(q2, out)
    local map = {}
    for _, r in ipairs(q2.store.query("SELECT kind, local_id FROM import_map")) do map[r.kind] = r.local_id end
    assert.equal(q2.store.query("SELECT id FROM terms WHERE slug = 'gulls'")[1].id, map.tag)
    assert.equal(q2.content.get { type = "article", slug = "theirs" }.id, map.post)
    local e = q2.content.get { type = "article", slug = "theirs" }
    assert.equal(4, e.id)
    assert.equal(7, q2.store.query("SELECT count FROM shares WHERE entry_id = ?", e.id)[1].count)
    local revs = q2.content.revisions(e.id)
    assert.equal(3, #revs)
    assert.same({ "Gulls" }, revs[1].tags)
    assert.equal("y", revs[2].body)
    assert.same({}, q2.store.check())
  end)

  it("pages through big tables (rowid and composite keys) without losing a row", function()
    local q1, dir1 = testing.site()
    local ids = {}
    q1.store.transaction(function()
      for i = 1, 1100 do ids[i] = q1.content.create { type = "page", title = "Page " .. i } end
    end)
    for i = 1, 1100 do
      q1._db:exec("INSERT INTO shares (entry_id, network, count) VALUES (?, 'a', ?), (?, 'b', ?)", ids[i], i, ids[i], i + 1)
    end
    local out = dir1 .. "/../export-big"
    transfer.export(q1, out, "jsonl")
    local t1 = tree(out)
    local lines = 0
    for _ in t1["tables/shares.jsonl"]:gmatch("\n") do lines = lines + 1 end
    assert.equal(2200, lines)
    lines = 0
    for _ in t1["tables/revisions.jsonl"]:gmatch("\n") do lines = lines + 1 end
    assert.equal(1100, lines)
    local q2, dir2 = testing.site()
    transfer.import(q2, out)
    transfer.export(q2, dir2 .. "/../export-big2", "jsonl")
    assert.same(t1, tree(dir2 .. "/../export-big2"))
  end)

  it("carries a table it has never heard of, references to its own rows included", function()
    local q1, dir1 = testing.site()
    -- (an id the store hands out: SQLite's INTEGER PRIMARY KEY, PostgreSQL's identity column)
    local schema = "CREATE TABLE folders (id " .. (q1.store.kind() == "sqlite" and "INTEGER PRIMARY KEY"
      or "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY") .. ", parent_id INTEGER REFERENCES folders(id),"
      .. " entry_id INTEGER REFERENCES entries(id) ON DELETE CASCADE, name TEXT NOT NULL UNIQUE)"
    q1._db:exec(schema)
    local e = q1.content.create { type = "page", title = "Filed" }
    -- a child listed before its parent
    q1._db:exec("INSERT INTO folders (id, parent_id, entry_id, name) VALUES (5, 9, ?, 'child'), (9, NULL, NULL, 'parent')", e)
    local out = dir1 .. "/../export-folders"
    transfer.export(q1, out, "jsonl")
    assert.equal('{"entry_id":1,"id":5,"name":"child","parent_id":9}\n{"entry_id":null,"id":9,"name":"parent","parent_id":null}\n',
      read(out .. "/tables/folders.jsonl"))
    -- a site without the table is told so; one with it gets the rows, ids and references kept
    local ok, err = pcall(transfer.import, testing.site(), out)
    assert.is_false(ok)
    assert.matches("tables this site's database lacks: folders", tostring(err), 1, true)
    local q2, dir2 = testing.site()
    q2._db:exec(schema)
    transfer.import(q2, out)
    transfer.import(q2, out)
    transfer.export(q2, dir2 .. "/../export-folders2", "jsonl")
    assert.same(tree(out), tree(dir2 .. "/../export-folders2"))
    -- where the ids are taken, new ones, and the references follow them
    local q3 = testing.site()
    q3._db:exec(schema)
    q3._db:exec("INSERT INTO folders (id, name) VALUES (5, 'mine'), (9, 'also mine')")
    q3.content.create { type = "page", title = "Mine" }
    transfer.import(q3, out)
    local child = q3.store.query("SELECT f.parent_id, p.name AS parent, f.entry_id FROM folders f JOIN folders p ON p.id = f.parent_id WHERE f.name = 'child'")[1]
    assert.equal("parent", child.parent)
    assert.equal(q3.content.get { type = "page", slug = "filed" }.id, child.entry_id)
    assert.same({}, q3.store.check())
  end)

  it("carries columns a later migration adds to entries, comments and users", function()
    local schema = { "ALTER TABLE entries ADD COLUMN featured_media INTEGER REFERENCES media(id) ON DELETE SET NULL",
      "ALTER TABLE comments ADD COLUMN kind TEXT NOT NULL DEFAULT 'comment'", "ALTER TABLE users ADD COLUMN pronouns TEXT" }
    local function site_with_columns()
      local q, dir = testing.site()
      for _, sql in ipairs(schema) do q._db:exec(sql) end
      return q, dir
    end
    local q1, dir1 = site_with_columns()
    q1.users.create { login = "kim", name = "Kim" }
    q1._db:exec("UPDATE users SET pronouns = 'they' WHERE login = 'kim'")
    local e = q1.content.create { type = "article", title = "Pictured", author = "kim" }
    local _, m = q1._db:exec("INSERT INTO media (url, entry_id, created_at) VALUES ('/m/a.jpg', ?, '2026-01-01T00:00:00Z')", e)
    q1._db:exec("UPDATE entries SET featured_media = ? WHERE id = ?", m, e)
    local c = q1.comments.create { entry = e, author_name = "P", author_email = "p@example.org", body = "ping" }
    q1._db:exec("UPDATE comments SET kind = 'pingback' WHERE id = ?", c)
    for _, format in ipairs({ "jsonl", "markdown" }) do
      local out = dir1 .. "/../export-columns-" .. format
      transfer.export(q1, out, format)
      local q2, dir2 = site_with_columns()
      transfer.import(q2, out)
      transfer.export(q2, dir2 .. "/../export-columns2", format)
      assert.same(tree(out), tree(dir2 .. "/../export-columns2"))
      -- taken ids: the featured picture is translated to the media row's new id
      local q3 = site_with_columns()
      q3._db:exec("INSERT INTO media (url, created_at) VALUES ('/m/other.jpg', '2026-01-01T00:00:00Z')")
      transfer.import(q3, out)
      local row = q3.store.query("SELECT m.url FROM entries e JOIN media m ON m.id = e.featured_media WHERE e.slug = 'pictured'")[1]
      assert.equal("/m/a.jpg", row.url)
      assert.equal("pingback", q3.store.query("SELECT kind FROM comments")[1].kind)
      assert.equal("they", q3.store.query("SELECT pronouns FROM users WHERE login = 'kim'")[1].pronouns)
    end
    local ok, err = pcall(transfer.import, testing.site(), dir1 .. "/../export-columns-jsonl")
    assert.is_false(ok)
    assert.matches("nothing was written: columns this site's database lacks: comments.kind, entries.featured_media, users.pronouns",
      tostring(err), 1, true)
  end)
end)
