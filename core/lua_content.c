/* Lua binding for the C content helpers and byte-level checks: slugify, slug_valid, utf8_valid,
 * text_check (what text every field may hold), trim, join, xml_text, html_text, copy (of values read
 * from the database), memo_key (of a plugin's site:memo call) and quire.json's encoder. */
#include <lauxlib.h>
#include <lua.h>
#include <mbedtls/md.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "content.h"
#include "lua_api.h"
#include "util.h"

#define SLUG_CAP 201 /* slugs are at most 200 bytes */

/* core.slugify(text [, max]) -> slug (may be "") */
static int l_slugify(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer max = luaL_optinteger(L, 2, SLUG_CAP - 1);
  luaL_argcheck(L, max > 0 && max < SLUG_CAP, 2, "slug length must be 1..200");
  char out[SLUG_CAP];
  size_t n = qr_content_slugify(text, len, out, (size_t)max + 1);
  lua_pushlstring(L, out, n);
  return 1;
}

static int l_slug_valid(lua_State *L) {
  size_t len;
  const char *slug = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, qr_content_slug_valid(slug, len, (size_t)luaL_optinteger(L, 2, SLUG_CAP - 1)));
  return 1;
}

static int l_utf8_valid(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, qr_utf8_valid(s, len));
  return 1;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); } /* Lua's %s */

/* core.trim(s) -> s without leading and trailing whitespace (Lua's %s). In C: the obvious
 * pattern ("%s+$") is quadratic in a run of inner whitespace. */
static int l_trim(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  size_t a = 0, b = len;
  while (a < b && is_space((unsigned char)s[a])) a++;
  while (b > a && is_space((unsigned char)s[b - 1])) b--;
  if (a == 0 && b == len) lua_settop(L, 1);
  else lua_pushlstring(L, s + a, b - a);
  return 1;
}

/* core.join(list [, sep]) -> the strings list[1..#list] joined, with sep between them: what
 * table.concat gives for a list of strings, made in one piece (their length summed first: a
 * feed of some hundred kB grew its buffer a dozen times, copying it each time). Raw reads, no
 * metamethods; anything but a string raises. */
static int l_join(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  size_t lsep = 0;
  const char *sep = luaL_optlstring(L, 2, "", &lsep);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  if (n > 1 && lsep && (size_t)(n - 1) > ((size_t)-1) / 2 / lsep) return luaL_error(L, "join: the result is too large");
  size_t total = n > 1 ? (size_t)(n - 1) * lsep : 0;
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, 1, i) != LUA_TSTRING) return luaL_error(L, "join: item %I is not a string", (LUA_INTEGER)i);
    size_t len = lua_rawlen(L, -1);
    lua_pop(L, 1);
    if (len > ((size_t)-1) / 2 - total) return luaL_error(L, "join: the result is too large");
    total += len;
  }
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, total > 0 ? total : 1), *w = out;
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1 && lsep) memcpy(w, sep, lsep), w += lsep;
    /* (the box is at the top, so the item goes below it; checked again: the list is the
     * caller's, and making the box may have run a collection step) */
    size_t len = 0;
    const char *s = lua_rawgeti(L, 1, i) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!s || len > total - (size_t)(w - out) - (size_t)(n - i) * lsep) /* (room for it and the separators to come) */
      return luaL_error(L, "join: the list changed while it was joined");
    memcpy(w, s, len);
    w += len;
    lua_pop(L, 1);
  }
  luaL_pushresultsize(&b, (size_t)(w - out));
  return 1;
}

/* core.xml_text(s) -> s without the characters qr_content_xml_bad finds (and without invalid UTF-8
 * sequences, byte by byte): for XML output of text stored before input was checked. Returns s
 * itself, without a copy, when nothing is dropped. */
static int l_xml_text(lua_State *L) {
  size_t len, at;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  if (qr_utf8_valid((const char *)s, len) && qr_content_xml_bad((const char *)s, len, &at) < 0) {
    lua_settop(L, 1);
    return 1;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t i = 0;
  while (i < len) {
    uint32_t cp;
    int n = s[i] < 0x80 ? 1 : qr_utf8_decode((const char *)s + i, len - i, &cp);
    if (n <= 0) { /* not UTF-8: drop the byte */
      i++;
      continue;
    }
    if (qr_content_xml_bad((const char *)s + i, (size_t)n, &at) < 0) luaL_addlstring(&b, (const char *)s + i, (size_t)n);
    i += (size_t)n;
  }
  luaL_pushresult(&b);
  return 1;
}

/* core.html_text(html) -> its text for summaries (qr_content_html_text): tags as spaces, the five
 * references HTML escaping writes decoded, whitespace collapsed, the ends trimmed. */
static int l_html_text(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, len > 0 ? len : 1);
  luaL_pushresultsize(&b, qr_content_html_text(s, len, out));
  return 1;
}

