//! The memory graph in the read model: typed edges between memories, folded from the `Related` and
//! `Unrelated` events of the log into the `memory_graph` table, and the queries over it (neighbours within
//! some hops, shortest path, subgraph, counts by type).
//!
//! An edge exists only while both of its memories are live. Symmetric types are one row, followed both ways
//! whatever the direction asked; the others are followed from source to target, or backwards when asked.

use crate::read::{ReadError, SqliteReader};
use mms_log::{Event, Relation};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// A memory of the graph and how many edges it has (either end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDegree {
    pub hash: String,
    pub connections: u64,
}

const COLUMNS: &str = "source_hash, target_hash, relationship_type, strength, reason, actor, created_at, seq";
/// Hashes per `IN (...)` list of one query.
const CHUNK: usize = 500;

fn memory_is_live(txn: &Connection, hash: &str) -> rusqlite::Result<bool> {
    Ok(txn.query_row("SELECT 1 FROM memories WHERE content_hash = ?", [hash], |_| Ok(())).optional()?.is_some())
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
        txn.execute(
            "DELETE FROM memory_graph WHERE source_hash = ? AND target_hash = ? AND relationship_type = ?",
            params![target, source, relation.relation_type],
        )?;
    }
    txn.execute(
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
    txn.execute(delete, params![source, target, relation_type])?;
    if is_symmetric(relation_type) {
        txn.execute(delete, params![target, source, relation_type])?;
    }
    Ok(())
}

/// Removes every edge of a memory that stops being live.
pub(crate) fn remove_edges_of(txn: &Connection, hash: &str) -> rusqlite::Result<()> {
    txn.execute("DELETE FROM memory_graph WHERE source_hash = ?", [hash])?;
    txn.execute("DELETE FROM memory_graph WHERE target_hash = ?", [hash])?;
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

    /// The memories reachable from `hash` within `max_hops` edges, with their distance in hops, nearest
    /// first and then by hash; `hash` itself is not among them.
    pub fn connected(
        &self,
        hash: &str,
        max_hops: u32,
        types: &[String],
        direction: Direction,
    ) -> Result<Vec<(String, u32)>, ReadError> {
        let mut distance: BTreeMap<String, u32> = BTreeMap::from([(hash.to_string(), 0)]);
        let mut frontier = vec![hash.to_string()];
        for hop in 1..=max_hops {
            if frontier.is_empty() {
                break;
            }
            let refs: Vec<&str> = frontier.iter().map(String::as_str).collect();
            let edges = self.edges_touching(&refs, types)?;
            let from: BTreeSet<&str> = refs.iter().copied().collect();
            let mut next = BTreeSet::new();
            for edge in &edges {
                for end in [&edge.source, &edge.target] {
                    if from.contains(end.as_str())
                        && let Some(reached) = edge.step(end, direction)
                        && !distance.contains_key(reached)
                    {
                        next.insert(reached.to_string());
                    }
                }
            }
            for reached in &next {
                distance.insert(reached.clone(), hop);
            }
            frontier = next.into_iter().collect();
        }
        distance.remove(hash);
        let mut found: Vec<(String, u32)> = distance.into_iter().collect();
        found.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(found)
    }

    /// A shortest path from `from` to `to` of at most `max_hops` edges (the memories on it, both ends
    /// included), following edges forward unless `direction` says otherwise. Of several shortest paths, the
    /// one whose memories come first by hash, hop by hop.
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
        let mut parent: HashMap<String, String> = HashMap::new();
        let mut seen: BTreeSet<String> = BTreeSet::from([from.to_string()]);
        let mut frontier = vec![from.to_string()];
        for _ in 0..max_hops {
            if frontier.is_empty() {
                break;
            }
            let refs: Vec<&str> = frontier.iter().map(String::as_str).collect();
            let edges = self.edges_touching(&refs, types)?;
            let from: BTreeSet<&str> = refs.iter().copied().collect();
            // Each memory of the frontier in hash order, each of its steps in hash order: the first parent
            // found for a memory is the smallest, which makes the path deterministic.
            let mut steps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for edge in &edges {
                for end in [&edge.source, &edge.target] {
                    if from.contains(end.as_str())
                        && let Some(reached) = edge.step(end, direction)
                    {
                        steps.entry(end.as_str()).or_default().insert(reached);
                    }
                }
            }
            let mut next = Vec::new();
            for (at, reached) in steps {
                for node in reached {
                    if seen.insert(node.to_string()) {
                        parent.insert(node.to_string(), at.to_string());
                        next.push(node.to_string());
                    }
                }
            }
            if parent.contains_key(to) {
                let mut path = vec![to.to_string()];
                while let Some(up) = parent.get(path.last().expect("the path is never empty")) {
                    path.push(up.clone());
                }
                path.reverse();
                return Ok(Some(path));
            }
            frontier = next;
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
}
