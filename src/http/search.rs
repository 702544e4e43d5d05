//! `/api/search*`: semantic, keyword and hybrid search, by tag, by time (the full time-phrase parser) and
//! similar memories. Each search announces itself on the SSE stream as `search_completed`.

use super::error::{ApiError, Body, Params, check_range, integer};
use super::memories::{as_of_target, tag_list};
use super::{AppState, hash_of};
use crate::service::{
    AsOf, DEFAULT_RELEVANCE_WEIGHT, Hit, ListPage, ListRequest, Memory, Point, SearchMode, SearchRequest, ServiceError,
};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Instant;
use utoipa::{IntoParams, ToSchema};

/// One result.
#[derive(Serialize, ToSchema)]
pub(crate) struct SearchResult {
    memory: Memory,
    /// Semantic and hybrid: 0..1 (`1 - cosine_distance / 2`), higher is closer. Keyword: BM25. Tag: null.
    similarity_score: Option<f64>,
    /// Hybrid: the score that ordered the results (the similarity plus the bonuses for matching words and the
    /// query's time).
    #[serde(skip_serializing_if = "Option::is_none")]
    fusion_score: Option<f64>,
    /// With `quality_boost`: the memory's relevance now, in [0, 1), mixed into `fusion_score`.
    #[serde(skip_serializing_if = "Option::is_none")]
    relevance_score: Option<f64>,
    relevance_reason: String,
}

/// The original's search answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct SearchResponse {
    results: Vec<SearchResult>,
    total_found: usize,
    query: String,
    search_type: String,
    processing_time_ms: f64,
    /// Present when asked `as_of`: the event the results reflect.
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<AsOf>,
}

/// A search, live or as of an earlier point.
async fn run_search(
    state: &AppState,
    request: SearchRequest,
    target: Option<Point>,
) -> Result<(Vec<Hit>, Option<AsOf>), ServiceError> {
    match target {
        Some(target) => state.service.search_as_of(request, target).await.map(|(hits, as_of)| (hits, Some(as_of))),
        None => Ok((state.service.search(request).await?, None)),
    }
}

/// A page of memories, live or as of an earlier point.
async fn run_list(
    state: &AppState,
    request: ListRequest,
    target: Option<Point>,
) -> Result<(ListPage, Option<AsOf>), ServiceError> {
    match target {
        Some(target) => state.service.list_as_of(request, target).await.map(|(page, as_of)| (page, Some(as_of))),
        None => Ok((state.service.list(request).await?, None)),
    }
}

impl From<Hit> for SearchResult {
    fn from(hit: Hit) -> SearchResult {
        SearchResult {
            memory: hit.memory,
            similarity_score: Some(hit.similarity_score),
            fusion_score: hit.fusion_score,
            relevance_score: hit.relevance_score,
            relevance_reason: hit.relevance_reason,
        }
    }
}

/// Builds the answer and announces it on the event stream.
fn respond(
    state: &AppState,
    results: Vec<SearchResult>,
    query: String,
    kind: &str,
    started: Instant,
    as_of: Option<AsOf>,
    tags: &[String],
) -> Json<SearchResponse> {
    let processing_time_ms = started.elapsed().as_secs_f64() * 1000.0;
    let count = results.len();
    state.searches.count(kind, processing_time_ms, tags);
    state.events.notify(
        "search_completed",
        json!({
            "query": query,
            "search_type": kind,
            "results_count": count,
            "processing_time_ms": processing_time_ms,
            "message": format!("Search completed: {count} results found"),
        }),
    );
    Json(SearchResponse { results, total_found: count, query, search_type: kind.into(), processing_time_ms, as_of })
}

fn n_results(value: Option<i64>, default: i64) -> Result<usize, ApiError> {
    let n = value.unwrap_or(default);
    check_range(&["body", "n_results"], n, 1, 100)?;
    Ok(n as usize)
}

/// A time phrase, or the original's 400 when it cannot be read.
fn time_range(state: &AppState, phrase: &str) -> Result<crate::service::time_expr::TimeRange, ApiError> {
    state.service.time_range(phrase).map_err(|_| {
        ApiError::bad_request(format!(
            "Could not parse time query: '{phrase}'. Try 'yesterday', 'last week', 'this month', \
             'between 2026-01-01 and 2026-02-01', etc."
        ))
    })
}

