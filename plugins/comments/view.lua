-- What readers see: the approved thread, the form in its states, counts, and the entry page
-- with the comment section.
-- A comment's time in the site's zone and language: "June 16, 2023 at 09:30".
local function when(stamp)
  if not quire.time.epoch(stamp) then return { iso = stamp, human = stamp } end
  return { iso = quire.time.to_local(stamp), human = quire.time.format_local(stamp, "datetime") }
end

return function(site, form, moderation)
  local settings = site.settings
  local M = {}

  function M.count_label(n)
    if n == 0 then return quire.i18n.gettext("No Comments") end
    return (quire.i18n.ngettext("%d Comment", "%d Comments", n):gsub("%%d", tostring(n)))
  end

  -- Approved comments of an entry as a tree: { items = {...} } or false, the count, and each
  -- approved comment's depth by id.
  local function thread(entry, open)
    local rows = quire.comments.query { entry = entry.id, status = "approved", limit = 5000 }
    local by_id, depth = {}, {}
    for _, c in ipairs(rows) do by_id[c.id] = c end
    local function depth_of(c)
      if depth[c.id] then return depth[c.id] end
      local p = c.parent_id and by_id[c.parent_id]
      depth[c.id] = p and (depth_of(p) + 1) or 1
      return depth[c.id]
    end
    local top, views = {}, {}
    for _, c in ipairs(rows) do
      local d = depth_of(c)
      local body = quire.html.sanitize(quire.markdown.render(c.body, { untrusted = true }), "comment")
      local stamp = when(c.created_at)
      local v = {
        id = c.id, author_name = c.author_name,
        author_url = c.author_url and quire.url.safe(c.author_url, { "http", "https" }) or false,
        body_html = body, iso = stamp.iso, human = stamp.human,
        reply_url = (open and d < settings.max_depth) and ("/comment/" .. c.id .. "/reply#respond") or false,
        replies = false, -- false, not nil: Mustache must not find the parent's replies
      }
      views[c.id] = v
      local parent = c.parent_id and views[c.parent_id]
      if parent then
        parent.replies = parent.replies or { items = {} }
        parent.replies.items[#parent.replies.items + 1] = v
      else
        top[#top + 1] = v
      end
    end
    return #top > 0 and { items = top } or false, #rows, depth, by_id
  end

  -- The reply's parent: an approved comment of the entry, moved up the thread when replying
  -- to it would go deeper than max_depth.
  function M.reply_parent(entry, parent_id)
    if not parent_id or settings.max_depth < 2 then return nil end
    local _, _, depth, by_id = thread(entry, true)
    local p = by_id[parent_id]
    while p and depth[p.id] >= settings.max_depth do p = by_id[p.parent_id] end
    return p
  end

  -- The form's fields: value and error name, input id, label (made once: every entry page has a form).
  local FIELDS = { { "name", "comment-name", "Name" }, { "email", "comment-email", "Email" },
    { "url", "comment-url", "Website" }, { "comment", "comment-body", "Comment" } }

  -- Read only: what a page without a state, errors or comments reads (not a table made for each).
  local NONE, NO_THREAD = {}, { count = 0, html = false }

  -- The form's view. state (optional): { values =, errors =, summary =, parent = comment }.
  local function form_view(entry, state)
    state = state or NONE
    local values = state.values or NONE
    local errors = state.errors or NONE
    local parent = state.parent
    -- The summary lists each problem as a link to its field, in the form's order.
    local list
    for _, f in ipairs(FIELDS) do
      if errors[f[1]] then
        list = list or {}
        list[#list + 1] = { field = f[2], label = f[3], message = errors[f[1]] }
      end
    end
    return {
      -- The answer lands on #comment-status: the error summary, or the notice after a post.
      action = "/comments#comment-status", entry_id = entry.id, token = form.new_token(entry.id), max_length = form.max_bytes,
      parent = parent and { id = parent.id, name = parent.author_name, cancel_url = quire.content.url(entry) } or false,
      values = { name = values.name or "", email = values.email or "", url = values.url or "", comment = values.comment or "" },
      errors = {
        name = errors.name or false, email = errors.email or false,
        url = errors.url or false, comment = errors.comment or false,
      },
      summary = state.summary or false,
      error_list = list and { items = list } or false,
    }
  end

  -- The approved thread as the page shows it, rendered (templates/comment_list.mustache) and
  -- kept until the next write (site:memo): the query, Markdown, reply links and markup are not
  -- redone for every reader.
  local function thread_view(entry, open)
    local items, count = thread(entry, open)
    return { html = items and quire.template.render("comment_list", items), count = count }
  end

  -- closed: show the thread only, whatever the entry's own setting.
  function M.comments(entry, state, closed)
    local open = not closed and moderation.is_open(entry)
    -- Most entries have no approved comment (known without a statement of their own, and the
    -- page tagged as the thread's read would): nothing to read or render then.
    local t = quire.comments.count(entry.id) == 0 and NO_THREAD
      or site:memo(("thread\0%d\0%s"):format(entry.id, open), thread_view, entry, open)
    return {
      count = t.count, count_label = M.count_label(t.count), thread = t.html, open = open,
      notice = state and state.notice or false,
      form = open and form_view(entry, state) or false,
    }
  end

  -- The entry's page with the comment section in a given state (errors, a notice, a reply).
  function M.render_entry(res, entry, status, state, extra)
    local view = quire.filters.apply("view.entry", { entry = entry, site = quire.site, type = { name = entry.type, label = entry.type } }, entry)
    view.comments = M.comments(entry, state)
    if extra and extra.robots and view.head then view.head.robots = extra.robots end
    res.status = status
    res.private = true
    res:render(entry.type, view)
  end

  return M
end
