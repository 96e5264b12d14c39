-- SQLite 0017: AVIF copies of library images (avif NULL: not made; -1: being made since
-- avif_claimed; 1: made; 0: could not be made, avif_error says why).
ALTER TABLE media ADD COLUMN avif integer;
ALTER TABLE media ADD COLUMN avif_claimed bigint;
ALTER TABLE media ADD COLUMN avif_error text;
CREATE INDEX media_avif_todo ON media (id) WHERE hash IS NOT NULL AND (avif IS NULL OR avif = -1);
