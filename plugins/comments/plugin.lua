-- Reader comments: the "Leave a Reply" form (name*, email*, website, comment*), threaded replies
-- to a depth limit, moderation, counts, and the defences a public form needs. This file wires
-- the routes and filters; form.lua holds the form's defences and checks, moderation.lua what is
-- held and when comments close, view.lua the thread and the page.
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
    skip_types = { "page" },   -- content types without a comment form (their approved comments show)
  },
  setup = function(site)
    local _ = quire.i18n.gettext
    local settings = site.settings
    local form = site:require("form")(site)
    local moderation = site:require("moderation")(site)
    local view = site:require("view")(site, form, moderation)

    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end

    site:filter("view.entry", function(v, entry)
      if skip[entry.type] or quire.site.static_export then
        -- A type without comments still shows the approved thread it has (a migrated WordPress
        -- page's), read only: no form, no reply links. So does a static export's page: no
        -- server takes the form there, and a reader's comment would be lost.
        if quire.comments.count(entry.id) > 0 then v.comments = view.comments(entry, nil, true) end
        return v
      end
      v.comments = view.comments(entry)
      return v
    end)

    -- A card's count comes with its entry's block of counts (quire.comments.count), which the
    -- other cards and pages showing entries of that block share.
    site:filter("view.card", function(card, entry)
      if skip[entry.type] then return card end
      local n = quire.comments.count(entry.id)
      card.comment_count = n > 0 and { label = view.count_label(n) } or false
      return card
    end)

    local function published(id)
      local entry = math.type(id) == "integer" and quire.content.get(id)
      if entry and entry.status == "published" and not skip[entry.type] then return entry end
    end

    site:route("POST", "/comments", function(req, res)
      local posted = req.form or {}
      local entry = published(math.tointeger(tonumber(posted.entry_id or "")))
      if not entry then
        res.private = true
        return res:error(404)
      end
      local values = form.values(posted)
      -- The thread is read (and its Markdown rendered) to find the parent only once the cheap
      -- checks have passed, or for the page that shows a refusal.
      local parent_id = math.tointeger(tonumber(posted.parent or ""))
      local parent = false
      local function the_parent()
        if parent == false then parent = parent_id and view.reply_parent(entry, parent_id) or nil end
        return parent
      end
      local function reject(status, summary, errors)
        view.render_entry(res, entry, status, { values = values, errors = errors, summary = summary, parent = the_parent() })
      end

      -- Cheap refusals first; every attempt counts against the address's rate limit.
      local window = settings.rate_window_minutes * 60
      if quire.hits.add("comment:" .. form.client_key(req), window) > settings.rate_limit then
        res:header("retry-after", tostring(window))
        return reject(429, _("You have sent too many comments. Please wait %d minutes and try again."):format(settings.rate_window_minutes))
      end
      if not form.same_site(req) then
        return reject(403, _("This form was sent from another site, so it was not accepted."))
      end
      local token_entry, issued, why = form.check_token(posted.token)
      if why == "expired" then
        return reject(403, _("This form had expired. Please check your comment and send it again."))
      elseif token_entry ~= entry.id then
        return reject(403, _("This form could not be verified. Please send it again."))
      end
      if posted.homepage and posted.homepage ~= "" then
        -- The honeypot was filled: a script. Look like success, keep nothing.
        return res:redirect(quire.content.url(entry))
      end
      if os.time() - issued < settings.min_seconds then
        return reject(422, _("That was quick! Please take a moment, then send your comment again."))
      end
      if not moderation.is_open(entry) then
        return reject(403, _("Comments are closed on this article."))
      end

      local errors, n = form.validate(values, req.form_invalid)
      if n > 0 then
        return reject(422, (quire.i18n.ngettext("Please correct the error below.", "Please correct the %d errors below.", n):gsub("%%d", tostring(n))), errors)
      end

      local ok, id = pcall(quire.comments.create, {
        entry = entry.id, parent = the_parent() and parent.id or nil, author_name = values.name, author_email = values.email,
        author_url = values.url ~= "" and values.url or nil, body = values.comment,
        status = moderation.initial_status(values.email), ip_hash = form.client_key(req),
      })
      if not ok then
        local errs = form.store_errors(id)
        if not errs then error(id, 0) end
        return reject(422, _("Please correct the errors below."), errs)
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
      view.render_entry(res, entry, 200, { notice = _("Thank you. Your comment is awaiting moderation and will appear once approved.") },
        { robots = "noindex" })
    end)

    -- The page with the form set to reply to one comment (no JavaScript needed).
    site:route("GET", "/comment/{id:int}/reply", function(req, res)
      local id = tonumber(req.params.id)
      local c = quire.comments.query { after = id - 1, limit = 1 }[1]
      local entry = c and c.id == id and c.status == "approved" and published(c.entry_id)
      if not entry or not moderation.is_open(entry) then res.private = true; return res:error(404) end
      view.render_entry(res, entry, 200, { parent = view.reply_parent(entry, id) }, { robots = "noindex" })
    end)
  end,
}
