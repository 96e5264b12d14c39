-- `quire export --format html DIR`: the public site as files for a CDN or object storage, rendered
-- by the app itself (quire.app.request), so each page is the bytes `quire serve` answers for the
-- same base URL.
--
-- What is written: every published entry, the front page and the section, tag and author lists
-- with their keyset pages (older/), feeds, sitemaps, robots.txt, 404.html, the
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
-- When only tags that add or remove no address were bumped (targeted), the pages carrying them
-- are read from the manifest's tag index instead of walking the site, and a few of them are
-- rendered by the coordinator itself, with no worker started.
local core = require "quire.core"
local store_sql = require "quire.store_sql"

local M = {}

local JOBS_MAX = 64
local CHANGED_MAX = 200000 -- bumped tags read into memory; past it every page is rendered again
local BATCH = 500          -- rows read from the store per query

-- Every row of sql, a keyset by id (its two parameters: the last id seen, BATCH), one batch per
-- statement: each(row) in id order.
local function each_by_id(db, sql, each)
  local last = 0
  repeat
    local rows = db:rows(sql, last, BATCH)
    for _, r in ipairs(rows) do
      last = r.id
      each(r)
    end
  until #rows < BATCH
end

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
-- And the higher ones, on the 5447 .gz of an N=2000 export (145 MB, 62% of it feeds) and 383
-- docs: gzip 5 -0.2% bench (+0.3% on its feeds), -1.7% docs, at 1.34 and 1.13 of 4's time;
-- gzip 6 -1.5%, -3.7%, at 1.83 and 1.36. The .gz siblings now take 23% of a full export's CPU
-- (bench/export.sh: 10.2 s, 7.9 s with --compress none), ~1.4 s of it compressing.
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

local function decoded(path) return (path:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end

-- The file a URL path is written to, relative to the output folder; or nil and why when it has
-- none. %XX escapes are decoded, as a web server decodes them before it looks for the file. A
-- path has no file when its segments are not all names: a "." or "..", an empty one ("//", a
-- "/" at the end), an escaped "/". Such a file would be outside the folder, or another
-- address's ("/a/" is "/a"'s: quire serve never answers a redirect stored with "//" or a last
-- "/", it looks sources up with those taken away). Nor when a name could not be one on a static
-- host: with a backslash (browsers send "/" for it, and some hosts and sync tools take it for
-- one; quire serve refuses it), a control character (S3's listings cannot carry one, nor the
-- workers' result lines) or bytes that are not UTF-8 (S3's keys are UTF-8).
local NAME_MAX = 255 - 32
function M.file_of(path)
  local part = path:match("^/sitemap%.xml%?part=(%d+)$")
  if part then return "sitemap-" .. part .. ".xml" end
  if path:find("[?#]") or path:sub(1, 1) ~= "/" then return nil, "a query or a fragment" end
  if path:find("%%2[Ff]") then return nil, 'an escaped "/"' end
  if path == "/" then return "index.html" end
  path = decoded(path)
  if (path .. "/"):find("/%.?%.?/") then return nil, 'an empty, "." or ".." segment' end
  if path:find("[\0-\31\127\\]") then return nil, "a backslash or a control character" end
  if not utf8.len(path) then return nil, "bytes that are not UTF-8" end
  -- (a name and the temporary file's prefix within a file system's 255 bytes)
  for name in path:gmatch("[^/]+") do
    if #name > NAME_MAX then return nil, ("a name longer than %d bytes"):format(NAME_MAX) end
  end
  if path:match("[^/]*$"):find(".", 1, true) then return path:sub(2) end
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
-- The hash of a page's row when the export never wrote its file (it failed to render): no
-- page's, so it is written once it renders, and a file there then is not the export's to remove.
local NEVER_WRITTEN = "never written"

local function same_hash(row_hash, body, h)
  if #row_hash == 64 then return row_hash == legacy_page_hash(body) end
  return row_hash == h
end

-- 32-bit FNV-1a of s: which worker takes a path (every worker hashes every path: in C).
local fnv = core.fnv1a

