-- Archive published entries older than N years: quire run scripts/archive-old.lua YEARS [TYPE]
local years, type_name = tonumber(arg[1]), arg[2]
if not years or years <= 0 then error("usage: archive-old.lua YEARS [TYPE]", 0) end
local cutoff = quire.time.format(os.time() - math.floor(years * 365.25 * 86400))
local archived = 0
quire.each({ status = "published", type = type_name, ["until"] = cutoff }, function(e)
  quire.content.update(e.id, { status = "archived" })
  archived = archived + 1
end)
print(("%d entries published before %s archived"):format(archived, cutoff))
