-- The example plugin shown in README.md (tests/fixtures/plugins/review) works as documented:
-- the page it renders, not only its status.
local testing = require "quire.testing"
local fixtures = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/plugins"

describe("the README's example plugin", function()
  it("declares a type, validates it and renders it with its own layout inside the theme's", function()
    local q = testing.site { name = "Table Talk", plugins = { "theme", "review" }, plugin_path = { fixtures } }
    local ok, err = pcall(q.content.create, { type = "review", title = "Fish, simply", fields = { stars = 9 } })
    assert.is_false(ok)
    assert.matches("fields.stars: must be at most 5", tostring(err))
    assert.matches("fields.venue: is required", tostring(err))
    q.content.create { type = "review", title = "Fish, simply", status = "published",
      body = "Grilled **sardines** & <em>bread</em>.\n\nGo <script>alert(1)</script> hungry.",
      fields = { venue = "Taberna do Mar", stars = 4, verdict = "Go early <b>now</b>." } }
    local r = q:request("GET", "/reviews/fish-simply")
    assert.equal(200, r.status)
    assert.equal("text/html; charset=utf-8", r.headers["content-type"])
    -- the theme's layout around the review: one document, its <title> from the review's block
    assert.equal(1, #testing.find(r.body, "html"))
    assert.equal("Fish, simply – Table Talk", testing.find(r.body, "title")[1].text)
    assert.equal(1, #testing.find(r.body, "header.site-header"))
    local article = testing.find(r.body, "article.review")
    assert.equal(1, #article)
    assert.equal(1, #testing.find(testing.find(r.body, "main")[1].html, "article.review"))
    -- the fields, escaped by default
    assert.equal("Fish, simply", testing.find(article[1].html, "h1")[1].text)
    assert.equal("Taberna do Mar", testing.find(article[1].html, "p.venue")[1].text)
    assert.equal("Go early &lt;b&gt;now&lt;/b&gt;.", testing.find(article[1].html, "p.verdict")[1].html)
    local stars = testing.find(article[1].html, "p.stars[aria-label]")
    assert.equal(1, #stars)
    assert.equal("★★★★☆", stars[1].text)
    assert.equal("4 out of 5 stars", stars[1].attrs["aria-label"])
    -- the body as HTML from its Markdown (body_html), sanitised: never the raw Markdown
    local body = testing.find(article[1].html, "div.body")[1].html
    assert.equal("sardines", testing.find(body, "strong")[1].text)
    assert.equal("bread", testing.find(body, "em")[1].text)
    assert.equal(2, #testing.find(body, "p"))
    assert.is_nil(body:find("**", 1, true))
    assert.is_nil(r.body:find("<script>alert", 1, true))
    assert.same({}, testing.find(r.body, "p.missing"))
    assert.equal(404, q:request("GET", "/reviews/nothing-here").status)
  end)
end)
