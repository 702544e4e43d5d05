//! Black-box tests of the log: appends, the memory state machine, idempotency, group commit, reads and reopening.

use mms_log::{
    Actor, AppendError, ContentHash, DocumentUpload, Event, EventId, EventKind, Expect, Interface, Log, MemoryMeta,
    MemoryRecord, NewEvent, Relation, Seq, Timestamp, VectorEntry, decode, encode, fold_history,
};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{event, record, store};

fn update(content: &str, tags: &[&str]) -> NewEvent {
    let meta =
        |tags: Vec<String>| MemoryMeta { tags, memory_type: None, metadata: "{}".into(), updated_at: Timestamp(2) };
    event(
        content,
        EventKind::Updated {
            before: meta(vec!["t".into()]),
            after: meta(tags.iter().map(|t| t.to_string()).collect()),
        },
    )
}

fn delete(content: &str) -> NewEvent {
    event(content, EventKind::Deleted { reason: None })
}

fn open() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::open(dir.path().join("log.redb")).expect("open log");
    (dir, log)
}

#[test]
fn appends_get_gap_free_sequence_numbers_and_read_back() {
    let (_dir, log) = open();
    let first = log.append(vec![store("a"), store("b")], vec![]).expect("append");
    assert_eq!(first.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![Seq(1), Seq(2)]);
    let second = log.append(vec![store("c")], vec![]).expect("append");
    assert_eq!(second[0].seq, Seq(3));
    assert_eq!(log.last_seq(), Seq(3));
    let events = log.read_from(Seq(2), 10).expect("read");
    assert_eq!(events.iter().map(|e| e.seq.0).collect::<Vec<_>>(), vec![2, 3]);
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(log.read_from(Seq(1), 1).expect("read").len(), 1);
}

#[test]
fn the_state_machine_refuses_impossible_events_and_writes_nothing() {
    let (_dir, log) = open();
    assert!(matches!(log.append(vec![update("a", &["x"])], vec![]), Err(AppendError::NotFound { .. })));
    assert!(matches!(log.append(vec![delete("a")], vec![]), Err(AppendError::NotFound { .. })));
    log.append(vec![store("a")], vec![]).expect("store");
    assert!(matches!(log.append(vec![store("A ")], vec![]), Err(AppendError::AlreadyExists { .. })));
    let undelete = event("a", EventKind::Undeleted(record("a")));
    assert!(matches!(log.append(vec![undelete.clone()], vec![]), Err(AppendError::NotDeleted { .. })));
    // A request is all-or-nothing: the valid store of "b" is not written because "a" already exists.
    assert!(log.append(vec![store("b"), store("a")], vec![]).is_err());
    assert_eq!(log.last_seq(), Seq(1));
    log.append(vec![delete("a")], vec![]).expect("delete");
    log.append(vec![undelete], vec![]).expect("undelete");
    log.append(vec![delete("a"), store("a")], vec![]).expect("delete then store again in one request");
    let head = log.head(&ContentHash::of_content("a")).expect("head").expect("exists");
    assert_eq!((head.version, head.live), (5, true));
}

#[test]
fn expected_versions_detect_concurrent_changes() {
    let (_dir, log) = open();
    log.append(vec![store("a")], vec![]).expect("store");
    let mut stale = update("a", &["x"]);
    stale.expect = Expect::Version(1);
    log.append(vec![stale.clone()], vec![]).expect("first update at version 1");
    stale.event_id = EventId::generate();
    match log.append(vec![stale], vec![]) {
        Err(AppendError::VersionMismatch { expected: 1, actual: 2, .. }) => {}
        other => panic!("expected a version mismatch, got {other:?}"),
    }
}

#[test]
fn a_repeated_event_id_is_answered_with_the_committed_event() {
    let (_dir, log) = open();
    let new = store("a");
    let first = log.append(vec![new.clone()], vec![]).expect("append");
    let again = log.append(vec![new], vec![]).expect("idempotent retry");
    assert!(first[0].fresh && !again[0].fresh);
    assert_eq!(first[0].seq, again[0].seq);
    assert_eq!(log.last_seq(), Seq(1));
}

