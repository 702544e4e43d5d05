//! `/api/memories`, their history, the event log and `/api/tags`: the original's shapes, plus history,
//! restore and log paging.

use super::error::{ApiError, Body, Params, check_range, integer};
use super::{AppState, actor, hash_of};
use crate::oauth::scope::Principal;
use crate::service::{AsOf, Point, Redaction, ServiceError, UpdateRequest};
use crate::service::{HistoryEntry, ListRequest, LogEntry, MAX_LOG_PAGE, Memory, StoreRequest};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// A memory to store.
#[derive(Deserialize, ToSchema)]
pub(crate) struct StoreBody {
    /// The text to remember (not blank).
    #[schema(min_length = 1, pattern = "\\S")]
    content: String,
    #[serde(default)]
    tags: Vec<String>,
    memory_type: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Map<String, Value>>,
    /// Used for the `source:` tag when MCP_MEMORY_INCLUDE_HOSTNAME is on (so is the X-Client-Hostname header).
    client_hostname: Option<String>,
    /// Kept in `metadata.conversation_id`.
    conversation_id: Option<String>,
}

/// The answer to a store, update or restore. `success: false` with `memory: null` for a duplicate.
#[derive(Serialize, ToSchema)]
pub(crate) struct MemoryChange {
    success: bool,
    message: String,
    content_hash: String,
    memory: Option<Memory>,
}

/// The answer to a delete.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeleteAnswer {
    success: bool,
    message: String,
    content_hash: String,
}

/// One page of memories, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct MemoryPage {
    memories: Vec<Memory>,
    total: u64,
    page: usize,
    page_size: usize,
    has_more: bool,
    /// Present when asked `as_of`: the event the page reflects.
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<AsOf>,
}

/// A memory; with `as_of` when asked as of an earlier point.
#[derive(Serialize, ToSchema)]
pub(crate) struct MemoryView {
    #[serde(flatten)]
    memory: Memory,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<AsOf>,
}

/// Reads an `as_of` parameter; an unreadable one is a 400 saying what it accepts.
pub(crate) fn as_of_target(as_of: Option<&str>) -> Result<Option<Point>, ApiError> {
    Point::parse_as_of(as_of).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AsOfQuery {
    /// Answer as the store was right after this event (`1234` or `seq:1234`) or at this moment (RFC 3339,
    /// `2026-01-31 12:00` UTC, or a phrase such as `yesterday`, whose end is taken). Nothing is restored.
    pub(crate) as_of: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Memories per page, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
    /// Tags, comma-separated (exact match).
    tag: Option<String>,
    /// `any` (default) or `all` of the tags.
    #[param(pattern = "^(any|all)$")]
    tag_match: Option<String>,
    memory_type: Option<String>,
    /// Answer as the store was right after this event (`1234` or `seq:1234`) or at this moment (RFC 3339,
    /// `2026-01-31 12:00` UTC, or a phrase such as `yesterday`, whose end is taken). Nothing is restored.
    as_of: Option<String>,
}

/// Splits a comma-separated tag list.
pub(crate) fn tag_list(tags: Option<&str>) -> Vec<String> {
    tags.unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// Reads `any`/`all`.
pub(crate) fn match_all(loc: &[&str], value: Option<&str>) -> Result<bool, ApiError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("any") => Ok(false),
        Some("all") => Ok(true),
        Some(other) => Err(ApiError::invalid("enum", loc, "Input should be 'any' or 'all'", other.into())),
    }
}

/// Store a memory.
#[utoipa::path(post, path = "/api/memories", tag = "memories", request_body = StoreBody,
    params(("X-Agent-ID" = Option<String>, Header, description = "Adds the tag agent:<id>"),
           ("X-Client-Hostname" = Option<String>, Header, description = "The client's host name")),
    responses((status = 200, description = "Stored, or a duplicate (success false)", body = MemoryChange),
              (status = 422, description = "Invalid body")))]
