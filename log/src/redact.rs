//! Redaction, file by file: forgetting a memory for real.
//!
//! A `Redacted` event is appended like any other, and in the same write transaction the writer rewrites
//! every earlier event of that memory to `Erased { was }` (its content, tags, type, metadata and any
//! deletion reason dropped; sequence, time, actor and version kept) and removes the memory's cached vectors
//! (the row-level steps live in `tables`); while the redaction is the memory's last event the writer also
//! refuses to cache vectors for it. redb is copy-on-write, so the old bytes can survive in free pages of the
//! file: this module rewrites whole files, the log at its next open while a scrub is pending, and closed
//! files such as backups ([`erase_in_file`]).

use crate::copy::copy_database;
use crate::error::SnapshotError;
use crate::ids::{ContentHash, Seq};
use crate::tables::{BY_MEMORY, EVENTS, HEADS, Head, META, SCRUB_PENDING, VECTORS, drop_vectors, erase_before};
use redb::{Database, ReadableDatabase, ReadableTable};
use std::path::Path;

/// What erasing redactions from a log file (a backup) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Events rewritten to `Erased`.
    pub events: usize,
    /// Memories whose cached vectors were removed.
    pub vectors: usize,
    /// Memories that were live in the file and no longer are.
    pub memories: usize,
}

/// Applies redactions to a closed log file, such as a backup: the events of each memory before its
/// redaction are rewritten to `Erased`, and when the file predates the redaction its cached vector is
/// removed and its head marked not live (so the file still replays to what its heads say). When anything
/// changed the file is rewritten whole, so no erased bytes stay in free pages.
pub fn erase_in_file(path: &Path, redactions: &[(ContentHash, Seq)]) -> Result<Erasure, SnapshotError> {
    let write = |source: redb::Error| SnapshotError::Write { path: path.to_path_buf(), source };
    let mut done = Erasure::default();
    {
        let db = Database::open(path).map_err(|e| write(e.into()))?;
        let txn = db.begin_write().map_err(|e| write(e.into()))?;
        {
            let mut events = txn.open_table(EVENTS).map_err(|e| write(e.into()))?;
            let by_memory = txn.open_table(BY_MEMORY).map_err(|e| write(e.into()))?;
            let mut heads = txn.open_table(HEADS).map_err(|e| write(e.into()))?;
            let mut vectors = txn.open_table(VECTORS).map_err(|e| write(e.into()))?;
            for (memory, seq) in redactions {
                done.events += erase_before(&mut events, &by_memory, memory, *seq).map_err(write)?;
                // A file that predates the redaction has the memory's last state in its head and cache.
                let head = heads.get(&memory.0).map_err(|e| write(e.into()))?.map(|row| Head::from_row(row.value()));
                let Some(head) = head.filter(|head| head.last_seq < seq.0) else { continue };
                if drop_vectors(&mut vectors, memory).map_err(write)? > 0 {
                    done.vectors += 1;
                }
                if head.live {
                    let gone = Head { live: false, ..head };
                    heads.insert(&memory.0, gone.to_row()).map_err(|e| write(e.into()))?;
                    done.memories += 1;
                }
            }
        }
        txn.commit().map_err(|e| write(e.into()))?;
        if done == Erasure::default() {
            return Ok(done);
        }
        let scratch = path.with_extension("scrub");
        let _ = std::fs::remove_file(&scratch);
        copy_database(&db, &scratch)?;
    }
    replace(&path.with_extension("scrub"), path)?;
    Ok(done)
}

/// Rewrites the log file whole when a redaction left erased bytes in its free pages. Runs at open, before
/// anything else uses the file. Returns true when it rewrote.
pub(crate) fn scrub_if_pending(path: &Path, db: Database) -> Result<(Database, bool), SnapshotError> {
    let write = |source: redb::Error| SnapshotError::Write { path: path.to_path_buf(), source };
    let pending = {
        let txn = db.begin_read().map_err(|e| write(e.into()))?;
        match txn.open_table(META) {
            Ok(meta) => meta.get(SCRUB_PENDING).map_err(|e| write(e.into()))?.is_some(),
            Err(redb::TableError::TableDoesNotExist(_)) => false,
            Err(e) => return Err(write(e.into())),
        }
    };
    if !pending {
        return Ok((db, false));
    }
    let scratch = path.with_extension("scrub");
    let _ = std::fs::remove_file(&scratch);
    copy_database(&db, &scratch)?;
    drop(db);
    replace(&scratch, path)?;
    let db = Database::create(path).map_err(|e| write(e.into()))?;
    Ok((db, true))
}

/// Rewrites the log at `path` while `db` (open on it) stays in use: a fresh copy is renamed over the file and
/// opened. The outer error: nothing changed (the old file, its scrub still pending). The inner one: the file
/// was replaced but cannot be opened.
pub(crate) fn rewrite_live(db: &Database, path: &Path) -> Result<Result<Database, redb::DatabaseError>, SnapshotError> {
    let scratch = path.with_extension("scrub");
    let _ = std::fs::remove_file(&scratch);
    copy_database(db, &scratch)?;
    replace(&scratch, path)?;
    Ok(Database::create(path))
}

/// Renames `from` over `to` and makes the rename durable.
fn replace(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let io = |source| SnapshotError::Io { path: to.to_path_buf(), source };
    std::fs::rename(from, to).map_err(io)?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}
