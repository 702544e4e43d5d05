//! Load harness for the HTTP API (issue #4), run against the real server over 127.0.0.1.
//!
//! It starts `mcp-memory-service serve` on a free loopback port with a fresh data directory, an API key and
//! 2 embedding threads, seeds `MMS_LOAD_MEMORIES` memories (default 10,000) through `POST /api/memories`
//! with 8 requests in flight, and then measures:
//! - with sequential requests after a warm-up: store (new content, embedding included), semantic search,
//!   tag search and a page of the list, as p50/p95/p99/max;
//! - SSE latency: how long after a store's response its `memory_stored` event reaches a client of
//!   `GET /api/events`;
//! - fan-out: 200 SSE clients while 50 writers store `MMS_LOAD_WRITES_PER_WRITER` memories each (default
//!   20); every client must receive every `memory_stored` event exactly once;
//! - resume: a client that reconnects with `Last-Event-ID` must receive exactly the `MMS_LOAD_RESUME_WRITES`
//!   (default 20) events it missed, in order, and then live events.
//!
//! It prints the machine, the command and a table against the targets to stderr. Timings are only
//! reported, never asserted; a lost, duplicated or misordered event, or a failed write, makes it exit non-zero.
//! The server is killed at the end, also when the harness panics.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench cargo bench --bench http_load` (about 2 minutes at 10k memories
//! once built, most of it seeding; `MMS_LOAD_MEMORIES=1000` for a quick run). Under `cargo test --benches` it
//! runs once on small inputs, in seconds.

mod common;

use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The binary under test, built by cargo for this bench.
const BIN: &str = env!("CARGO_BIN_EXE_mcp-memory-service");

/// The API key the server is started with; requests send it as a bearer token, SSE clients as `?api_key=`.
const API_KEY: &str = "load-harness-key";

/// Variables that would point the server at other files or settings than the harness's own.
const ISOLATED: &[&str] = &[
    "MCP_MEMORY_SQLITE_PATH",
    "MCP_MEMORY_SQLITEVEC_PATH",
    "MCP_MEMORY_LOG_PATH",
    "MCP_MEMORY_BACKUPS_PATH",
    "MCP_MEMORY_STORAGE_BACKEND",
    "MCP_MEMORY_INCLUDE_HOSTNAME",
    "MCP_MEMORY_ANN_THRESHOLD",
    "MCP_ALLOW_ANONYMOUS_ACCESS",
    "MCP_SSE_HEARTBEAT",
    "LOG_LEVEL",
];

/// One topic tag per memory: a single-tag search matches about 10 % of the store.
const TOPICS: [&str; 10] =
    ["backend", "frontend", "database", "security", "billing", "infra", "mobile", "ml", "docs", "support"];
/// One team tag per memory: a topic and a team together match about 2 %.
const TEAMS: [&str; 5] = ["team:core", "team:web", "team:data", "team:ops", "team:apps"];
/// A rare tag on about 2 % of the memories.
const RARE_TAG: &str = "urgent";
const MEMORY_TYPES: [&str; 4] = ["note", "decision", "task", "reference"];

/// Memories stored (and events read) by the resume check before its client drops.
const RESUME_FIRST: usize = 3;
/// Stores of the SSE latency check that warm the path up and are not counted.
const SSE_WARM_UP: usize = 5;

/// The sizes of one run.
struct Plan {
    memories: usize,
    seed_in_flight: usize,
    warm_up: usize,
    samples: usize,
    sse_samples: usize,
    sse_clients: usize,
    writers: usize,
    writes_per_writer: usize,
    resume_writes: usize,
    /// The longest one measurement loop may run; it stops early and says so.
    step_budget: Duration,
}

impl Plan {
    /// The sizes under `cargo bench`, with the environment's overrides; small ones under `cargo test`.
    fn from_env() -> Plan {
        if !common::bench_mode() {
            return Plan {
                memories: 100,
                seed_in_flight: 8,
                warm_up: 3,
                samples: 10,
                sse_samples: 10,
                sse_clients: 10,
                writers: 5,
                writes_per_writer: 3,
                resume_writes: 5,
                step_budget: Duration::from_secs(60),
            };
        }
        let memories = env_usize("MMS_LOAD_MEMORIES", 10_000);
        assert!(memories >= 100, "MMS_LOAD_MEMORIES={memories}: searches need at least 100 memories to find 10");
        Plan {
            memories,
            seed_in_flight: 8,
            warm_up: 20,
            samples: 200,
            sse_samples: 200,
            sse_clients: 200,
            writers: 50,
            writes_per_writer: env_usize("MMS_LOAD_WRITES_PER_WRITER", 20),
            resume_writes: env_usize("MMS_LOAD_RESUME_WRITES", 20),
            step_budget: Duration::from_secs(120),
        }
    }

    /// How many new texts the run stores after seeding.
    fn fresh_texts(&self) -> usize {
        let store = self.warm_up + self.samples;
        let sse = SSE_WARM_UP + self.sse_samples;
        let fan_out = self.fan_out_writes();
        let resume = RESUME_FIRST + self.resume_writes + 1;
        store + sse + fan_out + resume
    }

