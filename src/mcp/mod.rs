//! The MCP server over stdio (`mcp-memory-service mcp`), built on the official Rust SDK (rmcp).
//!
//! This module owns the advertised tools and the handler that routes every request; the original v8.9
//! tool names live in `aliases` (callable, never listed), the `memory://` resources in `resources` and the
//! original's prompts in `prompts`; `access` decides the scope each of them needs over HTTP and checks it
//! before anything runs. Each tool is a thin call into the service. A tool that fails on the
//! user's input answers with `isError: true` and a message saying what to fix; an unknown tool is a
//! JSON-RPC error. stdout carries only MCP messages (logs go to stderr), and `initialize` is answered
//! before the embedding model has loaded: it loads in the background and the first search waits for it.

mod access;
mod aliases;
mod consolidation;
mod documents;
mod drain;
mod graph;
pub mod host;
mod prompts;
pub mod relay;
mod resources;
mod schema;
mod streamable;

pub use streamable::streamable_http;

use crate::backup::Backups;
use crate::service::time_expr::TimeRange;
use crate::service::{
    AsOf, DeleteOutcome, DeleteRequest, Hit, ListRequest, Memory, Point, SearchMode, SearchRequest, Service,
    ServiceError, StoreRequest, UpdateRequest,
};
use mms_log::{Actor, Interface};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, GetPromptRequestParams, GetPromptResponse, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Json, RoleServer, ServerHandler, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// memory_search's answer stays under this many characters unless asked otherwise.
const DEFAULT_RESPONSE_CHARS: usize = 40_000;

/// The MCP face of the service.
#[derive(Clone)]
pub struct McpServer {
    service: Service,
    backups: Arc<Backups>,
    /// Consolidation runs and their schedule.
    consolidator: Arc<crate::consolidator::Consolidator>,
    /// Cloudflare replication, with the hybrid and cloudflare backends.
    sync: Option<crate::sync::Sync>,
    /// The advertised tools.
    tool_router: ToolRouter<McpServer>,
    /// The original's tool names: callable, never listed.
    alias_router: ToolRouter<McpServer>,
}

/// Tags as a list or as one comma-separated string: clients send both.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Tags {
    #[default]
    None,
    List(Vec<String>),
    Joined(String),
}

impl Tags {
    fn into_vec(self) -> Vec<String> {
        match self {
            Tags::None => Vec::new(),
            Tags::List(tags) => tags,
            Tags::Joined(joined) => joined.split(',').map(str::to_string).collect(),
        }
    }
}

