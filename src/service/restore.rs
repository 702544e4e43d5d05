//! Point-in-time restore: the store brought back to how it was right after event N (or at a moment), by
//! appending the events that make it so. History is never rewritten: the restore is itself in the log,
//! every memory's history shows it, and restoring to the event just before the restore undoes it.
//!
//! For every memory, the state after event N is the fold of its events up to N. A memory live then and
//! deleted now is undeleted with its record of then; one live now and not then is deleted; one live in
//! both whose tags, type, metadata or `updated_at` differ is updated back (or, when it was deleted and
//! stored again since, with a new `created_at`, deleted and undeleted with its record of then). Each appended event expects the
//! memory's current version, so a write that lands between the plan and the restore is a conflict (preview
//! again), never overwritten.

use super::insight::last_at_or_before;
use super::{Service, ServiceError};
use chrono::{DateTime, Utc};
use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, MemoryState, NewEvent, Seq};
use mms_projections::iso_utc;
use serde::Serialize;
use std::collections::HashMap;

/// Where to restore to.
#[derive(Clone, Debug)]
pub enum RestoreTarget {
    /// Right after this event (0: before the first, an empty store).
    Seq(u64),
    /// As the store was at this instant: after the last event committed at or before it.
    At(DateTime<Utc>),
    /// As a backup holds it: `log` is a checked, private copy of the backup's log file (it is opened and
    /// may be written to), `name` the backup's name for messages.
    Backup { log: std::path::PathBuf, name: String },
}

/// Told how a long restore goes: a phase ("reading the log", "reading the backup", "appending") and how
/// many of how many events it has done.
pub type Progress = std::sync::Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

impl RestoreTarget {
    /// A target from a sequence number or a moment, exactly one of them. A moment is an RFC 3339 time,
    /// `YYYY-MM-DD HH:MM[:SS]` or a date (UTC), or a time phrase, whose end is taken ("yesterday": as the
    /// store was at the end of yesterday).
    pub fn parse(seq: Option<u64>, time: Option<&str>) -> Result<RestoreTarget, ServiceError> {
        let time = time.map(str::trim).filter(|t| !t.is_empty());
        match (seq, time) {
            (Some(seq), None) => Ok(RestoreTarget::Seq(seq)),
            (None, Some(text)) => Ok(RestoreTarget::At(parse_moment(text, Utc::now())?)),
            _ => Err(ServiceError::Invalid(
                "give where to restore to: either a sequence number (to_seq) or a moment (to_time), not both".into(),
            )),
        }
    }
}

/// A moment: an RFC 3339 time, `YYYY-MM-DD HH:MM[:SS]` (a `T` and a trailing `Z` allowed; UTC), a time phrase
/// followed by a time of day (`yesterday 18:00`: that time on the phrase's first day), or a time phrase
/// alone, whose end is taken (`yesterday`: the end of yesterday).
pub fn parse_moment(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ServiceError> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let bare = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(bare, format) {
            return Ok(at.and_utc());
        }
    }
    if let Some((phrase, clock)) = text.rsplit_once(' ') {
        let time = chrono::NaiveTime::parse_from_str(clock, "%H:%M")
            .or_else(|_| chrono::NaiveTime::parse_from_str(clock, "%H:%M:%S"));
        if let Ok(time) = time {
            let range = super::time_expr::parse(phrase, now)?;
            return Ok(range.start.date_naive().and_time(time).and_utc());
        }
    }
    let range = super::time_expr::parse(text, now)?;
    Ok(range.end - chrono::Duration::microseconds(1))
}

/// What a restore does (or, on a dry run, would do).
#[derive(Clone, Debug, Serialize)]
pub struct RestorePlan {
    /// The event the store is restored to, and its commit time.
    pub target_seq: u64,
    pub target_at: Option<String>,
    /// The log's last event when the plan was made.
    pub from_seq: u64,
    /// Memories that come back (deleted since), disappear (stored or restored since) or change back.
    pub come_back: Vec<String>,
    pub disappear: Vec<String>,
    pub change: Vec<String>,
    /// Live memories after the restore.
    pub memories_after: usize,
    /// The backup restored, when the target is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Memories the target has but that were redacted since: a restore never brings them back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redacted_skipped: Vec<String>,
    pub dry_run: bool,
    /// The events appended (empty on a dry run or when nothing differs).
    pub appended_seqs: Vec<u64>,
}

