-- Reader comments: the "Leave a Reply" form (name*, email*, website, comment*), threaded replies
-- to a depth limit, moderation, counts, and the defences a public form needs.
--
-- Why the form token looks the way it does: entry pages are cached and served to every
-- anonymous reader alike, so the form cannot carry a per-reader secret (a session CSRF token
-- would be shared by everyone, or would make every page uncacheable). Instead:
--   * the token is signed by the site (HMAC), names the entry and the time the form was made,
--     and expires after token_ttl_hours: it cannot be forged or moved to another entry;
--   * the Origin (or else Referer) header of the POST must name this site, which is what stops
--     cross-site request forgery in browsers (another site cannot set those headers);
--   * the time in the token gives a minimum time-to-submit for freshly made forms; a form that
--     has expired while its page sat in the cache is re-rendered, input kept, with a new token;
--   * a honeypot field that people never see, and a per-address rate limit (quire.hits), stop
--     most scripts; moderation holds what gets through: first-time commenters are held, later
--     comments from an address approved before are published at once.
-- The commenter's email is stored for moderation only: it is never put into a view, so no page,
-- feed or error shows it (only the commenter's own rejected form, which is private, keeps it).
return quire.plugin {
  name = "comments", version = "1.0", requires = { "theme" },
  settings = {
    max_depth = 3,             -- reply levels shown and accepted (1: no replies)
    close_after_days = 0,      -- close comments on entries older than this (0: never)
    moderation = "first_time", -- "first_time": hold new addresses; "all": hold all; "none"
    min_seconds = 3,           -- a freshly made form cannot be sent sooner than this
    token_ttl_hours = 168,     -- how long a form token is valid (pages may be cached that long)
    rate_limit = 6,            -- posts per address ...
    rate_window_minutes = 10,  -- ... in this many minutes
    check_origin = true,       -- refuse posts whose Origin/Referer names another site
    skip_types = { "page" },   -- content types without comments
  },
  setup = function(site)
    local settings = site.settings
    local FORM = "comment-form"
    local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August",
      "September", "October", "November", "December" }

    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end
    local max_bytes = quire.site.config.limits.comment_max

    local function when(stamp)
      local y, m, d, hh, mm = stamp:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+)")
      if not y then return { iso = stamp, human = stamp } end
      return { iso = stamp, human = ("%s %d, %s at %s:%s"):format(MONTHS[tonumber(m)], tonumber(d), y, hh, mm) }
    end

    local function count_label(n)
      if n == 0 then return "No Comments" end
      return n == 1 and "1 Comment" or (n .. " Comments")
    end

    local function is_open(entry)
      if entry.fields and entry.fields.comments_closed == true then return false end
      if settings.close_after_days > 0 and entry.published_at then
        local age = os.time() - (quire.time.epoch(entry.published_at) or os.time())
        if age > settings.close_after_days * 86400 then return false end
      end
      return true
    end

    -- Entry pages stay cached until a write touches them, and an entry reaching close_after_days
    -- is no write: every hour the pages of entries that closed in the last two hours go stale,
    -- so they stop offering a form that would be refused.
    if settings.close_after_days > 0 then
      site:every("1h", function()
        local closed = os.time() - settings.close_after_days * 86400
        local closed_by, since = quire.time.format(closed), quire.time.format(closed - 2 * 3600)
        local tags, after, done = {}, nil, false
        while not done do -- newest first, down to the first entry that closed earlier
          local batch = quire.content.query { status = "published", limit = 500, after = after }
          done = #batch < 500
          for _, e in ipairs(batch) do
            if e.published_at <= since then done = true break end
            if e.published_at <= closed_by then tags[#tags + 1] = "comments:" .. e.id end
            after = e.id
          end
        end
        if #tags > 0 then quire.cache.bump(tags) end
      end)
    end

    -- A keyed hash of the client address: rate limits without storing addresses.
    local function client_key(req)
      local sig = quire.tokens.sign("client-address", req.remote or "unknown"):match("%.([%w%-_]+)$")
      return sig:sub(1, 22)
    end

    -- A token names the second it was made in, so within one second every form of an entry
    -- carries the same one: signed once per entry and second rather than per page.
    local tokens, tokens_at = {}, nil
    local function new_token(entry_id)
      local now = os.time()
      if now ~= tokens_at then tokens, tokens_at = {}, now end
      local t = tokens[entry_id]
      if not t then
        t = quire.tokens.sign(FORM, entry_id .. ":" .. now, settings.token_ttl_hours * 3600)
        tokens[entry_id] = t
      end
      return t
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
        local v = {
          id = c.id, author_name = c.author_name,
          author_url = c.author_url and quire.url.safe(c.author_url, { "http", "https" }) or false,
          body_html = body, iso = when(c.created_at).iso, human = when(c.created_at).human,
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

    -- The form's view. state (optional): { values =, errors =, summary =, parent = comment }.
    local function form_view(entry, state)
      state = state or {}
      local values = state.values or {}
      local errors = state.errors or {}
      local parent = state.parent
      return {
        action = "/comments", entry_id = entry.id, token = new_token(entry.id), max_length = max_bytes,
        parent = parent and { id = parent.id, name = parent.author_name, cancel_url = quire.content.url(entry) } or false,
        values = { name = values.name or "", email = values.email or "", url = values.url or "", comment = values.comment or "" },
        errors = {
          name = errors.name or false, email = errors.email or false,
          url = errors.url or false, comment = errors.comment or false,
        },
        summary = state.summary or false,
      }
    end

    -- The approved thread as the page shows it, rendered (templates/comment_list.mustache) and
    -- kept until the next write (site:memo): the query, Markdown, reply links and markup are not
    -- redone for every reader.
    local function thread_view(entry, open)
      local items, count = thread(entry, open)
      return { html = items and quire.template.render("comment_list", items), count = count }
    end

    local function comments_view(entry, state)
      local open = is_open(entry)
      local t = site:memo(("thread\0%d\0%s"):format(entry.id, open), thread_view, entry, open)
      return {
        count = t.count, count_label = count_label(t.count), thread = t.html, open = open,
        notice = state and state.notice or false,
        form = open and form_view(entry, state) or false,
      }
    end

    site:filter("view.entry", function(view, entry)
      if skip[entry.type] then return view end
      view.comments = comments_view(entry)
      return view
    end)

    site:filter("view.card", function(card, entry)
      if skip[entry.type] then return card end
      local n = quire.comments.count(entry.id)
      card.comment_count = n > 0 and { label = count_label(n) } or false
      return card
    end)

    -- The entry's page with the comment section in a given state (errors, a notice, a reply).
    local function render_entry(res, entry, status, state, extra)
      local view = quire.filters.apply("view.entry", { entry = entry, site = quire.site, type = { name = entry.type, label = entry.type } }, entry)
      view.comments = comments_view(entry, state)
      if extra and extra.robots and view.head then view.head.robots = extra.robots end
      res.status = status
      res.private = true
      res:render(entry.type, view)
    end

    local function published(id)
      local entry = math.type(id) == "integer" and quire.content.get(id)
      if entry and entry.status == "published" and not skip[entry.type] then return entry end
    end

    local function same_site(req)
      if not settings.check_origin then return true end
      local host = (req.headers.host or ""):lower()
      local base = (quire.site.base_url or ""):match("^https?://([^/]+)")
      local function ours(u)
        local h = u:match("^https?://([^/]+)")
        if not h then return false end
        h = h:lower()
        return h == host or (base ~= nil and h == base:lower())
      end
      local origin = req.headers.origin
      if origin then return ours(origin) end -- "null" (sandboxed or privacy-stripped) fails too
      local referer = req.headers.referer
      if referer then return ours(referer) end
      return true -- neither header (not a browser, or a privacy setting): the signed token still applies
    end

    -- quire.text.trim is linear: the pattern "%s+$" is quadratic in a run of inner whitespace
    -- (x, 40,000 spaces and x took a worker for 10 s).
    local function trim(s)
      if type(s) ~= "string" then return "" end
      return quire.text.trim(s)
    end

    local function valid_email(s)
      if #s > 254 then return false end
      local lp, domain = s:match("^([^@%s]+)@([^@%s]+)$")
      return lp ~= nil and #lp <= 64 and domain:match("^[%w%-]+%.[%w%-%.]+$") ~= nil and not domain:find("..", 1, true)
        and not domain:match("%.$")
    end

    -- The reply's parent: an approved comment of the entry, moved up the thread when replying
    -- to it would go deeper than max_depth.
    local function reply_parent(entry, parent_id)
      if not parent_id or settings.max_depth < 2 then return nil end
      local _, _, depth, by_id = thread(entry, true)
      local p = by_id[parent_id]
      while p and depth[p.id] >= settings.max_depth do p = by_id[p.parent_id] end
      return p
    end

    site:route("POST", "/comments", function(req, res)
      local form = req.form or {}
      local entry = published(math.tointeger(tonumber(form.entry_id or "")))
      if not entry then
        res.private = true
        return res:error(404)
      end
      local values = { name = trim(form.name), email = trim(form.email), url = trim(form.url), comment = trim(form.comment) }
      -- The thread is read (and its Markdown rendered) to find the parent only once the cheap
      -- checks have passed, or for the page that shows a refusal.
      local parent_id = math.tointeger(tonumber(form.parent or ""))
      local parent = false
      local function the_parent()
        if parent == false then parent = parent_id and reply_parent(entry, parent_id) or nil end
        return parent
      end
      local function reject(status, summary, errors)
        render_entry(res, entry, status, { values = values, errors = errors, summary = summary, parent = the_parent() })
      end

      -- Cheap refusals first; every attempt counts against the address's rate limit.
      local window = settings.rate_window_minutes * 60
      if quire.hits.add("comment:" .. client_key(req), window) > settings.rate_limit then
        res:header("retry-after", tostring(window))
        return reject(429, ("You have sent too many comments. Please wait %d minutes and try again."):format(settings.rate_window_minutes))
      end
      if not same_site(req) then
        return reject(403, "This form was sent from another site, so it was not accepted.")
      end
      local data, why = quire.tokens.verify(FORM, form.token)
      local token_entry, issued = (data or ""):match("^(%d+):(%d+)$")
      if why == "expired" then
        return reject(403, "This form had expired. Please check your comment and send it again.")
      elseif not data or tonumber(token_entry) ~= entry.id then
        return reject(403, "This form could not be verified. Please send it again.")
      end
      if form.homepage and form.homepage ~= "" then
        -- The honeypot was filled: a script. Look like success, keep nothing.
        return res:redirect(quire.content.url(entry))
      end
      if os.time() - tonumber(issued) < settings.min_seconds then
        return reject(422, "That was quick! Please take a moment, then send your comment again.")
      end
      if not is_open(entry) then
        return reject(403, "Comments are closed on this article.")
      end

      local errors, n = {}, 0
      local function err(field, msg) errors[field] = msg; n = n + 1 end
      -- A field whose bytes are not UTF-8 never reached form (app.parse_query names it).
      local not_text = req.form_invalid or {}
      local NOT_TEXT = "This is not valid text (UTF-8). Please type it again."
      if not_text.name then err("name", NOT_TEXT)
      elseif values.name == "" then err("name", "Please enter your name.")
      elseif utf8.len(values.name) > 200 then err("name", "Please use at most 200 characters.") end
      if not_text.email then err("email", NOT_TEXT)
      elseif values.email == "" then err("email", "Please enter your email address. It will not be published.")
      elseif not valid_email(values.email) then err("email", "Please enter a valid email address, like name@example.org.") end
      if not_text.url then err("url", NOT_TEXT)
      elseif values.url ~= "" and not (values.url:match("^https?://[^%s%c]+$") and #values.url <= 2000) then
        err("url", "Please enter a web address starting with http:// or https://, or leave it empty.")
      end
      if not_text.comment then err("comment", NOT_TEXT)
      elseif values.comment == "" then err("comment", "Please write a comment.")
      elseif #values.comment > max_bytes then err("comment", ("Please keep your comment under %d characters."):format(max_bytes)) end
      if n > 0 then
        return reject(422, n == 1 and "Please correct the error below." or ("Please correct the %d errors below."):format(n), errors)
      end

      local status = "held"
      if settings.moderation == "none" or (settings.moderation == "first_time" and quire.comments.approved_before(values.email)) then
        status = "approved"
      end
      local ok, id = pcall(quire.comments.create, {
        entry = entry.id, parent = the_parent() and parent.id or nil, author_name = values.name, author_email = values.email,
        author_url = values.url ~= "" and values.url or nil, body = values.comment, status = status, ip_hash = client_key(req),
      })
      if not ok then
        -- The store's own checks (e.g. invalid UTF-8): say which field, never echo the values.
        local fields = { author_name = "name", author_email = "email", author_url = "url", body = "comment" }
        local errs = {}
        for _, e in ipairs(type(id) == "table" and id.errors or {}) do
          local f = fields[e.field]
          if f then errs[f] = "This field " .. tostring(e.message) .. "." end
        end
        if next(errs) == nil then error(id, 0) end
        return reject(422, "Please correct the errors below.", errs)
      end
      res.private = true
      return res:redirect("/comment/" .. id)
    end)

    -- Where a new comment lands: an approved one at its anchor, a held one on the page with a notice.
    site:route("GET", "/comment/{id:int}", function(req, res)
      local c = quire.comments.query { after = tonumber(req.params.id) - 1, limit = 1 }[1]
      local entry = c and c.id == tonumber(req.params.id) and published(c.entry_id)
      if not entry then res.private = true; return res:error(404) end
      if c.status == "approved" then
        res.private = true
        return res:redirect(quire.content.url(entry) .. "#comment-" .. c.id)
      end
      render_entry(res, entry, 200, { notice = "Thank you. Your comment is awaiting moderation and will appear once approved." },
        { robots = "noindex" })
    end)

    -- The page with the form set to reply to one comment (no JavaScript needed).
    site:route("GET", "/comment/{id:int}/reply", function(req, res)
      local id = tonumber(req.params.id)
      local c = quire.comments.query { after = id - 1, limit = 1 }[1]
      local entry = c and c.id == id and c.status == "approved" and published(c.entry_id)
      if not entry or not is_open(entry) then res.private = true; return res:error(404) end
      local parent = reply_parent(entry, id)
      render_entry(res, entry, 200, { parent = parent }, { robots = "noindex" })
    end)
  end,
}