/* core.xml_char(s) -> nil | code point, character number (from 1): the first character of
 * valid UTF-8 s that text_check refuses as "char". */
static int l_xml_char(lua_State *L) {
  size_t len, at;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  long cp = qr_content_xml_bad((const char *)s, len, &at);
  if (cp < 0) return 0;
  lua_pushinteger(L, cp);
  lua_pushinteger(L, (lua_Integer)qr_content_chars((const char *)s, at) + 1);
  return 2;
}

/* core.text_check(v, required, max_chars, max_bytes) -> nil, padded | problem [, characters]
 * The checks a save makes of a text column (quire.types TEXT_RULES), in its order and in one call (a
 * bulk run makes thousands): problem is "missing" (nil; or blank, when required), "type" (not a
 * string), "utf8", "char" (a character XML 1.0 cannot carry, or a noncharacter: with its code
 * point and its character number), "bytes" (over max_bytes) or "chars" (over max_chars, with
 * the count). For
 * valid text, padded says it starts or ends with whitespace (a title is then trimmed). */
static int l_text_check(lua_State *L) {
  int required = lua_toboolean(L, 2);
  lua_Integer max_chars = luaL_optinteger(L, 3, -1);
  lua_Integer max_bytes = luaL_optinteger(L, 4, -1);
  int t = lua_type(L, 1);
  if (t == LUA_TNIL) {
    lua_pushliteral(L, "missing");
    return 1;
  }
  if (t != LUA_TSTRING) {
    lua_pushliteral(L, "type");
    return 1;
  }
  size_t len;
  const char *s = lua_tolstring(L, 1, &len);
  qr_text_info_t info;
  qr_text_problem_t p = qr_content_text_check(s, len, required, max_chars, max_bytes, &info);
  if (p == QR_TEXT_OK) {
    lua_pushnil(L);
    lua_pushboolean(L, info.padded);
    return 2;
  }
  lua_pushstring(L, qr_content_text_problem(p));
  if (p == QR_TEXT_CHAR) {
    lua_pushinteger(L, info.cp);
    lua_pushinteger(L, (lua_Integer)info.char_at);
    return 3;
  }
  if (p == QR_TEXT_CHARS) {
    lua_pushinteger(L, (lua_Integer)info.chars);
    return 2;
  }
  return 1;
}

#define COPY_DEPTH 64

#define COPY_GATHER 256 /* pairs a copy gathers on the stack; bigger tables walk twice */

static void push_copy(lua_State *L, int src, int depth);

/* A big table: one walk to count its pairs, so the copy is made at its final size, and one to
 * fill it. */
static void push_copy_counted(lua_State *L, int src, int depth) {
  lua_Unsigned narr = lua_rawlen(L, src), n = 0;
  lua_pushnil(L);
  while (lua_next(L, src)) {
    n++;
    lua_pop(L, 1);
  }
  lua_createtable(L, (int)narr, n > narr ? (int)(n - narr) : 0);
  int dst = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, src)) { /* dst key value */
    luaL_checkstack(L, 4, "copy");
    push_copy(L, lua_gettop(L), depth + 1);
    lua_pushvalue(L, -3);
    lua_insert(L, -2);
    lua_rawset(L, dst);
    lua_pop(L, 1);
  }
}

/* Pushes a deep copy of the value at src. A table with a metatable (a read-only proxy) cannot
 * be changed through and is kept as is. A small table is walked once: its pairs (values copied)
 * gather on the stack, then go into a table made at its final size, so filling it never
 * rehashes. */
static void push_copy(lua_State *L, int src, int depth) {
  if (lua_type(L, src) != LUA_TTABLE) {
    lua_pushvalue(L, src);
    return;
  }
  if (lua_getmetatable(L, src)) {
    lua_pop(L, 1);
    lua_pushvalue(L, src);
    return;
  }
  if (depth > COPY_DEPTH) luaL_error(L, "copy: tables nested deeper than %d (a cycle?)", COPY_DEPTH);
  int base = lua_gettop(L), n = 0;
  lua_pushnil(L);
  while (lua_next(L, src)) { /* ... pairs, k v */
    if (n == COPY_GATHER) {
      lua_settop(L, base);
      push_copy_counted(L, src, depth);
      return;
    }
    luaL_checkstack(L, 4, "copy");
    push_copy(L, lua_gettop(L), depth + 1);
    lua_replace(L, -2);   /* ... pairs, k v' */
    lua_pushvalue(L, -2); /* ... pairs, k v' k: where lua_next goes on from */
    n++;
  }
  lua_Unsigned narr = lua_rawlen(L, src);
  lua_createtable(L, (int)narr, (lua_Unsigned)n > narr ? (int)(n - narr) : 0);
  lua_insert(L, base + 1);
  for (int i = 0; i < n; i++) lua_rawset(L, base + 1); /* takes the topmost pair */
}

