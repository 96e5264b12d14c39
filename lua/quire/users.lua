-- Users: authors and staff. Passwords are stored only as argon2id hashes (set elsewhere).
local core = require "quire.core"
local types = require "quire.types"
local errors = require "quire.errors"
local copy = require("quire.memo").copy
local time = require "quire.time"

local M = {}
local ROLES = { admin = true, editor = true, author = true, contributor = true }
local PUBLIC = "id, login, display_name, email, bio, role, disabled, created_at"
M.ROLES = ROLES
-- What a password is checked against when there is no account (or a disabled one): an argon2id
-- hash with the same parameters, so an unknown login costs the same time as a wrong password.
M.DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$2mW8k4cBQxv0Jt+4yQq3v1m1dQh3fJc2hX5mDkJ1D0U"

function M.new(site)
  local db, transaction = site.db, site.transaction
  local api = {}

  local function create(u)
    local errs = {}
    if type(u.login) ~= "string" or not u.login:match("^[a-z0-9][a-z0-9._-]*$") or #u.login > 60 then
      errs[#errs + 1] = { field = "login", message = "must be 1-60 of a-z, 0-9, '.', '_' or '-'" }
    elseif db:row("SELECT 1 AS x FROM users WHERE login = ?", u.login) then
      errs[#errs + 1] = { field = "login", message = ("%q is taken"):format(u.login) }
    end
    local name = u.name or u.display_name or u.login
    local problem, cp, pos = core.text_check(name, true, nil, 200)
    if problem == "char" then
      errs[#errs + 1] = { field = "name", message = types.char_message(cp, pos) }
    elseif problem then
      errs[#errs + 1] = { field = "name", message = "must be UTF-8 text of at most 200 bytes" }
    end
    problem, cp, pos = core.text_check(u.bio, false, nil, 2000)
    if problem == "char" then
      errs[#errs + 1] = { field = "bio", message = types.char_message(cp, pos) }
    elseif problem and problem ~= "missing" then
      errs[#errs + 1] = { field = "bio", message = "must be UTF-8 text of at most 2000 bytes" }
    end
    if u.email ~= nil and (type(u.email) ~= "string" or not u.email:match("^[^@%s]+@[^@%s]+$")) then
      errs[#errs + 1] = { field = "email", message = "is not an email address" }
    end
    local role = u.role or "author"
    if not ROLES[role] then errs[#errs + 1] = { field = "role", message = "must be admin, editor, author or contributor" } end
    if #errs > 0 then errors.invalid("invalid user", errs) end
    local _, id = db:exec("INSERT INTO users (login, display_name, email, bio, role, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      u.login, name, u.email, u.bio, role, time.now())
    return id
  end

  function api.create(u)
    if type(u) ~= "table" then error("quire.users.create takes a table", 2) end
    return transaction(create, u)
  end

  local function load_user(by, key)
    return db:row("SELECT " .. PUBLIC .. " FROM users WHERE " .. by .. " = ?", key)
  end

  -- Memoised (quire.memo) until a write to the user bumps "user:ID" (its role, its account
  -- disabled; nothing else here changes what it reads); one not found, until any write. Each
  -- caller gets its own copy.
  local function user_tag(row) return row and "user:" .. row.id end
  function api.get(key)
    local row
    if math.type(key) == "integer" then
      row = site.memo.tagged("user\0" .. key, user_tag, load_user, "id", key)
    elseif type(key) == "string" then
      row = site.memo.tagged("login\0" .. key, user_tag, load_user, "login", key)
    else
      error("quire.users.get takes an id or a login", 2)
    end
    return row and copy(row)
  end

  -- An author as pages show them (never the account's email): { name, bio, url }, or nil. Made
  -- once per user row the memo keeps (weakly keyed by it: it goes when the row goes, at a write
  -- bumping "user:ID"), so a list's cards each copy three fields, not the account's eight.
  local authors = setmetatable({}, { __mode = "k" })
  function api.author(id)
    if math.type(id) ~= "integer" then error("quire.users.author takes an id", 2) end
    local row = site.memo.tagged("user\0" .. id, user_tag, load_user, "id", id)
    if not row then return nil end
    local a = authors[row]
    if not a then
      a = { name = row.display_name, bio = row.bio, url = "/author/" .. row.login }
      authors[row] = a
    end
    return { name = a.name, bio = a.bio, url = a.url }
  end

  -- Stores an argon2id hash of password (never the password) and ends the user's sessions: a
  -- password changed because it leaked must not leave the thief signed in.
  function api.set_password(id, password)
    if type(password) ~= "string" or #password < 10 or #password > 1024 then
      errors.raise("invalid", "a password is 10 to 1024 bytes")
    end
    local hash = core.password_hash(password)
    return transaction(function()
      if db:exec("UPDATE users SET password_hash = ? WHERE id = ?", hash, id) == 0 then
        errors.raise("not_found", ("no user %s"):format(tostring(id)))
      end
      db:exec("DELETE FROM sessions WHERE user_id = ?", id)
      return true
    end)
  end

  -- The hash a sign-in checks the password against, and the account when it may sign in:
  -- unknown and disabled logins get the dummy hash, so both cost the same as a wrong password.
  function api.password_hash_of(login)
    local row = type(login) == "string" and #login <= 60
      and db:row("SELECT id, password_hash, disabled FROM users WHERE login = ?", login)
    if row and row.password_hash and row.disabled == 0 then return row.password_hash, row.id end
    return M.DUMMY_HASH, nil
  end

  -- The user whose login and password match, or nil (same work either way, so timing does not
  -- tell whether the login exists). Blocks for the hash: a request handler uses quire.auth.
  function api.authenticate(login, password)
    local hash, id = api.password_hash_of(login)
    local ok = core.password_verify(hash, tostring(password or ""))
    if ok and id then return api.get(id) end
    return nil
  end

  -- Role change: the user's sessions are rotated on their next request (sessions.role).
  function api.set_role(id, role)
    if not ROLES[role] then errors.invalid("invalid user", { { field = "role", message = "must be admin, editor, author or contributor" } }) end
    return transaction(function()
      if db:exec("UPDATE users SET role = ? WHERE id = ?", role, id) == 0 then errors.raise("not_found", ("no user %s"):format(tostring(id))) end
      site.audit("user.role", "user:" .. id, role)
      site.bump({ ["user:" .. id] = true })
      return true
    end)
  end

  -- A disabled account cannot sign in and loses its sessions at once.
  function api.set_disabled(id, disabled)
    return transaction(function()
      if db:exec("UPDATE users SET disabled = ? WHERE id = ?", disabled and 1 or 0, id) == 0 then
        errors.raise("not_found", ("no user %s"):format(tostring(id)))
      end
      if disabled then db:exec("DELETE FROM sessions WHERE user_id = ?", id) end
      site.audit(disabled and "user.disabled" or "user.enabled", "user:" .. id)
      site.bump({ ["user:" .. id] = true })
      return true
    end)
  end

  -- Sessions of signed-in staff: the browser keeps a random token (cookie quire_session); the
  -- sessions table keeps only its hash, so a copy of the database signs nobody in.
  local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
  local function token_hash(token) return hex(core.hmac_sha256("quire session", token)) end

  -- Session lifetimes (limits.session_idle_seconds, limits.session_max_seconds).
  local function lifetimes()
    local l = site.config and site.config.limits or {}
    return l.session_idle_seconds or 8 * 3600, l.session_max_seconds or 7 * 86400
  end

  -- Opens a session for user id lasting ttl seconds at most (default limits.session_max_seconds);
  -- returns its token.
  function api.open_session(id, ttl)
    local token, csrf = hex(core.random_bytes(32)), hex(core.random_bytes(16))
    local idle, max = lifetimes()
    transaction(function()
      -- Sessions past their end are dropped here (signing in is rare enough to pay for it).
      db:exec("DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?", time.now(), time.format(os.time() - idle))
      local role = db:value("SELECT role FROM users WHERE id = ?", id)
      db:exec("INSERT INTO sessions (id, user_id, csrf, created_at, expires_at, last_seen, role) VALUES (?, ?, ?, ?, ?, ?, ?)",
        token_hash(token), id, csrf, time.now(), time.format(os.time() + (ttl or max)), time.now(), role)
    end)
    return token
  end

  -- The live session of a token: { user_id, csrf, role, last_seen, expires_at } or nil when it is
  -- unknown, past its absolute end, idle longer than limits.session_idle_seconds, or its user
  -- is disabled.
  local function live(token)
    if type(token) ~= "string" or #token ~= 64 or not token:match("^%x+$") then return nil end
    local idle = lifetimes()
    local row = db:row("SELECT s.user_id, s.csrf, s.role, s.last_seen, s.expires_at, s.created_at FROM sessions s"
      .. " JOIN users u ON u.id = s.user_id WHERE s.id = ? AND s.expires_at > ? AND u.disabled = 0",
      token_hash(token), time.now())
    if not row or (row.last_seen and row.last_seen <= time.format(os.time() - idle)) then return nil end
    return row
  end
  api.session = live

  -- Marks a session used now (written at most once a minute, or per half the idle time when
  -- that is shorter: each write makes the other workers re-read what they memoised).
  function api.touch_session(token, row)
    local idle = lifetimes()
    if row.last_seen and row.last_seen > time.format(os.time() - math.min(60, idle // 2)) then return end
    transaction(function() db:exec("UPDATE sessions SET last_seen = ? WHERE id = ?", time.now(), token_hash(token)) end)
  end

  -- A new token for the session of token (same user, same absolute end, same CSRF token so the
  -- forms already open still work; issued for the user's role now); the old token stops
  -- working. Returns the new token or nil.
  function api.rotate_session(token)
    local row = live(token)
    if not row then return nil end
    local fresh, csrf = hex(core.random_bytes(32)), row.csrf
    transaction(function()
      local role = db:value("SELECT role FROM users WHERE id = ?", row.user_id)
      db:exec("DELETE FROM sessions WHERE id = ?", token_hash(token))
      db:exec("INSERT INTO sessions (id, user_id, csrf, created_at, expires_at, last_seen, role) VALUES (?, ?, ?, ?, ?, ?, ?)",
        token_hash(fresh), row.user_id, csrf, row.created_at, row.expires_at, time.now(), role)
    end)
    return fresh
  end

  -- Ends one session (sign out), or every session of a user (sign out everywhere).
  function api.close_session(token)
    if type(token) ~= "string" then return end
    transaction(function() db:exec("DELETE FROM sessions WHERE id = ?", token_hash(token)) end)
  end
  function api.close_sessions(user_id)
    return transaction(function() return db:exec("DELETE FROM sessions WHERE user_id = ?", user_id) end)
  end

  -- The user a session token belongs to, or nil when it is unknown, expired or disabled.
  function api.session_user(token)
    local row = live(token)
    return row and api.get(row.user_id)
  end

  -- The CSRF token of a live session (what a form or X-CSRF-Token must send back), or nil.
  function api.session_csrf(token)
    local row = live(token)
    return row and row.csrf
  end

  function api.list()
    return db:rows("SELECT " .. PUBLIC .. " FROM users ORDER BY login")
  end

  return api
end

return M
