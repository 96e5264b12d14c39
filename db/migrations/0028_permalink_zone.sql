-- The time zone a type's dated permalinks ({yyyy}/{mm}/{dd}) were made in: the date in a URL is the
-- one a reader sees, the site's own. Rows made before this column were made in UTC.
ALTER TABLE type_permalinks ADD COLUMN zone TEXT NOT NULL DEFAULT 'UTC';
