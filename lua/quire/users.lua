-- Users: authors and staff. Passwords are stored only as argon2id hashes (set elsewhere).
local core = require "quire.core"
local errors = require "quire.errors"
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
    if type(name) ~= "string" or name == "" or not core.utf8_valid(name) or #name > 200 then
      errs[#errs + 1] = { field = "name", message = "must be UTF-8 text of at most 200 bytes" }
    end
    if u.bio ~= nil and (type(u.bio) ~= "string" or not core.utf8_valid(u.bio) or #u.bio > 2000) then
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

  function api.get(key)
    if math.type(key) == "integer" then return db:row("SELECT " .. PUBLIC .. " FROM users WHERE id = ?", key) end
    if type(key) == "string" then return db:row("SELECT " .. PUBLIC .. " FROM users WHERE login = ?", key) end
    error("quire.users.get takes an id or a login", 2)
  end

  function api.list()
    return db:rows("SELECT " .. PUBLIC .. " FROM users ORDER BY login")
  end

  return api
end

return M
