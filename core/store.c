/* SQLite storage: pragmas for durability, embedded migrations, a statement cache, nested transactions. */
#include "store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "content.h"
#include "embedded.h"
#include "util.h"

#define STMT_BUCKETS 256
#define STMT_MAX 512 /* beyond this, new statements are prepared privately rather than cached */

typedef struct cached_stmt {
  struct cached_stmt *next;
  char *sql;
  sqlite3_stmt *stmt;
  int in_use;
} cached_stmt;

/* The WAL-index header at the start of the -shm file (https://sqlite.org/walformat.html): two
 * copies of 48 bytes, which every commit rewrites (the frame count and checksums, and new salts
 * after the log restarts). Its format is fixed: processes with different SQLite versions share it. */
#define WAL_HEADER 48
#define WAL_HEADER_IS_INIT 12

struct qr_store_s {
  sqlite3 *db;
  cached_stmt *buckets[STMT_BUCKETS];
  int ncached;
  cached_stmt *last; /* the cached statement prepare gave out last: release finds it without a hash */
  int depth;
  int reading; /* a read snapshot is open (qr_store_begin_read) */
  int wal; /* in WAL mode, for good: no one can leave it while this connection holds its lock */
  int shm_seen;    /* a read transaction ran, so SQLite has mapped the WAL index */
  int have_header; /* header holds the WAL-index header data_version was last read under */
  unsigned char header[WAL_HEADER];
  long long data_version;
  char errmsg[512];
};

static int fail(qr_store_t *s, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
  va_end(ap);
  return code;
}

