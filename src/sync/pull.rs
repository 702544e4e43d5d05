//! Pull: other devices' events, read from D1 after a checkpoint per origin device and applied here in stamp
//! order. An event applies only when its stamp is above the stamp the memory holds here; it is then
//! appended (actor `sync`, its id the event's own, its actor id the stamp), so the same event is never
//! applied twice and the log shows where every change came from. A losing event appends nothing. A winning
//! event that finds the memory already in its state appends nothing either, and its stamp is recorded.
//!
//! A memory the original service left in D1 under another content hash (v8.9 hashed content plus metadata
//! in some paths) is adopted under ours, as the import of the original's database does; the sync state
//! keeps the original's hash beside ours. An event that cannot be applied (another device's whose content
//! does not hash to its memory, content missing from R2, a row that cannot be read) is skipped and recorded
//! with the reason, for the status: nothing is dropped silently.

use super::d1::{self, ORIGINAL, Payload};
use super::stamp::{Stamp, edge_stamp, ordered, stamps};
use super::state::Skipped;
use super::{Engine, SyncError, blocking};
use crate::service::{Converged, ServiceError, Target};
use mms_log::{Actor, ContentHash, Event, EventId, EventKind, Interface, Relation, Seq, fold_history};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a pull did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Pulled {
    /// Other devices' events read.
    pub(super) events: usize,
    /// Of those, the ones that changed a memory here.
    pub(super) applied: usize,
}

/// One event read from D1.
struct Incoming {
    event_id: EventId,
    /// The event id as D1 has it.
    id_text: String,
    origin: String,
    origin_seq: u64,
    /// The content hash as D1 has it; `memory` is it read as one of ours, when it is one.
    hash_text: String,
    memory: Option<ContentHash>,
    stamp: Stamp,
    payload: Option<Payload>,
}

/// Turns an event id from D1 into ours: a UUID as is, anything else (the ids given to an original's
/// memories) into a UUID derived from it, the same on every device.
fn event_id(text: &str) -> EventId {
    match uuid::Uuid::parse_str(text) {
        Ok(id) => EventId(id),
        Err(_) => {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(text.as_bytes());
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            EventId(uuid::Builder::from_random_bytes(bytes).into_uuid())
        }
    }
}

/// An event row from D1, or what could be read of it and why it cannot be applied.
fn incoming(row: &Map<String, Value>) -> Result<Incoming, Box<Skipped>> {
    let text = |key: &str| row.get(key).and_then(Value::as_str);
    let unreadable = |what: &str| {
        Box::new(Skipped {
            event_id: text("event_id").unwrap_or_default().to_string(),
            origin: text("origin").unwrap_or_default().to_string(),
            origin_seq: row.get("origin_seq").and_then(Value::as_u64).unwrap_or_default(),
            content_hash: text("content_hash").unwrap_or_default().to_string(),
            reason: format!("the event's row in D1 cannot be read: {what}"),
            at: mms_projections::iso_utc(mms_log::Timestamp::now().0),
        })
    };
    let id_text = text("event_id").ok_or_else(|| unreadable("no event_id"))?;
    let payload = match text("payload") {
        None => None,
        Some(payload) => Some(serde_json::from_str(payload).map_err(|e| unreadable(&format!("its payload: {e}")))?),
    };
    let hash_text = text("content_hash").ok_or_else(|| unreadable("no content_hash"))?;
    Ok(Incoming {
        event_id: event_id(id_text),
        id_text: id_text.to_string(),
        origin: text("origin").ok_or_else(|| unreadable("no origin"))?.to_string(),
        origin_seq: row.get("origin_seq").and_then(Value::as_u64).ok_or_else(|| unreadable("no origin_seq"))?,
        hash_text: hash_text.to_string(),
        memory: hash_text.parse().ok(),
        stamp: text("stamp").and_then(Stamp::parse).ok_or_else(|| unreadable("its stamp"))?,
        payload,
    })
}

impl Incoming {
    /// This event, skipped for `reason`.
    fn skipped(&self, reason: String) -> Skipped {
        Skipped {
            event_id: self.id_text.clone(),
            origin: self.origin.clone(),
            origin_seq: self.origin_seq,
            content_hash: self.hash_text.clone(),
            reason,
            at: mms_projections::iso_utc(mms_log::Timestamp::now().0),
        }
    }
}

