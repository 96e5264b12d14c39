-- `quire store copy`: moves a site's data between stores (SQLite <-> PostgreSQL) row for row,
-- ids and id counters included, in one transaction on the receiving side. Derived data (the
-- search index) is rebuilt there by its own triggers; the kept counts are copied last, over
-- what the triggers counted, so they stay exactly as they were.
local M = {}

local BATCH_ROWS = 500     -- rows per INSERT statement (and per read of the source)
local MAX_PARAMS = 30000   -- under SQLite's 32766 and PostgreSQL's 65535 parameters a statement

local function is_pg(db) return db.kind ~= nil and db:kind() == "postgresql" end

local function quote(name) return '"' .. name:gsub('"', '""') .. '"' end

-- What each store keeps for itself rather than as site data: bookkeeping and search indexes.
local function own_table(pg, name)
  if name == "schema_migrations" then return true end
  if pg then return name == "entries_search" or name == "quire_search_config" end
  return name:match("^sqlite_") or name:match("^entries_fts") or name:match("^search_")
end

-- Tables (by name) with their columns in order and primary-key columns.
local function schema(db)
  local pg, tables = is_pg(db), {}
  if pg then
    for _, r in ipairs(db:rows("SELECT c.table_name AS t, c.column_name AS c FROM information_schema.columns c"
      .. " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
      .. " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position")) do
      if not own_table(true, r.t) then
        tables[r.t] = tables[r.t] or { columns = {}, pk = {} }
        table.insert(tables[r.t].columns, r.c)
      end
    end
    for _, r in ipairs(db:rows("SELECT tc.table_name AS t, k.column_name AS c FROM information_schema.table_constraints tc"
      .. " JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema"
      .. " WHERE tc.table_schema = current_schema() AND tc.constraint_type = 'PRIMARY KEY' ORDER BY tc.table_name, k.ordinal_position")) do
      if tables[r.t] then table.insert(tables[r.t].pk, r.c) end
    end
  else
    for _, r in ipairs(db:rows("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")) do
      if not own_table(false, r.name) then
        local t = { columns = {}, pk = {} }
        local pks = {}
        for _, c in ipairs(db:rows("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", r.name)) do
          t.columns[#t.columns + 1] = c.name
          if c.pk > 0 then pks[#pks + 1] = c end
        end
        table.sort(pks, function(a, b) return a.pk < b.pk end)
        for i, c in ipairs(pks) do t.pk[i] = c.name end
        tables[r.name] = t
      end
    end
  end
  return tables
end

-- Parents before children (by the SQLite side's foreign keys, the same on both); settings
-- first (the search language is read when entries are indexed); entry_counts last (it is
-- counted by triggers as entries arrive, then overwritten with the source's rows).
local function order(sqlite_db, tables)
  local names = {}
  for n in pairs(tables) do names[#names + 1] = n end
  table.sort(names)
  local ordered, done = { "settings" }, { settings = true, entry_counts = true }
  local function visit(n, depth)
    if done[n] or depth > #names then return end
    done[n] = true
    for _, fk in ipairs(sqlite_db:rows("SELECT \"table\" AS parent FROM pragma_foreign_key_list(?)", n)) do
      if tables[fk.parent] and fk.parent ~= n then visit(fk.parent, depth + 1) end
    end
    ordered[#ordered + 1] = n
  end
  for _, n in ipairs(names) do visit(n, 0) end
  if tables.entry_counts then ordered[#ordered + 1] = "entry_counts" end
  return ordered
end

-- Both stores must hold the same tables and columns at the same schema version.
local function compare(src, dst, src_tables, dst_tables)
  local sv, dv = src:schema_version(), dst:schema_version()
  if sv ~= dv then
    return ("the schema versions differ (source %d, target %d): upgrade quire so both stores are at the same version,"
      .. " then open each once to migrate it"):format(sv, dv)
  end
  local problems = {}
  for n, t in pairs(src_tables) do
    local d = dst_tables[n]
    if not d then
      problems[#problems + 1] = ("table %s is missing on the target"):format(n)
    else
      local want = table.concat(t.columns, ",")
      local have = {}
      for _, c in ipairs(d.columns) do have[c] = true end
      for _, c in ipairs(t.columns) do
        if not have[c] then problems[#problems + 1] = ("column %s.%s is missing on the target"):format(n, c) end
      end
      if #d.columns ~= #t.columns and want then
        for _, c in ipairs(d.columns) do
          local found = false
          for _, s in ipairs(t.columns) do found = found or s == c end
          if not found then problems[#problems + 1] = ("column %s.%s is only on the target"):format(n, c) end
        end
      end
    end
  end
  for n in pairs(dst_tables) do
    if not src_tables[n] then problems[#problems + 1] = ("table %s is only on the target"):format(n) end
  end
  table.sort(problems)
  if #problems > 0 then return "the two stores' schemas differ: " .. table.concat(problems, "; ") end
end

-- The id counters: SQLite's sqlite_sequence (AUTOINCREMENT tables) <-> PostgreSQL's identity
-- sequences, so ids deleted before the copy are not handed out again after it.
local function counters_from(db, tables)
  local out = {}
  if is_pg(db) then
    for n, t in pairs(tables) do
      local seq = t.pk[1] == "id" and db:value("SELECT pg_get_serial_sequence(?, 'id')", quote(n))
      if seq then
        local r = db:row("SELECT last_value, is_called FROM " .. seq)
        out[n] = r.is_called == 1 and r.last_value or r.last_value - 1
      end
    end
  else
    for _, r in ipairs(db:rows("SELECT name, seq FROM sqlite_sequence")) do out[r.name] = r.seq end
  end
  return out
end

local function counters_to(db, tables, counters)
  if is_pg(db) then
    for n, t in pairs(tables) do
      local seq = t.pk[1] == "id" and db:value("SELECT pg_get_serial_sequence(?, 'id')", quote(n))
      if seq then
        local top = math.max(counters[n] or 0, db:value("SELECT coalesce(max(id), 0) FROM " .. quote(n)))
        if top > 0 then db:value("SELECT setval(?, ?, true)", seq, top)
        else db:value("SELECT setval(?, 1, false)", seq) end
      end
    end
  else
    for n, v in pairs(counters) do
      if tables[n] then
        db:exec("DELETE FROM sqlite_sequence WHERE name = ?", n)
        db:exec("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", n, v)
      end
    end
  end
end

-- Copies one table in primary-key order, BATCH_ROWS rows at a time (keyset reads: no OFFSET).
local function copy_table(src, dst, name, t)
  local cols = {}
  for i, c in ipairs(t.columns) do cols[i] = quote(c) end
  local pk = {}
  for i, c in ipairs(t.pk) do pk[i] = quote(c) end
  local keyed = #pk > 0
  local per = math.max(1, math.min(BATCH_ROWS, MAX_PARAMS // #cols))
  local select = ("SELECT %s FROM %s"):format(table.concat(cols, ", "), quote(name))
  local tail = keyed and (" ORDER BY %s LIMIT %d"):format(table.concat(pk, ", "), per) or ""
  local after = keyed and (" WHERE (%s) > (%s)"):format(table.concat(pk, ", "), ("?, "):rep(#pk):sub(1, -3)) or ""
  local row_marks = "(" .. ("?, "):rep(#cols):sub(1, -3) .. ")"
  local copied, last = 0, nil
  -- Rows the receiving side's triggers made while earlier tables arrived (entry_counts) give way.
  dst:exec("DELETE FROM " .. quote(name))
  while true do
    local rows = last and src:rows(select .. after .. tail, table.unpack(last)) or src:rows(select .. tail)
    if #rows == 0 then break end
    -- NULLs are holes in args: it is unpacked by count, not by its length
    local marks, args, n = {}, {}, 0
    for _, r in ipairs(rows) do
      marks[#marks + 1] = row_marks
      for _, c in ipairs(t.columns) do
        n = n + 1
        args[n] = r[c]
      end
    end
    dst:exec(("INSERT INTO %s (%s) VALUES %s"):format(quote(name), table.concat(cols, ", "), table.concat(marks, ", ")),
      table.unpack(args, 1, n))
    copied = copied + #rows
    if not keyed then break end
    last = {}
    for i, c in ipairs(t.pk) do last[i] = rows[#rows][c] end
    if #rows < per then break end
  end
  return copied
end

-- copy(src, dst): every site table from store src into store dst (connections from
-- core.open_store / core.open_pg), which must hold no site data yet. Returns a list of
-- { table =, rows = } in copy order, or nil and a message; dst is unchanged on failure.
-- The first site table of store db that holds rows, and how many: nil when it holds no site
-- data (a store just migrated).
function M.holds_data(db, tables)
  for n in pairs(tables or schema(db)) do
    local c = n ~= "entry_counts" and db:value("SELECT count(*) FROM " .. quote(n)) or 0
    if c > 0 then return n, c end
  end
end

function M.copy(src, dst)
  local src_tables, dst_tables = schema(src), schema(dst)
  local err = compare(src, dst, src_tables, dst_tables)
  if err then return nil, err end
  local full, c = M.holds_data(dst, dst_tables)
  if full then
    return nil, ("the target already holds data (%d rows in %s): copy only into a new, empty store"):format(c, full)
  end
  local sqlite_side = is_pg(src) and dst or src
  local report = {}
  local ok, cerr = pcall(function()
    dst:begin()
    if is_pg(dst) then dst:exec("SET CONSTRAINTS ALL DEFERRED") else dst:exec("PRAGMA defer_foreign_keys = ON") end
    for _, n in ipairs(order(sqlite_side, src_tables)) do
      report[#report + 1] = { table = n, rows = copy_table(src, dst, n, src_tables[n]) }
    end
    counters_to(dst, dst_tables, counters_from(src, src_tables))
    dst:commit()
  end)
  if not ok then
    while dst:depth() > 0 do dst:rollback() end
    return nil, "copy failed, nothing was written: " .. tostring(cerr)
  end
  local problems = dst:check()
  for _, p in ipairs(problems) do
    if p.what ~= "note" then return nil, ("copied, but the target's check found a problem: %s: %s"):format(p.what, p.detail) end
  end
  return report
end

return M
