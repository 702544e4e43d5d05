//! `/api/documents/*`: the original's document routes and JSON shapes. An upload is checked at once (type,
//! size, readable content: a bad file is a 400 or 413 naming it) and processed in the background; its
//! progress is on the status route and the SSE stream (`document_progress`), and the finished upload is in
//! the log (`document_ingested`), so its status and the history survive a restart.

use super::error::{ApiError, Params};
use super::{AppState, actor};
use crate::ingest::extract::FileType;
use crate::oauth::scope::Principal;
use crate::service::{DeleteRequest, IngestRequest, Memory, ServiceError, Upload};
use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Extension, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

/// Uploads listed by the history route.
const HISTORY_LIMIT: usize = 200;

/// The form of an upload, as the original reads it.
#[derive(Default)]
struct Form {
    files: Vec<(String, Bytes)>,
    tags: Vec<String>,
    chunk_size: Option<usize>,
    chunk_overlap: Option<usize>,
    memory_type: Option<String>,
    force: bool,
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is larger than the limit of {} MB per file (MCP_DOCUMENT_MAX_FILE_MB)",
            limit / (1024 * 1024)
        ),
    )
}

fn multipart_error(error: MultipartError, limit: usize) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::bad_request(format!("the upload is not a readable multipart form: {}", error.body_text()))
    }
}

/// A number field of the form, or a 400 naming it.
fn number(name: &str, text: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    match text.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!("{name} must be a whole number from {min} to {max}, not '{text}'"))),
    }
}

async fn text_of(field: Field<'_>, limit: usize) -> Result<String, ApiError> {
    field.text().await.map_err(|e| multipart_error(e, limit))
}

impl Form {
    /// Reads the form: `file` (or `files` for a batch), `tags` (comma or space separated), `chunk_size`,
    /// `chunk_overlap`, `memory_type`, `force`. Unknown fields are ignored, as the original does.
    async fn read(mut multipart: Multipart, limit: usize) -> Result<Form, ApiError> {
        let mut form = Form::default();
        while let Some(field) = multipart.next_field().await.map_err(|e| multipart_error(e, limit))? {
            let name = field.name().unwrap_or_default().to_string();
            match name.as_str() {
                "file" | "files" | "files[]" => {
                    let file_name = field.file_name().map(str::to_string).unwrap_or_default();
                    let bytes = field.bytes().await.map_err(|e| multipart_error(e, limit))?;
                    if bytes.len() > limit {
                        return Err(too_large(limit));
                    }
                    form.files.push((file_name, bytes));
                }
                "tags" => {
                    let text = text_of(field, limit).await?;
                    form.tags.extend(text.split([',', ' ']).map(str::trim).filter(|t| !t.is_empty()).map(String::from));
                }
                "chunk_size" => {
                    form.chunk_size = Some(number("chunk_size", &text_of(field, limit).await?, 100, 10_000)?)
                }
                "chunk_overlap" => {
                    form.chunk_overlap = Some(number("chunk_overlap", &text_of(field, limit).await?, 0, 1_000)?)
                }
                "memory_type" => form.memory_type = Some(text_of(field, limit).await?).filter(|t| !t.trim().is_empty()),
                "force" => form.force = crate::config::parse_flag(&text_of(field, limit).await?).unwrap_or(false),
                _ => {}
            }
        }
        if let Some(tag) = form.tags.iter().find(|t| t.chars().count() > 100) {
            return Err(ApiError::bad_request(format!(
                "Tag '{}...' exceeds maximum length of 100 characters.",
                tag.chars().take(100).collect::<String>()
            )));
        }
        Ok(form)
    }

