//! `GET /api/export` (every memory, streamed: the original's exporter document or JSON lines) and
//! `POST /api/import` (either of them), through the same code as the CLI's `export` and `import`.

use super::AppState;
use super::error::{ApiError, Params};
use crate::portability::{Export, ExportContext, ExportFormat, ImportReport, import_requests, parse_json};
use crate::service::ServiceError;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `original` (default): the original service's export document; `jsonl`: one memory per line.
    #[param(inline)]
    format: Option<ExportFormat>,
}

/// Every memory, newest first, streamed in chunks as it is read.
#[utoipa::path(get, path = "/api/export", tag = "portability", params(ExportQuery),
    responses((status = 200, description = "`original`: {export_metadata: {source_machine, export_timestamp, total_memories, database_path, platform, python_version, include_embeddings, filter_tags, exporter_version, exported_by}, memories: [{content, content_hash, tags, created_at, updated_at, memory_type, metadata, export_source}]}; `jsonl`: one memory object per line",
        content((Object = "application/json"), (String = "application/x-ndjson"))),
        (status = 422, description = "Unknown format")))]
pub(crate) async fn export(
    State(state): State<AppState>,
    Params(query): Params<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = query.format.unwrap_or(ExportFormat::Original);
    let service = state.service.clone();
    let mut export = Export::start(&service, format, ExportContext::here(&state.paths.sqlite)).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        loop {
            let chunk = match export.next_chunk(&service).await {
                Ok(Some(chunk)) => Ok(Bytes::from(chunk)),
                Ok(None) => break,
                Err(error) => {
                    tracing::error!(error = %error.report(), "the export failed midway");
                    Err(std::io::Error::other("the export failed"))
                }
            };
            let failed = chunk.is_err();
            // The client went away, or the export failed: stop reading.
            if sender.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let (content_type, filename) = match format {
        ExportFormat::Original => ("application/json", "memories_export.json"),
        ExportFormat::Jsonl => ("application/x-ndjson", "memories_export.jsonl"),
    };
    let mut response = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// Imports memories: the original's export document or JSON lines, as `export` writes them. Creation and
/// update times are kept; memories already stored (same content hash) are skipped and counted. Nothing is
/// stored when the body cannot be read.
#[utoipa::path(post, path = "/api/import", tag = "portability",
    request_body(content = Object, content_type = "application/json",
        description = "{export_metadata, memories: [{content, tags, memory_type, metadata, created_at, updated_at}]}, or JSON lines (one memory object per line)"),
    responses((status = 200, description = "What was imported", body = ImportReport),
        (status = 400, description = "Empty, not JSON lines nor an export document, or a memory that does not validate (empty content, a bad time): {detail}; nothing stored"),
        (status = 413, description = "Body over MCP_HTTP_MAX_BODY_BYTES")))]
pub(crate) async fn import(State(state): State<AppState>, body: Bytes) -> Result<Json<ImportReport>, ApiError> {
    // Any JSON object fits the schema, so what cannot be imported is a logical failure: 400, not 422.
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty: send the original service's export document or JSON lines",
        ));
    }
    let invalid = |error: ServiceError| match error {
        ServiceError::Invalid(message) => ApiError::bad_request(message),
        other => other.into(),
    };
    let requests = parse_json(text).map_err(invalid)?;
    Ok(Json(import_requests(&state.service, requests, |_, _| {}).await.map_err(invalid)?))
}
