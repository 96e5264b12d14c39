-- The web admin's shell (/admin): its routes, the sign-in guard and role checks every handler
-- makes first, form checks (CSRF, Origin), and pages rendered from its own templates
-- (admin/templates: layout.mustache and one template per page) with its own stylesheet and
-- script (admin/static, served at /static/admin/). Pages are server-rendered forms that work
-- without JavaScript; admin.js only improves them. Every admin answer is private: never kept by
-- the page cache or shared caches.
-- The pages themselves live in the modules of M.SECTIONS; each exports mount(admin) and adds
-- its routes with admin.route and its navigation links with admin.nav.
local core = require "quire.core"
local RANK = require("quire.workflow").ROLE_RANK
local auth = require "quire.auth"

local M = {}

M.PREFIX = "/admin"
M.SECTIONS = { "quire.admin_entries", "quire.admin_editor", "quire.admin_media", "quire.admin_comments", "quire.admin_users" }

-- Where the admin's templates and static files are: beside the bundled plugins (the source
-- tree's admin/, or share/quire/admin once installed).
function M.dir()
  return os.getenv("QUIRE_ADMIN_DIR") or (core.bundled_plugins:gsub("/+$", ""):gsub("/[^/]+$", "") .. "/admin")
end

-- The headers of every admin answer: never cached, no inline script, not framed by other sites.
M.CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; object-src 'none';"
  .. " base-uri 'none'; form-action 'self'; frame-ancestors 'self'"

