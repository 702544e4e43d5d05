//! Redaction, file by file: forgetting a memory for real.
//!
//! A `Redacted` event is appended like any other, and in the same write transaction the writer rewrites
//! every earlier event of that memory to `Erased { was }` (its content, tags, type, metadata and any
//! deletion reason dropped; sequence, time, actor and version kept) and removes the memory's cached vectors
//! (the row-level steps live in `tables`); while the redaction is the memory's last event the writer also
//! refuses to cache vectors for it. redb is copy-on-write, so the old bytes can survive in free pages of the
//! file: this module rewrites whole files, the log at its next open while a scrub is pending, and closed
//! files such as backups ([`erase_in_file`]).
//!
//! Both rewrites copy, then swap: the new file is written beside the old one as `<name>.scrub`, synced, and
//! renamed over it. The old file is never written to, so a failure or a crash at any step leaves either the
//! old file, still showing what is to be erased (the log's pending scrub, a backup's redacted rows), or the
//! rewritten one; a retry starts again from the old file and never trusts a scratch file left behind.

use crate::copy::{Rewrite, copy_database, copy_rewritten};
use crate::error::{ReadError, SnapshotError};
use crate::ids::{ContentHash, Seq};
use crate::legacy::Events;
use crate::tables::{HEADS, Head, META, SCRUB_PENDING, VECTORS, has_vectors};
use redb::{Database, ReadOnlyDatabase, ReadableDatabase};
use std::path::{Path, PathBuf};

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
/// removed and its head marked not live (so the file still replays to what its heads say). When anything
/// is to change, the file is replaced whole by a copy that never held the erased rows, so no erased bytes
/// stay in free pages; the file itself is never written to, so a pass that fails part-way is redone in
/// full by the next one.
pub fn erase_in_file(path: &Path, redactions: &[(ContentHash, Seq)]) -> Result<Erasure, SnapshotError> {
    erase_in_file_with(path, redactions, &mut |_| Ok(()))
}

/// [`erase_in_file`] with a fault seam: `before_swap` is called with the scratch file once it is written,
/// before it replaces the original, and an error from it stops there (as a crash or a full disk would).
fn erase_in_file_with(
    path: &Path,
    redactions: &[(ContentHash, Seq)],
    before_swap: &mut dyn FnMut(&Path) -> Result<(), SnapshotError>,
) -> Result<Erasure, SnapshotError> {
    let scratch = scratch_of(path);
    // A scratch file of an earlier pass that failed or crashed is not trusted: it is made again.
    remove_if_present(&scratch)?;
    let erased = match ReadOnlyDatabase::open(path) {
        Ok(db) => copy_erased(&db, &scratch, redactions)?,
        // A file that was not closed cleanly needs redb's repair first, which only a writable open does (it
        // rewrites the allocator's state, not the rows).
        Err(redb::DatabaseError::RepairAborted) => {
            let db = Database::open(path)
                .map_err(|e| SnapshotError::Write { path: path.to_path_buf(), source: e.into() })?;
            copy_erased(&db, &scratch, redactions)?
        }
        Err(e) => return Err(ReadError::Storage(e.into()).into()),
    };
    let Some(erased) = erased else { return Ok(Erasure::default()) };
    before_swap(&scratch)?;
    replace(&scratch, path)?;
    Ok(erased)
}

/// Reads what erasing `redactions` changes in `db` and, when that is anything, writes the erased copy to
/// `scratch` from the same read transaction.
fn copy_erased(
    db: &impl ReadableDatabase,
    scratch: &Path,
    redactions: &[(ContentHash, Seq)],
) -> Result<Option<Erasure>, SnapshotError> {
    let txn = db.begin_read().map_err(ReadError::from)?;
    let (rewrite, erased) = plan(&txn, redactions).map_err(ReadError::Storage)?;
    if rewrite.is_empty() {
        return Ok(None);
    }
    copy_rewritten(&txn, scratch, &rewrite)?;
    Ok(Some(erased))
}

