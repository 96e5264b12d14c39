-- `quire serve --dev`: the open browser tab reloads when a template, plugin or stylesheet changes.
-- Pages get a small script that listens to /_quire/dev/events with EventSource (server-sent
-- events). Each answer is short: the current fingerprint of the watched files as the event id,
-- "reload" when it differs from the id the browser sent back (Last-Event-ID), and a retry delay,
-- after which the browser asks again. No connection is held open, so a worker never waits on a
-- tab. Never used outside dev mode.
local core = require "quire.core"

local M = {}

M.PATH = "/_quire/dev/events"
M.RETRY_MS = 700
local MAX_FILES = 20000 -- a folder tree larger than this is not a theme: stop counting there
local MAX_DEPTH = 8
local WATCHED = { lua = true, mustache = true, css = true }

local SCRIPT = ([[<script>/* quire serve --dev */(function(){var s=new EventSource("%s");]]
  .. [[s.onmessage=function(e){if(e.data==="reload"){s.close();location.reload();}};})();</script>]]):format(M.PATH)

-- A fingerprint of every .lua, .mustache and .css file under dirs (name, size, mtime to the
-- nanosecond), skipping dot folders (.quire, .git) and stopping at MAX_FILES files.
function M.fingerprint(dirs)
  local h, files = 2166136261, 0
  local function mix(s)
    for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  end
  local function walk(dir, depth)
    if depth > MAX_DEPTH or files >= MAX_FILES then return end
    for _, name in ipairs(core.listdir(dir) or {}) do
      if name:sub(1, 1) ~= "." then
        local path = dir .. "/" .. name
        local kind, mtime, size, nsec = core.stat(path)
        if kind == "dir" then
          walk(path, depth + 1)
        elseif kind == "file" and WATCHED[name:match("%.(%w+)$") or ""] then
          files = files + 1
          if files > MAX_FILES then return end
          mix(("%s\0%d\0%d\0%d\n"):format(path, mtime, size, nsec or 0))
        end
      end
    end
  end
  for _, dir in ipairs(dirs) do walk(dir, 1) end
  return ("%08x-%d"):format(h, files)
end

-- The answer to the event stream: (status, headers, body), never cached.
function M.events(headers, dirs)
  local now = M.fingerprint(dirs)
  local last = headers["last-event-id"]
  local body = ("retry: %d\nid: %s\n"):format(M.RETRY_MS, now)
  if last and last ~= "" and last ~= now then body = body .. "data: reload\n" end
  return 200, { ["content-type"] = "text/event-stream", ["cache-control"] = "no-store" }, body .. "\n"
end

-- An HTML document with the reload script before its </body>; anything else as it is.
function M.inject(headers, body)
  if type(body) ~= "string" or not (headers["content-type"] or ""):find("^text/html") then return body end
  local at
  local from = 1
  while true do -- the last </body>
    local s = body:find("</[Bb][Oo][Dd][Yy]>", from)
    if not s then break end
    at, from = s, s + 1
  end
  if not at then return body end
  -- The page's Content-Security-Policy allows only the site's own script files: in --dev, the
  -- inline reload script is allowed too.
  local csp = headers["content-security-policy"]
  if csp then headers["content-security-policy"] = csp:gsub("script%-src ([^;]*)", "script-src %1 'unsafe-inline'", 1) end
  return body:sub(1, at - 1) .. SCRIPT .. body:sub(at)
end

return M
