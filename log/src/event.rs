//! The events of the log and their on-disk encoding.
//!
//! `Event` is always the newest version. Released versions are frozen: a new field or variant means a new
//! module `vN`, a new variant of `OnDisk`, and an upcast from the previous version. bincode is not
//! self-describing, so stored types never use `skip_serializing_if`, `default`, `untagged` or `flatten`, and
//! variants are only ever added at the end.

use crate::ids::{ContentHash, EventId, Seq, Timestamp};
use serde::{Deserialize, Serialize};

pub use v1::{Actor, Interface, MemoryMeta, MemoryRecord};
pub use v3::DocumentUpload;
pub use v4::Relation;
pub use v5::{Event, EventKind};

/// Version 1 of the event schema, released with 0.1.0.
pub(crate) mod v1 {
    use super::*;

    /// One committed change to one memory.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Event {
        /// Position in the log; gap-free and monotonic.
        pub seq: Seq,
        /// Idempotency key: an append that repeats it is answered with the event already committed.
        pub event_id: EventId,
        /// Commit time, assigned by the writer; never smaller than the previous event's.
        pub at: Timestamp,
        /// Who asked for the change.
        pub actor: Actor,
        /// The memory the event is about.
        pub memory: ContentHash,
        /// The memory's version after this event: 1 for its first event, one more for each later event.
        pub version: u32,
        /// What happened.
        pub kind: EventKind,
    }

    /// What an event did to its memory.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub enum EventKind {
        /// The memory was created (or created again after a deletion).
        Stored(MemoryRecord),
        /// Tags, type or metadata changed; both sides are recorded for the audit trail.
        Updated { before: MemoryMeta, after: MemoryMeta },
        /// The memory was deleted; its history stays in the log.
        Deleted { reason: Option<String> },
        /// A deleted memory came back, exactly as recorded here.
        Undeleted(MemoryRecord),
    }

    /// Everything a memory holds apart from its vector, which is derived from `content`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct MemoryRecord {
        pub content: String,
        pub tags: Vec<String>,
        pub memory_type: Option<String>,
        /// A JSON object, kept as text because bincode cannot carry self-describing values.
        pub metadata: String,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
    }

    /// The mutable part of a memory.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct MemoryMeta {
        pub tags: Vec<String>,
        pub memory_type: Option<String>,
        /// A JSON object as text.
        pub metadata: String,
        pub updated_at: Timestamp,
    }

    /// The interface and identity that caused an event.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Actor {
        pub interface: Interface,
        /// API key id, OAuth client id, MCP client name, sync origin or user name, when known.
        pub id: Option<String>,
    }

    /// The way a change entered the service.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub enum Interface {
        Http,
        Mcp,
        Cli,
        Sync,
        System,
        Import,
    }
}

/// Version 2 of the event schema, released with 0.2.0: redaction. Only the event kinds are new; records,
/// metadata and actors are version 1's.
pub(crate) mod v2 {
    use super::*;

    /// One committed change to one memory.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Event {
        /// Position in the log; gap-free and monotonic.
        pub seq: Seq,
        /// Idempotency key: an append that repeats it is answered with the event already committed.
        pub event_id: EventId,
        /// Commit time, assigned by the writer; never smaller than the previous event's.
        pub at: Timestamp,
        /// Who asked for the change.
        pub actor: Actor,
        /// The memory the event is about.
        pub memory: ContentHash,
        /// The memory's version after this event: 1 for its first event, one more for each later event.
        pub version: u32,
        /// What happened.
        pub kind: EventKind,
    }

    /// What an event did to its memory.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub enum EventKind {
        /// The memory was created (or created again after a deletion or a redaction).
        Stored(MemoryRecord),
        /// Tags, type or metadata changed; both sides are recorded for the audit trail.
        Updated { before: MemoryMeta, after: MemoryMeta },
        /// The memory was deleted; its history stays in the log.
        Deleted { reason: Option<String> },
        /// A deleted memory came back, exactly as recorded here.
        Undeleted(MemoryRecord),
        /// The memory was forgotten for real: it is gone, and every earlier event about it was rewritten to
        /// `Erased`, so its content, tags, type, metadata and vector are no longer anywhere in the log.
        Redacted { reason: Option<String> },
        /// An event whose payload a later redaction erased. `was` names the kind it had ("stored",
        /// "updated", "deleted", "undeleted"); who made it, when and through which interface are kept.
        Erased { was: String },
    }

    impl From<v1::EventKind> for EventKind {
        fn from(kind: v1::EventKind) -> EventKind {
            match kind {
                v1::EventKind::Stored(record) => EventKind::Stored(record),
                v1::EventKind::Updated { before, after } => EventKind::Updated { before, after },
                v1::EventKind::Deleted { reason } => EventKind::Deleted { reason },
                v1::EventKind::Undeleted(record) => EventKind::Undeleted(record),
            }
        }
    }

    impl From<v1::Event> for Event {
        fn from(e: v1::Event) -> Event {
            Event {
                seq: e.seq,
                event_id: e.event_id,
                at: e.at,
                actor: e.actor,
                memory: e.memory,
                version: e.version,
                kind: e.kind.into(),
            }
        }
    }
}

