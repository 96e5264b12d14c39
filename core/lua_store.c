/* Lua binding for the store: a connection userdata with exec/rows/row/value and transactions.
 * It is given to the Lua half of the core (quire.core), not to plugins: they see only the API. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "lua_api.h"
#include "store.h"
#include "util.h"

#define STORE_MT "quire.store"

typedef struct {
  qr_store_t *store;
  long long statements; /* run through exec/rows/row/value (store:statements) */
} lstore;

/* The store a method is called on. Its metatable is compared with the methods' upvalue, not
 * looked up by name as luaL_checkudata does (~300 instructions: the memo asks depth and
 * total_changes at every lookup, some hundred times a page); anything else gets its error. */
static qr_store_t *check_store(lua_State *L) {
  lstore *u = lua_touserdata(L, 1);
  int ok = u && lua_getmetatable(L, 1);
  if (ok) {
    ok = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
  }
  if (!ok) u = luaL_checkudata(L, 1, STORE_MT);
  if (!u->store) luaL_error(L, "store is closed");
  return u->store;
}

/* Binds Lua values at stack slots first..top to stmt. Returns NULL or a static error message;
 * never raises, so the caller can release the statement first. Strings are bound without a
 * copy (SQLITE_STATIC): the caller keeps them on the stack until it releases the statement,
 * which clears the bindings. */
static const char *bind_params(lua_State *L, sqlite3_stmt *st, int first, int *bad) {
  int top = lua_gettop(L), n = sqlite3_bind_parameter_count(st);
  if (top - first + 1 != n) return "wrong number of SQL parameters";
  for (int i = first; i <= top; i++) {
    int idx = i - first + 1, rc;
    *bad = idx;
    switch (lua_type(L, i)) {
      case LUA_TNIL: rc = sqlite3_bind_null(st, idx); break;
      case LUA_TBOOLEAN: rc = sqlite3_bind_int(st, idx, lua_toboolean(L, i)); break;
      case LUA_TNUMBER:
        if (lua_isinteger(L, i))
          rc = sqlite3_bind_int64(st, idx, lua_tointeger(L, i));
        else
          rc = sqlite3_bind_double(st, idx, lua_tonumber(L, i));
        break;
      case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, i, &len);
        rc = sqlite3_bind_text(st, idx, s, (int)len, SQLITE_STATIC);
        break;
      }
      default: return "SQL parameter must be nil, boolean, number or string";
    }
    if (rc != SQLITE_OK) return "cannot bind SQL parameter";
  }
  return NULL;
}

/* One API call per column (sqlite3_column_value), then the value's own accessors, which need no
 * statement checks: the connection is used by one thread (SQLITE_OPEN_NOMUTEX, store.c), so the
 * unprotected value is safe to read while the row is current. */
static void push_column(lua_State *L, sqlite3_stmt *st, int c) {
  sqlite3_value *v = sqlite3_column_value(st, c);
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_value_int64(v)); break;
    case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_value_double(v)); break;
    case SQLITE_NULL: lua_pushnil(L); break;
    default: {
      const char *b = sqlite3_value_blob(v);
      lua_pushlstring(L, b ? b : "", (size_t)sqlite3_value_bytes(v));
    }
  }
}

/* SQLite's message for the statement that failed; a full disk says what to do. */
static void push_errmsg(lua_State *L, qr_store_t *s, sqlite3 *db) {
  int primary = sqlite3_extended_errcode(db) & 0xff;
  if (primary == SQLITE_FULL) lua_pushstring(L, qr_store_full_message(s));
  else if (primary == SQLITE_READONLY && qr_store_reading(s))
    lua_pushstring(L, "a write inside a read snapshot (store:begin_read), which refuses writes: end it first");
  else lua_pushstring(L, sqlite3_errmsg(db));
}

enum { MODE_EXEC, MODE_ROWS, MODE_ROW, MODE_VALUE };

/* The rows of a result wait on the stack, up to ROW_BATCH of them, so the list is made at its
 * size: most results are that small, and a list grown one row at a time is rebuilt at each power
 * of two. */
#define ROW_BATCH 64

/* Moves the n rows at stack slots first.. into a new list with room for size, which takes the
 * first's slot (the stack's top). */
