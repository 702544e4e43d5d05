//! `SqliteProjection`: applies events to the sqlite-vec read model, with its schema migrations.

use crate::projector::{Applied, Projection, ProjectionError};
use crate::row::iso_utc;
use crate::sqlite_ext::register_sqlite_vec;
use mms_log::{Event, EventKind, MemoryMeta, MemoryRecord, Seq, Timestamp};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

const NAME: &str = "sqlite_vec";

/// How long a connection waits for a lock (SQLite's busy handler retries until then).
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the checkpoint right after a redaction waits for readers to move past it: queries are short.
const TRUNCATE_WAIT: Duration = Duration::from_secs(1);
/// How long each later try of a truncation still owed waits, so that the writes it runs after are not held up.
const TRUNCATE_RETRY_WAIT: Duration = Duration::from_millis(50);

/// Versioned migrations of the read model, applied in order at open.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "read_model", include_str!("../../migrations/0001_read_model.sql")),
    (2, "last_seq_index", include_str!("../../migrations/0002_last_seq_index.sql")),
    (3, "secure_delete", include_str!("../../migrations/0003_secure_delete.sql")),
    (4, "document_uploads", include_str!("../../migrations/0004_document_uploads.sql")),
    (5, "memory_graph", include_str!("../../migrations/0005_memory_graph.sql")),
    (6, "archive", include_str!("../../migrations/0006_archive.sql")),
];

/// Why the read model could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{path} holds a database written by the original Python service, not this service's read model; \
         move it aside (the data can be brought in with `mcp-memory-service import`) or set MCP_MEMORY_SQLITE_PATH to another file"
    )]
    Foreign { path: PathBuf },
    #[error("cannot open the sqlite read model {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("cannot remove {path} to build the read model anew: {source}")]
    Remove { path: PathBuf, source: std::io::Error },
}

/// The write side of the sqlite-vec read model. Reads go through [`crate::SqliteReader`].
pub struct SqliteProjection {
    conn: Connection,
    checkpoint: Seq,
    /// The write-ahead log may still hold pages as they were before a redaction (or as a crashed run left
    /// them): it is to be folded into the database and truncated at the next chance.
    truncate_owed: bool,
}

/// Opens a connection with the pragmas every connection of the read model uses.
pub(crate) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    register_sqlite_vec();
    let conn = Connection::open(path)?;
    // The read model is derived data: NORMAL synchronous is enough, because the log is the durable copy and
    // a projection that loses its last commits catches up from its checkpoint. secure_delete overwrites
    // deleted rows with zeros, so a redacted (or deleted) memory does not linger in free pages. The page
    // cache (16 MB; readers lower theirs) holds the pages a write touches: the last vector chunk (1.5 MB),
    // the FTS5 segments being merged, the b-tree paths.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON;",
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

impl SqliteProjection {
    /// Opens (or creates) the read model at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteProjection, OpenError> {
        let sqlite = |source| OpenError::Sqlite { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        }
        // A write-ahead log left by a run that stopped (crashed, or owed a truncation when it closed) may
        // hold pages from before a redaction.
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let truncate_owed = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
        let mut conn = connect(path).map_err(sqlite)?;
        if is_foreign(&conn).map_err(sqlite)? {
            return Err(OpenError::Foreign { path: path.to_path_buf() });
        }
        migrate(&mut conn).map_err(sqlite)?;
        // Applying an event runs up to about twenty distinct statements (see `execute`).
        conn.set_prepared_statement_cache_capacity(64);
        let checkpoint = conn
            .query_row("SELECT seq FROM projection_state WHERE name = ?", [NAME], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(sqlite)?
            .map_or(Seq::ZERO, |s| Seq(s as u64));
        Ok(SqliteProjection { conn, checkpoint, truncate_owed })
    }

    fn storage(error: rusqlite::Error) -> ProjectionError {
        ProjectionError::Storage { name: NAME, source: Box::new(error) }
    }
}

