//! Copying the log's tables from one redb file into another: a whole copy (snapshots, scrubs), possibly with
//! some rows rewritten on the way (erasing redactions from a backup), the rows after a position
//! (increments), and an increment onto the file it continues.

use crate::error::{ReadError, SnapshotError};
use crate::event::{SCHEMA_VERSION, decode};
use crate::ids::{Seq, Timestamp};
use crate::legacy::{Events, migrate};
use crate::tables::{
    EVENT_IDS, HEADS, INDEXED_THROUGH, LOG, META, REDACTIONS, SCHEMA, SCRUB_PENDING, Unindexed, VECTORS, count_heads,
    models_in, unindexed,
};
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

/// [`copy_table`] for a table older files may not have.
fn copy_table_if_present<K: Key + 'static, V: Value + 'static>(
    source: &redb::ReadTransaction,
    target: &redb::WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), redb::Error> {
    match copy_table(source, target, table) {
        Err(redb::Error::TableDoesNotExist(_)) => Ok(()),
        other => other.map(|_| ()),
    }
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

/// Copies every event (into the current layout, whichever the source has), the index tables, the
/// embedding cache and the redactions (a log written before redaction existed has none), as `rewrite`
/// says; returns the number of events.
fn copy_log_tables(
    source: &redb::ReadTransaction,
    target: &redb::WriteTransaction,
    rewrite: &Rewrite,
) -> Result<u64, redb::Error> {
    let events = Events::open(source)?;
    {
        let mut to = target.open_table(LOG)?;
        events.for_each(0, |seq, prev, bytes| {
            to.insert(seq, (prev, rewrite.events.get(&seq).map_or(bytes, Vec::as_slice)))?;
            Ok(())
        })?;
    }
    copy_table(source, target, EVENT_IDS)?;
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
    copy_table_if_present(source, target, REDACTIONS)?;
    Ok(events.len()?)
}

/// Copies the meta table, except a pending scrub: a copy is a fresh file, with no erased bytes to scrub.
fn copy_meta(source: &redb::ReadTransaction, target: &redb::WriteTransaction) -> Result<(), redb::Error> {
    copy_table(source, target, META)?;
    let mut meta = target.open_table(META)?;
    meta.remove(SCRUB_PENDING)?;
    // The copy is written in the current layout.
    meta.insert(SCHEMA, u64::from(SCHEMA_VERSION))?;
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
/// [`Log::snapshot_since`](crate::Log::snapshot_since)): the events, their ids, the heads and cached vectors
/// of the memories they touch, the redactions after `after`, and the meta table.
pub(crate) fn copy_since(db: &Database, path: &Path, after: Seq) -> Result<SnapshotInfo, SnapshotError> {
    let _ = std::fs::remove_file(path);
    let write = |source: redb::Error| SnapshotError::Write { path: path.to_path_buf(), source };
    let target = Database::create(path).map_err(|e| write(e.into()))?;
    let source = db.begin_read().map_err(ReadError::from)?;
    let txn = target.begin_write().map_err(|e| write(e.into()))?;
    let read = |e: redb::Error| SnapshotError::Read(ReadError::Storage(e));
    let mut touched = std::collections::BTreeSet::new();
    let (mut events, mut first) = (0, None);
    // Its index tables hold its events' ids and the heads of the memories they touch, as of its last event
    // (for erasing redactions from it as from any backup; applying it indexes its events anew).
    let mut index = Unindexed::default();
    {
        let from = source.open_table(LOG).map_err(|e| read(e.into()))?;
        let mut to = txn.open_table(LOG).map_err(|e| write(e.into()))?;
        for row in from.range(after.0 + 1..).map_err(|e| read(e.into()))? {
            let (seq, value) = row.map_err(|e| read(e.into()))?;
            let (prev, bytes) = value.value();
            let event = decode(bytes).map_err(ReadError::from)?;
            first.get_or_insert((event.seq, event.at));
            touched.insert(event.memory.0);
            index.ids.insert(event.event_id.0.as_u128(), event.seq.0);
            to.insert(seq.value(), (prev, bytes)).map_err(|e| write(e.into()))?;
            events += 1;
        }
        let recent = unindexed(&from, &source.open_table(META).map_err(|e| read(e.into()))?)?;
        let heads = source.open_table(HEADS).map_err(|e| read(e.into()))?;
        for memory in &touched {
            let memory = crate::ids::ContentHash(*memory);
            if let Some(head) = recent.head(&heads, &memory).map_err(|e| read(e.into()))? {
                index.heads.insert(memory, head);
            }
        }
        index.write_rows(&txn).map_err(write)?;
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
        txn.open_table(META).map_err(|e| write(e.into()))?.remove(INDEXED_THROUGH).map_err(|e| write(e.into()))?;
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
/// A file of an older schema is moved to the current layout first. The increment's events are linked to
/// their memories' earlier events in the file and indexed from the events themselves, so an increment of
/// an older schema applies too.
pub fn apply_increment(log_file: &Path, increment: &Path) -> Result<Seq, SnapshotError> {
    let write = |source: redb::Error| SnapshotError::Write { path: log_file.to_path_buf(), source };
    let read = |e: redb::Error| SnapshotError::Read(ReadError::Storage(e));
    let target = Database::open(log_file).map_err(|e| write(e.into()))?;
    migrate(&target).map_err(write)?;
    let source = Database::open(increment).map_err(|e| read(e.into()))?;
    let source = source.begin_read().map_err(ReadError::from)?;
    let from = Events::open(&source).map_err(|e| read(e.into()))?;
    let txn = target.begin_write().map_err(|e| write(e.into()))?;
    let last = {
        let mut log = txn.open_table(LOG).map_err(|e| write(e.into()))?;
        let ends = log.last().map_err(|e| write(e.into()))?.map_or(0, |(seq, _)| seq.value());
        match from.edge(false).map_err(|e| read(e.into()))? {
            Some((starts, _)) if starts != ends + 1 => {
                return Err(SnapshotError::Gap { ends: Seq(ends), starts: Seq(starts) });
            }
            _ => {}
        }
        let mut indexed = unindexed(&log, &txn.open_table(META).map_err(|e| write(e.into()))?)?;
        let mut added = Unindexed::default();
        {
            let heads = txn.open_table(HEADS).map_err(|e| write(e.into()))?;
            from.for_each(0, |seq, _, bytes| {
                let event = decode(bytes)?;
                let prev = indexed.head(&heads, &event.memory)?.map_or(0, |h| h.last_seq);
                log.insert(seq, (prev, bytes))?;
                indexed.add(&event);
                added.add(&event);
                Ok(())
            })?;
        }
        // The index tables take in the increment's events now; events of the file they did not hold yet
        // stay after its `indexed_through`, and are read again when it opens.
        added.write_rows(&txn).map_err(write)?;
        copy_table(&source, &txn, VECTORS).map_err(write)?;
        copy_table_if_present(&source, &txn, REDACTIONS).map_err(write)?;
        Seq(log.last().map_err(|e| write(e.into()))?.map_or(0, |(seq, _)| seq.value()))
    };
    txn.commit().map_err(|e| write(e.into()))?;
    Ok(last)
}

/// The positions, times, counts and latest redaction of what a read transaction sees.
fn summarise(txn: &redb::ReadTransaction, events: u64) -> Result<SnapshotInfo, SnapshotError> {
    let table = Events::open(txn).map_err(ReadError::from)?;
    let edge = |row: Option<(u64, Vec<u8>)>| -> Result<(Seq, Timestamp), ReadError> {
        Ok(match row {
            Some((seq, bytes)) => (Seq(seq), decode(&bytes)?.at),
            None => (Seq::ZERO, Timestamp::default()),
        })
    };
    let (first_seq, first_at) = edge(table.edge(false).map_err(ReadError::from)?)?;
    let (last_seq, last_at) = edge(table.edge(true).map_err(ReadError::from)?)?;
    let heads = txn.open_table(HEADS).map_err(ReadError::from)?;
    let (_, memories) = count_heads(&heads, &table.unindexed(txn)?.heads)?;
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