/// Version 3 of the event schema, released with 0.3.0: document uploads. An upload is recorded under a key of
/// its own (`ContentHash::of_upload`), never a memory's; its chunks are ordinary `Stored` memories committed in
/// the same append.
pub(crate) mod v3 {
    use super::*;

    /// One committed change to one memory, or to one document upload.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Event {
        /// Position in the log; gap-free and monotonic.
        pub seq: Seq,
        /// Idempotency key: an append that repeats it is answered with the event already committed.
        pub event_id: EventId,
        /// Commit time, assigned by the writer; never smaller than the previous event's.
        pub at: Timestamp,
        /// Who asked for the change.
        pub actor: Actor,
        /// The memory (or upload) the event is about.
        pub memory: ContentHash,
        /// The memory's version after this event: 1 for its first event, one more for each later event.
        pub version: u32,
        /// What happened.
        pub kind: EventKind,
    }

    /// What an event did to its memory or upload.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub enum EventKind {
        /// The memory was created (or created again after a deletion or a redaction).
        Stored(MemoryRecord),
        /// Tags, type or metadata changed; both sides are recorded for the audit trail.
        Updated { before: MemoryMeta, after: MemoryMeta },
        /// The memory was deleted; its history stays in the log.
        Deleted { reason: Option<String> },
        /// A deleted memory came back, exactly as recorded here.
        Undeleted(MemoryRecord),
        /// The memory was forgotten for real: it is gone, and every earlier event about it was rewritten to
        /// `Erased`, so its content, tags, type, metadata and vector are no longer anywhere in the log.
        Redacted { reason: Option<String> },
        /// An event whose payload a later redaction erased. `was` names the kind it had ("stored",
        /// "updated", "deleted", "undeleted", "document_ingested"); who made it, when and through which
        /// interface are kept.
        Erased { was: String },
        /// A document was ingested: its chunks were stored by the events before this one in the same append.
        DocumentIngested(DocumentUpload),
        /// An ingested document was removed: its chunks were deleted by the events before this one in the
        /// same append (none when the memories were kept).
        DocumentRemoved { reason: Option<String>, chunks_deleted: u32 },
    }

    /// What one upload was: the file, how it was cut, and the memories it created.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct DocumentUpload {
        pub upload_id: String,
        pub file_name: String,
        /// The extension the file was read as ("pdf", "md", ...).
        pub file_type: String,
        pub size: u64,
        /// Hex sha256 of the file's bytes: the same file ingested again is recognised by it.
        pub sha256: String,
        /// The caller's tags (each chunk also gets `source_file:`, `file_type:` and `upload_id:` tags).
        pub tags: Vec<String>,
        pub memory_type: String,
        pub chunk_size: u32,
        pub chunk_overlap: u32,
        /// Pages read (PDF), else 0.
        pub pages: u32,
        /// The memories this upload created, in chunk order.
        pub chunks: Vec<ContentHash>,
        /// Chunks whose content was already stored (by an earlier upload or anyone): not stored again.
        pub duplicates: u32,
    }

    impl From<v2::EventKind> for EventKind {
        fn from(kind: v2::EventKind) -> EventKind {
            match kind {
                v2::EventKind::Stored(record) => EventKind::Stored(record),
                v2::EventKind::Updated { before, after } => EventKind::Updated { before, after },
                v2::EventKind::Deleted { reason } => EventKind::Deleted { reason },
                v2::EventKind::Undeleted(record) => EventKind::Undeleted(record),
                v2::EventKind::Redacted { reason } => EventKind::Redacted { reason },
                v2::EventKind::Erased { was } => EventKind::Erased { was },
            }
        }
    }

    impl From<v2::Event> for Event {
        fn from(e: v2::Event) -> Event {
            Event {
                seq: e.seq,
                event_id: e.event_id,
                at: e.at,
                actor: e.actor,
                memory: e.memory,
                version: e.version,
                kind: e.kind.into(),
            }
        }
    }
}

