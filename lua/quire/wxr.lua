-- WordPress import: a WXR export file becomes Quire content, and the old site's URLs redirect
-- to the new ones.
--
-- Mapping (what Quire can hold of what WordPress has):
--   categories -> sections, with their parents (terms.parent_id); a post's most specific
--                 category is its section, and every category it is in is also one of its
--                 tags, so /tag/NAME lists all of a category's posts as WordPress's archive
--                 did (an entry has one section in Quire's model);
--   tags       -> tags (case-insensitive by slug: "Tags" and "tags" are one term, reported);
--   posts      -> articles; pages -> pages, nested by fields.parent/fields.path;
--   post formats, sticky, comment_status=closed, _thumbnail_id -> article fields format,
--                 sticky, comments_closed, hero_image/hero_alt/hero_caption (when the type has
--                 them; otherwise reported as dropped);
--   private and password-protected posts -> drafts (never public; reported);
--   comments   -> comments (approval, threading, dates); pingbacks and trackbacks are counted
--                 and listed in the report (Quire comments have no such kind);
--   attachments -> media records; core shortcodes -> HTML the sanitiser keeps; unknown
--                 shortcodes are removed (their inner text kept) and listed;
--   with --uploads DIR (a copy of the old site's wp-content/uploads): each attachment found
--                 there goes into the media library (libvips, as quire media add), featured
--                 images become hero_media, [caption] and [gallery] of library images become
--                 ```gallery blocks (responsive figures); files not found or refused are
--                 reported and keep their old URL;
--   old URLs   -> redirects (/?p=ID, /?page_id=ID, /YYYY/MM/[DD/]slug/, /slug/, the old page
--                 path, /category/a/b/, /tag/x/, /author/x/ and their /feed/ forms).
-- Idempotent: what came from where is kept in import_map (site URL + WordPress id, and the
-- GUID), so importing the same file again updates entries instead of adding them again.
local lxp = require "lxp"
local cjson = require "cjson"
local core = require "quire.core"
local errors = require "quire.errors"
local time = require "quire.time"

local M = {}

local SOURCE = "wordpress"
local ITEMS_MAX = 1000000 -- items one file may hold
local SHORTCODES_MAX = 10000 -- shortcodes one body may hold
local FILE_MAX = 1024 * 1048576 -- bytes of XML one import reads (it holds the parsed tree in memory)

-- Parses XML into nested { name =, attrs =, text =, children = {...} } tables.
local function parse(path)
  local f, err = io.open(path, "rb")
  if not f then error(err, 0) end
  local size = f:seek("end")
  f:seek("set")
  if size and size > FILE_MAX then
    f:close()
    error(("%s is %d MiB; the importer reads at most %d MiB at once: export by date range in WordPress"
      .. " (Tools > Export > Posts > Start date) and import the files one by one"):format(path, size // 1048576, FILE_MAX // 1048576), 0)
  end
  local root = { name = "#root", children = {}, text = {} }
  local stack = { root }
  local parser = lxp.new {
    StartElement = function(_, name, attrs)
      local node = { name = name, attrs = attrs, children = {}, text = {} }
      local top = stack[#stack]
      top.children[#top.children + 1] = node
      stack[#stack + 1] = node
    end,
    EndElement = function()
      local node = table.remove(stack)
      node.text = table.concat(node.text)
    end,
    CharacterData = function(_, data)
      local t = stack[#stack].text
      t[#t + 1] = data
    end,
  }
  for chunk in function() return f:read(65536) end do
    local ok, perr, line = parser:parse(chunk)
    if not ok then f:close() error(("%s:%s: XML error: %s"):format(path, tostring(line), tostring(perr)), 0) end
  end
  local ok, perr, line = parser:parse()
  f:close()
  if not ok then error(("%s:%s: XML error: %s"):format(path, tostring(line), tostring(perr)), 0) end
  parser:close()
  return root
end

local function child(node, name)
  for _, c in ipairs(node.children) do if c.name == name then return c end end
end
local function text(node, name)
  local c = child(node, name)
  return c and c.text or nil
end
local function children(node, name)
  local out = {}
  for _, c in ipairs(node.children) do if c.name == name then out[#out + 1] = c end end
  return out
end

-- "2024-11-04 08:00:00" (GMT) -> "2024-11-04T08:00:00Z"; WordPress writes zeros for "never".
local function gmt(s)
  if not s or s == "" or s:match("^0000") then return nil end
  return time.parse(s:gsub(" ", "T", 1) .. "Z")
end

local function url_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function login_for(wp_login)
  local l = core.slugify(wp_login or "")
  if l == "" then l = "wp-user" end
  return l
end

-- The path of a URL on the old site ("https://x.com/a/b/?p=1" -> "/a/b/?p=1"), or nil.
local function path_of(url)
  local p = type(url) == "string" and url:match("^https?://[^/]+(/.*)$")
  return p and p:gsub("#.*$", "") or nil
end

-- Where an attachment's file lies in a local copy of the uploads folder: the part of its URL
-- after /wp-content/uploads/, else its YEAR/MONTH/NAME tail, else its name. Percent-decoded;
-- no segment may be empty, "." or "..", so nothing outside dir is ever read.
local function upload_file(dir, url)
  local p = (url:match("^%a[%w+.-]*://[^/]+(/[^?#]*)") or url:match("^(/[^?#]*)") or ""):gsub("/+", "/")
  for _, pat in ipairs({ "/wp%-content/uploads/(.+)$", "(%d%d%d%d/%d%d/[^/]+)$", "([^/]+)$" }) do
    local rel = url_decode(p:match(pat) or "")
    local ok = not rel:find("%z")
    for seg in (rel .. "/"):gmatch("([^/]*)/") do
      if seg == "" or seg == "." or seg == ".." then ok = false end
    end
    if ok and core.stat(dir .. "/" .. rel) == "file" then return dir .. "/" .. rel end
  end
  return nil
end

local STATUS = { publish = "published", draft = "draft", pending = "review", ["auto-draft"] = "draft",
  future = "scheduled", private = "draft", trash = "archived", inherit = "draft" }
local COMMENT_STATUS = { ["1"] = "approved", ["0"] = "held", spam = "spam", trash = "trash" }

-- Shortcode attributes: key="v", key='v', key=v and bare values (numbered 1, 2, ...).
local function shortcode_attrs(s)
  local a, n, pos = {}, 0, 1
  while pos <= #s do
    local k, v, e = s:match('^%s*([%w_%-]+)%s*=%s*"([^"]*)"()', pos)
    if not k then k, v, e = s:match("^%s*([%w_%-]+)%s*=%s*'([^']*)'()", pos) end
    if not k then k, v, e = s:match("^%s*([%w_%-]+)%s*=%s*([^%s'\"]+)()", pos) end
    if k then
      a[k:lower()] = v
    else
      v, e = s:match('^%s*"([^"]*)"()', pos)
      if not v then v, e = s:match("^%s*(%S+)()", pos) end
      if not v then break end
      n = n + 1
      a[n] = v
    end
    pos = e
  end
  return a
end

local function attr(s) return core.html_attr(s) end
-- The "&" of a URL written as HTML text ("&amp;", "&#038;", "&#x26;"), before it is escaped again.
local AMP = { ["&amp;"] = "&", ["&#38;"] = "&", ["&#038;"] = "&", ["&#x26;"] = "&", ["&#X26;"] = "&" }
local function html_amp(s) return (s:gsub("&#?%w+;", AMP)) end
local function esc(s) return core.html_escape(s) end

-- One line of HTML: Markdown then takes it as one HTML block.
local function one_line(s) return (s:gsub("%s*\n%s*", " ")) end

local MEDIA_EXT = { mp3 = "audio", ogg = "audio", wav = "audio", m4a = "audio", wma = "audio",
  mp4 = "video", m4v = "video", webm = "video", ogv = "video", wmv = "video", flv = "video" }

-- Converts WordPress's shortcodes in body. ctx: { media = wp id -> { url, title, alt, caption },
-- children = attachments of this post, note = fn(msg) }. Returns the new body.
local function shortcodes(body, ctx)
  local out, pos, count = {}, 1, 0
  local function media_link(url, kind)
    local name = url_decode(url:match("([^/?#]+)[?#]?[^/]*$") or url)
    return ('<p><a href="%s">%s: %s</a></p>'):format(attr(url), kind, esc(name))
  end
  -- [audio] / [video]: the file from src, a format attribute, the first argument, a URL in the
  -- body or the post's attached media of that kind; a link to it (or removed, noted).
  local function player(kind, formats, label)
    return function(a, inner)
      local src = a.src
      for _, f in ipairs(formats) do src = src or a[f] end
      src = src or a[1] or (inner and inner:match("https?://%S+"))
      if not src then
        local m = ctx.children_media(kind)
        src = m and m.url
      end
      if not src then ctx.note(("[%s] without a file: removed"):format(kind)) return "" end
      return media_link(src, label)
    end
  end
  -- A ```gallery block of library images: { { media_id, caption }, ... } (see quire.media).
  local function gallery_block(items)
    local lines = {}
    for i, it in ipairs(items) do lines[i] = it[1] .. (it[2] ~= "" and (" " .. it[2]) or "") end
    return "\n\n```gallery\n" .. table.concat(lines, "\n") .. "\n```\n\n"
  end
  local function gallery(a)
    local ids = {}
    if a.ids or a.include then
      for id in (a.ids or a.include):gmatch("%d+") do ids[#ids + 1] = id end
    else
      for _, id in ipairs(ctx.children) do ids[#ids + 1] = id end
    end
    local imgs, lib = {}, {}
    for _, id in ipairs(ids) do
      local m = ctx.media[id]
      if m and m.media_id then
        lib[#lib + 1] = { m.media_id, ctx.caption(m.caption) }
      elseif m then
        imgs[#imgs + 1] = ('<a href="%s"><img src="%s" alt="%s"></a>'):format(attr(m.url), attr(m.url), attr(m.alt or ""))
      else
        ctx.note(("gallery image %s is not in the export: left out"):format(id))
      end
    end
    if #imgs == 0 and #lib == 0 then ctx.note("[gallery] with no images in the export: removed") return "" end
    return (#lib > 0 and gallery_block(lib) or "") .. (#imgs > 0 and ("<figure>" .. table.concat(imgs, " ") .. "</figure>") or "")
  end
  local CONVERT = {
    caption = function(a, inner)
      inner = inner or ""
      local media = inner:match("^%s*(<a%s[^>]*>%s*<img[^>]*>%s*</a>)") or inner:match("^%s*(<img[^>]*>)")
      local caption = a.caption or (media and inner:sub(select(2, inner:find(media, 1, true)) + 1)) or inner
      caption = caption:gsub("^%s+", ""):gsub("%s+$", "")
      if not media then ctx.note("[caption] without an image: kept its text") return "<p>" .. one_line(caption) .. "</p>" end
      -- The image in the library: a one-picture gallery (responsive, from the library's files).
      local m = ctx.media[(a.id or ""):match("^attachment_(%d+)$") or ""] or ctx.by_url(media:match('src="([^"]*)"'))
      if m and m.media_id then return gallery_block({ { m.media_id, ctx.caption(caption) } }) end
      return one_line("<figure>" .. media .. (caption ~= "" and ("<figcaption>" .. caption .. "</figcaption>") or "") .. "</figure>")
    end,
    gallery = gallery,
    audio = player("audio", { "mp3", "ogg", "wav", "m4a" }, "Listen"),
    video = player("video", { "mp4", "webm", "ogv", "m4v" }, "Watch"),
    embed = function(a, inner)
      local url = (inner and inner:match("https?://%S+")) or a.src or a[1]
      if not url then ctx.note("[embed] without a URL: removed") return "" end
      url = html_amp((url:gsub("[<\"'].*$", "")))
      return ('<p><a href="%s">%s</a></p>'):format(attr(url), esc(url))
    end,
    playlist = function(a)
      local items = {}
      for id in (a.ids or a.include or ""):gmatch("%d+") do
        local m = ctx.media[id]
        if m then items[#items + 1] = ('<li><a href="%s">%s</a></li>'):format(attr(m.url), esc(m.title ~= "" and m.title or m.url)) end
      end
      if #items == 0 then ctx.note("[playlist] with no files in the export: removed") return "" end
      return "<ul>" .. table.concat(items) .. "</ul>"
    end,
  }
  CONVERT.wp_caption = CONVERT.caption
  while true do
    local s, e, close, name, args = body:find("%[(/?)([%a][%w_%-]*)([^%]\n]*)%]", pos)
    if not s then break end
    count = count + 1
    if count > SHORTCODES_MAX then errors.raise("invalid", ("a body holds more than %d shortcodes"):format(SHORTCODES_MAX)) end
    out[#out + 1] = body:sub(pos, s - 1)
    local lname = name:lower()
    local conv = CONVERT[lname]
    local escaped = body:sub(s - 1, s - 1) == "[" and body:sub(e + 1, e + 1) == "]"
    if escaped then -- [[caption]]: WordPress shows the text "[caption]"
      out[#out] = out[#out]:sub(1, -2)
      out[#out + 1] = body:sub(s, e)
      pos = e + 2
    elseif close == "/" then
      -- A closing tag without its opening: an unknown enclosing shortcode's end.
      ctx.unknown(lname)
      pos = e + 1
    else
      local a = shortcode_attrs(args)
      local self_closing = args:match("/%s*$")
      local cs, ce = nil, nil
      if not self_closing then cs, ce = body:find("[/" .. name .. "]", e + 1, true) end
      local inner = cs and body:sub(e + 1, cs - 1) or nil
      if conv then
        out[#out + 1] = conv(a, inner)
        pos = (ce or e) + 1
      else
        -- Unknown: a shortcode when it has attributes, a closing tag or a line of its own;
        -- otherwise bracketed words in running text ("[sic]"), left alone.
        local line_alone = (s == 1 or body:sub(s - 1, s - 1) == "\n") and (e == #body or body:sub(e + 1, e + 1):match("[\r\n]"))
        if cs or args:find("=", 1, true) or line_alone then
          ctx.unknown(lname)
          if inner then out[#out + 1] = inner end
          pos = (ce or e) + 1
        else
          out[#out + 1] = body:sub(s, e)
          pos = e + 1
        end
      end
    end
  end
  out[#out + 1] = body:sub(pos)
  return table.concat(out)
end

-- Block-editor and classic HTML made safe for Markdown + the sanitiser: block comments go (a
-- dynamic block, which has no HTML, is reported), embeds become links, <h1> becomes <h2> (the
-- page's title is its h1, and the sanitiser would unwrap it into the next paragraph), <address>
-- becomes a paragraph.
local function blocks(body, note)
  local dynamic = {}
  body = body:gsub("<!%-%- wp:([%w/%-]+)([^\n]-)/%-%->", function(name, json)
    dynamic[#dynamic + 1] = name
    return ""
  end)
  if #dynamic > 0 then
    local n, order = {}, {}
    for _, name in ipairs(dynamic) do
      if not n[name] then order[#order + 1] = name end
      n[name] = (n[name] or 0) + 1
    end
    for i, name in ipairs(order) do order[i] = n[name] > 1 and (name .. " ×" .. n[name]) or name end
    note(("dynamic blocks (made by WordPress at view time, no HTML stored) removed: %s"):format(table.concat(order, ", ")))
  end
  body = body:gsub("<!%-%- /?wp:[^\n]- %-%->", "")
  body = body:gsub('(<div class="wp%-block%-embed__wrapper">)%s*(https?://[^%s<]+)%s*(</div>)', function(open, url, close)
    url = html_amp(url) -- HTML text: "&amp;" there is one "&" of the URL
    return open .. ('<a href="%s">%s</a>'):format(attr(url), esc(url)) .. close
  end)
  body = body:gsub("<(/?)[hH]1([%s>])", "<%1h2%2")
  body = body:gsub("<[aA][dD][dD][rR][eE][sS][sS]([%s>])", "<p%1"):gsub("</[aA][dD][dD][rR][eE][sS][sS]>%s*", "</p>\n\n")
  -- Lines left blank by removed comments would split HTML blocks into Markdown paragraphs.
  body = body:gsub("\n[ \t]*\n[ \t]*\n+", "\n\n")
  return body
end

-- A title as text: tags stripped, entities decoded (through the HTML parser).
local text_only = setmetatable({}, { __mode = "k" }) -- quire -> compiled policy
local function plain_title(quire, s)
  if not s:find("[<&]") then return s end
  text_only[quire] = text_only[quire] or quire.html.policy { elements = {} }
  local stripped = quire.html.sanitize(s, text_only[quire]) or s
  return (stripped:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&#39;", "'"):gsub("&amp;", "&"))
end

-- A caption as one line of text for a ```gallery block (quire.media renders and escapes it).
local function gallery_caption(quire, s)
  return (plain_title(quire, s or ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

-- The audit log's detail of a comment's moderation made by the import.
local FROM_WORDPRESS = "from the WordPress export"

-- Report kinds in the order they are printed.
local BASE_KINDS = { "author", "category", "tag", "post", "page", "attachment", "comment", "pingback", "trackback" }

-- Imports the WXR file at path. opts.dry_run: everything is done and rolled back. Returns the
-- report: { counts = { kind = { seen, created, updated, unchanged, skipped } }, notes = {...},
-- redirects = n, dry_run = bool }.
function M.import(quire, path, opts)
  opts = opts or {}
  local root = parse(path)
  local rss = child(root, "rss")
  local channel = rss and child(rss, "channel")
  if not channel then errors.raise("invalid", path .. " is not a WordPress export (no rss/channel)") end
  local version = text(channel, "wp:wxr_version")
  if not version then
    errors.raise("invalid", path .. " is an RSS file but not a WordPress export (no wp:wxr_version): export with Tools > Export in WordPress")
  end
  local site = quire._site
  local db = site.db
  local base = (text(channel, "wp:base_blog_url") or text(channel, "link") or ""):gsub("/+$", "")
  local KINDS = table.move(BASE_KINDS, 1, #BASE_KINDS, 1, {})
  local report = { counts = {}, notes = {}, redirects = 0, dry_run = opts.dry_run and true or false, kinds = KINDS }
  for _, k in ipairs(KINDS) do report.counts[k] = { seen = 0, created = 0, updated = 0, unchanged = 0, skipped = 0 } end
  if not version:match("^1%.[012]$") then
    report.notes[#report.notes + 1] = ("export: WXR version %s (this importer knows 1.0 to 1.2): read as 1.2"):format(version)
  end
  local function count(kind, what)
    local c = report.counts[kind]
    if not c then
      c = { seen = 0, created = 0, updated = 0, unchanged = 0, skipped = 0 }
      report.counts[kind] = c
      KINDS[#KINDS + 1] = kind
    end
    c.seen = c.seen + (what == "seen" and 1 or 0)
    if what ~= "seen" then c[what] = c[what] + 1 end
  end
  local function note(where, msg) report.notes[#report.notes + 1] = where .. ": " .. msg end

  local function mapped(kind, key)
    local r = db:row("SELECT local_id FROM import_map WHERE source = ? AND kind = ? AND key = ?", SOURCE, kind, key)
    return r and r.local_id
  end
  local function map(kind, key, ext, guid, id)
    db:exec("INSERT INTO import_map (source, kind, key, ext_id, guid, local_id) VALUES (?, ?, ?, ?, ?, ?)"
      .. " ON CONFLICT (source, kind, key) DO UPDATE SET ext_id = excluded.ext_id, guid = excluded.guid, local_id = excluded.local_id",
      SOURCE, kind, key, ext, guid, id)
  end
  local redirect_seen = {}
  local redirects = require "quire.redirects"
  -- from -> to (a path or URL) or entry (an id, whose permalink is now). A form equal to the
  -- new URL (Quire's article permalink is WordPress's /YYYY/MM/slug/) is not a redirect.
  local function redirect(from, to, entry, new_url)
    local key, why
    if from then key, why = redirects.key(from) end
    if not key then
      -- (said, as a link to it is lost: a dot segment, a stray %, more than one query pair)
      if why and from ~= "/" and not redirect_seen[from] then
        redirect_seen[from] = true
        note("redirect " .. from, "not added: " .. why)
      end
      return
    end
    if redirect_seen[key] then return end
    if redirects.key(to or new_url or "") == key then return end
    redirect_seen[key] = true
    local was = db:row("SELECT to_path, to_entry FROM redirects WHERE from_path = ?", key)
    if was and (was.to_path ~= to or was.to_entry ~= entry) then
      note("redirect " .. key, ("pointed at %s, now at %s (another item of the same site had this URL)"):format(
        was.to_path or ("entry " .. tostring(was.to_entry)), to or ("entry " .. tostring(entry))))
    end
    quire.redirects.add { from = from, to = to, entry = entry, source = SOURCE, replace = true }
    report.redirects = report.redirects + 1
  end

  local function run()
    -- A term's old archive URLs, added once the entries are in: only for tags that list a
    -- public entry (an empty archive has nothing to redirect to).
    local term_redirects = {}
    local function term_redirect(from, to) term_redirects[#term_redirects + 1] = { from, to } end

    -- Authors.
    local logins = {}
    for _, a in ipairs(children(channel, "wp:author")) do
      count("author", "seen")
      local wp_login = text(a, "wp:author_login")
      local login = login_for(wp_login)
      logins[wp_login] = login
      if not quire.users.get(login) then
        local email = text(a, "wp:author_email")
        local name = text(a, "wp:author_display_name")
        quire.users.create { login = login, name = name and name ~= "" and name or wp_login, email = email ~= "" and email or nil }
        count("author", "created")
      else
        count("author", "unchanged")
      end
      if login ~= wp_login then note("author " .. wp_login, "login is " .. login) end
    end

    -- Terms: categories become sections (with parents), tags tags. Quire finds terms by slug,
    -- so names that differ only in case (or punctuation) are one term.
    -- cat_name: a category's section's name; cat_tag: the name of the tag it also is (WordPress's).
    local cat_name, cat_tag, cat_by_slug, term_names, collided = {}, {}, {}, { section = {}, tag = {} }, {}
    local function term(taxonomy, name, kind, wp_slug, key)
      -- Imported before and renamed here since: the name given here stands.
      local before = key and mapped(kind, key)
      local renamed = before and db:row("SELECT id, name, slug FROM terms WHERE id = ? AND taxonomy = ?", before, taxonomy)
      if renamed and renamed.slug ~= core.slugify(name) then
        term_names[taxonomy][renamed.slug] = renamed.name
        term_names[taxonomy][core.slugify(name)] = renamed.name -- a category of that name as a tag too
        count(kind, "unchanged")
        return renamed.name, renamed.slug, renamed.id
      end
      local slug = core.slugify(name)
      if slug == "" then
        note(kind .. " " .. wp_slug, "its name " .. name .. " has no letter a-z (accents aside) or digit to make its URL from: left out")
        count(kind, "skipped")
        return nil
      end
      local seen = term_names[taxonomy][slug]
      if seen and seen ~= name then
        note(kind .. " " .. name, ("same term as %q (names are matched case-insensitively by slug): kept as %q"):format(seen, seen))
        count(kind, "unchanged")
        return seen, slug, db:row("SELECT id FROM terms WHERE taxonomy = ? AND slug = ?", taxonomy, slug).id
      end
      term_names[taxonomy][slug] = name
      local row = db:row("SELECT id, name FROM terms WHERE taxonomy = ? AND slug = ?", taxonomy, slug)
      if row then
        count(kind, "unchanged")
        if row.name ~= name then
          note(kind .. " " .. name, ("same term as the existing %q: kept as %q"):format(row.name, row.name))
          term_names[taxonomy][slug] = row.name
          return row.name, slug, row.id
        end
        return name, slug, row.id
      end
      local _, id = db:exec("INSERT INTO terms (taxonomy, slug, name) VALUES (?, ?, ?)", taxonomy, slug, name)
      count(kind, "created")
      return name, slug, id
    end
    local cats = children(channel, "wp:category")
    -- WordPress allows one name under two parents ("Foo A" and "Foo Parent > Foo A"); a Quire
    -- term's slug is its name's, so the second gets its parent's name added.
    local cat_names, cat_display = {}, {}
    for _, c in ipairs(cats) do
      local nicename = url_decode(text(c, "wp:category_nicename") or "")
      local name = text(c, "wp:cat_name") or nicename
      local s = core.slugify(name)
      if cat_names[s] and s ~= "" then
        local parent = text(c, "wp:category_parent") or ""
        local pname
        for _, p in ipairs(cats) do if text(p, "wp:category_nicename") == parent then pname = text(p, "wp:cat_name") end end
        local renamed = pname and ("%s (%s)"):format(name, pname) or ("%s (%s)"):format(name, nicename)
        note("category " .. nicename, ("another category is named %q: kept as %q"):format(name, renamed))
        name = renamed
      end
      cat_names[core.slugify(name)] = true
      cat_display[c] = name
    end
    for _, c in ipairs(cats) do
      count("category", "seen")
      local nicename = url_decode(text(c, "wp:category_nicename") or "")
      local name, slug, id = term("section", cat_display[c], "category", nicename, base .. "#" .. nicename)
      if name then
        -- The tag the category also is: as it is named here now (renamed since the last import?).
        local was = mapped("tag", base .. "#tag-of:" .. nicename)
        local tag_row = was and db:row("SELECT name FROM terms WHERE id = ? AND taxonomy = 'tag'", was)
        cat_name[nicename], cat_tag[nicename] = name, tag_row and tag_row.name or cat_display[c]
        cat_by_slug[nicename] = { name = name, slug = slug, id = id, parent = text(c, "wp:category_parent") or "" }
        map("category", base .. "#" .. nicename, nicename, nil, id)
      end
    end
    -- Parents, once every category exists (an export may list a child first).
    local function depth_of(nicename)
      local d, cur, guard = 0, cat_by_slug[nicename], 0
      while cur and cur.parent ~= "" and guard < 50 do
        d, guard = d + 1, guard + 1
        cur = cat_by_slug[url_decode(cur.parent)]
      end
      return d
    end
    for nicename, c in pairs(cat_by_slug) do
      local parent = c.parent ~= "" and cat_by_slug[url_decode(c.parent)]
      if c.parent ~= "" and not parent then note("category " .. c.name, "its parent " .. c.parent .. " is not in the export") end
      if parent and parent.id ~= c.id then
        db:exec("UPDATE terms SET parent_id = ? WHERE id = ?", parent.id, c.id)
      end
      -- /category/parent/child/ and /category/child/ both answered by the category's list.
      local segs, cur, guard = { nicename }, c, 0
      while cur and cur.parent ~= "" and guard < 50 do
        segs[#segs + 1], guard = url_decode(cur.parent), guard + 1
        cur = cat_by_slug[url_decode(cur.parent)]
      end
      local full = {}
      for i = #segs, 1, -1 do full[#full + 1] = segs[i] end
      for _, p in ipairs({ table.concat(full, "/"), nicename }) do
        term_redirect("/category/" .. p .. "/", "/tag/" .. c.slug)
        term_redirect("/category/" .. p .. "/feed/", "/tag/" .. c.slug .. "/feed.xml")
      end
    end
    for _, c in ipairs(cats) do
      local nicename = url_decode(text(c, "wp:category_nicename") or "")
      local id = text(c, "wp:term_id")
      if id and id:match("^%d+$") and cat_by_slug[nicename] then term_redirect("/?cat=" .. id, "/tag/" .. cat_by_slug[nicename].slug) end
    end
    local tag_name = {}
    for _, t in ipairs(children(channel, "wp:tag")) do
      count("tag", "seen")
      local wp_slug = url_decode(text(t, "wp:tag_slug") or "")
      local name, slug, id = term("tag", text(t, "wp:tag_name") or wp_slug, "tag", wp_slug, base .. "#tag:" .. wp_slug)
      if name then
        tag_name[wp_slug] = name
        map("tag", base .. "#tag:" .. wp_slug, wp_slug, nil, id)
        term_redirect("/tag/" .. wp_slug .. "/", "/tag/" .. slug)
        term_redirect("/tag/" .. wp_slug .. "/feed/", "/tag/" .. slug .. "/feed.xml")
      end
    end

    -- Attachments first (featured images and galleries refer to them), then pages parents
    -- first (a child's permalink holds its parents' slugs), then posts.
    local items = children(channel, "item")
    if #items > ITEMS_MAX then errors.raise("invalid", ("the export holds %d items, more than %d"):format(#items, ITEMS_MAX)) end
    local media, media_of, by_id = {}, {}, {}
    for _, item in ipairs(items) do
      local wp_id = text(item, "wp:post_id") or ""
      by_id[wp_id] = item
      if text(item, "wp:post_type") == "attachment" then
        local alt, caption = nil, text(item, "excerpt:encoded")
        for _, pm in ipairs(children(item, "wp:postmeta")) do
          if text(pm, "wp:meta_key") == "_wp_attachment_image_alt" then alt = text(pm, "wp:meta_value") end
        end
        local url = text(item, "wp:attachment_url") or ""
        media[wp_id] = { url = url, title = plain_title(quire, text(item, "title") or ""), alt = alt, caption = caption,
          parent = text(item, "wp:post_parent") or "0" }
        local list = media_of[media[wp_id].parent] or {}
        list[#list + 1] = wp_id
        media_of[media[wp_id].parent] = list
      end
    end
    -- --uploads DIR: the attachments' files into the media library, each checked and
    -- re-encoded as quire media add does (a dry run only looks for them).
    local by_url = {}
    for wp_id, m in pairs(media) do
      if m.url ~= "" then by_url[m.url] = m end
      if opts.uploads and m.url ~= "" then
        count("library file", "seen")
        local file = upload_file(opts.uploads, m.url)
        if not file then
          count("library file", "skipped")
          note("attachment " .. wp_id, "no file for " .. m.url .. " in " .. opts.uploads .. ": kept its URL")
        elseif opts.dry_run then
          count("library file", "created")
        else
          local row, created = quire.media.add(file, { alt = m.alt and m.alt:sub(1, 1000) or nil,
            caption = m.caption and gallery_caption(quire, m.caption):sub(1, 2000) or nil }, file:match("([^/]+)$"))
          if row then
            m.media_id, m.lib_url = row.id, row.url
            count("library file", created and "created" or "unchanged")
          else
            count("library file", "skipped")
            note("attachment " .. wp_id, tostring(created) .. ": kept its URL")
          end
        end
      end
    end
    -- An image URL in a body: the attachment's own, or one of WordPress's resized copies of it
    -- (name-300x200.jpg).
    local function media_by_url(src)
      if type(src) ~= "string" then return nil end
      return by_url[src] or by_url[(src:gsub("%-%d+x%d+(%.%w+)$", "%1"))]
    end

    local entry_of, live = {}, {} -- WordPress id -> entry id; permalink key -> entry id
    -- A page's parents' slugs, parent first; nil when it has none. Guarded against cycles.
    local function parents_of(item, slug_for)
      local segs, cur, guard = {}, item, 0
      while true do
        local parent = text(cur, "wp:post_parent") or "0"
        local p = parent ~= "0" and by_id[parent]
        if not p or text(p, "wp:post_type") ~= "page" then break end
        guard = guard + 1
        if guard > 6 then return nil, "more than 6 parents (or a loop): placed under its 6 nearest" end
        table.insert(segs, 1, slug_for(p))
        cur = p
      end
      return segs
    end

    local ordered = {}
    for _, item in ipairs(items) do
      local pt = text(item, "wp:post_type")
      if pt == "page" then ordered[#ordered + 1] = item end
    end
    local function page_depth(item)
      local d, cur, guard = 0, item, 0
      while guard < 50 do
        local p = by_id[text(cur, "wp:post_parent") or "0"]
        if not p or text(p, "wp:post_type") ~= "page" then break end
        d, cur, guard = d + 1, p, guard + 1
      end
      return d
    end
    local depth = {}
    for _, item in ipairs(ordered) do depth[item] = page_depth(item) end
    table.sort(ordered, function(a, b)
      if depth[a] ~= depth[b] then return depth[a] < depth[b] end
      return (tonumber(text(a, "wp:post_id")) or 0) < (tonumber(text(b, "wp:post_id")) or 0)
    end)
    for _, item in ipairs(items) do
      if text(item, "wp:post_type") == "post" then ordered[#ordered + 1] = item end
    end

    local final_slug = {}
    local function import_item(item)
      local post_type = text(item, "wp:post_type")
      local wp_id = text(item, "wp:post_id") or ""
      local guid = text(item, "guid")
      local qtype = post_type == "page" and "page" or "article"
      local t = site.types:get(qtype)
      count(post_type, "seen")
      local raw_title = text(item, "title") or ""
      local title = plain_title(quire, raw_title):gsub("^%s+", ""):gsub("%s+$", "")
      local where = ("%s %s %q"):format(post_type, wp_id, title)
      -- (an entity, "&amp;" as WordPress writes "&", is text: decoding it removes nothing)
      if title ~= raw_title and raw_title:find("<[%a/!]") then note(where, "markup in the title removed") end
      if title == "" then
        title = "Untitled " .. wp_id
        note(where, "no title: named " .. title)
      end
      if utf8.len(title) and utf8.len(title) > site.limits.title_max then
        title = title:sub(1, utf8.offset(title, site.limits.title_max + 1) - 1)
        note(where, ("title shortened to %d characters"):format(site.limits.title_max))
      end
      -- Its identity: GUID and id (two exports of one site may reuse ids, one export GUIDs).
      local key = ((guid and guid:match("%S")) and guid or base) .. "#" .. wp_id
      local existing = mapped("post", key)
      if existing and not db:row("SELECT id FROM entries WHERE id = ?", existing) then existing = nil end

      -- Slug: WordPress's (percent-decoded, then made ASCII), unique within the type.
      local wp_slug = url_decode(text(item, "wp:post_name") or "")
      local slug = core.slugify(wp_slug ~= "" and wp_slug or title, 190)
      if slug == "" then slug = qtype .. "-" .. wp_id end
      if wp_slug ~= "" and slug ~= wp_slug then note(where, ("slug %q is %q here (a-z, 0-9 and -)"):format(wp_slug, slug)) end
      local taken = db:row("SELECT id FROM entries WHERE type = ? AND slug = ?", qtype, slug)
      if taken and taken.id ~= existing then
        slug = slug .. "-" .. wp_id
        note(where, "slug taken: now " .. slug)
      end
      final_slug[wp_id] = slug

      -- Status: nothing WordPress kept from readers becomes public here.
      local wp_status = text(item, "wp:status") or "draft"
      local status = STATUS[wp_status] or "draft"
      if not STATUS[wp_status] then note(where, ("status %q unknown: imported as a draft"):format(wp_status)) end
      local password = text(item, "wp:post_password") or ""
      if password ~= "" and status ~= "draft" then
        status = "draft"
        note(where, "password-protected: imported as a draft (not public); its password is not kept")
      elseif wp_status == "private" then
        note(where, "private: imported as a draft (not public)")
      end
      local published = gmt(text(item, "wp:post_date_gmt"))
      local created = published or gmt(text(item, "wp:post_date"))
      local modified = gmt(text(item, "wp:post_modified_gmt")) or created
      if (status == "published" or status == "scheduled") and not published then
        published = created or time.now()
        note(where, "no GMT publication date: used " .. published)
      end

      -- Terms.
      local tags, cats_of, format = {}, {}, nil
      local tag_seen = {}
      local function add_tag(name)
        local s = core.slugify(name)
        if s == "" or tag_seen[s] then return end
        tag_seen[s] = true
        local known = term_names.tag[s]
        if known and known ~= name and not collided[name] then
          collided[name] = true
          note("category " .. name, ("as a tag it is the tag %q (terms match case-insensitively by slug)"):format(known))
        end
        tags[#tags + 1] = known or name
      end
      for _, c in ipairs(children(item, "category")) do
        local nicename = url_decode(c.attrs.nicename or "")
        if c.attrs.domain == "post_tag" then
          add_tag(tag_name[nicename] or c.text)
        elseif c.attrs.domain == "category" then
          local name = cat_name[nicename]
          if not name then
            name = c.text
            local n, s = term("section", name, "category", nicename)
            if n then cat_name[nicename], cat_by_slug[nicename] = n, { name = n, slug = s, parent = "" } name = n end
          end
          cats_of[#cats_of + 1] = nicename
          add_tag(cat_tag[nicename] or name)
        elseif c.attrs.domain == "post_format" then
          format = nicename:match("^post%-format%-(.+)$") or nicename
        end
      end
      -- The section: the deepest of its categories (the first of those in the export's order).
      local section, best = nil, -1
      for _, n in ipairs(cats_of) do
        local d = depth_of(n)
        if d > best and cat_name[n] then section, best = cat_name[n], d end
      end
      local tmax = site.limits.tags_max
      if #tags > tmax then
        note(where, ("%d tags and categories: only the first %d kept (limits.tags_max)"):format(#tags, tmax))
        for i = #tags, tmax + 1, -1 do tags[i] = nil end
      end

      -- Fields the type has; what it lacks is reported.
      local fields = {}
      local function set(name, value, what)
        if value == nil then return end
        if t.fields[name] then fields[name] = value else note(where, what .. " dropped: type " .. qtype .. " has no field " .. name) end
      end
      local excerpt = text(item, "excerpt:encoded")
      if excerpt and excerpt:match("%S") then
        local plain = plain_title(quire, excerpt):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
        if utf8.len(plain) and utf8.len(plain) > 600 then plain = plain:sub(1, utf8.offset(plain, 601) - 1) note(where, "excerpt shortened to 600 characters") end
        set("standfirst", plain, "excerpt")
      end
      if format and format ~= "standard" then set("format", format, "post format " .. format) end
      if text(item, "wp:is_sticky") == "1" then set("sticky", true, "sticky") end
      if (text(item, "wp:comment_status") or "open") == "closed" and post_type == "post" then
        set("comments_closed", true, "comment_status=closed")
      end
      for _, pm in ipairs(children(item, "wp:postmeta")) do
        local key, value = text(pm, "wp:meta_key"), text(pm, "wp:meta_value")
        if key == "_thumbnail_id" then
          local m = media[value or ""]
          if m and m.media_id and t.fields.hero_media then
            set("hero_media", m.media_id, "featured image")
            -- A published article needs alt text: the attachment's, else its caption or title
            -- (reported: a person should describe the image).
            if not (m.alt and m.alt:match("%S")) then
              local stand_in = gallery_caption(quire, m.caption ~= nil and m.caption:match("%S") and m.caption or m.title)
              if stand_in ~= "" then
                set("hero_alt", stand_in:sub(1, 300), "featured image alt")
                note(where, ("featured image %s has no alt text: its %s stands in; describe it (quire media update %d --alt TEXT)"):format(
                  value, m.caption ~= nil and m.caption:match("%S") and "caption" or "title", m.media_id))
              end
            end
          elseif m and m.url ~= "" then
            set("hero_image", m.url, "featured image")
            if t.fields.hero_image then
              if m.alt and m.alt ~= "" then set("hero_alt", m.alt:sub(1, 300), "featured image alt") end
              if m.caption and m.caption:match("%S") then set("hero_caption", plain_title(quire, m.caption):sub(1, 500), "featured image caption") end
            end
          else
            note(where, "featured image " .. tostring(value) .. " is not in the export")
          end
        end
      end
      if post_type == "page" then
        local segs, why = parents_of(item, function(p) return final_slug[text(p, "wp:post_id") or ""] or "" end)
        if why then note(where, why) end
        if segs and #segs > 0 then
          local parent = entry_of[text(item, "wp:post_parent")]
          set("parent", parent, "page parent")
          set("path", table.concat(segs, "/"), "page parent")
        end
      end

      -- Body.
      local body = text(item, "content:encoded") or ""
      local unknown = {}
      body = blocks(body, function(msg) note(where, msg) end)
      local media_children = media_of[wp_id] or {}
      body = shortcodes(body, {
        media = media, children = media_children, by_url = media_by_url,
        caption = function(c) return gallery_caption(quire, c) end,
        children_media = function(kind)
          for _, id in ipairs(media_children) do
            local ext = (media[id].url:match("%.(%w+)$") or ""):lower()
            if MEDIA_EXT[ext] == kind then return media[id] end
          end
        end,
        note = function(msg) note(where, msg) end,
        unknown = function(name) unknown[name] = (unknown[name] or 0) + 1 end,
      })
      for name, n in pairs(unknown) do note(where, ("unknown shortcode [%s] removed (%d time%s; its inner text kept)"):format(name, n, n == 1 and "" or "s")) end
      if body:find("<!--more-->", 1, true) or body:find("<!--nextpage-->", 1, true) then
        note(where, "<!--more--> and <!--nextpage--> markers removed (one page per entry)")
      end
      body = quire.html.sanitize(body) or ""

      local creator = text(item, "dc:creator")
      local author = creator and logins[creator]
      if creator and creator ~= "" and not author then note(where, "author " .. creator .. " is not in the export's authors") end
      local spec = {
        title = title, slug = slug, body = body, status = status,
        published_at = (status == "published" or status == "scheduled") and published or nil,
        author = author and quire.users.get(author) and author or nil,
        tags = tags, section = section or false, fields = fields,
      }
      local id
      local cur = existing and quire.content.get(existing)
      -- Saved here after its last change in WordPress (the import gives an entry WordPress's
      -- date, a save here the time of the save), or trashed here: the newsroom's version stays.
      local kept = cur and (cur.status == "trash" or (modified ~= nil and cur.updated_at > modified))
      if kept then
        id = existing
        note(where, ("changed here (%s) after its last change in WordPress (%s): kept as it is, not updated")
          :format(cur.status == "trash" and "trashed" or cur.updated_at, modified or "no date"))
        count(post_type, "skipped")
      elseif existing then
        local same = cur.title == spec.title and cur.slug == spec.slug and cur.body == spec.body and cur.status == spec.status
          and cur.published_at == spec.published_at and (cur.section or false) == spec.section
          and #cur.tags == #spec.tags
        if same then
          for i, name in ipairs(cur.tags) do if core.slugify(name) ~= core.slugify(spec.tags[i]) then same = false end end
          for k, v in pairs(spec.fields) do if cur.fields[k] ~= v then same = false end end
          for k in pairs(cur.fields) do if spec.fields[k] == nil then same = false end end
        end
        id = existing
        if same then
          count(post_type, "unchanged")
        else
          for k in pairs(cur.fields) do if spec.fields[k] == nil then spec.fields[k] = cjson.null end end
          quire.content.update(id, spec)
          count(post_type, "updated")
        end
      else
        spec.type = qtype
        if spec.section == false then spec.section = nil end
        id = quire.content.create(spec)
        count(post_type, "created")
      end
      -- WordPress's own dates, not the import's.
      if created and not kept then db:exec("UPDATE entries SET created_at = ?, updated_at = ? WHERE id = ?", created, modified, id) end
      map("post", key, wp_id, guid, id)
      entry_of[wp_id] = id
      local new_url = quire.content.url(quire.content.get(id))
      live[redirects.key(new_url) or new_url] = id
      local function to_entry(from) redirect(from, nil, id, new_url) end

      -- The old URLs: every form WordPress answered for this entry.
      local old = path_of(text(item, "link"))
      if old and old:find("?", 1, true) then old = nil end -- a draft's link is ?p=ID
      to_entry(post_type == "page" and ("/?page_id=" .. wp_id) or ("/?p=" .. wp_id))
      if post_type == "page" then to_entry("/?p=" .. wp_id) end
      if old then to_entry(old) to_entry(old:gsub("/*$", "/") .. "feed/") end
      local date = published or created
      local y, mo, d = (date or ""):match("^(%d+)-(%d+)-(%d+)")
      if post_type == "post" and y and wp_slug ~= "" then
        local enc = text(item, "wp:post_name")
        to_entry(("/%s/%s/%s/"):format(y, mo, enc))
        to_entry(("/%s/%s/%s/%s/"):format(y, mo, d, enc))
        -- /slug/ (a "post name" permalink), unless a page answers there.
        if not db:row("SELECT id FROM entries WHERE type = 'page' AND slug = ?", core.slugify(url_decode(enc))) then
          to_entry(("/%s/"):format(enc))
        end
      end
      for _, pm in ipairs(children(item, "wp:postmeta")) do
        if text(pm, "wp:meta_key") == "_wp_old_slug" and y then
          local s = text(pm, "wp:meta_value") or ""
          if s ~= "" then to_entry(("/%s/%s/%s/%s/"):format(y, mo, d, s)) to_entry(("/%s/%s/%s/"):format(y, mo, s)) end
        end
      end

      -- Comments, oldest first, parents before replies (WordPress ids grow with time).
      local comments = children(item, "wp:comment")
      table.sort(comments, function(a, b) return (tonumber(text(a, "wp:comment_id")) or 0) < (tonumber(text(b, "wp:comment_id")) or 0) end)
      local comment_ids = {}
      for _, c in ipairs(comments) do
        local ctype = text(c, "wp:comment_type") or ""
        local cid_wp = text(c, "wp:comment_id") or ""
        if ctype == "pingback" or ctype == "trackback" then
          count(ctype, "seen")
          count(ctype, "skipped")
          note(where, ("%s from %s not imported (Quire comments have no %s kind)"):format(ctype, text(c, "wp:comment_author_url") or "?", ctype))
        elseif ctype == "" or ctype == "comment" then
          count("comment", "seen")
          local done = mapped("comment", key .. "#comment-" .. cid_wp)
          local had = done and db:row("SELECT id, status FROM comments WHERE id = ?", done)
          if had then
            comment_ids[cid_wp] = done
            -- Moderated in WordPress since the last import: the new state, through moderation;
            -- unless moderated here since (the newest audit row is not an import's): that stays.
            local cstatus = COMMENT_STATUS[text(c, "wp:comment_approved") or "0"] or "held"
            local last = db:row("SELECT detail FROM audit_log WHERE subject = ? ORDER BY id DESC LIMIT 1", "comment:" .. done)
            if had.status ~= cstatus and last and last.detail ~= FROM_WORDPRESS then
              note(where, ("comment %s: moderated here (%s): kept, not made %s as in WordPress"):format(cid_wp, had.status, cstatus))
              count("comment", "skipped")
            elseif had.status ~= cstatus then
              quire.comments.set_status(done, cstatus, FROM_WORDPRESS)
              count("comment", "updated")
            else
              count("comment", "unchanged")
            end
          else
            local email = text(c, "wp:comment_author_email") or ""
            if email == "" then email = "unknown@invalid.example" end
            local url = text(c, "wp:comment_author_url") or ""
            local parent = comment_ids[text(c, "wp:comment_parent") or "0"]
            local cstatus = COMMENT_STATUS[text(c, "wp:comment_approved") or "0"] or "held"
            local cid = quire.comments.create {
              entry = id, parent = parent, author_name = (text(c, "wp:comment_author") or ""):match("%S") and text(c, "wp:comment_author") or "Anonymous",
              author_email = email, author_url = url:match("^https?://") and url or nil,
              body = text(c, "wp:comment_content") or "", status = cstatus,
            }
            local when = gmt(text(c, "wp:comment_date_gmt"))
            if when then db:exec("UPDATE comments SET created_at = ? WHERE id = ?", when, cid) end
            comment_ids[cid_wp] = cid
            map("comment", key .. "#comment-" .. cid_wp, cid_wp, nil, cid)
            count("comment", "created")
          end
        else
          count(ctype, "seen")
          count(ctype, "skipped")
          note(where, ("comment %s of type %q not imported"):format(cid_wp, ctype))
        end
      end
      if #comments > 0 and post_type == "page" then
        note(where, "has comments: kept, though the comments plugin shows none on pages (skip_types)")
      end
    end

    for _, item in ipairs(ordered) do import_item(item) end
    -- Each category's tag (made by the posts' saves), known by id for the next import.
    for nicename, name in pairs(cat_tag) do
      local t = db:row("SELECT id FROM terms WHERE taxonomy = 'tag' AND slug = ?", core.slugify(term_names.tag[core.slugify(name)] or name))
      if t then map("tag", base .. "#tag-of:" .. nicename, nicename, nil, t.id) end
    end
    -- An old URL of one item may be another's new permalink (WordPress's /2024/02/slug/ of a
    -- post whose slug was taken here): the entry answering there wins.
    for key, id in pairs(live) do
      local r = db:row("SELECT id, to_entry FROM redirects WHERE from_path = ?", key)
      if r and r.to_entry ~= id then
        db:exec("DELETE FROM redirects WHERE id = ?", r.id)
        report.redirects = report.redirects - 1
        note("redirect " .. key, ("not made: entry %d answers there"):format(id))
      end
    end

    -- Everything else: attachments as media records; other types (menus, blocks) reported.
    for _, item in ipairs(items) do
      local pt = text(item, "wp:post_type") or "?"
      local wp_id = text(item, "wp:post_id") or ""
      if pt == "attachment" then
        count("attachment", "seen")
        local m = media[wp_id]
        if m.url == "" then
          count("attachment", "skipped")
          note("attachment " .. wp_id, "no URL: left out")
        else
          local guid = text(item, "guid")
          local source = "wordpress:" .. ((guid and guid:match("%S")) and guid or base) .. "#" .. wp_id
          local had = db:row("SELECT id FROM media WHERE source = ?", source)
          if m.media_id then
            -- The file is in the library: its row is the attachment's record (a record of the
            -- URL alone, from an import without --uploads, gives way to it).
            if had and had.id ~= m.media_id then db:exec("DELETE FROM media WHERE id = ? AND hash IS NULL", had.id) end
            db:exec("UPDATE media SET source = coalesce(source, ?), entry_id = coalesce(entry_id, ?) WHERE id = ?"
              .. " AND NOT EXISTS (SELECT 1 FROM media WHERE source = ? AND id <> ?)", source, entry_of[m.parent], m.media_id, source, m.media_id)
          else
            db:exec("INSERT INTO media (url, title, entry_id, source, created_at) VALUES (?, ?, ?, ?, ?)"
              .. " ON CONFLICT (source) DO UPDATE SET url = excluded.url, title = excluded.title, entry_id = excluded.entry_id",
              m.url, m.title, entry_of[m.parent], source, gmt(text(item, "wp:post_date_gmt")) or time.now())
          end
          count("attachment", had and "unchanged" or "created")
          -- The attachment's page and ?attachment_id go to the file itself (ours when we have it).
          local target = m.lib_url or m.url
          redirect("/?attachment_id=" .. wp_id, target)
          local old = path_of(text(item, "link"))
          if old and not old:find("?", 1, true) then redirect(old, target) end
        end
      elseif pt ~= "post" and pt ~= "page" then
        count(pt, "seen")
        count(pt, "skipped")
      end
    end
    for _, k in ipairs(KINDS) do
      if k ~= "post" and k ~= "page" and k ~= "attachment" and k ~= "comment" and k ~= "pingback" and k ~= "trackback"
        and k ~= "author" and k ~= "category" and k ~= "tag" and k ~= "library file" and report.counts[k].skipped > 0 then
        note(k, ("%d item(s) of this kind not imported (Quire has no equivalent)"):format(report.counts[k].skipped))
      end
    end

    local unused = 0
    for _, r in ipairs(term_redirects) do
      local slug = r[2]:match("^/tag/([^/]+)")
      if db:row("SELECT 1 AS x FROM entry_terms et JOIN terms t ON t.id = et.term_id JOIN entries e ON e.id = et.entry_id"
        .. " WHERE t.taxonomy = 'tag' AND t.slug = ? AND e.status = 'published' LIMIT 1", slug) then
        redirect(r[1], r[2])
      else
        unused = unused + 1
      end
    end
    if unused > 0 then note("terms", ("%d old archive URLs of tags and categories without a public entry get no redirect"):format(unused)) end

    -- Authors' archives and the site's feeds.
    for wp_login, login in pairs(logins) do
      redirect("/author/" .. wp_login .. "/", "/author/" .. login)
      redirect("/author/" .. wp_login .. "/feed/", "/feed.xml")
    end
    for _, p in ipairs({ "/feed/", "/feed/rss/", "/feed/rss2/", "/feed/atom/", "/rss/", "/comments/feed/", "/?feed=rss2", "/?feed=rss", "/?feed=atom" }) do
      redirect(p, p:find("atom") and "/atom.xml" or "/feed.xml")
    end
  end

  local DRY = {}
  local ok, err = pcall(quire.store.transaction, function()
    run()
    quire._site.bump({ [require("quire.memo").ALL] = true }) -- rows written beside the content API: no memoised read stays
    if opts.dry_run then error(DRY, 0) end
  end)
  if not ok and err ~= DRY then error(err, 0) end
  return report
end

local PLURAL = { author = "authors", category = "categories", tag = "tags", post = "posts", page = "pages",
  attachment = "attachments", comment = "comments", pingback = "pingbacks", trackback = "trackbacks",
  ["library file"] = "library files" }

-- The report as lines of text.
function M.format(report)
  local KINDS = report.kinds
  local lines = {}
  lines[1] = report.dry_run and "dry run: nothing was written" or "imported"
  for _, k in ipairs(KINDS) do
    local c = report.counts[k]
    if c and c.seen > 0 then
      lines[#lines + 1] = ("  %-15s %5d  (created %d, updated %d, unchanged %d, not imported %d)"):format(PLURAL[k] or k, c.seen,
        c.created, c.updated, c.unchanged, c.skipped)
    end
  end
  lines[#lines + 1] = ("  %-15s %5d"):format("redirects", report.redirects)
  if #report.notes > 0 then
    lines[#lines + 1] = ("changed or dropped (%d):"):format(#report.notes)
    for _, n in ipairs(report.notes) do lines[#lines + 1] = "  " .. n end
  end
  return table.concat(lines, "\n")
end

return M
