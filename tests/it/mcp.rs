//! The MCP server driven by a real client: the official Python MCP SDK (tests/it/python/mcp_client.py) over
//! stdio and over streamable HTTP at `/mcp`, against the real binary and model; and the HTTP endpoint's
//! gatekeeping (credentials, Origin).

use crate::support::{DataDir, Server, test_python as python};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the Python client with `args` and asserts that every check passed.
fn python_client(args: &[&str]) {
    crate::support::run_python_client("mcp_client.py", args);
}

#[test]
fn the_python_sdk_drives_every_tool_over_stdio() {
    let data = DataDir::new();
    python_client(&["stdio", env!("CARGO_BIN_EXE_mcp-memory-service"), &data.path().to_string_lossy()]);
}

const KEY: &str = "mcp-http-test-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_drives_every_tool_over_streamable_http() {
    let data = DataDir::new();
    let server = Server::start(&data, &[("MCP_API_KEY", KEY)]).await;
    let url = server.url("/mcp");
    tokio::task::spawn_blocking(move || python_client(&["http", &url, KEY])).await.expect("the client ran");
    let log = server.stderr();
    assert!(!log.contains(KEY), "the key never reaches the log");
    // One line per request at INFO; no Rust debug dumps of the sessions (rmcp's `peer_info`, notifications).
    assert!(log.contains("path=/mcp status=200"), "{log}");
    for dump in ["peer_info", "InitializeRequestParam", "received notification", "Implementation {"] {
        assert!(!log.contains(dump), "{dump} in the log:\n{log}");
    }
    // Request times to a tenth of a millisecond, never float noise such as 0.30000000000000004.
    for line in log.lines().filter(|l| l.contains(" ms=")) {
        let ms = line.split(" ms=").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap_or_default();
        assert!(ms.split('.').nth(1).is_none_or(|decimals| decimals.len() <= 1), "{line}");
    }
}

/// An initialize request as a client sends it first.
fn initialize() -> serde_json::Value {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_endpoint_needs_credentials_and_refuses_foreign_origins() {
    let data = DataDir::new();
    let server = Server::start(&data, &[("MCP_API_KEY", KEY), ("MCP_CORS_ORIGINS", "https://app.example.com")]).await;
    let client = reqwest::Client::new();
    let post = |key: Option<&str>, origin: Option<&str>| {
        let mut request =
            client.post(server.url("/mcp")).header("accept", "application/json, text/event-stream").json(&initialize());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };

    let anonymous = post(None, None).await.expect("an answer");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = anonymous.json().await.expect("a JSON body");
    assert_eq!(body["detail"]["error"], "authorization_required", "{body}");
    assert_eq!(post(Some("wrong"), None).await.expect("an answer").status(), StatusCode::UNAUTHORIZED);

    let foreign = post(Some(KEY), Some("https://evil.example.net")).await.expect("an answer");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN, "a foreign Origin is refused");

    for origin in [None, Some("https://app.example.com")] {
        let accepted = post(Some(KEY), origin).await.expect("an answer");
        assert_eq!(accepted.status(), StatusCode::OK, "origin {origin:?}");
        assert!(accepted.headers().contains_key("mcp-session-id"), "a session starts");
        let text = accepted.text().await.expect("a body");
        assert!(text.contains("\"serverInfo\"") && text.contains("mcp-memory-service"), "{text}");
    }
}

