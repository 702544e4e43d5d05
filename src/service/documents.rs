//! Documents: a file becomes chunk memories and an upload record in ONE append, so that a crash leaves the
//! whole upload or nothing; removing it deletes its chunks and records the removal in one append too.
//! Uploads in progress (and failed ones, which wrote nothing) are tracked in memory for the status route.

use super::commands::clean_tags;
use super::{Service, ServiceError};
use crate::embed::{MAX_WORD_PIECES, MODEL_NAME};
use crate::ingest::chunk::ChunkOptions;
use crate::ingest::{Document, prepare};
use mms_log::{
    Actor, ContentHash, DocumentUpload, EventId, EventKind, Expect, MemoryRecord, NewEvent, Timestamp, VectorEntry,
};
use mms_projections::{UploadRow, iso_utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

/// Chunks embedded per request to the model: a search waits for one such batch at most. Chunks of up to
/// 256 word pieces embed at the same rate one by one as in batches (the model is compute-bound on them), so
/// batches stay small: 2 chunks take about 85 ms here.
const EMBED_BATCH: usize = 2;
/// How long a failed upload's status is kept here (nothing of it is in the log): a day, as the original
/// kept every status.
const FAILED_KEPT: Duration = Duration::from_secs(24 * 3600);
/// How long a completed upload's status is kept here: until the read model has surely applied it (it is
/// read there first, and the copy holds every chunk's hash).
const COMPLETED_KEPT: Duration = Duration::from_secs(600);
/// How often an append refused because a chunk was stored meanwhile is tried again.
const APPEND_TRIES: usize = 3;

/// A file to ingest.
#[derive(Clone, Debug)]
pub struct IngestRequest {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub tags: Vec<String>,
    pub chunk_size: usize,
    pub chunk_overlap: usize,
    /// `document` when absent.
    pub memory_type: Option<String>,
    /// Ingest even when the same file (by sha256) is already ingested.
    pub force: bool,
    /// Only report what would be stored.
    pub dry_run: bool,
}

/// An upload as every interface shows it: the original's status fields, plus what the log records.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Upload {
    pub upload_id: String,
    /// queued, processing, completed, failed or removed.
    pub status: String,
    pub filename: String,
    pub file_size: u64,
    pub file_type: String,
    pub sha256: String,
    /// Chunks read from the file.
    pub total_chunks: usize,
    pub chunks_processed: usize,
    /// Memories this upload created.
    pub chunks_stored: usize,
    /// Chunks whose content was already stored.
    pub duplicates: usize,
    /// 0 to 100.
    pub progress: f64,
    pub errors: Vec<String>,
    pub pages: u32,
    pub tags: Vec<String>,
    pub memory_type: String,
    pub chunk_size: usize,
    pub chunk_overlap: usize,
    /// Who ingested it: "interface" or "interface:id".
    pub actor: String,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub removed_at: Option<String>,
    pub chunks_deleted: Option<u32>,
    /// The log's `document_ingested` event.
    pub seq: Option<u64>,
    /// The key the upload's own events are recorded under: its audit trail is the history of this hash
    /// (`GET /api/memories/{record_hash}/history`, `history <record_hash>`).
    pub record_hash: String,
    /// Hashes of the memories it created, in chunk order.
    pub content_hashes: Vec<String>,
}

/// What redacting an upload did.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UploadRedaction {
    pub upload_id: String,
    /// The upload's memories whose content is now erased from the log.
    pub memories_redacted: usize,
    /// The last `redacted` event (the upload's record).
    pub seq: u64,
}

/// What an ingest did.
#[derive(Clone, Debug, PartialEq)]
pub enum IngestOutcome {
    Ingested(Box<Upload>),
    /// The same file (by sha256) was ingested before and not removed; nothing was written.
    AlreadyIngested(Box<Upload>),
    /// A dry run: what would be stored.
    Planned {
        file_type: String,
        pages: u32,
        chunks: usize,
        duplicates: usize,
        split: usize,
    },
}

