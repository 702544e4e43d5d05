//! The redb tables of the log file and the small typed rows stored in them.

use redb::TableDefinition;

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