    fn fan_out_writes(&self) -> usize {
        self.writers * self.writes_per_writer
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value.trim().parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a count")),
        Err(_) => default,
    }
}

/// The tags and memory type of the memory with this index: deterministic, spread over small sets.
fn labels(index: usize) -> (Vec<&'static str>, &'static str) {
    let mut rng = common::Rng::new(index as u64);
    let mut tags = vec![TOPICS[rng.below(TOPICS.len())], TEAMS[rng.below(TEAMS.len())]];
    if rng.below(50) == 0 {
        tags.push(RARE_TAG);
    }
    (tags, MEMORY_TYPES[rng.below(MEMORY_TYPES.len())])
}

/// Every text of a run, distinct from each other: the seed memories, the texts stored later, and the
/// search queries.
struct Texts {
    seeds: Vec<String>,
    fresh: Vec<String>,
    used: usize,
    queries: Vec<String>,
}

impl Texts {
    fn new(plan: &Plan) -> Texts {
        let (mut seeds, queries) = common::corpus(plan.memories + plan.fresh_texts(), plan.warm_up + plan.samples);
        let fresh = seeds.split_off(plan.memories);
        Texts { seeds, fresh, used: 0, queries }
    }

    /// The next `n` texts that were never stored, each with the index that picks its labels.
    fn fresh(&mut self, n: usize) -> Vec<(String, usize)> {
        let texts =
            self.fresh.get(self.used..self.used + n).expect("Plan::fresh_texts counts every text the run stores");
        let first = self.seeds.len() + self.used;
        self.used += n;
        texts.iter().enumerate().map(|(i, text)| (text.clone(), first + i)).collect()
    }
}

/// Percentiles of a set of timings, in milliseconds.
#[derive(Clone, Copy, Default)]
struct Summary {
    count: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

impl Summary {
    fn of(mut times: Vec<Duration>) -> Summary {
        times.sort();
        Summary {
            count: times.len(),
            p50: common::percentile_ms(&times, 50.0),
            p95: common::percentile_ms(&times, 95.0),
            p99: common::percentile_ms(&times, 99.0),
            max: times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
        }
    }

    fn describe(&self) -> String {
        format!(
            "p50 {:.2} / p95 {:.2} / p99 {:.2} / max {:.2} ms (n={})",
            self.p50, self.p95, self.p99, self.max, self.count
        )
    }
}

/// The server under test; killed on drop, before its data directory is removed.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts `serve` on a free port of 127.0.0.1 with a fresh data directory; stdout and stderr go to a file.
    fn spawn() -> Server {
        let data = tempfile::Builder::new().prefix("mms-load-").tempdir().expect("create a temp data dir");
        let port = free_port();
        let log = data.path().join("serve.log");
        let out = std::fs::File::create(&log).expect("create the server's log file");
        let err = out.try_clone().expect("share the log file between stdout and stderr");
        let mut command = Command::new(BIN);
        command.arg("serve").current_dir(data.path());
        for name in ISOLATED {
            command.env_remove(name);
        }
        command
            .env("MCP_MEMORY_BASE_DIR", data.path())
            .env("MCP_HTTP_HOST", "127.0.0.1")
            .env("MCP_HTTP_PORT", port.to_string())
            .env("MCP_API_KEY", API_KEY)
            .env("MCP_EMBEDDING_THREADS", "2")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command.spawn().expect("start mcp-memory-service serve");
        Server { child, base: format!("http://127.0.0.1:{port}"), log, _data: data }
    }

    /// Waits until GET /api/health answers 200 with status "healthy" (at most 60 s).
    async fn wait_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/api/health", self.base);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                panic!("the server exited before it was healthy ({status}):\n{}", self.log_tail(40));
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                let body: Value = response.json().await.expect("/api/health answers JSON");
                if body["status"] == "healthy" {
                    return;
                }
                assert_eq!(body["status"], "degraded", "unexpected health {body}");
            }
            assert!(Instant::now() < deadline, "not healthy within 60 s:\n{}", self.log_tail(40));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last `lines` lines of the server's log.
    fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("the listener's address").port()
}

/// A complete answer of the API, with what the request was, for evidence.
struct Reply {
    request: String,
    status: reqwest::StatusCode,
    text: String,
    body: Value,
    /// When the whole body had arrived.
    at: Instant,
}

impl Reply {
    /// The exact request and response, cut to a readable length, after a description of what is wrong.
    fn evidence(&self, problem: &str) -> String {
        format!("{problem}\n    request:  {}\n    response: {} {}", self.request, self.status, cut(&self.text, 1500))
    }

    fn ensure(&self, holds: bool, problem: &str) -> Result<(), String> {
        if holds { Ok(()) } else { Err(self.evidence(problem)) }
    }

    fn ensure_ok(&self) -> Result<(), String> {
        self.ensure(self.status == reqwest::StatusCode::OK, "expected 200")
    }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
        None => text.to_string(),
    }
}

/// The acknowledgement of one store.
struct Ack {
    hash: String,
    at: Instant,
}

