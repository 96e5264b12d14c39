-- Moderation: which comments are held, and when an entry's comments close.
return function(site)
  local settings = site.settings
  local M = {}

  function M.is_open(entry)
    if entry.fields and entry.fields.comments_closed == true then return false end
    if settings.close_after_days > 0 and entry.published_at then
      local age = os.time() - (quire.time.epoch(entry.published_at) or os.time())
      if age > settings.close_after_days * 86400 then return false end
    end
    return true
  end

  -- "held" or "approved" for a new comment from this address.
  function M.initial_status(email)
    if settings.moderation == "none" or (settings.moderation == "first_time" and quire.comments.approved_before(email)) then
      return "approved"
    end
    return "held"
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

  return M
end