#[test]
fn concurrent_writers_share_commits_and_lose_nothing() {
    let (_dir, log) = open();
    let writers = 32;
    let per_writer = 50;
    let acked: Vec<Vec<(Seq, EventId)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let log = log.clone();
                scope.spawn(move || {
                    (0..per_writer)
                        .map(|i| {
                            let new = store(&format!("writer {w} memory {i}"));
                            let id = new.event_id;
                            let done = log.append(vec![new], vec![]).expect("append");
                            (done[0].seq, id)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer thread")).collect()
    });
    let total = writers * per_writer;
    let events = log.read_from(Seq(1), total + 10).expect("read");
    assert_eq!(events.len(), total);
    assert!(events.iter().enumerate().all(|(i, e)| e.seq.0 == i as u64 + 1), "sequence numbers are gap-free");
    for (seq, id) in acked.into_iter().flatten() {
        assert_eq!(events[seq.0 as usize - 1].event_id, id, "acknowledged event {id} is at its seq");
    }
}

#[test]
fn history_lists_one_memory_in_order_and_folds_to_its_state() {
    let (_dir, log) = open();
    log.append(vec![store("a"), store("b")], vec![]).expect("store");
    log.append(vec![update("a", &["x", "y"])], vec![]).expect("update");
    log.append(vec![delete("a")], vec![]).expect("delete");
    let history = log.history(&ContentHash::of_content("a")).expect("history");
    let kinds: Vec<_> = history.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, vec!["stored", "updated", "deleted"]);
    let now = fold_history(&history, Seq(u64::MAX)).expect("state");
    assert!(!now.live);
    assert_eq!(now.record.tags, vec!["x", "y"]);
    let before_update = fold_history(&history, Seq(2)).expect("state");
    assert!(before_update.live);
    assert_eq!(before_update.record.tags, vec!["t"]);
}

#[test]
fn reopening_keeps_everything_and_continues_the_sequence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.redb");
    {
        let log = Log::open(&path).expect("open");
        log.append(vec![store("a")], vec![]).expect("append");
        assert!(matches!(Log::open(&path), Err(mms_log::OpenError::InUse { .. })));
    }
    let log = Log::open(&path).expect("reopen");
    assert_eq!(log.last_seq(), Seq(1));
    let next = log.append(vec![store("b")], vec![]).expect("append");
    assert_eq!(next[0].seq, Seq(2));
    assert!(next[0].at >= log.read_from(Seq(1), 1).expect("read")[0].at);
}

#[test]
fn vectors_are_cached_with_their_events() {
    let (_dir, log) = open();
    let hash = ContentHash::of_content("a");
    let vector = vec![0.25f32, -1.5, 3.0];
    log.append(vec![store("a")], vec![VectorEntry { model: "m".into(), memory: hash, vector: vector.clone() }])
        .expect("append");
    let cached = log.cached_vectors("m", &[hash, ContentHash::of_content("b")]).expect("read");
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[&hash], vector);
    assert!(log.cached_vectors("other-model", &[hash]).expect("read").is_empty());
}

