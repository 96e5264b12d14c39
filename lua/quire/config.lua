-- site.lua: plain Lua run in a small environment; assignments become the site's settings.
local core = require "quire.core"
local M = {}

M.defaults = {
  name = "Quire Site",
  -- Absolute links (canonical, og:url, feeds, sitemap, share links) start with base_url. Unset,
  -- `quire serve` uses the address it listens on; other commands this default.
  base_url = "http://localhost:8080",
  listen = { "127.0.0.1:8080" },
  workers = 0, -- 0: one worker per CPU core
  database = "quire.db",
  read_replicas = {}, -- hot standbys of a PostgreSQL database that anonymous page renders may read (core/replica.h)
  media_dir = "media", -- the media library's files, relative to the site; one shared folder for several nodes
  plugins = {},
  plugin_path = {}, -- extra folders searched for plugins before DIR/plugins and the bundled ones
  access_log = "-", -- combined format: "-" (stdout), "stderr", "off", or a file (relative to the site)
  log_health_checks = false, -- access-log lines for GET /healthz answered 200 (a probe's every few seconds)
  purgers = {}, -- edge caches that writes purge by tag (lua/quire/edge.lua)
  edge_tags = false, -- cacheable pages carry their cache tags as Surrogate-Key and Cache-Tag (for a CDN or Varnish)
  trusted_proxies = {}, -- reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed
  trash_retention = 30, -- days a deleted entry stays in the trash before the trash.empty job deletes it; 0: kept
  static_retention = 7, -- days a superseded fingerprinted static copy (quire.assets) is kept once no process names it; 0: kept
  -- tls = { listen = {...}, certificates = {...}, redirect_http = false, hsts = false }: off unless set
  limits = {
    title_max = 300,          -- characters
    slug_max = 200,           -- bytes
    body_max = 1024 * 1024,   -- bytes of Markdown
    fields_max = 256 * 1024,  -- bytes of JSON
    tags_max = 100,           -- terms per entry (WordPress posts may have dozens of categories)
    term_max = 100,           -- characters in a tag or section name
    comment_max = 10000,      -- bytes of a comment body
    request_body = 1024 * 1024,    -- bytes; larger is 413
    request_line = 8 * 1024,       -- bytes; longer is 414
    header = 8 * 1024,             -- bytes in one header field; larger is 431
    headers = 32 * 1024,           -- bytes in all headers; larger is 431
    header_count = 100,            -- header fields; more is 431
    header_timeout_ms = 10000,     -- to receive the request head; then 408
    request_timeout_ms = 60000,    -- to receive a whole request, body included; then 408
    connection_output = 256 * 1024, -- bytes of unsent responses before a client's next requests wait
    worker_output = 128 * 1024 * 1024, -- bytes of unsent responses per worker; past it, close
    keepalive_timeout_ms = 15000,  -- idle keep-alive connections are closed after this
    body_min_rate = 1024,          -- bytes per second a request body must keep up
    connections = 10000,           -- per worker
    connections_per_ip = 256,      -- per client address, per worker
    page_cache_bytes = 64 * 1024 * 1024, -- rendered pages kept per worker
    replica_lag_ms = 5000,         -- a read replica this far behind the primary is skipped until it catches up
    stale_grace_ms = 0,            -- a hot page an edit made stale may be given this long while it renders again; 0: never (a site opts in, e.g. 2000)
    busy_timeout_ms = 5000,
    db_timeout_ms = 3000,          -- PostgreSQL: the longest a worker waits for one answer or a new connection; then 503
    watchdog_timeout_ms = 10000,   -- a worker busy longer with one request is killed and replaced
    drain_timeout_ms = 30000,      -- workers still draining this long after SIGTERM/SIGHUP are killed
    pattern_steps = 1000000,       -- steps of one Lua pattern match, plus 100 per byte of its subject
    instructions = 10000000,  -- per call into plugin code
    lua_memory = 256 * 1024 * 1024, -- bytes per Lua state that runs plugins
    media_bytes = 25 * 1024 * 1024, -- bytes of one image file; larger is refused
    media_pixels = 60 * 1000 * 1000, -- width x height of one image (from its header; bombs refused)
    upload_request = 100 * 1024 * 1024, -- bytes of one upload to /api/admin/v1/media (spooled to disk, never in memory)
    upload_file = 25 * 1024 * 1024, -- bytes of one file in an upload
    upload_files = 20, -- files in one upload
    upload_timeout_ms = 600000, -- to receive a whole upload, from its first byte (408)
    upload_spools = 8, -- uploads spooled to disk at once per worker (503 past it)
    session_idle_seconds = 8 * 3600,  -- a staff session unused this long ends
    session_max_seconds = 7 * 86400,  -- and every session ends this long after sign-in
    login_window_seconds = 900,       -- sign-in attempts are counted per window of this length
    login_per_address = 20,           -- attempts per client address per window; then 429
    login_per_account = 10,           -- attempts per login per window; then 429
    password_hashes = 2,              -- argon2id hashes running at once per worker (64 MiB each)
    password_queue = 64,              -- hashes waiting per worker; past it, 503
  },
  image_widths = { 320, 640, 960, 1280, 1920 }, -- the widths made of each image (never upscaled)
  timezone = "UTC", -- IANA name; every date a reader sees is in it
  language = "en",  -- BCP 47 tag; UI strings from the catalogues (SITE/locale, the theme's po/)
  strings = {},     -- UI string overrides: { [msgid] = text | { plural forms }, ["context|msgid"] = text }
}

-- The settings in days that a job counts back from now (os.time() - days * 86400), and what 0
-- means. At most a century: past the integers' range days * 86400 wrapped round to a time in the
-- future, and everything counted as old at once (every entry in the trash deleted for good).
local RETENTIONS = { trash_retention = "keeps the trash until it is emptied", static_retention = "keeps every copy" }
local MAX_DAYS = 36500

local shapes = {
  name = "string", base_url = "string", listen = "table", workers = "number",
  database = "string", plugins = "table", plugin_path = "table", limits = "table",
  access_log = "string", log_health_checks = "boolean", tls = "table", trash_retention = "number", static_retention = "number", api = "table",
  image_widths = "table", timezone = "string", language = "string", strings = "table", edge_tags = "boolean",
  purgers = "table", read_replicas = "table",
  purgers = "table", trusted_proxies = "table", media_dir = "string",
}

-- tls = { listen = { "ADDR:PORT", ... }, certificates = { { cert =, key =, hosts = {...} }, ... },
--         redirect_http = bool, redirect_port = n, hsts = "max-age=..." | true | false }
-- Returns a checked copy with the certificate paths made relative to the site, or nil, message.
local function check_tls(path, tls, dir)
  local kinds = { listen = "table", certificates = "table", redirect_http = "boolean", redirect_port = "number" }
  for k, v in pairs(tls) do
    if k == "hsts" then
      if type(v) ~= "string" and type(v) ~= "boolean" then return nil, ("%s: tls.hsts must be a string (the header value) or a boolean"):format(path) end
      if type(v) == "string" and v:find("[\r\n]") then return nil, ("%s: tls.hsts must be one line"):format(path) end
    elseif not kinds[k] then
      return nil, ("%s: unknown tls setting '%s' (listen, certificates, redirect_http, redirect_port, hsts)"):format(path, tostring(k))
    elseif type(v) ~= kinds[k] then
      return nil, ("%s: tls.%s must be a %s, got %s"):format(path, k, kinds[k], type(v))
    end
  end
  local function rel(p) return p:sub(1, 1) == "/" and p or (dir .. "/" .. p) end
  local out = { listen = {}, certificates = {}, redirect_http = tls.redirect_http == true, hsts = tls.hsts }
  for i, addr in ipairs(tls.listen or {}) do
    if type(addr) ~= "string" then return nil, ('%s: tls.listen[%d] must be a string such as "0.0.0.0:443"'):format(path, i) end
    out.listen[i] = addr
  end
  if #out.listen == 0 then return nil, ('%s: tls.listen needs at least one address, e.g. { "0.0.0.0:443" }'):format(path) end
  for i, c in ipairs(tls.certificates or {}) do
    if type(c) ~= "table" or type(c.cert) ~= "string" or type(c.key) ~= "string" then
      return nil, ('%s: tls.certificates[%d] must be { cert = "FILE.pem", key = "FILE.key" [, hosts = { ... }] }'):format(path, i)
    end
    for k in pairs(c) do
      if k ~= "cert" and k ~= "key" and k ~= "hosts" then return nil, ("%s: tls.certificates[%d]: unknown field '%s'"):format(path, i, tostring(k)) end
    end
    local hosts
    if c.hosts ~= nil then
      if type(c.hosts) ~= "table" then return nil, ("%s: tls.certificates[%d].hosts must be a list of names"):format(path, i) end
      hosts = {}
      for j, h in ipairs(c.hosts) do
        if type(h) ~= "string" or not h:match("^[%w%.%-%*]+$") then return nil, ("%s: tls.certificates[%d].hosts[%d] is not a host name"):format(path, i, j) end
        hosts[j] = h
      end
    end
    out.certificates[i] = { cert = rel(c.cert), key = rel(c.key), hosts = hosts }
  end
  if #out.certificates == 0 then return nil, ("%s: tls.certificates needs at least one { cert =, key = }"):format(path) end
  if tls.redirect_port ~= nil then
    if math.type(tls.redirect_port) ~= "integer" or tls.redirect_port < 1 or tls.redirect_port > 65535 then
      return nil, ("%s: tls.redirect_port must be a port number"):format(path)
    end
    out.redirect_port = tls.redirect_port
  end
  return out
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = type(v) == "table" and copy(v) or v end
  return out
end

-- The text `quire init` writes: every setting, the optional ones commented with their default.
function M.template(name)
  return ([[
-- Quire site configuration. Plain Lua: a later assignment wins.
name = %q

-- The public address of the site, which absolute links (canonical, og:url, feeds, sitemap,
-- share links) start with. Unset, they follow the address `quire serve` listens on (never the
-- Host header a client sends).
-- base_url = "https://news.example"

-- Addresses to listen on (IPv4 and IPv6).
-- listen = { "127.0.0.1:8080", "[::1]:8080" }

-- Worker processes; 0 means one per CPU core.
-- workers = 0

-- Access log in the combined format (plus request id and seconds taken): "-" is stdout,
-- "stderr", "off", or a file relative to this folder, reopened on SIGUSR1 (logrotate).
-- access_log = "logs/access.log"

-- Health probes (GET /healthz, e.g. Varnish's every few seconds per node) answered 200 are left
-- out of the access log; a failed one (503) is logged. true logs them all.
-- log_health_checks = false

-- HTTPS (TLS 1.2; ECDHE with AES-GCM or ChaCha20-Poly1305). Paths are relative to this folder.
-- The first certificate is the default; others are chosen by SNI, for their `hosts` or, without
-- them, for the DNS names in the certificate. SIGHUP reloads renewed certificates.
-- tls = {
--   listen = { "0.0.0.0:443", "[::]:443" },
--   certificates = {
--     { cert = "certs/fullchain.pem", key = "certs/privkey.pem" },
--     -- { cert = "certs/other.pem", key = "certs/other.key", hosts = { "other.example" } },
--   },
--   redirect_http = true,        -- plain HTTP answers 301 to https:// (ACME challenges excepted)
--   hsts = "max-age=31536000",   -- Strict-Transport-Security on HTTPS responses
-- }

-- Days a deleted entry stays in the trash (`quire entries untrash ID` brings it back) before the
-- trash.empty job deletes it for good with its revisions and comments; 0 keeps it until
-- `quire entries empty-trash`.
-- trash_retention = 30

-- Days an old fingerprinted copy of a plugin's static file (SITE/.quire/static: the theme's
-- stylesheet before an edit) is still served once no process names it (a worker names what it
-- read until it is reloaded), for the pages an edge cache, a CDN or a browser keeps; then
-- `quire serve` or `quire export` removes it. Longer than the longest those keep a page
-- (docs/varnish.vcl: 1 h, then 6 h of grace); 0 keeps them all.
-- static_retention = 7

-- The widths each imported image is made at (quire media add), as WebP and in its own format;
-- never wider than the image.
-- image_widths = { 320, 640, 960, 1280, 1920 }

-- Plugins, found in this site's plugins/ first, then among the bundled ones.
plugins = { }

-- An edge cache in front (Varnish with xkey, Fastly, Cloudflare) can keep pages and purge them
-- by tag: cacheable pages then carry their cache tags as Surrogate-Key and Cache-Tag headers.
-- edge_tags = false
-- Writes purge those tags there: a PURGE with an xkey-purge header per batch of tags, sent by
-- a running `quire serve` (docs/varnish.vcl shows the Varnish side).
-- purgers = { "http://127.0.0.1:6081/" }
-- Behind a reverse proxy (Varnish, a CDN, a TLS terminator) every request seems to come from
-- it: list it here, and the client's address (sign-in and comment limits, the access log) is
-- read from X-Forwarded-For and https from X-Forwarded-Proto. Only from these: anyone can send
-- the headers.
-- trusted_proxies = { "127.0.0.1", "10.0.0.0/8" }

-- The SQLite database, relative to this folder; or a PostgreSQL 15 database that several
-- `quire serve` nodes share: database = "postgresql://user@host:5432/dbname"
-- database = "quire.db"
-- Hot standbys of that PostgreSQL database: anonymous page renders read from them in turn (staff,
-- writes, the API's callers, jobs and scripts read the primary; a client that just wrote reads
-- what it wrote); one that is down or lags past limits.replica_lag_ms is skipped.
-- read_replicas = { "postgresql://user@standby1:5432/dbname" }

-- The media library's files (uploads, their sizes and AVIF copies), relative to this folder.
-- Nodes that share a database must share this folder too (NFS or the like, mounted on each).
-- media_dir = "media"

-- Limits on what a save or a request may carry.
-- limits = {
--   title_max = 300,          -- characters in a title
--   slug_max = 200,           -- bytes in a slug
--   body_max = 1048576,       -- bytes of Markdown in a body
--   fields_max = 262144,      -- bytes of JSON in an entry's fields
--   tags_max = 100,           -- tags on one entry
--   term_max = 100,           -- characters in a tag or section name
--   comment_max = 10000,      -- bytes in a comment
--   request_body = 1048576,   -- bytes in a request body (413 past it)
--   request_line = 8192,      -- bytes in the request line (414)
--   header = 8192,            -- bytes in one header field (431)
--   headers = 32768,          -- bytes in all header fields (431)
--   header_count = 100,       -- header fields (431)
--   header_timeout_ms = 10000, -- to receive a request head, from its first byte (408)
--   request_timeout_ms = 60000, -- to receive a whole request, body included (408)
--   connection_output = 262144, -- unsent response bytes before a client's next requests wait
--   worker_output = 134217728, -- unsent response bytes per worker; connections adding more close
--   keepalive_timeout_ms = 15000, -- idle keep-alive connections close after this
--   body_min_rate = 1024,     -- bytes per second a request body must keep up (408)
--   connections = 10000,      -- connections per worker
--   connections_per_ip = 256, -- connections per client address, per worker
--   page_cache_bytes = 67108864, -- rendered pages kept per worker
--   stale_grace_ms = 0,       -- a hot edited page may be given stale this long while it renders again (0: never; e.g. 2000)
--   busy_timeout_ms = 5000,   -- how long a write waits for another writer
--   db_timeout_ms = 3000,     -- PostgreSQL: the longest a worker waits for one answer or a new connection (then 503)
--   watchdog_timeout_ms = 10000, -- a worker busy longer with one request is killed and replaced
--   drain_timeout_ms = 30000, -- after SIGTERM or a reload, workers still draining are killed
--   pattern_steps = 1000000,  -- steps of one Lua pattern match, plus 100 per byte of its subject
--   instructions = 10000000,  -- instruction budget of one call into plugin code (counted after as many ns of CPU)
--   lua_memory = 268435456,   -- memory cap of a Lua state running plugins
--   media_bytes = 26214400,   -- bytes of one image file (quire media add)
--   media_pixels = 60000000,  -- width x height of one image, from its header
--   upload_request = 104857600, -- bytes of one upload over HTTP (POST /api/admin/v1/media; spooled to disk)
--   upload_file = 26214400,   -- bytes of one file in an upload (413 past it)
--   upload_files = 20,        -- files in one upload
--   upload_timeout_ms = 600000, -- to receive a whole upload, from its first byte (408)
--   upload_spools = 8,        -- uploads spooled to disk at once per worker (503 past it)
--   session_idle_seconds = 28800, -- a staff session unused this long ends
--   session_max_seconds = 604800, -- every staff session ends this long after sign-in
--   login_window_seconds = 900, -- sign-in attempts are counted per window of this length
--   login_per_address = 20,   -- sign-in attempts per client address per window (then 429)
--   login_per_account = 10,   -- sign-in attempts per login per window (then 429)
--   password_hashes = 2,      -- argon2id hashes running at once per worker (64 MiB each)
--   password_queue = 64,      -- hashes waiting per worker; past it, 503
-- }

-- Dates readers see are in this time zone (an IANA name: `timedatectl list-timezones`), in
-- this language's words and order; UI strings come from the language's catalogue (the theme
-- ships en, nb and ar; SITE/locale/LANG.mo adds or overrides), and any one string can be
-- changed here ("context|msgid" for a string with a context; a list for plural forms).
-- timezone = "Europe/Oslo"
-- language = "nb"
-- strings = { ["Related Posts"] = "More on this", ["Total %%s Share"] = { "%%s share", "%%s shares" } }

-- The JSON APIs (/api/content/v1/, /api/admin/v1/; keys: quire api-key --help).
-- api = {
--   content = "key",          -- "open": the Content API needs no key
--   cors = "",                -- open Content API: allowed origins, space separated, or "*"
--   max_age = 60,             -- seconds clients may keep a Content API answer
--   list_max = 100,           -- the largest limit= of a list
--   admin_rate = 300,         -- Admin API requests per key or user per minute
-- }

-- A plugin's settings are overridden by a table named after it, e.g.
-- related = { threshold = 60 }
]]):format(name)
end

-- Loads DIR/site.lua. Returns the settings table (defaults filled in), or nil and a message.
function M.load(dir)
  local path = dir .. "/site.lua"
  local f, open_err, errno = io.open(path, "r")
  if not f and errno == 2 then -- ENOENT
    return nil, ("no site at %s (site.lua missing; create one with `quire init %s`)"):format(dir, dir)
  elseif not f then -- there, but not readable by this user (EACCES), or not a file
    return nil, ("cannot read %s: %s (the user running quire must be able to read the site's files)"):format(path,
      tostring(open_err):match(": ([^:]+)$") or tostring(open_err))
  end
  local src, read_err = f:read("a")
  f:close()
  if not src then return nil, ("cannot read %s: %s"):format(path, tostring(read_err)) end
  local env = { os = { getenv = os.getenv }, tostring = tostring, tonumber = tonumber }
  local chunk, err = load(src, "@" .. path, "t", env)
  if not chunk then return nil, err end
  local ok, run_err = pcall(chunk)
  if not ok then return nil, tostring(run_err) end
  local cfg = copy(M.defaults)
  cfg.plugin_settings = {}
  for k, v in pairs(env) do
    if k ~= "os" and k ~= "tostring" and k ~= "tonumber" then
      if not shapes[k] then
        -- Any other table is the settings of the plugin of that name; anything else is a typo.
        if type(v) ~= "table" then
          return nil, ("%s: unknown setting '%s' (plugin settings are tables named after the plugin)"):format(path, tostring(k))
        end
        cfg.plugin_settings[k] = v
      elseif type(v) ~= shapes[k] then
        return nil, ("%s: setting '%s' must be a %s, got %s"):format(path, k, shapes[k], type(v))
      elseif k == "tls" then
        local tls, tls_err = check_tls(path, v, dir)
        if not tls then return nil, tls_err end
        cfg.tls = tls
      elseif RETENTIONS[k] and (math.type(v) ~= "integer" or v < 0 or v > MAX_DAYS) then
        return nil, ("%s: %s must be a whole number of days from 0 to %d (0 %s), got %s"):format(path, k, MAX_DAYS, RETENTIONS[k], tostring(v))
      elseif k == "trusted_proxies" then
        if #v > 256 then return nil, ("%s: trusted_proxies: at most 256 entries"):format(path) end
        for i, p in pairs(v) do
          if math.type(i) ~= "integer" or i < 1 or i > #v or type(p) ~= "string" or not core.net_check(p) then
            return nil, ("%s: trusted_proxies[%s] = %s is not an address or a network: write \"10.0.0.5\", \"10.0.0.0/8\" or \"fd00::/8\""):format(
              path, tostring(i), tostring(p))
          end
        end
        cfg.trusted_proxies = v
      elseif k == "purgers" then
        local perr = require("quire.edge").check_purgers(v)
        if perr then return nil, ("%s: %s"):format(path, perr) end
        cfg.purgers = v
      elseif k == "image_widths" and not require("quire.media").valid_widths(v) then
        return nil, ("%s: image_widths must be 1 to 16 ascending whole numbers from 16 to 10000, e.g. { 320, 640, 1280 }"):format(path)
      elseif k == "timezone" and not require("quire.time").check_zone(v) then
        return nil, ("%s: timezone: %s"):format(path, select(2, require("quire.time").check_zone(v)))
      elseif k == "language" and not (v:match("^%a%a%a?$") or v:match("^%a%a%a?[-_]%w+$")) then
        return nil, ('%s: language must be a language tag such as "en", "nb" or "ar" (a catalogue po/LANG.po), got %q'):format(path, v)
      elseif k == "strings" and not require("quire.i18n").check_strings(v) then
        return nil, ("%s: strings: %s"):format(path, select(2, require("quire.i18n").check_strings(v)))
      elseif k == "api" then -- the JSON APIs (lua/quire/api.lua)
        local defaults = require("quire.api").defaults
        for ak, av in pairs(v) do
          if defaults[ak] == nil then return nil, ("%s: unknown api setting '%s'"):format(path, tostring(ak)) end
          if type(av) ~= type(defaults[ak]) or (ak == "content" and av ~= "open" and av ~= "key")
            or (type(av) == "number" and (math.type(av) ~= "integer" or av < (ak == "max_age" and 0 or 1))) then
            return nil, ("%s: api.%s must be %s"):format(path, ak, ak == "content" and '"open" or "key"'
              or type(defaults[ak]) == "number" and "a whole number" or "a string")
          end
        end
        cfg.api = v
      elseif k == "limits" then
        for lk, lv in pairs(v) do
          if M.defaults.limits[lk] == nil then
            return nil, ("%s: unknown limit '%s'"):format(path, lk)
          end
          if math.type(lv) ~= "integer" or lv < 0 or (lv == 0 and lk ~= "stale_grace_ms") then
            return nil, ("%s: limit '%s' must be a positive integer%s"):format(path, lk,
              lk == "stale_grace_ms" and " (or 0: never)" or "")
          end
          cfg.limits[lk] = lv
        end
        -- A database that stops answering must be given up before the watchdog kills the worker.
        local l = cfg.limits
        if v.db_timeout_ms and v.db_timeout_ms < 100 then
          return nil, ("%s: limit 'db_timeout_ms' must be at least 100 (ms), got %d"):format(path, v.db_timeout_ms)
        end
        if l.db_timeout_ms >= l.watchdog_timeout_ms then
          if v.db_timeout_ms then
            return nil, ("%s: limit 'db_timeout_ms' (%d) must be below 'watchdog_timeout_ms' (%d): a request waiting on the database would be killed before it is answered 503"):format(
              path, l.db_timeout_ms, l.watchdog_timeout_ms)
          end
          l.db_timeout_ms = l.watchdog_timeout_ms // 2
        end
      else
        cfg[k] = v
      end
    end
  end
  cfg.dir = dir
  cfg.base_url_set = env.base_url ~= nil
  -- A URL chooses PostgreSQL (libpq reads the rest); anything else is the SQLite file's path.
  local scheme = cfg.database:match("^(%a[%w+.-]*)://")
  if scheme == "postgresql" or scheme == "postgres" then
    if cfg.database:find("[%c%s]") or #cfg.database <= #scheme + 3 then
      return nil, ("%s: database must be a URL such as postgresql://user@host:5432/dbname, without spaces"):format(path)
    end
    cfg.database_url = cfg.database
  elseif scheme then
    return nil, ("%s: database: unknown scheme '%s://'; use a file path for SQLite or postgresql://user@host:port/dbname"):format(path, scheme)
  else
    cfg.database_path = cfg.database:sub(1, 1) == "/" and cfg.database or (dir .. "/" .. cfg.database)
  end
  local replicas = cfg.read_replicas
  if next(replicas) ~= nil and not cfg.database_url then
    return nil, ("%s: read_replicas are standbys of a PostgreSQL database: set database = \"postgresql://...\" too, or remove them"):format(path)
  end
  local n = 0
  for k in pairs(replicas) do
    n = n + 1
    if math.type(k) ~= "integer" or k < 1 or k > #replicas then
      return nil, ('%s: read_replicas must be a list such as { "postgresql://user@standby:5432/dbname" }, not a table with key %s'):format(path, tostring(k))
    end
  end
  if n > 16 then return nil, ("%s: read_replicas: at most 16 replicas, got %d"):format(path, n) end
  for i, url in ipairs(replicas) do
    local scheme = type(url) == "string" and url:match("^(%a[%w+.-]*)://")
    if (scheme ~= "postgresql" and scheme ~= "postgres") or url:find("[%c%s]") or #url <= #scheme + 3 then
      return nil, ('%s: read_replicas[%d] must be a URL such as "postgresql://user@standby:5432/dbname", without spaces; got %s'):format(
        path, i, type(url) == "string" and ("%q"):format(url) or type(url))
    end
  end
  if cfg.media_dir == "" or cfg.media_dir:find("%c") then
    return nil, ('%s: media_dir must name a folder (relative to the site, or absolute), got %q'):format(path, cfg.media_dir)
  end
  cfg.media_path = cfg.media_dir:sub(1, 1) == "/" and cfg.media_dir or (dir .. "/" .. cfg.media_dir)
  local alog = cfg.access_log
  cfg.access_log_path = (alog == "-" or alog == "stdout" or alog == "stderr" or alog == "off" or alog:sub(1, 1) == "/")
    and alog or (dir .. "/" .. alog)
  return cfg
end

return M
