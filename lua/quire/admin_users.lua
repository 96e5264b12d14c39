-- The admin's Users, Audit log and Account pages (a section of the admin shell, quire.admin):
-- invite (create + one-time password link), role changes, disable/enable, sign someone out
-- everywhere (admins); the audit log with filters and keyset pages (editors and admins); your
-- own account with "sign out everywhere" (everyone). Every change goes through quire.users, is
-- audited as the signed-in admin's (the request's actor), and has passed quire.auth's guard
-- (same origin, CSRF) before it gets here.
local auth = require "quire.auth"
local ROLES = require("quire.users").ROLES

local M = {}

M.AUDIT_PAGE = 100
local ROLE_NAMES = { "contributor", "author", "editor", "admin" }

local function roles(selected)
  local out = {}
  for _, r in ipairs(ROLE_NAMES) do out[#out + 1] = { name = r, selected = r == selected } end
  return out
end

-- An account change that would leave no enabled admin is refused (no one could manage users).
local function last_admin(site, id)
  return site.db:value("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> ?", id) == 0
end

function M.mount(admin)
  local quire, site = admin.quire, admin.site
  local db = site.db

  admin.nav { label = "Users", href = "/admin/users", role = "admin", order = 80 }
  admin.nav { label = "Audit log", href = "/admin/audit", role = "editor", order = 85 }
  admin.nav { label = "Account", href = "/admin/account", role = "contributor", order = 90 }

  local function link_of(token)
    return (quire.site.base_url or ""):gsub("/+$", "") .. "/admin/reset?token=" .. token
  end

  local function users_page(req, res, status, extra)
    local rows = db:rows("SELECT u.id, u.login, u.display_name, u.role, u.disabled, u.totp_secret IS NOT NULL AS totp,"
      .. " (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?) AS sessions"
      .. " FROM users u ORDER BY u.login", quire.time.now())
    for _, u in ipairs(rows) do
      u.roles, u.disabled, u.totp, u.one = roles(u.role), u.disabled == 1, u.totp == 1, u.sessions == 1
    end
    local view = { title = "Users", users = rows, form = {}, invite_roles = roles("author"), link = false }
    for k, v in pairs(extra or {}) do view[k] = v end
    if extra and extra.form and extra.form.role then view.invite_roles = roles(extra.form.role) end
    admin.render(req, res, "users", view, status)
  end

  local function refuse(req, res, status, text)
    return users_page(req, res, status, { flash = { kind = "error", text = text } })
  end

  local function done(req, res, text)
    return res:redirect("/admin/users?" .. admin.notice(req, "ok", text), 303)
  end

  -- An admin's action on the user a /users/{id}/ACTION route names (404 when there is none):
  -- fn(req, res, u).
  local function user_action(action, fn)
    admin.route("POST", "/users/{id:int}/" .. action, function(req, res)
      if not admin.guard(req, res, "admin") then return end
      local u = quire.users.get(req.params.id)
      if not u then return admin.fail(req, res, 404, "There is no such user.") end
      return fn(req, res, u)
    end)
  end

  admin.route("GET", "/users", function(req, res)
    if not admin.guard(req, res, "admin") then return end
    users_page(req, res, 200)
  end)

  admin.route("POST", "/users", function(req, res)
    if not admin.guard(req, res, "admin") then return end
    local f = req.form or {}
    local form = { login = f.login, name = f.name ~= "" and f.name or nil, email = f.email ~= "" and f.email or nil, role = f.role }
    local ok, err = pcall(site.transaction, function()
      local id = quire.users.create(form)
      site.audit("user.created", "user:" .. id, form.role or "author")
    end)
    if not ok then
      return users_page(req, res, 400, { form = form, flash = { kind = "error", text = "The account was not created: " .. admin.error_text(err) } })
    end
    local token, expires = auth.reset_token(quire, form.login)
    users_page(req, res, 201, { flash = { kind = "ok", text = form.login .. " is created." }, link = link_of(token),
      login = form.login, expires = admin.local_human(expires) })
  end)

  user_action("role", function(req, res, u)
    local role = (req.form or {}).role
    if not ROLES[role] then return refuse(req, res, 400, "A role is contributor, author, editor or admin.") end
    if u.role == "admin" and role ~= "admin" and last_admin(site, u.id) then
      return refuse(req, res, 409, u.login .. " is the last admin: make someone else an admin first.")
    end
    quire.users.set_role(u.id, role)
    done(req, res, ("%s is now %s; their sessions get a new token on their next request."):format(u.login, role))
  end)

  user_action("disable", function(req, res, u)
    if u.role == "admin" and last_admin(site, u.id) then
      return refuse(req, res, 409, u.login .. " is the last admin: make someone else an admin first.")
    end
    quire.users.set_disabled(u.id, true)
    done(req, res, u.login .. " is disabled and signed out everywhere.")
  end)

  user_action("enable", function(req, res, u)
    quire.users.set_disabled(u.id, false)
    done(req, res, u.login .. " may sign in again.")
  end)

  user_action("reset-link", function(req, res, u)
    local token, expires = auth.reset_token(quire, u.login)
    if not token then return refuse(req, res, 409, expires) end
    users_page(req, res, 200, { link = link_of(token), login = u.login, expires = admin.local_human(expires) })
  end)

  user_action("sign-out", function(req, res, u)
    site.transaction(function()
      quire.users.close_sessions(u.id)
      site.audit("user.signed_out_everywhere", "user:" .. u.id)
    end)
    done(req, res, "Every session of " .. u.login .. " has ended.")
  end)

  admin.route("GET", "/audit", function(req, res)
    if not admin.guard(req, res, "editor") then return end
    local q = req.query
    local function filter(v) return type(v) == "string" and v ~= "" and #v <= 200 and v or nil end
    local subject, action, actor = filter(q.subject), filter(q.action), filter(q.actor)
    local before = math.tointeger(tonumber(q.before or ""))
    -- Keyset pages: newest first; the next page starts below the last id shown.
    -- Only the filters given (a parameter's type is then always known to the store).
    local where, args = {}, {}
    for _, f in ipairs { { "subject = ?", subject }, { "action = ?", action }, { "actor = ?", actor }, { "id < ?", before } } do
      if f[2] ~= nil then where[#where + 1], args[#args + 1] = f[1], f[2] end
    end
    args[#args + 1] = M.AUDIT_PAGE + 1
    local rows = db:rows("SELECT id, at, actor, action, subject, detail FROM audit_log"
      .. (#where > 0 and " WHERE " .. table.concat(where, " AND ") or "") .. " ORDER BY id DESC LIMIT ?", table.unpack(args))
    local older = false
    if #rows > M.AUDIT_PAGE then
      rows[#rows] = nil
      local parts = { "before=" .. rows[#rows].id }
      for k, v in pairs { subject = subject, action = action, actor = actor } do parts[#parts + 1] = k .. "=" .. admin.url_encode(v) end
      table.sort(parts)
      older = "/admin/audit?" .. table.concat(parts, "&")
    end
    for _, r in ipairs(rows) do r.when, r.subject_href = admin.local_human(r.at), "/admin/audit?subject=" .. admin.url_encode(r.subject) end
    admin.render(req, res, "audit", { title = "Audit log", rows = rows, older = older, subject = subject or "",
      action = action or "", actor = actor or "", filtered = (subject or action or actor) ~= nil })
  end)

  admin.route("GET", "/account", function(req, res)
    local me = admin.guard(req, res)
    if not me then return end
    local sessions = db:value("SELECT count(*) FROM sessions WHERE user_id = ? AND expires_at > ?", me.id, quire.time.now())
    admin.render(req, res, "account", { title = "Your account", me = { name = me.display_name, login = me.login, role = me.role },
      sessions = sessions, one = sessions == 1, totp = db:value("SELECT totp_secret IS NOT NULL FROM users WHERE id = ?", me.id) == 1,
      expires = req.session and admin.local_human(req.session.expires_at) or "" })
  end)
end

return M