#[test]
fn three_stdio_clients_and_the_server_share_one_store_and_survive_the_owner_being_killed() {
    let data = DataDir::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python/shared_store.py");
    let port = crate::support::free_port().to_string();
    let output = Command::new(python())
        .args([script, env!("CARGO_BIN_EXE_mcp-memory-service"), &data.path().to_string_lossy(), &port, KEY])
        .output()
        .expect("run the shared-store script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let serve_log = std::fs::read_to_string(data.path().join("serve.stderr")).unwrap_or_default();
    assert!(output.status.success(), "the shared-store script failed:\n{stdout}\n{stderr}\nserve:\n{serve_log}");
    assert!(stdout.trim_end().ends_with("passed, 0 failed"), "{stdout}");
    assert!(!serve_log.contains("open in another process"), "no lock error:\n{serve_log}");
}

/// An `mcp` process driven with raw JSON-RPC lines, so that the test sees every line it writes (an SDK
/// would hide an answer given twice). Its stderr is collected apart.
struct RawMcp {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// Every line received so far, parsed.
    received: Vec<Value>,
}

impl RawMcp {
    /// Starts `command` (an `mcp` process), sends `initialize` and `notifications/initialized`, and waits
    /// for the answer to `initialize`.
    fn start(mut command: Command) -> RawMcp {
        use std::io::{BufRead, BufReader, Read};
        use std::process::Stdio;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start an mcp process");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let stdin = child.stdin.take();
        let mut mcp = RawMcp { child, stdin, lines, stderr: Some(stderr), received: Vec::new() };
        mcp.send(&initialize());
        mcp.answer(&json!(1));
        mcp.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn send(&mut self, message: &Value) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{message}").expect("write to the mcp process");
    }

    /// Waits (at most 3 minutes) until every id in `ids` has an answer.
    fn wait_for_answers(&mut self, ids: &[Value]) {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !ids.iter().all(|id| self.received.iter().any(|line| is_answer(line, id))) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.received.push(serde_json::from_str(&line).expect("the relay writes JSON lines")),
                Err(error) => {
                    let missing: Vec<_> =
                        ids.iter().filter(|id| !self.received.iter().any(|line| is_answer(line, id))).collect();
                    panic!("no answer to {missing:?} ({error}); stderr:\n{}", self.finish().2)
                }
            }
        }
    }

    /// Waits for the answer to `id` and returns it.
    fn answer(&mut self, id: &Value) -> Value {
        self.wait_for_answers(std::slice::from_ref(id));
        self.received.iter().find(|line| is_answer(line, id)).cloned().expect("just received")
    }

    /// Sends a `tools/call` and returns its answer.
    fn call(&mut self, id: u64, name: &str, arguments: Value) -> Value {
        self.send(&tool_call(id, name, arguments));
        self.answer(&json!(id))
    }

    /// Closes stdin, so that the client leaves.
    fn close(&mut self) {
        self.stdin = None;
    }

    /// Closes stdin and waits (at most a minute) for the process to exit; returns every line it wrote,
    /// its exit status and its stderr.
    fn finish(&mut self) -> (Vec<Value>, Option<std::process::ExitStatus>, String) {
        self.close();
        let status = crate::support::wait_exit(&mut self.child, Duration::from_secs(60));
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.received.push(serde_json::from_str(&line).expect("the relay writes JSON lines"));
        }
        let stderr = self.stderr.take().map(|thread| thread.join().unwrap_or_default()).unwrap_or_default();
        (std::mem::take(&mut self.received), status, stderr)
    }
}

impl Drop for RawMcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `line` is the answer (result or error) to the request `id`.
fn is_answer(line: &Value, id: &Value) -> bool {
    line.get("method").is_none() && line.get("id") == Some(id)
}

fn tool_call(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

/// The structured result of a tool call's answer that succeeded.
fn tool_result(answer: &Value) -> &Value {
    assert_eq!(answer["result"]["isError"], json!(false), "the call succeeded: {answer}");
    &answer["result"]["structuredContent"]
}

/// The uid the tests (and the processes they start) run as.
fn our_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::metadata(dir.path()).expect("its metadata").uid()
}

/// The uid of `nobody`, whom the squatter becomes when the tests run as root.
const NOBODY: u32 = 65534;

/// tests/it/python/squatter.py: another local user's process (uid 65534 when the tests run as root, else
/// the tests' own user) listening on a socket, holding the store's lock when asked.
struct Squatter {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Squatter {
    fn listen(socket: &Path, lock: Option<&Path>) -> Squatter {
        use std::io::BufRead;
        use std::process::Stdio;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python/squatter.py");
        let mut command = Command::new(python());
        command.arg(script).arg("listen").arg(socket).args(lock);
        let mut child =
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start the squatter script");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut ready = String::new();
        stdout.read_line(&mut ready).expect("read the squatter's first line");
        assert_eq!(ready.trim(), "ready", "the squatter listens on {}", socket.display());
        Squatter { child, stdout }
    }

