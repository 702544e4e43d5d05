//! The calls themselves: D1 statements, Workers AI embeddings, Vectorize writes and queries, R2 objects.
//! Each keeps within its product's documented limits by splitting work into several calls.

use super::{Body, Cloudflare, CloudflareError, Reply};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Texts per Workers AI embedding call.
const AI_TEXTS_PER_CALL: usize = 100;
/// Vectors per Vectorize upsert over the HTTP API.
const VECTORS_PER_UPSERT: usize = 5000;
/// Ids per Vectorize delete_by_ids or get_by_ids call.
const IDS_PER_CALL: usize = 1000;
/// Bound parameters D1 accepts in one statement.
pub(super) const D1_MAX_PARAMS: usize = 100;

/// One SQL statement with its positional parameters.
#[derive(Clone, Debug, Serialize)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Statement {
        Statement { sql: sql.into(), params }
    }
}

/// One vector to upsert: `id` is the memory's content hash.
#[derive(Clone, Debug, Serialize)]
pub struct VectorLine {
    pub id: String,
    pub values: Vec<f32>,
    pub metadata: Map<String, Value>,
}

/// One Vectorize query match.
#[derive(Clone, Debug)]
pub struct Match {
    pub id: String,
    pub score: f32,
    pub metadata: Map<String, Value>,
}

fn unexpected(what: &str, value: &Value) -> CloudflareError {
    let mut shown = value.to_string();
    shown.truncate(200);
    CloudflareError::Permanent(format!("unexpected {what} reply: {shown}"))
}

impl Cloudflare {
    fn result(reply: Reply) -> Result<Value, CloudflareError> {
        match reply {
            Reply::Result(value) => Ok(value),
            Reply::Bytes(_) => Err(CloudflareError::Permanent("a JSON reply was expected".into())),
            Reply::Missing(why) => Err(CloudflareError::Permanent(why)),
        }
    }

