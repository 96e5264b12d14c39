/* Lua binding for the few operating-system calls the core's Lua half needs and Lua lacks:
 * directories, file tests, temporary folders, terminals, sub-second clocks, child processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "lua_api.h"
#include "util.h"

/* mimalloc is linked into the quire binary only (not the tests' or fuzzers'): its option call is
 * a weak reference, null without it. */
#if __has_include(<mimalloc.h>)
#include <mimalloc.h>
#define QR_HAVE_MIMALLOC_H 1
extern void mi_option_set_enabled_default(mi_option_t option, bool enable) __attribute__((weak));
#endif

static int push_errno(lua_State *L, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(errno));
  return 2;
}

/* core.mkdir(path [, mode]) -> true | nil, message (mode: default 0755, less the umask) */
static int l_mkdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer mode = luaL_optinteger(L, 2, 0755);
  luaL_argcheck(L, mode >= 0 && mode <= 07777, 2, "a permission mode such as 448 (0700)");
  if (mkdir(path, (mode_t)mode) != 0) return push_errno(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.stat(path) -> "file" | "dir" | "other", mtime, size, mtime_nsec | nil */
static int l_stat(lua_State *L) {
  struct stat st;
  if (stat(luaL_checkstring(L, 1), &st) != 0) return 0;
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other");
  lua_pushinteger(L, (lua_Integer)st.st_mtime);
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_nsec); /* --dev tells two edits in one second apart */
  return 4;
}

/* core.listdir(path) -> sorted list of names (without . and ..) | nil, message */
static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}
static int l_listdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR *d = opendir(path);
  if (!d) return push_errno(L, path);
  lua_newtable(L);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(d);
  /* Sort in Lua's table.sort would need a call; names are few, so sort here. */
  const char **names = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n ? n : 1), 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, -2, i + 1);
    names[i] = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the table */
  }
  qsort(names, (size_t)n, sizeof(char *), cmp_str);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* core.mkdtemp(prefix) -> path of a new private directory under $TMPDIR or /tmp */
static int l_mkdtemp(lua_State *L) {
  const char *prefix = luaL_optstring(L, 1, "quire");
  const char *tmp = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
  if (!mkdtemp(path)) return push_errno(L, path);
  lua_pushstring(L, path);
  return 1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* The PID in a temporary file's name: prefix PID "." NAME, or (with suffix) NAME suffix PID; 0
 * when name is neither. */
static long stale_pid(const char *name, const char *prefix, size_t prefix_len, const char *suffix, size_t suffix_len) {
  char *end;
  if (strncmp(name, prefix, prefix_len) == 0) {
    long pid = strtol(name + prefix_len, &end, 10);
    return end > name + prefix_len && *end == '.' && pid > 0 ? pid : 0;
  }
  size_t len = strlen(name), digits = 0;
  while (digits < len && name[len - 1 - digits] >= '0' && name[len - 1 - digits] <= '9') digits++;
  if (!suffix || digits == 0 || digits > 9 || len <= digits + suffix_len ||
      memcmp(name + len - digits - suffix_len, suffix, suffix_len) != 0)
    return 0;
  return strtol(name + len - digits, NULL, 10);
}

/* Whether process pid is running: there (or not ours to ask) and no zombie (one that ended and
 * was not waited for yet: a killed export's workers are, until init waits for them, which in a
 * container it may never do). */
static int pid_running(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return 0;
  char path[32], buf[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1; /* (no /proc: as kill says) */
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = '\0';
  const char *state = strrchr(buf, ')'); /* (after the command's name, which may hold any byte) */
  return !(state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X'));
}

/* core.running(pid) -> whether that process is running (a zombie is not) */
static int l_running(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  lua_pushboolean(L, pid > 0 && pid <= INT_MAX && pid_running((pid_t)pid));
  return 1;
}

/* Removes the stale temporary files in the folder fd (closed here) and those below it, walked
 * by descriptor and following no symbolic link (nothing outside it is touched, even if a folder
 * is swapped for a link meanwhile); depth bounds the descriptors held. Each one's path (below
 * the root: rel, the folder's, ends in "/" or is "") is added to the list at the top of L's
 * stack; dry: none is removed, the list says what would go (a dry run's count). Returns how many
 * went (would go). */
static long sweep_stale(lua_State *L, int fd, const char *rel, const char *prefix, size_t prefix_len, const char *suffix,
                        size_t suffix_len, int dry, int depth) {
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return 0;
  }
  long removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode) && depth < 64) {
      int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) {
        luaL_checkstack(L, 2, "folders too deep");
        const char *below = lua_pushfstring(L, "%s%s/", rel, e->d_name);
        lua_insert(L, -2); /* (the list stays on top) */
        removed += sweep_stale(L, sub, below, prefix, prefix_len, suffix, suffix_len, dry, depth + 1);
        lua_remove(L, -2);
      }
      continue;
    }
    long pid = S_ISREG(st.st_mode) ? stale_pid(e->d_name, prefix, prefix_len, suffix, suffix_len) : 0;
    if (!pid) continue;
    if (pid != (long)getpid() && (pid > INT_MAX || pid_running((pid_t)pid))) continue;
    if (dry || unlinkat(dirfd(d), e->d_name, 0) == 0) {
      lua_pushfstring(L, "%s%s", rel, e->d_name);
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
      removed++;
    }
  }
  closedir(d);
  return removed;
}

