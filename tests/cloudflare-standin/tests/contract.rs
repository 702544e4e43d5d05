//! Black-box contract tests: each starts the built `cloudflare-standin` on a free port and talks to it over HTTP
//! the way the service's Cloudflare client does, asserting Cloudflare's envelope, semantics, limits and the
//! control API's faults.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cloudflare-standin");
const TOKEN: &str = "test-token";
const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";

/// A running stand-in; killed on drop.
struct Standin {
    child: Child,
    base: String,
    client: Client,
}

/// A reply: HTTP status and JSON body (`Value::Null` when the body is not JSON).
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert_eq!(self.body["success"], json!(true), "body: {}", self.body);
        assert_eq!(self.body["errors"], json!([]));
        assert_eq!(self.body["messages"], json!([]));
        &self.body["result"]
    }

    /// Asserts a failed envelope with `status` and returns its first error's code and message.
    fn error(&self, status: StatusCode) -> (u64, String) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["success"], json!(false), "body: {}", self.body);
        assert_eq!(self.body["result"], Value::Null);
        let error = &self.body["errors"][0];
        let code = error["code"].as_u64().expect("errors carry a numeric code");
        assert!(code >= 971, "code {code}");
        (code, error["message"].as_str().expect("errors carry a message").to_owned())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Standin {
    /// Starts with database `db`, Vectorize index `vecs` (4 dims), bucket `bucket`, and `extra` arguments.
    fn start(extra: &[&str]) -> Standin {
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--account",
            ACCOUNT,
            "--d1-database",
            "db",
            "--vectorize-index",
            "vecs:4",
            "--r2-bucket",
            "bucket",
        ];
        args.extend_from_slice(extra);
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the stand-in binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the stand-in prints its address");
        let base = line
            .trim()
            .strip_prefix("cloudflare-standin listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let client = Client::builder().no_proxy().build().expect("client builds");
        Standin { child, base, client }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/client/v4/accounts/{ACCOUNT}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the stand-in answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("the body arrives");
        Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    fn authed(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(TOKEN)
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.authed(Method::POST, path).json(&body)).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(self.authed(Method::GET, path)).await
    }

    async fn ndjson(&self, path: &str, lines: &[Value]) -> Reply {
        let body: String = lines.iter().map(|line| format!("{line}\n")).collect();
        self.send(self.authed(Method::POST, path).header("content-type", "application/x-ndjson").body(body)).await
    }

    async fn d1(&self, body: Value) -> Reply {
        self.post("/d1/database/db/query", body).await
    }

    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}/__standin{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = self.send(request).await;
        assert_eq!(reply.status, StatusCode::OK, "control {path}: {}", reply.body);
        reply.body
    }

    async fn faults(&self, rules: Value) {
        self.control(Method::POST, "/faults", Some(json!({ "rules": rules }))).await;
    }

    async fn flush(&self) {
        self.control(Method::POST, "/vectorize/flush", None).await;
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn vector(id: &str, values: [f32; 4], metadata: Value) -> Value {
    json!({"id": id, "values": values, "metadata": metadata})
}

#[tokio::test]
async fn envelope_and_authentication() {
    let s = Standin::start(&[]);
    let verify = s.send(s.client.get(format!("{}/client/v4/user/tokens/verify", s.base)).bearer_auth(TOKEN)).await;
    assert_eq!(verify.ok()["status"], json!("active"));
    assert_eq!(verify.header("ratelimit-policy"), Some("\"default\";q=1200;w=300"));
    assert!(verify.header("ratelimit").is_some_and(|v| v.starts_with("\"default\";r=1199;t=")));

    let wrong = s.send(s.client.get(s.url("/vectorize/v2/indexes")).bearer_auth("nope")).await;
    assert_eq!(wrong.error(StatusCode::FORBIDDEN), (10000, "Authentication error".to_owned()));
    let missing = s.send(s.client.get(s.url("/vectorize/v2/indexes"))).await;
    assert_eq!(missing.error(StatusCode::FORBIDDEN).0, 10000);
    let other_account = s.send(
        s.client.get(format!("{}/client/v4/accounts/someoneelse/vectorize/v2/indexes", s.base)).bearer_auth(TOKEN),
    );
    assert_eq!(other_account.await.error(StatusCode::FORBIDDEN).0, 10000);

    let unknown = s.get("/workers/scripts").await;
    assert_eq!(unknown.error(StatusCode::NOT_FOUND).0, 7003);
}

#[tokio::test]
async fn d1_query_raw_and_batch() {
    let s = Standin::start(&[]);
    let created = s
        .d1(json!({"sql": "CREATE TABLE m (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT UNIQUE NOT NULL, \
                          score REAL, flag INTEGER, note TEXT, data BLOB); \
                          INSERT INTO m (hash, score, flag, note, data) VALUES (?, ?, ?, ?, X'0102')",
                   "params": ["h1", 0.5, true, null]}))
        .await;
    let results = created.ok().as_array().expect("one result per statement").clone();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["success"], json!(true));
    assert_eq!(results[1]["meta"]["changes"], json!(1));
    assert_eq!(results[1]["meta"]["last_row_id"], json!(1));
    assert_eq!(results[1]["meta"]["changed_db"], json!(true));
    assert!(results[1]["meta"]["size_after"].as_u64().is_some_and(|size| size > 0));
    assert!(results[1]["meta"]["duration"].is_number());

    let rows = s.d1(json!({"sql": "SELECT * FROM m WHERE hash = ?", "params": ["h1"]})).await;
    assert_eq!(
        rows.ok()[0]["results"],
        json!([{"id": 1, "hash": "h1", "score": 0.5, "flag": 1, "note": null, "data": [1, 2]}])
    );
    assert_eq!(rows.ok()[0]["meta"]["changed_db"], json!(false));

    let raw = s.post("/d1/database/db/raw", json!({"sql": "SELECT id, hash FROM m"})).await;
    assert_eq!(raw.ok()[0]["results"], json!({"columns": ["id", "hash"], "rows": [[1, "h1"]]}));

    let batch = s
        .d1(json!({"batch": [
            {"sql": "INSERT INTO m (hash) VALUES (?)", "params": ["h2"]},
            {"sql": "INSERT INTO m (hash) VALUES (?)", "params": ["h3"]},
            {"sql": "SELECT count(*) AS n FROM m"}
        ]}))
        .await;
    let batch = batch.ok();
    assert_eq!(batch.as_array().map(Vec::len), Some(3));
    assert_eq!(batch[1]["meta"]["last_row_id"], json!(3));
    assert_eq!(batch[2]["results"], json!([{"n": 3}]));

    let missing = s.post("/d1/database/nope/query", json!({"sql": "SELECT 1"})).await;
    assert_eq!(missing.error(StatusCode::NOT_FOUND).0, 7404);
}

