-- SQLite 0023: how far each edge purger has been sent the cache_tags log, and the lease to send.
CREATE TABLE edge_purges (
  purger      text COLLATE "C" PRIMARY KEY,
  sent        bigint NOT NULL,
  lease_owner text COLLATE "C",
  lease_until bigint NOT NULL DEFAULT 0,
  failures    integer NOT NULL DEFAULT 0,
  next_try    bigint NOT NULL DEFAULT 0
);
