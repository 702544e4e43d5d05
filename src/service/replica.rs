//! The one command sync needs: bring a memory to the state another device's event left it in, by appending
//! the events that take it there from its local state (nothing, when it is there already). Which event wins
//! is decided by `sync`; this only appends, so the log stays the single writer's.

use super::{Service, ServiceError};
use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, MemoryRecord, MemoryState, NewEvent, Seq, fold_history};

/// The state a memory is to reach.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Live with this record (its content hashes to the memory).
    Live(MemoryRecord),
    /// Deleted (its history kept).
    Deleted,
    /// Forgotten: every earlier event erased.
    Redacted { reason: Option<String> },
    /// Live with this record, and archived for this reason.
    Archived { record: MemoryRecord, reason: Option<String> },
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
        let kinds = match target {
            Target::Live(record) => to_live(state.as_ref(), record, None),
            Target::Archived { record, reason } => to_live(state.as_ref(), record, Some(reason)),
            Target::Deleted if state.as_ref().is_some_and(|s| s.live) => {
                vec![EventKind::Deleted { reason: Some("synced".into()) }]
            }
            Target::Deleted => Vec::new(),
            // Absent, or already redacted (its events erased).
            Target::Redacted { .. } if state.is_none() => Vec::new(),
            Target::Redacted { reason } => vec![EventKind::Redacted { reason }],
        };
        if kinds.is_empty() {
            return Ok(Converged::Unchanged(last));
        }
        let is_redaction = kinds.iter().any(|k| matches!(k, EventKind::Redacted { .. }));
        // The last event carries the synced event's id; the ones before it ids derived from it, the same on
        // every attempt. Only the first checks the version the caller decided on.
        let count = kinds.len();
        let events: Vec<NewEvent> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| NewEvent {
                event_id: if i + 1 == count {
                    event_id
                } else {
                    EventId(uuid::Uuid::from_u128(event_id.0.as_u128() ^ (i as u128 + 1)))
                },
                actor: actor.clone(),
                memory,
                kind,
                expect: if i == 0 { Expect::Version(version) } else { Expect::Any },
            })
            .collect();
        let appended = self.append(events, Vec::new()).await?;
        if is_redaction {
            self.inner.past.forget();
        }
        self.settle_locally(&appended).await;
        let last = appended.iter().map(|a| a.seq).max().unwrap_or(last);
        Ok(Converged::Appended(last))
    }

    /// Appends, under `event_id` and as `actor`, an edge event of `memory` that another device made (a
    /// `Related` or an `Unrelated`), provided the memory's version is still `expected_version`: otherwise a
    /// `Conflict`. Which edge event wins is decided by `sync`; the winner is appended even when the edge is
    /// already in its state, so that the log records the edge's stamp. A memory that is not live here has no
    /// edges: nothing is appended.
    pub async fn converge_edge(
        &self,
        memory: ContentHash,
        kind: EventKind,
        event_id: EventId,
        actor: Actor,
        expected_version: u32,
    ) -> Result<Converged, ServiceError> {
        debug_assert!(matches!(kind, EventKind::Related(_) | EventKind::Unrelated { .. }));
        let log = self.inner.log.clone();
        let head = tokio::task::spawn_blocking(move || log.head(&memory)).await??;
        let head = match head {
            Some(head) if head.live => head,
            other => return Ok(Converged::Unchanged(Seq(other.map_or(0, |h| h.last_seq)))),
        };
        let event = NewEvent { event_id, actor, memory, kind, expect: Expect::Version(expected_version) };
        if head.version != expected_version {
            return Err(ServiceError::Conflict(format!("memory {memory} changed while it was being synced")));
        }
        let appended = self.append(vec![event], Vec::new()).await?;
        self.settle_locally(&appended).await;
        Ok(Converged::Appended(appended.iter().map(|a| a.seq).max().unwrap_or(Seq(head.last_seq))))
    }
}

/// The events that take a memory from `state` to live with `record`, archived when `archived` is set (with
/// its reason). Another device may have stored the same content (by hash) first, or with another creation
/// time, which no update can change: its copy then replaces this one whole.
fn to_live(state: Option<&MemoryState>, record: MemoryRecord, archived: Option<Option<String>>) -> Vec<EventKind> {
    let mut kinds = Vec::with_capacity(3);
    let is_archived = match state {
        Some(state) if state.live => {
            if state.record == record {
                state.archived
            } else if state.record.content == record.content && state.record.created_at == record.created_at {
                kinds.push(EventKind::Updated { before: state.record.meta(), after: record.meta() });
                state.archived
            } else {
                kinds.push(EventKind::Deleted { reason: Some("replaced by the synced copy".into()) });
                kinds.push(EventKind::Stored(record.clone()));
                false
            }
        }
        _ => {
            kinds.push(EventKind::Stored(record.clone()));
            false
        }
    };
    match (is_archived, archived) {
        (false, Some(reason)) => kinds.push(EventKind::Archived { reason }),
        (true, None) => kinds.push(EventKind::Unarchived(record)),
        _ => {}
    }
    kinds
}
