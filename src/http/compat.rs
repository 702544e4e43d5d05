//! Routes of the original's recorded contract (v8.9) that its clients may call and that the rest of this API
//! has no other place for: the `/api-overview` page, the analytics of searches and of the process,
//! `/api/health/sync-status`, `/mcp/health` and `/mcp/tools`.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Mutex;

/// What the searches answered so far, for `/api/analytics/search-analytics`: how many of each kind, their
/// total time, and how often each tag was searched by. Counted since the server started.
#[derive(Default)]
pub(crate) struct SearchTally {
    inner: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    total: u64,
    millis: f64,
    kinds: std::collections::BTreeMap<String, u64>,
    tags: std::collections::BTreeMap<String, u64>,
}

impl SearchTally {
    /// Counts one search of `kind` that took `millis`, filtered by `tags`.
    pub(crate) fn count(&self, kind: &str, millis: f64, tags: &[String]) {
        let mut tally = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tally.total += 1;
        tally.millis += millis;
        *tally.kinds.entry(kind.to_string()).or_default() += 1;
        for tag in tags {
            *tally.tags.entry(tag.clone()).or_default() += 1;
        }
    }

    /// The original's `SearchAnalytics`: the ten tags searched by most, most first.
    fn summary(&self) -> Value {
        let tally = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut tags: Vec<(&String, &u64)> = tally.tags.iter().collect();
        tags.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let popular: Vec<Value> =
            tags.into_iter().take(10).map(|(tag, count)| json!({ "tag": tag, "count": count })).collect();
        let average = (tally.total > 0).then(|| (tally.millis / tally.total as f64 * 100.0).round() / 100.0);
        json!({
            "total_searches": tally.total,
            "avg_response_time": average,
            "popular_tags": popular,
            "search_types": tally.kinds,
        })
    }
}

const OVERVIEW_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MCP Memory Service API overview</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5}code{background:#f3f3f3;padding:0 .2rem}</style></head>
<body><h1>MCP Memory Service API</h1>
<p>Every route needs a credential (an API key or an OAuth token) except <code>GET /api/health</code>, the dashboard, this page and the docs.</p>
<ul>
<li><a href="/api/docs">Interactive API docs</a> (Swagger UI) and the <a href="/openapi.json">OpenAPI document</a></li>
<li><a href="/">Dashboard</a></li>
<li>Memories: <code>POST /api/memories</code>, <code>GET /api/memories</code>, <code>GET|PUT|DELETE /api/memories/{hash}</code>, history, restore, redaction</li>
<li>Search: <code>POST /api/search</code>, <code>/api/search/by-tag</code>, <code>/api/search/by-time</code>, <code>GET /api/search/similar/{hash}</code></li>
<li>Changes as they happen: <code>GET /api/events</code> (Server-Sent Events)</li>
<li>MCP over HTTP: <code>POST /mcp</code></li>
<li>Backups, restore, the event log, analytics, management: see the docs</li>
</ul></body></html>"#;

/// GET /api-overview: a page that points to the docs (the original's overview page; public, like the docs).
pub(crate) async fn api_overview() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], OVERVIEW_PAGE).into_response()
}

/// What the searches since the start were: how many of each kind, their mean time, the tags searched by.
#[utoipa::path(get, path = "/api/analytics/search-analytics", tag = "analytics",
    responses((status = 200, description = "{total_searches, avg_response_time (ms, null before the first), popular_tags: [{tag, count}], search_types: {kind: count}}", body = Object)))]
pub(crate) async fn search_analytics(State(state): State<AppState>) -> Json<Value> {
    Json(state.searches.summary())
}

/// The process's resident memory, in MiB (from `/proc/self/statm`), when it can be read.
fn resident_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some((pages * 4096.0 / 1_048_576.0 * 10.0).round() / 10.0)
}

/// The process's figures: its resident memory and the searches' mean time. What is not measured here (the
/// original's `storage_latency`, `error_rate`) is null, as the original leaves it.
#[utoipa::path(get, path = "/api/analytics/performance", tag = "analytics",
    responses((status = 200, description = "{avg_response_time (the searches' mean, ms), memory_usage_mb (resident), storage_latency: null, error_rate: null}", body = Object)))]
pub(crate) async fn performance(State(state): State<AppState>) -> Json<Value> {
    let searches = state.searches.summary();
    Json(json!({
        "avg_response_time": searches["avg_response_time"],
        "memory_usage_mb": resident_mib(),
        "storage_latency": null,
        "error_rate": null,
    }))
}

/// How far the replica is: with the hybrid and cloudflare backends, the log's events pushed to Cloudflare out
/// of all of them; without replication, `sync_supported: false`.
#[utoipa::path(get, path = "/api/health/sync-status", tag = "health",
    responses((status = 200, description = "{sync_supported, status: {in_progress, total, completed, finished, progress_percentage} | null}", body = Object)))]
pub(crate) async fn sync_progress(State(state): State<AppState>) -> Json<Value> {
    let Some(sync) = &state.sync else {
        return Json(json!({ "sync_supported": false, "status": null }));
    };
    let status = sync.status();
    let total = status["log_seq"].as_u64().unwrap_or(0);
    let completed = status["pushed_seq"].as_u64().unwrap_or(0).min(total);
    let percentage = if total == 0 { 100.0 } else { (completed as f64 / total as f64 * 1000.0).round() / 10.0 };
    Json(json!({
        "sync_supported": true,
        "status": {
            "in_progress": status["is_running"],
            "total": total,
            "completed": completed,
            "finished": completed == total,
            "progress_percentage": percentage,
        },
    }))
}

/// GET /mcp/health: MCP over HTTP is served at `/mcp`; public like `/api/health`, and like it without figures
/// about the memories (the original added the store's statistics).
pub(crate) async fn mcp_health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": state.service.health().status,
        "protocol": "mcp",
        "tools_available": state.mcp_tools.len(),
        "storage_backend": super::manage::backend(&state),
    }))
}

/// The MCP tools `/mcp` advertises, with their input schemas.
#[utoipa::path(get, path = "/mcp/tools", tag = "mcp",
    responses((status = 200, description = "{tools: [{name, description, inputSchema, ...}], protocol: \"mcp\", version: \"1.0\"}", body = Object)))]
pub(crate) async fn mcp_tools(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "tools": *state.mcp_tools, "protocol": "mcp", "version": "1.0" }))
}
