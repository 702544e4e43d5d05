//! Consolidation and archiving over MCP: `memory_consolidate` (the newer original's tool: run, status,
//! recommend, scheduler, pause, resume), the seven v8.9 tool names as aliases answering the original's
//! texts, and `memory_archive` (archive, unarchive, list the archived memories).

use super::{McpServer, actor, failure};
use crate::consolidation::Horizon;
use crate::service::ConsolidationReport;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ConsolidateAction {
    /// Run a horizon now (dry_run: only report what it would do).
    Run,
    /// The consolidation system's state and counts.
    Status,
    /// Whether a horizon's run is worth it.
    Recommend,
    /// The schedule: each horizon's next run, the runs so far.
    Scheduler,
    /// Pause the schedule of time_horizon, or of all.
    Pause,
    /// Resume the schedule of time_horizon, or of all.
    Resume,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum HorizonArg {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl From<&HorizonArg> for Horizon {
    fn from(arg: &HorizonArg) -> Horizon {
        match arg {
            HorizonArg::Daily => Horizon::Daily,
            HorizonArg::Weekly => Horizon::Weekly,
            HorizonArg::Monthly => Horizon::Monthly,
            HorizonArg::Quarterly => Horizon::Quarterly,
            HorizonArg::Yearly => Horizon::Yearly,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ConsolidateArgs {
    pub action: ConsolidateAction,
    /// run and recommend: which horizon (daily: the last two days; weekly and monthly: everything;
    /// quarterly, yearly: memories older than 90 and 365 days).
    pub time_horizon: Option<HorizonArg>,
    /// run: report what would be done and append nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The original's trigger flag; a run is always immediate here.
    pub immediate: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct HorizonArgs {
    pub time_horizon: Option<HorizonArg>,
    /// The original's trigger flag; a run is always immediate here.
    pub immediate: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ArchiveAction {
    Archive,
    Unarchive,
    List,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ArchiveArgs {
    pub action: ArchiveAction,
    /// archive, unarchive: the memory.
    pub content_hash: Option<String>,
    /// archive: why (kept in the memory's history).
    pub reason: Option<String>,
    /// list: 1-based page (default 1).
    pub page: Option<usize>,
    /// list: memories per page, 1 to 1000 (default 10).
    pub page_size: Option<usize>,
}

fn text(body: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(body)])
}

/// The original's report text, with the actions and why each was taken.
fn report_text(report: &ConsolidationReport) -> String {
    let mut text = format!(
        "Consolidation {}!\n\nTime Horizon: {}\nDuration: {:.2} seconds\nMemories Processed: {}\nAssociations Discovered: {}\nClusters Created: {}\nMemories Compressed: {}\nMemories Archived: {}",
        if report.dry_run { "dry run completed (nothing was changed)" } else { "completed successfully" },
        report.time_horizon,
        report.duration_seconds,
        report.memories_processed,
        report.associations_discovered,
        report.clusters_created,
        report.memories_compressed,
        report.memories_archived
    );
    if !report.errors.is_empty() {
        text.push_str("\n\nWarnings/Errors:");
        report.errors.iter().for_each(|e| text.push_str(&format!("\n- {e}")));
    }
    if !report.actions.is_empty() {
        text.push_str(&format!("\n\nActions ({} in all):", report.actions_total));
        for action in &report.actions {
            let short: Vec<&str> = action.memories.iter().map(|h| &h[..h.len().min(12)]).collect();
            text.push_str(&format!("\n- {} {}: {}", action.action, short.join(", "), action.reason));
        }
    }
    text
}

const HORIZONS: &str = "daily, weekly, monthly, quarterly, yearly";

impl McpServer {
    async fn consolidate_run(
        &self,
        horizon: Option<&HorizonArg>,
        dry_run: bool,
        missing: &str,
    ) -> Result<CallToolResult, String> {
        let horizon = horizon.ok_or_else(|| missing.to_string())?;
        let report = self.consolidator.run(horizon.into(), dry_run, actor(), false).await.map_err(failure)?;
        Ok(text(report_text(&report)))
    }

    async fn recommend(&self, horizon: Option<&HorizonArg>, missing: &str) -> Result<CallToolResult, String> {
        let horizon: Horizon = horizon.ok_or_else(|| missing.to_string())?.into();
        let now = crate::service::now_seconds();
        let r = self.service.consolidation_recommendation(horizon, now).await.map_err(failure)?;
        let mut body = format!(
            "Consolidation Recommendations for {} horizon:\n\nRecommendation: {}\nMemory Count: {}",
            r.time_horizon,
            r.recommendation.to_uppercase(),
            r.memory_count
        );
        body.push_str("\n\nReasons:");
        r.reasons.iter().for_each(|reason| body.push_str(&format!("\n  • {reason}")));
        if !r.memory_types.is_empty() {
            body.push_str("\n\nMemory Types:");
            r.memory_types.iter().for_each(|(t, n)| body.push_str(&format!("\n  {t}: {n}")));
        }
        body.push_str(&format!(
            "\n\nTotal Size: {:.2} MB\nOld Memory Percentage: {:.1}%\nEstimated Duration: {:.1} seconds",
            r.total_size_bytes as f64 / 1_048_576.0,
            r.old_memory_percentage,
            r.estimated_duration_seconds
        ));
        Ok(text(body))
    }

    fn consolidation_status_text(&self) -> String {
        let status = self.consolidator.status();
        let stats = &status.execution_stats;
        let mut body = format!(
            "Consolidation System Status: {}\nLast Updated: {}\n\nComponent Health:\n  decay_calculator: HEALTHY\n  association_engine: HEALTHY\n  clustering_engine: HEALTHY\n  compression_engine: HEALTHY\n  forgetting_engine: HEALTHY\n  scheduler: {}\n  storage_backend: HEALTHY\n\nStatistics:\n  Total consolidation runs: {}\n  Successful runs: {}\n  Failed runs: {}",
            if stats.failed_jobs == 0 { "HEALTHY" } else { "DEGRADED" },
            chrono::Utc::now().to_rfc3339(),
            if status.enabled { "RUNNING" } else { "DISABLED" },
            stats.total_jobs,
            stats.successful_jobs,
            stats.failed_jobs
        );
        if !status.last_execution_times.is_empty() {
            body.push_str("\n\nLast Consolidation Times:");
            status.last_execution_times.iter().for_each(|(h, at)| body.push_str(&format!("\n  {h}: {at}")));
        }
        body
    }

    fn scheduler_text(&self) -> String {
        let status = self.consolidator.status();
        if !status.enabled {
            return "Consolidation scheduler: DISABLED (set MCP_CONSOLIDATION_ENABLED=true; runs on request work either way)".into();
        }
        let mut body = "Consolidation Scheduler Status: RUNNING\n\nScheduled Jobs:".to_string();
        for job in &status.jobs {
            body.push_str(&format!("\n  {}: {}", job.name, job.next_run_time.as_deref().unwrap_or("Not scheduled")));
        }
        let stats = &status.execution_stats;
        body.push_str(&format!(
            "\n\nExecution Statistics:\n  Total jobs executed: {}\n  Successful jobs: {}\n  Failed jobs: {}",
            stats.total_jobs, stats.successful_jobs, stats.failed_jobs
        ));
        if !status.recent_jobs.is_empty() {
            body.push_str("\n\nRecent Jobs:");
            for job in status.recent_jobs.iter().take(5) {
                let outcome = if job.success { "success" } else { "failed" };
                body.push_str(&format!("\n  {} ({outcome}): {:.2}s", job.horizon, job.duration_seconds));
            }
        }
        body
    }

    fn pause_or_resume(&self, pause: bool, horizon: Option<&HorizonArg>) -> CallToolResult {
        let horizon: Option<Horizon> = horizon.map(Into::into);
        if pause {
            self.consolidator.pause(horizon)
        } else {
            self.consolidator.resume(horizon)
        }
        text(format!(
            "Successfully {} {} consolidation jobs",
            if pause { "paused" } else { "resumed" },
            horizon.map_or("all", Horizon::name)
        ))
    }
}

#[tool_router(router = consolidation_router, vis = "pub(super)")]
impl McpServer {
    /// Consolidate memories, as the newer original: `run` a horizon (relevance with decay; associations
    /// between memories as related edges; clusters each summarised by a summary memory; forgetting as
    /// archiving; dry_run to preview), `status`, `recommend`, `scheduler`, `pause`, `resume`. Everything it
    /// changes is an event: see it in history, undo it with unarchive or a restore.
    #[tool(annotations(title = "Consolidate memories", read_only_hint = false, destructive_hint = false))]
    async fn memory_consolidate(
        &self,
        Parameters(args): Parameters<ConsolidateArgs>,
    ) -> Result<CallToolResult, String> {
        let horizon = args.time_horizon.as_ref();
        match args.action {
            ConsolidateAction::Run => {
                let ran =
                    self.consolidate_run(horizon, args.dry_run, "Error: time_horizon is required for 'run' action");
                let mut result = ran.await?;
                if args.immediate == Some(false) {
                    // The original scheduled a "later" run that then repeated every minute forever.
                    result.content.push(ContentBlock::text("Runs are always immediate here: nothing was scheduled."));
                }
                Ok(result)
            }
            ConsolidateAction::Recommend => {
                self.recommend(horizon, "Error: time_horizon is required for 'recommend' action").await
            }
            ConsolidateAction::Status => Ok(text(self.consolidation_status_text())),
            ConsolidateAction::Scheduler => Ok(text(self.scheduler_text())),
            ConsolidateAction::Pause => Ok(self.pause_or_resume(true, horizon)),
            ConsolidateAction::Resume => Ok(self.pause_or_resume(false, horizon)),
        }
    }

    /// Archive a memory (out of every search and list, kept in its history and the graph), bring one back
    /// (`unarchive`), or `list` the archived memories with why each was archived.
    #[tool(annotations(title = "Archive memories", read_only_hint = false, destructive_hint = false))]
    async fn memory_archive(&self, Parameters(args): Parameters<ArchiveArgs>) -> Result<CallToolResult, String> {
        let hash = || args.content_hash.clone().ok_or_else(|| "Error: content_hash is required".to_string());
        let value = match args.action {
            ArchiveAction::Archive => {
                let archived = self.service.archive(&hash()?, args.reason.clone(), actor()).await.map_err(failure)?;
                json!({ "success": true, "archived": archived })
            }
            ArchiveAction::Unarchive => {
                let memory = self.service.unarchive(&hash()?, actor()).await.map_err(failure)?;
                json!({ "success": true, "unarchived": memory })
            }
            ArchiveAction::List => {
                let page = self
                    .service
                    .archived(args.page.unwrap_or(1), args.page_size.unwrap_or(10))
                    .await
                    .map_err(failure)?;
                serde_json::to_value(page).unwrap_or_default()
            }
        };
        Ok(text(serde_json::to_string_pretty(&value).unwrap_or_default()))
    }
}

#[tool_router(router = consolidation_alias_router, vis = "pub(super)")]
impl McpServer {
    /// The original's name for memory_consolidate run.
    #[tool(annotations(read_only_hint = false))]
    async fn consolidate_memories(&self, Parameters(args): Parameters<HorizonArgs>) -> Result<CallToolResult, String> {
        self.consolidate_run(args.time_horizon.as_ref(), false, "Error: time_horizon is required").await
    }

    /// The original's name for memory_consolidate status.
    #[tool(annotations(read_only_hint = true))]
    async fn consolidation_status(&self) -> Result<CallToolResult, String> {
        Ok(text(self.consolidation_status_text()))
    }

    /// The original's name for memory_consolidate recommend.
    #[tool(annotations(read_only_hint = true))]
    async fn consolidation_recommendations(
        &self,
        Parameters(args): Parameters<HorizonArgs>,
    ) -> Result<CallToolResult, String> {
        self.recommend(args.time_horizon.as_ref(), "Error: time_horizon is required").await
    }

    /// The original's name for memory_consolidate scheduler.
    #[tool(annotations(read_only_hint = true))]
    async fn scheduler_status(&self) -> Result<CallToolResult, String> {
        Ok(text(self.scheduler_text()))
    }

    /// The original's trigger: runs the horizon now (a later run is not offered: the original's repeated
    /// every minute forever).
    #[tool(annotations(read_only_hint = false))]
    async fn trigger_consolidation(&self, Parameters(args): Parameters<HorizonArgs>) -> Result<CallToolResult, String> {
        let Some(horizon) = args.time_horizon.as_ref() else {
            return Err(format!("Error: Invalid time_horizon. Must be one of: {HORIZONS}"));
        };
        let _ = args.immediate;
        self.consolidator.run(horizon.into(), false, actor(), false).await.map_err(failure)?;
        Ok(text(format!("Successfully triggered immediately {} consolidation", Horizon::from(horizon).name())))
    }

    /// The original's name for memory_consolidate pause.
    #[tool(annotations(read_only_hint = false))]
    async fn pause_consolidation(&self, Parameters(args): Parameters<HorizonArgs>) -> Result<CallToolResult, String> {
        Ok(self.pause_or_resume(true, args.time_horizon.as_ref()))
    }

    /// The original's name for memory_consolidate resume.
    #[tool(annotations(read_only_hint = false))]
    async fn resume_consolidation(&self, Parameters(args): Parameters<HorizonArgs>) -> Result<CallToolResult, String> {
        Ok(self.pause_or_resume(false, args.time_horizon.as_ref()))
    }
}