/// Version 4 of the event schema, released with 0.4.0: the memory graph. A relation is an event of its
/// source memory, so it is in that memory's history, replays, syncs and restores like any change.
pub(crate) mod v4 {
    use super::*;

    /// One committed change to one memory, or to one document upload.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Event {
        /// Position in the log; gap-free and monotonic.
        pub seq: Seq,
        /// Idempotency key: an append that repeats it is answered with the event already committed.
        pub event_id: EventId,
        /// Commit time, assigned by the writer; never smaller than the previous event's.
        pub at: Timestamp,
        /// Who asked for the change.
        pub actor: Actor,
        /// The memory (or upload) the event is about.
        pub memory: ContentHash,
        /// The memory's version after this event: 1 for its first event, one more for each later event.
        pub version: u32,
        /// What happened.
        pub kind: EventKind,
    }

    /// What an event did to its memory or upload.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub enum EventKind {
        /// The memory was created (or created again after a deletion or a redaction).
        Stored(MemoryRecord),
        /// Tags, type or metadata changed; both sides are recorded for the audit trail.
        Updated { before: MemoryMeta, after: MemoryMeta },
        /// The memory was deleted; its history stays in the log.
        Deleted { reason: Option<String> },
        /// A deleted memory came back, exactly as recorded here.
        Undeleted(MemoryRecord),
        /// The memory was forgotten for real: it is gone, and every earlier event about it was rewritten to
        /// `Erased`, so its content, tags, type, metadata and vector are no longer anywhere in the log.
        Redacted { reason: Option<String> },
        /// An event whose payload a later redaction erased. `was` names the kind it had ("stored",
        /// "updated", "deleted", "undeleted", "document_ingested", "related", "unrelated"); who made it, when
        /// and through which interface are kept.
        Erased { was: String },
        /// A document was ingested: its chunks were stored by the events before this one in the same append.
        DocumentIngested(DocumentUpload),
        /// An ingested document was removed: its chunks were deleted by the events before this one in the
        /// same append (none when the memories were kept).
        DocumentRemoved { reason: Option<String>, chunks_deleted: u32 },
        /// An edge of the memory graph from this memory to another was made (or made again, replacing the
        /// earlier edge of the same type between the two).
        Related(Relation),
        /// The edge of this type from this memory to `target` was removed.
        Unrelated { target: ContentHash, relation_type: String },
    }

    /// A typed edge of the memory graph, from the event's memory to `target`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Relation {
        pub target: ContentHash,
        /// "causes", "fixes", "contradicts", "supports", "follows" or "related" (checked by the service, so
        /// that later types need no new schema).
        pub relation_type: String,
        /// How strong the link is, in [0, 1]: 1 for a link a person asserted, the similarity or confidence
        /// for one a consolidation found.
        pub strength: f64,
        /// Why the two are linked: a person's note, or the reasons a consolidation found.
        pub reason: Option<String>,
    }

    impl From<v3::EventKind> for EventKind {
        fn from(kind: v3::EventKind) -> EventKind {
            match kind {
                v3::EventKind::Stored(record) => EventKind::Stored(record),
                v3::EventKind::Updated { before, after } => EventKind::Updated { before, after },
                v3::EventKind::Deleted { reason } => EventKind::Deleted { reason },
                v3::EventKind::Undeleted(record) => EventKind::Undeleted(record),
                v3::EventKind::Redacted { reason } => EventKind::Redacted { reason },
                v3::EventKind::Erased { was } => EventKind::Erased { was },
                v3::EventKind::DocumentIngested(upload) => EventKind::DocumentIngested(upload),
                v3::EventKind::DocumentRemoved { reason, chunks_deleted } => {
                    EventKind::DocumentRemoved { reason, chunks_deleted }
                }
            }
        }
    }

    impl From<v3::Event> for Event {
        fn from(e: v3::Event) -> Event {
            Event {
                seq: e.seq,
                event_id: e.event_id,
                at: e.at,
                actor: e.actor,
                memory: e.memory,
                version: e.version,
                kind: e.kind.into(),
            }
        }
    }
}