#[tokio::test]
async fn d1_rolls_back_a_failing_request() {
    let s = Standin::start(&[]);
    s.d1(json!({"sql": "CREATE TABLE t (k TEXT PRIMARY KEY)"})).await.ok();
    let batch = s
        .d1(json!({"batch": [
            {"sql": "INSERT INTO t VALUES (?)", "params": ["a"]},
            {"sql": "INSERT INTO t VALUES (?)", "params": ["a"]}
        ]}))
        .await;
    let (code, message) = batch.error(StatusCode::BAD_REQUEST);
    assert_eq!(code, 7500);
    assert!(message.contains("UNIQUE constraint failed: t.k"), "{message}");

    let multi = s.d1(json!({"sql": "INSERT INTO t VALUES ('b'); INSERT INTO nowhere VALUES (1)"})).await;
    let (code, message) = multi.error(StatusCode::BAD_REQUEST);
    assert_eq!(code, 7500);
    assert!(message.contains("no such table: nowhere"), "{message}");

    let count = s.d1(json!({"sql": "SELECT count(*) AS n FROM t"})).await;
    assert_eq!(count.ok()[0]["results"], json!([{"n": 0}]));
}

#[tokio::test]
async fn d1_limits_and_foreign_keys() {
    let s = Standin::start(&[]);
    let placeholders = |n: usize| vec!["?"; n].join(", ");
    let hundred =
        s.post("/d1/database/db/raw", json!({"sql": format!("SELECT {}", placeholders(100)), "params": vec![1; 100]}));
    assert_eq!(hundred.await.ok()[0]["results"]["rows"][0], json!(vec![1; 100]));
    let too_many = s.d1(json!({"sql": format!("SELECT {}", placeholders(101)), "params": vec![1; 101]})).await;
    let (code, message) = too_many.error(StatusCode::BAD_REQUEST);
    assert_eq!(code, 7500);
    assert!(message.contains("too many SQL variables"), "{message}");
    let wrong_count = s.d1(json!({"sql": "SELECT ?, ?", "params": [1]})).await;
    assert_eq!(wrong_count.error(StatusCode::BAD_REQUEST).0, 7500);

    let long = format!("SELECT '{}'", "x".repeat(100_001));
    let (_, message) = s.d1(json!({"sql": long})).await.error(StatusCode::BAD_REQUEST);
    assert!(message.contains("too long"), "{message}");

    s.d1(json!({"sql": "CREATE TABLE p (id INTEGER PRIMARY KEY); \
                        CREATE TABLE c (p INTEGER REFERENCES p(id) ON DELETE CASCADE)"}))
        .await
        .ok();
    let orphan = s.d1(json!({"sql": "INSERT INTO c VALUES (1)"})).await;
    let (_, message) = orphan.error(StatusCode::BAD_REQUEST);
    assert!(message.contains("FOREIGN KEY constraint failed"), "{message}");
    s.d1(json!({"sql": "INSERT INTO p VALUES (1); INSERT INTO c VALUES (1); DELETE FROM p"})).await.ok();
    let left = s.d1(json!({"sql": "SELECT count(*) AS n FROM c"})).await;
    assert_eq!(left.ok()[0]["results"], json!([{"n": 0}]), "ON DELETE CASCADE ran");
}

