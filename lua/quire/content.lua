-- Entries, terms and revisions: the content model over the store. Every write runs in one
-- transaction (entry + terms + revision + search index), so a failure leaves nothing behind.
local cjson = require "cjson"
local core = require "quire.core"
local errors = require "quire.errors"
local copy = require("quire.memo").copy
local time = require "quire.time"
local types_mod = require "quire.types"

local M = {}

local CREATE_KEYS = {
  type = true, title = true, body = true, status = true, slug = true, author = true,
  published_at = true, fields = true, tags = true, section = true,
}
local TAXONOMIES = { "tag", "section" }
local ORDERS = {
  newest = { key = "coalesce(e.published_at, e.created_at)", dir = "DESC" },
  oldest = { key = "coalesce(e.published_at, e.created_at)", dir = "ASC" },
  updated = { key = "e.updated_at", dir = "DESC" },
  id = { key = "e.id", dir = "ASC" },
}

-- Columns an update may change, in a fixed order so each set of changes is one cached statement.
local UPDATABLE = { "slug", "status", "title", "body", "fields", "author_id", "published_at" }

local json = cjson.new()
json.encode_sparse_array(false)

-- Entries per block of ids (api.published_block): a sitemap file's worth.
local ID_BLOCK = 10000

local ENTRY_COLUMNS = "e.id, e.type, e.slug, e.status, e.title, e.body, e.fields, e.author_id,"
  .. " e.created_at, e.updated_at, e.published_at"

-- core.slugify of term names, memoised: a bulk retag slugifies the same few names on every save.
local slug_memo, slug_memo_n = {}, 0
local function slug_of(name)
  local slug = slug_memo[name]
  if slug then return slug end
  slug = core.slugify(name)
  if slug_memo_n >= 10000 then slug_memo, slug_memo_n = {}, 0 end
  slug_memo[name], slug_memo_n = slug, slug_memo_n + 1
  return slug
end

-- Whether a name in list has this slug.
local function has_slug(list, slug)
  for j = 1, #list do
    if slug_of(list[j]) == slug then return true end
  end
  return false
end

