//! Copying the log's tables from one redb file into another: a whole copy (snapshots, scrubs), possibly with
//! some rows rewritten on the way (erasing redactions from a backup), the rows after a position
//! (increments), and an increment onto the file it continues.

use crate::error::{ReadError, SnapshotError};
use crate::event::decode;
use crate::ids::{Seq, Timestamp};
use crate::tables::{BY_MEMORY, EVENT_IDS, EVENTS, HEADS, META, REDACTIONS, SCRUB_PENDING, VECTORS, models_in};
use redb::{Database, Key, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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
    /// The latest redaction (its seq) committed when the copy was read, zero when none was: the copy holds
    /// nothing of a memory redacted up to it. For an increment this counts every redaction of the log, not
    /// only those the increment holds: its events were read after those redactions erased them.
    pub latest_redaction: Seq,
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

/// The rows a copy writes otherwise than its source holds them: what erasing redactions changes in a file.
/// The replaced rows never reach the copy, so their bytes are nowhere in it, not even in free pages.
#[derive(Debug, Default)]
pub(crate) struct Rewrite {
    /// seq → the event's new bytes.
    pub(crate) events: BTreeMap<u64, Vec<u8>>,
    /// memory → its new head row.
    pub(crate) heads: BTreeMap<[u8; 32], (u64, u32, bool)>,
    /// Memories whose cached vectors (under every model) are not copied.
    pub(crate) without_vectors: BTreeSet<[u8; 32]>,
}

impl Rewrite {
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty() && self.heads.is_empty() && self.without_vectors.is_empty()
    }
}

/// Copies every row of the events, their indexes, the heads, the embedding cache and the redactions (a log
/// written before redaction existed has none), as `rewrite` says; returns the number of events.
fn copy_log_tables(
    source: &redb::ReadTransaction,
    target: &redb::WriteTransaction,
    rewrite: &Rewrite,
) -> Result<u64, redb::Error> {
    let events = {
        let from = source.open_table(EVENTS)?;
        let mut to = target.open_table(EVENTS)?;
        for row in from.iter()? {
            let (seq, bytes) = row?;
            let seq = seq.value();
            to.insert(seq, rewrite.events.get(&seq).map_or(bytes.value(), Vec::as_slice))?;
        }
        from.len()?
    };
    copy_table(source, target, EVENT_IDS)?;
    copy_table(source, target, BY_MEMORY)?;
    {
        let from = source.open_table(HEADS)?;
        let mut to = target.open_table(HEADS)?;
        for row in from.iter()? {
            let (memory, head) = row?;
            let memory = memory.value();
            to.insert(memory, rewrite.heads.get(memory).copied().unwrap_or_else(|| head.value()))?;
        }
    }
    {
        let from = source.open_table(VECTORS)?;
        let mut to = target.open_table(VECTORS)?;
        for row in from.iter()? {
            let (key, vector) = row?;
            let key = key.value();
            if !rewrite.without_vectors.contains(key.1) {
                to.insert(key, vector.value())?;
            }
        }
    }
    match copy_table(source, target, REDACTIONS) {
        Err(redb::Error::TableDoesNotExist(_)) => {}
        other => {
            other?;
        }
    }
    Ok(events)
}

/// Copies the meta table, except a pending scrub: a copy is a fresh file, with no erased bytes to scrub.
fn copy_meta(source: &redb::ReadTransaction, target: &redb::WriteTransaction) -> Result<(), redb::Error> {
    copy_table(source, target, META)?;
    target.open_table(META)?.remove(SCRUB_PENDING)?;
    Ok(())
}

/// Copies every table of `db`, as of one read transaction, into a new file at `path` (replaced if it
/// exists). The copy is a fresh file: nothing of `db`'s free pages comes along, and no scrub is pending.
pub(crate) fn copy_database(db: &Database, path: &Path) -> Result<SnapshotInfo, SnapshotError> {
    let source = db.begin_read().map_err(ReadError::from)?;
    let events = copy_rewritten(&source, path, &Rewrite::default())?;
    summarise(&source, events)
}