/// A database with a `memories` table but no checkpoint table was written by the original service.
fn is_foreign(conn: &Connection) -> rusqlite::Result<bool> {
    let has = |table: &str| -> rusqlite::Result<bool> {
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [table], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n > 0)
    };
    Ok(has("memories")? && !has("projection_state")?)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    )?;
    for (version, name, sql) in MIGRATIONS {
        let done: bool =
            conn.query_row("SELECT count(*) FROM schema_migrations WHERE version = ?", [version], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })?;
        if !done {
            let txn = conn.transaction()?;
            txn.execute_batch(sql)?;
            txn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", params![version, name])?;
            txn.commit()?;
        }
    }
    Ok(())
}

fn secs(at: Timestamp) -> f64 {
    at.as_secs_f64()
}

/// `execute` through the connection's statement cache: applying events runs the same few statements again
/// and again, and preparing each anew took a seventh of a rebuild.
pub(crate) fn execute(txn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    txn.prepare_cached(sql)?.execute(params)
}

/// `query_row` through the statement cache (see [`execute`]).
pub(crate) fn query_row<T>(
    txn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    txn.prepare_cached(sql)?.query_row(params, f)
}

/// A vector as sqlite-vec's float32 blob (little-endian f32s).
pub(crate) fn vector_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn insert_memory(txn: &Connection, applied: &Applied<'_>, record: &MemoryRecord) -> rusqlite::Result<()> {
    let event = applied.event;
    let hash = event.memory.to_hex();
    remove_memory(txn, &hash)?;
    execute(
        txn,
        "INSERT INTO memories (id, content_hash, content, tags, memory_type, metadata, created_at, updated_at, \
         created_at_iso, updated_at_iso, version, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            // The row id is the seq of the event that made the memory live: unique, increasing, and the
            // same in a replay as live, even when a redaction erased events a replay then skips.
            event.seq.0 as i64,
            hash,
            record.content,
            record.tags.join(","),
            record.memory_type,
            record.metadata,
            secs(record.created_at),
            secs(record.updated_at),
            iso_utc(record.created_at.0),
            iso_utc(record.updated_at.0),
            event.version,
            event.seq.0 as i64,
        ],
    )?;
    let id = txn.last_insert_rowid();
    insert_tags(txn, id, &record.tags)?;
    match applied.vector {
        Some(vector) => {
            execute(
                txn,
                "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
                params![id, vector_blob(vector)],
            )?;
            Ok(())
        }
        None => Err(rusqlite::Error::InvalidParameterName(format!(
            "memory {hash} was stored without a vector; it is listed but not found by semantic search"
        ))),
    }
}

fn insert_tags(txn: &Connection, id: i64, tags: &[String]) -> rusqlite::Result<()> {
    let mut insert = txn.prepare_cached("INSERT OR IGNORE INTO memory_tags (tag, memory_id) VALUES (?, ?)")?;
    for tag in tags {
        insert.execute(params![tag, id])?;
    }
    Ok(())
}

/// Removes a memory's row, tags and vector from the searched tables; its edges and any archived row stay.
fn remove_row(txn: &Connection, hash: &str) -> rusqlite::Result<bool> {
    let id: Option<i64> =
        query_row(txn, "SELECT id FROM memories WHERE content_hash = ?", [hash], |r| r.get(0)).optional()?;
    if let Some(id) = id {
        execute(txn, "DELETE FROM memory_embeddings WHERE rowid = ?", [id])?;
        execute(txn, "DELETE FROM memory_tags WHERE memory_id = ?", [id])?;
        execute(txn, "DELETE FROM memories WHERE id = ?", [id])?;
    }
    Ok(id.is_some())
}

/// A memory stops being live (deleted, redacted, stored again): its row, archived or not, and its edges go.
fn remove_memory(txn: &Connection, hash: &str) -> rusqlite::Result<()> {
    let removed = remove_row(txn, hash)?;
    let archived = execute(txn, "DELETE FROM archived_memories WHERE content_hash = ?", [hash])? > 0;
    if removed || archived {
        crate::graph::remove_edges_of(txn, hash)?;
    }
    Ok(())
}