impl RestorePlan {
    pub fn summary(&self) -> String {
        let verb = if self.dry_run { "would come back" } else { "came back" };
        let target = match &self.backup {
            Some(name) => format!("backup {name} (event {})", self.target_seq),
            None => format!("event {}", self.target_seq),
        };
        format!(
            "restore to {target}: {} {verb}, {} {}, {} {}; {} memories after",
            self.come_back.len(),
            self.disappear.len(),
            if self.dry_run { "would disappear" } else { "disappeared" },
            self.change.len(),
            if self.dry_run { "would change back" } else { "changed back" },
            self.memories_after
        ) + &match self.redacted_skipped.len() {
            0 => String::new(),
            n => format!(" ({n} redacted since, never brought back)"),
        }
    }
}

/// Every memory's state, by hash.
type States = HashMap<ContentHash, MemoryState>;

/// Every memory's state right after `target` and now, from one pass over the log.
fn fold_log(log: &mms_log::Log, target: Seq, progress: &dyn Fn(u64, u64)) -> Result<(States, States), ServiceError> {
    let (mut then, mut now) = (States::new(), States::new());
    let mut from = Seq(1);
    let end = log.last_seq().0;
    loop {
        let page = log.read_from(from, 4096)?;
        let Some(last) = page.last() else { break };
        from = last.seq.next();
        progress(last.seq.0, end);
        for event in &page {
            let next = MemoryState::apply(now.remove(&event.memory), event);
            if let Some(state) = next {
                if event.seq <= target {
                    then.insert(event.memory, state.clone());
                }
                now.insert(event.memory, state);
            }
        }
    }
    Ok((then, now))
}

impl Service {
    /// The event a target stands for: a sequence number no later than the log's end, or the last event
    /// committed at or before a moment.
    async fn target_seq(&self, target: RestoreTarget) -> Result<Seq, ServiceError> {
        let last = self.log().last_seq();
        match target {
            RestoreTarget::Seq(seq) if seq > last.0 => {
                Err(ServiceError::Invalid(format!("event {seq} does not exist yet: the log ends at {}", last.0)))
            }
            RestoreTarget::Seq(seq) => Ok(Seq(seq)),
            RestoreTarget::At(at) => self.blocking(move |inner| last_at_or_before(&inner.log, at)).await,
            RestoreTarget::Backup { .. } => unreachable!("a backup is not a point of this log"),
        }
    }

    /// Plans a restore and, unless `dry_run`, applies it in one append.
    pub async fn restore(
        &self,
        target: RestoreTarget,
        dry_run: bool,
        actor: Actor,
    ) -> Result<RestorePlan, ServiceError> {
        self.restore_reporting(target, dry_run, actor, std::sync::Arc::new(|_: &str, _, _| {})).await
    }

