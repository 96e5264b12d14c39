-- In every page's head: feed discovery links, the canonical link, OpenGraph and Twitter card
-- meta; on entries, JSON-LD (NewsArticle, or OpinionNewsArticle for opinion pieces), passed
-- through the "head.entry" filter and kept until the next write.
return function(site, common)
  local settings = site.settings
  local absolute, description, summary, author_of = common.absolute, common.description, common.summary, common.author_of

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

  -- Links to the three feeds of path, named after title.
  local function add_feeds(links, path, title)
    links[#links + 1] = { rel = "alternate", type = "application/rss+xml", href = path .. "/feed.xml", title = title .. " (RSS)" }
    links[#links + 1] = { rel = "alternate", type = "application/atom+xml", href = path .. "/atom.xml", title = title .. " (Atom)" }
    links[#links + 1] = { rel = "alternate", type = "application/feed+json", href = path .. "/feed.json", title = title .. " (JSON Feed)" }
  end
  -- Every page: feed discovery (the site's feeds, and the section's or tag's when the page is
  -- one), a canonical link when the page says what it is, OpenGraph basics. The site's own
  -- three are the same on every page: their titles are made once (for the site's name).
  local site_name, site_titles
  site:filter("view.page", function(view)
    local head = view.head
    local links = head.links
    if view.feed_scope then add_feeds(links, view.feed_scope.path, view.feed_scope.title) end
    local name = quire.site.name
    if name ~= site_name then site_name, site_titles = name, { name .. " (RSS)", name .. " (Atom)", name .. " (JSON Feed)" } end
    links[#links + 1] = { rel = "alternate", type = "application/rss+xml", href = "/feed.xml", title = site_titles[1] }
    links[#links + 1] = { rel = "alternate", type = "application/atom+xml", href = "/atom.xml", title = site_titles[2] }
    links[#links + 1] = { rel = "alternate", type = "application/feed+json", href = "/feed.json", title = site_titles[3] }
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

  -- The entry's own search and social fields (the theme's "seo" field set), when filled in.
  local function given(f, name)
    local v = f and f[name]
    return type(v) == "string" and v:match("%S") and v or nil
  end

  -- Entry pages: canonical URL, description, OpenGraph article, Twitter card, JSON-LD. Built
  -- from the entry alone (its address, hero image and dateline place come from the entry too),
  -- so kept until the next write (site:memo) rather than built again for every reader.
  local function entry_head(entry, path, hero_alt, place)
    local f = entry.fields or {}
    local url = absolute(path)
    local desc = given(f, "seo_description") or summary(entry)
    local social_desc = given(f, "social_description") or desc
    local social_title = given(f, "social_title") or given(f, "seo_title") or entry.title
    -- A social image set for the story replaces the lead picture in previews (its size unknown).
    local social = given(f, "social_image") and quire.url.safe(f.social_image, { "http", "https" })
    social = social and (social:match("^https?://") and social or absolute(social))
    local lead = common.lead_image(f, hero_alt)
    local shown = not social and lead -- the picture previews show, when it is the lead one
    local image = social or (lead and lead.url)
    local published, modified = common.rfc3339(entry.published_at), common.rfc3339(entry.updated_at)
    local m = {}
    meta(m, "property", "og:type", "article")
    meta(m, "property", "og:title", social_title)
    meta(m, "property", "og:description", social_desc)
    meta(m, "property", "og:url", url)
    meta(m, "property", "og:site_name", quire.site.name)
    meta(m, "property", "og:image", image)
    if shown then
      meta(m, "property", "og:image:type", shown.type)
      meta(m, "property", "og:image:width", shown.width and tostring(shown.width))
      meta(m, "property", "og:image:height", shown.height and tostring(shown.height))
      meta(m, "property", "og:image:alt", shown.alt)
    end
    meta(m, "property", "article:published_time", published)
    meta(m, "property", "article:modified_time", modified)
    meta(m, "property", "article:section", entry.section)
    for _, t in ipairs(entry.tags) do meta(m, "property", "article:tag", t) end
    meta(m, "name", "twitter:card", image and "summary_large_image" or "summary")
    meta(m, "name", "twitter:site", settings.twitter_site)
    meta(m, "name", "twitter:title", social_title)
    meta(m, "name", "twitter:description", social_desc)
    meta(m, "name", "twitter:image", image)
    meta(m, "name", "twitter:image:alt", shown and shown.alt)
    local author = author_of(entry)
    local ld = {
      ["@context"] = "https://schema.org",
      ["@type"] = settings.jsonld_types[entry.type] or "Article",
      headline = entry.title, description = desc, url = url, mainEntityOfPage = url,
      datePublished = published, dateModified = modified,
      author = author and { ["@type"] = "Person", name = author.name, url = author.url } or nil,
      publisher = { ["@type"] = "Organization", name = quire.site.name, url = absolute("/"), logo = logo() },
      image = lead and { { ["@type"] = "ImageObject", url = lead.url, width = lead.width, height = lead.height,
        caption = lead.caption, creditText = lead.credit, description = lead.alt ~= "" and lead.alt or nil } } or social,
      articleSection = entry.section,
      keywords = #entry.tags > 0 and table.concat(entry.tags, ", ") or nil,
      dateline = place,
    }
    -- Corrections marked in the admin (schema.org CorrectionComment).
    for _, c in ipairs(quire.corrections.list(entry.id)) do
      ld.correction = ld.correction or {}
      ld.correction[#ld.correction + 1] = { ["@type"] = "CorrectionComment", text = c.note, datePublished = c.date }
    end
    -- A site adds, changes or drops tags here (the page's view only gets them rendered).
    local head = quire.filters.apply("head.entry", { meta = m, jsonld = ld }, entry)
    -- "</script>" cannot appear inside the script element: < is written as \u003c. (Looked for
    -- plainly first: a gsub's pattern walk of the whole text cost a page more than encoding it.)
    local jsonld = quire.json.encode(head.jsonld)
    if jsonld:find("<", 1, true) then jsonld = jsonld:gsub("<", "\\u003c") end
    return {
      canonical = { rel = "canonical", href = url, type = false, title = false },
      description = desc,
      title = given(f, "seo_title") or false,
      robots = f and f.seo_noindex == true and "noindex" or false,
      -- Rendered once (templates/head_meta.mustache): every page shares a string, where a list
      -- of tags would be copied for each.
      meta_html = quire.template.render("head_meta", { meta = head.meta }),
      jsonld = jsonld,
    }
  end

  site:filter("view.entry", function(view, entry)
    local head = view.head
    if not head then return view end
    local h = site:memo("head\0" .. entry.id, entry_head, entry, view.url or quire.content.url(entry),
      view.hero and view.hero.alt, view.dateline and view.dateline.place)
    head.links[#head.links + 1] = h.canonical
    head.description = h.description
    head.title = h.title
    if h.robots then head.robots = h.robots end
    head.meta_html = h.meta_html
    head.jsonld = h.jsonld
    return view
  end)
end
