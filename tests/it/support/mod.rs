//! What every black-box test shares: a temporary data directory to run the real binary's subcommands in,
//! parsers for their output, and a `Server` that runs `serve` on a free port, waits for its health check
//! and kills it on drop.

pub(crate) mod cloudflare;
pub(crate) mod device;

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test, built by cargo for this test target.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mcp-memory-service");

/// Variables that would point a command at other files or settings than the test's own; they are removed
/// from every child's environment. The model's variables stay, so a developer's asset overrides still apply.
const ISOLATED: &[&str] = &[
    "MCP_MEMORY_SQLITE_PATH",
    "MCP_MEMORY_SQLITEVEC_PATH",
    "MCP_MEMORY_LOG_PATH",
    "MCP_MEMORY_BACKUPS_PATH",
    "MCP_MEMORY_STORAGE_BACKEND",
    "MCP_SQLITEVEC_MAX_CONTENT_LENGTH",
    "MCP_MEMORY_INCLUDE_HOSTNAME",
    "MCP_MEMORY_ANN_THRESHOLD",
    "MCP_DOCUMENT_CHUNK_SIZE",
    "MCP_DOCUMENT_CHUNK_OVERLAP",
    "MCP_DOCUMENT_MAX_FILE_MB",
    "MCP_DOCUMENT_ROOTS",
    "MCP_EMBEDDING_MODEL",
    "MCP_HTTP_HOST",
    "MCP_HTTP_PORT",
    "MCP_API_KEY",
    "MCP_ALLOW_ANONYMOUS_ACCESS",
    "MCP_CORS_ORIGINS",
    "MCP_SSE_HEARTBEAT",
    "MCP_HTTP_MAX_BODY_BYTES",
    "MCP_HTTP_REQUEST_TIMEOUT",
    "MMS_DASHBOARD_DIR",
    "MCP_BACKUP_ENABLED",
    "MCP_BACKUP_INTERVAL",
    "MCP_BACKUP_RETENTION",
    "MCP_BACKUP_MAX_COUNT",
    "MMS_BACKUP_CHECK_SECONDS",
    "MCP_HTTPS_ENABLED",
    "MCP_HTTPS_PORT",
    "MCP_OAUTH_ENABLED",
    "MCP_OAUTH_ISSUER",
    "MCP_OAUTH_PRIVATE_KEY",
    "MCP_OAUTH_PUBLIC_KEY",
    "MCP_OAUTH_PRIVATE_KEY_PATH",
    "MCP_OAUTH_PUBLIC_KEY_PATH",
    "MCP_OAUTH_SECRET_KEY",
    "MCP_OAUTH_ACCESS_TOKEN_EXPIRE_MINUTES",
    "MCP_OAUTH_AUTHORIZATION_CODE_EXPIRE_MINUTES",
    "MCP_OAUTH_REFRESH_TOKEN_EXPIRE_DAYS",
    "MCP_DCR_REGISTRATION_KEY",
    "MCP_SSL_CERT_FILE",
    "MCP_SSL_KEY_FILE",
    "MCP_MDNS_ENABLED",
    "MCP_MDNS_SERVICE_NAME",
    "MCP_MDNS_SERVICE_TYPE",
    "LOG_LEVEL",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_VECTORIZE_INDEX",
    "CLOUDFLARE_D1_DATABASE_ID",
    "CLOUDFLARE_R2_BUCKET",
    "CLOUDFLARE_EMBEDDING_MODEL",
    "CLOUDFLARE_LARGE_CONTENT_THRESHOLD",
    "CLOUDFLARE_MAX_RETRIES",
    "CLOUDFLARE_BASE_DELAY",
    "CLOUDFLARE_API_BASE_URL",
    "MMS_CLOUDFLARE_TIMEOUT_SECONDS",
    "MCP_HYBRID_SYNC_INTERVAL",
    "MCP_HYBRID_BATCH_SIZE",
    "MCP_HYBRID_SYNC_ON_STARTUP",
    // The test harness's own (scripts/test sets it): the service would name it as a variable it does not read.
    "MMS_TEST_PYTHON",
];

