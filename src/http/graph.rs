//! The memory graph over HTTP: a memory's relations (make, list, remove) under `/api/memories/{hash}`,
//! walks under `/api/graph`, and the newer original's `/api/analytics/relationship-types` and
//! `/api/analytics/graph-visualization`.

use super::error::{ApiError, Body, Params, check_range};
use super::{AppState, actor, hash_of};
use crate::oauth::scope::Principal;
use crate::service::{Edge, GraphView, MAX_GRAPH_NODES, MAX_HOPS, MAX_PATH_HOPS, Reached, RelateRequest};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use mms_projections::{Direction, RELATION_TYPES};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

/// A relationship type, as the schema states it (the service checks the name; blank means `related`).
struct RelationshipTypeName;

impl utoipa::PartialSchema for RelationshipTypeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(RELATION_TYPES.iter().map(|t| t.name)))
            .into()
    }
}

impl ToSchema for RelationshipTypeName {}

/// A direction to follow relations in, as the schema states it.
#[derive(ToSchema)]
#[schema(as = GraphDirection)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
enum DirectionName {
    Both,
    Outgoing,
    Incoming,
}

/// A comma-separated list of relationship types (blank: every type), as a pattern the schema states.
struct TypeList;

impl utoipa::PartialSchema for TypeList {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let one = format!("({})", RELATION_TYPES.iter().map(|t| t.name).collect::<Vec<_>>().join("|"));
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(format!("^ *({one} *(, *{one} *)*)?$")))
            .into()
    }
}

impl ToSchema for TypeList {}

/// A relation to make from the memory in the path.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RelateBody {
    /// The memory the relation points to.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    target_hash: String,
    /// causes, fixes, contradicts, supports, follows or related (default).
    #[schema(value_type = Option<RelationshipTypeName>)]
    relationship_type: Option<String>,
    /// How strong the link is, 0..1 (default 1).
    #[schema(minimum = 0.0, maximum = 1.0)]
    similarity: Option<f64>,
    /// Why the two are linked (at most 1000 characters).
    #[schema(max_length = 1000)]
    reason: Option<String>,
}

/// What a relate did.
#[derive(Serialize, ToSchema)]
pub(crate) struct RelateAnswer {
    success: bool,
    /// False when the same relation already existed (nothing was written).
    created: bool,
    message: String,
    relation: Edge,
}

/// Relate this memory to another: a `related` event in its history. The same relation again writes
/// nothing; another similarity or reason replaces it.
#[utoipa::path(post, path = "/api/memories/{content_hash}/relations", tag = "graph",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "The source memory")),
    request_body = RelateBody,
    responses((status = 200, description = "Related", body = RelateAnswer),
              (status = 400, description = "A memory related to itself"),
              (status = 404, description = "Either memory is not live"),
              (status = 422, description = "A bad hash, type, similarity or reason")))]
pub(crate) async fn relate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(content_hash): Path<String>,
    Body(body): Body<RelateBody>,
) -> Result<Json<RelateAnswer>, ApiError> {
    let source = hash_of(&content_hash)?;
    if body.target_hash.trim().eq_ignore_ascii_case(&source) {
        // Schema-valid yet meaningless: a 400, like the other refusals a schema cannot state.
        return Err(ApiError::bad_request(format!("memory {source} cannot be related to itself")));
    }
    let request = RelateRequest {
        source,
        target: body.target_hash,
        relation_type: body.relationship_type,
        strength: body.similarity,
        reason: body.reason,
    };
    let related = state.service.relate(request, actor(&principal, &headers)).await?;
    let message = match related.created {
        true => format!("Related: {} {} {}", related.edge.source, related.edge.relationship_type, related.edge.target),
        false => "The relation already exists".to_string(),
    };
    Ok(Json(RelateAnswer { success: true, created: related.created, message, relation: related.edge }))
}

/// A memory's relations.
#[derive(Serialize, ToSchema)]
pub(crate) struct Relations {
    content_hash: String,
    relations: Vec<Edge>,
    count: usize,
}

/// Every relation of a memory, either end, oldest first.
#[utoipa::path(get, path = "/api/memories/{content_hash}/relations", tag = "graph",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash")),
    responses((status = 200, description = "The relations", body = Relations), (status = 404, description = "Not live"),
              (status = 422, description = "Not a content hash")))]
