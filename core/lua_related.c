/* Lua binding for related-content scoring: core.related_rank and core.related_rank_ids. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lua_api.h"
#include "related.h"

#define MAX_CANDIDATES 5000
#define MAX_TERMS 200 /* per document and list; more are ignored */

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

/* Copies the list of integers at stack index t (if a table) into ids, sorted and without
 * duplicates; returns the count. The lists are short (a document's tags), so insertion sort. */
static size_t read_list(lua_State *L, int t, const char *field, int64_t *ids) {
  if (!lua_istable(L, t)) return 0;
  size_t len = lua_rawlen(L, t);
  if (len > MAX_TERMS) len = MAX_TERMS;
  size_t n = 0;
  for (size_t i = 1; i <= len; i++) {
    lua_rawgeti(L, t, (lua_Integer)i);
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum) luaL_error(L, "related_rank: %s[%d] must be an integer id", field, (int)i);
    size_t k = n;
    while (k > 0 && ids[k - 1] > v) ids[k] = ids[k - 1], k--;
    if (k > 0 && ids[k - 1] == v) { /* a duplicate: close the gap again */
      for (; k < n; k++) ids[k] = ids[k + 1];
      continue;
    }
    ids[k] = v;
    n++;
  }
  return n;
}

/* Copies doc[field] (a list of integers) into ids, sorted and without duplicates; returns the count. */
static size_t read_ids(lua_State *L, int doc, const char *field, int64_t *ids) {
  lua_getfield(L, doc, field);
  size_t n = read_list(L, lua_gettop(L), field, ids);
  lua_pop(L, 1);
  return n;
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

/* Scores docs (n of them) against target with the options at stack index o (see
 * core.related_rank) and pushes the list of hits. */
static int rank_and_push(lua_State *L, int o, const qr_related_doc_t *target, const qr_related_doc_t *docs, size_t n) {
  qr_related_weights_t w = {0};
  lua_getfield(L, o, "weights");
  if (lua_istable(L, -1)) {
    int wt = lua_gettop(L);
    w.keywords = num_field(L, wt, "keywords", 0);
    w.tags = num_field(L, wt, "tags", 0);
    w.date = num_field(L, wt, "date", 0);
    w.text = num_field(L, wt, "text", 0);
  }
  lua_pop(L, 1);
  w.threshold = num_field(L, o, "threshold", 0);
  w.rarity = num_field(L, o, "rarity", 0);
  w.date_window = num_field(L, o, "date_window", 0);
  w.total = num_field(L, o, "total", (double)n + 1);
  lua_Integer limit = (lua_Integer)num_field(L, o, "limit", 5);
  luaL_argcheck(L, limit >= 1 && limit <= 64, o, "limit must be 1..64");

  size_t ndf = 0;
  lua_getfield(L, o, "df");
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
  size_t found = qr_related_rank(target, docs, n, df, ndf, &w, hits, (size_t)limit);
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
  return rank_and_push(L, 3, &target, docs, n);
}

/* Stack slots of l_related_rank_ids: its arguments, the tables of opts and the field names
 * (pushed once: a raw get with them makes no string per candidate). */
enum { A_TARGET = 1, A_IDS, A_OPTS, S_PROFILES, S_TYPES, S_TEXT, S_KEYWORDS, K_TYPE, K_TIME, K_TAGS, S_POOL, S_DOCS };

/* Room for docs and their terms, userdata in the slots S_POOL and S_DOCS (a Lua error while
 * reading leaks nothing); grown by doubling, the old contents copied. */
typedef struct {
  int64_t *pool;
  size_t used, cap;
  qr_related_doc_t *docs;
  size_t ndocs, docs_cap;
} room_t;

static int64_t *room_terms(lua_State *L, room_t *r, size_t n) {
  if (r->used + n > r->cap) {
    size_t cap = r->cap * 2 > r->used + n ? r->cap * 2 : r->used + n;
    int64_t *pool = lua_newuserdatauv(L, sizeof(int64_t) * cap, 0);
    memcpy(pool, r->pool, sizeof(int64_t) * r->used);
    /* The docs (the one being read too) point into the old pool: move them along. */
    for (size_t i = 0; i <= r->ndocs && i < r->docs_cap; i++) {
      r->docs[i].tags = pool + (r->docs[i].tags - r->pool);
      r->docs[i].keywords = pool + (r->docs[i].keywords - r->pool);
    }
    lua_replace(L, S_POOL);
    r->pool = pool, r->cap = cap;
  }
  return r->pool + r->used;
}

static qr_related_doc_t *room_doc(lua_State *L, room_t *r) {
  if (r->ndocs == r->docs_cap) {
    size_t cap = r->docs_cap * 2;
    qr_related_doc_t *docs = lua_newuserdatauv(L, sizeof(qr_related_doc_t) * cap, 0);
    memcpy(docs, r->docs, sizeof(qr_related_doc_t) * r->ndocs);
    lua_replace(L, S_DOCS);
    r->docs = docs, r->docs_cap = cap;
  }
  return &r->docs[r->ndocs];
}

/* Reads the list of integers at the top of the stack (if a table) into the room, sorted and
 * without duplicates; pops it and returns where it starts, its length in *n. */
static int64_t *room_list(lua_State *L, room_t *r, const char *what, size_t *n) {
  size_t len = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
  if (len > MAX_TERMS) len = MAX_TERMS;
  int64_t *at = room_terms(L, r, len);
  *n = read_list(L, lua_gettop(L), what, at);
  lua_pop(L, 1);
  r->used += *n;
  return at;
}

/* core.related_rank_ids(target, ids, opts): core.related_rank over candidates named by id, each
 * read from what the caller keeps rather than from a table made for the call:
 * opts.profiles[id] = { type =, time =, tags = {ids} } (a candidate without one, or whose type
 * is not in the set opts.types, is skipped), opts.text[id] = similarity (default 0),
 * opts.keywords[id] = {ids} (default none); the other options as core.related_rank's. */
static int l_related_rank_ids(lua_State *L) {
  luaL_checktype(L, A_TARGET, LUA_TTABLE);
  luaL_checktype(L, A_IDS, LUA_TTABLE);
  luaL_checktype(L, A_OPTS, LUA_TTABLE);
  lua_settop(L, A_OPTS);
  if (lua_getfield(L, A_OPTS, "profiles") != LUA_TTABLE) luaL_error(L, "related_rank_ids: opts.profiles must be a table");
  if (lua_getfield(L, A_OPTS, "types") != LUA_TTABLE) luaL_error(L, "related_rank_ids: opts.types must be a set of type names");
  int has_text = lua_getfield(L, A_OPTS, "text") == LUA_TTABLE;
  int has_kw = lua_getfield(L, A_OPTS, "keywords") == LUA_TTABLE;
  lua_pushliteral(L, "type");
  lua_pushliteral(L, "time");
  lua_pushliteral(L, "tags");
  size_t nids = lua_rawlen(L, A_IDS);
  room_t r = {0};
  r.cap = 8 * (nids < MAX_CANDIDATES ? nids : MAX_CANDIDATES) + 16;
  r.pool = lua_newuserdatauv(L, sizeof(int64_t) * r.cap, 0);
  r.docs_cap = nids < 16 ? 16 : nids < MAX_CANDIDATES ? nids : MAX_CANDIDATES;
  r.docs = lua_newuserdatauv(L, sizeof(qr_related_doc_t) * r.docs_cap, 0);

  qr_related_doc_t target;
  int64_t *tpool = lua_newuserdatauv(L, sizeof(int64_t) * 2 * MAX_TERMS, 0);
  read_doc(L, A_TARGET, &target, &tpool);

  for (size_t i = 1; i <= nids && r.ndocs < MAX_CANDIDATES; i++) {
    lua_rawgeti(L, A_IDS, (lua_Integer)i);
    lua_Integer id = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (lua_rawgeti(L, S_PROFILES, id) != LUA_TTABLE) {
      lua_pop(L, 1);
      continue;
    }
    int p = lua_gettop(L);
    lua_pushvalue(L, K_TYPE);
    lua_rawget(L, p);
    int wanted = lua_rawget(L, S_TYPES) != LUA_TNIL && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!wanted) {
      lua_pop(L, 1);
      continue;
    }
    qr_related_doc_t *d = room_doc(L, &r);
    d->id = id;
    d->tags = d->keywords = r.pool + r.used;
    d->ntags = d->nkeywords = 0;
    lua_pushvalue(L, K_TIME);
    lua_rawget(L, p);
    d->time = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    lua_pushvalue(L, K_TAGS);
    lua_rawget(L, p);
    d->tags = room_list(L, &r, "tags", &d->ntags);
    lua_pop(L, 1); /* the profile */
    d->keywords = r.pool + r.used;
    if (has_kw) {
      lua_rawgeti(L, S_KEYWORDS, id);
      d->keywords = room_list(L, &r, "keywords", &d->nkeywords);
    }
    d->text = 0;
    if (has_text) {
      lua_rawgeti(L, S_TEXT, id);
      if (lua_isnumber(L, -1)) d->text = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
    r.ndocs++;
  }
  return rank_and_push(L, A_OPTS, &target, r.docs, r.ndocs);
}

void qr_lua_related_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"related_rank", l_related_rank}, {"related_rank_ids", l_related_rank_ids}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
