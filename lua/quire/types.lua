-- Content types: their declarations and the validation of an entry's fields against them.
local core = require "quire.core"
local time = require "quire.time"

local M = {}
M.__index = M

local FIELD_TYPES = {
  text = true, markdown = true, number = true, bool = true, datetime = true,
  ref = true, list = true, enum = true, media = true,
}
M.FIELD_TYPES = FIELD_TYPES -- for the plugin reference (quire.reference)

-- A field spec is "text" or { "text", required = true, max = 200, default = ..., values = {...},
-- of = "text", to = "entry"|"user", validate = function(value) return ok, message end }.
-- "media" holds a media id (quire.media); alt_field = "name" names a text field whose value, when
-- set, is the image's alt text on this entry instead of the media's own.
local function normalise_field(type_name, name, spec)
  if type(spec) == "string" then spec = { spec } end
  if type(spec) ~= "table" then
    error(("type '%s': field '%s' must be a type name or a table"):format(type_name, name), 0)
  end
  local f = {}
  for k, v in pairs(spec) do f[k] = v end
  f.type = f.type or f[1]
  f[1] = nil
  f.name = name
  if not FIELD_TYPES[f.type] then
    local valid = {}
    for t in pairs(FIELD_TYPES) do valid[#valid + 1] = t end
    table.sort(valid)
    error(("type '%s': field '%s' has unknown field type '%s' (field types: %s)")
      :format(type_name, name, tostring(f.type), table.concat(valid, ", ")), 0)
  end
  if f.type == "enum" and (type(f.values) ~= "table" or #f.values == 0) then
    error(("type '%s': enum field '%s' needs values = {...}"):format(type_name, name), 0)
  end
  if f.type == "ref" and f.to ~= nil and f.to ~= "entry" and f.to ~= "user" then
    error(("type '%s': ref field '%s' must point to 'entry' or 'user'"):format(type_name, name), 0)
  end
  if f.type == "list" and f.of then f.item = normalise_field(type_name, name .. "[]", f.of) end
  if f.validate ~= nil and type(f.validate) ~= "function" then
    error(("type '%s': field '%s' validate must be a function"):format(type_name, name), 0)
  end
  return f
end

function M.new()
  return setmetatable({ defs = {} }, M)
end

-- Declares a type: { name =, label =, permalink =, layout =, fields = { name = spec } }.
function M:define(def)
  if type(def) ~= "table" then error("content type must be a table", 2) end
  if type(def.name) ~= "string" or not def.name:match("^[a-z][a-z0-9_]*$") then
    error("content type name must be lowercase letters, digits and _ (got " .. tostring(def.name) .. ")", 2)
  end
  local t = {
    name = def.name,
    label = def.label or def.name,
    permalink = def.permalink or ("/" .. def.name .. "/{slug}"),
    layout = def.layout or def.name,
    fields = {},
    field_order = {},
    plugin = def.plugin,
    -- Published entries of this type need alt text for each image of their media fields.
    require_alt = def.require_alt == true,
  }
  for name, spec in pairs(def.fields or {}) do
    if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_]*$") then
      error(("type '%s': field names must be lowercase identifiers"):format(def.name), 2)
    end
    t.fields[name] = normalise_field(def.name, name, spec)
    t.field_order[#t.field_order + 1] = name
  end
  table.sort(t.field_order)
  self.defs[def.name] = t
  return t
end

function M:get(name) return self.defs[name] end

function M:names()
  local out = {}
  for name in pairs(self.defs) do out[#out + 1] = name end
  table.sort(out)
  return out
end

-- The message for a character that text_check refuses ("char"): stored text must be XML 1.0
-- text, or one title would make every feed and the sitemap unreadable.
function M.char_message(cp, pos)
  local what = cp < 0x20 and "a control character" or "a Unicode noncharacter"
  return ("contains U+%04X (%s) at character %d, which feeds and sitemaps (XML) cannot carry: remove it"):format(cp, what, pos)
end

-- The text rule every stored text field follows (core.text_check): valid UTF-8 that XML can carry.
local text_check = core.text_check
local function text_problem(v)
  local problem, cp, pos = text_check(v, false)
  if problem == "utf8" then return "is not valid UTF-8" end
  if problem == "char" then return M.char_message(cp, pos) end
end

-- The rules of the text columns the core stores, in one place: what a save, a comment and the
-- set-based search-replace (lua/quire/replace.lua, which makes its SQL from these) check.
-- required: a missing or blank value is refused; blank: a blank value counts as missing (and,
-- when not required, is stored as nil); max_chars / max_bytes: a number, or the name of the
-- setting in limits that holds it; trim: surrounding whitespace is removed before it is stored.
M.TEXT_RULES = {
  entry = {
    title = { required = true, max_chars = "title_max", trim = true },
    body = { max_bytes = "body_max" },
  },
  term = {
    name = { required = true, max_chars = "term_max", trim = true }, -- a tag's or section's
  },
  comment = {
    author_name = { required = true, max_bytes = 200 },
    author_email = { required = true, max_bytes = 254 },
    author_url = { blank = true, max_bytes = 2000 },
    body = { required = true, max_bytes = "comment_max" },
  },
}

-- A rule's limit as a number, and the setting it came from (nil for a fixed one).
local function limit_of(v, limits)
  if type(v) == "string" then return limits[v], v end
  return v, nil
end
M.limit_of = limit_of

-- What is wrong with text v under rule, as the message a save gives, or nil when it is valid.
-- problem, n, pos: what core.text_check said.
function M.text_message(problem, n, pos, v, rule, limits)
  if problem == "missing" then
    return (rule.required and "is required") or nil
  elseif problem == "type" then
    return "must be text, got " .. type(v)
  elseif problem == "utf8" then
    return "is not valid UTF-8"
  elseif problem == "char" then
    return M.char_message(n, pos)
  elseif problem == "bytes" then
    local max, setting = limit_of(rule.max_bytes, limits)
    return ("is %d bytes, the limit is %d%s"):format(#v, max, setting and (" (limits." .. setting .. ")") or "")
  end
  local max, setting = limit_of(rule.max_chars, limits)
  return ("is %d characters, the limit is %d%s"):format(n, max, setting and (" (limits." .. setting .. ")") or "")
end

-- Checks text v against rule (one of TEXT_RULES' or the like) in one core.text_check call.
-- Returns v and whether it starts or ends with whitespace; or nil (missing and not required, or
-- invalid: then { field =, message = } is added to errs).
function M.check_text(errs, field, v, rule, limits)
  local problem, n, pos = text_check(v, rule.required or rule.blank, (limit_of(rule.max_chars, limits)), (limit_of(rule.max_bytes, limits)))
  if problem == nil then return v, n end
  local message = M.text_message(problem, n, pos, v, rule, limits)
  if message then errs[#errs + 1] = { field = field, message = message } end
  return nil
end

-- check_text with rule and limits bound, its limits looked up once: for the columns a bulk run
-- checks on every save. checker(errs, field, v) returns what check_text returns.
function M.text_checker(rule, limits)
  local required = rule.required or rule.blank
  local max_chars, max_bytes = limit_of(rule.max_chars, limits), (limit_of(rule.max_bytes, limits))
  return function(errs, field, v)
    local problem, n, pos = text_check(v, required, max_chars, max_bytes)
    if problem == nil then return v, n end
    local message = M.text_message(problem, n, pos, v, rule, limits)
    if message then errs[#errs + 1] = { field = field, message = message } end
    return nil
  end
end

-- Checks one value; returns the normalised value or nil, message.
local function check_value(f, v, ctx)
  local t = f.type
  if t == "text" or t == "markdown" then
    if type(v) == "number" then v = tostring(v) end
    if type(v) ~= "string" then return nil, "must be text" end
    local bad = text_problem(v)
    if bad then return nil, bad end
    local n = utf8.len(v)
    if f.max and n > f.max then return nil, ("is %d characters, at most %d allowed"):format(n, f.max) end
    return v
  elseif t == "number" then
    if type(v) == "string" then v = tonumber(v) or v end
    if type(v) ~= "number" or v ~= v then return nil, "must be a number" end
    if f.min and v < f.min then return nil, ("must be at least %s"):format(f.min) end
    if f.max and v > f.max then return nil, ("must be at most %s"):format(f.max) end
    return v
  elseif t == "bool" then
    if type(v) ~= "boolean" then return nil, "must be true or false" end
    return v
  elseif t == "datetime" then
    local norm, err = time.parse(v)
    if not norm then return nil, err end
    return norm
  elseif t == "enum" then
    for _, allowed in ipairs(f.values) do
      if v == allowed then return v end
    end
    return nil, ("must be one of %s"):format(table.concat(f.values, ", "))
  elseif t == "ref" then
    if math.type(v) == "float" then v = math.tointeger(v) or v end -- stored fields come back from JSON as 1.0
    if math.type(v) ~= "integer" then return nil, "must be an id (integer)" end
    if ctx and ctx.ref_exists and not ctx.ref_exists(f.to or "entry", v) then
      return nil, ("refers to %s %d, which does not exist"):format(f.to or "entry", v)
    end
    return v
  elseif t == "media" then
    if math.type(v) == "float" then v = math.tointeger(v) or v end
    if math.type(v) ~= "integer" then return nil, "must be a media id (integer; see quire media list)" end
    if ctx and ctx.ref_exists and not ctx.ref_exists("media", v) then
      return nil, ("refers to media %d, which does not exist (see quire media list)"):format(v)
    end
    return v
  elseif t == "list" then
    if type(v) ~= "table" then return nil, "must be a list" end
    local n = #v
    for k in pairs(v) do
      if math.type(k) ~= "integer" or k < 1 or k > n then return nil, "must be a list (1..n keys)" end
    end
    if f.max and n > f.max then return nil, ("has %d items, at most %d allowed"):format(n, f.max) end
    local out = {}
    for i, item in ipairs(v) do
      if f.item then
        local norm, err = check_value(f.item, item, ctx)
        if norm == nil then return nil, ("item %d %s"):format(i, err) end
        out[i] = norm
      else
        if type(item) ~= "string" and type(item) ~= "number" and type(item) ~= "boolean" then
          return nil, ("item %d must be text, a number or true/false"):format(i)
        end
        local bad = type(item) == "string" and text_problem(item)
        if bad then return nil, ("item %d %s"):format(i, bad) end
        out[i] = item
      end
    end
    return out
  end
end

-- Validates fields (a table) against type t. Returns the normalised fields and a list of
-- { field =, message = } errors (empty when valid). Unknown fields are errors.
function M.validate(t, fields, ctx)
  local out, errs = {}, {}
  for k in pairs(fields) do
    if type(k) ~= "string" or not t.fields[k] then
      errs[#errs + 1] = { field = "fields." .. tostring(k), message = ("is not a field of type '%s'"):format(t.name) }
    end
  end
  for _, name in ipairs(t.field_order) do
    local f = t.fields[name]
    local v = fields[name]
    if v == nil and f.default ~= nil then v = f.default end
    if v == nil or v == "" then
      if f.required then errs[#errs + 1] = { field = "fields." .. name, message = "is required" } end
    else
      local norm, err = check_value(f, v, ctx)
      if norm == nil then
        errs[#errs + 1] = { field = "fields." .. name, message = err }
      elseif f.validate then
        local ok, verr = f.validate(norm)
        if not ok then
          errs[#errs + 1] = { field = "fields." .. name, message = type(verr) == "string" and verr or "is not valid" }
        end
      end
      out[name] = norm
    end
  end
  table.sort(errs, function(a, b) return a.field < b.field end)
  return out, errs
end

-- A nested page's parents' slugs ("level-1/level-2", fields.path), from decoded or JSON fields.
local function parent_path(fields)
  if type(fields) == "string" then
    if not fields:find('"path"', 1, true) then return nil end
    fields = require("cjson").decode(fields)
  end
  local p = type(fields) == "table" and fields.path
  return type(p) == "string" and p ~= "" and p or nil
end

-- Does a permalink pattern hold a date ({yyyy}, {mm}, {dd})?
function M.dated(pattern) return pattern:find("{[ymd][ymd]", 1) ~= nil end

-- The year, month and day of stored UTC text in zone (the site's by default): a URL's date is the
-- one its readers see, so a story published at 00:30 on the 1st in Oslo is under that month.
local function date_of(utc, zone)
  if zone ~= "UTC" and utc:find("^%d+%-%d+%-%d+T%d") then
    local ok, p = pcall(time.local_parts, utc, zone)
    if ok then return ("%04d"):format(p.year), ("%02d"):format(p.month), ("%02d"):format(p.day) end
  end
  return utc:match("^(%d+)-(%d+)-(%d+)")
end
-- Kept by zone and text (every card asks for its URL, and a time zone's rules do not change
-- while a process runs), up to DATES_MAX.
local DATES_MAX = 4096
local dates_in, ndates = {}, 0
local function local_date(utc, zone)
  zone = zone or time.zone
  local dates = dates_in[zone]
  local d = dates and dates[utc]
  if d then return d[1], d[2], d[3] end
  local y, m, day = date_of(utc, zone)
  if ndates >= DATES_MAX then dates_in, ndates = {}, 0 end
  dates = dates_in[zone]
  if not dates then dates = {} dates_in[zone] = dates end
  dates[utc], ndates = { y, m, day }, ndates + 1
  return y, m, day
end

-- A permalink pattern split at its "{name}" parts: text, name, text, ..., text (every card
-- asks for a URL; a gsub with a function per call cost more than the rest of it).
local split_permalinks, nsplit = {}, 0
local function permalink_parts(pattern)
  local parts = split_permalinks[pattern]
  if parts then return parts end
  parts = {}
  local at = 1
  while true do
    local s, e, name = pattern:find("{(%w+)}", at)
    if not s then break end
    parts[#parts + 1] = pattern:sub(at, s - 1)
    parts[#parts + 1] = name
    at = e + 1
  end
  parts[#parts + 1] = pattern:sub(at)
  parts.dated = M.dated(pattern)
  if nsplit >= 256 then split_permalinks, nsplit = {}, 0 end
  split_permalinks[pattern], nsplit = parts, nsplit + 1
  return parts
end

-- The URL of an entry from its type's permalink (t.permalink_zone: the zone of its date, when not the
-- site's; redirects use it for the URLs entries had before the zone changed).
function M.permalink(t, entry)
  local slug = entry.slug
  local parents = t.fields.path and parent_path(entry.fields)
  if parents then slug = parents .. "/" .. slug end
  local parts = permalink_parts(t.permalink)
  local y, m, d
  if parts.dated then y, m, d = local_date(entry.published_at or entry.created_at or "", t.permalink_zone) end
  -- Joined as it goes (a few parts): tables of values and parts cost three times the rest.
  local out = parts[1]
  for i = 2, #parts, 2 do
    local name, v = parts[i], nil
    if name == "slug" then v = slug
    elseif name == "yyyy" then v = y
    elseif name == "mm" then v = m
    elseif name == "dd" then v = d
    elseif name == "id" then v = tostring(entry.id)
    elseif name == "type" then v = entry.type end
    out = out .. (v or "") .. parts[i + 1]
  end
  return out
end

-- The two types every site has before any plugin loads.
function M:define_builtins()
  self:define {
    name = "article", label = "Article", permalink = "/{yyyy}/{mm}/{slug}", layout = "article",
    fields = {
      standfirst = { "text", max = 600 },
      dateline = { "text", max = 100 },
    },
  }
  self:define {
    name = "page", label = "Page", permalink = "/{slug}", layout = "page",
    fields = {
      -- A page inside another: its parent, and the parents' slugs its permalink starts with.
      parent = { "ref", to = "entry" },
      path = { "text", max = 1000, validate = function(v)
        local n = 0
        for seg in (v .. "/"):gmatch("([^/]*)/") do
          n = n + 1
          if not seg:match("^[a-z0-9]+$") and not seg:match("^[a-z0-9][a-z0-9-]*[a-z0-9]$") or seg:find("--", 1, true) then
            return false, "must be slugs separated by /"
          end
        end
        return n <= 6, "has more than 6 parents"
      end },
    },
  }
end

return M
