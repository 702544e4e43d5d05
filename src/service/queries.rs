//! Queries: get, list, every kind of search, tags, history, stats and health. They read projections only
//! (history reads the log, which is its source).

use super::memory::{HistoryEntry, Hit, Memory};
use super::time_expr::{self, TimeRange};
use super::view::{ListPage, ListRequest, SearchMode, SearchRequest, View};
use super::{Inner, Service, ServiceError, parse_hash};
use crate::consolidation::{Note, decay};
use crate::embed::{MODEL_NAME, ModelStatus, cosine_distance};
use mms_log::{ContentHash, Seq, fold_history};
use mms_projections::{AnnIndex, Filter, MemoryRow, SqliteReader, TagCount, TagMatch};
use serde::Serialize;
use std::collections::HashMap;

/// The most results one search or page returns.
pub const MAX_RESULTS: usize = 1000;
/// The ANN index serves semantic search while at most this many events behind the read model; the
/// memories it has not seen are scored exactly beside it.
const ANN_MAX_LAG: u64 = 10_000;
/// Semantic deduplication looks for a recent near-duplicate among this many nearest memories.
const DEDUP_CANDIDATES: usize = 10;
/// In hybrid search, what matching the query's words adds to a memory's similarity: this much for the best
/// BM25 match, half for the second, a third for the third… (tuned on the retrieval benchmark).
const KEYWORD_BONUS: f64 = 0.03;
/// In hybrid search, what being created in the time a query names ("in March 2026") adds to a memory's
/// similarity (tuned on the retrieval benchmark: 0.03 gave less, 0.2 no more).
const TIME_BONUS: f64 = 0.1;
/// Hybrid search picks its results by maximal marginal relevance: each next result is the candidate with
/// the best fusion score less this share of its similarity to the closest result already picked, so ten
/// near-copies of one memory (or ten short turns that share little more than their speaker's name) do not
/// crowd out the rest (tuned on the retrieval benchmark: 0.25 to 0.67 tried, see BENCHMARKS.md).
const DIVERSITY: f64 = 0.5;
/// At most this many results are picked for diversity; the rest of a longer list follows in score order, so
/// the pick's cost (each result measured against every candidate left) stays bounded for a limit of 1,000.
const DIVERSE_PICKS: usize = 100;
/// Hybrid search's candidates by meaning: this many per result asked, at least [`MEANING_POOL_MIN`] (ten
/// per result ranked about the same on the benchmark, and cost more).
const MEANING_POOL_FACTOR: usize = 5;
const MEANING_POOL_MIN: usize = 50;
/// Asked to weigh relevance, the candidates reranked: this many per result asked, at least
/// [`RELEVANCE_POOL_MIN`].
const RELEVANCE_POOL_FACTOR: usize = 3;
const RELEVANCE_POOL_MIN: usize = 30;

/// Service statistics.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Stats {
    pub total_memories: u64,
    pub unique_tags: u64,
    pub memories_this_week: u64,
    pub events: u64,
    pub memories_ever: u64,
    pub log_size_bytes: u64,
    pub database_size_bytes: u64,
    pub ann_vectors: usize,
    pub projection_checkpoint: u64,
    pub projection_errors: u64,
    pub embedding_model: String,
    pub embedding_dimensions: usize,
}

/// Health of the parts of the service.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    pub status: String,
    pub model: String,
    pub model_error: Option<String>,
    pub log_seq: u64,
    pub projection_seq: u64,
    pub uptime_seconds: f64,
}

/// Seconds since the epoch, to the microsecond: the unit of the read model's times and of the original's.
pub fn epoch_seconds<Tz: chrono::TimeZone>(at: chrono::DateTime<Tz>) -> f64 {
    at.timestamp_micros() as f64 / 1e6
}

/// The current time in [`epoch_seconds`].
pub fn now_seconds() -> f64 {
    epoch_seconds(chrono::Utc::now())
}

/// The read model's filter for tags, type and creation time; blank tags and types are ignored.
pub(super) fn filter_of(
    tags: &[String],
    match_all: bool,
    memory_type: &Option<String>,
    created: &Option<TimeRange>,
) -> Filter {
    Filter {
        tags: tags.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect(),
        tag_match: if match_all { TagMatch::All } else { TagMatch::Any },
        memory_type: memory_type.clone().filter(|t| !t.trim().is_empty()),
        created_from: created.map(|r| epoch_seconds(r.start)),
        created_before: created.map(|r| epoch_seconds(r.end)),
    }
}

/// The original's similarity scale for cosine distance: 1 identical, 0.5 orthogonal, 0 opposite.
pub fn similarity(distance: f32) -> f64 {
    (1.0 - f64::from(distance) / 2.0).clamp(0.0, 1.0)
}

