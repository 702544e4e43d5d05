//! The memory graph: typed relations between memories as events (`Related`, `Unrelated` of the source
//! memory), and the queries over the read model's edges (neighbours, shortest path, subgraph, counts).

use super::memory::Memory;
use super::{Service, ServiceError, parse_hash};
use mms_log::{Actor, ContentHash, EventId, EventKind, Expect, NewEvent, Relation};
use mms_projections::{Direction, EdgeRow, RELATION_TYPES, iso_utc, relation_type};
use serde::Serialize;

/// The most hops a neighbourhood or subgraph query walks.
pub const MAX_HOPS: u32 = 5;
/// The longest path searched, in hops.
pub const MAX_PATH_HOPS: u32 = 10;
/// The most memories a subgraph or a graph view returns.
pub const MAX_GRAPH_NODES: usize = 500;
/// The longest note a relation keeps, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// A relation to make.
#[derive(Clone, Debug, Default)]
pub struct RelateRequest {
    pub source: String,
    pub target: String,
    /// One of [`RELATION_TYPES`]; "related" when absent.
    pub relation_type: Option<String>,
    /// In [0, 1]; 1 when absent (a link a person asserts).
    pub strength: Option<f64>,
    /// Why the two are linked.
    pub reason: Option<String>,
}

/// One edge, as every surface shows it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct Edge {
    pub source: String,
    pub target: String,
    pub relationship_type: String,
    /// True for types that read the same both ways ("related", "contradicts").
    pub symmetric: bool,
    /// In [0, 1]: 1 for a person's link, the similarity or confidence for one a consolidation found (the
    /// newer original calls it `similarity`).
    pub similarity: f64,
    /// Why the two are linked.
    pub reason: Option<String>,
    /// "interface" or "interface:id" of who linked them.
    pub created_by: String,
    pub created_at: f64,
    pub created_at_iso: String,
    /// The event that made the edge.
    pub seq: u64,
}

impl From<EdgeRow> for Edge {
    fn from(row: EdgeRow) -> Edge {
        Edge {
            symmetric: row.symmetric(),
            source: row.source,
            target: row.target,
            relationship_type: row.relationship_type,
            similarity: row.strength,
            reason: row.reason,
            created_by: row.actor,
            created_at_iso: iso_utc((row.created_at * 1e6).round() as i64),
            created_at: row.created_at,
            seq: row.seq,
        }
    }
}

/// What a relate did.
#[derive(Clone, Debug, PartialEq)]
pub struct Related {
    pub edge: Edge,
    /// False when the same edge (type, strength and reason) already existed: nothing was written.
    pub created: bool,
}

/// A memory reached from another, and in how many hops.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct Reached {
    pub hash: String,
    pub distance: u32,
}

/// Memories around one and the edges between them.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Subgraph {
    /// The centre first, then by distance.
    pub nodes: Vec<String>,
    pub edges: Vec<Edge>,
}

/// A memory of the graph view, with how many edges it has.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GraphNode {
    pub id: String,
    /// The memory's type, or "untyped".
    #[serde(rename = "type")]
    pub memory_type: String,
    /// The first 100 characters.
    pub content: String,
    pub connections: u64,
    pub created_at: f64,
    pub updated_at: f64,
    pub tags: Vec<String>,
}

/// The most connected memories and the edges between them.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GraphView {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<Edge>,
}

