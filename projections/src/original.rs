//! Reading a database written by the original Python service (its `sqlite_vec.db`), for migration.
//!
//! The original's schema: `memories` (id, content_hash, content, tags comma-joined, memory_type, metadata
//! JSON text, created_at/updated_at REAL epoch seconds, their ISO forms) and the vec0 table
//! `memory_embeddings` whose rowid is `memories.id`. Later versions add columns (`deleted_at`, `version`...)
//! and tables; those are tolerated, and only `deleted_at` is read. The file is opened read-only.

use crate::sqlite_ext::register_sqlite_vec;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The first 16 bytes of every SQLite database file.
pub const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Why the original's database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OriginalError {
    #[error("{path} is not a database of the original service (it has no `memories` table)")]
    NotOriginal { path: PathBuf },
    #[error("cannot read the original service's database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
}

/// One row of the original's `memories` table, with its stored vector when it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct OriginalRow {
    pub id: i64,
    pub content_hash: String,
    pub content: String,
    /// Comma-joined, as stored.
    pub tags: Option<String>,
    pub memory_type: Option<String>,
    /// JSON text, as stored.
    pub metadata: Option<String>,
    pub created_at: Option<f64>,
    pub updated_at: Option<f64>,
    pub created_at_iso: Option<String>,
    pub updated_at_iso: Option<String>,
    /// Set on soft-deleted rows (later versions of the original).
    pub deleted_at: Option<f64>,
    /// The row of `memory_embeddings`, as little-endian f32s; any dimension.
    pub embedding: Option<Vec<f32>>,
}

/// What an original database holds.
#[derive(Clone, Debug, Default)]
pub struct OriginalDatabase {
    pub rows: Vec<OriginalRow>,
    /// Why the vectors could not be read, when they could not (the rows are then without vectors).
    pub vectors_unreadable: Option<String>,
}

/// Whether the file starts with SQLite's header.
pub fn is_sqlite_file(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 16];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header)).is_ok() && &header == SQLITE_HEADER
}

fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [table], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n > 0)
}

fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    register_sqlite_vec();
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(15))?;
    Ok(conn)
}

/// Whether `path` is a database written by the original service: an SQLite file with a `memories` table
/// and without this service's checkpoint table. A missing file is not one.
pub fn is_original_database(path: &Path) -> Result<bool, OriginalError> {
    if !is_sqlite_file(path) {
        return Ok(false);
    }
    let sqlite = |source| OriginalError::Sqlite { path: path.to_path_buf(), source };
    let conn = open_read_only(path).map_err(sqlite)?;
    Ok(has_table(&conn, "memories").map_err(sqlite)? && !has_table(&conn, "projection_state").map_err(sqlite)?)
}

/// Reads every row of the original's database at `path`, in id order (the order they were stored).
pub fn read_original(path: &Path) -> Result<OriginalDatabase, OriginalError> {
    let sqlite = |source| OriginalError::Sqlite { path: path.to_path_buf(), source };
    let conn = open_read_only(path).map_err(sqlite)?;
    if !has_table(&conn, "memories").map_err(sqlite)? {
        return Err(OriginalError::NotOriginal { path: path.to_path_buf() });
    }
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('memories')")
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
        .map_err(sqlite)?;
    // Columns a version of the original may lack are read as NULL.
    let column =
        |name: &str| if columns.iter().any(|c| c == name) { name.to_string() } else { format!("NULL AS {name}") };
    let sql = format!(
        "SELECT id, content_hash, content, {}, {}, {}, {}, {}, {}, {}, {} FROM memories ORDER BY id",
        column("tags"),
        column("memory_type"),
        column("metadata"),
        column("created_at"),
        column("updated_at"),
        column("created_at_iso"),
        column("updated_at_iso"),
        column("deleted_at"),
    );
    let mut stmt = conn.prepare(&sql).map_err(sqlite)?;
    let real = |row: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<Option<f64>> {
        Ok(match row.get_ref(i)? {
            rusqlite::types::ValueRef::Real(x) => Some(x),
            rusqlite::types::ValueRef::Integer(n) => Some(n as f64),
            rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(|t| t.trim().parse().ok()),
            _ => None,
        })
    };
    let mut rows: Vec<OriginalRow> = stmt
        .query_map([], |row| {
            Ok(OriginalRow {
                id: row.get(0)?,
                content_hash: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                content: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                tags: row.get(3)?,
                memory_type: row.get(4)?,
                metadata: row.get(5)?,
                created_at: real(row, 6)?,
                updated_at: real(row, 7)?,
                created_at_iso: row.get(8)?,
                updated_at_iso: row.get(9)?,
                deleted_at: real(row, 10)?,
                embedding: None,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(sqlite)?;
    let vectors_unreadable = match read_vectors(&conn) {
        Ok(mut vectors) => {
            for row in &mut rows {
                row.embedding = vectors.remove(&row.id);
            }
            None
        }
        Err(error) => Some(error.to_string()),
    };
    Ok(OriginalDatabase { rows, vectors_unreadable })
}

/// Every vector of `memory_embeddings` by rowid; none when the table does not exist.
fn read_vectors(conn: &Connection) -> rusqlite::Result<HashMap<i64, Vec<f32>>> {
    if !has_table(conn, "memory_embeddings")? {
        return Ok(HashMap::new());
    }
    let mut stmt = conn.prepare("SELECT rowid, content_embedding FROM memory_embeddings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)))?;
    let mut vectors = HashMap::new();
    for row in rows {
        let (id, blob) = row?;
        if let Some(blob) = blob.filter(|b| !b.is_empty() && b.len() % 4 == 0) {
            let vector = blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            vectors.insert(id, vector);
        }
    }
    Ok(vectors)
}