/// Version 5 of the event schema, released with 0.6.0: reversible forgetting. An archived memory leaves
/// searches and lists but stays live for its history, its edges and `unarchive`.
pub(crate) mod v5 {
    use super::*;

    /// One committed change to one memory, or to one document upload.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Event {
        /// Position in the log; gap-free and monotonic.
        pub seq: Seq,
        /// Idempotency key: an append that repeats it is answered with the event already committed.
        pub event_id: EventId,
        /// Commit time, assigned by the writer; never smaller than the previous event's.
        pub at: Timestamp,
        /// Who asked for the change.
        pub actor: Actor,
        /// The memory (or upload) the event is about.
        pub memory: ContentHash,
        /// The memory's version after this event: 1 for its first event, one more for each later event.
        pub version: u32,
        /// What happened.
        pub kind: EventKind,
    }

    /// What an event did to its memory or upload.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub enum EventKind {
        /// The memory was created (or created again after a deletion or a redaction).
        Stored(MemoryRecord),
        /// Tags, type or metadata changed; both sides are recorded for the audit trail.
        Updated { before: MemoryMeta, after: MemoryMeta },
        /// The memory was deleted; its history stays in the log.
        Deleted { reason: Option<String> },
        /// A deleted memory came back, exactly as recorded here.
        Undeleted(MemoryRecord),
        /// The memory was forgotten for real: it is gone, and every earlier event about it was rewritten to
        /// `Erased`, so its content, tags, type, metadata and vector are no longer anywhere in the log.
        Redacted { reason: Option<String> },
        /// An event whose payload a later redaction erased. `was` names the kind it had ("stored",
        /// "updated", "deleted", "undeleted", "document_ingested", "related", "unrelated", "archived",
        /// "unarchived"); who made it, when and through which interface are kept.
        Erased { was: String },
        /// A document was ingested: its chunks were stored by the events before this one in the same append.
        DocumentIngested(DocumentUpload),
        /// An ingested document was removed: its chunks were deleted by the events before this one in the
        /// same append (none when the memories were kept).
        DocumentRemoved { reason: Option<String>, chunks_deleted: u32 },
        /// An edge of the memory graph from this memory to another was made (or made again, replacing the
        /// earlier edge of the same type between the two).
        Related(Relation),
        /// The edge of this type from this memory to `target` was removed.
        Unrelated { target: ContentHash, relation_type: String },
        /// The memory was archived (forgotten reversibly): out of searches and lists, still in its history
        /// and in the graph, and brought back by `Unarchived`. `reason` says why (a person's note, or the
        /// rules a consolidation found it by).
        Archived { reason: Option<String> },
        /// An archived memory came back into searches and lists, exactly as recorded here.
        Unarchived(MemoryRecord),
    }

    impl From<v4::EventKind> for EventKind {
        fn from(kind: v4::EventKind) -> EventKind {
            match kind {
                v4::EventKind::Stored(record) => EventKind::Stored(record),
                v4::EventKind::Updated { before, after } => EventKind::Updated { before, after },
                v4::EventKind::Deleted { reason } => EventKind::Deleted { reason },
                v4::EventKind::Undeleted(record) => EventKind::Undeleted(record),
                v4::EventKind::Redacted { reason } => EventKind::Redacted { reason },
                v4::EventKind::Erased { was } => EventKind::Erased { was },
                v4::EventKind::DocumentIngested(upload) => EventKind::DocumentIngested(upload),
                v4::EventKind::DocumentRemoved { reason, chunks_deleted } => {
                    EventKind::DocumentRemoved { reason, chunks_deleted }
                }
                v4::EventKind::Related(relation) => EventKind::Related(relation),
                v4::EventKind::Unrelated { target, relation_type } => EventKind::Unrelated { target, relation_type },
            }
        }
    }

    impl From<v4::Event> for Event {
        fn from(e: v4::Event) -> Event {
            Event {
                seq: e.seq,
                event_id: e.event_id,
                at: e.at,
                actor: e.actor,
                memory: e.memory,
                version: e.version,
                kind: e.kind.into(),
            }
        }
    }
}

