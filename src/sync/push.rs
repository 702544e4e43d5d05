//! Push: the Cloudflare replica as a projection of the log. From its durable checkpoint it takes a batch of
//! events, records this device's events in D1 with their stamps and applies the winners to the original's
//! tables (one D1 call), then brings Vectorize in line with what D1 now holds for those memories (one Workers
//! AI call for vectors not cached, one upsert, one delete). The checkpoint moves only after all of it was
//! confirmed, so a crash or an outage repeats a batch (every write is idempotent) and never skips one.

use super::SyncError;
use super::d1::{self, ARCHIVED, ArchiveMark, GONE, LIVE, Outgoing, Payload};
use super::stamp::{Stamp, stamps};
use super::state::Failure;
use super::{Engine, blocking};
use crate::cloudflare::{CloudflareError, VectorLine};
use mms_log::{ContentHash, Event, EventKind, Interface, Seq, VectorEntry, fold_history};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// Content bytes one push batch carries at most (a single larger memory goes alone).
const BATCH_CONTENT_BYTES: usize = 4 * 1024 * 1024;
/// Largest metadata Vectorize keeps per vector, less a margin for the JSON around the tags.
const METADATA_BUDGET: usize = 9 * 1024;

/// What one push batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Pushed {
    /// Log events the checkpoint moved over.
    pub(super) events: usize,
    /// This device's events sent to Cloudflare.
    pub(super) sent: usize,
    /// Events Cloudflare refused for good (recorded as failures).
    pub(super) failed: usize,
    /// Where the checkpoint is now.
    pub(super) last: Seq,
}

/// A batch read from the log and ready to send.
struct Prepared {
    /// Log events the checkpoint moves over once it is sent.
    events: usize,
    last: Seq,
    /// This device's events among them, as they go to D1.
    outgoing: Vec<Outgoing>,
}

/// A batch D1 has taken: what D1 holds now for its memories, and the Workers AI vectors of the contents
/// this device sent (fetched beside the D1 call).
struct Recorded {
    rows: Vec<Map<String, Value>>,
    local: HashMap<ContentHash, String>,
    vectors: HashMap<ContentHash, Vec<f32>>,
}

impl Engine {
    /// Pushes every batch after the checkpoint, calling `pushed` after each one the checkpoint moved over.
    ///
    /// Batches go through two stages, D1 then Vectorize, and two batches are in flight at once: batch N's D1
    /// call (with its Workers AI call beside it) runs while batch N-1's vectors are upserted. Each stage
    /// still takes the batches in log order, so D1 sees the events in order and Vectorize is aligned with
    /// D1's read-backs in the order D1 gave them. The checkpoint moves over a batch only once both of its
    /// stages are confirmed; after a failure the next round starts again from it, and every write repeats
    /// harmlessly.
    pub(super) async fn push_all(&self, mut pushed: impl FnMut(Pushed)) -> Result<(), SyncError> {
        let mut from = self.with_state(|s| s.pushed())?.next();
        let mut in_flight: Option<(Prepared, Recorded)> = None;
        loop {
            let Some(batch) = self.prepare(from).await? else {
                if let Some((earlier, recorded)) = in_flight.take() {
                    let aligned = self.align_vectorize(recorded).await;
                    pushed(self.settle(&earlier, aligned).await?);
                }
                return Ok(());
            };
            from = batch.last.next();
            let aligned = async {
                match in_flight.take() {
                    Some((earlier, recorded)) => Some((self.align_vectorize(recorded).await, earlier)),
                    None => None,
                }
            };
            let (recorded, aligned) = tokio::join!(self.record_in_d1(&batch.outgoing), aligned);
            if let Some((aligned, earlier)) = aligned {
                pushed(self.settle(&earlier, aligned).await?);
            }
            match recorded {
                Ok(recorded) => in_flight = Some((batch, recorded)),
                Err(error) => pushed(self.settle(&batch, Err(error)).await?),
            }
        }
    }

