/* PostgreSQL storage through libpq: connection, `?` placeholders, a prepared-statement cache,
 * nested transactions serialised like SQLite's writers, and the db/pg migrations. */
#ifndef QR_PG_H
#define QR_PG_H
#include <libpq-fe.h>
#include <stddef.h>

typedef struct qr_pg_s qr_pg_t;

typedef struct {
  int migrate;         /* 1: apply pending db/pg migrations on open */
  int connect_timeout; /* seconds, unless the URL says; 0: 10 */
  int connect_ms;      /* the same in milliseconds, when set (the URL's connect_timeout still wins) */
  int timeout_ms;      /* qr_pg_set_timeout's bound from the start; 0: none */
  int nowait;          /* without migrate: return QR_EBUSY at once with *out still connecting (qr_pg_ready) */
} qr_pg_opts_t;

/* Connects to url ("postgresql://user@host:port/dbname", anything libpq takes) and, with
 * opts->migrate, applies pending migrations under an advisory lock (nodes starting together
 * migrate once). On success *out is owned by the caller (qr_pg_close). On failure *out is NULL
 * and a message is written to errbuf; a schema newer than this binary is QR_ESCHEMA. With
 * opts->nowait the connection is only started: QR_EBUSY, *out owned by the caller, and
 * qr_pg_ready carries it on (a failure is then qr_pg_down_why's, the next qr_pg_ready a new try). */
int qr_pg_open(qr_pg_t **out, const char *url, const qr_pg_opts_t *opts, char *errbuf, size_t errlen);
/* Rolls back an open transaction and closes. NULL is a no-op. */
void qr_pg_close(qr_pg_t *p);
/* The last error message; borrowed until the next call on p. */
const char *qr_pg_errmsg(qr_pg_t *p);

/* Rewrites SQLite-style placeholders as $n: `?NNN` as $NNN, a plain `?` as one more than the
 * largest number so far (SQLite's numbering). Question marks inside string literals, quoted
 * identifiers, dollar-quoted strings and comments stay as they are. Returns a string owned by
 * the caller (free), and the number of parameters in *nparams; NULL with a message in err
 * (static) for SQL that mixes `?` with `$n` or numbers a parameter outside 1..65535. */
char *qr_pg_translate(const char *sql, int *nparams, const char **err);

/* A parameter: type 'n' (NULL), 'i' (integer, int8), 'f' (float8) or 't' (text, type inferred
 * by the server); text is borrowed for the call and must not contain NUL bytes. */
typedef struct {
  char type;
  const char *text;
} qr_pg_param_t;

/* Runs sql (with `?` placeholders) with params. Statements are prepared once per connection and
 * parameter type signature (up to a cap, then run unprepared). With want_id, an INSERT into a
 * table whose id comes from a sequence gets `RETURNING id` added, so qr_pg_last_id gives the id
 * it made, as SQLite's last_insert_rowid does. Returns a result the caller must PQclear, or NULL with
 * qr_pg_errmsg set (the server's message, its detail and SQLSTATE). A broken connection outside
 * a transaction is reset once and the statement retried. */
PGresult *qr_pg_query(qr_pg_t *p, const char *sql, int nparams, const qr_pg_param_t *params, int want_id);
/* Rows the last qr_pg_query changed, and the id its INSERT made (0 when none yet). */
long long qr_pg_changes(qr_pg_t *p);
long long qr_pg_last_id(qr_pg_t *p);
/* Rows changed through this connection since it opened (SQLite's total_changes). */
long long qr_pg_total_changes(qr_pg_t *p);

/* Transactions: the outermost begin takes the site's write lock (a transaction-scoped advisory
 * lock), so write transactions run one at a time across every node, as SQLite's BEGIN IMMEDIATE
 * does; nested calls are savepoints. Each begin needs one commit or rollback. */
int qr_pg_begin(qr_pg_t *p);
int qr_pg_commit(qr_pg_t *p);
int qr_pg_rollback(qr_pg_t *p);
int qr_pg_depth(qr_pg_t *p);
/* A read snapshot (as qr_store_begin_read): BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY, no
 * write lock, depth 0; statements in it get their savepoint as in a transaction. A lost
 * connection ends it (the statements after it run each on its own). end_read without one open
 * does nothing. */
int qr_pg_begin_read(qr_pg_t *p);
int qr_pg_end_read(qr_pg_t *p);
int qr_pg_reading(qr_pg_t *p);
/* Whether statements inside a transaction get a savepoint each (on by default), so that one
 * that fails is undone alone and the transaction goes on, as in SQLite; off where the caller
 * rolls its level back after any failure anyway (quire.store_sql.pcall_unguarded). Returns the
 * previous setting. */
int qr_pg_guard(qr_pg_t *p, int on);

/* A number that moves when a transaction that wrote commits anywhere in the database, as
 * SQLite's PRAGMA data_version (it follows the server's snapshot: one round trip). -1 on error,
 * with qr_pg_errmsg set. */
long long qr_pg_data_version(qr_pg_t *p);
/* The same number, moved as far as notifications tell: the first call LISTENs on quire_data,
 * which every statement that writes notifies when its transaction commits (db/pg/0027); later
 * calls only read what the socket holds (no round trip). So a commit is seen once its
 * notification arrived: for the page cache and anonymous pages, whose rule is "fresh after the
 * commit plus the notification's delay". A reconnect moves it too (notifications sent meanwhile
 * are lost). -1 on error, with qr_pg_errmsg set. */
long long qr_pg_heard_version(qr_pg_t *p);