#[tokio::test]
async fn d1_state_dir_survives_a_restart_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state_dir = dir.path().to_str().expect("utf-8 temp path");
    let mut s = Standin::start(&["--state-dir", state_dir]);
    s.d1(json!({"sql": "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')"})).await.ok();
    let status = Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exit = s.child.wait().expect("the stand-in exits");
    assert!(exit.success(), "exit status {exit}");
    assert!(dir.path().join("db.sqlite").exists());

    let s = Standin::start(&["--state-dir", state_dir]);
    let rows = s.d1(json!({"sql": "SELECT v FROM t"})).await;
    assert_eq!(rows.ok()[0]["results"], json!([{"v": "kept"}]));
}

#[tokio::test]
async fn vectorize_index_lifecycle() {
    let s = Standin::start(&[]);
    let created = s
        .post(
            "/vectorize/v2/indexes",
            json!({"name": "other", "description": "d", "config": {"dimensions": 8, "metric": "euclidean"}}),
        )
        .await;
    assert_eq!(created.ok()["config"], json!({"dimensions": 8, "metric": "euclidean"}));
    let preset =
        s.post("/vectorize/v2/indexes", json!({"name": "bge", "config": {"preset": "@cf/baai/bge-base-en-v1.5"}}));
    assert_eq!(preset.await.ok()["config"]["dimensions"], json!(768));
    let duplicate =
        s.post("/vectorize/v2/indexes", json!({"name": "other", "config": {"dimensions": 8, "metric": "cosine"}}));
    assert_eq!(duplicate.await.status, StatusCode::CONFLICT);
    let too_wide =
        s.post("/vectorize/v2/indexes", json!({"name": "w", "config": {"dimensions": 1537, "metric": "cosine"}}));
    too_wide.await.error(StatusCode::BAD_REQUEST);

    let list = s.get("/vectorize/v2/indexes").await;
    let names: Vec<&str> = list.ok().as_array().expect("a list").iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["bge", "other", "vecs"]);
    assert_eq!(s.get("/vectorize/v2/indexes/vecs").await.ok()["config"], json!({"dimensions": 4, "metric": "cosine"}));
    let info = s.get("/vectorize/v2/indexes/vecs/info").await;
    assert_eq!(
        info.ok().clone(),
        json!({"dimensions": 4, "vectorCount": 0, "processedUpToDatetime": null, "processedUpToMutation": null})
    );

    let deleted = s.send(s.authed(Method::DELETE, "/vectorize/v2/indexes/other")).await;
    assert_eq!(deleted.ok(), &Value::Null);
    s.get("/vectorize/v2/indexes/other").await.error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn vectorize_writes_become_visible_after_the_delay_or_a_flush() {
    let s = Standin::start(&["--vectorize-delay-ms", "60000"]);
    let upsert = s
        .ndjson(
            "/vectorize/v2/indexes/vecs/upsert",
            &[
                vector("a", [1.0, 0.0, 0.0, 0.0], json!({"kind": "x", "n": 1})),
                vector("b", [0.8, 0.6, 0.0, 0.0], json!({"kind": "y"})),
                vector("c", [0.0, 0.0, 1.0, 0.0], json!({})),
            ],
        )
        .await;
    let mutation = upsert.ok()["mutationId"].as_str().expect("a mutation id").to_owned();
    assert!(mutation.len() <= 36);

    let info = s.get("/vectorize/v2/indexes/vecs/info").await;
    assert_eq!(info.ok()["vectorCount"], json!(0), "not visible before the delay");
    let query = json!({"vector": [1.0, 0.0, 0.0, 0.0], "topK": 3, "returnMetadata": "all"});
    let before = s.post("/vectorize/v2/indexes/vecs/query", query.clone()).await;
    assert_eq!(before.ok()["count"], json!(0));

    s.flush().await;
    let info = s.get("/vectorize/v2/indexes/vecs/info").await;
    assert_eq!(info.ok()["vectorCount"], json!(3));
    assert_eq!(info.ok()["processedUpToMutation"], json!(mutation));
    assert!(info.ok()["processedUpToDatetime"].is_string());

    let ranked = s.post("/vectorize/v2/indexes/vecs/query", query.clone()).await;
    let ranked = ranked.ok();
    assert_eq!(ranked["count"], json!(3));
    let ids: Vec<&str> =
        ranked["matches"].as_array().expect("matches").iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let score = |i: usize| ranked["matches"][i]["score"].as_f64().expect("a score");
    assert!((score(0) - 1.0).abs() < 1e-6 && (score(1) - 0.8).abs() < 1e-6 && score(2).abs() < 1e-6);
    assert_eq!(ranked["matches"][0]["metadata"], json!({"kind": "x", "n": 1}));
    assert!(ranked["matches"][0].get("values").is_none());

    // Upsert replaces the metadata entirely; insert skips an existing id.
    s.ndjson("/vectorize/v2/indexes/vecs/upsert", &[vector("a", [1.0, 0.0, 0.0, 0.0], json!({"kind": "z"}))])
        .await
        .ok();
    s.ndjson(
        "/vectorize/v2/indexes/vecs/insert",
        &[vector("b", [0.0, 0.0, 0.0, 1.0], json!({})), vector("d", [0.0, 1.0, 0.0, 0.0], json!({"new": true}))],
    )
    .await
    .ok();
    let delete = s.post("/vectorize/v2/indexes/vecs/delete_by_ids", json!({"ids": ["c", "missing"]})).await;
    let last = delete.ok()["mutationId"].as_str().expect("a mutation id").to_owned();
    s.flush().await;

    let got = s.post("/vectorize/v2/indexes/vecs/get_by_ids", json!({"ids": ["a", "b", "c", "d"]})).await;
    let got = got.ok().as_array().expect("an array").clone();
    let ids: Vec<&str> = got.iter().filter_map(|v| v["id"].as_str()).collect();
    assert_eq!(ids, ["a", "b", "d"]);
    assert_eq!(got[0]["metadata"], json!({"kind": "z"}));
    // Values are stored as float32, so they come back widened (0.800000011920929), as from Cloudflare.
    let b: Vec<f64> = got[1]["values"].as_array().expect("values").iter().filter_map(Value::as_f64).collect();
    assert!(
        b.len() == 4 && (b[0] - 0.8).abs() < 1e-6 && (b[1] - 0.6).abs() < 1e-6,
        "insert kept the existing b: {b:?}"
    );
    let info = s.get("/vectorize/v2/indexes/vecs/info").await;
    assert_eq!(info.ok()["vectorCount"], json!(3));
    assert_eq!(info.ok()["processedUpToMutation"], json!(last));
}

