//! `/api/health/detailed`, `/api/sync/status`, `/api/manage/*` and `/api/analytics/*`: operations and
//! numbers, all implemented (none of the original's 501 placeholders).

use super::error::{ApiError, Body, Params, check_range, integer};
use super::memories::{AsOfQuery, as_of_target, tag_list};
use super::{AppState, actor};
use crate::oauth::scope::Principal;
use crate::service::time_expr::TimeRange;
use crate::service::{ActivityDay, AsOf, DeleteRequest, GrowthPoint, ListRequest, ServiceError};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

/// The backend the original's health and analytics report.
pub(crate) fn backend(state: &AppState) -> &'static str {
    state.sync.as_ref().map_or("sqlite-vec", |sync| sync.backend().name())
}

fn mb(bytes: u64) -> f64 {
    (bytes as f64 / 1_048_576.0 * 100.0).round() / 100.0
}

fn uptime_formatted(seconds: f64) -> String {
    match seconds {
        s if s < 60.0 => format!("{s:.1} seconds"),
        s if s < 3600.0 => format!("{:.1} minutes", s / 60.0),
        s if s < 86_400.0 => format!("{:.1} hours", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

/// Health with every detail: storage, log, projections, model.
#[utoipa::path(get, path = "/api/health/detailed", tag = "health",
    responses((status = 200, description = "Detailed health", body = Object)))]
pub(crate) async fn health_detailed(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let health = state.service.health();
    let stats = state.service.stats().await?;
    let backend = backend(&state);
    let sync_status = state.sync.as_ref().map(|sync| sync.status());
    Ok(Json(json!({
        "status": health.status,
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        "uptime_seconds": health.uptime_seconds,
        "storage": {
            "backend": backend,
            "status": "connected",
            "sync_status": sync_status,
            "accessible": true,
            "database_path": state.paths.sqlite,
            "log_path": state.paths.log,
            "embedding_model": stats.embedding_model,
            "embedding_dimension": stats.embedding_dimensions,
            "total_memories": stats.total_memories,
            "unique_tags": stats.unique_tags,
            "memories_this_week": stats.memories_this_week,
            "database_size_bytes": stats.database_size_bytes,
            "database_size_mb": mb(stats.database_size_bytes),
            "log_size_bytes": stats.log_size_bytes,
            "events": stats.events,
            "memories_ever": stats.memories_ever,
            "ann_vectors": stats.ann_vectors,
        },
        "projections": {
            "log_seq": health.log_seq,
            "read_model_seq": health.projection_seq,
            "read_model_lag": health.log_seq.saturating_sub(health.projection_seq),
            "projection_errors": stats.projection_errors,
        },
        "model": { "status": health.model, "error": health.model_error },
        "system": {
            "platform": std::env::consts::OS,
            "architecture": std::env::consts::ARCH,
            "cpu_count": std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        "performance": {
            "uptime_seconds": health.uptime_seconds,
            "uptime_formatted": uptime_formatted(health.uptime_seconds),
        },
        "statistics": {
            "total_memories": stats.total_memories,
            "unique_tags": stats.unique_tags,
            "memories_this_week": stats.memories_this_week,
            "database_size_mb": mb(stats.database_size_bytes),
            "backend": backend,
        },
    })))
}

/// The original's sync status (with the hybrid and cloudflare backends, plus where the replica stands:
/// device, checkpoints, failures, pause).
#[utoipa::path(get, path = "/api/sync/status", tag = "health",
    responses((status = 200, description = "Sync status", body = Object)))]
pub(crate) async fn sync_status(State(state): State<AppState>) -> Json<Value> {
    match &state.sync {
        Some(sync) => Json(sync.status()),
        None => Json(json!({
            "is_hybrid": false,
            "is_running": false,
            "last_sync_time": 0.0,
            "operations_pending": 0,
            "operations_processed": 0,
            "operations_failed": 0,
            "sync_interval_seconds": 0,
            "time_since_last_sync_seconds": 0.0,
            "next_sync_eta_seconds": 0.0,
            "status": "not_hybrid",
        })),
    }
}

/// Pushes and pulls now (retrying events Cloudflare refused before), and says what it did.
#[utoipa::path(post, path = "/api/sync/force", tag = "health",
    responses(
        (status = 200, description = "Sync done, or failed (`success: false` and why)", body = Object),
        (status = 404, description = "Not a replicating backend", body = Object),
    ))]