/// Uploads being processed, and finished ones (for a day), by upload id.
pub(super) struct Jobs {
    running: Mutex<HashMap<String, (Upload, Option<std::time::Instant>)>>,
    notices: broadcast::Sender<(&'static str, Value)>,
}

impl Jobs {
    pub(super) fn new() -> Jobs {
        Jobs { running: Mutex::new(HashMap::new()), notices: broadcast::channel(256).0 }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (Upload, Option<std::time::Instant>)>) -> T) -> T {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        running.retain(|_, (upload, finished)| {
            let kept = if upload.status == "failed" { FAILED_KEPT } else { COMPLETED_KEPT };
            finished.is_none_or(|at| at.elapsed() < kept)
        });
        f(&mut running)
    }

    fn update(&self, upload_id: &str, change: impl FnOnce(&mut Upload)) {
        let snapshot = self.with(|running| {
            running.get_mut(upload_id).map(|(upload, _)| {
                change(upload);
                upload.clone()
            })
        });
        if let Some(upload) = snapshot {
            let _ = self.notices.send(("document_progress", progress_notice(&upload)));
        }
    }
}

fn progress_notice(upload: &Upload) -> Value {
    json!({
        "upload_id": upload.upload_id,
        "filename": upload.filename,
        "status": upload.status,
        "chunks_processed": upload.chunks_processed,
        "total_chunks": upload.total_chunks,
        "progress": upload.progress,
        "errors": upload.errors,
    })
}

