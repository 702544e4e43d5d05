//! The memory graph in the read model: typed edges between memories, folded from the `Related` and
//! `Unrelated` events of the log into the `memory_graph` table, and the queries over it (neighbours within
//! some hops, shortest path, subgraph, counts by type).
//!
//! An edge exists only while both of its memories are live. Symmetric types are one row, followed both ways
//! whatever the direction asked; the others are followed from source to target, or backwards when asked.

use crate::read::{ReadError, SqliteReader};
use crate::sqlite::{execute, query_row};
use mms_log::{Event, Relation};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::{BTreeSet, HashMap, HashSet};

/// A relationship type of the graph, as the newer original's ontology names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelationType {
    pub name: &'static str,
    pub description: &'static str,
    /// A symmetric edge (A related B is B related A) is followed both ways.
    pub symmetric: bool,
}

/// Every type an edge may have; "related" is the default.
pub const RELATION_TYPES: &[RelationType] = &[
    RelationType { name: "causes", description: "A causes B (causal relationship)", symmetric: false },
    RelationType { name: "fixes", description: "A fixes B (remediation relationship)", symmetric: false },
    RelationType { name: "contradicts", description: "A contradicts B (conflict relationship)", symmetric: true },
    RelationType { name: "supports", description: "A supports B (reinforcement relationship)", symmetric: false },
    RelationType { name: "follows", description: "A follows B (temporal/sequential relationship)", symmetric: false },
    RelationType { name: "related", description: "A is related to B (generic association)", symmetric: true },
];

/// The type of this name, if it is one.
pub fn relation_type(name: &str) -> Option<&'static RelationType> {
    RELATION_TYPES.iter().find(|t| t.name == name)
}

fn is_symmetric(name: &str) -> bool {
    relation_type(name).is_some_and(|t| t.symmetric)
}

/// Which edges a walk follows from a memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Every edge, whichever end the memory is.
    #[default]
    Both,
    /// Edges from the memory (and symmetric ones).
    Outgoing,
    /// Edges to the memory (and symmetric ones).
    Incoming,
}

/// One edge of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeRow {
    pub source: String,
    pub target: String,
    pub relationship_type: String,
    pub strength: f64,
    pub reason: Option<String>,
    /// "interface" or "interface:id" of who made the edge.
    pub actor: String,
    /// Seconds since the epoch.
    pub created_at: f64,
    pub seq: u64,
}

impl EdgeRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<EdgeRow> {
        Ok(EdgeRow {
            source: row.get(0)?,
            target: row.get(1)?,
            relationship_type: row.get(2)?,
            strength: row.get(3)?,
            reason: row.get(4)?,
            actor: row.get(5)?,
            created_at: row.get(6)?,
            seq: row.get::<_, i64>(7)? as u64,
        })
    }

    /// Whether this edge is symmetric.
    pub fn symmetric(&self) -> bool {
        is_symmetric(&self.relationship_type)
    }

    /// The memory a walk reaches over this edge from `from`, if it may go that way.
    fn step(&self, from: &str, direction: Direction) -> Option<&str> {
        let both = self.symmetric() || direction == Direction::Both;
        if self.source == from && (both || direction == Direction::Outgoing) {
            Some(&self.target)
        } else if self.target == from && (both || direction == Direction::Incoming) {
            Some(&self.source)
        } else {
            None
        }
    }
}

impl Direction {
    /// The direction that walks the same edges the other way.
    fn reversed(self) -> Direction {
        match self {
            Direction::Both => Direction::Both,
            Direction::Outgoing => Direction::Incoming,
            Direction::Incoming => Direction::Outgoing,
        }
    }
}

/// A breadth-first search from one memory, a layer at a time: each memory reached, its distance, and the
/// memories of the layer before that step to it.
struct Search {
    direction: Direction,
    /// Whether to keep `from` (a path needs it, `connected` does not).
    paths: bool,
    depth: HashMap<String, u32>,
    layers: Vec<Vec<String>>,
    /// For each memory reached, every memory one hop nearer the start with an edge to it (when `paths`).
    from: HashMap<String, BTreeSet<String>>,
}

impl Search {
    fn new(start: &str, direction: Direction, paths: bool) -> Search {
        let depth = HashMap::from([(start.to_string(), 0)]);
        Search { direction, paths, depth, layers: vec![vec![start.to_string()]], from: HashMap::new() }
    }

    fn frontier(&self) -> &[String] {
        self.layers.last().expect("a search has its start")
    }

