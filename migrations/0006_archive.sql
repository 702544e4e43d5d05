-- Reversible forgetting (log schema 6): an archived memory leaves `memories` (and with it the vector, tag,
-- keyword and time searches and every list) for this table, which keeps its row as it was plus why and when
-- it was archived. `Unarchived` moves it back; an update while archived changes the row here; deleting or
-- redacting it removes it. Its graph edges stay in `memory_graph` while it is archived.
CREATE TABLE IF NOT EXISTS archived_memories (
    content_hash   TEXT PRIMARY KEY,
    content        TEXT NOT NULL,
    tags           TEXT,
    memory_type    TEXT,
    metadata       TEXT,
    created_at     REAL,
    updated_at     REAL,
    created_at_iso TEXT,
    updated_at_iso TEXT,
    version        INTEGER NOT NULL,
    last_seq       INTEGER NOT NULL,
    archived_at    REAL NOT NULL,   -- seconds since the epoch, of the `Archived` event
    archive_reason TEXT,            -- why: a person's note or the rules a consolidation found it by
    archived_by    TEXT NOT NULL    -- "interface" or "interface:id"
);
CREATE INDEX IF NOT EXISTS idx_archived_memories_at ON archived_memories(archived_at);
