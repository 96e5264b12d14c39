-- quire.template: Mustache rendering for a site. Named templates and partials come from the ordered
-- template folders (site theme first, then plugins), compiled once and cached; in dev mode a file
-- is recompiled when it changes on disk.
local core = require "quire.core"

local template_render, template_compile = core.template_render, core.template_compile

local M = {}

local SOURCE_CACHE_MAX = 512 -- compiled render_string sources and opts.partials kept at once
local FILE_CACHE_MAX = 4096  -- named lookups remembered (found or not) before starting over
local EXT = ".mustache"

-- "article", "partials/byline": no absolute paths, no "..", nothing odd.
local function valid_name(name)
  return type(name) == "string" and name ~= "" and #name <= 200 and name:sub(1, 1) ~= "/"
    and not name:find("..", 1, true) and not name:find("[%z\\]")
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local src = f:read("a")
  f:close()
  return src
end

-- The quire.template API for one site. site.template_dirs is the ordered folder list: a change to it
-- (a new list, or folders appended as plugins load) drops the caches. site.config.dev switches to
-- checking files for changes on every lookup and makes missing partials an error.
function M.new(site)
  local no_dirs = {}
  local files, nfiles = {}, 0 -- name -> { tpl, path, mtime, size }, or false: not found (production)
  local seen_list, seen_n     -- the folder list the caches were filled from, and its length
  local shared = core.template_cache() -- name -> template, for renders without opts.partials (production)
  local sources, nsources = {}, 0      -- source text -> compiled template (render_string)
  local given, ngiven = {}, 0          -- opts.partials name -> { src, tpl }
  local compiles = 0

  local function dev()
    local config = site.config
    return config ~= nil and config.dev == true
  end

  -- A template file's {{#_}}msgid{{/_}} sections are translated once, as it is compiled (the
  -- site's language is fixed for the life of a process), so pages pay nothing per render; the
  -- `_` lambda in every view does the same for templates from other sources.
  local lambda = require("quire.i18n").lambda
  local function translated(src)
    if not src:find("{{#_}}", 1, true) then return src end
    local tr = lambda()
    return (src:gsub("{{#_}}(.-){{/_}}", tr))
  end

  local function compile(src, name)
    compiles = compiles + 1
    return template_compile(src, name)
  end

  local function from_source(src)
    local tpl = sources[src]
    if not tpl then
      tpl = compile(src, "<string>")
      if nsources >= SOURCE_CACHE_MAX then sources, nsources = {}, 0 end
      sources[src], nsources = tpl, nsources + 1
    end
    return tpl
  end

  -- An opts.partials entry, compiled under its own name so errors point at it.
  local function from_partials(name, src)
    local entry = given[name]
    if entry and entry.src == src then return entry.tpl end
    local tpl = compile(src, ("<partial %s>"):format(name))
    if not entry then
      if ngiven >= SOURCE_CACHE_MAX then given, ngiven = {}, 0 end
      ngiven = ngiven + 1
    end
    given[name] = { src = src, tpl = tpl }
    return tpl
  end

  local function forget()
    files, nfiles = {}, 0
    shared = core.template_cache()
  end

  -- Drops the caches when the folder list changed since they were filled.
  local function check_dirs()
    local list = site.template_dirs or no_dirs
    if list ~= seen_list or #list ~= seen_n then
      forget()
      seen_list, seen_n = list, #list
    end
  end

  local function find_file(name)
    for _, dir in ipairs(seen_list) do
      local path = dir .. "/" .. name .. EXT
      local mtime, size = core.template_stat(path)
      if mtime then return path, mtime, size end
    end
  end

  -- The compiled template for a named file, or nil. Compile errors are raised with path:line:col.
  local function load(name)
    check_dirs()
    local entry = files[name]
    local is_dev = dev()
    if entry ~= nil and not is_dev then return entry and entry.tpl or nil end
    local path, mtime, size = find_file(name)
    if nfiles >= FILE_CACHE_MAX then forget() end
    if not path then
      if not is_dev then files[name], nfiles = false, nfiles + 1 end
      return nil
    end
    if entry and entry.path == path and entry.mtime == mtime and entry.size == size then return entry.tpl end
    local src, err = read_file(path)
    if not src then error(("cannot read template %s: %s"):format(path, err), 0) end
    local tpl = compile(translated(src), path)
    if not entry then nfiles = nfiles + 1 end
    files[name] = { tpl = tpl, path = path, mtime = mtime, size = size }
    return tpl
  end

  local function where() return table.concat(site.template_dirs or no_dirs, ", ") end

  -- Called by the C renderer for a partial or parent it has not resolved yet.
  local function resolver(name, partials)
    if partials ~= nil then
      local p = partials[name]
      if type(p) == "string" then return from_partials(name, p) end
      if type(p) == "table" and p._tpl then return p._tpl end
      if p ~= nil then error(("opts.partials.%s must be template source (a string), not a %s"):format(name, type(p)), 0) end
    end
    if not valid_name(name) then return nil, " (not a valid template name)" end
    local tpl = load(name)
    if tpl then return tpl end
    return nil, (" (looked in %sthe template folders: %s)"):format(partials and "opts.partials and " or "", where())
  end

  -- Every view gets the translating lambda `_` ({{#_}}Related Posts{{/_}}: quire.i18n).
  local translate = require("quire.i18n").lambda
  local function with_lambda(view)
    if type(view) == "table" and rawget(view, "_") == nil then view._ = translate() end
    return view
  end

  local function render(tpl, view, opts, level)
    view = with_lambda(view)
    local is_dev = dev()
    if opts == nil then
      check_dirs()
      return template_render(tpl, view, resolver, nil, is_dev, not is_dev and shared or nil)
    end
    if type(opts) ~= "table" then error("template opts must be a table", level + 1) end
    local partials, strict = opts.partials, is_dev
    if partials ~= nil and type(partials) ~= "table" then error("opts.partials must be a table of name = source", level + 1) end
    if opts.strict ~= nil then strict = opts.strict and true or false end
    if partials == nil and not is_dev then
      check_dirs()
      return template_render(tpl, view, resolver, nil, strict, shared)
    end
    return template_render(tpl, view, resolver, partials, strict)
  end

  local Template = {}
  Template.__index = Template
  Template.__name = "quire.template"

  -- Renders the compiled template with view; opts.partials as for render.
  function Template:render(view, opts)
    return render(self._tpl, view, opts, 2)
  end
  function Template:name() return core.template_name(self._tpl) end
  Template.__tostring = function(self) return "template " .. core.template_name(self._tpl) end

  local api = {}

  -- Renders the template NAME.mustache from the template folders (the first folder that has it).
  function api.render(name, view, opts)
    -- Production fast path: a name already compiled, the folder list unchanged since.
    local entry = files[name]
    if entry and opts == nil and site.template_dirs == seen_list and #seen_list == seen_n then
      local config = site.config
      if not (config and config.dev == true) then
        return template_render(entry.tpl, with_lambda(view), resolver, nil, false, shared)
      end
    end
    if not valid_name(name) then error(("bad template name %q"):format(tostring(name)), 2) end
    local tpl = load(name)
    if not tpl then error(("template '%s' not found (looked in: %s)"):format(name, where()), 2) end
    return render(tpl, view, opts, 2)
  end

  -- Renders template source; the compiled form is cached by source text.
  function api.render_string(source, view, opts)
    if type(source) ~= "string" then error("render_string takes template source (a string)", 2) end
    return render(from_source(source), view, opts, 2)
  end

  -- Compiles source once; the result renders many times with :render(view, opts).
  function api.compile(source, name)
    if type(source) ~= "string" then error("compile takes template source (a string)", 2) end
    if name ~= nil and type(name) ~= "string" then error("compile: name must be a string", 2) end
    return setmetatable({ _tpl = compile(source, name or "<string>") }, Template)
  end

  -- {{x}}'s escaping, for helpers that build HTML by hand.
  api.escape = core.template_escape

  -- Counters for tests and diagnostics: { compiles = N }.
  function api.stats() return { compiles = compiles } end

  return api
end

return M