fn now_iso() -> String {
    iso_utc(Timestamp::now().0)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Upload {
    fn queued(upload_id: &str, request: &IngestRequest, actor: &Actor) -> Upload {
        Upload {
            upload_id: upload_id.to_string(),
            status: "queued".into(),
            filename: request.file_name.clone(),
            file_size: request.bytes.len() as u64,
            file_type: String::new(),
            sha256: String::new(),
            total_chunks: 0,
            chunks_processed: 0,
            chunks_stored: 0,
            duplicates: 0,
            progress: 0.0,
            errors: Vec::new(),
            pages: 0,
            tags: request.tags.clone(),
            memory_type: request.memory_type.clone().unwrap_or_else(|| "document".into()),
            chunk_size: request.chunk_size,
            chunk_overlap: request.chunk_overlap,
            actor: actor.label(),
            created_at: now_iso(),
            completed_at: None,
            removed_at: None,
            chunks_deleted: None,
            seq: None,
            content_hashes: Vec::new(),
            record_hash: ContentHash::of_upload(upload_id).to_hex(),
        }
    }
}

impl From<UploadRow> for Upload {
    fn from(row: UploadRow) -> Upload {
        let ingested = iso_utc((row.ingested_at * 1e6) as i64);
        Upload {
            record_hash: ContentHash::of_upload(&row.upload_id).to_hex(),
            status: if row.removed.is_some() { "removed" } else { "completed" }.into(),
            upload_id: row.upload_id,
            filename: row.file_name,
            file_size: row.size,
            file_type: row.file_type,
            sha256: row.sha256,
            total_chunks: row.chunks.len() + row.duplicates as usize,
            chunks_processed: row.chunks.len() + row.duplicates as usize,
            chunks_stored: row.chunks.len(),
            duplicates: row.duplicates as usize,
            progress: 100.0,
            errors: Vec::new(),
            pages: row.pages,
            tags: row.tags,
            memory_type: row.memory_type,
            chunk_size: row.chunk_size as usize,
            chunk_overlap: row.chunk_overlap as usize,
            actor: row.actor,
            created_at: ingested.clone(),
            completed_at: Some(ingested),
            removed_at: row.removed.map(|(at, _)| iso_utc((at * 1e6) as i64)),
            chunks_deleted: row.removed.map(|(_, n)| n),
            seq: Some(row.ingested_seq),
            content_hashes: row.chunks,
        }
    }
}

/// A chunk ready to append.
struct Prepared {
    hash: ContentHash,
    record: MemoryRecord,
}

impl Service {
    /// The SSE notices of document processing (`document_progress`), for the event stream.
    pub fn document_notices(&self) -> broadcast::Receiver<(&'static str, Value)> {
        self.inner.jobs.notices.subscribe()
    }

    /// The chunking options a request gets when it names none (MCP_DOCUMENT_CHUNK_SIZE / _OVERLAP).
    pub fn default_chunking(&self) -> (usize, usize) {
        (self.inner.options.chunk_size, self.inner.options.chunk_overlap)
    }

    /// The largest document one upload may send, in bytes.
    pub fn max_file_bytes(&self) -> usize {
        self.inner.options.max_file_bytes
    }

    /// The directories remote MCP clients may ingest files from.
    pub fn document_roots(&self) -> Vec<std::path::PathBuf> {
        self.inner.options.document_roots.clone()
    }

    /// Registers an upload as queued and returns its id; [`Service::ingest_queued`] processes it.
    pub fn queue_upload(&self, request: &IngestRequest, actor: &Actor) -> String {
        let upload_id = uuid::Uuid::new_v4().to_string();
        let upload = Upload::queued(&upload_id, request, actor);
        self.inner.jobs.with(|running| running.insert(upload_id.clone(), (upload, None)));
        upload_id
    }

    /// Processes an upload queued by [`Service::queue_upload`], tracking its progress for the status route
    /// and the event stream. A failure is kept as the upload's status.
    pub async fn ingest_queued(&self, upload_id: String, request: IngestRequest, actor: Actor) {
        let jobs = &self.inner.jobs;
        jobs.update(&upload_id, |u| u.status = "processing".into());
        let progress = |done: usize, total: usize| {
            jobs.update(&upload_id, |u| {
                u.chunks_processed = done;
                u.total_chunks = total;
                u.progress = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
            })
        };
        let outcome = self.ingest_as(&upload_id, request, actor, progress).await;
        let finished = match outcome {
            Ok(IngestOutcome::Ingested(upload)) => Ok(*upload),
            Ok(IngestOutcome::AlreadyIngested(existing)) => Err(format!(
                "this file (sha256 {}) was ingested before as upload {} ({}); send force=true to ingest it again",
                existing.sha256, existing.upload_id, existing.filename
            )),
            Ok(IngestOutcome::Planned { .. }) => Err("a dry run stores nothing".to_string()),
            Err(ServiceError::Internal(cause)) => {
                tracing::error!(upload_id, error = %cause, "document ingestion failed");
                Err("internal error".to_string())
            }
            Err(error) => Err(error.to_string()),
        };
        match finished {
            Ok(done) => {
                // Kept here too: the read model may still be applying a large upload after `settle` stopped
                // waiting; once it has the upload, the status route reads it there.
                let _ = jobs.notices.send(("document_progress", progress_notice(&done)));
                jobs.with(|running| running.insert(upload_id.clone(), (done, Some(std::time::Instant::now()))));
            }
            Err(message) => {
                jobs.update(&upload_id, |u| {
                    u.status = "failed".into();
                    u.errors.push(message);
                    u.completed_at = Some(now_iso());
                });
                jobs.with(|running| {
                    if let Some(entry) = running.get_mut(&upload_id) {
                        entry.1 = Some(std::time::Instant::now());
                    }
                });
            }
        }
    }

    /// Ingests a file at once (MCP, CLI): its chunks and its upload record in one append.
    pub async fn ingest(
        &self,
        request: IngestRequest,
        actor: Actor,
        progress: impl Fn(usize, usize),
    ) -> Result<IngestOutcome, ServiceError> {
        let upload_id = uuid::Uuid::new_v4().to_string();
        self.ingest_as(&upload_id, request, actor, progress).await
    }

    async fn ingest_as(
        &self,
        upload_id: &str,
        request: IngestRequest,
        actor: Actor,
        progress: impl Fn(usize, usize),
    ) -> Result<IngestOutcome, ServiceError> {
        let tags = clean_tags(&request.tags)?;
        let sha256 = sha256_hex(&request.bytes);
        if !request.force {
            let reader = self.inner.reader.clone();
            let known = sha256.clone();
            if let Some(existing) = self.blocking(move |_| Ok(reader.upload_of_file(&known)?)).await? {
                return Ok(IngestOutcome::AlreadyIngested(Box::new(existing.into())));
            }
        }
        let document = self.read_document(&request, true).await?;
        let memory_type = request.memory_type.clone().filter(|t| !t.trim().is_empty()).unwrap_or("document".into());
        let mut chunks = self.chunk_records(upload_id, &request, &document, &tags, &memory_type)?;
        let total = chunks.len();
        let mut duplicates = self.drop_live(&mut chunks)?;
        if request.dry_run {
            return Ok(IngestOutcome::Planned {
                file_type: document.file_type.extension().to_string(),
                pages: document.pages,
                chunks: chunks.len(),
                duplicates,
                split: document.split,
            });
        }
        progress(duplicates, total);
        let mut vectors = Vec::with_capacity(chunks.len());
        for batch in chunks.chunks(EMBED_BATCH) {
            let texts = batch.iter().map(|c| c.record.content.clone()).collect();
            let embedded = self.inner.embedder.embed_background(texts).await?;
            vectors.extend(batch.iter().zip(embedded).map(|(chunk, vector)| VectorEntry {
                model: MODEL_NAME.into(),
                memory: chunk.hash,
                vector,
            }));
            progress(duplicates + vectors.len(), total);
        }
        let upload = |chunks: &[Prepared], duplicates: usize| DocumentUpload {
            upload_id: upload_id.to_string(),
            file_name: request.file_name.clone(),
            file_type: document.file_type.extension().to_string(),
            size: request.bytes.len() as u64,
            sha256: sha256.clone(),
            tags: tags.clone(),
            memory_type: memory_type.clone(),
            chunk_size: request.chunk_size as u32,
            chunk_overlap: request.chunk_overlap as u32,
            pages: document.pages,
            chunks: chunks.iter().map(|c| c.hash).collect(),
            duplicates: duplicates as u32,
        };
        for _ in 0..APPEND_TRIES {
            let record = upload(&chunks, duplicates);
            let mut events: Vec<NewEvent> = chunks
                .iter()
                .map(|chunk| NewEvent {
                    event_id: EventId::generate(),
                    actor: actor.clone(),
                    memory: chunk.hash,
                    kind: EventKind::Stored(chunk.record.clone()),
                    expect: Expect::Any,
                })
                .collect();
            events.push(NewEvent {
                event_id: EventId::generate(),
                actor: actor.clone(),
                memory: ContentHash::of_upload(upload_id),
                kind: EventKind::DocumentIngested(record.clone()),
                expect: Expect::Any,
            });
            match self.append(events, vectors.clone()).await {
                Ok(appended) => {
                    self.settle(&appended).await?;
                    // Answered from the record itself: a large upload may still be on its way into the
                    // read model when `settle` stops waiting.
                    let last = appended.last().ok_or_else(|| ServiceError::internal("an append of no event"))?;
                    let row = UploadRow {
                        upload_id: record.upload_id,
                        file_name: record.file_name,
                        file_type: record.file_type,
                        size: record.size,
                        sha256: record.sha256,
                        tags: record.tags,
                        memory_type: record.memory_type,
                        chunk_size: record.chunk_size,
                        chunk_overlap: record.chunk_overlap,
                        pages: record.pages,
                        chunks: record.chunks.iter().map(ContentHash::to_hex).collect(),
                        duplicates: record.duplicates,
                        actor: actor.label(),
                        ingested_at: last.at.as_secs_f64(),
                        ingested_seq: last.seq.0,
                        removed: None,
                    };
                    return Ok(IngestOutcome::Ingested(Box::new(row.into())));
                }
                // A chunk's content was stored by someone else meanwhile: it is a duplicate now.
                Err(ServiceError::Conflict(_)) => {
                    duplicates += self.drop_live(&mut chunks)?;
                    let kept: HashSet<ContentHash> = chunks.iter().map(|c| c.hash).collect();
                    vectors.retain(|v| kept.contains(&v.memory));
                }
                Err(error) => return Err(error),
            }
        }
        Err(ServiceError::Conflict(format!(
            "{}: other writers kept storing this document's chunks; try again",
            request.file_name
        )))
    }

    /// Checks that a document can be ingested as asked (its type, its content, the chunking) without
    /// storing anything: the upload routes answer a bad file at once rather than in its status.
    pub async fn check_document(&self, request: &IngestRequest) -> Result<(), ServiceError> {
        clean_tags(&request.tags)?;
        self.read_document(request, false).await.map(drop)
    }

    /// Extracts and chunks the file off the async runtime; `fit` splits the chunks longer than the model's
    /// window (which counts every chunk's word pieces).
    async fn read_document(&self, request: &IngestRequest, fit: bool) -> Result<Document, ServiceError> {
        let options = ChunkOptions { chunk_size: request.chunk_size, chunk_overlap: request.chunk_overlap };
        let (name, bytes, embedder) = (request.file_name.clone(), request.bytes.clone(), self.inner.embedder.clone());
        let document = tokio::task::spawn_blocking(move || {
            // A text fits when the model reads all of it; if the tokenizer cannot load, nothing can be
            // embedded anyway and the embedding step reports why.
            let fits = |text: &str| !fit || embedder.word_pieces(text).is_ok_and(|n| n <= MAX_WORD_PIECES);
            prepare(&name, &bytes, &options, fits)
        })
        .await?;
        document.map_err(|e| ServiceError::Invalid(e.to_string()))
    }

    /// The memories of a document's pieces, with the original's tags and metadata; repeated pieces once.
    fn chunk_records(
        &self,
        upload_id: &str,
        request: &IngestRequest,
        document: &Document,
        tags: &[String],
        memory_type: &str,
    ) -> Result<Vec<Prepared>, ServiceError> {
        let now = Timestamp::now();
        let file_type = document.file_type.extension();
        let mut chunk_tags = tags.to_vec();
        for tag in [
            format!("source_file:{}", request.file_name),
            format!("file_type:{file_type}"),
            format!("upload_id:{upload_id}"),
        ] {
            if !chunk_tags.contains(&tag) {
                chunk_tags.push(tag);
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(document.pieces.len());
        for piece in &document.pieces {
            let hash = ContentHash::of_content(&piece.text);
            if piece.text.trim().is_empty() || !seen.insert(hash) {
                continue;
            }
            let mut metadata = Map::new();
            metadata.insert("upload_id".into(), upload_id.into());
            metadata.insert("source_file".into(), request.file_name.clone().into());
            metadata.insert("file_type".into(), file_type.into());
            metadata.insert("chunk_index".into(), piece.index.into());
            metadata.insert("total_chunks".into(), document.pieces.len().into());
            if let Some(page) = piece.page {
                metadata.insert("page".into(), page.into());
            }
            let record = MemoryRecord {
                content: piece.text.clone(),
                tags: chunk_tags.clone(),
                memory_type: Some(memory_type.to_string()),
                metadata: Value::Object(metadata).to_string(),
                created_at: now,
                updated_at: now,
            };
            self.check_content(&record.content)?;
            out.push(Prepared { hash, record });
        }
        Ok(out)
    }

    /// Drops the chunks whose content is stored and live already; returns how many.
    fn drop_live(&self, chunks: &mut Vec<Prepared>) -> Result<usize, ServiceError> {
        let before = chunks.len();
        let log = &self.inner.log;
        let mut failure = None;
        chunks.retain(|c| match log.head(&c.hash) {
            Ok(head) => !head.is_some_and(|h| h.live),
            Err(error) => {
                failure = Some(error);
                true
            }
        });
        if let Some(error) = failure {
            return Err(error.into());
        }
        Ok(before - chunks.len())
    }

    /// An upload by id: as the read model records it (finished, perhaps removed since), else as tracked here
    /// (in progress, failed, or finished but not in the read model yet).
    pub async fn upload(&self, upload_id: &str) -> Result<Upload, ServiceError> {
        let reader = self.inner.reader.clone();
        let id = upload_id.to_string();
        if let Some(row) = self.blocking(move |_| Ok(reader.upload(&id)?)).await? {
            return Ok(row.into());
        }
        self.inner
            .jobs
            .with(|running| running.get(upload_id).map(|(upload, _)| upload.clone()))
            .ok_or_else(|| ServiceError::NotFound(format!("upload {upload_id} not found")))
    }

    /// Uploads, newest first: those in progress or failed, and those in the log (removed ones included).
    pub async fn uploads(&self, limit: usize) -> Result<Vec<Upload>, ServiceError> {
        let reader = self.inner.reader.clone();
        let rows = self.blocking(move |_| Ok(reader.uploads(limit)?)).await?;
        let recorded: HashSet<String> = rows.iter().map(|r| r.upload_id.clone()).collect();
        let mut out: Vec<Upload> = self.inner.jobs.with(|running| {
            running.values().filter(|(u, _)| !recorded.contains(&u.upload_id)).map(|(u, _)| u.clone()).collect()
        });
        out.extend(rows.into_iter().map(Upload::from));
        // ISO times of one form sort as text; the running and failed ones fall in among the finished ones.
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        out.truncate(limit);
        Ok(out)
    }

    /// Removes an upload: deletes its chunks that are still live (unless `keep_memories`) and records the
    /// removal, in one append. Returns the upload as it is now.
    pub async fn remove_upload(
        &self,
        upload_id: &str,
        keep_memories: bool,
        reason: Option<String>,
        actor: Actor,
    ) -> Result<Upload, ServiceError> {
        let upload = self.upload(upload_id).await?;
        match upload.status.as_str() {
            "completed" => {}
            "removed" => return Err(ServiceError::Conflict(format!("upload {upload_id} was removed already"))),
            status => {
                return Err(ServiceError::Conflict(format!(
                    "upload {upload_id} is {status}; only a completed upload can be removed"
                )));
            }
        }
        let mut events = Vec::new();
        if !keep_memories {
            for hash in &upload.content_hashes {
                let hash = super::parse_hash(hash)?;
                if self.inner.log.head(&hash)?.is_some_and(|h| h.live) {
                    events.push(NewEvent {
                        event_id: EventId::generate(),
                        actor: actor.clone(),
                        memory: hash,
                        kind: EventKind::Deleted { reason: Some(format!("document upload {upload_id} removed")) },
                        expect: Expect::Any,
                    });
                }
            }
        }
        let chunks_deleted = events.len() as u32;
        events.push(NewEvent {
            event_id: EventId::generate(),
            actor,
            memory: ContentHash::of_upload(upload_id),
            kind: EventKind::DocumentRemoved { reason, chunks_deleted },
            // The key's first event is the ingest; anything after it (a removal, a redaction) ends it.
            expect: Expect::Version(1),
        });
        let appended = match self.append(events, Vec::new()).await {
            Err(ServiceError::Conflict(_)) => {
                return Err(ServiceError::Conflict(format!(
                    "upload {upload_id} or one of its memories changed meanwhile; try again"
                )));
            }
            other => other?,
        };
        self.settle(&appended).await?;
        self.upload(upload_id).await
    }

    /// Forgets an upload for real: every memory it created (live or deleted) and its own record (the file's
    /// name, size and hash) are redacted in ONE append, so the log's file is rewritten once. Backups are the
    /// caller's to scrub (`Backups::redact_upload`). The upload is gone from the status and history after.
    pub async fn redact_upload(
        &self,
        upload_id: &str,
        reason: Option<String>,
        actor: Actor,
    ) -> Result<UploadRedaction, ServiceError> {
        let upload = self.upload(upload_id).await?;
        if !matches!(upload.status.as_str(), "completed" | "removed") {
            return Err(ServiceError::Conflict(format!(
                "upload {upload_id} is {}; wait until it is done",
                upload.status
            )));
        }
        let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        let mut events = Vec::new();
        for hash in &upload.content_hashes {
            let hash = super::parse_hash(hash)?;
            // A chunk redacted on its own already folds to nothing; it has nothing left to erase.
            if self.state(hash).await?.is_some() {
                events.push(NewEvent {
                    event_id: EventId::generate(),
                    actor: actor.clone(),
                    memory: hash,
                    kind: EventKind::Redacted { reason: reason.clone() },
                    expect: Expect::Any,
                });
            }
        }
        let memories_redacted = events.len();
        events.push(NewEvent {
            event_id: EventId::generate(),
            actor,
            memory: ContentHash::of_upload(upload_id),
            kind: EventKind::Redacted { reason },
            expect: Expect::Any,
        });
        let appended = self.append(events, Vec::new()).await?;
        self.forget_past_views();
        // Its status kept here since it finished would still name the file.
        self.inner.jobs.with(|running| running.remove(upload_id));
        self.settle(&appended).await?;
        Ok(UploadRedaction {
            upload_id: upload_id.to_string(),
            memories_redacted,
            seq: appended.last().map_or(0, |a| a.seq.0),
        })
    }

    /// The memories an upload created that are still live, in chunk order, at most `limit`.
    pub async fn upload_memories(&self, upload_id: &str, limit: usize) -> Result<Vec<super::Memory>, ServiceError> {
        let upload = self.upload(upload_id).await?;
        let hashes: Vec<String> = upload.content_hashes.into_iter().take(limit).collect();
        self.get_many(hashes).await
    }
}
