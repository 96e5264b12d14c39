/* Unit tests for the Mustache compiler and renderer (core/template.c), without the Lua half of the core. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "template.h"

static char err[512];

static qr_template_t *compile_ok(const char *src) {
  qr_template_t *t = NULL;
  int rc = qr_template_compile(src, strlen(src), "t.mustache", &t, err, sizeof err);
  CHECK(rc == 0);
  if (rc != 0) fprintf(stderr, "  compile error: %s\n", err);
  return t;
}

static const char *compile_err(const char *src) {
  qr_template_t *t = NULL;
  int rc = qr_template_compile(src, strlen(src), "t.mustache", &t, err, sizeof err);
  CHECK(rc < 0);
  CHECK(t == NULL);
  return err;
}

/* resolver(name, partials) -> partials[name] compiled, or nil */
static int resolver(lua_State *L) {
  if (lua_istable(L, 2) && lua_getfield(L, 2, luaL_checkstring(L, 1)) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    qr_template_load(L, s, n, lua_tostring(L, 1));
    return 1;
  }
  return 0;
}

/* Renders src against the Lua expression view_expr with partials_expr; returns a malloc'd copy of
 * the output, or of the error message prefixed with "ERROR: ". */
static int do_render(lua_State *L) {
  qr_template_render_opts_t o = {.view = 2, .resolver = 3, .partials = 4, .strict = lua_toboolean(L, 5)};
  qr_template_render(L, 1, &o);
  return 1;
}

static char *render(lua_State *L, const char *src, const char *view_expr, const char *partials_expr, int strict) {
  qr_template_t *t = compile_ok(src); /* reports a compile error as a failed check */
  if (!t) return strdup("(did not compile)");
  qr_template_free(t);
  lua_pushcfunction(L, do_render);
  qr_template_load(L, src, strlen(src), "t.mustache");
  char chunk[1024];
  snprintf(chunk, sizeof chunk, "return %s", view_expr);
  if (luaL_dostring(L, chunk) != LUA_OK) abort();
  lua_pushcfunction(L, resolver);
  snprintf(chunk, sizeof chunk, "return %s", partials_expr ? partials_expr : "nil");
  if (luaL_dostring(L, chunk) != LUA_OK) abort();
  lua_pushboolean(L, strict);
  char *out;
  if (lua_pcall(L, 5, 1, 0) == LUA_OK) {
    out = strdup(lua_tostring(L, -1));
  } else {
    const char *msg = lua_tostring(L, -1);
    out = malloc(strlen(msg) + 8);
    sprintf(out, "ERROR: %s", msg);
  }
  lua_pop(L, 1);
  return out;
}

#define CHECK_RENDER(L, src, view, partials, strict, expected) \
  do {                                                         \
    char *got_ = render(L, src, view, partials, strict);       \
    CHECK_STR(got_, expected);                                 \
    free(got_);                                                \
  } while (0)

static void test_compile(void) {
  qr_template_t *t = compile_ok("Hello {{name}}!\n{{#items}}- {{.}}\n{{/items}}");
  CHECK(t && qr_template_size(t) == 5); /* "Hello " name, "!\n", section, "- " ., "\n" */
  CHECK_STR(qr_template_name(t), "t.mustache");
  qr_template_free(t);
  qr_template_free(NULL);

  /* adjacent text merges, and joins the variable after it; comments and delimiter changes leave nothing */
  t = compile_ok("a{{! note }}b{{=<% %>=}}c<%x%>");
  CHECK(t && qr_template_size(t) == 1);
  qr_template_free(t);

  CHECK_STR(compile_err("x\n  {{#a}}\n"),
            "t.mustache:2:3: unclosed section 'a': no {{/a}} before the end of the template");
  CHECK_STR(compile_err("{{#a}}{{/b}}"), "t.mustache:1:7: closing tag 'b' does not match section 'a' opened at 1:1");
  CHECK_STR(compile_err("{{/a}}"), "t.mustache:1:1: closing tag 'a' without an open section");
  CHECK_STR(compile_err("ab\n {{name"), "t.mustache:2:2: unclosed tag: '{{' without a matching '}}'");
  CHECK_STR(compile_err("{{{name}}"), "t.mustache:1:1: unclosed tag: '{{' without a matching '}}}'");
  CHECK(strncmp(compile_err("{{=<% =}}"), "t.mustache:1:1: bad delimiters '<%'", 35) == 0);
  CHECK_STR(compile_err("{{a..b}}"), "t.mustache:1:1: bad name 'a..b': empty part between dots");
  CHECK_STR(compile_err("{{<p}}{{/*p}}"), "t.mustache:1:7: closing tag '*p' does not match parent 'p' opened at 1:1");

  /* nesting is bounded */
  char deep[QR_TEMPLATE_MAX_NESTING * 12 + 16] = "";
  for (int i = 0; i <= QR_TEMPLATE_MAX_NESTING; i++) strcat(deep, "{{#a}}");
  qr_template_t *d = NULL;
  CHECK(qr_template_compile(deep, strlen(deep), NULL, &d, err, sizeof err) == QR_ELIMIT);
  CHECK(strstr(err, "<string>:1:") == err);
}

