-- "Previous Article" / "Next Article": the neighbours by publication time, within the entry's
-- type by default or within its section (within = "section").
return quire.plugin {
  name = "prevnext", version = "1.0", requires = { "theme" },
  settings = {
    within = "type",           -- "type" or "section"
    skip_types = { "page" },
    previous_label = "Previous Article",
    next_label = "Next Article",
  },
  setup = function(site)
    local settings = site.settings
    if settings.within ~= "type" and settings.within ~= "section" then
      error("prevnext: within must be \"type\" or \"section\"")
    end
    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end

    local function link(e, label)
      if not e then return false end
      return { label = label, title = e.title, url = quire.content.url(e) }
    end

    -- Kept until the next write (site:memo): false when the entry has no neighbours.
    local function prevnext_view(id)
      local prev, nxt = quire.content.neighbours(id, { within = settings.within })
      return (prev or nxt) and { prev = link(prev, settings.previous_label), next = link(nxt, settings.next_label) } or false
    end

    site:filter("view.entry", function(view, entry)
      if skip[entry.type] then return view end
      local links = site:memo("view\0" .. entry.id, prevnext_view, entry.id)
      if links then view.prevnext = links end
      return view
    end)
  end,
}