impl Engine {
    /// Reads and applies everything other devices pushed since the last pull. With `adopt`, memories an
    /// original service left in D1 are first turned into events.
    pub(super) async fn pull(&self, adopt: bool, mut progress: impl FnMut(Pulled)) -> Result<Pulled, SyncError> {
        if adopt {
            self.cf.d1(&d1::adopt_original()).await?;
        }
        let mut total = Pulled::default();
        loop {
            let pulled = self.with_state(|s| s.pulled())?;
            let origins = self.cf.d1(&[d1::origins(&self.me)]).await?.pop().unwrap_or_default();
            let behind: Vec<(String, u64)> = origins
                .iter()
                .filter_map(|row| {
                    let origin = row.get("origin")?.as_str()?.to_string();
                    let last = row.get("last")?.as_u64()?;
                    let done = pulled.get(&origin).copied().unwrap_or(0);
                    (last > done).then_some((origin, done))
                })
                .collect();
            if behind.is_empty() {
                return Ok(total);
            }
            let statements: Vec<_> =
                behind.iter().map(|(origin, done)| d1::events_after(origin, *done, self.batch_size)).collect();
            let rows = self.cf.d1(&statements).await?;
            let mut events = Vec::new();
            let mut reached: BTreeMap<String, u64> = BTreeMap::new();
            for read in rows.iter().flatten().map(incoming) {
                let (origin, seq) = match &read {
                    Ok(event) => (&event.origin, event.origin_seq),
                    Err(skipped) => (&skipped.origin, skipped.origin_seq),
                };
                let reached = reached.entry(origin.clone()).or_default();
                *reached = (*reached).max(seq);
                match read {
                    Ok(event) => events.push(event),
                    Err(skipped) => self.skip(&skipped)?,
                }
            }
            // A row read without its origin or sequence names no position.
            reached.retain(|origin, seq| *seq > 0 && !origin.is_empty());
            // Memories first, then the edges between them (an edge is made only between live memories), each
            // in stamp order.
            events.sort_by(|a, b| {
                let edge = |e: &Incoming| e.payload.as_ref().is_some_and(Payload::is_edge);
                (edge(a), &a.stamp).cmp(&(edge(b), &b.stamp))
            });
            let mut round = Pulled { events: events.len(), applied: 0 };
            for event in events {
                let applied = match event.payload.as_ref().is_some_and(Payload::is_edge) {
                    true => self.apply_edge(event).await?,
                    false => self.apply(event).await?,
                };
                if applied {
                    round.applied += 1;
                }
            }
            self.with_state(|s| s.advance_pull(&reached))?;
            total.events += round.events;
            total.applied += round.applied;
            progress(total);
        }
    }

    /// Records a pulled event that is not applied, and says so in the log.
    fn skip(&self, skipped: &Skipped) -> Result<(), SyncError> {
        tracing::warn!(
            event = %skipped.event_id,
            origin = %skipped.origin,
            memory = %skipped.content_hash,
            reason = %skipped.reason,
            "a synced event is skipped"
        );
        self.with_state(|s| s.record_skipped(skipped))
    }

