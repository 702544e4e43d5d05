-- Redaction: keyword-index entries of a removed memory are deleted from the FTS5 b-tree at once instead of
-- being left for a later merge, so a redacted memory's words do not linger in the index.
INSERT INTO memory_fts(memory_fts, rank) VALUES ('secure-delete', 1);
