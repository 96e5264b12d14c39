-- Dates for the store: everything is kept as UTC ISO-8601 text ("2023-06-16T09:30:00Z"). And
-- dates for people: the site's time zone (site.lua `timezone`, an IANA name; offsets and daylight
-- saving time from the system tz database, core/tz.c) and language (month names, date order and
-- "5 minutes ago" from the gettext catalogues, quire.i18n).
--
--   time.to_local(utc, zone)              "2026-07-01T01:30:00+02:00" (RFC 3339 with the offset)
--   time.from_local(text, zone)           "2026-06-30T23:30:00Z", kind ("exact" | "ambiguous" | "gap")
--   time.local_parts(utc, zone)           { year, month, day, hour, min, sec, wday, offset, isdst, abbr }
--   time.format_local(utc, pattern, lang, zone)  "16. juni 2026 kl. 09:30": pattern a name ("date",
--                                          "datetime", "time", "short") or strftime-like text
--   time.rfc822(utc, zone)                "Wed, 01 Jul 2026 01:30:00 +0200" (RSS)
--   time.ago(utc, now, lang)              "5 minutes ago"
-- utc is stored text or epoch seconds; zone and lang default to the site's (time.zone, i18n).
local core = require "quire.core"

local M = {}

M.zone = "UTC" -- the site's time zone, set when a site opens

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


-- The epoch seconds of stored text, other ISO text or a number; raises on anything else (misuse).
local function epoch_of(v, level)
  if math.type(v) == "integer" then return v end
  if type(v) == "number" then return math.floor(v) end
  local e = type(v) == "string" and M.epoch(v)
  if e then return e end
  local norm, err = M.parse(v)
  if not norm then error(err, (level or 1) + 1) end
  return M.epoch(norm)
end

-- true, or nil and a message naming how to find valid names.
function M.check_zone(name)
  if type(name) ~= "string" then return nil, "a time zone is a name such as \"Europe/Oslo\"" end
  local ok, err = core.tz_check(name)
  if ok then return true end
  return nil, err .. "; valid names are the IANA ones, listed by `timedatectl list-timezones` or found under /usr/share/zoneinfo (e.g. \"Europe/Oslo\", \"Asia/Beirut\", \"UTC\")"
end

-- The offset, DST flag and abbreviation in force in zone at epoch t. The zone's answer holds
-- over a span of instants (between two of its changes, core.tz_lookup says which): the last span
-- is kept, and the dates of a page or a list, mostly in one, cost no lookup.
local span_zone, span_from, span_until, span_offset, span_isdst, span_abbr = nil, 0, 0, 0, false, ""
local function lookup(zone, t)
  if zone ~= span_zone or t < span_from or t >= span_until then
    span_offset, span_isdst, span_abbr, span_from, span_until = core.tz_lookup(zone, t)
    span_zone = zone
  end
  return span_offset, span_isdst, span_abbr
end

function M.local_parts(utc, zone)
  local t = epoch_of(utc, 2)
  local offset, isdst, abbr = lookup(zone or M.zone, t)
  local parts = os.date("!*t", t + offset)
  parts.offset, parts.isdst, parts.abbr = offset, isdst, abbr
  return parts
end

