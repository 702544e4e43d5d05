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