pub(crate) async fn sync_force(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let Some(sync) = &state.sync else {
        return Err(ApiError::not_found("Manual sync only available in hybrid mode"));
    };
    let started = std::time::Instant::now();
    let outcome = sync.sync_now(true, true, |_, _, _| {}).await;
    let (success, message, synced) = match outcome {
        Ok(synced) => (true, format!("Synced {synced} operations"), synced),
        Err(error) => (false, format!("Sync failed: {error}"), 0),
    };
    Ok(Json(json!({
        "success": success,
        "message": message,
        "operations_synced": synced,
        "time_taken_seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
    })))
}

/// Pauses replication (kept in the sync state, so it holds across restarts); local writes go on and wait.
#[utoipa::path(post, path = "/api/sync/pause", tag = "health",
    responses(
        (status = 200, description = "Paused: `{success, paused, message}`", body = Object),
        (status = 404, description = "Not a replicating backend", body = Object),
    ))]
pub(crate) async fn sync_pause(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    set_paused(&state, true).await
}

/// Resumes replication: what was written meanwhile is pushed at once.
#[utoipa::path(post, path = "/api/sync/resume", tag = "health",
    responses(
        (status = 200, description = "Resumed: `{success, paused, message}`", body = Object),
        (status = 404, description = "Not a replicating backend", body = Object),
    ))]
pub(crate) async fn sync_resume(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    set_paused(&state, false).await
}

async fn set_paused(state: &AppState, paused: bool) -> Result<Json<Value>, ApiError> {
    let Some(sync) = state.sync.clone() else {
        return Err(ApiError::not_found("Sync pause and resume need the hybrid or cloudflare backend"));
    };
    let what = if paused { "pausing the sync" } else { "resuming the sync" };
    // Writing the sync state is file I/O: off the async runtime.
    let written = tokio::task::spawn_blocking(move || sync.set_paused(paused)).await.map_err(ServiceError::from)?;
    written.map_err(|error| ServiceError::internal_while(what, error))?;
    let message = if paused { "Sync paused: local writes wait until it resumes" } else { "Sync resumed" };
    Ok(Json(json!({"success": true, "paused": paused, "message": message})))
}

/// What a management operation did.
#[derive(Serialize, ToSchema)]
pub(crate) struct BulkOperation {
    success: bool,
    message: String,
    affected_count: usize,
    operation: String,
}

/// Which memories to delete: at least one of tag(s), before_date and memory_type.
#[derive(Deserialize, ToSchema)]
pub(crate) struct BulkDeleteBody {
    /// One tag (the original's field).
    tag: Option<String>,
    /// Several tags; any of them matches unless match_all.
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    match_all: bool,
    /// Memories created before this date (YYYY-MM-DD) or the start of this time phrase ("last month").
    before_date: Option<String>,
    memory_type: Option<String>,
    /// Refuse unless exactly this many memories match.
    #[serde(default, deserialize_with = "integer")]
    confirm_count: Option<i64>,
    /// Only count.
    #[serde(default)]
    dry_run: bool,
}

/// Delete many memories by tag, date and type.
#[utoipa::path(post, path = "/api/manage/bulk-delete", tag = "manage", request_body = BulkDeleteBody,
    responses((status = 200, description = "Deleted (or counted)", body = BulkOperation),
              (status = 400, description = "No condition, a bad date, or confirm_count mismatch"),
              (status = 422, description = "Invalid body")))]
pub(crate) async fn bulk_delete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Body(body): Body<BulkDeleteBody>,
) -> Result<Json<BulkOperation>, ApiError> {
    let mut tags = tag_list(body.tag.as_deref());
    tags.extend(tag_list(Some(&body.tags.join(","))));
    let created = match body.before_date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(phrase) => {
            let before = state.service.time_range(phrase).map_err(|_| {
                ApiError::bad_request(format!("Could not read before_date '{phrase}': use YYYY-MM-DD or a time phrase"))
            })?;
            Some(TimeRange { start: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, end: before.start })
        }
        None => None,
    };
    let memory_type = body.memory_type.filter(|t| !t.trim().is_empty());
    if tags.is_empty() && created.is_none() && memory_type.is_none() {
        return Err(ApiError::bad_request("Give at least one of tag, tags, before_date or memory_type"));
    }
    let request = |dry_run| DeleteRequest {
        tags: tags.clone(),
        match_all: body.match_all,
        memory_type: memory_type.clone(),
        created,
        dry_run,
    };
    let actor = actor(&principal, &headers);
    if let Some(expected) = body.confirm_count {
        let matched = state.service.delete_where(request(true), actor.clone()).await?.matched;
        if matched as i64 != expected {
            return Err(ApiError::bad_request(format!(
                "Confirmation count mismatch: {matched} memories match, confirm_count was {expected}"
            )));
        }
    }
    let outcome = state.service.delete_where(request(body.dry_run), actor).await?;
    let (affected_count, message) = if outcome.dry_run {
        (outcome.matched, format!("{} memories would be deleted", outcome.matched))
    } else {
        (outcome.deleted, format!("Deleted {} of {} matching memories", outcome.deleted, outcome.matched))
    };
    Ok(Json(BulkOperation { success: true, message, affected_count, operation: "bulk_delete".into() }))
}

