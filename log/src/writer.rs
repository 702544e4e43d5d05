//! The single writer thread: validates appends against memory heads and commits them in groups.
//!
//! Requests queue on a channel. The thread takes every request waiting (up to a bound), checks each one
//! against the heads as left by the requests before it in the same group, writes the accepted ones in one
//! redb write transaction and commits once, so N concurrent writers cost one fsync rather than N. A request
//! is all-or-nothing: one failed check rejects all of its events and none of them is written.
//!
//! A failed commit is fatal to the writer: redb's state after an I/O error during commit is not something
//! to retry in place, so every later append fails until the log is reopened.

use crate::error::AppendError;
use crate::event::{Actor, Event, EventKind, decode, encode};
use crate::ids::{ContentHash, EventId, Seq, Timestamp};
use crate::tables::{
    CHECKPOINT_EVENTS, EVENT_IDS, HEADS, Head, LOG, META, REDACTIONS, SCRUB_PENDING, Unindexed, VECTORS, chain_from,
    drop_vectors, erased, head_after, vector_to_bytes,
};
use redb::{Database, ReadableTable};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, RwLock};

/// How many requests one group commit takes at most.
const MAX_GROUP: usize = 4096;

/// The storage error that failed a commit, kept whole for every append it fails.
type Failure = Arc<dyn std::error::Error + Send + Sync>;

fn failure(error: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Arc::new(error)
}

/// The index rows of the events after the index tables' last checkpoint, shared with readers, who look
/// here before the tables. The writer holds its lock across a commit and changes it right after, and
/// readers begin their read transaction while they hold it: whichever they see, the tables they read are at
/// least as recent, and a commit their transaction sees is here too.
pub(crate) type Recent = Arc<RwLock<Unindexed>>;

/// Reads the recent index rows even when a panicking thread poisoned the lock (the rows stay whole: they
/// are only changed by whole inserts and a reset).
pub(crate) fn read_recent(recent: &Recent) -> std::sync::RwLockReadGuard<'_, Unindexed> {
    recent.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A precondition on the memory's version, for optimistic concurrency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No version check beyond what the event kind needs.
    Any,
    /// The memory's current version must be exactly this.
    Version(u32),
}

/// An event as submitted: the writer assigns its sequence number, time and version.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_id: EventId,
    pub actor: Actor,
    pub memory: ContentHash,
    pub kind: EventKind,
    pub expect: Expect,
}

/// A vector to keep in the embedding cache, committed with the events of the same request.
#[derive(Clone, Debug)]
pub struct VectorEntry {
    pub model: String,
    pub memory: ContentHash,
    pub vector: Vec<f32>,
}

/// The outcome of one submitted event.
#[derive(Clone, Debug, PartialEq)]
pub struct Appended {
    pub seq: Seq,
    pub event_id: EventId,
    pub at: Timestamp,
    pub version: u32,
    /// False when the event id had been appended before and this append was answered from the log.
    pub fresh: bool,
}

pub(crate) type Reply = Box<dyn FnOnce(Result<Vec<Appended>, AppendError>) + Send>;

pub(crate) struct Request {
    pub(crate) events: Vec<NewEvent>,
    pub(crate) vectors: Vec<VectorEntry>,
    pub(crate) reply: Reply,
}

/// What the writer tells the log after each successful commit.
pub(crate) type OnCommit = Box<dyn Fn(Seq, Timestamp) + Send>;

/// The log's database as readers find it: the writer puts a new one here when it rewrites the file.
pub(crate) type Current = Arc<RwLock<Arc<Database>>>;

/// The database readers should use now.
pub(crate) fn current(db: &Current) -> Arc<Database> {
    db.read().map_or_else(|poisoned| poisoned.into_inner().clone(), |db| db.clone())
}

pub(crate) struct Writer {
    db: Arc<Database>,
    /// Where readers find the database, and the file it lives in (none for another storage backend):
    /// after committing a redaction the writer copies the log into a fresh file and swaps it in, so the
    /// erased bytes leave the free pages of the file at once rather than at the next open.
    current: Current,
    file: Option<PathBuf>,
    rx: Receiver<Request>,
    last_seq: u64,
    last_at: Timestamp,
    failed: Option<Failure>,
    on_commit: OnCommit,
    recent: Recent,
}

/// One accepted event, ready to write: the event, its bytes, and the seq of its memory's previous event
/// (0 for the first).
struct Row {
    event: Event,
    bytes: Vec<u8>,
    prev: u64,
}