    /// Reads the edges of the last layer and adds the next one (in hash order), which it returns.
    fn expand(&mut self, reader: &SqliteReader, types: &[String]) -> Result<&[String], ReadError> {
        let hop = self.layers.len() as u32;
        let Search { direction, paths, depth, layers, from } = self;
        let frontier: HashSet<&str> =
            layers.last().expect("a search has its start").iter().map(String::as_str).collect();
        let refs: Vec<&str> = frontier.iter().copied().collect();
        let mut layer = BTreeSet::new();
        for edge in reader.edges_touching(&refs, types)? {
            for end in [&edge.source, &edge.target] {
                let Some(reached) = edge.step(end, *direction).filter(|_| frontier.contains(end.as_str())) else {
                    continue;
                };
                match depth.get(reached) {
                    Some(at) if *at < hop => continue,
                    Some(_) => {}
                    None => {
                        depth.insert(reached.to_string(), hop);
                        layer.insert(reached.to_string());
                    }
                }
                if *paths {
                    from.entry(reached.to_string()).or_default().insert(end.clone());
                }
            }
        }
        layers.push(layer.into_iter().collect());
        Ok(self.frontier())
    }
}

/// The smallest shortest path by hash, from the forward search's start through one of the `meeting`
/// memories (all at the same distance from either end) to the backward search's start.
fn smallest_path(forward: &Search, backward: &Search, meeting: BTreeSet<String>) -> Vec<String> {
    let split = forward.depth[meeting.first().expect("memories meet")] as usize;
    // The memories at each distance from the start that lie on a shortest path, from the meeting back.
    let mut on_path = vec![BTreeSet::new(); split + 1];
    on_path[split] = meeting;
    for at in (1..=split).rev() {
        let before: BTreeSet<String> = on_path[at].iter().flat_map(|m| forward.from[m].iter().cloned()).collect();
        on_path[at - 1] = before;
    }
    let mut path = vec![forward.layers[0][0].clone()];
    for layer in &on_path[1..] {
        let last = path.last().expect("the path has its start");
        let next = layer.iter().find(|m| forward.from[*m].contains(last)).expect("a step along the path");
        path.push(next.clone());
    }
    // From the meeting on, each memory's smallest step toward the end.
    while let Some(next) = backward.from.get(path.last().expect("the path has its start")) {
        path.push(next.first().expect("a memory reached has a step").clone());
    }
    path
}

/// A memory of the graph and how many edges it has (either end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDegree {
    pub hash: String,
    pub connections: u64,
}

/// Unordered pairs of linked memories, each as (smaller hash, larger hash).
pub type LinkedPairs = HashSet<(String, String)>;

const COLUMNS: &str = "source_hash, target_hash, relationship_type, strength, reason, actor, created_at, seq";
/// Hashes per `IN (...)` list of one query.
const CHUNK: usize = 500;

/// Whether a memory is live, archived or not (an archived memory keeps its edges and can be linked).
fn memory_is_live(txn: &Connection, hash: &str) -> rusqlite::Result<bool> {
    let sql = "SELECT 1 FROM memories WHERE content_hash = ?1 UNION ALL \
               SELECT 1 FROM archived_memories WHERE content_hash = ?1 LIMIT 1";
    Ok(query_row(txn, sql, [hash], |_| Ok(())).optional()?.is_some())
}

