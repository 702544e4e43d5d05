//! The redb tables of the log file, the small typed rows stored in them, and the row-level operations on
//! them that more than one module needs (erasing a redacted memory's events, its cached vectors).

use crate::error::ReadError;
use crate::event::{EventKind, decode, encode};
use crate::ids::{ContentHash, Seq};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// seq → encoded event. The only source of truth.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// event id (as u128) → seq, so that a repeated append is answered with the event already committed.
pub(crate) const EVENT_IDS: TableDefinition<u128, u64> = TableDefinition::new("event_ids");
/// (memory, seq) → (), the events of each memory in order.
pub(crate) const BY_MEMORY: TableDefinition<(&[u8; 32], u64), ()> = TableDefinition::new("by_memory");
/// memory → (last seq, version, live): the state the writer checks appends against.
pub(crate) const HEADS: TableDefinition<&[u8; 32], (u64, u32, bool)> = TableDefinition::new("heads");
/// (model, memory) → little-endian f32 vector. A cache of derived data, never a source of truth.
pub(crate) const VECTORS: TableDefinition<(&str, &[u8; 32]), &[u8]> = TableDefinition::new("vector_cache");
/// memory → seq of its latest redaction, for refusing an undelete and for erasing it from backups.
pub(crate) const REDACTIONS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("redactions");
/// name → value: "schema_version", and "scrub_pending" (the seq of a redaction whose erased bytes may
/// still sit in free pages of the file, until the file is rewritten at the next open).
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The meta key holding the seq of a redaction whose erased bytes may remain in free pages.
pub(crate) const SCRUB_PENDING: &str = "scrub_pending";

/// How much of the log file redb keeps in memory. redb's default, 1 GiB, is a cache that only grows: a
/// process that read a large log once (a rebuild, a long history) would keep holding it, and a server holds
/// its whole log (35 MB at 10,000 memories). The writer's pages and the recent events fit in far less, and
/// older pages are read from the OS's page cache.
pub(crate) const CACHE_BYTES: usize = 16 << 20;

/// A redb builder with the log's settings, for a file or another storage backend.
pub(crate) fn database_builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
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

/// The events of `memory` before `before` that still hold their payload, each with its bytes as
/// `Erased { was }` (content, tags, type, metadata and any reason dropped; sequence, time, actor and version
/// kept), in order.
pub(crate) fn erasures_before(
    events: &impl ReadableTable<u64, &'static [u8]>,
    by_memory: &impl ReadableTable<(&'static [u8; 32], u64), ()>,
    memory: &ContentHash,
    before: Seq,
) -> Result<Vec<(u64, Vec<u8>)>, redb::Error> {
    let mut erasures = Vec::new();
    for row in by_memory.range((&memory.0, 0)..(&memory.0, before.0))? {
        let seq = row?.0.value().1;
        let Some(bytes) = events.get(seq)? else { continue };
        let mut event = decode(bytes.value()).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        if matches!(event.kind, EventKind::Redacted { .. } | EventKind::Erased { .. }) {
            continue;
        }
        event.kind = EventKind::Erased { was: event.kind.name().to_string() };
        erasures.push((seq, encode(&event)));
    }
    Ok(erasures)
}

/// Rewrites the events of `memory` before `before` to `Erased`; returns how many were rewritten.
pub(crate) fn erase_before(
    events: &mut redb::Table<u64, &[u8]>,
    by_memory: &impl ReadableTable<(&'static [u8; 32], u64), ()>,
    memory: &ContentHash,
    before: Seq,
) -> Result<usize, redb::Error> {
    let erasures = erasures_before(events, by_memory, memory, before)?;
    for (seq, bytes) in &erasures {
        events.insert(seq, bytes.as_slice())?;
    }
    Ok(erasures.len())
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
