-- SQLite 0021: the permalink pattern each content type had when the site last opened.
CREATE TABLE type_permalinks (
  type    text COLLATE "C" PRIMARY KEY,
  pattern text COLLATE "C" NOT NULL
);
