/* Lua binding for the few operating-system calls the core's Lua half needs and Lua lacks:
 * directories, file tests, temporary folders, terminals, sub-second clocks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include "lua_api.h"
#include "util.h"

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
/* core.remove_stale(root, prefix) -> the number of files removed | nil, message: the files under
 * root (symlinks not followed) named prefix PID "." NAME whose process PID is gone, or is this
 * one (which writes none while it walks): what a killed process left while writing through
 * temporary files. nftw's callback takes no argument, hence the statics (one walk at a time:
 * the Lua state's thread). */
static const char *stale_prefix;
static size_t stale_prefix_len;
static long stale_removed;
static int rm_stale(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  if (flag != FTW_F) return 0;
  const char *name = path + ftw->base;
  if (strncmp(name, stale_prefix, stale_prefix_len) != 0) return 0;
  char *end;
  long pid = strtol(name + stale_prefix_len, &end, 10);
  if (end == name + stale_prefix_len || *end != '.' || pid <= 0) return 0;
  if (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)) return 0; /* running (or not ours to ask) */
  if (unlink(path) == 0) stale_removed++;
  return 0;
}
static int l_remove_stale(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  stale_prefix = luaL_checklstring(L, 2, &stale_prefix_len);
  stale_removed = 0;
  if (nftw(root, rm_stale, 16, FTW_PHYS) != 0) return push_errno(L, root);
  lua_pushinteger(L, stale_removed);
  return 1;
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

/* core.write_file(path, data, tmp) -> true | nil, message: data written to the new file tmp,
 * which is then renamed over path (qr_file_replace: readers see the old bytes or the new, never
 * a part; no fsync, a static export syncs the file system once at the end). */
static int l_write_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  size_t n;
  const char *data = luaL_checklstring(L, 2, &n);
  const char *tmp = luaL_checkstring(L, 3), *failed;
  if (qr_file_replace(path, tmp, data, n, &failed) != 0) return push_errno(L, failed);
  lua_pushboolean(L, 1);
  return 1;
}

/* Fails with the errno it is given after removing tmp (the fd, when >= 0, closed first). */
static int fail_tmp(lua_State *L, int fd, const char *tmp, const char *what, int err) {
  if (fd >= 0) close(fd);
  unlink(tmp);
  errno = err;
  return push_errno(L, what);
}

/* core.copy_file(src, path, tmp) -> true | nil, message: src copied to the new file tmp, which
 * is then renamed over path (as core.write_file: readers see the old bytes or the new). The
 * kernel copies (copy_file_range: no pass through user space; a clone where the file system
 * shares blocks), else read and write (a file system or kernel that cannot, such as another
 * file system before Linux 5.3).
 * No fsync (see write_file); mode 0666 less the umask. */
static int l_copy_file(lua_State *L) {
  const char *src = luaL_checkstring(L, 1);
  const char *path = luaL_checkstring(L, 2);
  const char *tmp = luaL_checkstring(L, 3);
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) return push_errno(L, src);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    int err = errno;
    close(in);
    errno = err;
    return push_errno(L, tmp);
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
        if (w <= 0) {
          int err = w < 0 ? errno : EIO;
          close(in);
          return fail_tmp(L, fd, tmp, tmp, err);
        }
        done += w;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(in);
      return fail_tmp(L, fd, tmp, src, err);
    }
    if (n == 0) break;
  }
  close(in);
  if (close(fd) != 0) return fail_tmp(L, -1, tmp, tmp, errno);
  if (rename(tmp, path) != 0) return fail_tmp(L, -1, tmp, path, errno);
  lua_pushboolean(L, 1);
  return 1;
}

void qr_lua_os_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"mkdir", l_mkdir}, {"stat", l_stat}, {"listdir", l_listdir},
                                 {"mkdtemp", l_mkdtemp}, {"remove_tree", l_remove_tree}, {"remove_stale", l_remove_stale},
                                 {"isatty", l_isatty}, {"clock", l_clock}, {"getpid", l_getpid}, {"username", l_username},
                                 {"realpath", l_realpath}, {"syncfs", l_syncfs},
                                 {"write_file", l_write_file}, {"copy_file", l_copy_file}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
