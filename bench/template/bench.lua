-- quire side of bench/template.sh: renders the article page through quire.template (compiled once,
-- cached by name) in ROUNDS timed rounds of SECONDS each; prints the best round's renders/s.
-- Usage: quire run --site SITE bench.lua DATA.json OUT.html SECONDS [ROUNDS]
local cjson = require "cjson"
local clock = require("quire.core").clock

local data_path, out_path = arg[1], arg[2]
local seconds, rounds = tonumber(arg[3] or "1"), tonumber(arg[4] or "1")
local f = assert(io.open(data_path, "rb"))
local view = cjson.decode(f:read("a"))
f:close()

local render = quire.template.render
local html = render("article", view) -- compiles the page, its layout and partials once
for _ = 1, 500 do render("article", view) end

-- The best round counts: the least disturbed by other work on the machine (as in bench.js).
local best, total = 0, 0
for _ = 1, rounds do
  local n, elapsed = 0, 0
  local t0 = clock()
  repeat
    for _ = 1, 100 do render("article", view) end
    n = n + 100
    elapsed = clock() - t0
  until elapsed >= seconds
  total = total + n
  best = math.max(best, n / elapsed)
end

local out = assert(io.open(out_path, "wb"))
out:write(html)
out:close()
print(("quire.template: %d renders, %d bytes per page"):format(total, #html))
print(("RATE quire %.1f"):format(best))