impl MemoryRecord {
    /// The mutable part of this record.
    pub fn meta(&self) -> MemoryMeta {
        MemoryMeta {
            tags: self.tags.clone(),
            memory_type: self.memory_type.clone(),
            metadata: self.metadata.clone(),
            updated_at: self.updated_at,
        }
    }

    /// This record with its mutable part replaced.
    pub fn with_meta(&self, meta: &MemoryMeta) -> MemoryRecord {
        MemoryRecord {
            content: self.content.clone(),
            tags: meta.tags.clone(),
            memory_type: meta.memory_type.clone(),
            metadata: meta.metadata.clone(),
            created_at: self.created_at,
            updated_at: meta.updated_at,
        }
    }
}

impl Actor {
    /// An actor with an interface and an optional identity.
    pub fn new(interface: Interface, id: Option<String>) -> Actor {
        Actor { interface, id }
    }

    /// "interface" or "interface:id", as an upload's record names who made it.
    pub fn label(&self) -> String {
        match &self.id {
            Some(id) => format!("{}:{id}", self.interface.as_str()),
            None => self.interface.as_str().to_string(),
        }
    }
}

impl Interface {
    /// The lower-case name used in APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Http => "http",
            Interface::Mcp => "mcp",
            Interface::Cli => "cli",
            Interface::Sync => "sync",
            Interface::System => "system",
            Interface::Import => "import",
        }
    }
}

impl EventKind {
    /// The lower-case name used in APIs and the SSE stream.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Stored(_) => "stored",
            EventKind::Updated { .. } => "updated",
            EventKind::Deleted { .. } => "deleted",
            EventKind::Undeleted(_) => "undeleted",
            EventKind::Redacted { .. } => "redacted",
            EventKind::Erased { .. } => "erased",
            EventKind::DocumentIngested(_) => "document_ingested",
            EventKind::DocumentRemoved { .. } => "document_removed",
            EventKind::Related(_) => "related",
            EventKind::Unrelated { .. } => "unrelated",
            EventKind::Archived { .. } => "archived",
            EventKind::Unarchived(_) => "unarchived",
        }
    }

    /// Whether the event is about a document upload rather than a memory.
    pub fn is_document(&self) -> bool {
        matches!(self, EventKind::DocumentIngested(_) | EventKind::DocumentRemoved { .. })
    }

    /// Whether the memory exists after this event (never for an upload's key: uploads are not memories).
    pub fn leaves_live(&self) -> bool {
        matches!(
            self,
            EventKind::Stored(_)
                | EventKind::Updated { .. }
                | EventKind::Undeleted(_)
                | EventKind::Related(_)
                | EventKind::Unrelated { .. }
                | EventKind::Archived { .. }
                | EventKind::Unarchived(_)
        )
    }

    /// The record this event makes live (a store, an undelete or an unarchive), whose content needs a vector.
    pub fn record(&self) -> Option<&MemoryRecord> {
        match self {
            EventKind::Stored(record) | EventKind::Undeleted(record) | EventKind::Unarchived(record) => Some(record),
            _ => None,
        }
    }
}

/// The tagged on-disk form: every released version keeps its variant, in release order.
#[derive(Serialize, Deserialize)]
enum OnDisk {
    V1(v1::Event),
    V2(v2::Event),
    V3(v3::Event),
    V4(v4::Event),
    V5(v5::Event),
}

/// The log file's schema version: its tables' layout (version 4, see log/DESIGN.md) and its events
/// (written by `encode` as `V5` since version 6). A file of a later version is refused as too new, so a
/// binary that cannot decode the archive's events never opens a log that may hold them.
pub const SCHEMA_VERSION: u32 = 6;

/// Why stored bytes could not be read back as an event.
#[derive(Debug, thiserror::Error)]
#[error("an event in the log cannot be decoded ({0}); the log was written by an unknown version or is damaged")]
pub struct DecodeError(String);

