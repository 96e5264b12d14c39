-- The opinion piece: its own layout over the base one, label, author bio and pull quote.
local testing = require "quire.testing"
local find = testing.find

describe("opinion plugin", function()
  local q
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "opinion" }, settings = { opinion = { pull_quote_after = 1 } } }
    q.users.create { login = "tomas", name = "Tomás Reyes", bio = "Tomás writes about the economy of cities." }
  end)

  local function render(spec)
    spec.type, spec.status, spec.author = "opinion", "published", "tomas"
    local e = q.content.get(q.content.create(spec))
    local r = q:request("GET", q.content.url(e))
    assert.equal(200, r.status)
    return r.body, e
  end

  it("shows a visible Opinion label, the byline with a bio and a distinct layout", function()
    local html, e = render { title = "Bridges are promises", body = "One.\n\nTwo." }
    assert.equal("/opinion/bridges-are-promises", q.content.url(e))
    assert.equal("Opinion", find(html, "p.opinion-label")[1].text)
    assert.equal(1, #find(html, "article.entry-opinion"))
    assert.equal("By Tomás Reyes", find(html, "p.author-name")[1].text)
    assert.equal("Tomás writes about the economy of cities.", find(html, "p.author-bio")[1].text)
    assert.equal("Opinion: Bridges are promises – The Ledger", find(html, "title")[1].text)
    assert.equal(1, #find(html, "header.site-header")) -- inherited from the base layout
  end)

  it("sets the pull quote after the configured paragraph, outside quotes and lists", function()
    local html = render { title = "Quoted", fields = { pull_quote = "Maintenance is a promise." },
      body = "> A quoted paragraph.\n\nFirst paragraph.\n\nSecond paragraph." }
    local body = find(html, "div.entry-body")[1].html
    local aside = body:find('<aside class="pull-quote"', 1, true)
    assert.truthy(aside)
    assert.truthy(body:find("First paragraph.</p>", 1, true) < aside)
    assert.truthy(body:find("</blockquote>", 1, true) < aside)
    assert.truthy(body:find("Second paragraph.", 1, true) > aside)
    assert.equal("“Maintenance is a promise.”", find(body, "aside")[1].text)
  end)

  it("works without a pull quote or with a short body", function()
    local html = render { title = "Short", body = "Only one." }
    assert.equal(0, #find(html, "aside.pull-quote"))
    html = render { title = "Short quoted", fields = { pull_quote = "Still shown." }, body = "" }
    assert.equal("“Still shown.”", find(html, "aside")[1].text)
  end)

  it("labels opinion pieces in lists", function()
    local e = q.content.get(q.content.create { type = "opinion", title = "Card", status = "published" })
    assert.equal("Opinion", q.filters.apply("view.card", {}, e).type_label)
    local in_section = q.content.get(q.content.create { type = "opinion", title = "Sectioned", section = "Opinion", status = "published" })
    assert.equal(false, q.filters.apply("view.card", {}, in_section).type_label) -- the kicker already says it
  end)
end)
