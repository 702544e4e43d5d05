//! Target `http_json`: arbitrary bytes as the JSON body of each HTTP route that takes one, sent through the
//! real router (`http::router`: authentication, body limit, the `Body` extractor, the handler, the service)
//! to a scratch store that holds a few memories (`scratch`).
//!
//! Input: byte 0 picks the route: `POST /api/memories` (store), `PUT /api/memories/{hash}` (update),
//! `POST /api/search`, `/api/search/by-tag`, `/api/search/by-time`, `/api/manage/bulk-delete`,
//! `/api/restore`, `/api/memories/{hash}/redact` and `/api/import` (JSON lines or the original's export
//! document); byte 1 picks the memory of a path (one of the seeded memories, or one that does not exist);
//! byte 2 adds the `X-Agent-ID` and `X-Client-Hostname` headers; the rest is the body.
//!
//! Invariants: nothing panics; no answer is a 500, nor a 503 except from a route that must embed a query
//! (search) without the model; every answer is a JSON document; an answer in the 4xx range changed nothing
//! (the log has no new event), and so did a dry run; a stored memory is in the log under the hash of its
//! content.
//!
//! State: the store lives across inputs (opening one per input would allow a few inputs a second); before
//! each input the seeded memories are made live again, and the store is replaced by a fresh one every
//! [`INPUTS_PER_STORE`] inputs, so it stays small.

use super::Bytes;
use super::scratch::{API_KEY, Scratch, made_up_vector};
use crate::backup::Backups;
use crate::http::{EventHub, Served, router};
use crate::service::StoreRequest;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use mms_log::{Actor, ContentHash, Interface, Timestamp};
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

/// Inputs served by one scratch store before it is replaced.
const INPUTS_PER_STORE: u32 = 500;

/// The memories every input finds live: (content, tags, type, created at in seconds).
const SEEDED: &[(&str, &[&str], Option<&str>, f64)] = &[
    ("The deploy checklist lives in the ops wiki", &["ops", "deploy"], Some("reference"), 1_704_412_800.0),
    ("Alice prefers decaf after 3 pm", &["people", "coffee"], Some("note"), 1_717_200_000.0),
    ("Rust 2024 edition: let chains are stable", &["rust"], None, 1_740_000_000.0),
];

/// The routes with a JSON body: method, path (`{hash}` is replaced), and whether it may need the model.
const ROUTES: &[(Method, &str, bool)] = &[
    (Method::POST, "/api/memories", false),
    (Method::PUT, "/api/memories/{hash}", false),
    (Method::POST, "/api/search", true),
    (Method::POST, "/api/search/by-tag", false),
    (Method::POST, "/api/search/by-time", true),
    (Method::POST, "/api/manage/bulk-delete", false),
    (Method::POST, "/api/restore", false),
    (Method::POST, "/api/memories/{hash}/redact", false),
    (Method::POST, "/api/import", false),
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    scratch: Scratch,
    router: axum::Router,
    inputs: u32,
}

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

fn seeded_requests() -> Vec<StoreRequest> {
    SEEDED
        .iter()
        .map(|(content, tags, memory_type, created)| StoreRequest {
            content: content.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            memory_type: memory_type.map(str::to_string),
            metadata: Map::from_iter([("seeded".to_string(), json!(true))]),
            created_at: Timestamp::try_from_secs_f64(*created),
            vector: Some(made_up_vector(&ContentHash::of_content(content))),
            ..StoreRequest::default()
        })
        .collect()
}

impl Harness {
    fn open() -> Harness {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
        let scratch = Scratch::open();
        let service = scratch.service().clone();
        let backups =
            Arc::new(Backups::new(service.log().clone(), scratch.backup.clone(), scratch.store.settings.clone()));
        let events = {
            let _entered = runtime.enter();
            EventHub::new(service.clone(), Duration::from_secs(30))
        };
        let paths = scratch.store.paths().clone();
        let settings = &scratch.store.settings;
        let consolidator = crate::consolidator::Consolidator::new(
            service.clone(),
            settings.options.consolidation.clone(),
            crate::consolidator::Schedule::of(&settings.consolidation),
        );
        let served =
            Served { service, backups, consolidator, sync: None, paths, events, oauth: None, mcp_tools: Vec::new() };
        let mcp = tower::service_fn(|_: Request<Body>| async { Ok::<_, Infallible>(StatusCode::NOT_FOUND) });
        let router = router(served, mcp, &scratch.serve).expect("the router builds");
        Harness { runtime, scratch, router, inputs: 0 }
    }

