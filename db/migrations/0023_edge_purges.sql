-- Edge purges: how far each configured purger has been sent the cache_tags log (tags whose
-- version is above sent are still to purge there), and which server holds the lease to send.
CREATE TABLE edge_purges (
  purger      TEXT PRIMARY KEY,
  sent        INTEGER NOT NULL,
  lease_owner TEXT,
  lease_until INTEGER NOT NULL DEFAULT 0,
  failures    INTEGER NOT NULL DEFAULT 0,
  next_try    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