/// The effect of one accepted request, ready to write.
struct Accepted {
    rows: Vec<Row>,
    outcomes: Vec<Appended>,
}

/// What one group's transaction did, for the writer to pass on once it is committed.
struct Written {
    results: Vec<Result<Vec<Appended>, AppendError>>,
    last_seq: u64,
    at: Timestamp,
    redacted: bool,
}

/// Where the writer looks a memory's head or an event id up during a group: the group's own events, then
/// the recent ones, then the index tables.
struct Lookup<'a, 'txn> {
    group: Unindexed,
    recent: &'a Unindexed,
    heads: redb::Table<'txn, &'static [u8; 32], (u64, u32, bool)>,
    ids: redb::Table<'txn, u128, u64>,
}

impl Lookup<'_, '_> {
    fn head(&self, memory: &ContentHash) -> Result<Option<Head>, redb::StorageError> {
        match self.group.heads.get(memory) {
            Some(head) => Ok(Some(*head)),
            None => self.recent.head(&self.heads, memory),
        }
    }

    fn seq_of(&self, id: EventId) -> Result<Option<u64>, redb::StorageError> {
        let id = id.0.as_u128();
        match self.group.ids.get(&id) {
            Some(seq) => Ok(Some(*seq)),
            None => self.recent.seq_of(&self.ids, id),
        }
    }
}

impl Writer {
    pub(crate) fn new(
        current: Current,
        file: Option<PathBuf>,
        rx: Receiver<Request>,
        last_seq: Seq,
        last_at: Timestamp,
        on_commit: OnCommit,
        recent: Recent,
    ) -> Writer {
        let db = self::current(&current);
        Writer { db, current, file, rx, last_seq: last_seq.0, last_at, failed: None, on_commit, recent }
    }

    /// Runs until every sender is gone.
    pub(crate) fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match self.rx.try_recv() {
                    Ok(request) => group.push(request),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, group: Vec<Request>) {
        if let Some(reason) = &self.failed {
            for request in group {
                (request.reply)(Err(AppendError::WriterFailed(reason.clone())));
            }
            return;
        }
        match self.write_group(&group) {
            Ok(written) => {
                self.last_seq = written.last_seq;
                self.last_at = written.at;
                if written.redacted {
                    self.rewrite_file();
                }
                (self.on_commit)(Seq(written.last_seq), written.at);
                for (request, result) in group.into_iter().zip(written.results) {
                    (request.reply)(result);
                }
            }
            Err(reason) => {
                tracing::error!(error = %reason, "log commit failed; the writer stops accepting appends");
                self.failed = Some(reason.clone());
                for request in group {
                    (request.reply)(Err(AppendError::WriterFailed(reason.clone())));
                }
            }
        }
    }

