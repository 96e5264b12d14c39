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

    local function link(l, label)
      if not l then return false end
      l.label = label
      return l
    end

    -- The links, rendered (templates/prevnext.mustache) and kept until the next write
    -- (site:memo): false when the entry has no neighbours. Their titles and addresses only
    -- (links = true: no entry read, tagged as the neighbours' cards).
    local function block(id)
      local prev, nxt = quire.content.neighbours(id, { within = settings.within, links = true })
      return (prev or nxt) and quire.template.render("prevnext",
        { prev = link(prev, quire.i18n.gettext(settings.previous_label)), next = link(nxt, quire.i18n.gettext(settings.next_label)) })
    end

    site:filter("view.entry", function(view, entry)
      if skip[entry.type] then return view end
      view.prevnext = site:memo("block\0" .. entry.id, block, entry.id) or nil
      return view
    end)
  end,
}
