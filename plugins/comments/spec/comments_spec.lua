-- Comments: the form, threads, moderation, and every way a post is refused.
local testing = require "quire.testing"
local find = testing.find

local function encode(fields)
  local parts = {}
  for k, v in pairs(fields) do
    parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-_%.~]", function(c) return ("%%%02X"):format(c:byte()) end)
  end
  return table.concat(parts, "&")
end

local function new_site(settings)
  local q = testing.site { plugins = { "theme", "article", "comments" }, settings = { comments = settings or {} } }
  local id = q.content.create { type = "article", title = "Harbour fees rise", status = "published",
    published_at = os.time() - 3600, body = "Fees rise." }
  return q, id, q.content.url(q.content.get(id))
end

-- A form token made `age` seconds ago for entry id (what a cached page would carry).
local function token(q, id, age)
  return q.tokens.sign("comment-form", id .. ":" .. (os.time() - (age or 60)), 3600)
end

local function post(q, fields, opts)
  opts = opts or {}
  local headers = { ["content-type"] = "application/x-www-form-urlencoded", host = "news.example" }
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  return q:request("POST", "/comments", { headers = headers, body = encode(fields), remote = opts.remote or "192.0.2.1" })
end

local function valid(q, id, extra)
  local f = { entry_id = id, token = token(q, id), name = "Marta", email = "marta@mail.example", comment = "Well *said*." }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

