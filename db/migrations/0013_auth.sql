-- Staff sign-in (lua/quire/auth.lua): disabled accounts, an optional TOTP second factor,
-- sessions with idle and absolute timeouts, sign-in rate limits shared by every worker, and
-- one-time password-reset links. Only hashes of tokens are stored.

ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_secret TEXT;       -- base32; NULL: no second factor
ALTER TABLE users ADD COLUMN totp_last_step INTEGER; -- the last 30 s step used: a code works once

-- sessions.expires_at is the absolute end; last_seen the idle clock; role the role the token
-- was issued for (a role change makes the next request rotate the token).
ALTER TABLE sessions ADD COLUMN last_seen TEXT;
ALTER TABLE sessions ADD COLUMN role TEXT;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Sign-in attempts per address and per login in fixed windows (epoch seconds // window).
CREATE TABLE login_attempts (
  who    TEXT NOT NULL,    -- 'addr:203.0.113.9' or 'login:alice'
  window INTEGER NOT NULL,
  count  INTEGER NOT NULL,
  PRIMARY KEY (who, window)
) WITHOUT ROWID;

-- A sign-in waiting for its TOTP code: the password was right; the code is asked next.
CREATE TABLE login_challenges (
  id         TEXT PRIMARY KEY,  -- hash of the token the form carries
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  expires_at TEXT NOT NULL,
  tries      INTEGER NOT NULL DEFAULT 0
);

-- One-time password-reset links (quire user reset-link LOGIN).
CREATE TABLE password_resets (
  id         TEXT PRIMARY KEY,  -- hash of the link's token
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at    TEXT
);
