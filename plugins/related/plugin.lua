-- "Related Posts": a weighted score over several indices, like Hugo's related content (shared
-- keywords 100, shared tags 80, closeness in time 10, threshold 80), plus text similarity (words
-- shared with the title, keywords and standfirst; the same on both stores) and tag rarity:
-- computed in C by quire.content.related, memoised until the next write, and the page showing it
-- is invalidated when an entry of a shared tag changes.
-- A site replaces the list by registering its own "related.entries" filter (value: the list of
-- entries, argument: the entry), ordered after this plugin. The rendered block is kept until
-- the next write, so that filter and view.card filters should depend on the database only.
return quire.plugin {
  name = "related", version = "1.0", requires = { "theme" },
  settings = {
    keywords = 100,        -- weight of each shared keyword (fields.keywords)
    tags = 80,             -- weight of each shared tag, scaled by its rarity
    date = 10,             -- weight of being published close together ...
    date_window_days = 365, -- ... falling to nothing at this distance
    text = 40,             -- weight of full-text similarity (the best match gets all of it)
    rarity = 0.5,          -- 0..1: how much rarer tags count more and ubiquitous ones less
    threshold = 80,        -- the score a related entry needs
    limit = 3,             -- how many to show
    title = "Related Posts",
    skip_types = { "page" },
  },
  setup = function(site)
    local s = site.settings
    local skip = {}
    for _, t in ipairs(s.skip_types) do skip[t] = true end
    local opts = {
      weights = { keywords = s.keywords, tags = s.tags, date = s.date, text = s.text },
      threshold = s.threshold, rarity = s.rarity, date_window_days = s.date_window_days, limit = s.limit,
    }

    -- The block of an entry's related posts, rendered (templates/related.mustache): built from
    -- the database only, so kept until the next write (site:memo) rather than scored, run
    -- through every view.card filter and rendered on each request. false: no related posts.
    local function block(entry)
      local list = quire.content.related(entry.id, opts)
      list = quire.filters.apply("related.entries", list, entry)
      local items = {}
      list = quire.filters.apply("view.cards", list)
      for i, e in ipairs(list) do
        if i > s.limit then break end
        items[#items + 1] = quire.filters.apply("view.card", {}, e)
      end
      return #items > 0 and quire.template.render("related", { title = quire.i18n.gettext(s.title), items = items })
    end

    site:filter("view.entry", function(view, entry)
      if skip[entry.type] then return view end
      -- Cards (quire.content.teasers): stale when what they show of a related entry changes.
      view.related = site:memo("block\0" .. entry.id, quire.content.teasers, block, entry) or nil
      return view
    end)
  end,
}
