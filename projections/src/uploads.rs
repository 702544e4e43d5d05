//! Document uploads in the read model: the `document_uploads` table, written from the upload events of the
//! log (schema 3) and read for the document routes.

use crate::read::{ReadError, SqliteReader};
use mms_log::{DocumentUpload, Event, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// One upload as the read model holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadRow {
    pub upload_id: String,
    pub file_name: String,
    pub file_type: String,
    pub size: u64,
    pub sha256: String,
    /// The caller's tags.
    pub tags: Vec<String>,
    pub memory_type: String,
    pub chunk_size: u32,
    pub chunk_overlap: u32,
    pub pages: u32,
    /// Hex hashes of the memories the upload created, in chunk order.
    pub chunks: Vec<String>,
    pub duplicates: u32,
    /// "interface" or "interface:id" of whoever ingested it.
    pub actor: String,
    /// Seconds since the epoch.
    pub ingested_at: f64,
    pub ingested_seq: u64,
    /// When it was removed (seconds since the epoch) and how many chunks that deleted.
    pub removed: Option<(f64, u32)>,
}

const COLUMNS: &str = "upload_id, file_name, file_type, size, sha256, tags, memory_type, chunk_size, chunk_overlap, \
     pages, chunks, duplicates, actor, ingested_at, ingested_seq, removed_at, chunks_deleted";

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl UploadRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<UploadRow> {
        let removed_at: Option<f64> = row.get(15)?;
        let chunks_deleted: Option<i64> = row.get(16)?;
        Ok(UploadRow {
            upload_id: row.get(0)?,
            file_name: row.get(1)?,
            file_type: row.get(2)?,
            size: row.get::<_, i64>(3)? as u64,
            sha256: row.get(4)?,
            tags: json_list(&row.get::<_, String>(5)?),
            memory_type: row.get(6)?,
            chunk_size: row.get(7)?,
            chunk_overlap: row.get(8)?,
            pages: row.get(9)?,
            chunks: json_list(&row.get::<_, String>(10)?),
            duplicates: row.get(11)?,
            actor: row.get(12)?,
            ingested_at: row.get(13)?,
            ingested_seq: row.get::<_, i64>(14)? as u64,
            removed: removed_at.map(|at| (at, chunks_deleted.unwrap_or(0) as u32)),
        })
    }
}

/// Records an ingested upload.
pub(crate) fn insert(txn: &Connection, event: &Event, upload: &DocumentUpload) -> rusqlite::Result<()> {
    let actor = event.actor.label();
    let chunks: Vec<String> = upload.chunks.iter().map(|c| c.to_hex()).collect();
    txn.execute(
        &format!(
            "INSERT OR REPLACE INTO document_uploads (upload_key, {COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)"
        ),
        params![
            event.memory.to_hex(),
            upload.upload_id,
            upload.file_name,
            upload.file_type,
            upload.size as i64,
            upload.sha256,
            serde_json::Value::from(upload.tags.clone()).to_string(),
            upload.memory_type,
            upload.chunk_size,
            upload.chunk_overlap,
            upload.pages,
            serde_json::Value::from(chunks).to_string(),
            upload.duplicates,
            actor,
            secs(event.at),
            event.seq.0 as i64,
        ],
    )?;
    Ok(())
}

/// Marks an upload removed.
pub(crate) fn mark_removed(txn: &Connection, event: &Event, chunks_deleted: u32) -> rusqlite::Result<()> {
    txn.execute(
        "UPDATE document_uploads SET removed_at = ?, removed_seq = ?, chunks_deleted = ? WHERE upload_key = ?",
        params![secs(event.at), event.seq.0 as i64, chunks_deleted, event.memory.to_hex()],
    )?;
    Ok(())
}

/// Forgets an upload whose key was redacted (no-op for any other key).
pub(crate) fn forget(txn: &Connection, key: &str) -> rusqlite::Result<()> {
    txn.execute("DELETE FROM document_uploads WHERE upload_key = ?", [key])?;
    Ok(())
}

fn secs(at: Timestamp) -> f64 {
    at.0 as f64 / 1e6
}

impl SqliteReader {
    /// One upload by its id, removed or not.
    pub fn upload(&self, upload_id: &str) -> Result<Option<UploadRow>, ReadError> {
        let conn = self.conn()?;
        let sql = format!("SELECT {COLUMNS} FROM document_uploads WHERE upload_id = ?");
        Ok(conn.query_row(&sql, [upload_id], UploadRow::from_row).optional()?)
    }

    /// The latest upload of a file with this sha256 that is not removed.
    pub fn upload_of_file(&self, sha256: &str) -> Result<Option<UploadRow>, ReadError> {
        let conn = self.conn()?;
        let sql = format!(
            "SELECT {COLUMNS} FROM document_uploads WHERE sha256 = ? AND removed_at IS NULL \
             ORDER BY ingested_seq DESC LIMIT 1"
        );
        Ok(conn.query_row(&sql, [sha256], UploadRow::from_row).optional()?)
    }

    /// Uploads, newest first, removed ones included.
    pub fn uploads(&self, limit: usize) -> Result<Vec<UploadRow>, ReadError> {
        let conn = self.conn()?;
        let sql = format!("SELECT {COLUMNS} FROM document_uploads ORDER BY ingested_seq DESC LIMIT ?");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([limit as i64], UploadRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many uploads the read model records (removed ones included).
    pub fn upload_count(&self) -> Result<u64, ReadError> {
        let conn = self.conn()?;
        Ok(conn.query_row("SELECT count(*) FROM document_uploads", [], |r| r.get::<_, i64>(0))? as u64)
    }
}
