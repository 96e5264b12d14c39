/* Fuzz target: loading site.lua (quire.config.load) from hostile text. Any text is either a
 * configuration or a refusal with a message: config.load never raises, and what it accepts has
 * positive integer limits and resolved paths. site.lua runs under an instruction budget and a
 * memory cap here (quire itself runs it without one). */
#include "fuzz.h"

static const char CHUNK[] =
    "local core = require 'quire.core'\n"
    "local config = require 'quire.config'\n"
    "core.memory(512 * 1024 * 1024)\n"
    "local dir = assert(core.mkdtemp('quire-fuzz-config'))\n"
    "local path = dir .. '/site.lua'\n"
    "local function check(ok, cfg, err, ...)\n"
    "  if not ok then\n"
    "    if err == 'error' then error('BUG: config.load raised: ' .. tostring(cfg)) end\n"
    "    return -- the site.lua itself ran past the budget or the memory cap\n"
    "  end\n"
    "  if cfg == nil then\n"
    "    if type(err) ~= 'string' or err == '' then error('BUG: refused without a message') end\n"
    "    return\n"
    "  end\n"
    "  if type(cfg) ~= 'table' then error('BUG: config.load returned a ' .. type(cfg)) end\n"
    "  for k, v in pairs(cfg.limits) do\n"
    "    local least = k == 'stale_grace_ms' and 0 or 1 -- (0 turns the grace off)\n"
    "    if math.type(v) ~= 'integer' or v < least then error('BUG: limit ' .. tostring(k) .. ' accepted as ' .. tostring(v)) end\n"
    "  end\n"
    "  for _, k in ipairs { 'database_path', 'access_log_path', 'name' } do\n"
    "    if type(cfg[k]) ~= 'string' then error('BUG: ' .. k .. ' is a ' .. type(cfg[k])) end\n"
    "  end\n"
    "end\n"
    "return function(src)\n"
    "  local f = assert(io.open(path, 'wb'))\n"
    "  f:write(src)\n"
    "  f:close()\n"
    "  check(core.budget_call('site.lua', 1000000, config.load, dir))\n"
    "end, function() core.remove_tree(dir) end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qr_fuzz_lua_run(qr_fuzz_lua_state(CHUNK), data, size);
  return 0;
}
