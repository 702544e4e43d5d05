//! Pull: other devices' events, read from D1 after a checkpoint per origin device and applied here in stamp
//! order. An event applies only when its stamp is above the stamp the memory holds here; it is then
//! appended (actor `sync`, its id the event's own, its actor id the stamp), so the same event is never
//! applied twice and the log shows where every change came from. A losing event appends nothing. A winning
//! event that finds the memory already in its state appends nothing either, and its stamp is recorded.

use super::d1::{self, Payload};
use super::stamp::{Stamp, stamps};
use super::{Engine, SyncError, blocking};
use crate::service::{Converged, ServiceError, Target};
use mms_log::{Actor, ContentHash, EventId, Interface, Seq};
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
    origin: String,
    origin_seq: u64,
    memory: ContentHash,
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

fn incoming(row: &Map<String, Value>) -> Option<Incoming> {
    let text = |key: &str| row.get(key).and_then(Value::as_str);
    Some(Incoming {
        event_id: event_id(text("event_id")?),
        origin: text("origin")?.to_string(),
        origin_seq: row.get("origin_seq").and_then(Value::as_u64)?,
        memory: text("content_hash")?.parse().ok()?,
        stamp: Stamp::parse(text("stamp")?)?,
        payload: text("payload").and_then(|p| serde_json::from_str(p).ok()),
    })
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
            let mut events: Vec<Incoming> =
                self.cf.d1(&statements).await?.iter().flatten().filter_map(incoming).collect();
            let mut reached: BTreeMap<String, u64> = BTreeMap::new();
            for event in &events {
                let seq = reached.entry(event.origin.clone()).or_default();
                *seq = (*seq).max(event.origin_seq);
            }
            events.sort_by(|a, b| a.stamp.cmp(&b.stamp));
            let mut round = Pulled { events: events.len(), applied: 0 };
            for event in events {
                if self.apply(event).await? {
                    round.applied += 1;
                }
            }
            self.with_state(|s| s.advance_pull(&reached))?;
            total.events += round.events;
            total.applied += round.applied;
            progress(total);
        }
    }

    /// Applies one event if it wins; returns whether the memory changed here.
    async fn apply(&self, event: Incoming) -> Result<bool, SyncError> {
        let Some(payload) = event.payload else {
            // Erased by a later redaction, which arrives (or arrived) as an event of its own.
            return Ok(false);
        };
        let target = match payload {
            Payload::Deleted => Target::Deleted,
            Payload::Redacted { reason } => Target::Redacted { reason },
            live => {
                let Some(mut record) = live.record() else { return Ok(false) };
                if let (Some(key), Some(bucket)) = (d1::r2_key_of(&record.content), &self.cf.resources.r2_bucket) {
                    match self.cf.get_object(bucket, key).await? {
                        Some(bytes) => record.content = String::from_utf8_lossy(&bytes).into_owned(),
                        None => {
                            tracing::warn!(memory = %event.memory, key, "R2 has no object for a synced memory; skipped");
                            return Ok(false);
                        }
                    }
                }
                if ContentHash::of_content(&record.content) != event.memory {
                    tracing::warn!(memory = %event.memory, origin = %event.origin, "a synced event's content does not match its hash; skipped");
                    return Ok(false);
                }
                Target::Live(record)
            }
        };
        let actor = Actor::new(Interface::Sync, Some(event.stamp.to_string()));
        for _ in 0..5 {
            let memory = event.memory;
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
            let last = Seq(head.map_or(0, |h| h.last_seq));
            match self.service.converge(memory, target.clone(), event.event_id, actor.clone(), last).await {
                Ok(Converged::Appended(_)) => return Ok(true),
                Ok(Converged::Unchanged(at)) => {
                    self.with_state(|s| s.set_clock(&memory, &event.stamp, at))?;
                    return Ok(false);
                }
                Err(ServiceError::Conflict(_)) => continue,
                Err(error) => return Err(SyncError::Apply(Arc::new(error))),
            }
        }
        Err(SyncError::KeptChanging(event.memory))
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
