//! Events for the projections' tests.

use mms_log::{Actor, ContentHash, Event, EventId, EventKind, Interface, MemoryRecord, Seq, Timestamp};

/// Event `seq` of the memory holding `content`, at time `seq`, by the system.
pub(crate) fn event(seq: u64, content: &str, kind: EventKind) -> Event {
    Event {
        seq: Seq(seq),
        event_id: EventId::generate(),
        at: Timestamp(seq as i64),
        actor: Actor::new(Interface::System, None),
        memory: ContentHash::of_content(content),
        version: 1,
        kind,
    }
}

/// The event that stores `content` with `tags`.
pub(crate) fn stored(seq: u64, content: &str, tags: &[&str]) -> Event {
    let record = MemoryRecord {
        content: content.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        memory_type: None,
        metadata: "{}".into(),
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    event(seq, content, EventKind::Stored(record))
}
