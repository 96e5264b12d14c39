-- Tag every entry that mentions a theme: quire run scripts/retag.lua "PHRASE" "Tag" [TYPE]
-- e.g. quire run --site mysite --dry-run scripts/retag.lua "heat wave" "Climate"
local phrase, tag, type_name = arg[1], arg[2], arg[3]
if not phrase or not tag then error("usage: retag.lua PHRASE TAG [TYPE]", 0) end
local needle = phrase:lower()
local tagged = 0
quire.each({ type = type_name }, function(e)
  local text = (e.title .. "\n" .. e.body):lower()
  if not text:find(needle, 1, true) then return end
  for _, t in ipairs(e.tags) do
    if quire.slugify(t) == quire.slugify(tag) then return end -- tagged already
  end
  local tags = e.tags
  tags[#tags + 1] = tag
  quire.content.update(e.id, { tags = tags })
  tagged = tagged + 1
end)
print(("%d entries tagged %q"):format(tagged, tag))
