-- An archive's size does not change what a page costs: every query a page makes walks an index
-- for a bounded number of rows (shown with EXPLAIN QUERY PLAN on the statements the real code
-- runs), keyset pages stay put while stories are added, the counts the schema keeps stay exact,
-- the sitemaps list every published entry once, and bounded related posts equal the full
-- scoring's on the demo corpus.
local testing = require "quire.testing"
local demo = require "quire.demo"
local core = require "quire.core"
local cjson = require "cjson"
local memo = require "quire.memo"
local here = core.realpath(debug.getinfo(1, "S").source:sub(2))
local root = here:match("^(.*)/tests/lua/[^/]+$")
local PLUGINS = { "theme", "article", "opinion", "comments", "share", "prevnext", "related", "sponsor", "feeds", "search", "listings" }

-- The store's own rows(), whatever statements() has put in its place.
local function saved_rows(db, sql, ...) return debug.getmetatable(db).__index.rows(db, sql, ...) end

-- Records the SQL (and its parameters) the store runs while fn runs. A write first drops what
-- the memo kept (quire.memo), so these are the statements of a first render.
local function statements(q, fn)
  q._db:exec("INSERT INTO settings (key, value) VALUES ('spec.cold', '') ON CONFLICT (key) DO UPDATE SET value = excluded.value")
  local methods = debug.getmetatable(q._db).__index
  local seen, saved = {}, {}
  for _, m in ipairs({ "rows", "row", "value" }) do
    saved[m] = methods[m]
    methods[m] = function(db, sql, ...)
      -- (the site's store only: related posts tokenize words in a private one, quire.store_sql)
      if db == q._db then seen[#seen + 1] = { sql = sql, params = table.pack(...) } end
      return saved[m](db, sql, ...)
    end
  end
  local ok, err = pcall(fn)
  for m, f in pairs(saved) do methods[m] = f end
  assert(ok, err)
  return seen
end

-- The lines of a statement's query plan that would read a share of the archive: a full scan of a
-- table or index, or a sort of rows gathered first (a temporary B-tree). Scans of virtual tables
-- (json_each lists of ids, an FTS5 MATCH) and of a bounded subquery are theirs to bound.
local BROAD = { status = true, type = true, term_id = true, author_id = true, taxonomy = true }
local function unbounded(q, st)
  local bad = {}
  local plan = saved_rows(q._db, "EXPLAIN QUERY PLAN " .. st.sql, table.unpack(st.params, 1, st.params.n))
  -- A sort is bounded when it sorts the rows of given entries (a list of ids, or an equality
  -- on an id: an entry's terms or comments), or the right part of an ORDER BY (the rows of one
  -- key of an index walk).
  local by_id = true
  for _, r in ipairs(plan) do
    if r.detail:match("^SEARCH") and not r.detail:match("%([%w_]*id=%?") then by_id = false end
    if r.parent == 0 and r.detail:match("^SCAN json_each VIRTUAL TABLE") then by_id = true break end
  end
  -- Without a LIMIT, a search of an index by status, type, term or author alone reads every
  -- entry that has it.
  local limited = st.sql:find("LIMIT", 1, true) ~= nil
  for _, r in ipairs(plan) do
    local d = r.detail
    -- (entry_counts has a row per status: a search by status is one row)
    local cols = not limited and not by_id and not d:match("^SEARCH entry_counts ") and d:match("^SEARCH .*%((.-)%)$")
    if cols then
      local broad = true
      for col in (cols .. " AND "):gmatch("(.-) AND ") do
        if not BROAD[col:match("^[%w_]+")] then broad = false end
      end
      if broad then bad[#bad + 1] = d .. " (no LIMIT)" end
    end
    -- (SCAN CONSTANT ROW: a SELECT of scalar subqueries, which reads no table itself.)
    if (d:match("^SCAN ") and not d:match("VIRTUAL TABLE") and not d:match("^SCAN n$") and d ~= "SCAN CONSTANT ROW") or (d:match("TEMP B%-TREE") and not by_id and not d:match("RIGHT PART")) then
      bad[#bad + 1] = d
    end
  end
  return bad
end

-- On PostgreSQL the plan is the server's own and weighs the table sizes, so the check is what a
-- statement did: EXPLAIN ANALYZE counts the rows each scan read (those it returned and those its
-- filter dropped, over all its loops); a scan reading more than `most` rows (default 1,000 of
-- the 8,000 stories) reads a share of the archive. Sequential scans are priced out meanwhile: on
-- an archive this small the planner rightly reads a table whole rather than walk an index for a
-- few hundred ids, which it would not do on a large one; a statement no index serves still
-- scans the table.
local function unbounded_pg(q, st, most)
  local bad = {}
  q._db:exec("SET enable_seqscan = off")
  local ok, plan = pcall(saved_rows, q._db, "EXPLAIN (ANALYZE, FORMAT JSON) " .. st.sql, table.unpack(st.params, 1, st.params.n))
  q._db:exec("RESET enable_seqscan")
  assert(ok, plan)
  local function walk(node)
    local on = node["Relation Name"] or node["Index Name"]
    if on then
      local read = ((node["Actual Rows"] or 0) + (node["Rows Removed by Filter"] or 0) + (node["Rows Removed by Index Recheck"] or 0))
        * (node["Actual Loops"] or 1)
      if read > most then bad[#bad + 1] = ("%s on %s reads %d rows"):format(node["Node Type"], on, read) end
    end
    for _, child in ipairs(node.Plans or {}) do walk(child) end
  end
  walk(cjson.decode(plan[1]["QUERY PLAN"])[1].Plan)
  return bad
end

-- The search index's own statements (FTS5 MATCH, PostgreSQL's tsquery on entries_search), which
-- read a word's list by design (their callers bound how far).
local function search_index(sql)
  return sql:match("entries_fts MATCH") or sql:match("quire_match%(") or sql:match("entries_search[%w ]* ON s%.doc @@")
    or sql:match("FROM entries_search WHERE doc @@")
end

-- The memo's read of the tags moved since it last looked (quire.memo): an index walk in version
-- order that stops at its LIMIT, however many tags a bulk write moved.
local function tag_log(sql)
  return sql:match("FROM cache_tags WHERE version > %? ORDER BY version LIMIT")
end

local function assert_bounded(q, label, fn, allow, most)
  local sts = statements(q, fn)
  assert.is_true(#sts > 0, label .. ": ran no SQL")
  local pg = q.store.kind() == "postgresql"
  for _, st in ipairs(sts) do
    if st.sql:match("^%s*SELECT") and not (allow and allow(st.sql)) then
      local limit = tag_log(st.sql) and memo.CHANGED_MAX + 1
      local bad = pg and unbounded_pg(q, st, limit or most or 1000) or unbounded(q, st)
      assert(#bad == 0, ("%s: %s\n  reads the whole archive: %s"):format(label, st.sql, table.concat(bad, "; ")))
    end
  end
  return sts
end

describe("an archive of thousands of stories", function()
  local q, N
  local TAGS = { "Politics", "Economy", "Climate", "Sport", "Health", "Transport", "Housing", "Education" }
  setup(function()
    q = testing.site { name = "The Archive", plugins = PLUGINS, plugin_path = { root .. "/plugins" },
      settings = { theme = { sections = demo.SECTIONS } } }
    -- 20,000 stories on SQLite; on PostgreSQL (tests/pg_test.sh), whose saves each take a round
    -- trip or more, 8,000: still eight times what a page may read (assert_bounded's bound of 1,000
    -- rows) and what search ranks exactly (1,000 matches), so the same checks hold.
    N = q.store.kind() == "postgresql" and 8000 or 20000
    demo.seed(q)
    for b = 1, N, 2000 do -- (N a multiple of 2,000)
      q.store.transaction(function()
        for i = b, b + 1999 do
          q.content.create { type = "article", status = "published", section = "Metro", author = "maren",
            title = "The council plan, part " .. i, published_at = 1600000000 + i * 60,
            body = "The council met on question " .. i .. " and voted.", tags = { TAGS[i % 8 + 1], TAGS[(i + 3) % 8 + 1] } }
        end
      end)
    end
    -- PostgreSQL's planner weighs table statistics, which its autovacuum gathers after a bulk load.
    if q.store.kind() == "postgresql" then
      for _, t in ipairs({ "entries", "entry_terms", "terms", "revisions", "entries_search" }) do q._db:exec("ANALYZE " .. t) end
    end
  end)

  local function get(path)
    local r = q:request("GET", path)
    assert(r.status == 200, path .. ": " .. r.status)
    return r.body
  end
  local function older_of(html)
    return html:match('class="pagination%-next" rel="next" href="([^"]+)"')
  end

  it("builds every list page, deep page, feed and article from index walks", function()
    local deep = 0
    assert_bounded(q, "/", function() get("/") end) -- the front page: slots, section blocks, most read
    for _, path in ipairs({ "/latest", "/tag/climate", "/section/metro", "/author/maren" }) do
      local html = assert_bounded(q, path, function() return get(path) end) and get(path)
      local next_path = older_of(html)
      for _ = 1, 3 do -- a few pages deep, each from its cursor
        assert_bounded(q, next_path, function() html = get(next_path) end)
        next_path = older_of(html)
        deep = deep + 1
      end
      assert_bounded(q, "newer", function() get(html:match('class="pagination%-prev" rel="prev" href="([^"]+)"')) end)
    end
    assert.equal(12, deep)
    for _, path in ipairs({ "/feed.xml", "/tag/climate/atom.xml", "/section/metro/feed.json" }) do
      assert_bounded(q, path, function() get(path) end)
    end
    local old = q.content.query { status = "published", tag = "economy", order = "oldest", limit = 1 }[1]
    for _, e in ipairs({ old, q.content.query { status = "published", limit = 1 }[1] }) do
      -- The related-posts search for words runs an FTS5 MATCH (its own index) sorted by rank:
      -- bounded by leaving out words in more than a few thousand entries (checked below).
      assert_bounded(q, "article " .. e.id, function() get(q.content.url(e)) end, search_index)
      assert_bounded(q, "neighbours in the section", function() q.content.neighbours(e.id, { within = "section" }) end)
      assert_bounded(q, "links to them", function() q.content.neighbours(e.id, { within = "section", links = true }) end)
    end
    -- "council" is in every story: related posts do not match it. Its count (bounded) is taken
    -- once and kept until the next write: a write first, so that it is taken here.
    q.content.create { type = "article", title = "Memo dropped", status = "draft" }
    local sts = statements(q, function() q.content.related(old.id) end)
    local probed = false
    for _, st in ipairs(sts) do
      -- (SQLite: the phrase '"council"' of an FTS5 MATCH walked by quire_related_counts;
      -- PostgreSQL: plainto_tsquery of each word of an array parameter on entries_search)
      local matches = st.sql:match("sum%([mq]%.w%)")
      local counts = st.sql:match("quire_related_counts%(entries_fts") or st.sql:match("count%(%*%) FROM %(SELECT 1 FROM entries_search")
      for i = 1, st.params.n do
        local p = tostring(st.params[i])
        if matches then assert.is_nil(p:find("council", 1, true)) end
        if counts and (p:match('^"council"$') or p:match('^"council" OR ') or p:match(' OR "council"$')
          or p:match(' OR "council" OR ') or p:match('^{.*"council"[,}]')) then probed = true end
      end
    end
    assert.is_true(probed)
  end)

  -- A SQLite row with a long body takes a page of its own: a card read from the rows touched a
  -- page an entry (db/migrations/0033). On PostgreSQL long bodies are kept out of line (TOAST).
  -- Each index holds every card column, so that none loses its walks to another: a type's list
  -- searches by its type, an author's by the author (not every published entry, checking each).
  it("reads the cards of lists, articles and an export's walks from indexes, not the entries' rows", function()
    if q.store.kind() == "postgresql" then return end
    local function from_indexes(label, fn)
      for _, st in ipairs(statements(q, fn)) do
        -- (a statement that reads the body reads the row, as it must)
        if st.sql:match("^%s*SELECT") and not st.sql:find("body", 1, true) then
          local keys = {}
          for col in st.sql:gmatch("[^+]e%.([%w_]+) = %?") do
            if col == "type" or col == "author_id" then keys[#keys + 1] = col end
          end
          for _, r in ipairs(saved_rows(q._db, "EXPLAIN QUERY PLAN " .. st.sql, table.unpack(st.params, 1, st.params.n))) do
            local row_read = r.detail:match("^SEARCH e ") or r.detail:match("^SCAN e ") or r.detail:match("^SEARCH entries ")
              or r.detail:match("^SCAN entries ")
            assert(not row_read or r.detail:find("COVERING INDEX", 1, true),
              ("%s: %s\n  reads entries' rows: %s"):format(label, st.sql, r.detail))
            if r.detail:match("^SEARCH e ") then
              for _, col in ipairs(keys) do
                assert(r.detail:find(col .. "=?", 1, true), ("%s: %s\n  does not search by %s: %s"):format(label, st.sql, col, r.detail))
              end
            end
          end
        end
      end
    end
    local e = q.content.query { status = "published", tag = "economy", limit = 1 }[1]
    for _, path in ipairs({ "/", "/latest", "/tag/climate", "/section/metro", "/author/maren", q.content.url(e), "/feed.xml" }) do
      local html
      from_indexes(path, function() html = get(path) end)
      local older = older_of(html)
      if older then from_indexes(older, function() get(older) end) end
    end
    from_indexes("the export's walks", function()
      local n = 0
      require("quire.static_export").each_page(q, function() n = n + 1 end)
      assert.is_true(n > N)
    end)
  end)

  it("searches the newest matches of a word in every story, with an estimated total", function()
    local hits, info
    assert_bounded(q, "search", function() hits, info = q.content.search("council", { status = "published", limit = 10 }) end,
      search_index)
    assert.equal(10, #hits)
    assert.is_true(info.estimated)
    local n = q.content.count { status = "published" }
    assert.is_true(math.abs(info.total - n) <= n * 0.1, ("about %d for %d"):format(info.total, n))
    for _, h in ipairs(hits) do assert.matches("council", h.title:lower()) end -- title matches first
    assert_bounded(q, "/search", function() get("/search?q=council&page=3") end, search_index)
    assert.matches("About %d+,%d+ results", get("/search?q=council"))
    -- A rarer word is ranked whole, by bm25, with its exact count.
    local few, exact = q.content.search(tostring(N - 1), { status = "published" })
    assert.is_false(exact.estimated)
    assert.equal(1, exact.total)
    assert.equal("The council plan, part " .. (N - 1), few[1].title)
  end)

  it("lists every published entry exactly once in the sitemaps, by blocks of 10,000 ids", function()
    -- An entry far along the ids (as after years of deleted drafts): blocks 1 to 3 (ids up to
    -- about 20,050; 1 on PostgreSQL's smaller archive) and 13 hold entries, blocks between none.
    local last = math.ceil(q.store.query("SELECT max(id) AS m FROM entries")[1].m / 10000)
    q._db:exec("INSERT INTO entries (id, type, slug, status, title, created_at, updated_at, published_at)"
      .. " VALUES (120000, 'article', 'far-along', 'published', 'Far along', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z')")
    local base = q.site.base_url:gsub("/+$", "")
    local files = {}
    for loc in get("/sitemap.xml"):gmatch("<sitemap><loc>(.-)</loc></sitemap>") do files[#files + 1] = loc:sub(#base + 1) end
    local want = { "/sitemap-pages.xml", "/sitemap-news.xml" }
    for i = 1, last do want[#want + 1] = "/sitemap.xml?part=" .. i end
    want[#want + 1] = "/sitemap.xml?part=13"
    assert.equal(N == 20000 and 3 or 1, last)
    assert.same(want, files)
    local seen, n = {}, 0
    for i = 3, #files do
      local body
      assert_bounded(q, files[i], function() body = get(files[i]) end, nil, 10000) -- (a block: up to 10,000 ids)
      local urls = 0
      for loc, lastmod in body:gmatch("<loc>(.-)</loc>\n<lastmod>(.-)</lastmod>") do
        assert.is_nil(seen[loc], loc .. " listed twice")
        seen[loc], n, urls = lastmod, n + 1, urls + 1
      end
      assert.is_true(urls <= 10000 and #body <= 50 * 1024 * 1024)
    end
    local published, after = 0, nil
    repeat
      local page = q.content.query { status = "published", order = "id", limit = 5000, after = after }
      for _, e in ipairs(page) do
        published = published + 1
        assert.equal(e.updated_at, seen[base .. q.content.url(e)], e.title)
      end
      after = page[#page] and page[#page].id
    until #page < 5000
    assert.equal(published, n)
    assert.equal(404, q:request("GET", "/sitemap.xml?part=" .. (last + 1)).status)
    q._db:exec("DELETE FROM entries WHERE id = 120000")
  end)

  it("keeps a deep page's stories while newer ones are published", function()
    local path = older_of(get("/tag/sport"))
    for _ = 1, 5 do path = older_of(get(path)) end
    local before = get(path):match("<main.-</main>")
    q.store.transaction(function()
      for i = 1, 50 do
        q.content.create { type = "article", status = "published", title = "Late story " .. i, tags = { "Sport" }, section = "Metro" }
      end
    end)
    assert.equal(before, get(path):match("<main.-</main>"))
  end)

  it("keeps the counts of published entries exact through publishing, unpublishing, merging and deleting", function()
    local function exact()
      assert.equal(q.store.query("SELECT count(*) AS n FROM entries WHERE status = 'published'")[1].n, q.content.count { status = "published" })
      assert.equal(q.store.query("SELECT count(*) AS n FROM entries WHERE status <> 'trash'")[1].n, q.content.count())
      assert.equal(q.store.query("SELECT count(*) AS n FROM entries WHERE status = 'draft'")[1].n, q.content.count { status = "draft" })
      for _, t in ipairs(q.store.query("SELECT slug, taxonomy, listed FROM terms")) do
        local n = q.store.query("SELECT count(*) AS n FROM entry_terms et JOIN entries e ON e.id = et.entry_id"
          .. " WHERE et.term_id = (SELECT id FROM terms WHERE slug = ? AND taxonomy = ?) AND e.status = 'published'", t.slug, t.taxonomy)[1].n
        assert.equal(n, t.listed)
      end
    end
    exact()
    local e = { id = q.content.create { type = "article", title = "Counted", status = "draft", tags = { "Sport", "Rare" } } }
    exact()
    q.content.update(e.id, { status = "published" })
    exact()
    q.content.update(e.id, { tags = { "Rare", "Other" } })
    exact()
    q.terms.merge("tag", "Other", "Sport")
    exact()
    q.content.update(e.id, { status = "archived" })
    exact()
    q.content.update(e.id, { status = "published" })
    q.content.delete(e.id) -- to the trash
    exact()
    q.content.untrash(e.id)
    exact()
    q.content.delete(e.id)
    q.content.delete(e.id, { permanent = true })
    exact()
  end)

  it("streams quire.content.query and counts in keyset pages of bounded size", function()
    local seen, after, pages = 0, nil, 0
    repeat
      local page = q.content.query { status = "published", order = "id", limit = 1000, after = after }
      seen, pages = seen + #page, pages + 1
      after = page[#page] and page[#page].id
    until #page < 1000
    assert.equal(q.content.count { status = "published" }, seen)
    assert.is_true(pages >= N // 1000)
  end)
end)

-- Today's related-posts scoring over every candidate (the algorithm quire.content.related used
-- before its candidates were bounded): every published entry sharing a tag, a keyword or words.
local function full_related(q, id, o)
  local json = cjson.new()
  local db = q._db
  local rows = function(sql, ...) return saved_rows(db, sql, ...) end
  local e = q.content.get(id)
  local types_list = { "article", "opinion" }
  local types_json = json.encode(types_list)
  local tag_ids = {}
  for _, t in ipairs(rows("SELECT t.id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE et.entry_id = ? AND t.taxonomy = 'tag'", id)) do
    tag_ids[#tag_ids + 1] = t.id
  end
  local kf = "$.keywords"
  local function keyword_list(v)
    local out = {}
    if type(v) == "table" then
      for _, k in ipairs(v) do if type(k) == "string" and k:match("%S") then out[#out + 1] = k:lower():gsub("^%s+", ""):gsub("%s+$", "") end end
    end
    return out
  end
  local target_kw = keyword_list(e.fields.keywords)
  local cand, order = {}, {}
  local function add(cid)
    if cid ~= id and not cand[cid] then cand[cid] = { id = cid, text = 0 }; order[#order + 1] = cid end
  end
  local published = " e.status = 'published' AND e.type IN (SELECT value FROM json_each(?))"
  if #tag_ids > 0 then
    for _, r in ipairs(rows("SELECT et.entry_id AS id, count(*) AS shared FROM entry_terms et JOIN entries e ON e.id = et.entry_id"
      .. " WHERE et.term_id IN (SELECT value FROM json_each(?)) AND" .. published
      .. " GROUP BY et.entry_id ORDER BY shared DESC, e.published_at DESC LIMIT 500", json.encode(tag_ids), types_json)) do add(r.id) end
  end
  if #target_kw > 0 then
    for _, r in ipairs(rows("SELECT e.id FROM entries e WHERE" .. published
      .. " AND EXISTS (SELECT 1 FROM json_each(e.fields, ?) k WHERE lower(k.value) IN (SELECT value FROM json_each(?)))"
      .. " ORDER BY e.published_at DESC LIMIT 200", types_json, kf, json.encode(target_kw))) do add(r.id) end
  end
  if e.published_at then
    for _, dir in ipairs({ { "<", "DESC" }, { ">", "ASC" } }) do
      for _, r in ipairs(rows(("SELECT e.id FROM entries e WHERE e.published_at %s ? AND"):format(dir[1]) .. published
        .. (" ORDER BY e.published_at %s LIMIT 10"):format(dir[2]), e.published_at, types_json)) do add(r.id) end
    end
  end
  local STOP = {}
  for w in ("a an and are as at be but by for from has have in into is it its of on or that the their "
    .. "this to was were will with after over under about than then them they what when which while who "
    .. "would could should there these those been being also more most some such only other into"):gmatch("%a+") do STOP[w] = true end
  local terms, seen = {}, {}
  local function words_of(text)
    for w in text:gmatch("[%w\128-\255]+") do
      if #terms >= 16 then return end
      w = w:lower()
      if #w >= 4 and not STOP[w] and not seen[w] and core.utf8_valid(w) then seen[w] = true; terms[#terms + 1] = w end
    end
  end
  words_of(e.title)
  for _, k in ipairs(target_kw) do words_of(k) end
  if type(e.fields.standfirst) == "string" then words_of(e.fields.standfirst) end
  -- Text similarity (lua/quire/related.lua): idf of each shared word, in thousandths, counted over
  -- every entry the index finds it in; twice more for a word in the title as written.
  -- (the count as the scoring rounds it: quire.related keeps lists stable across one publish)
  local total = require("quire.related").total_step(rows("SELECT count(*) AS n FROM entries WHERE status = 'published'")[1].n)
  local weight = {}
  for _, w in ipairs(terms) do
    local n = rows("SELECT count(*) AS n FROM entries_fts WHERE entries_fts MATCH ?", '"' .. w .. '"')[1].n
    if n > 0 then weight[w] = math.floor(1000 * math.log(1 + total / n) + 0.5) end
  end
  local text = {}
  for w, wt in pairs(weight) do
    for _, r in ipairs(rows("SELECT rowid AS id FROM entries_fts WHERE entries_fts MATCH ?", '"' .. w .. '"')) do
      text[r.id] = (text[r.id] or 0) + wt
    end
  end
  local best = {}
  for _, r in ipairs(rows("SELECT id, title FROM entries e WHERE" .. published, types_json)) do
    if text[r.id] and r.id ~= id then best[#best + 1] = { id = r.id, score = text[r.id], title = r.title } end
  end
  table.sort(best, function(a, b) if a.score ~= b.score then return a.score > b.score end return a.id > b.id end)
  for i = 1, math.min(#best, 50) do
    local b = best[i]
    add(b.id)
    local counted = {}
    for w in b.title:gmatch("[%w\128-\255]+") do
      w = w:lower()
      if weight[w] and not counted[w] then counted[w] = true; b.score = b.score + 2 * weight[w] end
    end
    cand[b.id].text = b.score
  end
  if #order == 0 then return {} end
  local ids_json = json.encode(order)
  for _, r in ipairs(rows("SELECT id, published_at, json_extract(fields, ?) AS kw FROM entries WHERE id IN (SELECT value FROM json_each(?)) AND status = 'published'", kf, ids_json)) do
    local c = cand[r.id]
    c.time, c.tags, c.kw, c.ok = q.time.epoch(r.published_at) or 0, {}, r.kw, true
  end
  for _, r in ipairs(rows("SELECT et.entry_id, et.term_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = 'tag' AND et.entry_id IN (SELECT value FROM json_each(?))", ids_json)) do
    local c = cand[r.entry_id]
    if c.tags then c.tags[#c.tags + 1] = r.term_id end
  end
  local kw_ids, nkw = {}, 0
  local function intern(list)
    local out = {}
    for _, k in ipairs(list) do
      if not kw_ids[k] then nkw = nkw + 1; kw_ids[k] = nkw end
      out[#out + 1] = kw_ids[k]
    end
    return out
  end
  local list = {}
  for _, cid in ipairs(order) do
    local c = cand[cid]
    if c.ok then
      local ok, decoded = pcall(json.decode, c.kw or "[]")
      c.keywords = intern(keyword_list(ok and decoded or nil))
      c.kw, c.ok = nil, nil
      list[#list + 1] = c
    end
  end
  local df = {}
  if #tag_ids > 0 then
    for _, r in ipairs(rows("SELECT et.term_id, count(*) AS n FROM entry_terms et JOIN entries e ON e.id = et.entry_id"
      .. " WHERE et.term_id IN (SELECT value FROM json_each(?)) AND e.status = 'published' GROUP BY et.term_id", json.encode(tag_ids))) do
      df[r.term_id] = r.n
    end
  end
  local target = { id = id, tags = tag_ids, keywords = intern(target_kw), time = q.time.epoch(e.published_at or e.created_at) or 0 }
  return core.related_rank(target, list, {
    weights = o.weights, threshold = o.threshold, rarity = o.rarity, date_window = o.date_window, limit = o.limit,
    df = df, total = require("quire.related").total_step(rows("SELECT count(*) AS n FROM entries WHERE status = 'published'")[1].n),
  })
end

describe("bounded related posts on the demo corpus", function()
  it("give the same top results, with the same scores, as scoring every candidate", function()
    local q = testing.site { name = "The Mereland Courier", plugins = PLUGINS, plugin_path = { root .. "/plugins" },
      settings = { theme = { sections = demo.SECTIONS } } }
    -- SQLite only: the full scoring above is written in SQLite's SQL (json_each, json_extract).
    -- On PostgreSQL tests/pg_test.sh compares every demo entry's related posts with SQLite's.
    if q.store.kind() ~= "sqlite" then return end
    demo.seed(q)
    local o = { weights = { keywords = 100, tags = 80, date = 10, text = 40 }, threshold = 80, rarity = 0.5,
      date_window = 365 * 86400, limit = 5 }
    local compared, nonempty = 0, 0
    for _, e in ipairs(q.content.query { status = "published", limit = 1000 }) do
      if e.type ~= "page" then
        local want = full_related(q, e.id, o)
        local got = q.content.related(e.id, { limit = 5 })
        assert.equal(#want, #got, e.title)
        for i = 1, #want do
          assert.equal(want[i].id, got[i].id, e.title)
          assert.near(want[i].score, got[i].score, 1e-9)
        end
        compared = compared + 1
        if #want > 0 then nonempty = nonempty + 1 end
      end
    end
    assert.is_true(compared >= 20)
    assert.is_true(nonempty >= 10)
  end)
end)
