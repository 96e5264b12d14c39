-- SQLite 0013: staff sign-in (disabled accounts, TOTP, session timeouts, sign-in rate limits,
-- password-reset links). "window" is quoted: a reserved word in PostgreSQL.
ALTER TABLE users ADD COLUMN disabled bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_secret text COLLATE "C";
ALTER TABLE users ADD COLUMN totp_last_step bigint;

ALTER TABLE sessions ADD COLUMN last_seen text COLLATE "C";
ALTER TABLE sessions ADD COLUMN role text COLLATE "C";
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE login_attempts (
  who      text COLLATE "C" NOT NULL,
  "window" bigint NOT NULL,
  count    bigint NOT NULL,
  PRIMARY KEY (who, "window")
);

CREATE TABLE login_challenges (
  id         text COLLATE "C" PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE DEFERRABLE,
  expires_at text COLLATE "C" NOT NULL,
  tries      bigint NOT NULL DEFAULT 0
);

CREATE TABLE password_resets (
  id         text COLLATE "C" PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE DEFERRABLE,
  created_at text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C" NOT NULL,
  used_at    text COLLATE "C"
);
