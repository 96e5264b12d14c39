/* core.multipart_read: a multipart/form-data body (a spooled upload's file, or a string) split
 * into its fields (in memory, bounded) and its files (each streamed to a temporary file). */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua_api.h"
#include "multipart.h"

typedef struct {
  char *path, *field, *filename, *ctype;
  size_t size;
} file_t;

typedef struct {
  char *name;
  qr_buf_t value;
} field_t;

/* Everything one call holds, in a userdata whose __gc closes and frees it, and removes the
 * files it wrote unless they were handed to the caller: a Lua error at any point leaks nothing
 * and leaves no file behind. */
typedef struct {
  qr_multipart_t *m;
  const char *dir;
  size_t file_max, fields_max, fields_bytes;
  unsigned files_max;
  file_t *files;
  unsigned nfiles, files_cap;
  field_t *fields;
  unsigned nfields, fields_cap;
  int fd;          /* the file being written, or -1 */
  int in_field;    /* the current part is a field */
  int skip;        /* the current part is a file input left empty: dropped */
  int status;      /* the HTTP status a refusal means */
  int handed_over; /* the files are the caller's now */
  char *readbuf;
} ctx_t;

#define READ_PIECE (64 * 1024)

static void ctx_free(ctx_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  for (unsigned i = 0; i < c->nfiles; i++) {
    if (!c->handed_over) unlink(c->files[i].path);
    free(c->files[i].path);
    free(c->files[i].field);
    free(c->files[i].filename);
    free(c->files[i].ctype);
  }
  free(c->files);
  c->files = NULL;
  c->nfiles = 0;
  for (unsigned i = 0; i < c->nfields; i++) {
    free(c->fields[i].name);
    qr_buf_free(&c->fields[i].value);
  }
  free(c->fields);
  c->fields = NULL;
  c->nfields = 0;
  qr_multipart_free(c->m);
  c->m = NULL;
  free(c->readbuf);
  c->readbuf = NULL;
}

static int ctx_gc(lua_State *L) {
  ctx_free(lua_touserdata(L, 1));
  return 0;
}

static int stop(ctx_t *c, int status, const char *msg) {
  c->status = status;
  qr_multipart_stop(c->m, msg);
  return 1;
}

static int on_begin(void *ud, const qr_multipart_part_t *p) {
  ctx_t *c = ud;
  c->skip = c->in_field = 0;
  if (!p->filename) {
    if (c->nfields == c->fields_cap) {
      c->fields_cap = c->fields_cap ? c->fields_cap * 2 : 8;
      c->fields = qr_xrealloc(c->fields, c->fields_cap * sizeof *c->fields);
    }
    c->fields[c->nfields++] = (field_t){.name = qr_xstrdup(p->name)};
    c->in_field = 1;
    return 0;
  }
  if (!p->filename[0]) { /* a file input with nothing chosen: browsers send it empty */
    c->skip = 1;
    return 0;
  }
  if (c->nfiles >= c->files_max) {
    char msg[160];
    snprintf(msg, sizeof msg, "the upload has more than %u files (limits.upload_files): send fewer at a time", c->files_max);
    return stop(c, 413, msg);
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/.upload-XXXXXX", c->dir);
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0) return stop(c, errno == ENOSPC ? 507 : 500, "the server cannot store the upload now");
  if (c->nfiles == c->files_cap) {
    c->files_cap = c->files_cap ? c->files_cap * 2 : 4;
    c->files = qr_xrealloc(c->files, c->files_cap * sizeof *c->files);
  }
  c->files[c->nfiles++] = (file_t){.path = qr_xstrdup(path), .field = qr_xstrdup(p->name),
                                   .filename = qr_xstrdup(p->filename),
                                   .ctype = p->content_type ? qr_xstrdup(p->content_type) : NULL};
  c->fd = fd;
  return 0;
}