/* core.copy(v) -> a deep copy of plain tables (keys are not copied); other values as they are. */
static int l_copy(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  push_copy(L, 1, 0);
  return 1;
}

#define MEMO_STRING_MAX 120 /* longer strings join a memo key as their hash */
#define MEMO_LIST_MAX 64    /* entries in a list argument */

/* Writes "i<id>" ("i<id>c" for a card: no body) to part when the table at idx is a stored entry:
 * a positive integer id, a string slug and a type defs (at index defs) holds. Returns 0 if not.
 * (The caller adds part to its buffer with the stack as the buffer left it.) */
#define MEMO_ENTRY_PART 32
static int memo_entry(lua_State *L, int idx, int defs, char part[MEMO_ENTRY_PART]) {
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_getfield(L, idx, "id");
  lua_Integer id = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  if (id <= 0) return 0;
  int ok = lua_getfield(L, idx, "slug") == LUA_TSTRING;
  lua_pop(L, 1);
  if (!ok) return 0;
  ok = lua_getfield(L, idx, "type") == LUA_TSTRING && lua_rawget(L, defs) != LUA_TNIL; /* (rawget replaces the name) */
  lua_pop(L, 1);
  if (!ok) return 0;
  int card = lua_getfield(L, idx, "body") == LUA_TNIL;
  lua_pop(L, 1);
  snprintf(part, MEMO_ENTRY_PART, "i%lld%s", (long long)id, card ? "c" : "");
  return 1;
}

/* Adds the key part of a plain list of at most MEMO_LIST_MAX stored entries. Returns 0 if the
 * table at idx is not one (nothing is added then: the caller's buffer is left as it was). */
static int memo_list(lua_State *L, int idx, int defs, luaL_Buffer *b) {
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_Unsigned n = lua_rawlen(L, idx), keys = 0;
  if (n > MEMO_LIST_MAX) return 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (++keys > n) {
      lua_pop(L, 1);
      return 0;
    }
  }
  for (lua_Unsigned i = 1; i <= n; i++) {
    if (lua_rawgeti(L, idx, (lua_Integer)i) != LUA_TTABLE) {
      lua_pop(L, 1);
      return 0;
    }
    lua_pop(L, 1);
  }
  /* Each item checked before anything is added. */
  luaL_Buffer parts;
  luaL_buffinit(L, &parts);
  for (lua_Unsigned i = 1; i <= n; i++) {
    char part[MEMO_ENTRY_PART];
    lua_rawgeti(L, idx, (lua_Integer)i);
    int ok = memo_entry(L, lua_gettop(L), defs, part);
    lua_pop(L, 1); /* (the buffer's box on top again before it grows) */
    if (!ok) {
      luaL_pushresult(&parts);
      lua_pop(L, 1);
      return 0;
    }
    luaL_addchar(&parts, i == 1 ? 'l' : ',');
    luaL_addstring(&parts, part);
  }
  if (n == 0) luaL_addchar(&parts, 'l');
  luaL_pushresult(&parts);
  luaL_addvalue(b);
  return 1;
}

#define MEMO_TABLE_DEPTH 16    /* tables within tables, in a table argument */
#define MEMO_TABLE_VALUES 4096 /* keys and values in all of them */

/* A long string's or a table's key part: the first 128 bits of its SHA-256, not a fast hash,
 * because what a plugin passes may come from a request and a crafted collision would hand one
 * value out for another input. */
static void memo_hash_hex(char out[40], char tag, const char *s, size_t len) {
  unsigned char h[32];
  mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)s, len, h);
  out[0] = tag;
  for (int i = 0; i < 16; i++) snprintf(out + 1 + 2 * i, 3, "%02x", h[i]);
}