/* core.remove_stale(root, prefix [, suffix [, dry]]) -> the number of files removed and their
 * paths below root (a list) | nil, message: the files under root named prefix PID "." NAME (or,
 * with suffix, NAME suffix PID: an older quire named them so) whose process PID is gone (or a
 * zombie), or is this one (which writes none while it walks): what a killed process left while
 * writing through temporary files. Symbolic links are neither followed nor removed. dry: nothing
 * is removed; the count and the list are of what would be. */
static int l_remove_stale(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  size_t prefix_len, suffix_len = 0;
  const char *prefix = luaL_checklstring(L, 2, &prefix_len);
  const char *suffix = luaL_optlstring(L, 3, NULL, &suffix_len);
  int dry = lua_toboolean(L, 4);
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return push_errno(L, root);
  lua_newtable(L);
  long n = sweep_stale(L, fd, "", prefix, prefix_len, suffix, suffix_len, dry, 0);
  lua_pushinteger(L, n);
  lua_insert(L, -2);
  return 2;
}

/* core.remove_tree(path) -> true | nil, message; symlinks are removed, not followed. */
static int l_remove_tree(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) return push_errno(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* core.clock() -> seconds from a monotonic clock, with sub-microsecond resolution */
static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
  return 1;
}

/* core.username() -> the login of the effective user (from the password database, since $USER
 * is unset under systemd and cron), or its numeric uid when it has no entry. */
static int l_username(lua_State *L) {
  struct passwd *pw = getpwuid(geteuid());
  if (pw && pw->pw_name) lua_pushstring(L, pw->pw_name);
  else lua_pushfstring(L, "%d", (int)geteuid());
  return 1;
}

static int l_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

static int l_realpath(lua_State *L) {
  char buf[PATH_MAX];
  const char *path = luaL_checkstring(L, 1);
  if (!realpath(path, buf)) return push_errno(L, path);
  lua_pushstring(L, buf);
  return 1;
}

/* core.syncfs(path) -> true | nil, message: the file system holding path written to disk (one
 * call for all the files a static export wrote, instead of an fsync each). */