#[test]
fn waiters_and_listeners_hear_of_commits() {
    let (_dir, log) = open();
    let heard = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sink = heard.clone();
    log.committed().on_advance(move |seq| sink.store(seq.0, std::sync::atomic::Ordering::SeqCst));
    let waiter = {
        let log = log.clone();
        std::thread::spawn(move || log.wait_for(Seq(1), Duration::from_secs(10)))
    };
    log.append(vec![store("a")], vec![]).expect("append");
    assert_eq!(waiter.join().expect("waiter"), Seq(1));
    assert_eq!(heard.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(log.wait_for(Seq(5), Duration::from_millis(20)), Seq(1), "a wait past the end times out");
}

/// The golden bytes of schema version 1. Released versions must keep decoding to the same event.
fn golden_v1() -> Event {
    Event {
        seq: Seq(42),
        event_id: EventId(uuid::Uuid::from_u128(0x0192_5f3a_0000_7000_8000_0000_0000_0001)),
        at: Timestamp(1_764_028_800_000_000),
        actor: Actor::new(Interface::Http, Some("key-1".into())),
        memory: ContentHash::of_content("Hello World"),
        version: 3,
        kind: EventKind::Updated {
            before: MemoryMeta {
                tags: vec!["a".into()],
                memory_type: None,
                metadata: "{}".into(),
                updated_at: Timestamp(5),
            },
            after: MemoryMeta {
                tags: vec!["a".into(), "b".into()],
                memory_type: Some("note".into()),
                metadata: r#"{"k":"v"}"#.into(),
                updated_at: Timestamp(6),
            },
        },
    }
}

#[test]
fn golden_v1_bytes_still_decode() {
    // Written by version 0.1.0 (schema 1); this build writes schema 2, so the file is never regenerated.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events/v1.bin");
    let bytes = std::fs::read(path).expect("golden bytes are committed");
    assert_eq!(decode(&bytes).expect("decodes"), golden_v1());
}

/// The golden events of schema version 2: the two kinds it added.
fn golden_v2() -> Vec<Event> {
    let base = golden_v1();
    vec![
        Event { seq: Seq(43), kind: EventKind::Redacted { reason: Some("GDPR request".into()) }, ..base.clone() },
        Event { seq: Seq(41), kind: EventKind::Erased { was: "stored".into() }, ..base },
    ]
}

#[test]
fn golden_v2_bytes_still_decode() {
    // Written by version 0.2.0 (schema 2); later builds encode a later version, so never regenerated.
    for (i, event) in golden_v2().into_iter().enumerate() {
        let path = format!("{}/tests/fixtures/events/v2-{i}.bin", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("golden bytes are committed");
        assert_eq!(decode(&bytes).expect("decodes"), event);
    }
}

fn upload(id: &str, chunks: &[&str]) -> DocumentUpload {
    DocumentUpload {
        upload_id: id.into(),
        file_name: "manual.pdf".into(),
        file_type: "pdf".into(),
        size: 1234,
        sha256: "ab".repeat(32),
        tags: vec!["docs".into()],
        memory_type: "document".into(),
        chunk_size: 1000,
        chunk_overlap: 200,
        pages: 2,
        chunks: chunks.iter().map(|c| ContentHash::of_content(c)).collect(),
        duplicates: 1,
    }
}

fn upload_event(id: &str, kind: EventKind) -> NewEvent {
    NewEvent { memory: ContentHash::of_upload(id), ..event("", kind) }
}

/// The golden events of schema version 3: the two kinds it added.
fn golden_v3() -> Vec<Event> {
    let base = Event { memory: ContentHash::of_upload("u-1"), version: 1, ..golden_v1() };
    vec![
        Event { kind: EventKind::DocumentIngested(upload("u-1", &["one", "two"])), ..base.clone() },
        Event {
            seq: Seq(50),
            version: 2,
            kind: EventKind::DocumentRemoved { reason: Some("outdated".into()), chunks_deleted: 2 },
            ..base
        },
    ]
}

#[test]
fn golden_v3_bytes_still_decode() {
    // Written by version 0.3.0 (schema 3); later builds encode a later version, so never regenerated.
    for (i, event) in golden_v3().into_iter().enumerate() {
        let path = format!("{}/tests/fixtures/events/v3-{i}.bin", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("golden bytes are committed");
        assert_eq!(decode(&bytes).expect("decodes"), event);
    }
}

/// The golden events encoded as V4 (log schema 5): the memory graph's two kinds.
fn golden_v4() -> Vec<Event> {
    let base = Event { seq: Seq(60), version: 4, ..golden_v1() };
    let target = ContentHash::of_content("Goodbye World");
    vec![
        Event {
            kind: EventKind::Related(Relation {
                target,
                relation_type: "causes".into(),
                strength: 0.875,
                reason: Some("the outage followed the deploy".into()),
            }),
            ..base.clone()
        },
        Event {
            seq: Seq(61),
            version: 5,
            kind: EventKind::Unrelated { target, relation_type: "causes".into() },
            ..base
        },
    ]
}

#[test]
fn golden_v4_bytes_still_decode() {
    for (i, event) in golden_v4().into_iter().enumerate() {
        // Written by version 0.5.0 (schema 5); later builds encode a later version, so never regenerated.
        let path = format!("{}/tests/fixtures/events/v4-{i}.bin", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("golden bytes are committed");
        assert_eq!(decode(&bytes).expect("decodes"), event);
    }
}

/// The golden events encoded as V5 (log schema 6): reversible forgetting's two kinds.
fn golden_v5() -> Vec<Event> {
    let base = Event { seq: Seq(70), version: 6, ..golden_v1() };
    let record = MemoryRecord {
        content: "Hello World".into(),
        tags: vec!["a".into(), "b".into()],
        memory_type: Some("note".into()),
        metadata: r#"{"k":"v"}"#.into(),
        created_at: Timestamp(5),
        updated_at: Timestamp(6),
    };
    vec![
        Event {
            kind: EventKind::Archived { reason: Some("relevance 0.04 < 0.1; not accessed for 120 days".into()) },
            ..base.clone()
        },
        Event { seq: Seq(71), version: 7, kind: EventKind::Unarchived(record), ..base },
    ]
}

#[test]
fn golden_v5_bytes_still_decode() {
    for (i, event) in golden_v5().into_iter().enumerate() {
        let path = format!("{}/tests/fixtures/events/v5-{i}.bin", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("MMS_WRITE_GOLDEN").is_some() {
            std::fs::write(&path, encode(&event)).expect("write golden bytes");
        }
        let bytes = std::fs::read(&path).expect("golden bytes are committed");
        assert_eq!(bytes, encode(&event), "V5 is what this build writes");
        assert_eq!(decode(&bytes).expect("decodes"), event);
    }
}

fn relate(source: &str, target: &str) -> NewEvent {
    let relation = Relation {
        target: ContentHash::of_content(target),
        relation_type: "related".into(),
        strength: 1.0,
        reason: None,
    };
    event(source, EventKind::Related(relation))
}

#[test]
fn relations_are_events_of_a_live_source_that_leave_it_live() {
    let (_dir, log) = open();
    assert!(matches!(log.append(vec![relate("a", "b")], vec![]), Err(AppendError::NotFound { .. })));
    log.append(vec![store("a"), store("b")], vec![]).expect("store");
    assert!(matches!(log.append(vec![relate("a", "a")], vec![]), Err(AppendError::SelfRelation { .. })));
    log.append(vec![relate("a", "b")], vec![]).expect("relate");
    let unrelate =
        || event("a", EventKind::Unrelated { target: ContentHash::of_content("b"), relation_type: "related".into() });
    log.append(vec![unrelate()], vec![]).expect("unrelate");
    let a = ContentHash::of_content("a");
    let head = log.head(&a).expect("head").expect("exists");
    assert_eq!((head.version, head.live), (3, true));
    let state = fold_history(&log.history(&a).expect("history"), Seq(u64::MAX)).expect("a state");
    assert_eq!((state.live, state.version, state.record), (true, 3, record("a")));
    log.append(vec![delete("a")], vec![]).expect("delete");
    assert!(matches!(log.append(vec![unrelate()], vec![]), Err(AppendError::NotFound { .. })));
    assert_eq!(log.last_seq(), Seq(5));
}

#[test]
fn archiving_keeps_a_memory_live_in_its_history_until_it_is_unarchived_or_deleted() {
    let (_dir, log) = open();
    let archive = || event("a", EventKind::Archived { reason: Some("stale".into()) });
    assert!(matches!(log.append(vec![archive()], vec![]), Err(AppendError::NotFound { .. })));
    log.append(vec![store("a")], vec![]).expect("store");
    log.append(vec![archive()], vec![]).expect("archive");
    let a = ContentHash::of_content("a");
    let fold = || fold_history(&log.history(&a).expect("history"), Seq(u64::MAX)).expect("a state");
    assert_eq!((fold().live, fold().archived, fold().version), (true, true, 2));
    assert_eq!(log.memory_counts().expect("counts").1, 1, "an archived memory is still live in the log");
    log.append(vec![update("a", &["u"])], vec![]).expect("an archived memory can be updated");
    assert!(fold().archived, "and stays archived");
    log.append(vec![event("a", EventKind::Unarchived(fold().record))], vec![]).expect("unarchive");
    assert_eq!((fold().archived, fold().record.tags.clone()), (false, vec!["u".to_string()]));
    log.append(vec![archive(), delete("a")], vec![]).expect("archive, delete");
    assert_eq!((fold().live, fold().archived), (false, false));
    assert!(matches!(log.append(vec![archive()], vec![]), Err(AppendError::NotFound { .. })));
    assert!(matches!(
        log.append(vec![event("a", EventKind::Unarchived(record("a")))], vec![]),
        Err(AppendError::NotFound { .. })
    ));
}

#[test]
fn an_upload_and_its_chunks_commit_together_and_its_key_is_no_memory() {
    let (_dir, log) = open();
    let ingested = EventKind::DocumentIngested(upload("u-1", &["one", "two"]));
    let mut events = vec![store("one"), store("two"), upload_event("u-1", ingested.clone())];
    let appended = log.append(events.clone(), vec![]).expect("append");
    assert_eq!(appended.iter().map(|a| a.seq.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(log.memory_counts().expect("counts").1, 2, "the upload is not a live memory");
    let key = ContentHash::of_upload("u-1");
    assert_eq!(fold_history(&log.history(&key).expect("history"), Seq(u64::MAX)), None);

    // The same upload id again is refused, and the chunk stored with it is not written either.
    events = vec![store("three"), upload_event("u-1", ingested)];
    assert!(matches!(log.append(events, vec![]), Err(AppendError::AlreadyExists { .. })));
    assert_eq!(log.last_seq(), Seq(3));
    assert_eq!(log.head(&ContentHash::of_content("three")).expect("head"), None);

    // A removal needs the upload; it is then the key's second event.
    let removed = || EventKind::DocumentRemoved { reason: None, chunks_deleted: 2 };
    let unknown = upload_event("u-2", removed());
    assert!(matches!(log.append(vec![unknown], vec![]), Err(AppendError::NotFound { .. })));
    let appended = log.append(vec![delete("one"), delete("two"), upload_event("u-1", removed())], vec![]);
    assert_eq!(appended.expect("remove").last().map(|a| a.version), Some(2));
    assert_eq!(log.memory_counts().expect("counts"), (3, 0));
    assert_ne!(ContentHash::of_upload("u-1"), ContentHash::of_content("document upload u-1"));
}

fn redact(content: &str) -> NewEvent {
    event(content, EventKind::Redacted { reason: Some("asked to forget".into()) })
}

fn file_contains(path: &std::path::Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).expect("read file");
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_redaction_erases_the_memory_from_the_log_and_its_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.redb");
    let secret = "my bank PIN is 4921-SECRET-CONTENT";
    let log = Log::open(&path).expect("open");
    let vector = VectorEntry { model: "m".into(), memory: ContentHash::of_content(secret), vector: vec![0.25; 4] };
    log.append(vec![store(secret), store("kept")], vec![vector]).expect("store");
    let mut meta = update(secret, &["SECRET-TAG"]);
    if let EventKind::Updated { after, .. } = &mut meta.kind {
        after.metadata = r#"{"note":"SECRET-METADATA"}"#.into();
    }
    log.append(vec![meta], vec![]).expect("update");
    let mut gone = delete(secret);
    gone.kind = EventKind::Deleted { reason: Some("SECRET-REASON".into()) };
    log.append(vec![gone], vec![]).expect("delete");
    let hash = ContentHash::of_content(secret);
    let appended = log.append(vec![redact(secret)], vec![]).expect("redact");
    assert_eq!(appended[0].version, 4);

    let history = log.history(&hash).expect("history");
    let kinds: Vec<_> = history.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::Erased { was: "stored".into() },
            EventKind::Erased { was: "updated".into() },
            EventKind::Erased { was: "deleted".into() },
            EventKind::Redacted { reason: Some("asked to forget".into()) },
        ]
    );
    assert!(history.iter().all(|e| e.actor == Actor::new(Interface::Cli, None)), "who and when are kept");
    assert_eq!(fold_history(&history, Seq(u64::MAX)), None);
    assert_eq!(fold_history(&history, Seq(1)), None, "before the redaction it reads as absent too");
    assert!(log.cached_vectors("m", &[hash]).expect("vectors").is_empty());
    assert_eq!(log.redactions().expect("redactions"), vec![(hash, appended[0].seq)]);
    let head = log.head(&hash).expect("head").expect("a head");
    assert!(!head.live);

    // Undelete and a second redaction are refused; storing the same content again starts a new life.
    let undelete = event(secret, EventKind::Undeleted(record(secret)));
    assert!(matches!(log.append(vec![undelete], vec![]), Err(AppendError::Redacted { .. })));
    assert!(matches!(log.append(vec![redact(secret)], vec![]), Err(AppendError::Redacted { .. })));
    assert!(matches!(log.append(vec![redact("never stored")], vec![]), Err(AppendError::NotFound { .. })));
    let erased = event(secret, EventKind::Erased { was: "stored".into() });
    assert!(matches!(log.append(vec![erased], vec![]), Err(AppendError::NotAppendable(_))));
    drop(log);

    // Reopening rewrites the file, so the erased bytes do not linger in free pages.
    let log = Log::open(&path).expect("reopen");
    for needle in ["SECRET-CONTENT", "SECRET-TAG", "SECRET-METADATA", "SECRET-REASON"] {
        assert!(!file_contains(&path, needle), "{needle} is still in the log file");
    }
    assert_eq!(log.last_seq(), Seq(5));
    assert_eq!(log.history(&hash).expect("history").len(), 4);
    let kept = log.history(&ContentHash::of_content("kept")).expect("history");
    assert!(matches!(&kept[0].kind, EventKind::Stored(r) if r.content == "kept"));
    log.append(vec![store(secret)], vec![]).expect("stored again after the redaction");
    assert!(fold_history(&log.history(&hash).expect("history"), Seq(u64::MAX)).is_some_and(|s| s.live));
}

#[test]
fn a_redaction_leaves_no_erased_bytes_in_the_log_file_while_it_stays_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.redb");
    let secret = "the door code is 7731-LIVE-SECRET";
    let log = Log::open(&path).expect("open");
    let hash = ContentHash::of_content(secret);
    let vector = VectorEntry { model: "m".into(), memory: hash, vector: vec![0.123_456_79; 8] };
    let vector_bytes: Vec<u8> = 0.123_456_79_f32.to_le_bytes().repeat(8);
    log.append(vec![store(secret), store("kept while open")], vec![vector]).expect("store");
    let file_holds = |needle: &[u8]| std::fs::read(&path).expect("read").windows(needle.len()).any(|w| w == needle);
    assert!(file_holds(b"LIVE-SECRET") && file_holds(&vector_bytes), "the file holds the memory before");
    log.append(vec![redact(secret)], vec![]).expect("redact");
    assert!(!file_holds(b"LIVE-SECRET"), "the content is still in the open log's file");
    assert!(!file_holds(&vector_bytes), "the vector is still in the open log's file");
    // The log goes on in the new file: reads, appends, and a reopen see everything.
    assert_eq!(log.history(&hash).expect("history").len(), 2);
    log.append(vec![store("written after the rewrite")], vec![]).expect("append after");
    assert_eq!(log.last_seq(), Seq(4));
    drop(log);
    let log = Log::open(&path).expect("reopen");
    assert_eq!(log.last_seq(), Seq(4));
    let after = log.history(&ContentHash::of_content("written after the rewrite")).expect("history");
    assert_eq!(after.len(), 1, "the append after the rewrite is in the file");
}

#[test]
fn redactions_reach_backups_taken_before_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = "the launch code is SECRET-IN-BACKUP";
    let log = Log::open(dir.path().join("log.redb")).expect("open");
    let vector = VectorEntry { model: "m".into(), memory: ContentHash::of_content(secret), vector: vec![0.5; 4] };
    log.append(vec![store(secret), store("other")], vec![vector]).expect("store");
    let backup = dir.path().join("backup.redb");
    log.snapshot(&backup).expect("snapshot");
    assert!(file_contains(&backup, "SECRET-IN-BACKUP"));
    log.append(vec![redact(secret)], vec![]).expect("redact");
    let redactions = log.redactions().expect("redactions");

    let done = mms_log::erase_in_file(&backup, &redactions).expect("erase");
    assert_eq!(done, mms_log::Erasure { events: 1, vectors: 1, memories: 1 });
    assert!(!file_contains(&backup, "SECRET-IN-BACKUP"));
    assert_eq!(mms_log::erase_in_file(&backup, &redactions).expect("again"), mms_log::Erasure::default());
    drop(log);
    let restored = Log::open(&backup).expect("the backup is still a log");
    let history = restored.history(&ContentHash::of_content(secret)).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, EventKind::Erased { was: "stored".into() });
    assert_eq!(restored.history(&ContentHash::of_content("other")).expect("history").len(), 1);
    assert!(restored.cached_vectors("m", &[ContentHash::of_content(secret)]).expect("vectors").is_empty());
    assert_eq!(restored.memory_counts().expect("counts"), (2, 1), "the redacted memory is not live in the backup");
}

/// A file backend whose writes and syncs fail once `failing` is set, like a disk that fills up or dies.
#[derive(Debug)]
struct FailingDisk {
    file: redb::backends::FileBackend,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl FailingDisk {
    fn check(&self) -> std::io::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(std::io::Error::other("injected I/O failure"))
        } else {
            Ok(())
        }
    }
}

