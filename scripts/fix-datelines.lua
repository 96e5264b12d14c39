-- Tidy article datelines: trim, drop trailing punctuation, and turn SHOUTED place names into
-- Title Case ("LISBON," -> "Lisbon", "rio de janeiro" stays as written).
-- quire run --site mysite scripts/fix-datelines.lua
local SMALL = { de = true, da = true, do_ = true, la = true, le = true, ["of"] = true, the = true, upon = true }

local function tidy(place)
  local p = place:gsub("^%s+", ""):gsub("[%s,;:%-–—]+$", "")
  if p:upper() == p and p:lower() ~= p then -- all capitals: make it Title Case
    local first = true
    p = p:lower():gsub("(%a)([%w']*)", function(a, rest)
      local word = a .. rest
      if not first and SMALL[word] then return word end
      first = false
      return a:upper() .. rest
    end)
  end
  return p
end

local fixed = 0
quire.each({ type = "article" }, function(e)
  local d = e.fields.dateline
  if type(d) == "string" then
    local t = tidy(d)
    if t ~= d then
      quire.content.update(e.id, { fields = { dateline = t } })
      fixed = fixed + 1
    end
  end
end)
print(("%d datelines fixed"):format(fixed))