    /// Applies one event if it wins; returns whether the memory changed here.
    async fn apply(&self, event: Incoming) -> Result<bool, SyncError> {
        let Some(payload) = event.payload.clone() else {
            // Erased by a later redaction, which arrives (or arrived) as an event of its own.
            return Ok(false);
        };
        let (memory, target) = match payload {
            Payload::Deleted => (event.memory, Target::Deleted),
            Payload::Redacted { reason } => (event.memory, Target::Redacted { reason }),
            Payload::Related { .. } | Payload::Unrelated { .. } => return Ok(false),
            live => {
                let archived = match &live {
                    Payload::Live { archived, .. } => archived.clone(),
                    _ => None,
                };
                let Some(mut record) = live.record() else { return Ok(false) };
                if let (Some(key), Some(bucket)) = (d1::r2_key_of(&record.content), &self.cf.resources.r2_bucket) {
                    match self.cf.get_object(bucket, key).await? {
                        Some(bytes) => record.content = String::from_utf8_lossy(&bytes).into_owned(),
                        None => {
                            self.skip(&event.skipped(format!("R2 has no object {key} for its content")))?;
                            return Ok(false);
                        }
                    }
                }
                let ours = ContentHash::of_content(&record.content);
                if event.memory != Some(ours) {
                    if event.origin != ORIGINAL {
                        let reason = format!("its content hashes to {ours}, not to the memory it names");
                        self.skip(&event.skipped(reason))?;
                        return Ok(false);
                    }
                    // The original v8.9 hashed content plus metadata in some paths: the memory is adopted
                    // under our hash (on every device alike), and the original's stays findable.
                    let at = mms_projections::iso_utc(mms_log::Timestamp::now().0);
                    self.with_state(|s| s.record_rehashed(&event.hash_text, &ours, &at))?;
                    tracing::info!(original = %event.hash_text, memory = %ours, "a memory the original left in D1 is adopted under its content hash");
                }
                match archived {
                    Some(mark) => (Some(ours), Target::Archived { record, reason: mark.reason }),
                    None => (Some(ours), Target::Live(record)),
                }
            }
        };
        let Some(memory) = memory else {
            self.skip(&event.skipped("its content hash is not a SHA-256 in hex".into()))?;
            return Ok(false);
        };
        let actor = Actor::new(Interface::Sync, Some(event.stamp.to_string()));
        for _ in 0..5 {
            let log = self.service.log().clone();
            let (head, history) = blocking(move || {
                let head = log.head(&memory)?;
                let history = log.history(&memory)?;
                Ok::<_, mms_log::ReadError>((head, history))
            })
            .await?;
            let clock = self.with_state(|s| s.clock(&memory))?;
            let current = stamps(&history, clock.as_ref(), &self.me).current;
            if current.as_ref().is_some_and(|c| *c >= event.stamp) {
                return Ok(false);
            }
            // Taking another device's copy whole (another creation time) stores the memory again, which
            // removes its edges here; they were not removed there, so they are made again, with their stamps.
            let replacing = match (&target, fold_history(&history, Seq(u64::MAX))) {
                (Target::Live(record) | Target::Archived { record, .. }, Some(state)) if state.live => {
                    state.record.content != record.content || state.record.created_at != record.created_at
                }
                _ => false,
            };
            let kept = if replacing { self.edges_made(memory).await? } else { Vec::new() };
            let last = Seq(head.map_or(0, |h| h.last_seq));
            match self.service.converge(memory, target.clone(), event.event_id, actor.clone(), last).await {
                Ok(Converged::Appended(_)) => {
                    self.make_again(kept).await?;
                    return Ok(true);
                }
                Ok(Converged::Unchanged(at)) => {
                    self.with_state(|s| s.set_clock(&memory, &event.stamp, at))?;
                    return Ok(false);
                }
                Err(ServiceError::Conflict(_)) => continue,
                Err(error) => return Err(SyncError::Apply(Arc::new(error))),
            }
        }
        Err(SyncError::KeptChanging(memory))
    }

    /// The events that made a memory's edges (either end), each with its stamp.
    async fn edges_made(&self, memory: ContentHash) -> Result<Vec<(Event, Stamp)>, SyncError> {
        let edges = self.service.edges_of(memory).await.map_err(|e| SyncError::Apply(Arc::new(e)))?;
        let mut made = Vec::with_capacity(edges.len());
        for edge in edges {
            let log = self.service.log().clone();
            let found = blocking(move || {
                let Some(event) = log.get(Seq(edge.seq))? else { return Ok(None) };
                let history = log.history(&event.memory)?;
                Ok::<_, mms_log::ReadError>(Some((event, history)))
            })
            .await?;
            let Some((event, history)) = found else { continue };
            let clock = self.with_state(|s| s.clock(&event.memory))?;
            let own = stamps(&history, clock.as_ref(), &self.me).own;
            if let Some(stamp) = history.iter().position(|e| e.seq == event.seq).map(|i| own[i].clone()) {
                made.push((event, stamp));
            }
        }
        Ok(made)
    }