fn semantic_hit(row: MemoryRow, distance: f32) -> Hit {
    let score = similarity(distance);
    Hit {
        memory: row.into(),
        similarity_score: score,
        fusion_score: None,
        relevance_score: None,
        relevance_reason: format!("Semantic similarity: {score:.3}"),
    }
}

impl Service {
    /// Parses a time phrase ("last week", "between 2026-01-01 and 2026-02-01") against the current time.
    pub fn time_range(&self, phrase: &str) -> Result<TimeRange, ServiceError> {
        Ok(time_expr::parse(phrase, chrono::Utc::now())?)
    }

    /// One memory by content hash.
    pub async fn get(&self, hash: &str) -> Result<Memory, ServiceError> {
        let hash: ContentHash = parse_hash(hash)?;
        let key = hash.to_hex();
        let found = self
            .blocking(move |inner| {
                let archived = |key: &str| Ok::<_, ServiceError>(inner.reader.archived_memory(key)?.is_some());
                match inner.reader.get(&key)? {
                    Some(row) => Ok(Ok(row)),
                    None => Ok(Err(archived(&key)?)),
                }
            })
            .await?;
        match found {
            Ok(row) => Ok(Memory::from(row)),
            Err(true) => Err(ServiceError::NotFound(format!(
                "memory {hash} is archived: it is listed with the archived memories and comes back with unarchive"
            ))),
            Err(false) => Err(ServiceError::NotFound(format!("memory {hash} not found"))),
        }
    }

    /// The content hash of every memory, newest first (the order of `list`): what an export writes, read at
    /// one moment so a long export neither skips nor repeats a memory when others are written meanwhile.
    pub async fn all_hashes(&self) -> Result<Vec<String>, ServiceError> {
        let mut hashes = self.blocking(|inner| Ok(inner.reader.hashes(&Filter::default())?)).await?;
        hashes.reverse();
        Ok(hashes)
    }

    /// These memories, in the order given; those deleted meanwhile are left out.
    pub async fn get_many(&self, hashes: Vec<String>) -> Result<Vec<Memory>, ServiceError> {
        let rows = self.blocking(move |inner| Ok(inner.reader.get_many(&hashes)?)).await?;
        Ok(rows.into_iter().map(Memory::from).collect())
    }

    /// The live read model and its ANN index.
    pub(super) fn live(&self) -> View {
        View { reader: self.inner.reader.clone(), ann: Some(self.inner.ann.clone()), _kept: None }
    }

    /// A page of memories, newest first.
    pub async fn list(&self, request: ListRequest) -> Result<ListPage, ServiceError> {
        self.list_in(&self.live(), request).await
    }

    /// A page of memories of `view`, newest first.
    pub(super) async fn list_in(&self, view: &View, request: ListRequest) -> Result<ListPage, ServiceError> {
        if request.page == 0 {
            return Err(ServiceError::Invalid("page starts at 1".into()));
        }
        if request.page_size == 0 || request.page_size > MAX_RESULTS {
            return Err(ServiceError::Invalid(format!("page_size must be between 1 and {MAX_RESULTS}")));
        }
        let filter = filter_of(&request.tags, request.match_all, &request.memory_type, &request.created);
        // A page past every memory is empty, however large its number.
        let offset = (request.page - 1).saturating_mul(request.page_size);
        let size = request.page_size;
        let reader = view.reader.clone();
        let (rows, total) = self.blocking(move |_| Ok(reader.list(&filter, offset, size)?)).await?;
        Ok(ListPage {
            has_more: (offset as u64).saturating_add(rows.len() as u64) < total,
            memories: rows.into_iter().map(Memory::from).collect(),
            total,
            page: request.page,
            page_size: request.page_size,
        })
    }

    /// Searches by meaning, words, both, or exact content.
    pub async fn search(&self, request: SearchRequest) -> Result<Vec<Hit>, ServiceError> {
        self.search_in(&self.live(), request).await
    }

    /// Semantic search from the remote index when one is set (the cloudflare backend), else locally.
    async fn semantic(&self, view: &View, request: &SearchRequest, filter: Filter) -> Result<Vec<Hit>, ServiceError> {
        if let Some(remote) = self.remote_semantic_for(view, request).await {
            return remote;
        }
        let query = self.embed_query(&request.query).await?;
        let mut hits = self.nearest(view, query, request.limit, filter).await?;
        if let Some(min) = request.min_similarity {
            hits.retain(|h| h.similarity_score >= min);
        }
        Ok(hits)
    }

