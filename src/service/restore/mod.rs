//! Point-in-time restore: the store brought back to how it was at a point of its log (right after event N,
//! or at a moment) or as a backup holds it, by appending the events that make it so. History is never
//! rewritten: the restore is itself in the log, every memory's history shows it, and restoring to the event
//! just before the restore undoes it.
//!
//! For every memory, the state at the source is the fold of its events up to N (or of the backup's log).
//! [`plan`] compares it with the state now: a memory live then and deleted now is undeleted with its record
//! of then; one live now and not then is deleted; one live in both whose tags, type, metadata or
//! `updated_at` differ is updated back (or, when it was deleted and stored again since, with a new
//! `created_at`, deleted and undeleted with its record of then). Then the relations between memories are
//! made as they were ([`relations`]). Each appended event expects the memory's current version, so a write
//! that lands between the plan and the restore is a conflict (preview again), never overwritten.

use super::insight::last_at_or_before;
use super::point::Point;
use super::{Service, ServiceError};
use crate::embed::MODEL_NAME;
use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, Log, MemoryState, NewEvent, Seq, VectorEntry};
use mms_projections::iso_utc;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

mod relations;

/// What a restore brings the store back to.
#[derive(Clone, Debug)]
pub enum RestoreSource {
    /// A point of this log.
    Point(Point),
    /// As a backup holds it: `log` is a checked, private copy of the backup's log file (it is opened and
    /// may be written to), `name` the backup's name for messages.
    Backup { log: PathBuf, name: String },
}

impl From<Point> for RestoreSource {
    fn from(point: Point) -> RestoreSource {
        RestoreSource::Point(point)
    }
}

/// Told how a long restore goes: a phase ("reading the log", "reading the backup", "appending") and how
/// many of how many events it has done.
pub type Progress = std::sync::Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

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
    /// Relations between memories made again as they were then, and removed (made since).
    pub relations_restored: usize,
    pub relations_removed: usize,
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
            "restore to {target}: {} {verb}, {} {}, {} {}; {} after",
            self.come_back.len(),
            self.disappear.len(),
            if self.dry_run { "would disappear" } else { "disappeared" },
            self.change.len(),
            if self.dry_run { "would change back" } else { "changed back" },
            super::count(self.memories_after as u64, "memory", "memories")
        ) + &match (self.relations_restored, self.relations_removed) {
            (0, 0) => String::new(),
            (made, removed) => format!(
                "; relations: {made} {}, {removed} {}",
                if self.dry_run { "would be made again" } else { "made again" },
                if self.dry_run { "would be removed" } else { "removed" }
            ),
        } + &match self.redacted_skipped.len() {
            0 => String::new(),
            n => format!(" ({n} redacted since, never brought back)"),
        }
    }
}

/// Every memory's state, by hash.
type States = HashMap<ContentHash, MemoryState>;

/// What a restore changes, worked out by [`plan`].
#[derive(Debug, Default, PartialEq)]
struct Changes {
    /// Memories (hashes in hex, in hash order) that come back, disappear or change back.
    come_back: Vec<String>,
    disappear: Vec<String>,
    change: Vec<String>,
    /// Memories the source has but that were redacted since: a restore never brings them back.
    redacted_skipped: Vec<String>,
    /// Live memories after the restore.
    memories_after: usize,
    /// Relations made again as they were, and removed.
    relations_restored: usize,
    relations_removed: usize,
    /// The events to append, in order.
    events: Vec<Step>,
    /// Memories stored anew (only the source has them): their vectors come from the source's cache.
    stored: Vec<ContentHash>,
}

/// One event a restore appends, before it gets an id and an actor.
#[derive(Debug, PartialEq)]
struct Step {
    memory: ContentHash,
    kind: EventKind,
    /// The memory's version when this event is applied: a write in between makes the restore a conflict.
    expect: Expect,
}