static void test_escape(void) {
  const char *s = "<a href=\"x\">Tom & Jerry's</a>";
  char out[128];
  size_t n = qr_template_escape(NULL, s, strlen(s));
  CHECK(n < sizeof out);
  CHECK(qr_template_escape(out, s, strlen(s)) == n);
  out[n] = '\0';
  CHECK_STR(out, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
}

/* The renderer's vectorised escaping against the byte-by-byte reference, for every length up to 70
 * with a special character at every position, none, or only special characters. */
static void test_escape_lengths(lua_State *L) {
  const char specials[] = "&<>\"'";
  qr_template_load(L, "{{v}}|{{{v}}}", 13, "escape");
  int tpl = lua_gettop(L), bad = 0;
  for (int n = 0; n <= 70; n++) {
    for (int at = -2; at < n; at++) {
      char in[80], want[800];
      for (int i = 0; i < n; i++) in[i] = (char)('a' + i % 26);
      if (at >= 0) in[at] = specials[(n + at) % 5];
      if (n >= 3 && at >= 0) in[n - 1] = specials[at % 5]; /* and one at the very end */
      if (at == -2)
        for (int i = 0; i < n; i++) in[i] = specials[i % 5]; /* nothing but entities */
      size_t w = qr_template_escape(want, in, (size_t)n);
      want[w++] = '|';
      memcpy(want + w, in, (size_t)n);
      want[w + (size_t)n] = '\0';
      lua_createtable(L, 0, 1);
      lua_pushlstring(L, in, (size_t)n);
      lua_setfield(L, -2, "v");
      qr_template_render_opts_t o = {.view = lua_gettop(L)};
      qr_template_render(L, tpl, &o);
      if (strcmp(lua_tostring(L, -1), want) != 0 && bad++ < 5)
        fprintf(stderr, "  escape n=%d at=%d: got \"%s\", want \"%s\"\n", n, at, lua_tostring(L, -1), want);
      lua_pop(L, 2);
    }
  }
  CHECK(bad == 0);
  lua_pop(L, 1);
}

static void test_render(lua_State *L) {
  CHECK_RENDER(L, "Hi {{who.name}} & {{{raw}}} {{n}} {{f}}", "{who={name='<Ana>'}, raw='<b>', n=3, f=2.5}", NULL, 0,
               "Hi &lt;Ana&gt; & <b> 3 2.5");
  CHECK_RENDER(L, "{{#list}}[{{.}}]{{/list}}{{^list}}none{{/list}}", "{list={1,2,3}}", NULL, 0, "[1][2][3]");
  CHECK_RENDER(L, "{{#list}}[{{.}}]{{/list}}{{^list}}none{{/list}}", "{list={}}", NULL, 0, "none");
  CHECK_RENDER(L, "{{#a}}{{b}}{{/a}}", "{a={x=1}, b='outer'}", NULL, 0, "outer");
  /* partials: indentation of standalone ones, missing ones empty or an error */
  CHECK_RENDER(L, "<ul>\n  {{>item}}\n</ul>\n", "{}", "{item='<li>1</li>\\n<li>2</li>\\n'}", 0,
               "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>\n");
  CHECK_RENDER(L, "[{{>missing}}]", "{}", "{}", 0, "[]");
  CHECK_RENDER(L, "a\n  {{>missing}}", "{}", "{}", 1, "ERROR: t.mustache:2:3: partial 'missing' not found");
  CHECK_RENDER(L, "{{>self}}", "{}", "{self='{{>self}}'}", 0,
               "ERROR: self:1:1: partials nested more than 50 deep (does a template include itself?)");
  /* inheritance */
  CHECK_RENDER(L, "{{<layout}}{{$title}}Mine{{/title}}{{/layout}}", "{}",
               "{layout='<h1>{{$title}}Default{{/title}}</h1>{{$foot}}(c){{/foot}}'}", 0, "<h1>Mine</h1>(c)");
  /* lambdas */
  CHECK_RENDER(L, "{{#wrap}}{{x}}{{/wrap}} {{call}}", "{x='<>', wrap=function(s) return '['..s..']' end, "
               "call=function() return '{{x}}' end}", NULL, 0, "[&lt;&gt;] &amp;lt;&amp;gt;");
  /* a Lua error mid-render leaves nothing behind; the next render reuses the buffer */
  CHECK_RENDER(L, "x{{a.b}}", "{a=setmetatable({}, {__index=function() error('boom', 0) end})}", NULL, 0,
               "ERROR: boom");
  CHECK_RENDER(L, "after {{v}}", "{v='ok'}", NULL, 0, "after ok");
}

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  test_compile();
  test_escape();
  test_escape_lengths(L);
  test_render(L);
  lua_close(L);
  return check_summary("test_template");
}
