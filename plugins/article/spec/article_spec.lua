-- The news article type: fields, validation and the dateline leading the first paragraph.
local testing = require "quire.testing"
local find = testing.find

describe("article plugin", function()
  local q
  setup(function()
    q = testing.site { plugins = { "theme", "article" } }
  end)

  local function render(spec)
    spec.type, spec.status = "article", "published"
    spec.published_at = spec.published_at or "2023-06-16T09:30:00Z"
    local e = q.content.get(q.content.create(spec))
    local r = q:request("GET", q.content.url(e))
    assert.equal(200, r.status)
    return r.body
  end

  it("puts \"PLACE, Month D, YYYY –\" at the start of the first paragraph", function()
    local html = render { title = "Talks resume", fields = { dateline = "Beijing" }, body = "Talks *resumed* today.\n\nMore later." }
    local first = find(find(html, "div.entry-body")[1].html, "p")[1]
    assert.equal('<span class="dateline">Beijing, June 16, 2023 –</span> Talks <em>resumed</em> today.', first.html)
  end)

  it("finds the first paragraph after a heading, and makes one when there is none", function()
    local html = render { title = "With a heading", fields = { dateline = "Quito" }, body = "## Context\n\nFirst words.",
      published_at = "2024-01-05T00:00:00Z" }
    assert.equal("Quito, January 5, 2024 – First words.", find(find(html, "div.entry-body")[1].html, "p")[1].text)
    html = render { title = "Only a list", fields = { dateline = "Oslo" }, body = "- one\n- two" }
    assert.matches('<p><span class="dateline">Oslo, June 16, 2023 –</span> </p>', html, 1, true)
  end)

  it("escapes the place and tidies trailing commas", function()
    local html = render { title = "Odd place", fields = { dateline = "<b>Rome</b>, " }, body = "Text." }
    assert.matches('<span class="dateline">&lt;b&gt;Rome&lt;/b&gt;, June 16, 2023 –</span>', html, 1, true)
  end)

  it("has no dateline without a place", function()
    local html = render { title = "No place", body = "Just text." }
    assert.equal(0, #find(html, "span.dateline"))
  end)

  it("uses the article layout under the base layout", function()
    local html = render { title = "Layout check", fields = { standfirst = "Stand first." }, body = "x" }
    assert.equal(1, #find(html, "article.entry-article"))
    assert.equal("Stand first.", find(html, "p.standfirst")[1].text)
    assert.equal(1, #find(html, "main#main"))
  end)

  it("validates its fields", function()
    local ok, err = pcall(q.content.create, { type = "article", title = "Bad hero", fields = { hero_image = "javascript:alert(1)" } })
    assert.is_false(ok)
    assert.matches("hero_image", tostring(err.errors[1].field))
    ok = pcall(q.content.create, { type = "article", title = "Bad keywords", fields = { keywords = "not a list" } })
    assert.is_false(ok)
    assert.is_number(q.content.create { type = "article", title = "Good", fields = { keywords = { "ports" }, comments_closed = true } })
  end)

  it("serves articles at /YYYY/MM/slug and only when published", function()
    local id = q.content.create { type = "article", title = "Draft story", published_at = "2023-06-16T09:30:00Z" }
    assert.equal(404, q:request("GET", "/2023/06/draft-story").status)
    q.content.update(id, { status = "published" })
    assert.equal(200, q:request("GET", "/2023/06/draft-story").status)
    assert.equal(404, q:request("GET", "/2023/07/draft-story").status)
  end)
end)
