-- The JSON APIs: one table of routes (method, path, parameters, body and response schemas,
-- who may call it, handler) drives both the router and the OpenAPI 3.1 document at
-- /api/openapi.json. The Content API (/api/content/v1/, read-only, public or with a key) is
-- here; the Admin API's routes come from quire.api_admin. Responses are plain data built from
-- the same content model and views as the pages, so they carry the same cache tags.
local core = require "quire.core"
local json = require "quire.json"
local errors = require "quire.errors"
local tokens = require "quire.tokens"
local time = require "quire.time"
local memo_view = require("quire.memo").view

local M = {}

M.CONTENT = "/api/content/v1"
M.ADMIN = "/api/admin/v1"

-- Settings (site.lua `api = { ... }`) and their defaults; config.lua checks the shapes.
M.defaults = {
  content = "key",   -- "open": no key needed; "key": ?key= a Content API key
  cors = "",         -- open Content API: allowed origins, space separated, or "*"
  max_age = 60,      -- seconds clients may keep a Content API answer (quire's cache drops it on a write)
  list_max = 100,    -- the largest `limit` of a list
  admin_rate = 300,  -- Admin API requests per key per minute
}

-- Schemas (JSON Schema 2020-12, as OpenAPI 3.1 takes them). A property's schema may carry
-- `optional = true`: documented, but only there when asked for (fields=, include=).
local function nullable(t) return { type = { t, "null" } } end
local DATE = { type = "string", format = "date-time" }
local DATE_OR_NULL = { type = { "string", "null" }, format = "date-time" }
local S = {}
S.Error = { type = "object", properties = {
  error = { type = "object", properties = {
    status = { type = "integer" }, code = { type = "string" }, message = { type = "string" },
    allowed = { type = "array", items = { type = "string" }, optional = true },
    errors = { type = "array", optional = true, items = { type = "object", properties = {
      field = { type = "string", optional = true }, message = { type = "string" } } } },
    current_revision = { type = "integer", optional = true },
    retry_after = { type = "integer", optional = true },
  } } } }
S.Author = { type = "object", properties = {
  id = { type = "integer" }, slug = { type = "string" }, name = { type = "string" }, bio = nullable("string"),
  url = { type = "string" } } }
S.Term = { type = "object", properties = {
  name = { type = "string" }, slug = { type = "string" }, url = { type = "string" } } }
S.TermCount = { type = "object", properties = {
  name = { type = "string" }, slug = { type = "string" }, url = { type = "string" }, count = { type = "integer" } } }
S.Entry = { type = "object", properties = {
  id = { type = "integer" }, type = { type = "string" }, slug = { type = "string" }, title = { type = "string" },
  url = { type = "string" }, published_at = DATE, updated_at = DATE, section = nullable("string"),
  tags = { type = "array", items = { type = "string" } }, author_id = nullable("integer"),
  fields = { type = "object", description = "the type's own fields (see components.schemas Fields_<type>)" },
  body_html = { type = "string", description = "the body as the site shows it (Markdown rendered, sanitised, dateline)" },
  body_markdown = { type = "string" },
  author = { ["$ref"] = "#/components/schemas/Author", optional = true, description = "with include=author" },
  terms = { type = "object", optional = true, description = "with include=terms", properties = {
    section = { anyOf = { { ["$ref"] = "#/components/schemas/Term" }, { type = "null" } } },
    tags = { type = "array", items = { ["$ref"] = "#/components/schemas/Term" } } } },
} }
-- A list's entries leave out the bodies unless fields= names them.
local LIST_DEFAULT = { id = true, type = true, slug = true, title = true, url = true, published_at = true,
  updated_at = true, section = true, tags = true, author_id = true, fields = true }
local ENTRY_FIELDS = {}
for k, v in pairs(S.Entry.properties) do if not v.optional then ENTRY_FIELDS[#ENTRY_FIELDS + 1] = k end end
table.sort(ENTRY_FIELDS)
S.EntryListItem = { type = "object", properties = {} }
for k, v in pairs(S.Entry.properties) do
  local p = {}
  for pk, pv in pairs(v) do p[pk] = pv end
  if not LIST_DEFAULT[k] then p.optional = true end
  S.EntryListItem.properties[k] = p
end
local function ref(name) return { ["$ref"] = "#/components/schemas/" .. name } end
local function page_of(name, item)
  S[name] = { type = "object", properties = {
    [item] = { type = "array", items = ref(name == "EntryList" and "EntryListItem" or name:gsub("List$", "")) },
    meta = { type = "object", properties = { limit = { type = "integer" }, next = nullable("string"),
      next_cursor = nullable("string") } } } }
end
page_of("EntryList", "entries")
S.TermList = { type = "object", properties = { terms = { type = "array", items = ref("TermCount") },
  meta = { type = "object", properties = { limit = { type = "integer" }, next = nullable("string"), next_cursor = nullable("string") } } } }
page_of("AuthorList", "authors")
S.Comment = { type = "object", properties = {
  id = { type = "integer" }, parent_id = nullable("integer"), author_name = { type = "string" },
  author_url = nullable("string"), body_html = { type = "string" }, created_at = DATE } }
page_of("CommentList", "comments")
S.SearchHit = { type = "object", properties = {
  id = { type = "integer" }, type = { type = "string" }, slug = { type = "string" }, title = { type = "string" },
  url = { type = "string" }, published_at = DATE_OR_NULL, score = { type = "number" },
  snippet = { type = "string", description = "HTML: the text escaped, the matches in <mark>" } } }
S.SearchResults = { type = "object", properties = { results = { type = "array", items = ref("SearchHit") },
  meta = { type = "object", properties = { limit = { type = "integer" }, total = { type = "integer" },
    estimated = { type = "boolean" }, next = nullable("string"), next_cursor = nullable("string") } } } }
S.Related = { type = "object", properties = { entries = { type = "array", items = ref("EntryListItem") } } }
S.EntryOne = { type = "object", properties = { entries = { type = "array", items = ref("Entry") } } }
S.AuthorOne = { type = "object", properties = { authors = { type = "array", items = ref("Author") } } }
S.TypeInfo = { type = "object", properties = { name = { type = "string" }, label = { type = "string" },
  fields = { type = "object", additionalProperties = { type = "object" } } } }
S.TypeList = { type = "object", properties = { types = { type = "array", items = ref("TypeInfo") } } }
S.Redirect = { type = "object", properties = { from = { type = "string" }, to = { type = "string", description = "a path on this site or an absolute URL" },
  status = { type = "integer", enum = { 301, 302, 308 } } } }
S.RedirectOne = { type = "object", properties = { redirects = { type = "array", items = ref("Redirect") } } }
M.schemas = S

-- An error answer: { error = { status, code, message, ... } }. Raised as a table so that a
-- handler can stop anywhere; route() turns it into the response.
local ApiError = {}
function M.fail(status, code, message, extra)
  local e = { status = status, code = code, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  error(setmetatable({ api = e }, ApiError), 0)
end
function M.is_fail(e) return getmetatable(e) == ApiError end

-- "a b" -> "a%20b" for a link's query.
local function escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- The link to the next page: the same query with cursor= the next page's start.
local function next_link(ctx, cursor)
  if not cursor then return json.null end
  local keys = {}
  for k in pairs(ctx.query) do if k ~= "cursor" and not k:find("%[%]$") then keys[#keys + 1] = k end end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = escape(k) .. "=" .. escape(ctx.query[k]) end
  parts[#parts + 1] = "cursor=" .. escape(cursor)
  return ctx.req.path .. "?" .. table.concat(parts, "&")
end
M.next_link = next_link

-- Query parameters: each route lists the ones it takes; anything else is refused with the
-- list of those allowed (open filters are how APIs leak what they should not).
local PARAM = {}
PARAM.limit = { name = "limit", schema = { type = "integer", minimum = 1 }, description = "items per page (at most api.list_max, 100 by default)" }
PARAM.cursor = { name = "cursor", schema = { type = "string" }, description = "where the page starts: meta.next_cursor of the page before" }
PARAM.key = { name = "key", schema = { type = "string" }, description = "a Content API key (not needed when the site's Content API is open)" }
PARAM.fields = { name = "fields", schema = { type = "string" }, description = "comma-separated entry fields to return (id always): " .. table.concat(ENTRY_FIELDS, ", ") }
PARAM.include = { name = "include", schema = { type = "string" }, description = "comma-separated: author, terms" }
PARAM.type = { name = "type", schema = { type = "string" }, description = "a content type" }
PARAM.section = { name = "section", schema = { type = "string" }, description = "a section's slug or name" }
PARAM.tag = { name = "tag", schema = { type = "string" }, description = "a tag's slug or name" }
PARAM.author = { name = "author", schema = { type = "string" }, description = "an author's slug (login)" }
PARAM.published_after = { name = "published_after", schema = DATE, description = "published at or after (RFC 3339 or YYYY-MM-DD)" }
PARAM.published_before = { name = "published_before", schema = DATE, description = "published before (RFC 3339 or YYYY-MM-DD)" }
PARAM.q = { name = "q", schema = { type = "string" }, required = true, description = "the words to find (all of them)" }
PARAM.path = { name = "path", schema = { type = "string" }, required = true, description = "a path on this site, with its query if any (/?p=123)" }
PARAM.status = { name = "status", schema = { type = "string" }, description = "an entry or comment status" }
M.PARAM = PARAM

local function check_query(ctx, route)
  local allowed = route.query_names
  for k in pairs(ctx.req.query_invalid or {}) do
    M.fail(400, "invalid_parameter", ("query parameter '%s' is not valid UTF-8"):format(k))
  end
  for k in pairs(ctx.query) do
    if not k:find("%[%]$") and not allowed[k] then
      M.fail(400, "unknown_parameter", ("'%s' is not a parameter of %s %s (status is always published on the Content API)"):format(
        k:sub(1, 60), route.method, route.path), { allowed = route.query_list })
    end
    if #(ctx.query[k .. "[]"] or {}) > 1 then
      M.fail(400, "invalid_parameter", ("'%s' is given more than once"):format(k))
    end
  end
  for _, p in ipairs(route.query or {}) do
    if p.required and (ctx.query[p.name] == nil or ctx.query[p.name] == "") then
      M.fail(400, "missing_parameter", ("'%s' is required: %s"):format(p.name, p.description or ""))
    end
  end
end

-- limit=: 1..api.list_max (default dflt).
function M.limit(ctx, dflt)
  local v = ctx.query.limit
  if v == nil then return math.min(dflt, ctx.settings.list_max) end
  local n = v:match("^%d+$") and #v <= 6 and tonumber(v)
  if not n or n < 1 or n > ctx.settings.list_max then
    M.fail(400, "invalid_parameter", ("limit must be a whole number from 1 to %d, got %q"):format(ctx.settings.list_max, v:sub(1, 40)))
  end
  return n
end

-- Opaque cursors: base64url of a few fields joined by commas.
function M.cursor_encode(...) return tokens.b64url(table.concat({ ... }, ",")) end
function M.cursor_decode(ctx, pattern)
  local c = ctx.query.cursor
  if c == nil then return nil end
  local raw = #c <= 400 and tokens.unb64url(c)
  local parts = raw and { raw:match(pattern) }
  if not parts or #parts == 0 then M.fail(400, "invalid_cursor", "cursor is not one this API gave (use meta.next_cursor)") end
  return table.unpack(parts)
end

-- "a,b" -> { a = true, b = true } from the allowed names, or 400 with them.
local function csv(ctx, name, allowed_list)
  local v = ctx.query[name]
  if v == nil then return nil end
  local allowed = {}
  for _, a in ipairs(allowed_list) do allowed[a] = true end
  local out, n = {}, 0
  for item in v:gmatch("[^,]+") do
    item = core.trim(item)
    n = n + 1
    if not allowed[item] or n > 64 then
      M.fail(400, "invalid_parameter", ("%s: '%s' is not one of %s"):format(name, item:sub(1, 60), table.concat(allowed_list, ", ")), { allowed = allowed_list })
    end
    out[item] = true
  end
  return out
end

-- Dates as RFC 3339 (stored in UTC: "2026-03-04T09:30:00Z").
local function date(v) return v or json.null end

function M.new(quire, site)
  local api = {}
  local cfg = quire.site.config or {}
  local settings = {}
  for k, v in pairs(M.defaults) do settings[k] = v end
  for k, v in pairs(cfg.api or {}) do settings[k] = v end
  local keys = require("quire.api_keys").new(quire, site)
  local db = site.db

  local function base() return (quire.site.base_url or ""):gsub("/+$", "") end

  -- Public facts about an author; never the email.
  local function author_of(u)
    return { id = u.id, slug = u.login, name = u.display_name or u.login, bio = u.bio or json.null,
      url = base() .. "/author/" .. u.login }
  end
  local function term(name, taxonomy)
    local slug = core.slugify(name)
    return { name = name, slug = slug, url = base() .. "/" .. taxonomy .. "/" .. slug }
  end

  -- The body as the site shows it: the view.body filters (Markdown, sanitiser, dateline), kept
  -- until a write bumps the entry's tag or one the filters' reads collected (a gallery's
  -- media:ID; a term renamed bumps its entries' tags); those go to the answer too (quire.memo.view).
  local function build_body(e) return quire.filters.apply("view.body", {}, e).html or "" end
  local function body_html(e)
    return memo_view(site, "api-body\0" .. e.id, { "entry:" .. e.id }, build_body, e).value
  end

  -- An entry as the API shows it. want: the fields (nil: all); inc: include= set.
  local function entry_out(e, want, inc)
    local function on(k) return want == nil or want[k] end
    local out = { id = e.id }
    if on("type") then out.type = e.type end
    if on("slug") then out.slug = e.slug end
    if on("title") then out.title = e.title end
    if on("url") then out.url = base() .. (quire.content.url(e) or "") end
    if on("published_at") then out.published_at = date(e.published_at) end
    if on("updated_at") then out.updated_at = date(e.updated_at) end
    if on("section") then out.section = e.section or json.null end
    if on("tags") then out.tags = json.list(e.tags or {}) end
    if on("author_id") then out.author_id = e.author_id or json.null end
    if on("fields") then out.fields = e.fields or {} end
    if on("body_html") then out.body_html = body_html(e) end
    if on("body_markdown") then out.body_markdown = e.body or "" end
    if inc and inc.author then
      local u = e.author_id and quire.users.get(e.author_id)
      out.author = u and author_of(u) or json.null
    end
    if inc and inc.terms then
      local tags = {}
      for i, t in ipairs(e.tags or {}) do tags[i] = term(t, "tag") end
      out.terms = { section = e.section and term(e.section, "section") or json.null, tags = json.list(tags) }
    end
    return out
  end
  api.entry_out = entry_out

  -- An entry's JSON for a shape of answer, kept as its body is (and until a write to its author,
  -- for include=author: the user's memoised row names user:ID): a list of them is then joined,
  -- not built and encoded again on every request.
  local function shape_key(want, inc)
    local parts = {}
    for k in pairs(want or { ["*"] = true }) do parts[#parts + 1] = k end
    for k in pairs(inc or {}) do parts[#parts + 1] = "+" .. k end
    table.sort(parts)
    return table.concat(parts, ",")
  end
  local function entry_json(e, want, inc) return json.encode(entry_out(e, want, inc)) end
  local function entries_json(list, want, inc, meta)
    local key, parts = "api-entry\0" .. shape_key(want, inc) .. "\0", {}
    for i, e in ipairs(list) do
      parts[i] = memo_view(site, key .. e.id, { "entry:" .. e.id }, entry_json, e, want, inc).value
      site.tag("entry:" .. e.id)
    end
    return '{"entries":[' .. table.concat(parts, ",") .. "]" .. (meta and (',"meta":' .. json.encode(meta)) or "") .. "}"
  end

  -- fields= and include= of an entries request; want nil means the default set.
  local function shape(ctx, default)
    local want = csv(ctx, "fields", ENTRY_FIELDS) or default
    local inc = csv(ctx, "include", { "author", "terms" })
    return want, inc
  end

  local function published(id)
    local e = quire.content.get(id)
    if not e or e.status ~= "published" then M.fail(404, "not_found", ("no published entry %d"):format(id)) end
    return e
  end

  local routes = {}
  api.routes = routes
  -- route { method, path, summary, auth = "content"|"admin"|"none", role, query = {PARAM...},
  --   body = schema name, response = schema name, status = 200, handler = fn(ctx) -> value,
  --   form = schema name of a multipart/form-data body, before_auth = fn(ctx) (may set
  --   ctx.cleanup, run once the request is answered) }
  function api.route(r)
    r.status = r.status or 200
    r.query = r.query or {}
    if r.auth == "content" then table.insert(r.query, PARAM.key) end
    r.query_names, r.query_list = {}, {}
    for _, p in ipairs(r.query) do r.query_names[p.name] = true; r.query_list[#r.query_list + 1] = p.name end
    table.sort(r.query_list)
    routes[#routes + 1] = r
    return r
  end

  local function content_routes()
    local C = M.CONTENT
    local list_query = { PARAM.limit, PARAM.cursor, PARAM.fields, PARAM.include, PARAM.type, PARAM.section,
      PARAM.tag, PARAM.author, PARAM.published_after, PARAM.published_before }
    api.route { method = "GET", path = C .. "/entries", auth = "content", response = "EntryList",
      summary = "Published entries, newest first (keyset pages: follow meta.next)", query = list_query,
      handler = function(ctx)
        local limit = M.limit(ctx, 15)
        local want, inc = shape(ctx, LIST_DEFAULT)
        local q = { status = "published", order = "newest", limit = limit + 1 }
        local query = ctx.query
        if query.type then
          if not site.types:get(query.type) then
            M.fail(400, "invalid_parameter", ("type: no content type '%s'"):format(query.type:sub(1, 60)), { allowed = site.types:names() })
          end
          q.type = query.type
        end
        q.tag, q.section, q.author = query.tag, query.section, query.author
        for param, key in pairs({ published_after = "since", published_before = "until" }) do
          if query[param] then
            local norm, err = time.parse(query[param])
            if not norm then M.fail(400, "invalid_parameter", param .. ": " .. err) end
            q[key] = norm
          end
        end
        local at, id = M.cursor_decode(ctx, "^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ),(%d+)$")
        if at then q.after = { published_at = at, id = math.tointeger(tonumber(id)) } end
        local rows = quire.content.query(q)
        local cursor
        if #rows > limit then
          cursor = M.cursor_encode(rows[limit].published_at, rows[limit].id)
          rows[limit + 1] = nil
        end
        ctx.raw_body = entries_json(rows, want, inc, { limit = limit, next = next_link(ctx, cursor), next_cursor = cursor or json.null })
        return true
      end }
    api.route { method = "GET", path = C .. "/entries/{id:int}", auth = "content", response = "EntryOne",
      summary = "A published entry by id", query = { PARAM.fields, PARAM.include },
      handler = function(ctx)
        local want, inc = shape(ctx, nil)
        ctx.raw_body = entries_json({ published(ctx.params.id) }, want, inc)
        return true
      end }
    api.route { method = "GET", path = C .. "/entries/{type}/{slug:slug}", auth = "content", response = "EntryOne",
      summary = "A published entry by type and slug", query = { PARAM.fields, PARAM.include },
      handler = function(ctx)
        local want, inc = shape(ctx, nil)
        local e = site.types:get(ctx.params.type) and quire.content.get { type = ctx.params.type, slug = ctx.params.slug }
        if not e or e.status ~= "published" then M.fail(404, "not_found", "no published entry of that type and slug") end
        ctx.raw_body = entries_json({ e }, want, inc)
        return true
      end }
    api.route { method = "GET", path = C .. "/entries/{id:int}/comments", auth = "content", response = "CommentList",
      summary = "An entry's approved comments, oldest first", query = { PARAM.limit, PARAM.cursor },
      handler = function(ctx)
        local e = published(ctx.params.id)
        local limit = M.limit(ctx, 50)
        local after = M.cursor_decode(ctx, "^c(%d+)$")
        local rows = quire.comments.query { entry = e.id, status = "approved", limit = limit + 1,
          after = after and math.tointeger(tonumber(after)) or nil }
        local out = {}
        for i = 1, math.min(limit, #rows) do
          local c = rows[i]
          out[i] = { id = c.id, parent_id = c.parent_id or json.null, author_name = c.author_name,
            author_url = c.author_url and quire.url.safe(c.author_url, { "http", "https" }) or json.null,
            body_html = quire.html.sanitize(quire.markdown.render(c.body, { untrusted = true }), "comment"),
            created_at = date(c.created_at) }
        end
        local cursor = #rows > limit and M.cursor_encode("c" .. rows[limit].id) or nil
        return { comments = json.list(out), meta = { limit = limit, next = next_link(ctx, cursor), next_cursor = cursor or json.null } }
      end }
    api.route { method = "GET", path = C .. "/entries/{id:int}/related", auth = "content", response = "Related",
      summary = "Entries related to a published entry (the site's related-posts scoring)", query = { PARAM.limit, PARAM.fields, PARAM.include },
      handler = function(ctx)
        published(ctx.params.id)
        local limit = math.min(M.limit(ctx, 5), 64)
        local want, inc = shape(ctx, LIST_DEFAULT)
        local out = {}
        for _, e in ipairs(quire.content.related(ctx.params.id, { limit = limit })) do
          if e.status == "published" then out[#out + 1] = entry_out(e, want, inc) end
        end
        return { entries = json.list(out) }
      end }
    for _, taxonomy in ipairs({ "section", "tag" }) do
      api.route { method = "GET", path = C .. "/" .. taxonomy .. "s", auth = "content", response = "TermList",
        summary = ("The %ss published entries carry, by slug, with their counts"):format(taxonomy), query = { PARAM.limit, PARAM.cursor },
        handler = function(ctx)
          local limit = M.limit(ctx, 100)
          local after = M.cursor_decode(ctx, "^t([a-z0-9%-]*)$")
          local out, last = {}, nil
          for _, t in ipairs(quire.content.terms(taxonomy)) do
            if not after or t.slug > after then
              if #out == limit then last = out[#out].slug break end
              out[#out + 1] = { name = t.name, slug = t.slug, count = t.count, url = base() .. "/" .. taxonomy .. "/" .. t.slug }
            end
          end
          local cursor = last and M.cursor_encode("t" .. last) or nil
          return { terms = json.list(out), meta = { limit = limit, next = next_link(ctx, cursor), next_cursor = cursor or json.null } }
        end }
    end
    -- Authors: users with a published entry. (Staff with none are nobody's business.)
    local AUTHOR_SQL = "SELECT u.id, u.login, u.display_name, u.bio FROM users u WHERE EXISTS"
      .. " (SELECT 1 FROM entries e WHERE e.author_id = u.id AND e.status = 'published')"
    api.route { method = "GET", path = C .. "/authors", auth = "content", response = "AuthorList",
      summary = "Authors of published entries, by slug", query = { PARAM.limit, PARAM.cursor },
      handler = function(ctx)
        local limit = M.limit(ctx, 100)
        local after = M.cursor_decode(ctx, "^a(.+)$") or ""
        site.tag("list:all")
        local rows = db:rows(AUTHOR_SQL .. " AND u.login > ? ORDER BY u.login LIMIT ?", after, limit + 1)
        local out = {}
        for i = 1, math.min(limit, #rows) do out[i] = author_of(rows[i]) end
        local cursor = #rows > limit and M.cursor_encode("a" .. rows[limit].login) or nil
        return { authors = json.list(out), meta = { limit = limit, next = next_link(ctx, cursor), next_cursor = cursor or json.null } }
      end }
    api.route { method = "GET", path = C .. "/authors/{slug}", auth = "content", response = "AuthorOne",
      summary = "An author of published entries by slug",
      handler = function(ctx)
        site.tag("list:all")
        local u = db:row(AUTHOR_SQL .. " AND u.login = ?", ctx.params.slug)
        if not u then M.fail(404, "not_found", "no author with published entries at that slug") end
        return { authors = { author_of(u) } }
      end }
    api.route { method = "GET", path = C .. "/search", auth = "content", response = "SearchResults",
      summary = "Full-text search of published entries (bm25), with snippets", query = { PARAM.q, PARAM.limit, PARAM.cursor, PARAM.type },
      handler = function(ctx)
        local limit = M.limit(ctx, 20)
        local offset = math.tointeger(tonumber(M.cursor_decode(ctx, "^o(%d+)$") or 0))
        if offset > 10000 then M.fail(400, "invalid_cursor", "cursor is past the last page a search gives (10,000 hits)") end
        local t = ctx.query.type
        if t and not site.types:get(t) then
          M.fail(400, "invalid_parameter", ("type: no content type '%s'"):format(t:sub(1, 60)), { allowed = site.types:names() })
        end
        local ok, hits, info = pcall(quire.content.search, ctx.query.q, { limit = limit + 1, offset = offset, status = "published", type = t })
        if not ok then
          if errors.is(hits, "invalid") then M.fail(400, "invalid_parameter", "q " .. ((hits.errors[1] or {}).message or hits.text)) end
          error(hits, 0)
        end
        local out = {}
        for i = 1, math.min(limit, #hits) do
          local h = hits[i]
          out[i] = { id = h.id, type = h.type, slug = h.slug, title = h.title, url = base() .. (quire.content.url(h) or ""),
            published_at = date(h.published_at), score = h.score, snippet = h.snippet }
        end
        local cursor = #hits > limit and offset + limit <= 10000 and M.cursor_encode("o" .. (offset + limit)) or nil
        return { results = json.list(out), meta = { limit = limit, total = info.total, estimated = info.estimated,
          next = next_link(ctx, cursor), next_cursor = cursor or json.null } }
      end }
    -- Where an old URL goes now: a front end that renders from this API answers it the way
    -- quire serve does (an entry's target is its permalink now; a target not public is 404).
    api.route { method = "GET", path = C .. "/redirects", auth = "content", response = "RedirectOne",
      summary = "The redirect from an old path (a WordPress URL, a renamed term, a changed slug or permalink)", query = { PARAM.path },
      handler = function(ctx)
        local target = ctx.query.path
        if #target > 2000 or target:sub(1, 1) ~= "/" or target:find("[%s%c#]") then
          M.fail(400, "invalid_parameter", "path: a path starting with / (at most 2000 bytes, no spaces or #)")
        end
        local path, qs = target:match("^([^?]*)%??(.*)$")
        local status, to = quire.redirects.lookup(path, qs)
        if not status or status == 404 then M.fail(404, "not_found", "no redirect from that path") end
        if to:sub(1, 1) == "/" then to = base() .. to end
        return { redirects = { { from = target, to = to, status = status } } }
      end }
    api.route { method = "GET", path = C .. "/types", auth = "content", response = "TypeList",
      summary = "The site's content types and their fields (plugins' types included)",
      handler = function()
        local out = {}
        for i, name in ipairs(site.types:names()) do out[i] = api.type_info(name) end
        return { types = out }
      end }
  end

  -- A type's fields as JSON Schema (for /types and the OpenAPI document).
  local KIND = { text = { type = "string" }, markdown = { type = "string" }, number = { type = "number" },
    bool = { type = "boolean" }, datetime = DATE, ref = { type = "integer" }, media = { type = "integer" } }
  local function field_schema(f)
    if f.type == "enum" then return { type = "string", enum = f.values } end
    if f.type == "list" then return { type = "array", items = f.item and field_schema(f.item) or {} } end
    local s = {}
    for k, v in pairs(KIND[f.type] or {}) do s[k] = v end
    if f.max and s.type == "string" then s.maxLength = f.max end
    return s
  end
  function api.fields_schema(name)
    local t = site.types:get(name)
    local props, required = {}, {}
    for _, fname in ipairs(t.field_order) do
      local f = t.fields[fname]
      props[fname] = field_schema(f)
      if f.required then required[#required + 1] = fname end
    end
    return { type = "object", properties = props, required = #required > 0 and required or nil }
  end
  function api.type_info(name)
    local t = site.types:get(name)
    return { name = t.name, label = t.label, fields = api.fields_schema(name).properties }
  end

  content_routes()
  -- Plugins' Content API endpoints (site:api_route): the same checks, keys and document. Their
  -- handlers get the parameters and the page helpers, and return plain data.
  for _, pr in ipairs(quire.plugins and quire.plugins.api_routes or {}) do
    local query, schema_name = {}, "Plugin_" .. pr.plugin .. pr.path:gsub("[^%w]+", "_")
    for _, q in ipairs(pr.query or {}) do
      query[#query + 1] = PARAM[q.name] or { name = tostring(q.name), schema = { type = "string" }, description = q.description }
    end
    S[schema_name] = type(pr.response) == "table" and pr.response or { type = "object" }
    api.route { method = "GET", path = M.CONTENT .. pr.path, auth = "content", summary = pr.summary or ("from plugin " .. pr.plugin),
      query = query, response = schema_name,
      handler = function(ctx)
        local ok, value = pcall(pr.handler, { params = ctx.params, query = ctx.query,
          limit = function(default) return M.limit(ctx, default or 15) end,
          cursor = function(pattern) return M.cursor_decode(ctx, pattern) end,
          page = function(cursor) return { limit = M.limit(ctx, 15), next = next_link(ctx, cursor), next_cursor = cursor or json.null } end,
          cursor_encode = M.cursor_encode, entry = function(e) return entry_out(e, LIST_DEFAULT) end,
          fail = function(status, message)
            local e = errors.new("api", tostring(message))
            e.api_status = math.tointeger(status) or 400
            error(e, 0)
          end })
        if ok then return value end
        if errors.is(value) and value.api_status then M.fail(value.api_status, "plugin_error", value.text) end
        error(value, 0)
      end }
  end
  require("quire.api_admin").routes(api, quire, site)

  -- The OpenAPI document, from the routes and schemas above.
  function api.openapi()
    local paths = {}
    for _, r in ipairs(routes) do
      local params = {}
      local oa_path = r.path:gsub("{(%w+):?(%w*)}", function(name, kind)
        params[#params + 1] = { name = name, ["in"] = "path", required = true,
          schema = kind == "int" and { type = "integer", minimum = 1 } or { type = "string" } }
        return "{" .. name .. "}"
      end)
      for _, p in ipairs(r.query) do
        params[#params + 1] = { name = p.name, ["in"] = "query", required = p.required or false, schema = p.schema, description = p.description }
      end
      local op = { summary = r.summary, operationId = (r.method .. oa_path):lower():gsub("[^%w]+", "_"):gsub("_$", ""),
        tags = { r.auth == "admin" and "admin" or "content" }, parameters = json.list(params),
        responses = { [tostring(r.status)] = { description = "OK", content = { ["application/json"] = { schema = ref(r.response) } } },
          default = { description = "An error", content = { ["application/json"] = { schema = ref("Error") } } } } }
      if r.auth == "admin" then op.security = { { admin_token = json.list() } } ; op.description = "Role: " .. (r.role or "contributor") end
      if r.auth == "content" then op.security = settings.content == "open" and { {} } or { { content_key = json.list() } } end
      if r.body then
        op.requestBody = { required = true, content = { ["application/json"] = { schema = ref(r.body) } } }
      elseif r.form then
        op.requestBody = { required = true, content = { ["multipart/form-data"] = { schema = ref(r.form) } } }
      end
      paths[oa_path] = paths[oa_path] or {}
      paths[oa_path][r.method:lower()] = op
    end
    local schemas = {}
    local function clean(s) -- schemas without our `optional` marks, with required lists
      if type(s) ~= "table" then return s end
      local out = {}
      for k, v in pairs(s) do if k ~= "optional" then out[k] = type(v) == "table" and clean(v) or v end end
      if s.properties then
        local req = {}
        for k, v in pairs(s.properties) do if not v.optional then req[#req + 1] = k end end
        table.sort(req)
        out.required = #req > 0 and req or nil
        out.additionalProperties = false
      end
      return out
    end
    for name, s in pairs(S) do schemas[name] = clean(s) end
    for _, name in ipairs(site.types:names()) do schemas["Fields_" .. name] = api.fields_schema(name) end
    local type_names = site.types:names()
    schemas.Entry.properties.type = { type = "string", enum = type_names }
    schemas.EntryListItem.properties.type = { type = "string", enum = type_names }
    return { openapi = "3.1.0",
      info = { title = (quire.site.name or "Quire") .. " API", version = "1" },
      servers = { { url = base() ~= "" and base() or "/" } },
      paths = paths,
      components = { schemas = schemas, securitySchemes = {
        content_key = { type = "apiKey", ["in"] = "query", name = "key" },
        admin_token = { type = "http", scheme = "bearer", bearerFormat = "JWT (HS256, kid = key id, aud = /api/admin/v1/, at most 5 minutes)" } } } }
  end

  -- CORS for a Content API answer: the key's origins (or the open API's).
  local function cors(ctx, origins)
    if origins == nil or origins == "" then return end
    local res = ctx.res
    if origins == "*" then res:header("access-control-allow-origin", "*") return end
    local list = {}
    for o in origins:gmatch("%S+") do list[#list + 1] = o end
    if #list == 1 then
      res:header("access-control-allow-origin", list[1]) -- the same for everyone: cacheable
      return
    end
    -- Several origins: the answer depends on Origin, so quire's cache does not keep it.
    local origin = ctx.req.headers.origin
    res:header("vary", "Origin")
    res:max_age(0)
    for _, o in ipairs(list) do if o == origin then res:header("access-control-allow-origin", o) end end
  end

  -- Turns a route into an app handler: parameters checked, caller authenticated, the answer
  -- JSON (errors too), cache tags collected by the content model as for pages.
  function api.handler(r)
    return function(req, res)
      local ctx = { req = req, res = res, params = req.params, query = req.query, settings = settings, route = r }
      local ok, value = pcall(function()
        local params = {}
        for k, v in pairs(req.params or {}) do params[k] = v end
        for name in r.path:gmatch("{(%w+):int}") do
          params[name] = math.tointeger(tonumber(params[name]))
          if not params[name] or params[name] < 1 then M.fail(404, "not_found", name .. " is not an id this API has") end
        end
        ctx.params = params
        check_query(ctx, r)
        if r.auth == "content" then
          local key = ctx.query.key
          if key then
            ctx.key = keys.content_key(key)
            site.tag("api-keys") -- revoking a key drops what was kept under it
            if not ctx.key then M.fail(401, "invalid_key", "this Content API key is unknown or revoked") end
          elseif settings.content ~= "open" then
            M.fail(401, "key_required", "this site's Content API needs a key: ?key=KEY (quire api-key add NAME --content)")
          end
        elseif r.auth == "admin" then
          if r.before_auth then r.before_auth(ctx) end
          ctx.key, ctx.user = keys.admin_auth(req, r.role, settings)
        end
        return r.handler(ctx)
      end)
      if ctx.cleanup then ctx.cleanup() end
      res:header("content-type", "application/json; charset=utf-8")
      if not ok then
        if not M.is_fail(value) then error(value, 0) end
        local e = value.api
        res.status = e.status
        if e.retry_after then res:header("retry-after", tostring(e.retry_after)) end
        if e.status == 401 then res:header("www-authenticate", r.auth == "admin" and 'Bearer realm="admin"' or 'Key realm="content"') end
        res.private = r.auth == "admin" or nil
        res:write(json.encode({ error = e }))
        return
      end
      res.status = ctx.status or r.status
      if r.auth == "admin" then
        res.private = true -- never kept: it is the caller's
      else
        cors(ctx, ctx.key and ctx.key.cors or settings.cors)
        if res.cache_seconds == nil then res:max_age(settings.max_age) end
      end
      res:write(ctx.raw_body or json.encode(value))
    end
  end

  -- The document itself, and the list of routes for app.lua: { method, pattern, handler }.
  local doc
  function api.mount()
    local out = {}
    for _, r in ipairs(routes) do out[#out + 1] = { method = r.method, pattern = r.path, handler = api.handler(r) } end
    out[#out + 1] = { method = "GET", pattern = "/api/openapi.json", handler = function(_, res)
      doc = doc or json.encode(api.openapi())
      site.tag("openapi") -- changes only with the code: kept until a reload
      res:header("content-type", "application/json; charset=utf-8")
      res:header("access-control-allow-origin", "*")
      res:write(doc)
    end }
    return out
  end

  return api
end

return M