#[tokio::test]
async fn vectorize_writes_become_visible_on_their_own_after_the_delay() {
    let s = Standin::start(&["--vectorize-delay-ms", "300"]);
    let accepted = Instant::now();
    s.ndjson("/vectorize/v2/indexes/vecs/upsert", &[vector("a", [1.0, 0.0, 0.0, 0.0], json!({}))]).await.ok();
    let mut first_seen = None;
    while accepted.elapsed() < Duration::from_secs(5) {
        let info = s.get("/vectorize/v2/indexes/vecs/info").await;
        if info.ok()["vectorCount"] == json!(1) {
            first_seen = Some(accepted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = first_seen.expect("the vector became visible within 5 s");
    assert!(seen >= Duration::from_millis(300), "visible after {seen:?}, before the 300 ms delay");
}

#[tokio::test]
async fn vectorize_filters_only_match_indexed_properties() {
    let s = Standin::start(&[]);
    let create = |property: &str, kind: &str| {
        s.post("/vectorize/v2/indexes/vecs/metadata_index/create", json!({"propertyName": property, "indexType": kind}))
    };
    assert!(create("type", "string").await.ok()["mutationId"].is_string());
    create("n", "number").await.ok();
    s.ndjson(
        "/vectorize/v2/indexes/vecs/upsert",
        &[
            vector("note1", [1.0, 0.0, 0.0, 0.0], json!({"type": "note", "n": 1, "tag": "t"})),
            vector("note2", [0.9, 0.1, 0.0, 0.0], json!({"type": "note", "n": 5, "tag": "t"})),
            vector("todo", [1.0, 0.0, 0.0, 0.0], json!({"type": "todo", "n": 3, "tag": "t"})),
        ],
    )
    .await
    .ok();
    s.flush().await;
    let ids = |reply: Reply| -> Vec<String> {
        reply.ok()["matches"]
            .as_array()
            .expect("matches")
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect()
    };
    let query = |filter: Value| {
        s.post("/vectorize/v2/indexes/vecs/query", json!({"vector": [1, 0, 0, 0], "topK": 10, "filter": filter}))
    };
    assert_eq!(ids(query(json!({"type": "note"})).await), ["note1", "note2"]);
    assert_eq!(ids(query(json!({"type": {"$ne": "note"}})).await), ["todo"]);
    assert_eq!(ids(query(json!({"type": {"$in": ["todo", "x"]}})).await), ["todo"]);
    assert_eq!(ids(query(json!({"n": {"$gte": 3}})).await), ["todo", "note2"]);
    assert_eq!(ids(query(json!({"n": {"$gt": 1, "$lt": 5}})).await), ["todo"]);
    assert_eq!(ids(query(json!({"type": "note", "n": {"$nin": [1]}})).await), ["note2"]);
    assert!(ids(query(json!({"tag": "t"})).await).is_empty(), "tag has no metadata index");

    // An index only covers vectors written after it exists.
    create("tag", "string").await.ok();
    assert!(ids(query(json!({"tag": "t"})).await).is_empty());
    s.ndjson("/vectorize/v2/indexes/vecs/upsert", &[vector("late", [0.0, 1.0, 0.0, 0.0], json!({"tag": "t"}))])
        .await
        .ok();
    s.flush().await;
    assert_eq!(ids(query(json!({"tag": "t"})).await), ["late"]);

    let listed = s.get("/vectorize/v2/indexes/vecs/metadata_index/list").await;
    assert_eq!(listed.ok()["metadataIndexes"].as_array().map(Vec::len), Some(3));

    let indexed = s
        .post(
            "/vectorize/v2/indexes/vecs/query",
            json!({"vector": [1, 0, 0, 0], "topK": 1, "returnMetadata": "indexed", "filter": {"type": "todo"}}),
        )
        .await;
    assert_eq!(indexed.ok()["matches"][0]["metadata"], json!({"n": 3, "type": "todo"}));
    let legacy =
        s.post("/vectorize/v2/indexes/vecs/query", json!({"vector": [1, 0, 0, 0], "topK": 1, "returnMetadata": true}));
    assert!(legacy.await.ok()["matches"][0]["metadata"].is_object());

    let long = query(json!({"type": "x".repeat(2100)})).await;
    long.error(StatusCode::BAD_REQUEST);
    query(json!({"$or": [{"type": "note"}]})).await.error(StatusCode::BAD_REQUEST);
    let removed = s.post("/vectorize/v2/indexes/vecs/metadata_index/delete", json!({"propertyName": "type"}));
    removed.await.ok();
    assert!(ids(query(json!({"type": "note"})).await).is_empty());
}

#[tokio::test]
async fn vectorize_limits() {
    let s = &Standin::start(&[]);
    let upsert = |lines: Vec<Value>| async move { s.ndjson("/vectorize/v2/indexes/vecs/upsert", &lines).await };
    let (_, message) = upsert(vec![json!({"id": "a", "values": [1, 2, 3]})]).await.error(StatusCode::BAD_REQUEST);
    assert!(message.contains("expected 4 dimensions"), "{message}");
    upsert(vec![vector(&"x".repeat(65), [1.0; 4], json!({}))]).await.error(StatusCode::BAD_REQUEST);
    upsert(vec![vector(&"x".repeat(64), [1.0; 4], json!({}))]).await.ok();
    upsert(vec![vector("big", [1.0; 4], json!({"text": "x".repeat(10 * 1024)}))]).await.error(StatusCode::BAD_REQUEST);
    upsert(vec![vector("ok", [1.0; 4], json!({"text": "x".repeat(10 * 1024 - 20)}))]).await.ok();
    for key in ["", "a.b", "$a", "a\"b"] {
        upsert(vec![vector("k", [1.0; 4], json!({ key: 1 }))]).await.error(StatusCode::BAD_REQUEST);
    }
    let many: Vec<Value> = (0..5001).map(|i| vector(&format!("v{i}"), [1.0; 4], json!({}))).collect();
    upsert(many[..5001].to_vec()).await.error(StatusCode::BAD_REQUEST);
    upsert(many[..5000].to_vec()).await.ok();

    // Unparsable lines: an error by default, skipped with `discard`.
    let body = format!("{}\nnot json\n", vector("p", [1.0; 4], json!({})));
    let strict = s.authed(Method::POST, "/vectorize/v2/indexes/vecs/insert").body(body.clone());
    s.send(strict).await.error(StatusCode::BAD_REQUEST);
    let lenient = s.authed(Method::POST, "/vectorize/v2/indexes/vecs/insert?unparsable-behavior=discard").body(body);
    s.send(lenient).await.ok();
    s.flush().await;
    let got = s.post("/vectorize/v2/indexes/vecs/get_by_ids", json!({"ids": ["p"]})).await;
    assert_eq!(got.ok().as_array().map(Vec::len), Some(1));

    let query = |body: Value| s.post("/vectorize/v2/indexes/vecs/query", body);
    query(json!({"vector": [1, 0, 0, 0], "topK": 100})).await.ok();
    query(json!({"vector": [1, 0, 0, 0], "topK": 101})).await.error(StatusCode::BAD_REQUEST);
    let with_values = query(json!({"vector": [1, 0, 0, 0], "topK": 20, "returnValues": true})).await;
    assert_eq!(with_values.ok()["matches"][0]["values"], json!([1.0, 1.0, 1.0, 1.0]));
    query(json!({"vector": [1, 0, 0, 0], "topK": 21, "returnValues": true})).await.error(StatusCode::BAD_REQUEST);
    query(json!({"vector": [1, 0, 0, 0], "topK": 21, "returnMetadata": "all"})).await.error(StatusCode::BAD_REQUEST);
    query(json!({"vector": [1, 0, 0], "topK": 1})).await.error(StatusCode::BAD_REQUEST);
    let ids: Vec<String> = (0..1001).map(|i| format!("v{i}")).collect();
    s.post("/vectorize/v2/indexes/vecs/get_by_ids", json!({ "ids": ids })).await.error(StatusCode::BAD_REQUEST);
    s.post("/vectorize/v2/indexes/nope/query", json!({"vector": [1, 0, 0, 0]})).await.error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn workers_ai_embeds_deterministically_and_meaningfully() {
    let s = Standin::start(&["--vectorize-index", "memories:768"]);
    let texts = ["the cat sat on the mat", "a cat sat on a mat today", "quarterly tax filing deadline"];
    let reply = s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({ "text": texts })).await;
    let result = reply.ok().clone();
    assert_eq!(result["shape"], json!([3, 768]));
    let data = result["data"].as_array().expect("data");
    let vectors: Vec<Vec<f64>> = data
        .iter()
        .map(|v| v.as_array().expect("a vector").iter().map(|x| x.as_f64().expect("a number")).collect())
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    assert!((dot(&vectors[0], &vectors[0]) - 1.0).abs() < 1e-4, "unit length");
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]) + 0.3);

    let again = s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({"text": texts[0]})).await;
    assert_eq!(again.ok()["data"][0], data[0], "deterministic");
    let small = s.post("/ai/run/@cf/baai/bge-small-en-v1.5", json!({"text": ["x"]})).await;
    assert_eq!(small.ok()["shape"], json!([1, 384]));
    let large = s.post("/ai/run/@cf/baai/bge-large-en-v1.5", json!({"text": ["x"]})).await;
    assert_eq!(large.ok()["shape"], json!([1, 1024]));
    let too_many = vec!["x"; 101];
    s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({ "text": too_many })).await.error(StatusCode::BAD_REQUEST);

    // End to end: embeddings stored in Vectorize and searched by an embedded query.
    let lines: Vec<Value> = texts
        .iter()
        .zip(data)
        .enumerate()
        .map(|(i, (_, values))| json!({"id": format!("m{i}"), "values": values}))
        .collect();
    s.ndjson("/vectorize/v2/indexes/memories/upsert", &lines).await.ok();
    let query = s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({"text": ["where did the cat sit"]})).await;
    let vector = query.ok()["data"][0].clone();
    let found = s.post("/vectorize/v2/indexes/memories/query", json!({"vector": vector, "topK": 3})).await;
    assert_eq!(found.ok()["matches"][2]["id"], json!("m2"), "the unrelated text ranks last");
}

