-- Write transactions over a store: begin, commit, rollback, with hooks that other modules
-- register (the cache tags and the search index flush on commit; the term caches forget on
-- begin and on rollback), and the "poisoned transaction" protocol of saves that take no
-- savepoint of their own.
--
-- tx = transaction.new(db)      (init.lua makes one per site: site.tx)
-- tx.run(fn, ...)               runs fn inside a write transaction (BEGIN IMMEDIATE, or a
--                               savepoint when nested): commits when it returns, rolls back and
--                               re-raises when it errors. This is site.transaction.
-- tx:on_begin(f)                f() before the outermost begin
-- tx:on_commit(f)               f() just before the outermost commit, inside the transaction
--                               (in registration order; an error there rolls it all back)
-- tx:on_rollback(f)             f() after any rollback (the transaction's or a savepoint's)
-- tx:poison(err)                the current level holds a half-done save: it cannot commit
-- tx:depth()                    the store's nesting depth (0: no transaction)
--
-- Poison: a save that runs without a savepoint of its own (content writes, when no plugin
-- watches saves) and fails after its first write calls tx:poison. Whatever catches the error,
-- the level that holds the half-done save then only rolls back (which clears the poison); an
-- attempt to commit it raises instead.
local M = {}

local function traceback(e)
  if type(e) == "string" then return debug.traceback(e, 2) end
  return e
end

local function run_all(list)
  for i = 1, #list do list[i]() end
end

-- No closures or tables per call: a bulk script runs one nested transaction per save.
function M.new(db)
  local tx = { begin_hooks = {}, commit_hooks = {}, rollback_hooks = {} }
  local poison = {} -- level: the depth that holds a half-done save; err; refused
  local begin_hooks, commit_hooks, rollback_hooks = tx.begin_hooks, tx.commit_hooks, tx.rollback_hooks

  local function finish(ok, ...)
    local level = db:depth() -- the level this call opened
    if ok and poison.level and level == 1 then
      ok = false
      poison.refused = true
    end
    if ok then
      -- A commit can fail (a full disk): the transaction is then rolled back here, so that the
      -- next one begins afresh rather than nesting inside it.
      local committed, commit_err = pcall(db.commit, db)
      if committed then
        if poison.level and poison.level >= level then poison.level = level - 1 end -- now the parent's
        return ...
      end
      return finish(false, commit_err)
    end
    db:rollback()
    run_all(rollback_hooks)
    if poison.level and poison.level >= level then -- the half-done save went with this level
      local refused = poison.refused and poison.err
      poison.level, poison.err, poison.refused = nil, nil, nil
      if refused then
        error(("a save failed part-way through (%s) and the error was caught: the transaction is rolled back"
          .. " so that it cannot commit half a save"):format(tostring(refused)), 0)
      end
    end
    local e = ...
    if type(e) == "string" then e = e:gsub("\nstack traceback:.*$", "") end
    error(e, 0)
  end
  local function committing(...)
    -- A half-done save only rolls back (finish says why); its hooks' SQL would fail on
    -- PostgreSQL, where the failed statement has aborted the transaction, and hide the reason.
    if not poison.level then run_all(commit_hooks) end
    return ...
  end
  -- The outermost transaction runs the commit hooks after fn, inside it.
  local function outermost(fn, ...)
    return committing(fn(...))
  end

  function tx.run(fn, ...)
    if db:depth() > 0 then
      db:begin()
      return finish(xpcall(fn, traceback, ...))
    end
    poison.level, poison.err, poison.refused = nil, nil, nil -- left over from a raw rollback
    run_all(begin_hooks)
    db:begin()
    return finish(xpcall(outermost, traceback, fn, ...))
  end

  function tx.poison(_, err)
    if db:depth() == 0 then return end
    if not poison.level then poison.level, poison.err = db:depth(), err end
  end

  function tx.depth() return db:depth() end
  return setmetatable(tx, { __index = M })
end

function M:on_begin(f) self.begin_hooks[#self.begin_hooks + 1] = f end
function M:on_commit(f) self.commit_hooks[#self.commit_hooks + 1] = f end
function M:on_rollback(f) self.rollback_hooks[#self.rollback_hooks + 1] = f end

return M
