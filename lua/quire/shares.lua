-- Share counts per entry and network (table shares). A click counts once per entry, network and
-- client in a window (default a day), so replaying one link does not inflate the count.
local errors = require "quire.errors"
local memo = require "quire.memo"

local M = {}

function M.new(site, hits)
  local db = site.db
  local api = {}

  -- The share counts of a block's entries (memo.of_block), kept until a share of one of them is
  -- counted: { [entry_id] = { network = N, ... } }.
  local function add_count(of, r)
    local n = of[r.entry_id]
    if not n then n = {} of[r.entry_id] = n end
    n[r.network] = r.count
  end

  -- { total = N, networks = { name = N, ... } } for an entry; the page showing it is tagged.
  function api.counts(entry_id)
    if math.type(entry_id) ~= "integer" then error("quire.shares.counts takes an entry id", 2) end
    site.tag("shares:" .. entry_id)
    local out = { total = 0, networks = {} }
    local got = memo.of_block(site, "shares", entry_id,
      "SELECT entry_id, network, count FROM shares WHERE entry_id BETWEEN ? AND ?", add_count)[entry_id]
    if got then
      for network, n in pairs(got) do
        out.networks[network] = n
        out.total = out.total + n
      end
    end
    return out
  end

  -- Counts a share of entry_id on network by client (an opaque, hashed client key), unless that
  -- client was counted for the same entry and network within `seconds` (default 86400).
  -- Returns true when counted.
  function api.record(entry_id, network, client, seconds)
    if math.type(entry_id) ~= "integer" then error("quire.shares.record takes an entry id", 2) end
    if type(network) ~= "string" or not network:match("^[a-z][a-z0-9_-]*$") or #network > 40 then
      errors.raise("invalid", "a share network is a lowercase word")
    end
    if type(client) ~= "string" or client == "" or #client > 200 then errors.raise("invalid", "quire.shares.record needs a client key") end
    return site.transaction(function()
      if not db:row("SELECT 1 AS x FROM entries WHERE id = ?", entry_id) then errors.raise("not_found", ("no entry %d"):format(entry_id)) end
      if hits.add(("share:%d:%s:%s"):format(entry_id, network, client), seconds or 86400) > 1 then return false end
      db:exec("INSERT INTO shares (entry_id, network, count) VALUES (?, ?, 1)"
        .. " ON CONFLICT (entry_id, network) DO UPDATE SET count = shares.count + 1", entry_id, network)
      site.bump({ ["shares:" .. entry_id] = true, [memo.block_tag("shares", entry_id)] = true })
      return true
    end)
  end

  return api
end

return M
