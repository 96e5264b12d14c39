-- Search: ranking, snippets, pagination, escaping, drafts.
local testing = require "quire.testing"
local find = testing.find

describe("search plugin", function()
  local q
  setup(function()
    q = testing.site { plugins = { "theme", "article", "search" }, settings = { search = { per_page = 2 } } }
    for i = 1, 5 do
      q.content.create { type = "article", title = "Harbour story " .. i, status = "published",
        published_at = ("2026-01-0%dT08:00:00Z"):format(i), body = "The harbour was busy on day " .. i .. "." }
    end
    q.content.create { type = "article", title = "Lighthouse", status = "published", body = "Mentions the harbour once, at the end." }
    q.content.create { type = "article", title = "Secret harbour draft", status = "draft", body = "harbour" }
  end)

  it("finds published entries with highlighted snippets", function()
    local html = q:request("GET", "/search?q=lighthouse").body
    local cards = find(html, "article.card")
    assert.equal(1, #cards)
    assert.equal("Lighthouse", find(cards[1].html, "h2")[1].text)
    -- A title match still quotes the body (where the story says something), not the title again.
    assert.equal("Mentions the harbour once, at the end.", find(html, "p.card-snippet")[1].text)
    assert.equal("1 result", find(html, "p[role=status]")[1].text)
    assert.equal("noindex", find(html, "meta[name=robots]")[1].attrs.content)
  end)

  it("paginates and ranks titles above passing mentions", function()
    local html = q:request("GET", "/search?q=harbour").body
    assert.equal("6 results", find(html, "p[role=status]")[1].text)
    assert.equal(2, #find(html, "article.card"))
    assert.equal("Page 1 of 3", find(html, "span.pagination-status")[1].text)
    assert.equal("/search?q=harbour&page=2", find(html, "a.pagination-next")[1].attrs.href:gsub("&amp;", "&"))
    local last = q:request("GET", "/search?q=harbour&page=3").body
    assert.equal("Lighthouse", find(find(last, "article.card")[2].html, "h2")[1].text) -- the weakest match last
    assert.equal(0, #find(last, "a.pagination-next"))
    assert.is_nil(last:find("Secret", 1, true))
    assert.equal(404, q:request("GET", "/search?q=harbour&page=9").status)
    assert.equal(404, q:request("GET", "/search?q=harbour&page=0").status)
  end)

  it("labels result pages by rank, not by age", function()
    local html = q:request("GET", "/search?q=harbour&page=2").body
    assert.equal("Previous page", find(html, "a.pagination-prev")[1].text)
    assert.equal("Next page", find(html, "a.pagination-next")[1].text)
  end)

  it("shows one summary per card: the snippet from the body, even when only the title matched", function()
    q.content.create { type = "article", title = "Lifeboat's new crew", status = "published",
      fields = { standfirst = "Six volunteers passed out on Sunday." }, body = "The volunteers trained for a year at the station." }
    local body = find(q:request("GET", "/search?q=volunteers").body, "article.card")[1].html
    assert.equal(0, #find(body, "p.card-standfirst"))
    assert.equal("volunteers", find(find(body, "p.card-snippet")[1].html, "mark")[1].text)
    local title = find(q:request("GET", "/search?q=crew").body, "article.card")[1].html
    assert.equal(0, #find(title, "p.card-standfirst"))
    assert.equal("The volunteers trained for a year at the station.", find(title, "p.card-snippet")[1].text)
  end)

  it("escapes the query and survives FTS syntax", function()
    local r = q:request("GET", "/search?q=%3Cscript%3E%22harbour%20OR%20*")
    assert.equal(200, r.status)
    assert.is_nil(r.body:find("<script>", 1, true))
    assert.equal('&lt;script&gt;&quot;harbour OR *', find(r.body, "input#search-q")[1].attrs.value)
    local empty = q:request("GET", "/search?q=zzzz").body
    assert.matches("Nothing matched", empty)
    assert.equal("Search", find(q:request("GET", "/search").body, "h1")[1].text)
  end)

  it("puts a search form in every page's header", function()
    local id = q.content.create { type = "article", title = "Any page", status = "published", body = "x" }
    local html = q:request("GET", q.content.url(q.content.get(id))).body
    assert.equal("/search", find(html, "form.site-search")[1].attrs.action)
    assert.equal(1, #find(html, "label[for=site-search-q]"))
  end)

  it("answers every query 200 or 400 with what is wrong, never 500", function()
    local function get(query)
      local r = q:request("GET", "/search?" .. query)
      assert(r.status == 200 or r.status == 400, query:sub(1, 60) .. ": " .. r.status)
      return r
    end
    local function refused(query, says)
      local r = get(query)
      assert.equal(400, r.status)
      assert.matches(says, find(r.body, "p.search-problem")[1].text)
    end
    refused("q=x%00y", "control character U%+0000")
    refused("q=harbour%01", "control character U%+0001")
    refused("q=%FF%FEharbour", "not valid UTF%-8")
    refused("q=" .. ("a"):rep(300), "300 characters long, the limit is 256")
    refused("q=" .. ("a+"):rep(20), "more than 16 words")
    refused("q=harbour&page=two", "page must be a number")
    refused("q=harbour&page=" .. ("9"):rep(40), "page must be a number")
    -- Nothing in the language is an operator: these are words, or no words at all.
    for _, text in ipairs({ "%22", "%22harbour", "harbour%22", "harbour+OR", "NOT+harbour", "harbour+AND+NEAR(", "*", "-harbour",
      "%2B%2B%2B", "(%22", "{title}:x", "%5E", "harbour%09story" }) do
      get("q=" .. text)
    end
    assert.equal(6, #q.content.search("harbour", { status = "published" }))
    assert.equal(5, #q.content.search("harbour story"))
    assert.equal(5, #q.content.search("HARBOUR, story!"))
    assert.equal(5, #q.content.search("harbour -story")) -- "-story" is the word story: no negation
    -- 8,100 plus signs are 8,100 spaces: no words, answered at once.
    local r = get("q=" .. ("+"):rep(8100))
    assert.equal(200, r.status)
    assert.equal("Search", find(r.body, "h1")[1].text)
    assert.equal(400, get("q=" .. ("+"):rep(8100) .. "harbour" .. ("%20"):rep(8100) .. "x" .. ("+"):rep(300)).status)
  end)
end)
