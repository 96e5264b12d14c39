/* Lua binding for the PostgreSQL store: the same connection methods as lua_store.c (exec, rows,
 * row, value, transactions, data_version, schema_version, check), so the Lua half of the core
 * talks to either store through one interface. Given to the core, not to plugins. */
#include <lauxlib.h>
#include <ctype.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_api.h"
#include "pg.h"

#define PG_MT "quire.pg"

typedef struct {
  qr_pg_t *pg;
  long long statements; /* run through exec/rows/row/value (store:statements) */
} lpg;

static qr_pg_t *check_pg(lua_State *L) {
  lpg *u = luaL_checkudata(L, 1, PG_MT);
  if (!u->pg) luaL_error(L, "store is closed");
  return u->pg;
}

/* The parameters at stack slots first..top, as text the server parses. The array and the
 * numbers' text live in a userdata pushed on the stack (a Lua error cannot leak them); strings
 * are borrowed from the stack. Raises on a value SQL cannot take, naming the parameter. */
#define NUMBER_TEXT 32
static qr_pg_param_t *params_from(lua_State *L, int first, int *n) {
  int top = lua_gettop(L);
  *n = top - first + 1;
  if (*n > 65535) luaL_error(L, "more than 65535 SQL parameters");
  size_t size = (size_t)(*n > 0 ? *n : 1) * (sizeof(qr_pg_param_t) + NUMBER_TEXT);
  qr_pg_param_t *ps = lua_newuserdatauv(L, size, 0);
  char *text = (char *)(ps + (*n > 0 ? *n : 1));
  for (int i = 0; i < *n; i++) {
    int idx = first + i;
    char *num = text + (size_t)i * NUMBER_TEXT;
    switch (lua_type(L, idx)) {
      case LUA_TNIL: ps[i] = (qr_pg_param_t){'n', NULL}; break;
      case LUA_TBOOLEAN: /* as SQLite binds it: 1 or 0 */
        ps[i] = (qr_pg_param_t){'i', lua_toboolean(L, idx) ? "1" : "0"};
        break;
      case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
          snprintf(num, NUMBER_TEXT, "%lld", (long long)lua_tointeger(L, idx));
        } else {
          double d = lua_tonumber(L, idx);
          if (isnan(d)) snprintf(num, NUMBER_TEXT, "NaN");
          else if (isinf(d)) snprintf(num, NUMBER_TEXT, d > 0 ? "Infinity" : "-Infinity");
          else snprintf(num, NUMBER_TEXT, "%.17g", d);
        }
        ps[i] = (qr_pg_param_t){lua_isinteger(L, idx) ? 'i' : 'f', num};
        break;
      case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (memchr(s, 0, len))
          luaL_error(L, "SQL parameter %d holds a NUL byte, which PostgreSQL text cannot store", i + 1);
        ps[i] = (qr_pg_param_t){'t', s};
        break;
      }
      default: luaL_error(L, "SQL parameter must be nil, boolean, number or string (parameter %d)", i + 1);
    }
  }
  return ps;
}

/* A column's text as the Lua value SQLite would give: integers and floats as numbers (numeric
 * too: an integer when it has no fraction), booleans as 1 or 0, NULL as nil, the rest as text. */
static void push_value(lua_State *L, PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) {
    lua_pushnil(L);
    return;
  }
  const char *v = PQgetvalue(r, row, col);
  switch (PQftype(r, col)) {
    case 20: case 21: case 23: case 26: /* int8, int2, int4, oid */
      lua_pushinteger(L, strtoll(v, NULL, 10));
      return;
    case 700: case 701: /* float4, float8 */
      lua_pushnumber(L, strtod(v, NULL));
      return;
    case 1700: /* numeric (sum, avg) */
      if (!strpbrk(v, ".eEN") && lua_stringtonumber(L, v)) return;
      lua_pushnumber(L, strtod(v, NULL));
      return;
    case 16: /* bool */
      lua_pushinteger(L, v[0] == 't');
      return;
    default: lua_pushlstring(L, v, (size_t)PQgetlength(r, row, col));
  }
}

enum { MODE_EXEC, MODE_ROWS, MODE_ROW, MODE_VALUE };