    /// Makes the seeded memories live again (a store brings back a deleted or redacted one).
    fn reseed(&self) {
        let service = self.scratch.service();
        let actor = Actor::new(Interface::System, Some("fuzz".into()));
        self.runtime
            .block_on(service.store_many(seeded_requests(), actor, |_, _| {}))
            .expect("the seeded memories are stored");
    }

    /// Caches vectors for the content a body would store, so that storing it needs no model.
    fn cache_for(&self, route: usize, body: &[u8]) {
        let contents: Vec<String> = match ROUTES[route].1 {
            // Read as the route reads it, a typed body: serde skips an unknown field without checking its
            // UTF-8 (found by fuzzing: a `Value` refused such a body that the route accepted and stored).
            "/api/memories" => {
                serde_json::from_slice::<ContentOnly>(body).ok().map(|b| b.content).into_iter().collect()
            }
            "/api/import" => std::str::from_utf8(body)
                .ok()
                .and_then(|text| crate::portability::parse_json(text).ok())
                .map(|requests| requests.into_iter().map(|r| r.content).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        self.scratch.cache_vectors(contents.iter().map(String::as_str));
    }
}

/// The one field of a store's body the harness needs.
#[derive(serde::Deserialize)]
struct ContentOnly {
    content: String,
}

pub fn http_json(data: &[u8]) {
    let mut guard = HARNESS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.as_ref().is_none_or(|h| h.inputs >= INPUTS_PER_STORE) {
        // The old store closes (and its directory goes) before the new one opens.
        *guard = None;
        *guard = Some(Harness::open());
    }
    let harness = guard.as_mut().expect("opened above");
    harness.inputs += 1;
    harness.reseed();

    let mut bytes = Bytes::new(data);
    let route = usize::from(bytes.byte()) % ROUTES.len();
    let target = usize::from(bytes.byte()) % (SEEDED.len() + 1);
    let headers = bytes.byte();
    let body = bytes.rest();
    harness.cache_for(route, body);

    let (method, template, may_embed) = &ROUTES[route];
    let hash = match SEEDED.get(target) {
        Some((content, ..)) => ContentHash::of_content(content).to_hex(),
        None => ContentHash::of_content("never stored").to_hex(),
    };
    let mut request = Request::builder()
        .method(method.clone())
        .uri(template.replace("{hash}", &hash))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json");
    if headers & 1 != 0 {
        request = request.header("x-agent-id", "fuzz-agent");
    }
    if headers & 2 != 0 {
        request = request.header("x-client-hostname", "fuzz-host");
    }
    let request = request.body(Body::from(body.to_vec())).expect("a valid request");

    let log = harness.scratch.service().log().clone();
    let before = log.last_seq();
    let router = harness.router.clone();
    let (status, answer) = harness.runtime.block_on(async move {
        let response = router.oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        let answer = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("the body is read");
        (status, answer)
    });
    let after = log.last_seq();
    let what = format!("{method} {template} with {:?} answered {status}", String::from_utf8_lossy(body));
    let answer: Value = serde_json::from_slice(&answer)
        .unwrap_or_else(|_| panic!("{what}: not JSON: {:?}", String::from_utf8_lossy(&answer)));

    let needs_model = status == StatusCode::SERVICE_UNAVAILABLE && *may_embed && answer.to_string().contains("model");
    assert!(!status.is_server_error() || needs_model, "{what}: {answer}");
    if status.is_client_error() {
        assert_eq!(before, after, "{what}, but the log has new events: {answer}");
    }
    let dry_run = answer.get("dry_run").and_then(Value::as_bool) == Some(true)
        || (*template == "/api/manage/bulk-delete" && answer["message"].as_str().is_some_and(|m| m.contains("would")));
    if status.is_success() && dry_run {
        assert_eq!(before, after, "{what}: a dry run appended events: {answer}");
    }
    if status.is_success() && *template == "/api/memories" && answer["success"] == json!(true) {
        let content = answer["memory"]["content"].as_str().expect("a stored memory's content");
        let hash = ContentHash::of_content(content);
        assert_eq!(answer["content_hash"], json!(hash.to_hex()), "{what}: not the hash of its content");
        let head = log.head(&hash).expect("the log reads").expect("the stored memory is in the log");
        assert!(head.live, "{what}: the stored memory is not live");
    }
}
