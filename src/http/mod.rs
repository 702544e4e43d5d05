//! The HTTP server: the original's REST API and shapes, the SSE change stream, history and log paging, the
//! OpenAPI document with an offline Swagger UI, and the dashboard. Every route but the public ones goes
//! through `auth::authenticate`; every request gets one log line without secrets.

mod archive;
pub(crate) mod auth;
mod backup;
mod compat;
mod consolidation;
mod docs;
mod documents;
mod error;
pub mod events;
mod graph;
mod manage;
mod memories;
mod oauth;
mod portability;
mod search;

use crate::backup::Backups;
use crate::config::{Paths, ServeConfig};
use crate::consolidator::Consolidator;
use crate::oauth::OAuth;
use crate::oauth::scope::Principal;
use crate::service::Service;
use crate::sync::Sync;
use auth::Auth;
pub(crate) use auth::auth_required;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use error::ApiError;
pub use events::EventHub;
use mms_log::{Actor, Interface};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    service: Service,
    backups: Arc<Backups>,
    consolidator: Arc<Consolidator>,
    events: Arc<EventHub>,
    paths: Paths,
    dashboard_dir: Option<PathBuf>,
    /// Cloudflare replication, with the hybrid and cloudflare backends.
    sync: Option<Sync>,
    /// The searches answered since the start (`/api/analytics/search-analytics`).
    searches: Arc<compat::SearchTally>,
    /// The tools `/mcp` advertises, as JSON (`/mcp/tools`).
    mcp_tools: Arc<Vec<Value>>,
}

/// What the routes serve, made ready by the caller (`app`): the change stream's hub with its feeder started,
/// and OAuth with its state opened. Building the router then starts and opens nothing.
pub struct Served {
    pub service: Service,
    pub backups: Arc<Backups>,
    pub consolidator: Arc<Consolidator>,
    /// Cloudflare replication, with the hybrid and cloudflare backends.
    pub sync: Option<Sync>,
    pub paths: Paths,
    pub events: Arc<EventHub>,
    pub oauth: Option<Arc<OAuth>>,
    /// The tools the MCP service mounted at `/mcp` advertises, as JSON (`GET /mcp/tools`).
    pub mcp_tools: Vec<Value>,
}

/// The actor of a write: the `X-Agent-ID` header when given, else the authenticated client.
fn actor(principal: &Principal, headers: &HeaderMap) -> Actor {
    let agent = headers.get("x-agent-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    Actor::new(Interface::Http, Some(agent.map_or_else(|| principal.client_id.clone(), str::to_string)))
}

/// A content hash from a path, or 422.
fn hash_of(text: &str) -> Result<String, ApiError> {
    let hash = text.trim().to_ascii_lowercase();
    if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hash)
    } else {
        Err(ApiError::invalid(
            "string_pattern_mismatch",
            &["path", "content_hash"],
            "Input should be a content hash: 64 hexadecimal digits",
            text.into(),
        ))
    }
}

/// Public, with the original's four fields: `status`, `version` (which a client of the original reads, and
/// mDNS advertises anyway), `timestamp`, `uptime_seconds`; no path, count or setting.
#[utoipa::path(get, path = "/api/health", tag = "health", security(()),
    responses((status = 200, description = "{status: healthy, or degraded when the embedding model cannot load; version; timestamp; uptime_seconds}", body = Object)))]
async fn health(State(state): State<AppState>) -> Json<Value> {
    let health = state.service.health();
    Json(json!({
        "status": health.status,
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        "uptime_seconds": health.uptime_seconds,
    }))
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

/// One line per request: method, path (never the query, which may hold `api_key`), status and time.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    // Milliseconds to one decimal: 0.3, not 0.30000000000000004.
    let ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    if status >= 500 {
        tracing::warn!(%method, %path, status, ms, "request");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
    }
    response
}

/// An origin in MCP_CORS_ORIGINS that is not one.
#[derive(Debug, thiserror::Error)]
#[error("MCP_CORS_ORIGINS: '{0}' is not an origin")]
pub struct InvalidOrigin(String);

/// CORS from MCP_CORS_ORIGINS: `*`, a comma-separated list, or nothing (same origin only).
fn cors(origins: Option<&str>) -> Result<Option<CorsLayer>, InvalidOrigin> {
    let origins = crate::config::origin_list(origins);
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        let parsed = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| InvalidOrigin(o.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(parsed)
    };
    let headers = [
        axum::http::header::AUTHORIZATION,
        axum::http::header::CONTENT_TYPE,
        "x-api-key".parse().expect("a header name"),
        "x-agent-id".parse().expect("a header name"),
        "last-event-id".parse().expect("a header name"),
        "mcp-session-id".parse().expect("a header name"),
        "mcp-protocol-version".parse().expect("a header name"),
    ];
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
            .allow_headers(headers)
            .expose_headers(["mcp-session-id".parse::<axum::http::HeaderName>().expect("a header name")]),
    ))
}