typedef struct {
  const char *s;
  size_t len;
} memo_pair;
static int memo_pair_cmp(const void *a, const void *b) {
  const memo_pair *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Pushes the serialisation of the value at idx (a key or a value inside a table argument): each
 * kind self-delimiting (strings by length, tables in braces), so no two values give the same
 * bytes; a table's pairs sorted by their key's bytes, so the order they were added in does not
 * matter. Returns NULL, or why the value cannot be (nothing pushed then: the caller returns). */
static const char *memo_ser(lua_State *L, int idx, int depth, int *values) {
  if (++*values > MEMO_TABLE_VALUES) return "more than 4096 keys and values";
  if (!lua_checkstack(L, 8)) return "tables nested too deep";
  switch (lua_type(L, idx)) {
  case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, idx) ? "T" : "F"); return NULL;
  case LUA_TFUNCTION: lua_pushfstring(L, "f%p;", lua_topointer(L, idx)); return NULL;
  case LUA_TLIGHTUSERDATA: lua_pushfstring(L, "u%p;", lua_touserdata(L, idx)); return NULL; /* (json null) */
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) lua_pushfstring(L, "n%I;", (LUA_INTEGER)lua_tointeger(L, idx));
    else {
      char num[64];
      snprintf(num, sizeof num, "d%a;", (double)lua_tonumber(L, idx));
      lua_pushstring(L, num);
    }
    return NULL;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (len <= MEMO_STRING_MAX) {
      char head[24];
      snprintf(head, sizeof head, "s%zu:", len);
      lua_pushstring(L, head);
      lua_pushlstring(L, s, len);
      lua_concat(L, 2);
    } else {
      char hex[40];
      memo_hash_hex(hex, 'h', s, len);
      lua_pushstring(L, hex);
    }
    return NULL;
  }
  case LUA_TTABLE: break;
  default: return "a value that is not plain data (a userdata or a coroutine)";
  }
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return "a table with a metatable";
  }
  if (depth >= MEMO_TABLE_DEPTH) return "tables nested more than 16 deep (or a cycle)";
  lua_newtable(L); /* the pairs' strings, kept while they are sorted */
  int pairs = lua_gettop(L), n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int kv = lua_gettop(L);
    const char *why = memo_ser(L, kv - 1, depth + 1, values);
    if (!why) {
      why = memo_ser(L, kv, depth + 1, values);
      if (why) lua_pop(L, 1);
    }
    if (why) {
      lua_settop(L, pairs - 1);
      return why;
    }
    lua_concat(L, 2);
    lua_rawseti(L, pairs, ++n);
    lua_pop(L, 1); /* the value: the key stays for lua_next */
  }
  memo_pair *sorted = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *sorted, 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, pairs, i + 1);
    sorted[i].s = lua_tolstring(L, -1, &sorted[i].len); /* (anchored in pairs) */
    lua_pop(L, 1);
  }
  qsort(sorted, (size_t)n, sizeof *sorted, memo_pair_cmp);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '{');
  for (int i = 0; i < n; i++) luaL_addlstring(&b, sorted[i].s, sorted[i].len);
  luaL_addchar(&b, '}');
  luaL_pushresult(&b);
  lua_replace(L, pairs);
  lua_settop(L, pairs);
  return NULL;
}

/* core.memo_key(prefix, defs, ...) -> key: prefix and one part per argument, joined by NUL bytes
 * (no part holds one): nil, booleans, numbers, strings (a long one or one holding a NUL by its
 * hash, memo_hash_hex), functions by identity, json null, stored entries by id (defs: the
 * content types, name -> definition) and plain lists of up to 64 of them; any other table by
 * the hash of its content (memo_ser), so two tables share a part only when they hold the same.
 * nil and why when an argument cannot be keyed (a table holding a userdata, say, or too large):
 * the caller then runs fn without keeping its value. */
