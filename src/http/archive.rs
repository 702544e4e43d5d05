//! Reversible forgetting over HTTP: archive and unarchive a memory, and list the archived ones.

use super::error::{ApiError, Params, check_range};
use super::{AppState, actor, hash_of};
use crate::oauth::scope::Principal;
use crate::service::{ArchivedMemory, ArchivedPage, MAX_ARCHIVE_PAGE, Memory};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// Why a memory is archived.
#[derive(Deserialize, ToSchema)]
pub(crate) struct ArchiveBody {
    /// Kept with the archived memory and in its history (at most 1000 characters).
    reason: Option<String>,
}

/// The answer to an archive.
#[derive(Serialize, ToSchema)]
pub(crate) struct ArchiveAnswer {
    success: bool,
    message: String,
    content_hash: String,
    memory: ArchivedMemory,
}

/// The answer to an unarchive.
#[derive(Serialize, ToSchema)]
pub(crate) struct UnarchiveAnswer {
    success: bool,
    message: String,
    content_hash: String,
    memory: Memory,
}

/// Archive a memory (forget it reversibly): it leaves every search and list, stays in its history and in
/// the memory graph, and comes back with `unarchive` or a restore.
#[utoipa::path(post, path = "/api/memories/{content_hash}/archive", tag = "memories",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash")),
    request_body(content = Option<ArchiveBody>, description = "Optional reason"),
    responses((status = 200, description = "Archived", body = ArchiveAnswer), (status = 404, description = "No such live memory"),
              (status = 409, description = "Already archived"), (status = 422, description = "Not a content hash, or a bad reason")))]
pub(crate) async fn archive(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(content_hash): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<ArchiveAnswer>, ApiError> {
    let hash = hash_of(&content_hash)?;
    // The body is optional: none, whitespace or null means no reason.
    let reason = match body.iter().all(u8::is_ascii_whitespace) {
        true => None,
        false => serde_json::from_slice::<Option<ArchiveBody>>(&body)
            .map_err(|e| ApiError::invalid("json_invalid", &["body"], format!("JSON decode error: {e}"), json!({})))?
            .and_then(|body| body.reason),
    };
    let memory = state.service.archive(&hash, reason, actor(&principal, &headers)).await?;
    Ok(Json(ArchiveAnswer { success: true, message: format!("Memory {hash} archived"), content_hash: hash, memory }))
}

/// Bring an archived memory back into searches and lists, as it is.
#[utoipa::path(post, path = "/api/memories/{content_hash}/unarchive", tag = "memories",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash")),
    responses((status = 200, description = "Unarchived", body = UnarchiveAnswer), (status = 404, description = "No such live memory"),
              (status = 409, description = "Not archived"), (status = 422, description = "Not a content hash")))]
pub(crate) async fn unarchive(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(content_hash): Path<String>,
) -> Result<Json<UnarchiveAnswer>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let memory = state.service.unarchive(&hash, actor(&principal, &headers)).await?;
    Ok(Json(UnarchiveAnswer {
        success: true,
        message: format!("Memory {hash} unarchived"),
        content_hash: hash,
        memory,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ArchivedQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Memories per page, 1 to 1000.
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<i64>,
}

/// The archived memories, most recently archived first, each with when, why and by whom.
#[utoipa::path(get, path = "/api/memories/archived", tag = "memories", params(ArchivedQuery),
    responses((status = 200, description = "A page of archived memories", body = ArchivedPage),
              (status = 422, description = "Bad page or page_size")))]
pub(crate) async fn archived(
    State(state): State<AppState>,
    Params(query): Params<ArchivedQuery>,
) -> Result<Json<ArchivedPage>, ApiError> {
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(10);
    check_range(&["query", "page"], page, 1, 1_000_000)?;
    check_range(&["query", "page_size"], page_size, 1, MAX_ARCHIVE_PAGE as i64)?;
    Ok(Json(state.service.archived(page as usize, page_size as usize).await?))
}