/* Builds the Lua result from r; under lua_pcall so a Lua error (memory cap) cannot leak r. */
static int collect(lua_State *L) {
  PGresult *r = lua_touserdata(L, 1);
  int mode = (int)lua_tointeger(L, 2);
  int nrow = PQntuples(r), ncol = PQnfields(r);
  if (mode == MODE_VALUE) {
    if (nrow && ncol) push_value(L, r, 0, 0);
    else lua_pushnil(L);
    return 1;
  }
  int names = lua_gettop(L) + 1;
  luaL_checkstack(L, ncol + 4, "too many result columns");
  for (int c = 0; c < ncol; c++) lua_pushstring(L, PQfname(r, c));
  if (mode == MODE_ROW && nrow == 0) {
    lua_pushnil(L);
    return 1;
  }
  if (mode == MODE_ROWS) lua_createtable(L, nrow, 0);
  for (int i = 0; i < (mode == MODE_ROW ? 1 : nrow); i++) {
    lua_createtable(L, 0, ncol);
    for (int c = 0; c < ncol; c++) {
      lua_pushvalue(L, names + c);
      push_value(L, r, i, c);
      lua_rawset(L, -3);
    }
    if (mode == MODE_ROW) return 1;
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int run(lua_State *L, int mode) {
  qr_pg_t *p = check_pg(L);
  ((lpg *)lua_touserdata(L, 1))->statements++;
  const char *sql = luaL_checkstring(L, 2);
  int n;
  qr_pg_param_t *ps = params_from(L, 3, &n);
  qr_pg_t *on = qr_pg_route(p, sql); /* a read replica, during an anonymous page render */
  PGresult *r = qr_pg_query(on, sql, n, ps, mode == MODE_EXEC);
  if (!r && on != p) { /* it failed there (lost, a write, a recovery conflict): the primary, from now on */
    qr_pg_set_reader(p, NULL);
    r = qr_pg_query(on = p, sql, n, ps, mode == MODE_EXEC);
  }
  if (!r) return luaL_error(L, "%s", qr_pg_errmsg(p));
  if (mode == MODE_EXEC) {
    PQclear(r);
    lua_pushinteger(L, qr_pg_changes(on));
    lua_pushinteger(L, qr_pg_last_id(on));
    return 2;
  }
  lua_pushcfunction(L, collect);
  lua_pushlightuserdata(L, r);
  lua_pushinteger(L, mode);
  int rc = lua_pcall(L, 2, 1, 0);
  PQclear(r);
  if (rc != LUA_OK) return lua_error(L);
  return 1;
}

static int l_exec(lua_State *L) { return run(L, MODE_EXEC); }
static int l_rows(lua_State *L) { return run(L, MODE_ROWS); }
static int l_row(lua_State *L) { return run(L, MODE_ROW); }
static int l_value(lua_State *L) { return run(L, MODE_VALUE); }

/* store:readonly(sql) -> true for one statement that reads: it starts with SELECT, VALUES or
 * TABLE, or WITH with no data-modifying part, and names no function that writes. Conservative:
 * false when unsure. */
static int l_readonly(lua_State *L) {
  check_pg(L);
  const char *sql = luaL_checkstring(L, 2);
  int n;
  const char *err;
  char *t = qr_pg_translate(sql, &n, &err); /* only to know where literals are: see below */
  if (!t) return luaL_error(L, "%s", err);
  free(t);
  /* Words outside literals and comments, lower-cased, checked against what can write. */
  static const char *writers[] = {"insert", "update", "delete", "merge", "truncate", "copy", "nextval", "setval",
                                  "lo_import", "lo_export", "dblink", "pg_terminate_backend", "pg_cancel_backend",
                                  "set_config", "into", "call", "do", "query_to_xml", "query_to_xml_and_xmlschema", "cursor_to_xml",
                                  NULL};
  int first = 1, ro = 1;
  const char *s = sql;
  while (*s && ro) {
    if (*s == '\'' || *s == '"') {
      char q = *s++;
      while (*s && !(*s == q && s[1] != q)) s += (*s == q) ? 2 : 1;
      if (*s) s++;
    } else if (s[0] == '-' && s[1] == '-') {
      while (*s && *s != '\n') s++;
    } else if (s[0] == '/' && s[1] == '*') {
      const char *e = strstr(s + 2, "*/");
      s = e ? e + 2 : s + strlen(s);
    } else if (*s == ';') {
      const char *rest = s + 1;
      while (*rest == ' ' || *rest == '\n' || *rest == '\t' || *rest == '\r') rest++;
      if (*rest) ro = 0; /* a second statement */
      s++;
    } else if (*s == '$') {
      ro = 0; /* dollar quoting: not needed for a report query, and not worth reading */
    } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_') {
      char word[32];
      size_t k = 0;
      while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || (*s >= '0' && *s <= '9')) {
        if (k < sizeof word - 1) word[k++] = (char)tolower((unsigned char)*s);
        s++;
      }
      word[k] = 0;
      if (first) {
        ro = !strcmp(word, "select") || !strcmp(word, "with") || !strcmp(word, "values") || !strcmp(word, "table");
        first = 0;
      }
      for (int i = 0; ro && writers[i]; i++)
        if (!strcmp(word, writers[i])) ro = 0;
      if ((!strncmp(word, "pg_", 3) && strcmp(word, "pg_current_snapshot")) || !strncmp(word, "lo_", 3)) ro = 0;
    } else {
      s++;
    }
  }
  lua_pushboolean(L, ro && !first);
  return 1;
}

