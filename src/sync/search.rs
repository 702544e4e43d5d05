//! The cloudflare backend's semantic search, as the original's Cloudflare backend does it: the query
//! embedded by Workers AI, ranked by Vectorize, the memories read from D1 (content kept in R2 read from
//! there).

use super::d1;
use crate::cloudflare::{Cloudflare, CloudflareError, Statement};
use crate::service::{RemoteHit, RemoteSearch};
use mms_log::{MemoryRecord, Timestamp};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Vectorize + D1 as the service's semantic index.
pub(super) struct VectorizeSearch {
    pub(super) cf: Arc<Cloudflare>,
}

fn record(row: &Map<String, Value>) -> Option<MemoryRecord> {
    let time = |key: &str| row.get(key).and_then(Value::as_f64).and_then(Timestamp::try_from_secs_f64);
    let created_at = time("created_at")?;
    let tags: Vec<String> =
        row.get("tags").and_then(Value::as_str).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    Some(MemoryRecord {
        content: row.get("content")?.as_str()?.to_string(),
        tags,
        memory_type: row.get("memory_type").and_then(Value::as_str).map(String::from),
        metadata: row
            .get("metadata_json")
            .and_then(Value::as_str)
            .filter(|m| serde_json::from_str::<Map<String, Value>>(m).is_ok())
            .unwrap_or("{}")
            .to_string(),
        created_at,
        updated_at: time("updated_at").unwrap_or(created_at),
    })
}

impl VectorizeSearch {
    async fn search(&self, query: String, top_k: usize) -> Result<Vec<RemoteHit>, CloudflareError> {
        let vector = self.cf.embed(&[query.as_str()]).await?.pop().unwrap_or_default();
        let matches = self.cf.query_vectors(&vector, top_k, None).await?;
        if matches.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = matches.iter().map(|m| m.id.as_str()).collect();
        let rows = self
            .cf
            .d1(&[Statement::new(
                "SELECT m.content_hash AS content_hash, m.content AS content, m.memory_type AS memory_type, \
                 m.metadata_json AS metadata_json, m.created_at AS created_at, m.updated_at AS updated_at, \
                 (SELECT json_group_array(t.name) FROM memory_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.memory_id = m.id) AS tags \
                 FROM memories m WHERE m.content_hash IN (SELECT value FROM json_each(?1))",
                vec![json!(serde_json::to_string(&ids).expect("ids are strings"))],
            )])
            .await?
            .pop()
            .unwrap_or_default();
        let mut found: HashMap<String, MemoryRecord> = rows
            .iter()
            .filter_map(|row| Some((row.get("content_hash")?.as_str()?.to_string(), record(row)?)))
            .collect();
        let mut hits = Vec::with_capacity(matches.len());
        // Vectorize may still hold a vector whose memory D1 no longer has: such a match is skipped.
        for found_match in matches {
            let Some(mut record) = found.remove(&found_match.id) else { continue };
            if let (Some(key), Some(bucket)) = (d1::r2_key_of(&record.content), &self.cf.resources.r2_bucket) {
                let key = key.to_string();
                match self.cf.get_object(bucket, &key).await? {
                    Some(bytes) => record.content = String::from_utf8_lossy(&bytes).into_owned(),
                    None => continue,
                }
            }
            hits.push(RemoteHit { content_hash: found_match.id, record, score: f64::from(found_match.score) });
        }
        Ok(hits)
    }
}

impl RemoteSearch for VectorizeSearch {
    fn nearest(
        &self,
        query: String,
        top_k: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<RemoteHit>, String>> + Send + '_>> {
        Box::pin(async move { self.search(query, top_k).await.map_err(|e| e.to_string()) })
    }
}
