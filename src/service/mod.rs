//! The service layer: every memory operation, shared by the CLI, the HTTP API and MCP.
//!
//! Commands validate their input, turn it into events and append them through the log's single writer;
//! then they wait until the sqlite read model has applied them, so a client reads its own writes. Queries
//! read the projections only. Nothing outside this module appends to the log.

mod commands;
mod error;
mod memory;
mod queries;
pub mod time_expr;

pub use commands::{DeleteOutcome, DeleteRequest, StoreOutcome, StoreRequest, UpdateRequest};
pub use error::ServiceError;
pub use memory::{HistoryEntry, Hit, Memory};
pub use queries::{Health, ListPage, ListRequest, MAX_RESULTS, SearchMode, SearchRequest, Stats, similarity};

use crate::embed::{Embedder, MODEL_NAME};
use mms_log::{ContentHash, Log, Seq, SeqWatch};
use mms_projections::{AnnIndex, SqliteReader, VectorSource};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Limits and switches of the service.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    /// Largest accepted content, in bytes.
    pub max_content_length: usize,
    /// Semantic search uses the ANN index once it holds this many vectors and no filter applies.
    pub ann_threshold: usize,
    /// Added as `source:<host>` tag and `metadata.hostname` when set.
    pub hostname: Option<String>,
}

/// The memory service. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    log: Log,
    reader: Arc<SqliteReader>,
    ann: Arc<AnnIndex>,
    applied: tokio::sync::watch::Receiver<Seq>,
    embedder: Embedder,
    options: ServiceOptions,
    started: Instant,
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
            inner: Arc::new(Inner { log, reader, ann, applied: receiver, embedder, options, started: Instant::now() }),
        }
    }

    /// The event log.
    pub fn log(&self) -> &Log {
        &self.inner.log
    }

    /// The embedder.
    pub fn embedder(&self) -> &Embedder {
        &self.inner.embedder
    }

    /// Waits until the read model has applied `seq` (read-your-writes), at most `timeout`.
    pub async fn wait_applied(&self, seq: Seq, timeout: Duration) -> bool {
        let mut applied = self.inner.applied.clone();
        tokio::time::timeout(timeout, applied.wait_for(|s| *s >= seq)).await.is_ok_and(|r| r.is_ok())
    }

    /// The vector of each content: from the cache when present, else from the model (cached by the caller).
    async fn vectors_for(
        &self,
        items: &[(ContentHash, String)],
    ) -> Result<(HashMap<ContentHash, Vec<f32>>, Vec<ContentHash>), ServiceError> {
        let hashes: Vec<ContentHash> = items.iter().map(|(h, _)| *h).collect();
        let log = self.inner.log.clone();
        let mut found = tokio::task::spawn_blocking(move || log.cached_vectors(MODEL_NAME, &hashes)).await??;
        let missing: Vec<&(ContentHash, String)> = items.iter().filter(|(h, _)| !found.contains_key(h)).collect();
        let fresh: Vec<ContentHash> = missing.iter().map(|(h, _)| *h).collect();
        if !missing.is_empty() {
            let vectors = self.inner.embedder.embed(missing.iter().map(|(_, c)| c.clone()).collect()).await?;
            found.extend(fresh.iter().copied().zip(vectors));
        }
        Ok((found, fresh))
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

impl VectorSource for CachedVectors {
    fn vectors(&self, wanted: &[(ContentHash, &str)]) -> Result<HashMap<ContentHash, Vec<f32>>, String> {
        let hashes: Vec<ContentHash> = wanted.iter().map(|(h, _)| *h).collect();
        let mut found = self.log.cached_vectors(MODEL_NAME, &hashes).map_err(|e| e.to_string())?;
        let missing: Vec<(ContentHash, &str)> =
            wanted.iter().filter(|(h, _)| !found.contains_key(h)).copied().collect();
        if !missing.is_empty() {
            let vectors = self
                .embedder
                .embed_blocking(missing.iter().map(|(_, c)| c.to_string()).collect())
                .map_err(|e| e.to_string())?;
            let entries: Vec<mms_log::VectorEntry> = missing
                .iter()
                .zip(vectors)
                .map(|((memory, _), vector)| mms_log::VectorEntry { model: MODEL_NAME.into(), memory: *memory, vector })
                .collect();
            for entry in &entries {
                found.insert(entry.memory, entry.vector.clone());
            }
            // Caching is an optimisation: a failure to cache only means the next replay embeds again.
            if let Err(error) = self.log.append(Vec::new(), entries) {
                tracing::warn!(%error, "could not cache vectors");
            }
        }
        Ok(found)
    }
}
