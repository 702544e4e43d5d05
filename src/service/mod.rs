//! The service layer: every memory operation, shared by the CLI, the HTTP API and MCP.
//!
//! Commands validate their input, turn it into events and append them through the log's single writer;
//! then they wait until the sqlite read model has applied them, so a client reads its own writes. Queries
//! read the projections only. Nothing outside this module appends to the log.

mod archive;
mod as_of;
mod commands;
mod consolidate;
mod documents;
mod error;
mod graph;
mod insight;
mod memory;
mod point;
mod queries;
mod remote;
mod replica;
mod restore;
pub mod time_expr;
mod view;

pub use archive::{ArchivedMemory, ArchivedPage, MAX_ARCHIVE_PAGE};
pub use as_of::{AsOf, PastTotals};
pub use commands::{
    DeleteOutcome, DeleteRequest, LONGEST_ACKNOWLEDGEMENT, Redaction, StoreOutcome, StoreRequest, UpdateRequest,
};
pub use consolidate::{Action, ConsolidationReport, Recommendation, SUMMARY_TYPE};
pub use documents::{IngestOutcome, IngestRequest, Upload, UploadRedaction};
pub use error::ServiceError;
pub use graph::{
    Edge, GraphNode, GraphView, MAX_GRAPH_NODES, MAX_HOPS, MAX_PATH_HOPS, Reached, RelateRequest, Related, Subgraph,
    checked_type, checked_types,
};
pub use insight::{ActivityDay, GrowthPoint, LogEntry, MAX_LOG_PAGE, MetaView};
pub use memory::{EventHeader, HistoryEntry, Hit, Memory, RelationChange};
pub use point::{Point, parse_moment};
pub use queries::{Health, MAX_RESULTS, Stats, epoch_seconds, now_seconds, similarity};
pub use remote::{RemoteHit, RemoteSearch};
pub use replica::{Converged, Target};
pub use restore::{Progress, RestorePlan, RestoreSource};
pub use view::{DEFAULT_RELEVANCE_WEIGHT, ListPage, ListRequest, SearchMode, SearchRequest};

use crate::embed::{Embedder, MODEL_NAME};
use mms_log::{ContentHash, Log, Seq, SeqWatch, VectorEntry};
use mms_projections::{AnnIndex, SqliteReader, VectorSource};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `n` and a noun, singular for one ("1 event", "2 events"): the counts in answers for people.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Limits and switches of the service.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    /// Largest accepted content, in bytes.
    pub max_content_length: usize,
    /// Semantic search uses the ANN index once it holds this many vectors and no filter applies.
    pub ann_threshold: usize,
    /// Added as `source:<host>` tag and `metadata.hostname` when set.
    pub hostname: Option<String>,
    /// Document chunking when a request names none (MCP_DOCUMENT_CHUNK_SIZE, MCP_DOCUMENT_CHUNK_OVERLAP).
    pub chunk_size: usize,
    pub chunk_overlap: usize,
    /// Largest document one upload may send, in bytes (MCP_DOCUMENT_MAX_FILE_MB).
    pub max_file_bytes: usize,
    /// Directories remote MCP clients may ingest files from (MCP_DOCUMENT_ROOTS).
    pub document_roots: Vec<std::path::PathBuf>,
    /// Refusing a store that means what a recent memory means (MCP_SEMANTIC_DEDUP_*); off when None.
    pub semantic_dedup: Option<SemanticDedup>,
    /// Consolidation's rules and schedule (MCP_CONSOLIDATION_* and the others).
    pub consolidation: crate::consolidation::Settings,
}

/// Semantic deduplication at write time: a new memory is refused when a live memory created within
/// `window_secs` has a cosine similarity of at least `threshold` to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SemanticDedup {
    pub window_secs: f64,
    pub threshold: f64,
}

/// The memory service. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

/// Where the Cloudflare replica stands, as the cloudflare backend's writes wait on it (sent by `sync`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaProgress {
    /// The last event Cloudflare confirmed (the push checkpoint).
    pub pushed: Seq,
    /// While Cloudflare refuses the API token: the log's last event when the refused round began (the
    /// round would have pushed everything up to it), and why. A write at or below it is not acknowledged.
    pub refused: Option<(Seq, String)>,
}

struct Inner {
    log: Log,
    reader: Arc<SqliteReader>,
    ann: Arc<AnnIndex>,
    applied: tokio::sync::watch::Receiver<Seq>,
    embedder: Embedder,
    options: ServiceOptions,
    started: Instant,
    /// Read models materialised at earlier events, for `as_of` queries.
    past: as_of::PastViews,
    /// With the cloudflare backend: how far Cloudflare has the log. Writes wait for it.
    replica: std::sync::OnceLock<tokio::sync::watch::Receiver<ReplicaProgress>>,
    /// With the cloudflare backend: where semantic search runs.
    remote: std::sync::OnceLock<Arc<dyn remote::RemoteSearch>>,
    /// Document uploads in progress, and failed ones.
    jobs: documents::Jobs,
}