    /// Writes every acceptable request of the group in one transaction. The outer error is a storage
    /// failure (fatal); the inner results are per request.
    fn write_group(&self, group: &[Request]) -> Result<Written, Failure> {
        let txn = self.db.begin_write().map_err(failure)?;
        let recent = read_recent(&self.recent);
        let mut results = Vec::with_capacity(group.len());
        let mut next_seq = self.last_seq + 1;
        let at = Timestamp::now().max(self.last_at);
        let mut scrub = None;
        let (indexed, checkpointed) = {
            let mut log = txn.open_table(LOG).map_err(failure)?;
            let mut vectors = txn.open_table(VECTORS).map_err(failure)?;
            let mut redactions = txn.open_table(REDACTIONS).map_err(failure)?;
            let mut lookup = Lookup {
                group: Unindexed::default(),
                recent: &recent,
                heads: txn.open_table(HEADS).map_err(failure)?,
                ids: txn.open_table(EVENT_IDS).map_err(failure)?,
            };
            // Requests earlier in this group changed the heads the next ones are checked against: each
            // request is checked against the state the previous ones left.
            for request in group {
                let accepted = match accept(request, next_seq, at, &lookup, &log, &redactions) {
                    Ok(accepted) => accepted,
                    Err(AppendError::WriterFailed(reason)) => return Err(reason),
                    Err(refused) => {
                        results.push(Err(refused));
                        continue;
                    }
                };
                for Row { event, bytes, prev } in &accepted.rows {
                    let seq = event.seq.0;
                    log.insert(seq, (*prev, bytes.as_slice())).map_err(failure)?;
                    lookup.group.add(event);
                    if let EventKind::Redacted { .. } = event.kind {
                        for (earlier, prev, bytes) in chain_from(&log, *prev).map_err(failure)? {
                            if let Some(bytes) = erased(&bytes).map_err(failure)? {
                                log.insert(earlier, (prev, bytes.as_slice())).map_err(failure)?;
                            }
                        }
                        drop_vectors(&mut vectors, &event.memory).map_err(failure)?;
                        redactions.insert(&event.memory.0, seq).map_err(failure)?;
                        scrub = Some(seq);
                    }
                    next_seq = seq + 1;
                }
                for entry in &request.vectors {
                    // An embedding can finish after its memory was redacted (in this group or any before):
                    // checked here, in the transaction that would write it, no ordering brings it back.
                    if redacted_now(&lookup, &redactions, &entry.memory).map_err(failure)? {
                        continue;
                    }
                    let bytes = vector_to_bytes(&entry.vector);
                    vectors.insert((entry.model.as_str(), &entry.memory.0), bytes.as_slice()).map_err(failure)?;
                }
                results.push(Ok(accepted.outcomes));
            }
            let Lookup { group: indexed, heads, ids, .. } = lookup;
            drop((heads, ids));
            let checkpoint = !indexed.ids.is_empty() && recent.ids.len() + indexed.ids.len() >= CHECKPOINT_EVENTS;
            if checkpoint {
                let mut all = recent.clone();
                all.heads.extend(indexed.heads.iter().map(|(memory, head)| (*memory, *head)));
                all.ids.extend(indexed.ids.iter().map(|(id, seq)| (*id, *seq)));
                all.write(&txn, next_seq - 1).map_err(failure)?;
            }
            (indexed, checkpoint)
        };
        drop(recent);
        if let Some(seq) = scrub {
            let mut meta = txn.open_table(META).map_err(failure)?;
            meta.insert(SCRUB_PENDING, seq).map_err(failure)?;
        }
        // The recent heads change in the same moment as the tables: the lock is held across the commit, so a
        // reader whose transaction sees this commit (one reading the log in order, say) and then asks for a
        // memory's head or history finds this group's events there. Updated after the commit, a push once
        // read an event it could not find in its memory's history and skipped it.
        let mut shared = self.recent.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        txn.commit().map_err(failure)?;
        if checkpointed {
            *shared = Unindexed::default();
        } else {
            shared.heads.extend(indexed.heads);
            shared.ids.extend(indexed.ids);
        }
        drop(shared);
        Ok(Written { results, last_seq: next_seq - 1, at, redacted: scrub.is_some() })
    }

    /// After a redaction: copies the log into a fresh file, renames it over the old one and goes on with it
    /// (readers too), so that no free page of the file keeps what the redaction erased. Writes wait meanwhile
    /// (the copy takes about as long as a backup). A copy or rename that fails leaves the old file with its
    /// scrub pending, done at the next open; a new file that cannot be opened stops the writer, since the
    /// old one is no longer the file at the log's path.
    fn rewrite_file(&mut self) {
        let Some(path) = self.file.clone() else { return };
        let swapped = match crate::redact::rewrite_live(&self.db, &path) {
            Ok(swapped) => swapped,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "rewriting the log after a redaction failed; it is rewritten at the next open");
                return;
            }
        };
        match swapped {
            Ok(db) => {
                let db = Arc::new(db);
                self.db = db.clone();
                match self.current.write() {
                    Ok(mut current) => *current = db,
                    Err(poisoned) => *poisoned.into_inner() = db,
                }
                tracing::info!(path = %path.display(), "rewrote the event log after a redaction");
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "the rewritten log cannot be opened; the writer stops accepting appends");
                self.failed = Some(failure(error));
            }
        }
    }
}

/// Whether the memory's last event is its redaction: two keyed lookups, for refusing to cache its vectors.
fn redacted_now(
    lookup: &Lookup,
    redactions: &redb::Table<&[u8; 32], u64>,
    memory: &ContentHash,
) -> Result<bool, redb::StorageError> {
    let Some(redacted_at) = redactions.get(&memory.0)?.map(|v| v.value()) else { return Ok(false) };
    Ok(lookup.head(memory)?.is_some_and(|head| head.last_seq == redacted_at))
}