/// Exact duplicates cannot exist: the content hash is the memory's identity, so a second store of the same
/// (trimmed, case-insensitive) content is refused. This answers the original's route truthfully.
#[utoipa::path(post, path = "/api/manage/cleanup-duplicates", tag = "manage",
    responses((status = 200, description = "Nothing to clean", body = BulkOperation)))]
pub(crate) async fn cleanup_duplicates() -> Json<BulkOperation> {
    Json(BulkOperation {
        success: true,
        message: "No duplicates: the same content is stored only once (its hash is its identity)".into(),
        affected_count: 0,
        operation: "cleanup_duplicates".into(),
    })
}

/// Maintenance: `optimize_db` (statistics and full-text index) or `cleanup_duplicates`.
#[utoipa::path(post, path = "/api/manage/system/{operation}", tag = "manage",
    params(("operation" = String, Path, description = "optimize_db or cleanup_duplicates")),
    responses((status = 200, description = "Done", body = BulkOperation), (status = 404, description = "Unknown operation")))]
pub(crate) async fn system(
    State(state): State<AppState>,
    Path(operation): Path<String>,
) -> Result<Json<BulkOperation>, ApiError> {
    match operation.as_str() {
        "cleanup_duplicates" => Ok(cleanup_duplicates().await),
        "optimize_db" => {
            state.service.optimize().await?;
            Ok(Json(BulkOperation {
                success: true,
                message: "Read model optimized (query statistics refreshed, full-text index merged)".into(),
                affected_count: 0,
                operation: operation.clone(),
            }))
        }
        other => Err(ApiError::not_found(format!(
            "Unknown operation '{other}': use optimize_db or cleanup_duplicates (rebuild the read models with \
             `mcp-memory-service rebuild`)"
        ))),
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TagStat {
    tag: String,
    count: u64,
    /// The original's fields, which it leaves null and empty; so does this.
    last_used: Option<f64>,
    memory_types: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TagStats {
    tags: Vec<TagStat>,
    total_tags: usize,
}

/// Every tag with its count.
#[utoipa::path(get, path = "/api/manage/tags/stats", tag = "manage",
    responses((status = 200, description = "Tag statistics", body = TagStats)))]
pub(crate) async fn tag_stats(State(state): State<AppState>) -> Result<Json<TagStats>, ApiError> {
    let tags: Vec<TagStat> = state
        .service
        .tags()
        .await?
        .into_iter()
        .map(|t| TagStat { tag: t.tag, count: t.count, last_used: None, memory_types: Vec::new() })
        .collect();
    Ok(Json(TagStats { total_tags: tags.len(), tags }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RenameQuery {
    /// The tag's new name: no commas, not blank, at most 200 characters.
    #[param(pattern = "^[^,]*[^,\\s][^,]*$", max_length = 200)]
    new_tag: String,
    /// Refuse unless exactly this many memories carry the tag.
    confirm_count: Option<i64>,
}

/// Rename a tag on every memory that has it.
#[utoipa::path(put, path = "/api/manage/tags/{old_tag}", tag = "manage",
    params(("old_tag" = String, Path, description = "The tag to rename"), RenameQuery),
    responses((status = 200, description = "Renamed", body = BulkOperation),
              (status = 400, description = "confirm_count mismatch"), (status = 422, description = "Bad new_tag")))]
pub(crate) async fn rename_tag(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(old_tag): Path<String>,
    Params(query): Params<RenameQuery>,
) -> Result<Json<BulkOperation>, ApiError> {
    if let Some(expected) = query.confirm_count {
        let count = state.service.tags().await?.into_iter().find(|t| t.tag == old_tag).map_or(0, |t| t.count);
        if count as i64 != expected {
            return Err(ApiError::bad_request(format!(
                "Confirmation count mismatch: {count} memories have the tag, confirm_count was {expected}"
            )));
        }
    }
    let changed =
        state.service.rename_tag(&old_tag, &query.new_tag, actor(&principal, &headers)).await.map_err(|e| match e {
            crate::service::ServiceError::Invalid(message) => {
                ApiError::invalid("value_error", &["query", "new_tag"], message, query.new_tag.clone().into())
            }
            other => other.into(),
        })?;
    Ok(Json(BulkOperation {
        success: true,
        message: format!("Renamed tag '{old_tag}' to '{}' on {changed} memories", query.new_tag.trim()),
        affected_count: changed,
        operation: "rename_tag".into(),
    }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Overview {
    total_memories: u64,
    memories_this_week: u64,
    memories_this_month: u64,
    unique_tags: u64,
    database_size_mb: f64,
    uptime_seconds: f64,
    backend_type: String,
    /// Present when asked `as_of`: the event the totals reflect (the week and month end there; the database
    /// size and uptime are today's).
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<AsOf>,
}

/// Memories created in the last `days` days.
async fn created_within(state: &AppState, days: i64) -> Result<u64, ApiError> {
    let now = chrono::Utc::now();
    let range = TimeRange { start: now - chrono::Duration::days(days), end: now + chrono::Duration::days(1) };
    let request = ListRequest {
        page: 1,
        page_size: 1,
        tags: Vec::new(),
        match_all: false,
        memory_type: None,
        created: Some(range),
    };
    Ok(state.service.list(request).await?.total)
}

/// Totals at a glance; with `as_of`, of the store as it was then.
#[utoipa::path(get, path = "/api/analytics/overview", tag = "analytics", params(AsOfQuery),
    responses((status = 200, description = "Overview", body = Overview), (status = 400, description = "Unreadable as_of")))]
pub(crate) async fn overview(
    State(state): State<AppState>,
    Params(query): Params<AsOfQuery>,
) -> Result<Json<Overview>, ApiError> {
    // The database size is today's either way; the counts are of the store then when asked as of a point.
    let stats = state.service.stats().await?;
    let (total_memories, unique_tags, memories_this_week, memories_this_month, as_of) =
        match as_of_target(query.as_of.as_deref())? {
            Some(point) => {
                let (past, as_of) = state.service.totals_as_of(point).await?;
                (past.total_memories, past.unique_tags, past.created_week, past.created_month, Some(as_of))
            }
            None => {
                let month = created_within(&state, 30).await?;
                (stats.total_memories, stats.unique_tags, stats.memories_this_week, month, None)
            }
        };
    Ok(Json(Overview {
        total_memories,
        memories_this_week,
        memories_this_month,
        unique_tags,
        database_size_mb: mb(stats.database_size_bytes),
        uptime_seconds: state.service.health().uptime_seconds,
        backend_type: backend(&state).into(),
        as_of,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PeriodQuery {
    /// week, month (default), quarter, year or all.
    #[param(pattern = "^(week|month|quarter|year|all)$")]
    period: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitQuery {
    /// At most this many tags, 1 to 1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

fn period_days(period: Option<&str>) -> Result<(String, u32), ApiError> {
    let period = period.unwrap_or("month").to_ascii_lowercase();
    let days = match period.as_str() {
        "week" => 7,
        "month" => 30,
        "quarter" => 90,
        "year" => 365,
        "all" => 3650,
        _ => {
            return Err(ApiError::invalid(
                "enum",
                &["query", "period"],
                "Input should be 'week', 'month', 'quarter', 'year' or 'all'",
                period.into(),
            ));
        }
    };
    Ok((period, days))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Growth {
    data_points: Vec<GrowthPoint>,
    period: String,
}

/// Memories created per day, with the running total.
#[utoipa::path(get, path = "/api/analytics/memory-growth", tag = "analytics", params(PeriodQuery),
    responses((status = 200, description = "Growth", body = Growth), (status = 422, description = "Bad period")))]
pub(crate) async fn memory_growth(
    State(state): State<AppState>,
    Params(query): Params<PeriodQuery>,
) -> Result<Json<Growth>, ApiError> {
    let (period, days) = period_days(query.period.as_deref())?;
    Ok(Json(Growth { data_points: state.service.growth(days).await?, period }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TagUse {
    tag: String,
    count: u64,
    percentage: f64,
    /// The original's field, null: this counts every memory, not a period against the one before.
    growth_rate: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TagUsage {
    tags: Vec<TagUse>,
    total_memories: u64,
    period: String,
}

fn percent(count: u64, total: u64) -> f64 {
    if total == 0 { 0.0 } else { (count as f64 / total as f64 * 10_000.0).round() / 100.0 }
}

/// The most used tags, with the share of memories carrying each.
#[utoipa::path(get, path = "/api/analytics/tag-usage", tag = "analytics", params(LimitQuery),
    responses((status = 200, description = "Tag usage", body = TagUsage), (status = 422, description = "Bad limit")))]
pub(crate) async fn tag_usage(
    State(state): State<AppState>,
    Params(query): Params<LimitQuery>,
) -> Result<Json<TagUsage>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    check_range(&["query", "limit"], limit, 1, 1000)?;
    let total = state.service.stats().await?.total_memories;
    let tags = state
        .service
        .tags()
        .await?
        .into_iter()
        .take(limit as usize)
        .map(|t| TagUse { percentage: percent(t.count, total), tag: t.tag, count: t.count, growth_rate: None })
        .collect();
    Ok(Json(TagUsage { tags, total_memories: total, period: "all".into() }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TypeUse {
    memory_type: String,
    count: u64,
    percentage: f64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TypeUsage {
    types: Vec<TypeUse>,
    total_memories: u64,
}

/// What `/api/analytics/memory-types` calls the memories that have no type.
const UNTYPED: &str = "untyped";

/// Memory types and their shares; memories without a type as `untyped`.
#[utoipa::path(get, path = "/api/analytics/memory-types", tag = "analytics",
    responses((status = 200, description = "Types", body = TypeUsage)))]
pub(crate) async fn memory_types(State(state): State<AppState>) -> Result<Json<TypeUsage>, ApiError> {
    let types = state.service.types().await?;
    let total = types.iter().map(|t| t.count).sum();
    let types = types
        .into_iter()
        .map(|t| TypeUse {
            percentage: percent(t.count, total),
            // The original's schema has a string here: memories without a type count as "untyped".
            memory_type: t.memory_type.unwrap_or_else(|| UNTYPED.to_string()),
            count: t.count,
        })
        .collect();
    Ok(Json(TypeUsage { types, total_memories: total }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActivityQuery {
    /// Days back from today, 1 to 366 (default 30).
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Activity {
    data_points: Vec<ActivityDay>,
    days: u32,
}

/// Stores, updates, deletions and restores per day, from the event log.
#[utoipa::path(get, path = "/api/analytics/activity", tag = "analytics", params(ActivityQuery),
    responses((status = 200, description = "Activity", body = Activity), (status = 422, description = "Bad days")))]
pub(crate) async fn activity(
    State(state): State<AppState>,
    Params(query): Params<ActivityQuery>,
) -> Result<Json<Activity>, ApiError> {
    let days = query.days.unwrap_or(30);
    check_range(&["query", "days"], days, 1, 366)?;
    let days = days as u32;
    Ok(Json(Activity { data_points: state.service.activity(days).await?, days }))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct RestoreBody {
    /// Restore to right after this event...
    #[serde(default, deserialize_with = "integer")]
    to_seq: Option<i64>,
    /// ...or to a moment: RFC 3339, "YYYY-MM-DD HH:MM" (UTC), or a time phrase (its end).
    #[serde(default)]
    to_time: Option<String>,
    /// ...or to a backup of the backup directory, by file name (GET /api/backup/list): the store becomes
    /// what the backup holds, by new events; it is checked against its manifest first.
    backup: Option<String>,
    /// Only show what would change (the default); false restores.
    #[serde(default = "preview_by_default")]
    dry_run: bool,
}

fn preview_by_default() -> bool {
    true
}

/// Point-in-time restore: what would come back, disappear or change back, relations included (a preview, by
/// default), or the restore itself with `dry_run: false`, recorded as new events.
#[utoipa::path(post, path = "/api/restore", tag = "manage", request_body = RestoreBody,
    responses((status = 200, description = "{target_seq, target_at, from_seq, come_back, disappear, change, memories_after, relations_restored, relations_removed, dry_run, appended_seqs}", body = Object),
              (status = 400, description = "Not exactly one of to_seq, to_time and backup, an event past the log's end, an unreadable time, or a missing or damaged backup"),
              (status = 409, description = "The store changed while the restore was planned"),
              (status = 422, description = "Invalid body")))]
pub(crate) async fn restore(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Body(body): Body<RestoreBody>,
) -> Result<Json<crate::service::RestorePlan>, ApiError> {
    // Neither or both targets, an event past the log's end or an unreadable time: logical failures the
    // schema cannot express, answered 400 with a message (as by-time search does).
    let logical = |error: crate::service::ServiceError| match error {
        crate::service::ServiceError::Invalid(message) => ApiError::bad_request(message),
        other => other.into(),
    };
    let to_seq = body
        .to_seq
        .map(|seq| {
            u64::try_from(seq).map_err(|_| ApiError::bad_request(format!("to_seq must be 0 or more, got {seq}")))
        })
        .transpose()?;
    let (target, _copy) = state.backups.restore_target(to_seq, body.to_time, body.backup).await.map_err(logical)?;
    Ok(Json(state.service.restore(target, body.dry_run, actor(&principal, &headers)).await.map_err(logical)?))
}
