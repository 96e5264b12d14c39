/* Lua binding for the few cryptographic primitives the core needs: random bytes, HMAC-SHA-256
 * (signed tokens, CSRF), base64url (RFC 4648 section 5, unpadded: tokens and cursors),
 * constant-time comparison, and argon2id password hashing. */
#include <argon2.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <string.h>
#include <sys/random.h>

#include "lua_api.h"

/* core.random_bytes(n) -> n bytes from the kernel's CSPRNG */
static int l_random_bytes(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n > 0 && n <= 1024, 1, "1..1024 bytes");
  unsigned char buf[1024];
  size_t got = 0;
  while (got < (size_t)n) {
    ssize_t r = getrandom(buf + got, (size_t)n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return luaL_error(L, "getrandom failed: %s", strerror(errno));
    }
    got += (size_t)r;
  }
  lua_pushlstring(L, (const char *)buf, (size_t)n);
  return 1;
}

/* core.hmac_sha256(key, message) -> 32 raw bytes */
static int l_hmac_sha256(lua_State *L) {
  size_t klen, mlen;
  const char *key = luaL_checklstring(L, 1, &klen);
  const char *msg = luaL_checklstring(L, 2, &mlen);
  unsigned char out[32];
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  if (!md || mbedtls_md_hmac(md, (const unsigned char *)key, klen, (const unsigned char *)msg, mlen, out) != 0)
    return luaL_error(L, "HMAC-SHA-256 failed");
  lua_pushlstring(L, (const char *)out, sizeof out);
  return 1;
}

/* The base64url character of a 6-bit value: 'A'.. for 0..25, then 'a'.., '0'.., '-', '_'. In
 * constant time, as mbedTLS's encoder is, but without its scan of the whole alphabet for each
 * character (which cost a token more than its HMAC). (x >> 8 of a negative int is all ones: a
 * mask for a value past a bound.) */
static unsigned char b64url_char(unsigned v) {
  int x = (int)v, c = x + 'A';
  c += ((25 - x) >> 8) & 6;  /* 26..: 'a' + (v - 26) */
  c -= ((51 - x) >> 8) & 75; /* 52..: '0' + (v - 52) */
  c -= ((61 - x) >> 8) & 13; /* 62: '-' */
  c += ((62 - x) >> 8) & 49; /* 63: '_' */
  return (unsigned char)c;
}

/* The base64url text of len bytes at src, unpadded, written at out (room for len / 3 * 4 + 3
 * bytes): returns its length. */
static size_t b64url_into(unsigned char *out, const unsigned char *src, size_t len) {
  size_t i = 0, o = 0;
  for (; i + 3 <= len; i += 3) {
    unsigned w = (unsigned)src[i] << 16 | (unsigned)src[i + 1] << 8 | src[i + 2];
    out[o++] = b64url_char(w >> 18);
    out[o++] = b64url_char(w >> 12 & 63);
    out[o++] = b64url_char(w >> 6 & 63);
    out[o++] = b64url_char(w & 63);
  }
  if (len - i == 1) {
    unsigned w = (unsigned)src[i] << 16;
    out[o++] = b64url_char(w >> 18);
    out[o++] = b64url_char(w >> 12 & 63);
  } else if (len - i == 2) {
    unsigned w = (unsigned)src[i] << 16 | (unsigned)src[i + 1] << 8;
    out[o++] = b64url_char(w >> 18);
    out[o++] = b64url_char(w >> 12 & 63);
    out[o++] = b64url_char(w >> 6 & 63);
  }
  return o;
}

/* core.b64url(bytes) -> base64url text without padding (a page signs several tokens: hot) */
static int l_b64url(lua_State *L) {
  size_t len;
  const unsigned char *src = (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len <= ((size_t)1 << 30), 1, "at most 1 GiB");
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, len / 3 * 4 + 3);
  luaL_pushresultsize(&b, b64url_into(out, src, len));
  return 1;
}

/* A key of core.hmac_sha256_keyed: the SHA-256 states after the key's inner and outer pad
 * blocks (RFC 2104), hashed once, and a context each MAC starts from a copy of. */
#define HMAC_KEY_MT "quire.hmac_sha256_key"
typedef struct {
  mbedtls_md_context_t inner, outer, work;
} hmac_key;

static int hmac_key_gc(lua_State *L) {
  hmac_key *k = luaL_checkudata(L, 1, HMAC_KEY_MT);
  mbedtls_md_free(&k->inner);
  mbedtls_md_free(&k->outer);
  mbedtls_md_free(&k->work);
  return 0;
}