static int db_fail(qr_store_t *s, const char *what) {
  int rc = sqlite3_extended_errcode(s->db);
  int primary = rc & 0xff;
  if (primary == SQLITE_FULL)
    return fail(s, QR_EDB, "%s: %s", what, qr_store_full_message(s));
  return fail(s, (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? QR_EBUSY : QR_EDB, "%s: %s",
              what, sqlite3_errmsg(s->db));
}

const char *qr_store_full_message(qr_store_t *s) {
  (void)s;
  return "the disk holding the database is full (SQLite: database or disk is full); this"
         " transaction was rolled back and what committed before it is kept: free some space and"
         " run it again";
}

const char *qr_store_errmsg(qr_store_t *s) { return s->errmsg; }
sqlite3 *qr_store_db(qr_store_t *s) { return s->db; }
int qr_store_depth(qr_store_t *s) { return s->depth; }
int qr_store_reading(qr_store_t *s) { return s->reading; }

static int exec(qr_store_t *s, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
    int primary = sqlite3_extended_errcode(s->db) & 0xff;
    int rc = fail(s, (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? QR_EBUSY : QR_EDB, "%s",
                  err ? err : sqlite3_errmsg(s->db));
    sqlite3_free(err);
    return rc;
  }
  return 0;
}

/* Every statement a page runs is looked up here by its text (often a kilobyte of column names):
 * hashed eight bytes at a time, not one. */
static unsigned hash_sql(const char *sql) {
  size_t n = strlen(sql);
  uint64_t h = n * 0x9e3779b97f4a7c15u, w;
  for (; n >= 8; n -= 8, sql += 8) {
    memcpy(&w, sql, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdu;
    h ^= h >> 29;
  }
  w = 0;
  memcpy(&w, sql, n);
  h = (h ^ w) * 0xff51afd7ed558ccdu;
  h ^= h >> 32;
  return (unsigned)(h % STMT_BUCKETS);
}

sqlite3_stmt *qr_store_prepare(qr_store_t *s, const char *sql) {
  unsigned h = hash_sql(sql);
  for (cached_stmt *c = s->buckets[h]; c; c = c->next) {
    if (strcmp(c->sql, sql) == 0 && !c->in_use) {
      c->in_use = 1;
      s->last = c;
      return c->stmt;
    }
  }
  sqlite3_stmt *stmt = NULL;
  int cache = s->ncached < STMT_MAX;
  if (sqlite3_prepare_v3(s->db, sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, NULL) !=
      SQLITE_OK) {
    db_fail(s, "SQL error");
    return NULL;
  }
  if (!stmt) {
    fail(s, QR_EINVAL, "empty SQL statement");
    return NULL;
  }
  if (cache) {
    cached_stmt *c = qr_xcalloc(1, sizeof *c);
    c->sql = qr_xstrdup(sql);
    c->stmt = stmt;
    c->in_use = 1;
    c->next = s->buckets[h];
    s->buckets[h] = c;
    s->ncached++;
    s->last = c;
  }
  return stmt;
}

void qr_store_release(qr_store_t *s, sqlite3_stmt *stmt) {
  if (!stmt) return;
  if (s->last && s->last->stmt == stmt) { /* the usual case: prepare, step, release */
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    s->last->in_use = 0;
    return;
  }
  const char *sql = sqlite3_sql(stmt);
  for (cached_stmt *c = s->buckets[hash_sql(sql)]; c; c = c->next) {
    if (c->stmt == stmt) {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
      c->in_use = 0;
      return;
    }
  }
  sqlite3_finalize(stmt);
}

/* Transaction control runs once per save in bulk work: cached statements, not re-parsed SQL. */
static int exec_cached(qr_store_t *s, const char *sql) {
  sqlite3_stmt *st = qr_store_prepare(s, sql);
  if (!st) return QR_EDB;
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, "transaction");
  qr_store_release(s, st);
  return rc;
}

int qr_store_begin(qr_store_t *s) {
  char sql[64];
  if (s->reading)
    return fail(s, QR_EINVAL, "a write transaction inside a read snapshot: end the snapshot first");
  if (s->depth == 0)
    snprintf(sql, sizeof sql, "BEGIN IMMEDIATE");
  else
    snprintf(sql, sizeof sql, "SAVEPOINT qr_sp%d", s->depth);
  int rc = exec_cached(s, sql);
  if (rc == 0) s->depth++;
  return rc;
}

int qr_store_commit(qr_store_t *s) {
  char sql[64];
  if (s->depth == 0) return fail(s, QR_EINVAL, "commit without a transaction");
  if (s->depth == 1)
    snprintf(sql, sizeof sql, "COMMIT");
  else
    snprintf(sql, sizeof sql, "RELEASE qr_sp%d", s->depth - 1);
  int rc = exec_cached(s, sql);
  if (rc == 0) s->depth--;
  return rc;
}

int qr_store_rollback(qr_store_t *s) {
  char sql[96];
  if (s->depth == 0) return fail(s, QR_EINVAL, "rollback without a transaction");
  s->depth--;
  if (s->depth == 0) {
    /* SQLite may already have rolled back (e.g. after SQLITE_FULL); that is not an error. */
    if (sqlite3_get_autocommit(s->db)) return 0;
    return exec(s, "ROLLBACK");
  }
  snprintf(sql, sizeof sql, "ROLLBACK TO qr_sp%d; RELEASE qr_sp%d", s->depth, s->depth);
  return exec(s, sql);
}

/* A deferred BEGIN: the snapshot is taken by the first read and kept until the end; query_only
 * makes a write inside it fail (it would take the write lock, and may find the snapshot stale). */
int qr_store_begin_read(qr_store_t *s) {
  if (s->depth > 0 || s->reading)
    return fail(s, QR_EINVAL, "a read snapshot inside a transaction (or another snapshot)");
  int rc = exec_cached(s, "BEGIN");
  if (rc == 0 && (rc = exec_cached(s, "PRAGMA query_only = 1")) != 0) exec(s, "ROLLBACK");
  if (rc == 0) s->reading = 1;
  return rc;
}

int qr_store_end_read(qr_store_t *s) {
  if (!s->reading) return 0;
  s->reading = 0;
  int rc = exec_cached(s, "PRAGMA query_only = 0");
  /* (nothing was written: a COMMIT only lets the snapshot go) */
  if (!sqlite3_get_autocommit(s->db)) {
    int rc2 = exec_cached(s, "COMMIT");
    if (!rc) rc = rc2;
  }
  return rc;
}

/* Migration files are named NNNN_description.sql; the number is the schema version. */
static int migration_number(const char *name) { return atoi(name); }

int qr_store_schema_version(qr_store_t *s, int *applied, int *known) {
  *known = 0;
  for (const qr_embedded_t *m = qr_embedded_migrations; m->name; m++) {
    int n = migration_number(m->name);
    if (n > *known) *known = n;
  }
  *applied = 0;
  sqlite3_stmt *st = qr_store_prepare(s, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!st) return QR_EDB;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *applied = sqlite3_column_int(st, 0);
  qr_store_release(s, st);
  return rc == SQLITE_ROW ? 0 : db_fail(s, "reading schema version");
}

/* Applies one migration in its own transaction; a migration that leaves a dangling foreign key
 * (they run with foreign keys off, see below) is rolled back. */
static int apply_migration(qr_store_t *s, const qr_embedded_t *m, int n) {
  int rc;
  if ((rc = qr_store_begin(s))) return rc;
  rc = exec(s, m->data);
  if (rc) {
    char msg[sizeof s->errmsg];
    snprintf(msg, sizeof msg, "%s", s->errmsg);
    fail(s, rc, "migration %s failed: %s", m->name, msg);
  }
  sqlite3_stmt *st = NULL;
  if (rc == 0 && !(st = qr_store_prepare(s, "SELECT count(*) FROM pragma_foreign_key_check"))) rc = QR_EDB;
  if (st) {
    int dangling = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    qr_store_release(s, st);
    if (dangling != 0)
      rc = fail(s, QR_EDB, "migration %s failed: it leaves %d rows with broken foreign keys", m->name,
                dangling);
  }
  if (rc == 0) {
    if (!(st = qr_store_prepare(s, "INSERT INTO schema_migrations(version, name) VALUES (?, ?)"))) {
      rc = QR_EDB;
    } else {
      sqlite3_bind_int(st, 1, n);
      sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
      if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(s, "recording migration");
      qr_store_release(s, st);
    }
  }
  if (rc) {
    char msg[sizeof s->errmsg];
    snprintf(msg, sizeof msg, "%s", s->errmsg);
    qr_store_rollback(s);
    return fail(s, rc, "%s", msg);
  }
  return qr_store_commit(s);
}

int qr_store_migrate(qr_store_t *s) {
  int rc = exec(s,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))");
  if (rc) return rc;
  int applied, known;
  if ((rc = qr_store_schema_version(s, &applied, &known))) return rc;
  if (applied > known)
    return fail(s, QR_ESCHEMA,
                "database schema version %d is newer than this quire knows (%d); "
                "upgrade quire instead of opening it with an older binary",
                applied, known);
  /* Every embedded migration not recorded is applied, not only those above the newest applied:
   * branches merged in any order can record 0010 before 0008 exists in a binary. */
  int embedded = 0, recorded = 0;
  for (const qr_embedded_t *m = qr_embedded_migrations; m->name; m++) embedded++;
  sqlite3_stmt *st = qr_store_prepare(s, "SELECT count(*) FROM schema_migrations WHERE version <= ?");
  if (!st) return QR_EDB;
  sqlite3_bind_int(st, 1, known);
  if (sqlite3_step(st) == SQLITE_ROW) recorded = sqlite3_column_int(st, 0);
  qr_store_release(s, st);
  if (recorded == embedded) return 0;
  /* Rebuilding a table (SQLite's 12-step ALTER) drops it: with foreign keys on, that would
   * cascade into its children. The pragma only works outside a transaction. */
  if ((rc = exec(s, "PRAGMA foreign_keys=OFF"))) return rc;
  for (const qr_embedded_t *m = qr_embedded_migrations; m->name && rc == 0; m++) {
    int n = migration_number(m->name), done = 0;
    if (!(st = qr_store_prepare(s, "SELECT 1 FROM schema_migrations WHERE version = ?"))) {
      rc = QR_EDB;
      break;
    }
    sqlite3_bind_int(st, 1, n);
    done = sqlite3_step(st) == SQLITE_ROW;
    qr_store_release(s, st);
    if (!done) rc = apply_migration(s, m, n);
  }
  char msg[sizeof s->errmsg];
  snprintf(msg, sizeof msg, "%s", s->errmsg);
  int on = exec(s, "PRAGMA foreign_keys=ON");
  if (rc) return fail(s, rc, "%s", msg);
  return on;
}