/// Moves a memory's row to `archived_memories`, out of every search and list; its edges stay.
fn archive_memory(txn: &Connection, event: &Event, reason: Option<&str>) -> rusqlite::Result<()> {
    let hash = event.memory.to_hex();
    execute(
        txn,
        "INSERT OR REPLACE INTO archived_memories (content_hash, content, tags, memory_type, metadata, created_at, \
         updated_at, created_at_iso, updated_at_iso, version, last_seq, archived_at, archive_reason, archived_by) \
         SELECT content_hash, content, tags, memory_type, metadata, created_at, updated_at, created_at_iso, \
         updated_at_iso, ?, ?, ?, ?, ? FROM memories WHERE content_hash = ?",
        params![event.version, event.seq.0 as i64, secs(event.at), reason, event.actor.label(), hash],
    )?;
    // As for a redaction, so that the vector's bytes do not outlive the row in vec0's chunk: a redaction
    // of the archived memory would no longer find them (unarchiving takes the vector from the log's cache).
    zero_vector(txn, &hash)?;
    remove_row(txn, &hash)?;
    Ok(())
}

/// vec0 may keep a deleted vector's bytes in its chunk: they are overwritten before the delete.
fn zero_vector(txn: &Connection, hash: &str) -> rusqlite::Result<()> {
    let zeros = vector_blob(&[0.0; crate::DIMENSIONS]);
    execute(
        txn,
        "UPDATE memory_embeddings SET content_embedding = ? WHERE rowid = (SELECT id FROM memories WHERE content_hash = ?)",
        params![zeros, hash],
    )?;
    Ok(())
}

/// Writes an update's tags, type, metadata and version into `table`'s row where `key` matches (a live
/// memory's in `memories`, an archived one's in `archived_memories`); how many rows it changed.
fn update_meta(
    txn: &Connection,
    table: &str,
    key: (&str, Value),
    event: &Event,
    after: &MemoryMeta,
) -> rusqlite::Result<usize> {
    let sql = format!(
        "UPDATE {table} SET tags = ?, memory_type = ?, metadata = ?, updated_at = ?, updated_at_iso = ?, version = ?, \
         last_seq = ? WHERE {} = ?",
        key.0
    );
    let values: [Value; 8] = [
        Value::Text(after.tags.join(",")),
        after.memory_type.clone().map_or(Value::Null, Value::Text),
        Value::Text(after.metadata.clone()),
        Value::Real(secs(after.updated_at)),
        Value::Text(iso_utc(after.updated_at.0)),
        Value::Integer(i64::from(event.version)),
        Value::Integer(event.seq.0 as i64),
        key.1,
    ];
    execute(txn, &sql, rusqlite::params_from_iter(values))
}

fn apply_one(txn: &Connection, applied: &Applied<'_>) -> rusqlite::Result<()> {
    let event = applied.event;
    let hash = event.memory.to_hex();
    match &event.kind {
        EventKind::Stored(record) | EventKind::Undeleted(record) => insert_memory(txn, applied, record),
        EventKind::Archived { reason } => archive_memory(txn, event, reason.as_deref()),
        EventKind::Unarchived(record) => {
            execute(txn, "DELETE FROM archived_memories WHERE content_hash = ?", [&hash])?;
            remove_row(txn, &hash)?;
            insert_memory(txn, applied, record)
        }
        EventKind::Updated { after, .. } => {
            let id: Option<i64> =
                query_row(txn, "SELECT id FROM memories WHERE content_hash = ?", [&hash], |r| r.get(0)).optional()?;
            // An archived memory's row changes where it is, and it stays archived.
            let Some(id) = id else {
                return update_meta(txn, "archived_memories", ("content_hash", Value::Text(hash)), event, after)
                    .map(drop);
            };
            update_meta(txn, "memories", ("id", Value::Integer(id)), event, after)?;
            execute(txn, "DELETE FROM memory_tags WHERE memory_id = ?", [id])?;
            insert_tags(txn, id, &after.tags)
        }
        EventKind::Deleted { .. } => remove_memory(txn, &hash),
        EventKind::Redacted { .. } => {
            zero_vector(txn, &hash)?;
            remove_memory(txn, &hash)?;
            crate::uploads::forget(txn, &hash)
        }
        EventKind::DocumentIngested(upload) => crate::uploads::insert(txn, event, upload),
        EventKind::DocumentRemoved { chunks_deleted, .. } => crate::uploads::mark_removed(txn, event, *chunks_deleted),
        EventKind::Related(relation) => crate::graph::relate(txn, event, relation),
        EventKind::Unrelated { target, relation_type } => {
            crate::graph::unrelate(txn, &hash, &target.to_hex(), relation_type)
        }
        // Rewritten history of a memory redacted later; the memory was never live for this replay.
        EventKind::Erased { .. } => Ok(()),
    }
}