local function offset_text(offset, colon)
  if offset == 0 and colon then return "Z" end
  local sign = offset < 0 and "-" or "+"
  offset = math.abs(offset)
  return ("%s%02d%s%02d"):format(sign, offset // 3600, colon and ":" or "", offset % 3600 // 60)
end

-- Days since 1970-01-01 -> year, month, day (the inverse of days_from_civil, Howard Hinnant's).
local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, doy - (153 * mp + 2) // 5 + 1
end

-- to_local and rfc822 are arithmetic on the epoch and the span's offset: no table, and no
-- per-stamp cache (whose misses, past its size in a large archive, cost more than this).
-- utc in zone -> the local days since 1970-01-01, seconds into that day, offset.
local function wall(utc, zone)
  local t = epoch_of(utc, 3)
  local offset = lookup(zone or M.zone, t)
  local s = t + offset
  return s // 86400, s % 86400, offset
end

function M.to_local(utc, zone)
  local days, secs, offset = wall(utc, zone)
  local y, m, d = civil_from_days(days)
  return ("%04d-%02d-%02dT%02d:%02d:%02d%s"):format(y, m, d, secs // 3600, secs % 3600 // 60, secs % 60, offset_text(offset, true))
end

-- "2026-03-29 02:30", "2026-03-29T02:30:00" (a wall-clock reading in zone) -> UTC text, kind. A
-- reading the clocks skipped ("gap") is moved forward by the change; one they showed twice
-- ("ambiguous") is the earlier instant. Text with Z or an offset is taken as it says.
function M.from_local(text, zone)
  if type(text) ~= "string" then return nil, "expected a local date and time as text, e.g. \"2026-03-29 09:30\"" end
  local y, mo, d, rest = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil, ("not a date: %q (use YYYY-MM-DD HH:MM)"):format(text) end
  if rest:match("Z$") or rest:match("[+-]%d%d:?%d%d$") then
    local norm, err = M.parse(text)
    return norm, norm and "exact" or err
  end
  local h, mi, s = 0, 0, 0
  if rest ~= "" then
    local hh, mm, ss = rest:match("^[T ](%d%d):(%d%d)(.*)$")
    if not hh then return nil, ("not a time: %q (use YYYY-MM-DD HH:MM)"):format(text) end
    h, mi = tonumber(hh), tonumber(mm)
    if ss ~= "" then
      s = tonumber(ss:match("^:(%d%d)$"))
      if not s then return nil, ("not a time: %q (use HH:MM or HH:MM:SS)"):format(text) end
    end
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) or h > 23 or mi > 59 or s > 59 then
    return nil, ("not a valid date: %q"):format(text)
  end
  local ok, zone_err = M.check_zone(zone or M.zone)
  if not ok then return nil, zone_err end
  local t, kind = core.tz_from_local(zone or M.zone, days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)
  return M.format(t), kind
end

local EN_DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local EN_MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
function M.rfc822(utc, zone)
  local days, secs, offset = wall(utc, zone)
  local y, m, d = civil_from_days(days)
  return ("%s, %02d %s %04d %02d:%02d:%02d %s"):format(EN_DAYS[(days + 4) % 7 + 1], d, EN_MONTHS[m], y,
    secs // 3600, secs % 3600 // 60, secs % 60, offset_text(offset, false))
end

local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December" }
local DAYS = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" }
-- The named patterns, each translated (context "date format") to the language's order.
local NAMED = { date = "%B %-d, %Y", datetime = "%B %-d, %Y at %H:%M", time = "%H:%M", short = "%b %-d, %Y" }

-- Dates in words. Pattern directives: %Y %m %-m %d %-d %H %-H %I %-I %M %S %p, %B %b (month),
-- %A %a (weekday), %Z (abbreviation, "CEST"), %z (+0200), %%. Names come from the catalogues
-- (contexts "month", "month abbr", "weekday", "weekday abbr", "am/pm").
function M.format_local(utc, pattern, lang, zone)
  local i18n = require "quire.i18n"
  local p = M.local_parts(utc, zone)
  if NAMED[pattern] then pattern = i18n.pgettext("date format", NAMED[pattern], lang) end
  local h12 = (p.hour + 11) % 12 + 1
  return (pattern:gsub("%%(%-?)(.)", function(flag, c)
    local pad = flag == "" and "%02d" or "%d"
    if c == "Y" then return tostring(p.year)
    elseif c == "m" then return pad:format(p.month)
    elseif c == "d" then return pad:format(p.day)
    elseif c == "H" then return pad:format(p.hour)
    elseif c == "I" then return pad:format(h12)
    elseif c == "M" then return ("%02d"):format(p.min)
    elseif c == "S" then return ("%02d"):format(p.sec)
    elseif c == "B" then return i18n.pgettext("month", MONTHS[p.month], lang)
    elseif c == "b" then return i18n.pgettext("month abbr", MONTHS[p.month]:sub(1, 3), lang)
    elseif c == "A" then return i18n.pgettext("weekday", DAYS[p.wday], lang)
    elseif c == "a" then return i18n.pgettext("weekday abbr", DAYS[p.wday]:sub(1, 3), lang)
    elseif c == "p" then return i18n.pgettext("am/pm", p.hour < 12 and "AM" or "PM", lang)
    elseif c == "Z" then return p.abbr
    elseif c == "z" then return offset_text(p.offset, false)
    elseif c == "%" then return "%"
    end
    error(("time.format: unknown directive %%%s%s in %q"):format(flag, c, pattern), 3)
  end))
end

-- "just now", "5 minutes ago", "3 hours ago", "2 days ago"; past a week, the date.
function M.ago(utc, now, lang, zone)
  local i18n = require "quire.i18n"
  local t = epoch_of(utc, 2)
  local secs = (now and epoch_of(now, 2) or os.time()) - t
  if secs < 60 then return i18n.gettext("just now", lang) end
  local n, one, many
  if secs < 3600 then n, one, many = secs // 60, "%d minute ago", "%d minutes ago"
  elseif secs < 86400 then n, one, many = secs // 3600, "%d hour ago", "%d hours ago"
  elseif secs < 7 * 86400 then n, one, many = secs // 86400, "%d day ago", "%d days ago"
  else return M.format_local(t, "date", lang, zone) end
  return (i18n.ngettext(one, many, n, lang):gsub("%%d", tostring(n)))
end

return M
