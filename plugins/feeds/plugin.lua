-- Feeds and metadata: RSS 2.0, Atom and JSON Feed for the site, each section and each tag;
-- sitemaps of the whole archive and a Google News sitemap (see below); robots.txt; and in every page's head
-- the canonical link, OpenGraph and Twitter card meta, feed discovery links and, on entries,
-- JSON-LD (NewsArticle, or OpinionNewsArticle for opinion pieces). An entry's tags pass through
-- the "head.entry" filter ({ meta = { {attr, key, content}, ... }, jsonld = table }, entry) before
-- they are rendered once and kept until the next write.
return quire.plugin {
  name = "feeds", version = "1.0", requires = { "theme" },
  settings = {
    items = 20,                -- entries per feed
    description = "",          -- the site's description for feeds and meta (default: its name)
    news_days = 2,             -- sitemap news fields for entries published this recently
    twitter_site = "",         -- "@handle" for twitter:site
    skip_types = { "page" },   -- types left out of feeds (pages still go into the sitemap)
    jsonld_types = { opinion = "OpinionNewsArticle", article = "NewsArticle", page = "WebPage" },
    logo = "",                 -- the publisher's logo for JSON-LD: a media id, or a path or URL of a PNG/JPEG
  },
  setup = function(site)
    local settings = site.settings
    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end
    local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
    local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }

    local function base() return (quire.site.base_url or ""):gsub("/+$", "") end
    local function absolute(path) return path and (base() .. path) or nil end
    -- The language the theme gives the pages ("en" without one).
    local function lang() return quire.filters.apply("site.lang", "en") end
    local function description() return settings.description ~= "" and settings.description or quire.site.name end

    -- "2023-06-16T09:30:00Z" -> "Fri, 16 Jun 2023 09:30:00 +0000" (RFC 822, as RSS wants it)
    local function rfc822(stamp)
      local epoch = stamp and quire.time.epoch(stamp)
      if not epoch then return nil end
      local wday = (epoch // 86400 + 4) % 7 + 1 -- 1970-01-01 was a Thursday
      local y, m, d, hms = stamp:match("^(%d+)%-(%d+)%-(%d+)T([%d:]+)Z$")
      return ("%s, %s %s %s %s +0000"):format(DAYS[wday], d, MONTHS[tonumber(m)], y, hms)
    end

    -- Plain text from Markdown, for descriptions: the rendered HTML without tags, shortened.
    local function plain(md, max)
      local html = quire.markdown.render(md or "")
      local text = html:gsub("<[^>]*>", " "):gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"')
        :gsub("&#39;", "'"):gsub("&amp;", "&"):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
      if utf8.len(text) and utf8.len(text) > max then
        text = text:sub(1, utf8.offset(text, max + 1) - 1):gsub("%s+%S*$", "") .. "…"
      end
      return text
    end

    local function summary(e)
      local sf = e.fields and e.fields.standfirst
      if type(sf) == "string" and sf:match("%S") then return sf end
      return plain(e.body, 200)
    end

    -- An entry's lead image for previews and feeds (the theme's hero_media, else hero_image):
    -- the media library's 1200 px class JPEG/WebP with its size and alt text, or a plain URL
    -- that is not SVG (scrapers and readers cannot be relied on to show one, and an SVG from
    -- elsewhere may carry scripts). nil when there is none.
    local function lead_image(f, alt)
      local s = f.hero_media and quire.media.share(f.hero_media)
      if s then
        s.alt = type(alt) == "string" and alt ~= "" and alt or s.alt
        s.url = absolute(s.src)
        return s
      end
      local src = type(f.hero_image) == "string" and quire.url.safe(f.hero_image, { "http", "https" })
      if not src or src:lower():match("%.svgz?$") or src:lower():match("%.svgz?[?#]") then return nil end
      return { url = src:match("^https?://") and src or absolute(src), alt = type(alt) == "string" and alt or "" }
    end

    local function author_of(e)
      local u = e.author_id and quire.users.get(e.author_id)
      return u and { name = u.display_name, url = absolute("/author/" .. u.login) } or false
    end

    -- The newest published entries of a scope, without skipped types.
    local function latest(scope)
      local q = { status = "published", limit = math.min(settings.items + 20, 1000) }
      if scope.section then q.section = scope.section end
      if scope.tag then q.tag = scope.tag end
      local out = {}
      for _, e in ipairs(quire.content.query(q)) do
        if not skip[e.type] and #out < settings.items then out[#out + 1] = e end
      end
      return out
    end

    local function feed_items(list)
      local items = {}
      for i, e in ipairs(list) do
        local tags = {}
        for j, t in ipairs(e.tags) do tags[j] = t end
        items[i] = {
          id = absolute(quire.content.url(e)), url = absolute(quire.content.url(e)), title = e.title,
          summary = summary(e), content_html = quire.filters.apply("view.body", {}, e).html,
          published = e.published_at, updated = e.updated_at > e.published_at and e.updated_at or e.published_at,
          rfc822 = rfc822(e.published_at), author = author_of(e), section = e.section or false, tags = tags,
          image = lead_image(e.fields or {}, e.fields and e.fields.hero_alt) or false,
        }
      end
      return items
    end

    -- A feed's scope from the route: the whole site, a section or a tag (nil: nothing there).
    local function scope_of(kind, slug)
      if not kind then return { title = quire.site.name, path = "" } end
      local q = { status = "published", limit = 1, [kind] = slug }
      local e = quire.content.query(q)[1]
      if not e then return nil end
      local name = e.section
      if kind == "tag" then
        for _, t in ipairs(e.tags) do if quire.slugify(t) == slug then name = t end end
      end
      return { [kind] = slug, title = ("%s: %s"):format(quire.site.name, name), path = "/" .. kind .. "/" .. slug }
    end

    local function view_for(scope, file)
      local items = feed_items(latest(scope))
      local updated = items[1] and items[1].updated or quire.time.now()
      for _, it in ipairs(items) do if it.updated > updated then updated = it.updated end end
      return {
        title = scope.title, description = description(), lang = lang(), link = absolute(scope.path .. "/"),
        self = absolute(scope.path .. "/" .. file), updated = updated, updated_rfc822 = rfc822(updated),
        site_name = quire.site.name, items = items,
      }
    end

    local FORMATS = {
      ["feed.xml"] = { template = "rss", type = "application/rss+xml; charset=utf-8" },
      ["atom.xml"] = { template = "atom", type = "application/atom+xml; charset=utf-8" },
      ["feed.json"] = { type = "application/feed+json; charset=utf-8" },
    }

    local function json_feed(v)
      local items = {}
      for i, it in ipairs(v.items) do
        items[i] = {
          id = it.id, url = it.url, title = it.title, summary = it.summary, content_html = it.content_html,
          date_published = it.published, date_modified = it.updated,
          authors = it.author and { { name = it.author.name, url = it.author.url } } or nil,
          tags = #it.tags > 0 and it.tags or nil, image = it.image and it.image.url or nil,
        }
      end
      return quire.json.encode({
        version = "https://jsonfeed.org/version/1.1", title = v.title, home_page_url = v.link, feed_url = v.self,
        description = v.description, language = v.lang, items = quire.json.list(items), -- [] when empty
      })
    end

    local function serve(kind)
      return function(req, res)
        local scope = scope_of(kind, kind and req.params.slug)
        if not scope then return res:error(404) end
        local file = req.path:match("[^/]+$")
        local f = FORMATS[file]
        local v = view_for(scope, file)
        res:header("content-type", f.type)
        -- quire.text.xml: text stored before input was checked (or imported) may hold
        -- characters XML cannot carry; one would make the whole feed unreadable.
        if f.template then return quire.text.xml(quire.template.render(f.template, v)) end
        return json_feed(v)
      end
    end
    for file in pairs(FORMATS) do
      site:route("GET", "/" .. file, serve(nil))
      site:route("GET", "/section/{slug:slug}/" .. file, serve("section"))
      site:route("GET", "/tag/{slug:slug}/" .. file, serve("tag"))
    end

    -- Sitemaps by the protocol, for the whole archive: /sitemap.xml is an index of
    -- /sitemap-pages.xml (the home page and the sections), /sitemap-news.xml (Google News: the
    -- stories of the last news_days days, at most 1,000) and one /sitemap.xml?part=N per block
    -- of 10,000 entry ids holding a published entry (the protocol allows 50,000 URLs a file;
    -- the newest file, rebuilt as stories are published, stays quick to build).
    -- Each file is cached like a page: a block's only goes stale when an entry of it changes.
    local XML = "application/xml; charset=utf-8"
    -- A block's file: /sitemap.xml?part=N (a sitemap may only list addresses at or below its
    -- own folder, so every file is at the root; a query names the part).
    local function block_file(res, part)
      local n = #part <= 9 and part:match("^%d+$") and math.tointeger(tonumber(part))
      if not n then
        res.status = 400
        res:header("content-type", "text/plain; charset=utf-8")
        return "part must be the number of a sitemap file, as /sitemap.xml lists them\n"
      end
      local urls = {}
      if n >= 1 then
        for _, e in ipairs(quire.content.published_block(n - 1)) do
          local path = quire.content.url(e)
          if path then urls[#urls + 1] = { loc = absolute(path), lastmod = e.updated_at, news = false } end
        end
      end
      if #urls == 0 then return res:error(404) end
      res:header("content-type", XML)
      return quire.text.xml(quire.template.render("sitemap", { urls = urls }))
    end

    site:route("GET", "/sitemap.xml", function(req, res)
      if req.query.part or req.query_invalid.part then return block_file(res, req.query.part or "") end
      local maps = { { loc = absolute("/sitemap-pages.xml") }, { loc = absolute("/sitemap-news.xml") } }
      for _, n in ipairs(quire.content.published_blocks()) do maps[#maps + 1] = { loc = absolute(("/sitemap.xml?part=%d"):format(n + 1)) } end
      res:header("content-type", XML)
      return quire.text.xml(quire.template.render("sitemap_index", { maps = maps }))
    end)

    site:route("GET", "/sitemap-pages.xml", function(_, res)
      local urls = { { loc = absolute("/"), lastmod = false, news = false } }
      for _, t in ipairs(quire.content.terms("section")) do
        urls[#urls + 1] = { loc = absolute("/section/" .. t.slug), lastmod = false, news = false }
      end
      res:header("content-type", XML)
      return quire.text.xml(quire.template.render("sitemap", { urls = urls }))
    end)

    site:route("GET", "/sitemap-news.xml", function(_, res)
      local types = {}
      for _, t in ipairs(quire.content.types()) do if not skip[t] then types[#types + 1] = t end end
      local urls, language = {}, lang()
      if #types > 0 then
        local since = os.time() - settings.news_days * 86400
        for _, e in ipairs(quire.content.query { status = "published", type = types, since = since, limit = 1000 }) do
          urls[#urls + 1] = { loc = absolute(quire.content.url(e)), lastmod = e.updated_at,
            news = { name = quire.site.name, language = language, date = e.published_at, title = e.title } }
        end
      end
      res:max_age(600) -- stories leave it as they age, with no write to say so
      res:header("content-type", XML)
      return quire.text.xml(quire.template.render("sitemap", { urls = urls }))
    end)

    site:route("GET", "/robots.txt", function(_, res)
      res:header("content-type", "text/plain; charset=utf-8")
      res:cache_tags { "robots" }
      return table.concat({
        "User-agent: *",
        "Disallow: /share/",   -- counting redirects
        "Disallow: /comment/", -- reply forms and moderation notices
        "Disallow: /search",
        "",
        "Sitemap: " .. absolute("/sitemap.xml"),
        "",
      }, "\n")
    end)

    -- The publisher's logo (settings.logo) as a JSON-LD ImageObject, or nil.
    local function logo()
      local l = settings.logo
      local s = (math.tointeger(l) or (type(l) == "string" and l:match("^%d+$"))) and quire.media.share(tonumber(l))
      if s then return { ["@type"] = "ImageObject", url = absolute(s.src), width = s.width, height = s.height } end
      local src = type(l) == "string" and l ~= "" and quire.url.safe(l, { "http", "https" })
      if not src or src:lower():match("%.svgz?$") then return nil end
      return { ["@type"] = "ImageObject", url = src:match("^https?://") and src or absolute(src) }
    end

    local function meta(list, attr, key, content)
      if content and content ~= "" then list[#list + 1] = { attr = attr, key = key, content = content } end
    end

    -- Every page: feed discovery (the site's feeds, and the section's or tag's when the page is
    -- one), a canonical link when the page says what it is, OpenGraph basics.
    site:filter("view.page", function(view)
      local head = view.head
      local scopes = { { path = "", title = quire.site.name } }
      if view.feed_scope then table.insert(scopes, 1, view.feed_scope) end
      for _, s in ipairs(scopes) do
        head.links[#head.links + 1] = { rel = "alternate", type = "application/rss+xml", href = s.path .. "/feed.xml", title = s.title .. " (RSS)" }
        head.links[#head.links + 1] = { rel = "alternate", type = "application/atom+xml", href = s.path .. "/atom.xml", title = s.title .. " (Atom)" }
        head.links[#head.links + 1] = { rel = "alternate", type = "application/feed+json", href = s.path .. "/feed.json", title = s.title .. " (JSON Feed)" }
      end
      view.feed_links = { items = {
        { href = "/feed.xml", type = "application/rss+xml", label = "RSS" },
        { href = "/atom.xml", type = "application/atom+xml", label = "Atom" },
        { href = "/feed.json", type = "application/feed+json", label = "JSON Feed" },
      } }
      if view.canonical then
        head.links[#head.links + 1] = { rel = "canonical", href = absolute(view.canonical), type = false, title = false }
        meta(head.meta, "property", "og:type", "website")
        meta(head.meta, "property", "og:url", absolute(view.canonical))
        meta(head.meta, "property", "og:title", view.page_title or quire.site.name)
        meta(head.meta, "property", "og:site_name", quire.site.name)
        head.description = head.description or description()
        meta(head.meta, "property", "og:description", head.description)
        meta(head.meta, "name", "twitter:card", "summary")
      end
      for _, l in ipairs(head.links) do
        if l.type == nil then l.type = false end
        if l.title == nil then l.title = false end
      end
      return view
    end)

    -- Entry pages: canonical URL, description, OpenGraph article, Twitter card, JSON-LD. Built
    -- from the entry alone (its address, hero image and dateline place come from the entry too),
    -- so kept until the next write (site:memo) rather than built again for every reader.
    local function entry_head(entry, path, hero_alt, place)
      local url = absolute(path)
      local desc = summary(entry)
      local lead = lead_image(entry.fields or {}, hero_alt)
      local image = lead and lead.url
      local m = {}
      meta(m, "property", "og:type", "article")
      meta(m, "property", "og:title", entry.title)
      meta(m, "property", "og:description", desc)
      meta(m, "property", "og:url", url)
      meta(m, "property", "og:site_name", quire.site.name)
      meta(m, "property", "og:image", image)
      if lead then
        meta(m, "property", "og:image:type", lead.type)
        meta(m, "property", "og:image:width", lead.width and tostring(lead.width))
        meta(m, "property", "og:image:height", lead.height and tostring(lead.height))
        meta(m, "property", "og:image:alt", lead.alt)
      end
      meta(m, "property", "article:published_time", entry.published_at)
      meta(m, "property", "article:modified_time", entry.updated_at)
      meta(m, "property", "article:section", entry.section)
      for _, t in ipairs(entry.tags) do meta(m, "property", "article:tag", t) end
      meta(m, "name", "twitter:card", image and "summary_large_image" or "summary")
      meta(m, "name", "twitter:site", settings.twitter_site)
      meta(m, "name", "twitter:title", entry.title)
      meta(m, "name", "twitter:description", desc)
      meta(m, "name", "twitter:image", image)
      meta(m, "name", "twitter:image:alt", lead and lead.alt)
      local author = author_of(entry)
      local ld = {
        ["@context"] = "https://schema.org",
        ["@type"] = settings.jsonld_types[entry.type] or "Article",
        headline = entry.title, description = desc, url = url, mainEntityOfPage = url,
        datePublished = entry.published_at, dateModified = entry.updated_at,
        author = author and { ["@type"] = "Person", name = author.name, url = author.url } or nil,
        publisher = { ["@type"] = "Organization", name = quire.site.name, url = absolute("/"), logo = logo() },
        image = lead and { { ["@type"] = "ImageObject", url = image, width = lead.width, height = lead.height,
          caption = lead.caption, creditText = lead.credit, description = lead.alt ~= "" and lead.alt or nil } } or nil,
        articleSection = entry.section,
        keywords = #entry.tags > 0 and table.concat(entry.tags, ", ") or nil,
        dateline = place,
      }
      -- A site adds, changes or drops tags here (the page's view only gets them rendered).
      local head = quire.filters.apply("head.entry", { meta = m, jsonld = ld }, entry)
      return {
        canonical = { rel = "canonical", href = url, type = false, title = false },
        description = desc,
        -- Rendered once (templates/head_meta.mustache): every page shares a string, where a list
        -- of tags would be copied for each.
        meta_html = quire.template.render("head_meta", { meta = head.meta }),
        -- "</script>" cannot appear inside the script element: < is written as \u003c.
        jsonld = (quire.json.encode(head.jsonld):gsub("<", "\\u003c")),
      }
    end

    site:filter("view.entry", function(view, entry)
      local head = view.head
      if not head then return view end
      local h = site:memo("head\0" .. entry.id, entry_head, entry, view.url or quire.content.url(entry),
        view.hero and view.hero.alt, view.dateline and view.dateline.place)
      head.links[#head.links + 1] = h.canonical
      head.description = h.description
      head.meta_html = h.meta_html
      head.jsonld = h.jsonld
      return view
    end)
  end,
}
