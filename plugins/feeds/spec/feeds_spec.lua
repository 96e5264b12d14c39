-- Feeds, sitemap, robots.txt and the metadata in every page's head.
local testing = require "quire.testing"
local find = testing.find
local core = require "quire.core"

describe("feeds plugin", function()
  local q, art, op
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "article", "opinion", "feeds" },
      settings = { feeds = { items = 3, twitter_site = "@ledger" } } }
    q.users.create { login = "ines", name = "Inês Duarte", email = "ines@staff.example" }
    for i = 1, 4 do
      q.content.create { type = "article", title = "Old story " .. i, status = "published", section = "World", tags = { "Archive" },
        published_at = ("2020-01-0%dT08:00:00Z"):format(i), body = "Old." }
    end
    art = q.content.create { type = "article", title = "Tolls & </script> rise", status = "published", author = "ines",
      section = "Money", tags = { "Roads", "Tolls" }, published_at = os.time() - 3600,
      fields = { dateline = "Porto", standfirst = "Drivers will pay more.", hero_image = "/media/toll.jpg" }, body = "Tolls *rise*." }
    op = q.content.create { type = "opinion", title = "Tolls are fair", status = "published", author = "ines", section = "Money",
      tags = { "Tolls" }, published_at = os.time() - 1800, body = "A long argument about **roads** and who pays for them." }
    q.content.create { type = "page", title = "About", status = "published", body = "About us." }
    q.content.create { type = "article", title = "Unpublished", status = "draft" }
  end)

  it("serves RSS 2.0 with the newest published entries, RFC 822 dates and full content", function()
    local r = q:request("GET", "/feed.xml")
    assert.equal(200, r.status)
    assert.equal("application/rss+xml; charset=utf-8", r.headers["content-type"])
    local items = find(r.body, "item")
    assert.equal(3, #items)
    assert.equal("Tolls are fair", find(items[1].html, "title")[1].text)
    assert.equal("Tolls &amp; &lt;/script&gt; rise", find(items[2].html, "title")[1].html)
    assert.equal("http://localhost:8080" .. q.content.url(q.content.get(op)), items[1].html:match("<link>(.-)</link>"))
    assert.matches("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d %+0000$", find(items[1].html, "pubDate")[1].text)
    assert.equal("Inês Duarte", find(items[1].html, "dc:creator")[1].text)
    assert.matches("&lt;strong&gt;roads&lt;/strong&gt;", find(items[1].html, "content:encoded")[1].html, 1, true)
    assert.is_nil(r.body:find("Unpublished", 1, true))
    assert.is_nil(r.body:find("About us", 1, true))
    assert.is_nil(r.body:find("ines@staff.example", 1, true))
  end)

  it("leads an article's content with its dateline, as the page does", function()
    local e = q.content.get(art)
    local want = ('<span class="dateline">Porto, %s –</span> Tolls <em>rise</em>.'):format(
      find(q:request("GET", q.content.url(e)).body, "span.dateline")[1].text:match("^Porto, (.-) –$"))
    local feed = q.json.decode(q:request("GET", "/feed.json").body)
    assert.matches("<p>" .. want, feed.items[2].content_html, 1, true)
    local rss = find(find(q:request("GET", "/feed.xml").body, "item")[2].html, "content:encoded")[1].html
    assert.matches(q.html.escape(want), rss, 1, true)
    assert.is_nil(feed.items[1].content_html:find("dateline", 1, true)) -- opinion pieces have none
  end)

  -- A summary as made from the whole body: its HTML without tags, cut at 200 characters.
  local function whole_summary(body)
    local html = q.markdown.render(body)
    local text = html:gsub("<[^>]*>", " "):gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"')
      :gsub("&#39;", "'"):gsub("&amp;", "&"):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
    if utf8.len(text) <= 200 then return text end
    return text:sub(1, utf8.offset(text, 201) - 1):gsub("%s+%S*$", "") .. "…"
  end

  it("takes the text of HTML in one pass as the pattern substitutions did", function()
    local ENTITIES = { lt = "<", gt = ">", quot = '"', ["#39"] = "'", amp = "&" }
    local function by_patterns(html)
      local text = html:gsub("<[^>]*>", " "):gsub("&(#?%w+);", ENTITIES):gsub("%s+", " ")
      return (text:gsub("^ ", ""):gsub(" $", ""))
    end
    local bits = { "<", ">", "&", "#", ";", "lt", "gt", "quot", "amp", "39", "x", "é", " ", "\n", "\t", "\v", "\r", "<p>", "</em>" }
    local rnd = testing.lcg(7)
    for _ = 1, 3000 do
      local parts = {}
      for j = 1, rnd(24) - 1 do parts[j] = bits[rnd(#bits)] end
      local html = table.concat(parts)
      assert.equal(by_patterns(html), q.text.of_html(html), html)
    end
  end)

  it("summarises a long body from its start as from the whole of it", function()
    -- Long paragraphs with links, entities and two-byte letters around where the text is cut.
    local para = "Fjøgen & [the harbour](https://example.org/a-very-long-address-" .. ("x"):rep(300)
      .. ") <ferry> «crossings» cost more; " .. ("Ærlig talt må alle betale mer for bompenger. "):rep(40)
    local id = q.content.create { type = "article", title = "Long one", status = "published", section = "Long", body = (para .. "\n\n"):rep(30),
      published_at = "2020-02-01T08:00:00Z" }
    local want = whole_summary(q.content.get(id).body)
    local feed = q.json.decode(q:request("GET", "/section/long/feed.json").body)
    assert.equal(want, feed.items[1].summary)
    assert.is_true(utf8.len(feed.items[1].summary) <= 201)
  end)

  it("summarises a body whose start is cut inside a tag or an entity as the whole body", function()
    -- Links with long addresses and short text: the start of the HTML stripped for 200
    -- characters holds fewer than that, and a tag cut at its end, shown as text, would make up
    -- the rest. Words before them move the cut across each byte of a link.
    for k = 0, 90 do
      local link = "[ab & cd, " .. k .. "](https://example.org/" .. ("z"):rep(70) .. ") "
      local body = ("w"):rep(k) .. " " .. link:rep(60)
      local id = q.content.create { type = "article", title = "Cut " .. k, status = "published", section = "Cut " .. k, body = body,
        published_at = "2020-02-02T08:00:00Z" }
      local feed = q.json.decode(q:request("GET", "/section/cut-" .. k .. "/feed.json").body)
      assert.equal(whole_summary(q.content.get(id).body), feed.items[1].summary, body)
    end
  end)

  it("summarises from a start of the body exactly what the whole body gives", function()
    -- Blocks whose text can depend on what follows a blank line (a fence or HTML block left
    -- open, a list made loose, a link defined below its use), or whose text is short or long
    -- for its bytes, each around where a start of the body would be cut.
    local blocks = {
      "Short.", "# A heading", "Setext\n===", "- tight a\n- tight b", "- loose a\n\n- loose b", "3. three\n\n   more of three",
      "* [x] done\n* [ ] open", "> quoted\nlazy line", "```\ncode &amp; more\n\nstill code\n```", "```js\nunclosed\n\nfence",
      "    indented\n\n    code", "| a | b |\n|---|---|\n| 1 | 2 |", "Entities &amp; &lt;x&gt; &copy; &#39; &quot; &bogus;",
      "<div>\nraw block\n</div>", "<div\n\n>", "<!-- a comment\n\nover a blank line -->", "<script>\nx = 1\n\ny = 2\n</script>",
      "<table><tr><td>cell</td></tr>", "some <em>inline</em> HTML", "an autolink <https://example.org/x>", "[a link][r] used",
      "[r]: https://example.org/defined-below", "*emphasis\n\nbroken*", ("日本語のテキスト。"):rep(12), ("word "):rep(50),
      "Hard  \nbreak", "Line\r\nCRLF\r\n\r\nparagraph", "---",
    }
    local bodies, n = {}, 0
    local filler = ("Filler words for the body. "):rep(16) -- past where the first start is cut
    for i, a in ipairs(blocks) do
      for j = 1, #blocks, 3 do
        local b = blocks[(i + j) % #blocks + 1]
        bodies[#bodies + 1] = a .. " " .. filler .. "\n\n" .. b .. "\n\n" .. a
        bodies[#bodies + 1] = a .. "\n\n" .. b .. "\n\n" .. ("Filler words. "):rep(i % 4 * 5) .. "\n\n" .. b .. "\n\n" .. a
        bodies[#bodies + 1] = ("Opening words. "):rep(j % 3 * 10) .. "\n\n" .. a .. "\n\n" .. b .. "\n  \n" .. a .. "\n\n" .. b
      end
    end
    -- Raw HTML left open over the blank line where the first start is cut.
    bodies[#bodies + 1] = "<!-- a comment left open " .. filler .. "\n\nclosed here -->\n\nAfter it."
    bodies[#bodies + 1] = '<div title="a ' .. filler .. '\n\nb">\n\nAfter it.'
    for _, body in ipairs(bodies) do
      n = n + 1
      q.content.create { type = "article", title = "Summary " .. n, status = "published", section = "Summaries " .. n, body = body,
        published_at = "2020-03-01T08:00:00Z" }
      local feed = q.json.decode(q:request("GET", "/section/summaries-" .. n .. "/feed.json").body)
      assert.equal(whole_summary(body), feed.items[1].summary, body)
    end
    assert.is_true(n > 150)
  end)

  it("summarises an entry's body again once it is edited, in its feeds and its page's head", function()
    local id = q.content.create { type = "article", title = "Edited summary", status = "published", section = "Edited",
      body = "First words of the story.", published_at = "2020-04-01T08:00:00Z" }
    local function summaries()
      local feed = q.json.decode(q:request("GET", "/section/edited/feed.json").body)
      local page = q:request("GET", q.content.url(q.content.get(id))).body
      return feed.items[1].summary, page:match('<meta name="description" content="([^"]*)"')
    end
    local feed, page = summaries()
    assert.equal("First words of the story.", feed)
    assert.equal(feed, page)
    q.content.update(id, { body = "Second words, after the edit." })
    feed, page = summaries()
    assert.equal("Second words, after the edit.", feed)
    assert.equal(feed, page)
    -- Straight into the database, as a write from outside quire: the same entry, another body.
    q._db:exec("UPDATE entries SET body = 'Third words, from outside.' WHERE id = ?", id)
    feed, page = summaries()
    assert.equal("Third words, from outside.", feed)
    assert.equal(feed, page)
  end)

  it("summarises a long body again when an edit changes its start or defines a link below it, in all three formats", function()
    -- A long body's summary is made from a start of it (and kept): an edit below that start
    -- leaves it as it was, one inside it or a link reference definition anywhere below does not.
    local rest = ("\n\n" .. ("More words further down. "):rep(30)):rep(6)
    local start = "Opening [words][w] of the long story. " .. ("Filler of the first paragraph. "):rep(12)
    local id = q.content.create { type = "article", title = "Long edited", status = "published", section = "Long edited",
      body = start .. rest, published_at = "2020-04-02T08:00:00Z" }
    local function summaries()
      local rss = find(find(q:request("GET", "/section/long-edited/feed.xml").body, "item")[1].html, "description")[1].text
      local atom = find(find(q:request("GET", "/section/long-edited/atom.xml").body, "entry")[1].html, "summary")[1].text
      local json = q.json.decode(q:request("GET", "/section/long-edited/feed.json").body).items[1].summary
      local page = q:request("GET", q.content.url(q.content.get(id))).body:match('<meta name="description" content="([^"]*)"')
      assert.equal(json, rss)
      assert.equal(json, atom)
      assert.equal(q.html.escape(json), page)
      assert.equal(whole_summary(q.content.get(id).body), json)
      return json
    end
    local first = summaries()
    assert.matches("^Opening %[words%]%[w%] of the long story%.", first)
    q.content.update(id, { body = start .. rest .. "\n\nA last paragraph added." })
    assert.equal(first, summaries())
    q.content.update(id, { body = "Edited " .. start .. rest })
    assert.matches("^Edited Opening %[words%]%[w%]", summaries())
    q.content.update(id, { body = "Edited " .. start .. rest .. "\n\n[w]: https://example.org/words" })
    assert.matches("^Edited Opening words of the long story%.", summaries())
  end)

  it("formats RFC 822 dates from the stored time", function()
    local body = q:request("GET", "/section/world/feed.xml").body
    assert.equal("Sat, 04 Jan 2020 08:00:00 +0000", find(find(body, "item")[1].html, "pubDate")[1].text)
  end)

  it("dates an item in RSS, Atom and JSON Feed after its page head dated the entry in RFC 3339 only", function()
    -- (each text of a stamp is made when first asked for: the head asks for one, the feeds for both)
    local id = q.content.create { type = "article", title = "Dated late", status = "published", section = "Dated",
      published_at = "2021-03-05T09:10:11Z", body = "Dated." }
    local page = q:request("GET", q.content.url(q.content.get(id))).body
    assert.matches('"datePublished":"2021-03-05T09:10:11Z"', page, 1, true)
    local rss = q:request("GET", "/section/dated/feed.xml").body
    assert.equal("Fri, 05 Mar 2021 09:10:11 +0000", find(find(rss, "item")[1].html, "pubDate")[1].text)
    local atom = q:request("GET", "/section/dated/atom.xml").body
    assert.equal("2021-03-05T09:10:11Z", find(find(atom, "entry")[1].html, "published")[1].text)
    assert.equal("2021-03-05T09:10:11Z", q.json.decode(q:request("GET", "/section/dated/feed.json").body).items[1].date_published)
  end)

  it("serves Atom and JSON Feed", function()
    local atom = q:request("GET", "/atom.xml")
    assert.equal("application/atom+xml; charset=utf-8", atom.headers["content-type"])
    local entries = find(atom.body, "entry")
    assert.equal(3, #entries)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", find(entries[1].html, "published")[1].text)
    local json = q:request("GET", "/feed.json")
    assert.equal("application/feed+json; charset=utf-8", json.headers["content-type"])
    local feed = q.json.decode(json.body)
    assert.equal("https://jsonfeed.org/version/1.1", feed.version)
    assert.equal("The Ledger", feed.title)
    assert.equal(3, #feed.items)
    assert.equal("Tolls are fair", feed.items[1].title)
    assert.equal("Inês Duarte", feed.items[1].authors[1].name)
    assert.same({ "Roads", "Tolls" }, feed.items[2].tags)
    -- Each item's kept text is what quire.json.encode writes of it (sorted keys, its escapes).
    for _, path in ipairs({ "/feed.json", "/tag/tolls/feed.json", "/section/money/feed.json" }) do
      local body = q:request("GET", path).body
      assert.equal(q.json.encode(q.json.decode(body)), body)
    end
  end)

  it("has feeds per section and per tag, and 404 for unknown ones", function()
    local world = q:request("GET", "/section/world/atom.xml").body
    assert.equal("The Ledger: World", find(world, "title")[1].text)
    assert.equal(3, #find(world, "entry"))
    local tolls = q.json.decode(q:request("GET", "/tag/tolls/feed.json").body)
    assert.equal(2, #tolls.items)
    assert.equal("The Ledger: Tolls", tolls.title)
    assert.equal(404, q:request("GET", "/tag/nothing-here/feed.xml").status)
    assert.equal(404, q:request("GET", "/section/nowhere/feed.json").status)
  end)

  it("gives a feed the same bytes whether its items were kept from other feeds or built for it, and follows a write", function()
    local id = q.content.create { type = "article", title = "Kept once", status = "published", author = "ines", section = "Kept",
      tags = { "Kept", "Tolls" }, published_at = "2021-05-01T08:00:00Z", fields = { standfirst = "Said once." },
      body = "Kept *once* & ![a](/media/a.jpg) [x](javascript:alert(1))." }
    local files = { "feed.xml", "atom.xml", "feed.json" }
    local function drafted(n) -- a write: every kept item is dropped
      q.content.create { type = "article", title = "Draft " .. n, status = "draft" }
    end
    local fresh = {}
    for i, f in ipairs(files) do
      drafted(i)
      fresh[f] = q:request("GET", "/tag/kept/" .. f).body
    end
    assert.matches("Kept once", fresh["feed.xml"], 1, true)
    -- The same items, built by the site's, the section's and the other tag's feeds first.
    for _, f in ipairs(files) do
      for _, scope in ipairs({ "", "/section/kept", "/tag/tolls" }) do q:request("GET", scope .. "/" .. f) end
    end
    for _, f in ipairs(files) do assert.equal(fresh[f], q:request("GET", "/tag/kept/" .. f).body) end
    q.content.update(id, { body = "Kept *twice*." })
    for _, f in ipairs({ "feed.xml", "atom.xml" }) do
      local after = q:request("GET", "/tag/kept/" .. f).body
      assert.matches("&lt;em&gt;twice&lt;/em&gt;", after, 1, true)
      assert.is_nil(after:find("&lt;em&gt;once&lt;/em&gt;", 1, true))
    end
    local after = q:request("GET", "/tag/kept/feed.json").body
    assert.matches("<em>twice<\\/em>", after, 1, true)
    assert.is_nil(after:find("<em>once<\\/em>", 1, true))
  end)

  it("leaves out of RSS and Atom the characters XML cannot carry in text stored before it was checked", function()
    local id = q.content.create { type = "article", title = "Harbour fees", status = "published", section = "Harbour", tags = { "Raw" },
      published_at = "2021-06-01T08:00:00Z", body = "Fees *rise*." }
    -- Straight into the database, as text written before input was checked: C0 controls, a
    -- noncharacter and a byte that is not UTF-8, in the item and in the feed's own title.
    q._db:exec("UPDATE entries SET title = 'Harbour' || char(1) || ' fees' || char(65534) || ' rise', body = 'Fees' || char(11) || ' *rise*.' WHERE id = ?", id)
    q._db:exec("UPDATE terms SET name = 'Raw' || char(27) || CAST(X'FF' AS TEXT) WHERE taxonomy = 'tag' AND slug = 'raw'")
    for _, f in ipairs({ "feed.xml", "atom.xml" }) do
      local body = q:request("GET", "/tag/raw/" .. f).body
      assert.equal(q.text.xml(body), body)
      assert.equal("The Ledger: Raw", find(body, "title")[1].text) -- (not the section's name: the tag's, cleaned)
      assert.matches("<title>Harbour fees rise</title>", body, 1, true)
      assert.matches(" &lt;em&gt;rise&lt;/em&gt;.", body, 1, true)
      assert.is_nil(body:find("[\1\11\27\255]"))
    end
    -- JSON can carry them (escaped): the JSON Feed keeps the text as stored.
    local json = q.json.decode(q:request("GET", "/tag/raw/feed.json").body)
    assert.equal("Harbour\1 fees\u{FFFE} rise", json.items[1].title)
  end)

  it("lists every published entry in the sitemaps /sitemap.xml indexes, news fields in the news sitemap", function()
    local index = q:request("GET", "/sitemap.xml")
    assert.equal("application/xml; charset=utf-8", index.headers["content-type"])
    local files = {}
    for loc in index.body:gmatch("<sitemap><loc>(.-)</loc></sitemap>") do files[#files + 1] = loc end
    assert.same({ "http://localhost:8080/sitemap-pages.xml", "http://localhost:8080/sitemap-news.xml",
      "http://localhost:8080/sitemap.xml?part=1" }, files)
    local r = q:request("GET", "/sitemap-news.xml")
    local news = {}
    for n in r.body:gmatch("<news:news>(.-)</news:news>") do news[#news + 1] = n end
    assert.equal(2, #news) -- the article and the opinion piece of the last two days
    assert.equal("Tolls are fair", news[1]:match("<news:title>(.-)</news:title>"))
    assert.equal("The Ledger", news[1]:match("<news:name>(.-)</news:name>"))
    local locs = {}
    for _, f in ipairs(files) do
      local body = q:request("GET", f:match("^http://localhost:8080(.*)$")).body
      assert.is_nil(body:find("unpublished", 1, true))
      for loc in body:gmatch("<loc>(.-)</loc>") do locs[loc] = true end
    end
    assert.truthy(locs["http://localhost:8080/about"])
    assert.truthy(locs["http://localhost:8080/section/world"])
    assert.matches("<lastmod>%d+%-%d+%-%d+T[%d:]+Z</lastmod>", q:request("GET", "/sitemap.xml?part=1").body)
    assert.equal(404, q:request("GET", "/sitemap.xml?part=2").status)
    assert.equal(400, q:request("GET", "/sitemap.xml?part=two").status)
    assert.equal(400, q:request("GET", "/sitemap.xml?part=%FF").status)
  end)

  it("serves robots.txt pointing at the sitemap", function()
    local body = q:request("GET", "/robots.txt").body
    assert.matches("Disallow: /share/", body, 1, true)
    assert.matches("Sitemap: http://localhost:8080/sitemap.xml", body, 1, true)
  end)

  it("puts canonical, OpenGraph, Twitter and JSON-LD NewsArticle meta on articles", function()
    local e = q.content.get(art)
    local html = q:request("GET", q.content.url(e)).body
    local url = "http://localhost:8080" .. q.content.url(e)
    assert.equal(url, find(html, "link[rel=canonical]")[1].attrs.href)
    local function meta(attr, key) return find(html, ("meta[%s=%s]"):format(attr, key))[1].attrs.content end
    assert.equal("article", meta("property", "og:type"))
    assert.equal("Drivers will pay more.", meta("property", "og:description"))
    assert.equal("http://localhost:8080/media/toll.jpg", meta("property", "og:image"))
    assert.equal("summary_large_image", meta("name", "twitter:card"))
    assert.equal("@ledger", meta("name", "twitter:site"))
    assert.equal("Drivers will pay more.", meta("name", "description"))
    local script = html:match('<script type="application/ld%+json">(.-)</script>')
    assert.is_nil(script:find("<", 1, true)) -- the title's </script> cannot end the element
    local ld = q.json.decode(script)
    assert.equal("NewsArticle", ld["@type"])
    assert.equal("Tolls & </script> rise", ld.headline)
    assert.equal("Inês Duarte", ld.author.name)
    assert.equal("Porto", ld.dateline)
    assert.equal("The Ledger", ld.publisher.name)
    assert.equal(3, #find(html, "link[rel=alternate]"))
  end)

  it("names the site's feeds in every page's head, a section's own first on its page", function()
    local function alternates(path)
      local out = {}
      for _, l in ipairs(find(q:request("GET", path).body, "link[rel=alternate]")) do
        out[#out + 1] = l.attrs.type .. " " .. l.attrs.href .. " " .. l.attrs.title
      end
      return out
    end
    local site = {
      "application/rss+xml /feed.xml The Ledger (RSS)",
      "application/atom+xml /atom.xml The Ledger (Atom)",
      "application/feed+json /feed.json The Ledger (JSON Feed)",
    }
    assert.same(site, alternates(q.content.url(q.content.get(art))))
    assert.same(site, alternates(q.content.url(q.content.get(op)))) -- (the site's titles made once serve every page)
    -- A section's page (the listings plugin's) names its own feeds first.
    local l = testing.site { name = "The Ledger", plugins = { "theme", "article", "listings", "feeds" } }
    l.content.create { type = "article", title = "Ferry strike", status = "published", section = "World", body = "Boats stay." }
    local section = {}
    for _, link in ipairs(find(l:request("GET", "/section/world").body, "link[rel=alternate]")) do
      section[#section + 1] = link.attrs.type .. " " .. link.attrs.href .. " " .. link.attrs.title
    end
    assert.same({
      "application/rss+xml /section/world/feed.xml The Ledger: World (RSS)",
      "application/atom+xml /section/world/atom.xml The Ledger: World (Atom)",
      "application/feed+json /section/world/feed.json The Ledger: World (JSON Feed)",
      site[1], site[2], site[3],
    }, section)
  end)

  it("names the story's corrections in its JSON-LD, a new one as soon as it is marked", function()
    local id = q.content.create { type = "article", title = "Harbour survey", status = "published", body = "Soundings." }
    local url = q.content.url(q.content.get(id))
    local function ld() return q.json.decode(q:request("GET", url).body:match('<script type="application/ld%+json">(.-)</script>')) end
    assert.is_nil(ld().correction)
    local revision = q.content.revisions(id)[1]
    q._newsroom.correction_add(id, revision.id, "The survey date was wrong.", nil)
    local c = ld().correction
    assert.equal(1, #c)
    assert.same({ ["@type"] = "CorrectionComment", text = "The survey date was wrong.", datePublished = revision.created_at }, c[1])
    q._newsroom.correction_add(id, revision.id, "The depth was in feet.", nil)
    assert.equal("The depth was in feet.", ld().correction[2].text)
  end)

  it("marks opinion pieces as OpinionNewsArticle", function()
    local html = q:request("GET", q.content.url(q.content.get(op))).body
    local ld = q.json.decode(html:match('<script type="application/ld%+json">(.-)</script>'))
    assert.equal("OpinionNewsArticle", ld["@type"])
    assert.equal("A long argument about roads and who pays for them.", ld.description)
  end)
end)

describe("feeds plugin language", function()
  it("gives feeds and the sitemap the theme's language", function()
    local q = testing.site { name = "O Diário", plugins = { "theme", "article", "feeds" }, settings = { theme = { lang = "pt-PT" } } }
    q.content.create { type = "article", title = "Portagens sobem", status = "published", published_at = os.time() - 60, body = "Sobem." }
    assert.equal("pt-PT", q:request("GET", "/feed.xml").body:match("<language>(.-)</language>"))
    assert.matches('<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="pt-PT">', q:request("GET", "/atom.xml").body, 1, true)
    assert.equal("pt-PT", q.json.decode(q:request("GET", "/feed.json").body).language)
    assert.equal("pt-PT", q:request("GET", "/sitemap-news.xml").body:match("<news:language>(.-)</news:language>"))
  end)
end)

describe("feeds plugin's head.entry filter", function()
  it("lets a site change an entry's head tags, which are then kept rendered until the next write", function()
    local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or "."
    local q = testing.site { plugins = { "theme", "article", "feeds", "seo_tweaks" },
      plugin_path = { here .. "/fixtures", (os.getenv("PWD") or ".") .. "/plugins" } }
    local id = q.content.create { type = "article", title = "Ferry fares", status = "published", body = "Up." }
    local function page() return q:request("GET", q.content.url(q.content.get(id))).body end
    local html = page()
    assert.equal("Social: Ferry fares", find(html, "meta[property=og:title]")[1].attrs.content)
    assert.equal(0, #find(html, "meta[name=twitter:card]"))
    assert.is_true(q.json.decode(html:match('<script type="application/ld%+json">(.-)</script>')).isAccessibleForFree)
    assert.equal(html, page())
    q.content.update(id, { title = "Ferry fares frozen" })
    assert.equal("Social: Ferry fares frozen", find(page(), "meta[property=og:title]")[1].attrs.content)
  end)
end)

describe("feeds plugin's items", function()
  it("keeps no item built from an entry read before a write seen while its feed was built", function()
    local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or "."
    local q = testing.site { plugins = { "theme", "article", "feeds", "mid_write" },
      plugin_path = { here .. "/fixtures", (os.getenv("PWD") or ".") .. "/plugins" } }
    q.content.create { type = "article", title = "Harbour walls", status = "published", published_at = "2026-03-01T10:00:00Z", body = "Walls." }
    q.content.create { type = "article", title = "Tide tables", status = "published", published_at = "2026-03-03T10:00:00Z", body = "Noon." }
    local function titles()
      local out = {}
      for i, it in ipairs(q.json.decode(q:request("GET", "/feed.json").body).items) do out[i] = it.title end
      return out
    end
    -- The list is read, then "Tide tables" is built, retitling "Harbour walls" (read before it).
    assert.same({ "Tide tables", "Harbour walls" }, titles())
    assert.same({ "Tide tables", "Harbour walls raised" }, titles())
    assert.same({ "Tide tables", "Harbour walls raised" }, titles())
  end)
end)

describe("feeds plugin's lead image", function()
  local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or "."
  local q, id, svg
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "article", "feeds" },
      settings = { feeds = { logo = "/static/logo.png" } } }
    local m = assert(q.media.add(here .. "/fixtures/hero.png", { alt = "A blue harbour", credit = "Desk & Co" }))
    id = q.content.create { type = "article", title = "Harbour opens", status = "published", published_at = os.time() - 60,
      fields = { hero_media = m.id }, body = "Open." }
    svg = q.content.create { type = "article", title = "Chart", status = "published", published_at = os.time() - 120,
      fields = { hero_image = "/media/chart.svg", hero_alt = "A chart" }, body = "Up." }
  end)

  it("gives OpenGraph and JSON-LD the 1200 px class rendition, with its size and alt text", function()
    local html = q:request("GET", q.content.url(q.content.get(id))).body
    local function meta(key) return find(html, ("meta[property=%s]"):format(key))[1].attrs.content end
    -- widths 320 ... 1920 (the image is 1600 wide): 1280 is the narrowest at least 1200; PNG -> WebP
    assert.matches("^http://localhost:8080/media/%x%x/%x+%-1280%.webp$", meta("og:image"))
    assert.equal("image/webp", meta("og:image:type"))
    assert.equal("1280", meta("og:image:width"))
    assert.equal("720", meta("og:image:height"))
    assert.equal("A blue harbour", meta("og:image:alt"))
    assert.equal("A blue harbour", find(html, "meta[name=twitter:image:alt]")[1].attrs.content)
    local ld = q.json.decode(html:match('<script type="application/ld%+json">(.-)</script>'))
    assert.equal("ImageObject", ld.image[1]["@type"])
    assert.equal(meta("og:image"), ld.image[1].url)
    assert.same({ 1280, 720 }, { ld.image[1].width, ld.image[1].height })
    assert.equal("Desk & Co", ld.image[1].creditText)
    assert.same({ ["@type"] = "ImageObject", url = "http://localhost:8080/static/logo.png" }, ld.publisher.logo)
  end)

  it("never uses an SVG for previews", function()
    local html = q:request("GET", q.content.url(q.content.get(svg))).body
    assert.equal(0, #find(html, "meta[property=og:image]"))
    assert.is_nil(q.json.decode(html:match('<script type="application/ld%+json">(.-)</script>')).image)
    assert.is_nil(q:request("GET", "/feed.xml").body:find("chart.svg", 1, true))
  end)

  it("puts the image in feeds: RSS enclosure and media:content, Atom enclosure link, JSON Feed image", function()
    local rss = q:request("GET", "/feed.xml").body
    local item = find(rss, "item")[1].html
    local enc = find(item, "enclosure")[1].attrs
    assert.matches("%-1280%.webp$", enc.url)
    assert.equal("image/webp", enc.type)
    assert.is_true(tonumber(enc.length) > 0)
    local mc = find(item, "media:content")[1]
    assert.same({ enc.url, "image", "1280", "720" }, { mc.attrs.url, mc.attrs.medium, mc.attrs.width, mc.attrs.height })
    assert.matches('<media:description type="plain">A blue harbour</media:description><media:credit>Desk &amp; Co</media:credit>', item, 1, true)
    local atom = q:request("GET", "/atom.xml").body
    assert.equal(enc.url, find(find(atom, "entry")[1].html, "link[rel=enclosure]")[1].attrs.href)
    assert.equal(enc.url, q.json.decode(q:request("GET", "/feed.json").body).items[1].image)
  end)

  it("follows a changed alt text on the next request", function()
    local e = q.content.get(id)
    q.media.update(e.fields.hero_media, { alt = "The harbour at noon" })
    local html = q:request("GET", q.content.url(e)).body
    assert.equal("The harbour at noon", find(html, "meta[property=og:image:alt]")[1].attrs.content)
  end)
end)

describe("feeds plugin's head with the theme's search and social fields", function()
  local q
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "article", "opinion", "feeds" } }
  end)
  local function head_of(id)
    local html = q:request("GET", q.content.url(q.content.get(id))).body
    local function meta(attr, key)
      local m = find(html, ("meta[%s=%s]"):format(attr, key))[1]
      return m and m.attrs.content
    end
    return html, meta, q.json.decode(html:match('<script type="application/ld%+json">(.-)</script>'))
  end

  it("uses the SEO and social fields in the title, meta, OpenGraph, Twitter and JSON-LD, escaped", function()
    for _, type in ipairs({ "article", "opinion" }) do
      local id = q.content.create { type = type, title = "Harbour " .. type, status = "published", body = "The body.",
        fields = { standfirst = "The standfirst.", hero_image = "/media/hero.jpg",
          seo_title = 'Harbour "dues" <b>& fees</b> explained', seo_description = "Search <text> & more",
          social_title = "Share me </script><script>alert(1)</script>", social_description = 'Social "desc"',
          social_image = "https://cdn.example/social.jpg?a=1&b=2" } }
      local html, meta, ld = head_of(id)
      assert.equal("<title>Harbour &quot;dues&quot; &lt;b&gt;&amp; fees&lt;/b&gt; explained</title>", html:match("<title>.-</title>"))
      assert.equal("Search &lt;text&gt; &amp; more", meta("name", "description"))
      assert.equal("Share me &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;", meta("property", "og:title"))
      assert.equal("Share me &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;", meta("name", "twitter:title"))
      assert.equal("Social &quot;desc&quot;", meta("property", "og:description"))
      assert.equal("Social &quot;desc&quot;", meta("name", "twitter:description"))
      assert.equal("https://cdn.example/social.jpg?a=1&amp;b=2", meta("property", "og:image"))
      assert.equal("https://cdn.example/social.jpg?a=1&amp;b=2", meta("name", "twitter:image"))
      assert.is_nil(html:find("<script>alert", 1, true))
      assert.is_nil(html:find("<b>& fees", 1, true))
      -- JSON-LD: the story's own headline and hero; the meta description; no raw "<" inside the script.
      assert.equal("Harbour " .. type, ld.headline)
      assert.equal("Search <text> & more", ld.description)
      assert.equal("http://localhost:8080/media/hero.jpg", ld.image[1].url)
      assert.is_nil(html:match('<script type="application/ld%+json">(.-)</script>'):find("<", 1, true))
      assert.equal(0, #find(html, "meta[name=robots]"))
    end
  end)

  it("falls back to the headline, standfirst and hero image, and says noindex when asked", function()
    local id = q.content.create { type = "article", title = "Plain story", status = "published", body = "Text.",
      fields = { standfirst = "Short and plain.", hero_image = "/media/plain.jpg", seo_noindex = true, seo_title = "  " } }
    local html, meta = head_of(id)
    assert.equal("<title>Plain story – The Ledger</title>", html:match("<title>.-</title>"))
    assert.equal("Short and plain.", meta("name", "description"))
    assert.equal("Plain story", meta("property", "og:title"))
    assert.equal("Short and plain.", meta("property", "og:description"))
    assert.equal("http://localhost:8080/media/plain.jpg", meta("property", "og:image"))
    assert.equal("noindex", meta("name", "robots"))
    assert.is_nil(q:request("GET", "/sitemap-news.xml").body:find("plain-story", 1, true)) -- nor in the news sitemap
    assert.is_nil(q:request("GET", "/sitemap.xml?part=1").body:find("plain-story", 1, true)) -- nor in the archive's
    -- The SEO title alone also names the shared page; the meta description describes it when shared.
    q.content.update(id, { fields = { seo_title = "Searchable title", seo_description = "For searchers.", seo_noindex = false } })
    html, meta = head_of(id)
    assert.equal("<title>Searchable title</title>", html:match("<title>.-</title>"))
    assert.equal("Searchable title", meta("property", "og:title"))
    assert.equal("For searchers.", meta("property", "og:description"))
    assert.equal(0, #find(html, "meta[name=robots]"))
    assert.matches("plain-story", q:request("GET", "/sitemap-news.xml").body, 1, true)
    assert.matches("plain-story", q:request("GET", "/sitemap.xml?part=1").body, 1, true)
  end)

  it("refuses a social image that is not a web address", function()
    local ok, err = pcall(q.content.create, { type = "opinion", title = "Bad image", status = "draft",
      fields = { social_image = "javascript:alert(1)" } })
    assert.is_false(ok)
    assert.matches("social_image", tostring(err.text or err.message or err), 1, true)
  end)
end)

describe("feeds plugin with a site's own feed templates", function()
  it("gives a template that loops over {{#items}} (written before items were kept rendered) every item", function()
    local q, dir = testing.site { name = "The Ledger", plugins = { "theme", "article", "feeds" } }
    for i = 1, 3 do
      q.content.create { type = "article", title = "Story " .. i .. " & more", status = "published", tags = { "Roads" },
        published_at = ("2024-01-0%dT08:00:00Z"):format(i), body = "Body *" .. i .. "*." }
    end
    local plain = q:request("GET", "/tag/roads/feed.xml").body
    assert(core.mkdir(dir .. "/templates") or core.stat(dir .. "/templates") == "dir")
    local f = assert(io.open(dir .. "/templates/rss.mustache", "w"))
    f:write('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>{{title}}</title>\n'
      .. '{{#items}}<item><title>{{title}}</title><link>{{url}}</link><pubDate>{{rfc822}}</pubDate>'
      .. '<description>{{summary}}</description>{{#tags}}<category>{{.}}</category>{{/tags}}</item>\n{{/items}}</channel></rss>\n')
    f:close()
    local q2 = assert(require("quire").open(dir))
    local r = q2.app.request("GET", "/tag/roads/feed.xml")
    assert.equal(200, r.status)
    local items = find(r.body, "item")
    assert.equal(3, #items)
    assert.equal("Story 3 &amp; more", find(items[1].html, "title")[1].text) -- escaped once, as the plugin's own
    assert.equal(find(find(plain, "item")[1].html, "title")[1].text, find(items[1].html, "title")[1].text)
    assert.equal(find(plain, "item")[1].html:match("<link>(.-)</link>"), items[1].html:match("<link>(.-)</link>"))
    assert.equal("Roads", find(items[3].html, "category")[1].text)
    -- The Atom feed, not overridden, is the plugin's own.
    assert.equal(3, #find(q2.app.request("GET", "/tag/roads/atom.xml").body, "entry"))
    q2._db:close()
  end)

  it("sets the body into a site's own item templates as they show it: escaped, raw, twice or not at all", function()
    local q, dir = testing.site { name = "The Ledger", plugins = { "theme", "article", "feeds" } }
    q.content.create { type = "article", title = "Story", status = "published", tags = { "Roads" },
      published_at = "2024-01-01T08:00:00Z", body = "Body *one* & \"two\"." }
    q.content.create { type = "article", title = "Empty", status = "published", tags = { "Roads" },
      published_at = "2024-01-02T08:00:00Z", body = "" }
    local function with(templates, path)
      assert(core.mkdir(dir .. "/templates") or core.stat(dir .. "/templates") == "dir")
      for name, text in pairs(templates) do
        local f = assert(io.open(dir .. "/templates/" .. name .. ".mustache", "w"))
        f:write(text)
        f:close()
      end
      local q2 = assert(require("quire").open(dir))
      local body = q2.app.request("GET", path).body
      q2._db:close()
      assert.is_nil(body:find("\0", 1, true))
      return body
    end
    local escaped = "&lt;p&gt;Body &lt;em&gt;one&lt;/em&gt; &amp;amp; &quot;two&quot;.&lt;/p&gt;"
    local rss = with({ rss_item = "<item><raw>{{{content_html}}}</raw>{{#content_html}}<s/>{{/content_html}}</item>\n",
      atom_item = "<entry><a>{{content_html}}</a><b>{{content_html}}</b></entry>\n" }, "/tag/roads/feed.xml")
    assert.matches('<raw><p>Body <em>one</em> &amp; "two".</p>', rss, 1, true)
    assert.matches("<item><raw></raw></item>", rss, 1, true) -- (the empty body: no section)
    local atom = with({}, "/tag/roads/atom.xml")
    assert.matches(("<a>%s</a><b>%s</b>"):format(escaped, escaped):gsub("\n", ""), atom:gsub("\n", ""), 1, true)
    local plain = with({ rss_item = "<item><title>{{title}}</title></item>\n", atom_item = "<entry>{{{content_html}}}</entry>\n" }, "/tag/roads/feed.xml")
    assert.matches("<item><title>Story</title></item>", plain, 1, true)
  end)
end)

describe("feeds plugin's feeds without items", function()
  it("dates them by what their list holds, not by the clock: the same bytes an hour later", function()
    local q = testing.site { plugins = { "theme", "article", "feeds" } }
    local clock = os.time
    local function an_hour_later(path)
      os.time = function(t) return t and clock(t) or clock() + 3600 end
      local ok, body = pcall(function() return q:request("GET", path).body end)
      os.time = clock
      assert(ok, body)
      return body
    end
    local function dates()
      local rss, atom = q:request("GET", "/feed.xml").body, q:request("GET", "/atom.xml").body
      assert.equal(rss, an_hour_later("/feed.xml"))
      assert.equal(atom, an_hour_later("/atom.xml"))
      assert.equal(0, #find(rss, "item"))
      return rss:match("<lastBuildDate>(.-)</lastBuildDate>"), atom:match("<updated>(.-)</updated>")
    end
    -- Nothing published: nothing dates the list.
    local rss, atom = dates()
    assert.equal("Thu, 01 Jan 1970 00:00:00 +0000", rss)
    assert.matches("^1970%-01%-01T00:00:00", atom)
    -- Only a page (a type feeds leave out): its publication.
    q.content.create { type = "page", title = "About", status = "published", published_at = "2026-02-03T04:05:06Z", body = "Us." }
    rss, atom = dates()
    assert.equal("Tue, 03 Feb 2026 04:05:06 +0000", rss)
    assert.matches("^2026%-02%-03T04:05:06", atom)
  end)
end)
