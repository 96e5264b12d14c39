-- Word-level diffs for revisions and search-replace samples: "[-old-]{+new+}" like
-- git diff --word-diff=plain.
local M = {}

local function tokens(s)
  local out = {}
  for word, space in s:gmatch("(%S*)(%s*)") do
    if word ~= "" then out[#out + 1] = word end
    if space ~= "" then out[#out + 1] = space end
  end
  return out
end

local MAX_CELLS = 4000000 -- beyond this the changed middle is shown whole, not aligned

-- diff.ops(a, b) -> the word-level edit from a to b as runs { kind, text }, kind "=" (both),
-- "-" (only in a) or "+" (only in b), adjacent runs of one kind merged.
function M.ops(a, b)
  local x, y = tokens(a), tokens(b)
  local lo = 1
  while lo <= #x and lo <= #y and x[lo] == y[lo] do lo = lo + 1 end
  local hx, hy = #x, #y
  while hx >= lo and hy >= lo and x[hx] == y[hy] do hx, hy = hx - 1, hy - 1 end
  local ops = {} -- { kind = "=", "-", "+", text }
  for i = 1, lo - 1 do ops[#ops + 1] = { "=", x[i] } end
  local n, m = hx - lo + 1, hy - lo + 1
  if n > 0 and m > 0 and n * m <= MAX_CELLS then
    -- LCS table over the middle, then walk it.
    local L = {}
    for i = n + 1, 1, -1 do
      L[i] = {}
      for j = m + 1, 1, -1 do
        if i > n or j > m then L[i][j] = 0
        elseif x[lo + i - 1] == y[lo + j - 1] then L[i][j] = L[i + 1][j + 1] + 1
        else L[i][j] = math.max(L[i + 1][j], L[i][j + 1]) end
      end
    end
    local i, j = 1, 1
    while i <= n or j <= m do
      if i <= n and j <= m and x[lo + i - 1] == y[lo + j - 1] then
        ops[#ops + 1] = { "=", x[lo + i - 1] }; i, j = i + 1, j + 1
      elseif i <= n and (j > m or L[i + 1][j] >= L[i][j + 1]) then
        ops[#ops + 1] = { "-", x[lo + i - 1] }; i = i + 1
      else
        ops[#ops + 1] = { "+", y[lo + j - 1] }; j = j + 1
      end
    end
  else
    for i = lo, hx do ops[#ops + 1] = { "-", x[i] } end
    for j = lo, hy do ops[#ops + 1] = { "+", y[j] } end
  end
  for i = hx + 1, #x do ops[#ops + 1] = { "=", x[i] } end
  -- Merge runs of the same kind.
  local runs, kind, run = {}, nil, {}
  local function flush()
    if kind then runs[#runs + 1] = { kind, table.concat(run) } end
  end
  for _, op in ipairs(ops) do
    if op[1] ~= kind then flush(); kind, run = op[1], {} end
    run[#run + 1] = op[2]
  end
  flush()
  return runs
end

-- diff.words(a, b [, context]) -> text with [-removed-] and {+added+}; with context, unchanged
-- runs longer than that many characters are cut to their ends.
function M.words(a, b, context)
  local out = {}
  for _, r in ipairs(M.ops(a, b)) do
    local kind, text = r[1], r[2]
    if kind == "=" then
      if context and #text > 2 * context then text = text:sub(1, context) .. "…" .. text:sub(-context) end
      out[#out + 1] = text
    elseif kind == "-" then out[#out + 1] = "[-" .. text .. "-]"
    else out[#out + 1] = "{+" .. text .. "+}" end
  end
  return table.concat(out)
end

-- The changes between two revisions' fields, one line per field that differs ("fields.NAME:
-- [-old-]{+new+}"), by name; a value is compared as canonical JSON (object keys sorted), so the
-- same value stored with its keys in another order is no change.
function M.fields(a, b)
  local json = require "quire.json"
  local names, seen = {}, {}
  for _, t in ipairs({ a or {}, b or {} }) do
    for k in pairs(t) do
      if not seen[k] then seen[k], names[#names + 1] = true, tostring(k) end
    end
  end
  table.sort(names)
  local lines = {}
  for _, k in ipairs(names) do
    local va, vb = (a or {})[k], (b or {})[k]
    local ta = va == nil and "" or (type(va) == "string" and va or json.encode(va))
    local tb = vb == nil and "" or (type(vb) == "string" and vb or json.encode(vb))
    if ta ~= tb or (va == nil) ~= (vb == nil) then lines[#lines + 1] = ("fields.%s: %s"):format(k, M.words(ta, tb)) end
  end
  return lines
end

return M