    /// Moves the checkpoint over a batch once Cloudflare confirmed it, or refused it for good (then as
    /// [`send`](Self::send) does: a lone event is recorded as failed, several are sent again one by one).
    /// Any other failure stops the round with the checkpoint before the batch.
    async fn settle(&self, batch: &Prepared, sent: Result<(), SyncError>) -> Result<Pushed, SyncError> {
        let failures = match sent {
            Ok(()) => Vec::new(),
            Err(SyncError::Cloudflare(CloudflareError::Permanent(why))) => self.refused(&batch.outgoing, why).await?,
            Err(other) => return Err(other),
        };
        self.with_state(|s| s.advance_push(batch.last, &failures))?;
        let sent = batch.outgoing.len() - failures.len();
        Ok(Pushed { events: batch.events, sent, failed: failures.len(), last: batch.last })
    }

    /// Reads the batch that starts at `from`; `None` when the log has nothing there.
    async fn prepare(&self, from: Seq) -> Result<Option<Prepared>, SyncError> {
        let log = self.service.log().clone();
        let limit = self.batch_size;
        let mut events = blocking(move || log.read_from(from, limit)).await?;
        let local: Vec<&Event> = events.iter().filter(|e| e.actor.interface != Interface::Sync).collect();
        let mut outgoing = self.outgoing(&local).await?;
        // A batch carries each content twice (the event and the memory row): one D1 call's body stays bounded,
        // the rest waits for the next batch (a single larger memory goes alone).
        let mut bytes = 0;
        if let Some(over) = outgoing.iter().position(|o| {
            bytes += o.payload.as_ref().map_or(0, Payload::content_len);
            bytes > BATCH_CONTENT_BYTES
        }) {
            let cut = over.max(1);
            if let Some(first_left) = outgoing.get(cut).map(|o| o.seq) {
                outgoing.truncate(cut);
                events.retain(|e| e.seq.0 < first_left);
            }
        }
        Ok(events.last().map(|e| Prepared { events: events.len(), last: e.seq, outgoing }))
    }

    /// Pushes the events recorded as failed again; those that now succeed are cleared. Returns how many.
    pub(super) async fn retry_failures(&self) -> Result<usize, SyncError> {
        let failures = self.with_state(|s| s.failures())?;
        let mut cleared = 0;
        for failure in failures {
            let log = self.service.log().clone();
            let seq = Seq(failure.seq);
            let Some(event) = blocking(move || log.get(seq)).await? else {
                continue;
            };
            let outgoing = self.outgoing(&[&event]).await?;
            if self.send(&outgoing).await?.is_empty() {
                self.with_state(|s| s.clear_failure(failure.seq))?;
                cleared += 1;
            }
        }
        Ok(cleared)
    }