static int on_data(void *ud, const char *at, size_t len) {
  ctx_t *c = ud;
  if (c->skip) return 0;
  if (c->in_field) {
    if (len > c->fields_max - c->fields_bytes) {
      char msg[160];
      snprintf(msg, sizeof msg, "the form's text fields are longer than %zu bytes together", c->fields_max);
      return stop(c, 413, msg);
    }
    c->fields_bytes += len;
    qr_buf_append(&c->fields[c->nfields - 1].value, at, len);
    return 0;
  }
  file_t *f = &c->files[c->nfiles - 1];
  if (len > c->file_max - f->size) {
    char msg[400];
    snprintf(msg, sizeof msg, "%.200s is larger than %zu bytes (limits.upload_file)", f->filename, c->file_max);
    return stop(c, 413, msg);
  }
  for (size_t done = 0; done < len;) {
    ssize_t w = write(c->fd, at + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return stop(c, w < 0 && errno == ENOSPC ? 507 : 500, "the server cannot store the upload now");
    done += (size_t)w;
  }
  f->size += len;
  return 0;
}

static int on_end(void *ud) {
  ctx_t *c = ud;
  if (c->fd >= 0) {
    int rc = close(c->fd);
    c->fd = -1;
    if (rc != 0) return stop(c, 500, "the server cannot store the upload now");
  }
  return 0;
}

static size_t opt_size(lua_State *L, int t, const char *k, size_t dflt) {
  lua_getfield(L, t, k);
  lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : (lua_Integer)dflt;
  lua_pop(L, 1);
  luaL_argcheck(L, v > 0, t, "limits must be positive whole numbers");
  return (size_t)v;
}

/* core.multipart_read(body, content_type, dir, limits) with body a file descriptor (read from
 * offset 0, left open) or a string; limits = { file_max, files_max, fields_max, parts_max }.
 * -> { fields = { name = value }, files = { { field, filename, type, path, size }, ... } } (the
 * files, in dir, are the caller's to remove), or nil, a message for a person and the HTTP status
 * it means (400 malformed or cut off, 413 over a limit, 415 not multipart/form-data, 500/507). */
static int l_multipart_read(lua_State *L) {
  int is_fd = lua_isinteger(L, 1);
  size_t slen = 0;
  const char *s = is_fd ? NULL : luaL_checklstring(L, 1, &slen);
  const char *ct = luaL_optstring(L, 2, "");
  const char *dir = luaL_checkstring(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  char boundary[QR_MULTIPART_BOUNDARY_MAX + 1];
  size_t blen = qr_multipart_boundary(ct, boundary);
  if (blen == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "send the upload as multipart/form-data with a boundary (Content-Type: multipart/form-data; boundary=...)");
    lua_pushinteger(L, 415);
    return 3;
  }
  ctx_t *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  c->fd = -1;
  if (luaL_newmetatable(L, "quire.multipart")) {
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  c->dir = dir;
  c->file_max = opt_size(L, 4, "file_max", 25 * 1024 * 1024);
  c->files_max = (unsigned)opt_size(L, 4, "files_max", 20);
  c->fields_max = opt_size(L, 4, "fields_max", 64 * 1024);
  qr_multipart_limits_t lim = {.part_head_max = 8 * 1024, .parts_max = (unsigned)opt_size(L, 4, "parts_max", 64)};
  static const qr_multipart_callbacks_t cbs = {on_begin, on_data, on_end};
  c->m = qr_multipart_new(boundary, blen, &lim, &cbs, c);
  c->status = 400;
  int rc = 0;
  if (is_fd) {
    int fd = (int)lua_tointeger(L, 1);
    c->readbuf = qr_xmalloc(READ_PIECE);
    for (off_t off = 0;;) {
      ssize_t r = pread(fd, c->readbuf, READ_PIECE, off);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        c->status = 500;
        qr_multipart_stop(c->m, "the server cannot read the upload back");
        rc = -1;
        break;
      }
      if (r == 0) break;
      off += r;
      if ((rc = qr_multipart_feed(c->m, c->readbuf, (size_t)r)) != 0) break;
    }
  } else {
    rc = qr_multipart_feed(c->m, s, slen);
  }
  if (rc == 0) rc = qr_multipart_finish(c->m);
  if (rc != 0) {
    if (rc == QR_MULTIPART_LIMIT) c->status = 413;
    lua_pushnil(L);
    lua_pushstring(L, qr_multipart_error(c->m));
    lua_pushinteger(L, c->status);
    ctx_free(c); /* the files written so far are removed now */
    return 3;
  }
  lua_createtable(L, 0, 2);
  lua_createtable(L, 0, (int)c->nfields);
  for (unsigned i = 0; i < c->nfields; i++) {
    lua_pushlstring(L, c->fields[i].value.data ? c->fields[i].value.data : "", c->fields[i].value.len);
    lua_setfield(L, -2, c->fields[i].name);
  }
  lua_setfield(L, -2, "fields");
  lua_createtable(L, (int)c->nfiles, 0);
  for (unsigned i = 0; i < c->nfiles; i++) {
    file_t *f = &c->files[i];
    lua_createtable(L, 0, 5);
    lua_pushstring(L, f->field);
    lua_setfield(L, -2, "field");
    lua_pushstring(L, f->filename);
    lua_setfield(L, -2, "filename");
    if (f->ctype) {
      lua_pushstring(L, f->ctype);
      lua_setfield(L, -2, "type");
    }
    lua_pushstring(L, f->path);
    lua_setfield(L, -2, "path");
    lua_pushinteger(L, (lua_Integer)f->size);
    lua_setfield(L, -2, "size");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "files");
  c->handed_over = 1; /* everything is pushed: from here the files are the caller's */
  return 1;
}

void qr_lua_multipart_open(lua_State *L) {
  lua_pushcfunction(L, l_multipart_read);
  lua_setfield(L, -2, "multipart_read");
}
