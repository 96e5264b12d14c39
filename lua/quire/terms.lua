-- Tags and sections: rename and merge, re-indexing the entries they touch.
local core = require "quire.core"
local errors = require "quire.errors"
local store_sql = require "quire.store_sql"
local types = require "quire.types"
local writes_mod = require "quire.content.writes"

local M = {}

function M.new(site)
  local db = site.db
  local writes = writes_mod.of(site)
  local api = {}

  local function find(taxonomy, name)
    if taxonomy ~= "tag" and taxonomy ~= "section" then errors.raise("invalid", "taxonomy must be tag or section") end
    local row = db:row("SELECT id, name, slug FROM terms WHERE taxonomy = ? AND slug = ?", taxonomy, core.slugify(name))
    if not row then errors.raise("not_found", ("no %s %q"):format(taxonomy, name)) end
    return row
  end

  local function bump_entries(term_id, taxonomy, extra)
    local tags = extra or {}
    for _, r in ipairs(db:rows("SELECT entry_id FROM entry_terms WHERE term_id = ?", term_id)) do tags["entry:" .. r.entry_id] = true; tags["teaser:" .. r.entry_id] = true end
    tags["list:all"] = true
    tags["entries:any"] = true
    return tags
  end

  -- Renames a term (its slug follows the new name); every entry keeps it.
  function api.rename(taxonomy, old, new)
    return site.transaction(function()
      local t = find(taxonomy, old)
      local errs = {}
      if not types.check_text(errs, "name", new, types.TEXT_RULES.term.name, site.limits) then
        errors.raise("invalid", "the new name " .. (errs[1] and errs[1].message or "is required"))
      end
      new = core.trim(new) -- as a save trims term names
      local slug = core.slugify(new)
      if slug == "" then errors.raise("invalid", "the new name has no letter a-z (accents aside) or digit to make its URL from: add one") end
      local clash = db:row("SELECT id FROM terms WHERE taxonomy = ? AND slug = ? AND id <> ?", taxonomy, slug, t.id)
      if clash then errors.raise("invalid", ("%s %q exists already: merge into it instead"):format(taxonomy, new)) end
      db:exec("UPDATE terms SET name = ?, slug = ? WHERE id = ?", new, slug, t.id)
      require("quire.redirects").term_renamed(site, taxonomy, t.slug, slug) -- the old list URL keeps working
      writes.forget_batch() -- entries read for a batch name the old term
      site.audit(taxonomy .. ".renamed", taxonomy .. ":" .. slug, ("%s -> %s"):format(t.name, new))
      site.bump(bump_entries(t.id, taxonomy, { ["list:" .. taxonomy .. ":" .. t.slug] = true, ["list:" .. taxonomy .. ":" .. slug] = true,
        ["related:" .. taxonomy .. ":" .. t.slug] = true, ["related:" .. taxonomy .. ":" .. slug] = true }))
      return true
    end)
  end

  -- Moves every entry of FROM to INTO (keeping positions), then removes FROM. Returns how many.
  function api.merge(taxonomy, from, into)
    return site.transaction(function()
      local a, b = find(taxonomy, from), find(taxonomy, into)
      if a.id == b.id then errors.raise("invalid", "cannot merge a term into itself") end
      local tags = bump_entries(a.id, taxonomy, { ["list:" .. taxonomy .. ":" .. a.slug] = true, ["list:" .. taxonomy .. ":" .. b.slug] = true,
        ["related:" .. taxonomy .. ":" .. a.slug] = true, ["related:" .. taxonomy .. ":" .. b.slug] = true })
      -- INTO's entries too: their neighbours within a section change as FROM's join it.
      if taxonomy == "section" then bump_entries(b.id, taxonomy, tags) end
      local n = db:value("SELECT count(*) FROM entry_terms WHERE term_id = ?", a.id)
      if taxonomy == "section" then
        db:exec("UPDATE entry_terms SET term_id = ? WHERE term_id = ?", b.id, a.id)
      else
        store_sql.copy_term_rows(db, a.id, b.id)
        db:exec("DELETE FROM entry_terms WHERE term_id = ?", a.id)
      end
      db:exec("DELETE FROM terms WHERE id = ?", a.id)
      writes.forget_batch()
      site.audit(taxonomy .. ".merged", taxonomy .. ":" .. b.slug, ("%s -> %s (%d entries)"):format(a.name, b.name, n))
      site.bump(tags)
      return n
    end)
  end

  return api
end

return M
