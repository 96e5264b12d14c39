-- The newsroom's own records beside the content model (db/migrations/0014_newsroom.sql): soft
-- edit locks with a heartbeat, autosaves kept apart from the saved entry, staged edits of
-- published entries (a pending version readers do not see until it is published), editorial
-- notes and corrections. Entries themselves change only through quire.content and
-- quire.workflow, so their validation, hooks, revisions and audit apply.
local cjson = require "cjson"
local core = require "quire.core"
local memo = require "quire.memo"
local copy = memo.copy
local errors = require "quire.errors"
local time = require "quire.time"

local M = {}

M.LOCK_STALE = 90        -- seconds without a heartbeat after which a lock is free to take
M.NOTE_MAX = 4000        -- characters of an editorial note
M.CORRECTION_MAX = 1000  -- characters of a correction's note
M.AUTOSAVE_MAX = 2 * 1024 * 1024 -- bytes of an autosaved form (JSON)
M.STAGED_DUE_MAX = 100   -- staged edits published per job run

local json = cjson.new()
json.encode_sparse_array(false)

local function text_error(field, v, max)
  local problem, cp, pos = core.text_check(v, true, nil, max * 4)
  if problem == "char" then return { field = field, message = require("quire.types").char_message(cp, pos) } end
  if problem == "missing" then return { field = field, message = "is required" } end
  if problem then return { field = field, message = "must be UTF-8 text" } end
  local n = utf8.len(v)
  if n > max then return { field = field, message = ("is %d characters, at most %d allowed"):format(n, max) } end
end