impl redb::StorageBackend for FailingDisk {
    fn len(&self) -> std::io::Result<u64> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.file.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.check()?;
        self.file.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.check()?;
        self.file.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.file.write(offset, data)
    }
    fn close(&self) -> std::io::Result<()> {
        self.file.close()
    }
}

#[test]
fn a_failed_commit_stops_the_writer_and_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.redb");
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let open_disk = |failing: &Arc<std::sync::atomic::AtomicBool>| {
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).expect("file");
        FailingDisk { file: redb::backends::FileBackend::new(file).expect("backend"), failing: failing.clone() }
    };
    let acknowledged = {
        let log = Log::open_with_backend(&path, open_disk(&failing)).expect("open");
        let acknowledged = log.append(vec![store("kept")], vec![]).expect("append before the fault");
        failing.store(true, std::sync::atomic::Ordering::SeqCst);
        match log.append(vec![store("lost")], vec![]) {
            Err(error @ AppendError::WriterFailed(_)) => {
                // The storage error is kept as the source, not only in the message.
                let source = std::error::Error::source(&error).map(|s| s.to_string()).unwrap_or_default();
                assert!(source.contains("injected"), "{error}");
            }
            other => panic!("a failed commit must fail the append, got {other:?}"),
        }
        // No silent retry: even with the disk healthy again, this writer refuses until the log is reopened.
        failing.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(matches!(log.append(vec![store("later")], vec![]), Err(AppendError::WriterFailed(_))));
        acknowledged
    };
    let log = Log::open(&path).expect("reopen after the failure");
    let events = log.read_from(Seq(1), 10).expect("read");
    assert_eq!(events.len(), 1, "exactly the acknowledged event survives");
    assert_eq!(events[0].event_id, acknowledged[0].event_id);
    assert_eq!(log.append(vec![store("after reopen")], vec![]).expect("append")[0].seq, Seq(2));
}

