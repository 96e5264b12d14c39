-- The example plugin shown in README.md (tests/fixtures/plugins/review) works as documented.
local testing = require "quire.testing"
local fixtures = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/plugins"

describe("the README's example plugin", function()
  it("declares a type, validates it and renders it with its own layout", function()
    local q = testing.site { plugins = { "review" }, plugin_path = { fixtures } }
    local ok, err = pcall(q.content.create, { type = "review", title = "Fish, simply", fields = { stars = 9 } })
    assert.is_false(ok)
    assert.matches("fields.stars: must be at most 5", tostring(err))
    assert.matches("fields.venue: is required", tostring(err))
    q.content.create { type = "review", title = "Fish, simply", status = "published", body = "Grilled <b>sardines</b>.",
      fields = { venue = "Taberna do Mar", stars = 4, verdict = "Go early." } }
    local r = q:request("GET", "/reviews/fish-simply")
    assert.equal(200, r.status)
    assert.matches('<p class="stars" aria%-label="4 out of 5 stars">★★★★☆</p>', r.body)
    assert.matches("Taberna do Mar", r.body)
    assert.matches("Grilled &lt;b&gt;sardines&lt;/b&gt;%.", r.body) -- escaped by default
    assert.equal(404, q:request("GET", "/reviews/nothing-here").status)
    -- the HTML helpers plugin authors get
    local stars = testing.find(r.body, "p.stars[aria-label]")
    assert.equal(1, #stars)
    assert.equal("★★★★☆", stars[1].text)
    assert.equal("4 out of 5 stars", stars[1].attrs["aria-label"])
    assert.equal("Fish, simply", testing.find(r.body, "h1")[1].text)
    assert.matches("Taberna do Mar", testing.find(r.body, "article.review")[1].text)
    assert.same({}, testing.find(r.body, "p.missing"))
  end)
end)
