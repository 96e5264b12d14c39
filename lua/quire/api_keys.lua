-- API keys (migration 0011): Content API keys (passed as ?key=, found by their HMAC) and Admin
-- API keys, which sign short-lived HS256 tokens (JWT, as Ghost's admin keys do) and act as a
-- staff user with a role. `quire api-key add|list|revoke`. A key is shown once; neither kind's
-- secret is stored (an admin key's is derived again from the site's secret and its salt).
local core = require "quire.core"
local cjson = require "cjson"
local time = require "quire.time"
local errors = require "quire.errors"
local tokens = require "quire.tokens"

local M = {}

M.AUDIENCE = "/api/admin/v1/"
M.TOKEN_MAX_SECONDS = 300 -- a token's exp - iat
M.SKEW = 60               -- seconds a client's clock may run ahead

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function content_hash(secret) return hex(core.hmac_sha256("quire content api key", secret)) end

function M.new(quire, site)
  local db = site.db
  local keys = {}

  -- The site's secret (settings.secret, made by quire.tokens on first use).
  local function site_secret()
    quire.tokens.sign("api-key", "") -- makes the secret if there is none yet
    return db:value("SELECT value FROM settings WHERE key = 'secret'")
  end
  local function admin_secret(id, salt)
    return hex(core.hmac_sha256(site_secret(), "api admin key\0" .. id .. "\0" .. salt))
  end

  -- add(name, { content = true } | { role = R }, cors) -> id, the key to show once.
  function keys.add(name, opts, cors)
    if type(name) ~= "string" or not name:match("^[a-z0-9][a-z0-9._-]*$") or #name > 50 then
      errors.raise("invalid", "a key's name is 1-50 of a-z, 0-9, '.', '_' or '-'")
    end
    cors = cors or ""
    for o in cors:gmatch("%S+") do
      if o ~= "*" and not (o:match("^https?://[%w%.%-]+$") or o:match("^https?://[%w%.%-]+:%d+$")) then
        errors.raise("invalid", ("--cors takes origins such as https://app.example (scheme, host, port; no path) or *, got %q"):format(o))
      end
    end
    return site.transaction(function()
      if db:row("SELECT 1 AS x FROM api_keys WHERE name = ?", name) then errors.raise("invalid", ("there is already a key named %q"):format(name)) end
      local now = time.now()
      if opts.content then
        local secret = hex(core.random_bytes(16))
        local _, id = db:exec("INSERT INTO api_keys (name, kind, secret_hash, cors, created_at) VALUES (?, 'content', ?, ?, ?)",
          name, content_hash(secret), cors, now)
        site.audit("api_key.added", "api_key:" .. id, "content " .. name)
        return id, secret
      end
      local role = opts.role
      if not require("quire.workflow").ROLE_RANK[role] then errors.raise("invalid", "--role must be contributor, author, editor or admin") end
      local uid
      -- The key acts as a user of its own (no password, no email), so role checks, revisions and
      -- the audit log name it like any staff member.
      local login = "api-" .. name
      local u = quire.users.get(login)
      if u then
        if u.role ~= role then errors.raise("invalid", ("user %s exists with role %s"):format(login, u.role)) end
        uid = u.id
      else
        uid = quire.users.create { login = login, name = "API key " .. name, role = role }
      end
      local salt = hex(core.random_bytes(16))
      local _, id = db:exec("INSERT INTO api_keys (name, kind, user_id, salt, cors, created_at) VALUES (?, 'admin', ?, ?, ?, ?)",
        name, uid, salt, cors, now)
      site.audit("api_key.added", "api_key:" .. id, "admin " .. name .. " as " .. login)
      return id, id .. ":" .. admin_secret(id, salt)
    end)
  end

  function keys.list()
    return db:rows("SELECT k.id, k.name, k.kind, coalesce(u.role, '') AS role, coalesce(u.login, '') AS acts_as, k.cors, k.created_at,"
      .. " coalesce(k.last_used, '') AS last_used FROM api_keys k LEFT JOIN users u ON u.id = k.user_id ORDER BY k.id")
  end

  -- Deletes a key (by name); what quire's cache kept under it goes too.
  function keys.revoke(name)
    return site.transaction(function()
      local row = db:row("SELECT id FROM api_keys WHERE name = ?", name)
      if not row then errors.raise("not_found", ("no key named %q"):format(tostring(name))) end
      db:exec("DELETE FROM api_keys WHERE id = ?", row.id)
      db:exec("DELETE FROM api_rate WHERE who = ?", "key:" .. row.id)
      db:exec("DELETE FROM api_idempotency WHERE who = ?", "key:" .. row.id)
      site.audit("api_key.revoked", "api_key:" .. row.id, name)
      site.bump({ ["api-keys"] = true })
      return true
    end)
  end

  -- The content key row for a presented key, or nil. Memoised until a key is revoked (tag
  -- "api-keys"); none found, until the next write (a key may be created).
  function keys.content_key(secret)
    if #secret ~= 32 or secret:find("[^0-9a-f]") then return nil end
    return site.memo.tagged("api-key\0" .. secret, function(row) return row and "api-keys" end, function()
      return db:row("SELECT id, name, cors FROM api_keys WHERE kind = 'content' AND secret_hash = ?", content_hash(secret))
    end)
  end

  local api -- quire.api, for its errors
  local function fail(...) api = api or require("quire.api"); api.fail(...) end

  -- Requests per caller per minute, counted in the store (shared by the workers); then the
  -- route's least role.
  local function rate_and_role(who, user, role, settings)
    local now = os.time()
    local window = now // 60
    local count = site.transaction(function()
      -- "window" quoted: a reserved word in PostgreSQL (SQLite takes the quotes too).
      local n = db:value('INSERT INTO api_rate (who, "window", count) VALUES (?, ?, 1)'
        .. ' ON CONFLICT (who, "window") DO UPDATE SET count = api_rate.count + 1 RETURNING count', who, window)
      if n == 1 then db:exec('DELETE FROM api_rate WHERE who = ? AND "window" < ?', who, window) end
      return n
    end)
    if count > settings.admin_rate then
      fail(429, "rate_limited", ("more than %d requests this minute (api.admin_rate)"):format(settings.admin_rate),
        { retry_after = 60 - now % 60 })
    end
    local rank = require("quire.workflow").ROLE_RANK
    if rank[user.role] < rank[role or "contributor"] then
      fail(403, "forbidden", ("this caller acts as %s, %s %s; this takes %s %s"):format(user.login,
        user.role:match("^[aeiou]") and "an" or "a", user.role, (role or ""):match("^[aeiou]") and "an" or "a", role))
    end
  end

  -- Checks an Admin API request's token: Authorization: Bearer <header.payload.signature>,
  -- HS256 over the key's secret, header kid = the key's id, payload aud = M.AUDIENCE, iat and
  -- exp at most five minutes apart, not expired. A signed-in staff member's browser may call it
  -- too (the web admin): the session cookie, and for changes its CSRF token in X-CSRF-Token.
  -- Then the rate limit and the route's role. Returns the caller ({ who =, id = key id }) and
  -- the user it acts as.
  function keys.admin_auth(req, role, settings)
    local auth = req.headers.authorization
    if auth == nil and req.user then
      if req.method ~= "GET" and req.method ~= "HEAD" then
        local want = req.session and req.session.csrf -- quire.auth.attach
        local got = req.headers["x-csrf-token"]
        if not want or type(got) ~= "string" or not core.equal(want, got) then
          fail(403, "csrf", "a change made with a session cookie needs the session's CSRF token in X-CSRF-Token")
        end
      end
      rate_and_role("user:" .. req.user.id, req.user, role, settings)
      return { who = "user:" .. req.user.id }, req.user
    end
    if auth == nil then fail(401, "token_required", "send Authorization: Bearer TOKEN, a JWT signed with an admin key (quire api-key add NAME --role ROLE), or sign in") end
    local token = #auth <= 4096 and auth:match("^[Bb]earer +(%S+)$")
    local h64, p64, s64 = (token or ""):match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]+)$")
    if not h64 then fail(401, "invalid_token", "the token is not a JWT (header.payload.signature, base64url)") end
    local function decode(part)
      local raw = tokens.unb64url(part)
      local ok, v = pcall(cjson.decode, raw or "")
      return ok and type(v) == "table" and v or nil
    end
    local header, payload = decode(h64), decode(p64)
    if not header or not payload then fail(401, "invalid_token", "the token's header or payload is not JSON") end
    if header.alg ~= "HS256" then fail(401, "invalid_token", "the token must be signed with HS256") end
    local kid = type(header.kid) == "string" and header.kid:match("^%d+$") and math.tointeger(tonumber(header.kid))
    local key = kid and db:row("SELECT k.id, k.name, k.salt, k.cors, k.user_id, k.last_used FROM api_keys k WHERE k.id = ? AND k.kind = 'admin'", kid)
    if not key then fail(401, "invalid_token", "the token's kid names no admin key") end
    local want = tokens.b64url(core.hmac_sha256(admin_secret(key.id, key.salt), h64 .. "." .. p64))
    if not core.equal(want, s64) then fail(401, "invalid_token", "the token's signature does not match its key") end
    if payload.aud ~= M.AUDIENCE then fail(401, "invalid_token", ("the token's aud must be %q"):format(M.AUDIENCE)) end
    local now = os.time()
    local iat = type(payload.iat) == "number" and math.tointeger(payload.iat)
    local exp = type(payload.exp) == "number" and math.tointeger(payload.exp)
    if not iat or not exp then fail(401, "invalid_token", "the token needs iat and exp (seconds since 1970)") end
    if exp - iat > M.TOKEN_MAX_SECONDS or exp <= iat then fail(401, "invalid_token", "a token may last at most 5 minutes (exp - iat <= 300)") end
    if iat > now + M.SKEW then fail(401, "invalid_token", "the token's iat is in the future (check the client's clock)") end
    if exp <= now then fail(401, "token_expired", "the token has expired: sign a new one") end
    local user = quire.users.get(key.user_id)
    -- The key acts as its user: disabling that account stops the key too.
    if not user or user.disabled ~= 0 then
      fail(401, "key_disabled", ("the key's user %s is disabled (quire user enable %s, or use another key)"):format(
        user and user.login or "?", user and user.login or "LOGIN"))
    end
    rate_and_role("key:" .. key.id, user, role, settings)
    if (key.last_used or "") < time.format(now - 60) then -- once a minute at most
      site.transaction(function() db:exec("UPDATE api_keys SET last_used = ? WHERE id = ?", time.now(), key.id) end)
    end
    key.salt, key.who = nil, "key:" .. key.id
    return key, user
  end

  return keys
