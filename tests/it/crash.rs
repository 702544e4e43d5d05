//! kill -9 loses no acknowledged write: `store` processes are killed at moments spread over their whole run;
//! afterwards every store that answered `stored <hash>` is there, the read model agrees with the log, and
//! the store opens cleanly. Read-model catch-ups and rebuilds killed midway finish on the next open.

use crate::support::{DataDir, Server, content_hash};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A small xorshift generator; the seed is printed so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("MMS_IT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
        eprintln!("crash test seed: {seed} (set MMS_IT_SEED to replay)");
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Whether the log and the read model agree on a memory: `get` finds it exactly when its history ends live.
fn present(data: &DataDir, hash: &str) -> bool {
    let get = data.run(&["get", hash]);
    let history = data.run(&["history", hash]);
    if get.status.success() {
        let kinds: Vec<&str> =
            history.stdout.lines().filter(|l| l.starts_with('#')).filter_map(|l| l.split_whitespace().nth(3)).collect();
        assert_eq!(kinds.last(), Some(&"stored"), "{hash} is readable, so its history ends with a store: {history:?}");
        true
    } else {
        assert!(get.stderr.contains("not found"), "get {hash} failed for another reason: {}", get.stderr);
        assert!(
            history.stderr.contains("has no history"),
            "{hash} is missing from the read model but in the log: {history:?}"
        );
        false
    }
}

#[test]
fn kill_9_during_stores_loses_no_acknowledged_write() {
    let data = DataDir::new();
    let mut rng = Rng::seeded();
    // An uninterrupted store (model load included) sets the time scale for the kills.
    let started = Instant::now();
    let mut acked = vec![data.store("crash test warm-up", &["crash"])];
    let full = started.elapsed().as_millis() as u64;
    let mut attempted = Vec::new();
    let mut killed = 0;
    const ROUNDS: u64 = 15;
    for round in 0..ROUNDS {
        let content = format!("crash test memory {round}: {:016x}", rng.next());
        let hash = content_hash(&content);
        let mut child = data
            .command(&["store", &content, "--tags", "crash"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a store");
        // Spread the kills from the very start of the process to past its usual end.
        let delay = round * full * 3 / (2 * ROUNDS) + rng.below(full / 5);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let output = child.wait_with_output().expect("wait for the store");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            killed += 1;
        }
        if stdout == format!("stored {hash}\n") {
            acked.push(hash.clone());
        } else {
            assert_eq!(
                stdout,
                "",
                "a store answers `stored <hash>` or nothing; {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        eprintln!("round {round}: killed after {delay} ms of ~{full} ms: {}, {}", output.status, stdout.trim());
        attempted.push(hash);
    }
    assert!(killed > 0, "no store was killed mid-flight");
    acked.push(data.store("crash test: a store after the crashes", &["crash"]));
    eprintln!("{} of {ROUNDS} interrupted stores were acknowledged", acked.len() - 2);

    let stats = data.stats();
    assert_eq!(stats["projection_errors"], 0, "{stats}");
    for hash in &acked {
        assert!(present(&data, hash), "the acknowledged store {hash} was lost");
    }
    let present_count = attempted.iter().filter(|hash| present(&data, hash)).count() + 2;
    let (listed, total) = data.list(&["--tags", "crash"]);
    assert_eq!(total as usize, present_count, "the read model lists exactly what the log holds");
    assert_eq!(stats["total_memories"].as_u64(), Some(total));
    assert!(acked.iter().all(|hash| listed.contains(hash)));

    // The read model equals a replay of the log.
    let list = ["list", "--page-size", "100"];
    let before = data.ok(&list);
    data.ok(&["rebuild"]);
    assert_eq!(data.ok(&list), before, "the live read model differs from a replay of the log");

    // A catch-up after a lost read model, killed midway, finishes on the next open.
    for round in 0..3 {
        for entry in std::fs::read_dir(data.path()).expect("read the data dir").flatten() {
            if entry.file_name().to_string_lossy().starts_with("sqlite_vec.db") {
                std::fs::remove_file(entry.path()).expect("remove the read model");
            }
        }
        let mut child = data.command(&list).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start list");
        std::thread::sleep(Duration::from_millis(rng.below(full / 2) + round * 50));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(data.ok(&list), before, "the read model differs after a killed catch-up");
    }

    // So does a `rebuild` killed midway.
    for round in 0..3 {
        let mut child =
            data.command(&["rebuild"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("rebuild");
        std::thread::sleep(Duration::from_millis(rng.below(full / 2) + round * 50));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(data.ok(&list), before, "the read model differs after a killed rebuild");
    }
    assert_eq!(data.stats()["projection_errors"], 0);
}

/// A server killed with SIGKILL while idle leaves a log whose allocator state was not recorded: the next open
/// checks the whole file (three scans, seconds on a large log) and says so on stderr, and every write is
/// there; after that clean close, the next open has nothing to check.
#[tokio::test]
async fn the_open_after_a_kill_9_checks_the_log_and_says_so() {
    const WARNING: &str = "the log was not closed cleanly";
    let data = DataDir::new();
    let first = data.store("opened after a crash: stored by the CLI", &["crash"]);
    let server = Server::start(&data, &[("MCP_API_KEY", "crash-key")]).await;
    let content = "opened after a crash: stored through the server";
    let response = reqwest::Client::new()
        .post(server.url("/api/memories"))
        .bearer_auth("crash-key")
        .json(&serde_json::json!({"content": content, "tags": ["crash"]}))
        .send()
        .await
        .expect("a store through the server");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let second = content_hash(content);
    drop(server); // SIGKILL, once the store is acknowledged
    let after_kill = data.run(&["list", "--tags", "crash"]);
    assert!(after_kill.status.success(), "{}", after_kill.stderr);
    assert!(after_kill.stderr.contains(WARNING), "no word of the check after a kill -9: {:?}", after_kill.stderr);
    for hash in [&first, &second] {
        assert!(after_kill.stdout.contains(hash.as_str()), "{hash} is missing after the kill:\n{}", after_kill.stdout);
    }
    let after_close = data.run(&["list", "--tags", "crash"]);
    assert!(after_close.status.success(), "{}", after_close.stderr);
    assert!(!after_close.stderr.contains(WARNING), "a cleanly closed log was checked again: {:?}", after_close.stderr);
    assert_eq!(after_close.stdout, after_kill.stdout);
}
