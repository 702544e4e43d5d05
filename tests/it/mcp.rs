//! The MCP server driven by a real client: the official Python MCP SDK (tests/it/python/mcp_client.py) over
//! stdio and over streamable HTTP at `/mcp`, against the real binary and model; and the HTTP endpoint's
//! gatekeeping (credentials, Origin).

use crate::support::{DataDir, Server, test_python as python};
use reqwest::StatusCode;
use std::process::Command;

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
    assert!(!server.stderr().contains(KEY), "the key never reaches the log");
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