    /// The remote index's answer (the cloudflare backend) when `view` is the live store and one is set.
    async fn remote_semantic_for(
        &self,
        view: &View,
        request: &SearchRequest,
    ) -> Option<Result<Vec<Hit>, ServiceError>> {
        if view.is_live() { self.remote_semantic(request).await } else { None }
    }

    /// Searches `view` by meaning, words, both, or exact content.
    pub(super) async fn search_in(&self, view: &View, request: SearchRequest) -> Result<Vec<Hit>, ServiceError> {
        if request.query.trim().is_empty() {
            return Err(ServiceError::Invalid("query must not be empty".into()));
        }
        if request.limit > MAX_RESULTS {
            return Err(ServiceError::Invalid(format!("at most {MAX_RESULTS} results can be asked for")));
        }
        if let Some(min) = request.min_similarity
            && !(0.0..=1.0).contains(&min)
        {
            return Err(ServiceError::Invalid("min_similarity must be between 0 and 1".into()));
        }
        if !(0.0..=1.0).contains(&request.relevance_weight) {
            return Err(ServiceError::Invalid("quality_boost (the relevance weight) must be between 0 and 1".into()));
        }
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        if request.relevance_weight > 0.0 && matches!(request.mode, SearchMode::Semantic | SearchMode::Hybrid) {
            let (weight, limit) = (request.relevance_weight, request.limit);
            let pool = (limit * RELEVANCE_POOL_FACTOR).clamp(RELEVANCE_POOL_MIN, MAX_RESULTS);
            let candidates = SearchRequest { limit: pool, relevance_weight: 0.0, ..request };
            let hits = Box::pin(self.search_in(view, candidates)).await?;
            return self.weigh_relevance(view, hits, weight, limit).await;
        }
        let mut request = request;
        if request.extract_time && request.created.is_none() && request.mode != SearchMode::Exact {
            let extracted = time_expr::extract(&request.query, chrono::Utc::now())?;
            if let Some(range) = extracted.range {
                request.created = Some(range);
                if extracted.remainder.trim().is_empty() {
                    return self.in_time_range(view, &request).await;
                }
                request.query = extracted.remainder;
            }
        }
        let filter = filter_of(&request.tags, request.match_all, &request.memory_type, &request.created);
        match request.mode {
            SearchMode::Semantic => self.semantic(view, &request, filter).await,
            SearchMode::Keyword => {
                let (query, reader) = (request.query.clone(), view.reader.clone());
                let rows = self.blocking(move |_| Ok(reader.keyword(&query, request.limit, &filter)?)).await?;
                Ok(rows
                    .into_iter()
                    .map(|(row, rank)| {
                        let score = -rank;
                        Hit {
                            memory: row.into(),
                            similarity_score: score,
                            fusion_score: None,
                            relevance_score: None,
                            relevance_reason: format!("Keyword match (BM25 {score:.3})"),
                        }
                    })
                    .collect())
            }
            SearchMode::Hybrid => self.hybrid(view, &request, filter).await,
            SearchMode::Exact => {
                let (query, reader) = (request.query.clone(), view.reader.clone());
                let rows = self.blocking(move |_| Ok(reader.exact(&query, request.limit, &filter)?)).await?;
                Ok(rows
                    .into_iter()
                    .map(|row| Hit {
                        memory: row.into(),
                        similarity_score: 1.0,
                        fusion_score: None,
                        relevance_score: None,
                        relevance_reason: "Exact content match".into(),
                    })
                    .collect())
            }
        }
    }

    /// Reranks search results by `(1 - weight) × their score + weight × relevance`, where the score is the
    /// one that ordered them (the fusion score, else the similarity) and relevance is consolidation's decayed
    /// relevance `r` of each memory now, as `r / (1 + r)` in [0, 1); keeps the best `limit`. The similarity
    /// stays as it was, so `min_similarity` keeps its meaning.
    async fn weigh_relevance(
        &self,
        view: &View,
        mut hits: Vec<Hit>,
        weight: f64,
        limit: usize,
    ) -> Result<Vec<Hit>, ServiceError> {
        let hashes: Vec<String> = hits.iter().map(|h| h.memory.content_hash.clone()).collect();
        let reader = view.reader.clone();
        let connections = self
            .blocking(move |_| Ok(reader.connections(&hashes.iter().map(String::as_str).collect::<Vec<_>>())?))
            .await?;
        let retention = self.inner.options.consolidation.retention;
        let now = now_seconds();
        for hit in &mut hits {
            let memory = &hit.memory;
            let connections = connections.get(&memory.content_hash).copied().unwrap_or(0);
            let note = Note {
                hash: memory.content_hash.clone(),
                content: String::new(),
                tags: memory.tags.clone(),
                memory_type: memory.memory_type.clone(),
                metadata: memory.metadata.as_object().cloned().unwrap_or_default(),
                created_at: memory.created_at,
                updated_at: memory.updated_at,
            };
            let relevance = decay::relevance(&note, connections, None, now, &retention);
            let scaled = relevance.total / (1.0 + relevance.total);
            let base = hit.fusion_score.unwrap_or(hit.similarity_score);
            hit.fusion_score = Some((1.0 - weight) * base + weight * scaled);
            hit.relevance_score = Some(scaled);
            hit.relevance_reason = format!(
                "{}; weighed {weight} by relevance {scaled:.3} ({})",
                hit.relevance_reason,
                relevance.explain()
            );
        }
        hits.sort_by(|a, b| {
            let score = |h: &Hit| h.fusion_score.unwrap_or(0.0);
            score(b).total_cmp(&score(a)).then_with(|| a.memory.content_hash.cmp(&b.memory.content_hash))
        });
        hits.truncate(limit);
        Ok(hits)
    }

