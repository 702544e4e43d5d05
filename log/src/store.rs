//! `Log`: opening the redb file, submitting appends to the writer thread, and every read.

use crate::error::{AppendError, OpenError, ReadError};
use crate::event::{Event, SCHEMA_VERSION, decode};
use crate::ids::{ContentHash, EventId, Seq, Timestamp};
use crate::legacy::migrate;
use crate::redact::scrub_if_pending;
use crate::tables::{
    EVENT_IDS, HEADS, Head, INDEXED_THROUGH, LOG, META, REDACTIONS, SCHEMA, Unindexed, VECTORS, chain_from,
    count_heads, redactions_in, unindexed, vector_from_bytes,
};
use crate::watch::SeqWatch;
use crate::writer::{Appended, Current, NewEvent, Recent, Reply, Request, VectorEntry, Writer, current, read_recent};
use redb::{Database, ReadableDatabase, ReadableTable};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What readers share with the writer: the last committed position and its time.
struct Shared {
    committed: SeqWatch,
    last_at: Mutex<Timestamp>,
}

struct Inner {
    /// The database, replaced by the writer when it rewrites the file after a redaction (readers that
    /// already hold the previous one finish on it).
    db: Current,
    path: PathBuf,
    shared: Arc<Shared>,
    /// The index rows the writer has not yet written into the index tables.
    recent: Recent,
    sender: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping the sender ends the writer loop once queued requests are committed; joining makes the
        // file free for the next open in this process.
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Ok(mut thread) = self.thread.lock()
            && let Some(handle) = thread.take()
        {
            let _ = handle.join();
        }
    }
}

/// The event log. Cheap to clone; every clone talks to the same writer thread.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

