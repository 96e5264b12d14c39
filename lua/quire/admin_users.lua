-- The admin's Users and Audit log pages: invite (create + one-time reset link), role changes,
-- disable/enable, sign a user out everywhere; the audit log with filters. Admins only (the
-- audit log: editors too). Every change goes through quire.users, is audited, and passes the
-- /admin guard (same origin, CSRF) before it gets here. Rendered with a small layout of its own
-- (the admin shell's navigation links to /admin/users and /admin/audit).
local auth = require "quire.auth"
local ROLES = require("quire.users").ROLES

local M = {}

M.AUDIT_PAGE = 100

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
<header class="bar"><a href="/admin">Admin</a> <a href="/admin/users">Users</a> <a href="/admin/audit">Audit log</a> <a href="/admin/account">{{me}}</a></header>
<main class="wide">
<h1>{{title}}</h1>
{{#flash}}<p class="notice" role="status">{{flash}}</p>{{/flash}}
{{#error}}<p class="error" role="alert" id="form-error">{{error}}</p>{{/error}}
{{#link}}<p class="notice" role="status">One-time link to set a password for <strong>{{login}}</strong>, valid until {{expires}} (shown once; send it to them):</p>
<p><input readonly aria-label="Password link for {{login}}" value="{{link}}"></p>{{/link}}
{{$body}}{{/body}}
</main>
</body>
</html>
]]

local USERS = [[{{<layout}}{{$body}}
<table>
<caption>Staff accounts</caption>
<thead><tr><th scope="col">Login</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
<tbody>
{{#users}}
<tr>
<th scope="row">{{login}}</th><td>{{display_name}}</td>
<td><form method="post" action="/admin/users/{{id}}/role"><input type="hidden" name="csrf" value="{{csrf}}">
<label class="inline" for="role-{{id}}">Role of {{login}}</label>
<select id="role-{{id}}" name="role">{{#roles}}<option value="{{name}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/roles}}</select>
<button type="submit">Change</button></form></td>
<td>{{#disabled}}disabled{{/disabled}}{{^disabled}}active{{/disabled}}{{#totp}}, second factor on{{/totp}}; {{sessions}} session{{^one}}s{{/one}}</td>
<td>
<form method="post" action="/admin/users/{{id}}/{{#disabled}}enable{{/disabled}}{{^disabled}}disable{{/disabled}}"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">{{#disabled}}Enable {{login}}{{/disabled}}{{^disabled}}Disable {{login}}{{/disabled}}</button></form>
<form method="post" action="/admin/users/{{id}}/reset-link"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">New password link for {{login}}</button></form>
<form method="post" action="/admin/users/{{id}}/sign-out"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Sign {{login}} out everywhere</button></form>
</td>
</tr>
{{/users}}
</tbody>
</table>
<h2>Invite someone</h2>
<form method="post" action="/admin/users">
<input type="hidden" name="csrf" value="{{csrf}}">
<p><label for="login">Login</label><input id="login" name="login" required maxlength="60" pattern="[a-z0-9][a-z0-9._\-]*" value="{{form.login}}" aria-describedby="login-help"> <span id="login-help">a-z, 0-9, '.', '_' or '-'</span></p>
<p><label for="name">Name</label><input id="name" name="name" maxlength="200" value="{{form.name}}"></p>
<p><label for="email">Email</label><input id="email" name="email" type="email" maxlength="200" value="{{form.email}}"></p>
<p><label for="role">Role</label><select id="role" name="role">{{#invite_roles}}<option value="{{name}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/invite_roles}}</select></p>
<p><button type="submit">Create the account and a password link</button></p>
</form>
{{/body}}{{/layout}}]]

local AUDIT = [[{{<layout}}{{$body}}
<form method="get" action="/admin/audit" class="filters">
<p><label for="subject">Subject</label><input id="subject" name="subject" value="{{subject}}" placeholder="entry:12, user:3, login:ann"></p>
<p><label for="action">Action</label><input id="action" name="action" value="{{action}}" placeholder="user.signed_in, entry.deleted"></p>
<p><label for="actor">Who</label><input id="actor" name="actor" value="{{actor}}"></p>
<p><button type="submit">Filter</button></p>
</form>
<table>
<caption>Changes, newest first</caption>
<thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Subject</th><th scope="col">Detail</th></tr></thead>
<tbody>
{{#rows}}<tr><td>{{at}}</td><td>{{actor}}</td><td>{{action}}</td><td>{{subject}}</td><td>{{detail}}</td></tr>{{/rows}}
{{^rows}}<tr><td colspan="5">Nothing recorded{{#filtered}} that matches{{/filtered}}.</td></tr>{{/rows}}
</tbody>
</table>
{{#older}}<p><a href="{{older}}">Older</a></p>{{/older}}
{{/body}}{{/layout}}]]

local CSS_EXTRA = [[
.wide { max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
.bar { background: #1a1a1a; padding: .5rem 1rem; }
.bar a { color: #fff; margin-right: 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3rem; border-bottom: 1px solid #ccc; }
td form { display: inline-block; margin: 0 .3rem .3rem 0; }
td input, td select { width: auto; }
.inline { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.filters p { display: inline-block; margin-right: 1rem; }
.filters input { width: auto; }
]]
M.CSS = CSS_EXTRA

local function page(req, res, status, source, title, view)
  view.title, view.site = title, res.quire.site.name
  view.me = req.user and req.user.login or ""
  res.status = status
  res.parts = { res.quire.template.render_string(source, view, { partials = { layout = LAYOUT } }) }
  res.headers["content-type"] = "text/html; charset=utf-8"
  return res
end

local ROLE_NAMES = { "contributor", "author", "editor", "admin" }

local function roles(selected)
  local out = {}
  for _, r in ipairs(ROLE_NAMES) do out[#out + 1] = { name = r, selected = r == selected } end
  return out
end

local function users_page(req, res, status, extra)
  local site = res.site
  local csrf = auth.csrf(req)
  local rows = site.db:rows("SELECT u.id, u.login, u.display_name, u.role, u.disabled, u.totp_secret IS NOT NULL AS totp,"
    .. " (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) AS sessions"
    .. " FROM users u ORDER BY u.login")
  for _, u in ipairs(rows) do
    u.csrf, u.roles, u.disabled, u.totp, u.one = csrf, roles(u.role), u.disabled == 1, u.totp == 1, u.sessions == 1
  end
  local view = { users = rows, csrf = csrf, form = {}, invite_roles = roles("author") }
  for k, v in pairs(extra or {}) do view[k] = v end
  if extra and extra.form and extra.form.role then view.invite_roles = roles(extra.form.role) end
  return page(req, res, status, USERS, "Users", view)
end

local function back(res, flash)
  return res:redirect("/admin/users?done=" .. flash, 303)
end

local FLASH = { role = "The role is changed; their sessions get a new token on their next request.",
  disabled = "The account is disabled and signed out everywhere.", enabled = "The account may sign in again.",
  signed_out = "Every session of that account has ended." }

local function target(req, res)
  local u = res.quire.users.get(math.tointeger(tonumber(req.params.id)) or -1)
  if not u then res:error(404) end
  return u
end

-- An account change that would leave no enabled admin is refused (no one could manage users).
local function last_admin(site, id)
  return site.db:value("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> ?", id) == 0
end

-- The routes, for app.lua (through quire.auth's list): { method, pattern, handler }.
function M.routes()
  return {
    { "GET", "/admin/users", function(req, res)
      if not auth.staff(req, res, { role = "admin" }) then return end
      return users_page(req, res, 200, { flash = FLASH[req.query.done] })
    end },
    { "POST", "/admin/users", function(req, res)
      if not auth.staff(req, res, { role = "admin" }) then return end
      local f, quire = req.form or {}, res.quire
      local form = { login = f.login, name = f.name ~= "" and f.name or nil, email = f.email ~= "" and f.email or nil, role = f.role }
      local ok, err = pcall(quire.users.create, form)
      if not ok then
        local msgs = {}
        for _, e in ipairs(type(err) == "table" and err.errors or {}) do msgs[#msgs + 1] = e.field .. " " .. e.message end
        return users_page(req, res, 400, { form = form, error = #msgs > 0 and ("The account was not created: " .. table.concat(msgs, "; ") .. ".")
          or "The account was not created: " .. tostring(type(err) == "table" and err.text or err) })
      end
      local token, expires = auth.reset_token(quire, form.login)
      local base = (quire.site.base_url or ""):gsub("/+$", "")
      return users_page(req, res, 201, { flash = form.login .. " is created.", link = base .. "/admin/reset?token=" .. token,
        login = form.login, expires = expires })
    end },
    { "POST", "/admin/users/{id:int}/role", function(req, res)
      local me = auth.staff(req, res, { role = "admin" })
      if not me then return end
      local u = target(req, res)
      if not u then return end
      local role = (req.form or {}).role
      if not ROLES[role] then return users_page(req, res, 400, { error = "A role is contributor, author, editor or admin." }) end
      if u.role == "admin" and role ~= "admin" and last_admin(res.site, u.id) then
        return users_page(req, res, 409, { error = u.login .. " is the last admin: make someone else an admin first." })
      end
      res.quire.users.set_role(u.id, role)
      return back(res, "role")
    end },
    { "POST", "/admin/users/{id:int}/disable", function(req, res)
      if not auth.staff(req, res, { role = "admin" }) then return end
      local u = target(req, res)
      if not u then return end
      if u.role == "admin" and last_admin(res.site, u.id) then
        return users_page(req, res, 409, { error = u.login .. " is the last admin: make someone else an admin first." })
      end
      res.quire.users.set_disabled(u.id, true)
      return back(res, "disabled")
    end },
    { "POST", "/admin/users/{id:int}/enable", function(req, res)
      if not auth.staff(req, res, { role = "admin" }) then return end
      local u = target(req, res)
      if not u then return end
      res.quire.users.set_disabled(u.id, false)
      return back(res, "enabled")
    end },
    { "POST", "/admin/users/{id:int}/reset-link", function(req, res)
      if not auth.staff(req, res, { role = "admin" }) then return end
      local u = target(req, res)
      if not u then return end
      local token, expires = auth.reset_token(res.quire, u.login)
      if not token then return users_page(req, res, 409, { error = expires }) end
      local base = (res.quire.site.base_url or ""):gsub("/+$", "")
      return users_page(req, res, 200, { link = base .. "/admin/reset?token=" .. token, login = u.login, expires = expires })
    end },
    { "POST", "/admin/users/{id:int}/sign-out", function(req, res)
      if not auth.staff(req, res, { role = "admin" }) then return end
      local u = target(req, res)
      if not u then return end
      local site = res.site
      site.transaction(function()
        res.quire.users.close_sessions(u.id)
        site.audit("user.signed_out_everywhere", "user:" .. u.id)
      end)
      return back(res, "signed_out")
    end },
    { "GET", "/admin/audit", function(req, res)
      if not auth.staff(req, res, { role = "editor" }) then return end
      local q = req.query
      local function filter(v) return type(v) == "string" and v ~= "" and #v <= 200 and v or nil end
      local subject, action, actor = filter(q.subject), filter(q.action), filter(q.actor)
      local before = math.tointeger(tonumber(q.before or ""))
      -- Keyset pagination: newest first, the next page starts below the last id shown.
      local rows = res.site.db:rows("SELECT id, at, actor, action, subject, detail FROM audit_log"
        .. " WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR actor = ?3)"
        .. " AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5", subject, action, actor, before, M.AUDIT_PAGE + 1)
      local older
      if #rows > M.AUDIT_PAGE then
        rows[#rows] = nil
        local parts = { "before=" .. rows[#rows].id }
        for k, v in pairs { subject = subject, action = action, actor = actor } do
          parts[#parts + 1] = k .. "=" .. v:gsub("[^%w%-%._~:]", function(c) return ("%%%02X"):format(c:byte()) end)
        end
        table.sort(parts)
        older = "/admin/audit?" .. table.concat(parts, "&")
      end
      return page(req, res, 200, AUDIT, "Audit log", { rows = rows, older = older, subject = subject, action = action,
        actor = actor, filtered = subject or action or actor })
    end },
  }
end

return M
