-- Importing a WordPress WXR export (tests/fixtures/wxr/export.xml, written for these tests).
local testing = require "quire.testing"
local wxr = require "quire.wxr"
local fixture = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/wxr/export.xml"

describe("quire import --from wordpress", function()
  local q
  setup(function()
    q = testing.site()
    local report = wxr.import(q, fixture)
    assert.same({ 3, 1, 4, 2 }, { report.counts.post.created, report.counts.page.created, report.counts.comment.created,
      report.counts.author.created })
  end)

  it("turns posts into articles with sections, tags, excerpts, GMT dates and authors", function()
    local e = q.content.get { type = "article", slug = "ferry-timetable" }
    assert.equal("published", e.status)
    assert.equal("2024-11-04T08:00:00Z", e.published_at)
    assert.equal("City & Region", e.section)
    assert.same({ "City & Region", "Ferries", "Winter" }, e.tags) -- its categories are tags too (all of them kept)
    assert.equal("Fewer late boats, more early ones.", e.fields.standfirst)
    assert.equal("editor-desk", q.users.get(e.author).login)
    -- [gallery] became a figure of the images the export holds; the missing one is reported
    assert.matches('<figure><a href="https://gazette.example/wp%-content/uploads/2024/11/ferry%-at%-dawn.jpg"><img', e.body)
    assert.is_nil(e.body:find("[gallery", 1, true))
    assert.matches("<strong>winter timetable</strong>", e.body)
  end)

  it("makes ASCII slugs from percent-encoded non-ASCII ones", function()
    local e = q.content.get { type = "article", slug = "praca-do-comercio-reabre" }
    assert.equal("Praça do Comércio reabre após obras", e.title)
    assert.equal("João Brás", q.users.get(e.author).display_name)
  end)

  it("keeps drafts as drafts and pages as pages", function()
    local d = q.content.get { type = "article", slug = "draft-budget-preview" }
    assert.equal("draft", d.status)
    assert.is_nil(d.published_at)
    assert.equal("published", q.content.get { type = "page", slug = "about" }.status)
  end)

  it("imports comments with their approval state and threading", function()
    local e = q.content.get { type = "article", slug = "ferry-timetable" }
    local cs = q.comments.query { entry = e.id, with_email = true }
    assert.equal(4, #cs)
    assert.same({ "approved", "held", "approved", "spam" }, { cs[1].status, cs[2].status, cs[3].status, cs[4].status })
    assert.equal(cs[1].id, cs[2].parent_id)
    assert.equal(cs[2].id, cs[3].parent_id)
    assert.equal("2024-11-04T11:00:00Z", cs[2].created_at)
  end)

  it("records attachments and skips menu items", function()
    local m = q.store.query("SELECT url, entry_id FROM media")
    assert.equal(1, #m)
    assert.matches("ferry%-at%-dawn%.jpg$", m[1].url)
    assert.equal(q.content.get { type = "article", slug = "ferry-timetable" }.id, m[1].entry_id)
    assert.equal(4, q.content.count {})
  end)

  it("refuses a file that is not a WXR export, writing nothing", function()
    local q2, dir = testing.site()
    local f = assert(io.open(dir .. "/bad.xml", "w"))
    f:write("<rss><channel><item><title>unclosed</channel></rss>")
    f:close()
    assert.has_error(function() wxr.import(q2, dir .. "/bad.xml") end)
    assert.equal(0, q2.content.count {})
  end)
end)
