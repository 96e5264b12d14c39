-- Error objects for expected failures (validation, not found, conflicts): a table with
-- message, kind and per-field errors, that prints as "file:line: message" of the caller.
local M = {}

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.message end

-- The first stack level outside the core's own Lua files: where the user's call came from.
local function caller_position()
  for level = 3, 40 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.currentline and info.currentline > 0 and not info.source:match("^@lua/quire/")
      and info.what ~= "C" then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  return ""
end

-- Raises an error object. errors is an optional list of { field =, message = }.
function M.raise(kind, text, errors)
  local e = setmetatable({ kind = kind, errors = errors or {} }, Error)
  e.text = text
  e.message = caller_position() .. text
  error(e, 0)
end

-- An error object without a call-site position (for errors that carry their own).
function M.new(kind, text, errors)
  return setmetatable({ kind = kind, text = text, message = text, errors = errors or {} }, Error)
end

-- Raises a validation error listing every field error at once.
function M.invalid(what, errors)
  local parts = {}
  for _, err in ipairs(errors) do
    parts[#parts + 1] = err.field and (err.field .. ": " .. err.message) or err.message
  end
  M.raise("invalid", what .. ": " .. table.concat(parts, "; "), errors)
end

function M.is(e, kind)
  return getmetatable(e) == Error and (kind == nil or e.kind == kind)
end

return M