static int l_memo_key(lua_State *L) {
  size_t plen;
  const char *prefix = luaL_checklstring(L, 1, &plen);
  luaL_checktype(L, 2, LUA_TTABLE);
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, prefix, plen);
  for (int i = 3; i <= n; i++) {
    luaL_addchar(&b, '\0');
    switch (lua_type(L, i)) {
    case LUA_TNIL: luaL_addchar(&b, '-'); break;
    case LUA_TBOOLEAN: luaL_addchar(&b, lua_toboolean(L, i) ? 'T' : 'F'); break;
    case LUA_TFUNCTION:
    case LUA_TLIGHTUSERDATA: { /* a function by its identity (code and what it captures), json null */
      char ptr[40];
      snprintf(ptr, sizeof ptr, "%c%p", lua_type(L, i) == LUA_TFUNCTION ? 'f' : 'u', lua_topointer(L, i));
      luaL_addstring(&b, ptr);
      break;
    }
    case LUA_TNUMBER: {
      char num[64];
      if (lua_isinteger(L, i)) snprintf(num, sizeof num, "n%lld", (long long)lua_tointeger(L, i));
      else snprintf(num, sizeof num, "d%a", (double)lua_tonumber(L, i));
      luaL_addstring(&b, num);
      break;
    }
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, i, &len);
      if (len <= MEMO_STRING_MAX && !memchr(s, 0, len)) {
        luaL_addchar(&b, 's');
        luaL_addlstring(&b, s, len);
      } else {
        char hex[40];
        memo_hash_hex(hex, 'h', s, len);
        luaL_addstring(&b, hex);
      }
      break;
    }
    case LUA_TTABLE: {
      char part[MEMO_ENTRY_PART];
      if (memo_entry(L, i, 2, part)) {
        luaL_addstring(&b, part);
        break;
      }
      if (memo_list(L, i, 2, &b)) break;
      int values = 0;
      const char *why = memo_ser(L, i, 0, &values);
      if (why) {
        lua_pushnil(L);
        lua_pushfstring(L, "argument %d of fn is a table holding %s", i - 2, why);
        return 2;
      }
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      char hex[40];
      memo_hash_hex(hex, 't', s, len);
      lua_pop(L, 1); /* (the buffer's box on top again before it grows) */
      luaL_addstring(&b, hex);
      break;
    }
    default:
      lua_pushnil(L);
      lua_pushfstring(L, "argument %d of fn is a %s", i - 2, luaL_typename(L, i));
      return 2;
    }
  }
  luaL_pushresult(&b);
  return 1;
}

/* core.memo_tags(defs, ...) -> the cache tags of the stored entries among the arguments, alone
 * or in a list (the ones memo_key names by id): "entry:ID", "teaser:ID" for a card. */
static int l_memo_tags(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = lua_gettop(L), out = 0;
  lua_newtable(L);
  int list = n + 1;
  for (int i = 2; i <= n; i++) {
    if (lua_type(L, i) != LUA_TTABLE) continue;
    char part[MEMO_ENTRY_PART];
    if (memo_entry(L, i, 1, part)) { /* "i<id>" or "i<id>c" */
      size_t len = strlen(part);
      int card = part[len - 1] == 'c';
      if (card) part[len - 1] = 0;
      lua_pushfstring(L, "%s:%s", card ? "teaser" : "entry", part + 1);
      lua_rawseti(L, list, ++out);
      continue;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int is_list = memo_list(L, i, 1, &b);
    luaL_pushresult(&b);
    lua_pop(L, 1);
    if (!is_list) continue;
    lua_Unsigned len = lua_rawlen(L, i);
    for (lua_Unsigned k = 1; k <= len; k++) {
      lua_rawgeti(L, i, (lua_Integer)k);
      lua_getfield(L, -1, "id");
      int card = lua_getfield(L, -2, "body") == LUA_TNIL;
      lua_pushfstring(L, "%s:%I", card ? "teaser" : "entry", (LUA_INTEGER)lua_tointeger(L, -2));
      lua_rawseti(L, list, ++out);
      lua_pop(L, 3);
    }
  }
  return 1;
}

/* ---- quire.json's encoder: JSON with object keys sorted (lua/quire/json.lua), byte for byte what
 * its Lua version wrote, made here because a feed's JSON spent most of its time in that walk.
 * The output grows in a userdata (Lua's memory, under its cap; nothing to free on an error).
 * Upvalues: cjson.encode (numbers other than small integers, and the values it refuses, so its
 * errors and formats stay), cjson.null, json.array_mt, and the Lua encoder (a table with any
 * other metatable, whose __index or __pairs the walk here would not see). */
#define JSON_DEPTH_MAX 1000

typedef struct {
  size_t len, cap;
  char data[];
} jbuf_t;

typedef struct {
  int slot; /* stack slot of the buffer userdata */
  jbuf_t *b;
} jout_t;

/* Room for n more bytes in the buffer. */
static char *jreserve(lua_State *L, jout_t *o, size_t n) {
  jbuf_t *b = o->b;
  if (b->cap - b->len < n) {
    size_t cap = b->cap * 2;
    while (cap - b->len < n) cap *= 2;
    jbuf_t *nb = lua_newuserdatauv(L, sizeof *nb + cap, 0);
    nb->len = b->len, nb->cap = cap;
    memcpy(nb->data, b->data, b->len);
    lua_replace(L, o->slot);
    o->b = b = nb;
  }
  return b->data + b->len;
}

/* What cjson writes for each byte of a string: 0 the byte itself, else the letter after the
 * backslash ('u': \u00XX). ", \ and / escaped, control bytes and DEL too, other bytes as they are. */
static const char jesc[256] = {
    ['\0'] = 'u', [1] = 'u', [2] = 'u', [3] = 'u', [4] = 'u', [5] = 'u', [6] = 'u', [7] = 'u',
    ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', [11] = 'u', ['\f'] = 'f', ['\r'] = 'r', [14] = 'u', [15] = 'u',
    [16] = 'u', [17] = 'u', [18] = 'u', [19] = 'u', [20] = 'u', [21] = 'u', [22] = 'u', [23] = 'u',
    [24] = 'u', [25] = 'u', [26] = 'u', [27] = 'u', [28] = 'u', [29] = 'u', [30] = 'u', [31] = 'u',
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', [127] = 'u'};

/* The index of the first byte of s[i..end) that jesc escapes, or end. With SSE2, 16 bytes are
 * tested at once (a feed item's HTML body is most of a feed's JSON, in runs between its "/"s). */
static size_t jplain_run(const char *s, size_t i, size_t end) {
#ifdef __SSE2__
  const __m128i ctl = _mm_set1_epi8(0x1f), quot = _mm_set1_epi8('"'), bsl = _mm_set1_epi8('\\'),
                sl = _mm_set1_epi8('/'), del = _mm_set1_epi8(0x7f);
  for (; i + 16 <= end; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
    /* (unsigned: a byte <= 0x1f is its own minimum with 0x1f; bytes >= 0x80 are not) */
    __m128i bad = _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v);
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, quot), _mm_cmpeq_epi8(v, bsl)));
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, sl), _mm_cmpeq_epi8(v, del)));
    unsigned m = (unsigned)_mm_movemask_epi8(bad);
    if (m) return i + (unsigned)__builtin_ctz(m);
  }
