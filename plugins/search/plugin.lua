-- Site search: /search?q=words over the FTS5 index, best matches first (bm25, titles weigh more),
-- with highlighted snippets and pagination. Puts a search form in every page's header.
return quire.plugin {
  name = "search", version = "1.0", requires = { "theme" },
  settings = {
    per_page = 10,
    max_results = 500, -- deepest result reachable through pagination
    skip_types = { "page" },
  },
  setup = function(site)
    local settings = site.settings
    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end

    site:filter("view.page", function(view)
      view.search_form = { action = "/search", query = view.search_query or "" }
      return view
    end)

    local ENTITIES = { ["&amp;"] = "&", ["&lt;"] = "<", ["&gt;"] = ">", ["&quot;"] = '"', ["&#39;"] = "'" }
    -- The text of a snippet (or a title) to compare: no marks, entities, ellipses, case or spacing.
    local function squash(s)
      return (s:gsub("</?mark>", ""):gsub("&#?%w+;", ENTITIES):gsub("…", ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""):lower())
    end

    local function page_url(q, n)
      local enc = q:gsub("[^%w%-%._~ ]", function(c) return ("%%%02X"):format(c:byte()) end):gsub(" ", "+")
      return "/search?q=" .. enc .. (n > 1 and ("&page=" .. n) or "")
    end

    site:route("GET", "/search", function(req, res)
      local q = (req.query.q or ""):gsub("^%s+", ""):gsub("%s+$", "")
      if #q > 200 then q = q:sub(1, 200):gsub("[\128-\191]*$", ""):gsub("[\192-\255]$", "") end
      local page = math.tointeger(tonumber(req.query.page or "1")) or 0
      local per = settings.per_page
      local view = { site = quire.site, search_query = q, page_title = "Search", results = false, empty = false, pagination = false,
        count_label = false }
      if page < 1 or (page - 1) * per >= settings.max_results then res.status = 404; page = 1 end
      if q ~= "" and res.status == 200 then
        local found = {}
        for _, r in ipairs(quire.content.search(q, { status = "published", limit = settings.max_results + 1 })) do
          if not skip[r.type] then found[#found + 1] = r end
        end
        local items = {}
        for i = (page - 1) * per + 1, math.min(page * per, #found) do
          local r = found[i]
          local e = quire.content.get(r.id)
          if e then
            -- The snippet is HTML made by quire.content.search: the text escaped, matches in <mark>.
            local card = quire.filters.apply("view.card", { snippet = r.snippet }, e)
            -- One summary per card: the snippet stands in for the standfirst, unless it only
            -- repeats the title (a title match) and there is a standfirst to say more.
            if card.standfirst and squash(r.snippet or "") == squash(e.title) then card.snippet = false else card.standfirst = false end
            items[#items + 1] = card
          end
        end
        if #items == 0 and page > 1 then res.status = 404 end
        local total = math.min(#found, settings.max_results)
        view.count_label = (#found > settings.max_results and "More than " .. settings.max_results or tostring(total))
          .. (total == 1 and " result" or " results")
        view.results = #items > 0 and { items = quire.filters.apply("view.list", items) } or false
        view.empty = #items == 0
        local pages = math.max(1, (total + per - 1) // per)
        if pages > 1 then
          -- Results run best first, so not "Newer"/"Older" as in lists.
          view.pagination = { page = page, pages = pages, prev_label = "Previous page", next_label = "Next page",
            prev = page > 1 and page_url(q, page - 1) or false, next = page < pages and page_url(q, page + 1) or false }
        end
        view.page_title = ("Search results for “%s”"):format(q)
      end
      view = quire.filters.apply("view.page", view)
      view.head.robots = "noindex"
      res:render("search", view)
    end)
  end,
}
