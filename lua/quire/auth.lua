-- Staff sign-in and the locks on /admin: the sign-in pages (password, then a TOTP code when the
-- account has one), sessions in the store (only a hash of the token), the one guard every
-- state-changing /admin request passes (same origin, CSRF token), the headers every admin answer
-- carries, and auth.staff(), which admin handlers call to require a signed-in user with a role.
-- Password hashes run on the worker's thread pool (auth.after_hash; lua_server.c), never on the
-- event loop.
local core = require "quire.core"
local time = require "quire.time"
local tokens = require "quire.tokens"
local ROLE_RANK = require("quire.workflow").ROLE_RANK

local M = {}

-- __Host-: the browser keeps it only when Secure, Path=/ and without Domain, so no subdomain
-- and no plain-HTTP page can plant or overwrite it. Browsers treat http://localhost and
-- http://127.0.0.1 as secure; any other host needs HTTPS (the sign-in page says so).
M.COOKIE = "__Host-quire_session"
M.CSRF_FIELD = "csrf"
M.LOGIN = "/admin/login"
M.CHALLENGE_SECONDS = 300 -- to enter the TOTP code after the password
M.CHALLENGE_TRIES = 5
M.RESET_SECONDS = 24 * 3600 -- default life of a reset link

-- Strict: no inline script or style, nothing from elsewhere, never framed.
M.CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
  .. "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function hash_of(purpose, token) return hex(core.hmac_sha256("quire " .. purpose, token)) end