    async fn embed_query(&self, query: &str) -> Result<Vec<f32>, ServiceError> {
        let mut vectors = self.inner.embedder.embed(vec![query.to_string()]).await?;
        vectors.pop().ok_or_else(|| ServiceError::internal("the model returned no vector"))
    }

    /// The live memory created within the window that is nearest in meaning to `vector`, with its cosine
    /// similarity, when that is at least the threshold: the first such among the [`DEDUP_CANDIDATES`] nearest
    /// memories (through the ANN index on a large store, so a store pays a lookup, not a scan). Public for
    /// the bench that measures it (`benches/dedup.rs`).
    pub async fn semantic_duplicate(
        &self,
        vector: Vec<f32>,
        dedup: super::SemanticDedup,
    ) -> Result<Option<(String, f64)>, ServiceError> {
        let since = now_seconds() - dedup.window_secs;
        let nearest = self.nearest(&self.live(), vector, DEDUP_CANDIDATES, Filter::default()).await?;
        Ok(nearest.into_iter().find_map(|hit| {
            // Back from the original's search scale (1 - d/2) to the cosine similarity (1 - d).
            let cosine = 2.0 * hit.similarity_score - 1.0;
            (cosine >= dedup.threshold && hit.memory.created_at >= since).then_some((hit.memory.content_hash, cosine))
        }))
    }

    /// Nearest memories to a vector. Without a filter, once the ANN index is large and close behind the
    /// read model, its results are merged with exact distances for the memories it has not applied yet, so
    /// a fresh write is found at once. Otherwise (filters, a small or far-behind index) exact search.
    /// A view without an index (a past one) is always searched exactly.
    async fn nearest(
        &self,
        view: &View,
        query: Vec<f32>,
        limit: usize,
        filter: Filter,
    ) -> Result<Vec<Hit>, ServiceError> {
        let (reader, ann) = (view.reader.clone(), view.ann.clone());
        self.blocking(move |inner| {
            let ann = ann.filter(|ann| filter.is_empty() && ann.len() >= inner.options.ann_threshold);
            let read_model = reader.checkpoint()?;
            let Some(ann) = ann.filter(|ann| read_model.0.saturating_sub(ann.applied().0) <= ANN_MAX_LAG) else {
                return Ok(reader
                    .nearest(&query, limit, &filter)?
                    .into_iter()
                    .map(|(r, d)| semantic_hit(r, d))
                    .collect());
            };
            let ann_at = ann.applied();
            let found = ann
                .search(&query, AnnIndex::candidates(limit))
                .map_err(|e| ServiceError::internal_while("searching the ANN index", e))?;
            // The index only ranks (by 8-bit vectors): each candidate's distance is measured exactly, so the
            // score is the one exact search gives, and the nearest `limit` of the candidates are kept.
            let hashes: Vec<String> = found.iter().map(ContentHash::to_hex).collect();
            let mut distances: HashMap<String, f32> =
                measure(inner, &reader, &query, hashes.clone())?.into_iter().collect();
            // Rows gone from the read model (deleted after the index applied them) drop out here.
            let mut rows: HashMap<String, MemoryRow> =
                reader.get_many(&hashes)?.into_iter().map(|r| (r.content_hash.clone(), r)).collect();
            for (row, distance) in reader.nearest_changed_since(&query, limit, ann_at)? {
                distances.insert(row.content_hash.clone(), distance);
                rows.insert(row.content_hash.clone(), row);
            }
            let mut hits: Vec<Hit> = rows
                .into_values()
                .map(|row| {
                    let distance = distances.get(&row.content_hash).copied().unwrap_or(2.0);
                    semantic_hit(row, distance)
                })
                .collect();
            hits.sort_by(|a, b| b.similarity_score.total_cmp(&a.similarity_score));
            hits.truncate(limit);
            Ok(hits)
        })
        .await
    }

