-- Filters (value pipelines) and hooks (events) registered by plugins, in a deterministic order:
-- `before`/`after` plugin names sorted topologically, then priority (lower first), then load order.
local errors = require "quire.errors"

local M = {}
M.__index = M

-- call(handler, ...) runs handler.fn under its budget (see plugins.lua) and returns its results.
-- pipeline runs a filter's handlers: pipeline.run(chain, pipeline.limits.instructions, value, ...)
-- with chain { label1, fn1, label2, fn2, ... } -> true, value | false, i, kind, message, err
-- (core.budget_filter); pipeline.fail(handler, message, kind, err) raises the i-th's error.
function M.new(call, pipeline)
  -- version changes with every registration and removal (callers may cache what they looked up).
  local self = setmetatable({ lists = { filter = {}, hook = {} }, sorted = { filter = {}, hook = {} }, call = call, seq = 0,
    version = 0, chains = {}, kept = 0 }, M)
  -- quire.filters.apply: runs the filter pipeline (each handler gets the value, plus extra
  -- arguments, and returns the new value, of the type it was given). A plain function (no method
  -- call, no wrapper: every card of a list page is built through it), with each filter's chain
  -- kept until a registration changes it.
  local chains, run, limits, fail = self.chains, pipeline.run, pipeline.limits, pipeline.fail
  local function failed(name, chain, value, i, kind, msg, original)
    local h = chain.handlers[i] -- (the handler that ran: a setup may have registered more since)
    if kind == "type" then
      errors.raise("plugin", ("plugin '%s': filter '%s' returned %s, expected %s"):format(
        h.plugin, name, msg == "nothing" and msg or ("a " .. msg), type(value)))
    end
    return fail(h, msg, kind, original)
  end
  function self.apply_filter(name, value, ...)
    local chain = chains[name]
    if chain == nil then chain = self:chain(name) end
    if not chain then return value end
    local ok, v, kind, msg, original = run(chain, limits.instructions, value, ...)
    if ok then return v end
    return failed(name, chain, value, v, kind, msg, original)
  end
  return self
end

local function as_set(v, what)
  if v == nil then return {} end
  if type(v) == "string" then v = { v } end
  if type(v) ~= "table" then error(what .. " must be a plugin name or a list of names", 4) end
  local set = {}
  for _, name in ipairs(v) do set[name] = true end
  return set
end

-- Registers fn for kind ("filter" or "hook") name on behalf of plugin (with its load index).
function M:add(kind, name, plugin, load_index, fn, opts)
  if type(name) ~= "string" or name == "" then error(kind .. " name must be a non-empty string", 3) end
  if type(fn) ~= "function" then error(kind .. " '" .. name .. "' needs a function", 3) end
  opts = opts or {}
  if opts.priority ~= nil and type(opts.priority) ~= "number" then error("priority must be a number", 3) end
  self.seq = self.seq + 1
  self.version = self.version + 1
  local list = self.lists[kind][name] or {}
  self.lists[kind][name] = list
  list[#list + 1] = {
    plugin = plugin, load_index = load_index, fn = fn, seq = self.seq, priority = opts.priority or 0,
    label = ("plugin '%s' (%s '%s')"):format(plugin, kind, name),
    before = as_set(opts.before, "before"), after = as_set(opts.after, "after"),
  }
  self.sorted[kind][name] = nil
  if self.chains[name] ~= nil then self.chains[name], self.kept = nil, self.kept - 1 end
end

-- Removes everything a plugin registered (used when a load fails or a plugin is replaced).
function M:remove_plugin(plugin)
  self.version = self.version + 1
  for kind, by_name in pairs(self.lists) do
    for name, list in pairs(by_name) do
      for i = #list, 1, -1 do
        if list[i].plugin == plugin then table.remove(list, i) end
      end
      self.sorted[kind][name] = nil
    end
  end
  for name in pairs(self.chains) do self.chains[name] = nil end
  self.kept = 0
end

local function earlier(a, b)
  if a.priority ~= b.priority then return a.priority < b.priority end
  if a.load_index ~= b.load_index then return a.load_index < b.load_index end
  return a.seq < b.seq
end

-- The effective order of the handlers of one filter or hook. Raises on a before/after cycle.
function M:order(kind, name)
  local cached = self.sorted[kind][name]
  if cached then return cached end
  local list = self.lists[kind][name] or {}
  -- Edge a -> b when a must run before b.
  local succ, indeg = {}, {}
  for _, h in ipairs(list) do succ[h], indeg[h] = {}, 0 end
  for _, a in ipairs(list) do
    for _, b in ipairs(list) do
      if a ~= b and a.plugin ~= b.plugin and (a.before[b.plugin] or b.after[a.plugin]) then
        succ[a][#succ[a] + 1] = b
        indeg[b] = indeg[b] + 1
      end
    end
  end
  local ready, out = {}, {}
  for _, h in ipairs(list) do if indeg[h] == 0 then ready[#ready + 1] = h end end
  while #ready > 0 do
    table.sort(ready, function(a, b) return earlier(b, a) end) -- the earliest last, to pop
    local h = table.remove(ready)
    out[#out + 1] = h
    for _, b in ipairs(succ[h]) do
      indeg[b] = indeg[b] - 1
      if indeg[b] == 0 then ready[#ready + 1] = b end
    end
  end
  if #out < #list then
    local stuck = {}
    for _, h in ipairs(list) do if indeg[h] > 0 then stuck[#stuck + 1] = h.plugin end end
    error(("%s '%s': the before/after rules of plugins %s form a cycle"):format(kind, name, table.concat(stuck, ", ")), 0)
  end
  self.sorted[kind][name] = out
  return out
end

function M:has(kind, name)
  local list = self.lists[kind][name]
  return list ~= nil and #list > 0
end

-- A filter's handlers in order as the chain the pipeline runs ({ label, fn, ..., handlers = the
-- handlers }), false for none. Kept for the next apply; a name with no handler only among the
-- first CHAINS_KEPT names (a plugin may make names from request data: no unbounded cache).
local CHAINS_KEPT = 256
function M:chain(name)
  local chain = false
  if self:has("filter", name) then
    local handlers = self:order("filter", name)
    chain = { handlers = handlers }
    for _, h in ipairs(handlers) do
      chain[#chain + 1] = h.label
      chain[#chain + 1] = h.fn
    end
  end
  if type(name) == "string" and (chain or self.kept < CHAINS_KEPT) then -- (a nil or NaN name is no key)
    self.chains[name], self.kept = chain, self.kept + 1
  end
  return chain
end

-- Emits an event. A handler that returns false (and a message) vetoes it: emit then returns
-- false, the message and the plugin's name, and later handlers do not run.
function M:emit(name, ...)
  if not self:has("hook", name) then return true end
  for _, h in ipairs(self:order("hook", name)) do
    local ok, msg = self.call(h, ...)
    -- Only a string reason is kept: anything else could carry metamethods that run unbudgeted.
    if ok == false then return false, type(msg) == "string" and msg or "refused", h.plugin end
  end
  return true
end

return M