/* SQL utf8_valid(x): 1 when x is text (or a blob) of valid UTF-8, 0 when not, NULL for NULL;
 * bulk writes in SQL check what the Lua content API checks before a save. */
static void sql_utf8_valid(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  const char *s = (const char *)sqlite3_value_blob(argv[0]);
  sqlite3_result_int(ctx, qr_utf8_valid(s ? s : "", (size_t)sqlite3_value_bytes(argv[0])));
}

/* SQL text_check(x, required, max_chars, max_bytes): NULL when text x passes the check every
 * stored text gets (qr_content_text_check; a NULL limit is none), else what is wrong with it:
 * 'missing' (NULL, or blank when required), 'utf8', 'char', 'bytes' or 'chars'. Set-based writes
 * (lua/quire/replace.lua) refuse what a save refuses. */
static void sql_text_check(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_text(ctx, "missing", -1, SQLITE_STATIC);
    return;
  }
  const char *s = (const char *)sqlite3_value_blob(argv[0]);
  size_t len = (size_t)sqlite3_value_bytes(argv[0]);
  long long max_chars = sqlite3_value_type(argv[2]) == SQLITE_NULL ? -1 : sqlite3_value_int64(argv[2]);
  long long max_bytes = sqlite3_value_type(argv[3]) == SQLITE_NULL ? -1 : sqlite3_value_int64(argv[3]);
  const char *problem = qr_content_text_problem(
      qr_content_text_check(s ? s : "", len, sqlite3_value_int(argv[1]), max_chars, max_bytes, NULL));
  if (problem) sqlite3_result_text(ctx, problem, -1, SQLITE_STATIC);
}

