-- quire.json: JSON whose object keys are sorted, so the same data gives the same bytes in every
-- process (Lua's table order is seeded per state): stable ETags across workers, diffable exports.
local cjson = require "cjson"

-- array_mt marks an empty table as a list ("[]"); Debian's lua-cjson 2.1.0 has none of its own.
local M = { null = cjson.null, array_mt = cjson.array_mt or { __name = "quire.json.array" }, decode = cjson.decode }

-- Written into one list of pieces joined once at the end (joining each level's parts copied a
-- feed's bodies once per level of nesting). Encoded keys are kept (a few names recur).
local KEYS_MAX = 1024
local keys_done, keys_n = {}, 0
local function key_of(k)
  local s = keys_done[k]
  if s then return s end
  s = cjson.encode(k) .. ":"
  if keys_n >= KEYS_MAX then keys_done, keys_n = {}, 0 end
  keys_done[k], keys_n = s, keys_n + 1
  return s
end

local function encode_into(v, out, at)
  if type(v) ~= "table" or v == cjson.null then
    out[at] = cjson.encode(v)
    return at + 1
  end
  local n = #v
  local is_array = n > 0 or next(v) == nil and getmetatable(v) == M.array_mt
  if n > 0 then
    for k in pairs(v) do if math.type(k) ~= "integer" or k < 1 or k > n then is_array = false break end end
  end
  if is_array then
    out[at] = "["
    at = at + 1
    for i = 1, n do
      if i > 1 then out[at], at = ",", at + 1 end
      at = encode_into(v[i], out, at)
    end
    out[at] = "]"
    return at + 1
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  out[at] = "{"
  at = at + 1
  for i, k in ipairs(keys) do
    local value = v[k]
    if value == nil then value = v[tonumber(k)] end -- a number key, written as text as cjson does
    out[at] = i > 1 and "," .. key_of(k) or key_of(k)
    at = encode_into(value, out, at + 1)
  end
  out[at] = "}"
  return at + 1
end

local function encode(v)
  if type(v) ~= "table" or v == cjson.null then return cjson.encode(v) end
  local out = {}
  encode_into(v, out, 1)
  return table.concat(out)
end
-- The same walk in C (core/lua_content.c), which hands back to this one a table with a metatable
-- of its own (a proxy's __index and __pairs are seen here), and to cjson the numbers it does not
-- write itself and the values it refuses.
-- (The Lua walk is its fourth upvalue: the reference tests/lua/json_spec.lua holds it to.)
M.encode = require("quire.core").json_encoder(cjson.encode, cjson.null, M.array_mt, encode)

-- Marks t (a new empty table when nil) as a list, so that empty it still encodes as [].
function M.list(t)
  return setmetatable(t or {}, M.array_mt)
end

return M