local function escape(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end
M.escape = escape

local function url_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end
M.url_encode = url_encode

function M.new(quire, site)
  local admin = { routes = {}, navs = {}, quire = quire, site = site }
  local templates = require("quire.template").new({ template_dirs = { M.dir() .. "/templates" }, config = site.config })
  admin.templates = templates

  -- Marks res as an admin answer (private, never stored).
  local function private(res)
    res.private = true
    res:header("cache-control", "no-store")
    res:header("content-security-policy", M.CSP)
    res:header("x-frame-options", "SAMEORIGIN")
    res:header("referrer-policy", "same-origin")
    res:header("x-content-type-options", "nosniff")
  end
  admin.private = private

  -- The signed-in user with at least role (default contributor), or nil after answering (the
  -- sign-in page, or 403). Sign-in, sessions and the CSRF/same-origin guard every
  -- state-changing /admin request passes before its handler are quire.auth's (app.lua).
  function admin.guard(req, res, role)
    private(res)
    return auth.staff(req, res, { role = role })
  end

  -- The CSRF token the forms of this request's page carry.
  function admin.csrf(req)
    return auth.csrf(req) or ""
  end

  -- "KIND=TEXT&n=MAC": for the address a form's answer redirects to, whose page shows TEXT as
  -- a notice (KIND ok or error) to this session only (auth.notice_mac).
  function admin.notice(req, kind, text)
    return ("%s=%s&n=%s"):format(kind, admin.url_encode(text), auth.notice_mac(req, kind, text) or "")
  end

  -- The notice of kind the request's address carries when this session's admin wrote it
  -- (admin.notice), as a flash { kind =, text = prefix .. text }; else nil.
  function admin.notice_of(req, kind, prefix)
    local text = req.query[kind]
    local mac = type(text) == "string" and auth.notice_mac(req, kind, text)
    if mac and req.query.n == mac then return { kind = kind == "ok" and "ok" or "error", text = (prefix or "") .. text } end
  end

  -- Adds a route under /admin; its {name:int} parameters reach the handler as integers (one too
  -- large for that is a 404).
  function admin.route(method, pattern, handler)
    local ints = {}
    for name in pattern:gmatch("{(%w+):int}") do ints[#ints + 1] = name end
    local wrapped = handler
    if #ints > 0 then
      wrapped = function(req, res)
        for _, name in ipairs(ints) do
          local n = math.tointeger(tonumber(req.params[name]))
          if not n then return admin.fail(req, res, 404, "There is nothing at this address.") end
          req.params[name] = n
        end
        return handler(req, res)
      end
    end
    admin.routes[#admin.routes + 1] = { method = method, pattern = M.PREFIX .. pattern, handler = wrapped }
  end

  -- A link in the navigation: { label =, href =, role = least role that sees it, order = n }.
  function admin.nav(item)
    admin.navs[#admin.navs + 1] = item
    table.sort(admin.navs, function(a, b) return (a.order or 50) < (b.order or 50) end)
  end

  -- Renders page template name inside the layout. view.title is the page's heading;
  -- view.flash = { kind = "ok"|"error", text = } a message at the top.
  function admin.render(req, res, name, view, status)
    private(res)
    local user = req.user
    local nav = {}
    for _, item in ipairs(admin.navs) do
      if user and (RANK[user.role] or 0) >= RANK[item.role or "contributor"] then
        local current = req.path == item.href or (item.href ~= M.PREFIX and req.path:sub(1, #item.href + 1) == item.href .. "/")
        nav[#nav + 1] = { label = item.label, href = item.href, current = current and "page" or false }
      end
    end
    -- has_NAME for each list of the view: a template wraps a non-empty list ({{#has_rows}}<ul>…).
    local lists = {}
    for k, v in pairs(view) do
      if type(v) == "table" and type(k) == "string" then lists["has_" .. k] = v[1] ~= nil end
    end
    for k, v in pairs(lists) do if view[k] == nil then view[k] = v end end
    view.nav = nav
    view.user = user and { login = user.login, name = user.display_name or user.login, role = user.role } or false
    view.site = { name = quire.site.config.name }
    view.csrf = admin.csrf(req)
    view.timezone = admin.timezone()
    if view.flash == nil then view.flash = admin.notice_of(req, "ok") or admin.notice_of(req, "error") or false end
    res.status = status or res.status
    res:header("content-type", "text/html; charset=utf-8")
    res:write(templates.render(name, view))
  end

  -- An error page inside the admin's layout.
  function admin.fail(req, res, status, text)
    private(res)
    res.parts = {}
    admin.render(req, res, "error", { title = ({ [403] = "Not allowed", [404] = "Not found", [400] = "Cannot do that" })[status] or "Error",
      text = text, flash = false }, status)
  end

  -- The site's time zone (site.lua `timezone`, an IANA name; UTC without one). Offsets and
  -- daylight saving time come from quire.time (the system's tz database).
  function admin.timezone()
    local tz = quire.site.config.timezone
    return type(tz) == "string" and tz ~= "" and tz or "UTC"
  end
  local function epoch_of(stamp) return type(stamp) == "string" and quire.time.epoch(stamp) end
  -- Stored UTC text -> "YYYY-MM-DDTHH:MM" in the site's zone (a datetime-local input's value).
  function admin.local_input(stamp)
    local epoch = epoch_of(stamp)
    if not epoch then return "" end
    local p = quire.time.local_parts(epoch, admin.timezone())
    return ("%04d-%02d-%02dT%02d:%02d"):format(p.year, p.month, p.day, p.hour, p.min)
  end
  -- Stored UTC text -> "4 Dec 2026, 14:30 CET" in the site's zone, for people.
  function admin.local_human(stamp)
    local epoch = epoch_of(stamp)
    if not epoch then return "" end
    return quire.time.format_local(epoch, "%-d %b %Y, %H:%M %Z", "en", admin.timezone())
  end
  -- A datetime-local value in the site's zone -> stored UTC text, or nil and what is wrong. A
  -- time the clocks skipped is moved on by the change, one they showed twice is the first
  -- (quire.time.from_local); the answer's local_human says which it became.
  function admin.from_local(v)
    if type(v) ~= "string" or v == "" then return nil, "is required" end
    if #v > 40 then return nil, "is too long for a date and time (YYYY-MM-DD HH:MM)" end
    local utc, kind = quire.time.from_local((v:gsub("T", " ", 1)), admin.timezone())
    if not utc then return nil, ("%q is not a date and time (YYYY-MM-DD HH:MM): %s"):format(v, kind) end
    return utc
  end

  -- Role rules: editors and admins see and edit every entry; authors and contributors only
  -- their own (anyone else's is "not found", so ids tell nothing).
  function admin.can_see(user, e)
    return e ~= nil and e.status ~= "trash" and (RANK[user.role] >= RANK.editor or e.author_id == user.id)
  end
  function admin.can_edit(user, e)
    if not admin.can_see(user, e) then return false end
    if user.role == "contributor" then return e.status == "draft" or e.status == "review" end
    return true
  end
  -- Whether user may make e (or its pending version) public: editors, or an author their own.
  function admin.can_publish(user, e)
    return RANK[user.role] >= RANK.editor or (user.role == "author" and e.author_id == user.id)
  end
  function admin.is_editor(user) return RANK[user.role] >= RANK.editor end

  -- The entry named by req.params.id when user may see it; else nil after answering 404.
  function admin.entry(req, res, user)
    local e = quire.content.get(req.params.id)
    if not e or not admin.can_see(user, e) then
      admin.fail(req, res, 404, ("There is no entry %d that you can open."):format(req.params.id))
      return nil
    end
    return e
  end

  function admin.type_label(name)
    local t = site.types:get(name)
    return t and t.label or name
  end

  -- The names of a taxonomy's terms (for suggestions), at most 500.
  function admin.term_names(taxonomy)
    local out = {}
    for i, t in ipairs(quire.content.terms(taxonomy)) do
      if i > 500 then break end
      out[#out + 1] = type(t) == "table" and (t.name or t[1]) or t
    end
    return out
  end

  -- The site's transitions in order: { name =, label =, role =, to = }.
  function admin.transitions()
    local wf, out = site.workflow, {}
    for _, name in ipairs(wf.order) do
      local t = wf.transitions[name]
      out[#out + 1] = { name = name, label = t.label ~= name and t.label or (name:sub(1, 1):upper() .. name:sub(2):gsub("_", " ")), role = t.role, to = t.to }
    end
    return out
  end

  -- An error for people: the message of an expected failure without its position.
  function admin.error_text(err)
    if require("quire.errors").is(err) then return err.text or err.message end
    io.stderr:write("quire: admin: ", tostring(err), "\n")
    return "something went wrong (see the server's log)"
  end

  -- Takes transition name on e as user (the workflow's roles and checks decide). Returns true
  -- or false and why.
  function admin.transition(user, e, name, changes)
    if not admin.can_see(user, e) then return false, "not found" end
    local ok, err = pcall(site.acting, { id = user.id, name = user.login }, quire.workflow.apply, e.id, name, user.id, changes)
    if ok then return true end
    return false, err
  end

  admin.newsroom = quire._newsroom
  admin.escape, admin.url_encode = escape, url_encode

  function admin.mount()
    for _, name in ipairs(M.SECTIONS) do require(name).mount(admin) end
    return admin.routes
  end

  return admin
end

return M
