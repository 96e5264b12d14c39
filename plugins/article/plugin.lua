-- The news article: title, dateline place, standfirst, Markdown body, hero image with caption and
-- credit, section, tags, author and publication time. The dateline renders as
-- "PLACE, Month D, YYYY –" at the start of the first paragraph.
return quire.plugin {
  name = "article", version = "1.0", requires = { "theme" },
  settings = {
    permalink = "/{yyyy}/{mm}/{slug}",
  },
  setup = function(site)
    site:content_type {
      name = "article", label = "Article", permalink = site.settings.permalink, layout = "article",
      field_sets = { "hero" }, -- the theme's hero image, caption and credit
      require_alt = true, -- a published piece describes its images (hero_media: the media's alt or hero_alt)
      fields = {
        standfirst = { "text", max = 600 },
        dateline = { "text", max = 100 },  -- the place: "Lisbon"
        keywords = { "list", of = { "text", max = 100 }, max = 30 },
        comments_closed = "bool",
        -- WordPress's post formats and sticky posts (quire import --from wordpress).
        format = { "enum", values = { "standard", "aside", "audio", "chat", "gallery", "image", "link", "quote", "status", "video" } },
        sticky = "bool",
      },
    }

    -- "Lisbon", "March 4, 2026" -> the dateline span, escaped.
    local function dateline(place, date)
      -- The separators are the language's ("%s، %s –" in Arabic).
      return ('<span class="dateline">%s</span> '):format(quire.i18n.pgettext("dateline", "%s, %s –")
        :format(quire.html.escape(place), quire.html.escape(date)))
    end

    -- On the body, not the page, so feeds carry the dateline too.
    site:filter("view.body", function(body, entry)
      local place = entry.fields and entry.fields.dateline
      if type(place) ~= "string" or not place:match("%S") or not body.date or not body.html then return body end
      place = place:gsub("^%s+", ""):gsub("[%s,]+$", "")
      local span = dateline(place, body.date.human)
      local html = body.html
      local _, open_end = html:find("<p>", 1, true)
      if open_end then
        body.html = html:sub(1, open_end) .. span .. html:sub(open_end + 1)
      else
        body.html = "<p>" .. span .. "</p>\n" .. html
      end
      body.dateline = { place = place, date = body.date.human }
      return body
    end)
  end,
}
