-- Dates for people: UTC <-> local time in any IANA zone (DST both ways, dates that cross
-- midnight), site.lua's timezone/language checks, and the documented quire.time API.
local testing = require "quire.testing"
local time = require "quire.time"

describe("quire.time zones", function()
  it("converts UTC to local time across the DST changes", function()
    -- Oslo, spring 2026: 01:00 UTC on 29 March, CET (+01:00) becomes CEST (+02:00).
    assert.equal("2026-03-29T01:59:59+01:00", time.to_local("2026-03-29T00:59:59Z", "Europe/Oslo"))
    assert.equal("2026-03-29T03:00:00+02:00", time.to_local("2026-03-29T01:00:00Z", "Europe/Oslo"))
    -- Autumn: 01:00 UTC on 25 October, back to +01:00.
    assert.equal("2026-10-25T02:59:59+02:00", time.to_local("2026-10-25T00:59:59Z", "Europe/Oslo"))
    assert.equal("2026-10-25T02:00:00+01:00", time.to_local("2026-10-25T01:00:00Z", "Europe/Oslo"))
    -- Beirut is 2 h (3 h in summer) ahead; New York behind; Kolkata by a half hour.
    assert.equal("2026-07-01T02:30:00+03:00", time.to_local("2026-06-30T23:30:00Z", "Asia/Beirut"))
    assert.equal("2026-01-01T04:30:00+05:30", time.to_local("2025-12-31T23:00:00Z", "Asia/Kolkata"))
    assert.equal("2026-06-30T19:30:00-04:00", time.to_local("2026-06-30T23:30:00Z", "America/New_York"))
  end)

  it("gives the local date of an instant late in the UTC day: the next day in Oslo", function()
    local p = time.local_parts("2026-06-30T23:30:00Z", "Europe/Oslo")
    assert.same({ 2026, 7, 1, 1, 30, 7200, true, "CEST" }, { p.year, p.month, p.day, p.hour, p.min, p.offset, p.isdst, p.abbr })
    assert.equal(4, p.wday) -- a Wednesday (1 is Sunday)
  end)

  it("converts local wall-clock time to UTC: exact, skipped and repeated readings", function()
    assert.same({ "2026-06-30T23:30:00Z", "exact" }, { time.from_local("2026-07-01 01:30", "Europe/Oslo") })
    assert.same({ "2026-01-15T08:00:00Z", "exact" }, { time.from_local("2026-01-15T09:00:00", "Europe/Oslo") })
    -- 02:30 on 29 March never happened in Oslo: it is taken as 03:30 CEST.
    assert.same({ "2026-03-29T01:30:00Z", "gap" }, { time.from_local("2026-03-29 02:30", "Europe/Oslo") })
    -- 02:30 on 25 October happened twice: the first.
    assert.same({ "2026-10-25T00:30:00Z", "ambiguous" }, { time.from_local("2026-10-25 02:30", "Europe/Oslo") })
    -- With an offset it is not a local reading.
    assert.same({ "2026-03-29T00:30:00Z", "exact" }, { time.from_local("2026-03-29T02:30:00+02:00", "Europe/Oslo") })
    local v, err = time.from_local("2026-02-30 10:00", "Europe/Oslo")
    assert.is_nil(v)
    assert.matches("not a valid date", err)
    v, err = time.from_local("2026-02-03 10:00", "Mars/Olympus")
    assert.is_nil(v)
    assert.matches('unknown time zone "Mars/Olympus"', err, 1, true)
    assert.matches("timedatectl list-timezones", err, 1, true)
  end)

  it("formats RFC 822 dates with the local offset, in English whatever the language", function()
    assert.equal("Wed, 01 Jul 2026 01:30:00 +0200", time.rfc822("2026-06-30T23:30:00Z", "Europe/Oslo"))
    assert.equal("Tue, 30 Jun 2026 23:30:00 +0000", time.rfc822("2026-06-30T23:30:00Z", "UTC"))
  end)

  it("keeps a zone's offset between its changes, and is right on both sides of each", function()
    local core = require "quire.core"
    -- What the zone says at t, asked afresh each time (no span kept), in to_local's and rfc822's form.
    local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
    local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
    local function expected(t, zone)
      local off = core.tz_lookup(zone, t)
      local sign, a = off < 0 and "-" or "+", math.abs(off)
      local hm = ("%s%02d%02d"):format(sign, a // 3600, a % 3600 // 60)
      local p = os.date("!*t", t + off)
      return os.date("!%Y-%m-%dT%H:%M:%S", t + off) .. (off == 0 and "Z" or hm:sub(1, 3) .. ":" .. hm:sub(4)),
        ("%s, %02d %s %04d %02d:%02d:%02d %s"):format(DAYS[p.wday], p.day, MONTHS[p.month], p.year, p.hour, p.min, p.sec, hm)
    end
    -- Stamps a second either side of each change, in an order that crosses the spans both ways:
    -- Oslo's table of changes, its rule past the table (2100), Sydney's summer over the new year
    -- (the rule's year cut), St John's half hours, Kolkata without changes, UTC.
    local stamps = {}
    local function around(zone, t) for _, d in ipairs({ 1, -1, 0, -3600, 3600, -86400 * 200 }) do stamps[#stamps + 1] = { zone, t + d } end end
    around("Europe/Oslo", 1774746000) -- 2026-03-29T01:00:00Z: CET -> CEST
    around("Europe/Oslo", 1792890000) -- 2026-10-25T01:00:00Z: CEST -> CET
    around("Europe/Oslo", 4109878800) -- 2100-03-28T01:00:00Z, from the zone's rule
    around("Australia/Sydney", 1775318400) -- 2026-04-04T16:00:00Z: AEDT -> AEST
    around("Australia/Sydney", 4102444800) -- 2100-01-01T00:00:00Z: summer over the new year
    around("America/St_Johns", 1772947800) -- 2026-03-08T05:30:00Z: -03:30 -> -02:30
    around("Asia/Kolkata", 1782862200)
    around("UTC", 1782862200)
    for round = 1, 2 do -- forwards, then backwards
      local from, to, step = 1, #stamps, 1
      if round == 2 then from, to, step = #stamps, 1, -1 end
      for i = from, to, step do
        local zone, t = stamps[i][1], stamps[i][2]
        local iso, rfc = expected(t, zone)
        assert.equal(iso, time.to_local(t, zone))
        assert.equal(iso, time.to_local(time.format(t), zone))
        assert.equal(rfc, time.rfc822(time.format(t), zone))
      end
    end
    assert.equal("2026-03-29T01:59:59+01:00", time.to_local(1774745999, "Europe/Oslo"))
    assert.equal("2026-03-29T03:00:00+02:00", time.to_local(1774746000, "Europe/Oslo"))
    -- Every hour of two years in Oslo and Sydney, then a hundred thousand random instants
    -- (1900 to 2200) in either: each as the zone says afresh.
    for _, zone in ipairs({ "Europe/Oslo", "Australia/Sydney" }) do
      for t = 1767225600, 1767225600 + 2 * 365 * 86400, 3600 do assert.equal((expected(t, zone)), time.to_local(t, zone)) end
    end
    local seed = 21
    for _ = 1, 100000 do
      seed = (seed * 1103515245 + 12345) % 2147483648
      local t = -2208988800 + seed * 4 + seed % 4
      local zone = seed % 3 == 0 and "Australia/Sydney" or "Europe/Oslo"
      assert.equal((expected(t, zone)), time.to_local(t, zone))
    end
    -- The site's zone when none is given: a change of it is seen at once.
    local stamp = "2026-06-30T23:30:00Z"
    local zone = time.zone
    time.zone = "Asia/Beirut"
    assert.equal("2026-07-01T02:30:00+03:00", time.to_local(stamp))
    time.zone = "UTC"
    assert.equal("2026-06-30T23:30:00Z", time.to_local(stamp))
    assert.equal("Tue, 30 Jun 2026 23:30:00 +0000", time.rfc822(stamp))
    time.zone = zone
    -- Not text: as before, an epoch number works and anything else is refused.
    assert.equal("2026-07-01T01:30:00+02:00", time.to_local(1782862200, "Europe/Oslo"))
    assert.has_error(function() time.to_local({}, "Europe/Oslo") end)
    assert.has_error(function() time.to_local("not a date", "Europe/Oslo") end)
  end)

  it("formats dates in words by pattern", function()
    assert.equal("July 1, 2026", time.format_local("2026-06-30T23:30:00Z", "date", "en", "Europe/Oslo"))
    assert.equal("June 30, 2026 at 23:30", time.format_local("2026-06-30T23:30:00Z", "datetime", "en", "UTC"))
    assert.equal("Wed 01/07/2026 01:30 CEST +0200 AM 1", time.format_local("2026-06-30T23:30:00Z", "%a %d/%m/%Y %H:%M %Z %z %p %-I", "en", "Europe/Oslo"))
    assert.has_error(function() time.format_local("2026-06-30T23:30:00Z", "%Q", "en", "UTC") end)
  end)

  it("says how long ago, with plural forms", function()
    local now = "2026-06-30T12:00:00Z"
    assert.equal("just now", time.ago("2026-06-30T11:59:30Z", now, "en"))
    assert.equal("1 minute ago", time.ago("2026-06-30T11:59:00Z", now, "en"))
    assert.equal("5 minutes ago", time.ago("2026-06-30T11:55:00Z", now, "en"))
    assert.equal("3 hours ago", time.ago("2026-06-30T09:00:00Z", now, "en"))
    assert.equal("2 days ago", time.ago("2026-06-28T11:00:00Z", now, "en"))
    assert.equal("June 1, 2026", time.ago("2026-06-01T11:00:00Z", now, "en", "UTC"))
  end)

  it("is fast enough for every date on every page", function()
    local t0 = os.clock()
    for i = 1, 20000 do time.local_parts(1782000000 + i * 3600, "Europe/Oslo") end
    -- No timing assertion (machines differ); a sanity bound only, far above the real cost.
    assert.is_true(os.clock() - t0 < 10)
  end)
end)

describe("site.lua timezone and language", function()
  local site_with = testing.config_with

  it("accepts an IANA zone and a language tag", function()
    local cfg = assert(site_with('timezone = "Europe/Oslo"\nlanguage = "nb"\n'))
    assert.equal("Europe/Oslo", cfg.timezone)
    assert.equal("nb", cfg.language)
    cfg = assert(site_with('name = "x"\n'))
    assert.equal("UTC", cfg.timezone)
    assert.equal("en", cfg.language)
  end)

  it("refuses an unknown zone, saying how to find valid names", function()
    local cfg, err = site_with('timezone = "Europe/Olso"\n')
    assert.is_nil(cfg)
    assert.matches('timezone: unknown time zone "Europe/Olso"', err, 1, true)
    assert.matches("timedatectl list-timezones", err, 1, true)
    cfg, err = site_with('timezone = "../../etc/passwd"\n')
    assert.is_nil(cfg)
    assert.matches("is not a time zone name", err, 1, true)
  end)

  it("refuses a language that is not a tag, and strings that are not text", function()
    local cfg, err = site_with('language = "English please"\n')
    assert.is_nil(cfg)
    assert.matches("language must be a language tag", err, 1, true)
    cfg, err = site_with('strings = { ["Related Posts"] = 3 }\n')
    assert.is_nil(cfg)
    assert.matches('strings: ["Related Posts"] must be text', err, 1, true)
  end)

  it("sets the zone of the opened site", function()
    local q = testing.site { plugins = {}, timezone = "Asia/Beirut" }
    assert.equal("Asia/Beirut", q.time.zone)
    assert.equal("2026-07-01T02:30:00+03:00", q.time.to_local("2026-06-30T23:30:00Z"))
  end)
end)
