//! Resource bounds under abuse (#17): while SSE clients that never read, a flood of OAuth registrations,
//! hundreds of concurrent time-travel queries and a huge request body hit the server, a client storing
//! memories one at a time is still served, and each abuse gets its bounded answer (429 past the registration
//! cap, 503 with `Retry-After` past the time-travel queue, 413 past the body limit), never a 5xx or a crash.
//!
//! The default sizes keep the test to seconds for CI; `MMS_ABUSE_FULL=1` runs the sizes (200 SSE
//! clients, 10,000 registrations, 600 concurrent `as_of` queries, a 1 GB body). The store latencies of each
//! phase are printed (run with `--nocapture`; `MMS_ABUSE_BIN=<a release build of the binary>` for meaningful
//! figures: see BENCHMARKS.md), never asserted: timings on a shared machine flake.

use crate::support::{DataDir, Server};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "abuse-test-key";

struct Sizes {
    sse_clients: usize,
    registrations: usize,
    as_of_queries: usize,
    body_bytes: u64,
    stores_per_phase: usize,
}

fn sizes() -> Sizes {
    if std::env::var("MMS_ABUSE_FULL").is_ok_and(|v| v == "1") {
        Sizes {
            sse_clients: 200,
            registrations: 10_000,
            as_of_queries: 600,
            body_bytes: 1 << 30,
            stores_per_phase: 200,
        }
    } else {
        Sizes { sse_clients: 20, registrations: 1_100, as_of_queries: 100, body_bytes: 64 << 20, stores_per_phase: 10 }
    }
}

/// Stores `count` new memories one at a time; every one must succeed. Returns the latencies.
async fn stores(http: &reqwest::Client, server: &Server, phase: &str, count: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(count);
    for i in 0..count {
        let content = format!("a plain store during {phase}, number {i}, {}", uuid::Uuid::new_v4());
        let started = Instant::now();
        let response =
            http.post(server.url("/api/memories")).bearer_auth(KEY).json(&json!({"content": content})).send().await;
        let response = response.unwrap_or_else(|e| panic!("a store during {phase}: {e}"));
        assert_eq!(response.status(), StatusCode::OK, "a store during {phase}");
        took.push(started.elapsed());
    }
    took
}

