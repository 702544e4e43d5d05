//! How fast the replica catches up with the log: `mcp-memory-service sync push` of a store of N memories
//! against the local Cloudflare (tests/cloudflare-standin), in batches of 100, and how many Cloudflare
//! requests each batch took (the issue's targets: at least 500 memories/s, at most 5 requests per batch of
//! 100 memories, R2 aside). The memories are imported first with the local-only backend, so the push
//! measures replication alone: reading the log, one D1 batch, one Workers AI call, one Vectorize upsert.
//!
//! `cargo bench --bench sync_push` (MMS_SYNC_BENCH_MEMORIES sets N, default 2000;
//! MMS_SYNC_BENCH_LATENCY_MS adds that much to every Cloudflare call the stand-in answers, as a real round
//! trip would, default 0). Not a criterion bench: one push of N memories is the measurement, repeated on
//! fresh stand-ins.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-memory-service");
const TOKEN: &str = "bench-token";

fn standin_binary() -> PathBuf {
    let path = Path::new(BIN).with_file_name("cloudflare-standin");
    if !path.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "--release", "-p", "mms-cloudflare-standin"]);
        assert!(build.status().expect("cargo runs").success(), "building the stand-in failed");
    }
    path
}

fn main() {
    let memories: usize = std::env::var("MMS_SYNC_BENCH_MEMORIES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let latency_ms: u64 = std::env::var("MMS_SYNC_BENCH_LATENCY_MS").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    let data = tempfile::tempdir().expect("a temp dir");
    let file = data.path().join("memories.jsonl");
    let mut out = std::fs::File::create(&file).expect("create the import file");
    for i in 0..memories {
        writeln!(
            out,
            r#"{{"content": "bench memory {i}: notes about project {} and topic {}", "tags": ["bench", "p{}"]}}"#,
            i % 50,
            i % 13,
            i % 7
        )
        .expect("write");
    }
    drop(out);
    let base = |command: &mut Command| {
        command.env("MCP_MEMORY_BASE_DIR", data.path()).current_dir(data.path()).stderr(Stdio::null());
    };
    let mut import = Command::new(BIN);
    import.args(["import", file.to_str().expect("utf-8 path")]);
    base(&mut import);
    assert!(import.status().expect("import runs").success(), "the import failed");

    for run in 1..=3 {
        let mut standin = Command::new(standin_binary())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--token",
                TOKEN,
                "--d1-database",
                "bench",
                "--vectorize-index",
                "bench:768",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the stand-in");
        let mut line = String::new();
        BufReader::new(standin.stdout.take().expect("stdout")).read_line(&mut line).expect("its first line");
        let url = line.trim().rsplit(' ').next().expect("a URL").to_string();
        if latency_ms > 0 {
            let rule =
                format!(r#"{{"rules": [{{"path_contains": "/client/v4", "times": 0, "delay_ms": {latency_ms}}}]}}"#);
            let reply = raw_request(&url, "POST", "/__standin/faults", &rule);
            assert!(reply.contains("\"rules\":1"), "the stand-in took the latency rule: {reply}");
        }
        // A fresh sync state: every run pushes the whole log to an empty Cloudflare.
        let _ = std::fs::remove_file(data.path().join("sync.sqlite3"));
        let mut push = Command::new(BIN);
        push.args(["sync", "push"])
            .env("MCP_MEMORY_STORAGE_BACKEND", "hybrid")
            .env("CLOUDFLARE_API_TOKEN", TOKEN)
            .env("CLOUDFLARE_ACCOUNT_ID", "bench")
            .env("CLOUDFLARE_D1_DATABASE_ID", "bench")
            .env("CLOUDFLARE_VECTORIZE_INDEX", "bench")
            .env("CLOUDFLARE_API_BASE_URL", format!("{url}/client/v4"))
            .env("MCP_HYBRID_BATCH_SIZE", "100")
            .stdout(Stdio::null());
        base(&mut push);
        let started = Instant::now();
        let status = push.status().expect("sync push runs");
        let elapsed = started.elapsed();
        assert!(status.success(), "sync push failed");
        let counts = raw_request(&url, "GET", "/__standin/requests", "");
        let _ = standin.kill();
        let _ = standin.wait();
        let total = number_after(&counts, "\"total\":");
        let batches = memories.div_ceil(100);
        eprintln!(
            "run {run}: {memories} memories pushed in {:.2} s = {:.0} memories/s ({latency_ms} ms added per call); {total} Cloudflare requests for {batches} batches of 100 = {:.2} per batch ({counts})",
            elapsed.as_secs_f64(),
            memories as f64 / elapsed.as_secs_f64(),
            total as f64 / batches as f64
        );
    }
}

/// One request over a plain TCP socket (the bench needs no HTTP client for two control calls).
fn raw_request(url: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::Read;
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the stand-in");
    let length = body.len();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{body}"
    )
    .expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
}

fn number_after(text: &str, key: &str) -> u64 {
    text.split(key)
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