#[tokio::test]
async fn r2_objects_round_trip() {
    let s = Standin::start(&[]);
    let objects = "/r2/buckets/bucket/objects";
    let put = s
        .send(
            s.authed(Method::PUT, &format!("{objects}/content/abc.txt"))
                .header("content-type", "text/plain")
                .body("large content"),
        )
        .await;
    assert_eq!(put.ok()["size"], json!(13));
    s.send(s.authed(Method::PUT, &format!("{objects}/content/def.txt")).body("other")).await.ok();
    s.send(s.authed(Method::PUT, &format!("{objects}/zz")).body("z")).await.ok();

    let got = s.authed(Method::GET, &format!("{objects}/content/abc.txt")).send().await.expect("answers");
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/plain"));
    assert_eq!(got.text().await.expect("a body"), "large content");

    let one = s.get(&format!("{objects}?max-keys=1")).await;
    assert_eq!(one.ok().as_array().map(Vec::len), Some(1));
    assert_eq!(one.ok()[0]["key"], json!("content/abc.txt"));
    assert_eq!(one.body["result_info"]["is_truncated"], json!(true));
    let prefixed = s.get(&format!("{objects}?prefix=content/")).await;
    let keys: Vec<&str> = prefixed.ok().as_array().expect("a list").iter().filter_map(|o| o["key"].as_str()).collect();
    assert_eq!(keys, ["content/abc.txt", "content/def.txt"]);

    s.send(s.authed(Method::DELETE, &format!("{objects}/content/abc.txt"))).await.ok();
    let gone = s.get(&format!("{objects}/content/abc.txt")).await;
    assert_eq!(gone.error(StatusCode::NOT_FOUND).0, 10007);
    let no_bucket = s.get("/r2/buckets/nope/objects?max-keys=1").await;
    assert_eq!(no_bucket.error(StatusCode::NOT_FOUND).0, 10006);
}

