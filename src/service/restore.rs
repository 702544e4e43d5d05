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
#[derive(Clone, Copy, Debug)]
pub enum RestoreTarget {
    /// Right after this event (0: before the first, an empty store).
    Seq(u64),
    /// As the store was at this instant: after the last event committed at or before it.
    At(DateTime<Utc>),
}

impl RestoreTarget {
    /// A target from a sequence number or a moment, exactly one of them. A moment is an RFC 3339 time,
    /// `YYYY-MM-DD HH:MM[:SS]` or a date (UTC), or a time phrase, whose end is taken ("yesterday": as the
    /// store was at the end of yesterday).
    pub fn parse(seq: Option<u64>, time: Option<&str>) -> Result<RestoreTarget, ServiceError> {
        let time = time.map(str::trim).filter(|t| !t.is_empty());
        match (seq, time) {
            (Some(seq), None) => Ok(RestoreTarget::Seq(seq)),
            (None, Some(text)) => {
                if let Ok(at) = DateTime::parse_from_rfc3339(text) {
                    return Ok(RestoreTarget::At(at.with_timezone(&Utc)));
                }
                for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
                    if let Ok(at) = chrono::NaiveDateTime::parse_from_str(text, format) {
                        return Ok(RestoreTarget::At(at.and_utc()));
                    }
                }
                let range = super::time_expr::parse(text, Utc::now())?;
                Ok(RestoreTarget::At(range.end - chrono::Duration::microseconds(1)))
            }
            _ => Err(ServiceError::Invalid(
                "give where to restore to: either a sequence number (to_seq) or a moment (to_time), not both".into(),
            )),
        }
    }
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
    pub dry_run: bool,
    /// The events appended (empty on a dry run or when nothing differs).
    pub appended_seqs: Vec<u64>,
}

impl RestorePlan {
    pub fn summary(&self) -> String {
        let verb = if self.dry_run { "would come back" } else { "came back" };
        format!(
            "restore to event {}: {} {verb}, {} {}, {} {}; {} memories after",
            self.target_seq,
            self.come_back.len(),
            self.disappear.len(),
            if self.dry_run { "would disappear" } else { "disappeared" },
            self.change.len(),
            if self.dry_run { "would change back" } else { "changed back" },
            self.memories_after
        )
    }
}

/// Every memory's state, by hash.
type States = HashMap<ContentHash, MemoryState>;

/// Every memory's state right after `target` and now, from one pass over the log.
fn fold_log(log: &mms_log::Log, target: Seq) -> Result<(States, States), ServiceError> {
    let (mut then, mut now) = (States::new(), States::new());
    let mut from = Seq(1);
    loop {
        let page = log.read_from(from, 4096)?;
        let Some(last) = page.last() else { break };
        from = last.seq.next();
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
        }
    }

    /// Plans a restore and, unless `dry_run`, applies it in one append.
    pub async fn restore(
        &self,
        target: RestoreTarget,
        dry_run: bool,
        actor: Actor,
    ) -> Result<RestorePlan, ServiceError> {
        let target = self.target_seq(target).await?;
        let (plan, events) = self
            .blocking(move |inner| {
                let from_seq = inner.log.last_seq();
                let (then, now) = fold_log(&inner.log, target)?;
                let target_at = match target.0 {
                    0 => None,
                    seq => inner.log.get(Seq(seq))?.map(|e| iso_utc(e.at.0)),
                };
                let mut plan = RestorePlan {
                    target_seq: target.0,
                    target_at,
                    from_seq: from_seq.0,
                    come_back: Vec::new(),
                    disappear: Vec::new(),
                    change: Vec::new(),
                    memories_after: then.values().filter(|s| s.live).count(),
                    dry_run,
                    appended_seqs: Vec::new(),
                };
                let mut events = Vec::new();
                let mut hashes: Vec<&ContentHash> = now.keys().collect();
                hashes.sort();
                for hash in hashes {
                    let current = &now[hash];
                    let past = then.get(hash).filter(|s| s.live);
                    let reason = || EventKind::Deleted { reason: Some(format!("restore to event {}", target.0)) };
                    let kinds = match (past, current.live) {
                        (Some(past), false) => {
                            plan.come_back.push(hash.to_hex());
                            vec![EventKind::Undeleted(past.record.clone())]
                        }
                        (None, true) => {
                            plan.disappear.push(hash.to_hex());
                            vec![reason()]
                        }
                        // Deleted and stored again since: a new created_at, which only a new record resets.
                        (Some(past), true) if past.record.created_at != current.record.created_at => {
                            plan.change.push(hash.to_hex());
                            vec![reason(), EventKind::Undeleted(past.record.clone())]
                        }
                        (Some(past), true) if past.record.meta() != current.record.meta() => {
                            plan.change.push(hash.to_hex());
                            vec![EventKind::Updated { before: current.record.meta(), after: past.record.meta() }]
                        }
                        _ => continue,
                    };
                    for (offset, kind) in (0u32..).zip(kinds) {
                        events.push(NewEvent {
                            event_id: EventId::generate(),
                            actor: actor.clone(),
                            memory: *hash,
                            kind,
                            expect: Expect::Version(current.version + offset),
                        });
                    }
                }
                Ok((plan, events))
            })
            .await?;
        let mut plan = plan;
        if dry_run || events.is_empty() {
            return Ok(plan);
        }
        let appended = self.append(events, Vec::new()).await.map_err(|error| match error {
            ServiceError::Conflict(_) => ServiceError::Conflict(
                "the store changed while the restore was planned; preview it again and retry".into(),
            ),
            other => other,
        })?;
        plan.appended_seqs = appended.iter().map(|a| a.seq.0).collect();
        self.settle(&appended).await;
        Ok(plan)
    }
}