fn codec_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes an event in the current schema version.
pub fn encode(event: &Event) -> Vec<u8> {
    // Encoding plain owned data into a Vec cannot fail: bincode only fails for writers that fail or for
    // serde types that reject serialisation, and every type here derives Serialize.
    bincode::serde::encode_to_vec(OnDisk::V5(event.clone()), codec_config())
        .expect("events are plain data and always encode")
}

/// Reads the on-disk form with bincode's claims on memory bounded by the input: bincode allocates a
/// string's length before it reads the string, so a damaged length would ask for any amount (fuzzing found
/// one asking for 3.5 PB, which aborts the process). The strings are inside `bytes`, so claims beyond twice
/// its length are damage; the limit is a type parameter, hence a few sizes to choose from.
fn decode_on_disk(bytes: &[u8]) -> Result<(OnDisk, usize), bincode::error::DecodeError> {
    fn limited<const LIMIT: usize>(bytes: &[u8]) -> Result<(OnDisk, usize), bincode::error::DecodeError> {
        bincode::serde::decode_from_slice(bytes, codec_config().with_limit::<LIMIT>())
    }
    match bytes.len() {
        n if n <= 1 << 16 => limited::<{ 1 << 17 }>(bytes),
        n if n <= 1 << 20 => limited::<{ 1 << 21 }>(bytes),
        n if n <= 1 << 24 => limited::<{ 1 << 25 }>(bytes),
        n if n <= 1 << 28 => limited::<{ 1 << 29 }>(bytes),
        // An event of more than 256 MiB: no service writes one; it is read without a limit.
        _ => bincode::serde::decode_from_slice(bytes, codec_config()),
    }
}

/// Decodes an event of any released version, upcast to the current one.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let (on_disk, read) = decode_on_disk(bytes).map_err(|e| DecodeError(e.to_string()))?;
    if read != bytes.len() {
        return Err(DecodeError(format!("{} trailing bytes", bytes.len() - read)));
    }
    Ok(match on_disk {
        OnDisk::V1(event) => v4::Event::from(v3::Event::from(v2::Event::from(event))).into(),
        OnDisk::V2(event) => v4::Event::from(v3::Event::from(event)).into(),
        OnDisk::V3(event) => v4::Event::from(event).into(),
        OnDisk::V4(event) => event.into(),
        OnDisk::V5(event) => event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        Event {
            seq: Seq(7),
            event_id: EventId(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
            at: Timestamp(1_764_000_000_000_000),
            actor: Actor::new(Interface::Cli, Some("tester".into())),
            memory: ContentHash::of_content("hello"),
            version: 1,
            kind: EventKind::Stored(MemoryRecord {
                content: "hello".into(),
                tags: vec!["a".into(), "b".into()],
                memory_type: Some("note".into()),
                metadata: r#"{"k":1}"#.into(),
                created_at: Timestamp(1_764_000_000_000_000),
                updated_at: Timestamp(1_764_000_000_000_000),
            }),
        }
    }

    #[test]
    fn round_trip() {
        let event = sample();
        assert_eq!(decode(&encode(&event)).expect("decodes"), event);
    }

    #[test]
    fn truncated_and_padded_bytes_are_rejected() {
        let bytes = encode(&sample());
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode(&padded).is_err());
    }

    #[test]
    fn a_damaged_length_is_an_error_not_an_allocation() {
        // Found by fuzzing (fuzz/regressions/event_decode/huge-string-length): bincode reads a string's length
        // and allocates it before reading the string, so a damaged length asked for 3.5 PB and aborted.
        let bytes = encode(&sample());
        let at = bytes.windows(7).position(|w| w == b"\x06tester").expect("the actor id as its length and text");
        let mut damaged = bytes[..at].to_vec();
        damaged.push(0xfd); // a u64 length follows
        damaged.extend_from_slice(&0x000c_88bf_ebfe_c000_u64.to_le_bytes());
        damaged.extend_from_slice(&bytes[at + 7..]);
        let error = decode(&damaged).expect_err("a length beyond the bytes is damage");
        assert!(error.to_string().contains("damaged"), "{error}");
    }
}