/// A client of the JSON API.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Api {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Api { client, base: base.to_string() }
    }

    async fn get(&self, path: &str) -> Result<Reply, String> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Reply, String> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Reply, String> {
        let request = match body {
            Some(body) => format!("{method} {path} {body}"),
            None => format!("{method} {path}"),
        };
        let mut builder = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(API_KEY);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(|e| format!("{request}: no response: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("{request}: the body broke off: {e}"))?;
        let at = Instant::now();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { request, status, text, body, at })
    }

    /// Stores a new memory with the labels of `index`; it must be answered 200 with `success: true`.
    async fn store(&self, content: &str, index: usize) -> Result<Ack, String> {
        let (tags, memory_type) = labels(index);
        let body = json!({
            "content": content,
            "tags": tags,
            "memory_type": memory_type,
            "metadata": {"source": "http_load", "index": index},
        });
        let reply = self.post("/api/memories", &body).await?;
        reply.ensure_ok()?;
        reply.ensure(reply.body["success"] == true, "expected success: true for new content")?;
        let hash = reply.body["content_hash"].as_str().ok_or_else(|| reply.evidence("no content_hash"))?;
        Ok(Ack { hash: hash.to_string(), at: reply.at })
    }
}

/// One server-sent event, stamped when its bytes arrived.
struct SseEvent {
    id: Option<String>,
    kind: String,
    data: String,
    at: Instant,
}

impl SseEvent {
    fn content_hash(&self) -> Option<String> {
        let data: Value = serde_json::from_str(&self.data).ok()?;
        data["content_hash"].as_str().map(str::to_string)
    }

    fn seq(&self) -> Option<u64> {
        self.id.as_deref()?.trim().parse().ok()
    }

    fn describe(&self) -> String {
        format!("id {:?} event {} data {}", self.id, self.kind, cut(&self.data, 300))
    }
}

/// A text/event-stream parser after the HTML standard: lines end in LF (a CR before it is dropped), a blank
/// line dispatches, `:` starts a comment, data lines join with LF. The id is the event's own, not inherited.
#[derive(Default)]
struct SseParser {
    pending: Vec<u8>,
    id: Option<String>,
    kind: Option<String>,
    data: Option<String>,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8], at: Instant) -> Vec<SseEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(event) = self.line(line.trim_end_matches(['\n', '\r']), at) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &str, at: Instant) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch(at);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.id = Some(value.to_string()),
            "event" => self.kind = Some(value.to_string()),
            "data" => {
                let data = self.data.get_or_insert_default();
                data.push_str(value);
                data.push('\n');
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self, at: Instant) -> Option<SseEvent> {
        let (id, kind, data) = (self.id.take(), self.kind.take(), self.data.take());
        let mut data = data?;
        data.pop();
        Some(SseEvent { id, kind: kind.unwrap_or_else(|| "message".to_string()), data, at })
    }
}

/// One open `GET /api/events` stream.
struct SseStream {
    response: reqwest::Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl SseStream {
    /// Connects as a browser's EventSource does (key in the query), optionally resuming after an event id.
    async fn connect(client: &reqwest::Client, base: &str, last_event_id: Option<&str>) -> Result<SseStream, String> {
        let request = format!("GET /api/events?api_key=… (Last-Event-ID: {last_event_id:?})");
        let mut builder = client
            .get(format!("{base}/api/events?api_key={API_KEY}"))
            .header("Accept", "text/event-stream")
            .header("Cache-Control", "no-cache");
        if let Some(id) = last_event_id {
            builder = builder.header("Last-Event-ID", id);
        }
        let response = builder.send().await.map_err(|e| format!("{request}: no response: {e}"))?;
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        if response.status() != reqwest::StatusCode::OK || !content_type.starts_with("text/event-stream") {
            let status = response.status();
            let content_type = content_type.to_string();
            let text = response.text().await.unwrap_or_default();
            return Err(format!("{request}: expected 200 text/event-stream, got {status} {content_type:?} {text}"));
        }
        Ok(SseStream { response, parser: SseParser::default(), ready: VecDeque::new() })
    }

    /// The next event; `Ok(None)` when the server ended the stream.
    async fn next(&mut self) -> Result<Option<SseEvent>, String> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => {
                    let at = Instant::now();
                    self.ready.extend(self.parser.feed(&bytes, at));
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(format!("the event stream broke off: {e}")),
            }
        }
    }

    /// Reads the stream on a task of its own, so that every event is stamped when it arrives rather than
    /// when the harness gets round to it.
    fn listen(mut self) -> Listener {
        let (sender, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match self.next().await {
                    Ok(Some(event)) => {
                        if sender.send(event).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return eprintln!("an SSE listener's stream was closed by the server"),
                    Err(e) => return eprintln!("an SSE listener's stream failed: {e}"),
                }
            }
        });
        Listener { events, task }
    }
}

/// The events of one stream, read by a task of its own; dropping it closes the connection.
struct Listener {
    events: mpsc::UnboundedReceiver<SseEvent>,
    task: JoinHandle<()>,
}

