//! The HTTP API against the real server: the auth matrix, every route with the original's shapes, bad input
//! that writes nothing, the SSE stream's resume without gaps or duplicates and its close at shutdown,
//! schemathesis against `/openapi.json`, and the dashboard in headless Chromium.

use crate::support::{DataDir, Server, browser_check, content_hash, panel_shots, signal, test_python};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KEY: &str = "test-key-0123";

/// A client that sends the API key as a Bearer token.
struct Api<'a> {
    server: &'a Server,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(server: &'a Server) -> Api<'a> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("an HTTP client");
        Api { server, client }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method.clone(), self.server.url(path)).bearer_auth(KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path} -> {status}: not JSON: {text}"));
        (status, body)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "POST {path} {body}: {answer}");
        answer
    }

    async fn store(&self, content: &str, tags: &[&str], memory_type: Option<&str>) -> String {
        let body =
            self.post("/api/memories", json!({ "content": content, "tags": tags, "memory_type": memory_type })).await;
        assert_eq!(body["success"], true, "{body}");
        let hash = body["content_hash"].as_str().expect("a hash").to_string();
        assert_eq!(hash, content_hash(content));
        hash
    }

    /// The log's last sequence number.
    async fn last_seq(&self) -> u64 {
        self.get("/api/log?limit=1").await["last_seq"].as_u64().expect("last_seq")
    }
}

async fn server(data: &DataDir, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![("MCP_API_KEY", KEY)];
    env.extend_from_slice(extra);
    Server::start(data, &env).await
}

fn hashes(results: &Value, field: &str) -> Vec<String> {
    results[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {results}"))
        .iter()
        .map(|r| r.get("memory").unwrap_or(r)["content_hash"].as_str().expect("a hash").to_string())
        .collect()
}

#[tokio::test]
async fn every_route_but_health_and_static_files_needs_the_key() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let client = reqwest::Client::new();
    let hash = content_hash("anything");
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/api/health/detailed".into()),
        (Method::GET, "/api/memories".into()),
        (Method::POST, "/api/memories".into()),
        (Method::GET, format!("/api/memories/{hash}")),
        (Method::PUT, format!("/api/memories/{hash}")),
        (Method::DELETE, format!("/api/memories/{hash}")),
        (Method::GET, format!("/api/memories/{hash}/history")),
        (Method::POST, format!("/api/memories/{hash}/restore")),
        (Method::GET, "/api/log".into()),
        (Method::GET, "/api/tags".into()),
        (Method::POST, "/api/search".into()),
        (Method::POST, "/api/search/by-tag".into()),
        (Method::POST, "/api/search/by-time".into()),
        (Method::GET, format!("/api/search/similar/{hash}")),
        (Method::POST, "/api/manage/bulk-delete".into()),
        (Method::PUT, "/api/manage/tags/a?new_tag=b".into()),
        (Method::GET, "/api/analytics/overview".into()),
        (Method::GET, "/api/analytics/activity".into()),
        (Method::GET, "/api/events".into()),
        (Method::GET, "/api/events/stats".into()),
        (Method::GET, "/api/sync/status".into()),
    ];
    for (method, path) in &routes {
        let url = server.url(path);
        let missing = client.request(method.clone(), &url).send().await.expect("send");
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED, "{method} {path} without a key");
        assert_eq!(missing.headers()["www-authenticate"], "Bearer", "{method} {path}");
        let body: Value = missing.json().await.expect("JSON");
        assert_eq!(body["detail"]["error"], "authorization_required", "{method} {path}: {body}");
        let wrong = client.request(method.clone(), &url).bearer_auth("wrong-key").send().await.expect("send");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{method} {path} with a wrong key");
        let body: Value = wrong.json().await.expect("JSON");
        assert_eq!(body["detail"]["error"], "invalid_token", "{method} {path}: {body}");
    }
    // The key is accepted as a Bearer token, an X-API-Key header and an api_key query parameter.
    let bearer = client.get(server.url("/api/memories")).bearer_auth(KEY).send().await.expect("send");
    let header = client.get(server.url("/api/memories")).header("X-API-Key", KEY).send().await.expect("send");
    let query = client.get(server.url(&format!("/api/memories?api_key={KEY}"))).send().await.expect("send");
    for (how, response) in [("Bearer", bearer), ("X-API-Key", header), ("?api_key", query)] {
        assert_eq!(response.status(), StatusCode::OK, "the key as {how}");
    }
    // Public: the minimal health check, the dashboard's files, the docs page and the document it renders.
    for path in [
        "/api/health",
        "/",
        "/static/app.js",
        "/static/style.css",
        "/api/docs",
        "/api/docs/swagger-ui.css",
        "/openapi.json",
    ] {
        let response = client.get(server.url(path)).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK, "{path} is public");
    }
    // Unknown routes are 404 for everyone; a wrong method is 405.
    let missing = client.get(server.url("/api/does-not-exist")).send().await.expect("send");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.json::<Value>().await.expect("JSON"), json!({ "detail": "Not Found" }));
    let patch = client.patch(server.url("/api/memories")).bearer_auth(KEY).send().await.expect("send");
    assert_eq!(patch.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(!server.stderr().contains(KEY), "the key must never reach the log");
}

