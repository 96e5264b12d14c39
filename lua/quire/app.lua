-- Request dispatch shared by the server and the test helpers: routes from content-type
-- permalinks and plugins, a request table in, a response table out. Errors become a 500 that
-- carries a request id; the details go to the log, never to the reader.
local core = require "quire.core"
local budget_call, tag_string = core.budget_call, core.tag_string
local auth = require "quire.auth"

local M = {}

M.NEST_MAX = 6 -- parents a nested page may have

-- What every response says unless its handler set its own: no type sniffing, no full URLs in
-- the Referer to other sites, and for HTML a Content-Security-Policy the bundled theme keeps
-- (its own styles, scripts, forms and frames only; images also from https).
M.SECURITY_HEADERS = {
  ["x-content-type-options"] = "nosniff",
  ["referrer-policy"] = "strict-origin-when-cross-origin",
}
M.CSP = "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; object-src 'none';"
  .. " base-uri 'self'; form-action 'self'; frame-ancestors 'self'"

local function url_decode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- "a=1&b=x+y&a=2" -> { a = "2", b = "x y" }; repeated keys keep the last (all in t[key .. "[]"]).
-- A value that is not UTF-8 is left out, and its key is set in the second table returned
-- ({ name = true }), so a form can say which field was not text.
function M.parse_query(qs)
  local out, invalid = {}, {}
  if not qs or qs == "" then return out, invalid end
  for pair in qs:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k, v = url_decode(k), url_decode(v)
    if not core.utf8_valid(k) then -- nothing to name
    elseif core.utf8_valid(v) then
      local list = out[k .. "[]"] or {}
      list[#list + 1] = v
      out[k .. "[]"] = list
      out[k] = v
    else
      invalid[k] = true
    end
  end
  return out, invalid
end

-- A permalink such as "/{yyyy}/{mm}/{slug}" as a router pattern with typed parameters.
local function permalink_pattern(permalink)
  return (permalink:gsub("{(%w+)}", function(name)
    if name == "slug" then return "{slug:slug}" end
    if name == "yyyy" or name == "mm" or name == "dd" or name == "id" then return "{" .. name .. ":int}" end
    return "{" .. name .. "}"
  end))
end

-- The URL of an entry from its type's permalink (quire.types).
M.permalink = require("quire.types").permalink

-- "a=1; b=2" -> { a = "1", b = "2" }. The value is trimmed in C: "(.-)%s*$" would be quadratic
-- in a run of inner whitespace.
local trim = core.trim
function M.parse_cookies(header)
  local out = {}
  for pair in (header or ""):gmatch("[^;]+") do
    local k, v = pair:match("^%s*([^=%s]+)%s*=(.*)$")
    if k and out[k] == nil then out[k] = trim(v):gsub('^"(.*)"$', "%1") end
  end
  return out
end

-- A page's cache tags as one string: the keys of the set collected, and extra when there is
-- any, sorted and joined by spaces. core.tag_string makes it; this, when a key is not a string
-- (as table.sort, it raises on a mix of strings and numbers).
local function sorted_tags(collected, extra)
  local tags = {}
  for t in pairs(collected) do tags[#tags + 1] = t end
  if extra and tags[1] then tags[#tags + 1] = extra end
  table.sort(tags)
  return table.concat(tags, " ")
end

local Response = {}
Response.__index = Response
M.Response = Response -- its methods, for the plugin reference (quire.reference)
function Response:header(k, v)
  k = k:lower()
  if k == "cache-control" then self.cache_seconds = nil end -- the last word on caching wins
  self.headers[k] = v
  return self
end

-- Sets a cookie: HttpOnly and SameSite=Lax unless opts say otherwise; Secure on HTTPS sites.
function Response:cookie(name, value, opts)
  opts = opts or {}
  if not tostring(name):match("^[%w_%-]+$") or tostring(value):find("[;,%s\"\\]") then
    error("cookie names are words and values carry no ; , space, quote or backslash", 2)
  end
  local parts = { name .. "=" .. value, "Path=" .. (opts.path or "/") }
  if opts.max_age then parts[#parts + 1] = "Max-Age=" .. math.floor(opts.max_age) end
  if opts.http_only ~= false then parts[#parts + 1] = "HttpOnly" end
  parts[#parts + 1] = "SameSite=" .. (opts.same_site or "Lax")
  if opts.secure or (opts.secure == nil and self.https) then parts[#parts + 1] = "Secure" end
  local list = self.headers["set-cookie"] or {}
  list[#list + 1] = table.concat(parts, "; ")
  self.headers["set-cookie"] = list
  self.private = true
  return self
end

-- Renders a named template into the response as HTML.
function Response:render(name, view, opts)
  self.headers["content-type"] = self.headers["content-type"] or "text/html; charset=utf-8"
  self.parts[#self.parts + 1] = self.quire.template.render(name, view, opts)
  return self
end

-- Extra cache tags for this page (e.g. "sponsors" for a page showing sponsor slots): a write
-- that bumps any of them makes the cached page stale.
function Response:cache_tags(tags)
  for _, t in ipairs(tags) do self.site.tag(tostring(t)) end
  return self
end

-- How long this page may be kept, in seconds: by browsers, by shared caches and by quire's own
-- page cache (then it is rendered again even when no write touched it). 0: never kept.
function Response:max_age(seconds)
  if type(seconds) ~= "number" or not (seconds >= 0 and seconds < math.huge) then
    error("max_age takes a number of seconds (0 or more)", 2)
  end
  -- The server writes the Cache-Control header from it (and keeps the page no longer).
  self.cache_seconds = math.floor(seconds)
  self.headers["cache-control"] = nil
  return self
end

function Response:json(value)
  self.headers["content-type"] = "application/json"
  self.parts[#self.parts + 1] = self.quire.json.encode(value)
  return self
end
function Response:write(s) self.parts[#self.parts + 1] = tostring(s) return self end
function Response:redirect(url, status)
  self.status = status or 303
  self.headers["location"] = url
  return self
end

local REASONS = { [400] = "Bad Request", [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed",
  [500] = "Internal Server Error", [503] = "Service Unavailable" }

-- Browsers ask for text/html; API clients, feed readers and curl get plain text.
local function wants_html(req)
  return ((req and req.headers.accept) or ""):lower():find("text/html", 1, true) ~= nil
end

-- Replaces the response with the page for an error status: for HTML clients the site's own page
-- (filter "page.error": a theme sets the page's html), else, or when that page fails to
-- render, plain text. Never carries an error's details: those go to the log.
function Response:error(status)
  local id = self.req.id
  self.status = status
  self.parts = {}
  self.cache_seconds = nil
  for k in pairs(self.headers) do
    if k ~= "allow" and k ~= "set-cookie" then self.headers[k] = nil end
  end
  self.headers["vary"] = "Accept"
  local reason = REASONS[status] or "Error"
  if wants_html(self.req) then
    local page = { status = status, reason = reason, request_id = id, path = self.req.path, html = false }
    local ok, html = budget_call("error page " .. status, self.site.limits.instructions * 10, function()
      return self.quire.filters.apply("page.error", page).html
    end)
    if ok and type(html) == "string" then
      self.headers["content-type"] = "text/html; charset=utf-8"
      self.parts[1] = html
      return
    elseif not ok then
      io.stderr:write(("quire: request %s: the %d page failed: %s\n"):format(id, status, tostring(html)))
    end
  end
  self.headers["content-type"] = "text/plain; charset=utf-8"
  self.parts[1] = status == 500 and ("%s (request id %s)"):format(reason, id) or reason
end

-- Whether an error says the store cannot be reached now (PostgreSQL down, restarting, or cut
-- off): the messages of core/pg.c for a lost or refused connection, and the SQLSTATEs of a
-- broken connection (08), a shutdown or start-up (57P01-57P03) and a full server (53300).
-- A request that meets one is answered 503, not 500: it is the store's state, not a bug.
local UNAVAILABLE = { "connection to PostgreSQL was lost", "PostgreSQL is unreachable", "cannot connect to PostgreSQL",
  "%[SQLSTATE 08%w%w%w%]", "%[SQLSTATE 57P0[123]%]", "%[SQLSTATE 53300%]" }
function M.store_unavailable(e)
  local text = tostring(type(e) == "table" and e.text or e)
  for _, pat in ipairs(UNAVAILABLE) do
    if text:find(pat) then return true end
  end
  return false
end

-- The database cannot be reached (M.store_unavailable): 503 with Retry-After, saying so
-- (JSON under /api/), never cached. A write met by it may not have been saved: the client
-- retries it (with an Idempotency-Key the Admin API makes that safe).
local UNAVAILABLE_TEXT = "the database cannot be reached just now; a change sent with this request may not have been saved: try again in a few seconds"
local function unavailable(res, target)
  res:error(503)
  res.headers["retry-after"] = "5"
  if target:match("^/api/") then
    res.headers["content-type"] = "application/json; charset=utf-8"
    res.parts = { require("quire.json").encode({ error = { status = 503, code = "store_unavailable", message = UNAVAILABLE_TEXT } }) }
  elseif res.headers["content-type"]:find("text/plain", 1, true) then
    res.parts = { "Service Unavailable: " .. UNAVAILABLE_TEXT .. "\n" }
  end
end

-- The health probe of a load balancer or Varnish (docs/varnish.vcl): 200 while this node
-- reaches its database (one round trip to it, the primary on PostgreSQL, within
-- limits.db_timeout_ms), else 503. Answered before the router, so no plugin shadows it; never
-- cached; it says nothing but that.
M.HEALTH_PATH = "/healthz"
local function health(db, id)
  local ok
  if db.ping then ok = db:ping() else ok = pcall(db.value, db, "SELECT 1") end
  local headers = { ["content-type"] = "text/plain; charset=utf-8", ["cache-control"] = "no-store" }
  if not ok then headers["retry-after"] = "5" end
  return { status = ok and 200 or 503, headers = headers, tags = "", private = true, id = id,
    body = ok and "ok: the database answers\n" or "unavailable: the database cannot be reached\n" }
end

function M.new(quire, site)
  local app = { router = core.router(), handlers = {} }

  local function add(method, pattern, handler)
    app.handlers[#app.handlers + 1] = handler
    app.router:add(method, pattern, #app.handlers)
  end

  -- Published entries at their permalinks, rendered with their type's layout. A type at
  -- "/{slug}" with a `path` field nests (pages: /level-1/level-2/level-3): a path no route
  -- matches, of up to NEST_MAX + 1 slugs, is looked up as one (so no route or 405 is shadowed).
  local nested
  for _, name in ipairs(site.types:names()) do
    local t = site.types:get(name)
    local function serve(req, res)
      local e = quire.content.get { type = t.name, slug = req.params.slug }
      if not e or e.status ~= "published" or M.permalink(t, e) ~= req.path then
        return res:error(404)
      end
      local view = quire.filters.apply("view.entry", { entry = e, site = quire.site, type = { name = t.name, label = t.label } }, e)
      res:header("content-type", "text/html; charset=utf-8")
      res:write(quire.template.render(t.layout, view))
    end
    add("GET", permalink_pattern(t.permalink), serve)
    if t.fields.path and t.permalink == "/{slug}" then
      app.handlers[#app.handlers + 1] = serve
      nested = #app.handlers
    end
  end
  for _, r in ipairs(quire.plugins.routes) do add(r.method, r.pattern, r.handler) end
  -- Staff sign-in, sign-out and password reset (lua/quire/auth.lua).
  for _, r in ipairs(auth.routes()) do add(r[1], r[2], r[3]) end
  -- The JSON APIs and their OpenAPI document (lua/quire/api.lua).
  for _, r in ipairs(require("quire.api").new(quire, site).mount()) do add(r.method, r.pattern, r.handler) end
  -- The web admin (lua/quire/admin.lua).
  for _, r in ipairs(require("quire.admin").new(quire, site).mount()) do add(r.method, r.pattern, r.handler) end

  -- request(method, target [, { id =, headers =, body =, remote =, secure =, data_version =, wait = }])
  -- secure: it came over TLS. wait: a handler waiting for a password hash (quire.auth) makes
  -- the answer { wait = { kind =, hash =, password =, resume = fn(result, err) -> answer } }
  -- instead of hashing here.
  --   -> { status =, headers =, body =, tags =, private =, max_age =, id = }
  -- id: the server's request id (one is made when none is given). The server decides from
  -- tags, private and max_age whether the page is kept, and writes its Cache-Control and
  -- X-Request-Id headers (worker.c).
  function app.request(method, target, opts)
    opts = opts or {}
    local id = opts.id or core.request_id()
    local path, qs = target:match("^([^?#]*)%??([^#]*)")
    if path == M.HEALTH_PATH and (method == "GET" or method == "HEAD") then return health(site.db, id) end
    local headers = {}
    for k, v in pairs(opts.headers or {}) do headers[k:lower()] = v end
    local query, query_invalid = M.parse_query(qs)
    local req = { id = id, method = method:upper(), path = path, query = query, query_invalid = query_invalid, headers = headers,
      body = opts.body or "", remote = opts.remote, secure = opts.secure == true, cookies = M.parse_cookies(headers.cookie), spool_fd = opts.spool_fd }
    local res = setmetatable({ status = 200, headers = {}, parts = {}, quire = quire, site = site, req = req, https = req.secure }, Response)
    if (headers["content-type"] or ""):match("^application/x%-www%-form%-urlencoded") then req.form, req.form_invalid = M.parse_query(req.body) end
    -- Old URLs answer before the router: cacheable (tag "redirects"), only for GET and HEAD.
    if req.method == "GET" or req.method == "HEAD" then
      site.collecting = { redirects = true }
      site.memo.sync(opts.data_version)
      local status, location = quire.redirects.lookup(path, qs)
      site.memo.unsync()
      local collected = site.collecting
      site.collecting = nil
      if status == 404 then
        res:error(404)
        return { status = res.status, headers = res.headers, body = table.concat(res.parts), tags = "", id = id }
      elseif status then
        res.headers["location"] = location
        return { status = status, headers = res.headers, body = "", tags = tag_string(collected) or sorted_tags(collected), id = id }
      end
    end
    local handler, params_or_status, allow = app.router:match(req.method, path)
    if not handler and nested and params_or_status == 404 and (req.method == "GET" or req.method == "HEAD")
      and #path <= 1200 and path:match("^/[a-z0-9][a-z0-9/-]*[a-z0-9]$") then
      local _, slashes = path:gsub("/", "")
      if slashes >= 2 and slashes <= M.NEST_MAX + 1 then handler, params_or_status = nested, { slug = path:match("([^/]+)$") } end
    end
    if not handler then
      if params_or_status == 405 then res.headers["allow"] = allow end
      res:error(params_or_status)
      if auth.is_admin_path(path) then auth.protect(res) end
      return { status = res.status, headers = res.headers, body = table.concat(res.parts), tags = "", id = id }
    end
    req.params = params_or_status
    -- A signed-in staff member's writes are recorded as theirs; anyone else's as "web".
    req.user = auth.attach(req, res, quire)
    local admin = auth.is_admin_path(path)

    -- Runs fn under the request's budget, as the request's actor, and makes the answer; a
    -- handler that asked for a password hash (auth.after_hash) gets its answer made by the
    -- continuation instead, after the hash (opts.wait: the server runs it off the loop).
    local function run(fn, data_version)
      local previous_actor = site.actor
      site.actor = req.user and { id = req.user.id, name = req.user.login } or { name = "web" }
      site.collecting = {}
      site.memo.sync(data_version)
      -- The whole request runs under a budget too (ten plugin calls' worth): rendering reads
      -- values that plugins built, and a metamethod in them must not hang the worker. (The
      -- failure line below names the request, so the label need not be formatted for every
      -- request.)
      local ok, result = budget_call("the request", site.limits.instructions * 10, function()
        local out = fn()
        -- Read what the handler returned here, under the budget, into plain values.
        if type(out) == "table" and getmetatable(out) ~= Response then
          local plain = { status = math.tointeger(out.status) or 500, headers = {}, body = out.body and tostring(out.body) }
          for k, v in pairs(out.headers or {}) do plain.headers[tostring(k)] = tostring(v) end
          return plain
        elseif out ~= nil and type(out) ~= "string" and getmetatable(out) ~= Response then
          error("a route handler returns a string, a table {status=, headers=, body=} or nothing", 0)
        end
        if getmetatable(out) == Response then return nil end
        return out
      end)
      site.actor = previous_actor
      local collected = site.collecting
      site.collecting = nil
      site.memo.unsync()
      local wait = ok and res.wait
      if wait then
        res.wait = nil
        local resume = function(value, err)
          return run(function() return wait.resume(value, err) end)
        end
        if opts.wait then return { wait = { kind = wait.kind, hash = wait.hash, password = wait.password, resume = resume } } end
        return resume(auth.run_job(wait))
      end
      local tags = ""
      local private = res.private
      if ok and not private then
        -- A kept page goes stale when a redirect is added at its path. (In C, the tags sorted and
        -- joined: the Lua sort of a page's ~40 cost ~45 K instructions.)
        tags = tag_string(collected, "redirects") or sorted_tags(collected, "redirects")
      end
      if not ok then
        io.stderr:write(("quire: request %s %s %s failed: %s\n"):format(id, req.method, target, tostring(result)))
        local cookies = res.headers["set-cookie"]
        res = setmetatable({ status = 500, headers = { ["set-cookie"] = cookies }, parts = {}, quire = quire, site = site, req = req }, Response)
        if M.store_unavailable(result) then
          unavailable(res, target)
        else
          res:error(500)
        end
      elseif type(result) == "string" then
        res:write(result)
        res.headers["content-type"] = res.headers["content-type"] or "text/html; charset=utf-8"
      elseif type(result) == "table" and result.status then
        res.status = result.status
        for k, v in pairs(result.headers or {}) do res:header(k, v) end
        if result.body then res:write(result.body) end
      end
      -- Admin answers: never cached, strict CSP, never framed (quire.auth).
      if admin then
        auth.protect(res)
        private, tags = true, ""
      end
      -- HEAD keeps its body here: the server sends its length and drops the bytes.
      -- tags: the cache tags the page was built from (empty: not cacheable). Private responses
      -- (cookies set, or marked res.private) are never cached or shared, whatever max-age the
      -- handler gave: the server sees to it.
      -- A page written in one piece (the usual case) is returned as it is, not copied by concat.
      local parts = res.parts
      local body = #parts == 1 and parts[1] or table.concat(parts)
      return { status = res.status, headers = res.headers, body = body, tags = tags,
        private = private or nil, max_age = res.cache_seconds, id = id }
    end

    return run(function()
      site.hooks:emit("request.start", req)
      -- Every state-changing /admin request: same origin and the session's CSRF token.
      if admin and not auth.guard(req, res) then return end
      return app.handlers[handler](req, res)
    end, opts.data_version)
  end

  local answer = app.request
  function app.request(method, target, opts)
    -- The store unreachable outside the handler's own protection (the memo's check, a redirect
    -- or session lookup): 503 as inside it, not the server's bare 500.
    local ok, r = pcall(answer, method, target, opts)
    if not ok then
      if not M.store_unavailable(r) then error(r, 0) end
      site.collecting = nil
      site.memo.unsync()
      local id = (opts and opts.id) or core.request_id()
      io.stderr:write(("quire: request %s %s %s failed: %s\n"):format(id, method, target, tostring(r)))
      local res = setmetatable({ status = 503, headers = {}, parts = {}, quire = quire, site = site,
        req = { id = id, headers = {}, path = target } }, Response)
      unavailable(res, target)
      r = { status = 503, headers = res.headers, body = table.concat(res.parts), tags = "", private = true, id = id }
    end
    local h = r.headers or {}
    r.headers = h
    for k, v in pairs(M.SECURITY_HEADERS) do if h[k] == nil then h[k] = v end end
    if h["content-security-policy"] == nil and (h["content-type"] or ""):find("^text/html") then h["content-security-policy"] = M.CSP end
    return r
  end

  return app
end

return M
