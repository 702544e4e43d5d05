//! `/api/backup/*`: the original's status, list and on-demand backup, plus verification of one backup.

use super::AppState;
use super::error::{ApiError, Params};
use crate::backup::{Kind, Listing};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Runs blocking backup work off the async runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(%error, "a backup task failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    })
}

/// The schedule and what is in the backup directory.
#[utoipa::path(get, path = "/api/backup/status", tag = "backup",
    responses((status = 200, description = "enabled, interval, retention_days, max_count, backup_count, total_size_bytes, last_backup_time, time_since_last_seconds, next_backup_at, scheduler_running, backup_directory", body = Object)))]
pub(crate) async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let backups = state.backups.clone();
    let status = blocking(move || backups.status()).await?;
    Ok(Json(serde_json::to_value(status).unwrap_or_default()))
}

/// The backups, newest first, each with its manifest.
#[utoipa::path(get, path = "/api/backup/list", tag = "backup",
    responses((status = 200, description = "{backups: [{filename, size_bytes, created_at, age_days, ...manifest}], total_count, total_size_bytes}", body = Object)))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Listing>, ApiError> {
    let backups = state.backups.clone();
    Ok(Json(blocking(move || backups.listing()).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NowQuery {
    /// A full snapshot even when an increment (the events since the newest backup) would do.
    #[serde(default)]
    full: bool,
}

/// A backup of the event log now, while writes go on: the events since the newest backup when that keeps
/// it small (`manifest.kind` "incremental"), a full snapshot otherwise; then the retention.
#[utoipa::path(post, path = "/api/backup/now", tag = "backup", params(NowQuery),
    responses((status = 200, description = "{success, filename, size_bytes, created_at, duration_seconds, error, unchanged, manifest}: unchanged when the newest backup already holds the whole log (nothing written, that backup named)", body = Object),
        (status = 422, description = "full is not true or false"),
        (status = 500, description = "the backup failed: success false, error says why", body = Object)))]
pub(crate) async fn now(State(state): State<AppState>, Params(query): Params<NowQuery>) -> Result<Response, ApiError> {
    let backups = state.backups.clone();
    let kind = if query.full { Kind::Full } else { Kind::Auto };
    let created = blocking(move || backups.now(kind)).await?;
    let status = if created.success { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
    Ok((status, Json(created)).into_response())
}

/// Checks a backup's checksum and replays it into a scratch read model.
#[utoipa::path(post, path = "/api/backup/verify/{filename}", tag = "backup",
    params(("filename" = String, Path, description = "memory_backup_YYYYmmdd_HHMMSS.redb")),
    responses((status = 200, description = "{valid: true, filename, events, memories, last_seq} or {valid: false, error}", body = Object),
        (status = 404, description = "no such backup", body = Object)))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    Path(filename): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let backups = state.backups.clone();
    let verified = blocking(move || {
        // Only a backup the directory lists; reading the directory is blocking work too.
        let listed = backups.listing().backups.iter().any(|entry| entry.filename == filename);
        listed.then(|| backups.verify(&filename)).ok_or(filename)
    })
    .await?
    .map_err(|filename| ApiError::not_found(format!("No backup named {filename}")))?;
    Ok(Json(match verified {
        Ok(verified) => json!({ "valid": true, "filename": verified.filename, "events": verified.events,
            "memories": verified.memories, "last_seq": verified.last_seq }),
        Err(error) => json!({ "valid": false, "error": crate::error::Chain(&error).to_string() }),
    }))
}