#[test]
fn a_snapshot_taken_during_writes_is_a_consistent_prefix_of_the_log() {
    let (dir, log) = open();
    let hash = ContentHash::of_content("with a vector");
    log.append(
        vec![store("with a vector")],
        vec![VectorEntry { model: "m".into(), memory: hash, vector: vec![1.0, 2.0] }],
    )
    .expect("append");
    log.append(vec![delete("with a vector")], vec![]).expect("delete");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let snapshots: Vec<(std::path::PathBuf, mms_log::SnapshotInfo)> = std::thread::scope(|scope| {
        for w in 0..4 {
            let (log, stop) = (log.clone(), &stop);
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    log.append(vec![store(&format!("writer {w} memory {i}"))], vec![]).expect("append");
                    i += 1;
                }
            });
        }
        let taken = (0..3)
            .map(|n| {
                std::thread::sleep(Duration::from_millis(30));
                let path = dir.path().join(format!("snapshot-{n}.redb"));
                let info = log.snapshot(&path).expect("snapshot");
                (path, info)
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        taken
    });
    let everything = log.read_from(Seq(1), usize::MAX).expect("read the log");
    for (path, info) in &snapshots {
        assert!(matches!(log.snapshot(path), Err(mms_log::SnapshotError::Exists(_))), "never overwrites");
        let copy = Log::open(path).expect("a snapshot opens as a log");
        let events = copy.read_from(Seq(1), usize::MAX).expect("read the snapshot");
        assert!(info.events > 2, "writes went on during the snapshot: {info:?}");
        assert_eq!(events.len() as u64, info.events);
        assert_eq!((info.first_seq, info.last_seq), (Seq(1), Seq(info.events)));
        assert_eq!(info.last_at, events.last().expect("events").at);
        assert_eq!(events[..], everything[..events.len()], "a prefix of the log, event for event");
        let (_, live) = copy.memory_counts().expect("counts");
        assert_eq!(live, info.memories);
        assert_eq!(info.memories, info.events - 2, "every store but the deleted one is live");
        assert_eq!(copy.cached_vectors("m", &[hash]).expect("vectors")[&hash], vec![1.0, 2.0]);
        assert_eq!(copy.last_seq(), info.last_seq, "it continues where it ends");
    }
    assert!(snapshots.windows(2).all(|w| w[0].1.last_seq < w[1].1.last_seq), "later snapshots hold more");
    assert!(!dir.path().join("snapshot-0.partial").exists(), "no partial file is left");
}