/// `phase: p50 p99 max` of `took`, in milliseconds.
fn report(phase: &str, mut took: Vec<Duration>) -> String {
    took.sort();
    let at = |q: f64| took[((took.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    format!(
        "{phase:<40} stores {:>4}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        took.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// The server's peak resident memory (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("kB") / 1024
}

/// Sends a chunked POST of `bytes` zero bytes over a raw connection, as fast as the server takes them.
/// Returns the status line the server answered with (or none when it closed first) and how many body bytes
/// it took before it stopped reading.
async fn huge_body(port: u16, bytes: u64) -> (Option<String>, u64) {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let head = format!(
        "POST /api/memories HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("the request head");
    let chunk = vec![b' '; 1 << 20];
    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(b"\r\n");
    let mut sent = 0u64;
    let (mut reader, mut writer) = socket.into_split();
    let answer = tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        let read = reader.read(&mut buffer).await.unwrap_or(0);
        (read > 0).then(|| String::from_utf8_lossy(&buffer[..read]).lines().next().unwrap_or_default().to_string())
    });
    while sent < bytes {
        // A server that stopped reading leaves the write pending once the socket buffers fill.
        match tokio::time::timeout(Duration::from_secs(5), writer.write_all(&framed)).await {
            Ok(Ok(())) => sent += chunk.len() as u64,
            Ok(Err(_)) | Err(_) => break,
        }
        if answer.is_finished() {
            break;
        }
    }
    if sent >= bytes {
        let _ = writer.write_all(b"0\r\n\r\n").await;
    }
    let status = tokio::time::timeout(Duration::from_secs(30), answer).await.ok().and_then(Result::ok).flatten();
    (status, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_store_is_served_while_the_server_is_abused_and_each_abuse_is_bounded() {
    let sizes = sizes();
    let data = DataDir::new();
    let env = [("MCP_OAUTH_ENABLED", "true"), ("MCP_API_KEY", KEY)];
    // For figures, a release binary (`MMS_ABUSE_BIN`) with the embedding threads of a real deployment.
    let server = match std::env::var("MMS_ABUSE_BIN") {
        Ok(binary) => {
            let port = crate::support::free_port();
            let mut command = data.command_for(&binary, &["serve", "--port", &port.to_string()]);
            command.envs(env).env("MCP_EMBEDDING_THREADS", "2");
            Server::spawn(&data, command, port).wait_healthy().await
        }
        Err(_) => Server::start(&data, &env).await,
    };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("a client");
    let mut lines = vec![report("warm-up (alone)", stores(&http, &server, "warm-up", 20).await)];
    lines.push(report("quiet", stores(&http, &server, "quiet", sizes.stores_per_phase).await));

    // SSE clients that connect and never read: the server must not wait for them.
    let mut idle = Vec::new();
    for _ in 0..sizes.sse_clients {
        let response = http.get(server.url(&format!("/api/events?api_key={KEY}"))).send().await.expect("an SSE client");
        assert_eq!(response.status(), StatusCode::OK);
        idle.push(response);
    }
    lines.push(report(
        &format!("{} SSE clients never reading", sizes.sse_clients),
        stores(&http, &server, "idle SSE clients", sizes.stores_per_phase).await,
    ));

    // A registration flood, 16 in flight, beside the stores.
    let (created, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let next = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let (http, url) = (http.clone(), server.url("/oauth/register"));
            let (created, refused, next, total) = (created.clone(), refused.clone(), next.clone(), sizes.registrations);
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < total {
                    let body = json!({"redirect_uris": ["https://flood.example/cb"], "client_name": "flood"});
                    let status = http.post(&url).json(&body).send().await.expect("a registration").status();
                    match status {
                        StatusCode::CREATED => created.fetch_add(1, Ordering::SeqCst),
                        StatusCode::TOO_MANY_REQUESTS => refused.fetch_add(1, Ordering::SeqCst),
                        other => panic!("a registration answered {other}"),
                    };
                }
            })
        })
        .collect();
    let during = stores(&http, &server, "registration flood", sizes.stores_per_phase).await;
    for task in flood {
        task.await.expect("the flood");
    }
    lines.push(report(&format!("{} registrations, 16 in flight", sizes.registrations), during));
    let (created, refused) = (created.load(Ordering::SeqCst), refused.load(Ordering::SeqCst));
    assert!(created <= 1_000, "at most 1,000 open registrations wait for a token: {created} were created");
    assert_eq!(created + refused, sizes.registrations, "every registration was answered 201 or 429");
    assert!(refused >= sizes.registrations - 1_000, "past the cap, registrations are refused: {refused}");

    // Concurrent time-travel queries at many points: answered, or refused at once with 503 + Retry-After.
    let (answered, unavailable) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let queries: Vec<_> = (0..sizes.as_of_queries)
        .map(|i| {
            let url = server.url(&format!("/api/memories?page_size=5&as_of=seq:{}", 1 + i % 40));
            let (http, answered, unavailable) = (http.clone(), answered.clone(), unavailable.clone());
            tokio::spawn(async move {
                let response = http.get(&url).bearer_auth(KEY).send().await.expect("an as_of query");
                match response.status() {
                    StatusCode::OK => answered.fetch_add(1, Ordering::SeqCst),
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(response.headers()["retry-after"], "1");
                        unavailable.fetch_add(1, Ordering::SeqCst)
                    }
                    other => panic!("an as_of query answered {other}"),
                };
            })
        })
        .collect();
    let during = stores(&http, &server, "as_of queries", sizes.stores_per_phase).await;
    for query in queries {
        query.await.expect("a query");
    }
    lines.push(report(&format!("{} concurrent as_of queries", sizes.as_of_queries), during));
    let (answered, unavailable) = (answered.load(Ordering::SeqCst), unavailable.load(Ordering::SeqCst));
    assert_eq!(answered + unavailable, sizes.as_of_queries);

    // A huge body: refused at the limit, never read whole.
    let rss_before = peak_rss_mib(server.pid());
    let body = tokio::spawn(huge_body(server.port, sizes.body_bytes));
    let during = stores(&http, &server, "huge body", sizes.stores_per_phase).await;
    let (status, sent) = body.await.expect("the huge body");
    lines.push(report(&format!("a {} MiB body", sizes.body_bytes >> 20), during));
    let status = status.unwrap_or_else(|| panic!("the server closed without an answer after {sent} bytes"));
    assert!(status.contains(" 413 "), "a body over the limit is refused with 413: {status}");
    assert!(sent < sizes.body_bytes, "the server stopped reading the body: it took {sent} bytes");
    let rss_after = peak_rss_mib(server.pid());

    lines.push(report("quiet again", stores(&http, &server, "quiet again", sizes.stores_per_phase).await));
    drop(idle);
    eprintln!("{}", lines.join("\n"));
    eprintln!(
        "registrations: {created} created, {refused} refused (429); as_of: {answered} answered, {unavailable} \
         refused (503); huge body: {status} after {} MiB sent; server peak RSS {rss_before} MiB before it, \
         {rss_after} MiB after",
        sent >> 20
    );
}
