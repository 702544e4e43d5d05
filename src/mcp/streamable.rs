//! MCP over streamable HTTP: rmcp's tower service on the same server as the stdio sessions, which `app`
//! mounts at `/mcp` of the HTTP router (behind its authentication).

use super::McpServer;
use crate::config::{ServeConfig, origin_list};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// MCP over streamable HTTP at `/mcp`, on the same service. Browsers may call it only from the origins in
/// MCP_CORS_ORIGINS (a request with any other `Origin` is refused with 403); clients that send no `Origin`
/// (every non-browser one) pass. The `Host` check rmcp does by default is off: a server on 0.0.0.0 is
/// reached by names it cannot know, and the Origin check is what stops DNS rebinding.
pub fn streamable_http(
    server: McpServer,
    args: &ServeConfig,
    sessions: CancellationToken,
) -> StreamableHttpService<McpServer, LocalSessionManager> {
    let origins = origin_list(args.cors_origins.as_deref());
    let mut config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_cancellation_token(sessions)
        .with_max_request_body_bytes(args.max_body_bytes)
        .with_sse_keep_alive(Some(Duration::from_secs(args.sse_heartbeat)));
    config = if origins.contains(&"*") {
        config.disable_allowed_origins()
    } else if origins.is_empty() {
        config.enforce_origin_validation()
    } else {
        config.with_allowed_origins(origins)
    };
    StreamableHttpService::new(move || Ok(server.clone()), Arc::new(LocalSessionManager::default()), config)
}
