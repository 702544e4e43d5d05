//! The `memory://` resources, all JSON: stats, tags, the most recent memories, the memories of a tag and a
//! search, in the original's shapes (memories as its `Memory.to_dict()`). An unknown URI is a JSON-RPC error
//! naming the ones that exist.

use super::{McpServer, failure};
use crate::service::{ListRequest, Memory, SearchRequest, ServiceError};
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::{Map, Value, json};

const JSON: &str = "application/json";
const SCHEME: &str = "memory://";
/// The most memories a resource lists.
const MAX_MEMORIES: usize = 100;
/// How many `memory://tag/{tag}` resources the list shows (the most used tags).
const LISTED_TAGS: usize = 5;
const KNOWN: &str = "memory://stats, memory://tags, memory://recent/{n}, memory://tag/{tag}, memory://search/{query}";

/// The parameterised resources.
pub(super) fn templates() -> Vec<ResourceTemplate> {
    [
        ("memory://recent/{n}", "Recent Memories", "Get N most recent memories"),
        ("memory://tag/{tag}", "Memories by Tag", "Get all memories with a specific tag"),
        ("memory://search/{query}", "Search Memories", "Search memories by query"),
    ]
    .into_iter()
    .map(|(uri, name, description)| ResourceTemplate::new(uri, name).with_description(description).with_mime_type(JSON))
    .collect()
}

fn resource(uri: impl Into<String>, name: impl Into<String>, description: impl Into<String>) -> Resource {
    Resource::new(uri, name).with_description(description).with_mime_type(JSON)
}

/// A memory as the original's `Memory.to_dict()`: its fields, then its metadata's keys.
pub(super) fn memory_dict(memory: &Memory) -> Value {
    let mut dict = Map::new();
    dict.insert("content".into(), json!(memory.content));
    dict.insert("content_hash".into(), json!(memory.content_hash));
    dict.insert("tags".into(), json!(memory.tags));
    dict.insert("tags_str".into(), json!(memory.tags.join(",")));
    dict.insert("type".into(), json!(memory.memory_type));
    dict.insert("timestamp".into(), json!(memory.created_at as i64));
    dict.insert("timestamp_float".into(), json!(memory.created_at));
    dict.insert("timestamp_str".into(), json!(memory.created_at_iso));
    dict.insert("created_at".into(), json!(memory.created_at));
    dict.insert("created_at_iso".into(), json!(memory.created_at_iso));
    dict.insert("updated_at".into(), json!(memory.updated_at));
    dict.insert("updated_at_iso".into(), json!(memory.updated_at_iso));
    if let Value::Object(metadata) = &memory.metadata {
        for (key, value) in metadata {
            dict.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    Value::Object(dict)
}

/// A service failure as a JSON-RPC error: the caller's mistakes as invalid params, the rest as internal.
pub(super) fn rpc_error(error: ServiceError) -> ErrorData {
    match error {
        ServiceError::Invalid(_) | ServiceError::NotFound(_) => ErrorData::invalid_params(failure(error), None),
        other => ErrorData::internal_error(failure(other), None),
    }
}

fn decode(part: &str) -> Result<String, ErrorData> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ErrorData::invalid_params(format!("'{part}' is not valid percent-encoded UTF-8"), None))
}

impl McpServer {
    /// The fixed resources and the most used tags.
    pub(super) async fn resources(&self) -> Vec<Resource> {
        let mut list = vec![
            resource("memory://stats", "Memory Statistics", "Current memory database statistics"),
            resource("memory://tags", "Available Tags", "List of all tags used in memories"),
            resource("memory://recent/10", "Recent Memories", "10 most recent memories"),
        ];
        // The tag entries are a convenience: without them the list is still right.
        let tags = self.service.tags().await.unwrap_or_default();
        list.extend(tags.into_iter().take(LISTED_TAGS).map(|t| {
            let encoded = percent_encoding::utf8_percent_encode(&t.tag, percent_encoding::NON_ALPHANUMERIC);
            resource(format!("memory://tag/{encoded}"), format!("Tag: {}", t.tag), format!("Memories tagged {}", t.tag))
        }));
        list
    }

    /// Reads one resource.
    pub(super) async fn read(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let path = uri.strip_prefix(SCHEME).unwrap_or("");
        let value = match path.split_once('/') {
            None if path == "stats" => serde_json::to_value(self.service.stats().await.map_err(rpc_error)?)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
            None if path == "tags" => self.tags_json().await?,
            Some(("recent", n)) => self.recent_json(n).await?,
            Some(("tag", tag)) => self.tag_json(&decode(tag)?).await?,
            Some(("search", query)) => self.search_json(&decode(query)?).await?,
            _ => {
                return Err(ErrorData::resource_not_found(
                    format!("Resource not found: {uri}; the resources are {KNOWN}"),
                    None,
                ));
            }
        };
        let text = serde_json::to_string_pretty(&value).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri).with_mime_type(JSON)]))
    }

    async fn tags_json(&self) -> Result<Value, ErrorData> {
        let tags: Vec<String> = self.service.tags().await.map_err(rpc_error)?.into_iter().map(|t| t.tag).collect();
        Ok(json!({ "count": tags.len(), "tags": tags }))
    }

    async fn memories(&self, tags: Vec<String>, size: usize) -> Result<Vec<Memory>, ErrorData> {
        let request =
            ListRequest { page: 1, page_size: size, tags, match_all: false, memory_type: None, created: None };
        Ok(self.service.list(request).await.map_err(rpc_error)?.memories)
    }

    async fn recent_json(&self, n: &str) -> Result<Value, ErrorData> {
        let n: usize = n.parse().ok().filter(|n| (1..=MAX_MEMORIES).contains(n)).ok_or_else(|| {
            ErrorData::invalid_params(
                format!("memory://recent/{{n}} needs n from 1 to {MAX_MEMORIES}, got '{n}'"),
                None,
            )
        })?;
        let memories: Vec<Value> = self.memories(Vec::new(), n).await?.iter().map(memory_dict).collect();
        Ok(json!({ "memories": memories, "count": memories.len() }))
    }

    async fn tag_json(&self, tag: &str) -> Result<Value, ErrorData> {
        if tag.trim().is_empty() {
            return Err(ErrorData::invalid_params("memory://tag/{tag} needs a tag", None));
        }
        let memories: Vec<Value> =
            self.memories(vec![tag.to_string()], MAX_MEMORIES).await?.iter().map(memory_dict).collect();
        Ok(json!({ "tag": tag, "memories": memories, "count": memories.len() }))
    }

    async fn search_json(&self, query: &str) -> Result<Value, ErrorData> {
        let request = SearchRequest { query: query.to_string(), limit: 10, ..SearchRequest::default() };
        let hits = self.service.search(request).await.map_err(rpc_error)?;
        let results: Vec<Value> = hits
            .iter()
            .map(|hit| {
                json!({
                    "memory": memory_dict(&hit.memory),
                    "relevance_score": hit.similarity_score,
                    "similarity_score": hit.similarity_score,
                    "debug_info": { "reason": hit.relevance_reason },
                })
            })
            .collect();
        Ok(json!({ "query": query, "results": results, "count": results.len() }))
    }
}
