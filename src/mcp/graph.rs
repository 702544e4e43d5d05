//! The memory graph over MCP: `memory_relate` (make or remove a typed relation) and `memory_graph` (the
//! newer original's tool: `connected`, `path`, `subgraph`), answering the original's JSON as text.

use super::{McpServer, actor, failure};
use crate::service::{RelateRequest, ServiceError};
use mms_projections::Direction;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct RelateArgs {
    /// The memory the relation starts from (its history records it).
    pub source_hash: String,
    /// The memory it points to.
    pub target_hash: String,
    /// causes, fixes, contradicts, supports, follows or related (default). Symmetric: related, contradicts.
    pub relationship_type: Option<String>,
    /// How strong the link is, 0..1 (default 1).
    pub similarity: Option<f64>,
    /// Why the two are linked.
    pub reason: Option<String>,
    /// Remove the relation instead (of relationship_type, or of every type when it is absent).
    #[serde(default)]
    pub remove: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum GraphAction {
    /// The memories within max_hops relations of `hash`.
    Connected,
    /// A shortest path from `hash1` to `hash2`.
    Path,
    /// The memories within `radius` of `hash` and the relations between them.
    Subgraph,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum DirectionArg {
    Both,
    Outgoing,
    Incoming,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct GraphArgs {
    pub action: GraphAction,
    /// connected, subgraph: the memory to start from.
    pub hash: Option<String>,
    /// path: where it starts.
    pub hash1: Option<String>,
    /// path: where it ends.
    pub hash2: Option<String>,
    /// connected: 1 to 5 (default 2).
    pub max_hops: Option<u32>,
    /// path: the most relations on it, 1 to 10 (default 5).
    pub max_depth: Option<u32>,
    /// subgraph: 1 to 5 (default 2).
    pub radius: Option<u32>,
    /// Only relations of this type (or comma-separated types).
    pub rel_type: Option<String>,
    /// Which relations to follow: both (default for connected), outgoing (default for path) or incoming.
    /// Symmetric types are followed both ways.
    pub direction: Option<DirectionArg>,
}

fn required<'a>(value: &'a Option<String>, message: &str) -> Result<&'a str, String> {
    value.as_deref().filter(|v| !v.trim().is_empty()).ok_or_else(|| message.to_string())
}

fn answer(value: Value) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(serde_json::to_string_pretty(&value).unwrap_or_default())])
}

impl GraphArgs {
    fn types(&self) -> Vec<String> {
        let list = self.rel_type.as_deref().unwrap_or_default();
        list.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
    }

    fn direction(&self, default: Direction) -> Direction {
        match self.direction {
            None => default,
            Some(DirectionArg::Both) => Direction::Both,
            Some(DirectionArg::Outgoing) => Direction::Outgoing,
            Some(DirectionArg::Incoming) => Direction::Incoming,
        }
    }
}

#[tool_router(router = graph_router, vis = "pub(super)")]
impl McpServer {
    /// Relate two memories with a typed relation (causes, fixes, contradicts, supports, follows, related),
    /// kept in the source memory's history; or remove it with `remove: true`. Deleting either memory
    /// removes its relations.
    #[tool(annotations(title = "Relate memories", read_only_hint = false, destructive_hint = false))]
    async fn memory_relate(&self, Parameters(args): Parameters<RelateArgs>) -> Result<CallToolResult, String> {
        if args.remove {
            let removed = self
                .service
                .unrelate(&args.source_hash, &args.target_hash, args.relationship_type.as_deref(), actor())
                .await
                .map_err(failure)?;
            return Ok(answer(json!({ "success": true, "removed": removed, "count": removed.len() })));
        }
        let request = RelateRequest {
            source: args.source_hash,
            target: args.target_hash,
            relation_type: args.relationship_type,
            strength: args.similarity,
            reason: args.reason,
        };
        let related = self.service.relate(request, actor()).await.map_err(failure)?;
        Ok(answer(json!({ "success": true, "created": related.created, "relation": related.edge })))
    }

    /// Walk the memory graph: `connected` (memories within max_hops of `hash`), `path` (a shortest path from
    /// `hash1` to `hash2`) or `subgraph` (memories within `radius` of `hash` and their relations).
    #[tool(annotations(title = "Memory graph", read_only_hint = true))]
    async fn memory_graph(&self, Parameters(args): Parameters<GraphArgs>) -> Result<CallToolResult, String> {
        let types = args.types();
        let result: Result<Value, ServiceError> = match args.action {
            GraphAction::Connected => {
                let hash = required(&args.hash, "Error: hash is required for 'connected' action")?;
                let hops = args.max_hops.unwrap_or(2);
                let direction = args.direction(Direction::Both);
                self.service
                    .connected(hash, hops, &types, direction)
                    .await
                    .map(|found| json!({ "success": true, "count": found.len(), "connected": found }))
            }
            GraphAction::Path => {
                let from = required(&args.hash1, "Error: hash1 and hash2 are required for 'path' action")?;
                let to = required(&args.hash2, "Error: hash1 and hash2 are required for 'path' action")?;
                let depth = args.max_depth.unwrap_or(5);
                let direction = args.direction(Direction::Outgoing);
                self.service.path(from, to, depth, &types, direction).await.map(|path| match path {
                    Some(path) => {
                        json!({ "success": true, "length": path.len(), "hops": path.len() - 1, "path": path })
                    }
                    None => json!({
                        "success": true, "path": null, "length": 0, "message": "No path found within depth limit",
                    }),
                })
            }
            GraphAction::Subgraph => {
                let hash = required(&args.hash, "Error: hash is required for 'subgraph' action")?;
                let radius = args.radius.unwrap_or(2);
                self.service.subgraph(hash, radius, &types).await.map(|sub| {
                    json!({
                        "success": true,
                        "node_count": sub.nodes.len(),
                        "edge_count": sub.edges.len(),
                        "nodes": sub.nodes,
                        "edges": sub.edges,
                    })
                })
            }
        };
        result.map(answer).map_err(failure)
    }
}