static void rows_to_list(lua_State *L, int first, int n, int size) {
  lua_createtable(L, size, 0);
  for (int i = 0; i < n; i++) {
    lua_pushvalue(L, first + i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_copy(L, -1, first);
  lua_settop(L, first);
}

/* Steps the statement and builds the result; runs under lua_pcall so a Lua error (memory cap)
 * cannot leave the cached statement marked in use. */
static int collect(lua_State *L) {
  sqlite3_stmt *st = lua_touserdata(L, 1);
  int mode = (int)lua_tointeger(L, 2);
  int rc, nrow = 0, ncol = sqlite3_column_count(st), listed = 0;
  /* The column names are made Lua strings once per statement, not once per row. */
  int names = lua_gettop(L) + 1;
  if (mode == MODE_ROWS || mode == MODE_ROW) {
    luaL_checkstack(L, ncol + ROW_BATCH + 4, "too many result columns");
    for (int c = 0; c < ncol; c++) lua_pushstring(L, sqlite3_column_name(st, c));
  }
  int first = lua_gettop(L) + 1; /* the first row, then (MODE_ROWS) the list */
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (mode == MODE_EXEC) continue;
    if (mode == MODE_VALUE) {
      push_column(L, st, 0);
      return 1;
    }
    lua_createtable(L, 0, ncol);
    for (int c = 0; c < ncol; c++) {
      lua_pushvalue(L, names + c);
      push_column(L, st, c);
      lua_rawset(L, -3);
    }
    if (mode == MODE_ROW) return 1;
    nrow++;
    if (listed) lua_rawseti(L, first, nrow);
    else if (nrow == ROW_BATCH) rows_to_list(L, first, nrow, 2 * ROW_BATCH), listed = 1;
  }
  if (rc != SQLITE_DONE) {
    lua_pushnil(L);
    lua_pushinteger(L, rc);
    return 2;
  }
  if (mode == MODE_ROWS) {
    if (!listed) rows_to_list(L, first, nrow, nrow);
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

static int run(lua_State *L, int mode) {
  qr_store_t *s = check_store(L);
  ((lstore *)lua_touserdata(L, 1))->statements++;
  const char *sql = luaL_checkstring(L, 2);
  sqlite3_stmt *st = qr_store_prepare(s, sql);
  if (!st) return luaL_error(L, "%s", qr_store_errmsg(s));
  int bad = 0;
  const char *err = bind_params(L, st, 3, &bad);
  if (err) {
    qr_store_release(s, st);
    return luaL_error(L, "%s (parameter %d)", err, bad);
  }
  if (mode == MODE_EXEC) { /* steps without making Lua values: nothing can raise, no pcall needed */
    sqlite3 *db = qr_store_db(s);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
      push_errmsg(L, s, db); /* SQLite's message names the constraint */
      qr_store_release(s, st);
      return lua_error(L);
    }
    qr_store_release(s, st);
    lua_pushinteger(L, sqlite3_changes(db));
    lua_pushinteger(L, sqlite3_last_insert_rowid(db));
    return 2;
  }
  /* The parameters stay on the stack (below collect's frame) until the statement is released. */
  lua_pushcfunction(L, collect);
  lua_pushlightuserdata(L, st);
  lua_pushinteger(L, mode);
  int prc = lua_pcall(L, 2, 2, 0);
  if (prc != LUA_OK) {
    qr_store_release(s, st);
    return lua_error(L);
  }
  if (lua_isinteger(L, -1)) { /* step failed: SQLite's message names the constraint */
    sqlite3 *db = qr_store_db(s);
    push_errmsg(L, s, db);
    qr_store_release(s, st);
    return lua_error(L);
  }
  lua_pop(L, 1);
  if (mode == MODE_EXEC) {
    sqlite3 *db = qr_store_db(s);
    qr_store_release(s, st);
    lua_pushinteger(L, sqlite3_changes(db));
    lua_pushinteger(L, sqlite3_last_insert_rowid(db));
    return 2;
  }
  qr_store_release(s, st);
  return 1;
}

static int l_exec(lua_State *L) { return run(L, MODE_EXEC); }
static int l_rows(lua_State *L) { return run(L, MODE_ROWS); }
static int l_row(lua_State *L) { return run(L, MODE_ROW); }
static int l_value(lua_State *L) { return run(L, MODE_VALUE); }

/* store:readonly(sql) -> true when the statement cannot write (for read-only script queries). */
static int l_readonly(lua_State *L) {
  qr_store_t *s = check_store(L);
  sqlite3_stmt *st = qr_store_prepare(s, luaL_checkstring(L, 2));
  if (!st) return luaL_error(L, "%s", qr_store_errmsg(s));
  int ro = sqlite3_stmt_readonly(st);
  qr_store_release(s, st);
  lua_pushboolean(L, ro);
  return 1;
}

static int tx_result(lua_State *L, qr_store_t *s, int rc) {
  if (rc) return luaL_error(L, "%s", qr_store_errmsg(s));
  return 0;
}
static int l_begin(lua_State *L) {
  qr_store_t *s = check_store(L);
  return tx_result(L, s, qr_store_begin(s));
}
static int l_commit(lua_State *L) {
  qr_store_t *s = check_store(L);
  return tx_result(L, s, qr_store_commit(s));
}
static int l_rollback(lua_State *L) {
  qr_store_t *s = check_store(L);
  return tx_result(L, s, qr_store_rollback(s));
}
static int l_depth(lua_State *L) {
  lua_pushinteger(L, qr_store_depth(check_store(L)));
  return 1;
}
/* store:begin_read() / store:end_read(): a read snapshot (qr_store_begin_read); store:reading(). */
static int l_begin_read(lua_State *L) {
  qr_store_t *s = check_store(L);
  return tx_result(L, s, qr_store_begin_read(s));
}
static int l_end_read(lua_State *L) {
  qr_store_t *s = check_store(L);
  return tx_result(L, s, qr_store_end_read(s));
}
static int l_reading(lua_State *L) {
  lua_pushboolean(L, qr_store_reading(check_store(L)));
  return 1;
}

/* store:total_changes() -> rows changed by this connection since it opened: what SELECT
 * total_changes() returns, without preparing and stepping a statement. */
static int l_total_changes(lua_State *L) {
  lua_pushinteger(L, sqlite3_total_changes64(qr_store_db(check_store(L))));
  return 1;
}

/* store:changes() -> total_changes(), or nil inside a transaction: what the memo asks at every
 * lookup (quire.memo), in one call rather than depth's and total_changes's. */
static int l_changes(lua_State *L) {
  qr_store_t *s = check_store(L);
  if (qr_store_depth(s) > 0) return 0;
  lua_pushinteger(L, sqlite3_total_changes64(qr_store_db(s)));
  return 1;
}

/* store:data_version() -> PRAGMA data_version, without a read transaction while the WAL index
 * shows no commit since the last call (qr_store_data_version). */
/* store:statements() -> statements run through this connection's exec/rows/row/value since it
 * opened: what tests and benchmarks count a render's reads by. */
static int l_statements(lua_State *L) {
  check_store(L);
  lua_pushinteger(L, ((lstore *)lua_touserdata(L, 1))->statements);
  return 1;
}

static int l_data_version(lua_State *L) {
  lua_pushinteger(L, qr_store_data_version(check_store(L)));
  return 1;
}

static int l_schema_version(lua_State *L) {
  qr_store_t *s = check_store(L);
  int applied, known;
  if (qr_store_schema_version(s, &applied, &known)) return luaL_error(L, "%s", qr_store_errmsg(s));
  lua_pushinteger(L, applied);
  lua_pushinteger(L, known);
  return 2;
}

void qr_lua_check_report(void *ud, const char *what, const char *detail) {
  lua_State *L = ud;
  lua_createtable(L, 0, 2);
  lua_pushstring(L, what);
  lua_setfield(L, -2, "what");
  lua_pushstring(L, detail);
  lua_setfield(L, -2, "detail");
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* store:check() -> list of {what=, detail=} problems; empty when healthy. */
static int l_check(lua_State *L) {
  qr_store_t *s = check_store(L);
  lua_newtable(L);
  int rc = qr_store_check(s, qr_lua_check_report, L);
  if (rc < 0) return luaL_error(L, "%s", qr_store_errmsg(s));
  return 1;
}

static int l_close(lua_State *L) {
  lstore *u = luaL_checkudata(L, 1, STORE_MT);
  qr_store_close(u->store);
  u->store = NULL;
  return 0;
}

/* core.open_store(path [, {create=bool, busy_timeout_ms=n, migrate=bool}]) -> store, or nil, message,
 * code. migrate=false: a database of the caller's own, with no site schema (an export's manifest,
 * a private scratch database such as ":memory:"). */
static int l_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  qr_store_opts_t opts = {.busy_timeout_ms = 5000, .create = 1, .migrate = 1};
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "create");
    if (!lua_isnil(L, -1)) opts.create = lua_toboolean(L, -1);
    lua_getfield(L, 2, "busy_timeout_ms");
    if (lua_isinteger(L, -1)) opts.busy_timeout_ms = (int)lua_tointeger(L, -1);
    lua_getfield(L, 2, "migrate");
    if (!lua_isnil(L, -1)) opts.migrate = lua_toboolean(L, -1);
    lua_pop(L, 3);
  }
  lstore *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->store = NULL;
  luaL_setmetatable(L, STORE_MT);
  char err[512];
  int rc = qr_store_open(&u->store, path, &opts, err, sizeof err);
  if (rc) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    lua_pushstring(L, rc == QR_ESCHEMA ? "schema" : "open");
    return 3;
  }
  return 1;
}

qr_store_t *qr_lua_store_get(lua_State *L, int idx) {
  lstore *u = luaL_testudata(L, idx, STORE_MT);
  return u ? u->store : NULL;
}

void qr_lua_store_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"exec", l_exec}, {"rows", l_rows}, {"row", l_row}, {"value", l_value},
      {"readonly", l_readonly}, {"begin", l_begin}, {"commit", l_commit},
      {"rollback", l_rollback}, {"depth", l_depth}, {"begin_read", l_begin_read}, {"end_read", l_end_read},
      {"reading", l_reading}, {"statements", l_statements}, {"total_changes", l_total_changes}, {"changes", l_changes},
      {"data_version", l_data_version}, {"schema_version", l_schema_version},
      {"check", l_check}, {"close", l_close}, {NULL, NULL}};
  if (luaL_newmetatable(L, STORE_MT)) {
    luaL_newlibtable(L, methods);
    lua_pushvalue(L, -2); /* (each method's upvalue: check_store) */
    luaL_setfuncs(L, methods, 1);
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
  lua_setfield(L, -2, "open_store");
}
