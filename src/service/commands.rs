//! Commands: store, update, delete (one or by filter), undelete, import. Each becomes events in the log.

use super::memory::Memory;
use super::queries::filter_of;
use super::time_expr::TimeRange;
use super::{Service, ServiceError, parse_hash};
use crate::embed::MODEL_NAME;
use mms_log::{
    Actor, AppendError, ContentHash, EventId, EventKind, Expect, MemoryMeta, MemoryRecord, NewEvent, Seq, Timestamp,
    VectorEntry, fold_history,
};
use mms_projections::DIMENSIONS;
use serde_json::{Map, Value};
use std::time::Duration;

/// How long a command waits for the read model to show its write before answering anyway.
const READ_YOUR_WRITES: Duration = Duration::from_secs(10);
/// How long a write waits for Cloudflare's confirmation with the cloudflare backend.
const REPLICA_ACKNOWLEDGE: Duration = Duration::from_secs(30);
/// The longest a write waits after its commit before it answers: for the read model, then for Cloudflare.
pub const LONGEST_ACKNOWLEDGEMENT: Duration = READ_YOUR_WRITES.saturating_add(REPLICA_ACKNOWLEDGE);
/// Events per append when deleting or importing many memories.
const CHUNK: usize = 500;

/// A memory to store.
#[derive(Clone, Debug, Default)]
pub struct StoreRequest {
    pub content: String,
    pub tags: Vec<String>,
    pub memory_type: Option<String>,
    pub metadata: Map<String, Value>,
    /// Creation time to keep (imports); now when absent.
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    /// Idempotency key of a retried request.
    pub event_id: Option<EventId>,
    /// The client's host name, used instead of the server's when MCP_MEMORY_INCLUDE_HOSTNAME is on.
    pub hostname: Option<String>,
    /// The content's vector from the same model, when the caller already has it (a migration from the
    /// original's database): cached with the event instead of embedding the content again.
    pub vector: Option<Vec<f32>>,
}

/// What a store did.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreOutcome {
    Stored(Box<Memory>),
    /// The same content (trimmed, case-insensitive) is already stored: nothing was written.
    Duplicate {
        content_hash: String,
    },
    /// A memory created within the semantic deduplication's window means nearly the same (its cosine
    /// similarity to the new content is at least the threshold): nothing was written.
    SemanticDuplicate {
        /// The memory it duplicates.
        content_hash: String,
        similarity: f64,
    },
}

impl StoreOutcome {
    /// The memory stored, or the memory it duplicates and what a client is told.
    pub fn stored(self) -> Result<Box<Memory>, (String, String)> {
        match self {
            StoreOutcome::Stored(memory) => Ok(memory),
            StoreOutcome::Duplicate { content_hash } => Err((content_hash, "Duplicate content detected".into())),
            StoreOutcome::SemanticDuplicate { content_hash, similarity } => {
                let message = format!(
                    "Duplicate content detected (semantically similar to {content_hash}, similarity {similarity:.3})"
                );
                Err((content_hash, message))
            }
        }
    }
}

/// Changes to a memory's tags, type or metadata; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct UpdateRequest {
    pub tags: Option<Vec<String>>,
    /// `Some(None)` clears the type.
    pub memory_type: Option<Option<String>>,
    /// Keys to set in the metadata object (merged; a null value removes the key).
    pub metadata: Option<Map<String, Value>>,
    /// Optimistic concurrency: fail if the memory is no longer at this version.
    pub expected_version: Option<u32>,
}

/// Which memories to delete in bulk. At least one condition is required.
#[derive(Clone, Debug, Default)]
pub struct DeleteRequest {
    pub tags: Vec<String>,
    pub match_all: bool,
    pub memory_type: Option<String>,
    pub created: Option<TimeRange>,
    pub dry_run: bool,
}

/// The longest reason a redaction records.
pub(super) const MAX_REASON_CHARS: usize = 1000;

/// What a redaction did.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Redaction {
    pub content_hash: String,
    /// The `redacted` event.
    pub seq: u64,
    pub at: String,
    /// Earlier events of the memory whose payload is now erased.
    pub events_erased: usize,
    /// Whether the memory was live (not deleted) before the redaction.
    pub was_live: bool,
    pub reason: Option<String>,
}

