-- AVIF copies of library images, made after the import in the background (quire.media
-- avif_step, from each serving worker's tick) and offered first in <picture> once they exist.
-- avif NULL: not made yet; -1: being made (since avif_claimed, seconds since 1970: one image at
-- a time for the whole site, a claim older than 5 minutes is taken over); 1: made at every width
-- of widths; 0: could not be made (avif_error says why; not tried again).
ALTER TABLE media ADD COLUMN avif INTEGER;
ALTER TABLE media ADD COLUMN avif_claimed INTEGER;
ALTER TABLE media ADD COLUMN avif_error TEXT;
CREATE INDEX media_avif_todo ON media (id) WHERE hash IS NOT NULL AND (avif IS NULL OR avif = -1);
