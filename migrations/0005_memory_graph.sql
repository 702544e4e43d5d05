-- The memory graph (log schema 5): one row per typed edge, folded from `Related` / `Unrelated` events of the
-- source memory. An edge exists only while both ends are live: deleting or redacting either end removes it
-- (a later `Related` makes it again). Symmetric types ("related", "contradicts") are one row, written from
-- whichever end the event was on, and are followed both ways.
CREATE TABLE IF NOT EXISTS memory_graph (
    source_hash       TEXT NOT NULL,
    target_hash       TEXT NOT NULL,
    relationship_type TEXT NOT NULL,
    strength          REAL NOT NULL,   -- in [0, 1]: 1 for a person's link, the similarity for a found one
    reason            TEXT,            -- why the two are linked
    actor             TEXT NOT NULL,   -- "interface" or "interface:id" of who linked them
    created_at        REAL NOT NULL,   -- seconds since the epoch, of the event
    seq               INTEGER NOT NULL,
    PRIMARY KEY (source_hash, target_hash, relationship_type)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_memory_graph_target ON memory_graph(target_hash);
