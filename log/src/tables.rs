//! The redb tables of the log file, the small typed rows stored in them, and the row-level operations on
//! them that more than one module needs (erasing a redacted memory's events, its cached vectors).

use crate::error::ReadError;
use crate::event::{Event, EventKind, decode, encode};
use crate::ids::{ContentHash, Seq};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashMap;

/// seq → (the seq of the same memory's previous event, 0 for its first; the encoded event). The only
/// source of truth, and each memory's history: the chain of previous events back from its head. Keyed by
/// seq, so a commit writes at the end of the table; it is the one table every commit writes.
pub(crate) const LOG: TableDefinition<u64, (u64, &[u8])> = TableDefinition::new("log");
/// event id (as u128) → seq, so that a repeated append is answered with the event already committed. An
/// index: it holds the events up to `meta.indexed_through` (see [`Unindexed`]).
pub(crate) const EVENT_IDS: TableDefinition<u128, u64> = TableDefinition::new("event_ids");
/// memory → (last seq, version, live): the state the writer checks appends against. An index: it holds the
/// events up to `meta.indexed_through` (see [`Unindexed`]).
pub(crate) const HEADS: TableDefinition<&[u8; 32], (u64, u32, bool)> = TableDefinition::new("heads");
/// (model, memory) → little-endian f32 vector. A cache of derived data, never a source of truth.
pub(crate) const VECTORS: TableDefinition<(&str, &[u8; 32]), &[u8]> = TableDefinition::new("vector_cache");
/// memory → seq of its latest redaction, for refusing an undelete and for erasing it from backups.
pub(crate) const REDACTIONS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("redactions");
/// name → value: "schema_version", "indexed_through" (the last event the index tables hold; absent in
/// files of schema 3 and older, whose indexes hold every event), and "scrub_pending" (the seq of a
/// redaction whose erased bytes may still sit in free pages of the file, until the file is rewritten at
/// the next open).
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The meta key holding the seq of a redaction whose erased bytes may remain in free pages.
pub(crate) const SCRUB_PENDING: &str = "scrub_pending";
/// The meta key holding the last event the index tables (heads, event ids) have taken in.
pub(crate) const INDEXED_THROUGH: &str = "indexed_through";
/// The meta key holding the file's schema version.
pub(crate) const SCHEMA: &str = "schema_version";

/// How many events the writer commits before it writes their index rows (see [`Unindexed`]) into the
/// index tables in one go. At most this many events are read again when a log opens.
pub(crate) const CHECKPOINT_EVENTS: usize = 32_768;

/// How much of the log file redb keeps in memory. redb's default, 1 GiB, is a cache that only grows: a
/// process that read a large log once (a rebuild, a long history) would keep holding it, and a server holds
/// its whole log (35 MB at 10,000 memories). The writer's pages and the recent events fit in far less, and
/// older pages are read from the OS's page cache.
pub(crate) const CACHE_BYTES: usize = 16 << 20;

/// A redb builder with the log's settings, for a file or another storage backend.
pub(crate) fn database_builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    // A log not closed cleanly (a crash, kill -9) is made consistent again on open by three full scans
    // of the file: say so, since on a large log that open takes seconds.
    builder.set_repair_callback(|session| {
        if session.progress() == 0.0 {
            tracing::warn!("the log was not closed cleanly: checking the whole file before opening it");
        } else {
            tracing::info!(progress = session.progress(), "checking the log file");
        }
    });
    builder
}

/// Opens (or creates) the log file at `path` with the log's settings.
pub(crate) fn open_database(path: &std::path::Path) -> Result<Database, redb::DatabaseError> {
    database_builder().create(path)
}

/// The writer-side state of one memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The last event about this memory.
    pub last_seq: u64,
    /// Its version: the number of events about it.
    pub version: u32,
    /// Whether it currently exists (stored or undeleted, not deleted since).
    pub live: bool,
}

impl Head {
    pub(crate) fn from_row((last_seq, version, live): (u64, u32, bool)) -> Head {
        Head { last_seq, version, live }
    }

