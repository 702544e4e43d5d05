//! The memory graph, property-tested: after any sequence of stores, deletes, relates and unrelates through
//! the real log and read model, the edges equal a plain model's, and the graph's queries (neighbours within
//! some hops, shortest paths, subgraphs) equal a brute-force walk over the model's edges.

use mms_log::{
    Actor, ContentHash, EventId, EventKind, Expect, Interface, Log, MemoryRecord, NewEvent, Relation, Timestamp,
};
use mms_projections::{Direction, Projection, Projector, SqliteProjection, SqliteReader, VectorSource};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

const NODES: usize = 7;
const TYPES: [&str; 4] = ["causes", "follows", "related", "contradicts"];

fn symmetric(relation_type: &str) -> bool {
    matches!(relation_type, "related" | "contradicts")
}

struct UnitVectors;

impl VectorSource for UnitVectors {
    fn vectors(&self, wanted: &[(ContentHash, &str)]) -> Result<HashMap<ContentHash, Vec<f32>>, String> {
        let mut unit = vec![0.0; mms_projections::DIMENSIONS];
        unit[0] = 1.0;
        Ok(wanted.iter().map(|(h, _)| (*h, unit.clone())).collect())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Store(usize),
    Delete(usize),
    Relate(usize, usize, usize),
    Unrelate(usize, usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..NODES).prop_map(Op::Store),
        1 => (0..NODES).prop_map(Op::Delete),
        6 => (0..NODES, 0..NODES, 0..TYPES.len()).prop_map(|(a, b, t)| Op::Relate(a, b, t)),
        1 => (0..NODES, 0..NODES, 0..TYPES.len()).prop_map(|(a, b, t)| Op::Unrelate(a, b, t)),
    ]
}

fn content(i: usize) -> String {
    format!("node {i}")
}

fn hash(i: usize) -> String {
    ContentHash::of_content(&content(i)).to_hex()
}

fn new_event(i: usize, kind: EventKind) -> NewEvent {
    NewEvent {
        event_id: EventId::generate(),
        actor: Actor::new(Interface::Cli, None),
        memory: ContentHash::of_content(&content(i)),
        kind,
        expect: Expect::Any,
    }
}

fn event(op: &Op) -> NewEvent {
    match *op {
        Op::Store(i) => {
            let record = MemoryRecord {
                content: content(i),
                tags: vec![],
                memory_type: None,
                metadata: "{}".into(),
                created_at: Timestamp(1),
                updated_at: Timestamp(1),
            };
            new_event(i, EventKind::Stored(record))
        }
        Op::Delete(i) => new_event(i, EventKind::Deleted { reason: None }),
        Op::Relate(a, b, t) => {
            let relation = Relation {
                target: ContentHash::of_content(&content(b)),
                relation_type: TYPES[t].into(),
                strength: 1.0,
                reason: None,
            };
            new_event(a, EventKind::Related(relation))
        }
        Op::Unrelate(a, b, t) => new_event(
            a,
            EventKind::Unrelated { target: ContentHash::of_content(&content(b)), relation_type: TYPES[t].into() },
        ),
    }
}

/// What the commands mean: live memories, and edges as (source, target, type) with a symmetric edge kept
/// under whichever way it was last made.
#[derive(Default)]
struct Model {
    live: BTreeSet<String>,
    edges: BTreeSet<(String, String, String)>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Store(i) => {
                self.live.insert(hash(i));
            }
            Op::Delete(i) => {
                let h = hash(i);
                self.live.remove(&h);
                self.edges.retain(|(s, t, _)| *s != h && *t != h);
            }
            Op::Relate(a, b, t) => {
                let (a, b, t) = (hash(a), hash(b), TYPES[t].to_string());
                if self.live.contains(&b) {
                    if symmetric(&t) {
                        self.edges.remove(&(b.clone(), a.clone(), t.clone()));
                    }
                    self.edges.insert((a, b, t));
                }
            }
            Op::Unrelate(a, b, t) => {
                let (a, b, t) = (hash(a), hash(b), TYPES[t].to_string());
                if symmetric(&t) {
                    self.edges.remove(&(b.clone(), a.clone(), t.clone()));
                }
                self.edges.remove(&(a, b, t));
            }
        }
    }

    /// Where one step from `at` may go.
    fn steps(&self, at: &str, direction: Direction, types: &[String]) -> BTreeSet<String> {
        let mut next = BTreeSet::new();
        for (s, t, kind) in &self.edges {
            if !types.is_empty() && !types.contains(kind) {
                continue;
            }
            let any = symmetric(kind) || direction == Direction::Both;
            if s == at && (any || direction == Direction::Outgoing) {
                next.insert(t.clone());
            }
            if t == at && (any || direction == Direction::Incoming) {
                next.insert(s.clone());
            }
        }
        next
    }

    fn distances(&self, start: &str, max_hops: u32, direction: Direction, types: &[String]) -> Vec<(String, u32)> {
        let mut distance = BTreeMap::from([(start.to_string(), 0u32)]);
        let mut queue = VecDeque::from([start.to_string()]);
        while let Some(at) = queue.pop_front() {
            let d = distance[&at];
            if d == max_hops {
                continue;
            }
            for next in self.steps(&at, direction, types) {
                if !distance.contains_key(&next) {
                    distance.insert(next.clone(), d + 1);
                    queue.push_back(next);
                }
            }
        }
        distance.remove(start);
        let mut found: Vec<(String, u32)> = distance.into_iter().collect();
        found.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        found
    }
}

