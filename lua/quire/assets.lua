-- Fingerprinted static files: quire.assets.url("theme", "quire.css") names a copy of a plugin's
-- static file that carries its content's hash ("/static/theme/quire.1a2b3c4d5e6f.css"), kept in
-- SITE/.quire/static, which the server sends as immutable (core/static.c). A changed file gets a
-- new name, so a reader's browser never keeps an old stylesheet for a new page.
local core = require "quire.core"

local M = {}

M.MAX_BYTES = 4 * 1024 * 1024

function M.dir(cfg) return cfg.dir .. "/.quire/static" end

-- Makes the folder the copies go to (for the server to mount at /static/). Returns its path, or
-- nil and a message.
function M.prepare(cfg)
  -- A site given as a relative path (quire serve --site news) is made from the working folder.
  local dir = M.dir(cfg)
  local path = dir:sub(1, 1) == "/" and "" or "."
  for part in dir:gmatch("[^/]+") do
    path = path .. "/" .. part
    if core.stat(path) ~= "dir" then
      local ok, err = core.mkdir(path)
      if not ok and core.stat(path) ~= "dir" then return nil, err end
    end
  end
  if dir:sub(1, 1) ~= "/" then return dir end
  return path
end

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

function M.new(site, quire)
  local made = {}
  local api = {}

  -- The fingerprinted URL of file (a name in plugin's static folder); the copy is written once.
  function api.url(plugin, file)
    -- A name made before first (every page asks for the same few): only a checked plugin and
    -- file made it, neither holding a "/". Dev mode looks at the file again each time.
    local key = type(plugin) == "string" and type(file) == "string" and plugin .. "/" .. file
    if key and made[key] and not site.config.dev then return made[key] end
    if not key or not plugin:match("^[%w_-]+$") or not file:match("^[%w_][%w_.-]*$")
      or file:find("..", 1, true) or #file > 200 then
      error("quire.assets.url(plugin, file) takes a plugin's name and a file name in its static folder", 2)
    end
    local dir
    for _, s in ipairs(quire.plugins.static_dirs) do if s.plugin == plugin then dir = s.dir end end
    if not dir then error(("quire.assets.url: plugin %s has no static folder"):format(plugin), 2) end
    local f = io.open(dir .. "/" .. file, "rb")
    if not f then error(("quire.assets.url: there is no %s in %s"):format(file, dir), 2) end
    local data = f:read(M.MAX_BYTES + 1) or ""
    f:close()
    if #data > M.MAX_BYTES then error(("quire.assets.url: %s/%s is over %d bytes"):format(dir, file, M.MAX_BYTES), 2) end
    local base, ext = file:match("^(.-)(%.%w+)$")
    if not base then base, ext = file, "" end
    local name = base .. "." .. hex(core.hmac_sha256("quire.assets", data)):sub(1, 12) .. ext
    local out = M.dir(site.config) .. "/" .. plugin
    local path = out .. "/" .. name
    if core.stat(path) ~= "file" then
      if core.stat(out) ~= "dir" then
        M.prepare(site.config)
        core.mkdir(out)
      end
      -- Written aside and renamed: a worker serving the name never sees half a file.
      local tmp = ("%s.%d.tmp"):format(path, core.getpid())
      local w = io.open(tmp, "wb")
      if w then
        w:write(data)
        w:close()
        os.rename(tmp, path)
      end
    end
    made[key] = "/static/" .. plugin .. "/" .. name
    return made[key]
  end

  return api
end

return M