    /// [`Service::restore`], telling `progress` how it goes.
    pub async fn restore_reporting(
        &self,
        target: RestoreTarget,
        dry_run: bool,
        actor: Actor,
        progress: Progress,
    ) -> Result<RestorePlan, ServiceError> {
        let backup = match &target {
            RestoreTarget::Backup { log, name } => Some((log.clone(), name.clone())),
            _ => None,
        };
        let backup_name = backup.as_ref().map(|(_, name)| name.clone());
        let report = progress.clone();
        let target = match backup {
            Some(_) => None,
            None => Some(self.target_seq(target).await?),
        };
        let (plan, events, vectors) = self
            .blocking(move |inner| {
                let from_seq = inner.log.last_seq();
                let reading = |done, total| progress("reading the log", done, total);
                let redacted: std::collections::HashSet<ContentHash> =
                    inner.log.redactions()?.into_iter().map(|(hash, _)| hash).collect();
                let (then, now, target_seq, target_at, cached) = match (target, backup) {
                    (Some(target), _) => {
                        let (then, now) = fold_log(&inner.log, target, &reading)?;
                        let target_at = match target.0 {
                            0 => None,
                            seq => inner.log.get(Seq(seq))?.map(|e| iso_utc(e.at.0)),
                        };
                        (then, now, target, target_at, None)
                    }
                    (None, Some((path, _))) => {
                        let source = mms_log::Log::open(&path).map_err(|error| {
                            ServiceError::Invalid(format!("the backup cannot be opened as a log: {error}"))
                        })?;
                        let (_, then) = fold_log(&source, Seq(u64::MAX), &|done, total| {
                            progress("reading the backup", done, total)
                        })?;
                        let (_, now) = fold_log(&inner.log, Seq(u64::MAX), &reading)?;
                        let target_at = (source.last_seq() > Seq::ZERO).then(|| iso_utc(source.last_at().0));
                        (then, now, source.last_seq(), target_at, Some(source))
                    }
                    (None, None) => unreachable!("a target is a point of the log or a backup"),
                };
                let mut plan = RestorePlan {
                    target_seq: target_seq.0,
                    target_at,
                    from_seq: from_seq.0,
                    come_back: Vec::new(),
                    disappear: Vec::new(),
                    change: Vec::new(),
                    memories_after: then.values().filter(|s| s.live).count(),
                    backup: None,
                    redacted_skipped: Vec::new(),
                    dry_run,
                    appended_seqs: Vec::new(),
                };
                let label = match &cached {
                    Some(_) => "restore from a backup".to_string(),
                    None => format!("restore to event {}", target_seq.0),
                };
                let mut events = Vec::new();
                let mut hashes: Vec<&ContentHash> =
                    now.keys().chain(then.keys().filter(|h| !now.contains_key(*h))).collect();
                hashes.sort();
                let mut new_records = Vec::new();
                for hash in hashes {
                    let current = now.get(hash);
                    let past = then.get(hash).filter(|s| s.live);
                    let reason = || EventKind::Deleted { reason: Some(label.clone()) };
                    let kinds = match (past, current) {
                        // Only a backup holds memories this log no longer has: redacted since, or never here.
                        (Some(_), None) if redacted.contains(hash) => {
                            plan.redacted_skipped.push(hash.to_hex());
                            plan.memories_after -= 1;
                            continue;
                        }
                        (Some(past), None) => {
                            plan.come_back.push(hash.to_hex());
                            new_records.push(*hash);
                            vec![EventKind::Stored(past.record.clone())]
                        }
                        (None, None) => continue,
                        (Some(past), Some(current)) if !current.live => {
                            plan.come_back.push(hash.to_hex());
                            vec![EventKind::Undeleted(past.record.clone())]
                        }
                        (None, Some(current)) if current.live => {
                            plan.disappear.push(hash.to_hex());
                            vec![reason()]
                        }
                        // Deleted and stored again since: a new created_at, which only a new record resets.
                        (Some(past), Some(current)) if past.record.created_at != current.record.created_at => {
                            plan.change.push(hash.to_hex());
                            vec![reason(), EventKind::Undeleted(past.record.clone())]
                        }
                        (Some(past), Some(current)) if past.record.meta() != current.record.meta() => {
                            plan.change.push(hash.to_hex());
                            vec![EventKind::Updated { before: current.record.meta(), after: past.record.meta() }]
                        }
                        _ => continue,
                    };
                    let version = current.map_or(0, |c| c.version);
                    for (offset, kind) in (0u32..).zip(kinds) {
                        events.push(NewEvent {
                            event_id: EventId::generate(),
                            actor: actor.clone(),
                            memory: *hash,
                            kind,
                            expect: Expect::Version(version + offset),
                        });
                    }
                }
                // Memories only the backup has keep the vectors it cached, so nothing is embedded again.
                let mut vectors = Vec::new();
                if let Some(source) = cached {
                    for (memory, vector) in source.cached_vectors(crate::embed::MODEL_NAME, &new_records)? {
                        vectors.push(mms_log::VectorEntry { model: crate::embed::MODEL_NAME.into(), memory, vector });
                    }
                }
                Ok((plan, events, vectors))
            })
            .await?;
        let mut plan = plan;
        plan.backup = backup_name;
        if dry_run || events.is_empty() {
            return Ok(plan);
        }
        // One append: a crash leaves the store as it was or fully restored, never in between.
        report("appending", 0, events.len() as u64);
        let appended = self.append(events, vectors).await.map_err(|error| match error {
            ServiceError::Conflict(_) => ServiceError::Conflict(
                "the store changed while the restore was planned; preview it again and retry".into(),
            ),
            other => other,
        })?;
        plan.appended_seqs = appended.iter().map(|a| a.seq.0).collect();
        self.settle(&appended).await?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_in_every_form() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:30:00Z").expect("now").with_timezone(&Utc);
        let at = |text: &str| parse_moment(text, now).expect(text).to_rfc3339();
        assert_eq!(at("2026-11-20T14:00:00+01:00"), "2026-11-20T13:00:00+00:00");
        assert_eq!(at("2026-11-20T14:00Z"), "2026-11-20T14:00:00+00:00");
        assert_eq!(at("2026-11-20 14:00"), "2026-11-20T14:00:00+00:00");
        assert_eq!(at("yesterday 18:00"), "2026-11-24T18:00:00+00:00");
        assert_eq!(at("2026-11-20 14:00:30"), "2026-11-20T14:00:30+00:00");
        assert_eq!(at("yesterday"), "2026-11-24T23:59:59.999999+00:00");
        assert!(parse_moment("next blursday", now).is_err());
        assert!(parse_moment("yesterday 25:00", now).is_err());
    }
}