function M.new(site, quire)
  local db, transaction = site.db, site.transaction
  local api = {}

  -- Locks ------------------------------------------------------------------------------------
  local function lock_row(entry_id)
    local row = db:row("SELECT l.entry_id, l.user_id, l.since, l.heartbeat_at, u.login, u.display_name"
      .. " FROM edit_locks l JOIN users u ON u.id = l.user_id WHERE l.entry_id = ?", entry_id)
    if row then
      local beat = time.epoch(row.heartbeat_at) or 0
      row.stale = os.time() - beat > M.LOCK_STALE
      row.name = row.display_name or row.login
    end
    return row
  end
  api.lock = lock_row

  -- Takes or keeps the lock of entry_id for user_id. Without force, a live lock held by someone
  -- else is left alone. Returns held (boolean) and the lock as it now is.
  function api.lock_acquire(entry_id, user_id, force)
    return transaction(function()
      local cur = lock_row(entry_id)
      local now = time.now()
      if cur and cur.user_id == user_id then
        db:exec("UPDATE edit_locks SET heartbeat_at = ? WHERE entry_id = ?", now, entry_id)
      elseif not cur or cur.stale or force then
        db:exec("INSERT INTO edit_locks (entry_id, user_id, since, heartbeat_at) VALUES (?, ?, ?, ?)"
          .. " ON CONFLICT (entry_id) DO UPDATE SET user_id = excluded.user_id, since = excluded.since, heartbeat_at = excluded.heartbeat_at",
          entry_id, user_id, now, now)
        if cur and force then site.audit("entry.lock_taken", "entry:" .. entry_id, ("from %s"):format(cur.login)) end
      else
        return false, cur
      end
      return true, lock_row(entry_id)
    end)
  end

  function api.lock_release(entry_id, user_id)
    return transaction(function()
      return db:exec("DELETE FROM edit_locks WHERE entry_id = ? AND user_id = ?", entry_id, user_id) > 0
    end)
  end

  -- Autosaves ----------------------------------------------------------------------------------
  function api.autosave_put(user_id, key, entry_id, base_revision, data)
    local encoded = json.encode(data)
    if #encoded > M.AUTOSAVE_MAX then
      errors.invalid("autosave refused", { { message = ("the form is %d bytes, an autosave holds at most %d"):format(#encoded, M.AUTOSAVE_MAX) } })
    end
    local now = time.now()
    transaction(function()
      db:exec("INSERT INTO autosaves (user_id, key, entry_id, base_revision, data, saved_at) VALUES (?, ?, ?, ?, ?, ?)"
        .. " ON CONFLICT (user_id, key) DO UPDATE SET entry_id = excluded.entry_id, base_revision = excluded.base_revision,"
        .. " data = excluded.data, saved_at = excluded.saved_at", user_id, key, entry_id, base_revision, encoded, now)
    end)
    return now
  end

  function api.autosave_get(user_id, key)
    local row = db:row("SELECT entry_id, base_revision, data, saved_at FROM autosaves WHERE user_id = ? AND key = ?", user_id, key)
    if row then row.data = json.decode(row.data) end
    return row
  end

  function api.autosave_drop(user_id, key)
    transaction(function() db:exec("DELETE FROM autosaves WHERE user_id = ? AND key = ?", user_id, key) end)
  end

  -- Staged edits -------------------------------------------------------------------------------
  function api.staged(entry_id)
    local row = db:row("SELECT s.entry_id, s.base_revision, s.version, s.data, s.user_id, s.updated_at, s.publish_at, u.login"
      .. " FROM staged_edits s LEFT JOIN users u ON u.id = s.user_id WHERE s.entry_id = ?", entry_id)
    if row then row.data = json.decode(row.data) end
    return row
  end

  -- Keeps changes (as quire.content.update takes them) as entry_id's pending version. They are
  -- validated as the whole would-be entry first. version: the pending version the editor read
  -- (nil when there was none): another save in between is a conflict.
  function api.stage(entry_id, base_revision, changes, user_id, version)
    return transaction(function()
      local e = quire.content.get(entry_id)
      if not e then errors.raise("not_found", ("no entry %d"):format(entry_id)) end
      local cur = api.staged(entry_id)
      if (cur and cur.version) ~= version then
        errors.raise("conflict", ("the pending version of entry %d was saved by %s since you opened it (version %s, you had %s)")
          :format(entry_id, cur and cur.login or "someone", tostring(cur and cur.version or "none"), tostring(version or "none")),
          { { field = "pending_version", message = "is stale" } })
      end
      if e.revision ~= base_revision and not cur then
        errors.raise("conflict", ("entry %d was changed since revision %d: its current revision is %d")
          :format(entry_id, base_revision, e.revision), { { field = "base_revision", message = "is stale" } })
      end
      local spec = { id = entry_id, type = e.type, title = e.title, body = e.body, slug = e.slug, status = e.status,
        published_at = e.published_at, author = e.author_id, tags = e.tags, section = e.section or nil, fields = {} }
      for k, v in pairs(e.fields) do spec.fields[k] = v end
      for k, v in pairs(changes) do
        if k == "fields" then
          for fk, fv in pairs(v) do spec.fields[fk] = fv ~= cjson.null and fv or nil end
        elseif k == "section" then spec.section = v or nil
        else spec[k] = v end
      end
      local ok, errs = quire.content.validate(spec)
      if not ok then errors.invalid("invalid " .. e.type, errs) end
      local now = time.now()
      db:exec("INSERT INTO staged_edits (entry_id, base_revision, version, data, user_id, updated_at) VALUES (?, ?, 1, ?, ?, ?)"
        .. " ON CONFLICT (entry_id) DO UPDATE SET version = staged_edits.version + 1, data = excluded.data, user_id = excluded.user_id,"
        .. " updated_at = excluded.updated_at", entry_id, cur and cur.base_revision or base_revision, json.encode(changes), user_id, now)
      site.audit("entry.staged", "entry:" .. entry_id, e.title)
      return api.staged(entry_id)
    end)
  end

  -- Applies the pending version to the live entry (a new revision), as the acting user. A live
  -- entry changed since the pending version was based on it is a conflict (nothing is lost: the
  -- pending version stays).
  function api.publish_staged(entry_id)
    return transaction(function()
      local s = api.staged(entry_id)
      if not s then errors.raise("not_found", ("entry %d has no pending version"):format(entry_id)) end
      local data = s.data
      if data.section == nil then data.section = nil end
      quire.content.update(entry_id, data, { base_revision = s.base_revision })
      db:exec("DELETE FROM staged_edits WHERE entry_id = ?", entry_id)
      site.audit("entry.staged_published", "entry:" .. entry_id, "")
      return true
    end)
  end

  function api.schedule_staged(entry_id, at)
    local norm, err = time.parse(at)
    if not norm then errors.invalid("invalid schedule", { { field = "publish_at", message = err } }) end
    if norm <= time.now() then errors.invalid("invalid schedule", { { field = "publish_at", message = "must be in the future" } }) end
    return transaction(function()
      if db:exec("UPDATE staged_edits SET publish_at = ? WHERE entry_id = ?", norm, entry_id) == 0 then
        errors.raise("not_found", ("entry %d has no pending version"):format(entry_id))
      end
      site.audit("entry.staged_scheduled", "entry:" .. entry_id, norm)
      return norm
    end)
  end

  function api.discard_staged(entry_id)
    return transaction(function()
      local n = db:exec("DELETE FROM staged_edits WHERE entry_id = ?", entry_id)
      if n > 0 then site.audit("entry.staged_discarded", "entry:" .. entry_id, "") end
      return n > 0
    end)
  end

  -- The job: publishes the pending versions whose time has come. A failure (a conflict, a
  -- validation error) leaves that one pending, unscheduled, and is reported.
  function api.publish_due_staged()
    local done, failed = 0, {}
    for _, row in ipairs(db:rows("SELECT entry_id FROM staged_edits WHERE publish_at IS NOT NULL AND publish_at <= ? ORDER BY publish_at LIMIT ?",
      time.now(), M.STAGED_DUE_MAX)) do
      local ok, err = pcall(site.acting, { name = "job:newsroom.staged" }, api.publish_staged, row.entry_id)
      if ok then done = done + 1 else
        failed[#failed + 1] = ("entry %d: %s"):format(row.entry_id, tostring(err))
        transaction(function() db:exec("UPDATE staged_edits SET publish_at = NULL WHERE entry_id = ?", row.entry_id) end)
      end
    end
    if #failed > 0 then error("pending versions not published: " .. table.concat(failed, "; "), 0) end
    return done
  end

  -- Notes --------------------------------------------------------------------------------------
  function api.note_add(entry_id, user_id, body)
    local bad = text_error("note", body, M.NOTE_MAX)
    if bad then errors.invalid("invalid note", { bad }) end
    return transaction(function()
      local _, id = db:exec("INSERT INTO editorial_notes (entry_id, user_id, body, created_at) VALUES (?, ?, ?, ?)",
        entry_id, user_id, body, time.now())
      return id
    end)
  end

  function api.notes(entry_id)
    return db:rows("SELECT n.id, n.body, n.created_at, u.login, u.display_name FROM editorial_notes n"
      .. " LEFT JOIN users u ON u.id = n.user_id WHERE n.entry_id = ? ORDER BY n.id DESC LIMIT 200", entry_id)
  end

  -- Corrections --------------------------------------------------------------------------------
  -- Which entries of a block have corrections (memo.of_block), kept until one of them gets one.
  local function add_corrected(of, r) of[r.entry_id] = true end

  -- Marks revision_id (a change to published entry_id) as a correction with a note; the story's
  -- page shows it from then on.
  function api.correction_add(entry_id, revision_id, note, user_id)
    local bad = text_error("note", note, M.CORRECTION_MAX)
    if bad then errors.invalid("invalid correction", { bad }) end
    return transaction(function()
      local rev = db:row("SELECT id, status, created_at FROM revisions WHERE id = ? AND entry_id = ?", revision_id, entry_id)
      if not rev then errors.raise("not_found", ("entry %d has no revision %s"):format(entry_id, tostring(revision_id))) end
      if rev.status ~= "published" then
        errors.invalid("invalid correction", { { field = "revision", message = "a correction marks a change to the published story" } })
      end
      local _, id = db:exec("INSERT INTO corrections (entry_id, revision_id, note, user_id, created_at) VALUES (?, ?, ?, ?, ?)",
        entry_id, revision_id, note, user_id, rev.created_at)
      site.audit("entry.correction", "entry:" .. entry_id, note)
      local eid = math.tointeger(tonumber(entry_id)) -- (numeric: its revision was found)
      site.bump({ ["entry:" .. entry_id] = true, ["corrections:" .. entry_id] = true,
        [memo.block_tag("corrections", eid or 0)] = true })
      return id
    end)
  end

  -- The corrections of an entry, oldest first: { note =, date = } (public).
  function api.corrections(entry_id)
    site.tag("entry:" .. tostring(entry_id))
    if math.type(entry_id) == "integer" and not memo.of_block(site, "corrections", entry_id,
      "SELECT DISTINCT entry_id FROM corrections WHERE entry_id BETWEEN ? AND ?", add_corrected)[entry_id] then
      return {}
    end
    -- Kept by the memo until one is added (an edit of the entry changes none); a copy each.
    return copy(site.memo.tagged("corrections\0" .. tostring(entry_id), "corrections:" .. tostring(entry_id), db.rows, db,
      "SELECT note, created_at AS date FROM corrections WHERE entry_id = ? ORDER BY id LIMIT 100", entry_id))
  end

  return api
end

return M
