/* Lua binding for related-content scoring: core.related_rank(target, candidates, opts). */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>

#include "lua_api.h"
#include "related.h"

#define MAX_CANDIDATES 5000
#define MAX_TERMS 200 /* per document and list; more are ignored */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int cmp_df(const void *a, const void *b) {
  int64_t x = ((const qr_related_df_t *)a)->term, y = ((const qr_related_df_t *)b)->term;
  return (x > y) - (x < y);
}

static size_t list_len(lua_State *L, int doc, const char *field) {
  lua_getfield(L, doc, field);
  size_t n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
  lua_pop(L, 1);
  return n < MAX_TERMS ? n : MAX_TERMS;
}

/* Copies doc[field] (a list of integers) into ids, sorted and without duplicates; returns the count. */
static size_t read_ids(lua_State *L, int doc, const char *field, int64_t *ids) {
  lua_getfield(L, doc, field);
  size_t n = 0;
  if (lua_istable(L, -1)) {
    size_t len = lua_rawlen(L, -1);
    if (len > MAX_TERMS) len = MAX_TERMS;
    for (size_t i = 1; i <= len; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i);
      int isnum;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      lua_pop(L, 1);
      if (!isnum) luaL_error(L, "related_rank: %s[%d] must be an integer id", field, (int)i);
      ids[n++] = v;
    }
  }
  lua_pop(L, 1);
  qsort(ids, n, sizeof *ids, cmp_i64);
  size_t out = 0;
  for (size_t i = 0; i < n; i++)
    if (out == 0 || ids[out - 1] != ids[i]) ids[out++] = ids[i];
  return out;
}

static double num_field(lua_State *L, int t, const char *field, double def) {
  lua_getfield(L, t, field);
  double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
  lua_pop(L, 1);
  return v;
}

/* Fills doc from the Lua table at idx, taking term storage from *pool. */
static void read_doc(lua_State *L, int idx, qr_related_doc_t *doc, int64_t **pool) {
  lua_getfield(L, idx, "id");
  doc->id = lua_tointeger(L, -1);
  lua_pop(L, 1);
  int64_t *tags = *pool;
  doc->ntags = read_ids(L, idx, "tags", tags);
  doc->tags = tags;
  int64_t *kw = tags + doc->ntags;
  doc->nkeywords = read_ids(L, idx, "keywords", kw);
  doc->keywords = kw;
  *pool = kw + doc->nkeywords;
  doc->time = num_field(L, idx, "time", 0);
  doc->text = num_field(L, idx, "text", 0);
}

/* core.related_rank(target, candidates, opts) -> { {id =, score =}, ... } best first.
 * target/candidates: { id =, tags = {ids}, keywords = {ids}, time = epoch, text = similarity }.
 * opts: { weights = {keywords =, tags =, date =, text =}, threshold =, rarity =, date_window =
 * (seconds), total = (documents), df = { [tag id] = documents with it }, limit = }. */
static int l_related_rank(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  size_t n = lua_rawlen(L, 2);
  if (n > MAX_CANDIDATES) n = MAX_CANDIDATES;

  qr_related_weights_t w = {0};
  lua_getfield(L, 3, "weights");
  if (lua_istable(L, -1)) {
    int wt = lua_gettop(L);
    w.keywords = num_field(L, wt, "keywords", 0);
    w.tags = num_field(L, wt, "tags", 0);
    w.date = num_field(L, wt, "date", 0);
    w.text = num_field(L, wt, "text", 0);
  }
  lua_pop(L, 1);
  w.threshold = num_field(L, 3, "threshold", 0);
  w.rarity = num_field(L, 3, "rarity", 0);
  w.date_window = num_field(L, 3, "date_window", 0);
  w.total = num_field(L, 3, "total", (double)n + 1);
  lua_Integer limit = (lua_Integer)num_field(L, 3, "limit", 5);
  luaL_argcheck(L, limit >= 1 && limit <= 64, 3, "limit must be 1..64");

  /* All buffers are userdata, so a Lua error while reading leaks nothing. */
  size_t terms = list_len(L, 1, "tags") + list_len(L, 1, "keywords");
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, (lua_Integer)i);
    if (!lua_istable(L, -1)) luaL_error(L, "related_rank: candidate %d is not a table", (int)i);
    int c = lua_gettop(L);
    terms += list_len(L, c, "tags") + list_len(L, c, "keywords");
    lua_pop(L, 1);
  }
  int64_t *pool = lua_newuserdatauv(L, sizeof(int64_t) * (terms + 1), 0);
  qr_related_doc_t *docs = lua_newuserdatauv(L, sizeof(qr_related_doc_t) * (n + 1), 0);
  qr_related_doc_t target;
  read_doc(L, 1, &target, &pool);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 2, (lua_Integer)i + 1);
    read_doc(L, lua_gettop(L), &docs[i], &pool);
    lua_pop(L, 1);
  }

  size_t ndf = 0;
  lua_getfield(L, 3, "df");
  int dft = lua_gettop(L);
  if (lua_istable(L, dft)) {
    lua_pushnil(L);
    while (lua_next(L, dft)) ndf++, lua_pop(L, 1);
  }
  qr_related_df_t *df = lua_newuserdatauv(L, sizeof(qr_related_df_t) * (ndf + 1), 0);
  size_t k = 0;
  if (lua_istable(L, dft)) {
    lua_pushnil(L);
    while (lua_next(L, dft) && k < ndf) {
      if (lua_isinteger(L, -2) && lua_isnumber(L, -1)) {
        df[k].term = lua_tointeger(L, -2);
        df[k].df = lua_tonumber(L, -1);
        k++;
      }
      lua_pop(L, 1);
    }
  }
  ndf = k;
  qsort(df, ndf, sizeof *df, cmp_df);

  qr_related_hit_t *hits = lua_newuserdatauv(L, sizeof(qr_related_hit_t) * (size_t)limit, 0);
  size_t found = qr_related_rank(&target, docs, n, df, ndf, &w, hits, (size_t)limit);
  lua_createtable(L, (int)found, 0);
  for (size_t i = 0; i < found; i++) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, hits[i].id);
    lua_setfield(L, -2, "id");
    lua_pushnumber(L, hits[i].score);
    lua_setfield(L, -2, "score");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

void qr_lua_related_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"related_rank", l_related_rank}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
