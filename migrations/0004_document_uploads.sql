-- Document uploads (log schema 3): one row per upload, written from its `DocumentIngested` event; a
-- `DocumentRemoved` event marks it removed, a redaction of the upload's key deletes the row.
CREATE TABLE IF NOT EXISTS document_uploads (
    upload_key     TEXT PRIMARY KEY,          -- hex of ContentHash::of_upload(upload_id)
    upload_id      TEXT NOT NULL UNIQUE,
    file_name      TEXT NOT NULL,
    file_type      TEXT NOT NULL,
    size           INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    tags           TEXT NOT NULL,             -- JSON array of the caller's tags
    memory_type    TEXT NOT NULL,
    chunk_size     INTEGER NOT NULL,
    chunk_overlap  INTEGER NOT NULL,
    pages          INTEGER NOT NULL,
    chunks         TEXT NOT NULL,             -- JSON array of the chunk memories' hashes, in order
    duplicates     INTEGER NOT NULL,
    actor          TEXT NOT NULL,             -- "interface" or "interface:id"
    ingested_at    REAL NOT NULL,             -- seconds since the epoch
    ingested_seq   INTEGER NOT NULL,
    removed_at     REAL,
    removed_seq    INTEGER,
    chunks_deleted INTEGER
);
CREATE INDEX IF NOT EXISTS idx_document_uploads_sha256 ON document_uploads(sha256);
CREATE INDEX IF NOT EXISTS idx_document_uploads_seq ON document_uploads(ingested_seq);