pub(crate) async fn relations(
    State(state): State<AppState>,
    Path(content_hash): Path<String>,
) -> Result<Json<Relations>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let relations = state.service.relations(&hash).await?;
    Ok(Json(Relations { content_hash: hash, count: relations.len(), relations }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UnrelateQuery {
    /// Only the relation of this type (default: every type).
    #[param(value_type = Option<RelationshipTypeName>)]
    relationship_type: Option<String>,
}

/// What an unrelate removed.
#[derive(Serialize, ToSchema)]
pub(crate) struct UnrelateAnswer {
    success: bool,
    message: String,
    removed: Vec<Edge>,
}

/// Remove the relations from this memory to another (symmetric ones either way): an `unrelated` event per
/// relation, in this memory's history.
#[utoipa::path(delete, path = "/api/memories/{content_hash}/relations/{target_hash}", tag = "graph",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "The source memory"),
           ("target_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "The target memory"), UnrelateQuery),
    responses((status = 200, description = "Removed", body = UnrelateAnswer), (status = 404, description = "No such relation"),
              (status = 422, description = "A bad hash or type")))]
pub(crate) async fn unrelate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path((content_hash, target_hash)): Path<(String, String)>,
    Params(query): Params<UnrelateQuery>,
) -> Result<Json<UnrelateAnswer>, ApiError> {
    let (source, target) = (hash_of(&content_hash)?, hash_of(&target_hash)?);
    let actor = actor(&principal, &headers);
    let removed = state.service.unrelate(&source, &target, query.relationship_type.as_deref(), actor).await?;
    let message = format!("Removed {}", crate::service::count(removed.len() as u64, "relation", "relations"));
    Ok(Json(UnrelateAnswer { success: true, message, removed }))
}

/// Relationship types as a comma-separated list; blank for every type.
fn types_of(list: &Option<String>) -> Vec<String> {
    list.as_deref().unwrap_or_default().split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
}

fn direction_of(name: &Option<String>, default: Direction) -> Result<Direction, ApiError> {
    match name.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("both") => Ok(Direction::Both),
        Some("outgoing") => Ok(Direction::Outgoing),
        Some("incoming") => Ok(Direction::Incoming),
        Some(other) => Err(ApiError::invalid(
            "enum",
            &["query", "direction"],
            "Input should be 'both', 'outgoing' or 'incoming'",
            Value::from(other),
        )),
    }
}

fn hops(loc: &'static str, value: Option<i64>, default: i64, max: u32) -> Result<u32, ApiError> {
    let value = value.unwrap_or(default);
    check_range(&["query", loc], value, 1, i64::from(max))?;
    Ok(value as u32)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConnectedQuery {
    /// 1 to 5, default 2.
    #[param(minimum = 1, maximum = 5)]
    max_hops: Option<i64>,
    /// Only edges of these types (comma-separated; default all).
    #[param(value_type = Option<TypeList>)]
    rel_type: Option<String>,
    /// both (default), outgoing or incoming; symmetric types are followed both ways.
    #[param(value_type = Option<DirectionName>)]
    direction: Option<String>,
}

/// The memories within some hops of this one.
#[derive(Serialize, ToSchema)]
pub(crate) struct Connected {
    success: bool,
    connected: Vec<Reached>,
    count: usize,
}

/// The memories within `max_hops` relations of this one, nearest first (the newer original's
/// `memory_graph` `connected`).
#[utoipa::path(get, path = "/api/graph/connected/{content_hash}", tag = "graph",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash"), ConnectedQuery),
    responses((status = 200, description = "Reached memories", body = Connected), (status = 404, description = "Not live"),
              (status = 422, description = "A bad hash, hop count, type or direction")))]
