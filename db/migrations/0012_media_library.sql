-- The media library: uploaded images, content-addressed on disk (DIR/media/ab/cdef…-W.webp by
-- the SHA-256 of the original), with what a page needs to show them without layout shift and
-- with credit. Rows from the WordPress importer (0002) keep hash NULL: they name a URL only.
ALTER TABLE media ADD COLUMN hash TEXT;          -- 32 hex digits; NULL for imported URLs
ALTER TABLE media ADD COLUMN format TEXT;        -- 'jpeg' | 'png' | 'webp' (the original's)
ALTER TABLE media ADD COLUMN width INTEGER;      -- after EXIF orientation
ALTER TABLE media ADD COLUMN height INTEGER;
ALTER TABLE media ADD COLUMN widths TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(widths)); -- [[w, h], ...] made
ALTER TABLE media ADD COLUMN colour TEXT;        -- '#rrggbb', the most common colour (a placeholder)
ALTER TABLE media ADD COLUMN alt TEXT NOT NULL DEFAULT '';
ALTER TABLE media ADD COLUMN caption TEXT NOT NULL DEFAULT '';
ALTER TABLE media ADD COLUMN credit TEXT NOT NULL DEFAULT '';
ALTER TABLE media ADD COLUMN focal_x REAL CHECK (focal_x BETWEEN 0 AND 1); -- 0..1 from the left
ALTER TABLE media ADD COLUMN focal_y REAL CHECK (focal_y BETWEEN 0 AND 1); -- 0..1 from the top
ALTER TABLE media ADD COLUMN uploaded_by TEXT;   -- the actor's name (a login, or cli:USER)
ALTER TABLE media ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
CREATE UNIQUE INDEX media_by_hash ON media (hash) WHERE hash IS NOT NULL;
