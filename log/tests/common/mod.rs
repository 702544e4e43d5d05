//! Builders of the events the log's black-box tests append.

use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, Interface, MemoryRecord, NewEvent, Timestamp};

/// A record of `content` tagged "t".
pub(crate) fn record(content: &str) -> MemoryRecord {
    MemoryRecord {
        content: content.into(),
        tags: vec!["t".into()],
        memory_type: None,
        metadata: "{}".into(),
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    }
}

/// An event of `kind` about the memory of `content`, with a fresh id and no version check.
pub(crate) fn event(content: &str, kind: EventKind) -> NewEvent {
    NewEvent {
        event_id: EventId::generate(),
        actor: Actor::new(Interface::Cli, None),
        memory: ContentHash::of_content(content),
        kind,
        expect: Expect::Any,
    }
}

/// Stores `content`.
pub(crate) fn store(content: &str) -> NewEvent {
    event(content, EventKind::Stored(record(content)))
}
