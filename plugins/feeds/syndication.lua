-- RSS 2.0, Atom and JSON Feed for the site, each section and each tag: /feed.xml, /atom.xml,
-- /feed.json under /, /section/SLUG/ and /tag/SLUG/.
return function(site, common, skip)
  local settings = site.settings
  local absolute, rfc822, summary, author_of = common.absolute, common.rfc822, common.summary, common.author_of
  local lang, description = common.lang, common.description

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

  -- An entry as a feed item: built from the database only (and the base URL), so kept until the
  -- next write (site:memo); an entry is in the feeds of the site, its section and each of its
  -- tags, in three formats each.
  local function feed_item(e)
    local tags = {}
    for j, t in ipairs(e.tags) do tags[j] = t end
    local updated = e.updated_at > e.published_at and e.updated_at or e.published_at
    return {
      id = absolute(quire.content.url(e)), url = absolute(quire.content.url(e)), title = e.title,
      summary = summary(e), content_html = quire.filters.apply("view.body", {}, e).html,
      published = e.published_at, updated = updated, published_local = common.rfc3339(e.published_at),
      updated_local = common.rfc3339(updated),
      rfc822 = rfc822(e.published_at), author = author_of(e), section = e.section or false, tags = tags,
      image = common.lead_image(e.fields or {}, e.fields and e.fields.hero_alt) or false,
    }
  end

  local function feed_items(list)
    local items, base = {}, absolute("")
    for i, e in ipairs(list) do items[i] = site:memo("item\0" .. base .. "\0" .. e.id, feed_item, e) end
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
    for _, it in ipairs(items) do
      it.published, it.updated, it.published_local, it.updated_local = it.published_local, it.updated_local, nil, nil
    end
    return {
      title = scope.title, description = description(), lang = lang(), link = absolute(scope.path .. "/"),
      self = absolute(scope.path .. "/" .. file), updated = common.rfc3339(updated), updated_rfc822 = rfc822(updated),
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
end
