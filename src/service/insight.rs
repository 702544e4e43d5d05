//! Reading the log and the read model for people: the event log page by page, growth and activity per
//! day, memory types, and read-model maintenance.

use super::memory::{EventHeader, Memory, RelationChange, reason_of, relation_of};
use super::{Service, ServiceError};
use mms_log::{Event, EventKind, MemoryMeta, Seq, Timestamp};
use mms_projections::{TypeCount, iso_utc};
use serde::Serialize;

/// The most events one page of the log returns.
pub const MAX_LOG_PAGE: usize = 1000;

/// One event of the log as clients see it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    #[serde(flatten)]
    pub event: EventHeader,
    pub content_hash: String,
    /// The memory as stored or restored by this event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// An update's tags, type and metadata before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<MetaView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<MetaView>,
    /// A deletion's reason, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The edge a `related` event made or an `unrelated` event removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<RelationChange>,
}

/// The changeable part of a memory.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MetaView {
    pub tags: Vec<String>,
    pub memory_type: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub updated_at: f64,
    pub updated_at_iso: String,
}

impl From<&MemoryMeta> for MetaView {
    fn from(meta: &MemoryMeta) -> MetaView {
        MetaView {
            tags: meta.tags.clone(),
            memory_type: meta.memory_type.clone(),
            metadata: serde_json::from_str(&meta.metadata).unwrap_or_else(|_| serde_json::json!({})),
            updated_at: meta.updated_at.as_secs_f64(),
            updated_at_iso: iso_utc(meta.updated_at.0),
        }
    }
}

impl From<&Event> for LogEntry {
    fn from(event: &Event) -> LogEntry {
        let hash = event.memory.to_hex();
        let (mut memory, mut before, mut after) = (None, None, None);
        match &event.kind {
            EventKind::Stored(record) | EventKind::Undeleted(record) | EventKind::Unarchived(record) => {
                memory = Some(Memory::from_record(&hash, record));
            }
            EventKind::Updated { before: b, after: a } => {
                before = Some(b.into());
                after = Some(a.into());
            }
            EventKind::Deleted { .. }
            | EventKind::Redacted { .. }
            | EventKind::Erased { .. }
            | EventKind::DocumentIngested(_)
            | EventKind::DocumentRemoved { .. }
            | EventKind::Related(_)
            | EventKind::Unrelated { .. }
            | EventKind::Archived { .. } => {}
        }
        let relation = relation_of(event);
        LogEntry { event: event.into(), content_hash: hash, memory, before, after, reason: reason_of(event), relation }
    }
}

/// Memories created on one day, and in total up to its end.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GrowthPoint {
    pub date: String,
    pub count: u64,
    pub cumulative: u64,
}

/// What happened to memories on one day, from the log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActivityDay {
    pub date: String,
    pub stored: u64,
    pub updated: u64,
    pub deleted: u64,
    pub restored: u64,
}

/// The UTC days from `days - 1` days ago to today, as `YYYY-MM-DD`, oldest first.
/// The first event committed at or after `at` (one past the last event when none is). Commit times never
/// go backwards, so it is found by bisection.
pub(super) fn first_at_or_after(log: &mms_log::Log, at: Timestamp) -> Result<Seq, ServiceError> {
    let (mut low, mut high) = (1, log.last_seq().0 + 1);
    while low < high {
        let mid = low + (high - low) / 2;
        match log.get(Seq(mid))? {
            Some(event) if event.at < at => low = mid + 1,
            _ => high = mid,
        }
    }
    Ok(Seq(low))
}

/// The last event committed at or before `at` (0 when none was: the store before its first event).
pub(super) fn last_at_or_before(log: &mms_log::Log, at: chrono::DateTime<chrono::Utc>) -> Result<Seq, ServiceError> {
    let after = Timestamp(at.timestamp_micros().saturating_add(1));
    Ok(Seq(first_at_or_after(log, after)?.0.saturating_sub(1)))
}

fn last_days(days: u32) -> (chrono::DateTime<chrono::Utc>, Vec<String>) {
    let today = chrono::Utc::now().date_naive();
    let first = today - chrono::Days::new(u64::from(days.max(1) - 1));
    let start = first.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    let dates = first.iter_days().take(days.max(1) as usize).map(|d| d.format("%Y-%m-%d").to_string()).collect();
    (start, dates)
}

impl Service {
    /// Up to `limit` events after `since`, oldest first, and the log's last sequence number.
    pub async fn log_page(&self, since: u64, limit: usize) -> Result<(Vec<LogEntry>, u64), ServiceError> {
        let limit = limit.clamp(1, MAX_LOG_PAGE);
        self.blocking(move |inner| {
            let last = inner.log.last_seq().0;
            let events = inner.log.read_from(Seq(since.saturating_add(1)), limit)?;
            Ok((events.iter().map(LogEntry::from).collect(), last))
        })
        .await
    }

    /// Memories created per day over the last `days` days (every day present, zero included), with the
    /// running total of live memories created up to each day's end.
    pub async fn growth(&self, days: u32) -> Result<Vec<GrowthPoint>, ServiceError> {
        let (start, dates) = last_days(days);
        let since = start.timestamp() as f64;
        let (counts, mut cumulative) = self.blocking(move |inner| Ok(inner.reader.created_per_day(since)?)).await?;
        Ok(dates
            .into_iter()
            .map(|date| {
                let count = counts.iter().find(|c| c.date == date).map_or(0, |c| c.count);
                cumulative += count;
                GrowthPoint { date, count, cumulative }
            })
            .collect())
    }

    /// Every memory type with its count, most used first.
    pub async fn types(&self) -> Result<Vec<TypeCount>, ServiceError> {
        self.blocking(|inner| Ok(inner.reader.types()?)).await
    }

    /// Stores, updates, deletions and restores per day over the last `days` days, read from the log.
    pub async fn activity(&self, days: u32) -> Result<Vec<ActivityDay>, ServiceError> {
        let (start, dates) = last_days(days);
        let start = Timestamp(start.timestamp_micros());
        let mut out: Vec<ActivityDay> =
            dates.into_iter().map(|date| ActivityDay { date, ..Default::default() }).collect();
        let events = self
            .blocking(move |inner| {
                let mut events = Vec::new();
                let mut from = first_at_or_after(&inner.log, start)?;
                loop {
                    let page = inner.log.read_from(from, 4096)?;
                    let Some(last) = page.last() else { break };
                    from = last.seq.next();
                    events.extend(page.into_iter().map(|e| (iso_utc(e.at.0)[..10].to_string(), e.kind.name())));
                }
                Ok(events)
            })
            .await?;
        for (date, kind) in events {
            if let Some(day) = out.iter_mut().find(|d| d.date == date) {
                match kind {
                    "stored" => day.stored += 1,
                    "updated" => day.updated += 1,
                    "deleted" => day.deleted += 1,
                    _ => day.restored += 1,
                }
            }
        }
        Ok(out)
    }

    /// Refreshes the read model's query statistics and merges its full-text index.
    pub async fn optimize(&self) -> Result<(), ServiceError> {
        self.blocking(|inner| Ok(inner.reader.optimize()?)).await
    }
}
