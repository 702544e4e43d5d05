//! The ANN index against exact search: recall@10 within budget, every stored vector findable, deletes
//! honoured, and a saved index reloads to the same answers. Thousands of stores arrive in one batch, as in
//! a rebuild.

use mms_log::{Actor, ContentHash, Event, EventId, EventKind, Interface, MemoryRecord, Seq, Timestamp};
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
    Event {
        seq: Seq(seq),
        event_id: EventId::generate(),
        at: Timestamp(seq as i64),
        actor: Actor::new(Interface::System, None),
        memory: ContentHash::of_content(content),
        version: 1,
        kind: EventKind::Stored(MemoryRecord {
            content: content.into(),
            tags: vec![],
            memory_type: None,
            metadata: "{}".into(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }),
    }
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
        let approximate: Vec<ContentHash> =
            ann.search(query, 10).expect("search").into_iter().map(|(h, _)| h).collect();
        let exact: Vec<ContentHash> = ann.exact_search(query, 10).expect("exact").into_iter().map(|(h, _)| h).collect();
        found += exact.iter().filter(|h| approximate.contains(h)).count();
    }
    let recall = found as f64 / (queries.len() * 10) as f64;
    eprintln!("recall@10 = {recall:.3}");
    assert!(recall >= 0.95, "recall@10 = {recall:.3}, budget 0.95");

    for (event, vector) in events.iter().zip(&data).take(200) {
        let best = ann.search(vector, 1).expect("search");
        assert_eq!(best.first().map(|(h, _)| *h), Some(event.memory), "a stored vector finds itself");
    }

    // Deleting removes from results; saving and reopening keeps the same index and checkpoint.
    let delete = Event { seq: Seq(count as u64 + 1), kind: EventKind::Deleted { reason: None }, ..events[0].clone() };
    ann.apply(&[Applied { event: &delete, vector: None }]).expect("delete");
    assert!(ann.search(&data[0], 5).expect("search").iter().all(|(h, _)| *h != events[0].memory));
    ann.persist().expect("save");
    let reopened = AnnIndex::open(dir.path(), AnnOptions::default()).expect("reopen");
    assert_eq!(reopened.len(), count - 1);
    assert_eq!(reopened.applied(), Seq(count as u64 + 1));
    assert_eq!(reopened.search(&queries[0], 10).expect("search"), ann.search(&queries[0], 10).expect("search"));
}