    /// The request for one file, checked now: a name with a supported extension and content that reads as
    /// that type, else a 400 naming the file and the reason.
    async fn request(&self, state: &AppState, file_name: &str, bytes: &Bytes) -> Result<IngestRequest, ApiError> {
        if file_name.trim().is_empty() {
            return Err(ApiError::bad_request(
                "the file has no name; send it as the multipart field `file` with a filename",
            ));
        }
        if FileType::from_name(file_name).is_none() {
            let extension = file_name.rsplit_once('.').map_or("", |(_, e)| e).to_ascii_lowercase();
            return Err(ApiError::bad_request(format!(
                "Unsupported file type for {file_name}: .{extension}. Supported: {}",
                FileType::EXTENSIONS.iter().map(|(e, _)| format!(".{e}")).collect::<Vec<_>>().join(", ")
            )));
        }
        let (size, overlap) = state.service.default_chunking();
        let request = IngestRequest {
            file_name: file_name.to_string(),
            bytes: bytes.to_vec(),
            tags: self.tags.clone(),
            chunk_size: self.chunk_size.unwrap_or(size),
            chunk_overlap: self.chunk_overlap.unwrap_or(overlap),
            memory_type: self.memory_type.clone(),
            force: self.force,
            dry_run: false,
        };
        state.service.check_document(&request).await.map_err(|e| match e {
            ServiceError::Invalid(message) => ApiError::bad_request(message),
            other => other.into(),
        })?;
        Ok(request)
    }
}

/// Queues the files of a form and starts processing them, one after the other, in the background.
async fn queue(state: &AppState, form: Form, actor: mms_log::Actor) -> Result<Vec<(String, String)>, ApiError> {
    let mut requests = Vec::with_capacity(form.files.len());
    for (file_name, bytes) in &form.files {
        requests.push(form.request(state, file_name, bytes).await?);
    }
    let queued: Vec<(String, IngestRequest)> =
        requests.into_iter().map(|r| (state.service.queue_upload(&r, &actor), r)).collect();
    let ids = queued.iter().map(|(id, r)| (id.clone(), r.file_name.clone())).collect();
    let service = state.service.clone();
    tokio::spawn(async move {
        for (upload_id, request) in queued {
            service.ingest_queued(upload_id, request, actor.clone()).await;
        }
    });
    Ok(ids)
}

/// Upload one document (multipart: `file`; `tags`, `chunk_size`, `chunk_overlap`, `memory_type`, `force`).
#[utoipa::path(post, path = "/api/documents/upload", tag = "documents",
    request_body(content_type = "multipart/form-data", description = "file; tags (comma or space separated); chunk_size (100-10000, default 1000); chunk_overlap (0-1000, default 200); memory_type (default document); force (ingest a file already ingested)"),
    responses((status = 200, description = "{upload_id, status: queued, message}", body = Object),
              (status = 400, description = "No file, an unsupported type, or content that cannot be read as its type"),
              (status = 413, description = "Larger than MCP_DOCUMENT_MAX_FILE_MB")))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Json<Value>, ApiError> {
    let form = Form::read(multipart, state.service.max_file_bytes()).await?;
    if form.files.len() != 1 {
        return Err(ApiError::bad_request(
            "send exactly one file in the field `file` (several: /api/documents/batch-upload)",
        ));
    }
    let queued = queue(&state, form, actor(&principal, &headers)).await?;
    let (upload_id, file_name) = &queued[0];
    Ok(Json(json!({
        "upload_id": upload_id,
        "status": "queued",
        "message": format!("Document {file_name} queued for processing"),
    })))
}

/// Upload several documents (multipart: `files` repeated). Each file is its own upload, stored whole or
/// not at all; `upload_id` is the first one's, `upload_ids` lists them all.
#[utoipa::path(post, path = "/api/documents/batch-upload", tag = "documents",
    request_body(content_type = "multipart/form-data", description = "files (repeated); the same fields as /api/documents/upload"),
    responses((status = 200, description = "{upload_id, upload_ids, status: queued, message}", body = Object),
              (status = 400, description = "No files, or one that is unsupported or unreadable (then none is queued)"),
              (status = 413, description = "A file larger than MCP_DOCUMENT_MAX_FILE_MB")))]