impl Model {
    /// Of the paths from `start` to `goal` of at most `max_hops` steps, the shortest, and of those the
    /// smallest as a list of hashes: every walk enumerated.
    fn smallest_path(
        &self,
        start: &str,
        goal: &str,
        max_hops: u32,
        direction: Direction,
        types: &[String],
    ) -> Option<Vec<String>> {
        let mut walks = vec![vec![start.to_string()]];
        for _ in 0..=max_hops {
            let mut arrived: Vec<&Vec<String>> =
                walks.iter().filter(|w| w.last().map(String::as_str) == Some(goal)).collect();
            arrived.sort();
            if let Some(first) = arrived.first() {
                return Some((*first).clone());
            }
            walks = walks
                .iter()
                .flat_map(|w| {
                    self.steps(w.last().expect("a walk has a start"), direction, types)
                        .into_iter()
                        .map(move |n| [w.clone(), vec![n]].concat())
                })
                .collect();
        }
        None
    }
}

/// The log and read model `ops` make (in a temporary directory), and the model of them.
fn built(ops: &[Op]) -> (tempfile::TempDir, Log, SqliteReader, Model) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::open(dir.path().join("log.redb")).expect("open log");
    let sqlite = SqliteProjection::open(&dir.path().join("read.db")).expect("open read model");
    let projections: Vec<Box<dyn Projection>> = vec![Box::new(sqlite)];
    let mut projector = Projector::new(log.clone(), projections, Arc::new(UnitVectors));
    let reader = SqliteReader::new(&dir.path().join("read.db"));
    let mut model = Model::default();
    for op in ops {
        // The log judges what applies (a relate needs a live source, never itself).
        if log.append(vec![event(op)], Vec::new()).is_ok() {
            model.apply(op);
        }
        projector.catch_up(|_, _| {}).expect("catch up");
    }
    (dir, log, reader, model)
}

#[test]
fn the_smallest_shortest_path_is_taken_on_the_parts_both_searches_found() {
    // 0 → 1, 2, 3 → 4 → 5, 6 → 7 ("causes"): the search from 0 widens to 1, 2 and 3, so the one from 7
    // widens three times (5 and 6, then 4, then 1, 2 and 3) before they meet, and either part has a tie.
    let mut ops: Vec<Op> = (0..8).map(Op::Store).collect();
    for (a, b) in [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4), (4, 5), (4, 6), (5, 7), (6, 7)] {
        ops.push(Op::Relate(a, b, 0));
    }
    let (_dir, _log, reader, model) = built(&ops);
    for direction in [Direction::Outgoing, Direction::Both] {
        let path = reader.path(&hash(0), &hash(7), 5, &[], direction).expect("path");
        assert_eq!(path.as_ref().map(Vec::len), Some(5));
        assert_eq!(path, model.smallest_path(&hash(0), &hash(7), 5, direction, &[]), "{direction:?}");
    }
    let back = reader.path(&hash(7), &hash(0), 5, &[], Direction::Incoming).expect("path");
    assert_eq!(back, model.smallest_path(&hash(7), &hash(0), 5, Direction::Incoming, &[]));
    assert_eq!(reader.path(&hash(0), &hash(7), 3, &[], Direction::Outgoing).expect("path"), None, "4 hops away");
}