/// What a restore changes, given every memory's state at the source (`then`) and `now`, the memories redacted
/// since, and the reason the deletions give. Pure: plain data in, plain data out.
fn plan(then: &States, now: &States, redacted: &HashSet<ContentHash>, reason: &str) -> Changes {
    let mut changes = Changes { memories_after: then.values().filter(|s| s.live).count(), ..Changes::default() };
    let mut hashes: Vec<&ContentHash> = now.keys().chain(then.keys().filter(|h| !now.contains_key(*h))).collect();
    hashes.sort();
    for hash in hashes {
        let (past, current) = (then.get(hash).filter(|s| s.live), now.get(hash));
        let deleted = || EventKind::Deleted { reason: Some(reason.to_string()) };
        let (list, mut kinds) = match (past, current) {
            // Only a backup holds memories this log no longer has: redacted since, or never here.
            (Some(_), None) if redacted.contains(hash) => {
                changes.memories_after -= 1;
                changes.redacted_skipped.push(hash.to_hex());
                continue;
            }
            (Some(past), None) => {
                changes.stored.push(*hash);
                (&mut changes.come_back, vec![EventKind::Stored(past.record.clone())])
            }
            (Some(past), Some(current)) if !current.live => {
                (&mut changes.come_back, vec![EventKind::Undeleted(past.record.clone())])
            }
            (None, Some(current)) if current.live => (&mut changes.disappear, vec![deleted()]),
            // Deleted and stored again since: a new created_at, which only a new record resets.
            (Some(past), Some(current)) if past.record.created_at != current.record.created_at => {
                (&mut changes.change, vec![deleted(), EventKind::Undeleted(past.record.clone())])
            }
            (Some(past), Some(current)) if past.record.meta() != current.record.meta() => {
                let kind = EventKind::Updated { before: current.record.meta(), after: past.record.meta() };
                (&mut changes.change, vec![kind])
            }
            _ => (&mut changes.change, Vec::new()),
        };
        // Archived then and not now, or the other way round: a memory made live again above is not archived.
        if let Some(past) = past {
            let archived_now = match kinds.last() {
                Some(EventKind::Updated { .. }) | None => current.is_some_and(|c| c.live && c.archived),
                _ => false,
            };
            match (past.archived, archived_now) {
                (true, false) => kinds.push(EventKind::Archived { reason: Some(reason.to_string()) }),
                (false, true) => kinds.push(EventKind::Unarchived(past.record.clone())),
                _ => {}
            }
        }
        if kinds.is_empty() {
            continue;
        }
        list.push(hash.to_hex());
        let version = current.map_or(0, |c| c.version);
        let steps = (version..).zip(kinds).map(|(v, kind)| Step { memory: *hash, kind, expect: Expect::Version(v) });
        changes.events.extend(steps);
    }
    changes
}

/// Every memory's state and the relations standing, at one point of a log.
struct Side {
    states: States,
    relations: relations::Relations,
}

/// Both sides of a restore (the source and now), the source's last event and its commit time, and the
/// backup's log when the source is a backup.
struct Sides {
    then: Side,
    now: Side,
    target: Seq,
    target_at: Option<String>,
    backup: Option<Log>,
}

/// Reads both sides of a restore, one pass over each log. Blocking.
fn read_sides(log: &Log, source: &RestoreSource, progress: &Progress) -> Result<Sides, ServiceError> {
    let reading = |done, total| progress("reading the log", done, total);
    match source {
        RestoreSource::Point(point) => {
            let target = seq_of(log, *point)?;
            let (then, now) = fold_log(log, target, &reading)?;
            let target_at = match target.0 {
                0 => None,
                seq => log.get(Seq(seq))?.map(|e| iso_utc(e.at.0)),
            };
            Ok(Sides { then, now, target, target_at, backup: None })
        }
        RestoreSource::Backup { log: path, .. } => {
            let backup = Log::open(path)
                .map_err(|error| ServiceError::Invalid(format!("the backup cannot be opened as a log: {error}")))?;
            let (_, then) =
                fold_log(&backup, Seq(u64::MAX), &|done, total| progress("reading the backup", done, total))?;
            let (_, now) = fold_log(log, Seq(u64::MAX), &reading)?;
            let target_at = (backup.last_seq() > Seq::ZERO).then(|| iso_utc(backup.last_at().0));
            Ok(Sides { then, now, target: backup.last_seq(), target_at, backup: Some(backup) })
        }
    }
}

/// The event a point stands for: a sequence number no later than the log's end, or the last event committed
/// at or before a moment. Blocking.
fn seq_of(log: &Log, point: Point) -> Result<Seq, ServiceError> {
    let last = log.last_seq();
    match point {
        Point::Seq(seq) if seq > last.0 => {
            Err(ServiceError::Invalid(format!("event {seq} does not exist yet: the log ends at {}", last.0)))
        }
        Point::Seq(seq) => Ok(Seq(seq)),
        Point::At(at) => last_at_or_before(log, at),
    }
}