static int tx_result(lua_State *L, qr_pg_t *p, int rc) {
  if (rc) return luaL_error(L, "%s", qr_pg_errmsg(p));
  return 0;
}
static int l_begin(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  return tx_result(L, p, qr_pg_begin(p));
}
static int l_commit(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  return tx_result(L, p, qr_pg_commit(p));
}
static int l_rollback(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  return tx_result(L, p, qr_pg_rollback(p));
}
static int l_depth(lua_State *L) {
  lua_pushinteger(L, qr_pg_depth(check_pg(L)));
  return 1;
}
static int l_begin_read(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  return tx_result(L, p, qr_pg_begin_read(p));
}
static int l_end_read(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  return tx_result(L, p, qr_pg_end_read(p));
}
static int l_reading(lua_State *L) {
  lua_pushboolean(L, qr_pg_reading(check_pg(L)));
  return 1;
}
/* store:ready() -> whether the connection is up, without waiting (qr_pg_ready): a lost one is
 * made again meanwhile. The SQLite store has no such method: always ready. */
static int l_ready(lua_State *L) {
  lua_pushboolean(L, qr_pg_ready(check_pg(L)) == 1);
  return 1;
}
/* store:untyped() -> statements whose parameter PostgreSQL could not type (qr_pg_untyped). */
static int l_untyped(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)qr_pg_untyped(check_pg(L)));
  return 1;
}
/* store:ping() -> true, or nil and the message: one round trip to the primary (never a read
 * replica), for the health probe. */
static int l_ping(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  PGresult *r = qr_pg_query(p, "SELECT 1", 0, NULL, 0);
  if (!r) {
    lua_pushnil(L);
    lua_pushstring(L, qr_pg_errmsg(p));
    return 2;
  }
  PQclear(r);
  lua_pushboolean(L, 1);
  return 1;
}
/* store:guard(on) -> the previous setting (qr_pg_guard). */
static int l_guard(lua_State *L) {
  qr_pg_t *pg = check_pg(L);
  luaL_checktype(L, 2, LUA_TBOOLEAN);
  lua_pushboolean(L, qr_pg_guard(pg, lua_toboolean(L, 2)));
  return 1;
}
static int l_total_changes(lua_State *L) {
  lua_pushinteger(L, qr_pg_total_changes(check_pg(L)));
  return 1;
}
/* store:changes() -> as the SQLite binding's: total_changes(), or nil inside a transaction. */
static int l_changes(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  if (qr_pg_depth(p) > 0) return 0;
  lua_pushinteger(L, qr_pg_total_changes(p));
  return 1;
}
/* store:statements() -> as the SQLite binding's: statements run through exec/rows/row/value. */
static int l_statements(lua_State *L) {
  check_pg(L);
  lua_pushinteger(L, ((lpg *)lua_touserdata(L, 1))->statements);
  return 1;
}
static int l_data_version(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  long long v = qr_pg_data_version(p);
  if (v < 0) return luaL_error(L, "%s", qr_pg_errmsg(p));
  lua_pushinteger(L, v);
  return 1;
}

