-- The base theme: the layout, the chrome of every page and the shared entry/card views.
local testing = require "quire.testing"
local find = testing.find

describe("theme plugin", function()
  local q, id
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "article" },
      settings = { theme = { sections = { "World", "Money" }, lang = "en-GB", tagline = "Since 1871" } } }
    q.users.create { login = "ines", name = "Inês Duarte", bio = "Covers shipping.", email = "ines@staff.example" }
    id = q.content.create { type = "article", title = "Tolls <rise> & fall", status = "published",
      published_at = "2026-02-03T10:00:00Z", author = "ines", section = "World", tags = { "Roads", "Money matters" },
      fields = { standfirst = "A short one.", hero_image = "/media/bridge.jpg", hero_alt = "The bridge at dusk",
        hero_caption = "The bridge", hero_credit = "Photo: J. Sousa" },
      body = "First.\n\n<script>alert(1)</script>\n\nSecond." }
    q.content.create { type = "page", title = "About us", status = "published", body = "We are a *newspaper*." }
  end)

  local function page(path)
    local r = q:request("GET", path)
    assert.equal(200, r.status)
    return r.body
  end

  it("wraps pages in an accessible HTML5 layout", function()
    local html = page("/2026/02/tolls-rise-fall")
    assert.matches("^<!DOCTYPE html>\n<html lang=\"en%-GB\" dir=\"ltr\">", html)
    assert.equal(1, #find(html, "main#main"))
    assert.equal("#main", find(html, "a.skip-link")[1].attrs.href)
    assert.equal(1, #find(html, "header.site-header"))
    assert.equal(1, #find(html, "footer.site-footer"))
    assert.equal("Since 1871", find(html, "p.site-tagline")[1].text)
    -- The stylesheet by a name that carries its content's hash (sent as immutable).
    assert.matches('<link rel="stylesheet" href="/static/theme/quire%.%x+%.css">', html)
    assert.is_nil(html:find("<script>", 1, true)) -- no JavaScript, and editors' scripts are removed
  end)

  it("lists the configured sections and marks the current one", function()
    local links = find(find(page("/2026/02/tolls-rise-fall"), "nav.site-nav")[1].html, "a")
    assert.equal(2, #links)
    assert.equal("World", links[1].text)
    assert.equal("/section/world", links[1].attrs.href)
    assert.equal("true", links[1].attrs["aria-current"]) -- the entry is in the section
    assert.is_nil(links[2].attrs["aria-current"])
  end)

  it("renders the entry: escaped title, byline, date, tags, hero", function()
    local html = page("/2026/02/tolls-rise-fall")
    assert.equal("Tolls &lt;rise&gt; &amp; fall", find(html, "h1")[1].html)
    assert.equal("Tolls &lt;rise&gt; &amp; fall – The Ledger", find(html, "title")[1].html)
    local byline = find(html, "p.byline")[1]
    assert.matches("By Inês Duarte", byline.text)
    assert.equal("2026-02-03T10:00:00Z", find(byline.html, "time")[1].attrs.datetime)
    assert.matches("February 3, 2026", byline.text)
    local tags = find(find(html, "ul.tags")[1].html, "a")
    assert.same({ "/tag/roads", "/tag/money-matters" }, { tags[1].attrs.href, tags[2].attrs.href })
    local img = find(find(html, "figure.hero")[1].html, "img")[1]
    assert.same({ "/media/bridge.jpg", "The bridge at dusk" }, { img.attrs.src, img.attrs.alt })
    assert.equal("The bridge Photo: J. Sousa", find(html, "figcaption")[1].text)
    assert.is_nil(html:find("ines@staff.example", 1, true)) -- staff emails stay private
  end)

  it("credits a hero image that has no caption, and leaves out an empty figcaption", function()
    local function hero(fields)
      local e = q.content.create { type = "article", title = "Hero " .. fields.n, status = "published",
        published_at = "2026-02-04T10:00:00Z", body = "x",
        fields = { hero_image = "/media/x.jpg", hero_alt = "x", hero_credit = fields.credit, hero_caption = fields.caption } }
      return find(page(q.content.url(q.content.get(e))), "figure.hero")[1].html
    end
    assert.equal("Photo: A. Lens", find(find(hero { n = 1, credit = "Photo: A. Lens" }, "figcaption")[1].html, "span.credit")[1].text)
    assert.equal(0, #find(hero { n = 2 }, "figcaption"))
  end)

  it("shows an edit to the entry at once, though its page's parts are memoised", function()
    local e = q.content.create { type = "article", title = "Edited", status = "published",
      published_at = "2026-02-05T10:00:00Z", body = "x", section = "World", tags = { "Roads" },
      fields = { standfirst = "Before." } }
    local url = q.content.url(q.content.get(e))
    page(url)
    q.content.update(e, { section = "Money", tags = { "Ports" }, fields = { standfirst = "After.", hero_image = "/media/y.jpg" } })
    local html = page(url)
    assert.matches("After.", html, 1, true)
    assert.equal("/tag/ports", find(find(html, "ul.tags")[1].html, "a")[1].attrs.href)
    assert.equal("/media/y.jpg", find(find(html, "figure.hero")[1].html, "img")[1].attrs.src)
    local links = find(find(html, "nav.site-nav")[1].html, "a")
    assert.is_nil(links[1].attrs["aria-current"])
    assert.equal("true", links[2].attrs["aria-current"]) -- now in Money
  end)

  it("gives cards false for missing parts so Mustache does not borrow the page's", function()
    local e = q.content.get(id)
    local card = q.filters.apply("view.card", {}, e)
    assert.equal("/2026/02/tolls-rise-fall", card.url)
    assert.equal("World", card.section.name)
    assert.equal(false, card.snippet)
    local bare = q.content.get(q.content.create { type = "article", title = "Bare", status = "published" })
    card = q.filters.apply("view.card", {}, bare)
    assert.equal(false, card.section)
    assert.equal(false, card.author)
    assert.equal(false, card.standfirst)
  end)

  it("ships a stylesheet with focus styles, a skip link and print styles", function()
    local dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/[^/]+$")
    local f = assert(io.open(dir .. "/static/quire.css"))
    local css = f:read("a")
    f:close()
    assert.matches(":focus-visible", css, 1, true)
    assert.matches(".skip-link:focus", css, 1, true)
    assert.matches("@media print", css, 1, true)
    assert.matches("@media (prefers-reduced-motion: reduce)", css, 1, true)
  end)

  -- WCAG relative luminance and contrast ratio of two "#rrggbb" colours.
  local function contrast(a, b)
    local function lum(hex)
      local c = {}
      for i, h in ipairs({ hex:match("^#(%x%x)(%x%x)(%x%x)$") }) do
        local v = tonumber(h, 16) / 255
        c[i] = v <= 0.03928 and v / 12.92 or ((v + 0.055) / 1.055) ^ 2.4
      end
      return 0.2126 * c[1] + 0.7152 * c[2] + 0.0722 * c[3]
    end
    local x, y = lum(a), lum(b)
    return (math.max(x, y) + 0.05) / (math.min(x, y) + 0.05)
  end

  it("keeps text at WCAG AA contrast and the focus ring at 3:1 against what it sits on", function()
    local dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/[^/]+$")
    local f = assert(io.open(dir .. "/static/quire.css"))
    local css = f:read("a")
    f:close()
    local var = {}
    for name, value in css:match(":root%s*(%b{})"):gmatch("%-%-([%w-]+):%s*#(%x+);") do
      var[name] = "#" .. (#value == 3 and value:gsub(".", "%0%0") or value)
    end
    for _, pair in ipairs({ { "ink", "paper" }, { "muted", "paper" }, { "muted", "soft" }, { "accent", "paper" },
      { "link", "paper" }, { "link", "soft" } }) do
      assert.is_true(contrast(var[pair[1]], var[pair[2]]) >= 4.5, pair[1] .. " on " .. pair[2])
    end
    assert.is_true(contrast("#ffffff", var.accent) >= 4.5, "white on accent (the Opinion label)")
    -- The focus ring is drawn on the page and around the dark skip link and buttons.
    assert.is_true(contrast(var.focus, var.paper) >= 3, "focus on paper")
    assert.is_true(contrast(var.focus, var.ink) >= 3, "focus on ink")
  end)

  it("lays out for phones: the header search shrinks, neighbours stack, long words wrap; prints no form", function()
    local dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/[^/]+$")
    local f = assert(io.open(dir .. "/static/quire.css"))
    local css = f:read("a")
    f:close()
    assert.matches(".site-search input { flex: 1 1 auto; width: 0; min-width: 0; }", css, 1, true)
    assert.matches("overflow-wrap: break-word", css, 1, true)
    assert.matches(".prevnext { display: grid; grid-template-columns: minmax(0, 1fr);", css, 1, true)
    assert.matches("%.comment%-respond[^}]*display: none", css:match("@media print%s*(%b{})"))
  end)

  it("renders plain pages with the base layout", function()
    local html = page("/about-us")
    assert.equal("About us", find(html, "h1")[1].text)
    assert.equal("newspaper", find(find(html, "div.entry-body")[1].html, "em")[1].text)
  end)
end)

describe("theme plugin's images", function()
  local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/") or "."
  local png = here .. "/../../feeds/spec/fixtures/hero.png" -- 1600 x 900
  local q, m, m2
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "article", "listings" } }
    m = assert(q.media.add(png, { alt = "A blue harbour", caption = "The harbour", credit = "Desk" }))
  end)

  it("renders a ```gallery block from the media library, responsive and escaped", function()
    m2 = m
    local body = table.concat({
      "Before.", "", "```gallery", ("%d The <b>quay</b> at dawn"):format(m.id), m.variants[2].webp,
      "99999 not in the library", "javascript:alert(1) no", "```", "", "```", "```gallery", "a code block stays code", "```",
      "", "![inline](/media/x.png)", "", "<img src=\"/a.png\" srcset=\"javascript:alert(1) 1x\" onerror=\"alert(1)\">" }, "\n")
    local id = q.content.create { type = "article", title = "Harbour pictures", status = "published", published_at = os.time() - 60, body = body }
    local html = q:request("GET", q.content.url(q.content.get(id))).body
    local entry = find(html, "div.entry-body")[1].html
    local gal = find(entry, "div.gallery")
    assert.equal(1, #gal)
    local figs = find(gal[1].html, "figure.gallery-item")
    assert.equal(2, #figs) -- the id and the URL; the unknown id and the foreign URL are left out
    local img = find(figs[1].html, "img")[1].attrs
    assert.same({ "lazy", "async", "1600", "900", "A blue harbour" }, { img.loading, img.decoding, img.width, img.height, img.alt })
    assert.matches("%-320%.png 320w, .*%-1600%.png 1600w$", img.srcset)
    assert.matches("%-1280%.webp 1280w", find(figs[1].html, "source")[1].attrs.srcset)
    assert.matches("The &lt;b&gt;quay&lt;/b&gt; at dawn", find(figs[1].html, "figcaption")[1].html, 1, true)
    assert.equal("The harbour Desk", find(figs[2].html, "figcaption")[1].text:gsub("%s+", " "))
    -- A gallery fence inside a code block is code, not a gallery.
    assert.matches("```gallery\na code block stays code", find(entry, "pre")[1].html, 1, true)
    -- Body images load lazily; the sanitizer still drops srcset and handlers an editor wrote.
    for _, i in ipairs(find(entry, "img")) do assert.equal("lazy", i.attrs.loading) end
    assert.is_nil(entry:find("onerror", 1, true))
    assert.is_nil(entry:find("javascript", 1, true))
  end)

  it("shows list pictures lazily, the lead hero eagerly", function()
    local id = q.content.create { type = "article", title = "Harbour reopens", status = "published", section = "World",
      published_at = os.time() - 30, fields = { hero_media = m.id, hero_alt = "Boats in the harbour" }, body = "Open." }
    local list = q:request("GET", "/latest").body
    local card
    for _, c in ipairs(find(list, "article.card")) do if c.html:find("Harbour reopens", 1, true) then card = c end end
    local img = find(card.html, "img")[1].attrs
    assert.same({ "lazy", "Boats in the harbour", "1600", "900" }, { img.loading, img.alt, img.width, img.height })
    local page = q:request("GET", q.content.url(q.content.get(id))).body
    local hero = find(find(page, "figure.hero")[1].html, "img")[1].attrs
    assert.is_nil(hero.loading)
    assert.equal("high", hero.fetchpriority)
  end)

  it("offers AVIF once the background job has made it, and not before", function()
    local id = q.content.create { type = "article", title = "Harbour at night", status = "published",
      published_at = os.time() - 20, fields = { hero_media = m.id, hero_alt = "Lights" }, body = "Dark." }
    local url = q.content.url(q.content.get(id))
    assert.equal(0, #find(q:request("GET", url).body, "source[type=image/avif]"))
    local made = q.media.make_avif()
    if not require("quire.core").media_avif_supported() then return end -- (said by quire media avif)
    assert.equal(1, made)
    local src = find(q:request("GET", url).body, "source[type=image/avif]")
    assert.equal(1, #src)
    assert.matches("%-320%.avif 320w, .*%-1600%.avif 1600w$", src[1].attrs.srcset)
    assert.equal(0, (q.media.make_avif())) -- each image once
    assert.is_nil(q.media.avif_step())
  end)
end)

describe("theme dates", function()
  -- The <time> of an entry's byline, published at the stamp.
  local function dated(q, stamp)
    local id = q.content.create { type = "article", title = "At " .. stamp, status = "published", published_at = stamp, body = "x" }
    local html = q:request("GET", q.content.url(q.content.get(id))).body
    return find(find(html, "p.byline")[1].html, "time")[1]
  end

  it("words a date by its local day, stamps of one day alike", function()
    local q = testing.site { name = "Oslo Post", plugins = { "theme", "article" }, timezone = "Europe/Oslo" }
    local late = dated(q, "2026-02-03T22:30:00Z") -- 23:30 on the 3rd in Oslo
    assert.equal("2026-02-03T23:30:00+01:00", late.attrs.datetime)
    assert.equal("February 3, 2026", late.text)
    local later = dated(q, "2026-02-03T23:30:00Z") -- 00:30 on the 4th
    assert.equal("2026-02-04T00:30:00+01:00", later.attrs.datetime)
    assert.equal("February 4, 2026", later.text)
    assert.equal("February 4, 2026", dated(q, "2026-02-04T10:00:00Z").text)
  end)

  it("words each stamp apart when the language's date pattern shows the time", function()
    local q = testing.site { name = "Oslo Post", plugins = { "theme", "article" }, timezone = "Europe/Oslo",
      strings = { ["date format|%B %-d, %Y"] = "%-d %B %Y, %H:%M" } }
    assert.equal("3 February 2026, 23:30", dated(q, "2026-02-03T22:30:00Z").text)
    assert.equal("4 February 2026, 00:30", dated(q, "2026-02-03T23:30:00Z").text)
    assert.equal("4 February 2026, 11:00", dated(q, "2026-02-04T10:00:00Z").text)
  end)
end)