#endif
  while (i < end && !jesc[(unsigned char)s[i]]) i++;
  return i;
}

/* A string as cjson writes one, a block of input at a time into room for its worst case. */
static void jput_string(lua_State *L, jout_t *o, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  enum { BLOCK = 4096 };
  *jreserve(L, o, 1) = '"';
  o->b->len++;
  for (size_t at = 0; at < n; at += BLOCK) {
    size_t end = n - at < BLOCK ? n : at + BLOCK;
    char *w = jreserve(L, o, 6 * (end - at)), *start = w;
    for (size_t i = at; i < end; i++) {
      size_t run = jplain_run(s, i, end); /* bytes written as they are, copied as one */
      memcpy(w, s + i, run - i);
      w += run - i;
      if (run == end) break;
      i = run;
      unsigned char c = (unsigned char)s[i];
      char e = jesc[c];
      if (e != 'u') {
        *w++ = '\\', *w++ = e;
      } else {
        memcpy(w, "\\u00", 4);
        w[4] = hex[c >> 4], w[5] = hex[c & 15];
        w += 6;
      }
    }
    o->b->len += (size_t)(w - start);
  }
  *jreserve(L, o, 1) = '"';
  o->b->len++;
}

static void jput(lua_State *L, jout_t *o, const char *s, size_t n) {
  memcpy(jreserve(L, o, n), s, n);
  o->b->len += n;
}

/* Appends what the function at upvalue up gives for the value at idx (a string). */
static void jput_call(lua_State *L, jout_t *o, int up, int idx) {
  lua_pushvalue(L, lua_upvalueindex(up));
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  if (!s) luaL_error(L, "json.encode: an encoder returned no string");
  jput(L, o, s, n);
  lua_pop(L, 1);
}

typedef struct {
  const char *s;
  size_t len;
} jkey_t;

/* Lua's own string order (lvm.c l_strcmp: strcoll, part by part past embedded NULs), as the Lua
 * encoder's table.sort had. */
static int jkey_cmp(const void *pa, const void *pb) {
  const jkey_t *a = pa, *b = pb;
  const char *l = a->s, *r = b->s;
  size_t ll = a->len, lr = b->len;
  for (;;) {
    int t = strcoll(l, r);
    if (t != 0) return t;
    size_t len = strlen(l);
    if (len == lr) return len == ll ? 0 : 1;
    if (len == ll) return -1;
    len++;
    l += len, ll -= len, r += len, lr -= len;
  }
}

static void jput_value(lua_State *L, jout_t *o, int idx, int depth);