impl Projection for SqliteProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn checkpoint(&self) -> Seq {
        self.checkpoint
    }

    fn apply(&mut self, batch: &[Applied<'_>]) -> Result<(), ProjectionError> {
        let Some(last) = batch.last().map(|a| a.event.seq) else {
            return Ok(());
        };
        if last <= self.checkpoint {
            return Ok(());
        }
        let pending: Vec<&Applied<'_>> = batch.iter().filter(|a| a.event.seq > self.checkpoint).collect();
        // The whole batch at once first: a savepoint per event copies every page an event changes, which
        // was a large part of a rebuild. An event that cannot be applied sends the batch back, to be applied
        // again event by event, each in its own savepoint.
        let mut txn = self.conn.transaction().map_err(Self::storage)?;
        match pending.iter().try_for_each(|applied| apply_one(&txn, applied)) {
            Ok(()) => {}
            Err(error) if is_storage_failure(&error) => return Err(Self::storage(error)),
            Err(_) => {
                txn.rollback().map_err(Self::storage)?;
                txn = self.conn.transaction().map_err(Self::storage)?;
                apply_each(&mut txn, &pending)?;
            }
        }
        txn.execute(
            "INSERT INTO projection_state (name, seq) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq",
            params![NAME, last.0 as i64],
        )
        .map_err(Self::storage)?;
        txn.commit().map_err(Self::storage)?;
        self.checkpoint = last;
        if batch.iter().any(|a| matches!(a.event.kind, EventKind::Redacted { .. })) {
            // The write-ahead log still holds the pages as they were before the redaction (secure_delete
            // zeroes them in the new pages only): fold it into the database and truncate it.
            self.truncate_owed = true;
            self.truncate_wal(true);
        } else if self.truncate_owed {
            self.truncate_wal(false);
        }
        Ok(())
    }

    fn upkeep(&mut self) -> Result<(), ProjectionError> {
        if self.truncate_owed {
            self.truncate_wal(false);
        }
        Ok(())
    }

    fn reset(&mut self) -> Result<(), ProjectionError> {
        // Dropping the tables and migrating again is much cheaper than deleting every row through the FTS
        // triggers and vec0, and leaves exactly the schema a new file would have. (A rebuild starts from a
        // new file instead: see `recreate`.)
        self.conn
            .execute_batch(
                "BEGIN; DROP TRIGGER IF EXISTS memories_fts_insert; DROP TRIGGER IF EXISTS memories_fts_delete; \
                 DROP TABLE IF EXISTS memory_fts; DROP TABLE IF EXISTS memory_embeddings; \
                 DROP TABLE IF EXISTS memory_tags; DROP TABLE IF EXISTS memories; DROP TABLE IF EXISTS metadata; \
                 DROP TABLE IF EXISTS projection_errors; DROP TABLE IF EXISTS projection_state; \
                 DROP TABLE IF EXISTS document_uploads; DROP TABLE IF EXISTS memory_graph; \
                 DROP TABLE IF EXISTS archived_memories; \
                 DELETE FROM sqlite_sequence; DELETE FROM schema_migrations; COMMIT;",
            )
            .map_err(Self::storage)?;
        migrate(&mut self.conn).map_err(Self::storage)?;
        self.checkpoint = Seq::ZERO;
        Ok(())
    }
}