/// What a bulk delete did (or would do, on a dry run).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DeleteOutcome {
    pub matched: usize,
    pub deleted: usize,
    pub dry_run: bool,
    pub content_hashes: Vec<String>,
}

pub(super) fn clean_tags(tags: &[String]) -> Result<Vec<String>, ServiceError> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags.iter().flat_map(|t| t.split(',')) {
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > 200 {
            return Err(ServiceError::Invalid(format!(
                "tag '{}...' is longer than 200 characters",
                tag.chars().take(20).collect::<String>()
            )));
        }
        if !out.iter().any(|t| t == tag) {
            out.push(tag.to_string());
        }
    }
    Ok(out)
}

fn clean_type(memory_type: Option<&str>) -> Option<String> {
    memory_type.map(str::trim).filter(|t| !t.is_empty()).map(str::to_string)
}

impl Service {
    pub(super) fn check_content(&self, content: &str) -> Result<(), ServiceError> {
        if content.trim().is_empty() {
            return Err(ServiceError::Invalid("content must not be empty".into()));
        }
        let limit = self.inner.options.max_content_length;
        if content.len() > limit {
            return Err(ServiceError::Invalid(format!(
                "content is {} bytes, more than the limit of {limit} (MCP_SQLITEVEC_MAX_CONTENT_LENGTH); split it into several memories",
                content.len()
            )));
        }
        Ok(())
    }

    fn record(&self, request: &StoreRequest) -> Result<MemoryRecord, ServiceError> {
        self.check_content(&request.content)?;
        let mut tags = clean_tags(&request.tags)?;
        let mut metadata = request.metadata.clone();
        if let Some(server) = &self.inner.options.hostname {
            let host = request.hostname.as_deref().map(str::trim).filter(|h| !h.is_empty()).unwrap_or(server);
            let tag = format!("source:{host}");
            if !tags.contains(&tag) {
                tags.push(tag);
            }
            metadata.insert("hostname".into(), Value::String(host.to_string()));
        }
        let now = Timestamp::now();
        let created_at = request.created_at.unwrap_or(now);
        Ok(MemoryRecord {
            content: request.content.clone(),
            tags,
            memory_type: clean_type(request.memory_type.as_deref()),
            metadata: Value::Object(metadata).to_string(),
            created_at,
            updated_at: request.updated_at.unwrap_or(created_at),
        })
    }

    /// Stores a memory. The same content stored twice is reported as a duplicate, not an error.
    pub async fn store(&self, request: StoreRequest, actor: Actor) -> Result<StoreOutcome, ServiceError> {
        let record = self.record(&request)?;
        let hash = ContentHash::of_content(&record.content);
        let log = self.inner.log.clone();
        if log.head(&hash)?.is_some_and(|h| h.live) {
            return Ok(StoreOutcome::Duplicate { content_hash: hash.to_hex() });
        }
        let vectors = self.vectors_for(vec![(hash, record.content.clone())]).await?;
        if let Some(dedup) = self.inner.options.semantic_dedup
            && !request.metadata.contains_key("conversation_id")
            && record.memory_type.as_deref() != Some("session")
            && let Some(vector) = vectors.found.get(&hash)
            && let Some((content_hash, similarity)) = self.semantic_duplicate(vector.clone(), dedup).await?
        {
            return Ok(StoreOutcome::SemanticDuplicate { content_hash, similarity });
        }
        let vectors = vectors.to_cache;
        let event = NewEvent {
            event_id: request.event_id.unwrap_or_else(EventId::generate),
            actor,
            memory: hash,
            kind: EventKind::Stored(record.clone()),
            expect: Expect::Any,
        };
        let appended = match self.append(vec![event], vectors).await {
            Err(ServiceError::Conflict(_)) => return Ok(StoreOutcome::Duplicate { content_hash: hash.to_hex() }),
            other => other?,
        };
        self.settle(&appended).await?;
        Ok(StoreOutcome::Stored(Box::new(Memory::from_record(&hash.to_hex(), &record))))
    }

