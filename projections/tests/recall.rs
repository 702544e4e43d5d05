//! The ANN index against exact search: recall@10 within budget, every stored vector findable, deletes
//! honoured, a deleted then redacted vector gone from the saved files, and a saved index reloads to the same
//! answers. Thousands of stores arrive in one batch, as in a rebuild.

mod support;

use mms_log::{ContentHash, Event, EventKind, Seq};
use mms_projections::{AnnIndex, AnnOptions, Applied, DIMENSIONS};

/// Clustered unit vectors (a few hundred topics with variations), closer to real embeddings than
/// uniform noise, on which nearest neighbours are well defined.
fn vectors(count: usize, noise_seed: u64) -> Vec<Vec<f32>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 20_000) as f32 / 10_000.0 - 1.0
    };
    // The same topics for every call; the seed only changes the variations, so queries are drawn from the
    // same distribution as the data without being copies of it.
    let centres: Vec<Vec<f32>> = (0..200).map(|_| (0..DIMENSIONS).map(|_| next()).collect()).collect();
    for _ in 0..noise_seed {
        next();
    }
    (0..count)
        .map(|i| {
            let centre = &centres[i % centres.len()];
            let mut v: Vec<f32> = centre.iter().map(|c| c + 0.35 * next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}

fn stored(seq: u64, content: &str) -> Event {
    support::stored(seq, content, &[])
}

#[test]
fn ann_recall_against_exact_search_is_within_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let count = 4000;
    let data = vectors(count, 7);
    let events: Vec<Event> = (0..count).map(|i| stored(i as u64 + 1, &format!("memory {i}"))).collect();
    let ann = AnnIndex::open(dir.path(), AnnOptions::default()).expect("open");
    let batch: Vec<Applied<'_>> =
        events.iter().zip(&data).map(|(event, v)| Applied { event, vector: Some(v.as_slice()) }).collect();
    ann.apply(&batch).expect("apply one large batch");
    assert_eq!(ann.len(), count);

    let queries = vectors(100, 99);
    let mut found = 0;
    for query in &queries {
        let approximate = ann.search(query, 10).expect("search");
        let exact = ann.exact_search(query, 10).expect("exact");
        found += exact.iter().filter(|h| approximate.contains(h)).count();
    }
    let recall = found as f64 / (queries.len() * 10) as f64;
    eprintln!("recall@10 = {recall:.3}");
    assert!(recall >= 0.95, "recall@10 = {recall:.3}, budget 0.95");

    for (event, vector) in events.iter().zip(&data).take(200) {
        let best = ann.search(vector, 1).expect("search");
        assert_eq!(best.first(), Some(&event.memory), "a stored vector finds itself");
    }

    // Deleting removes from results; saving and reopening keeps the same index and checkpoint.
    let delete = Event { seq: Seq(count as u64 + 1), kind: EventKind::Deleted { reason: None }, ..events[0].clone() };
    ann.apply(&[Applied { event: &delete, vector: None }]).expect("delete");
    assert!(ann.search(&data[0], 5).expect("search").iter().all(|h| *h != events[0].memory));
    ann.persist().expect("save");
    let reopened = AnnIndex::open(dir.path(), AnnOptions::default()).expect("reopen");
    assert_eq!(reopened.len(), count - 1);
    assert_eq!(reopened.applied(), Seq(count as u64 + 1));
    assert_eq!(reopened.search(&queries[0], 10).expect("search"), ann.search(&queries[0], 10).expect("search"));
}

fn event(seq: u64, content: &str, kind: EventKind) -> Event {
    Event { version: 2, ..support::event(seq, content, kind) }
}

/// The bytes the index holds for `vector`: usearch scales it to unit length and by 127, and truncates each
/// component to an 8-bit integer.
fn i8_bytes(vector: &[f32]) -> Vec<u8> {
    let magnitude = vector.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    vector.iter().map(|x| (f64::from(*x) * 127.0 / magnitude).clamp(-127.0, 127.0) as i8 as u8).collect()
}

fn saved_files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    ["ann.usearch", "ann.keys"].iter().any(|name| {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[test]
fn a_deleted_then_redacted_vector_leaves_no_bytes_in_the_saved_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A pattern no other vector here has.
    let secret: Vec<f32> = (0..DIMENSIONS).map(|i| (1 + i % 7) as f32 * if i % 2 == 0 { 0.5 } else { -0.25 }).collect();
    let others = vectors(20, 3);
    let needle = i8_bytes(&secret);
    let mut events = vec![stored(1, "secret")];
    events.extend((0..others.len()).map(|i| stored(i as u64 + 2, &format!("other {i}"))));
    let mut batch = vec![Applied { event: &events[0], vector: Some(secret.as_slice()) }];
    batch.extend(events[1..].iter().zip(&others).map(|(event, v)| Applied { event, vector: Some(v.as_slice()) }));
    let ann = AnnIndex::open(dir.path(), AnnOptions::default()).expect("open");
    ann.apply(&batch).expect("store");
    let deleted = event(22, "secret", EventKind::Deleted { reason: None });
    ann.apply(&[Applied { event: &deleted, vector: None }]).expect("delete");
    ann.persist().expect("save");
    assert!(saved_files_contain(dir.path(), &needle), "usearch keeps a removed vector's bytes");
    drop(ann);

    // Reopened from that save, the index still knows it once held the memory: the redaction starts it over.
    let ann = AnnIndex::open(dir.path(), AnnOptions::default()).expect("reopen");
    assert_eq!(ann.len(), others.len());
    let redacted = event(23, "secret", EventKind::Redacted { reason: None });
    ann.apply(&[Applied { event: &redacted, vector: None }]).expect("redact");
    assert_eq!((ann.len(), ann.applied()), (0, Seq::ZERO), "the index starts over");
    assert!(!saved_files_contain(dir.path(), &needle));
    // The projector replays the log, where the memory's events are erased.
    let erased = |seq, was: &str| event(seq, "secret", EventKind::Erased { was: was.into() });
    let replay = [erased(1, "stored"), erased(22, "deleted"), redacted.clone()];
    let mut batch: Vec<Applied<'_>> = vec![Applied { event: &replay[0], vector: None }];
    batch.extend(events[1..].iter().zip(&others).map(|(event, v)| Applied { event, vector: Some(v.as_slice()) }));
    batch.extend(replay[1..].iter().map(|event| Applied { event, vector: None }));
    ann.apply(&batch).expect("replay");
    assert_eq!((ann.len(), ann.applied()), (others.len(), Seq(23)), "the replay does not start over again");
    ann.persist().expect("save");
    assert!(!saved_files_contain(dir.path(), &needle), "the redacted vector is in the saved index");
    assert_eq!(ann.search(&others[0], 1).expect("search")[0], ContentHash::of_content("other 0"));
}
