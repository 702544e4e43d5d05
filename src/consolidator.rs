//! The consolidator of a store's owner: runs consolidation on request and on the configured horizons
//! (`MCP_SCHEDULE_*`, local time, only with `MCP_CONSOLIDATION_ENABLED`), one run at a time, pausable per
//! horizon, with its status and history, and tells the change stream when a run starts and ends.

use crate::config::{ConsolidationConfig, ScheduleDay, ScheduleSpec};
use crate::consolidation::{Horizon, Settings};
use crate::service::{ConsolidationReport, Service, ServiceError};
use chrono::{DateTime, Datelike, Duration as Days, Local, NaiveDate, TimeZone};
use mms_log::{Actor, Interface};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The runs the status keeps.
const HISTORY: usize = 100;

/// When each horizon runs, and whether the schedule is on at all.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub enabled: bool,
    pub specs: Vec<(Horizon, ScheduleSpec)>,
}

impl Schedule {
    /// The schedule the settings ask for.
    pub fn of(config: &ConsolidationConfig) -> Schedule {
        Schedule {
            enabled: config.enabled,
            specs: vec![
                (Horizon::Daily, config.schedule_daily),
                (Horizon::Weekly, config.schedule_weekly),
                (Horizon::Monthly, config.schedule_monthly),
                (Horizon::Quarterly, config.schedule_quarterly),
                (Horizon::Yearly, config.schedule_yearly),
            ],
        }
    }
}

/// The next time after `after` that `spec` names for `horizon`, in local time; None when disabled.
/// A day a month lacks (the 31st, 02-29) is skipped, as the original's cron does; a quarterly spec's
/// month is ignored (months 1, 4, 7 and 10), as the original's.
pub fn next_run(horizon: Horizon, spec: ScheduleSpec, after: DateTime<Local>) -> Option<DateTime<Local>> {
    let (day, hour, minute) = spec.0?;
    let start = after.date_naive();
    (0..=366 * 8).map(|n| start + Days::days(n)).find_map(|date: NaiveDate| {
        let matches = match day {
            ScheduleDay::Every => true,
            ScheduleDay::Weekday(weekday) => date.weekday().num_days_from_monday() == weekday,
            ScheduleDay::MonthDay(d) => date.day() == d,
            ScheduleDay::MonthAndDay(_, d) if horizon == Horizon::Quarterly => {
                date.day() == d && [1, 4, 7, 10].contains(&date.month())
            }
            ScheduleDay::MonthAndDay(m, d) => date.month() == m && date.day() == d,
        };
        let at = date.and_hms_opt(hour, minute, 0)?;
        let at = Local.from_local_datetime(&at).earliest()?;
        (matches && at > after).then_some(at)
    })
}

/// One finished run, for the status.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub horizon: &'static str,
    pub started_at: String,
    pub duration_seconds: f64,
    pub success: bool,
    pub scheduled: bool,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Default)]
struct State {
    paused: BTreeSet<Horizon>,
    running: Option<Horizon>,
    successful: u64,
    failed: u64,
    last: BTreeMap<Horizon, String>,
    recent: VecDeque<RunRecord>,
}

/// The store's consolidator (see the module's comment). Cheap to share through an `Arc`.
pub struct Consolidator {
    service: Service,
    settings: Settings,
    schedule: Schedule,
    state: Mutex<State>,
    one_at_a_time: tokio::sync::Mutex<()>,
    notices: broadcast::Sender<(&'static str, Value)>,
}

impl Consolidator {
    pub fn new(service: Service, settings: Settings, schedule: Schedule) -> Arc<Consolidator> {
        Arc::new(Consolidator {
            service,
            settings,
            schedule,
            state: Mutex::new(State::default()),
            one_at_a_time: tokio::sync::Mutex::new(()),
            notices: broadcast::channel(64).0,
        })
    }

    /// The settings runs use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether the schedule runs (`MCP_CONSOLIDATION_ENABLED`).
    pub fn scheduled(&self) -> bool {
        self.schedule.enabled
    }

