//! Snapshots: a consistent copy of the whole log (events, indexes, heads and the embedding cache, as of one
//! read transaction) in a new redb file, taken while appends go on. A snapshot is itself a log: opening
//! it with [`Log::open`] gives the store as it was.

use crate::event::decode;
use crate::ids::{Seq, Timestamp};
use crate::redact::SCRUB_PENDING;
use crate::store::{Log, ReadError};
use crate::tables::{BY_MEMORY, EVENT_IDS, EVENTS, HEADS, META, REDACTIONS, VECTORS};
use redb::{Database, Key, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, Value};
use std::path::{Path, PathBuf};

/// What a snapshot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The first and last sequence numbers (both zero for an empty log).
    pub first_seq: Seq,
    pub last_seq: Seq,
    /// The commit times of the first and last events.
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    pub events: u64,
    /// Memories live at the last event.
    pub memories: u64,
}

/// Why a snapshot failed. The destination is left untouched (a partial file is removed).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0} already exists; a snapshot never overwrites a file")]
    Exists(PathBuf),
    #[error("writing the snapshot {path} failed: {source}")]
    Write { path: PathBuf, source: redb::Error },
    #[error("writing the snapshot {path} failed: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Read(#[from] ReadError),
}

fn copy_table<K: Key + 'static, V: Value + 'static>(
    source: &redb::ReadTransaction,
    target: &redb::WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<u64, redb::Error> {
    let from = source.open_table(table)?;
    let mut to = target.open_table(table)?;
    for row in from.iter()? {
        let (key, value) = row?;
        to.insert(key.value(), value.value())?;
    }
    Ok(from.len()?)
}

impl Log {
    /// Writes a consistent copy of the log to `dest` (which must not exist): everything committed when
    /// the copy starts, nothing after. Appends go on meanwhile. The file appears under its name only once
    /// it is complete and durable.
    pub fn snapshot(&self, dest: &Path) -> Result<SnapshotInfo, SnapshotError> {
        if dest.exists() {
            return Err(SnapshotError::Exists(dest.to_path_buf()));
        }
        let partial = dest.with_extension("partial");
        let result = copy_database(self.database(), &partial);
        let info = match result {
            Ok(info) => info,
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(error);
            }
        };
        let io = |source| SnapshotError::Io { path: dest.to_path_buf(), source };
        std::fs::rename(&partial, dest).map_err(io)?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(info)
    }
}

/// Copies every table of `db`, as of one read transaction, into a new file at `path` (replaced if it
/// exists). The copy is a fresh file: nothing of `db`'s free pages comes along, and no scrub is pending.
pub(crate) fn copy_database(db: &Database, path: &Path) -> Result<SnapshotInfo, SnapshotError> {
    let _ = std::fs::remove_file(path);
    let write = |source: redb::Error| SnapshotError::Write { path: path.to_path_buf(), source };
    let target = Database::create(path).map_err(|e| write(e.into()))?;
    let source = db.begin_read().map_err(ReadError::from)?;
    let txn = target.begin_write().map_err(|e| write(e.into()))?;
    let events = copy_table(&source, &txn, EVENTS).map_err(write)?;
    copy_table(&source, &txn, EVENT_IDS).map_err(write)?;
    copy_table(&source, &txn, BY_MEMORY).map_err(write)?;
    copy_table(&source, &txn, HEADS).map_err(write)?;
    copy_table(&source, &txn, VECTORS).map_err(write)?;
    copy_table(&source, &txn, META).map_err(write)?;
    match copy_table(&source, &txn, REDACTIONS) {
        // Logs written before redaction existed have no such table.
        Err(redb::Error::TableDoesNotExist(_)) => {}
        other => {
            other.map_err(write)?;
        }
    }
    txn.open_table(META)
        .and_then(|mut meta| meta.remove(SCRUB_PENDING).map(|_| ()).map_err(Into::into))
        .map_err(|e| write(e.into()))?;
    txn.commit().map_err(|e| write(e.into()))?;
    summarise(&source, events)
}

/// The positions, times and counts of what a read transaction sees.
fn summarise(txn: &redb::ReadTransaction, events: u64) -> Result<SnapshotInfo, SnapshotError> {
    let table = txn.open_table(EVENTS).map_err(ReadError::from)?;
    let edge =
        |row: Option<(redb::AccessGuard<u64>, redb::AccessGuard<&[u8]>)>| -> Result<(Seq, Timestamp), ReadError> {
            Ok(match row {
                Some((seq, bytes)) => (Seq(seq.value()), decode(bytes.value())?.at),
                None => (Seq::ZERO, Timestamp::default()),
            })
        };
    let (first_seq, first_at) = edge(table.first().map_err(ReadError::from)?)?;
    let (last_seq, last_at) = edge(table.last().map_err(ReadError::from)?)?;
    let heads = txn.open_table(HEADS).map_err(ReadError::from)?;
    let mut memories = 0;
    for row in heads.iter().map_err(ReadError::from)? {
        if row.map_err(ReadError::from)?.1.value().2 {
            memories += 1;
        }
    }
    Ok(SnapshotInfo { first_seq, last_seq, first_at, last_at, events, memories })
}
