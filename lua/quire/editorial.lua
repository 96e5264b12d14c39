-- WP-CLI-like editorial commands: quire entries | terms | comments ... (registered by cli.lua).
local cjson = require "cjson"
local core = require "quire.core"
local diff = require "quire.diff"

local M = { commands = {}, help = {} }

local qjson = require "quire.json"

-- JSON output: keys sorted (stable output), and list-valued columns as [] when empty (a table
-- alone cannot say whether it is an empty list or an empty object).
local LIST_KEYS = { tags = true }
local function to_json(v)
  local rows = v[1] ~= nil and v or { v }
  for _, r in ipairs(rows) do
    for k in pairs(LIST_KEYS) do
      if type(r[k]) == "table" and next(r[k]) == nil then r[k] = qjson.list() end
    end
  end
  if next(v) == nil then v = qjson.list() end
  return qjson.encode(v)
end

local function fail(code, fmt, ...)
  io.stderr:write("quire: ", fmt:format(...), "\n")
  return code
end

-- A value that must be one of names (a typo would list nothing, or everything): nil when it is,
-- else the message naming them.
local function not_one_of(flag, value, names)
  local sorted, seen = {}, {}
  for _, n in ipairs(names) do
    if n == value then return nil end
    if not seen[n] then seen[n] = true; sorted[#sorted + 1] = n end
  end
  table.sort(sorted)
  return ("unknown %s %s (one of: %s)"):format(flag, value, table.concat(sorted, ", "))
end

-- Output in the format asked for: table (aligned columns), json (one array), csv, ids.
-- rows: a list, or a function returning the next list of rows (nil or empty at the end), so a
-- long listing is written as it is read, in constant memory; a table's columns are then as wide
-- as the first list needs.
local function output(rows, columns, format)
  format = format or "table"
  local next_rows = rows
  if type(rows) == "table" then
    local done = false
    next_rows = function()
      if done then return nil end
      done = true
      return rows
    end
  end
  local out = io.stdout
  if format == "json" then
    local n = 0
    for page in next_rows do
      if #page == 0 then break end
      for _, r in ipairs(page) do
        out:write(n == 0 and "[" or ",", to_json(r))
        n = n + 1
      end
    end
    out:write(n == 0 and "[]" or "]", "\n")
  elseif format == "ids" then
    local n = 0
    for page in next_rows do
      if #page == 0 then break end
      for _, r in ipairs(page) do
        out:write(n == 0 and "" or " ", tostring(r.id))
        n = n + 1
      end
    end
    out:write("\n")
  elseif format == "csv" then
    local function cell(v)
      v = v == nil and "" or (type(v) == "table" and table.concat(v, ";") or tostring(v))
      if v:find('[,"\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
      return v
    end
    print(table.concat(columns, ","))
    for page in next_rows do
      if #page == 0 then break end
      for _, r in ipairs(page) do
        local cells = {}
        for i, c in ipairs(columns) do cells[i] = cell(r[c]) end
        print(table.concat(cells, ","))
      end
    end
  elseif format == "table" then
    local widths
    for page in next_rows do
      if #page == 0 and widths then break end
      local text = {}
      for j, r in ipairs(page) do
        text[j] = {}
        for i, c in ipairs(columns) do
          local v = r[c]
          v = v == nil and "" or (type(v) == "table" and table.concat(v, ", ") or tostring(v))
          v = v:gsub("[\r\n]+", " ")
          if utf8.len(v) and utf8.len(v) > 60 then v = v:sub(1, utf8.offset(v, 58) - 1) .. "..." end
          text[j][i] = v
        end
      end
      local function line(cells)
        local parts = {}
        for i, v in ipairs(cells) do parts[i] = v .. (" "):rep(math.max(0, widths[i] - (utf8.len(v) or #v))) end
        print((table.concat(parts, "  "):gsub("%s+$", "")))
      end
      if not widths then
        widths = {}
        for i, c in ipairs(columns) do widths[i] = utf8.len(c) end
        for _, t in ipairs(text) do
          for i, v in ipairs(t) do widths[i] = math.max(widths[i], utf8.len(v) or #v) end
        end
        line(columns)
      end
      for _, t in ipairs(text) do line(t) end
      if #page == 0 then break end
    end
  else
    return fail(2, "unknown --format %s (table, json, csv or ids)", format)
  end
  return 0
end

local ENTRY_COLUMNS = { "id", "type", "status", "slug", "title", "section", "tags", "published_at" }
local FORMAT_OPTS = { format = "value" }

-- Sub-commands share a shape: run(quire, opts, args) -> exit status.
local entries = {}

entries.list = {
  usage = "list [--type T] [--status S] [--tag T] [--section S] [--author A] [--limit N] [--format table|json|csv|ids]",
  opts = { type = "value", status = "value", tag = "value", section = "value", author = "value", limit = "value", format = "value" },
  run = function(quire, opts)
    local q = { type = opts.type, status = opts.status, tag = opts.tag, section = opts.section,
      author = math.tointeger(tonumber(opts.author)) or opts.author, -- an id or a login
      limit = tonumber(opts.limit or 10000), order = "id" }
    local max = tonumber(opts.limit)
    if opts.limit and (not max or max < 1 or max ~= math.floor(max)) then return fail(2, "--limit must be a positive whole number") end
    -- Known: what the plugins define, and what entries have (a state whose plugin is gone).
    local states = quire.workflow.states()
    states[#states + 1] = "trash"
    for _, r in ipairs(quire.store.query("SELECT status FROM entry_counts WHERE n > 0")) do states[#states + 1] = r.status end
    local types = quire.content.types()
    if opts.type and quire.store.query("SELECT 1 FROM entries WHERE type = ? LIMIT 1", opts.type)[1] then types = { opts.type } end
    local bad = (opts.status and not_one_of("--status", opts.status, states))
      or (opts.type and not_one_of("--type", opts.type, types))
    if bad then return fail(2, "%s", bad) end
    for _, taxonomy in ipairs({ "tag", "section" }) do
      local name = opts[taxonomy]
      if name and not quire.store.query("SELECT 1 FROM terms WHERE taxonomy = ? AND slug = ? LIMIT 1", taxonomy, core.slugify(name))[1] then
        return fail(1, "no %s %s (quire terms list --taxonomy %s lists them)", taxonomy, name, taxonomy)
      end
    end
    if opts.author and not quire.users.get(math.tointeger(tonumber(opts.author)) or opts.author) then
      return fail(1, "no user %s (quire user list lists them)", opts.author)
    end
    -- Written page by page as read, 1000 at a time: constant memory at any size.
    local listed, after, done = 0, nil, false
    local function next_page()
      if done then return nil end
      q.after = after
      q.limit = math.min(1000, (max or math.huge) - listed)
      local page = quire.content.query(q)
      listed = listed + #page
      after = page[#page] and page[#page].id
      done = #page < q.limit or (max ~= nil and listed >= max)
      return page
    end
    return output(next_page, ENTRY_COLUMNS, opts.format)
  end,
}

entries.get = {
  usage = "get ID [--format json|table]",
  opts = FORMAT_OPTS, args = 1, ids = { "entry" },
  run = function(quire, opts, args)
    local e = quire.content.get(tonumber(args[1]) or -1)
    if not e then return fail(1, "no entry %s", args[1]) end
    if (opts.format or "json") == "json" then print(to_json(e)) return 0 end
    return output({ e }, { "id", "type", "status", "slug", "title", "section", "tags", "published_at", "updated_at", "revision" }, opts.format)
  end,
}

-- Entry attributes from --flags: --title, --body (or --body-file), --status, --slug, --tags a,b ...
local ATTR_OPTS = { type = "value", title = "value", body = "value", ["body-file"] = "value", status = "value",
  slug = "value", tags = "value", section = "value", author = "value", ["published-at"] = "value", fields = "value" }
local function attributes(opts)
  local a = { type = opts.type, title = opts.title, body = opts.body, status = opts.status, slug = opts.slug,
    section = opts.section, author = opts.author, published_at = opts["published-at"] }
  if opts["body-file"] then
    local f, err = io.open(opts["body-file"], "r")
    if not f then error(err, 0) end
    a.body = f:read("a")
    f:close()
  end
  if opts.tags then
    a.tags = {}
    for t in opts.tags:gmatch("[^,]+") do a.tags[#a.tags + 1] = core.trim(t) end
  end
  if opts.fields then
    local ok, f = pcall(cjson.decode, opts.fields)
    if not ok or type(f) ~= "table" then error("--fields takes a JSON object", 0) end
    a.fields = f
  end
  return a
end

entries.create = {
  usage = "create --type T --title TITLE [--body TEXT | --body-file F] [--status S] [--tags a,b] [--section S] [--author LOGIN] [--fields JSON]",
  opts = ATTR_OPTS,
  run = function(quire, opts)
    local id = quire.content.create(attributes(opts))
    print(id)
    return 0
  end,
}

local UPDATE_OPTS = { ["base-revision"] = "value" }
for k, v in pairs(ATTR_OPTS) do UPDATE_OPTS[k] = v end
entries.update = {
  usage = "update ID [--title ...] [--body ... | --body-file F] [--status S] [--tags a,b] [--section S] [--author LOGIN] [--fields JSON]"
    .. " [--base-revision N]   (refused if the entry's revision is no longer N: `entries get ID` shows it)",
  opts = UPDATE_OPTS, args = 1, ids = { "entry" },
  run = function(quire, opts, args)
    local base
    if opts["base-revision"] then
      base = math.tointeger(tonumber(opts["base-revision"]))
      if not base then return fail(2, "update: --base-revision takes a revision id (a number; `quire entries get ID` shows it)") end
    end
    opts["base-revision"] = nil
    local changes = attributes(opts)
    changes.type = nil
    if next(changes) == nil then return fail(2, "update: nothing to change") end
    quire.content.update(tonumber(args[1]) or -1, changes, base and { base_revision = base } or nil)
    return 0
  end,
}

entries.publish = {
  usage = "publish ID [--at DATE]",
  opts = { at = "value" }, args = 1, ids = { "entry" },
  run = function(quire, opts, args)
    quire.content.update(tonumber(args[1]) or -1, { status = opts.at and "scheduled" or "published", published_at = opts.at })
    return 0
  end,
}

-- Asks on a terminal; elsewhere --yes is the answer. Returns true to go on.
local function confirmed(opts, question, refusal)
  if opts.yes then return true end
  if not core.isatty(0) then
    io.stderr:write("quire: ", refusal, ": add --yes to confirm\n")
    return false
  end
  io.stderr:write(question, " [y/N] ")
  local answer = io.stdin:read("l")
  if answer and answer:match("^[yY]") then return true end
  io.stderr:write("quire: nothing deleted\n")
  return false
end

-- ids from the command line; nil and a message naming the first that is not an id.
local function ids_of(args)
  local ids = {}
  for i, a in ipairs(args) do
    ids[i] = math.tointeger(tonumber(a))
    if not ids[i] or not a:match("^%d+$") then return nil, ("'%s' is not an entry id"):format(a) end
  end
  return ids
end

-- Moves entries to the trash (delete and trash), or deletes trashed entries for good.
local function trash_run(quire, opts, args)
  local ids, bad = ids_of(args)
  if not ids then return fail(2, "%s", bad) end
  local permanent = opts.permanent
  if permanent then
    local not_trashed = {}
    for _, id in ipairs(ids) do
      local e = quire.content.get(id)
      if e and e.status ~= "trash" then not_trashed[#not_trashed + 1] = tostring(id) end
    end
    if #not_trashed > 0 then
      return fail(1, "not in the trash: %s (`quire entries trash ID` first; --permanent deletes only from the trash)",
        table.concat(not_trashed, ", "))
    end
    if not confirmed(opts, ("Delete %d entr%s for good, with their revisions and comments?"):format(#ids, #ids == 1 and "y" or "ies"),
      "--permanent deletes entries with their revisions and comments") then return 1 end
  end
  local missing = {}
  quire.store.transaction(function()
    for _, id in ipairs(ids) do
      if not quire.content.delete(id, { permanent = permanent }) then missing[#missing + 1] = tostring(id) end
    end
  end)
  print(("%d %s%s"):format(#ids - #missing, permanent and "deleted for good" or "moved to the trash (quire entries untrash ID brings one back)",
    #missing > 0 and ("; no entry " .. table.concat(missing, ", ")) or ""))
  return #missing > 0 and 1 or 0
end

entries.delete = {
  usage = "delete ID... [--permanent --yes]   (to the trash; --permanent: delete trashed entries for good)",
  opts = { yes = "flag", permanent = "flag" }, args = "+",
  run = trash_run,
}
entries.trash = {
  usage = "trash ID...   (hidden everywhere public, kept with revisions and comments; see untrash)",
  opts = {}, args = "+",
  run = trash_run,
}
entries.untrash = {
  usage = "untrash ID...   (back to the status it had)",
  opts = {}, args = "+",
  run = function(quire, _, args)
    local ids, bad = ids_of(args)
    if not ids then return fail(2, "%s", bad) end
    local missing = {}
    quire.store.transaction(function()
      for _, id in ipairs(ids) do
        if not quire.content.untrash(id) then missing[#missing + 1] = tostring(id) end
      end
    end)
    print(("%d restored from the trash%s"):format(#ids - #missing, #missing > 0 and ("; no entry " .. table.concat(missing, ", ")) or ""))
    return #missing > 0 and 1 or 0
  end,
}
entries["empty-trash"] = {
  usage = "empty-trash [--older-than DAYS] [--yes]   (deletes trashed entries for good; --list shows the trash)",
  opts = { yes = "flag", ["older-than"] = "value", list = "flag", format = "value" },
  run = function(quire, opts)
    local before
    if opts["older-than"] then
      local days = math.tointeger(tonumber(opts["older-than"]))
      if not days or days < 0 then return fail(2, "--older-than takes a whole number of days") end
      before = quire.time.format(os.time() - days * 86400)
    end
    local rows = quire.content.trashed { before = before, limit = 10000 }
    if opts.list then
      for _, r in ipairs(rows) do r.restores_to = r.status end
      return output(rows, { "id", "type", "slug", "title", "restores_to", "trashed_at", "actor" }, opts.format)
    end
    if #rows == 0 then print("the trash is empty" .. (before and (" of entries trashed before " .. before) or "")) return 0 end
    if not confirmed(opts, ("Delete the %d%s entr%s in the trash for good, with their revisions and comments?"):format(#rows,
      #rows == 10000 and "+" or "", #rows == 1 and "y" or "ies"), "empty-trash deletes entries with their revisions and comments") then
      return 1
    end
    print(("%d deleted for good"):format(quire.content.empty_trash { before = before }))
    return 0
  end,
}

entries.revisions = {
  usage = "revisions ID [--format table|json]",
  opts = FORMAT_OPTS, args = 1, ids = { "entry" },
  run = function(quire, opts, args)
    local revs = quire.content.revisions(tonumber(args[1]) or -1)
    if #revs == 0 then return fail(1, "no entry %s", args[1]) end
    for _, r in ipairs(revs) do r.saved_by = r.actor or "-" end
    return output(revs, { "id", "created_at", "saved_by", "status", "title" }, opts.format)
  end,
}

entries.diff = {
  usage = "diff ID REV_A REV_B   (word-level; revision ids from `quire entries revisions ID`)",
  opts = {}, args = 3, ids = { "entry", "revision", "revision" },
  run = function(quire, _, args)
    local revs = {}
    for _, r in ipairs(quire.content.revisions(tonumber(args[1]) or -1)) do revs[r.id] = r end
    local a, b = revs[tonumber(args[2])], revs[tonumber(args[3])]
    if not a or not b then return fail(1, "entry %s has no revision %s", args[1], not a and args[2] or args[3]) end
    for _, field in ipairs({ "title", "slug", "status", "published_at", "body" }) do
      if a[field] ~= b[field] then
        print(("%s: %s"):format(field, diff.words(tostring(a[field] or ""), tostring(b[field] or ""))))
      end
    end
    local ta, tb = table.concat(a.tags, ", "), table.concat(b.tags, ", ")
    if ta ~= tb then print(("tags: %s"):format(diff.words(ta, tb))) end
    if (a.section or "") ~= (b.section or "") then print(("section: %s"):format(diff.words(a.section or "", b.section or ""))) end
    for _, line in ipairs(diff.fields(a.fields, b.fields)) do print(line) end
    return 0
  end,
}

entries.restore = {
  usage = "restore ID REV   (makes a new revision with the old content)",
  opts = {}, args = 2, ids = { "entry", "revision" },
  run = function(quire, _, args)
    local id = tonumber(args[1]) or -1
    quire.content.restore(id, tonumber(args[2]) or -1)
    print(("entry %d restored to revision %s"):format(id, args[2]))
    return 0
  end,
}

local function report(replacements, changed, samples, dry_run)
  print(("%d replacement%s in %d entr%s%s"):format(replacements, replacements == 1 and "" or "s", changed,
    changed == 1 and "y" or "ies", dry_run and " (dry run: nothing written)" or ""))
  for _, s in ipairs(samples) do print("  " .. s) end
  return 0
end

-- Titles and bodies are replaced set-based, a chunk of entries per statement (quire.replace);
-- typed fields, and sites whose plugins watch saves, save entry by entry.
entries["search-replace"] = {
  usage = "search-replace OLD NEW [--regex] [--fields title,body,fields.NAME] [--type T] [--dry-run]   (--regex: PCRE2, $1 in NEW)",
  opts = { regex = "flag", fields = "value", type = "value", ["dry-run"] = "flag" }, args = 2,
  run = function(quire, opts, args)
    local old, new = args[1], args[2]
    local fields = {}
    for f in (opts.fields or "title,body"):gmatch("[^,]+") do
      if f ~= "title" and f ~= "body" and not f:match("^fields%.[%w_]+$") then
        return fail(2, "search-replace works on title, body and fields.NAME (text fields), not %s", f)
      end
      fields[#fields + 1] = f
    end
    if not opts.regex and old == "" then return fail(2, "search-replace needs a non-empty OLD") end
    if not core.utf8_valid(old) or not core.utf8_valid(new) then return fail(2, "OLD and NEW must be valid UTF-8") end
    -- PCRE2 regular expressions; $1, ${name} and $$ in NEW, checked before anything is searched.
    local re
    if opts.regex then
      local err
      re, err = core.regex(old)
      if not re then return fail(2, "bad regular expression: %s", err) end
      local ok, why = re:check_replacement(new)
      if not ok then return fail(2, "bad replacement: %s", why) end
    end
    if require("quire.replace").applies(quire, fields) then
      local replacements, changed, samples = require("quire.replace").run(quire, { old = old, new = new, regex = opts.regex,
        fields = fields, type = opts.type, dry_run = opts["dry-run"] })
      return report(replacements, changed, samples, opts["dry-run"])
    end
    local replace
    if re then
      replace = function(s) return re:gsub(s, new) end
    else
      local escaped = old:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
      local repl = new:gsub("%%", "%%%%")
      replace = function(s) return s:gsub(escaped, repl) end
    end
    local changed, replacements, samples = 0, 0, {}
    local db = quire._db
    if opts["dry-run"] then db:begin() end
    quire.each({ type = opts.type }, function(e)
      local changes, n_entry = {}, 0
      for _, f in ipairs(fields) do
        local name = f:match("^fields%.(.+)$")
        local value = name and e.fields[name] or e[f]
        if type(value) == "string" then
          local out, n = replace(value)
          if n > 0 and out ~= value then
            n_entry = n_entry + n
            if name then
              changes.fields = changes.fields or {}
              changes.fields[name] = out
            else
              changes[f] = out
            end
            if #samples < 5 then samples[#samples + 1] = ("entry %d %s: %s"):format(e.id, f, diff.words(value, out, 60)) end
          end
        end
      end
      if n_entry > 0 then
        quire.content.update(e.id, changes) -- validated like any save: a replacement cannot corrupt JSON fields
        changed = changed + 1
        replacements = replacements + n_entry
      end
    end)
    if opts["dry-run"] then while db:depth() > 0 do db:rollback() end end
    return report(replacements, changed, samples, opts["dry-run"])
  end,
}

entries.transition = {
  usage = "transition ID NAME --as LOGIN   (e.g. submit, publish, archive, unpublish; see --list)",
  opts = { as = "value", list = "flag" }, args = "+", ids = { "entry" },
  run = function(quire, opts, args)
    local id = tonumber(args[1]) or -1
    if opts.list or not args[2] then
      print(table.concat(quire.workflow.available(id, opts.as), " "))
      return 0
    end
    quire.workflow.apply(id, args[2], opts.as)
    print(("entry %d: %s done, now %s"):format(id, args[2], quire.content.get(id).status))
    return 0
  end,
}

local terms = {}
terms.list = {
  usage = "list [--taxonomy tag|section] [--format table|json|csv]",
  opts = { taxonomy = "value", format = "value" },
  run = function(quire, opts)
    local bad = opts.taxonomy and not_one_of("--taxonomy", opts.taxonomy, { "tag", "section" })
    if bad then return fail(2, "%s", bad) end
    -- entries: those carrying the term, the trash left out (a trashed entry is not a tag's until
    -- it is restored); published: how many of them readers see on the term's list.
    local rows = quire._db:rows("SELECT t.id, t.taxonomy, t.slug, t.name, count(e.id) AS entries, t.listed AS published FROM terms t"
      .. " LEFT JOIN entry_terms et ON et.term_id = t.id LEFT JOIN entries e ON e.id = et.entry_id AND e.status <> 'trash'"
      .. " WHERE (CAST(? AS TEXT) IS NULL OR t.taxonomy = ?) GROUP BY t.id ORDER BY t.taxonomy, t.slug",
      opts.taxonomy, opts.taxonomy)
    return output(rows, { "id", "taxonomy", "slug", "name", "entries", "published" }, opts.format)
  end,
}
terms.rename = {
  usage = "rename TAXONOMY OLD NEW   (e.g. quire terms rename tag \"Climate\" \"Climate crisis\")",
  opts = {}, args = 3,
  run = function(quire, _, args)
    quire.terms.rename(args[1], args[2], args[3])
    return 0
  end,
}
terms.merge = {
  usage = "merge TAXONOMY FROM INTO   (entries of FROM get INTO; FROM is removed)",
  opts = {}, args = 3,
  run = function(quire, _, args)
    local n = quire.terms.merge(args[1], args[2], args[3])
    print(("%d entr%s moved to %s"):format(n, n == 1 and "y" or "ies", args[3]))
    return 0
  end,
}

local comments = {}
comments.list = {
  usage = "list [--status held|approved|spam|trash] [--entry ID] [--format table|json|csv]",
  opts = { status = "value", entry = "value", format = "value" },
  run = function(quire, opts)
    local bad = opts.status and not_one_of("--status", opts.status, { "held", "approved", "spam", "trash" })
    if bad then return fail(2, "%s", bad) end
    local entry = opts.entry and math.tointeger(tonumber(opts.entry))
    if opts.entry and not entry then return fail(2, "--entry must be an entry id (a number), not %s", opts.entry) end
    local rows = quire.comments.query { status = opts.status, entry = entry, limit = 10000, with_email = true }
    return output(rows, { "id", "entry_id", "parent_id", "status", "author_name", "author_email", "created_at", "body" }, opts.format)
  end,
}
for _, action in ipairs({ { "approve", "approved" }, { "spam", "spam" }, { "hold", "held" }, { "delete", "trash" } }) do
  comments[action[1]] = {
    usage = action[1] .. " ID...",
    opts = {}, args = "+", ids = "comment",
    run = function(quire, _, args)
      quire.store.transaction(function()
        for _, id in ipairs(args) do quire.comments.set_status(tonumber(id) or -1, action[2]) end
      end)
      print(("%d comment%s %s"):format(#args, #args == 1 and "" or "s", action[2] == "trash" and "moved to the trash" or action[2]))
      return 0
    end,
  }
end

local user = {}
local function read_password(opts)
  if not opts["password-stdin"] then return nil end
  local pw = io.stdin:read("l")
  if not pw or #pw < 10 then error("a password needs at least 10 characters", 0) end
  return pw
end
user.add = {
  usage = "add LOGIN [--name NAME] [--email E] [--role contributor|author|editor|admin] [--password-stdin]",
  opts = { name = "value", email = "value", role = "value", ["password-stdin"] = "flag" }, args = 1,
  run = function(quire, opts, args)
    local pw = read_password(opts)
    local id = quire.users.create { login = args[1], name = opts.name, email = opts.email, role = opts.role }
    if pw then quire.users.set_password(id, pw) end
    print(id)
    return 0
  end,
}
user.passwd = {
  usage = "passwd LOGIN --password-stdin   (stored as an argon2id hash)",
  opts = { ["password-stdin"] = "flag" }, args = 1,
  run = function(quire, opts, args)
    local u = quire.users.get(args[1])
    if not u then return fail(1, "no user %s", args[1]) end
    local pw = read_password(opts)
    if not pw then return fail(2, "give the new password on standard input with --password-stdin") end
    quire.users.set_password(u.id, pw)
    print("password changed for " .. u.login)
    return 0
  end,
}
-- Sign-in commands (lua/quire/auth.lua): second factor, reset links, roles, disabling.
user.totp = {
  usage = "totp LOGIN [--off]   turn on a TOTP second factor: prints the secret and an otpauth:// URI",
  opts = { off = "flag" }, args = 1,
  run = function(quire, opts, args)
    local secret, uri = require("quire.auth").set_totp(quire, args[1], opts.off)
    if not secret then return fail(1, "%s", uri) end
    if opts.off then print("second factor turned off for " .. args[1]) return 0 end
    print("secret: " .. secret)
    print("uri:    " .. uri)
    print("Add it to an authenticator app (the URI as a QR code, or the secret by hand); sign-in now asks for its code.")
    return 0
  end,
}
user["reset-link"] = {
  usage = "reset-link LOGIN [--hours N]   a one-time link to set a new password (default: valid 24 hours)",
  opts = { hours = "value" }, args = 1,
  run = function(quire, opts, args)
    local hours = tonumber(opts.hours or "24")
    if not hours or hours <= 0 or hours > 24 * 14 then return fail(2, "--hours takes a number of hours, at most 336 (two weeks)") end
    local token, expires = require("quire.auth").reset_token(quire, args[1], math.floor(hours * 3600))
    if not token then return fail(1, "%s", expires) end
    local base = (quire.site.base_url or ""):gsub("/+$", "")
    print(base .. "/admin/reset?token=" .. token)
    print(("Valid once, until %s.%s"):format(expires, base == ""
      and " Open it on the site's address (site.lua has no base_url, so the link starts at the path)." or ""))
    return 0
  end,
}
-- A command on one user, LOGIN its first argument: act(quire, u, args) changes the user and
-- returns what to print.
local function on_user(usage, nargs, act)
  return {
    usage = usage, args = nargs,
    run = function(quire, _, args)
      local u = quire.users.get(args[1])
      if not u then return fail(1, "no user %s", args[1]) end
      print(act(quire, u, args))
      return 0
    end,
  }
end
user.role = on_user("role LOGIN contributor|author|editor|admin   (the user's sessions get a new token on their next request)", 2,
  function(quire, u, args)
    quire.users.set_role(u.id, args[2])
    return ("%s is now %s"):format(u.login, args[2])
  end)
user.disable = on_user("disable LOGIN   (cannot sign in; every session ends now)", 1, function(quire, u)
  quire.users.set_disabled(u.id, true)
  return u.login .. " is disabled and signed out everywhere"
end)
user.enable = on_user("enable LOGIN", 1, function(quire, u)
  quire.users.set_disabled(u.id, false)
  return u.login .. " may sign in again"
end)
user.list = {
  usage = "list [--format table|json|csv]",
  opts = FORMAT_OPTS,
  run = function(quire, opts)
    return output(quire.users.list(), { "id", "login", "display_name", "role", "email", "disabled", "created_at" }, opts.format)
  end,
}

-- quire redirects: old URLs answered with 301/302/308 (lua/quire/redirects.lua).
local redirects = {}
redirects.list = {
  usage = "list [--source wordpress|rename|slug|manual] [--limit N] [--format table|json|csv]",
  opts = { source = "value", limit = "value", format = "value" },
  run = function(quire, opts)
    return output(quire.redirects.list { source = opts.source, limit = tonumber(opts.limit) },
      { "id", "from_path", "to", "status", "source", "created_at" }, opts.format)
  end,
}
redirects.add = {
  usage = "add FROM TO [--status 301|302|308] [--replace]   (TO: /path, https://..., or entry:ID)",
  opts = { status = "value", replace = "flag" }, args = 2,
  run = function(quire, opts, args)
    local entry = args[2]:match("^entry:(%d+)$")
    local id = quire.redirects.add { from = args[1], to = not entry and args[2] or nil, entry = entry and tonumber(entry),
      status = opts.status and math.tointeger(tonumber(opts.status)) or nil, replace = opts.replace }
    print(("redirect %d: %s -> %s"):format(id, args[1], args[2]))
    return 0
  end,
}
redirects.delete = {
  usage = "delete FROM|ID",
  args = 1,
  run = function(quire, _, args)
    if not quire.redirects.delete(math.tointeger(tonumber(args[1])) or args[1]) then return fail(1, "no redirect from %s", args[1]) end
    print("deleted the redirect from " .. args[1])
    return 0
  end,
}
redirects.check = {
  usage = "check [--format table|json|csv]   follows every redirect: loops, chains, targets that answer 404",
  opts = { format = "value" },
  run = function(quire, opts)
    local problems, n = quire.redirects.check()
    if #problems > 0 or opts.format then output(problems, { "from", "problem", "detail" }, opts.format) end
    io.stderr:write(("%d redirects checked, %d problem%s\n"):format(n, #problems, #problems == 1 and "" or "s"))
    return #problems > 0 and 1 or 0
  end,
}

local groups = { entries = entries, terms = terms, comments = comments, user = user, redirects = redirects }

-- Single commands (no sub-command): quire export / quire import.
local singles = {
  audit = {
    usage = "audit [--subject entry:ID|comment:ID|tag:SLUG|section:SLUG] [--limit N] [--format table|json|csv]\n"
      .. "  changes that leave no revision (deletes, moderation, term renames and merges): who and when",
    opts = { subject = "value", limit = "value", format = "value" },
    run = function(quire, opts)
      local rows = quire._db:rows("SELECT id, at, actor, action, subject, detail FROM audit_log"
        .. " WHERE (CAST(? AS TEXT) IS NULL OR subject = ?) ORDER BY id DESC LIMIT ?", opts.subject, opts.subject, tonumber(opts.limit) or 100)
      return output(rows, { "id", "at", "actor", "action", "subject", "detail" }, opts.format)
    end,
  },
  export = {
    usage = "export --format jsonl|markdown DIR\n"
      .. "  the whole site's data, losslessly, with a manifest (quire import reads it back)\n"
      .. "usage: quire export --format html DIR [--base-url URL] [--jobs N] [--compress gzip|gzip,br|br|none]\n"
      .. "         [--dry-run] [--watch] [--verbose]\n"
      .. "  the public site as static files for a CDN (pages, lists, feeds, sitemaps, search, redirects,\n"
      .. "  static files and media, with .gz siblings), rendered as quire serve renders them. Again into\n"
      .. "  the same DIR it renders only the pages whose content changed and removes those that are gone;\n"
      .. "  --dry-run lists what would change, --watch exports again after every commit that changes a page,\n"
      .. "  --jobs: worker processes (default: the number of cores),\n"
      .. "  --compress: the precompressed siblings written beside pages, feeds and text files of 1 kB or more\n"
      .. "  (default gzip: .gz for gzip_static; gzip,br adds .br for brotli_static or a CDN, at 2.5 times the CPU;\n"
      .. "  none for a host that compresses itself)",
    opts = { format = "value", ["base-url"] = "value", jobs = "value", ["dry-run"] = "flag", watch = "flag", verbose = "flag",
      compress = "value", worker = "value", manifest = "value", results = "value", since = "value", targeted = "flag",
      fresh = "flag", plan = "value", database = "value" }, args = 1,
    -- (the pages of an html export are read with no server behind them: quire.site.static_export;
    -- a dry run's workers read its copy of the database, --database)
    site_opts = function(opts) return { static_export = opts.format == "html", database = opts.database } end,
    -- (before the site is opened: --database is a dry run's workers' own, given the copy in the
    -- dry run's folder. Else a run would publish what is due in another file, open one to write
    -- into it, and record that file's versions in the folder's manifest.)
    check = function(opts, cli)
      if not opts.database then return nil end
      local run = core.realpath(cli.site_dir(opts) .. "/.quire")
      local folder = opts.database:match("^(.*)/site%.db$")
      local real = folder and core.realpath(folder)
      if not (opts.format == "html" and opts.worker and opts["dry-run"] and run and real
          and real:match("^(.*)/export%-%x+%.db%.dry%-%d+$") == run) then
        return "--database is a dry run's own (its workers read its copy of the site's database): not an option to give"
      end
    end,
    run = function(quire, opts, args)
      if opts.format == "html" then return require("quire.static_export").main(quire, args[1], opts) end
      -- (the lossless formats' own word named only them: a mistyped html is one of three)
      if opts.format and opts.format ~= "jsonl" and opts.format ~= "markdown" then
        return fail(2, "--format takes jsonl, markdown or html (got %q)", opts.format)
      end
      for _, k in ipairs({ "base-url", "jobs", "compress", "dry-run", "watch", "verbose", "worker" }) do
        if opts[k] then return fail(2, "--%s goes with --format html", k) end
      end
      local n, c = require("quire.transfer").export(quire, args[1], opts.format or "jsonl")
      print(("exported %d entries, %d comments, the users and every other table (see %s/manifest.json) to %s"):format(n, c, args[1], args[1]))
      return 0
    end,
  },
  import = {
    usage = "import DIR | import --from wordpress FILE.xml [--uploads DIR] [--dry-run]",
    opts = { from = "value", ["dry-run"] = "flag", uploads = "value" }, args = 1,
    run = function(quire, opts, args)
      if opts.from == "wordpress" then
        local wxr = require "quire.wxr"
        if opts.uploads and require("quire.core").stat(opts.uploads) ~= "dir" then
          return fail(2, "--uploads %s: no such folder (give a copy of the old site's wp-content/uploads)", opts.uploads)
        end
        print(wxr.format(wxr.import(quire, args[1], { dry_run = opts["dry-run"], uploads = opts.uploads })))
        return 0
      elseif opts["dry-run"] or opts.uploads then
        return fail(2, "--dry-run and --uploads go with --from wordpress")
      elseif opts.from then
        return fail(2, "--from takes wordpress")
      end
      local e, c, u = require("quire.transfer").import(quire, args[1])
      print(("imported %d entries, %d comments, %d users"):format(e, c, u))
      return 0
    end,
  },
}

-- Parses a command's options, opens the site, runs it; returns the exit status.
local function run_spec(cli, name, spec, argv, first)
  local allowed = { site = "value", as = "value" }
  for k, v in pairs(spec.opts or {}) do allowed[k] = v end
  local opts, args = cli.parse(name, argv, first, allowed)
  if not opts then return fail(2, "%s", args) end
  -- A sub-command's usage starts with its own name ("passwd LOGIN"), a single command's with
  -- the command ("import DIR"): the group's name is added only to the former.
  local usage = "usage: quire " .. (singles[name] and "" or name:match("^%S+") .. " ") .. spec.usage
  if opts.help then print(usage) return 0 end
  if (spec.args == "+" and #args == 0) or (type(spec.args) == "number" and #args ~= spec.args)
    or (spec.args == nil and #args > 0) then
    return fail(2, "%s", usage)
  end
  -- Ids (spec.ids: what each leading argument names, or one name for them all), checked before
  -- the site opens: a typo is not "no entry -1".
  for i, a in ipairs(args) do
    local what = type(spec.ids) == "table" and spec.ids[i] or type(spec.ids) == "string" and spec.ids
    if what and not a:match("^%d+$") then return fail(2, "'%s' is not a%s %s id (a number)", a, what == "entry" and "n" or "", what) end
  end
  local refused = spec.check and spec.check(opts, cli)
  if refused then return fail(2, "%s", refused) end
  local open_opts = { memory_cap = false, cli = true, base_url = opts["base-url"] }
  for k, v in pairs(spec.site_opts and spec.site_opts(opts) or {}) do open_opts[k] = v end
  local quire, err = cli.open_site(opts, open_opts)
  if not quire then return fail(1, "%s", err) end
  quire.each = require("quire.bulk").each_for(quire, quire._site, { script = name, quiet = not core.isatty(2) })
  local ok, status = pcall(spec.run, quire, opts, args)
  io.stdout:flush()
  quire._db:close()
  if not ok then return fail(1, "%s", tostring(status)) end
  return status
end

-- Installs `quire GROUP SUB ...` and the single commands into the CLI's command table.
function M.install(commands, help, cli)
  for name, spec in pairs(singles) do
    help[name] = "usage: quire " .. spec.usage
    commands[name] = function(argv) return run_spec(cli, name, spec, argv, 2) end
  end
  for group, subs in pairs(groups) do
    local names = {}
    for name in pairs(subs) do names[#names + 1] = name end
    table.sort(names)
    local lines = { ("usage: quire %s <command> [--site DIR] [--as LOGIN] ...   (--as: record changes as this staff user's)"):format(group), "" }
    for _, name in ipairs(names) do lines[#lines + 1] = ("  quire %s %s"):format(group, subs[name].usage) end
    help[group] = table.concat(lines, "\n")
    commands[group] = function(argv)
      local sub = argv[2]
      if sub == nil or sub == "--help" or sub == "-h" then print(help[group]) return sub and 0 or 2 end
      local spec = subs[sub]
      if not spec then return fail(2, "unknown command 'quire %s %s' (see quire %s --help)", group, sub, group) end
      return run_spec(cli, group .. " " .. sub, spec, argv, 3)
    end
  end
end

return M
