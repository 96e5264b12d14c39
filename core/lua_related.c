/* Lua binding for related-content scoring: core.related_rank and core.related_profiles. */
#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_api.h"
#include "related.h"
#include "store.h"
#include "util.h"

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

/* Reads the ids written in text (runs of decimal digits, as a group_concat of them gives: "12,7,30")
 * into ids as read_list does a list's: the first MAX_TERMS, sorted and without duplicates (a run
 * too long for an integer is no id); returns the count. */
static size_t read_id_text(const char *s, size_t len, int64_t *ids) {
  size_t n = 0, taken = 0;
  for (size_t i = 0; i < len && taken < MAX_TERMS;) {
    if (s[i] < '0' || s[i] > '9') {
      i++;
      continue;
    }
    uint64_t v = 0;
    int over = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      if (v > ((uint64_t)INT64_MAX - (uint64_t)(s[i] - '0')) / 10) over = 1;
      else v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (over) continue;
    taken++;
    size_t k = n;
    while (k > 0 && ids[k - 1] > (int64_t)v) k--;
    if (k > 0 && ids[k - 1] == (int64_t)v) continue;
    memmove(ids + k + 1, ids + k, (n - k) * sizeof *ids);
    ids[k] = (int64_t)v;
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

/* A call's candidates: a set of ids in the order they came (an open-addressing table over
 * the list), at most MAX_CANDIDATES; kept for the next call (reset). */
typedef struct {
  int64_t *ids;
  size_t n, cap;
  uint32_t *slots; /* index + 1 into ids; 0: empty */
  size_t nslots;
} cands_t;

#define CANDS_MT "quire.related_candidates"

static cands_t *check_cands(lua_State *L, int i) { return luaL_checkudata(L, i, CANDS_MT); }

static int cands_gc(lua_State *L) {
  cands_t *c = lua_touserdata(L, 1);
  free(c->ids), free(c->slots);
  memset(c, 0, sizeof *c);
  return 0;
}

static void cands_add(cands_t *c, int64_t id) {
  if (c->n >= MAX_CANDIDATES) return;
  if (2 * (c->n + 1) > c->nslots) {
    size_t nslots = c->nslots ? c->nslots * 2 : 1024;
    free(c->slots);
    c->slots = qr_xcalloc(nslots, sizeof *c->slots);
    c->nslots = nslots;
    for (size_t k = 0; k < c->n; k++) {
      size_t i = (size_t)(((uint64_t)c->ids[k] * 0x9E3779B97F4A7C15ull) >> 32) & (nslots - 1);
      while (c->slots[i]) i = (i + 1) & (nslots - 1);
      c->slots[i] = (uint32_t)k + 1;
    }
  }
  size_t i = (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & (c->nslots - 1);
  for (; c->slots[i]; i = (i + 1) & (c->nslots - 1))
    if (c->ids[c->slots[i] - 1] == id) return;
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 512;
    c->ids = qr_xrealloc(c->ids, c->cap * sizeof *c->ids);
  }
  c->ids[c->n++] = id;
  c->slots[i] = (uint32_t)c->n;
}

/* C:reset(skip): empties the set; skip (an id: the entry itself) is never added. */
static int cands_reset(lua_State *L) {
  cands_t *c = check_cands(L, 1);
  lua_Integer skip = luaL_checkinteger(L, 2);
  if (c->nslots) memset(c->slots, 0, c->nslots * sizeof *c->slots);
  c->n = 0;
  cands_add(c, skip); /* held at index 0, never listed */
  return 0;
}

/* C:add(id): adds an id (once). */
static int cands_add_one(lua_State *L) {
  cands_add(check_cands(L, 1), luaL_checkinteger(L, 2));
  return 0;
}

/* C:add_range(list, from, to): adds list[from..to] (integers). */
static int cands_add_range(lua_State *L) {
  cands_t *c = check_cands(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer from = luaL_checkinteger(L, 3), to = luaL_checkinteger(L, 4);
  for (lua_Integer i = from; i <= to; i++) {
    lua_rawgeti(L, 2, i);
    int isnum;
    lua_Integer id = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum) return luaL_error(L, "related candidates: list[%d] must be an integer id", (int)i);
    cands_add(c, id);
  }
  return 0;
}

/* C:list() -> the ids added, in order (the skipped one left out). */
static int cands_list(lua_State *L) {
  cands_t *c = check_cands(L, 1);
  size_t n = c->n ? c->n - 1 : 0;
  lua_createtable(L, (int)n, 0);
  for (size_t k = 0; k < n; k++) {
    lua_pushinteger(L, c->ids[k + 1]);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  return 1;
}

/* C:count() -> the ids added (the skipped one left out). */
static int cands_count(lua_State *L) {
  cands_t *c = check_cands(L, 1);
  lua_pushinteger(L, (lua_Integer)(c->n ? c->n - 1 : 0));
  return 1;
}

static int cands_add_window(lua_State *L); /* (below, with the windows) */

/* core.related_candidates() -> an empty candidate set (see cands_t), freed with it. */
static int l_related_candidates(lua_State *L) {
  cands_t *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  if (luaL_newmetatable(L, CANDS_MT)) {
    static const luaL_Reg methods[] = {{"reset", cands_reset}, {"add", cands_add_one}, {"add_range", cands_add_range},
                                       {"add_window", cands_add_window},
                                       {"list", cands_list}, {"count", cands_count}, {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, cands_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return 1;
}

/* A walk's window (lua/quire/related.lua): ids in the order of an index around an entry, and
 * whether it reaches the index's first or last entry; an open-addressing table finds an id's
 * place. Read once, then walked by many entries' calls (add_window). */
typedef struct {
  int64_t *ids;
  size_t n;
  uint32_t *slots; /* index + 1 into ids; 0: empty */
  size_t nslots;
  int first, last;
} window_t;

#define WINDOW_MT "quire.related_window"

static int window_gc(lua_State *L) {
  window_t *w = lua_touserdata(L, 1);
  free(w->ids), free(w->slots);
  memset(w, 0, sizeof *w);
  return 0;
}

/* The place (1-based) of id in w, 0 when it holds none. */
static size_t window_find(const window_t *w, int64_t id) {
  if (!w->nslots) return 0;
  for (size_t i = (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & (w->nslots - 1);; i = (i + 1) & (w->nslots - 1)) {
    uint32_t s = w->slots[i];
    if (!s || w->ids[s - 1] == id) return s;
  }
}

/* W:count() -> the ids it holds. */
static int window_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)((window_t *)luaL_checkudata(L, 1, WINDOW_MT))->n);
  return 1;
}

/* core.related_window(ids, first, last) -> W: a window of the list ids (integers, at most
 * MAX_CANDIDATES * 64); first/last: it begins/ends where the index does. */
static int l_related_window(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  size_t n = lua_rawlen(L, 1);
  if (n > (size_t)MAX_CANDIDATES * 64) return luaL_error(L, "related window: more than %d ids", MAX_CANDIDATES * 64);
  window_t *w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  if (luaL_newmetatable(L, WINDOW_MT)) {
    static const luaL_Reg methods[] = {{"count", window_count}, {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, window_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  w->first = lua_toboolean(L, 2), w->last = lua_toboolean(L, 3);
  if (!n) return 1;
  w->ids = qr_xmalloc(n * sizeof *w->ids);
  size_t nslots = 16;
  while (nslots < 2 * n) nslots *= 2;
  w->slots = qr_xcalloc(nslots, sizeof *w->slots);
  w->nslots = nslots;
  for (size_t k = 0; k < n; k++) {
    int isnum;
    lua_rawgeti(L, 1, (lua_Integer)k + 1);
    lua_Integer id = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum) return luaL_error(L, "related window: ids[%d] must be an integer id", (int)k + 1);
    w->ids[k] = id;
    size_t i = (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & (nslots - 1);
    while (w->slots[i] && w->ids[w->slots[i] - 1] != id) i = (i + 1) & (nslots - 1);
    w->slots[i] = (uint32_t)k + 1; /* (an id twice: its last place, as a Lua id -> place table) */
  }
  w->n = n;
  return 1;
}

/* C:add_window(W, id, width) -> true when W holds id with width ids on each side of it (or up
 * to the index's end), having added those (and id: never listed); false, adding none, else, and
 * when W holds id too near one of its ends, -1 (its start) or 1 (its end): where a walk is going. */
static int cands_add_window(lua_State *L) {
  cands_t *c = check_cands(L, 1);
  const window_t *w = luaL_checkudata(L, 2, WINDOW_MT);
  lua_Integer id = luaL_checkinteger(L, 3), width = luaL_checkinteger(L, 4);
  luaL_argcheck(L, width >= 0, 4, "a width of 0 or more");
  size_t p = window_find(w, id);
  int ok = p && ((lua_Integer)p > width || w->first) && ((lua_Integer)(w->n - p) >= width || w->last);
  if (ok) {
    size_t from = (lua_Integer)p > width ? p - (size_t)width : 1;
    size_t to = (lua_Integer)(w->n - p) > width ? p + (size_t)width : w->n;
    for (size_t k = from; k <= to; k++) cands_add(c, w->ids[k - 1]);
  }
  lua_pushboolean(L, ok);
  if (ok || !p) return 1;
  lua_pushinteger(L, (lua_Integer)p <= width && !w->first ? -1 : 1);
  return 2;
}

/* A worker's profiles of candidates, kept in C between rankings (every entry is a candidate of
 * its neighbours' lists): per entry id its type, publication time and tag ids (sorted, without
 * duplicates), or that it is no candidate (not published). An open-addressing table of ids to
 * records, the tags in one pool; the caller bounds the count (clear). The type names are
 * numbered in the userdata's user value (a table name -> number, at most 255 of them). */
typedef struct {
  int64_t id;
  double time;
  size_t tags_at;
  uint16_t ntags;
  uint8_t type; /* 0: no candidate */
} profile_t;

typedef struct {
  uint32_t *slots; /* record index + 1; 0: empty */
  size_t nslots;   /* a power of two, at least twice count */
  profile_t *recs;
  size_t count, recs_cap;
  int64_t *tags;
  size_t tags_used, tags_cap;
  size_t tags_stale; /* of tags_used: the old tags of profiles put again (compact) */
  qr_related_doc_t *docs; /* scratch of rank: the candidates */
  size_t docs_cap;
  int64_t *kw; /* scratch of rank: the candidates' keywords */
  size_t kw_cap;
  int64_t target_terms[2 * MAX_TERMS]; /* scratch of rank: the target's tags and keywords */
} profiles_t;

#define PROFILES_MT "quire.related_profiles"

static profiles_t *check_profiles(lua_State *L) { return luaL_checkudata(L, 1, PROFILES_MT); }

/* 1 when the table at index t has no entries. */
static int table_empty(lua_State *L, int t) {
  lua_pushnil(L);
  if (!lua_next(L, t)) return 1;
  lua_pop(L, 2);
  return 0;
}

static size_t slot_of(const profiles_t *p, int64_t id) {
  uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 32) & (p->nslots - 1);
}

static profile_t *profile_find(const profiles_t *p, int64_t id) {
  if (!p->nslots) return NULL;
  for (size_t i = slot_of(p, id);; i = (i + 1) & (p->nslots - 1)) {
    uint32_t s = p->slots[i];
    if (!s) return NULL;
    if (p->recs[s - 1].id == id) return &p->recs[s - 1];
  }
}

/* The profiles of a ranking's candidates are spread over the table and the tag pool (which
 * outgrow the caches of a big site): a load from each misses, and waiting for them, one
 * candidate after another, cost more than the scoring. So they are asked for ahead, a few
 * candidates at a time (AHEAD_SLOT ahead: its slot; AHEAD_REC: its record, from the slot then
 * at hand), and each found profile's tags before the scoring reads them. */
#define AHEAD_SLOT 16
#define AHEAD_REC 8
static void prefetch_slot(const profiles_t *p, int64_t id) {
  if (p->nslots) __builtin_prefetch(&p->slots[slot_of(p, id)]);
}
static void prefetch_rec(const profiles_t *p, int64_t id) {
  if (!p->nslots) return;
  uint32_t s = p->slots[slot_of(p, id)];
  if (s) __builtin_prefetch(&p->recs[s - 1]);
}

static void profiles_rehash(profiles_t *p, size_t nslots) {
  free(p->slots);
  p->slots = qr_xcalloc(nslots, sizeof *p->slots);
  p->nslots = nslots;
  for (size_t r = 0; r < p->count; r++) {
    size_t i = slot_of(p, p->recs[r].id);
    while (p->slots[i]) i = (i + 1) & (nslots - 1);
    p->slots[i] = (uint32_t)r + 1;
  }
}

static int profiles_gc(lua_State *L) {
  profiles_t *p = lua_touserdata(L, 1);
  free(p->slots), free(p->recs), free(p->tags), free(p->docs), free(p->kw);
  memset(p, 0, sizeof *p);
  return 0;
}

/* P:clear(): forgets every profile. */
static int profiles_clear(lua_State *L) {
  profiles_t *p = check_profiles(L);
  if (p->nslots) memset(p->slots, 0, p->nslots * sizeof *p->slots);
  p->count = p->tags_used = p->tags_stale = 0;
  return 0;
}

/* P:count() -> the profiles held, and the tag ids their pool holds (stale ones included). */
static int profiles_count(lua_State *L) {
  profiles_t *p = check_profiles(L);
  lua_pushinteger(L, (lua_Integer)p->count);
  lua_pushinteger(L, (lua_Integer)p->tags_used);
  return 2;
}

/* Copies the live tags into a pool of their own, in record order: the stale ones go. */
static void profiles_compact(profiles_t *p) {
  int64_t *tags = qr_xmalloc(p->tags_cap * sizeof *tags);
  size_t used = 0;
  for (size_t r = 0; r < p->count; r++) {
    profile_t *rec = &p->recs[r];
    memcpy(tags + used, p->tags + rec->tags_at, rec->ntags * sizeof *tags);
    rec->tags_at = used;
    used += rec->ntags;
  }
  free(p->tags);
  p->tags = tags;
  p->tags_used = used;
  p->tags_stale = 0;
}

/* P:missing(ids) -> the ids of the list (integers) or candidate set that have no profile (nor
 * a mark of none). */
static int profiles_missing(lua_State *L) {
  profiles_t *p = check_profiles(L);
  const cands_t *set = luaL_testudata(L, 2, CANDS_MT);
  if (!set) luaL_checktype(L, 2, LUA_TTABLE);
  size_t n = set ? (set->n ? set->n - 1 : 0) : lua_rawlen(L, 2), k = 0;
  lua_createtable(L, 0, 0);
  for (size_t i = 1; i <= n; i++) {
    int isnum = 1;
    lua_Integer id;
    if (set) {
      id = set->ids[i];
      if (i + AHEAD_SLOT <= n) prefetch_slot(p, set->ids[i + AHEAD_SLOT]);
      if (i + AHEAD_REC <= n) prefetch_rec(p, set->ids[i + AHEAD_REC]);
    } else {
      lua_rawgeti(L, 2, (lua_Integer)i);
      id = lua_tointegerx(L, -1, &isnum);
      lua_pop(L, 1);
    }
    if (!isnum) return luaL_error(L, "related profiles: ids[%d] must be an integer id", (int)i);
    const profile_t *r = profile_find(p, id);
    if (r) {
      __builtin_prefetch(p->tags + r->tags_at); /* (the ranking that follows reads them) */
    } else {
      lua_pushinteger(L, id);
      lua_rawseti(L, -2, (lua_Integer)++k);
    }
  }
  return 1;
}

/* P:put(id, type, time, tags): the profile of entry id (type: its type name, or false for no
 * candidate; time: epoch seconds; tags: a list of tag ids, or their text as read_id_text reads
 * it, at most 200 read), replacing any. */
static int profiles_put(lua_State *L) {
  profiles_t *p = check_profiles(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  uint8_t type = 0;
  if (lua_toboolean(L, 3)) {
    luaL_checkstring(L, 3);
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 3);
    if (lua_rawget(L, -2) == LUA_TNUMBER) {
      type = (uint8_t)lua_tointeger(L, -1);
    } else {
      lua_Integer n = (lua_Integer)lua_rawlen(L, -2) + 1;
      if (n > 255) return luaL_error(L, "related profiles: more than 255 entry types");
      lua_pushvalue(L, 3);
      lua_rawseti(L, -3, n); /* the list part counts them */
      lua_pushvalue(L, 3);
      lua_pushinteger(L, n);
      lua_rawset(L, -4);
      type = (uint8_t)n;
    }
    lua_pop(L, 2);
  }
  double time = luaL_optnumber(L, 4, 0);
  /* The tags first (a Lua error leaves the table as it was): read into the pool's free end. */
  size_t textlen = 0;
  const char *text = lua_type(L, 5) == LUA_TSTRING ? lua_tolstring(L, 5, &textlen) : NULL;
  size_t len = text ? MAX_TERMS : lua_istable(L, 5) ? lua_rawlen(L, 5) : 0;
  if (len > MAX_TERMS) len = MAX_TERMS;
  if (p->tags_used + len > p->tags_cap) {
    size_t cap = p->tags_cap ? p->tags_cap * 2 : 1024;
    while (cap < p->tags_used + len) cap *= 2;
    p->tags = qr_xrealloc(p->tags, cap * sizeof *p->tags);
    p->tags_cap = cap;
  }
  size_t ntags = text ? read_id_text(text, textlen, p->tags + p->tags_used) : read_list(L, 5, "tags", p->tags + p->tags_used);
  profile_t *r = profile_find(p, id);
  if (r) { /* put again: the new tags where the old ones were when they fit, else the old ones stale */
    r->type = type;
    r->time = time;
    if (ntags <= r->ntags) {
      memcpy(p->tags + r->tags_at, p->tags + p->tags_used, ntags * sizeof *p->tags);
      p->tags_stale += r->ntags - ntags;
    } else {
      p->tags_stale += r->ntags;
      r->tags_at = p->tags_used;
      p->tags_used += ntags;
    }
    r->ntags = (uint16_t)ntags;
    if (p->tags_stale > 1024 && p->tags_stale > p->tags_used / 2) profiles_compact(p);
    return 0;
  }
  if (p->count == UINT32_MAX - 1) return luaL_error(L, "related profiles: full");
  if (p->count + 1 > p->recs_cap) {
    p->recs_cap = p->recs_cap ? p->recs_cap * 2 : 256;
    p->recs = qr_xrealloc(p->recs, p->recs_cap * sizeof *p->recs);
  }
  if (2 * (p->count + 1) > p->nslots) profiles_rehash(p, p->nslots ? p->nslots * 2 : 512);
  r = &p->recs[p->count];
  r->id = id;
  size_t i = slot_of(p, id);
  while (p->slots[i]) i = (i + 1) & (p->nslots - 1);
  p->slots[i] = (uint32_t)++p->count;
  r->type = type;
  r->time = time;
  r->tags_at = p->tags_used;
  r->ntags = (uint16_t)ntags;
  p->tags_used += ntags;
  return 0;
}

/* P:rank(target, ids, opts): core.related_rank over the candidates named by ids (a list, or a
 * candidate set: core.related_candidates), read from P (an
 * id without a profile, or marked no candidate, or whose type is not in the set opts.types, is
 * skipped), opts.text[id] = similarity (default 0), opts.keywords[id] = {ids} (default none);
 * the other options as core.related_rank's. */
static int profiles_rank(lua_State *L) {
  profiles_t *p = check_profiles(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  const cands_t *set = luaL_testudata(L, 3, CANDS_MT);
  if (!set) luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  /* The numbers of the types wanted. */
  uint8_t wanted[256] = {0};
  if (lua_getfield(L, 4, "types") != LUA_TTABLE) return luaL_error(L, "related profiles: opts.types must be a set of type names");
  lua_getiuservalue(L, 1, 1); /* 5: types, 6: numbers */
  lua_pushnil(L);
  while (lua_next(L, 5)) {
    if (lua_toboolean(L, -1) && lua_type(L, -2) == LUA_TSTRING) {
      lua_pushvalue(L, -2);
      if (lua_rawget(L, 6) == LUA_TNUMBER) wanted[(uint8_t)lua_tointeger(L, -1)] = 1;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  wanted[0] = 0;
  /* An empty table is as none: no lookup per candidate (the common case: no keywords, no text). */
  int has_text = lua_getfield(L, 4, "text") == LUA_TTABLE && !table_empty(L, 7); /* 7 */
  int has_kw = lua_getfield(L, 4, "keywords") == LUA_TTABLE && !table_empty(L, 8); /* 8 */
  size_t nids = set ? (set->n ? set->n - 1 : 0) : lua_rawlen(L, 3);
  if (nids > MAX_CANDIDATES) nids = MAX_CANDIDATES;
  if (nids > p->docs_cap) {
    p->docs = qr_xrealloc(p->docs, nids * sizeof *p->docs);
    p->docs_cap = nids;
  }
  qr_related_doc_t target;
  int64_t *tpool = p->target_terms;
  read_doc(L, 2, &target, &tpool);
  size_t n = 0, kw_used = 0;
  for (size_t i = 1; i <= nids; i++) {
    lua_Integer id;
    if (set) {
      id = set->ids[i]; /* (ids[0] is the one skipped) */
      if (i + AHEAD_SLOT <= nids) prefetch_slot(p, set->ids[i + AHEAD_SLOT]);
      if (i + AHEAD_REC <= nids) prefetch_rec(p, set->ids[i + AHEAD_REC]);
    } else {
      lua_rawgeti(L, 3, (lua_Integer)i);
      id = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    const profile_t *r = profile_find(p, id);
    if (!r || !wanted[r->type]) continue;
    __builtin_prefetch(p->tags + r->tags_at);
    qr_related_doc_t *d = &p->docs[n++];
    d->id = id;
    d->time = r->time;
    d->tags = p->tags + r->tags_at;
    d->ntags = r->ntags;
    d->keywords = NULL;
    d->nkeywords = 0;
    if (has_kw) {
      /* Their places first (the scratch may move while it grows), pointers once all are read. */
      if (lua_rawgeti(L, 8, id) == LUA_TTABLE) {
        size_t len = lua_rawlen(L, -1);
        if (len > MAX_TERMS) len = MAX_TERMS;
        if (kw_used + len > p->kw_cap) {
          size_t cap = p->kw_cap ? p->kw_cap * 2 : 1024;
          while (cap < kw_used + len) cap *= 2;
          p->kw = qr_xrealloc(p->kw, cap * sizeof *p->kw);
          p->kw_cap = cap;
        }
        d->nkeywords = read_list(L, lua_gettop(L), "keywords", p->kw + kw_used);
        d->keywords = (const int64_t *)(uintptr_t)kw_used;
        kw_used += d->nkeywords;
      }
      lua_pop(L, 1);
    }
    d->text = 0;
    if (has_text) {
      lua_rawgeti(L, 7, id);
      if (lua_isnumber(L, -1)) d->text = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
  }
  for (size_t i = 0; i < n; i++) p->docs[i].keywords = p->kw ? p->kw + (uintptr_t)p->docs[i].keywords : NULL;
  return rank_and_push(L, 4, &target, p->docs, n);
}

/* core.related_profiles() -> an empty P (see profiles_t), freed with it. */
static int l_related_profiles(lua_State *L) {
  profiles_t *p = lua_newuserdatauv(L, sizeof *p, 1);
  memset(p, 0, sizeof *p);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  if (luaL_newmetatable(L, PROFILES_MT)) {
    static const luaL_Reg methods[] = {{"missing", profiles_missing}, {"put", profiles_put},
                                       {"rank", profiles_rank}, {"clear", profiles_clear}, {"count", profiles_count},
                                       {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, profiles_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return 1;
}

/* core.related_words(text, out, seen, max, stop): appends to the list out the words of text
 * (runs of ASCII letters and digits and bytes 128-255, as the pattern [%w\128-\255]+), lower
 * case (ASCII), of 4 bytes or more, valid UTF-8, neither keys of the table stop nor of seen
 * (each one added is set true there), until out holds max. In C: it runs on every entry's title
 * and standfirst, and a match, a lower and a check per word cost more in Lua than the rest of
 * its text candidates. */
#define WORD_MAX 256 /* bytes lowered on the stack; a longer word through a Lua buffer */
/* (ASCII whatever the locale: Lua's %w and lower in the "C" locale quire runs in) */
static int word_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 128;
}
static char lower_ascii(unsigned char c) { return (char)(c >= 'A' && c <= 'Z' ? c | 32 : c); }
static int l_related_words(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_Integer max = luaL_checkinteger(L, 4);
  luaL_checktype(L, 5, LUA_TTABLE);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
  char buf[WORD_MAX];
  size_t i = 0;
  while (i < len) {
    unsigned char c = (unsigned char)s[i];
    if (!word_byte(c)) {
      i++;
      continue;
    }
    size_t start = i;
    while (i < len && word_byte((unsigned char)s[i])) i++;
    if (n >= max) break;
    size_t wlen = i - start;
    if (wlen < 4 || !qr_utf8_valid(s + start, wlen)) continue;
    if (wlen <= sizeof buf) {
      for (size_t k = 0; k < wlen; k++) buf[k] = lower_ascii((unsigned char)s[start + k]);
      lua_pushlstring(L, buf, wlen);
    } else {
      luaL_Buffer b;
      char *p = luaL_buffinitsize(L, &b, wlen);
      for (size_t k = 0; k < wlen; k++) p[k] = lower_ascii((unsigned char)s[start + k]);
      luaL_pushresultsize(&b, wlen);
    }
    lua_pushvalue(L, -1);
    int skip = lua_rawget(L, 5) != LUA_TNIL && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!skip) {
      lua_pushvalue(L, -1);
      skip = lua_rawget(L, 3) != LUA_TNIL && lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    if (skip) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 1);
    lua_rawset(L, 3);
    lua_rawseti(L, 2, ++n);
  }
  return 0;
}

/* core.related_terms(store, tokenizer, texts): the terms an FTS5 index with tokenize = 'tokenizer'
 * makes of each of texts as a document: a list parallel to texts of lists of distinct terms
 * (sorted bytewise, as the index orders them), straight from the tokenizer the SQLite connection
 * store has (its fts5_api): what a related call's new words need, without an FTS5 table to write
 * and read back. nil when tokenizer is other than plain words (quoted arguments, more than 16)
 * or names none the connection knows: the caller tokenizes through a table then. */
#define TERMS_MAX_TEXT 65536 /* bytes per text */
#define TERMS_MAX_TEXTS 20000

typedef struct {
  char *buf; /* the terms of one text, each followed by a NUL */
  size_t used, cap;
  size_t *at; /* where each starts in buf */
  size_t n, at_cap;
  const char **sorted; /* the terms once all are read (buf moves while it grows) */
  size_t sorted_cap;
  Fts5Tokenizer *tok; /* owned: deleted by del, at the end or when a Lua error collects this */
  void (*del)(Fts5Tokenizer *);
} terms_t;

static int terms_token(void *ctx, int flags, const char *tok, int ntok, int start, int end) {
  (void)flags, (void)start, (void)end;
  terms_t *t = ctx;
  if (ntok <= 0) return SQLITE_OK;
  if (t->used + (size_t)ntok + 1 > t->cap) {
    while (t->used + (size_t)ntok + 1 > t->cap) t->cap = t->cap ? 2 * t->cap : 1024;
    t->buf = qr_xrealloc(t->buf, t->cap);
  }
  if (t->n == t->at_cap) {
    t->at_cap = t->at_cap ? 2 * t->at_cap : 64;
    t->at = qr_xrealloc(t->at, t->at_cap * sizeof *t->at);
  }
  t->at[t->n++] = t->used;
  memcpy(t->buf + t->used, tok, (size_t)ntok);
  t->used += (size_t)ntok;
  t->buf[t->used++] = 0;
  return SQLITE_OK;
}

/* Bytewise, as FTS5 orders terms (a term holds no NUL: the tokenizers split at it). */
static int terms_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Fills t->sorted with the terms read, sorted. */
static void terms_sort(terms_t *t) {
  if (t->n > t->sorted_cap) {
    t->sorted_cap = t->n;
    t->sorted = qr_xrealloc(t->sorted, t->sorted_cap * sizeof *t->sorted);
  }
  for (size_t i = 0; i < t->n; i++) t->sorted[i] = t->buf + t->at[i];
  qsort(t->sorted, t->n, sizeof *t->sorted, terms_cmp);
}

static int terms_gc(lua_State *L) {
  terms_t *t = lua_touserdata(L, 1);
  if (t->tok) t->del(t->tok);
  free(t->buf), free(t->at), free(t->sorted);
  memset(t, 0, sizeof *t);
  return 0;
}

static int l_related_terms(lua_State *L) {
  qr_store_t *store = qr_lua_store_get(L, 1);
  if (!store) return luaL_argerror(L, 1, "a SQLite store");
  size_t speclen;
  const char *spec = luaL_checklstring(L, 2, &speclen);
  luaL_checktype(L, 3, LUA_TTABLE);
  size_t ntexts = lua_rawlen(L, 3);
  if (ntexts > TERMS_MAX_TEXTS) return luaL_error(L, "related terms: more than %d texts", TERMS_MAX_TEXTS);
  /* The spec's words: the tokenizer's name, then its arguments. */
  char words[256];
  const char *argv[16];
  int argc = 0;
  if (speclen >= sizeof words) return lua_pushnil(L), 1;
  memcpy(words, spec, speclen + 1);
  char *save = NULL;
  for (char *w = strtok_r(words, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
    for (const char *c = w; *c; c++)
      if (!(*c == '_' || *c == '-' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
        return lua_pushnil(L), 1;
    if (argc == 16) return lua_pushnil(L), 1;
    argv[argc++] = w;
  }
  if (argc == 0) return lua_pushnil(L), 1;
  /* The connection's fts5_api (SQLite's documented way: a pointer bound to SELECT fts5(?)). */
  sqlite3 *db = qr_store_db(store);
  fts5_api *api = NULL;
  sqlite3_stmt *st = NULL;
  if (!db || sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK) return lua_pushnil(L), 1;
  sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
  sqlite3_step(st);
  sqlite3_finalize(st);
  void *user = NULL;
  fts5_tokenizer methods;
  if (!api || api->iVersion < 2 || api->xFindTokenizer(api, argv[0], &user, &methods) != SQLITE_OK) return lua_pushnil(L), 1;
  /* The scratch is a userdata made before the tokenizer: a Lua error below (out of memory under
   * the sandbox's cap) frees both. */
  terms_t *t = lua_newuserdatauv(L, sizeof *t, 0);
  memset(t, 0, sizeof *t);
  lua_newtable(L);
  lua_pushcfunction(L, terms_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  int scratch = lua_gettop(L);
  Fts5Tokenizer *tok = NULL;
  if (methods.xCreate(user, argv + 1, argc - 1, &tok) != SQLITE_OK) return lua_pushnil(L), 1;
  t->tok = tok, t->del = methods.xDelete;
  lua_createtable(L, (int)ntexts, 0);
  int out = lua_gettop(L);
  const char *bad = NULL;
  for (size_t i = 1; i <= ntexts && !bad; i++) {
    size_t len;
    lua_rawgeti(L, 3, (lua_Integer)i);
    const char *text = lua_tolstring(L, -1, &len);
    if (!text) bad = "texts must be strings";
    else if (len > TERMS_MAX_TEXT) bad = "a text longer than 64 KiB";
    t->used = t->n = 0;
    if (!bad && len > 0 && methods.xTokenize(tok, t, FTS5_TOKENIZE_DOCUMENT, text, (int)len, terms_token) != SQLITE_OK)
      bad = "the tokenizer failed";
    lua_pop(L, 1);
    if (bad) break;
    terms_sort(t);
    lua_createtable(L, (int)t->n, 0);
    int k = 0;
    for (size_t j = 0; j < t->n; j++) {
      if (j > 0 && strcmp(t->sorted[j], t->sorted[j - 1]) == 0) continue;
      lua_pushstring(L, t->sorted[j]);
      lua_rawseti(L, -2, ++k);
    }
    lua_rawseti(L, out, (lua_Integer)i);
  }
  t->tok = NULL;
  methods.xDelete(tok);
  if (bad) return luaL_error(L, "related terms: %s", bad);
  lua_remove(L, scratch);
  return 1;
}

/* How many documents of the search index each phrase of a MATCH is in, counting no further than
 * cap + 1: the related words' counts (lua/quire/store_sql.lua, word_counts). An FTS5 auxiliary
 * function, quire_related_counts(entries_fts, cap), called on one row of a MATCH of the phrases
 * OR'ed: "n1,n2,..." in the order of the phrases, each walked on its own (xQueryPhrase) and left
 * at cap + 1. A walk without a statement's step per posting (a LIMIT 1 OFFSET cap probe spends
 * a fifth of its time stepping), and a phrase short of the cap is walked once, not twice. */
typedef struct {
  sqlite3_int64 n, cap;
} phrase_count_t;

static int phrase_count_row(const Fts5ExtensionApi *api, Fts5Context *ctx, void *user) {
  (void)api, (void)ctx;
  phrase_count_t *c = user;
  return ++c->n > c->cap ? SQLITE_DONE : SQLITE_OK;
}

static void related_counts_fn(const Fts5ExtensionApi *api, Fts5Context *ctx, sqlite3_context *out, int nval, sqlite3_value **vals) {
  if (nval != 1 || sqlite3_value_type(vals[0]) != SQLITE_INTEGER) {
    sqlite3_result_error(out, "quire_related_counts: takes the index and a cap (an integer)", -1);
    return;
  }
  sqlite3_int64 cap = sqlite3_value_int64(vals[0]);
  if (cap < 0) cap = 0;
  int nphrases = api->xPhraseCount(ctx);
  char *buf = sqlite3_malloc64((sqlite3_uint64)nphrases * 21 + 1);
  if (!buf) {
    sqlite3_result_error_nomem(out);
    return;
  }
  size_t len = 0;
  buf[0] = 0;
  for (int i = 0; i < nphrases; i++) {
    phrase_count_t c = {0, cap};
    int rc = api->xQueryPhrase(ctx, i, &c, phrase_count_row);
    if (rc != SQLITE_OK) {
      sqlite3_free(buf);
      sqlite3_result_error_code(out, rc);
      return;
    }
    len += (size_t)snprintf(buf + len, 22, i ? ",%lld" : "%lld", (long long)c.n);
  }
  sqlite3_result_text(out, buf, (int)len, sqlite3_free);
}

/* core.related_count_function(store) -> true when the SQLite connection store has
 * quire_related_counts (made now, or before: FTS5 keeps the last made under a name), false when
 * it cannot (no FTS5). */
static int l_related_count_function(lua_State *L) {
  qr_store_t *store = qr_lua_store_get(L, 1);
  if (!store) return luaL_argerror(L, 1, "a SQLite store");
  sqlite3 *db = qr_store_db(store);
  fts5_api *api = NULL;
  sqlite3_stmt *st = NULL;
  if (!db || sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK) return lua_pushboolean(L, 0), 1;
  sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
  sqlite3_step(st);
  sqlite3_finalize(st);
  int ok = api && api->xCreateFunction(api, "quire_related_counts", NULL, related_counts_fn, NULL) == SQLITE_OK;
  lua_pushboolean(L, ok);
  return 1;
}

void qr_lua_related_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"related_rank", l_related_rank}, {"related_profiles", l_related_profiles}, {"related_candidates", l_related_candidates},
                                {"related_window", l_related_window}, {"related_terms", l_related_terms},
                                {"related_words", l_related_words}, {"related_count_function", l_related_count_function},
                                {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
