-- Export and import: everything in the database that is the site's own, lossless both ways
-- (export -> import into a fresh site -> export gives the same bytes).
--   manifest.json      what the export needs: plugins, content types, workflow states, tables
--   users.jsonl        staff accounts, with their password hashes
--   entries.jsonl      entries (or TYPE/SLUG.md with front matter, --format markdown)
--   comments.jsonl     comments, by entry type/slug and parent line
--   tables/NAME.jsonl  every other table, row by row (revisions, shares, audit_log, media, jobs,
--                      settings, terms, trash, api_tokens, and any table a later migration adds)
--   media/ab/cdef…     the media library's image files, as the site keeps them (media/ folder)
-- Left out: what the site derives or forgets on its own (the search index, cache-tag versions,
-- counts kept by triggers, rate-limit counters, sign-in sessions, SQLite's bookkeeping). Columns
-- a later migration adds to users, entries or comments go in each record's "columns" object.
-- Ids are kept where the importing site has them free (always, in a fresh site), so references
-- between tables and the audit log's "entry:12" stay true; elsewhere rows get new ids and every
-- foreign key (and audit subject) is translated.
local cjson = require "cjson"
local core = require "quire.core"
local errors = require "quire.errors"
local store_sql = require "quire.store_sql"

local M = {}

local json = require "quire.json"
local canonical = json.encode

local FORMAT_VERSION = 2
local list = json.list

local ENTRY_ORDER = { "id", "type", "slug", "title", "status", "author", "section", "tags", "published_at", "created_at", "updated_at", "fields" }

-- Tables exported by their own files (above), and tables not exported at all.
local OWN = { users = true, entries = true, comments = true, entry_terms = true }
local SKIP = { schema_migrations = true, cache_tags = true, hits = true, sessions = true, search_deferred = true,
  search_deferred_never = true, search_pending = true, entry_counts = true,
  entry_views = true, most_read = true } -- page views kept two days, and the rankings made from them
-- Columns kept by triggers from other rows (db/migrations/0010_scale.sql): exported as they are,
-- never imported (the triggers count them again as the entries come in).
local DERIVED = { terms = { listed = true } }
-- References without a foreign key: the id a row names, by the kind it names.
local SOFT_REFS = {
  import_map = { column = "local_id", by = "kind", tables = { post = "entries", page = "entries", attachment = "media",
    comment = "comments", category = "terms", tag = "terms", section = "terms" } },
}

-- The columns users.jsonl, entries.jsonl and comments.jsonl carry by name. Any other column of
-- those tables (added by a later migration) goes along in the record's "columns" object.
local KNOWN = {
  users = { "id", "login", "display_name", "email", "bio", "role", "password_hash", "created_at" },
  entries = { "id", "type", "slug", "status", "title", "body", "fields", "author_id", "created_at", "updated_at", "published_at" },
  comments = { "id", "entry_id", "parent_id", "author_name", "author_email", "author_url", "body", "status", "ip_hash", "created_at" },
}
local function extra_columns(db, table_name)
  local known, out = {}, {}
  for _, c in ipairs(KNOWN[table_name]) do known[c] = true end
  for _, c in ipairs((store_sql.columns(db, table_name))) do
    if not known[c] then out[#out + 1] = c end
  end
  return out
end
-- rec.columns = the extra columns of row id (nothing when the table has none).
local function with_extras(db, table_name, extras, id, rec)
  if #extras == 0 then return rec end
  local quoted = {}
  for i, c in ipairs(extras) do quoted[i] = '"' .. c:gsub('"', '""') .. '"' end
  local row = db:row(("SELECT %s FROM %s WHERE id = ?"):format(table.concat(quoted, ", "), table_name), id) or {}
  local cols = {}
  for _, c in ipairs(extras) do
    local v = row[c]
    if v == nil then v = cjson.null end
    cols[c] = v
  end
  rec.columns = cols
  return rec
end

local function entry_record(e, logins)
  return {
    id = e.id, type = e.type, slug = e.slug, title = e.title, status = e.status, body = e.body,
    author = e.author_id and logins[e.author_id] or cjson.null, section = e.section or cjson.null, tags = list(e.tags),
    published_at = e.published_at or cjson.null, created_at = e.created_at, updated_at = e.updated_at,
    fields = e.fields,
  }
end

local function write_file(path, text)
  local f, err = io.open(path, "w")
  if not f then error(err, 0) end
  f:write(text)
  f:close()
end

local function mkdirs(path)
  local acc = path:sub(1, 1) == "/" and "" or "."
  for part in path:gmatch("[^/]+") do
    acc = acc .. "/" .. part
    if not core.stat(acc) then assert(core.mkdir(acc)) end
  end
end

local function jsonl(lines)
  return #lines > 0 and (table.concat(lines, "\n") .. "\n") or ""
end

-- The media library's files: DIR/media/ab/cdef…-W.ext, named by the SHA-256 of the original
-- (lua/quire/media.lua). Only names of that shape are copied, both ways, so an export from
-- elsewhere cannot write outside the media folder.
local MEDIA_FILE = "^(%x+)%-%d+%.%a+$"
local COPY_CHUNK = 1 << 20

-- The size of a file, or nil when it cannot be opened.
local function size_of(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- Copies src to dst through a temporary file renamed into place; an existing dst of the same
-- size is left as it is (a media file never changes under its name: the name is a hash).
local function copy_file(src, dst)
  local have = size_of(dst)
  if have and have == size_of(src) then return false end
  local from = assert(io.open(src, "rb"))
  local tmp = dst .. ".part"
  local to, err = io.open(tmp, "wb")
  if not to then from:close() error(err, 0) end
  while true do
    local chunk = from:read(COPY_CHUNK)
    if not chunk then break end
    local ok, werr = to:write(chunk)
    if not ok then from:close() to:close() os.remove(tmp) error(("%s: %s"):format(tmp, werr), 0) end
  end
  from:close()
  local ok, cerr = to:close()
  if not ok then os.remove(tmp) error(("%s: %s"):format(tmp, cerr), 0) end
  local moved, rerr = os.rename(tmp, dst)
  if not moved then os.remove(tmp) error(rerr, 0) end
  return true
end

-- Copies the files of every media row (by hash) from one media folder to another; returns how
-- many files it copied. hashes: the set of SHA-256 hex strings the media table names.
local function copy_media(from_dir, to_dir, hashes)
  local n = 0
  if core.stat(from_dir) ~= "dir" then return 0 end
  for _, sub in ipairs(core.listdir(from_dir) or {}) do
    if sub:match("^%x%x$") and core.stat(from_dir .. "/" .. sub) == "dir" then
      for _, name in ipairs(core.listdir(from_dir .. "/" .. sub) or {}) do
        local rest = name:match(MEDIA_FILE)
        if rest and hashes[sub .. rest] and core.stat(from_dir .. "/" .. sub .. "/" .. name) == "file" then
          mkdirs(to_dir .. "/" .. sub)
          if copy_file(from_dir .. "/" .. sub .. "/" .. name, to_dir .. "/" .. sub .. "/" .. name) then n = n + 1 end
        end
      end
    end
  end
  return n
end

local function media_hashes(db)
  local set = {}
  for _, r in ipairs(db:rows("SELECT hash FROM media WHERE hash IS NOT NULL")) do set[r.hash] = true end
  return set
end

-- The tables exported row by row, in an order where a table comes after those it refers to.
local function generic_tables(db)
  local names = {}
  for _, n in ipairs(store_sql.tables(db)) do
    if not (SKIP[n] or OWN[n]) then names[#names + 1] = n end
  end
  local refs, wanted = {}, {}
  for _, n in ipairs(names) do
    wanted[n] = true
    refs[n] = store_sql.foreign_keys(db, n)
  end
  local ordered, done = {}, {}
  local function visit(n, depth)
    if done[n] or depth > #names then return end
    done[n] = true
    for _, fk in ipairs(refs[n]) do
      if wanted[fk.parent] and fk.parent ~= n then visit(fk.parent, depth + 1) end
    end
    ordered[#ordered + 1] = n
  end
  for _, n in ipairs(names) do visit(n, 0) end
  return ordered, refs
end

-- Columns of a table in order, the primary key columns, and the column that is its rows'
-- integer id (SQLite's rowid alias), if one is.
local catalog = {} -- table name -> { columns_of's answers }, for one export or import
local function columns_of(db, table_name)
  local c = catalog[table_name]
  if not c then
    c = table.pack(store_sql.columns(db, table_name))
    catalog[table_name] = c
  end
  return c[1], c[2], c[3]
end

local function quote(name) return '"' .. name:gsub('"', '""') .. '"' end

-- What names a row of table_name in SQL (SQLite's rowid; elsewhere its id column); nil when
-- nothing does.
local function rowid_of(db, table_name)
  local rowid = store_sql.ROWID(select(3, columns_of(db, table_name)))
  return rowid and (rowid == "rowid" and rowid or quote(rowid))
end

-- What the entries need of the importing site: the plugins that define their types and states.
local function manifest(quire, type_names, state_names, tables)
  local owner = {}
  for _, p in ipairs(quire.plugins.plugins) do
    for _, t in ipairs(p.registered.content_types) do owner["type:" .. t] = p end
  end
  local wf = quire._site.workflow
  local plugins, seen = {}, {}
  local function need(p)
    if p and not seen[p.name] then
      seen[p.name] = true
      plugins[#plugins + 1] = { name = p.name, version = p.version }
    end
  end
  local by_name = {}
  for _, p in ipairs(quire.plugins.plugins) do by_name[p.name] = p end
  for _, t in ipairs(type_names) do need(owner["type:" .. t]) end
  for _, s in ipairs(state_names) do
    local st = wf.states and wf.states[s]
    if st and st.plugin ~= "quire" then need(by_name[st.plugin]) end
  end
  table.sort(plugins, function(a, b) return a.name < b.name end)
  return { format = "quire-export", version = FORMAT_VERSION, schema_version = quire.store.schema_version(),
    plugins = list(plugins), types = list(type_names), states = list(state_names), tables = tables }
end

-- Writes the export into dir (created if needed). Returns the number of entries and comments.
function M.export(quire, dir, format)
  if format ~= "jsonl" and format ~= "markdown" then error("--format must be jsonl or markdown", 0) end
  -- The export holds password hashes and commenters' emails: a new folder for it is its owner's
  -- alone (0700).
  if not core.stat(dir) then
    mkdirs(dir:match("^(.*)/[^/]+/*$") or ".")
    local made, err = core.mkdir(dir, tonumber("700", 8))
    if not made then error(err, 0) end
  end
  mkdirs(dir)
  local db = quire._db
  catalog = {}
  local counts = {}
  local logins, users = {}, {}
  local user_extras, entry_extras, comment_extras = extra_columns(db, "users"), extra_columns(db, "entries"), extra_columns(db, "comments")
  for _, u in ipairs(db:rows("SELECT id, login, display_name, email, bio, role, password_hash, created_at FROM users ORDER BY id")) do
    logins[u.id] = u.login
    users[#users + 1] = canonical(with_extras(db, "users", user_extras, u.id, { id = u.id, login = u.login, name = u.display_name,
      email = u.email or cjson.null, bio = u.bio or cjson.null, role = u.role, password_hash = u.password_hash or cjson.null,
      created_at = u.created_at }))
  end
  write_file(dir .. "/users.jsonl", jsonl(users))
  counts.users = #users
  -- Entries in id order, the trash included.
  local all = {}
  for _, status in ipairs({ false, "trash" }) do
    local after
    repeat
      local page = quire.content.query { order = "id", limit = 1000, after = after, status = status or nil }
      for _, e in ipairs(page) do all[#all + 1] = e end
      after = page[#page] and page[#page].id
    until #page < 1000
  end
  table.sort(all, function(a, b) return a.id < b.id end)
  local lines, types, states = {}, {}, {}
  for _, e in ipairs(all) do
    types[e.type], states[e.status] = true, true
    local rec = with_extras(db, "entries", entry_extras, e.id, entry_record(e, logins))
    if format == "jsonl" then
      lines[#lines + 1] = canonical(rec)
    else
      local front = { "---" }
      for _, k in ipairs(ENTRY_ORDER) do
        if k ~= "type" and k ~= "slug" then front[#front + 1] = k .. ": " .. canonical(rec[k]) end
      end
      if rec.columns then front[#front + 1] = "columns: " .. canonical(rec.columns) end
      front[#front + 1] = "---"
      mkdirs(dir .. "/" .. e.type)
      write_file(("%s/%s/%s.md"):format(dir, e.type, e.slug), table.concat(front, "\n") .. "\n" .. e.body)
    end
  end
  if format == "jsonl" then write_file(dir .. "/entries.jsonl", jsonl(lines)) end
  counts.entries = #all
  -- Comments refer to their entry by type/slug and to their parent by its line (ref).
  local refs, out = {}, {}
  for i, c in ipairs(db:rows("SELECT c.id, c.parent_id, c.author_name, c.author_email, c.author_url, c.body, c.status,"
      .. " c.ip_hash, c.created_at, e.type, e.slug FROM comments c JOIN entries e ON e.id = c.entry_id ORDER BY c.id")) do
    refs[c.id] = i
    out[i] = canonical(with_extras(db, "comments", comment_extras, c.id, { ref = i, id = c.id, entry = c.type .. "/" .. c.slug,
      parent = c.parent_id and refs[c.parent_id] or cjson.null, author_name = c.author_name, author_email = c.author_email,
      author_url = c.author_url or cjson.null, body = c.body, status = c.status, ip_hash = c.ip_hash or cjson.null,
      created_at = c.created_at }))
  end
  write_file(dir .. "/comments.jsonl", jsonl(out))
  counts.comments = #out
  -- Every other table, row by row in key order, each row an object of all its columns; read and
  -- written a thousand rows at a time (keyset pages), so a big table is never held whole.
  mkdirs(dir .. "/tables")
  local tables = generic_tables(db)
  for _, name in ipairs(tables) do
    local cols, pk, rowid_alias = columns_of(db, name)
    local rowid = store_sql.ROWID(rowid_alias)
    local key = rowid_alias and { rowid } or (#pk > 0 and pk) or (rowid and { rowid })
    if not key then error(("table %s has no primary key: the export cannot page through it"):format(name), 0) end
    local quoted, aliased = {}, {}
    for i, c in ipairs(key) do
      quoted[i] = c == "rowid" and "rowid" or quote(c)
      aliased[i] = ("%s AS \"quire.k%d\""):format(quoted[i], i) -- (SQLite names rowid after its alias)
    end
    local key_list = table.concat(quoted, ", ")
    local select = ("SELECT %s, * FROM %s"):format(table.concat(aliased, ", "), quote(name))
    local first = ("%s ORDER BY %s LIMIT 1000"):format(select, key_list)
    local marks = ("?, "):rep(#key - 1) .. "?"
    local after_sql = ("%s WHERE (%s) > (%s) ORDER BY %s LIMIT 1000"):format(select, key_list, marks, key_list)
    local f, ferr = io.open(("%s/tables/%s.jsonl"):format(dir, name), "w")
    if not f then error(ferr, 0) end
    local n, last = 0, nil
    repeat
      local page = last and db:rows(after_sql, table.unpack(last)) or db:rows(first)
      for _, r in ipairs(page) do
        local rec = {}
        for _, c in ipairs(cols) do
          local v = r[c]
          if v == nil then v = cjson.null end
          rec[c] = v
        end
        f:write(canonical(rec), "\n")
      end
      n = n + #page
      local tail = page[#page]
      if tail then
        last = {}
        for i = 1, #key do last[i] = tail["quire.k" .. i] end
      end
    until #page < 1000
    f:close()
    counts[name] = n
  end
  local type_names, state_names = {}, {}
  for t in pairs(types) do type_names[#type_names + 1] = t end
  for s in pairs(states) do state_names[#state_names + 1] = s end
  table.sort(type_names)
  table.sort(state_names)
  local m = manifest(quire, type_names, state_names, counts)
  m.media_files = copy_media(require("quire.media").dir(quire.site.config), dir .. "/media", media_hashes(db))
  write_file(dir .. "/manifest.json", canonical(m) .. "\n")
  return #all, #out
end

-- Reads a JSON Lines file; at most limit lines (nothing unbounded). A missing file is empty.
local MAX_LINES = 10000000
-- Calls fn(value, line number) for each line of a JSON Lines file (a missing file has none).
local function each_line(path, fn)
  local f = io.open(path, "r")
  if not f then return end
  local n = 0
  for line in f:lines() do
    n = n + 1
    if n > MAX_LINES then f:close() error(("%s: more than %d lines"):format(path, MAX_LINES), 0) end
    if line:match("%S") then
      local ok, v = pcall(cjson.decode, line)
      if not ok then f:close() error(("%s:%d: not JSON: %s"):format(path, n, v), 0) end
      local fine, err = pcall(fn, v, n)
      if not fine then f:close() error(err, 0) end
    end
  end
  f:close()
end

local function read_lines(path)
  local out = {}
  each_line(path, function(v) out[#out + 1] = v end)
  return out
end

local function nonnull(v) if v == cjson.null then return nil end return v end

-- Reads TYPE/SLUG.md: front matter lines "key: JSON", then the body.
local function read_markdown(path, type_name, slug)
  local f = assert(io.open(path, "r"))
  local text = f:read("a")
  f:close()
  local front, body = text:match("^%-%-%-\n(.-)\n%-%-%-\n(.*)$")
  if not front then error(path .. ": missing front matter (--- ... ---)", 0) end
  local rec = { type = type_name, slug = slug, body = body }
  local n = 1
  for line in front:gmatch("[^\n]+") do
    n = n + 1
    local k, v = line:match("^([%w_]+):%s*(.*)$")
    if not k then error(("%s:%d: front matter lines are key: value"):format(path, n), 0) end
    local ok, decoded = pcall(cjson.decode, v)
    rec[k] = ok and decoded or v -- a bare word is taken as text
  end
  return rec
end

local function read_entries(dir)
  local records = read_lines(dir .. "/entries.jsonl")
  if #records > 0 then return records end
  for _, type_name in ipairs(core.listdir(dir) or {}) do
    if type_name ~= "tables" and core.stat(dir .. "/" .. type_name) == "dir" then
      for _, file in ipairs(core.listdir(dir .. "/" .. type_name)) do
        local slug = file:match("^(.+)%.md$")
        if slug then records[#records + 1] = read_markdown(dir .. "/" .. type_name .. "/" .. file, type_name, slug) end
      end
    end
  end
  -- The original order: by id (exports since ids were written), else by creation.
  table.sort(records, function(a, b)
    local ia, ib = math.tointeger(a.id), math.tointeger(b.id)
    if ia and ib and ia ~= ib then return ia < ib end
    if a.created_at ~= b.created_at then return tostring(a.created_at) < tostring(b.created_at) end
    return a.type .. "/" .. a.slug < b.type .. "/" .. b.slug
  end)
  return records
end

-- Everything the site lacks for this export, found before anything is written: plugins, content
-- types, workflow states, tables; all named in one error.
local function check_needs(quire, dir, records)
  local man
  local f = io.open(dir .. "/manifest.json", "r")
  if f then
    local ok, v = pcall(cjson.decode, f:read("a"))
    f:close()
    if not ok or type(v) ~= "table" or v.format ~= "quire-export" then error(dir .. "/manifest.json: not a quire export manifest", 0) end
    man = v
  end
  local problems = {}
  if man and math.type(man.schema_version) == "integer" and man.schema_version > quire.store.schema_version() then
    problems[#problems + 1] = ("the export was made with database schema %d, newer than this site's %d: upgrade quire first")
      :format(man.schema_version, quire.store.schema_version())
  end
  local enabled = {}
  for _, p in ipairs(quire.plugins.plugins) do enabled[p.name] = true end
  local missing_plugins = {}
  for _, p in ipairs(man and man.plugins or {}) do
    if type(p) == "table" and type(p.name) == "string" and not enabled[p.name] then missing_plugins[#missing_plugins + 1] = p.name end
  end
  if #missing_plugins > 0 then
    problems[#problems + 1] = ("plugins not enabled in this site: %s (add them to plugins = { ... } in site.lua)"):format(table.concat(missing_plugins, ", "))
  end
  local types, states, seen = {}, {}, {}
  for _, t in ipairs(man and man.types or {}) do types[#types + 1] = t end
  for _, s in ipairs(man and man.states or {}) do states[#states + 1] = s end
  for _, r in ipairs(records) do
    types[#types + 1] = r.type
    states[#states + 1] = r.status
  end
  local missing_types, missing_states = {}, {}
  for _, t in ipairs(types) do
    if not seen["t" .. tostring(t)] then
      seen["t" .. tostring(t)] = true
      if not quire._site.types:get(t) then missing_types[#missing_types + 1] = tostring(t) end
    end
  end
  for _, s in ipairs(states) do
    if s ~= nil and s ~= cjson.null and not seen["s" .. tostring(s)] then
      seen["s" .. tostring(s)] = true
      if s ~= "trash" and not quire._site.workflow.known_state(s) then missing_states[#missing_states + 1] = tostring(s) end
    end
  end
  if #missing_types > 0 then problems[#problems + 1] = "content types this site does not define: " .. table.concat(missing_types, ", ") end
  if #missing_states > 0 then problems[#problems + 1] = "workflow states this site does not define: " .. table.concat(missing_states, ", ") end
  -- Columns later migrations added to users, entries or comments (their "columns" objects).
  local missing_columns, noted = {}, {}
  local function columns_known(table_name, rec)
    if type(rec) ~= "table" or type(rec.columns) ~= "table" then return end
    local have = {}
    for _, c in ipairs(extra_columns(quire._db, table_name)) do have[c] = true end
    for k in pairs(rec.columns) do
      local name = table_name .. "." .. tostring(k)
      if not have[k] and not noted[name] then noted[name] = true; missing_columns[#missing_columns + 1] = name end
    end
  end
  columns_known("entries", records[1])
  for _, t in ipairs({ "users", "comments" }) do
    local f = io.open(("%s/%s.jsonl"):format(dir, t), "r")
    local line = f and f:read("l")
    if f then f:close() end
    local ok, rec = pcall(cjson.decode, line or "")
    if ok then columns_known(t, rec) end
  end
  table.sort(missing_columns)
  if #missing_columns > 0 then problems[#problems + 1] = "columns this site's database lacks: " .. table.concat(missing_columns, ", ") .. " (upgrade quire first)" end
  local missing_tables = {}
  for _, file in ipairs(core.listdir(dir .. "/tables") or {}) do
    local name = file:match("^(.+)%.jsonl$")
    if name and not store_sql.has_table(quire._db, name) then
      missing_tables[#missing_tables + 1] = name
    end
  end
  table.sort(missing_tables)
  if #missing_tables > 0 then problems[#problems + 1] = "tables this site's database lacks: " .. table.concat(missing_tables, ", ") .. " (upgrade quire first)" end
  if #problems > 0 then
    errors.raise("invalid", ("cannot import %s, nothing was written: %s"):format(dir, table.concat(problems, "; ")))
  end
end

-- Lets the next id the counter of table hands out be want, when want is above every id it has
-- ever handed out (so an id is never reused); returns whether it will be.
local function claim_id(db, table_name, want)
  if math.type(want) ~= "integer" or want < 1 then return false end
  local id_column = select(3, columns_of(db, table_name))
  local seq = store_sql.id_counter(db, table_name, id_column) or 0
  local max = db:value(("SELECT coalesce(max(%s), 0) FROM %s"):format(rowid_of(db, table_name), quote(table_name)))
  if want <= seq or want <= max then return false end
  store_sql.set_id_counter(db, table_name, id_column, want - 1)
  return true
end

-- Whether the table's ids come from a counter that never hands one out twice.
local function autoincrement(db, table_name)
  return store_sql.id_counter(db, table_name, (select(3, columns_of(db, table_name)))) ~= nil
end

-- Imports what M.export wrote (either format). Entries are matched by type and slug, users by
-- login: existing ones are updated (entries) or kept (users), others created. Returns entries,
-- comments, users imported.
function M.import(quire, dir)
  if core.stat(dir) ~= "dir" then error(("%s is not a folder (give the folder quire export wrote)"):format(dir), 0) end
  local site, db = quire._site, quire._db
  catalog = {}
  local records = read_entries(dir)
  check_needs(quire, dir, records)
  local nusers, nentries, ncomments = 0, 0, 0
  -- old id -> new id, per table; created[entry id]: made by this import (so it takes the
  -- exported revisions instead of the one its creation wrote)
  local maps = { users = {}, entries = {}, comments = {} }
  local extras = {} -- { table =, id =, columns = } set last
  local created = {}
  local tables, refs = generic_tables(db)
  local present = {}
  for _, name in ipairs(tables) do present[name] = core.stat(("%s/tables/%s.jsonl"):format(dir, name)) == "file" end

  -- The rowid of the row of table name that has row's values in one of its unique keys (the row
  -- an insert of row conflicted with), so that references to row follow it there.
  local unique_keys, rowids = {}, {}
  local function rowid(name)
    if rowids[name] == nil then rowids[name] = rowid_of(db, name) or false end
    return rowids[name] or errors.raise("invalid", ("table %s has no integer id to refer to its rows by"):format(name))
  end
  local function holder_of(name, row)
    local keys = unique_keys[name]
    if not keys then
      keys = store_sql.unique_keys(db, name)
      unique_keys[name] = keys
    end
    for _, cols in ipairs(keys) do
      local where, values = {}, {}
      for i, c in ipairs(cols) do
        local v = nonnull(row[c])
        if v == nil then where = nil break end
        where[i], values[i] = quote(c) .. " = ?", math.type(v) == "float" and math.tointeger(v) or v
      end
      local id = where and db:value(("SELECT %s FROM %s WHERE %s"):format(rowid(name), quote(name), table.concat(where, " AND ")), table.unpack(values))
      if id then return id end
    end
    return nil
  end

  -- Tables whose rows are not in yet while a table imported before them refers to them (the
  -- media library, imported before the entries that name its images): such references are
  -- written once those rows are in (set_deferred).
  local deferred_parents, deferred = {}, {}

  -- One row of a generic table: foreign keys translated; the row's own id kept when free.
  -- later: { column = old id } for references to rows of the same table, set once it is in.
  local function import_row(name, cols, rowid_alias, row, lineno, later)
    for col in pairs(DERIVED[name] or {}) do row[col] = nil end
    local soft = SOFT_REFS[name]
    if soft and soft.tables[row[soft.by]] then
      local map = maps[soft.tables[row[soft.by]]]
      local v = math.tointeger(row[soft.column])
      if map and v and map[v] then row[soft.column] = map[v] end
    end
    local pending -- references to rows of this table: set once they are all in
    local pending_parents -- references to rows of a table not imported yet (deferred_parents)
    for _, fk in ipairs(refs[name]) do
      local v = nonnull(row[fk.col])
      if v ~= nil and fk.parent == name then
        pending = pending or {}
        pending[fk.col] = v
        local new = (maps[name] or {})[v]
        if new then row[fk.col] = new end
      end
    end
    for _, fk in ipairs(refs[name]) do
      local v = nonnull(row[fk.col])
      local map = maps[fk.parent]
      if v ~= nil and deferred_parents[fk.parent] then
        pending_parents = pending_parents or {}
        pending_parents[fk.col] = { parent = fk.parent, old = v }
      elseif v ~= nil and map and fk.parent ~= name then
        local new = map[v]
        if new == nil and not db:value("SELECT 1 FROM " .. quote(fk.parent) .. " WHERE " .. (fk.target and quote(fk.target) or rowid(fk.parent)) .. " = ?", v) then
          errors.raise("invalid", ("%s/tables/%s.jsonl:%d: %s %s refers to a %s row that is neither in the export nor in this site")
            :format(dir, name, lineno, fk.col, tostring(v), fk.parent))
        end
        row[fk.col] = new or v
      end
    end
    if name == "audit_log" and type(row.subject) == "string" then
      local kind, n = row.subject:match("^(%a+):(%d+)$")
      local map = kind == "entry" and maps.entries or kind == "comment" and maps.comments
      local new = map and map[math.tointeger(tonumber(n))]
      if new then row.subject = kind .. ":" .. new end
    end
    local old_id = rowid_alias and math.tointeger(row[rowid_alias])
    local keyed = false -- the id is also a reference (trash.entry_id): it is kept, never renumbered
    for _, fk in ipairs(refs[name]) do if fk.col == rowid_alias then keyed = true end end
    if old_id and not keyed then
      local existing = db:row("SELECT * FROM " .. quote(name) .. " WHERE " .. rowid(name) .. " = ?", old_id)
      if existing then
        local same = true
        for _, c in ipairs(cols) do
          if existing[c] ~= nonnull(row[c]) and not (DERIVED[name] or {})[c] then same = false break end
        end
        if same then -- imported before
          maps[name] = maps[name] or {}
          maps[name][old_id] = old_id
          return
        end
        row[rowid_alias] = nil
      elseif autoincrement(db, name) and not claim_id(db, name, old_id) then
        row[rowid_alias] = nil
      end
    end
    for col in pairs(pending or {}) do row[col] = cjson.null end
    for col in pairs(pending_parents or {}) do row[col] = cjson.null end
    local names, marks, values = {}, {}, {}
    for _, c in ipairs(cols) do
      local v = row[c]
      if v ~= nil then
        names[#names + 1] = quote(c)
        marks[#names] = "?"
        if v == cjson.null then v = nil end
        values[#names] = math.type(v) == "float" and math.tointeger(v) or v -- cjson reads 12 as 12.0
      end
    end
    for k in pairs(row) do
      local known = false
      for _, c in ipairs(cols) do if c == k then known = true break end end
      if not known then
        errors.raise("invalid", ("%s/tables/%s.jsonl:%d: column %s is not in this site's %s table"):format(dir, name, lineno, tostring(k), name))
      end
    end
    -- A row whose unique key the site already has is left as the site has it.
    local n, new_id = db:exec(("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING"):format(quote(name),
      table.concat(names, ", "), table.concat(marks, ", ")), table.unpack(values, 1, #names))
    if old_id and n == 0 then new_id = holder_of(name, row) end -- the site's row with the same unique key
    if n == 1 and row[rowid_alias] ~= nil then store_sql.id_taken(db, name, rowid_alias, new_id) end
    if old_id and new_id then
      maps[name] = maps[name] or {}
      maps[name][old_id] = new_id
    end
    if pending and n == 1 then later[#later + 1] = { id = new_id, refs = pending, line = lineno } end
    if pending_parents and n == 1 then deferred[#deferred + 1] = { table = name, id = new_id, refs = pending_parents, line = lineno } end
  end

  -- Writes the references deferred_parents held back, now that their rows are in.
  local function set_deferred()
    for _, d in ipairs(deferred) do
      for col, ref in pairs(d.refs) do
        local new = (maps[ref.parent] or {})[math.tointeger(ref.old) or ref.old]
        if new == nil and not db:value("SELECT 1 FROM " .. quote(ref.parent) .. " WHERE " .. rowid(ref.parent) .. " = ?", ref.old) then
          errors.raise("invalid", ("%s/tables/%s.jsonl:%d: %s %s refers to a %s row that is neither in the export nor in this site")
            :format(dir, d.table, d.line, col, tostring(ref.old), ref.parent))
        end
        db:exec(("UPDATE %s SET %s = ? WHERE %s = ?"):format(quote(d.table), quote(col), rowid(d.table)), new or ref.old, d.id)
      end
    end
    deferred, deferred_parents = {}, {}
  end

  local function import_table(name)
    if not present[name] then return end
    local cols, _, rowid_alias = columns_of(db, name)
    local later = {}
    each_line(("%s/tables/%s.jsonl"):format(dir, name), function(row, i)
      if type(row) ~= "table" then errors.raise("invalid", ("%s/tables/%s.jsonl:%d: a row is a JSON object"):format(dir, name, i)) end
      local skip = (name == "revisions" and not created[maps.entries[math.tointeger(row.entry_id)] or -1])
      if not skip then import_row(name, cols, rowid_alias, row, i, later) end
    end)
    local map = maps[name] or {}
    for _, l in ipairs(later) do
      for col, old in pairs(l.refs) do
        local new = map[math.tointeger(old) or old]
        if new == nil and not db:value("SELECT 1 FROM " .. quote(name) .. " WHERE " .. rowid(name) .. " = ?", old) then
          errors.raise("invalid", ("%s/tables/%s.jsonl:%d: %s %s refers to a %s row that is neither in the export nor in this site")
            :format(dir, name, l.line, col, tostring(old), name))
        end
        db:exec(("UPDATE %s SET %s = ? WHERE %s = ?"):format(quote(name), quote(col), rowid(name)), new or old, l.id)
      end
    end
  end

  quire.store.transaction(function()
    site.bump({ [require("quire.memo").ALL] = true }) -- rows written beside the content API: no memoised read stays
    for _, u in ipairs(read_lines(dir .. "/users.jsonl")) do
      local have = quire.users.get(u.login)
      if have then
        if math.tointeger(u.id) then maps.users[math.tointeger(u.id)] = have.id end
      else
        claim_id(db, "users", math.tointeger(u.id))
        local id = quire.users.create { login = u.login, name = u.name, email = nonnull(u.email), bio = nonnull(u.bio), role = u.role }
        db:exec("UPDATE users SET created_at = ?, password_hash = ? WHERE id = ?", u.created_at, nonnull(u.password_hash), id)
        if math.tointeger(u.id) then maps.users[math.tointeger(u.id)] = id end
        extras[#extras + 1] = { table = "users", id = id, columns = u.columns }
        nusers = nusers + 1
      end
    end
    -- Terms first, with their ids: the entries find theirs by name; and the media library, which
    -- entries' media fields (hero_media) must find when they are checked (its rows' entry_id is
    -- written once the entries are in).
    import_table("terms")
    deferred_parents.entries = true
    import_table("media")
    local revisions_seq = store_sql.id_counter(db, "revisions", "id")
    for _, r in ipairs(records) do
      local trashed = r.status == "trash"
      local attrs = { title = r.title, body = r.body or "", status = trashed and "draft" or r.status, slug = r.slug, author = nonnull(r.author),
        published_at = nonnull(r.published_at), fields = r.fields or {}, tags = r.tags or {}, section = nonnull(r.section) or false }
      local existing = quire.content.get { type = r.type, slug = r.slug }
      local id
      if existing and trashed then -- into the trash (a trashed entry is not edited)
        id = existing.id
        if existing.status ~= "trash" then
          attrs.status = nil
          quire.content.update(id, attrs)
          quire.content.trash(id)
        end
      elseif existing then
        if existing.status == "trash" then quire.content.untrash(existing.id) end
        quire.content.update(existing.id, attrs)
        id = existing.id
      else
        attrs.type = r.type
        if attrs.section == false then attrs.section = nil end
        claim_id(db, "entries", math.tointeger(r.id))
        id = quire.content.create(attrs)
        created[id] = true
      end
      if trashed and created[id] then -- back into the trash; the trash table's row says what it was
        db:exec("UPDATE entries SET status = 'trash' WHERE id = ?", id)
        if not present.trash then
          db:exec("INSERT INTO trash (entry_id, status, trashed_at, actor) VALUES (?, 'draft', ?, 'import') ON CONFLICT DO NOTHING",
            id, r.updated_at)
        end
      end
      db:exec("UPDATE entries SET created_at = ?, updated_at = ? WHERE id = ?", r.created_at, r.updated_at, id)
      if math.tointeger(r.id) then maps.entries[math.tointeger(r.id)] = id end
      extras[#extras + 1] = { table = "entries", id = id, columns = r.columns }
      nentries = nentries + 1
    end
    -- The revisions of the entries made here are the exported ones, not those their creation wrote.
    if present.revisions then
      local ids = {}
      for id in pairs(created) do ids[#ids + 1] = id end
      db:exec("DELETE FROM revisions WHERE entry_id " .. store_sql.IN_LIST, store_sql.id_list(ids))
      -- (the ids those revisions took are handed out again, to the exported ones)
      store_sql.set_id_counter(db, "revisions", "id", math.max(revisions_seq or 0, db:value("SELECT coalesce(max(id), 0) FROM revisions")))
    end
    local refs_by_line = {}
    for _, c in ipairs(read_lines(dir .. "/comments.jsonl")) do
      local t, slug = tostring(c.entry):match("^([^/]+)/(.+)$")
      local e = t and quire.content.get { type = t, slug = slug }
      if not e then errors.raise("invalid", ("comment %s refers to entry %s, which is not in the import"):format(tostring(c.ref), tostring(c.entry))) end
      -- The same comment imported twice is kept once.
      local same = db:row("SELECT id FROM comments WHERE entry_id = ? AND created_at = ? AND author_email = ? AND body = ?",
        e.id, c.created_at, c.author_email, c.body)
      local id = same and same.id
      if not id then
        claim_id(db, "comments", math.tointeger(c.id))
        id = quire.comments.create { entry = e.id, parent = nonnull(c.parent) and refs_by_line[c.parent], author_name = c.author_name,
          author_email = c.author_email, author_url = nonnull(c.author_url), body = c.body, status = c.status, ip_hash = nonnull(c.ip_hash) }
        db:exec("UPDATE comments SET created_at = ? WHERE id = ?", c.created_at, id)
        ncomments = ncomments + 1
      end
      refs_by_line[c.ref] = id
      if math.tointeger(c.id) then maps.comments[math.tointeger(c.id)] = id end
      extras[#extras + 1] = { table = "comments", id = id, columns = c.columns }
    end
    set_deferred()
    for _, name in ipairs(tables) do
      if name ~= "terms" and name ~= "media" then import_table(name) end
    end
    -- Last, the columns of users, entries and comments that their files carry in "columns"
    -- (once every row they may refer to is in).
    for _, x in ipairs(extras) do
      if type(x.columns) == "table" and next(x.columns) then
        local have = {}
        for _, c in ipairs(extra_columns(db, x.table)) do have[c] = true end
        local fks = {}
        for _, fk in ipairs(store_sql.foreign_keys(db, x.table)) do fks[fk.col] = fk.parent end
        local sets, values = {}, {}
        for k, v in pairs(x.columns) do
          if not have[k] then
            errors.raise("invalid", ("%s: the export has a column %s.%s this site's database lacks (upgrade quire first)"):format(dir, x.table, tostring(k)))
          end
          v = nonnull(v)
          if math.type(v) == "float" then v = math.tointeger(v) or v end
          local map = fks[k] and maps[fks[k]]
          if v ~= nil and map and map[v] then v = map[v] end
          sets[#sets + 1] = quote(k) .. " = ?"
          values[#sets] = v
        end
        values[#sets + 1] = x.id
        db:exec(("UPDATE %s SET %s WHERE id = ?"):format(x.table, table.concat(sets, ", ")), table.unpack(values, 1, #sets + 1))
      end
    end
  end)
  -- The image files last, once the media rows that name them are in (files no row names stay out).
  copy_media(dir .. "/media", require("quire.media").dir(quire.site.config), media_hashes(db))
  return nentries, ncomments, nusers
end

return M
