-- The permalink pattern each content type had when the site last opened, so a changed pattern
-- (in site.lua or a plugin) turns every public entry's old URL into a redirect to its new one.
CREATE TABLE type_permalinks (
  type    TEXT PRIMARY KEY,
  pattern TEXT NOT NULL
) WITHOUT ROWID;
