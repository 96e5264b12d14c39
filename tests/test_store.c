/* Unit tests for the store: migrations, version refusal, statement cache, transactions, checks. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "store.h"
#include "util.h"

static char dir[] = "/tmp/quire-test-store-XXXXXX";

static void path_for(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static int count(qr_store_t *s, const char *sql) {
  sqlite3_stmt *st = qr_store_prepare(s, sql);
  int n = -1;
  if (st && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
  qr_store_release(s, st);
  return n;
}

static int exec(qr_store_t *s, const char *sql) {
  return sqlite3_exec(qr_store_db(s), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int problems_seen;
static void on_problem(void *ud, const char *what, const char *detail) {
  (void)ud;
  problems_seen++;
  fprintf(stderr, "  (expected) problem: %s: %s\n", what, detail);
}

static void test_open_and_migrate(void) {
  char path[512], err[512];
  path_for(path, sizeof path, "a.db");
  qr_store_t *s;
  CHECK(qr_store_open(&s, path, NULL, err, sizeof err) == 0);
  int applied, known;
  CHECK(qr_store_schema_version(s, &applied, &known) == 0);
  CHECK(applied == known && known >= 1);
  CHECK(count(s, "PRAGMA foreign_keys") == 1);
  CHECK(count(s, "PRAGMA synchronous") == 2); /* FULL */
  sqlite3_stmt *jm = qr_store_prepare(s, "PRAGMA journal_mode");
  CHECK(jm && sqlite3_step(jm) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(jm, 0), "wal") == 0);
  qr_store_release(s, jm);

  /* The cache hands back the same statement for the same SQL, and a private one when busy. */
  sqlite3_stmt *a = qr_store_prepare(s, "SELECT 1");
  qr_store_release(s, a);
  sqlite3_stmt *b = qr_store_prepare(s, "SELECT 1");
  CHECK(a == b);
  sqlite3_stmt *c = qr_store_prepare(s, "SELECT 1");
  CHECK(c && c != b);
  qr_store_release(s, c);
  qr_store_release(s, b);
  CHECK(qr_store_prepare(s, "SELEC nonsense") == NULL);
  CHECK(strstr(qr_store_errmsg(s), "syntax error") != NULL);

  /* Nested transactions: the inner rollback undoes only the inner write. */
  CHECK(qr_store_begin(s) == 0);
  CHECK(exec(s, "INSERT INTO settings VALUES ('outer', '1')") == 0);
  CHECK(qr_store_begin(s) == 0);
  CHECK(exec(s, "INSERT INTO settings VALUES ('inner', '1')") == 0);
  CHECK(qr_store_rollback(s) == 0);
  CHECK(qr_store_commit(s) == 0);
  CHECK(qr_store_depth(s) == 0);
  CHECK(count(s, "SELECT count(*) FROM settings WHERE key = 'outer'") == 1);
  CHECK(count(s, "SELECT count(*) FROM settings WHERE key = 'inner'") == 0);
  CHECK(qr_store_commit(s) == QR_EINVAL);

  /* Reopening applies nothing twice. */
  qr_store_close(s);
  CHECK(qr_store_open(&s, path, NULL, err, sizeof err) == 0);
  CHECK(count(s, "SELECT max(version) FROM schema_migrations") == known); /* numbers may have gaps */
  CHECK(count(s, "SELECT count(*) - count(DISTINCT version) FROM schema_migrations") == 0);

  /* A migration that arrived after a later one was applied (branches merged in another order)
   * is applied on the next open, not skipped for being below the newest. */
  qr_store_close(s);
  CHECK(qr_store_open(&s, path, NULL, err, sizeof err) == 0);
  CHECK(exec(s, "DROP TABLE hits; DROP INDEX comments_by_email; DELETE FROM schema_migrations WHERE version = 3") == 0);
  qr_store_close(s);
  CHECK(qr_store_open(&s, path, NULL, err, sizeof err) == 0);
  CHECK(count(s, "SELECT count(*) FROM schema_migrations WHERE version = 3") == 1);
  CHECK(count(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'hits'") == 1);

  /* A healthy database has no problems; a search index out of step is found. */
  problems_seen = 0;
  CHECK(exec(s, "INSERT INTO entries (type, slug, title, body, created_at, updated_at)"
                " VALUES ('article', 'a', 'Alpha', 'first body', 'x', 'x')") == 0);
  CHECK(qr_store_check(s, on_problem, NULL) == 0);
  CHECK(exec(s, "DROP TRIGGER entries_fts_delete; DELETE FROM entries;") == 0);
  CHECK(qr_store_check(s, on_problem, NULL) > 0);
  CHECK(problems_seen > 0);
  qr_store_close(s);
}

static void test_newer_schema_refused(void) {
  char path[512], err[512];
  path_for(path, sizeof path, "newer.db");
  qr_store_t *s;
  CHECK(qr_store_open(&s, path, NULL, err, sizeof err) == 0);
  CHECK(exec(s, "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')") == 0);
  qr_store_close(s);
  CHECK(qr_store_open(&s, path, NULL, err, sizeof err) == QR_ESCHEMA);
  CHECK(s == NULL);
  CHECK(strstr(err, "newer than this quire") != NULL);
}

static void test_failed_migration_keeps_schema(void) {
  char path[512], err[512];
  path_for(path, sizeof path, "clash.db");
  /* A table that clashes with the first migration makes it fail part-way. */
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "CREATE TABLE entries (x); INSERT INTO entries VALUES (42);", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
  qr_store_t *s;
  CHECK(qr_store_open(&s, path, NULL, err, sizeof err) == QR_EDB);
  CHECK(strstr(err, "0001_init.sql") != NULL);
  qr_store_opts_t opts = {.busy_timeout_ms = 100, .create = 0, .migrate = 0};
  CHECK(qr_store_open(&s, path, &opts, err, sizeof err) == 0);
  CHECK(count(s, "SELECT x FROM entries") == 42);                                     /* untouched */
  CHECK(count(s, "SELECT count(*) FROM sqlite_master WHERE name = 'users'") == 0);    /* no half schema */
  CHECK(count(s, "SELECT count(*) FROM schema_migrations") == 0);
  qr_store_close(s);
}

static void test_missing_file(void) {
  char path[512], err[512];
  path_for(path, sizeof path, "missing/none.db");
  qr_store_t *s;
  qr_store_opts_t opts = {.busy_timeout_ms = 100, .create = 0, .migrate = 1};
  CHECK(qr_store_open(&s, path, &opts, err, sizeof err) == QR_EIO);
  CHECK(strstr(err, "cannot open") != NULL);
}

/* data_version moves with every commit of another connection, also when the WAL restarts after a
 * checkpoint, and stays put while nothing is committed (then without a read transaction). */
static void test_data_version(void) {
  char path[512], err[512];
  path_for(path, sizeof path, "dv.db");
  qr_store_t *reader, *writer;
  CHECK(qr_store_open(&reader, path, NULL, err, sizeof err) == 0);
  CHECK(qr_store_open(&writer, path, NULL, err, sizeof err) == 0);
  long long v = qr_store_data_version(reader);
  CHECK(v >= 0);
  for (int i = 0; i < 3; i++) CHECK(qr_store_data_version(reader) == v);
  int moved = 0;
  for (int i = 0; i < 200; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO settings VALUES ('k%d', 'v')", i);
    CHECK(exec(writer, sql) == 0);
    if (i % 50 == 49) CHECK(exec(writer, "PRAGMA wal_checkpoint(TRUNCATE)") == 0); /* restarts the log */
    long long now = qr_store_data_version(reader);
    moved += now != v;
    v = now;
    CHECK(qr_store_data_version(reader) == v); /* and still, with nothing new */
  }
  CHECK(moved == 200);
  /* Like the PRAGMA, a connection's own commits do not move it (callers add total_changes). */
  CHECK(exec(reader, "INSERT INTO settings VALUES ('own', 'v')") == 0);
  CHECK(qr_store_data_version(reader) == v);
  CHECK(exec(writer, "DELETE FROM settings WHERE key = 'own'") == 0);
  CHECK(qr_store_data_version(reader) != v);
  qr_store_close(writer);
  qr_store_close(reader);
}

int main(void) {
  if (!mkdtemp(dir)) return 2;
  test_open_and_migrate();
  test_newer_schema_refused();
  test_failed_migration_keeps_schema();
  test_missing_file();
  test_data_version();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_summary("test_store");
}
