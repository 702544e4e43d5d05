//! The log file's layout across versions: files written by schema version 3 (fixtures made by the code of
//! commit 7821014) open, migrate and go on; the heads the writer keeps in memory between its batched
//! writes into the heads table read the same before and after a reopen.
//!
//! The fixtures in `tests/fixtures/layout/` (see the README there):
//! - `v3.redb`: 54 events. "alpha".."epsilon" stored in one append (alpha and beta with vectors under model
//!   "m"), beta updated, gamma deleted and undeleted, delta deleted, epsilon updated then redacted, 40
//!   memories "filler 0".."filler 39", then an upload "u-1" with its chunks "chunk one" and "chunk two".
//! - `v3-base.redb`: a snapshot of that log after its first 11 events (up to the redaction).
//! - `v3-increment.redb`: the increment after those 11 events, up to event 54.

use mms_log::{ContentHash, Event, EventKind, Log, MemoryMeta, NewEvent, Seq, Timestamp, fold_history};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;

use common::{event, record, store};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout").join(name)
}

/// A copy of a fixture in `dir`, since opening a log migrates it in place.
fn copy_of(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(fixture(name), &path).expect("copy the fixture");
    path
}

fn hash(content: &str) -> ContentHash {
    ContentHash::of_content(content)
}

fn kinds(log: &Log, content: &str) -> Vec<&'static str> {
    log.history(&hash(content)).expect("history").iter().map(|e| e.kind.name()).collect()
}

fn update(content: &str) -> NewEvent {
    let meta = |tag: &str| MemoryMeta {
        tags: vec![tag.into()],
        memory_type: None,
        metadata: "{}".into(),
        updated_at: Timestamp(2),
    };
    event(content, EventKind::Updated { before: meta("t"), after: meta("u") })
}

/// What the v3 fixture holds, checked through the public API of a log opened on it (or on a file built
/// from its base and increment).
fn assert_holds_the_v3_fixture(log: &Log) {
    assert_eq!(log.last_seq(), Seq(54));
    assert_eq!(log.memory_counts().expect("counts"), (48, 45), "48 keys, 45 live memories");
    assert_eq!(kinds(log, "alpha"), ["stored"]);
    assert_eq!(kinds(log, "beta"), ["stored", "updated"]);
    assert_eq!(kinds(log, "gamma"), ["stored", "deleted", "undeleted"]);
    assert_eq!(kinds(log, "delta"), ["stored", "deleted"]);
    assert_eq!(kinds(log, "epsilon"), ["erased", "erased", "redacted"]);
    assert_eq!(kinds(log, "filler 39"), ["stored"]);
    let upload = log.history(&ContentHash::of_upload("u-1")).expect("history");
    assert!(matches!(upload[..], [Event { kind: EventKind::DocumentIngested(_), .. }]));
    for (content, version, live) in [("beta", 2, true), ("gamma", 3, true), ("delta", 2, false), ("epsilon", 3, false)]
    {
        let head = log.head(&hash(content)).expect("head").expect("a head");
        assert_eq!((head.version, head.live), (version, live), "{content}");
        let history = log.history(&hash(content)).expect("history");
        assert_eq!(head.last_seq, history.last().expect("events").seq.0, "{content}'s head is its last event");
    }
    let state = fold_history(&log.history(&hash("beta")).expect("history"), Seq(u64::MAX)).expect("beta's state");
    assert_eq!(state.record.tags, ["t", "b"]);
    let vectors = log.cached_vectors("m", &[hash("alpha"), hash("beta"), hash("gamma")]).expect("vectors");
    assert_eq!(vectors.len(), 2);
    assert_eq!(vectors[&hash("alpha")], [0.25, -0.5, 1.0]);
    assert_eq!(log.redactions().expect("redactions"), [(hash("epsilon"), Seq(11))]);
}

#[test]
fn a_log_written_by_schema_version_3_opens_migrates_and_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = copy_of(dir.path(), "v3.redb");
    let before: Vec<Event> = {
        let log = Log::open(&path).expect("the old log opens");
        assert_holds_the_v3_fixture(&log);
        // The state machine still knows every memory: a store of a live one and an update of a deleted one
        // are refused, an undelete of the deleted one is accepted and gets the next version.
        assert!(log.append(vec![store("alpha")], vec![]).is_err());
        assert!(log.append(vec![update("delta")], vec![]).is_err());
        assert!(log.append(vec![event("epsilon", EventKind::Undeleted(record("epsilon")))], vec![]).is_err());
        let undeleted = log.append(vec![event("delta", EventKind::Undeleted(record("delta")))], vec![]);
        assert_eq!(undeleted.expect("undelete")[0].version, 3);
        let stored = log.append(vec![store("after the move")], vec![]).expect("store");
        assert_eq!(stored[0].seq, Seq(56));
        log.read_from(Seq(1), 100).expect("read")
    };
    let log = Log::open(&path).expect("the migrated log opens again");
    assert_eq!(log.read_from(Seq(1), 100).expect("read"), before, "every event reads back as it was");
    assert_eq!(kinds(&log, "delta"), ["stored", "deleted", "undeleted"]);
    assert_eq!(kinds(&log, "after the move"), ["stored"]);
    assert_eq!(log.memory_counts().expect("counts"), (49, 47));
}