/// Makes (or replaces) the edge a `Related` event records. An edge to a memory that is not live (deleted
/// between the service's check and the commit) is not made, in a replay as live.
pub(crate) fn relate(txn: &Connection, event: &Event, relation: &Relation) -> rusqlite::Result<()> {
    let source = event.memory.to_hex();
    let target = relation.target.to_hex();
    if !memory_is_live(txn, &target)? {
        return Ok(());
    }
    if is_symmetric(&relation.relation_type) {
        execute(
            txn,
            "DELETE FROM memory_graph WHERE source_hash = ? AND target_hash = ? AND relationship_type = ?",
            params![target, source, relation.relation_type],
        )?;
    }
    execute(
        txn,
        &format!("INSERT OR REPLACE INTO memory_graph ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
        params![
            source,
            target,
            relation.relation_type,
            relation.strength,
            relation.reason,
            event.actor.label(),
            event.at.as_secs_f64(),
            event.seq.0 as i64,
        ],
    )?;
    Ok(())
}

/// Removes the edge an `Unrelated` event names (either way round for a symmetric type).
pub(crate) fn unrelate(txn: &Connection, source: &str, target: &str, relation_type: &str) -> rusqlite::Result<()> {
    let delete = "DELETE FROM memory_graph WHERE source_hash = ? AND target_hash = ? AND relationship_type = ?";
    execute(txn, delete, params![source, target, relation_type])?;
    if is_symmetric(relation_type) {
        execute(txn, delete, params![target, source, relation_type])?;
    }
    Ok(())
}

/// Removes every edge of a memory that stops being live.
pub(crate) fn remove_edges_of(txn: &Connection, hash: &str) -> rusqlite::Result<()> {
    execute(txn, "DELETE FROM memory_graph WHERE source_hash = ?", [hash])?;
    execute(txn, "DELETE FROM memory_graph WHERE target_hash = ?", [hash])?;
    Ok(())
}

/// `relationship_type IN (...)` and its values, or nothing when every type is followed.
fn type_condition(types: &[String]) -> (String, Vec<Value>) {
    if types.is_empty() {
        return (String::new(), Vec::new());
    }
    let marks = vec!["?"; types.len()].join(", ");
    (format!(" AND relationship_type IN ({marks})"), types.iter().map(|t| Value::Text(t.clone())).collect())
}

impl SqliteReader {
    fn edge_rows(&self, sql: &str, params: Vec<Value>) -> Result<Vec<EdgeRow>, ReadError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(params), EdgeRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The edges touching any of `hashes` (of the given types; all when empty), each once.
    fn edges_touching(&self, hashes: &[&str], types: &[String]) -> Result<Vec<EdgeRow>, ReadError> {
        let (condition, type_params) = type_condition(types);
        let mut edges = Vec::new();
        for chunk in hashes.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT {COLUMNS} FROM memory_graph WHERE source_hash IN ({marks}){condition} \
                 UNION SELECT {COLUMNS} FROM memory_graph WHERE target_hash IN ({marks}){condition}"
            );
            let hashes = chunk.iter().map(|h| Value::Text(h.to_string()));
            let params: Vec<Value> = hashes
                .clone()
                .chain(type_params.iter().cloned())
                .chain(hashes)
                .chain(type_params.iter().cloned())
                .collect();
            edges.extend(self.edge_rows(&sql, params)?);
        }
        Ok(edges)
    }

    /// How many edges each of these memories has, either end (in one query per thousand memories).
    pub fn connections(&self, hashes: &[&str]) -> Result<HashMap<String, u32>, ReadError> {
        let mut counts: HashMap<String, u32> = hashes.iter().map(|h| (h.to_string(), 0)).collect();
        for edge in self.edges_touching(hashes, &[])? {
            for end in [&edge.source, &edge.target] {
                if let Some(count) = counts.get_mut(end.as_str()) {
                    *count += 1;
                }
            }
        }
        Ok(counts)
    }

    /// Every edge of a memory, either end, oldest first.
    pub fn edges_of(&self, hash: &str) -> Result<Vec<EdgeRow>, ReadError> {
        let mut edges = self.edges_touching(&[hash], &[])?;
        edges.sort_by_key(|e| e.seq);
        Ok(edges)
    }

    /// The edge of this type between the two memories: from `source` to `target`, or either way for a
    /// symmetric type.
    pub fn edge(&self, source: &str, target: &str, relation_type: &str) -> Result<Option<EdgeRow>, ReadError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM memory_graph WHERE source_hash = ? AND target_hash = ? AND relationship_type = ?"
        );
        let one = |s: &str, t: &str| {
            self.edge_rows(
                &sql,
                vec![Value::from(s.to_string()), Value::from(t.to_string()), Value::from(relation_type.to_string())],
            )
            .map(|mut rows| rows.pop())
        };
        match one(source, target)? {
            Some(edge) => Ok(Some(edge)),
            None if is_symmetric(relation_type) => one(target, source),
            None => Ok(None),
        }
    }

    /// The memories within `max_hops` edges of `hash` (not itself) and their distance, nearest first, then
    /// by hash.
    pub fn connected(
        &self,
        hash: &str,
        max_hops: u32,
        types: &[String],
        direction: Direction,
    ) -> Result<Vec<(String, u32)>, ReadError> {
        let mut search = Search::new(hash, direction, false);
        for _ in 0..max_hops {
            if search.expand(self, types)?.is_empty() {
                break;
            }
        }
        let mut found: Vec<(String, u32)> = search.depth.into_iter().filter(|(h, _)| h != hash).collect();
        found.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(found)
    }

    /// A shortest path from `from` to `to` of at most `max_hops` edges (the memories on it, both ends
    /// included), following edges forward unless `direction` says otherwise. Of several shortest paths, the
    /// one whose memories come first by hash, from `from` on.
    ///
    /// A breadth-first search from both ends, each step widening the side with the smaller frontier, so a
    /// path of d hops reads about twice the memories within d/2 hops of either end rather than all those
    /// within d of `from`.
    pub fn path(
        &self,
        from: &str,
        to: &str,
        max_hops: u32,
        types: &[String],
        direction: Direction,
    ) -> Result<Option<Vec<String>>, ReadError> {
        if from == to {
            return Ok(Some(vec![from.to_string()]));
        }
        let (mut forward, mut backward) =
            (Search::new(from, direction, true), Search::new(to, direction.reversed(), true));
        let mut hops = 0;
        while hops < max_hops {
            hops += 1;
            let widen_forward = forward.frontier().len() <= backward.frontier().len();
            let (widened, other) = match widen_forward {
                true => (&mut forward, &backward),
                false => (&mut backward, &forward),
            };
            let layer = widened.expand(self, types)?;
            if layer.is_empty() {
                return Ok(None);
            }
            // The memories of the new layer the other side has reached, nearest to its end: every shortest
            // path goes through one of them.
            let Some(nearest) = layer.iter().filter_map(|m| other.depth.get(m)).min().copied() else { continue };
            let meeting: BTreeSet<String> =
                layer.iter().filter(|m| other.depth.get(*m) == Some(&nearest)).cloned().collect();
            return Ok(Some(smallest_path(&forward, &backward, meeting)));
        }
        Ok(None)
    }

    /// The memories within `radius` hops of `hash` (either direction; `hash` first, then by distance, at
    /// most `max_nodes`) and every edge between two of them.
    pub fn subgraph(
        &self,
        hash: &str,
        radius: u32,
        types: &[String],
        max_nodes: usize,
    ) -> Result<(Vec<String>, Vec<EdgeRow>), ReadError> {
        let mut nodes = vec![hash.to_string()];
        nodes.extend(
            self.connected(hash, radius, types, Direction::Both)?.into_iter().map(|(h, _)| h).take(max_nodes - 1),
        );
        let set: BTreeSet<&str> = nodes.iter().map(String::as_str).collect();
        let refs: Vec<&str> = set.iter().copied().collect();
        let mut edges: Vec<EdgeRow> = self
            .edges_touching(&refs, types)?
            .into_iter()
            .filter(|e| set.contains(e.source.as_str()) && set.contains(e.target.as_str()))
            .collect();
        edges.sort_by_key(|e| e.seq);
        Ok((nodes, edges))
    }

    /// How many edges there are of each type, most first (each edge counted once, symmetric or not).
    pub fn relationship_type_counts(&self) -> Result<Vec<(String, u64)>, ReadError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT relationship_type, count(*) AS n FROM memory_graph GROUP BY relationship_type \
             ORDER BY n DESC, relationship_type",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many edges the graph holds.
    pub fn edge_count(&self) -> Result<u64, ReadError> {
        let conn = self.conn()?;
        Ok(conn.query_row("SELECT count(*) FROM memory_graph", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The most connected memories (at least `min_connections` edges, either end), most first and then by
    /// hash, at most `limit`, with their edge counts; and every edge between two of them.
    pub fn most_connected(
        &self,
        limit: usize,
        min_connections: u64,
    ) -> Result<(Vec<NodeDegree>, Vec<EdgeRow>), ReadError> {
        let nodes: Vec<NodeDegree> = {
            let conn = self.conn()?;
            let mut stmt = conn.prepare_cached(
                "SELECT hash, count(*) AS n FROM (SELECT source_hash AS hash FROM memory_graph \
                 UNION ALL SELECT target_hash FROM memory_graph) GROUP BY hash HAVING n >= ? \
                 ORDER BY n DESC, hash LIMIT ?",
            )?;
            let rows = stmt.query_map(params![min_connections as i64, limit as i64], |r| {
                Ok(NodeDegree { hash: r.get(0)?, connections: r.get::<_, i64>(1)? as u64 })
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let set: BTreeSet<&str> = nodes.iter().map(|n| n.hash.as_str()).collect();
        let refs: Vec<&str> = set.iter().copied().collect();
        let mut edges: Vec<EdgeRow> = self
            .edges_touching(&refs, &[])?
            .into_iter()
            .filter(|e| set.contains(e.source.as_str()) && set.contains(e.target.as_str()))
            .collect();
        edges.sort_by_key(|e| e.seq);
        Ok((nodes, edges))
    }

    /// Every pair of memories with at least one edge between them (either way, any type), each pair
    /// ordered `(smaller hash, larger hash)`, and each memory's number of edges: what a consolidation run
    /// reads to skip linked pairs and to boost connected memories.
    pub fn linked_pairs(&self) -> Result<(LinkedPairs, HashMap<String, u32>), ReadError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT source_hash, target_hash FROM memory_graph")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let (mut pairs, mut degrees) = (HashSet::new(), HashMap::new());
        for row in rows {
            let (source, target) = row?;
            *degrees.entry(source.clone()).or_insert(0) += 1;
            *degrees.entry(target.clone()).or_insert(0) += 1;
            pairs.insert(if source <= target { (source, target) } else { (target, source) });
        }
        Ok((pairs, degrees))
    }
}