end

-- `quire api-key add NAME (--content | --role ROLE) [--cors ORIGINS]`, list, revoke NAME.
function M.install(commands, help, cli)
  help["api-key"] = [[
usage: quire api-key add NAME --content [--cors ORIGINS] [--site DIR]
       quire api-key add NAME --role contributor|author|editor|admin [--site DIR]
       quire api-key list [--site DIR]
       quire api-key revoke NAME [--site DIR]

A Content API key reads /api/content/v1/ (?key=KEY) when site.lua does not open it (api =
{ content = "open" }); --cors "https://app.example https://b.example" or "*" lets browsers on
those origins read the answers. An Admin API key (--role) signs short-lived HS256 tokens for
/api/admin/v1/ (header kid = the key's id, aud = "/api/admin/v1/", exp at most 5 minutes after
iat) and acts as a user of its own, api-NAME, with that role. The key is printed once: it is
not stored.]]
  commands["api-key"] = function(argv)
    local sub = argv[2]
    if sub == nil or sub == "--help" or sub == "-h" then print(help["api-key"]) return sub and 0 or 2 end
    local opts, args = cli.parse("api-key " .. sub, argv, 3, { site = "value", content = "flag", role = "value", cors = "value" })
    if not opts then io.stderr:write("quire: ", args, "\n") return 2 end
    if opts.help then print(help["api-key"]) return 0 end
    local function fail(code, msg) io.stderr:write("quire: ", msg, "\n") return code end
    if sub ~= "add" and sub ~= "list" and sub ~= "revoke" then return fail(2, ("unknown command 'quire api-key %s' (see quire api-key --help)"):format(sub)) end
    if (sub == "list" and #args ~= 0) or (sub ~= "list" and #args ~= 1) then return fail(2, help["api-key"]:match("^[^\n]+")) end
    if sub == "add" and (opts.content and opts.role or not (opts.content or opts.role)) then
      return fail(2, "api-key add takes --content or --role ROLE (one of them)")
    end
    local quire, err = cli.open_site(opts, { memory_cap = false, cli = true })
    if not quire then return fail(1, err) end
    local keys = M.new(quire, quire._site)
    local ok, res, secret = pcall(function()
      if sub == "add" then return keys.add(args[1], { content = opts.content, role = opts.role }, opts.cors) end
      if sub == "revoke" then return keys.revoke(args[1]) end
      return keys.list()
    end)
    quire._db:close()
    if not ok then return fail(1, tostring(errors.is(res) and res.text or res)) end
    if sub == "add" then
      print(("key %s (id %d): %s"):format(args[1], res, secret))
      io.stderr:write("quire: this key is shown once and not stored; keep it now\n")
    elseif sub == "revoke" then
      print(("revoked key %s"):format(args[1]))
    else
      for _, k in ipairs(res) do
        print(("%d\t%s\t%s\t%s\t%s\t%s\t%s"):format(k.id, k.name, k.kind, k.acts_as ~= "" and (k.acts_as .. " (" .. k.role .. ")") or "-",
          k.cors ~= "" and k.cors or "-", k.created_at, k.last_used ~= "" and k.last_used or "never"))
      end
    end
    return 0
  end
end

return M
