-- `quire export --format html DIR`: the public site as files for a CDN or object storage, rendered
-- by the app itself (quire.app.request), so each page is the bytes `quire serve` answers for the
-- same base URL.
--
-- What is written: every published entry, the front page and the section, tag and author lists
-- with their keyset pages (older/ and newer/), feeds, sitemaps, robots.txt, 404.html, the
-- search index (search-index.json) with a client-side search page (/search, search.js), a
-- meta-refresh page for every redirect plus _redirects and nginx map files, the plugins' static
-- files and the media folder; a .gz and a .br beside every compressible file (nginx gzip_static,
-- brotli_static or a CDN's precompressed files).
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
-- Measured on the bench's pages and feeds: gzip 9 makes a 160 kB feed 4% smaller than 6 in 2.4
-- times the time (22 ms against 9; a quarter of a full export's CPU went to it); Brotli 5 is
-- smaller than gzip 9 in a sixth of its time, and past 5 gains 1% for 2 to 50 times as much;
-- Brotli 4 is no smaller than the .gz on the bench's pages. (core.gzip is libdeflate: its 6 is
-- as small as zlib's 9, in 0.4 times zlib 6's time.)
local GZIP_LEVEL, BROTLI_QUALITY = 6, 5

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

local function hash_of(s) return (core.hmac_sha256("quire-export", s):gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end

-- A page's hash leaves out the signed form tokens (the comment form's names the second it was
-- made in): a page rendered again with nothing else changed is not written again.
-- (The plain find first: most pages have no form, and a pattern tried at every byte of a feed
-- cost more than its hash.)
local function page_hash(body)
  if not body:find('<input type="hidden" name="token" value="', 1, true) then return hash_of(body) end
  return hash_of((body:gsub('(<input type="hidden" name="token" value=")[^"]*', "%1")))
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

-- Writes data to root/file through a temporary file renamed over it. (No fsync here: the
-- coordinator syncs the file system once, before the manifest records the files.)
local function write_atomic(root, file, data, known)
  mkdirs(root, file:match("^(.*)/[^/]*$") or "", known)
  local path = root .. "/" .. file
  local tmp = tmp_of(path)
  local f, err = io.open(tmp, "wb")
  if not f then fail("cannot write %s: %s", tmp, tostring(err)) end
  f:setvbuf("no") -- (one write(2) of the whole, not 8 kB at a time through a buffer)
  local ok, werr = f:write(data)
  local closed, cerr = f:close()
  if not ok or not closed then os.remove(tmp) fail("cannot write %s: %s", tmp, tostring(werr or cerr)) end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then os.remove(tmp) fail("cannot rename %s: %s", tmp, tostring(rerr)) end
end

-- The compressed siblings of a file (nginx gzip_static; brotli_static or a CDN for .br).
local function write_siblings(root, file, data, known)
  write_atomic(root, file .. ".gz", core.gzip(data, GZIP_LEVEL), known)
  write_atomic(root, file .. ".br", core.brotli(data, BROTLI_QUALITY), known)
end

-- Writes file and, for compressible data of some size, its .gz and .br; removes those left
-- from before otherwise.
local function write_page(root, file, data, known)
  write_atomic(root, file, data, known)
  if COMPRESSIBLE[ext_of(file)] and #data >= GZIP_MIN then
    write_siblings(root, file, data, known)
  else
    for _, ext in ipairs({ ".gz", ".br" }) do
      os.remove(root .. "/" .. file .. ext) -- (nothing there: a harmless error)
    end
  end
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then fail("cannot read %s: %s", path, tostring(err)) end
  local s = f:read("a")
  f:close()
  return s
end

-- Copies a static file (streamed) through a temporary file, and its .gz when compressible.
local function copy_file(root, file, src, known)
  mkdirs(root, file:match("^(.*)/[^/]*$") or "", known)
  local path = root .. "/" .. file
  local tmp = tmp_of(path)
  local inp, err = io.open(src, "rb")
  if not inp then fail("cannot read %s: %s", src, tostring(err)) end
  local out, oerr = io.open(tmp, "wb")
  if not out then inp:close() fail("cannot write %s: %s", tmp, tostring(oerr)) end
  while true do
    local chunk = inp:read(65536)
    if not chunk then break end
    if not out:write(chunk) then inp:close() out:close() os.remove(tmp) fail("cannot write %s", tmp) end
  end
  inp:close()
  if not out:close() then os.remove(tmp) fail("cannot write %s", tmp) end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then os.remove(tmp) fail("cannot rename %s: %s", tmp, tostring(rerr)) end
  local _, _, size = core.stat(src)
  if COMPRESSIBLE[ext_of(file)] and size and size >= GZIP_MIN and size <= GZIP_READ_MAX then
    write_siblings(root, file, read_file(src), known)
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

-- The manifest's pages carrying one of the changed tags, or rendered on every export (no tags).
local function each_stale_page(man, fn, changed)
  local list = {}
  for t in pairs(changed) do list[#list + 1] = t end
  if #list == 0 then return end
  local tags = require("cjson").encode(list)
  local last = ""
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
-- one of those tags and the static files are looked at.
local function each_item(quire, fn, targeted, man)
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
  if targeted then each_stale_page(man, fn, targeted) else M.each_page(quire, fn) end
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
local function code_signature(quire, base_url)
  local parts = { core.version, base_url }
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
    for _, r in ipairs(db:rows("SELECT tag FROM cache_tags WHERE version > ? LIMIT ?", o.since, CHANGED_MAX + 1)) do
      changed[r.tag], n = true, n + 1
    end
    if n > CHANGED_MAX then all = true end
  end
  if o.targeted and all then fail("--targeted needs --since") end
  local res, err = io.open(o.results, "wb")
  if not res then fail("cannot write %s: %s", o.results, tostring(err)) end
  io.stdout:setvbuf("line")
  local known = { n = 0 }
  local done, index, count = 0, o.index, o.count
  local rendered, statements, snapshots = 0, db:statements(), 1
  -- (a first export: nothing to look up)
  local empty = man:value("SELECT count(*) FROM (SELECT 1 FROM files LIMIT 1)") == 0
  local function stale(row, item)
    if all or not row then return true end
    local kind = core.stat(out_dir .. "/" .. row.file)
    if kind ~= "file" then return true end
    if item.kind == "asset" then
      local _, mtime, size, nsec = core.stat(item.src)
      return row.hash ~= ("src %d %d %d"):format(mtime or 0, size or 0, nsec or 0)
    end
    if row.tags == "" then return true end
    for t in row.tags:gmatch("%S+") do if changed[t] then return true end end
    return false
  end
  -- The site's secret (the comment form's tokens) is written on first use: before the snapshot,
  -- which refuses writes.
  quire.tokens.sign("export", "")
  db:begin_read()
  each_item(quire, function(item)
    if fnv(item.path) % count ~= index then return end
    local file = M.file_of(item.path)
    if not file then return end
    local row = not empty and man:row("SELECT file, hash, tags FROM files WHERE path = ?", item.path) or nil
    local line
    if not stale(row, item) then
      line = "K\t" .. item.path
    elseif item.kind == "asset" then
      local _, mtime, size, nsec = core.stat(item.src)
      local sig = ("src %d %d %d"):format(mtime or 0, size or 0, nsec or 0)
      if not o.dry_run then copy_file(out_dir, file, item.src, known) end
      line = ("W\t%s\t%s\t%s\t%s"):format(item.path, file, sig, "")
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
        if row and row.hash == h and row.file == file and core.stat(out_dir .. "/" .. file) == "file" then
          line = ("S\t%s\t%s\t%s\t%s"):format(item.path, file, h, tags)
        else
          if not o.dry_run then write_page(out_dir, file, body, known) end
          line = ("W\t%s\t%s\t%s\t%s"):format(item.path, file, h, tags)
        end
      end
    end
    res:write(line, "\n")
    done = done + 1
    if done % 50 == 0 then io.stdout:write(("P %d %d\n"):format(index, done)) end
  end, o.targeted and changed, man)
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
  local signature = code_signature(quire, base_url)
  local since = meta("signature") == signature and math.tointeger(tonumber(meta("version") or "")) or nil
  -- An empty folder (new, or emptied since): whatever the manifest says was there is not; a
  -- full export, with nothing to compare against.
  if #(core.listdir(out_dir) or {}) == 0 then
    since = nil
    if not o.dry_run then man:exec("DELETE FROM files") end
  end
  -- Targeted: only tags that add or remove no address were bumped since (quick: none at all).
  local targeted, quick = false, false
  if since then
    local rows = db:rows("SELECT tag FROM cache_tags WHERE version > ? LIMIT ?", since, TARGETED_MAX + 1)
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
  local tmp = core.mkdtemp("quire-export")
  if not tmp then fail("cannot make a temporary folder") end
  local cmds = {}
  for i = 0, jobs - 1 do
    local argv = { exe, "export", "--format", "html", "--site", quire.site.config.dir, "--worker", ("%d/%d"):format(i, jobs),
      "--manifest", mpath, "--results", tmp .. "/w" .. i, "--base-url", base_url }
    if since then argv[#argv + 1] = "--since"; argv[#argv + 1] = tostring(since) end
    if o.dry_run then argv[#argv + 1] = "--dry-run" end
    if o.verbose then argv[#argv + 1] = "--verbose" end
    if targeted then argv[#argv + 1] = "--targeted" end
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
      man:exec("INSERT INTO meta (key, value) VALUES ('version', ?), ('signature', ?), ('base_url', ?)"
        .. " ON CONFLICT (key) DO UPDATE SET value = excluded.value", tostring(version), signature, base_url)
    end
  end)
  if ok then man:commit() else man:rollback() end
  core.remove_tree(tmp)
  if not ok then error(err, 0) end

  -- Whole-site files written by the coordinator (compared byte for byte, not in the manifest):
  -- unchanged when no redirect and no list changed (targeted). A dry run writes them elsewhere.
  if not targeted or not core.stat(out_dir .. "/_redirects") then
    local dir = o.dry_run and core.mkdtemp("quire-export") or out_dir
    if not dir then fail("cannot make a temporary folder") end
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
  if opts.worker then
    local i, n = opts.worker:match("^(%d+)/(%d+)$")
    i, n = tonumber(i), tonumber(n)
    if not i or n < 1 or i >= n or not opts.manifest or not opts.results then fail("bad --worker arguments") end
    return M.worker(quire, out_dir, { index = i, count = n, manifest = opts.manifest, results = opts.results,
      since = opts.since and math.tointeger(tonumber(opts.since)), base_url = opts["base-url"], dry_run = opts["dry-run"],
      targeted = opts.targeted, verbose = opts.verbose })
  end
  local jobs = opts.jobs and math.tointeger(tonumber(opts.jobs)) or core.cpus()
  if not jobs or jobs < 1 or jobs > JOBS_MAX then fail("--jobs takes a number of worker processes from 1 to %d", JOBS_MAX) end
  local o = { base_url = opts["base-url"], dry_run = opts["dry-run"], jobs = jobs, verbose = opts.verbose }
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
