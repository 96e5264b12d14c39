-- The JSON APIs (lua/quire/api.lua): their keys, the answers to POSTs made with an
-- Idempotency-Key, and the per-key request counts that rate limits read.

-- A Content API key (kind 'content': read-only, passed as ?key=) or an Admin API key (kind
-- 'admin': signs short-lived HS256 tokens, acting as user_id with that user's role). Neither
-- secret is stored: a content key is found by its HMAC (secret_hash); an admin key's signing
-- secret is derived from the site's secret and salt when a token is checked.
CREATE TABLE api_keys (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  kind        TEXT NOT NULL CHECK (kind IN ('content', 'admin')),
  user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE, -- admin keys: who the key acts as
  secret_hash TEXT UNIQUE,                                    -- content keys
  salt        TEXT,                                           -- admin keys
  cors        TEXT NOT NULL DEFAULT '',                       -- allowed origins, space separated; '*' any
  created_at  TEXT NOT NULL,
  last_used   TEXT,
  CHECK ((kind = 'content') = (secret_hash IS NOT NULL)),
  CHECK ((kind = 'admin') = (salt IS NOT NULL AND user_id IS NOT NULL))
);

-- Callers ("who") are 'key:ID' (an admin key's tokens) or 'user:ID' (a staff session).

-- A POST's answer kept under its Idempotency-Key for a day, written in the same transaction as
-- the POST's change: a retried create answers the same and creates nothing.
CREATE TABLE api_idempotency (
  who          TEXT NOT NULL,
  idem_key     TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  PRIMARY KEY (who, idem_key)
) WITHOUT ROWID;
CREATE INDEX api_idempotency_by_age ON api_idempotency (created_at);

-- Requests per caller per minute (fixed windows), shared by every worker.
CREATE TABLE api_rate (
  who     TEXT NOT NULL,
  window  INTEGER NOT NULL, -- epoch minute
  count   INTEGER NOT NULL,
  PRIMARY KEY (who, window)
) WITHOUT ROWID;
