-- A per-process memo of values read from the database (entries, users, neighbour ids), so a page
-- rendered without the page cache does not repeat the same queries on every request. It is
-- dropped whenever the database may have changed, as the page cache decides it: another
-- connection committed (PRAGMA data_version, read through store:data_version) or this one wrote
-- (total_changes). A request reads data_version once at its start (app.request calls sync);
-- outside a request every lookup does.
-- Inside a transaction the memo is bypassed: its reads may see writes that are rolled back.
local M = {}

local NONE = {} -- a memoised nil

-- new(db [, max]) -> memo. max: values kept before starting over (default 2048).
function M.new(db, max)
  max = max or 2048
  local values, n = {}, 0
  local data_version, changes
  local synced = false
  local generation = 0 -- moves when the database may have changed (not when the memo was full)

  local function drop() values, n = {}, 0 end

  local function check_data_version(known)
    local v = known or db:data_version()
    if v ~= data_version then data_version, generation = v, generation + 1 drop() end
  end

  local memo = {}

  -- At the start of a request: the one data_version check its lookups rely on. known: the value
  -- the page cache just read on this connection, when it did (one PRAGMA per request, not two).
  function memo.sync(known)
    check_data_version(known)
    synced = true
  end

  -- At the end of a request: lookups check data_version themselves again.
  function memo.unsync() synced = false end

  -- false inside a transaction (the memo is bypassed); else drops what may be stale.
  local function usable()
    if db:depth() > 0 then return false end
    if not synced then check_data_version() end
    local c = db:total_changes()
    if c ~= changes then changes, generation = c, generation + 1 drop() end
    return true
  end

  -- weight: how many values v counts as against max (a list of rows: its length).
  local function put(key, v, weight)
    if v == nil then v = NONE end
    weight = weight or 1
    if n + weight > max then drop() end
    if weight <= max then values[key], n = v, n + weight end
  end

  -- get(key, fn, ...) -> fn(...)'s value, computed once while the database is unchanged. The
  -- value is shared: callers copy what they hand out to code that may modify it.
  function memo.get(key, fn, ...)
    if not usable() then return fn(...) end
    local v = values[key]
    if v == nil then
      v = fn(...)
      put(key, v)
      return v
    end
    if v == NONE then return nil end
    return v
  end

  -- generation() -> a number that moves whenever the memo saw the database change (its values
  -- went), as of its last lookup: for caches kept beside the memo that outlive its drops when
  -- full, so they need not ask the store (on PostgreSQL a round trip) whether they are stale.
  function memo.generation() return generation end

  -- find(key) -> the value kept under key, or nil (none, or inside a transaction); for a caller
  -- that computes a missing value itself (errors then come from its own frame) and gives it to
  -- memo.put(key, v [, weight]) -> v. Shared as get's are.
  function memo.find(key)
    if not usable() then return nil end
    local v = values[key]
    if v == NONE then return nil end
    return v
  end
  function memo.put(key, v, weight)
    if db:depth() == 0 then put(key, v, weight) end
    return v
  end

  return memo
end

-- A deep copy of a value built from the database (plain tables, no cycles), made in C: copies
-- are made on every memo hit, and a Lua copy cost more than the reads it saved.
M.copy = require("quire.core").copy

return M