-- A file is written through a temporary file beside it (renamed over it: one folder, one file
-- system, whatever is mounted inside the output), hidden and named after the process:
-- .quire-tmp-PID.NAME. A process that is killed leaves the one it was writing; a run after a
-- killed or failed one removes those of processes that are gone, and its own PID's (a
-- container's coordinator is PID 1 each time): core.remove_stale, a walk of the folder.
-- Files are written, looked at and removed only inside the output folder (core.write_file,
-- core.stat_at, core.remove_at ...: each folder opened from the one above it, following no
-- symbolic link). A link where a folder should be (out/tag -> /elsewhere) would have the export
-- write and remove files elsewhere: it stops the export, which names it (see cannot); why it
-- is there only its user knows, so it is not replaced either. A file that is a link is replaced
-- by the new file, as any file is. (The output folder itself may be a link: its user named it.)
local TMP_PREFIX = ".quire-tmp-"
local OLD_TMP = ".tmp-" -- (an older quire's: NAME.tmp-PID, beside the file; removed the same way)
local own_prefix
local function tmp_prefix()
  own_prefix = own_prefix or (TMP_PREFIX .. core.getpid() .. ".")
  return own_prefix
end

-- Fails for root/file, which could not be written (verb: or "read"): err, core's message; link,
-- the symbolic link in the way, when that was why.
local function cannot(root, file, err, link, verb)
  verb = verb or "write"
  if link then
    fail("cannot %s %s/%s: %s is a symbolic link, and the export follows none inside %s (it would %s elsewhere):"
      .. " remove the link and export again", verb, root, file, link, root, verb)
  end
  -- (an empty folder in the file's place is replaced: core.write_file)
  if verb == "write" and core.stat_at(root, file) == "dir" then
    fail("cannot write %s/%s: a folder that is not empty is in its place (the export replaces only an empty one):"
      .. " remove that folder and export again", root, file)
  end
  fail("cannot %s %s/%s: %s", verb, root, file, tostring(err))
end

-- Writes data to out.root/file through a temporary file renamed over it (core.write_file: one
-- write, no stdio buffer; the missing folders made). No fsync here: the coordinator syncs the
-- file system once, before the manifest records the files. out: { root =, gzip =, br = }.
local function write_atomic(out, file, data)
  local ok, err, link = core.write_file(out.root, file, data, tmp_prefix())
  if not ok then cannot(out.root, file, err, link) end
end

-- The bytes of out.root/file, read without following a symbolic link (core.read_at: the file's
-- own name's included). One there was put there since the export looked (it replaces a link it
-- finds): the export stops, naming it, rather than read what it points at into a sibling.
local function read_there(out, file)
  local data, err, link = core.read_at(out.root, file)
  if not data then cannot(out.root, file, err, link, "read") end
  return data
end

-- The compressed siblings of a file (nginx gzip_static; brotli_static or a CDN for .br), and
-- those out asks for beside file when it holds size bytes (a set): for compressible data of some
-- size, as --compress asks. max: the size past which a static file gets none (it is read whole).
local SIBLINGS = { ".gz", ".br" }
local function siblings_of(out, file, size, max)
  local want = {}
  if size >= GZIP_MIN and size <= (max or math.maxinteger) and COMPRESSIBLE[ext_of(file)] then
    want[".gz"], want[".br"] = out.gzip or nil, out.br or nil
  end
  return want
end

-- One sibling (".gz" or ".br") of out.root/file, made from data. The .gz is compressed and
-- written by one C call (the compressor and its output buffer reused, no Lua string made of the
-- compressed bytes).
local function write_sibling(out, file, data, sibling)
  if sibling == ".gz" then
    local ok, err, link = core.gzip_file(data, GZIP_LEVEL, out.root, file .. ".gz", tmp_prefix())
    if not ok then cannot(out.root, file .. ".gz", err, link) end
  else
    write_atomic(out, file .. ".br", core.brotli(data, BROTLI_QUALITY))
  end
end

-- The siblings of a file written with it, as out asks; those it does not removed (left from
-- before). fresh: the file is new, so there is nothing to remove.
local function write_siblings(out, file, data, fresh)
  local want = siblings_of(out, file, #data)
  for _, sibling in ipairs(SIBLINGS) do
    if want[sibling] then write_sibling(out, file, data, sibling)
    elseif not fresh then core.remove_at(out.root, file .. sibling) end -- (nothing there: a harmless error)
  end
end

local function write_page(out, file, data, fresh)
  write_atomic(out, file, data)
  write_siblings(out, file, data, fresh)
end

-- The siblings beside file against those wanted (a set, siblings_of), by the one rule for them:
-- one wanted that is not a regular file there (gone, a symbolic link or anything else) is a gap,
-- written again, which replaces what is there; one not wanted that is there (a link, or a regular
-- file left from before, which gzip_static or brotli_static would send in the file's place) is
-- extra, removed. (A folder there is left alone: nginx sends the file itself then.) Whatever
-- --compress asked for before. kinds: what is there (core.siblings_at). With size, the file's
-- size there, its .gz is checked whole too, as far as isize, its last 4 bytes, tells: a gzip
-- member ends with the length of what it holds, mod 2^32 (ISIZE, RFC 1952); a copy cut short (a
-- disk that filled, an rsync stopped) ends with other bytes.
local function siblings_there(want, kinds, size, isize)
  local gaps, extra = {}, {}
  for _, sibling in ipairs(SIBLINGS) do
    local kind = kinds[sibling]
    if want[sibling] then
      if kind ~= "file" or (size and sibling == ".gz" and isize ~= size & 0xffffffff) then gaps[#gaps + 1] = sibling end
    elseif kind and kind ~= "dir" then
      extra[#extra + 1] = sibling
    end
  end
  return gaps, extra
end

-- What of file the folder lacks or holds in excess, by the one rule for the files the export
-- writes: one that is not a regular file there (gone, or a symbolic link or anything else in its
-- place) is missing, and written again, which replaces what is there (nothing is written through
-- a link). Returns whether file itself is missing; the siblings beside it that are gaps and
-- extra (siblings_there, for the size it has there, else for size, the bytes about to be
-- written there; none when neither is known); and that size. By stat alone (one opening of the
-- folder: core.siblings_at): a sibling that is a regular file holds its file's bytes (written
-- with them), which the manifest vouches for; but with check, for a page rendered again anyway
-- (4 bytes read), a .gz cut short beside a file there is a gap too.
local function missing_of(out, file, size, max, check)
  local kind, there, kinds, isize = core.siblings_at(out.root, file, SIBLINGS, check and ".gz" or nil)
  local gone = kind ~= "file"
  if not gone then size = there end
  local gaps, extra = {}, {}
  if size then gaps, extra = siblings_there(siblings_of(out, file, size, max), kinds, check and not gone and size, isize) end
  return gone, gaps, size, extra
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then fail("cannot read %s: %s", path, tostring(err)) end
  local s = f:read("a")
  f:close()
  return s
end

-- Copies a static file through a temporary file, with its siblings when it gets any: read whole
-- then (read once for all three), else copied by the kernel.
local function copy_file(out, file, src, fresh)
  local _, _, size = core.stat(src)
  if size and next(siblings_of(out, file, size, GZIP_READ_MAX)) then
    return write_page(out, file, read_file(src), fresh)
  end
  local ok, err, link = core.copy_file(src, out.root, file, tmp_prefix())
  if not ok then cannot(out.root, file, err, link) end
  if not fresh then
    for _, sibling in ipairs(SIBLINGS) do core.remove_at(out.root, file .. sibling) end
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

-- A list page's entries as its manifest row records them (files.shows): their ids in order.
local function shows_of(ids) return table.concat(ids, " ") end

-- "/latest" when the site has it (the listings plugin's front): the list of everything, whose
-- older pages the front page links to; the front page's own older/ addresses move there. (Not
-- the router's word: "/latest" would match a page's address.)
local function latest_list(quire)
  local listings = plugin_settings(quire, "listings")
  return listings and listings.front and "/latest" or nil
end

local FIXED = { "/feed.xml", "/atom.xml", "/feed.json", "/sitemap-pages.xml", "/sitemap-news.xml", "/robots.txt" }
local FIXED_SET = { ["/sitemap.xml"] = true, ["/404.html"] = true, ["/views.gif"] = true, ["/search"] = true,
  ["/search-index.json"] = true, ["/search.js"] = true }
for _, p in ipairs(FIXED) do FIXED_SET[p] = true end

-- The files the export writes itself (not the app's answer at their address), and those of the
-- fixed addresses.
local SELF_FILES = { ["_redirects"] = true, ["redirects-path.nginx.map"] = true, ["redirects-query.nginx.map"] = true,
  ["search-index.json"] = true, ["search.js"] = true }
local FIXED_FILES = {}
for p in pairs(FIXED_SET) do FIXED_FILES[M.file_of(p)] = true end

-- The one spelling of a decoded path that is its file's address: what a URL path cannot carry
-- as it is (RFC 3986: all but letters, digits, "-._~!$&'()*+,;=:@" and "/") escaped as %XX, upper
-- case (as redirect sources are stored), and nothing else.
local function spelled(path)
  return (path:gsub("[^%w%-%._~!%$&'%(%)%*%+,;=:@/]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- Whether the file of an address other than the fixed ones (a redirect's source) is another's:
-- "file" when it is (or is under) one the export writes itself, or a sitemap part's
-- (sitemap-N.xml) other than /sitemap.xml?part=N; "page" when it is a fixed address's under
-- another spelling, under one of their files, or named by an index.html ("/index.html" is the
-- front page's file, "/a/index.html" /a's), or when the address is not spelled as its file's
-- is ("/st%6Fry" and "/story" are two addresses to quire serve, one file to a static host, which
-- decodes them: the file is "/story"'s). Such an address gets no file (quire serve still
-- answers it, and so do the nginx maps and _redirects, which match the address as sent), and
-- a manifest row of it has no file to remove; nil otherwise. Returns also why.
function M.taken(path)
  local file = M.file_of(path)
  if not file or FIXED_SET[path] or path:match("^/sitemap%.xml%?part=%d+$") then return nil end
  local first = file:match("^[^/]*")
  if SELF_FILES[first] or first:match("^sitemap%-%d+%.xml$") then return "file", ("%s is a file the export writes itself"):format(first) end
  if FIXED_FILES[file] or FIXED_FILES[first] then return "page", ("its file %s is another address's"):format(file) end
  local plain = decoded(path) -- (its segments are the file's)
  if (plain .. "/"):find("/index.html/", 1, true) then return "page", ("its file %s is another address's"):format(file) end
  if spelled(plain) ~= path then return "page", ("its file %s is %s's, spelled otherwise"):format(file, spelled(plain)) end
  return nil
end

-- The list base a page address belongs to ("/tag/x" for /tag/x/older/C or /tag/x/feed.xml, "/"
-- for /older/C; and for the newer/ pages of an older export), or the address itself.
local function list_base(path)
  local b = path:match("^(.-)/older/%d+%-%d+$") or path:match("^(.-)/newer/%d+%-%d+$")
  if b then return b == "" and "/" or b end
  return path:match("^(/%l+/[^/]+)/feed%.xml$") or path:match("^(/%l+/[^/]+)/atom%.xml$") or path:match("^(/%l+/[^/]+)/feed%.json$")
    or path
end

-- The site's lists as a full export walks them: the front page (and /latest), sections, tags
-- and authors, each with its keyset pages. Page k+1's address names page k's last entry
-- ("older/", listings plugin); its "Newer" link is page k's address. Each walk calls page(path,
-- shown, edge, next, prev): shown, the ids of the entries the page lists (nil: not known, a
-- front); edge, whether it is the first or last page (what they show depends on more than their
-- entries); next, the older page after it (nil: none); prev, the page above it { path =, shown
-- = } (nil: none). With the listings plugin's front (it has /latest), the front page's older
-- pages are /latest's: only its first page is its own (its older/ addresses are redirects).
local function lists_of(quire)
  local db = quire._db
  local listings = plugin_settings(quire, "listings")
  local per = listings and math.tointeger(listings.per_page)
  local types = listings and listed_types(quire, listings) or store_sql.value_list({})
  local L = {}
  local function cursor(r) return r.published_at:gsub("[^%d]", "") .. "-" .. r.id end
  -- (older_in: the list whose older/ pages the first page links to, when not its own: then
  -- only the first page is walked)
  local function walk(base, sql, params, page, older_in)
    if not per or per < 1 then return page(base, nil, true, nil) end
    local list = older_in or base
    local prefix = list == "/" and "/" or (list .. "/")
    local np = #params
    params[np + 1], params[np + 2], params[np + 3] = "9999", math.maxinteger, per + 1
    local path, k, before = base, 1, nil
    while true do
      local rows = db:rows(sql, table.unpack(params, 1, np + 3))
      if #rows == 0 then
        if k == 1 then page(base, {}, true, nil) end
        break
      end
      local shown = {}
      for i = 1, math.min(per, #rows) do shown[i] = rows[i].id end
      local more = #rows > per
      local next_path = more and (prefix .. "older/" .. cursor(rows[per])) or nil
      page(path, shown, k == 1 or not more, next_path, before)
      if not more or older_in then break end
      path, before, k = next_path, { path = path, shown = shown }, k + 1
      params[np + 1], params[np + 2] = rows[per].published_at, rows[per].id
    end
  end
  local TAIL = " AND (%s, %s) < (?, ?) ORDER BY %s DESC, %s DESC LIMIT ?"
  local FRONT_SQL = "SELECT e.published_at, e.id FROM entries e WHERE e.status = 'published'"
    .. " AND e.type " .. store_sql.IN_LIST .. TAIL:format("e.published_at", "e.id", "e.published_at", "e.id")
  local TERM_SQL = "SELECT e.published_at, e.id FROM entry_terms lt " .. store_sql.JOIN_IN_ORDER .. " " .. store_sql.CARD_ENTRIES
    .. " ON e.id = lt.entry_id"
    .. " WHERE lt.term_id = ? AND lt.listed_at IS NOT NULL AND e.status = 'published' AND e.type " .. store_sql.IN_LIST
    .. TAIL:format("lt.listed_at", "lt.entry_id", "lt.listed_at", "lt.entry_id")
  local AUTHOR_SQL = "SELECT e.published_at, e.id FROM entries e WHERE e.author_id = ? AND e.status = 'published'"
    .. " AND e.type " .. store_sql.IN_LIST .. TAIL:format("e.published_at", "e.id", "e.published_at", "e.id")
  -- The front page, and the plain list it stands for (the listings plugin's /latest) when there is one.
  local latest = latest_list(quire)
  function L.front(page) walk("/", FRONT_SQL, { types }, page, latest) end
  if latest then
    function L.latest(page) walk("/latest", FRONT_SQL, { types }, page) end
  end
  -- A term's list (t: a terms row listed), and its feeds (as edges: not lists of cards).
  function L.term(t, page)
    local base = "/" .. t.taxonomy .. "/" .. t.slug
    walk(base, TERM_SQL, { t.id, types }, page)
    for _, f in ipairs({ "feed.xml", "atom.xml", "feed.json" }) do page(base .. "/" .. f, nil, true, nil) end
  end
  -- An author's list (u: a users row), when the author has a published entry listed.
  function L.author(u, page)
    if db:value("SELECT 1 FROM entries WHERE author_id = ? AND status = 'published' AND type " .. store_sql.IN_LIST .. " LIMIT 1",
      u.id, types) then
      walk("/author/" .. u.login, AUTHOR_SQL, { u.id, types }, page)
    end
  end
  return L
end

-- The addresses of entries, lists and redirects, and the sitemap's parts (see each_item).
-- want(base), when given, says which lists to walk (a worker's share of them, see list_owner).
-- share ({ index =, count = }, a planned worker's), when given: only the entries whose block of
-- ids (ENTRY_BLOCK) is the worker's, (id // ENTRY_BLOCK) % count = index, are read (each worker
-- reads its own, not every entry to keep those whose address hashes to it); their items carry
-- the entry's id, by which the worker takes them (M.worker's mine). An entry at a fixed address
-- or a sitemap part's is left to that one (listed by every walk). One a redirect or a list has
-- too is listed anyway, and may be rendered by two workers (the same page: the address's): left
-- out, it could be lost when the redirect or list went between one worker's reading and the
-- other's.
-- (Blocks, not id % count: an entry's page shows its neighbours' cards, which the memo then
-- keeps for their own pages when the same worker renders them. At N=2000, 2 workers read with
-- 14,088 statements by blocks of 64, 17,987 by id % 2, 14,445 by hash of the address.)
local ENTRY_BLOCK = 64
function M.each_page(quire, fn, want, share)
  local db = quire._db
  local parts = {}
  for _, n in ipairs(quire.content.published_blocks()) do
    local path = ("/sitemap.xml?part=%d"):format(n + 1)
    parts[path] = true
    fn { path = path, kind = "page" }
  end
  local lists = lists_of(quire)
  local gif = quire.app.router:match("GET", "/views.gif") -- (as each_item makes it)

  -- Entries, by id.
  -- (status unindexed: the id range drives and a batch stops at BATCH rows; by the index of
  -- published entries every batch read and sorted all the entries after it. From the index of
  -- cards: the rows themselves are a page an entry.)
  each_by_id(db, "SELECT id, type, slug, published_at, created_at, fields FROM " .. store_sql.CARD_ENTRIES .. " WHERE id > ? AND "
      .. store_sql.unindexed("status") .. " = 'published'"
      .. (share and (" AND (id / %d) %% %d = %d"):format(ENTRY_BLOCK, share.count, share.index) or "") .. " ORDER BY id LIMIT ?",
    function(e)
      local url = quire.content.url(e)
      if url and not (parts[url] or (FIXED_SET[url] and (url ~= "/views.gif" or gif))) then
        fn { path = url, kind = "page", id = share and e.id or nil }
      end
    end)

  local function page(path, shown) fn { path = path, kind = "page", shown = shown } end
  want = want or function() return true end
  if want("/") then lists.front(page) end
  if lists.latest and want("/latest") then lists.latest(page) end
  each_by_id(db, "SELECT id, taxonomy, slug FROM terms WHERE id > ? AND listed > 0 AND taxonomy IN ('tag', 'section')"
      .. " ORDER BY id LIMIT ?", function(t)
    if want("/" .. t.taxonomy .. "/" .. t.slug) then lists.term(t, page) end
  end)
  each_by_id(db, "SELECT id, login FROM users WHERE id > ? ORDER BY id LIMIT ?", function(u)
    if want("/author/" .. u.login) then lists.author(u, page) end
  end)

  -- Old URLs: a meta-refresh page each (those with a query go only into _redirects and the map).
  each_by_id(db, "SELECT id, from_path FROM redirects WHERE id > ? ORDER BY id LIMIT ?", function(r)
    -- (one at a fixed address is that item's: rendered there, the app's redirect or the export's file)
    if not (r.from_path:find("?", 1, true) or FIXED_SET[r.from_path] or M.taken(r.from_path)) then
      fn { path = r.from_path, kind = "page", redirect = true }
    end
  end)
end

-- The cache tags whose bump cannot add or remove an address: the content of entries (not where
-- they stand in lists), lists of drafts, related lists, neighbours, comments, shares, corrections
-- (and the memo's blocks of which entries have any), media, fronts. When only
-- such tags were bumped since the last export, the pages to render again are found in the
-- manifest by their tags (targeted), not by walking every address of the site. A list's
-- membership and the redirects (scoped_tag) add and remove addresses: a targeted run follows
-- them to those addresses (scope_of). Any other tag (one these lists do not know) means a walk.
local ADDRESS_STABLE = { "entry:", "teaser:", "ids:", "entries:any", "related:", "neighbours:", "comments:", "shares:", "media:",
  "comments-block:", "shares-block:", "corrections:", "corrections-block:", "front:", "most-read:", "robots", "list:drafts" }
-- Bumped tags looked up in the manifest; past it, a walk. (A publish bumps a related:word tag
-- for each index term of the story's text: 608 for an 800-word story of the bench.)
local TARGETED_MAX = 4096
-- A targeted run with at most this many pages to render renders them in the coordinator: a
-- worker process takes ~0.15 s of CPU to start (Lua, the plugins, its caches), a page 10-30 ms.
local INLINE_MAX = 48
local function address_stable(tag)
  for _, p in ipairs(ADDRESS_STABLE) do
    if tag:sub(1, #p) == p then return true end
  end
  return false
end
local function list_tag(tag)
  return tag == "list:all" or tag:match("^list:type:") or tag:match("^list:tag:") or tag:match("^list:section:")
end
-- (quire:withdrawn tells the page cache to keep no stale copy: no page carries it)
local function scoped_tag(tag)
  return list_tag(tag) or tag == "redirects" or tag == "quire:withdrawn"
end

-- What a targeted run's changed tags (a set) add or remove addresses of, or nil when nothing:
-- { fronts = the front lists, the authors' and the sitemap's parts (a publish, an unpublish, a
-- move: list:all or a type's list), terms = { { taxonomy, slug } ... } (a tag's or a
-- section's list), redirects = the redirects table }. "redirects" leaves changed: every page
-- carries it (each request looks for a redirect from its address first), and the table is
-- compared with the manifest's copy instead.
local function scope_of(changed)
  local scope
  for t in pairs(changed) do
    if scoped_tag(t) then
      scope = scope or { terms = {} }
      local taxonomy, slug = t:match("^list:(%l+):(.+)$")
      if taxonomy == "tag" or taxonomy == "section" then scope.terms[#scope.terms + 1] = { taxonomy, slug }
      elseif list_tag(t) then scope.fronts = true
      elseif t == "redirects" then scope.redirects = true end
    end
  end
  changed.redirects, changed["quire:withdrawn"] = nil, nil
  if scope then table.sort(scope.terms, function(a, b) return a[1] .. a[2] < b[1] .. b[2] end) end
  return scope
end

-- A redirect row as the manifest's copy keeps it (redirect_rows): what its page says.
local function redirect_sig(r)
  return ("%s %s %s"):format(r.status, r.to_entry or "-", r.to_path or "")
end
-- The sources the manifest's copy keeps: those with a page (no query), and the sitemap's parts'
-- (/sitemap.xml?part=N, whose page is the part's file).
local function copied_source(path)
  return not path:find("?", 1, true) or path:match("^/sitemap%.xml%?part=%d+$") ~= nil
end
-- Whether the redirect from path was added, changed or deleted since the manifest's copy.
local function redirect_moved(db, man, path)
  local r = db:row("SELECT to_path, to_entry, status FROM redirects WHERE from_path = ?", path)
  return (r and redirect_sig(r)) ~= man:value("SELECT sig FROM redirect_rows WHERE path = ?", path)
end

-- The addresses scope (see scope_of) adds to a targeted run, to take(path, item): the changed
-- entries' addresses now (a new one is in no manifest row); the lists walked again, each page
-- with the entries it shows (M.worker's stale renders it when they or its neighbours changed),
-- and gone(path) for the pages of those lists the manifest has and the walk no longer makes;
-- the sitemap's parts; the redirects whose row differs from the manifest's copy (forced).
-- Returns the set of list bases walked (their pages are not taken again from the tag index).
local function each_scoped_page(quire, man, scope, changed, take, gone)
  -- A file the export copies (a static or media file, public/'s: its row's hash is its source's)
  -- is the file at its address, whatever redirect the site has from there: quire serve answers
  -- it before the redirects, and a full export writes the file over the redirect page.
  local function copied(path) return man:value("SELECT 1 FROM files WHERE path = ? AND hash LIKE 'src %'", path) ~= nil end
  local db = quire._db
  local walked = {}
  local ids = {}
  for t in pairs(changed) do
    local id = t:match("^entry:(%d+)$")
    if id then ids[#ids + 1] = math.tointeger(tonumber(id)) end
  end
  table.sort(ids)
  for i = 1, #ids, BATCH do
    local chunk = table.move(ids, i, math.min(i + BATCH - 1, #ids), 1, {})
    local public = {}
    for _, e in ipairs(db:rows("SELECT id, type, slug, published_at, created_at, fields FROM " .. store_sql.CARD_ENTRIES .. " WHERE id " .. store_sql.IN_LIST
        .. " AND status = 'published'", store_sql.id_list(chunk))) do
      public[#public + 1] = e.id
      local url = quire.content.url(e)
      if url then take(url) end
    end
    -- And the redirects to them (an old slug's, one to entry:ID): left out while the entry was
    -- not public (they answered 404), they have no row in the manifest whose tags would find them.
    if public[1] then
      for _, r in ipairs(db:rows("SELECT from_path FROM redirects WHERE to_entry " .. store_sql.IN_LIST, store_sql.id_list(public))) do
        if not (r.from_path:find("?", 1, true) or copied(r.from_path)) then take(r.from_path) end
      end
    end
  end
  -- The manifest's paths in [from, to) not in seen: gone (a redirect's source stays: its page is
  -- the redirect's, made below when it changed).
  local function gone_if(path, seen)
    if not seen[path] and not db:value("SELECT 1 FROM redirects WHERE from_path = ?", path) then gone(path) end
  end
  local function gone_in(from, to, seen, keyset)
    local last, op = from, ">="
    repeat
      local rows = man:rows("SELECT path FROM files WHERE path " .. op .. " ? AND path < ? ORDER BY path LIMIT ?", last, to, BATCH)
      op = ">"
      for _, r in ipairs(rows) do
        last = r.path
        if not keyset or r.path:match("/%d+%-%d+$") then gone_if(r.path, seen) end
      end
    until #rows < BATCH
  end
  local lists = lists_of(quire)
  local function walk(base, run)
    walked[base] = true
    local seen = {}
    run(function(path, shown, edge, next_path, prev)
      seen[path] = true
      take(path, { path = path, kind = "page", walked = true, shown = shown, edge = edge, next = next_path, prev = prev })
    end)
    local prefix = base == "/" and "/" or (base .. "/")
    if base ~= "/" then
      for _, p in ipairs({ base, prefix .. "feed.xml", prefix .. "atom.xml", prefix .. "feed.json" }) do
        if man:value("SELECT 1 FROM files WHERE path = ?", p) then gone_if(p, seen) end
      end
    end
    gone_in(prefix .. "older/", prefix .. "older0", seen, true)
    gone_in(prefix .. "newer/", prefix .. "newer0", seen, true) -- (an older export's: none is made now)
  end
  if scope.fronts then
    walk("/", lists.front)
    if lists.latest then walk("/latest", lists.latest) end
    each_by_id(db, "SELECT id, login FROM users WHERE id > ? ORDER BY id LIMIT ?", function(u)
      walk("/author/" .. u.login, function(page) lists.author(u, page) end)
    end)
    local seen = {}
    for _, n in ipairs(quire.content.published_blocks()) do
      local path = ("/sitemap.xml?part=%d"):format(n + 1)
      seen[path] = true
      take(path)
    end
    gone_in("/sitemap.xml?part=", "/sitemap.xml?part>", seen)
  end
  for _, tt in ipairs(scope.terms) do
    local t = db:row("SELECT id, taxonomy, slug FROM terms WHERE taxonomy = ? AND slug = ? AND listed > 0", tt[1], tt[2])
    walk("/" .. tt[1] .. "/" .. tt[2], function(page) if t then lists.term(t, page) end end)
  end
  if scope.redirects then
    each_by_id(db, "SELECT id, from_path, to_path, to_entry, status FROM redirects WHERE id > ? ORDER BY id LIMIT ?", function(r)
      if not r.from_path:find("?", 1, true) and not copied(r.from_path)
        and man:value("SELECT sig FROM redirect_rows WHERE path = ?", r.from_path) ~= redirect_sig(r) then
        take(r.from_path, { path = r.from_path, kind = "page", force = true, redirect = true })
      end
    end)
    -- The sitemap's parts answer a redirect from their own address, and one from /sitemap.xml
    -- (a source without a query answers whatever the query): the server's answer, before its
    -- route. (The fixed addresses' pages: each_item.)
    local index_moved = redirect_moved(db, man, "/sitemap.xml")
    for _, n in ipairs(quire.content.published_blocks()) do
      local path = ("/sitemap.xml?part=%d"):format(n + 1)
      if index_moved or redirect_moved(db, man, path) then take(path, { path = path, kind = "page", force = true }) end
    end
    local lastp = ""
    repeat
      local rows = man:rows("SELECT path FROM redirect_rows WHERE path > ? ORDER BY path LIMIT ?", lastp, BATCH)
      local paths = {}
      for i, r in ipairs(rows) do paths[i] = r.path; lastp = r.path end
      if #paths > 0 then
        local still = {}
        for _, r in ipairs(db:rows("SELECT from_path FROM redirects WHERE from_path " .. store_sql.IN_LIST, store_sql.value_list(paths))) do
          still[r.from_path] = true
        end
        for _, p in ipairs(paths) do
          -- (gone_redirect: its page is the address's own now, or none: a route's own redirect,
          -- as a list's page/N, is no page a full export walks)
          if not (still[p] or p:find("?", 1, true) or copied(p)) then take(p, { path = p, kind = "page", force = true, gone_redirect = true }) end
        end
      end
    until #rows < BATCH
  end
  return walked
end

-- The manifest's pages rendered on every export (no tags) or carrying one of the changed tags
-- (looked up in its tag index), those mine(path) takes; then those of the slice check (rows with
-- check.from < path <= check.to, or to the end when check.to is "") whose file or one of its
-- siblings is missing from the folder out.root, or one is there that should not be (missing_of:
-- removed by hand, or a link in its place, which nginx's gzip_static would serve). The pages
-- rendered are looked for anyway
-- (M.worker).
local function each_stale_page(quire, man, fn, changed, mine, out, check, scope)
  local listed = {}
  local function take(path, item)
    if listed[path] or FIXED_SET[path] or M.taken(path) or not mine(path) then return end
    listed[path] = true
    fn(item or { path = path, kind = "page" })
  end
  local walked = scope and each_scoped_page(quire, man, scope, changed, take, function(path)
    if listed[path] or not mine(path) then return end
    listed[path] = true
    fn { path = path, kind = "gone" }
  end) or {}
  for _, r in ipairs(man:rows("SELECT path FROM files WHERE tags = '' AND hash NOT LIKE 'src %'")) do take(r.path) end
  local query = M.tags_match(changed)
  if query then
    local last = 0
    repeat
      local rows = man:rows("SELECT t.rowid AS tid, f.path FROM file_tags t JOIN files f ON f.tid = t.rowid"
        .. " WHERE file_tags MATCH ? AND t.rowid > ? ORDER BY t.rowid LIMIT ?", query, last, BATCH)
      for _, r in ipairs(rows) do
        last = r.tid
        if not walked[list_base(r.path)] then take(r.path) end
      end
    until #rows < BATCH
  end
  local last = check.from
  repeat
    local rows = man:rows("SELECT path, file FROM files WHERE path > ? AND (path <= ? OR ? = '') AND hash NOT LIKE 'src %'"
      .. " ORDER BY path LIMIT ?", last, check.to, check.to, BATCH)
    for _, r in ipairs(rows) do
      last = r.path
      if not listed[r.path] and mine(r.path) then
        local gone, gaps, _, extra = missing_of(out, r.file)
        if gone or gaps[1] or extra[1] then take(r.path) end
      end
    end
  until #rows < BATCH
end

-- The slice of the manifest's pages a targeted run looks for on disk (each_stale_page): the
-- CHECK_SLICE after the last run's, from the start again after the last. Returns from, to ("":
-- to the end).
local CHECK_SLICE = 1000
local function check_slice(man)
  local from = man:value("SELECT value FROM meta WHERE key = 'check_from'") or ""
  local to = man:value("SELECT path FROM files WHERE path > ? AND hash NOT LIKE 'src %' ORDER BY path LIMIT 1 OFFSET ?",
    from, CHECK_SLICE - 1)
  return from, to or ""
end

-- Calls fn(item) for every address of the site, streamed from the store. item: { path =, kind =
-- "page" | "asset" | "search" | "search_index" | "search_js" | "sitemap_index" | "error", src = }.
-- targeted (a set of the tags bumped since the last export, all address_stable): no page was
-- added or removed, so only the fixed addresses below, the pages of the manifest man carrying
-- one of those tags or, in the slice check, whose file or a sibling is missing (those mine(path)
-- takes, in the folder out.root) and the static files are looked at.
-- want, share: which lists and entries a full walk reads (M.each_page).
local function each_item(quire, fn, targeted, man, mine, out, check, scope, want, share)
  -- A fixed address's page when a redirect from it was added, changed or deleted since: rendered
  -- again whatever its tags (the server answers the redirect there, before the route; a targeted
  -- run's changed tags leave out "redirects", which every page carries: see scope_of).
  local function moved(p)
    return targeted and scope and scope.redirects and redirect_moved(quire._db, man, p) or nil
  end
  for _, p in ipairs(FIXED) do
    fn { path = p, kind = "page", force = moved(p) }
  end
  fn { path = "/sitemap.xml", kind = "sitemap_index", force = moved("/sitemap.xml") }
  fn { path = "/404.html", kind = "error" }
  -- The view pixel stories load (the listings plugin's most read): one file; nothing counts here.
  if quire.app.router:match("GET", "/views.gif") then fn { path = "/views.gif", kind = "page", force = moved("/views.gif") } end
  fn { path = "/search", kind = "search", force = moved("/search") }
  fn { path = "/search-index.json", kind = "search_index" }
  fn { path = "/search.js", kind = "search_js" }
  if targeted then each_stale_page(quire, man, fn, targeted, mine, out, check, scope) else M.each_page(quire, fn, want, share) end
  M.each_file(quire, fn)
end

-- Static files: the plugins' (/static/NAME/), the media folder (/media/), the site's public/.
-- A symbolic link is followed only to what is inside the folder walked (root), as quire serve
-- answers it: one in public/ to a file or folder elsewhere published it, where the server says 404.
-- (Nor to a folder holding it: a link to "." was walked again and again.)
function M.each_file(quire, fn)
  local function within(path, dir) return path:sub(1, #dir + 1) == dir .. "/" end
  local function files(dir, prefix, skip_real, root)
    local here = core.realpath(dir)
    root = root or here
    local names = here and core.listdir(dir)
    if not names then return end
    for _, name in ipairs(names) do
      local src = dir .. "/" .. name
      local kind = core.stat_at(dir, name)
      if kind == "link" then
        local real = core.realpath(src)
        kind = real and within(real, root) and not within(here .. "/", real) and core.stat(src) or nil
      end
      -- Hidden names stay out, a folder's as a file's (a public/.git published the repository,
      -- its config and all), but .well-known, as quire serve does (core.hidden_path).
      local hidden = core.hidden_path(name)
      if kind == "dir" and not hidden then
        if not (skip_real and core.realpath(src) == skip_real) then files(src, prefix .. name .. "/", skip_real, root) end
      elseif kind == "file" and not hidden then
        fn { path = prefix .. name, kind = "asset", src = src }
      end
    end
  end
  for _, s in ipairs(quire.plugins.static_dirs) do files(s.dir, "/static/" .. s.plugin .. "/") end
  -- And the copies under fingerprinted names the pages link to (quire.assets), each file's made
  -- first; with them the old copies quire serve still answers (an edited stylesheet's, kept for
  -- static_retention days after the last page named it), for the pages an edge or a CDN holds:
  -- an old copy goes from the folder when it goes from the site's.
  for _, s in ipairs(quire.plugins.static_dirs) do
    for _, name in ipairs(core.listdir(s.dir) or {}) do
      if core.stat(s.dir .. "/" .. name) == "file" and not core.hidden_path(name) then pcall(quire.assets.url, s.plugin, name) end
    end
  end
  quire._assets.each_kept(function(url, src) fn { path = url, kind = "asset", src = src } end)
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
-- with its address, title, date and summary (the standfirst, else the start of the text), in id
-- order. Each entry's part depends on its row alone, which every write to it bumps "entry:ID"
-- for: the manifest keeps the parts (search_entries), and a targeted run (no entry published,
-- unpublished or moved: cache.changed, the tags bumped since) reads from the store only the
-- entries whose tag moved, the others' parts from the manifest. cache: { man =, changed =,
-- dry_run = } or nil (no manifest: every part from the store).
local SEARCH_COLUMNS = "id, type, slug, title, published_at, created_at, fields, substr(body, 1, 600) AS body"
local SUMMARY_HEAD = 320 -- characters of a body that settle most summaries (body_summary)

-- Text as a summary shows it: Markdown's marks and links' targets left out, whitespace made
-- single spaces.
local function plain(s)
  s = s:gsub("[%*_`#>%[%]]", "")
  if s:find("(http", 1, true) then s = s:gsub("%(https?://[^)]*%)", "") end
  return (s:gsub("%s+", " "))
end

-- The summary of an entry without a standfirst: the start of its body as plain text, cut at a
-- word before its 200th character when longer than 240 bytes; "" when not UTF-8.
local function body_summary(body)
  -- Patterns cost by the byte looked at, and a summary keeps a third of what is read: most are
  -- settled by the body's first SUMMARY_HEAD characters, up to any "(" after their last ")" (a
  -- link's target, left out, may end past them). Their plain text is the start of the whole's
  -- (marks go one by one, links end at their ")", whitespace runs where they end); when it
  -- holds 200 characters and more than 240 bytes the cut is in it, before its last space (the
  -- only whitespace left).
  if utf8.len(body) then
    local head = body:sub(1, (utf8.offset(body, SUMMARY_HEAD + 1) or #body + 1) - 1)
    local close = head:reverse():find(")", 1, true)
    head = head:sub(1, (head:find("(", close and #head - close + 2 or 1, true) or #head + 1) - 1)
    local text = plain(head)
    local at = #text > 240 and utf8.offset(text, 200) -- (#text + 1 when it holds 199: the same cut)
    if at then
      local cut = text:sub(1, at - 1)
      local space = cut:reverse():find(" ", 1, true)
      return (space and cut:sub(1, #cut - space) or cut) .. "…"
    end
  end
  local sf = plain(body)
  if #sf > 240 then sf = (utf8.len(sf) and sf:sub(1, utf8.offset(sf, 200) - 1) or sf:sub(1, 200)):gsub("%s+%S*$", "") .. "…" end
  return utf8.len(sf) and sf or ""
end
M.body_summary = body_summary -- (for its spec)

local function search_part(quire, e)
  local cjson, json = require("cjson"), require("quire.json") -- (quire.json: keys in order)
  local url = quire.content.url(e)
  if not url then return nil end
  local ok, fields = pcall(cjson.decode, e.fields or "{}")
  local sf = ok and type(fields) == "table" and type(fields.standfirst) == "string" and fields.standfirst or ""
  if not sf:match("%S") then
    -- (without the body's HTML, which the page does not show as text: a comment's note to the
    -- desk, "<!-- source: … -->", was public in the index; one not closed runs to the end, as on
    -- the page)
    local text = (e.body or ""):gsub("<!%-%-.-%-%->", ""):gsub("<!%-%-.*$", ""):gsub("</?%a[^>]*>", "")
    -- (nor a reference link's label and definition, which the page does not show either:
    -- "[council][1]" and "[1]: https://… "Title"" were "council1" and "1: https://… "Title"")
    text = ("\n" .. text):gsub("\n[ ]*%[[^%]\n]+%]:[^\n]*", "\n"):gsub("%]%[[^%]\n]*%]", "]")
    sf = body_summary(text:sub(2))
  elseif not utf8.len(sf) then
    sf = ""
  end
  return json.encode({ url = url, title = e.title, date = e.published_at or "", summary = sf })
end

local function search_index(quire, out, cache)
  local db = quire._db
  local settings = plugin_settings(quire, "search") or {}
  local types = listed_types(quire, settings)
  local man = cache and cache.man
  local keep = man and not cache.dry_run -- (the parts written back to the manifest)
  out[#out + 1] = '{"entries":['
  local first = true
  local function add(part)
    out[#out + 1] = (first and "" or ",") .. part
    first = false
  end
  if man and cache.changed and man:value("SELECT value FROM meta WHERE key = 'search_entries'") == "1" then
    -- The moved entries' parts anew (false: no longer listed), merged in id order with the others.
    local ids, fresh = {}, {}
    for t in pairs(cache.changed) do
      local id = math.tointeger(tonumber(t:match("^entry:(%d+)$") or ""))
      if id then ids[#ids + 1] = id end
    end
    table.sort(ids)
    -- (one statement per BATCH of them)
    for i = 1, #ids, BATCH do
      local chunk = table.move(ids, i, math.min(i + BATCH - 1, #ids), 1, {})
      for _, e in ipairs(db:rows("SELECT " .. SEARCH_COLUMNS .. " FROM entries WHERE id " .. store_sql.IN_LIST
          .. " AND status = 'published' AND type " .. store_sql.IN_LIST, store_sql.id_list(chunk), types)) do
        fresh[e.id] = search_part(quire, e) or false
      end
      for _, id in ipairs(chunk) do if fresh[id] == nil then fresh[id] = false end end
    end
    local k, last = 1, 0
    repeat
      local rows = man:rows("SELECT id, json FROM search_entries WHERE id > ? ORDER BY id LIMIT ?", last, BATCH)
      for _, r in ipairs(rows) do
        last = r.id
        while ids[k] and ids[k] <= r.id do
          if fresh[ids[k]] then add(fresh[ids[k]]) end
          k = k + 1
        end
        if fresh[r.id] == nil then add(r.json) end
      end
    until #rows < BATCH
    for i = k, #ids do if fresh[ids[i]] then add(fresh[ids[i]]) end end
    if keep then
      man:begin()
      local ok, err = pcall(function()
        for _, id in ipairs(ids) do
          if fresh[id] then man:exec("INSERT OR REPLACE INTO search_entries (id, json) VALUES (?, ?)", id, fresh[id])
          else man:exec("DELETE FROM search_entries WHERE id = ?", id) end
        end
      end)
      if ok then man:commit() else man:rollback() error(err, 0) end
    end
  else
    if keep then
      man:begin()
      man:exec("DELETE FROM search_entries")
      man:exec("DELETE FROM meta WHERE key = 'search_entries'")
    end
    local ok, err = pcall(function()
      local last = 0
      repeat
        -- (status and type unindexed: the id range drives and each batch stops at BATCH rows;
        -- by the index of published entries every batch read and sorted all the entries after it)
        local rows = db:rows("SELECT " .. SEARCH_COLUMNS .. " FROM entries WHERE id > ? AND " .. store_sql.unindexed("status")
          .. " = 'published' AND " .. store_sql.unindexed("type") .. " " .. store_sql.IN_LIST .. " ORDER BY id LIMIT ?", last, types, BATCH)
        for _, e in ipairs(rows) do
          last = e.id
          local part = search_part(quire, e)
          if part then
            add(part)
            if keep then man:exec("INSERT INTO search_entries (id, json) VALUES (?, ?)", e.id, part) end
          end
        end
      until #rows < BATCH
      if keep then man:exec("INSERT INTO meta (key, value) VALUES ('search_entries', '1') ON CONFLICT (key) DO UPDATE SET value = '1'") end
    end)
    if keep then if ok then man:commit() else man:rollback() end end
    if not ok then error(err, 0) end
  end
  out[#out + 1] = "]}\n"
  quire._site.tag("list:all")
  quire._site.tag("entries:any")
end

-- Renders one item: returns body, tags (space-separated; "" when nothing says when it goes
-- stale: rendered every run), or nil and a reason to leave it out (404), or raises.
local function render(quire, item, cache)
  local app = quire.app
  if item.kind == "search_js" then return SEARCH_JS, "static" end
  if item.kind == "search_index" then
    local site = quire._site
    site.collecting = {}
    local out = {}
    local ok, err = pcall(search_index, quire, out, cache)
    site.collecting = nil
    if not ok then error(err, 0) end
    return table.concat(out), "list:all entries:any"
  end
  local headers = { accept = "text/html,*/*" }
  -- (the error page is asked for at an address no route answers and no redirect can have:
  -- redirects.key refuses spaces; at /404.html a redirect from there would answer)
  local r = app.request("GET", item.kind == "search" and "/search" or item.kind == "error" and "/ 404" or item.path, { headers = headers })
  if item.kind == "error" then
    if r.status ~= 404 then fail("%s: expected the 404 page, got status %d", item.path, r.status) end
    return r.body, "" -- (error pages carry no tags: rendered on every export, one page)
  end
  if r.status == 301 or r.status == 302 or r.status == 307 or r.status == 308 then
    if item.gone_redirect then return nil, "not found" end
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
  -- "src " and its source's size and mtime); tags: the cache tags the page was built from; tid:
  -- the row's number in the tag index (file_tags); shows: for a page of a list, the ids of the
  -- entries it lists, in order, space-separated (shows_of; NULL: not a list page, or not known).
  "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, file TEXT NOT NULL, hash TEXT NOT NULL, tags TEXT NOT NULL,"
    .. " tid INTEGER, shows TEXT) WITHOUT ROWID",
  -- The search index's part for each entry in it (search_index); complete when meta's
  -- search_entries is 1.
  "CREATE TABLE IF NOT EXISTS search_entries (id INTEGER PRIMARY KEY, json TEXT NOT NULL)",
  -- A copy of the redirects table as the last run saw it (redirect_sig), complete when meta's
  -- redirect_rows is 1: a targeted run after a change to redirects renders the sources whose
  -- row differs.
  "CREATE TABLE IF NOT EXISTS redirect_rows (path TEXT PRIMARY KEY, sig TEXT NOT NULL) WITHOUT ROWID",
}
-- (after the column tid exists: a manifest from before it gains it in upgrade_manifest)
local INDEXES = {
  "CREATE INDEX IF NOT EXISTS files_by_tid ON files (tid)",
  -- The pages rendered on every export, and the static files: a targeted run reads only those.
  "CREATE INDEX IF NOT EXISTS files_untagged ON files (path) WHERE tags = '' AND hash NOT LIKE 'src %'",
  "CREATE INDEX IF NOT EXISTS files_static ON files (path) WHERE hash LIKE 'src %'",
  -- The pages' files, for the look for those removed by hand (without reading every row's tags).
  "CREATE INDEX IF NOT EXISTS files_pages ON files (path, file) WHERE hash NOT LIKE 'src %'",
  -- The tag index: each tagged row's tags under its tid, so the pages carrying a bumped tag are
  -- read, not every row scanned (a targeted run after one edit, on any size of site). Contentless
  -- (the tags are in files): a row's entry is removed with the tags it was indexed with.
  -- Tokens: a whole tag (":", "-" and the like join); a tag cut at another character is looked
  -- up as a phrase of its parts, which matches it too (case folded: at worst a page more is
  -- rendered; a tag of no letter or digit is found by no phrase: see address_stable).
  [[CREATE VIRTUAL TABLE IF NOT EXISTS file_tags USING fts5 (tags, content = '',
    tokenize = "unicode61 remove_diacritics 0 tokenchars ':-_./@+=~!$%&*'")]],
}

-- The FTS5 query matching the tag index's rows carrying any tag of the set changed, or nil when
-- it is empty.
function M.tags_match(changed)
  local terms = {}
  for t in pairs(changed) do terms[#terms + 1] = '"' .. t:gsub('"', '""') .. '"' end
  if #terms == 0 then return nil end
  table.sort(terms)
  return table.concat(terms, " OR ")
end

-- The manifest's tables, made or brought up to date (the coordinator, before the workers start).
-- A manifest from before the tag index: its rows numbered and indexed, once. One from before
-- shows: its list pages' entries not known (each is rendered again the first time it is walked).
local function upgrade_manifest(man)
  for _, sql in ipairs(SCHEMA) do man:exec(sql) end
  man:begin()
  local ok, err = pcall(function()
    if man:value("SELECT count(*) FROM pragma_table_info('files') WHERE name = 'tid'") == 0 then
      man:exec("ALTER TABLE files ADD COLUMN tid INTEGER")
    end
    if man:value("SELECT count(*) FROM pragma_table_info('files') WHERE name = 'shows'") == 0 then
      man:exec("ALTER TABLE files ADD COLUMN shows TEXT")
    end
    for _, sql in ipairs(INDEXES) do man:exec(sql) end
    if man:value("SELECT 1 FROM files WHERE tid IS NULL LIMIT 1") then
      local n = man:value("SELECT coalesce(max(tid), 0) FROM files")
      repeat
        local rows = man:rows("SELECT path, tags FROM files WHERE tid IS NULL LIMIT ?", BATCH)
        for _, r in ipairs(rows) do
          n = n + 1
          man:exec("UPDATE files SET tid = ? WHERE path = ?", n, r.path)
          if r.tags ~= "" then man:exec("INSERT INTO file_tags (rowid, tags) VALUES (?, ?)", n, r.tags) end
        end
      until #rows < BATCH
    end
  end)
  if ok then man:commit() else man:rollback() error(err, 0) end
end

-- Writes a page's row (and its tag index entry, when its tags changed). next_tid: { n = the
-- highest tid given }. shows: the entries a list page lists (shows_of), or nil to keep the row's
-- (a page rendered from the tag index, not from a walk of its list: its list has not changed
-- since the row's entries were recorded, or it would have been walked).
local function put_row(man, next_tid, path, file, hash, tags, shows)
  local old = man:row("SELECT tags, tid FROM files WHERE path = ?", path)
  if old and old.tid and old.tags == tags then
    man:exec("UPDATE files SET file = ?, hash = ?, shows = coalesce(?, shows) WHERE path = ?", file, hash, shows, path)
    return
  end
  local tid = old and old.tid
  if tid and old.tags ~= "" then man:exec("INSERT INTO file_tags (file_tags, rowid, tags) VALUES ('delete', ?, ?)", tid, old.tags) end
  if not tid then next_tid.n = next_tid.n + 1; tid = next_tid.n end
  man:exec("INSERT INTO files (path, file, hash, tags, tid, shows) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE"
    .. " SET file = excluded.file, hash = excluded.hash, tags = excluded.tags, tid = excluded.tid,"
    .. " shows = coalesce(excluded.shows, files.shows)", path, file, hash, tags, tid, shows)
  if tags ~= "" then man:exec("INSERT INTO file_tags (rowid, tags) VALUES (?, ?)", tid, tags) end
end

-- A worker's result line: its kind, path and up to four fields (see M.worker).
local RESULT_LINE = "^(%u)\t([^\t]*)\t?([^\t]*)\t?([^\t]*)\t?([^\t]*)\t?([^\t]*)$"

-- What an interrupted run (failed, or killed: its folder found by the next run) wrote into the
-- output folder, put in the manifest from its workers' result files, so the manifest says what
-- the folder holds: each file written ("W" after its "I") with its hash and tags, and the file a
-- worker was writing when it stopped ("I" alone) with no hash, so it is written again (or
-- removed with its page). Its version stays: the next run finds the same changes by their tags.
-- A list page's row gets no shows: its neighbours, which another worker may not have reached,
-- are then rendered again too (stale() trusts a neighbour's row only with its shows).
-- (A dry run writes no "I" lines; a line cut short by a kill is left out.)
local function merge_interrupted(man, folder)
  local names = {}
  for _, n in ipairs(core.listdir(folder) or {}) do if n:match("^w%d+$") then names[#names + 1] = n end end
  if #names == 0 then return end
  man:begin()
  local ok, err = pcall(function()
    local next_tid = { n = man:value("SELECT coalesce(max(tid), 0) FROM files") }
    for _, n in ipairs(names) do
      local path_of = folder .. "/" .. n
      local f = io.open(path_of, "rb")
      local whole = f and f:seek("end") > 0 and f:seek("end", -1) and f:read(1) == "\n"
      if f then f:close() end
      local writing -- the last "I" line's path and file, until its "W"
      local function take(line)
        local k, path, a, b, c = line:match(RESULT_LINE)
        if k == "I" then writing = { path, a }
        elseif k == "W" and writing and writing[1] == path then
          writing = nil
          put_row(man, next_tid, path, a, b, c)
          man:exec("UPDATE files SET shows = NULL WHERE path = ?", path)
        end
      end
      local last -- (taken once the next is read: the file's last line only if it ends in a newline)
      for line in io.lines(path_of) do
        if last then take(last) end
        last = line
      end
      if last and whole then take(last) end
      if writing then
        local path, file = writing[1], writing[2]
        if man:value("SELECT 1 FROM files WHERE path = ?", path) then
          man:exec("UPDATE files SET file = ?, hash = '' WHERE path = ?", file, path)
        else
          put_row(man, next_tid, path, file, "", "")
        end
      end
    end
  end)
  if ok then man:commit() else man:rollback() error(err, 0) end
end

-- Which of a page's file and its compressed siblings is in the folder, the file first: what
-- removing the page removes, named in the list of changes (nil: none is, as when the file was
-- removed by hand; a link counts, which core.remove_at removes as it does a file).
local function in_folder(root, file)
  local kind = core.stat_at(root, file)
  if kind and kind ~= "dir" then return file end
  for _, sibling in ipairs(SIBLINGS) do
    kind = core.stat_at(root, file .. sibling)
    if kind and kind ~= "dir" then return file .. sibling end
  end
end

local function drop_row(man, path)
  local old = man:row("SELECT tags, tid FROM files WHERE path = ?", path)
  if not old then return end
  if old.tid and old.tags ~= "" then man:exec("INSERT INTO file_tags (file_tags, rowid, tags) VALUES ('delete', ?, ?)", old.tid, old.tags) end
  man:exec("DELETE FROM files WHERE path = ?", path)
end

-- Opens the manifest at path (made when missing; the coordinator makes its tables first).
-- synchronous=NORMAL: a commit lost to a power cut only makes the next export redo pages.
local function open_manifest(path)
  local man, err = core.open_store(path, { create = true, migrate = false })
  if not man then fail("cannot open the export manifest %s: %s", path, tostring(err)) end
  man:exec("PRAGMA synchronous = NORMAL")
  return man
end

-- This process's own binary, through /proc: a --watch whose file was replaced by an upgrade
-- meanwhile starts workers of its own version, where the path named a file gone.
local function own_binary()
  return core.stat("/proc/self/exe") == "file" and "/proc/self/exe" or core.exepath()
end

-- What the pages are rendered with, besides the content: quire's version and binary (its
-- embedded Lua and C render the pages: an upgrade that keeps the version number renders them
-- again too), the base URL, the
-- site's settings and every plugin, template and translation file (names and contents). When it differs
-- from the last run's, every page is rendered again. By content, not mtime: a checkout, a
-- deploy's copy or a touch that leaves the code as it was renders nothing again (with mtimes,
-- every page of the site was). A file over SIGNED_READ_MAX (a plugin's data, not its code) is
-- signed by its size and mtime instead, so no run reads more than that a file.
local SIGNED_READ_MAX = 4 * 1024 * 1024
local function code_signature(quire, base_url, compress)
  -- (the site's year too: the pages' footers show it, and the new year comes with no write)
  local parts = { core.version, base_url, "year " .. quire.time.local_parts(os.time()).year }
  -- (gzip,br: what was written before the option, so a manifest from then keeps its signature)
  if compress ~= "gzip,br" then parts[#parts + 1] = "compress " .. compress end
  local function sign(p, name)
    local kind, mtime, size, nsec = core.stat(p)
    if kind ~= "file" then
      parts[#parts + 1] = ("%s %s"):format(name or p, kind)
    elseif size <= SIGNED_READ_MAX then
      local f = io.open(p, "rb")
      local body = f and f:read("a")
      if f then f:close() end
      parts[#parts + 1] = ("%s %s"):format(name or p, body and core.xxh128(body) or "unreadable")
    else
      parts[#parts + 1] = ("%s %d %d %d"):format(name or p, mtime, size, nsec or 0)
    end
  end
  local function walk(dir, depth)
    if depth > 8 then return end
    for _, name in ipairs(core.listdir(dir) or {}) do
      local p = dir .. "/" .. name
      local kind = core.stat(p)
      if kind == "dir" and name ~= "static" and name ~= "spec" then walk(p, depth + 1)
      elseif kind == "file" then sign(p) end
    end
  end
  sign(own_binary(), "quire")
  local cfg = quire.site.config
  sign(cfg.dir .. "/site.lua", "site.lua")
  for _, p in ipairs(quire.plugins.plugins) do walk(p.dir, 0) end
  -- The static files pages may link under a fingerprinted name (quire.assets: a plugin's static
  -- folder's own files): a changed one is a new name in every page that links it.
  for _, s in ipairs(quire.plugins.static_dirs) do
    for _, name in ipairs(core.listdir(s.dir) or {}) do
      local p = s.dir .. "/" .. name
      if core.stat(p) == "file" then sign(p) end
    end
  end
  if core.stat(cfg.dir .. "/templates") == "dir" then walk(cfg.dir .. "/templates", 0) end
  -- (the site's own translations, SITE/locale/LANG.mo: the plugins' are in their folders)
  if core.stat(cfg.dir .. "/locale") == "dir" then walk(cfg.dir .. "/locale", 0) end
  return hash_of(table.concat(parts, "\n"))
end

-- The site's public address, which its feeds, sitemaps and canonical links name: --base-url,
-- else site.lua's base_url (not the default, http://localhost:8080: a site on a CDN naming that
-- is broken for every reader). An origin only: the pages link from the root (/static/…,
-- /latest), so a site under a path would have every link lead out of it.
local function set_base_url(quire, base_url)
  local from = base_url and "--base-url" or "site.lua's base_url"
  if not base_url and not quire.site.config.base_url_set then
    fail("the export needs the site's public address, which its feeds, sitemaps and canonical links name:"
      .. " give --base-url https://news.example (or set base_url in site.lua)")
  end
  local given = base_url or quire.site.base_url
  base_url = given:gsub("/+$", "")
  local port = base_url:match("^https?://%w[%w%.%-]*:(%d+)$")
  if not (base_url:match("^https?://%w[%w%.%-]*$") or port and tonumber(port) >= 1 and tonumber(port) <= 65535) then
    fail("%s takes the site's origin, http(s)://HOST or http(s)://HOST:PORT, with no path, query or fragment"
      .. " (the pages link from the root: serve the export at its own host's root), such as https://news.example (got %q)",
      from, given)
  end
  quire.site.base_url = base_url
  quire.site.config.base_url = base_url
  return base_url
end

-- A full export's lists split among its workers (run_once, before they start): each list, with
-- all its pages and feeds, walked by one worker, instead of every worker walking every list to
-- keep the pages that hash to it. Lists go largest first to the worker with the fewest pages so
-- far (lists are very unequal: /latest and a prolific author's have hundreds of pages, most tags
-- a few). The sizes are read cheaply (counts, not the lists' types): they only steer the balance.
-- Writes "base TAB worker" lines to path.
-- Only the PLAN_MAX largest of each kind are planned (the plan stays small whatever the site's
-- size): the many small lists past them balance well enough by hash (list_owner).
local PLAN_MAX = 4096
local function plan_lists(quire, count, path)
  local db = quire._db
  local listings = plugin_settings(quire, "listings")
  local per = listings and math.tointeger(listings.per_page)
  per = per and per > 0 and per or nil
  local function pages(n) return per and math.max(1, (n + per - 1) // per) or 1 end
  local lists = { { base = "/", size = 1 } } -- (its older pages are /latest's when there is one)
  local published = db:value("SELECT count(*) FROM entries WHERE status = 'published'")
  if latest_list(quire) then lists[2] = { base = "/latest", size = pages(published) } else lists[1].size = pages(published) end
  for _, t in ipairs(db:rows("SELECT taxonomy, slug, listed FROM terms WHERE listed > 0 AND taxonomy IN ('tag', 'section')"
      .. " ORDER BY listed DESC LIMIT ?", PLAN_MAX)) do
    lists[#lists + 1] = { base = "/" .. t.taxonomy .. "/" .. t.slug, size = pages(t.listed) + 3 } -- (and its feeds)
  end
  for _, u in ipairs(db:rows("SELECT u.login, a.n FROM (SELECT author_id, count(*) AS n FROM entries WHERE status = 'published'"
      .. " GROUP BY author_id) a JOIN users u ON u.id = a.author_id ORDER BY a.n DESC LIMIT ?", PLAN_MAX)) do
    lists[#lists + 1] = { base = "/author/" .. u.login, size = pages(u.n) }
  end
  table.sort(lists, function(a, b) return a.size > b.size or (a.size == b.size and a.base < b.base) end)
  local load, out = {}, {}
  for i = 0, count - 1 do load[i] = 0 end
  for _, l in ipairs(lists) do
    local w = 0
    for i = 1, count - 1 do if load[i] < load[w] then w = i end end
    load[w] = load[w] + l.size
    -- (a base the line format cannot hold is left out: its worker is then fnv's, see list_owner)
    if not l.base:find("[\t\n]") then out[#out + 1] = l.base .. "\t" .. w .. "\n" end
  end
  local f, err = io.open(path, "wb")
  if not f then fail("cannot write %s: %s", path, tostring(err)) end
  f:write(table.concat(out))
  f:close()
end

-- The worker (0 .. count - 1) that walks the list at base, as every worker decides it from the
-- same plan: the plan's, else (a list made since the plan) by hash of the base. (A planned list
-- gone since is walked by none: it has no pages to walk.)
local function list_owner(plan, count)
  return function(base) return plan[base] or fnv(base) % count end
end

local function read_plan(path, count)
  local plan = {}
  local f, err = io.open(path, "rb")
  if not f then fail("cannot read %s: %s", path, tostring(err)) end
  for line in f:lines() do
    local base, w = line:match("^(.*)\t(%d+)$")
    w = math.tointeger(tonumber(w))
    if w and w < count then plan[base] = w end
  end
  f:close()
  return plan
end

-- Whether root/file holds the bytes of the file at path (core.same_at: root/file reached
-- beneath root without following a symbolic link, so a link there, even one swapped in since
-- core.stat_at looked, or anything but a regular file, is not the same, and the file at path
-- replaces it, never what it points at; compared a block at a time: either may be large, as the
-- redirect files of a site with a million redirects are).
local function same_there(path, root, file) return core.same_at(root, file, path) end

-- One worker's share: items whose path hashes to index (of count). Writes its result lines to
-- results_path and progress lines ("P index done") to stdout.
--   result lines: "K path" kept as it was; "S path file hash tags[ =shows]" rendered, same bytes;
--   "W path file hash tags[ =shows]" written (or would be, with dry_run) (shows: a list page's
--   entries, shows_of); "X path reason" left out;
--   "G path" no longer made (a page of a list walked again); "E path message" failed;
--   "I path file" about to write file (before its "W" line; not in a dry run);
--   "C path file" a sibling written (or would be) beside a file kept, before the file's line;
--   "R path file" a sibling removed (or would be: one --compress does not ask for), before it.
function M.worker(quire, out_dir, o)
  -- The incremental collector (in a worker, or in the coordinator rendering a few pages itself,
  -- which then keeps it): a worker's memo and caches keep each value a while and then let
  -- it go, so values die old, and the generational collector (the sandbox's, right for a
  -- server's requests) frees those only in full collections, which it then keeps running.
  -- A full N=10000 export took 2.6% less CPU (the median of 11 pairs run at once, one worker each).
  collectgarbage("incremental")
  -- And, in a worker process (which ends with the export; not a --watch coordinator rendering
  -- a few pages itself), 2 MiB pages for the heap it grows from here (see core.large_pages).
  if not o.inline then core.large_pages() end
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
  local scope = o.targeted and scope_of(changed) or nil
  local res, err = io.open(o.results, "wb")
  if not res then fail("cannot write %s: %s", o.results, tostring(err)) end
  -- An "I" line is on disk before its file is written (flushed with the lines before it): a
  -- worker killed mid-run leaves the results of what it wrote, and the "I" line of the file it
  -- was writing (merge_interrupted). One write a file written, not one a line.
  local function writing(path, file)
    res:write("I\t", path, "\t", file, "\n")
    res:flush()
  end
  -- (progress lines go to the coordinator's pipe; a run in the coordinator itself calls o.inline)
  local progress = o.inline and function(line) o.inline(tonumber(line:match("^P %d+ (%d+)"))) end
    or function(line) io.stdout:write(line) end
  if not o.inline then io.stdout:setvbuf("line") end
  local out = { root = out_dir, gzip = o.compress.gzip, br = o.compress.br }
  local done, index, count = 0, o.index, o.count
  local rendered, statements, snapshots = 0, db:statements(), 1
  local unfiled = 0 -- addresses that get no file (M.file_of), named on stderr
  -- (a first export: nothing to look up)
  local empty = man:value("SELECT count(*) FROM (SELECT 1 FROM files LIMIT 1)") == 0
  -- Whether item must be done again; missing: whether its row's file is missing from the folder
  -- (missing_of; nil: not looked, when every page is rendered again anyway).
  -- (a static file is the same whatever the code or the tags: its source's mtime and size say,
  -- and when they moved, its bytes: a checkout or a deploy's copy of the same files then writes
  -- nothing, and the copy keeps its mtime, which rsync and a CDN's sync go by: same_there)
  -- A page of a list walked again (item.walked): its list tags bumped, it is rendered only when
  -- what it shows changed: other entries or another order than its row records (shows: its
  -- tags would not say, as other blocks carry other entries' cards), or it is an edge
  -- (item.edge), or the page after it is new (its link to it), or the page above it (its Newer
  -- link) is new or shows other entries: when that page is in the manifest with the same
  -- entries, the last of which names this page, it linked here last time too.
  local function stale(row, item, missing)
    if not row or missing ~= false then return true end
    if item.kind == "asset" then return row.hash ~= item.sig end
    if row.tags == "" or item.force then return true end
    local listing = false
    for t in row.tags:gmatch("%S+") do
      if changed[t] then
        if not (item.walked and list_tag(t)) then return true end
        listing = true
      end
    end
    if not item.walked then return false end
    if listing and item.edge then return true end
    if item.next and not man:value("SELECT 1 FROM files WHERE path = ? AND shows IS NOT NULL", item.next) then return true end
    if item.shown and row.shows ~= shows_of(item.shown) then return true end
    if listing and item.prev and man:value("SELECT shows FROM files WHERE path = ?", item.prev.path) ~= shows_of(item.prev.shown) then
      return true
    end
    return false
  end
  -- The siblings beside file (links too) that out does not ask for when it holds size bytes
  -- (siblings_there's extra): what writing it removes (write_siblings, copy_file). An "R" line
  -- for each, removed (or, in a dry run, that would be): the removals are counted as the writes.
  local function dropped(file, size, max)
    local _, _, kinds = core.siblings_at(out.root, file, SIBLINGS)
    return select(2, siblings_there(siblings_of(out, file, size, max), kinds))
  end
  -- Whether nothing can be beside file yet: a folder found empty (o.fresh) but for the hidden
  -- entries `rm -rf out/*` leaves, which may hold the export's files (public/.well-known).
  local function fresh_for(file) return o.fresh and file:byte(1) ~= 46 end
  local function removed(path, file, siblings)
    for _, sibling in ipairs(siblings) do res:write("R\t", path, "\t", file, sibling, "\n") end
  end
  -- The siblings of a file kept, whose bytes there its row vouches for (or data's, about to be
  -- written there), as out asks (from missing_of): those missing (gaps) made from those bytes,
  -- read without following a link, and those there that should not be (extra) removed. Only what
  -- is missing is written: the others keep their mtime. Without data, a "C" line for each
  -- sibling written.
  local function mend(path, file, gaps, extra, data)
    if not o.dry_run then
      for _, sibling in ipairs(extra) do core.remove_at(out.root, file .. sibling) end
    end
    removed(path, file, extra)
    if not gaps[1] then return end
    local bytes = not o.dry_run and (data or read_there(out, file))
    for _, sibling in ipairs(gaps) do
      if bytes then write_sibling(out, file, bytes, sibling) end
      if not data then res:write("C\t", path, "\t", file, sibling, "\n") end
    end
  end
  -- A list's three feeds go to one worker, hashed by the list's address: they share the scope's
  -- items (the feeds plugin's site:memo), built once for the three.
  -- (Every worker asks for every address: the feeds' names are looked for at the end only, not
  -- by a pattern that backtracks from it.)
  -- With a plan (a full export, o.plan) a list's pages and feeds go to the worker that walks the
  -- list (list_owner of their list base: list_base for its older pages, the feeds' as above), and
  -- only its lists are walked here, and only its entries read: an entry's address goes by the
  -- entry's id (its block of ids: M.each_page's share), so it is done once even when it changed
  -- while the workers read. Any other address goes by its own (the site's feeds by "").
  local owner = o.plan and count > 1 and list_owner(read_plan(o.plan, count), count)
  local function mine(path, id)
    if count == 1 then return true end
    if id and owner then return (id // ENTRY_BLOCK) % count == index end
    local at = path:find("/feed.xml", -9, true) or path:find("/atom.xml", -9, true) or path:find("/feed.json", -10, true)
    local key = at and path:sub(1, at - 1) or path
    if owner then
      if path:find("/older/", 1, true) or path:find("/newer/", 1, true) then key = list_base(path) end
      return owner(key) == index
    end
    return fnv(key) % count == index
  end
  local want = owner and function(base) return owner(base) == index end
  local share = owner and { index = index, count = count }
  -- The site's secret (the comment form's tokens) is written on first use: before the snapshot,
  -- which refuses writes.
  quire.tokens.sign("export", "")
  -- The search index's parts kept in the manifest: used by a targeted run (see search_index).
  local search_cache = { man = man, changed = o.targeted and changed or nil, dry_run = o.dry_run }
  -- (the same slice in every worker: the coordinator moves it on once the run is recorded)
  local check = {}
  if o.targeted then check.from, check.to = check_slice(man) end
  db:begin_read()
  each_item(quire, function(item)
    if not mine(item.path, item.id) then return end
    if item.kind == "gone" then
      res:write("G\t", item.path, "\n")
      return
    end
    local file, why = M.file_of(item.path)
    if not file then
      -- (a redirect's source is named by the coordinator, with the redirect files)
      -- (the first 20 named: the worker's messages, as the coordinator's of redirects)
      if why and not item.redirect then
        unfiled = unfiled + 1
        if unfiled <= 20 then io.stderr:write(("quire: export: %s gets no file (%s)\n"):format(item.path, why))
        elseif unfiled == 21 then io.stderr:write("quire: export: and more addresses get no file (not named)\n") end
      end
      return
    end
    local row = not empty and man:row("SELECT file, hash, tags, shows FROM files WHERE path = ?", item.path) or nil
    if item.kind == "asset" then
      local _, mtime, size, nsec = core.stat(item.src)
      item.sig = ("src %d %d %d"):format(mtime or 0, size or 0, nsec or 0)
    end
    -- (looked for now unless every page is rendered again anyway: then once it is, below)
    local max = item.kind == "asset" and GZIP_READ_MAX or nil
    local missing, gaps, extra
    if row and (item.kind == "asset" or not all) then missing, gaps, _, extra = missing_of(out, row.file, nil, max) end
    local line
    if not stale(row, item, missing) then
      mend(item.path, row.file, gaps, extra)
      line = "K\t" .. item.path
    elseif item.kind == "asset" and row and row.file == file and not o.fresh and same_there(item.src, out_dir, file) then
      mend(item.path, file, gaps, extra)
      line = ("S\t%s\t%s\t%s\t%s"):format(item.path, file, item.sig, "")
    elseif item.kind == "asset" then
      local drop = {}
      if not fresh_for(file) then
        local _, _, src_size = core.stat(item.src)
        drop = dropped(file, src_size or 0, GZIP_READ_MAX)
      end
      if not o.dry_run then
        writing(item.path, file)
        copy_file(out, file, item.src, fresh_for(file))
      end
      removed(item.path, file, drop)
      line = ("W\t%s\t%s\t%s\t%s"):format(item.path, file, item.sig, "")
    else
      local ok, body, tags = pcall(render, quire, item, search_cache)
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
        local same = row and row.file == file and same_hash(row.hash, body, h)
        -- (the siblings to look for are those of this page's size when it is gone)
        if same then missing, gaps, _, extra = missing_of(out, file, #body, nil, true) end
        if same and not missing then
          -- The same page there: its siblings as asked (from the bytes there, whose token may
          -- differ from this rendering's).
          mend(item.path, file, gaps, extra)
          line = ("S\t%s\t%s\t%s\t%s"):format(item.path, file, h, tags)
        else
          if not o.dry_run then writing(item.path, file) end
          if same then
            -- The page alone gone (removed by hand, a link in its place): written again, and
            -- of its siblings only those gone too.
            if not o.dry_run then write_atomic(out, file, body) end
            mend(item.path, file, gaps, extra, body)
          else
            local drop = not fresh_for(file) and dropped(file, #body) or {}
            if not o.dry_run then write_page(out, file, body, fresh_for(file)) end
            removed(item.path, file, drop)
          end
          line = ("W\t%s\t%s\t%s\t%s"):format(item.path, file, h, tags)
        end
        if item.shown then line = line .. "\t=" .. shows_of(item.shown) end
      end
    end
    res:write(line, "\n")
    done = done + 1
    if done % 50 == 0 then progress(("P %d %d\n"):format(index, done)) end
  end, o.targeted and changed, man, mine, out, check, scope, want, share)
  db:end_read()
  res:close()
  if o.verbose then
    statements = db:statements() - statements
    io.stdout:write(("export worker %d: %d pages rendered, %d statements read them and listed the site (%.1f a page), in %d read snapshots, %.2f s of CPU\n")
      :format(index, rendered, statements, statements / math.max(rendered, 1), snapshots, os.clock()))
  end
  progress(("P %d %d\n"):format(index, done))
  return 0
end

-- The lists' addresses that only the server can resolve (plugins/listings: /, /latest, a tag's,
-- a section's, an author's), as _redirects rules and nginx map lines (regular expressions on
-- the path without its query and "/" at the end, $quire_path_key: a named capture, no backslash)
-- to the list's first page; probe: an address the
-- site answers when it has such lists (the front page's with the listings plugin's front: see
-- HOME_MOVED). page/1 is the first page, for good, as the server says (before the rules for
-- page/N), and so is page/01 (the server reads the number; not in _redirects, whose placeholders
-- cannot tell 01 from 2: README); pages: the other page/N and newer/.
local LIST_ADDRESSES = {}
for _, l in ipairs {
  { probe = "/newer/1-1", from = "", to = "/", re = "", value = "/", home = true },
  { probe = "/latest/newer/1-1", from = "/latest", to = "/latest", re = "/latest", value = "/latest" },
  { probe = "/tag/x/newer/1-1", from = "/tag/:slug", to = "/tag/:slug", re = "(?<quire_tag>/tag/[^/?]+)", value = "$quire_tag" },
  { probe = "/section/x/newer/1-1", from = "/section/:slug", to = "/section/:slug", re = "(?<quire_section>/section/[^/?]+)", value = "$quire_section" },
  { probe = "/author/x/newer/1-1", from = "/author/:login", to = "/author/:login", re = "(?<quire_author>/author/[^/?]+)", value = "$quire_author" },
} do
  LIST_ADDRESSES[#LIST_ADDRESSES + 1] = {
    probe = l.probe, home = l.home,
    first = { status = 301, netlify = ("%s/page/1 %s 301\n"):format(l.from, l.to), source = l.from .. "/page/1",
      re = ("^%s/page/0*1$"):format(l.re), value = l.value },
    pages = { status = 302, netlify = ("%s/newer/:cursor %s 302\n%s/page/:n %s 302\n"):format(l.from, l.to, l.from, l.to),
      re = ("^%s/(newer/[0-9]+-[0-9]+|page/[0-9]+)$"):format(l.re), value = l.value },
  }
end
-- With the listings plugin's front (the site has /latest), the front page's older/, newer/ and
-- page/N addresses are moved for good to the same ones under /latest (the one list of
-- everything, whose pages the front page links to): one permanent rule for them all (page/1's
-- own rule comes first).
local HOME_MOVED = {
  status = 301,
  netlify = "/older/:cursor /latest/older/:cursor 301\n/newer/:cursor /latest/newer/:cursor 301\n/page/:n /latest/page/:n 301\n",
  re = "^/(?<quire_home>(older|newer)/[0-9]+-[0-9]+|page/[0-9]+)$", value = "/latest/$quire_home",
}

-- The lists' rules the site has (their probes answered), in the order they are written: Netlify
-- and nginx (in a map's regular expressions) take the first that matches.
local function list_rules(quire)
  local rules, moved = {}, latest_list(quire)
  local function add(rule) rules[#rules + 1] = rule end
  for _, list in ipairs(LIST_ADDRESSES) do
    if quire.app.router:match("GET", list.probe) then add(list.first) end
  end
  if moved then add(HOME_MOVED) end
  for _, list in ipairs(LIST_ADDRESSES) do
    if quire.app.router:match("GET", list.probe) and not (list.home and moved) then add(list.pages) end
  end
  return rules
end

-- How nginx answers as the server does (redirects.lua's lookup): the path is looked up without
-- its query and its "/" at the end (exact keys, a hash: any number of them), after the source
-- with that very query (a plain pair: ?p=123), before the lists' rules (regular expressions,
-- tried in turn); else an address with a "/" at the end moves to the one without it (no route
-- ends in "/"; the server does that before its router, nginx after the lists' rules, which see
-- no "/" at the end: the same page in the end), but for one whose first segment starts with a
-- "\" (\x5c: the server refuses it; /\evil.example/ to /\evil.example, which browsers read as
-- //evil.example, was an open redirect with absolute_redirect off). The keys are the address
-- as sent, not decoded, with its runs of "/" merged (norm_path): $uri, which nginx merges, when nothing in
-- $request_uri is %-escaped (then they are the same bytes); else $request_uri, whose leading
-- run alone a regex can merge.
-- The longest source that is a key in nginx's hash with map_hash_bucket_size 256 (a key takes
-- its length, 2 and a pointer, rounded up to 8, and the bucket a pointer more: 240 at most).
local NGINX_KEY_MAX = 230
local NGINX_HEAD = [[
# Old addresses of the site (quire export), each to "STATUS TARGET". In nginx's http block:
#   map_hash_bucket_size 256;
#   map $request_uri $quire_path { "~^[^?%]*([?].*)?$" $quire_merged; "~^/*(?<quire_p>/[^?]*?)/*([?].*)?$" $quire_p; }
#   map $uri $quire_merged { "~^(?<quire_m>/.*?)/*$" $quire_m; }
#   map $quire_path $quire_path_key { "~(?<!%)(?<!%.)[A-Z]" "!$quire_path"; default $quire_path; }
#   map $quire_path_key $quire_path_redirect { default $quire_slash; include OUT/redirects-path.nginx.map; }
#   map $request_uri $quire_slash { "~^/+[^/?\x5c][^?]*/([?].*)?$" "301 $quire_path$is_args$args"; }
#   map $quire_path?$args $quire_query_key { "~(?<!%)(?<!%.)[A-Z]" "!$quire_path?$args"; default $quire_path?$args; }
#   map $quire_query_key $quire_redirect { default $quire_path_redirect; include OUT/redirects-query.nginx.map; }
#   map "$quire_redirect $status" $quire_gone { volatile; "404 000" 1; }
# (the bucket size, for sources of up to 230 bytes: nginx's default, 64, holds 46 and refuses
# the configuration for a longer one; with thousands, map_hash_max_size 32768 for 20,000 too, or
# nginx -t warns "could not build optimal map_hash"), and in the server block:
#   if ($quire_redirect ~ "^301 (.+)") { return 301 $1; }
#   if ($quire_redirect ~ "^302 (.+)") { return 302 $1; }
#   if ($quire_redirect ~ "^308 (.+)") { return 308 $1; }
#   if ($quire_gone) { return 404; }
# ("404": to an entry not public; $quire_gone is read again, volatile, by the request of the
# 404 page, whose status is no longer 000 then: that request is not refused too)
]]
-- The files of exports before redirects-path.nginx.map, whose nginx configuration reads the new
-- files wrong (a "301 /x" to redirect to): removed, so that it fails at its next reload.
local OLD_NGINX_MAPS = { "redirects.nginx.map", "redirects-302.nginx.map" }

-- A query the server never looks a source up with (not a plain pair): the Location it answers
-- with it says whether the redirect keeps the request's query (one to an entry does).
local PROBE = "?quire-export"

-- _redirects (Netlify, Cloudflare Pages) and nginx map files, from the redirects table, written
-- line by line as the table is read (any number of redirects in bounded memory) to files in dir
-- (the run's own folder), which are then copied over those in out_dir whose bytes differ.
-- Returns the names of the files that changed (or would: dry_run leaves out_dir alone).
local function redirect_files(quire, out_dir, dir, dry_run)
  local db = quire._db
  local names = { "_redirects", "redirects-path.nginx.map", "redirects-query.nginx.map" }
  local files = {}
  for i, name in ipairs(names) do
    local f, err = io.open(dir .. "/" .. name, "wb")
    if not f then
      for _, g in ipairs(files) do g:close() end
      fail("cannot write %s: %s", dir .. "/" .. name, tostring(err))
    end
    files[i] = f
  end
  local netlify, by_path, by_query = files[1], files[2], files[3]
  by_path:write(NGINX_HEAD)
  by_query:write(NGINX_HEAD)
  local function nq(s) return '"' .. s:gsub('[\\"]', "\\%0") .. '"' end
  -- A source's map key. nginx lowercases a string key and the address it looks up (any case
  -- matches), quire serve compares them exactly: a path with a capital letter (but in a %XX,
  -- which the server reads in either case) is "!" and the path in $quire_path_key, and a path
  -- and query with one (in either) "!" and both in $quire_query_key (no exact key starts so),
  -- and a source with one a regular expression on that, case-sensitive, tried after
  -- the exact keys and before the lists' rules. Else /About to /about looped in nginx, /ABOUT
  -- took /about's redirect, and /About and /about were one key twice (nginx -t failed).
  -- A source longer than NGINX_KEY_MAX, which no bucket of map_hash_bucket_size 256 holds (nginx
  -- would refuse the whole configuration), is a regular expression too (rare: tried in turn).
  local function nkey(source)
    local capital = source:gsub("%%%x%x", ""):find("%u")
    if not capital and #source <= NGINX_KEY_MAX then return nq(source) end
    local re = source:gsub("%%(%x%x)", function(h) return "\0" .. h end)
      :gsub("[^%w/_%-~\0]", function(c) return ("\\x%02X"):format(c:byte()) end)
      :gsub("\0(%x)(%x)", function(a, b)
        local function any(d) return d:find("%a") and ("[%s%s]"):format(d:upper(), d:lower()) or d end
        return "%" .. any(a) .. any(b)
      end)
    return nq((capital and "~^!" or "~^") .. re .. "$")
  end
  -- A map's value: the status and target (nginx reads "$name" in it as a variable, an unknown one
  -- failing the whole configuration, and has no escape for "$"; %24 is the same URL to a
  -- browser), and the request's query when the server keeps it.
  local function nv(status, to, keep_query)
    return nq(("%d %s%s"):format(status, to:gsub("%$", "%%24"), keep_query and "$is_args$args" or ""))
  end
  local rules = list_rules(quire)
  -- The lists' first pages at one address (/page/1) that a redirect of the site's own answers:
  -- theirs is the one rule there in _redirects.
  local answered = {}
  local ok, err = pcall(function()
    local unfiled = 0
    each_by_id(db, "SELECT id, from_path FROM redirects WHERE id > ? ORDER BY id LIMIT ?", function(r)
      local path, qs = r.from_path:match("^([^?]*)%??(.*)$")
      local res = quire.app.request("GET", r.from_path .. (qs == "" and PROBE or ""))
      local to, keep_query = res.headers.location, nil
      if to and qs == "" then
        keep_query = to:sub(-#PROBE) == PROBE
        if keep_query then to = to:sub(1, -#PROBE - 1) end
      end
      -- A source that gets no page in the folder (M.file_of, M.taken) is named, once a run
      -- (the first 20 of them).
      local why = qs == "" and not FIXED_SET[path] and select(2, M.file_of(path))
      if qs == "" and not why then why = select(2, M.taken(path)) end
      if why then
        unfiled = unfiled + 1
        if unfiled <= 20 then
          io.stderr:write(("quire: export: the redirect from %s gets no page in the folder (%s)%s\n"):format(r.from_path, why,
            to and "; _redirects and the nginx maps have it" or ""))
        end
      end
      -- Every redirect is a rule, and so is a 404 (to an entry not public) where something else
      -- would answer: a list's rule (a tag's page/1, the front page's older/...), the file at a
      -- query source's path, a file the export writes. Any other 404 is left out: it is what the
      -- host answers anyway, and its rule would publish, in files the host may serve, the old
      -- address of an entry not public (an embargoed story's slug). In _redirects a rule comes
      -- before the lists' (the first that matches is taken); in nginx an exact key comes first.
      local redirect = to and (res.status == 301 or res.status == 302 or res.status == 308)
      local gone = res.status == 404 and (qs ~= "" or path:find("/page/%d+$") or path:find("/older/%d+%-%d+$")
        or path:find("/newer/%d+%-%d+$") or M.taken(path))
      if redirect or gone then
        answered[r.from_path] = true
        local target, status = redirect and to or "/404.html", res.status
        if qs ~= "" then
          local k, v = qs:match("^([^=]+)=(.*)$")
          netlify:write(("%s %s=%s %s %d\n"):format(path, k, v, target, status))
        else
          netlify:write(("%s %s %d\n"):format(path, target, status))
        end
        -- (not in the maps, which nginx reads before the files, for a file the export writes itself)
        if not (M.taken(path) == "file" or SELF_FILES[M.file_of(path) or ""]) then
          (qs == "" and by_path or by_query):write(("%s %s;\n"):format(nkey(r.from_path), redirect and nv(status, to, keep_query) or '"404"'))
        end
      end
    end)
    if unfiled > 20 then io.stderr:write(("quire: export: and %d more redirects get no page\n"):format(unfiled - 20)) end
    -- The sitemap index's parts as the server names them, to the files they became; not those a
    -- redirect of the site's own answers (its rule is above: two rules for one address).
    local index_moved = db:value("SELECT 1 FROM redirects WHERE from_path = '/sitemap.xml'")
    for _, n in ipairs(quire.content.published_blocks()) do
      local source = ("/sitemap.xml?part=%d"):format(n + 1)
      if not (index_moved or db:value("SELECT 1 FROM redirects WHERE from_path = ?", source)) then
        netlify:write(("/sitemap.xml part=%d /sitemap-%d.xml 301\n"):format(n + 1, n + 1))
        by_query:write(('"%s" "301 /sitemap-%d.xml";\n'):format(source, n + 1))
      end
    end
    -- A list's newer/ and page/N addresses (an older export's Newer links, bookmarks): the
    -- server answers them with the page that shows those entries now, which a static host
    -- cannot pick, so they go to the list's first page rather than to a 404.
    for _, rule in ipairs(rules) do
      if not answered[rule.source] then netlify:write(rule.netlify) end
      by_path:write(('"~%s" "%d %s";\n'):format(rule.re, rule.status, rule.value))
    end
  end)
  local closed = true
  for _, f in ipairs(files) do closed = f:close() and closed end
  local changed = {}
  for _, name in ipairs(names) do
    local made = dir .. "/" .. name
    if ok and closed and not same_there(made, out_dir, name) then
      changed[#changed + 1] = name
      if not dry_run then
        local copied, cerr, link = core.copy_file(made, out_dir, name, tmp_prefix())
        if not copied then ok, err = pcall(cannot, out_dir, name, cerr, link) end
      end
    end
  end
  if not ok then error(err, 0) end
  if not closed then fail("cannot write the redirect files in %s", dir) end
  return changed
end

-- The symbolic link in the way of a file a stopped run was writing (its row has no hash:
-- merge_interrupted): a folder on its way below root that is a link (see cannot); or nil.
local function link_in_way(man, root)
  for _, r in ipairs(man:rows("SELECT file FROM files WHERE hash = '' LIMIT 100")) do
    local rel
    for part in (r.file:match("^(.*)/") or ""):gmatch("[^/]+") do
      rel = rel and rel .. "/" .. part or part
      local kind = core.stat_at(root, rel)
      if kind == "link" then return root .. "/" .. rel end
      if kind ~= "dir" then break end
    end
  end
end

-- A new, empty folder for a run's own files (the workers' results, the redirect files):
-- beside the manifest, named after it and this process, and removed at the end of the run. A run
-- that was killed (Ctrl-C on --watch) leaves its folder: those of processes no longer running
-- are removed here, before this one is made, once what they wrote is in the manifest man
-- (merge_interrupted). A dry run's folder is named .dry-PID, and it removes only those (a run
-- that writes removes them too): a killed run's is left to the run that writes, which records
-- what it wrote. The dry run reads
-- them into a copy of the manifest instead (in its own folder, which its workers are given): it
-- then decides from the manifest the next run will have, the files the killed run finished
-- being those that need no writing again, and the one it was writing one that does.
-- -> the folder, whether a killed run's was found, and the copy's path (nil: none made).
local function work_folder(mpath, man, dry, unsaved)
  local dir, name = mpath:match("^(.*)/([^/]+)$")
  local me, killed = core.getpid(), {}
  -- (this PID's too: a container's coordinator has the same one each time)
  local function gone(kind, n)
    local p = n:sub(1, #kind) == kind and math.tointeger(tonumber(n:sub(#kind + 1)))
    return p and (p == me or not core.running(p))
  end
  for _, n in ipairs(core.listdir(dir) or {}) do
    if gone(name .. ".run-", n) then killed[#killed + 1] = dir .. "/" .. n
    -- (a stopped dry run's, which holds a copy of the manifest or of the site's database: by any
    -- run, none needs it; a dry run's into another folder too, else a dry run stopped with Ctrl-C
    -- left its copy of the database, users' password hashes and all, until one into that folder)
    elseif gone(n:match("^export%-%x+%.db%.dry%-") or name .. ".dry-", n) then core.remove_tree(dir .. "/" .. n) end
  end
  local path = ("%s/%s%s%d"):format(dir, name, dry and ".dry-" or ".run-", me)
  local ok, err = core.mkdir(path, 448) -- (0700)
  if not ok then fail("cannot make the folder %s: %s", path, tostring(err)) end
  local copy
  if dry and (#killed > 0 or unsaved) then
    copy = path .. "/manifest.db"
    man:exec("VACUUM INTO ?", copy)
    local into <close> = open_manifest(copy)
    for _, k in ipairs(killed) do merge_interrupted(into, k) end
  elseif not dry then
    for _, k in ipairs(killed) do
      merge_interrupted(man, k)
      core.remove_tree(k)
    end
  end
  return path, #killed > 0, copy
end

-- A dry run's site when the clock has changed it (run_once): a copy of the site's database, made
-- in the run's folder dir, where the dry run publishes what is due as a run would and which it
-- then reads, its workers too (--database). VACUUM INTO reads one snapshot and takes no write
-- lock: editors' saves go on while the dry run renders, and the site's own database is not
-- written. The copy goes with dir (also a stopped run's: work_folder).
-- -> the copy opened as a site, or nil: nothing due, or no copy (on PostgreSQL; a full disk),
-- said on stdout with what is due, whose pages are then not counted.
local function copy_of_site(quire, dir)
  local db = quire._db
  local now = require("quire.time").now()
  local entries = db:value("SELECT count(*) FROM entries WHERE status = 'scheduled' AND published_at <= ?", now)
    + db:value("SELECT count(*) FROM staged_edits WHERE publish_at <= ?", now)
  local fronts = quire.front.due(true)
  if entries + fronts == 0 then return nil end
  local due = ("%d scheduled entries or versions and refresh %d fronts whose time has come"):format(entries, fronts)
  if db.kind then
    print(("would first publish %s (the pages that changes are not counted below: on PostgreSQL a dry run makes no copy"
      .. " of the database to publish them in)"):format(due))
    return nil
  end
  local path = dir .. "/site.db"
  local mb = db:value("SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(),"
    .. " pragma_page_size()") / 1048576
  local site, ok, err
  ok, err = pcall(db.exec, db, "VACUUM INTO ?", path)
  if ok then
    site, err = require("quire").open(quire.site.config.dir, { memory_cap = false, base_url = quire.site.base_url,
      static_export = true, database = path })
  end
  if not site then
    os.remove(path) -- (a part made before the disk filled)
    err = tostring(err)
    -- (SQLITE_FULL says "full"; a file size limit or another failure has its own message)
    local hint = err:find("full", 1, true) and ("free %.1f MB there"):format(mb) or "fix that"
    print(("would first publish %s (the pages that changes are not counted below: could not copy the site's database"
      .. " (%.1f MB) into %s to publish them in: %s; %s to have them counted)"):format(due, mb, dir, err, hint))
    return nil
  end
  print(("would first publish %s: published in a copy of the site's database (%.1f MB, made in %s and removed at the end),"
    .. " whose pages are counted below"):format(due, mb, dir))
  return site
end

-- One export run. Returns a summary table.
local function run_once(quire, out_dir, o)
  local t0 = core.clock()
  local base_url = o.base_url
  local mpath = manifest_path(quire, out_dir)
  -- (a dry run into a folder never exported leaves no manifest in the site: it starts from an
  -- empty one in memory, copied into its own folder for its workers)
  local existed = core.stat(mpath)
  local unsaved = o.dry_run and not existed
  local opened <close> = open_manifest(unsaved and ":memory:" or mpath)
  local man = opened
  upgrade_manifest(man)
  local function meta(k) return man:value("SELECT value FROM meta WHERE key = ?", k) end
  local tmp, killed, copy = work_folder(mpath, man, o.dry_run, unsaved)
  -- An empty folder (new, or emptied since): whatever the manifest says was there is not; a
  -- full export, with nothing to compare against. Hidden entries do not count: `rm -rf out/*`
  -- leaves them (a killed run's temporary file, a .well-known folder copied from public/).
  local fresh, theirs = true, {}
  for _, n in ipairs(core.listdir(out_dir) or {}) do
    if n:byte(1) ~= 46 then fresh = false; theirs[#theirs + 1] = n end -- (".")
  end
  -- A folder that holds files but none this site's exports wrote (the manifest names none, nor a
  -- killed run's records, which a dry run reads into its copy only): the user's own, which the
  -- export would write over (index.html) or remove. Refused, before any.
  if not fresh and not killed and not man:value("SELECT 1 FROM files LIMIT 1") then
    core.remove_tree(tmp)
    -- (a dry run beside a first export into the folder, whose files are not recorded yet: it
    -- says so, when that export holds the lock; looked at only when the lock file is there, a
    -- dry run making none)
    if o.dry_run and core.stat(mpath .. ".lock") == "file" then
      local probe, why, holder = core.lock(mpath .. ".lock")
      if probe then probe:close() end
      if why == "held" then
        fail("an export into %s is running%s and has not recorded its files yet: run the dry run again when it has ended",
          out_dir, holder:match("^%d+$") and (" (process %s)"):format(holder) or "")
      end
    end
    -- (nor the manifest just made for it, and its lock: main's, held till the process ends; a dry
    -- run made neither, and a first export beside it may have made both since it looked)
    if not existed and not o.dry_run then
      opened:close()
      for _, suffix in ipairs({ "", "-wal", "-shm", ".lock" }) do os.remove(mpath .. suffix) end
    end
    table.sort(theirs)
    fail("%s holds files no export of this site wrote (%s%s): export into a new or empty folder (if an earlier export wrote"
      .. " them, its record in the site's .quire/ is gone: empty the folder, and the export writes it all again)",
      out_dir, table.concat(theirs, ", ", 1, math.min(#theirs, 3)), #theirs > 3 and ", …" or "")
  end
  -- What the clock changed first, as the server's ticks and `quire jobs run` do (each in its
  -- write transaction), before the tags are read: scheduled entries and staged versions whose
  -- time came published, the fronts whose slots or banner started or ended since the last look
  -- bumped (quire.front.due). Else a page whose change came by the clock alone was never
  -- rendered again (a banner that had ended stayed on every page). A dry run does it in a copy
  -- of the site's database, which it reads from then on.
  local site_copy = o.dry_run and copy_of_site(quire, tmp) or nil
  local closing <close> = site_copy and site_copy._db
  quire = site_copy or quire
  if site_copy or not o.dry_run then
    local n = require("quire.jobs").publish_scheduled(quire)
    if n > 0 and not o.dry_run then print(("published %d scheduled entr%s whose time had come"):format(n, n == 1 and "y" or "ies")) end
  end
  local db = quire._db
  -- Taken before the workers start: a commit during the export is seen by the next one.
  local version = db:value("SELECT coalesce(max(version), 0) FROM cache_tags")
  local signature = code_signature(quire, base_url, o.compress)
  local since = meta("signature") == signature and math.tointeger(tonumber(meta("version") or "")) or nil
  if fresh then since = nil end
  -- Every page rendered again: the tag index made anew as their rows are written (whatever wrote
  -- the rows before: an older quire keeps no index). The version goes first, with them: a run
  -- that fails or is killed after this leaves a manifest that vouches for nothing, and the next
  -- run is a full one too (kept, it would take a half-written folder for an unchanged site).
  if not since and not o.dry_run then
    man:begin()
    man:exec("DELETE FROM meta WHERE key = 'version'")
    if fresh then man:exec("DELETE FROM files") end
    man:exec("UPDATE files SET tid = NULL WHERE tid IS NOT NULL")
    man:exec("INSERT INTO file_tags (file_tags) VALUES ('delete-all')")
    man:commit()
  end
  -- Targeted: only tags that add or remove no address, or whose addresses are found from what
  -- changed (scoped_tag), were bumped since (quick: none at all). (A change to redirects needs
  -- the manifest's copy of them.)
  local targeted, quick, changed = false, false, {}
  if since then
    local rows = db:rows("SELECT tag FROM cache_tags WHERE version > ? ORDER BY version LIMIT ?", since, TARGETED_MAX + 1)
    targeted = #rows <= TARGETED_MAX
    local copy = meta("redirect_rows") == "1"
    for _, r in ipairs(rows) do
      if not (address_stable(r.tag) or scoped_tag(r.tag)) or (r.tag == "redirects" and not copy) then targeted = false break end
      changed[r.tag] = true
    end
    quick = #rows == 0
  end
  local redirects_changed = not targeted or changed.redirects
  local scope = targeted and scope_of(changed) -- (changed without "redirects", which every page carries)
  -- For the progress line: the last run's count, else a guess from the store: each entry's
  -- page, each term's page and feeds, and the lists' older pages (ten entries a page, each entry
  -- on its section's and tags' lists, its author's and the latest).
  local expected = man:value("SELECT count(*) FROM files")
  if expected == 0 then
    local entries = db:value("SELECT count(*) FROM entries WHERE status = 'published'")
    expected = entries + db:value("SELECT count(*) FROM terms WHERE listed > 0") * 4
      + (db:value("SELECT count(*) FROM entry_terms WHERE listed_at IS NOT NULL") + 2 * entries) // 10
  end

  -- A targeted run with few pages to render, or with one job whatever their number, is done here,
  -- in this process: starting workers (each loading Lua, the plugins and the site's settings, and
  -- warming its caches) would cost more than the pages, and one worker does only what this
  -- process would.
  -- (Not when the code or static files changed since this process loaded them, as with --watch:
  -- its plugins keep the templates and fingerprinted names they read then; workers load anew.)
  local jobs = o.jobs
  M.loaded_signature = M.loaded_signature or signature
  if M.loaded_signature ~= signature then
    jobs = math.max(jobs, 1)
  elseif targeted and jobs == 1 then
    jobs = 0
  elseif targeted then
    local query = M.tags_match(changed)
    local n = man:value("SELECT count(*) FROM (SELECT 1 FROM files WHERE tags = '' AND hash NOT LIKE 'src %' LIMIT ?)", INLINE_MAX + 1)
    if query and n <= INLINE_MAX then
      n = n + man:value("SELECT count(*) FROM (SELECT 1 FROM file_tags WHERE file_tags MATCH ? LIMIT ?)", query, INLINE_MAX + 1)
    end
    if n <= INLINE_MAX then jobs = 0 end
  end
  local copied <close> = copy and open_manifest(copy)
  if copied then man, mpath = copied, copy end
  -- (after a killed run, what its processes were writing; failed workers' below. And once a
  -- manifest, the first run after the upgrade: the NAME.tmp-PID files an older quire's killed
  -- runs left, which its later runs did not remove; not at every run, which would take a file of
  -- the user's so named each time.) Counted with the removals; a dry run counts what would go.
  -- (Only where the manifest names files an older quire wrote: in a folder new to it, or emptied,
  -- files so named are the user's own.)
  local old = not meta("old_tmp_swept") and OLD_TMP or nil
  local legacy = not fresh and old
  local swept = {}
  if killed or legacy then
    local n, names = core.remove_stale(out_dir, TMP_PREFIX, legacy, o.dry_run)
    swept = n and names or {} -- (a dry run into a folder not made yet: none)
  end
  if old and not o.dry_run then
    man:exec("INSERT INTO meta (key, value) VALUES ('old_tmp_swept', '1') ON CONFLICT (key) DO UPDATE SET value = '1'")
  end
  local failed = {}
  local _, check_to = check_slice(man) -- (the next targeted run looks for missing files from there)
  -- The progress line on a terminal (progress: worker -> addresses done).
  local progress, tty, last_print = {}, core.isatty(2), 0
  local function show(w, n, workers)
    progress[w] = n
    local total = 0
    for _, v in pairs(progress) do total = total + v end
    if tty and core.clock() - last_print > 0.2 then
      io.stderr:write(("\rexport: %d of about %d addresses (%d%%), %s, %.1f s "):format(total, math.max(total, expected),
        total * 100 // math.max(total, expected, 1), workers > 0 and workers .. " workers" or "in this process", core.clock() - t0))
      last_print = core.clock()
    end
  end
  if jobs == 0 then
    jobs = 1
    local wok, werr = pcall(M.worker, quire, out_dir, { index = 0, count = 1, manifest = mpath, results = tmp .. "/w0", since = since,
      dry_run = o.dry_run, targeted = true, compress = select(2, M.compress_of(o.compress)), fresh = false,
      verbose = o.verbose, inline = function(n) show(0, n, 0) end })
    if tty and last_print > 0 then io.stderr:write("\n") end
    if not wok then
      if db:reading() then db:end_read() end
      io.stderr:write("quire: export: ", tostring(werr), "\n")
      failed[1] = "0"
    end
  else
    local exe = own_binary()
    local argvs = {}
    -- (a full walk: the lists split among the workers; a targeted run hashes what it finds)
    local plan = not targeted and jobs > 1 and tmp .. "/plan"
    if plan then plan_lists(quire, jobs, plan) end
    for i = 0, jobs - 1 do
      local argv = { exe, "export", "--format", "html", "--site", quire.site.config.dir, "--worker", ("%d/%d"):format(i, jobs),
        "--manifest", mpath, "--results", tmp .. "/w" .. i, "--base-url", base_url, "--compress", o.compress }
      if site_copy then argv[#argv + 1] = "--database"; argv[#argv + 1] = site_copy.site.config.database_path end
      if since then argv[#argv + 1] = "--since"; argv[#argv + 1] = tostring(since) end
      if o.dry_run then argv[#argv + 1] = "--dry-run" end
      if o.verbose then argv[#argv + 1] = "--verbose" end
      if targeted then argv[#argv + 1] = "--targeted" end
      if fresh then argv[#argv + 1] = "--fresh" end
      if plan then argv[#argv + 1] = "--plan"; argv[#argv + 1] = plan end
      argv[#argv + 1] = out_dir
      argvs[i + 1] = argv
    end
    -- The workers are this process's children, killed by the kernel as soon as it ends (a
    -- killed coordinator's workers went on until their next progress line, racing the next run),
    -- their output lines read from one pipe.
    local pipe, pids = core.spawn(argvs)
    if not pipe then core.remove_tree(tmp) fail("cannot start the export workers: %s", pids) end
    -- (an error here closes the pipe first: the workers end at their next progress line, and
    -- are waited for before it goes on, so none writes on into the next run of a --watch)
    local rok, rerr = pcall(function()
      for line in pipe:lines() do
        local w, n = line:match("^P (%d+) (%d+)$")
        if w then show(tonumber(w), tonumber(n), jobs) else io.stderr:write(line, "\n") end
      end
    end)
    pipe:close()
    for i, pid in ipairs(pids) do
      local status = core.wait(pid)
      if status ~= 0 then
        failed[#failed + 1] = ("%d (%s)"):format(i - 1, status == 127 and "could not be started"
          or status and status > 128 and ("killed by signal %d"):format(status - 128) or ("exit status %s"):format(tostring(status)))
      end
    end
    if not rok then error(rerr, 0) end
    if tty then io.stderr:write("\n") end
  end
  -- (a failed run, in workers or here, records no new version: its pages are found again next time)
  if #failed > 0 then
    merge_interrupted(man, tmp)
    core.remove_tree(tmp)
    if not o.dry_run then core.remove_stale(out_dir, TMP_PREFIX) end
    -- A run stopped by a symbolic link in the folder (see cannot): once the link is removed, the
    -- pages it held are missing, which only a run that looks for every page's file finds: the
    -- next run is a full one.
    local link = not o.dry_run and link_in_way(man, out_dir)
    if link then man:exec("DELETE FROM meta WHERE key = 'version'") end
    fail("export worker(s) %s failed (see the messages above); the folder may be half updated: %s", table.concat(failed, ", "),
      link and ("remove the symbolic link %s and run the export again"):format(link) or "run the export again")
  end
  -- The files on disk before the manifest says they are there: one sync of the file system
  -- (a crash before it leaves pages the manifest does not vouch for, written again next time).
  if not o.dry_run then
    local synced, serr = core.syncfs(out_dir)
    if not synced then core.remove_tree(tmp) fail("cannot sync %s to disk: %s", out_dir, tostring(serr)) end
  end

  -- Merge the workers' results into the manifest; remove the files of pages that are gone.
  local sum = { written = 0, kept = 0, same = 0, left_out = 0, removed = #swept, swept = #swept, errors = {} }
  local changes = {}
  local function note(s) if o.dry_run or o.verbose then changes[#changes + 1] = s end end
  for _, f in ipairs(swept) do note("remove " .. f) end
  man:begin()
  local ok, err = pcall(function()
    -- (temporary tables of this connection, which ends with the run)
    man:exec("CREATE TEMP TABLE seen (path TEXT PRIMARY KEY) WITHOUT ROWID")
    man:exec("CREATE TEMP TABLE gone (path TEXT PRIMARY KEY) WITHOUT ROWID")
    local next_tid = { n = man:value("SELECT coalesce(max(tid), 0) FROM files") }
    for i = 0, jobs - 1 do
      for line in io.lines(tmp .. "/w" .. i) do
        local k, path, a, b, c, d = line:match(RESULT_LINE)
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
          if not o.dry_run then put_row(man, next_tid, path, a, b, c, d:match("^=(.*)$")) end
        elseif k == "C" then
          sum.written = sum.written + 1
          note("write " .. a)
        elseif k == "R" then
          sum.removed = sum.removed + 1
          note("remove " .. a)
        elseif k == "X" or k == "G" then
          if k == "X" then sum.left_out = sum.left_out + 1 end
          man:exec("INSERT OR IGNORE INTO temp.gone (path) VALUES (?)", path)
        elseif k == "E" then
          if #sum.errors < 20 then sum.errors[#sum.errors + 1] = path .. ": " .. a end
          -- A page that failed keeps its old file and row; it is rendered again next time, as
          -- every row with no tags is. One never written gets such a row too (NEVER_WRITTEN), or
          -- the next run, rendering only what changed since this one, would never try it again
          -- and report all well with the page missing.
          man:exec("INSERT OR IGNORE INTO temp.seen (path) VALUES (?)", path)
          local row = not o.dry_run and man:row("SELECT file, hash FROM files WHERE path = ?", path)
          local file = not o.dry_run and not row and M.file_of(path)
          if row then put_row(man, next_tid, path, row.file, row.hash, "")
          elseif file then put_row(man, next_tid, path, file, NEVER_WRITTEN, "") end
        end
      end
    end
    -- (a targeted run saw every static file, whose hash names its source, and only some of the
    -- pages: of those, the ones that answered 404 go)
    local GONE = targeted and {
      "SELECT f.path, f.file, f.hash FROM files f WHERE f.path > ? AND f.hash LIKE 'src %'"
        .. " AND NOT EXISTS (SELECT 1 FROM temp.seen s WHERE s.path = f.path) ORDER BY f.path LIMIT ?",
      "SELECT f.path, f.file, f.hash FROM temp.gone g JOIN files f ON f.path = g.path WHERE g.path > ?"
        .. " AND NOT EXISTS (SELECT 1 FROM temp.seen s WHERE s.path = g.path) ORDER BY g.path LIMIT ?",
    } or { "SELECT f.path, f.file, f.hash FROM files f WHERE f.path > ?"
      .. " AND NOT EXISTS (SELECT 1 FROM temp.seen s WHERE s.path = f.path) ORDER BY f.path LIMIT ?" }
    for _, sql in ipairs(GONE) do
      local last = ""
      repeat
        local rows = man:rows(sql, last, BATCH)
        for _, r in ipairs(rows) do
          last = r.path
          -- A row of an address whose file is another's or that has none, from before M.taken and
          -- M.file_of knew it (a static file's address is its name, never taken): the row goes,
          -- and its file only when no other row names it and it is not the export's own. The
          -- other row's page is written again (its file may hold this address's page).
          local taken = r.hash:sub(1, 4) ~= "src " and M.taken(r.path)
          local odd = taken or M.file_of(r.path) ~= r.file
          local other = odd and man:value("SELECT path FROM files WHERE file = ? AND path <> ? LIMIT 1", r.file, r.path)
          -- (a file at a page's path that never rendered is not the export's: left where it is)
          local removes = not (other or taken or r.hash == NEVER_WRITTEN)
          -- Counted when there is something to remove (not a file removed by hand, nor a file kept).
          local there = removes and in_folder(out_dir, r.file)
          if there then
            sum.removed = sum.removed + 1
            note("remove " .. there)
          end
          if not o.dry_run then
            if other then put_row(man, next_tid, other, r.file, "", "") end
            if removes then
              core.remove_at(out_dir, r.file)
              for _, sibling in ipairs(SIBLINGS) do core.remove_at(out_dir, r.file .. sibling) end
            end
            if not odd then
              -- Folders left empty go too (removing one that is not fails).
              local d = r.file:match("^(.*)/[^/]*$")
              while d and d ~= "" and core.remove_at(out_dir, d, true) do d = d:match("^(.*)/[^/]*$") end
            end
            drop_row(man, r.path)
          end
        end
      until #rows < BATCH
    end
    -- The manifest's copy of the redirects, when they changed (or might have).
    if not o.dry_run and (redirects_changed or meta("redirect_rows") ~= "1") then
      man:exec("DELETE FROM redirect_rows")
      each_by_id(db, "SELECT id, from_path, to_path, to_entry, status FROM redirects WHERE id > ? ORDER BY id LIMIT ?", function(r)
        if copied_source(r.from_path) then
          man:exec("INSERT OR REPLACE INTO redirect_rows (path, sig) VALUES (?, ?)", r.from_path, redirect_sig(r))
        end
      end)
      man:exec("INSERT INTO meta (key, value) VALUES ('redirect_rows', '1') ON CONFLICT (key) DO UPDATE SET value = '1'")
    end
    if not o.dry_run then
      man:exec("INSERT INTO meta (key, value) VALUES ('version', ?), ('signature', ?), ('base_url', ?)"
        .. " ON CONFLICT (key) DO UPDATE SET value = excluded.value", tostring(version), signature, base_url)
      if targeted then
        man:exec("INSERT INTO meta (key, value) VALUES ('check_from', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", check_to)
      end
    end
  end)
  if ok then man:commit() else man:rollback() end
  if not ok then core.remove_tree(tmp) error(err, 0) end

  -- Whole-site files written by the coordinator (compared byte for byte, not in the manifest):
  -- unchanged when no redirect and no list changed (targeted, no scope: an entry's address, which
  -- a redirect to it names, and the sitemap's parts stay). Made in the run's folder first.
  if not targeted or scope or core.stat_at(out_dir, "_redirects") ~= "file" or core.stat_at(out_dir, "redirects-path.nginx.map") ~= "file" then
    local rok, changed = pcall(redirect_files, quire, out_dir, tmp, o.dry_run)
    if not rok then core.remove_tree(tmp) error(changed, 0) end
    for _, file in ipairs(changed) do sum.written = sum.written + 1; note("write " .. file) end
    for _, file in ipairs(OLD_NGINX_MAPS) do
      if core.stat_at(out_dir, file) then
        if not o.dry_run then core.remove_at(out_dir, file) end
        sum.removed = sum.removed + 1
        note("remove " .. file)
        -- (said whatever the options: the nginx configuration that read it must change by hand)
        io.stderr:write(("quire: export: %s %s/%s, an older export's nginx map: nginx now reads the redirects"
          .. " through redirects-path.nginx.map and redirects-query.nginx.map, configured as their first lines say;"
          .. " change nginx's configuration before it reloads or restarts (it will not start with the old one)\n"):format(
          o.dry_run and "would remove" or "removed", out_dir, file))
      end
    end
  end
  core.remove_tree(tmp)
  sum.seconds = core.clock() - t0
  sum.changes = changes
  sum.full = since == nil
  sum.quick = quick
  sum.targeted = targeted and not quick
  sum.version = version
  return sum
end

local function report(sum, o)
  table.sort(sum.changes)
  for _, c in ipairs(sum.changes) do print((o.dry_run and "would " or "") .. c) end
  local removed = {}
  if o.dry_run then removed[#removed + 1] = "would be" end
  if sum.swept > 0 then
    removed[#removed + 1] = ("%d a stopped run's temporary file%s"):format(sum.swept, sum.swept == 1 and "" or "s")
  end
  print(("%s: %d files %s, %d unchanged (%d rendered again, same bytes), %d removed%s, %d addresses answered 404 (left out), in %.2f s%s")
    :format(o.dry_run and "dry run" or "exported", sum.written, o.dry_run and "to write" or "written", sum.kept + sum.same, sum.same,
      sum.removed, #removed > 0 and (" (" .. table.concat(removed, "; ") .. ")") or "", sum.left_out, sum.seconds,
      sum.full and " (full export)" or sum.quick and " (no content changed)"
        or sum.targeted and " (pages found by their cache tags)" or ""))
  for _, e in ipairs(sum.errors) do io.stderr:write("quire: export failed for ", e, "\n") end
  io.stdout:flush()
  return #sum.errors > 0 and 1 or 0
end

-- After a run, the old copies of the plugins' static files that nothing has named for
-- static_retention go, as at a server's start (quire.assets): a site only exported, never
-- served, does not keep every copy either. (The run left out those that go: M.each_file.)
local function prune_copies(quire, o)
  if o.dry_run then return end
  local removed = quire._assets.pass()
  if removed > 0 then quire._assets.log(removed) end
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

-- When the clock next changes what the site shows by itself, as text ("" none): a scheduled
-- entry's or staged version's publishing, a front slot's or banner's start or end (what
-- run_once brings up to date first). --watch exports again then, with no commit to wake it.
local function next_due(db)
  local now, first = require("quire.time").now(), nil
  for _, sql in ipairs({
    "SELECT min(published_at) FROM entries WHERE status = 'scheduled' AND published_at > ?",
    "SELECT min(publish_at) FROM staged_edits WHERE publish_at > ?",
    "SELECT min(starts_at) FROM front_slots WHERE starts_at > ?",
    "SELECT min(ends_at) FROM front_slots WHERE ends_at > ?",
    "SELECT min(starts_at) FROM front_breaking WHERE starts_at > ?",
    "SELECT min(ends_at) FROM front_breaking WHERE ends_at > ?",
  }) do
    local t = db:value(sql, now)
    if t and (not first or t < first) then first = t end
  end
  return first or ""
end
M.next_due = next_due

-- The command: opts from the CLI (base-url, dry-run, watch, jobs, verbose; worker/manifest/
-- results/since for the workers the coordinator starts).
function M.main(quire, out_dir, opts)
  if type(out_dir) ~= "string" or out_dir == "" then fail("export --format html takes the output folder") end
  out_dir = out_dir:gsub("/+$", "")
  if out_dir == "" then out_dir = "/" end
  -- Not into the folders it copies from (the copy would copy itself) or keeps its manifests in,
  -- nor over the site, nor into a folder holding the site, its database or its media library's
  -- originals (a sync of it would publish them; its removals could reach them): the database
  -- and the media folder may be set outside the site (site.lua database, media_dir).
  local function real(path) -- (of a path that may not be there yet: its folder's, and its name)
    local parent, base = path:match("^(.*)/([^/]+)$")
    return core.realpath(path) or ((core.realpath(parent == "" and "/" or parent or ".") or "?") .. "/" .. (base or path))
  end
  local function within(path, dir) return path == dir or dir == "/" or path:sub(1, #dir + 1) == dir .. "/" end
  local cfg = quire.site.config
  local real_out, site_dir, media_dir = real(out_dir), core.realpath(cfg.dir), real(require("quire.media").dir(cfg))
  if site_dir then
    if real_out == site_dir then fail("%s is the site's folder: choose a folder outside it", out_dir) end
    for _, d in ipairs({ site_dir .. "/public", media_dir, site_dir .. "/.quire" }) do
      if within(real_out, d) then
        fail("%s is %s or inside it, which the export copies from or keeps its records in: choose a folder outside it", out_dir, d)
      end
    end
    if within(site_dir, real_out) then
      fail("%s holds the site's folder %s (a copy of the folder would publish its database): choose a folder outside it", out_dir, site_dir)
    end
  end
  if cfg.database_path and within(real(cfg.database_path), real_out) then
    fail("%s holds the site's database %s (a copy of the folder would publish it): choose a folder outside it", out_dir, cfg.database_path)
  end
  if within(media_dir, real_out) then
    fail("%s holds the media library's folder %s, whose files the export would write over or remove: choose a folder outside it",
      out_dir, media_dir)
  end
  -- (refused before the folder is made; the site's from here on, in the workers too)
  local base_url = set_base_url(quire, opts["base-url"])
  local kind = core.stat(out_dir)
  if kind and kind ~= "dir" then fail("%s exists and is not a folder", out_dir) end
  if not kind and not opts["dry-run"] then
    local ok, err = core.mkdir(out_dir)
    -- (another export made it since: the lock below says which runs)
    if not ok and core.stat(out_dir) ~= "dir" then
      -- (a link to a folder not there: mkdir's own word, "File exists", named nothing to do)
      local parent, base = out_dir:match("^(.*)/([^/]+)$")
      if core.stat_at(parent and (parent == "" and "/" or parent) or ".", base or out_dir) == "link" then
        fail("%s is a symbolic link to a folder that is not there: make that folder, or give another", out_dir)
      end
      fail("cannot make %s: %s", out_dir, tostring(err))
    end
  end
  local compress, siblings = M.compress_of(opts.compress)
  if opts.worker then
    local i, n = opts.worker:match("^(%d+)/(%d+)$")
    i, n = tonumber(i), tonumber(n)
    if not i or n < 1 or i >= n or not opts.manifest or not opts.results then fail("bad --worker arguments") end
    return M.worker(quire, out_dir, { index = i, count = n, manifest = opts.manifest, results = opts.results,
      since = opts.since and math.tointeger(tonumber(opts.since)), dry_run = opts["dry-run"],
      targeted = opts.targeted, compress = siblings, fresh = opts.fresh, verbose = opts.verbose,
      plan = opts.plan })
  end
  -- (a value that is no whole number is refused, not taken for the default)
  local jobs = core.cpus()
  if opts.jobs then jobs = math.tointeger(tonumber(opts.jobs)) end
  if not jobs or jobs < 1 or jobs > JOBS_MAX then
    fail("--jobs takes a number of worker processes from 1 to %d (got %q)", JOBS_MAX, tostring(opts.jobs))
  end
  local o = { base_url = base_url, dry_run = opts["dry-run"], jobs = jobs, verbose = opts.verbose, compress = compress }
  if opts.watch and o.dry_run then fail("--watch and --dry-run do not go together") end
  -- One run that writes into a folder at a time, held to the end (of --watch too): two would
  -- write the same files and manifest rows, and the second of two first exports took the first's
  -- files for the user's own. A dry run writes neither and takes none.
  local function take_lock()
    local lock, err, holder = core.lock(manifest_path(quire, out_dir) .. ".lock")
    if lock then return lock end
    if err ~= "held" then
      fail("cannot lock the export manifest: %s: the export makes that file in the site's .quire/ folder and locks it"
        .. " (remove it if it is a link or a folder; the export's user must be able to write both)", tostring(err))
    end
    fail("another quire export into %s is running%s: wait for it to end, or stop it (a --watch exports every change"
      .. " by itself)", out_dir, holder:match("^%d+$") and (" (process %s)"):format(holder) or "")
  end
  local lock <close> = not o.dry_run and take_lock() or nil
  -- (--watch looks before each export: a commit made during it is seen after it. On PostgreSQL
  -- it listens before the first one; on SQLite data_version is read before each.)
  local db = quire._db
  local pg = db.kind ~= nil
  if opts.watch and pg then db:exec("LISTEN quire_data") end
  local seen = opts.watch and not pg and db:data_version()
  local sum = run_once(quire, out_dir, o)
  -- (exported: the version a run left nothing to do for; none after a page failed, which every
  -- run renders again until it renders: the next commit, whatever it bumped, makes a run)
  local status, exported = report(sum, o), #sum.errors == 0 and sum.version
  prune_copies(quire, o)
  if not opts.watch then return status end
  -- (and when the clock comes to the next scheduled change: looked up after each export, whose
  -- commits made any new one, at most once a tick)
  local due = next_due(db)
  -- --watch: another export after every commit, noticed as the page cache notices it: on
  -- SQLite PRAGMA data_version moving (looked at twice a second); on PostgreSQL the quire_data
  -- notification every writing commit sends (LISTEN; waited for on the socket). Ends with Ctrl-C.
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
    -- (A commit that bumped no cache tag changed no page: a sign-in's session, a comment held
    -- for moderation, this process's own bookkeeping. No run for it, which would find nothing,
    -- unless the last run failed or had a page fail.)
    if moved and exported and db:value("SELECT coalesce(max(version), 0) FROM cache_tags") == exported then moved = false end
    if not moved and due ~= "" and require("quire.time").now() >= due then moved = true end
    if moved then
      local ok, sum = pcall(run_once, quire, out_dir, o)
      exported = ok and #sum.errors == 0 and sum.version
      if ok then
        report(sum, o)
        prune_copies(quire, o)
      else
        io.stderr:write("quire: export: ", tostring(sum), "\n")
      end
      local dok, d = pcall(next_due, db)
      due = dok and d or ""
    end
  end
end

return M
