-- The plugin loader: finds enabled plugins, orders them by `requires`, validates settings, runs
-- each setup in its sandbox, records what each registered, then freezes the registry.
local core = require "quire.core"
local errors = require "quire.errors"
local hooks_mod = require "quire.hooks"
local sandbox = require "quire.sandbox"
local cli = require "quire.cli" -- its command table says which names plugin commands may not take
local memo_copy = require("quire.memo").copy
local memo_view = require("quire.memo").view_of
local memo_key, memo_tags = core.memo_key, core.memo_tags

local M = {}

local INTERVAL_UNITS = { s = 1, m = 60, h = 3600, d = 86400 }
local LOADING = {} -- site:require's mark for a module being loaded (to name a cycle)

-- "1.2.3" -> { 1, 2, 3 }
local function parse_version(v)
  if type(v) ~= "string" then return nil end
  local parts = {}
  for n in v:gmatch("%d+") do parts[#parts + 1] = tonumber(n) end
  if #parts == 0 or not v:match("^%d+[%.%d]*$") then return nil end
  return parts
end

local function compare_versions(a, b)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i] or 0, b[i] or 0
    if x ~= y then return x < y and -1 or 1 end
  end
  return 0
end

local CONSTRAINTS = {
  [">="] = function(c) return c >= 0 end, [">"] = function(c) return c > 0 end,
  ["<="] = function(c) return c <= 0 end, ["<"] = function(c) return c < 0 end,
  ["="] = function(c) return c == 0 end, ["=="] = function(c) return c == 0 end,
}

-- "article", "article >= 1.2" -> name, op, version
local function parse_requirement(req)
  local name, op, version = req:match("^%s*([%w_%-]+)%s*([<>=]+)%s*([%d%.]+)%s*$")
  if name then return name, op, version end
  name = req:match("^%s*([%w_%-]+)%s*$")
  return name
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local src = f:read("a")
  f:close()
  return src
end

-- The manifest constructor plugins call: quire.plugin{ ... }.
local function plugin_constructor(m)
  if type(m) ~= "table" then error("quire.plugin takes a table", 2) end
  return setmetatable(m, { __name = "quire.plugin" })
end

