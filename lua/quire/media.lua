-- quire.media: the media library. Images are checked and re-encoded by the C core (libvips,
-- core/media.c) into DIR/media/ab/cdef…-W.webp and -W.jpg|png (ab cdef…: the SHA-256 of the
-- original), deduplicated by that hash; the media table holds what pages need (alt, caption,
-- credit, focal point, size, colour, who uploaded). Served by the static path under /media/.
local auth = require "quire.auth"
local core = require "quire.core"
local json = require "quire.json"
local store_sql = require "quire.store_sql"
local time = require "quire.time"

local M = {}

local TEXT_MAX = { alt = 1000, caption = 2000, credit = 300 }
local TITLE_MAX = 200
local MIME = { jpeg = "image/jpeg", png = "image/png", webp = "image/webp" }
-- Extensions that name an image format: a file whose name says one and whose bytes are another
-- is refused (the name lies; maybe the file is not what the uploader thinks).
local EXT_FORMAT = { jpg = "jpeg", jpeg = "jpeg", jpe = "jpeg", png = "png", webp = "webp", gif = "gif",
  svg = "svg", svgz = "svg", avif = "avif", heic = "heic", tif = "tiff", tiff = "tiff", bmp = "bmp" }
local COLUMNS = "id, url, title, mime, hash, format, width, height, widths, colour, alt, caption, credit, avif, "
  .. "focal_x, focal_y, uploaded_by, user_id, entry_id, source, created_at"

function M.valid_widths(v)
  if type(v) ~= "table" or #v < 1 or #v > 16 then return false end
  for k in pairs(v) do if math.type(k) ~= "integer" or k < 1 or k > #v then return false end end
  for i, w in ipairs(v) do
    if math.type(w) ~= "integer" or w < 16 or w > 10000 or (i > 1 and w <= v[i - 1]) then return false end
  end
  return true
end

-- Rendered bodies kept per process: a couple of thousand stories; a longer one is not kept.
local BODY_MEMO_BYTES, BODY_ITEM_MAX = 16 * 1024 * 1024, 256 * 1024

M.SHARE_WIDTH = 1200 -- link previews want about this (OpenGraph's 1200 x 630)

-- The site's media folder (site.lua media_dir: DIR/media unless set; one folder shared by every
-- node of a site) and the URL path prefix it is served under.
function M.dir(cfg) return cfg.media_path or (cfg.dir .. "/media") end
M.PREFIX = "/media/"

local function opts(cfg)
  return { max_bytes = cfg.limits.media_bytes, max_pixels = cfg.limits.media_pixels, widths = cfg.image_widths }
end

-- The URL path of one variant of a stored image: ext "webp" or the original's ("jpg", "png").
function M.src(row, width, ext)
  return ("%s%s/%s-%d.%s"):format(M.PREFIX, row.hash:sub(1, 2), row.hash:sub(3), width, ext)
end

local function ext_of(format) return format == "jpeg" and "jpg" or format end

-- The stored [[w, h], ...] with whole numbers (cjson reads numbers as floats).
local function widths_of(row)
  local out = {}
  for i, wh in ipairs(json.decode(row.widths)) do out[i] = { math.tointeger(wh[1]), math.tointeger(wh[2]) } end
  return out
end

-- A stored row as a plain table for people and templates: the variants with their URLs.
function M.view(row)
  if not row then return nil end
  local v = {}
  for k, x in pairs(row) do v[k] = x end
  v.widths = nil
  v.variants = json.list()
  if row.hash then
    for _, wh in ipairs(widths_of(row)) do
      v.variants[#v.variants + 1] = { width = wh[1], height = wh[2], webp = M.src(row, wh[1], "webp"),
        src = M.src(row, wh[1], ext_of(row.format)) }
    end
  end
  return v
end

-- Checks alt, caption, credit and focal ("X,Y" from 0 to 1, or {x, y}); returns the columns to
-- write or nil and the first problem.
local function check_meta(meta)
  local out = {}
  for k, max in pairs(TEXT_MAX) do
    local s = meta[k]
    if s ~= nil then
      if type(s) ~= "string" then return nil, ("%s must be text"):format(k) end
      if not utf8.len(s) then return nil, ("%s is not valid UTF-8"):format(k) end
      if utf8.len(s) > max then return nil, ("%s is %d characters; at most %d"):format(k, utf8.len(s), max) end
      if s:find("[%z\1-\8\11\12\14-\31\127]") then return nil, ("%s contains control characters"):format(k) end
      out[k] = core.trim(s)
    end
  end
  if meta.focal ~= nil then
    local x, y
    if type(meta.focal) == "string" then
      x, y = meta.focal:match("^%s*([%d.]+)%s*,%s*([%d.]+)%s*$")
      x, y = tonumber(x), tonumber(y)
    elseif type(meta.focal) == "table" then
      x, y = tonumber(meta.focal[1] or meta.focal.x), tonumber(meta.focal[2] or meta.focal.y)
    end
    if not x or not y or x < 0 or x > 1 or y < 0 or y > 1 then
      return nil, ("focal point %q: give X,Y from 0 to 1 (0.5,0.5 is the centre; 0,0 the top left)"):format(tostring(meta.focal))
    end
    out.focal_x, out.focal_y = x, y
  end
  return out
end

-- A name fit to show as a title: the last path part, control characters and odd spaces gone,
-- bounded. The name never reaches the file system (files are named by hash).
local function title_of(path)
  local base = path:match("([^/]*)$")
  base = base:gsub("[%z\1-\31\127]", ""):gsub("%.[^.]*$", "")
  if not utf8.len(base) then base = base:gsub("[\128-\255]", "") end
  base = core.trim(base)
  if utf8.len(base) > TITLE_MAX then base = base:sub(1, utf8.offset(base, TITLE_MAX + 1) - 1) end
  return base
end