/// A search by meaning, words or both.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SearchBody {
    #[schema(min_length = 1, pattern = "\\S")]
    query: String,
    /// 1 to 100, default 10.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "integer")]
    n_results: Option<i64>,
    /// Leave out semantic results scoring below this (0..1).
    #[schema(minimum = 0, maximum = 1)]
    similarity_threshold: Option<f64>,
    /// Only memories with these tags.
    #[serde(default)]
    tags: Vec<String>,
    /// Require every tag instead of any.
    #[serde(default)]
    match_all: bool,
    memory_type: Option<String>,
    /// Only memories created in this time: "last week", "yesterday", "between 2026-01-01 and 2026-02-01"...
    time_filter: Option<String>,
    /// hybrid (default: by meaning, with a bonus for matching words), semantic, keyword or exact.
    mode: Option<SearchMode>,
    /// Answer as the store was right after this event (`1234` or `seq:1234`) or at this moment (RFC 3339,
    /// `2026-01-31 12:00` UTC, or a phrase such as `yesterday`, whose end is taken). Nothing is restored.
    as_of: Option<String>,
    /// Rerank semantic and hybrid results by the memories' relevance now (decay by age and type,
    /// importance, connections), off by default: `true` weighs it `quality_weight`, a number from 0 to 1
    /// is the weight itself.
    #[schema(schema_with = quality_boost_schema)]
    quality_boost: Option<QualityBoost>,
    /// The relevance weight when `quality_boost` is true: 0 to 1, default 0.3.
    #[schema(minimum = 0, maximum = 1)]
    quality_weight: Option<f64>,
}

/// `quality_boost`: on or off (the original's HTTP form), or the weight itself (its MCP form).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum QualityBoost {
    On(bool),
    Weight(f64),
}

/// `quality_boost`'s schema: a boolean, or a number from 0 to 1.
fn quality_boost_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Number).minimum(Some(0.0)).maximum(Some(1.0)))
            .description(Some("true (weight quality_weight), false, or the weight itself from 0 to 1"))
            .build(),
    )
}

/// The relevance weight a search body asks for (0: none), or a 422 naming the field out of range.
fn relevance_weight(boost: Option<&QualityBoost>, weight: Option<f64>) -> Result<f64, ApiError> {
    let (value, field) = match boost {
        None | Some(QualityBoost::On(false)) => return Ok(0.0),
        Some(QualityBoost::On(true)) => (weight.unwrap_or(DEFAULT_RELEVANCE_WEIGHT), "quality_weight"),
        Some(QualityBoost::Weight(weight)) => (*weight, "quality_boost"),
    };
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid("value_error", &["body", field], "Input should be between 0 and 1", value.into()))
    }
}

/// Search by meaning (default), keywords (BM25) or both (hybrid).
#[utoipa::path(post, path = "/api/search", tag = "search", request_body = SearchBody,
    responses((status = 200, description = "Results, best first", body = SearchResponse),
              (status = 400, description = "Unreadable time_filter or as_of"), (status = 422, description = "Invalid body"),
              (status = 503, description = "The embedding model is not available")))]
pub(crate) async fn search(
    State(state): State<AppState>,
    Body(body): Body<SearchBody>,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let limit = n_results(body.n_results, 10)?;
    if let Some(threshold) = body.similarity_threshold
        && !(0.0..=1.0).contains(&threshold)
    {
        return Err(ApiError::invalid(
            "value_error",
            &["body", "similarity_threshold"],
            "Input should be between 0 and 1",
            threshold.into(),
        ));
    }
    if body.query.trim().is_empty() {
        return Err(ApiError::invalid(
            "string_too_short",
            &["body", "query"],
            "The query must not be empty",
            "".into(),
        ));
    }
    let created = match body.time_filter.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(phrase) => Some(time_range(&state, phrase)?),
        None => None,
    };
    let target = as_of_target(body.as_of.as_deref())?;
    let mode = body.mode.unwrap_or_default();
    let relevance_weight = relevance_weight(body.quality_boost.as_ref(), body.quality_weight)?;
    let request = SearchRequest {
        query: body.query.clone(),
        mode,
        limit,
        min_similarity: body.similarity_threshold,
        tags: body.tags.clone(),
        match_all: body.match_all,
        memory_type: body.memory_type,
        created,
        extract_time: false,
        relevance_weight,
    };
    let (hits, as_of) = run_search(&state, request, target).await?;
    let kind = match mode {
        SearchMode::Semantic => "semantic",
        SearchMode::Keyword => "keyword",
        SearchMode::Hybrid => "hybrid",
        SearchMode::Exact => "exact",
    };
    let results = hits.into_iter().map(SearchResult::from).collect();
    Ok(respond(&state, results, body.query, kind, started, as_of, &body.tags))
}

/// Memories with any (or all) of some tags.
#[derive(Deserialize, ToSchema)]
pub(crate) struct TagSearchBody {
    /// At least one tag.
    #[schema(min_items = 1)]
    tags: Vec<String>,
    #[serde(default)]
    match_all: bool,
    /// At most this many, newest first (1 to 1000, default 1000).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "integer")]
    n_results: Option<i64>,
    /// Only memories created in this time ("last week"...).
    time_filter: Option<String>,
    /// Answer as the store was right after this event (`1234` or `seq:1234`) or at this moment (RFC 3339,
    /// `2026-01-31 12:00` UTC, or a phrase such as `yesterday`, whose end is taken). Nothing is restored.
    as_of: Option<String>,
}

/// Search by tags, newest first.
#[utoipa::path(post, path = "/api/search/by-tag", tag = "search", request_body = TagSearchBody,
    responses((status = 200, description = "Matching memories", body = SearchResponse),
              (status = 400, description = "No tags, or an unreadable time_filter or as_of"), (status = 422, description = "Invalid body")))]
