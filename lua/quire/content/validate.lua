-- The checks of an entry before it is written: its columns by the rules of quire.types
-- (TEXT_RULES.entry), its status by the site's workflow, its slug, author and terms, its fields
-- by its type. Nothing here writes.
--
-- v = require("quire.content.validate").of(site):
--   v.entry(e, existing_id, existing_slug) -> the row to write (raises "invalid" with every problem)
--   v.user_id(author, errs [, field]) -> a user id, or nil after adding the error to errs
local cjson = require "cjson"
local core = require "quire.core"
local errors = require "quire.errors"
local per_site = require "quire.per_site"
local terms_mod = require "quire.content.terms"
local time = require "quire.time"
local types_mod = require "quire.types"

local M = {}

local json = cjson.new()
json.encode_sparse_array(false)
M.json = json -- the encoder entries' fields are written with

local slug_of, has_slug = terms_mod.slug_of, terms_mod.has_slug
local RULES = types_mod.TEXT_RULES.entry
local core_trim = core.trim

-- Lua's %s (what titles and term names are trimmed of) as bytes.
-- (core.trim: a "%s+$" pattern is quadratic in a run of inner whitespace.)
local SPACE = { [9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [32] = true }
local function trim(v)
  if SPACE[v:byte(1)] or SPACE[v:byte(-1)] then return core_trim(v) end
  return v
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

M.of = per_site(function(site)
  local db, limits, types = site.db, site.limits, site.types
  local v = {}
  local check_title, check_body = types_mod.text_checker(RULES.title, limits), types_mod.text_checker(RULES.body, limits)
  local check_term = types_mod.text_checker(types_mod.TEXT_RULES.term.name, limits)

  function v.user_id(author, errs, field)
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
  local user_id = v.user_id

  local function ref_exists(kind, id)
    if kind == "user" then return db:row("SELECT 1 AS ok FROM users WHERE id = ?", id) ~= nil end
    if kind == "media" then return db:row("SELECT 1 AS ok FROM media WHERE id = ?", id) ~= nil end
    return db:row("SELECT 1 AS ok FROM entries WHERE id = ?", id) ~= nil
  end
  local REFS = { ref_exists = ref_exists }

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
        local checked = check_term(errs, item, name)
        if checked then
          valid = trim(checked)
          if slug_of(valid) == "" then
            errs[#errs + 1] = { field = item, message = ("%q has no letter a-z (accents aside) or digit to make its URL from: add one"):format(valid) }
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

  -- Validates an entry record (all columns, already merged for an update). Returns the row to
  -- write or raises an "invalid" error listing every problem.
  function v.entry(e, existing_id, existing_slug)
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
    local title, padded = check_title(errs, "title", e.title)
    if padded then title = core_trim(title) end
    row.title = title
    row.body = check_body(errs, "body", e.body or "") or ""
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
          and db:row("SELECT id, status FROM entries WHERE type = ? AND slug = ? AND id IS DISTINCT FROM ?", e.type, e.slug, existing_id)
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
      local norm, ferrs = types_mod.validate(t, fields, REFS)
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

  return v
end)

return M
