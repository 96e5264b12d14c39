-- Site search: /search?q=words over the FTS5 index, best matches first (lua/quire/search.lua:
-- title > standfirst > body, newer news first among equals, "quoted phrases", English stemmed),
-- with highlighted snippets from the body and pagination; /search/suggest?q=wor for
-- search-as-you-type (JSON, cached). Puts a search form in every page's header.
return quire.plugin {
  name = "search", version = "1.0", requires = { "theme" },
  settings = {
    per_page = 10,
    max_results = 500, -- deepest result reachable through pagination
    skip_types = { "page" },
    -- Ranking (lua/quire/search.lua): a word in the title counts weights.title times its rarity,
    -- in the standfirst weights.standfirst times, and bm25 over the body weights.body times; a
    -- story published now counts (1 + recency.boost) times one published long ago, halving
    -- every recency.half_life_days; depth favours a full story over a brief (0: off).
    weights = { title = 10, standfirst = 4, body = 1 },
    recency = { boost = 0.5, half_life_days = 30 },
    depth = 0.15,
    suggest_limit = 8,   -- suggestions per answer (at most 20)
    suggest_max_age = 60, -- seconds browsers and the page cache may keep a suggestion answer
  },
  setup = function(site)
    local _ = quire.i18n.gettext
    local settings = site.settings
    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end

    site:filter("view.page", function(view)
      view.search_form = { action = "/search", query = view.search_query or "" }
      return view
    end)

    local ranking = { weights = settings.weights, recency = settings.recency, depth = settings.depth }

    local function page_url(q, n)
      local enc = q:gsub("[^%w%-%._~ ]", function(c) return ("%%%02X"):format(c:byte()) end):gsub(" ", "+")
      return "/search?q=" .. enc .. (n > 1 and ("&page=" .. n) or "")
    end

    -- Surrounding white space off, in one pass (a pattern anchored at the end would retry at
    -- every byte of a long run of spaces).
    local function trim(s)
      local first = s:find("%S")
      if not first then return "" end
      local last = #s
      while s:find("^%s", last) do last = last - 1 end
      return s:sub(first, last)
    end

    -- What is wrong with the request, answered 400 with the search page saying it.
    local function refuse(res, view, message)
      res.status = 400
      view.problem = message
      view.page_title = _("Search")
      view = quire.filters.apply("view.page", view)
      view.head.robots = "noindex"
      return res:render("search", view)
    end

    site:route("GET", "/search", function(req, res)
      local raw = req.query.q or ""
      local view = { site = quire.site, search_query = "", page_title = _("Search"), results = false, empty = false, pagination = false,
        count_label = false, problem = false }
      if req.query_invalid.q or req.query_invalid.page then
        return refuse(res, view, req.query_invalid.q and _("The search is not valid UTF-8.") or _("The page is not valid UTF-8."))
      end
      local q = trim(raw)
      view.search_query = utf8.len(q) and q or ""
      local page_text = req.query.page or "1"
      local page = type(page_text) == "string" and #page_text <= 6 and page_text:match("^%d+$") and math.tointeger(tonumber(page_text))
      if not page then return refuse(res, view, _("The page must be a number (page=2).")) end
      local per = settings.per_page
      if page < 1 or (page - 1) * per >= settings.max_results then res.status = 404; page = 1 end
      if q ~= "" and res.status == 200 then
        local types = {}
        for _, t in ipairs(quire.content.types()) do if not skip[t] then types[#types + 1] = t end end
        local ok, found, info = pcall(quire.content.search, q, { status = "published", type = types, limit = per, offset = (page - 1) * per,
          weights = ranking.weights, recency = ranking.recency, depth = ranking.depth })
        if not ok then
          if type(found) == "table" and found.kind == "invalid" then
            return refuse(res, view, _("The search %s."):format((found.errors[1] or {}).message or _("is not valid")))
          end
          error(found, 0)
        end
        local items, entries, snippet_of = {}, {}, {}
        for _, r in ipairs(found) do
          local e = quire.content.get(r.id)
          if e then
            entries[#entries + 1] = e
            snippet_of[e.id] = r.snippet
          end
        end
        for _, e in ipairs(quire.filters.apply("view.cards", entries)) do
          -- The snippet is HTML made by quire.content.search: the text escaped, matches in <mark>.
          local snippet = snippet_of[e.id]
          local card = quire.filters.apply("view.card", { snippet = snippet }, e)
          -- One summary per card: the snippet from the body (where the story says it, even for a
          -- title match); the standfirst only for an entry without a body.
          if snippet and snippet ~= "" then card.standfirst = false else card.snippet = false end
          items[#items + 1] = card
        end
        if #items == 0 and page > 1 then res.status = 404 end
        local total = math.min(info.total, settings.max_results)
        local function n(x) return tostring(x):reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "") end
        view.count_label = info.estimated and _("About %s results"):format(n(info.total))
          or info.total > settings.max_results and _("More than %s results"):format(settings.max_results)
          or quire.i18n.ngettext("%s result", "%s results", total):format(total)
        view.results = #items > 0 and { items = quire.filters.apply("view.list", items) } or false
        view.empty = #items == 0
        local pages = math.max(1, (total + per - 1) // per)
        if pages > 1 then
          -- Results run best first, so not "Newer"/"Older" as in lists.
          view.pagination = { page = page, pages = pages, prev_label = _("Previous page"), next_label = _("Next page"),
            prev = page > 1 and page_url(q, page - 1) or false, next = page < pages and page_url(q, page + 1) or false }
        end
        view.page_title = _("Search results for “%s”"):format(q)
      end
      view = quire.filters.apply("view.page", view)
      view.head.robots = "noindex"
      res:render("search", view)
    end)

    -- Search-as-you-type: /search/suggest?q=tidal+barr -> { "query": ..., "suggestions": [
    -- { "title", "url", "section", "date" } ] }, the last word matched as a prefix, best first.
    -- Short answers for short queries; kept suggest_max_age seconds by browsers and the page cache
    -- (and dropped with the search results when an entry changes).
    local SUGGEST_MAX_CHARS = 100
    site:route("GET", "/search/suggest", function(req, res)
      local q = trim(req.query.q or "")
      if req.query_invalid.q or utf8.len(q) > SUGGEST_MAX_CHARS then
        res.status = 400
        return res:json { error = req.query_invalid.q and _("The search is not valid UTF-8.")
          or ("the query is longer than %d characters"):format(SUGGEST_MAX_CHARS) }
      end
      local types = {}
      for _, t in ipairs(quire.content.types()) do if not skip[t] then types[#types + 1] = t end end
      local out = {}
      if q ~= "" then
        local hits = quire.content.suggest(q, { status = "published", type = types, limit = math.max(1, math.min(20, settings.suggest_limit)),
          weights = ranking.weights, recency = ranking.recency, depth = ranking.depth })
        for i, h in ipairs(hits) do
          local e = quire.content.get(h.id)
          out[i] = { title = h.title, url = e and quire.content.url(e) or nil, section = e and e.section or nil,
            date = h.published_at and quire.time.to_local(h.published_at) or nil }
        end
      end
      res:max_age(settings.suggest_max_age)
      return res:json { query = q, suggestions = quire.json.list(out) }
    end)
  end,
}