    /// The events as they go to D1: stamped, with the state each leaves its memory in.
    async fn outgoing(&self, events: &[&Event]) -> Result<Vec<Outgoing>, SyncError> {
        let mut histories: HashMap<ContentHash, (Vec<Event>, Vec<Stamp>)> = HashMap::new();
        for event in events {
            if histories.contains_key(&event.memory) {
                continue;
            }
            let memory = event.memory;
            let log = self.service.log().clone();
            let history = blocking(move || log.history(&memory)).await?;
            let clock = self.with_state(|s| s.clock(&memory))?;
            let own = stamps(&history, clock.as_ref(), &self.me).own;
            histories.insert(memory, (history, own));
        }
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let (history, own) = &histories[&event.memory];
            // The writer updates a memory's head before a reader can see its commit, so this is a broken log;
            // failing the round keeps the checkpoint where it is rather than skip the event for good.
            let Some(index) = history.iter().position(|e| e.seq == event.seq) else {
                return Err(SyncError::NotInHistory { seq: event.seq.0, memory: event.memory });
            };
            let payload = match &event.kind {
                // Uploads are recorded in the local log only; their chunks travel as the memories they are.
                EventKind::Erased { .. } | EventKind::DocumentIngested(_) | EventKind::DocumentRemoved { .. } => None,
                EventKind::Redacted { .. } if is_upload(history) => None,
                EventKind::Redacted { reason } => Some(Payload::Redacted { reason: reason.clone() }),
                EventKind::Deleted { .. } => Some(Payload::Deleted),
                EventKind::Related(relation) => Some(Payload::Related {
                    target: relation.target.to_hex(),
                    relation_type: relation.relation_type.clone(),
                    strength: relation.strength,
                    reason: relation.reason.clone(),
                }),
                EventKind::Unrelated { target, relation_type } => {
                    Some(Payload::Unrelated { target: target.to_hex(), relation_type: relation_type.clone() })
                }
                EventKind::Stored(_)
                | EventKind::Undeleted(_)
                | EventKind::Updated { .. }
                | EventKind::Archived { .. }
                | EventKind::Unarchived(_) => fold_history(history, event.seq).map(|state| {
                    let archived = state.archived.then(|| ArchiveMark { reason: archive_reason(history, event.seq) });
                    Payload::live(&state.record, archived)
                }),
            };
            let r2_key = match (&payload, &self.cf.resources.r2_bucket) {
                (Some(Payload::Live { content, .. }), Some(_))
                    if content.len() > self.cf.resources.large_content_threshold =>
                {
                    Some(d1::r2_key(&event.memory))
                }
                _ => None,
            };
            out.push(Outgoing {
                event_id: event.event_id.0.to_string(),
                origin: self.me.clone(),
                seq: event.seq.0,
                memory: event.memory,
                stamp: own[index].clone(),
                kind: event.kind.name(),
                payload,
                r2_key,
            });
        }
        Ok(out)
    }

    /// Sends events: R2 objects, one D1 batch, then Vectorize. When D1 refuses the batch for good, each event
    /// is sent alone so that only the ones at fault are recorded as failures (and returned). A refused API
    /// token is no event's fault: it fails the whole send, like an outage, and nothing is recorded.
    async fn send(&self, outgoing: &[Outgoing]) -> Result<Vec<Failure>, SyncError> {
        if outgoing.is_empty() {
            return Ok(Vec::new());
        }
        let sent = match self.record_in_d1(outgoing).await {
            Ok(recorded) => self.align_vectorize(recorded).await,
            Err(error) => Err(error),
        };
        match sent {
            Ok(()) => Ok(Vec::new()),
            Err(SyncError::Cloudflare(CloudflareError::Permanent(why))) => self.refused(outgoing, why).await,
            Err(other) => Err(other),
        }
    }

    /// After Cloudflare refused events for good: a lone event is recorded as failed; several are sent
    /// again one by one, so that only the ones at fault fail. Returns the failures.
    async fn refused(&self, outgoing: &[Outgoing], why: String) -> Result<Vec<Failure>, SyncError> {
        if let [out] = outgoing {
            tracing::warn!(seq = out.seq, memory = %out.memory, %why, "Cloudflare refused an event; recorded as failed");
            return Ok(vec![Failure {
                seq: out.seq,
                content_hash: out.memory.to_hex(),
                message: why,
                at: mms_projections::iso_utc(mms_log::Timestamp::now().0),
            }]);
        }
        let mut failures = Vec::new();
        for one in outgoing.chunks(1) {
            failures.extend(Box::pin(self.send(one)).await?);
        }
        Ok(failures)
    }

    /// The first stage of a send: R2 objects, then one D1 batch that records the events and reads back what
    /// D1 holds for their memories; beside the D1 call, the Workers AI vectors of the contents sent (from
    /// the log's cache, else one Workers AI call), which the second stage will most likely upsert.
    async fn record_in_d1(&self, outgoing: &[Outgoing]) -> Result<Recorded, SyncError> {
        let local: HashMap<ContentHash, String> = outgoing
            .iter()
            .filter_map(|o| match &o.payload {
                Some(Payload::Live { content, archived: None, .. }) => Some((o.memory, content.clone())),
                _ => None,
            })
            .collect();
        if outgoing.is_empty() {
            return Ok(Recorded { rows: Vec::new(), local, vectors: HashMap::new() });
        }
        if let Some(bucket) = &self.cf.resources.r2_bucket {
            for out in outgoing {
                if let (Some(key), Some(Payload::Live { content, .. })) = (&out.r2_key, &out.payload) {
                    self.cf.put_object(bucket, key, content.clone().into_bytes()).await?;
                }
            }
        }
        // An edge's event leaves its memory's vector as it was.
        let mut memories: Vec<ContentHash> =
            outgoing.iter().filter(|o| !o.payload.as_ref().is_some_and(Payload::is_edge)).map(|o| o.memory).collect();
        memories.sort();
        memories.dedup();
        let mut statements: Vec<_> = outgoing.iter().flat_map(d1::statements).collect();
        statements.push(d1::readback(&memories));
        let wanted: Vec<(ContentHash, &str)> = local.iter().map(|(h, text)| (*h, text.as_str())).collect();
        let (results, vectors) = tokio::join!(self.cf.d1(&statements), self.cloud_vectors(&wanted));
        let rows = results?.last().cloned().unwrap_or_default();
        Ok(Recorded { rows, local, vectors: vectors? })
    }

    /// The second stage of a send: Vectorize in line with what D1 read back.
    async fn align_vectorize(&self, recorded: Recorded) -> Result<(), SyncError> {
        let Recorded { rows, local, vectors } = recorded;
        let local: HashMap<ContentHash, &str> = local.iter().map(|(h, text)| (*h, text.as_str())).collect();
        self.align_vectors(&rows, &local, vectors).await
    }

    /// Makes Vectorize hold a vector for every memory D1 has live among `rows`, and none for the others.
    /// `known` holds vectors already fetched; the others are fetched here.
    async fn align_vectors(
        &self,
        rows: &[Map<String, Value>],
        local: &HashMap<ContentHash, &str>,
        mut known: HashMap<ContentHash, Vec<f32>>,
    ) -> Result<(), SyncError> {
        let mut live: BTreeMap<ContentHash, (String, Map<String, Value>)> = BTreeMap::new();
        let mut dead = Vec::new();
        let mut gone = Vec::new();
        for row in rows {
            let Some(memory) = row.get("content_hash").and_then(Value::as_str).and_then(|h| h.parse().ok()) else {
                continue;
            };
            let state = row.get("live").and_then(Value::as_i64).unwrap_or(GONE);
            let content = row.get("content").and_then(Value::as_str);
            match (state, content) {
                (LIVE, Some(content)) => {
                    let text = match local.get(&memory) {
                        Some(text) => text.to_string(),
                        None if d1::r2_key_of(content).is_none() => content.to_string(),
                        None => match self.local_content(memory).await? {
                            Some(text) => text,
                            None => continue,
                        },
                    };
                    live.insert(memory, (text, vector_metadata(&memory, row)));
                }
                (LIVE, None) => {}
                // An archived memory leaves Vectorize but keeps its R2 object, to be brought back.
                (ARCHIVED, _) => dead.push(memory.to_hex()),
                _ => {
                    dead.push(memory.to_hex());
                    gone.push(memory);
                }
            }
        }
        if !live.is_empty() {
            let wanted: Vec<(ContentHash, &str)> =
                live.iter().filter(|(h, _)| !known.contains_key(h)).map(|(h, (text, _))| (*h, text.as_str())).collect();
            if !wanted.is_empty() {
                known.extend(self.cloud_vectors(&wanted).await?);
            }
            let vectors = known;
            let lines: Vec<VectorLine> = live
                .into_iter()
                .filter_map(|(memory, (_, metadata))| {
                    Some(VectorLine { id: memory.to_hex(), values: vectors.get(&memory)?.clone(), metadata })
                })
                .collect();
            self.cf.upsert_vectors(&lines).await?;
        }
        if !dead.is_empty() {
            self.cf.delete_vectors(&dead).await?;
            if let Some(bucket) = &self.cf.resources.r2_bucket {
                for memory in &gone {
                    self.cf.delete_object(bucket, &d1::r2_key(memory)).await?;
                }
            }
        }
        Ok(())
    }

    /// The content of a memory from the local log (its latest record), for content D1 keeps in R2.
    async fn local_content(&self, memory: ContentHash) -> Result<Option<String>, SyncError> {
        let log = self.service.log().clone();
        let history = blocking(move || log.history(&memory)).await?;
        Ok(fold_history(&history, Seq(u64::MAX)).map(|s| s.record.content))
    }

    /// Workers AI vectors of these contents: from the log's cache (keyed by the Workers AI model), else
    /// embedded now and cached.
    pub(super) async fn cloud_vectors(
        &self,
        wanted: &[(ContentHash, &str)],
    ) -> Result<HashMap<ContentHash, Vec<f32>>, SyncError> {
        let model = self.cf.resources.embedding_model.clone();
        let hashes: Vec<ContentHash> = wanted.iter().map(|(h, _)| *h).collect();
        let log = self.service.log().clone();
        let cache_model = model.clone();
        let mut found = blocking(move || log.cached_vectors(&cache_model, &hashes)).await?;
        let missing: Vec<(ContentHash, &str)> =
            wanted.iter().filter(|(h, _)| !found.contains_key(h)).copied().collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let texts: Vec<&str> = missing.iter().map(|(_, text)| *text).collect();
        let vectors = self.cf.embed(&texts).await?;
        let entries: Vec<VectorEntry> = missing
            .iter()
            .zip(vectors)
            .map(|((memory, _), vector)| VectorEntry { model: model.clone(), memory: *memory, vector })
            .collect();
        for entry in &entries {
            found.insert(entry.memory, entry.vector.clone());
        }
        let log = self.service.log().clone();
        // Caching saves Workers AI calls later; failing to cache only costs them.
        if let Err(error) = blocking(move || log.append(Vec::new(), entries)).await {
            tracing::warn!(%error, "could not cache Workers AI vectors");
        }
        Ok(found)
    }
}