    /// Stops listening and tells what came: `{"uid", "connections", "received"}`.
    fn report(&mut self) -> Value {
        use std::io::BufRead;
        drop(self.child.stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the squatter's report");
        let _ = self.child.wait();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("a JSON report: {line:?}"))
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The start of a squatter's report, short enough for a failure message.
fn shown(report: &Value) -> String {
    report.to_string().chars().take(600).collect()
}

/// Runs the squatter's `connect` mode against `socket`: `{"uid", "connected", "received"}`.
fn squatter_connects(socket: &Path) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python/squatter.py");
    let output =
        Command::new(python()).arg(script).arg("connect").arg(socket).output().expect("run the squatter script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("a JSON report: {stdout:?}\n{}", String::from_utf8_lossy(&output.stderr)))
}

/// A data directory inside `data` whose path is too long for a Unix socket address (so the store's socket
/// falls back to the temp directory), and a temp directory shared by every user (mode 1777, like /tmp),
/// both reachable by other users.
fn long_data_dir_and_shared_tmp(data: &DataDir) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).expect("open the test dir");
    let long =
        data.path().join("a-data-directory-whose-path-is-longer-than-the-address-of-a-unix-socket-may-be-in-bytes");
    std::fs::create_dir_all(&long).expect("create the long data directory");
    assert!(long.join("mcp.sock").as_os_str().len() > 108, "too short: {}", long.display());
    let tmp = data.path().join("tmp");
    std::fs::create_dir(&tmp).expect("create the shared temp directory");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).expect("share the temp directory");
    (long, tmp)
}

/// An `mcp` command on the data directory `base` with `tmp` as its temp directory.
fn mcp_command(data: &DataDir, base: &Path, tmp: &Path) -> Command {
    let mut command = data.command(&["mcp"]);
    command.env("MCP_MEMORY_BASE_DIR", base).env("TMPDIR", tmp);
    command
}

/// Every Unix socket under `dir`, with its metadata.
fn sockets_under(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    use std::os::unix::fs::FileTypeExt;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list a directory") {
        let path = entry.expect("a directory entry").path();
        let metadata = std::fs::symlink_metadata(&path).expect("lstat an entry");
        if metadata.file_type().is_socket() {
            found.push((path, metadata));
        } else if metadata.is_dir() {
            found.extend(sockets_under(&path));
        }
    }
    found
}

#[test]
fn a_long_data_dirs_socket_is_in_a_directory_only_its_user_can_enter_and_a_squatter_gets_nothing() {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::MetadataExt;
    let data = DataDir::new();
    let (long, tmp) = long_data_dir_and_shared_tmp(&data);
    // Another user listens where the fallback socket used to be: the temp directory, under a name anyone
    // could compute from the data directory's path.
    let digest = hex::encode(Sha256::digest(long.canonicalize().expect("canonical").as_os_str().as_encoded_bytes()));
    let predicted = tmp.join(format!("mcp-memory-{}.sock", &digest[..16]));
    let mut squatter = Squatter::listen(&predicted, None);
    let squatters_socket = std::fs::symlink_metadata(&predicted).expect("the squatter's socket").ino();

    // The first mcp process owns the store and serves its client through its socket.
    let mut mcp = RawMcp::start(mcp_command(&data, &long, &tmp));
    let stored = mcp.call(2, "memory_store", json!({"content": "a secret only this user may read"}));
    assert_eq!(tool_result(&stored)["success"], json!(true), "{stored}");

    // Every socket of ours under the temp directory is in a real directory of ours that no one else may
    // enter, so no one else can bind its name first.
    let ours: Vec<_> =
        sockets_under(&tmp).into_iter().filter(|(_, metadata)| metadata.ino() != squatters_socket).collect();
    assert_eq!(ours.len(), 1, "the owner's socket is under the temp directory: {ours:?}");
    for (socket, _) in &ours {
        let dir = socket.parent().expect("a socket has a directory");
        let metadata = std::fs::symlink_metadata(dir).expect("lstat the socket's directory");
        assert!(
            metadata.is_dir() && metadata.uid() == our_uid() && metadata.mode() & 0o077 == 0,
            "{} lies in {}, a directory of uid {} with mode {:o}: other users may enter it",
            socket.display(),
            dir.display(),
            metadata.uid(),
            metadata.mode() & 0o7777
        );
    }
    let (_, status, stderr) = mcp.finish();
    assert!(status.is_some_and(|status| status.success()), "the mcp process exits cleanly ({status:?}):\n{stderr}");
    let report = squatter.report();
    assert_eq!(report["connections"], json!(0), "the squatter was never reached: {}", shown(&report));
}

