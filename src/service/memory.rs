//! The memory as every interface shows it, in the original service's JSON shape.

use mms_log::{Event, EventKind, MemoryRecord};
use mms_projections::{MemoryRow, iso_utc};
use serde::{Deserialize, Serialize};

/// A memory: the original's fields, in the original's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Memory {
    pub content: String,
    pub content_hash: String,
    pub tags: Vec<String>,
    pub memory_type: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: f64,
    pub created_at_iso: String,
    pub updated_at: f64,
    pub updated_at_iso: String,
}

fn metadata_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
}

impl From<MemoryRow> for Memory {
    fn from(row: MemoryRow) -> Memory {
        Memory {
            metadata: metadata_value(&row.metadata),
            content: row.content,
            content_hash: row.content_hash,
            tags: row.tags,
            memory_type: row.memory_type,
            created_at: row.created_at,
            created_at_iso: row.created_at_iso,
            updated_at: row.updated_at,
            updated_at_iso: row.updated_at_iso,
        }
    }
}

impl Memory {
    /// The memory a record describes.
    pub fn from_record(hash: &str, record: &MemoryRecord) -> Memory {
        Memory {
            content: record.content.clone(),
            content_hash: hash.to_string(),
            tags: record.tags.clone(),
            memory_type: record.memory_type.clone(),
            metadata: metadata_value(&record.metadata),
            created_at: record.created_at.as_secs_f64(),
            created_at_iso: iso_utc(record.created_at.0),
            updated_at: record.updated_at.as_secs_f64(),
            updated_at_iso: iso_utc(record.updated_at.0),
        }
    }
}

/// One search result: the memory and how well it matched.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hit {
    pub memory: Memory,
    /// On the original's scale for semantic and hybrid search: `1 - cosine_distance / 2` (1 identical, 0.5
    /// unrelated), whatever ranked the results. Keyword search gives BM25 (higher is better).
    pub similarity_score: f64,
    /// Hybrid search: the score the results were picked by (the similarity plus the bonuses for matching
    /// words and the query's time). Each next result is the one whose score, less half its similarity to
    /// the closest result before it, is highest, so a near-copy of an earlier result can rank below a
    /// memory with a lower score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion_score: Option<f64>,
    /// Asked to weigh relevance (`quality_boost`): the memory's relevance now, in [0, 1) (`r / (1 + r)` of
    /// consolidation's decayed relevance `r`), which `fusion_score` mixed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance_score: Option<f64>,
    pub relevance_reason: String,
}

/// What every event shows: where it sits in the log, when, who and through which interface, what it did.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventHeader {
    pub seq: u64,
    pub event_id: String,
    pub at: String,
    pub actor: String,
    pub interface: String,
    /// stored, updated, deleted, undeleted, redacted, related, unrelated, archived, unarchived,
    /// document_ingested or document_removed.
    pub kind: String,
    /// The memory's version after this event.
    pub version: u32,
    /// True when a later redaction erased what this event held (its kind, time and author are kept).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

impl From<&Event> for EventHeader {
    fn from(event: &Event) -> EventHeader {
        EventHeader {
            seq: event.seq.0,
            event_id: event.event_id.to_string(),
            at: iso_utc(event.at.0),
            actor: event.actor.id.clone().unwrap_or_default(),
            interface: event.actor.interface.as_str().to_string(),
            kind: match &event.kind {
                mms_log::EventKind::Erased { was } => was.clone(),
                kind => kind.name().to_string(),
            },
            version: event.version,
            erased: matches!(event.kind, mms_log::EventKind::Erased { .. }),
        }
    }
}

/// One event of a memory's history, for audit.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    #[serde(flatten)]
    pub event: EventHeader,
    /// The memory before this event (absent for a first store).
    pub before: Option<Memory>,
    /// The memory after this event (absent after a delete).
    pub after: Option<Memory>,
    /// A deletion's or a redaction's reason, when one was given (a redaction's tombstone keeps it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The edge a `related` event made or an `unrelated` event removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<RelationChange>,
}

impl HistoryEntry {
    pub(crate) fn new(event: &Event, before: Option<Memory>, after: Option<Memory>) -> HistoryEntry {
        HistoryEntry { event: event.into(), before, after, reason: reason_of(event), relation: relation_of(event) }
    }
}

/// The edge of a `related` or `unrelated` event, from the event's memory.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RelationChange {
    pub target_hash: String,
    pub relationship_type: String,
    /// A made edge's strength in [0, 1] (absent for a removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
    /// Why the two were linked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The edge an event made or removed.
pub(crate) fn relation_of(event: &Event) -> Option<RelationChange> {
    match &event.kind {
        EventKind::Related(r) => Some(RelationChange {
            target_hash: r.target.to_hex(),
            relationship_type: r.relation_type.clone(),
            similarity: Some(r.strength),
            reason: r.reason.clone(),
        }),
        EventKind::Unrelated { target, relation_type } => Some(RelationChange {
            target_hash: target.to_hex(),
            relationship_type: relation_type.clone(),
            similarity: None,
            reason: None,
        }),
        _ => None,
    }
}

/// The reason given for a deletion or a redaction.
pub(crate) fn reason_of(event: &Event) -> Option<String> {
    match &event.kind {
        EventKind::Deleted { reason }
        | EventKind::Redacted { reason }
        | EventKind::DocumentRemoved { reason, .. }
        | EventKind::Archived { reason } => reason.clone(),
        _ => None,
    }
}
