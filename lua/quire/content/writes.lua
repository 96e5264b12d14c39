-- Writing entries: create, update, the trash, restore; each save in one transaction (entry,
-- terms, revision, cache tags, search index), so a failure leaves nothing behind. Also what
-- `quire run` needs of them: counts and samples of what was written, a guard on deletes, and
-- the entries of a quire.each batch read once for the batch's saves.
--
-- writes = require("quire.content.writes").of(site): the quire.content functions create,
-- update, validate, delete, trash, untrash, empty_trash, restore; and
--   writes.stats, writes.reset_stats()   what writes did ({ created, changed, deleted, trashed,
--                                        changes, samples }), for `quire run` summaries
--   writes.guard_deletes(f)             f() runs before each delete (it may raise); nil: none
--   writes.batch_query(q)               quire.content.query's rows, kept for the saves that follow
--   writes.forget_batch()               drops what batch_query kept (and the term ids)
local cjson = require "cjson"
local core = require "quire.core"
local errors = require "quire.errors"
local per_site = require "quire.per_site"
local reads_mod = require "quire.content.reads"
local related = require "quire.related"
local store_sql = require "quire.store_sql"
local tags_mod = require "quire.cache_tags"
local terms_mod = require "quire.content.terms"
local time = require "quire.time"
local validate_mod = require "quire.content.validate"

local M = {}

local CREATE_KEYS = {
  type = true, title = true, body = true, status = true, slug = true, author = true,
  published_at = true, fields = true, tags = true, section = true,
}

-- Columns an update may change, in a fixed order so each set of changes is one cached statement.
local UPDATABLE = { "slug", "status", "title", "body", "fields", "author_id", "published_at" }

local json = validate_mod.json
local ID_BLOCK, ENTRY_COLUMNS = reads_mod.ID_BLOCK, reads_mod.ENTRY_COLUMNS
local list_tag, same_terms, slug_of = terms_mod.list_tag, terms_mod.same, terms_mod.slug_of
local TERM_ROWS = terms_mod.TERM_ROWS