/* The HMAC of the n pieces of a message, one after the other, with key k: 0 or an mbedTLS error. */
static int hmac_keyed(hmac_key *k, const unsigned char *const *piece, const size_t *len, int n, unsigned char out[32]) {
  int err = mbedtls_md_clone(&k->work, &k->inner);
  for (int i = 0; i < n && !err; i++) err = mbedtls_md_update(&k->work, piece[i], len[i]);
  if (!err) err = mbedtls_md_finish(&k->work, out);
  if (!err) err = mbedtls_md_clone(&k->work, &k->outer);
  if (!err) err = mbedtls_md_update(&k->work, out, 32);
  if (!err) err = mbedtls_md_finish(&k->work, out);
  return err;
}

/* mac(message) -> 32 raw bytes: HMAC-SHA-256 with the closure's key */
static int l_hmac_keyed_mac(lua_State *L) {
  size_t mlen;
  const unsigned char *msg = (const unsigned char *)luaL_checklstring(L, 1, &mlen);
  unsigned char out[32];
  if (hmac_keyed(lua_touserdata(L, lua_upvalueindex(1)), &msg, &mlen, 1, out) != 0)
    return luaL_error(L, "HMAC-SHA-256 failed");
  lua_pushlstring(L, (const char *)out, sizeof out);
  return 1;
}

/* token(purpose, data, expires) -> body .. "." .. b64url(mac(purpose .. "\0" .. body)), where
 * body = b64url(data) .. "." .. expires (a number, written as Lua writes it): quire.tokens's
 * signed token, made in one buffer. */
static int l_hmac_keyed_token(lua_State *L) {
  size_t plen, dlen, elen;
  const char *purpose = luaL_checklstring(L, 1, &plen);
  const unsigned char *data = (const unsigned char *)luaL_checklstring(L, 2, &dlen);
  luaL_checktype(L, 3, LUA_TNUMBER);
  const char *expires = lua_tolstring(L, 3, &elen);
  luaL_argcheck(L, dlen <= ((size_t)1 << 30), 2, "at most 1 GiB");
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, dlen / 3 * 4 + 3 + 1 + elen + 1 + 43);
  size_t o = b64url_into(out, data, dlen);
  out[o++] = '.';
  memcpy(out + o, expires, elen);
  o += elen;
  static const unsigned char nul = 0;
  const unsigned char *piece[] = {(const unsigned char *)purpose, &nul, out};
  const size_t len[] = {plen, 1, o};
  unsigned char mac[32];
  if (hmac_keyed(lua_touserdata(L, lua_upvalueindex(1)), piece, len, 3, mac) != 0)
    return luaL_error(L, "HMAC-SHA-256 failed");
  out[o++] = '.';
  o += b64url_into(out + o, mac, sizeof mac);
  luaL_pushresultsize(&b, o);
  return 1;
}

/* core.hmac_sha256_keyed(key) -> mac, token, where mac(message) == core.hmac_sha256(key, message)
 * and token (above) signs with it: for a key that signs many messages (the site's tokens), whose
 * two pad blocks are then hashed once rather than for each message. */
static int l_hmac_sha256_keyed(lua_State *L) {
  size_t klen;
  const unsigned char *key = (const unsigned char *)luaL_checklstring(L, 1, &klen);
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  hmac_key *k = lua_newuserdatauv(L, sizeof *k, 0);
  mbedtls_md_init(&k->inner);
  mbedtls_md_init(&k->outer);
  mbedtls_md_init(&k->work);
  if (luaL_newmetatable(L, HMAC_KEY_MT)) {
    lua_pushcfunction(L, hmac_key_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  unsigned char block[64] = {0}, ipad[64], opad[64];
  int fail = !md || mbedtls_md_setup(&k->inner, md, 0) != 0 || mbedtls_md_setup(&k->outer, md, 0) != 0
             || mbedtls_md_setup(&k->work, md, 0) != 0;
  /* A key longer than the block is hashed first; a shorter one is padded with zeros. */
  if (!fail && klen > sizeof block) fail = mbedtls_md(md, key, klen, block) != 0;
  else if (!fail) memcpy(block, key, klen);
  for (size_t i = 0; i < sizeof block; i++) {
    ipad[i] = block[i] ^ 0x36;
    opad[i] = block[i] ^ 0x5c;
  }
  fail = fail || mbedtls_md_starts(&k->inner) != 0 || mbedtls_md_update(&k->inner, ipad, sizeof ipad) != 0
         || mbedtls_md_starts(&k->outer) != 0 || mbedtls_md_update(&k->outer, opad, sizeof opad) != 0;
  mbedtls_platform_zeroize(block, sizeof block);
  mbedtls_platform_zeroize(ipad, sizeof ipad);
  mbedtls_platform_zeroize(opad, sizeof opad);
  if (fail) return luaL_error(L, "HMAC-SHA-256 key setup failed");
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_hmac_keyed_mac, 1);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_hmac_keyed_token, 1);
  return 2;
}

