//! How fast `mcp-memory-service mcp` answers a client after being spawned: the time from spawn to the
//! `initialize` answer (the issue's target: 50 ms), for the first process on a data directory (it will
//! own the store) and for one that relays to a running owner; and the time to the first answer that needs
//! the store (`tools/list` after the handshake), which includes opening it.
//!
//! `cargo bench --bench mcp_startup` (it builds the binary in the same profile).

use criterion::{Criterion, criterion_group, criterion_main};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-memory-service");
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

struct Process {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Process {
    fn spawn(data: &std::path::Path) -> Process {
        let mut child = Command::new(BIN)
            .arg("mcp")
            .env("MCP_MEMORY_BASE_DIR", data)
            .env("MCP_EMBEDDING_THREADS", "1")
            .current_dir(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mcp-memory-service mcp");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Process { child, stdin, stdout }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to the server");
        self.stdin.flush().expect("flush");
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read an answer");
        assert!(line.contains("\"result\""), "an answer: {line}");
        line
    }

    /// Closes stdin and waits for the process to leave (it hands the store over first).
    fn close(self) {
        let Process { mut child, stdin, .. } = self;
        drop(stdin);
        let _ = child.wait();
    }
}

/// Spawn → initialize answered; `then_list` also times tools/list (the store must be open for it).
fn handshake(data: &std::path::Path, then_list: bool) -> Duration {
    let started = Instant::now();
    let mut process = Process::spawn(data);
    process.send(INITIALIZE);
    process.answer();
    if then_list {
        process.send(INITIALIZED);
        process.send(TOOLS_LIST);
        process.answer();
    }
    let elapsed = started.elapsed();
    process.close();
    elapsed
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mcp_startup");
    group.sample_size(30).measurement_time(Duration::from_secs(20));

    let first = tempfile::tempdir().expect("a temp dir");
    group.bench_function("initialize/first_process", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| handshake(first.path(), false)).sum())
    });
    group.bench_function("initialize_then_tools_list/first_process", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| handshake(first.path(), true)).sum())
    });

    // A running owner: later processes relay to it.
    let shared = tempfile::tempdir().expect("a temp dir");
    let mut owner = Process::spawn(shared.path());
    owner.send(INITIALIZE);
    owner.answer();
    owner.send(INITIALIZED);
    owner.send(TOOLS_LIST);
    owner.answer();
    group.bench_function("initialize/relay", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| handshake(shared.path(), false)).sum())
    });
    group.bench_function("initialize_then_tools_list/relay", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| handshake(shared.path(), true)).sum())
    });
    group.finish();
    owner.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);