    /// Makes edges again, each as an event of its source under its own stamp (so that it resolves as it did).
    async fn make_again(&self, edges: Vec<(Event, Stamp)>) -> Result<(), SyncError> {
        for (event, stamp) in edges {
            let actor = Actor::new(Interface::Sync, Some(stamp.to_string()));
            for _ in 0..5 {
                let log = self.service.log().clone();
                let memory = event.memory;
                let version = blocking(move || log.head(&memory)).await?.map_or(0, |h| h.version);
                let again =
                    self.service.converge_edge(memory, event.kind.clone(), EventId::generate(), actor.clone(), version);
                match again.await {
                    Ok(_) => break,
                    Err(ServiceError::Conflict(_) | ServiceError::NotFound(_)) => continue,
                    Err(error) => return Err(SyncError::Apply(Arc::new(error))),
                }
            }
        }
        Ok(())
    }

    /// Applies one event of the memory graph if it wins over every event that changed the same edge here
    /// (found in the histories of both its ends); returns whether it was appended. An edge whose source is
    /// not live here is not made: its memory lost to a deletion, which removed its edges too.
    async fn apply_edge(&self, event: Incoming) -> Result<bool, SyncError> {
        let (Some(memory), Some(payload)) = (event.memory, event.payload.clone()) else {
            self.skip(&event.skipped("its content hash is not a SHA-256 in hex".into()))?;
            return Ok(false);
        };
        // A `Related` carries the edge's strength and reason; an `Unrelated` only names the edge.
        let (target, relation_type, made) = match payload {
            Payload::Related { target, relation_type, strength, reason } => {
                (target, relation_type, Some((strength, reason)))
            }
            Payload::Unrelated { target, relation_type } => (target, relation_type, None),
            _ => return Ok(false),
        };
        let Ok(target) = target.parse::<ContentHash>() else {
            self.skip(&event.skipped(format!("its target {target:?} is not a SHA-256 in hex")))?;
            return Ok(false);
        };
        if target == memory {
            self.skip(&event.skipped("it relates a memory to itself".into()))?;
            return Ok(false);
        }
        if mms_projections::relation_type(&relation_type).is_none() {
            self.skip(&event.skipped(format!("its relationship type {relation_type:?} is not known here")))?;
            return Ok(false);
        }
        let key = ordered(memory, target, &relation_type);
        let kind = match made {
            Some((strength, reason)) => {
                EventKind::Related(Relation { target, relation_type: relation_type.clone(), strength, reason })
            }
            None => EventKind::Unrelated { target, relation_type: relation_type.clone() },
        };
        let actor = Actor::new(Interface::Sync, Some(event.stamp.to_string()));
        for _ in 0..5 {
            let log = self.service.log().clone();
            let (head, source, target_history) = blocking(move || {
                Ok::<_, mms_log::ReadError>((log.head(&memory)?, log.history(&memory)?, log.history(&target)?))
            })
            .await?;
            let (source_clock, target_clock) = self.with_state(|s| Ok((s.clock(&memory)?, s.clock(&target)?)))?;
            let source_stamps = stamps(&source, source_clock.as_ref(), &self.me);
            let target_stamps = stamps(&target_history, target_clock.as_ref(), &self.me);
            let held = edge_stamp(&[(&source, &source_stamps), (&target_history, &target_stamps)], key);
            if held.is_some_and(|held| held >= event.stamp) {
                return Ok(false);
            }
            let version = head.map_or(0, |h| h.version);
            match self.service.converge_edge(memory, kind.clone(), event.event_id, actor.clone(), version).await {
                Ok(Converged::Appended(_)) => return Ok(true),
                Ok(Converged::Unchanged(_)) => return Ok(false),
                Err(ServiceError::Conflict(_) | ServiceError::NotFound(_)) => continue,
                Err(error) => return Err(SyncError::Apply(Arc::new(error))),
            }
        }
        Err(SyncError::KeptChanging(memory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_from_d1_are_ours_or_derived_the_same_everywhere() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(event_id(&id.to_string()), EventId(id));
        assert_eq!(event_id("original-abc"), event_id("original-abc"));
        assert_ne!(event_id("original-abc"), event_id("original-abd"));
    }
}
