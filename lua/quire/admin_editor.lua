-- The admin's editor (/admin/entries/ID, /admin/entries/new?type=T): a form generated from the
-- content type's fields (every field type; field sets as their own groups), saved through
-- quire.content with the revision it was read at (a stale save is refused with a side-by-side
-- diff, the user's input kept), autosaves kept apart from the story, a soft lock with
-- heartbeat and take-over, workflow buttons, staged edits of published stories, a preview
-- rendered by the site's own templates, revisions (word diff, restore, corrections) and
-- editorial notes.
local cjson = require "cjson"
local diff = require "quire.diff"
local errors = require "quire.errors"

local M = {}

M.TAGS_MAX = 50 -- tags one form may set

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

function M.mount(admin)
  local quire, site = admin.quire, admin.site
  local content, newsroom = quire.content, admin.newsroom
  local escape = admin.escape

  local function acting(user, fn, ...)
    return pcall(site.acting, { id = user.id, name = user.login }, fn, ...)
  end

  -- Field sets a type takes whole (the theme's hero, ...), for grouping the form.
  local function groups_of(t)
    local sets, taken = {}, {}
    local names = {}
    for name in pairs(quire.plugins.field_sets or {}) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      -- The theme's "seo" set goes with the type's own search fields (below), under one legend.
      local set = name ~= "seo" and quire.plugins.field_sets[name] or { fields = {} }
      local fields, all = {}, true
      for f in pairs(set.fields) do
        if not t.fields[f] then all = false break end
        fields[#fields + 1] = f
      end
      if all and #fields > 0 then
        -- By name, the set's images first: what the other fields (alt, caption...) describe.
        local function rank(f) return t.fields[f].type == "media" and 0 or 1 end
        table.sort(fields, function(a, b) if rank(a) ~= rank(b) then return rank(a) < rank(b) end return a < b end)
        for _, f in ipairs(fields) do taken[f] = true end
        sets[#sets + 1] = { name = name, label = (name:sub(1, 1):upper() .. name:sub(2):gsub("_", " ")), fields = fields }
      end
    end
    local seo, details = {}, {}
    for _, f in ipairs(t.field_order) do
      if not taken[f] and f ~= "standfirst" then
        if f:match("^seo_") or f:match("^social_") or f:match("^og_") or f == "keywords" then seo[#seo + 1] = f
        else details[#details + 1] = f end
      end
    end
    return sets, seo, details
  end

  local function label_of(name)
    return (name:sub(1, 1):upper() .. name:sub(2)):gsub("_", " ")
  end

  -- A field's stored value as the form shows it (text).
  local function raw_of(f, v)
    if v == nil or v == cjson.null then return f.type == "bool" and false or "" end
    local t = f.type
    if t == "bool" then return v == true end
    if t == "datetime" then return admin.local_input(v) end
    if t == "list" then
      local out = {}
      for i, x in ipairs(v) do out[i] = tostring(x) end
      return table.concat(out, "\n")
    end
    if t == "number" then return (math.type(v) == "float" and math.tointeger(v)) and tostring(math.tointeger(v)) or tostring(v) end
    if t == "ref" or t == "media" then return tostring(math.tointeger(v) or v) end
    return tostring(v)
  end

  -- The form's values for entry e (with changes, a pending version's, applied over it).
  local function values_of(t, e, changes)
    local v = { title = e.title or "", slug = e.slug or "", body = e.body or "", tags = table.concat(e.tags or {}, ", "),
      section = e.section or "", author = e.author_id and tostring(e.author_id) or "", fields = {} }
    local fields = {}
    for k, x in pairs(e.fields or {}) do fields[k] = x end
    if changes then
      for k, x in pairs(changes) do
        if k == "fields" then for fk, fx in pairs(x) do fields[fk] = fx end
        elseif k == "tags" then v.tags = table.concat(x, ", ")
        elseif k == "section" then v.section = x or ""
        elseif k == "author" then v.author = tostring(x)
        elseif v[k] ~= nil then v[k] = x end
      end
    end
    for name, f in pairs(t.fields) do v.fields[name] = raw_of(f, fields[name]) end
    return v
  end

  -- The form's values as typed (kept as they are for the page shown again) and the changes they
  -- make (as quire.content takes them), plus errors found before validation.
  local function read_form(t, form, user)
    local v = { title = form.title or "", slug = trim(form.slug or ""), body = (form.body or ""):gsub("\r\n", "\n"),
      tags = form.tags or "", section = trim(form.section or ""), author = form.author or "", fields = {} }
    local changes, errs = { title = v.title, body = v.body, fields = {} }, {}
    if v.slug ~= "" then changes.slug = v.slug end
    local tags = {}
    for name in v.tags:gmatch("[^,\n]+") do
      name = trim(name)
      if name ~= "" then tags[#tags + 1] = name end
    end
    if #tags > M.TAGS_MAX then errs[#errs + 1] = { field = "tags", message = ("has %d tags, at most %d"):format(#tags, M.TAGS_MAX) } end
    changes.tags = tags
    changes.section = v.section ~= "" and v.section or false
    if admin.is_editor(user) and v.author ~= "" then
      changes.author = math.tointeger(tonumber(v.author)) or v.author
    end
    for name, f in pairs(t.fields) do
      local key = "fields." .. name
      local raw = form[key]
      local ft = f.type
      if ft == "bool" then
        v.fields[name] = raw == "1"
        changes.fields[name] = raw == "1"
      else
        raw = (raw or ""):gsub("\r\n", "\n")
        v.fields[name] = raw
        local value
        if trim(raw) == "" then
          value = cjson.null
        elseif ft == "datetime" then
          local norm, why = admin.from_local(trim(raw))
          if norm then value = norm else errs[#errs + 1] = { field = key, message = why } end
        elseif ft == "ref" or ft == "media" then
          value = math.tointeger(tonumber(trim(raw)))
          if not value then errs[#errs + 1] = { field = key, message = "must be an id (a whole number)" } end
        elseif ft == "number" then
          value = tonumber(trim(raw)) or raw
        elseif ft == "list" then
          value = {}
          for line in raw:gmatch("[^\n]+") do
            line = trim(line)
            if line ~= "" then
              local item = f.item and f.item.type == "number" and tonumber(line) or line
              value[#value + 1] = item
            end
          end
          if #value == 0 then value = cjson.null end
        else
          value = raw
        end
        if value ~= nil then changes.fields[name] = value end
      end
    end
    return v, changes, errs
  end

  -- One form control per field, with its label, hint and error.
  local function control(t, name, f, v, errs_by)
    local key = "fields." .. name
    local c = { id = "f-" .. name, name = key, label = f.label or label_of(name), value = v.fields[name],
      error = errs_by[key] or false, required = f.required and true or false, hint = f.hint or false }
    local ft = f.type
    if ft == "text" then
      if (f.max or 10000) > 300 and not name:match("image$") and not name:match("url$") then c.textarea = true else c.input = "text" end
      c.maxlength = f.max or false
    elseif ft == "markdown" then c.textarea, c.markdown = true, true
    elseif ft == "number" then c.input = "number"; c.step = "any"
    elseif ft == "bool" then c.checkbox = true; c.checked = v.fields[name] == true
    elseif ft == "datetime" then c.input = "datetime-local"; c.hint = c.hint or ("in the site's time zone, " .. admin.timezone())
    elseif ft == "ref" then c.input = "number"; c.hint = c.hint or ("the id of the " .. (f.to or "entry") .. " it refers to")
    elseif ft == "enum" then
      c.select = true
      c.options = { { value = "", label = "(none)", selected = v.fields[name] == "" } }
      for _, x in ipairs(f.values) do c.options[#c.options + 1] = { value = x, label = x, selected = v.fields[name] == tostring(x) } end
    elseif ft == "list" then c.textarea = true; c.hint = c.hint or "one item per line"; c.small = true
    elseif ft == "media" then
      c.select = true
      local chosen = v.fields[name]
      c.options = { { value = "", label = "(no image)", selected = chosen == "" } }
      local found = false
      for _, m in ipairs(quire.media.list { limit = 200 }) do
        local sel = tostring(m.id) == chosen
        found = found or sel
        c.options[#c.options + 1] = { value = tostring(m.id), label = ("#%d %s"):format(m.id, (m.title ~= "" and m.title) or m.alt or m.url or ""), selected = sel }
      end
      if chosen ~= "" and not found then c.options[#c.options + 1] = { value = chosen, label = "#" .. chosen, selected = true } end
      local pic = chosen ~= "" and quire.media.picture(tonumber(chosen))
      c.preview = pic and pic.src and { src = pic.src, alt = pic.alt or "" } or false
      c.hint = c.hint or "an image from the media library (its newest 200 are listed)"
      c.library = { upload = require("quire.media").UPLOAD_PATH }
    end
    return c
  end

  -- The whole editor view.
  local function editor_view(req, user, t, e, v, opts)
    opts = opts or {}
    local errs_by, unplaced = {}, {}
    local controls = {}
    for _, err in ipairs(opts.errors or {}) do
      local f = err.field or ""
      if f == "base_revision" or f == "pending_version" or f == "" then unplaced[#unplaced + 1] = err.message
      else
        errs_by[f] = errs_by[f] and (errs_by[f] .. "; " .. err.message) or err.message
        controls[f] = true
      end
    end
    -- Errors for names no control shows (a plugin's hook, a status rule): listed at the top.
    local shown = { title = true, slug = true, body = true, tags = true, section = true, author = true }
    for name in pairs(t.fields) do shown["fields." .. name] = true end
    for f, msg in pairs(errs_by) do if not shown[f] then unplaced[#unplaced + 1] = f .. ": " .. msg end end
    local sets, seo, details = groups_of(t)
    local function group(list)
      local out = {}
      for _, name in ipairs(list) do out[#out + 1] = control(t, name, t.fields[name], v, errs_by) end
      return out
    end
    local groups = {}
    for _, s in ipairs(sets) do groups[#groups + 1] = { legend = s.label, id = "g-" .. s.name, controls = group(s.fields) } end
    if #details > 0 then groups[#groups + 1] = { legend = "Details", id = "g-details", controls = group(details) } end
    if #seo > 0 then groups[#groups + 1] = { legend = "Search and social", id = "g-seo", controls = group(seo) } end
    local standfirst = t.fields.standfirst and control(t, "standfirst", t.fields.standfirst, v, errs_by) or false
    local authors = false
    if admin.is_editor(user) then
      authors = {}
      for _, u in ipairs(quire.users.list()) do
        authors[#authors + 1] = { value = tostring(u.id), label = (u.display_name or u.login) .. " (" .. u.login .. ")", selected = tostring(u.id) == v.author }
      end
    end
    local err_count = #(opts.errors or {})
    local view = {
      title = e and ("Edit: " .. (e.title or "")) or ("New " .. t.label),
      type = { name = t.name, label = t.label },
      entry = e and { id = e.id, status = e.status, url = e.status == "published" and content.url(e) or false,
        revision = opts.base_revision or e.revision, published = e.published_at and admin.local_human(e.published_at) or false,
        published_iso = e.published_at or false } or false,
      action = e and ("/admin/entries/" .. e.id) or ("/admin/entries/new?type=" .. t.name),
      autosave_url = e and ("/admin/entries/" .. e.id .. "/autosave") or ("/admin/entries/new/autosave?type=" .. t.name),
      autosave_key = e and ("entry:" .. e.id) or ("new:" .. t.name),
      v = v, standfirst = standfirst, groups = groups,
      err = { title = errs_by.title or false, slug = errs_by.slug or false, body = errs_by.body or false,
        tags = errs_by.tags or false, section = errs_by.section or false, author = errs_by.author or false },
      errors_summary = err_count > 0 and { count = err_count, plural = err_count ~= 1, unplaced = unplaced } or false,
      authors = authors,
      sections = admin.term_names("section"), tag_names = admin.term_names("tag"),
      flash = opts.flash,
      conflict = opts.conflict or false,
      pending_version = opts.pending_version or false,
    }
    return view
  end

  -- The side panels of an existing entry: lock, pending version, workflow, notes, autosave.
  local function side_panels(req, view, user, e, opts)
    opts = opts or {}
    local held, lock = newsroom.lock_acquire(e.id, user.id, false)
    view.lock = (not held and lock) and { name = lock.name, login = lock.login, since = admin.local_human(lock.since),
      beat = admin.local_human(lock.heartbeat_at) } or false
    local staged = newsroom.staged(e.id)
    view.staged = staged and { by = staged.login or "", at = admin.local_human(staged.updated_at), version = staged.version,
      publish_at = staged.publish_at and admin.local_human(staged.publish_at) or false,
      can_publish = admin.can_publish(user, e) } or false
    view.live = e.status == "published"
    if view.live and not view.pending_version and staged then view.pending_version = staged.version end
    -- Workflow buttons: the transitions open to this role from this state, only those it may use.
    local buttons = {}
    local by_name = {}
    for _, t in ipairs(admin.transitions()) do by_name[t.name] = t end
    for _, name in ipairs(quire.workflow.available(e.id, user.id)) do
      local t = by_name[name]
      local publishing = t and (t.to == "published" or t.to == "scheduled")
      if t and (not publishing or admin.can_publish(user, e)) then
        buttons[#buttons + 1] = { name = name, label = t.label, schedule = t.to == "scheduled",
          when = admin.local_input(e.published_at and e.published_at > quire.time.now() and e.published_at or nil) }
      end
    end
    view.transitions = buttons
    view.has_transitions = #buttons > 0
    local notes = {}
    for i, n in ipairs(newsroom.notes(e.id)) do
      notes[i] = { body = n.body, by = n.display_name or n.login or "someone", at = admin.local_human(n.created_at) }
    end
    view.notes = notes
    view.has_notes = #notes > 0
    view.can_edit = admin.can_edit(user, e)
    view.is_editor = admin.is_editor(user)
    local auto = not opts.from_autosave and newsroom.autosave_get(user.id, "entry:" .. e.id)
    view.autosave = auto and auto.saved_at >= (e.updated_at or "") and { at = admin.local_human(auto.saved_at),
      href = "/admin/entries/" .. e.id .. "?autosave=1" } or false
    view.from_autosave = opts.from_autosave or false
    view.timezone_note = admin.timezone()
  end

  local function show(req, res, user, t, e, v, opts)
    local view = editor_view(req, user, t, e, v, opts)
    if e then side_panels(req, view, user, e, opts) end
    admin.render(req, res, "editor", view, opts and opts.status)
  end

  -- The side-by-side diff of a refused save: their saved version against yours, per part.
  local function conflict_view(cur_values, mine, cur_entry, message)
    local rows = {}
    local function words(a, b)
      local left, right = {}, {}
      for _, r in ipairs(diff.ops(a, b)) do
        local kind, text = r[1], escape(r[2])
        if kind == "=" then left[#left + 1] = text; right[#right + 1] = text
        elseif kind == "-" then left[#left + 1] = "<del>" .. text .. "</del>"
        else right[#right + 1] = "<ins>" .. text .. "</ins>" end
      end
      return table.concat(left), table.concat(right)
    end
    local function add(label, a, b)
      a, b = tostring(a or ""), tostring(b or "")
      if a ~= b then
        local l, r = words(a, b)
        rows[#rows + 1] = { label = label, theirs = l, mine = r }
      end
    end
    add("Title", cur_values.title, mine.title)
    add("Slug", cur_values.slug, mine.slug ~= "" and mine.slug or cur_values.slug)
    add("Tags", cur_values.tags, mine.tags)
    add("Section", cur_values.section, mine.section)
    local names = {}
    for k in pairs(cur_values.fields) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do add(label_of(k), tostring(cur_values.fields[k]), tostring(mine.fields[k])) end
    add("Body", cur_values.body, mine.body)
    local who = cur_entry and content.revisions(cur_entry.id)[1]
    return { message = message, rows = rows, has_rows = #rows > 0,
      by = who and who.actor or "someone", at = who and admin.local_human(who.created_at) or "" }
  end

  local function type_of(req, res, name)
    local t = name and site.types:get(name)
    if not t then
      admin.fail(req, res, 404, ("There is no content type %q. Choose one of: %s."):format(tostring(name), table.concat(content.types(), ", ")))
      return nil
    end
    return t
  end

  -- New entries --------------------------------------------------------------------------------
  admin.route("GET", "/entries/new", function(req, res)
    local user = admin.guard(req, res)
    if not user then return end
    local t = type_of(req, res, req.query.type)
    if not t then return end
    local v = values_of(t, { author_id = user.id, tags = {}, fields = {} })
    local opts = {}
    local auto = newsroom.autosave_get(user.id, "new:" .. t.name)
    if auto and req.query.autosave == "1" then
      v = auto.data
      opts.flash = { kind = "ok", text = "Restored your autosave from " .. admin.local_human(auto.saved_at) .. ". Save to keep it." }
    elseif auto then
      opts.flash = { kind = "warn", text = "You have an unsaved " .. t.label .. " autosaved at " .. admin.local_human(auto.saved_at) .. "." }
      opts.restore_href = "/admin/entries/new?type=" .. t.name .. "&autosave=1"
    end
    local view = editor_view(req, user, t, nil, v, opts)
    view.restore_href = opts.restore_href or false
    admin.render(req, res, "editor", view)
  end)

  admin.route("POST", "/entries/new", function(req, res)
    local user = admin.guard(req, res)
    if not user then return end
    local t = type_of(req, res, req.query.type)
    if not t then return end
    local v, changes, errs = read_form(t, req.form or {}, user)
    if #errs == 0 then
      local spec = { type = t.name, status = "draft", author = changes.author or user.id }
      for k, x in pairs(changes) do if k ~= "author" then spec[k] = x end end
      for k, x in pairs(spec.fields) do if x == cjson.null then spec.fields[k] = nil end end
      if spec.section == false then spec.section = nil end
      local ok, id = acting(user, content.create, spec)
      if ok then
        newsroom.autosave_drop(user.id, "new:" .. t.name)
        return res:redirect("/admin/entries/" .. id .. "?" .. admin.notice(req, "ok", "Saved as a draft."), 303)
      end
      if not errors.is(id, "invalid") then error(id, 0) end
      errs = id.errors
    end
    local view = editor_view(req, user, t, nil, v, { errors = errs })
    admin.render(req, res, "editor", view, 422)
  end)

  admin.route("POST", "/entries/new/autosave", function(req, res)
    local user = admin.guard(req, res)
    if not user then return end
    local t = site.types:get(req.query.type or "")
    if not t then res.status = 404 return res:json({ error = "no such type" }) end
    local v = read_form(t, req.form or {}, user)
    local at = newsroom.autosave_put(user.id, "new:" .. t.name, nil, nil, v)
    res:json({ saved_at = at, human = admin.local_human(at) })
  end)

  -- Existing entries ---------------------------------------------------------------------------
  -- A route on one entry: handler(req, res, user, e) runs for a signed-in user (of at least role,
  -- when given) who may see entry {id}; anyone else has had the guard's answer or a 404.
  local function entry_route(method, path, handler, role)
    admin.route(method, path, function(req, res)
      local user = admin.guard(req, res, role)
      if not user then return end
      local e = admin.entry(req, res, user)
      if not e then return end
      return handler(req, res, user, e)
    end)
  end

  entry_route("GET", "/entries/{id:int}", function(req, res, user, e)
    local t = site.types:get(e.type)
    local staged = newsroom.staged(e.id)
    local v = values_of(t, e, staged and staged.data)
    local opts = {}
    if req.query.autosave == "1" then
      local auto = newsroom.autosave_get(user.id, "entry:" .. e.id)
      if auto then
        v = auto.data
        opts.from_autosave = true
        opts.base_revision = auto.base_revision
        opts.flash = { kind = "ok", text = "Restored your autosave from " .. admin.local_human(auto.saved_at) .. ". It is not saved yet: Save to keep it." }
      end
    end
    if not admin.can_edit(user, e) then
      opts.flash = opts.flash or { kind = "warn", text = ("This %s is %s: you can read it, not change it."):format(t.label, e.status) }
    end
    show(req, res, user, t, e, v, opts)
  end)

  -- Saves the form. A published entry's changes become its pending version (readers keep the
  -- live one); any other entry is updated, refused if another save came since base_revision.
  entry_route("POST", "/entries/{id:int}", function(req, res, user, e)
    if not admin.can_edit(user, e) then
      return admin.fail(req, res, 403, ("This entry is %s; a %s cannot change it."):format(e.status, user.role))
    end
    local t = site.types:get(e.type)
    local form = req.form or {}
    local v, changes, errs = read_form(t, form, user)
    local base = math.tointeger(tonumber(form.base_revision or ""))
    local pending_version = math.tointeger(tonumber(form.pending_version or ""))
    if not base then errs[#errs + 1] = { field = "base_revision", message = "the form did not say which revision it was made from; reload the page" } end
    if #errs > 0 then return show(req, res, user, t, e, v, { errors = errs, status = 422, base_revision = base, pending_version = pending_version }) end
    local ok, err
    local staging = e.status == "published"
    if staging then
      ok, err = acting(user, newsroom.stage, e.id, base, changes, user.id, pending_version)
    else
      ok, err = acting(user, content.update, e.id, changes, { base_revision = base })
    end
    if ok then
      newsroom.autosave_drop(user.id, "entry:" .. e.id)
      newsroom.lock_acquire(e.id, user.id, false)
      local msg = staging and "Saved as pending changes: readers still see the published version until they are published." or "Saved."
      return res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "ok", msg), 303)
    end
    if errors.is(err, "conflict") then
      -- Refused: show what changed since, keep the input; saving again goes over the current version.
      local cur = content.get(e.id)
      local staged = newsroom.staged(e.id)
      local cur_values = values_of(t, cur, staged and staged.data)
      local view_opts = { status = 409, base_revision = cur.revision, pending_version = staged and staged.version,
        conflict = conflict_view(cur_values, v, cur, err.text) }
      view_opts.flash = { kind = "error", text = "Not saved: someone else saved this story after you opened it. Your version is kept below; compare, then save again to replace theirs." }
      return show(req, res, user, t, e, v, view_opts)
    end
    if errors.is(err, "invalid") or errors.is(err, "not_found") then
      return show(req, res, user, t, e, v, { errors = #err.errors > 0 and err.errors or { { message = err.text } }, status = 422,
        base_revision = base, pending_version = pending_version })
    end
    error(err, 0)
  end)

  entry_route("POST", "/entries/{id:int}/autosave", function(req, res, user, e)
    if not admin.can_edit(user, e) then res.status = 403 return res:json({ error = "you cannot change this entry" }) end
    local t = site.types:get(e.type)
    local v = read_form(t, req.form or {}, user)
    local ok, at = pcall(newsroom.autosave_put, user.id, "entry:" .. e.id, e.id, math.tointeger(tonumber((req.form or {}).base_revision or "")), v)
    if not ok then res.status = 400 return res:json({ error = admin.error_text(at) }) end
    local _, lock = newsroom.lock_acquire(e.id, user.id, false)
    res:json({ saved_at = at, human = admin.local_human(at), lock = lock and lock.user_id ~= user.id and lock.name or cjson.null })
  end)

  -- Lock heartbeat (the editor's script, every 20 s): keeps the lock, or says who has it.
  entry_route("POST", "/entries/{id:int}/lock", function(req, res, user, e)
    local held, lock = newsroom.lock_acquire(e.id, user.id, false)
    res:json({ held = held, by = lock and lock.name or cjson.null, since = lock and admin.local_human(lock.since) or cjson.null })
  end)

  entry_route("POST", "/entries/{id:int}/takeover", function(req, res, user, e)
    if not admin.can_edit(user, e) then return admin.fail(req, res, 403, "You cannot change this entry, so you cannot take it over.") end
    newsroom.lock_acquire(e.id, user.id, true)
    -- From an open editor that lost the lock (admin.js): it stays on its page, text and all.
    if (req.headers.accept or ""):find("application/json", 1, true) then return res:json({ held = true }) end
    res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "ok", "You took over editing. Reload first if the other editor saved."), 303)
  end)

  entry_route("POST", "/entries/{id:int}/transition", function(req, res, user, e)
    local form = req.form or {}
    local name = form.transition or ""
    local changes
    if (form.published_at or "") ~= "" then
      local at, why = admin.from_local(form.published_at)
      if not at then return res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "error", "Publication time " .. why), 303) end
      changes = { published_at = at }
    end
    local tr
    for _, t in ipairs(admin.transitions()) do if t.name == name then tr = t end end
    if tr and (tr.to == "published" or tr.to == "scheduled") and not admin.can_publish(user, e) then
      return admin.fail(req, res, 403, "Only editors, or the author of their own entry, publish.")
    end
    local ok, err = admin.transition(user, e, name, changes)
    if ok then
      local now = content.get(e.id)
      return res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "ok", ("Done: %s. It is now %s%s."):format(tr and tr.label or name, now.status,
        now.status == "scheduled" and (", to be published " .. admin.local_human(now.published_at)) or "")), 303)
    end
    res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "error", type(err) == "string" and err or admin.error_text(err)), 303)
  end)

  -- The pending version of a published entry: publish now, schedule, or discard.
  entry_route("POST", "/entries/{id:int}/pending", function(req, res, user, e)
    local form = req.form or {}
    local action = form.action
    if (action == "publish" or action == "schedule") and not admin.can_publish(user, e) then
      return admin.fail(req, res, 403, "Only editors, or the author of their own entry, publish changes.")
    end
    if action == "discard" and not admin.can_edit(user, e) then return admin.fail(req, res, 403, "You cannot change this entry.") end
    local ok, err, msg
    if action == "publish" then
      ok, err = acting(user, newsroom.publish_staged, e.id)
      msg = "The pending changes are live."
    elseif action == "schedule" then
      local at, why = admin.from_local(form.publish_at or "")
      if not at then return res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "error", "Publication time " .. why), 303) end
      ok, err = acting(user, newsroom.schedule_staged, e.id, at)
      msg = "The pending changes go live " .. admin.local_human(at) .. "."
    elseif action == "discard" then
      ok, err = acting(user, newsroom.discard_staged, e.id)
      msg = "The pending changes were discarded."
    else
      return admin.fail(req, res, 400, "Choose publish, schedule or discard.")
    end
    if ok then return res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "ok", msg), 303) end
    res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "error", admin.error_text(err)), 303)
  end)

  -- Preview: the form's values (or the saved entry) rendered by the site's own templates.
  local function preview(req, res, user, e, t, v_changes)
    admin.private(res)
    local p = { id = -math.random(1, 1 << 40), type = e.type, slug = e.slug, status = "published", title = e.title, body = e.body,
      fields = {}, author_id = e.author_id, tags = e.tags, section = e.section, created_at = e.created_at or quire.time.now(),
      updated_at = quire.time.now(), published_at = e.published_at or quire.time.now() }
    for k, x in pairs(e.fields or {}) do p.fields[k] = x end
    for k, x in pairs(v_changes or {}) do
      if k == "fields" then for fk, fx in pairs(x) do p.fields[fk] = fx ~= cjson.null and fx or nil end
      elseif k == "section" then p.section = x or nil
      elseif k == "author" then p.author_id = math.tointeger(x) or p.author_id
      else p[k] = x end
    end
    p.author = p.author_id
    local view = quire.filters.apply("view.entry", { entry = p, site = quire.site, type = { name = t.name, label = t.label } }, p)
    res:header("content-type", "text/html; charset=utf-8")
    -- The site's page under the admin's policy, with a banner saying it is a preview.
    local html = quire.template.render(t.layout, view)
    html = html:gsub("<body([^>]*)>", '<body%1><p class="preview-banner" role="status">Preview, not published</p>', 1)
      :gsub("</head>", '<link rel="stylesheet" href="/static/admin/preview.css">\n</head>', 1)
    res:header("content-security-policy", "default-src 'self'; script-src 'none'; img-src 'self' data: https:; style-src 'self'; frame-ancestors 'self'")
    res:write(html)
  end

  entry_route("POST", "/entries/{id:int}/preview", function(req, res, user, e)
    local t = site.types:get(e.type)
    local _, changes = read_form(t, req.form or {}, user)
    preview(req, res, user, e, t, changes)
  end)

  entry_route("GET", "/entries/{id:int}/preview", function(req, res, user, e)
    local staged = newsroom.staged(e.id)
    preview(req, res, user, e, site.types:get(e.type), staged and staged.data)
  end)

  -- Notes ----------------------------------------------------------------------------------------
  entry_route("POST", "/entries/{id:int}/notes", function(req, res, user, e)
    local ok, err = acting(user, newsroom.note_add, e.id, user.id, (req.form or {}).note or "")
    if ok then return res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "ok", "Note added.") .. "#notes", 303) end
    res:redirect("/admin/entries/" .. e.id .. "?" .. admin.notice(req, "error", "Note " .. admin.error_text(err):gsub("^invalid note: ", "")) .. "#notes", 303)
  end)

  -- Revisions ------------------------------------------------------------------------------------
  local function revision_text(r)
    local parts = { "Title: " .. (r.title or ""), "Slug: " .. (r.slug or ""), "Status: " .. (r.status or ""),
      "Tags: " .. table.concat(r.tags or {}, ", "), "Section: " .. (r.section or "") }
    local names = {}
    for k in pairs(r.fields or {}) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      local x = r.fields[k]
      parts[#parts + 1] = label_of(k) .. ": " .. (type(x) == "table" and quire.json.encode(x) or tostring(x))
    end
    parts[#parts + 1] = ""
    parts[#parts + 1] = r.body or ""
    return table.concat(parts, "\n")
  end

  entry_route("GET", "/entries/{id:int}/revisions", function(req, res, user, e)
    local revs = content.revisions(e.id)
    local rows = {}
    local shown = math.min(#revs, 200)
    for i = 1, shown do
      local r = revs[i]
      rows[i] = { id = r.id, at = admin.local_human(r.created_at), iso = r.created_at, by = r.actor or "", status = r.status, title = r.title,
        current = i == 1, href = "/admin/entries/" .. e.id .. "/revisions/" .. r.id }
    end
    local corrections = {}
    for i, c in ipairs(newsroom.corrections(e.id)) do corrections[i] = { note = c.note, at = admin.local_human(c.date) } end
    admin.render(req, res, "revisions", { title = "Revisions: " .. e.title, entry = { id = e.id, title = e.title }, rows = rows,
      more = #revs > shown and (#revs - shown) or false, corrections = corrections })
  end)

  entry_route("GET", "/entries/{id:int}/revisions/{rev:int}", function(req, res, user, e)
    local revs = content.revisions(e.id)
    local r, prev
    for i, x in ipairs(revs) do if x.id == req.params.rev then r, prev = x, revs[i + 1] end end
    if not r then return admin.fail(req, res, 404, ("Entry %d has no revision %d."):format(e.id, req.params.rev)) end
    local html = {}
    for _, op in ipairs(diff.ops(prev and revision_text(prev) or "", revision_text(r))) do
      local text = escape(op[2])
      html[#html + 1] = op[1] == "=" and text or op[1] == "-" and ("<del>" .. text .. "</del>") or ("<ins>" .. text .. "</ins>")
    end
    admin.render(req, res, "revision", { title = ("Revision %d of “%s”"):format(r.id, e.title),
      entry = { id = e.id, title = e.title }, rev = { id = r.id, at = admin.local_human(r.created_at), by = r.actor or "", status = r.status },
      prev = prev and { id = prev.id } or false, diff_html = table.concat(html),
      can_restore = admin.is_editor(user) and r.id ~= e.revision,
      can_correct = admin.is_editor(user) and r.status == "published" and prev ~= nil and prev.status == "published" })
  end)

  entry_route("POST", "/entries/{id:int}/revisions/{rev:int}/restore", function(req, res, user, e)
    local ok, err = acting(user, content.restore, e.id, req.params.rev)
    if ok then return res:redirect("/admin/entries/" .. e.id .. "/revisions?" .. admin.notice(req, "ok", ("Restored revision %d (as a new revision)."):format(req.params.rev)), 303) end
    res:redirect("/admin/entries/" .. e.id .. "/revisions?" .. admin.notice(req, "error", admin.error_text(err)), 303)
  end, "editor")

  entry_route("POST", "/entries/{id:int}/revisions/{rev:int}/correction", function(req, res, user, e)
    local ok, err = acting(user, newsroom.correction_add, e.id, req.params.rev, (req.form or {}).note or "", user.id)
    if ok then return res:redirect("/admin/entries/" .. e.id .. "/revisions?" .. admin.notice(req, "ok", "Marked as a correction; the story shows it."), 303) end
    res:redirect("/admin/entries/" .. e.id .. "/revisions/" .. req.params.rev .. "?" .. admin.notice(req, "error", admin.error_text(err)), 303)
  end, "editor")
end

return M