/// The rows that erasing `redactions` rewrites in the file `txn` reads, with what that amounts to.
fn plan(txn: &redb::ReadTransaction, redactions: &[(ContentHash, Seq)]) -> Result<(Rewrite, Erasure), redb::Error> {
    let events = Events::open(txn)?;
    let heads = txn.open_table(HEADS)?;
    let tail = events.unindexed(txn)?;
    let vectors = txn.open_table(VECTORS)?;
    let mut rewrite = Rewrite::default();
    let mut erased = Erasure::default();
    for (memory, seq) in redactions {
        let head = tail.head(&heads, memory)?;
        for (earlier, bytes) in events.of_memory(memory, head.map(|h| h.last_seq))? {
            if earlier < seq.0
                && let Some(bytes) = crate::tables::erased(&bytes)?
            {
                rewrite.events.insert(earlier, bytes);
                erased.events += 1;
            }
        }
        // A file that predates the redaction has the memory's last state in its head and cache.
        let Some(head) = head.filter(|head| head.last_seq < seq.0) else { continue };
        if has_vectors(&vectors, memory)? {
            rewrite.without_vectors.insert(memory.0);
            erased.vectors += 1;
        }
        if head.live {
            rewrite.heads.insert(memory.0, Head { live: false, ..head }.to_row());
            erased.memories += 1;
        }
    }
    Ok((rewrite, erased))
}

/// Rewrites the log file whole when a redaction left erased bytes in its free pages. Runs at open, before
/// anything else uses the file. Returns true when it rewrote. The marker of the pending scrub stays in the
/// old file until the copy, which has none, replaces it.
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
    let scratch = scratch_of(path);
    copy_database(&db, &scratch)?;
    drop(db);
    replace(&scratch, path)?;
    let db = crate::tables::open_database(path).map_err(|e| write(e.into()))?;
    Ok((db, true))
}

/// Rewrites the log at `path` while `db` (open on it) stays in use: a fresh copy is renamed over the file and
/// opened. The outer error: nothing changed (the old file, its scrub still pending). The inner one: the file
/// was replaced but cannot be opened.
pub(crate) fn rewrite_live(db: &Database, path: &Path) -> Result<Result<Database, redb::DatabaseError>, SnapshotError> {
    let scratch = scratch_of(path);
    copy_database(db, &scratch)?;
    replace(&scratch, path)?;
    Ok(crate::tables::open_database(path))
}

/// Where the rewrite of `path` is written before it replaces it.
fn scratch_of(path: &Path) -> PathBuf {
    path.with_extension("scrub")
}

/// Removes `path` if it exists.
fn remove_if_present(path: &Path) -> Result<(), SnapshotError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(SnapshotError::Io { path: path.to_path_buf(), source: error })
        }
        _ => Ok(()),
    }
}