pub(crate) async fn by_tag(
    State(state): State<AppState>,
    Body(body): Body<TagSearchBody>,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let tags = tag_list(Some(&body.tags.join(",")));
    if tags.is_empty() {
        return Err(ApiError::bad_request("At least one tag must be specified"));
    }
    let limit = body.n_results.unwrap_or(1000);
    check_range(&["body", "n_results"], limit, 1, 1000)?;
    let created = match body.time_filter.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(phrase) => Some(time_range(&state, phrase)?),
        None => None,
    };
    let target = as_of_target(body.as_of.as_deref())?;
    let request = ListRequest {
        page: 1,
        page_size: limit as usize,
        tags: tags.clone(),
        match_all: body.match_all,
        memory_type: None,
        created,
    };
    let (page, as_of) = run_list(&state, request, target).await?;
    let how = if body.match_all { "ALL" } else { "ANY" };
    let results = page
        .memories
        .into_iter()
        .map(|memory| {
            let matched: Vec<&str> = tags.iter().filter(|t| memory.tags.contains(t)).map(String::as_str).collect();
            let relevance_reason = format!("Tags match ({how}): {}", matched.join(", "));
            SearchResult { memory, similarity_score: None, fusion_score: None, relevance_score: None, relevance_reason }
        })
        .collect();
    let query = format!("Tags: {} ({how})", tags.join(", "));
    Ok(respond(&state, results, query, "tag", started, as_of, &tags))
}

/// Memories from a time, optionally ranked by meaning.
#[derive(Deserialize, ToSchema)]
pub(crate) struct TimeSearchBody {
    /// A time phrase: "yesterday", "last week", "3 days ago", "in March", "between 2026-01-01 and 2026-02-01"...
    query: String,
    /// 1 to 100, default 10.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "integer")]
    n_results: Option<i64>,
    /// Rank the memories of that time by meaning instead of newest first.
    semantic_query: Option<String>,
    /// Answer as the store was right after this event (`1234` or `seq:1234`) or at this moment (RFC 3339,
    /// `2026-01-31 12:00` UTC, or a phrase such as `yesterday`, whose end is taken). Nothing is restored.
    as_of: Option<String>,
}

/// Search by creation time (natural language).
#[utoipa::path(post, path = "/api/search/by-time", tag = "search", request_body = TimeSearchBody,
    responses((status = 200, description = "Memories from that time", body = SearchResponse),
              (status = 400, description = "The phrase or as_of cannot be read"), (status = 422, description = "Invalid body")))]
pub(crate) async fn by_time(
    State(state): State<AppState>,
    Body(body): Body<TimeSearchBody>,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let limit = n_results(body.n_results, 10)?;
    let range = time_range(&state, &body.query)?;
    let target = as_of_target(body.as_of.as_deref())?;
    let reason = format!("Time match: {}", body.query);
    let (results, as_of): (Vec<SearchResult>, _) = match body
        .semantic_query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        Some(semantic) => {
            let request =
                SearchRequest { query: semantic.to_string(), limit, created: Some(range), ..SearchRequest::default() };
            let (hits, as_of) = run_search(&state, request, target).await?;
            let results = hits
                .into_iter()
                .map(|hit| SearchResult { relevance_reason: reason.clone(), ..SearchResult::from(hit) })
                .collect();
            (results, as_of)
        }
        None => {
            let request = ListRequest {
                page: 1,
                page_size: limit,
                tags: Vec::new(),
                match_all: false,
                memory_type: None,
                created: Some(range),
            };
            let (page, as_of) = run_list(&state, request, target).await?;
            let results = page
                .memories
                .into_iter()
                .map(|memory| SearchResult {
                    memory,
                    similarity_score: None,
                    fusion_score: None,
                    relevance_score: None,
                    relevance_reason: reason.clone(),
                })
                .collect();
            (results, as_of)
        }
    };
    Ok(respond(&state, results, body.query, "time", started, as_of, &[]))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SimilarQuery {
    /// 1 to 100, default 10.
    #[param(minimum = 1, maximum = 100)]
    n_results: Option<i64>,
}

/// Memories closest in meaning to a stored one (itself excluded).
#[utoipa::path(get, path = "/api/search/similar/{content_hash}", tag = "search",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash"), SimilarQuery),
    responses((status = 200, description = "Similar memories", body = SearchResponse),
              (status = 404, description = "No such memory"), (status = 422, description = "Bad parameters")))]
pub(crate) async fn similar(
    State(state): State<AppState>,
    Path(content_hash): Path<String>,
    Params(query): Params<SimilarQuery>,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let hash = hash_of(&content_hash)?;
    let limit = query.n_results.unwrap_or(10);
    check_range(&["query", "n_results"], limit, 1, 100)?;
    let hits = state.service.similar(&hash, limit as usize).await.map_err(|e| match e {
        ServiceError::NotFound(_) => ApiError::not_found("Memory not found"),
        other => other.into(),
    })?;
    Ok(respond(&state, hits.into_iter().map(SearchResult::from).collect(), hash, "similar", started, None, &[]))
}