    /// The SSE notices of runs (`consolidation_started`, `consolidation_completed`), for the event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<(&'static str, Value)> {
        self.notices.subscribe()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one horizon now (after any run in progress); `scheduled` says whether the schedule asked.
    pub async fn run(
        &self,
        horizon: Horizon,
        dry_run: bool,
        actor: Actor,
        scheduled: bool,
    ) -> Result<ConsolidationReport, ServiceError> {
        let _one = self.one_at_a_time.lock().await;
        self.state().running = Some(horizon);
        let now = chrono::Utc::now();
        let started_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = self.notices.send((
            "consolidation_started",
            json!({ "time_horizon": horizon.name(), "dry_run": dry_run, "scheduled": scheduled, "timestamp": started_at }),
        ));
        let seconds = crate::service::epoch_seconds(now);
        let result = self.service.consolidate(horizon, &self.settings, seconds, dry_run, actor).await;
        let mut state = self.state();
        state.running = None;
        let record = RunRecord {
            horizon: horizon.name(),
            started_at: started_at.clone(),
            duration_seconds: result.as_ref().map_or(0.0, |r| r.duration_seconds),
            success: result.as_ref().is_ok_and(|r| r.errors.is_empty()),
            scheduled,
            dry_run,
            error: result.as_ref().err().map(ToString::to_string),
        };
        if record.success {
            state.successful += 1
        } else {
            state.failed += 1
        }
        state.last.insert(horizon, started_at);
        state.recent.push_back(record);
        if state.recent.len() > HISTORY {
            state.recent.pop_front();
        }
        drop(state);
        let summary = match &result {
            Ok(report) => json!({
                "time_horizon": horizon.name(),
                "dry_run": dry_run,
                "memories_processed": report.memories_processed,
                "associations_discovered": report.associations_discovered,
                "clusters_created": report.clusters_created,
                "memories_archived": report.memories_archived,
                "events_appended": report.events_appended,
                "duration_seconds": report.duration_seconds,
                "errors": report.errors.len(),
            }),
            Err(error) => json!({ "time_horizon": horizon.name(), "dry_run": dry_run, "error": error.to_string() }),
        };
        let _ = self.notices.send(("consolidation_completed", summary));
        result
    }

    /// Pauses the schedule of one horizon, or of all.
    pub fn pause(&self, horizon: Option<Horizon>) {
        let mut state = self.state();
        match horizon {
            Some(h) => {
                state.paused.insert(h);
            }
            None => state.paused.extend(Horizon::ALL),
        }
    }

    /// Resumes the schedule of one horizon, or of all.
    pub fn resume(&self, horizon: Option<Horizon>) {
        let mut state = self.state();
        match horizon {
            Some(h) => {
                state.paused.remove(&h);
            }
            None => state.paused.clear(),
        }
    }

    /// When a horizon runs next (None when disabled, paused or the schedule is off).
    pub fn next_of(&self, horizon: Horizon) -> Option<DateTime<Local>> {
        let spec = self.schedule.specs.iter().find(|(h, _)| *h == horizon)?.1;
        (self.schedule.enabled && !self.state().paused.contains(&horizon))
            .then(|| next_run(horizon, spec, Local::now()))
            .flatten()
    }

    /// The scheduler's status, as the original's `get_scheduler_status`: jobs, their next run, the counts.
    pub fn status(&self) -> SchedulerStatus {
        let jobs = self
            .schedule
            .specs
            .iter()
            .filter(|(_, spec)| spec.0.is_some())
            .map(|(h, spec)| Job {
                id: format!("consolidation_{}", h.name()),
                name: format!("Consolidation - {}", capitalised(h.name())),
                horizon: h.name(),
                next_run_time: self.next_of(*h).map(|t| t.to_rfc3339()),
                paused: self.state().paused.contains(h),
                trigger: describe(*h, *spec),
            })
            .collect();
        let state = self.state();
        SchedulerStatus {
            enabled: self.schedule.enabled,
            running: self.schedule.enabled,
            run_in_progress: state.running.map(Horizon::name),
            jobs,
            execution_stats: ExecutionStats {
                total_jobs: state.successful + state.failed,
                successful_jobs: state.successful,
                failed_jobs: state.failed,
            },
            last_execution_times: state.last.iter().map(|(h, at)| (h.name().to_string(), at.clone())).collect(),
            recent_jobs: state.recent.iter().rev().take(10).cloned().collect(),
        }
    }