function M.new(site, api)
  local cfg = site.config
  local limits = cfg.limits
  local registry = {
    plugins = {},        -- in load order: { name, version, dir, settings, registered = {...} }
    by_name = {},
    routes = {}, api_routes = {}, commands = {}, jobs = {}, static_dirs = {},
    field_sets = {},     -- name -> { plugin =, fields = { name = spec } } (site:field_set)
    frozen = false,
  }

  -- Runs plugin code under the instruction budget; raises a "plugin" error naming it on failure.
  -- label is "plugin 'x' (what)", built once per handler rather than per call.
  local function finish(label, ok, ...)
    if ok then return ... end
    local msg, kind, original = ...
    if kind == "error" and errors.is(original) then error(original, 0) end
    error(errors.new("plugin", kind == "error" and (label .. ": " .. msg) or msg), 0)
  end
  local function call_labelled(label, fn, ...)
    return finish(label, sandbox.budget_call(label, limits.instructions, fn, ...))
  end
  local function call(plugin, what, fn, ...)
    return call_labelled(("plugin '%s' (%s)"):format(plugin, what), fn, ...)
  end
  registry.call = call
  local budget_call = sandbox.budget_call
  registry.hooks = hooks_mod.new(function(h, ...)
    return finish(h.label, budget_call(h.label, limits.instructions, h.fn, ...))
  end, { run = sandbox.budget_filter, limits = limits,
    fail = function(h, msg, kind, original) return finish(h.label, false, msg, kind, original) end })

  local function search_path()
    local path = {}
    for _, dir in ipairs(cfg.plugin_path or {}) do path[#path + 1] = dir end
    path[#path + 1] = cfg.dir .. "/plugins"
    path[#path + 1] = os.getenv("QUIRE_BUNDLED_PLUGINS") or core.bundled_plugins
    return path
  end

  local function find(name)
    for _, dir in ipairs(search_path()) do
      local file = dir .. "/" .. name .. "/plugin.lua"
      if core.stat(file) == "file" then return dir .. "/" .. name, file end
    end
  end

  local function fail(fmt, ...) error(errors.new("plugin", fmt:format(...)), 0) end

  -- The clock as plugins see it: reading the time while a memoised value is computed makes
  -- that value go at every write (quire.memo volatile), since no cache tag names the time.
  -- Formatting a given time reads no clock.
  local function volatile() site.memo.volatile() end
  local function clock_os()
    local time, date, clock = os.time, os.date, os.clock
    return { difftime = os.difftime,
      time = function(t) if t == nil then volatile() end return time(t) end,
      date = function(fmt, t) if t == nil then volatile() end return date(fmt, t) end,
      clock = function() volatile() return clock() end }
  end
  local plugin_time
  local function clock_time()
    if not plugin_time then
      local t, shared = {}, api.plugin_api.time
      for k, v in pairs(shared) do t[k] = v end
      t.now = function() volatile() return shared.now() end
      t.ago = function(utc, now, ...) if now == nil then volatile() end return shared.ago(utc, now, ...) end
      plugin_time = sandbox.readonly(t, "quire.time")
    end
    return plugin_time
  end

  -- Loads plugin.lua as text in a fresh sandbox; returns the manifest and its environment.
  local function load_manifest(name)
    if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_%-]*$") then
      fail("site.lua: plugin names are lowercase words, got %s", tostring(name))
    end
    local dir, file = find(name)
    if not dir then
      fail("plugin '%s' not found (looked in %s)", name, table.concat(search_path(), ", "))
    end
    local src = read_file(file)
    local env = sandbox.env(name, api.plugin_api, { os = clock_os() })
    env.quire = setmetatable({ plugin = plugin_constructor, time = clock_time() }, { __index = api.plugin_api, __metatable = false,
      __newindex = function(_, k) error("quire is read-only (cannot set '" .. tostring(k) .. "')", 2) end })
    local chunk, err = load(src, "@" .. file, "t", env)
    if not chunk then fail("%s", err) end
    local manifest = call(name, "loading", chunk)
    if getmetatable(manifest) == nil or type(manifest) ~= "table" or manifest.name == nil then
      fail("%s must return quire.plugin{ name = ..., version = ..., setup = function(site) ... end }", file)
    end
    if manifest.name ~= name then fail("%s declares name '%s' but its folder is '%s'", file, tostring(manifest.name), name) end
    if not parse_version(manifest.version) then fail("plugin '%s': version must look like \"1.0\" (got %s)", name, tostring(manifest.version)) end
    if manifest.setup ~= nil and type(manifest.setup) ~= "function" then fail("plugin '%s': setup must be a function", name) end
    if manifest.requires ~= nil and type(manifest.requires) ~= "table" then fail("plugin '%s': requires must be a list", name) end
    if manifest.settings ~= nil and type(manifest.settings) ~= "table" then fail("plugin '%s': settings must be a table of defaults", name) end
    return { name = name, version = manifest.version, dir = dir, file = file, manifest = manifest, env = env }
  end

  -- Site overrides of a plugin's settings come from the site.lua table named after the plugin.
  local function settings_for(p)
    local defaults = p.manifest.settings or {}
    local overrides = cfg.plugin_settings[p.name] or {}
    if type(overrides) ~= "table" then fail("site.lua: settings for plugin '%s' must be a table", p.name) end
    local out = {}
    for k, v in pairs(defaults) do out[k] = v end
    for k, v in pairs(overrides) do
      if defaults[k] == nil then
        fail("site.lua: plugin '%s' has no setting '%s' (it has: %s)", p.name, tostring(k), (function()
          local names = {}
          for n in pairs(defaults) do names[#names + 1] = n end
          table.sort(names)
          return #names > 0 and table.concat(names, ", ") or "none"
        end)())
      end
      if type(v) ~= type(defaults[k]) then
        fail("site.lua: setting '%s' of plugin '%s' must be a %s, got %s", tostring(k), p.name, type(defaults[k]), type(v))
      end
      out[k] = v
    end
    return out
  end

  -- Orders plugins so each comes after what it requires; the site.lua order breaks ties.
  local function order(loaded)
    local out, state = {}, {}
    local function visit(name, path)
      if state[name] == "done" then return end
      if state[name] == "visiting" then
        local cycle = {}
        local start
        for i, n in ipairs(path) do if n == name then start = i end end
        for i = start, #path do cycle[#cycle + 1] = path[i] end
        cycle[#cycle + 1] = name
        fail("plugin dependency cycle: %s", table.concat(cycle, " -> "))
      end
      state[name] = "visiting"
      path[#path + 1] = name
      local p = loaded[name]
      for _, req in ipairs(p.manifest.requires or {}) do
        local dep, op, version = parse_requirement(tostring(req))
        if not dep then fail("plugin '%s': cannot read requirement %q", name, tostring(req)) end
        local d = loaded[dep]
        if not d then
          if find(dep) then
            fail("plugin '%s' requires '%s', which is not enabled: add it to plugins in site.lua", name, dep)
          end
          fail("plugin '%s' requires '%s', which is not installed", name, dep)
        end
        if op then
          local cmp = CONSTRAINTS[op]
          if not cmp then fail("plugin '%s': unknown version operator '%s'", name, op) end
          if not cmp(compare_versions(parse_version(d.version), parse_version(version))) then
            fail("plugin '%s' requires %s %s %s, but version %s is installed", name, dep, op, version, d.version)
          end
        end
        visit(dep, path)
      end
      path[#path] = nil
      state[name] = "done"
      out[#out + 1] = p
    end
    for _, name in ipairs(cfg.plugins) do visit(name, {}) end
    return out
  end

  local function parse_interval(v)
    if math.type(v) == "integer" and v > 0 then return v end
    local n, unit = tostring(v):match("^(%d+)([smhd])$")
    if not n or tonumber(n) == 0 then return nil end
    return tonumber(n) * INTERVAL_UNITS[unit]
  end

  -- What a site:memo value was given, which no read inside records, is named by its key
  -- (core.memo_key): nil, booleans, numbers and strings as they are, any table by its content,
  -- so a value is only handed out for the arguments it was made from; an entry (a stored one:
  -- positive id, a slug, a known type) by its id, and so is a list of up to 64: their tags
  -- ("entry:ID", "teaser:ID" for a card: no body, what a card shows) are the value's too
  -- (core.memo_tags, the same check, when the value is built). A function is code, loaded once:
  -- what it captures, the key must name.
  local type_defs = site.types.defs
  local function arg_tags(...) return memo_tags(type_defs, ...) end
  local MEMO_TAGS_MAX = 64
  local MEMO_CLASSES = 64 -- key heads watched apart per plugin (quire.memo of_class); past it they share one

  -- The `site` object a plugin's setup receives: registration calls, recorded per plugin.
  local function registrar(p, index)
    local rec = p.registered
    local reg = { name = p.name, version = p.version, dir = p.dir, settings = sandbox.readonly(p.settings, p.name .. ".settings") }
    local memo_prefix = "plugin\0" .. p.name .. "\0"
    local memo_classes, nclasses = {}, 0
    local function class_of(key)
      local head = key:match("^[^%z]*")
      local class = memo_classes[head]
      if class then return class end
      if nclasses >= MEMO_CLASSES then
        head = ""
        class = memo_classes[head]
        if class then return class end
      end
      class = site.memo.class()
      memo_classes[head], nclasses = class, nclasses + 1
      return class
    end
    local function open_check(what)
      if registry.frozen then
        error(("plugin '%s': %s can only be registered while the plugin loads (in setup)"):format(p.name, what), 3)
      end
    end
    local function wrap(what, fn)
      if type(fn) ~= "function" then error(("plugin '%s': %s needs a function"):format(p.name, what), 3) end
      local label = ("plugin '%s' (%s)"):format(p.name, what)
      return function(...) return call_labelled(label, fn, ...) end
    end
    -- Field definitions with their validators wrapped to run as this plugin's code.
    local function own_fields(fields)
      local out = {}
      for fname, spec in pairs(fields) do
        if type(spec) == "table" and spec.validate then
          local s2 = {}
          for k, v in pairs(spec) do s2[k] = v end
          s2.validate = wrap("validator of field '" .. tostring(fname) .. "'", spec.validate)
          spec = s2
        end
        out[fname] = spec
      end
      return out
    end
    -- site:field_set(name, fields): fields that several content types share (a theme's hero
    -- image, say); a content type takes them with field_sets = { name, ... }.
    function reg:field_set(name, fields)
      open_check("field sets")
      if type(name) ~= "string" or type(fields) ~= "table" then error("field_set takes a name and a table of fields", 2) end
      local had = registry.field_sets[name]
      if had then error(("plugin '%s': field set '%s' is already defined by plugin '%s'"):format(p.name, name, had.plugin), 2) end
      registry.field_sets[name] = { plugin = p.name, fields = own_fields(fields) }
    end
    function reg:content_type(def)
      open_check("content types")
      if type(def) ~= "table" then error("content_type takes a table", 2) end
      local copy = {}
      for k, v in pairs(def) do copy[k] = v end
      copy.plugin = p.name
      copy.field_sets = nil
      copy.fields = type(def.fields) == "table" and own_fields(def.fields) or def.fields
      if def.field_sets ~= nil then
        if type(def.field_sets) ~= "table" then error(("plugin '%s': field_sets must be a list of names"):format(p.name), 2) end
        copy.fields = copy.fields or {}
        for _, set_name in ipairs(def.field_sets) do
          local set = registry.field_sets[set_name]
          if not set then
            local known = {}
            for n in pairs(registry.field_sets) do known[#known + 1] = n end
            table.sort(known)
            error(("plugin '%s': no field set '%s' (defined: %s; a plugin that defines one must load first: requires)")
              :format(p.name, tostring(set_name), #known > 0 and table.concat(known, ", ") or "none"), 2)
          end
          for fname, spec in pairs(set.fields) do
            if copy.fields[fname] ~= nil then
              error(("plugin '%s': field '%s' of type '%s' is also in field set '%s' (plugin '%s')"):format(
                p.name, fname, tostring(def.name), set_name, set.plugin), 2)
            end
            copy.fields[fname] = spec
          end
        end
      end
      local ok, err = pcall(site.types.define, site.types, copy)
      if not ok then error(("plugin '%s': %s"):format(p.name, tostring(err)), 2) end
      rec.content_types[#rec.content_types + 1] = def.name
    end
    -- site:memo(key, fn, ...) -> a copy of fn(...), kept until a write bumps a cache tag it
    -- depends on (quire.memo): those fn's reads collected, which also go to every page using the
    -- value, and those of its arguments (arg_tags). site:memo({ key =, tags = { ... } }, fn, ...)
    -- names more tags (also given to the page); tags = false:
    -- kept only until the next write. fn reading the clock (os.time(), quire.time.now(), ...)
    -- makes the value go at every write too. fn returns plain data (tables without cycles); each
    -- call gets its own copy, so no caller can change what the next one sees.
    function reg:memo(key, fn, ...)
      local named
      if type(key) == "table" then
        named = key.tags
        key = key.key
        if named ~= false and (type(named) ~= "table" or #named > MEMO_TAGS_MAX) then
          error(("plugin '%s': memo{ key =, tags = } takes a list of at most %d cache tags, or false"):format(p.name, MEMO_TAGS_MAX), 2)
        end
      end
      if type(key) ~= "string" or type(fn) ~= "function" then
        error(("plugin '%s': memo(key, fn, ...) takes a string key (or { key =, tags = }) and a function"):format(p.name), 2)
      end
      -- The key names every argument (core.memo_key, in C: this runs at every call, under the
      -- plugin's budget hook, where each Lua step costs).
      -- An argument that cannot be keyed (a table with a metatable, a userdata, too large) makes
      -- this call run fn without keeping its value: slower, never another input's value.
      local full = memo_key(memo_prefix .. key, type_defs, ...)
      if not full then return (fn(...)) end
      local deps = named ~= false and arg_tags
      if named then
        local c = site.collecting
        for i, t in ipairs(named) do
          if type(t) ~= "string" or t == "" or #t > 200 then
            error(("plugin '%s': memo tag %d is not a cache tag (a string of 1 to 200 bytes)"):format(p.name, i), 2)
          end
          if c then c[t] = true end
        end
        deps = function(...)
          local list = arg_tags(...)
          for _, t in ipairs(named) do list[#list + 1] = t end
          return list
        end
      end
      -- The values of a key's head (up to its first "\0": "block" of "block\0" .. id) are kept
      -- while pages read them again (quire.memo of_class; class_of is asked on a miss only).
      return memo_copy(memo_view(site, class_of, key, full, deps, fn, ...).value)
    end
    function reg:filter(name, fn, opts)
      open_check("filters")
      registry.hooks:add("filter", name, p.name, index, fn, opts)
      rec.filters[#rec.filters + 1] = name
    end
    function reg:hook(name, fn, opts)
      open_check("hooks")
      registry.hooks:add("hook", name, p.name, index, fn, opts)
      rec.hooks[#rec.hooks + 1] = name
    end
    function reg:route(method, pattern, fn)
      open_check("routes")
      if type(method) ~= "string" or type(pattern) ~= "string" or pattern:sub(1, 1) ~= "/" then
        error(("plugin '%s': route(method, '/pattern', fn)"):format(p.name), 2)
      end
      registry.routes[#registry.routes + 1] = { plugin = p.name, method = method:upper(), pattern = pattern, handler = wrap("route " .. method:upper() .. " " .. pattern, fn) }
      rec.routes[#rec.routes + 1] = method:upper() .. " " .. pattern
    end
    -- site:api_route { path = "/things/{id:int}", summary =, query = { { name =, description = } },
    -- response = JSON Schema, handler = fn(ctx) }: a GET of the Content API (/api/content/v1 +
    -- path) with its keys, parameter checks, cache tags and OpenAPI entry (lua/quire/api.lua).
    function reg:api_route(def)
      open_check("routes")
      if type(def) ~= "table" or type(def.path) ~= "string" or not def.path:match("^/[%w_{}:/%-]+$") or type(def.handler) ~= "function" then
        error(("plugin '%s': api_route { path = '/name', handler = fn(ctx), summary =, query =, response = }"):format(p.name), 2)
      end
      registry.api_routes[#registry.api_routes + 1] = { plugin = p.name, path = def.path, summary = def.summary,
        query = def.query, response = def.response, handler = wrap("api route " .. def.path, def.handler) }
      rec.routes[#rec.routes + 1] = "GET /api/content/v1" .. def.path
    end
    function reg:command(name, help, fn)
      open_check("commands")
      if type(name) ~= "string" or not name:match("^[a-z][a-z0-9%-]*$") then
        error(("plugin '%s': command names are lowercase words"):format(p.name), 2)
      end
      if cli.is_builtin(name) then
        error(("plugin '%s': cannot register command '%s': it is a built-in quire command (choose another name)"):format(p.name, name), 2)
      end
      if registry.commands[name] then
        error(("plugin '%s': command '%s' is already defined by plugin '%s'"):format(p.name, name, registry.commands[name].plugin), 2)
      end
      registry.commands[name] = { plugin = p.name, help = tostring(help or ""), run = wrap("command " .. name, fn) }
      rec.commands[#rec.commands + 1] = name
    end
    function reg:every(interval, fn)
      open_check("scheduled jobs")
      local seconds = parse_interval(interval)
      if not seconds then error(("plugin '%s': every() takes an interval like \"30s\", \"5m\", \"1h\" or \"1d\""):format(p.name), 2) end
      local job = { name = ("%s#%d"):format(p.name, #rec.jobs + 1), plugin = p.name, interval = seconds }
      local run = wrap("every " .. tostring(interval), fn)
      function job.run() return site.acting({ name = "job:" .. job.name }, run) end
      registry.jobs[#registry.jobs + 1] = job
      rec.jobs[#rec.jobs + 1] = job.name
    end
    function reg:transition(def)
      open_check("workflow transitions")
      site.workflow.define(p.name, def, wrap)
      rec.transitions = rec.transitions or {}
      rec.transitions[#rec.transitions + 1] = def.name
    end
    function reg:state(def)
      open_check("workflow states")
      site.workflow.define_state(p.name, def)
      rec.states = rec.states or {}
      rec.states[#rec.states + 1] = def.name
    end
    local function add_dir(list, what, dir)
      open_check(what)
      local path = dir:sub(1, 1) == "/" and dir or (p.dir .. "/" .. dir)
      if core.stat(path) ~= "dir" then error(("plugin '%s': %s folder %s does not exist"):format(p.name, what, path), 3) end
      list[#list + 1] = path
    end
    -- site:require("name") -> what name.lua in the plugin's folder returns (true if nothing),
    -- run once per plugin in the plugin's own environment, as text. "sub.name" is sub/name.lua:
    -- one subfolder at most, plain words only, so no name reaches outside the plugin's folder.
    function reg:require(modname)
      if type(modname) ~= "string" or not (modname:match("^[%a_][%w_]*$") or modname:match("^[%a_][%w_]*%.[%a_][%w_]*$")) then
        error(("plugin '%s': require takes a module name like \"forms\" or \"lib.forms\" (a file in the plugin's folder), got %s")
          :format(p.name, modname == nil and "nothing" or ("%q"):format(tostring(modname))), 2)
      end
      local mods = p.modules
      local have = mods[modname]
      if have == LOADING then
        error(("plugin '%s': module '%s' requires itself (a require cycle)"):format(p.name, modname), 2)
      elseif have ~= nil then
        return have
      end
      local file = p.dir .. "/" .. modname:gsub("%.", "/") .. ".lua"
      local src = core.stat(file) == "file" and read_file(file)
      if not src then
        error(("plugin '%s': no module '%s' (looked for %s)"):format(p.name, modname, file), 2)
      end
      local chunk, err = load(src, "@" .. file, "t", p.env)
      if not chunk then error(("plugin '%s': %s"):format(p.name, err), 2) end
      mods[modname] = LOADING
      local ok, v = pcall(chunk, modname, file)
      if not ok then
        mods[modname] = nil
        error(v, 0)
      end
      if v == nil then v = true end
      mods[modname] = v
      return v
    end
    function reg:templates(dir) add_dir(site.template_dirs, "templates", dir) end
    function reg:static(dir)
      local list = {}
      add_dir(list, "static", dir)
      registry.static_dirs[#registry.static_dirs + 1] = { plugin = p.name, dir = list[1] }
    end
    return reg
  end

  -- Loads every enabled plugin or none: the first failure raises and the site does not start.
  function registry.load()
    if type(cfg.plugins) ~= "table" then fail("site.lua: plugins must be a list of names") end
    local loaded, seen = {}, {}
    for _, name in ipairs(cfg.plugins) do
      if seen[name] then fail("site.lua: plugin '%s' is listed twice", name) end
      seen[name] = true
      loaded[name] = load_manifest(name)
    end
    for index, p in ipairs(order(loaded)) do
      p.settings = settings_for(p)
      p.registered = { content_types = {}, filters = {}, hooks = {}, routes = {}, commands = {}, jobs = {} }
      p.modules = {} -- site:require's cache
      registry.plugins[#registry.plugins + 1] = p
      registry.by_name[p.name] = p
      if core.stat(p.dir .. "/templates") == "dir" then table.insert(site.template_dirs, p.dir .. "/templates") end
      if core.stat(p.dir .. "/locale") == "dir" then require("quire.i18n").add_dir(p.dir .. "/locale") end
      if core.stat(p.dir .. "/static") == "dir" then
        table.insert(registry.static_dirs, { plugin = p.name, dir = p.dir .. "/static" })
      end
      if p.manifest.setup then call(p.name, "setup", p.manifest.setup, registrar(p, index)) end
    end
    registry.frozen = true
    site.workflow.check()
    -- Surface before/after cycles at start-up rather than on the first request.
    for kind, by_name in pairs(registry.hooks.lists) do
      for name in pairs(by_name) do registry.hooks:order(kind, name) end
    end
    return registry
  end

  return registry
end

return M
