-- Index pages with pagination: the home page (/, /page/N), sections (/section/SLUG), tags
-- (/tag/SLUG) and authors (/author/LOGIN), newest first.
return quire.plugin {
  name = "listings", version = "1.0", requires = { "theme" },
  settings = {
    per_page = 10,
    home_title = "Latest",
    skip_types = { "page" },
  },
  setup = function(site)
    local settings = site.settings
    local per = settings.per_page
    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end

    -- One page of published entries matching filters (section, tag or author), newest first,
    -- across every listed type: each type is queried up to this page and the lists merged.
    -- Returns the entries and the total, or nil when the page is past the end.
    local function page_of(filters, page)
      local limit = page * per
      if page < 1 or limit > 10000 then return nil end
      local all, total = {}, 0
      for _, t in ipairs(quire.content.types()) do
        if not skip[t] then
          local q = { type = t, status = "published" }
          for k, v in pairs(filters) do q[k] = v end
          total = total + quire.content.count(q)
          q.limit = limit
          for _, e in ipairs(quire.content.query(q)) do all[#all + 1] = e end
        end
      end
      table.sort(all, function(a, b)
        if a.published_at ~= b.published_at then return a.published_at > b.published_at end
        return a.id > b.id
      end)
      local out = {}
      for i = (page - 1) * per + 1, math.min(limit, #all) do out[#out + 1] = all[i] end
      if #out == 0 and page > 1 then return nil end
      return out, total
    end

    -- Renders a list page. base: the first page's path; info: heading, intro, feed scope ...
    local function render(res, base, page, entries, total, info)
      local items = {}
      for i, e in ipairs(entries) do items[i] = quire.filters.apply("view.card", {}, e) end
      local pages = math.max(1, (total + per - 1) // per)
      local function url(n) return n == 1 and base or ((base == "/" and "" or base) .. "/page/" .. n) end
      local view = {
        site = quire.site, heading = info.heading, intro = info.intro or false, kind = info.kind or false,
        page_title = info.heading .. (page > 1 and (" – page " .. page) or ""),
        canonical = url(page), feed_scope = info.feed_scope, current_section = info.section,
        section_page = info.section ~= nil,
        items = quire.filters.apply("view.list", items), empty = #items == 0,
        pagination = pages > 1 and {
          page = page, pages = pages, prev = page > 1 and url(page - 1) or false, next = page < pages and url(page + 1) or false,
          prev_label = "Newer", next_label = "Older", -- lists run newest first
        } or false,
      }
      view = quire.filters.apply("view.page", view)
      res:render("list", view)
    end

    local function home(req, res)
      local page = math.tointeger(tonumber(req.params.n or "1"))
      local entries, total = page_of({}, page)
      if not entries then return res:error(404) end
      render(res, "/", page, entries, total, { heading = settings.home_title, kind = "home" })
    end
    site:route("GET", "/", home)
    site:route("GET", "/page/{n:int}", home)

    -- The display name of a section or tag from its slug (as some entry spells it), or nil.
    local function term_name(kind, slug)
      local e = quire.content.query { [kind] = slug, status = "published", limit = 1 }[1]
      if not e then return nil end
      if kind == "section" then return e.section end
      for _, t in ipairs(e.tags) do if quire.slugify(t) == slug then return t end end
    end

    local function term_page(kind)
      return function(req, res)
        local slug, page = req.params.slug, math.tointeger(tonumber(req.params.n or "1"))
        local name = term_name(kind, slug)
        if not name then return res:error(404) end
        local entries, total = page_of({ [kind] = slug }, page)
        if not entries then return res:error(404) end
        local path = "/" .. kind .. "/" .. slug
        render(res, path, page, entries, total, {
          heading = kind == "tag" and ("Tagged: " .. name) or name, kind = kind,
          section = kind == "section" and name or nil,
          feed_scope = { path = path, title = ("%s: %s"):format(quire.site.name, name) },
        })
      end
    end
    for _, kind in ipairs({ "section", "tag" }) do
      site:route("GET", "/" .. kind .. "/{slug:slug}", term_page(kind))
      site:route("GET", "/" .. kind .. "/{slug:slug}/page/{n:int}", term_page(kind))
    end

    local function author_page(req, res)
      local login, page = req.params.login, math.tointeger(tonumber(req.params.n or "1"))
      local u = login:match("^[a-z0-9][a-z0-9._-]*$") and quire.users.get(login)
      if not u then return res:error(404) end
      local entries, total = page_of({ author = u.id }, page)
      if not entries or total == 0 then return res:error(404) end
      -- Only the public profile: name and bio, never the account's email.
      render(res, "/author/" .. u.login, page, entries, total, { heading = u.display_name, intro = u.bio, kind = "author" })
    end
    site:route("GET", "/author/{login}", author_page)
    site:route("GET", "/author/{login}/page/{n:int}", author_page)
  end,
}