    pub(crate) fn to_row(self) -> (u64, u32, bool) {
        (self.last_seq, self.version, self.live)
    }
}

/// Encodes a vector as little-endian f32 bytes.
pub(crate) fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes little-endian f32 bytes; a trailing partial float is ignored.
pub(crate) fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The head an event leaves its memory with.
pub(crate) fn head_after(event: &Event) -> Head {
    Head { last_seq: event.seq.0, version: event.version, live: event.kind.leaves_live() }
}

/// The index rows of the events after `meta.indexed_through`: the head each leaves its memory with, and
/// its seq by id. Writing every commit's index rows would dirty a page of each index table per event (the
/// heads are keyed by content hash, so scattered), and a commit's cost is mostly its scattered pages; so
/// the writer keeps these rows in memory and writes them in one go every [`CHECKPOINT_EVENTS`] events,
/// when many share pages. After a crash or a restart they are read again from the log.
#[derive(Clone, Debug, Default)]
pub(crate) struct Unindexed {
    pub(crate) heads: HashMap<ContentHash, Head>,
    pub(crate) ids: HashMap<u128, u64>,
}

impl Unindexed {
    pub(crate) fn add(&mut self, event: &Event) {
        self.heads.insert(event.memory, head_after(event));
        self.ids.insert(event.event_id.0.as_u128(), event.seq.0);
    }

    /// A memory's head: from here when it has events here, else from the table.
    pub(crate) fn head(
        &self,
        heads: &impl ReadableTable<&'static [u8; 32], (u64, u32, bool)>,
        memory: &ContentHash,
    ) -> Result<Option<Head>, redb::StorageError> {
        if let Some(head) = self.heads.get(memory) {
            return Ok(Some(*head));
        }
        Ok(heads.get(&memory.0)?.map(|row| Head::from_row(row.value())))
    }

    /// The seq of the event appended with this id: from here, else from the table.
    pub(crate) fn seq_of(
        &self,
        ids: &impl ReadableTable<u128, u64>,
        id: u128,
    ) -> Result<Option<u64>, redb::StorageError> {
        if let Some(seq) = self.ids.get(&id) {
            return Ok(Some(*seq));
        }
        Ok(ids.get(id)?.map(|seq| seq.value()))
    }

    /// Writes the rows into the index tables and records that the tables now hold every event up to
    /// `through`.
    pub(crate) fn write(&self, txn: &redb::WriteTransaction, through: u64) -> Result<(), redb::Error> {
        self.write_rows(txn)?;
        txn.open_table(META)?.insert(INDEXED_THROUGH, through)?;
        Ok(())
    }

    /// Writes the rows into the index tables, in key order so that rows sharing a page are written
    /// together.
    pub(crate) fn write_rows(&self, txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
        let mut heads: Vec<_> = self.heads.iter().map(|(memory, head)| (memory.0, head.to_row())).collect();
        heads.sort_unstable_by_key(|(memory, _)| *memory);
        let mut table = txn.open_table(HEADS)?;
        for (memory, head) in &heads {
            table.insert(memory, head)?;
        }
        let mut ids: Vec<_> = self.ids.iter().map(|(id, seq)| (*id, *seq)).collect();
        ids.sort_unstable();
        let mut table = txn.open_table(EVENT_IDS)?;
        for (id, seq) in ids {
            table.insert(id, seq)?;
        }
        Ok(())
    }
}