pub(crate) async fn store(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Body(body): Body<StoreBody>,
) -> Result<Json<MemoryChange>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let mut tags = body.tags;
    if let Some(agent) = header("x-agent-id") {
        tags.push(format!("agent:{agent}"));
    }
    let mut metadata = body.metadata.unwrap_or_default();
    if let Some(conversation) = body.conversation_id.filter(|c| !c.trim().is_empty()) {
        metadata.insert("conversation_id".into(), conversation.into());
    }
    let request = StoreRequest {
        content: body.content,
        tags,
        memory_type: body.memory_type,
        metadata,
        hostname: body.client_hostname.or_else(|| header("x-client-hostname").map(str::to_string)),
        ..StoreRequest::default()
    };
    let outcome = state.service.store(request, actor(&principal, &headers)).await.map_err(|e| match e {
        ServiceError::Invalid(message) => ApiError::invalid("value_error", &["body", "content"], message, Value::Null),
        other => other.into(),
    })?;
    Ok(Json(match outcome.stored() {
        Ok(memory) => MemoryChange {
            success: true,
            message: "Memory stored successfully".into(),
            content_hash: memory.content_hash.clone(),
            memory: Some(*memory),
        },
        Err((content_hash, message)) => MemoryChange { success: false, message, content_hash, memory: None },
    }))
}

/// List memories, newest first, by tag and type.
#[utoipa::path(get, path = "/api/memories", tag = "memories", params(ListQuery),
    responses((status = 200, description = "One page", body = MemoryPage),
              (status = 400, description = "Unreadable as_of"), (status = 422, description = "Bad paging")))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Params(query): Params<ListQuery>,
) -> Result<Json<MemoryPage>, ApiError> {
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(10);
    check_range(&["query", "page"], page, 1, 1_000_000)?;
    check_range(&["query", "page_size"], page_size, 1, 100)?;
    let request = ListRequest {
        page: page as usize,
        page_size: page_size as usize,
        tags: tag_list(query.tag.as_deref()),
        match_all: match_all(&["query", "tag_match"], query.tag_match.as_deref())?,
        memory_type: query.memory_type,
        created: None,
    };
    let (listed, as_of) = match as_of_target(query.as_of.as_deref())? {
        Some(target) => state.service.list_as_of(request, target).await.map(|(page, as_of)| (page, Some(as_of)))?,
        None => (state.service.list(request).await?, None),
    };
    Ok(Json(MemoryPage {
        memories: listed.memories,
        total: listed.total,
        page: listed.page,
        page_size: listed.page_size,
        has_more: listed.has_more,
        as_of,
    }))
}

/// The original answers a missing memory with exactly this.
fn memory_not_found(error: ServiceError) -> ApiError {
    match error {
        ServiceError::NotFound(_) => ApiError::not_found("Memory not found"),
        other => other.into(),
    }
}

/// One memory.
#[utoipa::path(get, path = "/api/memories/{content_hash}", tag = "memories",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "sha256 of the content, 64 hex digits"),
           AsOfQuery),
    responses((status = 200, description = "The memory (with `as_of` when asked)", body = MemoryView),
              (status = 400, description = "Unreadable as_of"),
              (status = 404, description = "No such memory (then)"), (status = 422, description = "Not a content hash")))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(content_hash): Path<String>,
    Params(query): Params<AsOfQuery>,
) -> Result<Json<MemoryView>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let target = as_of_target(query.as_of.as_deref())?;
    let (memory, as_of) = match target {
        Some(target) => state.service.get_as_of(&hash, target).await.map(|(m, a)| (m, Some(a))),
        None => state.service.get(&hash).await.map(|m| (m, None)),
    }
    .map_err(memory_not_found)?;
    Ok(Json(MemoryView { memory, as_of }))
}

/// Deserialises a field that may be given as null, keeping "given as null" apart from "absent".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// Changes to tags, type or metadata; absent fields stay. Content cannot change (it defines the hash).
#[derive(Deserialize, ToSchema)]
pub(crate) struct UpdateBody {
    tags: Option<Vec<String>>,
    /// A string sets the type, null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    memory_type: Option<Option<String>>,
    /// Keys merged into the metadata; a null value removes its key.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Map<String, Value>>,
    /// Fail with 409 unless the memory is at this version (see its history).
    #[schema(minimum = 0, maximum = 4294967295_i64)]
    #[serde(default, deserialize_with = "integer")]
    expected_version: Option<i64>,
}

