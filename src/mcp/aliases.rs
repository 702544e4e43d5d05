//! The original v8.9 tool names (store_memory, retrieve_memory, ...), callable but never listed.
//!
//! Each alias takes the original's argument shape and answers in the original's text format (memory blocks
//! with timestamps, hashes and scores), with the intended behaviour where the original was broken
//! (retrieve_memory, search_by_tag, exact_match_retrieve and the date and all-tags deletes). Unlike the
//! original, a failure is an `isError` result with a message saying what to fix, never plain text.

use super::{McpServer, Tags, failure};
use crate::service::time_expr::TimeRange;
use crate::service::{DEFAULT_RELEVANCE_WEIGHT, UpdateRequest, time_expr};
use crate::service::{DeleteOutcome, DeleteRequest, Hit, ListRequest, Memory, SearchMode, SearchRequest, StoreRequest};
use chrono::{DateTime, NaiveDate, Utc};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The most memories one alias returns, as the advertised tools.
const MAX_N_RESULTS: usize = 100;
/// What the original's stdio server called its sqlite-vec backend in reports.
const BACKEND: &str = "sqlite-vec";

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct StoreMemoryArgs {
    /// The text to remember.
    pub content: String,
    /// `tags` (a list or a comma-separated string) and `type`; any other keys are kept as metadata.
    pub metadata: Option<Map<String, Value>>,
    /// Tags, as the original's HTTP `/mcp` endpoint took them.
    #[serde(default)]
    pub tags: Tags,
    pub memory_type: Option<String>,
    pub client_hostname: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct QueryArgs {
    pub query: String,
    /// How many memories (default 5, at most 100).
    pub n_results: Option<f64>,
    /// Leave out results below this similarity (0 to 1).
    #[serde(alias = "min_similarity")]
    pub similarity_threshold: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct QualityQueryArgs {
    pub query: String,
    /// How many memories (default 5, at most 100).
    pub n_results: Option<f64>,
    /// Weight of the memories' relevance in the ranking (0 to 1, default 0.3).
    pub quality_weight: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct TagArgs {
    /// A list of tags or one comma-separated string.
    #[serde(alias = "tag")]
    pub tags: Tags,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ContentArgs {
    pub content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct RecallTimeframeArgs {
    /// First day, YYYY-MM-DD.
    pub start_date: String,
    /// Last day (inclusive), YYYY-MM-DD; the start date when absent.
    pub end_date: Option<String>,
    pub n_results: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct DeleteTimeframeArgs {
    pub start_date: String,
    pub end_date: Option<String>,
    /// Only memories with this tag.
    pub tag: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct DeleteBeforeArgs {
    /// Memories created before this day (YYYY-MM-DD) are deleted.
    pub before_date: String,
    pub tag: Option<String>,
}

/// The original's `preserve_timestamps` is accepted and ignored: the creation time is always kept, and the log
/// keeps every version.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct UpdateMetadataArgs {
    pub content_hash: String,
    /// `tags`, `memory_type`, `metadata` (merged); any other key is merged into the metadata.
    pub updates: Map<String, Value>,
}

/// `n_results` as the original took it (a JSON number), checked.
fn count(n_results: Option<f64>) -> Result<usize, String> {
    let n = n_results.unwrap_or(5.0);
    if n.fract() != 0.0 || !(1.0..=MAX_N_RESULTS as f64).contains(&n) {
        return Err(format!("n_results must be a whole number from 1 to {MAX_N_RESULTS}, got {n}"));
    }
    Ok(n as usize)
}

/// A day given as YYYY-MM-DD (or an ISO datetime, whose day is taken, as the original did).
fn day(field: &str, value: &str) -> Result<NaiveDate, String> {
    let value = value.trim();
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .or_else(|_| DateTime::parse_from_rfc3339(value).map(|t| t.date_naive()))
        .map_err(|_| format!("{field} must be a date as YYYY-MM-DD (for example 2026-01-31), got '{value}'"))
}

/// An instant given as a day (its midnight, UTC) or as an RFC 3339 date and time.
pub(super) fn instant(field: &str, value: &str) -> Result<DateTime<Utc>, String> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(midnight)
        .map_err(|_| format!("{field} must be a date as YYYY-MM-DD or a time as 2026-01-31T18:00:00Z, got '{value}'"))
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// The days from `start_date` to `end_date` (inclusive; the start date alone when absent).
fn days(start_date: &str, end_date: Option<&str>) -> Result<(NaiveDate, NaiveDate, TimeRange), String> {
    let first = day("start_date", start_date)?;
    let last = end_date.map(|d| day("end_date", d)).transpose()?.unwrap_or(first);
    if last < first {
        return Err(format!("end_date {last} is before start_date {first}; swap them"));
    }
    let end = midnight(last.succ_opt().ok_or("end_date is too far in the future")?);
    Ok((first, last, TimeRange { start: midnight(first), end }))
}

fn timestamp(secs: f64) -> String {
    DateTime::from_timestamp_micros((secs * 1e6) as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// One memory as the original printed it; `extra` lines (scores, type) follow the hash.
fn block(index: usize, memory: &Memory, extra: &[String]) -> String {
    let mut lines = vec![
        format!("Memory {}:", index + 1),
        format!("Timestamp: {}", timestamp(memory.created_at)),
        format!("Content: {}", memory.content),
        format!("Hash: {}", memory.content_hash),
    ];
    lines.extend(extra.iter().cloned());
    if !memory.tags.is_empty() {
        lines.push(format!("Tags: {}", memory.tags.join(", ")));
    }
    lines.push("---".into());
    lines.join("\n")
}

fn blocks<'a>(memories: impl Iterator<Item = (&'a Memory, Vec<String>)>) -> String {
    memories.enumerate().map(|(i, (memory, extra))| block(i, memory, &extra)).collect::<Vec<_>>().join("\n")
}

pub(super) fn scored(hits: &[Hit]) -> String {
    blocks(hits.iter().map(|h| (&h.memory, vec![format!("Relevance Score: {:.2}", h.similarity_score)])))
}

pub(super) fn unscored(memories: &[Memory]) -> String {
    blocks(memories.iter().map(|m| (m, Vec::new())))
}

fn type_line(memory: &Memory) -> Vec<String> {
    memory.memory_type.iter().map(|t| format!("Type: {t}")).collect()
}

/// The original's `HH:MM` range of a recall: the end is shown as the last minute inside it.
fn minutes(range: &TimeRange) -> String {
    let last = range.end - chrono::Duration::seconds(1);
    format!("from {} to {}", range.start.format("%Y-%m-%d %H:%M"), last.format("%Y-%m-%d %H:%M"))
}

fn tag_list(tags: &[String]) -> Result<Vec<String>, String> {
    let tags: Vec<String> = tags.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    if tags.is_empty() {
        return Err("give at least one tag in `tags` (a list or a comma-separated string)".into());
    }
    Ok(tags)
}

/// The original's store arguments as a store: `metadata.tags` and `metadata.type` (or the top-level `tags` and
/// `memory_type` of its HTTP endpoint) by name, every other metadata key kept; the type defaults to "note".
fn store_request(args: StoreMemoryArgs) -> Result<StoreRequest, String> {
    let mut metadata = args.metadata.unwrap_or_default();
    let mut tags = match metadata.remove("tags") {
        Some(value) => serde_json::from_value::<Tags>(value)
            .map_err(|_| "metadata.tags must be a list of strings or a comma-separated string".to_string())?
            .into_vec(),
        None => Vec::new(),
    };
    tags.extend(args.tags.into_vec());
    let memory_type = match metadata.remove("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Null) | None => args.memory_type,
        Some(_) => return Err("metadata.type must be a string such as 'note' or 'decision'".into()),
    };
    Ok(StoreRequest {
        content: args.content,
        tags,
        memory_type: memory_type.or_else(|| Some("note".into())),
        metadata,
        hostname: args.client_hostname,
        ..StoreRequest::default()
    })
}

fn deleted_text(outcome: &DeleteOutcome, what: &str) -> String {
    if outcome.deleted == 0 {
        format!("No memories found {what}")
    } else {
        format!("Successfully deleted {} memories {what}", outcome.deleted)
    }
}

#[tool_router(router = alias_router, vis = "pub(super)")]
impl McpServer {
    /// Store a memory: `{content, metadata: {tags, type}}`; the type defaults to "note".
    #[tool]
    async fn store_memory(&self, Parameters(args): Parameters<StoreMemoryArgs>) -> Result<String, String> {
        let stored = self.store(store_request(args)?).await?;
        Ok(format!("{} (hash: {})", stored.message, stored.content_hash))
    }

    /// Semantic search: `{query, n_results}`.
    #[tool(annotations(read_only_hint = true))]
    async fn retrieve_memory(&self, Parameters(args): Parameters<QueryArgs>) -> Result<String, String> {
        let hits = self.semantic(&args).await?;
        if hits.is_empty() {
            return Ok("No matching memories found".into());
        }
        Ok(format!("Found the following memories:\n\n{}", scored(&hits)))
    }

    /// Hybrid search reranked by the memories' relevance now: `{query, n_results, quality_weight}` (the newer
    /// original's name for memory_search with `quality_boost`).
    #[tool(annotations(read_only_hint = true))]
    async fn retrieve_with_quality_boost(
        &self,
        Parameters(args): Parameters<QualityQueryArgs>,
    ) -> Result<String, String> {
        let request = SearchRequest {
            query: args.query,
            mode: SearchMode::Hybrid,
            limit: count(args.n_results)?,
            relevance_weight: args.quality_weight.unwrap_or(DEFAULT_RELEVANCE_WEIGHT),
            ..SearchRequest::default()
        };
        let hits = self.service.search(request).await.map_err(failure)?;
        if hits.is_empty() {
            return Ok("No matching memories found".into());
        }
        let body = blocks(hits.iter().map(|h| {
            let mut lines = vec![format!("Relevance Score: {:.2}", h.similarity_score)];
            lines.extend(h.relevance_score.map(|q| format!("Quality Score: {q:.2}")));
            lines.extend(h.fusion_score.map(|c| format!("Composite Score: {c:.2}")));
            (&h.memory, lines)
        }));
        Ok(format!("Found the following memories:\n\n{body}"))
    }

    /// Recall by a query that may name a time ("last week", "what did we decide yesterday").
    #[tool(annotations(read_only_hint = true))]
    async fn recall_memory(&self, Parameters(args): Parameters<QueryArgs>) -> Result<String, String> {
        let limit = count(args.n_results)?;
        let extracted = time_expr::extract(&args.query, Utc::now()).map_err(|e| e.to_string())?;
        let hits = self.service.recall(&args.query, limit).await.map_err(failure)?;
        let span = extracted.range.as_ref().map(minutes);
        if hits.is_empty() {
            return Ok(format!("No memories found{}", span.map(|s| format!(" {s}")).unwrap_or_default()));
        }
        let header = match &span {
            Some(span) => format!("Found {} memories {span}:", hits.len()),
            None => format!("Found {} memories:", hits.len()),
        };
        // A query that is only a time phrase lists that time: there is no relevance to show.
        let only_time = extracted.range.is_some() && extracted.remainder.trim().is_empty();
        let body =
            if only_time { unscored(&hits.into_iter().map(|h| h.memory).collect::<Vec<_>>()) } else { scored(&hits) };
        Ok(format!("{header}\n\n{body}"))
    }

    /// Memories with any of these tags: `{tags}`.
    #[tool(annotations(read_only_hint = true))]
    async fn search_by_tag(&self, Parameters(args): Parameters<TagArgs>) -> Result<String, String> {
        let tags = tag_list(&args.tags.into_vec())?;
        let page = self
            .service
            .list(ListRequest {
                page: 1,
                page_size: crate::service::MAX_RESULTS,
                tags: tags.clone(),
                match_all: false,
                memory_type: None,
                created: None,
            })
            .await
            .map_err(failure)?;
        if page.memories.is_empty() {
            return Ok(format!("No memories found with tags: {}", tags.join(", ")));
        }
        let body = blocks(page.memories.iter().map(|m| (m, type_line(m))));
        Ok(format!("Found the following memories:\n\n{body}"))
    }

    /// Delete one memory: `{content_hash}`.
    #[tool]
    async fn delete_memory(&self, Parameters(args): Parameters<super::HashArgs>) -> Result<String, String> {
        self.delete_one(&args.content_hash).await?;
        Ok(format!("Successfully deleted memory {}", args.content_hash))
    }

    /// Delete every memory with any of these tags: `{tags}`.
    #[tool]
    async fn delete_by_tag(&self, Parameters(args): Parameters<TagArgs>) -> Result<String, String> {
        let tags = tag_list(&args.tags.into_vec())?;
        let outcome = self.delete_tagged(tags.clone(), false).await?;
        let what = match tags.as_slice() {
            [tag] => format!("with tag '{tag}'"),
            _ => format!("with tags: {}", tags.join(", ")),
        };
        Ok(deleted_text(&outcome, &what))
    }

    /// Delete every memory with any of these tags: `{tags}`; the answer names the operation.
    #[tool]
    async fn delete_by_tags(&self, Parameters(args): Parameters<TagArgs>) -> Result<String, String> {
        let tags = tag_list(&args.tags.into_vec())?;
        let outcome = self.delete_tagged(tags.clone(), false).await?;
        let operation = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let text = deleted_text(&outcome, &format!("with tags: {}", tags.join(", ")));
        Ok(format!("{text} (Operation ID: delete_by_tags_{operation})"))
    }

    /// Delete every memory that has all of these tags: `{tags}`.
    #[tool]
    async fn delete_by_all_tags(&self, Parameters(args): Parameters<TagArgs>) -> Result<String, String> {
        let tags = tag_list(&args.tags.into_vec())?;
        let outcome = self.delete_tagged(tags.clone(), true).await?;
        Ok(deleted_text(&outcome, &format!("with all tags: {}", tags.join(", "))))
    }

    /// Duplicates cannot exist: the content hash is a memory's identity, and storing the same content again
    /// is refused.
    #[tool]
    async fn cleanup_duplicates(&self) -> String {
        "No duplicate memories found".into()
    }

    /// Semantic search with the raw numbers: `{query, n_results, similarity_threshold}`.
    #[tool(annotations(read_only_hint = true))]
    async fn debug_retrieve(&self, Parameters(args): Parameters<QueryArgs>) -> Result<String, String> {
        let hits = self.semantic(&args).await?;
        if hits.is_empty() {
            return Ok("No matching memories found".into());
        }
        let body = blocks(hits.iter().map(|h| {
            let extra = vec![
                format!("Similarity Score: {:.4}", h.similarity_score),
                format!("Raw Distance: {:.4}", 2.0 * (1.0 - h.similarity_score)),
                format!("Backend: {BACKEND}"),
            ];
            (&h.memory, extra)
        }));
        Ok(format!("Found the following memories:\n\n{body}"))
    }

    /// Memories whose content is exactly this: `{content}`.
    #[tool(annotations(read_only_hint = true))]
    async fn exact_match_retrieve(&self, Parameters(args): Parameters<ContentArgs>) -> Result<String, String> {
        let request = SearchRequest {
            query: args.content,
            mode: SearchMode::Exact,
            limit: MAX_N_RESULTS,
            ..SearchRequest::default()
        };
        let hits = self.service.search(request).await.map_err(failure)?;
        if hits.is_empty() {
            return Ok("No exact matches found".into());
        }
        let memories: Vec<Memory> = hits.into_iter().map(|h| h.memory).collect();
        Ok(format!("Found the following exact matches:\n\n{}", unscored(&memories)))
    }

    /// The embedding of a text: `{content}`.
    #[tool(annotations(read_only_hint = true))]
    async fn get_raw_embedding(&self, Parameters(args): Parameters<ContentArgs>) -> Result<String, String> {
        if args.content.trim().is_empty() {
            return Err("content must not be empty: give the text to embed".into());
        }
        let mut vectors = self.service.embedder().embed(vec![args.content]).await.map_err(|e| e.to_string())?;
        let vector = vectors.pop().ok_or("the model returned no vector")?;
        let show = |values: &[f32]| values.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(", ");
        let shown = if vector.len() > 20 {
            format!("{}, ..., {}", show(&vector[..10]), show(&vector[vector.len() - 10..]))
        } else {
            show(&vector)
        };
        Ok(format!("Embedding generated successfully:\nDimension: {}\nVector: [{shown}]", vector.len()))
    }

    /// The original's health report, as JSON text.
    #[tool(annotations(read_only_hint = true))]
    async fn check_database_health(&self) -> Result<String, String> {
        let stats = self.service.stats().await.map_err(failure)?;
        let health = self.service.health();
        let healthy = health.status == "healthy";
        let report = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "validation": {
                "status": if healthy { "healthy" } else { "unhealthy" },
                "message": health.model_error.clone().unwrap_or_else(|| "SQLite-vec database validation successful".into()),
            },
            "statistics": {
                "status": health.status,
                "backend": BACKEND,
                "total_memories": stats.total_memories,
                "has_embedding_tables": true,
                "has_embedding_model": health.model == "ready",
                "embedding_model": stats.embedding_model,
                "database_size_bytes": stats.database_size_bytes,
                "database_size_mb": (stats.database_size_bytes as f64 / 1048576.0 * 100.0).round() / 100.0,
            },
            "performance": {
                "storage": { "events": stats.events, "log_seq": health.log_seq, "projection_seq": health.projection_seq },
                "server": { "uptime_seconds": health.uptime_seconds, "storage_type": "event log + sqlite-vec" },
            },
        });
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        Ok(format!("Database Health Check Results:\n{text}"))
    }

    /// Memories created from `start_date` to `end_date` (inclusive days), newest first.
    #[tool(annotations(read_only_hint = true))]
    async fn recall_by_timeframe(&self, Parameters(args): Parameters<RecallTimeframeArgs>) -> Result<String, String> {
        let (first, last, range) = days(&args.start_date, args.end_date.as_deref())?;
        let page = self
            .service
            .list(ListRequest {
                page: 1,
                page_size: count(args.n_results)?,
                tags: Vec::new(),
                match_all: false,
                memory_type: None,
                created: Some(range),
            })
            .await
            .map_err(failure)?;
        if page.memories.is_empty() {
            return Ok(format!("No memories found from {first} to {last}"));
        }
        Ok(format!("Found {} memories from {first} to {last}:\n\n{}", page.memories.len(), unscored(&page.memories)))
    }

    /// Delete the memories created from `start_date` to `end_date` (inclusive), optionally only with `tag`.
    #[tool]
    async fn delete_by_timeframe(&self, Parameters(args): Parameters<DeleteTimeframeArgs>) -> Result<String, String> {
        let (first, last, range) = days(&args.start_date, args.end_date.as_deref())?;
        self.delete_dated(range, args.tag, format!("created from {first} to {last}")).await
    }

    /// Delete the memories created before `before_date`, optionally only with `tag`.
    #[tool]
    async fn delete_before_date(&self, Parameters(args): Parameters<DeleteBeforeArgs>) -> Result<String, String> {
        let before = day("before_date", &args.before_date)?;
        let range = TimeRange { start: DateTime::<Utc>::MIN_UTC, end: midnight(before) };
        self.delete_dated(range, args.tag, format!("created before {before}")).await
    }

    /// Change tags, type or metadata: `{content_hash, updates: {tags, memory_type, metadata, ...}}`.
    #[tool]
    async fn update_memory_metadata(&self, Parameters(args): Parameters<UpdateMetadataArgs>) -> Result<String, String> {
        if args.updates.is_empty() {
            return Err("updates is empty: give tags, memory_type or metadata keys to change".into());
        }
        let fields: Vec<String> = args.updates.keys().cloned().chain(["updated_at".to_string()]).collect();
        let request = update_request(args.updates)?;
        self.update(&args.content_hash, request).await?;
        Ok(format!("Successfully updated memory metadata. Updated fields: {}", fields.join(", ")))
    }
}

/// The original's `updates` object as an update: tags and memory_type by name, `metadata` and every other
/// key merged into the metadata.
fn update_request(mut updates: Map<String, Value>) -> Result<UpdateRequest, String> {
    let tags = match updates.remove("tags") {
        Some(value) => Some(
            serde_json::from_value::<Tags>(value)
                .map_err(|_| "updates.tags must be a list of strings or a comma-separated string".to_string())?
                .into_vec(),
        ),
        None => None,
    };
    let memory_type = match updates.remove("memory_type").or_else(|| updates.remove("type")) {
        Some(Value::String(t)) => Some(Some(t).filter(|t| !t.trim().is_empty())),
        Some(Value::Null) => Some(None),
        Some(_) => return Err("updates.memory_type must be a string".into()),
        None => None,
    };
    let mut metadata = match updates.remove("metadata") {
        Some(Value::Object(map)) => map,
        Some(_) => return Err("updates.metadata must be an object".into()),
        None => Map::new(),
    };
    metadata.extend(updates);
    let metadata = Some(metadata).filter(|m| !m.is_empty());
    Ok(UpdateRequest { tags, memory_type, metadata, expected_version: None })
}

impl McpServer {
    async fn semantic(&self, args: &QueryArgs) -> Result<Vec<Hit>, String> {
        let request = SearchRequest {
            query: args.query.clone(),
            limit: count(args.n_results)?,
            min_similarity: args.similarity_threshold.filter(|t| *t > 0.0),
            ..SearchRequest::default()
        };
        self.service.search(request).await.map_err(failure)
    }

    async fn delete_tagged(&self, tags: Vec<String>, match_all: bool) -> Result<DeleteOutcome, String> {
        self.delete_matching(DeleteRequest { tags, match_all, ..DeleteRequest::default() }).await
    }

    async fn delete_dated(&self, range: TimeRange, tag: Option<String>, what: String) -> Result<String, String> {
        let tag = tag.filter(|t| !t.trim().is_empty());
        let outcome = self
            .delete_matching(DeleteRequest {
                tags: tag.iter().cloned().collect(),
                created: Some(range),
                ..DeleteRequest::default()
            })
            .await?;
        let with_tag = tag.map(|t| format!(" with tag '{t}'")).unwrap_or_default();
        Ok(format!("Deleted {} memories: {what}{with_tag}", outcome.deleted))
    }
}
