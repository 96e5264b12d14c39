-- The content model's API (quire.content): entries, their terms and revisions over the store.
-- The work is in the modules under quire.content, each required for what it does:
--   quire.content.validate  the checks before a write (text rules from quire.types)
--   quire.content.terms     tags and sections: slugs, term ids, an entry's term rows
--   quire.content.reads     get, query, count, lists, neighbours, revisions, url
--   quire.content.search    the search language and ranking
--   quire.content.writes    create, update, the trash, restore (one transaction each)
-- and below them quire.transaction (begin/commit/rollback and their hooks), quire.cache_tags
-- and quire.store_sql (the SQL only SQLite speaks, which a second store provides again).
local reads_mod = require "quire.content.reads"
local search_mod = require "quire.content.search"
local writes_mod = require "quire.content.writes"

local M = {}

local READS = { "get", "query", "count", "terms", "term", "published_blocks", "published_block", "neighbours", "revisions",
  "trashed", "url", "teasers", "teaser", "cursors" }
local WRITES = { "create", "update", "validate", "delete", "trash", "untrash", "empty_trash", "restore" }

-- Builds the content API for one site: { db = store, tx = transaction, limits = {...}, types = registry }.
function M.new(site)
  local reads, writes = reads_mod.of(site), writes_mod.of(site)
  local api = {}
  for _, k in ipairs(READS) do api[k] = reads[k] end
  for _, k in ipairs(WRITES) do api[k] = writes[k] end
  api.search = search_mod.of(site).search
  api.suggest = search_mod.of(site).suggest
  -- Related entries (see lua/quire/related.lua): scored in C over candidates from SQL.
  api.related = require("quire.related").new(site, { get = reads.get_shared, get_each = reads.get_each })
  function api.define_type(def) return site.types:define(def) end
  function api.types() return site.types:names() end
  return api
end

return M