#[test]
fn a_squatted_socket_directory_is_refused_clearly_and_left_as_it_is() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = our_uid() == 0;
    for symlink in [true, false] {
        let data = DataDir::new();
        let (long, tmp) = long_data_dir_and_shared_tmp(&data);
        // Another user made this user's private directory first: a symbolic link to a directory of theirs,
        // or a directory of theirs (of ours, but open to everyone, when the tests cannot give it away).
        let private = tmp.join(format!("mcp-memory-service-{}", our_uid()));
        let bait = if symlink { tmp.join("bait") } else { private.clone() };
        std::fs::create_dir(&bait).expect("create the squatter's directory");
        let mode = if root && !symlink { 0o700 } else { 0o777 };
        std::fs::set_permissions(&bait, std::fs::Permissions::from_mode(mode)).expect("set its mode");
        if root {
            std::os::unix::fs::chown(&bait, Some(NOBODY), Some(NOBODY)).expect("give it to nobody");
        }
        if symlink {
            std::os::unix::fs::symlink(&bait, &private).expect("link the private directory's name to it");
            if root {
                std::os::unix::fs::lchown(&private, Some(NOBODY), Some(NOBODY)).expect("give the link to nobody");
            }
        }

        let mut mcp = mcp_command(&data, &long, &tmp);
        mcp.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        let mut child = mcp.stderr(std::process::Stdio::piped()).spawn().expect("start the mcp process");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin is piped");
            let call = tool_call(2, "memory_store", json!({"content": "a secret for the squatter's directory"}));
            // The process may have refused and exited already: then these writes fail, which is fine.
            let _ = writeln!(stdin, "{}\n{call}", initialize());
        }
        let output = child.wait_with_output().expect("wait for the mcp process");
        let stderr = String::from_utf8_lossy(&output.stderr);

        let case = if symlink { "a symbolic link" } else { "a directory of another user" };
        assert!(!output.status.success(), "{case}: the mcp process refuses to run ({}):\n{stderr}", output.status);
        assert!(stderr.contains(&private.display().to_string()), "{case}: the error names the directory:\n{stderr}");
        let why = if symlink {
            "symbolic link"
        } else if root {
            "belongs to uid 65534"
        } else {
            "mode 777"
        };
        assert!(stderr.contains(why), "{case}: the error says why ({why}):\n{stderr}");
        let left: Vec<_> = std::fs::read_dir(&bait).expect("list the squatter's directory").collect();
        assert!(left.is_empty(), "{case}: nothing was put in the squatter's directory: {left:?}");
        let metadata = std::fs::metadata(&bait).expect("stat the squatter's directory");
        assert_eq!(metadata.mode() & 0o7777, mode, "{case}: its mode was left alone");
        assert_eq!(metadata.uid(), if root { NOBODY } else { our_uid() }, "{case}: its owner was left alone");
    }
}

#[test]
fn the_owner_serves_no_process_of_another_user() {
    use std::os::unix::fs::PermissionsExt;
    let data = DataDir::new();
    let mut owner = RawMcp::start(data.command(&["mcp"]));
    let listed = owner.call(2, "memory_list", json!({}));
    tool_result(&listed);
    // Make the socket reachable by everyone, as on systems that ignore a socket file's permissions.
    let socket = data.path().join("mcp.sock");
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).expect("open the data dir");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).expect("open the socket");

    let report = squatter_connects(&socket);

    if our_uid() == 0 {
        assert_eq!(report["uid"], json!(NOBODY), "{}", shown(&report));
        assert_eq!(report["received"], json!(""), "another user's process gets no answer: {}", shown(&report));
    } else {
        eprintln!("not root: the connecting process is this user's own, so it is served (the refusal needs root)");
        assert!(report["received"].as_str().is_some_and(|r| r.contains("\"result\"")), "{}", shown(&report));
    }
    // The owner's own client is still served.
    let listed = owner.call(3, "memory_list", json!({}));
    tool_result(&listed);
    let (_, status, stderr) = owner.finish();
    assert!(status.is_some_and(|status| status.success()), "the owner exits cleanly ({status:?}):\n{stderr}");
}