    /// Appends through the writer without blocking the runtime.
    pub(super) async fn append(
        &self,
        events: Vec<NewEvent>,
        vectors: Vec<VectorEntry>,
    ) -> Result<Vec<mms_log::Appended>, ServiceError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.log.submit(events, vectors, move |result| {
            let _ = tx.send(result);
        });
        Ok(rx.await.unwrap_or(Err(AppendError::Closed))?)
    }

    /// Waits for the read model to show the appended events (read-your-writes) and, with the cloudflare
    /// backend, for Cloudflare to have them: a write is acknowledged only then. When Cloudflare refuses the
    /// API token, the write is answered at once, not acknowledged: its event stays in the log and is pushed
    /// once the token is accepted again.
    pub(super) async fn settle(&self, appended: &[mms_log::Appended]) -> Result<(), ServiceError> {
        self.settle_locally(appended).await;
        let last = appended.iter().map(|a| a.seq).max().unwrap_or(Seq::ZERO);
        if let Some(replica) = self.inner.replica.get() {
            let mut replica = replica.clone();
            let decided = |r: &super::ReplicaProgress| {
                r.pushed >= last || r.refused.as_ref().is_some_and(|(through, _)| *through >= last)
            };
            let waited = tokio::time::timeout(REPLICA_ACKNOWLEDGE, replica.wait_for(decided)).await;
            let refused = match waited {
                Ok(Ok(progress)) if progress.pushed >= last => return Ok(()),
                Ok(Ok(progress)) => progress.refused.as_ref().map(|(_, why)| why.clone()),
                _ => None,
            };
            return Err(ServiceError::Unavailable(match refused {
                Some(why) => format!(
                    "the change is saved locally (event {last}) but not in Cloudflare: {why}; it is pushed once \
                     Cloudflare accepts the token again (GET /api/sync/status shows the sync's state)"
                ),
                None => format!(
                    "the change is saved locally (event {last}) but Cloudflare has not confirmed it within {} s; it \
                     is pushed as soon as Cloudflare answers (GET /api/sync/status shows why it has not)",
                    REPLICA_ACKNOWLEDGE.as_secs()
                ),
            }));
        }
        Ok(())
    }

    /// Waits for the read model to show the appended events (read-your-writes).
    pub(super) async fn settle_locally(&self, appended: &[mms_log::Appended]) {
        let last = appended.iter().map(|a| a.seq).max().unwrap_or(Seq::ZERO);
        if !self.wait_applied(last, READ_YOUR_WRITES).await {
            tracing::warn!(seq = last.0, "the read model is behind the log; the write is durable but not yet visible");
        }
    }

    /// The current state of a memory, from the log (the authority, never behind); None if it never existed.
    pub(super) async fn state(&self, hash: ContentHash) -> Result<Option<mms_log::MemoryState>, ServiceError> {
        let log = self.inner.log.clone();
        let history = tokio::task::spawn_blocking(move || log.history(&hash)).await??;
        Ok(fold_history(&history, Seq(u64::MAX)))
    }

    /// The current state of a live memory.
    pub(super) async fn live_state(&self, hash: ContentHash) -> Result<mms_log::MemoryState, ServiceError> {
        self.state(hash)
            .await?
            .filter(|s| s.live)
            .ok_or_else(|| ServiceError::NotFound(format!("memory {hash} not found")))
    }

    /// Changes tags, type or metadata. `created_at` is kept, `updated_at` moves to now.
    pub async fn update(&self, hash: &str, request: UpdateRequest, actor: Actor) -> Result<Memory, ServiceError> {
        let hash = parse_hash(hash)?;
        if request.tags.is_none() && request.memory_type.is_none() && request.metadata.is_none() {
            return Err(ServiceError::Invalid("nothing to update: give tags, memory_type or metadata".into()));
        }
        let tags = request.tags.as_deref().map(clean_tags).transpose()?;
        // A concurrent update between our read and our append is detected by the expected version; the
        // update is then recomputed on the newer state, unless the caller pinned a version.
        for _ in 0..5 {
            let state = self.live_state(hash).await?;
            if let Some(expected) = request.expected_version
                && expected != state.version
            {
                return Err(ServiceError::Conflict(format!(
                    "memory {hash} is at version {}, not the expected {expected}; read it again and retry",
                    state.version
                )));
            }
            let before = state.record.meta();
            let mut metadata: Map<String, Value> = serde_json::from_str(&before.metadata).unwrap_or_default();
            for (key, value) in request.metadata.clone().unwrap_or_default() {
                if value.is_null() {
                    metadata.remove(&key);
                } else {
                    metadata.insert(key, value);
                }
            }
            let after = MemoryMeta {
                tags: tags.clone().unwrap_or_else(|| before.tags.clone()),
                memory_type: match &request.memory_type {
                    Some(t) => clean_type(t.as_deref()),
                    None => before.memory_type.clone(),
                },
                metadata: Value::Object(metadata).to_string(),
                updated_at: Timestamp::now().max(before.updated_at),
            };
            let event = NewEvent {
                event_id: EventId::generate(),
                actor: actor.clone(),
                memory: hash,
                kind: EventKind::Updated { before, after: after.clone() },
                expect: Expect::Version(state.version),
            };
            match self.append(vec![event], Vec::new()).await {
                Ok(appended) => {
                    self.settle(&appended).await?;
                    return Ok(Memory::from_record(&hash.to_hex(), &state.record.with_meta(&after)));
                }
                Err(ServiceError::Conflict(_)) if request.expected_version.is_none() => continue,
                Err(error) => return Err(error),
            }
        }
        Err(ServiceError::Conflict(format!("memory {hash} is changing too fast to update; retry")))
    }

    /// Deletes one memory. Its history stays in the log.
    pub async fn delete(&self, hash: &str, expected_version: Option<u32>, actor: Actor) -> Result<(), ServiceError> {
        let hash = parse_hash(hash)?;
        let event = NewEvent {
            event_id: EventId::generate(),
            actor,
            memory: hash,
            kind: EventKind::Deleted { reason: None },
            expect: expected_version.map_or(Expect::Any, Expect::Version),
        };
        let appended = self.append(vec![event], Vec::new()).await?;
        self.settle(&appended).await?;
        Ok(())
    }

    /// Brings a deleted memory back as it was when deleted.
    pub async fn undelete(&self, hash: &str, actor: Actor) -> Result<Memory, ServiceError> {
        let hash = parse_hash(hash)?;
        let Some(state) = self.state(hash).await? else {
            let log = self.inner.log.clone();
            let existed = tokio::task::spawn_blocking(move || log.head(&hash)).await??.is_some();
            return Err(match existed {
                true => ServiceError::Conflict(format!("memory {hash} was redacted: its content is gone for good")),
                false => ServiceError::NotFound(format!("memory {hash} has never existed")),
            });
        };
        if state.live {
            return Err(ServiceError::Conflict(format!("memory {hash} is not deleted")));
        }
        let event = NewEvent {
            event_id: EventId::generate(),
            actor,
            memory: hash,
            kind: EventKind::Undeleted(state.record.clone()),
            expect: Expect::Version(state.version),
        };
        let appended = self.append(vec![event], Vec::new()).await?;
        self.settle(&appended).await?;
        Ok(Memory::from_record(&hash.to_hex(), &state.record))
    }

    /// Forgets a memory for real: appends a `Redacted` event, and in the same commit the log erases the
    /// content, tags, type, metadata and vector from every earlier event of it (see `mms_log::redact`).
    /// The read model and the ANN index drop it; backups are the caller's to scrub.
    pub async fn redact(&self, hash: &str, reason: Option<String>, actor: Actor) -> Result<Redaction, ServiceError> {
        let hash = parse_hash(hash)?;
        let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
            return Err(ServiceError::Invalid(format!("a redaction reason is at most {MAX_REASON_CHARS} characters")));
        }
        let was_live = self.state(hash).await?.is_some_and(|s| s.live);
        let event = NewEvent {
            event_id: EventId::generate(),
            actor,
            memory: hash,
            kind: EventKind::Redacted { reason: reason.clone() },
            expect: Expect::Any,
        };
        let appended = self.append(vec![event], Vec::new()).await?;
        self.forget_past_views();
        self.settle(&appended).await?;
        let log = self.inner.log.clone();
        let history = tokio::task::spawn_blocking(move || log.history(&hash)).await??;
        let events_erased = history.iter().filter(|e| matches!(e.kind, EventKind::Erased { .. })).count();
        Ok(Redaction {
            content_hash: hash.to_hex(),
            seq: appended[0].seq.0,
            at: mms_projections::iso_utc(appended[0].at.0),
            events_erased,
            was_live,
            reason,
        })
    }

    /// Drops the read models materialised for `as_of` queries: a redaction must not survive in them.
    pub(super) fn forget_past_views(&self) {
        self.inner.past.forget();
    }

    /// Deletes every memory matching tags and/or a creation-time range; a dry run only counts.
    pub async fn delete_where(&self, request: DeleteRequest, actor: Actor) -> Result<DeleteOutcome, ServiceError> {
        let tags = clean_tags(&request.tags)?;
        let memory_type = clean_type(request.memory_type.as_deref());
        if tags.is_empty() && memory_type.is_none() && request.created.is_none() {
            return Err(ServiceError::Invalid(
                "a bulk delete needs at least one condition: tags, a memory type, a time range or a date to delete before"
                    .into(),
            ));
        }
        let filter = filter_of(&tags, request.match_all, &memory_type, &request.created);
        let hashes = self.blocking(move |inner| Ok(inner.reader.hashes(&filter)?)).await?;
        let matched = hashes.len();
        if request.dry_run {
            return Ok(DeleteOutcome { matched, deleted: 0, dry_run: true, content_hashes: hashes });
        }
        let mut deleted = 0;
        let mut last = Vec::new();
        for chunk in hashes.chunks(CHUNK) {
            let events = chunk
                .iter()
                .map(|hash| {
                    Ok(NewEvent {
                        event_id: EventId::generate(),
                        actor: actor.clone(),
                        memory: parse_hash(hash)?,
                        kind: EventKind::Deleted { reason: None },
                        expect: Expect::Any,
                    })
                })
                .collect::<Result<Vec<_>, ServiceError>>()?;
            match self.append(events.clone(), Vec::new()).await {
                Ok(appended) => {
                    deleted += appended.len();
                    last = appended;
                }
                // A memory of the chunk was deleted by someone else meanwhile: delete the rest one by one.
                Err(ServiceError::NotFound(_)) => {
                    for event in events {
                        match self.append(vec![event], Vec::new()).await {
                            Ok(appended) => {
                                deleted += 1;
                                last = appended;
                            }
                            Err(ServiceError::NotFound(_)) => {}
                            Err(error) => return Err(error),
                        }
                    }
                }
                Err(error) => return Err(error),
            }
        }
        self.settle(&last).await?;
        Ok(DeleteOutcome { matched, deleted, dry_run: false, content_hashes: hashes })
    }

    /// Renames a tag on every memory that carries it (exactly); a memory that already has the new tag keeps
    /// one copy. Returns how many memories changed.
    pub async fn rename_tag(&self, old: &str, new: &str, actor: Actor) -> Result<usize, ServiceError> {
        let (old, new) = (old.trim().to_string(), clean_tags(&[new.to_string()])?);
        let [new] = <[String; 1]>::try_from(new)
            .map_err(|_| ServiceError::Invalid("the new tag must be one non-empty tag without commas".into()))?;
        if old.is_empty() {
            return Err(ServiceError::Invalid("the tag to rename must not be empty".into()));
        }
        let filter = filter_of(std::slice::from_ref(&old), false, &None, &None);
        let hashes = self.blocking(move |inner| Ok(inner.reader.hashes(&filter)?)).await?;
        let mut changed = 0;
        for hash in hashes {
            // Retried on a concurrent change, so tags set meanwhile are never overwritten with older ones.
            for _ in 0..5 {
                let state = match self.live_state(parse_hash(&hash)?).await {
                    Ok(state) => state,
                    Err(ServiceError::NotFound(_)) => break,
                    Err(error) => return Err(error),
                };
                let mut tags: Vec<String> = Vec::with_capacity(state.record.tags.len());
                for tag in &state.record.tags {
                    let tag = if *tag == old { new.clone() } else { tag.clone() };
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                if tags == state.record.tags {
                    break;
                }
                let request = UpdateRequest {
                    tags: Some(tags),
                    expected_version: Some(state.version),
                    ..UpdateRequest::default()
                };
                match self.update(&hash, request, actor.clone()).await {
                    Ok(_) => {
                        changed += 1;
                        break;
                    }
                    Err(ServiceError::NotFound(_)) => break,
                    Err(ServiceError::Conflict(_)) => continue,
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(changed)
    }

    /// Stores many memories (an import), embedding in batches; duplicates are skipped and counted.
    /// `progress(done, total)` is called after each batch. Returns (stored, duplicates).
    pub async fn store_many(
        &self,
        requests: Vec<StoreRequest>,
        actor: Actor,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(usize, usize), ServiceError> {
        let total = requests.len();
        // Every memory is checked before the first is stored, so a bad one stores nothing.
        for request in &requests {
            self.record(request)?;
        }
        let (mut stored, mut duplicates, mut done) = (0, 0, 0);
        for chunk in requests.chunks(64) {
            let mut records = Vec::with_capacity(chunk.len());
            let mut given = Vec::new();
            for request in chunk {
                let record = self.record(request)?;
                let hash = ContentHash::of_content(&record.content);
                let log = self.inner.log.clone();
                let live = log.head(&hash)?.is_some_and(|h| h.live);
                if live || records.iter().any(|(h, _, _): &(ContentHash, MemoryRecord, Option<EventId>)| *h == hash) {
                    duplicates += 1;
                    continue;
                }
                if let Some(vector) = &request.vector {
                    if vector.len() != DIMENSIONS || !vector.iter().all(|x| x.is_finite()) {
                        return Err(ServiceError::Invalid(format!(
                            "the vector given for memory {hash} has {} dimensions or a non-finite value; {MODEL_NAME} has {DIMENSIONS}",
                            vector.len()
                        )));
                    }
                    given.push(VectorEntry { model: MODEL_NAME.into(), memory: hash, vector: vector.clone() });
                }
                records.push((hash, record, request.event_id));
            }
            let items: Vec<(ContentHash, String)> = records
                .iter()
                .filter(|(h, _, _)| !given.iter().any(|v| v.memory == *h))
                .map(|(h, r, _)| (*h, r.content.clone()))
                .collect();
            let mut vectors = self.vectors_for(items).await?.to_cache;
            vectors.extend(given);
            let events: Vec<NewEvent> = records
                .into_iter()
                .map(|(hash, record, event_id)| NewEvent {
                    event_id: event_id.unwrap_or_else(EventId::generate),
                    actor: actor.clone(),
                    memory: hash,
                    kind: EventKind::Stored(record),
                    expect: Expect::Any,
                })
                .collect();
            match self.append(events.clone(), vectors.clone()).await {
                Ok(appended) => {
                    stored += appended.iter().filter(|a| a.fresh).count();
                    duplicates += appended.iter().filter(|a| !a.fresh).count();
                    self.settle(&appended).await?;
                }
                // Someone stored one of these meanwhile: fall back to one append per memory, each with its
                // vector, so nothing embedded here is embedded again by the projector.
                Err(ServiceError::Conflict(_)) => {
                    for event in events {
                        let vector = vectors.iter().filter(|v| v.memory == event.memory).cloned().collect();
                        match self.append(vec![event], vector).await {
                            Ok(appended) => {
                                stored += 1;
                                self.settle(&appended).await?;
                            }
                            Err(ServiceError::Conflict(_)) => duplicates += 1,
                            Err(error) => return Err(error),
                        }
                    }
                }
                Err(error) => return Err(error),
            }
            done += chunk.len();
            progress(done, total);
        }
        Ok((stored, duplicates))
    }
}
