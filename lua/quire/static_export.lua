-- `quire export --format html DIR`: the public site as files for a CDN or object storage, rendered
-- by the app itself (quire.app.request), so each page is the bytes `quire serve` answers for the
-- same base URL.
--
-- What is written: every published entry, the front page and the section, tag and author lists
-- with their keyset pages (older/ and newer/), feeds, sitemaps, robots.txt, 404.html, the
-- search index (search-index.json) with a client-side search page (/search, search.js), a
-- meta-refresh page for every redirect plus _redirects and nginx map files, the plugins' static
-- files and the media folder; a .gz beside every compressible file (nginx gzip_static) and, with
-- --compress gzip,br, a .br (brotli_static or a CDN's precompressed files).
-- A path "/a/b" becomes a/b/index.html; a path with a file name ("/feed.xml") keeps it; the
-- sitemap index's parts (/sitemap.xml?part=N) become sitemap-N.xml (a static host ignores
-- queries), the one place the index differs from the served one.
--
-- The page list is read from the store (entries, terms, lists), streamed, never held whole.
-- Workers: N `quire export --worker i/N` processes (each its own Lua state and read connection)
-- take the pages whose path hashes to them; each writes what it did to its own result file and
-- a progress line to the shared pipe. The coordinator then records the run in the manifest
-- (SQLite, in the site's .quire/ folder, one per output folder): each file's path, its content
-- hash and the cache tags its page was built from. A later run renders again only the pages
-- one of whose tags was bumped since (the cache_tags versions the page cache reads), or that are
-- new; writes a file only when its bytes changed (temp + rename: other files keep their mtime);
-- and removes the files of pages that are gone.
local core = require "quire.core"
local store_sql = require "quire.store_sql"

local M = {}

local JOBS_MAX = 64
local CHANGED_MAX = 200000 -- bumped tags read into memory; past it every page is rendered again
local BATCH = 500          -- rows read from the store per query
-- Pages a worker renders in one read snapshot (store:begin_read): the pages of a batch agree with
-- each other, and their reads take one read lock, not one each (~25 a page); a new snapshot every
-- so often lets SQLite checkpoint its log meanwhile and shows the batch after it later commits.
local SNAPSHOT_PAGES = 200
local GZIP_MIN = 1024      -- under a kB a compressed copy saves no packet (and costs two files)
local GZIP_READ_MAX = 16 * 1024 * 1024 -- static files larger than this get no .gz (read whole)
-- Levels, measured on a quarter of an N=1500 bench export (1394 pages and feeds, 32.5 MB) and on
-- 342 real HTML documents (25 MB of Debian's docs): compressed size / CPU seconds.
--            bench          real docs                     bench          real docs
--   gzip 1  32.7% 0.13 s   18.1% 0.08 s         br 1    33.5% 0.15 s   18.0% 0.08 s
--   gzip 4  30.1% 0.33 s   16.6% 0.14 s         br 4    30.9% 0.44 s   15.0% 0.27 s
--   gzip 6  29.7% 0.57 s   16.0% 0.21 s         br 5    29.0% 0.68 s   13.9% 0.40 s
--   gzip 9  29.5% 1.41 s   15.7% 0.70 s         br 6    28.6% 0.77 s   13.6% 0.44 s
--   gzip 12 28.1% 4.85 s   15.2% 4.48 s         br 9    28.2% 10.8 s   13.3% 3.51 s
-- (gzip: libdeflate's levels.) gzip 4 is within 1.3% (bench) to 4% (docs) of 6's size in 0.6 of
-- its time. Brotli 5 is the first quality smaller than the .gz on both (at 4 it is larger on the
-- bench's made-up words, which its dictionary does not know; on prose it is 13% smaller than
-- gzip 6); past 5 each step gains 1% for 15% to 15 times the time. In a whole export (N=1500,
-- one worker) Brotli 5 took 20% of all the CPU, gzip 4 8%: the .br is written only when asked
-- (--compress gzip,br, for brotli_static or a CDN that serves precompressed Brotli).
-- Measured again on a whole N=2000 bench export (6905 files, 158 MB) and on 509 HTML documents
-- (25 MB of Debian's docs), the lower gzip levels' size against 4's, and their CPU:
--   gzip 1 +8.4% bench, +8.7% docs, 0.39 of 4's time     gzip 3 +1.0%, +2.4%, 0.88
--   gzip 2 +3.5% bench, +5.3% docs, 0.69 of 4's time     (level 4: 1.57 s, 11% of the export's CPU)
-- Level 1 would save 7% of a full export's CPU, paid once per page version, for 8-9% more bytes
-- on every request that takes the .gz: 4 stays.
local GZIP_LEVEL, BROTLI_QUALITY = 4, 5
local COMPRESS_DEFAULT = "gzip"

local COMPRESSIBLE = { html = true, xml = true, json = true, txt = true, css = true, js = true, svg = true,
  map = true, csv = true, ics = true, webmanifest = true }

-- The client-side search: reads ?q=, loads /search-index.json once, ranks entries by how many
-- of the words their title (3 points) and summary (1) hold, lists the best 50. Built with DOM
-- calls and textContent only: nothing from the index is parsed as HTML.
local SEARCH_JS = [[
// Static search for a quire export: the server's /search, done in the browser.
(function () {
  "use strict";
  var input = document.getElementById("search-q");
  if (!input || !input.form) return;
  var form = input.form;
  var q = new URLSearchParams(window.location.search).get("q") || "";
  input.value = q;
  var words = q.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 0; }).slice(0, 20);
  if (words.length === 0) return;
  var status = document.createElement("p");
  status.setAttribute("role", "status");
  status.textContent = "Searching…";
  form.parentNode.insertBefore(status, form.nextSibling);
  document.title = "Search results for “" + q + "” – " + document.title.replace(/^.*? – /, "");
  fetch("/search-index.json").then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (index) {
    var hits = [];
    index.entries.forEach(function (e) {
      var title = e.title.toLowerCase(), summary = (e.summary || "").toLowerCase(), score = 0;
      for (var i = 0; i < words.length; i++) {
        var t = title.indexOf(words[i]) >= 0, s = summary.indexOf(words[i]) >= 0;
        if (!t && !s) return;
        score += (t ? 3 : 0) + (s ? 1 : 0);
      }
      hits.push({ e: e, score: score });
    });
    hits.sort(function (a, b) { return b.score - a.score || (a.e.date < b.e.date ? 1 : -1); });
    status.textContent = hits.length === 1 ? "1 result" : hits.length + " results";
    if (hits.length === 0) {
      var none = document.createElement("p");
      none.textContent = "Nothing matched. Try other or fewer words.";
      status.parentNode.insertBefore(none, status.nextSibling);
      return;
    }
    var list = document.createElement("div");
    list.className = "cards";
    hits.slice(0, 50).forEach(function (h) {
      var card = document.createElement("article");
      card.className = "card";
      var head = document.createElement("h2");
      var a = document.createElement("a");
      a.href = h.e.url;
      a.textContent = h.e.title;
      head.appendChild(a);
      card.appendChild(head);
      if (h.e.summary) {
        var p = document.createElement("p");
        p.textContent = h.e.summary;
        card.appendChild(p);
      }
      list.appendChild(card);
    });
    status.parentNode.insertBefore(list, status.nextSibling);
  }).catch(function (err) {
    status.textContent = "The search index could not be loaded (" + err.message + ").";
  });
})();
]]