/// How several tags combine.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TagMatch {
    #[default]
    Any,
    All,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StoreArgs {
    /// The text to remember.
    pub content: String,
    /// Tags: a list or a comma-separated string.
    #[serde(default)]
    pub tags: Tags,
    /// A type such as note, decision, reminder or observation.
    pub memory_type: Option<String>,
    /// Extra data as a JSON object.
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// What to look for.
    pub query: String,
    /// hybrid (by meaning with a bonus for matching words, the default), semantic (by meaning), keyword (BM25) or exact (same content).
    #[serde(default)]
    pub mode: SearchMode,
    /// Results to return (default 5, at most 100).
    pub limit: Option<usize>,
    /// Only memories with these tags.
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub tag_match: TagMatch,
    /// Only memories created in this time: "yesterday", "last week", "between 2026-01-01 and 2026-02-01"...
    pub time_expr: Option<String>,
    /// Only memories created on or after this day (YYYY-MM-DD) or instant (RFC 3339).
    pub after: Option<String>,
    /// Only memories created before this day (YYYY-MM-DD) or instant (RFC 3339).
    pub before: Option<String>,
    /// Leave out results below this similarity (0 to 1).
    pub min_similarity: Option<f64>,
    /// Weight of the memories' relevance now (decay by age and type, importance, connections) in the
    /// ranking, 0 to 1: 0 (default) ranks by the mode alone, 0.3 is a good boost, 1 ranks by relevance
    /// among the best matches. Semantic and hybrid modes.
    pub quality_boost: Option<f64>,
    /// Keep the answer under this many characters (default 40000, at least 500): the last results are
    /// left out, and `truncated` says so.
    pub max_response_chars: Option<usize>,
    /// Answer as the store was right after this event ("1234" or "seq:1234", see memory_log) or at this
    /// moment ("2026-01-31T12:00:00Z", "2026-01-31 12:00" UTC, "yesterday": its end). Nothing is restored;
    /// before the first event the store is empty, past the last it is now.
    pub as_of: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Page number, from 1.
    pub page: Option<usize>,
    /// Memories per page (default 10, at most 100).
    pub page_size: Option<usize>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub tag_match: TagMatch,
    pub memory_type: Option<String>,
    /// Answer as the store was right after this event ("1234" or "seq:1234", see memory_log) or at this
    /// moment ("2026-01-31T12:00:00Z", "2026-01-31 12:00" UTC, "yesterday": its end). Nothing is restored;
    /// before the first event the store is empty, past the last it is now.
    pub as_of: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SyncToolArgs {
    /// status (default), sync, pause or resume.
    pub action: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetArgs {
    /// The memory's content hash.
    pub content_hash: String,
    /// Answer as the store was right after this event ("1234" or "seq:1234", see memory_log) or at this
    /// moment ("2026-01-31T12:00:00Z", "2026-01-31 12:00" UTC, "yesterday": its end). Nothing is restored;
    /// before the first event the store is empty, past the last it is now.
    pub as_of: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GetResult {
    pub memory: Found,
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub metadata: Value,
    /// Present when asked as_of: the event the answer reflects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<AsOf>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct HashArgs {
    /// The memory's content hash.
    pub content_hash: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateArgs {
    /// The memory's content hash.
    pub content_hash: String,
    /// Replace the tags.
    pub tags: Option<Tags>,
    /// Set the type (an empty string clears it).
    pub memory_type: Option<String>,
    /// Keys to merge into the metadata (null removes a key).
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteArgs {
    /// Delete this one memory...
    pub content_hash: Option<String>,
    /// ...or every memory with these tags...
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub tag_match: TagMatch,
    /// ...and/or created in this time ("last month", "before 2026-01-01")...
    pub time_expr: Option<String>,
    /// ...and/or on or after this day (YYYY-MM-DD) or instant (RFC 3339)...
    pub after: Option<String>,
    /// ...and/or before this day or instant.
    pub before: Option<String>,
    /// Only count what would be deleted.
    #[serde(default)]
    pub dry_run: bool,
}

/// A memory in tool results, with its score when it comes from a search.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Found {
    pub content_hash: String,
    pub content: String,
    pub tags: Vec<String>,
    pub memory_type: Option<String>,
    pub created_at_iso: String,
    pub updated_at_iso: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity_score: Option<f64>,
    /// With `quality_boost`: the memory's relevance now, in [0, 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance_score: Option<f64>,
    /// With `quality_boost`: the score that ordered the results, the match mixed with the relevance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion_score: Option<f64>,
}

impl From<Memory> for Found {
    fn from(m: Memory) -> Found {
        Found {
            content_hash: m.content_hash,
            content: m.content,
            tags: m.tags,
            memory_type: m.memory_type,
            created_at_iso: m.created_at_iso,
            updated_at_iso: m.updated_at_iso,
            similarity_score: None,
            relevance_score: None,
            fusion_score: None,
        }
    }
}

impl From<Hit> for Found {
    fn from(hit: Hit) -> Found {
        Found {
            similarity_score: Some(hit.similarity_score),
            relevance_score: hit.relevance_score,
            fusion_score: hit.relevance_score.and(hit.fusion_score),
            ..Found::from(hit.memory)
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StoreResult {
    pub success: bool,
    pub message: String,
    pub content_hash: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchResult {
    pub results: Vec<Found>,
    pub count: usize,
    /// Whether results were left out (or one cut short) to keep under max_response_chars.
    pub truncated: bool,
    /// Present when asked as_of: the event the results reflect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<AsOf>,
}

impl SearchResult {
    /// The hits that fit in `max_chars` of JSON; a first hit too long alone keeps the start of its content.
    fn bounded(hits: Vec<Found>, max_chars: usize) -> SearchResult {
        let mut results = Vec::new();
        let mut used = 64;
        let mut truncated = false;
        for mut found in hits {
            let size = serde_json::to_string(&found).map_or(0, |json| json.len()) + 1;
            if used + size > max_chars {
                truncated = true;
                if results.is_empty() {
                    let keep = max_chars.saturating_sub(used + size - found.content.len()).max(100);
                    let cut = found.content.char_indices().nth(keep).map_or(found.content.len(), |(i, _)| i);
                    found.content.truncate(cut);
                    found.content.push('…');
                    results.push(found);
                }
                break;
            }
            used += size;
            results.push(found);
        }
        SearchResult { count: results.len(), results, truncated, as_of: None }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Turn {
    /// Who spoke: user, assistant...
    pub role: String,
    pub content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionArgs {
    /// The conversation, in order.
    pub turns: Vec<Turn>,
    /// A stable id for the session (a new UUID when absent); tag `session:<id>` is added.
    pub session_id: Option<String>,
    /// More tags: a list or a comma-separated string.
    #[serde(default)]
    pub tags: Tags,
    /// Extra data as a JSON object.
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionResult {
    pub success: bool,
    pub message: String,
    pub content_hash: String,
    pub session_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogArgs {
    /// Events after this sequence number; by default the most recent ones.
    pub since: Option<u64>,
    /// How many events (default 20, at most 100).
    pub limit: Option<usize>,
}

/// What memory_backup does.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackupToolAction {
    /// Take a backup now (the default).
    #[default]
    Now,
    /// List the backups, newest first.
    List,
    /// The schedule and the backup directory.
    Status,
    /// Check one backup (`filename`): its checksum, then a replay into a scratch read model.
    Verify,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct BackupArgs {
    #[serde(default)]
    pub action: BackupToolAction,
    /// The backup to verify: memory_backup_YYYYmmdd_HHMMSS.redb.
    pub filename: Option<String>,
    /// With action now: a full snapshot even when an increment (the events since the newest backup) would do.
    #[serde(default)]
    pub full: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupToolResult {
    pub action: String,
    /// The same JSON as the HTTP API's /api/backup/{now,list,status} (verify: valid, events, memories).
    pub result: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RestoreArgs {
    /// Restore to right after this event (memory_log and memory_history show sequence numbers)...
    pub to_seq: Option<u64>,
    /// ...or to a moment: "2026-11-20T14:00:00Z", "2026-11-20 14:00" (UTC), a phrase ("yesterday": its end) or a phrase and a time ("yesterday 18:00")...
    pub to_time: Option<String>,
    /// ...or to a backup, by file name (memory_backup action list).
    pub backup: Option<String>,
    /// Do it. Without it, only show what would come back, disappear or change.
    #[serde(default)]
    pub apply: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RestoreToolResult {
    pub summary: String,
    /// target_seq, target_at, from_seq, come_back, disappear, change (hashes), memories_after,
    /// relations_restored, relations_removed, dry_run, appended_seqs.
    pub plan: Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LogLine {
    pub seq: u64,
    pub at: String,
    pub kind: String,
    pub interface: String,
    pub actor: String,
    pub content_hash: String,
    /// The memory's content, for events that store or restore it.
    pub content: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LogResult {
    pub events: Vec<LogLine>,
    /// The log's last sequence number; pass the last event's seq as `since` for the next page.
    pub last_seq: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListResult {
    pub memories: Vec<Found>,
    pub total: u64,
    pub page: usize,
    pub page_size: usize,
    pub has_more: bool,
    /// Present when asked as_of: the event the page reflects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<AsOf>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ImportArgs {
    /// The memories: JSON lines (one memory object per line, as memory_export or `export` writes them) or the
    /// original service's export document ({"export_metadata": ..., "memories": [...]}). Times are kept;
    /// memories already stored (same content hash) are skipped.
    pub data: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExportArgs {
    /// jsonl (one memory per line, the default) or original (the original service's exporter document).
    #[serde(default)]
    pub format: crate::portability::ExportFormat,
    /// The largest export returned, in characters (default 1,000,000); a larger store is refused with a
    /// message: export it with the CLI (`export`) or GET /api/export instead.
    pub max_chars: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExportResult {
    pub memories: usize,
    pub data: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RedactArgs {
    /// The memory's content hash.
    pub content_hash: String,
    /// Why (kept in the tombstone; do not repeat what is being forgotten).
    pub reason: Option<String>,
    /// Must be true: a redaction cannot be undone.
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RedactResult {
    pub success: bool,
    pub content_hash: String,
    /// The `redacted` event's sequence number.
    pub seq: u64,
    /// Earlier events of the memory whose payload is now erased.
    pub events_erased: usize,
    /// Backups the memory was erased from.
    pub backups_scrubbed: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeResult {
    pub success: bool,
    pub message: String,
    /// The memories affected (or that would be, on a dry run).
    pub content_hashes: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryEvent {
    pub seq: u64,
    pub kind: String,
    pub version: u32,
    pub at: String,
    pub interface: String,
    pub actor: String,
    pub tags_after: Option<Vec<String>>,
    /// True when a later redaction erased what this event held.
    pub erased: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryResult {
    pub content_hash: String,
    pub events: Vec<HistoryEvent>,
}

/// What a failed tool call says: the service's message, which says what to fix.
fn failure(error: ServiceError) -> String {
    match error {
        ServiceError::Internal(_) => {
            tracing::error!(reason = %error.report(), "MCP tool failed");
            "internal error; see the server log".to_string()
        }
        other => other.to_string(),
    }
}

/// Reads an `as_of` argument.
fn as_of_target(as_of: Option<&str>) -> Result<Option<Point>, String> {
    Point::parse_as_of(as_of).map_err(failure)
}

fn actor() -> Actor {
    Actor::new(Interface::Mcp, None)
}

/// What `initialize` answers: the server, its capabilities and a hint for the model.
pub(crate) fn server_info() -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().enable_prompts().build())
        .with_server_info(Implementation::new("mcp-memory-service", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Long-term memory: memory_store what is worth remembering, memory_search to recall it by meaning, \
             tags or time, memory_history to see how a memory changed.",
        )
}

#[tool_router]
impl McpServer {
    pub fn new(
        service: Service,
        backups: Arc<Backups>,
        consolidator: Arc<crate::consolidator::Consolidator>,
        sync: Option<crate::sync::Sync>,
    ) -> McpServer {
        let tool_router = schema::standardize(Self::advertised_router());
        let alias_router = schema::standardize(Self::every_alias_router());
        McpServer { service, backups, consolidator, sync, tool_router, alias_router }
    }

    /// Every advertised tool: the memory tools, `memory_ingest`, `memory_relate` and `memory_graph`.
    pub(super) fn advertised_router() -> ToolRouter<McpServer> {
        Self::tool_router() + Self::document_router() + Self::graph_router() + Self::consolidation_router()
    }

    /// Every alias: the original's memory tool names and its document tools.
    pub(super) fn every_alias_router() -> ToolRouter<McpServer> {
        Self::alias_router() + Self::document_alias_router() + Self::consolidation_alias_router()
    }

    /// The tools this server advertises (what `tools/list` answers), as JSON.
    pub fn advertised_tools(&self) -> Vec<serde_json::Value> {
        self.tool_router.list_all().iter().filter_map(|tool| serde_json::to_value(tool).ok()).collect()
    }

    pub fn backups(&self) -> &Arc<Backups> {
        &self.backups
    }

    pub fn consolidator(&self) -> &Arc<crate::consolidator::Consolidator> {
        &self.consolidator
    }

    fn time(&self, phrase: Option<&str>) -> Result<Option<TimeRange>, String> {
        phrase.filter(|p| !p.trim().is_empty()).map(|p| self.service.time_range(p)).transpose().map_err(failure)
    }

    /// A time expression narrowed by `after` / `before` (days or instants).
    fn created(
        &self,
        phrase: Option<&str>,
        after: Option<&str>,
        before: Option<&str>,
    ) -> Result<Option<TimeRange>, String> {
        let range = self.time(phrase)?;
        let after = after.filter(|a| !a.trim().is_empty()).map(|a| aliases::instant("after", a)).transpose()?;
        let before = before.filter(|b| !b.trim().is_empty()).map(|b| aliases::instant("before", b)).transpose()?;
        TimeRange::narrowed(range, after, before).map_err(|error| failure(error.into()))
    }

    /// Stores a memory; a duplicate is a result, not a failure. Shared by every tool and prompt that stores.
    async fn store(&self, request: StoreRequest) -> Result<StoreResult, String> {
        Ok(match self.service.store(request, actor()).await.map_err(failure)?.stored() {
            Ok(memory) => StoreResult {
                success: true,
                message: "Memory stored successfully".into(),
                content_hash: memory.content_hash,
            },
            Err((content_hash, message)) => StoreResult { success: false, message, content_hash },
        })
    }

    async fn delete_one(&self, hash: &str) -> Result<(), String> {
        self.service.delete(hash, None, actor()).await.map_err(failure)
    }

    async fn delete_matching(&self, request: DeleteRequest) -> Result<DeleteOutcome, String> {
        self.service.delete_where(request, actor()).await.map_err(failure)
    }

    async fn update(&self, hash: &str, request: UpdateRequest) -> Result<Memory, String> {
        self.service.update(hash, request, actor()).await.map_err(failure)
    }

    /// Store a memory. Storing the same content again (ignoring case and surrounding spaces) is reported
    /// as a duplicate and changes nothing.
    #[tool(annotations(
        title = "Store memory",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true
    ))]
    async fn memory_store(&self, Parameters(args): Parameters<StoreArgs>) -> Result<Json<StoreResult>, String> {
        let request = StoreRequest {
            content: args.content,
            tags: args.tags.into_vec(),
            memory_type: args.memory_type,
            metadata: args.metadata.unwrap_or_default(),
            ..StoreRequest::default()
        };
        self.store(request).await.map(Json)
    }

    /// Search memories by meaning (default), keywords, both, or exact content; filter by tags and by a
    /// natural-language time expression.
    #[tool(annotations(title = "Search memories", read_only_hint = true))]
    async fn memory_search(&self, Parameters(args): Parameters<SearchArgs>) -> Result<Json<SearchResult>, String> {
        let limit = args.limit.unwrap_or(5);
        if limit > 100 {
            return Err("limit must be at most 100".into());
        }
        let request = SearchRequest {
            query: args.query,
            mode: args.mode,
            limit,
            min_similarity: args.min_similarity,
            tags: args.tags.into_vec(),
            match_all: args.tag_match == TagMatch::All,
            memory_type: None,
            created: self.created(args.time_expr.as_deref(), args.after.as_deref(), args.before.as_deref())?,
            extract_time: false,
            relevance_weight: args.quality_boost.unwrap_or(0.0),
        };
        let max_chars = args.max_response_chars.unwrap_or(DEFAULT_RESPONSE_CHARS);
        if max_chars < 500 {
            return Err("max_response_chars must be at least 500".into());
        }
        let (hits, as_of) = match as_of_target(args.as_of.as_deref())? {
            Some(target) => {
                let (hits, as_of) = self.service.search_as_of(request, target).await.map_err(failure)?;
                (hits, Some(as_of))
            }
            None => (self.service.search(request).await.map_err(failure)?, None),
        };
        let mut result = SearchResult::bounded(hits.into_iter().map(Found::from).collect(), max_chars);
        result.as_of = as_of;
        Ok(Json(result))
    }

    /// Store a whole conversation as one memory (turns as `role: content`), tagged `session:<id>`.
    #[tool(annotations(title = "Store conversation session", read_only_hint = false, destructive_hint = false))]
    async fn memory_store_session(
        &self,
        Parameters(args): Parameters<SessionArgs>,
    ) -> Result<Json<SessionResult>, String> {
        let turns: Vec<String> = args
            .turns
            .iter()
            .filter(|turn| !turn.content.trim().is_empty())
            .map(|turn| format!("{}: {}", turn.role.trim(), turn.content.trim()))
            .collect();
        if turns.is_empty() {
            return Err(
                "turns must hold at least one turn with content: [{\"role\": \"user\", \"content\": \"...\"}]".into()
            );
        }
        let session_id = args
            .session_id
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut tags = args.tags.into_vec();
        tags.push(format!("session:{session_id}"));
        let mut metadata = args.metadata.unwrap_or_default();
        metadata.insert("session_id".into(), Value::from(session_id.clone()));
        metadata.insert("turn_count".into(), Value::from(turns.len()));
        let request = StoreRequest {
            content: turns.join("\n\n"),
            tags,
            memory_type: Some("session".into()),
            metadata,
            ..StoreRequest::default()
        };
        let stored = self.store(request).await?;
        Ok(Json(SessionResult {
            success: stored.success,
            message: stored.message,
            content_hash: stored.content_hash,
            session_id,
        }))
    }

    /// The event log: every store, update, delete and restore from every interface, oldest first from
    /// `since`, or the most recent ones.
    #[tool(annotations(title = "Event log", read_only_hint = true))]
    async fn memory_log(&self, Parameters(args): Parameters<LogArgs>) -> Result<Json<LogResult>, String> {
        let limit = args.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err("limit must be from 1 to 100".into());
        }
        let since = args.since.unwrap_or_else(|| self.service.log().last_seq().0.saturating_sub(limit as u64));
        let (entries, last_seq) = self.service.log_page(since, limit).await.map_err(failure)?;
        let events = entries
            .into_iter()
            .map(|entry| LogLine {
                seq: entry.event.seq,
                at: entry.event.at,
                kind: entry.event.kind,
                interface: entry.event.interface,
                actor: entry.event.actor,
                content_hash: entry.content_hash,
                content: entry.memory.map(|m| m.content),
            })
            .collect();
        Ok(Json(LogResult { events, last_seq }))
    }

    /// List memories, newest first, a page at a time, optionally by tags and type.
    #[tool(annotations(title = "List memories", read_only_hint = true))]
    async fn memory_list(&self, Parameters(args): Parameters<ListArgs>) -> Result<Json<ListResult>, String> {
        let page_size = args.page_size.unwrap_or(10);
        if page_size > 100 {
            return Err("page_size must be at most 100".into());
        }
        let request = ListRequest {
            page: args.page.unwrap_or(1),
            page_size,
            tags: args.tags.into_vec(),
            match_all: args.tag_match == TagMatch::All,
            memory_type: args.memory_type,
            created: None,
        };
        let (page, as_of) = match as_of_target(args.as_of.as_deref())? {
            Some(target) => {
                let (page, as_of) = self.service.list_as_of(request, target).await.map_err(failure)?;
                (page, Some(as_of))
            }
            None => (self.service.list(request).await.map_err(failure)?, None),
        };
        Ok(Json(ListResult {
            total: page.total,
            page: page.page,
            page_size: page.page_size,
            has_more: page.has_more,
            memories: page.memories.into_iter().map(Found::from).collect(),
            as_of,
        }))
    }

    /// One memory by content hash, with its metadata; as_of shows it as it was at an earlier point.
    #[tool(annotations(title = "Get memory", read_only_hint = true))]
    async fn memory_get(&self, Parameters(args): Parameters<GetArgs>) -> Result<Json<GetResult>, String> {
        let (memory, as_of) = match as_of_target(args.as_of.as_deref())? {
            Some(target) => {
                let (memory, as_of) = self.service.get_as_of(&args.content_hash, target).await.map_err(failure)?;
                (memory, Some(as_of))
            }
            None => (self.service.get(&args.content_hash).await.map_err(failure)?, None),
        };
        let metadata = memory.metadata.clone();
        Ok(Json(GetResult { memory: Found::from(memory), metadata, as_of }))
    }

    /// Change a memory's tags, type or metadata (metadata keys are merged).
    #[tool(annotations(title = "Update memory", read_only_hint = false, destructive_hint = false))]
    async fn memory_update(&self, Parameters(args): Parameters<UpdateArgs>) -> Result<Json<ChangeResult>, String> {
        let request = UpdateRequest {
            tags: args.tags.map(Tags::into_vec),
            memory_type: args.memory_type.map(|t| Some(t).filter(|t| !t.trim().is_empty())),
            metadata: args.metadata,
            expected_version: None,
        };
        let memory = self.update(&args.content_hash, request).await?;
        Ok(Json(ChangeResult {
            success: true,
            message: "Memory updated".into(),
            content_hashes: vec![memory.content_hash],
        }))
    }

    /// Delete one memory by hash, or every memory matching tags and/or a time expression (dry_run counts
    /// first). Deleted memories keep their history.
    #[tool(annotations(title = "Delete memories", read_only_hint = false, destructive_hint = true))]
    async fn memory_delete(&self, Parameters(args): Parameters<DeleteArgs>) -> Result<Json<ChangeResult>, String> {
        let tags = args.tags.into_vec();
        if let Some(hash) = args.content_hash {
            if !tags.is_empty() || args.time_expr.is_some() || args.after.is_some() || args.before.is_some() {
                return Err("give either content_hash or filters (tags, time_expr, after, before), not both".into());
            }
            if args.dry_run {
                let memory = self.service.get(&hash).await.map_err(failure)?;
                return Ok(Json(ChangeResult {
                    success: true,
                    message: "Would delete 1 memory".into(),
                    content_hashes: vec![memory.content_hash],
                }));
            }
            self.delete_one(&hash).await?;
            return Ok(Json(ChangeResult {
                success: true,
                message: "Memory deleted".into(),
                content_hashes: vec![hash],
            }));
        }
        let outcome = self
            .delete_matching(DeleteRequest {
                tags,
                match_all: args.tag_match == TagMatch::All,
                memory_type: None,
                created: self.created(args.time_expr.as_deref(), args.after.as_deref(), args.before.as_deref())?,
                dry_run: args.dry_run,
            })
            .await?;
        let message = if outcome.dry_run {
            format!("Would delete {} memories", outcome.matched)
        } else {
            format!("Deleted {} memories", outcome.deleted)
        };
        Ok(Json(ChangeResult { success: true, message, content_hashes: outcome.content_hashes }))
    }

    /// Every change ever made to one memory: when, through which interface, what changed.
    #[tool(annotations(title = "Memory history", read_only_hint = true))]
    async fn memory_history(&self, Parameters(args): Parameters<HashArgs>) -> Result<Json<HistoryResult>, String> {
        let entries = self.service.history(&args.content_hash).await.map_err(failure)?;
        Ok(Json(HistoryResult {
            content_hash: args.content_hash,
            events: entries
                .into_iter()
                .map(|e| HistoryEvent {
                    seq: e.event.seq,
                    kind: e.event.kind,
                    version: e.event.version,
                    at: e.event.at,
                    interface: e.event.interface,
                    actor: e.event.actor,
                    tags_after: e.after.map(|m| m.tags),
                    erased: e.event.erased,
                })
                .collect(),
        }))
    }

    /// Import memories given as JSON lines or as the original service's export document (for a move from
    /// another store or from the original service; its sqlite_vec.db is imported by the CLI's `import`).
    #[tool(annotations(title = "Import memories", read_only_hint = false, destructive_hint = false))]
    async fn memory_import(
        &self,
        Parameters(args): Parameters<ImportArgs>,
    ) -> Result<Json<crate::portability::ImportReport>, String> {
        let requests = crate::portability::parse_json(&args.data).map_err(failure)?;
        let report = crate::portability::import_requests(&self.service, requests, |_, _| {}).await.map_err(failure)?;
        Ok(Json(report))
    }

    /// Every memory, newest first, as JSON lines or as the original service's export document, to move a store
    /// or feed it to another tool.
    #[tool(annotations(title = "Export memories", read_only_hint = true))]
    async fn memory_export(&self, Parameters(args): Parameters<ExportArgs>) -> Result<Json<ExportResult>, String> {
        let limit = args.max_chars.unwrap_or(1_000_000);
        let context = crate::portability::ExportContext::here(std::path::Path::new(""));
        let mut export =
            crate::portability::Export::start(&self.service, args.format, context).await.map_err(failure)?;
        let mut data = Vec::new();
        while let Some(chunk) = export.next_chunk(&self.service).await.map_err(failure)? {
            data.extend_from_slice(&chunk);
            if data.len() > limit {
                return Err(format!(
                    "the export of {} memories is larger than max_chars ({limit}): raise it, or export with the CLI \
                     (`mcp-memory-service export`) or GET /api/export",
                    export.total()
                ));
            }
        }
        let data = String::from_utf8(data).map_err(|_| "the export is not UTF-8; see the server log".to_string())?;
        Ok(Json(ExportResult { memories: export.written(), data }))
    }

    /// Forget a memory for real (for secrets or personal data stored by mistake): its content, tags, type,
    /// metadata and vector are erased from the log, the indexes and the backups, leaving a tombstone that
    /// says when and by whom. Unlike memory_delete it cannot be undone; pass confirm: true.
    #[tool(annotations(title = "Redact memory", read_only_hint = false, destructive_hint = true))]
    async fn memory_redact(&self, Parameters(args): Parameters<RedactArgs>) -> Result<Json<RedactResult>, String> {
        if !args.confirm {
            return Err(
                "a redaction cannot be undone: call again with confirm: true (memory_delete can be undone)".into()
            );
        }
        let (redaction, scrubbed) =
            self.backups.redact(&self.service, &args.content_hash, args.reason, actor()).await.map_err(failure)?;
        let backups_scrubbed = scrubbed.map(|files| files.into_iter().map(|s| s.filename).collect()).map_err(|error| format!("the memory is redacted, but erasing it from the backups failed ({}); it is retried at the next backup check", crate::error::Chain(&error)))?;
        Ok(Json(RedactResult {
            success: true,
            content_hash: redaction.content_hash,
            seq: redaction.seq,
            events_erased: redaction.events_erased,
            backups_scrubbed,
        }))
    }

    /// Back up the event log (a consistent snapshot, taken while writes go on), list or verify backups, or
    /// show the backup schedule.
    #[tool(annotations(title = "Backups", read_only_hint = false, destructive_hint = false))]
    async fn memory_backup(&self, Parameters(args): Parameters<BackupArgs>) -> Result<Json<BackupToolResult>, String> {
        let backups = self.backups.clone();
        let name = format!("{:?}", args.action).to_lowercase();
        let result = tokio::task::spawn_blocking(move || -> Result<Value, String> {
            Ok(match args.action {
                BackupToolAction::Now => {
                    let kind = if args.full { crate::backup::Kind::Full } else { crate::backup::Kind::Auto };
                    let created = backups.now(kind);
                    match created.error {
                        Some(error) => return Err(format!("the backup failed: {error}")),
                        None => serde_json::to_value(&created).unwrap_or_default(),
                    }
                }
                BackupToolAction::List => serde_json::to_value(backups.listing()).unwrap_or_default(),
                BackupToolAction::Status => serde_json::to_value(backups.status()).unwrap_or_default(),
                BackupToolAction::Verify => {
                    let filename = args.filename.ok_or("verify needs filename (see action list)")?;
                    let verified =
                        backups.verify(&filename).map_err(|error| crate::error::Chain(&error).to_string())?;
                    serde_json::to_value(&verified).unwrap_or_default()
                }
            })
        })
        .await
        .map_err(|_| "the backup task failed; see the server log".to_string())??;
        Ok(Json(BackupToolResult { action: name, result }))
    }

    /// Bring the store back to how it was after an event or at a moment: a preview unless `apply`. The
    /// restore is recorded as new events, so history is kept and it can be undone by restoring to the event
    /// before it.
    #[tool(annotations(title = "Restore to a point in time", read_only_hint = false, destructive_hint = true))]
    async fn memory_restore(
        &self,
        Parameters(args): Parameters<RestoreArgs>,
    ) -> Result<Json<RestoreToolResult>, String> {
        let (target, _copy) =
            self.backups.restore_target(args.to_seq, args.to_time, args.backup).await.map_err(failure)?;
        let plan = self.service.restore(target, !args.apply, actor()).await.map_err(failure)?;
        Ok(Json(RestoreToolResult { summary: plan.summary(), plan: serde_json::to_value(&plan).unwrap_or_default() }))
    }

    /// Counts: memories, tags, events, sizes.
    #[tool(annotations(title = "Memory statistics", read_only_hint = true))]
    async fn memory_stats(&self) -> Result<Json<crate::service::Stats>, String> {
        self.service.stats().await.map(Json).map_err(failure)
    }

    /// Whether the service is healthy: the model's state and how far the read model is behind the log.
    #[tool(annotations(title = "Service health", read_only_hint = true))]
    async fn memory_health(&self) -> Json<crate::service::Health> {
        Json(self.service.health())
    }

    /// Cloudflare replication (hybrid and cloudflare backends): `status` (the default) shows where it stands,
    /// `sync` pushes and pulls now, `pause` and `resume` stop and restart it (local writes go on).
    #[tool(annotations(title = "Cloudflare sync", read_only_hint = false, destructive_hint = false))]
    async fn memory_sync(
        &self,
        Parameters(args): Parameters<SyncToolArgs>,
    ) -> Result<Json<Map<String, Value>>, String> {
        let Some(sync) = &self.sync else {
            return Err("sync needs MCP_MEMORY_STORAGE_BACKEND=hybrid or cloudflare; this store is local only".into());
        };
        match args.action.as_deref().unwrap_or("status") {
            "status" => {}
            "sync" => {
                sync.sync_now(true, true, |_, _, _| {}).await.map_err(|e| e.to_string())?;
            }
            "pause" => sync.set_paused(true).map_err(|e| e.to_string())?,
            "resume" => sync.set_paused(false).map_err(|e| e.to_string())?,
            other => return Err(format!("unknown action '{other}': use status, sync, pause or resume")),
        }
        match sync.status() {
            Value::Object(status) => Ok(Json(status)),
            _ => Err("the sync status is unavailable".into()),
        }
    }
}

impl McpServer {
    /// A tool call as an act to check: its name and its read-only annotation.
    fn tool_act<'a>(&self, name: &'a str) -> access::Act<'a> {
        let read_only = self.get_tool(name).and_then(|t| t.annotations).and_then(|a| a.read_only_hint);
        access::Act::Tool { name, read_only: read_only == Some(true) }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        server_info()
    }

    /// Only the advertised tools: the aliases stay out of the list.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tool_router.list_all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let router = if self.tool_router.has_route(&request.name) {
            &self.tool_router
        } else if self.alias_router.has_route(&request.name) {
            &self.alias_router
        } else {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {}; tools/list lists the tools", request.name),
                None,
            ));
        };
        // A refused call is an error result naming the scope (the route itself only needs read).
        if let Some(refusal) = self.tool_act(&request.name).refused(&context) {
            let text = rmcp::model::ContentBlock::text(refusal.message);
            return Ok(rmcp::model::CallToolResult::error(vec![text]).into());
        }
        router.call(ToolCallContext::new(self, request, context)).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).or_else(|| self.alias_router.get(name)).cloned()
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(self.resources().await))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if let Some(refusal) = access::Act::Resource(&request.uri).refused(&context) {
            return Err(refusal.error());
        }
        self.read(&request.uri).await.map(ReadResourceResponse::from)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if let Some(refusal) = access::Act::Prompt(&request.name).refused(&context) {
            return Err(refusal.error());
        }
        self.prompt(&request.name, request.arguments.unwrap_or_default()).await.map(GetPromptResponse::from)
    }
}