    /// Runs the schedule while this consolidator is in use: sleeps until the next horizon that is due
    /// (checking again at least every minute, so a pause or resume takes effect), then runs it. Started by
    /// the owner; the task holds the consolidator only while it runs or checks, so it ends within a minute
    /// once the owner lets go of the store (a handover), and never runs on a closed store.
    pub fn spawn_schedule(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if !self.schedule.enabled {
            return None;
        }
        let weak = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            let mut due: BTreeMap<Horizon, DateTime<Local>> = BTreeMap::new();
            loop {
                let Some(this) = weak.upgrade() else { return };
                let now = Local::now();
                for horizon in Horizon::ALL {
                    match this.next_of(horizon) {
                        Some(next) => {
                            due.entry(horizon).or_insert(next);
                        }
                        None => {
                            due.remove(&horizon);
                        }
                    }
                }
                if let Some((&horizon, _)) = due.iter().filter(|(_, at)| **at <= now).min_by_key(|(_, at)| **at) {
                    due.remove(&horizon);
                    let actor = Actor::new(Interface::System, Some("consolidation-scheduler".into()));
                    if let Err(error) = this.run(horizon, false, actor, true).await {
                        tracing::error!(horizon = horizon.name(), error = %crate::error::Chain(&error), "scheduled consolidation failed");
                    }
                    continue;
                }
                drop(this);
                let next = due.values().min().map(|at| (*at - now).to_std().unwrap_or_default());
                let wait = next.unwrap_or(std::time::Duration::from_secs(60)).min(std::time::Duration::from_secs(60));
                tokio::time::sleep(wait).await;
            }
        }))
    }
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// A schedule in words, like the original's cron triggers.
fn describe(horizon: Horizon, spec: ScheduleSpec) -> String {
    let Some((day, hour, minute)) = spec.0 else { return "disabled".into() };
    const DAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let day = match day {
        ScheduleDay::Every => "every day".to_string(),
        ScheduleDay::Weekday(d) => format!("every {}", DAYS[d as usize % 7]),
        ScheduleDay::MonthDay(d) => format!("day {d} of every month"),
        ScheduleDay::MonthAndDay(_, d) if horizon == Horizon::Quarterly => format!("day {d} of months 1, 4, 7, 10"),
        ScheduleDay::MonthAndDay(m, d) => format!("{m:02}-{d:02} every year"),
    };
    format!("{day} at {hour:02}:{minute:02} local time")
}

/// The scheduler's status.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SchedulerStatus {
    /// Whether the schedule runs (`MCP_CONSOLIDATION_ENABLED`).
    pub enabled: bool,
    pub running: bool,
    /// The horizon of the run in progress, if any.
    pub run_in_progress: Option<&'static str>,
    pub jobs: Vec<Job>,
    pub execution_stats: ExecutionStats,
    /// The last run of each horizon (RFC 3339).
    pub last_execution_times: BTreeMap<String, String>,
    /// The last ten runs, newest first.
    #[schema(value_type = Vec<Object>)]
    pub recent_jobs: Vec<RunRecord>,
}

/// One scheduled horizon.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: String,
    pub name: String,
    pub horizon: &'static str,
    pub next_run_time: Option<String>,
    pub paused: bool,
    pub trigger: String,
}

/// Runs counted since the process started.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionStats {
    pub total_jobs: u64,
    pub successful_jobs: u64,
    pub failed_jobs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn local(text: &str) -> DateTime<Local> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a time");
        Local.from_local_datetime(&naive).earliest().expect("exists")
    }

    fn next(horizon: Horizon, spec: &str, after: &str) -> Option<String> {
        let spec = match horizon {
            Horizon::Daily => ScheduleSpec::daily(spec),
            Horizon::Weekly => ScheduleSpec::weekly(spec),
            Horizon::Monthly => ScheduleSpec::monthly(spec),
            Horizon::Quarterly | Horizon::Yearly => ScheduleSpec::yearly(spec),
        }
        .expect("a spec");
        next_run(horizon, spec, local(after)).map(|t| t.format("%Y-%m-%d %H:%M").to_string())
    }

    #[test]
    fn next_runs_follow_the_originals_triggers() {
        assert_eq!(next(Horizon::Daily, "02:00", "2026-12-07 01:59").as_deref(), Some("2026-12-07 02:00"));
        assert_eq!(next(Horizon::Daily, "02:00", "2026-12-07 02:00").as_deref(), Some("2026-12-08 02:00"));
        // 2026-12-07 is a Monday.
        assert_eq!(next(Horizon::Weekly, "SUN 03:00", "2026-12-07 12:00").as_deref(), Some("2026-12-13 03:00"));
        assert_eq!(next(Horizon::Monthly, "01 04:00", "2026-12-07 12:00").as_deref(), Some("2027-01-01 04:00"));
        // Day 31 only in months that have one.
        assert_eq!(next(Horizon::Monthly, "31 04:00", "2027-01-31 05:00").as_deref(), Some("2027-03-31 04:00"));
        // Quarterly ignores the month, as the original: months 1, 4, 7, 10.
        assert_eq!(next(Horizon::Quarterly, "02-15 01:00", "2026-12-07 12:00").as_deref(), Some("2027-01-15 01:00"));
        // 02-29 in leap years only.
        assert_eq!(next(Horizon::Yearly, "02-29 00:30", "2026-12-07 12:00").as_deref(), Some("2028-02-29 00:30"));
        assert_eq!(next(Horizon::Yearly, "disabled", "2026-12-07 12:00"), None);
    }
}
