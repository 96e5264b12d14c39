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
      fields = {
        standfirst = { "text", max = 600 },
        dateline = { "text", max = 100 },  -- the place: "Lisbon"
        hero_image = { "text", max = 2000, validate = function(v)
          return quire.url.safe(v, { "http", "https" }) ~= nil, "must be an http(s) or relative URL"
        end },
        hero_alt = { "text", max = 300 },
        hero_caption = { "text", max = 500 },
        hero_credit = { "text", max = 200 },
        keywords = { "list", of = { "text", max = 100 }, max = 30 },
        comments_closed = "bool",
      },
    }

    -- "Lisbon", "March 4, 2026" -> the dateline span, escaped.
    local function dateline(place, date)
      return ('<span class="dateline">%s, %s –</span> '):format(quire.html.escape(place), quire.html.escape(date))
    end

    site:filter("view.entry", function(view, entry)
      local place = entry.fields and entry.fields.dateline
      if type(place) ~= "string" or not place:match("%S") or not view.date or not view.body_html then return view end
      place = place:gsub("^%s+", ""):gsub("[%s,]+$", "")
      local span = dateline(place, view.date.human)
      local html = view.body_html
      local _, open_end = html:find("<p>", 1, true)
      if open_end then
        view.body_html = html:sub(1, open_end) .. span .. html:sub(open_end + 1)
      else
        view.body_html = "<p>" .. span .. "</p>\n" .. html
      end
      view.dateline = { place = place, date = view.date.human }
      return view
    end)
  end,
}
