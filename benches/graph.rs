//! Memory graph queries at scale: `connected` within 2 hops, `path` and `subgraph` over a read model of
//! `MMS_BENCH_GRAPH_N` memories (100,000 by default) with five times as many relations, each from a random
//! memory to a random other one, of a random type (the figure: 100k memories and 500k edges).
//!
//! The read model is built once by applying `Stored` and `Related` events to the sqlite projection (vectors
//! are random: walks never read them) and kept in `<data dir>/graph-<N>/`; later runs reuse it.
//! Under `cargo test --benches` it uses 2,000 memories instead.
//!
//! Run: `cargo bench --bench graph`.

mod common;

use common::Rng;
use criterion::Criterion;
use mms_log::{Actor, ContentHash, Event, EventId, EventKind, Interface, Relation, Seq, Timestamp};
use mms_projections::{Applied, Direction, Projection, RELATION_TYPES, SqliteProjection, SqliteReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Relations per memory.
const EDGES_PER_MEMORY: usize = 5;
/// Events per applied batch: the projector's default batch size.
const BATCH: usize = 512;

fn hash(n: usize) -> ContentHash {
    ContentHash::of_content(&common::memory_text(n as u64))
}

fn event(seq: u64, memory: ContentHash, kind: EventKind) -> Event {
    Event {
        seq: Seq(seq),
        event_id: EventId::generate(),
        at: Timestamp::now(),
        actor: Actor::new(Interface::System, Some("bench".into())),
        memory,
        version: 1,
        kind,
    }
}

/// Builds (or finds) the read model of `n` memories and `n * EDGES_PER_MEMORY` relations.
fn read_model(n: usize) -> PathBuf {
    let dir = common::data_dir().join(format!("graph-{n}"));
    let path = dir.join("sqlite_vec.db");
    let done = dir.join("complete");
    if done.exists() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the bench's data directory");
    let started = Instant::now();
    let mut projection = SqliteProjection::open(&path).expect("the read model opens");
    let mut rng = Rng::new(20);
    let vector = rng.unit_vector();
    let mut seq = 0;
    let mut apply = |events: Vec<Event>| {
        let applied: Vec<Applied<'_>> =
            events.iter().map(|e| Applied { event: e, vector: Some(vector.as_slice()) }).collect();
        projection.apply(&applied).expect("applies");
    };
    for start in (0..n).step_by(BATCH) {
        let events = (start..(start + BATCH).min(n))
            .map(|i| {
                seq += 1;
                event(seq, hash(i), EventKind::Stored(common::record(&common::memory_text(i as u64))))
            })
            .collect();
        apply(events);
    }
    let edges = n * EDGES_PER_MEMORY;
    for start in (0..edges).step_by(BATCH) {
        let events = (start..(start + BATCH).min(edges))
            .map(|_| {
                let source = rng.below(n);
                let target = (source + 1 + rng.below(n - 1)) % n;
                let relation = Relation {
                    target: hash(target),
                    relation_type: RELATION_TYPES[rng.below(RELATION_TYPES.len())].name.into(),
                    strength: 1.0,
                    reason: None,
                };
                seq += 1;
                event(seq, hash(source), EventKind::Related(relation))
            })
            .collect();
        apply(events);
    }
    std::fs::write(&done, b"").expect("mark the read model complete");
    eprintln!("graph: built {n} memories and {edges} relations in {:.1} s", started.elapsed().as_secs_f64());
    path
}

fn walks(c: &mut Criterion, path: &Path, n: usize) {
    let reader = SqliteReader::new(path);
    eprintln!("graph: {} relations", reader.edge_count().expect("count"));
    let mut group = c.benchmark_group("graph");
    let mut rng = Rng::new(7);
    let mut reached = 0usize;
    let mut calls = 0usize;
    group.bench_function(format!("connected_2_hops_{n}"), |b| {
        b.iter(|| {
            let start = hash(rng.below(n)).to_hex();
            let found = reader.connected(&start, 2, &[], Direction::Both).expect("connected");
            reached += found.len();
            calls += 1;
        })
    });
    eprintln!("graph: connected within 2 hops reaches {:.0} memories on average", reached as f64 / calls.max(1) as f64);
    group.bench_function(format!("connected_2_hops_one_type_{n}"), |b| {
        b.iter(|| {
            let start = hash(rng.below(n)).to_hex();
            reader.connected(&start, 2, &["causes".to_string()], Direction::Both).expect("connected")
        })
    });
    group.bench_function(format!("path_max_5_both_{n}"), |b| {
        b.iter(|| {
            let (from, to) = (hash(rng.below(n)).to_hex(), hash(rng.below(n)).to_hex());
            reader.path(&from, &to, 5, &[], Direction::Both).expect("path")
        })
    });
    group.bench_function(format!("subgraph_radius_1_{n}"), |b| {
        b.iter(|| {
            let start = hash(rng.below(n)).to_hex();
            reader.subgraph(&start, 1, &[], 500).expect("subgraph")
        })
    });
    group.finish();
}

fn main() {
    let n = match common::bench_mode() {
        true => std::env::var("MMS_BENCH_GRAPH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000),
        false => 2_000,
    };
    let path = read_model(n);
    let mut c = common::criterion();
    walks(&mut c, &path, n);
    c.final_summary();
}