#[tokio::test]
async fn rate_limit_blocks_every_call_for_the_rest_of_the_window() {
    let s = Standin::start(&["--rate-limit", "3", "--rate-window-s", "60"]);
    for remaining in [2, 1, 0] {
        let reply = s.get("/vectorize/v2/indexes").await;
        reply.ok();
        assert!(reply.header("ratelimit").is_some_and(|v| v.starts_with(&format!("\"default\";r={remaining};"))));
    }
    let limited = s.get("/vectorize/v2/indexes").await;
    assert_eq!(
        limited.error(StatusCode::TOO_MANY_REQUESTS),
        (971, "Please wait and consider throttling your request speed".to_owned())
    );
    let retry_after: u64 = limited.header("retry-after").expect("retry-after on 429").parse().expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Every other call is blocked too.
    s.d1(json!({"sql": "SELECT 1"})).await.error(StatusCode::TOO_MANY_REQUESTS);

    let short = Standin::start(&["--rate-limit", "1", "--rate-window-s", "1"]);
    short.get("/vectorize/v2/indexes").await.ok();
    short.get("/vectorize/v2/indexes").await.error(StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    short.get("/vectorize/v2/indexes").await.ok();
}

#[tokio::test]
async fn workers_ai_has_its_own_rate_limit() {
    let s = Standin::start(&["--ai-rate-limit", "1"]);
    let run = || s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({"text": ["x"]}));
    run().await.ok();
    let limited = run().await;
    limited.error(StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").is_some());
    s.d1(json!({"sql": "SELECT 1"})).await.ok();
}

#[tokio::test]
async fn faults_answer_with_status_and_retry_after() {
    let s = Standin::start(&[]);
    s.faults(json!([
        {"path_contains": "/d1/", "method": "POST", "times": 2, "status": 503},
        {"path_contains": "/upsert", "status": 429, "retry_after": 2}
    ]))
    .await;
    s.get("/vectorize/v2/indexes").await.ok();
    for _ in 0..2 {
        let failed = s.d1(json!({"sql": "SELECT 1"})).await;
        failed.error(StatusCode::SERVICE_UNAVAILABLE);
    }
    s.d1(json!({"sql": "SELECT 1"})).await.ok();

    let limited = s.ndjson("/vectorize/v2/indexes/vecs/upsert", &[vector("a", [1.0; 4], json!({}))]).await;
    assert_eq!(limited.error(StatusCode::TOO_MANY_REQUESTS).0, 971);
    assert_eq!(limited.header("retry-after"), Some("2"));
    s.ndjson("/vectorize/v2/indexes/vecs/upsert", &[vector("a", [1.0; 4], json!({}))]).await.ok();

    s.faults(json!([{"path_contains": "/r2/", "times": 0, "status": 500}])).await;
    for _ in 0..3 {
        s.get("/r2/buckets/bucket/objects").await.error(StatusCode::INTERNAL_SERVER_ERROR);
    }
    s.control(Method::DELETE, "/faults", None).await;
    s.get("/r2/buckets/bucket/objects").await.ok();
}

#[tokio::test]
async fn fault_delay_lets_a_client_time_out() {
    let s = Standin::start(&[]);
    s.faults(json!([{"path_contains": "/query", "delay_ms": 1500}, {"path_contains": "/info", "delay_ms": 200}])).await;
    let impatient = s.authed(Method::POST, "/d1/database/db/query").json(&json!({"sql": "SELECT 1"}));
    let error = impatient.timeout(Duration::from_millis(300)).send().await.expect_err("the reply comes too late");
    assert!(error.is_timeout(), "{error}");

    let started = Instant::now();
    s.get("/vectorize/v2/indexes/vecs/info").await.ok();
    assert!(started.elapsed() >= Duration::from_millis(200), "a delay without a status still answers normally");
    s.d1(json!({"sql": "SELECT 1"})).await.ok();
}

#[tokio::test]
async fn fault_drop_connection_and_offline_give_connection_errors() {
    let s = Standin::start(&[]);
    s.faults(json!([{"path_contains": "/ai/run", "drop_connection": true}])).await;
    let dropped = s.authed(Method::POST, "/ai/run/@cf/baai/bge-base-en-v1.5").json(&json!({"text": ["x"]})).send();
    let error = dropped.await.expect_err("no HTTP reply");
    assert!(error.status().is_none() && (error.is_request() || error.is_connect() || error.is_body()), "{error:?}");
    s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({"text": ["x"]})).await.ok();

    s.control(Method::POST, "/offline", Some(json!({"offline": true}))).await;
    for path in ["/vectorize/v2/indexes", "/r2/buckets/bucket/objects"] {
        let error = s.authed(Method::GET, path).send().await.expect_err("offline");
        assert!(error.status().is_none(), "{error:?}");
    }
    s.control(Method::POST, "/offline", Some(json!({"offline": false}))).await;
    s.get("/vectorize/v2/indexes").await.ok();
}