local function fail(fmt, ...) error(fmt:format(...), 0) end

-- The file a URL path is written to, relative to the output folder, or nil when it has none.
-- %XX escapes are decoded, as a web server decodes them before it looks for the file; a path
-- that would leave the folder ("..", an escaped "/") or holds a NUL has no file.
function M.file_of(path)
  local part = path:match("^/sitemap%.xml%?part=(%d+)$")
  if part then return "sitemap-" .. part .. ".xml" end
  if path:find("[?#]") or path:sub(1, 1) ~= "/" or path:find("%%2[Ff]") then return nil end
  path = path:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  if path:find("%z") or path:find("/%.%.?/") or path:find("/%.%.?$") or path:find("//", 1, true) then return nil end
  if path == "/" then return "index.html" end
  local last = path:match("([^/]*)$")
  if last == "" then return path:sub(2) .. "index.html" end
  if last:find(".", 1, true) then return path:sub(2) end
  return path:sub(2) .. "/index.html"
end

local function ext_of(file) return (file:match("%.([%w]+)$") or ""):lower() end

-- HMAC-SHA256 in hex: names the manifest after the output folder and signs the code. (The
-- file hashes were this too until XXH3 replaced them: legacy_page_hash reads those.)
local function hash_of(s) return (("%02x"):rep(32):format(core.hmac_sha256("quire-export", s):byte(1, 32))) end