static int l_schema_version(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  int applied, known;
  if (qr_pg_schema_version(p, &applied, &known)) return luaL_error(L, "%s", qr_pg_errmsg(p));
  lua_pushinteger(L, applied);
  lua_pushinteger(L, known);
  return 2;
}

static int l_check(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  lua_newtable(L);
  if (qr_pg_check(p, qr_lua_check_report, L) < 0) return luaL_error(L, "%s", qr_pg_errmsg(p));
  return 1;
}

/* store:notifications([wait_ms]) -> list of {channel=, payload=} received since the last call
 * (LISTEN first); with wait_ms (at most 60000), waits that long for the first when none is
 * there. Raises when the connection is lost. */
static int l_notifications(lua_State *L) {
  qr_pg_t *p = check_pg(L);
  lua_Integer wait_ms = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, wait_ms >= 0 && wait_ms <= 60000, 2, "wait_ms must be 0..60000");
  lua_newtable(L);
  char channel[QR_PG_CHANNEL_MAX], payload[QR_PG_PAYLOAD_MAX];
  int rc = qr_pg_notification(p, channel, payload);
  if (rc == 0 && wait_ms > 0) rc = qr_pg_wait(p, (int)wait_ms, channel, payload);
  for (; rc == 1; rc = qr_pg_notification(p, channel, payload)) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, channel);
    lua_setfield(L, -2, "channel");
    lua_pushstring(L, payload);
    lua_setfield(L, -2, "payload");
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  }
  if (rc < 0) return luaL_error(L, "%s", qr_pg_errmsg(p));
  return 1;
}

/* store:kind() -> "postgresql" (the SQLite store has no such method: nil means SQLite). */
static int l_kind(lua_State *L) {
  check_pg(L);
  lua_pushliteral(L, "postgresql");
  return 1;
}

static int l_close(lua_State *L) {
  lpg *u = luaL_checkudata(L, 1, PG_MT);
  qr_pg_close(u->pg);
  u->pg = NULL;
  return 0;
}

/* core.open_pg(url [, {migrate=bool}]) -> store, or nil, message, code ("schema" or "open"). */
static int l_open(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  qr_pg_opts_t opts = {.migrate = 1};
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "migrate");
    if (!lua_isnil(L, -1)) opts.migrate = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  lpg *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->pg = NULL;
  luaL_setmetatable(L, PG_MT);
  char err[1024];
  int rc = qr_pg_open(&u->pg, url, &opts, err, sizeof err);
  if (rc) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    lua_pushstring(L, rc == QR_ESCHEMA ? "schema" : "open");
    return 3;
  }
  return 1;
}

/* core.pg_translate(sql) -> sql with $n placeholders, n; or raises (for specs and tools). */
static int l_translate(lua_State *L) {
  int n;
  const char *err;
  char *t = qr_pg_translate(luaL_checkstring(L, 1), &n, &err);
  if (!t) return luaL_error(L, "%s", err);
  lua_pushstring(L, t);
  free(t);
  lua_pushinteger(L, n);
  return 2;
}

qr_pg_t *qr_lua_pg_get(lua_State *L, int idx) {
  lpg *u = luaL_testudata(L, idx, PG_MT);
  return u ? u->pg : NULL;
}

void qr_lua_pg_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"exec", l_exec}, {"rows", l_rows}, {"row", l_row}, {"value", l_value},
      {"readonly", l_readonly}, {"begin", l_begin}, {"commit", l_commit},
      {"rollback", l_rollback}, {"depth", l_depth}, {"begin_read", l_begin_read}, {"end_read", l_end_read},
      {"reading", l_reading}, {"statements", l_statements}, {"guard", l_guard}, {"ready", l_ready}, {"ping", l_ping}, {"untyped", l_untyped}, {"total_changes", l_total_changes}, {"changes", l_changes},
      {"data_version", l_data_version}, {"schema_version", l_schema_version},
      {"check", l_check}, {"kind", l_kind}, {"notifications", l_notifications}, {"close", l_close}, {NULL, NULL}};
  if (luaL_newmetatable(L, PG_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_open);
  lua_setfield(L, -2, "open_pg");
  lua_pushcfunction(L, l_translate);
  lua_setfield(L, -2, "pg_translate");
}