-- Lua's %s (what titles and term names are trimmed of) as bytes.
-- (core.trim: a "%s+$" pattern is quadratic in a run of inner whitespace.)
local SPACE = { [9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [32] = true }
local core_trim = core.trim
local function trim(v)
  if SPACE[v:byte(1)] or SPACE[v:byte(-1)] then return core_trim(v) end
  return v
end

-- A JSON array of entry ids for json_each(): table.concat formats integers far more cheaply than
-- cjson (which formats every number as a double).
local function id_list(ids)
  return "[" .. table.concat(ids, ",") .. "]"
end

-- Builds the content API for one site: { db = store, limits = {...}, types = registry }.
function M.new(site)
  local db, limits, types, memo = site.db, site.limits, site.types, site.memo
  local api = {}

  local transaction = site.transaction
  -- A save inside a bigger transaction (a quire.each batch) needs no savepoint of its own when
  -- no plugin watches saves: it checks everything before its first write (it sets writing
  -- then), and if it fails after that it poisons the transaction (site.poison), which then
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
      local stats = site.stats
      local created, changed = stats.created, stats.changed
      local ok, res = pcall(transaction, fn, ...)
      if ok then return res end
      stats.created, stats.changed = created, changed
      error(res, 0)
    end
    if watched() then return transaction(fn, ...) end
    writing = false
    local ok, res = pcall(fn, ...)
    if ok then return res end
    if writing then site.poison(res) end
    error(res, 0)
  end
  -- What writes did, for `quire run` summaries (--dry-run): counts and a few sample changes.
  site.stats = site.stats or { created = 0, changed = 0, deleted = 0, samples = {} }
  local function sample(id, what, before, after)
    local samples = site.stats.samples
    if #samples < 20 then samples[#samples + 1] = { id = id, what = what, before = before, after = after } end
  end

  local function user_id(author, errs, field)
    if author == nil then return nil end
    local row
    if math.type(author) == "integer" then
      row = db:row("SELECT id FROM users WHERE id = ?", author)
    elseif type(author) == "string" then
      row = db:row("SELECT id FROM users WHERE login = ?", author)
    elseif type(author) == "table" and math.type(author.id) == "integer" then
      row = db:row("SELECT id FROM users WHERE id = ?", author.id)
    end
    if not row then
      errs[#errs + 1] = { field = field or "author", message = ("no user %s"):format(tostring(author)) }
      return nil
    end
    return row.id
  end

  local function ref_exists(kind, id)
    if kind == "user" then return db:row("SELECT 1 AS ok FROM users WHERE id = ?", id) ~= nil end
    if kind == "media" then return db:row("SELECT 1 AS ok FROM media WHERE id = ?", id) ~= nil end
    return db:row("SELECT 1 AS ok FROM entries WHERE id = ?", id) ~= nil
  end

  -- Checks a text column (core.text_check does the work in one call); returns the text and
  -- whether it starts or ends with whitespace, or nil after adding the error to errs. limit:
  -- the setting an over-long value is named after (default: limits.FIELD_max).
  local text_check = core.text_check
  local function check_text(errs, field, v, required, max_chars, max_bytes, limit)
    local problem, n, pos = text_check(v, required, max_chars, max_bytes)
    if problem == nil then return v, n end
    local message
    if problem == "missing" then
      if not required then return nil end
      message = "is required"
    elseif problem == "type" then
      message = "must be text, got " .. type(v)
    elseif problem == "utf8" then
      message = "is not valid UTF-8"
    elseif problem == "char" then
      message = types_mod.char_message(n, pos)
    elseif problem == "bytes" then
      message = ("is %d bytes, the limit is %d (limits.%s)"):format(#v, max_bytes, limit or (field .. "_max"))
    else
      message = ("is %d characters, the limit is %d (limits.%s)"):format(n, max_chars, limit or (field .. "_max"))
    end
    errs[#errs + 1] = { field = field, message = message }
    return nil
  end

  -- Term names check_terms has accepted, with their trimmed form: a bulk retag checks the same
  -- few names on every save (the checks depend only on the name and limits.term_max).
  local term_names, term_names_n = {}, 0
  local function check_terms(errs, field, list)
    if list == nil then return nil end
    if list == false then return {} end -- false clears
    if type(list) == "string" then list = { list } end
    if type(list) ~= "table" then
      errs[#errs + 1] = { field = field, message = "must be a list of names" }
      return nil
    end
    if #list > limits.tags_max then
      errs[#errs + 1] = { field = field, message = ("has %d terms, the limit is %d (limits.tags_max)"):format(#list, limits.tags_max) }
      return nil
    end
    -- Duplicates (by slug) are found by looking back in out rather than through a set: lists of
    -- terms are short, and tables cost more than a scan.
    local out = {}
    for i, name in ipairs(list) do
      local valid = term_names[name]
      if not valid then
        local item = ("%s[%d]"):format(field, i)
        local checked = check_text(errs, item, name, true, limits.term_max, nil, "term_max")
        if checked then
          valid = trim(checked)
          if slug_of(valid) == "" then
            errs[#errs + 1] = { field = item, message = ("%q has no letters or digits to make a slug from"):format(valid) }
            valid = nil
          else
            if term_names_n >= 10000 then term_names, term_names_n = {}, 0 end
            term_names[name], term_names_n = valid, term_names_n + 1
          end
        end
      end
      if valid and not has_slug(out, slug_of(valid)) then out[#out + 1] = valid end
    end
    return out
  end

  -- Stored fields JSON -> the fields as validate() writes them, per type, for types whose
  -- validation depends on nothing but the value (no ref fields, no validate functions): an update
  -- that leaves the fields alone need not decode, validate and encode them again. Keyed by the
  -- type table, so a redefined type starts afresh.
  local memos = setmetatable({}, { __mode = "k" })
  local function pure(f)
    return f.type ~= "ref" and f.validate == nil and (f.item == nil or pure(f.item))
  end
  local function fields_memo(t)
    local memo = memos[t]
    if memo == nil then
      memo = { n = 0 }
      for _, f in pairs(t.fields) do
        if not pure(f) then memo = false break end
      end
      memos[t] = memo
    end
    if memo and memo.n >= 1000 then
      memo = { n = 0 }
      memos[t] = memo
    end
    return memo
  end

  -- Validates an entry record (all columns, already merged for an update). Returns the row to
  -- write or raises an "invalid" error listing every problem.
  local function validate(e, existing_id, existing_slug)
    local errs = {}
    local t = types:get(e.type)
    if type(e.type) ~= "string" then
      errs[#errs + 1] = { field = "type", message = "is required" }
    elseif not t then
      errs[#errs + 1] = { field = "type", message = ("unknown content type '%s' (known: %s)"):format(e.type, table.concat(types:names(), ", ")) }
    end
    -- Every key named in the constructor (nil for now), so the table is sized once, not rehashed
    -- as validate fills it in (a bulk run validates thousands of these).
    local row = { type = e.type, title = nil, body = nil, status = nil, published_at = nil, author_id = nil,
      slug = nil, tags = nil, section = nil, fields = nil }
    local title, padded = check_text(errs, "title", e.title, true, limits.title_max)
    if padded then title = core_trim(title) end
    row.title = title
    row.body = check_text(errs, "body", e.body or "", false, nil, limits.body_max) or ""
    row.status = e.status or "draft"
    local workflow = site.workflow
    if type(row.status) ~= "string" or not workflow.known_state(row.status) then
      errs[#errs + 1] = { field = "status", message = ("must be one of %s (got %s)"):format(table.concat(workflow.state_order, ", "), tostring(row.status)) }
    end
    if e.published_at ~= nil and e.published_at == e.existing_published_at then
      row.published_at = e.published_at -- stored dates are already normalised
    elseif e.published_at ~= nil then
      local norm, err = time.parse(e.published_at)
      if norm then row.published_at = norm else errs[#errs + 1] = { field = "published_at", message = err } end
    elseif row.status == "published" then
      row.published_at = time.now()
    end
    if row.status == "scheduled" and not row.published_at then
      errs[#errs + 1] = { field = "published_at", message = "is required for a scheduled entry" }
    end
    -- An unchanged author needs no lookup (the foreign key keeps it valid).
    if existing_id and e.author ~= nil and e.author == e.existing_author then
      row.author_id = e.author
    else
      row.author_id = user_id(e.author, errs)
    end
    if e.slug ~= nil then
      if type(e.slug) ~= "string" or not core.slug_valid(e.slug, limits.slug_max) then
        errs[#errs + 1] = { field = "slug", message = ("%q is not a valid slug: use a-z, 0-9 and single '-', at most %d bytes"):format(tostring(e.slug), limits.slug_max) }
      else
        local holder = t and e.slug ~= existing_slug
          and db:row("SELECT id, status FROM entries WHERE type = ? AND slug = ? AND id IS NOT ?", e.type, e.slug, existing_id)
        if holder then
          errs[#errs + 1] = { field = "slug", message = ("%q is already used by another %s%s"):format(e.slug, e.type,
            holder.status == "trash" and (" (entry %d, in the trash: delete it for good first)"):format(holder.id) or "") }
        else
          row.slug = e.slug
        end
      end
    end
    row.tags = check_terms(errs, "tags", e.tags)
    local sections = check_terms(errs, "section", e.section)
    if sections and #sections > 1 then
      errs[#errs + 1] = { field = "section", message = "an entry has one section" }
    end
    row.section = sections and (sections[1] or false)
    local fields = e.fields
    local fmemo = t and e.fields_json and fields_memo(t)
    if fmemo and fmemo[e.fields_json] then
      row.fields = fmemo[e.fields_json]
      fields = nil
    elseif fields == nil and e.fields_json then
      fields = json.decode(e.fields_json)
    end
    fields = fields or (not row.fields and {})
    if not fields then -- the stored fields, already found valid for this type
    elseif type(fields) ~= "table" then
      errs[#errs + 1] = { field = "fields", message = "must be a table" }
    elseif t then
      local norm, ferrs = types_mod.validate(t, fields, { ref_exists = ref_exists })
      for _, fe in ipairs(ferrs) do errs[#errs + 1] = fe end
      if #ferrs == 0 then
        local ok, encoded = pcall(json.encode, norm)
        if not ok then
          errs[#errs + 1] = { field = "fields", message = "cannot be stored as JSON: " .. tostring(encoded) }
        elseif #encoded > limits.fields_max then
          errs[#errs + 1] = { field = "fields", message = ("are %d bytes of JSON, the limit is %d (limits.fields_max)"):format(#encoded, limits.fields_max) }
        else
          row.fields = encoded
          if fmemo then fmemo.n = fmemo.n + 1; fmemo[e.fields_json] = encoded end
        end
      end
    end
    if t and t.require_alt and #errs == 0 and (row.status == "published" or row.status == "scheduled") then
      for _, fe in ipairs(require("quire.media").missing_alt(db, t, row.fields or e.fields_json)) do errs[#errs + 1] = fe end
    end
    if #errs > 0 then
      table.sort(errs, function(a, b) return a.field < b.field end)
      errors.invalid("invalid " .. tostring(e.type or "entry"), errs)
    end
    return row
  end

  -- A slug from the title, unique within the type: "title", "title-2", "title-3", ...
  local function unique_slug(type_name, title)
    local base = core.slugify(title, limits.slug_max - 6)
    if base == "" then base = type_name end
    if not db:row("SELECT 1 AS x FROM entries WHERE type = ? AND slug = ?", type_name, base) then
      return base
    end
    local max = 1
    local rows = db:rows("SELECT slug FROM entries WHERE type = ? AND slug GLOB ?", type_name, base .. "-[0-9]*")
    for _, r in ipairs(rows) do
      local n = tonumber(r.slug:sub(#base + 2))
      if n and r.slug:sub(#base + 2):match("^%d+$") and n > max then max = n end
    end
    return base .. "-" .. (max + 1)
  end

  -- Term ids by taxonomy and slug, remembered while one outermost transaction lasts (a retag of
  -- 1000 entries looks its tags up once); any rollback, and a rename or merge, forgets them.
  local term_ids = { tag = {}, section = {} }
  function site.forget_terms() term_ids = { tag = {}, section = {} } end
  local function term_id(taxonomy, name, slug)
    local id = term_ids[taxonomy][slug]
    if id then return id end
    local row = db:row("SELECT id FROM terms WHERE taxonomy = ? AND slug = ?", taxonomy, slug)
    if row then
      id = row.id
    else
      local _
      _, id = db:exec("INSERT INTO terms (taxonomy, slug, name) VALUES (?, ?, ?)", taxonomy, slug, name)
    end
    term_ids[taxonomy][slug] = id
    return id
  end

  -- Gives the entry the terms names (in this order) of taxonomy, writing only the difference
  -- from old ({ id =, slug =, position = } as stored): adding one tag inserts one row.
  local function set_terms(entry_id, taxonomy, names, old)
    local was = {}
    for i = 1, #old do was[old[i].slug] = old[i] end
    for i = 1, #names do
      local name = names[i]
      local slug = slug_of(name)
      local t = was[slug]
      if not t then
        db:exec("INSERT INTO entry_terms (entry_id, term_id, position) VALUES (?, ?, ?)", entry_id, term_id(taxonomy, name, slug), i)
      else
        was[slug] = nil
        if t.position ~= i then db:exec("UPDATE entry_terms SET position = ? WHERE entry_id = ? AND term_id = ?", i, entry_id, t.id) end
      end
    end
    for _, t in pairs(was) do db:exec("DELETE FROM entry_terms WHERE entry_id = ? AND term_id = ?", entry_id, t.id) end
  end

  -- Entries as stored, for writes: fields still JSON text (to tell whether they changed), tags
  -- and section by name, and the stored term rows of each taxonomy (for set_terms).
  local TERM_ROWS = "SELECT et.entry_id, t.id, t.taxonomy, t.slug, t.name, et.position FROM entry_terms et JOIN terms t ON t.id = et.term_id"
  local function by_entry_position(a, b)
    if a.entry_id ~= b.entry_id then return a.entry_id < b.entry_id end
    return a.position < b.position
  end
  local function with_terms(by_id, term_rows)
    for _, cur in pairs(by_id) do cur.tags, cur.stored = {}, { tag = {}, section = {} } end
    for _, r in ipairs(term_rows) do
      local cur = by_id[r.entry_id]
      local stored = cur.stored[r.taxonomy]
      stored[#stored + 1] = r
      if r.taxonomy == "tag" then cur.tags[#cur.tags + 1] = r.name else cur.section = r.name end
    end
  end

  -- quire.each reads the entries of a batch for their saves here, in two statements instead of
  -- two per save. A preloaded entry serves one write and is dropped by any other change to it;
  -- bulk.lua forgets them all when the batch transaction ends, terms.lua on rename and merge.
  local preloaded = {}
  function site.preload_entries(ids)
    if #ids == 0 then return end
    local list = id_list(ids)
    local by_id = {}
    for _, r in ipairs(db:rows("SELECT " .. ENTRY_COLUMNS .. " FROM entries e WHERE e.id IN (SELECT value FROM json_each(?))", list)) do
      by_id[r.id] = r
    end
    with_terms(by_id, db:rows(TERM_ROWS .. " WHERE et.entry_id IN (SELECT value FROM json_each(?)) ORDER BY et.entry_id, et.position", list))
    preloaded = by_id
  end
  function site.forget_preloaded()
    preloaded = {}
    site.forget_terms() -- a term rename or merge calls this too
  end

  local function current(id)
    local cur = preloaded[id]
    if cur then
      preloaded[id] = nil
      return cur
    end
    cur = db:row("SELECT " .. ENTRY_COLUMNS .. " FROM entries e WHERE e.id = ?", id)
    if not cur then return nil end
    with_terms({ [id] = cur }, db:rows(TERM_ROWS .. " WHERE et.entry_id = ? ORDER BY et.position", id))
    return cur
  end

  -- The cache tags a write to an entry touches: the entry, and every list it was or is in.
  -- "list:tag:SLUG" and the like by kind and name, memoised (bounded) like slug_of.
  local list_tags, list_tags_n = { tag = {}, section = {}, type = {} }, 0
  local function list_tag(kind, name)
    local tag = list_tags[kind][name]
    if not tag then
      tag = "list:" .. kind .. ":" .. (kind == "type" and name or slug_of(name))
      if list_tags_n >= 10000 then list_tags, list_tags_n = { tag = {}, section = {}, type = {} }, 0 end
      list_tags[kind][name], list_tags_n = tag, list_tags_n + 1
    end
    return tag
  end
  local function touched(e, tags, section, extra)
    local t = extra or {}
    t["entry:" .. e.id] = true
    t["ids:" .. e.id // ID_BLOCK] = true
    t["list:all"] = true
    t[list_tag("type", e.type)] = true
    if tags then
      for i = 1, #tags do t[list_tag("tag", tags[i])] = true end
    end
    if section then t[list_tag("section", section)] = true end
    return t
  end

  local function terms_of(ids)
    local by_entry = {}
    for _, id in ipairs(ids) do by_entry[id] = { tags = {} } end
    if #ids == 0 then return by_entry end
    local rows
    if #ids == 1 then
      rows = db:rows("SELECT et.entry_id, t.taxonomy, t.name FROM entry_terms et JOIN terms t ON t.id = et.term_id"
        .. " WHERE et.entry_id = ? ORDER BY et.position", ids[1])
    else
      rows = db:rows("SELECT et.entry_id, t.taxonomy, t.name FROM entry_terms et JOIN terms t ON t.id = et.term_id"
        .. " WHERE et.entry_id IN (SELECT value FROM json_each(?)) ORDER BY et.entry_id, et.position", id_list(ids))
    end
    for _, r in ipairs(rows) do
      local slot = by_entry[r.entry_id]
      if r.taxonomy == "tag" then slot.tags[#slot.tags + 1] = r.name else slot.section = r.name end
    end
    return by_entry
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

  local function decode_entry(row, terms)
    if not row then return nil end
    row.fields = row.fields == "{}" and {} or json.decode(row.fields) -- the common case without cjson
    row.author = row.author_id
    row.tags = terms and terms.tags or {}
    row.section = terms and terms.section
    return row
  end

  local function hydrate(rows)
    local ids = {}
    for i, r in ipairs(rows) do ids[i] = r.id end
    local terms = terms_of(ids)
    for _, r in ipairs(rows) do decode_entry(r, terms[r.id]) end
    return rows
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
    local e = api.get(id)
    if want_saved then hooks:emit("entry.saved", e) end
    if want_published and e.status == "published" and not was_published then hooks:emit("entry.published", e) end
  end

  -- get() also reads the entry's revision: the id of its newest revision, which an update
  -- names as its base_revision to be refused if another write came first.
  local function load_entry(sql, ...)
    local row = db:row("SELECT " .. ENTRY_COLUMNS .. ", (SELECT max(r.id) FROM revisions r WHERE r.entry_id = e.id) AS revision"
      .. " FROM entries e WHERE " .. sql, ...)
    return row and hydrate({ row })[1]
  end

  -- Entries are memoised until the next write (quire.memo), which is never older than the last
  -- commit this process could see: memo.get asks PRAGMA data_version whenever SQLite's WAL index
  -- moved. Each caller gets its own copy.
  function api.get(key)
    local row
    if math.type(key) == "integer" then
      row = memo.get("entry\0" .. key, load_entry, "e.id = ?", key)
    elseif type(key) == "table" and key.type and key.slug then
      row = memo.get("entry\0" .. tostring(key.type) .. "\0" .. tostring(key.slug), load_entry,
        "e.type = ? AND e.slug = ?", key.type, key.slug)
    else
      error("quire.content.get takes an id or {type=, slug=}", 2)
    end
    if not row then return nil end
    site.tag("entry:" .. row.id)
    return copy(row)
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
    site.defer_search()
    local row = validate(spec, nil)
    row.slug = row.slug or unique_slug(row.type, row.title)
    saving(row, nil)
    local now = time.now()
    writing = true
    local _, id = db:exec("INSERT INTO entries (type, slug, status, title, body, fields, author_id, created_at, updated_at, published_at)"
      .. " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      row.type, row.slug, row.status, row.title, row.body, row.fields, row.author_id, now, now, row.published_at)
    if row.tags then set_terms(id, "tag", row.tags, {}) end
    if row.section then set_terms(id, "section", { row.section }, {}) end
    write_revision(id, row, row.tags, row.section, now)
    site.bump(touched({ id = id, type = row.type }, row.tags, row.section or nil))
    site.stats.created = site.stats.created + 1
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
    site.defer_search()
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
          local terms = json.decode(old.terms or "{}")
          if table.concat(terms.tags or {}, "\0") ~= table.concat(cur.tags, "\0") then changed[#changed + 1] = "tags" end
          if (terms.section or nil) ~= cur.section then changed[#changed + 1] = "section" end
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
    writing = true
    if params then
      params[n + 1] = id
      db:exec(update_sql(mask), table.unpack(params, 1, n + 1))
    else -- only updated_at (a retag): no parameter table
      db:exec(update_sql(0), now, id)
    end
    if changes.tags ~= nil then set_terms(id, "tag", row.tags, cur.stored.tag) end
    if changes.section ~= nil then set_terms(id, "section", row.section and { row.section } or {}, cur.stored.section or {}) end
    local nests = types:get(cur.type).fields.path
    if row.slug ~= cur.slug or row.published_at ~= cur.published_at or (row.fields ~= cur.fields and nests) then
      -- A new permalink: a public entry's old one redirects to it (quire.redirects), and a
      -- nested page's children move with it.
      local old_url, new_url = api.url(cur), api.url({ id = id, type = cur.type, slug = row.slug,
        published_at = row.published_at, created_at = cur.created_at, fields = row.fields })
      if old_url ~= new_url and cur.status == "published" then require("quire.redirects").entry_moved(site, id, old_url, new_url) end
      if old_url ~= new_url and nests then
        local path = json.decode(row.fields).path
        path = (type(path) == "string" and path ~= "" and (path .. "/") or "") .. row.slug
        for _, c in ipairs(db:rows("SELECT id FROM entries WHERE type = ? AND json_extract(fields, '$.parent') = ?", cur.type, id)) do
          api.update(c.id, { fields = { path = path } })
        end
      end
    end
    write_revision(id, row, row.tags, row.section or nil, now)
    -- Straight into the transaction's set of tags to bump (it is flushed before the commit).
    local pending = site.pending_tags()
    touched(cur, row.tags, row.section or nil, pending)
    -- Out of public view: no page kept before may be given stale (core/cache.h).
    if cur.status == "published" and row.status ~= "published" then pending["quire:withdrawn"] = true end
    -- and the lists it was in (entry, list:all and its type are in already)
    local old_tags = cur.tags
    for i = 1, #old_tags do pending[list_tag("tag", old_tags[i])] = true end
    if cur.section then pending[list_tag("section", cur.section)] = true end
    local stats = site.stats
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
  local function trash_move(id, cur)
    if site.confirm_delete then site.confirm_delete() end
    db:exec("INSERT INTO trash (entry_id, status, trashed_at, actor) VALUES (?, ?, ?, ?)", id, cur.status, time.now(), site.actor.name)
    db:exec("UPDATE entries SET status = 'trash' WHERE id = ?", id)
    site.audit("entry.trashed", "entry:" .. id, cur.title)
  end
  local function purge(id, cur)
    if site.confirm_delete then site.confirm_delete() end
    db:exec("DELETE FROM entries WHERE id = ?", id) -- its trash row, revisions, comments, shares go with it
    site.audit("entry.deleted", "entry:" .. id, cur.title)
    site.stats.deleted = site.stats.deleted + 1
    sample(id, "deleted", cur.title, nil)
  end
  local function gone(cur)
    site.bump(touched(cur, cur.tags, cur.section, { ["comments:" .. cur.id] = true, ["quire:withdrawn"] = true }))
  end

  -- quire.content.delete(id [, { permanent = true }]) -> true, or false when there is no such
  -- entry. Without permanent the entry goes to the trash (a trashed one stays there).
  function api.delete(id, opts)
    if math.type(id) ~= "integer" then error("quire.content.delete takes an entry id", 2) end
    if opts ~= nil and type(opts) ~= "table" then error("quire.content.delete(id [, { permanent = true }])", 2) end
    local permanent = opts and opts.permanent
    return transaction(function()
      site.defer_search()
      preloaded[id] = nil
      local cur = api.get(id)
      if not cur then return false end
      if permanent then
        if cur.status ~= "trash" then
          errors.raise("invalid", ("entry %d is not in the trash: trash it first (quire.content.trash), then delete it for good"):format(id))
        end
        purge(id, cur)
      elseif cur.status ~= "trash" then
        trash_move(id, cur)
        site.stats.trashed = (site.stats.trashed or 0) + 1
        sample(id, "trashed", cur.title, nil)
      end
      gone(cur)
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
      local cur = api.get(id)
      if not cur then return false end
      local row = db:row("SELECT status FROM trash WHERE entry_id = ?", id)
      if cur.status ~= "trash" or not row then errors.raise("invalid", ("entry %d is not in the trash"):format(id)) end
      db:exec("UPDATE entries SET status = ? WHERE id = ?", row.status, id)
      db:exec("DELETE FROM trash WHERE entry_id = ?", id)
      site.audit("entry.untrashed", "entry:" .. id, cur.title)
      cur.status = row.status
      gone(cur)
      return true
    end)
  end

  -- The trash, oldest first: { id, type, slug, title, status (to restore), trashed_at, actor }.
  function api.trashed(opts)
    opts = opts or {}
    local limit = opts.limit or 1000
    if math.type(limit) ~= "integer" or limit < 1 or limit > 10000 then error("quire.content.trashed: limit must be 1..10000", 2) end
    return db:rows("SELECT e.id, e.type, e.slug, e.title, t.status, t.trashed_at, t.actor FROM trash t JOIN entries e ON e.id = t.entry_id"
      .. " WHERE (? IS NULL OR t.trashed_at < ?) ORDER BY t.trashed_at, e.id LIMIT ?", opts.before, opts.before, limit)
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
        site.defer_search()
        local rows = api.trashed { before = before, limit = 1000 }
        for _, r in ipairs(rows) do
          preloaded[r.id] = nil
          local cur = api.get(r.id)
          purge(r.id, cur)
          gone(cur)
        end
        return #rows
      end)
      n = n + batch
    until batch < 1000
    return n
  end

  local QUERY_KEYS = {
    type = true, status = true, tag = true, section = true, author = true, since = true,
    ["until"] = true, order = true, limit = true, after = true,
  }

  -- q.type: a type name or a list of them (nil: any).
  local function type_list(q, caller, level)
    local t = q.type
    if t == nil or type(t) == "string" then return t end
    if type(t) ~= "table" or #t == 0 or #t > 64 then error(caller .. ": type must be a type name or a list of 1..64 of them", level) end
    for i = 1, #t do
      if type(t[i]) ~= "string" then error(caller .. ": type must be a type name or a list of 1..64 of them", level) end
    end
    return t
  end

  -- WHERE clauses and parameters for the filters of q (shared by query and count). Returns nil
  -- when a filter can match nothing (an unknown author).
  -- after_id (optional): only entries after it are wanted (id order), which bounds the tag and
  -- section lists too, so that paging through a tag does not list all of it for every page.
  -- limit (optional, with after_id): when a tag or section is the only filter, its list needs no
  -- more than the page's entries.
  -- walked (optional): the taxonomy the query walks itself (listed order), left out here.
  -- date_key: the expression since/until compare (the order's key).
  local function filters(q, caller, level, after_id, limit, walked, date_key)
    level = level or 3
    for k in pairs(q) do
      if not QUERY_KEYS[k] then error(("%s: unknown option '%s'"):format(caller, tostring(k)), level) end
    end
    local where, params = {}, {}
    local function add(clause, ...)
      where[#where + 1] = clause
      for _, p in ipairs({ ... }) do params[#params + 1] = p end
    end
    local types_q = type_list(q, caller, level + 1)
    -- "+": the type is checked on the rows an ordered index walk finds, not used to pick the index
    -- (several types in one index order).
    if type(types_q) == "table" then add("+e.type IN (SELECT value FROM json_each(?))", json.encode(types_q))
    elseif types_q then add("e.type = ?", types_q) end
    if q.status then add("e.status = ?", q.status) else add("e.status <> 'trash'") end -- the trash only when asked for
    local only_term = limit and after_id and (q.tag == nil) ~= (q.section == nil) and q.type == nil and q.status == nil
      and q.author == nil and q.since == nil and q["until"] == nil
      and not db:row("SELECT 1 AS x FROM trash LIMIT 1") -- a trashed entry in the window would shorten the page
    for _, taxonomy in ipairs(TAXONOMIES) do
      local name = q[taxonomy]
      if taxonomy == walked then -- luacheck: ignore 542
      elseif name and only_term then
        add("e.id IN (SELECT et.entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = '"
          .. taxonomy .. "' AND t.slug = ? AND et.entry_id > ? ORDER BY et.entry_id LIMIT ?)", core.slugify(name), after_id, limit)
      elseif name and after_id then
        add("e.id IN (SELECT et.entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = '"
          .. taxonomy .. "' AND t.slug = ? AND et.entry_id > ?)", core.slugify(name), after_id)
      elseif name then
        add("e.id IN (SELECT et.entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = '"
          .. taxonomy .. "' AND t.slug = ?)", core.slugify(name))
      end
    end
    if q.author ~= nil then
      local uid = user_id(q.author, {})
      if not uid then return nil end
      add("e.author_id = ?", uid)
    end
    for _, bound in ipairs({ { "since", ">=" }, { "until", "<" } }) do
      local v = q[bound[1]]
      if v ~= nil then
        local norm, err = time.parse(v)
        if not norm then error(caller .. ": " .. bound[1] .. " " .. err, level) end
        add((date_key or "coalesce(e.published_at, e.created_at)") .. " " .. bound[2] .. " ?", norm)
      end
    end
    return where, params, add
  end

  -- The number of entries matching the filters of q (type, status, tag, section, author, since, until).
  function api.count(q)
    q = q or {}
    local where, params = filters(q, "quire.content.count")
    if not where then return 0 end
    local n = 0
    for _ in pairs(q) do n = n + 1 end
    -- Counts kept by the schema's triggers: entries by status, a term's published entries.
    if n == 0 then return db:value("SELECT coalesce(sum(n), 0) FROM entry_counts WHERE status <> 'trash'") end
    if n == 1 and type(q.status) == "string" then
      return db:value("SELECT coalesce(sum(n), 0) FROM entry_counts WHERE status = ?", q.status)
    end
    local taxonomy = q.tag and "tag" or q.section and "section"
    if taxonomy and n == 2 and q.status == "published" then
      return db:value("SELECT coalesce(sum(listed), 0) FROM terms WHERE taxonomy = ? AND slug = ?", taxonomy, core.slugify(q[taxonomy]))
    end
    -- A tag or section alone: its rows in entry_terms are its entries (one row per entry and
    -- term; the foreign key keeps the entry), counted from the index without listing them.
    if taxonomy and n == 1 and not db:row("SELECT 1 AS x FROM trash LIMIT 1") then -- (trashed entries keep their terms)
      return db:value("SELECT count(*) FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = ? AND t.slug = ?",
        taxonomy, core.slugify(q[taxonomy]))
    end
    return db:value("SELECT count(*) FROM entries e" .. (#where > 0 and (" WHERE " .. table.concat(where, " AND ")) or ""), table.unpack(params))
  end

  -- The rows of a query, not yet hydrated; raises at the caller of its caller (api.query or
  -- site.query_preloaded).
  -- Published entries by date are keyset pages over an index whatever the archive's size: all
  -- of them by (published_at, id), an author's by (author_id, published_at, id), a tag's or
  -- section's by entry_terms (term_id, listed_at, entry_id). q.after may then be a cursor
  -- { published_at =, id = } (an entry is one), which needs no lookup and outlives the entry.
  local function select_rows(q)
    q = q or {}
    local order = ORDERS[q.order or "newest"]
    if not order then error("quire.content.query: order must be newest, oldest, updated or id", 3) end
    local after_id = q.after
    if type(after_id) == "table" then after_id = after_id.id end
    local by_date = order.key == ORDERS.newest.key and q.status == "published"
    local key_expr = by_date and "e.published_at" or order.key
    -- A tag's or section's published entries are walked from entry_terms in date order.
    local walked = by_date and (q.tag ~= nil and "tag" or q.section ~= nil and "section") or nil
    if walked then key_expr = "lt.listed_at" end
    -- In id order the lists of a tag or section filter start after the page's first id (ids are
    -- positive: 0 without q.after).
    local bound = order.key == "e.id" and (q.after == nil and 0 or math.type(after_id) == "integer" and after_id) or nil
    local where, params, add = filters(q, "quire.content.query", 4, bound,
      bound and math.type(q.limit) == "integer" and q.limit or nil, walked, by_date and "e.published_at" or nil)
    if not where then return {} end
    if q.after ~= nil then
      if math.type(after_id) ~= "integer" then error("quire.content.query: after must be an entry, a cursor or an id", 3) end
      local key = after_id
      if by_date and type(q.after) == "table" and type(q.after.published_at) == "string" then
        key = q.after.published_at
      elseif order.key ~= "e.id" then
        key = db:value("SELECT " .. order.key .. " FROM entries e WHERE e.id = ?", after_id)
        if key == nil then error(("quire.content.query: after entry %d does not exist"):format(after_id), 3) end
      end
      add(("(%s, %s) %s (?, ?)"):format(key_expr, walked and "lt.entry_id" or "e.id", order.dir == "DESC" and "<" or ">"), key, after_id)
    end
    local limit = q.limit or 50
    if math.type(limit) ~= "integer" or limit < 1 or limit > 10000 then
      error("quire.content.query: limit must be an integer from 1 to 10000", 3)
    end
    -- A page built from this list goes stale when an entry of that list changes.
    if q.tag then site.tag("list:tag:" .. core.slugify(q.tag))
    elseif q.section then site.tag("list:section:" .. core.slugify(q.section))
    elseif type(q.type) == "string" then site.tag("list:type:" .. q.type)
    elseif q.type then for _, t in ipairs(q.type) do site.tag("list:type:" .. t) end
    else site.tag("list:all") end
    local from = " FROM entries e"
    if walked then
      -- CROSS JOIN: entry_terms drives, in its index order.
      from = " FROM entry_terms lt CROSS JOIN entries e ON e.id = lt.entry_id"
      table.insert(where, 1, "lt.term_id = (SELECT id FROM terms WHERE taxonomy = ? AND slug = ?) AND lt.listed_at IS NOT NULL")
      table.insert(params, 1, core.slugify(q[walked]))
      table.insert(params, 1, walked)
    end
    local sql = "SELECT " .. ENTRY_COLUMNS .. from
      .. (#where > 0 and (" WHERE " .. table.concat(where, " AND ")) or "")
      .. (" ORDER BY %s %s, %s %s LIMIT %d"):format(key_expr, order.dir, walked and "lt.entry_id" or "e.id", order.dir, limit)
    return db:rows(sql, table.unpack(params))
  end

  function api.query(q)
    return hydrate(select_rows(q))
  end

  -- quire.each's page of entries: what api.query returns, read once for the caller and for the
  -- saves fn makes (the preloaded entries of current(): stored columns, terms as rows).
  function site.query_preloaded(q)
    local rows = select_rows(q)
    local by_id, ids, user = {}, {}, {}
    for i = 1, #rows do
      local r = rows[i]
      local id = r.id
      ids[i] = id
      -- what current() gives a save (as with_terms builds it; the section list made if needed)
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
      term_rows = db:rows(TERM_ROWS .. " WHERE et.entry_id IN (SELECT value FROM json_each(?))", id_list(ids))
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

  -- The search language, the same for every caller (the site's /search, scripts, the API):
  -- words separated by white space, every one of them required, each matched as the index
  -- splits it (case and accents aside; "o'brien" is the phrase "o brien"). Nothing is an
  -- operator: quotes, + - *, parentheses, AND, OR, NOT and NEAR are words like any other, and
  -- words without a letter or digit are left out. At most SEARCH_MAX_CHARS characters and
  -- SEARCH_MAX_WORDS words, no control characters (tab, line feed and carriage return are
  -- spaces), valid UTF-8. Returns the FTS5 query ("" for no words) or nil and what is wrong.
  local SEARCH_MAX_CHARS, SEARCH_MAX_WORDS = 256, 16
  local function fts_query(text)
    if not core.utf8_valid(text) then return nil, "is not valid UTF-8" end
    local n = utf8.len(text)
    if n > SEARCH_MAX_CHARS then return nil, ("is %d characters long, the limit is %d"):format(n, SEARCH_MAX_CHARS) end
    local bad = text:find("[\0-\8\11\12\14-\31\127]")
    if bad then return nil, ("contains the control character U+%04X"):format(text:byte(bad)) end
    local terms = {}
    for word in text:gmatch("%S+") do
      if word:find("[%w\128-\255]") then
        if #terms == SEARCH_MAX_WORDS then return nil, ("has more than %d words"):format(SEARCH_MAX_WORDS) end
        terms[#terms + 1] = '"' .. word:gsub('"', '""') .. '"'
      end
    end
    return table.concat(terms, " "), terms
  end

  local function escape_html(s)
    return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
  end

  -- A query matching at most SEARCH_EXACT entries, each of its words in at most as many, is
  -- ranked whole by bm25 (titles weigh 5, the body 1). Otherwise (bm25 reads every entry holding
  -- each word to weigh the words, which grows with the archive) it is ranked over its
  -- SEARCH_EXACT newest matches: a title match first, then the newest; if more than that match,
  -- its total is an estimate from how densely the window matched.
  local SEARCH_EXACT = 1000
  local function two_digits(n) -- 98,437 -> 98,000: an estimate says no more than it knows
    if n < 100 then return n end
    local scale = 10 ^ (math.floor(math.log(n, 10)) - 1)
    return math.floor(math.floor(n / scale + 0.5) * scale)
  end

  -- search(text [, opts]) -> hits, { total =, estimated = }. opts: limit (1..1000, default 20),
  -- offset (0..10000), type (a name or a list), status. Hits: id, type, slug, title, status, published_at, score
  -- (bigger is better) and snippet (HTML: the text escaped, matches in <mark>).
  function api.search(text, opts)
    opts = opts or {}
    if type(text) ~= "string" then error("quire.content.search takes the text to find", 2) end
    local match, problem_or_terms = fts_query(text)
    local problem, terms = problem_or_terms, problem_or_terms
    if not match then errors.invalid("invalid search", { { field = "text", message = problem } }) end
    local limit, offset = opts.limit or 20, opts.offset or 0
    if math.type(limit) ~= "integer" or limit < 1 or limit > 1000 then error("quire.content.search: limit must be 1..1000", 2) end
    if math.type(offset) ~= "integer" or offset < 0 or offset > 10000 then error("quire.content.search: offset must be 0..10000", 2) end
    if match == "" then return {}, { total = 0, estimated = false } end
    site.tag("list:all")
    local filter, fparams = "", {}
    if type(opts.type) == "table" then
      filter = filter .. " AND e.type IN (SELECT value FROM json_each(?))"; fparams[#fparams + 1] = json.encode(opts.type)
    elseif opts.type then
      filter = filter .. " AND e.type = ?"; fparams[#fparams + 1] = opts.type
    end
    if opts.status then filter = filter .. " AND e.status = ?"; fparams[#fparams + 1] = opts.status
    else filter = filter .. " AND e.status <> 'trash'" end
    local COLUMNS = "SELECT e.id, e.type, e.slug, e.title, e.status, e.published_at"
    local rows, info
    -- Whether more than SEARCH_EXACT entries match: one step past them along the index.
    local function more_than_exact(m)
      return db:value("SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?", m, SEARCH_EXACT) ~= nil
    end
    -- The newest matches, one more than SEARCH_EXACT: whether there are more is then known too.
    local window = db:rows("SELECT rowid AS id FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid DESC LIMIT ?", match, SEARCH_EXACT + 1)
    if #window == 0 then return {}, { total = 0, estimated = false } end
    local many = #window > SEARCH_EXACT
    if many then window[#window] = nil end
    -- bm25 weighs each word by reading every entry that has it: only when each is in few.
    local weigh = not many
    for i = 1, #terms do
      if not weigh or #terms == 1 then break end
      weigh = not more_than_exact(terms[i])
    end
    if weigh then
      rows = db:rows(COLUMNS .. ", bm25(entries_fts, 5.0, 1.0) AS rank FROM entries_fts CROSS JOIN entries e ON e.id = entries_fts.rowid"
        .. " WHERE entries_fts MATCH ?" .. filter .. " ORDER BY rank, e.id LIMIT ? OFFSET ?",
        table.unpack(table.move({ limit, offset }, 1, 2, #fparams + 2, { match, table.unpack(fparams) })))
      for _, r in ipairs(rows) do r.score, r.rank = -r.rank, nil end
      info = { total = db:value("SELECT count(*) FROM entries_fts CROSS JOIN entries e ON e.id = entries_fts.rowid WHERE entries_fts MATCH ?" .. filter,
        match, table.unpack(fparams)), estimated = false }
    else
      local lo, ids = window[#window].id, {}
      for i, r in ipairs(window) do ids[i] = r.id end
      local in_title = {}
      for _, r in ipairs(db:rows("SELECT rowid AS id FROM entries_fts WHERE entries_fts MATCH ? AND rowid >= ?", "title : (" .. match .. ")", lo)) do
        in_title[r.id] = true
      end
      -- CROSS JOIN: the list drives (the planner would rather walk every entry of the status).
      local found = db:rows(COLUMNS .. " FROM json_each(?) w CROSS JOIN entries e ON e.id = w.value WHERE true" .. filter, id_list(ids), table.unpack(fparams))
      for _, r in ipairs(found) do r.score = in_title[r.id] and 5 or 1 end
      table.sort(found, function(a, b)
        if a.score ~= b.score then return a.score > b.score end
        return a.id > b.id
      end)
      rows = table.move(found, offset + 1, math.min(#found, offset + limit), 1, {})
      -- The window's matches lie in ids lo..max: as dense below it, with as many filtered out.
      local max = db:value("SELECT max(id) FROM entries")
      info = many and { total = math.max(#found, two_digits(math.floor(#found * max / (max - lo + 1)))), estimated = true }
        or { total = #found, estimated = false }
    end
    for _, r in ipairs(rows) do
      -- The snippet is HTML: the text escaped, the matches in <mark>.
      local snippet = db:value("SELECT snippet(entries_fts, -1, char(2), char(3), '…', 16) FROM entries_fts WHERE entries_fts MATCH ? AND rowid = ?", match, r.id)
      r.snippet = escape_html(snippet or ""):gsub("\2", "<mark>"):gsub("\3", "</mark>")
    end
    return rows, info
  end

  -- terms(taxonomy) -> the tags or sections that published entries carry: { name, slug, count },
  -- by slug, at most 10,000 (counts the schema keeps; nothing is counted here).
  function api.terms(taxonomy)
    if taxonomy ~= "tag" and taxonomy ~= "section" then error("quire.content.terms: taxonomy must be 'tag' or 'section'", 2) end
    site.tag("list:all")
    return db:rows("SELECT name, slug, listed AS count FROM terms WHERE taxonomy = ? AND listed > 0 ORDER BY slug LIMIT 10000", taxonomy)
  end

  -- Published entries by blocks of ID_BLOCK consecutive ids (a sitemap file each: the
  -- protocol allows 50,000 URLs; a fifth of that keeps the rebuild of the newest file short). A page built from a block is tagged "ids:N", which every
  -- write to an entry of the block bumps, so it is not rebuilt for writes elsewhere.
  -- published_blocks() -> the numbers of the blocks holding a published entry, ascending.
  function api.published_blocks()
    site.tag("list:all")
    -- ("+status": the id range drives, not the index of every published entry)
    local out, top = {}, db:value("SELECT max(id) FROM entries")
    for n = 0, (top or -1) // ID_BLOCK do
      if db:value("SELECT id FROM entries WHERE id >= ? AND id < ? AND +status = 'published' ORDER BY id LIMIT 1", n * ID_BLOCK, (n + 1) * ID_BLOCK) then
        out[#out + 1] = n
      end
    end
    return out
  end
  -- published_block(n) -> the published entries of block n in id order, as rows of id, type,
  -- slug, published_at, created_at and updated_at (enough for quire.content.url).
  function api.published_block(n)
    if math.type(n) ~= "integer" or n < 0 then error("quire.content.published_block takes a block number", 2) end
    site.tag("ids:" .. n)
    return db:rows("SELECT id, type, slug, published_at, created_at, updated_at FROM entries WHERE id >= ? AND id < ?"
      .. " AND +status = 'published' ORDER BY id", n * ID_BLOCK, (n + 1) * ID_BLOCK)
  end

  function api.neighbours(id, opts)
    opts = opts or {}
    local within = opts.within or "type"
    if within ~= "type" and within ~= "section" then error("quire.content.neighbours: within must be 'type' or 'section'", 2) end
    local e = api.get(id)
    if not e or not e.published_at then return nil, nil end
    site.tag(within == "section" and e.section and ("list:section:" .. core.slugify(e.section)) or ("list:type:" .. e.type))
    -- Each is one step along an index: (status, type, published_at, id) within the type, the
    -- section's entry_terms (term_id, listed_at, entry_id) within a section.
    local function one(cmp, dir)
      if within == "section" and e.section then
        return db:value("SELECT lt.entry_id FROM entry_terms lt WHERE lt.term_id = (SELECT id FROM terms WHERE taxonomy = 'section' AND slug = ?)"
          .. (" AND lt.listed_at IS NOT NULL AND (lt.listed_at, lt.entry_id) %s (?, ?) ORDER BY lt.listed_at %s, lt.entry_id %s LIMIT 1"):format(cmp, dir, dir),
          core.slugify(e.section), e.published_at, e.id)
      end
      return db:value("SELECT e.id FROM entries e WHERE e.status = 'published' AND e.type = ?"
        .. (" AND (e.published_at, e.id) %s (?, ?) ORDER BY e.published_at %s, e.id %s LIMIT 1"):format(cmp, dir, dir),
        e.type, e.published_at, e.id)
    end
    local ids = memo.get("neighbours\0" .. within .. "\0" .. id, function()
      return { prev = one("<", "DESC") or false, next = one(">", "ASC") or false }
    end)
    return ids.prev and api.get(ids.prev) or nil, ids.next and api.get(ids.next) or nil
  end

  function api.revisions(id)
    local rows = db:rows("SELECT id, entry_id, title, slug, status, body, fields, terms, published_at, author_id, saved_by, actor, created_at"
      .. " FROM revisions WHERE entry_id = ? ORDER BY id DESC", id)
    for _, r in ipairs(rows) do
      r.fields = json.decode(r.fields)
      local t = json.decode(r.terms)
      r.tags, r.section, r.terms = t.tags or {}, t.section, nil
      if r.section == cjson.null then r.section = nil end
    end
    return rows
  end

  -- Brings an entry back to an earlier revision; the restore is itself a new revision.
  function api.restore(id, revision_id)
    local rev = db:row("SELECT title, slug, status, body, fields, terms, published_at, author_id FROM revisions WHERE id = ? AND entry_id = ?", revision_id, id)
    if not rev then errors.raise("not_found", ("entry %s has no revision %s"):format(tostring(id), tostring(revision_id))) end
    local t = json.decode(rev.terms)
    local section = t.section
    if section == cjson.null or section == nil then section = false end
    local cur = api.get(id)
    local fields = json.decode(rev.fields)
    for k in pairs(cur.fields) do if fields[k] == nil then fields[k] = cjson.null end end
    return api.update(id, { title = rev.title, slug = rev.slug, status = rev.status, body = rev.body, fields = fields,
      published_at = rev.published_at, author = rev.author_id, tags = t.tags or {}, section = section })
  end

  -- The path of an entry (or a search result row) from its type's permalink, or nil for an
  -- unknown type.
  function api.url(entry)
    if type(entry) ~= "table" or type(entry.type) ~= "string" then error("quire.content.url takes an entry", 2) end
    local t = types:get(entry.type)
    if not t then return nil end
    if t.fields.path and entry.fields == nil and math.type(entry.id) == "integer" then
      -- A row without fields (a sitemap's, a search hit's): a nested page's parents are in them.
      entry = { id = entry.id, type = entry.type, slug = entry.slug, published_at = entry.published_at,
        created_at = entry.created_at, fields = db:value("SELECT fields FROM entries WHERE id = ?", entry.id) }
    end
    return require("quire.app").permalink(t, entry)
  end

  -- Related entries (see lua/quire/related.lua): scored in C over candidates from SQL.
  api.related = require("quire.related").new(site, { get = api.get })

  function api.define_type(def)
    return types:define(def)
  end

  function api.types() return types:names() end

  return api
end

return M