/// The content hash the service gives a content: sha256 of the trimmed, lower-cased text, in hex.
pub(crate) fn content_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.trim().to_lowercase().as_bytes()))
}

/// Whether `token` looks like a content hash.
pub(crate) fn is_hash(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The finished run of one subcommand.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    fn from_output(args: &[&str], output: Output) -> Run {
        let run = Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        eprintln!("$ mcp-memory-service {} -> {}", args.join(" "), run.status);
        run
    }
}

/// A fresh, empty data directory, removed when dropped. Commands run with it as MCP_MEMORY_BASE_DIR and
/// as their working directory (so no stray `.env` is read).
pub(crate) struct DataDir {
    dir: tempfile::TempDir,
}

impl DataDir {
    pub(crate) fn new() -> DataDir {
        DataDir { dir: tempfile::Builder::new().prefix("mms-it-").tempdir().expect("create a temp dir") }
    }

    /// The base data directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The read model's database file.
    pub(crate) fn sqlite_path(&self) -> PathBuf {
        self.path().join("sqlite_vec.db")
    }

    /// A command for the binary with this data directory and an isolated environment, not yet started.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        self.command_for(BIN, args)
    }

    /// A command for `program` (which runs the binary: a script, a shell) with this data directory and an
    /// isolated environment, not yet started.
    pub(crate) fn command_for(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.args(args).current_dir(self.path()).env("MCP_MEMORY_BASE_DIR", self.path());
        for name in ISOLATED {
            command.env_remove(name);
        }
        // Tests run in parallel on few cores: one embedding thread per process avoids oversubscription.
        command.env("MCP_EMBEDDING_THREADS", "1");
        command
    }

    /// Runs a subcommand to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).stdin(Stdio::null()).output().expect("run the binary");
        Run::from_output(args, output)
    }

    /// Runs a subcommand with `input` on its standard input.
    pub(crate) fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all(input.as_bytes()).expect("write stdin");
        drop(stdin);
        Run::from_output(args, child.wait_with_output().expect("wait for the binary"))
    }

    /// Runs a subcommand that must succeed; returns its standard output.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert!(run.status.success(), "`{}` failed ({}):\n{}\n{}", args.join(" "), run.status, run.stdout, run.stderr);
        run.stdout
    }

    /// Runs a subcommand that must fail with exit code 1; returns its standard error.
    pub(crate) fn fails(&self, args: &[&str]) -> String {
        self.fails_with(1, args)
    }

    /// Runs a subcommand that must fail with exit code `status` (README, "Exit status"); returns its
    /// standard error.
    pub(crate) fn fails_with(&self, status: i32, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.status.code(),
            Some(status),
            "`{}` should fail with exit code {status}:\nstdout: {}\nstderr: {}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
        assert!(run.stderr.contains("error: "), "the failure of `{}` says nothing: {:?}", args.join(" "), run.stderr);
        run.stderr
    }

    /// Stores a memory, asserts the answer `stored <hash>` with the expected hash, and returns the hash.
    pub(crate) fn store(&self, content: &str, tags: &[&str]) -> String {
        let tags = tags.join(",");
        let mut args = vec!["store", content];
        if !tags.is_empty() {
            args.extend(["--tags", &tags]);
        }
        let out = self.ok(&args);
        let expected = content_hash(content);
        assert_eq!(out, format!("stored {expected}\n"), "store of {content:?}");
        expected
    }

    /// Imports memories (JSON objects) as JSON lines through `import`, in one command.
    pub(crate) fn import_all(&self, memories: impl IntoIterator<Item = serde_json::Value>) {
        let lines: Vec<String> = memories.into_iter().map(|m| m.to_string()).collect();
        let seed = self.path().join("seed.jsonl");
        std::fs::write(&seed, lines.join("\n")).expect("write the memories to import");
        self.ok(&["import", seed.to_str().expect("a UTF-8 temp path")]);
    }

    /// `get` of a memory that must exist, as JSON.
    pub(crate) fn get(&self, hash: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["get", hash])).expect("get prints JSON")
    }

    /// `stats` as JSON.
    pub(crate) fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["stats"])).expect("stats prints JSON")
    }

    /// The hashes `list` shows with these extra arguments, in order, and the total it reports.
    pub(crate) fn list(&self, args: &[&str]) -> (Vec<String>, u64) {
        let mut all = vec!["list", "--page-size", "1000"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        (listed_hashes(&out), listed_total(&out))
    }

    /// The hashes `search` finds, best first.
    pub(crate) fn search(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["search"];
        all.extend_from_slice(args);
        listed_hashes(&self.ok(&all))
    }

    /// The hashes `recall` lists, best first.
    pub(crate) fn recall(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["recall"];
        all.extend_from_slice(args);
        listed_hashes(&self.ok(&all))
    }
}

