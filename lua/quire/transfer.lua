-- Export and import: JSON Lines or Markdown with front matter, lossless both ways
-- (export -> import into a fresh site -> export gives the same files).
local cjson = require "cjson"
local core = require "quire.core"
local errors = require "quire.errors"

local M = {}

local json = require "quire.json"
local canonical = json.encode

local function list(t) return setmetatable(t or {}, json.array_mt) end

local ENTRY_ORDER = { "type", "slug", "title", "status", "author", "section", "tags", "published_at", "created_at", "updated_at", "fields" }

local function entry_record(quire, e)
  local author = e.author_id and quire.users.get(e.author_id)
  return {
    type = e.type, slug = e.slug, title = e.title, status = e.status, body = e.body,
    author = author and author.login or cjson.null, section = e.section or cjson.null, tags = list(e.tags),
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

-- Writes users.jsonl, comments.jsonl and the entries (entries.jsonl, or TYPE/SLUG.md).
function M.export(quire, dir, format)
  if format ~= "jsonl" and format ~= "markdown" then error("--format must be jsonl or markdown", 0) end
  mkdirs(dir)
  local db = quire._db
  local users = {}
  for _, u in ipairs(db:rows("SELECT login, display_name, email, bio, role, created_at FROM users ORDER BY id")) do
    users[#users + 1] = canonical { login = u.login, name = u.display_name, email = u.email or cjson.null,
      bio = u.bio or cjson.null, role = u.role, created_at = u.created_at }
  end
  write_file(dir .. "/users.jsonl", #users > 0 and (table.concat(users, "\n") .. "\n") or "")
  local lines, count, after = {}, 0, nil
  repeat
    local page = quire.content.query { order = "id", limit = 1000, after = after }
    for _, e in ipairs(page) do
      count = count + 1
      local rec = entry_record(quire, e)
      if format == "jsonl" then
        lines[#lines + 1] = canonical(rec)
      else
        local front = { "---" }
        for _, k in ipairs(ENTRY_ORDER) do
          if k ~= "type" and k ~= "slug" then front[#front + 1] = k .. ": " .. canonical(rec[k]) end
        end
        front[#front + 1] = "---"
        mkdirs(dir .. "/" .. e.type)
        write_file(("%s/%s/%s.md"):format(dir, e.type, e.slug), table.concat(front, "\n") .. "\n" .. e.body)
      end
    end
    after = page[#page] and page[#page].id
  until #page < 1000
  if format == "jsonl" then write_file(dir .. "/entries.jsonl", #lines > 0 and (table.concat(lines, "\n") .. "\n") or "") end
  -- Comments refer to their entry by type/slug and to their parent by its line (ref), not by ids.
  local refs, out = {}, {}
  for i, c in ipairs(db:rows("SELECT c.id, c.parent_id, c.author_name, c.author_email, c.author_url, c.body, c.status,"
      .. " c.ip_hash, c.created_at, e.type, e.slug FROM comments c JOIN entries e ON e.id = c.entry_id ORDER BY c.id")) do
    refs[c.id] = i
    out[i] = canonical { ref = i, entry = c.type .. "/" .. c.slug, parent = c.parent_id and refs[c.parent_id] or cjson.null,
      author_name = c.author_name, author_email = c.author_email, author_url = c.author_url or cjson.null,
      body = c.body, status = c.status, ip_hash = c.ip_hash or cjson.null, created_at = c.created_at }
  end
  write_file(dir .. "/comments.jsonl", #out > 0 and (table.concat(out, "\n") .. "\n") or "")
  return count, #out
end

local function read_lines(path)
  local f = io.open(path, "r")
  if not f then return {} end
  local out = {}
  local n = 0
  for line in f:lines() do
    n = n + 1
    if line:match("%S") then
      local ok, v = pcall(cjson.decode, line)
      if not ok then f:close() error(("%s:%d: not JSON: %s"):format(path, n, v), 0) end
      out[#out + 1] = v
    end
  end
  f:close()
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

-- Imports what M.export wrote (either format). Entries are matched by type and slug: existing
-- ones are updated, others created. Returns entries, comments, users imported.
function M.import(quire, dir)
  local site = quire._site
  local nusers, nentries, ncomments = 0, 0, 0
  quire.store.transaction(function()
    for _, u in ipairs(read_lines(dir .. "/users.jsonl")) do
      if not quire.users.get(u.login) then
        quire.users.create { login = u.login, name = u.name, email = nonnull(u.email), bio = nonnull(u.bio), role = u.role }
        site.db:exec("UPDATE users SET created_at = ? WHERE login = ?", u.created_at, u.login)
        nusers = nusers + 1
      end
    end
    local records = read_lines(dir .. "/entries.jsonl")
    if #records == 0 then
      for _, type_name in ipairs(core.listdir(dir) or {}) do
        if core.stat(dir .. "/" .. type_name) == "dir" then
          for _, file in ipairs(core.listdir(dir .. "/" .. type_name)) do
            local slug = file:match("^(.+)%.md$")
            if slug then records[#records + 1] = read_markdown(dir .. "/" .. type_name .. "/" .. file, type_name, slug) end
          end
        end
      end
      -- Keep the original creation order, so ids (and re-exports) come out in the same order.
      table.sort(records, function(a, b)
        if a.created_at ~= b.created_at then return tostring(a.created_at) < tostring(b.created_at) end
        return a.type .. "/" .. a.slug < b.type .. "/" .. b.slug
      end)
    end
    for _, r in ipairs(records) do
      local attrs = { title = r.title, body = r.body or "", status = r.status, slug = r.slug, author = nonnull(r.author),
        published_at = nonnull(r.published_at), fields = r.fields or {}, tags = r.tags or {}, section = nonnull(r.section) or false }
      local existing = quire.content.get { type = r.type, slug = r.slug }
      local id
      if existing then
        quire.content.update(existing.id, attrs)
        id = existing.id
      else
        attrs.type = r.type
        if attrs.section == false then attrs.section = nil end
        id = quire.content.create(attrs)
      end
      site.db:exec("UPDATE entries SET created_at = ?, updated_at = ? WHERE id = ?", r.created_at, r.updated_at, id)
      nentries = nentries + 1
    end
    local ids = {}
    for _, c in ipairs(read_lines(dir .. "/comments.jsonl")) do
      local t, slug = tostring(c.entry):match("^([^/]+)/(.+)$")
      local e = t and quire.content.get { type = t, slug = slug }
      if not e then errors.raise("invalid", ("comment %s refers to entry %s, which is not in the import"):format(tostring(c.ref), tostring(c.entry))) end
      -- The same comment imported twice is kept once.
      local same = site.db:row("SELECT id FROM comments WHERE entry_id = ? AND created_at = ? AND author_email = ? AND body = ?",
        e.id, c.created_at, c.author_email, c.body)
      local id = same and same.id or quire.comments.create { entry = e.id, parent = nonnull(c.parent) and ids[c.parent], author_name = c.author_name,
        author_email = c.author_email, author_url = nonnull(c.author_url), body = c.body, status = c.status, ip_hash = nonnull(c.ip_hash) }
      if not same then
        site.db:exec("UPDATE comments SET created_at = ? WHERE id = ?", c.created_at, id)
        ncomments = ncomments + 1
      end
      ids[c.ref] = id
    end
  end)
  return nentries, ncomments, nusers
end

return M
