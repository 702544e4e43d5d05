//! R2 through Cloudflare's REST object path (what the original service used):
//! `PUT/GET/DELETE /r2/buckets/{bucket}/objects/{key}` and `GET /r2/buckets/{bucket}/objects` (list).
//! Objects live in memory.

use crate::control::lock;
use crate::envelope::{self, ApiError};
use crate::hash::hash64;
use crate::state::Shared;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

/// R2's limit on key length, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// R2's page size limit for listing.
const MAX_LIST: usize = 1000;

#[derive(Debug, Clone)]
struct Object {
    bytes: Bytes,
    content_type: String,
    etag: String,
    uploaded: String,
}

impl Object {
    fn describe(&self, key: &str) -> Value {
        json!({
            "key": key,
            "size": self.bytes.len(),
            "etag": self.etag,
            "last_modified": self.uploaded,
            "uploaded": self.uploaded,
            "storage_class": "Standard",
            "http_metadata": {"contentType": self.content_type},
        })
    }
}

/// The buckets and their objects, by key.
#[derive(Debug)]
pub(crate) struct R2 {
    buckets: Mutex<HashMap<String, BTreeMap<String, Object>>>,
}

impl R2 {
    pub(crate) fn new(names: &[String]) -> R2 {
        R2 { buckets: Mutex::new(names.iter().map(|name| (name.clone(), BTreeMap::new())).collect()) }
    }
}

fn no_bucket() -> ApiError {
    ApiError::not_found(10006, "The specified bucket does not exist.")
}

fn no_key() -> ApiError {
    ApiError::not_found(10007, "The specified key does not exist.")
}

pub(crate) async fn put(
    State(state): State<Shared>,
    Path((_account, bucket, key)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad_request(10020, format!("The key must be 1 to {MAX_KEY_BYTES} bytes long")));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let object = Object {
        etag: format!("{:016x}", hash64(&body)),
        bytes: body,
        content_type,
        uploaded: crate::vectorize::now_iso(),
    };
    let described = object.describe(&key);
    lock(&state.r2.buckets).get_mut(&bucket).ok_or_else(no_bucket)?.insert(key, object);
    Ok(envelope::ok(described))
}

/// Returns the object's bytes themselves, not an envelope.
pub(crate) async fn get(
    State(state): State<Shared>,
    Path((_account, bucket, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let object = lock(&state.r2.buckets).get(&bucket).ok_or_else(no_bucket)?.get(&key).cloned().ok_or_else(no_key)?;
    let mut response = Body::from(object.bytes).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&object.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", object.etag)) {
        headers.insert(header::ETAG, value);
    }
    Ok(response)
}

/// Deleting a missing key succeeds, as in R2.
pub(crate) async fn delete(
    State(state): State<Shared>,
    Path((_account, bucket, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    lock(&state.r2.buckets).get_mut(&bucket).ok_or_else(no_bucket)?.remove(&key);
    Ok(envelope::ok(Value::Null))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(rename = "max-keys", alias = "per_page")]
    max_keys: Option<usize>,
    prefix: Option<String>,
    /// The last key of the previous page.
    cursor: Option<String>,
    start_after: Option<String>,
}

pub(crate) async fn list(
    State(state): State<Shared>,
    Path((_account, bucket)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = query.max_keys.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let prefix = query.prefix.unwrap_or_default();
    let buckets = lock(&state.r2.buckets);
    let objects = buckets.get(&bucket).ok_or_else(no_bucket)?;
    let after = query.cursor.or(query.start_after);
    let start = match &after {
        Some(key) => Bound::Excluded(key.clone()),
        None => Bound::Unbounded,
    };
    let mut matching = objects.range((start, Bound::Unbounded)).filter(|(key, _)| key.starts_with(&prefix));
    let page: Vec<(&String, &Object)> = matching.by_ref().take(limit).collect();
    let truncated = matching.next().is_some();
    let cursor = if truncated { page.last().map(|(key, _)| (*key).clone()) } else { None };
    let result: Vec<Value> = page.iter().map(|(key, object)| object.describe(key)).collect();
    Ok(envelope::ok_with_info(
        result,
        json!({"cursor": cursor, "is_truncated": truncated, "per_page": limit, "delimiter": null}),
    ))
}