/// Copies every table that `source` sees into a new file at `path` (replaced if it exists), writing the
/// rows `rewrite` names as it says; returns the number of events. The copy is a fresh file: nothing of the
/// source's free pages comes along, and no scrub is pending.
pub(crate) fn copy_rewritten(
    source: &redb::ReadTransaction,
    path: &Path,
    rewrite: &Rewrite,
) -> Result<u64, SnapshotError> {
    match std::fs::remove_file(path) {
        // Creating the copy over an old file would open that file and keep what it holds.
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(SnapshotError::Io { path: path.to_path_buf(), source: error });
        }
        _ => {}
    }
    let write = |source: redb::Error| SnapshotError::Write { path: path.to_path_buf(), source };
    let target = Database::create(path).map_err(|e| write(e.into()))?;
    let txn = target.begin_write().map_err(|e| write(e.into()))?;
    let events = copy_log_tables(source, &txn, rewrite).map_err(write)?;
    copy_meta(source, &txn).map_err(write)?;
    txn.commit().map_err(|e| write(e.into()))?;
    Ok(events)
}

/// Writes the rows of `db` that come after `after` into a new file (see
/// [`Log::snapshot_since`](crate::Log::snapshot_since)).
pub(crate) fn copy_since(db: &Database, path: &Path, after: Seq) -> Result<SnapshotInfo, SnapshotError> {
    let _ = std::fs::remove_file(path);
    let write = |source: redb::Error| SnapshotError::Write { path: path.to_path_buf(), source };
    let target = Database::create(path).map_err(|e| write(e.into()))?;
    let source = db.begin_read().map_err(ReadError::from)?;
    let txn = target.begin_write().map_err(|e| write(e.into()))?;
    let read = |e: redb::Error| SnapshotError::Read(ReadError::Storage(e));
    let mut touched = std::collections::BTreeSet::new();
    let (mut events, mut first) = (0, None);
    {
        let from = source.open_table(EVENTS).map_err(|e| read(e.into()))?;
        let mut to = txn.open_table(EVENTS).map_err(|e| write(e.into()))?;
        for row in from.range(after.0 + 1..).map_err(|e| read(e.into()))? {
            let (seq, bytes) = row.map_err(|e| read(e.into()))?;
            let event = decode(bytes.value()).map_err(ReadError::from)?;
            first.get_or_insert((event.seq, event.at));
            touched.insert(event.memory.0);
            to.insert(seq.value(), bytes.value()).map_err(|e| write(e.into()))?;
            events += 1;
        }
        let from = source.open_table(EVENT_IDS).map_err(|e| read(e.into()))?;
        let mut to = txn.open_table(EVENT_IDS).map_err(|e| write(e.into()))?;
        for row in from.iter().map_err(|e| read(e.into()))? {
            let (id, seq) = row.map_err(|e| read(e.into()))?;
            if seq.value() > after.0 {
                to.insert(id.value(), seq.value()).map_err(|e| write(e.into()))?;
            }
        }
        let from = source.open_table(BY_MEMORY).map_err(|e| read(e.into()))?;
        let mut to = txn.open_table(BY_MEMORY).map_err(|e| write(e.into()))?;
        for memory in &touched {
            for row in from.range((memory, after.0 + 1)..=(memory, u64::MAX)).map_err(|e| read(e.into()))? {
                to.insert(row.map_err(|e| read(e.into()))?.0.value(), ()).map_err(|e| write(e.into()))?;
            }
        }
        let from = source.open_table(HEADS).map_err(|e| read(e.into()))?;
        let mut to = txn.open_table(HEADS).map_err(|e| write(e.into()))?;
        for memory in &touched {
            if let Some(head) = from.get(memory).map_err(|e| read(e.into()))? {
                to.insert(memory, head.value()).map_err(|e| write(e.into()))?;
            }
        }
        let from = source.open_table(VECTORS).map_err(|e| read(e.into()))?;
        let mut to = txn.open_table(VECTORS).map_err(|e| write(e.into()))?;
        for model in models_in(&from).map_err(read)? {
            for memory in &touched {
                if let Some(vector) = from.get((model.as_str(), memory)).map_err(|e| read(e.into()))? {
                    to.insert((model.as_str(), memory), vector.value()).map_err(|e| write(e.into()))?;
                }
            }
        }
        copy_meta(&source, &txn).map_err(write)?;
        let mut to = txn.open_table(REDACTIONS).map_err(|e| write(e.into()))?;
        match source.open_table(REDACTIONS) {
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            from => {
                for row in from.map_err(|e| read(e.into()))?.iter().map_err(|e| read(e.into()))? {
                    let (memory, seq) = row.map_err(|e| read(e.into()))?;
                    if seq.value() > after.0 {
                        to.insert(memory.value(), seq.value()).map_err(|e| write(e.into()))?;
                    }
                }
            }
        }
    }
    txn.commit().map_err(|e| write(e.into()))?;
    let mut info = summarise(&source, events)?;
    (info.first_seq, info.first_at) = first.unwrap_or((Seq::ZERO, Timestamp::default()));
    if events == 0 {
        (info.last_seq, info.last_at) = (Seq::ZERO, Timestamp::default());
    }
    Ok(info)
}

