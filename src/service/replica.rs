//! The one command sync needs: bring a memory to the state another device's event left it in, by appending
//! the events that take it there from its local state (nothing, when it is there already). Which event wins
//! is decided by `sync`; this only appends, so the log stays the single writer's.

use super::{Service, ServiceError};
use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, MemoryRecord, NewEvent, Seq, fold_history};

/// The state a memory is to reach.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Live with this record (its content hashes to the memory).
    Live(MemoryRecord),
    /// Deleted (its history kept).
    Deleted,
    /// Forgotten: every earlier event erased.
    Redacted { reason: Option<String> },
}

/// What `converge` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Converged {
    /// Appended an event; this is its position.
    Appended(Seq),
    /// The memory was already in the target state; this is its last event's position (0: never existed).
    Unchanged(Seq),
}

impl Service {
    /// Appends, under `event_id` and as `actor`, the event that takes `memory` from its current state to
    /// `target`, provided its last event is still `expected_last` (the state the caller decided on):
    /// otherwise a `Conflict`, and the caller decides again. Appending an event id seen before answers with
    /// the event already committed.
    pub async fn converge(
        &self,
        memory: ContentHash,
        target: Target,
        event_id: EventId,
        actor: Actor,
        expected_last: Seq,
    ) -> Result<Converged, ServiceError> {
        let log = self.inner.log.clone();
        let (head, history) = tokio::task::spawn_blocking(move || {
            Ok::<_, mms_log::ReadError>((log.head(&memory)?, log.history(&memory)?))
        })
        .await??;
        let last = Seq(head.map_or(0, |h| h.last_seq));
        if last != expected_last {
            return Err(ServiceError::Conflict(format!("memory {memory} changed while it was being synced")));
        }
        let version = head.map_or(0, |h| h.version);
        let state = fold_history(&history, Seq(u64::MAX));
        let redacted = head.is_some() && state.is_none();
        let mut events = Vec::with_capacity(2);
        let kind = match (target, state) {
            (Target::Live(record), Some(state)) if state.live => {
                if state.record == record {
                    return Ok(Converged::Unchanged(last));
                }
                if state.record.content == record.content && state.record.created_at == record.created_at {
                    EventKind::Updated { before: state.record.meta(), after: record.meta() }
                } else {
                    // Another device stored the same content (by hash) first or differently cased: its copy
                    // replaces this one whole, creation time included, which no update can change.
                    events.push(NewEvent {
                        event_id: EventId(uuid::Uuid::from_u128(event_id.0.as_u128() ^ 1)),
                        actor: actor.clone(),
                        memory,
                        kind: EventKind::Deleted { reason: Some("replaced by the synced copy".into()) },
                        expect: Expect::Version(version),
                    });
                    EventKind::Stored(record)
                }
            }
            (Target::Live(record), _) => EventKind::Stored(record),
            (Target::Deleted, Some(state)) if state.live => EventKind::Deleted { reason: Some("synced".into()) },
            (Target::Deleted, _) => return Ok(Converged::Unchanged(last)),
            (Target::Redacted { .. }, None) => return Ok(Converged::Unchanged(last)),
            (Target::Redacted { reason }, Some(_)) => EventKind::Redacted { reason },
        };
        if redacted && matches!(kind, EventKind::Redacted { .. }) {
            return Ok(Converged::Unchanged(last));
        }
        let is_redaction = matches!(kind, EventKind::Redacted { .. });
        let expect = if events.is_empty() { Expect::Version(version) } else { Expect::Any };
        events.push(NewEvent { event_id, actor, memory, kind, expect });
        let appended = self.append(events, Vec::new()).await?;
        if is_redaction {
            self.inner.past.forget();
        }
        self.settle_locally(&appended).await;
        let last = appended.iter().map(|a| a.seq).max().unwrap_or(last);
        Ok(Converged::Appended(last))
    }
}