impl Listener {
    /// The next event of kind `kind` within `timeout`, skipping others.
    async fn next_of(&mut self, kind: &str, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv()).await.ok()??;
            if event.kind == kind {
                return Some(event);
            }
        }
    }

    /// The `memory_stored` event of `hash` within `timeout`, skipping others.
    async fn stored(&mut self, hash: &str, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_of("memory_stored", left).await?;
            if event.content_hash().as_deref() == Some(hash) {
                return Some(event);
            }
        }
    }

    /// The `memory_stored` events until `count` have arrived or `timeout` passed, then whatever else arrives
    /// within `grace` (duplicates and extras show there).
    async fn stored_events(&mut self, count: usize, timeout: Duration, grace: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while events.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_of("memory_stored", left).await {
                Some(event) => events.push(event),
                None => return events,
            }
        }
        while let Some(event) = self.next_of("memory_stored", grace).await {
            events.push(event);
        }
        events
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An SSE client without a request timeout (a stream lasts as long as the test).
fn sse_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(5)).build().expect("an SSE client")
}

/// Stores the seed memories with `plan.seed_in_flight` requests in flight; panics on any failed store.
async fn seed(api: &Api, texts: &Texts, plan: &Plan) -> Duration {
    let seeds = Arc::new(texts.seeds.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30 * 60);
    let workers: Vec<JoinHandle<()>> = (0..plan.seed_in_flight)
        .map(|_| {
            let (api, seeds, next) = (api.clone(), seeds.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= seeds.len() {
                        return;
                    }
                    assert!(Instant::now() < deadline, "seeding took more than 30 minutes; stopped at {index}");
                    if let Err(e) = api.store(&seeds[index], index).await {
                        panic!("seeding memory {index} failed: {e}");
                    }
                    if (index + 1) % 2000 == 0 {
                        let rate = (index + 1) as f64 / started.elapsed().as_secs_f64();
                        eprintln!("seeded {} memories ({rate:.0}/s)", index + 1);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a seeding worker panicked (its message is above)");
    }
    started.elapsed()
}

/// Checks that the list reports every seeded memory.
async fn check_total(api: &Api, expected: usize) -> Result<(), String> {
    let reply = api.get("/api/memories?page=1&page_size=1").await?;
    reply.ensure_ok()?;
    reply.ensure(reply.body["total"] == expected, &format!("expected total {expected} after seeding"))
}

/// Runs `op` `plan.warm_up` times unmeasured, then `plan.samples` times measured, one request at a time.
/// Panics with the request and response when one fails: the figures would mean nothing.
async fn measure(name: &str, plan: &Plan, mut op: impl AsyncFnMut(usize) -> Result<(), String>) -> Summary {
    for i in 0..plan.warm_up {
        if let Err(e) = op(i).await {
            panic!("{name}, warm-up request {i}: {e}");
        }
    }
    let started = Instant::now();
    let mut times = Vec::with_capacity(plan.samples);
    for i in plan.warm_up..plan.warm_up + plan.samples {
        if started.elapsed() > plan.step_budget {
            eprintln!("{name}: stopped after {} requests, over the time budget", times.len());
            break;
        }
        let begun = Instant::now();
        if let Err(e) = op(i).await {
            panic!("{name}, request {i}: {e}");
        }
        times.push(begun.elapsed());
    }
    let summary = Summary::of(times);
    eprintln!("{name}: {}", summary.describe());
    summary
}

/// The four request latencies.
struct Latencies {
    store: Summary,
    search: Summary,
    /// The `processing_time_ms` the server reported for the measured searches.
    search_processing: Summary,
    tag_search: Summary,
    list: Summary,
}

async fn measure_requests(api: &Api, texts: &mut Texts, plan: &Plan) -> Latencies {
    let contents = texts.fresh(plan.warm_up + plan.samples);
    let store = measure("store", plan, async |i| api.store(&contents[i].0, contents[i].1).await.map(drop)).await;
    let queries = &texts.queries;
    let mut processing = Vec::with_capacity(plan.samples);
    let search = measure("search", plan, async |i| {
        let server_ms = semantic_search(api, &queries[i]).await?;
        if i >= plan.warm_up {
            processing.push(Duration::from_secs_f64(server_ms / 1e3));
        }
        Ok(())
    })
    .await;
    let search_processing = Summary::of(processing);
    eprintln!("search, the server's processing_time_ms: {}", search_processing.describe());
    let tag_search = measure("tag search", plan, async |i| tag_search(api, i).await).await;
    let pages = plan.memories.div_ceil(10).max(1);
    let mut rng = common::Rng::new(0x1157);
    let list = measure("list page", plan, async |_| list_page(api, 1 + rng.below(pages)).await).await;
    Latencies { store, search, search_processing, tag_search, list }
}

/// A semantic search that must find 10 results; returns the server's own processing_time_ms.
async fn semantic_search(api: &Api, query: &str) -> Result<f64, String> {
    let reply = api.post("/api/search", &json!({"query": query, "n_results": 10})).await?;
    reply.ensure_ok()?;
    let results = reply.body["results"].as_array().ok_or_else(|| reply.evidence("no results array"))?;
    reply.ensure(results.len() == 10, "expected 10 results from a store of thousands")?;
    reply.ensure(reply.body["search_type"] == "semantic", "expected search_type semantic")?;
    reply.body["processing_time_ms"].as_f64().ok_or_else(|| reply.evidence("no processing_time_ms"))
}

/// A tag search, rotating through one topic (about 10 % of the store), a topic and a team with match_all
/// (about 2 %) and the rare tag (about 2 %); every result must carry the tags.
async fn tag_search(api: &Api, i: usize) -> Result<(), String> {
    let (tags, match_all) = match i % 3 {
        0 => (vec![TOPICS[(i / 3) % TOPICS.len()]], false),
        1 => (vec![TOPICS[(i / 3) % TOPICS.len()], TEAMS[(i / 3) % TEAMS.len()]], true),
        _ => (vec![RARE_TAG], false),
    };
    let reply = api.post("/api/search/by-tag", &json!({"tags": tags, "match_all": match_all, "n_results": 10})).await?;
    reply.ensure_ok()?;
    let results = reply.body["results"].as_array().ok_or_else(|| reply.evidence("no results array"))?;
    // A topic matches about 10 % of the store, so at least one result; the rarer sets may be empty in a small run.
    let least = usize::from(i.is_multiple_of(3));
    reply.ensure((least..=10).contains(&results.len()), &format!("expected {least} to 10 results"))?;
    reply.ensure(reply.body["search_type"] == "tag", "expected search_type tag")?;
    let carries = |result: &Value| {
        let have = result["memory"]["tags"].as_array().cloned().unwrap_or_default();
        tags.iter().all(|tag| have.iter().any(|t| t == tag))
    };
    reply.ensure(results.iter().all(carries), "a result lacks a requested tag")
}

async fn list_page(api: &Api, page: usize) -> Result<(), String> {
    let reply = api.get(&format!("/api/memories?page={page}&page_size=10")).await?;
    reply.ensure_ok()?;
    let memories = reply.body["memories"].as_array().ok_or_else(|| reply.evidence("no memories array"))?;
    reply.ensure(!memories.is_empty() && memories.len() <= 10, "expected 1 to 10 memories on a page in range")
}

/// How long after a store's response its `memory_stored` event arrived.
struct SseLatency {
    summary: Summary,
    /// Events that arrived before the store's response had.
    before_ack: usize,
}

/// Sequential stores with one SSE client listening.
async fn sse_latency(api: &Api, texts: &mut Texts, plan: &Plan) -> Result<SseLatency, String> {
    let mut listener = SseStream::connect(&sse_client(), &api.base, None).await?.listen();
    listener
        .next_of("connection_established", Duration::from_secs(5))
        .await
        .ok_or("no connection_established event within 5 s of connecting to /api/events")?;
    let mut times = Vec::with_capacity(plan.sse_samples);
    let mut before_ack = 0;
    for (i, (content, index)) in texts.fresh(SSE_WARM_UP + plan.sse_samples).into_iter().enumerate() {
        let ack = api.store(&content, index).await?;
        let event = listener.stored(&ack.hash, Duration::from_secs(5)).await.ok_or_else(|| {
            format!("store {i}: no memory_stored event for {} within 5 s of its 200 response", ack.hash)
        })?;
        if i >= SSE_WARM_UP {
            times.push(event.at.saturating_duration_since(ack.at));
            before_ack += usize::from(event.at < ack.at);
        }
    }
    let summary = Summary::of(times);
    eprintln!("SSE event after the store's response: {} ({before_ack} arrived before it)", summary.describe());
    Ok(SseLatency { summary, before_ack })
}

/// What one fan-out client received: each `memory_stored` event's hash and arrival time, and how its
/// stream ended if the server ended it.
#[derive(Default)]
struct ClientLog {
    deliveries: Vec<(String, Instant)>,
    ended: Option<String>,
}

/// Shared progress of the fan-out clients.
#[derive(Default)]
struct Progress {
    connected: AtomicUsize,
    delivered: AtomicUsize,
}

/// One fan-out client: reads until told to stop; counts its `connection_established` and deliveries.
async fn fan_out_client(
    client: reqwest::Client,
    base: String,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> Result<ClientLog, String> {
    let mut stream = SseStream::connect(&client, &base, None).await?;
    let mut log = ClientLog::default();
    loop {
        let next = tokio::select! {
            _ = stop.changed() => return Ok(log),
            next = stream.next() => next,
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => {
                log.ended = Some("the server closed the stream".to_string());
                return Ok(log);
            }
            Err(e) => {
                log.ended = Some(e);
                return Ok(log);
            }
        };
        match event.kind.as_str() {
            "connection_established" => _ = progress.connected.fetch_add(1, Ordering::Relaxed),
            "memory_stored" => {
                let hash = event
                    .content_hash()
                    .ok_or_else(|| format!("memory_stored without a content_hash: {}", event.describe()))?;
                log.deliveries.push((hash, event.at));
                progress.delivered.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// The outcome of the fan-out check.
struct FanOut {
    clients: usize,
    connected: usize,
    writes: usize,
    writes_ok: usize,
    write_wall: Duration,
    /// From the last write's response to the last delivery.
    drain: Duration,
    complete_clients: usize,
    lost: usize,
    duplicated: usize,
    unexpected: usize,
    delivery: Summary,
    problems: Vec<String>,
}

/// Waits until `count` of something reaches `target` or `timeout` passes; true when it did.
async fn wait_for(count: &AtomicUsize, target: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while count.load(Ordering::Relaxed) < target {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// 200 SSE clients connected, then 50 concurrent writers; every client must get every event exactly once.
async fn fan_out(api: &Api, texts: &mut Texts, plan: &Plan) -> FanOut {
    let client = sse_client();
    let progress = Arc::new(Progress::default());
    let (stop, stopped) = watch::channel(false);
    let clients: Vec<JoinHandle<Result<ClientLog, String>>> = (0..plan.sse_clients)
        .map(|_| tokio::spawn(fan_out_client(client.clone(), api.base.clone(), progress.clone(), stopped.clone())))
        .collect();
    let mut problems = Vec::new();
    if !wait_for(&progress.connected, plan.sse_clients, Duration::from_secs(30)).await {
        problems.push(format!(
            "only {} of {} SSE clients got connection_established within 30 s",
            progress.connected.load(Ordering::Relaxed),
            plan.sse_clients
        ));
    }
    let connected = progress.connected.load(Ordering::Relaxed);
    let (acks, write_wall) = write_concurrently(api, texts, plan).await;
    let acked: HashMap<String, Instant> =
        acks.iter().filter_map(|a| a.as_ref().ok()).map(|a| (a.hash.clone(), a.at)).collect();
    let last_ack = acked.values().max().copied().unwrap_or_else(Instant::now);
    let target = connected * acked.len();
    if !wait_for(&progress.delivered, target, Duration::from_secs(60)).await {
        eprintln!("fan-out: {} of {target} deliveries after 60 s", progress.delivered.load(Ordering::Relaxed));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.send(true).expect("the fan-out clients listen for the stop");
    let mut logs = Vec::with_capacity(clients.len());
    for client in clients {
        match client.await.expect("a fan-out client panicked") {
            Ok(log) => logs.push(log),
            Err(e) => problems.push(format!("an SSE client failed: {e}")),
        }
    }
    problems.extend(acks.iter().filter_map(|a| a.as_ref().err().cloned()));
    verify_fan_out(plan, connected, &acks, write_wall, last_ack, &acked, &logs, problems)
}

/// Every writer stores its share one request at a time; all writers run at once.
async fn write_concurrently(api: &Api, texts: &mut Texts, plan: &Plan) -> (Vec<Result<Ack, String>>, Duration) {
    let shares: Vec<Vec<(String, usize)>> = (0..plan.writers).map(|_| texts.fresh(plan.writes_per_writer)).collect();
    let started = Instant::now();
    let writers: Vec<JoinHandle<Vec<Result<Ack, String>>>> = shares
        .into_iter()
        .map(|share| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut acks = Vec::with_capacity(share.len());
                for (content, index) in share {
                    acks.push(api.store(&content, index).await);
                }
                acks
            })
        })
        .collect();
    let mut acks = Vec::with_capacity(plan.fan_out_writes());
    for writer in writers {
        acks.extend(writer.await.expect("a writer panicked"));
    }
    (acks, started.elapsed())
}

#[allow(clippy::too_many_arguments, reason = "one call site; the pieces come from different stages")]
fn verify_fan_out(
    plan: &Plan,
    connected: usize,
    acks: &[Result<Ack, String>],
    write_wall: Duration,
    last_ack: Instant,
    acked: &HashMap<String, Instant>,
    logs: &[ClientLog],
    mut problems: Vec<String>,
) -> FanOut {
    let (mut lost, mut duplicated, mut unexpected, mut complete_clients) = (0, 0, 0, 0);
    let mut latencies = Vec::with_capacity(logs.len() * acked.len());
    let mut last_delivery = last_ack;
    for (n, log) in logs.iter().enumerate() {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(acked.len());
        for (hash, at) in &log.deliveries {
            *seen.entry(hash).or_default() += 1;
            match acked.get(hash) {
                Some(ack) => latencies.push(at.saturating_duration_since(*ack)),
                None => unexpected += 1,
            }
            last_delivery = last_delivery.max(*at);
        }
        let client_lost = acked.keys().filter(|h| !seen.contains_key(h.as_str())).count();
        let client_duplicated: usize = seen.values().map(|c| c - 1).sum();
        lost += client_lost;
        duplicated += client_duplicated;
        if client_lost == 0 && client_duplicated == 0 {
            complete_clients += 1;
        } else if problems.len() < 20 {
            problems.push(format!("SSE client {n}: {client_lost} events lost, {client_duplicated} duplicated"));
        }
        if let Some(ended) = &log.ended {
            problems.push(format!("SSE client {n}'s stream ended early: {ended}"));
        }
    }
    if unexpected > 0 {
        problems.push(format!("{unexpected} memory_stored events for contents nobody stored in this step"));
    }
    let delivery = Summary::of(latencies);
    eprintln!("fan-out delivery after each write's response: {}", delivery.describe());
    FanOut {
        clients: plan.sse_clients,
        connected,
        writes: acks.len(),
        writes_ok: acked.len(),
        write_wall,
        drain: last_delivery.saturating_duration_since(last_ack),
        complete_clients,
        lost,
        duplicated,
        unexpected,
        delivery,
        problems,
    }
}

/// The outcome of the resume check.
struct Resume {
    missed: usize,
    replayed: usize,
    problems: Vec<String>,
}

/// A client reads a few events and drops; K writes happen; it reconnects with Last-Event-ID and must get
/// exactly the missed `memory_stored` events in order, then live ones.
async fn resume(api: &Api, texts: &mut Texts, plan: &Plan) -> Result<Resume, String> {
    let client = sse_client();
    let last_id = first_events(api, &client, texts).await?;
    let mut expected = Vec::with_capacity(plan.resume_writes + 1);
    for (content, index) in texts.fresh(plan.resume_writes) {
        expected.push(api.store(&content, index).await?.hash);
    }
    let mut listener = SseStream::connect(&client, &api.base, Some(&last_id)).await?.listen();
    let mut events =
        listener.stored_events(plan.resume_writes, Duration::from_secs(10), Duration::from_millis(500)).await;
    let replayed = events.len();
    let (content, index) = texts.fresh(1).pop().expect("one text");
    expected.push(api.store(&content, index).await?.hash);
    events.extend(listener.stored_events(1, Duration::from_secs(5), Duration::from_millis(500)).await);
    let problems = check_resumed(&last_id, &expected, &events);
    Ok(Resume { missed: plan.resume_writes, replayed, problems })
}

/// Connects, stores `RESUME_FIRST` memories, reads their events and drops the connection; returns the id of
/// the last event read.
async fn first_events(api: &Api, client: &reqwest::Client, texts: &mut Texts) -> Result<String, String> {
    let mut listener = SseStream::connect(client, &api.base, None).await?.listen();
    let mut last = None;
    for (content, index) in texts.fresh(RESUME_FIRST) {
        let ack = api.store(&content, index).await?;
        let event = listener
            .stored(&ack.hash, Duration::from_secs(5))
            .await
            .ok_or_else(|| format!("no memory_stored event for {} within 5 s", ack.hash))?;
        last = Some(event);
    }
    let last = last.expect("RESUME_FIRST is not zero");
    last.id.clone().ok_or_else(|| format!("a memory_stored event without an id: {}", last.describe()))
}

fn check_resumed(last_id: &str, expected: &[String], events: &[SseEvent]) -> Vec<String> {
    let mut problems = Vec::new();
    let got: Vec<String> = events.iter().map(|e| e.content_hash().unwrap_or_default()).collect();
    if got != expected {
        let position =
            |hash: &String| expected.iter().position(|h| h == hash).map_or("-".to_string(), |p| p.to_string());
        let order: Vec<String> = got.iter().map(position).collect();
        problems.push(format!(
            "after reconnecting with Last-Event-ID: {last_id}, expected the {} missed events and 1 live one in order; \
             got {} memory_stored events, as positions in the expected list: [{}]",
            expected.len() - 1,
            got.len(),
            order.join(", ")
        ));
    }
    let last_seq: u64 = last_id.trim().parse().unwrap_or(0);
    let mut previous = last_seq;
    for event in events {
        match event.seq() {
            Some(seq) if seq > previous => previous = seq,
            _ => {
                problems.push(format!("event ids must rise above {previous} after resuming: {}", event.describe()));
                break;
            }
        }
    }
    problems
}

/// One line of the results table.
struct Row {
    figure: String,
    target: String,
    measured: String,
    verdict: String,
}

fn row(figure: &str, target: &str, measured: String, verdict: String) -> Row {
    Row { figure: figure.to_string(), target: target.to_string(), measured, verdict }
}

/// "met", or by how much a time target was missed.
fn time_verdict(measured_ms: f64, target_ms: f64) -> String {
    if measured_ms <= target_ms {
        "met".to_string()
    } else {
        let over = measured_ms - target_ms;
        format!("**missed** by {over:.2} ms ({:.0} %)", over / target_ms * 100.0)
    }
}

fn check_verdict(problems: &[String]) -> String {
    if problems.is_empty() { "met".to_string() } else { "**FAILED**".to_string() }
}

/// The whole run; the server is killed when this returns or panics.
async fn run(plan: &Plan) -> (Vec<Row>, Vec<String>) {
    let mut texts = Texts::new(plan);
    let mut server = Server::spawn();
    let api = Api::new(&server.base);
    server.wait_healthy(&api.client).await;
    let mut rows = Vec::new();
    let mut failures = Vec::new();

    step("seeding");
    let seeding = seed(&api, &texts, plan).await;
    if let Err(e) = check_total(&api, plan.memories).await {
        failures.push(e);
    }
    let rate = plan.memories as f64 / seeding.as_secs_f64();
    let measured = format!("{:.1} s, {rate:.0} memories/s", seeding.as_secs_f64());
    rows.push(row(&format!("Seed {} memories, 8 in flight", plan.memories), "-", measured, "-".into()));

    step("request latencies");
    let latencies = measure_requests(&api, &mut texts, plan).await;
    rows.extend(latency_rows(&latencies));

    step("SSE latency");
    match sse_latency(&api, &mut texts, plan).await {
        Ok(sse) => rows.push(sse_row(&sse)),
        Err(e) => {
            rows.push(row("SSE event after the store's response, p95", "≤ 10 ms", "lost".into(), "**FAILED**".into()));
            failures.push(e);
        }
    }

    step("fan-out");
    let fan_out = fan_out(&api, &mut texts, plan).await;
    rows.push(fan_out_row(plan, &fan_out));
    failures.extend(fan_out.problems.iter().cloned());

    step("resume");
    match resume(&api, &mut texts, plan).await {
        Ok(resume) => {
            rows.push(resume_row(&resume));
            failures.extend(resume.problems);
        }
        Err(e) => {
            rows.push(row(
                "Resume with Last-Event-ID",
                "exactly the missed events",
                "error".into(),
                "**FAILED**".into(),
            ));
            failures.push(e);
        }
    }
    step("done");
    if !failures.is_empty() {
        failures.push(format!("the server's log ends with:\n{}", server.log_tail(30)));
    }
    (rows, failures)
}

fn latency_rows(l: &Latencies) -> Vec<Row> {
    vec![
        row(
            "Store, new content incl. embedding (POST /api/memories), p50",
            "≤ 10 ms",
            l.store.describe(),
            time_verdict(l.store.p50, 10.0),
        ),
        row(
            "Semantic search, n_results 10 (POST /api/search), p50",
            "≤ 8 ms",
            format!("{}; the server's processing_time_ms p50 {:.2}", l.search.describe(), l.search_processing.p50),
            time_verdict(l.search.p50, 8.0),
        ),
        row(
            "Tag search, n_results 10 (POST /api/search/by-tag), p50",
            "≤ 2 ms",
            l.tag_search.describe(),
            time_verdict(l.tag_search.p50, 2.0),
        ),
        row("List, random page of 10 (GET /api/memories)", "-", l.list.describe(), "-".into()),
    ]
}

fn sse_row(sse: &SseLatency) -> Row {
    let measured = format!("{} ({} before the response)", sse.summary.describe(), sse.before_ack);
    row("SSE event after the store's response, p95", "≤ 10 ms", measured, time_verdict(sse.summary.p95, 10.0))
}

fn fan_out_row(plan: &Plan, f: &FanOut) -> Row {
    let figure = format!(
        "Fan-out: {} SSE clients, {} writers x {} stores",
        plan.sse_clients, plan.writers, plan.writes_per_writer
    );
    let measured = format!(
        "{}/{} connected; {}/{} writes ok in {:.2} s ({:.0}/s); {}/{} clients got every event once; \
         lost {}, duplicated {}, unexpected {}; delivery after response {}; last delivery {:.0} ms after last response",
        f.connected,
        f.clients,
        f.writes_ok,
        f.writes,
        f.write_wall.as_secs_f64(),
        f.writes as f64 / f.write_wall.as_secs_f64(),
        f.complete_clients,
        f.clients,
        f.lost,
        f.duplicated,
        f.unexpected,
        f.delivery.describe(),
        f.drain.as_secs_f64() * 1e3
    );
    row(&figure, "nothing lost or duplicated", measured, check_verdict(&f.problems))
}

fn resume_row(r: &Resume) -> Row {
    let measured = format!("{} missed, {} replayed, then 1 live", r.missed, r.replayed);
    row("Resume with Last-Event-ID", "exactly the missed events, in order", measured, check_verdict(&r.problems))
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews every figure.
fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Announces a step of the run, with the machine's load at its start.
fn step(name: &str) {
    eprintln!("== {name} (load average {})", load_average());
}

fn print_machine(plan: &Plan) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map_or("unknown", |(_, name)| name.trim());
    let overrides: Vec<String> = ["MMS_LOAD_MEMORIES", "MMS_LOAD_WRITES_PER_WRITER", "MMS_LOAD_RESUME_WRITES"]
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| format!("{name}={value} ")))
        .collect();
    let args: Vec<String> = std::env::args().collect();
    eprintln!("machine: nproc {cores}, {model}");
    eprintln!("command: {}{} (cargo bench --bench http_load)", overrides.concat(), args.join(" "));
    eprintln!(
        "plan: {} memories, {} warm-up + {} measured requests each, {} SSE stores, {} SSE clients, {} writers x {}, \
         resume after {} missed",
        plan.memories,
        plan.warm_up,
        plan.samples,
        plan.sse_samples,
        plan.sse_clients,
        plan.writers,
        plan.writes_per_writer,
        plan.resume_writes
    );
}

fn print_table(rows: &[Row]) {
    eprintln!();
    eprintln!("| Figure | Target | Measured | Verdict |");
    eprintln!("|---|---|---|---|");
    for r in rows {
        eprintln!("| {} | {} | {} | {} |", r.figure, r.target, r.measured, r.verdict);
    }
}

fn main() -> ExitCode {
    let plan = Plan::from_env();
    print_machine(&plan);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let (rows, failures) = runtime.block_on(run(&plan));
    runtime.shutdown_timeout(Duration::from_secs(1));
    print_table(&rows);
    if failures.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("\nFAILED: {} problems", failures.len());
    for failure in &failures {
        eprintln!("- {failure}");
    }
    ExitCode::FAILURE
}