fn directions() -> [Direction; 3] {
    [Direction::Both, Direction::Outgoing, Direction::Incoming]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn graph_queries_equal_a_brute_force_walk(ops in proptest::collection::vec(op(), 1..60), filtered in any::<bool>()) {
        let (dir, log, reader, model) = built(&ops);

        let mut edges: BTreeSet<(String, String, String)> = BTreeSet::new();
        for i in 0..NODES {
            for e in reader.edges_of(&hash(i)).expect("edges") {
                edges.insert((e.source, e.target, e.relationship_type));
            }
        }
        prop_assert_eq!(&edges, &model.edges);
        prop_assert_eq!(reader.edge_count().expect("count") as usize, model.edges.len());
        // Each memory's edge count, either end, for all of them at once (relevance in search uses it).
        let hashes: Vec<String> = (0..NODES).map(hash).collect();
        let counts = reader.connections(&hashes.iter().map(String::as_str).collect::<Vec<_>>()).expect("counts");
        for h in &hashes {
            let expected = model.edges.iter().filter(|(s, t, _)| s == h || t == h).count() as u32;
            prop_assert_eq!(counts[h], expected, "connections of {}", h);
        }

        let types: Vec<String> = if filtered { vec!["causes".into(), "related".into()] } else { Vec::new() };
        for i in 0..NODES {
            let start = hash(i);
            for direction in directions() {
                for hops in 1..=3 {
                    let found = reader.connected(&start, hops, &types, direction).expect("connected");
                    prop_assert_eq!(found, model.distances(&start, hops, direction, &types), "from {} {:?} {}", i, direction, hops);
                }
            }
            for j in 0..NODES {
                let goal = hash(j);
                for direction in directions() {
                    let path = reader.path(&start, &goal, 4, &types, direction).expect("path");
                    prop_assert_eq!(&path, &model.smallest_path(&start, &goal, 4, direction, &types), "path {} → {} {:?}", i, j, direction);
                    let expected = if i == j {
                        Some(0)
                    } else {
                        model.distances(&start, 4, direction, &types).into_iter().find(|(h, _)| *h == goal).map(|(_, d)| d)
                    };
                    prop_assert_eq!(path.as_ref().map(|p| p.len() as u32 - 1), expected, "path {} → {}", i, j);
                    if let Some(path) = path {
                        prop_assert_eq!(path.first(), Some(&start));
                        prop_assert_eq!(path.last(), Some(&goal));
                        for step in path.windows(2) {
                            prop_assert!(model.steps(&step[0], direction, &types).contains(&step[1]), "a step the graph has");
                        }
                    }
                }
            }
            let (nodes, sub_edges) = reader.subgraph(&start, 2, &types, 500).expect("subgraph");
            let mut expected_nodes: BTreeSet<String> =
                model.distances(&start, 2, Direction::Both, &types).into_iter().map(|(h, _)| h).collect();
            expected_nodes.insert(start.clone());
            prop_assert_eq!(nodes.first(), Some(&start));
            prop_assert_eq!(nodes.iter().cloned().collect::<BTreeSet<_>>(), expected_nodes.clone());
            let expected_edges: BTreeSet<(String, String, String)> = model
                .edges
                .iter()
                .filter(|(s, t, k)| expected_nodes.contains(s) && expected_nodes.contains(t) && (types.is_empty() || types.contains(k)))
                .cloned()
                .collect();
            let found_edges: BTreeSet<(String, String, String)> =
                sub_edges.into_iter().map(|e| (e.source, e.target, e.relationship_type)).collect();
            prop_assert_eq!(found_edges, expected_edges);
        }

        // The law: a replay of the whole log gives the same edges.
        let replayed = dir.path().join("replay.db");
        let sqlite = SqliteProjection::open(&replayed).expect("open replay");
        let mut replay = Projector::new(log.clone(), vec![Box::new(sqlite) as Box<dyn Projection>], Arc::new(UnitVectors));
        replay.catch_up(|_, _| {}).expect("replay");
        let replay_reader = SqliteReader::new(&replayed);
        for i in 0..NODES {
            prop_assert_eq!(replay_reader.edges_of(&hash(i)).expect("edges"), reader.edges_of(&hash(i)).expect("edges"));
        }
    }
}
