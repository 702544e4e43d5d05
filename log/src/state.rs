//! Folding a memory's events into its state at any point of its history.

use crate::event::{Event, EventKind, MemoryRecord};
use crate::ids::{Seq, Timestamp};

/// A memory as its events leave it.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryState {
    /// The record as of the last event folded in.
    pub record: MemoryRecord,
    /// False once deleted (until undeleted or stored again).
    pub live: bool,
    /// True while archived: live, but out of searches and lists (until unarchived, deleted or redacted).
    pub archived: bool,
    pub version: u32,
    pub last_seq: Seq,
    pub last_at: Timestamp,
}

impl MemoryState {
    /// Applies one event of this memory; events must come in log order.
    pub fn apply(state: Option<MemoryState>, event: &Event) -> Option<MemoryState> {
        // (record, live, archived)
        let record = match (&event.kind, state) {
            (EventKind::Stored(record) | EventKind::Undeleted(record) | EventKind::Unarchived(record), _) => {
                Some((record.clone(), true, false))
            }
            (EventKind::Updated { after, .. }, Some(state)) => {
                Some((state.record.with_meta(after), true, state.archived))
            }
            (EventKind::Deleted { .. }, Some(state)) => Some((state.record, false, false)),
            // A memory's edges are the graph's (the read model folds them); the memory itself is unchanged.
            (EventKind::Related(_) | EventKind::Unrelated { .. }, Some(state)) => {
                Some((state.record, true, state.archived))
            }
            (EventKind::Archived { .. }, Some(state)) => Some((state.record, true, true)),
            // The writer never commits these for an absent memory; nothing to fold.
            (
                EventKind::Updated { .. }
                | EventKind::Deleted { .. }
                | EventKind::Related(_)
                | EventKind::Unrelated { .. }
                | EventKind::Archived { .. },
                None,
            ) => None,
            // A redacted memory is forgotten: at any point of its history before the redaction it reads as
            // absent, since what it held is gone (the events were erased).
            (EventKind::Redacted { .. } | EventKind::Erased { .. }, _) => None,
            // An upload's key is not a memory.
            (EventKind::DocumentIngested(_) | EventKind::DocumentRemoved { .. }, _) => None,
        };
        record.map(|(record, live, archived)| MemoryState {
            record,
            live,
            archived,
            version: event.version,
            last_seq: event.seq,
            last_at: event.at,
        })
    }
}

/// Folds a memory's history (oldest first) up to and including `until`.
pub fn fold_history<'a>(events: impl IntoIterator<Item = &'a Event>, until: Seq) -> Option<MemoryState> {
    events.into_iter().take_while(|e| e.seq <= until).fold(None, MemoryState::apply)
}
