-- RSS 2.0, Atom and JSON Feed for the site, each section and each tag: /feed.xml, /atom.xml,
-- /feed.json under /, /section/SLUG/ and /tag/SLUG/.
return function(site, common, skip)
  local settings = site.settings
  local absolute, rfc822, summary, author_of = common.absolute, common.rfc822, common.summary, common.author_of
  local lang, description = common.lang, common.description
  local xml = quire.text.xml

  -- The newest published entries of a scope (kind = slug, or the whole site) without skipped
  -- types, those among its newest items + 20; and its newest entry (nil: none). The newest items
  -- alone are read first: they hold no skipped type as a rule, and a whole entry is some kB.
  local function latest(kind, slug)
    local most = math.min(settings.items + 20, 1000)
    local q = { status = "published", limit = math.max(1, math.min(settings.items, most)) }
    if kind then q[kind] = slug end
    local rows, out, more
    repeat
      rows, out = quire.content.query(q), {}
      for _, e in ipairs(rows) do
        if not skip[e.type] and #out < settings.items then out[#out + 1] = e end
      end
      more = #out < settings.items and #rows == q.limit and q.limit < most
      q.limit = most
    until not more
    return out, rows[1]
  end

  -- v with every string XML-clean (quire.text.xml), in place (an item's view is its own). Each
  -- value of a feed's templates stands between ASCII markup, so no character can span two
  -- values: cleaning the values one by one gives the bytes cleaning the whole document did (and
  -- scans each once, where the RSS and the Atom text would scan the body twice).
  local function cleaned(v)
    if type(v) == "string" then return xml(v) end
    if type(v) ~= "table" then return v end
    for k, x in pairs(v) do v[k] = cleaned(x) end
    return v
  end

  -- A JSON Feed item's text (quire.json.encode: keys sorted, as the document around it).
  local function json_item(it)
    local a = it.author
    return quire.json.encode({
      id = it.id, url = it.url, title = it.title, summary = it.summary, content_html = it.content_html,
      date_published = it.published, date_modified = it.updated,
      authors = a and { { name = a.name, url = a.url } } or nil,
      tags = #it.tags > 0 and it.tags or nil, image = it.image and it.image.url or nil,
    })
  end

  -- An entry as its feed templates see it (not yet XML-clean), and the time the feed's own date
  -- is worked out from.
  local function item_view(e)
    local tags = {}
    for j, t in ipairs(e.tags) do tags[j] = t end
    local updated = e.updated_at > e.published_at and e.updated_at or e.published_at
    local url = absolute(quire.content.url(e))
    local published = common.rfc3339(e.published_at)
    return {
      id = url, url = url, title = e.title, summary = summary(e), content_html = quire.filters.apply("view.body", {}, e).html,
      published = published, updated = updated == e.published_at and published or common.rfc3339(updated), rfc822 = rfc822(e.published_at),
      author = author_of(e), section = e.section or false, tags = tags,
      image = common.lead_image(e.fields or {}, e.fields and e.fields.hero_alt) or false,
    }, updated
  end

  -- The RSS and Atom items are rendered with BODY for their body, then cut where its escaped
  -- text stands ({{content_html}}): the body is escaped once and kept once for both. No clean
  -- value holds a NUL; the "<" tells {{content_html}} from {{{content_html}}}. An item whose
  -- template shows the body otherwise (raw, twice) is rendered again with it, and kept whole.
  local BODY = "\0<\0"
  local ESCAPED = quire.template.escape(BODY)
  -- {{content_html}}'s escaping, rendered (a body is some kB: the renderer's escaping scans 16
  -- bytes at a time, quire.template.escape one).
  local escaped = quire.template.compile("{{b}}", "feed body")
  -- An item's text as parts: before and after its escaped body; or whole (no body to set in),
  -- and false when BODY stands in it otherwise (then rendered again with the body).
  local function cut(text)
    local at = text:find("\0", 1, true)
    if not at then return text, nil end
    if text:sub(at, at + #ESCAPED - 1) ~= ESCAPED or text:find("\0", at + #ESCAPED, true) then return false, nil end
    return text:sub(1, at - 1), text:sub(at + #ESCAPED)
  end

  -- An entry as a feed item, in each format: its RSS <item> and Atom <entry> (XML-clean, in
  -- parts around their shared body) and its JSON Feed item, with the time the feed's own date is
  -- worked out from. Built from the database only (and the base URL), so kept until the next
  -- write (site:memo): an entry is in the feeds of the site, its section and each of its tags,
  -- in three formats each, and its body, escaped here, is most of a feed's bytes.
  local function feed_item(e)
    local it, updated = item_view(e)
    local json = json_item(it) -- (JSON can carry any character: the text as stored)
    it = cleaned(it)
    local body = it.content_html
    -- (an empty or missing body is set in as itself: a section on it would be left out)
    if type(body) == "string" and body ~= "" then it.content_html = BODY end
    local item = { updated = updated, json = json, body = escaped:render({ b = body }) }
    item.rss, item.rss_end = cut(quire.template.render("rss_item", it))
    item.atom, item.atom_end = cut(quire.template.render("atom_item", it))
    it.content_html = body
    if not (item.rss_end or item.atom_end) then item.body = nil end
    if not item.rss then item.rss = quire.template.render("rss_item", it) end
    if not item.atom then item.atom = quire.template.render("atom_item", it) end
    return item
  end

  -- A feed's scope from the route and its newest entry e: the whole site, a section or a tag
  -- (nil: nothing there).
  local function scope_of(kind, slug, e)
    if not kind then return { title = quire.site.name, path = "" } end
    if not e then return nil end
    local name = e.section
    if kind == "tag" then
      for _, t in ipairs(e.tags) do if quire.slugify(t) == slug then name = t end end
    end
    return { [kind] = slug, title = ("%s: %s"):format(quire.site.name, name), path = "/" .. kind .. "/" .. slug }
  end

  -- The date of a feed without items: not the clock, which changed its bytes on every run of an
  -- export that rendered it. The publication of the newest entry its list read (of a type feeds
  -- leave out), which moves only with the list, whose tags the feed carries; with none (nothing
  -- published in it: the site's feed, the others answer 404), the epoch's start, as a list that
  -- holds nothing has nothing to be dated by.
  local NO_ITEMS = "1970-01-01T00:00:00Z"

  -- A scope's feed in every format, but for what it says of itself (view_for): its items' text
  -- in each (rss, atom: lists of their parts; json: a list), kept (site:memo) for the other two
  -- formats of the same list and until the next write, and its date, its newest item's (see
  -- NO_ITEMS for a feed without). nil: no such scope. (An item built after this feed saw a write
  -- is not kept: its entry was read before, quire.memo.)
  local function feed_of(kind, slug, base)
    local entries, newest = latest(kind, slug)
    local scope = scope_of(kind, slug, newest)
    if not scope then return nil end
    local rss, atom, json, updated = {}, {}, {}, nil
    -- (an item's parts in a row; its body between them)
    local function add(list, text, rest, body)
      list[#list + 1] = text
      if rest then list[#list + 1], list[#list + 2] = body, rest end
    end
    for i, e in ipairs(entries) do
      local it = site:memo("item\0" .. base .. "\0" .. e.id, feed_item, e)
      add(rss, it.rss, it.rss_end, it.body)
      add(atom, it.atom, it.atom_end, it.body)
      json[i] = it.json
      if not updated or it.updated > updated then updated = it.updated end
    end
    scope.rss, scope.atom, scope.json = rss, atom, json
    updated = updated or newest and newest.published_at or NO_ITEMS
    scope.updated, scope.updated_rfc822 = common.rfc3339(updated), rfc822(updated)
    return scope
  end

  -- What a feed says of itself; clean: quire.text.xml for RSS and Atom (the items are clean
  -- already, and each value here stands between ASCII markup, so no character can span two of
  -- them: cleaned one by one as the whole document would be), nothing for JSON Feed.
  local function view_for(feed, file, clean)
    return {
      title = clean(feed.title), description = clean(description()), lang = clean(lang()), link = clean(absolute(feed.path .. "/")),
      self = clean(absolute(feed.path .. "/" .. file)), updated = feed.updated, updated_rfc822 = feed.updated_rfc822,
      site_name = clean(quire.site.name),
    }
  end

  local FORMATS = {
    ["feed.xml"] = { template = "rss", type = "application/rss+xml; charset=utf-8" },
    ["atom.xml"] = { template = "atom", type = "application/atom+xml; charset=utf-8" },
    ["feed.json"] = { type = "application/feed+json; charset=utf-8" },
  }

  -- A document's text around its items, then the items' kept text, joined once (quire.text.join:
  -- in one piece, where table.concat grew and copied its buffer a dozen times for ~100 kB).
  local join = quire.text.join
  local function joined(head, items, sep, tail)
    local parts = { head }
    for i, text in ipairs(items) do
      if sep and i > 1 then parts[#parts + 1] = sep end
      parts[#parts + 1] = text
    end
    parts[#parts + 1] = tail
    return join(parts)
  end

  -- The JSON Feed: its items' kept text set into the rest as quire.json.encode writes a list
  -- (keys sorted: "items" is found before any value that could hold its like, and a JSON
  -- string's quotes are escaped).
  local ITEMS = "\0items\0"
  local MARK = '"items":' .. quire.json.encode(ITEMS)
  local function json_feed(v, items)
    local doc = quire.json.encode({
      version = "https://jsonfeed.org/version/1.1", title = v.title, home_page_url = v.link, feed_url = v.self,
      description = v.description, language = v.lang, items = ITEMS,
    })
    local at = doc:find(MARK, 1, true)
    return joined(doc:sub(1, at + 7) .. "[", items, ",", "]" .. doc:sub(at + #MARK))
  end

  local function same(s) return s end
  local function serve(kind)
    return function(req, res)
      local feed = site:memo("feed", feed_of, kind or false, kind and req.params.slug or false, absolute(""))
      if not feed then return res:error(404) end
      local file = req.path:match("[^/]+$")
      local f = FORMATS[file]
      res:header("content-type", f.type)
      if not f.template then return json_feed(view_for(feed, file, same), feed.json) end
      -- XML-clean (quire.text.xml): text stored before input was checked (or imported) may hold
      -- characters XML cannot carry; one would make the whole feed unreadable.
      -- The document is rendered with a NUL where its items go (no value can hold one: cleaned).
      local v = view_for(feed, file, xml)
      v.items = "\0"
      local doc = quire.template.render(f.template, v)
      local at = doc:find("\0", 1, true)
      if at then return joined(doc:sub(1, at - 1), feed[f.template], nil, doc:sub(at + 1)) end
      -- A site's own template that does not set {{{items}}} where they go (one written for the
      -- list of items, as the plugin's were before their text was kept): it is given that list,
      -- each item's view built again.
      local views = {}
      for i, e in ipairs((latest(kind, kind and req.params.slug))) do views[i] = cleaned((item_view(e))) end
      v.items = views
      return quire.template.render(f.template, v)
    end
  end
  for file in pairs(FORMATS) do
    site:route("GET", "/" .. file, serve(nil))
    site:route("GET", "/section/{slug:slug}/" .. file, serve("section"))
    site:route("GET", "/tag/{slug:slug}/" .. file, serve("tag"))
  end
end
