-- Abuse limits and share counting: how often a client did something within a time window (comment
-- posts per address, one share per link and address a day). Rows expire and are pruned as new
-- ones arrive. Keys are built by the caller from hashed addresses, never raw IPs.
CREATE TABLE hits (
  key        TEXT PRIMARY KEY,
  count      INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL           -- epoch seconds; the window ends here
) WITHOUT ROWID;
CREATE INDEX hits_by_expiry ON hits (expires_at);

-- Moderation asks "was this address approved before?" on every new comment.
CREATE INDEX comments_by_email ON comments (author_email COLLATE NOCASE, status);