/* Rewrites a failed open's message to say which file, why (SQLite's own "unable to open
 * database file" names neither) and what to do. The reason is asked of the file system: SQLite's
 * last errno is often that of a later attempt (ENOENT for a -wal it could not create). */
static void explain_open_failure(qr_store_t *s, const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
  else snprintf(dir, sizeof dir, ".");
  const char *what = path;
  int err = 0;
  if (access(path, F_OK) == 0 && access(path, W_OK) != 0) err = errno;
  if (!err && access(dir, W_OK) != 0) {
    err = errno;
    what = dir;
  }
  struct statvfs fs;
  if (!err && statvfs(dir, &fs) == 0 && (unsigned long long)fs.f_bavail * fs.f_bsize < 65536) err = ENOSPC;
  if (!err && s->db) err = sqlite3_system_errno(s->db);
  const char *hint = "";
  if (err == EROFS)
    hint = ": the file system is mounted read-only; remount it read-write, or copy the site to a"
           " writable disk";
  else if (err == EACCES || err == EPERM)
    hint = ": the user running quire must be able to write the database and its folder (SQLite"
           " keeps quire.db-wal and quire.db-shm beside it); fix the owner or permissions";
  else if (err == ENOSPC)
    hint = ": the disk is full; free some space";
  if (err == ENOSPC) what = dir;
  char msg[sizeof s->errmsg];
  snprintf(msg, sizeof msg, "%s", s->errmsg);
  if (*hint && what != path)
    fail(s, QR_EIO, "cannot open the database %s: its folder %s: %s (%s)%s", path, what, strerror(err), msg, hint);
  else if (*hint)
    fail(s, QR_EIO, "cannot open the database %s: %s (%s)%s", path, strerror(err), msg, hint);
  else
    fail(s, QR_EIO, "cannot open the database %s: %s%s%s", path, msg, err ? ": " : "", err ? strerror(err) : "");
}

int qr_store_open(qr_store_t **out, const char *path, const qr_store_opts_t *opts, char *errbuf,
                  size_t errlen) {
  qr_store_opts_t defaults = {.busy_timeout_ms = 5000, .create = 1, .migrate = 1};
  if (!opts) opts = &defaults;
  *out = NULL;
  qr_store_t *s = qr_xcalloc(1, sizeof *s);
  /* No memory statistics (nothing reads them): with them on, every allocation SQLite makes (a
   * few per statement step) takes a global mutex to count it. Only allowed before SQLite
   * initializes, so once, before the first connection (a later call would fail harmlessly). */
  static int configured;
  if (!configured) {
    configured = 1;
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  }
  /* NOMUTEX: a connection is only ever used by the thread that opened it (each worker is a
   * process with one loop thread), so SQLite need not lock it on every call (every column
   * read of every row). */
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (opts->create ? SQLITE_OPEN_CREATE : 0);
  int rc = 0;
  if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
    rc = fail(s, QR_EIO, "%s",
              s->db ? sqlite3_errmsg(s->db) : "out of memory");
    goto done;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000);
  /* WAL lets readers run beside the writer; synchronous=FULL makes an acknowledged commit
   * survive power loss, which NORMAL does not promise in WAL mode. */
  if ((rc = exec(s,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                 "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16000")))
    goto done;
  sqlite3_stmt *mode = qr_store_prepare(s, "PRAGMA journal_mode");
  if (mode && sqlite3_step(mode) == SQLITE_ROW)
    s->wal = sqlite3_stricmp((const char *)sqlite3_column_text(mode, 0), "wal") == 0;
  if (mode) qr_store_release(s, mode);
  sqlite3_create_function_v2(s->db, "utf8_valid", 1,
                             SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                             sql_utf8_valid, NULL, NULL, NULL);
  sqlite3_create_function_v2(s->db, "text_check", 4,
                             SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                             sql_text_check, NULL, NULL, NULL);
  if (opts->migrate) rc = qr_store_migrate(s);
