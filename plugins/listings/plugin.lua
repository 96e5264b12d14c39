-- Index pages with pagination: the home page (/, /page/N), sections (/section/SLUG), tags
-- (/tag/SLUG) and authors (/author/LOGIN), newest first. With `front` (the default) the home
-- page and each section's first page are edited fronts (front.lua); /latest lists everything,
-- and the home page's older pages are /latest's (its own older/ addresses send there).
return quire.plugin {
  name = "listings", version = "1.0", requires = { "theme" },
  settings = {
    per_page = 10,
    home_title = "Latest",
    skip_types = { "page" },
    front = true,                   -- the home page and section pages as edited fronts
    front_top = 4,                  -- top stories under the lead
    front_sections = {},            -- section blocks on the home page, in order (default: every section)
    front_section_items = 4,        -- stories per section block
    front_opinion_type = "opinion", -- the content type of the opinion column (false: none)
    front_opinion_items = 4,
    most_read = 5,                  -- the sidebar's most read (0: none)
  },
  setup = function(site)
    local settings = site.settings
    local per = settings.per_page
    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end

    -- Pages are keyset pages: the first page, then pages "older than" an entry's place in the
    -- list, named by its date and id in the address (/tag/x/older/20260105080000-42). Such a link
    -- shows the same entries however many are published after it, and every page is one walk of
    -- an index, whatever the archive's size: no page numbers, no totals. Each page has one
    -- address: a page's "Newer" link names the older/ address of the page above it (or the
    -- first page), and the old "newer than" addresses (BASE/newer/CURSOR) send there.
    local function listed_types()
      local out = {}
      for _, t in ipairs(quire.content.types()) do if not skip[t] then out[#out + 1] = t end end
      return out
    end

    local front = site:require("front")(site, listed_types)

    local function cursor_of(e)
      return e.published_at:gsub("[^%d]", "") .. "-" .. e.id
    end
    -- "20260105080000-42" -> { published_at = "2026-01-05T08:00:00Z", id = 42 }, or nil.
    local function parse_cursor(c)
      if #c > 40 then return nil end
      local y, mo, d, h, mi, sec, id = c:match("^(%d%d%d%d)(%d%d)(%d%d)(%d%d)(%d%d)(%d%d)%-(%d+)$")
      id = id and #id <= 18 and math.tointeger(tonumber(id))
      if not id then return nil end
      return { published_at = ("%s-%s-%sT%s:%s:%sZ"):format(y, mo, d, h, mi, sec), id = id }
    end

    local function prefix_of(base) return base == "/" and "/" or (base .. "/") end
    local function query_of(filters, types, order, cursor)
      local q = { type = types, status = "published", limit = per + 1, order = order, after = cursor }
      for k, v in pairs(filters) do q[k] = v end
      return q
    end

    -- The address of the page of the per entries just newer than cursor (an entry's place in
    -- the list): the first page (base) when there are no more than per, else the older/ page
    -- after the entry above them; nil when none is newer. One keyset walk up the list for their
    -- places only (quire.content.cursors): it tags the page with the list's tags, which every
    -- publish, unpublish and move in the list bumps (what is newer changes), and no entry.
    local function page_above(filters, base, cursor)
      local types = listed_types()
      if #types == 0 then return nil end
      local got = quire.content.cursors(query_of(filters, types, "oldest", cursor))
      if #got == 0 then return nil end
      if #got <= per then return base end
      return prefix_of(base) .. "older/" .. cursor_of(got[per + 1])
    end

    -- One page of published entries matching filters (section, tag or author), newest first:
    -- the first page (cursor nil) or the one older than cursor. Returns the entries, the address
    -- of the page above it (false: none) and the cursor of the page after it (false: none), or
    -- nil when there is no such page.
    local function page_of(filters, base, cursor)
      local types = listed_types()
      if #types == 0 then return {}, false, false end
      -- As cards (quire.content.teasers): the row fetched to learn whether an older page exists
      -- is not shown, so it does not tag the page.
      local got = quire.content.teasers(quire.content.query, query_of(filters, types, "newest", cursor))
      local more = #got > per
      if more then got[#got] = nil end
      if #got == 0 then return nil end
      local above = cursor and page_above(filters, base, got[1]) or false
      return got, above, more and cursor_of(got[#got])
    end

    -- The cursor of the page after a list's first page (false: none), for a front that shows
    -- none of the list's entries: their places only (quire.content.cursors), tagging the page as
    -- page_of would (the list's tags).
    local function first_page_end(filters)
      local types = listed_types()
      if #types == 0 then return false end
      local got = quire.content.cursors(query_of(filters, types, "newest", nil))
      local last = per >= 1 and #got > per and got[per] -- (per_page 0: no page of its own, no link)
      return last and cursor_of(last) or false
    end

    -- Renders a list page. base: the first page's path; cursor: the older page's (nil: the first
    -- page); newer: the address of the page above; older: the cursor of the page after it;
    -- info: heading, intro, feed scope ...
    local function render(res, base, cursor, entries, newer, older, info)
      local items = {}
      entries = quire.filters.apply("view.cards", entries)
      for i, e in ipairs(entries) do items[i] = quire.filters.apply("view.card", {}, e) end
      local function older_url(c) return prefix_of(info.moved or base) .. "older/" .. c end
      local view = {
        site = quire.site, heading = info.heading, intro = info.intro or false, kind = info.kind or false,
        page_title = info.heading .. (cursor and entries[1] and (" – from " .. entries[1].published_at:sub(1, 10)) or ""),
        canonical = cursor and older_url(cursor) or base, feed_scope = info.feed_scope, current_section = info.section,
        section_page = info.section ~= nil,
        items = quire.filters.apply("view.list", items), empty = #items == 0,
        pagination = (newer or older) and {
          page = false, pages = false, prev = newer or false, next = older and older_url(older) or false,
          prev_label = quire.i18n.gettext("Newer"), next_label = quire.i18n.gettext("Older"), -- lists run newest first
        } or false,
      }
      if info.front then
        view.front = info.front
        if info.kind == "home" then view.page_title = quire.site.name end
        view.pagination = view.pagination and { page = false, pages = false, prev = false, next = view.pagination.next,
          prev_label = false, next_label = quire.i18n.gettext("Older stories") }
      end
      view = quire.filters.apply("view.page", view)
      res:render(info.front and "front" or "list", view)
    end

    -- Serves one list: the first page, an older page, or an old newer/ or /page/N address (sent
    -- to the keyset page that now shows those entries; /page/N a few dozen pages deep at most).
    -- info.moved: the list whose pages continue this one's first page (the home front's: /latest);
    -- this list's other addresses move there for good (one address for each page).
    local function serve(req, res, dir, base, filters, info)
      local cursor
      if req.params.n then
        local n = math.tointeger(tonumber(req.params.n))
        if not n or n < 1 or n > 50 then return res:error(404) end
        if n == 1 then return res:redirect(base, 301) end
        if info.moved then return res:redirect(info.moved .. "/page/" .. n, 301) end
        local q = { type = listed_types(), status = "published", limit = (n - 1) * per }
        for k, v in pairs(filters) do q[k] = v end
        local list = quire.content.teasers(quire.content.query, q)
        if #list < (n - 1) * per then return res:error(404) end
        return res:redirect(prefix_of(base) .. "older/" .. cursor_of(list[#list]), 302)
      end
      if dir then
        cursor = parse_cursor(req.params.cursor)
        if not cursor then return res:error(404) end
        if info.moved then return res:redirect(("%s/%s/%s"):format(info.moved, dir, req.params.cursor), 301) end
      end
      -- An old "newer than" address (links from before each page had one address): sent to the
      -- page that shows those entries now; the first page when nothing is newer.
      if dir == "newer" then return res:redirect(page_above(filters, base, cursor) or base, 302) end
      if not dir and info.front then
        -- A front: its blocks instead of the list's first page; "Older stories" goes on to the
        -- list's second page (the same address the plain list links to: /latest's for the home page).
        info.front = quire.content.teasers(info.front)
        return render(res, base, nil, {}, false, first_page_end(filters), info)
      end
      info.front = nil
      local entries, newer, older = page_of(filters, base, cursor)
      if not entries then
        if dir or info.kind == "author" then return res:error(404) end
        entries, newer, older = {}, false, false
      end
      render(res, base, dir and req.params.cursor, entries, newer, older, info)
    end

    -- Routes a list at base (pattern: base's route pattern): its first page, its older pages,
    -- and the old newer and numbered pages (redirects). handler(req, res, dir) serves one.
    local function routes(pattern, handler)
      local prefix = prefix_of(pattern)
      site:route("GET", pattern, function(req, res) return handler(req, res, nil) end)
      site:route("GET", prefix .. "page/{n:int}", function(req, res) return handler(req, res, nil) end)
      site:route("GET", prefix .. "older/{cursor}", function(req, res) return handler(req, res, "older") end)
      site:route("GET", prefix .. "newer/{cursor}", function(req, res) return handler(req, res, "newer") end)
    end

    -- With the front, the home page's older pages are /latest's: the same list, one address each.
    routes("/", function(req, res, dir)
      serve(req, res, dir, "/", {}, { heading = quire.i18n.gettext(settings.home_title), kind = "home",
        front = settings.front and front.home or nil, moved = settings.front and "/latest" or nil })
    end)
    if settings.front then
      -- Everything, newest first: the list the front page replaced (its next pages are
      -- /latest/older/..., which the front page's "Older stories" link to).
      routes("/latest", function(req, res, dir)
        serve(req, res, dir, "/latest", {}, { heading = settings.home_title, kind = "latest" })
      end)
    end

    for _, kind in ipairs({ "section", "tag" }) do
      routes("/" .. kind .. "/{slug:slug}", function(req, res, dir)
        local slug = req.params.slug
        -- Only the list's own address: "/tag/arts-" would be the same list again, a page of its own.
        local name = quire.slugify(slug) == slug and quire.content.term(kind, slug)
        if not name then return res:error(404) end
        local path = "/" .. kind .. "/" .. slug
        serve(req, res, dir, path, { [kind] = slug }, {
          heading = kind == "tag" and quire.i18n.gettext("Tagged: %s"):format(name) or name, kind = kind,
          section = kind == "section" and name or nil,
          front = kind == "section" and settings.front and function() return front.section(name, slug) end or nil,
          feed_scope = { path = path, title = ("%s: %s"):format(quire.site.name, name) },
        })
      end)
    end

    routes("/author/{login}", function(req, res, dir)
      local login = req.params.login
      local u = #login <= 64 and login:match("^[a-z0-9][a-z0-9._-]*$") and quire.users.get(login)
      if not u then return res:error(404) end
      -- Only the public profile: name and bio, never the account's email.
      serve(req, res, dir, "/author/" .. u.login, { author = u.id }, { heading = u.display_name, intro = u.bio, kind = "author" })
    end)
  end,
}