static void jput_table(lua_State *L, jout_t *o, int idx, int depth) {
  if (depth > JSON_DEPTH_MAX) luaL_error(L, "json.encode: tables nested deeper than %d (a cycle?)", JSON_DEPTH_MAX);
  luaL_checkstack(L, 8, "json.encode");
  int is_list_mt = 0;
  if (lua_getmetatable(L, idx)) {
    is_list_mt = lua_rawequal(L, -1, lua_upvalueindex(3));
    lua_pop(L, 1);
    if (!is_list_mt) { /* a proxy or object of its own: the Lua walk sees its metamethods */
      jput_call(L, o, 4, idx);
      return;
    }
  }
  lua_Unsigned n = lua_rawlen(L, idx);
  int is_array = n > 0;
  lua_Integer nkeys = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    nkeys++;
    if (is_array && !(lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && (lua_Unsigned)lua_tointeger(L, -1) <= n))
      is_array = 0;
  }
  if (n == 0 && nkeys == 0 && is_list_mt) is_array = 1;
  if (is_array) {
    jput(L, o, "[", 1);
    for (lua_Unsigned i = 1; i <= n; i++) {
      if (i > 1) jput(L, o, ",", 1);
      lua_rawgeti(L, idx, (lua_Integer)i);
      jput_value(L, o, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    jput(L, o, "]", 1);
    return;
  }
  /* The keys as strings (tostring), anchored in a list, sorted through an array of pointers. */
  lua_createtable(L, (int)nkeys, 0);
  int list = lua_gettop(L);
  lua_Integer k = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) lua_pushvalue(L, -1);
    else luaL_tolstring(L, -1, NULL);
    lua_rawseti(L, list, ++k);
  }
  jkey_t *keys = lua_newuserdatauv(L, sizeof *keys * (size_t)(k ? k : 1), 0);
  for (lua_Integer i = 0; i < k; i++) {
    lua_rawgeti(L, list, i + 1);
    keys[i].s = lua_tolstring(L, -1, &keys[i].len); /* anchored in list */
    lua_pop(L, 1);
  }
  qsort(keys, (size_t)k, sizeof *keys, jkey_cmp);
  jput(L, o, "{", 1);
  for (lua_Integer i = 0; i < k; i++) {
    if (i > 0) jput(L, o, ",", 1);
    jput_string(L, o, keys[i].s, keys[i].len);
    jput(L, o, ":", 1);
    lua_pushlstring(L, keys[i].s, keys[i].len);
    if (lua_rawget(L, idx) == LUA_TNIL) { /* a number key, written as text as cjson does */
      lua_pop(L, 1);
      size_t got = lua_stringtonumber(L, keys[i].s);
      if (got == keys[i].len + 1) lua_rawget(L, idx);
      else {
        if (got) lua_pop(L, 1); /* (a key with a NUL inside: converted only up to it) */
        lua_pushnil(L);
      }
    }
    jput_value(L, o, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  jput(L, o, "}", 1);
  lua_pop(L, 2); /* the keys and their list */
}

static void jput_value(lua_State *L, jout_t *o, int idx, int depth) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: jput(L, o, "null", 4); return;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) jput(L, o, "true", 4);
      else jput(L, o, "false", 5);
      return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v > -100000000000000LL && v < 100000000000000LL) { /* %.14g writes these digit for digit */
          char num[24];
          int len = snprintf(num, sizeof num, "%lld", (long long)v);
          jput(L, o, num, (size_t)len);
          return;
        }
      }
      jput_call(L, o, 1, idx);
      return;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      jput_string(L, o, s, n);
      return;
    }
    case LUA_TLIGHTUSERDATA:
      if (lua_rawequal(L, idx, lua_upvalueindex(2))) {
        jput(L, o, "null", 4);
        return;
      }
      jput_call(L, o, 1, idx);
      return;
    case LUA_TTABLE: jput_table(L, o, idx, depth); return;
    default: jput_call(L, o, 1, idx); /* cjson's error names what it cannot write */
  }
}

static int json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  jbuf_t *b = lua_newuserdatauv(L, sizeof *b + 256, 0);
  b->len = 0, b->cap = 256;
  jout_t o = {2, b};
  jput_value(L, &o, 1, 0);
  lua_pushlstring(L, o.b->data, o.b->len);
  return 1;
}

/* core.json_encoder(cjson_encode, null, array_mt, lua_encode) -> encode(v) (see above). */
static int l_json_encoder(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  lua_settop(L, 4);
  lua_pushcclosure(L, json_encode, 4);
  return 1;
}