done:
  if (rc) {
    if (rc != QR_ESCHEMA) explain_open_failure(s, path);
    if (errbuf) snprintf(errbuf, errlen, "%s", s->errmsg);
    qr_store_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* Copies the WAL-index header into out, as SQLite's readers do: the first copy, a barrier, the
 * second, and only when both agree (a writer writes the second copy first, so a header read
 * while it changes differs) and the index is initialised. 0: not available, ask SQLite. */
static int read_wal_header(qr_store_t *s, unsigned char out[WAL_HEADER]) {
  if (!s->wal || !s->shm_seen) return 0;
  sqlite3_file *f = NULL;
  if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
      !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap)
    return 0;
  volatile void *region = NULL;
  if (f->pMethods->xShmMap(f, 0, 32768, 0, &region) != SQLITE_OK || !region) return 0;
  const volatile unsigned char *h = region;
  unsigned char second[WAL_HEADER];
  for (int i = 0; i < WAL_HEADER; i++) out[i] = h[i];
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  for (int i = 0; i < WAL_HEADER; i++) second[i] = h[WAL_HEADER + i];
  return memcmp(out, second, WAL_HEADER) == 0 && out[WAL_HEADER_IS_INIT];
}

long long qr_store_data_version(qr_store_t *s) {
  unsigned char now[WAL_HEADER];
  /* Read before the PRAGMA: a commit in between moves the header, and the next call asks again. */
  int have = read_wal_header(s, now);
  if (have && s->have_header && memcmp(now, s->header, WAL_HEADER) == 0) return s->data_version;
  sqlite3_stmt *st = qr_store_prepare(s, "PRAGMA data_version");
  long long v = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  if (st) qr_store_release(s, st);
  s->shm_seen = 1;
  /* Inside a transaction (a read snapshot) the PRAGMA answers for the snapshot, not the header
   * read now: ask again next time. */
  s->have_header = have && v >= 0 && sqlite3_get_autocommit(s->db);
  if (have) memcpy(s->header, now, WAL_HEADER);
  s->data_version = v;
  return v;
}

void qr_store_close(qr_store_t *s) {
  if (!s) return;
  if (s->db && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  for (int i = 0; i < STMT_BUCKETS; i++) {
    cached_stmt *c = s->buckets[i];
    while (c) {
      cached_stmt *next = c->next;
      sqlite3_finalize(c->stmt);
      free(c->sql);
      free(c);
      c = next;
    }
  }
  sqlite3_close_v2(s->db);
  free(s);
}

/* Runs a query whose rows are problem descriptions (one text column) and reports each. */
static int report_rows(qr_store_t *s, const char *sql, const char *what, int skip_ok,
                       qr_store_report_cb cb, void *ud) {
  sqlite3_stmt *st = qr_store_prepare(s, sql);
  if (!st) return QR_EDB;
  int problems = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *text = (const char *)sqlite3_column_text(st, 0);
    if (skip_ok && text && strcmp(text, "ok") == 0) continue;
    cb(ud, what, text ? text : "(null)");
    problems++;
  }
  qr_store_release(s, st);
  if (rc != SQLITE_DONE) {
    cb(ud, what, sqlite3_errmsg(s->db));
    problems++;
  }
  return problems;
}

int qr_store_check(qr_store_t *s, qr_store_report_cb cb, void *ud) {
  int problems = 0, applied, known, rc;
  char detail[160];
  if ((rc = qr_store_schema_version(s, &applied, &known))) {
    cb(ud, "schema", s->errmsg);
    return 1;
  }
  if (applied != known) {
    snprintf(detail, sizeof detail, "schema version %d, this quire expects %d", applied, known);
    cb(ud, "schema", detail);
    problems++;
  }
  problems += report_rows(s, "PRAGMA integrity_check", "integrity", 1, cb, ud);
  problems += report_rows(s,
                          "SELECT \"table\" || ' row ' || rowid || ' references missing ' || parent"
                          " FROM pragma_foreign_key_check",
                          "foreign keys", 0, cb, ud);
  /* FTS5's own check compares the index with the external content table. It is a write
   * statement: a user who may only read the database gets a note, not a false problem. */
  if (sqlite3_db_readonly(s->db, "main") == 1) {
    cb(ud, "note",
       "the database is read-only for this user, so the search index's own integrity check (which "
       "writes) was skipped; run quire check as the user that owns the site for the full check");
  } else if (sqlite3_exec(s->db, "INSERT INTO entries_fts(entries_fts, rank) VALUES('integrity-check', 1)",
                   NULL, NULL, NULL) != SQLITE_OK) {
    cb(ud, "search index", sqlite3_errmsg(s->db));
    problems++;
  }
  problems += report_rows(s,
                          "SELECT 'search index holds ' || (SELECT count(*) FROM entries_fts_docsize)"
                          " || ' documents for ' || (SELECT count(*) FROM entries) || ' entries'"
                          " WHERE (SELECT count(*) FROM entries_fts_docsize) !="
                          " (SELECT count(*) FROM entries)",
                          "search index", 0, cb, ud);
  return problems;
}
