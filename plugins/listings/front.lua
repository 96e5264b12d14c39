-- The front pages: the home page and each section's first page as a newspaper front, built from
-- the editors' slots (quire.front) and blocks a site theme can restyle or replace
-- (templates/front.mustache and its partials): the lead (hero image, headline, standfirst), the
-- top stories with pictures, each section's latest, the opinion column with its writers' names;
-- and, on every page, the breaking-news banner and the sidebar's most read.
return function(site, listed_types)
  local settings = site.settings

  -- A card (view.card) with the entry's picture: its uploaded hero image at the sizes given, or
  -- its hero image URL (shown in a fixed frame, since its size is unknown).
  local function card(e, sizes)
    local c = quire.filters.apply("view.card", {}, e)
    local f = e.fields or {}
    local alt = type(f.hero_alt) == "string" and f.hero_alt or nil
    local pic = f.hero_media and quire.media.picture(f.hero_media, sizes)
    if pic and pic.srcset then
      pic.alt = alt or pic.alt or ""
      c.image = pic
    elseif type(f.hero_image) == "string" then
      local src = quire.url.safe(f.hero_image, { "http", "https" })
      c.image = src and { src = src, alt = alt or "", framed = true } or false
    else
      c.image = false
    end
    c.opinion = e.type == settings.front_opinion_type
    return c
  end

  local function section_slug(name) return quire.slugify(name) end

  -- The top of a front: its slots (lead and top stories) from the editors, else the newest.
  local function top_of(page, query)
    local got = quire.front.resolve(page, 1 + settings.front_top, { query = query })
    local used, lead, rest, entries = {}, false, {}, {}
    for i, s in ipairs(got) do entries[i] = s.entry end
    quire.filters.apply("view.cards", entries)
    for i, s in ipairs(got) do
      used[s.entry.id] = true
      if i == 1 then
        lead = card(s.entry, "(min-width: 60rem) 34rem, calc(100vw - 2rem)")
      else
        rest[#rest + 1] = card(s.entry, "(min-width: 60rem) 16rem, (min-width: 36rem) 45vw, calc(100vw - 2rem)")
      end
    end
    return lead, rest, used
  end

  -- The newest n published entries of query not in used (marking them used).
  local function latest(query, n, used)
    local q = { status = "published", limit = n + 12 }
    for k, v in pairs(query) do q[k] = v end
    local out = {}
    for _, e in ipairs(quire.content.query(q)) do
      if #out >= n then break end
      if not used[e.id] then
        used[e.id] = true
        out[#out + 1] = e
      end
    end
    return out
  end

  -- Sections shown as blocks on the home page: the setting, else every section with stories.
  local function home_sections()
    local names = {}
    for i, name in ipairs(settings.front_sections) do names[i] = name end
    if #names == 0 then
      for _, t in ipairs(quire.content.terms("section")) do names[#names + 1] = t.name end
    end
    return names
  end

  local api = {}

  -- The home page's view.
  function api.home()
    local types = listed_types()
    local news = {}
    for _, t in ipairs(types) do if t ~= settings.front_opinion_type then news[#news + 1] = t end end
    local lead, top, used = top_of("home", { type = #news > 0 and news or types })
    local blocks = {}
    for _, name in ipairs(home_sections()) do
      local items = latest({ type = news, section = name }, settings.front_section_items, used)
      if #items > 0 then
        local cards = {}
        items = quire.filters.apply("view.cards", items)
        for i, e in ipairs(items) do cards[i] = card(e, "(min-width: 60rem) 16rem, (min-width: 36rem) 45vw, calc(100vw - 2rem)") end
        local first = table.remove(cards, 1)
        blocks[#blocks + 1] = { name = name, url = "/section/" .. section_slug(name), id = "front-" .. section_slug(name),
          first = first, more = #cards > 0 and { items = cards } or false }
      end
    end
    local opinion = false
    if settings.front_opinion_type and quire.content.types then
      local has = false
      for _, t in ipairs(types) do if t == settings.front_opinion_type then has = true end end
      if has then
        local items = latest({ type = settings.front_opinion_type }, settings.front_opinion_items, used)
        local cards = {}
        items = quire.filters.apply("view.cards", items)
        for i, e in ipairs(items) do cards[i] = card(e, "6rem") end
        opinion = #cards > 0 and { items = cards } or false
      end
    end
    return { lead = lead, top = #top > 0 and { items = top } or false, sections = #blocks > 0 and blocks or false, opinion = opinion }
  end

  -- A section's front: its slots, then its latest; older (a cursor) continues the list.
  function api.section(name, slug)
    local query = { type = listed_types(), section = name }
    local lead, top, used = top_of("section:" .. slug, query)
    local items = latest(query, settings.per_page, used)
    local cards = {}
    items = quire.filters.apply("view.cards", items)
    for i, e in ipairs(items) do cards[i] = card(e, "(min-width: 36rem) 12rem, calc(100vw - 2rem)") end
    return { lead = lead, top = #top > 0 and { items = top } or false, latest = #cards > 0 and { items = cards } or false }, items[#items]
  end

  -- The sidebar's most read: the section's (a section's name, or nil), else the site's; the
  -- latest headlines while nothing has been read. n: how many.
  local function most_read(section, n)
    local _ = quire.i18n.gettext
    local read, title = {}, _("Most read")
    if section then
      read = quire.front.most_read("section:" .. section_slug(section), n)
      if #read > 0 then title = _("Most read in %s"):format(section) end
    end
    if #read == 0 then read = quire.front.most_read("all", n) end
    local items = {}
    for i, r in ipairs(read) do items[i] = { rank = i, title = r.entry.title, url = quire.content.url(r.entry) or "/" } end
    if #items == 0 then
      title = _("Latest")
      for i, e in ipairs(quire.content.query { status = "published", type = listed_types(), limit = n }) do
        quire.content.teaser(e)
        items[i] = { rank = i, title = e.title, url = quire.content.url(e) or "/" }
      end
    end
    return #items > 0 and { title = title, items = items } or false
  end

  -- Every page: the breaking-news banner, and the sidebar's most read (the section's on a section
  -- page or a story in it, else the site's; the latest headlines while nothing has been read),
  -- so the sidebar is never empty.
  site:filter("view.page", function(view)
    local b = quire.front.banner()
    if view.error then -- an error page depends on no story
      view.breaking, view.most_read = b and { text = b.text, link = b.link or false } or false, false
      return view
    end
    view.breaking = b and { text = b.text, link = b.link or false } or false
    local n = settings.most_read
    if n <= 0 then
      view.most_read = false
      return view
    end
    -- Headlines and links only: the page goes stale with what they show of each story
    -- (quire.content.teasers), not with the stories' text. The same for every page of a section
    -- (or every other page): kept until the next write that changes it (site:memo).
    view.most_read = quire.content.teasers(site.memo, site, "most-read\0" .. (view.current_section or ""),
      most_read, view.current_section, n)
    return view
  end)

  -- The rankings, every five minutes (the job runs once however many workers serve).
  if settings.most_read > 0 then site:every("5m", function() quire.front.rank() end) end

  -- Story pages report a view with a one-pixel image (no script needed); each reader counts once
  -- per story in half an hour. The answer is never cached.
  local PIXEL = "GIF89a\1\0\1\0\128\0\0\0\0\0\255\255\255\33\249\4\1\0\0\0\0\44\0\0\0\0\1\0\1\0\0\2\2\68\1\0\59"
  site:filter("view.entry", function(view, entry)
    if entry.status == "published" and settings.most_read > 0 then view.view_pixel = "/views.gif?id=" .. entry.id end
    return view
  end)
  -- One address for every story (the id in the query), so a static copy of the site has one file.
  site:route("GET", "/views.gif", function(req, res)
    res.private = true -- the server sends it as private, no-store
    res:header("content-type", "image/gif")
    local digits = type(req.query.id) == "string" and #req.query.id <= 18 and req.query.id:match("^%d+$")
    local id = digits and math.tointeger(tonumber(digits))
    local e = id and quire.content.get(id)
    -- Only this site's pages count (another site embedding the pixel sends its own Referer).
    local ref = req.headers.referer
    local host = req.headers.host
    local own = not ref or (host and ref:match("^https?://([^/]+)") == host)
    if e and e.status == "published" and own then
      quire.front.view(e.id, quire.tokens.sign("reader", req.remote or "unknown"):match("%.([%w%-_]+)$"):sub(1, 22))
    end
    res:write(PIXEL)
  end)

  return api
end
