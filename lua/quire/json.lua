-- quire.json: JSON whose object keys are sorted, so the same data gives the same bytes in every
-- process (Lua's table order is seeded per state): stable ETags across workers, diffable exports.
local cjson = require "cjson"

-- array_mt marks an empty table as a list ("[]"); Debian's lua-cjson 2.1.0 has none of its own.
local M = { null = cjson.null, array_mt = cjson.array_mt or { __name = "quire.json.array" }, decode = cjson.decode }

local function encode(v)
  if type(v) ~= "table" or v == cjson.null then return cjson.encode(v) end
  local n = #v
  local is_array = n > 0 or next(v) == nil and getmetatable(v) == M.array_mt
  if n > 0 then
    for k in pairs(v) do if math.type(k) ~= "integer" or k < 1 or k > n then is_array = false break end end
  end
  local parts = {}
  if is_array then
    for i = 1, n do parts[i] = encode(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local value = v[k]
    if value == nil then value = v[tonumber(k)] end -- a number key, written as text as cjson does
    parts[i] = cjson.encode(k) .. ":" .. encode(value)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end
M.encode = encode

-- Marks t (a new empty table when nil) as a list, so that empty it still encodes as [].
function M.list(t)
  return setmetatable(t or {}, M.array_mt)
end

return M