/// What the server says at start about who can get in, one line per fact.
fn auth_warnings(args: &ServeConfig, api_key: bool, oauth: bool) -> Vec<String> {
    let address = format!("{}:{}", args.host, if args.https_enabled { args.https_port } else { args.port });
    let mut warnings = Vec::new();
    if args.allow_anonymous_access {
        warnings.push(format!(
            "MCP_ALLOW_ANONYMOUS_ACCESS=true: every route is open to anyone who can reach {address}, without \
             credentials, to read and change every memory (development only: set MCP_API_KEY and remove it)"
        ));
    } else if !api_key && !oauth {
        warnings.push(
            "neither MCP_API_KEY nor MCP_OAUTH_ENABLED nor MCP_ALLOW_ANONYMOUS_ACCESS=true is set: every route but \
             /api/health answers 401 (the original let everyone in then; MCP_ALLOW_ANONYMOUS_ACCESS=true does, for \
             development only)"
                .to_string(),
        );
    }
    if oauth && !api_key {
        warnings.push(
            "OAuth is on without MCP_API_KEY: /oauth/authorize approves every request, so anyone who can reach \
             this server can get a token; set MCP_API_KEY to have the consent page ask for it"
                .to_string(),
        );
    }
    warnings
}

/// The router over what is served, with every layer; `mcp` (MCP's streamable HTTP service, built by the
/// caller) is mounted at `/mcp` behind the same authentication. Pure: it spawns and opens nothing.
pub fn router<M>(served: Served, mcp: M, args: &ServeConfig) -> Result<Router, InvalidOrigin>
where
    M: tower::Service<Request, Error = std::convert::Infallible> + Clone + Send + std::marker::Sync + 'static,
    M::Response: axum::response::IntoResponse + 'static,
    M::Future: Send + 'static,
{
    let Served { service, backups, consolidator, sync, paths, events, oauth, mcp_tools } = served;
    let state = AppState {
        service,
        backups,
        consolidator,
        events,
        paths,
        dashboard_dir: args.dashboard_dir.clone(),
        sync,
        searches: Arc::default(),
        mcp_tools: Arc::new(mcp_tools),
    };
    let api_key = args.api_key().cloned();
    let auth =
        Arc::new(Auth { api_key: api_key.clone(), allow_anonymous: args.allow_anonymous_access, oauth: oauth.clone() });
    for warning in auth_warnings(args, api_key.is_some(), oauth.is_some()) {
        tracing::warn!("{warning}");
    }
    let timed = Router::new()
        .route("/api/health/detailed", get(manage::health_detailed))
        .route("/api/sync/status", get(manage::sync_status))
        .route("/api/sync/force", post(manage::sync_force))
        .route("/api/sync/pause", post(manage::sync_pause))
        .route("/api/sync/resume", post(manage::sync_resume))
        .route("/api/memories", post(memories::store).get(memories::list))
        .route("/api/memories/{content_hash}", get(memories::get).put(memories::update).delete(memories::delete))
        .route("/api/memories/{content_hash}/restore", post(memories::restore))
        .route("/api/memories/{content_hash}/history", get(memories::history))
        .route("/api/memories/{content_hash}/redact", post(memories::redact))
        .route("/api/memories/{content_hash}/archive", post(archive::archive))
        .route("/api/memories/{content_hash}/unarchive", post(archive::unarchive))
        .route("/api/memories/archived", get(archive::archived))
        .route("/api/consolidation/trigger", post(consolidation::trigger))
        .route("/api/consolidation/status", get(consolidation::status))
        .route("/api/consolidation/recommendations/{time_horizon}", get(consolidation::recommendations))
        .route("/api/memories/{content_hash}/relations", post(graph::relate).get(graph::relations))
        .route("/api/memories/{content_hash}/relations/{target_hash}", delete(graph::unrelate))
        .route("/api/graph/connected/{content_hash}", get(graph::connected))
        .route("/api/graph/path", get(graph::path))
        .route("/api/graph/subgraph/{content_hash}", get(graph::subgraph))
        .route("/api/analytics/relationship-types", get(graph::relationship_types))
        .route("/api/analytics/graph-visualization", get(graph::graph_visualization))
        .route("/api/log", get(memories::log))
        .route("/api/log/export", get(memories::log_export))
        .route("/api/tags", get(memories::tags))
        .route("/api/search", post(search::search))
        .route("/api/search/by-tag", post(search::by_tag))
        .route("/api/search/by-time", post(search::by_time))
        .route("/api/search/similar/{content_hash}", get(search::similar))
        .route("/api/manage/bulk-delete", post(manage::bulk_delete))
        .route("/api/restore", post(manage::restore))
        .route("/api/export", get(portability::export))
        .route("/api/import", post(portability::import))
        .route("/api/manage/cleanup-duplicates", post(manage::cleanup_duplicates))
        .route("/api/manage/system/{operation}", post(manage::system))
        .route("/api/manage/tags/stats", get(manage::tag_stats))
        .route("/api/manage/tags/{old_tag}", put(manage::rename_tag))
        .route("/api/analytics/overview", get(manage::overview))
        .route("/api/analytics/memory-growth", get(manage::memory_growth))
        .route("/api/analytics/tag-usage", get(manage::tag_usage))
        .route("/api/analytics/memory-types", get(manage::memory_types))
        .route("/api/analytics/activity", get(manage::activity))
        .route("/api/analytics/search-analytics", get(compat::search_analytics))
        .route("/api/analytics/performance", get(compat::performance))
        .route("/api/health/sync-status", get(compat::sync_progress))
        .route("/mcp/tools", get(compat::mcp_tools))
        .route("/api/documents/status/{upload_id}", get(documents::status))
        .route("/api/documents/history", get(documents::history))
        .route("/api/documents/remove/{upload_id}", delete(documents::remove))
        .route("/api/documents/remove-by-tags", delete(documents::remove_by_tags))
        .route("/api/documents/redact/{upload_id}", post(documents::redact))
        .route("/api/documents/search-content/{upload_id}", get(documents::search_content))
        .route("/api/events/stats", get(events::stats))
        .route("/api/backup/status", get(backup::status))
        .route("/api/backup/list", get(backup::list))
        .route("/api/backup/now", post(backup::now))
        .route("/api/backup/verify/{filename}", post(backup::verify))
        .route("/openapi.json", get(docs::openapi))
        .merge(oauth.map_or_else(Router::new, |oauth| {
            self::oauth::routes(self::oauth::OAuthState {
                oauth,
                api_key,
                registration_key: args.oauth.registration_key.clone(),
            })
        }))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(args.request_timeout)));
    // Uploads are read whole before the request is answered (a few multipart headers over the file limit).
    let upload_limit = state.service.max_file_bytes().saturating_add(1 << 20);
    let uploads = Router::new()
        .route("/api/documents/upload", post(documents::upload))
        .route("/api/documents/batch-upload", post(documents::batch_upload))
        .layer(DefaultBodyLimit::max(upload_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(args.request_timeout)));
    let mut router = Router::new()
        .route("/api/health", get(health))
        .route("/api/events", get(events::stream))
        .route_service("/mcp", mcp.clone())
        .route_service("/mcp/", mcp)
        .route("/mcp/health", get(compat::mcp_health))
        .route("/api-overview", get(compat::api_overview))
        .route("/", get(docs::dashboard_index))
        .route("/static/{file}", get(docs::dashboard_file))
        .route("/api/docs", get(docs::swagger_index))
        .route("/api/docs/{file}", get(docs::swagger_file))
        .merge(timed)
        .merge(uploads)
        // Only matched routes authenticate, so an unknown path is a 404 for everyone (as in the original).
        .route_layer(middleware::from_fn_with_state(auth, auth::authenticate))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(args.max_body_bytes))
        .layer(middleware::from_fn(log_request));
    if let Some(cors) = cors(args.cors_origins.as_deref())? {
        router = router.layer(cors);
    }
    Ok(router)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_says_when_every_route_is_open_and_when_every_route_is_closed() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            serve: ServeConfig,
        }
        let args = |extra: &[&str]| {
            let mut argv = vec!["serve", "--host", "0.0.0.0"];
            argv.extend_from_slice(extra);
            Serve::parse_from(argv).serve
        };
        let open = auth_warnings(&args(&["--allow-anonymous-access"]), false, false);
        assert_eq!(open.len(), 1, "{open:?}");
        assert!(open[0].contains("every route is open to anyone who can reach 0.0.0.0:8000"), "{open:?}");
        let keyed_but_open = auth_warnings(&args(&["--allow-anonymous-access"]), true, false);
        assert!(keyed_but_open[0].contains("every route is open"), "the key does not close it: {keyed_but_open:?}");
        let closed = auth_warnings(&args(&[]), false, false);
        assert!(closed.len() == 1 && closed[0].contains("answers 401"), "{closed:?}");
        assert!(auth_warnings(&args(&[]), true, false).is_empty());
        let oauth = auth_warnings(&args(&[]), false, true);
        assert!(oauth.len() == 1 && oauth[0].contains("approves every request"), "{oauth:?}");
    }

    #[test]
    fn hashes_are_64_hex_digits() {
        let hash = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
        assert_eq!(hash_of(hash).expect("valid"), hash);
        assert_eq!(hash_of(&hash.to_uppercase()).expect("upper case"), hash);
        for bad in ["", "xyz", &hash[1..], &format!("{hash}0"), &hash.replace('b', "g")] {
            assert_eq!(hash_of(bad).expect_err("invalid").status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }

    #[test]
    fn cors_is_off_unless_configured() {
        assert!(cors(None).expect("none").is_none());
        assert!(cors(Some(" ")).expect("blank").is_none());
        assert!(cors(Some("*")).expect("any").is_some());
        assert!(cors(Some("http://localhost:3000, https://example.org")).expect("a list").is_some());
        assert!(cors(Some("bad\norigin")).is_err());
    }
}