#[test]
fn a_full_snapshot_plus_an_increment_is_the_whole_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::open(dir.path().join("log.redb")).expect("open");
    let vector =
        |c: &str, x: f32| VectorEntry { model: "m".into(), memory: ContentHash::of_content(c), vector: vec![x; 4] };
    log.append(vec![store("a"), store("b")], vec![vector("a", 0.1), vector("b", 0.2)]).expect("store");
    let base = dir.path().join("base.redb");
    log.snapshot(&base).expect("full");
    log.append(vec![update("a", &["x"]), delete("b"), store("c")], vec![vector("c", 0.3)]).expect("more");
    let increment = dir.path().join("inc.redb");
    let info = log.snapshot_since(&increment, Seq(2)).expect("increment");
    assert_eq!((info.first_seq, info.last_seq, info.events, info.memories), (Seq(3), Seq(5), 3, 2));
    let whole = dir.path().join("whole.redb");
    log.snapshot(&whole).expect("whole");

    let restored = dir.path().join("restored.redb");
    std::fs::copy(&base, &restored).expect("copy");
    assert_eq!(mms_log::apply_increment(&restored, &increment).expect("apply"), Seq(5));
    assert!(matches!(
        mms_log::apply_increment(&restored, &increment),
        Err(mms_log::SnapshotError::Gap { ends: Seq(5), starts: Seq(3) })
    ));
    drop(log);
    let (restored, whole) = (Log::open(&restored).expect("open"), Log::open(&whole).expect("open"));
    assert_eq!(restored.read_from(Seq(1), 100).expect("read"), whole.read_from(Seq(1), 100).expect("read"));
    for content in ["a", "b", "c"] {
        let hash = ContentHash::of_content(content);
        assert_eq!(restored.head(&hash).expect("head"), whole.head(&hash).expect("head"), "{content}");
        assert_eq!(restored.history(&hash).expect("history"), whole.history(&hash).expect("history"));
        assert_eq!(
            restored.cached_vectors("m", &[hash]).expect("vectors"),
            whole.cached_vectors("m", &[hash]).expect("vectors")
        );
    }
    assert_eq!(restored.memory_counts().expect("counts"), whole.memory_counts().expect("counts"));
    // An empty increment applies as nothing.
    let empty = dir.path().join("empty.redb");
    let info = whole.snapshot_since(&empty, Seq(5)).expect("empty increment");
    assert_eq!((info.events, info.first_seq), (0, Seq::ZERO));
}