impl Service {
    /// A service over an open log, its projections and the embedder. `applied` is the projector's progress.
    pub fn new(
        log: Log,
        reader: Arc<SqliteReader>,
        ann: Arc<AnnIndex>,
        applied: &SeqWatch,
        embedder: Embedder,
        options: ServiceOptions,
    ) -> Service {
        let (sender, receiver) = tokio::sync::watch::channel(applied.get());
        applied.on_advance(move |seq| {
            sender.send_if_modified(|current| {
                let newer = seq != *current;
                *current = seq;
                newer
            });
        });
        Service {
            inner: Arc::new(Inner {
                past: as_of::PastViews::new(log.path()),
                log,
                reader,
                ann,
                applied: receiver,
                embedder,
                options,
                started: Instant::now(),
                replica: std::sync::OnceLock::new(),
                remote: std::sync::OnceLock::new(),
                jobs: documents::Jobs::new(),
            }),
        }
    }

    /// Makes every write wait until Cloudflare's checkpoint reaches it, or until a push that would have taken
    /// it was refused for the API token: the cloudflare backend.
    pub fn acknowledge_after(&self, replica: tokio::sync::watch::Receiver<ReplicaProgress>) {
        let _ = self.inner.replica.set(replica);
    }

    /// The event log.
    pub fn log(&self) -> &Log {
        &self.inner.log
    }

    /// The embedder.
    pub fn embedder(&self) -> &Embedder {
        &self.inner.embedder
    }

    /// The read model's progress: the last sequence number it has applied, and a way to wait for the next.
    pub fn applied(&self) -> tokio::sync::watch::Receiver<Seq> {
        self.inner.applied.clone()
    }

    /// Waits until the read model has applied `seq` (read-your-writes), at most `timeout`.
    pub async fn wait_applied(&self, seq: Seq, timeout: Duration) -> bool {
        let mut applied = self.inner.applied.clone();
        tokio::time::timeout(timeout, applied.wait_for(|s| *s >= seq)).await.is_ok_and(|r| r.is_ok())
    }

    /// The vectors of these contents (cached or computed off the runtime) and the cache entries to commit
    /// with the events that store them.
    async fn vectors_for(&self, items: Vec<(ContentHash, String)>) -> Result<Vectors, ServiceError> {
        let source = CachedVectors::new(self.inner.log.clone(), self.inner.embedder.clone());
        tokio::task::spawn_blocking(move || source.lookup_or_embed(&items)).await?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner)).await?
    }
}

/// The projector's source of vectors: the log's embedding cache, then the model (whose results are cached).
pub struct CachedVectors {
    log: Log,
    embedder: Embedder,
}

impl CachedVectors {
    pub fn new(log: Log, embedder: Embedder) -> CachedVectors {
        CachedVectors { log, embedder }
    }
}

/// Vectors for a set of memories, and which of them were computed now (not found in the cache).
pub(crate) struct Vectors {
    pub(crate) found: HashMap<ContentHash, Vec<f32>>,
    pub(crate) to_cache: Vec<VectorEntry>,
}

impl CachedVectors {
    /// Looks the vectors up in the log's cache and embeds the missing ones; the caller decides how the
    /// new ones reach the cache (with its own events, or in a commit of their own).
    fn lookup_or_embed<C: AsRef<str>>(&self, wanted: &[(ContentHash, C)]) -> Result<Vectors, ServiceError> {
        let hashes: Vec<ContentHash> = wanted.iter().map(|(h, _)| *h).collect();
        let mut found = self.log.cached_vectors(MODEL_NAME, &hashes)?;
        let missing: Vec<(ContentHash, &str)> =
            wanted.iter().filter(|(h, _)| !found.contains_key(h)).map(|(h, c)| (*h, c.as_ref())).collect();
        let mut to_cache = Vec::with_capacity(missing.len());
        if !missing.is_empty() {
            let vectors = self.embedder.embed_blocking(missing.iter().map(|(_, c)| c.to_string()).collect())?;
            for ((memory, _), vector) in missing.into_iter().zip(vectors) {
                found.insert(memory, vector.clone());
                to_cache.push(VectorEntry { model: MODEL_NAME.into(), memory, vector });
            }
        }
        Ok(Vectors { found, to_cache })
    }
}

impl VectorSource for CachedVectors {
    fn vectors(&self, wanted: &[(ContentHash, &str)]) -> Result<HashMap<ContentHash, Vec<f32>>, String> {
        let vectors = self.lookup_or_embed(wanted).map_err(|e| e.report())?;
        // Caching is an optimisation: a failure to cache only means the next replay embeds again.
        if !vectors.to_cache.is_empty()
            && let Err(error) = self.log.append(Vec::new(), vectors.to_cache)
        {
            tracing::warn!(%error, "could not cache vectors");
        }
        Ok(vectors.found)
    }
}

/// Parses a content hash given by a client.
pub(super) fn parse_hash(hash: &str) -> Result<ContentHash, ServiceError> {
    hash.parse().map_err(|e: mms_log::ParseHashError| ServiceError::Invalid(e.to_string()))
}