/* The next notification (LISTEN) received, without waiting: reads what the socket holds and
 * copies the oldest one's channel and payload (PostgreSQL bounds both: 63 and 7999 bytes) into
 * the caller's buffers; those of quire_data sent by another site's writes (another schema of
 * the database, db/pg/0032) are dropped, here and where qr_pg_heard_version counts them.
 * Returns 1, 0 when there is none, or QR_EIO when the connection is lost.
 * Once qr_pg_heard_version has been asked, statements drop the notifications they read (only
 * counted). */
#define QR_PG_CHANNEL_MAX 64
#define QR_PG_PAYLOAD_MAX 8000
int qr_pg_notification(qr_pg_t *p, char channel[QR_PG_CHANNEL_MAX], char payload[QR_PG_PAYLOAD_MAX]);
/* Waits up to timeout_ms for a notification qr_pg_notification would give (other sites' do not
 * end the wait) and gives it as that does: 1, 0 on timeout, QR_EIO on error. */
int qr_pg_wait(qr_pg_t *p, int timeout_ms, char channel[QR_PG_CHANNEL_MAX], char payload[QR_PG_PAYLOAD_MAX]);
/* The connection's socket, to wait on for notifications in an event loop; -1 when closed. */
int qr_pg_socket(qr_pg_t *p);
/* For an event loop that saw that socket readable: reads what it holds without waiting (all of
 * it, so a level-triggered poll does not fire again for the same bytes). 1 when it brought
 * notifications qr_pg_heard_version has not counted yet, 0 when not, QR_EIO when the connection
 * is lost (nothing is retried here: the next statement reconnects). */
int qr_pg_listen_input(qr_pg_t *p);
/* 1 when notifications of other connections came with a statement's results (libpq read them
 * off the socket then, so it is not readable for them) and qr_pg_heard_version has not counted
 * them yet: a loop watching the socket handles them as if it were readable. No I/O. */
int qr_pg_heard_pending(qr_pg_t *p);
/* Counts the connections made again after one was lost: a new connection's socket may have the
 * old one's number, so a loop following qr_pg_socket compares this too. */
long long qr_pg_resets(qr_pg_t *p);

/* Store checks for `quire check`: schema version, constraints left unvalidated and the rows
 * breaking a foreign key or an unvalidated CHECK, and the search index against the entries. Each problem goes to cb; returns their number or a QR_E* code. */
typedef void (*qr_pg_report_cb)(void *ud, const char *what, const char *detail);
int qr_pg_check(qr_pg_t *p, qr_pg_report_cb cb, void *ud);

/* Highest applied migration number and the highest this binary knows for PostgreSQL. */
int qr_pg_schema_version(qr_pg_t *p, int *applied, int *known);

/* Read replicas (the choice is core/replica.c's). While a reader is set, qr_pg_route sends a
 * statement there when it reads (SELECT, WITH, VALUES, TABLE) outside a transaction; anything
 * else goes to p and ends the reader until it is set again, as does anything that may have
 * shown this process newer commits meanwhile (qr_pg_moved), so a request reads what it wrote.
 * reader is borrowed; NULL sets none. */
void qr_pg_set_reader(qr_pg_t *p, qr_pg_t *reader);
qr_pg_t *qr_pg_route(qr_pg_t *p, const char *sql);
/* Moves whenever this connection may have seen newer commits than before: a notification read,
 * a commit or a write of its own, a reconnect. */
long long qr_pg_moved(qr_pg_t *p);
/* The primary's WAL insert position, which is at or past the end of every commit it has made
 * visible; a standby that replayed up to it shows them all. 0 or QR_E* (message on p). */
int qr_pg_wal_lsn(qr_pg_t *p, unsigned long long *lsn);
/* A standby's replay position (pg_last_wal_replay_lsn); QR_EINVAL when p is no standby. */
int qr_pg_replay_lsn(qr_pg_t *p, unsigned long long *lsn);
/* 1 while the connection is up. */
int qr_pg_connected(qr_pg_t *p);

/* Bounds every wait on the server to timeout_ms (0: none, libpq's blocking calls): a statement's
 * answer (the whole pipeline of one statement) and a new connection. No answer in time cuts the
 * connection, and the statement fails as for a lost one ("the connection to PostgreSQL was
 * lost (no answer within N ms, limits.db_timeout_ms)"), without the retry a lost connection
 * gets. From then on (or after a failed reconnect) the database is known to be away: a
 * statement waits at most 100 ms for a new connection, and the attempts made without waiting
 * (qr_pg_heard_version, which never waits for one, qr_pg_ready) start at most every 250 ms to 1 s. */
void qr_pg_set_timeout(qr_pg_t *p, int timeout_ms);
/* Without waiting: 1 when the connection is up; else a new connection is started or carried on
 * (outside a transaction) and 0 says it is under way, a QR_E* code that it failed (message on
 * p). For work that should wait for the database rather than hold a worker: the ticks. */
int qr_pg_ready(qr_pg_t *p);
/* Statements so far whose parameter the server could not type from its place (`? IS NULL`)
 * and that were prepared again with it as text: the core's own SQL types them (CAST(? AS
 * TEXT) IS NULL), so a spec can tell it needs none of these. */
long long qr_pg_untyped(qr_pg_t *p);
/* The bound qr_pg_set_timeout set (0: none). */
int qr_pg_timeout(qr_pg_t *p);
/* Why the last connection attempt failed (libpq's words on one line, or "no answer within N
 * ms"); borrowed until the next attempt. */
const char *qr_pg_down_why(qr_pg_t *p);

#endif
