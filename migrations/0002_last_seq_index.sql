-- Memories changed after a given point of the log: what the ANN index may not have seen yet.
CREATE INDEX IF NOT EXISTS idx_last_seq ON memories(last_seq);
