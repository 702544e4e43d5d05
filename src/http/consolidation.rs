//! Consolidation over HTTP, the newer original's routes: trigger a run, the scheduler's status, a
//! horizon's recommendation; plus the full report of a run and the scheduler's jobs.

use super::AppState;
use super::error::{ApiError, Body};
use crate::consolidation::Horizon;
use crate::consolidator::SchedulerStatus;
use crate::oauth::scope::Principal;
use crate::service::{ConsolidationReport, Recommendation};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which horizon to run, and whether only to preview.
#[derive(Deserialize, ToSchema)]
pub(crate) struct TriggerBody {
    /// daily, weekly (default), monthly, quarterly or yearly.
    #[schema(pattern = "^(daily|weekly|monthly|quarterly|yearly)$")]
    time_horizon: Option<String>,
    /// Report what the run would do and change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// The original's answer to a trigger, plus the run's full report.
#[derive(Serialize, ToSchema)]
pub(crate) struct TriggerAnswer {
    /// completed, or completed_with_errors when some actions could not be applied.
    status: &'static str,
    horizon: &'static str,
    processed: usize,
    compressed: usize,
    /// Memories archived.
    forgotten: usize,
    duration: f64,
    report: ConsolidationReport,
}

fn horizon(name: &str) -> Result<Horizon, ApiError> {
    Horizon::parse(name).ok_or_else(|| {
        ApiError::bad_request("Invalid time_horizon. Must be one of: daily, weekly, monthly, quarterly, yearly")
    })
}

/// Run a consolidation horizon now (one run at a time): associations become related edges, clusters get a
/// summary memory, forgotten memories are archived, each with why; `dry_run` previews.
#[utoipa::path(post, path = "/api/consolidation/trigger", tag = "consolidation", request_body = TriggerBody,
    responses((status = 200, description = "The run's report", body = TriggerAnswer),
              (status = 400, description = "Unknown horizon"), (status = 422, description = "Invalid body")))]
pub(crate) async fn trigger(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Body(body): Body<TriggerBody>,
) -> Result<Json<TriggerAnswer>, ApiError> {
    let horizon = horizon(body.time_horizon.as_deref().unwrap_or("weekly"))?;
    let actor = super::actor(&principal, &headers);
    let report = state.consolidator.run(horizon, body.dry_run, actor, false).await?;
    Ok(Json(TriggerAnswer {
        status: if report.errors.is_empty() { "completed" } else { "completed_with_errors" },
        horizon: report.time_horizon,
        processed: report.memories_processed,
        compressed: report.memories_compressed,
        forgotten: report.memories_archived,
        duration: report.duration_seconds,
        report,
    }))
}

/// The original's status shape, plus the scheduler's jobs.
#[derive(Serialize, ToSchema)]
pub(crate) struct StatusAnswer {
    running: bool,
    next_daily: Option<String>,
    next_weekly: Option<String>,
    next_monthly: Option<String>,
    jobs_executed: u64,
    jobs_failed: u64,
    scheduler: SchedulerStatus,
}

/// The scheduler: whether it runs (`MCP_CONSOLIDATION_ENABLED`), each horizon's next run, the runs so far.
#[utoipa::path(get, path = "/api/consolidation/status", tag = "consolidation",
    responses((status = 200, description = "The scheduler's status", body = StatusAnswer)))]
pub(crate) async fn status(State(state): State<AppState>) -> Json<StatusAnswer> {
    let scheduler = state.consolidator.status();
    let next = |h: Horizon| scheduler.jobs.iter().find(|j| j.horizon == h.name()).and_then(|j| j.next_run_time.clone());
    Json(StatusAnswer {
        running: scheduler.running,
        next_daily: next(Horizon::Daily),
        next_weekly: next(Horizon::Weekly),
        next_monthly: next(Horizon::Monthly),
        jobs_executed: scheduler.execution_stats.successful_jobs,
        jobs_failed: scheduler.execution_stats.failed_jobs,
        scheduler,
    })
}

/// Whether a horizon's run is worth it: how many memories it would look at, their types, how old.
#[utoipa::path(get, path = "/api/consolidation/recommendations/{time_horizon}", tag = "consolidation",
    params(("time_horizon" = String, Path, pattern = "^(daily|weekly|monthly|quarterly|yearly)$", description = "The horizon")),
    responses((status = 200, description = "The recommendation", body = Recommendation),
              (status = 400, description = "Unknown horizon")))]
pub(crate) async fn recommendations(
    State(state): State<AppState>,
    Path(time_horizon): Path<String>,
) -> Result<Json<Recommendation>, ApiError> {
    let horizon = horizon(&time_horizon)?;
    let now = crate::service::now_seconds();
    Ok(Json(state.service.consolidation_recommendation(horizon, now).await?))
}
