//! Time travel without restoring: get, list and search the store as it was right after an event.
//!
//! `get` folds the memory's history up to that event. `list` and `search` run the very queries of the live
//! store on a read model materialised at that event: the real sqlite projection fed from the log up to it
//! (vectors from the log's embedding cache, nothing is embedded again) into a scratch database under the
//! data directory. So every filter and search mode behaves as it did then; semantic search there is always
//! exact (the live ANN index knows only the present). The last few materialisations are kept, because agents
//! repeat their queries; each is a directory removed when it leaves the cache, and leftovers of a crash are
//! removed when the service starts.

use super::insight::last_at_or_before;
use super::memory::{Hit, Memory};
use super::point::Point;
use super::queries::epoch_seconds;
use super::view::{ListPage, ListRequest, Materialised, SearchRequest, View};
use super::{CachedVectors, Service, ServiceError, parse_hash};
use mms_log::{ContentHash, Log, Seq, fold_history};
use mms_projections::{Filter, Projector, SqliteProjection, SqliteReader, iso_utc};
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How many materialised read models are kept.
const KEPT: usize = 4;
/// How many time-travel queries may wait for a past read model at once.
const MAX_WAITING: usize = 64;
/// The folder, beside the log file, that holds them.
const FOLDER: &str = "as-of";

/// The point of the log an answer reflects: right after event `seq`, committed at `at` (none for 0, the empty
/// store before the first event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema, utoipa::ToSchema)]
pub struct AsOf {
    pub seq: u64,
    pub at: Option<String>,
}

/// The overview's totals of the store as it was: its memories and distinct tags, and the memories created in
/// the week and in the 30 days before that event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastTotals {
    pub total_memories: u64,
    pub unique_tags: u64,
    pub created_week: u64,
    pub created_month: u64,
}

/// The materialised read models, most recently used last.
pub(super) struct PastViews {
    folder: PathBuf,
    kept: Mutex<VecDeque<Arc<Materialised>>>,
    /// One materialisation at a time: they are CPU-bound, and a second request for the same event waits for
    /// the first instead of doing the work again. Waiters wait on the async runtime, holding no thread.
    building: tokio::sync::Mutex<()>,
    /// Places in the queue for `building`: a query that finds none is answered 503 at once.
    waiting: tokio::sync::Semaphore,
    /// Counts redactions: a materialisation that started before one is not kept.
    generation: std::sync::atomic::AtomicU64,
}

impl PastViews {
    /// The cache for the log at `log_path`; removes what a previous process left behind.
    pub(super) fn new(log_path: &Path) -> PastViews {
        let folder = log_path.parent().filter(|p| p.is_dir()).map_or_else(std::env::temp_dir, Path::to_path_buf);
        let folder = folder.join(FOLDER);
        if folder.exists()
            && let Err(error) = std::fs::remove_dir_all(&folder)
        {
            tracing::warn!(%error, folder = %folder.display(), "could not remove old as-of read models");
        }
        PastViews {
            folder,
            kept: Mutex::new(VecDeque::new()),
            building: tokio::sync::Mutex::new(()),
            waiting: tokio::sync::Semaphore::new(MAX_WAITING),
            generation: Default::default(),
        }
    }

    /// Drops every kept materialisation (their files go when the last query using them ends): after a
    /// redaction they hold what it erased, and a new one replays the erased events.
    pub(super) fn forget(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Ok(mut kept) = self.kept.lock() {
            kept.clear();
        }
    }

    fn cached(&self, seq: Seq) -> Option<Arc<Materialised>> {
        let mut kept = self.kept.lock().ok()?;
        let index = kept.iter().position(|m| m.seq == seq)?;
        let entry = kept.remove(index)?;
        kept.push_back(entry.clone());
        Some(entry)
    }

