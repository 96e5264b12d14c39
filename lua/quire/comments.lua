-- Reader comments: threaded, moderated. The author's email is stored for moderation and
-- never returned unless the caller asks for it (with_email), so a template cannot leak it.
local memo = require "quire.memo"
local copy = memo.copy
local errors = require "quire.errors"
local types = require "quire.types"
local time = require "quire.time"
local store_sql = require "quire.store_sql"

local M = {}

local STATUSES = { held = true, approved = true, spam = true, trash = true }
local KEYS = {
  entry = true, parent = true, author_name = true, author_email = true, author_url = true,
  body = true, status = true, ip_hash = true,
}

local function valid_email(s)
  if #s > 254 then return false end
  local lp, domain = s:match("^([^@%s]+)@([^@%s]+)$")
  return lp ~= nil and #lp <= 64 and domain:match("^[%w%-]+%.[%w%-%.]+$") ~= nil
    and not domain:find("..", 1, true) and not domain:match("^%.") and not domain:match("%.$")
end

function M.new(site)
  local db, limits, transaction = site.db, site.limits, site.transaction
  local api = {}

  -- The text rules of a comment's fields (quire.types, TEXT_RULES.comment).
  local RULES = types.TEXT_RULES.comment
  local function text(errs, field, v)
    return (types.check_text(errs, field, v, RULES[field], limits))
  end

  -- The comments of a block's entries counted by status (memo.of_block: one walk of the index
  -- comments_by_entry for its 64 entries), kept until a comment of one of them is added or
  -- moderated: { [entry_id] = { [status] = n } }, nothing for an entry without comments. Every
  -- count is read from these: a list's cards and an entry's page need no statement of their own,
  -- and the entries listed on many pages are counted once.
  local BLOCK_SQL = "SELECT entry_id, status, count(*) AS n FROM comments WHERE entry_id BETWEEN ? AND ? GROUP BY entry_id, status"
  local function add_count(of, r)
    local st = of[r.entry_id]
    if not st then st = {} of[r.entry_id] = st end
    st[r.status] = r.n
  end
  local function counted(entry_id) return memo.of_block(site, "comments", entry_id, BLOCK_SQL, add_count)[entry_id] end
  -- false when entry_id has no comment of status (of any when nil).
  local function may_have(entry_id, status)
    if math.type(entry_id) ~= "integer" then return true end
    local st = counted(entry_id)
    return st ~= nil and (status == nil or st[status] ~= nil)
  end

  local function create(c)
    local errs = {}
    for k in pairs(c) do
      if not KEYS[k] then errs[#errs + 1] = { field = tostring(k), message = "is not a comment attribute" } end
    end
    local entry = math.type(c.entry) == "integer" and db:row("SELECT id FROM entries WHERE id = ?", c.entry)
    if not entry then errs[#errs + 1] = { field = "entry", message = ("no entry %s"):format(tostring(c.entry)) } end
    if c.parent ~= nil then
      local p = math.type(c.parent) == "integer" and db:row("SELECT entry_id FROM comments WHERE id = ?", c.parent)
      if not p then
        errs[#errs + 1] = { field = "parent", message = ("no comment %s"):format(tostring(c.parent)) }
      elseif entry and p.entry_id ~= c.entry then
        errs[#errs + 1] = { field = "parent", message = "belongs to another entry" }
      end
    end
    local name = text(errs, "author_name", c.author_name)
    local email = text(errs, "author_email", c.author_email)
    if email and not valid_email(email) then
      errs[#errs + 1] = { field = "author_email", message = "is not an email address" }
    end
    local url = text(errs, "author_url", c.author_url)
    if url and not url:match("^https?://[^%s%c]+$") then
      errs[#errs + 1] = { field = "author_url", message = "must be an http:// or https:// address" }
    end
    local body = text(errs, "body", c.body)
    local status = c.status or "held"
    if not STATUSES[status] then
      errs[#errs + 1] = { field = "status", message = "must be held, approved, spam or trash" }
    end
    if #errs > 0 then errors.invalid("invalid comment", errs) end
    local _, id = db:exec("INSERT INTO comments (entry_id, parent_id, author_name, author_email, author_url, body, status, ip_hash, created_at)"
      .. " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", c.entry, c.parent, name, email, url, body, status, c.ip_hash, time.now())
    return id
  end

  function api.create(c)
    if type(c) ~= "table" then error("quire.comments.create takes a table", 2) end
    return transaction(function()
      local id = create(c)
      site.bump({ ["comments:" .. c.entry] = true, [memo.block_tag("comments", c.entry)] = true, ["comments:all"] = true })
      if site.hooks and site.hooks:has("hook", "comment.posted") then
        local posted = api.query { after = id - 1, limit = 1 }[1]
        site.hooks:emit("comment.posted", posted)
      end
      return id
    end)
  end

  function api.query(q)
    q = q or {}
    local where, params = {}, {}
    if q.entry ~= nil then where[#where + 1] = "entry_id = ?"; params[#params + 1] = q.entry end
    if q.status ~= nil then
      if not STATUSES[q.status] then error("quire.comments.query: unknown status " .. tostring(q.status), 2) end
      where[#where + 1] = "status = ?"; params[#params + 1] = q.status
    end
    if q.after ~= nil then
      local after = type(q.after) == "table" and q.after.id or q.after
      if math.type(after) ~= "integer" then error("quire.comments.query: after must be a comment or an id", 2) end
      where[#where + 1] = "id > ?"; params[#params + 1] = after
    end
    site.tag(q.entry ~= nil and ("comments:" .. tostring(q.entry)) or "comments:all")
    local limit = q.limit or 100
    if math.type(limit) ~= "integer" or limit < 1 or limit > 10000 then error("quire.comments.query: limit must be 1..10000", 2) end
    local cols = "id, entry_id, parent_id, author_name, author_url, body, status, created_at"
      .. (q.with_email and ", author_email" or "")
    local sql = "SELECT " .. cols .. " FROM comments" .. (#where > 0 and (" WHERE " .. table.concat(where, " AND ")) or "")
      .. " ORDER BY id LIMIT " .. limit
    if q.entry == nil or q.with_email then return db:rows(sql, table.unpack(params)) end
    if not may_have(q.entry, q.status) then return {} end
    -- An entry's comments are kept by the memo until one of them is added or moderated (the tag
    -- those bump), not read again by every render after a write elsewhere; a copy each.
    local key = table.concat({ "comments", tostring(q.entry), tostring(q.status),
      tostring(type(q.after) == "table" and q.after.id or q.after), limit }, "\0")
    local rows = site.memo.find(key)
    if rows == nil then
      rows = db:rows(sql, table.unpack(params))
      site.memo.put(key, rows, #rows + 1, "comments:" .. tostring(q.entry))
    end
    return copy(rows)
  end

  -- detail: a note for the audit log (where the moderation came from).
  function api.set_status(id, status, detail)
    if not STATUSES[status] then error("quire.comments.set_status: status must be held, approved, spam or trash", 2) end
    return transaction(function()
      local row = db:row("SELECT entry_id FROM comments WHERE id = ?", id)
      if not row then errors.raise("not_found", ("no comment %s"):format(tostring(id))) end
      db:exec("UPDATE comments SET status = ? WHERE id = ?", status, id)
      site.audit("comment." .. status, "comment:" .. id, detail)
      -- A comment hidden is out of public view: no page kept before may be given stale.
      site.bump({ ["comments:" .. row.entry_id] = true, [memo.block_tag("comments", row.entry_id)] = true, ["comments:all"] = true,
        ["quire:withdrawn"] = status ~= "approved" or nil })
      return true
    end)
  end

  -- true when a comment from this email address was approved before (for moderation rules such
  -- as "hold first-time commenters"). Says nothing else about the address.
  function api.approved_before(email)
    if type(email) ~= "string" then return false end
    return db:row("SELECT 1 AS x FROM comments WHERE " .. store_sql.equals_nocase("author_email") .. " AND status = 'approved' LIMIT 1",
      email) ~= nil
  end

  function api.count(entry_id, status)
    site.tag("comments:" .. tostring(entry_id))
    status = status or "approved"
    if math.type(entry_id) ~= "integer" then
      return db:value("SELECT count(*) FROM comments WHERE entry_id = ? AND status = ?", entry_id, status)
    end
    local st = counted(entry_id)
    return st and st[status] or 0
  end

  -- counts(ids [, status]) -> { [id] = count }: the counts of a list of entries (the cards of a
  -- list page), from their blocks as count's.
  local COUNTS_MAX = 1000
  function api.counts(ids, status)
    status = status or "approved"
    if type(ids) ~= "table" or #ids > COUNTS_MAX then error(("quire.comments.counts takes a list of at most %d entry ids"):format(COUNTS_MAX), 2) end
    local out = {}
    for i, id in ipairs(ids) do
      if math.type(id) ~= "integer" then error(("quire.comments.counts: ids[%d] is not an entry id"):format(i), 2) end
      site.tag("comments:" .. id)
      local st = counted(id)
      out[id] = st and st[status] or 0
    end
    return out
  end

  return api
end

return M