/// Syncs `from`, renames it over `to` and makes the rename durable.
fn replace(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    std::fs::File::open(from)
        .and_then(|file| file.sync_all())
        .map_err(|source| SnapshotError::Io { path: from.to_path_buf(), source })?;
    let io = |source| SnapshotError::Io { path: to.to_path_buf(), source };
    std::fs::rename(from, to).map_err(io)?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, EventId, EventKind, Expect, Interface, Log, MemoryRecord, NewEvent, Timestamp, VectorEntry};

    const SECRET: &str = "the launch code is SECRET-IN-BACKUP";
    const TAG: &str = "SECRET-BACKUP-TAG";
    /// A vector whose bytes appear nowhere else in the file.
    const VECTOR: [f32; 4] = [1.234_567_8, -7.654_321, 5.432_1, 9.876_543];

    /// The redacted memory's content: the secret in the middle of a long text, on pages of its own (with a
    /// short one, redb happened to overwrite the freed leaf at once, which hid the hole in this test).
    fn secret() -> String {
        format!("{}{SECRET}{}", "y".repeat(10_000), "y".repeat(10_000))
    }

    fn event(content: &str, kind: EventKind) -> NewEvent {
        NewEvent {
            event_id: EventId::generate(),
            actor: Actor::new(Interface::Cli, None),
            memory: ContentHash::of_content(content),
            kind,
            expect: Expect::Any,
        }
    }

    fn store(content: &str, tags: &[&str]) -> NewEvent {
        let record = MemoryRecord {
            content: content.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            memory_type: None,
            metadata: "{}".into(),
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        };
        event(content, EventKind::Stored(record))
    }

    fn contains(bytes: &[u8], needle: &[u8]) -> bool {
        bytes.windows(needle.len()).any(|w| w == needle)
    }

    /// What of the redacted memory is still in the file's raw bytes: its content, its tag, its vector.
    fn leftovers(path: &Path) -> Vec<&'static str> {
        let bytes = std::fs::read(path).expect("read the file");
        let vector: Vec<u8> = VECTOR.iter().flat_map(|x| x.to_le_bytes()).collect();
        [("content", SECRET.as_bytes()), ("tag", TAG.as_bytes()), ("vector", &vector)]
            .into_iter()
            .filter(|(_, needle)| contains(&bytes, needle))
            .map(|(what, _)| what)
            .collect()
    }

    /// A backup taken before the redaction of a memory (stored with a tag and a cached vector), beside a
    /// memory that stays; returns the backup's path and the log's redactions.
    fn backup_before_a_redaction(dir: &Path) -> (std::path::PathBuf, Vec<(ContentHash, Seq)>) {
        let log = Log::open(dir.join("log.redb")).expect("open");
        let vector =
            VectorEntry { model: "m".into(), memory: ContentHash::of_content(&secret()), vector: VECTOR.to_vec() };
        log.append(vec![store(&secret(), &[TAG]), store("kept", &["kept"])], vec![vector]).expect("store");
        let backup = dir.join("memory_backup_1.redb");
        log.snapshot(&backup).expect("snapshot");
        assert_eq!(leftovers(&backup), ["content", "tag", "vector"], "the backup holds the memory");
        log.append(vec![event(&secret(), EventKind::Redacted { reason: None })], vec![]).expect("redact");
        (backup, log.redactions().expect("redactions"))
    }

    fn fail(_: &Path) -> Result<(), SnapshotError> {
        Err(SnapshotError::Io { path: "injected".into(), source: std::io::Error::other("injected failure") })
    }

    /// Issue #17, hole 8: a scrub that fails before its rewritten file replaces the backup (a crash, a full
    /// disk) must be redone in full when retried, not found "clean" while the bytes sit in free pages.
    #[test]
    fn a_scrub_that_failed_before_its_swap_is_redone_in_full_when_retried() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (backup, redactions) = backup_before_a_redaction(dir.path());

        assert!(erase_in_file_with(&backup, &redactions, &mut fail).is_err(), "the injected failure stops it");
        let retried = erase_in_file(&backup, &redactions).expect("the retry");

        assert_eq!(leftovers(&backup), Vec::<&str>::new(), "nothing of the redacted memory is left in the file");
        assert_eq!(retried, Erasure { events: 1, vectors: 1, memories: 1 }, "the retry did the whole erasure");
        assert!(!backup.with_extension("scrub").exists(), "no scratch file is left");
        let restored = Log::open(&backup).expect("the backup is still a log");
        assert_eq!(restored.memory_counts().expect("counts"), (2, 1));
        assert_eq!(
            restored.history(&ContentHash::of_content(&secret())).expect("history")[0].kind,
            EventKind::Erased { was: "stored".into() }
        );
    }

    /// A crash part-way leaves the original as it was and a scratch file behind (which never holds the
    /// redacted bytes); the next pass does not trust the scratch file, rebuilds it and swaps it in.
    #[test]
    fn a_crash_before_the_swap_leaves_the_original_untouched_and_its_scratch_file_is_rebuilt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (backup, redactions) = backup_before_a_redaction(dir.path());
        let scratch = backup.with_extension("scrub");
        // A scratch file half written by an earlier crashed pass.
        std::fs::write(&scratch, b"a torn scratch file").expect("write a torn scratch file");
        let before = std::fs::read(&backup).expect("read");

        assert!(erase_in_file_with(&backup, &redactions, &mut fail).is_err());
        assert!(std::fs::read(&backup).expect("read") == before, "the original file is not modified in place");
        assert!(scratch.exists(), "the crash left the scratch file");
        assert_eq!(leftovers(&scratch), Vec::<&str>::new(), "the scratch file never holds the redacted bytes");

        assert_eq!(erase_in_file(&backup, &redactions).expect("retry"), Erasure { events: 1, vectors: 1, memories: 1 });
        assert_eq!(leftovers(&backup), Vec::<&str>::new());
        assert!(!scratch.exists());
        let restored = Log::open(&backup).expect("the backup is still a log");
        assert_eq!(restored.memory_counts().expect("counts"), (2, 1));
        assert_eq!(restored.history(&ContentHash::of_content("kept")).expect("history").len(), 1);
        drop(restored);
        assert_eq!(erase_in_file(&backup, &redactions).expect("again"), Erasure::default(), "done once");
    }
}