    /// Waits for the turn to build (the guard is the turn). Queries queue on the async runtime, so however
    /// many arrive they hold no blocking thread, which every store and read needs; when `MAX_WAITING` already
    /// wait, the answer is `Unavailable` at once.
    async fn queue(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, ServiceError> {
        let _place = self.waiting.try_acquire().map_err(|_| {
            ServiceError::Unavailable(format!(
                "{MAX_WAITING} time-travel queries are already waiting for a past read model to be built; retry in \
                 a moment"
            ))
        })?;
        Ok(self.building.lock().await)
    }

    /// The read model right after `seq`, from the cache or built now (blocking; the caller has its turn
    /// from `queue`).
    fn build(&self, log: &Log, vectors: CachedVectors, seq: Seq) -> Result<Arc<Materialised>, ServiceError> {
        if let Some(found) = self.cached(seq) {
            return Ok(found);
        }
        // The closest earlier materialisation, if any, is copied and brought forward: agents ask about
        // nearby points (and "now" moves a few events at a time), so this is usually a short replay.
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let base =
            self.kept.lock().ok().and_then(|kept| kept.iter().filter(|m| m.seq < seq).max_by_key(|m| m.seq).cloned());
        let built = Arc::new(materialise(log, vectors, seq, &self.folder, base.as_deref())?);
        if let Ok(mut kept) = self.kept.lock()
            && self.generation.load(std::sync::atomic::Ordering::Acquire) == generation
        {
            kept.push_back(built.clone());
            while kept.len() > KEPT {
                kept.pop_front();
            }
        }
        Ok(built)
    }
}

/// Runs the sqlite projection over the log up to `seq` into a new scratch database in `folder`, starting
/// from a copy of `base` (a read model at an earlier event) when there is one.
fn materialise(
    log: &Log,
    vectors: CachedVectors,
    seq: Seq,
    folder: &Path,
    base: Option<&Materialised>,
) -> Result<Materialised, ServiceError> {
    std::fs::create_dir_all(folder).map_err(|e| ServiceError::internal_while("creating the as-of folder", e))?;
    let dir = tempfile::Builder::new()
        .prefix("seq-")
        .tempdir_in(folder)
        .map_err(|e| ServiceError::internal_while("creating an as-of read model", e))?;
    let path = dir.path().join("read_model.db");
    if let Some(base) = base {
        copy_base(&base.path, &path);
    }
    let projection =
        SqliteProjection::open(&path).map_err(|e| ServiceError::internal_while("opening an as-of read model", e))?;
    let mut projector =
        Projector::new(log.clone(), vec![Box::new(projection)], Arc::new(vectors)).with_batch_size(4096);
    let reached =
        projector.catch_up_to(seq, |_, _| {}).map_err(|e| ServiceError::internal_while("replaying the log", e))?;
    if reached != seq {
        return Err(ServiceError::internal(format!("the as-of replay stopped at event {} of {}", reached.0, seq.0)));
    }
    drop(projector);
    Ok(Materialised { seq, reader: Arc::new(SqliteReader::new(&path)), path, _dir: dir })
}

/// Copies a finished read model; on any doubt it copies nothing, and the replay starts from the first event.
/// Its writer has closed (which checkpoints the WAL into the file) and readers never write, so the file
/// alone is the whole database unless a WAL with content is left.
fn copy_base(from: &Path, to: &Path) {
    let mut wal = from.as_os_str().to_owned();
    wal.push("-wal");
    let wal_is_empty = std::fs::metadata(PathBuf::from(wal)).map_or(true, |m| m.len() == 0);
    if !wal_is_empty {
        return;
    }
    if let Err(error) = std::fs::copy(from, to) {
        tracing::warn!(%error, "could not copy an as-of read model; replaying from the first event");
        let _ = std::fs::remove_file(to);
    }
}

impl Service {
    /// The event an `as_of` stands for: a sequence number (past the log's end: its end), or the last event
    /// committed at or before a moment (none before the first event: 0, the empty store).
    pub async fn as_of(&self, point: Point) -> Result<AsOf, ServiceError> {
        self.blocking(move |inner| {
            let last = inner.log.last_seq();
            let seq = match point {
                Point::Seq(seq) => Seq(seq.min(last.0)),
                Point::At(at) => last_at_or_before(&inner.log, at)?,
            };
            let at = match seq.0 {
                0 => None,
                n => inner.log.get(Seq(n))?.map(|e| iso_utc(e.at.0)),
            };
            Ok(AsOf { seq: seq.0, at })
        })
        .await
    }

