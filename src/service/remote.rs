//! The cloudflare backend's semantic search: the service asks a [`RemoteSearch`] (Vectorize for the
//! ranking, D1 for the memories, implemented by `sync`) instead of its local index, and applies the same
//! filters to what comes back. Time travel (`as_of`) and the other modes stay local.

use super::memory::{Hit, Memory};
use super::view::SearchRequest;
use super::{Service, ServiceError};
use mms_log::MemoryRecord;
use std::future::Future;
use std::pin::Pin;

/// One memory found remotely, with Vectorize's cosine similarity.
#[derive(Clone, Debug)]
pub struct RemoteHit {
    pub content_hash: String,
    pub record: MemoryRecord,
    pub score: f64,
}

/// Where the cloudflare backend's semantic search runs.
pub trait RemoteSearch: Send + Sync {
    /// The `top_k` memories nearest to `query`, best first.
    fn nearest(
        &self,
        query: String,
        top_k: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<RemoteHit>, String>> + Send + '_>>;
}

/// How many more candidates to ask for when filters will drop some (Vectorize answers at most 100).
const FILTERED_TOP_K: usize = 100;

impl Service {
    /// Serves semantic search from `remote` from now on (the cloudflare backend).
    pub fn search_remotely(&self, remote: std::sync::Arc<dyn RemoteSearch>) {
        let _ = self.inner.remote.set(remote);
    }

    /// The remote answer to a semantic search, when one is configured.
    pub(super) async fn remote_semantic(&self, request: &SearchRequest) -> Option<Result<Vec<Hit>, ServiceError>> {
        let remote = self.inner.remote.get()?;
        let filtered = !request.tags.is_empty() || request.memory_type.is_some() || request.created.is_some();
        let top_k = if filtered { FILTERED_TOP_K } else { request.limit };
        let found = match remote.nearest(request.query.clone(), top_k).await {
            Ok(found) => found,
            Err(error) => return Some(Err(ServiceError::Unavailable(format!("Cloudflare search failed: {error}")))),
        };
        let hits = found
            .into_iter()
            .filter(|hit| keeps(request, &hit.record))
            .filter(|hit| request.min_similarity.is_none_or(|min| hit.score >= min))
            .take(request.limit)
            .map(|hit| Hit {
                memory: Memory::from_record(&hit.content_hash, &hit.record),
                similarity_score: hit.score,
                fusion_score: None,
                relevance_score: None,
                relevance_reason: format!("Vectorize similarity {:.3}", hit.score),
            })
            .collect();
        Some(Ok(hits))
    }
}

/// Whether a record passes the request's tag, type and time filters (tags match exactly, as locally).
fn keeps(request: &SearchRequest, record: &MemoryRecord) -> bool {
    let has = |tag: &String| record.tags.contains(tag);
    let tags = request.tags.is_empty()
        || if request.match_all { request.tags.iter().all(has) } else { request.tags.iter().any(has) };
    let kind = request.memory_type.as_ref().is_none_or(|t| record.memory_type.as_ref() == Some(t));
    let time = request.created.as_ref().is_none_or(|range| {
        let created = record.created_at.0;
        range.start.timestamp_micros() <= created && created < range.end.timestamp_micros()
    });
    tags && kind && time
}