describe("comments plugin", function()
  it("renders the Leave a Reply form with labelled fields, the notice, a token and a honeypot", function()
    local q, _, url = new_site()
    local html = q:request("GET", url).body
    assert.equal("Leave a Reply", find(html, "h2#reply-title")[1].text)
    assert.matches("Your email address will not be published. Required fields are marked *", find(html, "p#comment-notes")[1].text, 1, true)
    for _, f in ipairs({ { "comment-name", "name" }, { "comment-email", "email" }, { "comment-url", "url" } }) do
      assert.equal(f[2], find(html, "input#" .. f[1])[1].attrs.name)
      assert.equal(1, #find(html, "label[for=" .. f[1] .. "]"))
    end
    assert.equal("comment", find(html, "textarea#comment-body")[1].attrs.name)
    assert.is_string(find(html, "input#comment-email")[1].attrs.required)
    assert.is_nil(find(html, "input#comment-url")[1].attrs.required)
    assert.equal(1, #find(html, "input[name=token]"))
    assert.equal("-1", find(html, "input[name=homepage]")[1].attrs.tabindex)
    assert.equal("No Comments", find(html, "h2#comments-title")[1].text)
  end)

  it("holds a first-time commenter, shows the comment once approved, and never shows the email", function()
    local q, id, url = new_site()
    local r = post(q, valid(q, id))
    assert.equal(303, r.status)
    local cid = tonumber(r.headers.location:match("^/comment/(%d+)$"))
    assert.equal("held", q.comments.query { entry = id }[1].status)
    local notice = q:request("GET", r.headers.location)
    assert.equal(200, notice.status)
    assert.equal("private, no-store", notice.headers["cache-control"])
    assert.matches("awaiting moderation", find(notice.body, "p.notice")[1].text)
    assert.equal(0, #find(q:request("GET", url).body, "li.comment")) -- held: not public
    q.comments.set_status(cid, "approved")
    assert.equal(url .. "#comment-" .. cid, q:request("GET", "/comment/" .. cid).headers.location)
    local html = q:request("GET", url).body
    local c = find(html, "li#comment-" .. cid)[1]
    assert.matches("Marta", c.text)
    assert.equal("said", find(c.html, "em")[1].text)
    assert.equal("1 Comment", find(html, "h2#comments-title")[1].text)
    assert.is_nil(html:find("marta@mail.example", 1, true))
    assert.is_nil(notice.body:find("marta@mail.example", 1, true))
  end)

  it("approves at once a commenter whose address was approved before (in any letter case)", function()
    local q, id = new_site()
    post(q, valid(q, id))
    q.comments.set_status(q.comments.query { entry = id }[1].id, "approved")
    local r = post(q, valid(q, id, { email = "Marta@Mail.example", comment = "Me again." }))
    local cid = tonumber(r.headers.location:match("(%d+)$"))
    assert.equal("approved", q.comments.query { entry = id, status = "approved" }[2].status)
    assert.matches("#comment%-" .. cid .. "$", q:request("GET", r.headers.location).headers.location)
  end)

  it("holds everything with moderation = all, and nothing with none", function()
    local q, id = new_site { moderation = "all" }
    post(q, valid(q, id))
    q.comments.set_status(q.comments.query { entry = id }[1].id, "approved")
    post(q, valid(q, id, { comment = "Second." }))
    assert.equal("held", q.comments.query { entry = id }[2].status)
    local q2, id2 = new_site { moderation = "none" }
    post(q2, valid(q2, id2))
    assert.equal("approved", q2.comments.query { entry = id2 }[1].status)
  end)

  it("re-renders a rejected form with the input kept and each error next to its field", function()
    local q, id = new_site()
    local r = post(q, valid(q, id, { name = "", email = "not-an-address", url = "ftp://x", comment = "Keep <this>" }))
    assert.equal(422, r.status)
    assert.equal("private, no-store", r.headers["cache-control"])
    assert.equal("", r.tags)
    local summary = find(r.body, "div.form-errors")[1]
    assert.equal("Please correct the 3 errors below.", find(summary.html, "p")[1].text)
    -- The answer lands on the summary (the form's action names it; it takes focus), which links
    -- each problem to its field.
    assert.equal("/comments#comment-status", find(r.body, "form.comment-form")[1].attrs.action)
    assert.equal("comment-status", summary.attrs.id)
    assert.equal("-1", summary.attrs.tabindex)
    local links = find(summary.html, "a")
    assert.same({ "#comment-name", "#comment-email", "#comment-url" }, { links[1].attrs.href, links[2].attrs.href, links[3].attrs.href })
    assert.equal("Name: Please enter your name.", links[1].text)
    assert.equal("Please enter your name.", find(r.body, "p#comment-name-error")[1].text)
    assert.matches("valid email address", find(r.body, "p#comment-email-error")[1].text)
    assert.matches("http:// or https://", find(r.body, "p#comment-url-error")[1].text)
    assert.equal(0, #find(r.body, "p#comment-body-error"))
    local email = find(r.body, "input#comment-email")[1].attrs
    assert.equal("not-an-address", email.value)
    assert.equal("true", email["aria-invalid"])
    assert.equal("comment-notes comment-email-error", email["aria-describedby"])
    assert.equal("Keep &lt;this&gt;", find(r.body, "textarea")[1].html)
    assert.equal(0, #q.comments.query { entry = id })
    r = post(q, valid(q, id, { comment = "  " }))
    assert.equal("Please write a comment.", find(r.body, "p#comment-body-error")[1].text)
    assert.equal("Please correct the error below.", find(find(r.body, "div.form-errors")[1].html, "p")[1].text)
  end)

  it("refuses a missing, forged, foreign, expired or too recent token", function()
    local q, id = new_site()
    local other = q.content.create { type = "article", title = "Other", status = "published", body = "x" }
    local cases = {
      { nil, 403, "could not be verified" },
      { "forged.0.AAAA", 403, "could not be verified" },
      { token(q, other), 403, "could not be verified" },
      { q.tokens.sign("comment-form", id .. ":" .. (os.time() - 10), -1), 403, "had expired" },
      { token(q, id, 0), 422, "That was quick" },
    }
    for _, c in ipairs(cases) do
      local f = valid(q, id)
      f.token = c[1]
      local r = post(q, f)
      assert.equal(c[2], r.status)
      assert.matches(c[3], find(r.body, "div.form-errors")[1].text)
      assert.equal("Marta", find(r.body, "input#comment-name")[1].attrs.value) -- input kept
      assert.are_not.equal(f.token, find(r.body, "input[name=token]")[1].attrs.value) -- a fresh token
    end
    assert.equal(0, #q.comments.query { entry = id })
  end)

  it("refuses posts from another site (Origin, else Referer)", function()
    local q, id = new_site()
    assert.equal(403, post(q, valid(q, id), { headers = { origin = "https://evil.example" } }).status)
    assert.equal(403, post(q, valid(q, id), { headers = { origin = "null" } }).status)
    assert.equal(403, post(q, valid(q, id), { headers = { referer = "https://evil.example/page" } }).status)
    assert.equal(303, post(q, valid(q, id), { headers = { origin = "http://news.example" } }).status)
    assert.equal(303, post(q, valid(q, id, { comment = "b" }), { headers = { referer = "http://news.example/2026/x" } }).status)
    assert.equal(2, #q.comments.query { entry = id })
  end)

  it("quietly drops posts that fill the honeypot", function()
    local q, id, url = new_site()
    local r = post(q, valid(q, id, { homepage = "http://spam.example" }))
    assert.equal(303, r.status)
    assert.equal(url, r.headers.location)
    assert.equal(0, #q.comments.query { entry = id })
  end)

  it("limits posts per address", function()
    local q, id = new_site { rate_limit = 2, rate_window_minutes = 5 }
    assert.equal(303, post(q, valid(q, id, { comment = "1" })).status)
    assert.equal(422, post(q, valid(q, id, { name = "" })).status) -- rejected attempts count too
    local r = post(q, valid(q, id, { comment = "3" }))
    assert.equal(429, r.status)
    assert.equal("300", r.headers["retry-after"])
    assert.matches("too many comments", find(r.body, "div.form-errors")[1].text)
    assert.equal(303, post(q, valid(q, id, { comment = "4" }), { remote = "192.0.2.99" }).status) -- another address
    assert.equal(2, #q.comments.query { entry = id })
  end)

  it("threads replies up to the depth limit", function()
    local q, id, url = new_site { max_depth = 2, moderation = "none" }
    local function reply(parent, text)
      local r = post(q, valid(q, id, { parent = parent, comment = text }))
      return tonumber(r.headers.location:match("(%d+)$"))
    end
    local a = reply(nil, "top")
    local b = reply(a, "reply")
    local c = reply(b, "too deep") -- attached to a instead of b
    local rows = {}
    for _, row in ipairs(q.comments.query { entry = id }) do rows[row.id] = row end
    assert.equal(a, rows[b].parent_id)
    assert.equal(a, rows[c].parent_id)
    local html = q:request("GET", url).body
    local top = find(html, "li#comment-" .. a)[1]
    assert.equal(2, #find(top.html, "li.comment"))
    assert.equal(1, #find(top.html, "p.reply-link") - #find(find(top.html, "ol.children")[1].html, "p.reply-link"))
    assert.equal(0, #find(find(top.html, "ol.children")[1].html, "p.reply-link")) -- no replies past depth 2
    local form = q:request("GET", "/comment/" .. a .. "/reply")
    assert.equal("Leave a Reply to Marta", find(form.body, "h2#reply-title")[1].text)
    assert.equal(tostring(a), find(form.body, "input[name=parent]")[1].attrs.value)
    assert.equal("noindex", find(form.body, "meta[name=robots]")[1].attrs.content)
    assert.equal(404, q:request("GET", "/comment/9999/reply").status)
  end)

  it("renders bodies as untrusted Markdown", function()
    local q, id, url = new_site { moderation = "none" }
    post(q, valid(q, id, { comment = "<script>alert(1)</script> [x](javascript:alert(1)) [ok](https://ok.example) ![i](https://img.example/a.png)" }))
    local body = find(q:request("GET", url).body, "div.comment-body")[1].html
    assert.is_nil(body:find("<script", 1, true))
    assert.is_nil(body:find("javascript:", 1, true))
    assert.is_nil(body:find("<img", 1, true))
    local link = find(body, "a")[1]
    assert.equal("https://ok.example", link.attrs.href)
    assert.equal("nofollow ugc noopener", link.attrs.rel)
  end)

  it("links the commenter's website with rel=nofollow ugc", function()
    local q, id, url = new_site { moderation = "none" }
    post(q, valid(q, id, { url = "https://marta.example" }))
    local a = find(find(q:request("GET", url).body, "span.comment-author")[1].html, "a")[1]
    assert.equal("https://marta.example", a.attrs.href)
    assert.equal("nofollow ugc noopener", a.attrs.rel)
  end)

  it("closes comments per entry and after N days", function()
    local q, id, url = new_site()
    q.content.update(id, { fields = { comments_closed = true } })
    local html = q:request("GET", url).body
    assert.equal(0, #find(html, "form.comment-form"))
    assert.equal("Comments are closed.", find(html, "p.comments-closed")[1].text)
    local r = post(q, valid(q, id))
    assert.equal(403, r.status)
    assert.equal(0, #q.comments.query { entry = id })
    local q2 = new_site { close_after_days = 30 }
    local old = q2.content.create { type = "article", title = "Old news", status = "published", published_at = os.time() - 40 * 86400 }
    assert.equal(0, #find(q2:request("GET", q2.content.url(q2.content.get(old))).body, "form.comment-form"))
    assert.equal(403, post(q2, valid(q2, old)).status)
  end)

  it("shows a page's approved comments (a migrated WordPress page's) without a form", function()
    local q = new_site()
    local page = q.content.create { type = "page", title = "About us", status = "published", body = "Who we are." }
    local url = q.content.url(q.content.get(page))
    assert.equal(0, #find(q:request("GET", url).body, "#comments"))
    q.comments.create { entry = page, author_name = "Ada", author_email = "ada@example.org", body = "Nice *team*.", status = "approved" }
    q.comments.create { entry = page, author_name = "Held", author_email = "h@example.org", body = "Not yet", status = "held" }
    local html = q:request("GET", url).body
    assert.equal(1, #find(html, "div.comment-body"))
    assert.matches("Nice <em>team</em>", html, 1, true)
    assert.is_nil(html:find("Not yet", 1, true))
    assert.equal(0, #find(html, "form.comment-form"))
    assert.equal(0, #find(html, ".reply-link"))
    assert.equal(404, post(q, valid(q, page)).status) -- still no posting to it
  end)

  it("makes the cached page of an entry that just closed stale, so it stops offering the form", function()
    local q = new_site { close_after_days = 30 }
    local just = q.content.create { type = "article", title = "Just closed", status = "published", published_at = os.time() - 30 * 86400 - 600 }
    local open = q.content.create { type = "article", title = "Still open", status = "published", published_at = os.time() - 29 * 86400 }
    local function version(id) return q._db:value("SELECT version FROM cache_tags WHERE tag = ?", "comments:" .. id) end
    local before_just, before_open = version(just), version(open)
    local ran = 0
    for _, job in ipairs(q.plugins.jobs) do
      if job.plugin == "comments" then job.run(); ran = ran + 1 end
    end
    assert.equal(1, ran)
    assert.are_not.equal(before_just, version(just))
    assert.equal(before_open, version(open))
  end)

  it("counts comments on cards in lists", function()
    local q, id = new_site { moderation = "none" }
    post(q, valid(q, id))
    post(q, valid(q, id, { comment = "two" }))
    assert.equal("2 Comments", q.filters.apply("view.card", {}, q.content.get(id)).comment_count.label)
  end)

  it("reads the comment counts of a list's cards with their block of entries, in one statement", function()
    local q, id = new_site { moderation = "none" }
    local ids = { id }
    for i = 1, 3 do ids[#ids + 1] = q.content.create { type = "article", title = "Other " .. i, status = "published" } end
    post(q, valid(q, id))
    post(q, valid(q, ids[3], { comment = "one" }))
    post(q, valid(q, ids[3], { comment = "two" }))
    local function statements(fn)
      local before = q._db:statements()
      local v = fn()
      return q._db:statements() - before, v
    end
    local entries = {}
    for i, e in ipairs(ids) do entries[i] = q.content.get(e) end
    q._site.memo.generation() -- (the memo reads which tags the posts bumped)
    local function labels()
      local out = {}
      for i, e in ipairs(entries) do out[i] = q.filters.apply("view.card", {}, e).comment_count end
      return out
    end
    -- The counts of the block the four are in, once; then none for the other cards or counts.
    local n, shown = statements(labels)
    assert.equal(1, n)
    assert.equal("1 Comment", shown[1].label)
    assert.is_false(shown[2])
    assert.equal("2 Comments", shown[3].label)
    assert.is_false(shown[4])
    assert.same({ 0, { [ids[2]] = 0, [ids[4]] = 0 } }, { statements(function() return q.comments.counts({ ids[2], ids[4] }) end) })
    assert.same({ 0, { [ids[1]] = 1, [ids[2]] = 0, [ids[3]] = 2, [ids[4]] = 0 } }, { statements(function() return q.comments.counts(ids) end) })
    -- A new comment: the block is read again, and the cards show it.
    post(q, valid(q, ids[2], { comment = "first" }))
    q._site.memo.generation()
    n, shown = statements(labels)
    assert.equal(1, n)
    assert.equal("1 Comment", shown[2].label)
    assert.same({ [ids[1]] = 1, [ids[2]] = 1, [ids[3]] = 2, [ids[4]] = 0 }, q.comments.counts(ids))
    assert.equal(q.comments.count(ids[3], "held"), q.comments.counts({ ids[3], ids[4] }, "held")[ids[3]])
    assert.has_error(function() q.comments.counts({ "x" }) end, "quire.comments.counts: ids[1] is not an entry id")
  end)

  it("shows a comment approved, and one taken away, on the cards of a list page at once", function()
    local q, dir = testing.site { plugins = { "theme", "article", "comments", "listings" },
      settings = { listings = { front = false } } }
    local ids = {}
    for i = 1, 3 do
      ids[i] = q.content.create { type = "article", title = "Tide " .. i, status = "published", tags = { "harbour" },
        published_at = os.time() - 3600 * i, body = "Low water." }
    end
    local function counts()
      local html = q:request("GET", "/tag/harbour").body
      local out = {}
      for label in html:gmatch('#comments">([^<]*)</a>') do out[#out + 1] = label end
      return out
    end
    assert.same({}, counts())
    local cid = q.comments.create { entry = ids[2], author_name = "Ada", author_email = "ada@example.org", body = "Good.", status = "held" }
    assert.same({}, counts()) -- held: not counted
    q.comments.set_status(cid, "approved")
    assert.same({ "1 Comment" }, counts())
    -- From another connection (another worker, the admin): seen by the next page too.
    local other = assert(require("quire").open(dir))
    other.comments.create { entry = ids[2], author_name = "Bo", author_email = "bo@example.org", body = "Yes.", status = "approved" }
    assert.same({ "2 Comments" }, counts())
    other.comments.set_status(cid, "trash")
    other._db:close()
    assert.same({ "1 Comment" }, counts())
    q.comments.set_status(cid, "spam")
    assert.same({ "1 Comment" }, counts())
  end)

  it("answers 404 for an unknown or unpublished entry", function()
    local q = new_site()
    local draft = q.content.create { type = "article", title = "Draft" }
    assert.equal(404, post(q, valid(q, draft)).status)
    assert.equal(404, post(q, valid(q, 4242)).status)
    assert.equal(404, q:request("GET", "/comment/77").status)
  end)
end)