/// Checks one request against the heads and prepares its rows, or says why it is refused.
fn accept(
    request: &Request,
    first_seq: u64,
    at: Timestamp,
    lookup: &Lookup,
    log: &redb::Table<u64, (u64, &[u8])>,
    redactions: &redb::Table<&[u8; 32], u64>,
) -> Result<Accepted, AppendError> {
    let storage = |e: redb::StorageError| AppendError::WriterFailed(failure(e));
    // Heads (and whether the last event was a redaction) as this request's own earlier events leave them.
    let mut local: HashMap<ContentHash, (Head, bool)> = HashMap::new();
    let mut accepted = Accepted { rows: Vec::new(), outcomes: Vec::new() };
    let mut seq = first_seq;
    for new in &request.events {
        if let Some(earlier) = accepted.outcomes.iter().find(|o| o.event_id == new.event_id) {
            // The same id twice in one request is one event.
            let repeat = Appended { fresh: false, ..earlier.clone() };
            accepted.outcomes.push(repeat);
            continue;
        }
        if let Some(existing_seq) = lookup.seq_of(new.event_id).map_err(storage)? {
            let row = log.get(existing_seq).map_err(storage)?.ok_or_else(|| {
                let missing: Box<dyn std::error::Error + Send + Sync> =
                    format!("event id index points at missing seq {existing_seq}").into();
                AppendError::WriterFailed(missing.into())
            })?;
            let event = decode(row.value().1).map_err(|e| AppendError::WriterFailed(failure(e)))?;
            accepted.outcomes.push(Appended {
                seq: event.seq,
                event_id: event.event_id,
                at: event.at,
                version: event.version,
                fresh: false,
            });
            continue;
        }
        let (head, redacted) = match local.get(&new.memory) {
            Some((head, redacted)) => (Some(*head), *redacted),
            None => {
                let head = lookup.head(&new.memory).map_err(storage)?;
                let redacted_at = redactions.get(&new.memory.0).map_err(storage)?.map(|v| v.value());
                (head, head.is_some_and(|h| Some(h.last_seq) == redacted_at))
            }
        };
        check(new, head, redacted)?;
        let version = head.map_or(0, |h| h.version) + 1;
        let event = Event {
            seq: Seq(seq),
            event_id: new.event_id,
            at,
            actor: new.actor.clone(),
            memory: new.memory,
            version,
            kind: new.kind.clone(),
        };
        local.insert(new.memory, (head_after(&event), matches!(event.kind, EventKind::Redacted { .. })));
        let bytes = encode(&event);
        accepted.outcomes.push(Appended { seq: event.seq, event_id: event.event_id, at, version, fresh: true });
        accepted.rows.push(Row { event, bytes, prev: head.map_or(0, |h| h.last_seq) });
        seq += 1;
    }
    Ok(accepted)
}

/// The state machine every memory follows: absent → stored → (updated | related | unrelated | archived |
/// unarchived)* → deleted → undeleted or stored → ..., and from any state but absent → redacted → stored →
/// ... Archiving leaves a memory live here: whether it is archived is the service's check (against the
/// read model, with the version it read).
fn check(new: &NewEvent, head: Option<Head>, redacted: bool) -> Result<(), AppendError> {
    let memory = new.memory;
    let live = head.is_some_and(|h| h.live);
    match &new.kind {
        EventKind::Erased { .. } => return Err(AppendError::NotAppendable("erased")),
        EventKind::Redacted { .. } if head.is_none() => return Err(AppendError::NotFound { memory }),
        EventKind::Redacted { .. } | EventKind::Undeleted(_) | EventKind::DocumentRemoved { .. } if redacted => {
            return Err(AppendError::Redacted { memory });
        }
        EventKind::Stored(_) if live => return Err(AppendError::AlreadyExists { memory }),
        EventKind::Updated { .. }
        | EventKind::Deleted { .. }
        | EventKind::Related(_)
        | EventKind::Unrelated { .. }
        | EventKind::Archived { .. }
        | EventKind::Unarchived(_)
            if !live =>
        {
            return Err(AppendError::NotFound { memory });
        }
        EventKind::Related(relation) if relation.target == memory => return Err(AppendError::SelfRelation { memory }),
        EventKind::Undeleted(_) if head.is_none() => return Err(AppendError::NotFound { memory }),
        EventKind::Undeleted(_) if live => return Err(AppendError::NotDeleted { memory }),
        // An upload's key is recorded once, then removed or redacted at most once (the service checks which).
        EventKind::DocumentIngested(_) if head.is_some() => return Err(AppendError::AlreadyExists { memory }),
        EventKind::DocumentRemoved { .. } if head.is_none() => return Err(AppendError::NotFound { memory }),
        _ => {}
    }
    if let Expect::Version(expected) = new.expect {
        let actual = head.map_or(0, |h| h.version);
        if actual != expected {
            return Err(AppendError::VersionMismatch { memory, expected, actual });
        }
    }
    Ok(())
}