M.of = per_site(function(site)
  local db, limits, types = site.db, site.limits, site.types
  local tx = site.tx
  local transaction = tx.run
  local reads, terms, tags = reads_mod.of(site), terms_mod.of(site), tags_mod.of(site)
  local validate = validate_mod.of(site).entry
  local api = {}

  -- A save inside a bigger transaction (a quire.each batch) needs no savepoint of its own when
  -- no plugin watches saves: it checks everything before its first write (it sets writing
  -- then), and if it fails after that it poisons the transaction (quire.transaction), which then
  -- cannot commit half a save even if the caller catches the error. The savepoint per save was
  -- a tenth of a bulk retag's time (SQLite copies every page a save touches into it).
  local writing = false
  local watched_hooks, watched_version, watched_value
  local function watched()
    local hooks = site.hooks
    if not hooks then return false end
    if hooks ~= watched_hooks or hooks.version ~= watched_version then -- looked up once per registry state
      watched_hooks, watched_version = hooks, hooks.version
      watched_value = hooks:has("hook", "entry.saving") or hooks:has("hook", "entry.saved")
        or hooks:has("hook", "entry.published")
    end
    return watched_value
  end
  local function save(fn, ...)
    if db:depth() == 0 then
      -- A save whose transaction fails (a full disk at commit) is not counted as a change.
      local stats = api.stats
      local created, changed = stats.created, stats.changed
      -- Its own transaction: a failure rolls all of it back, so unless a plugin's hook runs
      -- inside (and may catch a failed statement), its statements need no savepoint each.
      local ok, res
      if watched() then ok, res = pcall(transaction, fn, ...)
      else ok, res = store_sql.pcall_unguarded(db, transaction, fn, ...) end
      if ok then return res end
      stats.created, stats.changed = created, changed
      error(res, 0)
    end
    if watched() then return transaction(fn, ...) end
    writing = false
    local ok, res = store_sql.pcall_unguarded(db, fn, ...)
    if ok then return res end
    if writing then tx:poison(res) end
    error(res, 0)
  end
  -- What writes did, for `quire run` summaries (--dry-run): counts and a few sample changes.
  function api.reset_stats()
    api.stats = { created = 0, changed = 0, deleted = 0, trashed = 0, samples = {} }
  end
  api.reset_stats()
  local function sample(id, what, before, after)
    local samples = api.stats.samples
    if #samples < 20 then samples[#samples + 1] = { id = id, what = what, before = before, after = after } end
  end

  -- A slug from the title, unique within the type: "title", "title-2", "title-3", ...
  local function unique_slug(type_name, title)
    local base = core.slugify(title, limits.slug_max - 6)
    if base == "" then base = type_name end
    if not db:row("SELECT 1 AS x FROM entries WHERE type = ? AND slug = ?", type_name, base) then
      return base
    end
    local max = 1
    local rows = store_sql.numbered_slugs(db, type_name, base)
    for _, r in ipairs(rows) do
      local n = tonumber(r.slug:sub(#base + 2))
      if n and r.slug:sub(#base + 2):match("^%d+$") and n > max then max = n end
    end
    return base .. "-" .. (max + 1)
  end

  local function by_entry_position(a, b)
    if a.entry_id ~= b.entry_id then return a.entry_id < b.entry_id end
    return a.position < b.position
  end

  -- Entries as stored, for writes (current): fields still JSON text (to tell whether they
  -- changed), tags and section by name, and the stored term rows of each taxonomy (for
  -- terms.set). quire.each reads the entries of a batch for their saves here (batch_query), in two
  -- statements instead of two per save. A preloaded entry serves one write and is dropped by any
  -- other change to it; bulk.lua forgets them all when the batch transaction ends, quire.terms on
  -- rename and merge.
  local preloaded = {}
  function api.forget_batch()
    preloaded = {}
    terms.forget() -- a term rename or merge calls this too
  end

  local function current(id)
    local cur = preloaded[id]
    if cur then
      preloaded[id] = nil
      return cur
    end
    cur = db:row("SELECT " .. ENTRY_COLUMNS .. " FROM entries e WHERE e.id = ?", id)
    if not cur then return nil end
    terms.attach({ [id] = cur }, db:rows(TERM_ROWS .. " WHERE et.entry_id = ? ORDER BY et.position", id))
    return cur
  end

  -- The cache tags a write to an entry touches (DESIGN.md, page cache). Always the entry;
  -- how.teaser: what a card or headline shows of it changed (any change but one to the body
  -- alone): "teaser:ID" (quire.content.teasers). how.public: it is or was published: its
  -- sitemap block and "entries:any" (search results, lists by last update); and with how.moved
  -- (it joined, left or moved within lists: created, deleted; status, published_at, author, tags
  -- or section changed) the lists it is in by type, tag and section, "list:all", the pages
  -- linking to it as a neighbour (prev/next) and the related lists of its tags. A write to an
  -- entry that is not published before or after bumps no public list: "list:drafts" (lists of
  -- any status), and "entries:any" when its text changed (how.text: search ranks by every
  -- text the index holds). Related lists' other tags: quire.related.changed.
  local function neighbours_of(e, t)
    if e.status ~= "published" or not e.published_at then return end
    for _, within in ipairs({ "type", "section" }) do
      local p, n = reads.neighbour_ids(e, within)
      if p then t["neighbours:" .. p] = true end
      if n then t["neighbours:" .. n] = true end
    end
  end
  local function touched(e, tags, section, how, extra)
    local t = extra or {}
    t["entry:" .. e.id] = true
    if how.teaser then t["teaser:" .. e.id] = true end
    if how.drafts then t["list:drafts"] = true end
    if not how.public then
      if how.text then t["entries:any"] = true end
      return t
    end
    t["ids:" .. e.id // ID_BLOCK] = true
    t["entries:any"] = true
    if how.moved then
      t["list:all"] = true
      t[list_tag("type", e.type)] = true
      if section then t[list_tag("section", section)] = true end
      neighbours_of(e, t)
      for i = 1, #(tags or {}) do
        t[list_tag("tag", tags[i])] = true
        t["related:tag:" .. slug_of(tags[i])] = true
      end
    end
    return t
  end
  -- An entry created, deleted, trashed or given back: public when published on either side.
  local function moved(public)
    return { moved = true, teaser = true, public = public, drafts = not public, text = true }
  end

  -- A revision's terms as JSON: {"section":..., "tags":[...]}, the tags a list even when empty.
  local function terms_json(tags, section)
    if tags and #tags > 0 then return json.encode({ tags = tags, section = section or nil }) end
    return section and ('{"section":' .. json.encode(section) .. ',"tags":[]}') or '{"tags":[]}'
  end

  -- row holds the saved columns; tags and section are the entry's terms after the save.
  local function write_revision(entry_id, row, tags, section, now)
    db:exec("INSERT INTO revisions (entry_id, title, slug, status, body, fields, terms, published_at, author_id, saved_by, actor, created_at)"
      .. " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      entry_id, row.title, row.slug, row.status, row.body, row.fields,
      terms_json(tags, section), row.published_at, row.author_id, site.actor.id, site.actor.name, now)
  end

  -- entry.saving may veto (a handler returns false, "why"); entry.saved and entry.published
  -- follow the write inside the same transaction, so a failing handler undoes the save.
  local function saving(row, id)
    local hooks = site.hooks
    if not (watched() and hooks:has("hook", "entry.saving")) then return end
    local draft = { id = id, type = row.type, slug = row.slug, status = row.status, title = row.title, body = row.body,
      fields = row.fields and json.decode(row.fields) or {}, author = row.author_id, published_at = row.published_at,
      tags = row.tags, section = row.section or nil }
    local ok, why, plugin = hooks:emit("entry.saving", draft)
    if not ok then
      errors.invalid("save refused", { { message = ("plugin '%s' refused the save: %s"):format(plugin, why) } })
    end
  end

  local function saved(id, was_published)
    local hooks = site.hooks
    if not watched() then return end
    local want_saved, want_published = hooks:has("hook", "entry.saved"), hooks:has("hook", "entry.published")
    if not (want_saved or want_published) then return end
    local e = reads.get(id)
    if want_saved then hooks:emit("entry.saved", e) end
    if want_published and e.status == "published" and not was_published then hooks:emit("entry.published", e) end
  end

  local create_in_transaction
  function api.create(spec)
    if type(spec) ~= "table" then error("quire.content.create takes a table", 2) end
    for k in pairs(spec) do
      if not CREATE_KEYS[k] then errors.invalid("invalid entry", { { field = tostring(k), message = "is not an entry attribute" } }) end
    end
    return save(create_in_transaction, spec)
  end

  -- api.create's work, inside its transaction.
  function create_in_transaction(spec)
    store_sql.defer_search(db)
    local row = validate(spec, nil)
    row.slug = row.slug or unique_slug(row.type, row.title)
    saving(row, nil)
    local now = time.now()
    writing = true
    local _, id = db:exec("INSERT INTO entries (type, slug, status, title, body, fields, author_id, created_at, updated_at, published_at)"
      .. " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      row.type, row.slug, row.status, row.title, row.body, row.fields, row.author_id, now, now, row.published_at)
    if row.tags then terms.set(id, "tag", row.tags, {}) end
    if row.section then terms.set(id, "section", { row.section }, {}) end
    write_revision(id, row, row.tags, row.section, now)
    local t = related.changed(db, nil, row, {})
    site.bump(touched({ id = id, type = row.type, status = row.status, published_at = row.published_at, section = row.section or nil },
      row.tags, row.section or nil, moved(row.status == "published"), t))
    api.stats.created = api.stats.created + 1
    sample(id, "created", nil, row.title)
    saved(id, false)
    return id
  end

  -- Validates a would-be entry without writing: returns true, or false and the error list.
  function api.validate(spec)
    local ok, e = pcall(validate, spec, spec.id)
    if ok then return true end
    if errors.is(e, "invalid") then return false, e.errors end
    error(e, 0)
  end

  local update_in_transaction, update_sql
  -- opts (optional): { base_revision = N }, the revision the changes were made from (entry.revision
  -- as get returned it): the update is refused with a "conflict" error naming the current revision
  -- if another write came first. Without it the last write wins.
  function api.update(id, changes, opts)
    if math.type(id) ~= "integer" then error("quire.content.update takes an entry id", 2) end
    if type(changes) ~= "table" then error("quire.content.update takes a table of changes", 2) end
    local base
    if opts ~= nil then
      if type(opts) ~= "table" then error("quire.content.update: options must be a table ({ base_revision = N })", 2) end
      for k in pairs(opts) do
        if k ~= "base_revision" then error(("quire.content.update: unknown option '%s'"):format(tostring(k)), 2) end
      end
      base = opts.base_revision
      if base ~= nil and math.type(base) ~= "integer" then
        error("quire.content.update: base_revision must be a revision id (an integer, entry.revision)", 2)
      end
    end
    for k in pairs(changes) do
      if not CREATE_KEYS[k] or k == "type" then
        errors.invalid("invalid change", { { field = tostring(k), message = k == "type" and "cannot be changed" or "is not an entry attribute" } })
      end
    end
    return save(update_in_transaction, id, changes, base)
  end

  local SAMPLED = { "title", "slug", "status", "body", "published_at" }
  local FIELDS_BIT = 1 << 5 -- UPDATABLE[5] is fields
  -- Changes that move an entry within lists (status, author_id, published_at), and those that
  -- related posts' scoring reads (title, fields: the standfirst and keywords are fields).
  local MOVE_BITS = (1 << 2) | (1 << 6) | (1 << 7)
  local BODY_BIT = 1 << 4
  -- Changes related lists can see (status, title, body, fields, published_at: quire.related.changed).
  local RELATED_BITS = (1 << 2) | (1 << 3) | BODY_BIT | FIELDS_BIT | (1 << 7)
  local function canonical(fields_json)
    return fields_json and require("quire.json").encode(json.decode(fields_json))
  end
  -- Whether two lists of term names name the same terms in the same order.
  local function same_terms(a, b)
    if #a ~= #b then return false end
    for i = 1, #a do
      if slug_of(a[i]) ~= slug_of(b[i]) then return false end
    end
    return true
  end
  -- The UPDATE for a set of changed columns (a bit per UPDATABLE column), made once.
  local update_sqls = {}
  function update_sql(mask)
    local sql = update_sqls[mask]
    if not sql then
      local sets = { "updated_at = ?" }
      for i, col in ipairs(UPDATABLE) do
        if mask & (1 << i) ~= 0 then sets[#sets + 1] = col .. " = ?" end
      end
      sql = "UPDATE entries SET " .. table.concat(sets, ", ") .. " WHERE id = ?"
      update_sqls[mask] = sql
    end
    return sql
  end
  -- api.update's work, inside its transaction (a named function: no closure per save).
  function update_in_transaction(id, changes, base)
    store_sql.defer_search(db)
    local cur = current(id)
    if not cur then errors.raise("not_found", ("no entry %d"):format(id)) end
    if base then -- in the write transaction (BEGIN IMMEDIATE): no write can come between
      local now_rev = db:value("SELECT max(id) FROM revisions WHERE entry_id = ?", id)
      if now_rev ~= base then
        -- Say what changed since the base (its revision row against the entry as it is now).
        local old = db:row("SELECT title, slug, status, body, fields, terms, published_at FROM revisions WHERE id = ? AND entry_id = ?", base, id)
        local what
        if not old then
          what = ("revision %d is not one of entry %d's"):format(base, id)
        else
          local changed = {}
          for _, col in ipairs({ "title", "slug", "status", "body", "fields", "published_at" }) do
            if old[col] ~= cur[col] then changed[#changed + 1] = col end
          end
          local old_terms = json.decode(old.terms or "{}")
          if table.concat(old_terms.tags or {}, "\0") ~= table.concat(cur.tags, "\0") then changed[#changed + 1] = "tags" end
          if (old_terms.section or nil) ~= cur.section then changed[#changed + 1] = "section" end
          what = ("entry %d was changed since revision %d%s"):format(id, base,
            #changed > 0 and (" (" .. table.concat(changed, ", ") .. ")") or "")
        end
        errors.raise("conflict", ("%s: its current revision is %s; read it again and reapply your changes"):format(what, tostring(now_rev)),
          { { field = "base_revision", message = ("is %d, the current revision is %s"):format(base, tostring(now_rev)) } })
      end
    end
    if cur.status == "trash" then
      errors.invalid("invalid change", { { field = "status", message = ("entry %d is in the trash: untrash it first"):format(id) } })
    end
    local merged = {
      type = cur.type, title = cur.title, body = cur.body, status = cur.status,
      author = cur.author_id, published_at = cur.published_at,
      slug = cur.slug, existing_author = cur.author_id, existing_published_at = cur.published_at,
      fields = nil, fields_json = nil, tags = nil, section = nil, -- sized for them (see validate)
    }
    if changes.fields == nil then
      merged.fields_json = cur.fields -- validate() decodes them only if it must
    else
      merged.fields = json.decode(cur.fields)
    end
    for k, v in pairs(changes) do
      if k == "fields" and type(v) == "table" then
        for fk, fv in pairs(v) do
          if fv == cjson.null then fv = nil end
          merged.fields[fk] = fv
        end
      elseif k ~= "tags" and k ~= "section" then
        merged[k] = v
      end
    end
    if changes.status == "published" and changes.published_at == nil and cur.status ~= "published" and cur.published_at == nil then
      merged.published_at = time.now()
    end
    merged.tags, merged.section = changes.tags, changes.section
    local row = validate(merged, id, cur.slug)
    row.tags = row.tags or cur.tags
    if row.section == nil then row.section = cur.section end
    saving(row, id)
    -- Only changed columns are written: an unchanged indexed column then costs no index
    -- update, and the search index trigger runs only when title or body is written.
    local now = time.now()
    local mask = 0
    for i = 1, #UPDATABLE do
      if row[UPDATABLE[i]] ~= cur[UPDATABLE[i]] then mask = mask | (1 << i) end
    end
    -- The same fields in another key order are no change.
    if mask & FIELDS_BIT ~= 0 and canonical(row.fields) == canonical(cur.fields) then
      row.fields = cur.fields
      mask = mask & ~FIELDS_BIT
    end
    local terms_changed = changes.tags ~= nil and not same_terms(row.tags, cur.tags)
      or changes.section ~= nil and not same_terms({ row.section or nil }, { cur.section })
    -- A save that changes nothing writes nothing: no revision, no updated_at, no cache bump.
    if mask == 0 and not terms_changed then return true end
    local params, n = nil, 1
    for i = 1, #UPDATABLE do
      if mask & (1 << i) ~= 0 then
        params = params or { now }
        n = n + 1
        params[n] = row[UPDATABLE[i]]
      end
    end
    -- Out of its place in the lists: the pages linking to it as a neighbour, before the write.
    local moves = mask & MOVE_BITS ~= 0 or terms_changed
    local pending = tags.pending
    if moves then neighbours_of(cur, pending) end
    writing = true
    if params then
      params[n + 1] = id
      db:exec(update_sql(mask), table.unpack(params, 1, n + 1))
    else -- only updated_at (a retag): no parameter table
      db:exec(update_sql(0), now, id)
    end
    if changes.tags ~= nil then terms.set(id, "tag", row.tags, cur.stored.tag) end
    if changes.section ~= nil then terms.set(id, "section", row.section and { row.section } or {}, cur.stored.section or {}) end
    local nests = types:get(cur.type).fields.path
    if row.slug ~= cur.slug or row.published_at ~= cur.published_at or (row.fields ~= cur.fields and nests) then
      -- A new permalink: a public entry's old one redirects to it (quire.redirects), and a
      -- nested page's children move with it.
      local old_url, new_url = reads.url(cur), reads.url({ id = id, type = cur.type, slug = row.slug,
        published_at = row.published_at, created_at = cur.created_at, fields = row.fields })
      if old_url ~= new_url and cur.status == "published" then require("quire.redirects").entry_moved(site, id, old_url, new_url) end
      if old_url ~= new_url and nests then
        local path = json.decode(row.fields).path
        path = (type(path) == "string" and path ~= "" and (path .. "/") or "") .. row.slug
        for _, c in ipairs(store_sql.children_of(db, cur.type, id)) do
          api.update(c.id, { fields = { path = path } })
        end
      end
    end
    write_revision(id, row, row.tags, row.section or nil, now)
    -- Straight into the transaction's set of tags to bump (it is flushed before the commit):
    -- the lists it is in now, and those it was in (entry, list:all and its type are in already).
    local was, is = cur.status == "published", row.status == "published"
    local how = { moved = moves, teaser = mask & ~BODY_BIT ~= 0 or terms_changed, public = was or is,
      drafts = not (was and is), text = mask & (BODY_BIT | (1 << 3) | FIELDS_BIT) ~= 0 }
    touched({ id = id, type = cur.type, status = row.status, published_at = row.published_at, section = row.section or nil },
      row.tags, row.section or nil, how, pending)
    if mask & RELATED_BITS ~= 0 then related.changed(db, cur, row, pending) end
    -- Out of public view: no page kept before may be given stale (core/cache.h).
    if was and not is then pending["quire:withdrawn"] = true end
    if moves and how.public then
      local old_tags = cur.tags
      for i = 1, #old_tags do
        pending[list_tag("tag", old_tags[i])] = true
        pending["related:tag:" .. slug_of(old_tags[i])] = true
      end
      if cur.section then pending[list_tag("section", cur.section)] = true end
    end
    local stats = api.stats
    stats.changed = stats.changed + 1
    for _, f in ipairs(SAMPLED) do
      if cur[f] ~= row[f] then
        stats.changes = (stats.changes or 0) + 1
        sample(id, f, cur[f], row[f])
      end
    end
    if changes.tags ~= nil and terms_changed then
      stats.changes = (stats.changes or 0) + 1
      if #stats.samples < 20 then sample(id, "tags", table.concat(cur.tags, ", "), table.concat(row.tags or {}, ", ")) end
    end
    saved(id, cur.status == "published")
    return true
  end

  -- Deletes go to the trash: the entry keeps its row, revisions, comments and shares, but its
  -- status is 'trash', which no public read asks for; the trash table remembers the status
  -- untrash gives back. Only a trashed entry can be deleted for good (opts.permanent, or
  -- empty_trash), and only then do its revisions, comments and shares go with it.
  local guard
  function api.guard_deletes(f) guard = f end
  local function trash_move(id, cur)
    if guard then guard() end
    db:exec("INSERT INTO trash (entry_id, status, trashed_at, actor) VALUES (?, ?, ?, ?)", id, cur.status, time.now(), site.actor.name)
    db:exec("UPDATE entries SET status = 'trash' WHERE id = ?", id)
    site.audit("entry.trashed", "entry:" .. id, cur.title)
  end
  local function purge(id, cur)
    if guard then guard() end
    db:exec("DELETE FROM entries WHERE id = ?", id) -- its trash row, revisions, comments, shares go with it
    site.audit("entry.deleted", "entry:" .. id, cur.title)
    api.stats.deleted = api.stats.deleted + 1
    sample(id, "deleted", cur.title, nil)
  end
  -- cur: the entry with the status it had (a delete) or has again (untrash). how: "trashed",
  -- "deleted" (for good, from the trash) or "untrashed".
  local function gone(cur, how)
    local t = { ["comments:" .. cur.id] = true, ["quire:withdrawn"] = true }
    local trashed = { status = "trash", title = cur.title, body = cur.body, fields = cur.fields, published_at = cur.published_at }
    if how == "deleted" then related.changed(db, cur, nil, t)
    elseif how == "untrashed" then related.changed(db, trashed, cur, t)
    else related.changed(db, cur, trashed, t) end
    site.bump(touched(cur, cur.tags, cur.section, moved(cur.status == "published"), t))
  end

  -- quire.content.delete(id [, { permanent = true }]) -> true, or false when there is no such
  -- entry. Without permanent the entry goes to the trash (a trashed one stays there).
  function api.delete(id, opts)
    if math.type(id) ~= "integer" then error("quire.content.delete takes an entry id", 2) end
    if opts ~= nil and type(opts) ~= "table" then error("quire.content.delete(id [, { permanent = true }])", 2) end
    local permanent = opts and opts.permanent
    return transaction(function()
      store_sql.defer_search(db)
      preloaded[id] = nil
      local cur = reads.get(id)
      if not cur then return false end
      if permanent then
        if cur.status ~= "trash" then
          errors.raise("invalid", ("entry %d is not in the trash: trash it first (quire.content.trash), then delete it for good"):format(id))
        end
        purge(id, cur)
      elseif cur.status ~= "trash" then
        trash_move(id, cur)
        api.stats.trashed = api.stats.trashed + 1
        sample(id, "trashed", cur.title, nil)
      end
      gone(cur, permanent and "deleted" or "trashed")
      return true
    end)
  end
  api.trash = function(id)
    if math.type(id) ~= "integer" then error("quire.content.trash takes an entry id", 2) end
    return api.delete(id)
  end

  -- Gives a trashed entry back the status it had. Returns true, or false when there is no such
  -- entry; raises for an entry that is not in the trash.
  function api.untrash(id)
    if math.type(id) ~= "integer" then error("quire.content.untrash takes an entry id", 2) end
    return transaction(function()
      preloaded[id] = nil
      local cur = reads.get(id)
      if not cur then return false end
      local row = db:row("SELECT status FROM trash WHERE entry_id = ?", id)
      if cur.status ~= "trash" or not row then errors.raise("invalid", ("entry %d is not in the trash"):format(id)) end
      db:exec("UPDATE entries SET status = ? WHERE id = ?", row.status, id)
      db:exec("DELETE FROM trash WHERE entry_id = ?", id)
      site.audit("entry.untrashed", "entry:" .. id, cur.title)
      cur.status = row.status
      gone(cur, "untrashed")
      return true
    end)
  end

  -- Deletes for good what is in the trash (opts.before: only what was trashed before that
  -- time), a thousand entries per transaction. Returns how many were deleted.
  function api.empty_trash(opts)
    opts = opts or {}
    local before
    if opts.before ~= nil then
      local err
      before, err = time.parse(opts.before)
      if not before then error("quire.content.empty_trash: before " .. err, 2) end
    end
    local n = 0
    repeat
      local batch = transaction(function()
        store_sql.defer_search(db)
        local rows = reads.trashed { before = before, limit = 1000 }
        for _, r in ipairs(rows) do
          preloaded[r.id] = nil
          local cur = reads.get(r.id)
          purge(r.id, cur)
          gone(cur, "deleted")
        end
        return #rows
      end)
      n = n + batch
    until batch < 1000
    return n
  end

  -- quire.each's page of entries: what api.query returns, read once for the caller and for the
  -- saves fn makes (the preloaded entries of current(): stored columns, terms as rows). Raises
  -- at the caller of its caller, as quire.content.query does.
  function api.batch_query(q)
    local rows = reads.select_rows(q)
    local by_id, ids, user = {}, {}, {}
    for i = 1, #rows do
      local r = rows[i]
      local id = r.id
      ids[i] = id
      -- what current() gives a save (as terms.attach builds it; the section list made if needed)
      by_id[id] = { id = id, type = r.type, slug = r.slug, status = r.status, title = r.title, body = r.body,
        fields = r.fields, author_id = r.author_id, created_at = r.created_at, updated_at = r.updated_at,
        published_at = r.published_at, tags = {}, section = nil, stored = { tag = {}, section = nil } }
      -- what the caller gets (as decode_entry makes it)
      user[id] = r
      r.fields = r.fields == "{}" and {} or json.decode(r.fields)
      r.author = r.author_id
      r.tags = {}
    end
    local term_rows = {}
    if #ids > 0 then
      -- SQLite gives them in (entry, term id) order, most often already by position: sorting
      -- here only when they are not costs less than an ORDER BY.
      term_rows = db:rows(TERM_ROWS .. " WHERE et.entry_id " .. store_sql.IN_LIST, store_sql.id_list(ids))
      for i = 2, #term_rows do
        local a, b = term_rows[i - 1], term_rows[i]
        if a.entry_id > b.entry_id or (a.entry_id == b.entry_id and a.position > b.position) then
          table.sort(term_rows, by_entry_position)
          break
        end
      end
    end
    for i = 1, #term_rows do
      local t = term_rows[i]
      local cur, r = by_id[t.entry_id], user[t.entry_id]
      local stored = cur.stored
      if t.taxonomy == "tag" then
        stored.tag[#stored.tag + 1] = t
        cur.tags[#cur.tags + 1] = t.name
        r.tags[#r.tags + 1] = t.name
      else
        local list = stored.section or {}
        stored.section = list
        list[#list + 1] = t
        cur.section, r.section = t.name, t.name
      end
    end
    preloaded = by_id
    return rows
  end

  -- Brings an entry back to an earlier revision; the restore is itself a new revision.
  function api.restore(id, revision_id)
    local rev = db:row("SELECT title, slug, status, body, fields, terms, published_at, author_id FROM revisions WHERE id = ? AND entry_id = ?", revision_id, id)
    if not rev then errors.raise("not_found", ("entry %s has no revision %s"):format(tostring(id), tostring(revision_id))) end
    local t = json.decode(rev.terms)
    local section = t.section
    if section == cjson.null or section == nil then section = false end
    local cur = reads.get(id)
    local fields = json.decode(rev.fields)
    for k in pairs(cur.fields) do if fields[k] == nil then fields[k] = cjson.null end end
    return api.update(id, { title = rev.title, slug = rev.slug, status = rev.status, body = rev.body, fields = fields,
      published_at = rev.published_at, author = rev.author_id, tags = t.tags or {}, section = section })
  end

  return api
end)

return M
