-- The opinion piece: its own layout (inheriting the base layout) with a visible "Opinion" label,
-- the author's byline with a short bio, a pull quote set into the text, and a serif voice.
return quire.plugin {
  name = "opinion", version = "1.0", requires = { "theme" },
  settings = {
    permalink = "/opinion/{slug}",
    label = "Opinion",
    pull_quote_after = 2, -- paragraphs before the pull quote
  },
  setup = function(site)
    local settings = site.settings
    site:content_type {
      name = "opinion", label = "Opinion Piece", permalink = settings.permalink, layout = "opinion",
      field_sets = { "hero" }, -- the theme's hero image, caption and credit
      require_alt = true, -- a published piece describes its images (hero_media: the media's alt or hero_alt)
      fields = {
        standfirst = { "text", max = 600 },
        pull_quote = { "text", max = 400 },
        keywords = { "list", of = { "text", max = 100 }, max = 30 },
        comments_closed = "bool",
      },
    }

    -- True when html (a prefix of the body) has closed every quote, list and table it opened, so
    -- something can be set between two top-level blocks there.
    local function at_top_level(html)
      for _, tag in ipairs({ "blockquote", "li", "table", "figure", "details" }) do
        local opened = select(2, html:gsub("<" .. tag .. "[%s>]", ""))
        local closed = select(2, html:gsub("</" .. tag .. ">", ""))
        if opened ~= closed then return false end
      end
      return true
    end

    -- Splits the body after the n-th top-level paragraph: lead, rest (rest is nil when too short).
    local function split_after(html, n)
      local pos, seen = 1, 0
      while true do
        local _, e = html:find("</p>", pos, true)
        if not e then return html, nil end
        pos = e + 1
        if at_top_level(html:sub(1, e)) then
          seen = seen + 1
          if seen == n then return html:sub(1, e), html:sub(e + 1) end
        end
      end
    end

    site:filter("view.card", function(card, entry)
      -- The label, unless the card's section already says it.
      if entry.type == "opinion" and entry.section ~= settings.label then card.type_label = quire.i18n.gettext(settings.label) end
      return card
    end)

    site:filter("view.entry", function(view, entry)
      if entry.type ~= "opinion" then return view end
      view.opinion_label = quire.i18n.gettext(settings.label)
      local quote = entry.fields.pull_quote
      if type(quote) == "string" and quote:match("%S") then
        local lead, rest = split_after(view.body_html or "", settings.pull_quote_after)
        view.body_lead, view.body_rest = lead, rest or ""
        view.pull_quote = quote
      else
        view.body_lead, view.body_rest = view.body_html, ""
      end
      return view
    end)
  end,
}