/// Every memory's state and the relations standing right after `target` and now, from one pass over the log.
fn fold_log(log: &Log, target: Seq, progress: &dyn Fn(u64, u64)) -> Result<(Side, Side), ServiceError> {
    let (mut then, mut now) = (States::new(), States::new());
    let (mut relations, mut relations_then) = (relations::Fold::default(), None);
    let mut from = Seq(1);
    let end = log.last_seq().0;
    loop {
        let page = log.read_from(from, 4096)?;
        let Some(last) = page.last() else { break };
        from = last.seq.next();
        progress(last.seq.0, end);
        for event in &page {
            if event.seq > target && relations_then.is_none() {
                relations_then = Some(relations.standing());
            }
            let was_live = now.get(&event.memory).is_some_and(|s| s.live);
            let next = MemoryState::apply(now.remove(&event.memory), event);
            relations.apply(event, was_live && !next.as_ref().is_some_and(|s| s.live), &now);
            if let Some(state) = next {
                if event.seq <= target {
                    then.insert(event.memory, state.clone());
                }
                now.insert(event.memory, state);
            }
        }
    }
    let relations_now = relations.standing();
    let then = Side { states: then, relations: relations_then.unwrap_or_else(|| relations_now.clone()) };
    Ok((then, Side { states: now, relations: relations_now }))
}

/// The vectors a backup cached for the memories a restore stores anew, so nothing is embedded again.
fn backup_vectors(backup: Option<&Log>, stored: &[ContentHash]) -> Result<Vec<VectorEntry>, ServiceError> {
    let Some(backup) = backup else { return Ok(Vec::new()) };
    let cached = backup.cached_vectors(MODEL_NAME, stored)?;
    Ok(cached.into_iter().map(|(memory, vector)| VectorEntry { model: MODEL_NAME.into(), memory, vector }).collect())
}

/// Reads both sides, plans the restore and makes its events: the plan (nothing appended yet), the events to
/// append, and the vectors to cache with them. Blocking.
fn prepare(
    log: &Log,
    source: RestoreSource,
    dry_run: bool,
    actor: &Actor,
    progress: &Progress,
) -> Result<(RestorePlan, Vec<NewEvent>, Vec<VectorEntry>), ServiceError> {
    let from_seq = log.last_seq();
    let sides = read_sides(log, &source, progress)?;
    let redacted: HashSet<ContentHash> = log.redactions()?.into_iter().map(|(hash, _)| hash).collect();
    let (reason, backup) = match source {
        RestoreSource::Point(_) => (format!("restore to event {}", sides.target.0), None),
        RestoreSource::Backup { name, .. } => ("restore from a backup".to_string(), Some(name)),
    };
    let mut changes = plan(&sides.then.states, &sides.now.states, &redacted, &reason);
    let (then, now) = (&sides.then, &sides.now);
    relations::plan((&then.states, &then.relations), (&now.states, &now.relations), &redacted, &mut changes);
    let vectors = backup_vectors(sides.backup.as_ref(), &changes.stored)?;
    let events = changes
        .events
        .into_iter()
        .map(|step| NewEvent {
            event_id: EventId::generate(),
            actor: actor.clone(),
            memory: step.memory,
            kind: step.kind,
            expect: step.expect,
        })
        .collect();
    let plan = RestorePlan {
        target_seq: sides.target.0,
        target_at: sides.target_at,
        from_seq: from_seq.0,
        come_back: changes.come_back,
        disappear: changes.disappear,
        change: changes.change,
        memories_after: changes.memories_after,
        relations_restored: changes.relations_restored,
        relations_removed: changes.relations_removed,
        backup,
        redacted_skipped: changes.redacted_skipped,
        dry_run,
        appended_seqs: Vec::new(),
    };
    Ok((plan, events, vectors))
}

impl Service {
    /// Plans a restore and, unless `dry_run`, applies it in one append.
    pub async fn restore(
        &self,
        source: impl Into<RestoreSource>,
        dry_run: bool,
        actor: Actor,
    ) -> Result<RestorePlan, ServiceError> {
        self.restore_reporting(source, dry_run, actor, std::sync::Arc::new(|_: &str, _, _| {})).await
    }