pub(crate) async fn batch_upload(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Json<Value>, ApiError> {
    let form = Form::read(multipart, state.service.max_file_bytes()).await?;
    if form.files.is_empty() {
        return Err(ApiError::bad_request("No files provided"));
    }
    let queued = queue(&state, form, actor(&principal, &headers)).await?;
    let ids: Vec<&String> = queued.iter().map(|(id, _)| id).collect();
    Ok(Json(json!({
        "upload_id": ids[0],
        "upload_ids": ids,
        "status": "queued",
        "message": format!("Batch of {} documents queued for processing", ids.len()),
    })))
}

fn upload_not_found(error: ServiceError) -> ApiError {
    match error {
        ServiceError::NotFound(_) => ApiError::not_found("Upload session not found"),
        other => other.into(),
    }
}

/// The status of an upload: queued, processing, completed, failed or removed, with its progress.
#[utoipa::path(get, path = "/api/documents/status/{upload_id}", tag = "documents",
    params(("upload_id" = String, Path, description = "The id the upload route answered")),
    responses((status = 200, description = "The upload", body = Upload), (status = 404, description = "No such upload")))]
pub(crate) async fn status(
    State(state): State<AppState>,
    Path(upload_id): Path<String>,
) -> Result<Json<Upload>, ApiError> {
    Ok(Json(state.service.upload(&upload_id).await.map_err(upload_not_found)?))
}

/// Every upload, newest first (the latest 200): in progress, failed, completed and removed.
#[utoipa::path(get, path = "/api/documents/history", tag = "documents",
    responses((status = 200, description = "{uploads: [upload]}", body = Object)))]
pub(crate) async fn history(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let uploads = state.service.uploads(HISTORY_LIMIT).await?;
    Ok(Json(json!({ "uploads": uploads })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct RemoveQuery {
    /// Delete the upload's memories too (default true); false only marks the upload removed.
    #[serde(default)]
    remove_from_memory: Option<bool>,
}

/// Remove an upload and (by default) its memories, through ordinary delete events: their history stays.
#[utoipa::path(delete, path = "/api/documents/remove/{upload_id}", tag = "documents",
    params(("upload_id" = String, Path, description = "The upload"), RemoveQuery),
    responses((status = 200, description = "{status: success, upload_id, filename, memories_deleted, message}", body = Object),
              (status = 404, description = "No such upload"), (status = 409, description = "Removed already, or still processing"),
              (status = 422, description = "A mistyped query parameter")))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(upload_id): Path<String>,
    Params(query): Params<RemoveQuery>,
) -> Result<Json<Value>, ApiError> {
    let keep = !query.remove_from_memory.unwrap_or(true);
    let actor = actor(&principal, &headers);
    let removed = state.service.remove_upload(&upload_id, keep, None, actor).await.map_err(upload_not_found)?;
    Ok(Json(json!({
        "status": "success",
        "upload_id": removed.upload_id,
        "filename": removed.filename,
        "memories_deleted": removed.chunks_deleted.unwrap_or(0),
        "message": format!("Document '{}' removed successfully", removed.filename),
    })))
}

/// The tags of a remove-by-tags request: a JSON list (as the original takes it) or `{"tags": [...]}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum TagsBody {
    List(Vec<String>),
    Object { tags: Vec<String> },
}

/// Remove the memories with any of these tags, and every upload tagged with one of them.
#[utoipa::path(delete, path = "/api/documents/remove-by-tags", tag = "documents",
    request_body(content = TagsBody, description = "[\"tag\", ...] or {\"tags\": [...]}"),
    responses((status = 200, description = "{status: success, tags, memories_deleted, affected_uploads, message}", body = Object),
              (status = 400, description = "No tags"), (status = 422, description = "Not a list of tags")))]