#[test]
fn an_increment_of_schema_version_3_applies_to_a_backup_of_schema_version_3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = copy_of(dir.path(), "v3-base.redb");
    let increment = copy_of(dir.path(), "v3-increment.redb");
    assert_eq!(mms_log::apply_increment(&base, &increment).expect("apply"), Seq(54));
    let log = Log::open(&base).expect("the restored log opens");
    assert_holds_the_v3_fixture(&log);
}

#[test]
fn a_backup_of_schema_version_3_is_erased_without_being_migrated_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = copy_of(dir.path(), "v3.redb");
    let erased = mms_log::erase_in_file(&path, &[(hash("beta"), Seq(1_000))]).expect("erase");
    assert_eq!(erased, mms_log::Erasure { events: 2, vectors: 1, memories: 1 });
    let log = Log::open(&path).expect("opens");
    assert_eq!(kinds(&log, "beta"), ["erased", "erased"]);
    assert!(!log.head(&hash("beta")).expect("head").expect("a head").live);
    assert_eq!(log.memory_counts().expect("counts"), (48, 44));
}

/// More memories than the writer keeps in memory before writing their heads into the table, so the log
/// goes through several batched writes; each memory's head, history and the counts are checked against
/// what was appended, live and after each reopen (one of them with heads still only in memory).
#[test]
fn heads_read_the_same_across_batched_writes_and_reopens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.redb");
    let memories = 20_000;
    let content = |i: usize| format!("memory number {i}");
    // memory → (version, live, last seq)
    let mut expected: HashMap<usize, (u32, bool, u64)> = HashMap::new();
    let check = |log: &Log, expected: &HashMap<usize, (u32, bool, u64)>| {
        for (i, (version, live, last)) in expected.iter().filter(|(i, _)| *i % 97 == 0 || *i % 1000 == 999) {
            let head = log.head(&hash(&content(*i))).expect("head").expect("a head");
            assert_eq!((head.version, head.live, head.last_seq), (*version, *live, *last), "memory {i}");
            let history = log.history(&hash(&content(*i))).expect("history");
            assert_eq!(history.len() as u32, *version, "memory {i}'s history");
            assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
        }
        let live = expected.values().filter(|(_, live, _)| *live).count() as u64;
        assert_eq!(log.memory_counts().expect("counts"), (expected.len() as u64, live));
    };
    // The first append of every round, appended again at the end of each later round: by then it is in
    // the index tables, or still only in memory (the last round's), or read again from the log (after a
    // reopen); each time it is answered with the committed event, not appended twice.
    let mut firsts: Vec<(NewEvent, Seq)> = Vec::new();
    for round in 0..4 {
        let log = Log::open(&path).expect("open");
        check(&log, &expected);
        for chunk in (round * memories / 4..(round + 1) * memories / 4).collect::<Vec<_>>().chunks(500) {
            let events: Vec<NewEvent> = chunk.iter().map(|i| store(&content(*i))).collect();
            let appended = log.append(events.clone(), vec![]).expect("store");
            if firsts.len() == round {
                firsts.push((events[0].clone(), appended[0].seq));
            }
            for (i, a) in chunk.iter().zip(&appended) {
                expected.insert(*i, (1, true, a.seq.0));
            }
            // Change some earlier memories too, so that heads change in memory and in the table alike.
            let earlier: Vec<usize> = (0..chunk[0]).step_by(97).take(20).collect();
            let changes = earlier.iter().map(|i| match expected[i] {
                (_, true, _) if i % 2 == 0 => event(&content(*i), EventKind::Deleted { reason: None }),
                (_, true, _) => update(&content(*i)),
                _ => event(&content(*i), EventKind::Undeleted(record(&content(*i)))),
            });
            let appended = log.append(changes.collect(), vec![]).expect("change");
            for (i, a) in earlier.iter().zip(&appended) {
                let live = !(expected[i].1 && i % 2 == 0);
                expected.insert(*i, (a.version, live, a.seq.0));
            }
        }
        check(&log, &expected);
        let last = log.last_seq();
        for (event, seq) in &firsts {
            let again = log.append(vec![event.clone()], vec![]).expect("the same event again");
            assert_eq!((again[0].seq, again[0].fresh), (*seq, false));
            assert_eq!(log.seq_of(event.event_id).expect("seq of"), Some(*seq));
        }
        assert_eq!(log.last_seq(), last, "nothing was appended twice");
    }
}
