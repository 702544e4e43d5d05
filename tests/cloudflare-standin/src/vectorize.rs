//! Vectorize v2 under `/vectorize/v2/indexes`: indexes, NDJSON insert/upsert, query, get/delete by ids and
//! metadata indexes. Writes are asynchronous: a mutation is queued and becomes visible to reads, in order, once
//! `--vectorize-delay-ms` has passed since it was accepted (or at once on `/__standin/vectorize/flush`).

use crate::control::lock;
use crate::envelope::{self, ApiError};
use crate::filter::{Candidate, Filter, IndexType, lookup};
use crate::gate::Partial;
use crate::state::Shared;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_DIMENSIONS: usize = 1536;
const MAX_ID_BYTES: usize = 64;
const MAX_METADATA_BYTES: usize = 10 * 1024;
/// The HTTP API's limit on vectors per insert or upsert.
const MAX_BATCH: usize = 5000;
const MAX_TOP_K: usize = 100;
/// topK's limit when values or all metadata are returned.
const MAX_TOP_K_WITH_DATA: usize = 20;
/// Not stated by Cloudflare for get_by_ids and delete_by_ids; generous.
const MAX_IDS: usize = 1000;
const MAX_METADATA_INDEXES: usize = 10;

/// Error codes, after Vectorize's 40xxx family.
const NOT_FOUND: u32 = 3000;
const INVALID: u32 = 40006;
const DUPLICATE: u32 = 3002;

/// The current time as Cloudflare writes it, e.g. `2024-05-01T12:00:00.123456Z`.
pub(crate) fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(INVALID, message)
}

fn no_index(name: &str) -> ApiError {
    ApiError::not_found(NOT_FOUND, format!("vectorize.index.not_found: index {name:?} does not exist"))
}

/// One stored vector.
#[derive(Debug, Clone)]
struct Vector {
    id: String,
    values: Vec<f32>,
    metadata: Option<Map<String, Value>>,
    namespace: Option<String>,
    /// The metadata indexes that existed when it was written; only these properties can be filtered on.
    indexed: BTreeSet<String>,
}

#[derive(Debug)]
enum Change {
    Insert(Vec<Vector>),
    Upsert(Vec<Vector>),
    Delete(Vec<String>),
}

#[derive(Debug)]
struct Mutation {
    id: String,
    visible_at: Instant,
    /// When it will have been processed, for `processedUpToDatetime`.
    visible_at_wall: chrono::DateTime<chrono::Utc>,
    change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Cosine,
    Euclidean,
    DotProduct,
}

impl Metric {
    fn parse(text: &str) -> Option<Metric> {
        match text {
            "cosine" => Some(Metric::Cosine),
            "euclidean" => Some(Metric::Euclidean),
            "dot-product" => Some(Metric::DotProduct),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Euclidean => "euclidean",
            Metric::DotProduct => "dot-product",
        }
    }

    /// The score of `stored` against `query`; for euclidean, lower is closer.
    fn score(self, query: &[f32], stored: &[f32]) -> f64 {
        let dot: f64 = query.iter().zip(stored).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
        match self {
            Metric::DotProduct => dot,
            Metric::Euclidean => {
                query.iter().zip(stored).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>().sqrt()
            }
            Metric::Cosine => {
                let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                let denominator = norm(query) * norm(stored);
                if denominator == 0.0 { 0.0 } else { dot / denominator }
            }
        }
    }
}

#[derive(Debug)]
struct Index {
    name: String,
    description: String,
    dimensions: usize,
    metric: Metric,
    created_on: String,
    modified_on: String,
    /// What reads see.
    vectors: HashMap<String, Vector>,
    /// Accepted, not yet visible, oldest first.
    pending: VecDeque<Mutation>,
    processed: Option<(String, String)>,
    metadata_indexes: BTreeMap<String, IndexType>,
}

impl Index {
    fn new(name: &str, description: &str, dimensions: usize, metric: Metric) -> Index {
        let now = now_iso();
        Index {
            name: name.to_owned(),
            description: description.to_owned(),
            dimensions,
            metric,
            created_on: now.clone(),
            modified_on: now,
            vectors: HashMap::new(),
            pending: VecDeque::new(),
            processed: None,
            metadata_indexes: BTreeMap::new(),
        }
    }

