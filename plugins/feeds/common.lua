-- What the feeds, sitemaps and page heads share: absolute addresses, the site's language and
-- description, machine dates with the site's offset, plain-text summaries of entries, an entry's author.
return function(site)
  local settings = site.settings
  local M = {}

  local function base() return (quire.site.base_url or ""):gsub("/+$", "") end
  local function absolute(path) return path and (base() .. path) or nil end
  -- The language the theme gives the pages ("en" without one).
  local function lang() return quire.filters.apply("site.lang", "en") end
  local function description() return settings.description ~= "" and settings.description or quire.site.name end

  -- Machine dates carry the site's offset (site.lua timezone): RFC 822 for RSS ("Wed, 01 Jul
  -- 2026 01:30:00 +0200"), RFC 3339 for Atom, JSON Feed and JSON-LD ("2026-07-01T01:30:00+02:00").
  local function rfc822(stamp) return stamp and quire.time.epoch(stamp) and quire.time.rfc822(stamp) or nil end
  local function rfc3339(stamp) return stamp and quire.time.epoch(stamp) and quire.time.to_local(stamp) or stamp end

  -- Plain text from Markdown, for descriptions: the rendered HTML without tags, shortened.
  local function plain(md, max)
    local html = quire.markdown.render(md or "")
    local text = html:gsub("<[^>]*>", " "):gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"')
      :gsub("&#39;", "'"):gsub("&amp;", "&"):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
    if utf8.len(text) and utf8.len(text) > max then
      text = text:sub(1, utf8.offset(text, max + 1) - 1):gsub("%s+%S*$", "") .. "…"
    end
    return text
  end

  local function summary(e)
    local sf = e.fields and e.fields.standfirst
    if type(sf) == "string" and sf:match("%S") then return sf end
    return plain(e.body, 200)
  end

  local function author_of(e)
    local u = e.author_id and quire.users.get(e.author_id)
    return u and { name = u.display_name, url = absolute("/author/" .. u.login) } or false
  end

  M.absolute, M.lang, M.description = absolute, lang, description
  M.rfc822, M.rfc3339, M.plain, M.summary, M.author_of = rfc822, rfc3339, plain, summary, author_of
  return M
end
