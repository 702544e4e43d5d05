//! Time travel without restoring. The law: list, get and search as of event N answer exactly what the live
//! store answered right after event N (recorded while random operations ran, restores among them), and a
//! moment stands for the last event committed at or before it. Checked with proptest through the library
//! and the real model; then the CLI, HTTP (400 for an unreadable `as_of`) and MCP (Python SDK) surfaces.

use crate::support::{DataDir, Op, Server, apply_op, op, run_python_client};
use mcp_memory_service::service::{Hit, ListRequest, Memory, Point, SearchMode, SearchRequest, Service, ServiceError};
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn content(memory: u8) -> String {
    let topics = ["databases and indexes", "cooking pasta", "mountain hiking", "tax returns", "jazz piano", "rust"];
    format!("Memory {memory} about {}", topics[memory as usize % topics.len()])
}

fn hash(memory: u8) -> String {
    crate::support::content_hash(&content(memory))
}

/// What the store answers at one point: every live memory, and three searches.
#[derive(Clone, Debug, PartialEq)]
struct Answers {
    memories: BTreeMap<String, Value>,
    tagged: Vec<String>,
    semantic: Vec<(String, String)>,
    keyword: Vec<(String, String)>,
}

fn list_all() -> ListRequest {
    ListRequest { page: 1, page_size: 100, tags: vec![], match_all: false, memory_type: None, created: None }
}

fn tagged() -> ListRequest {
    ListRequest { tags: vec!["tag1".into()], ..list_all() }
}

fn search(mode: SearchMode) -> SearchRequest {
    SearchRequest { query: "cooking dinner and databases".into(), mode, limit: 4, ..SearchRequest::default() }
}

/// Hashes and scores, the scores printed so that equal answers compare equal.
fn hits(hits: Vec<Hit>) -> Vec<(String, String)> {
    hits.into_iter().map(|h| (h.memory.content_hash, format!("{:.6}", h.similarity_score))).collect()
}

fn by_hash(memories: Vec<Memory>) -> BTreeMap<String, Value> {
    memories.into_iter().map(|m| (m.content_hash.clone(), serde_json::to_value(&m).expect("JSON"))).collect()
}

async fn live(service: &Service) -> Answers {
    Answers {
        memories: by_hash(service.list(list_all()).await.expect("list").memories),
        tagged: service.list(tagged()).await.expect("list").memories.into_iter().map(|m| m.content_hash).collect(),
        semantic: hits(service.search(search(SearchMode::Semantic)).await.expect("search")),
        keyword: hits(service.search(search(SearchMode::Keyword)).await.expect("search")),
    }
}

/// The same questions as of a point, and the event that point resolved to.
async fn past(service: &Service, target: Point) -> (Answers, u64) {
    let (all, as_of) = service.list_as_of(list_all(), target).await.expect("list as of");
    let (tagged, other) = service.list_as_of(tagged(), target).await.expect("list as of");
    assert_eq!(as_of, other);
    let (semantic, _) = service.search_as_of(search(SearchMode::Semantic), target).await.expect("search as of");
    let (keyword, _) = service.search_as_of(search(SearchMode::Keyword), target).await.expect("search as of");
    let answers = Answers {
        memories: by_hash(all.memories),
        tagged: tagged.memories.into_iter().map(|m| m.content_hash).collect(),
        semantic: hits(semantic),
        keyword: hits(keyword),
    };
    (answers, as_of.seq)
}

