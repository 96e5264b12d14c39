-- Sitemaps of the whole archive, a Google News sitemap, and robots.txt.
return function(site, common, skip)
  local settings = site.settings
  local absolute, lang = common.absolute, common.lang

  -- Sitemaps by the protocol, for the whole archive: /sitemap.xml is an index of
  -- /sitemap-pages.xml (the home page and the sections), /sitemap-news.xml (Google News: the
  -- stories of the last news_days days, at most 1,000) and one /sitemap.xml?part=N per block
  -- of 10,000 entry ids holding a published entry (the protocol allows 50,000 URLs a file;
  -- the newest file, rebuilt as stories are published, stays quick to build).
  -- Each file is cached like a page: a block's only goes stale when an entry of it changes.
  local XML = "application/xml; charset=utf-8"
  -- Not "hidden from search engines" (the theme's seo_noindex field): such a page is in no sitemap.
  local function indexable(e) return not (e.fields and e.fields.seo_noindex == true) end
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
        local path = indexable(e) and quire.content.url(e)
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
        if indexable(e) then
          urls[#urls + 1] = { loc = absolute(quire.content.url(e)), lastmod = e.updated_at,
            news = { name = quire.site.name, language = language, date = e.published_at, title = e.title } }
        end
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
end
