-- The admin's dashboard (/admin) and entries list (/admin/entries): filters, full-text search,
-- keyset pages, and bulk actions (workflow transitions, trash) limited to what the role may do.
local M = {}

M.PAGE = 25          -- entries per list page
M.BULK_MAX = 200     -- entries one bulk action may name
M.DASH = 8           -- entries per dashboard panel

function M.mount(admin)
  local quire = admin.quire
  local content = quire.content

  local users_memo
  local function user_name(id)
    if not id then return "" end
    users_memo = users_memo or {}
    local name = users_memo[id]
    if name == nil then
      local u = quire.users.get(id)
      name = u and (u.display_name or u.login) or ("user " .. id)
      users_memo[id] = name
    end
    return name
  end

  local function row(e)
    local public = e.status == "published" and content.url(e) or false
    return { id = e.id, title = e.title, type = e.type, status = e.status, section = e.section or false,
      author = user_name(e.author_id), updated = admin.local_human(e.updated_at),
      published = e.published_at and admin.local_human(e.published_at) or false,
      published_iso = e.published_at or false,
      edit = "/admin/entries/" .. e.id, public = public }
  end

  -- The dashboard: my drafts, waiting for review, scheduled, recently published, comments to moderate.
  admin.nav { label = "Dashboard", href = "/admin", order = 1 }
  admin.route("GET", "", function(req, res)
    local user = admin.guard(req, res)
    if not user then return end
    users_memo = nil
    local editor = admin.is_editor(user)
    local mine = nil -- editors see everyone's, others their own
    if not editor then mine = user.id end
    local function list(q)
      local out = {}
      for i, e in ipairs(content.query(q)) do out[i] = row(e) end
      return out
    end
    local held = editor and quire.comments.query { status = "held", limit = M.DASH } or {}
    local comments = {}
    for i, c in ipairs(held) do
      local e = content.get(c.entry_id)
      comments[i] = { id = c.id, author = c.author_name, excerpt = utf8.len(c.body) and #c.body > 140 and (c.body:sub(1, 140):gsub("[\128-\191]*$", "") .. "…") or c.body,
        entry = e and e.title or "", created = admin.local_human(c.created_at) }
    end
    admin.render(req, res, "dashboard", {
      title = "Dashboard",
      drafts = list { author = user.id, status = "draft", order = "updated", limit = M.DASH },
      review = list { author = mine, status = "review", order = "updated", limit = M.DASH },
      scheduled = list { author = mine, status = "scheduled", order = "oldest", limit = M.DASH },
      published = list { author = mine, status = "published", limit = M.DASH },
      editor = editor,
      comments = comments, held_count = editor and #held or 0,
      new_links = admin.new_links(),
    })
  end)

  -- "New opinion piece", ... one link per content type.
  function admin.new_links()
    local out = {}
    for _, name in ipairs(content.types()) do
      out[#out + 1] = { href = "/admin/entries/new?type=" .. name, label = admin.type_label(name) }
    end
    return out
  end

  -- Entries: GET /admin/entries?type=&status=&section=&tag=&author=&since=&until=&q=&after=
  admin.nav { label = "Entries", href = "/admin/entries", order = 2 }
  local STATUS_ALL = function() return quire.workflow.states() end
  admin.route("GET", "/entries", function(req, res)
    local user = admin.guard(req, res)
    if not user then return end
    users_memo = nil
    local q, errs = req.query, {}
    local editor = admin.is_editor(user)
    local filter = {}
    local function pick(name, allowed)
      local v = q[name]
      if v == nil or v == "" then return nil end
      if #v > 200 then errs[#errs + 1] = name .. " is longer than 200 characters" return nil end
      if allowed then
        for _, a in ipairs(allowed) do if a == v then return v end end
        errs[#errs + 1] = ("%s: %q is not one of %s"):format(name, v, table.concat(allowed, ", "))
        return nil
      end
      return v
    end
    filter.type = pick("type", content.types())
    filter.status = pick("status", STATUS_ALL())
    filter.section = pick("section")
    filter.tag = pick("tag")
    local author = pick("author")
    if not editor then filter.author = user.id
    elseif author then
      local u = quire.users.get(author)
      if u then filter.author = u.id else errs[#errs + 1] = ("author: no user %q"):format(author) end
    end
    for _, k in ipairs({ "since", "until" }) do
      local v = pick(k)
      if v then
        local norm, why = admin.from_local(#v == 10 and (v .. "T00:00") or v)
        if norm then filter[k] = norm else errs[#errs + 1] = k .. ": " .. why end
      end
    end
    local text = pick("q")
    local rows, next_href = {}, false
    local after = q.after and math.tointeger(tonumber(q.after))
    if text then
      -- Full-text search: the index's ranking; the other filters narrow its hits.
      local offset = math.max(0, math.min(10000, math.tointeger(tonumber(q.offset or "0")) or 0))
      local ok, hits = pcall(content.search, text, { limit = 200, offset = offset, type = filter.type, status = filter.status })
      if not ok then
        errs[#errs + 1] = "search: " .. tostring(type(hits) == "table" and hits.text or hits):gsub("^.-: ", "")
        hits = {}
      end
      for _, h in ipairs(hits) do
        local e = content.get(h.id)
        if e and admin.can_see(user, e) and (not filter.author or e.author_id == filter.author)
          and (not filter.section or e.section == filter.section)
          and (not filter.tag or (function() for _, t in ipairs(e.tags) do if quire.slugify(t) == quire.slugify(filter.tag) then return true end end end)()) then
          rows[#rows + 1] = row(e)
          if #rows == M.PAGE then break end
        end
      end
    elseif #errs == 0 then
      filter.limit = M.PAGE + 1
      filter.after = after
      local ok, list = pcall(content.query, filter)
      if not ok then errs[#errs + 1] = tostring(list):gsub("^.-: ", "") list = {} end
      for i = 1, math.min(#list, M.PAGE) do rows[i] = row(list[i]) end
      if #list > M.PAGE then
        local params = {}
        for _, k in ipairs({ "type", "status", "section", "tag", "author", "since", "until" }) do
          if q[k] and q[k] ~= "" then params[#params + 1] = k .. "=" .. admin.url_encode(q[k]) end
        end
        params[#params + 1] = "after=" .. list[M.PAGE].id
        next_href = "/admin/entries?" .. table.concat(params, "&")
      end
    end
    local function options(list, chosen, labels)
      local out = { { value = "", label = "Any", selected = not chosen } }
      for _, v in ipairs(list) do out[#out + 1] = { value = v, label = labels and labels(v) or v, selected = v == chosen } end
      return out
    end
    local authors = {}
    if editor then
      for _, u in ipairs(quire.users.list()) do authors[#authors + 1] = u.login end
    end
    local actions = {}
    local seen = {}
    for _, t in ipairs(admin.transitions()) do
      if not seen[t.name] and (require("quire.workflow").ROLE_RANK[user.role] >= require("quire.workflow").ROLE_RANK[t.role]
        or (t.name == "publish" and user.role == "author")) then
        seen[t.name] = true
        actions[#actions + 1] = { value = "transition:" .. t.name, label = t.label }
      end
    end
    if editor then actions[#actions + 1] = { value = "trash", label = "Move to trash" } end
    admin.render(req, res, "entries", {
      title = "Entries", rows = rows, next_href = next_href, first_href = after and "/admin/entries" or false,
      errors = #errs > 0 and errs or false, q = q.q or "",
      types = options(content.types(), filter.type, admin.type_label),
      statuses = options(STATUS_ALL(), filter.status),
      authors = editor and options(authors, author) or false,
      section = q.section or "", tag = q.tag or "", since = q.since or "", ["until"] = q["until"] or "",
      sections = admin.term_names("section"), tags = admin.term_names("tag"),
      actions = actions, new_links = admin.new_links(),
    })
  end)

  -- Bulk actions on the checked entries: each entry on its own (one refused does not stop the
  -- others), each with the same role rules as the editor's buttons.
  admin.route("POST", "/entries/bulk", function(req, res)
    local user = admin.guard(req, res)
    if not user then return end
    local form = req.form or {}
    local ids = form["id[]"] or {}
    if #ids == 0 then return res:redirect("/admin/entries?" .. admin.notice(req, "error", "Tick at least one entry first."), 303) end
    if #ids > M.BULK_MAX then return admin.fail(req, res, 400, ("A bulk action takes at most %d entries; %d were ticked."):format(M.BULK_MAX, #ids)) end
    local action = form.action or ""
    local transition = action:match("^transition:([a-z][a-z0-9_]*)$")
    if not transition and action ~= "trash" then return admin.fail(req, res, 400, "Choose an action from the list.") end
    if action == "trash" and not admin.is_editor(user) then return admin.fail(req, res, 403, "Only editors move entries to the trash.") end
    local done, failed = 0, {}
    for _, raw in ipairs(ids) do
      local id = math.tointeger(tonumber(raw))
      local e = id and content.get(id)
      if not e or not admin.can_see(user, e) then
        failed[#failed + 1] = ("%s: not found"):format(raw)
      else
        local ok, err
        if transition then
          ok, err = admin.transition(user, e, transition)
        else
          ok, err = pcall(quire._site.acting, { id = user.id, name = user.login }, content.trash, id)
        end
        if ok then done = done + 1 else failed[#failed + 1] = ("“%s”: %s"):format(e.title, type(err) == "string" and err or admin.error_text(err)) end
      end
    end
    local msg = ("%d of %d done."):format(done, #ids)
    if #failed > 0 then msg = msg .. " Not done: " .. table.concat(failed, "; ") end
    res:redirect("/admin/entries?" .. admin.notice(req, #failed > 0 and "error" or "ok", msg), 303)
  end)
end

return M
