-- AVIF copies of library images, made after the import by a background job (quire.media:
-- media.avif) and offered first in <picture> once they exist. NULL: not made yet; 1: made at
-- every width of widths; 0: could not be made (avif_error says why; not tried again).
ALTER TABLE media ADD COLUMN avif INTEGER;
ALTER TABLE media ADD COLUMN avif_error TEXT;
CREATE INDEX media_avif_todo ON media (id) WHERE avif IS NULL AND hash IS NOT NULL;
