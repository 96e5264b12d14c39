/* SQLite storage: connection set-up, migrations, a prepared-statement cache, transactions, checks. */
#ifndef QR_STORE_H
#define QR_STORE_H
#include <sqlite3.h>
#include <stddef.h>

typedef struct qr_store_s qr_store_t;

typedef struct {
  int busy_timeout_ms; /* how long a writer waits for the lock; default 5000 */
  int create;          /* 1: create the file when missing; 0: a missing file is QR_ENOENT */
  int migrate;         /* 1: apply pending migrations on open */
} qr_store_opts_t;

/* Opens (and with opts->migrate, migrates) the database at path. On success *out is owned by the
 * caller and released with qr_store_close. On failure *out is NULL and, when errbuf is given, a
 * message is written there. A database whose schema is newer than this binary is QR_ESCHEMA.
 * The connection has the SQL function utf8_valid(x) (1, 0, or NULL for NULL). */
int qr_store_open(qr_store_t **out, const char *path, const qr_store_opts_t *opts, char *errbuf,
                  size_t errlen);
/* Finalizes cached statements and closes. Rolls back an open transaction. NULL is a no-op. */
void qr_store_close(qr_store_t *s);

/* The last error message for this connection; borrowed until the next store call. */
const char *qr_store_errmsg(qr_store_t *s);
/* Borrowed connection handle, valid until qr_store_close. */
sqlite3 *qr_store_db(qr_store_t *s);

/* Applies every embedded migration not yet recorded in schema_migrations, each in its own
 * transaction; a failing one is rolled back and the earlier schema stays. */
int qr_store_migrate(qr_store_t *s);
/* Highest applied migration number and the highest this binary knows. */
int qr_store_schema_version(qr_store_t *s, int *applied, int *known);

/* A prepared statement for sql from the cache (compiled once per connection). The statement is
 * borrowed: give it back with qr_store_release, which resets it and clears its bindings. When the
 * cached copy is already in use (a nested query of the same text), a private one is prepared and
 * release finalizes it. Returns NULL on a SQL error (see qr_store_errmsg). */
sqlite3_stmt *qr_store_prepare(qr_store_t *s, const char *sql);
void qr_store_release(qr_store_t *s, sqlite3_stmt *stmt);

/* PRAGMA data_version: a number that moves when another connection commits to the database.
 * While the WAL-index header in shared memory is byte for byte what it was at the last call, no
 * commit happened and the last value is returned without starting a read transaction (which
 * costs three system calls); otherwise, and outside WAL mode, SQLite is asked. -1 on error. */
long long qr_store_data_version(qr_store_t *s);

/* Write transactions always start with BEGIN IMMEDIATE (so a read-then-write never fails with
 * SQLITE_BUSY_SNAPSHOT); nested calls become savepoints. Each begin needs one commit or rollback. */
int qr_store_begin(qr_store_t *s);
int qr_store_commit(qr_store_t *s);
int qr_store_rollback(qr_store_t *s);
/* Current nesting depth; 0 outside any transaction (a read snapshot counts none: it writes nothing). */
int qr_store_depth(qr_store_t *s);

/* A read snapshot: every statement until qr_store_end_read reads the database as of the first
 * one (one read lock for all of them, not one each), and none may write (PRAGMA query_only; a
 * qr_store_begin inside it is QR_EINVAL). Not inside a transaction. end_read without one open does
 * nothing. */
int qr_store_begin_read(qr_store_t *s);
int qr_store_end_read(qr_store_t *s);
/* 1 while a read snapshot is open. */
int qr_store_reading(qr_store_t *s);

/* Runs the consistency checks `quire check` reports: schema version, PRAGMA integrity_check,
 * foreign keys, and the full-text index against the entries table. Each problem is passed to cb;
 * the return value is the number of problems (0: healthy) or a negative QR_E* code. A check it
 * cannot make (a read-only connection) is passed as what "note", and not counted. */
/* The message for SQLITE_FULL (what happened, what is kept, what to do); static, never freed. */
const char *qr_store_full_message(qr_store_t *s);

typedef void (*qr_store_report_cb)(void *ud, const char *what, const char *detail);
int qr_store_check(qr_store_t *s, qr_store_report_cb cb, void *ud);

#endif
