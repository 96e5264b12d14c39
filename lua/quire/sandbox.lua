-- Plugin environments: an allowlist of the safe standard library, read-only API tables, and
-- calls into plugin code under an instruction budget and the state's memory cap.
local core = require "quire.core"

local M = {}
local budget_exhausted = core.budget_exhausted

-- Plugins resume and close coroutines through core.resume and core.close, so that the budget of
-- the call running reaches the coroutine that runs (core/sandbox.c); wrap as the standard one,
-- on top of them.
local resume, create, close, status = core.resume, coroutine.create, core.close, coroutine.status
local function wrap(f)
  local co = create(f)
  local function results(ok, ...)
    if ok then return ... end
    local err = ...
    if status(co) == "dead" then -- (an error inside: its to-be-closed variables are closed)
      local closed, close_err = close(co)
      if not closed then err = close_err end
    end
    error(err, type(err) == "string" and 2 or 0)
  end
  return function(...) return results(resume(co, ...)) end
end

-- Done once per state: no bytecode can be produced, and the string metatable cannot be reached.
string.dump = nil
getmetatable("").__metatable = false

local function copy(t, names)
  local out = {}
  if names then
    for _, k in ipairs(names) do out[k] = t[k] end
  else
    for k, v in pairs(t) do out[k] = v end
  end
  return out
end

-- A read-only view of t (recursively for nested tables): writes raise, pairs works.
function M.readonly(t, name, seen)
  seen = seen or {}
  if seen[t] then return seen[t] end
  local proxy = {}
  seen[t] = proxy
  local inner = {}
  for k, v in pairs(t) do
    inner[k] = (type(v) == "table" and getmetatable(v) == nil) and M.readonly(v, name .. "." .. tostring(k), seen) or v
  end
  return setmetatable(proxy, {
    __index = inner,
    __newindex = function(_, k) error(("%s is read-only (cannot set '%s')"):format(name, tostring(k)), 2) end,
    __pairs = function() return next, inner, nil end,
    __len = function() return #inner end,
    __metatable = false,
  })
end

-- rawset is left out: it would let a plugin write into the shared read-only API tables.
local SAFE_GLOBALS = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawlen",
  "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type", "xpcall", "_VERSION",
}

-- A fresh environment for one plugin. api is the (read-only) quire table; extra adds globals.
function M.env(name, api, extra)
  local env = {}
  for _, k in ipairs(SAFE_GLOBALS) do env[k] = _G[k] end
  env.string = copy(string)
  env.table = copy(table)
  env.math = copy(math)
  env.utf8 = copy(utf8)
  env.coroutine = copy(coroutine)
  env.coroutine.resume, env.coroutine.close, env.coroutine.wrap = resume, close, wrap
  env.os = copy(os, { "time", "date", "clock", "difftime" })
  -- A __gc finalizer would run later, at any point of a garbage collection, outside every
  -- budget: plugins may not install one.
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("plugins cannot set __gc metamethods (finalizers would run outside the plugin's budget)", 2)
    end
    return setmetatable(t, mt)
  end
  -- A message handler runs while the error is on its way up. When that error is the budget
  -- running out it was raised inside the instruction hook, so the handler would run with hooks
  -- off (a loop there would never be stopped): then the plugin's handler is not called at all.
  env.xpcall = function(f, handler, ...)
    return xpcall(f, function(msg)
      if budget_exhausted() then return msg end
      return handler(msg)
    end, ...)
  end
  env.print = print
  env.quire = api
  -- Text chunks only, in this plugin's environment unless another is given.
  env.load = function(chunk, chunkname, _, chunk_env)
    return load(chunk, chunkname or ("=" .. name), "t", chunk_env or env)
  end
  for k, v in pairs(extra or {}) do env[k] = v end
  env._G = env
  return env
end

M.budget_call = core.budget_call
M.budget_filter = core.budget_filter

return M
