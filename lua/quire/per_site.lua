-- One instance of a module per open site: M.of = per_site(function(site) ... return obj end)
-- builds obj the first time M.of(site) is asked and returns the same one after, so modules that
-- share per-site state (a cache, counters) each `require` it instead of finding it on `site`.
return function(new)
  local instances = setmetatable({}, { __mode = "k" }) -- an ephemeron table: closed sites go
  return function(site)
    local o = instances[site]
    if o == nil then
      o = new(site)
      instances[site] = o
    end
    return o
  end
end
