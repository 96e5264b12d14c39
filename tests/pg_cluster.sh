# A throw-away PostgreSQL 15 cluster for tests; source it, then call pg_cluster_start.
# initdb in a temporary folder, reachable only by its Unix socket there (no TCP port), run as
# an unprivileged user when we are root (PostgreSQL refuses to run as root): the `postgres`
# user Debian's package creates, else `nobody`. The cluster is stopped and its folder removed
# when the calling shell exits, whatever the outcome (an EXIT trap that keeps any earlier one).
# Sets PG_DIR (the folder, also the socket directory) and QUIRE_PG_URL (a database `quire`
# owned by the unprivileged role `quire`, as a site would use it).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_cluster_start() {
  if [ ! -x "$PG_BIN/initdb" ]; then
    echo "PostgreSQL 15 not found in $PG_BIN: run 'make deps' (it installs postgresql-15)" >&2
    return 1
  fi
  PG_DIR=$(mktemp -d /tmp/quire-pg.XXXXXX) || return 1
  PG_RUNAS=()
  if [ "$(id -u)" = 0 ]; then
    local user=postgres
    id -u postgres >/dev/null 2>&1 || user=nobody
    chown "$user" "$PG_DIR"
    PG_RUNAS=(runuser -u "$user" --)
  fi
  chmod 700 "$PG_DIR"
  local prev
  prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
  trap "pg_cluster_stop; $prev" EXIT
  # (Byte order for sorting, as quire's columns ask anyway; a UTF-8 LC_CTYPE, as an operator's
  # would be: pg_new_db NAME C makes a database with C's, which search must read the same.)
  (cd / && "${PG_RUNAS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --lc-ctype=C.UTF-8 \
    >"$PG_DIR/initdb.log" 2>&1) || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  # Durability off: the cluster lives for one test run.
  pg_server_start || return 1
  pg_psql postgres -c "CREATE ROLE quire LOGIN" -c "CREATE DATABASE quire OWNER quire" >/dev/null || return 1
  QUIRE_PG_URL=$(pg_url quire)
  export PG_DIR QUIRE_PG_URL
}

# psql as the superuser on database $1 (further arguments passed on).
pg_psql() {
  local db=$1
  shift
  "$PG_BIN/psql" -h "$PG_DIR" -U postgres -d "$db" -qAt -v ON_ERROR_STOP=1 "$@"
}

# The URL of database $1 as role quire, over the socket (the host is the folder, %-encoded).
pg_url() {
  printf 'postgresql://quire@%s/%s' "$(printf '%s' "$PG_DIR" | sed 's,/,%2F,g')" "$1"
}

# A fresh empty database owned by quire; prints its URL. With $2, that LC_CTYPE instead of the
# cluster's C.UTF-8 (`pg_new_db news C`: what initdb --no-locale and many containers make).
pg_new_db() {
  pg_psql postgres -c "CREATE DATABASE \"$1\" OWNER quire${2:+ LC_CTYPE '$2' TEMPLATE template0}" >/dev/null && pg_url "$1"
}

# Stops the server (fast shutdown: clients are disconnected) and starts it again, for fault tests.
pg_server_stop() {
  (cd / && "${PG_RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null)
}
# Autovacuum off: its analyze writes pg_statistic, a commit that moves the server snapshot of
# every database, which a script's memo (a spec's) takes for another connection's write that
# names no tag: it drops everything, and a spec counting what was built again fails when one
# lands between two lookups (memo_spec did, once in a CI run). Specs that need statistics ANALYZE.
pg_server_start() {
  (cd / && "${PG_RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-k $PG_DIR -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off" \
    start >/dev/null) || { cat "$PG_DIR/server.log" >&2; return 1; }
}

# Streaming hot standbys of the cluster (pg_basebackup -R -X stream), each named by PG_STANDBY
# (default "standby"; e.g. `PG_STANDBY=standby2 pg_standby_create` makes a second one): its data
# in $PG_DIR/NAME, its own socket folder $PG_DIR/NAME-sock (PG_STANDBY_SOCK is the default one's).
# pg_standby_url DB prints the URL of database DB on it (as role quire); pg_standby_stop stops it
# (fast), pg_standby_start starts it again; pg_cluster_stop stops them all.
pg_standby_name() { printf '%s' "${PG_STANDBY:-standby}"; }
pg_standby_sock() { printf '%s' "$PG_DIR/$(pg_standby_name)-sock"; }
pg_standby_create() {
  local sock; sock=$(pg_standby_sock)
  mkdir -p "$sock"
  [ ${#PG_RUNAS[@]} -gt 0 ] && chown "${PG_RUNAS[2]}" "$sock"
  chmod 700 "$sock"
  (cd / && "${PG_RUNAS[@]}" "$PG_BIN/pg_basebackup" -h "$PG_DIR" -U postgres -D "$PG_DIR/$(pg_standby_name)" -R -X stream -c fast \
    >"$PG_DIR/basebackup.log" 2>&1) || { cat "$PG_DIR/basebackup.log" >&2; return 1; }
  PG_STANDBY_SOCK=$PG_DIR/standby-sock
  export PG_STANDBY_SOCK
  pg_standby_start
}
pg_standby_url() {
  printf 'postgresql://quire@%s/%s' "$(pg_standby_sock | sed 's,/,%2F,g')" "$1"
}
# The primary's WAL position that a standby reports as replayed once it has everything the
# primary wrote so far: the insert position, less a page header it may point past.
pg_wal_lsn() {
  pg_psql postgres -c "SELECT CASE WHEN (l - '0/0') % 16777216 = 40 THEN l - 40 WHEN (l - '0/0') % 8192 = 24 THEN l - 24
    ELSE l END FROM (SELECT pg_current_wal_insert_lsn() AS l) AS x"
}
pg_standby_start() {
  local name; name=$(pg_standby_name)
  (cd / && "${PG_RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/$name" -l "$PG_DIR/$name.log" -w -t 60 \
    -o "-k $(pg_standby_sock) -c listen_addresses='' -c hot_standby=on -c fsync=off -c full_page_writes=off" \
    start >/dev/null) || { cat "$PG_DIR/$name.log" >&2; return 1; }
}
pg_standby_stop() {
  (cd / && "${PG_RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/$(pg_standby_name)" -m fast -w stop >/dev/null)
}
# psql as the superuser on the standby's database $1.
pg_standby_psql() {
  local db=$1
  shift
  "$PG_BIN/psql" -h "$(pg_standby_sock)" -U postgres -d "$db" -qAt -v ON_ERROR_STOP=1 "$@"
}

pg_cluster_stop() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
  local d
  for d in "$PG_DIR"/*/; do # the standbys (one a test stopped fails to stop again: fine)
    if [ -f "$d/standby.signal" ]; then
      (cd / && "${PG_RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1) || true
    fi
  done
  (cd / && "${PG_RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1)
  rm -rf "$PG_DIR"
  PG_DIR=
}
