//! Files of schema version 3 and older, and reading a file of any layout.
//!
//! Those files keep their events in table "events" (seq → encoded event) with a per-memory index
//! "by_memory" ((memory, seq) → ()), and their index tables (heads, event ids) hold every event. They are
//! read as they are from closed files (a backup being erased or copied, an increment being applied), and
//! moved to the current layout in place when opened for writing: as a log, or as the backup an increment
//! continues. Every copy is written in the current layout.

use crate::error::ReadError;
use crate::event::decode;
use crate::ids::ContentHash;
use crate::tables::{LOG, META, Unindexed, chain_from, unindexed};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};
use std::collections::HashMap;

/// seq → encoded event: the events of schema 3 and older.
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// (memory, seq) → (): each memory's events in order, in schema 3 and older.
const BY_MEMORY: TableDefinition<(&[u8; 32], u64), ()> = TableDefinition::new("by_memory");

/// Tracks the last event of each memory while reading events in order: gives each its previous event.
#[derive(Default)]
struct Links(HashMap<ContentHash, u64>);

impl Links {
    /// The seq of the previous event of the memory `bytes` is about (0 for its first).
    fn prev(&mut self, seq: u64, bytes: &[u8]) -> Result<u64, ReadError> {
        let memory = decode(bytes)?.memory;
        Ok(self.0.insert(memory, seq).unwrap_or(0))
    }
}

/// A file's events, in whichever layout it has.
pub(crate) enum Events {
    Current(redb::ReadOnlyTable<u64, (u64, &'static [u8])>),
    Legacy {
        events: redb::ReadOnlyTable<u64, &'static [u8]>,
        by_memory: redb::ReadOnlyTable<(&'static [u8; 32], u64), ()>,
    },
}

impl Events {
    pub(crate) fn open(txn: &redb::ReadTransaction) -> Result<Events, redb::TableError> {
        match txn.open_table(LOG) {
            Ok(log) => Ok(Events::Current(log)),
            Err(redb::TableError::TableDoesNotExist(_)) => {
                Ok(Events::Legacy { events: txn.open_table(EVENTS)?, by_memory: txn.open_table(BY_MEMORY)? })
            }
            Err(e) => Err(e),
        }
    }

    /// Calls `row` with (seq, seq of the memory's previous event, bytes) for every event from `from` on,
    /// in order. In an old file the previous events are found while reading, so they are right only when
    /// reading from the file's first event.
    pub(crate) fn for_each(
        &self,
        from: u64,
        mut row: impl FnMut(u64, u64, &[u8]) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        match self {
            Events::Current(log) => {
                for entry in log.range(from..)? {
                    let (seq, value) = entry?;
                    let (prev, bytes) = value.value();
                    row(seq.value(), prev, bytes)?;
                }
            }
            Events::Legacy { events, .. } => {
                let mut links = Links::default();
                for entry in events.range(from..)? {
                    let (seq, bytes) = entry?;
                    let (seq, bytes) = (seq.value(), bytes.value());
                    row(seq, links.prev(seq, bytes)?, bytes)?;
                }
            }
        }
        Ok(())
    }

    /// (seq, bytes) of a memory's events, oldest first, given its last event's seq (its head's).
    pub(crate) fn of_memory(
        &self,
        memory: &ContentHash,
        last: Option<u64>,
    ) -> Result<Vec<(u64, Vec<u8>)>, redb::StorageError> {
        match self {
            Events::Current(log) => {
                Ok(chain_from(log, last.unwrap_or(0))?.into_iter().map(|(seq, _, bytes)| (seq, bytes)).collect())
            }
            Events::Legacy { events, by_memory } => {
                let mut out = Vec::new();
                for entry in by_memory.range((&memory.0, 0)..=(&memory.0, u64::MAX))? {
                    let seq = entry?.0.value().1;
                    if let Some(bytes) = events.get(seq)? {
                        out.push((seq, bytes.value().to_vec()));
                    }
                }
                Ok(out)
            }
        }
    }

    /// The first or last event: (seq, bytes).
    pub(crate) fn edge(&self, last: bool) -> Result<Option<(u64, Vec<u8>)>, redb::StorageError> {
        Ok(match self {
            Events::Current(log) => {
                let row = if last { log.last()? } else { log.first()? };
                row.map(|(seq, value)| (seq.value(), value.value().1.to_vec()))
            }
            Events::Legacy { events, .. } => {
                let row = if last { events.last()? } else { events.first()? };
                row.map(|(seq, bytes)| (seq.value(), bytes.value().to_vec()))
            }
        })
    }

    pub(crate) fn len(&self) -> Result<u64, redb::StorageError> {
        match self {
            Events::Current(log) => log.len(),
            Events::Legacy { events, .. } => events.len(),
        }
    }

    /// The index rows the file's index tables do not hold yet (an old file's hold every event).
    pub(crate) fn unindexed(&self, txn: &redb::ReadTransaction) -> Result<Unindexed, ReadError> {
        match self {
            Events::Current(log) => unindexed(log, &txn.open_table(META)?),
            Events::Legacy { .. } => Ok(Unindexed::default()),
        }
    }
}

/// Moves a file of schema 3 or older to the current layout in one transaction: its events go into the log
/// table with their previous events, and the old tables are dropped. Its index tables already hold every
/// event. Returns whether there was anything to move.
pub(crate) fn migrate(db: &Database) -> Result<bool, redb::Error> {
    let txn = db.begin_write()?;
    if !txn.list_tables()?.any(|table| table.name() == EVENTS.name()) {
        txn.abort()?;
        return Ok(false);
    }
    {
        let events = txn.open_table(EVENTS)?;
        let mut log = txn.open_table(LOG)?;
        let mut links = Links::default();
        for entry in events.iter()? {
            let (seq, bytes) = entry?;
            let (seq, bytes) = (seq.value(), bytes.value());
            log.insert(seq, (links.prev(seq, bytes)?, bytes))?;
        }
    }
    txn.delete_table(EVENTS)?;
    txn.delete_table(BY_MEMORY)?;
    txn.commit()?;
    Ok(true)
}
