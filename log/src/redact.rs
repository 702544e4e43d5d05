//! Redaction: forgetting a memory for real.
//!
//! A `Redacted` event is appended like any other, and in the same write transaction every earlier event of
//! that memory is rewritten to `Erased { was }` (its content, tags, type, metadata and any deletion reason
//! dropped; sequence, time, actor and version kept) and the memory's cached vectors are removed. redb is
//! copy-on-write, so the old bytes can survive in free pages of the file: the next open rewrites the whole
//! file (`scrub_pending`), and backups are rewritten by [`erase_in_file`].

use crate::event::{EventKind, decode, encode};
use crate::ids::{ContentHash, Seq};
use crate::snapshot::{SnapshotError, copy_database};
use crate::store::ReadError;
use crate::tables::{BY_MEMORY, EVENTS, HEADS, Head, META, REDACTIONS, VECTORS};
use redb::{Database, ReadableDatabase, ReadableTable};
use std::path::Path;

/// The meta key holding the seq of a redaction whose erased bytes may remain in free pages.
pub(crate) const SCRUB_PENDING: &str = "scrub_pending";

/// Rewrites the events of `memory` before `before` to `Erased`; returns how many were rewritten.
pub(crate) fn erase_before(
    events: &mut redb::Table<u64, &[u8]>,
    by_memory: &impl ReadableTable<(&'static [u8; 32], u64), ()>,
    memory: &ContentHash,
    before: Seq,
) -> Result<usize, redb::Error> {
    let mut seqs = Vec::new();
    for row in by_memory.range((&memory.0, 0)..(&memory.0, before.0))? {
        seqs.push(row?.0.value().1);
    }
    let mut erased = 0;
    for seq in seqs {
        let Some(bytes) = events.get(seq)?.map(|b| b.value().to_vec()) else { continue };
        let mut event = decode(&bytes).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        if matches!(event.kind, EventKind::Redacted { .. } | EventKind::Erased { .. }) {
            continue;
        }
        event.kind = EventKind::Erased { was: event.kind.name().to_string() };
        events.insert(seq, encode(&event).as_slice())?;
        erased += 1;
    }
    Ok(erased)
}

/// Removes the cached vectors of `memory` under every model; returns how many there were.
pub(crate) fn drop_vectors(
    vectors: &mut redb::Table<(&'static str, &'static [u8; 32]), &[u8]>,
    memory: &ContentHash,
) -> Result<usize, redb::Error> {
    let models = models_in(vectors)?;
    let mut removed = 0;
    for model in models {
        if vectors.remove((model.as_str(), &memory.0))?.is_some() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// The models the embedding cache holds vectors of. Keys are ordered by model first: each model is
/// visited once, jumping past its keys.
pub(crate) fn models_in(
    vectors: &impl ReadableTable<(&'static str, &'static [u8; 32]), &'static [u8]>,
) -> Result<Vec<String>, redb::Error> {
    let mut models = Vec::new();
    let mut next = vectors.first()?.map(|(k, _)| k.value().0.to_string());
    while let Some(model) = next {
        next = vectors
            .range((model.as_str(), &[0xff; 32])..)?
            .map(|row| row.map(|(k, _)| k.value().0.to_string()))
            .find(|m| !matches!(m, Ok(m) if *m == model))
            .transpose()?;
        models.push(model);
    }
    Ok(models)
}

/// Every redacted memory with the seq of its latest redaction, from any log file (old files have none).
pub(crate) fn redactions_in(db: &Database) -> Result<Vec<(ContentHash, Seq)>, ReadError> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(REDACTIONS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.iter()? {
        let (memory, seq) = row?;
        out.push((ContentHash(*memory.value()), Seq(seq.value())));
    }
    Ok(out)
}

/// What erasing redactions from a log file (a backup) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Events rewritten to `Erased`.
    pub events: usize,
    /// Memories whose cached vectors were removed.
    pub vectors: usize,
    /// Memories that were live in the file and no longer are.
    pub memories: usize,
}

/// Applies redactions to a closed log file, such as a backup: the events of each memory before its
/// redaction are rewritten to `Erased`, and when the file predates the redaction its cached vector is
/// removed and its head marked not live (so the file still replays to what its heads say). When anything changed the file is rewritten whole, so no erased bytes stay in free pages.
pub fn erase_in_file(path: &Path, redactions: &[(ContentHash, Seq)]) -> Result<Erasure, SnapshotError> {
    let write = |source: redb::Error| SnapshotError::Write { path: path.to_path_buf(), source };
    let mut done = Erasure::default();
    {
        let db = Database::open(path).map_err(|e| write(e.into()))?;
        let txn = db.begin_write().map_err(|e| write(e.into()))?;
        {
            let mut events = txn.open_table(EVENTS).map_err(|e| write(e.into()))?;
            let by_memory = txn.open_table(BY_MEMORY).map_err(|e| write(e.into()))?;
            let mut heads = txn.open_table(HEADS).map_err(|e| write(e.into()))?;
            let mut vectors = txn.open_table(VECTORS).map_err(|e| write(e.into()))?;
            for (memory, seq) in redactions {
                done.events += erase_before(&mut events, &by_memory, memory, *seq).map_err(write)?;
                // A file that predates the redaction has the memory's last state in its head and cache.
                let head = heads.get(&memory.0).map_err(|e| write(e.into()))?.map(|row| Head::from_row(row.value()));
                let Some(head) = head.filter(|head| head.last_seq < seq.0) else { continue };
                if drop_vectors(&mut vectors, memory).map_err(write)? > 0 {
                    done.vectors += 1;
                }
                if head.live {
                    let gone = Head { live: false, ..head };
                    heads.insert(&memory.0, gone.to_row()).map_err(|e| write(e.into()))?;
                    done.memories += 1;
                }
            }
        }
        txn.commit().map_err(|e| write(e.into()))?;
        if done == Erasure::default() {
            return Ok(done);
        }
        let scratch = path.with_extension("scrub");
        let _ = std::fs::remove_file(&scratch);
        copy_database(&db, &scratch)?;
    }
    replace(&path.with_extension("scrub"), path)?;
    Ok(done)
}

/// Rewrites the log file whole when a redaction left erased bytes in its free pages. Runs at open, before
/// anything else uses the file. Returns true when it rewrote.
pub(crate) fn scrub_if_pending(path: &Path, db: Database) -> Result<(Database, bool), SnapshotError> {
    let write = |source: redb::Error| SnapshotError::Write { path: path.to_path_buf(), source };
    let pending = {
        let txn = db.begin_read().map_err(|e| write(e.into()))?;
        match txn.open_table(META) {
            Ok(meta) => meta.get(SCRUB_PENDING).map_err(|e| write(e.into()))?.is_some(),
            Err(redb::TableError::TableDoesNotExist(_)) => false,
            Err(e) => return Err(write(e.into())),
        }
    };
    if !pending {
        return Ok((db, false));
    }
    let scratch = path.with_extension("scrub");
    let _ = std::fs::remove_file(&scratch);
    copy_database(&db, &scratch)?;
    drop(db);
    replace(&scratch, path)?;
    let db = Database::create(path).map_err(|e| write(e.into()))?;
    Ok((db, true))
}

/// Renames `from` over `to` and makes the rename durable.
fn replace(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let io = |source| SnapshotError::Io { path: to.to_path_buf(), source };
    std::fs::rename(from, to).map_err(io)?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}
