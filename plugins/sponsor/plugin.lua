-- Sponsored slots in named widget areas: "sidebar" (every page), "after_article" (entry pages)
-- and "in_feed" (inside lists of entries, after in_feed_position items). Slots come from the
-- site's settings or from Lua: a plugin's "sponsor.slots" filter gets the list and returns the
-- one to show. Every slot is labelled "Sponsored", its links are rel="sponsored noopener", and
-- nothing loads from a third party.
return quire.plugin {
  name = "sponsor", version = "1.0", requires = { "theme" },
  settings = {
    -- { { area = "sidebar", name = "Tidewater Books", url = "https://...", text = "...", image = "/static/...", alt = "" }, ... }
    slots = {},
    in_feed_position = 3,
    label = "Sponsored",
  },
  setup = function(site)
    local settings = site.settings
    local AREAS = { sidebar = true, after_article = true, in_feed = true }
    for i, s in ipairs(settings.slots) do
      if not AREAS[s.area] then error(("sponsor: slots[%d]: area must be sidebar, after_article or in_feed"):format(i)) end
    end

    -- The settings' URLs are checked once, here; others (from a "sponsor.slots" filter, which may
    -- change them from page to page) when they are shown.
    -- The settings are read-only proxies: their slots are copied to plain tables once, too.
    local WEB = { "http", "https" }
    local checked, base = {}, {}
    local function check(u)
      if type(u) == "string" then checked[u] = quire.url.safe(u, WEB) or false end
    end
    for i, s in ipairs(settings.slots) do
      check(s.url)
      check(s.image)
      base[i] = {}
      for k, v in pairs(s) do base[i][k] = v end
    end
    local label = quire.i18n.gettext(settings.label)
    local function safe_url(u)
      if type(u) ~= "string" then return false end
      local v = checked[u]
      if v == nil then return quire.url.safe(u, WEB) or false end
      return v
    end

    -- The slots to show: the settings' list through the "sponsor.slots" filter, checked.
    local function checked_slots()
      local list = {}
      for i, s in ipairs(base) do
        local copy = {}
        for k, v in pairs(s) do copy[k] = v end
        list[i] = copy
      end
      list = quire.filters.apply("sponsor.slots", list)
      local by_area = {}
      for i, s in ipairs(list) do
        if not AREAS[s.area] then error(("sponsor slot %d: area must be sidebar, after_article or in_feed"):format(i)) end
        local url = safe_url(s.url)
        if type(s.name) == "string" and url then
          local image = safe_url(s.image)
          by_area[s.area] = by_area[s.area] or {}
          table.insert(by_area[s.area], {
            label = label, name = s.name, url = url, text = s.text or false,
            image = image and { src = image, alt = s.alt or "" } or false,
          })
        end
      end
      return by_area
    end
    -- Without a "sponsor.slots" filter the slots are the settings' alone, which do not change
    -- while the site runs: checked once (at the first page: a plugin set up after this one may
    -- add the filter), each page given its own tables of them.
    local fixed -- by area; false when a plugin filters them
    local function slots()
      if fixed == nil then fixed = not quire.filters.has("sponsor.slots") and checked_slots() end
      if not fixed then return checked_slots() end
      local by_area = {}
      for area, list in pairs(fixed) do
        local out = {}
        for i, s in ipairs(list) do
          out[i] = { label = s.label, name = s.name, url = s.url, text = s.text,
            image = s.image and { src = s.image.src, alt = s.image.alt } }
        end
        by_area[area] = out
      end
      return by_area
    end

    -- A list page's slots are built once for its render: its list (view.list) comes before its
    -- page (view.page), which finds them by the list it shows (weak keys: they go with the page).
    local of_list = setmetatable({}, { __mode = "k" })
    local function list_of(view)
      return view.items or (type(view.results) == "table" and view.results.items) or nil
    end

    site:filter("view.page", function(view)
      local list = list_of(view)
      local areas = list and of_list[list] or slots()
      view.widgets = { sidebar = areas.sidebar or false, after_article = false }
      if view.entry then view.widgets.after_article = areas.after_article or false end
      return view
    end)

    -- Lists of entries (home, sections, tags, authors, search) get the in-feed slots.
    site:filter("view.list", function(items)
      local areas = slots()
      local feed = areas.in_feed
      if not feed or #items == 0 then
        of_list[items] = areas
        return items
      end
      local out, pos = {}, settings.in_feed_position
      for i, item in ipairs(items) do
        out[#out + 1] = item
        if i == math.min(pos, #items) then
          for _, slot in ipairs(feed) do out[#out + 1] = { sponsored = slot } end
        end
      end
      of_list[out] = areas
      return out
    end)
  end,
}
