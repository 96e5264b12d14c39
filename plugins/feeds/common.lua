-- What the feeds, sitemaps and page heads share: absolute addresses, the site's language and
-- description, machine dates with the site's offset, plain-text summaries of entries, an entry's author.
return function(site)
  local settings = site.settings
  local M = {}

  -- The base URL without its trailing slashes, worked out again only when it changes (every
  -- absolute address of a page asks for it).
  local base_raw, base_trimmed
  local function base()
    local raw = quire.site.base_url or ""
    if raw ~= base_raw then base_raw, base_trimmed = raw, raw:gsub("/+$", "") end
    return base_trimmed
  end
  local function absolute(path) return path and (base() .. path) or nil end
  -- The language the theme gives the pages ("en" without one).
  local function lang() return quire.filters.apply("site.lang", "en") end
  local function description() return settings.description ~= "" and settings.description or quire.site.name end

  -- Machine dates carry the site's offset (site.lua timezone): RFC 822 for RSS ("Wed, 01 Jul
  -- 2026 01:30:00 +0200"), RFC 3339 for Atom, JSON Feed and JSON-LD ("2026-07-01T01:30:00+02:00").
  -- (The stored text read once: its epoch seconds are what the formatting reads.) Each stamp's
  -- texts are remembered (as the theme's dates are): a feed item asks for its date in both, and
  -- an entry is in several feeds and its page head; at most DATES_MAX, then started afresh. Each
  -- text is made when first asked for: a page head and an item's updated date want RFC 3339 only.
  local epoch, to_rfc822, to_local = quire.time.epoch, quire.time.rfc822, quire.time.to_local
  local DATES_MAX, dates, ndates = 4096, {}, 0
  local function dates_of(stamp)
    local d = dates[stamp]
    if d then return d end
    d = { t = epoch(stamp) or false }
    if ndates >= DATES_MAX then dates, ndates = {}, 0 end
    dates[stamp], ndates = d, ndates + 1
    return d
  end
  local function rfc822(stamp)
    if not stamp then return nil end
    local d = dates_of(stamp)
    local text = d.rfc822
    if text == nil then
      text = d.t and to_rfc822(d.t) or false
      d.rfc822 = text
    end
    return text or nil
  end
  local function rfc3339(stamp)
    if not stamp then return stamp end
    local d = dates_of(stamp)
    local text = d.rfc3339
    if not text then
      text = d.t and to_local(d.t) or stamp
      d.rfc3339 = text
    end
    return text
  end

  -- The summaries made, by max and by entry id (else by source), each with the source it was
  -- made from and given only for that source (compared whole: a body read again is a new
  -- string, and as a table key it would be hashed whole at every lookup). An entry is in many
  -- feeds (home, its section, each of its tags, its author), and its page head shows one too.
  -- Starts over past SUMMARY_BYTES (sources and summaries together).
  local SUMMARY_BYTES = 2 * 1024 * 1024
  local summaries, summary_bytes = {}, 0
  local make_plain
  local function plain(md, max, id)
    md = md or ""
    local key = id or md
    local made = summaries[max]
    local kept = made and made[key]
    if kept and kept.md == md then return kept.text end
    local text = make_plain(md, max)
    if kept then summary_bytes = summary_bytes - #kept.md - #kept.text end -- (replaced: an edited body)
    if summary_bytes + #md + #text > SUMMARY_BYTES then summaries, summary_bytes = {}, 0 end
    made = summaries[max] or {}
    summaries[max], made[key], summary_bytes = made, { md = md, text = text }, summary_bytes + #md + #text
    return text
  end
  -- s without a tag or entity cut at its end: as s:gsub("<[^>]*$", ""):gsub("&%w*$", "") does
  -- (%w: ASCII letters and digits, the C locale's), the last ">" and the trailing letters
  -- found from the end, where those patterns were tried at every byte of s.
  local function alnum(b) return b >= 48 and b <= 57 or b >= 65 and b <= 90 or b >= 97 and b <= 122 end
  local function without_cut_end(s)
    local gt = #s
    while gt > 0 and s:byte(gt) ~= 62 do gt = gt - 1 end -- ">"
    local lt = s:find("<", gt + 1, true)
    if lt then s = s:sub(1, lt - 1) end
    local amp = #s
    while amp > 0 and alnum(s:byte(amp)) do amp = amp - 1 end
    if amp > 0 and s:byte(amp) == 38 then s = s:sub(1, amp - 1) end -- "&"
    return s
  end
  -- Plain text from Markdown, for descriptions: the rendered HTML without tags, shortened.
  -- A body's start is rendered rather than all of it (a feed asks for the summaries of its 20
  -- entries): a start cut at a blank line renders, up to there, to the text the whole body
  -- does, unless something below can change it: a link reference definition ("[x]: url" may
  -- come after its use) or raw HTML above the cut (a block of it can run past a blank line, and
  -- stripping "<...>" can reach across one). Lists made loose by items below differ only in
  -- tags, which become spaces; a code block open at the cut has the same text up to it. A
  -- start whose text is not longer than max + 1 characters is doubled, then the whole is used.
  -- text_of gives the text and its length in characters (nil: not UTF-8), counted once.
  local function text_of(html, max)
    -- Only a start of the HTML long enough for max characters of text is stripped; a tag or
    -- entity cut at that end is left out, and is past the max characters kept anyway.
    local text, n
    local len = max * 8 + 256
    repeat
      local part = html
      if #html > len then
        local cut = len
        while cut > 0 and (html:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end -- (not inside a character)
        part = without_cut_end(html:sub(1, cut))
      end
      -- (tags as spaces, the five references decoded, whitespace collapsed, the ends trimmed)
      text = quire.text.of_html(part)
      n = utf8.len(text)
      local enough = #part == #html or (n and n > max + 1)
      len = len * 4
    until enough
    return text, n
  end
  -- Whether md holds "]:" (a link reference definition may): each "]" looked at, found as one
  -- byte is, where a search for the two scans byte by byte.
  local function has_definition(md)
    local at = md:find("]", 1, true)
    while at do
      if md:byte(at + 1) == 58 then return true end -- ":"
      at = md:find("]", at + 1, true)
    end
    return false
  end
  -- Where the first blank line at or after from starts, as md:find("\n[ \t\r]*\n", from) says,
  -- each line's end found as one byte is (the pattern is tried at every byte).
  local function blank_line(md, from)
    local at = md:find("\n", from, true)
    while at do
      if md:find("^[ \t\r]*\n", at + 1) then return at end
      at = md:find("\n", at + 1, true)
    end
    return nil
  end
  -- s without its last word and the white space before it (as s:gsub("%s+%S*$", "") does; the
  -- bytes looked at from the end, where that pattern was tried at every byte); s when it has no
  -- white space.
  local function space(b) return b == 32 or (b >= 9 and b <= 13) end
  local function without_last_word(s)
    local i = #s
    while i > 0 and not space(s:byte(i)) do i = i - 1 end
    if i == 0 then return s end
    while i > 1 and space(s:byte(i - 1)) do i = i - 1 end
    return s:sub(1, i - 1)
  end
  function make_plain(md, max)
    local text, n
    if not has_definition(md) then
      local from = max * 2
      while from < #md do
        local cut = blank_line(md, from)
        if not cut then break end
        local start = md:sub(1, cut)
        if start:find("<", 1, true) then break end
        local t, tn = text_of(quire.markdown.render(start), max)
        if tn and tn > max + 1 then text, n = t, tn break end
        from = cut * 2
      end
    end
    if not text then text, n = text_of(quire.markdown.render(md), max) end
    if n and n > max then text = without_last_word(text:sub(1, utf8.offset(text, max + 1) - 1)) .. "…" end
    return text
  end

  local function summary(e)
    local sf = e.fields and e.fields.standfirst
    if type(sf) == "string" and sf:match("%S") then return sf end
    return plain(e.body, 200, e.id)
  end

  -- (quire.users.author: the three fields pages show, where users.get copies the account's eight)
  local function author_of(e)
    local a = e.author_id and quire.users.author(e.author_id)
    return a and { name = a.name, url = absolute(a.url) } or false
  end

  -- An entry's lead image for previews and feeds (the theme's hero_media, else hero_image):
  -- the media library's 1200 px class JPEG/WebP with its size and alt text, or a plain URL
  -- that is not SVG (scrapers and readers cannot be relied on to show one, and an SVG from
  -- elsewhere may carry scripts). nil when there is none.
  local function lead_image(f, alt)
    local s = f.hero_media and quire.media.share(f.hero_media)
    if s then
      s.alt = type(alt) == "string" and alt ~= "" and alt or s.alt
      s.url = absolute(s.src)
      return s
    end
    local src = type(f.hero_image) == "string" and quire.url.safe(f.hero_image, { "http", "https" })
    if not src or src:lower():match("%.svgz?$") or src:lower():match("%.svgz?[?#]") then return nil end
    return { url = src:match("^https?://") and src or absolute(src), alt = type(alt) == "string" and alt or "" }
  end

  M.absolute, M.lang, M.description, M.lead_image = absolute, lang, description, lead_image
  M.rfc822, M.rfc3339, M.plain, M.summary, M.author_of = rfc822, rfc3339, plain, summary, author_of
  return M
end
