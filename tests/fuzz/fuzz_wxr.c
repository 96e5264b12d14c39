/* Fuzz target: WordPress import (quire.wxr over lua-expat) into a real throwaway site, each input
 * in a transaction rolled back afterwards. A hostile export is imported or refused with a quire
 * error or an XML error naming the line; an internal Lua error ("attempt to index a nil value")
 * is a bug. */
#include "fuzz.h"

static const char CHUNK[] =
    "local core = require 'quire.core'\n"
    "local errors = require 'quire.errors'\n"
    "local wxr = require 'quire.wxr'\n"
    "local quire, site_dir = require('quire.testing').site { name = 'Fuzz' }\n"
    "local path = site_dir .. '/import.xml'\n"
    "local ROLLBACK = setmetatable({}, { __tostring = function() return 'rollback' end })\n"
    "local function import()\n"
    "  wxr.import(quire, path)\n"
    "  error(ROLLBACK, 0)\n"
    "end\n"
    "return function(src)\n"
    "  local f = assert(io.open(path, 'wb'))\n"
    "  f:write(src)\n"
    "  f:close()\n"
    "  local ok, err = pcall(quire.store.transaction, import)\n"
    "  if ok then error('BUG: the import transaction committed') end\n"
    "  if err == ROLLBACK or errors.is(err) then return end\n"
    "  if type(err) == 'string' and err:find(': XML error: ', 1, true) then return end\n"
    "  error('BUG: import failed with an internal error: ' .. tostring(err))\n"
    "end, function() core.remove_tree((site_dir:gsub('/site$', ''))) end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qr_fuzz_lua_run(qr_fuzz_lua_state(CHUNK), data, size);
  return 0;
}
