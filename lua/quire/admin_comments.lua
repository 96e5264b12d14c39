-- The admin's comment moderation queue (/admin/comments, editors): held comments first, bulk
-- approve, spam, hold or delete (to the trash) through quire.comments, so the story's cached
-- page is refreshed and every change is in the audit log.
local M = {}

M.PAGE = 50
M.BULK_MAX = 200
local STATUSES = { "held", "approved", "spam", "trash" }
local LABELS = { held = "Waiting", approved = "Approved", spam = "Spam", trash = "Deleted" }

function M.mount(admin)
  local quire = admin.quire

  admin.nav { label = "Comments", href = "/admin/comments", role = "editor", order = 3 }
  admin.route("GET", "/comments", function(req, res)
    local user = admin.guard(req, res, "editor")
    if not user then return end
    local status = req.query.status or "held"
    if not LABELS[status] then return admin.fail(req, res, 400, "status is one of held, approved, spam, trash.") end
    local after = math.tointeger(tonumber(req.query.after or "")) or 0
    local list = quire.comments.query { status = status, after = after, limit = M.PAGE + 1 }
    local rows, titles = {}, {}
    for i = 1, math.min(#list, M.PAGE) do
      local c = list[i]
      if titles[c.entry_id] == nil then
        local e = quire.content.get(c.entry_id)
        titles[c.entry_id] = e and e.title or ("entry " .. c.entry_id)
      end
      rows[i] = { id = c.id, author = c.author_name, url = c.author_url or false, body = c.body, entry = titles[c.entry_id],
        entry_edit = "/admin/entries/" .. c.entry_id, at = admin.local_human(c.created_at) }
    end
    local tabs = {}
    for i, s in ipairs(STATUSES) do tabs[i] = { href = "/admin/comments?status=" .. s, label = LABELS[s], current = s == status } end
    admin.render(req, res, "comments", { title = "Comments", rows = rows, tabs = tabs, status = status,
      next_href = #list > M.PAGE and ("/admin/comments?status=%s&after=%d"):format(status, list[M.PAGE].id) or false })
  end)

  admin.route("POST", "/comments", function(req, res)
    local user = admin.guard(req, res, "editor")
    if not user then return end
    local form = req.form or {}
    local action, from = form.action, LABELS[form.from or ""] and form.from or "held"
    if not LABELS[action or ""] then return admin.fail(req, res, 400, "Choose approve, spam, hold or delete.") end
    local ids = form["id[]"] or {}
    if #ids == 0 then return res:redirect("/admin/comments?status=" .. from .. "&" .. admin.notice(req, "error", "Tick at least one comment first."), 303) end
    if #ids > M.BULK_MAX then return admin.fail(req, res, 400, ("At most %d comments at once; %d were ticked."):format(M.BULK_MAX, #ids)) end
    local done, failed = 0, {}
    for _, raw in ipairs(ids) do
      local id = math.tointeger(tonumber(raw))
      local ok, err = false, "not a comment id"
      if id then ok, err = pcall(quire._site.acting, { id = user.id, name = user.login }, quire.comments.set_status, id, action) end
      if ok then done = done + 1 else failed[#failed + 1] = ("%s: %s"):format(raw, type(err) == "string" and err or admin.error_text(err)) end
    end
    local msg = ("%d comment%s now %s."):format(done, done == 1 and " is" or "s are", LABELS[action]:lower())
    if #failed > 0 then msg = msg .. " Not done: " .. table.concat(failed, "; ") end
    res:redirect("/admin/comments?status=" .. from .. "&" .. admin.notice(req, #failed > 0 and "error" or "ok", msg), 303)
  end)
end

return M