/// Applies events one by one, each in a savepoint: one that cannot be applied is rolled back alone and
/// recorded in `projection_errors`.
fn apply_each(txn: &mut rusqlite::Transaction<'_>, pending: &[&Applied<'_>]) -> Result<(), ProjectionError> {
    let storage = SqliteProjection::storage;
    for applied in pending {
        let savepoint = txn.savepoint().map_err(storage)?;
        match apply_one(&savepoint, applied) {
            Ok(()) => savepoint.commit().map_err(storage)?,
            Err(error) if is_storage_failure(&error) => return Err(storage(error)),
            Err(error) => {
                // A memory stored without a vector is kept (listed, tag- and keyword-searchable): commit
                // what applied, then record the problem.
                let keep = applied.vector.is_none() && matches!(error, rusqlite::Error::InvalidParameterName(_));
                if keep {
                    savepoint.commit().map_err(storage)?;
                } else {
                    drop(savepoint);
                }
                tracing::warn!(seq = applied.event.seq.0, %error, "event not fully applied to the sqlite read model");
                txn.execute(
                    "INSERT OR REPLACE INTO projection_errors (seq, error, at) VALUES (?, ?, ?)",
                    params![applied.event.seq.0 as i64, error.to_string(), Timestamp::now().as_secs_f64()],
                )
                .map_err(storage)?;
            }
        }
    }
    Ok(())
}

/// Errors that mean the database itself is failing (disk, corruption), as opposed to one bad event.
fn is_storage_failure(error: &rusqlite::Error) -> bool {
    use rusqlite::ffi::ErrorCode;
    match error {
        rusqlite::Error::SqliteFailure(e, _) => matches!(
            e.code,
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OutOfMemory
        ),
        _ => false,
    }
}

impl SqliteProjection {
    /// Folds the write-ahead log into the database and truncates it to nothing, waiting for readers still
    /// on older pages ([`TRUNCATE_WAIT`] right after a redaction, [`TRUNCATE_RETRY_WAIT`] on later tries;
    /// SQLite's busy handler retries until then). A reader that keeps it busy longer leaves the truncation
    /// owed: [`Projection::apply`] and [`Projection::upkeep`] try again, so the log is rid of the old pages
    /// as soon as the readers let go. A busy checkpoint is no error: it answers a row (busy, log frames,
    /// checkpointed frames) with busy = 1.
    fn truncate_wal(&mut self, after_redaction: bool) {
        let wait = if after_redaction { TRUNCATE_WAIT } else { TRUNCATE_RETRY_WAIT };
        let outcome = self.conn.busy_timeout(wait).and_then(|()| {
            let busy = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
            self.conn.busy_timeout(BUSY_TIMEOUT)?;
            busy
        });
        match outcome {
            Ok(0) => {
                tracing::debug!("the read model's write-ahead log is truncated");
                self.truncate_owed = false;
            }
            Ok(_) if after_redaction => tracing::warn!(
                waited_ms = wait.as_millis() as u64,
                "readers keep the read model's write-ahead log busy: pages from before a redaction stay in it \
                 until they let go (truncating it is tried again at each write and every few hundred milliseconds)"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "truncating the read model's write-ahead log failed; tried again later")
            }
        }
    }

    /// Whether the write-ahead log may still hold pages from before a redaction (a truncation is owed).
    pub fn truncate_owed(&self) -> bool {
        self.truncate_owed
    }

    /// The file of this read model.
    pub fn path(&self) -> Option<PathBuf> {
        self.conn.path().map(PathBuf::from)
    }

    /// An empty read model in place of this one, for a rebuild: the database and its `-wal` and `-shm`
    /// files are removed and created again. Dropping the tables of a large read model instead took a fifth
    /// of a rebuild (sqlite reads every page it frees, and with secure_delete overwrites it); the removed
    /// files' bytes are in no file afterwards, as secure_delete would leave them. Nothing else may have the
    /// file open: a reader would go on reading the removed file.
    pub fn recreate(self) -> Result<SqliteProjection, OpenError> {
        let Some(path) = self.path().filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(self);
        };
        drop(self);
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            let file = PathBuf::from(name);
            match std::fs::remove_file(&file) {
                Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                    return Err(OpenError::Remove { path: file, source });
                }
                _ => {}
            }
        }
        SqliteProjection::open(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn every_migration_file_is_applied_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("the migrations directory")
            .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let registered: Vec<String> =
            MIGRATIONS.iter().map(|(version, name, _)| format!("{version:04}_{name}.sql")).collect();
        assert_eq!(registered, files, "each file in migrations/ must be listed in MIGRATIONS, in order");
    }
}