#[test]
fn a_snapshot_names_the_latest_redaction_its_own_read_saw() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::open(dir.path().join("log.redb")).expect("open");
    let before = dir.path().join("before.redb");
    assert_eq!(log.snapshot(&before).expect("empty log").latest_redaction, Seq::ZERO);
    log.append(vec![store("a"), store("b"), store("c")], vec![]).expect("store");
    let first = log.append(vec![redact("a")], vec![]).expect("redact a")[0].seq;

    let full = dir.path().join("full.redb");
    let info = log.snapshot(&full).expect("full");
    let second = log.append(vec![redact("b")], vec![]).expect("redact b")[0].seq;
    assert_eq!(info.latest_redaction, first, "a redaction after the snapshot is not in it");
    let latest_in = |path: &std::path::Path| {
        let copy = Log::open(path).expect("a snapshot opens as a log");
        copy.redactions().expect("redactions").iter().map(|(_, seq)| *seq).max().unwrap_or(Seq::ZERO)
    };
    assert_eq!(latest_in(&full), info.latest_redaction, "the mark is the snapshot file's own");

    // An increment after the first redaction holds no row of it, yet was read after it erased the log.
    log.append(vec![store("d")], vec![]).expect("store d");
    let increment = dir.path().join("inc.redb");
    let info = log.snapshot_since(&increment, first).expect("increment");
    assert_eq!(info.latest_redaction, second);
    assert_eq!(latest_in(&increment), second, "the increment holds the redaction after its base");
}

