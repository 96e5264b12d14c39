-- The web admin's newsroom features over its real routes (q:request with a staff session and the
-- form's CSRF token, as a browser sends them): revision restore, editorial notes kept private,
-- the entries list's bulk actions by role, and a pending version of a published story scheduled
-- for later. The clicking is in tests/browser/newsroom.test.js.
local testing = require "quire.testing"
local auth = require "quire.auth"
local jobs = require "quire.jobs"
local find = testing.find

local PLUGINS = { "theme", "article", "opinion", "listings", "feeds", "workflow", "search" }

local function url_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- A signed-in staff member: get(path) and post(path, form) with the session cookie and token.
local function staff(q, login, role)
  local id = q.users.create { login = login, name = login .. " Staff", role = role }
  local token = q.users.open_session(id)
  local s = { id = id }
  local function headers(extra)
    local h = { cookie = auth.COOKIE .. "=" .. token, host = "localhost" }
    for k, v in pairs(extra or {}) do h[k] = v end
    return h
  end
  function s.get(path) return q:request("GET", path, { headers = headers() }) end
  local csrf = s.get("/admin").body:match('name="csrf" value="(%x+)"')
  assert(csrf, login .. " has no CSRF token on the dashboard")
  function s.post(path, form)
    local parts = { "csrf=" .. csrf }
    for _, kv in ipairs(form) do parts[#parts + 1] = url_encode(kv[1]) .. "=" .. url_encode(kv[2]) end
    return q:request("POST", path, { headers = headers { ["content-type"] = "application/x-www-form-urlencoded" },
      body = table.concat(parts, "&") })
  end
  return s
end

-- A site named The Ledger and its signed-in staff, by login: ed an editor, avi an author, cora and
-- cid contributors. Returns q and then one staff member per login asked for, in that order.
local ROLES = { ed = "editor", avi = "author", cora = "contributor", cid = "contributor" }
local function ledger(settings, ...)
  local q = testing.site { name = "The Ledger", plugins = PLUGINS, settings = settings }
  local people = {}
  for i, login in ipairs({ ... }) do people[i] = staff(q, login, ROLES[login]) end
  return q, table.unpack(people)
end

-- The message a redirect carries back (?ok= or ?error=), decoded.
local function flash(res)
  local kind, text = (res.headers.location or ""):match("[?&](%a+)=([^&#]*)")
  return kind, text and text:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
end

describe("newsroom: notices after a redirect", function()
  local q, ed, cora
  setup(function() q, ed, cora = ledger(nil, "ed", "cora") end)

  it("shows a notice only when the admin wrote it for this session, not a link's text", function()
    local id = q.content.create { type = "article", title = "Noticed", body = "Body.", author = cora.id }
    local res = ed.post("/admin/entries/bulk", { { "action", "transition:publish" }, { "id", tostring(id) } })
    assert.equal(303, res.status)
    local page = ed.get(res.headers.location).body
    assert.equal(1, #find(page, "div.flash"))
    assert.truthy(find(page, "div.flash")[1].text:find("of 1 done", 1, true)) -- (refused: no standfirst)
    -- The same address in another staff member's session, and a link of someone's own text:
    -- no notice (it read "Your account is locked: call +1 555 0100" in the admin's own box).
    local theirs = cora.get(res.headers.location)
    assert.equal(200, theirs.status)
    assert.equal(0, #find(theirs.body, "div.flash"))
    for _, kind in ipairs({ "ok", "error" }) do
      local body = ed.get(("/admin/entries/%d?%s=Your%%20account%%20is%%20locked%%3A%%20call%%20%%2B1%%20555%%200100&n=00"):format(id, kind)).body
      assert.falsy(body:find("account is locked", 1, true))
      assert.equal(0, #find(body, "div.flash"))
    end
    assert.falsy(ed.get("/admin/media?upload_error=Your%20account%20is%20locked").body:find("account is locked", 1, true))
  end)
end)

describe("newsroom: revisions restore", function()
  local q, ed, cora
  setup(function() q, ed, cora = ledger(nil, "ed", "cora") end)

  it("restores an old revision as a new one, keeping every revision", function()
    local id = q.content.create { type = "article", title = "First headline", body = "First body.", author = ed.id }
    q.content.update(id, { title = "Second headline", body = "Second body." })
    q.content.update(id, { title = "Third headline", body = "Third body." })
    local before = q.content.revisions(id)
    assert.equal(3, #before)
    local first = before[3]
    assert.equal("First headline", first.title)
    local res = ed.post(("/admin/entries/%d/revisions/%d/restore"):format(id, first.id), {})
    assert.equal(303, res.status)
    assert.equal("ok", (flash(res)))
    local e = q.content.get(id)
    assert.equal("First headline", e.title)
    assert.equal("First body.", e.body)
    local after = q.content.revisions(id)
    assert.equal(4, #after)
    assert.are_not.equal(first.id, after[1].id) -- a new revision on top
    assert.equal(e.revision, after[1].id)
    assert.equal("First headline", after[1].title)
    for i = 1, 3 do assert.same(before[i].id, after[i + 1].id) end -- nothing rewritten
    assert.equal("Third headline", after[2].title)
    -- The revisions page lists it; the old one can be restored again later.
    assert.matches("First headline", ed.get(("/admin/entries/%d/revisions"):format(id)).body, 1, true)
  end)

  it("lets only editors restore", function()
    local id = q.content.create { type = "article", title = "Cora's draft", body = "v1", author = cora.id }
    q.content.update(id, { body = "v2" })
    local old = q.content.revisions(id)[2]
    local res = cora.post(("/admin/entries/%d/revisions/%d/restore"):format(id, old.id), {})
    assert.equal(403, res.status)
    assert.equal("v2", q.content.get(id).body)
    assert.equal(2, #q.content.revisions(id))
  end)

  it("answers 404 for a revision of another entry", function()
    local a = q.content.create { type = "article", title = "A", body = "a", author = ed.id }
    local b = q.content.create { type = "article", title = "B", body = "b", author = ed.id }
    local res = ed.post(("/admin/entries/%d/revisions/%d/restore"):format(a, q.content.revisions(b)[1].id), {})
    assert.equal("error", (flash(res)))
    assert.equal("A", q.content.get(a).title)
  end)
end)

describe("newsroom: editorial notes", function()
  local q, ed, cora, cid
  setup(function() q, ed, cora, cid = ledger({ api = { content = "open" } }, "ed", "cora", "cid") end)

  it("shows notes to staff on the editor and never on the public page, API, feeds or search", function()
    local SECRET = "NOTE-7f3a check the toll figure with the port authority"
    local id = q.content.create { type = "article", title = "Tolls rise at the harbour", body = "Tolls rise.", status = "published",
      published_at = os.time() - 60, author = cora.id, fields = { standfirst = "Drivers pay more." }, section = "Money", tags = { "Tolls" } }
    local res = ed.post(("/admin/entries/%d/notes"):format(id), { { "note", SECRET } })
    assert.equal(303, res.status)
    assert.equal("ok", (flash(res)))
    local editor = ed.get("/admin/entries/" .. id).body
    assert.matches(SECRET, editor, 1, true)
    local e = q.content.get(id)
    local public = {
      q.content.url(e), "/", "/feed.xml", "/atom.xml", "/feed.json", "/section/money", "/tag/tolls",
      "/section/money/feed.xml", "/sitemap.xml", "/search?q=toll", "/search?q=authority",
      "/api/content/v1/entries/" .. id, "/api/content/v1/entries?limit=50",
    }
    for _, path in ipairs(public) do
      local r = q:request("GET", path)
      assert.is_true(r.status == 200, path .. " answered " .. r.status)
      assert.is_nil(r.body:find("NOTE-7f3a", 1, true), path .. " shows the note")
      assert.is_nil(r.body:find("port authority", 1, true), path .. " shows the note")
    end
    assert.matches("Tolls rise at the harbour", q:request("GET", q.content.url(e)).body, 1, true)
    assert.is_nil(q.content.get(id).fields.note)
  end)

  it("escapes notes, checks them, and keeps them from staff who cannot see the story", function()
    local id = q.content.create { type = "article", title = "Cora's draft", body = "draft", author = cora.id }
    assert.equal(303, cora.post(("/admin/entries/%d/notes"):format(id), { { "note", "<script>alert(1)</script> & more" } }).status)
    local page = cora.get("/admin/entries/" .. id).body
    assert.matches("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more", page, 1, true)
    assert.is_nil(page:find("<script>alert(1)", 1, true))
    local kind, text = flash(cora.post(("/admin/entries/%d/notes"):format(id), { { "note", "   " } }))
    assert.equal("error", kind)
    assert.matches("required", text, 1, true)
    kind, text = flash(cora.post(("/admin/entries/%d/notes"):format(id), { { "note", ("x"):rep(4001) } }))
    assert.equal("error", kind)
    assert.matches("at most 4000", text, 1, true)
    -- Another contributor: the story does not exist for them, nor its notes.
    assert.equal(404, cid.post(("/admin/entries/%d/notes"):format(id), { { "note", "sneaky" } }).status)
    assert.equal(404, cid.get("/admin/entries/" .. id).status)
    assert.is_nil(ed.get("/admin/entries/" .. id).body:find("sneaky", 1, true))
  end)
end)

describe("newsroom: bulk actions by role", function()
  local q, ed, avi, cora
  setup(function() q, ed, avi, cora = ledger(nil, "ed", "avi", "cora") end)
  local function draft(title, author)
    return q.content.create { type = "article", title = title, body = "Text of " .. title .. ".", author = author,
      tags = { "Harbour" }, section = "Money", fields = { standfirst = "About " .. title .. "." } }
  end
  local function bulk(who, action, ids)
    local form = { { "action", action } }
    for _, id in ipairs(ids) do form[#form + 1] = { "id", tostring(id) } end -- the list's checkboxes
    return who.post("/admin/entries/bulk", form)
  end
  local function options(who)
    local out = {}
    for _, o in ipairs(find(who.get("/admin/entries").body, "option")) do out[o.attrs.value or ""] = true end
    return out
  end

  it("offers each role only the actions it may take", function()
    draft("Cora's listed", cora.id)
    draft("Avi's listed", avi.id)
    local c, a, e = options(cora), options(avi), options(ed)
    assert.is_true(c["transition:submit"])
    assert.is_nil(c["transition:publish"])
    assert.is_nil(c["trash"])
    assert.is_true(a["transition:publish"])
    assert.is_nil(a["trash"])
    assert.is_true(e["transition:publish"])
    assert.is_true(e["transition:unpublish"])
    assert.is_true(e["trash"])
  end)

  it("refuses a contributor's bulk publish and trash, and lets them submit their own", function()
    local mine1, mine2 = draft("Cora one", cora.id), draft("Cora two", cora.id)
    local theirs = draft("Ed's draft", ed.id)
    local kind, text = flash(bulk(cora, "transition:publish", { mine1, mine2 }))
    assert.equal("error", kind)
    assert.matches("0 of 2 done", text, 1, true)
    assert.equal("draft", q.content.get(mine1).status)
    assert.equal("draft", q.content.get(mine2).status)
    local res = bulk(cora, "trash", { mine1 })
    assert.equal(403, res.status)
    assert.equal("draft", q.content.get(mine1).status)
    -- Someone else's entry is "not found" to a contributor, even named by id; theirs are done.
    kind, text = flash(bulk(cora, "transition:submit", { mine1, theirs, mine2 }))
    assert.equal("error", kind)
    assert.matches("2 of 3 done", text, 1, true)
    assert.matches(theirs .. ": not found", text, 1, true)
    assert.is_nil(text:find("Ed's draft", 1, true))
    assert.equal("review", q.content.get(mine1).status)
    assert.equal("review", q.content.get(mine2).status)
    assert.equal("draft", q.content.get(theirs).status)
  end)

  it("lets an author publish their own only, and an editor publish and trash anyone's", function()
    local own, others = draft("Avi's own", avi.id), draft("Cora's piece", cora.id)
    local kind, text = flash(bulk(avi, "transition:publish", { own, others }))
    assert.equal("error", kind)
    assert.matches("1 of 2 done", text, 1, true)
    assert.equal("published", q.content.get(own).status)
    assert.equal("draft", q.content.get(others).status)
    assert.equal(403, bulk(avi, "trash", { own }).status)

    local a, b = draft("Ed bulk one", cora.id), draft("Ed bulk two", avi.id)
    kind, text = flash(bulk(ed, "transition:publish", { a, b }))
    assert.equal("ok", kind)
    assert.matches("2 of 2 done", text, 1, true)
    assert.equal(200, q:request("GET", q.content.url(q.content.get(a))).status)
    assert.equal(200, q:request("GET", q.content.url(q.content.get(b))).status)
    local url_a = q.content.url(q.content.get(a))
    kind = flash(bulk(ed, "trash", { a, b }))
    assert.equal("ok", kind)
    assert.equal("trash", q.content.get(a).status)
    assert.equal("trash", q.content.get(b).status)
    assert.are_not.equal(200, q:request("GET", url_a).status)
    -- Trashed entries leave the list and cannot be acted on again.
    assert.is_nil(ed.get("/admin/entries").body:find("Ed bulk one", 1, true))
    kind, text = flash(bulk(ed, "transition:publish", { a }))
    assert.equal("error", kind)
    assert.matches("not found", text, 1, true)
  end)

  it("refuses unknown actions, none ticked, and too many", function()
    local id = draft("Plain", ed.id)
    assert.equal(400, bulk(ed, "drop_table", { id }).status)
    assert.equal(400, bulk(ed, "transition:pub lish", { id }).status)
    local kind, text = flash(bulk(ed, "trash", {}))
    assert.equal("error", kind)
    assert.matches("Tick at least one", text, 1, true)
    local many = {}
    for i = 1, 201 do many[i] = id end
    local res = bulk(ed, "trash", many)
    assert.equal(400, res.status)
    assert.matches("at most 200", res.body, 1, true)
    assert.equal("draft", q.content.get(id).status)
  end)
end)

describe("newsroom: a pending version of a published story, scheduled", function()
  local q, ed, avi, cora
  setup(function() q, ed, avi, cora = ledger(nil, "ed", "avi", "cora") end)

  local function editor_form(e, changes)
    local form = { { "title", changes.title or e.title }, { "body", changes.body or e.body }, { "slug", e.slug },
      { "section", e.section or "" }, { "tags", table.concat(e.tags, ", ") }, { "base_revision", tostring(e.revision) } }
    for k, v in pairs(changes.fields or {}) do form[#form + 1] = { "fields." .. k, v } end
    return form
  end
  -- A story published an hour ago (live: its title, body, author and fields) and a pending version
  -- of it with changes, saved by the editor through the editor's form: the story's id and the answer.
  local function staged(live, changes)
    local id = q.content.create { type = "article", title = live.title, body = live.body, status = "published",
      published_at = os.time() - 3600, author = live.author, fields = live.fields }
    local res = ed.post("/admin/entries/" .. id, editor_form(q.content.get(id), changes))
    assert.equal(303, res.status)
    return id, res
  end
  -- The editor schedules the pending version of story id for the time at (seconds, UTC).
  local function schedule_pending(id, at)
    return ed.post("/admin/entries/" .. id .. "/pending", { { "action", "schedule" }, { "publish_at", os.date("!%Y-%m-%dT%H:%M:%S", at) } })
  end

  it("keeps readers on the live version until the scheduled time, then shows the new one", function()
    local id, res = staged({ title = "Ferry fares hold", body = "Fares hold for now.", author = avi.id,
      fields = { standfirst = "The live standfirst." } }, { body = "Fares rise in spring.", fields = { standfirst = "The pending standfirst." } })
    local url = q.content.url(q.content.get(id))
    assert.matches("pending", (select(2, flash(res))), 1, true)
    local function reader() return q:request("GET", url).body end
    assert.matches("Fares hold for now.", reader(), 1, true)
    assert.is_nil(reader():find("Fares rise", 1, true))
    -- Staff preview it on the site's own page, under a styled banner, never cached.
    local preview = ed.get("/admin/entries/" .. id .. "/preview")
    assert.equal(200, preview.status)
    assert.matches("Fares rise in spring.", preview.body, 1, true)
    assert.matches('<p class="preview-banner" role="status">Preview, not published</p>', preview.body, 1, true)
    assert.matches('<link rel="stylesheet" href="/static/admin/preview.css">\n</head>', preview.body, 1, true)
    assert.matches("no%-store", preview.headers["cache-control"])
    assert.equal(404, cora.get("/admin/entries/" .. id .. "/preview").status)

    -- A contributor may not schedule it; a time in the past is refused.
    assert.equal(404, cora.post("/admin/entries/" .. id .. "/pending", { { "action", "schedule" }, { "publish_at", "2030-01-01T09:00" } }).status)
    local kind, text = flash(ed.post("/admin/entries/" .. id .. "/pending", { { "action", "schedule" }, { "publish_at", "2001-01-01T09:00" } }))
    assert.equal("error", kind)
    assert.matches("future", text, 1, true)
    kind, text = flash(ed.post("/admin/entries/" .. id .. "/pending", { { "action", "schedule" }, { "publish_at", "next tuesday" } }))
    assert.equal("error", kind)
    assert.matches("not a date", text, 1, true)

    -- Scheduled two seconds ahead (the form takes seconds too; the site's zone is UTC here).
    local at = os.time() + 2
    kind, text = flash(schedule_pending(id, at))
    assert.equal("ok", kind, text)
    assert.equal(q.time.format(at), q._newsroom.staged(id).publish_at)
    assert.matches("go live", text, 1, true)
    -- The job before the time: nothing changes for readers.
    jobs.publish_scheduled(q)
    assert.matches("Fares hold for now.", reader(), 1, true)
    assert.matches("The live standfirst.", reader(), 1, true)
    local editor = ed.get("/admin/entries/" .. id).body
    assert.matches("The pending standfirst.", editor, 1, true) -- the editor shows the pending version
    while os.time() <= at do os.execute("sleep 0.3") end
    jobs.publish_scheduled(q)
    local page = reader()
    assert.matches("Fares rise in spring.", page, 1, true)
    assert.matches("The pending standfirst.", page, 1, true)
    assert.is_nil(page:find("Fares hold for now.", 1, true))
    assert.is_nil(q._newsroom.staged(id))
    local revs = q.content.revisions(id)
    assert.equal("published", revs[1].status)
    assert.equal("Fares rise in spring.", revs[1].body)
    assert.equal("Fares hold for now.", revs[2].body)
  end)

  it("leaves a scheduled pending version unpublished when the live story changed meanwhile", function()
    local id = staged({ title = "Bridge closes", body = "Closed on Monday.", author = ed.id }, { body = "Closed on Tuesday." })
    local at = os.time() + 1
    assert.equal("ok", (flash(schedule_pending(id, at))))
    q.content.update(id, { title = "Bridge closes for repairs" }) -- someone changes the live story directly
    while os.time() <= at do os.execute("sleep 0.3") end
    jobs.publish_scheduled(q)
    assert.equal("Closed on Monday.", q.content.get(id).body)
    local staged = q._newsroom.staged(id)
    assert.equal("Closed on Tuesday.", staged.data.body) -- kept, nothing lost
    assert.is_nil(staged.publish_at) -- and no longer scheduled
  end)
end)

describe("newsroom: the editor's search and social fields", function()
  it("groups the SEO and social fields under one legend and saves them", function()
    local q, ed = ledger(nil, "ed")
    for _, type in ipairs({ "article", "opinion" }) do
      local html = ed.get("/admin/entries/new?type=" .. type).body
      local seo = find(html, "fieldset#g-seo")[1]
      assert.is_truthy(seo, type .. " has a Search and social group")
      assert.matches("<legend>Search and social</legend>", seo.html, 1, true)
      for _, name in ipairs({ "seo_title", "seo_description", "seo_noindex", "social_title", "social_description", "social_image", "keywords" }) do
        assert.equal(1, #find(seo.html, "#f-" .. name), type .. ": " .. name .. " in the group")
      end
      assert.equal(1, #find(html, "fieldset#g-seo")) -- one group, not the field set on its own
      assert.matches('<label for="f-seo_title">SEO title</label>', seo.html, 1, true)
    end
    local res = ed.post("/admin/entries/new?type=opinion", { { "title", "Tides" }, { "body", "Body." },
      { "fields.seo_title", "Tides, explained" }, { "fields.social_image", "javascript:alert(1)" } })
    assert.equal(422, res.status)
    assert.matches("must be an http(s) or relative URL", find(res.body, "fieldset#g-seo")[1].html, 1, true)
    res = ed.post("/admin/entries/new?type=opinion", { { "title", "Tides" }, { "body", "Body." },
      { "fields.seo_title", "Tides, explained" }, { "fields.social_image", "https://cdn.example/t.jpg" } })
    assert.equal(303, res.status)
    local id = tonumber(res.headers.location:match("/admin/entries/(%d+)"))
    assert.equal("Tides, explained", q.content.get(id).fields.seo_title)
    assert.equal("https://cdn.example/t.jpg", q.content.get(id).fields.social_image)
  end)
end)

describe("newsroom: scheduling in the site's time zone", function()
  local q, ed
  setup(function()
    q = testing.site { name = "Aftenbladet", plugins = PLUGINS, settings = { timezone = "Europe/Oslo" } }
    ed = staff(q, "ed", "editor")
  end)
  local function story(title)
    return q.content.create { type = "article", title = title, body = "Text.", author = ed.id, tags = { "Fjord" },
      section = "Local", fields = { standfirst = "About " .. title .. "." } }
  end
  local function schedule(id, at)
    return ed.post("/admin/entries/" .. id .. "/transition", { { "transition", "schedule" }, { "published_at", at } })
  end

  it("stores a local time in winter and in summer as the right UTC, and shows it back in the zone", function()
    -- Oslo is UTC+1 in winter (CET) and UTC+2 from the last Sunday of March (CEST).
    local cases = {
      { "2027-01-15T09:00", "2027-01-15T08:00:00Z", "15 Jan 2027, 09:00 CET" },
      { "2027-03-27T09:00", "2027-03-27T08:00:00Z", "27 Mar 2027, 09:00 CET" },
      { "2027-03-28T09:00", "2027-03-28T07:00:00Z", "28 Mar 2027, 09:00 CEST" },
      { "2027-07-01T00:30", "2027-06-30T22:30:00Z", "1 Jul 2027, 00:30 CEST" },
    }
    for _, c in ipairs(cases) do
      local id = story("Scheduled for " .. c[1])
      local kind, text = flash(schedule(id, c[1]))
      assert.equal("ok", kind, text)
      local e = q.content.get(id)
      assert.equal("scheduled", e.status)
      assert.equal(c[2], e.published_at)
      assert.matches("to be published " .. c[3], text, 1, true)
      local page = ed.get("/admin/entries/" .. id).body
      assert.matches(c[3], page, 1, true)
      -- Back to a draft, the date-time picker offers the same local time again, naming the zone.
      assert.equal("ok", (flash(ed.post("/admin/entries/" .. id .. "/transition", { { "transition", "unpublish" } }))))
      page = ed.get("/admin/entries/" .. id).body
      assert.equal(c[1], find(page, "input#when-schedule")[1].attrs.value)
      assert.matches("Publication time (Europe/Oslo)", page, 1, true)
    end
  end)

  it("moves a time the clocks skipped on by the change, and takes the first of a time shown twice", function()
    local gap = story("In the gap")
    local _, text = flash(schedule(gap, "2027-03-28T02:30")) -- 02:00 -> 03:00 that night
    assert.equal("2027-03-28T01:30:00Z", q.content.get(gap).published_at)
    assert.matches("03:30 CEST", text, 1, true)
    local twice = story("Twice")
    _, text = flash(schedule(twice, "2027-10-31T02:30")) -- 03:00 -> 02:00 that night
    assert.equal("2027-10-31T00:30:00Z", q.content.get(twice).published_at)
    assert.matches("02:30 CEST", text, 1, true)
  end)

  it("schedules a pending version in the zone too, and filters the list by local days", function()
    local id = q.content.create { type = "article", title = "Ferry fares", body = "Live.", status = "published",
      published_at = "2026-11-30T23:30:00Z", author = ed.id, tags = { "Fjord" }, section = "Local", fields = { standfirst = "Fares." } }
    local e = q.content.get(id)
    assert.equal(303, ed.post("/admin/entries/" .. id, { { "title", e.title }, { "body", "Pending." }, { "slug", e.slug },
      { "section", "Local" }, { "tags", "Fjord" }, { "fields.standfirst", "Fares." }, { "base_revision", tostring(e.revision) } }).status)
    local kind, text = flash(ed.post("/admin/entries/" .. id .. "/pending", { { "action", "schedule" }, { "publish_at", "2027-08-01T06:15" } }))
    assert.equal("ok", kind, text)
    assert.equal("2027-08-01T04:15:00Z", q._newsroom.staged(id).publish_at)
    assert.matches("1 Aug 2027, 06:15 CEST", text, 1, true)
    -- Published 23:30 UTC on 30 November is 1 December in Oslo: the list's days are the zone's.
    local function listed(query) return ed.get("/admin/entries?status=published&" .. query).body:find("Ferry fares", 1, true) ~= nil end
    assert.is_true(listed("since=2026-12-01&until=2026-12-02"))
    assert.is_false(listed("since=2026-11-30&until=2026-12-01"))
  end)

  it("says what is wrong with a time it cannot read", function()
    local id = story("Bad time")
    local kind, text = flash(schedule(id, "2027-02-30T09:00"))
    assert.equal("error", kind)
    assert.matches("not a", text)
    kind, text = flash(schedule(id, "2027-02-03T09:00" .. ("0"):rep(5000)))
    assert.equal("error", kind)
    assert.matches("too long", text, 1, true)
    assert.equal("draft", q.content.get(id).status)
  end)
end)