async fn run(service: &Service, ops: &[Op], checks: &[u8]) -> Result<(), TestCaseError> {
    // What the store answered right after each event, recorded as it happened.
    let mut points: Vec<(u64, Answers)> = vec![(0, live(service).await)];
    for op in ops {
        let result = apply_op(service, op, content, &points).await;
        if result.is_ok() {
            // A restore appends several events at once: the store is recorded after its last one only.
            points.push((service.log().last_seq().0, live(service).await));
        }
    }
    let last = service.log().last_seq().0;
    let mut wanted: Vec<usize> = checks.iter().map(|c| *c as usize % points.len()).collect();
    wanted.push(0);
    for index in wanted {
        let (seq, expected) = &points[index];
        let (answers, resolved) = past(service, Point::Seq(*seq)).await;
        prop_assert_eq!(resolved, *seq);
        prop_assert_eq!(&answers, expected, "as of event {} = what the store answered then", seq);
        for memory in 0..6u8 {
            let got = service.get_as_of(&hash(memory), Point::Seq(*seq)).await;
            match (got, expected.memories.get(&hash(memory))) {
                (Ok((got, _)), Some(then)) => prop_assert_eq!(&serde_json::to_value(&got).expect("JSON"), then),
                (Err(ServiceError::NotFound(_)), None) => {}
                (got, then) => prop_assert!(false, "get {} as of {}: {:?}, expected {:?}", memory, seq, got, then),
            }
        }
        // The moment of an event stands for it (or for a later event committed in the same microsecond).
        if *seq > 0 {
            let (_, as_of) = service.list_as_of(list_all(), Point::Seq(*seq)).await.expect("list");
            let at = as_of.at.clone().expect("an event has a time");
            let at = chrono::DateTime::parse_from_rfc3339(&at).expect("RFC 3339").with_timezone(&chrono::Utc);
            let by_time = service.as_of(Point::At(at)).await.expect("as of a moment");
            prop_assert!(by_time.seq >= *seq && by_time.at == as_of.at, "{:?} by time: {:?}", as_of, by_time);
        }
    }
    // Past the end is now; before the first event, empty.
    let (now, resolved) = past(service, Point::Seq(last + 1000)).await;
    prop_assert_eq!(resolved, last);
    prop_assert_eq!(&now, &live(service).await);
    let long_ago = chrono::DateTime::parse_from_rfc3339("2001-01-01T00:00:00Z").expect("a time").to_utc();
    let (empty, resolved) = past(service, Point::At(long_ago)).await;
    prop_assert_eq!((resolved, empty.memories.len()), (0, 0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn as_of_answers_what_the_store_answered_then(
        ops in prop::collection::vec(op(4), 6..24),
        checks in prop::collection::vec(any::<u8>(), 4),
    ) {
        let (_data, runtime, store) = crate::support::fresh_store();
        let result = runtime.block_on(run(&store.service, &ops, &checks));
        store.close();
        result?;
    }
}

/// Events: 1 store A (tags x), 2 store B, 3 update A (tags x,y), 4 delete B.
fn four_events(data: &DataDir) -> (String, String) {
    let a = data.store("Alpha decided to use PostgreSQL for billing", &["x"]);
    let b = data.store("Bravo prefers SQLite for the mobile app", &["x"]);
    data.ok(&["update", &a, "--tags", "x,y"]);
    data.ok(&["delete", &b]);
    (a, b)
}

#[test]
fn the_cli_answers_as_of_an_event_or_a_moment() {
    let data = DataDir::new();
    let (a, b) = four_events(&data);
    assert_eq!(data.list(&[]).0, vec![a.clone()]);
    let (listed, total) = data.list(&["--as-of", "2"]);
    assert_eq!((listed, total), (vec![b.clone(), a.clone()], 2), "both, newest first");
    let out = data.ok(&["list", "--as-of", "seq:2"]);
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("as of event 2 (")), "{out}");
    assert_eq!(data.list(&["--as-of", "3", "--tags", "y"]).0, vec![a.clone()]);
    assert_eq!(data.list(&["--as-of", "2", "--tags", "y"]).1, 0);
    assert_eq!(data.list(&["--as-of", "0"]).1, 0, "before the first event: empty");
    assert_eq!(data.list(&["--as-of", "2001-01-01T00:00:00Z"]).1, 0, "before the first event: empty");
    assert_eq!(data.list(&["--as-of", "99999"]).0, vec![a.clone()], "past the end: now");
    assert_eq!(data.list(&["--as-of", "2999-01-01 00:00"]).0, vec![a.clone()], "the future: now");

    let then: Value = serde_json::from_str(&data.ok(&["get", &a, "--as-of", "1"])).expect("JSON");
    assert_eq!(then["tags"], json!(["x"]), "{then}");
    assert_eq!(then["as_of"]["seq"], 1, "{then}");
    assert_eq!(data.get(&a)["tags"], json!(["x", "y"]));
    assert!(data.get(&a).get("as_of").is_none(), "a live get is unchanged");
    assert!(data.fails_with(4, &["get", &b, "--as-of", "4"]).contains("not found"));
    let then: Value = serde_json::from_str(&data.ok(&["get", &b, "--as-of", "3"])).expect("JSON");
    assert_eq!(then["content_hash"], json!(b));

    let found = data.search(&["SQLite mobile", "--mode", "keyword", "--as-of", "2"]);
    assert_eq!(found, vec![b.clone()]);
    assert!(data.search(&["SQLite mobile", "--mode", "keyword"]).is_empty(), "deleted now");
    let found = data.search(&["which database for the phone app", "--as-of", "3", "-n", "1"]);
    assert_eq!(found, vec![b.clone()], "semantic search as of event 3 finds the memory deleted since");
    for bad in ["yesterdayish", "seq:x", ""] {
        let error = data.fails(&["list", "--as-of", bad]);
        assert!(error.contains("as_of") && error.contains("sequence number"), "{bad}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answers_as_of_and_refuses_unreadable_points() {
    let data = DataDir::new();
    let (a, b) = four_events(&data);
    let server = Server::start(&data, &[("MCP_API_KEY", "as-of-key")]).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(server.url(path)).bearer_auth("as-of-key").send();
    let post = |path: &str, body: Value| client.post(server.url(path)).bearer_auth("as-of-key").json(&body).send();
    let json = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.expect("JSON")
    };

    let page = json(get("/api/memories?as_of=2").await.expect("an answer")).await;
    assert_eq!((page["total"].as_u64(), page["as_of"]["seq"].as_u64()), (Some(2), Some(2)), "{page}");
    assert!(page["as_of"]["at"].is_string(), "{page}");
    let page = json(get("/api/memories").await.expect("an answer")).await;
    assert_eq!(page["total"], 1);
    assert!(page.get("as_of").is_none(), "the live shape is unchanged: {page}");
    let page = json(get("/api/memories?as_of=2001-01-01T00:00:00Z").await.expect("an answer")).await;
    assert_eq!((page["total"].as_u64(), &page["as_of"]), (Some(0), &json!({"seq": 0, "at": null})), "{page}");

    let memory = json(get(&format!("/api/memories/{a}?as_of=seq:1")).await.expect("an answer")).await;
    assert_eq!((&memory["tags"], &memory["as_of"]["seq"]), (&json!(["x"]), &json!(1)), "{memory}");
    let gone = get(&format!("/api/memories/{b}?as_of=4")).await.expect("an answer");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let memory = json(get(&format!("/api/memories/{b}?as_of=3")).await.expect("an answer")).await;
    assert_eq!(memory["content_hash"], json!(b));

    let body = json!({"query": "SQLite mobile", "mode": "keyword", "as_of": "2"});
    let found = json(post("/api/search", body).await.expect("an answer")).await;
    assert_eq!(found["results"][0]["memory"]["content_hash"], json!(b), "{found}");
    assert_eq!(found["as_of"]["seq"], 2, "{found}");
    let found =
        json(post("/api/search", json!({"query": "SQLite mobile", "mode": "keyword"})).await.expect("an answer")).await;
    assert_eq!(found["total_found"], 0, "{found}");
    let found = json(post("/api/search/by-tag", json!({"tags": ["x"], "as_of": "3"})).await.expect("an answer")).await;
    assert_eq!(found["total_found"], 2, "{found}");
    let found =
        json(post("/api/search/by-time", json!({"query": "today", "as_of": "1"})).await.expect("an answer")).await;
    assert_eq!((found["total_found"].as_u64(), found["as_of"]["seq"].as_u64()), (Some(1), Some(1)), "{found}");

    // The overview's totals as of an event: both memories and both tags after event 3, and created within
    // the week before it; the live one has no as_of.
    let overview = json(get("/api/analytics/overview?as_of=3").await.expect("an answer")).await;
    let totals = ["total_memories", "unique_tags", "memories_this_week", "memories_this_month"].map(|k| &overview[k]);
    assert_eq!(totals, [&json!(2), &json!(2), &json!(2), &json!(2)], "{overview}");
    assert_eq!(overview["as_of"]["seq"], 3, "{overview}");
    let overview = json(get("/api/analytics/overview?as_of=0").await.expect("an answer")).await;
    assert_eq!((&overview["total_memories"], &overview["unique_tags"]), (&json!(0), &json!(0)), "{overview}");
    let overview = json(get("/api/analytics/overview").await.expect("an answer")).await;
    assert_eq!((&overview["total_memories"], overview.get("as_of")), (&json!(1), None), "{overview}");

    for response in [
        get("/api/analytics/overview?as_of=someday").await,
        get("/api/memories?as_of=blursday").await,
        get(&format!("/api/memories/{a}?as_of=seq:minus")).await,
        post("/api/search", json!({"query": "x", "as_of": "not a time"})).await,
        post("/api/search/by-tag", json!({"tags": ["x"], "as_of": ""})).await,
        post("/api/search/by-time", json!({"query": "today", "as_of": "seq:"})).await,
    ] {
        let response = response.expect("an answer");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.expect("JSON");
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("as_of")), "{body}");
    }

    // A redaction reaches the past too: the kept read model of event 2 is dropped, and the replay reads
    // the erased events.
    let redacted = post(&format!("/api/memories/{a}/redact"), json!({"reason": "test"})).await.expect("an answer");
    assert_eq!(redacted.status(), StatusCode::OK);
    let page = json(get("/api/memories?as_of=2").await.expect("an answer")).await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["memories"][0]["content_hash"], json!(b), "{page}");
    let gone = get(&format!("/api/memories/{a}?as_of=1")).await.expect("an answer");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let body = json!({"query": "Alpha PostgreSQL billing", "mode": "keyword", "as_of": "3"});
    let found = json(post("/api/search", body).await.expect("an answer")).await;
    assert_eq!(found["total_found"], 0, "{found}");
}

#[test]
fn the_python_sdk_asks_as_of_over_stdio() {
    let data = DataDir::new();
    run_python_client("as_of_client.py", &[env!("CARGO_BIN_EXE_mcp-memory-service"), &data.path().to_string_lossy()]);
}