    /// Meaning first, words as a bonus: the memories nearest the query's vector ([`MEANING_POOL_FACTOR`] times
    /// the limit) and those BM25 ranks best (twice the limit) are scored by their similarity plus
    /// [`KEYWORD_BONUS`] / (1 + their BM25 rank), so a memory that also matches the query's words moves up,
    /// and one that only matches them needs to be close in meaning too; the results are picked from them for
    /// relevance and diversity ([`diversify`]). Each hit keeps its similarity on the original's scale (one only
    /// BM25 found is measured against the query's vector), so `min_similarity` means what it means for
    /// semantic search; the score is `fusion_score`. A time phrase in the query adds the memories nearest it
    /// among those created then, and [`TIME_BONUS`] to those. The weights were chosen on the retrieval
    /// benchmark (`benches/retrieval`, see BENCHMARKS.md).
    async fn hybrid(&self, view: &View, request: &SearchRequest, filter: Filter) -> Result<Vec<Hit>, ServiceError> {
        // BM25's pool is twice the limit: three and six times ranked the same on the benchmark, and cost more.
        // Meaning's is larger: the diverse pick below reaches further down it.
        let pool = (request.limit * 2).clamp(10, MAX_RESULTS);
        let meaning_pool = (request.limit * MEANING_POOL_FACTOR).clamp(MEANING_POOL_MIN, MAX_RESULTS);
        let (text, reader, words) = (request.query.clone(), view.reader.clone(), filter.clone());
        // BM25 runs on a blocking thread while the query is embedded and its nearest memories found.
        let keyword = self.blocking(move |_| Ok(reader.keyword(&text, pool, &words)?));
        let meaning = async {
            let vector = self.embed_query(&request.query).await?;
            let asked = SearchRequest { limit: meaning_pool, min_similarity: None, ..request.clone() };
            // The cloudflare backend's index measures meaning there (Vectorize's similarity, as semantic
            // search reports it on that backend).
            let semantic = match self.remote_semantic_for(view, &asked).await {
                Some(remote) => (remote?, "Vectorize similarity"),
                None => (self.nearest(view, vector.clone(), meaning_pool, filter).await?, "Hybrid: similarity"),
            };
            Ok::<_, ServiceError>((vector, semantic))
        };
        let (keyword, meaning) = tokio::join!(keyword, meaning);
        let (keyword, (vector, (semantic, measure))) = (keyword?, meaning?);
        // content hash -> (similarity when known, BM25 rank when found by words, memory)
        let mut found: HashMap<String, (Option<f64>, Option<usize>, Memory)> = HashMap::new();
        for hit in semantic {
            found.insert(hit.memory.content_hash.clone(), (Some(hit.similarity_score), None, hit.memory));
        }
        for (rank, (row, _)) in keyword.into_iter().enumerate() {
            found.entry(row.content_hash.clone()).or_insert_with(|| (None, None, row.into())).1 = Some(rank);
        }
        // A time phrase in the query ("in March 2026") is a soft prior, not a filter: the nearest memories
        // created then join the candidates, and being created then adds TIME_BONUS.
        let window = match request.created {
            None => time_expr::extract(&request.query, chrono::Utc::now()).ok().and_then(|e| e.range),
            Some(_) => None,
        };
        if let Some(range) = &window {
            let then = filter_of(&request.tags, request.match_all, &request.memory_type, &Some(*range));
            for hit in self.nearest(view, vector.clone(), pool, then).await? {
                found.entry(hit.memory.content_hash.clone()).or_insert((Some(hit.similarity_score), None, hit.memory));
            }
        }
        let unmeasured: Vec<String> = found.iter().filter(|(_, f)| f.0.is_none()).map(|(h, _)| h.clone()).collect();
        if !unmeasured.is_empty() {
            for (hash, distance) in self.distances(view, vector, unmeasured).await? {
                if let Some(entry) = found.get_mut(&hash) {
                    entry.0 = Some(similarity(distance));
                }
            }
        }
        let mut hits: Vec<Hit> = found
            .into_values()
            .map(|(similar, keyword_rank, memory)| {
                let score = similar.unwrap_or(0.0);
                let then = window.as_ref().is_some_and(|range| {
                    (epoch_seconds(range.start)..epoch_seconds(range.end)).contains(&memory.created_at)
                });
                let fusion = score
                    + keyword_rank.map_or(0.0, |rank| KEYWORD_BONUS / (1.0 + rank as f64))
                    + if then { TIME_BONUS } else { 0.0 };
                let words = keyword_rank.map_or(String::new(), |rank| format!(", words #{}", rank + 1));
                let when = if then { ", created in the query's time" } else { "" };
                Hit {
                    memory,
                    similarity_score: score,
                    fusion_score: Some(fusion),
                    relevance_score: None,
                    relevance_reason: format!("{measure} {score:.3}{words}{when}, score {fusion:.3}"),
                }
            })
            .filter(|hit| request.min_similarity.is_none_or(|min| hit.similarity_score >= min))
            .collect();
        hits.sort_by(|a, b| b.fusion_score.unwrap_or(0.0).total_cmp(&a.fusion_score.unwrap_or(0.0)));
        let hashes: Vec<ContentHash> = hits.iter().filter_map(|hit| hit.memory.content_hash.parse().ok()).collect();
        let vectors = self.blocking(move |inner| Ok(inner.log.cached_vectors(MODEL_NAME, &hashes)?)).await?;
        Ok(diversify(hits, &vectors, request.limit, DIVERSITY))
    }