/// The hash of every memory in the output of `list` or `search`, in order. Each memory starts with an
/// unindented line holding its hash (after the score, for `search`); its details are indented.
pub(crate) fn listed_hashes(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_whitespace().find(|t| is_hash(t)))
        .map(str::to_string)
        .collect()
}

/// The scores at the start of each hit line of `search`, in order.
pub(crate) fn listed_scores(output: &str) -> Vec<f64> {
    output
        .lines()
        .filter(|line| !line.starts_with(' ') && line.split_whitespace().any(is_hash))
        .map(|line| {
            let score = line.split_whitespace().next().expect("a hit line has a score");
            score.parse().unwrap_or_else(|_| panic!("{score:?} in {line:?} is not a score"))
        })
        .collect()
}

/// The total of `list`'s header line, `page 1 (10 per page) of N memories` (`of 1 memory`).
pub(crate) fn listed_total(output: &str) -> u64 {
    let header = output.lines().next().unwrap_or_default();
    let total = header
        .strip_prefix("page ")
        .and_then(|rest| rest.split(" of ").nth(1))
        .and_then(|rest| rest.strip_suffix(" memories").or_else(|| rest.strip_suffix(" memory")))
        .unwrap_or_else(|| panic!("unexpected list header {header:?}"));
    total.parse().unwrap_or_else(|_| panic!("unexpected list header {header:?}"))
}

/// The directory the dashboard's browser checks save their panel screenshots in, made if missing.
pub(crate) fn panel_shots() -> PathBuf {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-panels");
    std::fs::create_dir_all(&shots).expect("make the screenshots' directory");
    shots
}

/// Runs the browser check `tests/it/python/<script>` (selenium, headless Chromium) with `args` and asserts
/// that it passed every one of its checks; a failure shows its output and `server`'s log. Its stdout.
pub(crate) fn browser_check(script: &str, args: &[&str], server: &Server) -> String {
    let path = format!("{}/tests/it/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(test_python()).arg(&path).args(args).output().expect("run the browser check");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}\nserver log:\n{}", server.stderr());
    assert!(stdout.trim_end().ends_with("passed, 0 failed"), "{stdout}");
    stdout
}