#[tokio::test]
async fn fault_partial_keeps_half_a_batch() {
    let s = Standin::start(&[]);
    s.faults(json!([{"path_contains": "/upsert", "partial": true}, {"path_contains": "/ai/run", "partial": true}]))
        .await;
    let lines: Vec<Value> = (0..4).map(|i| vector(&format!("v{i}"), [1.0; 4], json!({}))).collect();
    let partial = s.ndjson("/vectorize/v2/indexes/vecs/upsert", &lines).await;
    assert!(partial.ok()["mutationId"].is_string());
    s.flush().await;
    assert_eq!(s.get("/vectorize/v2/indexes/vecs/info").await.ok()["vectorCount"], json!(2));
    let got = s.post("/vectorize/v2/indexes/vecs/get_by_ids", json!({"ids": ["v0", "v1", "v2", "v3"]})).await;
    let ids: Vec<&str> = got.ok().as_array().expect("a list").iter().filter_map(|v| v["id"].as_str()).collect();
    assert_eq!(ids, ["v0", "v1"]);

    let short = s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({"text": ["a", "b", "c", "d"]})).await;
    assert_eq!(short.ok()["shape"], json!([2, 768]));
    assert_eq!(short.ok()["data"].as_array().map(Vec::len), Some(2));
    let full = s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({"text": ["a", "b", "c", "d"]})).await;
    assert_eq!(full.ok()["shape"], json!([4, 768]), "the rule applied once");
}