static int l_syncfs(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return push_errno(L, path);
  int rc = syncfs(fd);
  int err = errno;
  close(fd);
  errno = err;
  if (rc != 0) return push_errno(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

int qr_lua_errno_beneath(lua_State *L, const char *root, const char *rel, const char *name, const char *leaf) {
  int err = errno;
  lua_pushnil(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, root);
  luaL_addchar(&b, '/');
  luaL_addlstring(&b, rel, (size_t)(name - rel));
  luaL_addstring(&b, leaf);
  luaL_addstring(&b, ": ");
  luaL_addstring(&b, strerror(err));
  luaL_pushresult(&b);
  return 2;
}

int qr_lua_open_beneath(lua_State *L, const char *root, const char *rel, int make, const char **name) {
  size_t len;
  int fd = qr_dir_open_beneath(root, rel, make, name, &len);
  if (fd >= 0) return fd;
  int err = errno;
  lua_pushnil(L);
  lua_pushstring(L, root);
  if (len > 0) {
    lua_pushliteral(L, "/");
    lua_pushlstring(L, rel, len);
    lua_concat(L, 3);
  }
  if (err == ELOOP) {
    lua_pushfstring(L, "%s: a symbolic link (none is followed inside %s)", lua_tostring(L, -1), root);
    lua_insert(L, -2); /* nil, message, the link's path */
  } else {
    lua_pushfstring(L, "%s: %s", lua_tostring(L, -1), strerror(err));
    lua_replace(L, -2);
    lua_pushnil(L);
  }
  return -1;
}

/* The name of the temporary file beside name: prefix name (a NAME_MAX + 1 buffer); 0, or -1 with
 * errno set when it is too long. */
static int tmp_name(char *tmp, const char *prefix, const char *name) {
  if (snprintf(tmp, NAME_MAX + 1, "%s%s", prefix, name) > NAME_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

/* core.write_file(root, file, data, tmp_prefix) -> true | nil, message[, link]: data written to
 * the new file tmp_prefix NAME beside root/file (file: a relative path, its missing folders made),
 * which is then renamed over it (qr_file_replace_at: readers see the old bytes or the new, never
 * a part; no fsync, a static export syncs the file system once at the end). Nothing is written
 * outside root: a symbolic link where a folder should be fails, naming it (link: its path). */
int qr_lua_replace_beneath(lua_State *L, const char *root, const char *file, const char *prefix, const void *data, size_t n) {
  const char *name, *failed;
  char tmp[NAME_MAX + 1];
  int dir = qr_lua_open_beneath(L, root, file, 1, &name);
  if (dir < 0) return 3;
  int rc = tmp_name(tmp, prefix, name);
  if (rc == 0) rc = qr_file_replace_at(dir, name, tmp, data, n, &failed);
  else failed = name;
  int err = errno;
  close(dir);
  errno = err;
  if (rc != 0) return qr_lua_errno_beneath(L, root, file, name, failed);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_write_file(lua_State *L) {
  const char *root = luaL_checkstring(L, 1), *file = luaL_checkstring(L, 2);
  size_t n;
  const char *data = luaL_checklstring(L, 3, &n);
  return qr_lua_replace_beneath(L, root, file, luaL_checkstring(L, 4), data, n);
}

static const char *kind_of(mode_t mode) {
  return S_ISREG(mode) ? "file" : S_ISDIR(mode) ? "dir" : S_ISLNK(mode) ? "link" : "other";
}

/* core.stat_at(root, file) -> "file" | "dir" | "link" | "other", mtime, size, mtime_nsec | nil:
 * as core.stat, for root/file reached without following a symbolic link below root (one there
 * is "link"; a path through one is not there). */
static int l_stat_at(lua_State *L) {
  const char *root = luaL_checkstring(L, 1), *file = luaL_checkstring(L, 2), *name;
  int dir = qr_lua_open_beneath(L, root, file, 0, &name);
  if (dir < 0) return 0;
  struct stat st;
  int rc = fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW);
  close(dir);
  if (rc != 0) return 0;
  lua_pushstring(L, kind_of(st.st_mode));
  lua_pushinteger(L, (lua_Integer)st.st_mtime);
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_nsec);
  return 4;
}

/* core.siblings_at(root, file, suffixes [, tail]) -> kind, size, kinds, last: what a static export
 * looks at beside each file it keeps, with one opening of their folder (reached as core.stat_at
 * does; each core.stat_at opens it again): root/file's kind and size (nil, nil: nothing there);
 * kinds, { [suffix] = kind } for each suffix in the list suffixes that root/file..suffix has (no
 * entry: nothing there); and with tail (one of them), when that one is a regular file of 4 bytes
 * or more, the number its last 4 bytes hold, little-endian (a gzip member's ISIZE), read without
 * following a link (O_NOFOLLOW). */
static int l_siblings_at(lua_State *L) {
  const char *root = luaL_checkstring(L, 1), *file = luaL_checkstring(L, 2), *name;
  luaL_checktype(L, 3, LUA_TTABLE);
  const char *tail = luaL_optstring(L, 4, NULL);
  int top = lua_gettop(L);
  int dir = qr_lua_open_beneath(L, root, file, 0, &name);
  if (dir < 0) {
    lua_settop(L, top);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_newtable(L);
    return 3;
  }
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    lua_pushstring(L, kind_of(st.st_mode));
    lua_pushinteger(L, (lua_Integer)st.st_size);
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  lua_newtable(L);
  int found = 0;
  unsigned char last[4];
  for (lua_Integer i = 1; lua_rawgeti(L, 3, i) == LUA_TSTRING; i++) {
    const char *suffix = lua_tostring(L, -1);
    char sibling[NAME_MAX + 1];
    if (snprintf(sibling, sizeof sibling, "%s%s", name, suffix) < (int)sizeof sibling &&
        fstatat(dir, sibling, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      lua_pushstring(L, kind_of(st.st_mode));
      lua_setfield(L, -3, suffix);
      if (tail && strcmp(suffix, tail) == 0 && S_ISREG(st.st_mode) && st.st_size >= 4) {
        int fd = openat(dir, sibling, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat now;
        found = fd >= 0 && fstat(fd, &now) == 0 && S_ISREG(now.st_mode) && now.st_size >= 4 &&
                pread(fd, last, 4, now.st_size - 4) == 4;
        if (fd >= 0) close(fd);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  close(dir);
  if (!found) return 3;
  lua_pushinteger(L, (lua_Integer)((uint32_t)last[0] | (uint32_t)last[1] << 8 | (uint32_t)last[2] << 16 | (uint32_t)last[3] << 24));
  return 4;
}

/* core.touch(path [, epoch]) -> true | nil, message: path's access and modification times set to
 * epoch (whole seconds) or to now; a symbolic link is set itself, not followed. (quire.assets
 * keeps a lease in a copy's mtime.) */
static int l_touch(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct timespec ts[2];
  const struct timespec *times = NULL;
  if (!lua_isnoneornil(L, 2)) {
    ts[0].tv_sec = (time_t)luaL_checkinteger(L, 2);
    ts[0].tv_nsec = 0;
    ts[1] = ts[0];
    times = ts;
  }
  if (utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) != 0) return push_errno(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.read_at(root, file) -> data | nil, message[, link]: the bytes of the
 * regular file root/file, reached without following a symbolic link below root, root/file's own
 * name included (O_NOFOLLOW): a link there, even one swapped in since core.stat_at looked, is
 * refused and named (link: its path), never read through; so is anything but a regular file (a
 * FIFO is not waited on). What a static export makes a page's siblings from. */
static int l_read_at(lua_State *L) {
  const char *root = luaL_checkstring(L, 1), *file = luaL_checkstring(L, 2), *name;
  int dir = qr_lua_open_beneath(L, root, file, 0, &name);
  if (dir < 0) return 3;
  int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  int err = errno;
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) != 0) err = errno, close(fd), fd = -1;
  close(dir);
  if (fd < 0 && err == ELOOP) {
    lua_pushnil(L);
    const char *link = lua_pushfstring(L, "%s/%s", root, file);
    lua_pushfstring(L, "%s: a symbolic link (none is followed inside %s)", link, root);
    lua_insert(L, -2); /* nil, message, the link's path */
    return 3;
  }
  if (fd < 0) {
    errno = err;
    return qr_lua_errno_beneath(L, root, file, name, name);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "%s/%s: not a regular file", root, file);
    return 2;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;;) {
    char *p = luaL_prepbuffsize(&b, 65536);
    ssize_t n = read(fd, p, 65536);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      close(fd);
      errno = err;
      return qr_lua_errno_beneath(L, root, file, name, name); /* (the buffer's box stays below) */
    }
    if (n == 0) break;
    luaL_addsize(&b, (size_t)n);
  }
  close(fd);
  luaL_pushresult(&b);
  return 1;
}

/* Reads up to n bytes of fd into buf (fewer at its end only): the count, or -1. */
static ssize_t read_full(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* core.same_at(root, file, path) -> boolean: whether the regular file root/file, reached as
 * core.read_at reaches it (no symbolic link below root followed, its own name's included), holds
 * the bytes of the file at path; compared 64 kB at a time, in bounded memory whatever their size
 * (a static export's redirect files). A link there, anything but a regular file, or no file: false. */
static int l_same_at(lua_State *L) {
  const char *root = luaL_checkstring(L, 1), *file = luaL_checkstring(L, 2), *path = luaL_checkstring(L, 3), *name;
  int dir = qr_lua_open_beneath(L, root, file, 0, &name);
  if (dir < 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  close(dir);
  int other = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st, so;
  int same = fd >= 0 && other >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fstat(other, &so) == 0
             && S_ISREG(so.st_mode) && st.st_size == so.st_size;
  char *a = same ? malloc(2 * 65536) : NULL;
  if (same && !a) same = 0;
  while (same) {
    ssize_t x = read_full(fd, a, 65536), y = read_full(other, a + 65536, 65536);
    if (x < 0 || y < 0 || x != y || memcmp(a, a + 65536, (size_t)x) != 0) same = 0;
    else if (x < 65536) break;
  }
  free(a);
  if (fd >= 0) close(fd);
  if (other >= 0) close(other);
  lua_pushboolean(L, same);
  return 1;
}

/* core.remove_at(root, file [, folder]) -> true | nil, message: root/file removed (with folder,
 * the empty folder file), reached without following a symbolic link below root (one named so is
 * removed itself). */
static int l_remove_at(lua_State *L) {
  const char *root = luaL_checkstring(L, 1), *file = luaL_checkstring(L, 2), *name;
  int folder = lua_toboolean(L, 3);
  int dir = qr_lua_open_beneath(L, root, file, 0, &name);
  if (dir < 0) return 3;
  int rc = unlinkat(dir, name, folder ? AT_REMOVEDIR : 0);
  int err = errno;
  close(dir);
  errno = err;
  if (rc != 0) return qr_lua_errno_beneath(L, root, file, name, name);
  lua_pushboolean(L, 1);
  return 1;
}

/* Fails with the errno it is given after removing tmp from dir (the fds, when >= 0, closed
 * first): nil, "ROOT/DIR/LEAF: message". */
static int fail_tmp(lua_State *L, int fd, int in, int dir, const char *tmp, const char *root, const char *file,
                    const char *name, const char *leaf, int err) {
  if (fd >= 0) close(fd);
  if (in >= 0) close(in);
  unlinkat(dir, tmp, 0);
  close(dir);
  errno = err;
  return qr_lua_errno_beneath(L, root, file, name, leaf);
}

/* core.copy_file(src, root, file, tmp_prefix) -> true | nil, message[, link]: src copied to the
 * new file tmp_prefix NAME beside root/file, which is then renamed over it (as core.write_file:
 * readers see the old bytes or the new; nothing written outside root). The kernel copies
 * (copy_file_range: no pass through user space; a clone where the file system shares blocks),
 * else read and write (a file system or kernel that cannot, such as another file system before
 * Linux 5.3). No fsync (see write_file); mode 0666 less the umask. */
static int l_copy_file(lua_State *L) {
  const char *src = luaL_checkstring(L, 1), *root = luaL_checkstring(L, 2), *file = luaL_checkstring(L, 3);
  const char *prefix = luaL_checkstring(L, 4), *name;
  char tmp[NAME_MAX + 1];
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) return push_errno(L, src);
  int dir = qr_lua_open_beneath(L, root, file, 1, &name);
  if (dir < 0) {
    close(in);
    return 3;
  }
  int fd = tmp_name(tmp, prefix, name) == 0 ? qr_file_create_at(dir, tmp) : -1;
  if (fd < 0) {
    int err = errno;
    close(in);
    close(dir);
    errno = err;
    return qr_lua_errno_beneath(L, root, file, name, tmp);
  }
  int kernel = 1;
  for (;;) {
    ssize_t n;
    if (kernel) {
      n = copy_file_range(in, NULL, fd, NULL, (size_t)1 << 30, 0);
      /* (nothing copied yet by it: fall back to reading; past that, an error is one) */
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) &&
          lseek(fd, 0, SEEK_CUR) == 0) {
        kernel = 0;
        continue;
      }
    } else {
      char buf[65536];
      n = read(in, buf, sizeof buf);
      for (ssize_t done = 0; n > 0 && done < n;) {
        ssize_t w = write(fd, buf + done, (size_t)(n - done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return fail_tmp(L, fd, in, dir, tmp, root, file, name, tmp, w < 0 ? errno : EIO);
        done += w;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      unlinkat(dir, tmp, 0);
      close(dir);
      close(in);
      errno = err;
      return push_errno(L, src);
    }
    if (n == 0) break;
  }
  close(in);
  if (close(fd) != 0) return fail_tmp(L, -1, -1, dir, tmp, root, file, name, tmp, errno);
  if (qr_file_rename_over_at(dir, tmp, name) != 0) return fail_tmp(L, -1, -1, dir, tmp, root, file, name, name, errno);
  close(dir);
  lua_pushboolean(L, 1);
  return 1;
}

/* The close function of a file made by core.spawn (as Lua's own io files close). */
static int close_stream(lua_State *L) {
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  return luaL_fileresult(L, fclose(p->f) == 0, NULL);
}

/* A child that could not become the worker says so on stderr (write(2) and digits: the only
 * calls safe between fork and exec) and exits 127, which the caller reads as "not started". */
static void child_failed(const char *program, int err) {
  char digits[12];
  int k = sizeof digits;
  do digits[--k] = (char)('0' + err % 10); while ((err /= 10) > 0 && k > 0);
  static const char head[] = "quire: cannot start ", mid[] = ": errno ";
  ssize_t ignored = write(2, head, sizeof head - 1);
  ignored = write(2, program, strlen(program));
  ignored = write(2, mid, sizeof mid - 1);
  ignored = write(2, digits + k, sizeof digits - (size_t)k);
  ignored = write(2, "\n", 1);
  (void)ignored;
  _exit(127);
}

/* Kills and waits for the first n children listed in the table at the top of the stack. */
static void end_children(lua_State *L, int n) {
  for (int j = 1; j <= n; j++) {
    lua_rawgeti(L, -1, j);
    pid_t started = (pid_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    kill(started, SIGKILL);
    while (waitpid(started, NULL, 0) < 0 && errno == EINTR) {}
  }
}

/* core.spawn(argvs) -> a file to read, { pid, ... } | nil, message: one child process per argv
 * (a list of strings; argv[1] the program's path, run as it is), each with stdin from /dev/null,
 * its stdout into one pipe (the file returned, which reads what they all write; this process
 * keeps no write end) and stderr this process's. Each child is killed (SIGKILL) as soon as this
 * process ends, however it ends (PR_SET_PDEATHSIG; one whose parent ended before that was set
 * sees another parent, and exits): none outlives it to race the next run. Wait for each with
 * core.wait. */
static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  /* (raw lengths and reads: the sizes counted first are the ones filled in after) */
  int n = (int)lua_rawlen(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 1024, 1, "a list of 1 to 1024 argument lists");
  size_t total = 0; /* every argv's strings and its NULL */
  for (int i = 1; i <= n; i++) {
    luaL_argcheck(L, lua_rawgeti(L, 1, i) == LUA_TTABLE, 1, "argument lists are tables of strings");
    lua_Integer m = (lua_Integer)lua_rawlen(L, -1);
    luaL_argcheck(L, m >= 1 && m <= 4096, 1, "an argument list has 1 to 4096 strings");
    for (lua_Integer j = 1; j <= m; j++) {
      luaL_argcheck(L, lua_rawgeti(L, -1, j) == LUA_TSTRING, 1, "argument lists are tables of strings");
      lua_pop(L, 1);
    }
    total += (size_t)m + 1;
    lua_pop(L, 1);
  }
  /* (in userdata, freed by the GC whatever happens; the strings stay in argvs' tables) */
  char **args = lua_newuserdatauv(L, sizeof(char *) * total, 0);
  char ***argv = lua_newuserdatauv(L, sizeof(char **) * (size_t)n, 0);
  size_t k = 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    argv[i - 1] = args + k;
    for (lua_Integer j = 1, m = (lua_Integer)lua_rawlen(L, -1); j <= m; j++) {
      lua_rawgeti(L, -1, j);
      args[k++] = (char *)lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    args[k++] = NULL;
    lua_pop(L, 1);
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return push_errno(L, "pipe");
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    errno = err;
    return push_errno(L, "/dev/null");
  }
  pid_t parent = getpid();
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) { /* the child: only async-signal-safe calls until exec */
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      /* Moved above 2 first (with stdin or stdout closed, either may be 0 or 1), then onto 0
       * and 1; nothing else open goes on into the worker. */
      int in = fcntl(devnull, F_DUPFD_CLOEXEC, 3), out = fcntl(fds[1], F_DUPFD_CLOEXEC, 3);
      if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0) child_failed(argv[i][0], errno);
      close_range(3, ~0U, 0);
      execv(argv[i][0], argv[i]);
      child_failed(argv[i][0], errno);
    }
    if (pid < 0) {
      int err = errno;
      close(fds[0]);
      close(fds[1]);
      close(devnull);
      end_children(L, i);
      errno = err;
      return push_errno(L, "fork");
    }
    lua_pushinteger(L, (lua_Integer)pid);
    lua_rawseti(L, -2, i + 1);
  }
  close(fds[1]);
  close(devnull);
  luaL_Stream *p = lua_newuserdatauv(L, sizeof(luaL_Stream), 0);
  p->closef = NULL; /* (not a file yet, should fdopen fail) */
  luaL_setmetatable(L, LUA_FILEHANDLE);
  p->f = fdopen(fds[0], "r");
  if (!p->f) {
    int err = errno;
    close(fds[0]);
    lua_pop(L, 1);
    end_children(L, n);
    errno = err;
    return push_errno(L, "fdopen");
  }
  p->closef = close_stream;
  lua_insert(L, -2);
  return 2;
}

/* core.lock(path) -> a file (an io file: closing it, or this process ending however it ends,
 * lets go) | nil, "held", what the holder wrote there (its pid) | nil, message: an exclusive
 * flock on path (made when missing, 0600), taken without waiting; the taker writes its pid into
 * it, for the one refused to name. The descriptor is not inherited by children (O_CLOEXEC): a
 * killed holder's workers, which die with it (core.spawn), hold nothing. */
static int l_lock(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return push_errno(L, path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) {
      close(fd);
      errno = err;
      return push_errno(L, path);
    }
    /* The holder writes its pid just after it takes the lock: until then the file is empty or
     * names the one before it, which has ended. Read again (for up to a second) till it names
     * a running process, else name none. */
    char holder[32];
    size_t len = 0;
    for (int tries = 0; tries < 100; tries++) {
      ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
      len = n > 0 ? (size_t)n : 0;
      while (len > 0 && (holder[len - 1] == '\n' || holder[len - 1] == ' ')) len--;
      holder[len] = '\0';
      char *end;
      long pid = strtol(holder, &end, 10);
      if (len > 0 && *end == '\0' && pid > 0 && pid_running((pid_t)pid)) break;
      len = 0;
      nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    close(fd);
    lua_pushnil(L);
    lua_pushliteral(L, "held");
    lua_pushlstring(L, holder, len);
    return 3;
  }
  char pid[24];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
    int err = errno;
    close(fd);
    errno = err;
    return push_errno(L, path);
  }
  luaL_Stream *p = lua_newuserdatauv(L, sizeof(luaL_Stream), 0);
  p->closef = NULL; /* (not a file yet, should fdopen fail) */
  luaL_setmetatable(L, LUA_FILEHANDLE);
  p->f = fdopen(fd, "r+");
  if (!p->f) {
    int err = errno;
    close(fd);
    errno = err;
    return push_errno(L, "fdopen");
  }
  p->closef = close_stream;
  return 1;
}

/* core.wait(pid) -> the child's exit status, or 128 + the signal that ended it | nil, message */
static int l_wait(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return push_errno(L, "waitpid");
  }
  lua_pushinteger(L, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  return 1;
}

/* Whether the machine keeps a pool of explicit huge pages (vm.nr_hugepages, or the overcommit
 * pool): PostgreSQL's shared buffers with huge_pages = on, a VM host's. */
static int hugetlb_pool(void) {
  static const char *const files[] = {"/proc/sys/vm/nr_hugepages", "/proc/sys/vm/nr_overcommit_hugepages"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    FILE *f = fopen(files[i], "r");
    long n = 0;
    if (!f) continue;
    if (fscanf(f, "%ld", &n) != 1) n = 0;
    fclose(f);
    if (n > 0) return 1;
  }
  return 0;
}

/* core.large_pages() -> whether the allocator was asked to back the heap it maps from now on
 * with 2 MiB pages. For a process that walks a large heap for a while and then ends, an export's
 * worker: its collector and allocator touch objects all over the heap, and with 4 kB pages most
 * of those touches missed the TLB (full N=10000 exports, one worker each, run in pairs at once:
 * 0.97 of the CPU, ~7% more peak memory: mimalloc keeps such memory until the process ends).
 * mimalloc first asks for explicit huge pages (MAP_HUGETLB), then advises transparent ones: so
 * not on a machine that keeps a pool of explicit ones, which are someone else's (PostgreSQL's
 * shared buffers could no longer get theirs). MIMALLOC_LARGE_OS_PAGES=0 in the environment
 * still wins. */
static int l_large_pages(lua_State *L) {
  int done = 0;
#ifdef QR_HAVE_MIMALLOC_H
  if (mi_option_set_enabled_default && !hugetlb_pool()) mi_option_set_enabled_default(mi_option_large_os_pages, true), done = 1;
#endif
  lua_pushboolean(L, done);
  return 1;
}

void qr_lua_os_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"mkdir", l_mkdir}, {"stat", l_stat}, {"listdir", l_listdir},
                                 {"mkdtemp", l_mkdtemp}, {"remove_tree", l_remove_tree}, {"remove_stale", l_remove_stale},
                                 {"isatty", l_isatty}, {"clock", l_clock}, {"getpid", l_getpid}, {"username", l_username},
                                 {"realpath", l_realpath}, {"syncfs", l_syncfs},
                                 {"write_file", l_write_file}, {"copy_file", l_copy_file}, {"stat_at", l_stat_at}, {"siblings_at", l_siblings_at},
                                 {"read_at", l_read_at}, {"same_at", l_same_at}, {"remove_at", l_remove_at}, {"touch", l_touch}, {"spawn", l_spawn},
                                 {"wait", l_wait}, {"lock", l_lock}, {"running", l_running}, {"large_pages", l_large_pages}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