    /// [`Service::restore`], telling `progress` how it goes.
    pub async fn restore_reporting(
        &self,
        source: impl Into<RestoreSource>,
        dry_run: bool,
        actor: Actor,
        progress: Progress,
    ) -> Result<RestorePlan, ServiceError> {
        let (source, report) = (source.into(), progress.clone());
        let (mut plan, events, vectors) =
            self.blocking(move |inner| prepare(&inner.log, source, dry_run, &actor, &progress)).await?;
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
    use mms_log::{MemoryRecord, Timestamp};

    const REASON: &str = "restore to event 7";

    fn record(content: &str, tags: &[&str], created_at: i64) -> MemoryRecord {
        MemoryRecord {
            content: content.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            memory_type: None,
            metadata: "{}".into(),
            created_at: Timestamp(created_at),
            updated_at: Timestamp(created_at),
        }
    }

    fn hash(record: &MemoryRecord) -> ContentHash {
        ContentHash::of_content(&record.content)
    }

    /// Memories' states: each record, whether it is live, and its version.
    fn states(memories: &[(&MemoryRecord, bool, u32)]) -> States {
        memories
            .iter()
            .map(|(record, live, version)| {
                let state = MemoryState {
                    record: (*record).clone(),
                    live: *live,
                    archived: false,
                    version: *version,
                    last_seq: Seq(u64::from(*version)),
                    last_at: Timestamp(0),
                };
                (hash(record), state)
            })
            .collect()
    }

    fn step(record: &MemoryRecord, kind: EventKind, version: u32) -> Step {
        Step { memory: hash(record), kind, expect: Expect::Version(version) }
    }

    fn deleted() -> EventKind {
        EventKind::Deleted { reason: Some(REASON.into()) }
    }

    #[test]
    fn a_memory_deleted_since_comes_back() {
        // Given: live at the target, deleted since (version 2).
        let memory = record("the meeting moved to Tuesday", &["work"], 10);
        let (then, now) = (states(&[(&memory, true, 1)]), states(&[(&memory, false, 2)]));
        // When
        let changes = plan(&then, &now, &HashSet::new(), REASON);
        // Then: undeleted with its record of then.
        assert_eq!(changes.come_back, [hash(&memory).to_hex()]);
        assert_eq!(changes.events, [step(&memory, EventKind::Undeleted(memory.clone()), 2)]);
        assert_eq!(changes.memories_after, 1);
        assert!(changes.disappear.is_empty() && changes.change.is_empty() && changes.stored.is_empty());
    }

    #[test]
    fn a_memory_stored_since_disappears() {
        // Given: absent at the target, stored since.
        let memory = record("a new idea", &[], 20);
        let (then, now) = (States::new(), states(&[(&memory, true, 1)]));
        // When
        let changes = plan(&then, &now, &HashSet::new(), REASON);
        // Then: deleted, giving the restore as the reason.
        assert_eq!(changes.disappear, [hash(&memory).to_hex()]);
        assert_eq!(changes.events, [step(&memory, deleted(), 1)]);
        assert_eq!(changes.memories_after, 0);
    }

    #[test]
    fn tags_changed_since_change_back() {
        // Given: tagged `a` at the target, retagged `b` since.
        let past = record("tagged", &["a"], 30);
        let mut current = past.clone();
        current.tags = vec!["b".into()];
        current.updated_at = Timestamp(40);
        let (then, now) = (states(&[(&past, true, 1)]), states(&[(&current, true, 2)]));
        // When
        let changes = plan(&then, &now, &HashSet::new(), REASON);
        // Then: one update from the current meta back to the past one.
        assert_eq!(changes.change, [hash(&past).to_hex()]);
        let update = EventKind::Updated { before: current.meta(), after: past.meta() };
        assert_eq!(changes.events, [step(&past, update, 2)]);
    }

    #[test]
    fn a_memory_deleted_and_stored_again_since_is_deleted_and_undeleted() {
        // Given: the same content stored again since, with a new created_at (version 3: stored, deleted,
        // stored).
        let past = record("twice", &["a"], 50);
        let current = record("twice", &["a"], 60);
        let (then, now) = (states(&[(&past, true, 1)]), states(&[(&current, true, 3)]));
        // When
        let changes = plan(&then, &now, &HashSet::new(), REASON);
        // Then: only a new record resets created_at: deleted, then undeleted with the record of then.
        assert_eq!(changes.change, [hash(&past).to_hex()]);
        assert_eq!(changes.events, [step(&past, deleted(), 3), step(&past, EventKind::Undeleted(past.clone()), 4)]);
    }

    #[test]
    fn a_memory_redacted_since_is_skipped() {
        // Given: the source (a backup) holds a memory this log has redacted since.
        let memory = record("a secret", &[], 70);
        let (then, now) = (states(&[(&memory, true, 1)]), States::new());
        let redacted = HashSet::from([hash(&memory)]);
        // When
        let changes = plan(&then, &now, &redacted, REASON);
        // Then: never brought back, and not counted after the restore.
        assert_eq!(changes.redacted_skipped, [hash(&memory).to_hex()]);
        assert!(changes.events.is_empty() && changes.come_back.is_empty() && changes.stored.is_empty());
        assert_eq!(changes.memories_after, 0);
    }

    #[test]
    fn a_memory_only_the_source_has_is_stored() {
        // Given: the source (a backup) holds a memory this log never had.
        let memory = record("from the backup", &[], 80);
        let (then, now) = (states(&[(&memory, true, 4)]), States::new());
        // When
        let changes = plan(&then, &now, &HashSet::new(), REASON);
        // Then: stored with its record, expecting no version; its vector comes from the source.
        assert_eq!(changes.come_back, [hash(&memory).to_hex()]);
        assert_eq!(changes.stored, [hash(&memory)]);
        assert_eq!(changes.events, [step(&memory, EventKind::Stored(memory.clone()), 0)]);
    }

    fn archived(mut states: States) -> States {
        states.values_mut().for_each(|s| s.archived = true);
        states
    }

    #[test]
    fn a_memory_archived_since_is_unarchived_and_one_unarchived_since_archived_again() {
        // Given: live and not archived at the target, archived since; and the other way round.
        let memory = record("an old note", &["a"], 100);
        let (plain, stowed) = (states(&[(&memory, true, 1)]), archived(states(&[(&memory, true, 2)])));
        // When / Then: unarchived with its record of then, expecting the version now.
        let changes = plan(&plain, &stowed, &HashSet::new(), REASON);
        assert_eq!(changes.change, [hash(&memory).to_hex()]);
        assert_eq!(changes.events, [step(&memory, EventKind::Unarchived(memory.clone()), 2)]);
        let changes = plan(&stowed, &plain, &HashSet::new(), REASON);
        assert_eq!(changes.change, [hash(&memory).to_hex()]);
        assert_eq!(changes.events, [step(&memory, EventKind::Archived { reason: Some(REASON.into()) }, 1)]);
        assert_eq!(plan(&stowed, &stowed, &HashSet::new(), REASON).events, []);
    }

    #[test]
    fn a_memory_archived_then_and_deleted_since_comes_back_archived() {
        // Given: archived at the target, deleted since; and archived, then deleted and retagged... now live.
        let memory = record("archived then", &[], 110);
        let (then, now) = (archived(states(&[(&memory, true, 2)])), states(&[(&memory, false, 3)]));
        // When
        let changes = plan(&then, &now, &HashSet::new(), REASON);
        // Then: undeleted, then archived again, each expecting the version before it.
        assert_eq!(changes.come_back, [hash(&memory).to_hex()]);
        let archive = EventKind::Archived { reason: Some(REASON.into()) };
        assert_eq!(changes.events, [step(&memory, EventKind::Undeleted(memory.clone()), 3), step(&memory, archive, 4)]);
        // A memory archived now and retagged since the target, which it was not archived at: updated back
        // (it stays archived), then unarchived.
        let mut current = memory.clone();
        current.tags = vec!["b".into()];
        let (then, now) = (states(&[(&memory, true, 1)]), archived(states(&[(&current, true, 3)])));
        let update = EventKind::Updated { before: current.meta(), after: memory.meta() };
        let events = plan(&then, &now, &HashSet::new(), REASON).events;
        assert_eq!(events, [step(&memory, update, 3), step(&memory, EventKind::Unarchived(memory.clone()), 4)]);
    }

    #[test]
    fn nothing_differs_no_events() {
        // Given: the same memories in the same states (one live, one deleted) at the target and now.
        let (live, gone) = (record("kept", &["a"], 90), record("gone", &[], 91));
        let both = states(&[(&live, true, 2), (&gone, false, 2)]);
        // When
        let changes = plan(&both, &both, &HashSet::new(), REASON);
        // Then: nothing to do.
        assert_eq!(changes, Changes { memories_after: 1, ..Changes::default() });
    }
}