pub(crate) async fn remove_by_tags(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // The original takes a bare JSON list, which the object-only `Body` extractor refuses.
    let body: TagsBody = serde_json::from_slice(&body).map_err(|_| {
        ApiError::invalid("type_error", &["body"], "Input should be a list of tags or {\"tags\": [...]}", Value::Null)
    })?;
    let tags: Vec<String> = match body {
        TagsBody::List(tags) | TagsBody::Object { tags } => {
            tags.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
        }
    };
    if tags.is_empty() {
        return Err(ApiError::bad_request("give at least one tag"));
    }
    let actor = actor(&principal, &headers);
    let mut affected = Vec::new();
    let mut deleted = 0;
    for upload in state.service.uploads(usize::MAX).await? {
        let tagged = upload.status == "completed"
            && tags.iter().any(|t| upload.tags.contains(t) || *t == format!("upload_id:{}", upload.upload_id));
        if tagged {
            let removed = state.service.remove_upload(&upload.upload_id, false, None, actor.clone()).await?;
            deleted += removed.chunks_deleted.unwrap_or(0) as usize;
            affected.push(removed.upload_id);
        }
    }
    let request = DeleteRequest { tags: tags.clone(), ..DeleteRequest::default() };
    deleted += state.service.delete_where(request, actor).await?.deleted;
    Ok(Json(json!({
        "status": "success",
        "tags": tags,
        "memories_deleted": deleted,
        "affected_uploads": affected,
        "message": format!("Deleted {deleted} memories matching tags"),
    })))
}

/// Forget an upload for real: its memories (live or deleted) and its record are erased from the log, the
/// read models and the backups; tombstones say when and by whom. Cannot be undone. Needs the admin scope.
#[utoipa::path(post, path = "/api/documents/redact/{upload_id}", tag = "documents",
    params(("upload_id" = String, Path, description = "The upload")),
    request_body = super::memories::RedactBody,
    responses((status = 200, description = "{success, upload_id, memories_redacted, seq, backups_scrubbed}", body = Object),
              (status = 404, description = "No such upload"), (status = 409, description = "Still processing"),
              (status = 422, description = "A bad reason")))]
pub(crate) async fn redact(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(upload_id): Path<String>,
    super::error::Body(body): super::error::Body<super::memories::RedactBody>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&principal, &headers);
    let (redaction, scrubbed) =
        state.backups.redact_upload(&state.service, &upload_id, body.reason, actor).await.map_err(upload_not_found)?;
    let scrubbed = scrubbed.map(super::memories::filenames).map_err(|error| {
        tracing::error!(error = %crate::error::Chain(&error), "erasing a redacted upload from the backups failed");
        ServiceError::internal(
            "the upload is redacted, but erasing it from the backups failed; it is retried at the next backup check",
        )
    })?;
    Ok(Json(json!({
        "success": true,
        "upload_id": redaction.upload_id,
        "memories_redacted": redaction.memories_redacted,
        "seq": redaction.seq,
        "backups_scrubbed": scrubbed,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct ContentQuery {
    /// At most this many chunks (default 1000).
    limit: Option<i64>,
}

/// The memories of an upload that are still live, in chunk order.
#[utoipa::path(get, path = "/api/documents/search-content/{upload_id}", tag = "documents",
    params(("upload_id" = String, Path, description = "The upload"), ContentQuery),
    responses((status = 200, description = "{status, upload_id, filename, total_found, memories: [{content_hash, content, tags, metadata, created_at, chunk_index, page}]}", body = Object),
              (status = 404, description = "No such upload"), (status = 422, description = "limit out of 1..=100000")))]
pub(crate) async fn search_content(
    State(state): State<AppState>,
    Path(upload_id): Path<String>,
    Params(query): Params<ContentQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(1000);
    super::error::check_range(&["query", "limit"], limit, 1, 100_000)?;
    let upload = state.service.upload(&upload_id).await.map_err(upload_not_found)?;
    let memories = state.service.upload_memories(&upload_id, limit as usize).await?;
    let results: Vec<Value> = memories.iter().map(chunk_json).collect();
    Ok(Json(json!({
        "status": "success",
        "upload_id": upload_id,
        "filename": upload.filename,
        "total_found": results.len(),
        "memories": results,
    })))
}

fn chunk_json(memory: &Memory) -> Value {
    json!({
        "content_hash": memory.content_hash,
        "content": memory.content,
        "tags": memory.tags,
        "metadata": memory.metadata,
        "created_at": memory.created_at_iso,
        "chunk_index": memory.metadata.get("chunk_index").cloned().unwrap_or(json!(0)),
        "page": memory.metadata.get("page").cloned().unwrap_or(Value::Null),
    })
}
