-- Users: authors and staff. Passwords are stored only as argon2id hashes (set elsewhere).
local core = require "quire.core"
local types = require "quire.types"
local errors = require "quire.errors"
local copy = require("quire.memo").copy
local time = require "quire.time"

local M = {}
local ROLES = { admin = true, editor = true, author = true, contributor = true }
local PUBLIC = "id, login, display_name, email, bio, role, created_at"

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

  -- Memoised until the next write (quire.memo); each caller gets its own copy.
  function api.get(key)
    local row
    if math.type(key) == "integer" then
      row = site.memo.get("user\0" .. key, load_user, "id", key)
    elseif type(key) == "string" then
      row = site.memo.get("login\0" .. key, load_user, "login", key)
    else
      error("quire.users.get takes an id or a login", 2)
    end
    return row and copy(row)
  end

  -- Stores an argon2id hash of password (never the password).
  function api.set_password(id, password)
    if type(password) ~= "string" or #password < 10 or #password > 1024 then
      errors.raise("invalid", "a password is 10 to 1024 bytes")
    end
    local hash = core.password_hash(password)
    return transaction(function()
      if db:exec("UPDATE users SET password_hash = ? WHERE id = ?", hash, id) == 0 then
        errors.raise("not_found", ("no user %s"):format(tostring(id)))
      end
      return true
    end)
  end

  -- The user whose login and password match, or nil (same work either way, so timing does not
  -- tell whether the login exists).
  function api.authenticate(login, password)
    local row = type(login) == "string" and db:row("SELECT id, password_hash FROM users WHERE login = ?", login)
    local hash = row and row.password_hash
      or "$argon2id$v=19$m=65536,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$2mW8k4cBQxv0Jt+4yQq3v1m1dQh3fJc2hX5mDkJ1D0U"
    local ok = core.password_verify(hash, tostring(password or ""))
    if ok and row and row.password_hash then return api.get(row.id) end
    return nil
  end

  -- Sessions of signed-in staff: the browser keeps a random token (cookie quire_session); the
  -- sessions table keeps only its hash, so a copy of the database signs nobody in.
  local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
  local function token_hash(token) return hex(core.hmac_sha256("quire session", token)) end

  -- Opens a session for user id lasting ttl seconds (default a day); returns its token.
  function api.open_session(id, ttl)
    local token, csrf = hex(core.random_bytes(32)), hex(core.random_bytes(16))
    transaction(function()
      db:exec("INSERT INTO sessions (id, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        token_hash(token), id, csrf, time.now(), time.format(os.time() + (ttl or 86400)))
    end)
    return token
  end

  -- The user a session token belongs to, or nil when it is unknown or expired.
  function api.session_user(token)
    if type(token) ~= "string" or not token:match("^%x+$") then return nil end
    local row = db:row("SELECT user_id FROM sessions WHERE id = ? AND expires_at > ?", token_hash(token), time.now())
    return row and api.get(row.user_id)
  end

  -- The CSRF token of a live session (what a form or X-CSRF-Token must send back), or nil.
  function api.session_csrf(token)
    if type(token) ~= "string" or not token:match("^%x+$") then return nil end
    return db:value("SELECT csrf FROM sessions WHERE id = ? AND expires_at > ?", token_hash(token), time.now())
  end

  function api.list()
    return db:rows("SELECT " .. PUBLIC .. " FROM users ORDER BY login")
  end

  return api
end

return M