/// The original's vector metadata, `{content_hash, memory_type, tags: "a,b", created_at}`, within
/// Vectorize's 10 KiB (a very long tag list is cut at a tag boundary).
fn vector_metadata(memory: &ContentHash, row: &Map<String, Value>) -> Map<String, Value> {
    let mut tags = row.get("tags").and_then(Value::as_str).unwrap_or("").to_string();
    if tags.len() > METADATA_BUDGET {
        let cut = tags[..METADATA_BUDGET].rfind(',').unwrap_or(0);
        tags.truncate(cut);
    }
    let mut metadata = Map::new();
    metadata.insert("content_hash".into(), json!(memory.to_hex()));
    metadata.insert(
        "memory_type".into(),
        json!(row.get("memory_type").and_then(Value::as_str).filter(|t| !t.is_empty()).unwrap_or("standard")),
    );
    metadata.insert("tags".into(), json!(tags));
    metadata.insert("created_at".into(), row.get("created_at_iso").cloned().unwrap_or(Value::Null));
    metadata
}

/// Why the memory was archived, as of the event at `seq` (its last `Archived` event up to there).
fn archive_reason(history: &[Event], seq: Seq) -> Option<String> {
    history.iter().rev().filter(|e| e.seq <= seq).find_map(|e| match &e.kind {
        EventKind::Archived { reason } => Some(reason.clone()),
        _ => None,
    })?
}

/// Whether a key's history is a document upload's (whose events stay local), even once redacted.
fn is_upload(history: &[Event]) -> bool {
    history.first().is_some_and(|first| match &first.kind {
        EventKind::Erased { was } => was == "document_ingested",
        kind => kind.is_document(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_metadata_is_the_originals_and_fits_vectorize() {
        let memory = ContentHash::of_content("x");
        let mut row = Map::new();
        row.insert("tags".into(), json!(vec!["t".repeat(100); 200].join(",")));
        row.insert("created_at_iso".into(), json!("2026-01-01T00:00:00Z"));
        let metadata = vector_metadata(&memory, &row);
        assert_eq!(metadata["memory_type"], "standard");
        assert_eq!(metadata["content_hash"], memory.to_hex());
        assert!(serde_json::to_string(&metadata).expect("encodes").len() < 10 * 1024);
        assert!(metadata["tags"].as_str().expect("text").split(',').all(|t| t.len() == 100));
    }
}