/* core.term_list(ids, names) -> tags, section, missing: an entry's terms from its term_ids
 * column ("12,5,7": ids in position order, or nil) and names (id as text -> terms row { taxonomy,
 * name }): the names of its tags in order, the name of its first section, and true when an id is
 * not in names (then left out). As a gmatch("%d+") over ids in Lua, without a string, a call and a
 * lookup per id in the interpreter (every card of a list decodes its entry's terms). */
static int l_term_list(lua_State *L) {
  size_t len = 0;
  const char *ids = lua_isnil(L, 1) ? NULL : luaL_checklstring(L, 1, &len);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_newtable(L); /* 3: the tags */
  lua_pushnil(L);  /* 4: the section */
  int ntags = 0, missing = 0;
  for (size_t i = 0; i < len;) {
    if (ids[i] < '0' || ids[i] > '9') {
      i++;
      continue;
    }
    size_t from = i;
    while (i < len && ids[i] >= '0' && ids[i] <= '9') i++;
    lua_pushlstring(L, ids + from, i - from);
    if (lua_gettable(L, 2) == LUA_TNIL) { /* (names[id], as the Lua did) */
      missing = 1;
      lua_pop(L, 1);
      continue;
    }
    lua_getfield(L, -1, "taxonomy");
    const char *taxonomy = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    int tag = strcmp(taxonomy, "tag") == 0, section = !tag && strcmp(taxonomy, "section") == 0 && lua_isnil(L, 4);
    lua_pop(L, 1);
    if (tag || section) {
      lua_getfield(L, -1, "name");
      if (tag) {
        if (lua_isnil(L, -1)) lua_pop(L, 1); /* (a nil name adds nothing, as tags[#tags + 1] = nil) */
        else lua_rawseti(L, 3, ++ntags);
      } else {
        lua_replace(L, 4);
      }
    }
    lua_pop(L, 1); /* the terms row */
  }
  lua_pushboolean(L, missing);
  return 3;
}

/* core.tag_string(set [, extra]) -> the keys of set and extra (when given and set has a key) in
 * Lua's string order, joined by spaces ("" for an empty set); nil when a key is not a string.
 * What a page's cache tags were made with in Lua (a list from pairs, table.sort, table.concat):
 * every page sorts some 40 tags, and table.sort's calls through the API cost ~1 K instructions
 * a tag. */
static int l_tag_string(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  size_t lextra = 0;
  const char *extra = luaL_optlstring(L, 2, NULL, &lextra);
  lua_settop(L, 2);
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) return 0;
    n++;
  }
  if (n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (extra) n++;
  jkey_t *keys = lua_newuserdatauv(L, sizeof *keys * n, 0);
  size_t k = 0, total = 0;
  if (extra) keys[k].s = extra, keys[k].len = lextra, k++;
  lua_pushnil(L);
  while (k < n && lua_next(L, 1)) {
    lua_pop(L, 1);
    keys[k].s = lua_tolstring(L, -1, &keys[k].len); /* (anchored in set: no Lua runs meanwhile) */
    k++;
  }
  for (size_t i = 0; i < k; i++) total += keys[i].len + 1;
  total--;
  qsort(keys, k, sizeof *keys, jkey_cmp);
  luaL_Buffer b;
  char *w = luaL_buffinitsize(L, &b, total);
  for (size_t i = 0; i < k; i++) {
    if (i > 0) *w++ = ' ';
    memcpy(w, keys[i].s, keys[i].len);
    w += keys[i].len;
  }
  luaL_pushresultsize(&b, total);
  return 1;
}

/* core.fnv1a(s) -> the 32-bit FNV-1a hash of s: which export worker takes an address. Every
 * worker hashes every address of the site; the Lua loop cost ~700 instructions a byte. */
static int l_fnv1a(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
  lua_pushinteger(L, (lua_Integer)h);
  return 1;
}

void qr_lua_content_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"slugify", l_slugify},     {"slug_valid", l_slug_valid},
                                 {"utf8_valid", l_utf8_valid},
                                 {"text_check", l_text_check}, {"copy", l_copy},
                                 {"memo_key", l_memo_key}, {"memo_tags", l_memo_tags}, {"term_list", l_term_list},
                                 {"trim", l_trim}, {"join", l_join}, {"xml_text", l_xml_text}, {"html_text", l_html_text},
                                 {"xml_char", l_xml_char}, {"json_encoder", l_json_encoder},
                                 {"tag_string", l_tag_string}, {"fnv1a", l_fnv1a}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