/// Update a memory's tags, type or metadata.
#[utoipa::path(put, path = "/api/memories/{content_hash}", tag = "memories", request_body = UpdateBody,
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash")),
    responses((status = 200, description = "Updated", body = MemoryChange), (status = 404, description = "No such memory"),
              (status = 409, description = "expected_version did not match"), (status = 422, description = "Invalid body or hash")))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(content_hash): Path<String>,
    Body(body): Body<UpdateBody>,
) -> Result<Json<MemoryChange>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let not_found = || ApiError::not_found(format!("Memory with hash {hash} not found"));
    let mut fields = Vec::new();
    for (name, given) in [
        ("tags", body.tags.is_some()),
        ("memory_type", body.memory_type.is_some()),
        ("metadata", body.metadata.is_some()),
    ] {
        if given {
            fields.push(name);
        }
    }
    if fields.is_empty() {
        let memory = state.service.get(&hash).await.map_err(|e| match e {
            ServiceError::NotFound(_) => not_found(),
            other => other.into(),
        })?;
        return Ok(Json(MemoryChange {
            success: true,
            message: "No updates provided - memory unchanged".into(),
            content_hash: hash,
            memory: Some(memory),
        }));
    }
    let request = UpdateRequest {
        tags: body.tags,
        memory_type: body.memory_type,
        metadata: body.metadata,
        expected_version: body.expected_version.map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
    };
    let memory = state.service.update(&hash, request, actor(&principal, &headers)).await.map_err(|e| match e {
        ServiceError::NotFound(_) => not_found(),
        other => other.into(),
    })?;
    Ok(Json(MemoryChange {
        success: true,
        message: format!("Updated fields: {}, updated_at", fields.join(", ")),
        content_hash: hash,
        memory: Some(memory),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    /// Fail with 409 unless the memory is at this version.
    expected_version: Option<u32>,
}

/// Delete a memory. Its history stays in the log, and it can be restored.
#[utoipa::path(delete, path = "/api/memories/{content_hash}", tag = "memories",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash"), DeleteQuery),
    responses((status = 200, description = "Deleted", body = DeleteAnswer), (status = 404, description = "No such memory"),
              (status = 409, description = "expected_version did not match"), (status = 422, description = "Not a content hash")))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(content_hash): Path<String>,
    Params(query): Params<DeleteQuery>,
) -> Result<Json<DeleteAnswer>, ApiError> {
    let hash = hash_of(&content_hash)?;
    state.service.delete(&hash, query.expected_version, actor(&principal, &headers)).await.map_err(|e| match e {
        ServiceError::NotFound(_) => ApiError::not_found(format!("Memory with hash {hash} not found")),
        other => other.into(),
    })?;
    Ok(Json(DeleteAnswer { success: true, message: format!("Successfully deleted memory {hash}"), content_hash: hash }))
}

/// Restore a deleted memory as it was when deleted.
#[utoipa::path(post, path = "/api/memories/{content_hash}/restore", tag = "memories",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash")),
    responses((status = 200, description = "Restored", body = MemoryChange), (status = 404, description = "Never existed"),
              (status = 409, description = "Not deleted"), (status = 422, description = "Not a content hash")))]
pub(crate) async fn restore(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(content_hash): Path<String>,
) -> Result<Json<MemoryChange>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let memory = state.service.undelete(&hash, actor(&principal, &headers)).await.map_err(memory_not_found)?;
    Ok(Json(MemoryChange {
        success: true,
        message: "Memory restored".into(),
        content_hash: hash,
        memory: Some(memory),
    }))
}

/// Why a memory is redacted.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RedactBody {
    /// Kept in the tombstone (at most 1000 characters); do not repeat what is being forgotten.
    pub(super) reason: Option<String>,
}

/// What a redaction did, in the log and in the backups.
#[derive(Serialize, ToSchema)]
pub(crate) struct RedactAnswer {
    success: bool,
    message: String,
    #[serde(flatten)]
    redaction: Redaction,
    /// Backups the memory was erased from.
    backups_scrubbed: Vec<String>,
}

/// Forget a memory for real: its content, tags, type, metadata and vector are erased from every event of
/// it in the log, from the read models and from the backups; a tombstone (`redacted` event) says when and
/// by whom. Cannot be undone. Needs the admin scope.
#[utoipa::path(post, path = "/api/memories/{content_hash}/redact", tag = "history",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash")),
    request_body = RedactBody,
    responses((status = 200, description = "Redacted", body = RedactAnswer), (status = 404, description = "Never existed"),
              (status = 409, description = "Already redacted"), (status = 422, description = "Not a content hash, or a bad reason")))]
pub(crate) async fn redact(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(content_hash): Path<String>,
    Body(body): Body<RedactBody>,
) -> Result<Json<RedactAnswer>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let (redaction, scrubbed) = state
        .backups
        .redact(&state.service, &hash, body.reason, actor(&principal, &headers))
        .await
        .map_err(memory_not_found)?;
    let backups_scrubbed = scrubbed.map(filenames).map_err(|error| {
        // The redaction itself is done; the schedule retries the backups at its next check.
        tracing::error!(error = %crate::error::Chain(&error), "erasing a redacted memory from the backups failed");
        ServiceError::internal(
            "the memory is redacted, but erasing it from the backups failed; it is retried at the next backup check",
        )
    })?;
    Ok(Json(RedactAnswer { success: true, message: format!("Memory {hash} redacted"), redaction, backups_scrubbed }))
}