-- The media ids in an entry's media fields (a "media" field, or a list of them), by field.
local function media_ids(t, fields)
  local out = {}
  for _, name in ipairs(t.field_order) do
    local f, v = t.fields[name], fields[name]
    if f.type == "media" and math.tointeger(v) then
      out[#out + 1] = { field = name, id = math.tointeger(v), spec = f }
    elseif f.type == "list" and f.item and f.item.type == "media" and type(v) == "table" then
      for _, x in ipairs(v) do
        if math.tointeger(x) then out[#out + 1] = { field = name, id = math.tointeger(x), spec = f } end
      end
    end
  end
  return out
end

-- For a type with require_alt: the errors of a published entry whose images lack alt text
-- (the media's own, or the entry's text in the field's alt_field).
function M.missing_alt(db, t, fields_json)
  local errs = {}
  if type(fields_json) ~= "string" then return errs end
  local fields = json.decode(fields_json)
  for _, ref in ipairs(media_ids(t, fields)) do
    local own = ref.spec.alt_field and fields[ref.spec.alt_field]
    if type(own) ~= "string" or core.trim(own) == "" then
      local r = db:row("SELECT alt FROM media WHERE id = ?", ref.id)
      if r and core.trim(r.alt) == "" then
        errs[#errs + 1] = { field = "fields." .. ref.field, message = ("media %d has no alt text, which a published %s needs: "
          .. "describe the image (in the admin's media library, /admin/media/%d, or quire media update %d --alt TEXT)%s"):format(ref.id, t.label or t.name, ref.id, ref.id,
          ref.spec.alt_field and (" or set " .. ref.spec.alt_field) or "") }
      end
    end
  end
  return errs
end

function M.new(site, db)
  local api = {}
  local cfg = site.config

  -- An image as pages show it: its row, and for stored files their widths and the srcsets in
  -- each format, memoised until a write bumps "media:ID" (quire.memo; one not found, until any
  -- write): a front shows dozens of pictures, each formatting a URL per width and format.
  -- Shared: no caller changes it.
  local function shown_of(id)
    local row = db:row("SELECT " .. COLUMNS .. " FROM media WHERE id = ?", id)
    if not row then return nil end
    local shown = { row = row }
    if row.hash then
      local src, webp, avif = {}, {}, {}
      local widths = widths_of(row)
      for i, wh in ipairs(widths) do
        src[i] = M.src(row, wh[1], ext_of(row.format)) .. " " .. wh[1] .. "w"
        webp[i] = M.src(row, wh[1], "webp") .. " " .. wh[1] .. "w"
        avif[i] = M.src(row, wh[1], "avif") .. " " .. wh[1] .. "w"
      end
      local top = widths[#widths]
      shown.widths, shown.top = widths, top
      shown.src = M.src(row, top[1], ext_of(row.format))
      shown.srcset, shown.webp_srcset, shown.avif_srcset = table.concat(src, ", "), table.concat(webp, ", "), table.concat(avif, ", ")
    end
    return shown
  end
  local function media_tag(shown) return shown and "media:" .. shown.row.id end
  local function shown_image(id) return site.memo.tagged("media\0" .. id, media_tag, shown_of, id) end

  -- Adds the image at path with meta { alt, caption, credit, focal }; name (default path) is
  -- the file's name as its owner knows it (an upload's), for the title, the extension check and
  -- messages. Returns the row view and true when new, false when the same bytes were already in
  -- the library (its row unchanged); or nil and a message naming the file and what to do.
  function api.add(path, meta, name)
    meta = meta or {}
    name = name or path
    local function named_err(e) return (tostring(e):gsub(path:gsub("%W", "%%%0"), (name:gsub("%%", "%%%%")))) end
    local cols, err = check_meta(meta)
    if not cols then return nil, ("%s: %s"):format(name, err) end
    local probe, perr = core.media_probe(path, opts(cfg))
    if not probe then return nil, named_err(perr) end
    local named = EXT_FORMAT[(name:match("%.([%w]+)$") or ""):lower()]
    if named and named ~= probe.format then
      return nil, ("%s: the name says %s but the bytes are %s; rename it to .%s if that is right"):format(
        name, named:upper(), probe.format:upper(), ext_of(probe.format))
    end
    local old = db:row("SELECT " .. COLUMNS .. " FROM media WHERE hash = ?", probe.hash)
    if old then return M.view(old), false end
    local dir = M.dir(cfg)
    if core.stat(dir) ~= "dir" then
      local ok, merr = core.mkdir(dir)
      if not ok and core.stat(dir) ~= "dir" then return nil, merr end
    end
    local info, ierr = core.media_process(path, dir, opts(cfg))
    if not info then return nil, named_err(ierr) end
    local widths = {}
    for i, v in ipairs(info.variants) do widths[i] = { v.width, v.height } end
    local top = info.variants[#info.variants].width
    local row = { hash = info.hash, format = info.format, width = info.width, height = info.height }
    local actor = site.actor or {}
    local ok, id = pcall(site.transaction, function()
      local _, new_id = db:exec("INSERT INTO media (url, title, mime, hash, format, width, height, widths, colour, "
        .. "alt, caption, credit, focal_x, focal_y, uploaded_by, user_id, created_at) "
        .. "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        M.src(row, top, ext_of(info.format)), title_of(name), MIME[info.format], info.hash, info.format,
        info.width, info.height, json.encode(widths), info.colour, cols.alt or "", cols.caption or "",
        cols.credit or "", cols.focal_x, cols.focal_y, actor.name, actor.id, time.now())
      site.audit("media.add", "media:" .. new_id, title_of(name))
      return new_id
    end)
    if not ok then
      -- Another process added the same image meanwhile: the files are its row's (same bytes).
      local other = db:row("SELECT " .. COLUMNS .. " FROM media WHERE hash = ?", info.hash)
      if other then return M.view(other), false end
      -- No row names these files: take them away again.
      api.remove_files(row, widths)
      return nil, ("%s: %s"):format(name, tostring(id))
    end
    return api.get(id), true
  end

  function api.get(id)
    return M.view(db:row("SELECT " .. COLUMNS .. " FROM media WHERE id = ?", id))
  end

  -- What a template needs to show image id responsively (nil when there is no such row):
  -- src/srcset in the original format, webp_srcset, width and height (the largest variant's, so
  -- the browser reserves the space), alt, caption, credit, colour, focal ("x% y%"), sizes (the
  -- caller's, default the whole viewport). The page is tagged media:ID, which update and delete
  -- bump, so a changed alt text reaches cached pages.
  function api.picture(id, sizes)
    id = math.tointeger(id)
    if not id then return nil end
    site.tag("media:" .. id)
    local shown = shown_image(id)
    if not shown then return nil end
    local row = shown.row
    local pic = { id = id, alt = row.alt, caption = row.caption ~= "" and row.caption or nil,
      credit = row.credit ~= "" and row.credit or nil, colour = row.colour, sizes = sizes or "100vw" }
    if row.focal_x then pic.focal = ("%g%% %g%%"):format(row.focal_x * 100, row.focal_y * 100) end
    if not row.hash then -- an imported URL without files of ours
      pic.src = row.url
      return pic
    end
    -- AVIF once the background work has made it (avif_step; the page is tagged media:ID, which
    -- it bumps).
    pic.avif_srcset = row.avif == 1 and shown.avif_srcset or nil
    pic.src, pic.width, pic.height = shown.src, shown.top[1], shown.top[2]
    pic.srcset, pic.webp_srcset = shown.srcset, shown.webp_srcset
    return pic
  end

  -- The image for link previews (OpenGraph, JSON-LD) and feeds: the variant of the 1200 px
  -- class (the narrowest at least M.SHARE_WIDTH wide, else the widest), as JPEG when the
  -- original is one, else WebP; never SVG (none is stored). { src, width, height, type, length
  -- (bytes), alt, caption, credit } or nil. Tags the page media:ID like picture.
  function api.share(id)
    id = math.tointeger(id)
    if not id then return nil end
    site.tag("media:" .. id)
    local shown = shown_image(id)
    local row = shown and shown.row
    if not row or not row.hash then return nil end
    local pick
    for _, wh in ipairs(shown.widths) do
      pick = wh
      if wh[1] >= M.SHARE_WIDTH then break end
    end
    if not pick then return nil end
    local ext = row.format == "jpeg" and "jpg" or "webp"
    local src = M.src(row, pick[1], ext)
    local _, _, size = core.stat(M.dir(cfg) .. src:sub(#M.PREFIX))
    return { src = src, width = pick[1], height = pick[2], type = ext == "jpg" and "image/jpeg" or "image/webp",
      length = size or 0, alt = row.alt, caption = row.caption ~= "" and row.caption or nil,
      credit = row.credit ~= "" and row.credit or nil }
  end

  -- A gallery item's image reference: a media id, or the URL of one of the library's files
  -- (/media/ab/cdef…-640.webp, as a page shows it). Returns the media id or nil.
  local function gallery_ref(ref)
    local id = ref:match("^#?(%d+)$")
    if id then return math.tointeger(tonumber(id)) end
    local hh, rest = ref:match("^" .. M.PREFIX:gsub("%p", "%%%0") .. "(%x%x)/(%x+)%-%d+%.%w+$")
    if not hh then return nil end
    local row = db:row("SELECT id FROM media WHERE hash = ?", hh .. rest)
    return row and row.id
  end

  -- The HTML of one gallery (the lines of a ```gallery block: "REF [caption]" each, REF a media
  -- id or a library file's URL), built here from the library with everything escaped. Images
  -- that are not in the library are left out. "" when none is.
  local GALLERY_MAX = 100
  local function gallery_html(lines)
    local items = {}
    for _, line in ipairs(lines) do
      local ref, caption = line:match("^%s*(%S+)%s*(.-)%s*$")
      local pic = ref and #items < GALLERY_MAX and api.picture(gallery_ref(ref), "(max-width: 30rem) 100vw, (max-width: 46rem) 50vw, 22rem")
      if pic and pic.srcset then
        caption = caption ~= "" and caption or pic.caption
        local esc, attr = core.html_escape, core.html_attr
        local fig = { ('<figure class="gallery-item"><picture>%s<source type="image/webp" srcset="%s" sizes="%s">'
          .. '<img src="%s" srcset="%s" sizes="%s" width="%d" height="%d" alt="%s" loading="lazy" decoding="async"></picture>'):format(
          pic.avif_srcset and ('<source type="image/avif" srcset="%s" sizes="%s">'):format(attr(pic.avif_srcset), attr(pic.sizes)) or "",
          attr(pic.webp_srcset), attr(pic.sizes), attr(pic.src), attr(pic.srcset), attr(pic.sizes), pic.width, pic.height, attr(pic.alt or "")) }
        if caption or pic.credit then
          fig[#fig + 1] = "<figcaption>" .. (caption and esc(caption) or "")
            .. (pic.credit and ((caption and " " or "") .. '<span class="credit">' .. esc(pic.credit) .. "</span>") or "") .. "</figcaption>"
        end
        fig[#fig + 1] = "</figure>"
        items[#items + 1] = table.concat(fig)
      end
    end
    if #items == 0 then return "" end
    return ('<div class="gallery" data-count="%d">\n%s\n</div>\n'):format(#items, table.concat(items, "\n"))
  end

  -- Sanitized output writes every tag itself ("<img " starts an element, never text) and
  -- escapes ">" in attribute values, so the first ">" ends the tag.
  local function lazy_images(body)
    if not body:find("<img ", 1, true) then return body end
    return (body:gsub("<img ([^>]*)>", '<img %1 loading="lazy" decoding="async">'))
  end

  -- A body without galleries depends on its text only: kept by its text (an entry page and the
  -- feed items of that entry show the same one), the result only, not the Markdown's HTML on its
  -- way (the memos of quire.markdown and quire.html would hold the same body twice more). Found
  -- by the text's XXH3 and then compared with it byte for byte (so no text can be taken for
  -- another): a tenth of what its SHA-256 cost. Starts over past BODY_MEMO_BYTES (texts and results).
  local bodies, body_bytes = {}, 0
  local function plain_body(md, policy)
    local key = core.xxh128(md)
    local kept = bodies[key]
    if kept and kept.md == md then return kept.html end
    -- (html_markdown: what html_sanitize makes of markdown_render's HTML, mostly without parsing it)
    local clean, err = core.html_markdown(md, policy)
    if not clean then error("quire.media.body_html: " .. tostring(err), 0) end
    local out = lazy_images(clean)
    if #out <= BODY_ITEM_MAX and #md <= BODY_ITEM_MAX then
      if body_bytes + #out + #md > BODY_MEMO_BYTES then bodies, body_bytes = {}, 0 end
      bodies[key], body_bytes = { md = md, html = out }, body_bytes + #out + #md
    end
    return out
  end

  -- An editor's Markdown body as the pages show it: rendered (as quire.markdown does), sanitized with the
  -- article policy, then each ```gallery fenced block (top level) replaced by its gallery, and
  -- every image but the galleries' marked loading="lazy" (the hero above it loads first).
  -- Gallery blocks are cut out before Markdown sees them and put back after the sanitizer, as a
  -- marker paragraph: the sanitizer never has to allow srcset, and no body text can forge one.
  function api.body_html(md, html)
    md = md or ""
    -- Without a fence there is no gallery to cut out: the line walk below would give md back
    -- as it was (every page and feed item shows a body, and the walk cost more than the rest).
    if not md:find("```", 1, true) and not md:find("~~~", 1, true) then return plain_body(md, html.policies.default) end
    local galleries, out, fence, gal = {}, {}, nil, nil
    -- The marker depends on the whole text, so no text can carry its own marker.
    local nonce = core.hmac_sha256("gallery", md):sub(1, 8):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
    for line in (md .. "\n"):gmatch("([^\n]*)\n") do
      if gal then
        local close = line:match("^ ? ? ?([`~]+)%s*$")
        if close and #close >= gal.len and not close:find(gal.char == "`" and "~" or "`", 1, true) and close:sub(1, 1) == gal.char then
          galleries[#galleries + 1] = gal.lines
          out[#out + 1] = ("\n\nquire-gallery-%s-%d\n\n"):format(nonce, #galleries)
          gal = nil
        elseif #gal.lines < GALLERY_MAX * 2 then
          gal.lines[#gal.lines + 1] = line
        end
      else
        local ticks, info = line:match("^ ? ? ?(```+)%s*(.-)%s*$")
        if not ticks then ticks, info = line:match("^ ? ? ?(~~~+)%s*(.-)%s*$") end
        if fence then
          if ticks and ticks:sub(1, 1) == fence.char and #ticks >= fence.len and info == "" then fence = nil end
          out[#out + 1] = line
        elseif ticks and info:lower() == "gallery" then
          gal = { char = ticks:sub(1, 1), len = #ticks, lines = {} }
        else
          if ticks then fence = { char = ticks:sub(1, 1), len = #ticks } end
          out[#out + 1] = line
        end
      end
    end
    if gal then -- an unclosed gallery block runs to the end, as an unclosed fence does
      galleries[#galleries + 1] = gal.lines
      out[#out + 1] = ("\n\nquire-gallery-%s-%d\n\n"):format(nonce, #galleries)
    end
    local body, err = core.html_markdown(table.concat(out, "\n"), html.policies.default)
    if not body then error("quire.media.body_html: " .. tostring(err), 0) end
    body = lazy_images(body)
    if #galleries > 0 then
      body = body:gsub("<p>quire%-gallery%-" .. nonce .. "%-(%d+)</p>\n?", function(n)
        return gallery_html(galleries[tonumber(n)])
      end)
    end
    return body
  end

  -- The media ids a body's galleries name (for the alt precondition).
  function api.body_media(md)
    local ids, in_gal = {}, false
    for line in ((md or "") .. "\n"):gmatch("([^\n]*)\n") do
      local ticks, info = line:match("^ ? ? ?([`~][`~][`~]+)%s*(.-)%s*$")
      if ticks and not in_gal and info:lower() == "gallery" then in_gal = true
      elseif ticks and in_gal and info == "" then in_gal = false
      elseif in_gal then
        local ref = line:match("^%s*(%S+)")
        local id = ref and gallery_ref(ref)
        if id then ids[#ids + 1] = id end
      end
    end
    return ids
  end

  -- AVIF copies (issue 18: after the import, not in it: AV1 encoding takes about a second for
  -- a 1920 pixel image). avif_step, called from every serving worker's tick, makes them for one
  -- image at a time for the whole site: it claims the oldest image without (avif = -1, with the
  -- time), unless another process holds a claim younger than AVIF_CLAIM seconds; so the work is
  -- bounded to one encoder whatever the number of workers or machines, and one image per tick
  -- stays well inside the watchdog's limit. Failures are marked with their error, not retried.
  M.AVIF_CLAIM = 300
  local TODO = "hash IS NOT NULL AND (avif IS NULL OR avif = -1)" -- as the index media_avif_todo
  local function avif_one(row)
    local widths, list = widths_of(row), {}
    for i, wh in ipairs(widths) do list[i] = wh[1] end
    local src = ("%s/%s/%s-%d.%s"):format(M.dir(cfg), row.hash:sub(1, 2), row.hash:sub(3), widths[#widths][1], ext_of(row.format))
    local ok, err = core.media_avif(src, M.dir(cfg), row.hash, list)
    site.transaction(function()
      db:exec("UPDATE media SET avif = ?, avif_claimed = NULL, avif_error = ? WHERE id = ?", ok and 1 or 0,
        not ok and tostring(err) or nil, row.id)
      site.bump({ ["media:" .. row.id] = true })
    end)
    return ok
  end

  -- One step of the background work: 1 when an image got its AVIF copies, 0 when it failed,
  -- nil when there was nothing to do (or another process is at it, or no AVIF encoder).
  function api.avif_step()
    if not db:row("SELECT id FROM media WHERE " .. TODO .. " LIMIT 1") or not core.media_avif_supported() then return nil end
    local now = os.time()
    local row = site.transaction(function()
      if db:row("SELECT id FROM media WHERE " .. TODO .. " AND avif = -1 AND avif_claimed > ? LIMIT 1", now - M.AVIF_CLAIM) then return nil end
      local r = db:row("SELECT id, hash, format, widths FROM media WHERE " .. TODO .. " ORDER BY id LIMIT 1")
      if r then db:exec("UPDATE media SET avif = -1, avif_claimed = ? WHERE id = ?", now, r.id) end
      return r
    end)
    if not row then return nil end
    return avif_one(row) and 1 or 0
  end

  -- Makes every missing AVIF set now, up to limit images (quire media avif). Returns the number
  -- made and the number that failed.
  function api.make_avif(limit)
    if not core.media_avif_supported() then return 0, 0 end
    local made, failed = 0, 0
    for _, row in ipairs(db:rows("SELECT id, hash, format, widths FROM media WHERE " .. TODO .. " ORDER BY id LIMIT ?", limit or 1000)) do
      if avif_one(row) then made = made + 1 else failed = failed + 1 end
    end
    return made, failed
  end

  -- Rows newest first; opts { limit (default 100, at most 1000), before = id }.
  function api.list(o)
    o = o or {}
    local limit = math.min(math.max(tonumber(o.limit) or 100, 1), 1000)
    local rows = db:rows("SELECT " .. COLUMNS .. " FROM media WHERE id < ? ORDER BY id DESC LIMIT ?",
      tonumber(o.before) or math.maxinteger, limit)
    for i, r in ipairs(rows) do rows[i] = M.view(r) end
    return rows
  end

  function api.update(id, meta)
    local cols, err = check_meta(meta)
    if not cols then return nil, err end
    if not db:row("SELECT id FROM media WHERE id = ?", id) then return nil, ("no media %s"):format(tostring(id)) end
    site.transaction(function()
      for _, k in ipairs({ "alt", "caption", "credit", "focal_x", "focal_y" }) do
        if cols[k] ~= nil then db:exec("UPDATE media SET " .. k .. " = ? WHERE id = ?", cols[k], id) end
      end
      site.audit("media.update", "media:" .. id, nil)
      site.bump({ ["media:" .. (math.tointeger(id) or id)] = true }) -- (an id from JSON may be 3.0: the tag is media:3)
    end)
    return api.get(id)
  end

  -- Entries whose body or fields name the image (its files' URLs or, in a media field, its id).
  function api.references(id)
    local row = db:row("SELECT hash FROM media WHERE id = ?", id)
    if not row or not row.hash then return {} end
    local refs = {}
    for _, r in ipairs(store_sql.entries_naming(db, row.hash:sub(3), 100)) do refs[#refs + 1] = r.id end
    -- Media fields hold the id: one indexed-by-type query per type that has them.
    local seen = {}
    for _, x in ipairs(refs) do seen[x] = true end
    for _, name in ipairs(site.types:names()) do
      local t = site.types:get(name)
      for _, fname in ipairs(t.field_order) do
        local f = t.fields[fname]
        if f.type == "media" or (f.type == "list" and f.item and f.item.type == "media") then
          for _, r in ipairs(store_sql.entries_with_field_value(db, name, fname, id, 100)) do
            if not seen[r.id] then seen[r.id] = true; refs[#refs + 1] = r.id end
          end
        end
      end
    end
    table.sort(refs)
    return refs
  end

  function api.remove_files(row, widths)
    local sub = ("%s/%s/"):format(M.dir(cfg), row.hash:sub(1, 2))
    for _, wh in ipairs(widths) do
      os.remove(sub .. ("%s-%d.webp"):format(row.hash:sub(3), wh[1]))
      os.remove(sub .. ("%s-%d.avif"):format(row.hash:sub(3), wh[1]))
      os.remove(sub .. ("%s-%d.%s"):format(row.hash:sub(3), wh[1], ext_of(row.format)))
    end
  end

  -- Deletes the row and its files; refused while an entry refers to it unless force.
  function api.delete(id, force)
    local row = db:row("SELECT " .. COLUMNS .. " FROM media WHERE id = ?", id)
    if not row then return nil, ("no media %s"):format(tostring(id)) end
    local refs = api.references(id)
    if #refs > 0 and not force then
      return nil, ("media %d is used by entr%s %s; change %s first, or delete with --force"):format(id,
        #refs == 1 and "y" or "ies", table.concat(refs, ", "), #refs == 1 and "it" or "them")
    end
    site.transaction(function()
      db:exec("DELETE FROM media WHERE id = ?", id)
      site.audit("media.delete", "media:" .. id, row.title)
      site.bump({ ["media:" .. row.id] = true })
    end)
    if row.hash then api.remove_files(row, widths_of(row)) end
    return true
  end

  -- Files under DIR/media no row names (left by a delete that crashed, an older width setting,
  -- an interrupted add), and temporary files over an hour old. Returns the paths (removed
  -- unless dry_run) and the bytes they hold.
  function api.prune(dry_run)
    local dir = M.dir(cfg)
    local found = {}
    local now = os.time()
    -- An upload's files outlive their request only when its worker died mid-way.
    local up = M.upload_dir(cfg)
    for _, name in ipairs(core.stat(up) == "dir" and core.listdir(up) or {}) do
      local p = up .. "/" .. name
      local kind, mtime = core.stat(p)
      if kind == "file" and name:match("^%.upload%-") and mtime and now - mtime > 3600 then
        found[#found + 1] = p
        if not dry_run then os.remove(p) end
      end
    end
    if core.stat(dir) ~= "dir" then return found end
    for _, sub in ipairs(core.listdir(dir) or {}) do
      local subpath = dir .. "/" .. sub
      if sub:match("^%x%x$") and core.stat(subpath) == "dir" then
        local known = {}
        -- The hashes that start with sub (hex: "~" sorts after every digit), along the index.
        for _, r in ipairs(db:rows("SELECT hash, format, widths, avif FROM media WHERE hash >= ? AND hash < ?", sub, sub .. "~")) do
          for _, wh in ipairs(widths_of(r)) do
            known[("%s-%d.webp"):format(r.hash:sub(3), wh[1])] = true
            if r.avif == 1 then known[("%s-%d.avif"):format(r.hash:sub(3), wh[1])] = true end
            known[("%s-%d.%s"):format(r.hash:sub(3), wh[1], ext_of(r.format))] = true
          end
        end
        for _, name in ipairs(core.listdir(subpath) or {}) do
          local p = subpath .. "/" .. name
          local kind, mtime = core.stat(p)
          local stale_tmp = name:match("^%.tmp%-") and mtime and now - mtime > 3600
          if kind == "file" and not known[name] and (stale_tmp or not name:match("^%.tmp%-")) then
            found[#found + 1] = p
            if not dry_run then os.remove(p) end
          end
        end
      end
    end
    return found
  end

  return api
end

-- Uploads over HTTP: POST /api/admin/v1/media with multipart/form-data. The server streams the
-- body to an unnamed temporary file (core/http.c, never in memory, at most limits.upload_request
-- bytes); core.multipart_read splits it, each file into a temporary file of its own (at most
-- limits.upload_file bytes, limits.upload_files files), removed once the request is answered.
M.UPLOAD_PATH = "/api/admin/v1/media"
M.FIELDS_MAX = 64 * 1024 -- bytes of the form's text fields together

function M.upload_dir(cfg) return cfg.dir .. "/.quire/uploads" end

-- What `quire serve` gives the C server so that uploads are spooled: { path, dir, max }, or nil
-- when the folder cannot be made (uploads then meet limits.request_body like any body).
function M.upload_spool(cfg)
  local dir = M.upload_dir(cfg)
  for _, d in ipairs({ cfg.dir .. "/.quire", dir }) do
    if core.stat(d) ~= "dir" and not core.mkdir(d) and core.stat(d) ~= "dir" then return nil end
  end
  return { path = M.UPLOAD_PATH, dir = dir, max = cfg.limits.upload_request }
end

-- An uploaded file's name fit to show and to judge by its extension: its last part after any
-- / or \ (a browser may send a whole path, an attacker ../../), no control characters, no
-- leading dots, at most 200 bytes of valid UTF-8. It never names a file on disk.
function M.upload_name(s)
  s = tostring(s or ""):match("([^/\\]*)$"):gsub("[%z\1-\31\127]", "")
  if not utf8.len(s) then s = s:gsub("[\128-\255]", "") end
  s = core.trim(s):gsub("^%.+", "")
  if #s > 200 then
    local ext = s:match("%.%w+$") or ""
    s = s:sub(1, 200 - #ext)
    while not utf8.len(s) do s = s:sub(1, -2) end
    s = s .. ext
  end
  return s ~= "" and s or "upload"
end

-- The form of an upload request: the spooled body (req.spool_fd) or a small one in memory.
-- Returns the parsed form or fails with the status the problem means.
local function read_form(ctx, fail, cfg)
  if ctx.form then return ctx.form end
  local req = ctx.req
  local dir = M.upload_dir(cfg)
  if core.stat(dir) ~= "dir" then M.upload_spool(cfg) end
  local form, err, status = core.multipart_read(req.spool_fd or req.body or "", req.headers["content-type"], dir,
    { file_max = cfg.limits.upload_file, files_max = cfg.limits.upload_files, fields_max = M.FIELDS_MAX,
      parts_max = cfg.limits.upload_files + 16 })
  if not form then
    fail(status, status == 415 and "unsupported_media_type" or status == 413 and "too_large"
      or status >= 500 and "storage" or "invalid_upload", err)
  end
  ctx.form = form
  ctx.cleanup = function() for _, f in ipairs(form.files) do os.remove(f.path) end end
  return form
end

-- The Admin API's media routes (added by quire.api_admin): upload, list, one, update.
function M.routes(api, quire, site, body_of)
  local A, fail, S = require("quire.api").ADMIN, require("quire.api").fail, require("quire.api").schemas
  local function nullable(t) return { type = { t, "null" } } end
  S.Media = { type = "object", properties = {
    id = { type = "integer" }, url = { type = "string" }, title = { type = "string" }, mime = nullable("string"),
    format = nullable("string"), width = nullable("integer"), height = nullable("integer"), colour = nullable("string"),
    alt = { type = "string" }, caption = { type = "string" }, credit = { type = "string" },
    focal_x = nullable("number"), focal_y = nullable("number"), uploaded_by = nullable("string"),
    created_at = { type = "string", format = "date-time" },
    variants = { type = "array", items = { type = "object", properties = { width = { type = "integer" },
      height = { type = "integer" }, webp = { type = "string" }, src = { type = "string" } } } } } }
  S.MediaList = { type = "object", properties = { media = { type = "array", items = { ["$ref"] = "#/components/schemas/Media" } } } }
  S.MediaUploaded = { type = "object", properties = {
    media = { type = "array", items = { ["$ref"] = "#/components/schemas/Media" }, description = "the images added (or found already in the library: same bytes, same id)" },
    errors = { type = "array", optional = true, items = { type = "object", properties = { field = { type = "string" }, message = { type = "string" } } },
      description = "the files refused, each with why (status 422)" } } }
  local TEXT = function(d) return { type = "string", optional = true, description = d } end
  S.MediaUpload = { type = "object", properties = {
    file = { type = "array", items = { type = "string", contentMediaType = "application/octet-stream" },
      description = "one or more image files (JPEG, PNG or WebP, judged by their bytes; at most limits.upload_file bytes each, limits.upload_files files, limits.upload_request bytes in all); every part with a filename is taken, whatever its name" },
    alt = TEXT("alt text for every file of this upload (required before an article or opinion piece using it is published)"),
    caption = TEXT("caption"), credit = TEXT("credit (photographer, agency)"), focal = TEXT("focal point X,Y from 0 to 1"),
    csrf_token = TEXT("with a session cookie and no X-CSRF-Token header (a plain HTML form): the session's CSRF token"),
    redirect = TEXT("a path on this site (e.g. /admin/media): answer 303 See Other to it, with ?media=ID,ID or ?upload_error=MESSAGE, instead of JSON (a form without JavaScript)") } }
  S.MediaUpdate = { type = "object", properties = { alt = TEXT("alt text"), caption = TEXT("caption"), credit = TEXT("credit"),
    focal = TEXT("focal point X,Y from 0 to 1") } }

  local function as_user(ctx, fn, ...) return site.acting({ id = ctx.user.id, name = ctx.user.login }, fn, ...) end
  local function out(v)
    if not v then return nil end
    v.hash, v.source, v.user_id, v.entry_id, v.avif = nil, nil, nil, nil, nil
    for _, k in ipairs({ "mime", "format", "width", "height", "colour", "focal_x", "focal_y", "uploaded_by" }) do
      if v[k] == nil then v[k] = json.null end
    end
    return v
  end
  local function safe_redirect(r)
    return type(r) == "string" and r:match("^/[^/\\]") and not r:find("[%c%s]") and #r <= 500 and r or nil
  end

  api.route { method = "POST", path = A .. "/media", auth = "admin", role = "contributor", status = 201,
    form = "MediaUpload", response = "MediaUploaded",
    summary = "Uploads images (multipart/form-data, streamed to disk): 201 when every file was added, 422 with errors when any was refused",
    -- A plain HTML form cannot send X-CSRF-Token: with a session and no header, the token comes
    -- from the form's csrf_token field (the body is read first; nothing is stored before the check).
    before_auth = function(ctx)
      local req = ctx.req
      if req.headers.authorization == nil and req.user and req.headers["x-csrf-token"] == nil then
        local ok, form = pcall(read_form, ctx, fail, site.config)
        if ok and type(form.fields.csrf_token) == "string" then req.headers["x-csrf-token"] = form.fields.csrf_token end
      end
    end,
    handler = function(ctx)
      local form = read_form(ctx, fail, site.config)
      local f = form.fields
      local redirect = safe_redirect(f.redirect)
      local meta = {}
      for _, k in ipairs({ "alt", "caption", "credit", "focal" }) do
        if f[k] ~= nil and f[k] ~= "" then meta[k] = f[k] end
      end
      local added, errs, ids = {}, {}, {}
      if #form.files == 0 then
        fail(400, "no_file", "the upload has no file: send each image as a part with a filename (an <input type=file>), e.g. curl -F file=@photo.jpg")
      end
      -- Decoding is the slow part (a second or so per large photo): files still waiting when half
      -- the watchdog's time is gone are refused, to be sent again, rather than the worker killed.
      local started, budget = core.clock(), (site.config.limits.watchdog_timeout_ms or 10000) / 2000
      for i, file in ipairs(form.files) do
        local name = M.upload_name(file.filename)
        local row, created
        if i > 1 and core.clock() - started > budget then
          created = ("%s: not processed: the upload took too long to process in one request; send this file again"):format(name)
        elseif file.size == 0 then
          created = ("%s: the file is empty (0 bytes); choose the image again"):format(name)
        else
          row, created = as_user(ctx, quire.media.add, file.path, meta, name)
        end
        if row then
          added[#added + 1] = out(row)
          ids[#ids + 1] = row.id
        else
          errs[#errs + 1] = { field = ("file[%d]"):format(i - 1), message = tostring(created) }
        end
      end
      local function query_sep(u) return u:find("?", 1, true) and "&" or "?" end
      if redirect then
        ctx.status = 303
        local target = #errs == 0 and (redirect .. query_sep(redirect) .. "media=" .. table.concat(ids, ","))
          or (redirect .. query_sep(redirect) .. "upload_error=" .. errs[1].message:sub(1, 300):gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end)
            .. "&n=" .. (auth.notice_mac(ctx.req, "upload_error", errs[1].message:sub(1, 300)) or ""))
        ctx.res:header("location", target)
        return { media = json.list(added), errors = #errs > 0 and errs or nil }
      end
      if #errs > 0 then ctx.status = 422 end
      return { media = json.list(added), errors = #errs > 0 and errs or nil }
    end }
  api.route { method = "GET", path = A .. "/media", auth = "admin", role = "contributor", response = "MediaList",
    summary = "The media library, newest first (limit, before = an id)",
    query = { require("quire.api").PARAM.limit, { name = "before", schema = { type = "integer" }, description = "only ids below this" } },
    handler = function(ctx)
      local rows = quire.media.list({ limit = ctx.query.limit, before = ctx.query.before })
      for i, r in ipairs(rows) do rows[i] = out(r) end
      return { media = json.list(rows) }
    end }
  api.route { method = "GET", path = A .. "/media/{id:int}", auth = "admin", role = "contributor", response = "MediaList",
    summary = "One image of the library, with its variants",
    handler = function(ctx)
      local row = quire.media.get(ctx.params.id)
      if not row then fail(404, "not_found", ("no media %d"):format(ctx.params.id)) end
      return { media = { out(row) } }
    end }
  api.route { method = "PATCH", path = A .. "/media/{id:int}", auth = "admin", role = "author", body = "MediaUpdate", response = "MediaList",
    summary = "Changes an image's alt text, caption, credit or focal point (pages showing it are refreshed)",
    handler = function(ctx)
      local v = body_of(ctx, "MediaUpdate")
      local row, err = as_user(ctx, quire.media.update, ctx.params.id, v)
      if not row then fail(err and err:match("^no media") and 404 or 400, err and err:match("^no media") and "not_found" or "invalid", err) end
      return { media = { out(row) } }
    end }
end

-- `quire media ...`: the CLI group (installed by quire.cli).
local HELP = [[
usage: quire media <command> [--site DIR] [--as LOGIN]

  quire media add FILE... [--alt TEXT] [--caption TEXT] [--credit TEXT] [--focal X,Y]
        import images (JPEG, PNG, WebP; by their bytes, not their names): orientation applied,
        metadata (camera, location) stripped, widths from image_widths in site.lua, as WebP
        and the original format, into DIR/media; the same bytes twice give the same media id
  quire media list [--limit N] [--format table|json]
  quire media get ID                      the row and its variants' URLs, as JSON
  quire media update ID [--alt TEXT] [--caption TEXT] [--credit TEXT] [--focal X,Y]
  quire media delete ID [--force]         the row and its files (refused while entries use it)
  quire media prune [--dry-run]           remove files under DIR/media that no media row names
  quire media avif [--limit N]            make the AVIF copies still missing now (quire serve
                                          makes them too, in the background, one at a time)]]

function M.install(commands, help, cli)
  help.media = HELP
  local function fail(code, fmt, ...)
    io.stderr:write("quire: ", fmt:format(...), "\n")
    return code
  end
  local allowed = { site = "value", as = "value", alt = "value", caption = "value", credit = "value",
    focal = "value", format = "value", limit = "value", force = "flag", ["dry-run"] = "flag" }
  commands.media = function(argv)
    local sub = argv[2]
    if sub == nil or sub == "--help" or sub == "-h" then print(HELP) return sub and 0 or 2 end
    local o, pos = cli.parse("media " .. sub, argv, 3, allowed)
    if not o then return fail(2, "%s", pos) end
    if o.help then print(HELP) return 0 end
    local valid = { add = true, list = true, get = true, update = true, delete = true, prune = true, avif = true }
    if not valid[sub] then return fail(2, "unknown command 'quire media %s' (see quire media --help)", sub) end
    if sub == "add" and #pos == 0 then return fail(2, "quire media add needs one or more FILEs") end
    local needs_id = sub == "get" or sub == "update" or sub == "delete"
    local id = needs_id and math.tointeger(tonumber(pos[1]))
    if needs_id and (#pos ~= 1 or not id) then return fail(2, "usage: quire media %s ID (a media id, see quire media list)", sub) end
    if (sub == "list" or sub == "prune" or sub == "avif") and #pos > 0 then return fail(2, "quire media %s takes no arguments", sub) end
    local quire, err = cli.open_site(o, { cli = true })
    if not quire then return fail(1, "%s", err) end
    local media = quire.media
    local meta = { alt = o.alt, caption = o.caption, credit = o.credit, focal = o.focal }
    if sub == "add" then
      local failed = 0
      for _, path in ipairs(pos) do
        local row, created = media.add(path, meta)
        if row then
          print(("media %d: %s  %dx%d  %s%s"):format(row.id, row.url, row.width, row.height, row.colour or "",
            created and "" or "  (already in the library)"))
        else
          failed = failed + 1
          io.stderr:write("quire: ", tostring(created), "\n")
        end
      end
      if failed > 0 and #pos > 1 then io.stderr:write(("quire: %d of %d files refused\n"):format(failed, #pos)) end
      return failed == 0 and 0 or 1
    elseif sub == "list" then
      local rows = media.list({ limit = o.limit })
      if o.format == "json" then print(json.encode(json.list(rows))) return 0 end
      if o.format and o.format ~= "table" then return fail(2, "--format is table or json") end
      print(("%-6s %-5s %-11s %-8s %-20s %s"):format("ID", "TYPE", "SIZE", "COLOUR", "CREATED", "TITLE / ALT"))
      for _, r in ipairs(rows) do
        print(("%-6d %-5s %-11s %-8s %-20s %s%s"):format(r.id, r.format or "-", r.width and (r.width .. "x" .. r.height) or "-",
          r.colour or "-", r.created_at, r.title, r.alt ~= "" and (" / " .. r.alt) or ""))
      end
      if #rows == 0 then print("no media (add with quire media add FILE)") end
      return 0
    elseif sub == "get" then
      local row = media.get(id)
      if not row then return fail(1, "no media %d (see quire media list)", id) end
      row.used_by = json.list(media.references(id))
      print(json.encode(row))
      return 0
    elseif sub == "update" then
      if not (o.alt or o.caption or o.credit or o.focal) then return fail(2, "quire media update ID needs --alt, --caption, --credit or --focal") end
      local row, uerr = media.update(id, meta)
      if not row then return fail(1, "%s", uerr) end
      print(("media %d updated"):format(id))
      return 0
    elseif sub == "delete" then
      local ok, derr = media.delete(id, o.force)
      if not ok then return fail(1, "%s", derr) end
      print(("media %d deleted"):format(id))
      return 0
    end
    if sub == "avif" then
      if not core.media_avif_supported() then return fail(1, "this libvips cannot write AVIF (libheif without an AV1 encoder); nothing made") end
      local limit = math.tointeger(tonumber(o.limit or "1000"))
      if not limit or limit < 1 then return fail(2, "--limit takes a positive whole number") end
      local made, failed = media.make_avif(limit)
      print(("%d AVIF set(s) made, %d failed%s"):format(made, failed, failed > 0 and " (see avif_error in the media table)" or ""))
      return failed == 0 and 0 or 1
    end
    local found = media.prune(o["dry-run"])
    for _, p in ipairs(found) do print((o["dry-run"] and "would remove " or "removed ") .. p) end
    print(("%d file(s) %s"):format(#found, o["dry-run"] and "nothing refers to" or "removed"))
    return 0
  end
end

return M