/// Runs Python unit tests (`python -m unittest ARGS`) in `dir` and checks that all of them passed;
/// `what` names them in the failure.
pub(crate) fn run_python_unittests(dir: &Path, args: &[&str], what: &str) {
    let output = Command::new(test_python())
        .args(["-m", "unittest"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what} failed:\n{stderr}");
    assert!(stderr.trim_end().ends_with("OK"), "{stderr}");
}

/// The Python of the test tools (the MCP SDK, selenium, schemathesis): `MMS_TEST_PYTHON` (set by
/// scripts/test), else the venv that scripts/install-test-tools makes in the default assets directory.
pub(crate) fn test_python() -> String {
    if let Some(python) = std::env::var_os("MMS_TEST_PYTHON") {
        return python.to_string_lossy().into_owned();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let assets = std::env::var("MCP_MEMORY_ASSETS_DIR").unwrap_or_else(|_| format!("{home}/.cache/mcp-memory-service"));
    let python = format!("{assets}/venv-test/bin/python");
    assert!(
        Path::new(&python).exists(),
        "the test tools are not installed at {python}: run scripts/install-test-tools (scripts/test does)"
    );
    python
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Sends a signal to a process with the `kill` command.
pub(crate) fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

/// Waits at most `timeout` for a child to exit.
pub(crate) fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mcp-memory-service serve` on a free port of 127.0.0.1. Killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts the server over `data` with extra environment variables, and waits until GET /api/health
    /// answers 200 (at most 30 s).
    pub(crate) async fn start(data: &DataDir, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut command = data.command(&["serve", "--port", &port.to_string()]);
        command.envs(env.iter().copied());
        Server::spawn(data, command, port).wait_healthy().await
    }

    /// Starts `command`, a server that will listen on `port`, with its stderr in a file of the data
    /// directory; does not wait for it.
    pub(crate) fn spawn(data: &DataDir, mut command: Command, port: u16) -> Server {
        let log = data.path().join("serve.stderr");
        let stderr = std::fs::File::create(&log).expect("create the server's log file");
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        let child = command.spawn().expect("start the server");
        Server { child, port, log }
    }

    /// Waits until GET /api/health answers 200 over HTTP on 127.0.0.1 (at most 30 s).
    pub(crate) async fn wait_healthy(mut self) -> Server {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("an HTTP client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                panic!("the server exited before it was healthy ({status}):\n{}", self.stderr());
            }
            if let Ok(response) = client.get(self.url("/api/health")).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return self;
            }
            assert!(Instant::now() < deadline, "no healthy answer within 30 s:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The URL of a path on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits at most `timeout` for the server to exit.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_exit(&mut self.child, timeout)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the MCP stdio server `command` runs, sends `initialize`, reads the answer (within 30 s), then
/// closes its input: returns the answer, the exit status (None when it did not end within 30 s) and what
/// it wrote to stderr.
pub(crate) fn mcp_initialize_then_close(
    command: &mut Command,
    client: &str,
) -> (serde_json::Value, Option<ExitStatus>, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the MCP server");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let initialize = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": client, "version": "1"}}});
    writeln!(stdin, "{initialize}").expect("send initialize");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (lines, answers) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let answer = answers.recv_timeout(Duration::from_secs(30)).expect("an answer within 30 s").expect("a line");
    let answer = serde_json::from_str(&answer).expect("the answer is one JSON line");
    drop(stdin);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let _ = child.kill();
    let mut stderr = String::new();
    let _ = child.stderr.take().expect("stderr is piped").read_to_string(&mut stderr);
    (answer, status, stderr)
}

/// Runs one of the Python clients in `tests/it/python` with `args` and checks it reported no failure.
pub(crate) fn run_python_client(script: &str, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/python").join(script);
    let output = Command::new(test_python())
        .arg(script)
        .args(args)
        .env("MCP_EMBEDDING_THREADS", "1")
        .output()
        .expect("run the Python MCP client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the MCP client failed:\n{stdout}\n{stderr}");
    assert!(stdout.trim_end().ends_with("passed, 0 failed"), "{stdout}");
}

/// A random operation on one of six memories, for the property tests of restore and time travel.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Store(u8),
    Tag(u8, u8),
    Delete(u8),
    Undelete(u8),
    /// Restore to the point recorded this many operations ago (modulo the points there are).
    Restore(u8),
    /// Relate the first memory to the second with the type of this index (`causes`, `related`, `follows`),
    /// the strength given in tenths.
    Relate(u8, u8, u8, u8),
    /// Remove every relation from the first memory to the second.
    Unrelate(u8, u8),
    /// Archive (with a reason of this index) or bring back a memory.
    Archive(u8, u8),
    Unarchive(u8),
}

/// The relationship types `Op::Relate` picks from: directed and symmetric.
const OP_TYPES: [&str; 3] = ["causes", "related", "follows"];

/// Applies one operation through the service, on the memory whose content `content` gives; a restore goes
/// back to one of the recorded `points` (sequence numbers first), counted from the newest.
pub(crate) async fn apply_op<T>(
    service: &mcp_memory_service::service::Service,
    op: &Op,
    content: impl Fn(u8) -> String,
    points: &[(u64, T)],
) -> Result<(), mcp_memory_service::service::ServiceError> {
    use mcp_memory_service::service::{Point, RelateRequest, StoreRequest, UpdateRequest};
    let actor = || mms_log::Actor::new(mms_log::Interface::Cli, Some("proptest".into()));
    let hash = |m: u8| content_hash(&content(m));
    match op {
        Op::Store(m) => {
            service.store(StoreRequest { content: content(*m), ..StoreRequest::default() }, actor()).await.map(|_| ())
        }
        Op::Tag(m, t) => {
            let tags = Some((0..=*t).map(|i| format!("tag{i}")).collect());
            let request = UpdateRequest { tags, memory_type: None, metadata: None, expected_version: None };
            service.update(&hash(*m), request, actor()).await.map(|_| ())
        }
        Op::Delete(m) => service.delete(&hash(*m), None, actor()).await,
        Op::Undelete(m) => service.undelete(&hash(*m), actor()).await.map(|_| ()),
        Op::Restore(back) => {
            let (seq, _) = &points[points.len() - 1 - (*back as usize % points.len())];
            service.restore(Point::Seq(*seq), false, actor()).await.map(|_| ())
        }
        Op::Relate(a, b, t, tenths) => {
            let request = RelateRequest {
                source: hash(*a),
                target: hash(*b),
                relation_type: Some(OP_TYPES[*t as usize % OP_TYPES.len()].into()),
                strength: Some(f64::from(*tenths) / 10.0),
                reason: None,
            };
            service.relate(request, actor()).await.map(|_| ())
        }
        Op::Unrelate(a, b) => service.unrelate(&hash(*a), &hash(*b), None, actor()).await.map(|_| ()),
        Op::Archive(m, reason) => {
            service.archive(&hash(*m), Some(format!("reason {reason}")), actor()).await.map(|_| ())
        }
        Op::Unarchive(m) => service.unarchive(&hash(*m), actor()).await.map(|_| ()),
    }
}

/// Operations with stores `stores` times as likely as an undelete or a restore; relations between the
/// memories among them.
pub(crate) fn op(stores: u32) -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        stores => (0u8..6).prop_map(Op::Store),
        2 => (0u8..6, 0u8..3).prop_map(|(m, t)| Op::Tag(m, t)),
        2 => (0u8..6).prop_map(Op::Delete),
        1 => (0u8..6).prop_map(Op::Undelete),
        1 => any::<u8>().prop_map(Op::Restore),
        3 => (0u8..6, 0u8..6, 0u8..3, 0u8..=10).prop_map(|(a, b, t, s)| Op::Relate(a, b, t, s)),
        1 => (0u8..6, 0u8..6).prop_map(|(a, b)| Op::Unrelate(a, b)),
    ]
}

/// A store opened in-process in a fresh data directory, with a runtime to drive it (library-level tests).
pub(crate) fn fresh_store() -> (DataDir, tokio::runtime::Runtime, mcp_memory_service::store::Store) {
    use clap::Parser;
    let data = DataDir::new();
    let base = data.path().to_string_lossy().into_owned();
    let config = mcp_memory_service::cli::Cli::parse_from(["mcp-memory-service", "--base-dir", &base, "stats"]).config;
    let settings = mcp_memory_service::store::Settings::of(&config).expect("the settings are valid");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let store = mcp_memory_service::store::Store::open(&settings, false).expect("open the store");
    (data, runtime, store)
}
