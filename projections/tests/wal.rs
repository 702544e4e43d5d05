//! The sqlite read model's files after a redaction: nothing of the redacted memory stays in the database or
//! its write-ahead log, even when a reader held the log open while the redaction was applied.

mod support;

use mms_log::{Event, EventKind};
use mms_projections::{Applied, DIMENSIONS, Projection, SqliteProjection};
use std::path::{Path, PathBuf};
use support::{event, stored};

const SECRET: &str = "the door code is SECRET-IN-THE-WAL";
const TAG: &str = "SECRET-TAG-IN-THE-WAL";

/// A vector whose bytes no other row has.
fn secret_vector() -> Vec<f32> {
    (0..DIMENSIONS).map(|i| 1.0 + i as f32 / 1024.0).collect()
}

fn ordinary_vector() -> Vec<f32> {
    vec![0.05; DIMENSIONS]
}

fn apply(sqlite: &mut SqliteProjection, event: &Event, vector: Option<&[f32]>) {
    sqlite.apply(&[Applied { event, vector }]).expect("apply");
}

/// The read model's files, and which of them hold the redacted memory's content, tag or vector.
fn leftovers(path: &Path) -> Vec<String> {
    let vector: Vec<u8> = secret_vector()[..16].iter().flat_map(|x| x.to_le_bytes()).collect();
    let needles = [("content", SECRET.as_bytes()), ("tag", TAG.as_bytes()), ("vector", vector.as_slice())];
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        let bytes = std::fs::read(&file).unwrap_or_default();
        for (what, needle) in needles {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(format!("{what} in sqlite_vec.db{suffix}"));
            }
        }
    }
    found
}

/// The read model holding the secret memory (still in its write-ahead log) beside another one, and a reader
/// in the middle of a read transaction on its own connection, as a query of the read pool would be.
fn a_read_model_with_a_reader(dir: &Path) -> (SqliteProjection, rusqlite::Connection) {
    let path = dir.join("sqlite_vec.db");
    let mut sqlite = SqliteProjection::open(&path).expect("open");
    apply(&mut sqlite, &stored(1, SECRET, &[TAG]), Some(&secret_vector()));
    apply(&mut sqlite, &stored(2, "kept", &["kept"]), Some(&ordinary_vector()));
    assert!(!leftovers(&path).is_empty(), "the memory is in the files");
    let reader = rusqlite::Connection::open(&path).expect("a reader");
    reader.execute_batch("BEGIN").expect("begin");
    let count: i64 = reader.query_row("SELECT count(*) FROM memories", [], |r| r.get(0)).expect("read");
    assert_eq!(count, 2);
    (sqlite, reader)
}

/// Issue #17: a busy `wal_checkpoint(TRUNCATE)` answers a row with busy = 1, not an error; the pages as
/// they were before the redaction stayed in `sqlite_vec.db-wal` (and were copied back into the database)
/// until some later checkpoint, which nothing asked for.
#[test]
fn a_redaction_applied_while_a_reader_holds_the_wal_leaves_no_bytes_after_the_next_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sqlite_vec.db");
    let (mut sqlite, reader) = a_read_model_with_a_reader(dir.path());

    apply(&mut sqlite, &event(3, SECRET, EventKind::Redacted { reason: None }), None);
    reader.execute_batch("COMMIT").expect("the reader is done");
    apply(&mut sqlite, &stored(4, "written after", &[]), Some(&ordinary_vector()));

    assert_eq!(leftovers(&path), Vec::<String>::new(), "nothing of the redacted memory is left");
    drop(reader);
}

/// Without a later write, the projector's idle upkeep pays the truncation the busy reader left owed.
#[test]
fn a_truncation_owed_since_a_busy_redaction_is_paid_by_the_idle_upkeep() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sqlite_vec.db");
    let (mut sqlite, reader) = a_read_model_with_a_reader(dir.path());

    apply(&mut sqlite, &event(3, SECRET, EventKind::Redacted { reason: None }), None);
    assert!(sqlite.truncate_owed(), "the reader kept the checkpoint from finishing");
    sqlite.upkeep().expect("upkeep");
    assert!(sqlite.truncate_owed(), "still owed while the reader is in its transaction");
    drop(reader);
    sqlite.upkeep().expect("upkeep");

    assert!(!sqlite.truncate_owed());
    assert_eq!(leftovers(&path), Vec::<String>::new(), "nothing of the redacted memory is left");
    assert_eq!(std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len()), 0, "the log is empty");
}

/// A read model reopened over a write-ahead log that a stopped run left behind owes its truncation.
#[test]
fn a_read_model_opened_over_a_left_over_write_ahead_log_truncates_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sqlite_vec.db");
    let (mut sqlite, reader) = a_read_model_with_a_reader(dir.path());
    apply(&mut sqlite, &event(3, SECRET, EventKind::Redacted { reason: None }), None);
    // The run stops while the reader still holds the log; its connection is closed without a checkpoint
    // (the reader's connection keeps the log from being folded in at close).
    drop(sqlite);
    let mut reopened = SqliteProjection::open(&path).expect("reopen");
    drop(reader);
    assert!(reopened.truncate_owed());
    reopened.upkeep().expect("upkeep");
    assert!(!reopened.truncate_owed());
    assert_eq!(leftovers(&path), Vec::<String>::new(), "nothing of the redacted memory is left");
}
