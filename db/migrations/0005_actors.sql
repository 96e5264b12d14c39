-- Who made each change. A revision names its actor; changes that leave no revision (deletes,
-- comment moderation, term renames and merges) go to the audit log. An actor is a staff login,
-- "cli:<os user>" for a command or script run without --as, "job:<name>" for scheduled work, or
-- "web" for a request with no signed-in user. user_id links a staff actor while the account lives.
ALTER TABLE revisions ADD COLUMN actor TEXT;
UPDATE revisions SET actor = (SELECT login FROM users WHERE id = saved_by) WHERE saved_by IS NOT NULL;

CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY,
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,
  user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  action  TEXT NOT NULL,              -- entry.deleted, comment.approved, tag.renamed, ...
  subject TEXT NOT NULL,              -- entry:12, comment:3, tag:climate
  detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_subject ON audit_log (subject, id);