/// The names of the backups a redaction rewrote.
pub(super) fn filenames(scrubbed: Vec<crate::backup::Scrubbed>) -> Vec<String> {
    scrubbed.into_iter().map(|s| s.filename).collect()
}

/// The whole event log (or from `since` on) as JSON lines, oldest first, for audit tools.
#[utoipa::path(get, path = "/api/log/export", tag = "history", params(LogExportQuery),
    responses((status = 200, description = "One LogEntry per line", content_type = "application/x-ndjson", body = String),
              (status = 422, description = "Bad since")))]
pub(crate) async fn log_export(
    State(state): State<AppState>,
    Params(query): Params<LogExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    let since = query.since.unwrap_or(0);
    check_range(&["query", "since"], since, 0, i64::MAX)?;
    let service = state.service.clone();
    // Pages are read one at a time as the client takes them (the channel holds two), so the whole log is
    // never in memory; a client that goes away ends the task at its next send.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let mut since = since as u64;
        loop {
            let chunk = match service.log_page(since, MAX_LOG_PAGE).await {
                Ok((page, _)) if page.is_empty() => break,
                Ok((page, _)) => {
                    since = page.last().map_or(since, |e| e.event.seq);
                    let mut chunk = Vec::new();
                    for entry in &page {
                        let _ = serde_json::to_writer(&mut chunk, entry);
                        chunk.push(b'\n');
                    }
                    Ok(axum::body::Bytes::from(chunk))
                }
                Err(error) => Err(std::io::Error::other(error)),
            };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let lines = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = axum::body::Body::from_stream(lines);
    Ok(axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
        .body(body)
        .map_err(ServiceError::internal)?)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogExportQuery {
    /// Events after this sequence number (default 0: the whole log).
    #[param(minimum = 0)]
    since: Option<i64>,
}

/// A memory's audit trail.
#[derive(Serialize, ToSchema)]
pub(crate) struct History {
    content_hash: String,
    history: Vec<HistoryEntry>,
}

/// Every event of a memory, oldest first: who changed what, when, through which interface.
#[utoipa::path(get, path = "/api/memories/{content_hash}/history", tag = "history",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash")),
    responses((status = 200, description = "The history", body = History), (status = 404, description = "Never existed"),
              (status = 422, description = "Not a content hash")))]
pub(crate) async fn history(
    State(state): State<AppState>,
    Path(content_hash): Path<String>,
) -> Result<Json<History>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let history = state.service.history(&hash).await.map_err(memory_not_found)?;
    Ok(Json(History { content_hash: hash, history }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// Events after this sequence number (default 0: from the start).
    #[param(minimum = 0)]
    since: Option<i64>,
    /// At most this many events, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A page of the event log.
#[derive(Serialize, ToSchema)]
pub(crate) struct LogPage {
    events: Vec<LogEntry>,
    /// Pass as `since` for the next page.
    next_since: u64,
    /// The log's last sequence number.
    last_seq: u64,
}

/// Page through the event log, oldest first.
#[utoipa::path(get, path = "/api/log", tag = "history", params(LogQuery),
    responses((status = 200, description = "Events", body = LogPage), (status = 422, description = "Bad paging")))]
pub(crate) async fn log(
    State(state): State<AppState>,
    Params(query): Params<LogQuery>,
) -> Result<Json<LogPage>, ApiError> {
    let since = query.since.unwrap_or(0);
    check_range(&["query", "since"], since, 0, i64::MAX)?;
    let since = since as u64;
    let limit = query.limit.unwrap_or(100);
    check_range(&["query", "limit"], limit, 1, MAX_LOG_PAGE as i64)?;
    let (events, last_seq) = state.service.log_page(since, limit as usize).await?;
    let next_since = events.last().map_or(since, |e| e.event.seq);
    Ok(Json(LogPage { events, next_since, last_seq }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TagCount {
    tag: String,
    count: u64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Tags {
    tags: Vec<TagCount>,
}

/// Every tag with its number of memories, most used first.
#[utoipa::path(get, path = "/api/tags", tag = "memories", responses((status = 200, description = "Tags", body = Tags)))]
pub(crate) async fn tags(State(state): State<AppState>) -> Result<Json<Tags>, ApiError> {
    let tags = state.service.tags().await?.into_iter().map(|t| TagCount { tag: t.tag, count: t.count }).collect();
    Ok(Json(Tags { tags }))
}