#[tokio::test]
async fn anonymous_access_reads_and_writes_when_allowed() {
    let data = DataDir::new();
    let open = Server::start(&data, &[("MCP_ALLOW_ANONYMOUS_ACCESS", "true")]).await;
    let client = reqwest::Client::new();
    let stored = client
        .post(open.url("/api/memories"))
        .json(&json!({ "content": "Anonymous access can store." }))
        .send()
        .await
        .expect("send");
    assert_eq!(stored.status(), StatusCode::OK);
    let listed: Value = client.get(open.url("/api/memories")).send().await.expect("send").json().await.expect("JSON");
    assert_eq!(listed["total"], 1, "{listed}");
    drop(open);
    let closed = Server::start(&data, &[]).await;
    let refused = client.get(closed.url("/api/memories")).send().await.expect("send");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refused.json().await.expect("JSON");
    let description = body["detail"]["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("MCP_ALLOW_ANONYMOUS_ACCESS"), "it says how to open up: {body}");
}

#[tokio::test]
async fn memories_store_list_update_delete_restore_and_keep_their_history() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    let client = reqwest::Client::new();
    // Store, with the agent header adding a tag and naming the actor.
    let stored: Value = client
        .post(server.url("/api/memories"))
        .bearer_auth(KEY)
        .header("X-Agent-ID", "planner")
        .json(&json!({
            "content": "The quarterly report is due on the last Friday of the month.",
            "tags": ["work", "deadline"], "memory_type": "reminder",
            "metadata": { "owner": "alice" }, "conversation_id": "c-42",
        }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stored["success"], true);
    assert_eq!(stored["message"], "Memory stored successfully");
    let report = stored["content_hash"].as_str().expect("hash").to_string();
    let memory = &stored["memory"];
    assert_eq!(memory["tags"], json!(["work", "deadline", "agent:planner"]));
    assert_eq!(memory["metadata"], json!({ "owner": "alice", "conversation_id": "c-42" }));
    for field in ["content", "content_hash", "tags", "memory_type", "metadata", "created_at", "created_at_iso"] {
        assert!(memory.get(field).is_some(), "{field} in {memory}");
    }
    // The same content, differently cased and spaced, is a duplicate: success false, the same hash.
    let duplicate = api
        .post("/api/memories", json!({ "content": "  THE QUARTERLY report is due on the last Friday of the month. " }))
        .await;
    assert_eq!(
        duplicate,
        json!({ "success": false, "message": "Duplicate content detected", "content_hash": report, "memory": null })
    );
    let standup = api.store("Team standup moved to 9:30 every weekday.", &["meeting"], Some("note")).await;
    let rotate =
        api.store("Rotate the database credentials every 90 days.", &["security", "work"], Some("reminder")).await;

    // Listing: newest first, paged, filtered by tags (any/all) and type.
    let page = api.get("/api/memories?page=1&page_size=2").await;
    assert_eq!((page["total"].as_u64(), page["has_more"].as_bool()), (Some(3), Some(true)), "{page}");
    assert_eq!(hashes(&page, "memories"), vec![rotate.clone(), standup.clone()]);
    let last = api.get("/api/memories?page=2&page_size=2").await;
    assert_eq!(hashes(&last, "memories"), vec![report.clone()]);
    assert_eq!(last["has_more"], false);
    assert_eq!(
        hashes(&api.get("/api/memories?tag=meeting,security").await, "memories"),
        vec![rotate.clone(), standup.clone()]
    );
    assert_eq!(
        hashes(&api.get("/api/memories?tag=work,security&tag_match=all").await, "memories"),
        vec![rotate.clone()]
    );
    assert_eq!(hashes(&api.get("/api/memories?tag=wor").await, "memories"), Vec::<String>::new(), "tags match exactly");
    assert_eq!(
        hashes(&api.get("/api/memories?memory_type=reminder").await, "memories"),
        vec![rotate.clone(), report.clone()]
    );
    for bad in ["page=0", "page_size=0", "page_size=101", "page=x", "tag_match=some"] {
        let (status, body) = api.send(Method::GET, &format!("/api/memories?{bad}"), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["detail"][0]["loc"].is_array(), "{bad}: {body}");
    }

    // Get and update: content stays, created_at stays, updated_at moves.
    let before = api.get(&format!("/api/memories/{report}")).await;
    let updated = api
        .send(
            Method::PUT,
            &format!("/api/memories/{report}"),
            Some(json!({ "tags": ["work", "updated"], "metadata": { "reviewed": true } })),
        )
        .await
        .1;
    assert_eq!(updated["message"], "Updated fields: tags, metadata, updated_at", "{updated}");
    let after = api.get(&format!("/api/memories/{report}")).await;
    assert_eq!(after["tags"], json!(["work", "updated"]));
    assert_eq!(after["metadata"], json!({ "owner": "alice", "conversation_id": "c-42", "reviewed": true }));
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["updated_at"].as_f64() > before["updated_at"].as_f64(), "{before} -> {after}");
    let unchanged = api.send(Method::PUT, &format!("/api/memories/{report}"), Some(json!({}))).await.1;
    assert_eq!(unchanged["message"], "No updates provided - memory unchanged");
    let stale = api
        .send(Method::PUT, &format!("/api/memories/{report}"), Some(json!({ "tags": ["x"], "expected_version": 1 })))
        .await;
    assert_eq!(stale.0, StatusCode::CONFLICT, "{}", stale.1);
    let unknown = content_hash("never stored");
    let missing = api.send(Method::PUT, &format!("/api/memories/{unknown}"), Some(json!({ "tags": ["x"] }))).await;
    assert_eq!(missing, (StatusCode::NOT_FOUND, json!({ "detail": format!("Memory with hash {unknown} not found") })));
    assert_eq!(
        api.send(Method::GET, &format!("/api/memories/{unknown}"), None).await,
        (StatusCode::NOT_FOUND, json!({ "detail": "Memory not found" }))
    );

    // Delete, 404 after, restore, and the whole story in the history.
    let deleted = api.send(Method::DELETE, &format!("/api/memories/{standup}"), None).await;
    assert_eq!(
        deleted.1,
        json!({ "success": true, "message": format!("Successfully deleted memory {standup}"), "content_hash": standup })
    );
    assert_eq!(api.send(Method::GET, &format!("/api/memories/{standup}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.send(Method::DELETE, &format!("/api/memories/{standup}"), None).await,
        (StatusCode::NOT_FOUND, json!({ "detail": format!("Memory with hash {standup} not found") }))
    );
    let restored = api.post(&format!("/api/memories/{standup}/restore"), json!({})).await;
    assert_eq!(restored["memory"]["content"], "Team standup moved to 9:30 every weekday.");
    assert_eq!(api.get(&format!("/api/memories/{standup}")).await["tags"], json!(["meeting"]));
    let history = api.get(&format!("/api/memories/{standup}/history")).await;
    let kinds: Vec<&str> =
        history["history"].as_array().expect("history").iter().map(|e| e["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, ["stored", "deleted", "undeleted"]);
    let report_history = api.get(&format!("/api/memories/{report}/history")).await;
    let first = &report_history["history"][0];
    assert_eq!((first["interface"].as_str(), first["actor"].as_str()), (Some("http"), Some("planner")), "{first}");
    let update = &report_history["history"][1];
    assert_eq!(update["before"]["tags"], json!(["work", "deadline", "agent:planner"]));
    assert_eq!(update["after"]["tags"], json!(["work", "updated"]));

    // The log pages through every event in order.
    let page = api.get("/api/log?since=0&limit=3").await;
    let seqs: Vec<u64> =
        page["events"].as_array().expect("events").iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(page["next_since"], 3);
    let rest = api.get("/api/log?since=3&limit=100").await;
    let kinds: Vec<&str> =
        rest["events"].as_array().expect("events").iter().map(|e| e["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, ["updated", "deleted", "undeleted"]);
    assert_eq!(rest["last_seq"], 6);

    let tags = api.get("/api/tags").await;
    assert_eq!(tags["tags"][0], json!({ "tag": "work", "count": 2 }), "{tags}");
}

#[tokio::test]
async fn searches_by_meaning_words_tags_and_time() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    let billing = api
        .store(
            "Decided to use PostgreSQL 16 for the billing service because we need row-level security.",
            &["decision", "database"],
            Some("decision"),
        )
        .await;
    let tls = api
        .store(
            "The staging deploy failed because the TLS certificate expired on Monday.",
            &["incident", "tls"],
            Some("incident"),
        )
        .await;
    let tokio_note = api
        .store("Rust async runtimes: tokio is multi-threaded by default.", &["rust", "database"], Some("note"))
        .await;

    let semantic = json!({ "query": "which database did we choose for billing", "n_results": 2, "mode": "semantic" });
    let semantic = api.post("/api/search", semantic).await;
    assert_eq!(semantic["search_type"], "semantic");
    assert_eq!(hashes(&semantic, "results")[0], billing, "{semantic}");
    assert_eq!(semantic["total_found"], 2);
    let first = &semantic["results"][0];
    let score = first["similarity_score"].as_f64().expect("a score");
    assert!(score > 0.5 && score <= 1.0, "{first}");
    assert_eq!(first["relevance_reason"], format!("Semantic similarity: {score:.3}"));
    let strict = api
        .post(
            "/api/search",
            json!({ "query": "which database did we choose for billing", "similarity_threshold": 0.99 }),
        )
        .await;
    assert_eq!(strict["total_found"], 0, "{strict}");
    // The default is hybrid: the same best memory, scored on the same scale, ordered by the fusion score.
    let default =
        api.post("/api/search", json!({ "query": "which database did we choose for billing", "n_results": 2 })).await;
    assert_eq!(default["search_type"], "hybrid", "{default}");
    assert_eq!(hashes(&default, "results")[0], billing, "{default}");
    let best = &default["results"][0];
    assert!((best["similarity_score"].as_f64().expect("a score") - score).abs() < 1e-6, "{best} vs {first}");
    assert!(best["fusion_score"].as_f64() >= best["similarity_score"].as_f64(), "{best}");
    let keyword = api.post("/api/search", json!({ "query": "certificate", "mode": "keyword" })).await;
    assert_eq!(hashes(&keyword, "results"), vec![tls.clone()]);
    let hybrid =
        api.post("/api/search", json!({ "query": "TLS certificate expired", "mode": "hybrid", "n_results": 1 })).await;
    assert_eq!(hashes(&hybrid, "results"), vec![tls.clone()]);
    // Hybrid ranks by fusion but scores on the original's similarity scale, as semantic search does; the
    // fusion score is beside it, and similarity_threshold filters by similarity.
    let meaning = api.post("/api/search", json!({ "query": "TLS certificate expired", "n_results": 5 })).await;
    let tls_similarity = meaning["results"]
        .as_array()
        .and_then(|r| r.iter().find(|h| h["memory"]["content_hash"] == json!(tls)))
        .and_then(|h| h["similarity_score"].as_f64())
        .expect("the semantic score");
    let first = &hybrid["results"][0];
    let hybrid_similarity = first["similarity_score"].as_f64().expect("a score");
    assert!((hybrid_similarity - tls_similarity).abs() < 1e-6, "{first} vs {tls_similarity}");
    // The best word match adds 0.03 to its similarity.
    let fusion = first["fusion_score"].as_f64().expect("a fusion score");
    assert!((fusion - hybrid_similarity - 0.03).abs() < 1e-6, "{first}");
    let above =
        json!({ "query": "TLS certificate expired", "mode": "hybrid", "similarity_threshold": hybrid_similarity });
    let above = api.post("/api/search", above).await;
    let scores: Vec<f64> = above["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h["similarity_score"].as_f64().expect("a score"))
        .collect();
    assert!(!scores.is_empty() && scores.iter().all(|s| *s >= hybrid_similarity), "{above}");
    let filtered =
        api.post("/api/search", json!({ "query": "database", "tags": ["rust"], "time_filter": "today" })).await;
    assert_eq!(hashes(&filtered, "results"), vec![tokio_note.clone()]);

    let any = api.post("/api/search/by-tag", json!({ "tags": ["database", "tls"] })).await;
    assert_eq!(any["query"], "Tags: database, tls (ANY)");
    assert_eq!(hashes(&any, "results"), vec![tokio_note.clone(), tls.clone(), billing.clone()]);
    assert_eq!(any["results"][0]["similarity_score"], Value::Null);
    assert_eq!(any["results"][0]["relevance_reason"], "Tags match (ANY): database");
    let all = api.post("/api/search/by-tag", json!({ "tags": ["database", "decision"], "match_all": true })).await;
    assert_eq!(hashes(&all, "results"), vec![billing.clone()]);
    let none = api.send(Method::POST, "/api/search/by-tag", Some(json!({ "tags": [] }))).await;
    assert_eq!(none, (StatusCode::BAD_REQUEST, json!({ "detail": "At least one tag must be specified" })));

    let today = api.post("/api/search/by-time", json!({ "query": "today", "n_results": 2 })).await;
    assert_eq!(today["search_type"], "time");
    assert_eq!(hashes(&today, "results"), vec![tokio_note.clone(), tls.clone()]);
    assert_eq!(today["results"][0]["relevance_reason"], "Time match: today");
    let ranked = api
        .post("/api/search/by-time", json!({ "query": "in the last 2 days", "semantic_query": "expired certificate" }))
        .await;
    assert_eq!(hashes(&ranked, "results")[0], tls);
    let yesterday = api.post("/api/search/by-time", json!({ "query": "yesterday" })).await;
    assert_eq!(yesterday["total_found"], 0);
    let (status, body) =
        api.send(Method::POST, "/api/search/by-time", Some(json!({ "query": "when the moon is blue" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().unwrap_or_default().starts_with("Could not parse time query: 'when the moon is blue'"),
        "{body}"
    );

    let similar = api.get(&format!("/api/search/similar/{billing}?n_results=5")).await;
    let similar = hashes(&similar, "results");
    assert_eq!(similar.len(), 2);
    assert!(!similar.contains(&billing), "a memory is not similar to itself");
    let unknown = content_hash("nothing");
    assert_eq!(api.send(Method::GET, &format!("/api/search/similar/{unknown}"), None).await.0, StatusCode::NOT_FOUND);
    let zero = api.send(Method::POST, "/api/search", Some(json!({ "query": "x", "n_results": 0 }))).await;
    assert_eq!(zero.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(zero.1["detail"][0]["loc"], json!(["body", "n_results"]));
}

#[tokio::test]
async fn manage_and_analytics_work_for_real() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    api.store("Old note about the build server.", &["infra", "old"], Some("note")).await;
    let keep = api.store("Decision: keep weekly releases.", &["process"], Some("decision")).await;
    api.store("Another infra note about disks.", &["infra"], Some("note")).await;

    let (status, _) = api.send(Method::POST, "/api/manage/bulk-delete", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a bulk delete needs a condition");
    let dry = api.post("/api/manage/bulk-delete", json!({ "tag": "infra", "dry_run": true })).await;
    assert_eq!(dry["affected_count"], 2, "{dry}");
    let mismatch =
        api.send(Method::POST, "/api/manage/bulk-delete", Some(json!({ "tag": "infra", "confirm_count": 5 }))).await;
    assert_eq!(mismatch.0, StatusCode::BAD_REQUEST, "{}", mismatch.1);
    assert_eq!(api.get("/api/memories").await["total"], 3, "a refused bulk delete deletes nothing");

    let renamed = api.send(Method::PUT, "/api/manage/tags/infra?new_tag=ops&confirm_count=2", None).await.1;
    assert_eq!(renamed["affected_count"], 2, "{renamed}");
    let stats = api.get("/api/manage/tags/stats").await;
    assert!(stats["tags"].as_array().expect("tags").iter().any(|t| t["tag"] == "ops" && t["count"] == 2), "{stats}");
    assert!(!stats["tags"].as_array().expect("tags").iter().any(|t| t["tag"] == "infra"), "{stats}");

    let by_type = api.post("/api/manage/bulk-delete", json!({ "memory_type": "note", "confirm_count": 2 })).await;
    assert_eq!(by_type["affected_count"], 2, "{by_type}");
    assert_eq!(hashes(&api.get("/api/memories").await, "memories"), vec![keep.clone()]);
    let before = api.post("/api/manage/bulk-delete", json!({ "before_date": "2000-01-01", "dry_run": true })).await;
    assert_eq!(before["affected_count"], 0);

    let overview = api.get("/api/analytics/overview").await;
    assert_eq!(
        (overview["total_memories"].as_u64(), overview["memories_this_week"].as_u64()),
        (Some(1), Some(1)),
        "{overview}"
    );
    assert_eq!(overview["backend_type"], "sqlite-vec");
    let growth = api.get("/api/analytics/memory-growth?period=week").await;
    let points = growth["data_points"].as_array().expect("points");
    assert_eq!(points.len(), 7);
    assert_eq!(points[6]["count"], 1, "growth counts the live memories created each day: {growth}");
    let usage = api.get("/api/analytics/tag-usage?limit=5").await;
    let first = json!({ "tag": "process", "count": 1, "percentage": 100.0, "growth_rate": null });
    assert_eq!(usage["tags"][0], first, "{usage}");
    let types = api.get("/api/analytics/memory-types").await;
    assert_eq!(types["types"], json!([{ "memory_type": "decision", "count": 1, "percentage": 100.0 }]));
    let activity = api.get("/api/analytics/activity?days=2").await;
    let today = &activity["data_points"][1];
    assert_eq!(
        (today["stored"].as_u64(), today["updated"].as_u64(), today["deleted"].as_u64()),
        (Some(3), Some(2), Some(2)),
        "{activity}"
    );

    assert_eq!(api.post("/api/manage/system/optimize_db", json!({})).await["success"], true);
    assert_eq!(api.send(Method::POST, "/api/manage/system/rebuild_everything", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.post("/api/manage/cleanup-duplicates", json!({})).await["affected_count"], 0);
    let detailed = api.get("/api/health/detailed").await;
    assert_eq!(detailed["storage"]["total_memories"], 1, "{detailed}");
    assert_eq!(detailed["storage"]["backend"], "sqlite-vec");
    assert_eq!(api.get("/api/sync/status").await["status"], "not_hybrid");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let data = DataDir::new();
    let server =
        server(&data, &[("MCP_HTTP_MAX_BODY_BYTES", "4096"), ("MCP_SQLITEVEC_MAX_CONTENT_LENGTH", "1000")]).await;
    let api = Api::new(&server);
    api.store("The one memory that must survive.", &["keep"], None).await;
    let seq = api.last_seq().await;
    let client = reqwest::Client::new();
    let raw = |body: &'static str| {
        client.post(server.url("/api/memories")).bearer_auth(KEY).header("content-type", "application/json").body(body)
    };
    for (body, kind) in [
        ("{\"content\": ", "json_invalid"),
        ("not json", "json_invalid"),
        ("{}", "missing"),
        ("{\"content\": 42}", "type_error"),
        ("{\"content\": \"x\", \"tags\": \"a,b\"}", "type_error"),
        ("{\"content\": \"x\", \"metadata\": [1]}", "type_error"),
        ("{\"content\": \"\"}", "value_error"),
        ("{\"content\": \"   \"}", "value_error"),
        ("[\"content\"]", "type_error"),
    ] {
        let response = raw(body).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = response.json().await.expect("JSON");
        assert_eq!(answer["detail"][0]["type"], kind, "{body}: {answer}");
        assert!(!answer["detail"][0]["msg"].as_str().unwrap_or_default().is_empty(), "{answer}");
    }
    let too_long = api.send(Method::POST, "/api/memories", Some(json!({ "content": "x".repeat(2000) }))).await;
    assert_eq!(too_long.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", too_long.1);
    assert!(too_long.1.to_string().contains("MCP_SQLITEVEC_MAX_CONTENT_LENGTH"), "{}", too_long.1);
    let huge = client
        .post(server.url("/api/memories"))
        .bearer_auth(KEY)
        .json(&json!({ "content": "y".repeat(10_000) }))
        .send()
        .await
        .expect("send");
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(huge.json::<Value>().await.expect("JSON")["detail"].is_string());
    let bad_hash = api.send(Method::GET, "/api/memories/not-a-hash", None).await;
    assert_eq!(bad_hash.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_hash.1["detail"][0]["loc"], json!(["path", "content_hash"]));
    let wrong_type = api
        .send(
            Method::PUT,
            &format!("/api/memories/{}", content_hash("The one memory that must survive.")),
            Some(json!({ "tags": "keep" })),
        )
        .await;
    assert_eq!(wrong_type.0, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_time = api
        .send(Method::POST, "/api/search", Some(json!({ "query": "x", "time_filter": "the other day maybe" })))
        .await;
    assert_eq!(bad_time.0, StatusCode::BAD_REQUEST, "{}", bad_time.1);
    let bad_tag = api.send(Method::PUT, "/api/manage/tags/keep?new_tag=a,b", None).await;
    assert_eq!(bad_tag.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad_tag.1);
    assert_eq!(api.last_seq().await, seq, "no bad request wrote an event");
    let survivor = api.get(&format!("/api/memories/{}", content_hash("The one memory that must survive."))).await;
    assert_eq!(survivor["tags"], json!(["keep"]));
}

/// One parsed SSE event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
}

/// An open `/api/events` stream.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(server: &Server, last_event_id: Option<u64>) -> Stream {
        let mut request = reqwest::Client::new().get(server.url(&format!("/api/events?api_key={KEY}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("open the event stream");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
        Stream { response, buffer: String::new() }
    }

    /// The next event (comments skipped), waiting at most 15 s.
    async fn next(&mut self) -> Sse {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().expect("ids are sequence numbers"));
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue;
                }
                return Sse { id, event, data: serde_json::from_str(&data).expect("JSON data") };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk()).await.expect("an event within 15 s");
            let chunk = chunk.expect("read the stream").expect("the stream is still open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event that carries a change (skipping notices like search_completed and heartbeat).
    async fn next_change(&mut self) -> Sse {
        loop {
            let event = self.next().await;
            if event.id.is_some() {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn the_event_stream_resumes_without_gaps_or_duplicates() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    let mut stream = Stream::open(&server, None).await;
    let hello = stream.next().await;
    assert_eq!(hello.event, "connection_established");
    assert_eq!((hello.id, hello.data["last_seq"].as_u64()), (None, Some(0)));
    let first = api.store("SSE probe: the build server has 64 GB of RAM now.", &["sse"], Some("note")).await;
    let stored = stream.next().await;
    assert_eq!((stored.id, stored.event.as_str()), (Some(1), "memory_stored"));
    assert_eq!(stored.data["content_hash"], first);
    assert_eq!(stored.data["content_preview"], "SSE probe: the build server has 64 GB of RAM now.");
    assert_eq!(stored.data["tags"], json!(["sse"]));
    api.post("/api/search", json!({ "query": "build server memory" })).await;
    let search = stream.next().await;
    assert_eq!((search.id, search.event.as_str()), (None, "search_completed"));
    assert_eq!(search.data["results_count"], 1);
    assert_eq!(api.get("/api/events/stats").await["total_connections"], 1);

    // Disconnect, write while away, come back with Last-Event-ID: exactly the missed changes, in order.
    drop(stream);
    let second = api.store("SSE probe: written while the client was away.", &[], None).await;
    api.send(Method::PUT, &format!("/api/memories/{first}"), Some(json!({ "tags": ["sse", "edited"] }))).await;
    api.send(Method::DELETE, &format!("/api/memories/{second}"), None).await;
    let mut resumed = Stream::open(&server, Some(1)).await;
    assert_eq!(resumed.next().await.event, "connection_established");
    let mut missed = Vec::new();
    for _ in 0..3 {
        let event = resumed.next_change().await;
        missed.push((
            event.id.expect("an id"),
            event.event,
            event.data["content_hash"].as_str().unwrap_or_default().to_string(),
        ));
    }
    assert_eq!(
        missed,
        vec![
            (2, "memory_stored".to_string(), second.clone()),
            (3, "memory_updated".to_string(), first.clone()),
            (4, "memory_deleted".to_string(), second.clone()),
        ]
    );
    api.post(&format!("/api/memories/{second}/restore"), json!({})).await;
    let live = resumed.next_change().await;
    assert_eq!((live.id, live.event.as_str()), (Some(5), "memory_restored"), "then live, with no repeat");

    // ?since=0 replays the whole log.
    let mut replay = Stream::open_since(&server, 0).await;
    assert_eq!(replay.next().await.event, "connection_established");
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(replay.next_change().await.id.expect("an id"));
    }
    assert_eq!(ids, [1, 2, 3, 4, 5]);
}

impl Stream {
    async fn open_since(server: &Server, since: u64) -> Stream {
        let url = server.url(&format!("/api/events?api_key={KEY}&since={since}"));
        let response = reqwest::Client::new().get(url).send().await.expect("open the event stream");
        assert_eq!(response.status(), StatusCode::OK);
        Stream { response, buffer: String::new() }
    }
}

#[tokio::test]
async fn shutdown_closes_event_streams_and_the_server_exits() {
    let data = DataDir::new();
    let mut server = server(&data, &[]).await;
    let mut stream = Stream::open(&server, None).await;
    assert_eq!(stream.next().await.event, "connection_established");
    signal(server.pid(), "TERM");
    let bye = stream.next().await;
    assert_eq!(bye.event, "connection_closed");
    let status = server.wait_exit(Duration::from_secs(10));
    let status = status
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM with a client connected:\n{}", server.stderr()));
    assert!(status.success(), "{status}:\n{}", server.stderr());
}

#[tokio::test]
async fn the_docs_render_from_our_own_files() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    let openapi = api.get("/openapi.json").await;
    assert!(openapi["openapi"].as_str().unwrap_or_default().starts_with("3."), "{}", openapi["openapi"]);
    for path in
        ["/api/memories", "/api/search", "/api/memories/{content_hash}/history", "/api/log", "/api/analytics/activity"]
    {
        assert!(openapi["paths"].get(path).is_some(), "{path} is documented");
    }
    let page = reqwest::get(server.url("/api/docs")).await.expect("GET /api/docs").text().await.expect("HTML");
    for line in page.lines().filter(|l| l.contains("src=") || l.contains("href=")) {
        assert!(!line.contains("http"), "the docs page loads nothing from elsewhere: {line}");
    }
    let bundle = reqwest::get(server.url("/api/docs/swagger-ui-bundle.js")).await.expect("GET the bundle");
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(bundle.text().await.expect("JS").len() > 100_000);
}

/// Runs schemathesis with the settings file `config` (in `tests/it/schemathesis/`) and `target` (the schema and
/// where to send requests) against `server` with the API key, 20 examples per operation, seed 4242, one
/// worker, and `checks`; asserts that it found nothing and returns what it printed.
fn schemathesis(server: &Server, data: &DataDir, config: &str, target: &[String], checks: &str) -> String {
    let config = format!("{}/tests/it/schemathesis/{config}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(test_python())
        .args(["-m", "schemathesis.cli", "--config-file", &config, "run"])
        .args(target)
        .args(["--header", &format!("Authorization: Bearer {KEY}"), "--checks", checks, "--max-examples", "20"])
        .args(["--seed", "4242", "--workers", "1", "--no-color"])
        .current_dir(data.path())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis ({config}) found failures:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.stderr()
    );
    stdout
}

#[tokio::test]
async fn schemathesis_finds_no_failure_in_the_openapi_contract() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let stdout = schemathesis(&server, &data, "schemathesis.toml", &[server.url("/openapi.json")], "all");
    assert!(stdout.contains("passed"), "{stdout}");
}

/// The original v8.9.0's own OpenAPI document, recorded from its `/openapi.json`, run against this server as
/// a client of the original sees it (OAuth on, so its OAuth routes exist): no 5xx and every answer its schema
/// describes matches it.
/// The statuses and refusals that still differ are deliberate; the README lists them.
#[tokio::test]
async fn the_originals_recorded_contract_finds_no_server_error_and_no_schema_violation() {
    let data = DataDir::new();
    let server = server(&data, &[("MCP_OAUTH_ENABLED", "true")]).await;
    let schema = format!("{}/tests/it/schemathesis/original-v8.9.0-openapi.json", env!("CARGO_MANIFEST_DIR"));
    let target = [schema, "--url".to_string(), server.url("")];
    let stdout =
        schemathesis(&server, &data, "original.toml", &target, "not_a_server_error,response_schema_conformance");
    // Every operation of the recorded document was exercised.
    assert!(stdout.contains("Tested: 49"), "{stdout}");
}

#[tokio::test]
async fn the_originals_routes_without_a_place_elsewhere_answer_in_its_shapes() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let client = reqwest::Client::new();
    let get = |path: &str, key: bool| {
        let request = client.get(server.url(path));
        if key { request.bearer_auth(KEY) } else { request }.send()
    };
    // Health, public, with the original's four fields.
    let health: Value = get("/api/health", false).await.expect("health").json().await.expect("JSON");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"), "{health}");
    assert!(health["timestamp"].is_string() && health["uptime_seconds"].is_number(), "{health}");
    // The overview page and MCP's health are public; MCP's tool list needs a credential.
    let overview = get("/api-overview", false).await.expect("overview");
    assert_eq!(overview.status(), StatusCode::OK);
    assert!(overview.text().await.expect("HTML").contains("/api/docs"));
    let mcp: Value = get("/mcp/health", false).await.expect("mcp health").json().await.expect("JSON");
    assert_eq!((&mcp["status"], &mcp["protocol"]), (&json!("healthy"), &json!("mcp")), "{mcp}");
    assert!(mcp.get("statistics").is_none(), "a public answer says nothing of the memories: {mcp}");
    assert_eq!(get("/mcp/tools", false).await.expect("tools").status(), StatusCode::UNAUTHORIZED);
    let tools: Value = get("/mcp/tools", true).await.expect("tools").json().await.expect("JSON");
    let names: Vec<&str> =
        tools["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"memory_store") && names.contains(&"memory_search"), "{tools}");
    assert_eq!(mcp["tools_available"], names.len(), "{mcp}");
    // Searches are counted by kind and by the tags searched by.
    let post = |path: &str, body: Value| client.post(server.url(path)).bearer_auth(KEY).json(&body).send();
    post("/api/memories", json!({ "content": "Counted by the analytics", "tags": ["counted"] })).await.expect("store");
    post("/api/search/by-tag", json!({ "tags": ["counted"] })).await.expect("by tag");
    post("/api/search", json!({ "query": "analytics", "mode": "keyword" })).await.expect("search");
    let searches: Value =
        get("/api/analytics/search-analytics", true).await.expect("analytics").json().await.expect("JSON");
    assert_eq!(searches["total_searches"], 2, "{searches}");
    assert_eq!(searches["search_types"], json!({ "keyword": 1, "tag": 1 }), "{searches}");
    assert_eq!(searches["popular_tags"], json!([{ "tag": "counted", "count": 1 }]), "{searches}");
    let performance: Value =
        get("/api/analytics/performance", true).await.expect("performance").json().await.expect("JSON");
    assert!(performance["memory_usage_mb"].as_f64().is_some_and(|mb| mb > 1.0), "{performance}");
    // Without replication there is no sync to report.
    let sync: Value = get("/api/health/sync-status", true).await.expect("sync").json().await.expect("JSON");
    assert_eq!(sync, json!({ "sync_supported": false, "status": null }));
    // The original's item shapes.
    let stats: Value = get("/api/manage/tags/stats", true).await.expect("stats").json().await.expect("JSON");
    assert_eq!(stats["tags"][0], json!({ "tag": "counted", "count": 1, "last_used": null, "memory_types": [] }));
    let types: Value = get("/api/analytics/memory-types", true).await.expect("types").json().await.expect("JSON");
    assert_eq!(types["types"][0]["memory_type"], "untyped", "{types}");
}

#[tokio::test]
async fn the_dashboard_works_end_to_end_in_headless_chromium() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    browser_check("dashboard_check.py", &[&server.url(""), KEY, &screenshot.to_string_lossy()], &server);
    assert!(screenshot.exists(), "the screenshot is kept at {}", screenshot.display());
    eprintln!("dashboard screenshot: {}", screenshot.display());
}

/// The trust panels (timeline diffs, event log, backups, restore with preview, time travel, redaction) in
/// headless Chromium, with a screenshot of each panel kept in the target's tmp directory.
#[tokio::test]
async fn the_dashboards_trust_panels_work_end_to_end_in_headless_chromium() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let shots = panel_shots();
    browser_check("trust_check.py", &[&server.url(""), KEY, &shots.to_string_lossy()], &server);
    for panel in PANELS {
        let shot = shots.join(format!("panel-{panel}.png"));
        assert!(shot.exists(), "the screenshot of {panel} is kept at {}", shot.display());
    }
    eprintln!("panel screenshots: {}", shots.display());
}

/// The panels whose screenshots the trust check saves.
const PANELS: &[&str] =
    &["timeline", "event-log", "backups", "restore-preview", "time-travel", "redaction", "redaction-tombstone"];

#[tokio::test]
async fn cors_lets_only_the_configured_origins_in() {
    let data = DataDir::new();
    let server = server(&data, &[("MCP_CORS_ORIGINS", "http://app.example")]).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(Method::OPTIONS, server.url("/api/memories"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type")
            .send()
    };
    let allowed = preflight("http://app.example").await.expect("preflight");
    assert_eq!(
        allowed.headers().get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"http://app.example"[..])
    );
    let other = preflight("http://evil.example").await.expect("preflight");
    assert!(other.headers().get("access-control-allow-origin").is_none(), "another origin is not allowed");
}

#[tokio::test]
async fn writes_in_flight_at_shutdown_finish_and_every_acknowledged_one_is_kept() {
    let data = DataDir::new();
    let mut server = server(&data, &[]).await;
    let url = server.url("/api/memories");
    let client = reqwest::Client::new();
    // One store first, so the model is loaded (on a loaded machine that can take many seconds).
    let (status, _) = Api::new(&server).send(Method::POST, "/api/memories", Some(json!({"content": "warm-up"}))).await;
    assert_eq!(status, StatusCode::OK);
    // A steady stream of stores with long contents (each embedding takes a while); SIGTERM goes out once
    // the first is acknowledged, so stores are surely in flight then, whatever the machine's load.
    let answered = Arc::new(AtomicUsize::new(0));
    let mut requests = Vec::new();
    let mut signalled = None;
    for i in 0..400 {
        let content =
            format!("Written while the server shuts down, number {i}: {}", "a long sentence to embed ".repeat(40));
        let request = client.post(&url).bearer_auth(KEY).json(&json!({ "content": content }));
        let counter = answered.clone();
        requests.push((
            content,
            tokio::spawn(async move {
                let response = request.send().await;
                counter.fetch_add(1, Ordering::SeqCst);
                (response, Instant::now())
            }),
        ));
        tokio::time::sleep(Duration::from_millis(25)).await;
        if signalled.is_none() && answered.load(Ordering::SeqCst) > 0 {
            signalled = Some(Instant::now());
            signal(server.pid(), "TERM");
        } else if signalled.is_some_and(|at| at.elapsed() > Duration::from_millis(200)) {
            break;
        }
    }
    let signalled = signalled.expect("a store was answered before the 400th was sent");
    let (mut acknowledged, mut after_signal) = (Vec::new(), 0);
    for (content, request) in &mut requests {
        if let (Ok(response), answered) = request.await.expect("the request task") {
            // A request the server accepted before shutting down is answered in full, never cut off.
            assert_eq!(response.status(), StatusCode::OK, "{content}");
            let body: Value = response.json().await.expect("a complete JSON answer");
            assert_eq!(body["success"], true, "{body}");
            acknowledged.push(content_hash(content));
            after_signal += usize::from(answered > signalled);
        }
    }
    eprintln!("{} of {} stores acknowledged, {after_signal} of them after SIGTERM", acknowledged.len(), requests.len());
    assert!(after_signal > 0, "no store was still in flight at SIGTERM; the test proves nothing");
    let status = server.wait_exit(Duration::from_secs(20)).expect("the server exits after SIGTERM");
    assert!(status.success(), "{status}:\n{}", server.stderr());
    let restarted = self::server(&data, &[]).await;
    let api = Api::new(&restarted);
    for hash in &acknowledged {
        api.get(&format!("/api/memories/{hash}")).await;
    }
}

#[tokio::test]
async fn relations_are_events_walked_by_the_graph_routes_and_gone_with_their_memories() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    let deploy = api.store("Graph: the deploy at 14:00 shipped a bad pool setting.", &["incident"], None).await;
    let latency = api.store("Graph: checkout latency rose to four seconds.", &["incident"], Some("observation")).await;
    let fix = api.store("Graph: raising the pool size back to 50 fixed it.", &["incident"], None).await;
    let tea = api.store("Graph: an unrelated memory about tea.", &[], None).await;
    let mut stream = Stream::open(&server, Some(api.last_seq().await)).await;

    let relate = |source: &str, body: Value| {
        let path = format!("/api/memories/{source}/relations");
        let api = &api;
        async move { api.send(Method::POST, &path, Some(body)).await }
    };
    let (status, made) = relate(
        &deploy,
        json!({ "target_hash": latency, "relationship_type": "causes", "reason": "it followed the deploy" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(
        (made["created"].as_bool(), made["relation"]["created_by"].as_str()),
        (Some(true), Some("http:api_key"))
    );
    assert_eq!(made["relation"]["similarity"], 1.0);
    let event = stream.next_change().await;
    assert_eq!(event.event, "memory_related");
    assert_eq!(
        (event.data["content_hash"].as_str(), event.data["target_hash"].as_str()),
        (Some(&*deploy), Some(&*latency))
    );
    let (_, again) = relate(
        &deploy,
        json!({ "target_hash": latency, "relationship_type": "causes", "reason": "it followed the deploy" }),
    )
    .await;
    assert_eq!(again["created"], false, "the same relation again writes nothing: {again}");
    relate(&fix, json!({ "target_hash": latency, "relationship_type": "fixes", "similarity": 0.9 })).await;
    relate(&tea, json!({ "target_hash": fix })).await;

    let listed = api.get(&format!("/api/memories/{latency}/relations")).await;
    assert_eq!(listed["count"], 2, "{listed}");
    let near = api.get(&format!("/api/graph/connected/{deploy}?max_hops=2")).await;
    assert_eq!(near["connected"], json!([{ "hash": latency, "distance": 1 }, { "hash": fix, "distance": 2 }]));
    let typed = api.get(&format!("/api/graph/connected/{deploy}?max_hops=3&rel_type=causes,fixes")).await;
    assert_eq!(typed["count"], 2, "the related edge to tea is not followed: {typed}");
    let forward = api.get(&format!("/api/graph/path?hash1={deploy}&hash2={fix}")).await;
    assert_eq!((forward["path"].clone(), forward["length"].clone()), (Value::Null, json!(0)), "{forward}");
    let both = api.get(&format!("/api/graph/path?hash1={deploy}&hash2={tea}&direction=both")).await;
    assert_eq!(both["path"], json!([deploy, latency, fix, tea]));
    assert_eq!((both["length"].as_u64(), both["hops"].as_u64()), (Some(4), Some(3)));
    let sub = api.get(&format!("/api/graph/subgraph/{fix}?radius=1")).await;
    assert_eq!((sub["node_count"].as_u64(), sub["edge_count"].as_u64()), (Some(3), Some(2)), "{sub}");
    assert_eq!(sub["nodes"][0], fix);
    let types = api.get("/api/analytics/relationship-types").await;
    assert_eq!(types, json!({ "causes": 1, "fixes": 1, "related": 1 }));
    let view = api.get("/api/analytics/graph-visualization?min_connections=2").await;
    let ids: Vec<&str> = view["nodes"].as_array().expect("nodes").iter().filter_map(|n| n["id"].as_str()).collect();
    assert_eq!(ids.len(), 2, "latency and fix have two relations each: {view}");
    assert!(ids.contains(&latency.as_str()) && ids.contains(&fix.as_str()));
    assert_eq!(view["meta"]["total_edges"], 1, "{view}");
    let history = api.get(&format!("/api/memories/{deploy}/history")).await;
    let last = &history["history"][1];
    assert_eq!(
        (last["kind"].as_str(), last["relation"]["relationship_type"].as_str()),
        (Some("related"), Some("causes"))
    );
    assert_eq!(last["relation"]["reason"], "it followed the deploy");

    // Bad input: a 4xx with a JSON body, and nothing written.
    let seq = api.last_seq().await;
    let missing = content_hash("never stored");
    for (source, body, expected) in [
        (&deploy, json!({ "target_hash": deploy.to_uppercase() }), StatusCode::BAD_REQUEST),
        (&deploy, json!({ "target_hash": tea, "relationship_type": "loves" }), StatusCode::UNPROCESSABLE_ENTITY),
        (&deploy, json!({ "target_hash": tea, "similarity": 2 }), StatusCode::UNPROCESSABLE_ENTITY),
        (&deploy, json!({ "target_hash": "xyz" }), StatusCode::UNPROCESSABLE_ENTITY),
        (&deploy, json!({ "target_hash": missing }), StatusCode::NOT_FOUND),
        (&missing, json!({ "target_hash": deploy }), StatusCode::NOT_FOUND),
    ] {
        let (status, body) = relate(source, body.clone()).await;
        assert_eq!(status, expected, "{body}");
        assert!(body["detail"].is_string() || body["detail"].is_array(), "{body}");
    }
    for path in [
        format!("/api/graph/connected/{deploy}?max_hops=9"),
        format!("/api/graph/connected/{deploy}?direction=sideways"),
        format!("/api/graph/path?hash1={deploy}"),
        "/api/analytics/graph-visualization?limit=0".to_string(),
    ] {
        let (status, body) = api.send(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
    }
    let view = api.get("/api/analytics/graph-visualization?min_connections=9223372036854775806").await;
    assert_eq!(view["nodes"], json!([]), "more connections than any memory has: {view}");
    let (status, _) = api.send(Method::DELETE, &format!("/api/memories/{deploy}/relations/{tea}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no relation to remove");
    assert_eq!(api.last_seq().await, seq, "refused requests wrote nothing");

    // A symmetric relation is removed from either end; deleting a memory removes its relations.
    let (status, removed) = api.send(Method::DELETE, &format!("/api/memories/{fix}/relations/{tea}"), None).await;
    assert_eq!((status, removed["removed"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{removed}");
    let (status, _) = api.send(Method::DELETE, &format!("/api/memories/{latency}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.get(&format!("/api/graph/connected/{deploy}")).await["count"], 0);
    assert_eq!(api.get("/api/analytics/relationship-types").await, json!({}));
    let (status, _) = api.send(Method::GET, &format!("/api/memories/{latency}/relations"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn semantic_dedup_refuses_a_recent_near_duplicate_and_says_which_memory_it_repeats() {
    let data = DataDir::new();
    let deduplicating = server(&data, &[("MCP_SEMANTIC_DEDUP_ENABLED", "true")]).await;
    let api = Api::new(&deduplicating);
    let first = "The billing service deploys to production every Friday afternoon.";
    let original = api.store(first, &["ops"], None).await;
    let seq = api.last_seq().await;

    // The same sentence, punctuated otherwise: another content hash, the same meaning.
    let again = api.post("/api/memories", json!({ "content": format!("{first}!!") })).await;
    assert_eq!((again["success"].as_bool(), again["content_hash"].as_str()), (Some(false), Some(original.as_str())));
    let message = again["message"].as_str().expect("a message");
    let similarity: f64 = message
        .rsplit("similarity ")
        .next()
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("the similarity in {message:?}"));
    assert!(message.contains(&format!("semantically similar to {original}")) && similarity >= 0.85, "{message}");
    assert_eq!(api.last_seq().await, seq, "nothing written");

    // Another meaning is stored; so is the near-duplicate of a conversation (the original skips those).
    api.store("The cafeteria serves lentil soup on Tuesdays.", &[], None).await;
    let turn = api.post("/api/memories", json!({ "content": format!("{first}!!"), "conversation_id": "c1" })).await;
    assert_eq!(turn["success"], true, "{turn}");

    // Off by default, as the other tests run: the near-duplicate is stored.
    let plain_data = DataDir::new();
    let plain = server(&plain_data, &[]).await;
    let plain = Api::new(&plain);
    plain.store(first, &[], None).await;
    let stored = plain.post("/api/memories", json!({ "content": format!("{first}!!") })).await;
    assert_eq!(stored["success"], true, "{stored}");
}

#[tokio::test]
async fn quality_boost_reranks_by_relevance_only_when_asked_and_leaves_the_similarity_as_it_was() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    let store = |content: &str, importance: f64, tags: Value| {
        let body = json!({ "content": content, "tags": tags, "metadata": { "importance_score": importance } });
        let api = &api;
        async move { assert_eq!(api.post("/api/memories", body).await["success"], true) }
    };
    let (minor, major) = (
        "The staging database password is kept in the team vault.",
        "Credentials for the staging database live in the shared vault.",
    );
    store(minor, 0.05, json!([])).await;
    store(major, 2.0, json!(["critical"])).await;
    store("Lunch is served at noon on Fridays.", 1.0, json!([])).await;
    let (minor, major) = (content_hash(minor), content_hash(major));
    let search = |extra: Value| {
        let mut body = json!({ "query": "where is the staging database password kept", "n_results": 3 });
        body.as_object_mut().expect("an object").extend(extra.as_object().expect("an object").clone());
        let api = &api;
        async move { api.post("/api/search", body).await }
    };
    let field = |answer: &Value, name: &str| -> Vec<(String, Option<f64>)> {
        let results = answer["results"].as_array().expect("results");
        results
            .iter()
            .map(|r| (r["memory"]["content_hash"].as_str().expect("a hash").to_string(), r[name].as_f64()))
            .collect()
    };
    let sorted = |mut pairs: Vec<(String, Option<f64>)>| {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
    };

    // Off by default, and off when asked with false or 0: the closest match first, no relevance shown.
    let plain = search(json!({})).await;
    assert_eq!(hashes(&plain, "results")[0], minor, "{plain}");
    assert!(field(&plain, "relevance_score").iter().all(|(_, r)| r.is_none()), "{plain}");
    for off in [json!({ "quality_boost": false }), json!({ "quality_boost": 0 })] {
        assert_eq!(hashes(&search(off.clone()).await, "results"), hashes(&plain, "results"), "{off}");
    }

    // On: the important memory comes first, its relevance shown and mixed into fusion_score; the
    // similarity of every memory is what it was.
    let boosted = search(json!({ "quality_boost": true })).await;
    assert_eq!(hashes(&boosted, "results")[0], major, "{boosted}");
    assert_eq!(sorted(field(&boosted, "similarity_score")), sorted(field(&plain, "similarity_score")));
    let relevance: std::collections::BTreeMap<String, f64> =
        field(&boosted, "relevance_score").into_iter().map(|(h, r)| (h, r.expect("a relevance score"))).collect();
    assert!(relevance[&major] > relevance[&minor] && relevance[&major] < 1.0, "{boosted}");
    let reason = boosted["results"][0]["relevance_reason"].as_str().expect("a reason");
    assert!(reason.contains("importance 2.00"), "{reason}");
    // A weight given as the number itself, and a small one that does not outweigh the match.
    assert_eq!(hashes(&search(json!({ "quality_boost": 0.3 })).await, "results"), hashes(&boosted, "results"));
    assert_eq!(hashes(&search(json!({ "quality_boost": true, "quality_weight": 0.01 })).await, "results")[0], minor);
    // Weight 1 ranks by relevance alone.
    let only = search(json!({ "quality_boost": 1.0, "mode": "semantic" })).await;
    let order: Vec<f64> = field(&only, "relevance_score").into_iter().map(|(_, r)| r.expect("a score")).collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]), "{only}");
    // The threshold filters by similarity, boosted or not.
    let above_major = field(&plain, "similarity_score").into_iter().find(|(h, _)| *h == major).and_then(|(_, s)| s);
    let threshold = above_major.expect("a similarity") + 1e-6;
    for boost in [json!(false), json!(true)] {
        let kept =
            search(json!({ "quality_boost": boost, "similarity_threshold": threshold, "mode": "semantic" })).await;
        assert!(!hashes(&kept, "results").contains(&major), "{kept}");
        assert!(hashes(&kept, "results").contains(&minor), "{kept}");
    }
    // A relation counts in the relevance of both its memories.
    let relate = json!({ "target_hash": minor, "relationship_type": "supports" });
    api.post(&format!("/api/memories/{major}/relations"), relate).await;
    let linked = search(json!({ "quality_boost": true })).await;
    for result in linked["results"].as_array().expect("results") {
        let hash = result["memory"]["content_hash"].as_str().expect("a hash");
        let reason = result["relevance_reason"].as_str().expect("a reason");
        let expected = if hash == major || hash == minor { "connections 1.10" } else { "connections 1.00" };
        assert!(reason.contains(expected), "{hash}: {reason}");
    }
    // Keyword search is left as it is.
    let keyword = search(json!({ "quality_boost": true, "mode": "keyword" })).await;
    assert!(field(&keyword, "relevance_score").iter().all(|(_, r)| r.is_none()), "{keyword}");

    // Out of range: a 422 naming the field.
    for (body, name) in [
        (json!({ "quality_boost": 1.5 }), "quality_boost"),
        (json!({ "quality_boost": -0.1 }), "quality_boost"),
        (json!({ "quality_boost": true, "quality_weight": 2 }), "quality_weight"),
    ] {
        let mut request = json!({ "query": "vault" });
        request.as_object_mut().expect("an object").extend(body.as_object().expect("an object").clone());
        let (status, answer) = api.send(Method::POST, "/api/search", Some(request)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", name]), "{answer}");
    }
}

#[tokio::test]
async fn an_archived_memory_leaves_searches_and_lists_keeps_its_history_and_comes_back() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    let old = api.store("The office wifi password rotates every quarter.", &["office"], Some("note")).await;
    let kept = api.store("The office coffee machine is descaled on Mondays.", &["office"], Some("note")).await;
    let before_archive = api.last_seq().await;
    let found = |body: &Value| hashes(body, "results");
    let query = json!({ "query": "office wifi password", "n_results": 5 });
    assert!(found(&api.post("/api/search", query.clone()).await).contains(&old));

    // Archived, with a reason: gone from every search and list, and a read by hash says where it went.
    let archived = api.post(&format!("/api/memories/{old}/archive"), json!({ "reason": "stale" })).await;
    assert_eq!(
        (archived["success"].as_bool(), archived["memory"]["archive_reason"].as_str()),
        (Some(true), Some("stale"))
    );
    for mode in ["hybrid", "semantic", "keyword"] {
        let body = json!({ "query": "office wifi password", "n_results": 5, "mode": mode });
        assert_eq!(found(&api.post("/api/search", body).await), std::slice::from_ref(&kept), "{mode}");
    }
    let by_tag = api.post("/api/search/by-tag", json!({ "tags": ["office"] })).await;
    assert_eq!(found(&by_tag), std::slice::from_ref(&kept));
    let listed = api.get("/api/memories").await;
    assert_eq!((hashes(&listed, "memories"), listed["total"].as_u64()), (vec![kept.clone()], Some(1)));
    let (status, body) = api.send(Method::GET, &format!("/api/memories/{old}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let page = api.get("/api/memories/archived").await;
    assert_eq!((hashes(&page, "memories"), page["total"].as_u64()), (vec![old.clone()], Some(1)));
    assert_eq!(page["memories"][0]["archive_reason"], "stale");
    assert_eq!(page["memories"][0]["tags"], json!(["office"]));
    let history = api.get(&format!("/api/memories/{old}/history")).await;
    let last = history["history"].as_array().expect("history").last().cloned().expect("an event");
    assert_eq!((last["kind"].as_str(), last["reason"].as_str()), (Some("archived"), Some("stale")), "{history}");

    // Archiving twice is a conflict; an absent memory is a 404; a bad body a 422; nothing is written.
    let seq = api.last_seq().await;
    let (status, body) = api.send(Method::POST, &format!("/api/memories/{old}/archive"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let nobody = content_hash("never stored");
    let (status, _) = api.send(Method::POST, &format!("/api/memories/{nobody}/archive"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.send(Method::POST, &format!("/api/memories/{kept}/unarchive"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = api.send(Method::POST, &format!("/api/memories/{kept}/archive"), Some(json!([1]))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.last_seq().await, seq);

    // Updated while archived: it stays archived, with the new tags.
    api.send(Method::PUT, &format!("/api/memories/{old}"), Some(json!({ "tags": ["office", "security"] }))).await;
    let page = api.get("/api/memories/archived").await;
    assert_eq!(page["memories"][0]["tags"], json!(["office", "security"]), "{page}");

    // Unarchived: found again, as it is now.
    let back = api.post(&format!("/api/memories/{old}/unarchive"), json!({})).await;
    assert_eq!(back["memory"]["tags"], json!(["office", "security"]));
    assert!(found(&api.post("/api/search", query.clone()).await).contains(&old));
    assert_eq!(api.get("/api/memories/archived").await["total"], 0);

    // Archived again, then a restore to before the first archiving brings it back, with its tags of then.
    api.post(&format!("/api/memories/{old}/archive"), json!({})).await;
    let restore = api.post("/api/restore", json!({ "to_seq": before_archive, "dry_run": false })).await;
    assert!(restore["change"].as_array().expect("changes").contains(&json!(old)), "{restore}");
    assert_eq!(api.get(&format!("/api/memories/{old}")).await["tags"], json!(["office"]));
    assert!(found(&api.post("/api/search", query).await).contains(&old));

    // The rebuilt read model is the live one: archived rows replay too.
    api.post(&format!("/api/memories/{kept}/archive"), json!({ "reason": "replayed" })).await;
    drop(server);
    data.ok(&["rebuild"]);
    let server = self::server(&data, &[]).await;
    let api = Api::new(&server);
    let page = api.get("/api/memories/archived").await;
    assert_eq!(
        (hashes(&page, "memories"), page["memories"][0]["archive_reason"].as_str()),
        (vec![kept], Some("replayed"))
    );
    assert_eq!(hashes(&api.get("/api/memories").await, "memories"), [old]);
}

/// Notes that look like a user's: two topics written about again and again (clusters), unrelated ones, an
/// expired temporary note and a throwaway, all created weeks ago.
/// Imports [`real_looking_notes`] made at the current time.
async fn import_real_looking_notes(server: &Server) {
    let now = chrono::Utc::now().timestamp() as f64;
    let imported: Value = reqwest::Client::new()
        .post(server.url("/api/import"))
        .bearer_auth(KEY)
        .body(real_looking_notes(now))
        .send()
        .await
        .expect("import")
        .json()
        .await
        .expect("JSON");
    assert_eq!(imported["imported"], 15, "{imported}");
}

fn real_looking_notes(now: f64) -> String {
    let day = 86_400.0;
    let mut lines = Vec::new();
    let mut note = |content: &str, tags: &[&str], memory_type: &str, age_days: f64| {
        let at = now - age_days * day;
        lines.push(
            json!({ "content": content, "tags": tags, "memory_type": memory_type, "created_at": at, "updated_at": at })
                .to_string(),
        );
    };
    for (i, text) in [
        "The Python asyncio event loop blocks when the ingestion worker calls synchronous code.",
        "Python asyncio: the ingestion worker must not call blocking code on the event loop.",
        "We moved blocking calls of the ingestion worker off the asyncio event loop with to_thread.",
        "The asyncio event loop of the ingestion worker stalls on synchronous database calls.",
        "Blocking code inside the Python asyncio event loop slowed the ingestion worker down.",
        "The ingestion worker's asyncio event loop is kept free of blocking calls since the fix.",
    ]
    .iter()
    .enumerate()
    {
        note(text, &["python", "async"], "note", 40.0 + i as f64);
    }
    for (i, text) in [
        "The SQLite index on created_at makes the timeline query fast.",
        "Adding an SQLite index on created_at sped up the timeline query.",
        "The timeline query uses the SQLite created_at index.",
        "Without the created_at index SQLite scanned the whole table for the timeline query.",
        "SQLite picks the created_at index for the timeline query after ANALYZE.",
    ]
    .iter()
    .enumerate()
    {
        note(text, &["sqlite", "database"], "reference", 35.0 + i as f64);
    }
    note("Buy oat milk and coffee beans on the way home.", &["shopping"], "note", 20.0);
    note("The quarterly planning meeting moved to the large room on the third floor.", &["work"], "note", 15.0);
    note("Remember to rotate the staging TLS certificate before it expires.", &[], "temporary", 30.0);
    note("asdf test", &[], "note", 50.0);
    lines.join("\n")
}

/// The consolidation panel in headless Chromium, on a store of real-looking notes: preview, run, the archived
/// memories with their reasons, a memory opened from an action, and one brought back.
#[tokio::test]
async fn the_dashboards_consolidation_panel_previews_runs_and_brings_back_in_headless_chromium() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    import_real_looking_notes(&server).await;
    let expired = content_hash("Remember to rotate the staging TLS certificate before it expires.");
    let shots = panel_shots();
    browser_check("consolidation_check.py", &[&server.url(""), KEY, &shots.to_string_lossy(), &expired], &server);
    let shot = shots.join("panel-consolidation.png");
    assert!(shot.exists(), "the screenshot is kept at {}", shot.display());
}

#[tokio::test]
async fn consolidation_links_summarises_and_archives_with_reasons_and_a_restore_undoes_it() {
    let data = DataDir::new();
    let server = server(&data, &[]).await;
    let api = Api::new(&server);
    import_real_looking_notes(&server).await;
    let before = api.last_seq().await;

    // A dry run reports every action with why, and writes nothing; a second one reports the same.
    let dry = json!({ "time_horizon": "monthly", "dry_run": true });
    let preview = api.post("/api/consolidation/trigger", dry.clone()).await;
    assert_eq!((preview["status"].as_str(), preview["horizon"].as_str()), (Some("completed"), Some("monthly")));
    let report = &preview["report"];
    assert_eq!(report["memories_processed"], 15, "{report}");
    assert_eq!(report["clusters_created"], 2, "the asyncio notes and the SQLite notes: {report}");
    assert_eq!(api.last_seq().await, before, "a dry run appends nothing");
    assert_eq!(api.post("/api/consolidation/trigger", dry).await["report"]["actions"], report["actions"]);
    let actions = report["actions"].as_array().expect("actions");
    let archived: Vec<String> = actions
        .iter()
        .filter(|a| a["action"] == "archive")
        .map(|a| a["memories"][0].as_str().expect("a hash").to_string())
        .collect();
    let expired = content_hash("Remember to rotate the staging TLS certificate before it expires.");
    let throwaway = content_hash("asdf test");
    assert!(archived.contains(&expired) && archived.contains(&throwaway), "{report}");
    let why = |hash: &str| {
        actions
            .iter()
            .find(|a| a["action"] == "archive" && a["memories"][0] == hash)
            .and_then(|a| a["reason"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(why(&expired).contains("expired_temporary"), "{}", why(&expired));
    assert!(why(&throwaway).contains("low_quality"), "{}", why(&throwaway));
    let summaries: Vec<&Value> = actions.iter().filter(|a| a["action"] == "summarise").collect();
    assert!(summaries.iter().all(|s| s["reason"].as_str().is_some_and(|r| r.contains("coherence"))), "{summaries:?}");

    // The run: the same actions, as events.
    let ran = api.post("/api/consolidation/trigger", json!({ "time_horizon": "monthly" })).await;
    assert_eq!(ran["report"]["actions"], report["actions"], "the run does what the preview said");
    assert!(ran["report"]["events_appended"].as_u64().expect("events") > 0, "{ran}");
    assert!(ran["report"]["errors"].as_array().expect("errors").is_empty(), "{ran}");
    let page = api.get("/api/memories/archived?page_size=100").await;
    let listed: Vec<String> = hashes(&page, "memories");
    assert_eq!(listed.iter().collect::<std::collections::BTreeSet<_>>(), archived.iter().collect(), "{page}");
    assert!(page["memories"][0]["archive_reason"].as_str().is_some_and(|r| r.starts_with("consolidation (monthly)")));
    let found =
        api.post("/api/search", json!({ "query": "rotate the staging TLS certificate", "n_results": 20 })).await;
    assert!(!hashes(&found, "results").contains(&expired), "archived memories are not found");
    // Each summary is a memory linked to its members, saying which cluster it summarises.
    let summary = summaries[0]["summary_hash"].as_str().expect("a summary hash");
    let memory = api.get(&format!("/api/memories/{summary}")).await;
    assert_eq!(memory["memory_type"], "compressed_cluster");
    assert!(memory["content"].as_str().is_some_and(|c| c.starts_with("Cluster of ")), "{memory}");
    let relations = api.get(&format!("/api/memories/{summary}/relations")).await;
    let members = summaries[0]["memories"].as_array().expect("members").len();
    assert_eq!(relations["count"].as_u64().map(|n| n as usize), Some(members), "{relations}");

    // Status and recommendations answer the original's shapes; a bad horizon is a 400.
    let status = api.get("/api/consolidation/status").await;
    assert_eq!((status["running"].as_bool(), status["jobs_executed"].as_u64()), (Some(false), Some(3)), "{status}");
    let advice = api.get("/api/consolidation/recommendations/weekly").await;
    assert_eq!(advice["memory_count"].as_u64(), Some(15 - archived.len() as u64 + summaries.len() as u64), "{advice}");
    let (code, _) = api.send(Method::GET, "/api/consolidation/recommendations/hourly", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = api.send(Method::POST, "/api/consolidation/trigger", Some(json!({ "time_horizon": "soon" }))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    // Undo: a restore to before the run brings the archived memories back and removes the summaries and
    // their edges.
    api.post("/api/restore", json!({ "to_seq": before, "dry_run": false })).await;
    assert_eq!(api.get("/api/memories/archived").await["total"], 0);
    assert_eq!(api.get("/api/memories").await["total"], 15);
    let (code, _) = api.send(Method::GET, &format!("/api/memories/{summary}"), None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/api/analytics/relationship-types").await, json!({}));
}

#[tokio::test]
async fn with_consolidation_enabled_the_owner_runs_a_horizon_at_its_scheduled_time() {
    let data = DataDir::new();
    // The next minute, in the local time the schedule reads (the server runs on this machine).
    let at = (chrono::Local::now() + chrono::Duration::minutes(1)).format("%H:%M").to_string();
    let env = [
        ("MCP_CONSOLIDATION_ENABLED", "true"),
        ("MCP_SCHEDULE_DAILY", at.as_str()),
        ("MCP_SCHEDULE_WEEKLY", "disabled"),
        ("MCP_SCHEDULE_MONTHLY", "disabled"),
    ];
    let server = server(&data, &env).await;
    let api = Api::new(&server);
    api.store("A note written just before the scheduled consolidation.", &["schedule"], None).await;
    let status = api.get("/api/consolidation/status").await;
    assert_eq!(status["running"], true, "{status}");
    let jobs = status["scheduler"]["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "only the daily horizon is scheduled: {status}");
    assert!(jobs[0]["next_run_time"].as_str().is_some_and(|t| t.contains(&format!("T{at}:00"))), "{status}");
    let deadline = Instant::now() + Duration::from_secs(150);
    let ran = loop {
        let status = api.get("/api/consolidation/status").await;
        if status["jobs_executed"].as_u64() == Some(1) {
            break status;
        }
        assert!(Instant::now() < deadline, "the daily run did not happen at {at}: {status}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let last = &ran["scheduler"]["recent_jobs"][0];
    assert_eq!((last["horizon"].as_str(), last["scheduled"].as_bool()), (Some("daily"), Some(true)), "{ran}");
    assert!(ran["scheduler"]["last_execution_times"]["daily"].is_string(), "{ran}");
}
