//! Archived memories in the read model: the `archived_memories` table (log schema 6), written by the sqlite
//! projection from `Archived`/`Unarchived` events and read for the lists that ask for archived memories.

use crate::read::{ReadError, SqliteReader};
use crate::row::MemoryRow;
use rusqlite::{Row, params};

/// An archived memory: its row as it was when archived (or last updated since), and why and when.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchivedRow {
    /// The memory; `id` is 0, since an archived memory has no row in `memories`.
    pub memory: MemoryRow,
    /// Seconds since the epoch, of the `Archived` event.
    pub archived_at: f64,
    pub reason: Option<String>,
    /// "interface" or "interface:id" of who archived it.
    pub archived_by: String,
}

const COLUMNS: &str = "0, content_hash, content, tags, memory_type, metadata, created_at, updated_at, created_at_iso, \
     updated_at_iso, version, last_seq, archived_at, archive_reason, archived_by";

impl ArchivedRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<ArchivedRow> {
        Ok(ArchivedRow {
            memory: MemoryRow::from_row(row)?,
            archived_at: row.get(12)?,
            reason: row.get(13)?,
            archived_by: row.get(14)?,
        })
    }
}

impl SqliteReader {
    /// Archived memories, most recently archived first, and how many there are.
    pub fn archived(&self, offset: usize, limit: usize) -> Result<(Vec<ArchivedRow>, u64), ReadError> {
        let conn = self.conn()?;
        let total: i64 = conn.query_row("SELECT count(*) FROM archived_memories", [], |r| r.get(0))?;
        let sql =
            format!("SELECT {COLUMNS} FROM archived_memories ORDER BY archived_at DESC, content_hash LIMIT ? OFFSET ?");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![limit as i64, offset as i64], ArchivedRow::from_row)?;
        Ok((rows.collect::<Result<_, _>>()?, total as u64))
    }

    /// One archived memory by content hash.
    pub fn archived_memory(&self, hash: &str) -> Result<Option<ArchivedRow>, ReadError> {
        let conn = self.conn()?;
        let sql = format!("SELECT {COLUMNS} FROM archived_memories WHERE content_hash = ?");
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query_map([hash], ArchivedRow::from_row)?;
        Ok(rows.next().transpose()?)
    }
}