    /// The cosine distances from `query` to the given memories: from the vectors the log caches (a point
    /// read each), else from the read model, whose vector table reads one memory's vector through its chunk
    /// of a thousand (slow unless that chunk is in the reader's page cache).
    async fn distances(
        &self,
        view: &View,
        query: Vec<f32>,
        hashes: Vec<String>,
    ) -> Result<Vec<(String, f32)>, ServiceError> {
        let reader = view.reader.clone();
        self.blocking(move |inner| measure(inner, &reader, &query, hashes)).await
    }

    /// Recall by a query that may hold a time phrase ("what did we decide about billing last week"): the
    /// phrase filters by creation time; the rest, if any, ranks by meaning, else newest first.
    pub async fn recall(&self, query: &str, limit: usize) -> Result<Vec<Hit>, ServiceError> {
        self.search(SearchRequest { query: query.to_string(), limit, extract_time: true, ..SearchRequest::default() })
            .await
    }

    /// The newest memories created in the request's time range that match its other filters.
    async fn in_time_range(&self, view: &View, request: &SearchRequest) -> Result<Vec<Hit>, ServiceError> {
        let page = self
            .list_in(
                view,
                ListRequest {
                    page: 1,
                    page_size: request.limit.clamp(1, MAX_RESULTS),
                    tags: request.tags.clone(),
                    match_all: request.match_all,
                    memory_type: request.memory_type.clone(),
                    created: request.created,
                },
            )
            .await?;
        Ok(page
            .memories
            .into_iter()
            .map(|memory| Hit {
                memory,
                similarity_score: 1.0,
                fusion_score: None,
                relevance_score: None,
                relevance_reason: "Created in the time range".into(),
            })
            .collect())
    }

    /// Memories closest in meaning to a stored memory (itself excluded).
    pub async fn similar(&self, hash: &str, limit: usize) -> Result<Vec<Hit>, ServiceError> {
        let memory = self.get(hash).await?;
        let key = memory.content_hash.clone();
        let vector = self
            .blocking(move |inner| Ok(inner.reader.vector(&key)?))
            .await?
            .ok_or_else(|| ServiceError::Unavailable(format!("memory {hash} has no vector yet")))?;
        let mut hits = self.nearest(&self.live(), vector, limit + 1, Filter::default()).await?;
        hits.retain(|h| h.memory.content_hash != memory.content_hash);
        hits.truncate(limit);
        Ok(hits)
    }

    /// Every tag with its number of memories.
    pub async fn tags(&self) -> Result<Vec<TagCount>, ServiceError> {
        self.blocking(|inner| Ok(inner.reader.tags()?)).await
    }

    /// Every event of one memory (deleted ones too), oldest first, with the memory before and after each.
    pub async fn history(&self, hash: &str) -> Result<Vec<HistoryEntry>, ServiceError> {
        let hash: ContentHash = parse_hash(hash)?;
        let events = self.blocking(move |inner| Ok(inner.log.history(&hash)?)).await?;
        if events.is_empty() {
            return Err(ServiceError::NotFound(format!("memory {hash} has no history")));
        }
        let hex = hash.to_hex();
        let mut state = None;
        let mut out = Vec::with_capacity(events.len());
        for event in &events {
            let before =
                state.as_ref().filter(|s: &&mms_log::MemoryState| s.live).map(|s| Memory::from_record(&hex, &s.record));
            state = mms_log::MemoryState::apply(state, event);
            let after = state.as_ref().filter(|s| s.live).map(|s| Memory::from_record(&hex, &s.record));
            out.push(HistoryEntry::new(event, before, after));
        }
        debug_assert_eq!(fold_history(&events, Seq(u64::MAX)), state);
        Ok(out)
    }

