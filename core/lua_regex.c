/* Lua binding for core/regex: compiled PCRE2 patterns as userdata (freed by __gc), and as SQL
 * functions for set-based search-and-replace. */
#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "lua_api.h"
#include "regex.h"
#include "util.h"

#define REGEX_MT "quire.regex"

typedef struct {
  qr_regex_t *re;
} regex_ud;

/* core.regex(pattern) -> regex | nil, "message at offset N" */
static int l_regex(lua_State *L) {
  size_t len;
  const char *pattern = luaL_checklstring(L, 1, &len);
  regex_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
  ud->re = NULL;
  luaL_setmetatable(L, REGEX_MT);
  char err[300];
  if (!(ud->re = qr_regex_compile(pattern, len, err, sizeof err))) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

/* regex:gsub(subject, replacement) -> text, count; raises on a runaway match or a bad $group. */
static int l_gsub(lua_State *L) {
  regex_ud *ud = luaL_checkudata(L, 1, REGEX_MT);
  size_t len, rlen, outlen;
  const char *subject = luaL_checklstring(L, 2, &len);
  const char *repl = luaL_checklstring(L, 3, &rlen);
  char *out, err[300];
  int n = qr_regex_replace(ud->re, subject, len, repl, rlen, &out, &outlen, err, sizeof err);
  if (n < 0) return luaL_error(L, "%s", err);
  lua_pushlstring(L, out, outlen);
  free(out);
  lua_pushinteger(L, n);
  return 2;
}

/* regex:check_replacement(repl) -> true | nil, reason (see qr_regex_check_replacement). */
static int l_check_replacement(lua_State *L) {
  regex_ud *ud = luaL_checkudata(L, 1, REGEX_MT);
  size_t rlen;
  const char *repl = luaL_checklstring(L, 2, &rlen);
  char err[300];
  if (qr_regex_check_replacement(ud->re, repl, rlen, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_gc(lua_State *L) {
  regex_ud *ud = luaL_checkudata(L, 1, REGEX_MT);
  qr_regex_free(ud->re);
  ud->re = NULL;
  return 0;
}

/* A pattern and its replacement as an SQL function (see l_regex_sql). Owned by SQLite: freed by
 * sql_regex_free when the function is replaced, removed, or the connection closes. */
typedef struct {
  qr_regex_t *re;
  char *repl;
  size_t rlen;
  sqlite3_int64 count; /* replacements made by the calls that changed their text */
} sql_regex;

static void sql_regex_free(void *p) {
  sql_regex *r = p;
  qr_regex_free(r->re);
  free(r->repl);
  free(r);
}

/* NAME(text) -> the text with every match replaced, or NULL when nothing changed (no match, or
 * the same text again); NULL stays NULL. Errors (runaway match, bad $group, bad UTF-8) fail the
 * statement with PCRE2's reason. */
static void sql_regex_replace(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  sql_regex *r = sqlite3_user_data(ctx);
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  const char *subject = (const char *)sqlite3_value_text(argv[0]);
  size_t len = (size_t)sqlite3_value_bytes(argv[0]);
  char *out, err[300];
  size_t outlen;
  int n = qr_regex_replace(r->re, subject ? subject : "", len, r->repl, r->rlen, &out, &outlen, err,
                           sizeof err);
  if (n < 0) {
    sqlite3_result_error(ctx, err, -1);
    return;
  }
  if (n == 0 || (outlen == len && memcmp(out, subject, len) == 0)) {
    free(out);
    return;
  }
  r->count += n;
  sqlite3_result_text64(ctx, out, outlen, free, SQLITE_UTF8);
}

/* NAME() -> the replacements counted since the last NAME() call. */
static void sql_regex_count(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc, (void)argv;
  sql_regex *r = sqlite3_user_data(ctx);
  sqlite3_result_int64(ctx, r->count);
  r->count = 0;
}

/* core.regex_sql(store, name, pattern, replacement) -> true | nil, message
 * Registers on the store's connection the SQL functions NAME(text) (sql_regex_replace) and
 * NAME() (the count), compiling pattern once for every row of every statement. They stay until
 * the connection closes or NAME is registered again; core.regex_sql(store, name) removes them. */
static int l_regex_sql(lua_State *L) {
  qr_store_t *s = qr_lua_store_get(L, 1);
  if (!s) return luaL_argerror(L, 1, "store expected");
  const char *name = luaL_checkstring(L, 2);
  sqlite3 *db = qr_store_db(s);
  if (lua_isnoneornil(L, 3)) {
    sqlite3_create_function_v2(db, name, 0, SQLITE_UTF8, NULL, NULL, NULL, NULL, NULL);
    sqlite3_create_function_v2(db, name, 1, SQLITE_UTF8, NULL, NULL, NULL, NULL, NULL);
    lua_pushboolean(L, 1);
    return 1;
  }
  size_t len, rlen;
  const char *pattern = luaL_checklstring(L, 3, &len);
  const char *repl = luaL_checklstring(L, 4, &rlen);
  char err[300];
  qr_regex_t *re = qr_regex_compile(pattern, len, err, sizeof err);
  if (!re) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  /* No Lua error can be raised from here until SQLite owns r. */
  sql_regex *r = qr_xcalloc(1, sizeof *r);
  r->re = re;
  r->repl = qr_xmalloc(rlen + 1);
  memcpy(r->repl, repl, rlen);
  r->repl[rlen] = '\0';
  r->rlen = rlen;
  int rc = sqlite3_create_function_v2(db, name, 1, SQLITE_UTF8, r, sql_regex_replace, NULL, NULL,
                                      sql_regex_free); /* on failure SQLite frees r itself */
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function_v2(db, name, 0, SQLITE_UTF8, r, sql_regex_count, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_create_function_v2(db, name, 0, SQLITE_UTF8, NULL, NULL, NULL, NULL, NULL);
    sqlite3_create_function_v2(db, name, 1, SQLITE_UTF8, NULL, NULL, NULL, NULL, NULL);
    lua_pushnil(L);
    lua_pushstring(L, sqlite3_errmsg(db));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

void qr_lua_regex_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"gsub", l_gsub}, {"check_replacement", l_check_replacement}, {NULL, NULL}};
  luaL_newmetatable(L, REGEX_MT);
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_regex);
  lua_setfield(L, -2, "regex");
  lua_pushcfunction(L, l_regex_sql);
  lua_setfield(L, -2, "regex_sql");
}
