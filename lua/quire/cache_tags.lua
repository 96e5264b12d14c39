-- Page-cache tags a write touches. Writes collect them here and their versions are bumped once,
-- just before the outermost commit of their transaction (so a batch of 1000 saves bumps
-- "list:all" once, not 1000 times); outside a transaction, at once.
-- tags = require("quire.cache_tags").of(site): tags.bump(set), tags.pending (the set the current
-- transaction will bump: a save adds to it directly).
local per_site = require "quire.per_site"
local store_sql = require "quire.store_sql"

local M = {}

M.of = per_site(function(site)
  local db, tx = site.db, site.tx
  local tags = { pending = {} }
  local function flush()
    local pending = tags.pending
    if next(pending) == nil then return end
    local list = {}
    for t in pairs(pending) do list[#list + 1] = t end
    store_sql.bump_tags(db, list)
    tags.pending = {}
  end
  function tags.bump(set)
    local pending = tags.pending
    for t in pairs(set) do pending[t] = true end
    if db:depth() == 0 then flush() end
  end
  -- Tags left from a transaction rolled back behind the transaction module's back (quire run's
  -- trial) were never written: they go at the next begin.
  tx:on_begin(function() if next(tags.pending) then tags.pending = {} end end)
  tx:on_commit(flush)
  return tags
end)

return M