#[test]
fn a_vector_cached_after_the_redaction_of_its_memory_is_not_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.redb");
    let secret = "my diary says SECRET-LATE-VECTOR";
    let hash = ContentHash::of_content(secret);
    // Values unlikely to occur in a redb file by chance, to look for in its bytes.
    let late = || VectorEntry { model: "m".into(), memory: hash, vector: vec![1234.5, -8765.25, 31.125, 0.0078125] };
    let needle: Vec<u8> = late().vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    let log = Log::open(&path).expect("open");
    log.append(vec![store(secret), store("kept")], vec![]).expect("store");
    // The embedding of the memory finishes only after it was redacted: the writer drops the vector,
    // whether it comes on its own or with the redaction itself.
    log.append(vec![redact(secret)], vec![late()]).expect("redact");
    log.append(vec![], vec![late()]).expect("a late vector is not an error");
    let kept = VectorEntry { model: "m".into(), memory: ContentHash::of_content("kept"), vector: vec![0.5; 4] };
    log.append(vec![], vec![kept]).expect("cache another memory's vector");
    assert!(log.cached_vectors("m", &[hash]).expect("vectors").is_empty());
    assert_eq!(log.cached_vectors("m", &[ContentHash::of_content("kept")]).expect("vectors").len(), 1);
    drop(log);
    let bytes = std::fs::read(&path).expect("read file");
    assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_slice()), "the vector's bytes are in the log file");

    // Stored again, the memory lives again and its vector is cached as any other.
    let log = Log::open(&path).expect("reopen");
    log.append(vec![store(secret)], vec![]).expect("stored again");
    log.append(vec![], vec![late()]).expect("cache");
    assert_eq!(log.cached_vectors("m", &[hash]).expect("vectors")[&hash], late().vector);
}
