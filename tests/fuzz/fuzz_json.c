/* Fuzz target: JSON decoding (quire.json over lua-cjson) and the round trip through quire.json's
 * encoder: whatever decodes must encode, and encoding is stable (decode(encode(v)) encodes the same). */
#include "fuzz.h"

static const char CHUNK[] =
    "local json = require 'quire.json'\n"
    "return function(s)\n"
    "  local ok, v = pcall(json.decode, s)\n"
    "  if not ok then\n"
    "    if type(v) ~= 'string' then error('BUG: decode raised a ' .. type(v)) end\n"
    "    return\n"
    "  end\n"
    "  local ok2, once = pcall(json.encode, v)\n"
    "  if not ok2 then\n"
    "    -- cjson refuses NaN and infinity on output, which its decoder accepts (\"NaN\", \"-Infinity\")\n"
    "    if tostring(once):find('must not be NaN or Inf', 1, true) then return end\n"
    "    error('BUG: decoded data does not encode: ' .. tostring(once))\n"
    "  end\n"
    "  local again = json.encode(json.decode(once))\n"
    "  if again ~= once then error(('BUG: JSON round trip is not stable: %q then %q'):format(once, again)) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qr_fuzz_lua_run(qr_fuzz_lua_state(CHUNK), data, size);
  return 0;
}