#[test]
fn a_relay_sends_nothing_to_an_owner_of_another_user() {
    use std::os::unix::fs::PermissionsExt;
    if our_uid() != 0 {
        eprintln!("not root: no process of another user can be started, so there is nothing to refuse");
        return;
    }
    let data = DataDir::new();
    data.ok(&["stats"]);
    // A data directory other users may write to, where another user's process holds the store's lock (as
    // a CLI command would) and listens on the socket's path.
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o777)).expect("open the data dir");
    let mut squatter = Squatter::listen(&data.path().join("mcp.sock"), Some(&data.path().join("events.redb")));

    let mut relay = data
        .command(&["mcp"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the mcp process");
    let mut stdin = relay.stdin.take().expect("stdin is piped");
    {
        use std::io::Write;
        let call = tool_call(2, "memory_store", json!({"content": "a secret for the wrong owner"}));
        writeln!(stdin, "{}\n{call}", initialize()).expect("write to the relay");
    }
    let status = crate::support::wait_exit(&mut relay, Duration::from_secs(30));
    drop(stdin);
    let _ = relay.kill();
    let output = relay.wait_with_output().expect("collect the relay's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = squatter.report();

    assert_eq!(report["received"], json!(""), "the relay sent nothing to another user's process: {}", shown(&report));
    assert!(status.is_some_and(|status| !status.success()), "the relay stops with an error ({status:?}):\n{stderr}");
    assert!(stderr.contains("uid 65534"), "the error names the other user:\n{stderr}");
}

/// What takes the store from the first `mcp` process while the others have requests in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handover {
    /// Its client leaves: one of the relays becomes the owner.
    ToARelay,
    /// A starting `serve` asks for the store.
    ToServe,
}

/// The memory_store calls each client has in flight across the handover, and the ids they carry.
const STORES: std::ops::Range<u64> = 100..150;
/// The id of the last call of each client, sent once every store is answered.
const LAST: u64 = 900;

fn note(client: &str, id: u64) -> String {
    format!("{client} stores note {id} while the store changes hands")
}

/// One owner and two relays; each client that stays has 50 memory_store calls in flight, sent without
/// waiting, half before and half while the store changes hands. Whatever the interleaving: every request
/// gets exactly one answer, none is executed twice (every content is new, so a second execution answers
/// "Duplicate"), and every acknowledged store is in the log exactly once.
fn parallel_requests_across_a_handover(handover: Handover) {
    use crate::support::content_hash;
    use std::collections::{BTreeMap, BTreeSet};
    let data = DataDir::new();
    let mut clients: Vec<(String, RawMcp)> = Vec::new();
    for name in ["owner", "relay-b", "relay-c"] {
        let mut client = RawMcp::start(data.command(&["mcp"]));
        // Answered only once the process reached an owner: the first one owns the store, the others relay.
        tool_result(&client.call(2, "memory_list", json!({})));
        clients.push((name.to_string(), client));
    }
    let mut leaving = None;
    if handover == Handover::ToARelay {
        leaving = Some(clients.remove(0).1);
    }
    let store = |client: &mut RawMcp, name: &str, id: u64| {
        client.send(&tool_call(id, "memory_store", json!({"content": note(name, id), "tags": ["handover"]})));
    };
    let half = STORES.start + (STORES.end - STORES.start) / 2;
    for (name, client) in &mut clients {
        for id in STORES.start..half {
            store(client, name, id);
        }
    }

    let port = crate::support::free_port();
    let mut server = None;
    match handover {
        Handover::ToARelay => leaving.as_mut().expect("the owner's client").close(),
        Handover::ToServe => {
            let command = data.command(&["serve", "--port", &port.to_string()]);
            server = Some(Server::spawn(&data, command, port));
        }
    }
    // The rest in waves while the store changes hands (the pauses only spread them over the handover; no
    // assertion depends on where they fall).
    for wave in (half..STORES.end).collect::<Vec<_>>().chunks(5) {
        for (name, client) in &mut clients {
            for &id in wave {
                store(client, name, id);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let ids: Vec<Value> = STORES.map(|id| json!(id)).collect();
    for (name, client) in &mut clients {
        client.wait_for_answers(&ids);
        // A last call after every answer: it follows any late second answer on the same link.
        let last = client.call(LAST, "memory_store", json!({"content": note(name, LAST)}));
        assert_eq!(tool_result(&last)["success"], json!(true), "{name}: {last}");
    }
    if let Some(server) = server.take() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        // Healthy means it opened the store: it took it over.
        let mut server = runtime.block_on(server.wait_healthy());
        crate::support::signal(server.pid(), "TERM");
        let status = server.wait_exit(Duration::from_secs(60));
        assert!(status.is_some_and(|s| s.success()), "serve stops cleanly ({status:?}):\n{}", server.stderr());
        assert!(!server.stderr().contains("open in another process"), "no lock error:\n{}", server.stderr());
    }
    if let Some(mut leaving) = leaving {
        let (_, status, stderr) = leaving.finish();
        assert!(status.is_some_and(|s| s.success()), "the leaving owner exits cleanly ({status:?}):\n{stderr}");
    }

    let mut acknowledged = BTreeSet::new();
    let mut sent = BTreeSet::new();
    let mut explained = 0;
    for (name, client) in &mut clients {
        let (lines, status, stderr) = client.finish();
        assert!(status.is_some_and(|s| s.success()), "{name} exits cleanly ({status:?}):\n{stderr}");
        let mut answers: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for line in lines.iter().filter(|line| line.get("method").is_none()) {
            answers.entry(line["id"].to_string()).or_default().push(line);
        }
        let twice: Vec<_> = answers.iter().filter(|(_, answers)| answers.len() > 1).collect();
        assert!(twice.is_empty(), "{name}: requests answered more than once: {twice:?}");
        let expected: BTreeSet<String> =
            [1, 2, LAST].into_iter().chain(STORES).map(|id| json!(id).to_string()).collect();
        let unexpected: Vec<_> = answers.keys().filter(|id| !expected.contains(*id)).collect();
        assert!(unexpected.is_empty(), "{name}: answers to requests it never sent: {unexpected:?}");
        for id in STORES.chain([LAST]) {
            let content = note(name, id);
            sent.insert(content_hash(&content));
            let [answer] = answers.get(&json!(id).to_string()).map(Vec::as_slice).unwrap_or_default() else {
                panic!("{name}: no answer to {id}")
            };
            if let Some(error) = answer.get("error") {
                // Only a session cut by the departing owner's grace period fails a request, and says so.
                let message = error["message"].as_str().unwrap_or_default();
                assert!(message.contains("may or may not have been applied"), "{name} {id}: {answer}");
                explained += 1;
                continue;
            }
            let result = tool_result(answer);
            assert_ne!(result["message"], json!("Duplicate content detected"), "{name} {id} executed twice");
            assert_eq!(result["success"], json!(true), "{name} {id}: {answer}");
            assert_eq!(result["content_hash"], json!(content_hash(&content)), "{name} {id}: {answer}");
            acknowledged.insert(content_hash(&content));
        }
    }

    // The log has every acknowledged store once, and no store that was not asked for.
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for line in data.ok(&["log"]).lines() {
        let event: Value = serde_json::from_str(line).expect("log prints JSON lines");
        if event["kind"] == json!("stored") {
            *stored.entry(event["content_hash"].as_str().expect("a hash").to_string()).or_default() += 1;
        }
    }
    let missing: Vec<_> = acknowledged.iter().filter(|hash| stored.get(*hash) != Some(&1)).collect();
    assert!(missing.is_empty(), "acknowledged stores not in the log exactly once: {missing:?}");
    let extra: Vec<_> = stored.iter().filter(|(hash, n)| **n != 1 || !sent.contains(*hash)).collect();
    assert!(extra.is_empty(), "stores in the log twice, or never asked for: {extra:?}");
    eprintln!(
        "{handover:?}: {} stores acknowledged, {explained} failed with an explanation, {} in the log",
        acknowledged.len(),
        stored.len()
    );
}

#[test]
fn parallel_requests_across_a_handover_to_a_relay_are_answered_and_executed_once_each() {
    parallel_requests_across_a_handover(Handover::ToARelay);
}

#[test]
fn parallel_requests_across_a_takeover_by_serve_are_answered_and_executed_once_each() {
    parallel_requests_across_a_handover(Handover::ToServe);
}

/// The `mcp` subcommand over pipes, for tests that write raw lines: what it answers, line by line.
struct StdioSession {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    answers: std::sync::mpsc::Receiver<std::io::Result<String>>,
}

impl StdioSession {
    fn start(data: &DataDir) -> StdioSession {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let mut child = data
            .command(&["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the MCP server");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        StdioSession { child, stdin, answers }
    }

    fn send(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin.as_mut().expect("stdin is open"), "{line}").expect("write to the server");
    }

    /// The next line the server writes, as JSON.
    fn next(&self) -> serde_json::Value {
        let line = self.answers.recv_timeout(std::time::Duration::from_secs(60)).expect("an answer").expect("a line");
        serde_json::from_str(&line).expect("each answer is one JSON line")
    }

    /// Closes stdin, waits for the exit and returns what the server logged.
    fn close(mut self) -> String {
        use std::io::Read;
        drop(self.stdin.take());
        let _ = crate::support::wait_exit(&mut self.child, std::time::Duration::from_secs(30));
        let _ = self.child.kill();
        let mut stderr = String::new();
        let _ = self.child.stderr.take().expect("stderr is piped").read_to_string(&mut stderr);
        stderr
    }
}

#[test]
fn a_line_that_is_not_json_is_answered_with_a_parse_error_and_logged() {
    let data = DataDir::new();
    let mut session = StdioSession::start(&data);
    session.send("{\"jsonrpc\": \"2.0\", \"id\": 7, \"method\": ");
    session.send(&initialize().to_string());
    // JSON-RPC 2.0: a message that cannot be parsed is answered with -32700 and a null id.
    let refused = session.next();
    assert_eq!(refused["id"], serde_json::Value::Null, "{refused}");
    assert_eq!(refused["error"]["code"], -32700, "{refused}");
    // The session goes on.
    let answer = session.next();
    assert_eq!(answer["id"], 1, "{answer}");
    assert!(answer["result"]["serverInfo"].is_object(), "{answer}");
    let stderr = session.close();
    assert!(stderr.contains("not JSON"), "the refused line is logged: {stderr}");
}

/// The formats JSON Schema (2020-12) defines; schemars adds Rust's number widths (`uint`, `uint64`,
/// `int32`, `double`), which Ajv-based clients (the MCP Inspector, the TypeScript SDK) warn about.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Every place in `schema` (a JSON pointer) where a `format` is not one of JSON Schema's, and every
/// integer without `minimum` whose schema the `format` did mark unsigned.
fn nonstandard_formats(schema: &serde_json::Value, at: String, found: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(format)) = map.get("format")
                && !STANDARD_FORMATS.contains(&format.as_str())
            {
                found.push(format!("{at}: format {format}"));
            }
            for (key, value) in map {
                nonstandard_formats(value, format!("{at}/{key}"), found);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                nonstandard_formats(value, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn every_tool_schema_is_standard_json_schema() {
    let data = DataDir::new();
    let mut session = StdioSession::start(&data);
    session.send(&initialize().to_string());
    assert_eq!(session.next()["id"], 1);
    session.send(r#"{"jsonrpc": "2.0", "method": "notifications/initialized"}"#);
    session.send(r#"{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}"#);
    let listed = loop {
        let message = session.next();
        if message["id"] == 2 {
            break message;
        }
    };
    let tools = listed["result"]["tools"].as_array().expect("tools/list answers a list of tools").clone();
    session.close();
    assert!(tools.len() > 5, "{listed}");
    let mut found = Vec::new();
    let mut unsigned = 0;
    for tool in &tools {
        let name = tool["name"].as_str().expect("a tool has a name");
        for key in ["inputSchema", "outputSchema"] {
            nonstandard_formats(&tool[key], format!("{name}/{key}"), &mut found);
            unsigned += tool[key].to_string().matches(r#""minimum":0"#).count();
        }
    }
    assert!(found.is_empty(), "schemas with formats JSON Schema does not define:\n{}", found.join("\n"));
    assert!(unsigned > 0, "unsigned integers keep their lower bound as `minimum: 0`");
}