    fn describe(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "config": {"dimensions": self.dimensions, "metric": self.metric.name()},
            "created_on": self.created_on,
            "modified_on": self.modified_on,
        })
    }

    /// Applies every mutation visible at `now` (all of them when `now` is `None`); returns how many.
    fn settle(&mut self, now: Option<Instant>) -> usize {
        let mut applied = 0;
        while let Some(mutation) = self.pending.front() {
            if now.is_some_and(|now| mutation.visible_at > now) {
                break;
            }
            let Some(mutation) = self.pending.pop_front() else { break };
            match mutation.change {
                Change::Insert(vectors) => {
                    for vector in vectors {
                        self.vectors.entry(vector.id.clone()).or_insert(vector);
                    }
                }
                Change::Upsert(vectors) => {
                    for vector in vectors {
                        self.vectors.insert(vector.id.clone(), vector);
                    }
                }
                Change::Delete(ids) => {
                    for id in ids {
                        self.vectors.remove(&id);
                    }
                }
            }
            let processed_at = match now {
                Some(_) => mutation.visible_at_wall,
                None => chrono::Utc::now(),
            };
            self.processed = Some((mutation.id, processed_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
            applied += 1;
        }
        applied
    }
}

/// All indexes, by name.
#[derive(Debug)]
pub(crate) struct Vectorize {
    delay: Duration,
    indexes: Mutex<BTreeMap<String, Index>>,
}

impl Vectorize {
    pub(crate) fn new(initial: &[(String, usize)], delay: Duration) -> Vectorize {
        let indexes = initial
            .iter()
            .map(|(name, dimensions)| (name.clone(), Index::new(name, "", *dimensions, Metric::Cosine)))
            .collect();
        Vectorize { delay, indexes: Mutex::new(indexes) }
    }

    /// Makes every pending mutation visible; returns how many there were.
    pub(crate) fn flush(&self) -> usize {
        lock(&self.indexes).values_mut().map(|index| index.settle(None)).sum()
    }

    /// Runs `read` on index `name` after applying the mutations visible by now.
    fn read<T>(&self, name: &str, read: impl FnOnce(&Index) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut indexes = lock(&self.indexes);
        let index = indexes.get_mut(name).ok_or_else(|| no_index(name))?;
        index.settle(Some(Instant::now()));
        read(index)
    }

    /// Queues a mutation on index `name` and returns its id.
    fn mutate(&self, name: &str, change: impl FnOnce(&Index) -> Result<Change, ApiError>) -> Result<String, ApiError> {
        let mut indexes = lock(&self.indexes);
        let index = indexes.get_mut(name).ok_or_else(|| no_index(name))?;
        let change = change(index)?;
        let id = uuid::Uuid::new_v4().to_string();
        let delay = chrono::Duration::from_std(self.delay).unwrap_or(chrono::Duration::zero());
        index.pending.push_back(Mutation {
            id: id.clone(),
            visible_at: Instant::now() + self.delay,
            visible_at_wall: chrono::Utc::now() + delay,
            change,
        });
        index.modified_on = now_iso();
        Ok(id)
    }
}

#[derive(Debug, Deserialize)]
struct CreateConfig {
    dimensions: Option<usize>,
    metric: Option<String>,
    preset: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    description: String,
    config: Option<CreateConfig>,
    preset: Option<String>,
}

/// The dimensions and metric of a Cloudflare index preset.
fn preset(name: &str) -> Option<(usize, Metric)> {
    match name {
        "@cf/baai/bge-small-en-v1.5" => Some((384, Metric::Cosine)),
        "@cf/baai/bge-base-en-v1.5" => Some((768, Metric::Cosine)),
        "@cf/baai/bge-large-en-v1.5" => Some((1024, Metric::Cosine)),
        "openai/text-embedding-ada-002" => Some((1536, Metric::Cosine)),
        "cohere/embed-multilingual-v2.0" => Some((768, Metric::Cosine)),
        _ => None,
    }
}

pub(crate) async fn create(State(state): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: CreateBody = envelope::parse_json(&body, INVALID)?;
    let name_ok = !body.name.is_empty()
        && body.name.len() <= 64
        && body.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(invalid("index name must be 1 to 64 lower-case letters, digits or dashes"));
    }
    let config = body.config.unwrap_or(CreateConfig { dimensions: None, metric: None, preset: None });
    let (dimensions, metric) = match config.preset.or(body.preset) {
        Some(name) => preset(&name).ok_or_else(|| invalid(format!("unknown preset {name:?}")))?,
        None => {
            let dimensions = config.dimensions.ok_or_else(|| invalid("config.dimensions or a preset is required"))?;
            let metric = config.metric.ok_or_else(|| invalid("config.metric is required"))?;
            let metric = Metric::parse(&metric)
                .ok_or_else(|| invalid("config.metric must be cosine, euclidean or dot-product"))?;
            (dimensions, metric)
        }
    };
    if dimensions == 0 || dimensions > MAX_DIMENSIONS {
        return Err(invalid(format!("dimensions must be 1 to {MAX_DIMENSIONS}")));
    }
    let mut indexes = lock(&state.vectorize.indexes);
    if indexes.contains_key(&body.name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            DUPLICATE,
            format!("vectorize.index.duplicate_name: an index named {:?} already exists", body.name),
        ));
    }
    let index = Index::new(&body.name, &body.description, dimensions, metric);
    let described = index.describe();
    indexes.insert(body.name, index);
    Ok(envelope::ok(described))
}

