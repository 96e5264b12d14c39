/* Mustache templates: a compiler from source to an instruction list, and a renderer over Lua values. */
#ifndef QR_TEMPLATE_H
#define QR_TEMPLATE_H
#include <lua.h>
#include <stddef.h>

#include "util.h"

/* Limits that keep a hostile or mistaken template from exhausting the C stack. */
#define QR_TEMPLATE_MAX_NESTING 100 /* sections, blocks and parents open at once in one template */
#define QR_TEMPLATE_MAX_DEPTH 50    /* partials, parents and lambda results rendered inside each other */
#define QR_TEMPLATE_MAX_SOURCE (64u * 1024 * 1024)

/* A compiled template: immutable after compilation, so one may be rendered by many renders
 * (nested ones included) at once. */
typedef struct qr_template qr_template_t;

/* Compiles src[0..len) (Mustache with partials, inheritance, dynamic names and lambdas).
 * name labels error messages and qr_template_name ("<string>" when NULL); it is copied.
 * On success returns 0 and sets *out, owned by the caller (qr_template_free).
 * On failure returns QR_EINVAL (syntax) or QR_ELIMIT (too large or deep), sets *out to NULL and
 * writes "name:line:col: what went wrong" into err[0..errlen). Never calls into Lua. */
int qr_template_compile(const char *src, size_t len, const char *name, qr_template_t **out, char *err,
                        size_t errlen);

/* Frees a compiled template; NULL is ignored. */
void qr_template_free(qr_template_t *t);

/* The name given at compile time (borrowed; lives as long as t). */
const char *qr_template_name(const qr_template_t *t);

/* The number of instructions, for tests and diagnostics. */
size_t qr_template_size(const qr_template_t *t);

/* Compiles src[0..len) like qr_template_compile and pushes the result as a template userdata, which
 * owns it (the collector frees it). Raises the compile error ("name:line:col: ...") as a Lua error.
 * Returns the template, borrowed for as long as the userdata is reachable. */
const qr_template_t *qr_template_load(lua_State *L, const char *src, size_t len, const char *name);

/* The template in the userdata at idx, or NULL when the value is not one (borrowed: valid while
 * that userdata is reachable). */
const qr_template_t *qr_template_to(lua_State *L, int idx);

/* What a render reads from the Lua stack. Stack indices must be absolute; 0 means absent. */
typedef struct {
  int view;     /* the root of the context stack (any Lua value) */
  int resolver; /* function(name, partials) -> template userdata | nil [, detail]: finds partials and parents */
  int partials; /* passed through to the resolver as its second argument */
  int strict;   /* nonzero: a missing partial is an error instead of rendering empty */
  int cache;    /* a table from qr_template_push_cache: name -> template found by the resolver, kept
                 * across renders (the caller replaces it when the templates may have changed);
                 * 0: resolve each name once per render */
} qr_template_render_opts_t;

/* Renders the template userdata at stack index tpl and pushes the output as a Lua string; nothing
 * else is left on the stack.
 * Reads values from Lua tables (metamethods are honoured) and calls lambdas, so it can raise any
 * Lua error; its own errors ("name:line:col: partial 'x' not found", nesting too deep) are raised
 * as Lua errors too. No C memory is leaked when it raises: the output buffer lives in a userdata.
 * Lambdas and __index metamethods must not yield. */
void qr_template_render(lua_State *L, int tpl, const qr_template_render_opts_t *opts);

/* Pushes a new, empty cache of resolved partials for qr_template_render_opts_t.cache. Only the
 * renderer writes to it. */
void qr_template_push_cache(lua_State *L);

/* HTML-escapes s[0..n) as {{x}} does (& < > " ' become entities) into dst, which must hold the
 * returned length; with dst NULL only returns that length. Writes no terminating NUL. */
size_t qr_template_escape(char *dst, const char *s, size_t n);

#endif