/// The index rows of the events the index tables do not hold yet (none when `indexed_through` is absent).
pub(crate) fn unindexed(
    log: &impl ReadableTable<u64, (u64, &'static [u8])>,
    meta: &impl ReadableTable<&'static str, u64>,
) -> Result<Unindexed, ReadError> {
    let mut tail = Unindexed::default();
    let Some(through) = meta.get(INDEXED_THROUGH)?.map(|v| v.value()) else { return Ok(tail) };
    for row in log.range(through + 1..)? {
        tail.add(&decode(row?.1.value().1)?);
    }
    Ok(tail)
}

/// A memory's events as (seq, previous seq, bytes), oldest first, following the chain back from `last`
/// (its last event, or any of them; 0 for none).
#[allow(clippy::type_complexity)]
pub(crate) fn chain_from(
    log: &impl ReadableTable<u64, (u64, &'static [u8])>,
    last: u64,
) -> Result<Vec<(u64, u64, Vec<u8>)>, redb::StorageError> {
    let mut rows = Vec::new();
    let mut next = last;
    while next != 0 {
        let Some(row) = log.get(next)? else { break };
        let (prev, bytes) = row.value();
        rows.push((next, prev, bytes.to_vec()));
        next = prev;
    }
    rows.reverse();
    Ok(rows)
}

/// The bytes of `event` as `Erased { was }`: content, tags, type, metadata and any reason dropped;
/// sequence, time, actor and version kept. None for an event that holds no payload (a redaction, or an
/// event already erased).
pub(crate) fn erased(bytes: &[u8]) -> Result<Option<Vec<u8>>, redb::Error> {
    let mut event = decode(bytes).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
    if matches!(event.kind, EventKind::Redacted { .. } | EventKind::Erased { .. }) {
        return Ok(None);
    }
    event.kind = EventKind::Erased { was: event.kind.name().to_string() };
    Ok(Some(encode(&event)))
}

/// (keys, live) over the heads table with `recent` heads in place of the rows they replace.
pub(crate) fn count_heads(
    heads: &impl ReadableTable<&'static [u8; 32], (u64, u32, bool)>,
    recent: &HashMap<ContentHash, Head>,
) -> Result<(u64, u64), ReadError> {
    let (mut keys, mut live) = (heads.len()?, 0);
    for row in heads.iter()? {
        if row?.1.value().2 {
            live += 1;
        }
    }
    for (memory, head) in recent {
        match heads.get(&memory.0)? {
            None => keys += 1,
            Some(row) if row.value().2 => live -= 1,
            Some(_) => {}
        }
        if head.live {
            live += 1;
        }
    }
    Ok((keys, live))
}

/// Removes the cached vectors of `memory` under every model; returns how many there were.
pub(crate) fn drop_vectors(
    vectors: &mut redb::Table<(&'static str, &'static [u8; 32]), &[u8]>,
    memory: &ContentHash,
) -> Result<usize, redb::Error> {
    let models = models_in(vectors)?;
    let mut removed = 0;
    for model in models {
        if vectors.remove((model.as_str(), &memory.0))?.is_some() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether the embedding cache holds a vector of `memory` under any model.
pub(crate) fn has_vectors(
    vectors: &impl ReadableTable<(&'static str, &'static [u8; 32]), &'static [u8]>,
    memory: &ContentHash,
) -> Result<bool, redb::Error> {
    for model in models_in(vectors)? {
        if vectors.get((model.as_str(), &memory.0))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The models the embedding cache holds vectors of. Keys are ordered by model first: each model is
/// visited once, jumping past its keys.
pub(crate) fn models_in(
    vectors: &impl ReadableTable<(&'static str, &'static [u8; 32]), &'static [u8]>,
) -> Result<Vec<String>, redb::Error> {
    let mut models = Vec::new();
    let mut next = vectors.first()?.map(|(k, _)| k.value().0.to_string());
    while let Some(model) = next {
        next = vectors
            .range((model.as_str(), &[0xff; 32])..)?
            .map(|row| row.map(|(k, _)| k.value().0.to_string()))
            .find(|m| !matches!(m, Ok(m) if *m == model))
            .transpose()?;
        models.push(model);
    }
    Ok(models)
}

/// Every redacted memory with the seq of its latest redaction, from any log file (old files have none).
pub(crate) fn redactions_in(db: &Database) -> Result<Vec<(ContentHash, Seq)>, ReadError> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(REDACTIONS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.iter()? {
        let (memory, seq) = row?;
        out.push((ContentHash(*memory.value()), Seq(seq.value())));
    }
    Ok(out)
}