    /// Runs statements in D1 as one batch (one transaction: all or none) and returns each one's rows.
    pub async fn d1(&self, statements: &[Statement]) -> Result<Vec<Vec<Map<String, Value>>>, CloudflareError> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(statement) = statements.iter().find(|s| s.params.len() > D1_MAX_PARAMS) {
            return Err(CloudflareError::Permanent(format!(
                "a D1 statement has {} parameters, more than D1's {D1_MAX_PARAMS}: {}",
                statement.params.len(),
                statement.sql.chars().take(80).collect::<String>()
            )));
        }
        let body = match statements {
            [one] => json!({"sql": one.sql, "params": one.params}),
            many => json!({"batch": many}),
        };
        let path = format!("/d1/database/{}/query", self.resources.d1_database_id);
        let result = Cloudflare::result(self.call(Method::POST, &path, Body::Json(body)).await?)?;
        let Value::Array(results) = result else {
            return Err(unexpected("D1", &result));
        };
        results
            .into_iter()
            .map(|statement| match statement.get("results") {
                Some(Value::Array(rows)) => Ok(rows
                    .iter()
                    .map(|row| match row {
                        Value::Object(row) => row.clone(),
                        _ => Map::new(),
                    })
                    .collect()),
                _ => Err(unexpected("D1 statement", &statement)),
            })
            .collect()
    }

    /// Embeds texts with the Workers AI model, in calls of at most 100 texts.
    pub async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, CloudflareError> {
        let mut out = Vec::with_capacity(texts.len());
        let path = format!("/ai/run/{}", self.resources.embedding_model);
        for chunk in texts.chunks(AI_TEXTS_PER_CALL) {
            let result = Cloudflare::result(self.call(Method::POST, &path, Body::Json(json!({"text": chunk}))).await?)?;
            let data = result.get("data").and_then(Value::as_array).ok_or_else(|| unexpected("Workers AI", &result))?;
            if data.len() != chunk.len() {
                // Seen as a transient fault: a rate-limited or interrupted run answering for part of the batch.
                return Err(CloudflareError::Transient(format!(
                    "Workers AI embedded {} of {} texts",
                    data.len(),
                    chunk.len()
                )));
            }
            for vector in data {
                let values = vector
                    .as_array()
                    .map(|v| v.iter().filter_map(Value::as_f64).map(|x| x as f32).collect::<Vec<f32>>())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| unexpected("Workers AI vector", vector))?;
                out.push(values);
            }
        }
        Ok(out)
    }

    /// Upserts vectors (each replaces the vector and metadata stored under its id), as NDJSON.
    pub async fn upsert_vectors(&self, lines: &[VectorLine]) -> Result<(), CloudflareError> {
        let path = format!("/vectorize/v2/indexes/{}/upsert?unparsable-behavior=error", self.resources.vectorize_index);
        for chunk in lines.chunks(VECTORS_PER_UPSERT) {
            let mut body = Vec::new();
            for line in chunk {
                serde_json::to_writer(&mut body, line)
                    .map_err(|e| CloudflareError::Permanent(format!("cannot encode a vector: {e}")))?;
                body.push(b'\n');
            }
            let result = Cloudflare::result(
                self.call(Method::POST, &path, Body::Bytes { bytes: body, content_type: "application/x-ndjson" })
                    .await?,
            )?;
            if result.get("mutationId").is_none() {
                return Err(unexpected("Vectorize upsert", &result));
            }
        }
        Ok(())
    }

    /// Deletes vectors by id (ids that are not there are ignored by Vectorize).
    pub async fn delete_vectors(&self, ids: &[String]) -> Result<(), CloudflareError> {
        let path = format!("/vectorize/v2/indexes/{}/delete_by_ids", self.resources.vectorize_index);
        for chunk in ids.chunks(IDS_PER_CALL) {
            Cloudflare::result(self.call(Method::POST, &path, Body::Json(json!({"ids": chunk}))).await?)?;
        }
        Ok(())
    }

    /// The ids and scores of the `top_k` (at most 100) nearest vectors.
    pub async fn query_vectors(
        &self,
        vector: &[f32],
        top_k: usize,
        filter: Option<Value>,
    ) -> Result<Vec<Match>, CloudflareError> {
        let path = format!("/vectorize/v2/indexes/{}/query", self.resources.vectorize_index);
        let mut body =
            json!({"vector": vector, "topK": top_k.clamp(1, 20), "returnValues": false, "returnMetadata": "all"});
        if let Some(filter) = filter {
            body["filter"] = filter;
        }
        let result = Cloudflare::result(self.call(Method::POST, &path, Body::Json(body)).await?)?;
        let matches =
            result.get("matches").and_then(Value::as_array).ok_or_else(|| unexpected("Vectorize query", &result))?;
        Ok(matches
            .iter()
            .filter_map(|m| {
                Some(Match {
                    id: m.get("id")?.as_str()?.to_string(),
                    score: m.get("score").and_then(Value::as_f64).unwrap_or_default() as f32,
                    metadata: m.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Checks that the Vectorize index exists and answers; returns its description.
    pub async fn vectorize_index(&self) -> Result<Value, CloudflareError> {
        let path = format!("/vectorize/v2/indexes/{}", self.resources.vectorize_index);
        Cloudflare::result(self.call(Method::GET, &path, Body::None).await?)
    }

    fn object_path(&self, bucket: &str, key: &str) -> String {
        let key: String = key
            .split('/')
            .map(|part| percent_encoding::utf8_percent_encode(part, KEY).to_string())
            .collect::<Vec<_>>()
            .join("/");
        format!("/r2/buckets/{bucket}/objects/{key}")
    }

    /// Writes an R2 object (the REST object path the original used).
    pub async fn put_object(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), CloudflareError> {
        let path = self.object_path(bucket, key);
        match self.call(Method::PUT, &path, Body::Bytes { bytes, content_type: "text/plain; charset=utf-8" }).await? {
            Reply::Missing(why) => Err(CloudflareError::Permanent(why)),
            _ => Ok(()),
        }
    }

    /// Reads an R2 object; None when it does not exist.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, CloudflareError> {
        let path = self.object_path(bucket, key);
        match self.call(Method::GET, &path, Body::None).await? {
            Reply::Bytes(bytes) => Ok(Some(bytes)),
            Reply::Missing(_) => Ok(None),
            Reply::Result(value) => Err(unexpected("R2 object", &value)),
        }
    }

    /// Deletes an R2 object; deleting one that is not there succeeds.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), CloudflareError> {
        let path = self.object_path(bucket, key);
        self.call(Method::DELETE, &path, Body::None).await.map(|_| ())
    }
}

/// What an R2 key segment must escape in a URL path.
const KEY: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