#[tokio::test]
async fn request_counters_count_every_api_call() {
    let s = Standin::start(&[]);
    s.d1(json!({"sql": "SELECT 1"})).await.ok();
    s.control(Method::POST, "/requests/reset", None).await;
    s.d1(json!({"sql": "SELECT 1"})).await.ok();
    s.d1(json!({"sql": "SELECT 1"})).await.ok();
    s.post("/d1/database/db/raw", json!({"sql": "SELECT 1"})).await.ok();
    s.ndjson("/vectorize/v2/indexes/vecs/upsert", &[vector("a", [1.0; 4], json!({}))]).await.ok();
    s.post("/vectorize/v2/indexes/vecs/query", json!({"vector": [1, 0, 0, 0]})).await.ok();
    s.post("/ai/run/@cf/baai/bge-base-en-v1.5", json!({"text": "x"})).await.ok();
    s.send(s.authed(Method::PUT, "/r2/buckets/bucket/objects/k").body("v")).await.ok();
    // Rejected calls count too.
    s.send(s.client.get(s.url("/vectorize/v2/indexes/vecs")).bearer_auth("wrong")).await.error(StatusCode::FORBIDDEN);

    let counts = s.control(Method::GET, "/requests", None).await;
    assert_eq!(
        counts,
        json!({"total": 8, "by_route": {
            "ai.run": 1, "d1.query": 2, "d1.raw": 1, "r2.put": 1,
            "vectorize.get": 1, "vectorize.query": 1, "vectorize.upsert": 1
        }})
    );
    s.control(Method::POST, "/requests/reset", None).await;
    assert_eq!(s.control(Method::GET, "/requests", None).await, json!({"total": 0, "by_route": {}}));
}