impl Log {
    /// Opens (or creates) the log file and starts its writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Log, OpenError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| OpenError::Directory { path: path.clone(), source })?;
        }
        let db = match crate::tables::open_database(&path) {
            // A redaction since the last open may have left erased bytes in free pages: rewrite the file.
            Ok(db) => scrub_if_pending(&path, db)
                .map(|(db, scrubbed)| {
                    if scrubbed {
                        tracing::info!(path = %path.display(), "rewrote the event log after a redaction");
                    }
                    db
                })
                .map_err(|e| OpenError::Scrub { path: path.clone(), message: e.to_string() })?,
            Err(e) => return Log::start(path, Err(e), true),
        };
        Log::start(path, Ok(db), true)
    }

    /// Opens a log on any redb storage backend (an in-memory one, or one that injects faults in tests).
    /// `name` stands for the storage in messages.
    pub fn open_with_backend(name: impl Into<PathBuf>, backend: impl redb::StorageBackend) -> Result<Log, OpenError> {
        Log::start(name.into(), crate::tables::database_builder().create_with_backend(backend), false)
    }

    /// `file`: the database is the file at `path` (not another storage backend), which the writer rewrites
    /// after a redaction.
    fn start(path: PathBuf, db: Result<Database, redb::DatabaseError>, file: bool) -> Result<Log, OpenError> {
        let storage = |source: redb::Error| OpenError::Storage { path: path.clone(), source };
        let db = match db {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(OpenError::InUse { path }),
            Err(e) => return Err(storage(e.into())),
        };
        if let Some(found) = schema_version(&db).map_err(storage)?
            && found > u64::from(SCHEMA_VERSION)
        {
            return Err(OpenError::TooNew { path, found, supported: u64::from(SCHEMA_VERSION) });
        }
        if migrate(&db).map_err(storage)? {
            tracing::info!(path = %path.display(), "moved the event log to schema version {SCHEMA_VERSION}");
        }
        let (last_seq, last_at) = initialise(&db).map_err(storage)?;
        set_schema_version(&db).map_err(storage)?;
        let recent: Recent = Arc::new(RwLock::new(recent_rows(&db).map_err(|e| storage(e.into()))?));
        let db: Current = Arc::new(RwLock::new(Arc::new(db)));
        let shared = Arc::new(Shared { committed: SeqWatch::new(last_seq), last_at: Mutex::new(last_at) });
        let (sender, receiver) = mpsc::channel();
        let notify = shared.clone();
        let on_commit = Box::new(move |seq: Seq, at: Timestamp| {
            if let Ok(mut last_at) = notify.last_at.lock() {
                *last_at = at;
            }
            notify.committed.advance(seq);
        });
        let writer =
            Writer::new(db.clone(), file.then(|| path.clone()), receiver, last_seq, last_at, on_commit, recent.clone());
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| storage(redb::Error::Io(e)))?;
        Ok(Log {
            inner: Arc::new(Inner {
                db,
                path,
                shared,
                recent,
                sender: Mutex::new(Some(sender)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The redb database, for the crate's own readers (snapshots).
    pub(crate) fn database(&self) -> Arc<Database> {
        current(&self.inner.db)
    }

    /// The file this log lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Submits events (and vectors to cache) and calls `reply` on the writer thread once they are durably
    /// committed or refused. The reply must be quick: it runs before the next group commit.
    pub fn submit(
        &self,
        events: Vec<NewEvent>,
        vectors: Vec<VectorEntry>,
        reply: impl FnOnce(Result<Vec<Appended>, AppendError>) + Send + 'static,
    ) {
        let reply: Reply = Box::new(reply);
        let sender = self.inner.sender.lock().ok().and_then(|s| s.clone());
        match sender {
            Some(sender) => {
                if let Err(mpsc::SendError(request)) = sender.send(Request { events, vectors, reply }) {
                    (request.reply)(Err(AppendError::Closed));
                }
            }
            None => reply(Err(AppendError::Closed)),
        }
    }

    /// Appends and blocks until the commit: the events are durable when this returns `Ok`.
    pub fn append(&self, events: Vec<NewEvent>, vectors: Vec<VectorEntry>) -> Result<Vec<Appended>, AppendError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(events, vectors, move |result| {
            let _ = tx.send(result);
        });
        rx.recv().unwrap_or(Err(AppendError::Closed))
    }

    /// The last committed sequence number (0 for an empty log).
    pub fn last_seq(&self) -> Seq {
        self.inner.shared.committed.get()
    }

    /// The commit time of the last event.
    pub fn last_at(&self) -> Timestamp {
        self.inner.shared.last_at.lock().map(|t| *t).unwrap_or_default()
    }

    /// The last committed position, to wait on or to be told of commits (listeners run on the writer
    /// thread and must not block).
    pub fn committed(&self) -> &SeqWatch {
        &self.inner.shared.committed
    }

    /// Blocks until the log is past `seq` or the timeout ends; returns the last sequence number seen.
    pub fn wait_for(&self, seq: Seq, timeout: Duration) -> Seq {
        self.inner.shared.committed.wait_for(seq, timeout)
    }

    /// Up to `limit` events with sequence numbers from `from` on, in order.
    pub fn read_from(&self, from: Seq, limit: usize) -> Result<Vec<Event>, ReadError> {
        let txn = self.database().begin_read()?;
        let table = txn.open_table(LOG)?;
        let mut out = Vec::with_capacity(limit.min(4096));
        for row in table.range(from.0..)?.take(limit) {
            let (_, value) = row?;
            out.push(decode(value.value().1)?);
        }
        Ok(out)
    }

    /// The event at `seq`, if there is one.
    pub fn get(&self, seq: Seq) -> Result<Option<Event>, ReadError> {
        let txn = self.database().begin_read()?;
        let table = txn.open_table(LOG)?;
        let row = table.get(seq.0)?;
        Ok(match row {
            Some(value) => Some(decode(value.value().1)?),
            None => None,
        })
    }

    /// Every event about one memory, oldest first.
    pub fn history(&self, memory: &ContentHash) -> Result<Vec<Event>, ReadError> {
        let (head, txn) = self.head_and_read(memory)?;
        let log = txn.open_table(LOG)?;
        let mut out = Vec::new();
        for (_, _, bytes) in chain_from(&log, head.map_or(0, |h| h.last_seq))? {
            out.push(decode(&bytes)?);
        }
        Ok(out)
    }

    /// The writer-side state of a memory: its version and whether it is live.
    pub fn head(&self, memory: &ContentHash) -> Result<Option<Head>, ReadError> {
        Ok(self.head_and_read(memory)?.0)
    }

    /// A memory's head, and a read transaction that sees at least the commit that made it.
    fn head_and_read(&self, memory: &ContentHash) -> Result<(Option<Head>, redb::ReadTransaction), ReadError> {
        let recent = read_recent(&self.inner.recent);
        // Begun while the recent heads cannot change: if they no longer hold a head, the table does.
        let txn = self.database().begin_read()?;
        let head = recent.head(&txn.open_table(HEADS)?, memory)?;
        Ok((head, txn))
    }

    /// The sequence number of the event appended with this id, if any.
    pub fn seq_of(&self, event_id: EventId) -> Result<Option<Seq>, ReadError> {
        let recent = read_recent(&self.inner.recent);
        // Begun while the recent rows cannot change, as in `head_and_read`.
        let txn = self.database().begin_read()?;
        let ids = txn.open_table(EVENT_IDS)?;
        Ok(recent.seq_of(&ids, event_id.0.as_u128())?.map(Seq))
    }

    /// How many keys have ever had events (memories, and document uploads since schema 3) and how many
    /// memories are live now (an upload is never live).
    pub fn memory_counts(&self) -> Result<(u64, u64), ReadError> {
        let (recent, txn) = {
            let recent = read_recent(&self.inner.recent);
            let txn = self.database().begin_read()?;
            (recent.heads.clone(), txn)
        };
        let heads = txn.open_table(HEADS)?;
        count_heads(&heads, &recent)
    }

    /// Cached vectors of `model` for the given memories; memories without a cached vector are absent.
    pub fn cached_vectors(
        &self,
        model: &str,
        memories: &[ContentHash],
    ) -> Result<HashMap<ContentHash, Vec<f32>>, ReadError> {
        let txn = self.database().begin_read()?;
        let table = txn.open_table(VECTORS)?;
        let mut out = HashMap::with_capacity(memories.len());
        for memory in memories {
            if let Some(bytes) = table.get((model, &memory.0))? {
                out.insert(*memory, vector_from_bytes(bytes.value()));
            }
        }
        Ok(out)
    }

    /// Every redacted memory with the sequence number of its latest redaction.
    pub fn redactions(&self) -> Result<Vec<(ContentHash, Seq)>, ReadError> {
        redactions_in(&self.database())
    }

    /// The size of the log file in bytes.
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.inner.path).map(|m| m.len()).unwrap_or(0)
    }
}

/// Creates the tables of a new file and returns the last committed event's position and time.
fn initialise(db: &Database) -> Result<(Seq, Timestamp), redb::Error> {
    let txn = db.begin_write()?;
    {
        let log = txn.open_table(LOG)?;
        txn.open_table(EVENT_IDS)?;
        txn.open_table(HEADS)?;
        txn.open_table(VECTORS)?;
        txn.open_table(REDACTIONS)?;
        let mut meta = txn.open_table(META)?;
        if meta.get(SCHEMA)?.is_none() {
            meta.insert(SCHEMA, u64::from(SCHEMA_VERSION))?;
        }
        // Without the key (a file of schema 3 or older), the index tables hold every event; from here on
        // the writer moves it along as it writes them.
        if meta.get(INDEXED_THROUGH)?.is_none() {
            meta.insert(INDEXED_THROUGH, log.last()?.map_or(0, |(seq, _)| seq.value()))?;
        }
    }
    txn.commit()?;
    let txn = db.begin_read()?;
    let log = txn.open_table(LOG)?;
    match log.last()? {
        Some((seq, value)) => {
            let at = decode(value.value().1).map(|e| e.at).unwrap_or_default();
            Ok((Seq(seq.value()), at))
        }
        None => Ok((Seq::ZERO, Timestamp::default())),
    }
}

/// The index rows of the events after the index tables' last checkpoint.
fn recent_rows(db: &Database) -> Result<Unindexed, ReadError> {
    let txn = db.begin_read()?;
    unindexed(&txn.open_table(LOG)?, &txn.open_table(META)?)
}

/// Records that the file now holds events of the current schema version (new events are written in it).
fn set_schema_version(db: &Database) -> Result<(), redb::Error> {
    if schema_version(db)? == Some(u64::from(SCHEMA_VERSION)) {
        return Ok(());
    }
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(SCHEMA, u64::from(SCHEMA_VERSION))?;
    txn.commit()?;
    Ok(())
}

fn schema_version(db: &Database) -> Result<Option<u64>, redb::Error> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        // A new file: nothing written yet.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(meta.get(SCHEMA)?.map(|v| v.value()))
}
