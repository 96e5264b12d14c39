-- Dates for the store: everything is kept as UTC ISO-8601 text ("2023-06-16T09:30:00Z").
local M = {}

local function days_from_civil(y, m, d)
  -- Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function days_in_month(y, m)
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  return ({ 31, leap and 29 or 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
end

function M.format(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", epoch)
end

-- The text changes once a second: a bulk run of a thousand saves formats it once.
local last_epoch, last_text
function M.now()
  local t = os.time()
  if t ~= last_epoch then last_epoch, last_text = t, M.format(t) end
  return last_text
end

-- Accepts an epoch number or text: "2023-06-16", "2023-06-16 09:30", "2023-06-16T09:30:00Z",
-- "2023-06-16T09:30:00+02:00". Returns the normalised UTC text, or nil and a message.
function M.parse(v)
  if math.type(v) == "integer" or math.type(v) == "float" then
    return M.format(math.floor(v))
  end
  if type(v) ~= "string" then
    return nil, "expected a date (text or number), got " .. type(v)
  end
  local y, mo, d, rest = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil, ("not a date: %q (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"):format(v) end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  local h, mi, s, offset = 0, 0, 0, 0
  if rest ~= "" then
    local hh, mm, tail = rest:match("^[T ](%d%d):(%d%d)(.*)$")
    if not hh then return nil, ("not a date: %q"):format(v) end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, tail2 = tail:match("^:(%d%d)(.*)$")
    if ss then s, tail = tonumber(ss), tail2 end
    tail = tail:gsub("^%.%d+", "") -- fractions of a second are dropped
    if tail == "Z" or tail == "" then
      offset = 0
    else
      local sign, oh, om = tail:match("^([+-])(%d%d):?(%d%d)$")
      if not sign then return nil, ("not a date: %q (bad time zone)"):format(v) end
      offset = (tonumber(oh) * 60 + tonumber(om)) * 60 * (sign == "+" and 1 or -1)
    end
  end
  if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) or h > 23 or mi > 59 or s > 60 then
    return nil, ("not a valid date: %q"):format(v)
  end
  local epoch = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + math.min(s, 59) - offset
  return M.format(epoch)
end

-- The epoch seconds of a stored time text.
function M.epoch(text)
  local y, mo, d, h, mi, s = text:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)Z$")
  if not y then return nil end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

return M