    /// Totals from the log and the read model.
    pub async fn stats(&self) -> Result<Stats, ServiceError> {
        let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
        self.blocking(move |inner| {
            let read = inner.reader.stats(epoch_seconds(week_ago))?;
            // The log's keys include document uploads' records, which are not memories (a redacted upload's
            // record leaves the read model, so its key is still counted: redacting an upload is rare).
            let (keys, _) = inner.log.memory_counts()?;
            let ever = keys.saturating_sub(inner.reader.upload_count()?);
            Ok(Stats {
                total_memories: read.total_memories,
                unique_tags: read.unique_tags,
                memories_this_week: read.created_since,
                events: inner.log.last_seq().0,
                memories_ever: ever,
                log_size_bytes: inner.log.file_size(),
                database_size_bytes: read.database_size_bytes,
                ann_vectors: inner.ann.len(),
                projection_checkpoint: read.checkpoint.0,
                projection_errors: read.projection_errors,
                embedding_model: crate::embed::MODEL_NAME.into(),
                embedding_dimensions: crate::embed::DIMENSIONS,
            })
        })
        .await
    }

    /// Health: "degraded" when the embedding model cannot load (searches and stores fail), else "healthy";
    /// the model's state and how far the read model is behind the log are reported beside it.
    pub fn health(&self) -> Health {
        let log_seq = self.inner.log.last_seq().0;
        let projection_seq = self.inner.applied.borrow().0;
        let (model, model_error) = match self.inner.embedder.status() {
            ModelStatus::Loading => ("loading", None),
            ModelStatus::Ready => ("ready", None),
            ModelStatus::Failed(reason) => ("failed", Some(reason)),
        };
        let status = if model_error.is_none() { "healthy" } else { "degraded" };
        Health {
            status: status.into(),
            model: model.into(),
            model_error,
            log_seq,
            projection_seq,
            uptime_seconds: self.inner.started.elapsed().as_secs_f64(),
        }
    }
}

/// The cosine distances from `query` to the given memories (see [`Service::distances`]); a memory in neither the
/// cache nor the read model is left out.
fn measure(
    inner: &Inner,
    reader: &SqliteReader,
    query: &[f32],
    hashes: Vec<String>,
) -> Result<Vec<(String, f32)>, ServiceError> {
    let parsed: Vec<ContentHash> = hashes.iter().filter_map(|h| h.parse().ok()).collect();
    let cached = inner.log.cached_vectors(MODEL_NAME, &parsed)?;
    let mut measured: Vec<(String, f32)> =
        cached.iter().map(|(hash, vector)| (hash.to_hex(), cosine_distance(query, vector))).collect();
    let rest: Vec<String> =
        hashes.into_iter().filter(|h| h.parse().map_or(true, |hash| !cached.contains_key(&hash))).collect();
    measured.extend(reader.distances(query, &rest)?);
    Ok(measured)
}

