//! Static content: the OpenAPI document (generated from the handlers by utoipa), Swagger UI from files
//! vendored into the binary (so `/api/docs` renders with no internet), and the dashboard.

use super::AppState;
use super::error::ApiError;
use super::{archive, backup, compat, consolidation, documents, events, graph, manage, memories, portability, search};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme(
            "api_key_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components
            .add_security_scheme("api_key_query", SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("api_key"))));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "MCP Memory Service", description = "Long-term semantic memory for AI agents: an event-sourced, \
        drop-in replacement for the Python MCP Memory Service. Send the API key as `Authorization: Bearer`, \
        `X-API-Key` or `?api_key=`. `GET /api/events` is a Server-Sent Events stream (see the README)."),
    paths(
        super::health, manage::health_detailed, manage::sync_status, manage::sync_force,
        manage::sync_pause, manage::sync_resume,
        memories::store, memories::list, memories::get, memories::update, memories::delete, memories::restore,
        memories::history, memories::redact, memories::log, memories::log_export, memories::tags,
        search::search, search::by_tag, search::by_time, search::similar,
        manage::bulk_delete, manage::restore, manage::cleanup_duplicates, manage::system, manage::tag_stats, manage::rename_tag,
        manage::overview, manage::memory_growth, manage::tag_usage, manage::memory_types, manage::activity,
        events::stats, backup::status, backup::list, backup::now, backup::verify,
        portability::export, portability::import,
        compat::search_analytics, compat::performance, compat::sync_progress, compat::mcp_tools,
        documents::upload, documents::batch_upload, documents::status, documents::history, documents::remove,
        documents::remove_by_tags, documents::redact, documents::search_content,
        graph::relate, graph::relations, graph::unrelate, graph::connected, graph::path, graph::subgraph,
        graph::relationship_types, graph::graph_visualization,
        archive::archive, archive::unarchive, archive::archived,
        consolidation::trigger, consolidation::status, consolidation::recommendations,
    ),
    modifiers(&Security),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = [])),
)]
struct ApiDoc;

/// The OpenAPI 3.1 document.
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

fn with_type(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

const SWAGGER_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MCP Memory Service API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body></html>"#;

/// Loads the spec with the key given as `?api_key=` on the page (or kept by the dashboard), so the docs work
/// when the API needs a key.
const SWAGGER_INIT: &str = r#"const key = new URLSearchParams(location.search).get('api_key') || sessionStorage.getItem('mms-api-key') || '';
window.ui = SwaggerUIBundle({
  url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true,
  requestInterceptor: (request) => { if (key && !request.headers.Authorization) request.headers.Authorization = 'Bearer ' + key; return request; },
});"#;

/// GET /api/docs
pub(crate) async fn swagger_index() -> Response {
    with_type(SWAGGER_PAGE, "text/html; charset=utf-8")
}

/// GET /api/docs/{file}: Swagger UI's files.
pub(crate) async fn swagger_file(Path(file): Path<String>) -> Result<Response, ApiError> {
    Ok(match file.as_str() {
        "swagger-ui.css" => with_type(include_str!("assets/swagger-ui/swagger-ui.css"), "text/css; charset=utf-8"),
        "swagger-ui-bundle.js" => {
            with_type(include_str!("assets/swagger-ui/swagger-ui-bundle.js"), "text/javascript; charset=utf-8")
        }
        "init.js" => with_type(SWAGGER_INIT, "text/javascript; charset=utf-8"),
        _ => return Err(ApiError::not_found("Not Found")),
    })
}

/// The dashboard's files: built in, or read from MMS_DASHBOARD_DIR on each request (development).
fn dashboard(state: &AppState, name: &str) -> Result<Response, ApiError> {
    let (built_in, content_type) = match name {
        "index.html" => (include_str!("dashboard/index.html"), "text/html; charset=utf-8"),
        "app.js" => (include_str!("dashboard/app.js"), "text/javascript; charset=utf-8"),
        "sync.js" => (include_str!("dashboard/sync.js"), "text/javascript; charset=utf-8"),
        "documents.js" => (include_str!("dashboard/documents.js"), "text/javascript; charset=utf-8"),
        "consolidation.js" => (include_str!("dashboard/consolidation.js"), "text/javascript; charset=utf-8"),
        "style.css" => (include_str!("dashboard/style.css"), "text/css; charset=utf-8"),
        _ => return Err(ApiError::not_found("Not Found")),
    };
    let body = match &state.dashboard_dir {
        Some(dir) => std::fs::read_to_string(dir.join(name))
            .map_err(|e| ApiError::not_found(format!("{name} not readable from MMS_DASHBOARD_DIR: {e}")))?,
        None => built_in.to_string(),
    };
    let mut response = with_type(body, content_type);
    response.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
        ),
    );
    Ok(response)
}

/// GET /
pub(crate) async fn dashboard_index(State(state): State<AppState>) -> Result<Response, ApiError> {
    dashboard(&state, "index.html")
}

/// GET /static/{file}
pub(crate) async fn dashboard_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    dashboard(&state, &file)
}