/* core.hmac("sha1"|"sha256"|"sha512", key, message) -> the raw MAC (TOTP, RFC 6238) */
static int l_hmac(lua_State *L) {
  static const char *const names[] = {"sha1", "sha256", "sha512", NULL};
  static const mbedtls_md_type_t types[] = {MBEDTLS_MD_SHA1, MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA512};
  int alg = luaL_checkoption(L, 1, NULL, names);
  size_t klen, mlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *msg = luaL_checklstring(L, 3, &mlen);
  unsigned char out[64];
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(types[alg]);
  if (!md || mbedtls_md_hmac(md, (const unsigned char *)key, klen, (const unsigned char *)msg, mlen, out) != 0)
    return luaL_error(L, "HMAC-%s failed", names[alg]);
  lua_pushlstring(L, (const char *)out, mbedtls_md_get_size(md));
  return 1;
}

/* core.unb64url(text) -> the bytes, or nil when text holds a character outside base64url's
 * alphabet (padding included). Bits left over after the last whole byte are dropped. Decoded
 * here rather than by mbedTLS, which wants the standard alphabet, padding and whole groups. */
static int l_unb64url(lua_State *L) {
  size_t len;
  const unsigned char *src = (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len <= ((size_t)1 << 30), 1, "at most 1 GiB");
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, len / 4 * 3 + 3);
  size_t n = 0;
  unsigned bits = 0, nbits = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned c = src[i], v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else {
      lua_pushnil(L);
      return 1;
    }
    bits = ((bits << 6) | v) & 0xffffu;
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out[n++] = (unsigned char)(bits >> nbits);
    }
  }
  luaL_pushresultsize(&b, n);
  return 1;
}

/* core.equal(a, b) -> true when equal, in time that does not depend on where they differ */
static int l_equal(lua_State *L) {
  size_t alen, blen;
  const char *a = luaL_checklstring(L, 1, &alen);
  const char *b = luaL_checklstring(L, 2, &blen);
  unsigned char diff = (unsigned char)(alen != blen);
  size_t n = alen < blen ? alen : blen;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
  lua_pushboolean(L, diff == 0);
  return 1;
}

int qr_crypto_password_hash(const char *pw, size_t len, char out[QR_PASSWORD_HASH_MAX]) {
  unsigned char salt[16];
  if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt) return -1;
  return argon2id_hash_encoded(3, 1 << 16, 1, pw, len, salt, sizeof salt, 32, out, QR_PASSWORD_HASH_MAX) == ARGON2_OK
             ? 0 : -1;
}

int qr_crypto_password_verify(const char *encoded, const char *pw, size_t len) {
  return argon2id_verify(encoded, pw, len) == ARGON2_OK;
}

/* core.password_hash(password) -> "$argon2id$v=19$m=65536,t=3,p=1$..." (RFC 9106's second
 * recommended option: 64 MiB, 3 passes) */
static int l_password_hash(lua_State *L) {
  size_t plen;
  const char *pw = luaL_checklstring(L, 1, &plen);
  char encoded[QR_PASSWORD_HASH_MAX];
  if (qr_crypto_password_hash(pw, plen, encoded) != 0) return luaL_error(L, "argon2id hashing failed");
  lua_pushstring(L, encoded);
  return 1;
}

/* core.password_verify(encoded, password) -> boolean */
static int l_password_verify(lua_State *L) {
  size_t plen;
  const char *encoded = luaL_checkstring(L, 1);
  const char *pw = luaL_checklstring(L, 2, &plen);
  lua_pushboolean(L, qr_crypto_password_verify(encoded, pw, plen));
  return 1;
}

void qr_lua_crypto_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"random_bytes", l_random_bytes}, {"hmac_sha256", l_hmac_sha256},
                                 {"hmac_sha256_keyed", l_hmac_sha256_keyed}, {"hmac", l_hmac},
                                 {"b64url", l_b64url}, {"unb64url", l_unb64url},
                                 {"equal", l_equal}, {"password_hash", l_password_hash},
                                 {"password_verify", l_password_verify}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
