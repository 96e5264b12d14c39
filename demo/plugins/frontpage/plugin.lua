-- The demo's small theme: a front page, article and opinion layouts on one base layout.
-- (The full news-site plugins are their own work; this keeps `make demo` a real site.)
return quire.plugin {
  name = "frontpage", version = "0.1",
  setup = function(site)
    site:content_type {
      name = "opinion", label = "Opinion Piece", permalink = "/opinion/{slug}", layout = "opinion",
      fields = { standfirst = { "text", max = 600 }, pull_quote = { "text", max = 300 } },
    }
    local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August",
      "September", "October", "November", "December" }
    local function when(iso)
      local y, m, d = (iso or ""):match("^(%d+)-(%d+)-(%d+)")
      return y and ("%s %d, %s"):format(MONTHS[tonumber(m)], tonumber(d), y) or ""
    end
    local function link(e)
      if not e then return nil end
      local y, m = e.published_at:match("^(%d+)-(%d+)")
      local url = e.type == "opinion" and ("/opinion/" .. e.slug) or ("/" .. y .. "/" .. m .. "/" .. e.slug)
      return { title = e.title, url = url }
    end
    site:filter("view.entry", function(view, entry)
      view.body_html = quire.markdown.render(entry.body)
      view.date = when(entry.published_at)
      view.dateline = entry.fields.dateline and (entry.fields.dateline .. ", " .. view.date .. " –")
      local author = entry.author and quire.users.get(entry.author)
      view.author = author and { name = author.display_name, bio = author.bio }
      local prev, nxt = quire.content.neighbours(entry.id)
      view.previous, view.next = link(prev), link(nxt)
      view.comments = quire.comments.query { entry = entry.id, status = "approved" }
      view.comment_count = #view.comments
      view.site = quire.site
      return view
    end)
    site:route("GET", "/", function(_, res)
      local items = {}
      for _, e in ipairs(quire.content.query { status = "published", limit = 20 }) do
        local l = link(e)
        l.date, l.section, l.standfirst = when(e.published_at), e.section, e.fields.standfirst
        l.opinion = e.type == "opinion"
        items[#items + 1] = l
      end
      res:render("home", { site = quire.site, items = items })
    end)
  end,
}