pub(crate) async fn list(State(state): State<Shared>) -> Response {
    let indexes = lock(&state.vectorize.indexes);
    envelope::ok(indexes.values().map(Index::describe).collect::<Vec<_>>())
}

pub(crate) async fn get(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.vectorize.read(&name, |index| Ok(envelope::ok(index.describe())))
}

pub(crate) async fn delete(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    lock(&state.vectorize.indexes).remove(&name).ok_or_else(|| no_index(&name))?;
    Ok(envelope::ok(Value::Null))
}

pub(crate) async fn info(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.vectorize.read(&name, |index| {
        let (mutation, datetime) = index.processed.clone().unzip();
        Ok(envelope::ok(json!({
            "dimensions": index.dimensions,
            "vectorCount": index.vectors.len(),
            "processedUpToDatetime": datetime,
            "processedUpToMutation": mutation,
        })))
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct WriteQuery {
    #[serde(rename = "unparsable-behavior")]
    unparsable_behavior: Option<String>,
}

pub(crate) async fn insert(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
    Query(query): Query<WriteQuery>,
    partial: Option<Extension<Partial>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write(&state, &name, &query, partial.is_some(), &body, Change::Insert)
}

pub(crate) async fn upsert(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
    Query(query): Query<WriteQuery>,
    partial: Option<Extension<Partial>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write(&state, &name, &query, partial.is_some(), &body, Change::Upsert)
}

/// One NDJSON line as sent.
#[derive(Debug, Deserialize)]
struct Line {
    id: String,
    values: Vec<f64>,
    metadata: Option<Map<String, Value>>,
    namespace: Option<String>,
}

fn write(
    state: &Shared,
    name: &str,
    query: &WriteQuery,
    partial: bool,
    body: &[u8],
    kind: fn(Vec<Vector>) -> Change,
) -> Result<Response, ApiError> {
    let discard = match query.unparsable_behavior.as_deref() {
        None | Some("error") => false,
        Some("discard") => true,
        Some(other) => return Err(invalid(format!("unparsable-behavior must be error or discard, got {other:?}"))),
    };
    let text = std::str::from_utf8(body).map_err(|_| invalid("the NDJSON body is not UTF-8"))?;
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(line) {
            Ok(line) => lines.push(line),
            Err(_) if discard => {}
            Err(e) => return Err(invalid(format!("unparsable NDJSON line {}: {e}", number + 1))),
        }
    }
    if lines.len() > MAX_BATCH {
        return Err(invalid(format!("too many vectors: {} in one request, at most {MAX_BATCH}", lines.len())));
    }
    if partial {
        lines.truncate(lines.len() / 2);
    }
    let id = state.vectorize.mutate(name, |index| {
        let indexed: BTreeSet<String> = index.metadata_indexes.keys().cloned().collect();
        let vectors = lines.into_iter().map(|line| check(index, line, &indexed)).collect::<Result<Vec<_>, _>>()?;
        Ok(kind(vectors))
    })?;
    Ok(envelope::ok(json!({"mutationId": id})))
}

/// Checks one vector against the index and Cloudflare's limits.
fn check(index: &Index, line: Line, indexed: &BTreeSet<String>) -> Result<Vector, ApiError> {
    if line.id.is_empty() || line.id.len() > MAX_ID_BYTES {
        return Err(invalid(format!("vector id {:?} must be 1 to {MAX_ID_BYTES} bytes", line.id)));
    }
    if line.values.len() != index.dimensions {
        return Err(invalid(format!(
            "VECTOR_INSERT_ERROR: invalid vector for id=\"{}\", expected {} dimensions, and got {} dimensions",
            line.id,
            index.dimensions,
            line.values.len()
        )));
    }
    if line.values.iter().any(|v| !v.is_finite()) {
        return Err(invalid(format!("vector {:?} holds a value that is not a finite number", line.id)));
    }
    if let Some(metadata) = &line.metadata {
        let size = serde_json::to_vec(metadata).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "metadata of vector {:?} is {size} bytes, over the limit of {MAX_METADATA_BYTES}",
                line.id
            )));
        }
        check_keys(metadata).map_err(|key| invalid(format!("invalid metadata key {key:?} in vector {:?}: keys must not be empty, contain '.' or '\"', or start with '$'", line.id)))?;
    }
    #[allow(clippy::cast_possible_truncation)] // Vectorize stores values as float32.
    let values = line.values.iter().map(|v| *v as f32).collect();
    Ok(Vector { id: line.id, values, metadata: line.metadata, namespace: line.namespace, indexed: indexed.clone() })
}