local function url_encode(s)
  return (s:gsub("[^%w%-%._~/]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function is_admin_path(path) return path == "/admin" or path:sub(1, 7) == "/admin/" end
M.is_admin_path = is_admin_path

-- ---------------------------------------------------------------- requests and sessions

function M.token(req) return req.cookies[M.COOKIE] end

-- The host a request names (lower case, no port), or nil.
local function host_of(req)
  local h = req.headers.host
  if type(h) ~= "string" or #h > 255 then return nil end
  return h:lower()
end

-- Whether the browser will keep a Secure cookie from this request: HTTPS, or a loopback host.
function M.secure_context(req)
  if req.secure then return true end
  local h = host_of(req)
  if not h then return false end
  local name = h:match("^%[(.-)%]") or h:match("^[^:]*")
  return name == "localhost" or name:match("%.localhost$") ~= nil or name == "::1" or name:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

-- The origin a request was sent to ("http://127.0.0.1:8080"), as a browser names it in Origin.
local function own_origins(req, site)
  local out = {}
  local h = host_of(req)
  if h then out[#out + 1] = (req.secure and "https://" or "http://") .. h end
  local base = site.config and site.config.base_url
  if type(base) == "string" then
    local o = base:lower():match("^(https?://[^/]+)")
    if o then out[#out + 1] = o end
  end
  return out
end

-- Whether a browser sent this request from our own pages: Sec-Fetch-Site (when sent) must say
-- same-origin (or none: typed by the user), and Origin (when sent) must be ours. Clients that
-- send neither (curl, scripts) pass; the CSRF token still stops a forged change.
function M.same_origin(req, site)
  local fetch = req.headers["sec-fetch-site"]
  if fetch and fetch ~= "same-origin" and fetch ~= "none" then
    return false, ("the request came from another site (Sec-Fetch-Site: %s)"):format(fetch)
  end
  local origin = req.headers.origin
  if origin then
    origin = origin:lower()
    for _, o in ipairs(own_origins(req, site)) do
      if origin == o then return true end
    end
    return false, "the request came from another origin (Origin does not match this site)"
  end
  return true
end

-- Called by app.lua for every request: req.user and req.session from the session cookie. A
-- session issued for another role than the user's now (a role change) gets a new token.
function M.attach(req, res, quire)
  local token = req.cookies[M.COOKIE]
  if not token then return nil end
  local users = quire.users
  local row = users.session(token)
  if not row then return nil end
  local user = users.get(row.user_id)
  if not user then return nil end
  if row.role ~= user.role then
    local fresh = users.rotate_session(token)
    if not fresh then return nil end
    token = fresh
    row = users.session(fresh)
    M.set_cookie(req, res, fresh)
  else
    users.touch_session(token, row)
  end
  req.session = { csrf = row.csrf, expires_at = row.expires_at, token = token }
  return user
end

function M.set_cookie(req, res, token)
  local max = res.site.limits.session_max_seconds or 7 * 86400
  res:cookie(M.COOKIE, token, { secure = true, max_age = max })
end

local function clear_cookie(res)
  res:cookie(M.COOKIE, "", { secure = true, max_age = 0 })
end

-- The CSRF token a form of the signed-in user's must carry (hidden field "csrf", or the
-- X-CSRF-Token header), or nil without a session.
function M.csrf(req) return req.session and req.session.csrf end

-- The MAC of a notice a page shows after a redirect (?ok=TEXT, ?error=TEXT: its kind and text),
-- keyed with the session's CSRF token (nil without a session): the admin shows only what it
-- wrote for this session, never the text of a link someone sent ("?error=Your account is
-- locked: call ...").
function M.notice_mac(req, kind, text)
  local csrf = M.csrf(req)
  return csrf and hex(core.hmac_sha256(csrf, kind .. "\0" .. text)):sub(1, 32) or nil
end

-- The CSRF token a request sent: the header, the urlencoded field, or a multipart part.
local function sent_csrf(req)
  local h = req.headers["x-csrf-token"]
  if type(h) == "string" then return h end
  if req.form then return req.form[M.CSRF_FIELD] end
  local ct = req.headers["content-type"] or ""
  if ct:match("^multipart/form%-data") then
    return req.body:match('[Nn]ame="' .. M.CSRF_FIELD .. '"\r\n\r\n(%x+)\r\n')
  end
  return nil
end

-- Forms that are sent before there is a session: same-origin is checked, not the token.
local OPEN_FORMS = { ["/admin/login"] = true, ["/admin/login/code"] = true, ["/admin/reset"] = true }

-- The guard on every state-changing /admin request (app.lua calls it before the handler): the
-- request must come from our own pages and carry the session's CSRF token. Answers 403 and
-- returns false when it does not.
function M.guard(req, res)
  if req.method == "GET" or req.method == "HEAD" or req.method == "OPTIONS" then return true end
  local ok, why = M.same_origin(req, res.site)
  if ok and not OPEN_FORMS[req.path] then
    local want, got = M.csrf(req), sent_csrf(req)
    if not want then
      ok, why = false, "you are not signed in (or your session ended): sign in and try again"
    elseif type(got) ~= "string" or not core.equal(want, got) then
      ok, why = false, "the form's security token is missing or out of date: reload the page and try again"
    end
  end
  if ok then return true end
  M.page(req, res, 403, "Refused", { message = why, back = M.LOGIN })
  return false
end

-- Headers of every /admin answer (app.lua): never kept by any cache; unless the handler set
-- its own (stricter or for a preview frame of our own), a CSP that runs nothing that is not
-- ours, never framed, no Referer to other sites ("same-origin": with "no-referrer" browsers send
-- Origin: null on our own forms, and the same-origin check could not tell them from a forgery).
function M.protect(res)
  res.private = true
  res.cache_seconds = nil
  local h = res.headers
  h["cache-control"] = "private, no-store"
  h["content-security-policy"] = h["content-security-policy"] or M.CSP
  h["x-frame-options"] = h["x-frame-options"] or "DENY"
  h["referrer-policy"] = h["referrer-policy"] or "same-origin"
  h["x-content-type-options"] = "nosniff"
end

local function safe_next(v)
  if type(v) ~= "string" or #v > 2000 or not is_admin_path(v:match("^[^?#]*")) or v:find("[%c\\]")
    or v:find("//", 1, true) or v:match("^/admin/log") then
    return "/admin"
  end
  return v
end

-- For admin handlers: the signed-in user when their role is at least opts.role (default
-- "contributor"); else the answer is made (a page request is sent to the sign-in page and back,
-- anything else gets 403) and nil is returned:
--   local user = auth.staff(req, res, { role = "editor" }); if not user then return end
function M.staff(req, res, opts)
  local need = opts and opts.role or "contributor"
  if not ROLE_RANK[need] then error("auth.staff: role must be contributor, author, editor or admin", 2) end
  local user = req.user
  if not user then
    if req.method == "GET" or req.method == "HEAD" then
      local target = req.path
      local qs = req.target and req.target:match("%?(.*)$")
      if qs and qs ~= "" then target = target .. "?" .. qs end
      res:redirect(M.LOGIN .. "?next=" .. url_encode(safe_next(target)), 303)
    else
      M.page(req, res, 403, "Sign in", { message = "You are not signed in (or your session ended).", back = M.LOGIN })
    end
    return nil
  end
  if ROLE_RANK[user.role] < ROLE_RANK[need] then
    M.page(req, res, 403, "Not allowed", { message = ("This needs the %s role; you are %s %s."):format(need,
      user.role:match("^[aeiou]") and "an" or "a", user.role), back = "/admin" })
    return nil
  end
  return user
end

-- ---------------------------------------------------------------- hashing off the loop

-- Asks for a password hash job; fn(result, err) runs when it is done and makes the answer:
-- { kind = "verify", hash =, password = } gives a boolean, { kind = "hash", password = } the
-- encoded hash. Under `quire serve` the job runs on the worker's thread pool while the loop
-- serves other requests (err "busy" when the worker's queue is full); elsewhere at once.
-- The handler returns right after calling it.
function M.after_hash(res, job, fn)
  if job.kind ~= "verify" and job.kind ~= "hash" then error("after_hash: kind is verify or hash", 2) end
  if type(job.password) ~= "string" or (job.kind == "verify" and type(job.hash) ~= "string") then
    error("after_hash: password (and hash for verify) are strings", 2)
  end
  res.wait = { kind = job.kind, hash = job.hash, password = job.password, resume = fn }
end

-- Runs a job here and now (requests made in process: specs, `quire run`).
function M.run_job(job)
  if job.kind == "verify" then return core.password_verify(job.hash, job.password) end
  return core.password_hash(job.password)
end

-- ---------------------------------------------------------------- rate limits

-- Counts an attempt for each key ("addr:...", "login:...") in the current window, in the store
-- (all workers share it), before any hash runs. Returns nil, or the seconds to wait.
local function limited(site, keys)
  local l = site.limits
  local span = l.login_window_seconds or 900
  local now = os.time()
  local window = now // span
  local over = false
  site.transaction(function()
    for _, k in ipairs(keys) do
      local n = site.db:value("INSERT INTO login_attempts (who, \"window\", count) VALUES (?, ?, 1)"
        .. " ON CONFLICT (who, \"window\") DO UPDATE SET count = login_attempts.count + 1 RETURNING count", k[1], window)
      -- A key's first attempt in a window clears every older window: the table holds one window.
      if n == 1 then site.db:exec("DELETE FROM login_attempts WHERE \"window\" < ?", window) end
      if n > k[2] then over = true end
    end
  end)
  return over and (window + 1) * span - now or nil
end

-- An address's key: IPv6 clients by their /64 (one host has a whole one), "::" expanded so
-- every address of a /64 gives the same key; IPv4 (and IPv4-mapped) addresses as they are.
local function address_key(remote)
  remote = tostring(remote or "-")
  if not remote:find(":", 1, true) or remote:match("^::ffff:%d+%.%d+%.%d+%.%d+$") then return "addr:" .. remote end
  local head, tail = remote:match("^([^%%]-)::([^%%]*)")
  local groups = {}
  local function add(part)
    for g in part:gmatch("[^:]+") do groups[#groups + 1] = g end
  end
  if head then
    add(head)
    local rest = {}
    for g in tail:gmatch("[^:]+") do rest[#rest + 1] = g end
    for _ = 1, 8 - #groups - #rest do groups[#groups + 1] = "0" end
    for _, g in ipairs(rest) do groups[#groups + 1] = g end
  else
    add(remote:match("^[^%%]*"))
  end
  for i = 1, 4 do groups[i] = (tonumber(groups[i] or "0", 16) and ("%x"):format(tonumber(groups[i] or "0", 16))) or "?" end
  return "addr:" .. table.concat(groups, ":", 1, 4) .. "::/64"
end
M.address_key = address_key

local function attempt_keys(site, req, login)
  local l = site.limits
  return { { address_key(req.remote), l.login_per_address or 20 }, { "login:" .. login, l.login_per_account or 10 } }
end

-- A sign-in complete after steps attempts (the password, and a code): the account's count goes,
-- and the address gets back what those steps took from it, so a newsroom signing in from behind
-- one office address is not locked out by its own sign-ins; failures still add up there (a
-- success in between takes back only its own).
local function signed_in(site, req, login, steps)
  local span = site.limits.login_window_seconds or 900
  site.transaction(function()
    site.db:exec("DELETE FROM login_attempts WHERE who = ?", "login:" .. login)
    site.db:exec("UPDATE login_attempts SET count = CASE WHEN count > ? THEN count - ? ELSE 0 END"
      .. " WHERE who = ? AND \"window\" = ?", steps, steps, address_key(req.remote), os.time() // span)
  end)
end

-- ---------------------------------------------------------------- TOTP (RFC 6238)

local B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

function M.base32(s)
  local out, bits, n = {}, 0, 0
  for i = 1, #s do
    bits, n = (bits << 8) | s:byte(i), n + 8
    while n >= 5 do
      n = n - 5
      local v = (bits >> n) & 31
      out[#out + 1] = B32:sub(v + 1, v + 1)
    end
  end
  if n > 0 then
    local v = (bits << (5 - n)) & 31
    out[#out + 1] = B32:sub(v + 1, v + 1)
  end
  return table.concat(out)
end

function M.unbase32(s)
  s = s:upper():gsub("[%s=]", "")
  local out, bits, n = {}, 0, 0
  for i = 1, #s do
    local v = B32:find(s:sub(i, i), 1, true)
    if not v then return nil end
    bits, n = ((bits << 5) | (v - 1)) & 0xffffff, n + 5
    if n >= 8 then
      n = n - 8
      out[#out + 1] = string.char((bits >> n) & 255)
    end
  end
  return table.concat(out)
end

-- The HOTP value (RFC 4226) of key at counter: digits decimal digits; alg "sha1" (what
-- authenticator apps use), "sha256" or "sha512".
function M.hotp(key, counter, digits, alg)
  local mac = core.hmac(alg or "sha1", key, string.pack(">I8", counter))
  local off = mac:byte(#mac) & 15
  local bin = ((mac:byte(off + 1) & 0x7f) << 24) | (mac:byte(off + 2) << 16) | (mac:byte(off + 3) << 8) | mac:byte(off + 4)
  digits = digits or 6
  local mod = 1
  for _ = 1, digits do mod = mod * 10 end
  return ("%0" .. digits .. "d"):format(bin % mod)
end

-- The TOTP value at unix time t (30-second steps from 0).
function M.totp(key, t, digits, alg) return M.hotp(key, t // 30, digits, alg) end

-- Checks a 6-digit code against the user's secret: this step or one either side (clock drift),
-- never a step already used (a code works once). Records the step used.
local function totp_check(site, user_id, code)
  if type(code) ~= "string" then return false end
  code = code:gsub("%s", "")
  if not code:match("^%d%d%d%d%d%d$") then return false end
  local row = site.db:row("SELECT totp_secret, totp_last_step FROM users WHERE id = ?", user_id)
  local key = row and row.totp_secret and M.unbase32(row.totp_secret)
  if not key then return false end
  local now = os.time() // 30
  for step = now - 1, now + 1 do
    if step > (row.totp_last_step or -1) and core.equal(M.hotp(key, step, 6), code) then
      site.transaction(function() site.db:exec("UPDATE users SET totp_last_step = ? WHERE id = ?", step, user_id) end)
      return true
    end
  end
  return false
end

-- Turns the second factor on for a login (a new secret) and returns the secret and its
-- otpauth:// URI (for an authenticator app); off = true turns it off.
function M.set_totp(quire, login, off)
  local site = quire._site
  local user = quire.users.get(login)
  if not user then return nil, ("no user %s"):format(tostring(login)) end
  if off then
    site.transaction(function()
      site.db:exec("UPDATE users SET totp_secret = NULL, totp_last_step = NULL WHERE id = ?", user.id)
      site.audit("user.totp_off", "user:" .. user.id)
    end)
    return true
  end
  local secret = M.base32(core.random_bytes(20))
  site.transaction(function()
    site.db:exec("UPDATE users SET totp_secret = ?, totp_last_step = NULL WHERE id = ?", secret, user.id)
    site.audit("user.totp_on", "user:" .. user.id)
  end)
  local issuer = url_encode(quire.site.name or "Quire")
  return secret, ("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30"):format(issuer,
    url_encode(user.login), secret, issuer)
end

-- ---------------------------------------------------------------- password-reset links

-- A one-time link's token for login, valid ttl seconds. Returns token, expiry text.
function M.reset_token(quire, login, ttl)
  local site = quire._site
  local user = quire.users.get(login)
  if not user then return nil, ("no user %s"):format(tostring(login)) end
  if user.disabled ~= 0 then return nil, ("%s is disabled: enable the account first"):format(login) end
  ttl = ttl or M.RESET_SECONDS
  local token = hex(core.random_bytes(32))
  local expires = time.format(os.time() + ttl)
  site.transaction(function()
    site.db:exec("INSERT INTO password_resets (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
      hash_of("reset", token), user.id, time.now(), expires)
    site.audit("user.reset_link", "user:" .. user.id, "expires " .. expires)
  end)
  return token, expires
end

local function reset_row(site, token)
  if type(token) ~= "string" or not token:match("^%x+$") or #token ~= 64 then return nil end
  return site.db:row("SELECT r.user_id, u.login FROM password_resets r JOIN users u ON u.id = r.user_id"
    .. " WHERE r.id = ? AND r.used_at IS NULL AND r.expires_at > ? AND u.disabled = 0", hash_of("reset", token), time.now())
end

-- ---------------------------------------------------------------- pages

local LAYOUT = [[<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{title}} · {{site}}</title>
<link rel="stylesheet" href="/admin/auth.css">
</head>
<body>
<main class="auth">
<h1>{{title}}</h1>
{{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
{{#error}}<p class="error" role="alert" id="form-error">{{error}}</p>{{/error}}
{{#message}}<p>{{message}}</p>{{/message}}
{{#login_form}}
<form method="post" action="/admin/login">
<input type="hidden" name="next" value="{{next}}">
<p><label for="login">Login</label>
<input id="login" name="login" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="60" value="{{login}}"{{#error}} aria-describedby="form-error"{{/error}}></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"></p>
<p><button type="submit">Sign in</button></p>
</form>
{{/login_form}}
{{#code_form}}
<form method="post" action="/admin/login/code">
<input type="hidden" name="challenge" value="{{challenge}}">
<input type="hidden" name="next" value="{{next}}">
<p><label for="code">Code from your authenticator app</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required maxlength="7"{{#error}} aria-describedby="form-error"{{/error}}></p>
<p><button type="submit">Continue</button></p>
</form>
{{/code_form}}
{{#reset_form}}
<form method="post" action="/admin/reset">
<input type="hidden" name="token" value="{{token}}">
<p>Choose a new password for <strong>{{login}}</strong> (10 to 1024 characters).</p>
<p><label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="10" maxlength="1024"></p>
<p><label for="again">The same again</label>
<input id="again" name="again" type="password" autocomplete="new-password" required minlength="10" maxlength="1024"></p>
<p><button type="submit">Set the password</button></p>
</form>
{{/reset_form}}
{{#back}}<p><a href="{{back}}">Continue</a></p>{{/back}}
</main>
</body>
</html>
]]

local CSS = [[
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f4f2; color: #1a1a1a; }
.auth { max-width: 26rem; margin: 4rem auto; padding: 2rem; background: #fff; border: 1px solid #ccc; }
h1 { font-size: 1.5rem; margin-top: 0; }
label { display: block; font-weight: 600; }
input { width: 100%; box-sizing: border-box; font: inherit; padding: .4rem; border: 1px solid #666; }
button { font: inherit; padding: .4rem 1rem; background: #1a4d8f; color: #fff; border: 0; cursor: pointer; }
:focus-visible { outline: 3px solid #e8a200; outline-offset: 2px; }
.error { color: #a00000; font-weight: 600; }
.notice { color: #0a5c0a; }
form + form { margin-top: 1rem; }
]]

-- Renders the sign-in family's page (title, view) with status.
function M.page(req, res, status, title, view)
  view = view or {}
  view.title, view.site = title, res.quire.site.name
  res.status = status
  res.parts = { res.quire.template.render_string(LAYOUT, view) }
  res.headers["content-type"] = "text/html; charset=utf-8"
  return res
end

local function insecure(req, res)
  return M.page(req, res, 403, "Sign-in needs HTTPS", { message = "Staff sign in only over HTTPS (or on localhost):"
    .. " the session cookie is Secure, and a browser keeps it only from a secure page. Set up tls in site.lua,"
    .. " or open the admin through an HTTPS address." })
end

local function login_view(extra)
  local v = { login_form = true, next = "/admin", login = "" }
  for k, x in pairs(extra or {}) do v[k] = x end
  return v
end

-- A session for user: the old one (if any) ends, a new token is issued (no fixation).
local function sign_in(req, res, user, next_path)
  local quire, site = res.quire, res.site
  local old = req.cookies[M.COOKIE]
  if old then quire.users.close_session(old) end
  local token = quire.users.open_session(user.id)
  site.transaction(function()
    site.acting({ id = user.id, name = user.login }, site.audit, "user.signed_in", "user:" .. user.id, tostring(req.remote or ""))
  end)
  M.set_cookie(req, res, token)
  res:redirect(next_path, 303)
  return res
end

local function busy(req, res)
  res:header("retry-after", "2")
  return M.page(req, res, 503, "Busy", { error = "The server is checking many passwords right now: try again in a moment." })
end

local function too_many(req, res, wait, view)
  res:header("retry-after", tostring(wait))
  view.error = ("Too many sign-in attempts. Try again in %d minute%s."):format((wait + 59) // 60, (wait + 59) // 60 == 1 and "" or "s")
  return M.page(req, res, 429, "Sign in", view)
end

local function login_get(req, res)
  if not M.secure_context(req) then return insecure(req, res) end
  local next_path = safe_next(req.query.next)
  if req.user then return res:redirect(next_path, 303) end
  local notice = req.query.reset and "Your password is set: sign in with it." or req.query.out and "You are signed out." or nil
  return M.page(req, res, 200, "Sign in", login_view { next = next_path, notice = notice })
end

local function login_post(req, res)
  if not M.secure_context(req) then return insecure(req, res) end
  local quire, site = res.quire, res.site
  local form = req.form or {}
  local next_path = safe_next(form.next)
  local login, password = form.login, form.password
  if type(login) ~= "string" or type(password) ~= "string" or login == "" or password == "" then
    return M.page(req, res, 400, "Sign in", login_view { next = next_path, login = login, error = "Enter your login and your password." })
  end
  login = core.trim(login):lower()
  if #login > 60 or #password > 1024 then
    return M.page(req, res, 400, "Sign in", login_view { next = next_path, error = "A login is at most 60 characters and a password at most 1024." })
  end
  local wait = limited(site, attempt_keys(site, req, login))
  if wait then return too_many(req, res, wait, login_view { next = next_path, login = login }) end
  local hash, id = quire.users.password_hash_of(login)
  M.after_hash(res, { kind = "verify", hash = hash, password = password }, function(ok, err)
    if err then return busy(req, res) end
    local user = ok and id and quire.users.get(id)
    if not user or user.disabled ~= 0 then
      -- The same work for an unknown login and a wrong password: the hash ran either way.
      site.transaction(function() site.audit("user.sign_in_failed", "login:" .. login, tostring(req.remote or "")) end)
      return M.page(req, res, 403, "Sign in", login_view { next = next_path, login = login, error = "The login or the password is wrong." })
    end
    if site.db:value("SELECT totp_secret IS NOT NULL FROM users WHERE id = ?", user.id) == 1 then
      -- The account's attempts are kept until the code is right too: forgetting them here let
      -- someone holding the password guess codes without end, 5 per challenge.
      local challenge = hex(core.random_bytes(32))
      site.transaction(function()
        site.db:exec("DELETE FROM login_challenges WHERE expires_at <= ?", time.now())
        site.db:exec("INSERT INTO login_challenges (id, user_id, expires_at) VALUES (?, ?, ?)",
          hash_of("challenge", challenge), user.id, time.format(os.time() + M.CHALLENGE_SECONDS))
      end)
      return M.page(req, res, 200, "Sign in: second step", { code_form = true, challenge = challenge, next = next_path })
    end
    signed_in(site, req, login, 1)
    return sign_in(req, res, user, next_path)
  end)
end

local function code_post(req, res)
  if not M.secure_context(req) then return insecure(req, res) end
  local site, quire = res.site, res.quire
  local form = req.form or {}
  local next_path = safe_next(form.next)
  local challenge = form.challenge
  local row = type(challenge) == "string" and #challenge == 64 and site.db:row(
    "SELECT user_id, tries FROM login_challenges WHERE id = ? AND expires_at > ?", hash_of("challenge", challenge), time.now())
  local user = row and quire.users.get(row.user_id)
  if not row or row.tries >= M.CHALLENGE_TRIES or not user or user.disabled ~= 0 then
    return M.page(req, res, 403, "Sign in", login_view { next = next_path, error = "That sign-in took too long or had too many wrong codes: start again." })
  end
  local wait = limited(site, attempt_keys(site, req, user.login))
  if wait then return too_many(req, res, wait, login_view { next = next_path, login = user.login }) end
  site.transaction(function() site.db:exec("UPDATE login_challenges SET tries = tries + 1 WHERE id = ?", hash_of("challenge", challenge)) end)
  if not totp_check(site, user.id, form.code) then
    site.transaction(function() site.audit("user.sign_in_failed", "login:" .. user.login, "wrong code from " .. tostring(req.remote or "")) end)
    return M.page(req, res, 403, "Sign in: second step", { code_form = true, challenge = challenge, next = next_path,
      error = "That code is wrong or was already used: enter the current one." })
  end
  site.transaction(function() site.db:exec("DELETE FROM login_challenges WHERE id = ?", hash_of("challenge", challenge)) end)
  signed_in(site, req, user.login, 2)
  return sign_in(req, res, user, next_path)
end

local function end_session(req, res, everywhere)
  local quire, site = res.quire, res.site
  if req.user then
    -- req.session.token: the token now (attach may have rotated the one the cookie sent).
    if everywhere then quire.users.close_sessions(req.user.id) else quire.users.close_session(req.session.token) end
    site.transaction(function()
      site.audit(everywhere and "user.signed_out_everywhere" or "user.signed_out", "user:" .. req.user.id)
    end)
  end
  clear_cookie(res)
  return res:redirect(M.LOGIN .. "?out=1", 303)
end

local GONE = "This link has expired or was already used. Ask an administrator for a new one (quire user reset-link LOGIN)."

local function reset_get(req, res)
  if not M.secure_context(req) then return insecure(req, res) end
  local row = reset_row(res.site, req.query.token)
  if not row then return M.page(req, res, 410, "Reset link", { error = GONE }) end
  return M.page(req, res, 200, "Choose a password", { reset_form = true, token = req.query.token, login = row.login })
end

local function reset_post(req, res)
  if not M.secure_context(req) then return insecure(req, res) end
  local site, quire = res.site, res.quire
  local form = req.form or {}
  local token = form.token
  local row = reset_row(site, token)
  if not row then return M.page(req, res, 410, "Reset link", { error = GONE }) end
  local pw, again = form.password, form.again
  local problem = (type(pw) ~= "string" or #pw < 10 or #pw > 1024) and "A password is 10 to 1024 characters."
    or pw ~= again and "The two passwords differ: type the same one twice." or nil
  if problem then
    return M.page(req, res, 400, "Choose a password", { reset_form = true, token = token, login = row.login, error = problem })
  end
  M.after_hash(res, { kind = "hash", password = pw }, function(hash, err)
    if err then return busy(req, res) end
    local done = site.transaction(function()
      -- Used once: the row is taken in the same transaction that sets the password.
      if site.db:exec("UPDATE password_resets SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?",
          time.now(), hash_of("reset", token), time.now()) ~= 1 then
        return false
      end
      site.db:exec("UPDATE users SET password_hash = ? WHERE id = ?", hash, row.user_id)
      site.db:exec("DELETE FROM sessions WHERE user_id = ?", row.user_id)
      site.db:exec("DELETE FROM login_attempts WHERE who = ?", "login:" .. row.login)
      site.acting({ id = row.user_id, name = row.login }, site.audit, "user.password_reset", "user:" .. row.user_id)
      return true
    end)
    if not done then return M.page(req, res, 410, "Reset link", { error = GONE }) end
    return res:redirect(M.LOGIN .. "?reset=1", 303)
  end)
end

-- The routes of the sign-in family, for app.lua: { method, pattern, handler }.
function M.routes()
  local routes = {
    { "GET", "/admin/login", login_get },
    { "POST", "/admin/login", login_post },
    { "POST", "/admin/login/code", code_post },
    { "POST", "/admin/logout", function(req, res) return end_session(req, res, false) end },
    { "POST", "/admin/logout/everywhere", function(req, res) return end_session(req, res, true) end },
    { "GET", "/admin/reset", reset_get },
    { "POST", "/admin/reset", reset_post },
    { "GET", "/admin/auth.css", function(_, res)
      res:header("content-type", "text/css; charset=utf-8")
      res:write(CSS)
    end },
  }
  return routes
end

return M
