-- The base theme: the layout every page inherits (templates/layout.mustache), the stylesheet,
-- and the views the other plugins share, built through filters so a site can change them:
--   view.page  (view)        the chrome of every page: site name, language, section navigation
--   view.card  (card, entry) an entry in a list: title, link, date, section, author, standfirst
--   view.entry (view, entry) an entry page: rendered body, date, byline, section, tags, hero image
--   view.body  (body, entry) an entry's body as pages and feeds show it: { html, date, dateline }
--   site.lang  (lang)        the site's language, for feeds and the sitemap: this theme's `lang`
-- and answers page.error: error pages (404, 405, 500) for browsers in the site's layout.
return quire.plugin {
  name = "theme", version = "1.0",
  settings = {
    sections = {},   -- section names in the navigation, in order (e.g. { "World", "Business" })
    lang = "",       -- the pages' language (<html lang>); "": the site's (site.lua language)
    tagline = "",    -- shown under the site name
  },
  setup = function(site)
    local settings = site.settings
    local _ = quire.i18n.gettext
    local lang = settings.lang ~= "" and settings.lang or quire.i18n.language():gsub("_", "-")
    local dir = quire.i18n.dir(lang)

    -- "2023-06-16T23:30:00Z" -> { iso = "2023-06-17T01:30:00+02:00", human = "June 17, 2023" }: in
    -- the site's time zone and language (site.lua timezone, language).
    -- Remembered per stamp (a list page shows the same few days again and again); at most
    -- DATES_MAX, then started afresh. The words are remembered per local day too, when the
    -- language's date pattern names nothing finer than the day (the pattern of a stamp not seen
    -- yet is then not formatted again: an archive larger than DATES_MAX has a few days a stamp).
    local DATES_MAX, dates, ndates = 4096, {}, 0
    local DAYS_MAX, days, ndays, by_day = 4096, {}, 0, nil
    local DAY_PARTS = { Y = true, m = true, d = true, B = true, b = true, A = true, a = true, ["%"] = true }
    local function human_of(stamp, iso)
      if by_day == nil then -- (asked at the first date: the catalogues are loaded by then)
        by_day = true
        for c in quire.i18n.pgettext("date format", "%B %-d, %Y"):gmatch("%%%-?(.)") do -- (format_local's directives)
          if not DAY_PARTS[c] then by_day = false end
        end
      end
      if not by_day then return quire.time.format_local(stamp, "date") end
      local day = iso:sub(1, 10) -- the local date: "2023-06-17"
      local human = days[day]
      if not human then
        human = quire.time.format_local(stamp, "date")
        if ndays >= DAYS_MAX then days, ndays = {}, 0 end
        days[day], ndays = human, ndays + 1
      end
      return human
    end
    local function date_view(stamp)
      if type(stamp) ~= "string" then return nil end
      local d = dates[stamp]
      if not d then
        local t = quire.time.epoch(stamp)
        if not t then return nil end
        if ndates >= DATES_MAX then dates, ndates = {}, 0 end
        local iso = quire.time.to_local(t) -- (of the epoch: the text is read once)
        d = { iso = iso, human = human_of(stamp, iso) }
        dates[stamp], ndates = d, ndates + 1
      end
      return { iso = d.iso, human = d.human } -- a copy: views may be changed by later filters
    end

    -- A section's or tag's slug by its name, remembered (every card shows its section, and the
    -- same few names come again and again); at most SLUGS_MAX, then started afresh.
    local SLUGS_MAX, slugs, nslugs = 1024, {}, 0
    local function slug_of(name)
      local slug = slugs[name]
      if not slug then
        slug = quire.slugify(name)
        if nslugs >= SLUGS_MAX then slugs, nslugs = {}, 0 end
        slugs[name], nslugs = slug, nslugs + 1
      end
      return slug
    end

    local function section_view(name)
      if not name then return nil end
      return { name = name, url = "/section/" .. slug_of(name) }
    end

    -- Public facts about an author only: name, bio, page. Never the account's email.
    local function author_view(id)
      return id and quire.users.author(id)
    end

    local function tag_views(tags)
      local out = {}
      for i, name in ipairs(tags or {}) do out[i] = { name = name, url = "/tag/" .. slug_of(name) } end
      return out
    end

    site:filter("site.lang", function() return lang end)

    -- The hero image an entry page shows above its body (templates/entry_hero.mustache): a
    -- content type takes these fields with field_sets = { "hero" }.
    site:field_set("hero", {
      -- Two ways to give it, so the form says which one shows: an upload wins over an address.
      hero_media = { "media", alt_field = "hero_alt", label = "Hero image",
        hint = "an image from the library (upload or choose); shown above the story" },
      hero_image = { "text", max = 2000, label = "Hero image address",
        hint = "only for an image kept elsewhere: an http(s) or site address; a library image above wins",
        validate = function(v)
          return quire.url.safe(v, { "http", "https" }) ~= nil, "must be an http(s) or relative URL"
        end },
      hero_alt = { "text", max = 300, label = "Hero image description (alt)",
        hint = "what the image shows, for readers who cannot see it; default: the library's description" },
      hero_caption = { "text", max = 500, label = "Hero caption" },
      hero_credit = { "text", max = 200, label = "Hero credit" },
    })

    -- What search engines and social networks show of an entry (the feeds plugin's page head),
    -- each falling back to the headline, standfirst and hero image: field_sets = { "seo" }.
    site:field_set("seo", {
      seo_title = { "text", max = 200, label = "SEO title", hint = "the page's title in search results; default: the headline" },
      seo_description = { "text", max = 320, label = "Meta description", hint = "for search results; default: the standfirst" },
      seo_noindex = { "bool", label = "Hide from search engines", hint = "asks search engines not to index the page (noindex)" },
      social_title = { "text", max = 200, label = "Social title", hint = "when shared (OpenGraph, X/Twitter); default: the SEO title or headline" },
      social_description = { "text", max = 320, label = "Social description", hint = "when shared; default: the meta description or standfirst" },
      social_image = { "text", max = 2000, label = "Social image", hint = "an http(s) or site address; default: the hero image",
        validate = function(v) return quire.url.safe(v, { "http", "https" }) ~= nil, "must be an http(s) or relative URL" end },
    })

    -- The navigation's links depend only on the settings: made once.
    local sections = {}
    for i, name in ipairs(settings.sections) do sections[i] = section_view(name) end

    -- Every page's year, worked out once a second.
    local year, year_at
    -- The stylesheet's and icon's fingerprinted names (the server sends them as immutable:
    -- quire.assets), asked once; in dev mode at every page, as quire.assets looks at the files.
    local css, icon
    site:filter("view.page", function(view)
      view.site = view.site or quire.site
      if not css or quire.site.config.dev then
        css, icon = quire.assets.url("theme", "quire.css"), quire.assets.url("theme", "favicon.svg")
      end
      view.assets = { css = css, icon = icon }
      view.lang = lang
      view.dir = dir
      view.tagline = settings.tagline ~= "" and settings.tagline or nil
      local now = os.time()
      if now ~= year_at then year, year_at = quire.time.local_parts(now).year, now end
      view.year = year
      local nav = {}
      for i, s in ipairs(sections) do
        local name = s.name
        nav[i] = { name = name, url = s.url, current = false }
        -- The section's own page is the current page; an entry in it is in the current section.
        if view.current_section == name then nav[i].current = view.section_page and "page" or "true" end
      end
      view.nav = #nav > 0 and { items = nav } or nil
      view.head = view.head or { meta = {}, meta_html = "", links = {}, description = false, robots = false, jsonld = false, title = false }
      return view
    end)

    local ERRORS = {
      [404] = { title = "Page not found", text = "The page you asked for is not here. It may have moved, or the address may be mistyped. Try the sections above, the search box or the front page." },
      [405] = { title = "Not allowed", text = "This address does not take that kind of request." },
      [500] = { title = "Something went wrong", text = "We could not show this page. Please try again in a moment." },
    }
    -- The page for an error status; the request id lets a reader's report be found in the log.
    site:filter("page.error", function(info)
      if info.html then return info end
      local e = ERRORS[info.status] or { title = info.reason, text = false }
      e = { title = _(e.title), text = e.text and _(e.text) }
      -- A 404's address, in words, is a good first search: "/2026/03/harbour-vote" -> "harbour vote".
      local words = info.status == 404 and (info.path or ""):match("^.*/([^/]+)/*$") -- anchored: linear in the path
      words = words and words:gsub("%.%w+$", ""):gsub("[-_+]+", " ")
      local view = quire.filters.apply("view.page", {
        error = { status = info.status, title = e.title, text = e.text, request_id = info.status >= 500 and info.request_id or false },
        head = { meta = {}, meta_html = "", links = {}, description = false, robots = "noindex", jsonld = false },
        search_query = words and #words <= 100 and utf8.len(words) and words:match("%a") and words or nil,
      })
      info.html = quire.template.render("error", view)
      return info
    end)

    site:filter("view.card", function(card, entry)
      -- Absent parts are false, not nil: Mustache would otherwise look them up in the enclosing
      -- view (a card's missing section would show the page's section).
      -- The page shows what a card shows of the entry (not its body): it goes stale with that.
      quire.content.teaser(entry)
      card.id = entry.id
      card.type = entry.type
      card.title = entry.title
      card.url = quire.content.url(entry) or false
      card.date = date_view(entry.published_at) or false
      card.section = section_view(entry.section) or false
      card.author = author_view(entry.author_id) or false
      card.standfirst = entry.fields and entry.fields.standfirst or false
      -- Lists are below the fold: their pictures load lazily (the template says so).
      local pic = entry.fields and entry.fields.hero_media and quire.media.picture(entry.fields.hero_media, "(max-width: 46rem) 100vw, 12rem")
      if pic and pic.srcset and type(entry.fields.hero_alt) == "string" and entry.fields.hero_alt ~= "" then pic.alt = entry.fields.hero_alt end
      card.image = pic and pic.srcset and pic or false
      if card.snippet == nil then card.snippet = false end
      if card.comment_count == nil then card.comment_count = false end
      if card.type_label == nil then card.type_label = false end
      if card.sponsored == nil then card.sponsored = false end
      return card
    end)

    -- The theme's handler comes first (plugins that add to the body require the theme).
    site:filter("view.body", function(body, entry)
      -- Editors' Markdown may carry HTML; the sanitizer's default policy keeps it to article markup.
      -- (quire.media.body_html: also ```gallery blocks from the media library, images lazy.)
      body.html = quire.media.body_html(entry.body or "")
      body.date = date_view(entry.published_at) or false
      body.dateline = false
      return body
    end)

    -- The parts of an entry's page that depend only on the entry (and its author), with its body as
    -- pages show it (the view.body filters: Markdown, sanitizer, dateline): kept with site:memo
    -- until the next write.
    local function entry_parts(entry)
      local f = entry.fields or {}
      local parts = {
        body = quire.filters.apply("view.body", {}, entry),
        url = quire.content.url(entry), standfirst = f.standfirst, date = date_view(entry.published_at),
        author = author_view(entry.author_id), section = section_view(entry.section),
        tags = #entry.tags > 0 and { items = tag_views(entry.tags) } or nil,
      }
      local corrections = {}
      for i, c in ipairs(quire.corrections.list(entry.id)) do corrections[i] = { note = c.note, date = date_view(c.date) } end
      parts.corrections = #corrections > 0 and { items = corrections } or nil
      -- "Updated" only for an edit after the first save, on a later day than publication.
      local updated = entry.updated_at ~= entry.created_at and date_view(entry.updated_at)
      if updated and parts.date and entry.updated_at > entry.published_at and updated.human ~= parts.date.human then
        parts.updated = updated
      end
      local pic = f.hero_media and quire.media.picture(f.hero_media, "(max-width: 46rem) calc(100vw - 2rem), 44rem")
      local function given(v) return type(v) == "string" and v ~= "" and v or nil end
      if pic then
        pic.alt = given(f.hero_alt) or pic.alt
        local caption, credit = given(f.hero_caption) or pic.caption or false, given(f.hero_credit) or pic.credit or false
        parts.hero = { picture = pic.srcset and pic, src = pic.srcset and pic.src or quire.url.safe(pic.src, { "http", "https" }), alt = pic.alt, caption = caption, credit = credit,
          figcaption = (caption or credit) and true }
      end
      local src = not pic and type(f.hero_image) == "string" and quire.url.safe(f.hero_image, { "http", "https" })
      if src then
        -- A credit is shown even without a caption: photographers are credited whatever the desk writes.
        local caption = type(f.hero_caption) == "string" and f.hero_caption ~= "" and f.hero_caption or false
        local credit = type(f.hero_credit) == "string" and f.hero_credit ~= "" and f.hero_credit or false
        parts.hero = { src = src, alt = f.hero_alt or "", caption = caption, credit = credit, figcaption = (caption or credit) and true }
      end
      return parts
    end

    site:filter("view.entry", function(view, entry)
      local parts = site:memo("entry\0" .. entry.id, entry_parts, entry)
      view.url = parts.url
      view.standfirst = parts.standfirst
      local body = parts.body
      view.body_html = body.html
      view.dateline = body.dateline or nil
      view.date = parts.date
      view.updated = parts.updated
      view.author = parts.author
      view.section = parts.section
      view.current_section = entry.section
      view.tags = parts.tags
      view.hero = parts.hero
      view.corrections = parts.corrections
      return quire.filters.apply("view.page", view)
    end)
  end,
}
