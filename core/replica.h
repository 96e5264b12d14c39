/* Read replicas: which hot standby (or the primary) an anonymous page render reads from.
 *
 * A worker keeps a floor: the primary's WAL position read after the last thing that may have
 * shown it newer commits (qr_pg_moved: a notification heard, its own write, a reconnect).
 * Its page cache and memo know no commit past the floor, so a standby that has replayed up to
 * the floor shows everything they account for: a page rendered there and kept at the tag
 * versions of the last sync is never older than those versions. A standby behind the floor is
 * not used (the primary answers) until it catches up; one behind for longer than lag_ms, or
 * down, is skipped with one log line and looked at again by itself. A client that just wrote
 * carries the LSN of its write (the quire_lsn cookie, lua_server.c) and is served by a standby
 * only once that standby has replayed it. */
#ifndef QR_REPLICA_H
#define QR_REPLICA_H
#include "pg.h"

typedef struct qr_replica_s qr_replica_t;

#define QR_REPLICA_MAX 16 /* read_replicas entries */

/* The replicas at urls (n of them, at most QR_REPLICA_MAX; the strings are copied) for the
 * primary connection (borrowed: it must outlive the set). Nothing connects yet: each replica
 * is opened when a render first wants it. Owned by the caller: qr_replica_free. */
qr_replica_t *qr_replica_new(qr_pg_t *primary, const char *const *urls, int n, long long lag_ms);
void qr_replica_free(qr_replica_t *s);

/* Before an anonymous GET or HEAD render: picks the next replica in turn that has replayed
 * min_lsn and the floor, and makes it the primary's reader (qr_pg_set_reader). Returns its
 * index, or -1 when the primary must answer (none is usable, or the floor could not be read).
 * Costs nothing while nothing moved and the chosen replica was seen past the floor; else one
 * round trip to the primary and one to the replica. */
int qr_replica_begin(qr_replica_t *s, unsigned long long min_lsn);
/* After the render: the primary again. */
void qr_replica_end(qr_replica_t *s);

#endif