-- A page's hash leaves out the signed form tokens (the comment form's names the second it was
-- made in): a page rendered again with nothing else changed is not written again. The token's
-- place is found with plain searches and left out of the hash as a range (no copy of the page,
-- no pattern tried at every byte); XXH3-128 rather than SHA-256, at a tenth of the cost: it
-- tells our own pages apart, no one forges them.
local TOKEN = '<input type="hidden" name="token" value="'
local function page_hash(body)
  local skips, at = nil, 1
  while true do
    local _, e = body:find(TOKEN, at, true)
    if not e then break end
    local q = body:find('"', e + 1, true) or #body + 1
    skips = skips or {}
    -- (past 64 forms the remaining tokens are hashed: such a page is written again each export)
    if #skips == 128 then break end
    skips[#skips + 1], skips[#skips + 2] = e + 1, q - 1
    at = q
  end
  return core.xxh128(body, skips)
end

-- The hash a manifest written before XXH3 holds (64 hex digits): compared with only for such a
-- row, so the first export after the upgrade keeps the files it finds the same.
local function legacy_page_hash(body)
  if not body:find(TOKEN, 1, true) then return hash_of(body) end
  return hash_of((body:gsub('(<input type="hidden" name="token" value=")[^"]*', "%1")))
end
local function same_hash(row_hash, body, h)
  if #row_hash == 64 then return row_hash == legacy_page_hash(body) end
  return row_hash == h
end

-- 32-bit FNV-1a of s: which worker takes a path.
local function fnv(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Makes root/rel_dir and the folders above it that are missing. known: a bounded memo of the
-- folders known to exist. (mkdir first, one system call for a page's new folder; its parent
-- only when it is missing.)
local function mkdirs(root, rel_dir, known)
  if rel_dir == "" or known[rel_dir] then return end
  local path = root .. "/" .. rel_dir
  if not core.mkdir(path) and core.stat(path) ~= "dir" then
    mkdirs(root, rel_dir:match("^(.*)/[^/]*$") or "", known)
    local ok, err = core.mkdir(path)
    if not ok and core.stat(path) ~= "dir" then fail("cannot make folder %s: %s", path, tostring(err)) end
  end
  if known.n >= 4096 then for k in pairs(known) do known[k] = nil end known.n = 0 end
  known[rel_dir], known.n = true, known.n + 1
end

local pid
local function tmp_of(path)
  pid = pid or core.getpid()
  return path .. ".tmp-" .. pid
end

-- Writes data to out.root/file through a temporary file renamed over it (core.write_file: one
-- write, no stdio buffer). No fsync here: the coordinator syncs the file system once, before
-- the manifest records the files. out: { root =, known = (see mkdirs), gzip =, br = }.
local function write_atomic(out, file, data)
  mkdirs(out.root, file:match("^(.*)/[^/]*$") or "", out.known)
  local path = out.root .. "/" .. file
  local ok, err = core.write_file(path, data, tmp_of(path))
  if not ok then fail("cannot write %s: %s", path, tostring(err)) end
end

-- The compressed siblings of a file (nginx gzip_static; brotli_static or a CDN for .br): written
-- for compressible data of some size, as --compress asks; removed otherwise (those left from
-- before). fresh: the file is new, so there is nothing to remove.
local function write_siblings(out, file, data, fresh)
  local big = #data >= GZIP_MIN and COMPRESSIBLE[ext_of(file)]
  if big and out.gzip then write_atomic(out, file .. ".gz", core.gzip(data, GZIP_LEVEL))
  elseif not fresh then os.remove(out.root .. "/" .. file .. ".gz") end -- (nothing there: a harmless error)
  if big and out.br then write_atomic(out, file .. ".br", core.brotli(data, BROTLI_QUALITY))
  elseif not fresh then os.remove(out.root .. "/" .. file .. ".br") end
end

local function write_page(out, file, data, fresh)
  write_atomic(out, file, data)
  write_siblings(out, file, data, fresh)
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then fail("cannot read %s: %s", path, tostring(err)) end
  local s = f:read("a")
  f:close()
  return s
end

-- Copies a static file through a temporary file, with its siblings when compressible: read
-- whole when it gets siblings (read once for all three), else copied by the kernel.
local function copy_file(out, file, src, fresh)
  local _, _, size = core.stat(src)
  if COMPRESSIBLE[ext_of(file)] and size and size >= GZIP_MIN and size <= GZIP_READ_MAX then
    return write_page(out, file, read_file(src), fresh)
  end
  mkdirs(out.root, file:match("^(.*)/[^/]*$") or "", out.known)
  local path = out.root .. "/" .. file
  local ok, err = core.copy_file(src, path, tmp_of(path))
  if not ok then fail("cannot copy %s: %s", src, tostring(err)) end
  if not fresh then
    os.remove(path .. ".gz")
    os.remove(path .. ".br")
  end
end

-- The siblings of a static file already there, as --compress now asks.
local function asset_siblings(out, file, src)
  local _, _, size = core.stat(src)
  if COMPRESSIBLE[ext_of(file)] and size and size >= GZIP_MIN and size <= GZIP_READ_MAX then
    write_siblings(out, file, read_file(src))
  else
    os.remove(out.root .. "/" .. file .. ".gz")
    os.remove(out.root .. "/" .. file .. ".br")
  end
end

local function plugin_settings(quire, name)
  for _, p in ipairs(quire.plugins.plugins) do
    if p.name == name then return p.settings end
  end
end

-- The types list pages show (all but the listings plugin's skip_types), as one SQL parameter
-- ("e.type " .. store_sql.IN_LIST).
local function listed_types(quire, settings)
  local skip, out = {}, {}
  for _, t in ipairs(settings.skip_types or {}) do skip[t] = true end
  for _, t in ipairs(quire.content.types()) do if not skip[t] then out[#out + 1] = t end end
  return store_sql.value_list(out)
end

local FIXED = { "/feed.xml", "/atom.xml", "/feed.json", "/sitemap-pages.xml", "/sitemap-news.xml", "/robots.txt" }
local FIXED_SET = { ["/sitemap.xml"] = true, ["/404.html"] = true, ["/views.gif"] = true, ["/search"] = true,
  ["/search-index.json"] = true, ["/search.js"] = true }
for _, p in ipairs(FIXED) do FIXED_SET[p] = true end

-- The cache tags whose bump cannot add or remove an address: the content of entries (not where
-- they stand in lists), lists of drafts, related lists, neighbours, comments, shares, media, fronts. When only
-- such tags were bumped since the last export, the pages to render again are found in the
-- manifest by their tags (targeted), not by walking every address of the site. Any other tag
-- (a list's membership, redirects, one this list does not know) means a walk.
local ADDRESS_STABLE = { "entry:", "teaser:", "ids:", "entries:any", "related:", "neighbours:", "comments:", "shares:", "media:",
  "front:", "most-read:", "robots", "list:drafts" }
local TARGETED_MAX = 256 -- bumped tags looked up in the manifest; past it, a walk
local function address_stable(tag)
  for _, p in ipairs(ADDRESS_STABLE) do
    if tag:sub(1, #p) == p then return true end
  end
  return false
end

-- The manifest's pages carrying one of the changed tags, or rendered on every export (no tags);
-- and then those of them mine(path) takes whose file is no longer in out_dir (removed by hand):
-- one stat per page (the siblings are not looked at: without its .gz a page is still served).
local function each_stale_page(man, fn, changed, mine, out_dir)
  local list = {}
  for t in pairs(changed) do list[#list + 1] = t end
  local function listed(tags) -- (whether the first query below took the page)
    if #list == 0 then return false end
    if tags == "" then return true end
    for t in tags:gmatch("%S+") do if changed[t] then return true end end
    return false
  end
  local last = ""
  repeat
    local rows = man:rows("SELECT path, file, tags FROM files WHERE path > ? AND hash NOT LIKE 'src %' ORDER BY path LIMIT ?", last, BATCH)
    for _, r in ipairs(rows) do
      last = r.path
      if not FIXED_SET[r.path] and mine(r.path) and core.stat(out_dir .. "/" .. r.file) ~= "file" and not listed(r.tags) then
        fn { path = r.path, kind = "page" }
      end
    end
  until #rows < BATCH
  if #list == 0 then return end
  local tags = require("cjson").encode(list)
  last = ""
  repeat
    local rows = man:rows("SELECT path FROM files f WHERE path > ? AND hash NOT LIKE 'src %' AND (tags = ''"
      .. " OR EXISTS (SELECT 1 FROM json_each(?) c WHERE instr(' ' || f.tags || ' ', ' ' || c.value || ' ') > 0)) ORDER BY path LIMIT ?",
      last, tags, BATCH)
    for _, r in ipairs(rows) do
      last = r.path
      if not FIXED_SET[r.path] then fn { path = r.path, kind = "page" } end
    end
  until #rows < BATCH
end

-- Calls fn(item) for every address of the site, streamed from the store. item: { path =, kind =
-- "page" | "asset" | "search" | "search_index" | "search_js" | "sitemap_index" | "error", src = }.
-- targeted (a set of the tags bumped since the last export, all address_stable): no page was
-- added or removed, so only the fixed addresses below, the pages of the manifest man carrying
-- one of those tags or whose file is missing (those mine(path) takes, in out_dir) and the
-- static files are looked at.
local function each_item(quire, fn, targeted, man, mine, out_dir)
  for _, p in ipairs(FIXED) do
    fn { path = p, kind = "page" }
  end
  fn { path = "/sitemap.xml", kind = "sitemap_index" }
  fn { path = "/404.html", kind = "error" }
  -- The view pixel stories load (the listings plugin's most read): one file; nothing counts here.
  if quire.app.router:match("GET", "/views.gif") then fn { path = "/views.gif", kind = "page" } end
  fn { path = "/search", kind = "search" }
  fn { path = "/search-index.json", kind = "search_index" }
  fn { path = "/search.js", kind = "search_js" }
  if targeted then each_stale_page(man, fn, targeted, mine, out_dir) else M.each_page(quire, fn) end
  M.each_file(quire, fn)
end

-- The addresses of entries, lists and redirects, and the sitemap's parts (see each_item).
function M.each_page(quire, fn)
  local db = quire._db
  for _, n in ipairs(quire.content.published_blocks()) do fn { path = ("/sitemap.xml?part=%d"):format(n + 1), kind = "page" } end

  -- Entries, by id.
  local last = 0
  repeat
    local rows = db:rows("SELECT id, type, slug, published_at, created_at, fields FROM entries"
      .. " WHERE id > ? AND status = 'published' ORDER BY id LIMIT ?", last, BATCH)
    for _, e in ipairs(rows) do
      last = e.id
      local url = quire.content.url(e)
      if url then fn { path = url, kind = "page" } end
    end
  until #rows < BATCH

  -- Lists: the front page, sections, tags, authors, each with its keyset pages. Page k's
  -- "older" address names its last entry; page k+1's "newer" address its first (listings plugin).
  local listings = plugin_settings(quire, "listings")
  local per = listings and math.tointeger(listings.per_page)
  local types = listings and listed_types(quire, listings)
  local none = store_sql.value_list({})
  local function walk(base, sql, params)
    fn { path = base, kind = "page" }
    if not per or per < 1 then return end
    local prefix = base == "/" and "/" or (base .. "/")
    local np = #params
    params[np + 1], params[np + 2], params[np + 3] = "9999", math.maxinteger, per + 1
    local k = 1
    while true do
      local rows = db:rows(sql, table.unpack(params, 1, np + 3))
      if #rows == 0 then break end
      if k > 1 then
        local first = rows[1]
        fn { path = prefix .. "newer/" .. first.published_at:gsub("[^%d]", "") .. "-" .. first.id, kind = "page" }
      end
      if #rows <= per then break end
      local c = rows[per]
      fn { path = prefix .. "older/" .. c.published_at:gsub("[^%d]", "") .. "-" .. c.id, kind = "page" }
      params[np + 1], params[np + 2] = c.published_at, c.id
      k = k + 1
    end
  end

  local TAIL = " AND (%s, %s) < (?, ?) ORDER BY %s DESC, %s DESC LIMIT ?"
  walk("/", "SELECT e.published_at, e.id FROM entries e WHERE e.status = 'published'"
    .. " AND e.type " .. store_sql.IN_LIST .. TAIL:format("e.published_at", "e.id", "e.published_at", "e.id"),
    { types or none })
  -- The plain list the front page stands for (the listings plugin's /latest), when there is one.
  if quire.app.router:match("GET", "/latest") then
    walk("/latest", "SELECT e.published_at, e.id FROM entries e WHERE e.status = 'published'"
      .. " AND e.type " .. store_sql.IN_LIST .. TAIL:format("e.published_at", "e.id", "e.published_at", "e.id"),
      { types or none })
  end
  local TERM_SQL = "SELECT e.published_at, e.id FROM entry_terms lt " .. store_sql.JOIN_IN_ORDER .. " entries e ON e.id = lt.entry_id"
    .. " WHERE lt.term_id = ? AND lt.listed_at IS NOT NULL AND e.status = 'published' AND e.type " .. store_sql.IN_LIST
    .. TAIL:format("lt.listed_at", "lt.entry_id", "lt.listed_at", "lt.entry_id")
  last = 0
  repeat
    local rows = db:rows("SELECT id, taxonomy, slug FROM terms WHERE id > ? AND listed > 0 AND taxonomy IN ('tag', 'section')"
      .. " ORDER BY id LIMIT ?", last, BATCH)
    for _, t in ipairs(rows) do
      last = t.id
      local base = "/" .. t.taxonomy .. "/" .. t.slug
      walk(base, TERM_SQL, { t.id, types or none })
      for _, f in ipairs({ "feed.xml", "atom.xml", "feed.json" }) do fn { path = base .. "/" .. f, kind = "page" } end
    end
  until #rows < BATCH
  last = 0
  local AUTHOR_SQL = "SELECT e.published_at, e.id FROM entries e WHERE e.author_id = ? AND e.status = 'published'"
    .. " AND e.type " .. store_sql.IN_LIST .. TAIL:format("e.published_at", "e.id", "e.published_at", "e.id")
  repeat
    local rows = db:rows("SELECT id, login FROM users WHERE id > ? ORDER BY id LIMIT ?", last, BATCH)
    for _, u in ipairs(rows) do
      last = u.id
      if db:value("SELECT 1 FROM entries WHERE author_id = ? AND status = 'published' AND type " .. store_sql.IN_LIST .. " LIMIT 1",
        u.id, types or none) then
        walk("/author/" .. u.login, AUTHOR_SQL, { u.id, types or none })
      end
    end
  until #rows < BATCH

  -- Old URLs: a meta-refresh page each (those with a query go only into _redirects and the map).
  last = 0
  repeat
    local rows = db:rows("SELECT id, from_path FROM redirects WHERE id > ? ORDER BY id LIMIT ?", last, BATCH)
    for _, r in ipairs(rows) do
      last = r.id
      if not r.from_path:find("?", 1, true) then fn { path = r.from_path, kind = "page" } end
    end
  until #rows < BATCH
end

-- Static files: the plugins' (/static/NAME/), the media folder (/media/), the site's public/.
function M.each_file(quire, fn)
  local function files(dir, prefix, skip_real)
    local names = core.listdir(dir)
    if not names then return end
    for _, name in ipairs(names) do
      local src = dir .. "/" .. name
      local kind = core.stat(src)
      if kind == "dir" then
        if not (skip_real and core.realpath(src) == skip_real) then files(src, prefix .. name .. "/", skip_real) end
      elseif kind == "file" and not name:match("^%.") then
        fn { path = prefix .. name, kind = "asset", src = src }
      end
    end
  end
  for _, s in ipairs(quire.plugins.static_dirs) do files(s.dir, "/static/" .. s.plugin .. "/") end
  -- And the copies under fingerprinted names the pages link to (quire.assets), made for each.
  for _, s in ipairs(quire.plugins.static_dirs) do
    for _, name in ipairs(core.listdir(s.dir) or {}) do
      if core.stat(s.dir .. "/" .. name) == "file" and not name:match("^%.") then pcall(quire.assets.url, s.plugin, name) end
    end
  end
  local assets = require("quire.assets").dir(quire.site.config)
  if core.stat(assets) == "dir" then files(assets, "/static/") end
  local media = require("quire.media")
  local media_dir = media.dir(quire.site.config)
  if core.stat(media_dir) == "dir" then files(media_dir, media.PREFIX) end
  local public = quire.site.config.dir .. "/public"
  if core.stat(public) == "dir" then files(public, "/", core.stat(media_dir) == "dir" and core.realpath(media_dir) or nil) end
end
M.each_item = each_item

local ENTITY = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local function escape(s) return (s:gsub("[&<>\"']", ENTITY)) end

-- A redirect as a page: a meta refresh, a canonical link and a plain link.
local function redirect_page(location)
  local href = escape(location)
  return table.concat({
    "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', "<title>Moved</title>",
    '<meta http-equiv="refresh" content="0; url=' .. href .. '">', '<link rel="canonical" href="' .. href .. '">',
    '<meta name="robots" content="noindex">', "</head>",
    '<body><p>This page has moved to <a href="' .. href .. '">' .. href .. "</a>.</p></body>", "</html>", "",
  }, "\n")
end

-- The search index: every published entry the search plugin lists (its skip_types left out),
-- with its address, title, date and summary (the standfirst, else the start of the text).
local function search_index(quire, out)
  local db = quire._db
  local settings = plugin_settings(quire, "search") or {}
  local types = listed_types(quire, settings)
  local cjson, json = require("cjson"), require("quire.json") -- (quire.json: keys in order)
  out[#out + 1] = '{"entries":['
  local last, first = 0, true
  repeat
    local rows = db:rows("SELECT id, type, slug, title, published_at, created_at, fields, substr(body, 1, 600) AS body FROM entries"
      .. " WHERE id > ? AND status = 'published' AND type " .. store_sql.IN_LIST .. " ORDER BY id LIMIT ?", last, types, BATCH)
    for _, e in ipairs(rows) do
      last = e.id
      local url = quire.content.url(e)
      if url then
        local ok, fields = pcall(cjson.decode, e.fields or "{}")
        local sf = ok and type(fields) == "table" and type(fields.standfirst) == "string" and fields.standfirst or ""
        if not sf:match("%S") then
          sf = (e.body or ""):gsub("[%*_`#>%[%]]", ""):gsub("%(https?://[^)]*%)", ""):gsub("%s+", " ")
          if #sf > 240 then sf = (utf8.len(sf) and sf:sub(1, utf8.offset(sf, 200) - 1) or sf:sub(1, 200)):gsub("%s+%S*$", "") .. "…" end
        end
        if not utf8.len(sf) then sf = "" end
        out[#out + 1] = (first and "" or ",") .. json.encode({ url = url, title = e.title, date = e.published_at or "", summary = sf })
        first = false
      end
    end
  until #rows < BATCH
  out[#out + 1] = "]}\n"
  quire._site.tag("list:all")
  quire._site.tag("entries:any")
end

-- Renders one item: returns body, tags (space-separated; "" when nothing says when it goes
-- stale: rendered every run), or nil and a reason to leave it out (404), or raises.
local function render(quire, item)
  local app = quire.app
  if item.kind == "search_js" then return SEARCH_JS, "static" end
  if item.kind == "search_index" then
    local site = quire._site
    site.collecting = {}
    local out = {}
    local ok, err = pcall(search_index, quire, out)
    site.collecting = nil
    if not ok then error(err, 0) end
    return table.concat(out), "list:all entries:any"
  end
  local headers = { accept = "text/html,*/*" }
  local r = app.request("GET", item.kind == "search" and "/search" or item.path, { headers = headers })
  if item.kind == "error" then
    if r.status ~= 404 then fail("%s: expected the 404 page, got status %d", item.path, r.status) end
    return r.body, "" -- (error pages carry no tags: rendered on every export, one page)
  end
  if r.status == 301 or r.status == 302 or r.status == 307 or r.status == 308 then
    local loc = r.headers.location
    if not loc then fail("%s: a redirect without a Location", item.path) end
    return redirect_page(loc), r.tags
  end
  if r.status == 404 or r.status == 410 then return nil, "not found" end
  if r.status ~= 200 then fail("%s: status %d (see the log lines above)", item.path, r.status) end
  local body = r.body
  -- A page kept for a time only (it changes with the clock, not with a write) or private:
  -- rendered again on every export.
  local tags = (r.max_age or r.private) and "" or (r.tags or "")
  if item.kind == "sitemap_index" then
    body = body:gsub("/sitemap%.xml%?part=(%d+)", "/sitemap-%1.xml")
  elseif item.kind == "search" then
    -- The server's search page with the static search's script (a file, not inline).
    local n
    body, n = body:gsub("</head>", '<script src="/search.js" defer></script>\n</head>', 1)
    if n ~= 1 then fail("/search: the search page has no </head> to add search.js to") end
  end

  return body, tags
end

-- The manifest: the export's own state, a SQLite file in the site's .quire/ folder (one per
-- output folder) on a connection of its own, whichever store the site is on.
local function manifest_path(quire, out_dir)
  local run = quire.site.config.dir .. "/.quire"
  if core.stat(run) ~= "dir" then assert(core.mkdir(run)) end
  local real = core.realpath(out_dir) or out_dir
  return ("%s/export-%s.db"):format(run, hash_of(real):sub(1, 16))
end

local SCHEMA = {
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID",
  -- path: the URL path; file: under the output folder; hash: of the bytes (for a static file,
  -- its source's size and mtime); tags: the cache tags the page was built from.
  "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, file TEXT NOT NULL, hash TEXT NOT NULL, tags TEXT NOT NULL) WITHOUT ROWID",
}

-- Opens the manifest at path (made when missing; the coordinator makes its tables first).
-- synchronous=NORMAL: a commit lost to a power cut only makes the next export redo pages.
local function open_manifest(path)
  local man, err = core.open_store(path, { create = true, migrate = false })
  if not man then fail("cannot open the export manifest %s: %s", path, tostring(err)) end
  man:exec("PRAGMA synchronous = NORMAL")
  return man
end

-- What the pages are rendered with, besides the content: quire's version, the base URL, the
-- site's settings and every plugin and template file (names, sizes, mtimes). When it differs
-- from the last run's, every page is rendered again.
local function code_signature(quire, base_url, compress)
  local parts = { core.version, base_url }
  -- (gzip,br: what was written before the option, so a manifest from then keeps its signature)
  if compress ~= "gzip,br" then parts[#parts + 1] = "compress " .. compress end
  local function walk(dir, depth)
    if depth > 8 then return end
    for _, name in ipairs(core.listdir(dir) or {}) do
      local p = dir .. "/" .. name
      local kind, mtime, size, nsec = core.stat(p)
      if kind == "dir" and name ~= "static" and name ~= "spec" then walk(p, depth + 1)
      elseif kind == "file" then parts[#parts + 1] = ("%s %d %d %d"):format(p, mtime, size, nsec or 0) end
    end
  end
  local cfg = quire.site.config
  local kind, mtime, size = core.stat(cfg.dir .. "/site.lua")
  parts[#parts + 1] = ("site.lua %s %s %s"):format(kind, mtime, size)
  for _, p in ipairs(quire.plugins.plugins) do walk(p.dir, 0) end
  if core.stat(cfg.dir .. "/templates") == "dir" then walk(cfg.dir .. "/templates", 0) end
  return hash_of(table.concat(parts, "\n"))
end

local function set_base_url(quire, base_url)
  if base_url then
    base_url = base_url:gsub("/+$", "")
    if not base_url:match("^https?://[%w%.%-]+[:%d]*$") and not base_url:match("^https?://[%w%.%-]+[:%d]*/[%w%-%._~/]*$") then
      fail("--base-url takes an http(s) URL such as https://news.example (got %q)", base_url)
    end
    quire.site.base_url = base_url
    quire.site.config.base_url = base_url
  end
  return quire.site.base_url
end

-- One worker's share: items whose path hashes to index (of count). Writes its result lines to
-- results_path and progress lines ("P index done") to stdout.
--   result lines: "K path" kept as it was; "S path file hash tags" rendered, same bytes;
--   "W path file hash tags" written (or would be, with dry_run); "X path reason" left out;
--   "E path message" failed.
function M.worker(quire, out_dir, o)
  set_base_url(quire, o.base_url)
  local db = quire._db
  local man <close> = open_manifest(o.manifest)
  local changed, all = {}, o.since == nil
  if not all then
    local n = 0
    for _, r in ipairs(db:rows("SELECT tag FROM cache_tags WHERE version > ? ORDER BY version LIMIT ?", o.since, CHANGED_MAX + 1)) do
      changed[r.tag], n = true, n + 1
    end
    if n > CHANGED_MAX then all = true end
  end
  if o.targeted and all then fail("--targeted needs --since") end
  local res, err = io.open(o.results, "wb")
  if not res then fail("cannot write %s: %s", o.results, tostring(err)) end
  io.stdout:setvbuf("line")
  local out = { root = out_dir, known = { n = 0 }, gzip = o.compress.gzip, br = o.compress.br }
  local done, index, count = 0, o.index, o.count
  local rendered, statements, snapshots = 0, db:statements(), 1
  -- (a first export: nothing to look up)
  local empty = man:value("SELECT count(*) FROM (SELECT 1 FROM files LIMIT 1)") == 0
  -- Whether item must be done again, and whether its file was found there (nil: not looked).
  -- (a static file is the same whatever the code or the tags: its source's mtime and size say)
  local function stale(row, item)
    if not row or (all and item.kind ~= "asset") then return true end
    if core.stat(out_dir .. "/" .. row.file) ~= "file" then return true, false end
    if item.kind == "asset" then return row.hash ~= item.sig, true end
    if row.tags == "" then return true, true end
    for t in row.tags:gmatch("%S+") do if changed[t] then return true, true end end
    return false, true
  end
  local function mine(path) return fnv(path) % count == index end
  -- The site's secret (the comment form's tokens) is written on first use: before the snapshot,
  -- which refuses writes.
  quire.tokens.sign("export", "")
  db:begin_read()
  each_item(quire, function(item)
    if not mine(item.path) then return end
    local file = M.file_of(item.path)
    if not file then return end
    local row = not empty and man:row("SELECT file, hash, tags FROM files WHERE path = ?", item.path) or nil
    if item.kind == "asset" then
      local _, mtime, size, nsec = core.stat(item.src)
      item.sig = ("src %d %d %d"):format(mtime or 0, size or 0, nsec or 0)
    end
    local is_stale, present = stale(row, item)
    local line
    if not is_stale then
      -- --compress changed since: a static file's siblings as now asked
      if item.kind == "asset" and o.recompress and not o.dry_run then asset_siblings(out, file, item.src) end
      line = "K\t" .. item.path
    elseif item.kind == "asset" then
      if not o.dry_run then copy_file(out, file, item.src, o.fresh) end
      line = ("W\t%s\t%s\t%s\t%s"):format(item.path, file, item.sig, "")
    else
      local ok, body, tags = pcall(render, quire, item)
      rendered = rendered + 1
      if rendered % SNAPSHOT_PAGES == 0 then
        db:end_read()
        db:begin_read()
        snapshots = snapshots + 1
      end
      if not ok then
        line = "E\t" .. item.path .. "\t" .. tostring(body):gsub("[\t\n]", " ")
      elseif body == nil then
        line = "X\t" .. item.path .. "\t" .. tags
      else
        local h = page_hash(body)
        if present == nil and row then present = core.stat(out_dir .. "/" .. row.file) == "file" end
        if present and row.file == file and same_hash(row.hash, body, h) then
          -- --compress changed since: the same page, its siblings as now asked (from the bytes
          -- there, whose token may differ from this rendering's)
          if o.recompress and not o.dry_run then write_siblings(out, file, read_file(out_dir .. "/" .. file)) end
          line = ("S\t%s\t%s\t%s\t%s"):format(item.path, file, h, tags)
        else
          if not o.dry_run then write_page(out, file, body, o.fresh) end
          line = ("W\t%s\t%s\t%s\t%s"):format(item.path, file, h, tags)
        end
      end
    end
    res:write(line, "\n")
    done = done + 1
    if done % 50 == 0 then io.stdout:write(("P %d %d\n"):format(index, done)) end
  end, o.targeted and changed, man, mine, out_dir)
  db:end_read()
  res:close()
  if o.verbose then
    statements = db:statements() - statements
    io.stdout:write(("export worker %d: %d pages rendered, %d statements read them and listed the site (%.1f a page), in %d read snapshots\n")
      :format(index, rendered, statements, statements / math.max(rendered, 1), snapshots))
  end
  io.stdout:write(("P %d %d\n"):format(index, done))
  return 0
end

-- Whether two files hold the same bytes (read in chunks: either may be large).
local function same_file(a, b)
  local fa, fb = io.open(a, "rb"), io.open(b, "rb")
  local same = fa ~= nil and fb ~= nil
  while same do
    local x, y = fa:read(65536), fb:read(65536)
    if x ~= y then same = false elseif x == nil then break end
  end
  if fa then fa:close() end
  if fb then fb:close() end
  return same
end

-- _redirects (Netlify, Cloudflare Pages) and nginx map files, from the redirects table, written
-- line by line as the table is read (any number of redirects in bounded memory) to temporary
-- files in dir, which then replace those in out_dir whose bytes differ. Returns the names of
-- the files that changed (or would: dry_run leaves out_dir alone).
local function redirect_files(quire, out_dir, dir, dry_run)
  local db = quire._db
  local names = { "_redirects", "redirects.nginx.map", "redirects-302.nginx.map" }
  local files = {}
  for i, name in ipairs(names) do
    local f, err = io.open(dir .. "/" .. name .. ".tmp-" .. core.getpid(), "wb")
    if not f then
      for _, g in ipairs(files) do g:close() end
      fail("cannot write %s: %s", dir .. "/" .. name, tostring(err))
    end
    files[i] = f
  end
  local netlify, permanent, temporary = files[1], files[2], files[3]
  local head = "# Old addresses of the site (quire export). In nginx: map $request_uri $%s { include %s; }\n"
    .. "# and in the server block: if ($%s) { return %s $%s; }\n"
  permanent:write(head:format("quire_moved", "redirects.nginx.map", "quire_moved", "301", "quire_moved"))
  temporary:write(head:format("quire_found", "redirects-302.nginx.map", "quire_found", "302", "quire_found"))
  local function nq(s) return '"' .. s:gsub('[\\"]', "\\%0") .. '"' end
  local ok, err = pcall(function()
    local last = 0
    repeat
      local rows = db:rows("SELECT id, from_path FROM redirects WHERE id > ? ORDER BY id LIMIT ?", last, BATCH)
      for _, r in ipairs(rows) do
        last = r.id
        local path, qs = r.from_path:match("^([^?]*)%??(.*)$")
        local res = quire.app.request("GET", r.from_path)
        local to = res.headers.location
        if to and (res.status == 301 or res.status == 302 or res.status == 308) then
          if qs ~= "" then
            local k, v = qs:match("^([^=]+)=(.*)$")
            netlify:write(("%s %s=%s %s %d\n"):format(path, k, v, to, res.status))
          else
            netlify:write(("%s %s %d\n"):format(path, to, res.status))
          end
          local map = res.status == 302 and temporary or permanent
          map:write(("%s %s;\n"):format(nq(r.from_path), nq(to)))
        end
      end
    until #rows < BATCH
    -- The sitemap index's parts as the server names them, to the files they became.
    for _, n in ipairs(quire.content.published_blocks()) do
      netlify:write(("/sitemap.xml part=%d /sitemap-%d.xml 301\n"):format(n + 1, n + 1))
      permanent:write(('"/sitemap.xml?part=%d" "/sitemap-%d.xml";\n'):format(n + 1, n + 1))
    end
  end)
  local closed = true
  for _, f in ipairs(files) do closed = f:close() and closed end
  local changed = {}
  for _, name in ipairs(names) do
    local tmp, path = dir .. "/" .. name .. ".tmp-" .. core.getpid(), out_dir .. "/" .. name
    if ok and closed and not same_file(tmp, path) then
      changed[#changed + 1] = name
      if not dry_run then
        local renamed, rerr = os.rename(tmp, path)
        if not renamed then ok, err = false, ("cannot rename %s: %s"):format(tmp, tostring(rerr)) end
      end
    end
    os.remove(tmp)
  end
  if not ok then error(err, 0) end
  if not closed then fail("cannot write the redirect files in %s", dir) end
  return changed
end

-- A new, empty folder for a run's own files (the workers' results; a dry run's redirect files):
-- beside the manifest, named after it and this process, and removed at the end of the run. A run
-- that was killed (Ctrl-C on --watch) leaves its folder: those of processes no longer running
-- are removed here, before this one is made.
local function work_folder(mpath)
  local dir, name = mpath:match("^(.*)/([^/]+)$")
  local me = core.getpid()
  for _, n in ipairs(core.listdir(dir) or {}) do
    local p = n:sub(1, #name + 5) == name .. ".run-" and math.tointeger(tonumber(n:sub(#name + 6)))
    if p and (p == me or not core.stat("/proc/" .. p)) then core.remove_tree(dir .. "/" .. n) end
  end
  local path = ("%s.run-%d"):format(mpath, me)
  local ok, err = core.mkdir(path, 448) -- (0700)
  if not ok then fail("cannot make the folder %s: %s", path, tostring(err)) end
  return path
end

-- One export run. Returns a summary table.
local function run_once(quire, out_dir, o)
  local db = quire._db
  local t0 = core.clock()
  local base_url = set_base_url(quire, o.base_url)
  local mpath = manifest_path(quire, out_dir)
  local man <close> = open_manifest(mpath)
  for _, s in ipairs(SCHEMA) do man:exec(s) end
  local function meta(k) return man:value("SELECT value FROM meta WHERE key = ?", k) end
  -- Taken before the workers start: a commit during the export is seen by the next one.
  local version = db:value("SELECT coalesce(max(version), 0) FROM cache_tags")
  local signature = code_signature(quire, base_url, o.compress)
  local since = meta("signature") == signature and math.tointeger(tonumber(meta("version") or "")) or nil
  -- Other siblings than last time: every page's made again or removed, even when it is the same.
  local recompress = (meta("compress") or "gzip,br") ~= o.compress -- (none recorded: from before the option)
  -- An empty folder (new, or emptied since): whatever the manifest says was there is not; a
  -- full export, with nothing to compare against.
  local fresh = #(core.listdir(out_dir) or {}) == 0
  if fresh then
    since = nil
    if not o.dry_run then man:exec("DELETE FROM files") end
  end
  -- Targeted: only tags that add or remove no address were bumped since (quick: none at all).
  local targeted, quick = false, false
  if since then
    local rows = db:rows("SELECT tag FROM cache_tags WHERE version > ? ORDER BY version LIMIT ?", since, TARGETED_MAX + 1)
    targeted = #rows <= TARGETED_MAX
    for _, r in ipairs(rows) do
      if not address_stable(r.tag) then targeted = false break end
    end
    quick = #rows == 0
  end
  -- For the progress line: the last run's count, else a guess from the store (entries, and
  -- each term's page and feeds).
  local expected = man:value("SELECT count(*) FROM files")
  if expected == 0 then
    expected = db:value("SELECT count(*) FROM entries WHERE status = 'published'") * 12 // 10
      + db:value("SELECT count(*) FROM terms WHERE listed > 0") * 4
  end

  local jobs = o.jobs
  local exe = core.exepath()
  local tmp = work_folder(mpath)
  local cmds = {}
  for i = 0, jobs - 1 do
    local argv = { exe, "export", "--format", "html", "--site", quire.site.config.dir, "--worker", ("%d/%d"):format(i, jobs),
      "--manifest", mpath, "--results", tmp .. "/w" .. i, "--base-url", base_url, "--compress", o.compress }
    if since then argv[#argv + 1] = "--since"; argv[#argv + 1] = tostring(since) end
    if o.dry_run then argv[#argv + 1] = "--dry-run" end
    if o.verbose then argv[#argv + 1] = "--verbose" end
    if targeted then argv[#argv + 1] = "--targeted" end
    if fresh then argv[#argv + 1] = "--fresh" end
    if recompress then argv[#argv + 1] = "--recompress" end
    argv[#argv + 1] = out_dir
    for j, a in ipairs(argv) do argv[j] = shell_quote(a) end
    cmds[#cmds + 1] = table.concat(argv, " ") .. " || echo F " .. i
  end
  local pipe = io.popen("{ " .. table.concat(cmds, " & ") .. " & wait; } </dev/null", "r")
  local progress, failed = {}, {}
  local tty = core.isatty(2)
  local last_print = 0
  for line in pipe:lines() do
    local w, n = line:match("^P (%d+) (%d+)$")
    if w then
      progress[tonumber(w)] = tonumber(n)
      local total = 0
      for _, v in pairs(progress) do total = total + v end
      if tty and core.clock() - last_print > 0.2 then
        io.stderr:write(("\rexport: %d of about %d addresses (%d%%), %d workers, %.1f s "):format(total, math.max(total, expected),
          total * 100 // math.max(total, expected, 1), jobs, core.clock() - t0))
        last_print = core.clock()
      end
    elseif line:match("^F %d+$") then
      failed[#failed + 1] = line:match("%d+")
    else
      io.stderr:write(line, "\n")
    end
  end
  pipe:close()
  if tty then io.stderr:write("\n") end
  if #failed > 0 then
    core.remove_tree(tmp)
    fail("export worker(s) %s failed (see the messages above); the folder may be half updated: run the export again", table.concat(failed, ", "))
  end

  -- The files on disk before the manifest says they are there: one sync of the file system
  -- (a crash before it leaves pages the manifest does not vouch for, written again next time).
  if not o.dry_run then
    local synced, serr = core.syncfs(out_dir)
    if not synced then core.remove_tree(tmp) fail("cannot sync %s to disk: %s", out_dir, tostring(serr)) end
  end

  -- Merge the workers' results into the manifest; remove the files of pages that are gone.
  local sum = { written = 0, kept = 0, same = 0, left_out = 0, removed = 0, errors = {} }
  local changes = {}
  local function note(s) if o.dry_run or o.verbose then changes[#changes + 1] = s end end
  man:begin()
  local ok, err = pcall(function()
    -- (temporary tables of this connection, which ends with the run)
    man:exec("CREATE TEMP TABLE seen (path TEXT PRIMARY KEY) WITHOUT ROWID")
    man:exec("CREATE TEMP TABLE gone (path TEXT PRIMARY KEY) WITHOUT ROWID")
    for i = 0, jobs - 1 do
      for line in io.lines(tmp .. "/w" .. i) do
        local k, path, a, b, c = line:match("^(%u)\t([^\t]*)\t?([^\t]*)\t?([^\t]*)\t?([^\t]*)$")
        if k == "K" then
          sum.kept = sum.kept + 1
          man:exec("INSERT OR IGNORE INTO temp.seen (path) VALUES (?)", path)
        elseif k == "S" or k == "W" then
          man:exec("INSERT OR IGNORE INTO temp.seen (path) VALUES (?)", path)
          if k == "W" then sum.written = sum.written + 1; note("write " .. a)
          else
            sum.same = sum.same + 1
            if o.verbose then note("render " .. a .. " (same bytes)") end
          end
          if not o.dry_run then
            man:exec("INSERT INTO files (path, file, hash, tags) VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE"
              .. " SET file = excluded.file, hash = excluded.hash, tags = excluded.tags", path, a, b, c)
          end
        elseif k == "X" then
          sum.left_out = sum.left_out + 1
          man:exec("INSERT OR IGNORE INTO temp.gone (path) VALUES (?)", path)
        elseif k == "E" then
          if #sum.errors < 20 then sum.errors[#sum.errors + 1] = path .. ": " .. a end
          -- A page that failed keeps its old file and row; it is rendered again next time.
          man:exec("INSERT OR IGNORE INTO temp.seen (path) VALUES (?)", path)
          if not o.dry_run then man:exec("UPDATE files SET tags = '' WHERE path = ?", path) end
        end
      end
    end
    local last = ""
    repeat
      -- (a targeted run saw every static file, whose hash names its source, and only some of the
      -- pages: of those, the ones that answered 404 go)
      local rows = man:rows("SELECT f.path, f.file FROM files f WHERE f.path > ?"
        .. (targeted and " AND (f.hash LIKE 'src %' OR EXISTS (SELECT 1 FROM temp.gone g WHERE g.path = f.path))" or "")
        .. " AND NOT EXISTS (SELECT 1 FROM temp.seen s WHERE s.path = f.path) ORDER BY f.path LIMIT ?", last, BATCH)
      for _, r in ipairs(rows) do
        last = r.path
        sum.removed = sum.removed + 1
        note("remove " .. r.file)
        if not o.dry_run then
          os.remove(out_dir .. "/" .. r.file)
          os.remove(out_dir .. "/" .. r.file .. ".gz")
          os.remove(out_dir .. "/" .. r.file .. ".br")
          -- Folders left empty go too (remove() fails on one that is not).
          local d = r.file:match("^(.*)/[^/]*$")
          while d and d ~= "" and os.remove(out_dir .. "/" .. d) do d = d:match("^(.*)/[^/]*$") end
          man:exec("DELETE FROM files WHERE path = ?", r.path)
        end
      end
    until #rows < BATCH
    if not o.dry_run then
      man:exec("INSERT INTO meta (key, value) VALUES ('version', ?), ('signature', ?), ('base_url', ?), ('compress', ?)"
        .. " ON CONFLICT (key) DO UPDATE SET value = excluded.value", tostring(version), signature, base_url, o.compress)
    end
  end)
  if ok then man:commit() else man:rollback() end
  core.remove_tree(tmp)
  if not ok then error(err, 0) end

  -- Whole-site files written by the coordinator (compared byte for byte, not in the manifest):
  -- unchanged when no redirect and no list changed (targeted). A dry run writes them elsewhere.
  if not targeted or not core.stat(out_dir .. "/_redirects") then
    local dir = o.dry_run and work_folder(mpath) or out_dir
    local rok, changed = pcall(redirect_files, quire, out_dir, dir, o.dry_run)
    if o.dry_run then core.remove_tree(dir) end
    if not rok then error(changed, 0) end
    for _, file in ipairs(changed) do sum.written = sum.written + 1; note("write " .. file) end
  end
  sum.seconds = core.clock() - t0
  sum.changes = changes
  sum.full = since == nil
  sum.quick = quick
  sum.targeted = targeted and not quick
  return sum
end

local function report(sum, o)
  table.sort(sum.changes)
  for _, c in ipairs(sum.changes) do print((o.dry_run and "would " or "") .. c) end
  print(("%s: %d files %s, %d unchanged (%d rendered again, same bytes), %d removed%s, %d addresses answered 404 (left out), in %.2f s%s")
    :format(o.dry_run and "dry run" or "exported", sum.written, o.dry_run and "to write" or "written", sum.kept + sum.same, sum.same,
      sum.removed, o.dry_run and " (would be)" or "", sum.left_out, sum.seconds,
      sum.full and " (full export)" or sum.quick and " (no content changed)"
        or sum.targeted and " (pages found by their cache tags)" or ""))
  for _, e in ipairs(sum.errors) do io.stderr:write("quire: export failed for ", e, "\n") end
  io.stdout:flush()
  return #sum.errors > 0 and 1 or 0
end

-- --compress's value (nil: the default) -> the list in a fixed order ("gzip,br", "gzip", "br" or
-- "none"), and the set { gzip =, br = }.
function M.compress_of(value)
  local set, n = {}, 0
  for w in (value or COMPRESS_DEFAULT):gmatch("[^,%s]+") do
    if w ~= "gzip" and w ~= "br" and w ~= "none" then
      fail("--compress takes gzip (the default), gzip,br, br or none (got %q)", value)
    end
    set[w], n = true, n + 1
  end
  if n == 0 or (set.none and n > 1) then fail("--compress takes gzip (the default), gzip,br, br or none (got %q)", value) end
  local list = set.gzip and set.br and "gzip,br" or set.gzip and "gzip" or set.br and "br" or "none"
  return list, { gzip = set.gzip or false, br = set.br or false }
end

-- The command: opts from the CLI (base-url, dry-run, watch, jobs, verbose; worker/manifest/
-- results/since for the workers the coordinator starts).
function M.main(quire, out_dir, opts)
  if type(out_dir) ~= "string" or out_dir == "" then fail("export --format html takes the output folder") end
  out_dir = out_dir:gsub("/+$", "")
  if out_dir == "" then out_dir = "/" end
  -- Not into the folders it copies from (the copy would copy itself), nor over the site.
  local parent, base = out_dir:match("^(.*)/([^/]+)$")
  local real_out = core.realpath(out_dir) or ((core.realpath(parent == "" and "/" or parent or ".") or "?") .. "/" .. (base or out_dir))
  local site_dir = core.realpath(quire.site.config.dir)
  if real_out and site_dir then
    for _, d in ipairs({ site_dir .. "/public", require("quire.media").dir({ dir = site_dir }) }) do
      if real_out == site_dir or real_out == d or real_out:sub(1, #d + 1) == d .. "/" then
        fail("%s is the site's folder or inside %s, which the export copies from: choose a folder outside it", out_dir, d)
      end
    end
  end
  local kind = core.stat(out_dir)
  if kind and kind ~= "dir" then fail("%s exists and is not a folder", out_dir) end
  if not kind and not opts["dry-run"] then
    local ok, err = core.mkdir(out_dir)
    if not ok then fail("cannot make %s: %s", out_dir, tostring(err)) end
  end
  local compress, siblings = M.compress_of(opts.compress)
  if opts.worker then
    local i, n = opts.worker:match("^(%d+)/(%d+)$")
    i, n = tonumber(i), tonumber(n)
    if not i or n < 1 or i >= n or not opts.manifest or not opts.results then fail("bad --worker arguments") end
    return M.worker(quire, out_dir, { index = i, count = n, manifest = opts.manifest, results = opts.results,
      since = opts.since and math.tointeger(tonumber(opts.since)), base_url = opts["base-url"], dry_run = opts["dry-run"],
      targeted = opts.targeted, compress = siblings, fresh = opts.fresh, recompress = opts.recompress, verbose = opts.verbose })
  end
  local jobs = opts.jobs and math.tointeger(tonumber(opts.jobs)) or core.cpus()
  if not jobs or jobs < 1 or jobs > JOBS_MAX then fail("--jobs takes a number of worker processes from 1 to %d", JOBS_MAX) end
  local o = { base_url = opts["base-url"], dry_run = opts["dry-run"], jobs = jobs, verbose = opts.verbose, compress = compress }
  if opts.watch and o.dry_run then fail("--watch and --dry-run do not go together") end
  -- (on PostgreSQL --watch listens before the first export: a commit made during it is heard)
  local db = quire._db
  local pg = db.kind ~= nil
  if opts.watch and pg then db:exec("LISTEN quire_data") end
  local status = report(run_once(quire, out_dir, o), o)
  if not opts.watch then return status end
  -- --watch: another export after every commit, noticed as the page cache notices it: on
  -- SQLite PRAGMA data_version moving (looked at twice a second); on PostgreSQL the quire_data
  -- notification every writing commit sends (LISTEN; waited for on the socket). Ends with Ctrl-C.
  local seen = not pg and db:data_version()
  io.stderr:write("export: watching for changes (Ctrl-C ends)\n")
  while true do
    local moved
    if pg then
      local ok, notes = pcall(db.notifications, db, 500)
      if ok then
        moved = #notes > 0
        -- (one export for all the commits heard so far: they are in what it reads)
        while moved and #db:notifications(0) > 0 do end
      else
        -- The connection was lost, and the notifications sent meanwhile with it: listen again
        -- (the next statement reconnects) and export once it does.
        io.stderr:write("quire: export --watch: ", tostring(notes), "\n")
        os.execute("sleep 1")
        moved = pcall(db.exec, db, "LISTEN quire_data")
      end
    else
      if not os.execute("sleep 0.5") then return status end
      local v = db:data_version()
      moved, seen = v ~= seen, v
    end
    if moved then
      local ok, sum = pcall(run_once, quire, out_dir, o)
      if ok then report(sum, o) else io.stderr:write("quire: export: ", tostring(sum), "\n") end
      if not pg then seen = db:data_version() end
    end
  end
end

return M