pub(crate) async fn connected(
    State(state): State<AppState>,
    Path(content_hash): Path<String>,
    Params(query): Params<ConnectedQuery>,
) -> Result<Json<Connected>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let max_hops = hops("max_hops", query.max_hops, 2, MAX_HOPS)?;
    let direction = direction_of(&query.direction, Direction::Both)?;
    let connected = state.service.connected(&hash, max_hops, &types_of(&query.rel_type), direction).await?;
    Ok(Json(Connected { success: true, count: connected.len(), connected }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PathQuery {
    /// Where the path starts.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    hash1: String,
    /// Where it ends.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    hash2: String,
    /// The most relations on the path, 1 to 10, default 5.
    #[param(minimum = 1, maximum = 10)]
    max_depth: Option<i64>,
    /// Only edges of these types (comma-separated; default all).
    #[param(value_type = Option<TypeList>)]
    rel_type: Option<String>,
    /// outgoing (default: from source to target, as the original), both or incoming.
    #[param(value_type = Option<DirectionName>)]
    direction: Option<String>,
}

/// A shortest path, or none.
#[derive(Serialize, ToSchema)]
pub(crate) struct PathAnswer {
    success: bool,
    /// The memories on the path, both ends included; null when there is none.
    path: Option<Vec<String>>,
    /// Memories on the path (the original's count; 0 when there is none).
    length: usize,
    /// Relations on the path.
    hops: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// A shortest path between two memories, following relations from source to target (symmetric ones both
/// ways) unless `direction` says otherwise.
#[utoipa::path(get, path = "/api/graph/path", tag = "graph", params(PathQuery),
    responses((status = 200, description = "The path, or null", body = PathAnswer), (status = 404, description = "Either memory is not live"),
              (status = 422, description = "A bad hash, depth, type or direction")))]
pub(crate) async fn path(
    State(state): State<AppState>,
    Params(query): Params<PathQuery>,
) -> Result<Json<PathAnswer>, ApiError> {
    let (from, to) = (hash_of(&query.hash1)?, hash_of(&query.hash2)?);
    let max_hops = hops("max_depth", query.max_depth, 5, MAX_PATH_HOPS)?;
    let direction = direction_of(&query.direction, Direction::Outgoing)?;
    let path = state.service.path(&from, &to, max_hops, &types_of(&query.rel_type), direction).await?;
    let length = path.as_ref().map_or(0, Vec::len);
    let message = path.is_none().then(|| "No path found within depth limit".to_string());
    Ok(Json(PathAnswer { success: true, hops: length.saturating_sub(1), length, path, message }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubgraphQuery {
    /// 1 to 5, default 2.
    #[param(minimum = 1, maximum = 5)]
    radius: Option<i64>,
    /// Only edges of these types (comma-separated; default all).
    #[param(value_type = Option<TypeList>)]
    rel_type: Option<String>,
}

/// Memories around one and the relations between them.
#[derive(Serialize, ToSchema)]
pub(crate) struct SubgraphAnswer {
    success: bool,
    nodes: Vec<String>,
    edges: Vec<Edge>,
    node_count: usize,
    edge_count: usize,
}

/// The memories within `radius` relations of this one (either direction, at most 500) and every relation
/// between two of them.
#[utoipa::path(get, path = "/api/graph/subgraph/{content_hash}", tag = "graph",
    params(("content_hash" = String, Path, pattern = "^[0-9a-fA-F]{64}$", description = "Content hash"), SubgraphQuery),
    responses((status = 200, description = "The subgraph", body = SubgraphAnswer), (status = 404, description = "Not live"),
              (status = 422, description = "A bad hash, radius or type")))]
pub(crate) async fn subgraph(
    State(state): State<AppState>,
    Path(content_hash): Path<String>,
    Params(query): Params<SubgraphQuery>,
) -> Result<Json<SubgraphAnswer>, ApiError> {
    let hash = hash_of(&content_hash)?;
    let radius = hops("radius", query.radius, 2, MAX_HOPS)?;
    let sub = state.service.subgraph(&hash, radius, &types_of(&query.rel_type)).await?;
    Ok(Json(SubgraphAnswer {
        success: true,
        node_count: sub.nodes.len(),
        edge_count: sub.edges.len(),
        nodes: sub.nodes,
        edges: sub.edges,
    }))
}

/// How many relations there are of each type, most first: a flat `{"type": count}` (each relation counted
/// once, symmetric or not).
#[utoipa::path(get, path = "/api/analytics/relationship-types", tag = "graph",
    responses((status = 200, description = "{type: count}", body = Object)))]
pub(crate) async fn relationship_types(State(state): State<AppState>) -> Result<Json<Map<String, Value>>, ApiError> {
    let counts = state.service.relationship_types().await?;
    Ok(Json(counts.into_iter().map(|(t, n)| (t, Value::from(n))).collect()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VisualizationQuery {
    /// At most this many memories, 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Only memories with at least this many relations (default 1).
    #[param(minimum = 1)]
    min_connections: Option<i64>,
}

/// The most connected memories and the relations between them, for a graph view (the newer original's
/// shape: nodes `{id, type, content, connections, created_at, updated_at, tags}`, edges, meta).
#[utoipa::path(get, path = "/api/analytics/graph-visualization", tag = "graph", params(VisualizationQuery),
    responses((status = 200, description = "{nodes, edges, meta}", body = Object),
              (status = 422, description = "limit or min_connections out of range")))]
pub(crate) async fn graph_visualization(
    State(state): State<AppState>,
    Params(query): Params<VisualizationQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    check_range(&["query", "limit"], limit, 1, MAX_GRAPH_NODES as i64)?;
    let min_connections = query.min_connections.unwrap_or(1);
    check_range(&["query", "min_connections"], min_connections, 1, i64::MAX)?;
    let GraphView { nodes, edges } = state.service.graph_view(limit as usize, min_connections.unsigned_abs()).await?;
    Ok(Json(json!({
        "meta": { "total_nodes": nodes.len(), "total_edges": edges.len(), "min_connections": min_connections, "limit": limit },
        "nodes": nodes,
        "edges": edges,
    })))
}
