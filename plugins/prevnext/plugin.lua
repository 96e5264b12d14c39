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

    -- The links, rendered (templates/prevnext.mustache) and kept until the next write
    -- (site:memo): false when the entry has no neighbours.
    local function block(id)
      local prev, nxt = quire.content.neighbours(id, { within = settings.within })
      return (prev or nxt) and quire.template.render("prevnext",
        { prev = link(prev, quire.i18n.gettext(settings.previous_label)), next = link(nxt, quire.i18n.gettext(settings.next_label)) })
    end

    site:filter("view.entry", function(view, entry)
      if skip[entry.type] then return view end
      -- Headlines and links (quire.content.teasers): not stale when a neighbour's text changes.
      view.prevnext = site:memo("block\0" .. entry.id, quire.content.teasers, block, entry.id) or nil
      return view
    end)
  end,
}