/// A relationship type by name, or a message listing the known ones.
pub fn checked_type(name: Option<&str>) -> Result<String, ServiceError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("related");
    match relation_type(name) {
        Some(t) => Ok(t.name.to_string()),
        None => Err(ServiceError::Invalid(format!(
            "unknown relationship type {name:?}; use one of: {}",
            RELATION_TYPES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Relationship types to follow: all when empty.
pub fn checked_types(names: &[String]) -> Result<Vec<String>, ServiceError> {
    names.iter().filter(|n| !n.trim().is_empty()).map(|n| checked_type(Some(n))).collect()
}

fn bounded(value: u32, name: &str, max: u32) -> Result<u32, ServiceError> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ServiceError::Invalid(format!("{name} must be between 1 and {max}, not {value}")))
    }
}

impl Service {
    async fn live_memory(&self, hash: &str, role: &str) -> Result<Memory, ServiceError> {
        self.get(hash).await.map_err(|e| match e {
            ServiceError::NotFound(_) => ServiceError::NotFound(format!("{role} memory {hash} not found")),
            other => other,
        })
    }

    /// Links two live memories with a typed edge, as a `Related` event of the source. The same edge again
    /// writes nothing; another strength or reason replaces it.
    pub async fn relate(&self, request: RelateRequest, actor: Actor) -> Result<Related, ServiceError> {
        let source = parse_hash(&request.source)?;
        let target = parse_hash(&request.target)?;
        let relation_type = checked_type(request.relation_type.as_deref())?;
        if source == target {
            return Err(ServiceError::Invalid(format!("memory {source} cannot be related to itself")));
        }
        let strength = request.strength.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&strength) {
            return Err(ServiceError::Invalid(format!("strength must be between 0 and 1, not {strength}")));
        }
        let reason = request.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
            return Err(ServiceError::Invalid(format!("reason is longer than {MAX_REASON_CHARS} characters")));
        }
        let (source_hex, target_hex) = (source.to_hex(), target.to_hex());
        self.live_memory(&source_hex, "source").await?;
        self.live_memory(&target_hex, "target").await?;
        let existing = self.edge(&source_hex, &target_hex, &relation_type).await?;
        if let Some(edge) = existing.filter(|e| e.similarity == strength && e.reason == reason) {
            return Ok(Related { edge, created: false });
        }
        let relation = Relation { target, relation_type: relation_type.clone(), strength, reason };
        let event = NewEvent {
            event_id: EventId::generate(),
            actor,
            memory: source,
            kind: EventKind::Related(relation),
            expect: Expect::Any,
        };
        let appended = self.append(vec![event], Vec::new()).await?;
        self.settle(&appended).await?;
        match self.edge(&source_hex, &target_hex, &relation_type).await? {
            Some(edge) => Ok(Related { edge, created: true }),
            // The target was deleted between the check and the commit: the read model made no edge.
            None => Err(ServiceError::Conflict(format!("target memory {target} was deleted meanwhile"))),
        }
    }

    /// Removes the edges from `source` to `target` (of one type, or of every type), and symmetric ones
    /// either way; returns the edges removed. No edge is a `NotFound`.
    pub async fn unrelate(
        &self,
        source: &str,
        target: &str,
        relation_type: Option<&str>,
        actor: Actor,
    ) -> Result<Vec<Edge>, ServiceError> {
        let source = parse_hash(source)?;
        let target = parse_hash(target)?;
        let wanted = relation_type.map(|t| checked_type(Some(t))).transpose()?;
        let (source_hex, target_hex) = (source.to_hex(), target.to_hex());
        let edges: Vec<Edge> = self
            .relations(&source_hex)
            .await?
            .into_iter()
            .filter(|e| {
                let forward = e.source == source_hex && e.target == target_hex;
                let backward = e.symmetric && e.source == target_hex && e.target == source_hex;
                (forward || backward) && wanted.as_ref().is_none_or(|t| *t == e.relationship_type)
            })
            .collect();
        if edges.is_empty() {
            return Err(ServiceError::NotFound(format!("no relation from {source} to {target}")));
        }
        let events = edges
            .iter()
            .map(|e| NewEvent {
                event_id: EventId::generate(),
                actor: actor.clone(),
                memory: source,
                kind: EventKind::Unrelated { target, relation_type: e.relationship_type.clone() },
                expect: Expect::Any,
            })
            .collect();
        let appended = self.append(events, Vec::new()).await?;
        self.settle(&appended).await?;
        Ok(edges)
    }

    async fn edge(&self, source: &str, target: &str, relation_type: &str) -> Result<Option<Edge>, ServiceError> {
        let (source, target, relation_type) = (source.to_string(), target.to_string(), relation_type.to_string());
        let row = self.blocking(move |inner| Ok(inner.reader.edge(&source, &target, &relation_type)?)).await?;
        Ok(row.map(Edge::from))
    }

    /// Every edge of a memory, live or archived, either end, oldest first (none for another key).
    pub async fn edges_of(&self, memory: ContentHash) -> Result<Vec<Edge>, ServiceError> {
        let key = memory.to_hex();
        let rows = self.blocking(move |inner| Ok(inner.reader.edges_of(&key)?)).await?;
        Ok(rows.into_iter().map(Edge::from).collect())
    }

    /// Every edge of a live memory, either end, oldest first.
    pub async fn relations(&self, hash: &str) -> Result<Vec<Edge>, ServiceError> {
        let key = self.live_memory(hash, "the").await?.content_hash;
        let rows = self.blocking(move |inner| Ok(inner.reader.edges_of(&key)?)).await?;
        Ok(rows.into_iter().map(Edge::from).collect())
    }

    /// The memories within `max_hops` of a live memory, nearest first.
    pub async fn connected(
        &self,
        hash: &str,
        max_hops: u32,
        types: &[String],
        direction: Direction,
    ) -> Result<Vec<Reached>, ServiceError> {
        let max_hops = bounded(max_hops, "max_hops", MAX_HOPS)?;
        let types = checked_types(types)?;
        let key = self.live_memory(hash, "the").await?.content_hash;
        let found = self.blocking(move |inner| Ok(inner.reader.connected(&key, max_hops, &types, direction)?)).await?;
        Ok(found.into_iter().map(|(hash, distance)| Reached { hash, distance }).collect())
    }

    /// A shortest path of at most `max_hops` edges between two live memories, both included; None when
    /// there is none.
    pub async fn path(
        &self,
        from: &str,
        to: &str,
        max_hops: u32,
        types: &[String],
        direction: Direction,
    ) -> Result<Option<Vec<String>>, ServiceError> {
        let max_hops = bounded(max_hops, "max_depth", MAX_PATH_HOPS)?;
        let types = checked_types(types)?;
        let from = self.live_memory(from, "the start").await?.content_hash;
        let to = self.live_memory(to, "the end").await?.content_hash;
        self.blocking(move |inner| Ok(inner.reader.path(&from, &to, max_hops, &types, direction)?)).await
    }

    /// The memories within `radius` of a live memory (either direction) and the edges between them.
    pub async fn subgraph(&self, hash: &str, radius: u32, types: &[String]) -> Result<Subgraph, ServiceError> {
        let radius = bounded(radius, "radius", MAX_HOPS)?;
        let types = checked_types(types)?;
        let key = self.live_memory(hash, "the").await?.content_hash;
        let (nodes, edges) =
            self.blocking(move |inner| Ok(inner.reader.subgraph(&key, radius, &types, MAX_GRAPH_NODES)?)).await?;
        Ok(Subgraph { nodes, edges: edges.into_iter().map(Edge::from).collect() })
    }

    /// How many edges there are of each type, most first.
    pub async fn relationship_types(&self) -> Result<Vec<(String, u64)>, ServiceError> {
        self.blocking(|inner| Ok(inner.reader.relationship_type_counts()?)).await
    }

    /// The most connected memories (at least `min_connections` edges; at most `limit`) and their edges.
    pub async fn graph_view(&self, limit: usize, min_connections: u64) -> Result<GraphView, ServiceError> {
        let limit = limit.clamp(1, MAX_GRAPH_NODES);
        let (degrees, edges, rows) = self
            .blocking(move |inner| {
                let (degrees, edges) = inner.reader.most_connected(limit, min_connections.max(1))?;
                let hashes: Vec<String> = degrees.iter().map(|d| d.hash.clone()).collect();
                let rows = inner.reader.get_many(&hashes)?;
                Ok((degrees, edges, rows))
            })
            .await?;
        let mut rows: std::collections::HashMap<String, _> =
            rows.into_iter().map(|r| (r.content_hash.clone(), r)).collect();
        let nodes = degrees
            .into_iter()
            .filter_map(|d| {
                let row = rows.remove(&d.hash)?;
                Some(GraphNode {
                    id: d.hash,
                    memory_type: row.memory_type.clone().unwrap_or_else(|| "untyped".into()),
                    content: row.content.chars().take(100).collect(),
                    connections: d.connections,
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                    tags: row.tags,
                })
            })
            .collect();
        Ok(GraphView { nodes, edges: edges.into_iter().map(Edge::from).collect() })
    }
}
