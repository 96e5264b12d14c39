-- What the feeds, sitemaps and page heads share: absolute addresses, the site's language and
-- description, RFC 822 dates, plain-text summaries of entries, an entry's author.
return function(site)
  local settings = site.settings
  local M = {}

  local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
  local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }

  local function base() return (quire.site.base_url or ""):gsub("/+$", "") end
  local function absolute(path) return path and (base() .. path) or nil end
  -- The language the theme gives the pages ("en" without one).
  local function lang() return quire.filters.apply("site.lang", "en") end
  local function description() return settings.description ~= "" and settings.description or quire.site.name end

  -- "2023-06-16T09:30:00Z" -> "Fri, 16 Jun 2023 09:30:00 +0000" (RFC 822, as RSS wants it)
  local function rfc822(stamp)
    local epoch = stamp and quire.time.epoch(stamp)
    if not epoch then return nil end
    local wday = (epoch // 86400 + 4) % 7 + 1 -- 1970-01-01 was a Thursday
    local y, m, d, hms = stamp:match("^(%d+)%-(%d+)%-(%d+)T([%d:]+)Z$")
    return ("%s, %s %s %s %s +0000"):format(DAYS[wday], d, MONTHS[tonumber(m)], y, hms)
  end

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
  M.rfc822, M.plain, M.summary, M.author_of = rfc822, plain, summary, author_of
  return M
end