/// Picks `limit` of `ranked` (best fusion score first) by maximal marginal relevance: each next one is the
/// candidate whose fusion score less `diversity` times its similarity to the nearest one already picked is
/// highest. A candidate without a vector in `vectors` is never penalised. The first pick is always the best
/// ranked; with `diversity` 0 the order is the fusion order. Past [`DIVERSE_PICKS`] results, the candidates
/// left follow in their fusion order.
fn diversify(ranked: Vec<Hit>, vectors: &HashMap<ContentHash, Vec<f32>>, limit: usize, diversity: f64) -> Vec<Hit> {
    let vector_of = |hit: &Hit| hit.memory.content_hash.parse::<ContentHash>().ok().and_then(|h| vectors.get(&h));
    let mut left: Vec<(Hit, Option<&Vec<f32>>, f64)> = ranked
        .into_iter()
        .map(|hit| {
            let vector = vector_of(&hit);
            (hit, vector, 0.0)
        })
        .collect();
    let mut picked = Vec::with_capacity(limit.min(left.len()));
    while picked.len() < limit.min(DIVERSE_PICKS) && !left.is_empty() {
        let marginal = |(hit, _, closest): &(Hit, Option<&Vec<f32>>, f64)| {
            hit.fusion_score.unwrap_or(hit.similarity_score) - diversity * closest
        };
        let best = (0..left.len()).max_by(|&a, &b| marginal(&left[a]).total_cmp(&marginal(&left[b])).then(b.cmp(&a)));
        let Some(best) = best else { break };
        let (hit, vector, _) = left.remove(best);
        if let Some(vector) = vector {
            for (_, other, closest) in &mut left {
                if let Some(other) = other {
                    *closest = closest.max(similarity(cosine_distance(vector, other)));
                }
            }
        }
        picked.push(hit);
    }
    picked.extend(left.into_iter().take(limit - picked.len()).map(|(hit, _, _)| hit));
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(content: &str, fusion: f64) -> Hit {
        let memory = Memory {
            content: content.into(),
            content_hash: ContentHash::of_content(content).to_hex(),
            tags: vec![],
            memory_type: None,
            metadata: serde_json::json!({}),
            created_at: 0.0,
            created_at_iso: String::new(),
            updated_at: 0.0,
            updated_at_iso: String::new(),
        };
        Hit {
            memory,
            similarity_score: fusion,
            fusion_score: Some(fusion),
            relevance_score: None,
            relevance_reason: String::new(),
        }
    }

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin(), 0.0]
    }

    /// The unit vector along axis `i` of `n`.
    fn axis(i: usize, n: usize) -> Vec<f32> {
        (0..n).map(|j| if j == i { 1.0 } else { 0.0 }).collect()
    }

    fn contents(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.memory.content.as_str()).collect()
    }

    fn vectors(pairs: &[(&str, Vec<f32>)]) -> HashMap<ContentHash, Vec<f32>> {
        pairs.iter().map(|(content, vector)| (ContentHash::of_content(content), vector.clone())).collect()
    }

    #[test]
    fn a_near_copy_of_a_picked_result_gives_way_to_a_different_one() {
        let ranked = vec![hit("a", 0.90), hit("a again", 0.89), hit("b", 0.80)];
        let known = vectors(&[("a", unit(0.0)), ("a again", unit(0.05)), ("b", unit(1.5))]);
        assert_eq!(contents(&diversify(ranked.clone(), &known, 2, DIVERSITY)), ["a", "b"]);
        assert_eq!(contents(&diversify(ranked.clone(), &known, 3, DIVERSITY)), ["a", "b", "a again"]);
        // Without diversity, or without vectors, the fusion order stands.
        assert_eq!(contents(&diversify(ranked.clone(), &known, 3, 0.0)), ["a", "a again", "b"]);
        assert_eq!(contents(&diversify(ranked, &HashMap::new(), 3, DIVERSITY)), ["a", "a again", "b"]);
    }

    #[test]
    fn a_far_better_match_keeps_its_place_beside_a_similar_one() {
        // The second is close to the first, but so much better than the third that it stays second.
        let ranked = vec![hit("a", 0.95), hit("a2", 0.94), hit("c", 0.55)];
        let known = vectors(&[("a", unit(0.0)), ("a2", unit(0.6)), ("c", unit(1.5))]);
        assert_eq!(contents(&diversify(ranked, &known, 3, DIVERSITY)), ["a", "a2", "c"]);
    }

    #[test]
    fn past_the_diverse_picks_the_rest_follow_in_score_order() {
        // Pairs of identical vectors: picking for diversity all the way would put every pair's second after all
        // the firsts, out of score order.
        let ranked: Vec<Hit> =
            (0..2 * DIVERSE_PICKS + 20).map(|i| hit(&format!("m{i}"), 0.9 - i as f64 * 1e-4)).collect();
        let known: HashMap<ContentHash, Vec<f32>> = (0..ranked.len())
            .map(|i| (ContentHash::of_content(&format!("m{i}")), axis(i / 2, DIVERSE_PICKS + 10)))
            .collect();
        let picked = diversify(ranked.clone(), &known, ranked.len(), DIVERSITY);
        assert_eq!(picked.len(), ranked.len());
        // After the diverse picks, the candidates left keep their relative fusion order.
        let tail: Vec<f64> = picked[DIVERSE_PICKS..].iter().map(|h| h.fusion_score.unwrap_or(0.0)).collect();
        assert!(tail.windows(2).all(|w| w[0] > w[1]), "{tail:?}");
        let mut all: Vec<&str> = contents(&picked);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), ranked.len(), "every candidate once");
    }

    #[test]
    fn the_pick_stops_at_the_limit_or_the_candidates() {
        let ranked = vec![hit("a", 0.9), hit("b", 0.8)];
        assert_eq!(diversify(ranked.clone(), &HashMap::new(), 1, DIVERSITY).len(), 1);
        assert_eq!(diversify(ranked, &HashMap::new(), 5, DIVERSITY).len(), 2);
        assert!(diversify(vec![], &HashMap::new(), 5, DIVERSITY).is_empty());
    }
}