/// Applies an increment ([`Log::snapshot_since`](crate::Log::snapshot_since)) to a closed log file that
/// ends right where the increment starts, in one transaction. Returns the file's new last sequence number.
pub fn apply_increment(log_file: &Path, increment: &Path) -> Result<Seq, SnapshotError> {
    let write = |source: redb::Error| SnapshotError::Write { path: log_file.to_path_buf(), source };
    let read = |e: redb::Error| SnapshotError::Read(ReadError::Storage(e));
    let target = Database::open(log_file).map_err(|e| write(e.into()))?;
    let source = Database::open(increment).map_err(|e| read(e.into()))?;
    let source = source.begin_read().map_err(ReadError::from)?;
    let txn = target.begin_write().map_err(|e| write(e.into()))?;
    let last = {
        let ends = {
            let table = txn.open_table(EVENTS).map_err(|e| write(e.into()))?;
            table.last().map_err(|e| write(e.into()))?.map_or(0, |(seq, _)| seq.value())
        };
        let starts = {
            let table = source.open_table(EVENTS).map_err(|e| read(e.into()))?;
            table.first().map_err(|e| read(e.into()))?.map(|(seq, _)| seq.value())
        };
        match starts {
            Some(starts) if starts != ends + 1 => {
                return Err(SnapshotError::Gap { ends: Seq(ends), starts: Seq(starts) });
            }
            _ => {}
        }
        copy_log_tables(&source, &txn, &Rewrite::default()).map_err(write)?;
        let table = txn.open_table(EVENTS).map_err(|e| write(e.into()))?;
        let last = table.last().map_err(|e| write(e.into()))?.map_or(0, |(seq, _)| seq.value());
        Seq(last)
    };
    txn.commit().map_err(|e| write(e.into()))?;
    Ok(last)
}

/// The positions, times, counts and latest redaction of what a read transaction sees.
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
    let latest_redaction = match txn.open_table(REDACTIONS) {
        Ok(table) => {
            let mut latest = 0;
            for row in table.iter().map_err(ReadError::from)? {
                latest = latest.max(row.map_err(ReadError::from)?.1.value());
            }
            Seq(latest)
        }
        Err(redb::TableError::TableDoesNotExist(_)) => Seq::ZERO,
        Err(e) => return Err(ReadError::from(e).into()),
    };
    Ok(SnapshotInfo { first_seq, last_seq, first_at, last_at, events, memories, latest_redaction })
}
