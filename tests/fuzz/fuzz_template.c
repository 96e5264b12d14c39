/* Fuzz target: the Mustache compiler (C, qr_template_compile) and renderer (over a Lua view with
 * sections, lists, lambdas, partials and a layout). A template compiles or is refused with
 * "name:line:col: message"; one that compiles renders or fails with a positioned error too. The
 * view's lists have one item and no partial includes itself, so output stays linear in the input. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "template.h"

static const char CHUNK[] =
    "local core = require 'quire.core'\n"
    "local compile, render = core.template_compile, core.template_render\n"
    "local partials = {}\n"
    "for name, src in pairs {\n"
    "  card = '<b>{{name}}</b>{{#list}}<i>{{a}}</i>{{/list}}',\n"
    "  layout = '<main>{{$body}}default{{/body}}</main>{{$side}}{{/side}}',\n"
    "  deep = '{{#nested}}{{#deep}}{{value}}{{>card}}{{/deep}}{{/nested}}',\n"
    "} do partials[name] = compile(src, name) end\n"
    "local function resolver(name) return partials[name] end\n"
    "local view = {\n"
    "  name = '<i>x</i> & \"y\"', list = { { a = 1 } }, yes = true, no = false, empty = {}, zero = 0,\n"
    "  f = 1.5, nested = { deep = { value = 'v' } }, partial = 'card',\n"
    "  lambda = function(text) return '[' .. (text or '') .. ']' end,\n"
    "  upper = function(text) return (text or ''):upper() end,\n"
    "}\n"
    "-- 'fuzz:3:7: ...', or for text a lambda returned 'lambda at fuzz:1:2:1:5: ...'\n"
    "local POSITIONED = '^[^\\n]-:%d+:%d+: '\n"
    "return function(src)\n"
    "  local ok, tpl = pcall(compile, src, 'fuzz')\n"
    "  if not ok then\n"
    "    if type(tpl) ~= 'string' or not tpl:find(POSITIONED) then error('BUG: compile error without a position: ' .. tostring(tpl)) end\n"
    "    return\n"
    "  end\n"
    "  local ok2, out = core.budget_call('render', 10000000, render, tpl, view, resolver, nil, false)\n"
    "  if ok2 then\n"
    "    if type(out) ~= 'string' then error('BUG: render returned a ' .. type(out)) end\n"
    "  elseif type(out) ~= 'string' or not out:find(POSITIONED) then\n"
    "    error('BUG: render error without a position: ' .. tostring(out))\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The C compiler alone first (no Lua involved), then compile + render through the binding. */
  qr_template_t *t = NULL;
  char err[256];
  if (qr_template_compile((const char *)data, size, "fuzz", &t, err, sizeof err) == 0) qr_template_free(t);
  qr_fuzz_lua_run(qr_fuzz_lua_state(CHUNK), data, size);
  return 0;
}
