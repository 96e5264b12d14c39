-- SQLite 0028: the time zone a type's dated permalinks were made in (UTC before this column).
ALTER TABLE type_permalinks ADD COLUMN zone text COLLATE "C" NOT NULL DEFAULT 'UTC';
