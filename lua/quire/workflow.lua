-- Editorial workflow: the states an entry can be in and named transitions between them, both
-- registered by plugins (site:state, site:transition); each transition has the least role
-- allowed to take it and Lua preconditions. A refused transition says why and changes nothing.
-- Only "published" is public, whatever states a site adds.
local errors = require "quire.errors"
local time = require "quire.time"

local M = {}

-- The states the core itself relies on (scheduled publishing, public pages, archives).
local BUILTIN_STATES = { "draft", "review", "scheduled", "published", "archived" }

local ROLE_RANK = { contributor = 1, author = 2, editor = 3, admin = 4 }
M.ROLE_RANK = ROLE_RANK

function M.new(site, quire)
  local registry = { transitions = {}, order = {}, states = {}, state_order = {} }
  for _, name in ipairs(BUILTIN_STATES) do
    registry.states[name] = { name = name, label = name, plugin = "quire" }
    registry.state_order[#registry.state_order + 1] = name
  end

  -- Called through site:state in a plugin's setup: def = { name = "legal_review", label = }.
  function registry.define_state(plugin, def)
    if type(def) ~= "table" or type(def.name) ~= "string" or not def.name:match("^[a-z][a-z0-9_]*$") or #def.name > 40 then
      error("a state needs a name (lowercase word, at most 40 characters)", 3)
    end
    if def.name == "trash" then error("state 'trash' is quire's own (deleted entries, see quire entries trash)", 3) end
    local known = registry.states[def.name]
    if known then error(("state '%s' is already defined by %s"):format(def.name, known.plugin == "quire" and "quire" or ("plugin '" .. known.plugin .. "'")), 3) end
    registry.states[def.name] = { name = def.name, label = def.label or def.name, plugin = plugin }
    registry.state_order[#registry.state_order + 1] = def.name
  end

  -- Whether status is a state some plugin (or the core) defined.
  function registry.known_state(status) return registry.states[status] ~= nil end

  -- After every plugin's setup: a transition to or from an undefined state is a start-up error
  -- naming the plugin (states may be defined by a plugin loaded after the transition's).
  function registry.check()
    for _, name in ipairs(registry.order) do
      local t = registry.transitions[name]
      local states = { t.to }
      for s in pairs(t.from) do if s ~= "*" then states[#states + 1] = s end end
      for _, s in ipairs(states) do
        if not registry.states[s] then
          error(("plugin '%s': transition '%s' uses state '%s', which no plugin defines (site:state { name = \"%s\" })"):format(t.plugin, name, s, s), 0)
        end
      end
    end
  end

  -- Called through site:transition in a plugin's setup. def = { name =, from = {...} or "*",
  -- to =, role = "editor", check = function(entry, user) return true | false, why end }
  function registry.define(plugin, def, wrap)
    if type(def) ~= "table" or type(def.name) ~= "string" or not def.name:match("^[a-z][a-z0-9_]*$") then
      error("transition needs a name (lowercase word)", 3)
    end
    if type(def.to) ~= "string" then error(("transition '%s' needs to = STATE"):format(def.name), 3) end
    local from = def.from or "*"
    if type(from) == "string" then from = { from } end
    local role = def.role or "author"
    if not ROLE_RANK[role] then error(("transition '%s': role must be contributor, author, editor or admin"):format(def.name), 3) end
    if def.check ~= nil and type(def.check) ~= "function" then error(("transition '%s': check must be a function"):format(def.name), 3) end
    local t = { name = def.name, to = def.to, from = {}, role = role, plugin = plugin, label = def.label or def.name,
      check = def.check and wrap("check of transition '" .. def.name .. "'", def.check) }
    for _, s in ipairs(from) do t.from[s] = true end
    if not registry.transitions[def.name] then registry.order[#registry.order + 1] = def.name end
    registry.transitions[def.name] = t -- a later plugin may redefine a transition
  end

  local function user_of(who)
    if who == nil then return nil end
    local u = quire.users.get(who)
    if not u then errors.raise("invalid", ("no user %s"):format(tostring(who))) end
    return u
  end

  -- The transitions open to user (a login or id; nil means a trusted script) for entry id.
  function registry.available(id, who)
    local e = quire.content.get(id)
    if not e then return {} end
    local u = user_of(who)
    local out = {}
    for _, name in ipairs(registry.order) do
      local t = registry.transitions[name]
      if (t.from["*"] or t.from[e.status]) and t.to ~= e.status and (not u or ROLE_RANK[u.role] >= ROLE_RANK[t.role]) then
        out[#out + 1] = name
      end
    end
    return out
  end

  -- Takes transition name for entry id as user who. Raises an "invalid" error saying why when
  -- it is refused; on success the entry is saved (a revision records who) and the
  -- entry.transition hook fires, all in one transaction.
  function registry.apply(id, name, who, changes)
    local t = registry.transitions[name]
    if not t then
      errors.raise("invalid", ("no transition '%s' (known: %s)"):format(tostring(name), table.concat(registry.order, ", ")))
    end
    return quire.store.transaction(function()
      local e = quire.content.get(id)
      if not e then errors.raise("not_found", ("no entry %s"):format(tostring(id))) end
      local u = user_of(who)
      local function refuse(why)
        errors.raise("invalid", ("cannot %s entry %d: %s"):format(name, id, why))
      end
      if not (t.from["*"] or t.from[e.status]) then
        local states = {}
        for s in pairs(t.from) do states[#states + 1] = s end
        table.sort(states)
        refuse(("it is %s, and %s starts from %s"):format(e.status, name, table.concat(states, " or ")))
      end
      if u and ROLE_RANK[u.role] < ROLE_RANK[t.role] then
        refuse(("%s is %s %s; it takes %s %s"):format(u.login, u.role:match("^[aeiou]") and "an" or "a", u.role,
          t.role:match("^[aeiou]") and "an" or "a", t.role))
      end
      local update = { status = t.to }
      for k, v in pairs(changes or {}) do update[k] = v end
      if t.check then
        local preview = {}
        for k, v in pairs(e) do preview[k] = v end
        for k, v in pairs(update) do preview[k] = v end
        -- The check sees dates as stored: UTC text, whatever form the caller gave.
        if update.published_at ~= nil then preview.published_at = time.parse(update.published_at) or update.published_at end
        local ok, why = t.check(preview, u)
        if not ok then refuse(type(why) == "string" and why or "a precondition failed") end
      end
      site.acting(u and { id = u.id, name = u.login } or site.actor, quire.content.update, id, update)
      site.hooks:emit("entry.transition", quire.content.get(id), name, u)
      return true
    end)
  end

  return registry
end

return M