/// The first invalid key, at any depth.
fn check_keys(metadata: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in metadata {
        if key.is_empty() || key.contains('.') || key.contains('"') || key.starts_with('$') {
            return Err(key.clone());
        }
        if let Value::Object(inner) = value {
            check_keys(inner)?;
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ReturnMetadata {
    Flag(bool),
    Level(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryBody {
    vector: Vec<f64>,
    #[serde(default = "default_top_k")]
    top_k: usize,
    #[serde(default)]
    return_values: bool,
    return_metadata: Option<ReturnMetadata>,
    filter: Option<Value>,
    namespace: Option<String>,
}

fn default_top_k() -> usize {
    5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetadataLevel {
    None,
    Indexed,
    All,
}

pub(crate) async fn query(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: QueryBody = envelope::parse_json(&body, INVALID)?;
    let level = match body.return_metadata {
        None | Some(ReturnMetadata::Flag(false)) => MetadataLevel::None,
        Some(ReturnMetadata::Flag(true)) => MetadataLevel::All,
        Some(ReturnMetadata::Level(level)) => match level.as_str() {
            "none" => MetadataLevel::None,
            "indexed" => MetadataLevel::Indexed,
            "all" => MetadataLevel::All,
            other => return Err(invalid(format!("returnMetadata must be none, indexed or all, got {other:?}"))),
        },
    };
    let max = if body.return_values || level == MetadataLevel::All { MAX_TOP_K_WITH_DATA } else { MAX_TOP_K };
    if body.top_k == 0 || body.top_k > max {
        return Err(invalid(format!(
            "VECTOR_QUERY_ERROR: topK must be 1 to {max} (at most {MAX_TOP_K_WITH_DATA} with returnValues or \
             returnMetadata=all), got {}",
            body.top_k
        )));
    }
    let filter = match &body.filter {
        Some(filter) => {
            Filter::parse(filter).map_err(|e| invalid(format!("VECTOR_QUERY_ERROR: invalid filter: {e}")))?
        }
        None => Filter::default(),
    };
    #[allow(clippy::cast_possible_truncation)] // Vectorize compares in float32.
    let vector: Vec<f32> = body.vector.iter().map(|v| *v as f32).collect();
    state.vectorize.read(&name, |index| {
        if vector.len() != index.dimensions {
            return Err(invalid(format!(
                "VECTOR_QUERY_ERROR: invalid query vector, expected {} dimensions, and got {} dimensions",
                index.dimensions,
                vector.len()
            )));
        }
        let mut scored: Vec<(f64, &Vector)> = index
            .vectors
            .values()
            .filter(|v| body.namespace.is_none() || v.namespace == body.namespace)
            .filter(|v| {
                filter
                    .matches(&Candidate { metadata: v.metadata.as_ref(), indexed: &v.indexed }, &index.metadata_indexes)
            })
            .map(|v| (index.metric.score(&vector, &v.values), v))
            .collect();
        let closer_first = index.metric == Metric::Euclidean;
        scored.sort_by(|(a, va), (b, vb)| {
            let order = if closer_first { a.total_cmp(b) } else { b.total_cmp(a) };
            order.then_with(|| va.id.cmp(&vb.id))
        });
        scored.truncate(body.top_k);
        let matches: Vec<Value> = scored
            .into_iter()
            .map(|(score, v)| {
                let mut out = json!({"id": v.id, "score": score});
                if body.return_values {
                    out["values"] = json!(v.values);
                }
                match level {
                    MetadataLevel::None => {}
                    MetadataLevel::All => out["metadata"] = json!(v.metadata.clone().unwrap_or_default()),
                    MetadataLevel::Indexed => out["metadata"] = Value::Object(indexed_metadata(index, v)),
                }
                if let Some(namespace) = &v.namespace {
                    out["namespace"] = json!(namespace);
                }
                out
            })
            .collect();
        Ok(envelope::ok(json!({"count": matches.len(), "matches": matches})))
    })
}

/// The properties of `v` that have a metadata index (and had one when `v` was written).
fn indexed_metadata(index: &Index, v: &Vector) -> Map<String, Value> {
    let Some(metadata) = &v.metadata else { return Map::new() };
    index
        .metadata_indexes
        .keys()
        .filter(|property| v.indexed.contains(*property))
        .filter_map(|property| lookup(metadata, property).map(|value| (property.clone(), value.clone())))
        .collect()
}

#[derive(Debug, Deserialize)]
struct IdsBody {
    ids: Vec<String>,
}

fn parse_ids(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let body: IdsBody = envelope::parse_json(body, INVALID)?;
    if body.ids.len() > MAX_IDS {
        return Err(invalid(format!("too many ids: {}, at most {MAX_IDS}", body.ids.len())));
    }
    Ok(body.ids)
}

pub(crate) async fn get_by_ids(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ids = parse_ids(&body)?;
    state.vectorize.read(&name, |index| {
        let found: Vec<Value> = ids
            .iter()
            .filter_map(|id| index.vectors.get(id))
            .map(|v| {
                let mut out =
                    json!({"id": v.id, "values": v.values, "metadata": v.metadata.clone().unwrap_or_default()});
                if let Some(namespace) = &v.namespace {
                    out["namespace"] = json!(namespace);
                }
                out
            })
            .collect();
        Ok(envelope::ok(found))
    })
}

pub(crate) async fn delete_by_ids(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ids = parse_ids(&body)?;
    let id = state.vectorize.mutate(&name, |_| Ok(Change::Delete(ids)))?;
    Ok(envelope::ok(json!({"mutationId": id})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataIndexBody {
    property_name: String,
    index_type: Option<String>,
}

/// `POST /{name}/metadata_index/create`. Takes effect at once: vectors written from now on are indexed.
pub(crate) async fn create_metadata_index(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: MetadataIndexBody = envelope::parse_json(&body, INVALID)?;
    let index_type = body
        .index_type
        .as_deref()
        .and_then(IndexType::parse)
        .ok_or_else(|| invalid("indexType must be string, number or boolean"))?;
    if body.property_name.is_empty() || body.property_name.starts_with('$') || body.property_name.contains('"') {
        return Err(invalid(format!("invalid propertyName {:?}", body.property_name)));
    }
    let mut indexes = lock(&state.vectorize.indexes);
    let index = indexes.get_mut(&name).ok_or_else(|| no_index(&name))?;
    if index.metadata_indexes.contains_key(&body.property_name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            DUPLICATE,
            format!("a metadata index on {:?} already exists", body.property_name),
        ));
    }
    if index.metadata_indexes.len() >= MAX_METADATA_INDEXES {
        return Err(invalid(format!("an index may have at most {MAX_METADATA_INDEXES} metadata indexes")));
    }
    index.metadata_indexes.insert(body.property_name, index_type);
    Ok(envelope::ok(json!({"mutationId": uuid::Uuid::new_v4().to_string()})))
}

pub(crate) async fn list_metadata_indexes(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let indexes = lock(&state.vectorize.indexes);
    let index = indexes.get(&name).ok_or_else(|| no_index(&name))?;
    let list: Vec<Value> = index
        .metadata_indexes
        .iter()
        .map(|(property, kind)| json!({"propertyName": property, "indexType": kind.name()}))
        .collect();
    Ok(envelope::ok(json!({"metadataIndexes": list})))
}

pub(crate) async fn delete_metadata_index(
    State(state): State<Shared>,
    Path((_account, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: MetadataIndexBody = envelope::parse_json(&body, INVALID)?;
    let mut indexes = lock(&state.vectorize.indexes);
    let index = indexes.get_mut(&name).ok_or_else(|| no_index(&name))?;
    index
        .metadata_indexes
        .remove(&body.property_name)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND, format!("no metadata index on {:?}", body.property_name)))?;
    Ok(envelope::ok(json!({"mutationId": uuid::Uuid::new_v4().to_string()})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(id: &str, values: Vec<f32>) -> Vector {
        Vector { id: id.to_owned(), values, metadata: None, namespace: None, indexed: BTreeSet::new() }
    }

    #[test]
    fn mutations_apply_in_order_when_visible() {
        let mut index = Index::new("m", "", 2, Metric::Cosine);
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let at = |id: &str, visible_at, change| Mutation {
            id: id.to_owned(),
            visible_at,
            visible_at_wall: chrono::Utc::now(),
            change,
        };
        index.pending.push_back(at("1", now, Change::Upsert(vec![vector("a", vec![1.0, 0.0])])));
        index.pending.push_back(at("2", later, Change::Insert(vec![vector("a", vec![0.0, 1.0])])));
        index.pending.push_back(at("3", later, Change::Delete(vec!["b".to_owned()])));
        assert_eq!(index.settle(Some(now)), 1);
        assert_eq!(index.processed.as_ref().map(|p| p.0.as_str()), Some("1"));
        assert_eq!(index.settle(None), 2);
        // Insert skipped the existing id.
        assert_eq!(index.vectors["a"].values, vec![1.0, 0.0]);
        assert_eq!(index.processed.as_ref().map(|p| p.0.as_str()), Some("3"));
    }

    #[test]
    fn metrics_score_as_cloudflare() {
        assert!((Metric::Cosine.score(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-9);
        assert!((Metric::Euclidean.score(&[0.0, 0.0], &[3.0, 4.0]) - 5.0).abs() < 1e-9);
        assert!((Metric::DotProduct.score(&[1.0, 2.0], &[3.0, 4.0]) - 11.0).abs() < 1e-9);
        assert_eq!(Metric::Cosine.score(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn metadata_keys_are_checked_at_every_depth() {
        let ok = json!({"a": {"b": 1}});
        assert!(check_keys(ok.as_object().expect("object")).is_ok());
        for bad in [json!({"": 1}), json!({"a.b": 1}), json!({"$a": 1}), json!({"a": {"\"x": 1}})] {
            assert!(check_keys(bad.as_object().expect("object")).is_err(), "{bad}");
        }
    }
}