    /// The read model right after `seq`, from the kept ones or built now, after queueing for the one
    /// materialisation at a time (see `PastViews::queue`).
    async fn past(&self, seq: u64) -> Result<View, ServiceError> {
        let view = |built: Arc<Materialised>| View { reader: built.reader.clone(), ann: None, _kept: Some(built) };
        let past = &self.inner.past;
        if let Some(kept) = past.cached(Seq(seq)) {
            return Ok(view(kept));
        }
        let _turn = past.queue().await?;
        let built = self
            .blocking(move |inner| {
                let vectors = CachedVectors::new(inner.log.clone(), inner.embedder.clone());
                inner.past.build(&inner.log, vectors, Seq(seq))
            })
            .await?;
        Ok(view(built))
    }

    /// One memory as it was: its history folded up to the event (not found if absent or deleted then).
    pub async fn get_as_of(&self, hash: &str, point: Point) -> Result<(Memory, AsOf), ServiceError> {
        let hash: ContentHash = parse_hash(hash)?;
        let as_of = self.as_of(point).await?;
        let until = Seq(as_of.seq);
        let state = self.blocking(move |inner| Ok(fold_history(&inner.log.history(&hash)?, until))).await?;
        match state.filter(|s| s.live) {
            Some(state) => Ok((Memory::from_record(&hash.to_hex(), &state.record), as_of)),
            None => Err(ServiceError::NotFound(format!("memory {hash} not found as of event {}", as_of.seq))),
        }
    }

    /// A page of memories as they were, newest first.
    pub async fn list_as_of(&self, request: ListRequest, point: Point) -> Result<(ListPage, AsOf), ServiceError> {
        let as_of = self.as_of(point).await?;
        let view = self.past(as_of.seq).await?;
        Ok((self.list_in(&view, request).await?, as_of))
    }

    /// The overview's totals of the store as it was; "this week" and "this month" end at that event.
    pub async fn totals_as_of(&self, point: Point) -> Result<(PastTotals, AsOf), ServiceError> {
        let as_of = self.as_of(point).await?;
        let view = self.past(as_of.seq).await?;
        let then = as_of.at.as_deref().and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
        let then = then.map_or_else(chrono::Utc::now, |at| at.with_timezone(&chrono::Utc));
        let totals = tokio::task::spawn_blocking(move || -> Result<PastTotals, ServiceError> {
            let week = view.reader.stats(epoch_seconds(then - chrono::Duration::days(7)))?;
            let month =
                Filter { created_from: Some(epoch_seconds(then - chrono::Duration::days(30))), ..Filter::default() };
            Ok(PastTotals {
                total_memories: week.total_memories,
                unique_tags: week.unique_tags,
                created_week: week.created_since,
                created_month: view.reader.count(&month)?,
            })
        })
        .await??;
        Ok((totals, as_of))
    }

    /// A search of the store as it was (semantic search exact, without the ANN index).
    pub async fn search_as_of(&self, request: SearchRequest, point: Point) -> Result<(Vec<Hit>, AsOf), ServiceError> {
        let as_of = self.as_of(point).await?;
        let view = self.past(as_of.seq).await?;
        Ok((self.search_in(&view, request).await?, as_of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_queries_hold_no_thread_and_overflow_as_unavailable() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let past = Arc::new(PastViews::new(&dir.path().join("events.redb")));
        let turn = past.queue().await.expect("the first turn");
        // Every waiter shares this one thread: a wait that blocked its thread would hang the test here.
        let mut waiting = Vec::new();
        for _ in 0..MAX_WAITING {
            let past = past.clone();
            waiting.push(tokio::spawn(async move { past.queue().await.map(drop) }));
        }
        for _ in 0..10_000 {
            if past.waiting.available_permits() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(past.waiting.available_permits(), 0, "every waiter holds a place");
        assert!(matches!(past.queue().await, Err(ServiceError::Unavailable(_))), "the queue is full");
        drop(turn);
        for waiter in waiting {
            waiter.await.expect("the waiting task").expect("each waiter gets its turn");
        }
        drop(past.queue().await.expect("room again"));
    }
}
