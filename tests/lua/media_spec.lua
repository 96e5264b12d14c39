-- The media library from Lua: import of a PNG made here byte by byte, deduplication, the media
-- field type, the hero <picture>, the alt precondition at publish, references and delete.
local testing = require "quire.testing"

-- A PNG of w x h in one RGB colour, with uncompressed (stored) deflate blocks: no zlib needed.
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do c = (c & 1) == 1 and (0xEDB88320 ~ (c >> 1)) or (c >> 1) end
  crc_table[i] = c
end
local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = crc_table[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end
local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do a = (a + s:byte(i)) % 65521; b = (b + a) % 65521 end
  return (b << 16) | a
end
local function chunk(kind, data) return string.pack(">I4", #data) .. kind .. data .. string.pack(">I4", crc32(kind .. data)) end
local function png(w, h, r, g, b)
  local row = "\0" .. string.char(r, g, b):rep(w)
  local raw = row:rep(h)
  local z, pos = { "\x78\x01" }, 1
  repeat
    local part = raw:sub(pos, pos + 65534)
    pos = pos + #part
    z[#z + 1] = string.pack("<BI2I2", pos > #raw and 1 or 0, #part, (~#part) & 0xFFFF) .. part
  until pos > #raw
  z[#z + 1] = string.pack(">I4", adler32(raw))
  return "\x89PNG\r\n\x1a\n" .. chunk("IHDR", string.pack(">I4I4BBBBB", w, h, 8, 2, 0, 0, 0))
    .. chunk("IDAT", table.concat(z)) .. chunk("IEND", "")
end

describe("quire.media", function()
  local q, dir
  setup(function()
    q = testing.site { plugins = { "theme", "article" } }
    dir = q.site.dir
  end)

  local function file(name, data)
    local path = dir .. "/" .. name
    local f = assert(io.open(path, "wb"))
    f:write(data)
    f:close()
    return path
  end

  it("imports a PNG at the widths below its own and its own, once per content", function()
    local row, created = q.media.add(file("wide.png", png(700, 350, 30, 90, 200)), { alt = "Blue", credit = "Desk" })
    assert.is_true(created)
    assert.equal(700, row.width)
    assert.equal("png", row.format)
    local ws = {}
    for i, v in ipairs(row.variants) do ws[i] = v.width .. "x" .. v.height end
    assert.same({ "320x160", "640x320", "700x350" }, ws)
    for _, v in ipairs(row.variants) do
      assert.equal("file", (require("quire.core").stat(dir .. v.webp)))
      assert.equal("file", (require("quire.core").stat(dir .. v.src)))
      assert.truthy(v.src:match("^/media/%x%x/%x+%-%d+%.png$"))
    end
    assert.matches("^#%x%x%x%x%x%x$", row.colour)
    assert.equal("Blue", row.alt)
    local again, created2 = q.media.add(file("copy.png", png(700, 350, 30, 90, 200)))
    assert.is_false(created2)
    assert.equal(row.id, again.id)
  end)

  it("names the dominant colour by its bin", function()
    local row = q.media.add(file("red.png", png(40, 20, 200, 30, 40)))
    -- 200 -> bin 12 (centre 200), 30 -> bin 1 (24), 40 -> bin 2 (40)
    assert.equal("#c81828", row.colour)
  end)

  it("refuses what is not an image, or lies about its type", function()
    local row, err = q.media.add(file("x.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>"))
    assert.is_nil(row)
    assert.matches("SVG is refused", err)
    row, err = q.media.add(file("fake.jpg", png(20, 20, 1, 2, 3)))
    assert.is_nil(row)
    assert.matches("the name says JPEG but the bytes are PNG", err)
    row, err = q.media.add(file("short.png", png(300, 300, 1, 2, 3):sub(1, 400)))
    assert.is_nil(row)
    assert.matches("truncated or corrupt", err)
    row, err = q.media.add(file("ok.png", png(20, 20, 1, 2, 3)), { focal = "1.5,0" })
    assert.is_nil(row)
    assert.matches("focal point", err)
  end)

  it("validates media fields, renders the hero as a picture, and wants alt text to publish", function()
    local img = q.media.add(file("hero.png", png(1000, 500, 10, 120, 10)))
    local ok, err = pcall(q.content.create, { type = "article", title = "No such image", body = "x", fields = { hero_media = 987654 } })
    assert.is_false(ok)
    assert.equal("refers to media 987654, which does not exist (see quire media list)", err.errors[1].message)
    ok, err = pcall(q.content.create, { type = "article", title = "Field", body = "x", status = "published",
      published_at = "2024-03-05T10:00:00Z", fields = { hero_media = img.id } })
    assert.is_false(ok)
    assert.matches(("media %d has no alt text"):format(img.id), tostring(err.errors[1].message))
    q.media.update(img.id, { alt = "A green field", caption = "Spring" })
    local id = q.content.create { type = "article", title = "Field", body = "x", status = "published",
      published_at = "2024-03-05T10:00:00Z", fields = { hero_media = img.id } }
    local r = q:request("GET", "/2024/03/field")
    assert.equal(200, r.status)
    assert.matches('<source type="image/webp" srcset="/media/%x%x/%x+%-320%.webp 320w, [^"]+%-1000%.webp 1000w"', r.body)
    assert.matches('width="1000" height="500" alt="A green field"', r.body)
    assert.matches("<figcaption>Spring", r.body)
    assert.matches("media:" .. img.id, r.tags) -- a changed alt drops the cached page
    assert.same({ id }, q.media.references(img.id))
    local gone, why = q.media.delete(img.id)
    assert.is_nil(gone)
    assert.matches("is used by entry " .. id, why)
  end)

  it("gives each caller its own picture, made once while kept, and follows an edit and a new AVIF set", function()
    local img = q.media.add(file("kept.png", png(800, 400, 200, 40, 40)), { alt = "Red" })
    local narrow, wide = q.media.picture(img.id, "10rem"), q.media.picture(img.id, "20rem")
    assert.equal("10rem", narrow.sizes)
    assert.equal("20rem", wide.sizes)
    assert.matches("^/media/%x%x/%x+%-320%.png 320w, [^,]+%-640%.png 640w, [^,]+%-800%.png 800w$", narrow.srcset)
    assert.equal(narrow.srcset, wide.srcset)
    assert.equal((narrow.srcset:gsub("%.png", ".webp")), wide.webp_srcset)
    assert.same({ 800, 400 }, { wide.width, wide.height })
    narrow.srcset, narrow.alt = "changed by a caller", "changed"
    local again = q.media.picture(img.id)
    assert.equal(wide.srcset, again.srcset)
    assert.equal("Red", again.alt)
    assert.equal("100vw", again.sizes)
    q.media.update(img.id, { alt = "A red wall" })
    assert.equal("A red wall", q.media.picture(img.id).alt)
    if require("quire.core").media_avif_supported() then
      assert.is_nil(q.media.picture(img.id).avif_srcset)
      q.media.make_avif(1000)
      assert.equal((wide.srcset:gsub("%.png", ".avif")), q.media.picture(img.id).avif_srcset)
    end
  end)

  it("renders a body as Markdown, sanitizer and lazy images do, whether kept from before or not", function()
    local function reference(md)
      return (q.html.sanitize(q.markdown.render(md)):gsub("<img ([^>]*)>", '<img %1 loading="lazy" decoding="async">'))
    end
    for _, md in ipairs({
      "Plain *text* & <b>bold</b> <script>alert(1)</script> [x](javascript:alert(1)) and ![a cat](/media/cat.jpg \"Cat\").\n",
      "# Head\n\n![one](/a.png) text ![two](https://example.org/b.png)\n\n<img src=x onerror=alert(1)>",
      "no newline at the end",
      "",
      "```lua\nlocal x = '<img src=y>'\n```\n\n~~~\nfenced ![i](/c.png)\n~~~\n\n![after](/d.png)\n", -- fences: the gallery walk
    }) do
      local want = reference(md)
      assert.equal(want, q.media.body_html(md, q.html)) -- rendered afresh
      assert.equal(want, q.media.body_html(md, q.html)) -- kept
      assert.equal(want, q.media.body_html((md .. "x"):sub(1, -2), q.html)) -- kept, by an equal text
    end
  end)
end)

describe("media_dir", function()
  it("puts the library's files in the folder it names (one shared by several nodes), and nowhere else", function()
    local core = require "quire.core"
    local shared = assert(core.mkdtemp("quire-shared-media"))
    local q = testing.site { plugins = { "theme", "article" }, media_dir = shared }
    assert.equal(shared, require("quire.media").dir(q.site.config))
    local path = q.site.dir .. "/blue.png"
    local f = assert(io.open(path, "wb"))
    f:write(png(400, 200, 30, 90, 200))
    f:close()
    local row = assert(q.media.add(path, { alt = "Blue" }))
    for _, v in ipairs(row.variants) do
      assert.equal("file", core.stat(shared .. v.webp:sub(#"/media" + 1)))
    end
    assert.is_nil(core.stat(q.site.dir .. "/media/" .. row.hash:sub(1, 2)))
    core.remove_tree(shared)
  end)

  it("is refused when it names no folder", function()
    local cfg, err, dir = testing.config_with('media_dir = ""\n')
    assert.is_nil(cfg)
    assert.matches("media_dir must name a folder", err)
    local f = assert(io.open(dir .. "/site.lua", "w"))
    f:write('media_dir = "shared/media"\n')
    f:close()
    assert.equal(dir .. "/shared/media", require("quire.config").load(dir).media_path)
  end)
end)
