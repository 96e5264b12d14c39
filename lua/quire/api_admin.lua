-- The Admin API's routes (/api/admin/v1/), added to quire.api's route table: entries (any
-- status) created, updated (with the revision read: a stale one is 409), trashed, moved through
-- the workflow and restored; comments moderated; users listed. Every write goes through
-- quire.content, quire.workflow and quire.comments as the CLI's do (validation, hooks, workflow
-- rules, revisions, audit log), acting as the key's user. Request bodies are checked before
-- anything is written: JSON only, UTF-8, bounded depth, size and numbers, then the route's
-- schema, every field error at once.
local cjson = require "cjson"
local core = require "quire.core"
local json = require "quire.json"
local errors = require "quire.errors"

local M = {}

M.MAX_DEPTH = 16        -- nesting of a request body
M.MAX_NODES = 20000     -- values in a request body
M.MAX_INTEGER = 2 ^ 53  -- larger numbers lose precision in JSON clients: refused
M.IDEMPOTENCY_TTL = 86400

local decoder = cjson.new()
decoder.decode_max_depth(M.MAX_DEPTH)
decoder.decode_invalid_numbers(false) -- NaN, Infinity, hex: not JSON

local RANK = require("quire.workflow").ROLE_RANK

function M.routes(api, quire, site)
  local S, fail, A = require("quire.api").schemas, require("quire.api").fail, require("quire.api").ADMIN
  local PARAM = require("quire.api").PARAM
  local db = site.db

  local function nullable(t) return { type = { t, "null" } } end
  local DATE = { type = "string", format = "date-time" }
  S.AdminEntry = { type = "object", properties = {
    id = { type = "integer" }, type = { type = "string" }, slug = { type = "string" }, title = { type = "string" },
    status = { type = "string" }, revision = nullable("integer"), url = nullable("string"),
    published_at = { type = { "string", "null" }, format = "date-time" }, created_at = DATE, updated_at = DATE,
    section = nullable("string"), tags = { type = "array", items = { type = "string" } }, author_id = nullable("integer"),
    fields = { type = "object" }, body_markdown = { type = "string" } } }
  S.AdminEntryOne = { type = "object", properties = { entries = { type = "array", items = { ["$ref"] = "#/components/schemas/AdminEntry" } } } }
  S.AdminEntryList = { type = "object", properties = { entries = { type = "array", items = { ["$ref"] = "#/components/schemas/AdminEntry" } },
    meta = { type = "object", properties = { limit = { type = "integer" }, next = nullable("string"), next_cursor = nullable("string") } } } }
  local ENTRY_WRITE = {
    title = { type = "string" }, body = { type = "string", description = "Markdown" }, slug = { type = "string" },
    status = { type = "string", description = "editors and admins only; others use transitions" },
    published_at = { type = { "string", "null" }, format = "date-time" }, section = nullable("string"),
    tags = { type = "array", items = { type = "string" } }, fields = { type = "object" },
    author = { type = { "string", "integer" }, description = "login or id; editors and admins only" },
  }
  S.EntryCreate = { type = "object", properties = { type = { type = "string" } } }
  S.EntryUpdate = { type = "object", properties = { base_revision = { type = "integer", optional = true,
    description = "the revision the changes were made from (entry.revision): a stale one is refused with 409" } } }
  for k, v in pairs(ENTRY_WRITE) do
    local c, u = {}, {}
    for pk, pv in pairs(v) do c[pk], u[pk] = pv, pv end
    c.optional = k ~= "title" or nil
    u.optional = true
    S.EntryCreate.properties[k], S.EntryUpdate.properties[k] = c, u
  end
  S.Transition = { type = "object", properties = { transition = { type = "string" },
    published_at = { type = "string", format = "date-time", optional = true, description = "e.g. for schedule" } } }
  S.Restore = { type = "object", properties = { revision = { type = "integer" } } }
  S.Deleted = { type = "object", properties = { id = { type = "integer" }, status = { type = "string" } } }
  S.AdminComment = { type = "object", properties = { id = { type = "integer" }, entry_id = { type = "integer" },
    parent_id = nullable("integer"), author_name = { type = "string" }, author_url = nullable("string"),
    body = { type = "string" }, status = { type = "string" }, created_at = DATE } }
  S.AdminCommentOne = { type = "object", properties = { comments = { type = "array", items = { ["$ref"] = "#/components/schemas/AdminComment" } } } }
  S.AdminCommentList = { type = "object", properties = { comments = { type = "array", items = { ["$ref"] = "#/components/schemas/AdminComment" } },
    meta = { type = "object", properties = { limit = { type = "integer" }, next = nullable("string"), next_cursor = nullable("string") } } } }
  S.CommentModerate = { type = "object", properties = { status = { type = "string", enum = { "held", "approved", "spam", "trash" } } } }
  S.User = { type = "object", properties = { id = { type = "integer" }, login = { type = "string" }, name = { type = "string" },
    role = { type = "string" }, bio = nullable("string"), created_at = DATE } }
  S.UserList = { type = "object", properties = { users = { type = "array", items = { ["$ref"] = "#/components/schemas/User" } } } }

  -- The request body as a Lua value, or 400 naming what is wrong.
  local function parse_body(ctx)
    local req = ctx.req
    local ctype = (req.headers["content-type"] or ""):lower()
    if not ctype:match("^application/json%s*;?") then
      fail(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    end
    local body = req.body or ""
    if not core.utf8_valid(body) then fail(400, "invalid_json", "the body is not valid UTF-8") end
    local ok, v = pcall(decoder.decode, body)
    if not ok then
      local why = tostring(v):gsub("^.-: ", "")
      if why:find("too many nested") or why:find("depth") then why = ("it is nested deeper than %d levels"):format(M.MAX_DEPTH) end
      fail(400, "invalid_json", "the body is not JSON: " .. why)
    end
    if type(v) ~= "table" or v == cjson.null or (next(v) ~= nil and v[1] ~= nil) then fail(400, "invalid_json", "the body must be a JSON object") end
    -- Numbers: whole ones become integers; huge, fractional-where-whole and non-finite ones are refused.
    local nodes = 0
    local function walk(t, path)
      for k, x in pairs(t) do
        nodes = nodes + 1
        if nodes > M.MAX_NODES then fail(400, "invalid_json", ("the body has more than %d values"):format(M.MAX_NODES)) end
        local here = path and (math.type(k) == "integer" and ("%s[%d]"):format(path, k - 1) or (path .. "." .. k)) or tostring(k)
        if type(x) == "number" then
          if x ~= x or x == math.huge or x == -math.huge or math.abs(x) > M.MAX_INTEGER then
            fail(400, "invalid_json", ("%s: the number is too large (at most 2^53 in size)"):format(here), { errors = { { field = here, message = "is too large" } } })
          end
          t[k] = math.tointeger(x) or x
        elseif type(x) == "table" and x ~= cjson.null then
          walk(x, here)
        end
      end
    end
    walk(v, nil)
    return v
  end

  -- Checks value against a schema of ours; adds { field, message } to errs.
  local function check(schema, v, path, errs)
    if schema["$ref"] then schema = S[schema["$ref"]:match("[^/]+$")] end
    local want = schema.type
    local function is(t)
      if t == "null" then return v == cjson.null end
      if t == "string" then return type(v) == "string" end
      if t == "integer" then return math.type(v) == "integer" end
      if t == "number" then return type(v) == "number" end
      if t == "boolean" then return type(v) == "boolean" end
      if t == "array" then return type(v) == "table" and v ~= cjson.null and (next(v) == nil or v[1] ~= nil) end
      if t == "object" then return type(v) == "table" and v ~= cjson.null and (next(v) == nil or v[1] == nil) end
      return true
    end
    local list = type(want) == "table" and want or { want }
    local okt = want == nil
    for _, t in ipairs(list) do if is(t) then okt = true end end
    if not okt then
      local got = v == cjson.null and "null" or math.type(v) == "float" and "a fraction" or type(v) == "table" and (v[1] ~= nil and "an array" or "an object") or type(v)
      errs[#errs + 1] = { field = path, message = ("must be %s, got %s"):format(table.concat(list, " or "), got) }
      return
    end
    if schema.enum and type(v) == "string" then
      local found = false
      for _, e in ipairs(schema.enum) do if e == v then found = true end end
      if not found then errs[#errs + 1] = { field = path, message = "must be one of " .. table.concat(schema.enum, ", ") } end
    end
    if schema.properties and type(v) == "table" then
      for k in pairs(v) do
        if not schema.properties[k] then errs[#errs + 1] = { field = path and (path .. "." .. tostring(k)) or tostring(k), message = "is not a field here" } end
      end
      for k, p in pairs(schema.properties) do
        local here = path and (path .. "." .. k) or k
        if v[k] == nil then
          if not p.optional then errs[#errs + 1] = { field = here, message = "is required" } end
        else
          check(p, v[k], here, errs)
        end
      end
    elseif schema.items and type(v) == "table" then
      if #v > 1000 then errs[#errs + 1] = { field = path, message = "has more than 1000 items" } return end
      for i, x in ipairs(v) do check(schema.items, x, ("%s[%d]"):format(path, i - 1), errs) end
    end
  end

  local function body_of(ctx, schema_name)
    local v = parse_body(ctx)
    local errs = {}
    check(S[schema_name], v, nil, errs)
    if #errs > 0 then
      table.sort(errs, function(a, b) return a.field < b.field end)
      fail(400, "invalid", "the body does not fit " .. schema_name, { errors = errs })
    end
    return v
  end

  -- JSON values as quire.content takes them: null section clears it, null fields are removed.
  local function changes_of(v)
    local c = {}
    for k, x in pairs(v) do
      if k ~= "base_revision" then
        if x == cjson.null then x = (k == "section") and false or nil end
        c[k] = x
      end
    end
    if c.published_at == nil and v.published_at == cjson.null then c.published_at = nil end
    return c
  end

  -- Runs fn as the key's user; model errors become answers: invalid 400 (every field error),
  -- not_found 404, conflict 409 with the current revision.
  local function acting(ctx, fn, ...)
    local ok, res = pcall(site.acting, { id = ctx.user.id, name = ctx.user.login }, fn, ...)
    if ok then return res end
    if require("quire.api").is_fail(res) then error(res, 0) end
    if errors.is(res, "invalid") then fail(400, "invalid", res.text, { errors = #res.errors > 0 and res.errors or nil }) end
    if errors.is(res, "not_found") then fail(404, "not_found", res.text) end
    if errors.is(res, "conflict") then
      local cur = quire.content.get(ctx.params.id)
      fail(409, "conflict", res.text, { errors = res.errors, current_revision = cur and cur.revision })
    end
    error(res, 0)
  end

  local function entry_admin(e)
    return { id = e.id, type = e.type, slug = e.slug, title = e.title, status = e.status, revision = e.revision or json.null,
      url = e.status == "published" and ((quire.site.base_url or ""):gsub("/+$", "") .. (quire.content.url(e) or "")) or json.null,
      published_at = e.published_at or json.null, created_at = e.created_at, updated_at = e.updated_at,
      section = e.section or json.null, tags = json.list(e.tags or {}), author_id = e.author_id or json.null,
      fields = e.fields or {}, body_markdown = e.body or "" }
  end
  local function get_entry(id)
    local e = quire.content.get(id)
    if not e then fail(404, "not_found", ("no entry %d"):format(id)) end
    return e
  end
  local function editor(ctx) return RANK[ctx.user.role] >= RANK.editor end
  -- Below editor a key reads and moves only its own entries, as the web admin allows: another
  -- writer's draft or embargoed story is not a contributor's to read or submit.
  local function own_entry(ctx, e)
    if not editor(ctx) and e.author_id ~= ctx.user.id then
      fail(403, "forbidden", ("entry %d is not %s's, and a %s reads and changes only their own"):format(e.id, ctx.user.login, ctx.user.role))
    end
    return e
  end
  -- Below editor: only one's own entries, no status or author changes (the workflow's
  -- transitions decide who moves an entry), only drafts and entries in review for contributors.
  local function own_rules(ctx, v, e)
    if editor(ctx) then return end
    local errs = {}
    if v.status ~= nil and not (e == nil and v.status == "draft") then
      errs[#errs + 1] = { field = "status", message = ("a %s changes status through a transition (POST .../transition)"):format(ctx.user.role) }
    end
    if v.author ~= nil and v.author ~= ctx.user.id and v.author ~= ctx.user.login then
      errs[#errs + 1] = { field = "author", message = ("a %s writes only as themself"):format(ctx.user.role) }
    end
    if #errs > 0 then fail(403, "forbidden", "this key's role may not set these fields", { errors = errs }) end
    if e and e.author_id ~= ctx.user.id then fail(403, "forbidden", ("entry %d is not %s's, and a %s edits only their own"):format(e.id, ctx.user.login, ctx.user.role)) end
    -- As in the web admin: once an editor has scheduled (or published) it, a contributor's
    -- change would go out unreviewed.
    if e and ctx.user.role == "contributor" and e.status ~= "draft" and e.status ~= "review" then
      fail(403, "forbidden", ("entry %d is %s; a contributor edits only drafts and entries in review"):format(e.id, e.status))
    end
  end

  -- POST with Idempotency-Key: the answer is stored with the change, in one transaction, and
  -- a retry with the same key and body gets it again; the same key with another body is 422.
  local function idempotent(ctx, fn)
    local idem = ctx.req.headers["idempotency-key"]
    if idem == nil then return fn() end
    if #idem < 1 or #idem > 255 or idem:find("[^\33-\126]") then
      fail(400, "invalid_header", "Idempotency-Key is 1-255 visible ASCII characters (a UUID will do)")
    end
    local hash = core.hmac_sha256("idempotency", ctx.req.method .. " " .. ctx.req.path .. "\0" .. (ctx.req.body or ""))
      :gsub(".", function(c) return ("%02x"):format(c:byte()) end)
    local function replay(row)
      if row.request_hash ~= hash then
        fail(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
      end
      ctx.res:header("idempotent-replayed", "true")
      ctx.status = row.status
      ctx.raw_body = row.body -- the bytes answered the first time
      return true
    end
    local out, replayed = site.transaction(function()
      local row = db:row("SELECT request_hash, status, body FROM api_idempotency WHERE who = ? AND idem_key = ?", ctx.key.who, idem)
      if row then return row, true end
      local value = fn()
      db:exec("DELETE FROM api_idempotency WHERE created_at < ?", require("quire.time").format(os.time() - M.IDEMPOTENCY_TTL))
      db:exec("INSERT INTO api_idempotency (who, idem_key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        ctx.key.who, idem, hash, ctx.status or 201, json.encode(value), require("quire.time").now())
      return value, false
    end)
    if replayed then return replay(out) end
    return out
  end

  local function route(r)
    r.auth = "admin"
    r.role = r.role or "contributor"
    return api.route(r)
  end

  route { method = "GET", path = A .. "/entries", response = "AdminEntryList", summary = "Entries of any status but the trash, by id (below editor, only one's own)",
    query = { PARAM.limit, PARAM.cursor, PARAM.status, PARAM.type },
    handler = function(ctx)
      local limit = require("quire.api").limit(ctx, 50)
      local after = require("quire.api").cursor_decode(ctx, "^i(%d+)$")
      local q = { order = "id", limit = limit + 1, after = after and math.tointeger(tonumber(after)) or nil }
      local status = ctx.query.status
      if status then
        if status ~= "trash" and not site.workflow.known_state(status) then
          fail(400, "invalid_parameter", "status: no state " .. status:sub(1, 40), { allowed = quire.workflow.states() })
        end
        q.status = status
      end
      if ctx.query.type then
        if not site.types:get(ctx.query.type) then fail(400, "invalid_parameter", "type: no content type " .. ctx.query.type:sub(1, 40), { allowed = site.types:names() }) end
        q.type = ctx.query.type
      end
      if not editor(ctx) then q.author = ctx.user.id end
      local rows = quire.content.query(q)
      local out = {}
      for i = 1, math.min(limit, #rows) do out[i] = entry_admin(rows[i]) end
      local cursor = #rows > limit and require("quire.api").cursor_encode("i" .. rows[limit].id) or nil
      return { entries = json.list(out), meta = { limit = limit, next = require("quire.api").next_link(ctx, cursor), next_cursor = cursor or json.null } }
    end }
  route { method = "GET", path = A .. "/entries/{id:int}", response = "AdminEntryOne", summary = "An entry of any status, with its revision",
    handler = function(ctx) return { entries = { entry_admin(own_entry(ctx, get_entry(ctx.params.id))) } } end }
  route { method = "POST", path = A .. "/entries", body = "EntryCreate", response = "AdminEntryOne", status = 201,
    summary = "Creates an entry (Idempotency-Key: a retry creates nothing more)",
    handler = function(ctx)
      local v = body_of(ctx, "EntryCreate")
      own_rules(ctx, v, nil)
      return idempotent(ctx, function()
        local spec = changes_of(v)
        if spec.author == nil then spec.author = ctx.user.id end
        local id = acting(ctx, quire.content.create, spec)
        ctx.status = 201
        ctx.res:header("location", A .. "/entries/" .. id)
        return { entries = { entry_admin(quire.content.get(id)) } }
      end)
    end }
  route { method = "PATCH", path = A .. "/entries/{id:int}", body = "EntryUpdate", response = "AdminEntryOne",
    summary = "Updates an entry; with base_revision a stale write is refused (409, the current revision)",
    handler = function(ctx)
      local v = body_of(ctx, "EntryUpdate")
      local e = get_entry(ctx.params.id)
      own_rules(ctx, v, e)
      acting(ctx, quire.content.update, e.id, changes_of(v), v.base_revision and { base_revision = v.base_revision } or nil)
      return { entries = { entry_admin(quire.content.get(e.id)) } }
    end }
  route { method = "DELETE", path = A .. "/entries/{id:int}", response = "Deleted", role = "editor",
    summary = "Moves an entry to the trash", handler = function(ctx)
      get_entry(ctx.params.id)
      acting(ctx, quire.content.trash, ctx.params.id)
      return { id = ctx.params.id, status = "trash" }
    end }
  route { method = "POST", path = A .. "/entries/{id:int}/transition", body = "Transition", response = "AdminEntryOne",
    summary = "Takes a workflow transition (publish, schedule, ...): the transition's role and checks apply",
    handler = function(ctx)
      local v = body_of(ctx, "Transition")
      own_entry(ctx, get_entry(ctx.params.id))
      acting(ctx, quire.workflow.apply, ctx.params.id, v.transition, ctx.user.id, v.published_at and { published_at = v.published_at } or nil)
      return { entries = { entry_admin(quire.content.get(ctx.params.id)) } }
    end }
  route { method = "POST", path = A .. "/entries/{id:int}/restore", body = "Restore", response = "AdminEntryOne", role = "editor",
    summary = "Brings an entry back to an earlier revision (itself a new revision)",
    handler = function(ctx)
      local v = body_of(ctx, "Restore")
      get_entry(ctx.params.id)
      acting(ctx, quire.content.restore, ctx.params.id, v.revision)
      return { entries = { entry_admin(quire.content.get(ctx.params.id)) } }
    end }
  local function comment_admin(c)
    return { id = c.id, entry_id = c.entry_id, parent_id = c.parent_id or json.null, author_name = c.author_name,
      author_url = c.author_url or json.null, body = c.body, status = c.status, created_at = c.created_at }
  end
  route { method = "GET", path = A .. "/comments", response = "AdminCommentList", role = "editor",
    summary = "Comments by id (status=held for the moderation queue); never their emails",
    query = { PARAM.limit, PARAM.cursor, PARAM.status },
    handler = function(ctx)
      local limit = require("quire.api").limit(ctx, 50)
      local after = require("quire.api").cursor_decode(ctx, "^c(%d+)$")
      local status = ctx.query.status
      if status and not ({ held = true, approved = true, spam = true, trash = true })[status] then
        fail(400, "invalid_parameter", "status: held, approved, spam or trash", { allowed = { "approved", "held", "spam", "trash" } })
      end
      local rows = quire.comments.query { status = status, limit = limit + 1, after = after and math.tointeger(tonumber(after)) or nil }
      local out = {}
      for i = 1, math.min(limit, #rows) do out[i] = comment_admin(rows[i]) end
      local cursor = #rows > limit and require("quire.api").cursor_encode("c" .. rows[limit].id) or nil
      return { comments = json.list(out), meta = { limit = limit, next = require("quire.api").next_link(ctx, cursor), next_cursor = cursor or json.null } }
    end }
  route { method = "PATCH", path = A .. "/comments/{id:int}", body = "CommentModerate", response = "AdminCommentOne", role = "editor",
    summary = "Moderates a comment: approved, held, spam or trash",
    handler = function(ctx)
      local v = body_of(ctx, "CommentModerate")
      acting(ctx, quire.comments.set_status, ctx.params.id, v.status)
      local c = quire.comments.query { after = ctx.params.id - 1, limit = 1 }[1]
      return { comments = { comment_admin(c) } }
    end }
  -- Redirects: the same table and rules as `quire redirects` (a source kept as typed in its
  -- normal form, targets a path, an http(s) URL or an entry).
  S.AdminRedirect = { type = "object", properties = { id = { type = "integer" }, from = { type = "string" },
    to = nullable("string"), entry = nullable("integer"), status = { type = "integer", enum = { 301, 302, 308 } },
    source = { type = "string" }, created_at = DATE } }
  S.AdminRedirectOne = { type = "object", properties = { redirects = { type = "array", items = { ["$ref"] = "#/components/schemas/AdminRedirect" } } } }
  S.AdminRedirectList = { type = "object", properties = { redirects = { type = "array", items = { ["$ref"] = "#/components/schemas/AdminRedirect" } },
    meta = { type = "object", properties = { limit = { type = "integer" }, next = nullable("string"), next_cursor = nullable("string") } } } }
  S.RedirectCreate = { type = "object", properties = { from = { type = "string" },
    to = { type = "string", optional = true, description = "a path or http(s) URL (or give entry)" },
    entry = { type = "integer", optional = true, description = "an entry id: the redirect follows its permalink" },
    status = { type = "integer", optional = true, enum = { 301, 302, 308 } },
    replace = { type = "boolean", optional = true, description = "replace an existing redirect from the same path" } } }
  local function redirect_admin(r)
    return { id = r.id, from = r.from_path, to = r.to_path or json.null, entry = r.to_entry or json.null,
      status = r.status, source = r.source, created_at = r.created_at }
  end
  local function redirect_by_id(id)
    return db:row("SELECT id, from_path, to_path, to_entry, status, source, created_at FROM redirects WHERE id = ?", id)
  end
  route { method = "GET", path = A .. "/redirects", response = "AdminRedirectList", role = "editor",
    summary = "Redirects by source path", query = { PARAM.limit, PARAM.cursor },
    handler = function(ctx)
      local limit = require("quire.api").limit(ctx, 50)
      local after = require("quire.api").cursor_decode(ctx, "^r(/.*)$")
      local rows = quire.redirects.list { after = after, limit = limit + 1 }
      local out = {}
      for i = 1, math.min(limit, #rows) do out[i] = redirect_admin(rows[i]) end
      local cursor = #rows > limit and require("quire.api").cursor_encode("r" .. rows[limit].from_path) or nil
      return { redirects = json.list(out), meta = { limit = limit, next = require("quire.api").next_link(ctx, cursor), next_cursor = cursor or json.null } }
    end }
  route { method = "POST", path = A .. "/redirects", body = "RedirectCreate", response = "AdminRedirectOne", role = "editor", status = 201,
    summary = "Adds a redirect (409 when the path already redirects, unless replace is true)",
    handler = function(ctx)
      local v = body_of(ctx, "RedirectCreate")
      if (v.to == nil) == (v.entry == nil) then
        fail(400, "invalid", "give either to (a path or URL) or entry (an id)", { errors = { { field = "to", message = "give to or entry, not both or neither" } } })
      end
      local ok, id = pcall(site.acting, { id = ctx.user.id, name = ctx.user.login }, quire.redirects.add,
        { from = v.from, to = v.to, entry = v.entry, status = v.status, replace = v.replace == true })
      if not ok then
        if errors.is(id, "invalid") then
          fail(id.text:find("already redirects", 1, true) and 409 or 400, "invalid", id.text)
        end
        error(id, 0)
      end
      return { redirects = { redirect_admin(redirect_by_id(id)) } }
    end }
  route { method = "DELETE", path = A .. "/redirects/{id:int}", response = "Deleted", role = "editor",
    summary = "Removes a redirect",
    handler = function(ctx)
      if not redirect_by_id(ctx.params.id) then fail(404, "not_found", "no redirect with that id") end
      acting(ctx, quire.redirects.delete, ctx.params.id)
      return { id = ctx.params.id, status = "deleted" }
    end }
  -- The front pages' slots and banner (lua/quire/front.lua), for editors.
  require("quire.front").admin_routes { route = route, acting = acting, body_of = body_of, schemas = S, prefix = A, quire = quire }
  route { method = "GET", path = A .. "/users", response = "UserList", role = "editor", summary = "Staff and authors (never their emails)",
    handler = function()
      local out = {}
      for i, u in ipairs(quire.users.list()) do
        out[i] = { id = u.id, login = u.login, name = u.display_name or u.login, role = u.role, bio = u.bio or json.null, created_at = u.created_at }
      end
      return { users = json.list(out) }
    end }
  require("quire.media").routes(api, quire, site, body_of)
end

return M
